//! What the subscribers measure and how their figures come together: one [`Watch`] per
//! subscriber and phase, shared histograms, a per-tick table of first and last arrivals, and
//! the sums ([`Tally`]) the controller turns into a result.
//!
//! A subscriber counts a market's ticks after the sequence number it started from (its
//! snapshot's, or 0 for the NATS reference), so that what it should have received is exactly
//! `end - start` per market, wherever its subscription landed between two ticks.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

/// Latency histograms are split this many ways so that subscribers on different threads
/// rarely wait for one another.
const HISTOGRAM_SHARDS: usize = 64;

/// The highest latency told apart, in ns: an hour. (hdrhistogram's saturating record clamps a
/// value beyond the histogram's range to its stated highest value, but keeps values between
/// that and the end of its last bucket as they are; recording only values within the stated
/// range keeps the percentiles in order.)
const LATENCY_MAX_NS: u64 = 3_600_000_000_000;

/// An empty histogram of latencies, 1 ns to [`LATENCY_MAX_NS`], three significant digits.
pub(super) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_NS, 3).expect("valid histogram bounds")
}

/// A latency as recorded: at least 1 ns, at most [`LATENCY_MAX_NS`].
fn clamp(latency_ns: u64) -> u64 {
    latency_ns.clamp(1, LATENCY_MAX_NS)
}

/// The wall clock in nanoseconds since the epoch (the clock the engine stamps ticks with).
pub(super) fn wall_clock_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// What every subscriber of one system shares with the controller.
pub(super) struct Shared {
    /// Subscriber tasks still running.
    pub(super) alive: AtomicUsize,
    /// Subscribers that took part in the current phase (subscribed).
    pub(super) joined: AtomicUsize,
    /// Of those, the ones that have their starting point on every market.
    pub(super) ready: AtomicUsize,
    /// Of those, the ones that have handed in their tally.
    pub(super) reported: AtomicUsize,
    /// Ticks received in the current phase, all subscribers (to see when delivery has
    /// stopped).
    pub(super) received: AtomicU64,
    histograms: Vec<Mutex<Histogram<u64>>>,
    tally: Mutex<Tally>,
    /// Why the server ended sessions (its `END` reasons), counted over the whole run.
    ended_by_server: Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Shared {
    pub(super) fn new() -> Arc<Shared> {
        Arc::new(Shared {
            alive: AtomicUsize::new(0),
            joined: AtomicUsize::new(0),
            ready: AtomicUsize::new(0),
            reported: AtomicUsize::new(0),
            received: AtomicU64::new(0),
            histograms: (0..HISTOGRAM_SHARDS)
                .map(|_| Mutex::new(new_histogram()))
                .collect(),
            tally: Mutex::new(Tally::default()),
            ended_by_server: Mutex::new(std::collections::BTreeMap::new()),
        })
    }

    /// The server ended a session for `reason`.
    pub(super) fn ended_by_server(&self, reason: String) {
        *self
            .ended_by_server
            .lock()
            .expect("not poisoned")
            .entry(reason)
            .or_insert(0) += 1;
    }

    /// The reasons the server ended sessions for so far, and how often; cleared.
    pub(super) fn take_end_reasons(&self) -> Vec<(String, u64)> {
        std::mem::take(&mut *self.ended_by_server.lock().expect("not poisoned"))
            .into_iter()
            .collect()
    }

    /// Clears the counters of a phase before it starts.
    pub(super) fn reset_phase(&self) {
        self.joined.store(0, Ordering::SeqCst);
        self.ready.store(0, Ordering::SeqCst);
        self.reported.store(0, Ordering::SeqCst);
        self.received.store(0, Ordering::SeqCst);
        for histogram in &self.histograms {
            histogram.lock().expect("not poisoned").reset();
        }
        *self.tally.lock().expect("not poisoned") = Tally::default();
    }

    /// Every subscriber's latencies of the phase, merged, and the sum of their tallies.
    pub(super) fn take_phase(&self) -> (Histogram<u64>, Tally) {
        let mut merged = new_histogram();
        for histogram in &self.histograms {
            merged
                .add(&*histogram.lock().expect("not poisoned"))
                .expect("same bounds");
        }
        let tally = std::mem::take(&mut *self.tally.lock().expect("not poisoned"));
        (merged, tally)
    }

    fn record(&self, shard: usize, latencies_ns: &[u64]) {
        if latencies_ns.is_empty() {
            return;
        }
        let mut histogram = self.histograms[shard % HISTOGRAM_SHARDS]
            .lock()
            .expect("not poisoned");
        for &latency in latencies_ns {
            histogram.saturating_record(clamp(latency));
        }
    }

    fn hand_in(&self, tally: &Tally) {
        self.tally.lock().expect("not poisoned").add(tally);
        self.reported.fetch_add(1, Ordering::SeqCst);
    }
}

/// The earliest and latest arrival of each tick of a phase, over all subscribers: the earliest
/// is the pipeline's own latency (engine to the first socket read), the latest adds the spread
/// of the fan-out.
pub(super) struct TickTable {
    capacity: usize,
    /// Per market, the sequence number before the first tick tracked (`u64::MAX`: not known
    /// yet, nothing is tracked).
    start: Vec<AtomicU64>,
    first_ns: Vec<AtomicU64>,
    last_ns: Vec<AtomicU64>,
    /// Per market: subscribers with a starting point so far, and the sum of their starting
    /// sequence numbers (what the tallies will say, known while the phase runs).
    started: Vec<(AtomicU64, AtomicU64)>,
    /// Per market, the last tick of the measurement (`u64::MAX`: not known yet); a later one
    /// (a heartbeat tick after the market fell quiet) is not counted.
    end: Vec<AtomicU64>,
}

impl TickTable {
    /// Room for `capacity` ticks of each of `markets` markets.
    pub(super) fn new(markets: usize, capacity: usize) -> TickTable {
        TickTable {
            capacity,
            start: (0..markets).map(|_| AtomicU64::new(u64::MAX)).collect(),
            first_ns: (0..markets * capacity)
                .map(|_| AtomicU64::new(u64::MAX))
                .collect(),
            last_ns: (0..markets * capacity).map(|_| AtomicU64::new(0)).collect(),
            started: (0..markets)
                .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
                .collect(),
            end: (0..markets).map(|_| AtomicU64::new(u64::MAX)).collect(),
        }
    }

    /// Ticks of market `index` after `seq` are not the measurement's.
    pub(super) fn set_end(&self, index: usize, seq: u64) {
        self.end[index].store(seq, Ordering::SeqCst);
    }

    fn after_end(&self, index: usize, seq: u64) -> bool {
        seq > self.end[index].load(Ordering::Relaxed)
    }

    fn note_start(&self, index: usize, seq: u64) {
        let (count, sum) = &self.started[index];
        count.fetch_add(1, Ordering::SeqCst);
        sum.fetch_add(seq, Ordering::SeqCst);
    }

    /// Deliveries expected so far when market `i` ends at sequence number `end[i]`: every
    /// subscriber with a starting point, every tick after it.
    pub(super) fn expected(&self, end: &[u64]) -> u64 {
        self.started
            .iter()
            .zip(end)
            .map(|((count, sum), &end)| {
                (count.load(Ordering::SeqCst) * end).saturating_sub(sum.load(Ordering::SeqCst))
            })
            .sum()
    }

    /// Ticks of market `index` after `seq` are tracked from now on.
    pub(super) fn set_start(&self, index: usize, seq: u64) {
        self.start[index].store(seq, Ordering::SeqCst);
    }

    /// Records an arrival; false if the tick is not one of the measurement's (it was
    /// published before the measurement began).
    fn record(&self, index: usize, seq: u64, latency_ns: u64) -> bool {
        let start = self.start[index].load(Ordering::Relaxed);
        if start == u64::MAX || seq <= start {
            return false;
        }
        let offset = (seq - start - 1) as usize;
        if offset < self.capacity {
            let slot = index * self.capacity + offset;
            self.first_ns[slot].fetch_min(latency_ns, Ordering::Relaxed);
            self.last_ns[slot].fetch_max(latency_ns, Ordering::Relaxed);
        }
        true
    }

    /// Histograms of the earliest and of the latest arrival of every tick that arrived.
    pub(super) fn histograms(&self) -> (Histogram<u64>, Histogram<u64>) {
        let mut first = new_histogram();
        let mut last = new_histogram();
        for (early, late) in self.first_ns.iter().zip(&self.last_ns) {
            let early = early.load(Ordering::Relaxed);
            if early != u64::MAX {
                first.saturating_record(clamp(early));
                last.saturating_record(clamp(late.load(Ordering::Relaxed)));
            }
        }
        (first, last)
    }
}

/// The markets of a phase: `count` markets numbered from `first`, and the table of their
/// ticks.
pub(super) struct PhaseMarkets {
    pub(super) first: u32,
    pub(super) count: u32,
    pub(super) table: TickTable,
}

impl PhaseMarkets {
    /// The position of `market` in the phase, if it is one of its markets.
    pub(super) fn index(&self, market: u32) -> Option<usize> {
        market
            .checked_sub(self.first)
            .filter(|offset| *offset < self.count)
            .map(|offset| offset as usize)
    }
}

/// Sums over subscribers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Tally {
    /// Per market: subscribers that had a starting point, and the sum of their starting
    /// sequence numbers (so that the deliveries expected are `count * end - sum`).
    pub(super) started: Vec<(u64, u64)>,
    /// Ticks received after the starting point.
    pub(super) received: u64,
    /// Jumps in a market's sequence numbers.
    pub(super) gaps: u64,
    /// Ticks skipped by those jumps (or replaced by a conflated snapshot).
    pub(super) missed: u64,
    /// Snapshots flagged conflated (the server skipped updates for a slow subscriber).
    pub(super) conflated: u64,
    /// Ticks at or below one already seen.
    pub(super) duplicates: u64,
    /// Subscribers that lost their session during the phase.
    pub(super) ended: u64,
    /// Subscribers that never had a starting point on every market.
    pub(super) not_ready: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        if self.started.len() < other.started.len() {
            self.started.resize(other.started.len(), (0, 0));
        }
        for (mine, theirs) in self.started.iter_mut().zip(&other.started) {
            mine.0 += theirs.0;
            mine.1 += theirs.1;
        }
        self.received += other.received;
        self.gaps += other.gaps;
        self.missed += other.missed;
        self.conflated += other.conflated;
        self.duplicates += other.duplicates;
        self.ended += other.ended;
        self.not_ready += other.not_ready;
    }

    /// Deliveries expected when market `i` ended at sequence number `end[i]`.
    pub(super) fn expected(&self, end: &[u64]) -> u64 {
        self.started
            .iter()
            .zip(end)
            .map(|(&(count, sum), &end)| (count * end).saturating_sub(sum))
            .sum()
    }
}

/// Latencies kept by a subscriber before they go into the shared histogram.
const BATCH: usize = 256;

/// One subscriber's view of one phase.
pub(super) struct Watch {
    markets: Arc<PhaseMarkets>,
    /// Per market: the starting sequence number, once known.
    start: Vec<Option<u64>>,
    /// Per market: the last sequence number seen.
    last: Vec<u64>,
    started: usize,
    tally: Tally,
    shard: usize,
    latencies_ns: Vec<u64>,
    /// Ticks received and not yet counted in [`Shared::received`].
    unflushed: u64,
}

impl Watch {
    /// A subscriber numbered `id` starts watching the phase's markets.
    pub(super) fn new(markets: Arc<PhaseMarkets>, id: usize) -> Watch {
        let count = markets.count as usize;
        Watch {
            markets,
            start: vec![None; count],
            last: vec![0; count],
            started: 0,
            tally: Tally::default(),
            shard: id,
            latencies_ns: Vec::with_capacity(BATCH),
            unflushed: 0,
        }
    }

    /// The markets watched.
    pub(super) fn markets(&self) -> &PhaseMarkets {
        &self.markets
    }

    /// The market's starting point (its snapshot, or 0 for the NATS reference once its
    /// subscriptions are known to be in place); a later snapshot flagged `conflated` stands for
    /// ticks the server skipped. Returns true when this made the subscriber ready (a starting
    /// point on every market).
    pub(super) fn snapshot(
        &mut self,
        market: u32,
        seq: u64,
        conflated: bool,
        shared: &Shared,
    ) -> bool {
        let Some(index) = self.markets.index(market) else {
            return false;
        };
        match self.start[index] {
            None => {
                self.start[index] = Some(seq);
                self.last[index] = seq;
                self.markets.table.note_start(index, seq);
                self.started += 1;
                if self.started == self.start.len() {
                    shared.ready.fetch_add(1, Ordering::SeqCst);
                    return true;
                }
            }
            Some(_) if conflated => {
                self.tally.conflated += 1;
                if seq > self.last[index] {
                    self.tally.missed += seq - self.last[index];
                    self.last[index] = seq;
                }
            }
            Some(_) => {}
        }
        false
    }

    /// A tick of `market` numbered `seq`, stamped `ts_ns`, read at `now_ns`.
    pub(super) fn tick(&mut self, market: u32, seq: u64, ts_ns: u64, now_ns: u64, shared: &Shared) {
        let Some(index) = self.markets.index(market) else {
            return;
        };
        if self.start[index].is_none() || self.markets.table.after_end(index, seq) {
            return;
        }
        let last = self.last[index];
        if seq <= last {
            self.tally.duplicates += 1;
            return;
        }
        if seq > last + 1 {
            self.tally.gaps += 1;
            self.tally.missed += seq - last - 1;
        }
        self.last[index] = seq;
        self.tally.received += 1;
        self.unflushed += 1;
        // Only ticks of the measurement are timed: one published before it (a heartbeat tick
        // while the subscribers subscribed) counts as delivered, not in the latencies.
        let latency_ns = now_ns.saturating_sub(ts_ns);
        if self.markets.table.record(index, seq, latency_ns) {
            self.latencies_ns.push(latency_ns);
            if self.latencies_ns.len() >= BATCH {
                self.flush(shared);
            }
        }
    }

    /// Hands the latencies kept so far to the shared histogram; counts what was received.
    pub(super) fn flush(&mut self, shared: &Shared) {
        if self.unflushed == 0 {
            return;
        }
        shared.received.fetch_add(self.unflushed, Ordering::Relaxed);
        shared.record(self.shard, &self.latencies_ns);
        self.latencies_ns.clear();
        self.unflushed = 0;
    }

    /// The phase is over for this subscriber (`ended`: its session was lost): everything goes
    /// to the shared tally.
    pub(super) fn hand_in(mut self, ended: bool, shared: &Shared) {
        self.flush(shared);
        self.tally.started = self
            .start
            .iter()
            .map(|start| start.map_or((0, 0), |seq| (1, seq)))
            .collect();
        self.tally.ended = u64::from(ended);
        self.tally.not_ready = u64::from(self.started < self.start.len());
        shared.hand_in(&self.tally);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(first: u32, count: u32) -> Arc<PhaseMarkets> {
        Arc::new(PhaseMarkets {
            first,
            count,
            table: TickTable::new(count as usize, 16),
        })
    }

    #[test]
    fn deliveries_expected_follow_each_subscribers_start() {
        let shared = Shared::new();
        let markets = phase(5, 2);
        markets.table.set_start(0, 10);
        markets.table.set_start(1, 3);
        // One subscriber from 10 and 3, one from 11 (it subscribed after a tick) and 3.
        let mut a = Watch::new(markets.clone(), 0);
        assert!(!a.snapshot(5, 10, false, &shared));
        assert!(a.snapshot(6, 3, false, &shared));
        let mut b = Watch::new(markets.clone(), 1);
        b.snapshot(5, 11, false, &shared);
        b.snapshot(6, 3, false, &shared);
        for seq in 11..=14 {
            a.tick(5, seq, 100, 300, &shared);
        }
        a.tick(6, 4, 100, 200, &shared);
        a.tick(6, 4, 100, 200, &shared); // again
        markets.table.set_end(1, 4);
        a.tick(6, 5, 100, 200, &shared); // after the end: not counted
        b.tick(5, 12, 100, 500, &shared);
        b.tick(5, 14, 100, 500, &shared); // 13 skipped
        b.snapshot(6, 4, true, &shared); // conflated: tick 4 replaced
        a.hand_in(false, &shared);
        b.hand_in(true, &shared);
        let (histogram, tally) = shared.take_phase();
        assert_eq!(shared.ready.load(Ordering::SeqCst), 2);
        assert_eq!(tally.started, vec![(2, 21), (2, 6)]);
        // Ends 14 and 4: a expects 4 + 1, b 3 + 1.
        assert_eq!(tally.expected(&[14, 4]), 9);
        assert_eq!(markets.table.expected(&[14, 4]), 9);
        assert_eq!(tally.received, 7);
        assert_eq!((tally.gaps, tally.missed, tally.conflated), (1, 2, 1));
        assert_eq!((tally.duplicates, tally.ended, tally.not_ready), (1, 1, 0));
        assert_eq!(histogram.len(), 7);
        let (first, last) = markets.table.histograms();
        // Ticks 11 to 14 of market 5 and 4 of market 6.
        assert_eq!((first.len(), last.len()), (5, 5));
        assert_eq!(last.max(), 400);
        assert!(first.min() >= 100 && first.max() <= 200 + 1);
    }

    #[test]
    fn percentiles_stay_in_order_beyond_ten_seconds() {
        // Per tick, the earliest arrival is never after the latest; so are their percentiles,
        // even for latencies of many seconds.
        let (mut first, mut last) = (new_histogram(), new_histogram());
        for i in 0..1_000u64 {
            let early = 9_000_000_000 + i * 15_000_000;
            first.saturating_record(clamp(early));
            last.saturating_record(clamp(early + 5_000_000_000));
        }
        for q in [0.5, 0.9, 0.99, 1.0] {
            assert!(
                first.value_at_quantile(q) <= last.value_at_quantile(q),
                "{q}"
            );
        }
        assert!(last.max() >= 28_000_000_000);
    }

    #[test]
    fn a_subscriber_without_every_start_is_not_ready() {
        let shared = Shared::new();
        let markets = phase(1, 2);
        let mut watch = Watch::new(markets, 3);
        watch.snapshot(1, 0, false, &shared);
        watch.tick(2, 1, 0, 1, &shared); // no start on market 2: ignored
        watch.tick(9, 1, 0, 1, &shared); // not a market of the phase
        watch.hand_in(false, &shared);
        let (_, tally) = shared.take_phase();
        assert_eq!((tally.not_ready, tally.received), (1, 0));
        assert_eq!(tally.expected(&[5, 5]), 5);
    }
}
