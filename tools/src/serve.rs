//! `oddsmatch serve`: one node — shards recovered from their journals, the bootstrap file,
//! order entry — until SIGTERM or SIGINT, then a graceful stop.
//!
//! Configuration comes from an embedded default, then a TOML file (`--config`), then flags.
//! `--print-config` shows the result with every knob, which is also the easiest way to write
//! a configuration file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use oddsmatch_net::node::{Node, NodeConfig};

/// Arguments of `oddsmatch serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A TOML configuration file; flags override what it says.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The data directory (journals, snapshots, bootstrap marker).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Where order entry listens (port 0: any free port, printed at start).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Where market-data subscribers connect over TCP (port 0: any free port, printed at
    /// start).
    #[arg(long)]
    pub market_data_listen: Option<SocketAddr>,
    /// Where market-data subscribers connect over QUIC (port 0: any free port; printed at
    /// start with the certificate's fingerprint).
    #[arg(long)]
    pub market_data_quic: Option<SocketAddr>,
    /// Serve the metrics in the Prometheus text format over HTTP (`GET /metrics`) on this
    /// address (port 0: any free port, printed at start); overrides `metrics.listen`.
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// How many shards.
    #[arg(long)]
    pub shards: Option<u16>,
    /// Journal durability: os, interval[:N{us,ms}] or sync.
    #[arg(long)]
    pub durability: Option<String>,
    /// What a shard does when idle: spin, yield or `park[:DURATION]`.
    #[arg(long)]
    pub idle: Option<String>,
    /// A file of sim commands (accounts, API keys, markets) applied once.
    #[arg(long)]
    pub bootstrap: Option<PathBuf>,
    /// Flush the journals to this Postgres server (a connection string or URL); overrides
    /// `persist.postgres` of the configuration file. Empty: no flush.
    #[arg(long, env = "ODDSMATCH_POSTGRES")]
    pub postgres: Option<String>,
    /// Log filter, as in RUST_LOG (`info`, `oddsmatch_net=debug`, ...).
    #[arg(long, default_value = "info")]
    pub log: String,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// The configuration the arguments describe.
pub fn config(args: &ServeArgs) -> Result<NodeConfig, String> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
            toml::from_str::<NodeConfig>(&text)
                .map_err(|error| format!("{}: {error}", path.display()))?
        }
        None => NodeConfig::default(),
    };
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(listen) = args.listen {
        config.gateway.listen = listen;
    }
    if let Some(listen) = args.market_data_listen {
        config.market_data.listen_tcp = Some(listen);
    }
    if let Some(listen) = args.market_data_quic {
        config.market_data.listen_quic = Some(listen);
    }
    if let Some(listen) = args.metrics_addr {
        config.metrics.listen = Some(listen);
    }
    if let Some(shards) = args.shards {
        config.shards.count = shards;
    }
    if let Some(durability) = &args.durability {
        config.shards.durability = durability.clone();
    }
    if let Some(idle) = &args.idle {
        config.shards.idle = idle.clone();
    }
    if let Some(bootstrap) = &args.bootstrap {
        config.bootstrap = Some(bootstrap.clone());
    }
    if let Some(postgres) = &args.postgres {
        config.persist.postgres = postgres.clone();
    }
    Ok(config)
}

/// Prints a line on standard output for scripts, ignoring a closed output: a server whose
/// reader went away keeps serving and stops cleanly instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Runs a node until a signal asks it to stop.
pub fn run(args: &ServeArgs) -> Result<(), String> {
    let config = config(args)?;
    if args.print_config {
        let text = toml::to_string_pretty(&config).map_err(|error| error.to_string())?;
        print!("{text}");
        return Ok(());
    }
    init_logging(&args.log)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|error| format!("cannot handle signal {signal}: {error}"))?;
    }
    let node = Node::start(config.clone()).map_err(|error| error.to_string())?;
    // One line on standard output for scripts and tests; logs go to standard error.
    let market_data = node
        .market_data_addr()
        .map_or_else(|| "off".to_owned(), |addr| addr.to_string());
    say!(
        "oddsmatch serve: order entry on {}, market data on {market_data}, data in {}, {} shard(s)",
        node.addr(),
        config.data_dir.display(),
        config.shards.count
    );
    if let (Some(quic), Some(fingerprint)) =
        (node.market_data_quic_addr(), node.market_data_fingerprint())
    {
        say!("oddsmatch serve: market data over QUIC on {quic}, certificate SHA-256 {fingerprint}");
    }
    if let Some(metrics) = node.metrics_addr() {
        say!("oddsmatch serve: metrics on http://{metrics}/metrics");
    }
    let mut last_lag_report = std::time::Instant::now();
    if let Some(socket) = node.admin_socket() {
        say!("oddsmatch serve: admin socket {}", socket.display());
    }
    while !stop.load(Ordering::Acquire) && !node.shutdown_requested() {
        std::thread::sleep(Duration::from_millis(20));
        if last_lag_report.elapsed() >= Duration::from_secs(10) {
            last_lag_report = std::time::Instant::now();
            report_persist_lag(&node);
        }
    }
    tracing::info!("stopping: draining the gateway and the shards");
    let report = node.shutdown().map_err(|error| error.to_string())?;
    for (shard, stopped) in report.shards.iter().enumerate() {
        tracing::info!(
            shard,
            seq = stopped.seq,
            state_hash = format_args!("{:016x}", stopped.state_hash),
            snapshot = ?stopped.snapshot,
            "shard stopped"
        );
    }
    match &report.persist {
        Some(Ok(progress)) => {
            for p in progress {
                tracing::info!(
                    shard = p.shard,
                    committed = p.committed_seq,
                    behind = p.lag_records,
                    "persist stopped"
                );
            }
        }
        Some(Err(error)) => tracing::error!(%error, "persist had stopped"),
        None => {}
    }
    say!(
        "oddsmatch serve: stopped ({} session(s) closed)",
        report.gateway.sessions_closed
    );
    Ok(())
}

/// Warns when the flush to Postgres is more than a second behind or failing.
fn report_persist_lag(node: &Node) {
    for p in node.persist_progress().unwrap_or_default() {
        if p.lag > Duration::from_secs(1) || !p.connected {
            tracing::warn!(
                shard = p.shard,
                committed = p.committed_seq,
                lag_records = p.lag_records,
                lag_ms = p.lag.as_millis() as u64,
                retries = p.retries,
                last_error = p.last_error.as_deref().unwrap_or(""),
                "persist is behind"
            );
        }
    }
}

fn init_logging(filter: &str) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|error| format!("--log {filter}: {error}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|error| format!("cannot start logging: {error}"))
}
