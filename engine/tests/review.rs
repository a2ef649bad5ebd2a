//! Review tests of the odds engine (pools, odds state and streams, feed, timers, delay, votes):
//! each test pins a rule the review found broken or unpinned. Every input goes through
//! `stream_support::Sim` (both books in lockstep, `validate()` after every input, the stream
//! checks).

mod stream_support;

use oddsmatch_engine::*;
use stream_support::*;

const M: MarketId = MarketId(7);
const M2: MarketId = MarketId(8);
const S1: SelectionId = SelectionId(1);
const S2: SelectionId = SelectionId(2);
const S3: SelectionId = SelectionId(3);
const SELECTIONS: [SelectionId; 3] = [S1, S2, S3];
const ALICE: AccountId = AccountId(1);
const BOB: AccountId = AccountId(2);

use MarketStatus::Suspended;
use StatusCause::Lock;

/// The `market_status` events among `events`, in order.
fn statuses(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .filter(|e| matches!(e, Event::MarketStatus { .. }))
        .copied()
        .collect()
}

/// An exchange market with market data (the default) locking at `lock_at` and publishing
/// heartbeats every `heartbeat_ms`.
fn locking(market: MarketId, lock_at: u64, heartbeat_ms: u32) -> MarketSpec {
    let mut spec = exchange(market, &SELECTIONS);
    spec.lock_at = Some(lock_at);
    spec.odds_heartbeat_ms = Some(heartbeat_ms);
    spec
}

/// Markets whose locks fall due in the same input lock in the order of their lock times, then
/// in creation order, whatever their tick deadlines: a heartbeat due earlier is not a reason to
/// handle a market first.
#[test]
fn markets_lock_in_time_order_whatever_their_heartbeats() {
    // Same lock time: M (created first) has its next heartbeat after the lock, M2 before it.
    let mut sim = Sim::new();
    let lock_ns = T0 + 5 * SECOND;
    sim.open_new(T0, locking(M, lock_ns, 10_000));
    sim.open_new(T0, locking(M2, lock_ns, 500));
    assert_eq!(
        statuses(&sim.timer(lock_ns)),
        vec![
            status_event(M, 2, Suspended, Lock),
            status_event(M2, 2, Suspended, Lock),
        ]
    );

    // Different lock times: M locks later than M2 but has a heartbeat due before both.
    let mut sim = Sim::new();
    sim.open_new(T0, locking(M, T0 + 5 * SECOND, 1_000));
    sim.open_new(T0, locking(M2, T0 + 3 * SECOND, 10_000));
    assert_eq!(
        statuses(&sim.timer(T0 + 6 * SECOND)),
        vec![
            status_event(M2, 2, Suspended, Lock),
            status_event(M, 2, Suspended, Lock),
        ]
    );
}

/// A change at a level deeper than the third shown level is skipped by the dirty marking, which
/// compares with the levels published at the end of the previous input. Within one input an
/// earlier change may have made room for it: here one mass quote takes away the best shown back
/// and adds one below the (stale) third level, and the published depth shows it.
#[test]
fn a_deep_change_after_a_shown_one_in_the_same_input_is_published() {
    let mut sim = Sim::new();
    sim.trader(T0, ALICE);
    sim.trader(T0, BOB);
    sim.open_new(T0, exchange(M, &SELECTIONS));
    sim.placed(T0, NewOrder::back(BOB, M, S1, 310, 100));
    sim.placed(T0, NewOrder::back(BOB, M, S1, 320, 100));
    let quote_order = |sim: &mut Sim, odds: u32| {
        sim.at(
            T0,
            Command::MassQuote {
                account: ALICE,
                market: M,
                quotes: vec![quote(S1, Some((odds, 100)), None)],
            },
        )
    };
    quote_order(&mut sim, 300);
    assert_eq!(
        sim.depth(M, S1, Side::Back),
        vec![(300, 100), (310, 100), (320, 100)]
    );
    let events = quote_order(&mut sim, 330);
    let depth: Vec<Event> = events
        .into_iter()
        .filter(|e| matches!(e, Event::BookDepth { .. }))
        .collect();
    assert_eq!(
        depth,
        vec![depth_event(
            M,
            5,
            S1,
            Side::Back,
            &[(310, 100), (320, 100), (330, 100)]
        )]
    );
}

/// The same with an order that was cancelled while it waited out the in-play delay: its
/// entry time is not an item of its market any more.
#[test]
fn a_cancelled_waiting_order_does_not_put_its_market_first() {
    let mut sim = Sim::new();
    sim.trader(T0, ALICE);
    let mut spec = exchange(M, &SELECTIONS);
    spec.market_data = Some(false);
    spec.bet_delay_ms = 1_000;
    spec.lock_at = Some(T0 + 5 * SECOND);
    sim.open_new(T0, spec);
    let mut spec = exchange(M2, &SELECTIONS);
    spec.market_data = Some(false);
    spec.lock_at = Some(T0 + 3 * SECOND);
    sim.open_new(T0, spec);
    let order = sim.placed(T0, NewOrder::back(ALICE, M, S1, 300, 100));
    sim.cancel(T0 + 500 * MS, order);
    assert_eq!(
        sim.timer(T0 + 6 * SECOND),
        vec![
            status_event(M2, 2, Suspended, Lock),
            status_event(M, 2, Suspended, Lock),
        ]
    );
}

/// Time at the very top of the range: due times saturate at `u64::MAX` instead of overflowing,
/// every knob in milliseconds is added without a panic, and an input at `u64::MAX` fires what
/// is due before it (here a lock, which refuses the order still waiting) without looping.
#[test]
fn time_near_the_end_of_the_range_saturates() {
    let start = u64::MAX - 20 * SECOND;
    let mut sim = Sim::new();
    sim.trader(start, ALICE);
    let mut spec = exchange(M, &SELECTIONS);
    spec.bet_delay_ms = 12_000;
    spec.odds_heartbeat_ms = Some(10_000);
    spec.lock_at = Some(u64::MAX - 1);
    sim.open_new(start, spec);
    let placed_at = u64::MAX - 5 * SECOND;
    let order = NewOrder::back(ALICE, M, S1, 300, 100).cid(1);
    // (A heartbeat fell due before it.)
    let events = sim.place(placed_at, order);
    assert_eq!(
        events[events.len() - 1],
        Event::OrderDelayed {
            order_id: OrderId(1),
            account: ALICE,
            market: M,
            until: u64::MAX,
        }
    );
    let events = sim.timer(u64::MAX);
    assert_eq!(
        events[..2],
        [
            status_event(M, 2, Suspended, Lock),
            Event::Rejected {
                command: CommandKind::PlaceOrder,
                reason: RejectReason::MarketSuspendedDuringDelay,
                account: Some(ALICE),
                market: Some(M),
                client_order_id: Some(1),
                order_id: Some(OrderId(1)),
            },
        ]
    );
    assert_eq!(sim.engine().exposure(ALICE), Some(0));
    // Later inputs at the same, last, instant find nothing more to do.
    assert_eq!(sim.timer(u64::MAX), vec![]);
}
