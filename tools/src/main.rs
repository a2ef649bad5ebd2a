//! `oddsmatch`: the one command that runs, drives and measures oddsmatch.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod admin;
mod bench;
mod demo;
mod journal;
mod loadgen;
mod operator;
mod order;
mod persist;
mod race_model;
mod serve;
mod sim;
mod slo_gate;
mod watch;

/// A low-latency matching and odds engine for betting exchanges, pools and prediction markets.
#[derive(Debug, Parser)]
#[command(name = "oddsmatch", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Run a node's operator requests over its admin socket: markets, accounts, status,
    /// metrics, configuration, snapshots and shutdown.
    Admin(admin::AdminArgs),
    /// Run a node: shards recovered from their journals, the bootstrap file, order entry.
    Serve(serve::ServeArgs),
    /// Run a file of JSON commands through the engine and print the events.
    Sim(sim::SimArgs),
    /// Run a benchmark.
    Bench(bench::BenchArgs),
    /// Verify, dump, count, replay and snapshot a journal.
    Journal(journal::JournalArgs),
    /// Place, cancel and list orders, and read the balance, over the order-entry protocol.
    Order(order::OrderArgs),
    /// Flush journals to Postgres (load, catch up, follow), or check Postgres against them.
    Persist(persist::PersistArgs),
    /// Simulate a race and print its win probabilities as reference_odds lines (an example
    /// feed model).
    RaceModel(race_model::RaceModelArgs),
    /// The whole system in one command: a node in this process, a race priced by a feed as a
    /// pool, an exchange quoted by market makers, bettors, live odds and latencies, the
    /// settlement and every payout.
    Demo(demo::DemoArgs),
    /// Watch markets live over the market-data protocol: odds ticks and status changes as a
    /// table on a terminal, one line per update when piped, or JSON.
    Watch(watch::WatchArgs),
    /// Run a customer's load test against a node: open-loop arrivals over real connections,
    /// latency per operation against the customer's targets, and the scenario's pass criteria.
    Loadgen(loadgen::LoadgenArgs),
    /// Check a load test's summary file against thresholds; exit non-zero on a breach.
    SloGate(slo_gate::SloGateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Commands::Admin(args) => return admin::main(&args),
        Commands::Serve(args) => serve::run(&args),
        Commands::Sim(args) => sim::run(&args),
        Commands::Bench(args) => bench::run(&args),
        Commands::Journal(args) => journal::run(&args),
        Commands::Order(args) => return order::main(&args),
        Commands::Persist(args) => return persist::main(&args),
        Commands::RaceModel(args) => race_model::run(&args),
        Commands::Watch(args) => return watch::main(&args),
        Commands::Demo(args) => return demo::main(&args),
        Commands::Loadgen(args) => return loadgen::main(&args),
        Commands::SloGate(args) => return slo_gate::main(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("oddsmatch: {message}");
            ExitCode::from(2)
        }
    }
}
