//! The summary of a load test: k6's `handleSummary` data shape, so that gates written for k6
//! read ours, plus an `oddsmatch` section naming the scenario and scale (`docs/slo-gate.md`
//! describes the file field by field).
//!
//! The call order: [`Summary::new`], then one [`Summary::trend`], [`Summary::rate`] or
//! [`Summary::counter`] per metric and one [`Summary::check`] per pass criterion, then
//! [`thresholds::evaluate`] and [`Summary::apply_thresholds`] to record the outcome, then
//! [`Summary::write`]. A gate calls [`Summary::read`] and [`Summary::value`].
//!
//! **Every figure is a finite number rounded to 15 significant digits** (fewer below 1e-7),
//! so that the file's decimal text reads back as the same `f64`: `from_json(to_json(s)) == s`,
//! and so does a summary written and read back.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

use super::thresholds::{self, Stat, tidy};

/// The trend statistics a summary carries (k6's `summaryTrendStats`), besides `count` and
/// `rate`.
pub const TREND_STATS: [&str; 8] = [
    "avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "p(99.9)",
];

/// The percentiles among [`TREND_STATS`] and their quantiles.
const PERCENTILES: [(&str, f64); 4] = [
    ("p(90)", 0.90),
    ("p(95)", 0.95),
    ("p(99)", 0.99),
    ("p(99.9)", 0.999),
];

/// The significant digits kept of every figure: few enough that the decimal text reads back
/// exactly (below 2^53 as an integer), many more than any measurement has.
const SIGNIFICANT_DIGITS: usize = 15;

const NANOSECONDS_PER_MILLISECOND: f64 = 1_000_000.0;

/// The most metrics a summary may hold when read (a bound on untrusted files).
const METRICS_MAX: usize = 100_000;

/// The most checks a summary may hold when read.
const CHECKS_MAX: usize = 100_000;

/// The deepest nesting of k6 groups read.
const GROUP_DEPTH_MAX: usize = 32;

/// What kind of metric: k6's four.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A distribution (latencies): `avg`, `min`, `med`, `max`, percentiles, `count`, `rate`.
    Trend,
    /// A share of hits: `rate` (hits over all), `passes` (hits), `fails` (misses).
    Rate,
    /// A running total: `count`, and `rate` per second.
    Counter,
    /// k6's gauge (`value`, `min`, `max`); never written by oddsmatch, read from k6 files.
    Gauge,
}

impl Kind {
    /// The name in the summary's `type` field.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Trend => "trend",
            Kind::Rate => "rate",
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }

    fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "trend" => Kind::Trend,
            "rate" => Kind::Rate,
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            _ => return None,
        })
    }
}

/// What a metric's values measure (the summary's `contains` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contains {
    /// Time, in milliseconds.
    Time,
    /// Bytes (k6's `data`).
    Data,
    /// Plain numbers.
    Default,
}

impl Contains {
    /// The name in the summary's `contains` field.
    pub fn name(self) -> &'static str {
        match self {
            Contains::Time => "time",
            Contains::Data => "data",
            Contains::Default => "default",
        }
    }
}

/// One metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Its kind.
    pub kind: Kind,
    /// What its values measure.
    pub contains: Contains,
    /// Its statistics by name (`p(95)`, `rate`, ...), in the metric's unit.
    pub values: BTreeMap<String, f64>,
    /// The thresholds judged on it: expression to whether it held.
    pub thresholds: BTreeMap<String, bool>,
}

impl Metric {
    /// The statistic `stat`: its own key, else an equivalent one (`p(50)` and `med`, `p(0)` and
    /// `min`, `p(100)` and `max`, `p(99.90)` and `p(99.9)`).
    pub fn get(&self, stat: Stat) -> Option<f64> {
        if let Some(v) = self.values.get(&stat.key()) {
            return Some(*v);
        }
        let alias = match stat {
            Stat::Med => Some(Stat::Percentile(50.0)),
            Stat::Min => Some(Stat::Percentile(0.0)),
            Stat::Max => Some(Stat::Percentile(100.0)),
            Stat::Percentile(50.0) => Some(Stat::Med),
            Stat::Percentile(0.0) => Some(Stat::Min),
            Stat::Percentile(100.0) => Some(Stat::Max),
            _ => None,
        };
        if let Some(v) = alias.and_then(|a| self.values.get(&a.key())) {
            return Some(*v);
        }
        // Keys written another way, e.g. `p(99.90)`.
        self.values
            .iter()
            .find(|(key, _)| {
                key.starts_with("p(")
                    && Stat::parse(key).is_ok_and(|s| s == stat || Some(s) == alias)
            })
            .map(|(_, v)| *v)
    }
}

/// One of the root group's checks (a pass criterion counted in passes and fails).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupCheck {
    /// The check's name.
    pub name: String,
    /// Its k6 path: `::name` for the root group's, `::group::name` for a k6 group's.
    pub path: String,
    /// Times it held.
    pub passes: u64,
    /// Times it did not.
    pub fails: u64,
}

/// The `oddsmatch` section: what was run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The scenario, e.g. `live-a`.
    pub scenario: String,
    /// The scale it ran at.
    pub scale: f64,
    /// The load window in seconds.
    pub duration_s: f64,
    /// `embedded`, or the node's order-entry address.
    pub target: String,
    /// The oddsmatch version that wrote the summary.
    pub version: String,
}

/// A load test's summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// What was run; `None` for a k6 summary.
    pub run: Option<Run>,
    /// The whole run's duration in milliseconds (`state.testRunDurationMs`).
    pub run_duration_ms: f64,
    /// The metrics by name.
    pub metrics: BTreeMap<String, Metric>,
    /// The checks of the root group (and, read from k6, of its groups), in order.
    pub checks: Vec<GroupCheck>,
}

/// A figure as the summary keeps it: finite (else 0) and rounded to at most
/// [`SIGNIFICANT_DIGITS`], fewer below 1e-7 and 0 below 1e-21. serde_json (without its
/// `float_roundtrip` feature) reads a decimal exactly when its digits, as an integer, and its
/// power of ten are both exact in an `f64` (below 2^53 and 1e22), and that is what this keeps.
fn figure(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return 0.0;
    }
    // A digit to spare, in case log10 lands just below a power of ten.
    let exponent = x.abs().log10().floor() as i64;
    let digits = (exponent + 21).min(SIGNIFICANT_DIGITS as i64);
    if digits < 1 {
        return 0.0;
    }
    tidy(x, digits as usize)
}

/// A figure as JSON: a whole number as an integer (`2`, as k6 writes it, not `2.0`), else as
/// a float. Either reads back as the same `f64`.
fn json_number(x: f64) -> Value {
    /// Below 2^53 every whole `f64` is exactly an `i64`.
    const EXACT_MAX: f64 = 9_007_199_254_740_992.0;
    if x.fract() == 0.0 && x.abs() < EXACT_MAX {
        // Whole and in range: the cast is exact (and -0 becomes 0).
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// `count` per second over `elapsed_s` (0 for no time).
fn per_second(count: u64, elapsed_s: f64) -> f64 {
    if elapsed_s.is_finite() && elapsed_s > 0.0 {
        figure(count as f64 / elapsed_s)
    } else {
        0.0
    }
}

/// A k6-style id for a group or check path: FNV-1a 64 of the path in hex (k6 uses MD5; gates
/// use ids only to tell items apart).
fn path_id(path: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in path.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

impl Summary {
    /// An empty summary of `scenario` at `scale` with a load window of `duration_s` seconds
    /// against `target` (`embedded` or an address). The run's duration starts as the window's
    /// until [`Summary::set_run_duration_ms`].
    pub fn new(scenario: &str, scale: f64, duration_s: f64, target: &str) -> Summary {
        Summary {
            run: Some(Run {
                scenario: scenario.to_owned(),
                scale: figure(scale),
                duration_s: figure(duration_s),
                target: target.to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            }),
            run_duration_ms: figure(duration_s * 1e3),
            metrics: BTreeMap::new(),
            checks: Vec::new(),
        }
    }

    /// Records the trend `name` from a histogram of nanoseconds: [`TREND_STATS`] in
    /// milliseconds, `count`, and `rate` (count per second over `elapsed_s`). An empty
    /// histogram has only `count` and `rate` (0), so thresholds on its latency read as missing.
    /// Replaces a metric of the same name.
    pub fn trend(&mut self, name: &str, histogram_ns: &Histogram<u64>, elapsed_s: f64) {
        let ms = |ns: u64| figure(ns as f64 / NANOSECONDS_PER_MILLISECOND);
        let count = histogram_ns.len();
        let mut values = BTreeMap::new();
        values.insert("count".to_owned(), count as f64);
        values.insert("rate".to_owned(), per_second(count, elapsed_s));
        if count > 0 {
            values.insert(
                "avg".to_owned(),
                figure(histogram_ns.mean() / NANOSECONDS_PER_MILLISECOND),
            );
            values.insert("min".to_owned(), ms(histogram_ns.min()));
            values.insert("med".to_owned(), ms(histogram_ns.value_at_quantile(0.5)));
            values.insert("max".to_owned(), ms(histogram_ns.max()));
            for (key, quantile) in PERCENTILES {
                values.insert(key.to_owned(), ms(histogram_ns.value_at_quantile(quantile)));
            }
        }
        self.insert(name, Kind::Trend, Contains::Time, values);
    }

    /// Records the rate `name`: `rate` = hits / (hits + misses) (0 when both are 0),
    /// `passes` = hits, `fails` = misses. As in k6, a hit is whatever the metric counts: for
    /// `failed_requests` a hit is a failed request.
    pub fn rate(&mut self, name: &str, hits: u64, misses: u64) {
        let all = hits.saturating_add(misses);
        let rate = if all == 0 {
            0.0
        } else {
            figure(hits as f64 / all as f64)
        };
        let values = BTreeMap::from([
            ("rate".to_owned(), rate),
            ("passes".to_owned(), hits as f64),
            ("fails".to_owned(), misses as f64),
        ]);
        self.insert(name, Kind::Rate, Contains::Default, values);
    }

    /// Records the counter `name`: `count`, and `rate` = count per second over `elapsed_s`.
    pub fn counter(&mut self, name: &str, count: u64, elapsed_s: f64) {
        let values = BTreeMap::from([
            ("count".to_owned(), count as f64),
            ("rate".to_owned(), per_second(count, elapsed_s)),
        ]);
        self.insert(name, Kind::Counter, Contains::Default, values);
    }

    fn insert(
        &mut self,
        name: &str,
        kind: Kind,
        contains: Contains,
        values: BTreeMap<String, f64>,
    ) {
        self.metrics.insert(
            name.to_owned(),
            Metric {
                kind,
                contains,
                values,
                thresholds: BTreeMap::new(),
            },
        );
    }

    /// Records the root group's check `name`; a second call with the same name adds to its
    /// counts (k6 counts a check each time it runs).
    pub fn check(&mut self, name: &str, passes: u64, fails: u64) {
        match self.checks.iter_mut().find(|c| c.name == name) {
            Some(check) => {
                check.passes = check.passes.saturating_add(passes);
                check.fails = check.fails.saturating_add(fails);
            }
            None => self.checks.push(GroupCheck {
                name: name.to_owned(),
                path: format!("::{name}"),
                passes,
                fails,
            }),
        }
    }

    /// Sets the whole run's duration (setup, load and checks) in milliseconds.
    pub fn set_run_duration_ms(&mut self, ms: f64) {
        self.run_duration_ms = figure(ms);
    }

    /// Records each check's outcome under its metric's `thresholds`, keyed by the expression.
    /// A check on a metric the summary does not have is not recorded (there is nowhere to put
    /// it; [`thresholds::evaluate`] already failed it).
    pub fn apply_thresholds(&mut self, checks: &[thresholds::Check]) {
        for check in checks {
            if let Some(metric) = self.metrics.get_mut(&check.threshold.metric) {
                metric
                    .thresholds
                    .insert(check.threshold.expr.clone(), check.ok);
            }
        }
    }

    /// The scenario that was run; empty for a k6 summary.
    pub fn scenario(&self) -> &str {
        self.run.as_ref().map_or("", |r| r.scenario.as_str())
    }

    /// The scale it ran at; 1 for a k6 summary.
    pub fn scale(&self) -> f64 {
        self.run.as_ref().map_or(1.0, |r| r.scale)
    }

    /// The statistic `stat` (`p(95)`, `rate`, `med`, ...) of `metric`, in the metric's unit;
    /// `None` when either is missing. `p(50)` finds `med` and the other way round.
    pub fn value(&self, metric: &str, stat: &str) -> Option<f64> {
        let m = self.metrics.get(metric)?;
        if let Some(v) = m.values.get(stat) {
            return Some(*v);
        }
        m.get(Stat::parse(stat).ok()?)
    }

    /// The summary as JSON: k6's `handleSummary` data plus the `oddsmatch` section.
    pub fn to_json(&self) -> Value {
        let checks: Vec<Value> = self
            .checks
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "path": c.path,
                    "id": path_id(&c.path),
                    "passes": c.passes,
                    "fails": c.fails,
                })
            })
            .collect();
        let metrics: Map<String, Value> = self
            .metrics
            .iter()
            .map(|(name, m)| {
                let values: Map<String, Value> = m
                    .values
                    .iter()
                    .map(|(stat, x)| (stat.clone(), json_number(*x)))
                    .collect();
                let mut out = json!({
                    "type": m.kind.name(),
                    "contains": m.contains.name(),
                    "values": values,
                });
                if !m.thresholds.is_empty() {
                    let thresholds: Map<String, Value> = m
                        .thresholds
                        .iter()
                        .map(|(expr, ok)| (expr.clone(), json!({ "ok": ok })))
                        .collect();
                    out["thresholds"] = Value::Object(thresholds);
                }
                (name.clone(), out)
            })
            .collect();
        let mut root = json!({
            "root_group": {
                "name": "",
                "path": "",
                "id": path_id(""),
                "groups": [],
                "checks": checks,
            },
            "options": {
                "summaryTrendStats": TREND_STATS,
                "summaryTimeUnit": "ms",
            },
            "state": {
                "isStdOutTTY": false,
                "isStdErrTTY": false,
                "testRunDurationMs": json_number(self.run_duration_ms),
            },
            "metrics": metrics,
        });
        if let Some(run) = &self.run {
            root["oddsmatch"] = json!({
                "scenario": run.scenario,
                "scale": json_number(run.scale),
                "duration_s": json_number(run.duration_s),
                "target": run.target,
                "version": run.version,
            });
        }
        root
    }

    /// Reads a summary: ours, k6's `handleSummary` data (no `oddsmatch` section), or k6's
    /// older `--summary-export` file (metrics' statistics beside `type` instead of under
    /// `values`, checks and groups keyed by name). Unknown fields are ignored.
    ///
    /// # Errors
    ///
    /// Not an object; no `metrics` object; a field of the wrong type (a statistic that is not a
    /// number, a check without counts, an `oddsmatch` section without a scenario or with a
    /// scale that is not positive). The message names the field.
    pub fn from_json(v: &Value) -> Result<Summary, String> {
        let root = v.as_object().ok_or("not a JSON object")?;
        let metrics_json = root
            .get("metrics")
            .and_then(Value::as_object)
            .ok_or("no \"metrics\" object: not a k6 or oddsmatch summary")?;
        if metrics_json.len() > METRICS_MAX {
            return Err(format!("more than {METRICS_MAX} metrics"));
        }
        let mut metrics = BTreeMap::new();
        for (name, m) in metrics_json {
            let metric = metric_from_json(m).map_err(|e| format!("metrics.{name}{e}"))?;
            metrics.insert(name.clone(), metric);
        }
        let run_duration_ms = match root.get("state").and_then(|s| s.get("testRunDurationMs")) {
            None | Some(Value::Null) => 0.0,
            Some(v) => number(v).ok_or("state.testRunDurationMs: not a number")?,
        };
        let run = match root.get("oddsmatch") {
            None | Some(Value::Null) => None,
            Some(section) => Some(run_from_json(section).map_err(|e| format!("oddsmatch{e}"))?),
        };
        let mut checks = Vec::new();
        if let Some(group) = root.get("root_group") {
            collect_checks(group, "root_group", 0, &mut checks)?;
        }
        Ok(Summary {
            run,
            run_duration_ms,
            metrics,
            checks,
        })
    }

    /// Writes the summary to `path` as pretty-printed JSON.
    ///
    /// # Errors
    ///
    /// The file cannot be written.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let mut text = serde_json::to_string_pretty(&self.to_json())
            .map_err(|e| format!("cannot encode the summary: {e}"))?;
        text.push('\n');
        std::fs::write(path, text)
            .map_err(|e| format!("cannot write the summary {}: {e}", path.display()))
    }

    /// Reads a summary file written by [`Summary::write`] or by k6.
    ///
    /// # Errors
    ///
    /// The file cannot be read, is not JSON, or is not a summary ([`Summary::from_json`]);
    /// the message names the file.
    pub fn read(path: &Path) -> Result<Summary, String> {
        let name = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the summary {name}: {e}"))?;
        let json: Value =
            serde_json::from_str(&text).map_err(|e| format!("{name}: not JSON: {e}"))?;
        Summary::from_json(&json).map_err(|e| format!("{name}: {e}"))
    }
}

/// A JSON number as a finite `f64`.
fn number(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

/// Reads one metric; errors start with the field's path below the metric (`.values.p(95): ...`).
fn metric_from_json(m: &Value) -> Result<Metric, String> {
    let fields = m.as_object().ok_or(": not an object")?;
    let kind = match fields.get("type") {
        None => None,
        Some(t) => {
            let name = t.as_str().ok_or(".type: not a string")?;
            Some(Kind::from_name(name).ok_or_else(|| {
                format!(".type: unknown metric type {t} (trend, rate, counter or gauge)")
            })?)
        }
    };
    let contains = match fields.get("contains").and_then(Value::as_str) {
        Some("time") => Contains::Time,
        Some("data") => Contains::Data,
        _ => Contains::Default,
    };
    let mut values = BTreeMap::new();
    match fields.get("values") {
        Some(Value::Object(stats)) => {
            for (stat, v) in stats {
                let x = number(v).ok_or_else(|| format!(".values.{stat}: not a number"))?;
                values.insert(stat.clone(), x);
            }
        }
        Some(_) => return Err(".values: not an object".into()),
        // k6's --summary-export: the statistics sit beside `type`; only they are numbers.
        None => {
            for (stat, v) in fields {
                if let Some(x) = number(v) {
                    values.insert(stat.clone(), x);
                }
            }
        }
    }
    let has = |key: &str| values.contains_key(key);
    let kind = kind.unwrap_or(if has("passes") || has("fails") {
        Kind::Rate
    } else if has("avg") || has("med") || has("p(95)") {
        Kind::Trend
    } else if has("count") {
        Kind::Counter
    } else {
        Kind::Gauge
    });
    if kind == Kind::Rate && !has("rate") {
        // --summary-export calls a rate's share `value`.
        if let Some(v) = values.remove("value") {
            values.insert("rate".to_owned(), v);
        }
    }
    let mut thresholds = BTreeMap::new();
    match fields.get("thresholds") {
        None | Some(Value::Null) => {}
        Some(Value::Object(list)) => {
            for (expr, outcome) in list {
                let ok = match outcome {
                    Value::Object(o) => o.get("ok").and_then(Value::as_bool),
                    // --summary-export writes whether the threshold was crossed.
                    Value::Bool(crossed) => Some(!crossed),
                    _ => None,
                }
                .ok_or_else(|| format!(".thresholds.{expr}: expected {{\"ok\": true or false}}"))?;
                thresholds.insert(expr.clone(), ok);
            }
        }
        Some(_) => return Err(".thresholds: not an object".into()),
    }
    Ok(Metric {
        kind,
        contains,
        values,
        thresholds,
    })
}

/// Reads the `oddsmatch` section; errors start with the field's path (`.scale: ...`).
fn run_from_json(section: &Value) -> Result<Run, String> {
    let text = |key: &str| section.get(key).and_then(Value::as_str).map(str::to_owned);
    if !section.is_object() {
        return Err(": not an object".into());
    }
    let scenario = text("scenario").ok_or(".scenario: missing or not a string")?;
    let scale = section
        .get("scale")
        .and_then(number)
        .filter(|s| *s > 0.0)
        .ok_or(".scale: missing or not a positive number")?;
    let duration_s = match section.get("duration_s") {
        None | Some(Value::Null) => 0.0,
        Some(v) => number(v).ok_or(".duration_s: not a number")?,
    };
    Ok(Run {
        scenario,
        scale,
        duration_s,
        target: text("target").unwrap_or_default(),
        version: text("version").unwrap_or_default(),
    })
}

/// Collects a group's checks and its subgroups', depth first. `at` names the group in errors.
fn collect_checks(
    group: &Value,
    at: &str,
    depth: usize,
    out: &mut Vec<GroupCheck>,
) -> Result<(), String> {
    if depth > GROUP_DEPTH_MAX {
        return Err(format!("{at}: groups nested deeper than {GROUP_DEPTH_MAX}"));
    }
    if !group.is_object() {
        return Err(format!("{at}: not an object"));
    }
    // handleSummary writes lists; --summary-export writes objects keyed by name.
    let items = |key: &str| -> Result<Vec<&Value>, String> {
        match group.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(list)) => Ok(list.iter().collect()),
            Some(Value::Object(map)) => Ok(map.values().collect()),
            Some(_) => Err(format!("{at}.{key}: not a list")),
        }
    };
    for (i, check) in items("checks")?.into_iter().enumerate() {
        let here = format!("{at}.checks[{i}]");
        let name = check
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{here}.name: missing or not a string"))?;
        let count = |key: &str| {
            check
                .get(key)
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("{here}.{key}: missing or not a whole number"))
        };
        let path = check
            .get("path")
            .and_then(Value::as_str)
            .map_or_else(|| format!("::{name}"), str::to_owned);
        if out.len() >= CHECKS_MAX {
            return Err(format!("more than {CHECKS_MAX} checks"));
        }
        out.push(GroupCheck {
            name: name.to_owned(),
            path,
            passes: count("passes")?,
            fails: count("fails")?,
        });
    }
    for (i, sub) in items("groups")?.into_iter().enumerate() {
        collect_checks(sub, &format!("{at}.groups[{i}]"), depth + 1, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram_ms(values_ms: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for ms in values_ms {
            h.record(ms * 1_000_000).unwrap();
        }
        h
    }

    fn sample() -> Summary {
        let mut s = Summary::new("live-a", 0.5, 30.0, "embedded");
        let latencies: Vec<u64> = (1..=1000).collect();
        s.trend("place_bet", &histogram_ms(&latencies), 30.0);
        // An awkward histogram: values that are not whole milliseconds.
        let mut h = Histogram::<u64>::new(3).unwrap();
        for ns in [123_457u64, 9_876_543, 31_415_926, 1] {
            h.record(ns).unwrap();
        }
        s.trend("odds_tick", &h, 7.0);
        s.trend("telemetry", &Histogram::<u64>::new(3).unwrap(), 30.0);
        s.rate("failed_requests", 3, 997);
        s.rate("tick_delivery", 0, 0);
        s.counter("orders", 1234, 29.7);
        s.check("every user logged in", 1, 0);
        s.check("settlement consistent", 0, 1);
        s.set_run_duration_ms(31_234.567_891);
        let results = thresholds::evaluate(&s, &thresholds::defaults("live-a", 0.5).unwrap());
        s.apply_thresholds(&results);
        s
    }

    #[test]
    fn trend_values_are_milliseconds() {
        let s = sample();
        let m = &s.metrics["place_bet"];
        assert_eq!(m.kind, Kind::Trend);
        assert_eq!(m.contains, Contains::Time);
        let keys: Vec<&str> = m.values.keys().map(String::as_str).collect();
        let mut wanted: Vec<&str> = TREND_STATS.to_vec();
        wanted.extend(["count", "rate"]);
        wanted.sort_unstable();
        assert_eq!(keys, wanted);
        assert_eq!(s.value("place_bet", "count"), Some(1000.0));
        assert_eq!(s.value("place_bet", "rate"), Some(figure(1000.0 / 30.0)));
        let near = |stat: &str, ms: f64| {
            let v = s.value("place_bet", stat).unwrap();
            assert!((v - ms).abs() <= ms * 0.002, "{stat}: {v} vs {ms}");
        };
        // hdrhistogram keeps 3 significant digits: each figure is within 0.1% of the truth.
        near("min", 1.0);
        near("med", 500.0);
        near("p(50)", 500.0);
        near("p(90)", 900.0);
        near("p(95)", 950.0);
        near("p(99)", 990.0);
        near("p(99.9)", 999.0);
        near("max", 1000.0);
        near("avg", 500.5);
        // An empty histogram: a count, no latencies.
        assert_eq!(s.value("telemetry", "count"), Some(0.0));
        assert_eq!(s.value("telemetry", "p(95)"), None);
    }

    #[test]
    fn rates_and_counters() {
        let s = sample();
        assert_eq!(s.value("failed_requests", "rate"), Some(0.003));
        assert_eq!(s.value("failed_requests", "passes"), Some(3.0));
        assert_eq!(s.value("failed_requests", "fails"), Some(997.0));
        assert_eq!(s.value("tick_delivery", "rate"), Some(0.0));
        assert_eq!(s.value("orders", "count"), Some(1234.0));
        assert_eq!(s.value("orders", "rate"), Some(figure(1234.0 / 29.7)));
        let mut s = Summary::new("x", 1.0, 0.0, "embedded");
        s.counter("orders", 5, 0.0);
        assert_eq!(s.value("orders", "rate"), Some(0.0));
        assert_eq!(s.value("nothing", "rate"), None);
        assert_eq!(s.value("orders", "p(95)"), None);
        assert_eq!(s.value("orders", "bogus"), None);
    }

    #[test]
    fn thresholds_and_checks_are_recorded() {
        let s = sample();
        assert_eq!(
            s.metrics["place_bet"].thresholds.get("p(99)<300"),
            Some(&false)
        );
        assert_eq!(
            s.metrics["place_bet"].thresholds.get("p(50)<50"),
            Some(&false)
        );
        assert_eq!(s.metrics["failed_requests"].thresholds.len(), 0);
        assert_eq!(s.checks.len(), 2);
        assert_eq!(s.checks[1].path, "::settlement consistent");
        let json = s.to_json();
        assert_eq!(
            json["metrics"]["place_bet"]["thresholds"]["p(99)<300"]["ok"],
            false
        );
        assert_eq!(json["root_group"]["checks"][1]["fails"], 1);
        assert_eq!(json["oddsmatch"]["scenario"], "live-a");
        assert_eq!(json["oddsmatch"]["scale"], 0.5);
        assert_eq!(json["oddsmatch"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(json["options"]["summaryTrendStats"][7], "p(99.9)");
        assert_eq!(json["state"]["isStdOutTTY"], false);
        assert_eq!(json["state"]["testRunDurationMs"], 31_234.567_891);
        assert_eq!(json["metrics"]["failed_requests"]["type"], "rate");
        assert_eq!(json["metrics"]["orders"]["contains"], "default");
        let mut again = s.clone();
        again.check("settlement consistent", 2, 3);
        assert_eq!((again.checks[1].passes, again.checks[1].fails), (2, 4));
    }

    #[test]
    fn round_trips_through_json_and_a_file() {
        let s = sample();
        assert_eq!(Summary::from_json(&s.to_json()).unwrap(), s);
        let path =
            std::env::temp_dir().join(format!("oddsmatch-summary-{}.json", std::process::id()));
        s.write(&path).unwrap();
        let read = Summary::read(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read.unwrap(), s);
        assert_eq!(s.scenario(), "live-a");
        assert_eq!(s.scale(), 0.5);
    }

    #[test]
    fn figures_read_back_exactly_from_text() {
        // serde_json parses without its float_roundtrip feature here: figures are kept to 15
        // significant digits so that their shortest decimal still reads back exactly.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..100_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let mantissa = (state >> 11) as f64 / (1u64 << 53) as f64;
            let exponent = ((state >> 3) % 56) as i32 - 25;
            let x = figure(mantissa * 10f64.powi(exponent));
            let text = serde_json::to_string(&json_number(x)).unwrap();
            let back: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back.as_f64(), Some(x), "{text}");
        }
        assert_eq!(json_number(2.0).to_string(), "2");
        assert_eq!(json_number(-0.0).to_string(), "0");
        assert_eq!(json_number(0.5).to_string(), "0.5");
    }

    #[test]
    fn reads_k6_handle_summary_data() {
        let k6 = json!({
            "root_group": {
                "name": "", "path": "", "id": "d41d8cd98f00b204e9800998ecf8427e",
                "groups": [{"name": "login", "path": "::login", "id": "x", "groups": [],
                            "checks": [{"name": "status 200", "path": "::login::status 200",
                                        "id": "y", "passes": 9, "fails": 1}]}],
                "checks": [{"name": "is up", "path": "::is up", "id": "z", "passes": 3, "fails": 0}]
            },
            "options": {"summaryTrendStats": ["avg", "p(95)"], "summaryTimeUnit": "", "noColor": false},
            "state": {"isStdOutTTY": true, "isStdErrTTY": true, "testRunDurationMs": 1234.5},
            "metrics": {
                "http_req_duration": {"type": "trend", "contains": "time",
                    "values": {"avg": 140.3, "p(95)": 148.2, "med": 140.9},
                    "thresholds": {"p(95)<500": {"ok": true}}},
                "http_req_failed": {"type": "rate", "contains": "default",
                    "values": {"rate": 0.0, "passes": 0, "fails": 45}},
                "http_reqs": {"type": "counter", "contains": "default",
                    "values": {"count": 45, "rate": 6.56}},
                "data_received": {"type": "counter", "contains": "data",
                    "values": {"count": 1300000, "rate": 31000}},
                "vus": {"type": "gauge", "contains": "default",
                    "values": {"value": 1, "min": 1, "max": 19}}
            }
        });
        let s = Summary::from_json(&k6).unwrap();
        assert_eq!(s.run, None);
        assert_eq!(s.scenario(), "");
        assert_eq!(s.scale(), 1.0);
        assert_eq!(s.run_duration_ms, 1234.5);
        assert_eq!(s.value("http_req_duration", "p(95)"), Some(148.2));
        assert_eq!(s.value("http_req_duration", "p(50)"), Some(140.9));
        assert_eq!(s.value("vus", "value"), Some(1.0));
        assert_eq!(s.metrics["vus"].kind, Kind::Gauge);
        assert_eq!(s.metrics["data_received"].contains, Contains::Data);
        assert!(s.metrics["http_req_duration"].thresholds["p(95)<500"]);
        let names: Vec<&str> = s.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["is up", "status 200"]);
        assert_eq!(s.checks[1].path, "::login::status 200");
        assert_eq!(s.checks[1].fails, 1);
        assert_eq!(Summary::from_json(&s.to_json()).unwrap(), s);
    }

    #[test]
    fn reads_k6_summary_export() {
        let legacy = json!({
            "root_group": {"name": "", "path": "", "id": "r", "groups": {},
                "checks": {"is up": {"name": "is up", "path": "::is up", "id": "c", "passes": 2, "fails": 1}}},
            "metrics": {
                "http_req_duration": {"avg": 140.3, "min": 100, "med": 140.9, "max": 154.6,
                    "p(90)": 146.8, "p(95)": 148.2, "thresholds": {"p(95)<500": false}},
                "http_req_failed": {"passes": 0, "fails": 45, "value": 0.0,
                    "thresholds": {"rate<0.01": true}},
                "http_reqs": {"count": 45, "rate": 6.56},
                "vus": {"value": 1, "min": 1, "max": 19}
            }
        });
        let s = Summary::from_json(&legacy).unwrap();
        assert_eq!(s.metrics["http_req_duration"].kind, Kind::Trend);
        assert_eq!(s.value("http_req_duration", "p(95)"), Some(148.2));
        assert!(s.metrics["http_req_duration"].thresholds["p(95)<500"]);
        assert_eq!(s.metrics["http_req_failed"].kind, Kind::Rate);
        assert_eq!(s.value("http_req_failed", "rate"), Some(0.0));
        assert!(!s.metrics["http_req_failed"].thresholds["rate<0.01"]);
        assert_eq!(s.metrics["http_reqs"].kind, Kind::Counter);
        assert_eq!(s.metrics["vus"].kind, Kind::Gauge);
        assert_eq!(s.checks[0].fails, 1);
    }

    #[test]
    fn malformed_summaries_are_named_not_panicked_on() {
        let cases = [
            (json!([]), "not a JSON object"),
            (json!({}), "no \"metrics\" object"),
            (json!({"metrics": []}), "no \"metrics\" object"),
            (json!({"metrics": {"m": 5}}), "metrics.m: not an object"),
            (
                json!({"metrics": {"m": {"type": "histogram"}}}),
                "metrics.m.type: unknown metric type",
            ),
            (
                json!({"metrics": {"m": {"type": 1}}}),
                "metrics.m.type: not a string",
            ),
            (
                json!({"metrics": {"m": {"values": []}}}),
                "metrics.m.values: not an object",
            ),
            (
                json!({"metrics": {"m": {"values": {"p(95)": "fast"}}}}),
                "metrics.m.values.p(95): not a number",
            ),
            (
                json!({"metrics": {"m": {"values": {"p(95)": null}}}}),
                "metrics.m.values.p(95): not a number",
            ),
            (
                json!({"metrics": {"m": {"values": {}, "thresholds": {"x": 1}}}}),
                "metrics.m.thresholds.x",
            ),
            (
                json!({"metrics": {}, "state": {"testRunDurationMs": "1"}}),
                "testRunDurationMs",
            ),
            (
                json!({"metrics": {}, "oddsmatch": {"scale": 1}}),
                "oddsmatch.scenario",
            ),
            (
                json!({"metrics": {}, "oddsmatch": {"scenario": "live-a", "scale": 0}}),
                "oddsmatch.scale",
            ),
            (
                json!({"metrics": {}, "oddsmatch": {"scenario": "live-a", "scale": "1"}}),
                "oddsmatch.scale",
            ),
            (
                json!({"metrics": {}, "oddsmatch": 3}),
                "oddsmatch: not an object",
            ),
            (
                json!({"metrics": {}, "root_group": []}),
                "root_group: not an object",
            ),
            (
                json!({"metrics": {}, "root_group": {"checks": 1}}),
                "root_group.checks: not a list",
            ),
            (
                json!({"metrics": {}, "root_group": {"checks": [{"name": "a", "passes": 1}]}}),
                "root_group.checks[0].fails",
            ),
            (
                json!({"metrics": {}, "root_group": {"checks": [{"name": "a", "passes": -1, "fails": 0}]}}),
                "root_group.checks[0].passes",
            ),
            (
                json!({"metrics": {}, "root_group": {"checks": [{"passes": 1, "fails": 0}]}}),
                "root_group.checks[0].name",
            ),
            (
                json!({"metrics": {}, "root_group": {"groups": [{"checks": [{}]}]}}),
                "root_group.groups[0].checks[0].name",
            ),
        ];
        for (json, wanted) in cases {
            let error = Summary::from_json(&json).unwrap_err();
            assert!(error.contains(wanted), "{json}: {error}");
        }
        let mut deep = json!({"checks": []});
        for _ in 0..40 {
            deep = json!({"groups": [deep]});
        }
        let error = Summary::from_json(&json!({"metrics": {}, "root_group": deep})).unwrap_err();
        assert!(error.contains("nested deeper"), "{error}");
    }

    #[test]
    fn read_names_the_file() {
        let dir =
            std::env::temp_dir().join(format!("oddsmatch-summary-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{\"metrics\": ").unwrap();
        let error = Summary::read(&bad).unwrap_err();
        assert!(error.contains("bad.json: not JSON"), "{error}");
        let error = Summary::read(&dir.join("absent.json")).unwrap_err();
        assert!(error.contains("cannot read the summary"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
