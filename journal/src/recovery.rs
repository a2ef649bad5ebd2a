//! What the writer does on open: scan every segment to the last valid record, truncate a torn
//! tail, stop at corruption (or repair it when asked), and leave the directory in the state
//! the writer continues from.
//!
//! Rules (docs/journal-format.md has the full table):
//! - Active segments must have consecutive indices, valid headers whose size matches the
//!   file, and continuous sequence numbers across segments.
//! - In the last active segment, non-zero bytes after the last valid record with no valid
//!   record anywhere after them are a *torn tail*: zeroed and reported.
//! - Anything else that is not valid (a bad checksum or length with valid records after it,
//!   a valid record with the wrong sequence number, damage in any segment but the last, a bad
//!   header before the last active segment) is *corruption*: an error naming the file and
//!   offset, or with `repair`, truncation there and removal of every later segment.
//! - Files after the last active segment: prepared ones (zero header) are removed, so are torn
//!   activations (invalid header, no valid record inside; reported as a torn tail). A short
//!   file, a valid header on a file of the wrong size, or a damaged header over valid records
//!   is corruption.
//! - A newer format version is always an error, never repaired.

use std::path::{Path, PathBuf};

use crate::error::{Defect, JournalError};
use crate::format::{END_MARKER, SEGMENT_HEADER_BYTES};
use crate::io::{Io, WriteRegion};
use crate::segment::{
    self, Opened, SegEnd, SegScan, SegmentFile, inspect_tail, list_segment_files, open_segment,
    scan_segment,
};

/// A torn write found at the end of the journal and zeroed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset in the file where the torn bytes start (just after the last valid record,
    /// or 0 for a segment whose activation was torn).
    pub offset: u64,
    /// How many bytes were (or, for a read-only reader, would be) discarded.
    pub bytes: u64,
}

/// What `JournalConfig::repair` discarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repair {
    /// The segment file where the damage starts.
    pub segment: PathBuf,
    /// Byte offset of the damage in that file.
    pub offset: u64,
    /// What was wrong there.
    pub defect: Defect,
    /// Bytes zeroed in `segment` from `offset` on (0 if the whole file was dropped).
    pub bytes: u64,
    /// Segment files removed entirely (the damaged one if its header was bad, and all later).
    pub dropped_segments: Vec<PathBuf>,
}

/// What `Journal::open` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// Last sequence number on disk, 0 if the journal holds no record.
    pub last_seq: u64,
    /// First sequence number still on disk.
    pub first_seq: Option<u64>,
    /// Records scanned (all valid).
    pub records: u64,
    /// Active segments after recovery.
    pub segments: usize,
    /// A torn tail that was truncated.
    pub torn_tail: Option<TornTail>,
    /// What repair discarded, if it had to.
    pub repaired: Option<Repair>,
}

/// The last active segment, mapped for writing.
pub(crate) struct TailSegment<M> {
    pub map: M,
    pub index: u64,
    pub path: PathBuf,
    pub first_seq: u64,
    pub records: u64,
    /// Where the next record goes (or where the end marker sits when sealed).
    pub offset: usize,
    /// Ends with an end marker or is exactly full: the next append rolls.
    pub sealed: bool,
}

/// Everything the writer continues from.
pub(crate) struct Recovered<M> {
    pub recovery: Recovery,
    /// `(index, first_seq)` of every active segment, oldest first (the tail's included).
    pub segments: Vec<(u64, u64)>,
    pub tail: Option<TailSegment<M>>,
    pub next_index: u64,
}

/// Where scanning stopped on damage.
struct Stop {
    /// The file named in the error.
    path: PathBuf,
    offset: u64,
    defect: Defect,
    /// Record-level damage: zero `from..to` in file `pos` and keep it.
    truncate: Option<(usize, usize)>,
}

struct ChainSeg<M> {
    file: SegmentFile,
    first_seq: u64,
    map: M,
    scan: SegScan,
}

fn chain_last_seq<M>(seg: &ChainSeg<M>) -> u64 {
    seg.first_seq
        .saturating_add(seg.scan.records)
        .saturating_sub(1)
}

/// Scans `dir` and brings it into the state the writer continues from.
pub(crate) fn recover<I: Io>(
    io: &I,
    dir: &Path,
    repair: bool,
) -> Result<Recovered<I::WriteMap>, JournalError> {
    let (files, leftovers) = list_segment_files(io, dir)?;
    let mut removed_any = false;
    for path in leftovers {
        remove(io, &path)?;
        removed_any = true;
    }
    let mut opened = Vec::with_capacity(files.len());
    for file in files {
        let state = open_segment(io, &file)?;
        opened.push((file, state));
    }
    let last_active = opened
        .iter()
        .rposition(|(_, o)| matches!(o, Opened::Active { .. }));

    // Walk the chain of active segments. Files that a stop would drop collect in `to_drop`.
    let mut chain: Vec<ChainSeg<I::ReadMap>> = Vec::new();
    let mut stop: Option<Stop> = None;
    let mut to_drop: Vec<PathBuf> = Vec::new();
    let mut torn_tail: Option<TornTail> = None;
    let mut torn_zero: Option<(usize, usize)> = None;
    let mut unsealed_ends: Vec<(usize, usize)> = Vec::new(); // (chain position, offset)
    let trailing = match last_active {
        None => opened,
        Some(last_active) => {
            let trailing = opened.split_off(last_active + 1);
            let mut iter = opened.into_iter();
            for (pos, (file, state)) in iter.by_ref().enumerate() {
                if let Some(prev) = chain.last() {
                    let want = prev.file.index + 1;
                    if file.index != want {
                        let missing = segment::segment_path(dir, want);
                        stop = Some(file_stop(missing, 0, Defect::Missing));
                        to_drop.push(file.path);
                        break;
                    }
                }
                let (header, map) = match state {
                    Opened::Active { header, map } => (header, map),
                    Opened::Prepared => {
                        stop = Some(file_stop(file.path.clone(), 0, Defect::NotActivated));
                        to_drop.push(file.path);
                        break;
                    }
                    Opened::Short { file_bytes } => {
                        stop = Some(file_stop(
                            file.path.clone(),
                            0,
                            Defect::Short { file_bytes },
                        ));
                        to_drop.push(file.path);
                        break;
                    }
                    Opened::Bad { defect, .. } => {
                        stop = Some(file_stop(file.path.clone(), 0, defect));
                        to_drop.push(file.path);
                        break;
                    }
                };
                if let Some(prev) = chain.last() {
                    let expected = chain_last_seq(prev).saturating_add(1);
                    if header.first_seq != expected {
                        let defect = Defect::SequenceGap {
                            expected,
                            found: header.first_seq,
                        };
                        stop = Some(file_stop(file.path.clone(), 24, defect));
                        to_drop.push(file.path);
                        break;
                    }
                }
                let scan = scan_segment(&map, header.first_seq);
                let is_last = pos == last_active;
                let record_stop = |offset: usize, garbage_end: usize, defect: Defect| Stop {
                    path: file.path.clone(),
                    offset: offset as u64,
                    defect,
                    truncate: Some((offset, garbage_end)),
                };
                match scan.end {
                    SegEnd::Marker(_) | SegEnd::Full => {}
                    SegEnd::Clean(offset) => {
                        if !is_last {
                            unsealed_ends.push((chain.len(), offset));
                        }
                    }
                    SegEnd::Torn {
                        offset,
                        garbage_end,
                        defect,
                    } => {
                        if is_last {
                            torn_tail = Some(TornTail {
                                segment: file.path.clone(),
                                offset: offset as u64,
                                bytes: (garbage_end - offset) as u64,
                            });
                            torn_zero = Some((offset, garbage_end));
                        } else {
                            stop = Some(record_stop(offset, garbage_end, defect));
                        }
                    }
                    SegEnd::Corrupt {
                        offset,
                        garbage_end,
                        defect,
                    } => {
                        stop = Some(record_stop(offset, garbage_end, defect));
                    }
                }
                chain.push(ChainSeg {
                    file,
                    first_seq: header.first_seq,
                    map,
                    scan,
                });
                if stop.is_some() {
                    break;
                }
            }
            // Whatever the loop did not reach goes with the stop.
            to_drop.extend(iter.map(|(f, _)| f.path));
            trailing
        }
    };

    // Files after the chain: prepared ones and torn activations go; damaged ones that hold
    // records are corruption.
    let last_seq_so_far = chain.last().map(chain_last_seq).unwrap_or(0);
    let mut junk = Vec::new();
    for (file, state) in trailing {
        if stop.is_some() {
            // Dropped with the stop; prepared files hold nothing worth reporting.
            match state {
                Opened::Prepared => junk.push(file.path),
                _ => to_drop.push(file.path),
            }
            continue;
        }
        match state {
            Opened::Prepared | Opened::Active { .. } => junk.push(file.path),
            // Segments are created full-size under another name: a short one was damaged.
            Opened::Short { file_bytes } => {
                stop = Some(file_stop(
                    file.path.clone(),
                    0,
                    Defect::Short { file_bytes },
                ));
                to_drop.push(file.path);
            }
            // A valid header on a file of the wrong size or name: activated, then damaged.
            Opened::Bad {
                defect: defect @ (Defect::LengthMismatch { .. } | Defect::IndexMismatch { .. }),
                ..
            } => {
                stop = Some(file_stop(file.path.clone(), 0, defect));
                to_drop.push(file.path);
            }
            Opened::Bad { defect, map } => {
                let tail = match &map {
                    Some(m) => inspect_tail(m, 0, last_seq_so_far),
                    None => segment::Tail {
                        garbage_end: 0,
                        valid_after: Some(0),
                    },
                };
                if tail.valid_after.is_some() {
                    stop = Some(file_stop(file.path.clone(), 0, defect));
                    to_drop.push(file.path);
                    continue;
                }
                if torn_tail.is_none() {
                    torn_tail = Some(TornTail {
                        segment: file.path.clone(),
                        offset: 0,
                        bytes: tail.garbage_end as u64,
                    });
                }
                junk.push(file.path);
            }
        }
    }

    let mut repaired = None;
    if let Some(stop) = stop {
        if !repair {
            return Err(JournalError::corrupt(stop.path, stop.offset, stop.defect));
        }
        // Repair: keep the chain up to the damage, drop every file after it.
        let mut bytes = 0u64;
        if let Some((from, to)) = stop.truncate {
            // Record-level damage is always in the last chain entry; truncate it there.
            if let Some(last) = chain.last_mut() {
                zero_in_file(io, &last.file.path, from, to)?;
                bytes = (to - from) as u64;
                last.scan.end = SegEnd::Clean(from);
                last.scan.end_offset = from;
            }
        }
        // The new last segment stays open for appends.
        unsealed_ends.retain(|&(i, _)| i + 1 < chain.len());
        for path in to_drop.iter().chain(&junk) {
            remove(io, path)?;
        }
        junk.clear();
        removed_any = true;
        repaired = Some(Repair {
            segment: stop.path,
            offset: stop.offset,
            defect: stop.defect,
            bytes,
            dropped_segments: to_drop,
        });
    }

    // Apply: zero a torn tail, seal segments that ended without a marker, drop junk.
    if let (Some((from, to)), Some(last)) = (torn_zero, chain.last()) {
        zero_in_file(io, &last.file.path, from, to)?;
    }
    for &(i, offset) in &unsealed_ends {
        let path = &chain[i].file.path;
        let mut map = io
            .map_write(path, false)
            .map_err(|e| JournalError::io("map", path, e))?;
        map.publish(offset, END_MARKER)
            .map_err(|e| JournalError::io("write", path, e))?;
        chain[i].scan.end = SegEnd::Marker(offset);
    }
    for path in &junk {
        remove(io, path)?;
        removed_any = true;
    }
    // Make what is on disk durable, so that durable_seq can start at last_seq.
    for seg in &chain {
        io.sync_file(&seg.file.path)
            .map_err(|e| JournalError::io("fsync", &seg.file.path, e))?;
    }
    if removed_any {
        io.sync_dir(dir)
            .map_err(|e| JournalError::io("fsync dir", dir, e))?;
    }

    let records: u64 = chain.iter().map(|c| c.scan.records).sum();
    let last_seq = if records == 0 {
        0
    } else {
        chain.last().map(chain_last_seq).unwrap_or(0)
    };
    let first_seq = if records == 0 {
        None
    } else {
        chain.first().map(|c| c.first_seq)
    };
    let segments: Vec<(u64, u64)> = chain.iter().map(|c| (c.file.index, c.first_seq)).collect();
    let next_index = chain.last().map(|c| c.file.index + 1).unwrap_or(0);
    let tail = match chain.pop() {
        None => None,
        Some(last) => {
            drop(last.map);
            let map = io
                .map_write(&last.file.path, true)
                .map_err(|e| JournalError::io("map", &last.file.path, e))?;
            let (offset, sealed) = match last.scan.end {
                SegEnd::Marker(o) => (o, true),
                SegEnd::Full => (last.scan.end_offset, true),
                SegEnd::Clean(o) => (o, false),
                SegEnd::Torn { offset, .. } | SegEnd::Corrupt { offset, .. } => (offset, false),
            };
            debug_assert!(offset >= SEGMENT_HEADER_BYTES);
            Some(TailSegment {
                map,
                index: last.file.index,
                path: last.file.path,
                first_seq: last.first_seq,
                records: last.scan.records,
                offset,
                sealed,
            })
        }
    };
    Ok(Recovered {
        recovery: Recovery {
            last_seq,
            first_seq,
            records,
            segments: segments.len(),
            torn_tail,
            repaired,
        },
        segments,
        tail,
        next_index,
    })
}

fn file_stop(path: PathBuf, offset: u64, defect: Defect) -> Stop {
    Stop {
        path,
        offset,
        defect,
        truncate: None,
    }
}

fn remove<I: Io>(io: &I, path: &Path) -> Result<(), JournalError> {
    match io.remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(JournalError::io("remove", path, e)),
    }
}

/// Zeroes `from..to` of a segment (first word first, so that a crash half-way leaves no
/// record-looking bytes at `from`) and syncs it.
fn zero_in_file<I: Io>(io: &I, path: &Path, from: usize, to: usize) -> Result<(), JournalError> {
    if from >= to {
        return Ok(());
    }
    let mut map = io
        .map_write(path, false)
        .map_err(|e| JournalError::io("map", path, e))?;
    zero_range(&mut map, from, to).map_err(|e| JournalError::io("write", path, e))?;
    map.flush(from, to - from)
        .map_err(|e| JournalError::io("msync", path, e))
}

/// Writes zeros over `from..to`.
pub(crate) fn zero_range<M: WriteRegion>(
    map: &mut M,
    from: usize,
    to: usize,
) -> std::io::Result<()> {
    static ZEROS: [u8; 4096] = [0; 4096];
    let mut at = from;
    while at < to {
        let n = (to - at).min(ZEROS.len());
        map.write(at, &ZEROS[..n])?;
        at += n;
    }
    Ok(())
}
