//! The fan-out benchmark's results, as data (serialisable to JSON) and as printed tables.

use std::fmt::Write as _;

use serde::Serialize;

use crate::report::{Percentiles, aligned, format_ns};

/// One case: a system (oddsmatch over a transport, or NATS) at a number of subscribers and a
/// rate, over every run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CaseResult {
    /// `oddsmatch` or `nats`.
    pub system: String,
    /// `tcp` or `quic` (NATS: `tcp`).
    pub transport: String,
    /// Subscribers, one connection each.
    pub subscribers: usize,
    /// `base` or `100x`.
    pub rate: String,
    /// Markets ticking, each subscriber on all of them.
    pub markets: u32,
    /// Ticks per second of each market.
    pub hz: u32,
    /// Runs.
    pub runs: u32,
    /// Ticks published (NATS: messages), all runs together.
    pub sent: u64,
    /// Deliveries expected: each subscriber every tick after its starting point.
    pub expected: u64,
    /// Ticks received, all subscribers and runs together.
    pub delivered: u64,
    /// `delivered / expected`.
    pub delivered_fraction: f64,
    /// Jumps in a subscriber's sequence numbers.
    pub gaps: u64,
    /// Ticks those jumps skipped (or that a conflated snapshot stood for).
    pub missed: u64,
    /// Snapshots flagged conflated (oddsmatch skipped ticks for a slow subscriber).
    pub conflated: u64,
    /// Ticks at or below one already received.
    pub duplicates: u64,
    /// Subscribers whose session ended during a measurement.
    pub sessions_ended: u64,
    /// Subscribers that had not subscribed (or not had their starting point) when the ticks
    /// began.
    pub not_ready: u64,
    /// Arrival minus the tick's timestamp, every delivery: each figure the median of the runs'.
    pub latency: Percentiles,
    /// Every run's.
    pub latency_runs: Vec<Percentiles>,
    /// Per tick, its earliest arrival at any subscriber (the pipeline without the fan-out's
    /// spread): the median of the runs'.
    pub first_arrival: Percentiles,
    /// Per tick, its latest arrival (the whole fan-out): the median of the runs'.
    pub last_arrival: Percentiles,
    /// The latest the source sent a quote (NATS: a message) after its scheduled time, worst
    /// run.
    pub source_late_ns_max: u64,
    /// Quotes the node refused (expected: none).
    pub source_refused: u64,
    /// UDP datagrams the kernel dropped on full socket receive buffers during the ticks and
    /// their delivery, machine-wide (over QUIC, the transport's losses on loopback; in other
    /// cases whatever else runs on the machine), all runs together.
    pub udp_receive_drops: u64,
    /// Of those, the ones at the node's QUIC socket.
    pub node_udp_drops: u64,
    /// Processor time of the busiest threads during the ticks, last run.
    pub cpu: Vec<CpuShare>,
}

/// Processor time of one thread name of one process, in percent of one core.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CpuShare {
    /// `node`, `nats-server` or `bench`.
    pub process: String,
    /// The thread name (every thread of that name together).
    pub thread: String,
    /// Percent of one core over the measurement.
    pub percent: f64,
}

/// oddsmatch against NATS at one number of subscribers and rate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// oddsmatch's transport.
    pub transport: String,
    /// Subscribers.
    pub subscribers: usize,
    /// The rate.
    pub rate: String,
    /// oddsmatch's median latency over NATS's.
    pub p50_ratio: f64,
    /// oddsmatch's 99th percentile over NATS's.
    pub p99_ratio: f64,
    /// Whether oddsmatch's p99 is within the goal and below NATS's.
    pub goal_met: bool,
}

/// Everything `oddsmatch bench fanout` measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FanoutBenchReport {
    /// Runs; every latency figure is the median of theirs.
    pub runs: u32,
    /// Ticking time per case and run, milliseconds.
    pub duration_ms: u64,
    /// Processors of the machine (the node, NATS and the subscribers share them).
    pub cores: usize,
    /// The node's market-data writer threads (`market_data.threads`).
    pub md_threads: usize,
    /// Bytes of a `TICK` frame of the run's three-selection markets (also the NATS payload).
    pub tick_frame_bytes: usize,
    /// The NATS server asked for.
    pub nats_url: Option<String>,
    /// Why the NATS reference is missing, if it is.
    pub nats_missing: Option<String>,
    /// Why QUIC is missing, if it is.
    pub quic_missing: Option<String>,
    /// Every case.
    pub cases: Vec<CaseResult>,
    /// Every oddsmatch case against NATS at the same subscribers and rate.
    pub comparisons: Vec<Comparison>,
    /// Goal: oddsmatch's p99 at most this (and below NATS's) at `goal_subscribers`.
    pub goal_p99_ns: u64,
    /// The number of subscribers the goal is for.
    pub goal_subscribers: usize,
    /// Seconds the whole run took.
    pub seconds: f64,
    /// Things that make a figure less clean than it should be.
    pub notes: Vec<String>,
    /// Runs that did not do the expected work; expected: none.
    pub mismatches: Vec<String>,
}

impl FanoutBenchReport {
    /// The results as aligned text tables.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "market-data fan-out on loopback, one connection per subscriber, {} cores shared by \
             the node ({} market-data writer thread(s)), NATS and the subscribers; {:.0} s of \
             ticks per case, median of {} run(s); {} B TICK frames (NATS: payloads of the same \
             size)",
            self.cores,
            self.md_threads,
            self.duration_ms as f64 / 1e3,
            self.runs,
            self.tick_frame_bytes
        );
        let _ = writeln!(
            out,
            "latency: arrival (socket read) - the tick's timestamp (oddsmatch: the engine's input \
             time; NATS: the publisher's send time); first/last: per tick, its earliest and latest \
             arrival over the subscribers. Goal: p99 <= {} at {} subscribers, and below NATS.",
            format_ns(self.goal_p99_ns),
            self.goal_subscribers
        );
        if let Some(why) = &self.nats_missing {
            let _ = writeln!(out, "NATS reference MISSING: {why}");
        }
        if let Some(why) = &self.quic_missing {
            let _ = writeln!(out, "QUIC NOT AVAILABLE: {why}");
        }
        let header = [
            "subs",
            "rate",
            "system",
            "sent",
            "delivered",
            "gaps",
            "conflated",
            "ended",
            "p50",
            "p99",
            "p99.9",
            "max",
            "first p99",
            "last p99",
            "p99 vs NATS",
        ];
        let mut rows = Vec::new();
        let mut previous: Option<(usize, &str)> = None;
        for case in &self.cases {
            let group = (case.subscribers, case.rate.as_str());
            let first_of_group = previous != Some(group);
            previous = Some(group);
            let comparison = self.comparisons.iter().find(|c| {
                case.system == "oddsmatch"
                    && c.transport == case.transport
                    && c.subscribers == case.subscribers
                    && c.rate == case.rate
            });
            let l = &case.latency;
            rows.push(vec![
                if first_of_group {
                    case.subscribers.to_string()
                } else {
                    String::new()
                },
                if first_of_group {
                    format!("{} ({}/s)", case.rate, case.markets * case.hz)
                } else {
                    String::new()
                },
                system_name(case),
                case.sent.to_string(),
                format!("{:.2}%", case.delivered_fraction * 100.0),
                case.gaps.to_string(),
                case.conflated.to_string(),
                case.sessions_ended.to_string(),
                format_ns(l.p50_ns),
                format_ns(l.p99_ns),
                format_ns(l.p99_9_ns),
                format_ns(l.max_ns),
                format_ns(case.first_arrival.p99_ns),
                format_ns(case.last_arrival.p99_ns),
                comparison.map_or_else(String::new, |c| {
                    format!(
                        "{:.2}x{}",
                        c.p99_ratio,
                        if c.goal_met { "" } else { " (goal missed)" }
                    )
                }),
            ]);
        }
        out.push_str(&aligned(&header, &rows, &[1, 2]));
        let _ = writeln!(
            out,
            "processor time during the ticks (percent of one core; threads at 1 % or more):"
        );
        for case in &self.cases {
            let threads: Vec<String> = case
                .cpu
                .iter()
                .filter(|share| share.percent >= 1.0)
                .map(|share| format!("{} {} {:.0}%", share.process, share.thread, share.percent))
                .collect();
            let _ = writeln!(
                out,
                "  {} {} {}: {}",
                case.subscribers,
                case.rate,
                system_name(case),
                if threads.is_empty() {
                    "-".to_owned()
                } else {
                    threads.join(", ")
                }
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "NOTE: {note}");
        }
        for mismatch in &self.mismatches {
            let _ = writeln!(out, "MISMATCH: {mismatch}");
        }
        let _ = writeln!(out, "({:.0} s in all)", self.seconds);
        out
    }
}

fn system_name(case: &CaseResult) -> String {
    if case.system == "nats" {
        "nats".to_owned()
    } else {
        format!("{} {}", case.system, case.transport)
    }
}
