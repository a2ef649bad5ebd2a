//! Helpers shared by the journal's integration tests.
#![allow(dead_code)]

use std::path::Path;

use oddsmatch_journal::{Durability, Io, JournalConfig, Reader};

/// Smallest segment size the journal accepts: makes rolls frequent.
pub const SMALL_SEGMENT: u64 = 64 << 10;

/// A small deterministic generator (xorshift64*), so streams are reproducible from a seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The payload of record `seq` with `len` bytes: recognisable and different per record.
pub fn payload(seq: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seq.wrapping_mul(131) as u8).wrapping_add((i as u8).wrapping_mul(7)))
        .collect()
}

/// The timestamp given to record `seq`.
pub fn ts(seq: u64) -> u64 {
    1_700_000_000_000_000_000 + seq * 1_000
}

/// The kind given to record `seq`.
pub fn kind(seq: u64) -> u16 {
    (seq % 3) as u16 + 1
}

/// A config with small segments.
pub fn config(dir: &Path, durability: Durability) -> JournalConfig {
    let mut c = JournalConfig::new(dir);
    c.segment_bytes = SMALL_SEGMENT;
    c.durability = durability;
    c
}

/// Payload lengths of a random stream: mostly small, some large (a few KiB).
pub fn lengths(seed: u64, n: usize) -> Vec<usize> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| match rng.below(10) {
            0 => rng.below(8000) as usize,
            1 => 0,
            _ => rng.below(600) as usize,
        })
        .collect()
}

/// Reads every record and checks it is `first..=last` with the expected contents; returns the
/// sequence numbers read.
pub fn check_records<I: Io>(dir: &Path, io: I, lens: &dyn Fn(u64) -> usize) -> Vec<u64> {
    let reader = Reader::open_with(dir, io).expect("reader opens");
    let mut seqs = Vec::new();
    for r in reader.iter() {
        let r = r.expect("valid record");
        assert_eq!(
            r.payload,
            &payload(r.seq, lens(r.seq))[..],
            "payload of {}",
            r.seq
        );
        assert_eq!(r.ts_ns, ts(r.seq));
        assert_eq!(r.kind, kind(r.seq));
        assert_eq!(r.payload.as_ptr() as usize % 8, 0, "payload 8-aligned");
        if let Some(&prev) = seqs.last() {
            assert_eq!(r.seq, prev + 1, "records are consecutive");
        }
        seqs.push(r.seq);
    }
    assert_eq!(seqs.last().copied().unwrap_or(0), reader.last_seq());
    seqs
}
