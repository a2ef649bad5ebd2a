//! Mass quotes: a market maker replaces its whole set of quotes on a market at once.
//!
//! After a mass quote the account's quote orders on the market are exactly the legs it named.
//! A leg whose existing quote has the same odds keeps its queue priority (its stake is lowered
//! in place if the new stake is smaller, untouched if equal); every other existing quote is
//! cancelled (`quote_replaced`) and every other leg enters as a new good-till-cancelled,
//! `lapse` order, which may match. The request is validated and risk-checked as a whole before
//! anything changes: either all of it applies or none of it does.

use super::orders::Holder;
use super::{Engine, Scratch, Subject, reject};
use crate::book::OrderBook;
use crate::command::{CommandKind, Quote};
use crate::config::MAX_SELECTIONS;
use crate::event::Event;
use crate::ladder::Tick;
use crate::order::{NIL, Order};
use crate::reason::{CancelReason, RejectReason};
use crate::risk::{Contribution, exposure_minor};
use crate::types::{AccountId, MarketId, MarketKind, OrderId, Persistence, Side, TimeInForce};

/// Working space of a mass quote, kept by the engine between commands so that a market
/// maker's stream of mass quotes allocates nothing.
#[derive(Clone, Debug)]
pub(super) struct QuoteScratch {
    /// The legs of the request being applied.
    legs: Scratch<Leg>,
    /// Existing quote orders the request cancels.
    removed: Scratch<u32>,
    /// The position's outcomes as they would be after the request.
    outcomes: Scratch<Contribution>,
}

impl QuoteScratch {
    /// A scratch with no room reserved.
    fn empty() -> Self {
        QuoteScratch {
            legs: Scratch::default(),
            removed: Scratch::default(),
            outcomes: Scratch::default(),
        }
    }
}

impl Default for QuoteScratch {
    fn default() -> Self {
        QuoteScratch {
            legs: Scratch::with_capacity(2 * MAX_SELECTIONS),
            removed: Scratch::with_capacity(2 * MAX_SELECTIONS),
            outcomes: Scratch::with_capacity(MAX_SELECTIONS),
        }
    }
}

/// One side of one selection's quote.
#[derive(Clone, Copy, Debug)]
struct Leg {
    selection: u16,
    side: Side,
    tick: Tick,
    stake_minor: i64,
    /// An existing quote order this leg keeps (by slot), if any.
    kept: Option<u32>,
}

impl<B: OrderBook> Engine<B> {
    pub(super) fn mass_quote(
        &mut self,
        events: &mut Vec<Event>,
        account: AccountId,
        market: MarketId,
        quotes: &[Quote],
    ) {
        let subject = Subject {
            account: Some(account),
            market: Some(market),
            ..Subject::default()
        };
        // Borrowed out of the engine for the command and put back; the placeholder left behind
        // is empty and allocates nothing.
        let mut scratch = std::mem::replace(&mut self.quote_scratch, QuoteScratch::empty());
        scratch.legs.clear();
        scratch.removed.clear();
        match self.plan_mass_quote(&mut scratch, account, market, quotes) {
            Ok(holder) => self.apply_mass_quote(events, holder, &scratch.legs, &scratch.removed),
            Err(reason) => reject(events, CommandKind::MassQuote, reason, subject),
        }
        self.quote_scratch = scratch;
    }

    /// Validates and risk-checks a mass quote; leaves in `scratch` the legs to enter and the
    /// existing quotes to cancel.
    fn plan_mass_quote(
        &self,
        scratch: &mut QuoteScratch,
        account: AccountId,
        market: MarketId,
        quotes: &[Quote],
    ) -> Result<Holder, RejectReason> {
        let account_index = self.user_account(account)?;
        let market_index = self.open_market_index(market)?;
        let rules = &self.markets[market_index as usize].rules;
        if self.markets[market_index as usize].kind != MarketKind::Exchange {
            return Err(RejectReason::InvalidMarketKind);
        }
        if rules.bet_delay_ns != 0 {
            return Err(RejectReason::InPlayDelay);
        }
        let holder = Holder {
            account: account_index,
            market: market_index,
        };
        let state = &self.markets[market_index as usize];
        let QuoteScratch {
            legs,
            removed,
            outcomes,
        } = scratch;
        // More quotes than selections must repeat or name an unknown selection; refusing them
        // up front also bounds the quadratic repeat check below.
        if quotes.len() > state.selections.len() {
            return Err(RejectReason::InvalidQuote);
        }
        for (i, quote) in quotes.iter().enumerate() {
            let selection = state
                .selection_index(quote.selection)
                .ok_or(RejectReason::InvalidSelection)?;
            if quotes[..i].iter().any(|q| q.selection == quote.selection) {
                return Err(RejectReason::InvalidQuote);
            }
            let sides = [
                (Side::Back, quote.back_odds_x100, quote.back_stake_minor),
                (Side::Lay, quote.lay_odds_x100, quote.lay_stake_minor),
            ];
            let mut ticks = [None; 2];
            for (n, (side, odds, stake)) in sides.into_iter().enumerate() {
                let (odds_x100, stake_minor) = match (odds, stake) {
                    (None, None) => continue,
                    (Some(odds), Some(stake)) => (odds, stake),
                    _ => return Err(RejectReason::InvalidQuote),
                };
                let tick = state
                    .ladder
                    .tick(odds_x100)
                    .ok_or(RejectReason::InvalidOdds)?;
                if !self.inside_price_band(market_index, selection, odds_x100) {
                    return Err(RejectReason::OutsidePriceBand);
                }
                if !self.stake_allowed(account_index, market_index, stake_minor) {
                    return Err(RejectReason::InvalidStake);
                }
                ticks[n] = Some(tick);
                legs.push(Leg {
                    selection,
                    side,
                    tick,
                    stake_minor,
                    kept: None,
                });
            }
            // A resting lay at or above a resting back of the same selection would be crossed.
            if let [Some(back), Some(lay)] = ticks
                && lay >= back
            {
                return Err(RejectReason::InvalidQuote);
            }
        }

        // Match existing quotes to legs; the rest are cancelled.
        let mut slot = state
            .position_index
            .get(&account_index)
            .map_or(NIL, |p| state.positions[*p as usize].orders.head);
        while slot != NIL {
            let order = &self.orders[slot];
            if order.quote {
                let keeper = legs.iter_mut().find(|leg| {
                    leg.kept.is_none()
                        && leg.selection == order.selection
                        && leg.side == order.side
                        && leg.tick == order.tick
                        && leg.stake_minor <= order.remaining_minor
                });
                match keeper {
                    Some(leg) => leg.kept = Some(slot),
                    None => removed.push(slot),
                }
            }
            slot = order.position_next;
        }

        let added = legs.iter().filter(|leg| leg.kept.is_none()).count() as u32;
        let removed_count = removed.len() as u32;
        self.can_add_orders(account_index, added.saturating_sub(removed_count))?;

        let ladder = state.ladder;
        self.check_exposure(holder, |position, places| {
            outcomes.clear();
            outcomes.extend_from_slice(&position.outcomes);
            let mut add = |selection: u16, contribution: Contribution| {
                let outcome = &mut outcomes[usize::from(selection)];
                *outcome = *outcome + contribution;
            };
            for &slot in removed.iter() {
                let order = &self.orders[slot];
                let odds_x100 = ladder.odds(order.tick);
                add(
                    order.selection,
                    -Contribution::unmatched(order.side, odds_x100, order.remaining_minor),
                );
            }
            for leg in legs.iter() {
                let odds_x100 = ladder.odds(leg.tick);
                match leg.kept {
                    // A kept quote shrinks to the leg's stake.
                    Some(slot) => {
                        let cut = self.orders[slot].remaining_minor - leg.stake_minor;
                        add(
                            leg.selection,
                            -Contribution::unmatched(leg.side, odds_x100, cut),
                        );
                    }
                    None => add(
                        leg.selection,
                        Contribution::unmatched(leg.side, odds_x100, leg.stake_minor),
                    ),
                }
            }
            exposure_minor(places, outcomes)
        })?;
        Ok(holder)
    }

    fn apply_mass_quote(
        &mut self,
        events: &mut Vec<Event>,
        holder: Holder,
        legs: &[Leg],
        removed: &[u32],
    ) {
        for &slot in removed {
            self.cancel_resting(events, slot, CancelReason::QuoteReplaced);
        }
        for leg in legs {
            if let Some(slot) = leg.kept
                && leg.stake_minor < self.orders[slot].remaining_minor
            {
                self.reduce_order(events, slot, leg.stake_minor);
            }
        }
        let account_id = self.accounts[holder.account as usize].id;
        for leg in legs.iter().filter(|leg| leg.kept.is_none()) {
            let market = &self.markets[holder.market as usize];
            let order_id = OrderId(self.next_order_id);
            self.next_order_id += 1;
            events.push(Event::OrderAccepted {
                order_id,
                account: account_id,
                client_order_id: 0,
                market: market.id,
                selection: market.selections[usize::from(leg.selection)],
                side: leg.side,
                odds_x100: market.ladder.odds(leg.tick),
                stake_minor: leg.stake_minor,
                tif: TimeInForce::Gtc,
                persistence: Persistence::Lapse,
                quote: true,
            });
            let order = Order::new(
                order_id,
                0,
                holder.account,
                holder.market,
                leg.selection,
                leg.side,
                leg.tick,
                leg.stake_minor,
                Persistence::Lapse,
                true,
            );
            self.enter_order(events, order, TimeInForce::Gtc);
        }
    }
}
