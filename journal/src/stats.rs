//! Summary figures of a journal directory (for `oddsmatch journal stats`).

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::JournalError;
use crate::format;
use crate::io::{Io, MmapIo};
use crate::reader::Reader;
use crate::recovery::TornTail;

/// What `stats` counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records on disk.
    pub records: u64,
    /// Bytes the records occupy (headers, payloads and padding).
    pub bytes: u64,
    /// Payload bytes alone.
    pub payload_bytes: u64,
    /// Active segment files.
    pub segments: u64,
    /// Total size of the segment files.
    pub file_bytes: u64,
    /// First sequence number on disk.
    pub first_seq: Option<u64>,
    /// Last sequence number on disk.
    pub last_seq: Option<u64>,
    /// Timestamp of the first record.
    pub first_ts_ns: Option<u64>,
    /// Timestamp of the last record.
    pub last_ts_ns: Option<u64>,
    /// Records per kind.
    pub kinds: BTreeMap<u16, u64>,
    /// A torn tail at the end (not truncated: stats only reads).
    pub torn_tail: Option<TornTail>,
}

/// Reads every record of the journal in `dir` (validating each) and counts.
pub fn stats(dir: &Path) -> Result<Stats, JournalError> {
    stats_with(dir, MmapIo)
}

/// [`stats`] through any [`Io`].
pub fn stats_with<I: Io>(dir: &Path, io: I) -> Result<Stats, JournalError> {
    let reader = Reader::open_with(dir, io)?;
    let mut s = Stats {
        segments: reader.segments().len() as u64,
        file_bytes: reader.segments().iter().map(|i| i.file_bytes).sum(),
        torn_tail: reader.torn_tail().cloned(),
        ..Stats::default()
    };
    for record in reader.iter() {
        let r = record?;
        s.records += 1;
        s.payload_bytes += r.payload.len() as u64;
        s.bytes += format::record_bytes(r.payload.len()) as u64;
        s.first_seq.get_or_insert(r.seq);
        s.last_seq = Some(r.seq);
        s.first_ts_ns.get_or_insert(r.ts_ns);
        s.last_ts_ns = Some(r.ts_ns);
        *s.kinds.entry(r.kind).or_insert(0) += 1;
    }
    Ok(s)
}
