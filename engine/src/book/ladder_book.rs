//! The fast book: an array of price levels indexed by ladder tick, each a FIFO queue threaded
//! through the order slab, with a bitset of non-empty levels to find the best price in a few
//! instructions. Nothing here allocates after [`OrderBook::new`].

use super::{MatchStep, OrderBook, Taker, TakerOutcome, acceptable};
use crate::ladder::{MAX_LADDER_LEN, Tick};
use crate::order::{NIL, OrderSlab};
use crate::types::{SelfTradePrevention, Side};

const WORDS: usize = MAX_LADDER_LEN.div_ceil(64);

#[derive(Clone, Copy, Debug)]
struct Level {
    head: u32,
    tail: u32,
    stake_minor: i64,
}

const EMPTY_LEVEL: Level = Level {
    head: NIL,
    tail: NIL,
    stake_minor: 0,
};

/// The resting orders of one side of one selection.
#[derive(Clone, Debug)]
struct HalfBook {
    /// Inline rather than boxed: one pointer less to chase per book access. A book on the
    /// shorter probability ladder leaves the upper levels unused.
    levels: [Level; MAX_LADDER_LEN],
    occupied: [u64; WORDS],
}

impl HalfBook {
    fn new(ladder_len: usize) -> HalfBook {
        assert!(ladder_len <= MAX_LADDER_LEN);
        HalfBook {
            levels: [EMPTY_LEVEL; MAX_LADDER_LEN],
            occupied: [0; WORDS],
        }
    }

    fn set(&mut self, tick: Tick) {
        self.occupied[usize::from(tick) / 64] |= 1 << (tick % 64);
    }

    fn clear(&mut self, tick: Tick) {
        self.occupied[usize::from(tick) / 64] &= !(1 << (tick % 64));
    }

    fn lowest(&self) -> Option<Tick> {
        for (word_index, word) in self.occupied.iter().enumerate() {
            if *word != 0 {
                return Some((word_index * 64 + word.trailing_zeros() as usize) as Tick);
            }
        }
        None
    }

    fn highest(&self) -> Option<Tick> {
        for (word_index, word) in self.occupied.iter().enumerate().rev() {
            if *word != 0 {
                return Some((word_index * 64 + 63 - word.leading_zeros() as usize) as Tick);
            }
        }
        None
    }

    /// The next occupied tick after `tick`, moving away from the best price of `side`
    /// (upwards for backs, downwards for lays). Used by read-only walks; matching restarts from
    /// the best tick after emptying a level instead.
    fn next_outward(&self, side: Side, tick: Tick) -> Option<Tick> {
        match side {
            // Backs are best lowest: walk upwards.
            Side::Back => {
                let start = usize::from(tick) + 1;
                let mut word_index = start / 64;
                if word_index >= WORDS {
                    return None;
                }
                let mut word = self.occupied[word_index]
                    & (!0u64).checked_shl((start % 64) as u32).unwrap_or(0);
                loop {
                    if word != 0 {
                        return Some((word_index * 64 + word.trailing_zeros() as usize) as Tick);
                    }
                    word_index += 1;
                    if word_index >= WORDS {
                        return None;
                    }
                    word = self.occupied[word_index];
                }
            }
            // Lays are best highest: walk downwards.
            Side::Lay => {
                if tick == 0 {
                    return None;
                }
                let start = usize::from(tick) - 1;
                let mut word_index = start / 64;
                let bits = (start % 64) as u32;
                let mask = if bits == 63 {
                    !0u64
                } else {
                    (1u64 << (bits + 1)) - 1
                };
                let mut word = self.occupied[word_index] & mask;
                loop {
                    if word != 0 {
                        return Some(
                            (word_index * 64 + 63 - word.leading_zeros() as usize) as Tick,
                        );
                    }
                    if word_index == 0 {
                        return None;
                    }
                    word_index -= 1;
                    word = self.occupied[word_index];
                }
            }
        }
    }

    fn best(&self, side: Side) -> Option<Tick> {
        match side {
            Side::Back => self.lowest(),
            Side::Lay => self.highest(),
        }
    }

    fn push_back(&mut self, orders: &mut OrderSlab, slot: u32) {
        let tick = orders[slot].tick;
        let stake_minor = orders[slot].remaining_minor;
        let level = &mut self.levels[usize::from(tick)];
        let tail = level.tail;
        orders[slot].prev = tail;
        orders[slot].next = NIL;
        if tail == NIL {
            level.head = slot;
        } else {
            orders[tail].next = slot;
        }
        level.tail = slot;
        level.stake_minor += stake_minor;
        if tail == NIL {
            self.set(tick);
        }
    }

    fn unlink(&mut self, orders: &mut OrderSlab, slot: u32) {
        let order = orders[slot];
        let level = &mut self.levels[usize::from(order.tick)];
        if order.prev == NIL {
            level.head = order.next;
        } else {
            orders[order.prev].next = order.next;
        }
        if order.next == NIL {
            level.tail = order.prev;
        } else {
            orders[order.next].prev = order.prev;
        }
        level.stake_minor -= order.remaining_minor;
        if level.head == NIL {
            self.clear(order.tick);
        }
        orders[slot].prev = NIL;
        orders[slot].next = NIL;
    }
}

/// The fast book of one selection.
#[derive(Clone, Debug)]
pub struct LadderBook {
    backs: HalfBook,
    lays: HalfBook,
}

impl LadderBook {
    fn half(&self, side: Side) -> &HalfBook {
        match side {
            Side::Back => &self.backs,
            Side::Lay => &self.lays,
        }
    }

    fn half_mut(&mut self, side: Side) -> &mut HalfBook {
        match side {
            Side::Back => &mut self.backs,
            Side::Lay => &mut self.lays,
        }
    }
}

impl OrderBook for LadderBook {
    fn new(ladder_len: usize) -> Self {
        LadderBook {
            backs: HalfBook::new(ladder_len),
            lays: HalfBook::new(ladder_len),
        }
    }

    fn rest(&mut self, orders: &mut OrderSlab, slot: u32) {
        debug_assert!(orders[slot].remaining_minor > 0);
        let side = orders[slot].side;
        self.half_mut(side).push_back(orders, slot);
    }

    fn remove(&mut self, orders: &mut OrderSlab, slot: u32) {
        let side = orders[slot].side;
        self.half_mut(side).unlink(orders, slot);
    }

    fn reduce(&mut self, orders: &mut OrderSlab, slot: u32, stake_minor: i64) {
        let order = &mut orders[slot];
        debug_assert!(0 < stake_minor && stake_minor <= order.remaining_minor);
        let cut = order.remaining_minor - stake_minor;
        order.remaining_minor = stake_minor;
        let (side, tick) = (order.side, order.tick);
        self.half_mut(side).levels[usize::from(tick)].stake_minor -= cut;
    }

    fn execute(
        &mut self,
        orders: &mut OrderSlab,
        taker: &Taker,
        steps: &mut Vec<MatchStep>,
    ) -> TakerOutcome {
        let resting_side = taker.side.opposite();
        let half = self.half_mut(resting_side);
        let mut remaining = taker.stake_minor;
        while remaining > 0 {
            let Some(tick) = half.best(resting_side) else {
                break;
            };
            if !acceptable(taker.side, taker.limit, tick) {
                break;
            }
            let mut slot = half.levels[usize::from(tick)].head;
            while slot != NIL && remaining > 0 {
                let maker = orders[slot];
                let next = maker.next;
                if maker.account == taker.account && taker.stp != SelfTradePrevention::None {
                    match taker.stp {
                        SelfTradePrevention::CancelResting => {
                            half.unlink(orders, slot);
                            steps.push(MatchStep::CancelResting { maker: slot });
                        }
                        SelfTradePrevention::CancelTaking => {
                            return TakerOutcome {
                                remaining_minor: remaining,
                                stopped_by_stp: true,
                            };
                        }
                        SelfTradePrevention::CancelBoth => {
                            half.unlink(orders, slot);
                            steps.push(MatchStep::CancelResting { maker: slot });
                            return TakerOutcome {
                                remaining_minor: remaining,
                                stopped_by_stp: true,
                            };
                        }
                        SelfTradePrevention::None => unreachable!(),
                    }
                } else {
                    let fill = remaining.min(maker.remaining_minor);
                    remaining -= fill;
                    steps.push(MatchStep::Fill {
                        maker: slot,
                        stake_minor: fill,
                    });
                    if fill == maker.remaining_minor {
                        half.unlink(orders, slot);
                        orders[slot].remaining_minor = 0;
                    } else {
                        orders[slot].remaining_minor -= fill;
                        half.levels[usize::from(tick)].stake_minor -= fill;
                    }
                }
                slot = next;
            }
        }
        TakerOutcome {
            remaining_minor: remaining,
            stopped_by_stp: false,
        }
    }

    fn fillable(&self, orders: &OrderSlab, taker: &Taker) -> i64 {
        let resting_side = taker.side.opposite();
        let half = self.half(resting_side);
        let mut filled = 0i64;
        let mut tick = half.best(resting_side);
        while let Some(current) = tick {
            if !acceptable(taker.side, taker.limit, current) || filled >= taker.stake_minor {
                break;
            }
            let mut slot = half.levels[usize::from(current)].head;
            while slot != NIL {
                let maker = &orders[slot];
                if maker.account == taker.account && taker.stp != SelfTradePrevention::None {
                    if taker.stp != SelfTradePrevention::CancelResting {
                        return filled.min(taker.stake_minor);
                    }
                } else {
                    filled += maker.remaining_minor;
                    if filled >= taker.stake_minor {
                        return taker.stake_minor;
                    }
                }
                slot = maker.next;
            }
            tick = half.next_outward(resting_side, current);
        }
        filled.min(taker.stake_minor)
    }

    fn crosses(&self, side: Side, tick: Tick) -> bool {
        let resting_side = side.opposite();
        self.half(resting_side)
            .best(resting_side)
            .is_some_and(|best| acceptable(side, tick, best))
    }

    fn best(&self, resting_side: Side) -> Option<Tick> {
        self.half(resting_side).best(resting_side)
    }

    fn next_level(&self, resting_side: Side, tick: Tick) -> Option<Tick> {
        self.half(resting_side).next_outward(resting_side, tick)
    }

    fn level_stake(&self, _orders: &OrderSlab, resting_side: Side, tick: Tick) -> i64 {
        self.half(resting_side).levels[usize::from(tick)].stake_minor
    }

    fn for_each(&self, orders: &OrderSlab, visit: &mut dyn FnMut(u32)) {
        for half in [&self.backs, &self.lays] {
            let mut tick = half.lowest();
            while let Some(current) = tick {
                let mut slot = half.levels[usize::from(current)].head;
                while slot != NIL {
                    let next = orders[slot].next;
                    visit(slot);
                    slot = next;
                }
                tick = half.next_outward(Side::Back, current);
            }
        }
    }

    fn validate(&self, orders: &OrderSlab) -> Result<(), String> {
        for (side, half) in [(Side::Back, &self.backs), (Side::Lay, &self.lays)] {
            for (tick, level) in half.levels.iter().enumerate() {
                let occupied = half.occupied[tick / 64] & (1 << (tick % 64)) != 0;
                if occupied != (level.head != NIL) {
                    return Err(format!("{side:?} tick {tick}: bitset disagrees with queue"));
                }
                let mut sum = 0i64;
                let mut prev = NIL;
                let mut slot = level.head;
                while slot != NIL {
                    let order = &orders[slot];
                    if order.side != side || usize::from(order.tick) != tick {
                        return Err(format!("order {} queued at the wrong level", order.id.0));
                    }
                    if order.remaining_minor <= 0 {
                        return Err(format!("order {} rests with no stake", order.id.0));
                    }
                    if order.prev != prev {
                        return Err(format!("order {} has a broken back link", order.id.0));
                    }
                    sum += order.remaining_minor;
                    prev = slot;
                    slot = order.next;
                }
                if prev != level.tail {
                    return Err(format!("{side:?} tick {tick}: tail is wrong"));
                }
                if sum != level.stake_minor {
                    return Err(format!(
                        "{side:?} tick {tick}: level stake {} but orders sum to {sum}",
                        level.stake_minor
                    ));
                }
            }
        }
        if let (Some(best_lay), Some(best_back)) = (self.lays.highest(), self.backs.lowest())
            && best_lay >= best_back
        {
            return Err(format!(
                "book crossed: lay at tick {best_lay} >= back at tick {best_back}"
            ));
        }
        Ok(())
    }
}
