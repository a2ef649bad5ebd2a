//! Markets: creation, the lifecycle, settlement and void.

use rustc_hash::FxHashMap;

use super::{Engine, Market, Subject, market_data, pools, reject, votes};
use crate::book::OrderBook;
use crate::command::{CommandKind, MarketSpec};
use crate::config::{
    BET_DELAY_RANGE, CIRCUIT_BREAKER_RANGE, CIRCUIT_BREAKER_WINDOW_RANGE, LOCK_BEFORE_END_RANGE,
    MAX_AMOUNT_MINOR, MAX_SELECTIONS, MarketDefaults, ODDS_CHANGE_THRESHOLD_RANGE,
    ODDS_HEARTBEAT_RANGE, ODDS_TICK_INTERVAL_RANGE, PRICE_BAND_RANGE, TAKEOUT_RANGE,
};
use crate::event::{Event, MAX_PLACES, PostingKind, Winners};
use crate::order::NIL;
use crate::reason::{CancelReason, RejectReason};
use crate::risk::{Position, floor_minor};
use crate::types::{
    AccountId, MarketId, MarketKind, MarketStatus, Persistence, SelectionId, StatusCause,
};

/// Index of the house rounding account (created first by `Engine::new`).
pub(super) const HOUSE_ROUNDING_INDEX: usize = 0;
/// Index of the house commission account (it also receives pool takeout).
pub(super) const HOUSE_COMMISSION_INDEX: usize = 1;

/// A market's knobs, resolved against the node's defaults when it was created. Times are in
/// nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(super) struct MarketRules {
    pub takeout_bps: u16,
    pub max_pool_minor: i64,
    pub max_bet_minor: i64,
    pub max_exposure_minor: i64,
    pub market_data: bool,
    pub odds_change_threshold_bps: u16,
    pub odds_tick_interval_ns: u64,
    pub odds_heartbeat_ns: u64,
    pub circuit_breaker_bps: u16,
    pub circuit_breaker_window_ns: u64,
    pub circuit_breaker_min_pool_minor: i64,
    pub price_band_bps: Option<u16>,
    /// When the market locks; cleared once it has.
    pub lock_at_ns: Option<u64>,
    /// When the market closes; cleared once it has.
    pub close_at_ns: Option<u64>,
    pub bet_delay_ns: u64,
}

const NS_PER_MS: u64 = 1_000_000;

impl MarketRules {
    /// Resolves a definition's knobs; `None` if one is out of its range.
    fn resolve(spec: &MarketSpec, defaults: &MarketDefaults) -> Option<MarketRules> {
        let threshold = spec
            .odds_change_threshold_bps
            .unwrap_or(defaults.odds_change_threshold_bps);
        let interval = spec
            .odds_tick_interval_ms
            .unwrap_or(defaults.odds_tick_interval_ms);
        let heartbeat = spec.odds_heartbeat_ms.unwrap_or(defaults.odds_heartbeat_ms);
        let breaker = spec
            .circuit_breaker_bps
            .unwrap_or(defaults.circuit_breaker_bps);
        let window = spec
            .circuit_breaker_window_ms
            .unwrap_or(defaults.circuit_breaker_window_ms);
        let min_pool = spec
            .circuit_breaker_min_pool_minor
            .unwrap_or(defaults.circuit_breaker_min_pool_minor);
        let lock_before_end = spec
            .lock_before_end_ms
            .unwrap_or(defaults.lock_before_end_ms);
        let amount = |v: Option<i64>| match v {
            None => Some(i64::MAX),
            Some(v) if (1..=MAX_AMOUNT_MINOR).contains(&v) => Some(v),
            Some(_) => None,
        };
        let in_range = ODDS_CHANGE_THRESHOLD_RANGE.contains(&threshold)
            && ODDS_TICK_INTERVAL_RANGE.contains(&interval)
            && ODDS_HEARTBEAT_RANGE.contains(&heartbeat)
            && CIRCUIT_BREAKER_RANGE.contains(&breaker)
            && CIRCUIT_BREAKER_WINDOW_RANGE.contains(&window)
            && (0..=MAX_AMOUNT_MINOR).contains(&min_pool)
            && LOCK_BEFORE_END_RANGE.contains(&lock_before_end)
            && BET_DELAY_RANGE.contains(&spec.bet_delay_ms)
            && TAKEOUT_RANGE.contains(&spec.takeout_bps)
            && spec
                .price_band_bps
                .is_none_or(|band| PRICE_BAND_RANGE.contains(&band))
            // A market locks at one time: `lock_at` or `end_at`, not both.
            && !(spec.lock_at.is_some() && spec.end_at.is_some())
            // The last instant means "never" to the deadline set.
            && [spec.lock_at, spec.end_at, spec.close_at]
                .iter()
                .all(|t| *t != Some(u64::MAX));
        if !in_range {
            return None;
        }
        let lock_at_ns = spec.lock_at.or_else(|| {
            spec.end_at
                .map(|end| end.saturating_sub(u64::from(lock_before_end) * NS_PER_MS))
        });
        Some(MarketRules {
            takeout_bps: spec.takeout_bps,
            max_pool_minor: amount(spec.max_pool_minor)?,
            max_bet_minor: amount(spec.max_bet_minor)?,
            max_exposure_minor: amount(spec.max_exposure_minor)?,
            market_data: spec.market_data.unwrap_or(defaults.market_data),
            odds_change_threshold_bps: threshold,
            odds_tick_interval_ns: u64::from(interval) * NS_PER_MS,
            odds_heartbeat_ns: u64::from(heartbeat) * NS_PER_MS,
            circuit_breaker_bps: breaker,
            circuit_breaker_window_ns: u64::from(window) * NS_PER_MS,
            circuit_breaker_min_pool_minor: min_pool,
            price_band_bps: spec.price_band_bps,
            lock_at_ns,
            close_at_ns: spec.close_at,
            bet_delay_ns: u64::from(spec.bet_delay_ms) * NS_PER_MS,
        })
    }
}

impl<B: OrderBook> Engine<B> {
    pub(super) fn create_market(&mut self, events: &mut Vec<Event>, spec: &MarketSpec) {
        let command = CommandKind::CreateMarket;
        let market = spec.market;
        let subject = Subject {
            market: Some(market),
            ..Subject::default()
        };
        if self.market_index.contains_key(&market) {
            return reject(events, command, RejectReason::DuplicateMarket, subject);
        }
        if self.markets.len() >= self.config.max_markets as usize {
            return reject(events, command, RejectReason::MarketCapacity, subject);
        }
        let selections = &spec.selections;
        let places = spec.places;
        // The length is checked first so that the quadratic distinctness scan is bounded.
        let valid = (2..=MAX_SELECTIONS).contains(&selections.len())
            && selections
                .iter()
                .enumerate()
                .all(|(i, s)| !selections[..i].contains(s))
            && places >= 1
            && usize::from(places) < selections.len()
            && usize::from(places) <= MAX_PLACES
            && spec.commission_bps <= 10_000
            && match spec.kind {
                MarketKind::Exchange => spec.takeout_bps == 0 && spec.max_pool_minor.is_none(),
                MarketKind::Pool => spec.commission_bps == 0 && spec.bet_delay_ms == 0,
            }
            && spec
                .resolution
                .is_none_or(|r| votes::valid_rules(&r, places, self.ts_ns));
        let rules = MarketRules::resolve(spec, &self.config.market_defaults);
        let Some(rules) = rules.filter(|_| valid) else {
            return reject(
                events,
                command,
                RejectReason::InvalidMarketDefinition,
                subject,
            );
        };
        let index = self.markets.len() as u32;
        let ladder = spec.ladder;
        self.markets.push(Market {
            id: market,
            kind: spec.kind,
            status: MarketStatus::Pending,
            places,
            ladder,
            commission_bps: spec.commission_bps,
            selections: selections.as_slice().into(),
            books: (0..selections.len())
                .map(|_| B::new(ladder.price_count()))
                .collect(),
            positions: Vec::new(),
            position_index: FxHashMap::default(),
            rules,
            book_seq: 0,
            odds: market_data::OddsState::new(selections.len()),
            pool: pools::PoolState::new(spec.kind, selections.len()),
            delayed: std::collections::VecDeque::new(),
            votes: spec
                .resolution
                .map(|r| Box::new(votes::VoteState::new(r, selections.len()))),
            scheduled_ns: u64::MAX,
            dirty: 0,
            dirty_depth: 0,
            touched: false,
            status_changed: false,
        });
        self.market_index.insert(market, index);
        events.push(Event::MarketCreated {
            market,
            kind: spec.kind,
            selections: selections.len() as u16,
            places,
            ladder,
            commission_bps: spec.commission_bps,
            takeout_bps: spec.takeout_bps,
        });
        // Its timers (a vote window, a lock) are scheduled at the end of the command.
        self.touch(index);
    }

    /// Looks up a market whose state is one of `from`; rejects otherwise.
    fn transition_source(
        &self,
        events: &mut Vec<Event>,
        command: CommandKind,
        market: MarketId,
        from: &[MarketStatus],
    ) -> Option<u32> {
        let subject = Subject {
            market: Some(market),
            ..Subject::default()
        };
        let Some(index) = self.market_index.get(&market).copied() else {
            reject(events, command, RejectReason::UnknownMarket, subject);
            return None;
        };
        let status = self.markets[index as usize].status;
        if from.contains(&status) {
            return Some(index);
        }
        let reason = if status.is_final() {
            RejectReason::MarketFinalized
        } else {
            RejectReason::InvalidMarketTransition
        };
        reject(events, command, reason, subject);
        None
    }

    pub(super) fn set_status(
        &mut self,
        events: &mut Vec<Event>,
        index: u32,
        status: MarketStatus,
        cause: StatusCause,
    ) {
        let market = &mut self.markets[index as usize];
        market.status = status;
        market.status_changed = true;
        market.book_seq += 1;
        events.push(Event::MarketStatus {
            market: market.id,
            book_seq: market.book_seq,
            status,
            cause,
        });
        if status != MarketStatus::Open {
            self.reject_delayed(events, index);
        }
        self.touch(index);
    }

    /// Cancels the market's unmatched orders, all of them or only the `lapse` ones, in book
    /// order (selection by selection, backs then lays, by tick, oldest first).
    fn cancel_market_orders(
        &mut self,
        events: &mut Vec<Event>,
        index: u32,
        lapse_only: bool,
        reason: CancelReason,
    ) {
        let mut slots = Vec::new();
        for book in self.markets[index as usize].books.iter() {
            book.for_each(&self.orders, &mut |slot| {
                if !lapse_only || self.orders[slot].persistence == Persistence::Lapse {
                    slots.push(slot);
                }
            });
        }
        for slot in slots {
            self.cancel_resting(events, slot, reason);
        }
    }

    pub(super) fn open_market(&mut self, events: &mut Vec<Event>, market: MarketId) {
        let from = [MarketStatus::Pending];
        if let Some(index) = self.transition_source(events, CommandKind::OpenMarket, market, &from)
        {
            self.set_status(events, index, MarketStatus::Open, StatusCause::Operator);
        }
    }

    pub(super) fn suspend_market(&mut self, events: &mut Vec<Event>, market: MarketId) {
        let from = [MarketStatus::Open];
        if let Some(index) =
            self.transition_source(events, CommandKind::SuspendMarket, market, &from)
        {
            self.suspend(events, index, StatusCause::Operator);
        }
    }

    /// `open -> suspended`: unmatched `lapse` orders are cancelled, delayed orders rejected.
    pub(super) fn suspend(&mut self, events: &mut Vec<Event>, index: u32, cause: StatusCause) {
        self.set_status(events, index, MarketStatus::Suspended, cause);
        self.cancel_market_orders(events, index, true, CancelReason::MarketSuspended);
    }

    pub(super) fn resume_market(&mut self, events: &mut Vec<Event>, market: MarketId) {
        let from = [MarketStatus::Suspended];
        if let Some(index) =
            self.transition_source(events, CommandKind::ResumeMarket, market, &from)
        {
            // Moves are measured from the odds at the resumption: the move that tripped the
            // breaker does not trip it again, and the next jump is still watched.
            self.reseed_breakers(index);
            self.set_status(events, index, MarketStatus::Open, StatusCause::Operator);
        }
    }

    pub(super) fn close_market(&mut self, events: &mut Vec<Event>, market: MarketId) {
        let from = [MarketStatus::Open, MarketStatus::Suspended];
        if let Some(index) = self.transition_source(events, CommandKind::CloseMarket, market, &from)
        {
            self.close(events, index, StatusCause::Operator);
        }
    }

    /// `open | suspended -> closed`: every unmatched order is cancelled.
    pub(super) fn close(&mut self, events: &mut Vec<Event>, index: u32, cause: StatusCause) {
        self.set_status(events, index, MarketStatus::Closed, cause);
        self.cancel_market_orders(events, index, false, CancelReason::MarketClosed);
    }

    pub(super) fn settle_market(
        &mut self,
        events: &mut Vec<Event>,
        market: MarketId,
        winners: &[SelectionId],
    ) {
        let command = CommandKind::SettleMarket;
        let from = [MarketStatus::Suspended, MarketStatus::Closed];
        let Some(index) = self.transition_source(events, command, market, &from) else {
            return;
        };
        let state = &self.markets[index as usize];
        let winner_indexes: Option<Vec<u16>> =
            winners.iter().map(|w| state.selection_index(*w)).collect();
        let valid = winners.len() == usize::from(state.places)
            && winner_indexes.as_ref().is_some_and(|indexes| {
                indexes
                    .iter()
                    .enumerate()
                    .all(|(i, s)| !indexes[..i].contains(s))
            });
        let (Some(winner_indexes), true) = (winner_indexes, valid) else {
            let subject = Subject {
                market: Some(market),
                ..Subject::default()
            };
            return reject(events, command, RejectReason::InvalidWinners, subject);
        };
        self.settle(events, index, &winner_indexes, StatusCause::Operator);
    }

    /// Settles a suspended or closed market on valid winners (selection indexes).
    pub(super) fn settle(
        &mut self,
        events: &mut Vec<Event>,
        index: u32,
        winner_indexes: &[u16],
        cause: StatusCause,
    ) {
        self.cancel_market_orders(events, index, false, CancelReason::MarketClosed);
        let state = &self.markets[index as usize];
        let winners: Vec<SelectionId> = winner_indexes
            .iter()
            .map(|w| state.selections[usize::from(*w)])
            .collect();
        events.push(Event::MarketSettled {
            market: state.id,
            winners: Winners::new(&winners).expect("places is at most MAX_PLACES"),
        });
        match state.kind {
            MarketKind::Exchange => {
                self.pay_out(events, index, |s| winner_indexes.contains(&(s as u16)))
            }
            MarketKind::Pool => self.pay_out_pool(events, index, winner_indexes),
        }
        self.set_status(events, index, MarketStatus::Settled, cause);
    }

    pub(super) fn void_market(&mut self, events: &mut Vec<Event>, market: MarketId) {
        let from = [
            MarketStatus::Pending,
            MarketStatus::Open,
            MarketStatus::Suspended,
            MarketStatus::Closed,
        ];
        let Some(index) = self.transition_source(events, CommandKind::VoidMarket, market, &from)
        else {
            return;
        };
        self.void(events, index, StatusCause::Operator);
    }

    /// Calls a market that is not final off: orders are cancelled, bets refunded and every
    /// position released with no profit or loss.
    pub(super) fn void(&mut self, events: &mut Vec<Event>, index: u32, cause: StatusCause) {
        let market = self.markets[index as usize].id;
        self.reject_delayed(events, index);
        self.cancel_market_orders(events, index, false, CancelReason::MarketClosed);
        if self.markets[index as usize].kind == MarketKind::Pool {
            self.refund_pool(events, index);
        }
        let positions = std::mem::take(&mut self.markets[index as usize].positions);
        self.markets[index as usize].position_index.clear();
        for position in &positions {
            let account = self.release_position(index, position);
            events.push(Event::AccountSettled {
                account,
                market,
                pnl_minor: 0,
                commission_minor: 0,
            });
        }
        self.set_status(events, index, MarketStatus::Voided, cause);
    }

    /// Forgets a position of the market at `index` that has been taken out of the market (it
    /// holds no orders): its exposure leaves the account, and so does its entry in the
    /// account's list of positions. Returns the account's id.
    pub(super) fn release_position(&mut self, index: u32, position: &Position) -> AccountId {
        debug_assert_eq!(position.orders.head, NIL);
        let account = &mut self.accounts[position.account as usize];
        account.exposure_minor -= position.exposure_minor;
        account.positions.retain(|(market, _)| *market != index);
        account.id
    }

    /// Pays every position of a market whose unmatched orders are all cancelled: each
    /// account's exact result rounded down, commission on a positive result, and the rounding
    /// residue to the house. The positions are released.
    fn pay_out(&mut self, events: &mut Vec<Event>, index: u32, is_winner: impl Fn(usize) -> bool) {
        let market = &mut self.markets[index as usize];
        let (market_id, commission_bps) = (market.id, market.commission_bps);
        let positions = std::mem::take(&mut market.positions);
        market.position_index.clear();
        let reference = u64::from(market_id.0);
        let mut paid_minor: i64 = 0;
        let mut commission_total_minor: i64 = 0;
        for position in &positions {
            let pnl_minor = floor_minor(position.result(&is_winner));
            let commission_minor = if pnl_minor > 0 {
                let commission = i128::from(pnl_minor) * i128::from(commission_bps) / 10_000;
                i64::try_from(commission).expect("commission is below the result")
            } else {
                0
            };
            paid_minor += pnl_minor;
            commission_total_minor += commission_minor;
            let account_id = self.release_position(index, position);
            events.push(Event::AccountSettled {
                account: account_id,
                market: market_id,
                pnl_minor,
                commission_minor,
            });
            self.post(
                events,
                position.account as usize,
                PostingKind::Settlement,
                pnl_minor,
                reference,
            );
            self.post(
                events,
                position.account as usize,
                PostingKind::Commission,
                -commission_minor,
                reference,
            );
        }
        // Exact results sum to zero, so the rounded ones sum to at most zero.
        debug_assert!(paid_minor <= 0);
        self.post(
            events,
            HOUSE_COMMISSION_INDEX,
            PostingKind::Commission,
            commission_total_minor,
            reference,
        );
        self.post(
            events,
            HOUSE_ROUNDING_INDEX,
            PostingKind::Rounding,
            -paid_minor,
            reference,
        );
    }

    /// Posts a non-zero amount to an account and reports it.
    pub(super) fn post(
        &mut self,
        events: &mut Vec<Event>,
        account: usize,
        kind: PostingKind,
        amount_minor: i64,
        reference: u64,
    ) {
        if amount_minor == 0 {
            return;
        }
        let account = &mut self.accounts[account];
        account.balance_minor += amount_minor;
        events.push(Event::Ledger {
            account: account.id,
            kind,
            amount_minor,
            balance_minor: account.balance_minor,
            reference,
        });
    }
}
