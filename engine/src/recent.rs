//! A bounded window of recently used keys, for idempotency (client order ids, transfer ids).
//!
//! Lookups go through a hash map; the order of the window lives in a ring, so nothing ever
//! iterates the map and the state hash sees the ring's deterministic order.

use std::collections::VecDeque;
use std::hash::Hash;

use rustc_hash::FxHashMap;

/// The `capacity` most recently inserted keys, each with a value; the oldest is forgotten
/// when a new one arrives at capacity.
#[derive(Clone, Debug)]
pub struct RecentKeys<K, V> {
    capacity: usize,
    order: VecDeque<K>,
    values: FxHashMap<K, V>,
}

impl<K: Copy + Eq + Hash, V: Copy> RecentKeys<K, V> {
    /// An empty window with room for `capacity` entries reserved up front, so that inserting
    /// never reallocates (a rehash of a large table would stall the shard).
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0);
        let mut values = FxHashMap::default();
        values.reserve(capacity + 1);
        RecentKeys {
            capacity,
            order: VecDeque::with_capacity(capacity),
            values,
        }
    }

    /// The value remembered for `key`, if it is still in the window.
    pub fn get(&self, key: &K) -> Option<V> {
        self.values.get(key).copied()
    }

    /// Remembers a key that is not in the window.
    pub fn insert(&mut self, key: K, value: V) {
        debug_assert!(!self.values.contains_key(&key));
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.values.remove(&oldest);
        }
        self.order.push_back(key);
        self.values.insert(key, value);
    }

    /// Every remembered key with its value, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (K, V)> + '_ {
        self.order.iter().map(|key| (*key, self.values[key]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_key_at_capacity() {
        let mut window = RecentKeys::new(2);
        window.insert(1u64, 10u64);
        window.insert(2, 20);
        window.insert(3, 30);
        assert_eq!(window.get(&1), None);
        assert_eq!(window.get(&2), Some(20));
        assert_eq!(window.iter().collect::<Vec<_>>(), vec![(2, 20), (3, 30)]);
    }
}
