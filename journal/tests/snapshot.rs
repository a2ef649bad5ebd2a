//! Snapshot files: atomic writes, checksums, fallback to older ones, pruning.

use std::path::Path;

use oddsmatch_journal::{
    Durability, JournalError, SimIo, SnapshotStore, snapshot_file_name, write_snapshot_file,
};
use proptest::prelude::*;

fn store(io: &SimIo) -> SnapshotStore<SimIo> {
    SnapshotStore::open_with(Path::new("/j"), io.clone()).unwrap()
}

fn decode_ok(seq: u64, bytes: &[u8]) -> Result<(u64, Vec<u8>), String> {
    assert_eq!(
        bytes.as_ptr() as usize % 16,
        0,
        "payload handed over 16-byte aligned"
    );
    Ok((seq, bytes.to_vec()))
}

#[test]
fn newest_valid_snapshot_wins_and_corrupt_ones_are_skipped() {
    let io = SimIo::new();
    let s = store(&io);
    assert!(
        s.load_newest(u64::MAX, decode_ok).unwrap().is_none(),
        "none yet"
    );
    for seq in [0u64, 100, 200, 300] {
        let path = s.write(seq, &vec![seq as u8; 1000 + seq as usize]).unwrap();
        assert_eq!(
            path,
            Path::new("/j/snapshots").join(snapshot_file_name(seq))
        );
    }
    let loaded = s.load_newest(u64::MAX, decode_ok).unwrap().unwrap();
    assert_eq!(loaded.seq, 300);
    assert_eq!(loaded.value.1, vec![44u8; 1300]);
    assert!(loaded.skipped.is_empty());
    // Bounded by max_seq.
    assert_eq!(s.load_newest(250, decode_ok).unwrap().unwrap().seq, 200);

    // The newest is corrupt: a payload bit flipped. The next older one is used.
    let p300 = Path::new("/j/snapshots").join(snapshot_file_name(300));
    io.flip_bit(&p300, 64 + 500, 2).unwrap();
    let loaded = s.load_newest(u64::MAX, decode_ok).unwrap().unwrap();
    assert_eq!(loaded.seq, 200);
    assert_eq!(loaded.skipped.len(), 1);
    assert_eq!(loaded.skipped[0].0, p300);
    assert!(
        loaded.skipped[0].1.contains("checksum"),
        "{}",
        loaded.skipped[0].1
    );

    // The next one decodes badly (the caller's decoder refuses it).
    let loaded = s
        .load_newest(u64::MAX, |seq, bytes| {
            if seq == 200 {
                Err("not an engine")
            } else {
                decode_ok(seq, bytes).map_err(|_| "x")
            }
        })
        .unwrap()
        .unwrap();
    assert_eq!(loaded.seq, 100);
    assert_eq!(loaded.skipped.len(), 2);
    assert!(loaded.skipped[1].1.contains("not an engine"));

    // A truncated one (header claims more than the file holds).
    let p100 = Path::new("/j/snapshots").join(snapshot_file_name(100));
    io.truncate(&p100, 500).unwrap();
    let loaded = s.load_newest(200 - 1, decode_ok).unwrap().unwrap();
    assert_eq!(loaded.seq, 0);
    assert_eq!(loaded.skipped.len(), 1);

    // The oldest-first variant starts at the bottom.
    assert_eq!(s.load_oldest(u64::MAX, decode_ok).unwrap().unwrap().seq, 0);

    // Every candidate bad: an error that lists them all.
    let p0 = Path::new("/j/snapshots").join(snapshot_file_name(0));
    io.flip_bit(&p0, 20, 0).unwrap(); // header (seq field) covered by the header checksum
    match s.load_newest(150, decode_ok) {
        Err(JournalError::NoValidSnapshot { skipped }) => assert_eq!(skipped.len(), 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn temporary_files_are_ignored_and_pruned() {
    let io = SimIo::new();
    let s = store(&io);
    s.write(10, b"ten").unwrap();
    s.write(20, b"twenty").unwrap();
    // A crash in the middle of writing snapshot 30: only its temporary file exists.
    io.crash_after_writes(1);
    assert!(s.write(30, b"thirty").is_err());
    let io = io.after_process_crash();
    let s = store(&io);
    assert!(
        io.paths()
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".snap.tmp"))
    );
    let listed: Vec<u64> = s.list().unwrap().iter().map(|i| i.seq).collect();
    assert_eq!(listed, vec![10, 20]);
    assert_eq!(s.load_newest(u64::MAX, decode_ok).unwrap().unwrap().seq, 20);
    assert_eq!(s.prune(1).unwrap(), 1);
    assert_eq!(s.list().unwrap().len(), 1);
    // A temporary file newer than every kept snapshot may be a write in progress: kept.
    assert!(
        io.paths()
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".snap.tmp"))
    );
    s.write(40, b"forty").unwrap();
    assert_eq!(s.prune(1).unwrap(), 1);
    assert!(
        !io.paths()
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".snap.tmp"))
    );
}

#[test]
fn a_snapshot_is_durable_once_write_returns() {
    let io = SimIo::new();
    let s = store(&io);
    s.write(5, b"five").unwrap();
    let lost = io.after_power_loss(None);
    let loaded = store(&lost)
        .load_newest(u64::MAX, decode_ok)
        .unwrap()
        .unwrap();
    assert_eq!(loaded.value, (5, b"five".to_vec()));
    // Cut before the directory sync: after a power loss the rename may not have happened,
    // and nothing half-written is ever taken for a snapshot.
    for n in 1..=3 {
        let io = SimIo::new();
        let s = store(&io);
        s.write(1, b"one").unwrap();
        io.crash_after_writes(n);
        let _ = s.write(2, b"two");
        for image in [io.after_power_loss(None), io.after_process_crash()] {
            let seq = store(&image)
                .load_newest(u64::MAX, decode_ok)
                .unwrap()
                .unwrap()
                .seq;
            assert!(seq == 1 || seq == 2);
        }
    }
}

#[test]
fn standalone_snapshot_files_use_the_same_format() {
    let dir = tempfile::tempdir().unwrap();
    let journal_dir = dir.path().join("j");
    let s = SnapshotStore::open(&journal_dir).unwrap();
    let out = s.dir().join(snapshot_file_name(77));
    write_snapshot_file(&out, 77, b"state").unwrap();
    let loaded = s.load_newest(u64::MAX, decode_ok).unwrap().unwrap();
    assert_eq!(loaded.value, (77, b"state".to_vec()));
    assert_eq!(s.list().unwrap()[0].bytes, 64 + 5);
}

proptest! {
    #[test]
    fn durability_display_round_trips(ns in 0u64..u64::MAX, unit in 0usize..4, pick in 0usize..3) {
        let d = match pick {
            0 => Durability::Os,
            1 => Durability::Sync,
            _ => {
                let scale = [1u64, 1_000, 1_000_000, 1_000_000_000][unit];
                Durability::Interval(std::time::Duration::from_nanos((ns / scale.max(1)).saturating_mul(scale)))
            }
        };
        let text = d.to_string();
        prop_assert_eq!(text.parse::<Durability>(), Ok(d));
    }
}

#[test]
fn durability_strings() {
    use std::time::Duration;
    assert_eq!("os".parse(), Ok(Durability::Os));
    assert_eq!("sync".parse(), Ok(Durability::Sync));
    assert_eq!(
        "interval".parse(),
        Ok(Durability::Interval(Duration::from_millis(5)))
    );
    assert_eq!(
        "interval:10ms".parse(),
        Ok(Durability::Interval(Duration::from_millis(10)))
    );
    assert_eq!(
        "interval:250us".parse(),
        Ok(Durability::Interval(Duration::from_micros(250)))
    );
    assert_eq!(
        Durability::Interval(Duration::from_millis(5)).to_string(),
        "interval:5ms"
    );
    assert_eq!(
        Durability::Interval(Duration::from_secs(2)).to_string(),
        "interval:2s"
    );
    assert_eq!(Durability::Os.to_string(), "os");
    assert_eq!(Durability::Sync.to_string(), "sync");
    for bad in [
        "",
        "OS ",
        "interval:",
        "interval:ms",
        "interval:5",
        "interval:5m",
        "syncx",
    ] {
        assert!(bad.parse::<Durability>().is_err(), "{bad:?}");
    }
}
