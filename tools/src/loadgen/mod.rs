//! `oddsmatch loadgen`: the customers' load tests, run against a node over its real protocols.
//!
//! A run sets up the scenario's accounts and markets over the admin socket, connects its
//! subscribers and users (tokio tasks, many per thread), lets every user send on its own open-loop
//! schedule for the load window while the operator does the scheduled work (opening, creating
//! and settling markets, deposits), then checks the scenario's pass criteria against what the
//! node holds, and reports latency per operation beside the customer's targets. See
//! `docs/loadgen.md`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use oddsmatch_net::node::{Node, NodeConfig};

mod md;
pub mod output;
mod plan;
mod record;
mod report;
mod run;
pub mod summary;
pub mod thresholds;
mod users;
mod wire;

pub(crate) use plan::Scenario;

/// Options of `oddsmatch loadgen`.
#[derive(Debug, clap::Args)]
pub struct LoadgenArgs {
    /// The customer's scenario to run.
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// A running node's order-entry address (its admin socket and market-data address are
    /// needed too). Without it the load generator starts its own node.
    #[arg(long, requires = "admin_socket", conflicts_with = "embedded")]
    target: Option<SocketAddr>,
    /// The running node's admin socket (with --target).
    #[arg(long, requires = "target")]
    admin_socket: Option<PathBuf>,
    /// The running node's market-data TCP address (with --target).
    #[arg(long, requires = "target")]
    market_data: Option<SocketAddr>,
    /// Start a node in this process with a fresh data directory (the default).
    #[arg(long)]
    embedded: bool,
    /// Shards of the embedded node.
    #[arg(long, default_value_t = 1)]
    shards: u16,
    /// Multiplies the scenario's users, subscribers and counts (and so its total rates).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// The load window in seconds (default: the customer's).
    #[arg(long)]
    duration: Option<f64>,
    /// Threads running the simulated users and subscribers.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Seed of the users' choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write a k6-shaped JSON summary here (for `oddsmatch slo-gate` and existing gates).
    #[arg(long)]
    summary_export: Option<PathBuf>,
    /// Write the latency histograms here as an HDR histogram log.
    #[arg(long)]
    hdr_out: Option<PathBuf>,
    /// Draw the latency percentile curves here (.png or .svg).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Thresholds to judge by instead of the customer's (k6 options JSON, or TOML).
    #[arg(long)]
    thresholds: Option<PathBuf>,
    /// Raise the scale until a threshold or check fails; report the highest passing scale
    /// (embedded node only; each step is a fresh node).
    #[arg(long, conflicts_with = "target")]
    find_limit: bool,
    /// No progress bar and no table (the exit status and the exports still tell).
    #[arg(long)]
    quiet: bool,
}

/// Runs the load test; exit 0 when it passed, 1 when a threshold or check failed, 2 when it
/// could not run.
pub fn main(args: &LoadgenArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ODDSMATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    match start(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("oddsmatch loadgen: {message}");
            ExitCode::from(2)
        }
    }
}

fn validate(args: &LoadgenArgs) -> Result<Duration, String> {
    if !(args.scale.is_finite() && args.scale > 0.0 && args.scale <= 1_000.0) {
        return Err(format!(
            "--scale {} must be above 0 and at most 1000",
            args.scale
        ));
    }
    if args.threads == 0 || args.threads > 64 {
        return Err("--threads must be 1 to 64".into());
    }
    if args.shards == 0 || args.shards > 64 {
        return Err("--shards must be 1 to 64".into());
    }
    let duration = match args.duration {
        Some(s) if s.is_finite() && (1.0..=86_400.0).contains(&s) => Duration::from_secs_f64(s),
        Some(s) => return Err(format!("--duration {s} must be 1 to 86400 seconds")),
        None => args.scenario.default_duration(),
    };
    if let Some(path) = &args.plot {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "png" && ext != "svg" {
            return Err(format!(
                "--plot {}: the file must end in .png or .svg",
                path.display()
            ));
        }
    }
    Ok(duration)
}

fn start(args: &LoadgenArgs) -> Result<bool, String> {
    let duration = validate(args)?;
    let thresholds = match &args.thresholds {
        Some(path) => Some(thresholds::load(path)?),
        None => None,
    };
    if args.find_limit {
        return find_limit(args, duration, thresholds.as_deref());
    }
    let outcome = run_once(args, args.scale, duration)?;
    let judged = report::judge(&outcome, thresholds.as_deref())?;
    if !args.quiet {
        print!("{}", report::table(&outcome, &judged));
    }
    export(args, &outcome, &judged.summary)?;
    Ok(judged.passed)
}

/// Runs the scenario once at `scale`.
fn run_once(args: &LoadgenArgs, scale: f64, duration: Duration) -> Result<run::RunOutcome, String> {
    let plan = plan::build(args.scenario, scale, duration);
    let threads = args.threads;
    let progress = !args.quiet && std::io::stderr().is_terminal();
    match args.target {
        Some(addr) => {
            let connections = plan.subscribers.len() + plan.users.len() + 64;
            oddsmatch_benches::fanout::raise_file_limit(connections as u64 + 64)?;
            let admin = args
                .admin_socket
                .clone()
                .ok_or("--target needs --admin-socket")?;
            let target = run::Target {
                addr,
                market_data: args.market_data,
                admin,
                label: addr.to_string(),
            };
            run::run(&plan, &target, scale, threads, args.seed, progress)
        }
        None => {
            let data = std::env::temp_dir().join(format!(
                "oddsmatch-loadgen-{}-{}",
                std::process::id(),
                users::wall_ns() % 1_000_000_000
            ));
            let result = embedded(&plan, &data, args, scale, progress);
            let _ = std::fs::remove_dir_all(&data);
            result
        }
    }
}

fn embedded(
    plan: &plan::Plan,
    data: &std::path::Path,
    args: &LoadgenArgs,
    scale: f64,
    progress: bool,
) -> Result<run::RunOutcome, String> {
    // Both ends of every connection are in this process.
    let connections = plan.subscribers.len() + plan.users.len() + 64;
    oddsmatch_benches::fanout::raise_file_limit(2 * connections as u64 + 64)
        .map_err(|e| format!("{e}; or run the node apart (`oddsmatch serve`) and use --target"))?;
    let mut config = NodeConfig {
        data_dir: data.to_path_buf(),
        ..NodeConfig::default()
    };
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    config.shards.count = args.shards;
    config.shards.segment_bytes = 64 << 20;
    config.gateway.listen = loopback;
    config.gateway.throttle = plan.throttle;
    config.gateway.max_connections = config.gateway.max_connections.max(connections);
    config.market_data.listen_tcp = Some(loopback);
    config.market_data.listen_quic = None;
    config.market_data.max_connections = config.market_data.max_connections.max(connections);
    config.market_data.max_subscriptions = config.market_data.max_subscriptions.max(
        plan.subscribers
            .iter()
            .map(|s| s.markets.len())
            .sum::<usize>()
            + 64,
    );
    let node = Node::start(config).map_err(|e| format!("cannot start the node: {e}"))?;
    let target = run::Target {
        addr: node.addr(),
        market_data: node.market_data_addr(),
        admin: node
            .admin_socket()
            .ok_or("the node has no admin socket")?
            .to_path_buf(),
        label: "embedded".into(),
    };
    let outcome = run::run(plan, &target, scale, args.threads, args.seed, progress);
    let stopped = node.shutdown();
    let outcome = outcome?;
    stopped.map_err(|e| format!("stopping the node: {e}"))?;
    Ok(outcome)
}

fn export(
    args: &LoadgenArgs,
    outcome: &run::RunOutcome,
    summary: &summary::Summary,
) -> Result<(), String> {
    if let Some(path) = &args.summary_export {
        summary.write(path)?;
    }
    let targets: BTreeMap<&str, Vec<(String, f64)>> = record::Op::ALL
        .iter()
        .map(|op| {
            (
                op.name(),
                thresholds::targets(outcome.scenario.name(), op.name()),
            )
        })
        .collect();
    let series: Vec<output::Series<'_>> = record::Op::ALL
        .iter()
        .filter_map(|op| {
            let histogram = outcome.record.latencies(*op)?;
            Some(output::Series {
                name: op.name(),
                histogram,
                target_ms: targets.get(op.name()).map_or(&[][..], |t| &t[..]),
            })
        })
        .collect();
    if let Some(path) = &args.hdr_out {
        output::write_hdr_log(
            path,
            outcome.scenario.name(),
            outcome.started,
            outcome.elapsed,
            &series,
        )?;
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "oddsmatch loadgen {} (scale {})",
            outcome.scenario.name(),
            outcome.scale
        );
        output::plot(path, &title, &series)?;
    }
    Ok(())
}

/// Doubles the scale from the one given until a run fails, then halves the gap between the
/// last pass and the first failure twice; prints each step and the highest passing scale.
fn find_limit(
    args: &LoadgenArgs,
    duration: Duration,
    thresholds: Option<&[thresholds::Threshold]>,
) -> Result<bool, String> {
    let mut pass: Option<(f64, run::RunOutcome, report::Judged)> = None;
    let mut fail: Option<f64> = None;
    let mut scale = args.scale;
    let began = Instant::now();
    for step in 0..12 {
        let outcome = run_once(args, scale, duration)?;
        let judged = report::judge(&outcome, thresholds)?;
        let passed = judged.passed;
        if !args.quiet {
            println!(
                "step {}: scale {scale} {} ({})",
                step + 1,
                if passed { "passes" } else { "fails" },
                report::headline(&outcome, &judged)
            );
        }
        if passed {
            pass = Some((scale, outcome, judged));
        } else {
            fail = Some(scale);
        }
        scale = match (pass.as_ref().map(|p| p.0), fail) {
            (Some(low), None) => low * 2.0,
            (None, Some(high)) if high > 0.02 => high / 2.0,
            (Some(low), Some(high)) if high / low > 1.2 => (low + high) / 2.0,
            _ => break,
        };
        // Three decimals are all a scale needs (and read better than 0.6000000000000001).
        scale = (scale * 1_000.0).round() / 1_000.0;
    }
    match pass {
        Some((scale, outcome, judged)) => {
            if !args.quiet {
                println!(
                    "highest passing scale: {scale} ({}) after {:.0} s",
                    report::headline(&outcome, &judged),
                    began.elapsed().as_secs_f64()
                );
                print!("{}", report::table(&outcome, &judged));
            }
            export(args, &outcome, &judged.summary)?;
            Ok(true)
        }
        None => {
            println!("no scale passed (the lowest tried: {scale})");
            Ok(false)
        }
    }
}
