//! # oddsmatch-journal
//!
//! The journal is the source of truth of oddsmatch: preallocated, memory-mapped segment files
//! of checksummed records, a writer with a durability policy, a reader, a tailer that follows
//! a live writer, snapshots and recovery. It knows nothing about markets: payloads are bytes
//! (rkyv archives defined by the engine; kind 1 = one engine input with its events).
//!
//! ## Map
//! - [`Journal`] (writer.rs): the single writer. `append` copies a record into the mapping and
//!   publishes it; `commit` applies the [`Durability`] policy; segments roll when full onto a
//!   segment prepared ahead of time (prepare.rs).
//! - Recovery (recovery.rs) runs inside `Journal::open`: torn tails are truncated and
//!   reported, corruption before the tail is an error (or repaired on request).
//! - [`Reader`] iterates from any sequence number; [`Tailer`] follows a live writer.
//! - [`SnapshotStore`]: atomic, checksummed snapshot files with fallback to older ones.
//! - [`Io`]: every file access; [`MmapIo`] for real, [`SimIo`] in memory with crash points.
//! - format.rs and docs/journal-format.md: the byte layout.
//!
//! **Invariants.** A record is visible to readers only once its first word (length and
//! checksum) is published with a release store, after everything else of it. Bytes past the
//! written records of a segment are zero. The journal never reads past a file's length.
//!
//! Directory layout: `DIR/{index:016}.seg` segments, `DIR/snapshots/{seq:020}.snap`
//! snapshots, `DIR/writer.lock`.

#![warn(missing_docs)]

mod config;
mod durability;
mod error;
pub mod format;
pub mod io;
mod prepare;
mod reader;
mod recovery;
mod segment;
mod snapshot;
mod stats;
mod tailer;
mod writer;

pub use config::JournalConfig;
pub use durability::{Durability, ParseDurabilityError};
pub use error::{Defect, JournalError};
pub use io::{Io, MmapIo, SimIo};
pub use reader::{Reader, RecordRef, Records, SegmentInfo};
pub use recovery::{Recovery, Repair, TornTail};
pub use snapshot::{
    LoadedSnapshot, SnapshotInfo, SnapshotStore, snapshot_file_name, write_snapshot_file,
};
pub use stats::{Stats, stats, stats_with};
pub use tailer::Tailer;
pub use writer::Journal;

/// Record kind of one engine input with the events it produced (payload defined by the
/// engine).
pub const KIND_ENGINE_INPUT: u16 = 1;

/// Name of the writer's lock file in the journal directory.
pub const LOCK_FILE: &str = "writer.lock";
