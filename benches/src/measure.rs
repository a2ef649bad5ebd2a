//! Timing a workload on an engine: throughput passes and a latency pass.
//!
//! Every pass starts from the same state: a new engine built with the workload's capacities
//! and fed the setup, so that its memory is laid out and paged in as a shard's that ran the
//! same commands would be.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use oddsmatch_engine::book::OrderBook;
use oddsmatch_engine::{Engine, EngineConfig, Event, Input};

use crate::workload::{Op, Workload};

/// The kinds of command of a measured stream, for latency by kind: the exchange mix's
/// [`Op`]s, the pool workload's [`crate::pool::PoolOp`]s.
pub trait StreamOp: Copy {
    /// How many kinds there are.
    const COUNT: usize;
    /// This kind's index, in `0..COUNT`.
    fn position(self) -> usize;
}

impl StreamOp for Op {
    const COUNT: usize = Op::ALL.len();
    fn position(self) -> usize {
        Op::position(self)
    }
}

/// Events one command may produce before the buffer has to grow; the buffer is reserved once.
pub const EVENTS_CAPACITY: usize = 4_096;
/// The histogram's range in nanoseconds: 1 ns to 10 s, with three significant digits.
const HISTOGRAM_MAX_NS: u64 = 10_000_000_000;

/// A fresh engine holding the workload's setup.
pub fn engine_after_setup<B: OrderBook>(workload: &Workload) -> Engine<B> {
    engine_after(&workload.config, &workload.setup)
}

/// A fresh engine built with `config` that has applied `setup`.
pub fn engine_after<B: OrderBook>(config: &EngineConfig, setup: &[Input]) -> Engine<B> {
    let mut engine = Engine::<B>::new(config.clone());
    let mut events = Vec::with_capacity(EVENTS_CAPACITY);
    for input in setup {
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
    /// The same, separately for each kind of command, by [`StreamOp::position`].
    pub by_op_ns: Vec<Histogram<u64>>,
    /// Commands that produced at least one trade.
    pub traded: u64,
    /// Commands that were rejected.
    pub rejected: u64,
    /// Events the stream produced.
    pub events: u64,
    /// `odds_tick` events among them.
    pub odds_ticks: u64,
    /// `circuit_breaker_tripped` events among them.
    pub breaker_trips: u64,
    /// The engine's state hash after the stream.
    pub state_hash: u64,
    /// Resting orders after the stream.
    pub resting_at_end: u32,
}

/// Applies the stream timing every command with [`Instant`], and counts trades, rejects and
/// events outside the timed region. `ops` names the kind of each command of `stream`.
pub fn latency_pass<B: OrderBook, O: StreamOp>(
    engine: &mut Engine<B>,
    stream: &[Input],
    ops: &[O],
) -> LatencyPass {
    assert_eq!(stream.len(), ops.len(), "one op per command");
    let mut histogram_ns = new_histogram();
    let mut by_op_ns: Vec<Histogram<u64>> = (0..O::COUNT).map(|_| new_histogram()).collect();
    let mut events: Vec<Event> = Vec::with_capacity(EVENTS_CAPACITY);
    let (mut traded, mut rejected, mut produced, mut odds_ticks, mut breaker_trips) =
        (0, 0, 0, 0, 0);
    for (input, op) in stream.iter().zip(ops) {
        let start = Instant::now();
        engine.apply(input, &mut events);
        let elapsed_ns = duration_ns(start.elapsed());
        histogram_ns.saturating_record(elapsed_ns);
        by_op_ns[op.position()].saturating_record(elapsed_ns);
        traded += u64::from(events.iter().any(|e| matches!(e, Event::Trade { .. })));
        rejected += u64::from(events.iter().any(|e| matches!(e, Event::Rejected { .. })));
        produced += events.len() as u64;
        for event in &events {
            match event {
                Event::OddsTick { .. } => odds_ticks += 1,
                Event::CircuitBreakerTripped { .. } => breaker_trips += 1,
                _ => {}
            }
        }
        events.clear();
    }
    LatencyPass {
        histogram_ns,
        by_op_ns,
        traded,
        rejected,
        events: produced,
        odds_ticks,
        breaker_trips,
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

/// An empty histogram of nanoseconds, 1 ns to 10 s with three significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3).expect("valid histogram bounds")
}

/// A duration in whole nanoseconds, at least 1 (the histogram's lowest value).
pub fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}
