//! Markets: creation, the lifecycle, settlement and void.

use rustc_hash::FxHashMap;

use super::{Engine, Market, Subject, market_data, pools, reject, votes};
use crate::book::OrderBook;
use crate::command::{CommandKind, MarketKnobs, MarketSpec};
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
    /// The end time the lock was scheduled from (`end_at`); `None` when the lock was given as
    /// `lock_at` or there is none. It stays after the lock has happened.
    pub end_at_ns: Option<u64>,
    /// How long before `end_at` the market locks, in milliseconds.
    pub lock_before_end_ms: u32,
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
            end_at_ns: spec.end_at,
            lock_before_end_ms: lock_before_end,
        })
    }

    /// These rules with the knobs given changed, each checked against its range as at
    /// creation; `None` if one is out of range (or an in-play delay is asked of a pool).
    fn with_knobs(&self, knobs: &MarketKnobs, kind: MarketKind) -> Option<MarketRules> {
        fn set<T: PartialOrd + Copy>(
            to: &mut T,
            value: Option<T>,
            range: std::ops::RangeInclusive<T>,
        ) -> Option<()> {
            if let Some(value) = value {
                if !range.contains(&value) {
                    return None;
                }
                *to = value;
            }
            Some(())
        }
        // A time in milliseconds, kept in nanoseconds.
        fn ms(
            to: &mut u64,
            value: Option<u32>,
            range: std::ops::RangeInclusive<u32>,
        ) -> Option<()> {
            if let Some(ms) = value {
                if !range.contains(&ms) {
                    return None;
                }
                *to = u64::from(ms) * NS_PER_MS;
            }
            Some(())
        }
        // 0 removes a market limit; anything else is a limit of 1 to MAX_AMOUNT_MINOR.
        fn limit(to: &mut i64, value: Option<i64>) -> Option<()> {
            match value {
                None => {}
                Some(0) => *to = i64::MAX,
                Some(v) if (1..=MAX_AMOUNT_MINOR).contains(&v) => *to = v,
                Some(_) => return None,
            }
            Some(())
        }
        let mut r = *self;
        set(
            &mut r.odds_change_threshold_bps,
            knobs.odds_change_threshold_bps,
            ODDS_CHANGE_THRESHOLD_RANGE,
        )?;
        ms(
            &mut r.odds_tick_interval_ns,
            knobs.odds_tick_interval_ms,
            ODDS_TICK_INTERVAL_RANGE,
        )?;
        ms(
            &mut r.odds_heartbeat_ns,
            knobs.odds_heartbeat_ms,
            ODDS_HEARTBEAT_RANGE,
        )?;
        set(
            &mut r.circuit_breaker_bps,
            knobs.circuit_breaker_bps,
            CIRCUIT_BREAKER_RANGE,
        )?;
        ms(
            &mut r.circuit_breaker_window_ns,
            knobs.circuit_breaker_window_ms,
            CIRCUIT_BREAKER_WINDOW_RANGE,
        )?;
        set(
            &mut r.circuit_breaker_min_pool_minor,
            knobs.circuit_breaker_min_pool_minor,
            0..=MAX_AMOUNT_MINOR,
        )?;
        match knobs.price_band_bps {
            None => {}
            Some(0) => r.price_band_bps = None,
            Some(band) if PRICE_BAND_RANGE.contains(&band) => r.price_band_bps = Some(band),
            Some(_) => return None,
        }
        limit(&mut r.max_bet_minor, knobs.max_bet_minor)?;
        limit(&mut r.max_exposure_minor, knobs.max_exposure_minor)?;
        ms(&mut r.bet_delay_ns, knobs.bet_delay_ms, BET_DELAY_RANGE)?;
        if kind == MarketKind::Pool && r.bet_delay_ns != 0 {
            return None;
        }
        Some(r)
    }

    /// The `market_knobs_set` event of these rules.
    fn knobs_event(&self, market: MarketId) -> Event {
        let ms = |ns: u64| (ns / NS_PER_MS) as u32;
        let limit = |v: i64| if v == i64::MAX { 0 } else { v };
        Event::MarketKnobsSet {
            market,
            odds_change_threshold_bps: self.odds_change_threshold_bps,
            circuit_breaker_bps: self.circuit_breaker_bps,
            price_band_bps: self.price_band_bps.unwrap_or(0),
            odds_tick_interval_ms: ms(self.odds_tick_interval_ns),
            odds_heartbeat_ms: ms(self.odds_heartbeat_ns),
            circuit_breaker_window_ms: ms(self.circuit_breaker_window_ns),
            bet_delay_ms: ms(self.bet_delay_ns),
            circuit_breaker_min_pool_minor: self.circuit_breaker_min_pool_minor,
            max_bet_minor: limit(self.max_bet_minor),
            max_exposure_minor: limit(self.max_exposure_minor),
        }
    }
}

/// What `schedule_market` asks for (see [`crate::Command::ScheduleMarket`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct ScheduleChange {
    pub lock_at: Option<u64>,
    pub end_at: Option<u64>,
    pub lock_before_end_ms: Option<u32>,
    pub close_at: Option<u64>,
    pub clear_lock: bool,
    pub clear_close: bool,
}

impl ScheduleChange {
    /// Whether it sets a lock (a time, an end time or a new lead).
    fn sets_lock(&self) -> bool {
        self.lock_at.is_some() || self.end_at.is_some() || self.lock_before_end_ms.is_some()
    }

    fn is_empty(&self) -> bool {
        !self.sets_lock() && self.close_at.is_none() && !self.clear_lock && !self.clear_close
    }

    /// The rules with this schedule applied at time `now`, or why not.
    fn apply(&self, rules: &MarketRules, now: u64) -> Result<MarketRules, RejectReason> {
        let malformed = (self.lock_at.is_some() && self.end_at.is_some())
            || (self.clear_lock && self.sets_lock())
            || (self.clear_close && self.close_at.is_some())
            || self
                .lock_before_end_ms
                .is_some_and(|lead| !LOCK_BEFORE_END_RANGE.contains(&lead));
        if malformed {
            return Err(RejectReason::InvalidSchedule);
        }
        let mut r = *rules;
        if let Some(lead) = self.lock_before_end_ms {
            r.lock_before_end_ms = lead;
        }
        let lead_ns = u64::from(r.lock_before_end_ms) * NS_PER_MS;
        if let Some(lock_at) = self.lock_at {
            r.lock_at_ns = Some(lock_at);
            r.end_at_ns = None;
        } else if let Some(end_at) = self.end_at {
            r.end_at_ns = Some(end_at);
            r.lock_at_ns = Some(end_at.saturating_sub(lead_ns));
        } else if self.lock_before_end_ms.is_some() {
            // A new lead alone moves a lock scheduled from an end time.
            let end_at = r.end_at_ns.ok_or(RejectReason::InvalidSchedule)?;
            r.lock_at_ns = Some(end_at.saturating_sub(lead_ns));
        }
        if self.clear_lock {
            r.lock_at_ns = None;
            r.end_at_ns = None;
        }
        if let Some(close_at) = self.close_at {
            r.close_at_ns = Some(close_at);
        }
        if self.clear_close {
            r.close_at_ns = None;
        }
        // Every time given, and a lock it moves, is after this input (so that nothing
        // scheduled here is already due) and is not the deadline set's "never".
        let new_lock = r.lock_at_ns.filter(|_| self.sets_lock());
        let future = [self.lock_at, self.end_at, self.close_at, new_lock]
            .into_iter()
            .flatten()
            .all(|t| t > now && t != u64::MAX);
        if !future {
            return Err(RejectReason::InvalidSchedule);
        }
        Ok(r)
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

    /// Changes some of a market's knobs (`set_market_knobs`). The new values apply from this
    /// input on: ticks are judged, and the market's deadline is moved, at its end.
    pub(super) fn set_market_knobs(&mut self, events: &mut Vec<Event>, knobs: &MarketKnobs) {
        let command = CommandKind::SetMarketKnobs;
        let subject = Subject {
            market: Some(knobs.market),
            ..Subject::default()
        };
        let Some(index) = self.market_index.get(&knobs.market).copied() else {
            return reject(events, command, RejectReason::UnknownMarket, subject);
        };
        let market = &self.markets[index as usize];
        if market.status.is_final() {
            return reject(events, command, RejectReason::MarketFinalized, subject);
        }
        if knobs.is_empty() {
            return reject(events, command, RejectReason::NothingToChange, subject);
        }
        let Some(rules) = market.rules.with_knobs(knobs, market.kind) else {
            return reject(
                events,
                command,
                RejectReason::InvalidMarketDefinition,
                subject,
            );
        };
        let market = &mut self.markets[index as usize];
        market.rules = rules;
        events.push(rules.knobs_event(market.id));
        self.touch(index);
    }

    /// Moves, sets or clears a market's lock and close (`schedule_market`); the market's entry
    /// in the deadline set follows at the end of the input.
    pub(super) fn schedule_market(
        &mut self,
        events: &mut Vec<Event>,
        market: MarketId,
        change: ScheduleChange,
    ) {
        let command = CommandKind::ScheduleMarket;
        let subject = Subject {
            market: Some(market),
            ..Subject::default()
        };
        let Some(index) = self.market_index.get(&market).copied() else {
            return reject(events, command, RejectReason::UnknownMarket, subject);
        };
        let state = &self.markets[index as usize];
        let allowed = match state.status {
            MarketStatus::Settled | MarketStatus::Voided => {
                return reject(events, command, RejectReason::MarketFinalized, subject);
            }
            // A closed market has nothing left to lock or close; a suspended one is already
            // locked (its close may still move, and a lock left over may be cleared).
            MarketStatus::Closed => false,
            MarketStatus::Suspended => !change.sets_lock(),
            MarketStatus::Pending | MarketStatus::Open => true,
        };
        if !allowed {
            return reject(
                events,
                command,
                RejectReason::InvalidMarketTransition,
                subject,
            );
        }
        if change.is_empty() {
            return reject(events, command, RejectReason::NothingToChange, subject);
        }
        let rules = match change.apply(&state.rules, self.ts_ns) {
            Ok(rules) => rules,
            Err(reason) => return reject(events, command, reason, subject),
        };
        self.markets[index as usize].rules = rules;
        events.push(Event::MarketScheduled {
            market,
            lock_at: rules.lock_at_ns,
            end_at: rules.end_at_ns,
            close_at: rules.close_at_ns,
            lock_before_end_ms: rules.lock_before_end_ms,
        });
        self.touch(index);
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
