//! Order books: one per selection, holding both its resting backs and its resting lays.
//!
//! The engine is generic over [`OrderBook`] so that the fast [`LadderBook`] and the naive
//! [`ReferenceBook`] can be driven by the same commands and compared event for event, in tests
//! and in benchmarks. Orders themselves live in the engine's [`OrderSlab`]; a book holds only
//! their queue positions.
//!
//! Matching rules (see `docs/market-rules.md`): an incoming back at tick `t` matches resting
//! lays at ticks `>= t`, highest first; an incoming lay at tick `t` matches resting backs at
//! ticks `<= t`, lowest first; within a tick, oldest first. Trades happen at the resting
//! order's tick.

mod ladder_book;
mod reference;

pub use ladder_book::LadderBook;
pub use reference::ReferenceBook;

use crate::ladder::Tick;
use crate::order::OrderSlab;
use crate::types::{SelfTradePrevention, Side};

/// An incoming order, as matching sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taker {
    /// The incoming order's side; it matches resting orders of the other side.
    pub side: Side,
    /// The worst tick it accepts.
    pub limit: Tick,
    /// Stake to match, in minor units.
    pub stake_minor: i64,
    /// Index of the incoming order's account, for self-trade prevention.
    pub account: u32,
    /// The incoming account's self-trade prevention mode.
    pub stp: SelfTradePrevention,
}

/// One thing matching did to a resting order, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchStep {
    /// The resting order in `maker` matched `stake_minor` at its own tick. Its
    /// `remaining_minor` has been reduced; at zero it has been unlinked from the book.
    Fill {
        /// Slot of the resting order.
        maker: u32,
        /// Matched stake in minor units.
        stake_minor: i64,
    },
    /// Self-trade prevention removed the resting order in `maker` from the book; its
    /// `remaining_minor` is what was cancelled.
    CancelResting {
        /// Slot of the resting order.
        maker: u32,
    },
}

/// How matching ended for the incoming order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TakerOutcome {
    /// Unmatched stake left, in minor units.
    pub remaining_minor: i64,
    /// Self-trade prevention cancelled the remainder of the incoming order.
    pub stopped_by_stp: bool,
}

/// A selection's two books. Every method keeps [`OrderBook::validate`] true.
///
/// Call protocol: an order is `rest`ed at most once after being inserted in the slab, then
/// leaves by `remove` or by being filled to zero inside `execute`; `reduce` keeps its place.
pub trait OrderBook: Sized {
    /// An empty book for a ladder of `ladder_len` prices.
    fn new(ladder_len: usize) -> Self;

    /// Appends the order in `slot` to the tail of its price level (side and tick are the
    /// order's own).
    fn rest(&mut self, orders: &mut OrderSlab, slot: u32);

    /// Unlinks a resting order. Its `remaining_minor` is left as it was.
    fn remove(&mut self, orders: &mut OrderSlab, slot: u32);

    /// Lowers a resting order's unmatched stake to `stake_minor` (> 0) keeping its place.
    fn reduce(&mut self, orders: &mut OrderSlab, slot: u32, stake_minor: i64);

    /// Matches an incoming order against the opposite side, appending what happened to
    /// `steps`.
    fn execute(
        &mut self,
        orders: &mut OrderSlab,
        taker: &Taker,
        steps: &mut Vec<MatchStep>,
    ) -> TakerOutcome;

    /// How much of `taker` would match now, at most `taker.stake_minor`, without changing
    /// anything (for fill-or-kill). Resting orders that self-trade prevention would cancel do
    /// not count; one that would stop the taker ends the count.
    fn fillable(&self, orders: &OrderSlab, taker: &Taker) -> i64;

    /// Whether an order of `side` at `tick` would match anything now.
    fn crosses(&self, side: Side, tick: Tick) -> bool;

    /// The best tick of the resting orders of `resting_side`: the lowest back, the highest lay.
    fn best(&self, resting_side: Side) -> Option<Tick>;

    /// The next occupied tick of `resting_side` after `tick`, moving away from the best (up
    /// for backs, down for lays).
    fn next_level(&self, resting_side: Side, tick: Tick) -> Option<Tick>;

    /// Total unmatched stake resting at one tick of one side.
    fn level_stake(&self, orders: &OrderSlab, resting_side: Side, tick: Tick) -> i64;

    /// Calls `visit` with the slot of every resting order: backs then lays, each by tick
    /// ascending, oldest first within a tick.
    fn for_each(&self, orders: &OrderSlab, visit: &mut dyn FnMut(u32));

    /// Checks internal consistency; returns what is wrong.
    fn validate(&self, orders: &OrderSlab) -> Result<(), String>;
}

/// Whether a resting order of `resting_side` at `resting_tick` is acceptable to a taker.
#[inline]
pub fn acceptable(taker_side: Side, limit: Tick, resting_tick: Tick) -> bool {
    match taker_side {
        Side::Back => resting_tick >= limit,
        Side::Lay => resting_tick <= limit,
    }
}
