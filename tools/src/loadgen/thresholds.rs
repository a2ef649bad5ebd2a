//! Thresholds: k6-style pass criteria on a summary's metrics, the customers' figures as each
//! scenario's defaults, and their evaluation.
//!
//! A threshold is a metric name and an expression `<stat><op><number>`, e.g. `place_bet` and
//! `p(95)<150`, read exactly as k6 reads its `thresholds` option:
//!
//! - `stat` is `avg`, `min`, `med`, `max`, `p(N)` (any N from 0 to 100, e.g. `p(99.9)`), `rate`,
//!   `count`, `passes`, `fails` or `value` (a k6 gauge's);
//! - `op` is `<`, `<=`, `>`, `>=`, `==` or `!=`;
//! - `number` is in the metric's unit: milliseconds for time trends, a fraction for rates, per
//!   second for a counter's `rate`.
//!
//! Whitespace is allowed between the parts. A threshold whose metric or statistic the summary
//! does not have fails: no figure is no evidence.
//!
//! The call order: [`parse`] (or [`defaults`], or [`load`] a file) once, then [`evaluate`]
//! against a [`Summary`]; [`Summary::apply_thresholds`] records the outcome in the summary.

use std::fmt;
use std::path::Path;

use serde_json::Value;

use super::summary::Summary;

/// The scenarios of `oddsmatch loadgen` that have default thresholds, in the order of
/// `docs/loadgen.md`.
pub const SCENARIOS: &[&str] = &[
    "live-a",
    "live-b",
    "live-c",
    "prediction-peak",
    "vote-flood",
    "market-creation-spike",
    "voting-spike",
    "ledger-replay",
    "fanout-10k",
    "gateway-baseline",
    "gateway-spike",
    "darkpool-sustained",
    "darkpool-peak",
];

/// The statistics a threshold may read, as `parse` reports them.
const STAT_NAMES: &str =
    "avg, min, med, max, p(N) with N from 0 to 100, rate, count, passes, fails or value";

/// The comparisons, as `parse` names them.
const OPERATORS: &str = "<, <=, >, >=, == or !=";

/// The most thresholds one file may hold (a bound on what a gate reads).
const THRESHOLDS_MAX: usize = 10_000;

/// A statistic of a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    /// The mean (`avg`).
    Avg,
    /// The smallest value (`min`).
    Min,
    /// The median (`med`; the same as `p(50)`).
    Med,
    /// The largest value (`max`).
    Max,
    /// The percentile `p(N)`, N from 0 to 100.
    Percentile(f64),
    /// A rate metric's share of hits, or a counter's or trend's count per second (`rate`).
    Rate,
    /// A counter's or trend's number of samples (`count`).
    Count,
    /// A rate metric's hits (`passes`).
    Passes,
    /// A rate metric's misses (`fails`).
    Fails,
    /// A k6 gauge's last value (`value`).
    Value,
}

impl Stat {
    /// Reads a statistic's name: `avg`, `min`, `med`, `max`, `p(N)`, `rate`, `count`, `passes`,
    /// `fails` or `value`.
    ///
    /// # Errors
    ///
    /// An unknown name; a percentile that is not a number from 0 to 100.
    pub fn parse(text: &str) -> Result<Stat, String> {
        let text = text.trim();
        let stat = match text {
            "avg" => Stat::Avg,
            "min" => Stat::Min,
            "med" => Stat::Med,
            "max" => Stat::Max,
            "rate" => Stat::Rate,
            "count" => Stat::Count,
            "passes" => Stat::Passes,
            "fails" => Stat::Fails,
            "value" => Stat::Value,
            _ => {
                let inner = text
                    .strip_prefix("p(")
                    .and_then(|rest| rest.strip_suffix(')'))
                    .ok_or_else(|| format!("unknown statistic `{text}`; use {STAT_NAMES}"))?;
                let n: f64 = inner
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n: &f64| !n.is_nan())
                    .ok_or_else(|| {
                        format!("percentile `{text}`: `{}` is not a number", inner.trim())
                    })?;
                if !(0.0..=100.0).contains(&n) {
                    return Err(format!("percentile `{text}` is outside 0 to 100"));
                }
                Stat::Percentile(n)
            }
        };
        Ok(stat)
    }

    /// The statistic's name as a summary's `values` key: `avg`, `p(99.9)`, `rate`, ...
    pub fn key(self) -> String {
        match self {
            Stat::Avg => "avg".into(),
            Stat::Min => "min".into(),
            Stat::Med => "med".into(),
            Stat::Max => "max".into(),
            Stat::Percentile(n) => format!("p({})", compact(n)),
            Stat::Rate => "rate".into(),
            Stat::Count => "count".into(),
            Stat::Passes => "passes".into(),
            Stat::Fails => "fails".into(),
            Stat::Value => "value".into(),
        }
    }

    /// Whether the statistic is in the metric's own unit (milliseconds for a time trend):
    /// `avg`, `min`, `med`, `max` and the percentiles.
    pub fn is_in_metric_unit(self) -> bool {
        matches!(
            self,
            Stat::Avg | Stat::Min | Stat::Med | Stat::Max | Stat::Percentile(_)
        )
    }
}

impl fmt::Display for Stat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    /// Reads `<`, `<=`, `>`, `>=`, `==` or `!=`.
    fn parse(text: &str) -> Option<Op> {
        Some(match text {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            _ => return None,
        })
    }

    /// Whether `actual op bound` holds (never for a NaN).
    pub fn holds(self, actual: f64, bound: f64) -> bool {
        match self {
            Op::Lt => actual < bound,
            Op::Le => actual <= bound,
            Op::Gt => actual > bound,
            Op::Ge => actual >= bound,
            Op::Eq => actual == bound,
            Op::Ne => !actual.is_nan() && actual != bound,
        }
    }

    /// Whether the comparison puts an upper bound on the value (`<`, `<=`).
    pub fn is_upper_bound(self) -> bool {
        matches!(self, Op::Lt | Op::Le)
    }
}

/// One threshold: a metric and an expression on one of its statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The metric's name, e.g. `place_bet`.
    pub metric: String,
    /// The expression as written (trimmed), e.g. `p(95)<150`; the key of the outcome in the
    /// summary's `metrics.<metric>.thresholds`.
    pub expr: String,
    /// The statistic it reads.
    pub stat: Stat,
    /// The comparison.
    pub op: Op,
    /// The bound, in the metric's unit.
    pub value: f64,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.metric, self.expr)
    }
}

/// A threshold's outcome on one summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The threshold.
    pub threshold: Threshold,
    /// The statistic's value in the summary; `None` when the metric or the statistic is missing.
    pub actual: Option<f64>,
    /// Whether it held (false when `actual` is `None`).
    pub ok: bool,
}

/// Parses the threshold `expr` on `metric`, e.g. `parse("place_bet", "p(95) < 150")`.
///
/// # Errors
///
/// An empty metric name, an unknown statistic, a missing or unknown comparison, a bound that
/// is not a finite number; the message quotes the expression.
pub fn parse(metric: &str, expr: &str) -> Result<Threshold, String> {
    let metric = metric.trim();
    let expr = expr.trim();
    if metric.is_empty() {
        return Err(format!("threshold `{expr}`: the metric name is empty"));
    }
    let fail = |why: String| format!("threshold `{expr}` on {metric}: {why}");
    let is_op_char = |c: char| matches!(c, '<' | '>' | '=' | '!');
    let at = expr
        .find(is_op_char)
        .ok_or_else(|| fail(format!("no comparison; use {OPERATORS}")))?;
    let stat = Stat::parse(&expr[..at]).map_err(fail)?;
    let rest = &expr[at..];
    let op_len = rest.find(|c: char| !is_op_char(c)).unwrap_or(rest.len());
    let op_text = &rest[..op_len];
    let op = Op::parse(op_text)
        .ok_or_else(|| fail(format!("unknown comparison `{op_text}`; use {OPERATORS}")))?;
    let number = rest[op_len..].trim();
    if number.is_empty() {
        return Err(fail("no number after the comparison".into()));
    }
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| fail(format!("`{number}` is not a number")))?;
    Ok(Threshold {
        metric: metric.to_owned(),
        expr: expr.to_owned(),
        stat,
        op,
        value,
    })
}

/// The customers' thresholds for `scenario` at `scale` (REQUIREMENTS.md; `docs/slo-gate.md`
/// lists them with the requirement each comes from). Latency bounds do not scale; throughput
/// floors are multiplied by `scale`.
///
/// `None` for a scenario not in [`SCENARIOS`] and for a scale that is not a positive, finite
/// number.
pub fn defaults(scenario: &str, scale: f64) -> Option<Vec<Threshold>> {
    if !(scale.is_finite() && scale > 0.0) {
        return None;
    }
    let s = scale;
    let at_least = |per_second: f64| format!("rate>={}", compact(per_second * s));
    let mut list: Vec<(&str, String)> = Vec::new();
    let mut add = |metric: &'static str, exprs: &[&str]| {
        list.extend(exprs.iter().map(|e| (metric, (*e).to_owned())));
    };
    match scenario {
        "live-a" | "live-b" | "live-c" => {
            // §1: the race market's latency table, > 99.9% of valid bets accepted.
            add("place_bet", &["p(50)<50", "p(95)<150", "p(99)<300"]);
            add("cancel_bet", &["p(50)<50", "p(95)<150", "p(99)<300"]);
            add("odds_tick", &["p(50)<100", "p(95)<300", "p(99)<500"]);
            add("market_lock", &["p(50)<100", "p(95)<200", "p(99)<400"]);
            add("settlement", &["p(50)<200", "p(95)<500", "p(99)<1000"]);
            add("telemetry", &["p(50)<20", "p(95)<50", "p(99)<100"]);
            add("bets_accepted", &["rate>0.999"]);
            add("checks", &["rate==1"]);
            match scenario {
                // A: every subscriber gets every tick.
                "live-a" => add("tick_delivery", &["rate==1"]),
                // B: delivery > 99%, and the excess requests are throttled.
                "live-b" => {
                    add("tick_delivery", &["rate>0.99"]);
                    add("throttled", &["rate>0"]);
                }
                // C (and the market in general): delivery > 99.5%.
                _ => add("tick_delivery", &["rate>0.995"]),
            }
        }
        "prediction-peak" => {
            // §2: queries < 100 ms p95, updates < 200 ms with 100% delivery, 500+ inserts/s,
            // 5,000+ reads/s.
            add("query", &["p(95)<100"]);
            add("md_update", &["p(95)<200"]);
            add("md_delivery", &["rate==1"]);
            add("orders", &[&at_least(500.0)]);
            add("queries", &[&at_least(5_000.0)]);
            add("failed_requests", &["rate<0.01"]);
            add("checks", &["rate==1"]);
        }
        "vote-flood" => {
            // §2: 10,000 votes aggregated in < 10 s.
            add("tally", &["max<10000"]);
            add("failed_requests", &["rate<0.01"]);
            add("checks", &["rate==1"]);
        }
        "market-creation-spike" => {
            // §2: 50 markets created within 5 minutes.
            let markets = tidy(50.0 * s, 10).ceil();
            add(
                "markets_created",
                &[&format!("count>={}", compact(markets))],
            );
            add("failed_requests", &["rate<0.01"]);
            add("checks", &["rate==1"]);
        }
        "voting-spike" => {
            // §3: reads p95 < 150 ms, p99 < 350 ms; live updates < 1 s; 200 votes/s with no
            // more than 1% throttled.
            add("vote", &["p(95)<150", "p(99)<350"]);
            add("query", &["p(95)<150", "p(99)<350"]);
            add("odds_tick", &["p(99)<1000"]);
            add("throttled", &["rate<=0.01"]);
            add("votes", &[&at_least(200.0)]);
            add("failed_requests", &["rate<0.01"]);
            add("checks", &["rate==1"]);
        }
        "ledger-replay" => {
            // §3 payments (judged by §4's baseline latency): every deposit credited once.
            add("deposit", &["p(95)<400", "p(99)<900"]);
            add("failed_requests", &["rate<0.01"]);
            add("checks", &["rate==1"]);
        }
        "fanout-10k" => {
            // §3: 99% receive each update within 1 s; < 0.5% dropped.
            add("odds_tick", &["p(99)<1000"]);
            add("tick_delivery", &["rate>=0.995"]);
            add("checks", &["rate==1"]);
        }
        "gateway-baseline" => {
            // §4: p95 < 400 ms, p99 < 900 ms, errors < 1%, 1,000,000 transactions a day.
            add("request", &["p(95)<400", "p(99)<900"]);
            add("failed_requests", &["rate<0.01"]);
            add("requests", &[&at_least(11.6)]);
            add("checks", &["rate==1"]);
        }
        "gateway-spike" => {
            // §4: p95 < 500 ms, p99 < 1200 ms, errors < 2%, 20x bursts (> 230/s).
            add("request", &["p(95)<500", "p(99)<1200"]);
            add("failed_requests", &["rate<0.02"]);
            add("requests", &[&at_least(230.0)]);
            add("checks", &["rate==1"]);
        }
        "darkpool-sustained" | "darkpool-peak" => {
            // §5: order submission, matching and market data latency; orders and trades per
            // second, sustained or peak.
            add("new_order", &["p(50)<20", "p(95)<50", "p(99)<100"]);
            add("matching", &["p(50)<5", "p(95)<15", "p(99)<50"]);
            add("md_update", &["p(50)<5", "p(95)<15", "p(99)<50"]);
            let (orders, trades) = if scenario == "darkpool-peak" {
                (5_000.0, 500.0)
            } else {
                (2_000.0, 200.0)
            };
            add("orders", &[&at_least(orders)]);
            add("trades", &[&at_least(trades)]);
            add("failed_requests", &["rate<0.01"]);
            add("checks", &["rate==1"]);
        }
        _ => return None,
    }
    Some(
        list.iter()
            .map(|(metric, expr)| {
                // The expressions are ours and the scaled bounds finite, so they parse; a unit
                // test parses every scenario's at several scales.
                parse(metric, expr).expect("a default threshold parses")
            })
            .collect(),
    )
}

/// The customer's upper-bound targets on `metric` in `scenario` (at scale 1), as
/// `(stat, milliseconds)`, e.g. `[("p(50)", 50.0), ("p(95)", 150.0), ("p(99)", 300.0)]` for
/// `place_bet` in `live-a`: what the load generator's table and plot show beside the measured
/// latency. Empty for an unknown scenario or a metric without such targets.
pub fn targets(scenario: &str, metric: &str) -> Vec<(String, f64)> {
    defaults(scenario, 1.0)
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.metric == metric && t.op.is_upper_bound() && t.stat.is_in_metric_unit())
        .map(|t| (t.stat.key(), t.value))
        .collect()
}

/// Reads thresholds from a file in k6's options shape: JSON
/// `{"thresholds": {"metric": ["p(95)<400", ...]}}` (other keys are ignored; an entry may also be
/// k6's `{"threshold": "p(95)<400", ...}` object, and a metric's list a single string), or, for a
/// file ending in `.toml`, a `[thresholds]` table of the same shape.
///
/// # Errors
///
/// The file cannot be read or is not JSON (TOML); no `thresholds` table; an entry that is not
/// an expression or does not parse; no thresholds at all (a gate that checks nothing would
/// pass anything). Messages name the file.
pub fn load(path: &Path) -> Result<Vec<Threshold>, String> {
    let name = path.display();
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read thresholds {name}: {e}"))?;
    let is_toml = path.extension().and_then(|e| e.to_str()) == Some("toml");
    let root: Value = if is_toml {
        let table: toml::Value =
            toml::from_str(&text).map_err(|e| format!("{name}: not TOML: {e}"))?;
        serde_json::to_value(table).map_err(|e| format!("{name}: {e}"))?
    } else {
        serde_json::from_str(&text).map_err(|e| format!("{name}: not JSON: {e}"))?
    };
    from_options(&root).map_err(|e| format!("{name}: {e}"))
}

/// Reads the `thresholds` of a k6 options object.
fn from_options(root: &Value) -> Result<Vec<Threshold>, String> {
    let table = root.get("thresholds").and_then(Value::as_object).ok_or(
        "no \"thresholds\" table (expected {\"thresholds\": {\"metric\": [\"p(95)<400\"]}})",
    )?;
    let mut out = Vec::new();
    for (metric, entries) in table {
        let entries = match entries {
            Value::Array(list) => list.as_slice(),
            single @ (Value::String(_) | Value::Object(_)) => std::slice::from_ref(single),
            _ => {
                return Err(format!(
                    "thresholds.{metric}: expected a list of expressions"
                ));
            }
        };
        for entry in entries {
            let expr = match entry {
                Value::String(expr) => expr.as_str(),
                Value::Object(fields) => fields
                    .get("threshold")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("thresholds.{metric}: an object needs \"threshold\""))?,
                _ => return Err(format!("thresholds.{metric}: {entry} is not an expression")),
            };
            out.push(parse(metric, expr)?);
            if out.len() > THRESHOLDS_MAX {
                return Err(format!("more than {THRESHOLDS_MAX} thresholds"));
            }
        }
    }
    if out.is_empty() {
        return Err("no thresholds".into());
    }
    Ok(out)
}

/// Judges `summary` by each threshold, in order.
pub fn evaluate(summary: &Summary, thresholds: &[Threshold]) -> Vec<Check> {
    thresholds
        .iter()
        .map(|threshold| {
            let actual = summary.value(&threshold.metric, &threshold.stat.key());
            Check {
                threshold: threshold.clone(),
                actual,
                ok: actual.is_some_and(|a| threshold.op.holds(a, threshold.value)),
            }
        })
        .collect()
}

/// `x` rounded to `digits` significant digits (non-finite values are returned unchanged).
pub(crate) fn tidy(x: f64, digits: usize) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let precision = digits.clamp(1, 17) - 1;
    format!("{x:.precision$e}").parse().unwrap_or(x)
}

/// A number as short as it reads: `x` to 10 significant digits without trailing zeros, e.g.
/// 50 for `0.1 * 500.0` and 11.6 for `11.6 * 1.0`.
pub(crate) fn compact(x: f64) -> String {
    let x = tidy(x, 10);
    if x == 0.0 {
        // Also turns -0 into 0.
        return "0".into();
    }
    format!("{x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(summary: &Summary, metric: &str, expr: &str) -> Check {
        let threshold = parse(metric, expr).unwrap();
        evaluate(summary, &[threshold]).remove(0)
    }

    #[test]
    fn parses_every_stat_and_comparison() {
        let t = parse("place_bet", " p(99.9) <= 300 ").unwrap();
        assert_eq!(t.stat, Stat::Percentile(99.9));
        assert_eq!(t.op, Op::Le);
        assert_eq!(t.value, 300.0);
        assert_eq!(t.expr, "p(99.9) <= 300");
        for (text, stat) in [
            ("avg", Stat::Avg),
            ("min", Stat::Min),
            ("med", Stat::Med),
            ("max", Stat::Max),
            ("p(0)", Stat::Percentile(0.0)),
            ("p( 100 )", Stat::Percentile(100.0)),
            ("rate", Stat::Rate),
            ("count", Stat::Count),
            ("passes", Stat::Passes),
            ("fails", Stat::Fails),
            ("value", Stat::Value),
        ] {
            assert_eq!(
                parse("m", &format!("{text}<1")).unwrap().stat,
                stat,
                "{text}"
            );
        }
        for (text, op) in [
            ("<", Op::Lt),
            ("<=", Op::Le),
            (">", Op::Gt),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("!=", Op::Ne),
        ] {
            let t = parse("m", &format!("rate {text} 0.5")).unwrap();
            assert_eq!(t.op, op, "{text}");
            assert_eq!(t.value, 0.5);
        }
        assert_eq!(parse("m", "count>=-3e2").unwrap().value, -300.0);
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        let cases = [
            ("p95<400", "unknown statistic `p95`"),
            ("mean<400", "unknown statistic `mean`"),
            ("p(101)<400", "outside 0 to 100"),
            ("p(-1)<400", "outside 0 to 100"),
            ("p(x)<400", "`x` is not a number"),
            ("p(NaN)<400", "`NaN` is not a number"),
            ("p(95)=400", "unknown comparison `=`"),
            ("p(95)=<400", "unknown comparison `=<`"),
            ("p(95)<>400", "unknown comparison `<>`"),
            ("p(95) 400", "no comparison"),
            ("p(95)<", "no number"),
            ("p(95)<abc", "`abc` is not a number"),
            ("p(95)<400ms", "`400ms` is not a number"),
            ("p(95)<inf", "`inf` is not a number"),
            ("p(95)<NaN", "`NaN` is not a number"),
            ("", "no comparison"),
        ];
        for (expr, wanted) in cases {
            let error = parse("place_bet", expr).unwrap_err();
            assert!(error.contains(wanted), "{expr}: {error}");
            assert!(error.contains("place_bet"), "{expr}: {error}");
        }
        assert!(
            parse(" ", "p(95)<1")
                .unwrap_err()
                .contains("metric name is empty")
        );
    }

    #[test]
    fn comparisons_hold_as_written() {
        assert!(Op::Lt.holds(1.0, 2.0) && !Op::Lt.holds(2.0, 2.0));
        assert!(Op::Le.holds(2.0, 2.0) && !Op::Le.holds(2.1, 2.0));
        assert!(Op::Gt.holds(3.0, 2.0) && !Op::Gt.holds(2.0, 2.0));
        assert!(Op::Ge.holds(2.0, 2.0) && !Op::Ge.holds(1.9, 2.0));
        assert!(Op::Eq.holds(1.0, 1.0) && !Op::Eq.holds(0.999, 1.0));
        assert!(Op::Ne.holds(0.999, 1.0) && !Op::Ne.holds(1.0, 1.0));
        for op in [Op::Lt, Op::Le, Op::Gt, Op::Ge, Op::Eq, Op::Ne] {
            assert!(!op.holds(f64::NAN, 1.0), "{op:?}");
        }
    }

    #[test]
    fn every_scenario_has_defaults_that_parse_at_any_scale() {
        assert_eq!(SCENARIOS.len(), 13);
        for scenario in SCENARIOS {
            for scale in [0.001, 0.1, 0.37, 1.0, 3.0, 1000.0] {
                let list = defaults(scenario, scale).unwrap();
                assert!(!list.is_empty(), "{scenario}");
                assert!(list.iter().any(|t| t.metric == "checks"), "{scenario}");
                for t in &list {
                    assert_eq!(parse(&t.metric, &t.expr).unwrap(), *t);
                }
            }
        }
        assert_eq!(defaults("live-z", 1.0), None);
        assert_eq!(defaults("live-a", 0.0), None);
        assert_eq!(defaults("live-a", f64::NAN), None);
        assert_eq!(defaults("live-a", f64::INFINITY), None);
    }

    #[test]
    fn scaled_floors_read_compactly() {
        let exprs = |scenario: &str, scale: f64| -> Vec<String> {
            defaults(scenario, scale)
                .unwrap()
                .iter()
                .map(|t| format!("{} {}", t.metric, t.expr))
                .collect()
        };
        let peak = exprs("prediction-peak", 0.1);
        assert!(peak.contains(&"orders rate>=50".to_owned()), "{peak:?}");
        assert!(peak.contains(&"queries rate>=500".to_owned()), "{peak:?}");
        let gateway = exprs("gateway-baseline", 1.0);
        assert!(
            gateway.contains(&"requests rate>=11.6".to_owned()),
            "{gateway:?}"
        );
        let gateway = exprs("gateway-baseline", 0.1);
        assert!(
            gateway.contains(&"requests rate>=1.16".to_owned()),
            "{gateway:?}"
        );
        // 50 * 0.1 is 5.000000000000001 in binary: still 5 markets, not 6.
        let spike = exprs("market-creation-spike", 0.1);
        assert!(
            spike.contains(&"markets_created count>=5".to_owned()),
            "{spike:?}"
        );
        let spike = exprs("market-creation-spike", 0.01);
        assert!(
            spike.contains(&"markets_created count>=1".to_owned()),
            "{spike:?}"
        );
        let peak = exprs("darkpool-peak", 2.0);
        assert!(peak.contains(&"orders rate>=10000".to_owned()), "{peak:?}");
        assert!(peak.contains(&"trades rate>=1000".to_owned()), "{peak:?}");
        // Latency bounds do not scale.
        assert!(peak.contains(&"matching p(99)<50".to_owned()), "{peak:?}");
    }

    #[test]
    fn scenario_specific_delivery_and_throttling() {
        let find = |scenario: &str, metric: &str| -> Vec<String> {
            defaults(scenario, 1.0)
                .unwrap()
                .into_iter()
                .filter(|t| t.metric == metric)
                .map(|t| t.expr)
                .collect()
        };
        assert_eq!(find("live-a", "tick_delivery"), ["rate==1"]);
        assert_eq!(find("live-b", "tick_delivery"), ["rate>0.99"]);
        assert_eq!(find("live-c", "tick_delivery"), ["rate>0.995"]);
        assert_eq!(find("live-b", "throttled"), ["rate>0"]);
        assert!(find("live-a", "throttled").is_empty());
        assert_eq!(find("voting-spike", "throttled"), ["rate<=0.01"]);
        assert_eq!(find("vote-flood", "tally"), ["max<10000"]);
    }

    #[test]
    fn targets_are_the_upper_latency_bounds() {
        let place = targets("live-b", "place_bet");
        assert_eq!(
            place,
            [
                ("p(50)".to_owned(), 50.0),
                ("p(95)".to_owned(), 150.0),
                ("p(99)".to_owned(), 300.0)
            ]
        );
        assert_eq!(
            targets("vote-flood", "tally"),
            [("max".to_owned(), 10_000.0)]
        );
        assert!(targets("live-a", "bets_accepted").is_empty());
        assert!(targets("gateway-baseline", "place_bet").is_empty());
        assert!(targets("nope", "place_bet").is_empty());
    }

    #[test]
    fn evaluate_reads_the_summary() {
        let mut summary = Summary::new("live-a", 1.0, 30.0, "embedded");
        let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        for ms in 1..=100u64 {
            h.record(ms * 1_000_000).unwrap();
        }
        summary.trend("place_bet", &h, 10.0);
        summary.rate("failed_requests", 1, 999);
        summary.counter("orders", 5_000, 10.0);

        let c = check(&summary, "place_bet", "p(95)<150");
        assert!(c.ok);
        let p95 = c.actual.unwrap();
        assert!((94.0..=96.0).contains(&p95), "{p95}");
        assert!(!check(&summary, "place_bet", "p(99)<90").ok);
        // p(50) reads the median; count and rate are there for a trend too.
        assert_eq!(
            check(&summary, "place_bet", "p(50)<1000").actual,
            summary.value("place_bet", "med")
        );
        assert_eq!(
            check(&summary, "place_bet", "count==100").actual,
            Some(100.0)
        );
        assert_eq!(check(&summary, "place_bet", "rate==10").actual, Some(10.0));
        assert!(check(&summary, "failed_requests", "rate<0.01").ok);
        assert!(!check(&summary, "failed_requests", "rate<0.001").ok);
        assert_eq!(
            check(&summary, "failed_requests", "fails==999").actual,
            Some(999.0)
        );
        assert!(check(&summary, "orders", "rate>=500").ok);
        // A missing metric, or a statistic the summary lacks, fails with no value.
        let missing = check(&summary, "cancel_bet", "p(95)<150");
        assert_eq!((missing.actual, missing.ok), (None, false));
        let missing = check(&summary, "place_bet", "p(75)<150");
        assert_eq!((missing.actual, missing.ok), (None, false));
        let missing = check(&summary, "orders", "p(95)<150");
        assert_eq!((missing.actual, missing.ok), (None, false));
    }

    #[test]
    fn loads_k6_options_json_and_toml() {
        let dir = std::env::temp_dir().join(format!("oddsmatch-thresholds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let json = dir.join("t.json");
        std::fs::write(
            &json,
            r#"{"vus": 10, "thresholds": {"place_bet": ["p(95)<400", {"threshold": "p(99)<900", "abortOnFail": true}], "checks": "rate==1"}}"#,
        )
        .unwrap();
        let list = load(&json).unwrap();
        let exprs: Vec<String> = list.iter().map(|t| t.to_string()).collect();
        assert_eq!(
            exprs,
            [
                "checks rate==1",
                "place_bet p(95)<400",
                "place_bet p(99)<900"
            ]
        );

        let toml = dir.join("t.toml");
        std::fs::write(&toml, "[thresholds]\nplace_bet = [\"p(95) < 400\"]\n\"http_req_duration{status:200}\" = [\"avg<2\"]\n").unwrap();
        let list = load(&toml).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].metric, "http_req_duration{status:200}");

        for (text, wanted) in [
            ("{", "not JSON"),
            ("{}", "no \"thresholds\" table"),
            (r#"{"thresholds": {}}"#, "no thresholds"),
            (r#"{"thresholds": {"m": [1]}}"#, "is not an expression"),
            (r#"{"thresholds": {"m": 5}}"#, "expected a list"),
            (
                r#"{"thresholds": {"m": [{"x": 1}]}}"#,
                "needs \"threshold\"",
            ),
            (r#"{"thresholds": {"m": ["p95<1"]}}"#, "unknown statistic"),
        ] {
            std::fs::write(&json, text).unwrap();
            let error = load(&json).unwrap_err();
            assert!(error.contains(wanted), "{text}: {error}");
            assert!(error.contains("t.json"), "{text}: {error}");
        }
        std::fs::write(&toml, "[thresholds\n").unwrap();
        assert!(load(&toml).unwrap_err().contains("not TOML"));
        assert!(
            load(&dir.join("absent.json"))
                .unwrap_err()
                .contains("cannot read")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn compact_numbers() {
        assert_eq!(compact(0.1 * 500.0), "50");
        assert_eq!(compact(11.6 * 1.0), "11.6");
        assert_eq!(compact(11.6 * 0.1), "1.16");
        assert_eq!(compact(99.9), "99.9");
        assert_eq!(compact(-0.0), "0");
        assert_eq!(tidy(5.000000000000001, 10), 5.0);
    }
}
