//! The reference feed, price bands and the circuit breaker.
//!
//! A feed account (role `feed`) sends `reference_odds`: one probability per selection. They
//! are shown in ticks, bound orders when the market has a price band, and are watched by the
//! circuit breaker together with pool markets' indicative odds: a move of more than
//! `circuit_breaker_bps` within `circuit_breaker_window_ms` suspends the market at once
//! (fail-closed); only an operator's `resume_market` reopens it.

use super::{Engine, Subject, reject};
use crate::book::OrderBook;
use crate::command::CommandKind;
use crate::event::Event;
use crate::odds::{Move, fair_odds_x100, implied_bps};
use crate::reason::RejectReason;
use crate::types::{AccountId, BreakerSource, MarketId, MarketStatus, StatusCause};

impl<B: OrderBook> Engine<B> {
    pub(super) fn reference_odds(
        &mut self,
        events: &mut Vec<Event>,
        account: AccountId,
        market: MarketId,
        probabilities_bps: &[u16],
    ) {
        let subject = Subject {
            account: Some(account),
            market: Some(market),
            ..Subject::default()
        };
        let found = self.feed_account(account).and_then(|_| {
            let index = *self
                .market_index
                .get(&market)
                .ok_or(RejectReason::UnknownMarket)?;
            let state = &self.markets[index as usize];
            if state.status.is_final() {
                return Err(RejectReason::MarketFinalized);
            }
            if probabilities_bps.len() != state.selections.len()
                || probabilities_bps.iter().any(|p| *p > 10_000)
            {
                return Err(RejectReason::InvalidReference);
            }
            Ok(index)
        });
        let index = match found {
            Ok(index) => index,
            Err(reason) => return reject(events, CommandKind::ReferenceOdds, reason, subject),
        };
        let now = self.ts_ns;
        let market_state = &mut self.markets[index as usize];
        market_state.odds.has_reference = true;
        let rules = market_state.rules;
        // Moves are recorded in every state (so that opening a market compares its first
        // odds with the feed's earlier ones) but trip the breaker only on an open market.
        let watch = market_state.status == MarketStatus::Open;
        let mut tripped = None;
        for (selection, &probability) in probabilities_bps.iter().enumerate() {
            let state = &mut market_state.odds.selections[selection];
            state.reference_bps = probability;
            let odds = fair_odds_x100(probability);
            if odds == 0 {
                continue;
            }
            let moved = state
                .reference_window
                .record(now, rules.circuit_breaker_window_ns, odds);
            if watch
                && tripped.is_none()
                && let Some(m) = moved
                && m.bps > u32::from(rules.circuit_breaker_bps)
            {
                tripped = Some((selection, m, odds));
            }
        }
        events.push(Event::ReferenceUpdated {
            market,
            account,
            total_bps: probabilities_bps.iter().map(|p| u32::from(*p)).sum(),
        });
        self.mark_all_dirty(index);
        if let Some((selection, m, odds)) = tripped {
            self.trip_breaker(events, index, selection, BreakerSource::Reference, m, odds);
        }
    }

    /// Starts the breaker's windows afresh from the odds in effect now (at a resumption).
    pub(super) fn reseed_breakers(&mut self, index: u32) {
        let now = self.ts_ns;
        let rules = self.markets[index as usize].rules;
        let pool_watched =
            self.markets[index as usize].pool.total_minor >= rules.circuit_breaker_min_pool_minor;
        for selection in 0..self.markets[index as usize].selections.len() {
            let displayed = self.displayed(index, selection);
            let state = &mut self.markets[index as usize].odds.selections[selection];
            state.reference_window.clear();
            state.indicative_window.clear();
            let window = rules.circuit_breaker_window_ns;
            if displayed.reference_x100 != 0 {
                state
                    .reference_window
                    .record(now, window, displayed.reference_x100);
            }
            if pool_watched && displayed.indicative_x100 != 0 {
                state
                    .indicative_window
                    .record(now, window, displayed.indicative_x100);
            }
        }
    }

    /// Suspends an open market whose odds moved too far, and says why.
    pub(super) fn trip_breaker(
        &mut self,
        events: &mut Vec<Event>,
        index: u32,
        selection: usize,
        source: BreakerSource,
        moved: Move,
        to_x100: u32,
    ) {
        let market = &self.markets[index as usize];
        if market.status != MarketStatus::Open {
            return;
        }
        events.push(Event::CircuitBreakerTripped {
            market: market.id,
            selection: market.selections[selection],
            source,
            from_x100: moved.from_x100,
            to_x100,
            move_bps: moved.bps,
        });
        self.suspend(events, index, StatusCause::CircuitBreaker);
    }

    /// Whether an order at `odds_x100` is inside the market's price band around the
    /// selection's reference probability (always, without a band or a reference).
    pub(super) fn inside_price_band(&self, index: u32, selection: u16, odds_x100: u32) -> bool {
        let market = &self.markets[index as usize];
        let Some(band) = market.rules.price_band_bps else {
            return true;
        };
        if !market.odds.has_reference {
            return true;
        }
        let reference = u32::from(market.odds.selections[usize::from(selection)].reference_bps);
        implied_bps(odds_x100).abs_diff(reference) <= u32::from(band)
    }
}
