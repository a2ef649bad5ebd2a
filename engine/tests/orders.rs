//! Orders and matching: price-time priority, time in force, post-only, persistence, cancel,
//! replace, mass cancel, mass quote, self-trade prevention and client order ids.
//!
//! Every scenario runs on both books (see `support`), and every reject is checked to leave the
//! state hash unchanged.

mod support;

use oddsmatch_engine::*;
use support::*;

// -- matching --

#[test]
fn an_incoming_back_takes_the_highest_lays_first_oldest_first_at_their_odds() {
    let mut h = four_traders();
    let bob_300 = h.placed(Place::lay(BOB, S1, 300, 100));
    let carol_310 = h.placed(Place::lay(CAROL, S1, 310, 100));
    let dave_310 = h.placed(Place::lay(DAVE, S1, 310, 100));

    let events = h.place(Place::back(ALICE, S1, 300, 250));
    let alice = accepted_id(&events);

    // 3.10 is the best price for a backer: both lays there trade first, Carol's (older) before
    // Dave's, at 3.10 although Alice asked only 3.00; the last 50 trade at 3.00.
    assert_eq!(
        trades(&events),
        vec![
            fill(310, 100, carol_310, alice),
            fill(310, 100, dave_310, alice),
            fill(300, 50, bob_300, alice),
        ]
    );
    assert!(!h.is_live(alice), "a fully matched order does not rest");
    assert_eq!(h.remaining(bob_300), 50);
    assert_eq!(h.depth(MARKET, S1, Side::Lay), vec![(300, 50)]);
    assert_eq!(h.depth(MARKET, S1, Side::Back), vec![]);
}

#[test]
fn an_incoming_lay_takes_the_lowest_backs_first_oldest_first_at_their_odds() {
    let mut h = four_traders();
    let bob_300 = h.placed(Place::back(BOB, S1, 300, 100));
    let carol_290 = h.placed(Place::back(CAROL, S1, 290, 100));
    let dave_290 = h.placed(Place::back(DAVE, S1, 290, 100));

    let events = h.place(Place::lay(ALICE, S1, 300, 250));
    let alice = accepted_id(&events);

    assert_eq!(
        trades(&events),
        vec![
            fill(290, 100, carol_290, alice),
            fill(290, 100, dave_290, alice),
            fill(300, 50, bob_300, alice),
        ]
    );
    assert_eq!(h.depth(MARKET, S1, Side::Back), vec![(300, 50)]);
}

/// Odds spread over the whole betfair ladder, lowest first, including both ends and the
/// prices either side of each 64-tick boundary (ticks 0, 63, 64, 127, 128, 191, 192, 255,
/// 256 and 349).
const ACROSS_THE_LADDER: [u32; 10] = [101, 164, 165, 256, 258, 640, 660, 8_000, 8_500, 100_000];

#[test]
fn priority_holds_across_the_whole_ladder() {
    let mut h = four_traders();
    let lays: Vec<OrderId> = ACROSS_THE_LADDER
        .iter()
        .map(|&odds| h.placed(Place::lay(BOB, S1, odds, 1)))
        .collect();
    let best_first: Vec<(u32, i64)> = ACROSS_THE_LADDER.iter().rev().map(|&o| (o, 1)).collect();
    assert_eq!(h.depth(MARKET, S1, Side::Lay), best_first);

    // A back at 1.01 accepts every lay; 11 is one more than there is.
    h.place_rejected(
        Place::back(ALICE, S1, 101, 11).fok(),
        RejectReason::FokNotFilled,
    );
    let events = h.place(Place::back(ALICE, S1, 101, 10).fok());
    let alice = accepted_id(&events);
    let expected: Vec<Fill> = ACROSS_THE_LADDER
        .iter()
        .zip(&lays)
        .rev()
        .map(|(&odds, &lay)| fill(odds, 1, lay, alice))
        .collect();
    assert_eq!(trades(&events), expected);

    let backs: Vec<OrderId> = ACROSS_THE_LADDER
        .iter()
        .map(|&odds| h.placed(Place::back(CAROL, S2, odds, 1)))
        .collect();
    h.place_rejected(
        Place::lay(DAVE, S2, 100_000, 11).fok(),
        RejectReason::FokNotFilled,
    );
    let events = h.place(Place::lay(DAVE, S2, 100_000, 10).fok());
    let dave = accepted_id(&events);
    let expected: Vec<Fill> = ACROSS_THE_LADDER
        .iter()
        .zip(&backs)
        .map(|(&odds, &back)| fill(odds, 1, back, dave))
        .collect();
    assert_eq!(trades(&events), expected);
    assert_eq!(h.engine().live_orders(), 0);
}

#[test]
fn the_trade_event_names_both_sides() {
    let mut h = four_traders();
    let maker = h.placed(Place::lay(BOB, S1, 310, 100));
    let events = h.place(Place::back(ALICE, S1, 300, 40).cid(500));
    let taker = accepted_id(&events);
    assert_eq!(
        events,
        vec![
            Event::OrderAccepted {
                order_id: taker,
                account: ALICE,
                client_order_id: 500,
                market: MARKET,
                selection: S1,
                side: Side::Back,
                odds_x100: 300,
                stake_minor: 40,
                tif: TimeInForce::Gtc,
                persistence: Persistence::Lapse,
                quote: false,
            },
            Event::Trade {
                market: MARKET,
                book_seq: 2, // after the market's opening
                selection: S1,
                odds_x100: 310,
                stake_minor: 40,
                maker_order_id: maker,
                taker_order_id: taker,
                maker_account: BOB,
                taker_account: ALICE,
                taker_side: Side::Back,
            },
        ]
    );
}

#[test]
fn orders_that_do_not_cross_rest_and_other_selections_do_not_match() {
    let mut h = four_traders();
    h.placed(Place::lay(BOB, S1, 300, 100));
    // A back at 3.10 wants lays at 3.10 or more: the lay at 3.00 is not good enough.
    let events = h.place(Place::back(ALICE, S1, 310, 100));
    assert_eq!(trades(&events), vec![]);
    // A lay at 3.05 wants backs at 3.05 or less: the back at 3.10 is not good enough.
    let events = h.place(Place::lay(CAROL, S1, 305, 100));
    assert_eq!(trades(&events), vec![]);
    // Same odds, another selection.
    let events = h.place(Place::back(DAVE, S2, 300, 100));
    assert_eq!(trades(&events), vec![]);

    assert_eq!(h.depth(MARKET, S1, Side::Back), vec![(310, 100)]);
    assert_eq!(h.depth(MARKET, S1, Side::Lay), vec![(305, 100), (300, 100)]);
    assert_eq!(h.depth(MARKET, S2, Side::Back), vec![(300, 100)]);
    assert_eq!(h.engine().live_orders(), 4);
}

#[test]
fn a_partly_matched_order_keeps_its_place_in_the_queue() {
    let mut h = four_traders();
    let bob = h.placed(Place::lay(BOB, S1, 300, 100));
    let events = h.place(Place::back(ALICE, S1, 300, 30));
    assert_eq!(
        trades(&events),
        vec![fill(300, 30, bob, accepted_id(&events))]
    );
    assert_eq!(h.remaining(bob), 70);

    let carol = h.placed(Place::lay(CAROL, S1, 300, 50));
    assert_eq!(h.depth(MARKET, S1, Side::Lay), vec![(300, 120)]);
    let events = h.place(Place::back(DAVE, S1, 300, 80));
    let dave = accepted_id(&events);
    assert_eq!(
        trades(&events),
        vec![fill(300, 70, bob, dave), fill(300, 10, carol, dave)]
    );
    assert_eq!(h.remaining(carol), 40);
}

// -- time in force --

#[test]
fn gtc_rests_the_remainder() {
    let mut h = four_traders();
    let bob = h.placed(Place::lay(BOB, S1, 300, 40));
    let events = h.place(Place::back(ALICE, S1, 300, 100));
    let alice = accepted_id(&events);
    assert_eq!(trades(&events), vec![fill(300, 40, bob, alice)]);
    assert_eq!(cancels(&events), vec![]);
    assert_eq!(h.remaining(alice), 60);
    assert_eq!(h.depth(MARKET, S1, Side::Back), vec![(300, 60)]);
}

#[test]
fn ioc_cancels_the_remainder() {
    let mut h = four_traders();
    let bob = h.placed(Place::lay(BOB, S1, 300, 40));
    let events = h.place(Place::back(ALICE, S1, 300, 100).ioc());
    let alice = accepted_id(&events);
    assert_eq!(trades(&events), vec![fill(300, 40, bob, alice)]);
    assert_eq!(
        cancels(&events),
        vec![(alice, 60, CancelReason::IocRemainder)]
    );
    assert!(!h.is_live(alice));
    assert_eq!(h.depth(MARKET, S1, Side::Back), vec![]);
    assert_eq!(h.engine().open_orders(ALICE), Some(0));
    // Only the matched back is left: 40 at 3.00 loses 40 if S2 or S3 wins.
    assert_eq!(h.exposure(ALICE), 40);
}

#[test]
fn ioc_with_nothing_to_match_is_cancelled_whole() {
    let mut h = four_traders();
    let events = h.place(Place::back(ALICE, S1, 300, 100).ioc());
    let alice = accepted_id(&events);
    assert_eq!(
        cancels(&events),
        vec![(alice, 100, CancelReason::IocRemainder)]
    );
    assert_eq!(h.exposure(ALICE), 0);
}

#[test]
fn fok_is_rejected_with_no_trade_unless_it_fills_completely() {
    let mut h = four_traders();
    let bob = h.placed(Place::lay(BOB, S1, 300, 40));
    let carol = h.placed(Place::lay(CAROL, S1, 310, 50));
    // Lays below the back's odds do not count towards the fill.
    h.placed(Place::lay(DAVE, S1, 290, 1_000));

    // 40 + 50 = 90 < 100 at acceptable odds.
    h.place_rejected(
        Place::back(ALICE, S1, 300, 100).fok(),
        RejectReason::FokNotFilled,
    );
    assert_eq!(h.remaining(bob), 40);
    assert_eq!(h.remaining(carol), 50);

    let dave = h.placed(Place::lay(DAVE, S1, 300, 10));
    let events = h.place(Place::back(ALICE, S1, 300, 100).fok());
    let alice = accepted_id(&events);
    assert_eq!(
        trades(&events),
        vec![
            fill(310, 50, carol, alice),
            fill(300, 40, bob, alice),
            fill(300, 10, dave, alice),
        ]
    );
    assert_eq!(cancels(&events), vec![]);
    assert!(!h.is_live(alice));
}

#[test]
fn fok_lay_counts_only_backs_at_or_below_its_odds() {
    let mut h = four_traders();
    h.placed(Place::back(BOB, S1, 300, 60));
    h.placed(Place::back(CAROL, S1, 310, 60));
    h.place_rejected(
        Place::lay(ALICE, S1, 300, 100).fok(),
        RejectReason::FokNotFilled,
    );
    let events = h.place(Place::lay(ALICE, S1, 310, 100).fok());
    assert_eq!(
        trades(&events)
            .iter()
            .map(|t| (t.odds_x100, t.stake_minor))
            .collect::<Vec<_>>(),
        vec![(300, 60), (310, 40)]
    );
}

// -- post-only --

#[test]
fn post_only_is_rejected_if_any_part_would_match_and_rests_otherwise() {
    let mut h = four_traders();
    h.placed(Place::lay(BOB, S1, 300, 100));
    // Would take the lay at 3.00 (even though it is smaller than the order).
    h.place_rejected(
        Place::back(ALICE, S1, 300, 500).post_only(),
        RejectReason::PostOnlyWouldMatch,
    );
    let events = h.place(Place::back(ALICE, S1, 305, 500).post_only());
    assert_eq!(trades(&events), vec![]);
    assert_eq!(h.depth(MARKET, S1, Side::Back), vec![(305, 500)]);

    // A post-only lay at or above the best back would match.
    h.place_rejected(
        Place::lay(CAROL, S1, 305, 10).post_only(),
        RejectReason::PostOnlyWouldMatch,
    );
    h.place_rejected(
        Place::lay(CAROL, S1, 400, 10).post_only(),
        RejectReason::PostOnlyWouldMatch,
    );
    h.placed(Place::lay(CAROL, S1, 300, 10).post_only());
    assert_eq!(h.depth(MARKET, S1, Side::Lay), vec![(300, 110)]);
}

// -- persistence --

#[test]
fn suspension_cancels_lapse_orders_and_keeps_persist_orders() {
    let mut h = four_traders();
    let lapse = h.placed(Place::back(ALICE, S1, 300, 100));
    let persist = h.placed(Place::back(ALICE, S1, 310, 100).persist());
    let bob_persist = h.placed(Place::lay(BOB, S2, 200, 100).persist());
    // Alice: two backs on S1, lose[S1] = -200 -> exposure 200.
    assert_eq!(h.exposure(ALICE), 200);

    let events = h.lifecycle(Command::SuspendMarket { market: MARKET });
    assert_eq!(
        events,
        vec![
            Event::MarketStatus {
                market: MARKET,
                book_seq: 2,
                status: MarketStatus::Suspended,
                cause: StatusCause::Operator,
            },
            Event::OrderCancelled {
                order_id: lapse,
                account: ALICE,
                market: MARKET,
                selection: S1,
                side: Side::Back,
                stake_minor: 100,
                reason: CancelReason::MarketSuspended,
            },
        ]
    );
    assert!(h.is_live(persist) && h.is_live(bob_persist));
    assert_eq!(h.exposure(ALICE), 100);

    // No new orders while suspended, but cancels are accepted.
    h.place_rejected(Place::back(CAROL, S1, 300, 10), RejectReason::MarketNotOpen);
    let events = h.cancel(BOB, MARKET, bob_persist);
    assert_eq!(
        cancels(&events),
        vec![(bob_persist, 100, CancelReason::Requested)]
    );

    // After resuming, the persist order is still there to be matched.
    h.lifecycle(Command::ResumeMarket { market: MARKET });
    let events = h.place(Place::lay(CAROL, S1, 310, 100));
    assert_eq!(
        trades(&events),
        vec![fill(310, 100, persist, accepted_id(&events))]
    );
}

// -- cancel --

#[test]
fn cancel_by_order_id_releases_the_order_and_its_exposure() {
    let mut h = four_traders();
    let alice = h.placed(Place::lay(ALICE, S1, 300, 100));
    // Lay liability: 100 x (300 - 100) / 100 = 200.
    assert_eq!(h.exposure(ALICE), 200);
    let events = h.cancel(ALICE, MARKET, alice);
    assert_eq!(
        events,
        vec![Event::OrderCancelled {
            order_id: alice,
            account: ALICE,
            market: MARKET,
            selection: S1,
            side: Side::Lay,
            stake_minor: 100,
            reason: CancelReason::Requested,
        }]
    );
    assert!(!h.is_live(alice));
    assert_eq!(h.exposure(ALICE), 0);
    assert_eq!(h.engine().open_orders(ALICE), Some(0));

    // Gone: a second cancel finds nothing.
    let second = Command::CancelOrder {
        account: ALICE,
        market: MARKET,
        order_id: Some(alice),
        client_order_id: None,
    };
    h.reject(second, RejectReason::UnknownOrder);
}

#[test]
fn cancel_by_client_order_id_cancels_the_unmatched_part() {
    let mut h = four_traders();
    let alice = h.placed(Place::back(ALICE, S1, 300, 100).cid(42));
    h.placed(Place::lay(BOB, S1, 300, 30));
    assert_eq!(h.remaining(alice), 70);
    let events = h.apply(Command::CancelOrder {
        account: ALICE,
        market: MARKET,
        order_id: None,
        client_order_id: Some(42),
    });
    assert_eq!(cancels(&events), vec![(alice, 70, CancelReason::Requested)]);
    // The matched 30 stays: it loses 30 if S2 or S3 wins.
    assert_eq!(h.exposure(ALICE), 30);
}

#[test]
fn cancel_needs_exactly_one_reference_to_an_open_order_of_the_account_on_the_market() {
    let mut h = four_traders();
    let other_market = h.open_market(MarketDef::new(MarketId(8), &[S1, S2]));
    let alice = h.placed(Place::back(ALICE, S1, 300, 100).cid(42));
    let filled = h.placed(Place::back(ALICE, S2, 300, 10).cid(43));
    h.placed(Place::lay(BOB, S2, 300, 10));
    assert!(!h.is_live(filled));
    let cancel = |account, market, order_id, client_order_id| Command::CancelOrder {
        account,
        market,
        order_id,
        client_order_id,
    };

    let both = cancel(ALICE, MARKET, Some(alice), Some(42));
    h.reject(both, RejectReason::InvalidOrderReference);
    let neither = cancel(ALICE, MARKET, None, None);
    h.reject(neither, RejectReason::InvalidOrderReference);

    let by_someone_else = cancel(BOB, MARKET, Some(alice), None);
    h.reject(by_someone_else, RejectReason::UnknownOrder);
    let cid_of_someone_else = cancel(BOB, MARKET, None, Some(42));
    h.reject(cid_of_someone_else, RejectReason::UnknownOrder);
    let on_another_market = cancel(ALICE, other_market, Some(alice), None);
    h.reject(on_another_market, RejectReason::UnknownOrder);
    let never_used = cancel(ALICE, MARKET, None, Some(999));
    h.reject(never_used, RejectReason::UnknownOrder);
    let fully_matched = cancel(ALICE, MARKET, Some(filled), None);
    h.reject(fully_matched, RejectReason::UnknownOrder);
    let fully_matched_by_cid = cancel(ALICE, MARKET, None, Some(43));
    h.reject(fully_matched_by_cid, RejectReason::UnknownOrder);
    let no_such_id = cancel(ALICE, MARKET, Some(OrderId(9_999)), None);
    h.reject(no_such_id, RejectReason::UnknownOrder);

    let unknown_market = cancel(ALICE, MarketId(99), Some(alice), None);
    h.reject(unknown_market, RejectReason::UnknownMarket);
    let unknown_account = cancel(AccountId(99), MARKET, Some(alice), None);
    h.reject(unknown_account, RejectReason::UnknownAccount);
    let house = cancel(AccountId::HOUSE_ROUNDING, MARKET, Some(alice), None);
    h.reject(house, RejectReason::ReservedAccount);

    assert_eq!(h.remaining(alice), 100);
}

// -- replace --

fn replace_command(order_id: OrderId, account: AccountId, odds_x100: u32, stake: i64) -> Command {
    Command::ReplaceOrder {
        account,
        market: MARKET,
        order_id,
        odds_x100,
        stake_minor: stake,
    }
}

#[test]
fn lowering_the_stake_at_the_same_odds_keeps_priority() {
    let mut h = four_traders();
    let alice = h.placed(Place::back(ALICE, S1, 300, 100));
    let bob = h.placed(Place::back(BOB, S1, 300, 100));
    let events = h.replace(ALICE, alice, 300, 60);
    assert_eq!(
        events,
        vec![Event::OrderReplaced {
            order_id: alice,
            account: ALICE,
            market: MARKET,
            selection: S1,
            side: Side::Back,
            odds_x100: 300,
            stake_minor: 60,
            priority_kept: true,
        }]
    );
    assert_eq!(h.exposure(ALICE), 60);
    let events = h.place(Place::lay(CAROL, S1, 300, 100));
    let carol = accepted_id(&events);
    assert_eq!(
        trades(&events),
        vec![fill(300, 60, alice, carol), fill(300, 40, bob, carol)]
    );
}

#[test]
fn new_odds_lose_priority_even_when_moved_back() {
    let mut h = four_traders();
    let alice = h.placed(Place::back(ALICE, S1, 300, 100).cid(7));
    let bob = h.placed(Place::back(BOB, S1, 300, 100));
    let events = h.replace(ALICE, alice, 305, 100);
    assert!(matches!(
        events[..],
        [Event::OrderReplaced {
            odds_x100: 305,
            priority_kept: false,
            ..
        }]
    ));
    h.replace(ALICE, alice, 300, 100);
    // The order keeps its ids.
    assert_eq!(h.order(alice).client_order_id, 7);
    let events = h.place(Place::lay(CAROL, S1, 300, 100));
    assert_eq!(
        trades(&events),
        vec![fill(300, 100, bob, accepted_id(&events))]
    );
    assert_eq!(h.remaining(alice), 100);
}

#[test]
fn a_larger_stake_at_the_same_odds_loses_priority() {
    let mut h = four_traders();
    let alice = h.placed(Place::back(ALICE, S1, 300, 100));
    let bob = h.placed(Place::back(BOB, S1, 300, 100));
    let events = h.replace(ALICE, alice, 300, 150);
    assert!(matches!(
        events[..],
        [Event::OrderReplaced {
            stake_minor: 150,
            priority_kept: false,
            ..
        }]
    ));
    assert_eq!(h.exposure(ALICE), 150);
    let events = h.place(Place::lay(CAROL, S1, 300, 100));
    assert_eq!(
        trades(&events),
        vec![fill(300, 100, bob, accepted_id(&events))]
    );
}

#[test]
fn a_replace_to_crossing_odds_matches_at_the_resting_odds() {
    let mut h = four_traders();
    let bob = h.placed(Place::lay(BOB, S1, 300, 100));
    let alice = h.placed(Place::back(ALICE, S1, 310, 60));
    let events = h.replace(ALICE, alice, 290, 60);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(
        events[0],
        Event::OrderReplaced {
            odds_x100: 290,
            priority_kept: false,
            ..
        }
    ));
    assert_eq!(trades(&events), vec![fill(300, 60, bob, alice)]);
    assert!(!h.is_live(alice));
    assert_eq!(h.remaining(bob), 40);
}

#[test]
fn a_replace_of_a_lay_to_crossing_odds_matches_and_rests_the_rest() {
    let mut h = four_traders();
    let bob = h.placed(Place::back(BOB, S1, 300, 50));
    let alice = h.placed(Place::lay(ALICE, S1, 250, 100));
    let events = h.replace(ALICE, alice, 310, 100);
    assert_eq!(trades(&events), vec![fill(300, 50, bob, alice)]);
    assert_eq!(h.remaining(alice), 50);
    assert_eq!(h.depth(MARKET, S1, Side::Lay), vec![(310, 50)]);
}

#[test]
fn replace_rejects_change_nothing() {
    let mut h = four_traders();
    h.placed(Place::lay(BOB, S1, 300, 100));
    let post_only = h.placed(Place::back(ALICE, S1, 310, 100).post_only());
    let persist = h.placed(Place::back(ALICE, S2, 310, 100).persist());

    h.reject(
        replace_command(post_only, ALICE, 300, 100),
        RejectReason::PostOnlyWouldMatch,
    );
    h.reject(
        replace_command(post_only, ALICE, 301, 100),
        RejectReason::InvalidOdds,
    );
    h.reject(
        replace_command(post_only, ALICE, 310, 0),
        RejectReason::InvalidStake,
    );
    h.reject(
        replace_command(post_only, ALICE, 310, -5),
        RejectReason::InvalidStake,
    );
    h.reject(
        replace_command(post_only, BOB, 320, 100),
        RejectReason::UnknownOrder,
    );
    h.reject(
        replace_command(OrderId(9_999), ALICE, 320, 100),
        RejectReason::UnknownOrder,
    );
    h.reject(
        replace_command(post_only, AccountId(99), 320, 100),
        RejectReason::UnknownAccount,
    );
    let unknown_market = Command::ReplaceOrder {
        account: ALICE,
        market: MarketId(99),
        order_id: post_only,
        odds_x100: 320,
        stake_minor: 100,
    };
    h.reject(unknown_market, RejectReason::UnknownMarket);

    h.lifecycle(Command::SuspendMarket { market: MARKET });
    h.reject(
        replace_command(persist, ALICE, 320, 50),
        RejectReason::MarketNotOpen,
    );
    assert_eq!(h.order(persist).odds_x100, 310);
}

// -- mass cancel --

#[test]
fn mass_cancel_on_one_market_then_everywhere() {
    let mut h = four_traders();
    let second = h.open_market(MarketDef::new(MarketId(8), &[S1, S2]));
    let a1 = h.placed(Place::back(ALICE, S1, 300, 100));
    let a2 = h.placed(Place::lay(ALICE, S2, 200, 100));
    let a3 = h.placed(Place::back(ALICE, S1, 300, 100).on(second));
    let bob = h.placed(Place::back(BOB, S1, 300, 100));

    let events = h.apply(Command::MassCancel {
        account: ALICE,
        market: Some(MARKET),
    });
    assert_eq!(
        cancels(&events),
        vec![
            (a1, 100, CancelReason::MassCancel),
            (a2, 100, CancelReason::MassCancel),
        ]
    );
    assert!(h.is_live(a3) && h.is_live(bob));
    assert_eq!(h.market_exposure(ALICE, MARKET), 0);

    let events = h.apply(Command::MassCancel {
        account: ALICE,
        market: None,
    });
    assert_eq!(cancels(&events), vec![(a3, 100, CancelReason::MassCancel)]);
    assert_eq!(h.exposure(ALICE), 0);
    assert!(h.is_live(bob));

    // Nothing left: a mass cancel is not an error, it does nothing.
    let events = h.apply(Command::MassCancel {
        account: ALICE,
        market: None,
    });
    assert_eq!(events, vec![]);

    h.reject(
        Command::MassCancel {
            account: ALICE,
            market: Some(MarketId(99)),
        },
        RejectReason::UnknownMarket,
    );
    h.reject(
        Command::MassCancel {
            account: AccountId(99),
            market: None,
        },
        RejectReason::UnknownAccount,
    );
}

// -- mass quote --

fn mass_quote(account: AccountId, quotes: Vec<Quote>) -> Command {
    Command::MassQuote {
        account,
        market: MARKET,
        quotes,
    }
}

#[test]
fn a_mass_quote_enters_gtc_lapse_quote_orders() {
    let mut h = four_traders();
    let events = h.accept(mass_quote(
        DAVE,
        vec![
            quote(S1, Some((310, 100)), Some((300, 80))),
            quote(S2, Some((500, 50)), None),
        ],
    ));
    let ids = accepted_ids(&events);
    assert_eq!(ids.len(), 3);
    assert_eq!(
        events[0],
        Event::OrderAccepted {
            order_id: ids[0],
            account: DAVE,
            client_order_id: 0,
            market: MARKET,
            selection: S1,
            side: Side::Back,
            odds_x100: 310,
            stake_minor: 100,
            tif: TimeInForce::Gtc,
            persistence: Persistence::Lapse,
            quote: true,
        }
    );
    assert_eq!(h.depth(MARKET, S1, Side::Back), vec![(310, 100)]);
    assert_eq!(h.depth(MARKET, S1, Side::Lay), vec![(300, 80)]);
    assert_eq!(h.depth(MARKET, S2, Side::Back), vec![(500, 50)]);

    // Lapse: a suspension cancels quotes.
    let events = h.lifecycle(Command::SuspendMarket { market: MARKET });
    assert_eq!(cancels(&events).len(), 3);
}

#[test]
fn the_same_mass_quote_as_json() {
    let mut h = four_traders();
    let events = h.apply_json(
        r#"{"ts":100,"cmd":"mass_quote","account":4,"market":7,"quotes":[{"selection":1,"back_odds":310,"back_stake":100,"lay_odds":300,"lay_stake":80}]}"#,
    );
    assert_eq!(accepted_ids(&events).len(), 2);
    assert_eq!(h.depth(MARKET, S1, Side::Lay), vec![(300, 80)]);
}

#[test]
fn a_mass_quote_replaces_the_whole_set() {
    let mut h = four_traders();
    let events = h.accept(mass_quote(
        DAVE,
        vec![
            quote(S1, Some((310, 100)), Some((300, 80))),
            quote(S2, Some((500, 50)), None),
        ],
    ));
    let [s1_back, s1_lay, s2_back] = accepted_ids(&events)[..] else {
        panic!("three quotes expected")
    };

    let events = h.accept(mass_quote(
        DAVE,
        vec![
            quote(S1, Some((310, 100)), None),
            quote(S3, None, Some((200, 100))),
        ],
    ));
    // Quotes not named are cancelled; the unchanged one stays; the new one enters.
    assert_eq!(
        cancels(&events),
        vec![
            (s1_lay, 80, CancelReason::QuoteReplaced),
            (s2_back, 50, CancelReason::QuoteReplaced),
        ]
    );
    let new = accepted_id(&events);
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(h.is_live(s1_back) && h.is_live(new));
    assert_eq!(h.engine().open_orders(DAVE), Some(2));

    // An empty set removes every quote.
    let events = h.accept(mass_quote(DAVE, vec![]));
    assert_eq!(
        cancels(&events),
        vec![
            (s1_back, 100, CancelReason::QuoteReplaced),
            (new, 100, CancelReason::QuoteReplaced),
        ]
    );
    assert_eq!(h.exposure(DAVE), 0);
}

#[test]
fn an_unchanged_quote_keeps_its_priority() {
    let mut h = four_traders();
    let set = vec![quote(S1, Some((300, 100)), None)];
    let dave = accepted_id(&h.accept(mass_quote(DAVE, set.clone())));
    let carol = h.placed(Place::back(CAROL, S1, 300, 100));
    let events = h.accept(mass_quote(DAVE, set));
    assert_eq!(events, vec![], "an unchanged quote is left alone");
    let events = h.place(Place::lay(BOB, S1, 300, 100));
    assert_eq!(
        trades(&events),
        vec![fill(300, 100, dave, accepted_id(&events))]
    );
    assert_eq!(h.remaining(carol), 100);
}

#[test]
fn a_reduced_quote_keeps_its_priority() {
    let mut h = four_traders();
    let dave = accepted_id(&h.accept(mass_quote(DAVE, vec![quote(S1, Some((300, 100)), None)])));
    let carol = h.placed(Place::back(CAROL, S1, 300, 100));
    let events = h.accept(mass_quote(DAVE, vec![quote(S1, Some((300, 60)), None)]));
    assert_eq!(
        events,
        vec![Event::OrderReplaced {
            order_id: dave,
            account: DAVE,
            market: MARKET,
            selection: S1,
            side: Side::Back,
            odds_x100: 300,
            stake_minor: 60,
            priority_kept: true,
        }]
    );
    let events = h.place(Place::lay(BOB, S1, 300, 100));
    let bob = accepted_id(&events);
    assert_eq!(
        trades(&events),
        vec![fill(300, 60, dave, bob), fill(300, 40, carol, bob)]
    );
}

#[test]
fn a_quote_with_new_odds_or_a_larger_stake_is_replaced_and_loses_priority() {
    let mut h = four_traders();
    let first = accepted_id(&h.accept(mass_quote(DAVE, vec![quote(S1, Some((300, 100)), None)])));
    let carol = h.placed(Place::back(CAROL, S1, 300, 100));
    let events = h.accept(mass_quote(DAVE, vec![quote(S1, Some((300, 150)), None)]));
    assert_eq!(
        cancels(&events),
        vec![(first, 100, CancelReason::QuoteReplaced)]
    );
    let second = accepted_id(&events);
    let events = h.accept(mass_quote(DAVE, vec![quote(S1, Some((305, 150)), None)]));
    assert_eq!(
        cancels(&events),
        vec![(second, 150, CancelReason::QuoteReplaced)]
    );
    let third = accepted_id(&events);
    let events = h.accept(mass_quote(DAVE, vec![quote(S1, Some((300, 150)), None)]));
    let fourth = accepted_id(&events);
    assert!(!h.is_live(third));
    let events = h.place(Place::lay(BOB, S1, 300, 120));
    let bob = accepted_id(&events);
    assert_eq!(
        trades(&events),
        vec![fill(300, 100, carol, bob), fill(300, 20, fourth, bob)]
    );
}

#[test]
fn a_quote_leg_that_crosses_matches_like_an_order() {
    let mut h = four_traders();
    let bob = h.placed(Place::lay(BOB, S1, 310, 50));
    let events = h.accept(mass_quote(DAVE, vec![quote(S1, Some((300, 100)), None)]));
    let dave = accepted_id(&events);
    assert_eq!(trades(&events), vec![fill(310, 50, bob, dave)]);
    assert_eq!(h.remaining(dave), 50);
}

#[test]
fn a_mass_quote_never_touches_ordinary_orders() {
    let mut h = four_traders();
    let ordinary = h.placed(Place::back(DAVE, S1, 400, 100));
    h.accept(mass_quote(DAVE, vec![quote(S1, Some((300, 100)), None)]));
    let events = h.accept(mass_quote(DAVE, vec![]));
    assert_eq!(cancels(&events).len(), 1);
    assert!(h.is_live(ordinary));
}

#[test]
fn a_mass_quote_is_rejected_whole_when_any_leg_is_bad() {
    let mut h = four_traders();
    let existing =
        accepted_id(&h.accept(mass_quote(DAVE, vec![quote(S1, Some((300, 100)), None)])));
    let good = quote(S1, Some((310, 100)), Some((300, 100)));
    let bad_sets = [
        (
            vec![good, quote(S2, Some((301, 100)), None)],
            RejectReason::InvalidOdds,
        ),
        (
            vec![good, quote(S2, None, Some((0, 100)))],
            RejectReason::InvalidOdds,
        ),
        (
            vec![good, quote(S2, Some((300, 0)), None)],
            RejectReason::InvalidStake,
        ),
        (
            vec![good, quote(S2, Some((300, 1_000_001)), None)],
            RejectReason::InvalidStake,
        ),
        (
            vec![good, quote(SelectionId(9), Some((300, 100)), None)],
            RejectReason::InvalidSelection,
        ),
        (
            vec![good, quote(S1, Some((320, 100)), None)],
            RejectReason::InvalidQuote,
        ),
        (
            // Lay at the back's odds: the quote would cross itself.
            vec![good, quote(S2, Some((300, 100)), Some((300, 100)))],
            RejectReason::InvalidQuote,
        ),
        (
            vec![good, quote(S2, Some((300, 100)), Some((310, 100)))],
            RejectReason::InvalidQuote,
        ),
    ];
    for (quotes, reason) in bad_sets {
        h.reject(mass_quote(DAVE, quotes), reason);
    }
    // More quotes than the market has selections: refused at once, before the per-quote checks
    // (which would have named the unknown first selection).
    let mut too_many = vec![quote(SelectionId(9), Some((310, 100)), None)];
    too_many.extend([S1, S2, S3, S4].map(|s| quote(s, Some((310, 100)), None)));
    h.reject(mass_quote(DAVE, too_many), RejectReason::InvalidQuote);
    // Odds without a stake and a stake without odds.
    let odds_only = Quote {
        selection: S2,
        back_odds_x100: Some(300),
        back_stake_minor: None,
        lay_odds_x100: None,
        lay_stake_minor: None,
    };
    let stake_only = Quote {
        selection: S2,
        back_odds_x100: None,
        back_stake_minor: None,
        lay_odds_x100: None,
        lay_stake_minor: Some(100),
    };
    h.reject(
        mass_quote(DAVE, vec![good, odds_only]),
        RejectReason::InvalidQuote,
    );
    h.reject(
        mass_quote(DAVE, vec![good, stake_only]),
        RejectReason::InvalidQuote,
    );

    h.reject(
        Command::MassQuote {
            account: DAVE,
            market: MarketId(99),
            quotes: vec![good],
        },
        RejectReason::UnknownMarket,
    );
    h.reject(
        mass_quote(AccountId(99), vec![good]),
        RejectReason::UnknownAccount,
    );
    h.reject(
        mass_quote(AccountId::HOUSE_COMMISSION, vec![good]),
        RejectReason::ReservedAccount,
    );
    assert_eq!(
        h.remaining(existing),
        100,
        "no reject touched the existing quote"
    );
    h.lifecycle(Command::SuspendMarket { market: MARKET });
    h.reject(mass_quote(DAVE, vec![good]), RejectReason::MarketNotOpen);
    h.lifecycle(Command::ResumeMarket { market: MARKET });

    // The original quote was cancelled by the suspension (lapse), not by any reject.
    assert!(!h.is_live(existing));
}

#[test]
fn a_mass_quote_is_risk_checked_as_a_whole() {
    let mut h = four_traders();
    let maker = AccountId(10);
    h.funded(maker, 1_500);
    let first =
        accepted_id(&h.accept(mass_quote(maker, vec![quote(S1, Some((300, 1_000)), None)])));
    // Alone, each back of 1,000 needs 1,000. Together, on one market with one winner, S3
    // winning loses both: 2,000 > the balance of 1,500.
    let both = vec![
        quote(S1, Some((300, 1_000)), None),
        quote(S2, Some((300, 1_000)), None),
    ];
    h.reject(mass_quote(maker, both), RejectReason::InsufficientFunds);
    assert!(h.is_live(first));
    assert_eq!(h.exposure(maker), 1_000);

    // Moving the quote from S1 to S2 is judged with the S1 quote removed: 1,000, allowed.
    let events = h.accept(mass_quote(maker, vec![quote(S2, Some((300, 1_000)), None)]));
    assert_eq!(
        cancels(&events),
        vec![(first, 1_000, CancelReason::QuoteReplaced)]
    );
    assert_eq!(h.exposure(maker), 1_000);
}

#[test]
fn a_mass_quote_counts_open_orders_after_the_request() {
    let mut h = four_traders();
    let maker = h.create_account(AccountSpec::new(AccountId(10)).max_open_orders(2));
    h.deposit(maker, PLENTY_MINOR);
    h.accept(mass_quote(
        maker,
        vec![quote(S1, Some((310, 10)), Some((300, 10)))],
    ));
    // Three legs would make three open orders.
    h.reject(
        mass_quote(
            maker,
            vec![
                quote(S1, Some((310, 10)), Some((300, 10))),
                quote(S2, Some((310, 10)), None),
            ],
        ),
        RejectReason::MaxOpenOrders,
    );
    // Two new legs replacing the two old ones stay at two.
    h.accept(mass_quote(
        maker,
        vec![quote(S2, Some((320, 10)), Some((300, 10)))],
    ));
    assert_eq!(h.engine().open_orders(maker), Some(2));
}

// -- self-trade prevention --

/// Bob's lay at 3.10 (100) and Alice's own lay at 3.00 (100) rest; Alice backs 150 at 3.00.
/// She meets Bob's lay first, then her own.
fn self_trade(stp: SelfTradePrevention) -> (Harness, OrderId, OrderId, Vec<Event>) {
    let mut h = Harness::new();
    h.create_account(AccountSpec::new(ALICE).stp(stp));
    h.deposit(ALICE, PLENTY_MINOR);
    h.funded(BOB, PLENTY_MINOR);
    h.default_market();
    let bob = h.placed(Place::lay(BOB, S1, 310, 100));
    let own = h.placed(Place::lay(ALICE, S1, 300, 100));
    let events = h.place(Place::back(ALICE, S1, 300, 150));
    (h, bob, own, events)
}

#[test]
fn stp_cancel_resting_cancels_the_own_order_and_keeps_matching() {
    let (h, bob, own, events) = self_trade(SelfTradePrevention::CancelResting);
    let taker = accepted_id(&events);
    assert_eq!(trades(&events), vec![fill(310, 100, bob, taker)]);
    assert_eq!(cancels(&events), vec![(own, 100, CancelReason::SelfTrade)]);
    assert_eq!(h.remaining(taker), 50, "the remainder rests");
    assert_eq!(h.depth(MARKET, S1, Side::Back), vec![(300, 50)]);
    assert_eq!(h.depth(MARKET, S1, Side::Lay), vec![]);
}

#[test]
fn stp_cancel_taking_cancels_the_incoming_remainder() {
    let (h, bob, own, events) = self_trade(SelfTradePrevention::CancelTaking);
    let taker = accepted_id(&events);
    assert_eq!(trades(&events), vec![fill(310, 100, bob, taker)]);
    assert_eq!(cancels(&events), vec![(taker, 50, CancelReason::SelfTrade)]);
    assert_eq!(h.remaining(own), 100);
    assert!(!h.is_live(taker));
}

#[test]
fn stp_cancel_both_cancels_both() {
    let (h, bob, own, events) = self_trade(SelfTradePrevention::CancelBoth);
    let taker = accepted_id(&events);
    assert_eq!(trades(&events), vec![fill(310, 100, bob, taker)]);
    assert_eq!(
        cancels(&events),
        vec![
            (own, 100, CancelReason::SelfTrade),
            (taker, 50, CancelReason::SelfTrade),
        ]
    );
    assert_eq!(h.engine().open_orders(ALICE), Some(0));
}

#[test]
fn stp_none_trades_with_itself() {
    let (h, bob, own, events) = self_trade(SelfTradePrevention::None);
    let taker = accepted_id(&events);
    assert_eq!(
        trades(&events),
        vec![fill(310, 100, bob, taker), fill(300, 50, own, taker)]
    );
    assert_eq!(cancels(&events), vec![]);
    assert_eq!(h.remaining(own), 50);
    // Alice on S1 (hundredths): back 100 @3.10 win +21000 lose -10000; back 50 @3.00 win
    // +10000 lose -5000; lay 50 @3.00 (matched with herself) win -10000 lose +5000; unmatched
    // lay 50 @3.00 win -10000. win = 11000, lose = -10000: S2 or S3 winning loses 100.
    assert_eq!(h.exposure(ALICE), 100);
}

#[test]
fn stp_cancel_taking_applies_whatever_the_time_in_force() {
    let mut h = Harness::new();
    h.create_account(AccountSpec::new(ALICE).stp(SelfTradePrevention::CancelTaking));
    h.deposit(ALICE, PLENTY_MINOR);
    h.default_market();
    let own = h.placed(Place::lay(ALICE, S1, 300, 100));
    let events = h.place(Place::back(ALICE, S1, 300, 100).ioc());
    assert_eq!(
        cancels(&events),
        vec![(accepted_id(&events), 100, CancelReason::SelfTrade)]
    );
    assert_eq!(h.remaining(own), 100);
}

#[test]
fn fok_skips_own_orders_under_cancel_resting_and_stops_at_them_otherwise() {
    for stp in [
        SelfTradePrevention::CancelResting,
        SelfTradePrevention::CancelTaking,
        SelfTradePrevention::CancelBoth,
    ] {
        let mut h = Harness::new();
        h.create_account(AccountSpec::new(ALICE).stp(stp));
        h.deposit(ALICE, PLENTY_MINOR);
        h.funded(BOB, PLENTY_MINOR);
        h.default_market();
        let own = h.placed(Place::lay(ALICE, S1, 310, 100));
        let bob = h.placed(Place::lay(BOB, S1, 300, 100));
        let order = Place::back(ALICE, S1, 300, 100).fok();
        if stp == SelfTradePrevention::CancelResting {
            let events = h.place(order);
            assert_eq!(cancels(&events), vec![(own, 100, CancelReason::SelfTrade)]);
            assert_eq!(
                trades(&events),
                vec![fill(300, 100, bob, accepted_id(&events))]
            );
        } else {
            h.place_rejected(order, RejectReason::FokNotFilled);
            assert_eq!(h.remaining(own), 100, "{stp:?}");
        }
    }
}

// -- client order ids --

#[test]
fn a_repeated_client_order_id_is_rejected_naming_the_original() {
    let mut h = four_traders();
    let original = h.placed(Place::back(ALICE, S1, 300, 100).cid(77));
    let reject = h.place_rejected(
        Place::back(ALICE, S1, 300, 100).cid(77),
        RejectReason::DuplicateClientOrderId,
    );
    assert_eq!(
        reject,
        Event::Rejected {
            command: CommandKind::PlaceOrder,
            reason: RejectReason::DuplicateClientOrderId,
            account: Some(ALICE),
            market: Some(MARKET),
            client_order_id: Some(77),
            order_id: Some(original),
        }
    );
    assert_eq!(h.engine().open_orders(ALICE), Some(1));

    // Different terms, another selection: still the same client order id.
    let reject = h.place_rejected(
        Place::lay(ALICE, S2, 200, 5).cid(77),
        RejectReason::DuplicateClientOrderId,
    );
    assert_eq!(rejected_order_id(&reject), Some(original));

    // Still a repeat after the original is gone.
    h.cancel(ALICE, MARKET, original);
    let reject = h.place_rejected(
        Place::back(ALICE, S1, 300, 100).cid(77),
        RejectReason::DuplicateClientOrderId,
    );
    assert_eq!(rejected_order_id(&reject), Some(original));

    // Client order ids are per account.
    h.placed(Place::back(BOB, S1, 300, 100).cid(77));
}

#[test]
fn a_repeat_on_another_market_is_still_a_repeat() {
    let mut h = four_traders();
    let other = h.open_market(MarketDef::new(MarketId(8), &[S1, S2]));
    let original = h.placed(Place::back(ALICE, S1, 300, 100).cid(5));
    let reject = h.place_rejected(
        Place::back(ALICE, S1, 300, 100).cid(5).on(other),
        RejectReason::DuplicateClientOrderId,
    );
    assert_eq!(rejected_order_id(&reject), Some(original));
}

/// The issue: "a repeat never creates a second order and is answered with a
/// duplicate_client_order_id reject naming the original order". A client that resends an
/// accepted persist order after the market was suspended must learn that its order exists.
#[test]
fn a_repeat_after_a_suspension_is_answered_with_the_original_order() {
    let mut h = four_traders();
    let original = h.placed(Place::back(ALICE, S1, 300, 100).persist().cid(5));
    h.lifecycle(Command::SuspendMarket { market: MARKET });
    assert!(h.is_live(original));
    let reject = h.place_rejected(
        Place::back(ALICE, S1, 300, 100).persist().cid(5),
        RejectReason::DuplicateClientOrderId,
    );
    assert_eq!(rejected_order_id(&reject), Some(original));
}

#[test]
fn a_rejected_order_does_not_use_up_its_client_order_id_or_an_order_id() {
    let mut h = four_traders();
    let first = h.placed(Place::back(ALICE, S1, 300, 100));
    h.place_rejected(
        Place::back(ALICE, S1, 301, 100).cid(88),
        RejectReason::InvalidOdds,
    );
    let second = h.placed(Place::back(ALICE, S1, 300, 100).cid(88));
    assert_eq!(
        second.0,
        first.0 + 1,
        "order ids are given to accepted orders only"
    );
}

#[test]
fn client_order_ids_are_remembered_within_a_bounded_window() {
    let config = EngineConfig {
        client_order_id_window: 2,
        ..EngineConfig::small()
    };
    let mut h = Harness::with_config(config);
    h.funded(ALICE, PLENTY_MINOR);
    h.default_market();
    h.placed(Place::back(ALICE, S1, 300, 1).cid(1));
    h.placed(Place::back(ALICE, S1, 300, 1).cid(2));
    h.place_rejected(
        Place::back(ALICE, S1, 300, 1).cid(1),
        RejectReason::DuplicateClientOrderId,
    );
    h.placed(Place::back(ALICE, S1, 300, 1).cid(3));
    // Two newer ids pushed 1 out of the window.
    h.placed(Place::back(ALICE, S1, 300, 1).cid(1));
}

// -- other order rejects --

#[test]
fn an_order_is_checked_for_account_market_selection_odds_and_stake() {
    let mut h = four_traders();
    let pending = MarketId(8);
    h.accept(MarketDef::new(pending, &[S1, S2]).command());
    let probability =
        h.open_market(MarketDef::new(MarketId(9), &[S1, S2]).ladder(LadderKind::Probability));

    let order = Place::back(ALICE, S1, 300, 100);
    h.place_rejected(
        Place {
            account: AccountId(99),
            ..order
        },
        RejectReason::UnknownAccount,
    );
    h.place_rejected(
        Place {
            account: AccountId::HOUSE_ROUNDING,
            ..order
        },
        RejectReason::ReservedAccount,
    );
    h.place_rejected(order.on(MarketId(99)), RejectReason::UnknownMarket);
    h.place_rejected(order.on(pending), RejectReason::MarketNotOpen);
    h.place_rejected(
        Place {
            selection: SelectionId(9),
            ..order
        },
        RejectReason::InvalidSelection,
    );
    for odds_x100 in [0, 100, 201, 303, 100_010] {
        h.place_rejected(Place { odds_x100, ..order }, RejectReason::InvalidOdds);
    }
    // 2.02 is on the betfair ladder but not on the probability ladder; 2.00 (50%) is on both.
    h.place_rejected(order.on(probability).odds(202), RejectReason::InvalidOdds);
    h.placed(order.on(probability).odds(200));
    h.placed(order.on(probability).odds(3_333));
    for stake_minor in [0, -1, i64::MIN] {
        h.place_rejected(
            Place {
                stake_minor,
                ..order
            },
            RejectReason::InvalidStake,
        );
    }
}
