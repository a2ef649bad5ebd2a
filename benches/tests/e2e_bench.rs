//! The order-entry benchmark runs at tiny sizes and reports every figure: every request was
//! answered, every IOC order accepted and then cancelled, `busy` answers (none expected) were
//! counted by the client and the gateway alike, percentiles are in order, and nothing is left
//! behind in its directory. Nothing here checks how fast anything ran.

use std::time::Duration;

use oddsmatch_benches::e2e::LatencyResult;
use oddsmatch_benches::{E2eBenchOptions, run_e2e_bench};
use oddsmatch_journal::Durability;

fn tiny(dir: &std::path::Path) -> E2eBenchOptions {
    E2eBenchOptions {
        rates: vec![500, 2_000],
        duration: Duration::from_millis(100),
        warmup: Duration::from_millis(20),
        orders: 3_000,
        window: 256,
        batch: 16,
        durabilities: vec![Durability::Os, Durability::Sync],
        runs: 2,
        dir: dir.to_path_buf(),
        // The figures do not matter here, only the counts.
        settle_disks: false,
    }
}

fn check_latency(what: &str, result: &LatencyResult, runs: u64, cancels: bool) {
    let rate = result.rate_per_second;
    assert_eq!(result.requests, rate / 10, "{what}");
    assert_eq!(result.warmup_requests, rate / 50, "{what}");
    let sent = runs * (result.requests + result.warmup_requests);
    assert_eq!(
        result.accepted + result.busy + result.rejected,
        sent,
        "{what}"
    );
    assert_eq!((result.busy, result.rejected), (0, 0), "{what}");
    assert_eq!(result.cancelled, if cancels { sent } else { 0 }, "{what}");
    assert_eq!(result.latency_runs.len() as u64, runs, "{what}");
    for p in result.latency_runs.iter().chain([&result.latency]) {
        assert!(
            0 < p.p50_ns
                && p.p50_ns <= p.p90_ns
                && p.p90_ns <= p.p99_ns
                && p.p99_ns <= p.p99_9_ns
                && p.p99_9_ns <= p.p99_99_ns
                && p.p99_99_ns <= p.max_ns,
            "{what}: {p:?}"
        );
    }
}

#[test]
fn the_benchmark_runs_at_tiny_sizes_and_reports_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    let options = tiny(dir.path());
    let mut lines = Vec::new();
    let report = run_e2e_bench(&options, &mut |line| lines.push(line.to_string())).unwrap();
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);
    // No order was answered busy (a slow disk may still make a note about the journal's
    // preparer, which says nothing about the counts).
    assert!(
        report.notes.iter().all(|note| !note.contains("busy")),
        "{:?}",
        report.notes
    );
    assert_eq!(report.runs, 2);
    assert_eq!(report.rates, [500, 2_000]);
    assert_eq!((report.duration_ms, report.warmup_ms), (100, 20));
    assert_eq!(report.new_order_frame_bytes, 48);
    assert_eq!(report.order_accepted_frame_bytes, 80);
    assert!(report.cores >= 1);

    let rates: Vec<u64> = report
        .echo_latency
        .iter()
        .map(|l| l.rate_per_second)
        .collect();
    assert_eq!(rates, [500, 2_000]);
    for result in &report.echo_latency {
        check_latency("echo", result, 2, false);
    }
    let echo = &report.echo_throughput;
    assert_eq!((echo.requests, echo.window, echo.batch), (3_000, 256, 16));
    assert_eq!(echo.accepted, 2 * 3_000);
    assert_eq!((echo.busy, echo.rejected, echo.cancelled), (0, 0, 0));
    assert_eq!(echo.accepted_per_second_runs.len(), 2);
    assert!(echo.accepted_per_second > 0.0);

    let durabilities: Vec<&str> = report
        .oddsmatch
        .iter()
        .map(|o| o.durability.as_str())
        .collect();
    assert_eq!(durabilities, ["os", "sync"]);
    for odds in &report.oddsmatch {
        let what = format!("oddsmatch ({})", odds.durability);
        assert_eq!(odds.latency.len(), 2, "{what}");
        for result in &odds.latency {
            check_latency(&what, result, 2, true);
        }
        let ratio_rates: Vec<u64> = odds.ratios.iter().map(|r| r.rate_per_second).collect();
        assert_eq!(ratio_rates, [500, 2_000]);
        for ratio in &odds.ratios {
            assert!(ratio.p50.is_finite() && ratio.p50 > 0.0, "{ratio:?}");
            assert!(ratio.p99_9.is_finite() && ratio.p99_9 > 0.0, "{ratio:?}");
        }
        let t = &odds.throughput;
        // Every order answered: accepted, then its IOC remainder cancelled; none busy.
        assert_eq!(t.accepted + t.busy + t.rejected, 2 * 3_000, "{what}");
        assert_eq!((t.busy, t.rejected), (0, 0), "{what}");
        assert_eq!(t.cancelled, t.accepted, "{what}");
        assert_eq!(odds.gateway_busy, 0, "{what}");
        assert_eq!(t.accepted_per_second_runs.len(), 2);
        assert!(t.accepted_per_second > 0.0);
        assert!(odds.throughput_ratio_to_echo > 0.0);
        // The active segment and the one prepared after it.
        assert_eq!(odds.segments_runs, [2, 2], "{what}");
    }

    let table = report.table();
    for needle in [
        "echo",
        "oddsmatch (os)",
        "oddsmatch (sync)",
        "500/s",
        "2 k/s",
        "p99.9 ratio",
        "orders accepted",
    ] {
        assert!(table.contains(needle), "{needle} missing from\n{table}");
    }
    assert!(lines.iter().any(|l| l.contains("echo pipelined")));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["oddsmatch"][1]["durability"], "sync");
    assert_eq!(json["echo_throughput"]["requests"], 3_000);

    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
}

#[test]
fn bad_options_are_refused_before_anything_runs() {
    let options = E2eBenchOptions {
        window: 0,
        ..E2eBenchOptions::default()
    };
    let error = run_e2e_bench(&options, &mut |_| {}).unwrap_err();
    assert!(error.contains("window"), "{error}");
}
