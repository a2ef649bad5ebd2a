//! Reject and cancel reasons.
//!
//! Business outcomes are events, not errors: a refused command produces a `rejected` event
//! carrying one [`RejectReason`]. The reasons form one flat enum whose numeric codes are grouped
//! by subsystem, so that a code alone says where a command was refused (the code is what the
//! binary protocol carries).

use serde::{Deserialize, Serialize};

/// Why a command was refused. The command changed nothing.
///
/// Codes: 1xx markets, 2xx orders, 3xx risk, 4xx accounts and ledger, 5xx capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u16)]
pub enum RejectReason {
    // -- markets (1xx) --
    /// No market has this id.
    UnknownMarket = 100,
    /// The market is not open for new orders.
    MarketNotOpen = 101,
    /// The selection is not one of the market's.
    InvalidSelection = 102,
    /// A market with this id already exists.
    DuplicateMarket = 103,
    /// The market definition is invalid (selections, places, commission).
    InvalidMarketDefinition = 104,
    /// The lifecycle does not allow this transition from the market's current state.
    InvalidMarketTransition = 105,
    /// The market is already settled or voided.
    MarketFinalized = 106,
    /// The winners named at settlement are not exactly `places` distinct selections.
    InvalidWinners = 107,
    /// The command does not apply to this kind of market (an order on a pool, a bet on an
    /// exchange).
    InvalidMarketKind = 108,
    /// Reference probabilities are not one per selection, each at most 10000 bps.
    InvalidReference = 109,
    /// The market is not resolved by vote.
    NotVoteMarket = 110,
    /// The vote came outside the market's resolution window.
    VoteWindowClosed = 111,
    /// Under stake weighting only accounts with exposure on the market may vote.
    NotEligibleToVote = 112,

    // -- orders (2xx) --
    /// The odds are not a price on the market's ladder.
    InvalidOdds = 200,
    /// The stake is outside the account's `[min_stake, max_stake]`.
    InvalidStake = 201,
    /// This client order id was already used by the account; the original order is named.
    DuplicateClientOrderId = 202,
    /// No open order of this account on this market has that id.
    UnknownOrder = 203,
    /// A post-only order would have matched.
    PostOnlyWouldMatch = 204,
    /// A fill-or-kill order could not be filled completely.
    FokNotFilled = 205,
    /// A mass quote is malformed (repeated selection, odds without stake, crossed quote).
    InvalidQuote = 206,
    /// A cancel named both or neither of order id and client order id.
    InvalidOrderReference = 207,
    /// The order's implied probability is too far from the reference probability.
    OutsidePriceBand = 208,
    /// The market suspended while the order waited out its in-play delay.
    MarketSuspendedDuringDelay = 209,
    /// Not allowed while the market has an in-play delay: a replace that could match (cancel
    /// and place anew), replacing an order still waiting, or a mass quote.
    InPlayDelay = 210,

    // -- risk (3xx) --
    /// Total exposure over all markets would exceed the balance.
    InsufficientFunds = 300,
    /// The exposure on this market would exceed the account's limit.
    ExposureLimit = 301,
    /// The account already has its maximum number of open orders.
    MaxOpenOrders = 302,
    /// The account's kill switch is on.
    KillSwitch = 303,
    /// The bet would take the market's pool past its maximum.
    PoolLimit = 304,

    // -- accounts and ledger (4xx) --
    /// No account has this id.
    UnknownAccount = 400,
    /// An account with this id already exists.
    DuplicateAccount = 401,
    /// The id is reserved for house accounts.
    ReservedAccount = 402,
    /// The amount is not a positive number of minor units within bounds.
    InvalidAmount = 403,
    /// This transfer id was already used; the transfer was not applied again.
    DuplicateTransferId = 404,
    /// A withdrawal is larger than the free balance (balance minus exposure).
    InsufficientFreeBalance = 405,
    /// Limits given for the account are out of range.
    InvalidLimits = 406,
    /// The account's role does not allow this command (a feed trading, a trader feeding).
    RoleNotPermitted = 407,

    // -- capacity (5xx) --
    /// The shard's order table is full.
    OrderCapacity = 500,
    /// The shard holds its maximum number of markets.
    MarketCapacity = 501,
    /// The shard holds its maximum number of accounts.
    AccountCapacity = 502,
}

impl RejectReason {
    /// The numeric code carried on the wire.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The `snake_case` name used in events and documents.
    pub fn name(self) -> &'static str {
        match self {
            RejectReason::UnknownMarket => "unknown_market",
            RejectReason::MarketNotOpen => "market_not_open",
            RejectReason::InvalidSelection => "invalid_selection",
            RejectReason::DuplicateMarket => "duplicate_market",
            RejectReason::InvalidMarketDefinition => "invalid_market_definition",
            RejectReason::InvalidMarketTransition => "invalid_market_transition",
            RejectReason::MarketFinalized => "market_finalized",
            RejectReason::InvalidWinners => "invalid_winners",
            RejectReason::InvalidMarketKind => "invalid_market_kind",
            RejectReason::InvalidReference => "invalid_reference",
            RejectReason::NotVoteMarket => "not_vote_market",
            RejectReason::VoteWindowClosed => "vote_window_closed",
            RejectReason::NotEligibleToVote => "not_eligible_to_vote",
            RejectReason::InvalidOdds => "invalid_odds",
            RejectReason::InvalidStake => "invalid_stake",
            RejectReason::DuplicateClientOrderId => "duplicate_client_order_id",
            RejectReason::UnknownOrder => "unknown_order",
            RejectReason::PostOnlyWouldMatch => "post_only_would_match",
            RejectReason::FokNotFilled => "fok_not_filled",
            RejectReason::InvalidQuote => "invalid_quote",
            RejectReason::InvalidOrderReference => "invalid_order_reference",
            RejectReason::OutsidePriceBand => "outside_price_band",
            RejectReason::MarketSuspendedDuringDelay => "market_suspended_during_delay",
            RejectReason::InPlayDelay => "in_play_delay",
            RejectReason::InsufficientFunds => "insufficient_funds",
            RejectReason::ExposureLimit => "exposure_limit",
            RejectReason::MaxOpenOrders => "max_open_orders",
            RejectReason::KillSwitch => "kill_switch",
            RejectReason::PoolLimit => "pool_limit",
            RejectReason::UnknownAccount => "unknown_account",
            RejectReason::DuplicateAccount => "duplicate_account",
            RejectReason::ReservedAccount => "reserved_account",
            RejectReason::InvalidAmount => "invalid_amount",
            RejectReason::DuplicateTransferId => "duplicate_transfer_id",
            RejectReason::InsufficientFreeBalance => "insufficient_free_balance",
            RejectReason::InvalidLimits => "invalid_limits",
            RejectReason::RoleNotPermitted => "role_not_permitted",
            RejectReason::OrderCapacity => "order_capacity",
            RejectReason::MarketCapacity => "market_capacity",
            RejectReason::AccountCapacity => "account_capacity",
        }
    }
}

/// Why an order left the book without being fully matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum CancelReason {
    /// The account cancelled it.
    Requested = 1,
    /// The unmatched remainder of an immediate-or-cancel order.
    IocRemainder = 2,
    /// Self-trade prevention.
    SelfTrade = 3,
    /// A mass cancel.
    MassCancel = 4,
    /// A mass quote replaced the account's quotes.
    QuoteReplaced = 5,
    /// The market was suspended and the order was `lapse`.
    MarketSuspended = 6,
    /// The market was closed, settled or voided.
    MarketClosed = 7,
    /// The account's kill switch was turned on.
    KillSwitch = 8,
}
