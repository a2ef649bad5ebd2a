//! The reference feed, price bands and the circuit breaker: who may send reference odds and
//! what feeds may not do, checks of the probabilities, the reference in odds ticks, orders,
//! replaces and mass quotes against the band, breaker trips on reference moves (exact event
//! fields, suspension, lapse orders cancelled), moves spread over more than the window, the
//! operator's resume, and the indicative breaker of pools with its minimum pool.
//!
//! Every command runs on both books through the harness, which checks `validate()`, equal
//! events and state hashes, and money conservation after each one.

mod odds_support;
mod support;

use odds_support::*;
use oddsmatch_engine::*;
use support::*;

/// A second market.
const OTHER: MarketId = MarketId(8);
/// When the breaker tests start sending references (well after the setup's timestamps).
const T: u64 = 10 * SECOND;

/// A harness with ALICE and BOB (10,000 each), the feed account and the open exchange market
/// [`MARKET`] (S1, S2, S3) changed by `change`, without market data.
fn market_with(change: impl FnOnce(&mut MarketSpec)) -> Harness {
    let mut h = Harness::new();
    h.funded(ALICE, 10_000);
    h.funded(BOB, 10_000);
    feed_account(&mut h, FEED);
    h.open_market(MarketDef::new(MARKET, &[S1, S2, S3]).with(change));
    h
}

fn reference_updated(total_bps: u32) -> Event {
    Event::ReferenceUpdated {
        market: MARKET,
        account: FEED,
        total_bps,
    }
}

fn tripped(
    selection: SelectionId,
    source: BreakerSource,
    from_x100: u32,
    to_x100: u32,
    move_bps: u32,
) -> Event {
    Event::CircuitBreakerTripped {
        market: MARKET,
        selection,
        source,
        from_x100,
        to_x100,
        move_bps,
    }
}

fn suspended_by_breaker(book_seq: u64) -> Event {
    status_event(
        MARKET,
        book_seq,
        MarketStatus::Suspended,
        StatusCause::CircuitBreaker,
    )
}

fn order_command(
    account: AccountId,
    selection: SelectionId,
    side: Side,
    odds_x100: u32,
    client_order_id: u64,
) -> Command {
    Command::PlaceOrder {
        account,
        market: MARKET,
        selection,
        side,
        odds_x100,
        stake_minor: 100,
        tif: TimeInForce::Gtc,
        post_only: false,
        persistence: Persistence::Lapse,
        client_order_id,
    }
}

// -- roles --

#[test]
fn only_feed_accounts_send_reference_odds() {
    let mut h = market_with(|_| {});
    let event = h.reject(
        Command::ReferenceOdds {
            account: ALICE,
            market: MARKET,
            probabilities_bps: vec![5_000, 3_000, 2_000],
        },
        RejectReason::RoleNotPermitted,
    );
    assert_eq!(
        event,
        rejected(
            CommandKind::ReferenceOdds,
            RejectReason::RoleNotPermitted,
            Some(ALICE),
            Some(MARKET),
            None,
            None,
        )
    );
    for account in [AccountId(77), AccountId::HOUSE_ROUNDING] {
        let reason = if account.is_reserved() {
            RejectReason::RoleNotPermitted
        } else {
            RejectReason::UnknownAccount
        };
        h.reject(
            Command::ReferenceOdds {
                account,
                market: MARKET,
                probabilities_bps: vec![5_000, 3_000, 2_000],
            },
            reason,
        );
    }
    let events = h.accept(reference_command(&[5_000, 3_000, 2_000]));
    assert_eq!(events, vec![reference_updated(10_000)]);
}

#[test]
fn a_feed_account_cannot_trade_or_move_money() {
    let mut h = market_with(|_| {});
    h.open_market(pool_def(OTHER, &[S1, S2], 0));
    let resting = h.placed(Place::back(ALICE, S1, 300, 100));
    let transfer_id = h.fresh_transfer_id();
    let commands = [
        Command::Deposit {
            account: FEED,
            amount_minor: 1_000,
            transfer_id,
        },
        Command::Withdraw {
            account: FEED,
            amount_minor: 1_000,
            transfer_id,
        },
        order_command(FEED, S1, Side::Back, 200, 1),
        Command::CancelOrder {
            account: FEED,
            market: MARKET,
            order_id: Some(resting),
            client_order_id: None,
        },
        Command::ReplaceOrder {
            account: FEED,
            market: MARKET,
            order_id: resting,
            odds_x100: 310,
            stake_minor: 100,
        },
        Command::MassCancel {
            account: FEED,
            market: None,
        },
        Command::MassQuote {
            account: FEED,
            market: MARKET,
            quotes: vec![quote(S1, Some((200, 100)), None)],
        },
        Command::KillSwitch {
            account: FEED,
            on: true,
        },
        Command::PlaceBet {
            account: FEED,
            market: OTHER,
            selection: S1,
            stake_minor: 100,
            client_order_id: 2,
        },
        Command::CancelBet {
            account: FEED,
            market: OTHER,
            bet_id: OrderId(1),
        },
        vote_command(FEED, S1),
    ];
    for command in commands {
        let kind = command.kind();
        let event = h.reject(command, RejectReason::RoleNotPermitted);
        let Event::Rejected { account, .. } = event else {
            unreachable!()
        };
        assert_eq!(account, Some(FEED), "{kind:?}");
    }
    assert_eq!(h.balance(FEED), 0);
    assert!(h.is_live(resting));
}

// -- probabilities --

#[test]
fn reference_probabilities_are_checked() {
    let mut h = market_with(|_| {});
    for probabilities in [
        &[5_000, 5_000][..],
        &[2_500, 2_500, 2_500, 2_500],
        &[],
        &[10_001, 0, 0],
        &[5_000, 5_000, u16::MAX],
    ] {
        let event = h.reject(
            reference_command(probabilities),
            RejectReason::InvalidReference,
        );
        assert_eq!(
            event,
            rejected(
                CommandKind::ReferenceOdds,
                RejectReason::InvalidReference,
                Some(FEED),
                Some(MARKET),
                None,
                None,
            )
        );
    }
    // The sum is free (it is the feed's overround).
    let events = h.accept(reference_command(&[6_000, 3_000, 2_000]));
    assert_eq!(events, vec![reference_updated(11_000)]);
    h.reject(
        Command::ReferenceOdds {
            account: FEED,
            market: MarketId(99),
            probabilities_bps: vec![5_000, 5_000],
        },
        RejectReason::UnknownMarket,
    );
    // A pending market takes references (unwatched by the breaker, so that this certainty
    // trips nothing); each probability may be anything up to 10,000. A final market takes none.
    h.accept(MarketDef::new(OTHER, &[S1, S2, S3]).command());
    let reference = Command::ReferenceOdds {
        account: FEED,
        market: OTHER,
        probabilities_bps: vec![10_000, 0, 0],
    };
    let events = h.accept(reference.clone());
    assert_eq!(
        events,
        vec![Event::ReferenceUpdated {
            market: OTHER,
            account: FEED,
            total_bps: 10_000,
        }]
    );
    h.accept(Command::VoidMarket { market: OTHER });
    h.reject(reference, RejectReason::MarketFinalized);
}

#[test]
fn the_reference_is_shown_in_selection_odds() {
    let mut h = market_with(|s| s.market_data = Some(true));
    let opened = h.engine().ts_ns();
    // Within the tick interval of the opening's status tick: no tick yet.
    let events = h.accept(reference_command(&[5_000, 3_000, 2_000]));
    assert_eq!(events, vec![reference_updated(10_000)]);
    let events = accept_at(&mut h, opened + 300 * MS, Command::Timer {});
    let odds = |selection, reference_bps| Event::SelectionOdds {
        market: MARKET,
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
    assert_eq!(
        events,
        vec![
            Event::OddsTick {
                market: MARKET,
                tick_seq: 2,
                reason: TickReason::Change,
                status: MarketStatus::Open,
                selections: 3,
                overround_bps: 0,
            },
            odds(S1, 5_000),
            odds(S2, 3_000),
            odds(S3, 2_000),
        ]
    );
}

// -- price band --

#[test]
fn without_a_reference_there_is_no_band() {
    let mut h = market_with(|s| s.price_band_bps = Some(500));
    h.open_market(MarketDef::new(OTHER, &[S1, S2, S3]));
    // Any price goes while the feed has said nothing.
    let low = h.placed(Place::back(ALICE, S1, 101, 100));
    let high = h.placed(Place::back(ALICE, S2, 1_000, 100));
    h.cancel(ALICE, MARKET, low);
    h.cancel(ALICE, MARKET, high);
    // A reference without a band bounds nothing either.
    h.accept(Command::ReferenceOdds {
        account: FEED,
        market: OTHER,
        probabilities_bps: vec![5_000, 3_000, 2_000],
    });
    h.placed(Place::back(ALICE, S1, 101, 100).on(OTHER));
    // With both, the same order is refused.
    h.accept(reference_command(&[5_000, 3_000, 2_000]));
    h.reject(
        order_command(ALICE, S1, Side::Back, 101, 50),
        RejectReason::OutsidePriceBand,
    );
}

#[test]
fn orders_outside_the_price_band_are_refused() {
    // Band 500 bps around the reference probability.
    let mut h = market_with(|s| s.price_band_bps = Some(500));
    h.accept(reference_command(&[5_000, 3_000, 2_000]));

    // S1 at 5,000 bps. 2.00 implies 5,000, 2.22 implies 4,504, 1.90 implies 5,263: inside.
    let order = accepted_id(&h.accept(order_command(ALICE, S1, Side::Back, 200, 1)));
    h.accept(order_command(ALICE, S1, Side::Back, 222, 2));
    h.accept(order_command(BOB, S1, Side::Lay, 190, 1));
    // 1.80 implies 5,555 and 2.24 implies 4,464: more than 500 away, whatever the side.
    let event = h.reject(
        order_command(ALICE, S1, Side::Back, 180, 3),
        RejectReason::OutsidePriceBand,
    );
    assert_eq!(
        event,
        rejected(
            CommandKind::PlaceOrder,
            RejectReason::OutsidePriceBand,
            Some(ALICE),
            Some(MARKET),
            Some(3),
            None,
        )
    );
    h.reject(
        order_command(ALICE, S1, Side::Back, 224, 4),
        RejectReason::OutsidePriceBand,
    );
    h.reject(
        order_command(BOB, S1, Side::Lay, 180, 2),
        RejectReason::OutsidePriceBand,
    );
    // S3 at 2,000 bps: 4.00 implies 2,500, exactly the band's edge; 3.95 implies 2,531.
    h.accept(order_command(ALICE, S3, Side::Back, 400, 5));
    h.reject(
        order_command(ALICE, S3, Side::Back, 395, 6),
        RejectReason::OutsidePriceBand,
    );

    // A replace to a new price is checked like a new order.
    let event = h.reject(
        Command::ReplaceOrder {
            account: ALICE,
            market: MARKET,
            order_id: order,
            odds_x100: 180,
            stake_minor: 100,
        },
        RejectReason::OutsidePriceBand,
    );
    assert_eq!(
        event,
        rejected(
            CommandKind::ReplaceOrder,
            RejectReason::OutsidePriceBand,
            Some(ALICE),
            Some(MARKET),
            None,
            Some(order),
        )
    );
    let events = h.replace(ALICE, order, 210, 100);
    assert!(matches!(
        events[0],
        Event::OrderReplaced {
            odds_x100: 210,
            priority_kept: false,
            ..
        }
    ));

    // The reference moves (S1 to 4,000 bps: fair odds 2.00 -> 2.50, a 25% move, under the
    // breaker). The order at 2.10 (4,761 bps) is now outside, but a replace that keeps its
    // price is not a new price: it may still shrink.
    h.accept(reference_command(&[4_000, 3_000, 2_000]));
    h.reject(
        order_command(ALICE, S1, Side::Back, 210, 7),
        RejectReason::OutsidePriceBand,
    );
    let events = h.replace(ALICE, order, 210, 60);
    assert!(matches!(
        events[0],
        Event::OrderReplaced {
            odds_x100: 210,
            stake_minor: 60,
            priority_kept: true,
            ..
        }
    ));
    let events = h.replace(ALICE, order, 250, 60);
    assert!(matches!(
        events[0],
        Event::OrderReplaced { odds_x100: 250, .. }
    ));
    h.accept(reference_command(&[5_000, 3_000, 2_000]));

    // Mass quotes: every leg is checked. S2 at 3,000 bps: 3.40 implies 2,941 and 3.20 implies
    // 3,125 (inside); 2.50 implies 4,000 and 5.00 implies 2,000 (outside).
    let events = h.accept(Command::MassQuote {
        account: BOB,
        market: MARKET,
        quotes: vec![quote(S2, Some((340, 100)), Some((320, 100)))],
    });
    assert_eq!(accepted_ids(&events).len(), 2);
    for quotes in [
        vec![quote(S2, Some((340, 100)), Some((250, 100)))],
        vec![quote(S2, Some((500, 100)), Some((320, 100)))],
        vec![
            quote(S2, Some((340, 100)), Some((320, 100))),
            quote(S3, Some((400, 100)), Some((395, 100))),
        ],
    ] {
        let event = h.reject(
            Command::MassQuote {
                account: BOB,
                market: MARKET,
                quotes,
            },
            RejectReason::OutsidePriceBand,
        );
        assert_eq!(
            event,
            rejected(
                CommandKind::MassQuote,
                RejectReason::OutsidePriceBand,
                Some(BOB),
                Some(MARKET),
                None,
                None,
            )
        );
    }
    // The refused quotes left the accepted ones in place.
    assert_eq!(h.depth(MARKET, S2, Side::Back), vec![(340, 100)]);
    assert_eq!(h.depth(MARKET, S2, Side::Lay), vec![(320, 100)]);
}

// -- circuit breaker on the reference --

#[test]
fn a_reference_move_beyond_the_breaker_suspends_the_market() {
    // Default breaker: more than 3,000 bps within 1,000 ms.
    let mut h = market_with(|_| {});
    let lapse_back = h.placed(Place::back(ALICE, S1, 300, 100));
    let persist = h.placed(Place::back(ALICE, S2, 400, 100).persist());
    let lapse_lay = h.placed(Place::lay(BOB, S3, 500, 100));

    let events = accept_at(&mut h, T, reference_command(&[5_000, 2_500, 2_500]));
    assert_eq!(events, vec![reference_updated(10_000)]);
    // S1's fair odds go from 2.00 to 5.00 (+15,000 bps) within the window; S2's also moved too
    // far (4.00 -> 2.50), but the first selection to trip is reported.
    let events = accept_at(
        &mut h,
        T + 500 * MS,
        reference_command(&[2_000, 4_000, 4_000]),
    );
    assert_eq!(
        events,
        vec![
            reference_updated(10_000),
            tripped(S1, BreakerSource::Reference, 200, 500, 15_000),
            suspended_by_breaker(2),
            Event::OrderCancelled {
                order_id: lapse_back,
                account: ALICE,
                market: MARKET,
                selection: S1,
                side: Side::Back,
                stake_minor: 100,
                reason: CancelReason::MarketSuspended,
            },
            Event::OrderCancelled {
                order_id: lapse_lay,
                account: BOB,
                market: MARKET,
                selection: S3,
                side: Side::Lay,
                stake_minor: 100,
                reason: CancelReason::MarketSuspended,
            },
        ]
    );
    assert_eq!(
        h.engine().market_status(MARKET),
        Some(MarketStatus::Suspended)
    );
    assert!(h.is_live(persist));
    assert!(!h.is_live(lapse_back));
    h.place_rejected(
        Place::back(ALICE, S1, 500, 100),
        RejectReason::MarketNotOpen,
    );

    // While suspended the feed is still taken in, but nothing is watched.
    let events = accept_at(
        &mut h,
        T + 550 * MS,
        reference_command(&[1_000, 4_500, 4_500]),
    );
    assert_eq!(events, vec![reference_updated(10_000)]);

    // Only an operator reopens the market.
    let events = accept_at(
        &mut h,
        T + 600 * MS,
        Command::ResumeMarket { market: MARKET },
    );
    assert_eq!(
        events,
        vec![status_event(
            MARKET,
            3,
            MarketStatus::Open,
            StatusCause::Operator
        )]
    );
    // Moves are measured from the odds in effect at the resumption (S1 at 10.00, sent while
    // suspended): the same odds again do not trip the breaker.
    let events = accept_at(
        &mut h,
        T + 700 * MS,
        reference_command(&[1_000, 4_500, 4_500]),
    );
    assert_eq!(events, vec![reference_updated(10_000)]);
    // Small moves: S1 10.00 -> 9.52 (-480 bps), S3 2.22 -> 2.24 (+90 bps).
    let events = accept_at(
        &mut h,
        T + 800 * MS,
        reference_command(&[1_050, 4_500, 4_450]),
    );
    assert_eq!(events, vec![reference_updated(10_000)]);
    // The breaker is armed: S1 from 10.00 (still in the window) to 4.00 is -6,000 bps.
    let events = accept_at(
        &mut h,
        T + 900 * MS,
        reference_command(&[2_500, 4_500, 3_000]),
    );
    assert_eq!(
        events,
        vec![
            reference_updated(10_000),
            tripped(S1, BreakerSource::Reference, 1_000, 400, 6_000),
            suspended_by_breaker(4),
        ]
    );
    assert!(h.is_live(persist));
}

#[test]
fn a_move_of_exactly_the_breaker_does_not_trip_it() {
    let mut h = market_with(|_| {});
    accept_at(&mut h, T, reference_command(&[5_000, 2_500, 2_500]));
    // 1,000,000 / 3,846 = 260: 2.00 -> 2.60 is exactly 3,000 bps, not more.
    let events = accept_at(&mut h, T + MS, reference_command(&[3_846, 2_500, 2_500]));
    assert_eq!(events, vec![reference_updated(8_846)]);
    // 1,000,000 / 3,831 = 261: 2.00 (still in the window) -> 2.61 is 3,050 bps.
    let events = accept_at(
        &mut h,
        T + 2 * MS,
        reference_command(&[3_831, 2_500, 2_500]),
    );
    assert_eq!(
        events,
        vec![
            reference_updated(8_831),
            tripped(S1, BreakerSource::Reference, 200, 261, 3_050),
            suspended_by_breaker(2),
        ]
    );
}

#[test]
fn a_move_spread_over_more_than_the_window_does_not_trip() {
    let mut h = market_with(|_| {});
    // S1's fair odds 2.00 -> 2.40 -> 2.80 -> 3.30 (+65% in all), a step every 1.1 s: each
    // window of 1 s holds only the step before, at most +2,000 bps.
    for (n, probability, total) in [
        (0, 5_000, 10_000),
        (1, 4_166, 9_166),
        (2, 3_571, 8_571),
        (3, 3_030, 8_030),
    ] {
        let events = accept_at(
            &mut h,
            T + n * 1_100 * MS,
            reference_command(&[probability, 2_500, 2_500]),
        );
        assert_eq!(events, vec![reference_updated(total)], "step {n}");
    }
    assert_eq!(h.engine().market_status(MARKET), Some(MarketStatus::Open));
    // The whole way back at once trips it: 3.30 -> 2.00 is -3,939 bps.
    let events = accept_at(
        &mut h,
        T + 3_800 * MS,
        reference_command(&[5_000, 2_500, 2_500]),
    );
    assert_eq!(
        events,
        vec![
            reference_updated(10_000),
            tripped(S1, BreakerSource::Reference, 330, 200, 3_939),
            suspended_by_breaker(2),
        ]
    );
}

#[test]
fn the_odds_in_effect_when_the_window_starts_count() {
    let mut h = market_with(|_| {});
    // The same steps 600 ms apart: at 1.2 s the 2.00 held until 0.6 s, inside the window
    // [0.2 s, 1.2 s), so 2.00 -> 2.80 (+4,000 bps) trips.
    accept_at(&mut h, T, reference_command(&[5_000, 2_500, 2_500]));
    let events = accept_at(
        &mut h,
        T + 600 * MS,
        reference_command(&[4_166, 2_500, 2_500]),
    );
    assert_eq!(events, vec![reference_updated(9_166)]);
    let events = accept_at(
        &mut h,
        T + 1_200 * MS,
        reference_command(&[3_571, 2_500, 2_500]),
    );
    assert_eq!(
        events,
        vec![
            reference_updated(8_571),
            tripped(S1, BreakerSource::Reference, 200, 280, 4_000),
            suspended_by_breaker(2),
        ]
    );
}

#[test]
fn a_market_sets_its_own_breaker() {
    // 2,000 bps within 100 ms.
    let spec = |s: &mut MarketSpec| {
        s.circuit_breaker_bps = Some(2_000);
        s.circuit_breaker_window_ms = Some(100);
    };
    // 2.00 -> 2.20 -> 2.45: the 2.00 held until 60 ms, inside the window at 120 ms.
    let mut h = market_with(spec);
    accept_at(&mut h, T, reference_command(&[5_000, 2_500, 2_500]));
    accept_at(
        &mut h,
        T + 60 * MS,
        reference_command(&[4_545, 2_500, 2_500]),
    );
    let events = accept_at(
        &mut h,
        T + 120 * MS,
        reference_command(&[4_081, 2_500, 2_500]),
    );
    assert_eq!(
        events,
        vec![
            reference_updated(9_081),
            tripped(S1, BreakerSource::Reference, 200, 245, 2_250),
            suspended_by_breaker(2),
        ]
    );
    // At 200 ms the window starts at 100 ms: only 2.20 is in it (+1,136 bps).
    let mut h = market_with(spec);
    accept_at(&mut h, T, reference_command(&[5_000, 2_500, 2_500]));
    accept_at(
        &mut h,
        T + 60 * MS,
        reference_command(&[4_545, 2_500, 2_500]),
    );
    let events = accept_at(
        &mut h,
        T + 200 * MS,
        reference_command(&[4_081, 2_500, 2_500]),
    );
    assert_eq!(events, vec![reference_updated(9_081)]);
}

#[test]
fn breaker_and_band_knobs_are_checked() {
    let mut h = Harness::new();
    let invalid: [fn(&mut MarketSpec); 8] = [
        |s| s.circuit_breaker_bps = Some(1_999),
        |s| s.circuit_breaker_bps = Some(5_001),
        |s| s.circuit_breaker_window_ms = Some(99),
        |s| s.circuit_breaker_window_ms = Some(60_001),
        |s| s.circuit_breaker_min_pool_minor = Some(-1),
        |s| s.circuit_breaker_min_pool_minor = Some(MAX_AMOUNT_MINOR + 1),
        |s| s.price_band_bps = Some(99),
        |s| s.price_band_bps = Some(10_001),
    ];
    for change in invalid {
        h.reject(
            MarketDef::new(MARKET, &[S1, S2]).with(change).command(),
            RejectReason::InvalidMarketDefinition,
        );
    }
    h.accept(
        MarketDef::new(MARKET, &[S1, S2])
            .with(|s| {
                s.circuit_breaker_bps = Some(5_000);
                s.circuit_breaker_window_ms = Some(60_000);
                s.circuit_breaker_min_pool_minor = Some(0);
                s.price_band_bps = Some(10_000);
            })
            .command(),
    );
}

// -- circuit breaker on indicative pool odds --

/// A pool with ALICE, BOB and CAROL (30,000 each) and no takeout, whose indicative odds trip
/// the breaker only once the pool holds `min_pool`.
fn pool_breaker(min_pool: Option<i64>) -> Harness {
    let mut h = Harness::new();
    for account in [ALICE, BOB, CAROL] {
        h.funded(account, 30_000);
    }
    h.open_market(
        pool_def(MARKET, &[S1, S2, S3], 0).with(|s| s.circuit_breaker_min_pool_minor = min_pool),
    );
    h
}

#[test]
fn indicative_odds_trip_the_breaker_once_the_pool_is_large_enough() {
    // Default minimum pool: 10,000. Odds swing wildly while the pool is small, unwatched.
    let mut h = pool_breaker(None);
    bet(&mut h, ALICE, S1, 1_000, 1);
    bet(&mut h, BOB, S2, 1_000, 1);
    // The pool reaches 10,000: S1 at 10,000 / 9,000 = 1.11, S2 at 10.00. The first odds
    // watched: nothing to compare with.
    bet(&mut h, ALICE, S1, 8_000, 2);
    assert_eq!(h.engine().market_status(MARKET), Some(MarketStatus::Open));
    // 10,000 more on S2: S1 goes to floor(20,000 * 100 / 9,000) = 2.22, +10,000 bps.
    let (_, events) = bet_events(&mut h, CAROL, S2, 10_000, 1);
    assert_eq!(
        events[1..],
        [
            tripped(S1, BreakerSource::Indicative, 111, 222, 10_000),
            suspended_by_breaker(2),
        ]
    );
    h.reject(bet_command(CAROL, S3, 100, 2), RejectReason::MarketNotOpen);
    assert_conserved(&h);

    // Resumed, the breaker measures from the odds at the resumption (S1 at 2.22): a small bet
    // moves S1 to floor(20,100 * 100 / 9,000) = 2.23 and does not trip it.
    h.accept(Command::ResumeMarket { market: MARKET });
    let (_, events) = bet_events(&mut h, CAROL, S3, 100, 3);
    assert_eq!(events.len(), 1);
    // Then a big bet on S3 trips it again: S1 goes to floor(30,100 * 100 / 9,000) = 3.34,
    // +5,045 bps of the 2.22 in effect at the resumption.
    let (_, events) = bet_events(&mut h, BOB, S3, 10_000, 2);
    assert_eq!(
        events[1..],
        [
            tripped(S1, BreakerSource::Indicative, 222, 334, 5_045),
            suspended_by_breaker(4),
        ]
    );
}

#[test]
fn the_minimum_pool_keeps_early_bets_from_tripping_the_breaker() {
    // With no minimum, the second bet doubles S1's odds (1.00 -> 2.00) and trips the breaker.
    let mut h = pool_breaker(Some(0));
    let (_, events) = bet_events(&mut h, ALICE, S1, 1_000, 1);
    assert_eq!(events.len(), 1);
    let (_, events) = bet_events(&mut h, BOB, S2, 1_000, 1);
    assert_eq!(
        events[1..],
        [
            tripped(S1, BreakerSource::Indicative, 100, 200, 10_000),
            suspended_by_breaker(2),
        ]
    );

    // With a minimum larger than anything bet here, nothing trips.
    let mut h = pool_breaker(Some(1_000_000));
    for (account, selection, stake, cid) in [
        (ALICE, S1, 1_000, 1),
        (BOB, S2, 1_000, 1),
        (ALICE, S1, 8_000, 2),
        (CAROL, S2, 10_000, 1),
        (BOB, S3, 10_000, 2),
    ] {
        let (_, events) = bet_events(&mut h, account, selection, stake, cid);
        assert_eq!(events.len(), 1);
    }
    assert_eq!(h.engine().market_status(MARKET), Some(MarketStatus::Open));
}
