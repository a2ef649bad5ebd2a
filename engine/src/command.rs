//! Inputs to the engine.
//!
//! An [`Input`] is a [`Command`] with the time it was stamped with. The serde form is the line
//! format of `oddsmatch sim` (see `docs/sim-format.md`): `{"ts": .., "cmd": "place_order", ..}`.

use serde::{Deserialize, Serialize};

use crate::ladder::LadderKind;
use crate::types::{
    AccountId, ApiSecret, MarketId, MarketKind, OrderId, Persistence, Role, SelectionId,
    SelfTradePrevention, Side, Tier, TimeInForce, VoteWeight,
};

/// One input: a command and the time the shard stamped it with.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// Nanoseconds since the Unix epoch, stamped by the shard (or the file being replayed).
    #[serde(rename = "ts")]
    pub ts_ns: u64,
    /// What to do.
    #[serde(flatten)]
    pub command: Command,
}

/// Everything the engine can be asked to do.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Create a trading account (operator).
    CreateAccount {
        /// The new account's id.
        account: AccountId,
        /// Its tier, which sets the default limits.
        #[serde(default)]
        tier: Tier,
        /// Overrides the tier's smallest stake, in minor units.
        #[serde(default, rename = "min_stake")]
        min_stake_minor: Option<i64>,
        /// Overrides the tier's largest stake, in minor units.
        #[serde(default, rename = "max_stake")]
        max_stake_minor: Option<i64>,
        /// Overrides the tier's largest exposure on one market, in minor units.
        #[serde(default, rename = "max_market_exposure")]
        max_market_exposure_minor: Option<i64>,
        /// Overrides the tier's largest number of open orders.
        #[serde(default)]
        max_open_orders: Option<u32>,
        /// Self-trade prevention mode.
        #[serde(default)]
        stp: SelfTradePrevention,
        /// What the account may do (a trader unless named a feed).
        #[serde(default)]
        role: Role,
    },
    /// Credit an account (idempotent by transfer id).
    Deposit {
        /// The account credited.
        account: AccountId,
        /// Minor units, positive.
        #[serde(rename = "amount")]
        amount_minor: i64,
        /// Idempotency key: a transfer id is applied at most once.
        transfer_id: u64,
    },
    /// Debit an account (idempotent by transfer id); at most the free balance.
    Withdraw {
        /// The account debited.
        account: AccountId,
        /// Minor units, positive.
        #[serde(rename = "amount")]
        amount_minor: i64,
        /// Idempotency key: a transfer id is applied at most once.
        transfer_id: u64,
    },
    /// Turn an account's kill switch on (cancel everything, block new orders) or off.
    KillSwitch {
        /// The account.
        account: AccountId,
        /// On or off.
        on: bool,
    },
    /// Create a market in the `pending` state (operator).
    CreateMarket(Box<MarketSpec>),
    /// `pending -> open`.
    OpenMarket {
        /// The market.
        market: MarketId,
    },
    /// `open -> suspended`; cancels unmatched `lapse` orders.
    SuspendMarket {
        /// The market.
        market: MarketId,
    },
    /// `suspended -> open`.
    ResumeMarket {
        /// The market.
        market: MarketId,
    },
    /// `open | suspended -> closed`; cancels every unmatched order.
    CloseMarket {
        /// The market.
        market: MarketId,
    },
    /// Settle with exactly `places` winners and pay every account.
    SettleMarket {
        /// The market.
        market: MarketId,
        /// The winning selections.
        winners: Vec<SelectionId>,
    },
    /// Call the market off: everything is released with no profit or loss.
    VoidMarket {
        /// The market.
        market: MarketId,
    },
    /// Place an order.
    PlaceOrder {
        /// The account placing it.
        account: AccountId,
        /// The market.
        market: MarketId,
        /// The selection backed or laid.
        selection: SelectionId,
        /// Back or lay.
        side: Side,
        /// Decimal odds times 100, on the market's ladder.
        #[serde(rename = "odds")]
        odds_x100: u32,
        /// The backer's stake in minor units.
        #[serde(rename = "stake")]
        stake_minor: i64,
        /// Time in force.
        tif: TimeInForce,
        /// Reject if any part would match.
        #[serde(default)]
        post_only: bool,
        /// What happens on suspension.
        #[serde(default)]
        persistence: Persistence,
        /// The account's own id for the order, unique within the dedupe window.
        client_order_id: u64,
    },
    /// Cancel one order, by order id or by client order id (exactly one of them).
    CancelOrder {
        /// The account that owns it.
        account: AccountId,
        /// The market it rests on.
        market: MarketId,
        /// The engine's order id.
        #[serde(default)]
        order_id: Option<OrderId>,
        /// The account's client order id.
        #[serde(default)]
        client_order_id: Option<u64>,
    },
    /// Change an order's odds and unmatched stake.
    ReplaceOrder {
        /// The account that owns it.
        account: AccountId,
        /// The market it rests on.
        market: MarketId,
        /// The order.
        order_id: OrderId,
        /// New odds times 100.
        #[serde(rename = "odds")]
        odds_x100: u32,
        /// New unmatched stake in minor units.
        #[serde(rename = "stake")]
        stake_minor: i64,
    },
    /// Cancel all of an account's orders on one market, or everywhere.
    MassCancel {
        /// The account.
        account: AccountId,
        /// The market, or every market when absent.
        #[serde(default)]
        market: Option<MarketId>,
    },
    /// Replace all of an account's quotes on a market at once.
    MassQuote {
        /// The account.
        account: AccountId,
        /// The market.
        market: MarketId,
        /// The complete new set of quotes; selections not named have no quote afterwards.
        quotes: Vec<Quote>,
    },
    /// Put a stake into a selection's pool (pool markets).
    PlaceBet {
        /// The account betting.
        account: AccountId,
        /// The market.
        market: MarketId,
        /// The selection backed.
        selection: SelectionId,
        /// Stake in minor units.
        #[serde(rename = "stake")]
        stake_minor: i64,
        /// The account's own id for the bet, unique within the dedupe window (shared with
        /// orders).
        client_order_id: u64,
    },
    /// Take a pool bet back while the market is open.
    CancelBet {
        /// The account that owns it.
        account: AccountId,
        /// The market.
        market: MarketId,
        /// The bet, as `bet_accepted` named it.
        bet_id: OrderId,
    },
    /// The feed's probability of every selection, in the market's selection order.
    ReferenceOdds {
        /// The feed account sending them.
        account: AccountId,
        /// The market.
        market: MarketId,
        /// One probability per selection, in basis points (0..=10000).
        probabilities_bps: Vec<u16>,
    },
    /// A vote for the outcome of a market resolved by vote; a re-vote replaces the earlier one.
    Vote {
        /// The voter.
        account: AccountId,
        /// The market.
        market: MarketId,
        /// The selection voted for.
        selection: SelectionId,
    },
    /// Lets time pass: fires whatever falls due at the input's timestamp (every input does;
    /// this one does nothing else).
    Timer {},
    /// Emit one `balance` event per account (read only).
    Balances {},
    /// Give an account (a trader or a feed) its API key, replacing the key it had (operator).
    /// The old key id stops resolving at once. Declared last, like every later addition, so
    /// that the archived tags of the commands above keep their meaning in the journal.
    SetApiKey {
        /// The account.
        account: AccountId,
        /// The key's public id (not 0), unique among all accounts of the shard.
        key_id: u64,
        /// The key's secret. It is journaled with the command (the journal directory must
        /// be private) but never appears in an event.
        secret: ApiSecret,
    },
    /// Replace an account's tier and limits as a whole (operator): each limit is the override
    /// given, or the new tier's default when absent. Open orders and positions stay as they
    /// are; new orders, bets, replaces and quotes are checked against the new limits.
    SetAccountLimits {
        /// The account (a trader or a feed; not a house account).
        account: AccountId,
        /// Its new tier, whose defaults fill the limits not given.
        tier: Tier,
        /// Overrides the tier's smallest stake, in minor units.
        #[serde(default, rename = "min_stake")]
        min_stake_minor: Option<i64>,
        /// Overrides the tier's largest stake, in minor units.
        #[serde(default, rename = "max_stake")]
        max_stake_minor: Option<i64>,
        /// Overrides the tier's largest exposure on one market, in minor units.
        #[serde(default, rename = "max_market_exposure")]
        max_market_exposure_minor: Option<i64>,
        /// Overrides the tier's largest number of open orders. It may be below the account's
        /// current count: its orders stay, and new ones are refused until it is under.
        #[serde(default)]
        max_open_orders: Option<u32>,
        /// A new self-trade prevention mode (unchanged when absent).
        #[serde(default)]
        stp: Option<SelfTradePrevention>,
    },
    /// Change some of a market's odds and risk knobs (operator); the others keep their
    /// values.
    SetMarketKnobs(Box<MarketKnobs>),
    /// Move, set or clear a market's timed lock and close (operator). Times given replace the
    /// market's; times not given keep theirs.
    ScheduleMarket {
        /// The market.
        market: MarketId,
        /// A new lock time (ns since the epoch); not together with `end_at`.
        #[serde(default)]
        lock_at: Option<u64>,
        /// A new end time (ns): the market locks `lock_before_end_ms` before it.
        #[serde(default)]
        end_at: Option<u64>,
        /// How long before `end_at` the market locks, in milliseconds (the market's current
        /// lead, or the node's default, when absent). Given alone, it moves the lock of a
        /// market scheduled by `end_at`.
        #[serde(default)]
        lock_before_end_ms: Option<u32>,
        /// A new close time (ns).
        #[serde(default)]
        close_at: Option<u64>,
        /// Remove the market's lock (and its end time); not together with a new one.
        #[serde(default)]
        clear_lock: bool,
        /// Remove the market's close; not together with a new one.
        #[serde(default)]
        clear_close: bool,
    },
}

/// The knobs `set_market_knobs` changes: those given (`Some`) take the new value, checked
/// against the same ranges as at creation; those absent keep theirs.
///
/// For the three limits a market may go without (`price_band_bps`, `max_bet`,
/// `max_exposure`), 0 removes the market's own limit.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketKnobs {
    /// The market.
    pub market: MarketId,
    /// Smallest move of displayed odds that publishes a tick, in basis points.
    #[serde(default)]
    pub odds_change_threshold_bps: Option<u16>,
    /// Shortest time between two change ticks, in milliseconds.
    #[serde(default)]
    pub odds_tick_interval_ms: Option<u32>,
    /// Silence after which a heartbeat tick is published, in milliseconds.
    #[serde(default)]
    pub odds_heartbeat_ms: Option<u32>,
    /// Move of reference or indicative odds that suspends the market, in basis points.
    #[serde(default)]
    pub circuit_breaker_bps: Option<u16>,
    /// The window in which that move is measured, in milliseconds.
    #[serde(default)]
    pub circuit_breaker_window_ms: Option<u32>,
    /// Total pool below which indicative odds cannot trip the circuit breaker, in minor units.
    #[serde(default, rename = "circuit_breaker_min_pool")]
    pub circuit_breaker_min_pool_minor: Option<i64>,
    /// The price band in basis points (0: no band).
    #[serde(default)]
    pub price_band_bps: Option<u16>,
    /// Largest single bet or order stake on this market, in minor units (0: no market limit).
    #[serde(default, rename = "max_bet")]
    pub max_bet_minor: Option<i64>,
    /// Largest exposure of one account on this market, in minor units (0: no market limit).
    #[serde(default, rename = "max_exposure")]
    pub max_exposure_minor: Option<i64>,
    /// In-play delay of new orders, in milliseconds (0: none; exchange markets).
    #[serde(default)]
    pub bet_delay_ms: Option<u32>,
}

impl MarketKnobs {
    /// Knobs for `market` that change nothing yet (fill in the ones to change).
    pub fn new(market: MarketId) -> MarketKnobs {
        MarketKnobs {
            market,
            odds_change_threshold_bps: None,
            odds_tick_interval_ms: None,
            odds_heartbeat_ms: None,
            circuit_breaker_bps: None,
            circuit_breaker_window_ms: None,
            circuit_breaker_min_pool_minor: None,
            price_band_bps: None,
            max_bet_minor: None,
            max_exposure_minor: None,
            bet_delay_ms: None,
        }
    }

    /// Whether no knob is given.
    pub fn is_empty(&self) -> bool {
        let MarketKnobs {
            market: _,
            odds_change_threshold_bps,
            odds_tick_interval_ms,
            odds_heartbeat_ms,
            circuit_breaker_bps,
            circuit_breaker_window_ms,
            circuit_breaker_min_pool_minor,
            price_band_bps,
            max_bet_minor,
            max_exposure_minor,
            bet_delay_ms,
        } = self;
        odds_change_threshold_bps.is_none()
            && odds_tick_interval_ms.is_none()
            && odds_heartbeat_ms.is_none()
            && circuit_breaker_bps.is_none()
            && circuit_breaker_window_ms.is_none()
            && circuit_breaker_min_pool_minor.is_none()
            && price_band_bps.is_none()
            && max_bet_minor.is_none()
            && max_exposure_minor.is_none()
            && bet_delay_ms.is_none()
    }
}

/// The definition of a new market: `create_market`'s arguments.
///
/// Times (`lock_at`, `end_at`, `close_at`, vote windows) are nanoseconds since the Unix epoch,
/// like every input's `ts`; intervals are milliseconds. Knobs left out take the engine's
/// defaults ([`crate::MarketDefaults`]).
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketSpec {
    /// The new market's id.
    pub market: MarketId,
    /// Its kind.
    #[serde(default)]
    pub kind: MarketKind,
    /// Its selections, distinct.
    pub selections: Vec<SelectionId>,
    /// How many winners settlement names (1 by default; more for place markets).
    #[serde(default = "default_places")]
    pub places: u8,
    /// The price ladder (exchange markets).
    #[serde(default)]
    pub ladder: LadderKind,
    /// Commission on each account's positive net result, in basis points (exchange markets).
    #[serde(default)]
    pub commission_bps: u16,
    /// The house's share of a pool, in basis points (pool markets).
    #[serde(default)]
    pub takeout_bps: u16,
    /// Largest total pool, in minor units (pool markets; unlimited when absent).
    #[serde(default, rename = "max_pool")]
    pub max_pool_minor: Option<i64>,
    /// Largest single bet or order stake on this market, in minor units (on top of the
    /// account's own limit).
    #[serde(default, rename = "max_bet")]
    pub max_bet_minor: Option<i64>,
    /// Largest exposure of one account on this market, in minor units (on top of the
    /// account's own limit).
    #[serde(default, rename = "max_exposure")]
    pub max_exposure_minor: Option<i64>,
    /// Keep odds state and publish the book stream and odds ticks.
    #[serde(default)]
    pub market_data: Option<bool>,
    /// Smallest move of displayed odds that publishes a tick, in basis points.
    #[serde(default)]
    pub odds_change_threshold_bps: Option<u16>,
    /// Shortest time between two change ticks, in milliseconds.
    #[serde(default)]
    pub odds_tick_interval_ms: Option<u32>,
    /// Silence after which a heartbeat tick is published, in milliseconds.
    #[serde(default)]
    pub odds_heartbeat_ms: Option<u32>,
    /// Move of reference or indicative odds that suspends the market, in basis points.
    #[serde(default)]
    pub circuit_breaker_bps: Option<u16>,
    /// The window in which that move is measured, in milliseconds.
    #[serde(default)]
    pub circuit_breaker_window_ms: Option<u32>,
    /// Total pool below which indicative odds cannot trip the circuit breaker, in minor units
    /// (early bets swing a small pool's odds wildly).
    #[serde(default, rename = "circuit_breaker_min_pool")]
    pub circuit_breaker_min_pool_minor: Option<i64>,
    /// Rejects orders whose implied probability is further than this from the reference
    /// probability, in basis points (no band when absent).
    #[serde(default)]
    pub price_band_bps: Option<u16>,
    /// When the market locks (suspends).
    #[serde(default)]
    pub lock_at: Option<u64>,
    /// When the event ends; the market locks `lock_before_end_ms` earlier.
    #[serde(default)]
    pub end_at: Option<u64>,
    /// How long before `end_at` the market locks, in milliseconds.
    #[serde(default)]
    pub lock_before_end_ms: Option<u32>,
    /// When the market closes.
    #[serde(default)]
    pub close_at: Option<u64>,
    /// In-play delay of new orders, in milliseconds (0: none).
    #[serde(default)]
    pub bet_delay_ms: u32,
    /// How the result is decided (an operator's `settle_market` when absent).
    #[serde(default)]
    pub resolution: Option<Resolution>,
}

impl MarketSpec {
    /// An exchange market with one winner, the Betfair ladder and every knob at its default.
    pub fn new(market: MarketId, selections: Vec<SelectionId>) -> MarketSpec {
        MarketSpec {
            market,
            kind: MarketKind::Exchange,
            selections,
            places: 1,
            ladder: LadderKind::Betfair,
            commission_bps: 0,
            takeout_bps: 0,
            max_pool_minor: None,
            max_bet_minor: None,
            max_exposure_minor: None,
            market_data: None,
            odds_change_threshold_bps: None,
            odds_tick_interval_ms: None,
            odds_heartbeat_ms: None,
            circuit_breaker_bps: None,
            circuit_breaker_window_ms: None,
            circuit_breaker_min_pool_minor: None,
            price_band_bps: None,
            lock_at: None,
            end_at: None,
            lock_before_end_ms: None,
            close_at: None,
            bet_delay_ms: 0,
            resolution: None,
        }
    }
}

impl Default for MarketSpec {
    /// [`MarketSpec::new`] with market id 0 and no selections, for `..MarketSpec::default()`.
    fn default() -> Self {
        MarketSpec::new(MarketId(0), Vec::new())
    }
}

/// How a market's result is decided, when not by an operator.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Resolution {
    /// Eligible accounts vote during a window; the tally decides at its end.
    Vote {
        /// Votes are accepted from this time on (ns since the epoch).
        window_start: u64,
        /// Votes are accepted until just before this time, when the tally decides.
        window_end: u64,
        /// The fewest voters for a result; fewer void the market.
        quorum: u32,
        /// Share of the weight a selection needs to win, in basis points.
        threshold_bps: u16,
        /// How votes are weighed.
        #[serde(default)]
        weight: VoteWeight,
    },
}

fn default_places() -> u8 {
    1
}

/// One selection's two-sided quote in a mass quote.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quote {
    /// The selection quoted.
    pub selection: SelectionId,
    /// Odds of the back quote, times 100.
    #[serde(default, rename = "back_odds")]
    pub back_odds_x100: Option<u32>,
    /// Stake of the back quote in minor units.
    #[serde(default, rename = "back_stake")]
    pub back_stake_minor: Option<i64>,
    /// Odds of the lay quote, times 100.
    #[serde(default, rename = "lay_odds")]
    pub lay_odds_x100: Option<u32>,
    /// Stake of the lay quote in minor units.
    #[serde(default, rename = "lay_stake")]
    pub lay_stake_minor: Option<i64>,
}

impl Command {
    /// `create_account` with the tier's default limits and self-trade prevention.
    pub fn create_account(account: AccountId, tier: Tier) -> Command {
        Command::CreateAccount {
            account,
            tier,
            min_stake_minor: None,
            max_stake_minor: None,
            max_market_exposure_minor: None,
            max_open_orders: None,
            stp: SelfTradePrevention::default(),
            role: Role::Trader,
        }
    }

    /// `create_market` with a definition.
    pub fn create_market(spec: MarketSpec) -> Command {
        Command::CreateMarket(Box::new(spec))
    }

    /// `set_market_knobs` with the knobs to change.
    pub fn set_market_knobs(knobs: MarketKnobs) -> Command {
        Command::SetMarketKnobs(Box::new(knobs))
    }

    /// `schedule_market` that changes nothing yet (fill in what to change).
    pub fn schedule_market(market: MarketId) -> Command {
        Command::ScheduleMarket {
            market,
            lock_at: None,
            end_at: None,
            lock_before_end_ms: None,
            close_at: None,
            clear_lock: false,
            clear_close: false,
        }
    }

    /// Which command this is.
    pub fn kind(&self) -> CommandKind {
        match self {
            Command::CreateAccount { .. } => CommandKind::CreateAccount,
            Command::Deposit { .. } => CommandKind::Deposit,
            Command::Withdraw { .. } => CommandKind::Withdraw,
            Command::KillSwitch { .. } => CommandKind::KillSwitch,
            Command::CreateMarket(_) => CommandKind::CreateMarket,
            Command::OpenMarket { .. } => CommandKind::OpenMarket,
            Command::SuspendMarket { .. } => CommandKind::SuspendMarket,
            Command::ResumeMarket { .. } => CommandKind::ResumeMarket,
            Command::CloseMarket { .. } => CommandKind::CloseMarket,
            Command::SettleMarket { .. } => CommandKind::SettleMarket,
            Command::VoidMarket { .. } => CommandKind::VoidMarket,
            Command::PlaceOrder { .. } => CommandKind::PlaceOrder,
            Command::CancelOrder { .. } => CommandKind::CancelOrder,
            Command::ReplaceOrder { .. } => CommandKind::ReplaceOrder,
            Command::MassCancel { .. } => CommandKind::MassCancel,
            Command::MassQuote { .. } => CommandKind::MassQuote,
            Command::PlaceBet { .. } => CommandKind::PlaceBet,
            Command::CancelBet { .. } => CommandKind::CancelBet,
            Command::ReferenceOdds { .. } => CommandKind::ReferenceOdds,
            Command::Vote { .. } => CommandKind::Vote,
            Command::Timer {} => CommandKind::Timer,
            Command::Balances {} => CommandKind::Balances,
            Command::SetApiKey { .. } => CommandKind::SetApiKey,
            Command::SetAccountLimits { .. } => CommandKind::SetAccountLimits,
            Command::SetMarketKnobs(_) => CommandKind::SetMarketKnobs,
            Command::ScheduleMarket { .. } => CommandKind::ScheduleMarket,
        }
    }
}

/// The name of a command without its arguments, carried by `rejected` events.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)] // each variant names the `Command` of the same name
pub enum CommandKind {
    CreateAccount,
    Deposit,
    Withdraw,
    KillSwitch,
    CreateMarket,
    OpenMarket,
    SuspendMarket,
    ResumeMarket,
    CloseMarket,
    SettleMarket,
    VoidMarket,
    PlaceOrder,
    CancelOrder,
    ReplaceOrder,
    MassCancel,
    MassQuote,
    PlaceBet,
    CancelBet,
    ReferenceOdds,
    Vote,
    Timer,
    Balances,
    SetApiKey,
    SetAccountLimits,
    SetMarketKnobs,
    ScheduleMarket,
}
