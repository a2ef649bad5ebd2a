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
/// A code, once used, keeps its meaning: the journal stores reasons by code. A new reason
/// goes into [`RejectReason::ALL`] and [`RejectReason::from_code`] too.
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
    /// A schedule is malformed or in the past: a time not after the command's, `lock_at`
    /// with `end_at`, a lock and `clear_lock` together, `lock_before_end_ms` out of range or
    /// without an end time.
    InvalidSchedule = 113,
    /// The command names nothing to change.
    NothingToChange = 114,

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
    /// The API key id already belongs to another account.
    DuplicateApiKey = 408,
    /// The API key id is 0, which names no key.
    InvalidApiKey = 409,

    // -- capacity (5xx) --
    /// The shard's order table is full.
    OrderCapacity = 500,
    /// The shard holds its maximum number of markets.
    MarketCapacity = 501,
    /// The shard holds its maximum number of accounts.
    AccountCapacity = 502,
}

impl RejectReason {
    /// Every reason, in code order.
    pub const ALL: [RejectReason; 44] = [
        RejectReason::UnknownMarket,
        RejectReason::MarketNotOpen,
        RejectReason::InvalidSelection,
        RejectReason::DuplicateMarket,
        RejectReason::InvalidMarketDefinition,
        RejectReason::InvalidMarketTransition,
        RejectReason::MarketFinalized,
        RejectReason::InvalidWinners,
        RejectReason::InvalidMarketKind,
        RejectReason::InvalidReference,
        RejectReason::NotVoteMarket,
        RejectReason::VoteWindowClosed,
        RejectReason::NotEligibleToVote,
        RejectReason::InvalidSchedule,
        RejectReason::NothingToChange,
        RejectReason::InvalidOdds,
        RejectReason::InvalidStake,
        RejectReason::DuplicateClientOrderId,
        RejectReason::UnknownOrder,
        RejectReason::PostOnlyWouldMatch,
        RejectReason::FokNotFilled,
        RejectReason::InvalidQuote,
        RejectReason::InvalidOrderReference,
        RejectReason::OutsidePriceBand,
        RejectReason::MarketSuspendedDuringDelay,
        RejectReason::InPlayDelay,
        RejectReason::InsufficientFunds,
        RejectReason::ExposureLimit,
        RejectReason::MaxOpenOrders,
        RejectReason::KillSwitch,
        RejectReason::PoolLimit,
        RejectReason::UnknownAccount,
        RejectReason::DuplicateAccount,
        RejectReason::ReservedAccount,
        RejectReason::InvalidAmount,
        RejectReason::DuplicateTransferId,
        RejectReason::InsufficientFreeBalance,
        RejectReason::InvalidLimits,
        RejectReason::RoleNotPermitted,
        RejectReason::DuplicateApiKey,
        RejectReason::InvalidApiKey,
        RejectReason::OrderCapacity,
        RejectReason::MarketCapacity,
        RejectReason::AccountCapacity,
    ];

    /// The reason with this numeric code, if there is one.
    pub fn from_code(code: u16) -> Option<RejectReason> {
        Some(match code {
            100 => RejectReason::UnknownMarket,
            101 => RejectReason::MarketNotOpen,
            102 => RejectReason::InvalidSelection,
            103 => RejectReason::DuplicateMarket,
            104 => RejectReason::InvalidMarketDefinition,
            105 => RejectReason::InvalidMarketTransition,
            106 => RejectReason::MarketFinalized,
            107 => RejectReason::InvalidWinners,
            108 => RejectReason::InvalidMarketKind,
            109 => RejectReason::InvalidReference,
            110 => RejectReason::NotVoteMarket,
            111 => RejectReason::VoteWindowClosed,
            112 => RejectReason::NotEligibleToVote,
            113 => RejectReason::InvalidSchedule,
            114 => RejectReason::NothingToChange,
            200 => RejectReason::InvalidOdds,
            201 => RejectReason::InvalidStake,
            202 => RejectReason::DuplicateClientOrderId,
            203 => RejectReason::UnknownOrder,
            204 => RejectReason::PostOnlyWouldMatch,
            205 => RejectReason::FokNotFilled,
            206 => RejectReason::InvalidQuote,
            207 => RejectReason::InvalidOrderReference,
            208 => RejectReason::OutsidePriceBand,
            209 => RejectReason::MarketSuspendedDuringDelay,
            210 => RejectReason::InPlayDelay,
            300 => RejectReason::InsufficientFunds,
            301 => RejectReason::ExposureLimit,
            302 => RejectReason::MaxOpenOrders,
            303 => RejectReason::KillSwitch,
            304 => RejectReason::PoolLimit,
            400 => RejectReason::UnknownAccount,
            401 => RejectReason::DuplicateAccount,
            402 => RejectReason::ReservedAccount,
            403 => RejectReason::InvalidAmount,
            404 => RejectReason::DuplicateTransferId,
            405 => RejectReason::InsufficientFreeBalance,
            406 => RejectReason::InvalidLimits,
            407 => RejectReason::RoleNotPermitted,
            408 => RejectReason::DuplicateApiKey,
            409 => RejectReason::InvalidApiKey,
            500 => RejectReason::OrderCapacity,
            501 => RejectReason::MarketCapacity,
            502 => RejectReason::AccountCapacity,
            _ => return None,
        })
    }

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
            RejectReason::InvalidSchedule => "invalid_schedule",
            RejectReason::NothingToChange => "nothing_to_change",
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
            RejectReason::DuplicateApiKey => "duplicate_api_key",
            RejectReason::InvalidApiKey => "invalid_api_key",
            RejectReason::OrderCapacity => "order_capacity",
            RejectReason::MarketCapacity => "market_capacity",
            RejectReason::AccountCapacity => "account_capacity",
        }
    }
}

/// Why an order left the book without being fully matched.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
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

/// The archived form of a [`RejectReason`]: its numeric code, little endian.
///
/// Validation (`rkyv::access`) accepts only the codes of [`RejectReason::ALL`], so an archived
/// reason always converts back. The code, not a variant index, is stored so that the journal
/// format does not depend on the order in which variants are declared.
#[derive(rkyv::Portable, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct ArchivedRejectReason(rkyv::Archived<u16>);

impl ArchivedRejectReason {
    /// The reason stored (validation guarantees that there is one).
    pub fn get(&self) -> Option<RejectReason> {
        RejectReason::from_code(self.0.to_native())
    }
}

/// A reject code that names no [`RejectReason`].
#[derive(Debug)]
struct UnknownRejectCode(u16);

impl std::fmt::Display for UnknownRejectCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown reject reason code {}", self.0)
    }
}

impl std::error::Error for UnknownRejectCode {}

// SAFETY: `check_bytes` returns `Ok` only for a valid code; every bit pattern of the `u16`
// inside is a valid `Archived<u16>`, so reading it through an aligned pointer is sound.
unsafe impl<C> rkyv::bytecheck::CheckBytes<C> for ArchivedRejectReason
where
    C: rkyv::rancor::Fallible + ?Sized,
    C::Error: rkyv::rancor::Source,
{
    unsafe fn check_bytes(value: *const Self, _context: &mut C) -> Result<(), C::Error> {
        // SAFETY: the caller guarantees that `value` is aligned and points to readable bytes.
        let code = unsafe { (*value).0 }.to_native();
        if RejectReason::from_code(code).is_none() {
            rkyv::rancor::fail!(UnknownRejectCode(code));
        }
        Ok(())
    }
}

impl rkyv::Archive for RejectReason {
    type Archived = ArchivedRejectReason;
    type Resolver = ();

    fn resolve(&self, (): (), out: rkyv::Place<ArchivedRejectReason>) {
        rkyv::munge::munge!(let ArchivedRejectReason(code) = out);
        rkyv::Archive::resolve(&self.code(), (), code);
    }
}

impl<S: rkyv::rancor::Fallible + ?Sized> rkyv::Serialize<S> for RejectReason {
    fn serialize(&self, _serializer: &mut S) -> Result<(), S::Error> {
        Ok(())
    }
}

impl<D> rkyv::Deserialize<RejectReason, D> for ArchivedRejectReason
where
    D: rkyv::rancor::Fallible + ?Sized,
    D::Error: rkyv::rancor::Source,
{
    fn deserialize(&self, _deserializer: &mut D) -> Result<RejectReason, D::Error> {
        match self.get() {
            Some(reason) => Ok(reason),
            None => rkyv::rancor::fail!(UnknownRejectCode(self.0.to_native())),
        }
    }
}
