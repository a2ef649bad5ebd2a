//! Runs only the fast book's throughput passes, for a profiler:
//! `perf record -g target/release/examples/profile_engine [markets] [passes]`.

use oddsmatch_benches::measure::{engine_after_setup, throughput_pass};
use oddsmatch_benches::workload::{WorkloadSpec, generate};
use oddsmatch_engine::Engine;

fn main() {
    let mut args = std::env::args().skip(1);
    let markets = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let passes = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let workload = generate(&WorkloadSpec {
        markets,
        commands: 500_000,
        warmup: 200_000,
        seed: 42,
    });
    for _ in 0..passes {
        let mut engine: Engine = engine_after_setup(&workload);
        let elapsed = throughput_pass(&mut engine, &workload.stream);
        let rate = workload.stream.len() as f64 / elapsed.as_secs_f64();
        println!("{markets} markets: {:.2} M commands/s", rate / 1e6);
    }
}
