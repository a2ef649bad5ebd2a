//! `oddsmatch bench`: the benchmarks of `oddsmatch-benches`, from the command line.

/// Arguments of `oddsmatch bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Which benchmark (`engine`).
    pub which: String,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs a benchmark.
pub fn run(_args: &BenchArgs) -> Result<(), String> {
    Err("bench: not written yet".into())
}
