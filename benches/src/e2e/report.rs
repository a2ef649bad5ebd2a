//! The order-entry benchmark's results, as data (serialisable to JSON) and as a printed table.

use std::fmt::Write as _;

use serde::Serialize;

use crate::report::{Percentiles, aligned, format_ns, format_rate};

/// Open-loop latency at one rate, for the echo server or for oddsmatch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyResult {
    /// Requests per second sent.
    pub rate_per_second: u64,
    /// Requests sent per run, before the recorded ones (not recorded).
    pub warmup_requests: u64,
    /// Requests per run whose latency is recorded.
    pub requests: u64,
    /// Reply arrival minus scheduled send time: each figure the median of the runs' figure.
    pub latency: Percentiles,
    /// Every run's.
    pub latency_runs: Vec<Percentiles>,
    /// The latest the sender started writing a request after its scheduled time, worst run.
    pub worst_send_lag_ns: u64,
    /// Requests answered `order_accepted`, all runs together.
    pub accepted: u64,
    /// Answered `busy`, all runs together.
    pub busy: u64,
    /// Answered anything else (rejected, throttled, done without a report), all runs together.
    pub rejected: u64,
    /// IOC remainders reported cancelled, all runs together (oddsmatch; 0 for the echo).
    pub cancelled: u64,
}

/// One connection, pipelined, as fast as it goes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThroughputResult {
    /// Requests sent per run.
    pub requests: u64,
    /// The most requests sent and not yet answered.
    pub window: u64,
    /// Requests per write.
    pub batch: u64,
    /// `order_accepted` answers per second, from the first write to the last answer; median.
    pub accepted_per_second: f64,
    /// Every run's.
    pub accepted_per_second_runs: Vec<f64>,
    /// Requests answered `order_accepted`, all runs together.
    pub accepted: u64,
    /// Answered `busy`, all runs together.
    pub busy: u64,
    /// Answered anything else, all runs together.
    pub rejected: u64,
    /// IOC remainders reported cancelled, all runs together (oddsmatch; 0 for the echo).
    pub cancelled: u64,
}

/// oddsmatch's latency over the echo server's at one rate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyRatio {
    /// Requests per second.
    pub rate_per_second: u64,
    /// At the median: the median of the runs' ratios (each run against the echo run of the
    /// same round).
    pub p50: f64,
    /// At the 99.9th percentile, likewise.
    pub p99_9: f64,
}

/// oddsmatch with one journal durability.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OddsmatchResult {
    /// The journal's durability policy.
    pub durability: String,
    /// One per rate.
    pub latency: Vec<LatencyResult>,
    /// One per rate.
    pub ratios: Vec<LatencyRatio>,
    /// The pipelined run.
    pub throughput: ThroughputResult,
    /// Its accepted orders per second over the echo server's replies per second: the median
    /// of the runs' ratios.
    pub throughput_ratio_to_echo: f64,
    /// `busy` answers the gateway counted, all runs together (must equal those received).
    pub gateway_busy: u64,
    /// Journal segment files at the end of each run (the prepared next one included).
    pub segments_runs: Vec<usize>,
}

/// Everything `oddsmatch bench e2e` measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct E2eBenchReport {
    /// Runs; every figure is the median of theirs.
    pub runs: u32,
    /// The rates of the latency runs, requests per second.
    pub rates: Vec<u64>,
    /// Recorded time per rate and run, milliseconds.
    pub duration_ms: u64,
    /// Unrecorded time before it, milliseconds.
    pub warmup_ms: u64,
    /// Processors this process may run on (client, gateway and shard threads share them).
    pub cores: usize,
    /// Median cost of one timing (two clock reads).
    pub timer_overhead_ns: u64,
    /// Bytes of a `NEW_ORDER` frame (what the client sends, to both servers).
    pub new_order_frame_bytes: usize,
    /// Bytes of an `ORDER_ACCEPTED` frame (the echo server's reply, oddsmatch's first report).
    pub order_accepted_frame_bytes: usize,
    /// Where the node's temporary directories were made.
    pub dir: String,
    /// The echo server, one per rate.
    pub echo_latency: Vec<LatencyResult>,
    /// The echo server, pipelined.
    pub echo_throughput: ThroughputResult,
    /// oddsmatch, one per durability asked for.
    pub oddsmatch: Vec<OddsmatchResult>,
    /// Goal: oddsmatch's median latency at most this many times the echo server's.
    pub goal_p50_ratio: f64,
    /// Goal: oddsmatch's 99.9th percentile at most this many times the echo server's.
    pub goal_p99_9_ratio: f64,
    /// Goal: accepted orders per second on one connection.
    pub goal_orders_per_second: f64,
    /// Things that make a figure less clean than it should be.
    pub notes: Vec<String>,
    /// Runs that did not do the expected work (orders rejected, `busy` answers the gateway
    /// counted differently); expected: none.
    pub mismatches: Vec<String>,
}

impl E2eBenchReport {
    /// The results as aligned text tables.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let durabilities: Vec<&str> = self
            .oddsmatch
            .iter()
            .map(|o| o.durability.as_str())
            .collect();
        let _ = writeln!(
            out,
            "order entry end to end: loopback, one shard, journal {}, median of {} runs, {} cores",
            durabilities.join(" and "),
            self.runs,
            self.cores
        );
        let _ = writeln!(
            out,
            "open-loop latency, reply arrival - scheduled send ({} B NEW_ORDER, {} B \
             ORDER_ACCEPTED), {:.1} s per rate after {:.1} s unrecorded (goals: p50 <= {}x, \
             p99.9 <= {}x the echo server):",
            self.new_order_frame_bytes,
            self.order_accepted_frame_bytes,
            self.duration_ms as f64 / 1e3,
            self.warmup_ms as f64 / 1e3,
            self.goal_p50_ratio,
            self.goal_p99_9_ratio
        );
        let header = [
            "rate",
            "server",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
            "send lag",
            "p50 ratio",
            "p99.9 ratio",
        ];
        let mut rows = Vec::new();
        for (index, echo) in self.echo_latency.iter().enumerate() {
            rows.push(latency_row(
                format_per_second(echo.rate_per_second),
                "echo",
                echo,
                None,
            ));
            for o in &self.oddsmatch {
                if let (Some(l), Some(r)) = (o.latency.get(index), o.ratios.get(index)) {
                    rows.push(latency_row(
                        String::new(),
                        &format!("oddsmatch ({})", o.durability),
                        l,
                        Some(r),
                    ));
                }
            }
        }
        out.push_str(&aligned(&header, &rows, &[0, 1]));
        let t = &self.echo_throughput;
        let _ = writeln!(
            out,
            "throughput, one connection pipelined: {} requests, at most {} unanswered, written \
             {} at a time (goal >= {} orders/s):",
            t.requests,
            t.window,
            t.batch,
            format_rate(self.goal_orders_per_second)
        );
        let header = ["server", "answers/s", "ratio", "busy", "rejected"];
        let mut rows = vec![vec![
            "echo".to_string(),
            format_rate(t.accepted_per_second),
            "1.00x".to_string(),
            String::new(),
            String::new(),
        ]];
        for o in &self.oddsmatch {
            let t = &o.throughput;
            rows.push(vec![
                format!("oddsmatch ({}), orders accepted", o.durability),
                format_rate(t.accepted_per_second),
                format!("{:.2}x", o.throughput_ratio_to_echo),
                t.busy.to_string(),
                t.rejected.to_string(),
            ]);
        }
        out.push_str(&aligned(&header, &rows, &[0]));
        for note in &self.notes {
            let _ = writeln!(out, "NOTE: {note}");
        }
        for mismatch in &self.mismatches {
            let _ = writeln!(out, "MISMATCH: {mismatch}");
        }
        out
    }
}

fn latency_row(
    rate: String,
    server: &str,
    result: &LatencyResult,
    ratio: Option<&LatencyRatio>,
) -> Vec<String> {
    let l = &result.latency;
    let mut row = vec![
        rate,
        server.to_string(),
        format_ns(l.p50_ns),
        format_ns(l.p90_ns),
        format_ns(l.p99_ns),
        format_ns(l.p99_9_ns),
        format_ns(l.max_ns),
        format_ns(result.worst_send_lag_ns),
    ];
    match ratio {
        Some(r) => row.extend([format!("{:.2}x", r.p50), format!("{:.2}x", r.p99_9)]),
        None => row.extend([String::new(), String::new()]),
    }
    row
}

/// A rate per second: `1 k/s`, `50 k/s`, `1.5 M/s`.
fn format_per_second(rate: u64) -> String {
    if rate >= 1_000_000 {
        format!("{} M/s", rate as f64 / 1e6)
    } else if rate >= 1_000 {
        format!("{} k/s", rate as f64 / 1e3)
    } else {
        format!("{rate}/s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_written_short() {
        assert_eq!(format_per_second(1_000), "1 k/s");
        assert_eq!(format_per_second(50_000), "50 k/s");
        assert_eq!(format_per_second(2_500), "2.5 k/s");
        assert_eq!(format_per_second(1_500_000), "1.5 M/s");
        assert_eq!(format_per_second(300), "300/s");
    }
}
