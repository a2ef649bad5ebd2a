//! The random streams of `testkit` exercise what replay and recovery must reproduce.

use oddsmatch_engine::testkit::StreamGen;
use oddsmatch_engine::{Engine, EngineConfig, Event};

#[test]
fn streams_cover_trades_bets_votes_ticks_and_settlement() {
    let inputs = StreamGen::stream(7, 5_000);
    let mut engine: Engine = Engine::new(EngineConfig::small());
    let mut events = Vec::new();
    let mut last_ts = 0;
    for input in &inputs {
        assert!(input.ts_ns > last_ts, "time always moves on");
        last_ts = input.ts_ns;
        engine.apply(input, &mut events);
    }
    engine.validate().unwrap();
    let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    let trades = count(|e| matches!(e, Event::Trade { .. }));
    let bets = count(|e| matches!(e, Event::BetAccepted { .. }));
    let votes = count(|e| matches!(e, Event::VoteAccepted { .. }));
    let ticks = count(|e| matches!(e, Event::OddsTick { .. }));
    let delayed = count(|e| matches!(e, Event::OrderDelayed { .. }));
    let settled = count(|e| matches!(e, Event::MarketSettled { .. }));
    let rejected = count(|e| matches!(e, Event::Rejected { .. }));
    println!(
        "trades {trades} bets {bets} votes {votes} ticks {ticks} delayed {delayed} \
         settled {settled} rejected {rejected}"
    );
    assert!(trades > 100 && bets > 100 && votes > 3 && ticks > 100 && delayed > 10);
    assert_eq!(settled, 4);
    // Cancels of long-gone orders and orders on suspended markets are most of them.
    assert!(
        rejected < inputs.len() / 2,
        "{rejected} of {} rejected",
        inputs.len()
    );
}

#[test]
fn the_same_seed_gives_the_same_stream() {
    assert_eq!(StreamGen::stream(3, 500), StreamGen::stream(3, 500));
    assert_ne!(StreamGen::stream(3, 500), StreamGen::stream(4, 500));
}
