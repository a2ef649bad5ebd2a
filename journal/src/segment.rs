//! Segment files: names, opening (length checked before anything is read), record slots and
//! the scan that finds where the written records end.

use std::path::{Path, PathBuf};

use crate::error::{Defect, JournalError};
use crate::format::{
    self, END_MARKER, FORMAT_VERSION, HeaderProblem, MAX_PAYLOAD_BYTES, RECORD_HEADER_BYTES,
    RecordMeta, SEGMENT_HEADER_BYTES, SegmentHeader,
};
use crate::io::{self, Io, Region};

/// File name suffix of segments.
const SEGMENT_SUFFIX: &str = ".seg";
/// Suffix of a segment being prepared (renamed to `.seg` once full-sized and synced).
const PREPARE_SUFFIX: &str = ".seg.tmp";

/// `{index:016}.seg`.
pub(crate) fn segment_file_name(index: u64) -> String {
    format!("{index:016}{SEGMENT_SUFFIX}")
}

/// The path of segment `index` in `dir`.
pub(crate) fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(segment_file_name(index))
}

/// The path a segment is prepared under before it gets its final name.
pub(crate) fn prepare_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:016}{PREPARE_SUFFIX}"))
}

fn parse_index(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A segment file found in a directory.
#[derive(Clone, Debug)]
pub(crate) struct SegmentFile {
    pub index: u64,
    pub path: PathBuf,
}

/// Segment files sorted by index, and leftover prepare files.
pub(crate) fn list_segment_files<I: Io>(
    io: &I,
    dir: &Path,
) -> Result<(Vec<SegmentFile>, Vec<PathBuf>), JournalError> {
    let names = io
        .list_dir(dir)
        .map_err(|e| JournalError::io("list", dir, e))?;
    let mut segments = Vec::new();
    let mut leftovers = Vec::new();
    for name in names {
        if let Some(index) = parse_index(&name, SEGMENT_SUFFIX) {
            segments.push(SegmentFile {
                index,
                path: dir.join(&name),
            });
        } else if parse_index(&name, PREPARE_SUFFIX).is_some() {
            leftovers.push(dir.join(&name));
        }
    }
    segments.sort_by_key(|s| s.index);
    Ok((segments, leftovers))
}

/// What a segment file turned out to be.
pub(crate) enum Opened<M> {
    /// A valid header whose size matches the file.
    Active { header: SegmentHeader, map: M },
    /// All-zero header: prepared, never activated.
    Prepared,
    /// Shorter than a segment header.
    Short { file_bytes: u64 },
    /// Something non-zero but not a valid header (or a header that does not match the file).
    Bad { defect: Defect, map: Option<M> },
}

/// Opens a segment: checks the file length before mapping and the header against the file.
/// Only a newer format version is an error here (it must never be "repaired").
pub(crate) fn open_segment<I: Io>(
    io: &I,
    file: &SegmentFile,
) -> Result<Opened<I::ReadMap>, JournalError> {
    let file_bytes = io
        .file_len(&file.path)
        .map_err(|e| JournalError::io("stat", &file.path, e))?;
    if file_bytes < SEGMENT_HEADER_BYTES as u64 {
        return Ok(Opened::Short { file_bytes });
    }
    if usize::try_from(file_bytes).is_err() {
        return Ok(Opened::Bad {
            defect: Defect::LengthMismatch {
                file_bytes,
                header_bytes: 0,
            },
            map: None,
        });
    }
    let map = io
        .map_read(&file.path)
        .map_err(|e| JournalError::io("map", &file.path, e))?;
    let mut raw = [0u8; SEGMENT_HEADER_BYTES];
    raw.copy_from_slice(io::bytes(&map, 0, SEGMENT_HEADER_BYTES));
    let header = match SegmentHeader::decode(&raw) {
        Ok(h) => h,
        Err(HeaderProblem::Prepared) => return Ok(Opened::Prepared),
        Err(HeaderProblem::NewerVersion(found)) => {
            return Err(JournalError::UnsupportedVersion {
                segment: file.path.clone(),
                found,
                supported: FORMAT_VERSION,
            });
        }
        Err(p) => {
            let defect = match p {
                HeaderProblem::BadMagic => Defect::BadMagic,
                HeaderProblem::BadChecksum => Defect::BadHeaderChecksum,
                _ => Defect::BadHeaderLayout,
            };
            return Ok(Opened::Bad {
                defect,
                map: Some(map),
            });
        }
    };
    if header.index != file.index {
        let defect = Defect::IndexMismatch {
            file: file.index,
            header: header.index,
        };
        return Ok(Opened::Bad {
            defect,
            map: Some(map),
        });
    }
    if header.first_seq == 0 {
        return Ok(Opened::Bad {
            defect: Defect::BadHeaderLayout,
            map: Some(map),
        });
    }
    if header.segment_bytes != file_bytes {
        let defect = Defect::LengthMismatch {
            file_bytes,
            header_bytes: header.segment_bytes,
        };
        return Ok(Opened::Bad {
            defect,
            map: Some(map),
        });
    }
    Ok(Opened::Active { header, map })
}

/// What sits at an offset of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// No room left for even a first word: the segment is exactly full.
    Full,
    /// The first word is zero: nothing published here.
    Empty,
    /// The end-of-segment marker.
    End,
    /// A record whose checksum is valid.
    Record {
        meta: RecordMeta,
        /// Payload length in bytes; the payload starts at `offset + 32`.
        len: usize,
        /// Where the next record starts.
        next: usize,
    },
    /// Non-zero bytes that are not a valid record.
    Invalid(Defect),
}

/// Reads the slot at the 8-aligned `offset` (first word with acquire ordering, then the rest
/// of the record, then the checksum).
#[inline]
pub(crate) fn read_slot<R: Region + ?Sized>(map: &R, offset: usize) -> Slot {
    if offset + 8 > map.len() {
        return Slot::Full;
    }
    let word = io::load_word(map, offset);
    if word == 0 {
        return Slot::Empty;
    }
    if word == END_MARKER {
        return Slot::End;
    }
    let (len32, crc) = format::split_first_word(word);
    let len = len32 as usize;
    if len > MAX_PAYLOAD_BYTES || format::record_bytes(len) > map.len() - offset {
        return Slot::Invalid(Defect::BadLength { len: len32 });
    }
    let covered = io::bytes(map, offset + 8, RECORD_HEADER_BYTES - 8 + len);
    if format::record_crc(covered) != crc {
        return Slot::Invalid(Defect::BadChecksum);
    }
    Slot::Record {
        meta: format::decode_record_rest(&covered[..RECORD_HEADER_BYTES - 8]),
        len,
        next: offset + format::record_bytes(len),
    }
}

/// What lies from an offset to the end of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tail {
    /// End of the last non-zero word at or after the offset (the offset itself if all zero).
    pub garbage_end: usize,
    /// The first offset after the start holding a valid record that could follow `after_seq`.
    pub valid_after: Option<usize>,
}

/// Looks at everything from `start` to the end of the segment: how far non-zero bytes reach
/// and whether a valid record follows (which makes damage at `start` corruption rather than
/// a torn tail). Candidate records are filtered by a plausible sequence number before their
/// checksum is computed, so a long run of garbage costs one pass.
pub(crate) fn inspect_tail<R: Region + ?Sized>(map: &R, start: usize, after_seq: u64) -> Tail {
    let mut garbage_end = start;
    let mut valid_after = None;
    let mut q = start;
    while q + 8 <= map.len() {
        let word = io::peek_word(map, q);
        if word != 0 {
            garbage_end = q + 8;
            if valid_after.is_none() && q > start && plausible_record(map, q, start, after_seq) {
                valid_after = Some(q);
            }
        }
        q += 8;
    }
    Tail {
        garbage_end,
        valid_after,
    }
}

fn plausible_record<R: Region + ?Sized>(map: &R, q: usize, start: usize, after_seq: u64) -> bool {
    if q + RECORD_HEADER_BYTES > map.len() {
        return false;
    }
    let seq = io::peek_word(map, q + 8);
    // Every record takes at least 32 bytes, so at most this many fit between start and q.
    let most = after_seq.saturating_add(1 + ((q - start) / RECORD_HEADER_BYTES) as u64);
    if seq <= after_seq || seq > most {
        return false;
    }
    matches!(read_slot(map, q), Slot::Record { meta, .. } if meta.seq == seq)
}

/// How the written part of a segment ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SegEnd {
    /// An end marker at this offset.
    Marker(usize),
    /// The last record ends exactly at the end of the file.
    Full,
    /// Zero from this offset to the end.
    Clean(usize),
    /// Non-zero bytes from `offset` to `garbage_end` that are not a valid record, with no
    /// valid record after them: a torn write.
    Torn {
        offset: usize,
        garbage_end: usize,
        defect: Defect,
    },
    /// Damage at `offset` that is not a torn tail (valid records follow, or a valid record
    /// carries the wrong sequence number). `garbage_end` is how far non-zero bytes reach.
    Corrupt {
        offset: usize,
        garbage_end: usize,
        defect: Defect,
    },
}

/// The result of scanning one segment from its first record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegScan {
    pub records: u64,
    /// Offset just past the last valid record.
    pub end_offset: usize,
    pub end: SegEnd,
    pub first_ts_ns: Option<u64>,
    pub last_ts_ns: Option<u64>,
}

/// Scans a whole segment, validating every record and the sequence (first record must carry
/// `first_seq`, each next one +1).
pub(crate) fn scan_segment<R: Region + ?Sized>(map: &R, first_seq: u64) -> SegScan {
    let mut offset = SEGMENT_HEADER_BYTES;
    let mut seq = first_seq;
    let mut records = 0u64;
    let mut first_ts_ns = None;
    let mut last_ts_ns = None;
    let end = loop {
        match read_slot(map, offset) {
            Slot::Full => break SegEnd::Full,
            Slot::End => break SegEnd::Marker(offset),
            Slot::Record { meta, next, .. } => {
                if meta.seq != seq {
                    let tail = inspect_tail(map, offset, seq.saturating_sub(1));
                    break SegEnd::Corrupt {
                        offset,
                        garbage_end: tail.garbage_end,
                        defect: Defect::SequenceGap {
                            expected: seq,
                            found: meta.seq,
                        },
                    };
                }
                first_ts_ns.get_or_insert(meta.ts_ns);
                last_ts_ns = Some(meta.ts_ns);
                records += 1;
                seq = seq.saturating_add(1);
                offset = next;
            }
            Slot::Empty => {
                let tail = inspect_tail(map, offset, seq.saturating_sub(1));
                break classify_tail(offset, tail, Defect::Garbage);
            }
            Slot::Invalid(defect) => {
                let tail = inspect_tail(map, offset, seq.saturating_sub(1));
                break classify_tail(offset, tail, defect);
            }
        }
    };
    SegScan {
        records,
        end_offset: offset,
        end,
        first_ts_ns,
        last_ts_ns,
    }
}

fn classify_tail(offset: usize, tail: Tail, defect: Defect) -> SegEnd {
    if tail.garbage_end == offset {
        SegEnd::Clean(offset)
    } else if tail.valid_after.is_some() {
        SegEnd::Corrupt {
            offset,
            garbage_end: tail.garbage_end,
            defect,
        }
    } else {
        SegEnd::Torn {
            offset,
            garbage_end: tail.garbage_end,
            defect,
        }
    }
}
