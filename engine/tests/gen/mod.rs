//! Shared proptest strategies and small helpers for the engine's property tests
//! (`model.rs`, `garbage.rs`).
//!
//! Each test file is its own crate and uses a different subset of this module, so unused items
//! are expected here.
#![allow(dead_code)]

use oddsmatch_engine::{
    Command, Event, Input, LadderKind, Persistence, SelfTradePrevention, Side, Tier, TimeInForce,
};
use proptest::prelude::*;

/// `PROPTEST_CASES` from the environment if set (for a long hunt), else `default`.
pub fn cases_from_env(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}

/// Back or lay, evenly.
pub fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Back), Just(Side::Lay)]
}

/// Every time in force; good-till-cancelled most often so that books fill up.
pub fn time_in_force() -> impl Strategy<Value = TimeInForce> {
    prop_oneof![
        3 => Just(TimeInForce::Gtc),
        1 => Just(TimeInForce::Ioc),
        1 => Just(TimeInForce::Fok),
    ]
}

/// Lapse or persist, evenly.
pub fn persistence() -> impl Strategy<Value = Persistence> {
    prop_oneof![Just(Persistence::Lapse), Just(Persistence::Persist)]
}

/// All four self-trade prevention modes.
pub fn self_trade_prevention() -> impl Strategy<Value = SelfTradePrevention> {
    prop_oneof![
        Just(SelfTradePrevention::CancelResting),
        Just(SelfTradePrevention::CancelTaking),
        Just(SelfTradePrevention::CancelBoth),
        Just(SelfTradePrevention::None),
    ]
}

/// The tiers an operator may create (every tier but `House`).
pub fn trading_tier() -> impl Strategy<Value = Tier> {
    prop_oneof![
        Just(Tier::Free),
        Just(Tier::Basic),
        Just(Tier::Pro),
        Just(Tier::MarketMaker),
    ]
}

/// Both ladders.
pub fn ladder() -> impl Strategy<Value = LadderKind> {
    prop_oneof![Just(LadderKind::Betfair), Just(LadderKind::Probability)]
}

/// The odds `offset` ticks away from `center_tick` on `ladder`, clamped to the ladder's ends.
pub fn odds_near(ladder: LadderKind, center_tick: usize, offset: i32) -> u32 {
    let prices = ladder.prices();
    let last = prices.len() as i64 - 1;
    let tick = (center_tick as i64 + i64::from(offset)).clamp(0, last);
    prices[tick as usize]
}

/// The first value at or after `raw` (wrapping) that is not a price on `ladder`.
pub fn off_ladder(ladder: LadderKind, raw: u32) -> u32 {
    let mut odds_x100 = raw;
    while ladder.tick(odds_x100).is_some() {
        odds_x100 = odds_x100.wrapping_add(1);
    }
    odds_x100
}

/// Stamps a command with a time.
pub fn input(ts_ns: u64, command: Command) -> Input {
    Input { ts_ns, command }
}

/// The reason of the `rejected` event among `events`, if there is one.
pub fn rejection(events: &[Event]) -> Option<oddsmatch_engine::RejectReason> {
    events.iter().find_map(|event| match event {
        Event::Rejected { reason, .. } => Some(*reason),
        _ => None,
    })
}
