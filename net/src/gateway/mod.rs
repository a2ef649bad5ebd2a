//! The order-entry gateway: one mio thread that owns every client connection.
//!
//! ```text
//!  clients ──TCP──▶ read, split frames, decode, validate, throttle ──▶ shard queues
//!     ▲                                                                   │ commit
//!     └── outbound buffers ◀── reports per account ◀── acks, answers ◀────┘
//! ```
//!
//! The gateway decodes and checks every frame completely before anything reaches a shard
//! (length, type, version, reserved bytes, enum ranges, known market, ladder odds, positive
//! stakes, role), charges the account's token buckets, and routes the request to the shard
//! that owns its market. It learns the outcome only from the shard's published batches, which
//! leave the shard after the journal holds them, and turns the events into execution reports
//! for every session of the accounts concerned. Replays of older reports are read from the
//! journal on a worker thread, so a long replay never stalls other sessions.
//!
//! While requests are in flight the thread polls without sleeping for `spin_us`, since the
//! answer is microseconds away; otherwise it sleeps in `epoll` and the shards wake it through
//! [`Doorbell`] when they publish.

mod core;
mod directory;
mod replay;
mod reports;
mod session;
mod throttle;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;
use mio::net::TcpListener;
use mio::{Poll, Token, Waker};
use oddsmatch_engine::shard::metrics::LatencyHistogram;
use oddsmatch_engine::shard::{Answer, Batch, Notify, ShardHandle, Submitter};
use serde::{Deserialize, Serialize};

pub use throttle::{ThrottleConfig, TierLimits};

/// The gateway's knobs (documented in `tuning.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Where to listen for order entry.
    pub listen: SocketAddr,
    /// Connections held at once; the next one is told `server_full` and closed.
    pub max_connections: usize,
    /// The largest frame accepted, header included.
    pub max_frame: usize,
    /// Time from connecting to a completed login.
    pub login_timeout_ms: u64,
    /// Heartbeat interval for sessions that do not ask for one.
    pub heartbeat_ms: u32,
    /// A session is ended when nothing arrives for this many heartbeat intervals.
    pub heartbeat_misses: u32,
    /// Bytes waiting to be sent to one client before it is cut off as a slow consumer.
    pub max_outbound_bytes: usize,
    /// Recent reports kept in memory per account and shard for replays.
    pub replay_memory: usize,
    /// How long to poll without sleeping while requests are in flight, in microseconds.
    pub spin_us: u64,
    /// Per-tier request limits.
    pub throttle: ThrottleConfig,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7700)),
            max_connections: 10_000,
            max_frame: crate::proto::DEFAULT_MAX_FRAME,
            login_timeout_ms: 5_000,
            heartbeat_ms: 1_000,
            heartbeat_misses: 3,
            max_outbound_bytes: 4 << 20,
            replay_memory: 1_024,
            spin_us: 250,
            throttle: ThrottleConfig::default(),
        }
    }
}

/// What the gateway needs of one shard.
#[derive(Clone, Debug)]
pub struct ShardLink {
    /// The shard's number.
    pub shard: u16,
    /// Its request queue.
    pub submitter: Submitter,
    /// Its committed batches.
    pub acks: Receiver<Arc<Batch>>,
    /// Answers to reads.
    pub answers: Receiver<Answer>,
    /// Its journal directory, read for replays.
    pub journal_dir: PathBuf,
    /// The last record whose acknowledgements someone else consumed before the gateway
    /// started reading (every later one reaches the gateway).
    pub start_seq: u64,
}

impl ShardLink {
    /// The link to a running shard whose journal lives in `journal_dir`. Call it when nobody
    /// else reads the shard's acknowledgements any more.
    pub fn new(shard: u16, handle: &ShardHandle, journal_dir: PathBuf) -> Self {
        ShardLink {
            shard,
            submitter: handle.submitter(),
            acks: handle.acks().clone(),
            answers: handle.answers().clone(),
            journal_dir,
            start_seq: handle.watermark().journaled(),
        }
    }
}

/// Wakes the gateway from `epoll` when a shard publishes, only if it is asleep (so a busy
/// gateway costs the shard no system call).
#[derive(Debug)]
pub struct Doorbell {
    sleeping: AtomicBool,
    waker: Arc<Waker>,
}

impl Notify for Doorbell {
    fn notify(&self) {
        if self.sleeping.swap(false, Ordering::SeqCst) {
            // A failed wake leaves the gateway to its timer; nothing else can be done here.
            let _ = self.waker.wake();
        }
    }
}

/// Counters the gateway keeps (read them at any time).
#[derive(Debug, Default)]
pub struct GatewayStats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Sessions currently logged in.
    pub sessions: AtomicU64,
    /// Logins accepted.
    pub logins: AtomicU64,
    /// Logins refused.
    pub login_failures: AtomicU64,
    /// Requests sent to shards.
    pub requests: AtomicU64,
    /// Requests refused by the gateway itself (bad frames, validation).
    pub rejected: AtomicU64,
    /// Those refusals by reason code (rare: a lock per refusal is fine).
    pub rejects: parking_lot::Mutex<std::collections::BTreeMap<u16, u64>>,
    /// Requests refused by a throttle.
    pub throttled: AtomicU64,
    /// Requests refused because a shard queue was full.
    pub busy: AtomicU64,
    /// Reports sent (live and replayed).
    pub reports: AtomicU64,
    /// Sessions cut off as slow consumers.
    pub slow_consumers: AtomicU64,
    /// Dead man's switches that fired.
    pub dead_man_fired: AtomicU64,
    /// The gateway's stage latencies.
    pub latency: GatewayLatency,
}

/// The latencies of the gateway's stages (`docs/metrics.md` draws their boundaries), recorded
/// on the gateway thread and merged here every 100 ms.
#[derive(Debug, Default)]
pub struct GatewayLatency {
    /// A read from a client's socket to the command of a frame it brought handed to the
    /// shard's queue: decoding, validation, throttle and routing. One value per command queued.
    pub decode: Arc<LatencyHistogram>,
    /// A batch published by the shard (after its commit) to the write that put the last report
    /// (or `request_done`) of one of its commands on the requester's socket. One value per
    /// command answered to a connected session.
    pub ack: Arc<LatencyHistogram>,
    /// The read that brought a command's frame to the write of its last report: everything
    /// the node does for a request. One value per command answered to a connected session.
    pub round_trip: Arc<LatencyHistogram>,
}

impl GatewayStats {
    /// Counts a request the gateway refused itself with the reason `code`.
    pub(crate) fn count_reject(&self, code: u16) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        *self.rejects.lock().entry(code).or_insert(0) += 1;
    }
}

pub(crate) const LISTENER: Token = Token(usize::MAX - 1);
pub(crate) const WAKER: Token = Token(usize::MAX - 2);

/// A gateway bound to its port, not yet running: hand [`Gateway::notifier`] to the shards'
/// configuration, start them, then [`Gateway::start`].
#[derive(Debug)]
pub struct Gateway {
    poll: Poll,
    listener: TcpListener,
    doorbell: Arc<Doorbell>,
    config: GatewayConfig,
    local_addr: SocketAddr,
}

impl Gateway {
    /// Binds the listening socket.
    pub fn bind(config: GatewayConfig) -> io::Result<Gateway> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(config.listen)?;
        poll.registry()
            .register(&mut listener, LISTENER, mio::Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let local_addr = listener.local_addr()?;
        Ok(Gateway {
            poll,
            listener,
            doorbell: Arc::new(Doorbell {
                sleeping: AtomicBool::new(false),
                waker,
            }),
            config,
            local_addr,
        })
    }

    /// The address it listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The hook the shards call when they publish (`ShardConfig::notify`).
    pub fn notifier(&self) -> Arc<dyn Notify> {
        self.doorbell.clone()
    }

    /// Learns the markets from the shards and starts serving on a thread of its own.
    pub fn start(self, shards: Vec<ShardLink>) -> io::Result<GatewayHandle> {
        let control = Arc::new(Control::default());
        let stats = Arc::new(GatewayStats::default());
        let doorbell = self.doorbell.clone();
        let mut core = core::Core::new(self, shards, control.clone(), stats.clone())?;
        let thread = std::thread::Builder::new()
            .name("oddsmatch-gateway".into())
            .spawn(move || core.run())?;
        Ok(GatewayHandle {
            thread: Some(thread),
            control,
            stats,
            doorbell,
        })
    }
}

/// Requests from outside to the gateway thread.
#[derive(Debug, Default)]
pub(crate) struct Control {
    pub(crate) stop: AtomicBool,
}

/// What the gateway did on its way out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GatewayReport {
    /// Sessions that were open when it stopped.
    pub sessions_closed: usize,
    /// Requests still unanswered by a shard when the drain deadline passed.
    pub unanswered: u64,
}

/// The running gateway.
#[derive(Debug)]
pub struct GatewayHandle {
    thread: Option<JoinHandle<GatewayReport>>,
    control: Arc<Control>,
    stats: Arc<GatewayStats>,
    doorbell: Arc<Doorbell>,
}

impl GatewayHandle {
    /// Its counters.
    pub fn stats(&self) -> &Arc<GatewayStats> {
        &self.stats
    }

    /// Stops accepting, cancels the orders of cancel-on-disconnect sessions, waits (up to a
    /// few seconds) for the answers to requests already sent to shards and delivers them,
    /// tells every client the session ends, and stops. The shards keep running: stop them
    /// afterwards.
    pub fn shutdown(mut self) -> GatewayReport {
        self.stop()
    }

    fn stop(&mut self) -> GatewayReport {
        self.control.stop.store(true, Ordering::SeqCst);
        let _ = self.doorbell.waker.wake();
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or_default(),
            None => GatewayReport::default(),
        }
    }
}

impl Drop for GatewayHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop();
        }
    }
}

/// How long the gateway waits at shutdown for shards to answer what was sent to them.
pub(crate) const DRAIN_DEADLINE: Duration = Duration::from_secs(3);
