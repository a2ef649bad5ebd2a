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
    AccountId, MarketId, MarketKind, MarketStatus, OrderId, Persistence, SelectionId, Side, Tier,
    TimeInForce,
};

/// The most winners a market may be settled with (`places`).
pub const MAX_PLACES: usize = 8;

/// The winners of a settled market: at most [`MAX_PLACES`] selections, in the order named.
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
}

/// Something that happened.
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
    },
    /// A market changed state.
    MarketStatus {
        /// The market.
        market: MarketId,
        /// Its new state.
        status: MarketStatus,
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
    /// Two orders matched.
    Trade {
        /// The market.
        market: MarketId,
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
}

const _: () = assert!(size_of::<Event>() <= 64);
