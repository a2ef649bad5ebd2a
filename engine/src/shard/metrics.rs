//! Measuring a running node: the shard's counters, and the latency histograms that every stage
//! of a node (this shard loop, the gateway, the market-data publisher) records into.
//!
//! **Recording never makes its thread wait.** A stage is timed on the thread that owns it, into
//! a [`LatencyRecorder`] of its own (an HDR histogram, no allocation per value), which is merged
//! into the stage's shared [`LatencyHistogram`] at most every [`FLUSH_NS`] with a `try_lock`:
//! while a reader holds the lock the values simply wait for the next flush. Readers take a
//! [`LatencySummary`] from the shared histogram at any time.
//!
//! Times are [`clock_ns`], a monotonic clock with one anchor for the whole process, so that an
//! instant taken on one thread (a frame read by the gateway) can be compared with one taken on
//! another (the shard dequeuing it). None of this reaches the engine: its state and events
//! never see these clocks, and replays are unchanged by them.
//!
//! The shared histogram keeps totals since start (count, sum, max) and a sliding window of
//! [`WINDOW_SLOTS`] slots of [`SLOT_NS`] each, from which the quantiles are read: they describe
//! the last 50 to 60 seconds, not the whole life of the process.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::reason::RejectReason;

/// The largest latency a histogram tells apart (60 s, in ns); longer ones count as this.
pub const HIGHEST_NS: u64 = 60_000_000_000;
/// Significant decimal digits kept of each value: 2 keeps every value within 1% (a histogram
/// is then about 30 KiB).
const SIGNIFICANT_DIGITS: u8 = 2;
/// How often an owner thread merges its values into the shared histogram (100 ms).
pub const FLUSH_NS: u64 = 100_000_000;
/// An owner thread merges after this many values even before [`FLUSH_NS`].
const FLUSH_VALUES: u64 = 1 << 16;
/// Slots of the sliding window the quantiles are read from.
pub const WINDOW_SLOTS: u64 = 6;
/// The time one slot covers (10 s).
pub const SLOT_NS: u64 = 10_000_000_000;

/// Nanoseconds on a monotonic clock whose zero is the first call in the process; never 0, so
/// that 0 can mean "not measured".
pub fn clock_ns() -> u64 {
    static ANCHOR: OnceLock<Instant> = OnceLock::new();
    let anchor = ANCHOR.get_or_init(Instant::now);
    (anchor.elapsed().as_nanos() as u64).max(1)
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
        .expect("constant bounds are valid")
}

/// One stage's latencies as readers see them: totals since start and the sliding window.
pub struct LatencyHistogram {
    inner: Mutex<Shared>,
}

struct Shared {
    count: u64,
    sum_ns: u64,
    max_ns: u64,
    /// `slots[epoch % WINDOW_SLOTS]` holds the values merged during `epoch` (of `SLOT_NS`).
    slots: Vec<Histogram<u64>>,
    /// The epoch of the newest slot.
    epoch: u64,
    /// Where the window is added up for a summary (kept to avoid an allocation per read).
    scratch: Histogram<u64>,
}

impl Shared {
    /// Moves the window on to `now_ns`, emptying the slots that fell out of it.
    fn rotate(&mut self, now_ns: u64) {
        let epoch = now_ns / SLOT_NS;
        if epoch <= self.epoch {
            return;
        }
        let stale = (epoch - self.epoch).min(WINDOW_SLOTS);
        for step in 0..stale {
            let slot = (epoch - step) % WINDOW_SLOTS;
            self.slots[slot as usize].reset();
        }
        self.epoch = epoch;
    }

    fn current(&mut self) -> &mut Histogram<u64> {
        let slot = (self.epoch % WINDOW_SLOTS) as usize;
        &mut self.slots[slot]
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            inner: Mutex::new(Shared {
                count: 0,
                sum_ns: 0,
                max_ns: 0,
                slots: (0..WINDOW_SLOTS).map(|_| new_histogram()).collect(),
                epoch: clock_ns() / SLOT_NS,
                scratch: new_histogram(),
            }),
        }
    }
}

impl fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyHistogram").finish_non_exhaustive()
    }
}

impl LatencyHistogram {
    /// A new, empty histogram.
    pub fn new() -> Self {
        LatencyHistogram::default()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock leaves numbers, never a broken invariant.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records one value at once, under the lock: for stages recorded from many threads at a
    /// low rate (a few per operation that costs a system call anyway). Owner threads use a
    /// [`LatencyRecorder`] instead.
    pub fn record(&self, ns: u64) {
        let mut shared = self.lock();
        shared.rotate(clock_ns());
        shared.current().saturating_record(ns);
        shared.count += 1;
        shared.sum_ns = shared.sum_ns.saturating_add(ns);
        shared.max_ns = shared.max_ns.max(ns);
    }

    /// Merges a recorder's values; `wait`: take the lock even if a reader holds it. Returns
    /// whether the values were taken.
    fn absorb(&self, local: &LatencyRecorder, now_ns: u64, wait: bool) -> bool {
        let mut shared = match self.inner.try_lock() {
            Ok(shared) => shared,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) if wait => self.lock(),
            Err(TryLockError::WouldBlock) => return false,
        };
        shared.rotate(now_ns);
        // Same bounds on both sides: adding cannot fail.
        let _ = shared.current().add(&local.values);
        shared.count += local.count;
        shared.sum_ns = shared.sum_ns.saturating_add(local.sum_ns);
        shared.max_ns = shared.max_ns.max(local.max_ns);
        true
    }

    /// The totals since start and the window's quantiles, now.
    pub fn summary(&self) -> LatencySummary {
        let mut guard = self.lock();
        let shared = &mut *guard;
        shared.rotate(clock_ns());
        shared.scratch.reset();
        for slot in &shared.slots {
            let _ = shared.scratch.add(slot);
        }
        let window = &shared.scratch;
        let at = |quantile: f64| {
            if window.is_empty() {
                0
            } else {
                window.value_at_quantile(quantile)
            }
        };
        LatencySummary {
            count: shared.count,
            sum_ns: shared.sum_ns,
            max_ns: shared.max_ns,
            window_count: window.len(),
            p50_ns: at(0.5),
            p90_ns: at(0.9),
            p99_ns: at(0.99),
            p999_ns: at(0.999),
            window_max_ns: if window.is_empty() { 0 } else { window.max() },
        }
    }
}

/// What a stage's latencies add up to at one moment, in nanoseconds.
///
/// `count`, `sum_ns` and `max_ns` cover everything since the process started; the quantiles and
/// `window_max_ns` cover the sliding window (the last 50 to 60 s) and are 0 when it is empty.
/// Quantiles are exact to 1% (values are kept with two significant digits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Values recorded since start.
    pub count: u64,
    /// Their sum.
    pub sum_ns: u64,
    /// The largest of them (latencies above 60 s count as 60 s in the quantiles only).
    pub max_ns: u64,
    /// Values in the window.
    pub window_count: u64,
    /// The window's median.
    pub p50_ns: u64,
    /// The window's 90th percentile.
    pub p90_ns: u64,
    /// The window's 99th percentile.
    pub p99_ns: u64,
    /// The window's 99.9th percentile.
    pub p999_ns: u64,
    /// The largest value of the window.
    pub window_max_ns: u64,
}

/// The owner thread's side of a [`LatencyHistogram`]: records without locking or allocating,
/// and merges into the shared histogram when [`LatencyRecorder::flush_if_due`] finds it is
/// time. Whatever is left is merged when it is dropped.
pub struct LatencyRecorder {
    shared: Arc<LatencyHistogram>,
    values: Histogram<u64>,
    count: u64,
    sum_ns: u64,
    max_ns: u64,
    last_flush_ns: u64,
}

impl fmt::Debug for LatencyRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyRecorder")
            .field("pending", &self.count)
            .finish_non_exhaustive()
    }
}

impl LatencyRecorder {
    /// A recorder feeding `shared`.
    pub fn new(shared: Arc<LatencyHistogram>) -> Self {
        LatencyRecorder {
            shared,
            values: new_histogram(),
            count: 0,
            sum_ns: 0,
            max_ns: 0,
            last_flush_ns: clock_ns(),
        }
    }

    /// Records one latency.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.values.saturating_record(ns);
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Records the time from `since_ns` to `now_ns` ([`clock_ns`] readings); `since_ns == 0`
    /// means "not measured" and records nothing.
    #[inline]
    pub fn record_since(&mut self, since_ns: u64, now_ns: u64) {
        if since_ns != 0 {
            self.record(now_ns.saturating_sub(since_ns));
        }
    }

    /// Whether values wait to be merged.
    #[inline]
    pub fn pending(&self) -> bool {
        self.count > 0
    }

    /// Merges into the shared histogram if values wait and the last merge is [`FLUSH_NS`] old
    /// (or many values wait). Never waits: if a reader holds the shared histogram the values
    /// stay here for the next call.
    #[inline]
    pub fn flush_if_due(&mut self, now_ns: u64) {
        if self.count > 0
            && (now_ns.saturating_sub(self.last_flush_ns) >= FLUSH_NS || self.count >= FLUSH_VALUES)
        {
            self.flush(now_ns, false);
        }
    }

    fn flush(&mut self, now_ns: u64, wait: bool) {
        if self.shared.absorb(self, now_ns, wait) {
            self.values.reset();
            self.count = 0;
            self.sum_ns = 0;
            self.max_ns = 0;
            self.last_flush_ns = now_ns;
        }
    }
}

impl Drop for LatencyRecorder {
    fn drop(&mut self) {
        if self.count > 0 {
            self.flush(clock_ns(), true);
        }
    }
}

/// A shard's counters and stage latencies, shared with whoever watches the shard
/// ([`super::ShardHandle::stats`]). Counters count since the shard started.
#[derive(Debug)]
pub struct ShardStats {
    commands: AtomicU64,
    timers: AtomicU64,
    queries: AtomicU64,
    events: AtomicU64,
    batches: AtomicU64,
    journal_bytes: AtomicU64,
    /// One counter per [`RejectReason::ALL`] entry, in that order.
    rejects: Box<[AtomicU64]>,
    /// Queued by a [`super::Submitter`] to taken off the queue by the shard, per command.
    pub queue_wait: Arc<LatencyHistogram>,
    /// A batch's first request taken off the queue to its last input applied and appended to
    /// the journal (before the commit), per batch with inputs.
    pub apply: Arc<LatencyHistogram>,
    /// The journal commit of a batch under the durability policy (a flush to disk under
    /// `sync`), per batch with inputs.
    pub commit: Arc<LatencyHistogram>,
}

impl Default for ShardStats {
    fn default() -> Self {
        ShardStats {
            commands: AtomicU64::new(0),
            timers: AtomicU64::new(0),
            queries: AtomicU64::new(0),
            events: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            journal_bytes: AtomicU64::new(0),
            rejects: RejectReason::ALL
                .iter()
                .map(|_| AtomicU64::new(0))
                .collect(),
            queue_wait: Arc::default(),
            apply: Arc::default(),
            commit: Arc::default(),
        }
    }
}

impl ShardStats {
    /// Commands applied (requests from the queue; not the timers the shard injected).
    pub fn commands(&self) -> u64 {
        self.commands.load(Ordering::Relaxed)
    }

    /// `timer` inputs the shard injected and applied.
    pub fn timers(&self) -> u64 {
        self.timers.load(Ordering::Relaxed)
    }

    /// Queries answered (or dropped on a full answer queue).
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Events the engine produced.
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    /// Batches committed and published (batches of queries alone are not counted).
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Bytes appended to the journal (records with their headers and padding).
    pub fn journal_bytes(&self) -> u64 {
        self.journal_bytes.load(Ordering::Relaxed)
    }

    /// How many commands were rejected for each reason, zeros included, in
    /// [`RejectReason::ALL`]'s order.
    pub fn rejects(&self) -> Vec<(RejectReason, u64)> {
        RejectReason::ALL
            .iter()
            .zip(self.rejects.iter())
            .map(|(reason, count)| (*reason, count.load(Ordering::Relaxed)))
            .collect()
    }
}

/// The shard thread's side of its [`ShardStats`]: recorders and the counts of the batch under
/// way, published once per batch.
#[derive(Debug)]
pub(super) struct ShardMeter {
    stats: Arc<ShardStats>,
    queue_wait: LatencyRecorder,
    apply: LatencyRecorder,
    commit: LatencyRecorder,
    /// `reject_index[code]`: the position of the reason with that code in `RejectReason::ALL`.
    reject_index: Vec<u16>,
    commands: u64,
    timers: u64,
    journal_bytes: u64,
}

impl ShardMeter {
    pub(super) fn new(stats: Arc<ShardStats>) -> Self {
        let top = RejectReason::ALL
            .iter()
            .map(|r| r.code())
            .max()
            .unwrap_or(0);
        let mut reject_index = vec![u16::MAX; usize::from(top) + 1];
        for (index, reason) in RejectReason::ALL.iter().enumerate() {
            reject_index[usize::from(reason.code())] = index as u16;
        }
        ShardMeter {
            queue_wait: LatencyRecorder::new(stats.queue_wait.clone()),
            apply: LatencyRecorder::new(stats.apply.clone()),
            commit: LatencyRecorder::new(stats.commit.clone()),
            stats,
            reject_index,
            commands: 0,
            timers: 0,
            journal_bytes: 0,
        }
    }

    /// A command taken off the queue at `now_ns`, queued at `queued_ns` (0: unknown).
    #[inline]
    pub(super) fn dequeued(&mut self, queued_ns: u64, now_ns: u64) {
        self.queue_wait.record_since(queued_ns, now_ns);
    }

    /// One input applied and appended as a record of `record_bytes`.
    #[inline]
    pub(super) fn applied(&mut self, timer: bool, record_bytes: usize) {
        if timer {
            self.timers += 1;
        } else {
            self.commands += 1;
        }
        self.journal_bytes += record_bytes as u64;
    }

    /// A command was rejected.
    pub(super) fn rejected(&self, reason: RejectReason) {
        let index = self
            .reject_index
            .get(usize::from(reason.code()))
            .copied()
            .unwrap_or(u16::MAX);
        if let Some(counter) = self.stats.rejects.get(usize::from(index)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Queries answered after a batch.
    pub(super) fn queries(&self, count: usize) {
        if count > 0 {
            self.stats
                .queries
                .fetch_add(count as u64, Ordering::Relaxed);
        }
    }

    /// A batch with inputs was committed: started (first request taken) at `started_ns`,
    /// applied at `applied_ns`, committed (and about to be published) at `committed_ns`.
    pub(super) fn committed(
        &mut self,
        started_ns: u64,
        applied_ns: u64,
        committed_ns: u64,
        events: usize,
    ) {
        self.apply.record_since(started_ns, applied_ns);
        self.commit.record_since(applied_ns, committed_ns);
        let stats = &self.stats;
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.events.fetch_add(events as u64, Ordering::Relaxed);
        stats
            .commands
            .fetch_add(std::mem::take(&mut self.commands), Ordering::Relaxed);
        stats
            .timers
            .fetch_add(std::mem::take(&mut self.timers), Ordering::Relaxed);
        stats
            .journal_bytes
            .fetch_add(std::mem::take(&mut self.journal_bytes), Ordering::Relaxed);
        self.flush_if_due(committed_ns);
    }

    /// Merges the latencies into the shared histograms if it is time.
    #[inline]
    pub(super) fn flush_if_due(&mut self, now_ns: u64) {
        self.queue_wait.flush_if_due(now_ns);
        self.apply.flush_if_due(now_ns);
        self.commit.flush_if_due(now_ns);
    }

    /// For the idle loop: reads the clock only when something waits to be merged.
    #[inline]
    pub(super) fn idle(&mut self) {
        if self.queue_wait.pending() || self.apply.pending() || self.commit.pending() {
            self.flush_if_due(clock_ns());
        }
    }
}

/// What a watcher keeps of a running shard ([`super::ShardHandle::probe`]): its counters and
/// latencies, its journal watermarks, and its queues, whose depths it reads without taking
/// anything off them.
#[derive(Clone, Debug)]
pub struct ShardProbe {
    /// The shard's number.
    pub shard: u16,
    /// Journal positions and the drop counters.
    pub watermark: Arc<super::Watermark>,
    /// Counters and stage latencies.
    pub stats: Arc<ShardStats>,
    pub(super) submitter: super::Submitter,
    pub(super) acks: crossbeam_channel::Receiver<Arc<super::Batch>>,
    pub(super) market_data: crossbeam_channel::Receiver<super::MarketData>,
    pub(super) answers: crossbeam_channel::Receiver<super::Answer>,
}

/// How full a shard's queues are at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDepths {
    /// Requests (commands and queries) waiting for the shard.
    pub requests: usize,
    /// What the request queue holds at most (`queue_capacity`).
    pub requests_capacity: usize,
    /// Committed batches waiting for the gateway.
    pub acks: usize,
    /// What the acknowledgement queue holds at most (`acks_capacity`).
    pub acks_capacity: usize,
    /// Committed batches and snapshots waiting for the market-data publisher.
    pub market_data: usize,
    /// What the market-data queue holds at most (`market_data_capacity`).
    pub market_data_capacity: usize,
    /// Answers to queries waiting for the gateway.
    pub answers: usize,
    /// What the answer queue holds at most (`answers_capacity`).
    pub answers_capacity: usize,
}

impl ShardProbe {
    /// The queues' depths now.
    pub fn depths(&self) -> QueueDepths {
        let capacity = |c: Option<usize>| c.unwrap_or(usize::MAX);
        QueueDepths {
            requests: self.submitter.queue_depth(),
            requests_capacity: self.submitter.queue_capacity(),
            acks: self.acks.len(),
            acks_capacity: capacity(self.acks.capacity()),
            market_data: self.market_data.len(),
            market_data_capacity: capacity(self.market_data.capacity()),
            answers: self.answers.len(),
            answers_capacity: capacity(self.answers.capacity()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_reach_the_summary_when_flushed() {
        let shared = Arc::new(LatencyHistogram::new());
        let mut recorder = LatencyRecorder::new(shared.clone());
        for ns in 1..=1_000u64 {
            recorder.record(ns * 1_000);
        }
        assert_eq!(shared.summary().count, 0, "nothing merged before a flush");
        recorder.flush(clock_ns(), true);
        let summary = shared.summary();
        assert_eq!(summary.count, 1_000);
        assert_eq!(summary.window_count, 1_000);
        assert_eq!(summary.sum_ns, 500_500 * 1_000);
        assert_eq!(summary.max_ns, 1_000_000);
        // Two significant digits: within 1%.
        assert!(summary.p50_ns.abs_diff(500_000) <= 5_000, "{summary:?}");
        assert!(summary.p99_ns.abs_diff(990_000) <= 9_900, "{summary:?}");
        assert!(summary.window_max_ns.abs_diff(1_000_000) <= 10_000);
    }

    #[test]
    fn a_dropped_recorder_merges_what_it_holds() {
        let shared = Arc::new(LatencyHistogram::new());
        let mut recorder = LatencyRecorder::new(shared.clone());
        recorder.record_since(0, 10); // not measured
        recorder.record_since(5, 10);
        drop(recorder);
        let summary = shared.summary();
        assert_eq!((summary.count, summary.sum_ns), (1, 5));
    }

    #[test]
    fn the_window_forgets_old_slots_and_the_totals_do_not() {
        let shared = LatencyHistogram::new();
        shared.record(7);
        {
            let mut inner = shared.lock();
            let later = (inner.epoch + WINDOW_SLOTS) * SLOT_NS;
            inner.rotate(later);
        }
        // `summary` rotates to the real clock, which is behind the window now: a no-op.
        let summary = shared.summary();
        assert_eq!(summary.count, 1);
        assert_eq!(summary.window_count, 0);
        assert_eq!(summary.p99_ns, 0);
    }

    #[test]
    fn a_busy_reader_never_blocks_the_owner() {
        let shared = Arc::new(LatencyHistogram::new());
        let mut recorder = LatencyRecorder::new(shared.clone());
        recorder.record(3);
        let guard = shared.lock();
        recorder.flush_if_due(clock_ns() + FLUSH_NS);
        assert!(
            recorder.pending(),
            "kept for later while the reader holds the lock"
        );
        drop(guard);
        recorder.flush_if_due(clock_ns() + 2 * FLUSH_NS);
        assert!(!recorder.pending());
        assert_eq!(shared.summary().count, 1);
    }

    #[test]
    fn rejects_are_counted_by_reason() {
        let stats = Arc::new(ShardStats::default());
        let meter = ShardMeter::new(stats.clone());
        meter.rejected(RejectReason::InsufficientFunds);
        meter.rejected(RejectReason::InsufficientFunds);
        meter.rejected(RejectReason::AccountCapacity);
        let counted: Vec<_> = stats
            .rejects()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
        assert_eq!(
            counted,
            vec![
                (RejectReason::InsufficientFunds, 2),
                (RejectReason::AccountCapacity, 1)
            ]
        );
    }
}
