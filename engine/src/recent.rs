//! A bounded window of recently used keys, for idempotency (client order ids, transfer ids).
//!
//! The window remembers the `capacity` most recently inserted keys in a ring, oldest first, and
//! finds them through an open-addressing table (linear probing, deletion by backward shift, so
//! no tombstones) kept at most half full. Every new order looks up its key, inserts it and
//! evicts the oldest key: with a million-key window those touch memory at random, so the table
//! keeps key and value in the slot itself and each step costs one cache line, not the two
//! (control bytes, then the entry) of a general-purpose map.
//!
//! Nothing ever iterates the table: the state hash walks the ring, whose order is
//! deterministic. Memory is sized once at construction; inserting never allocates.

use std::collections::VecDeque;
use std::hash::Hash;

use ahash::RandomState;

/// The `capacity` most recently inserted keys, each with a value; the oldest is forgotten
/// when a new one arrives at capacity.
#[derive(Debug)]
pub struct RecentKeys<K, V> {
    capacity: usize,
    order: VecDeque<K>,
    slots: Box<[Option<(K, V)>]>,
    /// `slots.len() - 1`; the table's size is a power of two.
    mask: usize,
    /// How far to shift a 64-bit hash to get a slot index from its high bits.
    shift: u32,
    /// A keyed hash: keys come from clients, and with an unkeyed hash a client could choose
    /// keys that all land in one probe run and make every lookup slow.
    hasher: RandomState,
}

impl<K: Copy, V: Copy> Clone for RecentKeys<K, V> {
    /// A copy with the same reserved capacity (a derived clone of the ring would reserve only
    /// what is in use, and the copy would reallocate as it fills).
    fn clone(&self) -> Self {
        let mut order = VecDeque::with_capacity(self.capacity);
        order.extend(self.order.iter().copied());
        RecentKeys {
            capacity: self.capacity,
            order,
            slots: self.slots.clone(),
            mask: self.mask,
            shift: self.shift,
            hasher: self.hasher.clone(),
        }
    }
}

impl<K: Copy + Eq + Hash, V: Copy> RecentKeys<K, V> {
    /// An empty window with all its memory reserved up front, hashing with `hash_seed`.
    ///
    /// The seed decides only where keys sit in the table, never what a lookup answers, and
    /// nothing iterates the table, so it has no effect on events or the state hash.
    pub fn new(capacity: usize, hash_seed: u64) -> Self {
        assert!(capacity > 0);
        let size = (capacity * 2).next_power_of_two().max(2);
        RecentKeys {
            capacity,
            order: VecDeque::with_capacity(capacity),
            slots: vec![None; size].into_boxed_slice(),
            mask: size - 1,
            shift: 64 - size.trailing_zeros(),
            hasher: RandomState::with_seeds(
                hash_seed,
                hash_seed ^ 0x243f_6a88_85a3_08d3,
                hash_seed ^ 0x1319_8a2e_0370_7344,
                hash_seed ^ 0xa409_3822_299f_31d0,
            ),
        }
    }

    fn home(&self, key: &K) -> usize {
        (self.hasher.hash_one(key) >> self.shift) as usize & self.mask
    }

    /// The slot holding `key`, if it is remembered.
    fn find(&self, key: &K) -> Option<usize> {
        let mut index = self.home(key);
        loop {
            match &self.slots[index] {
                None => return None,
                Some((stored, _)) if stored == key => return Some(index),
                Some(_) => index = (index + 1) & self.mask,
            }
        }
    }

    /// Asks the processor to start fetching what [`Self::get`] and [`Self::insert`] of `key`
    /// will read (its home slot, and the oldest key's, which an insert evicts), so that the
    /// caller can do other work while the cache misses are served. Changes nothing.
    #[inline]
    pub fn prefetch(&self, key: &K) {
        prefetch_read(&self.slots[self.home(key)]);
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.front()
        {
            prefetch_read(&self.slots[self.home(oldest)]);
        }
    }

    /// The value remembered for `key`, if it is still in the window.
    pub fn get(&self, key: &K) -> Option<V> {
        self.find(key)
            .and_then(|index| self.slots[index].map(|(_, value)| value))
    }

    /// Remembers a key that is not in the window, forgetting the oldest one at capacity.
    pub fn insert(&mut self, key: K, value: V) {
        debug_assert!(self.find(&key).is_none());
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.remove(&oldest);
        }
        let mut index = self.home(&key);
        while self.slots[index].is_some() {
            index = (index + 1) & self.mask;
        }
        self.slots[index] = Some((key, value));
        self.order.push_back(key);
    }

    /// Forgets a key, shifting the rest of its probe run back so that lookups stay correct
    /// without tombstones.
    fn remove(&mut self, key: &K) {
        let Some(mut hole) = self.find(key) else {
            debug_assert!(false, "a key in the ring is in the table");
            return;
        };
        self.slots[hole] = None;
        let mut next = (hole + 1) & self.mask;
        while let Some((moved, _)) = self.slots[next] {
            let home = self.home(&moved);
            // The entry at `next` may move into the hole unless its home lies cyclically in
            // (hole, next]: then the hole is before its home and lookups would miss it.
            let stays = if hole <= next {
                hole < home && home <= next
            } else {
                hole < home || home <= next
            };
            if !stays {
                self.slots[hole] = self.slots[next].take();
                hole = next;
            }
            next = (next + 1) & self.mask;
        }
    }

    /// Every remembered key with its value, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (K, V)> + '_ {
        self.order.iter().map(|key| {
            let value = self.get(key).expect("a key in the ring is in the table");
            (*key, value)
        })
    }
}

/// A prefetch hint for the cache line holding `value`; a no-op where there is none.
#[inline(always)]
fn prefetch_read<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is a hint: it reads nothing architecturally visible and cannot
        // fault, and `value` is a valid reference besides.
        #[allow(unused_unsafe)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast::<i8>());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn forgets_the_oldest_key_at_capacity() {
        let mut window = RecentKeys::new(2, 7);
        window.insert(1u64, 10u64);
        window.insert(2, 20);
        window.insert(3, 30);
        assert_eq!(window.get(&1), None);
        assert_eq!(window.get(&2), Some(20));
        assert_eq!(window.iter().collect::<Vec<_>>(), vec![(2, 20), (3, 30)]);
    }

    proptest! {
        /// The table answers exactly like a naive list of the last `capacity` keys, including
        /// when keys collide and removals shift probe runs around the end of the table.
        #[test]
        fn matches_a_naive_window(
            capacity in 1usize..40,
            seed in any::<u64>(),
            keys in proptest::collection::vec((0u32..4, 0u64..64), 1..400),
        ) {
            let mut window = RecentKeys::new(capacity, seed);
            let mut model: VecDeque<((u32, u64), u64)> = VecDeque::new();
            for (n, key) in keys.into_iter().enumerate() {
                let expected = model.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
                prop_assert_eq!(window.get(&key), expected);
                if expected.is_none() {
                    window.insert(key, n as u64);
                    if model.len() == capacity {
                        model.pop_front();
                    }
                    model.push_back((key, n as u64));
                }
                prop_assert_eq!(window.iter().collect::<Vec<_>>(), model.iter().copied().collect::<Vec<_>>());
            }
        }
    }
}
