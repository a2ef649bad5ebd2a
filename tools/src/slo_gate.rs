//! `oddsmatch slo-gate`: judges a load test's summary by thresholds, for a release gate
//! (`docs/slo-gate.md`).
//!
//! It reads a summary written by `oddsmatch loadgen --summary-export` (or by k6), takes the
//! thresholds from `--thresholds` or else the customer's defaults for the summary's scenario
//! and scale, and prints one line per threshold, then each of the summary's checks that
//! failed. Exit status 0 when every threshold held and no check failed, 1 on a breach, 2 when
//! it could not judge (usage, an unreadable or malformed file, no thresholds to judge by).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::loadgen::summary::{Contains, GroupCheck, Summary};
use crate::loadgen::thresholds::{self, Check, Threshold};

/// Options of `oddsmatch slo-gate`.
#[derive(Debug, clap::Args)]
pub struct SloGateArgs {
    /// The load test's summary: `oddsmatch loadgen --summary-export FILE`, or k6's JSON
    /// summary (handleSummary data or --summary-export).
    #[arg(long, value_name = "FILE")]
    summary: PathBuf,
    /// Judge by these thresholds instead of the customer's defaults for the summary's scenario
    /// and scale: k6 options JSON, `{"thresholds": {"place_bet": ["p(95)<150"]}}`, or a TOML
    /// file (ending in .toml) with a [thresholds] table of the same shape. Needed for a k6
    /// summary, which names no scenario.
    #[arg(long, value_name = "FILE")]
    thresholds: Option<PathBuf>,
    /// Print the verdict as one JSON object instead of lines.
    #[arg(long)]
    json: bool,
}

/// The gate's verdict on one summary.
struct Verdict {
    /// Where the thresholds came from: `defaults` or the file.
    source: String,
    /// Each threshold's outcome, in order.
    thresholds: Vec<Check>,
    /// Every check of the summary, in order.
    checks: Vec<GroupCheck>,
}

impl Verdict {
    fn breaches(&self) -> usize {
        self.thresholds.iter().filter(|c| !c.ok).count()
            + self.checks.iter().filter(|c| c.fails > 0).count()
    }
}

/// Runs the gate: exit 0 when every threshold and check held, 1 on a breach, 2 when it could
/// not judge.
pub fn main(args: &SloGateArgs) -> ExitCode {
    match judge(args) {
        Ok((summary, verdict)) => {
            if args.json {
                println!("{}", to_json(&args.summary, &summary, &verdict));
            } else {
                print!("{}", to_text(&args.summary, &summary, &verdict));
            }
            if verdict.breaches() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(message) => {
            eprintln!("oddsmatch slo-gate: {message}");
            ExitCode::from(2)
        }
    }
}

/// Reads the files and judges.
fn judge(args: &SloGateArgs) -> Result<(Summary, Verdict), String> {
    let summary = Summary::read(&args.summary)?;
    let (source, wanted): (String, Vec<Threshold>) = match &args.thresholds {
        Some(path) => (path.display().to_string(), thresholds::load(path)?),
        None if summary.run.is_none() => {
            return Err(format!(
                "{} names no oddsmatch scenario (a k6 summary?): give --thresholds FILE",
                args.summary.display()
            ));
        }
        None => {
            let list =
                thresholds::defaults(summary.scenario(), summary.scale()).ok_or_else(|| {
                    format!(
                        "{}: scenario \"{}\" has no default thresholds (known: {}): give \
                     --thresholds FILE",
                        args.summary.display(),
                        summary.scenario(),
                        thresholds::SCENARIOS.join(", ")
                    )
                })?;
            ("defaults".to_owned(), list)
        }
    };
    let verdict = Verdict {
        source,
        thresholds: thresholds::evaluate(&summary, &wanted),
        checks: summary.checks.clone(),
    };
    Ok((summary, verdict))
}

/// A figure for a person: up to 9 significant digits, no trailing zeros.
fn figure(x: f64) -> String {
    let x = thresholds::tidy(x, 9);
    if x == 0.0 {
        return "0".into();
    }
    format!("{x}")
}

/// A check's measured value for a person, with `ms` for a time trend's latency.
fn actual(summary: &Summary, check: &Check) -> String {
    let Some(value) = check.actual else {
        return "missing".into();
    };
    let in_ms = check.threshold.stat.is_in_metric_unit()
        && summary
            .metrics
            .get(&check.threshold.metric)
            .is_some_and(|m| m.contains == Contains::Time);
    if in_ms {
        format!("{} ms", figure(value))
    } else {
        figure(value)
    }
}

/// The verdict as lines: a heading, one line per threshold (aligned), the failed checks, and
/// the outcome.
fn to_text(path: &Path, summary: &Summary, verdict: &Verdict) -> String {
    let mut out = String::new();
    let what = match &summary.run {
        Some(run) => format!(
            "{} at scale {} against {}",
            run.scenario,
            figure(run.scale),
            run.target
        ),
        None => "a k6 summary".to_owned(),
    };
    let _ = writeln!(
        out,
        "slo-gate: {} ({what}), thresholds from {}",
        path.display(),
        verdict.source
    );
    let rows: Vec<[String; 4]> = verdict
        .thresholds
        .iter()
        .map(|c| {
            [
                if c.ok { "PASS" } else { "FAIL" }.to_owned(),
                c.threshold.metric.clone(),
                c.threshold.expr.clone(),
                actual(summary, c),
            ]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (metric_width, expr_width) = (width(1), width(2));
    for [verdict, metric, expr, actual] in &rows {
        let _ = writeln!(
            out,
            "{verdict}  {metric:<metric_width$}  {expr:<expr_width$}  {actual}"
        );
    }
    for check in verdict.checks.iter().filter(|c| c.fails > 0) {
        let _ = writeln!(
            out,
            "FAIL  check \"{}\": {} of {} failed",
            check.name,
            check.fails,
            check.passes.saturating_add(check.fails)
        );
    }
    let failed_thresholds = verdict.thresholds.iter().filter(|c| !c.ok).count();
    let failed_checks = verdict.checks.iter().filter(|c| c.fails > 0).count();
    let _ = writeln!(
        out,
        "{}: {failed_thresholds} of {} thresholds and {failed_checks} of {} checks failed",
        if verdict.breaches() == 0 {
            "PASSED"
        } else {
            "FAILED"
        },
        verdict.thresholds.len(),
        verdict.checks.len()
    );
    out
}

/// The verdict as one JSON object.
fn to_json(path: &Path, summary: &Summary, verdict: &Verdict) -> Value {
    let thresholds: Vec<Value> = verdict
        .thresholds
        .iter()
        .map(|c| {
            json!({
                "metric": c.threshold.metric,
                "expr": c.threshold.expr,
                "actual": c.actual,
                "ok": c.ok,
            })
        })
        .collect();
    let checks: Vec<Value> = verdict
        .checks
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "passes": c.passes,
                "fails": c.fails,
                "ok": c.fails == 0,
            })
        })
        .collect();
    json!({
        "passed": verdict.breaches() == 0,
        "breaches": verdict.breaches(),
        "summary": path.display().to_string(),
        "scenario": summary.run.as_ref().map(|r| r.scenario.clone()),
        "scale": summary.run.as_ref().map(|r| r.scale),
        "thresholds_from": verdict.source,
        "thresholds": thresholds,
        "checks": checks,
    })
}
