//! The journal benchmark's results, as data (serialisable to JSON) and as a printed table.

use std::fmt::Write as _;

use serde::Serialize;

use crate::report::{Percentiles, aligned, format_ns, format_rate};

/// Appends of one payload size against the bare copy (append step).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AppendResult {
    /// Payload bytes of each record.
    pub payload_bytes: usize,
    /// Bytes each record occupies (32-byte header, payload, padding to 8).
    pub record_bytes: usize,
    /// Timed appends (and copies) per pass.
    pub records: usize,
    /// Size of the segment (and of the ceiling's file), holding the whole pass.
    pub segment_bytes: u64,
    /// Appends per second, median over the passes.
    pub appends_per_second: f64,
    /// Every pass.
    pub appends_per_second_passes: Vec<f64>,
    /// `appends_per_second` in record bytes (10^6 per second).
    pub mb_per_second: f64,
    /// Bare copies of the same records per second, median.
    pub ceiling_copies_per_second: f64,
    /// Every pass.
    pub ceiling_copies_per_second_passes: Vec<f64>,
    /// The same in record bytes.
    pub ceiling_mb_per_second: f64,
    /// Appends per second over copies per second: the median of the passes' ratios.
    pub ratio_to_ceiling: f64,
}

/// The exchange mix through a shard thread (commands step).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShardResult {
    /// The shard's idle strategy.
    pub idle: String,
    /// The most requests the shard applies and commits as one batch.
    pub batch_max: usize,
    /// Timed commands per pass.
    pub commands: usize,
    /// From the first submission to the last acknowledgement, median over the passes.
    pub commands_per_second: f64,
    /// Every pass.
    pub commands_per_second_passes: Vec<f64>,
    /// Over the engine alone: the median of the passes' ratios.
    pub ratio_to_engine_alone: f64,
    /// `timer` inputs the shard injected during the last pass.
    pub timer_inputs: u64,
    /// Inputs per committed batch in the last pass.
    pub mean_batch: f64,
    /// Submissions answered "busy" (queue full) in the last pass.
    pub busy_answers: u64,
}

/// Engine plus journal against the engine alone (commands step).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CommandsResult {
    /// Markets of the exchange workload.
    pub markets: u32,
    /// Commands of its (unmeasured) setup and warm-up.
    pub setup_commands: usize,
    /// Timed commands per pass.
    pub commands: usize,
    /// Records per commit.
    pub commit_every: usize,
    /// Bytes of the stream's records (headers and padding included).
    pub journal_bytes: u64,
    /// Mean bytes per record.
    pub record_bytes_mean: f64,
    /// Engine plus journal, median over the passes.
    pub commands_per_second: f64,
    /// Every pass.
    pub commands_per_second_passes: Vec<f64>,
    /// Journal bytes written per second at that rate (10^6 per second).
    pub mb_per_second: f64,
    /// The engine alone on the same stream, median.
    pub engine_alone_commands_per_second: f64,
    /// Every pass.
    pub engine_alone_commands_per_second_passes: Vec<f64>,
    /// The engine and the encoding of each record, without the journal, median.
    pub engine_encode_commands_per_second: f64,
    /// Every pass.
    pub engine_encode_commands_per_second_passes: Vec<f64>,
    /// Engine and encoding over the engine alone: the median of the passes' ratios.
    pub engine_encode_ratio_to_engine_alone: f64,
    /// Engine plus journal over the engine alone: the median of the passes' ratios.
    pub ratio_to_engine_alone: f64,
    /// The goal for engine plus journal.
    pub goal_commands_per_second: f64,
    /// The engine's state hash after the stream, in hex.
    pub state_hash: String,
    /// The same stream through a shard thread, if run.
    pub shard: Option<ShardResult>,
}

/// Batch-commit latency under `sync` for one batch size (sync step).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SyncResult {
    /// Records per commit.
    pub batch_records: usize,
    /// Payload bytes per record.
    pub payload_bytes: usize,
    /// Bytes per record (header and padding included).
    pub record_bytes: usize,
    /// Commits timed.
    pub commits: usize,
    /// Appending the batch and committing it, per commit.
    pub latency: Percentiles,
    /// Records made durable per second over the run.
    pub records_per_second: f64,
    /// The same in record bytes (10^6 per second).
    pub mb_per_second: f64,
    /// Copying the same records into the ceiling mapping and `msync`ing them, per commit.
    pub ceiling_latency: Percentiles,
    /// Records per second of the ceiling.
    pub ceiling_records_per_second: f64,
    /// The journal's median latency over the ceiling's.
    pub p50_over_ceiling: f64,
}

/// Scanning and replaying the commands step's journal (replay step).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplayResult {
    /// Records in the journal.
    pub records: u64,
    /// Their bytes.
    pub journal_bytes: u64,
    /// Segment files.
    pub segments: usize,
    /// Reader open, iteration and `record::access` of every payload, records per second
    /// (median).
    pub scan_records_per_second: f64,
    /// Every pass.
    pub scan_records_per_second_passes: Vec<f64>,
    /// The scan in record bytes (10^6 per second).
    pub scan_mb_per_second: f64,
    /// A bare read of the same bytes through a mapping, 10^6 bytes per second (median).
    pub bare_read_mb_per_second: f64,
    /// Every pass.
    pub bare_read_mb_per_second_passes: Vec<f64>,
    /// Scan bytes per second over bare-read bytes per second: the median of the passes'
    /// ratios.
    pub scan_ratio_to_bare_read: f64,
    /// Size of the snapshot the replay starts from.
    pub snapshot_bytes: u64,
    /// Loading it (read, checksum, decode), seconds (median).
    pub snapshot_load_seconds: f64,
    /// `replay` with the event check, records per second over the whole call (median).
    pub replay_verify_records_per_second: f64,
    /// Every pass.
    pub replay_verify_records_per_second_passes: Vec<f64>,
    /// The same without the snapshot load's time.
    pub replay_verify_records_per_second_after_load: f64,
    /// `replay` without the event check, records per second over the whole call (median).
    pub replay_records_per_second: f64,
    /// Every pass.
    pub replay_records_per_second_passes: Vec<f64>,
    /// The same without the snapshot load's time.
    pub replay_records_per_second_after_load: f64,
    /// The engine alone on the same stream, a pass beside each replay pass, median.
    pub engine_alone_commands_per_second: f64,
    /// Every pass.
    pub engine_alone_commands_per_second_passes: Vec<f64>,
    /// Replay with the check (after the load) over the engine alone: the median of the
    /// passes' ratios.
    pub ratio_verify_to_engine_alone: f64,
    /// Replay without the check (after the load) over the engine alone, likewise.
    pub ratio_to_engine_alone: f64,
    /// The goal for replay.
    pub goal_records_per_second: f64,
}

/// Restarting a shard on a large journal (restart step).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RestartResult {
    /// Records in the journal.
    pub records: u64,
    /// Where its inputs came from.
    pub stream: &'static str,
    /// Bytes of the records.
    pub journal_bytes: u64,
    /// Bytes of the segment files (the last one is preallocated in full).
    pub segment_file_bytes: u64,
    /// Segment files.
    pub segments: u64,
    /// Generating, applying and recording the stream, seconds.
    pub write_seconds: f64,
    /// The final flush of the journal to disk, seconds.
    pub flush_seconds: f64,
    /// One `oddsmatch_journal::stats` pass over the journal (reads and checks every record),
    /// seconds.
    pub stats_seconds: f64,
    /// Opening the journal for writing alone (its recovery scan), seconds (median).
    pub journal_open_seconds: f64,
    /// Sequence number of the snapshot near the end.
    pub snapshot_seq: u64,
    /// Its size.
    pub snapshot_bytes: u64,
    /// `ShardHandle::start` with only the genesis snapshot, seconds (median).
    pub without_snapshot_seconds: f64,
    /// Every pass.
    pub without_snapshot_seconds_passes: Vec<f64>,
    /// Records it replayed.
    pub replayed_without_snapshot: u64,
    /// Those records over that time.
    pub records_per_second_without_snapshot: f64,
    /// `ShardHandle::start` with the snapshot near the end, seconds (median).
    pub with_snapshot_seconds: f64,
    /// Every pass.
    pub with_snapshot_seconds_passes: Vec<f64>,
    /// Records it replayed.
    pub replayed_with_snapshot: u64,
    /// The goal for the start with a snapshot (for ten million records).
    pub goal_with_snapshot_seconds: f64,
}

/// Everything `oddsmatch bench journal` measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JournalBenchReport {
    /// The steps run, by name.
    pub steps: Vec<&'static str>,
    /// Timed passes per figure.
    pub passes: u32,
    /// Records per commit (append and commands steps).
    pub commit_every: usize,
    /// The workload seed.
    pub seed: u64,
    /// Where the temporary files were written.
    pub dir: String,
    /// Median cost of one timing (two clock reads), included in every latency.
    pub timer_overhead_ns: u64,
    /// One per payload size (append step).
    pub appends: Vec<AppendResult>,
    /// Commands step.
    pub commands: Option<CommandsResult>,
    /// One per batch size (sync step).
    pub sync: Vec<SyncResult>,
    /// Replay step.
    pub replay: Option<ReplayResult>,
    /// Restart step.
    pub restart: Option<RestartResult>,
    /// Things that make a figure less clean than it should be (a pass that ran beside the
    /// journal's segment preparer).
    pub notes: Vec<String>,
    /// Runs that did not do the same work as their reference (expected: none).
    pub mismatches: Vec<String>,
}

impl JournalBenchReport {
    /// The results as aligned text tables, one per step.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "journal benchmark: policy os unless said, median of {} passes, files under {}",
            self.passes, self.dir
        );
        self.append_table(&mut out);
        self.commands_table(&mut out);
        self.sync_table(&mut out);
        self.replay_table(&mut out);
        self.restart_table(&mut out);
        for note in &self.notes {
            let _ = writeln!(out, "NOTE: {note}");
        }
        for mismatch in &self.mismatches {
            let _ = writeln!(out, "MISMATCH: {mismatch}");
        }
        out
    }

    fn append_table(&self, out: &mut String) {
        let Some(first) = self.appends.first() else {
            return;
        };
        let _ = writeln!(
            out,
            "appends ({} per pass, commit every {}) against a bare copy into the same kind of \
             mapping:",
            first.records, self.commit_every
        );
        let header = [
            "payload",
            "record",
            "appends/s",
            "MB/s",
            "copies/s",
            "MB/s",
            "ratio",
        ];
        let rows = self
            .appends
            .iter()
            .map(|a| {
                vec![
                    format!("{} B", a.payload_bytes),
                    format!("{} B", a.record_bytes),
                    format_rate(a.appends_per_second),
                    format!("{:.0}", a.mb_per_second),
                    format_rate(a.ceiling_copies_per_second),
                    format!("{:.0}", a.ceiling_mb_per_second),
                    format!("{:.2}x", a.ratio_to_ceiling),
                ]
            })
            .collect::<Vec<_>>();
        out.push_str(&aligned(&header, &rows, &[]));
    }

    fn commands_table(&self, out: &mut String) {
        let Some(c) = &self.commands else {
            return;
        };
        let _ = writeln!(
            out,
            "engine + journal: exchange mix, {} market, {} commands after {} of setup, \
             commit every {}, {:.0} bytes per record (goal >= {}/s per shard):",
            c.markets,
            c.commands,
            c.setup_commands,
            c.commit_every,
            c.record_bytes_mean,
            format_rate(c.goal_commands_per_second)
        );
        let header = ["run", "commands/s", "MB/s", "ratio"];
        let mut rows = vec![
            vec![
                "engine alone".to_string(),
                format_rate(c.engine_alone_commands_per_second),
                String::new(),
                "1.00x".to_string(),
            ],
            vec![
                "engine + encoding (no journal)".to_string(),
                format_rate(c.engine_encode_commands_per_second),
                String::new(),
                format!("{:.2}x", c.engine_encode_ratio_to_engine_alone),
            ],
            vec![
                "engine + journal".to_string(),
                format_rate(c.commands_per_second),
                format!("{:.0}", c.mb_per_second),
                format!("{:.2}x", c.ratio_to_engine_alone),
            ],
        ];
        if let Some(s) = &c.shard {
            rows.push(vec![
                format!("shard thread ({}, batch <= {})", s.idle, s.batch_max),
                format_rate(s.commands_per_second),
                format!("{:.0}", s.commands_per_second * c.record_bytes_mean / 1e6),
                format!("{:.2}x", s.ratio_to_engine_alone),
            ]);
        }
        out.push_str(&aligned(&header, &rows, &[0]));
        if let Some(s) = &c.shard {
            let _ = writeln!(
                out,
                "  shard: {:.1} inputs per batch, {} timer inputs, {} busy answers (last pass)",
                s.mean_batch, s.timer_inputs, s.busy_answers
            );
        }
    }

    fn sync_table(&self, out: &mut String) {
        let Some(first) = self.sync.first() else {
            return;
        };
        let _ = writeln!(
            out,
            "sync: append + commit latency per batch ({} commits of {} B payloads), against \
             copy + msync of the same bytes:",
            first.commits, first.payload_bytes
        );
        let header = [
            "batch",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
            "records/s",
            "bare p50",
            "p90",
            "p99",
            "p99.9",
            "max",
            "p50 ratio",
        ];
        let rows = self
            .sync
            .iter()
            .map(|s| {
                let mut row = vec![s.batch_records.to_string()];
                for latency in [&s.latency, &s.ceiling_latency] {
                    row.extend([
                        format_ns(latency.p50_ns),
                        format_ns(latency.p90_ns),
                        format_ns(latency.p99_ns),
                        format_ns(latency.p99_9_ns),
                        format_ns(latency.max_ns),
                    ]);
                    if row.len() == 6 {
                        row.push(format_small_rate(s.records_per_second));
                    }
                }
                row.push(format!("{:.2}x", s.p50_over_ceiling));
                row
            })
            .collect::<Vec<_>>();
        out.push_str(&aligned(&header, &rows, &[]));
    }

    fn replay_table(&self, out: &mut String) {
        let Some(r) = &self.replay else {
            return;
        };
        let _ = writeln!(
            out,
            "replay of the engine + journal run's journal: {} records, {:.1} MB, {} segment(s); \
             snapshot {:.1} MB loaded in {:.3} s (goal >= {} records/s):",
            r.records,
            r.journal_bytes as f64 / 1e6,
            r.segments,
            r.snapshot_bytes as f64 / 1e6,
            r.snapshot_load_seconds,
            format_rate(r.goal_records_per_second)
        );
        let header = ["run", "records/s", "after load", "MB/s", "ratio", "to"];
        let rows = vec![
            vec![
                "scan + validate".to_string(),
                format_rate(r.scan_records_per_second),
                String::new(),
                format!("{:.0}", r.scan_mb_per_second),
                format!("{:.2}x", r.scan_ratio_to_bare_read),
                "bare read".to_string(),
            ],
            vec![
                "bare read".to_string(),
                String::new(),
                String::new(),
                format!("{:.0}", r.bare_read_mb_per_second),
                String::new(),
                String::new(),
            ],
            vec![
                "replay, events checked".to_string(),
                format_rate(r.replay_verify_records_per_second),
                format_rate(r.replay_verify_records_per_second_after_load),
                String::new(),
                format!("{:.2}x", r.ratio_verify_to_engine_alone),
                "engine alone".to_string(),
            ],
            vec![
                "replay, not checked".to_string(),
                format_rate(r.replay_records_per_second),
                format_rate(r.replay_records_per_second_after_load),
                String::new(),
                format!("{:.2}x", r.ratio_to_engine_alone),
                "engine alone".to_string(),
            ],
            vec![
                "engine alone".to_string(),
                format_rate(r.engine_alone_commands_per_second),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ],
        ];
        out.push_str(&aligned(&header, &rows, &[0]));
    }

    fn restart_table(&self, out: &mut String) {
        let Some(r) = &self.restart else {
            return;
        };
        let _ = writeln!(
            out,
            "restart: {} records ({}), {:.2} GB in {} segment(s) ({:.2} GB of files); written \
             in {:.1} s, flushed in {:.1} s, read once (stats) in {:.2} s:",
            r.records,
            r.stream,
            r.journal_bytes as f64 / 1e9,
            r.segments,
            r.segment_file_bytes as f64 / 1e9,
            r.write_seconds,
            r.flush_seconds,
            r.stats_seconds
        );
        let header = ["start", "seconds", "replayed", "records/s"];
        let rows = vec![
            vec![
                "journal open alone (recovery scan)".to_string(),
                format!("{:.3}", r.journal_open_seconds),
                String::new(),
                String::new(),
            ],
            vec![
                "shard, genesis snapshot only".to_string(),
                format!("{:.3}", r.without_snapshot_seconds),
                r.replayed_without_snapshot.to_string(),
                format_rate(r.records_per_second_without_snapshot),
            ],
            vec![
                format!(
                    "shard, snapshot at {} ({:.1} MB)",
                    r.snapshot_seq,
                    r.snapshot_bytes as f64 / 1e6
                ),
                format!("{:.3}", r.with_snapshot_seconds),
                r.replayed_with_snapshot.to_string(),
                String::new(),
            ],
        ];
        out.push_str(&aligned(&header, &rows, &[0]));
        let _ = writeln!(
            out,
            "  goal with a snapshot: < {:.0} s for ten million records",
            r.goal_with_snapshot_seconds
        );
    }
}

/// A rate per second in millions, or in thousands below a million: `10.9 k`, `2.25 M`.
fn format_small_rate(per_second: f64) -> String {
    if per_second < 1e6 {
        format!("{:.1} k", per_second / 1e3)
    } else {
        format_rate(per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_rates_are_given_in_thousands() {
        assert_eq!(format_small_rate(10_921.0), "10.9 k");
        assert_eq!(format_small_rate(2_254_000.0), "2.25 M");
    }
}
