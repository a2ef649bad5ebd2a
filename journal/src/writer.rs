//! The single writer: append, commit, flush, roll, release.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::JournalConfig;
use crate::durability::Durability;
use crate::error::JournalError;
use crate::format::{
    self, END_MARKER, RECORD_HEADER_BYTES, RecordMeta, SEGMENT_HEADER_BYTES, SegmentHeader,
};
use crate::io::{self, Io, MmapIo, Region, WriteRegion};
use crate::prepare::Preparer;
use crate::recovery::{self, Recovery};
use crate::segment::segment_path;

/// The segment records are appended to.
struct Active<M> {
    map: M,
    index: u64,
    path: PathBuf,
    first_seq: u64,
    records: u64,
    /// Where the next record goes.
    offset: usize,
    /// An end marker sits at `offset` (or the segment is exactly full).
    sealed: bool,
    /// Start of the bytes written since the last flush (`offset` when clean).
    dirty_from: usize,
}

/// The journal writer: the only one appending to a directory (it holds the directory's writer
/// lock). Not thread-safe by design: one shard thread owns it.
///
/// Call protocol: `open` (recovers), then per batch any number of `append`s followed by one
/// `commit`; `tick` from idle loops; `flush` at shutdown. After any I/O error the writer is
/// poisoned and every later call fails: reopen the journal (the next open recovers).
///
/// Records become visible to readers and tailers as soon as `append` returns; they are on
/// disk once `durable_seq()` has reached them. Dropping the writer does not flush (the page
/// cache keeps what was appended; call `flush` for a clean shutdown).
///
/// Segments: the next one is prepared ahead of time (created full-size, allocated, synced,
/// its directory entry synced, mapped with its pages faulted in: on a background thread with
/// [`MmapIo`]), so a roll only writes an end marker and a 64-byte header.
pub struct Journal<I: Io = MmapIo> {
    io: I,
    dir: PathBuf,
    segment_bytes: u64,
    max_payload: usize,
    durability: Durability,
    active: Option<Active<I::WriteMap>>,
    /// `(index, first_seq)` of all segments on disk, oldest first; the active one last.
    segments: VecDeque<(u64, u64)>,
    next_index: u64,
    preparer: Preparer<I>,
    last_seq: u64,
    durable_seq: u64,
    /// Sealed segments with writes not yet flushed.
    unsynced: Vec<PathBuf>,
    last_flush: Instant,
    poisoned: Option<String>,
    // Dropped last: the lock outlives every write.
    _lock: I::Lock,
}

impl Journal<MmapIo> {
    /// Opens (creating if needed) the journal in `config.dir` on real files and recovers it.
    pub fn open(config: JournalConfig) -> Result<(Self, Recovery), JournalError> {
        Self::open_with(config, MmapIo)
    }
}

impl<I: Io> Journal<I> {
    /// Opens the journal through `io`: takes the writer lock, recovers (see [`Recovery`]),
    /// syncs what it found, and starts preparing the next segment.
    pub fn open_with(config: JournalConfig, io: I) -> Result<(Self, Recovery), JournalError> {
        config.validate()?;
        let dir = config.dir.clone();
        io.create_dir_all(&dir)
            .map_err(|e| JournalError::io("create dir", &dir, e))?;
        let lock = io.lock_dir(&dir).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                JournalError::Locked(dir.clone())
            } else {
                JournalError::io("lock", &dir, e)
            }
        })?;
        let recovered = recovery::recover(&io, &dir, config.repair)?;
        let active = recovered.tail.map(|t| Active {
            // Recovery synced everything, the end marker of a sealed segment included.
            dirty_from: if t.sealed {
                (t.offset + 8).min(t.map.len())
            } else {
                t.offset
            },
            map: t.map,
            index: t.index,
            path: t.path,
            first_seq: t.first_seq,
            records: t.records,
            offset: t.offset,
            sealed: t.sealed,
        });
        let mut preparer = Preparer::new(&io, &dir, config.segment_bytes)?;
        preparer.request(recovered.next_index);
        let last_seq = recovered.recovery.last_seq;
        let journal = Journal {
            io,
            dir,
            segment_bytes: config.segment_bytes,
            max_payload: format::max_payload_bytes(config.segment_bytes),
            durability: config.durability,
            active,
            segments: recovered.segments.into(),
            next_index: recovered.next_index,
            preparer,
            last_seq,
            durable_seq: last_seq,
            unsynced: Vec::new(),
            last_flush: Instant::now(),
            poisoned: None,
            _lock: lock,
        };
        Ok((journal, recovered.recovery))
    }

    /// Appends one record. `seq` must be `last_seq() + 1`, or any value >= 1 when the journal
    /// holds no record (a journal that starts after a snapshot). The payload is copied into
    /// the mapping at an 8-aligned offset; the record is visible to readers on return and
    /// durable per the policy after `commit`.
    #[inline]
    pub fn append(
        &mut self,
        seq: u64,
        ts_ns: u64,
        kind: u16,
        payload: &[u8],
    ) -> Result<(), JournalError> {
        if let Some(why) = &self.poisoned {
            return Err(JournalError::Poisoned(why.clone()));
        }
        if seq == 0 {
            return Err(JournalError::ZeroSeq);
        }
        let expected = self.last_seq.saturating_add(1);
        if self.last_seq != 0 && (seq != expected || self.last_seq == u64::MAX) {
            return Err(JournalError::OutOfOrder { expected, got: seq });
        }
        if payload.len() > self.max_payload {
            return Err(JournalError::RecordTooLarge {
                len: payload.len(),
                max: self.max_payload,
            });
        }
        let result = self.write_record(seq, ts_ns, kind, payload);
        if let Err(e) = &result {
            self.poisoned = Some(e.to_string());
        }
        result
    }

    #[inline]
    fn write_record(
        &mut self,
        seq: u64,
        ts_ns: u64,
        kind: u16,
        payload: &[u8],
    ) -> Result<(), JournalError> {
        let need = format::record_bytes(payload.len());
        let fits = match &self.active {
            Some(a) => {
                !a.sealed && need <= a.map.len() - a.offset && (a.records > 0 || a.first_seq == seq)
            }
            None => false,
        };
        if !fits {
            self.make_room(seq, need)?;
        }
        let Some(a) = self.active.as_mut() else {
            return Err(internal("no active segment after roll"));
        };
        let len = payload.len() as u32; // max_payload keeps this in range
        let rest = format::encode_record_rest(&RecordMeta { seq, ts_ns, kind });
        let at = a.offset;
        let io_err = |e| JournalError::io("write", &a.path, e);
        a.map.write(at + 8, &rest).map_err(io_err)?;
        a.map
            .write(at + RECORD_HEADER_BYTES, payload)
            .map_err(io_err)?;
        let pad = need - RECORD_HEADER_BYTES - payload.len();
        if pad > 0 {
            a.map
                .write(at + RECORD_HEADER_BYTES + payload.len(), &[0u8; 8][..pad])
                .map_err(io_err)?;
        }
        // The checksum over the bytes as they now are in the mapping: one contiguous range,
        // the same one readers check.
        let covered = io::bytes(&a.map, at + 8, RECORD_HEADER_BYTES - 8 + payload.len());
        let crc = format::record_crc(covered);
        // Publication: the first word last, with release ordering.
        a.map
            .publish(at, format::first_word(len, crc))
            .map_err(io_err)?;
        a.offset = at + need;
        a.records += 1;
        self.last_seq = seq;
        Ok(())
    }

    /// Makes the active segment able to take a record of `need` bytes with sequence `seq`:
    /// re-heads an empty segment whose first_seq differs, or seals it and rolls.
    #[cold]
    fn make_room(&mut self, seq: u64, need: usize) -> Result<(), JournalError> {
        if let Some(a) = self.active.as_mut()
            && a.records == 0
            && a.first_seq != seq
            && !a.sealed
        {
            // Only an empty journal gets here (otherwise seq == first_seq). Rewrite the
            // header: hide it first so that no reader sees a half-rewritten one.
            let header = SegmentHeader {
                index: a.index,
                first_seq: seq,
                segment_bytes: a.map.len() as u64,
            };
            let io_err = |e| JournalError::io("write", &a.path, e);
            a.map.publish(0, 0).map_err(io_err)?;
            write_header(&mut a.map, &header).map_err(io_err)?;
            a.first_seq = seq;
            a.dirty_from = 0;
            if let Some(last) = self.segments.back_mut() {
                last.1 = seq;
            }
            if need <= a.map.len() - a.offset {
                return Ok(());
            }
        }
        self.roll(seq)
    }

    /// Seals the active segment (end marker) and activates the prepared next one.
    fn roll(&mut self, first_seq: u64) -> Result<(), JournalError> {
        let index = self.next_index;
        let mut map = self.preparer.take(index)?;
        if let Some(mut old) = self.active.take() {
            if !old.sealed && old.offset + 8 <= old.map.len() {
                old.map
                    .publish(old.offset, END_MARKER)
                    .map_err(|e| JournalError::io("write", &old.path, e))?;
                old.sealed = true;
            }
            // The old segment's tail (records since the last flush, the marker) is flushed
            // by the next commit or flush, before anything of the new one.
            self.unsynced.push(old.path);
        }
        let path = segment_path(&self.dir, index);
        let header = SegmentHeader {
            index,
            first_seq,
            segment_bytes: map.len() as u64,
        };
        write_header(&mut map, &header).map_err(|e| JournalError::io("write", &path, e))?;
        self.active = Some(Active {
            map,
            index,
            path,
            first_seq,
            records: 0,
            offset: SEGMENT_HEADER_BYTES,
            sealed: false,
            dirty_from: 0,
        });
        self.segments.push_back((index, first_seq));
        self.next_index = index + 1;
        self.preparer.request(self.next_index);
        Ok(())
    }

    /// Ends a batch. `Sync`: flushes everything appended so far before returning. `Interval`:
    /// flushes if the interval has passed since the last flush. `Os`: nothing.
    #[inline]
    pub fn commit(&mut self) -> Result<(), JournalError> {
        match self.durability {
            Durability::Os => self.check_poison(),
            Durability::Sync => {
                if self.pending() {
                    self.flush()
                } else {
                    self.check_poison()
                }
            }
            Durability::Interval(_) => self.tick(),
        }
    }

    /// For idle loops: under `Interval`, flushes if something is pending and the interval has
    /// passed. Cheap when nothing is pending (no clock read).
    #[inline]
    pub fn tick(&mut self) -> Result<(), JournalError> {
        if let Durability::Interval(every) = self.durability
            && self.pending()
            && self.last_flush.elapsed() >= every
        {
            return self.flush();
        }
        self.check_poison()
    }

    /// Flushes everything appended so far to disk (msync `MS_SYNC` / fdatasync), whatever the
    /// policy. Used at shutdown. On return `durable_seq() == last_seq()`.
    pub fn flush(&mut self) -> Result<(), JournalError> {
        self.check_poison()?;
        let result = self.flush_all();
        if let Err(e) = &result {
            // After a failed fsync the page cache may have dropped the dirty pages: retrying
            // could report success for data that never reached the disk.
            self.poisoned = Some(e.to_string());
        }
        result
    }

    fn flush_all(&mut self) -> Result<(), JournalError> {
        // Older segments first: a segment's end marker reaches the disk before the next
        // segment's records do.
        for path in self.unsynced.drain(..) {
            match self.io.sync_file(&path) {
                Ok(()) => {}
                // Released meanwhile: nobody needs it any more.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(JournalError::io("fsync", &path, e)),
            }
        }
        if let Some(a) = self.active.as_mut() {
            let end = if a.sealed {
                (a.offset + 8).min(a.map.len())
            } else {
                a.offset
            };
            if a.dirty_from < end {
                a.map
                    .flush(a.dirty_from, end - a.dirty_from)
                    .map_err(|e| JournalError::io("msync", &a.path, e))?;
            }
            a.dirty_from = end;
        }
        self.durable_seq = self.last_seq;
        self.last_flush = Instant::now();
        Ok(())
    }

    #[inline]
    fn pending(&self) -> bool {
        self.durable_seq != self.last_seq
            || !self.unsynced.is_empty()
            || self
                .active
                .as_ref()
                .is_some_and(|a| a.dirty_from < a.offset)
    }

    #[inline]
    fn check_poison(&self) -> Result<(), JournalError> {
        match &self.poisoned {
            Some(why) => Err(JournalError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    /// Last appended sequence number (visible to readers), 0 if the journal holds no record.
    #[inline]
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Last sequence number known to be on disk.
    #[inline]
    pub fn durable_seq(&self) -> u64 {
        self.durable_seq
    }

    /// First sequence number still on disk, if any record is.
    pub fn first_seq(&self) -> Option<u64> {
        if self.last_seq == 0 {
            None
        } else {
            self.segments.front().map(|s| s.1)
        }
    }

    /// The durability policy.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Size of new segments.
    pub fn segment_bytes(&self) -> u64 {
        self.segment_bytes
    }

    /// The largest payload `append` accepts.
    pub fn max_payload_bytes(&self) -> usize {
        self.max_payload
    }

    /// Segment files on disk (the active one included).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Deletes whole segments all of whose records have a sequence number below `seq` (never
    /// the active segment), then syncs the directory. Returns how many were deleted. Call it
    /// with the oldest sequence number any snapshot or reader still needs.
    pub fn release_before(&mut self, seq: u64) -> Result<usize, JournalError> {
        self.check_poison()?;
        let mut removed = 0;
        while self.segments.len() >= 2 && self.segments[1].1 <= seq {
            let (index, _) = self.segments[0];
            let path = segment_path(&self.dir, index);
            match self.io.remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(JournalError::io("remove", &path, e)),
            }
            self.unsynced.retain(|p| p != &path);
            self.segments.pop_front();
            removed += 1;
        }
        if removed > 0 {
            self.io
                .sync_dir(&self.dir)
                .map_err(|e| JournalError::io("fsync dir", &self.dir, e))?;
        }
        Ok(removed)
    }
}

/// Writes a segment header: bytes 8..64, then the magic word with release ordering.
fn write_header<M: WriteRegion>(map: &mut M, header: &SegmentHeader) -> std::io::Result<()> {
    let bytes = header.encode();
    map.write(8, &bytes[8..])?;
    map.publish(0, format::le_u64(&bytes[0..8]))
}

fn internal(what: &str) -> JournalError {
    JournalError::io(
        "journal",
        PathBuf::new(),
        std::io::Error::other(what.to_owned()),
    )
}

impl<I: Io> std::fmt::Debug for Journal<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.dir)
            .field("durability", &self.durability)
            .field("last_seq", &self.last_seq)
            .field("durable_seq", &self.durable_seq)
            .field("segments", &self.segments.len())
            .finish_non_exhaustive()
    }
}
