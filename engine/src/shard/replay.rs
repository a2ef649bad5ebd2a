//! Rebuilding an engine from a journal directory: a snapshot, then the records after it.
//!
//! Used by the shard at startup (newest snapshot, then the tail), by `oddsmatch journal
//! verify` (the oldest snapshot, normally the genesis one at sequence 0, then every record)
//! and by `oddsmatch journal replay` (up to a sequence number).

use std::fmt;
use std::path::{Path, PathBuf};

use oddsmatch_journal::{Io, JournalError, MmapIo, Reader, SnapshotStore};

use crate::book::LadderBook;
use crate::engine::Engine;
use crate::event::Event;
use crate::record::{self, RECORD_INPUT, RecordCodec};

/// Which snapshot a replay starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The newest valid snapshot at or before the target: fastest (recovery).
    Newest,
    /// The oldest valid snapshot: re-applies as much of the journal as is still on disk
    /// (verification). A journal written from the start has its genesis snapshot at 0.
    Oldest,
}

/// What a replay is asked to do.
#[derive(Clone, Copy, Debug)]
pub struct ReplayOptions {
    /// Which snapshot to start from.
    pub start: Start,
    /// Stop after this sequence number (`None`: the end of the journal).
    pub to_seq: Option<u64>,
    /// Compare the events each input produces with the recorded ones, byte for byte.
    pub verify_events: bool,
}

/// A rebuilt engine and how it was rebuilt.
pub struct Replayed {
    /// The engine after the last replayed record.
    pub engine: Engine<LadderBook>,
    /// The sequence number of the snapshot it started from.
    pub snapshot_seq: u64,
    /// The snapshot file it started from.
    pub snapshot_path: PathBuf,
    /// Snapshots passed over because they failed their checksum or would not load, with why.
    pub skipped_snapshots: Vec<(PathBuf, String)>,
    /// Records re-applied after the snapshot.
    pub records: u64,
    /// Events those records produced.
    pub events: u64,
}

impl fmt::Debug for Replayed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replayed")
            .field("seq", &self.engine.seq())
            .field("snapshot_seq", &self.snapshot_seq)
            .field("records", &self.records)
            .finish_non_exhaustive()
    }
}

/// Why a journal could not be replayed.
#[derive(Debug)]
pub enum ReplayError {
    /// The journal or snapshot files could not be read, or are corrupt.
    Journal(JournalError),
    /// No snapshot to start from: a journal always has one (the genesis snapshot at 0).
    NoSnapshot {
        /// The journal directory.
        dir: PathBuf,
    },
    /// The journal does not continue where the snapshot ends.
    Gap {
        /// The snapshot's sequence number.
        snapshot_seq: u64,
        /// The first record on disk.
        first_seq: u64,
    },
    /// A record's payload is not a valid archive.
    BadRecord {
        /// Its sequence number.
        seq: u64,
        /// What is wrong with it.
        detail: String,
    },
    /// Re-applying an input produced different events from the recorded ones.
    Mismatch {
        /// The record's sequence number.
        seq: u64,
        /// What differs, in words.
        detail: String,
    },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Journal(error) => write!(f, "{error}"),
            ReplayError::NoSnapshot { dir } => write!(
                f,
                "{} holds no valid snapshot to start from (a journal starts with one at 0)",
                dir.display()
            ),
            ReplayError::Gap {
                snapshot_seq,
                first_seq,
            } => write!(
                f,
                "the journal's records start at {first_seq} but the snapshot ends at \
                 {snapshot_seq}: the records in between are gone"
            ),
            ReplayError::BadRecord { seq, detail } => {
                write!(f, "record {seq} cannot be read: {detail}")
            }
            ReplayError::Mismatch { seq, detail } => write!(
                f,
                "record {seq}: re-applying its input produced different events: {detail}"
            ),
        }
    }
}

impl std::error::Error for ReplayError {}

impl From<JournalError> for ReplayError {
    fn from(error: JournalError) -> Self {
        ReplayError::Journal(error)
    }
}

/// Loads the snapshot `options.start` chooses and re-applies the records after it, up to
/// `options.to_seq`. `progress` is called now and then with the sequence number reached.
pub fn replay(
    dir: &Path,
    options: ReplayOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Replayed, ReplayError> {
    replay_with(dir, MmapIo, options, progress)
}

/// [`replay`] over the given file access (a `SimIo` in crash tests).
pub fn replay_with<I: Io>(
    dir: &Path,
    io: I,
    options: ReplayOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Replayed, ReplayError> {
    let reader = Reader::open_with(dir, io.clone())?;
    let store = SnapshotStore::open_with(dir, io)?;
    let target = options.to_seq.unwrap_or(u64::MAX).min(reader.last_seq());
    let loaded = match options.start {
        Start::Newest => store.load_newest(target, decode_snapshot)?,
        Start::Oldest => store.load_oldest(target, decode_snapshot)?,
    };
    let Some(loaded) = loaded else {
        return Err(ReplayError::NoSnapshot {
            dir: dir.to_path_buf(),
        });
    };
    let mut replayed = Replayed {
        engine: loaded.value,
        snapshot_seq: loaded.seq,
        snapshot_path: loaded.path,
        skipped_snapshots: loaded.skipped,
        records: 0,
        events: 0,
    };
    if target > loaded.seq {
        if let Some(first) = reader.first_seq()
            && first > loaded.seq + 1
        {
            return Err(ReplayError::Gap {
                snapshot_seq: loaded.seq,
                first_seq: first,
            });
        }
        apply_records(&reader, &mut replayed, target, options, progress)?;
    }
    Ok(replayed)
}

fn decode_snapshot(seq: u64, bytes: &[u8]) -> Result<Engine<LadderBook>, String> {
    let engine = Engine::from_snapshot(bytes).map_err(|error| error.to_string())?;
    if engine.seq() != seq {
        return Err(format!(
            "the state inside is at sequence {}, the file name says {seq}",
            engine.seq()
        ));
    }
    Ok(engine)
}

fn apply_records<I: Io>(
    reader: &Reader<I>,
    replayed: &mut Replayed,
    target: u64,
    options: ReplayOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<(), ReplayError> {
    let mut codec = RecordCodec::new();
    let mut events: Vec<Event> = Vec::with_capacity(256);
    let mut recorded: Vec<Event> = Vec::new();
    let engine = &mut replayed.engine;
    for record in reader.iter_from(engine.seq() + 1) {
        let record = record?;
        if record.seq > target {
            break;
        }
        if record.kind != RECORD_INPUT {
            return Err(ReplayError::BadRecord {
                seq: record.seq,
                detail: format!("unknown record kind {}", record.kind),
            });
        }
        let input = record::decode_into(record.payload, &mut recorded).map_err(|error| {
            ReplayError::BadRecord {
                seq: record.seq,
                detail: error.to_string(),
            }
        })?;
        if input.ts_ns != record.ts_ns {
            return Err(ReplayError::BadRecord {
                seq: record.seq,
                detail: format!(
                    "the header says time {} but the input inside says {}",
                    record.ts_ns, input.ts_ns
                ),
            });
        }
        events.clear();
        let seq = engine.apply(&input, &mut events);
        if seq != record.seq {
            return Err(ReplayError::Mismatch {
                seq: record.seq,
                detail: format!("the engine gave it sequence number {seq}"),
            });
        }
        if options.verify_events && codec.encode(&input, &events) != record.payload {
            return Err(ReplayError::Mismatch {
                seq: record.seq,
                detail: describe_mismatch(&recorded, &events),
            });
        }
        replayed.records += 1;
        replayed.events += events.len() as u64;
        if replayed.records.is_multiple_of(65_536) {
            progress(record.seq);
        }
    }
    progress(engine.seq());
    Ok(())
}

/// Names the first event that differs between what was recorded and what was re-produced.
pub(crate) fn describe_mismatch(recorded: &[Event], produced: &[Event]) -> String {
    for (index, (a, b)) in recorded.iter().zip(produced).enumerate() {
        if a != b {
            return format!("event {index}: recorded {a:?}, re-produced {b:?}");
        }
    }
    if recorded.len() != produced.len() {
        return format!(
            "recorded {} events, re-produced {}",
            recorded.len(),
            produced.len()
        );
    }
    "the events are equal but their encoding differs".to_string()
}
