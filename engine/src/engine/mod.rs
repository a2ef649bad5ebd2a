//! The state machine: [`Engine::apply`] turns one [`Input`] into events.
//!
//! The engine owns no threads, sockets, files or clocks. Like a sans-IO protocol core it is
//! driven from outside: by the shard loop in the server, by `oddsmatch sim`, by replay, by
//! tests and by benchmarks, all in exactly the same way.
//!
//! # Call protocol
//!
//! - Build it with [`Engine::new`] (the capacities are fixed for its lifetime).
//! - Feed inputs in sequence with [`Engine::apply`]; each returns the input's sequence number
//!   and appends the events it produced to the caller's buffer (the engine never clears it).
//! - Between inputs, read with the getters ([`Engine::balance`], [`Engine::depth`], ...) and
//!   check with [`Engine::state_hash`] and [`Engine::validate`]. Reads never change state.
//!
//! Handlers live in one file per subsystem: `accounts.rs` (accounts and the ledger),
//! `markets.rs` (creation, lifecycle and settlement), `orders.rs` (orders, matching and the
//! in-play delay), `quotes.rs` (mass quotes), `pools.rs` (pari-mutuel bets and settlement),
//! `feed.rs` (reference odds, price bands, the circuit breaker), `votes.rs` (resolution by
//! vote), `market_data.rs` (odds state, the book stream and ticks), `timers.rs` (deadlines),
//! `check.rs` (hash and validation) and `image.rs` (snapshots); the read-only queries a
//! gateway asks are in the crate's `query` module.

mod accounts;
mod check;
mod feed;
pub(crate) mod image;
mod market_data;

pub use market_data::{MarketOdds, SelectionOddsView};
mod markets;
mod orders;
mod pools;
mod quotes;
mod timers;
mod views;
mod votes;

use rustc_hash::FxHashMap;

use crate::book::{LadderBook, MatchStep, OrderBook};
use crate::command::{Command, CommandKind, Input};
use crate::config::{EngineConfig, TierLimits};
use crate::event::Event;
use crate::ladder::LadderKind;
use crate::order::OrderSlab;
use crate::reason::RejectReason;
use crate::recent::RecentKeys;
use crate::risk::Position;
use crate::types::{
    AccountId, ApiSecret, MarketId, MarketKind, MarketStatus, OrderId, Role, SelectionId,
    SelfTradePrevention, Side, Tier,
};

/// One account's state.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct Account {
    id: AccountId,
    tier: Tier,
    limits: TierLimits,
    stp: SelfTradePrevention,
    role: Role,
    kill_switch: bool,
    balance_minor: i64,
    /// Sum of the exposures of the account's positions.
    exposure_minor: i64,
    open_orders: u32,
    /// The account's API key: its id and secret (house accounts have none).
    api_key: Option<(u64, ApiSecret)>,
    /// The markets the account has a position on, as (market index, position index), in the
    /// order it first traded them. Its open orders hang off those positions.
    positions: Vec<(u32, u32)>,
}

/// One market's state.
#[derive(Clone, Debug)]
struct Market<B> {
    id: MarketId,
    kind: MarketKind,
    status: MarketStatus,
    places: u8,
    ladder: LadderKind,
    commission_bps: u16,
    selections: Box<[SelectionId]>,
    books: Box<[B]>,
    /// Positions in the order accounts first traded here.
    positions: Vec<Position>,
    position_index: FxHashMap<u32, u32>,
    /// The knobs it was created with, resolved against the node's defaults.
    rules: markets::MarketRules,
    /// Sequence number of the last book-stream event (`market_status`, `trade`,
    /// `book_depth`, `pool_changed`).
    book_seq: u64,
    /// Odds state, tick filter and circuit breaker memory.
    odds: market_data::OddsState,
    /// Pools and bets (pool markets; empty otherwise).
    pool: pools::PoolState,
    /// Orders waiting out the in-play delay, oldest first: (slot, order id, due time).
    delayed: std::collections::VecDeque<(u32, OrderId, u64)>,
    /// The vote of a market resolved by vote.
    votes: Option<Box<votes::VoteState>>,
    /// The deadline this market has in the engine's timer set (`u64::MAX`: none).
    scheduled_ns: u64,
    /// Selections whose displayed odds may have changed during the current command (bit per
    /// selection).
    dirty: u64,
    /// Book sides whose shown levels may have changed during the current command (bit
    /// `2 * selection + side`, backs 0, lays 1).
    dirty_depth: u128,
    /// Whether the market is on the engine's list of markets touched by the current command.
    touched: bool,
    /// Whether the market changed state during the current command.
    status_changed: bool,
}

impl<B> Market<B> {
    fn selection_index(&self, selection: SelectionId) -> Option<u16> {
        self.selections
            .iter()
            .position(|s| *s == selection)
            .map(|index| index as u16)
    }
}

/// The deterministic exchange engine of one shard, generic over its book implementation.
#[derive(Clone, Debug)]
pub struct Engine<B: OrderBook = LadderBook> {
    config: EngineConfig,
    /// Sequence number of the last input applied.
    seq: u64,
    /// Timestamp of the last input applied.
    ts_ns: u64,
    next_order_id: u64,
    accounts: Vec<Account>,
    account_index: FxHashMap<AccountId, u32>,
    /// Account id -> account index, in id order (for listing accounts a page at a time).
    accounts_by_id: std::collections::BTreeMap<AccountId, u32>,
    /// API key id -> account index, for every account with a key.
    api_keys: FxHashMap<u64, u32>,
    markets: Vec<Market<B>>,
    market_index: FxHashMap<MarketId, u32>,
    orders: OrderSlab,
    order_index: FxHashMap<OrderId, u32>,
    client_order_ids: RecentKeys<(u32, u64), OrderId>,
    transfer_ids: RecentKeys<u64, ()>,
    deposits_minor: i128,
    withdrawals_minor: i128,
    /// Scratch buffer for matching, reused by every order.
    steps: Scratch<MatchStep>,
    /// Scratch space for mass quotes, reused by every mass quote.
    quote_scratch: quotes::QuoteScratch,
    /// Markets touched by the current command, flushed (depth, ticks, timers) at its end.
    touched: Scratch<u32>,
    /// Deadlines of markets: (due time, market index), earliest first.
    deadlines: std::collections::BTreeSet<(u64, u32)>,
    /// The earliest deadline (`u64::MAX`: none); every input checks it.
    next_deadline_ns: u64,
    /// Scratch for the markets whose deadlines fire in one input: (first due item, market).
    due: Scratch<(u64, u32)>,
}

/// A buffer reused from command to command. Its contents mean nothing between commands, so a
/// clone is empty, but it keeps the capacity: a cloned engine must not allocate either.
#[derive(Debug)]
pub(crate) struct Scratch<T>(Vec<T>);

impl<T> Default for Scratch<T> {
    fn default() -> Self {
        Scratch(Vec::new())
    }
}

impl<T> Scratch<T> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Scratch(Vec::with_capacity(capacity))
    }
}

impl<T> Clone for Scratch<T> {
    fn clone(&self) -> Self {
        Scratch::with_capacity(self.0.capacity())
    }
}

impl<T> std::ops::Deref for Scratch<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Scratch<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

/// One price level of a book, as [`Engine::depth`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepthLevel {
    /// Odds times 100.
    pub odds_x100: u32,
    /// Unmatched stake resting at these odds, in minor units.
    pub stake_minor: i64,
}

/// A live order, as [`Engine::order`] and [`crate::Query::OpenOrders`] report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderView {
    /// The order.
    pub order_id: OrderId,
    /// The owner.
    pub account: AccountId,
    /// The owner's id for it.
    pub client_order_id: u64,
    /// The market.
    pub market: MarketId,
    /// The selection.
    pub selection: SelectionId,
    /// Back or lay.
    pub side: Side,
    /// Odds times 100.
    pub odds_x100: u32,
    /// Unmatched stake in minor units.
    pub remaining_minor: i64,
}

/// The fields a `rejected` event may name.
#[derive(Clone, Copy, Debug, Default)]
struct Subject {
    account: Option<AccountId>,
    market: Option<MarketId>,
    client_order_id: Option<u64>,
    order_id: Option<OrderId>,
}

fn reject(events: &mut Vec<Event>, command: CommandKind, reason: RejectReason, subject: Subject) {
    events.push(Event::Rejected {
        command,
        reason,
        account: subject.account,
        market: subject.market,
        client_order_id: subject.client_order_id,
        order_id: subject.order_id,
    });
}

impl<B: OrderBook> Engine<B> {
    /// An empty engine with its house accounts.
    pub fn new(config: EngineConfig) -> Self {
        let mut engine = Engine {
            seq: 0,
            ts_ns: 0,
            next_order_id: 1,
            accounts: Vec::new(),
            account_index: FxHashMap::default(),
            accounts_by_id: std::collections::BTreeMap::new(),
            api_keys: FxHashMap::default(),
            markets: Vec::new(),
            market_index: FxHashMap::default(),
            orders: OrderSlab::with_capacity(config.max_orders),
            order_index: FxHashMap::default(),
            client_order_ids: RecentKeys::new(
                config.client_order_id_window as usize,
                config.hash_seed,
            ),
            transfer_ids: RecentKeys::new(config.transfer_id_window as usize, config.hash_seed),
            deposits_minor: 0,
            withdrawals_minor: 0,
            steps: Scratch::with_capacity(1_024),
            quote_scratch: quotes::QuoteScratch::default(),
            touched: Scratch::with_capacity(64),
            deadlines: std::collections::BTreeSet::new(),
            next_deadline_ns: u64::MAX,
            due: Scratch::with_capacity(64),
            config,
        };
        for id in [AccountId::HOUSE_ROUNDING, AccountId::HOUSE_COMMISSION] {
            engine.insert_account(
                id,
                Tier::House,
                TierLimits::for_tier(Tier::House),
                SelfTradePrevention::None,
                Role::Trader,
            );
        }
        engine
    }

    /// Applies one input, appends its events to `events` and returns its sequence number.
    pub fn apply(&mut self, input: &Input, events: &mut Vec<Event>) -> u64 {
        self.seq += 1;
        self.ts_ns = input.ts_ns;
        // What fell due by this input's time happens, and is published, before its command.
        if self.ts_ns >= self.next_deadline_ns {
            self.flush(events);
        }
        self.dispatch(&input.command, events);
        if !self.touched.is_empty() {
            self.flush(events);
        }
        self.seq
    }

    fn dispatch(&mut self, command: &Command, events: &mut Vec<Event>) {
        match command {
            Command::CreateAccount {
                account,
                tier,
                min_stake_minor,
                max_stake_minor,
                max_market_exposure_minor,
                max_open_orders,
                stp,
                role,
            } => self.create_account(
                events,
                *account,
                *tier,
                [
                    *min_stake_minor,
                    *max_stake_minor,
                    *max_market_exposure_minor,
                ],
                *max_open_orders,
                (*stp, *role),
            ),
            Command::Deposit {
                account,
                amount_minor,
                transfer_id,
            } => self.deposit(events, *account, *amount_minor, *transfer_id),
            Command::Withdraw {
                account,
                amount_minor,
                transfer_id,
            } => self.withdraw(events, *account, *amount_minor, *transfer_id),
            Command::KillSwitch { account, on } => self.kill_switch(events, *account, *on),
            Command::CreateMarket(spec) => self.create_market(events, spec),
            Command::OpenMarket { market } => self.open_market(events, *market),
            Command::SuspendMarket { market } => self.suspend_market(events, *market),
            Command::ResumeMarket { market } => self.resume_market(events, *market),
            Command::CloseMarket { market } => self.close_market(events, *market),
            Command::SettleMarket { market, winners } => {
                self.settle_market(events, *market, winners)
            }
            Command::VoidMarket { market } => self.void_market(events, *market),
            Command::PlaceOrder {
                account,
                market,
                selection,
                side,
                odds_x100,
                stake_minor,
                tif,
                post_only,
                persistence,
                client_order_id,
            } => self.place_order(
                events,
                orders::NewOrder {
                    account: *account,
                    market: *market,
                    selection: *selection,
                    side: *side,
                    odds_x100: *odds_x100,
                    stake_minor: *stake_minor,
                    tif: *tif,
                    post_only: *post_only,
                    persistence: *persistence,
                    client_order_id: *client_order_id,
                },
            ),
            Command::CancelOrder {
                account,
                market,
                order_id,
                client_order_id,
            } => self.cancel_order(events, *account, *market, *order_id, *client_order_id),
            Command::ReplaceOrder {
                account,
                market,
                order_id,
                odds_x100,
                stake_minor,
            } => self.replace_order(
                events,
                *account,
                *market,
                *order_id,
                *odds_x100,
                *stake_minor,
            ),
            Command::MassCancel { account, market } => self.mass_cancel(events, *account, *market),
            Command::MassQuote {
                account,
                market,
                quotes,
            } => self.mass_quote(events, *account, *market, quotes),
            Command::PlaceBet {
                account,
                market,
                selection,
                stake_minor,
                client_order_id,
            } => self.place_bet(
                events,
                *account,
                *market,
                *selection,
                *stake_minor,
                *client_order_id,
            ),
            Command::CancelBet {
                account,
                market,
                bet_id,
            } => self.cancel_bet(events, *account, *market, *bet_id),
            Command::ReferenceOdds {
                account,
                market,
                probabilities_bps,
            } => self.reference_odds(events, *account, *market, probabilities_bps),
            Command::Vote {
                account,
                market,
                selection,
            } => self.vote(events, *account, *market, *selection),
            Command::Timer {} => {}
            Command::Balances {} => self.balances(events),
            Command::SetApiKey {
                account,
                key_id,
                secret,
            } => self.set_api_key(events, *account, *key_id, *secret),
            Command::SetAccountLimits {
                account,
                tier,
                min_stake_minor,
                max_stake_minor,
                max_market_exposure_minor,
                max_open_orders,
                stp,
            } => self.set_account_limits(
                events,
                *account,
                *tier,
                [
                    *min_stake_minor,
                    *max_stake_minor,
                    *max_market_exposure_minor,
                ],
                *max_open_orders,
                *stp,
            ),
            Command::SetMarketKnobs(knobs) => self.set_market_knobs(events, knobs),
            Command::ScheduleMarket {
                market,
                lock_at,
                end_at,
                lock_before_end_ms,
                close_at,
                clear_lock,
                clear_close,
            } => self.schedule_market(
                events,
                *market,
                markets::ScheduleChange {
                    lock_at: *lock_at,
                    end_at: *end_at,
                    lock_before_end_ms: *lock_before_end_ms,
                    close_at: *close_at,
                    clear_lock: *clear_lock,
                    clear_close: *clear_close,
                },
            ),
        }
    }

    // -- getters --

    /// Sequence number of the last input applied (0 before the first).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Timestamp of the last input applied.
    pub fn ts_ns(&self) -> u64 {
        self.ts_ns
    }

    /// The earliest time at which something is due (a timed lock, the end of an in-play delay,
    /// a tick heartbeat, a vote window), `u64::MAX` if nothing is. An input with a timestamp at
    /// or after it (a `timer` input if nothing else arrives) makes it happen.
    pub fn next_deadline_ns(&self) -> u64 {
        self.next_deadline_ns
    }

    /// The capacities the engine was built with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// An account's balance in minor units.
    pub fn balance(&self, account: AccountId) -> Option<i64> {
        self.account(account).map(|a| a.balance_minor)
    }

    /// An account's total exposure over all markets, in minor units.
    pub fn exposure(&self, account: AccountId) -> Option<i64> {
        self.account(account).map(|a| a.exposure_minor)
    }

    /// An account's exposure on one market, in minor units (0 without a position).
    pub fn market_exposure(&self, account: AccountId, market: MarketId) -> Option<i64> {
        let account_index = *self.account_index.get(&account)?;
        let market = &self.markets[*self.market_index.get(&market)? as usize];
        Some(
            market
                .position_index
                .get(&account_index)
                .map_or(0, |p| market.positions[*p as usize].exposure_minor),
        )
    }

    /// An account's number of open orders.
    pub fn open_orders(&self, account: AccountId) -> Option<u32> {
        self.account(account).map(|a| a.open_orders)
    }

    /// A market's state.
    pub fn market_status(&self, market: MarketId) -> Option<MarketStatus> {
        self.market_index
            .get(&market)
            .map(|index| self.markets[*index as usize].status)
    }

    /// Every account id, house accounts first, then in creation order.
    pub fn account_ids(&self) -> impl Iterator<Item = AccountId> + '_ {
        self.accounts.iter().map(|a| a.id)
    }

    /// Sum of all balances, house accounts included.
    pub fn total_balance_minor(&self) -> i128 {
        self.accounts
            .iter()
            .map(|a| i128::from(a.balance_minor))
            .sum()
    }

    /// Deposits minus withdrawals since the start.
    pub fn net_deposits_minor(&self) -> i128 {
        self.deposits_minor - self.withdrawals_minor
    }

    /// The resting levels of one side of a selection's book, best first.
    pub fn depth(
        &self,
        market: MarketId,
        selection: SelectionId,
        resting_side: Side,
    ) -> Vec<DepthLevel> {
        let Some(market) = self
            .market_index
            .get(&market)
            .map(|i| &self.markets[*i as usize])
        else {
            return Vec::new();
        };
        let Some(selection) = market.selection_index(selection) else {
            return Vec::new();
        };
        let book = &market.books[usize::from(selection)];
        let mut ticks = Vec::new();
        book.for_each(&self.orders, &mut |slot| {
            let order = &self.orders[slot];
            if order.side == resting_side && ticks.last() != Some(&order.tick) {
                ticks.push(order.tick);
            }
        });
        if resting_side == Side::Lay {
            ticks.reverse();
        }
        ticks
            .into_iter()
            .map(|tick| DepthLevel {
                odds_x100: market.ladder.odds(tick),
                stake_minor: book.level_stake(&self.orders, resting_side, tick),
            })
            .collect()
    }

    /// A live order.
    pub fn order(&self, order_id: OrderId) -> Option<OrderView> {
        let slot = *self.order_index.get(&order_id)?;
        Some(self.order_view(slot))
    }

    /// The view of the live order in `slot`.
    fn order_view(&self, slot: u32) -> OrderView {
        let order = &self.orders[slot];
        let market = &self.markets[order.market as usize];
        OrderView {
            order_id: order.id,
            account: self.accounts[order.account as usize].id,
            client_order_id: order.client_order_id,
            market: market.id,
            selection: market.selections[usize::from(order.selection)],
            side: order.side,
            odds_x100: market.ladder.odds(order.tick),
            remaining_minor: order.remaining_minor,
        }
    }

    /// Number of live orders in the shard.
    pub fn live_orders(&self) -> u32 {
        self.orders.len()
    }

    fn account(&self, account: AccountId) -> Option<&Account> {
        self.account_index
            .get(&account)
            .map(|index| &self.accounts[*index as usize])
    }

    fn insert_account(
        &mut self,
        id: AccountId,
        tier: Tier,
        limits: TierLimits,
        stp: SelfTradePrevention,
        role: Role,
    ) -> u32 {
        let index = self.accounts.len() as u32;
        self.accounts.push(Account {
            id,
            tier,
            limits,
            stp,
            role,
            kill_switch: false,
            balance_minor: 0,
            exposure_minor: 0,
            open_orders: 0,
            api_key: None,
            positions: Vec::new(),
        });
        self.account_index.insert(id, index);
        self.accounts_by_id.insert(id, index);
        index
    }
}
