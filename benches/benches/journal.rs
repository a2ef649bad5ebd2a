//! `cargo bench -p oddsmatch-benches --bench journal`: the journal benchmark, printed as a
//! table.
//!
//! The same measurement and defaults as `oddsmatch bench journal` (about a minute and a half
//! on two shared cores, with up to 3 GB written under the system's temporary directory). Set
//! `ODDSMATCH_BENCH_RESTART_RECORDS` to change the size of the restart step's journal.

use oddsmatch_benches::{JournalBenchOptions, run_journal_bench};

fn main() {
    // `cargo bench` passes `--bench` (and any filter); this harness takes no arguments.
    let mut options = JournalBenchOptions::default();
    if let Ok(records) = std::env::var("ODDSMATCH_BENCH_RESTART_RECORDS") {
        options.restart_records = records
            .parse()
            .expect("ODDSMATCH_BENCH_RESTART_RECORDS is a number of records");
    }
    let report = match run_journal_bench(&options, &mut |line| eprintln!("{line}")) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("journal benchmark: {error}");
            std::process::exit(1);
        }
    };
    print!("{}", report.table());
    if !report.mismatches.is_empty() {
        std::process::exit(1);
    }
}
