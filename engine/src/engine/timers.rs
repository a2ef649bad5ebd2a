//! Time-driven behaviour: scheduled locks and closes, the in-play delay, the end of a vote and
//! tick deadlines.
//!
//! Time enters only through inputs: every input carries `ts`, and the shard injects a `timer`
//! input every few milliseconds so that deadlines fire even when nobody trades. Each market
//! has at most one entry in the engine's deadline set, at the earliest time it needs
//! attention ([`Engine::next_due`]); every input compares its `ts` with the earliest entry, so
//! an input with nothing due pays one comparison. The markets an input finds due are handled
//! one after the other in the order of their earliest due item (not of their entries, which
//! may be tick deadlines), at the same time in market creation order, which keeps replay
//! deterministic.

use super::Engine;
use crate::book::OrderBook;
use crate::event::Event;
use crate::types::{MarketStatus, StatusCause};

impl<B: OrderBook> Engine<B> {
    /// When the market next needs attention from time alone: a delayed order's entry, a lock,
    /// a close, the end of a vote, a pending or heartbeat tick (`u64::MAX`: never).
    pub(super) fn next_due(&self, index: u32) -> u64 {
        self.items(index)
            .into_iter()
            .flatten()
            .fold(self.tick_due(index), u64::min)
    }

    /// Moves a market's entry in the deadline set to its current [`Engine::next_due`].
    pub(super) fn reschedule(&mut self, index: u32) {
        let due = self.next_due(index);
        let market = &mut self.markets[index as usize];
        if due == market.scheduled_ns {
            return;
        }
        if market.scheduled_ns != u64::MAX {
            self.deadlines.remove(&(market.scheduled_ns, index));
        }
        market.scheduled_ns = due;
        if due != u64::MAX {
            self.deadlines.insert((due, index));
        }
        self.next_deadline_ns = self.deadlines.first().map_or(u64::MAX, |(due, _)| *due);
    }

    /// Runs everything due at or before the current input's time, market by market: in the
    /// order of each market's earliest due item (a delayed order's entry, a lock, a close, the
    /// end of a vote), then in creation order. A market's entry in the deadline set may be a
    /// tick deadline, which only its publication acts on, so the set's order is not used.
    pub(super) fn fire_deadlines(&mut self, events: &mut Vec<Event>) {
        let now = self.ts_ns;
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        while let Some(&(at, index)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            self.markets[index as usize].scheduled_ns = u64::MAX;
            self.prune_delayed(index);
            let first = self
                .next_item(index, now)
                .map_or(at, |(item_at, _)| item_at);
            due.push((first, index));
        }
        due.sort_unstable();
        for &(_, index) in due.iter() {
            self.run_due(events, index, now);
            // Ticks are judged when the market is flushed.
            self.touch(index);
        }
        self.due = due;
        self.next_deadline_ns = self.deadlines.first().map_or(u64::MAX, |(due, _)| *due);
    }

    /// A market's earliest item due at or before `now`, as (due time, what: 0 delayed orders,
    /// 1 lock, 2 close, 3 vote end); at equal times orders whose delay is over come before the
    /// market locks or closes.
    fn next_item(&self, index: u32, now: u64) -> Option<(u64, usize)> {
        self.items(index)
            .into_iter()
            .enumerate()
            .filter_map(|(what, due)| due.filter(|d| *d <= now).map(|d| (d, what)))
            .min()
    }

    /// When a market's delayed orders, lock, close and vote end fall due (`None`: not
    /// pending).
    fn items(&self, index: u32) -> [Option<u64>; 4] {
        let market = &self.markets[index as usize];
        let open = market.status == MarketStatus::Open;
        let trading = open || market.status == MarketStatus::Suspended;
        [
            market.delayed.front().map(|&(_, _, until)| until),
            market.rules.lock_at_ns.filter(|_| open),
            market.rules.close_at_ns.filter(|_| trading),
            market
                .votes
                .as_ref()
                .filter(|_| !market.status.is_final())
                .map(|v| v.window_end()),
        ]
    }

    /// Handles a market's due items in time order (delayed orders, lock, close, vote end).
    fn run_due(&mut self, events: &mut Vec<Event>, index: u32, now: u64) {
        while let Some((_, what)) = self.next_item(index, now) {
            let [_, lock, close, vote] = self.items(index);
            match what {
                0 => {
                    // Every order due by the next other item (at it included: orders enter
                    // first at equal times) enters now; none due after it.
                    let others = [lock, close, vote]
                        .into_iter()
                        .flatten()
                        .min()
                        .unwrap_or(u64::MAX);
                    self.release_delayed(events, index, now.min(others));
                }
                1 => {
                    self.markets[index as usize].rules.lock_at_ns = None;
                    self.suspend(events, index, StatusCause::Lock);
                }
                2 => {
                    self.markets[index as usize].rules.close_at_ns = None;
                    self.close(events, index, StatusCause::Close);
                }
                _ => self.resolve_vote(events, index),
            }
        }
    }
}
