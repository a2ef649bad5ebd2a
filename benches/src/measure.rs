//! Timing a workload on an engine: throughput passes and a latency pass.
//!
//! Every pass starts from the same state: a new engine built with the workload's capacities
//! and fed the setup, so that its memory is laid out and paged in as a shard's that ran the
//! same commands would be.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use oddsmatch_engine::book::OrderBook;
use oddsmatch_engine::{Engine, Event, Input};

use crate::workload::{Op, Workload};

/// Events one command may produce before the buffer has to grow; the buffer is reserved once.
const EVENTS_CAPACITY: usize = 4_096;
/// The histogram's range in nanoseconds: 1 ns to 10 s, with three significant digits.
const HISTOGRAM_MAX_NS: u64 = 10_000_000_000;

/// A fresh engine holding the workload's setup.
pub fn engine_after_setup<B: OrderBook>(workload: &Workload) -> Engine<B> {
    let mut engine = Engine::<B>::new(workload.config.clone());
    let mut events = Vec::with_capacity(EVENTS_CAPACITY);
    for input in &workload.setup {
        engine.apply(input, &mut events);
        events.clear();
    }
    engine
}

/// Applies the stream in a tight loop and returns how long it took. Nothing is timed per
/// command; the event buffer is reused and cleared after every command, as a shard would.
pub fn throughput_pass<B: OrderBook>(engine: &mut Engine<B>, stream: &[Input]) -> Duration {
    let mut events: Vec<Event> = Vec::with_capacity(EVENTS_CAPACITY);
    let start = Instant::now();
    for input in stream {
        engine.apply(input, &mut events);
        events.clear();
    }
    let elapsed = start.elapsed();
    std::hint::black_box(&events);
    elapsed
}

/// What a latency pass measured.
#[derive(Debug)]
pub struct LatencyPass {
    /// Per-command latency in nanoseconds, timer overhead included.
    pub histogram_ns: Histogram<u64>,
    /// The same, separately for each op, in the order of [`Op::ALL`].
    pub by_op_ns: Vec<Histogram<u64>>,
    /// Commands that produced at least one trade.
    pub traded: u64,
    /// Commands that were rejected.
    pub rejected: u64,
    /// The engine's state hash after the stream.
    pub state_hash: u64,
    /// Resting orders after the stream.
    pub resting_at_end: u32,
}

/// Applies the stream timing every command with [`Instant`], and counts trades and rejects
/// outside the timed region. `ops` names the op of each command of `stream`.
pub fn latency_pass<B: OrderBook>(
    engine: &mut Engine<B>,
    stream: &[Input],
    ops: &[Op],
) -> LatencyPass {
    assert_eq!(stream.len(), ops.len(), "one op per command");
    let mut histogram_ns = new_histogram();
    let mut by_op_ns: Vec<Histogram<u64>> = Op::ALL.iter().map(|_| new_histogram()).collect();
    let mut events: Vec<Event> = Vec::with_capacity(EVENTS_CAPACITY);
    let (mut traded, mut rejected) = (0, 0);
    for (input, op) in stream.iter().zip(ops) {
        let start = Instant::now();
        engine.apply(input, &mut events);
        let elapsed_ns = duration_ns(start.elapsed());
        histogram_ns.saturating_record(elapsed_ns);
        by_op_ns[op.position()].saturating_record(elapsed_ns);
        traded += u64::from(events.iter().any(|e| matches!(e, Event::Trade { .. })));
        rejected += u64::from(events.iter().any(|e| matches!(e, Event::Rejected { .. })));
        events.clear();
    }
    LatencyPass {
        histogram_ns,
        by_op_ns,
        traded,
        rejected,
        state_hash: engine.state_hash(),
        resting_at_end: engine.live_orders(),
    }
}

/// The cost of the timing itself: the median of many back-to-back `Instant::now()` pairs
/// around nothing. It is part of every latency reported, and reported beside them.
pub fn timer_overhead_ns() -> u64 {
    let mut histogram_ns = new_histogram();
    for _ in 0..100_000 {
        let start = Instant::now();
        let elapsed = std::hint::black_box(start).elapsed();
        histogram_ns.saturating_record(duration_ns(elapsed));
    }
    histogram_ns.value_at_quantile(0.5)
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3).expect("valid histogram bounds")
}

fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}
