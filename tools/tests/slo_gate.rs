//! `oddsmatch slo-gate` end to end, with the built binary on summary files written here: a
//! passing summary passes, a latency over its target or a missing metric or a failed check is
//! a breach named on its line, a thresholds file (JSON or TOML) replaces the defaults, the
//! summary's scale scales them, k6's own summaries are judged by a thresholds file, and bad or
//! missing files are usage errors.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn scratch(test: &str) -> support::Scratch {
    support::scratch("slo-gate", test)
}

/// Runs `oddsmatch slo-gate` with `args`; returns the exit code, stdout and stderr.
fn gate(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
        .arg("slo-gate")
        .args(args)
        .output()
        .expect("the oddsmatch binary runs");
    (
        status.code().expect("slo-gate exits, not killed"),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

/// Runs the gate on `summary` (and `thresholds`, when given).
fn judge(summary: &Path, thresholds: Option<&Path>, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["--summary".as_ref(), summary.as_os_str()];
    if let Some(t) = thresholds {
        args.extend(["--thresholds".as_ref(), t.as_os_str()]);
    }
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    gate(&args)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn write_json(dir: &Path, name: &str, value: &Value) -> PathBuf {
    write(dir, name, &serde_json::to_string_pretty(value).unwrap())
}

/// A time trend with the given p50, p95 and p99 in milliseconds.
fn trend(p50: f64, p95: f64, p99: f64) -> Value {
    json!({
        "type": "trend",
        "contains": "time",
        "values": {
            "avg": p50, "min": p50 / 2.0, "med": p50, "max": p99 * 1.5,
            "p(90)": p95 * 0.9, "p(95)": p95, "p(99)": p99, "p(99.9)": p99 * 1.2,
            "count": 1000, "rate": 33.3
        }
    })
}

fn rate(rate: f64, passes: u64, fails: u64) -> Value {
    json!({"type": "rate", "contains": "default",
           "values": {"rate": rate, "passes": passes, "fails": fails}})
}

fn counter(count: u64, per_second: f64) -> Value {
    json!({"type": "counter", "contains": "default",
           "values": {"count": count, "rate": per_second}})
}

fn k6_envelope(metrics: Value, checks: Value) -> Value {
    json!({
        "root_group": {"name": "", "path": "", "id": "d41d8cd98f00b204e9800998ecf8427e",
                       "groups": [], "checks": checks},
        "options": {"summaryTrendStats": ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "p(99.9)"],
                    "summaryTimeUnit": "ms"},
        "state": {"isStdOutTTY": false, "isStdErrTTY": false, "testRunDurationMs": 31000.5},
        "metrics": metrics
    })
}

/// A live-a summary that meets every one of the customer's figures, well inside them.
fn live_a() -> Value {
    let mut summary = k6_envelope(
        json!({
            "place_bet": trend(2.0, 5.0, 9.0),
            "cancel_bet": trend(2.0, 5.0, 9.0),
            "odds_tick": trend(1.0, 3.0, 7.5),
            "market_lock": trend(1.0, 3.0, 7.5),
            "settlement": trend(20.0, 40.0, 80.0),
            "telemetry": trend(0.5, 1.0, 2.0),
            "bets_accepted": rate(1.0, 1200, 0),
            "tick_delivery": rate(1.0, 7500, 0),
            "checks": rate(1.0, 3, 0),
            "failed_requests": rate(0.0, 0, 1500),
            "requests": counter(1500, 50.0)
        }),
        json!([
            {"name": "every user logged in", "path": "::every user logged in", "id": "a", "passes": 1, "fails": 0},
            {"name": "no bet duplicated", "path": "::no bet duplicated", "id": "b", "passes": 1, "fails": 0},
            {"name": "settlement consistent", "path": "::settlement consistent", "id": "c", "passes": 1, "fails": 0}
        ]),
    );
    summary["oddsmatch"] = json!({
        "scenario": "live-a", "scale": 1, "duration_s": 30, "target": "embedded", "version": "0.1.0"
    });
    summary
}

/// The line of the gate's output that names `metric` and `expr`.
fn line<'a>(stdout: &'a str, metric: &str, expr: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.get(1) == Some(&metric) && words.get(2) == Some(&expr)
        })
        .unwrap_or_else(|| panic!("no line for {metric} {expr} in:\n{stdout}"))
}

#[test]
fn a_summary_that_meets_every_target_passes() {
    let dir = scratch("passes");
    let summary = write_json(&dir, "summary.json", &live_a());
    let (code, stdout, stderr) = judge(&summary, None, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("live-a at scale 1 against embedded"),
        "{stdout}"
    );
    assert!(stdout.contains("thresholds from defaults"), "{stdout}");
    // 6 latency metrics x 3 percentiles, bets accepted, checks and tick delivery.
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("PASS ")).count(),
        21,
        "{stdout}"
    );
    assert!(
        line(&stdout, "place_bet", "p(99)<300").contains("9 ms"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "tick_delivery", "rate==1").starts_with("PASS"),
        "{stdout}"
    );
    assert!(
        stdout.contains("PASSED: 0 of 21 thresholds and 0 of 3 checks failed"),
        "{stdout}"
    );
}

#[test]
fn a_p99_over_its_target_is_a_breach() {
    let dir = scratch("p99");
    let mut doctored = live_a();
    doctored["metrics"]["place_bet"]["values"]["p(99)"] = json!(300.5);
    let summary = write_json(&dir, "summary.json", &doctored);
    let (code, stdout, _) = judge(&summary, None, &[]);
    assert_eq!(code, 1, "{stdout}");
    let breach = line(&stdout, "place_bet", "p(99)<300");
    assert!(breach.starts_with("FAIL"), "{breach}");
    assert!(breach.ends_with("300.5 ms"), "{breach}");
    assert!(
        line(&stdout, "place_bet", "p(95)<150").starts_with("PASS"),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("FAIL ")).count(),
        1,
        "{stdout}"
    );
    assert!(stdout.contains("FAILED: 1 of 21 thresholds"), "{stdout}");
}

#[test]
fn a_missing_metric_fails() {
    let dir = scratch("missing-metric");
    let mut doctored = live_a();
    doctored["metrics"]
        .as_object_mut()
        .unwrap()
        .remove("telemetry");
    // A statistic missing from a metric that is there fails too.
    doctored["metrics"]["market_lock"]["values"]
        .as_object_mut()
        .unwrap()
        .remove("p(95)");
    let summary = write_json(&dir, "summary.json", &doctored);
    let (code, stdout, _) = judge(&summary, None, &[]);
    assert_eq!(code, 1, "{stdout}");
    for expr in ["p(50)<20", "p(95)<50", "p(99)<100"] {
        let breach = line(&stdout, "telemetry", expr);
        assert!(
            breach.starts_with("FAIL") && breach.ends_with("missing"),
            "{breach}"
        );
    }
    let breach = line(&stdout, "market_lock", "p(95)<200");
    assert!(
        breach.starts_with("FAIL") && breach.ends_with("missing"),
        "{breach}"
    );
    assert!(stdout.contains("FAILED: 4 of 21 thresholds"), "{stdout}");
}

#[test]
fn a_failed_check_is_a_breach() {
    let dir = scratch("check");
    let mut doctored = live_a();
    doctored["root_group"]["checks"][2]["passes"] = json!(0);
    doctored["root_group"]["checks"][2]["fails"] = json!(1);
    let summary = write_json(&dir, "summary.json", &doctored);
    let (code, stdout, _) = judge(&summary, None, &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("FAIL  check \"settlement consistent\": 1 of 1 failed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("0 of 21 thresholds and 1 of 3 checks failed"),
        "{stdout}"
    );
}

#[test]
fn a_thresholds_file_replaces_the_defaults() {
    let dir = scratch("override");
    let mut doctored = live_a();
    doctored["metrics"]["place_bet"]["values"]["p(99)"] = json!(350);
    doctored["metrics"]
        .as_object_mut()
        .unwrap()
        .remove("telemetry");
    let summary = write_json(&dir, "summary.json", &doctored);
    assert_eq!(judge(&summary, None, &[]).0, 1);

    let relaxed = write(
        &dir,
        "relaxed.json",
        r#"{"thresholds": {"place_bet": ["p(99)<400", "p(95) < 150"], "failed_requests": ["rate<0.01"]}}"#,
    );
    let (code, stdout, stderr) = judge(&summary, Some(&relaxed), &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("thresholds from"), "{stdout}");
    assert!(stdout.contains("relaxed.json"), "{stdout}");
    assert!(
        line(&stdout, "place_bet", "p(99)<400").starts_with("PASS"),
        "{stdout}"
    );
    assert!(!stdout.contains("telemetry"), "{stdout}");
    assert!(stdout.contains("0 of 3 thresholds"), "{stdout}");

    let toml = write(
        &dir,
        "strict.toml",
        "[thresholds]\nplace_bet = [\"p(99)<320\"]\nrequests = [\"rate>=40\"]\n",
    );
    let (code, stdout, _) = judge(&summary, Some(&toml), &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        line(&stdout, "place_bet", "p(99)<320").starts_with("FAIL"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "requests", "rate>=40").starts_with("PASS"),
        "{stdout}"
    );
}

#[test]
fn the_defaults_scale_with_the_summary() {
    let dir = scratch("scale");
    let mut summary = k6_envelope(
        json!({
            "query": trend(5.0, 20.0, 40.0),
            "md_update": trend(2.0, 10.0, 20.0),
            "md_delivery": rate(1.0, 9000, 0),
            "orders": counter(3600, 60.0),
            "queries": counter(36000, 600.0),
            "failed_requests": rate(0.001, 40, 39560),
            "checks": rate(1.0, 2, 0)
        }),
        json!([]),
    );
    summary["oddsmatch"] = json!({"scenario": "prediction-peak", "scale": 0.1,
                                  "duration_s": 60, "target": "127.0.0.1:7700", "version": "0.1.0"});
    let tenth = write_json(&dir, "tenth.json", &summary);
    let (code, stdout, _) = judge(&tenth, None, &[]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        line(&stdout, "orders", "rate>=50").starts_with("PASS"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "queries", "rate>=500").starts_with("PASS"),
        "{stdout}"
    );
    assert!(
        stdout.contains("prediction-peak at scale 0.1 against 127.0.0.1:7700"),
        "{stdout}"
    );

    summary["oddsmatch"]["scale"] = json!(1.0);
    let full = write_json(&dir, "full.json", &summary);
    let (code, stdout, _) = judge(&full, None, &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        line(&stdout, "orders", "rate>=500").starts_with("FAIL"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "queries", "rate>=5000").starts_with("FAIL"),
        "{stdout}"
    );
}

#[test]
fn a_k6_summary_is_judged_by_a_thresholds_file() {
    let dir = scratch("k6");
    let k6 = k6_envelope(
        json!({
            "http_req_duration": trend(140.0, 148.2, 300.0),
            "http_req_failed": rate(0.004, 4, 996),
            "http_reqs": counter(1000, 16.6),
            "vus": {"type": "gauge", "contains": "default", "values": {"value": 1, "min": 1, "max": 19}}
        }),
        json!([{"name": "status is 200", "path": "::status is 200", "id": "x", "passes": 1000, "fails": 0}]),
    );
    let summary = write_json(&dir, "k6.json", &k6);
    let thresholds = write(
        &dir,
        "options.json",
        r#"{"thresholds": {"http_req_duration": ["p(95)<400", "p(99)<900"],
                           "http_req_failed": ["rate<0.01"], "vus": ["max<=20"]}}"#,
    );
    let (code, stdout, stderr) = judge(&summary, Some(&thresholds), &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("a k6 summary"), "{stdout}");
    assert!(
        line(&stdout, "http_req_duration", "p(95)<400").ends_with("148.2 ms"),
        "{stdout}"
    );

    let strict = write(
        &dir,
        "strict.json",
        r#"{"thresholds": {"http_req_failed": ["rate<0.001"]}}"#,
    );
    let (code, stdout, _) = judge(&summary, Some(&strict), &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        line(&stdout, "http_req_failed", "rate<0.001").ends_with("0.004"),
        "{stdout}"
    );

    // Without thresholds there is nothing to judge a k6 summary by.
    let (code, stdout, stderr) = judge(&summary, None, &[]);
    assert_eq!(code, 2, "{stdout}");
    assert!(stderr.contains("names no oddsmatch scenario"), "{stderr}");
    assert!(stderr.contains("--thresholds"), "{stderr}");
}

#[test]
fn bad_and_missing_files_are_usage_errors() {
    let dir = scratch("bad-files");
    let good = write_json(&dir, "good.json", &live_a());
    let cases: [(PathBuf, Option<PathBuf>, &str); 7] = [
        (
            write(&dir, "torn.json", "{\"metrics\": {"),
            None,
            "torn.json: not JSON",
        ),
        (dir.join("absent.json"), None, "cannot read the summary"),
        (
            write(&dir, "other.json", "{\"vus\": 3}"),
            None,
            "no \"metrics\" object",
        ),
        (
            write(
                &dir,
                "typed.json",
                r#"{"metrics": {"m": {"values": {"p(95)": "fast"}}}}"#,
            ),
            None,
            "metrics.m.values.p(95): not a number",
        ),
        (
            good.clone(),
            Some(write(
                &dir,
                "t.json",
                r#"{"thresholds": {"place_bet": ["p95<1"]}}"#,
            )),
            "unknown statistic `p95`",
        ),
        (
            good.clone(),
            Some(dir.join("absent-thresholds.json")),
            "cannot read thresholds",
        ),
        (
            {
                let mut unknown = live_a();
                unknown["oddsmatch"]["scenario"] = json!("live-z");
                write_json(&dir, "unknown.json", &unknown)
            },
            None,
            "scenario \"live-z\" has no default thresholds",
        ),
    ];
    for (summary, thresholds, wanted) in cases {
        let (code, stdout, stderr) = judge(&summary, thresholds.as_deref(), &[]);
        assert_eq!(code, 2, "{wanted}: {stdout}{stderr}");
        assert!(stdout.is_empty(), "{wanted}: {stdout}");
        assert!(stderr.starts_with("oddsmatch slo-gate: "), "{stderr}");
        assert!(stderr.contains(wanted), "{wanted}: {stderr}");
    }
    // No --summary at all: clap's usage error, also 2.
    let (code, _, stderr) = gate(&[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--summary"), "{stderr}");
}

#[test]
fn json_output_carries_the_verdict() {
    let dir = scratch("json");
    let mut doctored = live_a();
    doctored["metrics"]["settlement"]["values"]["p(99)"] = json!(1500);
    doctored["root_group"]["checks"][0]["fails"] = json!(2);
    let summary = write_json(&dir, "summary.json", &doctored);
    let (code, stdout, _) = judge(&summary, None, &["--json"]);
    assert_eq!(code, 1);
    let verdict: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(verdict["passed"], false);
    assert_eq!(verdict["breaches"], 2);
    assert_eq!(verdict["scenario"], "live-a");
    assert_eq!(verdict["scale"], 1.0);
    assert_eq!(verdict["thresholds_from"], "defaults");
    let failed: Vec<&Value> = verdict["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["ok"] == false)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["metric"], "settlement");
    assert_eq!(failed[0]["expr"], "p(99)<1000");
    assert_eq!(failed[0]["actual"], 1500.0);
    assert_eq!(verdict["checks"][0]["ok"], false);
    assert_eq!(verdict["checks"][1]["ok"], true);

    let passing = write_json(&dir, "passing.json", &live_a());
    let (code, stdout, _) = judge(&passing, None, &["--json"]);
    assert_eq!(code, 0);
    let verdict: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(verdict["passed"], true);
    assert_eq!(verdict["breaches"], 0);
}
