//! The crate's error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// What is wrong with the bytes at a given place in a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Defect {
    /// The record's checksum does not match its bytes.
    BadChecksum,
    /// The record's length field points past the end of the segment.
    BadLength {
        /// The payload length read from the record header.
        len: u32,
    },
    /// A valid record whose sequence number does not follow its predecessor's.
    SequenceGap {
        /// The sequence number that should have come next.
        expected: u64,
        /// The sequence number found.
        found: u64,
    },
    /// Bytes after the end of the written records (no record header, but not zero either)
    /// followed by a valid record: not a torn tail.
    Garbage,
    /// The segment header's magic bytes are wrong.
    BadMagic,
    /// The segment header's checksum does not match.
    BadHeaderChecksum,
    /// The segment header's version or length fields are not valid.
    BadHeaderLayout,
    /// The segment header names another segment index than its file name.
    IndexMismatch {
        /// The index in the file name.
        file: u64,
        /// The index in the header.
        header: u64,
    },
    /// The file's length differs from the size in its header.
    LengthMismatch {
        /// The file's actual length in bytes.
        file_bytes: u64,
        /// The size recorded in the header.
        header_bytes: u64,
    },
    /// The file is shorter than a segment header.
    Short {
        /// The file's actual length in bytes.
        file_bytes: u64,
    },
    /// A segment that was never activated (zero header) sits before active ones.
    NotActivated,
    /// The segment with this index is missing between two others.
    Missing,
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::BadChecksum => write!(f, "record checksum mismatch"),
            Defect::BadLength { len } => write!(f, "record length {len} runs past the segment end"),
            Defect::SequenceGap { expected, found } => {
                write!(f, "sequence gap: expected {expected}, found {found}")
            }
            Defect::Garbage => write!(f, "unreadable bytes followed by valid records"),
            Defect::BadMagic => write!(f, "bad segment magic"),
            Defect::BadHeaderChecksum => write!(f, "segment header checksum mismatch"),
            Defect::BadHeaderLayout => write!(f, "bad segment header layout"),
            Defect::IndexMismatch { file, header } => {
                write!(
                    f,
                    "segment header says index {header}, file name says {file}"
                )
            }
            Defect::LengthMismatch {
                file_bytes,
                header_bytes,
            } => write!(
                f,
                "file is {file_bytes} bytes but its header says {header_bytes} (truncated or extended)"
            ),
            Defect::Short { file_bytes } => {
                write!(
                    f,
                    "file is {file_bytes} bytes, shorter than a segment header"
                )
            }
            Defect::NotActivated => write!(f, "segment never activated but later segments are"),
            Defect::Missing => write!(f, "segment file missing"),
        }
    }
}

/// Everything that can go wrong in the journal. Messages name the file and byte offset where
/// that is meaningful.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum JournalError {
    /// An operating-system I/O call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (e.g. "map", "msync").
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The configuration is not valid.
    #[error("invalid journal configuration: {0}")]
    Config(String),
    /// Bytes in a segment are not valid and are not a torn tail.
    #[error("corrupt journal: {segment} at byte {offset}: {defect}")]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// Byte offset inside the file.
        offset: u64,
        /// What is wrong.
        defect: Defect,
    },
    /// A segment was written by a newer format version than this build reads.
    #[error("{segment}: format version {found} is newer than the newest supported ({supported})")]
    UnsupportedVersion {
        /// The segment file.
        segment: PathBuf,
        /// The version in its header.
        found: u16,
        /// The newest version this build reads.
        supported: u16,
    },
    /// `append` was given a sequence number that does not follow the last one.
    #[error("append out of order: expected sequence {expected}, got {got}")]
    OutOfOrder {
        /// The sequence number that must come next.
        expected: u64,
        /// The one given.
        got: u64,
    },
    /// `append` was given a sequence number of 0 (sequence numbers start at 1).
    #[error("sequence number 0 is not allowed")]
    ZeroSeq,
    /// A payload is larger than one segment can hold.
    #[error(
        "record payload of {len} bytes exceeds the maximum of {max} bytes for this segment size"
    )]
    RecordTooLarge {
        /// The payload length given.
        len: usize,
        /// The largest payload a segment can hold.
        max: usize,
    },
    /// The records asked for are no longer on disk (released) or never were.
    #[error("sequence {seq} is not in the journal (first retained record: {first})")]
    NotRetained {
        /// The sequence number asked for.
        seq: u64,
        /// The first sequence number still on disk.
        first: u64,
    },
    /// A previous I/O failure left the writer in an unknown state; reopen the journal.
    #[error("journal writer failed earlier ({0}); reopen the journal")]
    Poisoned(String),
    /// Another writer holds the journal directory.
    #[error("journal directory {0} is locked by another writer")]
    Locked(PathBuf),
    /// A journal directory that should be new already holds records or snapshots.
    #[error("journal directory {dir} is not empty")]
    NotEmpty {
        /// The directory.
        dir: PathBuf,
    },
    /// A snapshot file is not valid.
    #[error("snapshot {path}: {reason}")]
    BadSnapshot {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Snapshots exist but none passed its checksum and the caller's decoder.
    #[error("no usable snapshot: {}", describe_skipped(.skipped))]
    NoValidSnapshot {
        /// Each snapshot tried, newest first, and why it was rejected.
        skipped: Vec<(PathBuf, String)>,
    },
}

fn describe_skipped(skipped: &[(PathBuf, String)]) -> String {
    skipped
        .iter()
        .map(|(p, why)| format!("{}: {why}", p.display()))
        .collect::<Vec<_>>()
        .join("; ")
}

impl JournalError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        JournalError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(segment: impl Into<PathBuf>, offset: u64, defect: Defect) -> Self {
        JournalError::Corrupt {
            segment: segment.into(),
            offset,
            defect,
        }
    }

    /// True for damaged data (bad checksums, gaps, bad headers, truncated files): the errors
    /// that `JournalConfig::repair` can truncate away.
    pub fn is_corruption(&self) -> bool {
        matches!(self, JournalError::Corrupt { .. })
    }
}
