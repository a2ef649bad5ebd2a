//! `oddsmatch bench`: the benchmarks of `oddsmatch-benches`, from the command line.
//!
//! `oddsmatch bench engine` runs the engine benchmark's cases (`--cases`): the exchange mix on
//! both books, the same with market data on and off, pool bets, and votes.
//!
//! Progress goes to standard error; the table (or the JSON report) to standard output, so that
//! `oddsmatch bench engine --json > results.json` captures only the report.

use oddsmatch_benches::workload::MAX_MARKETS;
use oddsmatch_benches::{Case, EngineBenchOptions, run_engine_bench};

/// The benchmarks `oddsmatch bench` knows.
const KNOWN: [&str; 1] = ["engine"];

/// Arguments of `oddsmatch bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Which benchmark (`engine`).
    pub which: String,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// Measured commands per workload.
    #[arg(long, default_value_t = EngineBenchOptions::default().commands)]
    pub commands: usize,
    /// Unmeasured commands of the same mix run before the measured ones.
    #[arg(long, default_value_t = EngineBenchOptions::default().warmup)]
    pub warmup: usize,
    /// Seed of the workload generator.
    #[arg(long, default_value_t = EngineBenchOptions::default().seed)]
    pub seed: u64,
    /// Throughput passes per book (the median is reported).
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
    if args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| format!("bench: {e}"))?;
        println!("{json}");
    } else {
        print!("{}", report.table());
    }
    if report.mismatches.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "bench: the runs disagreed ({}); the figures are not comparable",
            report.mismatches.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_benchmark_lists_the_known_ones() {
        let args = BenchArgs {
            which: "journal".into(),
            json: false,
            commands: 1,
            warmup: 0,
            seed: 1,
            passes: 1,
            markets: vec![1],
            cases: Case::ALL.to_vec(),
            voters: 1,
            revotes: 0,
            vote_passes: 1,
        };
        let message = run(&args).unwrap_err();
        assert!(message.contains("`journal`"), "{message}");
        assert!(message.contains("known: engine"), "{message}");
    }
}
