//! Identifiers and small enums shared by commands, events and state.
//!
//! Every identifier is a plain integer chosen by whoever creates the thing: operators choose
//! account and market ids, the engine assigns order ids. Units are carried in field names
//! (`stake_minor`, `odds_x100`), never in floating point.

use serde::{Deserialize, Serialize};

/// An account, chosen by the operator that creates it.
///
/// The top of the range is reserved for house accounts (see [`AccountId::HOUSE_ROUNDING`]).
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(pub u32);

impl AccountId {
    /// Receives the rounding residue of every settlement.
    pub const HOUSE_ROUNDING: AccountId = AccountId(u32::MAX);
    /// Receives commission charged on winnings.
    pub const HOUSE_COMMISSION: AccountId = AccountId(u32::MAX - 1);
    /// Ids at or above this value are reserved for house accounts and cannot be created.
    pub const RESERVED_MIN: u32 = u32::MAX - 15;

    /// Whether this id lies in the range reserved for house accounts.
    pub fn is_reserved(self) -> bool {
        self.0 >= Self::RESERVED_MIN
    }
}

/// A market, chosen by the operator that creates it.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MarketId(pub u32);

/// A selection (an outcome, a runner) of a market, chosen by the operator.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SelectionId(pub u32);

/// An order, assigned by the engine in increasing order from 1.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(pub u64);

/// Which side of a bet an order takes.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Backs the selection to win.
    Back,
    /// Lays the selection: wins when the selection loses.
    Lay,
}

impl Side {
    /// The side an order of this side matches against.
    pub fn opposite(self) -> Side {
        match self {
            Side::Back => Side::Lay,
            Side::Lay => Side::Back,
        }
    }
}

/// How long the unmatched part of an order may live.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Good till cancelled: the remainder rests in the book.
    Gtc,
    /// Immediate or cancel: the remainder is cancelled.
    Ioc,
    /// Fill or kill: all or nothing; if it cannot fill completely it is rejected with no trade.
    Fok,
}

/// What happens to an unmatched order when its market is suspended.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Persistence {
    /// Cancelled when the market is suspended.
    #[default]
    Lapse,
    /// Stays in the book through a suspension.
    Persist,
}

/// Self-trade prevention: what happens when an order would match one of the same account.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelfTradePrevention {
    /// The resting order is cancelled and matching continues.
    #[default]
    CancelResting,
    /// The remainder of the incoming order is cancelled.
    CancelTaking,
    /// Both the resting order and the remainder of the incoming order are cancelled.
    CancelBoth,
    /// The account may trade with itself.
    None,
}

/// An account's tier, which sets its default limits (see [`crate::TierLimits`]).
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Anonymous or trial accounts.
    #[serde(alias = "FREE")]
    Free,
    /// Ordinary bettors.
    #[default]
    #[serde(alias = "BASIC")]
    Basic,
    /// Professional bettors.
    #[serde(alias = "PRO")]
    Pro,
    /// Market makers.
    #[serde(alias = "MARKET_MAKER")]
    MarketMaker,
    /// House accounts; they never trade.
    House,
}

/// The lifecycle state of a market.
///
/// `pending -> open <-> suspended -> closed -> settled`, and `voided` from any state before
/// `settled`.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketStatus {
    /// Created, not yet trading.
    Pending,
    /// Trading.
    Open,
    /// Temporarily not trading; cancels are accepted.
    Suspended,
    /// Trading has ended; waiting for the result.
    Closed,
    /// The result is in and every account has been paid.
    Settled,
    /// Called off: every stake was released with no profit or loss.
    Voided,
}

impl MarketStatus {
    /// Whether the market is in a final state.
    pub fn is_final(self) -> bool {
        matches!(self, MarketStatus::Settled | MarketStatus::Voided)
    }
}

/// The kind of a market.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketKind {
    /// Back and lay order books per selection, price-time priority.
    #[default]
    Exchange,
    /// Pari-mutuel: bets go into a pool per selection and winners share the net pool.
    Pool,
}

/// What an account may do.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Trades: orders, quotes, pool bets, votes, transfers.
    #[default]
    Trader,
    /// A price feed: sends `reference_odds` and nothing that trades.
    Feed,
}

/// Why a market changed state, carried by `market_status` events.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusCause {
    /// An operator's command.
    Operator,
    /// The market's scheduled lock time (`lock_at`, or `end_at - lock_before_end_ms`).
    Lock,
    /// The market's scheduled close time (`close_at`).
    Close,
    /// The circuit breaker tripped.
    CircuitBreaker,
    /// The end of a vote's resolution window.
    Vote,
}

/// Why an `odds_tick` was published.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TickReason {
    /// Some selection's displayed odds moved by at least the threshold.
    Change,
    /// Nothing moved for the heartbeat interval.
    Heartbeat,
    /// The market changed state (published at once, never filtered).
    Status,
}

/// Whose odds tripped a circuit breaker.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerSource {
    /// The reference odds from the feed.
    Reference,
    /// A pool's indicative odds.
    Indicative,
}

/// How votes are weighed in a market resolved by vote.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteWeight {
    /// Every eligible account's vote counts once.
    #[default]
    OnePerAccount,
    /// A vote counts the voter's exposure on the market, in minor units, when it votes.
    Stake,
}
