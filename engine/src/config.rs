//! Engine capacity knobs and tier limits (documented in `tuning.md`).

use crate::types::Tier;

/// The largest stake or amount the engine accepts, in minor units (10^12: ten billion in a
/// currency with cents). It bounds every product the engine computes well inside `i128`.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;
/// The most selections a market may have.
pub const MAX_SELECTIONS: usize = 64;

/// Capacities of one engine (one shard), fixed at start. Memory is sized from them once.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct EngineConfig {
    /// Open orders the shard can hold at once; a new order beyond it is rejected
    /// (`order_capacity`).
    pub max_orders: u32,
    /// Markets the shard can hold, final ones included.
    pub max_markets: u32,
    /// Accounts the shard can hold.
    pub max_accounts: u32,
    /// How many of the most recent client order ids (per shard) are remembered for duplicate
    /// detection.
    pub client_order_id_window: u32,
    /// How many of the most recent transfer ids are remembered for idempotent transfers.
    pub transfer_id_window: u32,
    /// Key of the hash that places client-chosen ids in the idempotency windows' tables. It
    /// changes no output (events and state hash are the same for every seed); it only keeps a
    /// client from choosing ids that collide. A server should draw it at random when it
    /// starts and keep it secret.
    pub hash_seed: u64,
    /// Knobs a market takes when its definition leaves them out.
    pub market_defaults: MarketDefaults,
}

/// Node-wide defaults of the per-market knobs (each market may set its own in
/// `create_market`). The accepted ranges are the `*_RANGE` constants of this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct MarketDefaults {
    /// Keep odds state and publish the book stream and odds ticks.
    pub market_data: bool,
    /// Smallest move of displayed odds that publishes a tick, in basis points.
    pub odds_change_threshold_bps: u16,
    /// Shortest time between two change ticks, in milliseconds.
    pub odds_tick_interval_ms: u32,
    /// Silence after which a heartbeat tick is published, in milliseconds.
    pub odds_heartbeat_ms: u32,
    /// Move of reference or indicative odds that suspends a market, in basis points.
    pub circuit_breaker_bps: u16,
    /// Window in which that move is measured, in milliseconds.
    pub circuit_breaker_window_ms: u32,
    /// Total pool below which indicative odds cannot trip the circuit breaker, minor units.
    pub circuit_breaker_min_pool_minor: i64,
    /// How long before `end_at` a market locks, in milliseconds.
    pub lock_before_end_ms: u32,
}

impl Default for MarketDefaults {
    fn default() -> Self {
        MarketDefaults {
            market_data: true,
            odds_change_threshold_bps: 200,
            odds_tick_interval_ms: 300,
            odds_heartbeat_ms: 1_000,
            circuit_breaker_bps: 3_000,
            circuit_breaker_window_ms: 1_000,
            circuit_breaker_min_pool_minor: 10_000,
            lock_before_end_ms: 3_000,
        }
    }
}

/// Accepted `odds_change_threshold_bps` (REQUIREMENTS §1: 100-500).
pub const ODDS_CHANGE_THRESHOLD_RANGE: std::ops::RangeInclusive<u16> = 100..=500;
/// Accepted `odds_tick_interval_ms` (REQUIREMENTS §1: 100-500).
pub const ODDS_TICK_INTERVAL_RANGE: std::ops::RangeInclusive<u32> = 100..=500;
/// Accepted `odds_heartbeat_ms`.
pub const ODDS_HEARTBEAT_RANGE: std::ops::RangeInclusive<u32> = 500..=10_000;
/// Accepted `circuit_breaker_bps` (REQUIREMENTS §1: 2000-5000).
pub const CIRCUIT_BREAKER_RANGE: std::ops::RangeInclusive<u16> = 2_000..=5_000;
/// Accepted `circuit_breaker_window_ms`.
pub const CIRCUIT_BREAKER_WINDOW_RANGE: std::ops::RangeInclusive<u32> = 100..=60_000;
/// Accepted `lock_before_end_ms` (REQUIREMENTS §1: 1000-5000).
pub const LOCK_BEFORE_END_RANGE: std::ops::RangeInclusive<u32> = 1_000..=5_000;
/// Accepted `bet_delay_ms` (0: no delay; Betfair uses 1-12 s in play).
pub const BET_DELAY_RANGE: std::ops::RangeInclusive<u32> = 0..=12_000;
/// Accepted `price_band_bps`.
pub const PRICE_BAND_RANGE: std::ops::RangeInclusive<u16> = 100..=10_000;
/// Accepted `takeout_bps`.
pub const TAKEOUT_RANGE: std::ops::RangeInclusive<u16> = 0..=5_000;

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_orders: 1 << 20,
            max_markets: 100_000,
            max_accounts: 1_000_000,
            client_order_id_window: 1 << 20,
            transfer_id_window: 1 << 20,
            hash_seed: 0x6f64_6473_6d61_7463,
            market_defaults: MarketDefaults::default(),
        }
    }
}

impl EngineConfig {
    /// A small configuration for tests and examples.
    pub fn small() -> Self {
        EngineConfig {
            max_orders: 4_096,
            max_markets: 1_024,
            max_accounts: 4_096,
            client_order_id_window: 8_192,
            transfer_id_window: 8_192,
            hash_seed: 0x6f64_6473_6d61_7463,
            market_defaults: MarketDefaults::default(),
        }
    }
}

/// Limits that apply to an account unless its creation overrides them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct TierLimits {
    /// Smallest stake of one order, in minor units.
    pub min_stake_minor: i64,
    /// Largest stake of one order, in minor units.
    pub max_stake_minor: i64,
    /// Largest exposure (worst-case loss) on one market, in minor units.
    pub max_market_exposure_minor: i64,
    /// Most open orders at once over all markets.
    pub max_open_orders: u32,
}

impl TierLimits {
    /// The defaults of a tier. Open-order limits are the customers' (REQUIREMENTS §5); stake
    /// and exposure limits are ours, in minor units (cents: FREE may stake 100.00 at most).
    pub fn for_tier(tier: Tier) -> TierLimits {
        let (max_stake_minor, max_market_exposure_minor, max_open_orders) = match tier {
            Tier::Free => (10_000, 50_000, 20),
            Tier::Basic => (1_000_000, 5_000_000, 100),
            Tier::Pro => (10_000_000, 100_000_000, 500),
            Tier::MarketMaker => (MAX_AMOUNT_MINOR, MAX_AMOUNT_MINOR, 5_000),
            Tier::House => (0, 0, 0),
        };
        TierLimits {
            min_stake_minor: 1,
            max_stake_minor,
            max_market_exposure_minor,
            max_open_orders,
        }
    }
}
