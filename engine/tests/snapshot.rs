//! Snapshots (`snapshot.rs`): an engine restored from a snapshot taken anywhere in a stream is
//! the same engine: same state hash, and the same events as the original for every input that
//! follows, which is what recovery relies on. Damaged snapshots are refused without a panic.

use oddsmatch_engine::book::ReferenceBook;
use oddsmatch_engine::snapshot::{
    AlignedVec, SNAPSHOT_ALIGN, SNAPSHOT_HEADER_LEN, SNAPSHOT_MAGIC, SNAPSHOT_VERSION,
    SnapshotError,
};
use oddsmatch_engine::testkit::{Rng, StreamGen};
use oddsmatch_engine::*;
use proptest::prelude::*;

mod alloc_support;

use alloc_support::{CountingAllocator, allocations};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

// ---------------------------------------------------------------------------------------------
// Streams with timed deadlines
// ---------------------------------------------------------------------------------------------

const TRADERS: u32 = 20;
/// The feed account `StreamGen::setup` creates.
const FEED: AccountId = AccountId(1_000);
const SELECTIONS: [SelectionId; 4] = [
    SelectionId(1),
    SelectionId(2),
    SelectionId(3),
    SelectionId(4),
];
/// An exchange that locks and closes on its own, with an in-play delay and a price band.
const TIMED: MarketId = MarketId(20);
/// A pool that locks before its end and closes on its own; its breaker watches small pools.
const TIMED_POOL: MarketId = MarketId(21);
/// An exchange resolved by one vote per account, whose window ends mid-stream.
const VOTED: MarketId = MarketId(22);
/// A prediction market (probability ladder) that closes mid-stream and is then resolved by a
/// stake-weighted vote.
const STAKE_VOTED: MarketId = MarketId(23);
/// A pool resolved by vote.
const VOTED_POOL: MarketId = MarketId(24);
const EXTRA: [MarketId; 5] = [TIMED, TIMED_POOL, VOTED, STAKE_VOTED, VOTED_POOL];

/// Odds on both ladders (the probability ladder has 2.00, 2.50, 4.00, 5.00 and 10.00).
const ODDS: [u32; 5] = [200, 250, 400, 500, 1_000];

/// `StreamGen`'s random stream (three exchanges, one with an in-play delay, a pool, a vote
/// market, a feed) with five more markets whose locks, closes and vote windows fall inside the
/// stream, and commands for them mixed in. Timestamps never go backwards.
fn timed_stream(seed: u64, count: usize) -> Vec<Input> {
    let mut generator = StreamGen::new(seed, 1_700_000_000_000_000_000);
    let setup = generator.setup();
    let commands = generator.commands(count);
    let finale = generator.finale();
    let start = setup.last().unwrap().ts_ns;
    let end = commands.last().map_or(start, |input| input.ts_ns);
    let at = |percent: u64| start + (end - start) / 100 * percent;
    let mut rng = Rng::new(seed ^ 0x5eed);

    let mut inputs = setup;
    let mut timed = MarketSpec::new(TIMED, SELECTIONS.to_vec());
    timed.lock_at = Some(at(45));
    timed.close_at = Some(at(70));
    timed.bet_delay_ms = 2;
    timed.price_band_bps = Some(2_000);
    timed.circuit_breaker_bps = Some(5_000);
    let mut pool = MarketSpec::new(TIMED_POOL, SELECTIONS.to_vec());
    pool.kind = MarketKind::Pool;
    pool.takeout_bps = 1_000;
    pool.end_at = Some(at(60));
    pool.lock_before_end_ms = Some(1_000);
    pool.close_at = Some(at(80));
    pool.circuit_breaker_min_pool_minor = Some(1_000);
    pool.circuit_breaker_bps = Some(2_000);
    let mut voted = MarketSpec::new(VOTED, SELECTIONS.to_vec());
    voted.resolution = Some(Resolution::Vote {
        window_start: start,
        window_end: at(50),
        quorum: 2,
        threshold_bps: 4_000,
        weight: VoteWeight::OnePerAccount,
    });
    let mut stake_voted = MarketSpec::new(STAKE_VOTED, SELECTIONS[..2].to_vec());
    stake_voted.ladder = LadderKind::Probability;
    stake_voted.close_at = Some(at(30));
    stake_voted.resolution = Some(Resolution::Vote {
        window_start: at(30),
        window_end: at(65),
        quorum: 1,
        threshold_bps: 5_000,
        weight: VoteWeight::Stake,
    });
    let mut voted_pool = MarketSpec::new(VOTED_POOL, SELECTIONS.to_vec());
    voted_pool.kind = MarketKind::Pool;
    voted_pool.market_data = Some(false);
    voted_pool.resolution = Some(Resolution::Vote {
        window_start: start,
        window_end: at(75),
        quorum: 3,
        threshold_bps: 3_000,
        weight: VoteWeight::OnePerAccount,
    });
    for spec in [timed, pool, voted, stake_voted, voted_pool] {
        inputs.push(Input {
            ts_ns: start,
            command: Command::create_market(spec),
        });
    }
    for market in EXTRA {
        inputs.push(Input {
            ts_ns: start,
            command: Command::OpenMarket { market },
        });
    }

    let mut client_order_id = 1_000_000_000u64;
    let mut placed: Vec<(AccountId, MarketId, u64)> = Vec::new();
    for input in commands {
        if rng.percent(45) {
            let command = extra_command(&mut rng, &mut client_order_id, &mut placed);
            // Between the previous input and this one.
            let previous = inputs.last().unwrap().ts_ns;
            let ts_ns = previous + (input.ts_ns - previous) / 2;
            inputs.push(Input { ts_ns, command });
        }
        inputs.push(input);
    }
    let last = inputs.last().unwrap().ts_ns;
    inputs.extend(finale);
    // The markets whose close came and went are settled (a rejection if the vote already did).
    for market in [TIMED, TIMED_POOL] {
        inputs.push(Input {
            ts_ns: inputs.last().unwrap().ts_ns.max(last) + 1,
            command: Command::SettleMarket {
                market,
                winners: vec![SELECTIONS[rng.below(4) as usize]],
            },
        });
    }
    inputs
}

fn extra_command(
    rng: &mut Rng,
    client_order_id: &mut u64,
    placed: &mut Vec<(AccountId, MarketId, u64)>,
) -> Command {
    let account = AccountId(1 + rng.below(u64::from(TRADERS)) as u32);
    let pick =
        |rng: &mut Rng, markets: &[MarketId]| markets[rng.below(markets.len() as u64) as usize];
    let selection = |rng: &mut Rng, market: MarketId| {
        let count = if market == STAKE_VOTED { 2 } else { 4 };
        SELECTIONS[rng.below(count) as usize]
    };
    match rng.below(100) {
        0..=39 => {
            let market = pick(rng, &[TIMED, TIMED, VOTED, STAKE_VOTED]);
            *client_order_id += 1;
            placed.push((account, market, *client_order_id));
            Command::PlaceOrder {
                account,
                market,
                selection: selection(rng, market),
                side: if rng.percent(50) {
                    Side::Back
                } else {
                    Side::Lay
                },
                odds_x100: ODDS[rng.below(ODDS.len() as u64) as usize],
                stake_minor: 100 + rng.below(20_000) as i64,
                tif: match rng.below(10) {
                    0 => TimeInForce::Ioc,
                    1 => TimeInForce::Fok,
                    _ => TimeInForce::Gtc,
                },
                post_only: rng.percent(5),
                persistence: if rng.percent(30) {
                    Persistence::Persist
                } else {
                    Persistence::Lapse
                },
                client_order_id: *client_order_id,
            }
        }
        40..=49 if !placed.is_empty() => {
            let (account, market, client_order_id) =
                placed[rng.below(placed.len() as u64) as usize];
            Command::CancelOrder {
                account,
                market,
                order_id: None,
                client_order_id: Some(client_order_id),
            }
        }
        40..=64 => {
            let market = pick(rng, &[TIMED_POOL, VOTED_POOL]);
            *client_order_id += 1;
            Command::PlaceBet {
                account,
                market,
                selection: selection(rng, market),
                stake_minor: 100 + rng.below(50_000) as i64,
                client_order_id: *client_order_id,
            }
        }
        65..=79 => {
            let market = pick(rng, &[VOTED, STAKE_VOTED, VOTED_POOL]);
            Command::Vote {
                account,
                market,
                selection: selection(rng, market),
            }
        }
        80..=87 => {
            let swing = if rng.percent(5) { 4_000 } else { 600 };
            let probabilities_bps = (0..4)
                .map(|_| 2_500 - (swing / 2) as u16 + rng.below(swing) as u16)
                .collect();
            Command::ReferenceOdds {
                account: FEED,
                market: pick(rng, &[TIMED, TIMED_POOL]),
                probabilities_bps,
            }
        }
        88..=90 => Command::ResumeMarket {
            market: pick(rng, &[TIMED, TIMED_POOL]),
        },
        91 => Command::SuspendMarket { market: TIMED },
        92 => Command::MassCancel {
            account,
            market: Some(TIMED),
        },
        93 => Command::KillSwitch {
            account,
            on: rng.percent(50),
        },
        _ => Command::Timer {},
    }
}

/// Applies every input; returns each input's events.
fn run<B: book::OrderBook>(engine: &mut Engine<B>, inputs: &[Input]) -> Vec<Vec<Event>> {
    inputs
        .iter()
        .map(|input| {
            let mut events = Vec::new();
            engine.apply(input, &mut events);
            events
        })
        .collect()
}

/// Asserts that two snapshots are the same bytes, naming the first difference.
fn assert_same_bytes(a: &[u8], b: &[u8], what: &str) {
    if let Some(at) = a.iter().zip(b).position(|(x, y)| x != y) {
        panic!("{what}: snapshots differ at byte {at} of {}", a.len());
    }
    assert_eq!(a.len(), b.len(), "{what}: snapshot lengths differ");
}

fn load<B: book::OrderBook>(bytes: &[u8]) -> Engine<B> {
    Engine::from_snapshot(bytes).unwrap_or_else(|error| panic!("snapshot refused: {error}"))
}

/// Restores `bytes` and checks the copy against `engine` (its state now) and against the
/// original's future (`rest` and the events it produced for them).
fn check_restore(engine: &Engine, bytes: &AlignedVec, rest: &[Input], produced: &[Vec<Event>]) {
    let mut restored: Engine = load(bytes);
    assert_eq!(restored.state_hash(), engine.state_hash());
    assert_eq!(restored.seq(), engine.seq());
    assert_eq!(restored.ts_ns(), engine.ts_ns());
    assert_eq!(restored.config(), engine.config());
    assert_eq!(restored.next_deadline_ns(), engine.next_deadline_ns());
    restored.validate().unwrap();
    // Byte for byte the same state: nothing was lost or reordered.
    assert_same_bytes(
        &restored.snapshot(),
        bytes,
        "a restored engine snapshots identically",
    );
    // What recovery relies on: the same inputs give the same events.
    for (n, (input, expected)) in rest.iter().zip(produced).enumerate() {
        let mut events = Vec::new();
        restored.apply(input, &mut events);
        assert_eq!(
            &events, expected,
            "input {n} after the snapshot ({input:?}) produced different events"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Restoring
// ---------------------------------------------------------------------------------------------

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(32),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Snapshots at random points of random streams restore to the same engine, which then
    /// produces the same events as the original for the rest of the stream and ends with the
    /// same state hash.
    #[test]
    fn a_restored_engine_continues_exactly_like_the_original(
        seed in any::<u64>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 1..4),
    ) {
        let inputs = timed_stream(seed, 1_200);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(inputs.len() + 1)).collect();
        cuts.sort_unstable();
        let mut engine: Engine = Engine::new(EngineConfig::small());
        let mut snapshots = Vec::new();
        let mut done = 0;
        for &cut in &cuts {
            run(&mut engine, &inputs[done..cut]);
            done = cut;
            snapshots.push((cut, engine.snapshot(), engine.clone()));
        }
        let produced = {
            let mut events = run(&mut engine, &inputs[done..]);
            let mut before = Vec::new();
            // Events of the inputs between the earliest cut and the last one, replayed from a
            // clone taken at the earliest cut.
            let mut earliest = snapshots[0].2.clone();
            before.extend(run(&mut earliest, &inputs[cuts[0]..done]));
            before.append(&mut events);
            before
        };
        engine.validate().unwrap();
        for (cut, bytes, at_cut) in &snapshots {
            let from = cut - cuts[0];
            check_restore(at_cut, bytes, &inputs[*cut..], &produced[from..]);
        }
        // And the final states agree.
        let mut restored: Engine = load(&snapshots[0].1);
        run(&mut restored, &inputs[cuts[0]..]);
        prop_assert_eq!(restored.state_hash(), engine.state_hash());
        assert_same_bytes(&restored.snapshot(), &engine.snapshot(), "final states");
    }
}

#[test]
fn the_timed_streams_reach_every_deadline() {
    let inputs = timed_stream(1, 1_200);
    let mut engine: Engine = Engine::new(EngineConfig::small());
    let events: Vec<Event> = run(&mut engine, &inputs).into_iter().flatten().collect();
    engine.validate().unwrap();
    let has = |f: &dyn Fn(&Event) -> bool| events.iter().any(f);
    for cause in [
        StatusCause::Lock,
        StatusCause::Close,
        StatusCause::Vote,
        StatusCause::CircuitBreaker,
    ] {
        assert!(
            has(&|e| matches!(e, Event::MarketStatus { cause: c, .. } if *c == cause)),
            "no market_status with cause {cause:?}"
        );
    }
    for market in EXTRA {
        assert!(
            has(
                &|e| matches!(e, Event::MarketStatus { market: m, status, .. }
                if *m == market && status.is_final())
            ),
            "market {market:?} never settled nor voided"
        );
    }
    assert!(has(&|e| matches!(
        e,
        Event::VoteResult {
            winner: Some(_),
            ..
        }
    )));
    assert!(has(
        &|e| matches!(e, Event::OrderDelayed { market, .. } if *market == TIMED)
    ));
    assert!(has(&|e| matches!(
        e,
        Event::Rejected {
            reason: RejectReason::MarketSuspendedDuringDelay,
            ..
        }
    )));
    assert!(has(&|e| matches!(
        e,
        Event::Rejected {
            reason: RejectReason::OutsidePriceBand,
            ..
        }
    )));
    assert!(has(&|e| matches!(
        e,
        Event::OddsTick {
            reason: TickReason::Heartbeat,
            ..
        }
    )));
    assert!(has(
        &|e| matches!(e, Event::BetAccepted { market, .. } if *market == TIMED_POOL)
    ));
}

#[test]
fn an_empty_engine_round_trips() {
    for config in [EngineConfig::small(), odd_config()] {
        let engine: Engine = Engine::new(config.clone());
        let bytes = engine.snapshot();
        assert_eq!(bytes.as_ptr() as usize % SNAPSHOT_ALIGN, 0);
        assert_eq!(bytes[..8], SNAPSHOT_MAGIC);
        assert_eq!(bytes[8..12], SNAPSHOT_VERSION.to_le_bytes());
        let restored: Engine = load(&bytes);
        assert_eq!(restored.config(), &config);
        assert_eq!(restored.state_hash(), engine.state_hash());
        assert_eq!(restored.seq(), 0);
        restored.validate().unwrap();
        assert_same_bytes(&restored.snapshot(), &bytes, "an empty engine");
    }
}

/// A configuration unlike the defaults in every field.
fn odd_config() -> EngineConfig {
    EngineConfig {
        max_orders: 37,
        max_markets: 3,
        max_accounts: 5,
        client_order_id_window: 11,
        transfer_id_window: 4,
        hash_seed: 0xdead_beef_cafe_f00d,
        market_defaults: MarketDefaults {
            market_data: false,
            odds_change_threshold_bps: 123,
            odds_tick_interval_ms: 456,
            odds_heartbeat_ms: 7_890,
            circuit_breaker_bps: 2_345,
            circuit_breaker_window_ms: 6_789,
            circuit_breaker_min_pool_minor: 42,
            lock_before_end_ms: 4_321,
        },
    }
}

/// An engine with two funded market makers and one open exchange market.
fn trading_engine(config: EngineConfig) -> Engine {
    let mut engine: Engine = Engine::new(config);
    let mut commands = Vec::new();
    for account in 1..=2 {
        commands.push(Command::create_account(
            AccountId(account),
            Tier::MarketMaker,
        ));
        commands.push(Command::Deposit {
            account: AccountId(account),
            amount_minor: 1_000_000_000,
            transfer_id: u64::from(account),
        });
    }
    commands.push(Command::create_market(MarketSpec::new(
        MarketId(1),
        SELECTIONS.to_vec(),
    )));
    commands.push(Command::OpenMarket {
        market: MarketId(1),
    });
    for (n, command) in commands.into_iter().enumerate() {
        engine.apply(
            &Input {
                ts_ns: 1 + n as u64,
                command,
            },
            &mut Vec::new(),
        );
    }
    engine
}

/// A resting back of account 1 (it never matches: nobody lays).
fn resting_back(ts_ns: u64, n: u64) -> Input {
    Input {
        ts_ns,
        command: Command::PlaceOrder {
            account: AccountId(1),
            market: MarketId(1),
            selection: SELECTIONS[(n % 4) as usize],
            side: Side::Back,
            odds_x100: [200, 250, 300, 400][(n / 4 % 4) as usize],
            stake_minor: 100,
            tif: TimeInForce::Gtc,
            post_only: false,
            persistence: Persistence::Lapse,
            client_order_id: n,
        },
    }
}

/// The capacities come back: the order table of a restored engine is full at the same order.
#[test]
fn capacities_are_restored() {
    let config = odd_config();
    let mut engine = trading_engine(config.clone());
    let mut restored: Engine = load(&engine.snapshot());
    assert_eq!(restored.config(), &config);
    let mut first_refusals = Vec::new();
    for copy in [&mut engine, &mut restored] {
        let mut events = Vec::new();
        let refused = (0..u64::from(config.max_orders) + 5).find_map(|n| {
            events.clear();
            copy.apply(&resting_back(100, n), &mut events);
            matches!(events[0], Event::Rejected { .. }).then_some((n, events[0]))
        });
        first_refusals.push(refused);
    }
    assert_eq!(first_refusals[0], first_refusals[1]);
    assert!(matches!(
        first_refusals[0],
        Some((
            37,
            Event::Rejected {
                reason: RejectReason::OrderCapacity,
                ..
            }
        ))
    ));
}

/// A restored engine reserves what `Engine::new` reserves: once its first orders have warmed
/// it up, placing and cancelling orders allocates nothing.
#[test]
fn a_restored_engine_allocates_nothing_per_order_once_warm() {
    let mut engine = trading_engine(EngineConfig::small());
    let mut events = Vec::with_capacity(64);
    for n in 0..50 {
        engine.apply(&resting_back(100, n), &mut events);
    }
    let mut restored: Engine = load(&engine.snapshot());
    let mut n = 1_000;
    let mut cycle = |restored: &mut Engine, events: &mut Vec<Event>| {
        n += 1;
        events.clear();
        restored.apply(&resting_back(200, n), events);
        let Event::OrderAccepted { order_id, .. } = events[0] else {
            panic!("{events:?}");
        };
        events.clear();
        restored.apply(
            &Input {
                ts_ns: 200,
                command: Command::CancelOrder {
                    account: AccountId(1),
                    market: MarketId(1),
                    order_id: Some(order_id),
                    client_order_id: None,
                },
            },
            events,
        );
        assert!(matches!(events[0], Event::OrderCancelled { .. }));
    };
    for _ in 0..200 {
        cycle(&mut restored, &mut events);
    }
    let before = allocations();
    for _ in 0..500 {
        cycle(&mut restored, &mut events);
    }
    assert_eq!(
        allocations() - before,
        0,
        "allocations per order on the restored engine"
    );
}

#[test]
fn snapshots_move_between_book_implementations() {
    let inputs = timed_stream(9, 800);
    let half = inputs.len() / 2;
    let mut ladder: Engine = Engine::new(EngineConfig::small());
    let mut reference: Engine<ReferenceBook> = Engine::new(EngineConfig::small());
    run(&mut ladder, &inputs[..half]);
    run(&mut reference, &inputs[..half]);
    let from_ladder: Engine<ReferenceBook> = load(&ladder.snapshot());
    let from_reference: Engine = load(&reference.snapshot());
    assert_eq!(from_ladder.state_hash(), ladder.state_hash());
    assert_eq!(from_reference.state_hash(), ladder.state_hash());
    let expected = run(&mut ladder, &inputs[half..]);
    let mut from_ladder = from_ladder;
    let mut from_reference = from_reference;
    assert_eq!(run(&mut from_ladder, &inputs[half..]), expected);
    assert_eq!(run(&mut from_reference, &inputs[half..]), expected);
}

#[test]
fn unaligned_bytes_are_copied_and_loaded() {
    let inputs = timed_stream(3, 300);
    let mut engine: Engine = Engine::new(EngineConfig::small());
    run(&mut engine, &inputs);
    let bytes = engine.snapshot();
    let mut shifted = AlignedVec::<16>::new();
    shifted.extend_from_slice(&[0; 3]);
    shifted.extend_from_slice(&bytes);
    let restored: Engine = load(&shifted[3..]);
    assert_eq!(restored.state_hash(), engine.state_hash());
}

// ---------------------------------------------------------------------------------------------
// Damage
// ---------------------------------------------------------------------------------------------

/// An engine in the middle of a stream, its snapshot and its state hash.
fn sample() -> (AlignedVec, u64) {
    let inputs = timed_stream(21, 400);
    let mut engine: Engine = Engine::new(EngineConfig::small());
    run(&mut engine, &inputs[..inputs.len() * 2 / 3]);
    (engine.snapshot(), engine.state_hash())
}

fn try_load(bytes: &[u8]) -> Result<Engine, SnapshotError> {
    let mut aligned = AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    Engine::from_snapshot(&aligned)
}

#[test]
fn the_framing_is_checked() {
    let (bytes, _) = sample();
    assert_eq!(
        try_load(&bytes[..10]).unwrap_err(),
        SnapshotError::TooShort { len: 10 }
    );
    let mut bad = bytes.to_vec();
    bad[0] ^= 1;
    assert_eq!(try_load(&bad).unwrap_err(), SnapshotError::NotASnapshot);
    let mut bad = bytes.to_vec();
    bad[8..12].copy_from_slice(&(SNAPSHOT_VERSION + 1).to_le_bytes());
    assert_eq!(
        try_load(&bad).unwrap_err(),
        SnapshotError::Version {
            found: SNAPSHOT_VERSION + 1
        }
    );
    let mut bad = bytes.to_vec();
    bad[13] = 1;
    assert_eq!(try_load(&bad).unwrap_err(), SnapshotError::NotASnapshot);
    assert!(matches!(
        try_load(&bytes[..SNAPSHOT_HEADER_LEN]),
        Err(SnapshotError::Archive(_))
    ));
}

/// Values changed in place, where bytecheck cannot see anything wrong: a balance (money is
/// no longer conserved, or the state hash differs), the time (the seal differs).
#[test]
fn edits_that_pass_validation_of_the_archive_are_refused() {
    let amount: i64 = 987_654_321_123;
    let ts: u64 = 0x1234_5678_9abc_def0;
    let mut engine: Engine = Engine::new(EngineConfig::small());
    let mut events = Vec::new();
    engine.apply(
        &Input {
            ts_ns: ts - 1,
            command: Command::create_account(AccountId(1), Tier::Pro),
        },
        &mut events,
    );
    engine.apply(
        &Input {
            ts_ns: ts,
            command: Command::Deposit {
                account: AccountId(1),
                amount_minor: amount,
                transfer_id: 1,
            },
        },
        &mut events,
    );
    let bytes = engine.snapshot();
    let find = |needle: [u8; 8]| -> Vec<usize> {
        bytes
            .windows(8)
            .enumerate()
            .filter(|(_, w)| *w == needle)
            .map(|(i, _)| i)
            .collect()
    };
    let balances = find(amount.to_le_bytes());
    // The balance and the deposits total.
    assert_eq!(balances.len(), 2);
    for at in balances {
        let mut bad = bytes.to_vec();
        bad[at..at + 8].copy_from_slice(&(amount + 1).to_le_bytes());
        let error = try_load(&bad).unwrap_err();
        assert!(
            matches!(
                error,
                SnapshotError::Invalid(_) | SnapshotError::StateHash { .. }
            ),
            "{error}"
        );
    }
    let times = find(ts.to_le_bytes());
    assert_eq!(times.len(), 1);
    let mut bad = bytes.to_vec();
    bad[times[0]..times[0] + 8].copy_from_slice(&(ts + 1).to_le_bytes());
    assert_eq!(try_load(&bad).unwrap_err(), SnapshotError::Seal);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Every proper prefix is refused.
    #[test]
    fn truncated_snapshots_are_refused(cut in any::<prop::sample::Index>()) {
        let (bytes, _) = sample();
        let len = cut.index(bytes.len());
        prop_assert!(try_load(&bytes[..len]).is_err());
    }

    /// Flipped bits never load as a different state: they are refused, or they hit bytes that
    /// carry no state (padding, the leftovers of freed order slots, entries of cancelled orders
    /// in a delay queue) and load as the same state.
    #[test]
    fn flipped_bits_never_load_a_different_state(
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
    ) {
        let (bytes, hash) = sample();
        let mut bad = bytes.to_vec();
        for (at, bit) in flips {
            let at = SNAPSHOT_HEADER_LEN + at.index(bad.len() - SNAPSHOT_HEADER_LEN);
            bad[at] ^= 1 << bit;
        }
        if let Ok(engine) = try_load(&bad) {
            prop_assert_eq!(engine.state_hash(), hash);
            prop_assert!(engine.validate().is_ok());
        }
    }

    /// Random bytes, with and without a valid framing, are refused.
    #[test]
    fn random_bytes_are_refused(
        tail in prop::collection::vec(any::<u8>(), 0..4_096),
        framed in any::<bool>(),
    ) {
        let mut bytes = Vec::new();
        if framed {
            bytes.extend_from_slice(&SNAPSHOT_MAGIC);
            bytes.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
            bytes.extend_from_slice(&[0; 4]);
        }
        bytes.extend_from_slice(&tail);
        prop_assert!(try_load(&bytes).is_err());
    }
}
