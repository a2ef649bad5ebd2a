//! The shard loop: journal before acknowledgement, recovery, snapshots, timers, back-pressure
//! and independent shards. Each test runs real shard threads over real journal files in a
//! temporary directory.

// These tests drive the shard from outside, with real threads, files and clocks.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oddsmatch_engine::shard::{
    Batch, ManualClock, Outcome, ReplayOptions, ShardConfig, ShardHandle, Start, SubmitError,
    TAG_TIMER, replay,
};
use oddsmatch_engine::testkit::StreamGen;
use oddsmatch_engine::{
    Command, Engine, EngineConfig, Event, Input, MarketId, MarketSpec, MarketStatus, SelectionId,
};
use oddsmatch_journal::Durability;

fn config(dir: &Path) -> ShardConfig {
    let mut config = ShardConfig::new(dir);
    config.engine = EngineConfig::small();
    config.journal.segment_bytes = 256 * 1024;
    config
}

fn commands(seed: u64, count: usize) -> Vec<Command> {
    StreamGen::stream(seed, count)
        .into_iter()
        .map(|input| input.command)
        .collect()
}

/// Everything one shard answered, in sequence order.
#[derive(Default)]
struct Answers {
    outcomes: Vec<(Outcome, Vec<Event>)>,
}

impl Answers {
    fn take(&mut self, batch: &Batch, watermark_journaled: u64) {
        for (outcome, events) in batch.iter() {
            assert!(
                outcome.seq <= watermark_journaled,
                "seq {} published before the journal held it (journaled: {watermark_journaled})",
                outcome.seq
            );
            self.outcomes.push((outcome.clone(), events.to_vec()));
        }
    }

    fn answered(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(outcome, _)| outcome.tag != TAG_TIMER)
            .count()
    }

    /// Re-applies what the shard applied, to a plain engine, and checks the events are the
    /// ones the shard published.
    fn check_against_plain_engine(&self, commands: &[Command], config: EngineConfig) -> Engine {
        let mut engine: Engine = Engine::new(config);
        let mut events = Vec::new();
        for (outcome, published) in &self.outcomes {
            let command = if outcome.tag == TAG_TIMER {
                Command::Timer {}
            } else {
                commands[outcome.tag as usize].clone()
            };
            events.clear();
            let input = Input {
                ts_ns: outcome.ts_ns,
                command,
            };
            let seq = engine.apply(&input, &mut events);
            assert_eq!(seq, outcome.seq);
            assert_eq!(&events, published, "events of seq {seq}");
        }
        engine
    }
}

/// Submits every command (tag = its index), waiting out `Busy`, and collects the answers.
fn drive(handle: &ShardHandle, commands: &[Command], answers: &mut Answers) {
    drive_range(handle, commands, 0..commands.len(), answers);
}

/// [`drive`] for `commands[range]` only, each tagged with its index in `commands`.
fn drive_range(
    handle: &ShardHandle,
    commands: &[Command],
    range: std::ops::Range<usize>,
    answers: &mut Answers,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut next = range.start;
    let target = answers.answered() + range.len();
    while answers.answered() < target {
        assert!(Instant::now() < deadline, "the shard stopped answering");
        while next < range.end {
            match handle.submit(next as u64, commands[next].clone()) {
                Ok(()) => next += 1,
                Err(SubmitError::Busy) => break,
                Err(SubmitError::Stopped) => panic!("the shard stopped"),
            }
        }
        match handle.acks().recv_timeout(Duration::from_millis(10)) {
            Ok(batch) => answers.take(&batch, handle.watermark().journaled()),
            Err(_) => continue,
        }
    }
}

#[test]
fn acks_follow_the_journal_and_match_a_plain_engine_and_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let commands = commands(1, 3_000);
    let handle = ShardHandle::start(config.clone()).unwrap();
    assert_eq!(handle.start_report().seq, 0);
    let mut answers = Answers::default();
    drive(&handle, &commands, &mut answers);
    let stop = handle.shutdown().unwrap();
    let engine = answers.check_against_plain_engine(&commands, config.engine.clone());
    assert_eq!(stop.seq, engine.seq());
    assert_eq!(stop.state_hash, engine.state_hash());

    // The journal alone rebuilds the same state, event for event.
    let options = ReplayOptions {
        start: Start::Oldest,
        to_seq: None,
        verify_events: true,
    };
    let replayed = replay(dir.path(), options, &mut |_| {}).unwrap();
    assert_eq!(replayed.snapshot_seq, 0);
    assert_eq!(replayed.records, engine.seq());
    // A new journal's shard drew its own hash seed; nothing it published depended on it.
    assert_ne!(replayed.engine.config().hash_seed, config.engine.hash_seed);
    assert_eq!(replayed.engine.state_hash(), engine.state_hash());

    // A restart continues from the shutdown snapshot without replaying anything.
    let handle = ShardHandle::start(config).unwrap();
    let report = handle.start_report();
    assert_eq!(report.seq, engine.seq());
    assert_eq!(report.snapshot_seq, Some(engine.seq()));
    assert_eq!(report.replayed, 0);
    assert_eq!(report.state_hash, engine.state_hash());
    handle.shutdown().unwrap();
}

#[test]
fn a_crashed_shard_recovers_from_its_newest_snapshot_and_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.snapshot_every = 700;
    config.snapshots_kept = 2;
    let commands = commands(2, 4_000);
    let handle = ShardHandle::start(config.clone()).unwrap();
    let mut answers = Answers::default();
    drive(&handle, &commands, &mut answers);
    // A crash: no drain, no flush, no snapshot; the page cache keeps what was written.
    handle.halt();
    let engine = answers.check_against_plain_engine(&commands, config.engine.clone());
    // If the last batch happened to end in a snapshot, the crash came just before it was
    // written: recovery must then replay a tail from the one before.
    let newest = dir
        .path()
        .join("snapshots")
        .join(oddsmatch_journal::snapshot_file_name(engine.seq()));
    if newest.exists() {
        std::fs::remove_file(newest).unwrap();
    }

    let handle = ShardHandle::start(config.clone()).unwrap();
    let report = handle.start_report();
    let snapshot = report.snapshot_seq.unwrap();
    assert!(snapshot > 0 && snapshot < engine.seq(), "{report:?}");
    assert_eq!(report.replayed, engine.seq() - snapshot);
    assert_eq!(report.state_hash, engine.state_hash());
    assert!(report.journal.torn_tail.is_none());
    handle.shutdown().unwrap();

    // Older snapshots were pruned, and the segments before the oldest kept one released.
    let snapshots: Vec<_> = std::fs::read_dir(dir.path().join("snapshots"))
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.ends_with(".snap").then_some(name)
        })
        .collect();
    assert_eq!(snapshots.len(), 2, "{snapshots:?}");
    let reader = oddsmatch_journal::Reader::open(dir.path()).unwrap();
    assert!(reader.first_seq().unwrap() > 1, "old segments are released");
}

#[test]
fn a_corrupt_newest_snapshot_falls_back_to_an_older_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.snapshot_every = 500;
    config.snapshots_kept = 3;
    let commands = commands(3, 2_000);
    let handle = ShardHandle::start(config.clone()).unwrap();
    let mut answers = Answers::default();
    drive(&handle, &commands, &mut answers);
    handle.shutdown().unwrap();
    let engine = answers.check_against_plain_engine(&commands, config.engine.clone());

    let mut snapshots: Vec<_> = std::fs::read_dir(dir.path().join("snapshots"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "snap"))
        .collect();
    snapshots.sort();
    let newest = snapshots.last().unwrap().clone();
    let mut bytes = std::fs::read(&newest).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&newest, bytes).unwrap();

    let handle = ShardHandle::start(config).unwrap();
    let report = handle.start_report();
    assert_eq!(report.skipped_snapshots.len(), 1, "{report:?}");
    assert_eq!(report.skipped_snapshots[0].0, newest);
    assert!(report.snapshot_seq.unwrap() < engine.seq());
    assert!(report.replayed > 0);
    assert_eq!(report.state_hash, engine.state_hash());
    handle.shutdown().unwrap();
}

#[test]
fn a_full_queue_answers_busy_at_once_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.queue_capacity = 4;
    config.acks_capacity = 1;
    let commands = commands(4, 200);
    let handle = ShardHandle::start(config.clone()).unwrap();
    // Nobody reads the acks yet: the shard waits on them and its queue fills up.
    let mut queued = 0;
    let mut busy = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !busy {
        assert!(Instant::now() < deadline, "the queue never filled");
        let started = Instant::now();
        match handle.submit(queued as u64, commands[queued].clone()) {
            Ok(()) => queued += 1,
            Err(SubmitError::Busy) => {
                // `Busy` is answered without waiting (loosely: far under the shard's pace).
                assert!(started.elapsed() < Duration::from_secs(1));
                busy = true;
            }
            Err(SubmitError::Stopped) => panic!("stopped"),
        }
        if !busy && queued >= 4 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert!(queued < commands.len());
    let mut answers = Answers::default();
    while answers.answered() < queued {
        let batch = handle.acks().recv_timeout(Duration::from_secs(10)).unwrap();
        answers.take(&batch, handle.watermark().journaled());
    }
    let rest: Vec<Command> = commands[queued..].to_vec();
    let mut rest_answers = Answers::default();
    drive(&handle, &rest, &mut rest_answers);
    handle.shutdown().unwrap();
    // Re-tag the second part to the full command list and check everything.
    for (outcome, _) in &mut rest_answers.outcomes {
        if outcome.tag != TAG_TIMER {
            outcome.tag += queued as u64;
        }
    }
    answers.outcomes.extend(rest_answers.outcomes);
    answers.check_against_plain_engine(&commands, config.engine);
}

#[test]
fn the_shard_injects_timers_when_something_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.timer_interval = Duration::from_millis(1);
    let start = 1_700_000_000_000_000_000u64;
    let clock = ManualClock::new(start);
    let handle = ShardHandle::start_with_clock(config, clock.clone()).unwrap();
    let mut spec = MarketSpec::new(MarketId(9), vec![SelectionId(1), SelectionId(2)]);
    spec.lock_at = Some(start + 5_000_000);
    handle.submit(1, Command::create_market(spec)).unwrap();
    handle
        .submit(
            2,
            Command::OpenMarket {
                market: MarketId(9),
            },
        )
        .unwrap();
    let mut answers = Answers::default();
    while answers.answered() < 2 {
        let batch = handle.acks().recv_timeout(Duration::from_secs(10)).unwrap();
        answers.take(&batch, handle.watermark().journaled());
    }
    // Nothing is due yet: no timer.
    std::thread::sleep(Duration::from_millis(20));
    assert!(handle.acks().try_recv().is_err());
    // Time passes the lock: the shard applies a timer on its own.
    clock.set(start + 6_000_000);
    let batch: Arc<Batch> = handle.acks().recv_timeout(Duration::from_secs(10)).unwrap();
    let (outcome, events) = batch.iter().next().unwrap();
    assert_eq!(outcome.tag, TAG_TIMER);
    assert_eq!(outcome.ts_ns, start + 6_000_000);
    assert!(
        events.iter().any(|event| matches!(
            event,
            Event::MarketStatus {
                status: MarketStatus::Suspended | MarketStatus::Closed,
                ..
            }
        )),
        "{events:?}"
    );
    handle.shutdown().unwrap();
}

#[test]
fn under_sync_every_published_batch_is_already_durable() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.journal.durability = Durability::Sync;
    let commands = commands(5, 300);
    let handle = ShardHandle::start(config.clone()).unwrap();
    let mut answers = Answers::default();
    let mut next = 0;
    while answers.answered() < commands.len() {
        if next < commands.len() && handle.submit(next as u64, commands[next].clone()).is_ok() {
            next += 1;
        }
        if let Ok(batch) = handle.acks().recv_timeout(Duration::from_millis(5)) {
            assert!(batch.durable);
            let last = batch.outcomes.last().unwrap().seq;
            assert!(handle.watermark().durable() >= last);
            answers.take(&batch, handle.watermark().journaled());
        }
    }
    handle.shutdown().unwrap();
    answers.check_against_plain_engine(&commands, config.engine);
}

#[test]
fn two_shards_run_independently() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let streams = [commands(6, 1_500), commands(7, 1_500)];
    let configs: Vec<ShardConfig> = dirs
        .iter()
        .enumerate()
        .map(|(n, dir)| {
            let mut config = config(dir.path());
            config.shard = n as u16;
            config
        })
        .collect();
    let threads: Vec<_> = configs
        .iter()
        .cloned()
        .zip(streams.clone())
        .map(|(config, commands)| {
            std::thread::spawn(move || {
                let handle = ShardHandle::start(config).unwrap();
                let mut answers = Answers::default();
                drive(&handle, &commands, &mut answers);
                let stop = handle.shutdown().unwrap();
                (answers, stop)
            })
        })
        .collect();
    let mut hashes = Vec::new();
    for ((thread, commands), config) in threads.into_iter().zip(&streams).zip(&configs) {
        let (answers, stop) = thread.join().unwrap();
        let engine = answers.check_against_plain_engine(commands, config.engine.clone());
        assert_eq!(stop.state_hash, engine.state_hash());
        let replayed = replay(
            &config.journal.dir,
            ReplayOptions {
                start: Start::Oldest,
                to_seq: None,
                verify_events: true,
            },
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(replayed.engine.state_hash(), engine.state_hash());
        hashes.push(engine.state_hash());
    }
    assert_ne!(hashes[0], hashes[1], "different streams, different states");
}

#[test]
fn a_market_snapshot_sits_on_the_market_data_queue_where_it_was_asked_for() {
    use oddsmatch_engine::shard::MarketData;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let commands = commands(4, 1_500);
    let handle = ShardHandle::start(config.clone()).unwrap();
    let mut answers = Answers::default();
    drive_range(&handle, &commands, 0..1_000, &mut answers);
    handle.request_market_snapshot().unwrap();
    // Commands queued behind the request may share its batch (the snapshot then comes after
    // that batch); the ones sent once it is answered come after the snapshot.
    drive_range(&handle, &commands, 1_000..1_200, &mut answers);
    drive_range(&handle, &commands, 1_200..commands.len(), &mut answers);

    // Re-applying what came before the snapshot gives exactly the snapshot's markets; what
    // comes after continues from it.
    let mut before = Vec::new();
    let mut snapshot = None;
    let mut after = 0;
    while let Ok(item) = handle.market_data().try_recv() {
        match item {
            MarketData::Batch(batch) if snapshot.is_none() => before.push(batch),
            MarketData::Batch(_) => after += 1,
            MarketData::Snapshot(s) => snapshot = Some(s),
        }
    }
    let snapshot = snapshot.expect("the snapshot was sent");
    assert!(after > 0, "batches follow the snapshot");
    let last = before.last().unwrap().outcomes.last().unwrap().seq;
    assert_eq!(snapshot.seq, last);
    let mut replay = Answers::default();
    for batch in &before {
        replay.take(batch, u64::MAX);
    }
    let engine = replay.check_against_plain_engine(&commands, config.engine.clone());
    use oddsmatch_engine::{Query, Reply};
    let Reply::Markets(views) = engine.query(&Query::Markets) else {
        unreachable!()
    };
    let expected: Vec<_> = views
        .iter()
        .filter_map(|v| engine.market_odds(v.market))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(snapshot.markets, expected);
    handle.shutdown().unwrap();
}
