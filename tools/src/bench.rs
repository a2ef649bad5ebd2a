//! `oddsmatch bench`: the benchmarks of `oddsmatch-benches`, from the command line.
//!
//! Progress goes to standard error; the table (or the JSON report) to standard output, so that
//! `oddsmatch bench engine --json > results.json` captures only the report.

use oddsmatch_benches::workload::MAX_MARKETS;
use oddsmatch_benches::{EngineBenchOptions, run_engine_bench};

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
    /// Market counts to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = EngineBenchOptions::default().markets,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_MARKETS)))]
    pub markets: Vec<u32>,
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
    let options = EngineBenchOptions {
        commands: args.commands,
        warmup: args.warmup,
        seed: args.seed,
        passes: args.passes,
        markets: args.markets.clone(),
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
            "bench: the books disagreed ({}); the figures are not comparable",
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
        };
        let message = run(&args).unwrap_err();
        assert!(message.contains("`journal`"), "{message}");
        assert!(message.contains("known: engine"), "{message}");
    }
}
