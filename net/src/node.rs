//! One oddsmatch node in a process: its shards (each recovering from its journal), the
//! operator's bootstrap file, and the order-entry gateway. `oddsmatch serve` runs one; tests,
//! benchmarks and the load generator embed one.
//!
//! Layout of the data directory (created owner-only, since journals hold API secrets):
//!
//! ```text
//! data/
//!   shard-0/            journal segments and snapshots/ of shard 0
//!   shard-1/            ...
//!   bootstrap.applied   the SHA-256 of the bootstrap file once it has been applied
//!   md-cert.pem         the market data's self-signed QUIC certificate, made on the first
//!   md-key.pem          start unless one is configured, and its key (owner-only)
//!   admin.sock          the operator's admin socket while the node runs (owner-only)
//! ```
//!
//! With `persist.postgres` set, the node also flushes every shard's journal to Postgres
//! ([`oddsmatch_persist`]); the shards keep journal segments until the flush has passed them,
//! and a stopping node gives the flush `persist.shutdown_drain_ms` to catch up.
//!
//! [`Node::metrics`] gathers what every part measures ([`crate::metrics`]); with
//! `metrics.listen` set, an HTTP listener serves it in the Prometheus text format.

use std::fs;
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use oddsmatch_engine::shard::{IdleStrategy, ShardConfig, ShardHandle, ShardMap, SubmitError};
use oddsmatch_engine::{Command, Event};
use oddsmatch_journal::Durability;
use oddsmatch_persist::{PersistConfig, Persister, Progress, Source};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::admin::{AdminConfig, AdminContext, AdminServer, ShardAccess};
use crate::gateway::{
    Gateway, GatewayConfig, GatewayHandle, GatewayReport, GatewayStats, ShardLink,
};
use crate::market_data::{MarketDataConfig, Publisher, PublisherShard};
use crate::metrics::{Metrics, MetricsConfig, MetricsListener, MetricsServer, MetricsSource};

/// The knobs of the shards (see `tuning.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShardSettings {
    /// How many shards (markets spread over them by id modulo the count).
    pub count: u16,
    /// Journal durability: `os`, `interval[:MS]` or `sync`.
    pub durability: String,
    /// Size of each journal segment file in bytes.
    pub segment_bytes: u64,
    /// Requests a shard queue holds; a full queue answers `busy`.
    pub queue_capacity: usize,
    /// The most requests applied and committed as one batch.
    pub batch_max: usize,
    /// What a shard does with an empty queue: `spin`, `yield` or `park[:DURATION]`.
    pub idle: String,
    /// Records between snapshots (0: only at shutdown).
    pub snapshot_every: u64,
    /// Snapshots kept on disk.
    pub snapshots_kept: usize,
}

impl Default for ShardSettings {
    fn default() -> Self {
        let defaults = ShardConfig::new("");
        ShardSettings {
            count: 1,
            durability: defaults.journal.durability.to_string(),
            segment_bytes: defaults.journal.segment_bytes,
            queue_capacity: defaults.queue_capacity,
            batch_max: defaults.batch_max,
            idle: defaults.idle.to_string(),
            snapshot_every: defaults.snapshot_every,
            snapshots_kept: defaults.snapshots_kept,
        }
    }
}

/// Everything a node needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// The data directory.
    pub data_dir: PathBuf,
    /// A file of sim commands applied once to set up accounts, keys and markets.
    pub bootstrap: Option<PathBuf>,
    /// The shards.
    pub shards: ShardSettings,
    /// The order-entry gateway.
    pub gateway: GatewayConfig,
    /// The market-data publisher.
    pub market_data: MarketDataConfig,
    /// The flush to Postgres; off while `postgres` is empty.
    pub persist: PersistConfig,
    /// The metrics' HTTP listener.
    pub metrics: MetricsConfig,
    /// The operator's admin socket.
    pub admin: AdminConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            data_dir: PathBuf::from("data"),
            bootstrap: None,
            shards: ShardSettings::default(),
            gateway: GatewayConfig::default(),
            market_data: MarketDataConfig::default(),
            persist: PersistConfig::default(),
            metrics: MetricsConfig::default(),
            admin: AdminConfig::default(),
        }
    }
}

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A setting is out of range or does not parse.
    #[error("configuration: {0}")]
    Config(String),
    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: io::Error,
    },
    /// A shard failed to start (recovery found a problem).
    #[error("shard {shard}: {source}")]
    Shard {
        /// The shard.
        shard: u16,
        /// The error.
        source: oddsmatch_engine::shard::ShardError,
    },
    /// The flush to Postgres could not start (its configuration).
    #[error(transparent)]
    Persist(#[from] oddsmatch_persist::PersistError),
    /// The bootstrap file is invalid.
    #[error("bootstrap {path}:{line}: {message}")]
    Bootstrap {
        /// The file.
        path: PathBuf,
        /// The line (from 1).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> NodeError {
    let context = context.into();
    move |source| NodeError::Io { context, source }
}

/// What applying the bootstrap file did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootstrapReport {
    /// Commands submitted (a command sent to every shard counts once per shard).
    pub commands: usize,
    /// Of those, how many the engine rejected (each is logged).
    pub rejected: usize,
    /// Whether the file had been applied before (nothing was submitted).
    pub already_applied: bool,
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    gateway: GatewayHandle,
    shards: Vec<ShardHandle>,
    addr: std::net::SocketAddr,
    bootstrap: BootstrapReport,
    /// Shared with the metrics, which read its progress; taken out at shutdown.
    persister: Arc<Mutex<Option<Persister>>>,
    persist_drain: Duration,
    publisher: Option<Publisher>,
    metrics: MetricsSource,
    metrics_server: Option<MetricsServer>,
    admin: Option<AdminServer>,
    /// Set by the admin socket's `shutdown`.
    shutdown_requested: Arc<AtomicBool>,
}

/// What stopping a node did.
#[derive(Debug)]
pub struct NodeStopReport {
    /// The gateway's part.
    pub gateway: GatewayReport,
    /// Each shard's last sequence number and state hash.
    pub shards: Vec<oddsmatch_engine::shard::StopReport>,
    /// How far the flush to Postgres got, per shard, if it ran (what it did not reach is
    /// flushed at the next start); or why it stopped.
    pub persist: Option<Result<Vec<Progress>, String>>,
}

impl Node {
    /// Starts the shards (recovering each from its journal), applies the bootstrap file if it
    /// has not been applied yet, and starts the gateway.
    pub fn start(config: NodeConfig) -> Result<Node, NodeError> {
        let durability: Durability = config
            .shards
            .durability
            .parse()
            .map_err(|e| NodeError::Config(format!("shards.durability: {e}")))?;
        let idle: IdleStrategy = config
            .shards
            .idle
            .parse()
            .map_err(|e| NodeError::Config(format!("shards.idle: {e}")))?;
        if config.shards.count == 0 {
            return Err(NodeError::Config("shards.count must be at least 1".into()));
        }
        let persist = !config.persist.postgres.trim().is_empty();
        if persist {
            config.persist.validate()?;
        }
        create_private_dir(&config.data_dir)?;
        let gateway = Gateway::bind(config.gateway.clone())
            .map_err(io_error(format!("listen on {}", config.gateway.listen)))?;
        let addr = gateway.local_addr();
        let metrics_listener = match config.metrics.listen {
            Some(listen) => Some(
                MetricsListener::bind(listen)
                    .map_err(io_error(format!("listen for metrics on {listen}")))?,
            ),
            None => None,
        };
        let mut shards: Vec<ShardHandle> = Vec::new();
        let mut dirs = Vec::new();
        let mut sources = Vec::new();
        for shard in 0..config.shards.count {
            let dir = config.data_dir.join(format!("shard-{shard}"));
            let mut shard_config = ShardConfig::new(&dir);
            shard_config.shard = shard;
            shard_config.journal.durability = durability;
            shard_config.journal.segment_bytes = config.shards.segment_bytes;
            shard_config.queue_capacity = config.shards.queue_capacity;
            shard_config.batch_max = config.shards.batch_max;
            shard_config.idle = idle;
            shard_config.snapshot_every = config.shards.snapshot_every;
            shard_config.snapshots_kept = config.shards.snapshots_kept;
            shard_config.notify = Some(gateway.notifier());
            if persist {
                // 0 until the flush has read its checkpoint: every segment is kept.
                let checkpoint = Arc::new(AtomicU64::new(0));
                shard_config.reader_checkpoints.push(checkpoint.clone());
                sources.push(Source::follow(shard, &dir, checkpoint));
            }
            let handle = match ShardHandle::start(shard_config) {
                Ok(handle) => handle,
                Err(source) => {
                    for started in shards {
                        let _ = started.shutdown();
                    }
                    return Err(NodeError::Shard { shard, source });
                }
            };
            let report = handle.start_report();
            tracing::info!(shard, ?report, "shard started");
            shards.push(handle);
            dirs.push(dir);
        }
        // The flush follows journals the shards have opened (and recovered) already.
        let persister = match persist {
            true => match Persister::start(config.persist.clone(), sources) {
                Ok(persister) => Some(persister),
                Err(error) => {
                    for handle in shards {
                        let _ = handle.shutdown();
                    }
                    return Err(error.into());
                }
            },
            false => None,
        };
        let publisher = match Publisher::start(
            config.market_data.clone(),
            &config.data_dir,
            shards
                .iter()
                .map(|handle| PublisherShard {
                    market_data: handle.market_data().clone(),
                    submitter: handle.submitter(),
                })
                .collect(),
        ) {
            Ok(publisher) => publisher,
            Err(error) => {
                for handle in shards {
                    let _ = handle.shutdown();
                }
                return Err(NodeError::Io {
                    context: format!(
                        "start market data (tcp {:?}, quic {:?})",
                        config.market_data.listen_tcp, config.market_data.listen_quic
                    ),
                    source: error,
                });
            }
        };
        let map = ShardMap::new(config.shards.count);
        let bootstrap = match &config.bootstrap {
            Some(path) => match apply_bootstrap(path, &config.data_dir, &shards, &map) {
                Ok(report) => report,
                Err(error) => {
                    // Stop the shards cleanly: what the bootstrap applied is journaled, and
                    // the next start applies the file again (it is idempotent).
                    for handle in shards {
                        let _ = handle.shutdown();
                    }
                    return Err(error);
                }
            },
            None => BootstrapReport::default(),
        };
        let links = shards
            .iter()
            .zip(dirs)
            .enumerate()
            .map(|(shard, (handle, dir))| ShardLink::new(shard as u16, handle, dir))
            .collect();
        let gateway = gateway
            .start(links)
            .map_err(io_error("start the gateway"))?;
        tracing::info!(%addr, shards = config.shards.count, "order entry listening");
        let persister = Arc::new(Mutex::new(persister));
        let metrics = MetricsSource::new(
            shards.iter().map(ShardHandle::probe).collect(),
            gateway.stats().clone(),
            publisher.stats().clone(),
            persister.clone(),
        );
        let mut node = Node {
            gateway,
            shards,
            addr,
            bootstrap,
            persister,
            persist_drain: Duration::from_millis(config.persist.shutdown_drain_ms),
            publisher: Some(publisher),
            metrics,
            metrics_server: None,
            admin: None,
            shutdown_requested: Arc::new(AtomicBool::new(false)),
        };
        if let Some(listener) = metrics_listener {
            let source = node.metrics.clone();
            match listener.start(move || source.collect().to_prometheus()) {
                Ok(server) => {
                    tracing::info!(addr = %server.addr(), "metrics listening (GET /metrics)");
                    node.metrics_server = Some(server);
                }
                Err(error) => {
                    let _ = node.shutdown();
                    return Err(NodeError::Io {
                        context: "start the metrics listener".into(),
                        source: error,
                    });
                }
            }
        }
        if config.admin.enabled {
            let path = config.admin.socket_path(&config.data_dir);
            let context = node.admin_context(&config);
            match AdminServer::start(&config.admin, path.clone(), context) {
                Ok(server) => node.admin = Some(server),
                Err(error) => {
                    let _ = node.shutdown();
                    return Err(NodeError::Io {
                        context: format!("start the admin socket at {}", path.display()),
                        source: error,
                    });
                }
            }
        }
        Ok(node)
    }

    /// What the admin socket's requests reach.
    fn admin_context(&self, config: &NodeConfig) -> AdminContext {
        AdminContext {
            shards: self
                .shards
                .iter()
                .map(|handle| ShardAccess {
                    submitter: handle.submitter(),
                    watermark: handle.watermark().clone(),
                })
                .collect(),
            map: ShardMap::new(config.shards.count),
            config: serde_json::to_value(config).unwrap_or_default(),
            data_dir: config.data_dir.clone(),
            started_at_ns: oddsmatch_engine::shard::Clock::now_ns(
                &mut oddsmatch_engine::shard::SystemClock,
            ),
            metrics: self.metrics.clone(),
            knobs: self.publisher.as_ref().map(|p| p.knobs().clone()),
            shutdown: self.shutdown_requested.clone(),
            timeout: Duration::from_millis(config.admin.timeout_ms.max(1)),
            next_tag: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// Where the admin socket is (`None`: `admin.enabled` is off).
    pub fn admin_socket(&self) -> Option<&Path> {
        self.admin.as_ref().map(AdminServer::path)
    }

    /// Whether an operator asked the node to stop (the admin socket's `shutdown`); the process
    /// running the node then calls [`Node::shutdown`].
    pub fn shutdown_requested(&self) -> bool {
        self.shutdown_requested
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Where order entry listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Where market-data subscribers connect over TCP.
    pub fn market_data_addr(&self) -> Option<std::net::SocketAddr> {
        self.publisher.as_ref().and_then(Publisher::tcp_addr)
    }

    /// Where market-data subscribers connect over QUIC.
    pub fn market_data_quic_addr(&self) -> Option<std::net::SocketAddr> {
        self.publisher.as_ref().and_then(Publisher::quic_addr)
    }

    /// The SHA-256 fingerprint (hexadecimal) of the market data's QUIC certificate, which
    /// subscribers pin.
    pub fn market_data_fingerprint(&self) -> Option<&str> {
        self.publisher
            .as_ref()
            .and_then(Publisher::certificate_fingerprint)
    }

    /// The market-data publisher's counters.
    pub fn market_data_stats(&self) -> Option<&std::sync::Arc<crate::market_data::MdStats>> {
        self.publisher.as_ref().map(Publisher::stats)
    }

    /// What the bootstrap did at start.
    pub fn bootstrap(&self) -> BootstrapReport {
        self.bootstrap
    }

    /// The gateway's counters.
    pub fn gateway_stats(&self) -> &std::sync::Arc<GatewayStats> {
        self.gateway.stats()
    }

    /// The shards.
    pub fn shards(&self) -> &[ShardHandle] {
        &self.shards
    }

    /// How far the flush to Postgres has got per shard (`None`: persist is off). Records
    /// behind are counted from the shard's journal head, not only from what the flush has
    /// read.
    pub fn persist_progress(&self) -> Option<Vec<Progress>> {
        self.metrics.persist_progress()
    }

    /// Everything the node measures, now (see `docs/metrics.md`).
    pub fn metrics(&self) -> Metrics {
        self.metrics.collect()
    }

    /// A handle that collects [`Node::metrics`] from any thread, for as long as it is kept
    /// (after the node stopped it reads the last values).
    pub fn metrics_source(&self) -> MetricsSource {
        self.metrics.clone()
    }

    /// Where the metrics' HTTP listener listens (`None`: `metrics.listen` is not set).
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_server.as_ref().map(MetricsServer::addr)
    }

    /// Graceful stop: the gateway stops accepting, answers what is in flight and says goodbye;
    /// then every shard drains its queue, commits, flushes and snapshots; then the flush to
    /// Postgres catches up, for at most `persist.shutdown_drain_ms`.
    pub fn shutdown(self) -> Result<NodeStopReport, NodeError> {
        if let Some(admin) = self.admin {
            admin.stop();
        }
        if let Some(server) = self.metrics_server {
            server.shutdown();
        }
        if let Some(publisher) = self.publisher {
            publisher.shutdown();
        }
        let gateway = self.gateway.shutdown();
        let persister = self.persister.lock().take();
        let mut shards = Vec::new();
        for (shard, handle) in self.shards.into_iter().enumerate() {
            let report = handle.shutdown().map_err(|source| NodeError::Shard {
                shard: shard as u16,
                source,
            })?;
            shards.push(report);
        }
        let persist = persister.map(|p| p.drain(self.persist_drain).map_err(|e| e.to_string()));
        Ok(NodeStopReport {
            gateway,
            shards,
            persist,
        })
    }
}

/// Creates a directory (and its parents) readable by its owner only.
fn create_private_dir(dir: &Path) -> Result<(), NodeError> {
    fs::create_dir_all(dir).map_err(io_error(format!("create {}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io_error(format!("restrict {}", dir.display())))?;
    }
    Ok(())
}

const BOOTSTRAP_MARKER: &str = "bootstrap.applied";

/// Applies a file of sim commands once. Commands about one market go to the shard that owns
/// it; `create_account`, `set_api_key` and `kill_switch` go to every shard (an account holds a
/// wallet on each); `deposit` and `withdraw` go to the shard named by an extra `"shard"` key,
/// which may be left out only when there is one shard. A crash half way is harmless: every command is idempotent or rejected as a
/// duplicate the second time, and the marker is only written at the end.
fn apply_bootstrap(
    path: &Path,
    data_dir: &Path,
    shards: &[ShardHandle],
    map: &ShardMap,
) -> Result<BootstrapReport, NodeError> {
    let text = fs::read(path).map_err(io_error(format!("read {}", path.display())))?;
    let digest: String = Sha256::digest(&text)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let marker = data_dir.join(BOOTSTRAP_MARKER);
    if let Ok(applied) = fs::read_to_string(&marker) {
        if applied.trim() != digest {
            tracing::warn!(
                file = %path.display(),
                "the bootstrap file changed since it was applied; it is not applied again"
            );
        }
        return Ok(BootstrapReport {
            already_applied: true,
            ..BootstrapReport::default()
        });
    }
    let mut commands: Vec<(u16, Command, usize)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let bad = |message: String| NodeError::Bootstrap {
            path: path.to_owned(),
            line: line_no,
            message,
        };
        let line = line.map_err(|e| bad(e.to_string()))?;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("//") {
            continue;
        }
        let mut value: serde_json::Value =
            serde_json::from_str(trimmed).map_err(|e| bad(e.to_string()))?;
        let explicit_shard = match value.as_object_mut().and_then(|o| o.remove("shard")) {
            Some(shard) => Some(
                shard
                    .as_u64()
                    .filter(|s| *s < u64::from(map.count()))
                    .ok_or_else(|| bad(format!("\"shard\" must be 0 to {}", map.count() - 1)))?
                    as u16,
            ),
            None => None,
        };
        // The `ts` of a sim line is ignored: the shard stamps its own time.
        if let Some(object) = value.as_object_mut() {
            object.remove("ts");
        }
        let command: Command = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        match (&command, map.route(&command)) {
            (Command::Timer {} | Command::Balances {}, _) => {}
            (_, Some(shard)) => commands.push((shard, command, line_no)),
            (Command::Deposit { .. } | Command::Withdraw { .. }, None) => {
                // Wallets are per shard: with several shards, money must be put where the
                // account will trade, so the line has to say which shard that is.
                let shard = match (explicit_shard, map.count()) {
                    (Some(shard), _) => shard,
                    (None, 1) => 0,
                    (None, count) => {
                        return Err(bad(format!(
                            "with {count} shards a {} must name its shard (\"shard\": 0 to {})",
                            if matches!(command, Command::Deposit { .. }) {
                                "deposit"
                            } else {
                                "withdrawal"
                            },
                            count - 1
                        )));
                    }
                };
                commands.push((shard, command, line_no));
            }
            (_, None) => {
                for shard in 0..map.count() {
                    commands.push((shard, command.clone(), line_no));
                }
            }
        }
    }
    let mut report = BootstrapReport::default();
    let deadline = Duration::from_secs(30);
    for (shard, command, line) in commands {
        let handle = &shards[usize::from(shard)];
        let started = Instant::now();
        let mut pending = Some(command);
        while let Some(command) = pending.take() {
            match handle.submit(line as u64, command.clone()) {
                Ok(()) => {}
                Err(SubmitError::Busy) if started.elapsed() < deadline => {
                    pending = Some(command);
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(error) => {
                    return Err(NodeError::Config(format!(
                        "bootstrap line {line}: shard {shard}: {error}"
                    )));
                }
            }
        }
        report.commands += 1;
        let batch = loop {
            let batch = handle.acks().recv_timeout(deadline).map_err(|_| {
                NodeError::Config(format!(
                    "bootstrap line {line}: shard {shard} did not answer"
                ))
            })?;
            if batch.outcomes.iter().any(|o| o.tag == line as u64) {
                break batch;
            }
        };
        for (outcome, events) in batch.iter() {
            if outcome.tag != line as u64 {
                continue;
            }
            for event in events {
                if let Event::Rejected { reason, .. } = event {
                    report.rejected += 1;
                    tracing::warn!(
                        line,
                        shard,
                        reason = reason.name(),
                        "bootstrap command rejected"
                    );
                }
            }
        }
    }
    fs::write(&marker, format!("{digest}\n"))
        .map_err(io_error(format!("write {}", marker.display())))?;
    tracing::info!(
        commands = report.commands,
        rejected = report.rejected,
        "bootstrap applied"
    );
    Ok(report)
}
