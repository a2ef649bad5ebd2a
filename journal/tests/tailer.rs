//! The tailer follows a live writer across segment rolls.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{config, kind, lengths, payload, ts};
use oddsmatch_journal::{Durability, Io, Journal, JournalError, SimIo, Tailer};

/// Follows `n` records from `from`, checking each; gives up after a generous deadline so that
/// a bug fails the test instead of hanging it.
fn follow<I: Io>(tailer: &mut Tailer<I>, from: u64, n: u64, lens: &[usize], done: &AtomicBool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut next = from;
    while next < from + n {
        match tailer.next().expect("tailer reads") {
            Some(r) => {
                assert_eq!(r.seq, next);
                assert_eq!(r.ts_ns, ts(r.seq));
                assert_eq!(r.kind, kind(r.seq));
                assert_eq!(r.payload, &payload(r.seq, lens[r.seq as usize - 1])[..]);
                assert_eq!(r.payload.as_ptr() as usize % 8, 0);
                next += 1;
            }
            None => {
                assert!(Instant::now() < deadline, "tailer stuck at {next}");
                if done.load(Ordering::Acquire) {
                    // The writer finished: everything must be there now.
                    assert!(
                        tailer.next().expect("tailer reads").is_some(),
                        "missing {next}"
                    );
                    continue;
                }
                std::thread::yield_now();
            }
        }
    }
}

#[test]
fn tailer_follows_a_writer_thread_live_on_real_files() {
    let dir = tempfile::tempdir().unwrap();
    let n = 5000u64;
    let lens = Arc::new(lengths(11, n as usize));
    // The writer opens first (recovery), then tailers start from the beginning.
    let (mut journal, _) = Journal::open(config(dir.path(), Durability::Os)).unwrap();
    let mut tailer = Tailer::open(dir.path(), 0).unwrap();
    assert!(tailer.next().unwrap().is_none(), "nothing written yet");
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let lens = lens.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            for seq in 1..=n {
                let len = lens[seq as usize - 1];
                journal
                    .append(seq, ts(seq), kind(seq), &payload(seq, len))
                    .unwrap();
                if seq % 16 == 0 {
                    journal.commit().unwrap();
                    std::thread::yield_now();
                }
            }
            journal.commit().unwrap();
            done.store(true, Ordering::Release);
            journal
        })
    };
    follow(&mut tailer, 1, n, &lens, &done);
    let journal = writer.join().unwrap();
    assert!(journal.segment_count() > 10);
    assert!(tailer.next().unwrap().is_none(), "caught up");
    // A second tailer from the middle.
    let mut mid = Tailer::open(dir.path(), 2500).unwrap();
    follow(&mut mid, 2500, n - 2499, &lens, &done);
}

#[test]
fn tailer_waits_for_the_first_segment_and_sees_rolls_in_sim() {
    let io = SimIo::new();
    let dir = Path::new("/j");
    let lens = lengths(12, 600);
    io.create_dir_all(dir).unwrap();
    // Opened before any writer: no segment at all yet.
    let mut tailer = Tailer::open_with(dir, 0, io.clone()).unwrap();
    assert!(tailer.next().unwrap().is_none());
    let (mut journal, _) = Journal::open_with(config(dir, Durability::Os), io.clone()).unwrap();
    assert!(tailer.next().unwrap().is_none());
    let mut seen = 0u64;
    for seq in 1..=600u64 {
        journal
            .append(
                seq,
                ts(seq),
                kind(seq),
                &payload(seq, lens[seq as usize - 1]),
            )
            .unwrap();
        if seq % 50 == 0 {
            while let Some(r) = tailer.next().unwrap() {
                seen += 1;
                assert_eq!(r.seq, seen);
            }
            assert_eq!(seen, seq);
        }
    }
    assert!(journal.segment_count() > 2);
}

#[test]
fn tailer_refuses_released_records_and_skips_to_from_seq() {
    let io = SimIo::new();
    let dir = Path::new("/j");
    let (mut journal, _) = Journal::open_with(config(dir, Durability::Os), io.clone()).unwrap();
    for seq in 100..=400u64 {
        journal
            .append(seq, ts(seq), kind(seq), &payload(seq, 1000))
            .unwrap();
    }
    assert!(matches!(
        Tailer::open_with(dir, 10, io.clone()),
        Err(JournalError::NotRetained {
            seq: 10,
            first: 100
        })
    ));
    let mut t = Tailer::open_with(dir, 333, io.clone()).unwrap();
    assert_eq!(t.next().unwrap().unwrap().seq, 333);
    // Beyond the end: waits, then picks up exactly there.
    let mut t = Tailer::open_with(dir, 402, io.clone()).unwrap();
    assert!(t.next().unwrap().is_none());
    journal
        .append(401, ts(401), kind(401), &payload(401, 5))
        .unwrap();
    assert!(t.next().unwrap().is_none());
    journal
        .append(402, ts(402), kind(402), &payload(402, 5))
        .unwrap();
    assert_eq!(t.next().unwrap().unwrap().seq, 402);
}

#[test]
fn tailer_on_an_empty_journal_reports_a_later_start() {
    let io = SimIo::new();
    let dir = Path::new("/j");
    let (mut journal, _) = Journal::open_with(config(dir, Durability::Os), io.clone()).unwrap();
    let mut t = Tailer::open_with(dir, 5, io.clone()).unwrap();
    journal.append(9, ts(9), kind(9), b"abc").unwrap();
    assert!(matches!(
        t.next(),
        Err(JournalError::NotRetained { seq: 5, first: 9 })
    ));
    let mut t = Tailer::open_with(dir, 0, io.clone()).unwrap();
    assert_eq!(t.next().unwrap().unwrap().seq, 9);
}
