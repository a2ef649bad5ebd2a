//! Step 5: how long a shard takes to start on a large journal, without and with a snapshot.
//!
//! The journal is written by an engine and a [`Recorder`] (as `oddsmatch sim --journal` does)
//! from a seeded [`StreamGen`] stream, generated in chunks so that memory stays bounded, and
//! committed every `commit_every` records under `os`; the engine's snapshot near the end is
//! kept in memory. Then, timed: [`ShardHandle::start`] on the directory, which opens the
//! journal (scanning every segment), loads the newest snapshot, replays the records after it
//! checking every re-produced event against the recorded one, and starts the thread. First
//! with only the genesis snapshot (sequence 0: every record is replayed), then, once the kept
//! snapshot is written into the directory, with it (only the tail is replayed). Each start is
//! ended with [`ShardHandle::halt`], which writes nothing, so every start sees the same
//! directory. The journal's pages are in the page cache (just written): these are warm
//! restarts.

use std::path::Path;
use std::time::{Duration, Instant};

use oddsmatch_engine::shard::{Recorder, ShardConfig, ShardHandle};
use oddsmatch_engine::testkit::StreamGen;
use oddsmatch_engine::{Engine, EngineConfig, Event};
use oddsmatch_journal::{Journal, JournalConfig, SnapshotStore};

use super::append::journal_error;
use super::report::RestartResult;
use super::{GOAL_RESTART_WITH_SNAPSHOT_SECONDS, JournalBenchOptions, files, median};
use crate::measure::EVENTS_CAPACITY;

/// Commands generated at a time.
const CHUNK: usize = 65_536;
/// The stream's first timestamp.
const START_NS: u64 = 1_700_000_000_000_000_000;

/// Writes the journal, then times the starts.
pub(super) fn measure(
    options: &JournalBenchOptions,
    base: &Path,
    mismatches: &mut Vec<String>,
    progress: &mut dyn FnMut(&str),
) -> Result<RestartResult, String> {
    let records = options.restart_records;
    let snapshot_at = records - options.restart_tail;
    let dir = files::temp_dir(base, "restart")?;
    let engine_config = EngineConfig::default();
    progress(&format!(
        "restart: writing a journal of {records} records in {}",
        dir.path().display()
    ));

    let start = Instant::now();
    let mut engine: Engine = Engine::new(engine_config.clone());
    let journal_config = JournalConfig {
        segment_bytes: options.segment_bytes,
        ..JournalConfig::new(dir.path())
    };
    let mut recorder = Recorder::create(journal_config.clone(), &engine).map_err(journal_error)?;
    let mut generator = StreamGen::new(options.seed, START_NS);
    let mut chunk = generator.setup();
    let mut events: Vec<Event> = Vec::with_capacity(EVENTS_CAPACITY);
    let mut written = 0u64;
    let mut since_commit = 0;
    let mut snapshot = None;
    'write: loop {
        for input in &chunk {
            events.clear();
            let seq = engine.apply(input, &mut events);
            recorder
                .record(seq, input, &events)
                .map_err(journal_error)?;
            written += 1;
            since_commit += 1;
            if since_commit == options.commit_every {
                recorder.commit().map_err(journal_error)?;
                since_commit = 0;
            }
            if written == snapshot_at {
                snapshot = Some((engine.seq(), engine.snapshot()));
            }
            if written.is_multiple_of(1_000_000) {
                progress(&format!("restart: {written} records written"));
            }
            if written == records {
                break 'write;
            }
        }
        chunk = generator.commands(CHUNK);
    }
    recorder.commit().map_err(journal_error)?;
    let write_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let last_seq = recorder.finish().map_err(journal_error)?;
    let flush_seconds = start.elapsed().as_secs_f64();
    let state_hash = engine.state_hash();
    drop(engine);
    if last_seq != records {
        return Err(format!(
            "restart: the journal ends at {last_seq}, {records} were written"
        ));
    }
    let (snapshot_seq, snapshot_bytes) = snapshot.expect("the snapshot point is inside");

    progress("restart: reading the journal once (stats)");
    let start = Instant::now();
    let stats = oddsmatch_journal::stats(dir.path()).map_err(journal_error)?;
    let stats_seconds = start.elapsed().as_secs_f64();
    if stats.records != records {
        mismatches.push(format!(
            "restart: the journal holds {} records, {records} were written",
            stats.records
        ));
    }

    let mut open_seconds = Vec::new();
    let mut without = Vec::new();
    let mut replayed_without = 0;
    for pass in 1..=options.passes {
        open_seconds.push(open_journal(&journal_config)?.as_secs_f64());
        let started = start_shard(&journal_config, &engine_config)?;
        progress(&format!(
            "restart without a snapshot, pass {pass}/{}: {:.2} s ({} records replayed)",
            options.passes,
            started.elapsed.as_secs_f64(),
            started.replayed
        ));
        started.check(0, records, state_hash, "without a snapshot", mismatches);
        replayed_without = started.replayed;
        without.push(started.elapsed.as_secs_f64());
    }

    let store = SnapshotStore::open(dir.path()).map_err(journal_error)?;
    store
        .write(snapshot_seq, &snapshot_bytes)
        .map_err(journal_error)?;
    let mut with = Vec::new();
    let mut replayed_with = 0;
    for pass in 1..=options.passes {
        let started = start_shard(&journal_config, &engine_config)?;
        progress(&format!(
            "restart with a snapshot at {snapshot_seq}, pass {pass}/{}: {:.2} s ({} records \
             replayed)",
            options.passes,
            started.elapsed.as_secs_f64(),
            started.replayed
        ));
        started.check(
            snapshot_seq,
            records,
            state_hash,
            "with a snapshot",
            mismatches,
        );
        replayed_with = started.replayed;
        with.push(started.elapsed.as_secs_f64());
    }
    let without_snapshot_seconds = median(&without);
    Ok(RestartResult {
        records,
        stream: "testkit StreamGen",
        journal_bytes: stats.bytes,
        segment_file_bytes: stats.file_bytes,
        segments: stats.segments,
        write_seconds,
        flush_seconds,
        stats_seconds,
        journal_open_seconds: median(&open_seconds),
        snapshot_seq,
        snapshot_bytes: snapshot_bytes.len() as u64,
        without_snapshot_seconds,
        without_snapshot_seconds_passes: without,
        replayed_without_snapshot: replayed_without,
        records_per_second_without_snapshot: replayed_without as f64 / without_snapshot_seconds,
        with_snapshot_seconds: median(&with),
        with_snapshot_seconds_passes: with,
        replayed_with_snapshot: replayed_with,
        goal_with_snapshot_seconds: GOAL_RESTART_WITH_SNAPSHOT_SECONDS,
    })
}

/// Opens the journal for writing and closes it: the recovery scan alone.
fn open_journal(config: &JournalConfig) -> Result<Duration, String> {
    let start = Instant::now();
    let (journal, _) = Journal::open(config.clone()).map_err(journal_error)?;
    let elapsed = start.elapsed();
    drop(journal);
    Ok(elapsed)
}

/// What one start found.
struct Started {
    elapsed: Duration,
    snapshot_seq: Option<u64>,
    replayed: u64,
    seq: u64,
    state_hash: u64,
}

impl Started {
    fn check(
        &self,
        snapshot_seq: u64,
        records: u64,
        state_hash: u64,
        what: &str,
        mismatches: &mut Vec<String>,
    ) {
        let expected = (
            Some(snapshot_seq),
            records - snapshot_seq,
            records,
            state_hash,
        );
        let found = (self.snapshot_seq, self.replayed, self.seq, self.state_hash);
        if found != expected {
            mismatches.push(format!(
                "restart {what}: started from snapshot {:?}, replayed {}, at {} in state \
                 {:016x}; expected snapshot {snapshot_seq}, {} replayed, {records}, \
                 {state_hash:016x}",
                self.snapshot_seq,
                self.replayed,
                self.seq,
                self.state_hash,
                records - snapshot_seq
            ));
        }
    }
}

/// Starts a shard on `dir` (timed), then halts it: nothing is appended (its timer check is
/// set an hour apart), nothing is flushed, no snapshot is written.
fn start_shard(journal: &JournalConfig, engine: &EngineConfig) -> Result<Started, String> {
    let mut config = ShardConfig::new(&journal.dir);
    config.journal = journal.clone();
    config.engine = engine.clone();
    config.timer_interval = Duration::from_secs(3_600);
    config.snapshot_every = 0;
    let start = Instant::now();
    let handle = ShardHandle::start(config).map_err(|e| format!("restart: {e}"))?;
    let elapsed = start.elapsed();
    let report = handle.start_report();
    let started = Started {
        elapsed,
        snapshot_seq: report.snapshot_seq,
        replayed: report.replayed,
        seq: report.seq,
        state_hash: report.state_hash,
    };
    handle.halt();
    Ok(started)
}
