//! # oddsmatch-journal
//!
//! The journal is the source of truth of oddsmatch: preallocated, memory-mapped segment files
//! of checksummed records, a writer with a durability policy, a tailing reader, snapshots and
//! recovery. It knows nothing about markets.
//!
//! Status: this crate holds the workspace's place for the journal; its implementation is the
//! work of the journal issue and is not written yet. Nothing else depends on it so far.

#![warn(missing_docs)]
