//! `oddsmatch sim`: JSON lines in, JSON events out, then the state hash.

/// Arguments of `oddsmatch sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// The file of commands, one JSON object per line (see docs/sim-format.md).
    #[arg(long)]
    pub input: std::path::PathBuf,
    /// Write the events here instead of standard output.
    #[arg(long)]
    pub output: Option<std::path::PathBuf>,
}

/// Runs a sim file.
pub fn run(_args: &SimArgs) -> Result<(), String> {
    Err("sim: not written yet".into())
}
