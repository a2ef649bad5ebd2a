//! Writing and reading back: rolls, iteration from any sequence number, release, the writer's
//! bookkeeping and its refusals.

mod common;

use std::path::Path;

use common::{SMALL_SEGMENT, check_records, config, kind, lengths, payload, ts};
use oddsmatch_journal::{
    Durability, Io, Journal, JournalConfig, JournalError, MmapIo, Reader, SimIo, stats, stats_with,
};
use proptest::prelude::*;

fn write_stream<I: Io>(journal: &mut Journal<I>, from: u64, lens: &[usize]) {
    for (i, &len) in lens.iter().enumerate() {
        let seq = from + i as u64;
        journal
            .append(seq, ts(seq), kind(seq), &payload(seq, len))
            .expect("append");
        if seq.is_multiple_of(7) {
            journal.commit().expect("commit");
        }
    }
    journal.commit().expect("commit");
}

#[test]
fn round_trip_across_many_segment_rolls_on_real_files() {
    let dir = tempfile::tempdir().unwrap();
    let lens = lengths(1, 3000);
    let (mut journal, recovery) = Journal::open(config(dir.path(), Durability::Os)).unwrap();
    assert_eq!(recovery.last_seq, 0);
    assert_eq!(recovery.first_seq, None);
    write_stream(&mut journal, 1, &lens);
    assert_eq!(journal.last_seq(), 3000);
    assert!(
        journal.segment_count() > 20,
        "small segments roll often: {}",
        journal.segment_count()
    );
    // Readable while the writer is open, and after it closed.
    let seqs = check_records(dir.path(), MmapIo, &|s| lens[s as usize - 1]);
    assert_eq!(seqs, (1..=3000).collect::<Vec<_>>());
    journal.flush().unwrap();
    assert_eq!(journal.durable_seq(), 3000);
    drop(journal);

    let (journal, recovery) = Journal::open(config(dir.path(), Durability::Os)).unwrap();
    assert_eq!(recovery.last_seq, 3000);
    assert_eq!(recovery.first_seq, Some(1));
    assert_eq!(recovery.records, 3000);
    assert_eq!(recovery.torn_tail, None);
    assert_eq!(recovery.repaired, None);
    assert_eq!(journal.durable_seq(), 3000);

    let s = stats(dir.path()).unwrap();
    assert_eq!(s.records, 3000);
    assert_eq!(s.first_seq, Some(1));
    assert_eq!(s.last_seq, Some(3000));
    assert_eq!(s.first_ts_ns, Some(ts(1)));
    assert_eq!(s.last_ts_ns, Some(ts(3000)));
    assert_eq!(s.kinds.values().sum::<u64>(), 3000);
    assert_eq!(s.kinds[&1], 1000);
    assert_eq!(s.payload_bytes, lens.iter().map(|&l| l as u64).sum::<u64>());
    assert_eq!(s.segments, journal.segment_count() as u64);
}

#[test]
fn reopen_continues_the_sequence_and_rolls_on() {
    let io = SimIo::new();
    let dir = Path::new("/j");
    let lens = lengths(2, 900);
    for part in 0..3u64 {
        let (mut journal, recovery) =
            Journal::open_with(config(dir, Durability::Sync), io.clone()).unwrap();
        assert_eq!(recovery.last_seq, part * 300);
        let from = part * 300 + 1;
        write_stream(
            &mut journal,
            from,
            &lens[(from - 1) as usize..(from + 299) as usize],
        );
        assert_eq!(journal.durable_seq(), from + 299);
    }
    let seqs = check_records(dir, io.clone(), &|s| lens[s as usize - 1]);
    assert_eq!(seqs.len(), 900);
}

#[test]
fn a_journal_may_start_after_a_snapshot() {
    let io = SimIo::new();
    let dir = Path::new("/j");
    let (mut journal, _) = Journal::open_with(config(dir, Durability::Os), io.clone()).unwrap();
    journal
        .append(1001, ts(1001), kind(1001), &payload(1001, 10))
        .unwrap();
    journal
        .append(1002, ts(1002), kind(1002), &payload(1002, 10))
        .unwrap();
    assert!(matches!(
        journal.append(1004, 0, 1, b""),
        Err(JournalError::OutOfOrder {
            expected: 1003,
            got: 1004
        })
    ));
    drop(journal);
    let reader = Reader::open_with(dir, io.clone()).unwrap();
    assert_eq!(reader.first_seq(), Some(1001));
    assert_eq!(reader.last_seq(), 1002);
    assert!(matches!(
        reader.iter_from(5).next(),
        Some(Err(JournalError::NotRetained {
            seq: 5,
            first: 1001
        }))
    ));
    assert_eq!(reader.iter_from(1002).next().unwrap().unwrap().seq, 1002);
    assert!(reader.iter_from(1003).next().is_none());
}

#[test]
fn an_empty_segment_left_by_a_crash_is_reheaded_for_any_first_seq() {
    // A roll that activated a segment and crashed before the record: reopen finds an empty
    // active segment; an empty journal may still start at any sequence number.
    let io = SimIo::new();
    let dir = Path::new("/j");
    let (mut journal, _) = Journal::open_with(config(dir, Durability::Os), io.clone()).unwrap();
    io.crash_after_writes(2); // the header's two writes, then the machine is down
    assert!(
        journal
            .append(50, ts(50), kind(50), &payload(50, 8))
            .is_err()
    );
    drop(journal);
    let io = io.after_process_crash();
    let (mut journal, recovery) =
        Journal::open_with(config(dir, Durability::Os), io.clone()).unwrap();
    assert_eq!(recovery.last_seq, 0);
    assert_eq!(recovery.segments, 1);
    journal.append(7, ts(7), kind(7), &payload(7, 8)).unwrap();
    journal.flush().unwrap();
    drop(journal);
    assert_eq!(check_records(dir, io, &|_| 8), vec![7]);
}

#[test]
fn refusals_do_not_poison_the_writer() {
    let io = SimIo::new();
    let dir = Path::new("/j");
    let (mut journal, _) = Journal::open_with(config(dir, Durability::Sync), io.clone()).unwrap();
    let max = journal.max_payload_bytes();
    assert_eq!(max, SMALL_SEGMENT as usize - 96);
    assert!(matches!(
        journal.append(0, 0, 1, b""),
        Err(JournalError::ZeroSeq)
    ));
    let big = vec![1u8; max + 1];
    let err = journal.append(1, 0, 1, &big).unwrap_err();
    assert!(
        matches!(err, JournalError::RecordTooLarge { len, max: m } if len == max + 1 && m == max)
    );
    // The largest record fills a segment exactly.
    journal.append(1, ts(1), kind(1), &payload(1, max)).unwrap();
    journal.append(2, ts(2), kind(2), &payload(2, 3)).unwrap();
    journal.commit().unwrap();
    assert_eq!(journal.segment_count(), 2);
    drop(journal);
    let seqs = check_records(dir, io, &|s| if s == 1 { max } else { 3 });
    assert_eq!(seqs, vec![1, 2]);
}

#[test]
fn config_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [0, 4096, (64 << 10) + 8, 128 << 40] {
        let mut c = JournalConfig::new(dir.path());
        c.segment_bytes = bad;
        assert!(
            matches!(Journal::open(c), Err(JournalError::Config(_))),
            "{bad}"
        );
    }
}

#[test]
fn one_writer_per_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (_journal, _) = Journal::open(config(dir.path(), Durability::Os)).unwrap();
    assert!(matches!(
        Journal::open(config(dir.path(), Durability::Os)),
        Err(JournalError::Locked(_))
    ));
    let io = SimIo::new();
    let (_j, _) = Journal::open_with(config(Path::new("/j"), Durability::Os), io.clone()).unwrap();
    assert!(matches!(
        Journal::open_with(config(Path::new("/j"), Durability::Os), io),
        Err(JournalError::Locked(_))
    ));
}

#[test]
fn durable_seq_follows_the_policy() {
    let io = SimIo::new();
    let dir = Path::new("/j");
    let (mut j, _) = Journal::open_with(config(dir, Durability::Os), io.clone()).unwrap();
    j.append(1, 1, 1, b"a").unwrap();
    j.commit().unwrap();
    j.tick().unwrap();
    assert_eq!((j.last_seq(), j.durable_seq()), (1, 0));
    j.flush().unwrap();
    assert_eq!(j.durable_seq(), 1);
    drop(j);

    let (mut j, _) = Journal::open_with(config(dir, Durability::Sync), io.clone()).unwrap();
    j.append(2, 1, 1, b"b").unwrap();
    assert_eq!(j.durable_seq(), 1);
    let flushes = io.flushes();
    j.commit().unwrap();
    assert_eq!(j.durable_seq(), 2);
    assert!(io.flushes() > flushes);
    let flushes = io.flushes();
    j.commit().unwrap();
    assert_eq!(io.flushes(), flushes, "nothing pending, nothing flushed");
    drop(j);

    let interval = Durability::Interval(std::time::Duration::ZERO);
    let (mut j, _) = Journal::open_with(config(dir, interval), io.clone()).unwrap();
    j.append(3, 1, 1, b"c").unwrap();
    j.tick().unwrap();
    assert_eq!(j.durable_seq(), 3);
    drop(j);

    let long = Durability::Interval(std::time::Duration::from_secs(3600));
    let (mut j, _) = Journal::open_with(config(dir, long), io.clone()).unwrap();
    j.append(4, 1, 1, b"d").unwrap();
    j.commit().unwrap();
    j.tick().unwrap();
    assert_eq!(j.durable_seq(), 3, "an hour has not passed");
    assert_eq!(j.durability(), long);
    assert_eq!(j.dir(), dir);
}

#[test]
fn release_before_deletes_whole_old_segments_only() {
    let io = SimIo::new();
    let dir = Path::new("/j");
    let lens = vec![3000usize; 200];
    let (mut j, _) = Journal::open_with(config(dir, Durability::Sync), io.clone()).unwrap();
    write_stream(&mut j, 1, &lens);
    let before = Reader::open_with(dir, io.clone()).unwrap();
    let segs = before.segments().to_vec();
    assert!(segs.len() > 5);
    // Nothing is below the first segment's records.
    assert_eq!(j.release_before(segs[0].first_seq).unwrap(), 0);
    // A seq inside segment 3: segments 0..3 hold only smaller ones.
    let cut = segs[3].first_seq + 1;
    assert_eq!(j.release_before(cut).unwrap(), 3);
    assert_eq!(j.first_seq(), Some(segs[3].first_seq));
    let reader = Reader::open_with(dir, io.clone()).unwrap();
    assert_eq!(reader.first_seq(), Some(segs[3].first_seq));
    assert!(reader.iter_from(cut).all(|r| r.is_ok()));
    assert!(matches!(
        reader.iter_from(1).next(),
        Some(Err(JournalError::NotRetained { .. }))
    ));
    // Never the active segment, whatever is asked.
    let n = j.segment_count();
    assert_eq!(j.release_before(u64::MAX).unwrap(), n - 1);
    assert_eq!(j.segment_count(), 1);
    j.append(201, ts(201), kind(201), &payload(201, 3000))
        .unwrap();
    j.commit().unwrap();
    drop(j);
    let (_, recovery) = Journal::open_with(config(dir, Durability::Os), io.clone()).unwrap();
    assert_eq!(recovery.last_seq, 201);
    assert_eq!(recovery.segments, 1);
    let s = stats_with(dir, io).unwrap();
    assert_eq!(s.last_seq, Some(201));
}

#[test]
fn prepared_segment_is_ignored_by_readers() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open(config(dir.path(), Durability::Os)).unwrap();
    j.append(1, 1, 1, b"x").unwrap();
    // The next segment is being prepared (or is ready) with an all-zero header.
    let reader = Reader::open(dir.path()).unwrap();
    assert_eq!(reader.segments().len(), 1);
    assert_eq!(reader.last_seq(), 1);
    assert_eq!(reader.torn_tail(), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Iteration from any sequence number yields exactly the records from there on.
    #[test]
    fn reader_from_any_seq(seed in 0u64..1000, n in 1usize..400, from in 0u64..420) {
        let io = SimIo::new();
        let dir = Path::new("/j");
        let lens = lengths(seed, n);
        let (mut j, _) = Journal::open_with(config(dir, Durability::Os), io.clone()).unwrap();
        write_stream(&mut j, 1, &lens);
        let reader = Reader::open_with(dir, io.clone()).unwrap();
        let got: Vec<u64> = reader.iter_from(from).map(|r| r.unwrap().seq).collect();
        let want: Vec<u64> = (from.max(1)..=n as u64).collect();
        prop_assert_eq!(got, want);
        for r in reader.iter_from(from) {
            let r = r.unwrap();
            prop_assert_eq!(r.payload, &payload(r.seq, lens[r.seq as usize - 1])[..]);
        }
    }
}
