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

/// One way of running a stream (market data on or off), on the fast book.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModeResult {
    /// Median over the throughput passes.
    pub commands_per_second: f64,
    /// Every throughput pass, in the order run.
    pub commands_per_second_passes: Vec<f64>,
    /// Per-command latency from the latency pass (timer overhead included).
    pub latency: Percentiles,
    /// The same, by op.
    pub latency_by_op: Vec<OpLatency>,
    /// Events per command (book stream and ticks included when market data is on).
    pub events_per_command: f64,
    /// `odds_tick` events the stream produced.
    pub odds_ticks: u64,
    /// Circuit breaker trips in the stream (expected: none).
    pub circuit_breaker_trips: u64,
    /// Share of commands that produced at least one trade.
    pub traded_fraction: f64,
    /// Share of commands that were rejected.
    pub rejected_fraction: f64,
    /// The engine's state hash after the stream, in hex.
    pub state_hash: String,
}

/// The exchange mix on markets created with `market_data` on and off.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MarketDataResult {
    /// Number of markets.
    pub markets: u32,
    /// Markets created with `market_data: true`.
    pub on: ModeResult,
    /// Markets created with `market_data: false`.
    pub off: ModeResult,
    /// `on` throughput over `off` throughput.
    pub ratio_on_off: f64,
    /// The goal for that ratio (at least).
    pub goal_ratio_on_off: f64,
}

/// The pool workload of one market count.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoolWorkloadSummary {
    /// Runners per pool.
    pub selections_per_market: u32,
    /// Bettor accounts.
    pub bettors: u32,
    /// Commands in the (unmeasured) setup.
    pub setup_commands: usize,
    /// Measured commands.
    pub commands: usize,
    /// Live bettors' bets when the stream starts.
    pub live_bets_at_start: u64,
    /// Live bettors' bets when the stream ends.
    pub live_bets_at_end: u64,
    /// The ops the stream holds.
    pub mix: Vec<OpShare>,
    /// Time taken to generate the workload, in seconds (not part of any measurement).
    pub generate_seconds: f64,
}

/// Pool bets and cancels on one market count, with market data on and off.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoolResult {
    /// Number of markets.
    pub markets: u32,
    /// The workload.
    pub workload: PoolWorkloadSummary,
    /// Markets created with `market_data: true`.
    pub on: ModeResult,
    /// Markets created with `market_data: false`.
    pub off: ModeResult,
    /// `on` throughput over `off` throughput.
    pub ratio_on_off: f64,
}

/// Tallying a vote and resolving the market at the window's end.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VoteResult {
    /// Distinct voters (each bet once and votes once).
    pub voters: u32,
    /// Voters who vote a second time.
    pub revotes: u32,
    /// Timed passes; the medians are reported.
    pub passes: u32,
    /// Commands in the (unmeasured) setup.
    pub setup_commands: usize,
    /// Engine time for all the first votes, in nanoseconds (median over the passes).
    pub tally_ns: u64,
    /// Every pass.
    pub tally_ns_passes: Vec<u64>,
    /// `tally_ns` per vote.
    pub tally_per_vote_ns: f64,
    /// Per-vote latency from a separate pass (timer overhead included).
    pub vote_latency: Percentiles,
    /// Engine time for all the re-votes, in nanoseconds (median).
    pub revote_ns: u64,
    /// Every pass.
    pub revote_ns_passes: Vec<u64>,
    /// Engine time of the input at the window's end: the result, the close and the
    /// settlement of every bet, in nanoseconds (median).
    pub resolution_ns: u64,
    /// Every pass.
    pub resolution_ns_passes: Vec<u64>,
    /// Events the resolution produced.
    pub resolution_events: usize,
    /// The winning selection.
    pub winner: Option<u32>,
    /// The goal for `tally_ns` with 10,000 voters (below).
    pub goal_tally_ns: u64,
}

/// Everything `oddsmatch bench engine` measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EngineBenchReport {
    /// The cases run, by name.
    pub cases: Vec<&'static str>,
    /// Measured commands per workload.
    pub commands: usize,
    /// Unmeasured warm-up commands per workload.
    pub warmup: usize,
    /// The workload seed.
    pub seed: u64,
    /// Throughput passes per book (and per market data mode).
    pub passes: u32,
    /// Median cost of one timing (two clock reads), included in every latency.
    pub timer_overhead_ns: u64,
    /// The exchange mix, one per market count.
    pub workloads: Vec<WorkloadSummary>,
    /// The exchange mix, one per market count and book (case `exchange`).
    pub results: Vec<BookResult>,
    /// The exchange mix with market data on and off, one per market count (case
    /// `market_data`).
    pub market_data: Vec<MarketDataResult>,
    /// Pool bets, one per market count (case `pool`).
    pub pools: Vec<PoolResult>,
    /// Votes (case `votes`).
    pub votes: Option<VoteResult>,
    /// Disagreements between the books, the modes or with the generator (expected: none).
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
        if !self.results.is_empty() {
            out.push_str(&aligned(&header, &rows, &[1]));
            out.push_str(&self.op_table(BookKind::Ladder));
        }
        if !self.market_data.is_empty() {
            let goal = self.market_data[0].goal_ratio_on_off;
            let _ = writeln!(
                out,
                "market data on vs off (exchange mix, ladder book; goal: on/off >= {goal:.2}):"
            );
            let rows = self
                .market_data
                .iter()
                .map(|r| (r.markets, &r.on, &r.off, r.ratio_on_off));
            out.push_str(&mode_table(rows, &[]));
        }
        for pool in &self.pools {
            let w = &pool.workload;
            let _ = writeln!(
                out,
                "pool bets, {} markets x {} runners, {} bettors: {} live bets at start, {} at \
                 end; {}",
                pool.markets,
                w.selections_per_market,
                w.bettors,
                w.live_bets_at_start,
                w.live_bets_at_end,
                w.mix
                    .iter()
                    .map(|m| format!("{:.1}% {}", 100.0 * m.fraction, m.op))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if !self.pools.is_empty() {
            let rows = self
                .pools
                .iter()
                .map(|r| (r.markets, &r.on, &r.off, r.ratio_on_off));
            out.push_str(&mode_table(rows, &["place_bet", "cancel_bet"]));
        }
        if let Some(votes) = &self.votes {
            let _ = writeln!(
                out,
                "votes: {} voters on one market (each bet once), median of {} passes",
                votes.voters, votes.passes
            );
            let _ = writeln!(
                out,
                "  tally of {} votes: {} ({:.0} ns per vote; goal for 10,000: < {}); per vote \
                 p50 {} p99 {} p99.9 {} max {}",
                votes.voters,
                format_ns(votes.tally_ns),
                votes.tally_per_vote_ns,
                format_ns(votes.goal_tally_ns),
                format_ns(votes.vote_latency.p50_ns),
                format_ns(votes.vote_latency.p99_ns),
                format_ns(votes.vote_latency.p99_9_ns),
                format_ns(votes.vote_latency.max_ns),
            );
            let _ = writeln!(
                out,
                "  {} re-votes: {}",
                votes.revotes,
                format_ns(votes.revote_ns)
            );
            let _ = writeln!(
                out,
                "  window-end resolution (result, close, settlement of {} bets): {} for {} \
                 events; winner {}",
                votes.voters,
                format_ns(votes.resolution_ns),
                votes.resolution_events,
                votes
                    .winner
                    .map_or_else(|| "none".to_string(), |w| w.to_string())
            );
        }
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
        out.push_str(&aligned(&header, &rows, &[0]));
        out
    }
}

/// Rows of market data on and off per market count: throughput, latency, events and ticks,
/// the on/off ratio, and p50 / p99 of the named ops (by their position in `latency_by_op`).
fn mode_table<'a>(
    results: impl Iterator<Item = (u32, &'a ModeResult, &'a ModeResult, f64)>,
    ops: &[&str],
) -> String {
    let mut header: Vec<String> = [
        "markets",
        "market data",
        "commands/s",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "p99.99",
        "max",
        "events/cmd",
        "ticks",
    ]
    .map(String::from)
    .to_vec();
    for op in ops {
        header.push(format!("{op} p50"));
        header.push("p99".into());
    }
    header.push("on/off".into());
    let mut rows = Vec::new();
    for (markets, on, off, ratio) in results {
        for (name, mode) in [("on", on), ("off", off)] {
            let mut row = vec![
                markets.to_string(),
                name.to_string(),
                format_rate(mode.commands_per_second),
                format_ns(mode.latency.p50_ns),
                format_ns(mode.latency.p90_ns),
                format_ns(mode.latency.p99_ns),
                format_ns(mode.latency.p99_9_ns),
                format_ns(mode.latency.p99_99_ns),
                format_ns(mode.latency.max_ns),
                format!("{:.2}", mode.events_per_command),
                mode.odds_ticks.to_string(),
            ];
            for op in 0..ops.len() {
                let latency = mode.latency_by_op.get(op).map(|o| o.latency);
                row.push(latency.map_or_else(String::new, |l| format_ns(l.p50_ns)));
                row.push(latency.map_or_else(String::new, |l| format_ns(l.p99_ns)));
            }
            row.push(if name == "on" {
                format!("{ratio:.2}x")
            } else {
                String::new()
            });
            rows.push(row);
        }
    }
    aligned(&header, &rows, &[1])
}

/// Columns padded to their widest cell, indented by two spaces: numbers right-aligned, the
/// text columns (`text`, by index) left-aligned.
pub(crate) fn aligned<H: AsRef<str>>(header: &[H], rows: &[Vec<String>], text: &[usize]) -> String {
    let header: Vec<String> = header.iter().map(|h| h.as_ref().to_owned()).collect();
    let mut widths: Vec<usize> = header.iter().map(String::len).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (column, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if text.contains(&column) {
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
