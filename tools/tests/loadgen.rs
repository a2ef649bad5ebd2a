//! `oddsmatch loadgen` end to end: every customer scenario at a small scale and a short load
//! window against an embedded node, its pass criteria asserted from the exported summary
//! (counts and correctness, never timings: these machines are shared), and the summary
//! judged again by `oddsmatch slo-gate`, which must fail a doctored copy.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod support;

use support::scratch;

/// Thresholds on correctness only: every check held and no request failed.
const CORRECTNESS: &str =
    r#"{"thresholds": {"checks": ["rate==1"], "failed_requests": ["rate<0.01"]}}"#;

fn oddsmatch(args: &[&str], tmp: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
        .args(args)
        .env("TMPDIR", tmp)
        .output()
        .unwrap()
}

/// Runs `scenario` embedded and returns its summary, after checking it passed.
fn run(test: &str, scenario: &str, scale: &str, secs: &str) -> Value {
    let dir = scratch("loadgen", test);
    let thresholds = dir.join("thresholds.json");
    std::fs::write(&thresholds, CORRECTNESS).unwrap();
    let summary = dir.join("summary.json");
    let out = oddsmatch(
        &[
            "loadgen",
            "--scenario",
            scenario,
            "--embedded",
            "--scale",
            scale,
            "--duration",
            secs,
            "--thresholds",
            thresholds.to_str().unwrap(),
            "--summary-export",
            summary.to_str().unwrap(),
        ],
        &dir,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{scenario} failed ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("PASSED"), "{stdout}");
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(summary["oddsmatch"]["scenario"], scenario);
    let checks = summary["root_group"]["checks"].as_array().unwrap();
    assert!(!checks.is_empty(), "{summary}");
    for check in checks {
        assert_eq!(check["fails"], 0, "{scenario}: {check}\n{stdout}");
    }
    // The gate agrees with the load generator on the same thresholds.
    let gate = oddsmatch(
        &[
            "slo-gate",
            "--summary",
            summary_path(&dir).to_str().unwrap(),
            "--thresholds",
            thresholds.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(
        gate.status.success(),
        "{}",
        String::from_utf8_lossy(&gate.stdout)
    );
    summary
}

fn summary_path(dir: &Path) -> std::path::PathBuf {
    dir.join("summary.json")
}

fn value(summary: &Value, metric: &str, stat: &str) -> f64 {
    summary["metrics"][metric]["values"][stat]
        .as_f64()
        .unwrap_or_else(|| panic!("{metric}.{stat} missing: {}", summary["metrics"]))
}

fn check_names(summary: &Value) -> Vec<String> {
    summary["root_group"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn live_a_delivers_every_tick_and_settles_exactly() {
    let s = run("live-a", "live-a", "0.2", "6");
    assert!(value(&s, "place_bet", "count") > 0.0);
    assert!(value(&s, "odds_tick", "count") > 0.0);
    assert!(value(&s, "market_lock", "count") > 0.0);
    assert!(value(&s, "settlement", "count") > 0.0);
    assert_eq!(value(&s, "tick_delivery", "rate"), 1.0);
    let names = check_names(&s);
    assert!(
        names
            .iter()
            .any(|n| n.contains("every subscriber got every tick"))
    );
    assert!(names.iter().any(|n| n.contains("settlement")));
    assert!(names.iter().any(|n| n.contains("ledger")));
}

#[test]
fn live_b_throttles_the_excess_and_never_bets_twice() {
    let s = run("live-b", "live-b", "0.1", "6");
    assert!(value(&s, "throttled", "passes") > 0.0, "{}", s["metrics"]);
    let names = check_names(&s);
    assert!(names.iter().any(|n| n.contains("repeated client order id")));
    assert!(names.iter().any(|n| n.contains("throttled")));
}

#[test]
fn live_c_keeps_markets_apart() {
    let s = run("live-c", "live-c", "0.1", "5");
    assert!(
        check_names(&s)
            .iter()
            .any(|n| n.contains("crossed markets"))
    );
}

#[test]
fn prediction_peak_reads_trades_and_votes() {
    let s = run("prediction-peak", "prediction-peak", "0.02", "4");
    assert!(value(&s, "query", "count") > 0.0);
    assert!(value(&s, "new_order", "count") > 0.0);
    assert!(value(&s, "vote", "count") > 0.0);
    assert!(value(&s, "markets_created", "count") >= 1.0);
}

#[test]
fn vote_flood_tallies_and_pays_every_claim() {
    let s = run("vote-flood", "vote-flood", "0.01", "6");
    assert!(value(&s, "votes", "count") > 0.0);
    assert!(value(&s, "settlement", "count") > 0.0, "claims paid");
    assert!(value(&s, "tally", "count") > 0.0);
}

#[test]
fn market_creation_spike_creates_every_market() {
    let s = run("creation", "market-creation-spike", "0.1", "5");
    assert_eq!(value(&s, "markets_created", "count"), 5.0);
}

#[test]
fn voting_spike_keeps_the_ledger() {
    let s = run("voting-spike", "voting-spike", "0.05", "4");
    assert!(value(&s, "vote", "count") > 0.0);
    assert!(check_names(&s).iter().any(|n| n.contains("ledger")));
}

#[test]
fn ledger_replay_credits_each_deposit_once() {
    let s = run("ledger-replay", "ledger-replay", "0.2", "5");
    assert!(value(&s, "deposits", "count") > 0.0);
    assert!(check_names(&s).iter().any(|n| n.contains("exactly once")));
}

#[test]
fn fanout_reaches_every_subscriber() {
    let s = run("fanout", "fanout-10k", "0.01", "4");
    assert!(value(&s, "odds_tick", "count") > 0.0);
    assert_eq!(value(&s, "tick_delivery", "rate"), 1.0);
}

#[test]
fn gateway_baseline_and_spike_answer_every_request() {
    let s = run("gateway-baseline", "gateway-baseline", "0.5", "4");
    assert!(value(&s, "requests", "count") > 0.0);
    let s = run("gateway-spike", "gateway-spike", "0.1", "6");
    assert!(value(&s, "request", "count") > 0.0);
}

#[test]
fn darkpool_trades_and_enforces_the_tiers() {
    let s = run("darkpool-sustained", "darkpool-sustained", "0.04", "4");
    assert!(value(&s, "trades", "count") > 0.0);
    assert!(value(&s, "matching", "count") > 0.0);
    assert!(value(&s, "md_update", "count") > 0.0);
    assert!(check_names(&s).iter().any(|n| n.contains("tier")));
    let s = run("darkpool-peak", "darkpool-peak", "0.02", "3");
    assert!(value(&s, "orders", "count") > 0.0);
}

#[test]
fn the_gate_fails_a_doctored_summary() {
    let s = run("doctored", "gateway-baseline", "0.5", "3");
    let dir = scratch("loadgen", "doctored-gate");
    let mut doctored = s.clone();
    doctored["metrics"]["checks"]["values"]["rate"] = serde_json::json!(0.5);
    let path = dir.join("doctored.json");
    std::fs::write(&path, serde_json::to_string(&doctored).unwrap()).unwrap();
    let thresholds = dir.join("thresholds.json");
    std::fs::write(&thresholds, CORRECTNESS).unwrap();
    let gate = oddsmatch(
        &[
            "slo-gate",
            "--summary",
            path.to_str().unwrap(),
            "--thresholds",
            thresholds.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(
        gate.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&gate.stdout)
    );
}

#[test]
fn bad_options_are_refused_before_anything_runs() {
    let dir = scratch("loadgen", "bad-options");
    for args in [
        &["loadgen", "--scenario", "live-a", "--scale", "0"][..],
        &["loadgen", "--scenario", "live-a", "--duration", "0.1"][..],
        &["loadgen", "--scenario", "live-a", "--plot", "x.gif"][..],
    ] {
        let out = oddsmatch(args, &dir);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
    let out = oddsmatch(&["loadgen", "--scenario", "no-such"], &dir);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn find_limit_reports_the_highest_passing_scale() {
    // A threshold that breaks at a known scale: 20 users at 12.5 transactions/s each for 2 s
    // send 25 each, so 400 or more requests (16 users, scale 0.8) fail it.
    let dir = scratch("loadgen", "find-limit");
    let thresholds = dir.join("thresholds.json");
    std::fs::write(
        &thresholds,
        r#"{"thresholds": {"requests": ["count<400"], "checks": ["rate==1"]}}"#,
    )
    .unwrap();
    let summary = dir.join("summary.json");
    let out = oddsmatch(
        &[
            "loadgen",
            "--scenario",
            "gateway-spike",
            "--scale",
            "0.1",
            "--duration",
            "2",
            "--find-limit",
            "--thresholds",
            thresholds.to_str().unwrap(),
            "--summary-export",
            summary.to_str().unwrap(),
        ],
        &dir,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 0.1, 0.2, 0.4 pass, 0.8 fails, then 0.6 and 0.7 pass.
    assert!(stdout.contains("scale 0.8 fails"), "{stdout}");
    assert!(stdout.contains("highest passing scale: 0.7"), "{stdout}");
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(summary["oddsmatch"]["scale"], 0.7);
    assert_eq!(value(&summary, "requests", "count"), 350.0);
}
