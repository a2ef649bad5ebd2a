//! Market data costs no allocation: the exchange mix allocates exactly as often with it on
//! (depth, change ticks, heartbeats) as with it off. A counting global allocator checks it
//! (counts, not timings).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use oddsmatch_benches::measure::engine_after;
use oddsmatch_benches::workload::{WorkloadSpec, generate, with_market_data};
use oddsmatch_engine::{Engine, EngineConfig, Event, Input, TickReason};

struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; counting has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, which we pass on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// The inputs with their times stretched a thousandfold (one command per millisecond), so
/// that a short stream sees many change ticks and heartbeats.
fn stretched(inputs: &[Input]) -> Vec<Input> {
    inputs
        .iter()
        .map(|input| Input {
            ts_ns: input.ts_ns * 1_000,
            command: input.command.clone(),
        })
        .collect()
}

/// Runs the stream on a fresh engine holding the setup, with market data on or off; returns
/// the allocations made inside `Engine::apply` and the change ticks and heartbeats.
fn run(setup: &[Input], stream: &[Input], config: &EngineConfig) -> (u64, u32, u32) {
    let mut engine: Engine = engine_after(config, setup);
    let mut events: Vec<Event> = Vec::with_capacity(4_096);
    let (mut allocations, mut changes, mut heartbeats) = (0, 0, 0);
    for input in stream {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        engine.apply(input, &mut events);
        allocations += ALLOCATIONS.load(Ordering::Relaxed) - before;
        for event in &events {
            if let Event::OddsTick { reason, .. } = event {
                match reason {
                    TickReason::Change => changes += 1,
                    TickReason::Heartbeat => heartbeats += 1,
                    TickReason::Status => {}
                }
            }
        }
        events.clear();
    }
    engine.validate().unwrap();
    (allocations, changes, heartbeats)
}

#[test]
fn market_data_adds_no_allocation_to_the_exchange_mix() {
    let workload = generate(&WorkloadSpec {
        markets: 3,
        commands: 20_000,
        warmup: 10_000,
        seed: 21,
    });
    let stream = stretched(&workload.stream);
    let [on, off] = [true, false].map(|on| {
        let setup = stretched(&with_market_data(&workload.setup, on));
        run(&setup, &stream, &workload.config)
    });
    // 20 s of stream on three markets: ticks of both kinds with market data on (25 change
    // ticks and 47 heartbeats with this seed), none with it off.
    assert!(on.1 >= 10 && on.2 >= 20, "{on:?}");
    assert_eq!((off.1, off.2), (0, 0));
    // Makers and takers that trade a market for the first time allocate their position there,
    // either way; publishing depth and ticks adds nothing to that.
    assert_eq!(
        on.0, off.0,
        "market data on allocated {} times, off {}",
        on.0, off.0
    );
}
