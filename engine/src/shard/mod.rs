//! The shard loop: one thread that owns an [`Engine`] and its journal. This module is the only
//! part of the engine crate that does I/O (threads, clocks, files through the journal).
//!
//! ```text
//!  Submitter::submit ──bounded queue──▶ shard thread ──▶ acks (Arc<Batch>, every outcome)
//!  Submitter::query     (commands and   │ drain a batch         market data (Arc<Batch>, dropped
//!  (full: Busy at once)  queries, in    │ stamp ts, apply        and counted when full)
//!                        order)         │ append input+events    answers (Answer per query,
//!                                       │ commit per policy        dropped and counted when full)
//!                                       ▼ publish, then answer   Watermark (journaled, durable)
//!                                         then Notify::notify
//! ```
//!
//! For each batch the loop drains up to `batch_max` requests, stamps each command with the
//! shard's clock (never going backwards), applies it, appends the input with the events it
//! produced as one journal record, commits the batch under the durability policy and only then
//! publishes: nobody hears of an event that is not in the journal (and, under `sync`, on disk).
//!
//! Queries ride the same queue, so a query sees every command queued before it. They are not
//! inputs and are never journaled: the queries of a batch are answered from the state after
//! the batch, once it is committed and published (a batch of queries alone is answered at
//! once, with no commit). Answers go to their own bounded queue; when it is full an answer is
//! dropped and counted, and the shard goes on. After publishing a batch and sending its answers
//! the shard calls the configured [`Notify`] once, so that a consumer may sleep between
//! batches instead of polling.
//!
//! Between requests the loop injects a `timer` input when the engine has something due (timed
//! locks, in-play delays, tick heartbeats, vote windows), checking every `timer_interval`.
//! When idle it spins, yields or parks according to [`IdleStrategy`].
//!
//! The loop measures itself without slowing down: counters of commands, events, batches,
//! rejects by reason and journal bytes, and the latencies of its stages (queue wait, apply,
//! commit) recorded on its own thread and merged for readers every 100 ms ([`metrics`],
//! [`ShardHandle::stats`]). Those clocks never reach the engine.
//!
//! Startup recovers the newest valid snapshot and replays the journal after it, checking the
//! re-produced events against the recorded ones; a new journal starts with a genesis snapshot
//! of the empty engine at sequence 0, which records the engine's configuration. Shutdown drains
//! the queue, commits, flushes and writes a snapshot.

#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod assign;
pub mod metrics;
mod recorder;
mod replay;
mod snapshots;

pub use assign::{ShardMap, market_of};
pub use metrics::{ShardProbe, ShardStats};
pub use recorder::Recorder;
pub use replay::{ReplayError, ReplayOptions, Replayed, Start, replay, replay_with};

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use crossbeam_utils::Backoff;
use oddsmatch_journal::{Journal, JournalConfig, JournalError, Recovery, SnapshotStore};

use metrics::{ShardMeter, clock_ns};
use snapshots::{SnapshotWriter, Written};

use crate::book::LadderBook;
use crate::command::{Command, Input};
use crate::config::EngineConfig;
use crate::engine::{Engine, MarketOdds};
use crate::event::Event;
use crate::query::{Query, Reply};
use crate::record::{RECORD_INPUT, RecordCodec};

/// The tag of outcomes of `timer` inputs the shard injected itself.
pub const TAG_TIMER: u64 = u64::MAX;

/// What the shard does when its queue is empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleStrategy {
    /// Poll the queue without pause: the lowest latency, a whole core burnt.
    Spin,
    /// Poll, giving the core away between polls: low latency while other threads can run.
    Yield,
    /// Spin briefly, then yield, then sleep on the queue for at most `max` (woken at once by
    /// a new request): no CPU when idle, a wake-up (a few microseconds) on the first request.
    Park {
        /// The longest sleep; timers and interval flushes are checked at least this often.
        max: Duration,
    },
}

impl Default for IdleStrategy {
    fn default() -> Self {
        IdleStrategy::Park {
            max: Duration::from_millis(1),
        }
    }
}

impl fmt::Display for IdleStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdleStrategy::Spin => f.write_str("spin"),
            IdleStrategy::Yield => f.write_str("yield"),
            IdleStrategy::Park { max } => write!(f, "park:{}us", max.as_micros()),
        }
    }
}

impl FromStr for IdleStrategy {
    type Err = String;

    /// `spin`, `yield`, `park` (1 ms) or `park:N{us,ms}`.
    fn from_str(text: &str) -> Result<Self, String> {
        let park = |max| IdleStrategy::Park { max };
        match text {
            "spin" => Ok(IdleStrategy::Spin),
            "yield" => Ok(IdleStrategy::Yield),
            "park" => Ok(IdleStrategy::default()),
            _ => {
                let duration = text
                    .strip_prefix("park:")
                    .and_then(parse_duration)
                    .filter(|d| !d.is_zero() && *d <= Duration::from_secs(1));
                duration.map(park).ok_or_else(|| {
                    format!(
                        "unknown idle strategy {text:?}: expected spin, yield, park or \
                         park:<1us..1000ms> (e.g. park:500us)"
                    )
                })
            }
        }
    }
}

/// Parses `250us` or `5ms`.
fn parse_duration(text: &str) -> Option<Duration> {
    if let Some(n) = text.strip_suffix("us") {
        n.parse().ok().map(Duration::from_micros)
    } else if let Some(n) = text.strip_suffix("ms") {
        n.parse().ok().map(Duration::from_millis)
    } else {
        None
    }
}

/// Where a shard's timestamps come from. Timestamps never go backwards: the shard stamps each
/// input with the later of the clock and the previous input's time.
pub trait Clock: Send + 'static {
    /// Nanoseconds since the Unix epoch.
    fn now_ns(&mut self) -> u64;
}

/// The system's real-time clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&mut self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }
}

/// A clock a test sets by hand (shared: clones read the same time).
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock reading `ns`.
    pub fn new(ns: u64) -> Self {
        ManualClock(Arc::new(AtomicU64::new(ns)))
    }

    /// Sets the time.
    pub fn set(&self, ns: u64) {
        self.0.store(ns, Ordering::Release);
    }
}

impl Clock for ManualClock {
    fn now_ns(&mut self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// The knobs of one shard (documented in `tuning.md`).
#[derive(Clone, Debug)]
pub struct ShardConfig {
    /// This shard's number (named in logs and errors).
    pub shard: u16,
    /// Its journal: directory, segment size, durability policy.
    pub journal: JournalConfig,
    /// The engine's configuration for a new journal. A recovered shard keeps the one its
    /// journal recorded (the replayed state depends on it).
    pub engine: EngineConfig,
    /// Requests the queue holds; a full queue answers `Busy` at once.
    pub queue_capacity: usize,
    /// The most requests applied and committed as one batch.
    pub batch_max: usize,
    /// What the loop does when the queue is empty.
    pub idle: IdleStrategy,
    /// How often the loop checks whether the engine has something due.
    pub timer_interval: Duration,
    /// Write a snapshot after this many records (0: only at shutdown).
    pub snapshot_every: u64,
    /// Snapshots kept on disk; the journal is kept from the oldest of them on.
    pub snapshots_kept: usize,
    /// Batches the acknowledgement queue holds; when it is full the shard waits for its reader.
    pub acks_capacity: usize,
    /// Batches the market-data queue holds; when it is full a batch is dropped and counted.
    pub market_data_capacity: usize,
    /// Checkpoints of the journal's readers (persist): each holds the last sequence number
    /// that reader has consumed, and journal segments after it are kept.
    pub reader_checkpoints: Vec<Arc<AtomicU64>>,
    /// Answers to queries the answer queue holds; when it is full an answer is dropped and
    /// counted ([`Watermark::answers_dropped`]).
    pub answers_capacity: usize,
    /// Called by the shard thread after it published a batch and sent its answers (once per
    /// batch), so that their reader can sleep until there is something to read.
    pub notify: Option<Arc<dyn Notify>>,
}

/// A wake-up hook: the shard calls [`Notify::notify`] on its own thread once per batch, after
/// publishing the batch's acknowledgements and sending its answers. It must return quickly and
/// never block (setting a flag, writing to an eventfd or a `mio::Waker` are the intended
/// uses): the shard waits for it.
pub trait Notify: Send + Sync + fmt::Debug {
    /// Something new is on the acknowledgement or answer queue.
    fn notify(&self);
}

impl ShardConfig {
    /// The defaults, with the journal in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ShardConfig {
            shard: 0,
            journal: JournalConfig::new(dir),
            engine: EngineConfig::default(),
            queue_capacity: 65_536,
            batch_max: 1_024,
            idle: IdleStrategy::default(),
            timer_interval: Duration::from_millis(1),
            snapshot_every: 10_000_000,
            snapshots_kept: 2,
            acks_capacity: 4_096,
            market_data_capacity: 4_096,
            reader_checkpoints: Vec::new(),
            answers_capacity: 4_096,
            notify: None,
        }
    }
}

/// One request to a shard: a command, with a tag the caller uses to route the answer.
#[derive(Clone, Debug)]
pub struct Request {
    /// The caller's own correlation (a session, a connection); [`TAG_TIMER`] is reserved.
    pub tag: u64,
    /// What to do.
    pub command: Command,
}

/// What the shard's queue carries: commands and queries, in the order they were queued.
#[derive(Debug)]
enum Queued {
    /// A command, to apply and journal, with when it was queued ([`clock_ns`]; 0: unknown).
    Command(Request, u64),
    /// A market-data snapshot, sent on the market-data queue after the batch it was taken
    /// in.
    MarketSnapshot,
    /// A command whose committed batch also goes to `reply` (an operator's tool waiting for
    /// its own outcome).
    CommandTo(Request, u64, Sender<Arc<Batch>>),
    /// A snapshot of the engine, taken after the batch it arrived in (or, while one is being
    /// written, after that one); its sequence number goes to `reply`.
    Snapshot(Sender<u64>),
    /// A query, answered after the batch it was taken in.
    Query {
        /// The caller's correlation, returned with the answer.
        tag: u64,
        /// The question.
        query: Query,
        /// Where the answer goes (`None`: [`ShardHandle::answers`]).
        reply: Option<Sender<Answer>>,
    },
}

/// What the market-data queue carries, in the order the shard produced it.
#[derive(Clone, Debug)]
pub enum MarketData {
    /// A committed batch (the same one the acknowledgement queue carries).
    Batch(Arc<Batch>),
    /// Every market's odds and depth, taken between batches when
    /// [`Submitter::request_market_snapshot`] asked: the batches before it on the queue led up
    /// to it, the ones after continue from it.
    Snapshot(Arc<MarketSnapshot>),
}

/// The odds state of every market of a shard at one point of its journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketSnapshot {
    /// The shard.
    pub shard: u16,
    /// The last input applied before it.
    pub seq: u64,
    /// That input's timestamp (ns since the epoch).
    pub ts_ns: u64,
    /// Every market, in the order they were created.
    pub markets: Vec<MarketOdds>,
}

/// The answer to one query, on [`ShardHandle::answers`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The shard that answered.
    pub shard: u16,
    /// The tag the query was submitted with.
    pub tag: u64,
    /// The reply, from the state after every command queued before the query.
    pub reply: Reply,
}

/// Why a request was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitError {
    /// The queue is full: try again later. Nothing was queued.
    Busy,
    /// The shard has stopped.
    Stopped,
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Busy => f.write_str("the shard is busy (its queue is full)"),
            SubmitError::Stopped => f.write_str("the shard has stopped"),
        }
    }
}

impl std::error::Error for SubmitError {}

/// Queues requests to a shard; cheap to clone, never blocks.
#[derive(Clone, Debug)]
pub struct Submitter {
    queue: Sender<Queued>,
}

impl Submitter {
    /// Queues a command, or says at once why not.
    pub fn submit(&self, tag: u64, command: Command) -> Result<(), SubmitError> {
        self.submit_at(tag, command, clock_ns())
    }

    /// [`Submitter::submit`] for a caller that has just read [`clock_ns`] (`queued_ns`), the
    /// start of the command's wait in the queue ([`ShardStats::queue_wait`]).
    pub fn submit_at(&self, tag: u64, command: Command, queued_ns: u64) -> Result<(), SubmitError> {
        self.send(Queued::Command(Request { tag, command }, queued_ns))
    }

    /// Like [`Submitter::submit`], and the committed batch holding the command's outcome is
    /// also sent to `reply` (find it by `tag`); it still goes to the acknowledgement queue as
    /// well. A full or closed `reply` drops it.
    pub fn submit_to(
        &self,
        tag: u64,
        command: Command,
        reply: Sender<Arc<Batch>>,
    ) -> Result<(), SubmitError> {
        self.send(Queued::CommandTo(
            Request { tag, command },
            clock_ns(),
            reply,
        ))
    }

    /// Asks for a snapshot of the engine now, behind the commands queued so far. The
    /// sequence number it is taken at goes to `reply` when it is handed to the snapshot
    /// writer; [`Watermark::snapshot_seq`] reaches it once the file is written.
    pub fn request_snapshot(&self, reply: Sender<u64>) -> Result<(), SubmitError> {
        self.send(Queued::Snapshot(reply))
    }

    /// Requests in the queue now.
    pub fn queue_depth(&self) -> usize {
        self.queue.len()
    }

    /// Requests the queue holds at most.
    pub fn queue_capacity(&self) -> usize {
        self.queue.capacity().unwrap_or(usize::MAX)
    }

    /// Queues a query behind the commands queued so far, or says at once why not. Its
    /// [`Answer`], carrying `tag`, arrives on [`ShardHandle::answers`] after the
    /// acknowledgements of those commands.
    pub fn query(&self, tag: u64, query: Query) -> Result<(), SubmitError> {
        self.send(Queued::Query {
            tag,
            query,
            reply: None,
        })
    }

    /// Like [`Submitter::query`], with the answer sent to `reply` instead (a second reader of
    /// the shard, such as the market-data publisher, with a queue of its own). A full or
    /// closed `reply` drops the answer.
    pub fn query_to(
        &self,
        tag: u64,
        query: Query,
        reply: Sender<Answer>,
    ) -> Result<(), SubmitError> {
        self.send(Queued::Query {
            tag,
            query,
            reply: Some(reply),
        })
    }

    /// Asks for a [`MarketData::Snapshot`] on the market-data queue, behind the commands
    /// queued so far: what a market-data publisher starts from, and resynchronises from when
    /// the queue was full and batches were dropped.
    pub fn request_market_snapshot(&self) -> Result<(), SubmitError> {
        self.send(Queued::MarketSnapshot)
    }

    fn send(&self, item: Queued) -> Result<(), SubmitError> {
        self.queue.try_send(item).map_err(|error| match error {
            TrySendError::Full(_) => SubmitError::Busy,
            TrySendError::Disconnected(_) => SubmitError::Stopped,
        })
    }
}

/// The result of one input: which request it answers and where its events are in the batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The request's tag ([`TAG_TIMER`] for an injected timer).
    pub tag: u64,
    /// The input's sequence number.
    pub seq: u64,
    /// The time it was stamped with.
    pub ts_ns: u64,
    /// Its events, as a range of [`Batch::events`].
    pub events: Range<u32>,
}

/// The inputs of one committed batch with their events, published after the commit.
#[derive(Debug, Default)]
pub struct Batch {
    /// The shard that produced it.
    pub shard: u16,
    /// One outcome per input, in sequence order.
    pub outcomes: Vec<Outcome>,
    /// The events of all of them, in order.
    pub events: Vec<Event>,
    /// Whether the batch was on disk when published (always under `sync`).
    pub durable: bool,
    /// When the shard published it: [`metrics::clock_ns`] after the commit. For measuring the
    /// stages after the shard; never part of the journal.
    pub published_ns: u64,
}

impl Batch {
    /// Each outcome with its events.
    pub fn iter(&self) -> impl Iterator<Item = (&Outcome, &[Event])> {
        self.outcomes.iter().map(|outcome| {
            let range = outcome.events.start as usize..outcome.events.end as usize;
            (outcome, &self.events[range])
        })
    }

    fn clear(&mut self) {
        self.outcomes.clear();
        self.events.clear();
        self.durable = false;
        self.published_ns = 0;
    }
}

/// Counters the shard keeps up to date for whoever watches it.
#[derive(Debug, Default)]
pub struct Watermark {
    journaled: AtomicU64,
    durable: AtomicU64,
    market_data_dropped: AtomicU64,
    answers_dropped: AtomicU64,
    snapshot_seq: AtomicU64,
}

impl Watermark {
    /// The last sequence number in the journal (visible to readers; survives a process crash).
    pub fn journaled(&self) -> u64 {
        self.journaled.load(Ordering::Acquire)
    }

    /// The last sequence number known to be on disk.
    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// Market-data batches dropped because that queue was full.
    pub fn market_data_dropped(&self) -> u64 {
        self.market_data_dropped.load(Ordering::Relaxed)
    }

    /// Answers to queries dropped because the answer queue was full.
    pub fn answers_dropped(&self) -> u64 {
        self.answers_dropped.load(Ordering::Relaxed)
    }

    /// The sequence number of the newest snapshot written.
    pub fn snapshot_seq(&self) -> u64 {
        self.snapshot_seq.load(Ordering::Acquire)
    }
}

/// What went wrong in a shard.
#[derive(Debug)]
pub enum ShardError {
    /// The journal or a snapshot could not be written or read.
    Journal(JournalError),
    /// Recovery could not rebuild the state.
    Replay(ReplayError),
    /// The thread could not be started, or it panicked.
    Thread(String),
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardError::Journal(error) => write!(f, "journal: {error}"),
            ShardError::Replay(error) => write!(f, "recovery: {error}"),
            ShardError::Thread(error) => write!(f, "shard thread: {error}"),
        }
    }
}

impl std::error::Error for ShardError {}

impl From<JournalError> for ShardError {
    fn from(error: JournalError) -> Self {
        ShardError::Journal(error)
    }
}

impl From<ReplayError> for ShardError {
    fn from(error: ReplayError) -> Self {
        ShardError::Replay(error)
    }
}

/// What a shard found and did when it started.
#[derive(Debug)]
pub struct StartReport {
    /// What opening the journal found (torn tail, repair).
    pub journal: Recovery,
    /// The snapshot the state was loaded from (`None`: a new journal).
    pub snapshot_seq: Option<u64>,
    /// Snapshots passed over, with why.
    pub skipped_snapshots: Vec<(PathBuf, String)>,
    /// Records replayed after the snapshot (their events checked against the recorded ones).
    pub replayed: u64,
    /// The sequence number the shard continues from.
    pub seq: u64,
    /// The state hash it continues from.
    pub state_hash: u64,
    /// Whether the configuration asked for differs from the journal's (which is kept).
    pub config_differs: bool,
    /// How long recovery took.
    pub elapsed: Duration,
}

/// How a shard ended.
#[derive(Debug)]
pub struct StopReport {
    /// The last sequence number applied and journaled.
    pub seq: u64,
    /// The state hash at the end.
    pub state_hash: u64,
    /// The snapshot written at shutdown.
    pub snapshot: Option<PathBuf>,
}

/// A running shard. Dropping it without [`ShardHandle::shutdown`] stops the thread too, but
/// without waiting for it.
pub struct ShardHandle {
    submitter: Submitter,
    acks: Receiver<Arc<Batch>>,
    market_data: Receiver<MarketData>,
    answers: Receiver<Answer>,
    watermark: Arc<Watermark>,
    stats: Arc<ShardStats>,
    shard: u16,
    stop: Arc<AtomicBool>,
    halt: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<StopReport, ShardError>>>,
    report: StartReport,
}

impl fmt::Debug for ShardHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardHandle")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl ShardHandle {
    /// Recovers the shard's state from its journal and starts its thread.
    pub fn start(config: ShardConfig) -> Result<ShardHandle, ShardError> {
        ShardHandle::start_with_clock(config, SystemClock)
    }

    /// [`ShardHandle::start`] with a given clock.
    pub fn start_with_clock<C: Clock>(
        config: ShardConfig,
        clock: C,
    ) -> Result<ShardHandle, ShardError> {
        let (engine, journal, report) = recover(&config)?;
        let (queue_tx, queue_rx) = crossbeam_channel::bounded(config.queue_capacity.max(1));
        let (acks_tx, acks_rx) = crossbeam_channel::bounded(config.acks_capacity.max(1));
        let (md_tx, md_rx) = crossbeam_channel::bounded(config.market_data_capacity.max(1));
        let (answers_tx, answers_rx) = crossbeam_channel::bounded(config.answers_capacity.max(1));
        let watermark = Arc::new(Watermark::default());
        watermark.journaled.store(engine.seq(), Ordering::Release);
        watermark
            .durable
            .store(journal.durable_seq(), Ordering::Release);
        watermark
            .snapshot_seq
            .store(report.snapshot_seq.unwrap_or(0), Ordering::Release);
        let stop = Arc::new(AtomicBool::new(false));
        let halt = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(ShardStats::default());
        let number = config.shard;
        let shard = ShardLoop {
            engine,
            journal,
            snapshots: SnapshotWriter::start(
                SnapshotStore::open(&config.journal.dir)?,
                config.snapshots_kept,
                config.shard,
            )
            .map_err(|error| ShardError::Thread(error.to_string()))?,
            codec: RecordCodec::new(),
            clock,
            queue: queue_rx,
            acks: acks_tx,
            market_data: md_tx,
            answers: answers_tx,
            queries: Vec::new(),
            snapshot_asked: false,
            replies: Vec::new(),
            snapshot_replies: Vec::new(),
            watermark: watermark.clone(),
            stop: stop.clone(),
            halt: halt.clone(),
            pool: Vec::new(),
            last_ts_ns: 0,
            since_snapshot: report.replayed,
            meter: ShardMeter::new(stats.clone()),
            config,
        };
        let thread = std::thread::Builder::new()
            .name(format!("shard-{}", shard.config.shard))
            .spawn(move || shard.run())
            .map_err(|error| ShardError::Thread(error.to_string()))?;
        Ok(ShardHandle {
            submitter: Submitter { queue: queue_tx },
            acks: acks_rx,
            market_data: md_rx,
            answers: answers_rx,
            watermark,
            stats,
            shard: number,
            stop,
            halt,
            thread: Some(thread),
            report,
        })
    }

    /// A handle for queueing requests.
    pub fn submitter(&self) -> Submitter {
        self.submitter.clone()
    }

    /// Queues a command ([`Submitter::submit`]).
    pub fn submit(&self, tag: u64, command: Command) -> Result<(), SubmitError> {
        self.submitter.submit(tag, command)
    }

    /// Queues a query ([`Submitter::query`]).
    pub fn query(&self, tag: u64, query: Query) -> Result<(), SubmitError> {
        self.submitter.query(tag, query)
    }

    /// Committed batches with every outcome, for the gateway. The shard waits when this queue
    /// is full, so its reader must keep up.
    pub fn acks(&self) -> &Receiver<Arc<Batch>> {
        &self.acks
    }

    /// See [`Submitter::request_market_snapshot`].
    pub fn request_market_snapshot(&self) -> Result<(), SubmitError> {
        self.submitter().request_market_snapshot()
    }

    /// Committed batches for market data; dropped (and counted) when this queue is full.
    pub fn market_data(&self) -> &Receiver<MarketData> {
        &self.market_data
    }

    /// Answers to queries, each after the acknowledgements of the commands queued before its
    /// query; dropped (and counted) when this queue is full.
    pub fn answers(&self) -> &Receiver<Answer> {
        &self.answers
    }

    /// The shard's journal watermarks and counters.
    pub fn watermark(&self) -> &Arc<Watermark> {
        &self.watermark
    }

    /// The shard's counters and stage latencies.
    pub fn stats(&self) -> &Arc<ShardStats> {
        &self.stats
    }

    /// Everything a watcher reads of the shard (counters, latencies, queue depths), detached
    /// from the handle so that another thread can keep it.
    pub fn probe(&self) -> ShardProbe {
        ShardProbe {
            shard: self.shard,
            watermark: self.watermark.clone(),
            stats: self.stats.clone(),
            submitter: self.submitter.clone(),
            acks: self.acks.clone(),
            market_data: self.market_data.clone(),
            answers: self.answers.clone(),
        }
    }

    /// What recovery found.
    pub fn start_report(&self) -> &StartReport {
        &self.report
    }

    /// Stops taking requests, applies and commits what is queued, flushes the journal, writes
    /// a snapshot and waits for the thread.
    pub fn shutdown(self) -> Result<StopReport, ShardError> {
        self.stop.store(true, Ordering::Release);
        self.join()
    }

    /// Stops the thread at once, as a crash would: nothing queued is applied, nothing is
    /// flushed, no snapshot is written. What the journal holds is what a process crash would
    /// leave (the page cache keeps it). For failure drills and tests of recovery.
    pub fn halt(self) {
        self.halt.store(true, Ordering::Release);
        // Whatever the thread reports, the point was to stop it.
        let _ = self.join();
    }

    fn join(mut self) -> Result<StopReport, ShardError> {
        let thread = self.thread.take().expect("the thread is joined only here");
        // Keep draining acks so that the shard never waits on a full queue while stopping.
        while !thread.is_finished() {
            while self.acks.try_recv().is_ok() {}
            std::thread::sleep(Duration::from_micros(200));
        }
        thread
            .join()
            .map_err(|_| ShardError::Thread("the shard thread panicked".to_string()))?
    }
}

impl Drop for ShardHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Opens the journal and rebuilds the state: the newest valid snapshot, then the records after
/// it with their events checked. A new journal gets a genesis snapshot of the empty engine.
fn recover(config: &ShardConfig) -> Result<(Engine<LadderBook>, Journal, StartReport), ShardError> {
    let started = Instant::now();
    let (journal, recovery) = Journal::open(config.journal.clone())?;
    let store = SnapshotStore::open(&config.journal.dir)?;
    let fresh = recovery.last_seq == 0 && store.list()?.is_empty();
    if fresh {
        // The seed only places client-chosen ids in the idempotency tables (it changes no
        // event and no state hash); drawn at random, clients cannot aim collisions at it.
        let mut engine_config = config.engine.clone();
        engine_config.hash_seed = random_seed();
        let engine = Engine::new(engine_config);
        store.write(0, &engine.snapshot())?;
        let report = StartReport {
            journal: recovery,
            snapshot_seq: None,
            skipped_snapshots: Vec::new(),
            replayed: 0,
            seq: 0,
            state_hash: engine.state_hash(),
            config_differs: false,
            elapsed: started.elapsed(),
        };
        return Ok((engine, journal, report));
    }
    let options = ReplayOptions {
        start: Start::Newest,
        to_seq: None,
        verify_events: true,
    };
    let replayed = replay(&config.journal.dir, options, &mut |_| {})?;
    let report = StartReport {
        journal: recovery,
        snapshot_seq: Some(replayed.snapshot_seq),
        skipped_snapshots: replayed.skipped_snapshots,
        replayed: replayed.records,
        seq: replayed.engine.seq(),
        state_hash: replayed.engine.state_hash(),
        config_differs: {
            let mut asked = config.engine.clone();
            asked.hash_seed = replayed.engine.config().hash_seed;
            replayed.engine.config() != &asked
        },
        elapsed: started.elapsed(),
    };
    Ok((replayed.engine, journal, report))
}

/// 64 random bits from the operating system's randomness (through the standard library's
/// randomly keyed hasher).
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(std::process::id().into());
    hasher.finish()
}

struct ShardLoop<C> {
    engine: Engine<LadderBook>,
    journal: Journal,
    snapshots: SnapshotWriter,
    codec: RecordCodec,
    clock: C,
    queue: Receiver<Queued>,
    acks: Sender<Arc<Batch>>,
    market_data: Sender<MarketData>,
    answers: Sender<Answer>,
    /// The queries of the batch being applied, answered after it (capacity reused).
    queries: Vec<(u64, Query, Option<Sender<Answer>>)>,
    /// A market-data snapshot was asked for in the batch being applied.
    snapshot_asked: bool,
    /// Where the batch being applied goes besides the acknowledgement queue.
    replies: Vec<Sender<Arc<Batch>>>,
    /// Callers waiting for an engine snapshot to be taken.
    snapshot_replies: Vec<Sender<u64>>,
    watermark: Arc<Watermark>,
    stop: Arc<AtomicBool>,
    halt: Arc<AtomicBool>,
    /// Batches handed out earlier; one whose readers are all done is reused.
    pool: Vec<Arc<Batch>>,
    last_ts_ns: u64,
    since_snapshot: u64,
    /// Counters and stage latencies (clocks outside the engine; see [`metrics`]).
    meter: ShardMeter,
    config: ShardConfig,
}

impl<C: Clock> ShardLoop<C> {
    fn run(mut self) -> Result<StopReport, ShardError> {
        let mut last_timer_check = Instant::now();
        let backoff = Backoff::new();
        loop {
            if self.halt.load(Ordering::Acquire) {
                return Ok(StopReport {
                    seq: self.engine.seq(),
                    state_hash: self.engine.state_hash(),
                    snapshot: None,
                });
            }
            let stopping = self.stop.load(Ordering::Acquire);
            let first = match self.queue.try_recv() {
                Ok(request) => Some(request),
                Err(TryRecvError::Empty) if stopping => break,
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => break,
            };
            let due = last_timer_check.elapsed() >= self.config.timer_interval;
            if first.is_none() && !due {
                self.journal.tick()?;
                self.meter.idle();
                self.snapshot_written()?;
                match self.idle(&backoff) {
                    Some(request) => self.batch(Some(request))?,
                    None => continue,
                }
            } else {
                self.batch(first)?;
            }
            backoff.reset();
            if due {
                last_timer_check = Instant::now();
            }
        }
        self.finish()
    }

    /// Waits for a request according to the idle strategy.
    fn idle(&mut self, backoff: &Backoff) -> Option<Queued> {
        match self.config.idle {
            IdleStrategy::Spin => {
                std::hint::spin_loop();
                None
            }
            IdleStrategy::Yield => {
                std::thread::yield_now();
                None
            }
            IdleStrategy::Park { max } => {
                if !backoff.is_completed() {
                    backoff.snooze();
                    return None;
                }
                let wait = max.min(self.config.timer_interval);
                // A timeout or a disconnected queue: back to the loop, which handles both.
                self.queue.recv_timeout(wait).ok()
            }
        }
    }

    /// Applies `first` and whatever else is queued (up to `batch_max`), plus a timer if
    /// something is due, commits, publishes, then answers the batch's queries.
    fn batch(&mut self, first: Option<Queued>) -> Result<(), ShardError> {
        let started_ns = clock_ns();
        let mut batch = self.take_batch();
        let target = Arc::get_mut(&mut batch).expect("a reclaimed batch has no other owner");
        target.shard = self.config.shard;
        debug_assert!(self.queries.is_empty());
        let mut next = first;
        let mut count = 0;
        while let Some(item) = next {
            match item {
                Queued::Command(request, queued_ns) => {
                    let now_ns = if count == 0 { started_ns } else { clock_ns() };
                    self.meter.dequeued(queued_ns, now_ns);
                    self.apply(request.tag, request.command, target)?;
                }
                Queued::Query { tag, query, reply } => self.queries.push((tag, query, reply)),
                Queued::MarketSnapshot => self.snapshot_asked = true,
                Queued::CommandTo(request, queued_ns, reply) => {
                    let now_ns = if count == 0 { started_ns } else { clock_ns() };
                    self.meter.dequeued(queued_ns, now_ns);
                    self.apply(request.tag, request.command, target)?;
                    self.replies.push(reply);
                }
                Queued::Snapshot(reply) => self.snapshot_replies.push(reply),
            }
            count += 1;
            next = if count < self.config.batch_max {
                self.queue.try_recv().ok()
            } else {
                None
            };
        }
        let now = self.now();
        if now >= self.engine.next_deadline_ns() {
            self.apply(TAG_TIMER, Command::Timer {}, target)?;
        }
        if target.outcomes.is_empty() {
            self.pool.push(batch);
            self.send_market_snapshot();
            // Nothing to commit: queries alone are answered at once.
            if self.answer_queries() {
                self.notify();
            }
            return self.take_asked_snapshot();
        }
        let applied_ns = clock_ns();
        self.journal.commit()?;
        let committed_ns = clock_ns();
        let seq = self.engine.seq();
        let durable = self.journal.durable_seq();
        target.durable = durable >= seq;
        target.published_ns = committed_ns;
        self.meter
            .committed(started_ns, applied_ns, committed_ns, target.events.len());
        self.watermark.journaled.store(seq, Ordering::Release);
        self.watermark.durable.store(durable, Ordering::Release);
        for reply in self.replies.drain(..) {
            let _ = reply.try_send(batch.clone());
        }
        self.publish(batch);
        self.send_market_snapshot();
        self.answer_queries();
        self.notify();
        self.snapshot_written()?;
        if self.config.snapshot_every > 0
            && self.since_snapshot >= self.config.snapshot_every
            && !self.snapshots.busy()
        {
            self.start_snapshot()?;
        }
        self.take_asked_snapshot()
    }

    fn now(&mut self) -> u64 {
        let now = self.clock.now_ns().max(self.last_ts_ns);
        self.last_ts_ns = now;
        now
    }

    /// Stamps, applies and journals one command.
    fn apply(&mut self, tag: u64, command: Command, batch: &mut Batch) -> Result<(), ShardError> {
        let input = Input {
            ts_ns: self.now(),
            command,
        };
        let start = batch.events.len();
        let seq = self.engine.apply(&input, &mut batch.events);
        for event in &batch.events[start..] {
            if let Event::Rejected { reason, .. } = event {
                self.meter.rejected(*reason);
            }
        }
        let payload = self.codec.encode(&input, &batch.events[start..]);
        self.meter.applied(
            tag == TAG_TIMER,
            oddsmatch_journal::format::record_bytes(payload.len()),
        );
        self.journal
            .append(seq, input.ts_ns, RECORD_INPUT, payload)?;
        batch.outcomes.push(Outcome {
            tag,
            seq,
            ts_ns: input.ts_ns,
            events: start as u32..batch.events.len() as u32,
        });
        self.since_snapshot += 1;
        Ok(())
    }

    /// A batch nobody else holds any more, or a new one.
    fn take_batch(&mut self) -> Arc<Batch> {
        if let Some(index) = self
            .pool
            .iter_mut()
            .position(|batch| Arc::get_mut(batch).is_some())
        {
            let mut batch = self.pool.swap_remove(index);
            Arc::get_mut(&mut batch)
                .expect("checked just above")
                .clear();
            return batch;
        }
        Arc::new(Batch::default())
    }

    /// Hands a committed batch to the acknowledgement and market-data queues.
    fn publish(&mut self, batch: Arc<Batch>) {
        self.send_market_data(MarketData::Batch(batch.clone()));
        let mut pending = batch.clone();
        loop {
            match self.acks.send_timeout(pending, Duration::from_millis(1)) {
                Ok(()) => break,
                Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => break,
                Err(crossbeam_channel::SendTimeoutError::Timeout(back)) => {
                    pending = back;
                    if self.halt.load(Ordering::Acquire)
                        || (self.stop.load(Ordering::Acquire) && self.queue.is_empty())
                    {
                        // Stopping and nobody reads the acks: do not hang on them.
                        break;
                    }
                }
            }
        }
        self.pool.push(batch);
    }

    /// Answers the queries taken in the batch from the state after it; returns whether there
    /// were any. A full answer queue drops the answer and counts it: the shard never waits
    /// for the reader of answers.
    /// Offers an item to the market-data queue; a full queue drops it and counts it (its
    /// reader resynchronises from a snapshot).
    fn send_market_data(&self, item: MarketData) {
        match self.market_data.try_send(item) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.watermark
                    .market_data_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Sends the market-data snapshot asked for in this batch, if one was.
    fn send_market_snapshot(&mut self) {
        if !std::mem::take(&mut self.snapshot_asked) {
            return;
        }
        let Reply::Markets(views) = self.engine.query(&Query::Markets) else {
            unreachable!("a markets query answers with markets");
        };
        let markets = views
            .iter()
            .filter_map(|view| self.engine.market_odds(view.market))
            .collect();
        self.send_market_data(MarketData::Snapshot(Arc::new(MarketSnapshot {
            shard: self.config.shard,
            seq: self.engine.seq(),
            ts_ns: self.engine.ts_ns(),
            markets,
        })));
    }

    fn answer_queries(&mut self) -> bool {
        if self.queries.is_empty() {
            return false;
        }
        self.meter.queries(self.queries.len());
        for (tag, query, reply) in self.queries.drain(..) {
            let answer = Answer {
                shard: self.config.shard,
                tag,
                reply: self.engine.query(&query),
            };
            match reply.as_ref().unwrap_or(&self.answers).try_send(answer) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(_)) => {
                    self.watermark
                        .answers_dropped
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        true
    }

    /// Wakes the consumer of acknowledgements and answers, if one asked to be woken.
    fn notify(&self) {
        if let Some(notify) = &self.config.notify {
            notify.notify();
        }
    }

    /// Serialises the current state and hands it to the snapshot writer thread.
    /// Starts the snapshot callers asked for, unless one is being written (then after it).
    fn take_asked_snapshot(&mut self) -> Result<(), ShardError> {
        if self.snapshot_replies.is_empty() || self.snapshots.busy() {
            return Ok(());
        }
        self.start_snapshot()?;
        let seq = self.engine.seq();
        for reply in self.snapshot_replies.drain(..) {
            let _ = reply.try_send(seq);
        }
        Ok(())
    }

    fn start_snapshot(&mut self) -> Result<(), ShardError> {
        // The snapshot must not claim a state whose records are not on disk.
        self.journal.flush()?;
        let seq = self.engine.seq();
        self.snapshots.submit(seq, self.engine.snapshot());
        self.since_snapshot = 0;
        Ok(())
    }

    /// Takes note of a snapshot the writer finished, if any, and lets the journal release
    /// the segments that neither a kept snapshot nor a reader still needs.
    fn snapshot_written(&mut self) -> Result<Option<PathBuf>, ShardError> {
        match self.snapshots.poll() {
            Some(written) => self.after_snapshot(written?).map(Some),
            None => Ok(None),
        }
    }

    fn after_snapshot(&mut self, written: Written) -> Result<PathBuf, ShardError> {
        self.watermark
            .snapshot_seq
            .store(written.seq, Ordering::Release);
        let needed = self
            .config
            .reader_checkpoints
            .iter()
            .map(|checkpoint| checkpoint.load(Ordering::Acquire))
            .fold(written.oldest_kept, u64::min);
        self.journal.release_before(needed + 1)?;
        Ok(written.path)
    }

    /// Shutdown: everything queued was applied; commit, flush and snapshot.
    fn finish(mut self) -> Result<StopReport, ShardError> {
        self.journal.commit()?;
        self.journal.flush()?;
        self.watermark
            .durable
            .store(self.journal.durable_seq(), Ordering::Release);
        let mut snapshot = None;
        if let Some(written) = self.snapshots.wait() {
            snapshot = Some(self.after_snapshot(written?)?);
        }
        if self.since_snapshot > 0 {
            self.start_snapshot()?;
            if let Some(written) = self.snapshots.wait() {
                snapshot = Some(self.after_snapshot(written?)?);
            }
        }
        Ok(StopReport {
            seq: self.engine.seq(),
            state_hash: self.engine.state_hash(),
            snapshot,
        })
    }
}
