//! The engine benchmark measures what it says: both books do the same work, the stream is
//! accepted, and the report holds every figure. Nothing here checks how fast anything is.

use oddsmatch_benches::workload::{WorkloadSpec, generate};
use oddsmatch_benches::{BookKind, Case, EngineBenchOptions, run_engine_bench};
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
        cases: vec![Case::Exchange],
        ..EngineBenchOptions::default()
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
    assert!(report.market_data.is_empty() && report.pools.is_empty() && report.votes.is_none());
}

/// The market data, pool and vote cases run at tiny sizes and report every figure; both
/// modes see the same trades, and the vote resolves on the tally's winner.
#[test]
fn the_new_cases_run_at_tiny_sizes() {
    let options = EngineBenchOptions {
        commands: 1_500,
        warmup: 300,
        seed: 5,
        passes: 1,
        markets: vec![2],
        cases: vec![Case::MarketData, Case::Pool, Case::Votes],
        voters: 50,
        revotes: 5,
        vote_passes: 2,
    };
    let mut lines = Vec::new();
    let report = run_engine_bench(&options, &mut |line| lines.push(line.to_string()));
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);
    assert_eq!(report.cases, ["market_data", "pool", "votes"]);
    assert!(
        report.results.is_empty(),
        "the exchange case was not asked for"
    );
    assert_eq!(report.workloads.len(), 1);

    let [market_data] = report.market_data.as_slice() else {
        panic!("one market count: {:?}", report.market_data);
    };
    assert_eq!(market_data.markets, 2);
    assert_eq!(market_data.goal_ratio_on_off, 0.8);
    let (on, off) = (&market_data.on, &market_data.off);
    assert_eq!(on.traded_fraction, off.traded_fraction);
    assert_eq!(on.rejected_fraction, 0.0);
    // A tiny stream spans a few milliseconds, too short for a change tick (300 ms apart); the
    // book stream is there.
    assert_eq!(off.odds_ticks, 0, "no ticks with market data off");
    assert!(on.events_per_command > off.events_per_command);
    assert_ne!(
        on.state_hash, off.state_hash,
        "the flag is part of the state"
    );
    for mode in [on, off] {
        assert_eq!(mode.commands_per_second_passes.len(), 1);
        let timed: u64 = mode.latency_by_op.iter().map(|op| op.commands).sum();
        assert_eq!(timed, 1_500);
    }

    let [pool] = report.pools.as_slice() else {
        panic!("one market count: {:?}", report.pools);
    };
    assert_eq!(pool.markets, 2);
    assert_eq!(pool.workload.commands, 1_500);
    let ops: Vec<&str> = pool.on.latency_by_op.iter().map(|op| op.op).collect();
    assert_eq!(ops, ["place_bet", "cancel_bet"]);
    for mode in [&pool.on, &pool.off] {
        assert_eq!(mode.rejected_fraction, 0.0);
        assert_eq!(mode.circuit_breaker_trips, 0);
        let bets = mode.latency_by_op[0].commands;
        assert_eq!(bets, pool.workload.mix[0].commands);
        assert!(bets > 1_200, "mostly bets: {bets}");
    }
    assert!(pool.on.events_per_command > pool.off.events_per_command);

    let votes = report.votes.as_ref().expect("the votes case ran");
    assert_eq!((votes.voters, votes.revotes, votes.passes), (50, 5, 2));
    assert_eq!(votes.tally_ns_passes.len(), 2);
    assert_eq!(votes.resolution_ns_passes.len(), 2);
    assert_eq!(votes.winner, Some(1));
    assert!(votes.vote_latency.p50_ns > 0);
    // One vote_result, bet_settled and account_settled per voter, ledger lines and the status
    // changes.
    assert!(
        votes.resolution_events > 2 * 50,
        "{}",
        votes.resolution_events
    );

    let table = report.table();
    assert!(table.contains("market data on vs off"), "{table}");
    assert!(
        table.contains("pool bets") && table.contains("cancel_bet"),
        "{table}"
    );
    assert!(table.contains("tally of 50 votes"), "{table}");
    assert!(lines.iter().any(|l| l.contains("votes: latency pass")));
}
