//! Read-only access to a journal directory: iterate from any sequence number.

use std::path::{Path, PathBuf};

use crate::error::{Defect, JournalError};
use crate::format::{RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use crate::io::{self, Io, MmapIo};
use crate::recovery::TornTail;
use crate::segment::{
    Opened, SegEnd, Slot, inspect_tail, list_segment_files, open_segment, read_slot, scan_segment,
    segment_path,
};

/// One record, borrowed from the mapping it lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Sequence number.
    pub seq: u64,
    /// Timestamp in nanoseconds.
    pub ts_ns: u64,
    /// Record kind.
    pub kind: u16,
    /// The payload, 8-byte aligned in memory.
    pub payload: &'a [u8],
    /// Index of the segment holding the record.
    pub segment: u64,
    /// Byte offset of the record header in the segment file.
    pub offset: u64,
}

/// One segment file of a journal as the reader found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Segment index (the number in the file name).
    pub index: u64,
    /// The file.
    pub path: PathBuf,
    /// Sequence number of its first record (from its header).
    pub first_seq: u64,
    /// File size in bytes.
    pub file_bytes: u64,
    /// Bytes holding valid records, header included. Known for the last segment (scanned when
    /// the reader opened); `None` for the others, which are validated as they are iterated.
    pub used_bytes: Option<u64>,
}

struct Seg<M> {
    info: SegmentInfo,
    map: M,
}

/// A read-only view of a journal directory. It never modifies anything. On open it checks
/// every segment header and scans the last segment; every record is validated again as it is
/// iterated. A torn tail ends the iteration and is reported by [`Reader::torn_tail`];
/// corruption before the tail comes out of the iterator as an error naming segment and offset.
///
/// The view is fixed when the reader opens: records appended later are not seen (use a
/// [`crate::Tailer`] for that). On a journal with a live writer, the record being written may
/// show up as a torn tail.
pub struct Reader<I: Io = MmapIo> {
    segments: Vec<Seg<I::ReadMap>>,
    infos: Vec<SegmentInfo>,
    /// Where the valid records of the last segment end.
    last_end: usize,
    /// Corruption found in the last segment at open, yielded when iteration gets there.
    last_error: Option<(u64, Defect)>,
    last_seq: u64,
    first_seq: Option<u64>,
    torn_tail: Option<TornTail>,
    _io: I,
}

impl Reader<MmapIo> {
    /// Opens the journal in `dir` on real files.
    pub fn open(dir: &Path) -> Result<Self, JournalError> {
        Self::open_with(dir, MmapIo)
    }
}

impl<I: Io> Reader<I> {
    /// Opens the journal in `dir` through `io`. Fails on a bad segment header, a missing or
    /// short segment, or a newer format version; record-level corruption is reported by the
    /// iterator.
    pub fn open_with(dir: &Path, io: I) -> Result<Self, JournalError> {
        let (files, _) = list_segment_files(&io, dir)?;
        let mut opened = Vec::with_capacity(files.len());
        for file in files {
            let state = open_segment(&io, &file)?;
            opened.push((file, state));
        }
        let last_active = opened
            .iter()
            .rposition(|(_, o)| matches!(o, Opened::Active { .. }));
        let trailing = match last_active {
            Some(last) => opened.split_off(last + 1),
            None => std::mem::take(&mut opened),
        };
        let mut segments: Vec<Seg<I::ReadMap>> = Vec::with_capacity(opened.len());
        for (file, state) in opened {
            if let Some(prev) = segments.last() {
                let want = prev.info.index + 1;
                if file.index != want {
                    return Err(JournalError::corrupt(
                        segment_path(dir, want),
                        0,
                        Defect::Missing,
                    ));
                }
            }
            let (header, map) = match state {
                Opened::Active { header, map } => (header, map),
                Opened::Prepared => {
                    return Err(JournalError::corrupt(file.path, 0, Defect::NotActivated));
                }
                Opened::Short { file_bytes } => {
                    return Err(JournalError::corrupt(
                        file.path,
                        0,
                        Defect::Short { file_bytes },
                    ));
                }
                Opened::Bad { defect, .. } => {
                    return Err(JournalError::corrupt(file.path, 0, defect));
                }
            };
            if let Some(prev) = segments.last()
                && header.first_seq < prev.info.first_seq
            {
                let defect = Defect::SequenceGap {
                    expected: prev.info.first_seq,
                    found: header.first_seq,
                };
                return Err(JournalError::corrupt(file.path, 24, defect));
            }
            segments.push(Seg {
                info: SegmentInfo {
                    index: file.index,
                    path: file.path,
                    first_seq: header.first_seq,
                    file_bytes: header.segment_bytes,
                    used_bytes: None,
                },
                map,
            });
        }

        // The last segment: scan it to find where the records end.
        let mut torn_tail = None;
        let mut last_error = None;
        let mut last_end = 0;
        let mut last_seq = 0;
        let mut last_records = 0;
        if let Some(last) = segments.last_mut() {
            let scan = scan_segment(&last.map, last.info.first_seq);
            last_end = scan.end_offset;
            last_records = scan.records;
            last_seq = last
                .info
                .first_seq
                .saturating_add(scan.records)
                .saturating_sub(1);
            match scan.end {
                SegEnd::Marker(_) | SegEnd::Full | SegEnd::Clean(_) => {}
                SegEnd::Torn {
                    offset,
                    garbage_end,
                    ..
                } => {
                    torn_tail = Some(TornTail {
                        segment: last.info.path.clone(),
                        offset: offset as u64,
                        bytes: (garbage_end - offset) as u64,
                    });
                }
                SegEnd::Corrupt { offset, defect, .. } => {
                    last_error = Some((offset as u64, defect))
                }
            }
            last.info.used_bytes = Some(scan.end_offset as u64);
        }
        // Files after the last active segment: ignored unless damaged but holding records.
        for (file, state) in trailing {
            if let Opened::Short { file_bytes } = state {
                return Err(JournalError::corrupt(
                    file.path,
                    0,
                    Defect::Short { file_bytes },
                ));
            }
            if let Opened::Bad {
                defect: defect @ (Defect::LengthMismatch { .. } | Defect::IndexMismatch { .. }),
                ..
            } = state
            {
                return Err(JournalError::corrupt(file.path, 0, defect));
            }
            if let Opened::Bad { defect, map } = state {
                let tail = match &map {
                    Some(m) => inspect_tail(m, 0, last_seq),
                    None => crate::segment::Tail {
                        garbage_end: 0,
                        valid_after: Some(0),
                    },
                };
                if tail.valid_after.is_some() {
                    return Err(JournalError::corrupt(file.path, 0, defect));
                }
                if torn_tail.is_none() {
                    torn_tail = Some(TornTail {
                        segment: file.path,
                        offset: 0,
                        bytes: tail.garbage_end as u64,
                    });
                }
            }
        }
        let any_records = last_records > 0 || segments.len() > 1;
        let first_seq = if any_records {
            segments.first().map(|s| s.info.first_seq)
        } else {
            None
        };
        if !any_records {
            last_seq = 0;
        }
        let infos = segments.iter().map(|s| s.info.clone()).collect();
        Ok(Reader {
            segments,
            infos,
            last_end,
            last_error,
            last_seq,
            first_seq,
            torn_tail,
            _io: io,
        })
    }

    /// First sequence number on disk, if any.
    pub fn first_seq(&self) -> Option<u64> {
        self.first_seq
    }

    /// Last sequence number found when the reader opened (0 if none).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The active segments, oldest first.
    pub fn segments(&self) -> &[SegmentInfo] {
        &self.infos
    }

    /// A torn tail at the end of the journal (not modified; the writer truncates it).
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn_tail.as_ref()
    }

    /// All records, oldest first.
    pub fn iter(&self) -> Records<'_, I> {
        self.iter_from(0)
    }

    /// Records with sequence numbers `>= seq`, in order. `seq == 0` means from the first record
    /// on disk. A `seq` below the first record still on disk yields one
    /// [`JournalError::NotRetained`].
    pub fn iter_from(&self, seq: u64) -> Records<'_, I> {
        let mut it = Records {
            reader: self,
            seg: 0,
            offset: SEGMENT_HEADER_BYTES,
            expected: 0,
            from: seq,
            state: IterState::Done,
        };
        let Some(first) = self.first_seq else {
            return it;
        };
        if seq > self.last_seq {
            return it;
        }
        if seq != 0 && seq < first {
            it.state = IterState::NotRetained { first };
            return it;
        }
        let target = seq.max(first);
        let seg = self
            .segments
            .partition_point(|s| s.info.first_seq <= target)
            .saturating_sub(1);
        it.seg = seg;
        it.expected = self.segments[seg].info.first_seq;
        it.state = IterState::Running;
        it
    }
}

enum IterState {
    Running,
    NotRetained { first: u64 },
    Done,
}

/// Iterator over a [`Reader`]'s records; see [`Reader::iter_from`].
pub struct Records<'a, I: Io = MmapIo> {
    reader: &'a Reader<I>,
    seg: usize,
    offset: usize,
    expected: u64,
    from: u64,
    state: IterState,
}

impl<'a, I: Io> Records<'a, I> {
    fn fail(
        &mut self,
        segment: usize,
        offset: u64,
        defect: Defect,
    ) -> Option<Result<RecordRef<'a>, JournalError>> {
        self.state = IterState::Done;
        let path = self.reader.segments[segment].info.path.clone();
        Some(Err(JournalError::corrupt(path, offset, defect)))
    }
}

impl<'a, I: Io> Iterator for Records<'a, I> {
    type Item = Result<RecordRef<'a>, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.state {
            IterState::Done => return None,
            IterState::NotRetained { first } => {
                self.state = IterState::Done;
                return Some(Err(JournalError::NotRetained {
                    seq: self.from,
                    first,
                }));
            }
            IterState::Running => {}
        }
        let reader = self.reader;
        loop {
            let seg = &reader.segments[self.seg];
            let is_last = self.seg + 1 == reader.segments.len();
            if is_last && self.offset >= reader.last_end {
                if let Some((offset, defect)) = &reader.last_error {
                    let (offset, defect) = (*offset, *defect);
                    return self.fail(self.seg, offset, defect);
                }
                self.state = IterState::Done;
                return None;
            }
            match read_slot(&seg.map, self.offset) {
                Slot::Record { meta, len, next } => {
                    if meta.seq != self.expected {
                        let defect = Defect::SequenceGap {
                            expected: self.expected,
                            found: meta.seq,
                        };
                        return self.fail(self.seg, self.offset as u64, defect);
                    }
                    let at = self.offset;
                    self.offset = next;
                    self.expected = self.expected.saturating_add(1);
                    if meta.seq < self.from {
                        continue;
                    }
                    return Some(Ok(RecordRef {
                        seq: meta.seq,
                        ts_ns: meta.ts_ns,
                        kind: meta.kind,
                        payload: io::bytes(&seg.map, at + RECORD_HEADER_BYTES, len),
                        segment: seg.info.index,
                        offset: at as u64,
                    }));
                }
                Slot::Invalid(defect) => return self.fail(self.seg, self.offset as u64, defect),
                // End of a non-last segment (a zero word is accepted as its end: sequence
                // continuity with the next segment catches anything lost).
                Slot::End | Slot::Full | Slot::Empty => {
                    if is_last {
                        self.state = IterState::Done;
                        return None;
                    }
                    self.seg += 1;
                    self.offset = SEGMENT_HEADER_BYTES;
                    let next_first = reader.segments[self.seg].info.first_seq;
                    if next_first != self.expected {
                        let defect = Defect::SequenceGap {
                            expected: self.expected,
                            found: next_first,
                        };
                        return self.fail(self.seg, 24, defect);
                    }
                }
            }
        }
    }
}

impl<I: Io> std::fmt::Debug for Reader<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("segments", &self.infos.len())
            .field("first_seq", &self.first_seq)
            .field("last_seq", &self.last_seq)
            .field("torn_tail", &self.torn_tail)
            .finish_non_exhaustive()
    }
}
