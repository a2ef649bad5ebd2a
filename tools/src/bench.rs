//! `oddsmatch bench`: the benchmarks of `oddsmatch-benches`, from the command line.
//!
//! `oddsmatch bench engine` runs the engine benchmark's cases (`--cases`): the exchange mix on
//! both books, the same with market data on and off, pool bets, and votes.
//!
//! `oddsmatch bench journal` runs the journal benchmark's steps (`--steps`): appends against a
//! bare copy, engine plus journal against the engine alone (in process and through a shard
//! thread), `sync` commit latency, replay, and restart on a large journal. Its temporary files
//! go under `--dir` and are deleted as each step ends.
//!
//! `oddsmatch bench e2e` sends `NEW_ORDER`s over loopback TCP to a node in this process (one
//! shard, journal `--durability os` by default) and to a bare TCP echo server: open-loop
//! latency at `--rates`, coordinated-omission corrected, and one pipelined connection's
//! throughput, each the median of `--runs`.
//!
//! `oddsmatch bench persist` writes a journal of `--records` records and flushes it to the
//! Postgres server at `--postgres` beside a bare binary COPY of the same rows (the median of
//! `--runs`), then measures the flush's lag behind a live shard driven at `--rate` journal
//! events per second for `--duration` seconds. Its schemas are made and dropped by the run.
//!
//! `oddsmatch bench fanout` starts this executable's `serve` as a child process and sends odds
//! ticks to `--subscribers` market-data subscribers over each of `--transports` (tcp, quic) at
//! each of `--rates` (base: 2 ticks/s per subscriber, 100x: 200) for `--duration` seconds, and
//! the same through the NATS server at `--nats` (`off`: no reference); tick-to-subscriber
//! latency and delivery, the median of `--runs` (default 1).
//!
//! Progress goes to standard error; the table (or the JSON report) to standard output, so that
//! `oddsmatch bench engine --json > results.json` captures only the report.

use std::path::PathBuf;
use std::time::Duration;

use oddsmatch_benches::e2e::MAX_WINDOW;
use oddsmatch_benches::fanout::{DEFAULT_NATS, MAX_SUBSCRIBERS, Rate, Transport};
use oddsmatch_benches::persist::{DEFAULT_POSTGRES, MAX_RATE};
use oddsmatch_benches::workload::MAX_MARKETS;
use oddsmatch_benches::{
    Case, E2eBenchOptions, EngineBenchOptions, FanoutBenchOptions, JournalBenchOptions,
    JournalStep, PersistBenchOptions, run_e2e_bench, run_engine_bench, run_fanout_bench,
    run_journal_bench, run_persist_bench,
};
use oddsmatch_engine::shard::IdleStrategy;
use oddsmatch_journal::Durability;

/// The benchmarks `oddsmatch bench` knows.
const KNOWN: [&str; 5] = ["engine", "journal", "e2e", "persist", "fanout"];

/// Arguments of `oddsmatch bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Which benchmark (`engine`, `journal`, `e2e`, `persist` or `fanout`).
    pub which: String,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// Measured commands per workload (engine; journal: the commands step).
    #[arg(long, default_value_t = EngineBenchOptions::default().commands)]
    pub commands: usize,
    /// Unmeasured commands of the same mix run before the measured ones (engine, journal).
    #[arg(long, default_value_t = EngineBenchOptions::default().warmup)]
    pub warmup: usize,
    /// Seed of the workload generators (engine, journal, persist).
    #[arg(long, default_value_t = EngineBenchOptions::default().seed)]
    pub seed: u64,
    /// Throughput passes per book, or per figure for the journal (the median is reported).
    #[arg(long, default_value_t = EngineBenchOptions::default().passes,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub passes: u32,
    /// Market counts to run, comma-separated (exchange, market_data and pool cases).
    #[arg(long, value_delimiter = ',', default_values_t = EngineBenchOptions::default().markets,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_MARKETS)))]
    pub markets: Vec<u32>,
    /// Cases to run, comma-separated: exchange (fast book against reference book),
    /// market_data (the exchange mix with market data on and off), pool (pool bets), votes.
    #[arg(long, value_delimiter = ',', default_values_t = EngineBenchOptions::default().cases,
          value_parser = parse_case)]
    pub cases: Vec<Case>,
    /// Accounts voting once each in the votes case.
    #[arg(long, default_value_t = EngineBenchOptions::default().voters,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub voters: u32,
    /// Voters who vote a second time in the votes case.
    #[arg(long, default_value_t = EngineBenchOptions::default().revotes)]
    pub revotes: u32,
    /// Timed passes of the votes case (the medians are reported).
    #[arg(long, default_value_t = EngineBenchOptions::default().vote_passes,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub vote_passes: u32,
    /// Journal: the steps to run, comma-separated: append, commands, sync, replay (needs
    /// commands), restart.
    #[arg(long, value_delimiter = ',', default_values_t = JournalBenchOptions::default().steps,
          value_parser = parse_step)]
    pub steps: Vec<JournalStep>,
    /// Journal: appends per payload size and pass (append step; default 500000). Persist:
    /// records of the journal flushed (default 200000).
    #[arg(long)]
    pub records: Option<usize>,
    /// Journal: payload sizes of the append step in bytes, comma-separated.
    #[arg(long, value_delimiter = ',',
          default_values_t = JournalBenchOptions::default().payload_sizes)]
    pub payload_sizes: Vec<usize>,
    /// Journal: records per commit (append and commands steps; the shard's batch limit).
    #[arg(long, default_value_t = JournalBenchOptions::default().commit_every)]
    pub commit_every: usize,
    /// Journal: skip the shard thread run of the commands step.
    #[arg(long)]
    pub no_shard: bool,
    /// Journal: the shard thread's idle strategy (spin, yield, park, or park with a bound such
    /// as park:500us).
    #[arg(long, default_value_t = JournalBenchOptions::default().shard_idle)]
    pub idle: IdleStrategy,
    /// Journal: commits timed per batch size (sync step).
    #[arg(long, default_value_t = JournalBenchOptions::default().sync_commits)]
    pub sync_commits: usize,
    /// Journal: records per commit in the sync step, comma-separated.
    #[arg(long, value_delimiter = ',',
          default_values_t = JournalBenchOptions::default().sync_batches)]
    pub sync_batches: Vec<usize>,
    /// Journal: records of the journal a shard restarts on (restart step).
    #[arg(long, default_value_t = JournalBenchOptions::default().restart_records)]
    pub restart_records: u64,
    /// Journal: records after the snapshot in the restart with a snapshot.
    #[arg(long, default_value_t = JournalBenchOptions::default().restart_tail)]
    pub restart_tail: u64,
    /// Journal: segment size of the commands and restart steps' journals, in bytes.
    #[arg(long, default_value_t = JournalBenchOptions::default().segment_bytes)]
    pub segment_bytes: u64,
    /// Journal, e2e, persist, fanout: where the temporary files go (default: the system's
    /// temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// E2e: open-loop rates in requests per second, comma-separated (default 1000,10000,50000).
    /// Fanout: tick rates, comma-separated: base (2 ticks/s per subscriber), 100x (200 ticks/s
    /// per subscriber) (default both).
    #[arg(long, value_delimiter = ',')]
    pub rates: Vec<String>,
    /// E2e: recorded time per rate and run, in milliseconds.
    #[arg(long, default_value_t = E2eBenchOptions::default().duration.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub duration_ms: u64,
    /// E2e: unrecorded time before it, in milliseconds.
    #[arg(long, default_value_t = E2eBenchOptions::default().warmup.as_millis() as u64)]
    pub warmup_ms: u64,
    /// E2e: requests of each pipelined throughput run.
    #[arg(long, default_value_t = E2eBenchOptions::default().orders,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub orders: u64,
    /// E2e: the most requests sent and not yet answered in a throughput run.
    #[arg(long, default_value_t = E2eBenchOptions::default().window,
          value_parser = clap::value_parser!(u64).range(1..=MAX_WINDOW))]
    pub window: u64,
    /// E2e: requests per write in a throughput run.
    #[arg(long, default_value_t = E2eBenchOptions::default().batch,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub batch: u64,
    /// E2e: the journal durabilities to run oddsmatch with, comma-separated (os, sync,
    /// interval[:N{us,ms}]).
    #[arg(long, value_delimiter = ',',
          default_values_t = E2eBenchOptions::default().durabilities,
          value_parser = parse_durability)]
    pub durability: Vec<Durability>,
    /// E2e, persist, fanout: runs of everything (persist: of the throughput part; the medians
    /// are reported). Default: 3, fanout 1.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: Option<u32>,
    /// Persist: seconds of the lag part's load. Fanout: seconds of ticks per case and rate.
    #[arg(long, default_value_t = PersistBenchOptions::default().duration.as_secs_f64())]
    pub duration: f64,
    /// Persist's own options (boxed: they would make every `oddsmatch` command as large as
    /// this one).
    #[command(flatten)]
    pub persist: Box<PersistArgs>,
    /// Fanout's own options.
    #[command(flatten)]
    pub fanout: Box<FanoutArgs>,
}

/// The options only `oddsmatch bench persist` takes.
#[derive(Debug, clap::Args)]
pub struct PersistArgs {
    /// Persist: the Postgres server (`host=... user=... dbname=...` or a URL); the run makes
    /// its own schemas there and drops them.
    #[arg(long, default_value = DEFAULT_POSTGRES)]
    pub postgres: String,
    /// Persist: journal events per second of the lag part's load.
    #[arg(long, default_value_t = PersistBenchOptions::default().rate,
          value_parser = clap::value_parser!(u64).range(1..=MAX_RATE))]
    pub rate: u64,
    /// Persist: the most journal records in one transaction.
    #[arg(long, default_value_t = PersistBenchOptions::default().batch_records,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub batch_records: usize,
}

/// The options only `oddsmatch bench fanout` takes.
#[derive(Debug, clap::Args)]
pub struct FanoutArgs {
    /// Fanout: subscriber counts, comma-separated, one case each.
    #[arg(long, value_delimiter = ',',
          default_values_t = FanoutBenchOptions::default().subscribers,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new()
              .range(1..=MAX_SUBSCRIBERS as u64))]
    pub subscribers: Vec<usize>,
    /// Fanout: oddsmatch's market-data transports, comma-separated: tcp, quic.
    #[arg(long, value_delimiter = ',',
          default_values_t = FanoutBenchOptions::default().transports,
          value_parser = parse_transport)]
    pub transports: Vec<Transport>,
    /// Fanout: the NATS server of the reference (`off`: run without it).
    #[arg(long, default_value = DEFAULT_NATS)]
    pub nats: String,
    /// Fanout: the node's market-data writer threads (`market_data.threads`).
    #[arg(long, default_value_t = FanoutBenchOptions::default().md_threads)]
    pub md_threads: usize,
}

fn parse_transport(name: &str) -> Result<Transport, String> {
    Transport::from_name(name)
        .ok_or_else(|| format!("unknown transport `{name}`; known: tcp, quic"))
}

/// Prints a benchmark's report (JSON or its table) and fails if its runs `went_wrong` (the
/// mismatches say how).
fn print_report<R: serde::Serialize>(
    json: bool,
    report: &R,
    table: &str,
    mismatches: &[String],
    went_wrong: &str,
) -> Result<(), String> {
    if json {
        let json = serde_json::to_string_pretty(report).map_err(|e| format!("bench: {e}"))?;
        println!("{json}");
    } else {
        print!("{table}");
    }
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "bench: the runs {went_wrong} ({}); the figures are not comparable",
            mismatches.join("; ")
        ))
    }
}

fn parse_durability(text: &str) -> Result<Durability, String> {
    text.parse()
        .map_err(|_| format!("unknown durability `{text}`; known: os, sync, interval[:N{{us,ms}}]"))
}

fn parse_step(name: &str) -> Result<JournalStep, String> {
    JournalStep::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = JournalStep::ALL
            .into_iter()
            .map(JournalStep::name)
            .collect();
        format!("unknown step `{name}`; known: {}", known.join(", "))
    })
}

fn parse_case(name: &str) -> Result<Case, String> {
    Case::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = Case::ALL.into_iter().map(Case::name).collect();
        format!("unknown case `{name}`; known: {}", known.join(", "))
    })
}

/// Runs a benchmark.
pub fn run(args: &BenchArgs) -> Result<(), String> {
    match args.which.as_str() {
        "engine" => engine(args),
        "journal" => journal(args),
        "e2e" => e2e(args),
        "persist" => persist(args),
        "fanout" => fanout(args),
        other => Err(format!(
            "bench: unknown benchmark `{other}`; known: {}",
            KNOWN.join(", ")
        )),
    }
}

fn engine(args: &BenchArgs) -> Result<(), String> {
    if args.commands == 0 {
        return Err("bench: --commands must be at least 1".into());
    }
    if args.revotes > args.voters {
        return Err("bench: --revotes must be at most --voters".into());
    }
    let options = EngineBenchOptions {
        commands: args.commands,
        warmup: args.warmup,
        seed: args.seed,
        passes: args.passes,
        markets: args.markets.clone(),
        cases: args.cases.clone(),
        voters: args.voters,
        revotes: args.revotes,
        vote_passes: args.vote_passes,
    };
    let report = run_engine_bench(&options, &mut |line| eprintln!("{line}"));
    print_report(
        args.json,
        &report,
        &report.table(),
        &report.mismatches,
        "disagreed",
    )
}

fn journal(args: &BenchArgs) -> Result<(), String> {
    let options = JournalBenchOptions {
        steps: args.steps.clone(),
        records: args
            .records
            .unwrap_or(JournalBenchOptions::default().records),
        payload_sizes: args.payload_sizes.clone(),
        commit_every: args.commit_every,
        commands: args.commands,
        warmup: args.warmup,
        seed: args.seed,
        passes: args.passes,
        shard: !args.no_shard,
        shard_idle: args.idle,
        sync_commits: args.sync_commits,
        sync_batches: args.sync_batches.clone(),
        restart_records: args.restart_records,
        restart_tail: args.restart_tail,
        segment_bytes: args.segment_bytes,
        dir: args.dir.clone().unwrap_or_else(std::env::temp_dir),
        ..JournalBenchOptions::default()
    };
    options.validate().map_err(|e| format!("bench: {e}"))?;
    let report = run_journal_bench(&options, &mut |line| eprintln!("{line}"))
        .map_err(|e| format!("bench: {e}"))?;
    print_report(
        args.json,
        &report,
        &report.table(),
        &report.mismatches,
        "disagreed",
    )
}

/// E2e's rates: `--rates` as requests per second, or the default.
fn e2e_rates(args: &BenchArgs) -> Result<Vec<u64>, String> {
    if args.rates.is_empty() {
        return Ok(E2eBenchOptions::default().rates);
    }
    let max = oddsmatch_benches::e2e::MAX_RATE;
    args.rates
        .iter()
        .map(|text| {
            text.trim()
                .parse::<u64>()
                .ok()
                .filter(|rate| (1..=max).contains(rate))
                .ok_or_else(|| format!("bench: --rates: `{text}` is not a rate from 1 to {max}"))
        })
        .collect()
}

fn e2e(args: &BenchArgs) -> Result<(), String> {
    let options = E2eBenchOptions {
        rates: e2e_rates(args)?,
        duration: Duration::from_millis(args.duration_ms),
        warmup: Duration::from_millis(args.warmup_ms),
        orders: args.orders,
        window: args.window,
        batch: args.batch,
        durabilities: args.durability.clone(),
        runs: args.runs.unwrap_or(E2eBenchOptions::default().runs),
        dir: args.dir.clone().unwrap_or_else(std::env::temp_dir),
        settle_disks: true,
    };
    options.validate().map_err(|e| format!("bench: {e}"))?;
    let report = run_e2e_bench(&options, &mut |line| eprintln!("{line}"))
        .map_err(|e| format!("bench: {e}"))?;
    print_report(
        args.json,
        &report,
        &report.table(),
        &report.mismatches,
        "did not do the expected work",
    )
}

fn persist(args: &BenchArgs) -> Result<(), String> {
    let persist = &args.persist;
    if !(args.duration.is_finite() && args.duration > 0.0 && args.duration <= 3_600.0) {
        return Err("bench: --duration must be more than 0 and at most 3600 seconds".into());
    }
    let defaults = PersistBenchOptions::default();
    let options = PersistBenchOptions {
        postgres: persist.postgres.clone(),
        records: args.records.unwrap_or(defaults.records),
        runs: args.runs.unwrap_or(defaults.runs),
        rate: persist.rate,
        duration: Duration::from_secs_f64(args.duration),
        seed: args.seed,
        batch_records: persist.batch_records,
        dir: args.dir.clone().unwrap_or(defaults.dir),
    };
    options.validate().map_err(|e| format!("bench: {e}"))?;
    let report = run_persist_bench(&options, &mut |line| eprintln!("{line}"))
        .map_err(|e| format!("bench: {e}"))?;
    print_report(
        args.json,
        &report,
        &report.table(),
        &report.mismatches,
        "did not do the expected work",
    )
}

/// The fan-out benchmark's options from the arguments.
fn fanout_options(args: &BenchArgs) -> Result<FanoutBenchOptions, String> {
    let defaults = FanoutBenchOptions::default();
    let rates = if args.rates.is_empty() {
        defaults.rates.clone()
    } else {
        args.rates
            .iter()
            .map(|name| {
                Rate::from_name(name.trim()).ok_or_else(|| {
                    format!("bench: --rates: unknown rate `{name}`; known: base, 100x")
                })
            })
            .collect::<Result<_, _>>()?
    };
    if !(args.duration.is_finite() && args.duration >= 1.0 && args.duration <= 3_600.0) {
        return Err("bench: --duration must be from 1 to 3600 seconds".into());
    }
    let fanout = &args.fanout;
    let nats = fanout.nats.trim();
    let options = FanoutBenchOptions {
        transports: fanout.transports.clone(),
        subscribers: fanout.subscribers.clone(),
        rates,
        duration: Duration::from_secs_f64(args.duration),
        runs: args.runs.unwrap_or(defaults.runs),
        nats: (nats != "off").then(|| nats.to_owned()),
        dir: args.dir.clone().unwrap_or(defaults.dir.clone()),
        md_threads: fanout.md_threads,
        ..defaults
    };
    options.validate().map_err(|e| format!("bench: {e}"))?;
    Ok(options)
}

fn fanout(args: &BenchArgs) -> Result<(), String> {
    let mut options = fanout_options(args)?;
    options.server =
        std::env::current_exe().map_err(|e| format!("bench: where is this executable? {e}"))?;
    let report = run_fanout_bench(&options, &mut |line| eprintln!("{line}"))
        .map_err(|e| format!("bench: {e}"))?;
    print_report(
        args.json,
        &report,
        &report.table(),
        &report.mismatches,
        "did not do the expected work",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::Parser;
    use oddsmatch_benches::persist::MIN_RECORDS;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .map(|cli| cli.bench)
    }

    #[test]
    fn an_unknown_benchmark_lists_the_known_ones() {
        let args = parse(&["network", "--commands", "1"]).unwrap();
        let message = run(&args).unwrap_err();
        assert!(message.contains("`network`"), "{message}");
        assert!(message.contains("known: engine, journal"), "{message}");
    }

    #[test]
    fn journal_options_parse_with_their_defaults() {
        let args = parse(&["journal"]).unwrap();
        let defaults = JournalBenchOptions::default();
        assert_eq!(args.steps, defaults.steps);
        assert_eq!(args.records, None);
        assert_eq!(args.payload_sizes, [64, 256, 1_024]);
        assert_eq!(args.sync_batches, [1, 16, 256]);
        assert_eq!(args.restart_records, 10_000_000);
        assert_eq!(args.idle, IdleStrategy::Yield);
        assert!(!args.no_shard && args.dir.is_none());
        let args = parse(&[
            "journal",
            "--steps",
            "append,sync",
            "--idle",
            "spin",
            "--restart-records",
            "5000",
            "--dir",
            "/somewhere",
        ])
        .unwrap();
        assert_eq!(args.steps, [JournalStep::Append, JournalStep::Sync]);
        assert_eq!(args.idle, IdleStrategy::Spin);
        assert_eq!(args.restart_records, 5_000);
        assert_eq!(args.dir, Some(PathBuf::from("/somewhere")));
        let error = parse(&["journal", "--steps", "fsync"]).unwrap_err();
        assert!(error.to_string().contains("known: append"), "{error}");
    }

    #[test]
    fn e2e_options_parse_with_their_defaults() {
        let args = parse(&["e2e"]).unwrap();
        let defaults = E2eBenchOptions::default();
        assert_eq!(e2e_rates(&args).unwrap(), [1_000, 10_000, 50_000]);
        assert_eq!(args.duration_ms, 2_000);
        assert_eq!(args.warmup_ms, 500);
        assert_eq!(args.orders, defaults.orders);
        assert_eq!((args.window, args.batch), (8_192, 64));
        assert_eq!(args.durability, [Durability::Os]);
        assert_eq!(args.runs, None);
        let args = parse(&[
            "e2e",
            "--rates",
            "2000,20000",
            "--durability",
            "os,sync",
            "--runs",
            "1",
            "--orders",
            "5000",
        ])
        .unwrap();
        assert_eq!(e2e_rates(&args).unwrap(), [2_000, 20_000]);
        assert_eq!(args.durability, [Durability::Os, Durability::Sync]);
        assert_eq!((args.runs, args.orders), (Some(1), 5_000));
        let args = parse(&["e2e", "--rates", "base"]).unwrap();
        assert!(e2e_rates(&args).unwrap_err().contains("`base`"));
        let args = parse(&["e2e", "--rates", "0"]).unwrap();
        assert!(run(&args).unwrap_err().contains("--rates"));
        let error = parse(&["e2e", "--durability", "fsync"]).unwrap_err();
        assert!(error.to_string().contains("known: os, sync"), "{error}");
        assert!(parse(&["e2e", "--window", "100000"]).is_err());
        assert!(parse(&["e2e", "--runs", "0"]).is_err());
    }

    #[test]
    fn e2e_options_are_checked_before_anything_runs() {
        let args = parse(&["e2e", "--durability", "os,os"]).unwrap();
        let message = run(&args).unwrap_err();
        assert!(message.contains("named twice"), "{message}");
    }

    #[test]
    fn persist_options_parse_with_their_defaults() {
        let args = parse(&["persist"]).unwrap();
        let defaults = PersistBenchOptions::default();
        assert_eq!(args.persist.postgres, DEFAULT_POSTGRES);
        assert_eq!(args.records, None);
        assert_eq!((args.persist.rate, args.runs), (100_000, None));
        assert_eq!(args.duration, 10.0);
        assert_eq!(args.persist.batch_records, defaults.batch_records);
        let args = parse(&[
            "persist",
            "--postgres",
            "host=db user=me",
            "--records",
            "5000",
            "--rate",
            "20000",
            "--duration",
            "2.5",
            "--runs",
            "1",
        ])
        .unwrap();
        assert_eq!(args.persist.postgres, "host=db user=me");
        assert_eq!(args.records, Some(5_000));
        assert_eq!(
            (args.persist.rate, args.duration, args.runs),
            (20_000, 2.5, Some(1))
        );
        assert!(parse(&["persist", "--rate", "0"]).is_err());
        assert!(parse(&["persist", "--batch-records", "0"]).is_err());
    }

    #[test]
    fn persist_options_are_checked_before_anything_runs() {
        let small = (MIN_RECORDS - 1).to_string();
        let args = parse(&["persist", "--records", &small]).unwrap();
        assert!(run(&args).unwrap_err().contains("records"));
        let args = parse(&["persist", "--duration", "0"]).unwrap();
        assert!(run(&args).unwrap_err().contains("--duration"));
        let args = parse(&["persist", "--postgres", ""]).unwrap();
        assert!(run(&args).unwrap_err().contains("connection string"));
    }

    #[test]
    fn fanout_options_parse_with_their_defaults() {
        let args = parse(&["fanout"]).unwrap();
        let options = fanout_options(&args).unwrap();
        assert_eq!(options.subscribers, [1_000, 10_000]);
        assert_eq!(options.transports, [Transport::Tcp, Transport::Quic]);
        assert_eq!(options.rates, [Rate::Base, Rate::Hundred]);
        assert_eq!(options.duration, Duration::from_secs(10));
        assert_eq!(options.runs, 1);
        assert_eq!(options.nats.as_deref(), Some(DEFAULT_NATS));
        let args = parse(&[
            "fanout",
            "--subscribers",
            "1000",
            "--transports",
            "tcp",
            "--rates",
            "100x",
            "--duration",
            "5",
            "--runs",
            "2",
            "--nats",
            "off",
        ])
        .unwrap();
        let options = fanout_options(&args).unwrap();
        assert_eq!(options.subscribers, [1_000]);
        assert_eq!(options.transports, [Transport::Tcp]);
        assert_eq!(options.rates, [Rate::Hundred]);
        assert_eq!(
            (options.duration, options.runs),
            (Duration::from_secs(5), 2)
        );
        assert_eq!(options.nats, None);
        assert!(parse(&["fanout", "--transports", "udp"]).is_err());
        assert!(parse(&["fanout", "--subscribers", "0"]).is_err());
    }

    #[test]
    fn fanout_options_are_checked_before_anything_runs() {
        let args = parse(&["fanout", "--rates", "2000"]).unwrap();
        assert!(run(&args).unwrap_err().contains("unknown rate"));
        let args = parse(&["fanout", "--duration", "0.5"]).unwrap();
        assert!(run(&args).unwrap_err().contains("--duration"));
        let args = parse(&["fanout", "--transports", "tcp,tcp"]).unwrap();
        assert!(run(&args).unwrap_err().contains("named twice"));
    }

    #[test]
    fn journal_options_are_checked_before_anything_runs() {
        let args = parse(&["journal", "--steps", "replay"]).unwrap();
        let message = run(&args).unwrap_err();
        assert!(message.contains("commands"), "{message}");
        let args = parse(&["journal", "--commit-every", "0"]).unwrap();
        assert!(run(&args).unwrap_err().contains("commit_every"));
    }
}
