//! Step 2: the engine with its journal under `os`, against the engine alone on the same stream.
//!
//! In process, as the shard loop does it without the thread: apply an input, encode it with its
//! events ([`RecordCodec`]), append the record, and commit every `commit_every` inputs. Then
//! through a real shard thread ([`ShardHandle`]): the bench thread submits the stream as fast
//! as the queue takes it (retrying when the shard answers busy) and drains the
//! acknowledgements, as a gateway would; the time runs from the first submission to the last
//! acknowledgement. Passes alternate the engine alone, the engine with its journal and the
//! shard. Every pass starts from a fresh engine holding the workload's setup.

use std::path::Path;
use std::time::{Duration, Instant};

use oddsmatch_engine::book::LadderBook;
use oddsmatch_engine::record::{RECORD_INPUT, RecordCodec};
use oddsmatch_engine::shard::{
    Batch, ManualClock, ShardConfig, ShardHandle, SubmitError, TAG_TIMER,
};
use oddsmatch_engine::{Engine, Event, Input};
use oddsmatch_journal::{Durability, Journal, JournalConfig, SnapshotStore, format};
use tempfile::TempDir;

use super::append::journal_error;
use super::files;
use super::report::{CommandsResult, JournalBenchReport, ShardResult};
use super::{GOAL_COMMANDS_PER_SECOND, JournalBenchOptions, median, median_ratio};
use crate::measure::{EVENTS_CAPACITY, engine_after_setup, throughput_pass};
use crate::report::format_rate;
use crate::workload::Workload;

/// Tags of the measured stream's requests start here (the setup's are their index).
const STREAM_TAG: u64 = 1 << 32;
/// The longest the bench waits for the shard's next acknowledgement before giving up.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// What the replay step needs from this one.
pub(super) struct Measured {
    /// The journal of the last in-process pass, with a snapshot of the engine after the setup
    /// (deleted when dropped).
    pub(super) journal: TempDir,
    /// Records in it (one per stream input).
    pub(super) records: u64,
    /// Their bytes, headers and padding included.
    pub(super) journal_bytes: u64,
    /// The engine's state hash after the stream.
    pub(super) state_hash: u64,
}

/// Runs the passes and fills in `report.commands`.
pub(super) fn measure(
    workload: &Workload,
    options: &JournalBenchOptions,
    base: &Path,
    report: &mut JournalBenchReport,
    progress: &mut dyn FnMut(&str),
) -> Result<Measured, String> {
    let timed = workload.stream.len() - 1;
    let rate = |elapsed: Duration| timed as f64 / elapsed.as_secs_f64();
    let mut alone_rates = Vec::new();
    let mut encode_rates = Vec::new();
    let mut journal_rates = Vec::new();
    let mut shard_rates = Vec::new();
    // The engine alone's rate of the round of each shard pass, to pair with it.
    let mut shard_alone_rates = Vec::new();
    let mut shard_stats = None;
    let mut kept = None;
    for pass in 1..=options.passes {
        let (elapsed, alone_hash) = engine_alone_pass(workload);
        alone_rates.push(rate(elapsed));
        progress(&format!(
            "commands: engine alone pass {pass}/{}: {}",
            options.passes,
            format_rate(rate(elapsed))
        ));
        let elapsed = engine_encode_pass(workload);
        encode_rates.push(rate(elapsed));
        progress(&format!(
            "commands: engine + encoding pass {pass}/{}: {}",
            options.passes,
            format_rate(rate(elapsed))
        ));
        let last = pass == options.passes;
        let journaled = journal_pass(workload, base, options, last, &mut report.notes)?;
        journal_rates.push(rate(journaled.elapsed));
        progress(&format!(
            "commands: engine + journal pass {pass}/{}: {}",
            options.passes,
            format_rate(rate(journaled.elapsed))
        ));
        if journaled.state_hash != alone_hash {
            report.mismatches.push(format!(
                "commands pass {pass}: the engine with its journal ended in state {:016x}, \
                 alone in {alone_hash:016x}",
                journaled.state_hash
            ));
        }
        if options.shard {
            let stats = shard_pass(workload, base, options, &mut report.notes)?;
            shard_rates.push(stats.commands as f64 / stats.elapsed.as_secs_f64());
            shard_alone_rates.push(alone_rates[alone_rates.len() - 1]);
            progress(&format!(
                "commands: shard thread pass {pass}/{}: {}",
                options.passes,
                format_rate(stats.commands as f64 / stats.elapsed.as_secs_f64())
            ));
            if (stats.traded, stats.rejected) != (workload.traded, workload.rejected) {
                report.mismatches.push(format!(
                    "commands, shard pass {pass}: {} commands traded and {} were rejected, \
                     the generator saw {} and {}",
                    stats.traded, stats.rejected, workload.traded, workload.rejected
                ));
            }
            shard_stats = Some(stats);
        }
        if last {
            kept = Some(journaled);
        }
    }
    let journaled = kept.expect("at least one pass");
    let alone = median(&alone_rates);
    let with_journal = median(&journal_rates);
    let ratio_to_engine_alone = median_ratio(&journal_rates, &alone_rates);
    let encode_ratio = median_ratio(&encode_rates, &alone_rates);
    let shard_ratio = median_ratio(&shard_rates, &shard_alone_rates);
    let records = workload.stream.len() as u64;
    let record_bytes_mean = journaled.journal_bytes as f64 / records as f64;
    report.commands = Some(CommandsResult {
        markets: workload.spec.markets,
        setup_commands: workload.setup.len(),
        commands: timed,
        commit_every: options.commit_every,
        journal_bytes: journaled.journal_bytes,
        record_bytes_mean,
        commands_per_second: with_journal,
        commands_per_second_passes: journal_rates,
        mb_per_second: with_journal * record_bytes_mean / 1e6,
        engine_alone_commands_per_second: alone,
        engine_alone_commands_per_second_passes: alone_rates,
        engine_encode_commands_per_second: median(&encode_rates),
        engine_encode_commands_per_second_passes: encode_rates,
        engine_encode_ratio_to_engine_alone: encode_ratio,
        ratio_to_engine_alone,
        goal_commands_per_second: GOAL_COMMANDS_PER_SECOND,
        state_hash: format!("{:016x}", journaled.state_hash),
        shard: shard_stats.map(|stats| {
            let shard = median(&shard_rates);
            ShardResult {
                idle: options.shard_idle.to_string(),
                batch_max: options.commit_every,
                commands: stats.commands,
                commands_per_second: shard,
                commands_per_second_passes: shard_rates,
                ratio_to_engine_alone: shard_ratio,
                timer_inputs: stats.timers,
                mean_batch: (stats.commands as f64 + stats.timers as f64)
                    / stats.batches.max(1) as f64,
                busy_answers: stats.busy,
            }
        }),
    });
    Ok(Measured {
        journal: journaled.dir,
        records,
        journal_bytes: journaled.journal_bytes,
        state_hash: journaled.state_hash,
    })
}

/// The engine alone: the first input untimed (as in the journal pass), the rest timed.
pub(super) fn engine_alone_pass(workload: &Workload) -> (Duration, u64) {
    let mut engine = engine_after_setup::<LadderBook>(workload);
    let mut events = Vec::with_capacity(EVENTS_CAPACITY);
    engine.apply(&workload.stream[0], &mut events);
    let elapsed = throughput_pass(&mut engine, &workload.stream[1..]);
    (elapsed, engine.state_hash())
}

/// The engine and the encoding of each input with its events, without the journal: where
/// the cost of the journal pass goes.
fn engine_encode_pass(workload: &Workload) -> Duration {
    let mut engine = engine_after_setup::<LadderBook>(workload);
    let mut codec = RecordCodec::new();
    let mut events: Vec<Event> = Vec::with_capacity(EVENTS_CAPACITY);
    let mut encode = |engine: &mut Engine<LadderBook>, events: &mut Vec<Event>, input: &Input| {
        events.clear();
        engine.apply(input, events);
        codec.encode(input, events).len()
    };
    encode(&mut engine, &mut events, &workload.stream[0]);
    let mut bytes = 0;
    let start = Instant::now();
    for input in &workload.stream[1..] {
        bytes += encode(&mut engine, &mut events, input);
    }
    let elapsed = start.elapsed();
    std::hint::black_box(bytes);
    elapsed
}

/// One pass of the engine with its journal.
struct Journaled {
    elapsed: Duration,
    dir: TempDir,
    journal_bytes: u64,
    state_hash: u64,
}

/// Applies, encodes and appends the stream, committing every `commit_every` inputs; the first
/// input is not timed (its append waits for the first segment), and the timed part starts once
/// the next segment is prepared. With `keep_snapshot`, the engine after the setup is written
/// as the journal's snapshot first, so that the journal can be replayed.
fn journal_pass(
    workload: &Workload,
    base: &Path,
    options: &JournalBenchOptions,
    keep_snapshot: bool,
    notes: &mut Vec<String>,
) -> Result<Journaled, String> {
    let dir = files::temp_dir(base, "commands")?;
    let mut engine = engine_after_setup::<LadderBook>(workload);
    if keep_snapshot {
        let store = SnapshotStore::open(dir.path()).map_err(journal_error)?;
        store
            .write(engine.seq(), &engine.snapshot())
            .map_err(journal_error)?;
    }
    let config = JournalConfig {
        durability: Durability::Os,
        segment_bytes: options.segment_bytes,
        ..JournalConfig::new(dir.path())
    };
    let (mut journal, _) = Journal::open(config).map_err(journal_error)?;
    let mut codec = RecordCodec::new();
    let mut events: Vec<Event> = Vec::with_capacity(EVENTS_CAPACITY);
    let mut journal_bytes = 0;
    let mut append = |engine: &mut Engine<LadderBook>,
                      journal: &mut Journal,
                      events: &mut Vec<Event>,
                      input: &Input| {
        events.clear();
        let seq = engine.apply(input, events);
        let payload = codec.encode(input, events);
        journal_bytes += format::record_bytes(payload.len()) as u64;
        journal.append(seq, input.ts_ns, RECORD_INPUT, payload)
    };
    append(&mut engine, &mut journal, &mut events, &workload.stream[0]).map_err(journal_error)?;
    journal.commit().map_err(journal_error)?;
    if !files::wait_for_preparer(dir.path(), 1) {
        notes.push("commands: the journal's next segment was not ready after 30 s".into());
    }
    let start = Instant::now();
    for batch in workload.stream[1..].chunks(options.commit_every) {
        for input in batch {
            append(&mut engine, &mut journal, &mut events, input).map_err(journal_error)?;
        }
        journal.commit().map_err(journal_error)?;
    }
    let elapsed = start.elapsed();
    std::hint::black_box(&events);
    let expected = engine.seq();
    if journal.last_seq() != expected {
        return Err(format!(
            "commands: the journal ends at {}, the engine at {expected}",
            journal.last_seq()
        ));
    }
    drop(journal);
    Ok(Journaled {
        elapsed,
        dir,
        journal_bytes,
        state_hash: engine.state_hash(),
    })
}

/// What one shard pass saw.
struct ShardStats {
    elapsed: Duration,
    commands: usize,
    traded: u64,
    rejected: u64,
    timers: u64,
    batches: u64,
    busy: u64,
}

/// Runs the setup through a shard (untimed), then the stream (timed, from the first submission
/// to the last acknowledgement). The shard's clock follows the workload's timestamps as the
/// bench thread submits.
fn shard_pass(
    workload: &Workload,
    base: &Path,
    options: &JournalBenchOptions,
    notes: &mut Vec<String>,
) -> Result<ShardStats, String> {
    let dir = files::temp_dir(base, "shard")?;
    let mut config = ShardConfig::new(dir.path());
    config.engine = workload.config.clone();
    config.journal.durability = Durability::Os;
    config.journal.segment_bytes = options.segment_bytes;
    config.batch_max = options.commit_every;
    config.idle = options.shard_idle;
    config.snapshot_every = 0;
    let clock = ManualClock::new(workload.setup.first().map_or(1, |input| input.ts_ns));
    let handle =
        ShardHandle::start_with_clock(config, clock.clone()).map_err(|e| format!("shard: {e}"))?;
    let mut answers = Answers::default();
    for (index, input) in workload.setup.iter().enumerate() {
        submit(&handle, &clock, index as u64, input, &mut answers)?;
    }
    answers.wait_for(&handle, workload.setup.len())?;
    let active = files::active_segments(dir.path())?;
    if !files::wait_for_preparer(dir.path(), active) {
        notes.push("shard pass: the journal's next segment was not ready after 30 s".into());
    }
    answers.reset();
    let mut busy = 0;
    let start = Instant::now();
    for (index, input) in workload.stream.iter().enumerate() {
        busy += submit(
            &handle,
            &clock,
            STREAM_TAG + index as u64,
            input,
            &mut answers,
        )?;
        if index % 64 == 63 {
            answers.drain(&handle);
        }
    }
    answers.wait_for(&handle, workload.stream.len())?;
    let elapsed = start.elapsed();
    handle.halt();
    Ok(ShardStats {
        elapsed,
        commands: workload.stream.len(),
        traded: answers.traded,
        rejected: answers.rejected,
        timers: answers.timers,
        batches: answers.batches,
        busy,
    })
}

/// Queues one input's command, draining acknowledgements while the queue is full; returns how
/// many times the shard answered busy.
fn submit(
    handle: &ShardHandle,
    clock: &ManualClock,
    tag: u64,
    input: &Input,
    answers: &mut Answers,
) -> Result<u64, String> {
    clock.set(input.ts_ns);
    let mut busy = 0;
    loop {
        match handle.submit(tag, input.command.clone()) {
            Ok(()) => return Ok(busy),
            Err(SubmitError::Busy) => {
                busy += 1;
                answers.drain(handle);
                std::thread::yield_now();
            }
            Err(SubmitError::Stopped) => return Err("shard: the shard stopped".into()),
        }
    }
}

/// What the shard has answered.
#[derive(Default)]
struct Answers {
    answered: usize,
    traded: u64,
    rejected: u64,
    timers: u64,
    batches: u64,
}

impl Answers {
    fn reset(&mut self) {
        *self = Answers::default();
    }

    fn take(&mut self, batch: &Batch) {
        self.batches += 1;
        for (outcome, events) in batch.iter() {
            if outcome.tag == TAG_TIMER {
                self.timers += 1;
                continue;
            }
            self.answered += 1;
            if outcome.tag >= STREAM_TAG {
                let traded = events.iter().any(|e| matches!(e, Event::Trade { .. }));
                let rejected = events.iter().any(|e| matches!(e, Event::Rejected { .. }));
                self.traded += u64::from(traded);
                self.rejected += u64::from(rejected);
            }
        }
    }

    /// Takes every acknowledgement waiting, and throws away the market data (nobody reads it
    /// here; the shard would drop and count it otherwise).
    fn drain(&mut self, handle: &ShardHandle) {
        while let Ok(batch) = handle.acks().try_recv() {
            self.take(&batch);
        }
        while handle.market_data().try_recv().is_ok() {}
    }

    /// Waits until `count` requests have been answered.
    fn wait_for(&mut self, handle: &ShardHandle, count: usize) -> Result<(), String> {
        loop {
            self.drain(handle);
            if self.answered >= count {
                return Ok(());
            }
            match handle.acks().recv_timeout(ACK_TIMEOUT) {
                Ok(batch) => self.take(&batch),
                Err(error) if error.is_timeout() => {
                    return Err(format!(
                        "shard: no answer for {} s after {} of {count}",
                        ACK_TIMEOUT.as_secs(),
                        self.answered
                    ));
                }
                Err(_) => return Err("shard: the shard stopped".into()),
            }
        }
    }
}
