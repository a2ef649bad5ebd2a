//! How to open a journal.

use std::path::PathBuf;

use crate::durability::Durability;
use crate::error::JournalError;
use crate::format;

/// How to open a journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    /// The journal directory (segments in it, snapshots in `snapshots/` below it).
    pub dir: PathBuf,
    /// Size of each new segment file. Default 256 MiB; at least 64 KiB and a multiple of
    /// 4096. Existing segments keep the size written in their header.
    pub segment_bytes: u64,
    /// When records are flushed to disk. Default `Os`.
    pub durability: Durability,
    /// On corruption before the tail, truncate there and drop later segments instead of
    /// failing. Default false. Records after the damage are lost: copy the directory first.
    pub repair: bool,
}

impl JournalConfig {
    /// Default segment size: 256 MiB.
    pub const DEFAULT_SEGMENT_BYTES: u64 = 256 << 20;
    /// Smallest segment size accepted: 64 KiB.
    pub const MIN_SEGMENT_BYTES: u64 = 64 << 10;
    /// Largest segment size accepted: 64 GiB.
    pub const MAX_SEGMENT_BYTES: u64 = 64 << 30;

    /// A configuration with the defaults for `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        JournalConfig {
            dir: dir.into(),
            segment_bytes: Self::DEFAULT_SEGMENT_BYTES,
            durability: Durability::Os,
            repair: false,
        }
    }

    /// Checks the knobs; `Journal::open` calls this.
    pub fn validate(&self) -> Result<(), JournalError> {
        let b = self.segment_bytes;
        if !(Self::MIN_SEGMENT_BYTES..=Self::MAX_SEGMENT_BYTES).contains(&b) {
            return Err(JournalError::Config(format!(
                "segment_bytes {b} outside {}..={}",
                Self::MIN_SEGMENT_BYTES,
                Self::MAX_SEGMENT_BYTES
            )));
        }
        if !b.is_multiple_of(4096) {
            return Err(JournalError::Config(format!(
                "segment_bytes {b} is not a multiple of 4096"
            )));
        }
        if usize::try_from(b).is_err() {
            return Err(JournalError::Config(format!(
                "segment_bytes {b} does not fit in this platform's address space"
            )));
        }
        debug_assert!(format::max_payload_bytes(b) > 0);
        Ok(())
    }
}
