//! `cargo bench -p oddsmatch-benches`: the engine benchmark, printed as a table.
//!
//! The same measurement and defaults as `oddsmatch bench engine`, all four cases (about a
//! minute on two shared cores). Set `ODDSMATCH_BENCH_COMMANDS` to change the number of
//! measured commands per workload.

use oddsmatch_benches::{EngineBenchOptions, run_engine_bench};

fn main() {
    // `cargo bench` passes `--bench` (and any filter); this harness takes no arguments.
    let mut options = EngineBenchOptions::default();
    if let Ok(commands) = std::env::var("ODDSMATCH_BENCH_COMMANDS") {
        options.commands = commands
            .parse()
            .expect("ODDSMATCH_BENCH_COMMANDS is a number of commands");
    }
    let report = run_engine_bench(&options, &mut |line| eprintln!("{line}"));
    print!("{}", report.table());
    if !report.mismatches.is_empty() {
        std::process::exit(1);
    }
}
