//! Time-driven behaviour: scheduled locks (`lock_at`, `end_at - lock_before_end_ms`) and closes
//! (`close_at`), the ranges of the market knobs, and the in-play bet delay.
//!
//! Time enters only through inputs: everything due at or before an input's `ts` happens, and
//! is published, before the input's command. Every input goes through `stream_support::Sim`
//! (both books in lockstep, `validate()` after every input, the stream checks).

mod stream_support;

use oddsmatch_engine::*;
use stream_support::*;

const M: MarketId = MarketId(7);
const S1: SelectionId = SelectionId(1);
const S2: SelectionId = SelectionId(2);
const S3: SelectionId = SelectionId(3);
const SELECTIONS: [SelectionId; 3] = [S1, S2, S3];

const ALICE: AccountId = AccountId(1);
const BOB: AccountId = AccountId(2);
const CAROL: AccountId = AccountId(3);

use MarketStatus::{Closed, Open, Suspended};
use Side::{Back, Lay};
use StatusCause::{Close, Lock, Operator};
use TickReason::{Change, Status};

/// Three funded traders at [`T0`] and market [`M`] created from `spec` (selections 1, 2, 3,
/// market data off unless `spec` turns it on) and opened at [`T0`].
fn setup(change: impl FnOnce(&mut MarketSpec)) -> Sim {
    let mut sim = Sim::new();
    for account in [ALICE, BOB, CAROL] {
        sim.trader(T0, account);
    }
    let mut spec = exchange(M, &SELECTIONS);
    spec.market_data = Some(false);
    change(&mut spec);
    let events = sim.open_new(T0, spec);
    assert_eq!(events[0], status_event(M, 1, Open, Operator));
    sim
}

/// A market with an in-play delay of `delay_ms` and no market data.
fn delayed(delay_ms: u32) -> Sim {
    setup(|s| s.bet_delay_ms = delay_ms)
}

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

fn delayed_until(order_id: OrderId, account: AccountId, until: u64) -> Event {
    Event::OrderDelayed {
        order_id,
        account,
        market: M,
        until,
    }
}

fn trade(
    selection: SelectionId,
    book_seq: u64,
    odds_x100: u32,
    stake_minor: i64,
    maker: (OrderId, AccountId),
    taker: (OrderId, AccountId, Side),
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
        taker_side: taker.2,
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

/// The `rejected` of a `place_order` (at once, or of a delayed order when it would enter).
fn order_rejected(
    reason: RejectReason,
    account: AccountId,
    client_order_id: u64,
    order_id: Option<OrderId>,
) -> Event {
    Event::Rejected {
        command: CommandKind::PlaceOrder,
        reason,
        account: Some(account),
        market: Some(M),
        client_order_id: Some(client_order_id),
        order_id,
    }
}

fn then(mut events: Vec<Event>, tail: Vec<Event>) -> Vec<Event> {
    events.extend(tail);
    events
}

// ---------------------------------------------------------------------------------------------
// Locks and closes
// ---------------------------------------------------------------------------------------------

#[test]
fn lock_at_suspends_at_the_first_input_at_or_after_it() {
    let lock_ns = T0 + 5 * SECOND;
    let mut sim = setup(|s| {
        s.market_data = Some(true);
        s.odds_heartbeat_ms = Some(10_000);
        s.lock_at = Some(lock_ns);
    });
    let lapse = sim.placed(T0 + MS, NewOrder::lay(BOB, M, S1, 300, 100));
    let persist = sim.placed(T0 + 2 * MS, NewOrder::lay(BOB, M, S1, 290, 100).persist());
    assert_eq!(sim.timer(T0 + 300 * MS).len(), 4, "the change tick");
    assert_eq!(sim.timer(lock_ns - 1), vec![]);

    // The lock comes first, published (depth and the status tick), then the order, which the
    // suspended market refuses.
    let back = NewOrder::back(ALICE, M, S2, 400, 100).cid(3);
    let events = sim.place(lock_ns, back);
    let mut expected = vec![
        status_event(M, 4, Suspended, Lock),
        cancelled(lapse, BOB, S1, Lay, 100, CancelReason::MarketSuspended),
        depth_event(M, 5, S1, Lay, &[(290, 100)]),
    ];
    expected.extend(tick(
        M,
        3,
        Status,
        Suspended,
        &[(S1, 290, 0, 0, 0), (S2, 0, 0, 0, 0), (S3, 0, 0, 0, 0)],
    ));
    expected.push(order_rejected(RejectReason::MarketNotOpen, ALICE, 3, None));
    assert_eq!(events, expected);
    assert!(sim.engine().order(persist).is_some(), "persist orders stay");
    assert!(sim.engine().order(lapse).is_none());

    // A lock happens once: after the operator resumes, the market stays open.
    let events = sim.at(T0 + 6 * SECOND, Command::ResumeMarket { market: M });
    assert_eq!(events[0], status_event(M, 6, Open, Operator));
    assert_eq!(sim.timer(T0 + 15 * SECOND), vec![]);
    assert_eq!(sim.engine().market_status(M), Some(Open));
}

#[test]
fn end_at_locks_lock_before_end_ms_earlier() {
    let end_ns = T0 + 10 * SECOND;
    let mut sim = setup(|s| {
        s.end_at = Some(end_ns);
        s.lock_before_end_ms = Some(2_000);
    });
    assert_eq!(sim.timer(end_ns - 2 * SECOND - 1), vec![]);
    assert_eq!(
        sim.timer(end_ns - 2 * SECOND),
        vec![status_event(M, 2, Suspended, Lock)]
    );

    // Without lock_before_end_ms the node's default applies: 3000 ms.
    let m2 = MarketId(8);
    let mut spec = exchange(m2, &[S1, S2]);
    spec.market_data = Some(false);
    spec.end_at = Some(T0 + 20 * SECOND);
    sim.open_new(T0 + 11 * SECOND, spec);
    assert_eq!(sim.timer(T0 + 17 * SECOND - 1), vec![]);
    assert_eq!(
        sim.timer(T0 + 17 * SECOND),
        vec![status_event(m2, 2, Suspended, Lock)]
    );
}

#[test]
fn lock_at_and_end_at_together_are_refused() {
    let mut sim = Sim::new();
    let mut spec = exchange(M, &SELECTIONS);
    spec.lock_at = Some(T0 + SECOND);
    spec.end_at = Some(T0 + 2 * SECOND);
    let event = sim.reject(
        T0,
        Command::create_market(spec),
        RejectReason::InvalidMarketDefinition,
    );
    assert_eq!(
        event,
        Event::Rejected {
            command: CommandKind::CreateMarket,
            reason: RejectReason::InvalidMarketDefinition,
            account: None,
            market: Some(M),
            client_order_id: None,
            order_id: None,
        }
    );
}

#[test]
fn a_market_opened_after_its_lock_time_locks_at_once() {
    let mut sim = Sim::new();
    let mut spec = exchange(M, &SELECTIONS);
    spec.lock_at = Some(T0 + SECOND);
    sim.create(T0, spec);
    // Pending at its lock time: it stays pending, armed.
    assert_eq!(sim.timer(T0 + SECOND), vec![]);
    assert_eq!(sim.engine().market_status(M), Some(MarketStatus::Pending));
    let events = sim.open(T0 + 2 * SECOND, M);
    let mut expected = vec![status_event(M, 1, Open, Operator)];
    expected.extend(empty_tick(M, 1, Status, Open, &SELECTIONS));
    expected.push(status_event(M, 2, Suspended, Lock));
    expected.extend(empty_tick(M, 2, Status, Suspended, &SELECTIONS));
    assert_eq!(events, expected);
}

#[test]
fn a_market_suspended_at_its_lock_time_locks_when_resumed() {
    let mut sim = setup(|s| s.lock_at = Some(T0 + 2 * SECOND));
    sim.at(T0 + SECOND, Command::SuspendMarket { market: M });
    assert_eq!(sim.timer(T0 + 2 * SECOND), vec![]);
    let events = sim.at(T0 + 3 * SECOND, Command::ResumeMarket { market: M });
    assert_eq!(
        events,
        vec![
            status_event(M, 3, Open, Operator),
            status_event(M, 4, Suspended, Lock),
        ]
    );
}

#[test]
fn a_market_resumed_before_its_lock_time_still_locks() {
    let mut sim = setup(|s| s.lock_at = Some(T0 + 3 * SECOND));
    sim.at(T0 + SECOND, Command::SuspendMarket { market: M });
    sim.at(T0 + 2 * SECOND, Command::ResumeMarket { market: M });
    assert_eq!(sim.timer(T0 + 3 * SECOND - 1), vec![]);
    assert_eq!(
        sim.timer(T0 + 3 * SECOND),
        vec![status_event(M, 4, Suspended, Lock)]
    );
}

#[test]
fn markets_fall_due_earliest_first_then_in_creation_order() {
    let mut sim = Sim::new();
    let lock_ns = T0 + 5 * SECOND;
    let (m8, m9, m10) = (MarketId(8), MarketId(9), MarketId(10));
    // Created 9, then 8 (same lock time), then 10 (locking earlier).
    for (market, lock_at) in [(m9, lock_ns), (m8, lock_ns), (m10, lock_ns - MS)] {
        let mut spec = exchange(market, &[S1, S2]);
        spec.market_data = Some(false);
        spec.lock_at = Some(lock_at);
        sim.open_new(T0, spec);
    }
    assert_eq!(
        sim.timer(lock_ns + SECOND),
        vec![
            status_event(m10, 2, Suspended, Lock),
            status_event(m9, 2, Suspended, Lock),
            status_event(m8, 2, Suspended, Lock),
        ]
    );
}

#[test]
fn close_at_closes_an_open_market_and_cancels_every_order() {
    let close_ns = T0 + 4 * SECOND;
    let mut sim = setup(|s| s.close_at = Some(close_ns));
    let lay = sim.placed(T0 + MS, NewOrder::lay(BOB, M, S2, 300, 100));
    let back = sim.placed(T0 + MS, NewOrder::back(CAROL, M, S1, 500, 100).persist());
    assert_eq!(sim.timer(close_ns - 1), vec![]);
    // Book order: selection by selection.
    assert_eq!(
        sim.timer(close_ns + 7),
        vec![
            status_event(M, 2, Closed, Close),
            cancelled(back, CAROL, S1, Back, 100, CancelReason::MarketClosed),
            cancelled(lay, BOB, S2, Lay, 100, CancelReason::MarketClosed),
        ]
    );
    assert_eq!(sim.engine().live_orders(), 0);
    assert_eq!(sim.engine().exposure(BOB), Some(0));
    assert_eq!(sim.timer(close_ns + SECOND), vec![]);
}

#[test]
fn close_at_closes_a_suspended_market_and_a_lock_at_the_same_time_comes_first() {
    let mut sim = setup(|s| s.close_at = Some(T0 + 4 * SECOND));
    sim.at(T0 + SECOND, Command::SuspendMarket { market: M });
    assert_eq!(
        sim.timer(T0 + 4 * SECOND),
        vec![status_event(M, 3, Closed, Close)]
    );

    let at = T0 + 10 * SECOND;
    let m2 = MarketId(8);
    let mut spec = exchange(m2, &[S1, S2]);
    spec.market_data = Some(false);
    spec.lock_at = Some(at);
    spec.close_at = Some(at);
    sim.open_new(T0 + 5 * SECOND, spec);
    let lapse = sim.placed(T0 + 6 * SECOND, NewOrder::lay(BOB, m2, S1, 300, 100));
    let persist = sim.placed(
        T0 + 6 * SECOND,
        NewOrder::lay(BOB, m2, S2, 300, 100).persist(),
    );
    let cancel = |order_id, selection, reason| Event::OrderCancelled {
        order_id,
        account: BOB,
        market: m2,
        selection,
        side: Lay,
        stake_minor: 100,
        reason,
    };
    assert_eq!(
        sim.timer(at),
        vec![
            status_event(m2, 2, Suspended, Lock),
            cancel(lapse, S1, CancelReason::MarketSuspended),
            status_event(m2, 3, Closed, Close),
            cancel(persist, S2, CancelReason::MarketClosed),
        ]
    );
}

#[test]
fn pool_bets_are_refused_after_the_lock() {
    let mut sim = Sim::new();
    for account in [ALICE, BOB] {
        sim.trader(T0, account);
    }
    let mut spec = exchange(M, &[S1, S2]);
    spec.kind = MarketKind::Pool;
    spec.market_data = Some(false);
    spec.lock_at = Some(T0 + SECOND);
    sim.open_new(T0, spec);
    let bet = |account, selection, client_order_id| Command::PlaceBet {
        account,
        market: M,
        selection,
        stake_minor: 500,
        client_order_id,
    };
    let events = sim.at(T0 + SECOND / 2, bet(ALICE, S1, 1));
    let Event::BetAccepted { bet_id, .. } = events[0] else {
        panic!("{events:?}");
    };
    assert_eq!(events.len(), 1);
    let events = sim.at(T0 + SECOND, bet(BOB, S2, 2));
    assert_eq!(
        events,
        vec![
            status_event(M, 2, Suspended, Lock),
            Event::Rejected {
                command: CommandKind::PlaceBet,
                reason: RejectReason::MarketNotOpen,
                account: Some(BOB),
                market: Some(M),
                client_order_id: Some(2),
                order_id: None,
            },
        ]
    );
    let event = sim.reject(
        T0 + 2 * SECOND,
        Command::CancelBet {
            account: ALICE,
            market: M,
            bet_id,
        },
        RejectReason::MarketNotOpen,
    );
    assert!(matches!(event, Event::Rejected { order_id: Some(id), .. } if id == bet_id));
}

// ---------------------------------------------------------------------------------------------
// Knob ranges
// ---------------------------------------------------------------------------------------------

#[test]
fn knobs_out_of_their_ranges_are_refused_and_their_bounds_accepted() {
    type Knob = fn(&mut MarketSpec, u32);
    let knobs: [(&str, u32, u32, Knob); 9] = [
        (
            "odds_change_threshold_bps",
            u32::from(*ODDS_CHANGE_THRESHOLD_RANGE.start()),
            u32::from(*ODDS_CHANGE_THRESHOLD_RANGE.end()),
            |s, v| s.odds_change_threshold_bps = Some(v as u16),
        ),
        (
            "odds_tick_interval_ms",
            *ODDS_TICK_INTERVAL_RANGE.start(),
            *ODDS_TICK_INTERVAL_RANGE.end(),
            |s, v| s.odds_tick_interval_ms = Some(v),
        ),
        (
            "odds_heartbeat_ms",
            *ODDS_HEARTBEAT_RANGE.start(),
            *ODDS_HEARTBEAT_RANGE.end(),
            |s, v| s.odds_heartbeat_ms = Some(v),
        ),
        (
            "circuit_breaker_bps",
            u32::from(*CIRCUIT_BREAKER_RANGE.start()),
            u32::from(*CIRCUIT_BREAKER_RANGE.end()),
            |s, v| s.circuit_breaker_bps = Some(v as u16),
        ),
        (
            "circuit_breaker_window_ms",
            *CIRCUIT_BREAKER_WINDOW_RANGE.start(),
            *CIRCUIT_BREAKER_WINDOW_RANGE.end(),
            |s, v| s.circuit_breaker_window_ms = Some(v),
        ),
        (
            "lock_before_end_ms",
            *LOCK_BEFORE_END_RANGE.start(),
            *LOCK_BEFORE_END_RANGE.end(),
            |s, v| s.lock_before_end_ms = Some(v),
        ),
        (
            "bet_delay_ms",
            *BET_DELAY_RANGE.start(),
            *BET_DELAY_RANGE.end(),
            |s, v| s.bet_delay_ms = v,
        ),
        (
            "price_band_bps",
            u32::from(*PRICE_BAND_RANGE.start()),
            u32::from(*PRICE_BAND_RANGE.end()),
            |s, v| s.price_band_bps = Some(v as u16),
        ),
        (
            "takeout_bps (pool)",
            u32::from(*TAKEOUT_RANGE.start()),
            u32::from(*TAKEOUT_RANGE.end()),
            |s, v| {
                s.kind = MarketKind::Pool;
                s.takeout_bps = v as u16;
            },
        ),
    ];
    // The ranges are the documented ones.
    let documented = [
        (100, 500),
        (100, 500),
        (500, 10_000),
        (2_000, 5_000),
        (100, 60_000),
        (1_000, 5_000),
        (0, 12_000),
        (100, 10_000),
        (0, 5_000),
    ];
    let mut sim = Sim::new();
    let mut next_market = 100;
    for ((name, low, high, set), bounds) in knobs.into_iter().zip(documented) {
        assert_eq!((low, high), bounds, "{name}");
        let mut outside = vec![high + 1];
        if low > 0 {
            outside.push(low - 1);
        }
        for value in outside {
            next_market += 1;
            let mut spec = exchange(MarketId(next_market), &[S1, S2]);
            set(&mut spec, value);
            sim.reject(
                T0,
                Command::create_market(spec),
                RejectReason::InvalidMarketDefinition,
            );
        }
        for value in [low, high] {
            next_market += 1;
            let mut spec = exchange(MarketId(next_market), &[S1, S2]);
            set(&mut spec, value);
            sim.create(T0, spec);
        }
    }
    // A pool takes no in-play delay.
    let mut spec = exchange(MarketId(999), &[S1, S2]);
    spec.kind = MarketKind::Pool;
    spec.bet_delay_ms = 1_000;
    sim.reject(
        T0,
        Command::create_market(spec),
        RejectReason::InvalidMarketDefinition,
    );
}

// ---------------------------------------------------------------------------------------------
// The in-play delay
// ---------------------------------------------------------------------------------------------

#[test]
fn a_delayed_order_enters_at_the_first_input_at_or_after_its_time() {
    let mut sim = setup(|s| {
        s.bet_delay_ms = 5_000;
        s.market_data = Some(true);
        s.odds_heartbeat_ms = Some(10_000);
    });
    let lay = NewOrder::lay(BOB, M, S1, 300, 1_000).cid(1);
    let events = sim.place(T0, lay);
    let lay_id = accepted_id(&events);
    assert_eq!(
        events,
        vec![
            accepted(lay_id, lay),
            delayed_until(lay_id, BOB, T0 + 5 * SECOND)
        ]
    );
    // Its exposure is held while it waits; the book does not show it.
    assert_eq!(sim.engine().market_exposure(BOB, M), Some(2_000));
    assert_eq!(sim.depth(M, S1, Lay), vec![]);

    let back = NewOrder::back(ALICE, M, S1, 300, 400).cid(2);
    let events = sim.place(T0 + SECOND, back);
    let back_id = accepted_id(&events);
    assert_eq!(
        events,
        vec![
            accepted(back_id, back),
            delayed_until(back_id, ALICE, T0 + 6 * SECOND)
        ]
    );
    assert_eq!(sim.timer(T0 + 5 * SECOND - 1), vec![]);
    // The lay enters at its time: it rests and moves the odds.
    assert_eq!(
        sim.timer(T0 + 5 * SECOND),
        then(
            vec![depth_event(M, 2, S1, Lay, &[(300, 1_000)])],
            tick(
                M,
                2,
                Change,
                Open,
                &[(S1, 300, 0, 0, 0), (S2, 0, 0, 0, 0), (S3, 0, 0, 0, 0)]
            )
        )
    );
    // The back could match the lay now, but its time has not come.
    assert_eq!(sim.timer(T0 + 6 * SECOND - 1), vec![]);
    assert_eq!(sim.engine().order(back_id).unwrap().remaining_minor, 400);
    // Any input at or after its time lets it in, before the input's own command.
    let events = sim.at(
        T0 + 6 * SECOND + 500 * MS,
        Command::Deposit {
            account: CAROL,
            amount_minor: 1,
            transfer_id: 99,
        },
    );
    assert_eq!(
        events[..2],
        [
            trade(S1, 3, 300, 400, (lay_id, BOB), (back_id, ALICE, Back)),
            depth_event(M, 4, S1, Lay, &[(300, 600)]),
        ]
    );
    assert!(matches!(events[2..], [Event::Ledger { .. }]), "{events:?}");
}

#[test]
fn a_waiting_order_can_be_cancelled_and_its_exposure_is_released() {
    let mut sim = delayed(1_000);
    let back = NewOrder::back(ALICE, M, S1, 300, 400).cid(1);
    let id = sim.placed(T0, back);
    assert_eq!(sim.engine().market_exposure(ALICE, M), Some(400));
    assert_eq!(sim.engine().open_orders(ALICE), Some(1));
    assert_eq!(
        sim.cancel(T0 + 100 * MS, id),
        vec![cancelled(id, ALICE, S1, Back, 400, CancelReason::Requested)]
    );
    assert_eq!(sim.engine().market_exposure(ALICE, M), Some(0));
    assert_eq!(sim.engine().open_orders(ALICE), Some(0));
    assert_eq!(sim.timer(T0 + SECOND), vec![]);
    assert_eq!(sim.depth(M, S1, Back), vec![]);

    // By client order id, by a mass cancel and by the kill switch as well.
    let by_cid = sim.placed(
        T0 + 2 * SECOND,
        NewOrder::back(ALICE, M, S1, 300, 10).cid(2),
    );
    let events = sim.at(
        T0 + 2 * SECOND,
        Command::CancelOrder {
            account: ALICE,
            market: M,
            order_id: None,
            client_order_id: Some(2),
        },
    );
    assert_eq!(
        events,
        vec![cancelled(
            by_cid,
            ALICE,
            S1,
            Back,
            10,
            CancelReason::Requested
        )]
    );
    let mass = sim.placed(T0 + 2 * SECOND, NewOrder::lay(BOB, M, S2, 300, 20).cid(3));
    let events = sim.at(
        T0 + 2 * SECOND,
        Command::MassCancel {
            account: BOB,
            market: Some(M),
        },
    );
    assert_eq!(
        events,
        vec![cancelled(mass, BOB, S2, Lay, 20, CancelReason::MassCancel)]
    );
    let kill = sim.placed(T0 + 2 * SECOND, NewOrder::lay(CAROL, M, S3, 300, 30).cid(4));
    let events = sim.at(
        T0 + 2 * SECOND,
        Command::KillSwitch {
            account: CAROL,
            on: true,
        },
    );
    assert_eq!(
        events,
        vec![
            Event::KillSwitch {
                account: CAROL,
                on: true
            },
            cancelled(kill, CAROL, S3, Lay, 30, CancelReason::KillSwitch),
        ]
    );
    assert_eq!(sim.timer(T0 + 4 * SECOND), vec![]);
    assert_eq!(sim.engine().live_orders(), 0);
    for account in [ALICE, BOB, CAROL] {
        assert_eq!(sim.engine().exposure(account), Some(0));
    }
}

#[test]
fn a_market_that_leaves_open_refuses_the_waiting_orders() {
    let mut sim = delayed(1_000);
    // A lapse lay that has entered the book, and a back still waiting.
    let lay = sim.placed(T0, NewOrder::lay(BOB, M, S2, 300, 100));
    sim.timer(T0 + SECOND);
    let back = NewOrder::back(ALICE, M, S1, 300, 400).cid(7);
    let back_id = sim.placed(T0 + 1_500 * MS, back);
    // The status first, then the waiting order's refusal naming it, then the lapse cancels.
    let events = sim.at(T0 + 2 * SECOND, Command::SuspendMarket { market: M });
    assert_eq!(
        events,
        vec![
            status_event(M, 2, Suspended, Operator),
            order_rejected(
                RejectReason::MarketSuspendedDuringDelay,
                ALICE,
                7,
                Some(back_id)
            ),
            cancelled(lay, BOB, S2, Lay, 100, CancelReason::MarketSuspended),
        ]
    );
    assert_eq!(sim.engine().order(back_id), None);
    assert_eq!(sim.engine().exposure(ALICE), Some(0));
    assert_eq!(sim.engine().open_orders(ALICE), Some(0));
    // Resumed before the order's time: it does not come back.
    sim.at(T0 + 2_100 * MS, Command::ResumeMarket { market: M });
    assert_eq!(sim.timer(T0 + 3 * SECOND), vec![]);

    // Closing and voiding refuse waiting orders the same way.
    let back = NewOrder::back(ALICE, M, S1, 300, 50).cid(8);
    let back_id = sim.placed(T0 + 4 * SECOND, back);
    let events = sim.at(T0 + 4_500 * MS, Command::CloseMarket { market: M });
    assert_eq!(
        events,
        vec![
            status_event(M, 4, Closed, Operator),
            order_rejected(
                RejectReason::MarketSuspendedDuringDelay,
                ALICE,
                8,
                Some(back_id)
            ),
        ]
    );

    let m2 = MarketId(8);
    let mut spec = exchange(m2, &[S1, S2]);
    spec.market_data = Some(false);
    spec.bet_delay_ms = 1_000;
    sim.open_new(T0 + 5 * SECOND, spec);
    let back = NewOrder::back(ALICE, m2, S1, 300, 50).cid(9);
    let back_id = sim.placed(T0 + 5 * SECOND, back);
    let events = sim.at(T0 + 5_500 * MS, Command::VoidMarket { market: m2 });
    assert_eq!(
        events[0],
        Event::Rejected {
            command: CommandKind::PlaceOrder,
            reason: RejectReason::MarketSuspendedDuringDelay,
            account: Some(ALICE),
            market: Some(m2),
            client_order_id: Some(9),
            order_id: Some(back_id),
        }
    );
    assert_eq!(
        events[1..],
        [
            Event::AccountSettled {
                account: ALICE,
                market: m2,
                pnl_minor: 0,
                commission_minor: 0
            },
            status_event(m2, 2, MarketStatus::Voided, Operator),
        ]
    );
    assert_eq!(sim.engine().exposure(ALICE), Some(0));
}

#[test]
fn orders_due_by_the_lock_enter_before_it_and_later_ones_are_refused() {
    let lock_ns = T0 + 10 * SECOND;
    let mut sim = setup(|s| {
        s.bet_delay_ms = 1_000;
        s.lock_at = Some(lock_ns);
    });
    let lay = sim.placed(T0, NewOrder::lay(BOB, M, S1, 300, 1_000).persist());
    sim.timer(T0 + SECOND);
    // Due a millisecond before the lock, exactly at it, and a millisecond after it.
    let early = sim.placed(
        lock_ns - SECOND - MS,
        NewOrder::back(ALICE, M, S1, 300, 100),
    );
    let on_time = sim.placed(lock_ns - SECOND, NewOrder::back(CAROL, M, S1, 300, 200));
    let late = NewOrder::back(ALICE, M, S1, 300, 300).cid(50);
    let late_id = sim.placed(lock_ns - SECOND + MS, late);
    // One input long after all three: the first two enter (in time order) and trade, then the
    // lock refuses the third.
    let events = sim.timer(lock_ns + 5 * SECOND);
    assert_eq!(
        events,
        vec![
            trade(S1, 2, 300, 100, (lay, BOB), (early, ALICE, Back)),
            trade(S1, 3, 300, 200, (lay, BOB), (on_time, CAROL, Back)),
            status_event(M, 4, Suspended, Lock),
            order_rejected(
                RejectReason::MarketSuspendedDuringDelay,
                ALICE,
                50,
                Some(late_id)
            ),
        ]
    );
    assert_eq!(sim.engine().order(lay).unwrap().remaining_minor, 700);
}

#[test]
fn orders_due_by_the_close_enter_before_it_and_later_ones_are_refused() {
    let close_ns = T0 + 10 * SECOND;
    let mut sim = setup(|s| {
        s.bet_delay_ms = 1_000;
        s.close_at = Some(close_ns);
    });
    let lay = sim.placed(T0, NewOrder::lay(BOB, M, S1, 300, 1_000).persist());
    sim.timer(T0 + SECOND);
    let on_time = sim.placed(close_ns - SECOND, NewOrder::back(CAROL, M, S1, 300, 200));
    let late = NewOrder::back(ALICE, M, S1, 300, 300).cid(50);
    let late_id = sim.placed(close_ns - SECOND + 1, late);
    assert_eq!(
        sim.timer(close_ns + 5 * SECOND),
        vec![
            trade(S1, 2, 300, 200, (lay, BOB), (on_time, CAROL, Back)),
            status_event(M, 3, Closed, Close),
            order_rejected(
                RejectReason::MarketSuspendedDuringDelay,
                ALICE,
                50,
                Some(late_id)
            ),
            cancelled(lay, BOB, S1, Lay, 800, CancelReason::MarketClosed),
        ]
    );
}

#[test]
fn post_only_is_judged_when_the_order_enters() {
    let mut sim = delayed(1_000);
    let lay = sim.placed(T0, NewOrder::lay(BOB, M, S1, 300, 100).persist());
    sim.timer(T0 + SECOND);
    assert_eq!(sim.depth(M, S1, Lay), vec![(300, 100)]);

    // It would match now, but is judged when it enters: refused then, naming the order.
    let post = NewOrder::back(ALICE, M, S1, 300, 100).post_only().cid(1);
    let events = sim.place(T0 + 2 * SECOND, post);
    let post_id = accepted_id(&events);
    assert_eq!(
        events,
        vec![
            accepted(post_id, post),
            delayed_until(post_id, ALICE, T0 + 3 * SECOND)
        ]
    );
    assert_eq!(
        sim.timer(T0 + 3 * SECOND),
        vec![order_rejected(
            RejectReason::PostOnlyWouldMatch,
            ALICE,
            1,
            Some(post_id)
        )]
    );
    assert_eq!(sim.engine().exposure(ALICE), Some(0));

    // The same order when the lay has gone by the time it enters: it rests.
    let post = NewOrder::back(ALICE, M, S1, 300, 100).post_only().cid(2);
    let post_id = sim.placed(T0 + 4 * SECOND, post);
    sim.cancel(T0 + 4_500 * MS, lay);
    assert_eq!(sim.timer(T0 + 5 * SECOND), vec![]);
    assert_eq!(sim.depth(M, S1, Back), vec![(300, 100)]);
    assert!(sim.engine().order(post_id).is_some());
}

#[test]
fn fill_or_kill_is_judged_when_the_order_enters() {
    let mut sim = delayed(1_000);
    let first = sim.placed(T0, NewOrder::lay(BOB, M, S1, 300, 200).persist());
    sim.timer(T0 + SECOND);
    // More liquidity arrives; its own delay is over before the back's.
    let second = sim.placed(
        T0 + 1_500 * MS,
        NewOrder::lay(CAROL, M, S1, 300, 300).persist(),
    );
    // Only 200 can be filled now; the order is accepted all the same.
    let fok = NewOrder::back(ALICE, M, S1, 300, 500).fok().cid(1);
    let events = sim.place(T0 + 2 * SECOND, fok);
    let fok_id = accepted_id(&events);
    assert_eq!(
        events,
        vec![
            accepted(fok_id, fok),
            delayed_until(fok_id, ALICE, T0 + 3 * SECOND)
        ]
    );
    // At entry 500 can be filled: it fills, oldest lay first.
    assert_eq!(
        sim.timer(T0 + 3 * SECOND),
        vec![
            trade(S1, 2, 300, 200, (first, BOB), (fok_id, ALICE, Back)),
            trade(S1, 3, 300, 300, (second, CAROL), (fok_id, ALICE, Back)),
        ]
    );

    // Fillable when placed, not when it enters: refused, naming the order.
    let third = sim.placed(
        T0 + 4 * SECOND,
        NewOrder::lay(BOB, M, S1, 300, 100).persist(),
    );
    sim.timer(T0 + 5 * SECOND);
    let fok = NewOrder::back(ALICE, M, S1, 300, 100).fok().cid(2);
    let fok_id = sim.placed(T0 + 6 * SECOND, fok);
    sim.cancel(T0 + 6_500 * MS, third);
    assert_eq!(
        sim.timer(T0 + 7 * SECOND),
        vec![order_rejected(
            RejectReason::FokNotFilled,
            ALICE,
            2,
            Some(fok_id)
        )]
    );
    assert_eq!(sim.engine().open_orders(ALICE), Some(0));
}

#[test]
fn replaces_that_could_match_and_mass_quotes_are_refused_on_a_delayed_market() {
    let mut sim = delayed(1_000);
    let lay = sim.placed(T0, NewOrder::lay(BOB, M, S1, 300, 100));
    let replace = |odds_x100, stake_minor| Command::ReplaceOrder {
        account: BOB,
        market: M,
        order_id: lay,
        odds_x100,
        stake_minor,
    };
    let refused = Event::Rejected {
        command: CommandKind::ReplaceOrder,
        reason: RejectReason::InPlayDelay,
        account: Some(BOB),
        market: Some(M),
        client_order_id: None,
        order_id: Some(lay),
    };
    // While it waits, no replace at all, not even a smaller stake.
    for (odds, stake) in [(300, 50), (300, 100), (310, 100)] {
        let event = sim.reject(
            T0 + 100 * MS,
            replace(odds, stake),
            RejectReason::InPlayDelay,
        );
        assert_eq!(event, refused);
    }
    sim.timer(T0 + SECOND);
    // In the book: a smaller stake at the same odds is allowed at once, keeping the place;
    // new odds or more stake could match and are refused.
    assert_eq!(
        sim.at(T0 + 2 * SECOND, replace(300, 60)),
        vec![Event::OrderReplaced {
            order_id: lay,
            account: BOB,
            market: M,
            selection: S1,
            side: Lay,
            odds_x100: 300,
            stake_minor: 60,
            priority_kept: true,
        }]
    );
    for (odds, stake) in [(310, 60), (290, 60), (300, 61)] {
        let event = sim.reject(
            T0 + 2 * SECOND,
            replace(odds, stake),
            RejectReason::InPlayDelay,
        );
        assert_eq!(event, refused);
    }
    sim.reject(
        T0 + 2 * SECOND,
        Command::MassQuote {
            account: CAROL,
            market: M,
            quotes: vec![quote(S1, Some((400, 100)), Some((250, 100)))],
        },
        RejectReason::InPlayDelay,
    );
}

#[test]
fn delayed_orders_enter_in_the_order_they_arrived() {
    let mut sim = delayed(1_000);
    let lay = sim.placed(T0, NewOrder::lay(BOB, M, S1, 300, 250).persist());
    sim.timer(T0 + SECOND);
    let first = sim.placed(T0 + 2 * SECOND, NewOrder::back(ALICE, M, S1, 300, 100));
    let second = sim.placed(T0 + 2 * SECOND, NewOrder::back(CAROL, M, S1, 300, 100));
    let third = sim.placed(
        T0 + 2 * SECOND + 1,
        NewOrder::back(ALICE, M, S1, 300, 100).ioc(),
    );
    let fourth = sim.placed(T0 + 2 * SECOND + 2, NewOrder::back(CAROL, M, S1, 300, 100));
    // All four are due by this input; they enter oldest first.
    assert_eq!(
        sim.timer(T0 + 4 * SECOND),
        vec![
            trade(S1, 2, 300, 100, (lay, BOB), (first, ALICE, Back)),
            trade(S1, 3, 300, 100, (lay, BOB), (second, CAROL, Back)),
            trade(S1, 4, 300, 50, (lay, BOB), (third, ALICE, Back)),
            cancelled(third, ALICE, S1, Back, 50, CancelReason::IocRemainder),
        ]
    );
    assert_eq!(sim.depth(M, S1, Back), vec![(300, 100)]);
    assert_eq!(sim.engine().order(fourth).unwrap().remaining_minor, 100);
}

#[test]
fn delayed_orders_due_at_different_times_enter_with_the_inputs_that_reach_them() {
    let mut sim = delayed(2_000);
    let lay = sim.placed(T0, NewOrder::lay(BOB, M, S1, 300, 1_000).persist());
    sim.timer(T0 + 2 * SECOND);
    let first = sim.placed(T0 + 3 * SECOND, NewOrder::back(ALICE, M, S1, 300, 100));
    let second = sim.placed(T0 + 4 * SECOND, NewOrder::back(CAROL, M, S1, 300, 100));
    assert_eq!(sim.timer(T0 + 5 * SECOND - 1), vec![]);
    assert_eq!(
        sim.timer(T0 + 5 * SECOND + 1),
        vec![trade(S1, 2, 300, 100, (lay, BOB), (first, ALICE, Back))]
    );
    assert_eq!(sim.timer(T0 + 6 * SECOND - 1), vec![]);
    assert_eq!(
        sim.timer(T0 + 6 * SECOND),
        vec![trade(S1, 3, 300, 100, (lay, BOB), (second, CAROL, Back))]
    );
}

// ---------------------------------------------------------------------------------------------
// Random streams of delayed orders, locks, closes and suspensions
// ---------------------------------------------------------------------------------------------

use proptest::prelude::*;
use proptest::sample::Index;

/// One random action on the delayed market.
#[derive(Clone, Debug)]
enum Action {
    Place {
        account: usize,
        side: Side,
        offset: i32,
        stake_minor: i64,
        tif: TimeInForce,
        post_only: bool,
        persist: bool,
    },
    Cancel(Index),
    MassCancel(usize),
    KillSwitch(usize, bool),
    Suspend,
    Resume,
    Timer,
}

fn action() -> impl Strategy<Value = Action> {
    let tif = prop_oneof![
        4 => Just(TimeInForce::Gtc),
        1 => Just(TimeInForce::Ioc),
        1 => Just(TimeInForce::Fok),
    ];
    let side = prop_oneof![Just(Back), Just(Lay)];
    prop_oneof![
        14 => (0..3usize, side, -2i32..=2, 1i64..=300, tif, prop::bool::weighted(0.2), any::<bool>())
            .prop_map(|(account, side, offset, stake_minor, tif, post_only, persist)| {
                Action::Place { account, side, offset, stake_minor, tif, post_only, persist }
            }),
        3 => any::<Index>().prop_map(Action::Cancel),
        1 => (0..3usize).prop_map(Action::MassCancel),
        1 => (0..3usize, any::<bool>()).prop_map(|(a, on)| Action::KillSwitch(a, on)),
        1 => Just(Action::Suspend),
        2 => Just(Action::Resume),
        4 => Just(Action::Timer),
    ]
}

/// The grain of the random times: time steps, delays, locks and closes are whole multiples of
/// it, so that inputs and due times often coincide.
const GRAIN_NS: u64 = 100 * MS;

/// Short steps mostly, now and then a jump over several due times at once.
fn time_step() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => Just(0u64),
        8 => (1u64..=5).prop_map(|n| n * GRAIN_NS),
        2 => (5u64..=40).prop_map(|n| n * GRAIN_NS),
    ]
}

/// The setup of the random delayed market.
#[derive(Clone, Copy, Debug)]
struct DelaySetup {
    delay_ms: u32,
    lock_after_ms: Option<u64>,
    close_after_ms: Option<u64>,
    market_data: bool,
}

fn delay_setup() -> impl Strategy<Value = DelaySetup> {
    (
        (1u32..=20).prop_map(|n| n * 100),
        proptest::option::weighted(0.7, (1u64..=100).prop_map(|n| n * 100)),
        proptest::option::weighted(0.5, (1u64..=150).prop_map(|n| n * 100)),
        any::<bool>(),
    )
        .prop_map(
            |(delay_ms, lock_after_ms, close_after_ms, market_data)| DelaySetup {
                delay_ms,
                lock_after_ms,
                close_after_ms,
                market_data,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Delayed orders against the clock, checked from the outside: a delayed order does
    /// nothing before its time; it enters (its taker trades, or its post-only or fill-or-kill
    /// refusal) exactly in the first input at or after its time, in arrival order with the
    /// others entering then; it is refused `market_suspended_during_delay`, in the input that
    /// took the market out of `open`, exactly when that happened before its time (a lock or a
    /// close at its scheduled time, a suspension at its input's time; at equal times the order
    /// enters first) and it was not cancelled first.
    #[test]
    fn delayed_orders_meet_the_clock_and_the_lock_in_time_order(
        setup in delay_setup(),
        steps in proptest::collection::vec((time_step(), action()), 1..=120),
    ) {
        let lock_ns = setup.lock_after_ms.map(|ms| T0 + ms * MS);
        let close_ns = setup.close_after_ms.map(|ms| T0 + ms * MS);
        let mut sim = setup_market(setup, lock_ns, close_ns);
        let first = sim.log.len();
        let accounts = [ALICE, BOB, CAROL];
        let mut ids: Vec<OrderId> = Vec::new();
        let mut ts = T0;
        for (n, (dt_ns, action)) in steps.iter().enumerate() {
            ts += dt_ns;
            let command = match *action {
                Action::Place { account, side, offset, stake_minor, tif, post_only, persist } => {
                    let prices = LadderKind::Betfair.prices();
                    let tick = (100 + offset) as usize;
                    Command::PlaceOrder {
                        account: accounts[account],
                        market: M,
                        selection: S1,
                        side,
                        odds_x100: prices[tick],
                        stake_minor,
                        tif,
                        post_only,
                        persistence: if persist { Persistence::Persist } else { Persistence::Lapse },
                        client_order_id: n as u64 + 1,
                    }
                }
                Action::Cancel(pick) => {
                    let live: Vec<OrderView> =
                        ids.iter().filter_map(|id| sim.engine().order(*id)).collect();
                    if live.is_empty() {
                        Command::Timer {}
                    } else {
                        let order = live[pick.index(live.len())];
                        Command::CancelOrder {
                            account: order.account,
                            market: M,
                            order_id: Some(order.order_id),
                            client_order_id: None,
                        }
                    }
                }
                Action::MassCancel(account) => Command::MassCancel {
                    account: accounts[account],
                    market: None,
                },
                Action::KillSwitch(account, on) => Command::KillSwitch {
                    account: accounts[account],
                    on,
                },
                Action::Suspend => Command::SuspendMarket { market: M },
                Action::Resume => Command::ResumeMarket { market: M },
                Action::Timer => Command::Timer {},
            };
            let events = sim.at(ts, command);
            for event in &events {
                if let Event::OrderAccepted { order_id, .. } = event {
                    ids.push(*order_id);
                }
            }
        }
        check_delayed_orders(&sim.log[first..], lock_ns, close_ns)?;
    }
}

fn setup_market(setup: DelaySetup, lock_ns: Option<u64>, close_ns: Option<u64>) -> Sim {
    let mut sim = Sim::new();
    for account in [ALICE, BOB, CAROL] {
        sim.trader(T0, account);
    }
    let mut spec = exchange(M, &SELECTIONS);
    spec.market_data = Some(setup.market_data);
    spec.bet_delay_ms = setup.delay_ms;
    spec.lock_at = lock_ns;
    spec.close_at = close_ns;
    sim.open_new(T0, spec);
    sim
}

/// What happened to one delayed order, by input index.
#[derive(Clone, Debug, Default)]
struct Fate {
    placed: usize,
    until: u64,
    /// Inputs where it traded as the taker, or was refused when it entered.
    entered: Vec<usize>,
    /// Inputs where it traded as the maker.
    made: Vec<usize>,
    suspended: Option<usize>,
    cancelled: Option<usize>,
}

fn check_delayed_orders(
    log: &[(Input, Vec<Event>)],
    lock_ns: Option<u64>,
    close_ns: Option<u64>,
) -> Result<(), TestCaseError> {
    let mut fates: std::collections::BTreeMap<OrderId, Fate> = Default::default();
    // (input, when it really happened) of every change of the market away from `open`.
    let mut leaves: Vec<(usize, u64)> = Vec::new();
    for (i, (input, events)) in log.iter().enumerate() {
        // Taker order ids of this input in the order they entered.
        let mut entering: Vec<OrderId> = Vec::new();
        for event in events {
            match *event {
                Event::OrderDelayed {
                    order_id, until, ..
                } => {
                    prop_assert_eq!(
                        fates
                            .insert(
                                order_id,
                                Fate {
                                    placed: i,
                                    until,
                                    ..Fate::default()
                                }
                            )
                            .map(|f| f.placed),
                        None
                    );
                }
                Event::Trade {
                    maker_order_id,
                    taker_order_id,
                    ..
                } => {
                    let taker = fates
                        .get_mut(&taker_order_id)
                        .expect("every order is delayed");
                    if taker.entered.last() != Some(&i) {
                        taker.entered.push(i);
                        entering.push(taker_order_id);
                    }
                    fates.get_mut(&maker_order_id).unwrap().made.push(i);
                }
                Event::Rejected {
                    order_id: Some(order_id),
                    reason,
                    command: CommandKind::PlaceOrder,
                    ..
                } => {
                    let fate = fates.get_mut(&order_id).unwrap();
                    match reason {
                        RejectReason::MarketSuspendedDuringDelay => {
                            prop_assert!(fate.suspended.is_none());
                            fate.suspended = Some(i);
                        }
                        RejectReason::PostOnlyWouldMatch | RejectReason::FokNotFilled => {
                            fate.entered.push(i);
                            entering.push(order_id);
                        }
                        other => prop_assert!(false, "unexpected refusal {:?}", other),
                    }
                }
                Event::OrderCancelled { order_id, .. } => {
                    let fate = fates.get_mut(&order_id).unwrap();
                    prop_assert!(fate.cancelled.is_none());
                    fate.cancelled = Some(i);
                }
                Event::MarketStatus { status, cause, .. } if status != MarketStatus::Open => {
                    let at = match cause {
                        StatusCause::Lock => lock_ns.unwrap(),
                        StatusCause::Close => close_ns.unwrap(),
                        _ => input.ts_ns,
                    };
                    leaves.push((i, at));
                }
                _ => {}
            }
        }
        prop_assert!(
            entering.windows(2).all(|w| w[0] < w[1]),
            "orders entered out of arrival order at input {}: {:?}",
            i,
            entering
        );
    }
    for (id, fate) in &fates {
        let ts = |i: usize| log[i].0.ts_ns;
        // The first input at or after its time, if the run reached it.
        let entry = (fate.placed + 1..log.len()).find(|&i| ts(i) >= fate.until);
        // The first time the market left `open` after the order was placed.
        let leave = leaves.iter().find(|(i, _)| *i > fate.placed).copied();
        let cancelled_waiting = fate
            .cancelled
            .is_some_and(|c| ts(c) < fate.until && leave.is_none_or(|(l, _)| c < l));
        let refused = leave
            .filter(|(_, at)| *at < fate.until)
            .filter(|_| !cancelled_waiting);
        prop_assert_eq!(
            fate.suspended,
            refused.map(|(i, _)| i),
            "order {:?} (until {}): refusal for the suspension",
            id,
            fate.until
        );
        if refused.is_some() || cancelled_waiting {
            prop_assert!(
                fate.entered.is_empty() && fate.made.is_empty(),
                "{:?} {:?}",
                id,
                fate
            );
            continue;
        }
        // It entered in the entry input, and never traded before.
        for &i in &fate.entered {
            prop_assert_eq!(
                Some(i),
                entry,
                "order {:?} entered out of time: {:?}",
                id,
                fate
            );
        }
        for &i in &fate.made {
            prop_assert!(
                ts(i) >= fate.until,
                "order {:?} made a trade early: {:?}",
                id,
                fate
            );
        }
        if let Some(c) = fate.cancelled {
            prop_assert!(ts(c) >= fate.until || leave.is_some_and(|(l, _)| l <= c));
        }
    }
    Ok(())
}
