//! Inputs to the engine.
//!
//! An [`Input`] is a [`Command`] with the time it was stamped with. The serde form is the line
//! format of `oddsmatch sim` (see `docs/sim-format.md`): `{"ts": .., "cmd": "place_order", ..}`.

use serde::{Deserialize, Serialize};

use crate::ladder::LadderKind;
use crate::types::{
    AccountId, MarketId, MarketKind, OrderId, Persistence, SelectionId, SelfTradePrevention, Side,
    Tier, TimeInForce,
};

/// One input: a command and the time the shard stamped it with.
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
    CreateMarket {
        /// The new market's id.
        market: MarketId,
        /// Its kind.
        #[serde(default)]
        kind: MarketKind,
        /// Its selections, distinct.
        selections: Vec<SelectionId>,
        /// How many winners settlement names (1 by default; more for place markets).
        #[serde(default = "default_places")]
        places: u8,
        /// The price ladder.
        #[serde(default)]
        ladder: LadderKind,
        /// Commission on each account's positive net result, in basis points.
        #[serde(default)]
        commission_bps: u16,
    },
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
    /// Emit one `balance` event per account (read only).
    Balances {},
}

fn default_places() -> u8 {
    1
}

/// One selection's two-sided quote in a mass quote.
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
        }
    }

    /// Which command this is.
    pub fn kind(&self) -> CommandKind {
        match self {
            Command::CreateAccount { .. } => CommandKind::CreateAccount,
            Command::Deposit { .. } => CommandKind::Deposit,
            Command::Withdraw { .. } => CommandKind::Withdraw,
            Command::KillSwitch { .. } => CommandKind::KillSwitch,
            Command::CreateMarket { .. } => CommandKind::CreateMarket,
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
            Command::Balances {} => CommandKind::Balances,
        }
    }
}

/// The name of a command without its arguments, carried by `rejected` events.
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
    Balances,
}
