//! Journal segments are kept until persist has passed them: a shard with a reader checkpoint
//! never releases what the flush has not committed, and releases it once it has.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use oddsmatch_engine::shard::{ShardConfig, ShardHandle, SubmitError, TAG_TIMER};
use oddsmatch_engine::testkit::StreamGen;
use oddsmatch_engine::{Command, EngineConfig};
use oddsmatch_journal::Reader;
use oddsmatch_persist::check::check;
use oddsmatch_persist::{PersistConfig, Persister, Source};
use support::*;

/// Submits every command, waiting out `Busy`, and reads the acknowledgements until all are
/// answered.
fn drive(handle: &ShardHandle, commands: &[Command]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut next, mut answered) = (0, 0);
    while answered < commands.len() {
        assert!(Instant::now() < deadline, "the shard stopped answering");
        while next < commands.len() {
            match handle.submit(next as u64, commands[next].clone()) {
                Ok(()) => next += 1,
                Err(SubmitError::Busy) => break,
                Err(SubmitError::Stopped) => panic!("the shard stopped"),
            }
        }
        if let Ok(batch) = handle.acks().recv_timeout(Duration::from_millis(10)) {
            answered += batch.iter().filter(|(o, _)| o.tag != TAG_TIMER).count();
        }
    }
}

/// The first record on disk; the shard may be releasing a segment while the reader lists
/// them, so a vanished file means look again.
fn first_on_disk(dir: &Path) -> u64 {
    for _ in 0..100 {
        if let Ok(reader) = Reader::open(dir) {
            return reader.first_seq().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("the journal at {} cannot be read", dir.display())
}

#[test]
fn segments_stay_until_the_flush_has_passed_them() {
    let dir = scratch("retention");
    let checkpoint = Arc::new(AtomicU64::new(0));
    let mut config = ShardConfig::new(&dir);
    config.engine = EngineConfig::small();
    config.journal.segment_bytes = 64 * 1024;
    config.snapshot_every = 500;
    config.snapshots_kept = 1;
    config.reader_checkpoints.push(checkpoint.clone());
    let handle = ShardHandle::start(config).unwrap();
    let mut stream = StreamGen::new(3, 1_700_000_000_000_000_000);
    let commands = |inputs: Vec<oddsmatch_engine::Input>| -> Vec<Command> {
        inputs.into_iter().map(|input| input.command).collect()
    };

    // Postgres unreachable: the flush commits nothing, and every segment stays on disk
    // although snapshots pass it by.
    let mut offline = PersistConfig::new("host=127.0.0.1 port=1 user=postgres connect_timeout=1");
    offline.retry_min_ms = 20;
    offline.retry_max_ms = 50;
    let stalled =
        Persister::start(offline, vec![Source::follow(0, &dir, checkpoint.clone())]).unwrap();
    drive(&handle, &commands(stream.setup()));
    drive(&handle, &commands(stream.commands(4_000)));
    assert!(
        handle.watermark().snapshot_seq() > 1_000,
        "snapshots were taken"
    );
    assert_eq!(
        first_on_disk(&dir),
        1,
        "nothing released before persist passed it"
    );
    let progress = stalled.stop().unwrap();
    assert_eq!(progress[0].committed_seq, 0);
    assert!(progress[0].retries > 0 && progress[0].last_error.is_some());

    // The flush catches up; the next snapshots release what it has passed, never more.
    let schema = unique_schema("retention");
    let _guard = SchemaGuard(schema.clone());
    let mut online = PersistConfig::new(url());
    online.schema = schema.clone();
    let persister =
        Persister::start(online, vec![Source::follow(0, &dir, checkpoint.clone())]).unwrap();
    let head = handle.watermark().journaled();
    let started = Instant::now();
    while checkpoint.load(Ordering::Acquire) < head {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "persist did not catch up"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Segments go when a snapshot written after the checkpoint moved is taken note of, which
    // the shard does between batches: keep it busy until then.
    let started = Instant::now();
    let first = loop {
        drive(&handle, &commands(stream.commands(500)));
        let first = first_on_disk(&dir);
        if first > 1 {
            break first;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "segments persist has passed are released"
        );
    };
    assert!(first <= checkpoint.load(Ordering::Acquire) + 1);
    handle.shutdown().unwrap();
    let progress = persister.drain(Duration::from_secs(30)).unwrap();

    // The reconciliation works on what is left of the journal.
    run(async {
        let client = connect().await;
        let report = check(
            &client,
            &schema,
            &[(0, dir.to_path_buf())],
            Default::default(),
        )
        .await
        .unwrap();
        assert_eq!(report[0].checkpoint, progress[0].committed_seq);
        assert_eq!(report[0].differences, vec![], "{report:?}");
        assert_eq!(report[0].first_seq, first_on_disk(&dir));
    });
}
