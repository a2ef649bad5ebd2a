//! The market-data fan-out benchmark: odds ticks from the engine to thousands of subscribers
//! over loopback TCP and QUIC, beside the same fan-out through NATS core publish and subscribe
//! in the same run (`oddsmatch bench fanout`).
//!
//! **The node runs as a child process** (`fanout/server.rs`): `oddsmatch serve` on free
//! loopback ports, with a configuration that makes room for the subscribers and lets the market
//! maker quote unthrottled. Ten thousand subscribers and the server would not fit in one
//! process's file descriptors, and apart they do not share a runtime either.
//!
//! **Ticks** (`fanout/source.rs`): a market maker on order entry sends mass quotes on a fixed
//! schedule, each moving one market's best price, so that each makes one `TICK`, stamped by
//! the engine with its input time. Two rates ([`Rate`]): `base` is REQUIREMENTS §3's
//! fan-out, one market ticking at 2 Hz; `100x` is a hundred times that for each subscriber,
//! 25 markets at 8 Hz (200 ticks per second per subscriber), every subscriber on every market.
//!
//! **Subscribers** (`fanout/fleet.rs`): one connection each, anonymous, on a tokio runtime in
//! this process, at most 500 TCP (64 QUIC) connections being made at once, refused ones
//! retried; over QUIC the server's certificate is pinned by the fingerprint `serve` prints
//! (`fanout/quic.rs`). Per rate each subscribes to the rate's markets (`ticks`), takes its
//! starting point from its snapshot, decodes every frame (`split_frame`,
//! `MdServerMsg::decode`), and for every tick published during the measurement records the
//! wall clock at the socket read minus the tick's timestamp, and checks the sequence numbers
//! (jumps, conflated snapshots). Sent is the ticks published during the measurement: the node's
//! count from a control subscription's snapshots before and after, or, when an overloaded node
//! does not answer that in time, the quotes sent. Delivered is what the subscribers received
//! against what each should have had (every tick after its own snapshot), waiting after the
//! ticks until all arrived, or none for 3 s, or 10 s at most. Per tick the earliest and latest
//! arrival over the subscribers are kept too (`fanout/tally.rs`): the earliest is the pipeline
//! alone, the latest the whole fan-out.
//!
//! **The reference** (`fanout/nats.rs`): the same number of subscribers, each a NATS client of
//! its own with a subscription per market, a publisher sending payloads of a `TICK` frame's
//! size at the same rates with its send time inside, the same measurement. Unreachable NATS is
//! reported missing and the oddsmatch cases still run.
//!
//! A case that fails (subscribers that cannot connect or subscribe) is reported as a mismatch
//! and the others still run.
//!
//! For each subscriber count, in each run: oddsmatch over each transport, then NATS, each at
//! every rate on one set of connections. The processor time of the node's threads (or of the
//! NATS server) and of this process's is read from `/proc` around the ticks, to show where the
//! time goes. Benchmarks are never assertions: nothing here fails because something was slow.

mod fleet;
mod nats;
mod quic;
mod report;
mod server;
mod source;
mod tally;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use oddsmatch_engine::{MarketId, MarketStatus, SelectionId, TickReason};
use oddsmatch_net::market_data::{MAX_THREADS, MarketDataConfig};
use oddsmatch_net::proto::md::{MdServerMsg, Tick, TickSelection};

pub use report::{CaseResult, Comparison, CpuShare, FanoutBenchReport};

use crate::report::{Percentiles, format_ns};
use fleet::{Dial, Fleet};
use server::Server;
use tally::{PhaseMarkets, TickTable};

/// The goal for oddsmatch's 99th percentile at [`GOAL_SUBSCRIBERS`] (and below NATS's).
pub const GOAL_P99_NS: u64 = 5_000_000;
/// The number of subscribers the goal is for.
pub const GOAL_SUBSCRIBERS: usize = 10_000;
/// The most subscribers of one case (the process's file descriptors bound it).
pub const MAX_SUBSCRIBERS: usize = 19_000;
/// The NATS server the benchmark uses unless told otherwise.
pub const DEFAULT_NATS: &str = "nats://127.0.0.1:4222";
/// TCP connections (oddsmatch and NATS) made at once (the listen backlog holds them).
const WAVE: usize = 500;
/// How long the node may take to answer a control subscription before the ticks.
const CONTROL_WAIT: Duration = Duration::from_secs(60);
/// ...and after them, when it only checks the count of ticks.
const CHECK_WAIT: Duration = Duration::from_secs(5);
/// How long subscribers may take to get their starting points.
const READY_WAIT: Duration = Duration::from_secs(60);
/// After the ticks, delivery is over when every subscriber has every tick, or when nothing
/// arrived for this long (NATS delivers in bursts seconds apart when overloaded)...
const DRAIN_QUIET: Duration = Duration::from_secs(3);
/// ...or after this long at most.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// How long to wait for the node to finish its start-up work.
const QUIET_WAIT: Duration = Duration::from_secs(60);
/// File descriptors kept for everything but the subscribers.
const SPARE_FILES: u64 = 512;

/// A tick rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rate {
    /// REQUIREMENTS §3: one market at 2 Hz.
    Base,
    /// A hundred times that per subscriber: 25 markets at 8 Hz.
    Hundred,
}

impl Rate {
    /// Every rate, in the order they run.
    pub const ALL: [Rate; 2] = [Rate::Base, Rate::Hundred];

    /// The rate's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Rate::Base => "base",
            Rate::Hundred => "100x",
        }
    }

    /// The rate of a name.
    pub fn from_name(name: &str) -> Option<Rate> {
        Rate::ALL.into_iter().find(|rate| rate.name() == name)
    }

    /// Markets ticking.
    pub fn markets(self) -> u32 {
        match self {
            Rate::Base => 1,
            Rate::Hundred => 25,
        }
    }

    /// Ticks per second of each.
    pub fn hz(self) -> u32 {
        match self {
            Rate::Base => 2,
            Rate::Hundred => 8,
        }
    }

    /// The first of its markets (each rate has markets of its own, so that one rate's
    /// heartbeat ticks never reach another's subscribers).
    fn first_market(self) -> u32 {
        match self {
            Rate::Base => 1,
            Rate::Hundred => 1 + Rate::Base.markets(),
        }
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Markets the node is started with.
const MARKETS: u32 = 1 + 25;

/// A market-data transport of oddsmatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transport {
    /// Plain TCP.
    Tcp,
    /// QUIC (TLS 1.3), the server's certificate pinned.
    Quic,
}

impl Transport {
    /// Every transport, in the order they run.
    pub const ALL: [Transport; 2] = [Transport::Tcp, Transport::Quic];

    /// The transport's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Quic => "quic",
        }
    }

    /// The transport of a name.
    pub fn from_name(name: &str) -> Option<Transport> {
        Transport::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What [`run_fanout_bench`] runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FanoutBenchOptions {
    /// oddsmatch's transports.
    pub transports: Vec<Transport>,
    /// Subscriber counts, one case each.
    pub subscribers: Vec<usize>,
    /// Tick rates, one measurement each.
    pub rates: Vec<Rate>,
    /// Ticking time per measurement.
    pub duration: Duration,
    /// Runs; the medians are reported.
    pub runs: u32,
    /// The NATS server of the reference (`None`: no reference).
    pub nats: Option<String>,
    /// The `oddsmatch` executable that serves (`serve` is its subcommand).
    pub server: PathBuf,
    /// Where the node's temporary directory goes.
    pub dir: PathBuf,
    /// The node's market-data writer threads (`market_data.threads`).
    pub md_threads: usize,
}

impl Default for FanoutBenchOptions {
    fn default() -> Self {
        FanoutBenchOptions {
            transports: Transport::ALL.to_vec(),
            subscribers: vec![1_000, 10_000],
            rates: Rate::ALL.to_vec(),
            duration: Duration::from_secs(10),
            runs: 1,
            nats: Some(DEFAULT_NATS.to_owned()),
            server: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("oddsmatch")),
            dir: std::env::temp_dir(),
            md_threads: MarketDataConfig::default().threads,
        }
    }
}

impl FanoutBenchOptions {
    /// Checks the options; the benchmark refuses to start on any of these.
    pub fn validate(&self) -> Result<(), String> {
        fn unique<T: PartialEq + std::fmt::Display>(what: &str, items: &[T]) -> Result<(), String> {
            if items.is_empty() {
                return Err(format!("no {what}"));
            }
            for (index, item) in items.iter().enumerate() {
                if items[..index].contains(item) {
                    return Err(format!("{what} {item} is named twice"));
                }
            }
            Ok(())
        }
        unique("transport", &self.transports)?;
        unique("rate", &self.rates)?;
        unique("subscriber count", &self.subscribers)?;
        if let Some(&count) = self
            .subscribers
            .iter()
            .find(|&&n| !(1..=MAX_SUBSCRIBERS).contains(&n))
        {
            return Err(format!(
                "{count} subscribers: from 1 to {MAX_SUBSCRIBERS} per case"
            ));
        }
        if !(1..=MAX_THREADS).contains(&self.md_threads) {
            return Err(format!(
                "{} market-data threads: from 1 to {MAX_THREADS}",
                self.md_threads
            ));
        }
        if self.runs == 0 {
            return Err("at least one run".into());
        }
        if self.duration < Duration::from_secs(1) || self.duration > Duration::from_secs(3_600) {
            return Err("the duration must be from 1 s to an hour".into());
        }
        if self
            .nats
            .as_deref()
            .is_some_and(|url| url.trim().is_empty())
        {
            return Err("the NATS address is empty".into());
        }
        Ok(())
    }
}

/// Bytes of a `TICK` frame of a market with the run's selections.
pub fn tick_frame_bytes() -> usize {
    let mut frame = Vec::new();
    MdServerMsg::Tick(Tick {
        market: MarketId(1),
        status: Some(MarketStatus::Open),
        flags: 0,
        tick_seq: 1,
        reason: Some(TickReason::Change),
        overround_bps: 0,
        ts_ns: 0,
        selections: server::SELECTIONS
            .iter()
            .map(|&selection| TickSelection {
                selection: SelectionId(selection),
                ..TickSelection::default()
            })
            .collect(),
    })
    .encode(&mut frame);
    frame.len()
}

/// Which case a measurement belongs to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct CaseKey {
    subscribers: usize,
    rate: Rate,
    /// 0: oddsmatch, 1: NATS (so that NATS follows oddsmatch in the tables).
    order: u8,
    transport: Transport,
}

/// One measurement.
struct Measured {
    sent: u64,
    expected: u64,
    tally: tally::Tally,
    joined: u64,
    subscribers: usize,
    latency: Percentiles,
    first_arrival: Percentiles,
    last_arrival: Percentiles,
    source_late_ns_max: u64,
    source_refused: u64,
    udp_receive_drops: u64,
    node_udp_drops: u64,
    cpu: Vec<CpuShare>,
    /// What made this measurement less clean.
    notes: Vec<String>,
}

/// Runs the benchmark, reporting progress lines to `progress` as it goes. Fails on invalid
/// options and when the node does not start; a case whose subscribers cannot connect or
/// subscribe is reported among the mismatches.
pub fn run_fanout_bench(
    options: &FanoutBenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<FanoutBenchReport, String> {
    options.validate()?;
    let started = Instant::now();
    let progress = &mut |line: &str| {
        progress(&format!(
            "[{:6.1} s] {line}",
            started.elapsed().as_secs_f64()
        ))
    };
    let most = options.subscribers.iter().copied().max().unwrap_or(0);
    raise_file_limit(most as u64 + SPARE_FILES)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .thread_name("fanout-sub")
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let mut notes = Vec::new();
    let mut mismatches = Vec::new();

    let nats_missing = match &options.nats {
        None => Some("not asked for".to_owned()),
        Some(url) => {
            let check = async {
                tokio::time::timeout(Duration::from_secs(5), nats::probe_server(url)).await
            };
            match runtime.block_on(check) {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(format!("no NATS server at {url}: {error}")),
                Err(_) => Some(format!("no NATS server at {url}: no answer within 5 s")),
            }
        }
    };
    if let Some(why) = &nats_missing {
        progress(&format!("NATS reference missing: {why}"));
    }

    progress(&format!("starting {} serve", options.server.display()));
    let server = Server::start(
        &options.server,
        &options.dir,
        MARKETS,
        most,
        options.md_threads,
    )?;
    progress(&format!(
        "node {}: order entry on {}, market data on {} (TCP){}",
        server.pid(),
        server.order_entry,
        server.tcp,
        server.quic.map_or_else(
            || ", no QUIC".to_owned(),
            |(addr, _)| format!(" and {addr} (QUIC)")
        )
    ));
    if !server.wait_until_quiet(QUIET_WAIT) {
        notes.push(format!(
            "the node was still busy {} s after its start",
            QUIET_WAIT.as_secs()
        ));
    }
    let quic_missing = (options.transports.contains(&Transport::Quic) && server.quic.is_none())
        .then(|| "the node printed no QUIC address and fingerprint".to_owned());
    if let Some(why) = &quic_missing {
        progress(&format!("QUIC not available: {why}"));
    }

    let frame_bytes = tick_frame_bytes();
    let mut quotes = source::Quotes::default();
    let mut measured: BTreeMap<CaseKey, Vec<Measured>> = BTreeMap::new();
    let runs = options.runs;
    for run in 1..=runs {
        for &count in &options.subscribers {
            for &transport in &options.transports {
                let dial = match (transport, server.quic) {
                    (Transport::Tcp, _) => Dial::Tcp(server.tcp),
                    (Transport::Quic, Some((addr, pinned))) => Dial::Quic(addr, pinned),
                    (Transport::Quic, None) => continue,
                };
                let label = format!("run {run}/{runs}, {count} subscribers, oddsmatch {transport}");
                let mut results = Vec::new();
                let done = oddsmatch_case(
                    &runtime,
                    &server,
                    dial,
                    count,
                    options,
                    &mut quotes,
                    &label,
                    &mut results,
                    progress,
                );
                let key = |rate| CaseKey {
                    subscribers: count,
                    rate,
                    order: 0,
                    transport,
                };
                file_case(done, results, key, &mut measured, &mut mismatches, progress);
            }
            if let (Some(url), None) = (&options.nats, &nats_missing) {
                let label = format!("run {run}/{runs}, {count} subscribers, nats");
                let prefix: Arc<str> =
                    format!("oddsmatch.fanout.{}.{run}.{count}", std::process::id()).into();
                let mut results = Vec::new();
                let done = nats_case(
                    &runtime,
                    url,
                    prefix,
                    count,
                    frame_bytes,
                    options,
                    &label,
                    &mut results,
                    progress,
                );
                let key = |rate| CaseKey {
                    subscribers: count,
                    rate,
                    order: 1,
                    transport: Transport::Tcp,
                };
                file_case(done, results, key, &mut measured, &mut mismatches, progress);
            }
        }
    }
    let warnings = server.log_lines();
    server.stop()?;
    if warnings > 0 {
        notes.push(format!("the node logged {warnings} warning line(s)"));
    }
    drop(runtime);

    let cases: Vec<CaseResult> = measured
        .iter()
        .map(|(key, runs)| case_result(key, runs, &mut notes, &mut mismatches))
        .collect();
    let comparisons = compare(&cases);
    Ok(FanoutBenchReport {
        runs,
        duration_ms: options.duration.as_millis() as u64,
        cores,
        md_threads: options.md_threads,
        tick_frame_bytes: frame_bytes,
        nats_url: options.nats.clone(),
        nats_missing,
        quic_missing,
        cases,
        comparisons,
        goal_p99_ns: GOAL_P99_NS,
        goal_subscribers: GOAL_SUBSCRIBERS,
        seconds: started.elapsed().as_secs_f64(),
        notes,
        mismatches,
    })
}

/// Files a case's measurements under their keys, and its failure (if any) among the
/// mismatches.
fn file_case(
    done: Result<(), String>,
    results: Vec<(Rate, Measured)>,
    key: impl Fn(Rate) -> CaseKey,
    measured: &mut BTreeMap<CaseKey, Vec<Measured>>,
    mismatches: &mut Vec<String>,
    progress: &mut dyn FnMut(&str),
) {
    if let Err(error) = done {
        progress(&format!("FAILED: {error}"));
        mismatches.push(format!("{error} (the case's other measurements stand)"));
    }
    for (rate, result) in results {
        measured.entry(key(rate)).or_default().push(result);
    }
}

/// The markets of a rate, with a table for their ticks.
fn phase_markets(rate: Rate, duration: Duration) -> Arc<PhaseMarkets> {
    let seconds = duration.as_secs() as usize + 1 + DRAIN_LIMIT.as_secs() as usize + 30;
    Arc::new(PhaseMarkets {
        first: rate.first_market(),
        count: rate.markets(),
        table: TickTable::new(rate.markets() as usize, rate.hz() as usize * seconds + 16),
    })
}

/// oddsmatch over one transport: `count` subscribers, every rate.
#[allow(clippy::too_many_arguments)]
fn oddsmatch_case(
    runtime: &tokio::runtime::Runtime,
    server: &Server,
    dial: Dial,
    count: usize,
    options: &FanoutBenchOptions,
    quotes: &mut source::Quotes,
    label: &str,
    results: &mut Vec<(Rate, Measured)>,
    progress: &mut dyn FnMut(&str),
) -> Result<(), String> {
    progress(&format!("{label}: connecting"));
    let mut fleet = Fleet::new();
    let quic_port = server.quic.map_or(0, |(addr, _)| addr.port());
    let (drops, started) = (quic::udp_port_drops(quic_port), Instant::now());
    let connected = runtime.block_on(fleet::connect(&mut fleet, dial, count, WAVE, &mut |line| {
        progress(&format!("{label}: {line}"))
    }));
    if let Err(error) = connected {
        runtime.block_on(fleet.stop());
        return Err(format!("{label}: {error}"));
    }
    let drops = quic::udp_port_drops(quic_port).saturating_sub(drops);
    progress(&format!(
        "{label}: connected in {:.1} s{}",
        started.elapsed().as_secs_f64(),
        if drops > 0 {
            format!(" ({drops} datagrams dropped at the node's QUIC socket)")
        } else {
            String::new()
        }
    ));
    for &rate in &options.rates {
        let result = oddsmatch_rate(
            server, &fleet, count, rate, options, quotes, label, progress,
        );
        match result {
            Ok(result) => results.push((rate, result)),
            Err(error) => {
                runtime.block_on(fleet.stop());
                return Err(format!("{label}, {rate}: {error}"));
            }
        }
    }
    progress(&format!("{label}: disconnecting"));
    runtime.block_on(fleet.stop());
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn oddsmatch_rate(
    server: &Server,
    fleet: &Fleet,
    count: usize,
    rate: Rate,
    options: &FanoutBenchOptions,
    quotes: &mut source::Quotes,
    label: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<Measured, String> {
    let markets = phase_markets(rate, options.duration);
    fleet.begin(markets.clone())?;
    if !fleet.wait_ready(READY_WAIT) {
        progress(&format!(
            "{label}, {rate}: not every subscriber has its snapshots"
        ));
    }
    let start = server::market_seqs(
        server.tcp,
        MarketId(markets.first),
        markets.count,
        CONTROL_WAIT,
    )?;
    for (index, &seq) in start.iter().enumerate() {
        markets.table.set_start(index, seq);
    }
    progress(&format!(
        "{label}, {rate}: {} markets at {} Hz for {} s",
        markets.count,
        rate.hz(),
        options.duration.as_secs_f64()
    ));
    let cpu = Cpu::start(vec![("node", server.pid())]);
    let drops = quic::udp_receive_drops();
    let quic_port = server.quic.map_or(0, |(addr, _)| addr.port());
    let node_drops = quic::udp_port_drops(quic_port);
    let source = source::run(
        server.order_entry,
        markets.first,
        markets.count,
        rate.hz(),
        options.duration,
        quotes,
    )?;
    let cpu = cpu.shares();
    // Each quote moves its market's price a tick interval or more after the last, so each
    // should make one tick: the last tick of a market should be its start plus its quotes.
    let estimate: Vec<u64> = start
        .iter()
        .zip(&source.per_market)
        .map(|(start, quotes)| start + quotes)
        .collect();
    // Quiet markets make a heartbeat tick 10 s after their last: not the measurement's.
    for (index, &end) in estimate.iter().enumerate() {
        markets.table.set_end(index, end);
    }
    let joined = fleet.shared.joined.load(Ordering::SeqCst) as u64;
    fleet.drain(markets.table.expected(&estimate), DRAIN_QUIET, DRAIN_LIMIT);
    let drops = quic::udp_receive_drops().saturating_sub(drops);
    let node_drops = quic::udp_port_drops(quic_port).saturating_sub(node_drops);
    let mut notes: Vec<String> = Vec::new();
    // The node's own count, when it answers in time. It can be lower: on a starved machine two
    // quotes may reach the engine less than a tick interval apart and undo each other's move
    // before the tick that would show it.
    let end = match server::market_seqs(
        server.tcp,
        MarketId(markets.first),
        markets.count,
        CHECK_WAIT,
    ) {
        Ok(told) => {
            let end: Vec<u64> = told.iter().zip(&estimate).map(|(t, e)| *t.min(e)).collect();
            let fewer: u64 = estimate
                .iter()
                .zip(&end)
                .map(|(e, n)| e.saturating_sub(*n))
                .sum();
            if fewer > 0 {
                notes.push(format!(
                    "{fewer} quote(s) made no tick (they reached the engine less than a tick \
                     interval apart)"
                ));
            }
            end
        }
        Err(error) => {
            notes.push(format!(
                "ticks counted as quotes: the node did not tell its count in time ({error})"
            ));
            estimate
        }
    };
    if !fleet.report() {
        progress(&format!(
            "{label}, {rate}: not every subscriber handed in its tally"
        ));
    }
    let (histogram, tally) = fleet.shared.take_phase();
    let (first, last) = markets.table.histograms();
    notes.extend(
        fleet
            .shared
            .take_end_reasons()
            .into_iter()
            .map(|(reason, count)| format!("the node ended {count} session(s): {reason}")),
    );
    let sent = end
        .iter()
        .zip(&start)
        .map(|(end, start)| end.saturating_sub(*start))
        .sum();
    let measured = Measured {
        sent,
        expected: tally.expected(&end),
        joined,
        tally,
        subscribers: count,
        latency: Percentiles::of(&histogram),
        first_arrival: Percentiles::of(&first),
        last_arrival: Percentiles::of(&last),
        source_late_ns_max: source.late_ns_max,
        source_refused: source.refused,
        udp_receive_drops: drops,
        node_udp_drops: node_drops,
        cpu,
        notes,
    };
    if let Some(refusal) = &source.first_refusal {
        progress(&format!(
            "{label}, {rate}: {} quotes refused, the first: {refusal}",
            source.refused
        ));
    }
    progress(&format!("{label}, {rate}: {}", describe(&measured)));
    Ok(measured)
}

/// The NATS reference: `count` subscribers, every rate.
#[allow(clippy::too_many_arguments)]
fn nats_case(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    prefix: Arc<str>,
    count: usize,
    payload_bytes: usize,
    options: &FanoutBenchOptions,
    label: &str,
    results: &mut Vec<(Rate, Measured)>,
    progress: &mut dyn FnMut(&str),
) -> Result<(), String> {
    progress(&format!("{label}: connecting"));
    let mut fleet = Fleet::new();
    let connected = runtime.block_on(nats::connect(
        &mut fleet,
        url,
        &prefix,
        count,
        WAVE,
        &mut |line| progress(&format!("{label}: {line}")),
    ));
    let mut publisher = match connected
        .and_then(|()| nats::Publisher::connect(url, prefix.clone(), payload_bytes))
    {
        Ok(publisher) => publisher,
        Err(error) => {
            runtime.block_on(fleet.stop());
            return Err(format!("{label}: {error}"));
        }
    };
    let nats_pid = server::find_process("nats-server");
    for &rate in &options.rates {
        let result = (|| -> Result<Measured, String> {
            let markets = phase_markets(rate, options.duration);
            for index in 0..markets.count as usize {
                markets.table.set_start(index, 0);
            }
            fleet.begin(markets.clone())?;
            if !fleet.wait_ready(READY_WAIT) {
                progress(&format!(
                    "{label}, {rate}: not every subscriber is subscribed"
                ));
            }
            progress(&format!(
                "{label}, {rate}: {} subjects at {} Hz for {} s",
                markets.count,
                rate.hz(),
                options.duration.as_secs_f64()
            ));
            let cpu = Cpu::start(
                nats_pid
                    .map(|pid| ("nats-server", pid))
                    .into_iter()
                    .collect(),
            );
            let drops = quic::udp_receive_drops();
            let published = publisher.run(&markets, rate.hz(), options.duration)?;
            let cpu = cpu.shares();
            fleet.drain(
                markets.table.expected(&published.per_market),
                DRAIN_QUIET,
                DRAIN_LIMIT,
            );
            let drops = quic::udp_receive_drops().saturating_sub(drops);
            if !fleet.report() {
                progress(&format!(
                    "{label}, {rate}: not every subscriber handed in its tally"
                ));
            }
            let (histogram, tally) = fleet.shared.take_phase();
            let (first, last) = markets.table.histograms();
            Ok(Measured {
                sent: published.per_market.iter().sum(),
                expected: tally.expected(&published.per_market),
                joined: fleet.shared.joined.load(Ordering::SeqCst) as u64,
                tally,
                subscribers: count,
                latency: Percentiles::of(&histogram),
                first_arrival: Percentiles::of(&first),
                last_arrival: Percentiles::of(&last),
                source_late_ns_max: published.late_ns_max,
                source_refused: 0,
                udp_receive_drops: drops,
                node_udp_drops: 0,
                cpu,
                notes: Vec::new(),
            })
        })();
        match result {
            Ok(measured) => {
                progress(&format!("{label}, {rate}: {}", describe(&measured)));
                results.push((rate, measured));
            }
            Err(error) => {
                runtime.block_on(fleet.stop());
                return Err(format!("{label}, {rate}: {error}"));
            }
        }
    }
    progress(&format!("{label}: disconnecting"));
    runtime.block_on(fleet.stop());
    drop(publisher);
    Ok(())
}

fn describe(m: &Measured) -> String {
    format!(
        "{} sent, {} of {} delivered ({:.2}%), {} gaps, {} conflated, {} ended; p50 {} p99 {} \
         p99.9 {} max {}; per tick first p99 {} last p99 {}",
        m.sent,
        m.tally.received,
        m.expected,
        fraction(m.tally.received, m.expected) * 100.0,
        m.tally.gaps,
        m.tally.conflated,
        m.tally.ended,
        format_ns(m.latency.p50_ns),
        format_ns(m.latency.p99_ns),
        format_ns(m.latency.p99_9_ns),
        format_ns(m.latency.max_ns),
        format_ns(m.first_arrival.p99_ns),
        format_ns(m.last_arrival.p99_ns),
    )
}

fn fraction(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The runs of one case, together.
fn case_result(
    key: &CaseKey,
    runs: &[Measured],
    notes: &mut Vec<String>,
    mismatches: &mut Vec<String>,
) -> CaseResult {
    let system = if key.order == 0 { "oddsmatch" } else { "nats" };
    let name = format!(
        "{} subscribers, {}, {system}{}",
        key.subscribers,
        key.rate,
        if key.order == 0 {
            format!(" {}", key.transport)
        } else {
            String::new()
        }
    );
    let sum = |pick: fn(&Measured) -> u64| runs.iter().map(pick).sum::<u64>();
    let not_subscribed: u64 = runs
        .iter()
        .map(|m| (m.subscribers as u64).saturating_sub(m.joined))
        .sum();
    let not_ready = sum(|m| m.tally.not_ready) + not_subscribed;
    let refused = sum(|m| m.source_refused);
    if refused != 0 {
        mismatches.push(format!("{name}: the node refused {refused} quotes"));
    }
    if sum(|m| m.sent) == 0 {
        mismatches.push(format!("{name}: no tick was published"));
    }
    for (run, m) in runs.iter().enumerate() {
        for note in &m.notes {
            notes.push(format!("{name}, run {}: {note}", run + 1));
        }
    }
    let drops = sum(|m| m.udp_receive_drops);
    if drops != 0 && key.order == 0 && key.transport == Transport::Quic {
        notes.push(format!(
            "{name}: the kernel dropped {drops} UDP datagram(s) on full receive buffers during \
             the ticks ({} at the node's QUIC socket)",
            sum(|m| m.node_udp_drops)
        ));
    }
    if not_ready != 0 {
        notes.push(format!(
            "{name}: {not_ready} subscriber(s) were not subscribed when the ticks began"
        ));
    }
    let median_of = |pick: fn(&Measured) -> Percentiles| {
        median_percentiles(&runs.iter().map(pick).collect::<Vec<_>>())
    };
    let delivered = sum(|m| m.tally.received);
    let expected = sum(|m| m.expected);
    CaseResult {
        system: system.to_owned(),
        transport: key.transport.name().to_owned(),
        subscribers: key.subscribers,
        rate: key.rate.name().to_owned(),
        markets: key.rate.markets(),
        hz: key.rate.hz(),
        runs: runs.len() as u32,
        sent: sum(|m| m.sent),
        expected,
        delivered,
        delivered_fraction: fraction(delivered, expected),
        gaps: sum(|m| m.tally.gaps),
        missed: sum(|m| m.tally.missed),
        conflated: sum(|m| m.tally.conflated),
        duplicates: sum(|m| m.tally.duplicates),
        sessions_ended: sum(|m| m.tally.ended),
        not_ready,
        latency: median_of(|m| m.latency),
        latency_runs: runs.iter().map(|m| m.latency).collect(),
        first_arrival: median_of(|m| m.first_arrival),
        last_arrival: median_of(|m| m.last_arrival),
        source_late_ns_max: runs.iter().map(|m| m.source_late_ns_max).max().unwrap_or(0),
        source_refused: refused,
        udp_receive_drops: sum(|m| m.udp_receive_drops),
        node_udp_drops: sum(|m| m.node_udp_drops),
        cpu: runs.last().map(|m| m.cpu.clone()).unwrap_or_default(),
    }
}

/// Each percentile the median of the runs' (the lower middle one for an even count, which
/// keeps them in order).
fn median_percentiles(runs: &[Percentiles]) -> Percentiles {
    let of = |pick: fn(&Percentiles) -> u64| {
        let mut values: Vec<u64> = runs.iter().map(pick).collect();
        values.sort_unstable();
        values
            .get(values.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or(0)
    };
    let mut means: Vec<f64> = runs.iter().map(|p| p.mean_ns).collect();
    means.sort_by(f64::total_cmp);
    Percentiles {
        p50_ns: of(|p| p.p50_ns),
        p90_ns: of(|p| p.p90_ns),
        p99_ns: of(|p| p.p99_ns),
        p99_9_ns: of(|p| p.p99_9_ns),
        p99_99_ns: of(|p| p.p99_99_ns),
        max_ns: of(|p| p.max_ns),
        mean_ns: means
            .get(means.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or(0.0),
    }
}

/// Every oddsmatch case against NATS at the same subscribers and rate.
fn compare(cases: &[CaseResult]) -> Vec<Comparison> {
    let ratio = |a: u64, b: u64| {
        if b == 0 {
            f64::NAN
        } else {
            a as f64 / b as f64
        }
    };
    cases
        .iter()
        .filter(|case| case.system == "oddsmatch")
        .filter_map(|case| {
            let nats = cases.iter().find(|n| {
                n.system == "nats"
                    && n.subscribers == case.subscribers
                    && n.rate == case.rate
                    && n.delivered > 0
            })?;
            Some(Comparison {
                transport: case.transport.clone(),
                subscribers: case.subscribers,
                rate: case.rate.clone(),
                p50_ratio: ratio(case.latency.p50_ns, nats.latency.p50_ns),
                p99_ratio: ratio(case.latency.p99_ns, nats.latency.p99_ns),
                goal_met: case.latency.p99_ns <= GOAL_P99_NS
                    && case.latency.p99_ns < nats.latency.p99_ns,
            })
        })
        .collect()
}

/// Raises this process's soft limit of open files towards `needed` (up to the hard limit);
/// the node, started later, inherits it.
pub fn raise_file_limit(needed: u64) -> Result<(), String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes the limit into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!(
            "read the open-file limit: {}",
            std::io::Error::last_os_error()
        ));
    }
    if limit.rlim_cur < needed {
        limit.rlim_cur = limit.rlim_max.min(needed.max(limit.rlim_cur));
        // SAFETY: `setrlimit` only reads the struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(format!(
                "raise the open-file limit: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    if limit.rlim_cur < needed {
        return Err(format!(
            "{needed} open files are needed and the hard limit is {}; fewer subscribers, or \
             raise the limit (ulimit -Hn)",
            limit.rlim_max
        ));
    }
    Ok(())
}

/// Processor time of some processes' threads and of this one's, from a start to now.
struct Cpu {
    at: Instant,
    processes: Vec<(&'static str, u32, BTreeMap<String, u64>)>,
}

impl Cpu {
    fn start(mut watched: Vec<(&'static str, u32)>) -> Cpu {
        watched.push(("bench", std::process::id()));
        Cpu {
            at: Instant::now(),
            processes: watched
                .into_iter()
                .map(|(name, pid)| (name, pid, server::thread_times(pid)))
                .collect(),
        }
    }

    /// Each thread name's share of one core since the start, busiest first (those at 0.1 % or
    /// more).
    fn shares(&self) -> Vec<CpuShare> {
        let seconds = self.at.elapsed().as_secs_f64().max(1e-3);
        let per_second = server::clock_ticks_per_second() as f64;
        let mut shares = Vec::new();
        for (process, pid, before) in &self.processes {
            for (thread, ticks) in server::thread_times(*pid) {
                let used = ticks.saturating_sub(before.get(&thread).copied().unwrap_or(0));
                shares.push(CpuShare {
                    process: (*process).to_owned(),
                    thread,
                    percent: used as f64 / per_second / seconds * 100.0,
                });
            }
        }
        shares.retain(|share| share.percent >= 0.1);
        shares.sort_by(|a, b| b.percent.total_cmp(&a.percent));
        shares
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        assert_eq!(FanoutBenchOptions::default().validate(), Ok(()));
        let bad = [
            FanoutBenchOptions {
                runs: 0,
                ..FanoutBenchOptions::default()
            },
            FanoutBenchOptions {
                subscribers: vec![],
                ..FanoutBenchOptions::default()
            },
            FanoutBenchOptions {
                subscribers: vec![MAX_SUBSCRIBERS + 1],
                ..FanoutBenchOptions::default()
            },
            FanoutBenchOptions {
                rates: vec![Rate::Base, Rate::Base],
                ..FanoutBenchOptions::default()
            },
            FanoutBenchOptions {
                transports: vec![],
                ..FanoutBenchOptions::default()
            },
            FanoutBenchOptions {
                duration: Duration::from_millis(500),
                ..FanoutBenchOptions::default()
            },
            FanoutBenchOptions {
                nats: Some(" ".into()),
                ..FanoutBenchOptions::default()
            },
        ];
        for options in bad {
            assert!(options.validate().is_err(), "{options:?}");
        }
    }

    #[test]
    fn rates_have_markets_of_their_own() {
        assert_eq!(Rate::Base.markets() * Rate::Base.hz(), 2);
        assert_eq!(Rate::Hundred.markets() * Rate::Hundred.hz(), 200);
        assert_eq!(Rate::Hundred.first_market(), 2);
        assert_eq!(
            Rate::Hundred.first_market() + Rate::Hundred.markets() - 1,
            MARKETS
        );
        assert_eq!(Rate::from_name("100x"), Some(Rate::Hundred));
        assert_eq!(Transport::from_name("quic"), Some(Transport::Quic));
        // The 8-byte header, the 40-byte market head, 40 bytes per selection.
        assert_eq!(tick_frame_bytes(), 8 + 40 + 3 * 40);
    }
}
