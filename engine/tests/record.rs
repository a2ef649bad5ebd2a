//! Journal record payloads (`record.rs`): every command and event survives the archive, the
//! encoding is deterministic and allocation-free once warm, and garbage is refused without a
//! panic.

use std::collections::BTreeSet;

use oddsmatch_engine::record::{self, Entry, RECORD_ALIGN, RecordCodec, RecordError};
use oddsmatch_engine::testkit::StreamGen;
use oddsmatch_engine::*;
use proptest::prelude::*;
use rkyv::util::AlignedVec;

mod alloc_support;

use alloc_support::{CountingAllocator, allocations};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

// ---------------------------------------------------------------------------------------------
// Sources of entries
// ---------------------------------------------------------------------------------------------

/// The sim examples of the repository, as inputs, file by file.
fn example_inputs() -> Vec<Vec<Input>> {
    let files = [
        include_str!("../../examples/feed-breaker.jsonl"),
        include_str!("../../examples/in-play-delay.jsonl"),
        include_str!("../../examples/odds-ticks.jsonl"),
        include_str!("../../examples/place-market.jsonl"),
        include_str!("../../examples/pool-race.jsonl"),
        include_str!("../../examples/prediction.jsonl"),
        include_str!("../../examples/race.jsonl"),
        include_str!("../../examples/rejects.jsonl"),
        include_str!("../../examples/void.jsonl"),
        include_str!("../../examples/vote.jsonl"),
    ];
    files
        .iter()
        .map(|file| {
            file.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
                .collect()
        })
        .collect()
}

/// Runs `inputs` through a fresh engine; returns every entry.
fn entries_of(inputs: &[Input]) -> Vec<Entry> {
    let mut engine: Engine = Engine::new(EngineConfig::small());
    inputs
        .iter()
        .map(|input| {
            let mut events = Vec::new();
            engine.apply(input, &mut events);
            Entry {
                input: input.clone(),
                events,
            }
        })
        .collect()
}

/// Entries from the examples (each on its own engine) and a random stream.
fn all_entries() -> Vec<Entry> {
    let mut entries: Vec<Entry> = example_inputs()
        .iter()
        .flat_map(|inputs| entries_of(inputs))
        .collect();
    entries.extend(entries_of(&StreamGen::stream(5, 3_000)));
    entries
}

/// The serde name of an event (`"trade"`, ...).
fn event_name(event: &Event) -> String {
    serde_json::to_value(event).unwrap()["event"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Every kind of event. The match makes this test fail to compile when a kind is added.
fn every_event_name() -> BTreeSet<&'static str> {
    let names = |event: &Event| match event {
        Event::AccountCreated { .. } => "account_created",
        Event::Ledger { .. } => "ledger",
        Event::KillSwitch { .. } => "kill_switch",
        Event::MarketCreated { .. } => "market_created",
        Event::MarketStatus { .. } => "market_status",
        Event::MarketSettled { .. } => "market_settled",
        Event::AccountSettled { .. } => "account_settled",
        Event::OrderAccepted { .. } => "order_accepted",
        Event::Rejected { .. } => "rejected",
        Event::OrderCancelled { .. } => "order_cancelled",
        Event::OrderReplaced { .. } => "order_replaced",
        Event::Trade { .. } => "trade",
        Event::BookDepth { .. } => "book_depth",
        Event::PoolChanged { .. } => "pool_changed",
        Event::OddsTick { .. } => "odds_tick",
        Event::SelectionOdds { .. } => "selection_odds",
        Event::BetAccepted { .. } => "bet_accepted",
        Event::BetCancelled { .. } => "bet_cancelled",
        Event::BetSettled { .. } => "bet_settled",
        Event::ReferenceUpdated { .. } => "reference_updated",
        Event::CircuitBreakerTripped { .. } => "circuit_breaker_tripped",
        Event::OrderDelayed { .. } => "order_delayed",
        Event::VoteAccepted { .. } => "vote_accepted",
        Event::VoteResult { .. } => "vote_result",
        Event::Balance { .. } => "balance",
        Event::ApiKeySet { .. } => "api_key_set",
        Event::AccountLimitsSet { .. } => "account_limits_set",
        Event::MarketKnobsSet { .. } => "market_knobs_set",
        Event::MarketScheduled { .. } => "market_scheduled",
    };
    let _ = names;
    [
        "account_created",
        "ledger",
        "kill_switch",
        "market_created",
        "market_status",
        "market_settled",
        "account_settled",
        "order_accepted",
        "rejected",
        "order_cancelled",
        "order_replaced",
        "trade",
        "book_depth",
        "pool_changed",
        "odds_tick",
        "selection_odds",
        "bet_accepted",
        "bet_cancelled",
        "bet_settled",
        "reference_updated",
        "circuit_breaker_tripped",
        "order_delayed",
        "vote_accepted",
        "vote_result",
        "balance",
        "api_key_set",
        "account_limits_set",
        "market_knobs_set",
        "market_scheduled",
    ]
    .into_iter()
    .collect()
}

/// Values at the edges of their ranges, which the streams never produce.
fn extreme_entry() -> Entry {
    let mut spec = MarketSpec::new(
        MarketId(u32::MAX),
        vec![SelectionId(0), SelectionId(u32::MAX)],
    );
    spec.kind = MarketKind::Pool;
    spec.max_pool_minor = Some(i64::MAX);
    spec.max_bet_minor = Some(i64::MIN);
    spec.lock_at = Some(u64::MAX);
    spec.price_band_bps = Some(u16::MAX);
    spec.resolution = Some(Resolution::Vote {
        window_start: 0,
        window_end: u64::MAX,
        quorum: u32::MAX,
        threshold_bps: u16::MAX,
        weight: VoteWeight::Stake,
    });
    let winners = Winners::new(&[SelectionId(u32::MAX); MAX_PLACES]).unwrap();
    let events = RejectReason::ALL
        .iter()
        .map(|&reason| Event::Rejected {
            command: CommandKind::Balances,
            reason,
            account: Some(AccountId(u32::MAX)),
            market: None,
            client_order_id: Some(u64::MAX),
            order_id: Some(OrderId(0)),
        })
        .chain([
            Event::MarketSettled {
                market: MarketId(0),
                winners,
            },
            Event::MarketSettled {
                market: MarketId(0),
                winners: Winners::default(),
            },
            Event::BookDepth {
                market: MarketId(1),
                book_seq: u64::MAX,
                selection: SelectionId(2),
                side: Side::Lay,
                odds_x100: [u32::MAX, 0, 1],
                stakes_minor: [i64::MIN, i64::MAX, -1],
            },
            Event::VoteResult {
                market: MarketId(3),
                winner: None,
                voters: u32::MAX,
                total_weight: i64::MIN,
                leading_weight: i64::MAX,
            },
        ])
        .collect();
    Entry {
        input: Input {
            ts_ns: u64::MAX,
            command: Command::create_market(spec),
        },
        events,
    }
}

/// A copy of `bytes` starting at an address of the given alignment offset from 16.
fn placed_at(bytes: &[u8], offset: usize) -> (AlignedVec, std::ops::Range<usize>) {
    let mut buffer = AlignedVec::with_capacity(bytes.len() + offset);
    buffer.extend_from_slice(&vec![0; offset]);
    buffer.extend_from_slice(bytes);
    (buffer, offset..offset + bytes.len())
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

#[test]
fn every_command_and_event_kind_round_trips() {
    let mut entries = all_entries();
    entries.push(extreme_entry());
    let mut codec = RecordCodec::new();
    let mut commands = BTreeSet::new();
    let mut events_seen = BTreeSet::new();
    let mut decoded_events = Vec::new();
    for entry in &entries {
        commands.insert(format!("{:?}", entry.input.command.kind()));
        events_seen.extend(entry.events.iter().map(event_name));
        let payload = codec.encode(&entry.input, &entry.events);
        assert_eq!(payload.len() % RECORD_ALIGN, 0);
        let (input, events) = record::decode(payload).unwrap();
        assert_eq!(input, entry.input);
        assert_eq!(events, entry.events);
        let input = record::decode_into(payload, &mut decoded_events).unwrap();
        assert_eq!(input, entry.input);
        assert_eq!(decoded_events, entry.events);
        // Read in place.
        let archived = record::access(payload).unwrap();
        assert_eq!(archived.input.ts_ns.to_native(), entry.input.ts_ns);
        assert_eq!(archived.events.len(), entry.events.len());
        // The owned `Entry` archives to the very same bytes as the borrowed parts.
        let owned = rkyv::to_bytes::<rkyv::rancor::Error>(entry).unwrap();
        assert_eq!(&owned[..], payload);
    }
    assert_eq!(commands.len(), 26, "command kinds seen: {commands:?}");
    let all: BTreeSet<String> = every_event_name().iter().map(|s| s.to_string()).collect();
    assert_eq!(events_seen, all);
}

#[test]
fn every_reject_code_round_trips_and_unknown_codes_are_refused() {
    for reason in RejectReason::ALL {
        assert_eq!(RejectReason::from_code(reason.code()), Some(reason));
    }
    let known = (0..=u16::MAX)
        .filter(|code| RejectReason::from_code(*code).is_some())
        .count();
    assert_eq!(known, RejectReason::ALL.len());
    let names: BTreeSet<&str> = RejectReason::ALL.iter().map(|r| r.name()).collect();
    assert_eq!(names.len(), RejectReason::ALL.len());

    // A reject code changed in place to one that names nothing is refused by validation.
    let input = Input {
        ts_ns: 1,
        command: Command::Balances {},
    };
    let event = Event::Rejected {
        command: CommandKind::PlaceOrder,
        reason: RejectReason::InvalidOdds,
        account: None,
        market: None,
        client_order_id: None,
        order_id: None,
    };
    let mut codec = RecordCodec::new();
    let payload = codec.encode(&input, &[event]).to_vec();
    let code = RejectReason::InvalidOdds.code().to_le_bytes();
    let at: Vec<usize> = payload
        .windows(2)
        .enumerate()
        .filter(|(_, w)| *w == code)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "the code appears once");
    let mut bad = payload.clone();
    bad[at[0]..at[0] + 2].copy_from_slice(&999u16.to_le_bytes());
    let (buffer, range) = placed_at(&bad, 0);
    let error = record::decode(&buffer[range]).unwrap_err();
    assert!(error.to_string().contains("999"), "{error}");
}

#[test]
fn winners_beyond_max_places_are_refused() {
    let input = Input {
        ts_ns: 1,
        command: Command::Timer {},
    };
    let winners = Winners::new(&[SelectionId(7), SelectionId(8)]).unwrap();
    let event = Event::MarketSettled {
        market: MarketId(0x5eed),
        winners,
    };
    let payload = RecordCodec::new().encode(&input, &[event]).to_vec();
    // The archived winners are `len: u8` then the selections; find the length before the
    // first selection id.
    let needle = 7u32.to_le_bytes();
    let at = payload
        .windows(4)
        .position(|w| w == needle)
        .expect("selection 7 is in the payload");
    let len_at = (0..at).rev().find(|i| payload[*i] == 2).unwrap();
    let mut bad = payload.clone();
    bad[len_at] = (MAX_PLACES + 1) as u8;
    let (buffer, range) = placed_at(&bad, 0);
    assert!(matches!(
        record::access(&buffer[range]),
        Err(RecordError::Invalid { .. })
    ));
}

#[test]
fn encoding_is_deterministic() {
    let entries = all_entries();
    let mut codec = RecordCodec::new();
    let first: Vec<Vec<u8>> = entries
        .iter()
        .map(|e| codec.encode(&e.input, &e.events).to_vec())
        .collect();
    // The same codec again, in reverse order (a reused buffer leaves nothing behind), and a
    // fresh codec.
    for (entry, bytes) in entries.iter().zip(&first).rev() {
        assert_eq!(codec.encode(&entry.input, &entry.events), &bytes[..]);
    }
    let mut fresh = RecordCodec::new();
    for (entry, bytes) in entries.iter().zip(&first) {
        assert_eq!(fresh.encode(&entry.input, &entry.events), &bytes[..]);
    }
}

#[test]
fn encoding_allocates_nothing_once_warm() {
    let entries = all_entries();
    let mut codec = RecordCodec::new();
    // Warm up: the buffer and the arena grow to the largest entry.
    for entry in &entries {
        codec.encode(&entry.input, &entry.events);
    }
    let before = allocations();
    let mut bytes = 0usize;
    for entry in &entries {
        bytes += codec.encode(&entry.input, &entry.events).len();
    }
    assert_eq!(allocations() - before, 0, "allocations while encoding");
    assert!(bytes > 0);
}

#[test]
fn decode_into_replaces_what_the_vector_held() {
    let entries = all_entries();
    let entry = entries.iter().find(|e| e.events.len() >= 3).unwrap();
    let mut codec = RecordCodec::new();
    let payload = codec.encode(&entry.input, &entry.events).to_vec();
    let (buffer, range) = placed_at(&payload, 0);
    let mut events = entries[0].events.clone();
    events.extend_from_slice(&entry.events);
    record::decode_into(&buffer[range.clone()], &mut events).unwrap();
    assert_eq!(events, entry.events);
    // On an error the vector is left empty.
    let mut truncated = payload.clone();
    truncated.truncate(payload.len() - 8);
    let (buffer, range) = placed_at(&truncated, 0);
    assert!(record::decode_into(&buffer[range], &mut events).is_err());
    assert!(events.is_empty());
}

#[test]
fn misaligned_payloads_are_refused() {
    let entry = &all_entries()[3];
    let payload = RecordCodec::new()
        .encode(&entry.input, &entry.events)
        .to_vec();
    for offset in 1..RECORD_ALIGN {
        let (buffer, range) = placed_at(&payload, offset);
        assert_eq!(
            record::access(&buffer[range]).unwrap_err(),
            RecordError::Misaligned { offset }
        );
    }
    let (buffer, range) = placed_at(&payload, RECORD_ALIGN);
    assert!(record::access(&buffer[range]).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Garbage
// ---------------------------------------------------------------------------------------------

/// Reads garbage every way there is. It must never panic; whatever validation accepts must
/// decode, and decode to an entry that encodes to a valid payload again.
fn read_garbage(bytes: &[u8]) -> Result<(), RecordError> {
    let (buffer, range) = placed_at(bytes, 0);
    let payload = &buffer[range];
    let accessed = record::access(payload).map(|_| ());
    let decoded = record::decode(payload);
    assert_eq!(accessed.is_ok(), decoded.is_ok());
    let (input, events) = decoded?;
    let again = RecordCodec::new().encode(&input, &events).to_vec();
    let (buffer, range) = placed_at(&again, 0);
    assert_eq!(
        record::decode(&buffer[range]).unwrap(),
        (input, events),
        "what was accepted survives a round trip"
    );
    Ok(())
}

fn sample_payloads() -> Vec<Vec<u8>> {
    let entries = all_entries();
    let mut codec = RecordCodec::new();
    // A spread of shapes: small and large, with boxes (create_market) and vectors.
    let mut picked: Vec<&Entry> = entries.iter().step_by(97).collect();
    picked.push(entries.iter().max_by_key(|e| e.events.len()).unwrap());
    picked
        .into_iter()
        .map(|e| codec.encode(&e.input, &e.events).to_vec())
        .collect()
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Every proper prefix of a payload is refused.
    #[test]
    fn truncated_payloads_are_refused(
        pick in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let payloads = sample_payloads();
        let payload = &payloads[pick.index(payloads.len())];
        let len = cut.index(payload.len());
        prop_assert!(read_garbage(&payload[..len]).is_err());
    }

    /// Flipped bits are refused or read as some other valid entry; never a panic.
    #[test]
    fn flipped_bits_never_panic(
        pick in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
    ) {
        let payloads = sample_payloads();
        let mut payload = payloads[pick.index(payloads.len())].clone();
        for (at, bit) in flips {
            let at = at.index(payload.len());
            payload[at] ^= 1 << bit;
        }
        let _ = read_garbage(&payload);
    }

    /// Random bytes never panic the reader (and are essentially never an entry).
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = read_garbage(&bytes);
    }

    /// A random entry made of random inputs round trips exactly.
    #[test]
    fn random_streams_round_trip(seed in any::<u64>()) {
        let entries = entries_of(&StreamGen::stream(seed, 200));
        let mut codec = RecordCodec::new();
        for entry in &entries {
            let payload = codec.encode(&entry.input, &entry.events);
            let (input, events) = record::decode(payload).unwrap();
            prop_assert_eq!(&input, &entry.input);
            prop_assert_eq!(&events, &entry.events);
        }
    }
}
