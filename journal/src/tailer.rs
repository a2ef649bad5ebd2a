//! Following a live writer (same process or another) without any lock on its path: the
//! tailer polls the next record's first word with an acquire load; the writer publishes that
//! word last with a release store, so a non-zero word means the whole record is there.

use std::path::{Path, PathBuf};

use crate::error::{Defect, JournalError};
use crate::format::{HeaderProblem, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, SegmentHeader};
use crate::io::{self, Io, MmapIo, Region};
use crate::reader::RecordRef;
use crate::segment::{Opened, Slot, list_segment_files, open_segment, read_slot, segment_path};

struct Current<M> {
    index: u64,
    path: PathBuf,
    map: M,
}

enum Position<M> {
    /// The journal had no active segment yet: look for the first one.
    Start,
    /// Reading segment `current` at `offset`.
    In { current: Current<M>, offset: usize },
    /// The previous segment ended; waiting for segment `index` to be activated.
    Next { index: u64, map: Option<M> },
}

/// Follows a journal as it grows. See [`Tailer::next`].
///
/// Records are validated (checksum, sequence continuity) as they are read. Start tailers
/// after the writer has opened the journal: before the writer's recovery has truncated a torn
/// tail, the tailer reports it as corruption.
pub struct Tailer<I: Io = MmapIo> {
    io: I,
    dir: PathBuf,
    position: Position<I::ReadMap>,
    /// The sequence number the next record must carry, once known.
    expected: Option<u64>,
    from_seq: u64,
}

impl Tailer<MmapIo> {
    /// Opens a tailer on real files, positioned at the first record with sequence number
    /// `>= from_seq` (`0`: from the first record on disk).
    pub fn open(dir: &Path, from_seq: u64) -> Result<Self, JournalError> {
        Self::open_with(dir, from_seq, MmapIo)
    }
}

impl<I: Io> Tailer<I> {
    /// Opens a tailer through `io`; see [`Tailer::open`]. Fails with
    /// [`JournalError::NotRetained`] if `from_seq` is below the first record on disk.
    pub fn open_with(dir: &Path, from_seq: u64, io: I) -> Result<Self, JournalError> {
        let mut tailer = Tailer {
            io,
            dir: dir.to_owned(),
            position: Position::Start,
            expected: None,
            from_seq,
        };
        tailer.find_start()?;
        Ok(tailer)
    }

    /// Positions at the segment holding `from_seq` if the journal has an active segment.
    fn find_start(&mut self) -> Result<(), JournalError> {
        let (files, _) = list_segment_files(&self.io, &self.dir)?;
        let mut active = Vec::new();
        for file in files {
            if let Opened::Active { header, map } = open_segment(&self.io, &file)? {
                active.push((header, file.path, map));
            }
        }
        let Some(first) = active.first() else {
            return Ok(());
        };
        let first_seq = first.0.first_seq;
        // A segment with no record yet may still get a new first_seq (empty journal), so the
        // sequence is only pinned once a record is seen.
        let has_records = active.len() > 1
            || matches!(
                read_slot(&first.2, SEGMENT_HEADER_BYTES),
                Slot::Record { .. }
            );
        if has_records && self.from_seq != 0 && self.from_seq < first_seq {
            return Err(JournalError::NotRetained {
                seq: self.from_seq,
                first: first_seq,
            });
        }
        let pick = active
            .iter()
            .rposition(|(h, _, _)| h.first_seq <= self.from_seq.max(first_seq))
            .unwrap_or(0);
        let (header, path, map) = active.swap_remove(pick);
        self.expected = if has_records {
            Some(header.first_seq)
        } else {
            None
        };
        self.position = Position::In {
            current: Current {
                index: header.index,
                path,
                map,
            },
            offset: SEGMENT_HEADER_BYTES,
        };
        Ok(())
    }

    /// The next record if one is complete; `Ok(None)` when caught up with the writer (call
    /// again later). Errors name the segment and offset of a bad record or sequence gap.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<RecordRef<'_>>, JournalError> {
        let (at, len, meta) = loop {
            match &mut self.position {
                Position::Start => {
                    self.find_start()?;
                    if matches!(self.position, Position::Start) {
                        return Ok(None);
                    }
                }
                Position::Next { index, map } => {
                    let index = *index;
                    if map.is_none() {
                        let path = segment_path(&self.dir, index);
                        match self.io.file_len(&path) {
                            Ok(n) if n >= SEGMENT_HEADER_BYTES as u64 => {}
                            Ok(_) => return Ok(None),
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                            Err(e) => return Err(JournalError::io("stat", &path, e)),
                        }
                        let m = self
                            .io
                            .map_read(&path)
                            .map_err(|e| JournalError::io("map", &path, e))?;
                        *map = Some(m);
                    }
                    let Some(m) = map.as_ref() else {
                        return Ok(None);
                    };
                    // The magic word is published last: zero means not activated yet.
                    if io::load_word(m, 0) == 0 {
                        return Ok(None);
                    }
                    let path = segment_path(&self.dir, index);
                    let mut raw = [0u8; SEGMENT_HEADER_BYTES];
                    raw.copy_from_slice(io::bytes(m, 0, SEGMENT_HEADER_BYTES));
                    let header = match SegmentHeader::decode(&raw) {
                        Ok(h) => h,
                        Err(HeaderProblem::Prepared) => return Ok(None),
                        Err(p) => return Err(header_error(path, p)),
                    };
                    if header.index != index || header.segment_bytes != m.len() as u64 {
                        return Err(JournalError::corrupt(path, 0, Defect::BadHeaderLayout));
                    }
                    if let Some(e) = self.expected
                        && header.first_seq != e
                    {
                        let defect = Defect::SequenceGap {
                            expected: e,
                            found: header.first_seq,
                        };
                        return Err(JournalError::corrupt(path, 24, defect));
                    }
                    let Some(map) = map.take() else {
                        return Ok(None);
                    };
                    self.position = Position::In {
                        current: Current { index, path, map },
                        offset: SEGMENT_HEADER_BYTES,
                    };
                }
                Position::In { current, offset } => match read_slot(&current.map, *offset) {
                    Slot::Empty => return Ok(None),
                    Slot::End | Slot::Full => {
                        self.position = Position::Next {
                            index: current.index + 1,
                            map: None,
                        };
                    }
                    Slot::Invalid(defect) => {
                        return Err(JournalError::corrupt(
                            current.path.clone(),
                            *offset as u64,
                            defect,
                        ));
                    }
                    Slot::Record { meta, len, next } => {
                        match self.expected {
                            Some(e) if meta.seq != e => {
                                let defect = Defect::SequenceGap {
                                    expected: e,
                                    found: meta.seq,
                                };
                                return Err(JournalError::corrupt(
                                    current.path.clone(),
                                    *offset as u64,
                                    defect,
                                ));
                            }
                            None if self.from_seq != 0 && meta.seq > self.from_seq => {
                                return Err(JournalError::NotRetained {
                                    seq: self.from_seq,
                                    first: meta.seq,
                                });
                            }
                            _ => {}
                        }
                        self.expected = Some(meta.seq.saturating_add(1));
                        let at = *offset;
                        *offset = next;
                        if meta.seq >= self.from_seq {
                            break (at, len, meta);
                        }
                    }
                },
            }
        };
        let Position::In { current, .. } = &self.position else {
            return Ok(None);
        };
        Ok(Some(RecordRef {
            seq: meta.seq,
            ts_ns: meta.ts_ns,
            kind: meta.kind,
            payload: io::bytes(&current.map, at + RECORD_HEADER_BYTES, len),
            segment: current.index,
            offset: at as u64,
        }))
    }

    /// The sequence number the next record will carry, once the tailer has seen one.
    pub fn expected_seq(&self) -> Option<u64> {
        self.expected
    }
}

fn header_error(path: PathBuf, p: HeaderProblem) -> JournalError {
    let defect = match p {
        HeaderProblem::BadMagic => Defect::BadMagic,
        HeaderProblem::BadChecksum => Defect::BadHeaderChecksum,
        HeaderProblem::NewerVersion(found) => {
            return JournalError::UnsupportedVersion {
                segment: path,
                found,
                supported: crate::format::FORMAT_VERSION,
            };
        }
        _ => Defect::BadHeaderLayout,
    };
    JournalError::corrupt(path, 0, defect)
}

impl<I: Io> std::fmt::Debug for Tailer<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tailer")
            .field("dir", &self.dir)
            .field("expected", &self.expected)
            .field("from_seq", &self.from_seq)
            .finish_non_exhaustive()
    }
}
