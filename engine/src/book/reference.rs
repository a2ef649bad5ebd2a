//! The naive book: a `BTreeMap` of `VecDeque`s per side, written for obviousness rather than
//! speed. It is the model the fast [`super::LadderBook`] is checked against, in tests and in
//! benchmarks (as the baseline of the ratio).

use std::collections::{BTreeMap, VecDeque};

use super::{MatchStep, OrderBook, Taker, TakerOutcome, acceptable};
use crate::ladder::Tick;
use crate::order::OrderSlab;
use crate::types::{SelfTradePrevention, Side};

/// The reference book of one selection.
#[derive(Clone, Debug, Default)]
pub struct ReferenceBook {
    backs: BTreeMap<Tick, VecDeque<u32>>,
    lays: BTreeMap<Tick, VecDeque<u32>>,
}

impl ReferenceBook {
    fn side(&self, side: Side) -> &BTreeMap<Tick, VecDeque<u32>> {
        match side {
            Side::Back => &self.backs,
            Side::Lay => &self.lays,
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<Tick, VecDeque<u32>> {
        match side {
            Side::Back => &mut self.backs,
            Side::Lay => &mut self.lays,
        }
    }

    /// Resting orders of `resting_side` in the order a taker meets them.
    fn priority_order(&self, resting_side: Side) -> Vec<u32> {
        let levels = self.side(resting_side);
        let queues: Vec<&VecDeque<u32>> = match resting_side {
            Side::Back => levels.values().collect(),
            Side::Lay => levels.values().rev().collect(),
        };
        queues.into_iter().flatten().copied().collect()
    }
}

impl OrderBook for ReferenceBook {
    fn new(_ladder_len: usize) -> Self {
        ReferenceBook::default()
    }

    fn rest(&mut self, orders: &mut OrderSlab, slot: u32) {
        let order = &orders[slot];
        self.side_mut(order.side)
            .entry(order.tick)
            .or_default()
            .push_back(slot);
    }

    fn remove(&mut self, orders: &mut OrderSlab, slot: u32) {
        let order = &orders[slot];
        let levels = self.side_mut(order.side);
        let queue = levels
            .get_mut(&order.tick)
            .expect("resting order has a level");
        queue.retain(|&other| other != slot);
        if queue.is_empty() {
            levels.remove(&order.tick);
        }
    }

    fn reduce(&mut self, orders: &mut OrderSlab, slot: u32, stake_minor: i64) {
        orders[slot].remaining_minor = stake_minor;
    }

    fn execute(
        &mut self,
        orders: &mut OrderSlab,
        taker: &Taker,
        steps: &mut Vec<MatchStep>,
    ) -> TakerOutcome {
        let resting_side = taker.side.opposite();
        let mut remaining = taker.stake_minor;
        for slot in self.priority_order(resting_side) {
            if remaining == 0 || !acceptable(taker.side, taker.limit, orders[slot].tick) {
                break;
            }
            let own = orders[slot].account == taker.account;
            match (own, taker.stp) {
                (false, _) | (true, SelfTradePrevention::None) => {
                    let fill = remaining.min(orders[slot].remaining_minor);
                    remaining -= fill;
                    steps.push(MatchStep::Fill {
                        maker: slot,
                        stake_minor: fill,
                    });
                    orders[slot].remaining_minor -= fill;
                    if orders[slot].remaining_minor == 0 {
                        self.remove(orders, slot);
                    }
                }
                (true, SelfTradePrevention::CancelResting) => {
                    self.remove(orders, slot);
                    steps.push(MatchStep::CancelResting { maker: slot });
                }
                (true, SelfTradePrevention::CancelTaking) => {
                    return TakerOutcome {
                        remaining_minor: remaining,
                        stopped_by_stp: true,
                    };
                }
                (true, SelfTradePrevention::CancelBoth) => {
                    self.remove(orders, slot);
                    steps.push(MatchStep::CancelResting { maker: slot });
                    return TakerOutcome {
                        remaining_minor: remaining,
                        stopped_by_stp: true,
                    };
                }
            }
        }
        TakerOutcome {
            remaining_minor: remaining,
            stopped_by_stp: false,
        }
    }

    fn fillable(&self, orders: &OrderSlab, taker: &Taker) -> i64 {
        let mut filled = 0;
        for slot in self.priority_order(taker.side.opposite()) {
            let order = &orders[slot];
            if !acceptable(taker.side, taker.limit, order.tick) {
                break;
            }
            match (order.account == taker.account, taker.stp) {
                (false, _) | (true, SelfTradePrevention::None) => filled += order.remaining_minor,
                (true, SelfTradePrevention::CancelResting) => {}
                (true, _) => break,
            }
        }
        filled.min(taker.stake_minor)
    }

    fn crosses(&self, side: Side, tick: Tick) -> bool {
        self.best(side.opposite())
            .is_some_and(|best| acceptable(side, tick, best))
    }

    fn best(&self, resting_side: Side) -> Option<Tick> {
        match resting_side {
            Side::Back => self.backs.keys().next().copied(),
            Side::Lay => self.lays.keys().next_back().copied(),
        }
    }

    fn next_level(&self, resting_side: Side, tick: Tick) -> Option<Tick> {
        match resting_side {
            Side::Back => self.backs.range(tick + 1..).next().map(|(t, _)| *t),
            Side::Lay => self.lays.range(..tick).next_back().map(|(t, _)| *t),
        }
    }

    fn level_stake(&self, orders: &OrderSlab, resting_side: Side, tick: Tick) -> i64 {
        self.side(resting_side).get(&tick).map_or(0, |queue| {
            queue.iter().map(|&slot| orders[slot].remaining_minor).sum()
        })
    }

    fn for_each(&self, _orders: &OrderSlab, visit: &mut dyn FnMut(u32)) {
        for levels in [&self.backs, &self.lays] {
            for queue in levels.values() {
                for &slot in queue {
                    visit(slot);
                }
            }
        }
    }

    fn validate(&self, orders: &OrderSlab) -> Result<(), String> {
        for (side, levels) in [(Side::Back, &self.backs), (Side::Lay, &self.lays)] {
            for (tick, queue) in levels {
                if queue.is_empty() {
                    return Err(format!("{side:?} tick {tick}: empty level kept"));
                }
                for &slot in queue {
                    let order = &orders[slot];
                    if order.side != side || order.tick != *tick || order.remaining_minor <= 0 {
                        return Err(format!("order {} misplaced", order.id.0));
                    }
                }
            }
        }
        if let (Some(lay), Some(back)) = (self.best(Side::Lay), self.best(Side::Back))
            && lay >= back
        {
            return Err(format!(
                "book crossed: lay at tick {lay} >= back at tick {back}"
            ));
        }
        Ok(())
    }
}
