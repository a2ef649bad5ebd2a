//! The engine benchmark measures what it says: both books do the same work, the stream is
//! accepted, and the report holds every figure. Nothing here checks how fast anything is.

use oddsmatch_benches::workload::{WorkloadSpec, generate};
use oddsmatch_benches::{BookKind, EngineBenchOptions, run_engine_bench};
use oddsmatch_engine::book::{LadderBook, ReferenceBook};
use oddsmatch_engine::{Engine, Event};

#[test]
fn both_books_produce_the_same_events_for_the_workload() {
    let workload = generate(&WorkloadSpec {
        markets: 3,
        commands: 6_000,
        warmup: 1_000,
        seed: 3,
    });
    let mut ladder: Engine<LadderBook> = Engine::new(workload.config.clone());
    let mut reference: Engine<ReferenceBook> = Engine::new(workload.config.clone());
    let (mut ladder_events, mut reference_events) = (Vec::new(), Vec::new());
    for input in workload.setup.iter().chain(&workload.stream) {
        ladder.apply(input, &mut ladder_events);
        reference.apply(input, &mut reference_events);
        assert_eq!(ladder_events, reference_events, "after {input:?}");
        ladder_events.clear();
        reference_events.clear();
    }
    ladder.validate().unwrap();
    reference.validate().unwrap();
    assert_eq!(ladder.state_hash(), reference.state_hash());
    assert_eq!(ladder.live_orders(), workload.resting_at_end);
}

#[test]
fn the_stream_trades_about_six_percent_and_is_never_rejected() {
    let workload = generate(&WorkloadSpec {
        markets: 2,
        commands: 20_000,
        warmup: 2_000,
        seed: 9,
    });
    let mut engine: Engine = Engine::new(workload.config.clone());
    let mut events = Vec::new();
    for input in &workload.setup {
        engine.apply(input, &mut events);
    }
    assert!(!events.iter().any(|e| matches!(e, Event::Rejected { .. })));
    let (mut traded, mut rejected) = (0u64, 0u64);
    for input in &workload.stream {
        events.clear();
        engine.apply(input, &mut events);
        traded += u64::from(events.iter().any(|e| matches!(e, Event::Trade { .. })));
        rejected += u64::from(events.iter().any(|e| matches!(e, Event::Rejected { .. })));
    }
    assert_eq!((traded, rejected), (workload.traded, workload.rejected));
    assert_eq!(rejected, 0);
    let share = traded as f64 / workload.stream.len() as f64;
    assert!(
        (0.05..0.07).contains(&share),
        "{share:.4} of commands traded"
    );
}

#[test]
fn the_report_holds_every_book_and_market_count() {
    let options = EngineBenchOptions {
        commands: 2_000,
        warmup: 500,
        seed: 1,
        passes: 2,
        markets: vec![1, 4],
    };
    let mut lines = Vec::new();
    let report = run_engine_bench(&options, &mut |line| lines.push(line.to_string()));
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);
    assert_eq!(report.workloads.len(), 2);
    assert_eq!(report.results.len(), 4);
    for (result, (markets, book)) in report.results.iter().zip([
        (1, BookKind::Ladder),
        (1, BookKind::Reference),
        (4, BookKind::Ladder),
        (4, BookKind::Reference),
    ]) {
        assert_eq!((result.markets, result.book), (markets, book));
        assert_eq!(result.commands_per_second_passes.len(), 2);
        assert!(result.commands_per_second > 0.0);
        let latency = &result.latency;
        assert!(latency.p50_ns <= latency.p99_ns && latency.p99_ns <= latency.max_ns);
        let timed: u64 = result.latency_by_op.iter().map(|op| op.commands).sum();
        assert_eq!(timed, 2_000);
        assert_eq!(result.rejected_fraction, 0.0);
    }
    let reference = &report.results[1];
    assert_eq!(reference.ratio_to_reference, 1.0);
    assert_eq!(report.results[0].state_hash, reference.state_hash);
    assert!(lines.iter().any(|l| l.contains("latency pass")));
    let table = report.table();
    assert!(table.contains("reference") && table.contains("p99.99"));
    assert!(table.contains("mass_cancel"));
}
