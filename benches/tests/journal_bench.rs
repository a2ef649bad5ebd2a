//! The journal benchmark runs every step at tiny sizes and reports every figure: counts are
//! the ones asked for, rates and ratios are positive, the replays and restarts rebuilt the
//! state the writer had, and nothing is left behind in its directory. Nothing here checks how
//! fast anything ran.

use oddsmatch_benches::{JournalBenchOptions, JournalStep, run_journal_bench};
use oddsmatch_engine::shard::IdleStrategy;

fn tiny(dir: &std::path::Path) -> JournalBenchOptions {
    JournalBenchOptions {
        steps: JournalStep::ALL.to_vec(),
        records: 3_000,
        payload_sizes: vec![64, 1_024],
        commit_every: 16,
        commands: 2_000,
        warmup: 300,
        seed: 7,
        passes: 2,
        shard: true,
        shard_idle: IdleStrategy::Yield,
        sync_commits: 12,
        sync_batches: vec![1, 8],
        sync_payload_bytes: 200,
        restart_records: 3_000,
        restart_tail: 400,
        segment_bytes: 1 << 20,
        dir: dir.to_path_buf(),
    }
}

fn positive(what: &str, value: f64) {
    assert!(value.is_finite() && value > 0.0, "{what}: {value}");
}

#[test]
fn every_step_runs_at_tiny_sizes_and_reports_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    let options = tiny(dir.path());
    let mut lines = Vec::new();
    let report = run_journal_bench(&options, &mut |line| lines.push(line.to_string())).unwrap();
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);
    // Every timed part started once the journal's next segment was prepared.
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    assert_eq!(
        report.steps,
        ["append", "commands", "sync", "replay", "restart"]
    );
    assert_eq!((report.passes, report.commit_every), (2, 16));

    let sizes: Vec<usize> = report.appends.iter().map(|a| a.payload_bytes).collect();
    assert_eq!(sizes, [64, 1_024]);
    for append in &report.appends {
        assert_eq!(append.records, 2_999, "the first append is not timed");
        assert_eq!(append.record_bytes, 32 + append.payload_bytes);
        assert_eq!(append.appends_per_second_passes.len(), 2);
        assert_eq!(append.ceiling_copies_per_second_passes.len(), 2);
        assert!(append.segment_bytes >= 64 + 2_999 * append.record_bytes as u64);
        positive("appends/s", append.appends_per_second);
        positive("MB/s", append.mb_per_second);
        positive("ceiling", append.ceiling_copies_per_second);
        positive("ratio", append.ratio_to_ceiling);
    }

    let commands = report.commands.as_ref().expect("the commands step ran");
    assert_eq!((commands.markets, commands.commands), (1, 1_999));
    assert_eq!(commands.commands_per_second_passes.len(), 2);
    assert_eq!(commands.engine_alone_commands_per_second_passes.len(), 2);
    positive("engine + journal", commands.commands_per_second);
    positive("engine alone", commands.engine_alone_commands_per_second);
    positive(
        "engine + encoding",
        commands.engine_encode_commands_per_second,
    );
    assert_eq!(commands.engine_encode_commands_per_second_passes.len(), 2);
    positive("ratio", commands.ratio_to_engine_alone);
    assert_eq!(commands.goal_commands_per_second, 5e6);
    // An entry holds an input and its events: more than a header's worth.
    assert!(commands.record_bytes_mean > 64.0, "{commands:?}");
    let shard = commands.shard.as_ref().expect("the shard ran");
    assert_eq!((shard.commands, shard.batch_max), (2_000, 16));
    assert_eq!(shard.commands_per_second_passes.len(), 2);
    positive("shard", shard.commands_per_second);
    positive("shard ratio", shard.ratio_to_engine_alone);
    assert!((1.0..=17.0).contains(&shard.mean_batch), "{shard:?}");

    let batches: Vec<usize> = report.sync.iter().map(|s| s.batch_records).collect();
    assert_eq!(batches, [1, 8]);
    for sync in &report.sync {
        assert_eq!((sync.commits, sync.payload_bytes), (12, 200));
        assert_eq!(sync.record_bytes, 232);
        let l = &sync.latency;
        assert!(0 < l.p50_ns && l.p50_ns <= l.p99_ns && l.p99_ns <= l.max_ns);
        assert!(sync.ceiling_latency.p50_ns > 0);
        positive("sync records/s", sync.records_per_second);
        positive("sync ratio", sync.p50_over_ceiling);
    }

    let replay = report.replay.as_ref().expect("the replay step ran");
    assert_eq!(replay.records, 2_000);
    assert_eq!(
        replay.journal_bytes,
        (commands.record_bytes_mean * 2_000.0).round() as u64
    );
    assert!(replay.snapshot_bytes > 0);
    for (what, value) in [
        ("scan", replay.scan_records_per_second),
        ("bare read", replay.bare_read_mb_per_second),
        ("replay checked", replay.replay_verify_records_per_second),
        ("replay", replay.replay_records_per_second),
        ("ratio", replay.ratio_to_engine_alone),
        ("ratio checked", replay.ratio_verify_to_engine_alone),
    ] {
        positive(what, value);
    }

    let restart = report.restart.as_ref().expect("the restart step ran");
    assert_eq!(restart.records, 3_000);
    assert_eq!(restart.snapshot_seq, 2_600);
    assert_eq!(restart.replayed_without_snapshot, 3_000);
    assert_eq!(restart.replayed_with_snapshot, 400);
    assert_eq!(restart.without_snapshot_seconds_passes.len(), 2);
    assert!(restart.journal_bytes > 0 && restart.segments >= 1);
    assert!(restart.snapshot_bytes > 0);
    positive("without", restart.without_snapshot_seconds);
    positive("with", restart.with_snapshot_seconds);

    let table = report.table();
    for needle in [
        "bare copy",
        "engine alone",
        "engine + encoding",
        "shard thread (yield",
        "p99.9",
        "replay, events checked",
        "snapshot at 2600",
    ] {
        assert!(table.contains(needle), "{needle} missing from\n{table}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("restart without a snapshot"))
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["restart"]["records"], 3_000);

    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
}

#[test]
fn steps_can_run_alone() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalBenchOptions {
        steps: vec![JournalStep::Sync],
        passes: 1,
        ..tiny(dir.path())
    };
    let report = run_journal_bench(&options, &mut |_| {}).unwrap();
    assert_eq!(report.steps, ["sync"]);
    assert_eq!(report.sync.len(), 2);
    assert!(report.appends.is_empty() && report.commands.is_none());
    assert!(report.replay.is_none() && report.restart.is_none());
    assert!(report.table().contains("msync"));
}

#[test]
fn a_directory_that_cannot_be_written_is_an_error() {
    let options = JournalBenchOptions {
        steps: vec![JournalStep::Append],
        dir: "/proc/oddsmatch-no-such-dir".into(),
        ..tiny(std::path::Path::new("/"))
    };
    let error = run_journal_bench(&options, &mut |_| {}).unwrap_err();
    assert!(error.contains("oddsmatch-no-such-dir"), "{error}");
}
