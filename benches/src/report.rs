//! The engine benchmark's results, as data (serialisable to JSON) and as an aligned table.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Which book implementation a result is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BookKind {
    /// `LadderBook`, the engine's fast default.
    Ladder,
    /// `ReferenceBook`, the naive model (`BTreeMap` of `VecDeque`s).
    Reference,
}

impl BookKind {
    /// Both books, fast first.
    pub const ALL: [BookKind; 2] = [BookKind::Ladder, BookKind::Reference];

    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            BookKind::Ladder => "ladder",
            BookKind::Reference => "reference",
        }
    }
}

/// Per-command latency percentiles in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p99_9_ns: u64,
    /// 99.99th percentile.
    pub p99_99_ns: u64,
    /// The slowest command.
    pub max_ns: u64,
    /// Mean.
    pub mean_ns: f64,
}

impl Percentiles {
    /// Reads the percentiles of a histogram of nanoseconds.
    pub fn of(histogram_ns: &Histogram<u64>) -> Percentiles {
        Percentiles {
            p50_ns: histogram_ns.value_at_quantile(0.5),
            p90_ns: histogram_ns.value_at_quantile(0.9),
            p99_ns: histogram_ns.value_at_quantile(0.99),
            p99_9_ns: histogram_ns.value_at_quantile(0.999),
            p99_99_ns: histogram_ns.value_at_quantile(0.9999),
            max_ns: histogram_ns.max(),
            mean_ns: histogram_ns.mean(),
        }
    }
}

/// How often one op occurs in a stream.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpShare {
    /// The op's name.
    pub op: &'static str,
    /// Commands of this op in the stream.
    pub commands: u64,
    /// Share of the stream.
    pub fraction: f64,
}

/// The latency of one op's commands.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpLatency {
    /// The op's name.
    pub op: &'static str,
    /// Commands of this op in the stream.
    pub commands: u64,
    /// Their latency (timer overhead included).
    pub latency: Percentiles,
}

/// The workload of one market count.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadSummary {
    /// Number of markets.
    pub markets: u32,
    /// Selections per market.
    pub selections_per_market: u32,
    /// Maker accounts.
    pub makers: u32,
    /// Taker accounts.
    pub takers: u32,
    /// Commands in the (unmeasured) setup.
    pub setup_commands: usize,
    /// Measured commands.
    pub commands: usize,
    /// Resting orders when the stream starts.
    pub resting_at_start: u32,
    /// Resting orders when the stream ends.
    pub resting_at_end: u32,
    /// The ops the stream holds.
    pub mix: Vec<OpShare>,
    /// Share of commands that produced at least one trade.
    pub traded_fraction: f64,
    /// Share of commands that were rejected.
    pub rejected_fraction: f64,
    /// Time taken to generate the workload, in seconds (not part of any measurement).
    pub generate_seconds: f64,
}

/// One book on one market count.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BookResult {
    /// Number of markets.
    pub markets: u32,
    /// The book implementation.
    pub book: BookKind,
    /// Median over the throughput passes.
    pub commands_per_second: f64,
    /// Every throughput pass, in the order run.
    pub commands_per_second_passes: Vec<f64>,
    /// Per-command latency from the latency pass (timer overhead included).
    pub latency: Percentiles,
    /// The same, by op.
    pub latency_by_op: Vec<OpLatency>,
    /// Share of commands that produced at least one trade.
    pub traded_fraction: f64,
    /// Share of commands that were rejected.
    pub rejected_fraction: f64,
    /// Throughput over the reference book's on the same workload (1 for the reference).
    pub ratio_to_reference: f64,
    /// The engine's state hash after the stream, in hex.
    pub state_hash: String,
}

/// Everything `oddsmatch bench engine` measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EngineBenchReport {
    /// Measured commands per workload.
    pub commands: usize,
    /// Unmeasured warm-up commands per workload.
    pub warmup: usize,
    /// The workload seed.
    pub seed: u64,
    /// Throughput passes per book.
    pub passes: u32,
    /// Median cost of one timing (two clock reads), included in every latency.
    pub timer_overhead_ns: u64,
    /// One per market count.
    pub workloads: Vec<WorkloadSummary>,
    /// One per market count and book.
    pub results: Vec<BookResult>,
    /// Disagreements between the books or with the generator (expected: none).
    pub mismatches: Vec<String>,
}

impl EngineBenchReport {
    /// The results as an aligned text table, with a line on the workload above it.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "engine benchmark: {} measured commands per workload after {} warm-up, seed {}, \
             median of {} throughput passes; latency includes ~{} ns of timer overhead",
            self.commands, self.warmup, self.seed, self.passes, self.timer_overhead_ns
        );
        for workload in &self.workloads {
            let _ = writeln!(
                out,
                "  {} markets x {} selections: {} resting orders at start, {} at end; \
                 {:.2}% of commands traded, {:.2}% rejected",
                workload.markets,
                workload.selections_per_market,
                workload.resting_at_start,
                workload.resting_at_end,
                100.0 * workload.traded_fraction,
                100.0 * workload.rejected_fraction,
            );
        }
        let header = [
            "markets",
            "book",
            "commands/s",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "p99.99",
            "max",
            "ratio",
        ]
        .map(String::from);
        let rows: Vec<Vec<String>> = self
            .results
            .iter()
            .map(|r| {
                vec![
                    r.markets.to_string(),
                    r.book.name().to_string(),
                    format_rate(r.commands_per_second),
                    format_ns(r.latency.p50_ns),
                    format_ns(r.latency.p90_ns),
                    format_ns(r.latency.p99_ns),
                    format_ns(r.latency.p99_9_ns),
                    format_ns(r.latency.p99_99_ns),
                    format_ns(r.latency.max_ns),
                    format!("{:.2}x", r.ratio_to_reference),
                ]
            })
            .collect();
        out.push_str(&aligned(&header, &rows, 1));
        out.push_str(&self.op_table(BookKind::Ladder));
        for mismatch in &self.mismatches {
            let _ = writeln!(out, "MISMATCH: {mismatch}");
        }
        out
    }

    /// Latency by op of one book: a row per op, p50 / p99 / p99.9 for each market count.
    fn op_table(&self, book: BookKind) -> String {
        let results: Vec<&BookResult> = self.results.iter().filter(|r| r.book == book).collect();
        let mut header = vec!["op".to_string()];
        for result in &results {
            header.push(format!("{}m p50", result.markets));
            header.push("p99".into());
            header.push("p99.9".into());
        }
        let ops = results.first().map_or(0, |r| r.latency_by_op.len());
        let rows: Vec<Vec<String>> = (0..ops)
            .map(|op| {
                let mut row = vec![results[0].latency_by_op[op].op.to_string()];
                for result in &results {
                    let latency = &result.latency_by_op[op].latency;
                    row.push(format_ns(latency.p50_ns));
                    row.push(format_ns(latency.p99_ns));
                    row.push(format_ns(latency.p99_9_ns));
                }
                row
            })
            .collect();
        let mut out = format!("latency by op, {} book:\n", book.name());
        out.push_str(&aligned(&header, &rows, 0));
        out
    }
}

/// Columns padded to their widest cell: numbers right-aligned, the one text column (`text`)
/// left-aligned.
fn aligned(header: &[String], rows: &[Vec<String>], text: usize) -> String {
    let mut widths: Vec<usize> = header.iter().map(String::len).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let mut line = String::new();
        for (column, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if column == text {
                let _ = write!(line, "  {cell:<width$}");
            } else {
                let _ = write!(line, "  {cell:>width$}");
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// Commands per second in millions: `12.34 M`.
pub fn format_rate(per_second: f64) -> String {
    format!("{:.2} M", per_second / 1e6)
}

/// A duration in the largest unit that keeps it at least 1: `850 ns`, `1.25 us`, `3.10 ms`.
pub fn format_ns(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.2} us", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_the_largest_fitting_unit() {
        assert_eq!(format_ns(850), "850 ns");
        assert_eq!(format_ns(1_250), "1.25 us");
        assert_eq!(format_ns(3_100_000), "3.10 ms");
        assert_eq!(format_ns(2_000_000_000), "2.00 s");
        assert_eq!(format_rate(12_345_678.0), "12.35 M");
    }
}
