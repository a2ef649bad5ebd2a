//! oddsmatch benchmarks.
//!
//! The engine benchmark ([`run_engine_bench`]) runs up to four cases ([`Case`]):
//!
//! - **exchange**: a seeded, exchange-core-like stream of order commands ([`workload`])
//!   through the engine with its fast book and, in the same run, with the naive reference
//!   book: commands per second and per-command latency percentiles for both;
//! - **market_data**: the same stream on markets created with `market_data` on and off (fast
//!   book), and the ratio of the two throughputs;
//! - **pool**: pari-mutuel bets and cancelled bets ([`pool`]), market data on and off;
//! - **votes**: tallying one vote from each of 10,000 accounts and resolving the market at the
//!   window's end ([`votes`]).
//!
//! `cargo bench -p oddsmatch-benches` and `oddsmatch bench engine` both call it;
//! `docs/benchmarks.md` describes the workloads and the method.
//!
//! The journal benchmark ([`run_journal_bench`], `oddsmatch bench journal`) measures the
//! journal beside its references in the same run: appends against a bare copy into the same
//! kind of mapping, the engine with its journal (in process and through a shard thread)
//! against the engine alone, `sync` commit latency against a bare `msync`, replay against the
//! engine alone, and restart time on a ten-million-record journal ([`journal`]).
//!
//! The order-entry benchmark ([`run_e2e_bench`], `oddsmatch bench e2e`) sends `NEW_ORDER`s
//! over loopback TCP to a node in the same process (gateway, one shard, journal) and measures
//! open-loop latency at fixed rates and one connection's pipelined throughput, beside a bare
//! TCP echo server measured in the same run ([`e2e`]).
//!
//! The persist benchmark ([`run_persist_bench`], `oddsmatch bench persist`) measures the flush
//! of a journal to Postgres against a bare binary COPY of the same rows in the same run, and
//! the flush's lag behind a live shard driven at a fixed event rate ([`persist`]).
//!
//! The market-data fan-out benchmark ([`run_fanout_bench`], `oddsmatch bench fanout`) sends
//! odds ticks to thousands of subscribers of a node in a child process, over loopback TCP and
//! QUIC, and measures tick-to-subscriber latency and delivery beside the same fan-out through
//! NATS core publish and subscribe in the same run ([`fanout`]).
//!
//! Benchmarks are never assertions: nothing here fails because something was slow.

#![warn(missing_docs)]

pub mod e2e;
pub mod fanout;
pub mod journal;
pub mod measure;
pub mod persist;
pub mod pool;
pub mod report;
pub mod rng;
pub mod votes;
pub mod workload;

use std::time::{Duration, Instant};

use oddsmatch_engine::book::{LadderBook, OrderBook, ReferenceBook};
use oddsmatch_engine::{Engine, EngineConfig, Input};

pub use e2e::{E2eBenchOptions, E2eBenchReport, run_e2e_bench};
pub use fanout::{FanoutBenchOptions, FanoutBenchReport, run_fanout_bench};
pub use journal::{JournalBenchOptions, JournalBenchReport, JournalStep, run_journal_bench};
pub use persist::{PersistBenchOptions, PersistBenchReport, run_persist_bench};
pub use report::{
    BookKind, BookResult, EngineBenchReport, MarketDataResult, ModeResult, OpLatency, OpShare,
    Percentiles, PoolResult, PoolWorkloadSummary, VoteResult, WorkloadSummary,
};

use measure::{
    LatencyPass, StreamOp, engine_after, engine_after_setup, latency_pass, throughput_pass,
};
use pool::{PoolOp, PoolWorkload};
use votes::VoteSpec;
use workload::{Op, Workload, WorkloadSpec};

/// The goal for market data's cost: the exchange mix with it on runs at least this fraction of
/// its throughput with it off.
pub const GOAL_RATIO_ON_OFF: f64 = 0.8;

/// One case of the engine benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Case {
    /// The exchange mix, fast book against reference book.
    Exchange,
    /// The exchange mix with market data on and off.
    MarketData,
    /// Pool bets and cancels, market data on and off.
    Pool,
    /// Tallying votes and resolving by vote.
    Votes,
}

impl Case {
    /// Every case, in the order they run.
    pub const ALL: [Case; 4] = [Case::Exchange, Case::MarketData, Case::Pool, Case::Votes];

    /// The case's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Case::Exchange => "exchange",
            Case::MarketData => "market_data",
            Case::Pool => "pool",
            Case::Votes => "votes",
        }
    }

    /// The case of a name.
    pub fn from_name(name: &str) -> Option<Case> {
        Case::ALL.into_iter().find(|case| case.name() == name)
    }
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

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
    /// The market counts to run, one workload each (exchange, market data and pool cases).
    pub markets: Vec<u32>,
    /// The cases to run.
    pub cases: Vec<Case>,
    /// Accounts voting in the votes case.
    pub voters: u32,
    /// Voters who vote a second time.
    pub revotes: u32,
    /// Timed passes of the votes case; the medians are reported.
    pub vote_passes: u32,
}

impl Default for EngineBenchOptions {
    fn default() -> Self {
        EngineBenchOptions {
            commands: 500_000,
            warmup: 200_000,
            seed: 42,
            passes: 3,
            markets: vec![1, 1_000],
            cases: Case::ALL.to_vec(),
            voters: 10_000,
            revotes: 1_000,
            vote_passes: 9,
        }
    }
}

/// Runs the engine benchmark, reporting progress lines to `progress` as it goes.
///
/// For each market count: generates the exchange workload, then (case `exchange`) runs
/// `passes` throughput passes per book (alternating the books, so that noise on the machine
/// hits both alike) and one latency pass per book, then (case `market_data`) the same on the
/// fast book with market data on and off. Then the pool workload of each market count (case
/// `pool`), then the votes (case `votes`). Every pass starts from a fresh engine holding the
/// setup.
pub fn run_engine_bench(
    options: &EngineBenchOptions,
    progress: &mut dyn FnMut(&str),
) -> EngineBenchReport {
    assert!(
        options.passes > 0 && options.vote_passes > 0,
        "at least one pass"
    );
    let wants = |case: Case| options.cases.contains(&case);
    let started = Instant::now();
    let progress = &mut |line: &str| {
        progress(&format!(
            "[{:6.1} s] {line}",
            started.elapsed().as_secs_f64()
        ))
    };
    let timer_overhead_ns = measure::timer_overhead_ns();
    let mut report = EngineBenchReport {
        cases: Case::ALL
            .into_iter()
            .filter(|case| wants(*case))
            .map(Case::name)
            .collect(),
        commands: options.commands,
        warmup: options.warmup,
        seed: options.seed,
        passes: options.passes,
        timer_overhead_ns,
        workloads: Vec::new(),
        results: Vec::new(),
        market_data: Vec::new(),
        pools: Vec::new(),
        votes: None,
        mismatches: Vec::new(),
    };
    for &markets in &options.markets {
        let spec = WorkloadSpec {
            markets,
            commands: options.commands,
            warmup: options.warmup,
            seed: options.seed,
        };
        if wants(Case::Exchange) || wants(Case::MarketData) {
            progress(&format!("{markets} markets: generating the workload"));
            let start = Instant::now();
            let workload = workload::generate(&spec);
            report
                .workloads
                .push(summarise(&workload, start.elapsed().as_secs_f64()));
            if wants(Case::Exchange) {
                let results = measure_books(&workload, options.passes, progress);
                report
                    .mismatches
                    .extend(check_agreement(&workload, &results));
                report.results.extend(results);
            }
            if wants(Case::MarketData) {
                let result = measure_market_data(&workload, options.passes, progress);
                report.mismatches.extend(check_modes(&workload, &result));
                report.market_data.push(result);
            }
        }
    }
    if wants(Case::Pool) {
        for &markets in &options.markets {
            progress(&format!("pool, {markets} markets: generating the workload"));
            let start = Instant::now();
            let workload = pool::generate(&WorkloadSpec {
                markets,
                commands: options.commands,
                warmup: options.warmup,
                seed: options.seed,
            });
            let generate_seconds = start.elapsed().as_secs_f64();
            let result = measure_pool(&workload, generate_seconds, options.passes, progress);
            for (name, mode) in [("on", &result.on), ("off", &result.off)] {
                if mode.rejected_fraction != 0.0 || mode.circuit_breaker_trips != 0 {
                    report.mismatches.push(format!(
                        "pool, {markets} markets, market data {name}: {} of commands \
                         rejected and {} breaker trips, the generator saw none",
                        mode.rejected_fraction, mode.circuit_breaker_trips
                    ));
                }
            }
            report.pools.push(result);
        }
    }
    if wants(Case::Votes) {
        progress(&format!(
            "votes: generating {} voters' workload",
            options.voters
        ));
        let workload = votes::generate(&VoteSpec {
            voters: options.voters,
            revotes: options.revotes,
            seed: options.seed,
        });
        report.votes = Some(votes::run_vote_bench(
            &workload,
            options.vote_passes,
            progress,
            &mut report.mismatches,
        ));
    }
    report
}

/// A stream and the setups that run it with market data on (`[0]`) and off (`[1]`).
struct ModeRuns<'a, O> {
    label: String,
    config: &'a EngineConfig,
    setups: [Vec<Input>; 2],
    stream: &'a [Input],
    ops: &'a [O],
    names: Vec<&'static str>,
}

/// Throughput passes alternating market data on and off, then a latency pass of each, on
/// the fast book. Returns `[on, off]` and the ratio of their throughputs.
fn measure_modes<O: StreamOp>(
    runs: &ModeRuns<'_, O>,
    passes: u32,
    progress: &mut dyn FnMut(&str),
) -> ([ModeResult; 2], f64) {
    let commands = runs.stream.len() as f64;
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for pass in 1..=passes {
        for (index, name) in ["on", "off"].into_iter().enumerate() {
            let mut engine: Engine<LadderBook> = engine_after(runs.config, &runs.setups[index]);
            let elapsed = throughput_pass(&mut engine, runs.stream);
            let rate = commands / elapsed.as_secs_f64();
            progress(&format!(
                "{}: market data {name} throughput pass {pass}/{passes}: {}",
                runs.label,
                report::format_rate(rate)
            ));
            rates[index].push(rate);
        }
    }
    let [on, off] = [0, 1].map(|index| {
        let name = ["on", "off"][index];
        progress(&format!("{}: market data {name} latency pass", runs.label));
        let mut engine: Engine<LadderBook> = engine_after(runs.config, &runs.setups[index]);
        let latency = latency_pass(&mut engine, runs.stream, runs.ops);
        let rates = std::mem::take(&mut rates[index]);
        ModeResult {
            commands_per_second: median(&rates),
            commands_per_second_passes: rates,
            latency: Percentiles::of(&latency.histogram_ns),
            latency_by_op: runs
                .names
                .iter()
                .zip(&latency.by_op_ns)
                .map(|(op, histogram_ns)| OpLatency {
                    op,
                    commands: histogram_ns.len(),
                    latency: Percentiles::of(histogram_ns),
                })
                .collect(),
            events_per_command: latency.events as f64 / commands,
            odds_ticks: latency.odds_ticks,
            circuit_breaker_trips: latency.breaker_trips,
            traded_fraction: latency.traded as f64 / commands,
            rejected_fraction: latency.rejected as f64 / commands,
            state_hash: format!("{:016x}", latency.state_hash),
        }
    });
    let ratio = on.commands_per_second / off.commands_per_second;
    ([on, off], ratio)
}

/// The exchange mix with market data on and off.
fn measure_market_data(
    workload: &Workload,
    passes: u32,
    progress: &mut dyn FnMut(&str),
) -> MarketDataResult {
    let runs = ModeRuns {
        label: format!("{} markets", workload.spec.markets),
        config: &workload.config,
        setups: [true, false].map(|on| workload::with_market_data(&workload.setup, on)),
        stream: &workload.stream,
        ops: &workload.stream_ops,
        names: Op::ALL.into_iter().map(Op::name).collect(),
    };
    let ([on, off], ratio_on_off) = measure_modes(&runs, passes, progress);
    MarketDataResult {
        markets: workload.spec.markets,
        on,
        off,
        ratio_on_off,
        goal_ratio_on_off: GOAL_RATIO_ON_OFF,
    }
}

/// Both modes must see exactly the trades and rejects the generator saw: market data changes
/// what is published, never what trades.
fn check_modes(workload: &Workload, result: &MarketDataResult) -> Vec<String> {
    let commands = workload.stream.len() as f64;
    let expected = (
        workload.traded as f64 / commands,
        workload.rejected as f64 / commands,
    );
    [("on", &result.on), ("off", &result.off)]
        .into_iter()
        .filter(|(_, mode)| {
            (mode.traded_fraction, mode.rejected_fraction) != expected
                || mode.circuit_breaker_trips != 0
        })
        .map(|(name, mode)| {
            format!(
                "{} markets, market data {name}: traded {} rejected {}, generator saw {} and {}",
                workload.spec.markets,
                mode.traded_fraction,
                mode.rejected_fraction,
                expected.0,
                expected.1
            )
        })
        .collect()
}

/// Pool bets with market data on and off.
fn measure_pool(
    workload: &PoolWorkload,
    generate_seconds: f64,
    passes: u32,
    progress: &mut dyn FnMut(&str),
) -> PoolResult {
    let markets = workload.spec.markets;
    let runs = ModeRuns {
        label: format!("pool, {markets} markets"),
        config: &workload.config,
        setups: [true, false].map(|on| workload::with_market_data(&workload.setup, on)),
        stream: &workload.stream,
        ops: &workload.stream_ops,
        names: PoolOp::ALL.into_iter().map(PoolOp::name).collect(),
    };
    let ([on, off], ratio_on_off) = measure_modes(&runs, passes, progress);
    let commands = workload.stream.len();
    PoolResult {
        markets,
        workload: PoolWorkloadSummary {
            selections_per_market: pool::SELECTIONS_PER_POOL,
            bettors: pool::BETTORS,
            setup_commands: workload.setup.len(),
            commands,
            live_bets_at_start: workload.live_bets_at_start,
            live_bets_at_end: workload.live_bets_at_end,
            mix: PoolOp::ALL
                .into_iter()
                .zip(workload.op_counts)
                .map(|(op, count)| OpShare {
                    op: op.name(),
                    commands: count,
                    fraction: count as f64 / commands.max(1) as f64,
                })
                .collect(),
            generate_seconds,
        },
        on,
        off,
        ratio_on_off,
    }
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
