//! The journal benchmark: what writing, committing, replaying and recovering the journal
//! cost, each next to a reference measured in the same run (`oddsmatch bench journal`).
//!
//! Five steps ([`JournalStep`]), in this order:
//!
//! 1. **append**: records of 64, 256 and 1,024 payload bytes appended under the `os` policy,
//!    committed every 64, against a bare copy of the same bytes (header, payload, padding)
//!    into a file mapping made the same way (preallocated, populated): the ceiling.
//! 2. **commands**: the engine benchmark's exchange mix on one market, each input applied,
//!    encoded ([`oddsmatch_engine::record::RecordCodec`]) and appended, committed every 64,
//!    against the engine alone on the same stream; then the same stream through a real shard
//!    thread ([`oddsmatch_engine::shard::ShardHandle`]), submitted as fast as the queue takes
//!    it, its acknowledgements drained.
//! 3. **sync**: the latency of a batch (append plus commit) under the `sync` policy for
//!    batches of 1, 16 and 256 records, against a bare copy plus `msync` of the same range.
//! 4. **replay**: the journal step 2 wrote, scanned and validated (the reader plus
//!    [`oddsmatch_engine::record::access`]) against a bare read of the same bytes, and
//!    replayed through a fresh engine ([`oddsmatch_engine::shard::replay`], event check on
//!    and off) against the engine alone.
//! 5. **restart**: a journal of ten million records written by an engine and a
//!    [`oddsmatch_engine::shard::Recorder`], then the time a shard takes to start on it
//!    ([`oddsmatch_engine::shard::ShardHandle::start`]: journal open, snapshot load, replay,
//!    check) without a snapshot (only the genesis one) and with one near the end.
//!
//! Everything is written under a temporary directory in [`JournalBenchOptions::dir`] and
//! deleted as soon as the step is done; `docs/benchmarks.md` says how much disk each step
//! needs. Benchmarks are never assertions: nothing here fails because something was slow.

mod append;
mod commands;
mod files;
mod replay;
mod report;
mod restart;
mod sync;

use std::path::PathBuf;
use std::time::Instant;

use oddsmatch_engine::shard::IdleStrategy;
use oddsmatch_journal::JournalConfig;

pub use report::{
    AppendResult, CommandsResult, JournalBenchReport, ReplayResult, RestartResult, ShardResult,
    SyncResult,
};

use crate::workload::{self, WorkloadSpec};

/// The goal for engine plus journal under `os`, in commands per second per shard.
pub const GOAL_COMMANDS_PER_SECOND: f64 = 5e6;
/// The goal for replay, in records per second.
pub const GOAL_REPLAY_RECORDS_PER_SECOND: f64 = 10e6;
/// The goal for a restart of a ten-million-record journal with a snapshot, in seconds.
pub const GOAL_RESTART_WITH_SNAPSHOT_SECONDS: f64 = 3.0;
/// The record kind the append and sync steps write (their payloads are not engine entries,
/// so they must not pass for them).
pub const KIND_BENCH: u16 = 0xBE0C;

/// One step of the journal benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JournalStep {
    /// Appends against a bare copy into the same kind of mapping.
    Append,
    /// Engine plus journal against the engine alone, in process and through a shard thread.
    Commands,
    /// Batch-commit latency under `sync`.
    Sync,
    /// Scanning and replaying the journal of [`JournalStep::Commands`].
    Replay,
    /// Restarting a shard on a large journal, without and with a snapshot.
    Restart,
}

impl JournalStep {
    /// Every step, in the order they run.
    pub const ALL: [JournalStep; 5] = [
        JournalStep::Append,
        JournalStep::Commands,
        JournalStep::Sync,
        JournalStep::Replay,
        JournalStep::Restart,
    ];

    /// The step's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            JournalStep::Append => "append",
            JournalStep::Commands => "commands",
            JournalStep::Sync => "sync",
            JournalStep::Replay => "replay",
            JournalStep::Restart => "restart",
        }
    }

    /// The step of a name.
    pub fn from_name(name: &str) -> Option<JournalStep> {
        JournalStep::ALL
            .into_iter()
            .find(|step| step.name() == name)
    }
}

impl std::fmt::Display for JournalStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What [`run_journal_bench`] runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalBenchOptions {
    /// The steps to run ([`JournalStep::Replay`] needs [`JournalStep::Commands`]).
    pub steps: Vec<JournalStep>,
    /// Appends per payload size and pass (append step).
    pub records: usize,
    /// Payload sizes of the append step, in bytes.
    pub payload_sizes: Vec<usize>,
    /// Records per commit (append and commands steps; the shard's `batch_max`).
    pub commit_every: usize,
    /// Measured commands of the exchange stream (commands step).
    pub commands: usize,
    /// Unmeasured commands of the mix applied before them.
    pub warmup: usize,
    /// Seed of the workload generators.
    pub seed: u64,
    /// Timed passes of each throughput figure; the median is reported.
    pub passes: u32,
    /// Also run the commands step through a real shard thread.
    pub shard: bool,
    /// The shard thread's idle strategy.
    pub shard_idle: IdleStrategy,
    /// Commits per batch size (sync step).
    pub sync_commits: usize,
    /// Records per commit, one run each (sync step).
    pub sync_batches: Vec<usize>,
    /// Payload bytes of each record (sync step).
    pub sync_payload_bytes: usize,
    /// Records of the journal a shard restarts on (restart step).
    pub restart_records: u64,
    /// Records after the snapshot of the restart with a snapshot.
    pub restart_tail: u64,
    /// Segment size of the journals of the commands and restart steps (the append and sync
    /// steps size theirs to hold the whole run).
    pub segment_bytes: u64,
    /// Where the temporary directories go.
    pub dir: PathBuf,
}

impl Default for JournalBenchOptions {
    fn default() -> Self {
        JournalBenchOptions {
            steps: JournalStep::ALL.to_vec(),
            records: 500_000,
            payload_sizes: vec![64, 256, 1_024],
            commit_every: 64,
            commands: 500_000,
            warmup: 200_000,
            seed: 42,
            passes: 3,
            shard: true,
            shard_idle: IdleStrategy::Yield,
            sync_commits: 2_000,
            sync_batches: vec![1, 16, 256],
            sync_payload_bytes: 200,
            restart_records: 10_000_000,
            restart_tail: 100_000,
            segment_bytes: JournalConfig::DEFAULT_SEGMENT_BYTES,
            dir: std::env::temp_dir(),
        }
    }
}

impl JournalBenchOptions {
    /// Checks the options; the benchmark refuses to start on any of these.
    pub fn validate(&self) -> Result<(), String> {
        let wants = |step| self.steps.contains(&step);
        if self.passes == 0 {
            return Err("at least one pass".into());
        }
        if self.commit_every == 0 {
            return Err("commit_every must be at least 1".into());
        }
        JournalConfig {
            segment_bytes: self.segment_bytes,
            ..JournalConfig::new(&self.dir)
        }
        .validate()
        .map_err(|e| e.to_string())?;
        if wants(JournalStep::Append) {
            if self.records < 2 {
                return Err("records must be at least 2 (the first is not timed)".into());
            }
            if self.payload_sizes.is_empty() {
                return Err("no payload size".into());
            }
            for &size in &self.payload_sizes {
                files::segment_bytes_for(self.records, size)?;
            }
        }
        if (wants(JournalStep::Commands) || wants(JournalStep::Replay)) && self.commands < 2 {
            return Err("commands must be at least 2 (the first is not timed)".into());
        }
        if wants(JournalStep::Replay) && !wants(JournalStep::Commands) {
            return Err("the replay step replays the commands step's journal: run both".into());
        }
        if wants(JournalStep::Sync) {
            if self.sync_commits == 0 || self.sync_batches.is_empty() {
                return Err("the sync step needs commits and batch sizes".into());
            }
            if self.sync_batches.contains(&0) {
                return Err("a sync batch holds at least one record".into());
            }
            for &batch in &self.sync_batches {
                let records = self.sync_commits.saturating_mul(batch).saturating_add(1);
                files::segment_bytes_for(records, self.sync_payload_bytes)?;
            }
        }
        if wants(JournalStep::Restart) && (self.restart_records < 2 || self.restart_tail == 0) {
            return Err("restart_records must be at least 2 and restart_tail at least 1".into());
        }
        if wants(JournalStep::Restart) && self.restart_tail >= self.restart_records {
            return Err("restart_tail must be below restart_records".into());
        }
        Ok(())
    }
}

/// Runs the journal benchmark, reporting progress lines to `progress` as it goes. Fails on
/// invalid options and on I/O errors (a full disk, a directory that cannot be written).
pub fn run_journal_bench(
    options: &JournalBenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<JournalBenchReport, String> {
    options.validate()?;
    let wants = |step: JournalStep| options.steps.contains(&step);
    let started = Instant::now();
    let progress = &mut |line: &str| {
        progress(&format!(
            "[{:6.1} s] {line}",
            started.elapsed().as_secs_f64()
        ))
    };
    let base = &options.dir;
    let mut report = JournalBenchReport {
        steps: JournalStep::ALL
            .into_iter()
            .filter(|step| wants(*step))
            .map(JournalStep::name)
            .collect(),
        passes: options.passes,
        commit_every: options.commit_every,
        seed: options.seed,
        dir: base.display().to_string(),
        timer_overhead_ns: crate::measure::timer_overhead_ns(),
        appends: Vec::new(),
        commands: None,
        sync: Vec::new(),
        replay: None,
        restart: None,
        notes: Vec::new(),
        mismatches: Vec::new(),
    };
    if wants(JournalStep::Append) {
        report.appends = append::measure(options, base, &mut report.notes, progress)?;
    }
    if wants(JournalStep::Commands) {
        progress(&format!(
            "commands: generating the exchange workload ({} commands after {} warm-up)",
            options.commands, options.warmup
        ));
        let workload = workload::generate(&WorkloadSpec {
            markets: 1,
            commands: options.commands,
            warmup: options.warmup,
            seed: options.seed,
        });
        let measured = commands::measure(&workload, options, base, &mut report, progress)?;
        if wants(JournalStep::Sync) {
            report.sync = sync::measure(options, base, &mut report.notes, progress)?;
        }
        if wants(JournalStep::Replay) {
            report.replay = Some(replay::measure(
                &measured,
                &workload,
                options.passes,
                &mut report.mismatches,
                progress,
            )?);
        }
        // The commands step's journal is deleted here.
        drop(measured);
    } else if wants(JournalStep::Sync) {
        report.sync = sync::measure(options, base, &mut report.notes, progress)?;
    }
    if wants(JournalStep::Restart) {
        report.restart = Some(restart::measure(
            options,
            base,
            &mut report.mismatches,
            progress,
        )?);
    }
    Ok(report)
}

/// The median of some passes (the mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[middle],
        _ => (sorted[middle - 1] + sorted[middle]) / 2.0,
    }
}

/// The median of the per-pass ratios `numerators[i] / denominators[i]`. Each measured pass
/// runs right after its reference pass, so the pair shares the machine's state of the moment;
/// on a shared machine this is steadier than the ratio of the two medians.
fn median_ratio(numerators: &[f64], denominators: &[f64]) -> f64 {
    debug_assert_eq!(numerators.len(), denominators.len());
    let ratios: Vec<f64> = numerators
        .iter()
        .zip(denominators)
        .map(|(n, d)| n / d)
        .collect();
    median(&ratios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_have_names() {
        for step in JournalStep::ALL {
            assert_eq!(JournalStep::from_name(step.name()), Some(step));
        }
        assert_eq!(JournalStep::from_name("nope"), None);
    }

    #[test]
    fn options_are_checked() {
        assert_eq!(JournalBenchOptions::default().validate(), Ok(()));
        let replay_alone = JournalBenchOptions {
            steps: vec![JournalStep::Replay],
            ..JournalBenchOptions::default()
        };
        assert!(replay_alone.validate().is_err());
        let zero_batch = JournalBenchOptions {
            sync_batches: vec![0],
            ..JournalBenchOptions::default()
        };
        assert!(zero_batch.validate().is_err());
        let tail_too_long = JournalBenchOptions {
            restart_records: 10,
            restart_tail: 10,
            ..JournalBenchOptions::default()
        };
        assert!(tail_too_long.validate().is_err());
        let huge = JournalBenchOptions {
            records: usize::MAX / 2,
            ..JournalBenchOptions::default()
        };
        assert!(huge.validate().is_err());
    }

    #[test]
    fn the_median_of_passes() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(median_ratio(&[1.0, 4.0, 9.0], &[2.0, 2.0, 3.0]), 2.0);
    }
}
