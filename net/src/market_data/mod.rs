//! The market-data publisher: odds ticks, the book stream, trades and status changes to
//! subscribers over TCP and QUIC, with snapshots, sequence numbers and conflation.
//!
//! ```text
//!  shard queues ──▶ bridge thread ──▶ hub task ──frames──▶ one bounded queue per session
//!   (MarketData)    (crossbeam select)  (state, fan-out)         ──▶ session writer ──▶ socket
//! ```
//!
//! The publisher runs on its own threads (a tokio runtime) and never slows a shard: the shard
//! drops market data on a full queue and counts it, and the hub then starts that shard again
//! from a snapshot, which subscribers receive flagged conflated. The protocol is
//! [`crate::proto::md`]; its document is `docs/protocol.md`, section "Market data".
//!
//! **The transports carry the same sessions.** A TCP connection, or one bidirectional stream
//! of a QUIC connection ([`quic`]: TLS 1.3, ALPN `oddsmatch-md/1`), carries exactly one session
//! and the same frames; the session code does not know which it runs on, and `max_connections`
//! counts the sessions of both.

mod hub;
pub mod quic;
mod session;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use oddsmatch_engine::Tier;
use oddsmatch_engine::shard::{MarketData, Submitter};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use hub::{Hub, HubMsg};

/// The publisher's knobs (documented in `tuning.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketDataConfig {
    /// Where plain TCP subscribers connect (`None`: no TCP listener).
    pub listen_tcp: Option<SocketAddr>,
    /// Where QUIC subscribers connect (UDP; `None`: no QUIC listener).
    pub listen_quic: Option<SocketAddr>,
    /// The QUIC server's certificate chain (PEM, the server's own certificate first), set
    /// together with `key_file`. Neither set: a self-signed certificate is created in the data
    /// directory on the first start and kept ([`quic::GENERATED_CERT_FILE`]).
    pub cert_file: Option<PathBuf>,
    /// The private key of `cert_file` (PEM: PKCS #8, PKCS #1 or SEC 1).
    pub key_file: Option<PathBuf>,
    /// Connections held at once; the next one is ended with `server_full`.
    pub max_connections: usize,
    /// Subscriptions (market and session pairs) held by the node.
    pub max_subscriptions: usize,
    /// Subscriptions one anonymous session may hold.
    pub anonymous_subscriptions: usize,
    /// Subscriptions one logged-in session may hold, by tier.
    pub subscriptions_free: usize,
    /// See `subscriptions_free`.
    pub subscriptions_basic: usize,
    /// See `subscriptions_free`.
    pub subscriptions_pro: usize,
    /// See `subscriptions_free`.
    pub subscriptions_market_maker: usize,
    /// Whether sessions without a login may subscribe to `ticks` and `status`.
    pub anonymous: bool,
    /// Frames waiting for one subscriber before it goes stale (conflation).
    pub queue_frames: usize,
    /// How long a subscriber may stay stale before it is disconnected.
    pub max_lag_ms: u64,
    /// The server's heartbeat interval on an idle session.
    pub heartbeat_ms: u64,
    /// A session that sends nothing for this long is ended.
    pub idle_timeout_ms: u64,
    /// The largest frame a subscriber may send.
    pub max_frame: usize,
    /// The kernel's send buffer of each TCP connection in bytes (0: the system's default,
    /// which grows to megabytes on loopback). Smaller notices a stalled reader sooner.
    pub socket_send_buffer: usize,
    /// The QUIC listener's UDP socket receive and send buffers in bytes (0: the system's
    /// default); the kernel caps them at `net.core.rmem_max` and `wmem_max`.
    pub udp_buffer: usize,
    /// Threads writing to the sessions (and running QUIC): the fan-out's parallelism. The hub,
    /// which decides what each session gets, has a thread of its own besides.
    pub threads: usize,
}

impl Default for MarketDataConfig {
    fn default() -> Self {
        MarketDataConfig {
            listen_tcp: Some(SocketAddr::from(([127, 0, 0, 1], 7701))),
            listen_quic: Some(SocketAddr::from(([127, 0, 0, 1], 7702))),
            cert_file: None,
            key_file: None,
            max_connections: 20_000,
            max_subscriptions: 1_000_000,
            anonymous_subscriptions: 20,
            subscriptions_free: 20,
            subscriptions_basic: 50,
            subscriptions_pro: 200,
            subscriptions_market_maker: 1_000,
            anonymous: true,
            queue_frames: 1_024,
            max_lag_ms: 2_000,
            heartbeat_ms: 1_000,
            idle_timeout_ms: 10_000,
            max_frame: 1_024,
            socket_send_buffer: 0,
            udp_buffer: 8 << 20,
            threads: 1,
        }
    }
}

impl MarketDataConfig {
    /// Subscriptions a session of `tier` may hold (`None`: anonymous).
    pub fn subscriptions_for(&self, tier: Option<Tier>) -> usize {
        match tier {
            None => self.anonymous_subscriptions,
            Some(Tier::Free) => self.subscriptions_free,
            Some(Tier::Basic) => self.subscriptions_basic,
            Some(Tier::Pro) => self.subscriptions_pro,
            Some(Tier::MarketMaker | Tier::House) => self.subscriptions_market_maker,
        }
    }
}

/// The publisher's knobs an operator may change while it runs (`config set` on the admin
/// socket); every session and the hub read them here rather than from the configuration.
#[derive(Debug)]
pub struct LiveKnobs {
    anonymous: AtomicBool,
    max_connections: AtomicU64,
    max_lag_ms: AtomicU64,
}

impl LiveKnobs {
    /// The knobs as configured.
    pub fn new(config: &MarketDataConfig) -> LiveKnobs {
        LiveKnobs {
            anonymous: AtomicBool::new(config.anonymous),
            max_connections: AtomicU64::new(config.max_connections as u64),
            max_lag_ms: AtomicU64::new(config.max_lag_ms),
        }
    }

    /// Whether sessions without a login may subscribe to `ticks` and `status`.
    pub fn anonymous(&self) -> bool {
        self.anonymous.load(Ordering::Relaxed)
    }

    /// Connections held at once.
    pub fn max_connections(&self) -> usize {
        self.max_connections.load(Ordering::Relaxed) as usize
    }

    /// How long a subscriber may stay stale before it is disconnected.
    pub fn max_lag_ms(&self) -> u64 {
        self.max_lag_ms.load(Ordering::Relaxed)
    }

    /// Sets [`LiveKnobs::anonymous`]: sessions subscribed anonymously keep what they have;
    /// new anonymous subscriptions follow the new setting.
    pub fn set_anonymous(&self, on: bool) {
        self.anonymous.store(on, Ordering::Relaxed);
    }

    /// Sets [`LiveKnobs::max_connections`] (at least 1); sessions beyond it are not cut, new
    /// ones are refused until the count falls below it.
    pub fn set_max_connections(&self, count: usize) {
        self.max_connections
            .store(count.max(1) as u64, Ordering::Relaxed);
    }

    /// Sets [`LiveKnobs::max_lag_ms`] (at least 1).
    pub fn set_max_lag_ms(&self, ms: u64) {
        self.max_lag_ms.store(ms.max(1), Ordering::Relaxed);
    }
}

/// Counters of the publisher.
#[derive(Debug, Default)]
pub struct MdStats {
    /// Sessions open now.
    pub connections: AtomicU64,
    /// Subscriptions held now.
    pub subscriptions: AtomicU64,
    /// Frames handed to sessions.
    pub frames: AtomicU64,
    /// Times a subscriber went stale on a market (its updates conflated).
    pub conflations: AtomicU64,
    /// Sessions ended for reading too slowly.
    pub slow_consumers: AtomicU64,
    /// Times a shard's market data was dropped on a full queue and rebuilt from a snapshot.
    pub resyncs: AtomicU64,
    /// Connections refused because the node held `max_connections` (or, over QUIC, because
    /// [`quic::HANDSHAKES_MAX`] connections were in their handshake).
    pub refused: AtomicU64,
    /// The publisher's stage latencies.
    pub latency: MdLatency,
}

/// The latencies of the publisher's stages (`docs/metrics.md` draws their boundaries).
#[derive(Debug, Default)]
pub struct MdLatency {
    /// A batch published by its shard to the hub having handed its frames to every
    /// subscriber's queue, per batch.
    pub fanout: Arc<oddsmatch_engine::shard::metrics::LatencyHistogram>,
    /// An odds tick's time stamp (`ts_ns`, the shard's clock when it applied the input) to the
    /// write that put the tick on a subscriber's socket, per write carrying ticks (the oldest
    /// tick of the write), on the wall clock.
    pub tick_write: Arc<oddsmatch_engine::shard::metrics::LatencyHistogram>,
}

/// One shard as the publisher sees it.
#[derive(Debug)]
pub struct PublisherShard {
    /// Its market-data queue.
    pub market_data: crossbeam_channel::Receiver<MarketData>,
    /// Its request queue (snapshots, API key lookups).
    pub submitter: Submitter,
}

/// A running publisher; dropping it stops it.
pub struct Publisher {
    tcp_addr: Option<SocketAddr>,
    quic_addr: Option<SocketAddr>,
    /// The QUIC certificate's fingerprint in hexadecimal.
    fingerprint: Option<String>,
    stats: Arc<MdStats>,
    knobs: Arc<LiveKnobs>,
    stop: Arc<AtomicBool>,
    shutdown: Option<tokio::sync::watch::Sender<bool>>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("tcp", &self.tcp_addr)
            .field("quic", &self.quic_addr)
            .finish_non_exhaustive()
    }
}

/// The most session-writing threads ([`MarketDataConfig::threads`]).
pub const MAX_THREADS: usize = 256;

/// How often the hub looks at stale subscribers.
const HUB_TICK: Duration = Duration::from_millis(5);

impl Publisher {
    /// Binds the listeners and starts the publisher's threads. Returns once it listens; the
    /// first snapshots of the shards arrive shortly after (subscriptions before them are
    /// refused as unknown markets). `data_dir` keeps the generated QUIC certificate, when QUIC
    /// listens and no certificate is configured.
    pub fn start(
        config: MarketDataConfig,
        data_dir: &Path,
        shards: Vec<PublisherShard>,
    ) -> std::io::Result<Publisher> {
        if !(1..=MAX_THREADS).contains(&config.threads) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "market_data.threads is {}: from 1 to {MAX_THREADS}",
                    config.threads
                ),
            ));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads)
            .thread_name("md-publisher")
            .enable_all()
            .build()?;
        let stats = Arc::new(MdStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (hub_tx, mut hub_rx) = mpsc::channel::<HubMsg>(4_096);
        let submitters: Vec<Submitter> = shards.iter().map(|s| s.submitter.clone()).collect();
        let tcp = match config.listen_tcp {
            Some(addr) => {
                let listener = runtime.block_on(tokio::net::TcpListener::bind(addr))?;
                Some(listener)
            }
            None => None,
        };
        let tcp_addr = tcp.as_ref().map(|l| l.local_addr()).transpose()?;
        let (quic, fingerprint) = match config.listen_quic {
            Some(addr) => {
                let identity = quic::Identity::load(&config, data_dir)?;
                // quinn finds its runtime in the context it is created in.
                let endpoint = {
                    let _context = runtime.enter();
                    quic::bind(&config, &identity, addr)?
                };
                let fingerprint = quic::fingerprint_hex(&identity.fingerprint);
                tracing::info!(
                    addr = %endpoint.local_addr()?,
                    %fingerprint,
                    "market data over QUIC; subscribers pin this SHA-256 certificate fingerprint"
                );
                (Some(endpoint), Some(fingerprint))
            }
            None => (None, None),
        };
        let quic_addr = quic.as_ref().map(quinn::Endpoint::local_addr).transpose()?;
        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);

        // The bridge: shards' crossbeam queues into the hub's channel.
        let bridge = {
            let (hub_tx, stop) = (hub_tx.clone(), stop.clone());
            let receivers: Vec<_> = shards.into_iter().map(|s| s.market_data).collect();
            std::thread::Builder::new()
                .name("md-bridge".to_owned())
                .spawn(move || bridge(&receivers, &hub_tx, &stop))?
        };

        let mut hub = Hub::new(config.clone(), stats.clone(), submitters.clone());
        let knobs = hub.knobs.clone();
        let context = Arc::new(session::Context {
            config: config.clone(),
            knobs: knobs.clone(),
            stats: stats.clone(),
            hub: hub_tx,
            key_shard: submitters.first().cloned(),
            next_id: AtomicU64::new(1),
            shutdown: shutdown_rx,
        });
        let main = std::thread::Builder::new()
            .name("md-runtime".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    if let Some(listener) = tcp {
                        tokio::spawn(session::accept_tcp(listener, context.clone()));
                    }
                    let quic =
                        quic.map(|endpoint| tokio::spawn(quic::serve(endpoint, context.clone())));
                    let mut interval = tokio::time::interval(HUB_TICK);
                    let mut shutdown = context.shutdown.clone();
                    loop {
                        tokio::select! {
                            msg = hub_rx.recv() => match msg {
                                Some(msg) => hub.handle(msg),
                                None => break,
                            },
                            _ = interval.tick() => hub.tick(),
                            _ = shutdown.changed() => break,
                        }
                    }
                    drop(hub);
                    // Sessions ending now find the hub gone at once.
                    drop(hub_rx);
                    // QUIC sessions send END and their connections close before the runtime
                    // stops (a connection dropped unclosed leaves its peer to time out).
                    if let Some(quic) = quic {
                        let _ = quic.await;
                    }
                });
                runtime.shutdown_timeout(Duration::from_millis(500));
            })?;
        Ok(Publisher {
            tcp_addr,
            quic_addr,
            fingerprint,
            stats,
            knobs,
            stop,
            shutdown: Some(shutdown_tx),
            threads: vec![bridge, main],
        })
    }

    /// Where TCP subscribers connect.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// Where QUIC subscribers connect.
    pub fn quic_addr(&self) -> Option<SocketAddr> {
        self.quic_addr
    }

    /// The SHA-256 fingerprint of the QUIC certificate (of its DER encoding) in lower-case
    /// hexadecimal, for subscribers to pin ([`quic::parse_fingerprint`] reads it back).
    pub fn certificate_fingerprint(&self) -> Option<&str> {
        self.fingerprint.as_deref()
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<MdStats> {
        &self.stats
    }

    /// The knobs an operator may change while the publisher runs.
    pub fn knobs(&self) -> &Arc<LiveKnobs> {
        &self.knobs
    }

    /// Ends every session (`shutdown`) and stops.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Forwards every shard's market data to the hub, blocking when the hub is behind (the
/// shard's queue then fills and drops, which the hub repairs with a snapshot).
fn bridge(
    receivers: &[crossbeam_channel::Receiver<MarketData>],
    hub: &mpsc::Sender<HubMsg>,
    stop: &AtomicBool,
) {
    let mut select = crossbeam_channel::Select::new();
    for receiver in receivers {
        select.recv(receiver);
    }
    while !stop.load(Ordering::Acquire) {
        let Ok(op) = select.select_timeout(Duration::from_millis(50)) else {
            continue;
        };
        let index = op.index();
        match op.recv(&receivers[index]) {
            Ok(item) => {
                if hub.blocking_send(HubMsg::Shard(index, item)).is_err() {
                    return;
                }
            }
            Err(_) => {
                // That shard stopped; keep serving the others.
                select.remove(index);
            }
        }
    }
}
