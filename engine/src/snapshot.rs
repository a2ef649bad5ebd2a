//! Snapshots: the whole engine state as bytes, and an engine rebuilt from them.
//!
//! Recovery loads the newest snapshot and replays the journal after it, so a snapshot must
//! hold everything that decides what the engine does next: the configuration (capacities,
//! hash seed, market defaults), the sequence number and time, accounts (API keys included),
//! markets (books, positions, rules, book-stream sequence, odds state with the tick filter's
//! and circuit breakers' memory, pools and bets, in-play delay queues, votes, scheduled
//! deadlines), live orders, the client-order-id and transfer-id windows, deposits and
//! withdrawals. An engine restored from a snapshot produces the same events as the original
//! for every input that follows, and has the same [`Engine::state_hash`].
//!
//! # Format
//!
//! ```text
//! offset  size  field
//!      0     8  magic, the ASCII bytes "ODDSSNAP"
//!      8     4  format version, u32 little endian (SNAPSHOT_VERSION)
//!     12     4  reserved, zero
//!     16     -  rkyv archive of the engine image, root at the end
//! ```
//!
//! The archive uses rkyv 0.8's default format: little endian, aligned (position outcomes are
//! `i128`, so some values need **16-byte alignment**), 32-bit relative pointers. The image
//! stores what the state is, not how the engine indexes it: books as the slots of their resting
//! orders in priority order, positions with their orders oldest first, the idempotency windows
//! as their rings oldest first (never their hash tables); every index, link and scratch buffer
//! is rebuilt on load. The image carries the state hash it was taken at and a seal over its
//! header (sequence number, time, configuration, state hash, version). A file's own integrity
//! (torn writes, flipped bits) is the journal's business: it checksums snapshot files.
//!
//! # Loading
//!
//! [`Engine::from_snapshot`] never panics, whatever the bytes. It checks the framing, validates
//! the archive (bytecheck), checks the seal, rebuilds the engine while checking every index
//! and count before using it (so nothing can index out of bounds, loop or overflow), reserves
//! memory from the configuration exactly as [`Engine::new`] does, then runs
//! [`Engine::validate`] and compares the state hash with the recorded one. Bytes at a multiple
//! of [`SNAPSHOT_ALIGN`] are read in place; others are first copied once into an aligned
//! buffer.
//!
//! ```
//! use oddsmatch_engine::{AccountId, Command, Engine, EngineConfig, Input, Tier};
//!
//! let mut engine: Engine = Engine::new(EngineConfig::small());
//! let input = Input { ts_ns: 1, command: Command::create_account(AccountId(7), Tier::Basic) };
//! engine.apply(&input, &mut Vec::new());
//!
//! let bytes = engine.snapshot();
//! let restored: Engine = Engine::from_snapshot(&bytes).unwrap();
//! assert_eq!(restored.state_hash(), engine.state_hash());
//! assert_eq!(restored.seq(), 1);
//! ```

use std::fmt;

pub use rkyv::util::AlignedVec;

use crate::book::OrderBook;
use crate::engine::{Engine, image};

/// The first eight bytes of every snapshot.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"ODDSSNAP";

/// The version of the format this build writes and reads.
///
/// Version 2 added API keys to accounts; version 3 added a market's end time and lock lead
/// to its rules (so that `schedule_market` can move a lock scheduled from an end time). Other
/// versions are refused with [`SnapshotError::Version`], so a journal directory written
/// before such a change (whose genesis snapshot has the older version) does not load in this
/// build.
pub const SNAPSHOT_VERSION: u32 = 3;

/// Length of the framing before the archive.
pub const SNAPSHOT_HEADER_LEN: usize = 16;

/// The alignment at which snapshot bytes are read in place (the `i128`s inside need it).
pub const SNAPSHOT_ALIGN: usize = 16;

const _: () = assert!(SNAPSHOT_HEADER_LEN.is_multiple_of(SNAPSHOT_ALIGN));
const _: () = assert!(align_of::<rkyv::Archived<i128>>() == SNAPSHOT_ALIGN);

/// Why bytes could not be loaded as a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Fewer bytes than the framing.
    TooShort {
        /// How many bytes there were.
        len: usize,
    },
    /// The bytes do not start with [`SNAPSHOT_MAGIC`] (or the reserved field is not zero).
    NotASnapshot,
    /// A format version this build does not read.
    Version {
        /// The version found.
        found: u32,
    },
    /// The archive failed rkyv's validation (bounds, alignment, enum tags, ...).
    Archive(String),
    /// The header's seal does not match: the sequence number, the time or the configuration
    /// were damaged.
    Seal,
    /// The image is well formed but does not describe a possible state (an index out of
    /// range, an order in two books, a broken free list, ...).
    Inconsistent(String),
    /// The rebuilt engine fails [`Engine::validate`].
    Invalid(String),
    /// The rebuilt engine's state hash differs from the one recorded in the snapshot.
    StateHash {
        /// The hash recorded when the snapshot was taken.
        recorded: u64,
        /// The hash of the rebuilt engine.
        computed: u64,
    },
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::TooShort { len } => write!(
                f,
                "snapshot too short: {len} bytes, the framing alone is {SNAPSHOT_HEADER_LEN}"
            ),
            SnapshotError::NotASnapshot => write!(f, "not an oddsmatch snapshot (bad magic)"),
            SnapshotError::Version { found } => write!(
                f,
                "snapshot format version {found}, this build reads version {SNAPSHOT_VERSION}"
            ),
            SnapshotError::Archive(detail) => write!(f, "snapshot archive is invalid: {detail}"),
            SnapshotError::Seal => write!(f, "snapshot header does not match its seal"),
            SnapshotError::Inconsistent(detail) => {
                write!(f, "snapshot describes an impossible state: {detail}")
            }
            SnapshotError::Invalid(detail) => {
                write!(f, "snapshot state fails validation: {detail}")
            }
            SnapshotError::StateHash { recorded, computed } => write!(
                f,
                "snapshot state hash is {computed:#018x}, {recorded:#018x} was recorded"
            ),
        }
    }
}

impl std::error::Error for SnapshotError {}

impl<B: OrderBook> Engine<B> {
    /// The whole state as snapshot bytes (16-byte aligned). Call between inputs; it changes
    /// nothing.
    pub fn snapshot(&self) -> AlignedVec {
        let mut out = AlignedVec::new();
        self.snapshot_into(&mut out);
        out
    }

    /// Writes the snapshot into `out`, replacing what it held (its capacity is reused).
    pub fn snapshot_into(&self, out: &mut AlignedVec) {
        out.clear();
        out.extend_from_slice(&SNAPSHOT_MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        debug_assert_eq!(out.len(), SNAPSHOT_HEADER_LEN);
        image::append_image(self, out);
    }

    /// Rebuilds an engine from snapshot bytes, checking everything (see the module
    /// documentation). Never panics.
    pub fn from_snapshot(bytes: &[u8]) -> Result<Self, SnapshotError> {
        if bytes.len() < SNAPSHOT_HEADER_LEN {
            return Err(SnapshotError::TooShort { len: bytes.len() });
        }
        if bytes[..8] != SNAPSHOT_MAGIC || bytes[12..16] != [0; 4] {
            return Err(SnapshotError::NotASnapshot);
        }
        let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version { found: version });
        }
        if (bytes.as_ptr() as usize).is_multiple_of(SNAPSHOT_ALIGN) {
            image::restore_archive(&bytes[SNAPSHOT_HEADER_LEN..])
        } else {
            let mut aligned = AlignedVec::<SNAPSHOT_ALIGN>::with_capacity(bytes.len());
            aligned.extend_from_slice(bytes);
            image::restore_archive(&aligned[SNAPSHOT_HEADER_LEN..])
        }
    }
}
