//! Odds state and the published streams: the book stream (`market_status`, `trade`,
//! `book_depth`, `pool_changed` with a gap-free `book_seq` per market) and the filtered odds
//! ticks (`odds_tick` and its `selection_odds`).
//!
//! Every input goes through `stream_support::Sim`, which drives the fast and the reference
//! engine in lockstep, calls `validate()` on both after every input and checks every published
//! stream against rules written out independently of the engine (gap-free sequences, tick
//! layout, the tick filter's safety and liveness). The scenarios below assert the exact events
//! on top of that; the property tests at the end run random streams through the same checks and
//! add their own.

mod stream_support;

use std::cell::RefCell;

use oddsmatch_engine::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};
use stream_support::*;

const M: MarketId = MarketId(7);
const M2: MarketId = MarketId(8);
const S1: SelectionId = SelectionId(1);
const S2: SelectionId = SelectionId(2);
const S3: SelectionId = SelectionId(3);
const SELECTIONS: [SelectionId; 3] = [S1, S2, S3];

const ALICE: AccountId = AccountId(1);
const BOB: AccountId = AccountId(2);
const CAROL: AccountId = AccountId(3);
const FEED: AccountId = AccountId(9);

use MarketStatus::{Closed, Open, Settled, Suspended, Voided};
use Side::{Back, Lay};
use TickReason::{Change, Heartbeat, Status};

/// Three funded traders and market [`M`] (selections 1, 2, 3, market data on, `change` applied
/// to its definition) opened at [`T0`]; the opening is checked.
fn setup(change: impl FnOnce(&mut MarketSpec)) -> Sim {
    let mut sim = Sim::new();
    for account in [ALICE, BOB, CAROL] {
        sim.trader(T0, account);
    }
    let mut spec = exchange(M, &SELECTIONS);
    change(&mut spec);
    let market_data = spec.market_data != Some(false);
    let events = sim.open_new(T0, spec);
    let mut expected = vec![status_event(M, 1, Open, StatusCause::Operator)];
    if market_data {
        expected.extend(empty_tick(M, 1, Status, Open, &SELECTIONS));
    }
    assert_eq!(events, expected);
    sim
}

/// The default market: threshold 200 bps, interval 300 ms, heartbeat 1000 ms.
fn default_setup() -> Sim {
    setup(|_| {})
}

/// The `order_accepted` of a non-quote order with an explicit client order id.
fn accepted(order_id: OrderId, order: NewOrder) -> Event {
    Event::OrderAccepted {
        order_id,
        account: order.account,
        client_order_id: order.client_order_id.expect("the test names the cid"),
        market: order.market,
        selection: order.selection,
        side: order.side,
        odds_x100: order.odds_x100,
        stake_minor: order.stake_minor,
        tif: order.tif,
        persistence: order.persistence,
        quote: false,
    }
}

/// The `order_accepted` of a quote leg.
fn quote_accepted(
    order_id: OrderId,
    account: AccountId,
    selection: SelectionId,
    side: Side,
    odds_x100: u32,
    stake_minor: i64,
) -> Event {
    Event::OrderAccepted {
        order_id,
        account,
        client_order_id: 0,
        market: M,
        selection,
        side,
        odds_x100,
        stake_minor,
        tif: TimeInForce::Gtc,
        persistence: Persistence::Lapse,
        quote: true,
    }
}

#[allow(clippy::too_many_arguments)]
fn trade(
    book_seq: u64,
    selection: SelectionId,
    odds_x100: u32,
    stake_minor: i64,
    maker: (OrderId, AccountId),
    taker: (OrderId, AccountId),
    taker_side: Side,
) -> Event {
    Event::Trade {
        market: M,
        book_seq,
        selection,
        odds_x100,
        stake_minor,
        maker_order_id: maker.0,
        taker_order_id: taker.0,
        maker_account: maker.1,
        taker_account: taker.1,
        taker_side,
    }
}

fn cancelled(
    order_id: OrderId,
    account: AccountId,
    selection: SelectionId,
    side: Side,
    stake_minor: i64,
    reason: CancelReason,
) -> Event {
    Event::OrderCancelled {
        order_id,
        account,
        market: M,
        selection,
        side,
        stake_minor,
        reason,
    }
}

fn replaced(
    order_id: OrderId,
    account: AccountId,
    selection: SelectionId,
    side: Side,
    odds_x100: u32,
    stake_minor: i64,
    priority_kept: bool,
) -> Event {
    Event::OrderReplaced {
        order_id,
        account,
        market: M,
        selection,
        side,
        odds_x100,
        stake_minor,
        priority_kept,
    }
}

/// `events` with `tail` appended.
fn then(mut events: Vec<Event>, tail: Vec<Event>) -> Vec<Event> {
    events.extend(tail);
    events
}

// ---------------------------------------------------------------------------------------------
// The book stream
// ---------------------------------------------------------------------------------------------

#[test]
fn resting_partial_fill_and_cancel_each_publish_the_side_that_changed() {
    let mut sim = default_setup();
    let lay = NewOrder::lay(BOB, M, S1, 300, 1_000).cid(1);
    let events = sim.place(T0 + MS, lay);
    let lay_id = accepted_id(&events);
    assert_eq!(
        events,
        vec![
            accepted(lay_id, lay),
            depth_event(M, 2, S1, Lay, &[(300, 1_000)]),
        ]
    );

    // A back takes 400 of the lay: the trade, then the lay side as it now is.
    let back = NewOrder::back(ALICE, M, S1, 300, 400).ioc().cid(2);
    let events = sim.place(T0 + 2 * MS, back);
    let back_id = accepted_id(&events);
    assert_eq!(
        events,
        vec![
            accepted(back_id, back),
            trade(3, S1, 300, 400, (lay_id, BOB), (back_id, ALICE), Back),
            depth_event(M, 4, S1, Lay, &[(300, 600)]),
        ]
    );

    // An ioc back that finds nothing to match changes no book: no book_depth.
    let miss = NewOrder::back(ALICE, M, S1, 320, 100).ioc().cid(3);
    let events = sim.place(T0 + 3 * MS, miss);
    let miss_id = accepted_id(&events);
    assert_eq!(
        events,
        vec![
            accepted(miss_id, miss),
            cancelled(miss_id, ALICE, S1, Back, 100, CancelReason::IocRemainder),
        ]
    );

    let events = sim.cancel(T0 + 4 * MS, lay_id);
    assert_eq!(
        events,
        vec![
            cancelled(lay_id, BOB, S1, Lay, 600, CancelReason::Requested),
            depth_event(M, 5, S1, Lay, &[]),
        ]
    );
    assert_eq!(sim.streams.market(M).book_seqs(), vec![1, 2, 3, 4, 5]);
}

#[test]
fn a_replace_publishes_the_new_level_and_a_crossing_replace_both_sides() {
    let mut sim = default_setup();
    let lay = NewOrder::lay(BOB, M, S1, 300, 1_000).cid(1);
    let lay_id = sim.placed(T0 + MS, lay);

    // Lowering the stake keeps the place and shows the smaller level.
    let events = sim.replace(T0 + 2 * MS, lay_id, 300, 400);
    assert_eq!(
        events,
        vec![
            replaced(lay_id, BOB, S1, Lay, 300, 400, true),
            depth_event(M, 3, S1, Lay, &[(300, 400)]),
        ]
    );
    // New odds: the order moves level.
    let events = sim.replace(T0 + 3 * MS, lay_id, 320, 500);
    assert_eq!(
        events,
        vec![
            replaced(lay_id, BOB, S1, Lay, 320, 500, false),
            depth_event(M, 4, S1, Lay, &[(320, 500)]),
        ]
    );

    let back = NewOrder::back(CAROL, M, S1, 400, 100).cid(2);
    let back_id = sim.placed(T0 + 4 * MS, back);
    assert_eq!(
        sim.streams.market(M).shown(S1, Back),
        level_arrays(&[(400, 100)])
    );
    // The lay moves up to 4.00 and meets the resting back: the trade, then the back side
    // (emptied) before the lay side (what is left of the lay).
    let events = sim.replace(T0 + 5 * MS, lay_id, 400, 500);
    assert_eq!(
        events,
        vec![
            replaced(lay_id, BOB, S1, Lay, 400, 500, false),
            trade(6, S1, 400, 100, (back_id, CAROL), (lay_id, BOB), Lay),
            depth_event(M, 7, S1, Back, &[]),
            depth_event(M, 8, S1, Lay, &[(400, 400)]),
        ]
    );
}

#[test]
fn a_mass_quote_publishes_every_side_it_changed_and_only_those() {
    let mut sim = default_setup();
    let events = sim.at(
        T0 + MS,
        Command::MassQuote {
            account: CAROL,
            market: M,
            quotes: vec![
                quote(S1, Some((400, 100)), Some((300, 200))),
                quote(S2, Some((500, 100)), None),
            ],
        },
    );
    let ids: Vec<OrderId> = events
        .iter()
        .filter_map(|e| match e {
            Event::OrderAccepted { order_id, .. } => Some(*order_id),
            _ => None,
        })
        .collect();
    assert_eq!(
        events,
        vec![
            quote_accepted(ids[0], CAROL, S1, Back, 400, 100),
            quote_accepted(ids[1], CAROL, S1, Lay, 300, 200),
            quote_accepted(ids[2], CAROL, S2, Back, 500, 100),
            depth_event(M, 2, S1, Back, &[(400, 100)]),
            depth_event(M, 3, S1, Lay, &[(300, 200)]),
            depth_event(M, 4, S2, Back, &[(500, 100)]),
        ]
    );

    // The S1 back stays as it is, the S1 lay shrinks in place, the S2 back goes and an S3
    // lay comes: the S1 back side is not republished.
    let events = sim.at(
        T0 + 2 * MS,
        Command::MassQuote {
            account: CAROL,
            market: M,
            quotes: vec![
                quote(S1, Some((400, 100)), Some((300, 150))),
                quote(S3, None, Some((250, 100))),
            ],
        },
    );
    let new_id = accepted_id(&events);
    assert_eq!(
        events,
        vec![
            cancelled(ids[2], CAROL, S2, Back, 100, CancelReason::QuoteReplaced),
            replaced(ids[1], CAROL, S1, Lay, 300, 150, true),
            quote_accepted(new_id, CAROL, S3, Lay, 250, 100),
            depth_event(M, 5, S1, Lay, &[(300, 150)]),
            depth_event(M, 6, S2, Back, &[]),
            depth_event(M, 7, S3, Lay, &[(250, 100)]),
        ]
    );

    // The same quotes again change nothing and publish nothing.
    let events = sim.at(
        T0 + 3 * MS,
        Command::MassQuote {
            account: CAROL,
            market: M,
            quotes: vec![
                quote(S1, Some((400, 100)), Some((300, 150))),
                quote(S3, None, Some((250, 100))),
            ],
        },
    );
    assert_eq!(events, vec![]);
}

#[test]
fn only_the_best_three_levels_are_shown() {
    let mut sim = default_setup();
    let mut lays = Vec::new();
    for (n, odds) in [300, 290, 280].into_iter().enumerate() {
        let events = sim.place(T0 + MS, NewOrder::lay(BOB, M, S1, odds, 100));
        lays.push(accepted_id(&events));
        let shown: Vec<(u32, i64)> = [300, 290, 280][..=n].iter().map(|o| (*o, 100)).collect();
        assert_eq!(events[1..], [depth_event(M, 2 + n as u64, S1, Lay, &shown)]);
    }
    // A fourth level, and more stake on it, are not shown: nothing is published.
    let fourth = NewOrder::lay(BOB, M, S1, 270, 100).cid(50);
    let events = sim.place(T0 + 2 * MS, fourth);
    let fourth_id = accepted_id(&events);
    assert_eq!(events, vec![accepted(fourth_id, fourth)]);
    let more = NewOrder::lay(CAROL, M, S1, 270, 50).cid(51);
    let events = sim.place(T0 + 3 * MS, more);
    let more_id = accepted_id(&events);
    assert_eq!(events, vec![accepted(more_id, more)]);
    let events = sim.cancel(T0 + 4 * MS, more_id);
    assert_eq!(
        events,
        vec![cancelled(
            more_id,
            CAROL,
            S1,
            Lay,
            50,
            CancelReason::Requested
        )]
    );
    let events = sim.replace(T0 + 4 * MS, fourth_id, 270, 60);
    assert_eq!(
        events,
        vec![replaced(fourth_id, BOB, S1, Lay, 270, 60, true)]
    );

    // A change at the third level is shown.
    let events = sim.replace(T0 + 5 * MS, lays[2], 280, 40);
    assert_eq!(
        events[1..],
        [depth_event(
            M,
            5,
            S1,
            Lay,
            &[(300, 100), (290, 100), (280, 40)]
        )]
    );

    // Removing the best level brings the fourth into view.
    let events = sim.cancel(T0 + 6 * MS, lays[0]);
    assert_eq!(
        events,
        vec![
            cancelled(lays[0], BOB, S1, Lay, 100, CancelReason::Requested),
            depth_event(M, 6, S1, Lay, &[(290, 100), (280, 40), (270, 60)]),
        ]
    );

    // The same on the back side, where the best is the lowest odds; a trade that takes the
    // whole best level shifts the fourth into view as well.
    for odds in [400, 410, 420] {
        sim.place(T0 + 7 * MS, NewOrder::back(CAROL, M, S2, odds, 100));
    }
    let events = sim.place(T0 + 7 * MS, NewOrder::back(CAROL, M, S2, 430, 100));
    assert_eq!(
        events.len(),
        1,
        "a fourth back level is not shown: {events:?}"
    );
    let taker = NewOrder::lay(ALICE, M, S2, 400, 100).ioc().cid(60);
    let events = sim.place(T0 + 8 * MS, taker);
    assert_eq!(
        events[2],
        depth_event(M, 11, S2, Back, &[(410, 100), (420, 100), (430, 100)])
    );
    assert_eq!(events.len(), 3);
    assert_eq!(
        sim.streams.market(M).book_seqs(),
        (1..=11).collect::<Vec<_>>()
    );
}

#[test]
fn trades_and_status_changes_carry_the_book_sequence() {
    let mut sim = default_setup();
    let lay_id = sim.placed(T0 + MS, NewOrder::lay(BOB, M, S1, 300, 1_000).persist());
    let back = NewOrder::back(ALICE, M, S1, 300, 100).cid(7);
    let events = sim.place(T0 + 2 * MS, back);
    let back_id = accepted_id(&events);
    assert_eq!(
        events,
        vec![
            accepted(back_id, back),
            trade(3, S1, 300, 100, (lay_id, BOB), (back_id, ALICE), Back),
            depth_event(M, 4, S1, Lay, &[(300, 900)]),
        ]
    );
    let events = sim.at(T0 + 3 * MS, Command::SuspendMarket { market: M });
    assert_eq!(
        events,
        then(
            vec![status_event(M, 5, Suspended, StatusCause::Operator)],
            tick(
                M,
                2,
                Status,
                Suspended,
                &[(S1, 300, 0, 300, 100), (S2, 0, 0, 0, 0), (S3, 0, 0, 0, 0)]
            )
        )
    );
    let events = sim.at(T0 + 4 * MS, Command::CloseMarket { market: M });
    assert_eq!(
        events,
        then(
            vec![
                status_event(M, 6, Closed, StatusCause::Operator),
                cancelled(lay_id, BOB, S1, Lay, 900, CancelReason::MarketClosed),
                depth_event(M, 7, S1, Lay, &[]),
            ],
            tick(
                M,
                3,
                Status,
                Closed,
                &[(S1, 0, 0, 300, 100), (S2, 0, 0, 0, 0), (S3, 0, 0, 0, 0)]
            )
        )
    );
}

#[test]
fn without_market_data_only_trades_and_status_changes_are_published() {
    let mut sim = setup(|s| s.market_data = Some(false));
    let lay = NewOrder::lay(BOB, M, S1, 300, 1_000).cid(1);
    let events = sim.place(T0 + MS, lay);
    let lay_id = accepted_id(&events);
    assert_eq!(events, vec![accepted(lay_id, lay)]);
    let back = NewOrder::back(ALICE, M, S1, 300, 400).cid(2);
    let events = sim.place(T0 + 2 * SECOND, back);
    let back_id = accepted_id(&events);
    assert_eq!(
        events,
        vec![
            accepted(back_id, back),
            trade(2, S1, 300, 400, (lay_id, BOB), (back_id, ALICE), Back),
        ]
    );
    // No heartbeat, however long the silence.
    assert_eq!(sim.timer(T0 + 60 * SECOND), vec![]);
    let events = sim.at(T0 + 61 * SECOND, Command::SuspendMarket { market: M });
    assert_eq!(
        events,
        vec![
            status_event(M, 3, Suspended, StatusCause::Operator),
            cancelled(lay_id, BOB, S1, Lay, 600, CancelReason::MarketSuspended),
        ]
    );

    // A pool market without market data publishes no pool_changed.
    let mut pool = MarketSpec::new(M2, vec![S1, S2]);
    pool.kind = MarketKind::Pool;
    pool.market_data = Some(false);
    sim.open_new(T0 + 62 * SECOND, pool);
    let events = sim.at(
        T0 + 63 * SECOND,
        Command::PlaceBet {
            account: ALICE,
            market: M2,
            selection: S1,
            stake_minor: 500,
            client_order_id: 90,
        },
    );
    assert!(
        matches!(events[..], [Event::BetAccepted { .. }]),
        "{events:?}"
    );
}

#[test]
fn market_data_is_on_unless_the_definition_turns_it_off() {
    let mut sim = Sim::new();
    sim.create(T0, MarketSpec::new(M, SELECTIONS.to_vec()));
    let events = sim.open(T0, M);
    assert_eq!(
        events,
        then(
            vec![status_event(M, 1, Open, StatusCause::Operator)],
            empty_tick(M, 1, Status, Open, &SELECTIONS)
        )
    );
}

#[test]
fn pool_changes_are_on_the_book_stream_and_indicative_odds_in_the_ticks() {
    let mut sim = Sim::new();
    for account in [ALICE, BOB] {
        sim.trader(T0, account);
    }
    let mut spec = exchange(M, &[S1, S2]);
    spec.kind = MarketKind::Pool;
    spec.takeout_bps = 1_000;
    sim.open_new(T0, spec);
    let bet = |account, selection, stake_minor, client_order_id| Command::PlaceBet {
        account,
        market: M,
        selection,
        stake_minor,
        client_order_id,
    };
    let events = sim.at(T0 + MS, bet(ALICE, S1, 1_000, 1));
    assert_eq!(
        events[1],
        Event::PoolChanged {
            market: M,
            book_seq: 2,
            selection: S1,
            pool_minor: 1_000,
            total_minor: 1_000
        }
    );
    assert_eq!(events.len(), 2);
    let events = sim.at(T0 + 2 * MS, bet(BOB, S2, 3_000, 2));
    assert_eq!(
        events[1],
        Event::PoolChanged {
            market: M,
            book_seq: 3,
            selection: S2,
            pool_minor: 3_000,
            total_minor: 4_000
        }
    );
    // Net pool 3600 after 10% takeout: 3.60 on S1, 1.20 on S2.
    let pool_odds = |selection, indicative_x100, pool_minor| Event::SelectionOdds {
        market: M,
        selection,
        back_x100: 0,
        lay_x100: 0,
        last_traded_x100: 0,
        indicative_x100,
        implied_bps: 1_000_000 / indicative_x100,
        reference_bps: 0,
        matched_minor: 0,
        pool_minor,
    };
    assert_eq!(
        sim.timer(T0 + 300 * MS),
        vec![
            tick_event(M, 2, Change, Open, 2, 2_777 + 8_333),
            pool_odds(S1, 360, 1_000),
            pool_odds(S2, 120, 3_000),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Odds ticks
// ---------------------------------------------------------------------------------------------

#[test]
fn every_status_change_publishes_a_status_tick_at_once() {
    let mut sim = default_setup();
    let lifecycle = [
        (Command::SuspendMarket { market: M }, Suspended),
        (Command::ResumeMarket { market: M }, Open),
        (Command::CloseMarket { market: M }, Closed),
    ];
    // One millisecond apart: far inside the 300 ms interval.
    for (n, (command, status)) in lifecycle.into_iter().enumerate() {
        let n = n as u64;
        let events = sim.at(T0 + (n + 1) * MS, command);
        assert_eq!(
            events,
            then(
                vec![status_event(M, n + 2, status, StatusCause::Operator)],
                empty_tick(M, n + 2, Status, status, &SELECTIONS)
            )
        );
    }
    let events = sim.at(
        T0 + 4 * MS,
        Command::SettleMarket {
            market: M,
            winners: vec![S1],
        },
    );
    assert_eq!(
        events,
        then(
            vec![
                Event::MarketSettled {
                    market: M,
                    winners: Winners::new(&[S1]).unwrap()
                },
                status_event(M, 5, Settled, StatusCause::Operator),
            ],
            empty_tick(M, 5, Status, Settled, &SELECTIONS)
        )
    );
    // A final market publishes no heartbeat.
    assert_eq!(sim.timer(T0 + 60 * SECOND), vec![]);

    // Void, of an open market and of one that never opened.
    sim.open_new(T0 + 61 * SECOND, exchange(M2, &[S1, S2]));
    let events = sim.at(T0 + 61 * SECOND + MS, Command::VoidMarket { market: M2 });
    assert_eq!(
        events,
        then(
            vec![status_event(M2, 2, Voided, StatusCause::Operator)],
            empty_tick(M2, 2, Status, Voided, &[S1, S2])
        )
    );
    let m3 = MarketId(9);
    sim.create(T0 + 62 * SECOND, exchange(m3, &[S1, S2]));
    let events = sim.at(T0 + 62 * SECOND, Command::VoidMarket { market: m3 });
    assert_eq!(
        events,
        then(
            vec![status_event(m3, 1, Voided, StatusCause::Operator)],
            empty_tick(m3, 1, Status, Voided, &[S1, S2])
        )
    );
}

#[test]
fn a_move_after_the_interval_is_published_at_once() {
    let mut sim = default_setup();
    let lay = NewOrder::lay(BOB, M, S1, 300, 1_000).cid(1);
    let events = sim.place(T0 + 500 * MS, lay);
    let lay_id = accepted_id(&events);
    assert_eq!(
        events,
        then(
            vec![
                accepted(lay_id, lay),
                depth_event(M, 2, S1, Lay, &[(300, 1_000)])
            ],
            tick(
                M,
                2,
                Change,
                Open,
                &[(S1, 300, 0, 0, 0), (S2, 0, 0, 0, 0), (S3, 0, 0, 0, 0)]
            )
        )
    );
}

#[test]
fn a_move_within_the_interval_waits_for_the_first_input_after_it() {
    let mut sim = default_setup();
    let lay_id = sim.placed(T0 + MS, NewOrder::lay(BOB, M, S1, 300, 1_000));
    assert_eq!(sim.timer(T0 + 299 * MS), vec![]);
    let odds = [(S1, 300, 0, 0, 0), (S2, 0, 0, 0, 0), (S3, 0, 0, 0, 0)];
    assert_eq!(sim.timer(T0 + 300 * MS), tick(M, 2, Change, Open, &odds));

    // Any input delivers it, here a deposit that has nothing to do with the market: what fell
    // due at the input's time comes first, then the deposit's own event.
    sim.replace(T0 + 400 * MS, lay_id, 340, 1_000);
    sim.place(T0 + 450 * MS, NewOrder::lay(CAROL, M, S2, 500, 10));
    let events = sim.at(
        T0 + 650 * MS,
        Command::Deposit {
            account: ALICE,
            amount_minor: 5,
            transfer_id: 77,
        },
    );
    let shown = [(S1, 340, 0, 0, 0), (S2, 500, 0, 0, 0), (S3, 0, 0, 0, 0)];
    assert_eq!(events[..4], tick(M, 3, Change, Open, &shown));
    assert!(matches!(events[4..], [Event::Ledger { .. }]), "{events:#?}");

    // An order at the moment a deferred tick falls due: the tick shows the odds before the
    // order, which itself waits for the next interval.
    let lay = NewOrder::lay(BOB, M, S3, 200, 10).cid(5);
    sim.replace(T0 + 700 * MS, lay_id, 400, 1_000);
    let events = sim.place(T0 + 950 * MS, lay);
    let new_id = accepted_id(&events);
    let shown = [(S1, 400, 0, 0, 0), (S2, 500, 0, 0, 0), (S3, 0, 0, 0, 0)];
    assert_eq!(
        events,
        then(
            tick(M, 4, Change, Open, &shown),
            vec![
                accepted(new_id, lay),
                depth_event(M, 6, S3, Lay, &[(200, 10)])
            ]
        )
    );
    assert_eq!(sim.timer(T0 + 1_249 * MS), vec![]);
    let shown = [(S1, 400, 0, 0, 0), (S2, 500, 0, 0, 0), (S3, 200, 0, 0, 0)];
    assert_eq!(sim.timer(T0 + 1_250 * MS), tick(M, 5, Change, Open, &shown));
}

#[test]
fn a_move_that_went_back_below_the_threshold_is_not_published() {
    let mut sim = default_setup();
    let lay_id = sim.placed(T0 + MS, NewOrder::lay(BOB, M, S1, 300, 1_000));
    sim.cancel(T0 + 2 * MS, lay_id);
    assert_eq!(sim.timer(T0 + 300 * MS), vec![]);
    assert_eq!(sim.timer(T0 + 999 * MS), vec![]);
    assert_eq!(
        sim.timer(T0 + 1_000 * MS),
        empty_tick(M, 2, Heartbeat, Open, &SELECTIONS)
    );

    // Back to within the threshold but not to the same odds: still nothing.
    let lay_id = sim.placed(T0 + 1_300 * MS, NewOrder::lay(BOB, M, S1, 300, 1_000));
    assert_eq!(
        sim.timer(T0 + 1_300 * MS)[..],
        [],
        "already published at once"
    );
    let last = sim.streams.market(M).ticks.last().unwrap().clone();
    assert_eq!((last.tick_seq, last.reason), (3, Change));
    sim.replace(T0 + 1_400 * MS, lay_id, 320, 1_000); // 667 bps
    sim.replace(T0 + 1_500 * MS, lay_id, 305, 1_000); // 166 bps from the 3.00 shown
    assert_eq!(sim.timer(T0 + 1_600 * MS), vec![]);
    assert_eq!(sim.timer(T0 + 2_299 * MS), vec![]);
    assert_eq!(
        sim.timer(T0 + 2_300 * MS),
        tick(
            M,
            4,
            Heartbeat,
            Open,
            &[(S1, 305, 0, 0, 0), (S2, 0, 0, 0, 0), (S3, 0, 0, 0, 0)]
        )
    );
}

#[test]
fn moves_are_measured_against_the_last_tick_with_the_threshold_included() {
    let mut sim = setup(|s| s.odds_change_threshold_bps = Some(400));
    let lay_id = sim.placed(T0 + SECOND / 2, NewOrder::lay(BOB, M, S1, 250, 1_000));
    assert_eq!(sim.streams.market(M).ticks.len(), 2);
    // 2.50 -> 2.58 is 320 bps: nothing, however long we wait (short of the heartbeat).
    sim.replace(T0 + 600 * MS, lay_id, 258, 1_000);
    assert_eq!(sim.timer(T0 + 1_400 * MS), vec![]);
    // 2.50 -> 2.60 is exactly 400 bps: published at once (the interval has long passed).
    let events = sim.replace(T0 + 1_450 * MS, lay_id, 260, 1_000);
    assert_eq!(
        events[2..],
        tick(
            M,
            3,
            Change,
            Open,
            &[(S1, 260, 0, 0, 0), (S2, 0, 0, 0, 0), (S3, 0, 0, 0, 0)]
        )
    );
    // Downwards the move is relative to the earlier odds too: 2.60 -> 2.50 is 384 bps.
    sim.replace(T0 + 1_800 * MS, lay_id, 250, 1_000);
    assert_eq!(sim.timer(T0 + 2_000 * MS), vec![]);
    // 2.60 -> 2.48 is 461 bps.
    let events = sim.replace(T0 + 2_100 * MS, lay_id, 248, 1_000);
    assert_eq!(
        events[2..],
        tick(
            M,
            4,
            Change,
            Open,
            &[(S1, 248, 0, 0, 0), (S2, 0, 0, 0, 0), (S3, 0, 0, 0, 0)]
        )
    );
}

#[test]
fn heartbeats_follow_silence_while_open_or_suspended() {
    let mut sim = default_setup();
    assert_eq!(sim.timer(T0 + 999 * MS), vec![]);
    assert_eq!(
        sim.timer(T0 + 1_000 * MS),
        empty_tick(M, 2, Heartbeat, Open, &SELECTIONS)
    );
    assert_eq!(sim.timer(T0 + 1_999 * MS), vec![]);
    assert_eq!(
        sim.timer(T0 + 2_000 * MS),
        empty_tick(M, 3, Heartbeat, Open, &SELECTIONS)
    );
    // A long silence gives one heartbeat, and the next counts from it.
    assert_eq!(
        sim.timer(T0 + 5_500 * MS),
        empty_tick(M, 4, Heartbeat, Open, &SELECTIONS)
    );
    assert_eq!(sim.timer(T0 + 6_499 * MS), vec![]);
    assert_eq!(
        sim.timer(T0 + 6_500 * MS),
        empty_tick(M, 5, Heartbeat, Open, &SELECTIONS)
    );
    // Any tick restarts the count: a status tick at 6.7 s.
    sim.at(T0 + 6_700 * MS, Command::SuspendMarket { market: M });
    assert_eq!(sim.timer(T0 + 7_699 * MS), vec![]);
    assert_eq!(
        sim.timer(T0 + 7_700 * MS),
        empty_tick(M, 7, Heartbeat, Suspended, &SELECTIONS)
    );
    sim.at(T0 + 7_800 * MS, Command::CloseMarket { market: M });
    assert_eq!(sim.timer(T0 + 20 * SECOND), vec![]);
}

#[test]
fn a_heartbeat_due_at_a_status_change_comes_first() {
    let mut sim = default_setup();
    let events = sim.at(T0 + SECOND, Command::SuspendMarket { market: M });
    let mut expected = empty_tick(M, 2, Heartbeat, Open, &SELECTIONS);
    expected.push(status_event(M, 2, Suspended, StatusCause::Operator));
    expected.extend(empty_tick(M, 3, Status, Suspended, &SELECTIONS));
    assert_eq!(events, expected);
}

#[test]
fn the_heartbeat_interval_is_the_markets_own() {
    let mut sim = setup(|s| s.odds_heartbeat_ms = Some(500));
    assert_eq!(sim.timer(T0 + 499 * MS), vec![]);
    assert_eq!(
        sim.timer(T0 + 500 * MS),
        empty_tick(M, 2, Heartbeat, Open, &SELECTIONS)
    );
    let mut sim = setup(|s| s.odds_heartbeat_ms = Some(10_000));
    assert_eq!(sim.timer(T0 + 9_999 * MS), vec![]);
    assert_eq!(sim.timer(T0 + 10 * SECOND).len(), 4);
}

#[test]
fn the_tick_interval_is_the_markets_own() {
    let mut sim = setup(|s| s.odds_tick_interval_ms = Some(100));
    sim.place(T0 + 50 * MS, NewOrder::lay(BOB, M, S1, 300, 1_000));
    assert_eq!(sim.timer(T0 + 99 * MS), vec![]);
    assert_eq!(sim.timer(T0 + 100 * MS).len(), 4);
    let mut sim = setup(|s| s.odds_tick_interval_ms = Some(500));
    sim.place(T0 + 50 * MS, NewOrder::lay(BOB, M, S1, 300, 1_000));
    assert_eq!(sim.timer(T0 + 499 * MS), vec![]);
    assert_eq!(sim.timer(T0 + 500 * MS).len(), 4);
}

#[test]
fn selection_odds_show_best_prices_last_traded_odds_and_matched_stake() {
    let mut sim = default_setup();
    sim.place(T0 + MS, NewOrder::lay(BOB, M, S1, 300, 1_000));
    sim.place(T0 + MS, NewOrder::back(CAROL, M, S1, 320, 500));
    sim.place(T0 + MS, NewOrder::back(ALICE, M, S1, 300, 400).ioc());
    sim.place(T0 + MS, NewOrder::back(CAROL, M, S2, 600, 100));
    sim.place(T0 + MS, NewOrder::lay(BOB, M, S3, 380, 100));
    sim.place(T0 + MS, NewOrder::lay(BOB, M, S3, 400, 100));
    // To back S1 one takes the best lay (3.00); to lay it, the best back (3.20). S2 has only
    // a back: nothing to back at, so no implied probability. S3: the best lay is the highest.
    let events = sim.timer(T0 + 300 * MS);
    assert_eq!(
        events,
        tick(
            M,
            2,
            Change,
            Open,
            &[
                (S1, 300, 320, 300, 400),
                (S2, 0, 600, 0, 0),
                (S3, 400, 0, 0, 0)
            ]
        )
    );
    assert_eq!(events[0], tick_event(M, 2, Change, Open, 3, 3_333 + 2_500));

    // A trade at another price moves the last traded odds and the matched stake, but not the
    // displayed odds: no change tick; the next heartbeat shows them.
    sim.place(T0 + 400 * MS, NewOrder::lay(BOB, M, S1, 310, 100));
    sim.place(T0 + 400 * MS, NewOrder::back(ALICE, M, S1, 310, 100).ioc());
    assert_eq!(sim.timer(T0 + 1_299 * MS), vec![]);
    assert_eq!(
        sim.timer(T0 + 1_300 * MS),
        tick(
            M,
            3,
            Heartbeat,
            Open,
            &[
                (S1, 300, 320, 310, 500),
                (S2, 0, 600, 0, 0),
                (S3, 400, 0, 0, 0)
            ]
        )
    );
}

#[test]
fn the_overround_is_the_sum_of_the_implied_probabilities() {
    let mut sim = default_setup();
    sim.place(T0 + MS, NewOrder::lay(BOB, M, S1, 200, 100));
    sim.place(T0 + MS, NewOrder::lay(BOB, M, S2, 400, 100));
    sim.place(T0 + MS, NewOrder::lay(BOB, M, S3, 500, 100));
    assert_eq!(
        sim.timer(T0 + 300 * MS)[0],
        tick_event(M, 2, Change, Open, 3, 5_000 + 2_500 + 2_000)
    );
}

#[test]
fn reference_odds_are_shown_and_filtered_like_any_odds() {
    let mut sim = default_setup();
    sim.feed(T0, FEED);
    let reference = |probabilities_bps: [u16; 3]| Command::ReferenceOdds {
        account: FEED,
        market: M,
        probabilities_bps: probabilities_bps.to_vec(),
    };
    let reference_odds = |selection, reference_bps| Event::SelectionOdds {
        market: M,
        selection,
        back_x100: 0,
        lay_x100: 0,
        last_traded_x100: 0,
        indicative_x100: 0,
        implied_bps: 0,
        reference_bps,
        matched_minor: 0,
        pool_minor: 0,
    };
    let events = sim.at(T0 + 400 * MS, reference([5_000, 3_000, 2_000]));
    assert_eq!(
        events,
        vec![
            Event::ReferenceUpdated {
                market: M,
                account: FEED,
                total_bps: 10_000
            },
            tick_event(M, 2, Change, Open, 3, 0),
            reference_odds(S1, 5_000),
            reference_odds(S2, 3_000),
            reference_odds(S3, 2_000),
        ]
    );
    // Fair odds 2.00 -> 2.02 (100 bps): not published.
    let events = sim.at(T0 + 800 * MS, reference([4_950, 3_000, 2_000]));
    assert_eq!(events.len(), 1);
    // 2.00 -> 2.08 (400 bps): published.
    let events = sim.at(T0 + 900 * MS, reference([4_800, 3_000, 2_200]));
    assert_eq!(events[1], tick_event(M, 3, Change, Open, 3, 0));
    assert_eq!(events[2], reference_odds(S1, 4_800));
}

// ---------------------------------------------------------------------------------------------
// Random streams
// ---------------------------------------------------------------------------------------------

/// One selection's random quote: the selection's index, then (tick offset, stake) of the back
/// and of the lay, if quoted.
type QuoteLeg = (usize, Option<(i32, i64)>, Option<(i32, i64)>);

/// One random action on a market.
#[derive(Clone, Debug)]
enum Action {
    Place {
        account: usize,
        selection: usize,
        side: Side,
        offset: i32,
        stake_minor: i64,
        tif: TimeInForce,
        persist: bool,
    },
    Cancel(Index),
    Replace {
        order: Index,
        offset: i32,
        stake_minor: i64,
    },
    MassQuote {
        account: usize,
        legs: Vec<QuoteLeg>,
    },
    KillSwitch {
        account: usize,
        on: bool,
    },
    Reference(Vec<u16>),
    Suspend,
    Resume,
    Timer,
}

/// One step: time passes, then the action.
#[derive(Clone, Debug)]
struct Step {
    dt_ns: u64,
    action: Action,
}

fn time_step() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => Just(0u64),
        4 => (1u64..=60).prop_map(|ms| ms * MS),
        4 => (60u64..=700).prop_map(|ms| ms * MS),
        1 => 1u64..=3_000_000_000,
        1 => (3_000u64..=12_000).prop_map(|ms| ms * MS),
    ]
}

fn stake() -> impl Strategy<Value = i64> {
    prop_oneof![1i64..=50, 50i64..=2_000]
}

fn leg() -> impl Strategy<Value = Option<(i32, i64)>> {
    proptest::option::of((-4i32..=4, stake()))
}

fn action(accounts: usize, selections: usize) -> impl Strategy<Value = Action> {
    let tif = prop_oneof![
        6 => Just(TimeInForce::Gtc),
        2 => Just(TimeInForce::Ioc),
        1 => Just(TimeInForce::Fok),
    ];
    let side = prop_oneof![Just(Back), Just(Lay)];
    prop_oneof![
        12 => (0..accounts, 0..selections, side, -5i32..=5, stake(), tif, any::<bool>()).prop_map(
            |(account, selection, side, offset, stake_minor, tif, persist)| Action::Place {
                account,
                selection,
                side,
                offset,
                stake_minor,
                tif,
                persist,
            }
        ),
        4 => any::<Index>().prop_map(Action::Cancel),
        3 => (any::<Index>(), -3i32..=3, stake()).prop_map(|(order, offset, stake_minor)| {
            Action::Replace {
                order,
                offset,
                stake_minor,
            }
        }),
        2 => (0..accounts, vec((0..selections, leg(), leg()), 0..=3))
            .prop_map(|(account, legs)| Action::MassQuote { account, legs }),
        1 => (0..accounts, any::<bool>()).prop_map(|(account, on)| Action::KillSwitch { account, on }),
        2 => prop_oneof![
            // Mostly small moves (fair odds 2.77 to 3.33), sometimes anything.
            3 => vec(3_000u16..=3_600, selections),
            1 => vec(0u16..=10_000, selections),
        ]
        .prop_map(Action::Reference),
        1 => Just(Action::Suspend),
        2 => Just(Action::Resume),
        4 => Just(Action::Timer),
    ]
}

fn steps(accounts: usize, selections: usize, len: usize) -> impl Strategy<Value = Vec<Step>> {
    vec(
        (time_step(), action(accounts, selections))
            .prop_map(|(dt_ns, action)| Step { dt_ns, action }),
        1..=len,
    )
}

/// The tick-filter knobs of a random market, each anywhere in its accepted range.
#[derive(Clone, Copy, Debug)]
struct RandomKnobs {
    threshold_bps: u16,
    interval_ms: u32,
    heartbeat_ms: u32,
}

fn knobs() -> impl Strategy<Value = RandomKnobs> {
    (
        ODDS_CHANGE_THRESHOLD_RANGE,
        ODDS_TICK_INTERVAL_RANGE,
        ODDS_HEARTBEAT_RANGE,
    )
        .prop_map(|(threshold_bps, interval_ms, heartbeat_ms)| RandomKnobs {
            threshold_bps,
            interval_ms,
            heartbeat_ms,
        })
}

/// Where the random orders of a market cluster: a tick of the betfair ladder.
fn center_tick() -> impl Strategy<Value = usize> {
    prop_oneof![Just(60usize), Just(120usize), 20usize..=230]
}

fn odds_at(center_tick: usize, offset: i32) -> u32 {
    let prices = LadderKind::Betfair.prices();
    let tick = (center_tick as i64 + i64::from(offset)).clamp(0, prices.len() as i64 - 1);
    prices[tick as usize]
}

/// One market of a random scenario, with its accounts and selections.
#[derive(Clone, Debug)]
struct Venue {
    market: MarketId,
    kind: MarketKind,
    /// Its traders.
    accounts: Vec<AccountId>,
    /// Its feed account.
    feed: AccountId,
    selections: Vec<SelectionId>,
    center_tick: usize,
}

/// The orders and pool bets a run has seen accepted, per market, in order.
#[derive(Clone, Debug, Default)]
struct Accepted {
    orders: Vec<(MarketId, OrderId)>,
    /// (market, bet, owner, selection, stake, still live).
    bets: Vec<(MarketId, OrderId, AccountId, SelectionId, i64, bool)>,
}

impl Accepted {
    fn record(&mut self, events: &[Event]) {
        for event in events {
            match *event {
                Event::OrderAccepted {
                    order_id, market, ..
                } => self.orders.push((market, order_id)),
                Event::BetAccepted {
                    bet_id,
                    account,
                    market,
                    selection,
                    stake_minor,
                    ..
                } => self
                    .bets
                    .push((market, bet_id, account, selection, stake_minor, true)),
                Event::BetCancelled { bet_id, .. } => {
                    let bet = self.bets.iter_mut().find(|b| b.1 == bet_id).unwrap();
                    assert!(bet.5, "a bet cancelled twice");
                    bet.5 = false;
                }
                _ => {}
            }
        }
    }

    /// The live orders of a market, oldest first.
    fn live(&self, engine: &Engine, market: MarketId) -> Vec<OrderId> {
        self.orders
            .iter()
            .filter(|(m, id)| *m == market && engine.order(*id).is_some())
            .map(|(_, id)| *id)
            .collect()
    }

    /// The live bets of a market as (bet, owner), oldest first.
    fn live_bets(&self, market: MarketId) -> Vec<(OrderId, AccountId)> {
        self.bets
            .iter()
            .filter(|b| b.0 == market && b.5)
            .map(|b| (b.1, b.2))
            .collect()
    }

    /// The pool of each selection: the sum of its live bets.
    fn pools(&self, market: MarketId, selections: &[SelectionId]) -> Vec<i64> {
        selections
            .iter()
            .map(|s| {
                self.bets
                    .iter()
                    .filter(|b| b.0 == market && b.3 == *s && b.5)
                    .map(|b| b.4)
                    .sum()
            })
            .collect()
    }
}

/// The command a random action makes on `venue`, given the run's state (`None`: nothing to
/// act on, a timer instead). `client_order_id` is the step's own, unique over the scenario.
fn command_for(
    sim: &Sim,
    accepted: &Accepted,
    venue: &Venue,
    action: &Action,
    client_order_id: u64,
) -> Command {
    let market = venue.market;
    if venue.kind == MarketKind::Pool {
        match *action {
            Action::Place {
                account,
                selection,
                stake_minor,
                ..
            } => {
                return Command::PlaceBet {
                    account: venue.accounts[account],
                    market,
                    selection: venue.selections[selection],
                    stake_minor,
                    client_order_id,
                };
            }
            Action::Cancel(pick) => {
                let live = accepted.live_bets(market);
                if live.is_empty() {
                    return Command::Timer {};
                }
                let (bet_id, account) = live[pick.index(live.len())];
                return Command::CancelBet {
                    account,
                    market,
                    bet_id,
                };
            }
            _ => {}
        }
    }
    match *action {
        Action::Place {
            account,
            selection,
            side,
            offset,
            stake_minor,
            tif,
            persist,
        } => Command::PlaceOrder {
            account: venue.accounts[account],
            market,
            selection: venue.selections[selection],
            side,
            odds_x100: odds_at(venue.center_tick, offset),
            stake_minor,
            tif,
            post_only: false,
            persistence: if persist {
                Persistence::Persist
            } else {
                Persistence::Lapse
            },
            client_order_id,
        },
        Action::Cancel(pick) => {
            let live = accepted.live(sim.engine(), market);
            if live.is_empty() {
                return Command::Timer {};
            }
            let order = sim.engine().order(live[pick.index(live.len())]).unwrap();
            Command::CancelOrder {
                account: order.account,
                market,
                order_id: Some(order.order_id),
                client_order_id: None,
            }
        }
        Action::Replace {
            order,
            offset,
            stake_minor,
        } => {
            let live = accepted.live(sim.engine(), market);
            if live.is_empty() {
                return Command::Timer {};
            }
            let order = sim.engine().order(live[order.index(live.len())]).unwrap();
            let tick = LadderKind::Betfair.tick(order.odds_x100).unwrap();
            Command::ReplaceOrder {
                account: order.account,
                market,
                order_id: order.order_id,
                odds_x100: odds_at(usize::from(tick), offset),
                stake_minor,
            }
        }
        Action::MassQuote { account, ref legs } => Command::MassQuote {
            account: venue.accounts[account],
            market,
            quotes: legs
                .iter()
                .map(|&(selection, back, lay)| {
                    let side = |leg: Option<(i32, i64)>, shift: i32| {
                        leg.map(|(offset, stake)| {
                            (odds_at(venue.center_tick, offset + shift), stake)
                        })
                    };
                    // Backs above the centre and lays below it, so that most quotes are valid.
                    quote(venue.selections[selection], side(back, 3), side(lay, -3))
                })
                .collect(),
        },
        Action::KillSwitch { account, on } => Command::KillSwitch {
            account: venue.accounts[account],
            on,
        },
        Action::Reference(ref probabilities_bps) => Command::ReferenceOdds {
            account: venue.feed,
            market,
            probabilities_bps: probabilities_bps.clone(),
        },
        Action::Suspend => Command::SuspendMarket { market },
        Action::Resume => Command::ResumeMarket { market },
        Action::Timer => Command::Timer {},
    }
}

/// A venue's traders, funded, its feed, and its market created and opened, all at [`T0`].
fn open_venue(sim: &mut Sim, venue: &Venue, spec: MarketSpec) {
    for &account in &venue.accounts {
        sim.trader(T0, account);
    }
    sim.feed(T0, venue.feed);
    sim.open_new(T0, spec);
}

/// How many inputs [`open_venue`] applies.
fn venue_inputs(venue: &Venue) -> usize {
    venue.accounts.len() * 2 + 1 + 2
}

fn single_venue(kind: MarketKind, center_tick: usize) -> Venue {
    Venue {
        market: M,
        kind,
        accounts: vec![ALICE, BOB, CAROL],
        feed: FEED,
        selections: SELECTIONS.to_vec(),
        center_tick,
    }
}

/// How one market of the isolation test is set up.
#[derive(Clone, Copy, Debug)]
struct VenueSetup {
    knobs: RandomKnobs,
    center_tick: usize,
    kind: MarketKind,
    delay_ms: u32,
    market_data: bool,
    lock_after_ms: Option<u64>,
    close_after_ms: Option<u64>,
}

fn venue_setup() -> impl Strategy<Value = VenueSetup> {
    (
        knobs(),
        center_tick(),
        market_kind(),
        prop_oneof![3 => Just(0u32), 1 => Just(400u32)],
        prop_oneof![4 => Just(true), 1 => Just(false)],
        proptest::option::weighted(0.3, 0u64..=60_000),
        proptest::option::weighted(0.2, 0u64..=90_000),
    )
        .prop_map(
            |(knobs, center_tick, kind, delay_ms, market_data, lock_after_ms, close_after_ms)| {
                VenueSetup {
                    knobs,
                    center_tick,
                    kind,
                    delay_ms,
                    market_data,
                    lock_after_ms,
                    close_after_ms,
                }
            },
        )
}

fn market_kind() -> impl Strategy<Value = MarketKind> {
    prop_oneof![3 => Just(MarketKind::Exchange), 1 => Just(MarketKind::Pool)]
}

/// What a run of the tick property saw, summed over cases, so that the test can show the
/// generator reaches every branch of the filter.
#[derive(Clone, Copy, Debug, Default)]
struct Coverage {
    change_at_once: u32,
    change_deferred: u32,
    heartbeats: u32,
    status: u32,
}

/// The tick filter on random streams. `Sim` checks after every input that every change tick
/// shows a move of at least the threshold from the previous tick and comes at least the
/// interval after it, that every heartbeat comes at least the heartbeat interval after the
/// previous tick, and that an input that published nothing left no move of the threshold
/// with the interval passed and no overdue heartbeat (see `stream_support`). This test adds
/// the same rules from its own bookkeeping of input times, and counts what it saw.
#[test]
fn ticks_follow_the_filter_on_random_streams() {
    let coverage = RefCell::new(Coverage::default());
    let mut runner = TestRunner::new(Config {
        cases: cases(96),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        knobs(),
        market_kind(),
        TAKEOUT_RANGE,
        center_tick(),
        steps(3, 3, 120),
    );
    runner
        .run(&strategy, |(knobs, kind, takeout_bps, center, steps)| {
            let mut sim = Sim::new();
            let venue = single_venue(kind, center);
            let mut spec = exchange(M, &SELECTIONS);
            spec.kind = kind;
            if kind == MarketKind::Pool {
                spec.takeout_bps = takeout_bps;
            }
            spec.odds_change_threshold_bps = Some(knobs.threshold_bps);
            spec.odds_tick_interval_ms = Some(knobs.interval_ms);
            spec.odds_heartbeat_ms = Some(knobs.heartbeat_ms);
            open_venue(&mut sim, &venue, spec);
            let threshold = u32::from(knobs.threshold_bps);
            let interval_ns = u64::from(knobs.interval_ms) * MS;
            let heartbeat_ns = u64::from(knobs.heartbeat_ms) * MS;
            let mut accepted = Accepted::default();
            // (input ts, compared values per selection) of the last tick.
            let mut last_tick: (u64, Vec<[u32; 4]>) = (T0, vec![[0; 4]; 3]);
            // The feed's probabilities, once it has sent some that were taken in.
            let mut reference: Option<Vec<u16>> = None;
            let mut ts = T0;
            for (n, step) in steps.iter().enumerate() {
                ts += step.dt_ns;
                let command = command_for(&sim, &accepted, &venue, &step.action, n as u64 + 1);
                let is_timer = matches!(command, Command::Timer {});
                let status_before = sim.engine().market_status(M);
                let sent = match &command {
                    Command::ReferenceOdds {
                        probabilities_bps, ..
                    } => Some(probabilities_bps.clone()),
                    _ => None,
                };
                let events = sim.at(ts, command);
                accepted.record(&events);
                if events
                    .iter()
                    .any(|e| matches!(e, Event::ReferenceUpdated { .. }))
                {
                    reference = sent;
                }
                let ticks: Vec<(TickReason, Vec<[u32; 4]>)> = {
                    let all = &sim.streams.market(M).ticks;
                    let fresh = events
                        .iter()
                        .filter(|e| matches!(e, Event::OddsTick { .. }))
                        .count();
                    all[all.len() - fresh..]
                        .iter()
                        .map(|t| (t.reason, t.odds.iter().map(|o| o.compared()).collect()))
                        .collect()
                };
                // What the market shows now, recomputed from the book, the bets and the feed.
                let pools = accepted.pools(M, &SELECTIONS);
                let total: i64 = pools.iter().sum();
                let net = total * i64::from(10_000 - spec_takeout(kind, takeout_bps)) / 10_000;
                let now: Vec<[u32; 4]> = SELECTIONS
                    .iter()
                    .enumerate()
                    .map(|(n, s)| {
                        let best = |side| sim.depth(M, *s, side).first().map_or(0, |l| l.0);
                        let indicative = if pools[n] > 0 {
                            u32::try_from(net * 100 / pools[n]).unwrap()
                        } else {
                            0
                        };
                        let fair = reference.as_ref().map_or(0, |p| {
                            1_000_000u32.checked_div(u32::from(p[n])).unwrap_or(0)
                        });
                        [best(Lay), best(Back), indicative, fair]
                    })
                    .collect();
                let moved_since_last = |last: &[[u32; 4]]| {
                    last.iter()
                        .zip(&now)
                        .any(|(old, new)| (0..4).any(|i| moved(old[i], new[i], threshold)))
                };
                let trading = matches!(
                    sim.engine().market_status(M),
                    Some(MarketStatus::Open | MarketStatus::Suspended)
                );
                let mut c = coverage.borrow_mut();
                for (reason, shown) in &ticks {
                    let since = ts - last_tick.0;
                    match reason {
                        TickReason::Change => {
                            prop_assert!(since >= interval_ns);
                            prop_assert!(
                                shown.iter().zip(&last_tick.1).any(|(new, old)| {
                                    (0..4).any(|i| moved(old[i], new[i], threshold))
                                }),
                                "change tick without a move"
                            );
                            if is_timer {
                                c.change_deferred += 1;
                            } else {
                                c.change_at_once += 1;
                            }
                        }
                        TickReason::Heartbeat => {
                            prop_assert!(since >= heartbeat_ns);
                            c.heartbeats += 1;
                        }
                        TickReason::Status => {
                            prop_assert!(sim.engine().market_status(M) != status_before);
                            c.status += 1;
                        }
                    }
                    last_tick = (ts, shown.clone());
                }
                // Liveness: whatever was owed at this input's time was published by it.
                if trading {
                    prop_assert!(
                        ts - last_tick.0 < heartbeat_ns,
                        "heartbeat overdue at {}",
                        ts
                    );
                    prop_assert!(
                        ts - last_tick.0 < interval_ns || !moved_since_last(&last_tick.1),
                        "a move of {} bps was not published at {}",
                        threshold,
                        ts
                    );
                }
            }
            Ok(())
        })
        .unwrap();
    let c = coverage.into_inner();
    assert!(c.change_at_once > 0, "{c:?}");
    assert!(c.change_deferred > 0, "{c:?}");
    assert!(c.heartbeats > 0, "{c:?}");
    assert!(c.status > 0, "{c:?}");
}

/// The takeout a market of `kind` was given (exchanges take none).
fn spec_takeout(kind: MarketKind, takeout_bps: u16) -> u16 {
    match kind {
        MarketKind::Pool => takeout_bps,
        MarketKind::Exchange => 0,
    }
}

/// `PROPTEST_CASES` from the environment if set, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}

fn config(default_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default_cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(96))]

    /// After every input, the latest `book_depth` of every (selection, side) is the best three
    /// levels of `Engine::depth`, and the book stream's sequence is 1, 2, 3, ...
    #[test]
    fn published_depth_is_the_best_three_levels_of_the_book(
        center in center_tick(),
        steps in steps(3, 3, 150),
    ) {
        let mut sim = Sim::new();
        let venue = single_venue(MarketKind::Exchange, center);
        open_venue(&mut sim, &venue, exchange(M, &SELECTIONS));
        let mut accepted = Accepted::default();
        let mut ts = T0;
        for (n, step) in steps.iter().enumerate() {
            ts += step.dt_ns;
            let command = command_for(&sim, &accepted, &venue, &step.action, n as u64 + 1);
            let events = sim.at(ts, command);
            accepted.record(&events);
            let stream = sim.streams.market(M);
            for selection in SELECTIONS {
                for side in [Back, Lay] {
                    let book = sim.depth(M, selection, side);
                    prop_assert_eq!(
                        stream.shown(selection, side),
                        level_arrays(&book),
                        "selection {:?} side {:?} after step {}", selection, side, n
                    );
                }
            }
            let seqs = stream.book_seqs();
            prop_assert_eq!(seqs, (1..=stream.book_events.len() as u64).collect::<Vec<_>>());
        }
    }

    /// Five markets trading at once are five independent streams: every event that names a
    /// market carries only that market's selections, accounts and orders; each market's
    /// book_seq runs 1, 2, 3, ... on its own; and each market's events are exactly those it
    /// produces when its commands run alone (the other markets' inputs replaced by timers at
    /// the same times, order ids compared by order of appearance).
    #[test]
    fn markets_do_not_leak_into_each_other(
        setups in vec(venue_setup(), 5),
        steps in vec((0usize..5, time_step(), action(3, 3)), 1..=150),
    ) {
        let venues: Vec<Venue> = setups
            .iter()
            .enumerate()
            .map(|(k, setup)| {
                let k = k as u32;
                Venue {
                    market: MarketId(100 + k),
                    kind: setup.kind,
                    accounts: (1..=3).map(|a| AccountId(10 * (k + 1) + a)).collect(),
                    feed: AccountId(10 * (k + 1) + 4),
                    selections: (1..=3).map(|s| SelectionId(100 * (k + 1) + s)).collect(),
                    center_tick: setup.center_tick,
                }
            })
            .collect();
        let spec_of = |k: usize| {
            let setup = &setups[k];
            let venue = &venues[k];
            let mut spec = exchange(venue.market, &venue.selections);
            spec.kind = setup.kind;
            spec.odds_change_threshold_bps = Some(setup.knobs.threshold_bps);
            spec.odds_tick_interval_ms = Some(setup.knobs.interval_ms);
            spec.odds_heartbeat_ms = Some(setup.knobs.heartbeat_ms);
            if setup.kind == MarketKind::Exchange {
                spec.bet_delay_ms = setup.delay_ms;
            } else {
                spec.takeout_bps = 1_000;
            }
            spec.market_data = Some(setup.market_data);
            spec.lock_at = setup.lock_after_ms.map(|ms| T0 + ms * MS);
            spec.close_at = setup.close_after_ms.map(|ms| T0 + ms * MS);
            spec
        };

        // Interleaved: every venue opened at T0, then the steps in order.
        let mut sim = Sim::new();
        for (k, venue) in venues.iter().enumerate() {
            open_venue(&mut sim, venue, spec_of(k));
        }
        let setup_inputs = sim.log.len();
        let mut accepted = Accepted::default();
        let mut ts = T0;
        for (n, (k, dt_ns, action)) in steps.iter().enumerate() {
            ts += dt_ns;
            let command = command_for(&sim, &accepted, &venues[*k], action, n as u64 + 1);
            let events = sim.at(ts, command);
            accepted.record(&events);
        }
        let interleaved = sim.log.clone();

        // Every event naming a market carries only that market's accounts and orders (the
        // stream checker has already checked the selections and each book_seq).
        let market_of_order: std::collections::BTreeMap<OrderId, MarketId> = accepted
            .orders
            .iter()
            .copied()
            .chain(accepted.bets.iter().map(|b| (b.0, b.1)))
            .map(|(m, id)| (id, m))
            .collect();
        for (_, events) in &interleaved {
            for event in events {
                let Some(market) = event_market(event) else { continue };
                let venue = venues.iter().find(|v| v.market == market).unwrap();
                for account in event_accounts(event) {
                    prop_assert!(
                        venue.accounts.contains(&account) || account == venue.feed,
                        "{:?}", event
                    );
                }
                for order in event_orders(event) {
                    prop_assert_eq!(market_of_order.get(&order), Some(&market), "{:?}", event);
                }
            }
        }
        for venue in &venues {
            let stream = sim.streams.market(venue.market);
            let seqs = stream.book_seqs();
            prop_assert_eq!(seqs, (1..=stream.book_events.len() as u64).collect::<Vec<_>>());
        }

        // Each market alone.
        for (k, venue) in venues.iter().enumerate() {
            let mut alone = Sim::new();
            let mut accepted = Accepted::default();
            let mut setup_done = 0;
            for (j, other) in venues.iter().enumerate() {
                let before = alone.log.len();
                if j == k {
                    open_venue(&mut alone, other, spec_of(j));
                } else {
                    // As many timers as the other venue's setup had inputs.
                    for _ in 0..venue_inputs(other) {
                        alone.timer(T0);
                    }
                }
                setup_done += alone.log.len() - before;
            }
            prop_assert_eq!(setup_done, setup_inputs);
            for (n, (j, _, action)) in steps.iter().enumerate() {
                let ts = interleaved[setup_inputs + n].0.ts_ns;
                let command = if *j == k {
                    command_for(&alone, &accepted, venue, action, n as u64 + 1)
                } else {
                    Command::Timer {}
                };
                let events = alone.at(ts, command);
                accepted.record(&events);
            }
            let ours = |log: &[(Input, Vec<Event>)]| -> Vec<Vec<Event>> {
                let mut ids = std::collections::BTreeMap::new();
                log.iter()
                    .map(|(_, events)| {
                        events
                            .iter()
                            .filter(|e| event_market(e) == Some(venue.market))
                            .map(|e| normalize_order_ids(e, &mut ids))
                            .collect()
                    })
                    .collect()
            };
            let expected = ours(&alone.log);
            let actual = ours(&interleaved);
            for (n, (a, e)) in actual.iter().zip(&expected).enumerate() {
                prop_assert_eq!(a, e, "market {:?}, input {}", venue.market, n);
            }
        }
    }
}

/// The event with its order ids replaced by their rank of first appearance in `ids`.
fn normalize_order_ids(event: &Event, ids: &mut std::collections::BTreeMap<OrderId, u64>) -> Event {
    let mut rank = |id: &mut OrderId| {
        let next = ids.len() as u64 + 1;
        *id = OrderId(*ids.entry(*id).or_insert(next));
    };
    let mut event = *event;
    match &mut event {
        Event::Trade {
            maker_order_id,
            taker_order_id,
            ..
        } => {
            rank(maker_order_id);
            rank(taker_order_id);
        }
        Event::OrderAccepted { order_id, .. }
        | Event::OrderCancelled { order_id, .. }
        | Event::OrderReplaced { order_id, .. }
        | Event::OrderDelayed { order_id, .. } => rank(order_id),
        Event::BetAccepted { bet_id, .. }
        | Event::BetCancelled { bet_id, .. }
        | Event::BetSettled { bet_id, .. } => rank(bet_id),
        Event::Rejected {
            order_id: Some(order_id),
            ..
        } => rank(order_id),
        _ => {}
    }
    event
}
