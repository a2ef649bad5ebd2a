//! The order-entry benchmark: a `NEW_ORDER` over loopback TCP to oddsmatch and back, next to a
//! bare TCP echo server measured in the same run (`oddsmatch bench e2e`).
//!
//! Each run measures, in this order:
//!
//! 1. **echo, open loop**: the reference (`e2e/echo.rs`), a one-thread std server that answers
//!    every 48-byte `NEW_ORDER` frame with an 80-byte `ORDER_ACCEPTED` frame carrying its
//!    `request_id`. At each rate (1, 10 and 50 thousand requests per second by default) the
//!    client sends on a fixed schedule and records reply arrival minus scheduled send time
//!    (`e2e/load.rs`: coordinated omission corrected) into an hdrhistogram;
//! 2. **echo, pipelined**: as many requests as the throughput run below, as fast as one
//!    connection takes them with a bounded window of unanswered requests;
//! 3. **oddsmatch**, for each journal durability asked for (`os` by default, `sync` too on
//!    request): a [`oddsmatch_net::node::Node`] in this process (`e2e/node.rs`) with one
//!    shard, its journal in a temporary directory, an open exchange market and a market-maker
//!    account with no throttle. The client logs in by challenge and response, then sends the
//!    same open-loop schedules of immediate-or-cancel back orders at odds 2.00 on the empty
//!    book: each is answered `order_accepted` then `order_cancelled` (`ioc_remainder`), so the
//!    book never grows. Latency runs to the arrival of `order_accepted`, the first report.
//!    Then the pipelined run: acknowledged orders per second on one connection, with the
//!    window kept below the shard's queue so that nothing is answered `busy` (any `busy` is
//!    counted and checked against the gateway's own count).
//!
//! The echo server is stopped before the node starts and the node after its runs, so neither
//! takes processor time from the other's measurement; after each node's start and stop the
//! benchmark also waits for the disks to settle (the stop flushes the journal). Every figure is the median of the runs'
//! figures; every ratio the median of the runs' ratios, each oddsmatch run against the echo run
//! of the same round. Benchmarks are never assertions: nothing here fails because something
//! was slow.

mod echo;
mod load;
mod node;
mod report;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use oddsmatch_journal::Durability;

pub use report::{E2eBenchReport, LatencyRatio, LatencyResult, OddsmatchResult, ThroughputResult};

use crate::report::{Percentiles, format_ns, format_rate};
use echo::EchoServer;
use load::{Answers, Conn};
use node::BenchNode;

/// The goal for oddsmatch's median latency, in multiples of the echo server's.
pub const GOAL_P50_RATIO: f64 = 2.0;
/// The goal for oddsmatch's 99.9th percentile, in multiples of the echo server's.
pub const GOAL_P99_9_RATIO: f64 = 5.0;
/// The goal for one connection, in acknowledged orders per second.
pub const GOAL_ORDERS_PER_SECOND: f64 = 1e6;
/// The largest window of unanswered requests: far below the shard's queue (65,536), and small
/// enough that the reports of a full window fit the gateway's outbound bound for one session
/// (4 MiB) even if the client stops reading for a moment.
pub const MAX_WINDOW: u64 = 16_384;
/// The highest open-loop rate accepted, requests per second.
pub const MAX_RATE: u64 = 10_000_000;

/// What [`run_e2e_bench`] runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct E2eBenchOptions {
    /// Open-loop rates, requests per second.
    pub rates: Vec<u64>,
    /// Recorded time per rate and run.
    pub duration: Duration,
    /// Unrecorded time before it (same schedule, same connection).
    pub warmup: Duration,
    /// Requests of each pipelined run.
    pub orders: u64,
    /// The most requests sent and not yet answered in a pipelined run.
    pub window: u64,
    /// Requests per write in a pipelined run.
    pub batch: u64,
    /// The journal durabilities oddsmatch runs with, one node each.
    pub durabilities: Vec<Durability>,
    /// Runs; the medians are reported.
    pub runs: u32,
    /// Where the node's temporary directories go.
    pub dir: PathBuf,
    /// After each node's start and stop, wait (up to 30 s) until the disks have written less
    /// than a megabyte in a second, so that the host's share of a flush does not land in the
    /// next measurement. Off only where the figures do not matter (tests).
    pub settle_disks: bool,
}

impl Default for E2eBenchOptions {
    fn default() -> Self {
        E2eBenchOptions {
            rates: vec![1_000, 10_000, 50_000],
            duration: Duration::from_secs(2),
            warmup: Duration::from_millis(500),
            orders: 2_000_000,
            window: 8_192,
            batch: 64,
            durabilities: vec![Durability::Os],
            runs: 3,
            dir: std::env::temp_dir(),
            settle_disks: true,
        }
    }
}

/// Requests sent in `time` at `rate` per second.
fn requests_in(rate: u64, time: Duration) -> u64 {
    (u128::from(rate) * time.as_nanos() / 1_000_000_000) as u64
}

impl E2eBenchOptions {
    /// Checks the options; the benchmark refuses to start on any of these.
    pub fn validate(&self) -> Result<(), String> {
        if self.runs == 0 {
            return Err("at least one run".into());
        }
        if self.rates.is_empty() {
            return Err("no rate".into());
        }
        for &rate in &self.rates {
            if !(1..=MAX_RATE).contains(&rate) {
                return Err(format!("rate {rate} is outside 1 to {MAX_RATE} per second"));
            }
            if requests_in(rate, self.duration) == 0 {
                return Err(format!(
                    "at {rate} per second, {} ms records no request",
                    self.duration.as_millis()
                ));
            }
        }
        if self.orders == 0 {
            return Err("orders must be at least 1".into());
        }
        if !(1..=MAX_WINDOW).contains(&self.window) {
            return Err(format!("window must be 1 to {MAX_WINDOW}"));
        }
        if self.batch == 0 {
            return Err("batch must be at least 1".into());
        }
        if self.durabilities.is_empty() {
            return Err("no durability".into());
        }
        for (index, durability) in self.durabilities.iter().enumerate() {
            if self.durabilities[..index].contains(durability) {
                return Err(format!("durability {durability} is named twice"));
            }
        }
        Ok(())
    }
}

/// One open-loop run's figures.
struct LatencyRun {
    percentiles: Percentiles,
    lag_ns: u64,
    answers: Answers,
}

/// One open-loop run at `rate` on a connected (and logged-in) socket.
fn latency_run(
    conn: Conn,
    rate: u64,
    options: &E2eBenchOptions,
    cancels: bool,
    client_order_base: u64,
) -> Result<(Conn, LatencyRun), String> {
    let warmup = requests_in(rate, options.warmup);
    let measured = requests_in(rate, options.duration);
    let (conn, answers, lag_ns) =
        load::open_loop(conn, rate, warmup, measured, cancels, client_order_base)?;
    let run = LatencyRun {
        percentiles: Percentiles::of(&answers.histogram_ns),
        lag_ns,
        answers,
    };
    Ok((conn, run))
}

fn describe(run: &LatencyRun) -> String {
    let p = &run.percentiles;
    format!(
        "p50 {} p99 {} p99.9 {} max {}, sender late by at most {}",
        format_ns(p.p50_ns),
        format_ns(p.p99_ns),
        format_ns(p.p99_9_ns),
        format_ns(p.max_ns),
        format_ns(run.lag_ns)
    )
}

/// Answers per second of a pipelined run: `order_accepted` answers from the first write to
/// the last answer.
fn per_second(answers: &Answers) -> f64 {
    answers.accepted as f64 / answers.last_answer.as_secs_f64().max(1e-9)
}

/// Every order should have been accepted: rejects are mismatches (the run did other work than
/// intended), `busy` answers are noted (the queue overflowed: the figure is for fewer orders).
fn check(mismatches: &mut Vec<String>, notes: &mut Vec<String>, what: &str, answers: &Answers) {
    if answers.rejected != 0 {
        mismatches.push(format!(
            "{what}: {} orders rejected (first: {})",
            answers.rejected,
            answers.first_reject.as_deref().unwrap_or("?")
        ));
    }
    if answers.busy != 0 {
        notes.push(format!("{what}: {} orders answered busy", answers.busy));
    }
}

/// The runs of one server at every rate, gathered over the rounds.
type LatencySeries = Vec<Vec<LatencyRun>>;

/// Runs the benchmark, reporting progress lines to `progress` as it goes. Fails on invalid
/// options, on I/O errors and when a server stops answering.
pub fn run_e2e_bench(
    options: &E2eBenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<E2eBenchReport, String> {
    options.validate()?;
    let started = Instant::now();
    let progress = &mut |line: &str| {
        progress(&format!(
            "[{:6.1} s] {line}",
            started.elapsed().as_secs_f64()
        ))
    };
    let rates = &options.rates;
    let durabilities = &options.durabilities;
    let runs = options.runs;
    let mut notes = Vec::new();
    let mut mismatches = Vec::new();
    let mut echo_latency: LatencySeries = rates.iter().map(|_| Vec::new()).collect();
    let mut echo_throughput: Vec<Answers> = Vec::new();
    let mut odds_latency: Vec<LatencySeries> = durabilities
        .iter()
        .map(|_| rates.iter().map(|_| Vec::new()).collect())
        .collect();
    let mut odds_throughput: Vec<Vec<Answers>> = durabilities.iter().map(|_| Vec::new()).collect();
    let mut gateway_busy = vec![0u64; durabilities.len()];
    let mut segments: Vec<Vec<usize>> = durabilities.iter().map(|_| Vec::new()).collect();
    for run in 1..=runs {
        // The reference, alone on the machine.
        let echo = EchoServer::start()?;
        for (index, &rate) in rates.iter().enumerate() {
            let conn = Conn::connect(echo.addr())?;
            let (_, result) = latency_run(conn, rate, options, false, 0)
                .map_err(|e| format!("echo at {rate}/s: {e}"))?;
            progress(&format!(
                "run {run}/{runs}: echo at {rate}/s: {}",
                describe(&result)
            ));
            echo_latency[index].push(result);
        }
        let conn = Conn::connect(echo.addr())?;
        let (_, answers) = load::pipelined(
            conn,
            options.orders,
            options.window,
            options.batch,
            false,
            0,
        )
        .map_err(|e| format!("echo, pipelined: {e}"))?;
        progress(&format!(
            "run {run}/{runs}: echo pipelined: {} replies/s",
            format_rate(per_second(&answers))
        ));
        echo_throughput.push(answers);
        echo.stop();

        // oddsmatch, one node per durability, alone on the machine.
        for (d, &durability) in durabilities.iter().enumerate() {
            let label = format!("oddsmatch ({durability})");
            progress(&format!("run {run}/{runs}: starting {label}"));
            let (node, prepared) = BenchNode::start(&options.dir, durability)?;
            if !prepared {
                notes.push(format!(
                    "run {run}, {label}: the journal's next segment was not ready after 30 s"
                ));
            }
            if options.settle_disks && !node::wait_for_quiet_disks() {
                notes.push(format!(
                    "run {run}, {label}: the disks were still writing 30 s after the start"
                ));
            }
            // Client order ids stay unique across the node's sessions.
            let mut client_order_base = 0;
            let mut busy_received = 0;
            for (index, &rate) in rates.iter().enumerate() {
                let mut conn = Conn::connect(node.addr())?;
                conn.login(node::KEY)?;
                let (conn, result) = latency_run(conn, rate, options, true, client_order_base)
                    .map_err(|e| format!("{label} at {rate}/s: {e}"))?;
                conn.logout()?;
                let answers = &result.answers;
                client_order_base += answers.accepted + answers.busy + answers.rejected;
                busy_received += answers.busy;
                let what = format!("run {run}, {label} at {rate}/s");
                check(&mut mismatches, &mut notes, &what, answers);
                progress(&format!(
                    "run {run}/{runs}: {label} at {rate}/s: {}",
                    describe(&result)
                ));
                odds_latency[d][index].push(result);
            }
            let mut conn = Conn::connect(node.addr())?;
            conn.login(node::KEY)?;
            let (conn, answers) = load::pipelined(
                conn,
                options.orders,
                options.window,
                options.batch,
                true,
                client_order_base,
            )
            .map_err(|e| format!("{label}, pipelined: {e}"))?;
            conn.logout()?;
            busy_received += answers.busy;
            let what = format!("run {run}, {label} pipelined");
            check(&mut mismatches, &mut notes, &what, &answers);
            progress(&format!(
                "run {run}/{runs}: {label} pipelined: {} orders accepted/s, {} busy",
                format_rate(per_second(&answers)),
                answers.busy
            ));
            odds_throughput[d].push(answers);
            let busy_counted = node.busy();
            if busy_counted != busy_received {
                mismatches.push(format!(
                    "run {run}, {label}: the gateway counted {busy_counted} busy answers, the \
                     client received {busy_received}"
                ));
            }
            gateway_busy[d] += busy_counted;
            segments[d].push(node.segments());
            node.stop()?;
            if options.settle_disks && !node::wait_for_quiet_disks() {
                notes.push(format!(
                    "run {run}, after {label}: the disks were still writing after 30 s"
                ));
            }
        }
    }

    let echo_results: Vec<LatencyResult> = rates
        .iter()
        .zip(&echo_latency)
        .map(|(&rate, runs)| latency_result(rate, options, runs))
        .collect();
    let echo_rates: Vec<f64> = echo_throughput.iter().map(per_second).collect();
    let oddsmatch = durabilities
        .iter()
        .enumerate()
        .map(|(d, durability)| {
            let latency: Vec<LatencyResult> = rates
                .iter()
                .zip(&odds_latency[d])
                .map(|(&rate, runs)| latency_result(rate, options, runs))
                .collect();
            let ratios = rates
                .iter()
                .zip(odds_latency[d].iter().zip(&echo_latency))
                .map(|(&rate, (odds, echo))| {
                    let ratio = |pick: fn(&Percentiles) -> u64| {
                        let odds: Vec<f64> =
                            odds.iter().map(|r| pick(&r.percentiles) as f64).collect();
                        let echo: Vec<f64> =
                            echo.iter().map(|r| pick(&r.percentiles) as f64).collect();
                        median_ratio(&odds, &echo)
                    };
                    LatencyRatio {
                        rate_per_second: rate,
                        p50: ratio(|p| p.p50_ns),
                        p99_9: ratio(|p| p.p99_9_ns),
                    }
                })
                .collect();
            let throughput = throughput_result(options, &odds_throughput[d]);
            let throughput_ratio_to_echo =
                median_ratio(&throughput.accepted_per_second_runs, &echo_rates);
            OddsmatchResult {
                durability: durability.to_string(),
                latency,
                ratios,
                throughput,
                throughput_ratio_to_echo,
                gateway_busy: gateway_busy[d],
                segments_runs: segments[d].clone(),
            }
        })
        .collect();
    Ok(E2eBenchReport {
        runs,
        rates: rates.clone(),
        duration_ms: options.duration.as_millis() as u64,
        warmup_ms: options.warmup.as_millis() as u64,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        timer_overhead_ns: crate::measure::timer_overhead_ns(),
        new_order_frame_bytes: load::new_order_frame_bytes(),
        order_accepted_frame_bytes: echo::reply_template().len(),
        dir: options.dir.display().to_string(),
        echo_latency: echo_results,
        echo_throughput: throughput_result(options, &echo_throughput),
        oddsmatch,
        goal_p50_ratio: GOAL_P50_RATIO,
        goal_p99_9_ratio: GOAL_P99_9_RATIO,
        goal_orders_per_second: GOAL_ORDERS_PER_SECOND,
        notes,
        mismatches,
    })
}

fn latency_result(rate: u64, options: &E2eBenchOptions, runs: &[LatencyRun]) -> LatencyResult {
    let latency_runs: Vec<Percentiles> = runs.iter().map(|r| r.percentiles).collect();
    let sum = |pick: fn(&Answers) -> u64| runs.iter().map(|r| pick(&r.answers)).sum();
    LatencyResult {
        rate_per_second: rate,
        warmup_requests: requests_in(rate, options.warmup),
        requests: requests_in(rate, options.duration),
        latency: median_percentiles(&latency_runs),
        latency_runs,
        worst_send_lag_ns: runs.iter().map(|r| r.lag_ns).max().unwrap_or(0),
        accepted: sum(|a| a.accepted),
        busy: sum(|a| a.busy),
        rejected: sum(|a| a.rejected),
        cancelled: sum(|a| a.cancelled),
    }
}

fn throughput_result(options: &E2eBenchOptions, runs: &[Answers]) -> ThroughputResult {
    let rates: Vec<f64> = runs.iter().map(per_second).collect();
    let sum = |pick: fn(&Answers) -> u64| runs.iter().map(pick).sum();
    ThroughputResult {
        requests: options.orders,
        window: options.window,
        batch: options.batch,
        accepted_per_second: median(&rates),
        accepted_per_second_runs: rates,
        accepted: sum(|a| a.accepted),
        busy: sum(|a| a.busy),
        rejected: sum(|a| a.rejected),
        cancelled: sum(|a| a.cancelled),
    }
}

/// The median of some runs (the mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[middle],
        _ => (sorted[middle - 1] + sorted[middle]) / 2.0,
    }
}

/// The median of whole numbers (the mean of the middle two, rounded down, for an even count).
fn median_u64(values: impl Iterator<Item = u64>) -> u64 {
    let mut sorted: Vec<u64> = values.collect();
    sorted.sort_unstable();
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => 0,
        n if n % 2 == 1 => sorted[middle],
        _ => {
            sorted[middle - 1] / 2
                + sorted[middle] / 2
                + (sorted[middle - 1] % 2 + sorted[middle] % 2) / 2
        }
    }
}

/// Each percentile the median of the runs' (so they stay in order: the k-th smallest of
/// values that are each no larger than another run's is no larger than that one's).
fn median_percentiles(runs: &[Percentiles]) -> Percentiles {
    let of = |pick: fn(&Percentiles) -> u64| median_u64(runs.iter().map(pick));
    Percentiles {
        p50_ns: of(|p| p.p50_ns),
        p90_ns: of(|p| p.p90_ns),
        p99_ns: of(|p| p.p99_ns),
        p99_9_ns: of(|p| p.p99_9_ns),
        p99_99_ns: of(|p| p.p99_99_ns),
        max_ns: of(|p| p.max_ns),
        mean_ns: median(&runs.iter().map(|p| p.mean_ns).collect::<Vec<_>>()),
    }
}

/// The median of the runs' ratios `numerators[i] / denominators[i]`: each oddsmatch run
/// against the echo run of the same round, which shared the machine's state of the moment.
fn median_ratio(numerators: &[f64], denominators: &[f64]) -> f64 {
    let ratios: Vec<f64> = numerators
        .iter()
        .zip(denominators)
        .map(|(n, d)| n / d)
        .collect();
    median(&ratios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        assert_eq!(E2eBenchOptions::default().validate(), Ok(()));
        let bad = [
            E2eBenchOptions {
                runs: 0,
                ..E2eBenchOptions::default()
            },
            E2eBenchOptions {
                rates: vec![],
                ..E2eBenchOptions::default()
            },
            E2eBenchOptions {
                rates: vec![0],
                ..E2eBenchOptions::default()
            },
            E2eBenchOptions {
                rates: vec![10],
                duration: Duration::from_millis(50),
                ..E2eBenchOptions::default()
            },
            E2eBenchOptions {
                window: MAX_WINDOW + 1,
                ..E2eBenchOptions::default()
            },
            E2eBenchOptions {
                batch: 0,
                ..E2eBenchOptions::default()
            },
            E2eBenchOptions {
                durabilities: vec![Durability::Os, Durability::Os],
                ..E2eBenchOptions::default()
            },
        ];
        for options in bad {
            assert!(options.validate().is_err(), "{options:?}");
        }
    }

    #[test]
    fn medians_keep_percentiles_in_order() {
        assert_eq!(median_u64([3, 1, 2].into_iter()), 2);
        assert_eq!(median_u64([4, 1, 3, 2].into_iter()), 2);
        assert_eq!(median_u64([u64::MAX, u64::MAX].into_iter()), u64::MAX);
        assert_eq!(median_u64([3, 5].into_iter()), 4);
        let p = |base: u64| Percentiles {
            p50_ns: base,
            p90_ns: base * 2,
            p99_ns: base * 3,
            p99_9_ns: base * 4,
            p99_99_ns: base * 5,
            max_ns: base * 6,
            mean_ns: base as f64,
        };
        let m = median_percentiles(&[p(10), p(30), p(20)]);
        assert_eq!(m, p(20));
        assert_eq!(median_ratio(&[2.0, 9.0, 4.0], &[1.0, 3.0, 4.0]), 2.0);
        assert_eq!(requests_in(50_000, Duration::from_millis(1_500)), 75_000);
    }
}
