//! Operators changing live accounts and markets: `set_account_limits`, `set_market_knobs` and
//! `schedule_market` (their effect, every refusal, the deadline set they re-arm), their replay
//! and snapshots, and the operator queries `Query::Market` and `Query::Accounts`.
//!
//! Every command goes through `support::Harness` (both books in lockstep, `validate()` after
//! every input, the state hash unchanged by every refusal).

mod support;

use oddsmatch_engine::record::{self, RecordCodec};
use oddsmatch_engine::testkit::StreamGen;
use oddsmatch_engine::*;
use support::*;

const SECOND: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;
/// The time the timed scenarios start at.
const T0: u64 = 1_000 * SECOND;

fn limits(account: AccountId, tier: Tier) -> Command {
    Command::SetAccountLimits {
        account,
        tier,
        min_stake_minor: None,
        max_stake_minor: None,
        max_market_exposure_minor: None,
        max_open_orders: None,
        stp: None,
    }
}

/// `limits` with changes to its fields.
fn limits_with(
    account: AccountId,
    tier: Tier,
    change: impl FnOnce(
        &mut Option<i64>,
        &mut Option<i64>,
        &mut Option<i64>,
        &mut Option<u32>,
        &mut Option<SelfTradePrevention>,
    ),
) -> Command {
    let mut command = limits(account, tier);
    if let Command::SetAccountLimits {
        min_stake_minor,
        max_stake_minor,
        max_market_exposure_minor,
        max_open_orders,
        stp,
        ..
    } = &mut command
    {
        change(
            min_stake_minor,
            max_stake_minor,
            max_market_exposure_minor,
            max_open_orders,
            stp,
        );
    }
    command
}

fn knobs(market: MarketId, change: impl FnOnce(&mut MarketKnobs)) -> Command {
    let mut knobs = MarketKnobs::new(market);
    change(&mut knobs);
    Command::set_market_knobs(knobs)
}

/// The fields of a `schedule_market`, for building one compactly.
#[derive(Clone, Copy, Debug, Default)]
struct Sched {
    lock_at: Option<u64>,
    end_at: Option<u64>,
    lead_ms: Option<u32>,
    close_at: Option<u64>,
    clear_lock: bool,
    clear_close: bool,
}

fn schedule(market: MarketId, s: Sched) -> Command {
    Command::ScheduleMarket {
        market,
        lock_at: s.lock_at,
        end_at: s.end_at,
        lock_before_end_ms: s.lead_ms,
        close_at: s.close_at,
        clear_lock: s.clear_lock,
        clear_close: s.clear_close,
    }
}

fn scheduled(
    market: MarketId,
    lock_at: Option<u64>,
    end_at: Option<u64>,
    close_at: Option<u64>,
    lock_before_end_ms: u32,
) -> Event {
    Event::MarketScheduled {
        market,
        lock_at,
        end_at,
        close_at,
        lock_before_end_ms,
    }
}

fn status(market: MarketId, book_seq: u64, status: MarketStatus, cause: StatusCause) -> Event {
    Event::MarketStatus {
        market,
        book_seq,
        status,
        cause,
    }
}

fn account_view(h: &Harness, account: AccountId) -> AccountView {
    match h.engine().query(&Query::Account { account }) {
        Reply::Account(Some(view)) => view,
        other => panic!("account {account:?}: {other:?}"),
    }
}

fn detail(engine: &Engine, market: MarketId, levels: u16) -> MarketDetail {
    match engine.query(&Query::Market { market, levels }) {
        Reply::Market(Some(detail)) => *detail,
        other => panic!("market {market:?}: {other:?}"),
    }
}

/// The default market's knobs as they are at creation (the node's defaults, no limits).
fn default_knobs_event(market: MarketId) -> Event {
    Event::MarketKnobsSet {
        market,
        odds_change_threshold_bps: 200,
        circuit_breaker_bps: 3_000,
        price_band_bps: 0,
        odds_tick_interval_ms: 300,
        odds_heartbeat_ms: 1_000,
        circuit_breaker_window_ms: 1_000,
        bet_delay_ms: 0,
        circuit_breaker_min_pool_minor: 10_000,
        max_bet_minor: 0,
        max_exposure_minor: 0,
    }
}

// ---------------------------------------------------------------------------------------------
// set_account_limits
// ---------------------------------------------------------------------------------------------

#[test]
fn new_limits_replace_the_tier_and_overrides_and_open_orders_stay() {
    let mut h = four_traders();
    let orders: Vec<OrderId> = (0..3)
        .map(|n| h.placed(Place::back(ALICE, S1, 300 + 10 * n, 100)))
        .collect();
    let events = h.accept(limits_with(ALICE, Tier::Pro, |_, _, _, max_open, _| {
        *max_open = Some(2)
    }));
    assert_eq!(
        events,
        [Event::AccountLimitsSet {
            account: ALICE,
            tier: Tier::Pro,
            stp: SelfTradePrevention::CancelResting,
            max_open_orders: 2,
            min_stake_minor: 1,
            max_stake_minor: 10_000_000,
            max_market_exposure_minor: 100_000_000,
        }]
    );
    // Lowering the open-order limit below the count is allowed: nothing is cancelled.
    assert!(orders.iter().all(|o| h.is_live(*o)));
    let view = account_view(&h, ALICE);
    assert_eq!(
        (view.tier, view.open_orders, view.max_open_orders),
        (Tier::Pro, 3, 2)
    );
    // New orders are refused until the account is under the limit again.
    h.place_rejected(
        Place::back(ALICE, S2, 300, 100),
        RejectReason::MaxOpenOrders,
    );
    h.cancel(ALICE, MARKET, orders[0]);
    h.place_rejected(
        Place::back(ALICE, S2, 300, 100),
        RejectReason::MaxOpenOrders,
    );
    h.cancel(ALICE, MARKET, orders[1]);
    h.placed(Place::back(ALICE, S2, 300, 100));
    h.place_rejected(
        Place::back(ALICE, S3, 300, 100),
        RejectReason::MaxOpenOrders,
    );
}

#[test]
fn new_orders_meet_the_new_stake_and_exposure_limits() {
    let mut h = four_traders();
    h.accept(limits_with(ALICE, Tier::Basic, |min, max, _, _, _| {
        *min = Some(100);
        *max = Some(500);
    }));
    h.place_rejected(Place::back(ALICE, S1, 300, 600), RejectReason::InvalidStake);
    h.place_rejected(Place::back(ALICE, S1, 300, 99), RejectReason::InvalidStake);
    h.placed(Place::back(ALICE, S1, 300, 500));
    assert_eq!(h.market_exposure(ALICE, MARKET), 500);

    // An exposure limit below what the account already has: the position stays, an order
    // that grows the exposure is refused, one that does not grow it is accepted.
    h.accept(limits_with(ALICE, Tier::Basic, |_, _, exposure, _, _| {
        *exposure = Some(200)
    }));
    assert_eq!(h.market_exposure(ALICE, MARKET), 500);
    h.place_rejected(
        Place::back(ALICE, S2, 300, 100),
        RejectReason::ExposureLimit,
    );
    // A lay of S1 loses 500 if S1 wins, where the back loses nothing: still 500 at worst.
    h.placed(Place::lay(ALICE, S1, 200, 500));
    assert_eq!(h.market_exposure(ALICE, MARKET), 500);
    // The defaults of the tier come back when the overrides are left out.
    h.accept(limits(ALICE, Tier::Basic));
    h.placed(Place::back(ALICE, S2, 300, 100_000));
}

#[test]
fn self_trade_prevention_changes_only_when_given() {
    let mut h = four_traders();
    let events = h.accept(limits_with(ALICE, Tier::Basic, |_, _, _, _, stp| {
        *stp = Some(SelfTradePrevention::None)
    }));
    assert!(matches!(
        events[0],
        Event::AccountLimitsSet {
            stp: SelfTradePrevention::None,
            ..
        }
    ));
    // Left out, it stays as it is.
    let events = h.accept(limits(ALICE, Tier::Basic));
    assert!(matches!(
        events[0],
        Event::AccountLimitsSet {
            stp: SelfTradePrevention::None,
            ..
        }
    ));
    // The account may now trade with itself.
    let maker = h.placed(Place::back(ALICE, S1, 300, 100));
    let events = h.place(Place::lay(ALICE, S1, 300, 100));
    let fills = trades(&events);
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].maker, maker);
}

#[test]
fn limits_may_be_set_on_a_feed() {
    let mut h = Harness::new();
    let mut feed = Command::create_account(AccountId(9), Tier::Basic);
    if let Command::CreateAccount { role, .. } = &mut feed {
        *role = Role::Feed;
    }
    h.accept(feed);
    let events = h.accept(limits(AccountId(9), Tier::Free));
    assert!(matches!(
        events[0],
        Event::AccountLimitsSet {
            tier: Tier::Free,
            max_open_orders: 20,
            ..
        }
    ));
}

#[test]
fn invalid_account_limits_are_refused_and_change_nothing() {
    let mut h = four_traders();
    h.placed(Place::back(ALICE, S1, 300, 100));
    let cases = [
        (
            limits(AccountId(99), Tier::Pro),
            RejectReason::UnknownAccount,
        ),
        (
            limits(AccountId::HOUSE_COMMISSION, Tier::Pro),
            RejectReason::ReservedAccount,
        ),
        (
            limits(AccountId::HOUSE_ROUNDING, Tier::House),
            RejectReason::ReservedAccount,
        ),
        (limits(ALICE, Tier::House), RejectReason::ReservedAccount),
        (
            limits_with(ALICE, Tier::Pro, |min, _, _, _, _| *min = Some(0)),
            RejectReason::InvalidLimits,
        ),
        (
            limits_with(ALICE, Tier::Pro, |min, max, _, _, _| {
                *min = Some(500);
                *max = Some(499);
            }),
            RejectReason::InvalidLimits,
        ),
        (
            // Above the FREE tier's largest stake, which the minimum is checked against.
            limits_with(ALICE, Tier::Free, |min, _, _, _, _| *min = Some(10_001)),
            RejectReason::InvalidLimits,
        ),
        (
            limits_with(ALICE, Tier::Pro, |_, max, _, _, _| {
                *max = Some(MAX_AMOUNT_MINOR + 1)
            }),
            RejectReason::InvalidLimits,
        ),
        (
            limits_with(ALICE, Tier::Pro, |_, _, exposure, _, _| {
                *exposure = Some(-1)
            }),
            RejectReason::InvalidLimits,
        ),
    ];
    for (command, reason) in cases {
        let event = h.reject(command.clone(), reason);
        let Event::Rejected {
            account, market, ..
        } = event
        else {
            unreachable!("a reject");
        };
        let Command::SetAccountLimits { account: named, .. } = command else {
            unreachable!("set_account_limits");
        };
        assert_eq!((account, market), (Some(named), None));
    }
    let view = account_view(&h, ALICE);
    assert_eq!((view.tier, view.max_open_orders), (Tier::Basic, 100));
}

// ---------------------------------------------------------------------------------------------
// set_market_knobs
// ---------------------------------------------------------------------------------------------

#[test]
fn knobs_report_every_value_and_change_only_those_given() {
    let mut h = four_traders();
    let events = h.accept(knobs(MARKET, |k| k.odds_heartbeat_ms = Some(2_000)));
    let Event::MarketKnobsSet {
        odds_heartbeat_ms, ..
    } = events[0]
    else {
        panic!("{events:?}");
    };
    assert_eq!(odds_heartbeat_ms, 2_000);
    let mut expected = default_knobs_event(MARKET);
    if let Event::MarketKnobsSet {
        odds_heartbeat_ms, ..
    } = &mut expected
    {
        *odds_heartbeat_ms = 2_000;
    }
    assert_eq!(events, [expected]);

    // Every knob at the other end of its range.
    let events = h.accept(knobs(MARKET, |k| {
        k.odds_change_threshold_bps = Some(500);
        k.odds_tick_interval_ms = Some(100);
        k.odds_heartbeat_ms = Some(10_000);
        k.circuit_breaker_bps = Some(5_000);
        k.circuit_breaker_window_ms = Some(60_000);
        k.circuit_breaker_min_pool_minor = Some(MAX_AMOUNT_MINOR);
        k.price_band_bps = Some(10_000);
        k.max_bet_minor = Some(1);
        k.max_exposure_minor = Some(MAX_AMOUNT_MINOR);
        k.bet_delay_ms = Some(12_000);
    }));
    assert_eq!(
        events,
        [Event::MarketKnobsSet {
            market: MARKET,
            odds_change_threshold_bps: 500,
            circuit_breaker_bps: 5_000,
            price_band_bps: 10_000,
            odds_tick_interval_ms: 100,
            odds_heartbeat_ms: 10_000,
            circuit_breaker_window_ms: 60_000,
            bet_delay_ms: 12_000,
            circuit_breaker_min_pool_minor: MAX_AMOUNT_MINOR,
            max_bet_minor: 1,
            max_exposure_minor: MAX_AMOUNT_MINOR,
        }]
    );
    let view = detail(h.engine(), MARKET, 0).knobs;
    assert_eq!(
        view,
        KnobsView {
            odds_change_threshold_bps: 500,
            odds_tick_interval_ms: 100,
            odds_heartbeat_ms: 10_000,
            circuit_breaker_bps: 5_000,
            circuit_breaker_window_ms: 60_000,
            circuit_breaker_min_pool_minor: MAX_AMOUNT_MINOR,
            price_band_bps: Some(10_000),
            max_bet_minor: Some(1),
            max_exposure_minor: Some(MAX_AMOUNT_MINOR),
            bet_delay_ms: 12_000,
        }
    );
    // 0 removes the three optional limits.
    let events = h.accept(knobs(MARKET, |k| {
        k.price_band_bps = Some(0);
        k.max_bet_minor = Some(0);
        k.max_exposure_minor = Some(0);
    }));
    assert!(matches!(
        events[0],
        Event::MarketKnobsSet {
            price_band_bps: 0,
            max_bet_minor: 0,
            max_exposure_minor: 0,
            bet_delay_ms: 12_000,
            ..
        }
    ));
    let view = detail(h.engine(), MARKET, 0).knobs;
    assert_eq!(
        (
            view.price_band_bps,
            view.max_bet_minor,
            view.max_exposure_minor
        ),
        (None, None, None)
    );
}

#[test]
fn market_limits_apply_to_new_orders() {
    let mut h = four_traders();
    h.accept(knobs(MARKET, |k| k.max_bet_minor = Some(500)));
    h.place_rejected(Place::back(ALICE, S1, 300, 501), RejectReason::InvalidStake);
    h.placed(Place::back(ALICE, S1, 300, 500));
    h.accept(knobs(MARKET, |k| k.max_bet_minor = Some(0)));
    h.placed(Place::back(ALICE, S1, 300, 501));
    // A market exposure limit below BOB's exposure: his orders that grow it are refused.
    h.placed(Place::back(BOB, S1, 300, 1_000));
    h.accept(knobs(MARKET, |k| k.max_exposure_minor = Some(600)));
    h.place_rejected(Place::back(BOB, S2, 300, 10), RejectReason::ExposureLimit);
    h.placed(Place::back(CAROL, S2, 300, 600));
    h.place_rejected(Place::back(CAROL, S2, 300, 1), RejectReason::ExposureLimit);
}

#[test]
fn a_price_band_can_be_set_and_removed_on_a_live_market() {
    let mut h = four_traders();
    let feed = AccountId(9);
    let mut create = Command::create_account(feed, Tier::Basic);
    if let Command::CreateAccount { role, .. } = &mut create {
        *role = Role::Feed;
    }
    h.accept(create);
    h.accept(Command::ReferenceOdds {
        account: feed,
        market: MARKET,
        probabilities_bps: vec![5_000, 3_000, 2_000],
    });
    // Odds of 10.00 imply 1000 bps, 4000 from the reference of S1.
    h.placed(Place::back(ALICE, S1, 1_000, 100));
    h.accept(knobs(MARKET, |k| k.price_band_bps = Some(500)));
    h.place_rejected(
        Place::back(ALICE, S1, 1_000, 100),
        RejectReason::OutsidePriceBand,
    );
    h.placed(Place::back(ALICE, S1, 200, 100));
    h.accept(knobs(MARKET, |k| k.price_band_bps = Some(0)));
    h.placed(Place::back(ALICE, S1, 1_000, 100));
}

#[test]
fn a_new_delay_applies_to_new_orders_and_orders_keep_their_turn() {
    let mut h = four_traders();
    h.apply_at(T0, Command::Timer {});
    h.accept(knobs(MARKET, |k| k.bet_delay_ms = Some(1_000)));
    let first = h.place(Place::back(ALICE, S1, 300, 100));
    let first_id = accepted_id(&first);
    let first_until = h.now() + SECOND;
    assert_eq!(
        first[1],
        Event::OrderDelayed {
            order_id: first_id,
            account: ALICE,
            market: MARKET,
            until: first_until,
        }
    );
    // A shorter delay: an order placed now would enter before the first one, so it waits
    // for it.
    h.accept(knobs(MARKET, |k| k.bet_delay_ms = Some(100)));
    let second = h.place(Place::back(BOB, S1, 300, 100));
    let second_id = accepted_id(&second);
    assert_eq!(
        second[1],
        Event::OrderDelayed {
            order_id: second_id,
            account: BOB,
            market: MARKET,
            until: first_until,
        }
    );
    assert_eq!(h.engine().next_deadline_ns(), first_until);
    h.apply_at(first_until - 1, Command::Timer {});
    assert!(h.depth(MARKET, S1, Side::Back).is_empty());
    h.apply_at(first_until, Command::Timer {});
    assert_eq!(h.depth(MARKET, S1, Side::Back), [(300, 200)]);
    // No delay: the next order meets the book at once.
    h.accept(knobs(MARKET, |k| k.bet_delay_ms = Some(0)));
    let events = h.place(Place::lay(CAROL, S1, 300, 50));
    assert_eq!(trades(&events).len(), 1);
}

#[test]
fn a_shorter_tick_interval_publishes_a_pending_change_at_once() {
    let mut h = Harness::new();
    for account in [ALICE, BOB] {
        h.funded(account, PLENTY_MINOR);
    }
    h.apply_at(T0, Command::Timer {});
    let market = MarketDef::new(MARKET, &[S1, S2]).with(|s| {
        s.market_data = Some(true);
        s.odds_tick_interval_ms = Some(500);
    });
    h.open_market(market);
    // The status tick of the opening.
    let opened = h.now();
    // A move 100 ms after it waits for the interval.
    h.apply_at(opened + 100 * MS, Command::Timer {});
    let events = h.place(Place::back(ALICE, S1, 300, 100));
    assert!(!events.iter().any(|e| matches!(e, Event::OddsTick { .. })));
    assert_eq!(h.engine().next_deadline_ns(), opened + 500 * MS);
    // With an interval of 100 ms, it is owed already: published by the knobs' input.
    h.apply_at(opened + 150 * MS, Command::Timer {});
    let events = h.accept(knobs(MARKET, |k| k.odds_tick_interval_ms = Some(100)));
    let ticked = h.now();
    assert!(matches!(events[0], Event::MarketKnobsSet { .. }));
    assert!(
        matches!(
            events[1],
            Event::OddsTick {
                reason: TickReason::Change,
                tick_seq: 2,
                ..
            }
        ),
        "{events:?}"
    );
    // The heartbeat moves with its knob: the next deadline is a heartbeat after this tick.
    assert_eq!(h.engine().next_deadline_ns(), ticked + SECOND);
    h.accept(knobs(MARKET, |k| k.odds_heartbeat_ms = Some(5_000)));
    assert_eq!(h.engine().next_deadline_ns(), ticked + 5 * SECOND);
    assert_eq!(h.apply_at(ticked + 5 * SECOND - 1, Command::Timer {}), []);
    let events = h.apply_at(ticked + 5 * SECOND, Command::Timer {});
    assert!(matches!(
        events[0],
        Event::OddsTick {
            reason: TickReason::Heartbeat,
            ..
        }
    ));
}

#[test]
fn invalid_knobs_are_refused_and_change_nothing() {
    let mut h = four_traders();
    let pool = MarketId(8);
    h.accept(
        MarketDef::new(pool, &[S1, S2])
            .with(|s| s.kind = MarketKind::Pool)
            .command(),
    );
    let settled = MarketId(9);
    h.open_market(MarketDef::new(settled, &[S1, S2]));
    h.accept(Command::CloseMarket { market: settled });
    h.accept(Command::SettleMarket {
        market: settled,
        winners: vec![S1],
    });
    let heartbeat = |market| knobs(market, |k| k.odds_heartbeat_ms = Some(2_000));
    h.reject(heartbeat(MarketId(77)), RejectReason::UnknownMarket);
    h.reject(heartbeat(settled), RejectReason::MarketFinalized);
    h.reject(knobs(MARKET, |_| {}), RejectReason::NothingToChange);
    let invalid: [fn(&mut MarketKnobs); 14] = [
        |k| k.odds_change_threshold_bps = Some(99),
        |k| k.odds_change_threshold_bps = Some(501),
        |k| k.odds_tick_interval_ms = Some(99),
        |k| k.odds_heartbeat_ms = Some(10_001),
        |k| k.circuit_breaker_bps = Some(1_999),
        |k| k.circuit_breaker_window_ms = Some(60_001),
        |k| k.circuit_breaker_min_pool_minor = Some(-1),
        |k| k.price_band_bps = Some(99),
        |k| k.max_bet_minor = Some(-1),
        |k| k.max_exposure_minor = Some(MAX_AMOUNT_MINOR + 1),
        |k| k.bet_delay_ms = Some(12_001),
        // One valid knob does not save an invalid one.
        |k| {
            k.odds_heartbeat_ms = Some(2_000);
            k.price_band_bps = Some(10_001);
        },
        |k| k.odds_heartbeat_ms = Some(499),
        |k| k.circuit_breaker_window_ms = Some(99),
    ];
    for change in invalid {
        h.reject(knobs(MARKET, change), RejectReason::InvalidMarketDefinition);
    }
    // A pool takes no in-play delay, as at creation; 0 is fine.
    h.reject(
        knobs(pool, |k| k.bet_delay_ms = Some(1)),
        RejectReason::InvalidMarketDefinition,
    );
    h.accept(knobs(pool, |k| k.bet_delay_ms = Some(0)));
    assert_eq!(detail(h.engine(), MARKET, 0).knobs.odds_heartbeat_ms, 1_000);
}

// ---------------------------------------------------------------------------------------------
// schedule_market
// ---------------------------------------------------------------------------------------------

/// Funded traders at [`T0`] and [`MARKET`] open, without market data, created with `change`.
fn timed(change: impl FnOnce(&mut MarketSpec)) -> Harness {
    let mut h = Harness::new();
    h.apply_at(T0, Command::Timer {});
    for account in [ALICE, BOB] {
        h.funded(account, PLENTY_MINOR);
    }
    h.open_market(MarketDef::new(MARKET, &[S1, S2, S3]).with(change));
    h
}

#[test]
fn a_moved_lock_fires_at_its_new_time_and_not_at_the_old_one() {
    let mut h = timed(|s| s.lock_at = Some(T0 + 10 * SECOND));
    assert_eq!(h.engine().next_deadline_ns(), T0 + 10 * SECOND);
    h.apply_at(T0 + SECOND, Command::Timer {});
    let events = h.accept(schedule(
        MARKET,
        Sched {
            lock_at: Some(T0 + 20 * SECOND),
            ..Sched::default()
        },
    ));
    assert_eq!(
        events,
        [scheduled(MARKET, Some(T0 + 20 * SECOND), None, None, 3_000)]
    );
    assert_eq!(h.engine().next_deadline_ns(), T0 + 20 * SECOND);
    let order = h.placed(Place::back(ALICE, S1, 300, 100));
    assert_eq!(h.apply_at(T0 + 10 * SECOND, Command::Timer {}), []);
    assert_eq!(h.apply_at(T0 + 20 * SECOND - 1, Command::Timer {}), []);
    assert!(h.is_live(order));
    let events = h.apply_at(T0 + 20 * SECOND, Command::Timer {});
    assert_eq!(
        events[0],
        status(MARKET, 2, MarketStatus::Suspended, StatusCause::Lock)
    );
    assert!(!h.is_live(order), "a lapse order is cancelled by the lock");
    assert_eq!(h.engine().next_deadline_ns(), u64::MAX);
    assert_eq!(detail(h.engine(), MARKET, 0).schedule.lock_at, None);
}

#[test]
fn a_lock_moved_earlier_fires_earlier() {
    let mut h = timed(|s| s.lock_at = Some(T0 + 10 * SECOND));
    h.accept(schedule(
        MARKET,
        Sched {
            lock_at: Some(T0 + 2 * SECOND),
            ..Sched::default()
        },
    ));
    assert_eq!(h.engine().next_deadline_ns(), T0 + 2 * SECOND);
    let events = h.apply_at(T0 + 2 * SECOND, Command::Timer {});
    assert_eq!(
        events,
        [status(
            MARKET,
            2,
            MarketStatus::Suspended,
            StatusCause::Lock
        )]
    );
}

#[test]
fn an_end_time_locks_its_lead_earlier_and_a_new_lead_alone_moves_the_lock() {
    let mut h = timed(|_| {});
    assert_eq!(h.engine().next_deadline_ns(), u64::MAX);
    let end = T0 + 60 * SECOND;
    let events = h.accept(schedule(
        MARKET,
        Sched {
            end_at: Some(end),
            ..Sched::default()
        },
    ));
    assert_eq!(
        events,
        [scheduled(
            MARKET,
            Some(end - 3 * SECOND),
            Some(end),
            None,
            3_000
        )]
    );
    let events = h.accept(schedule(
        MARKET,
        Sched {
            lead_ms: Some(5_000),
            ..Sched::default()
        },
    ));
    assert_eq!(
        events,
        [scheduled(
            MARKET,
            Some(end - 5 * SECOND),
            Some(end),
            None,
            5_000
        )]
    );
    assert_eq!(h.engine().next_deadline_ns(), end - 5 * SECOND);
    // A new end time keeps the lead.
    h.accept(schedule(
        MARKET,
        Sched {
            end_at: Some(end + SECOND),
            ..Sched::default()
        },
    ));
    assert_eq!(h.engine().next_deadline_ns(), end - 4 * SECOND);
    assert_eq!(h.apply_at(end - 4 * SECOND - 1, Command::Timer {}), []);
    let events = h.apply_at(end - 4 * SECOND, Command::Timer {});
    assert_eq!(
        events,
        [status(
            MARKET,
            2,
            MarketStatus::Suspended,
            StatusCause::Lock
        )]
    );
    // The end time stays on show after the lock; the lock is gone.
    assert_eq!(
        detail(h.engine(), MARKET, 0).schedule,
        ScheduleView {
            lock_at: None,
            end_at: Some(end + SECOND),
            lock_before_end_ms: 5_000,
            close_at: None,
        }
    );
    // A lock given as a time forgets the end time.
    h.accept(Command::ResumeMarket { market: MARKET });
    let events = h.accept(schedule(
        MARKET,
        Sched {
            lock_at: Some(end + 10 * SECOND),
            ..Sched::default()
        },
    ));
    assert_eq!(
        events,
        [scheduled(
            MARKET,
            Some(end + 10 * SECOND),
            None,
            None,
            5_000
        )]
    );
}

#[test]
fn locks_and_closes_can_be_cleared() {
    let mut h = timed(|s| {
        s.lock_at = Some(T0 + 10 * SECOND);
        s.close_at = Some(T0 + 20 * SECOND);
    });
    let events = h.accept(schedule(
        MARKET,
        Sched {
            clear_lock: true,
            ..Sched::default()
        },
    ));
    assert_eq!(
        events,
        [scheduled(MARKET, None, None, Some(T0 + 20 * SECOND), 3_000)]
    );
    assert_eq!(h.engine().next_deadline_ns(), T0 + 20 * SECOND);
    h.accept(schedule(
        MARKET,
        Sched {
            clear_close: true,
            ..Sched::default()
        },
    ));
    assert_eq!(h.engine().next_deadline_ns(), u64::MAX);
    assert_eq!(h.apply_at(T0 + 30 * SECOND, Command::Timer {}), []);
    assert_eq!(h.engine().market_status(MARKET), Some(MarketStatus::Open));
}

#[test]
fn a_suspended_market_may_get_a_close_and_lose_its_lock_but_not_get_a_lock() {
    let mut h = timed(|s| s.lock_at = Some(T0 + 10 * SECOND));
    h.accept(Command::SuspendMarket { market: MARKET });
    h.reject(
        schedule(
            MARKET,
            Sched {
                lock_at: Some(T0 + 20 * SECOND),
                ..Sched::default()
            },
        ),
        RejectReason::InvalidMarketTransition,
    );
    // A lock left over would fire as soon as the market is resumed after its time: clear it.
    h.accept(schedule(
        MARKET,
        Sched {
            clear_lock: true,
            close_at: Some(T0 + 30 * SECOND),
            ..Sched::default()
        },
    ));
    h.apply_at(T0 + 15 * SECOND, Command::Timer {});
    let events = h.accept(Command::ResumeMarket { market: MARKET });
    assert_eq!(
        events,
        [status(MARKET, 3, MarketStatus::Open, StatusCause::Operator)]
    );
    let events = h.apply_at(T0 + 30 * SECOND, Command::Timer {});
    assert_eq!(
        events,
        [status(MARKET, 4, MarketStatus::Closed, StatusCause::Close)]
    );
}

#[test]
fn a_pending_market_takes_a_schedule() {
    let mut h = Harness::new();
    h.apply_at(T0, Command::Timer {});
    h.accept(MarketDef::new(MARKET, &[S1, S2]).command());
    h.accept(schedule(
        MARKET,
        Sched {
            lock_at: Some(T0 + SECOND),
            close_at: Some(T0 + 2 * SECOND),
            ..Sched::default()
        },
    ));
    // Pending, nothing happens at the lock time; opened after it, it locks at once.
    assert_eq!(h.apply_at(T0 + SECOND, Command::Timer {}), []);
    let events = h.accept(Command::OpenMarket { market: MARKET });
    assert_eq!(
        events,
        [
            status(MARKET, 1, MarketStatus::Open, StatusCause::Operator),
            status(MARKET, 2, MarketStatus::Suspended, StatusCause::Lock),
        ]
    );
    let events = h.apply_at(T0 + 2 * SECOND, Command::Timer {});
    assert_eq!(
        events,
        [status(MARKET, 3, MarketStatus::Closed, StatusCause::Close)]
    );
}

#[test]
fn invalid_schedules_are_refused_and_change_nothing() {
    let mut h = timed(|s| s.close_at = Some(T0 + 100 * SECOND));
    h.apply_at(T0 + SECOND, Command::Timer {});
    let at = |lock_at| Sched {
        lock_at: Some(lock_at),
        ..Sched::default()
    };
    let future = T0 + 50 * SECOND;
    // The time of the refused input: the harness stamps the next input one ns later.
    let now = h.now() + 1;
    let invalid = [
        (at(now), RejectReason::InvalidSchedule),
        (at(now - 1), RejectReason::InvalidSchedule),
        (at(0), RejectReason::InvalidSchedule),
        (at(u64::MAX), RejectReason::InvalidSchedule),
        (
            Sched {
                close_at: Some(now - SECOND),
                ..Sched::default()
            },
            RejectReason::InvalidSchedule,
        ),
        (
            Sched {
                lock_at: Some(future),
                end_at: Some(future + SECOND),
                ..Sched::default()
            },
            RejectReason::InvalidSchedule,
        ),
        (
            Sched {
                lock_at: Some(future),
                clear_lock: true,
                ..Sched::default()
            },
            RejectReason::InvalidSchedule,
        ),
        (
            Sched {
                close_at: Some(future),
                clear_close: true,
                ..Sched::default()
            },
            RejectReason::InvalidSchedule,
        ),
        (
            Sched {
                end_at: Some(future),
                lead_ms: Some(999),
                ..Sched::default()
            },
            RejectReason::InvalidSchedule,
        ),
        (
            Sched {
                end_at: Some(future),
                lead_ms: Some(5_001),
                ..Sched::default()
            },
            RejectReason::InvalidSchedule,
        ),
        // No end time to lead: the market's lock, if any, was not scheduled from one.
        (
            Sched {
                lead_ms: Some(2_000),
                ..Sched::default()
            },
            RejectReason::InvalidSchedule,
        ),
        // The end is ahead, but its lock (3 s before it) is not.
        (
            Sched {
                end_at: Some(now + 2 * SECOND),
                ..Sched::default()
            },
            RejectReason::InvalidSchedule,
        ),
        (Sched::default(), RejectReason::NothingToChange),
    ];
    for (sched, reason) in invalid {
        let event = h.reject(schedule(MARKET, sched), reason);
        assert!(
            matches!(
                event,
                Event::Rejected {
                    market: Some(MARKET),
                    account: None,
                    ..
                }
            ),
            "{event:?}"
        );
    }
    h.reject(
        schedule(MarketId(77), at(future)),
        RejectReason::UnknownMarket,
    );
    assert_eq!(h.engine().next_deadline_ns(), T0 + 100 * SECOND);

    // Closed: nothing to schedule; settled or voided: final.
    h.accept(Command::CloseMarket { market: MARKET });
    let close = Sched {
        close_at: Some(future),
        ..Sched::default()
    };
    h.reject(
        schedule(MARKET, close),
        RejectReason::InvalidMarketTransition,
    );
    h.accept(Command::VoidMarket { market: MARKET });
    h.reject(schedule(MARKET, close), RejectReason::MarketFinalized);
    h.reject(
        knobs(MARKET, |k| k.bet_delay_ms = Some(1)),
        RejectReason::MarketFinalized,
    );
}

// ---------------------------------------------------------------------------------------------
// Replay and snapshots
// ---------------------------------------------------------------------------------------------

/// A script that uses every new command, accepted and refused, with a lock moved, a delay
/// changed while an order waits, and limits lowered under resting orders.
fn script() -> Vec<Input> {
    let mut commands: Vec<(u64, Command)> = Vec::new();
    let mut push = |ts, command| commands.push((ts, command));
    for (n, account) in [ALICE, BOB].into_iter().enumerate() {
        push(T0, Command::create_account(account, Tier::Basic));
        push(
            T0,
            Command::Deposit {
                account,
                amount_minor: PLENTY_MINOR,
                transfer_id: n as u64 + 1,
            },
        );
    }
    let mut spec = MarketSpec::new(MARKET, vec![S1, S2, S3]);
    spec.end_at = Some(T0 + 30 * SECOND);
    spec.bet_delay_ms = 500;
    push(T0, Command::create_market(spec));
    push(T0, Command::OpenMarket { market: MARKET });
    let order = |account, side, odds_x100, cid| Command::PlaceOrder {
        account,
        market: MARKET,
        selection: S1,
        side,
        odds_x100,
        stake_minor: 1_000,
        tif: TimeInForce::Gtc,
        post_only: false,
        persistence: Persistence::Persist,
        client_order_id: cid,
    };
    push(T0 + MS, order(ALICE, Side::Back, 300, 1));
    push(
        T0 + 2 * MS,
        knobs(MARKET, |k| {
            k.bet_delay_ms = Some(100);
            k.odds_change_threshold_bps = Some(100);
        }),
    );
    push(T0 + 3 * MS, order(BOB, Side::Lay, 300, 1));
    push(
        T0 + 4 * MS,
        limits_with(ALICE, Tier::Pro, |_, _, _, max_open, _| *max_open = Some(1)),
    );
    push(T0 + 5 * MS, order(ALICE, Side::Back, 320, 2));
    push(
        T0 + 6 * MS,
        schedule(
            MARKET,
            Sched {
                lead_ms: Some(5_000),
                close_at: Some(T0 + 40 * SECOND),
                ..Sched::default()
            },
        ),
    );
    push(
        T0 + 7 * MS,
        schedule(
            MARKET,
            Sched {
                lock_at: Some(T0),
                ..Sched::default()
            },
        ),
    );
    push(T0 + 8 * MS, knobs(MARKET, |_| {}));
    push(T0 + 600 * MS, Command::Timer {});
    push(T0 + 10 * SECOND, Command::Timer {});
    push(T0 + 25 * SECOND, Command::Timer {});
    push(T0 + 26 * SECOND, Command::ResumeMarket { market: MARKET });
    push(T0 + 40 * SECOND, Command::Timer {});
    push(
        T0 + 41 * SECOND,
        Command::SettleMarket {
            market: MARKET,
            winners: vec![S1],
        },
    );
    commands
        .into_iter()
        .map(|(ts_ns, command)| Input { ts_ns, command })
        .collect()
}

/// Applies inputs to an engine and returns each one's events.
fn run(engine: &mut Engine, inputs: &[Input]) -> Vec<Vec<Event>> {
    inputs
        .iter()
        .map(|input| {
            let mut events = Vec::new();
            engine.apply(input, &mut events);
            engine.validate().unwrap();
            events
        })
        .collect()
}

#[test]
fn the_script_does_what_it_says() {
    let mut engine: Engine = Engine::new(EngineConfig::small());
    let events: Vec<Event> = run(&mut engine, &script()).concat();
    let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    assert_eq!(count(|e| matches!(e, Event::AccountLimitsSet { .. })), 1);
    assert_eq!(count(|e| matches!(e, Event::MarketKnobsSet { .. })), 1);
    assert_eq!(count(|e| matches!(e, Event::MarketScheduled { .. })), 1);
    let rejected: Vec<RejectReason> = events
        .iter()
        .filter_map(|e| match e {
            Event::Rejected { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        rejected,
        [
            RejectReason::MaxOpenOrders,
            RejectReason::InvalidSchedule,
            RejectReason::NothingToChange
        ]
    );
    // The lock at the new lead (25 s), then the close, then the settlement.
    let statuses: Vec<(MarketStatus, StatusCause)> = events
        .iter()
        .filter_map(|e| match e {
            Event::MarketStatus { status, cause, .. } => Some((*status, *cause)),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (MarketStatus::Open, StatusCause::Operator),
            (MarketStatus::Suspended, StatusCause::Lock),
            (MarketStatus::Open, StatusCause::Operator),
            (MarketStatus::Closed, StatusCause::Close),
            (MarketStatus::Settled, StatusCause::Operator),
        ]
    );
    // Both delayed orders entered together and matched.
    assert_eq!(count(|e| matches!(e, Event::Trade { .. })), 1);
}

#[test]
fn replay_reproduces_the_admin_commands_byte_for_byte() {
    let inputs = script();
    let mut first: Engine = Engine::new(EngineConfig::small());
    let mut second: Engine = Engine::new(EngineConfig::small());
    let a = run(&mut first, &inputs);
    let b = run(&mut second, &inputs);
    let mut codec = RecordCodec::new();
    let mut other = RecordCodec::new();
    for ((input, a), b) in inputs.iter().zip(&a).zip(&b) {
        let bytes = codec.encode(input, a).to_vec();
        assert_eq!(bytes, other.encode(input, b));
        let (decoded, events) = record::decode(&bytes).unwrap();
        assert_eq!((&decoded, &events), (input, a));
        // The sim format too.
        let line = serde_json::to_string(input).unwrap();
        assert_eq!(&serde_json::from_str::<Input>(&line).unwrap(), input);
        for event in a {
            let line = serde_json::to_string(event).unwrap();
            assert_eq!(&serde_json::from_str::<Event>(&line).unwrap(), event);
        }
    }
    assert_eq!(first.state_hash(), second.state_hash());
}

#[test]
fn snapshots_taken_between_admin_commands_restore_the_same_engine() {
    let inputs = script();
    let mut whole: Engine = Engine::new(EngineConfig::small());
    let expected = run(&mut whole, &inputs);
    for cut in 0..inputs.len() {
        let mut engine: Engine = Engine::new(EngineConfig::small());
        run(&mut engine, &inputs[..cut]);
        let restored: Engine = Engine::from_snapshot(&engine.snapshot()).unwrap();
        assert_eq!(restored.state_hash(), engine.state_hash(), "cut {cut}");
        assert_eq!(
            restored.next_deadline_ns(),
            engine.next_deadline_ns(),
            "cut {cut}"
        );
        for query in [
            Query::Market {
                market: MARKET,
                levels: 10,
            },
            Query::Accounts { after: None },
        ] {
            assert_eq!(restored.query(&query), engine.query(&query), "cut {cut}");
        }
        let mut restored = restored;
        assert_eq!(
            run(&mut restored, &inputs[cut..]),
            expected[cut..],
            "cut {cut}"
        );
        assert_eq!(restored.state_hash(), whole.state_hash());
    }
}

#[test]
fn the_schedule_and_limits_are_in_the_state_hash() {
    let mut h = timed(|s| s.end_at = Some(T0 + 60 * SECOND));
    let before = h.hash();
    h.accept(schedule(
        MARKET,
        Sched {
            lead_ms: Some(4_000),
            ..Sched::default()
        },
    ));
    let moved = h.hash();
    assert_ne!(moved, before);
    // Back to the same lock time from another end and lead: a different state.
    let events = h.accept(schedule(
        MARKET,
        Sched {
            end_at: Some(T0 + 59 * SECOND),
            lead_ms: Some(2_000),
            ..Sched::default()
        },
    ));
    assert!(matches!(
        events[0],
        Event::MarketScheduled { lock_at: Some(lock), .. } if lock == T0 + 57 * SECOND
    ));
    assert_ne!(h.hash(), moved);
    assert_ne!(h.hash(), before);
    let before = h.hash();
    h.accept(limits_with(ALICE, Tier::Basic, |_, _, _, _, stp| {
        *stp = Some(SelfTradePrevention::CancelBoth)
    }));
    assert_ne!(h.hash(), before);
}

#[test]
fn random_streams_use_the_admin_commands_and_replay_exactly() {
    let inputs = StreamGen::stream(17, 6_000);
    let mut engine: Engine = Engine::new(EngineConfig::small());
    let mut again: Engine = Engine::new(EngineConfig::small());
    let mut events = Vec::new();
    let mut restored: Option<Engine> = None;
    for (n, input) in inputs.iter().enumerate() {
        let mut a = Vec::new();
        engine.apply(input, &mut a);
        let mut b = Vec::new();
        again.apply(input, &mut b);
        assert_eq!(a, b);
        if let Some(copy) = &mut restored {
            let mut c = Vec::new();
            copy.apply(input, &mut c);
            assert_eq!(a, c, "after the snapshot, input {n}");
        }
        if n == inputs.len() / 2 {
            restored = Some(Engine::from_snapshot(&engine.snapshot()).unwrap());
        }
        events.extend(a);
    }
    engine.validate().unwrap();
    assert_eq!(restored.unwrap().state_hash(), engine.state_hash());
    let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    let limits = count(|e| matches!(e, Event::AccountLimitsSet { .. }));
    let knobs = count(|e| matches!(e, Event::MarketKnobsSet { .. }));
    let schedules = count(|e| matches!(e, Event::MarketScheduled { .. }));
    let locks = count(|e| {
        matches!(
            e,
            Event::MarketStatus {
                cause: StatusCause::Lock,
                ..
            }
        )
    });
    let refused = count(|e| {
        matches!(
            e,
            Event::Rejected {
                command: CommandKind::SetAccountLimits
                    | CommandKind::SetMarketKnobs
                    | CommandKind::ScheduleMarket,
                ..
            }
        )
    });
    println!("limits {limits} knobs {knobs} schedules {schedules} locks {locks} refused {refused}");
    assert!(limits > 0 && knobs > 0 && schedules > 0 && locks > 0 && refused > 0);
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

#[test]
fn the_market_query_shows_knobs_schedule_book_and_ticks() {
    let mut h = Harness::new();
    for account in [ALICE, BOB] {
        h.funded(account, PLENTY_MINOR);
    }
    h.apply_at(T0, Command::Timer {});
    let def = MarketDef::new(MARKET, &[S1, S2]).with(|s| {
        s.market_data = Some(true);
        s.commission_bps = 500;
        s.max_bet_minor = Some(50_000);
        s.end_at = Some(T0 + 60 * SECOND);
        s.close_at = Some(T0 + 70 * SECOND);
    });
    h.open_market(def);
    // Twelve levels of backs on S1, two lays; a trade on S2.
    for n in 0..12 {
        h.placed(Place::back(ALICE, S1, 300 + 10 * n, 100 + n as i64));
    }
    h.placed(Place::back(ALICE, S1, 300, 5));
    h.placed(Place::lay(BOB, S1, 200, 40));
    h.placed(Place::lay(BOB, S1, 250, 30));
    h.placed(Place::lay(BOB, S2, 400, 70));
    h.place(Place::back(ALICE, S2, 400, 20));
    h.apply_at(T0 + 2 * SECOND, Command::Timer {});

    let full = detail(h.engine(), MARKET, 100);
    assert_eq!(
        full.selections[0].backs.len(),
        usize::from(MAX_MARKET_LEVELS)
    );
    let top = detail(h.engine(), MARKET, 2);
    let s1 = &top.selections[0];
    assert_eq!(
        s1.backs,
        [
            BookLevel {
                odds_x100: 300,
                stake_minor: 105
            },
            BookLevel {
                odds_x100: 310,
                stake_minor: 101
            },
        ]
    );
    assert_eq!(
        s1.lays,
        [
            BookLevel {
                odds_x100: 250,
                stake_minor: 30
            },
            BookLevel {
                odds_x100: 200,
                stake_minor: 40
            },
        ]
    );
    // The levels agree with the engine's own depth.
    for (selection, side, levels) in [
        (0, Side::Back, &full.selections[0].backs),
        (0, Side::Lay, &full.selections[0].lays),
        (1, Side::Lay, &full.selections[1].lays),
    ] {
        let depth = h.depth(MARKET, [S1, S2][selection], side);
        let shown: Vec<(u32, i64)> = levels
            .iter()
            .map(|l| (l.odds_x100, l.stake_minor))
            .collect();
        assert_eq!(shown, depth[..shown.len()]);
    }
    assert!(detail(h.engine(), MARKET, 0).selections[0].backs.is_empty());

    assert_eq!(
        (
            top.kind,
            top.status,
            top.ladder,
            top.places,
            top.commission_bps
        ),
        (
            MarketKind::Exchange,
            MarketStatus::Open,
            LadderKind::Betfair,
            1,
            500
        )
    );
    assert_eq!(top.knobs.max_bet_minor, Some(50_000));
    assert_eq!(top.knobs.max_exposure_minor, None);
    assert_eq!(
        top.schedule,
        ScheduleView {
            lock_at: Some(T0 + 57 * SECOND),
            end_at: Some(T0 + 60 * SECOND),
            lock_before_end_ms: 3_000,
            close_at: Some(T0 + 70 * SECOND),
        }
    );
    assert_eq!(top.matched_minor, 20);
    assert_eq!(top.selections[1].matched_minor, 20);
    assert_eq!(top.selections[1].last_traded_x100, 400);
    // The tick odds are those of the engine's odds state as last published.
    let odds = h.engine().market_odds(MARKET).unwrap();
    assert_eq!(top.tick_seq, odds.tick_seq);
    assert!(top.tick_seq >= 2, "a status tick and a heartbeat at least");
    assert_eq!(top.book_seq, odds.book_seq);
    assert_eq!(top.last_tick_at, Some(T0 + 2 * SECOND));
    assert_eq!(
        top.selections[0].tick,
        TickOdds {
            back_x100: 250,
            lay_x100: 300,
            indicative_x100: 0,
            reference_x100: 0,
        }
    );
    assert_eq!(
        h.engine().query(&Query::Market {
            market: MarketId(1),
            levels: 3
        }),
        Reply::Market(None)
    );
    // The serde form an operator's tools show.
    let json = serde_json::to_value(&top).unwrap();
    assert_eq!(json["knobs"]["max_bet"], 50_000);
    assert_eq!(json["selections"][0]["backs"][0]["odds"], 300);
    assert_eq!(json["selections"][0]["tick"]["back"], 250);
    assert_eq!(json["schedule"]["end_at"], T0 + 60 * SECOND);
}

#[test]
fn the_market_query_shows_pools_and_indicative_odds() {
    let mut h = Harness::new();
    for account in [ALICE, BOB] {
        h.funded(account, PLENTY_MINOR);
    }
    let pool = MarketId(8);
    h.open_market(MarketDef::new(pool, &[S1, S2]).with(|s| {
        s.kind = MarketKind::Pool;
        s.market_data = Some(true);
        s.takeout_bps = 1_000;
        s.max_pool_minor = Some(1_000_000);
    }));
    for (account, selection, stake, cid) in [(ALICE, S1, 300, 1), (BOB, S2, 100, 2)] {
        h.accept(Command::PlaceBet {
            account,
            market: pool,
            selection,
            stake_minor: stake,
            client_order_id: cid,
        });
    }
    h.apply_at(h.now() + 2 * SECOND, Command::Timer {});
    let view = detail(h.engine(), pool, 5);
    assert_eq!((view.kind, view.takeout_bps), (MarketKind::Pool, 1_000));
    assert_eq!(view.max_pool_minor, Some(1_000_000));
    assert_eq!(view.pool_total_minor, 400);
    let pools: Vec<i64> = view.selections.iter().map(|s| s.pool_minor).collect();
    assert_eq!(pools, [300, 100]);
    // 360 net over 300 and over 100, as the last tick showed them.
    let indicative: Vec<u32> = view
        .selections
        .iter()
        .map(|s| s.tick.indicative_x100)
        .collect();
    assert_eq!(indicative, [120, 360]);
    assert!(
        view.selections
            .iter()
            .all(|s| s.backs.is_empty() && s.lays.is_empty())
    );
}

#[test]
fn accounts_are_listed_in_id_order_a_page_at_a_time() {
    let mut h = Harness::new();
    // 2,500 accounts created out of id order.
    let ids: Vec<u32> = (0..2_500u32).map(|n| (n * 7_919) % 2_500 + 1).collect();
    for &id in &ids {
        h.apply(Command::create_account(AccountId(id), Tier::Free));
    }
    h.deposit(AccountId(5), 1_234);
    h.accept(Command::SetApiKey {
        account: AccountId(5),
        key_id: 77,
        secret: ApiSecret([1; 32]),
    });
    h.accept(Command::KillSwitch {
        account: AccountId(6),
        on: true,
    });
    let page = |h: &Harness, after| match h.engine().query(&Query::Accounts { after }) {
        Reply::Accounts(page) => page,
        other => panic!("{other:?}"),
    };
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let reply = page(&h, after);
        assert!(reply.accounts.len() <= ACCOUNTS_PAGE);
        pages += 1;
        seen.extend(reply.accounts.iter().map(|a| a.account));
        after = reply.accounts.last().map(|a| a.account);
        if !reply.more {
            break;
        }
        assert_eq!(reply.accounts.len(), ACCOUNTS_PAGE);
    }
    assert_eq!(pages, 3);
    let mut expected: Vec<AccountId> = (1..=2_500).map(AccountId).collect();
    expected.extend([AccountId::HOUSE_COMMISSION, AccountId::HOUSE_ROUNDING]);
    assert_eq!(seen, expected);
    let first = page(&h, None);
    assert_eq!(
        first.accounts[4],
        AccountSummary {
            account: AccountId(5),
            tier: Tier::Free,
            role: Role::Trader,
            stp: SelfTradePrevention::CancelResting,
            kill_switch: false,
            balance_minor: 1_234,
            exposure_minor: 0,
            open_orders: 0,
            max_open_orders: 20,
            min_stake_minor: 1,
            max_stake_minor: 10_000,
            max_market_exposure_minor: 50_000,
            api_key_id: Some(77),
        }
    );
    assert!(first.accounts[5].kill_switch);
    // After the last account, or past every id: nothing more.
    let end = page(&h, Some(AccountId::HOUSE_ROUNDING));
    assert_eq!((end.accounts.len(), end.more), (0, false));
    let middle = page(&h, Some(AccountId(2_499)));
    let rest: Vec<AccountId> = middle.accounts.iter().map(|a| a.account).collect();
    assert_eq!(
        rest,
        [
            AccountId(2_500),
            AccountId::HOUSE_COMMISSION,
            AccountId::HOUSE_ROUNDING
        ]
    );
    // A limit change shows at once.
    h.accept(limits(AccountId(5), Tier::MarketMaker));
    let after = page(&h, Some(AccountId(4)));
    assert_eq!(after.accounts[0].tier, Tier::MarketMaker);
    assert_eq!(after.accounts[0].max_open_orders, 5_000);
    let json = serde_json::to_value(&after).unwrap();
    assert_eq!(json["accounts"][0]["tier"], "market_maker");
    assert_eq!(json["accounts"][0]["balance"], 1_234);
    assert_eq!(json["more"], true);
}

#[test]
fn operator_queries_change_nothing() {
    let mut h = four_traders();
    h.placed(Place::back(ALICE, S1, 300, 100));
    let (seq, hash) = (h.engine().seq(), h.engine().state_hash());
    for query in [
        Query::Market {
            market: MARKET,
            levels: u16::MAX,
        },
        Query::Market {
            market: MarketId(0),
            levels: 0,
        },
        Query::Accounts { after: None },
        Query::Accounts {
            after: Some(AccountId(u32::MAX)),
        },
    ] {
        h.engine().query(&query);
    }
    assert_eq!((h.engine().seq(), h.engine().state_hash()), (seq, hash));
}

/// The JSON shape the sim format (and an operator's socket) reads for the new commands.
#[test]
fn the_new_commands_parse_from_their_sim_lines() {
    let lines = [
        r#"{"ts":1,"cmd":"set_account_limits","account":1,"tier":"pro","max_open_orders":5,"min_stake":10,"max_stake":500,"max_market_exposure":1000,"stp":"cancel_both"}"#,
        r#"{"ts":2,"cmd":"set_market_knobs","market":7,"odds_change_threshold_bps":300,"odds_tick_interval_ms":200,"odds_heartbeat_ms":2000,"circuit_breaker_bps":4000,"circuit_breaker_window_ms":5000,"circuit_breaker_min_pool":0,"price_band_bps":0,"max_bet":0,"max_exposure":100,"bet_delay_ms":1000}"#,
        r#"{"ts":3,"cmd":"schedule_market","market":7,"end_at":5000000000,"lock_before_end_ms":2000,"close_at":6000000000}"#,
        r#"{"ts":4,"cmd":"schedule_market","market":7,"clear_lock":true,"clear_close":true}"#,
        r#"{"ts":5,"cmd":"set_account_limits","account":1,"tier":"basic"}"#,
    ];
    let inputs: Vec<Input> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect();
    assert_eq!(
        inputs[0].command,
        Command::SetAccountLimits {
            account: ALICE,
            tier: Tier::Pro,
            min_stake_minor: Some(10),
            max_stake_minor: Some(500),
            max_market_exposure_minor: Some(1_000),
            max_open_orders: Some(5),
            stp: Some(SelfTradePrevention::CancelBoth),
        }
    );
    assert_eq!(
        inputs[2].command,
        schedule(
            MARKET,
            Sched {
                end_at: Some(5_000_000_000),
                lead_ms: Some(2_000),
                close_at: Some(6_000_000_000),
                ..Sched::default()
            }
        )
    );
    // Unknown fields are refused, as for every command.
    assert!(
        serde_json::from_str::<Input>(
            r#"{"ts":1,"cmd":"set_market_knobs","market":7,"takeout_bps":5}"#
        )
        .is_err()
    );
    // A tier is required: the limits are replaced as a whole.
    assert!(
        serde_json::from_str::<Input>(r#"{"ts":1,"cmd":"set_account_limits","account":1}"#)
            .is_err()
    );
    let mut h = four_traders();
    h.apply_at(1_000, Command::Timer {});
    for input in &inputs {
        let input = Input {
            ts_ns: input.ts_ns + 1_000,
            command: input.command.clone(),
        };
        let events = h.apply_at(input.ts_ns, input.command);
        assert!(
            !events.iter().any(|e| matches!(e, Event::Rejected { .. })),
            "{events:?}"
        );
    }
}
