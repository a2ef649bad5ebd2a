//! oddsmatch benchmarks.
//!
//! The engine benchmark ([`run_engine_bench`]) replays a seeded, exchange-core-like stream of
//! order commands ([`workload`]) through the engine with its fast book and, in the same run,
//! with the naive reference book, and reports commands per second and per-command latency
//! percentiles for both. `cargo bench -p oddsmatch-benches` and `oddsmatch bench engine` both
//! call it; `docs/benchmarks.md` describes the mix and the method.
//!
//! Benchmarks are never assertions: nothing here fails because something was slow.

#![warn(missing_docs)]

pub mod measure;
pub mod report;
pub mod rng;
pub mod workload;

use std::time::{Duration, Instant};

use oddsmatch_engine::book::{LadderBook, OrderBook, ReferenceBook};

pub use report::{
    BookKind, BookResult, EngineBenchReport, OpLatency, OpShare, Percentiles, WorkloadSummary,
};

use measure::{LatencyPass, engine_after_setup, latency_pass, throughput_pass};
use workload::{Op, Workload, WorkloadSpec};

/// What [`run_engine_bench`] runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineBenchOptions {
    /// Measured commands per workload.
    pub commands: usize,
    /// Unmeasured commands of the same mix at the end of each workload's setup.
    pub warmup: usize,
    /// Seed of the workload generator.
    pub seed: u64,
    /// Throughput passes per book; the median is reported.
    pub passes: u32,
    /// The market counts to run, one workload each.
    pub markets: Vec<u32>,
}

impl Default for EngineBenchOptions {
    fn default() -> Self {
        EngineBenchOptions {
            commands: 500_000,
            warmup: 200_000,
            seed: 42,
            passes: 3,
            markets: vec![1, 1_000],
        }
    }
}

/// Runs the engine benchmark, reporting progress lines to `progress` as it goes.
///
/// For each market count: generates the workload, then runs `passes` throughput passes per
/// book (alternating the books, so that noise on the machine hits both alike), then one
/// latency pass per book. Every pass starts from a fresh engine holding the setup.
pub fn run_engine_bench(
    options: &EngineBenchOptions,
    progress: &mut dyn FnMut(&str),
) -> EngineBenchReport {
    assert!(options.passes > 0, "at least one pass");
    let started = Instant::now();
    let progress = &mut |line: &str| {
        progress(&format!(
            "[{:6.1} s] {line}",
            started.elapsed().as_secs_f64()
        ))
    };
    let timer_overhead_ns = measure::timer_overhead_ns();
    let mut report = EngineBenchReport {
        commands: options.commands,
        warmup: options.warmup,
        seed: options.seed,
        passes: options.passes,
        timer_overhead_ns,
        workloads: Vec::new(),
        results: Vec::new(),
        mismatches: Vec::new(),
    };
    for &markets in &options.markets {
        progress(&format!("{markets} markets: generating the workload"));
        let start = Instant::now();
        let workload = workload::generate(&WorkloadSpec {
            markets,
            commands: options.commands,
            warmup: options.warmup,
            seed: options.seed,
        });
        report
            .workloads
            .push(summarise(&workload, start.elapsed().as_secs_f64()));
        let results = measure_books(&workload, options.passes, progress);
        report
            .mismatches
            .extend(check_agreement(&workload, &results));
        report.results.extend(results);
    }
    report
}

/// Throughput passes, then a latency pass, for both books on one workload.
fn measure_books(
    workload: &Workload,
    passes: u32,
    progress: &mut dyn FnMut(&str),
) -> Vec<BookResult> {
    let markets = workload.spec.markets;
    let commands = workload.stream.len() as f64;
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for pass in 1..=passes {
        for (index, book) in BookKind::ALL.into_iter().enumerate() {
            let elapsed = run_throughput_pass(book, workload);
            let rate = commands / elapsed.as_secs_f64();
            progress(&format!(
                "{markets} markets: {} throughput pass {pass}/{passes}: {}",
                book.name(),
                report::format_rate(rate)
            ));
            rates[index].push(rate);
        }
    }
    let mut results: Vec<BookResult> = BookKind::ALL
        .into_iter()
        .zip(rates)
        .map(|(book, rates)| {
            progress(&format!("{markets} markets: {} latency pass", book.name()));
            let latency = run_latency_pass(book, workload);
            BookResult {
                markets,
                book,
                commands_per_second: median(&rates),
                commands_per_second_passes: rates,
                latency: Percentiles::of(&latency.histogram_ns),
                latency_by_op: Op::ALL
                    .into_iter()
                    .zip(&latency.by_op_ns)
                    .map(|(op, histogram_ns)| OpLatency {
                        op: op.name(),
                        commands: histogram_ns.len(),
                        latency: Percentiles::of(histogram_ns),
                    })
                    .collect(),
                traded_fraction: latency.traded as f64 / commands,
                rejected_fraction: latency.rejected as f64 / commands,
                ratio_to_reference: 1.0,
                state_hash: format!("{:016x}", latency.state_hash),
            }
        })
        .collect();
    let reference_rate = results
        .iter()
        .find(|r| r.book == BookKind::Reference)
        .map_or(f64::NAN, |r| r.commands_per_second);
    for result in &mut results {
        result.ratio_to_reference = result.commands_per_second / reference_rate;
    }
    results
}

fn run_throughput_pass(book: BookKind, workload: &Workload) -> Duration {
    fn run<B: OrderBook>(workload: &Workload) -> Duration {
        let mut engine = engine_after_setup::<B>(workload);
        throughput_pass(&mut engine, &workload.stream)
    }
    match book {
        BookKind::Ladder => run::<LadderBook>(workload),
        BookKind::Reference => run::<ReferenceBook>(workload),
    }
}

fn run_latency_pass(book: BookKind, workload: &Workload) -> LatencyPass {
    fn run<B: OrderBook>(workload: &Workload) -> LatencyPass {
        let mut engine = engine_after_setup::<B>(workload);
        latency_pass(&mut engine, &workload.stream, &workload.stream_ops)
    }
    match book {
        BookKind::Ladder => run::<LadderBook>(workload),
        BookKind::Reference => run::<ReferenceBook>(workload),
    }
}

/// Both books must end in the same state and see the trades and rejects the generator saw;
/// otherwise the two measured different work and the ratio means nothing.
fn check_agreement(workload: &Workload, results: &[BookResult]) -> Vec<String> {
    let markets = workload.spec.markets;
    let commands = workload.stream.len() as f64;
    let expected_traded = workload.traded as f64 / commands;
    let expected_rejected = workload.rejected as f64 / commands;
    let mut mismatches = Vec::new();
    for result in results {
        if result.traded_fraction != expected_traded
            || result.rejected_fraction != expected_rejected
        {
            mismatches.push(format!(
                "{markets} markets, {} book: traded {} rejected {}, generator saw {} and {}",
                result.book.name(),
                result.traded_fraction,
                result.rejected_fraction,
                expected_traded,
                expected_rejected
            ));
        }
    }
    if let [first, rest @ ..] = results
        && let Some(other) = rest.iter().find(|r| r.state_hash != first.state_hash)
    {
        mismatches.push(format!(
            "{markets} markets: state hash {} ({}) differs from {} ({})",
            first.state_hash,
            first.book.name(),
            other.state_hash,
            other.book.name()
        ));
    }
    mismatches
}

fn summarise(workload: &Workload, generate_seconds: f64) -> WorkloadSummary {
    let commands = workload.stream.len();
    let fraction = |count: u64| count as f64 / commands.max(1) as f64;
    WorkloadSummary {
        markets: workload.spec.markets,
        selections_per_market: workload::SELECTIONS_PER_MARKET,
        makers: workload::MAKERS,
        takers: workload::TAKERS,
        setup_commands: workload.setup.len(),
        commands,
        resting_at_start: workload.resting_at_start,
        resting_at_end: workload.resting_at_end,
        mix: Op::ALL
            .into_iter()
            .zip(workload.op_counts)
            .map(|(op, count)| OpShare {
                op: op.name(),
                commands: count,
                fraction: fraction(count),
            })
            .collect(),
        traded_fraction: fraction(workload.traded),
        rejected_fraction: fraction(workload.rejected),
        generate_seconds,
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
