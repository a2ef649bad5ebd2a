//! Odds state and the two published streams.
//!
//! - The **book stream** carries, with a gap-free per-market sequence number, every change of
//!   a selection's displayed depth (`book_depth`, its best [`DISPLAY_LEVELS`] levels per side),
//!   every `trade`, every `pool_changed` and every `market_status`.
//! - **Odds ticks** (`odds_tick` followed by one `selection_odds` per selection) are filtered:
//!   a change tick only when some selection's displayed odds moved by at least the threshold
//!   since the last tick *and* the tick interval has passed since it; a heartbeat after the
//!   heartbeat interval of silence; a status tick at once whenever the market changes state.
//!
//! Commands mark what they change (a market as *touched*, a selection as *dirty*); at the end
//! of every input [`Engine::flush`] publishes depth and ticks for the touched markets only, so
//! that the cost is per change, not per market.

use super::Engine;
use crate::book::OrderBook;
use crate::event::{DISPLAY_LEVELS, Event};
use crate::ladder::{LadderKind, Tick};
use crate::odds::{Displayed, Extremes, Levels, fair_odds_x100, implied_bps};
use crate::order::OrderSlab;
use crate::types::{MarketId, MarketKind, MarketStatus, SelectionId, Side, TickReason};

/// Odds state of one market.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(super) struct OddsState {
    pub selections: Box<[SelectionState]>,
    /// Sequence number of the last tick.
    pub tick_seq: u64,
    /// When the last tick was published (`None` before the first).
    pub last_tick_ns: Option<u64>,
    /// Some selection's displayed odds have moved by the threshold since the last tick, but
    /// the interval had not yet passed when that was last seen.
    pub pending_change: bool,
    /// Whether the feed has sent probabilities for this market.
    pub has_reference: bool,
}

/// Odds state of one selection.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub(super) struct SelectionState {
    /// Displayed depth by resting side (`[backs, lays]`), as last published.
    pub depth: [Levels; 2],
    pub last_traded_x100: u32,
    /// Matched backer's stake, in minor units.
    pub matched_minor: i64,
    /// The feed's probability, in basis points.
    pub reference_bps: u16,
    /// The displayed odds as the last tick showed them.
    pub published: Displayed,
    /// Extremes of the reference's fair odds, for the circuit breaker.
    pub reference_window: Extremes,
    /// Extremes of the indicative pool odds, for the circuit breaker.
    pub indicative_window: Extremes,
}

impl OddsState {
    pub fn new(selections: usize) -> OddsState {
        OddsState {
            selections: vec![SelectionState::default(); selections].into_boxed_slice(),
            tick_seq: 0,
            last_tick_ns: None,
            pending_change: false,
            has_reference: false,
        }
    }

    pub fn record_trade(&mut self, selection: usize, odds_x100: u32, stake_minor: i64) {
        let state = &mut self.selections[selection];
        state.last_traded_x100 = odds_x100;
        // Volume only grows; it saturates rather than wrap after ~10^7 maximal trades.
        state.matched_minor = state.matched_minor.saturating_add(stake_minor);
    }
}

fn side_index(resting_side: Side) -> usize {
    match resting_side {
        Side::Back => 0,
        Side::Lay => 1,
    }
}

/// The best [`DISPLAY_LEVELS`] levels of one side of a book, recomputed from the book.
pub(super) fn top_levels<B: OrderBook>(
    book: &B,
    orders: &OrderSlab,
    ladder: LadderKind,
    resting_side: Side,
) -> Levels {
    let mut levels = Levels::default();
    let mut tick = book.best(resting_side);
    for n in 0..DISPLAY_LEVELS {
        let Some(t) = tick else { break };
        levels.odds_x100[n] = ladder.odds(t);
        levels.stakes_minor[n] = book.level_stake(orders, resting_side, t);
        tick = book.next_level(resting_side, t);
    }
    levels
}

/// A market's odds state as it is now: what a market-data subscriber's snapshot holds before
/// the incremental events that follow it (their sequence numbers continue from these).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketOdds {
    /// The market.
    pub market: MarketId,
    /// Its state.
    pub status: MarketStatus,
    /// Sequence number of the last book-stream event.
    pub book_seq: u64,
    /// Sequence number of the last odds tick.
    pub tick_seq: u64,
    /// Sum of the selections' implied probabilities, in basis points.
    pub overround_bps: u32,
    /// Per selection, in the market's order.
    pub selections: Vec<SelectionOddsView>,
}

/// One selection's odds state (see [`MarketOdds`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelectionOddsView {
    /// The selection.
    pub selection: SelectionId,
    /// Best levels of the resting backs (best: lowest odds), as the book stream shows them.
    pub backs: Levels,
    /// Best levels of the resting lays (best: highest odds).
    pub lays: Levels,
    /// Last traded odds times 100 (0 before the first trade).
    pub last_traded_x100: u32,
    /// Matched backer's stake, in minor units.
    pub matched_minor: i64,
    /// The selection's pool, in minor units.
    pub pool_minor: i64,
    /// Indicative pool odds times 100 (0 when none).
    pub indicative_x100: u32,
    /// Implied probability of the headline odds, in basis points.
    pub implied_bps: u32,
    /// The feed's probability in basis points (0 before the first `reference_odds`).
    pub reference_bps: u16,
}

impl<B: OrderBook> Engine<B> {
    /// A market's odds state, or `None` for an unknown market. On a market without
    /// `market_data` the levels are not kept and read as empty.
    pub fn market_odds(&self, market: MarketId) -> Option<MarketOdds> {
        let index = *self.market_index.get(&market)?;
        let state = &self.markets[index as usize];
        let selections: Vec<SelectionOddsView> = (0..state.selections.len())
            .map(|selection| {
                let displayed = self.displayed(index, selection);
                let odds = &state.odds.selections[selection];
                SelectionOddsView {
                    selection: state.selections[selection],
                    backs: odds.depth[side_index(Side::Back)],
                    lays: odds.depth[side_index(Side::Lay)],
                    last_traded_x100: odds.last_traded_x100,
                    matched_minor: odds.matched_minor,
                    pool_minor: state.pool.selection_pool(selection),
                    indicative_x100: displayed.indicative_x100,
                    implied_bps: implied_bps(displayed.headline_x100()),
                    reference_bps: odds.reference_bps,
                }
            })
            .collect();
        Some(MarketOdds {
            market,
            status: state.status,
            book_seq: state.book_seq,
            tick_seq: state.odds.tick_seq,
            overround_bps: selections.iter().map(|s| s.implied_bps).sum(),
            selections,
        })
    }

    /// Puts a market on the list of markets flushed at the end of the input.
    #[inline]
    pub(super) fn touch(&mut self, index: u32) {
        let market = &mut self.markets[index as usize];
        if !market.touched {
            market.touched = true;
            self.touched.push(index);
        }
    }

    /// Notes that one side of a selection's book changed at `tick` (`None`: at a level that
    /// is certainly shown). A change at a tick worse than a full set of shown levels cannot
    /// change what is shown, so it costs nothing at the end of the input.
    #[inline]
    pub(super) fn mark_dirty(
        &mut self,
        index: u32,
        selection: u16,
        resting_side: Side,
        tick: Option<Tick>,
    ) {
        let market = &mut self.markets[index as usize];
        if !market.rules.market_data {
            return;
        }
        let shown = &market.odds.selections[usize::from(selection)].depth[side_index(resting_side)];
        let last = shown.odds_x100[DISPLAY_LEVELS - 1];
        let visible = last == 0
            || tick.is_none_or(|tick| {
                let odds = market.ladder.odds(tick);
                match resting_side {
                    Side::Back => odds <= last,
                    Side::Lay => odds >= last,
                }
            });
        if visible {
            market.dirty |= 1 << selection;
            market.dirty_depth |= 1 << (2 * u32::from(selection) + side_index(resting_side) as u32);
            self.touch(index);
        }
    }

    /// Notes that every selection's displayed odds may have changed (a pool or the reference
    /// moved).
    pub(super) fn mark_all_dirty(&mut self, index: u32) {
        let market = &mut self.markets[index as usize];
        market.dirty = u64::MAX >> (64 - market.selections.len());
        self.touch(index);
    }

    /// The displayed odds of a selection as they are now.
    pub(super) fn displayed(&self, index: u32, selection: usize) -> Displayed {
        let market = &self.markets[index as usize];
        let state = &market.odds.selections[selection];
        Displayed {
            back_x100: state.depth[side_index(Side::Lay)].best(),
            lay_x100: state.depth[side_index(Side::Back)].best(),
            indicative_x100: market
                .pool
                .indicative_x100(selection, market.rules.takeout_bps),
            reference_x100: if market.odds.has_reference {
                fair_odds_x100(state.reference_bps)
            } else {
                0
            },
        }
    }

    /// Publishes what the current input changed (depth, ticks), runs what fell due, and
    /// reschedules the markets concerned. Called at the end of every input that touched a
    /// market or reached a deadline.
    pub(super) fn flush(&mut self, events: &mut Vec<Event>) {
        loop {
            if self.ts_ns >= self.next_deadline_ns {
                self.fire_deadlines(events);
            }
            if self.touched.is_empty() {
                break;
            }
            let mut touched = std::mem::take(&mut self.touched);
            for &index in touched.iter() {
                self.markets[index as usize].touched = false;
                self.publish(events, index);
                self.reschedule(index);
            }
            touched.clear();
            self.touched = touched;
        }
    }

    /// Publishes a touched market's depth changes and ticks.
    fn publish(&mut self, events: &mut Vec<Event>, index: u32) {
        let market = &mut self.markets[index as usize];
        let dirty = std::mem::take(&mut market.dirty);
        let mut sides = std::mem::take(&mut market.dirty_depth);
        let status_changed = std::mem::take(&mut market.status_changed);
        if !market.rules.market_data {
            return;
        }
        if market.kind == MarketKind::Exchange {
            while sides != 0 {
                let bit = sides.trailing_zeros() as usize;
                sides &= sides - 1;
                let (selection, side) = (bit / 2, [Side::Back, Side::Lay][bit % 2]);
                let levels =
                    top_levels(&market.books[selection], &self.orders, market.ladder, side);
                let shown = &mut market.odds.selections[selection].depth[side_index(side)];
                if levels != *shown {
                    *shown = levels;
                    market.book_seq += 1;
                    events.push(Event::BookDepth {
                        market: market.id,
                        book_seq: market.book_seq,
                        selection: market.selections[selection],
                        side,
                        odds_x100: levels.odds_x100,
                        stakes_minor: levels.stakes_minor,
                    });
                }
            }
        }
        self.consider_tick(events, index, dirty, status_changed);
    }

    /// Publishes a tick if one is due now.
    fn consider_tick(
        &mut self,
        events: &mut Vec<Event>,
        index: u32,
        dirty: u64,
        status_changed: bool,
    ) {
        let now = self.ts_ns;
        let market = &self.markets[index as usize];
        if status_changed {
            return self.publish_tick(events, index, TickReason::Status);
        }
        let Some(last) = market.odds.last_tick_ns else {
            return;
        };
        if !matches!(market.status, MarketStatus::Open | MarketStatus::Suspended) {
            return;
        }
        let threshold = u32::from(market.rules.odds_change_threshold_bps);
        let moved_now = market.odds.pending_change || {
            let mut bits = dirty;
            let mut moved = false;
            while bits != 0 && !moved {
                let selection = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                moved = self
                    .displayed(index, selection)
                    .moved_from(&market.odds.selections[selection].published, threshold);
            }
            moved
        };
        let interval_passed = now >= last.saturating_add(market.rules.odds_tick_interval_ns);
        let heartbeat_due = now >= last.saturating_add(market.rules.odds_heartbeat_ns);
        if moved_now && interval_passed {
            // A move seen earlier may have gone back: the rule is judged on the odds now.
            let moved = (0..market.selections.len()).any(|selection| {
                self.displayed(index, selection)
                    .moved_from(&market.odds.selections[selection].published, threshold)
            });
            if moved {
                return self.publish_tick(events, index, TickReason::Change);
            }
            self.markets[index as usize].odds.pending_change = false;
        } else if moved_now {
            self.markets[index as usize].odds.pending_change = true;
        }
        if heartbeat_due {
            self.publish_tick(events, index, TickReason::Heartbeat);
        }
    }

    /// Publishes an `odds_tick` and its `selection_odds`, and remembers what it showed.
    fn publish_tick(&mut self, events: &mut Vec<Event>, index: u32, reason: TickReason) {
        let count = self.markets[index as usize].selections.len();
        let mut overround_bps: u32 = 0;
        let header = events.len();
        events.push(Event::OddsTick {
            market: self.markets[index as usize].id,
            tick_seq: 0,
            reason,
            status: self.markets[index as usize].status,
            selections: count as u16,
            overround_bps: 0,
        });
        for selection in 0..count {
            let displayed = self.displayed(index, selection);
            let market = &mut self.markets[index as usize];
            let implied = implied_bps(displayed.headline_x100());
            overround_bps += implied;
            let state = &mut market.odds.selections[selection];
            state.published = displayed;
            events.push(Event::SelectionOdds {
                market: market.id,
                selection: market.selections[selection],
                back_x100: displayed.back_x100,
                lay_x100: displayed.lay_x100,
                last_traded_x100: state.last_traded_x100,
                indicative_x100: displayed.indicative_x100,
                implied_bps: implied,
                reference_bps: state.reference_bps,
                matched_minor: state.matched_minor,
                pool_minor: market.pool.selection_pool(selection),
            });
        }
        let odds = &mut self.markets[index as usize].odds;
        odds.tick_seq += 1;
        odds.last_tick_ns = Some(self.ts_ns);
        odds.pending_change = false;
        if let Event::OddsTick {
            tick_seq,
            overround_bps: total,
            ..
        } = &mut events[header]
        {
            *tick_seq = odds.tick_seq;
            *total = overround_bps;
        }
    }

    /// When the market's ticks next need attention from time alone: a pending change tick
    /// or a heartbeat (`u64::MAX`: none).
    pub(super) fn tick_due(&self, index: u32) -> u64 {
        let market = &self.markets[index as usize];
        let trading = matches!(market.status, MarketStatus::Open | MarketStatus::Suspended);
        let (true, true, Some(last)) =
            (market.rules.market_data, trading, market.odds.last_tick_ns)
        else {
            return u64::MAX;
        };
        let mut due = last.saturating_add(market.rules.odds_heartbeat_ns);
        if market.odds.pending_change {
            due = due.min(last.saturating_add(market.rules.odds_tick_interval_ns));
        }
        due
    }
}
