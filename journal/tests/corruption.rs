//! Damage on disk: torn tails are truncated and reported, everything else is named (file and
//! byte offset) and only truncated when repair is asked for. Short files never SIGBUS.

mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use common::{check_records, config, kind, payload, ts};
use oddsmatch_journal::format::{
    RecordMeta, SegmentHeader, encode_record_rest, first_word, record_crc,
};
use oddsmatch_journal::{
    Defect, Durability, Io, Journal, JournalConfig, JournalError, Reader, SimIo, Tailer,
};

const LEN: usize = 1500;

fn seg_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:016}.seg"))
}

/// Writes records `1..=n` with `LEN`-byte payloads (several segments) and closes the writer.
fn build<I: Io>(dir: &Path, io: I, n: u64) {
    let (mut j, _) = Journal::open_with(config(dir, Durability::Os), io).unwrap();
    for seq in 1..=n {
        j.append(seq, ts(seq), kind(seq), &payload(seq, LEN))
            .unwrap();
    }
    j.flush().unwrap();
}

/// `(seq, segment index, offset)` of every record.
fn positions<I: Io>(dir: &Path, io: I) -> Vec<(u64, u64, u64)> {
    let reader = Reader::open_with(dir, io).unwrap();
    reader
        .iter()
        .map(|r| r.unwrap())
        .map(|r| (r.seq, r.segment, r.offset))
        .collect()
}

fn open<I: Io>(
    dir: &Path,
    io: I,
    repair: bool,
) -> Result<oddsmatch_journal::Recovery, JournalError> {
    let mut c = config(dir, Durability::Os);
    c.repair = repair;
    Journal::open_with(c, io).map(|(_, r)| r)
}

fn expect_corrupt(err: JournalError, segment: &Path, offset: u64) -> Defect {
    let text = err.to_string();
    match err {
        JournalError::Corrupt {
            segment: s,
            offset: o,
            defect,
        } => {
            assert_eq!((s.as_path(), o), (segment, offset), "{text}");
            assert!(text.contains(&segment.display().to_string()), "{text}");
            assert!(text.contains(&format!("byte {offset}")), "{text}");
            defect
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn torn_tail_from_a_process_crash_is_truncated_and_reported() {
    let io = SimIo::new();
    let dir = Path::new("/j");
    build(dir, io.clone(), 100);
    let (mut j, _) = Journal::open_with(config(dir, Durability::Os), io.clone()).unwrap();
    let last = positions(dir, io.clone()).last().copied().unwrap();
    // Record 101: its header rest and payload get written, the machine dies before the
    // first word is published.
    io.crash_after_writes(2);
    assert!(
        j.append(101, ts(101), kind(101), &payload(101, LEN))
            .is_err()
    );
    drop(j);
    let io = io.after_process_crash();
    let expected_offset = last.2 + 32 + LEN as u64 + 4; // record 100 ends 8-aligned
    let reader = Reader::open_with(dir, io.clone()).unwrap();
    let torn = reader
        .torn_tail()
        .cloned()
        .expect("reader reports the torn tail");
    assert_eq!(torn.segment, seg_path(dir, last.1));
    assert_eq!(torn.offset, expected_offset);
    // Header rest (bytes 8..32) and payload are non-zero, the first word is zero.
    assert_eq!(torn.bytes, 32 + LEN as u64 + 4);
    assert_eq!(reader.last_seq(), 100);
    drop(reader);
    let recovery = open(dir, io.clone(), false).unwrap();
    assert_eq!(recovery.last_seq, 100);
    assert_eq!(recovery.torn_tail, Some(torn));
    // Zeroed: the next open finds nothing to truncate.
    let recovery = open(dir, io.clone(), false).unwrap();
    assert_eq!(recovery.torn_tail, None);
    assert_eq!(check_records(dir, io, &|_| LEN).len(), 100);
}

#[test]
fn torn_tail_on_real_files_is_truncated_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    build(dir, oddsmatch_journal::MmapIo, 40);
    let last = positions(dir, oddsmatch_journal::MmapIo)
        .last()
        .copied()
        .unwrap();
    let end = last.2 + 32 + LEN as u64 + 4;
    // A torn record: a first word claiming 1000 bytes and half of them.
    let file = OpenOptions::new()
        .write(true)
        .open(seg_path(dir, last.1))
        .unwrap();
    file.write_all_at(&first_word(1000, 0xDEAD_BEEF).to_le_bytes(), end)
        .unwrap();
    file.write_all_at(&[0xAB; 500], end + 32).unwrap();
    drop(file);
    let recovery = open(dir, oddsmatch_journal::MmapIo, false).unwrap();
    let torn = recovery.torn_tail.expect("torn tail");
    assert_eq!(
        (torn.segment, torn.offset, torn.bytes),
        (seg_path(dir, last.1), end, 32 + 504)
    );
    assert_eq!(recovery.last_seq, 40);
    let mut bytes = vec![1u8; 600];
    std::fs::File::open(seg_path(dir, last.1))
        .unwrap()
        .read_exact_at(&mut bytes, end)
        .unwrap();
    assert!(bytes.iter().all(|&b| b == 0), "torn bytes zeroed");
}

#[test]
fn flipped_bit_in_the_middle_is_named_and_repair_truncates_there() {
    let io = SimIo::new();
    let dir = Path::new("/j");
    build(dir, io.clone(), 300);
    let pos = positions(dir, io.clone());
    let segments = pos.last().unwrap().1 + 1;
    assert!(segments >= 5);
    // A record in segment 2, in its payload.
    let &(seq, seg, offset) = pos.iter().find(|p| p.1 == 2).unwrap();
    let path = seg_path(dir, seg);
    io.flip_bit(&path, offset + 32 + 100, 3).unwrap();

    let err = open(dir, io.clone(), false).unwrap_err();
    assert!(err.is_corruption());
    assert_eq!(expect_corrupt(err, &path, offset), Defect::BadChecksum);
    // The reader names the same place while iterating.
    let reader = Reader::open_with(dir, io.clone()).unwrap();
    let err = reader
        .iter()
        .find_map(|r| r.err())
        .expect("iteration fails");
    expect_corrupt(err, &path, offset);
    let err = reader.iter_from(seq).next().unwrap().unwrap_err();
    expect_corrupt(err, &path, offset);
    drop(reader);

    // Repair: truncate at the bad record, drop every later segment.
    let recovery = open(dir, io.clone(), true).unwrap();
    let repaired = recovery.repaired.expect("repaired");
    assert_eq!(
        (repaired.segment.as_path(), repaired.offset),
        (path.as_path(), offset)
    );
    assert_eq!(repaired.defect, Defect::BadChecksum);
    assert!(repaired.bytes >= (32 + LEN) as u64);
    let dropped: Vec<PathBuf> = (seg + 1..segments).map(|i| seg_path(dir, i)).collect();
    assert_eq!(repaired.dropped_segments, dropped);
    assert_eq!(recovery.last_seq, seq - 1);
    // Clean afterwards, and writable from there.
    let (mut j, recovery) = Journal::open_with(config(dir, Durability::Sync), io.clone()).unwrap();
    assert_eq!(
        (recovery.last_seq, recovery.repaired, recovery.torn_tail),
        (seq - 1, None, None)
    );
    for s in seq..seq + 50 {
        j.append(s, ts(s), kind(s), &payload(s, LEN)).unwrap();
    }
    j.commit().unwrap();
    drop(j);
    assert_eq!(check_records(dir, io, &|_| LEN).len() as u64, seq + 49);
}

#[test]
fn damage_in_the_last_segment_with_valid_records_after_is_not_a_torn_tail() {
    let io = SimIo::new();
    let dir = Path::new("/j");
    build(dir, io.clone(), 120);
    let pos = positions(dir, io.clone());
    let last_seg = pos.last().unwrap().1;
    let in_last: Vec<_> = pos.iter().filter(|p| p.1 == last_seg).collect();
    assert!(in_last.len() >= 4);
    let &(_, seg, offset) = in_last[1];
    let path = seg_path(dir, seg);
    // Flip a bit in the length field.
    io.flip_bit(&path, offset + 1, 0).unwrap();
    let defect = expect_corrupt(open(dir, io.clone(), false).unwrap_err(), &path, offset);
    assert_eq!(defect, Defect::BadChecksum);
    // Zero the whole first word instead: no record there, but records after it.
    io.flip_bit(&path, offset + 1, 0).unwrap();
    io.poke(&path, offset, &[0; 8]).unwrap();
    let defect = expect_corrupt(open(dir, io.clone(), false).unwrap_err(), &path, offset);
    assert_eq!(defect, Defect::Garbage);
}

/// Overwrites record `at` with a valid record of the same size carrying `seq`.
fn plant_record(io: &SimIo, path: &Path, at: u64, seq: u64) {
    let rest = encode_record_rest(&RecordMeta {
        seq,
        ts_ns: ts(seq),
        kind: kind(seq),
    });
    let body = payload(seq, LEN);
    let crc = record_crc(&[&rest[..], &body[..]].concat());
    io.poke(path, at + 8, &rest).unwrap();
    io.poke(path, at + 32, &body).unwrap();
    io.poke(path, at, &first_word(LEN as u32, crc).to_le_bytes())
        .unwrap();
}

#[test]
fn sequence_gaps_are_detected() {
    let io = SimIo::new();
    let dir = Path::new("/j");
    build(dir, io.clone(), 200);
    let pos = positions(dir, io.clone());
    let &(seq, seg, offset) = &pos[70];
    let path = seg_path(dir, seg);
    plant_record(&io, &path, offset, seq + 5);
    let defect = expect_corrupt(open(dir, io.clone(), false).unwrap_err(), &path, offset);
    assert_eq!(
        defect,
        Defect::SequenceGap {
            expected: seq,
            found: seq + 5
        }
    );
    let reader = Reader::open_with(dir, io.clone()).unwrap();
    let err = reader.iter().find_map(|r| r.err()).unwrap();
    expect_corrupt(err, &path, offset);
    plant_record(&io, &path, offset, seq);
    assert!(open(dir, io.clone(), false).is_ok());

    // Between segments: a valid header whose first_seq skips ahead.
    let seg2 = seg_path(dir, 2);
    let first2 = pos.iter().find(|p| p.1 == 2).unwrap().0;
    let header = SegmentHeader {
        index: 2,
        first_seq: first2 + 1,
        segment_bytes: 64 << 10,
    };
    io.poke(&seg2, 0, &header.encode()).unwrap();
    let defect = expect_corrupt(open(dir, io.clone(), false).unwrap_err(), &seg2, 24);
    assert_eq!(
        defect,
        Defect::SequenceGap {
            expected: first2,
            found: first2 + 1
        }
    );
    let header = SegmentHeader {
        index: 2,
        first_seq: first2,
        segment_bytes: 64 << 10,
    };
    io.poke(&seg2, 0, &header.encode()).unwrap();

    // A missing segment.
    io.remove_file(&seg_path(dir, 1)).unwrap();
    let defect = expect_corrupt(
        open(dir, io.clone(), false).unwrap_err(),
        &seg_path(dir, 1),
        0,
    );
    assert_eq!(defect, Defect::Missing);
    assert!(matches!(
        Reader::open_with(dir, io.clone()),
        Err(JournalError::Corrupt { .. })
    ));
    // Repair keeps segment 0 only.
    let recovery = open(dir, io.clone(), true).unwrap();
    assert_eq!(recovery.segments, 1);
    assert_eq!(recovery.last_seq, first2_of(&pos, 1) - 1);
}

fn first2_of(pos: &[(u64, u64, u64)], seg: u64) -> u64 {
    pos.iter().find(|p| p.1 == seg).unwrap().0
}

#[test]
fn bad_and_newer_headers() {
    let io = SimIo::new();
    let dir = Path::new("/j");
    build(dir, io.clone(), 200);
    let seg1 = seg_path(dir, 1);
    io.flip_bit(&seg1, 40, 0).unwrap(); // reserved byte, covered by the header checksum
    let defect = expect_corrupt(open(dir, io.clone(), false).unwrap_err(), &seg1, 0);
    assert_eq!(defect, Defect::BadHeaderChecksum);
    io.flip_bit(&seg1, 40, 0).unwrap();
    // A newer format version is refused, even with repair (never "repair" what we cannot read).
    io.poke(&seg1, 8, &2u16.to_le_bytes()).unwrap();
    for repair in [false, true] {
        assert!(matches!(
            open(dir, io.clone(), repair),
            Err(JournalError::UnsupportedVersion {
                found: 2,
                supported: 1,
                ..
            })
        ));
    }
    assert!(matches!(
        Reader::open_with(dir, io.clone()),
        Err(JournalError::UnsupportedVersion { .. })
    ));
}

#[test]
fn short_segment_files_are_errors_not_sigbus() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    build(dir, oddsmatch_journal::MmapIo, 200);
    let n = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".seg")
        })
        .count() as u64;
    assert!(n >= 4);
    let cut = |index: u64, len: u64| {
        OpenOptions::new()
            .write(true)
            .open(seg_path(dir, index))
            .unwrap()
            .set_len(len)
            .unwrap();
    };
    let last_active = n - 2; // the last file is the prepared next segment
    // The last active segment cut: its header says more than the file holds. Not mistaken
    // for a torn activation.
    cut(last_active, 1000);
    let last_path = seg_path(dir, last_active);
    let err = Journal::open(config(dir, Durability::Os)).unwrap_err();
    let defect = expect_corrupt(err, &last_path, 0);
    assert_eq!(
        defect,
        Defect::LengthMismatch {
            file_bytes: 1000,
            header_bytes: 64 << 10
        }
    );
    expect_corrupt(Reader::open(dir).unwrap_err(), &last_path, 0);
    // Shorter than a header.
    cut(last_active, 10);
    let err = Journal::open(config(dir, Durability::Os)).unwrap_err();
    assert_eq!(
        expect_corrupt(err, &last_path, 0),
        Defect::Short { file_bytes: 10 }
    );
    // A middle segment cut: named first.
    cut(1, 30_000);
    let err = Journal::open(config(dir, Durability::Os)).unwrap_err();
    let defect = expect_corrupt(err, &seg_path(dir, 1), 0);
    assert_eq!(
        defect,
        Defect::LengthMismatch {
            file_bytes: 30_000,
            header_bytes: 64 << 10
        }
    );
    expect_corrupt(Reader::open(dir).unwrap_err(), &seg_path(dir, 1), 0);
    // Its size restored with zeros: the record that straddled the cut is bad.
    cut(1, 64 << 10);
    let record = 32 + LEN as u64 + 4;
    let straddling = 64 + (30_000 - 64) / record * record;
    let err = Journal::open(config(dir, Durability::Os)).unwrap_err();
    assert_eq!(
        expect_corrupt(err, &seg_path(dir, 1), straddling),
        Defect::BadChecksum
    );
    // Repair drops what cannot be read.
    let mut c: JournalConfig = config(dir, Durability::Os);
    c.repair = true;
    let (_, recovery) = Journal::open(c).unwrap();
    assert_eq!(recovery.segments, 2);
    // Tailers never touch past a file's end either.
    let mut t = Tailer::open(dir, 0).unwrap();
    while t.next().unwrap().is_some() {}
}

mod random_damage {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever bytes are damaged, nothing panics; what is read is a prefix of what was
        /// written; repair always ends in a journal that opens cleanly.
        #[test]
        fn arbitrary_damage_never_panics_and_repair_yields_a_prefix(
            damage in proptest::collection::vec((0u64..4, 0u64..(64 << 10), any::<u8>()), 1..6),
        ) {
            let io = SimIo::new();
            let dir = Path::new("/j");
            build(dir, io.clone(), 120);
            for &(seg, offset, value) in &damage {
                let path = seg_path(dir, seg);
                if io.read(&path).is_some() {
                    io.poke(&path, offset, &[value]).unwrap();
                }
            }
            // Read-only views: errors allowed, panics not; records read are genuine.
            if let Ok(reader) = Reader::open_with(dir, io.clone()) {
                for r in reader.iter() {
                    let Ok(r) = r else { break };
                    prop_assert_eq!(r.payload, &payload(r.seq, LEN)[..]);
                }
            }
            if let Ok(mut t) = Tailer::open_with(dir, 0, io.clone()) {
                while let Ok(Some(r)) = t.next() {
                    prop_assert_eq!(r.payload, &payload(r.seq, LEN)[..]);
                }
            }
            let _ = open(dir, io.clone(), false);
            match open(dir, io.clone(), true) {
                Ok(recovery) => {
                    let (_, again) = Journal::open_with(config(dir, Durability::Os), io.clone()).unwrap();
                    prop_assert_eq!(again.repaired, None);
                    prop_assert_eq!(again.torn_tail, None);
                    prop_assert_eq!(again.last_seq, recovery.last_seq);
                    let seqs = check_records(dir, io.clone(), &|_| LEN);
                    if let Some(&first) = seqs.first() {
                        prop_assert_eq!(first, 1);
                    }
                }
                Err(JournalError::UnsupportedVersion { .. }) => {}
                Err(e) => prop_assert!(false, "repair failed: {e}"),
            }
        }
    }
}
