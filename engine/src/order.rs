//! Live orders, kept in a slab that is sized once at start.
//!
//! An order lives in a slot from acceptance until it is fully matched or cancelled. Slots are
//! reused through a free list, so the steady state allocates nothing. The `prev`/`next` links
//! are free for a book's own use (the ladder book threads its price-level queues through them);
//! the `position_*` links thread each account's list of open orders on one market.

use crate::ladder::Tick;
use crate::types::{OrderId, Persistence, Side, TimeInForce};

/// The "no slot" link value.
pub const NIL: u32 = u32::MAX;

/// One live order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Order {
    /// The engine's id.
    pub id: OrderId,
    /// The owner's id for it.
    pub client_order_id: u64,
    /// Index of the owning account in the engine's account table.
    pub account: u32,
    /// Index of the market in the engine's market table.
    pub market: u32,
    /// Index of the selection within its market.
    pub selection: u16,
    /// Back or lay.
    pub side: Side,
    /// Price tick on the market's ladder.
    pub tick: Tick,
    /// Unmatched stake in minor units; positive while the order rests.
    pub remaining_minor: i64,
    /// Lapse or persist.
    pub persistence: Persistence,
    /// Whether a mass quote owns it.
    pub quote: bool,
    /// Whether it must never take liquidity (checked again on replace).
    pub post_only: bool,
    /// Whether it is waiting out its market's in-play delay (in no book yet).
    pub delayed: bool,
    /// Its time in force (what a delayed order does when it enters the book).
    pub tif: TimeInForce,
    /// Index of the owner's position in its market (set when the order enters).
    pub position: u32,
    /// Previous order in the book's queue (book-private).
    pub prev: u32,
    /// Next order in the book's queue, or the next free slot (book-private).
    pub next: u32,
    /// Previous open order of the same account on the same market.
    pub position_prev: u32,
    /// Next open order of the same account on the same market.
    pub position_next: u32,
}

impl Order {
    /// A fresh order with no links.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: OrderId,
        client_order_id: u64,
        account: u32,
        market: u32,
        selection: u16,
        side: Side,
        tick: Tick,
        remaining_minor: i64,
        persistence: Persistence,
        quote: bool,
    ) -> Order {
        Order {
            id,
            client_order_id,
            account,
            market,
            selection,
            side,
            tick,
            remaining_minor,
            persistence,
            quote,
            post_only: false,
            delayed: false,
            tif: TimeInForce::Gtc,
            position: NIL,
            prev: NIL,
            next: NIL,
            position_prev: NIL,
            position_next: NIL,
        }
    }
}

/// The two ends of an intrusive list of orders, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderList {
    /// The oldest order's slot, or [`NIL`].
    pub head: u32,
    /// The newest order's slot, or [`NIL`].
    pub tail: u32,
}

impl OrderList {
    /// A list with no order.
    pub const EMPTY: OrderList = OrderList {
        head: NIL,
        tail: NIL,
    };
}

/// Fixed-capacity storage for live orders.
#[derive(Debug)]
pub struct OrderSlab {
    slots: Vec<Order>,
    capacity: u32,
    free_head: u32,
    live: u32,
}

impl OrderSlab {
    /// Reserves room for `capacity` orders up front.
    pub fn with_capacity(capacity: u32) -> OrderSlab {
        assert!(capacity < NIL);
        OrderSlab {
            slots: Vec::with_capacity(capacity as usize),
            capacity,
            free_head: NIL,
            live: 0,
        }
    }

    /// Stores an order; `None` when the slab is full.
    pub fn insert(&mut self, order: Order) -> Option<u32> {
        let slot = if self.free_head != NIL {
            let slot = self.free_head;
            self.free_head = self.slots[slot as usize].next;
            self.slots[slot as usize] = order;
            slot
        } else if (self.slots.len() as u32) < self.capacity {
            self.slots.push(order);
            self.slots.len() as u32 - 1
        } else {
            return None;
        };
        self.live += 1;
        Some(slot)
    }

    /// Frees a slot. The order must be unlinked from its book and its account's list.
    pub fn remove(&mut self, slot: u32) {
        debug_assert!(self.live > 0);
        let order = &mut self.slots[slot as usize];
        order.remaining_minor = 0;
        order.next = self.free_head;
        self.free_head = slot;
        self.live -= 1;
    }

    /// Whether another order fits.
    pub fn is_full(&self) -> bool {
        self.live == self.capacity
    }

    /// Number of live orders.
    pub fn len(&self) -> u32 {
        self.live
    }

    /// Whether no order is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
}

impl Clone for OrderSlab {
    /// A copy with the same reserved capacity, so that the copy never reallocates either
    /// (a derived clone would reserve only the slots in use).
    fn clone(&self) -> Self {
        let mut slots = Vec::with_capacity(self.capacity as usize);
        slots.extend_from_slice(&self.slots);
        OrderSlab {
            slots,
            capacity: self.capacity,
            free_head: self.free_head,
            live: self.live,
        }
    }
}

impl OrderSlab {
    /// The slots used so far (live and free, in slot order), the head of the free list and
    /// the number of live orders: what a snapshot stores.
    pub(crate) fn parts(&self) -> (&[Order], u32, u32) {
        (&self.slots, self.free_head, self.live)
    }

    /// A slab of `capacity` holding `slots`, whose free list starts at `free_head`. The caller
    /// has checked the parts (a free list through free slots only, `live` slots not on it).
    pub(crate) fn from_parts(
        capacity: u32,
        mut slots: Vec<Order>,
        free_head: u32,
        live: u32,
    ) -> Self {
        debug_assert!(capacity < NIL && slots.len() <= capacity as usize);
        debug_assert!(live as usize <= slots.len());
        slots.reserve_exact((capacity as usize).saturating_sub(slots.len()));
        OrderSlab {
            slots,
            capacity,
            free_head,
            live,
        }
    }
}

impl std::ops::Index<u32> for OrderSlab {
    type Output = Order;
    fn index(&self, slot: u32) -> &Order {
        &self.slots[slot as usize]
    }
}

impl std::ops::IndexMut<u32> for OrderSlab {
    fn index_mut(&mut self, slot: u32) -> &mut Order {
        &mut self.slots[slot as usize]
    }
}

impl OrderSlab {
    /// Appends the order in `slot` to `list` (its position's list) through its `position_*`
    /// links.
    pub fn push_back(&mut self, list: &mut OrderList, slot: u32) {
        let tail = list.tail;
        if tail == NIL {
            list.head = slot;
        } else {
            self[tail].position_next = slot;
        }
        list.tail = slot;
        self[slot].position_prev = tail;
        self[slot].position_next = NIL;
    }

    /// Takes the order in `slot` out of `list`.
    pub fn unlink(&mut self, list: &mut OrderList, slot: u32) {
        let (prev, next) = (self[slot].position_prev, self[slot].position_next);
        if prev == NIL {
            list.head = next;
        } else {
            self[prev].position_next = next;
        }
        if next == NIL {
            list.tail = prev;
        } else {
            self[next].position_prev = prev;
        }
    }
}

const _: () = assert!(size_of::<Order>() == 64, "an order fills one cache line");
