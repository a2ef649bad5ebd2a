//! Outputs of the engine.
//!
//! Every input produces zero or more events, in the order they happened. Events are small
//! `Copy` values so that the engine can write them into a caller's buffer without allocating.

use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::command::CommandKind;
use crate::ladder::LadderKind;
use crate::reason::{CancelReason, RejectReason};
use crate::types::{
    AccountId, BreakerSource, MarketId, MarketKind, MarketStatus, OrderId, Persistence,
    SelectionId, SelfTradePrevention, Side, StatusCause, TickReason, Tier, TimeInForce,
};

/// The most winners a market may be settled with (`places`).
pub const MAX_PLACES: usize = 8;

/// The winners of a settled market: at most [`MAX_PLACES`] selections, in the order named.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug), bytecheck(verify))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Winners {
    len: u8,
    selections: [SelectionId; MAX_PLACES],
}

impl Winners {
    /// Collects winners; `None` if there are more than [`MAX_PLACES`].
    pub fn new(winners: &[SelectionId]) -> Option<Winners> {
        if winners.len() > MAX_PLACES {
            return None;
        }
        let mut result = Winners {
            len: winners.len() as u8,
            selections: [SelectionId(0); MAX_PLACES],
        };
        result.selections[..winners.len()].copy_from_slice(winners);
        Some(result)
    }

    /// The winning selections.
    pub fn as_slice(&self) -> &[SelectionId] {
        &self.selections[..usize::from(self.len)]
    }
}

impl Serialize for Winners {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(usize::from(self.len)))?;
        for selection in self.as_slice() {
            seq.serialize_element(selection)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Winners {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let winners = Vec::<SelectionId>::deserialize(deserializer)?;
        Winners::new(&winners).ok_or_else(|| serde::de::Error::custom("too many winners"))
    }
}

/// What moved money in a [`Event::Ledger`] posting.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostingKind {
    /// Money in from outside; `reference` is the transfer id.
    Deposit,
    /// Money out; `reference` is the transfer id.
    Withdrawal,
    /// An account's rounded net result on a settled market; `reference` is the market id.
    Settlement,
    /// Commission on a positive net result; `reference` is the market id.
    Commission,
    /// The rounding residue of a settlement; `reference` is the market id.
    Rounding,
    /// The house's share of a settled pool; `reference` is the market id.
    Takeout,
}

/// How many price levels per side the odds state keeps and the book stream shows.
pub const DISPLAY_LEVELS: usize = 3;

/// Something that happened.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// An account was created.
    AccountCreated {
        /// The account.
        account: AccountId,
        /// Its tier.
        tier: Tier,
    },
    /// Money moved on an account.
    Ledger {
        /// The account.
        account: AccountId,
        /// Why.
        kind: PostingKind,
        /// Signed amount in minor units: positive credits the account.
        #[serde(rename = "amount")]
        amount_minor: i64,
        /// The balance after the posting.
        #[serde(rename = "balance")]
        balance_minor: i64,
        /// The transfer id or the market id, according to `kind`.
        reference: u64,
    },
    /// An account's kill switch changed.
    KillSwitch {
        /// The account.
        account: AccountId,
        /// Whether it is now on.
        on: bool,
    },
    /// A market was created (in `pending`).
    MarketCreated {
        /// The market.
        market: MarketId,
        /// Its kind.
        kind: MarketKind,
        /// Number of selections.
        selections: u16,
        /// Number of winners at settlement.
        places: u8,
        /// Its price ladder.
        ladder: LadderKind,
        /// Commission in basis points.
        commission_bps: u16,
        /// Pool takeout in basis points.
        takeout_bps: u16,
    },
    /// A market changed state (book stream).
    MarketStatus {
        /// The market.
        market: MarketId,
        /// The market's book-stream sequence number.
        book_seq: u64,
        /// Its new state.
        status: MarketStatus,
        /// Why.
        cause: StatusCause,
    },
    /// A market was settled; one `account_settled` per account with a position follows.
    MarketSettled {
        /// The market.
        market: MarketId,
        /// The winners.
        winners: Winners,
    },
    /// One account's result on a settled or voided market.
    AccountSettled {
        /// The account.
        account: AccountId,
        /// The market.
        market: MarketId,
        /// Net result in minor units, rounded down (zero when voided).
        #[serde(rename = "pnl")]
        pnl_minor: i64,
        /// Commission charged on a positive result, in minor units.
        #[serde(rename = "commission")]
        commission_minor: i64,
    },
    /// An order was accepted (it may match and rest next).
    OrderAccepted {
        /// The engine's id for it.
        order_id: OrderId,
        /// The owner.
        account: AccountId,
        /// The owner's id for it.
        client_order_id: u64,
        /// The market.
        market: MarketId,
        /// The selection.
        selection: SelectionId,
        /// Back or lay.
        side: Side,
        /// Odds times 100.
        #[serde(rename = "odds")]
        odds_x100: u32,
        /// Stake in minor units.
        #[serde(rename = "stake")]
        stake_minor: i64,
        /// Time in force.
        tif: TimeInForce,
        /// Lapse or persist.
        persistence: Persistence,
        /// Whether it is a quote of a mass quote.
        quote: bool,
    },
    /// A command was refused; nothing changed.
    Rejected {
        /// Which command.
        command: CommandKind,
        /// Why.
        reason: RejectReason,
        /// The account named by the command, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<AccountId>,
        /// The market named by the command, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        market: Option<MarketId>,
        /// The client order id named by the command, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_order_id: Option<u64>,
        /// The order named by the command, or for `duplicate_client_order_id` the original
        /// order that holds the client order id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        order_id: Option<OrderId>,
    },
    /// An order left the book with unmatched stake.
    OrderCancelled {
        /// The order.
        order_id: OrderId,
        /// Its owner.
        account: AccountId,
        /// The market.
        market: MarketId,
        /// The selection.
        selection: SelectionId,
        /// Back or lay.
        side: Side,
        /// The unmatched stake cancelled, in minor units.
        #[serde(rename = "stake")]
        stake_minor: i64,
        /// Why.
        reason: CancelReason,
    },
    /// An order's odds or stake changed.
    OrderReplaced {
        /// The order.
        order_id: OrderId,
        /// Its owner.
        account: AccountId,
        /// The market.
        market: MarketId,
        /// The selection.
        selection: SelectionId,
        /// Back or lay.
        side: Side,
        /// New odds times 100.
        #[serde(rename = "odds")]
        odds_x100: u32,
        /// New unmatched stake in minor units.
        #[serde(rename = "stake")]
        stake_minor: i64,
        /// Whether the order kept its place in the queue.
        priority_kept: bool,
    },
    /// Two orders matched (book stream).
    Trade {
        /// The market.
        market: MarketId,
        /// The market's book-stream sequence number.
        book_seq: u64,
        /// The selection.
        selection: SelectionId,
        /// The resting order's odds times 100.
        #[serde(rename = "odds")]
        odds_x100: u32,
        /// Matched backer's stake in minor units.
        #[serde(rename = "stake")]
        stake_minor: i64,
        /// The resting order.
        maker_order_id: OrderId,
        /// The incoming order.
        taker_order_id: OrderId,
        /// The resting order's owner.
        maker_account: AccountId,
        /// The incoming order's owner.
        taker_account: AccountId,
        /// The incoming order's side.
        taker_side: Side,
    },
    /// The displayed depth of one side of a selection's book changed (book stream): its best
    /// [`DISPLAY_LEVELS`] levels as they now are, best first, zero-filled.
    BookDepth {
        /// The market.
        market: MarketId,
        /// The market's book-stream sequence number.
        book_seq: u64,
        /// The selection.
        selection: SelectionId,
        /// The side of the resting orders (`back`: best is the lowest odds; `lay`: the highest).
        side: Side,
        /// Odds times 100 of each level (0: no level).
        #[serde(rename = "odds")]
        odds_x100: [u32; DISPLAY_LEVELS],
        /// Unmatched stake of each level in minor units.
        #[serde(rename = "stakes")]
        stakes_minor: [i64; DISPLAY_LEVELS],
    },
    /// A selection's pool changed (book stream of pool markets).
    PoolChanged {
        /// The market.
        market: MarketId,
        /// The market's book-stream sequence number.
        book_seq: u64,
        /// The selection.
        selection: SelectionId,
        /// The selection's pool in minor units.
        #[serde(rename = "pool")]
        pool_minor: i64,
        /// The market's total pool in minor units.
        #[serde(rename = "total")]
        total_minor: i64,
    },
    /// Filtered odds for people and bots: the market's odds as they now are. One
    /// `selection_odds` per selection follows, in the market's selection order.
    OddsTick {
        /// The market.
        market: MarketId,
        /// The market's tick sequence number (gap-free over ticks).
        tick_seq: u64,
        /// Why it was published.
        reason: TickReason,
        /// The market's state.
        status: MarketStatus,
        /// How many `selection_odds` follow.
        selections: u16,
        /// Sum of the selections' implied probabilities, in basis points (0 when none has odds).
        overround_bps: u32,
    },
    /// One selection's odds within an `odds_tick`.
    SelectionOdds {
        /// The market.
        market: MarketId,
        /// The selection.
        selection: SelectionId,
        /// Best odds available to back (the best resting lay), times 100; 0 when none.
        #[serde(rename = "back")]
        back_x100: u32,
        /// Best odds available to lay (the best resting back), times 100; 0 when none.
        #[serde(rename = "lay")]
        lay_x100: u32,
        /// Last traded odds times 100; 0 before the first trade.
        #[serde(rename = "last_traded")]
        last_traded_x100: u32,
        /// Indicative pool odds times 100 (pool markets); 0 when the selection's pool is empty.
        #[serde(rename = "indicative")]
        indicative_x100: u32,
        /// Implied probability of the displayed odds, in basis points; 0 when none.
        implied_bps: u32,
        /// The feed's probability, in basis points; 0 before the first `reference_odds`.
        reference_bps: u16,
        /// Matched backer's stake so far, in minor units (exchange markets).
        #[serde(rename = "matched")]
        matched_minor: i64,
        /// The selection's pool, in minor units (pool markets).
        #[serde(rename = "pool")]
        pool_minor: i64,
    },
    /// A pool bet was accepted into its selection's pool.
    BetAccepted {
        /// The engine's id for it (from the order id sequence).
        bet_id: OrderId,
        /// The owner.
        account: AccountId,
        /// The owner's id for it.
        client_order_id: u64,
        /// The market.
        market: MarketId,
        /// The selection.
        selection: SelectionId,
        /// Stake in minor units.
        #[serde(rename = "stake")]
        stake_minor: i64,
    },
    /// A pool bet was taken back by its owner (`cancel_bet`).
    BetCancelled {
        /// The bet.
        bet_id: OrderId,
        /// Its owner.
        account: AccountId,
        /// The market.
        market: MarketId,
        /// The selection.
        selection: SelectionId,
        /// The stake returned, in minor units.
        #[serde(rename = "stake")]
        stake_minor: i64,
    },
    /// What one pool bet returned at settlement (0 for a losing bet; the stake when refunded).
    BetSettled {
        /// The bet.
        bet_id: OrderId,
        /// Its owner.
        account: AccountId,
        /// The market.
        market: MarketId,
        /// The stake, in minor units.
        #[serde(rename = "stake")]
        stake_minor: i64,
        /// The amount paid back, stake included, in minor units.
        #[serde(rename = "payout")]
        payout_minor: i64,
    },
    /// The feed's probabilities for a market were taken in.
    ReferenceUpdated {
        /// The market.
        market: MarketId,
        /// The feed account.
        account: AccountId,
        /// Sum of the probabilities, in basis points.
        total_bps: u32,
    },
    /// A selection's odds moved too far too fast; the market was suspended.
    CircuitBreakerTripped {
        /// The market.
        market: MarketId,
        /// The selection whose odds moved.
        selection: SelectionId,
        /// Which odds.
        source: BreakerSource,
        /// The odds times 100 the move is measured from (the furthest within the window).
        #[serde(rename = "from_odds")]
        from_x100: u32,
        /// The odds times 100 now.
        #[serde(rename = "to_odds")]
        to_x100: u32,
        /// The move in basis points of `from_odds`.
        move_bps: u32,
    },
    /// An order on a market with an in-play delay waits before it may match.
    OrderDelayed {
        /// The order.
        order_id: OrderId,
        /// The owner.
        account: AccountId,
        /// The market.
        market: MarketId,
        /// When it enters the book (ns since the epoch).
        until: u64,
    },
    /// A vote was counted.
    VoteAccepted {
        /// The voter.
        account: AccountId,
        /// The market.
        market: MarketId,
        /// The selection voted for.
        selection: SelectionId,
        /// The weight counted.
        weight: i64,
        /// Whether it replaced an earlier vote of the same account.
        replaced: bool,
    },
    /// The vote's window ended: the winner (settlement follows) or none (void follows).
    VoteResult {
        /// The market.
        market: MarketId,
        /// The selection that reached the threshold with the quorum met, if any.
        winner: Option<SelectionId>,
        /// How many accounts voted.
        voters: u32,
        /// Total weight of the votes.
        total_weight: i64,
        /// Weight of the winner's votes (of the leading selection when there is no winner).
        leading_weight: i64,
    },
    /// An account's balance and exposure (answer to `balances`).
    Balance {
        /// The account.
        account: AccountId,
        /// Balance in minor units.
        #[serde(rename = "balance")]
        balance_minor: i64,
        /// Total exposure over all markets in minor units.
        #[serde(rename = "exposure")]
        exposure_minor: i64,
    },
    /// An account's API key was set (the secret is never carried by an event).
    ApiKeySet {
        /// The account.
        account: AccountId,
        /// The key's id; the account's previous key id, if any, no longer resolves.
        key_id: u64,
    },
    /// An account's tier and limits were replaced (`set_account_limits`): the limits now in
    /// effect.
    AccountLimitsSet {
        /// The account.
        account: AccountId,
        /// Its tier.
        tier: Tier,
        /// Its self-trade prevention mode.
        stp: SelfTradePrevention,
        /// Most open orders at once (the account may hold more until they go).
        max_open_orders: u32,
        /// Smallest stake of one order, in minor units.
        #[serde(rename = "min_stake")]
        min_stake_minor: i64,
        /// Largest stake of one order, in minor units.
        #[serde(rename = "max_stake")]
        max_stake_minor: i64,
        /// Largest exposure on one market, in minor units.
        #[serde(rename = "max_market_exposure")]
        max_market_exposure_minor: i64,
    },
    /// A market's knobs changed (`set_market_knobs`): every knob as it now is.
    MarketKnobsSet {
        /// The market.
        market: MarketId,
        /// Smallest move of displayed odds that publishes a tick, in basis points.
        odds_change_threshold_bps: u16,
        /// Move of reference or indicative odds that suspends the market, in basis points.
        circuit_breaker_bps: u16,
        /// The price band in basis points (0: none).
        price_band_bps: u16,
        /// Shortest time between two change ticks, in milliseconds.
        odds_tick_interval_ms: u32,
        /// Silence after which a heartbeat tick is published, in milliseconds.
        odds_heartbeat_ms: u32,
        /// The circuit breaker's window, in milliseconds.
        circuit_breaker_window_ms: u32,
        /// In-play delay of new orders, in milliseconds (0: none).
        bet_delay_ms: u32,
        /// Total pool below which indicative odds cannot trip the breaker, in minor units.
        #[serde(rename = "circuit_breaker_min_pool")]
        circuit_breaker_min_pool_minor: i64,
        /// Largest single stake on the market, in minor units (0: no market limit).
        #[serde(rename = "max_bet")]
        max_bet_minor: i64,
        /// Largest exposure of one account on the market, in minor units (0: no market
        /// limit).
        #[serde(rename = "max_exposure")]
        max_exposure_minor: i64,
    },
    /// A market's timed lock or close changed (`schedule_market`): the schedule now in
    /// effect.
    MarketScheduled {
        /// The market.
        market: MarketId,
        /// When it locks (ns since the epoch), if it is to.
        lock_at: Option<u64>,
        /// The end time its lock follows, if it was scheduled by one.
        end_at: Option<u64>,
        /// When it closes, if it is to.
        close_at: Option<u64>,
        /// How long before `end_at` it locks, in milliseconds.
        lock_before_end_ms: u32,
    },
}

const _: () = assert!(size_of::<Event>() <= 64);

/// More winners than [`MAX_PLACES`] in an archived [`Winners`].
#[derive(Debug)]
struct TooManyWinners(u8);

impl std::fmt::Display for TooManyWinners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} winners, at most {MAX_PLACES} allowed", self.0)
    }
}

impl std::error::Error for TooManyWinners {}

// SAFETY: `verify` accepts only lengths that `Winners::as_slice` can slice with.
unsafe impl<C> rkyv::bytecheck::Verify<C> for ArchivedWinners
where
    C: rkyv::rancor::Fallible + ?Sized,
    C::Error: rkyv::rancor::Source,
{
    fn verify(&self, _context: &mut C) -> Result<(), C::Error> {
        if usize::from(self.len) > MAX_PLACES {
            rkyv::rancor::fail!(TooManyWinners(self.len));
        }
        Ok(())
    }
}
