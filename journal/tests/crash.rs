//! Crash points: a random record stream is cut after every write and after every flush (on
//! the simulated file system). Whatever the cut, reopening yields a prefix of the appended
//! records (a torn tail is truncated, never an error); after a process crash nothing appended
//! is lost; after a power loss nothing committed under `sync` is lost.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{check_records, config, kind, lengths, payload, ts};
use oddsmatch_journal::{Durability, Journal, SimIo};

const DIR: &str = "/j";

#[derive(Clone, Copy, Debug)]
enum Cut {
    None,
    AfterWrites(u64),
    AfterFlushes(u64),
}

#[derive(Debug, Default)]
struct Outcome {
    /// Last record whose append returned Ok.
    appended: u64,
    /// Last record covered by a commit that returned Ok.
    committed: u64,
}

/// Opens a fresh journal on `io`, arms the cut, appends the stream with a commit every
/// `batch` records until something fails.
fn run(io: &SimIo, durability: Durability, lens: &[usize], batch: u64, cut: Cut) -> Outcome {
    let dir = Path::new(DIR);
    let (mut j, _) = Journal::open_with(config(dir, durability), io.clone()).unwrap();
    match cut {
        Cut::None => {}
        Cut::AfterWrites(n) => io.crash_after_writes(n),
        Cut::AfterFlushes(n) => io.crash_after_flushes(n),
    }
    let mut out = Outcome::default();
    for (i, &len) in lens.iter().enumerate() {
        let seq = i as u64 + 1;
        if j.append(seq, ts(seq), kind(seq), &payload(seq, len))
            .is_err()
        {
            break;
        }
        out.appended = seq;
        if seq.is_multiple_of(batch) || i + 1 == lens.len() {
            if j.commit().is_err() {
                break;
            }
            out.committed = seq;
            if durability == Durability::Sync {
                assert_eq!(j.durable_seq(), seq);
            }
        }
    }
    out
}

/// Reopens an image and checks the records are a prefix `1..=n` of the stream; returns `n`
/// and whether a torn tail was truncated.
fn reopen(image: &SimIo, lens: &[usize], what: &str) -> (u64, bool) {
    let dir = Path::new(DIR);
    let (j, recovery) = Journal::open_with(config(dir, Durability::Os), image.clone())
        .unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    assert_eq!(recovery.repaired, None, "{what}");
    drop(j);
    let seqs = check_records(dir, image.clone(), &|s| lens[s as usize - 1]);
    let n = seqs.len() as u64;
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "{what}: a prefix");
    assert_eq!(recovery.last_seq, n, "{what}");
    (n, recovery.torn_tail.is_some())
}

fn reopen_and_check(image: &SimIo, lens: &[usize], what: &str) -> u64 {
    reopen(image, lens, what).0
}

/// Checks one cut; returns whether any image had a torn tail.
fn check_cut(durability: Durability, lens: &[usize], batch: u64, cut: Cut) -> bool {
    let io = SimIo::new();
    let out = run(&io, durability, lens, batch, cut);
    let what = format!("{durability} {cut:?} {out:?}");
    // Process crash: the page cache survives, so everything appended is there.
    let (n, mut any_torn) = reopen(
        &io.after_process_crash(),
        lens,
        &format!("{what} process crash"),
    );
    assert_eq!(
        n, out.appended,
        "{what}: process crash loses nothing appended"
    );
    // Power loss, with and without part of the last write reaching the device.
    let last = io.last_write_len().unwrap_or(0);
    for torn in [None, Some(1), Some(4), Some(last / 2), Some(last)] {
        let image = io.after_power_loss(torn);
        let (n, t) = reopen(&image, lens, &format!("{what} power loss torn {torn:?}"));
        any_torn |= t;
        assert!(n <= out.appended, "{what}: nothing invented");
        let flushing =
            durability == Durability::Sync || durability == Durability::Interval(Duration::ZERO);
        if flushing {
            assert!(
                n >= out.committed,
                "{what}: committed record {} lost",
                out.committed
            );
        }
    }
    any_torn
}

/// Writes and flushes the stream itself takes (open's own operations not counted, as the
/// crash points are armed after open).
fn counts(durability: Durability, lens: &[usize], batch: u64) -> (u64, u64) {
    let dir = Path::new(DIR);
    let probe = SimIo::new();
    let (j, _) = Journal::open_with(config(dir, durability), probe.clone()).unwrap();
    let (w0, f0) = (probe.writes(), probe.flushes());
    drop(j);
    let io = SimIo::new();
    let out = run(&io, durability, lens, batch, Cut::None);
    assert_eq!(out.appended, lens.len() as u64);
    (io.writes() - w0, io.flushes() - f0)
}

fn every_cut(durability: Durability, seed: u64) {
    let mut lens = lengths(seed, 160);
    // Some big records, so that the stream rolls over several segments.
    for len in lens.iter_mut().step_by(10) {
        *len += 4000;
    }
    let batch = 4;
    let (writes, flushes) = counts(durability, &lens, batch);
    assert!(writes > 400, "{writes}");
    let mut torn_tails = 0;
    for n in 1..=writes {
        torn_tails += usize::from(check_cut(durability, &lens, batch, Cut::AfterWrites(n)));
    }
    for n in 1..=flushes {
        torn_tails += usize::from(check_cut(durability, &lens, batch, Cut::AfterFlushes(n)));
    }
    // The stream rolls over several segments, and many cuts leave a torn tail.
    let io = SimIo::new();
    run(&io, durability, &lens, batch, Cut::None);
    let segments = io
        .paths()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .count();
    assert!(segments >= 4, "{segments}");
    assert!(
        torn_tails > (writes / 4) as usize,
        "{torn_tails} of {writes}"
    );
}

#[test]
fn crash_points_under_sync() {
    every_cut(Durability::Sync, 21);
}

#[test]
fn crash_points_under_interval() {
    every_cut(Durability::Interval(Duration::ZERO), 22);
}

#[test]
fn crash_points_under_os() {
    every_cut(Durability::Os, 23);
}

/// A crash while recovery truncates a torn tail: the next open still recovers.
#[test]
fn crash_during_recovery() {
    let lens = lengths(24, 120);
    let dir = Path::new(DIR);
    // A torn tail: the machine dies in the middle of a record.
    let io = SimIo::new();
    let out = run(&io, Durability::Os, &lens, 8, Cut::AfterWrites(301));
    let image = io.after_process_crash();
    let (_, torn) = reopen(&image.after_process_crash(), &lens, "the image itself");
    assert!(torn, "the cut leaves a torn tail");
    let mut n = 1;
    loop {
        let attempt = image.after_process_crash();
        attempt.crash_after_writes(n);
        let finished = Journal::open_with(config(dir, Durability::Os), attempt.clone()).is_ok()
            && !attempt.is_crashed();
        for second in [
            attempt.after_process_crash(),
            attempt.after_power_loss(None),
        ] {
            let got = reopen_and_check(&second, &lens, &format!("recovery cut after {n} writes"));
            assert!(got <= out.appended);
        }
        if finished {
            break;
        }
        n += 1;
    }
    assert!(n > 1, "recovery wrote something");
}

/// After recovering from a cut, the journal keeps going and recovers again.
#[test]
fn writing_on_after_a_crash() {
    let lens = lengths(25, 300);
    let dir = Path::new(DIR);
    let io = SimIo::new();
    let out = run(
        &io,
        Durability::Sync,
        &lens[..200],
        5,
        Cut::AfterWrites(500),
    );
    let image = io.after_power_loss(Some(3));
    let (mut j, recovery) =
        Journal::open_with(config(dir, Durability::Sync), image.clone()).unwrap();
    assert!(recovery.last_seq >= out.committed);
    for seq in recovery.last_seq + 1..=300 {
        j.append(
            seq,
            ts(seq),
            kind(seq),
            &payload(seq, lens[seq as usize - 1]),
        )
        .unwrap();
    }
    j.commit().unwrap();
    drop(j);
    assert_eq!(
        reopen_and_check(&image.after_power_loss(None), &lens, "second run"),
        300
    );
}
