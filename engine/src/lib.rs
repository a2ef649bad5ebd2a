//! # oddsmatch-engine
//!
//! The deterministic core of oddsmatch: order books, pools, odds and ticks, risk, votes, the
//! ledger and settlement, as a pure state machine `apply(input) -> events`.
//!
//! **The engine does no I/O.** It owns no threads, sockets, files or clocks; time arrives
//! inside each [`Input`]. **Money and odds are integers**: minor units (`i64`) and decimal
//! odds times 100 (`u32`) on a [`LadderKind`]. **Nothing iterates a map whose order can vary**,
//! so the same inputs give the same events and the same [`Engine::state_hash`] everywhere.
//!
//! The rules it implements are written down in `docs/market-rules.md`.
//!
//! ```
//! use oddsmatch_engine::{AccountId, Command, Engine, EngineConfig, Input, Tier};
//!
//! let mut engine: Engine = Engine::new(EngineConfig::small());
//! let mut events = Vec::new();
//! let create = Command::create_account(AccountId(1), Tier::Basic);
//! engine.apply(&Input { ts_ns: 1, command: create }, &mut events);
//! assert_eq!(engine.balance(AccountId(1)), Some(0));
//! engine.validate().unwrap();
//! ```

#![warn(missing_docs)]

pub mod book;
mod command;
mod config;
mod engine;
mod event;
mod hash;
mod ladder;
pub mod odds;
mod order;
pub mod query;
mod reason;
mod recent;
pub mod record;
mod risk;
pub mod shard;
pub mod snapshot;
pub mod testkit;
mod types;

pub use command::{Command, CommandKind, Input, MarketKnobs, MarketSpec, Quote, Resolution};
pub use config::{
    BET_DELAY_RANGE, CIRCUIT_BREAKER_RANGE, CIRCUIT_BREAKER_WINDOW_RANGE, EngineConfig,
    LOCK_BEFORE_END_RANGE, MAX_AMOUNT_MINOR, MAX_SELECTIONS, MarketDefaults,
    ODDS_CHANGE_THRESHOLD_RANGE, ODDS_HEARTBEAT_RANGE, ODDS_TICK_INTERVAL_RANGE, PRICE_BAND_RANGE,
    TAKEOUT_RANGE, TierLimits,
};
pub use engine::{DepthLevel, Engine, MarketOdds, OrderView, SelectionOddsView};
pub use event::{DISPLAY_LEVELS, Event, MAX_PLACES, PostingKind, Winners};
pub use hash::StateHasher;
pub use ladder::{LadderKind, Tick};
pub use order::{NIL, Order, OrderList, OrderSlab};
pub use query::{
    ACCOUNTS_PAGE, AccountSummary, AccountView, AccountsPage, ApiKeyView, BookLevel, KnobsView,
    MAX_MARKET_LEVELS, MarketDetail, MarketView, PositionView, Query, Reply, ScheduleView,
    SelectionDetail, TickOdds,
};
pub use reason::{CancelReason, RejectReason};
pub use risk::{Contribution, Position, exposure_minor, floor_minor};
pub use types::{
    AccountId, ApiSecret, BreakerSource, MarketId, MarketKind, MarketStatus, OrderId, Persistence,
    Role, SelectionId, SelfTradePrevention, Side, StatusCause, TickReason, Tier, TimeInForce,
    VoteWeight,
};
