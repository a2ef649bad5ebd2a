//! The verdict and the report: the run's measurements as a k6-shaped summary, judged by the
//! customer's thresholds (or the ones given) and the scenario's checks, and the table a person
//! reads: p50/p90/p95/p99/p99.9/max per operation with the target beside it.

use std::fmt::Write as _;

use super::record::{Op, Record};
use super::run::RunOutcome;
use super::summary::Summary;
use super::thresholds::{self, Check, Threshold};

/// A judged run.
pub(super) struct Judged {
    /// Every threshold and every check held.
    pub(super) passed: bool,
    /// The summary (thresholds' results filled in).
    pub(super) summary: Summary,
    /// The thresholds' results.
    pub(super) thresholds: Vec<Check>,
}

/// Builds the summary and judges it.
pub(super) fn judge(outcome: &RunOutcome, given: Option<&[Threshold]>) -> Result<Judged, String> {
    let r = &outcome.record;
    let window = outcome.duration.as_secs_f64();
    let mut summary = Summary::new(
        outcome.scenario.name(),
        outcome.scale,
        window,
        &outcome.target,
    );
    summary.set_run_duration_ms(outcome.elapsed.as_secs_f64() * 1e3);
    for op in Op::ALL {
        if let Some(h) = r.latencies(op) {
            summary.trend(op.name(), h, window);
        }
    }
    if let Some(all) = r.all_requests() {
        summary.trend("request", &all, window);
    }
    let sent = Record::total(&r.sent);
    let failed = Record::total(&r.failed);
    let throttled = Record::total(&r.throttled).saturating_sub(r.get("probe_throttled"));
    summary.rate("failed_requests", failed, sent.saturating_sub(failed));
    summary.rate("throttled", throttled, sent.saturating_sub(throttled));
    if outcome.ticks.0 > 0 {
        summary.rate(
            "tick_delivery",
            outcome.ticks.1,
            outcome.ticks.0 - outcome.ticks.1,
        );
    }
    if outcome.book.0 > 0 {
        summary.rate(
            "md_delivery",
            outcome.book.1,
            outcome.book.0 - outcome.book.1,
        );
    }
    let bets = r.get("bets_sent");
    if bets > 0 {
        let bet_throttles =
            Record::of(&r.throttled, Op::PlaceBet) + Record::of(&r.throttled, Op::Vote);
        let accepted = r.get("bets_accepted");
        let valid = bets.saturating_sub(bet_throttles).max(accepted);
        summary.rate("bets_accepted", accepted, valid - accepted);
    }
    let passes = outcome.checks.iter().filter(|c| c.ok).count() as u64;
    summary.rate("checks", passes, outcome.checks.len() as u64 - passes);
    for check in &outcome.checks {
        summary.check(&check.name, u64::from(check.ok), u64::from(!check.ok));
    }
    summary.counter("requests", sent, window);
    summary.counter("orders", Record::of(&r.sent, Op::NewOrder), window);
    summary.counter("trades", r.get("trades"), window);
    summary.counter("queries", Record::of(&r.sent, Op::Query), window);
    summary.counter("votes", Record::of(&r.sent, Op::Vote), window);
    summary.counter("markets_created", r.get("markets_created"), window);
    summary.counter("deposits", r.get("deposits"), window);
    let wanted = match given {
        Some(t) => t.to_vec(),
        None => thresholds::defaults(outcome.scenario.name(), outcome.scale).unwrap_or_default(),
    };
    let results = thresholds::evaluate(&summary, &wanted);
    summary.apply_thresholds(&results);
    let passed = results.iter().all(|c| c.ok) && outcome.checks.iter().all(|c| c.ok);
    Ok(Judged {
        passed,
        summary,
        thresholds: results,
    })
}

fn ms(ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 1.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

/// One line: the request rate, the error and throttle rates, and the verdict.
pub(super) fn headline(outcome: &RunOutcome, judged: &Judged) -> String {
    let r = &outcome.record;
    let sent = Record::total(&r.sent);
    let failed = Record::total(&r.failed);
    format!(
        "{:.0} requests/s, {:.2}% failed, {} thresholds and {} checks failed",
        sent as f64 / outcome.duration.as_secs_f64().max(1e-9),
        100.0 * failed as f64 / sent.max(1) as f64,
        judged.thresholds.iter().filter(|c| !c.ok).count(),
        outcome.checks.iter().filter(|c| !c.ok).count()
    )
}

/// The report a person reads.
pub(super) fn table(outcome: &RunOutcome, judged: &Judged) -> String {
    let r = &outcome.record;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "loadgen {} at scale {} against {}: {} users, {} subscribers, {:.0} s of load ({:.1} s \
         in all)",
        outcome.scenario.name(),
        outcome.scale,
        outcome.target,
        outcome.population.0,
        outcome.population.1,
        outcome.duration.as_secs_f64(),
        outcome.elapsed.as_secs_f64()
    );
    let columns = [
        ("operation", false),
        ("count", true),
        ("p50 ms", true),
        ("p90", true),
        ("p95", true),
        ("p99", true),
        ("p99.9", true),
        ("max", true),
        ("target (ms)", false),
        ("verdict", false),
    ];
    let mut rows = Vec::new();
    let mut names: Vec<(String, hdrhistogram::Histogram<u64>)> = Op::ALL
        .iter()
        .filter_map(|op| Some((op.name().to_owned(), r.latencies(*op)?.clone())))
        .collect();
    if let Some(all) = r.all_requests() {
        names.push(("request".to_owned(), all));
    }
    for (name, h) in &names {
        let mine: Vec<&Check> = judged
            .thresholds
            .iter()
            .filter(|c| c.threshold.metric == *name)
            .collect();
        let target = mine
            .iter()
            .map(|c| c.threshold.expr.replace(' ', ""))
            .collect::<Vec<_>>()
            .join(" ");
        let verdict = if mine.is_empty() {
            "-"
        } else if mine.iter().all(|c| c.ok) {
            "PASS"
        } else {
            "FAIL"
        };
        rows.push(vec![
            name.clone(),
            h.len().to_string(),
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.9)),
            ms(h.value_at_quantile(0.95)),
            ms(h.value_at_quantile(0.99)),
            ms(h.value_at_quantile(0.999)),
            ms(h.max()),
            target,
            verdict.to_owned(),
        ]);
    }
    out.push_str(&crate::order::align(&columns, rows, "  "));
    out.push('\n');
    let other: Vec<&Check> = judged
        .thresholds
        .iter()
        .filter(|c| !names.iter().any(|(n, _)| *n == c.threshold.metric))
        .collect();
    for c in other {
        let _ = writeln!(
            out,
            "{} {} {} (is {})",
            if c.ok { "PASS" } else { "FAIL" },
            c.threshold.metric,
            c.threshold.expr,
            c.actual.map_or("missing".to_owned(), |v| format!("{v:.4}"))
        );
    }
    for check in &outcome.checks {
        let _ = writeln!(
            out,
            "{} {}: {}",
            if check.ok { "PASS" } else { "FAIL" },
            check.name,
            check.detail
        );
    }
    if !r.failures.is_empty() {
        let reasons: Vec<String> = r
            .failures
            .iter()
            .map(|(why, n)| format!("{why} {n}"))
            .collect();
        let _ = writeln!(out, "failed requests by reason: {}", reasons.join(", "));
    }
    let _ = writeln!(
        out,
        "{}: {}",
        if judged.passed { "PASSED" } else { "FAILED" },
        headline(outcome, judged)
    );
    out
}
