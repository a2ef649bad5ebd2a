//! A stable 64-bit hash for [`crate::Engine::state_hash`].
//!
//! FNV-1a over little-endian bytes: the same on every machine and every Rust release, unlike
//! `std`'s hasher, whose algorithm may change.

/// Accumulates a state hash.
#[derive(Clone, Debug)]
pub struct StateHasher {
    state: u64,
}

impl Default for StateHasher {
    fn default() -> Self {
        StateHasher {
            state: 0xcbf2_9ce4_8422_2325,
        }
    }
}

impl StateHasher {
    /// Mixes in bytes.
    pub fn bytes(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.state ^= u64::from(*byte);
            self.state = self.state.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Mixes in an unsigned integer.
    pub fn u64(&mut self, value: u64) {
        self.bytes(&value.to_le_bytes());
    }

    /// Mixes in a signed integer.
    pub fn i64(&mut self, value: i64) {
        self.bytes(&value.to_le_bytes());
    }

    /// Mixes in a wide signed integer.
    pub fn i128(&mut self, value: i128) {
        self.bytes(&value.to_le_bytes());
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_fnv1a_vectors() {
        let mut hasher = StateHasher::default();
        assert_eq!(hasher.finish(), 0xcbf2_9ce4_8422_2325);
        hasher.bytes(b"a");
        assert_eq!(hasher.finish(), 0xaf63_dc4c_8601_ec8c);
    }
}
