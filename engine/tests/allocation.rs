//! "No allocation per order in the steady state": once an account has a position on a market
//! and the tables have seen their peak, placing, matching, replacing and cancelling orders
//! allocates nothing, on the engine and on a clone of it. A counting global allocator checks
//! it (counts, not timings).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use oddsmatch_engine::*;

struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// Allocations made inside `Engine::apply` (building a test's commands allocates; that is the
/// gateway's business, not the engine's).
static ENGINE_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

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

const MARKET: MarketId = MarketId(1);
const MAKER: AccountId = AccountId(1);
const TAKER: AccountId = AccountId(2);
const QUOTER: AccountId = AccountId(3);

fn input(command: Command) -> Input {
    Input { ts_ns: 1, command }
}

fn place(account: AccountId, side: Side, odds_x100: u32, tif: TimeInForce, id: u64) -> Input {
    input(Command::PlaceOrder {
        account,
        market: MARKET,
        selection: SelectionId(1 + (id % 3) as u32),
        side,
        odds_x100,
        stake_minor: 100 + (id % 7) as i64 * 10,
        tif,
        post_only: false,
        persistence: Persistence::Lapse,
        client_order_id: id,
    })
}

/// One round of the steady-state mix: rest three orders, move one, shrink one, take some
/// liquidity with an IOC, mass cancel the rest, requote. Returns the next client order id and
/// the number of trades.
fn round(engine: &mut Engine, events: &mut Vec<Event>, mut id: u64) -> (u64, usize) {
    let mut trades = 0;
    // Returns the id of the order the command accepted, if any.
    let mut apply = |engine: &mut Engine, input: &Input| {
        events.clear();
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        engine.apply(input, events);
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        ENGINE_ALLOCATIONS.fetch_add(allocations, Ordering::Relaxed);
        trades += events
            .iter()
            .filter(|e| matches!(e, Event::Trade { .. }))
            .count();
        assert!(
            !events.iter().any(|e| matches!(e, Event::Rejected { .. })),
            "{events:?}"
        );
        events.iter().find_map(|e| match e {
            Event::OrderAccepted { order_id, .. } => Some(*order_id),
            _ => None,
        })
    };
    let mut resting = [OrderId(0); 3];
    for (n, odds_x100) in [300, 310, 320].into_iter().enumerate() {
        let order = apply(
            engine,
            &place(MAKER, Side::Back, odds_x100, TimeInForce::Gtc, id),
        );
        resting[n] = order.expect("a maker order is accepted");
        id += 1;
    }
    let replace = |order_id: OrderId, odds_x100: u32, stake_minor: i64| {
        input(Command::ReplaceOrder {
            account: MAKER,
            market: MARKET,
            order_id,
            odds_x100,
            stake_minor,
        })
    };
    apply(engine, &replace(resting[0], 330, 150));
    apply(engine, &replace(resting[1], 310, 50));
    apply(engine, &place(TAKER, Side::Lay, 340, TimeInForce::Ioc, id));
    id += 1;
    apply(
        engine,
        &input(Command::MassCancel {
            account: MAKER,
            market: Some(MARKET),
        }),
    );
    // A market maker requotes two selections; stakes alternate between rounds so that quotes
    // are alternately kept (lowered in place) and replaced.
    let stake_minor = 100 + (id / 4 % 2) as i64 * 50;
    let quote = |selection: u32, back_odds_x100: u32| Quote {
        selection: SelectionId(selection),
        back_odds_x100: Some(back_odds_x100),
        back_stake_minor: Some(stake_minor),
        lay_odds_x100: Some(200),
        lay_stake_minor: Some(stake_minor),
    };
    apply(
        engine,
        &input(Command::MassQuote {
            account: QUOTER,
            market: MARKET,
            quotes: vec![quote(1, 900), quote(2, 960)],
        }),
    );
    (id, trades)
}

#[test]
fn steady_state_orders_allocate_nothing() {
    let mut engine: Engine = Engine::new(EngineConfig::small());
    let mut events = Vec::with_capacity(1_024);
    let setup = [
        Command::create_account(MAKER, Tier::MarketMaker),
        Command::create_account(TAKER, Tier::MarketMaker),
        Command::create_account(QUOTER, Tier::MarketMaker),
        Command::Deposit {
            account: QUOTER,
            amount_minor: 1_000_000_000,
            transfer_id: 3,
        },
        Command::Deposit {
            account: MAKER,
            amount_minor: 1_000_000_000,
            transfer_id: 1,
        },
        Command::Deposit {
            account: TAKER,
            amount_minor: 1_000_000_000,
            transfer_id: 2,
        },
        Command::create_market(MarketSpec {
            market: MARKET,
            kind: MarketKind::Exchange,
            selections: vec![SelectionId(1), SelectionId(2), SelectionId(3)],
            places: 1,
            ladder: LadderKind::Betfair,
            commission_bps: 0,
            ..MarketSpec::default()
        }),
        Command::OpenMarket { market: MARKET },
    ];
    for command in setup {
        engine.apply(&input(command), &mut events);
    }
    // Warm up: positions exist and the tables reach their peak size.
    let mut id = 1;
    for _ in 0..200 {
        id = round(&mut engine, &mut events, id).0;
    }
    engine.validate().unwrap();
    // A copy (as a snapshot or a benchmark pass takes) must keep the reserved capacity too,
    // so the measured rounds run on a clone.
    let mut engine = engine.clone();
    let exposure_before = engine.exposure(TAKER).unwrap();

    let before = ENGINE_ALLOCATIONS.load(Ordering::Relaxed);
    let mut trades = 0;
    for _ in 0..500 {
        let (next, traded) = round(&mut engine, &mut events, id);
        id = next;
        trades += traded;
    }
    let allocations = ENGINE_ALLOCATIONS.load(Ordering::Relaxed) - before;

    engine.validate().unwrap();
    assert!(
        trades >= 500,
        "every round trades at least once; {trades} trades"
    );
    assert!(
        engine.exposure(TAKER).unwrap() > exposure_before,
        "the taker built a position"
    );
    assert_eq!(
        allocations, 0,
        "steady-state orders allocated {allocations} times"
    );
}
