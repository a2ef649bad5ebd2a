//! The engine benchmark's workload: a seeded, exchange-core-like stream of order commands.
//!
//! A workload has two parts. The **setup** creates and funds the accounts, creates and opens
//! the markets, fills every book with resting orders around a fair price, so that the book has
//! depth before anything is measured, and then runs `warmup` commands of the mix, so that the
//! engine's tables have been written all over (and their memory paged in) as in a shard that has
//! been running for a while. The **stream** is the measured part: `commands` order commands
//! drawn from [`MIX`], spread uniformly over the markets.
//!
//! Commands name engine-assigned order ids, so the generator runs every command it writes
//! through a shadow [`Engine`] and tracks the live orders from the engine's own answers
//! ([`Engine::order`]). Replaying `setup` then `stream` on a fresh engine therefore produces
//! exactly the events the generator saw, with either book implementation.
//!
//! Two kinds of accounts trade: **makers** only rest passive orders (and replace, cancel and
//! mass-cancel them); **takers** only send immediate orders (IOC, FOK) that cross the touch.
//! Keeping them apart means self-trade prevention never fires, so the trades are exactly the
//! ones the mix asks for.

use oddsmatch_engine::{
    AccountId, Command, Engine, EngineConfig, Event, Input, LadderKind, MarketId, MarketKind,
    MarketSpec, OrderId, Persistence, SelectionId, Side, Tick, Tier, TimeInForce,
};

use crate::rng::Rng;

/// Selections per market: a three-way market (home, draw, away).
pub const SELECTIONS_PER_MARKET: u32 = 3;
/// Accounts that rest orders (market makers), shared by all markets.
pub const MAKERS: u32 = 1_000;
/// Accounts that send immediate orders, shared by all markets.
pub const TAKERS: u32 = 100;
/// Resting orders per side of each selection after the setup.
pub const RESTING_PER_SIDE: u32 = 100;
/// The setup spreads each side's resting orders evenly over this many ticks from the fair
/// price outwards.
pub const SETUP_DEPTH_TICKS: u32 = 10;
/// Smallest and largest stake of a new maker order, in minor units (2.00 to 200.00).
pub const MAKER_STAKE_MINOR: (i64, i64) = (200, 20_000);
/// A maker order is never resized above this, in minor units.
pub const MAKER_STAKE_MAX_MINOR: i64 = 100_000;
/// Fair prices are drawn from this range of betfair ticks (odds 1.60 to 3.30).
pub const FAIR_TICKS: (Tick, Tick) = (59, 164);
/// A one-tick move never takes an order further than this many ticks from its fair price.
pub const MAX_DISTANCE_TICKS: Tick = 30;
/// Money each account starts with, in minor units (one billion in a currency with cents):
/// far more than any exposure the workload builds, so that risk never refuses an order.
pub const DEPOSIT_MINOR: i64 = 100_000_000_000;
/// The most markets a workload may have: their resting orders (600 per market) must stay well
/// inside the default engine's order capacity (2^20).
pub const MAX_MARKETS: u32 = 1_500;
/// Nanoseconds between the timestamps of consecutive inputs: one command per microsecond,
/// about the rate one shard serves, so that time-driven work happens at its real pace (a
/// change tick at most every 300 ms per market, a heartbeat after a second of silence); a
/// 500,000-command stream spans half a second.
pub const TS_STEP_NS: u64 = 1_000;

/// One kind of command in the measured stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Replace a maker order: move it one tick, toward or away from the touch, never crossing;
    /// it loses its queue priority.
    ReplaceMove,
    /// Replace a maker order with a smaller stake at the same odds (keeps priority).
    ReplaceReduce,
    /// Replace a maker order with a larger stake at the same odds (loses priority).
    ReplaceIncrease,
    /// A new good-till-cancelled maker order at or behind the touch, not crossing.
    NewGtc,
    /// As [`Op::NewGtc`] with `post_only` (accepted, since it does not cross).
    NewPostOnly,
    /// Cancel a maker order by order id.
    CancelById,
    /// Cancel a maker order by client order id.
    CancelByClientId,
    /// A taker's immediate-or-cancel order at the touch for 30%-120% of the touch level.
    Ioc,
    /// A taker's fill-or-kill order at the touch for 20%-100% of the touch level.
    Fok,
    /// Cancel all of one maker's orders on one market.
    MassCancel,
}

impl Op {
    /// Every op, in the order of [`MIX`].
    pub const ALL: [Op; 10] = [
        Op::ReplaceMove,
        Op::ReplaceReduce,
        Op::ReplaceIncrease,
        Op::NewGtc,
        Op::NewPostOnly,
        Op::CancelById,
        Op::CancelByClientId,
        Op::Ioc,
        Op::Fok,
        Op::MassCancel,
    ];

    /// The op's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::ReplaceMove => "replace_move",
            Op::ReplaceReduce => "replace_reduce",
            Op::ReplaceIncrease => "replace_increase",
            Op::NewGtc => "new_gtc",
            Op::NewPostOnly => "new_post_only",
            Op::CancelById => "cancel_by_id",
            Op::CancelByClientId => "cancel_by_client_id",
            Op::Ioc => "ioc",
            Op::Fok => "fok",
            Op::MassCancel => "mass_cancel",
        }
    }

    /// The op's index in [`Op::ALL`].
    pub fn position(self) -> usize {
        self as usize
    }
}

/// The measured mix, in commands per 10,000 (documented in `docs/benchmarks.md`).
///
/// Shaped after exchange-core's benchmark (mostly moves, then new orders, cancels and
/// immediate orders, about 6% of commands trading), with resizes, post-only, client-order-id
/// cancels, FOK and mass cancels added so that every order path of the engine is exercised.
/// New orders (24%) balance cancels, mass cancels and the makers that IOC and FOK orders fill,
/// so the number of resting orders stays about where the setup put it.
pub const MIX: [(Op, u32); 10] = [
    (Op::ReplaceMove, 3_600),
    (Op::ReplaceReduce, 1_000),
    (Op::ReplaceIncrease, 1_000),
    (Op::NewGtc, 2_200),
    (Op::NewPostOnly, 200),
    (Op::CancelById, 1_080),
    (Op::CancelByClientId, 300),
    (Op::Ioc, 500),
    (Op::Fok, 100),
    (Op::MassCancel, 20),
];

/// The denominator of [`MIX`].
pub const MIX_TOTAL: u32 = 10_000;

const _: () = {
    let mut sum = 0;
    let mut i = 0;
    while i < MIX.len() {
        sum += MIX[i].1;
        i += 1;
    }
    assert!(sum == MIX_TOTAL);
};

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadSpec {
    /// Number of markets; the stream picks one uniformly for every command.
    pub markets: u32,
    /// Number of measured commands.
    pub commands: usize,
    /// Commands of the mix run at the end of the setup, unmeasured.
    pub warmup: usize,
    /// Seed of the generator: the same spec always gives the same workload.
    pub seed: u64,
}

/// A generated workload and what the generator saw while writing it.
#[derive(Clone, Debug)]
pub struct Workload {
    /// What it was generated from.
    pub spec: WorkloadSpec,
    /// The engine capacities to replay it with.
    pub config: EngineConfig,
    /// Accounts, deposits, markets, the initial resting orders and the warm-up commands.
    pub setup: Vec<Input>,
    /// The measured commands.
    pub stream: Vec<Input>,
    /// The op of each measured command, in stream order.
    pub stream_ops: Vec<Op>,
    /// How many commands of each op the stream holds, in the order of [`Op::ALL`]. An op that
    /// could not be written (for example a cancel on a market with no resting order) was
    /// written as [`Op::NewGtc`] instead.
    pub op_counts: [u64; Op::ALL.len()],
    /// Stream commands that produced at least one trade.
    pub traded: u64,
    /// Stream commands that were rejected (expected: none).
    pub rejected: u64,
    /// Resting orders when the stream starts.
    pub resting_at_start: u32,
    /// Resting orders when the stream ends.
    pub resting_at_end: u32,
}

/// Generates the workload of `spec`.
pub fn generate(spec: &WorkloadSpec) -> Workload {
    assert!(
        (1..=MAX_MARKETS).contains(&spec.markets),
        "a workload has 1 to {MAX_MARKETS} markets"
    );
    let config = EngineConfig::default();
    let mut generator = Generator::new(spec, config.clone());
    generator.write_setup();
    for _ in 0..spec.warmup {
        generator.write_stream_command();
    }
    generator.assert_nothing_rejected("warm-up");
    let setup = std::mem::take(&mut generator.written);
    let resting_at_start = generator.engine.live_orders();
    generator.op_counts = [0; Op::ALL.len()];
    generator.ops.clear();
    generator.traded = 0;
    generator.rejected = 0;
    generator.written.reserve(spec.commands);
    for _ in 0..spec.commands {
        generator.write_stream_command();
    }
    Workload {
        spec: spec.clone(),
        config,
        setup,
        stream: generator.written,
        stream_ops: generator.ops,
        op_counts: generator.op_counts,
        traded: generator.traded,
        rejected: generator.rejected,
        resting_at_start,
        resting_at_end: generator.engine.live_orders(),
    }
}

/// `inputs` with every `create_market` set to keep odds state and publish the book stream and
/// odds ticks (`on`) or not. Nothing else changes: the flag changes no order's outcome, so the
/// same stream produces the same trades either way.
pub fn with_market_data(inputs: &[Input], on: bool) -> Vec<Input> {
    inputs
        .iter()
        .map(|input| {
            let mut input = input.clone();
            if let Command::CreateMarket(spec) = &mut input.command {
                spec.market_data = Some(on);
            }
            input
        })
        .collect()
}

/// A resting maker order as the generator knows it.
#[derive(Clone, Copy, Debug)]
struct Tracked {
    id: OrderId,
    account: AccountId,
    client_order_id: u64,
    selection: u32,
    side: Side,
    tick: Tick,
    stake_minor: i64,
}

/// Resting orders and stake at one tick of one side of a book.
#[derive(Clone, Copy, Debug, Default)]
struct Level {
    orders: u32,
    stake_minor: i64,
}

/// The generator's picture of one selection's book.
#[derive(Clone, Debug)]
struct BookModel {
    fair: Tick,
    backs: Box<[Level]>,
    lays: Box<[Level]>,
}

impl BookModel {
    fn side_mut(&mut self, side: Side) -> &mut [Level] {
        match side {
            Side::Back => &mut self.backs,
            Side::Lay => &mut self.lays,
        }
    }

    /// The lowest resting back: the best price a lay can take.
    fn best_back(&self) -> Option<Tick> {
        self.backs
            .iter()
            .position(|level| level.orders > 0)
            .map(|tick| tick as Tick)
    }

    /// The highest resting lay: the best price a back can take.
    fn best_lay(&self) -> Option<Tick> {
        self.lays
            .iter()
            .rposition(|level| level.orders > 0)
            .map(|tick| tick as Tick)
    }

    fn level(&self, side: Side, tick: Tick) -> Level {
        match side {
            Side::Back => self.backs[usize::from(tick)],
            Side::Lay => self.lays[usize::from(tick)],
        }
    }

    /// Whether an order of `side` at `tick` would rest without matching.
    fn is_passive(&self, side: Side, tick: Tick) -> bool {
        match side {
            Side::Back => self.best_lay().is_none_or(|lay| tick > lay),
            Side::Lay => self.best_back().is_none_or(|back| tick < back),
        }
    }

    /// A passive tick `offset` ticks behind the fair price, pulled back to the touch if the
    /// book has moved through it; `None` if no tick on the ladder is passive on this side.
    fn passive_tick(&self, side: Side, offset: Tick, ladder_len: usize) -> Option<Tick> {
        let top = (ladder_len - 1) as Tick;
        let tick = match side {
            Side::Back => {
                let floor = self.best_lay().map_or(0, |lay| lay.saturating_add(1));
                self.fair.saturating_add(1 + offset).max(floor).min(top)
            }
            Side::Lay => {
                let ceiling = self.best_back().map_or(top, |back| back.saturating_sub(1));
                self.fair.saturating_sub(1 + offset).min(ceiling)
            }
        };
        self.is_passive(side, tick).then_some(tick)
    }

    /// One tick from `tick` for a resting order of `side`, toward the touch if `toward` and
    /// that does not cross, else away if that stays within [`MAX_DISTANCE_TICKS`] of fair.
    fn moved_tick(&self, side: Side, tick: Tick, toward: bool, ladder_len: usize) -> Tick {
        let top = (ladder_len - 1) as Tick;
        let (inward, outward) = match side {
            Side::Back => (tick.checked_sub(1), (tick < top).then(|| tick + 1)),
            Side::Lay => ((tick < top).then(|| tick + 1), tick.checked_sub(1)),
        };
        let inward = inward.filter(|t| self.is_passive(side, *t));
        let outward = outward.filter(|t| t.abs_diff(self.fair) <= MAX_DISTANCE_TICKS);
        let choice = if toward {
            inward.or(outward)
        } else {
            outward.or(inward)
        };
        choice.unwrap_or(tick)
    }
}

/// Writes commands and follows their effect on a shadow engine.
struct Generator {
    rng: Rng,
    markets: u32,
    ladder: LadderKind,
    config: EngineConfig,
    engine: Engine,
    events: Vec<Event>,
    written: Vec<Input>,
    ts_ns: u64,
    next_client_order_id: u64,
    /// Client order ids handed out so far; with the window size it says whether the engine
    /// still remembers a given one.
    client_order_ids_used: u64,
    /// One per (market, selection), market-major.
    books: Vec<BookModel>,
    /// The resting maker orders of each market.
    resting: Vec<Vec<Tracked>>,
    /// For each order id, its market and position in `resting`, if it rests.
    position_of: Vec<Option<(u32, u32)>>,
    touched: Vec<OrderId>,
    op_counts: [u64; Op::ALL.len()],
    ops: Vec<Op>,
    traded: u64,
    rejected: u64,
}

impl Generator {
    fn new(spec: &WorkloadSpec, config: EngineConfig) -> Generator {
        let ladder = LadderKind::Betfair;
        let mut rng = Rng::new(spec.seed);
        let books = (0..spec.markets * SELECTIONS_PER_MARKET)
            .map(|_| BookModel {
                fair: rng.between(u64::from(FAIR_TICKS.0), u64::from(FAIR_TICKS.1)) as Tick,
                backs: vec![Level::default(); ladder.price_count()].into_boxed_slice(),
                lays: vec![Level::default(); ladder.price_count()].into_boxed_slice(),
            })
            .collect();
        Generator {
            rng,
            markets: spec.markets,
            ladder,
            engine: Engine::new(config.clone()),
            config,
            events: Vec::with_capacity(1_024),
            written: Vec::new(),
            ts_ns: 0,
            next_client_order_id: 1,
            client_order_ids_used: 0,
            books,
            resting: vec![Vec::new(); spec.markets as usize],
            position_of: Vec::new(),
            touched: Vec::new(),
            op_counts: [0; Op::ALL.len()],
            ops: Vec::with_capacity(spec.commands.max(spec.warmup)),
            traded: 0,
            rejected: 0,
        }
    }

    // -- the setup --

    fn write_setup(&mut self) {
        for account in 1..=MAKERS + TAKERS {
            self.write(Command::create_account(
                AccountId(account),
                Tier::MarketMaker,
            ));
            self.write(Command::Deposit {
                account: AccountId(account),
                amount_minor: DEPOSIT_MINOR,
                transfer_id: u64::from(account),
            });
        }
        for market in 0..self.markets {
            self.write(Command::create_market(MarketSpec {
                market: market_id(market),
                kind: MarketKind::Exchange,
                selections: (0..SELECTIONS_PER_MARKET).map(selection_id).collect(),
                places: 1,
                ladder: self.ladder,
                commission_bps: 0,
                ..MarketSpec::default()
            }));
            self.write(Command::OpenMarket {
                market: market_id(market),
            });
        }
        for market in 0..self.markets {
            for selection in 0..SELECTIONS_PER_MARKET {
                self.write_initial_depth(market, selection);
            }
        }
        self.assert_nothing_rejected("setup");
    }

    /// Rests [`RESTING_PER_SIDE`] orders on each side of a selection, alternating sides and
    /// cycling through the [`SETUP_DEPTH_TICKS`] ticks nearest the fair price.
    fn write_initial_depth(&mut self, market: u32, selection: u32) {
        let fair = self.book(market, selection).fair;
        for n in 0..RESTING_PER_SIDE {
            let offset = (n % SETUP_DEPTH_TICKS) as Tick;
            for side in [Side::Back, Side::Lay] {
                let tick = match side {
                    Side::Back => fair + 1 + offset,
                    Side::Lay => fair - 1 - offset,
                };
                self.write_maker_order(market, selection, side, tick, false);
            }
        }
    }

    fn assert_nothing_rejected(&self, phase: &str) {
        assert_eq!(
            self.rejected, 0,
            "the {phase} of a workload must not be rejected"
        );
    }

    // -- the measured stream --

    fn write_stream_command(&mut self) {
        let op = self.draw_op();
        let market = self.rng.below(u64::from(self.markets)) as u32;
        let written = match op {
            Op::ReplaceMove | Op::ReplaceReduce | Op::ReplaceIncrease => {
                self.write_replace(op, market)
            }
            Op::NewGtc => self.write_new_passive(market, false),
            Op::NewPostOnly => self.write_new_passive(market, true),
            Op::CancelById => self.write_cancel(market, false),
            Op::CancelByClientId => self.write_cancel(market, true),
            Op::Ioc => self.write_immediate(market, TimeInForce::Ioc),
            Op::Fok => self.write_immediate(market, TimeInForce::Fok),
            Op::MassCancel => self.write_mass_cancel(market),
        };
        let op = if written {
            op
        } else {
            let placed = self.write_new_passive(market, false);
            assert!(placed, "a market always has a passive tick on some side");
            Op::NewGtc
        };
        self.op_counts[op.position()] += 1;
        self.ops.push(op);
    }

    fn draw_op(&mut self) -> Op {
        let mut draw = self.rng.below(u64::from(MIX_TOTAL)) as u32;
        for (op, weight) in MIX {
            if draw < weight {
                return op;
            }
            draw -= weight;
        }
        unreachable!("the weights sum to MIX_TOTAL")
    }

    fn random_resting(&mut self, market: u32) -> Option<Tracked> {
        let orders = &self.resting[market as usize];
        if orders.is_empty() {
            return None;
        }
        let index = self.rng.index(orders.len());
        Some(self.resting[market as usize][index])
    }

    fn write_replace(&mut self, op: Op, market: u32) -> bool {
        let Some(order) = self.random_resting(market) else {
            return false;
        };
        let (tick, stake_minor) = match op {
            Op::ReplaceMove => {
                let toward = self.rng.coin();
                let ladder_len = self.ladder.price_count();
                let book = self.book(market, order.selection);
                let tick = book.moved_tick(order.side, order.tick, toward, ladder_len);
                (tick, order.stake_minor)
            }
            Op::ReplaceReduce => {
                let percent = self.rng.between(50, 95) as i64;
                (order.tick, (order.stake_minor * percent / 100).max(1))
            }
            Op::ReplaceIncrease => {
                let extra = 1 + self.rng.below(order.stake_minor as u64) as i64;
                let stake_minor = (order.stake_minor + extra).min(MAKER_STAKE_MAX_MINOR);
                (order.tick, stake_minor.max(order.stake_minor))
            }
            other => unreachable!("{} is not a replace", other.name()),
        };
        self.write(Command::ReplaceOrder {
            account: order.account,
            market: market_id(market),
            order_id: order.id,
            odds_x100: self.ladder.odds(tick),
            stake_minor,
        });
        true
    }

    fn write_new_passive(&mut self, market: u32, post_only: bool) -> bool {
        let selection = self.rng.below(u64::from(SELECTIONS_PER_MARKET)) as u32;
        // Triangular offset 0..=6 behind the fair price: most orders near the touch.
        let offset = (self.rng.below(4) + self.rng.below(4)) as Tick;
        let first = if self.rng.coin() {
            Side::Back
        } else {
            Side::Lay
        };
        let ladder_len = self.ladder.price_count();
        for side in [first, first.opposite()] {
            let book = self.book(market, selection);
            if let Some(tick) = book.passive_tick(side, offset, ladder_len) {
                self.write_maker_order(market, selection, side, tick, post_only);
                return true;
            }
        }
        false
    }

    fn write_maker_order(
        &mut self,
        market: u32,
        selection: u32,
        side: Side,
        tick: Tick,
        post_only: bool,
    ) {
        let account = AccountId(1 + self.rng.below(u64::from(MAKERS)) as u32);
        let stake_minor =
            self.rng
                .between(MAKER_STAKE_MINOR.0 as u64, MAKER_STAKE_MINOR.1 as u64) as i64;
        self.write_place(
            account,
            market,
            selection,
            side,
            tick,
            stake_minor,
            TimeInForce::Gtc,
            post_only,
        );
    }

    fn write_cancel(&mut self, market: u32, by_client_order_id: bool) -> bool {
        let Some(order) = self.random_resting(market) else {
            return false;
        };
        // The engine remembers only the most recent client order ids; older orders are
        // cancelled by order id instead.
        let window = u64::from(self.config.client_order_id_window);
        let remembered = self.client_order_ids_used - order.client_order_id < window;
        let (order_id, client_order_id) = if by_client_order_id && remembered {
            (None, Some(order.client_order_id))
        } else {
            (Some(order.id), None)
        };
        self.write(Command::CancelOrder {
            account: order.account,
            market: market_id(market),
            order_id,
            client_order_id,
        });
        true
    }

    /// A taker order at the best opposite price, sized from that level's stake so that it
    /// fills one or a few makers (an IOC may also leave a remainder to cancel).
    fn write_immediate(&mut self, market: u32, tif: TimeInForce) -> bool {
        let selection = self.rng.below(u64::from(SELECTIONS_PER_MARKET)) as u32;
        let first = if self.rng.coin() {
            Side::Back
        } else {
            Side::Lay
        };
        for taker_side in [first, first.opposite()] {
            let book = self.book(market, selection);
            let touch = match taker_side {
                Side::Back => book.best_lay(),
                Side::Lay => book.best_back(),
            };
            let Some(tick) = touch else {
                continue;
            };
            let level_minor = book.level(taker_side.opposite(), tick).stake_minor;
            let percent = match tif {
                TimeInForce::Fok => self.rng.between(20, 100),
                _ => self.rng.between(30, 120),
            } as i64;
            let stake_minor = (level_minor * percent / 100).max(1);
            let account = AccountId(MAKERS + 1 + self.rng.below(u64::from(TAKERS)) as u32);
            self.write_place(
                account,
                market,
                selection,
                taker_side,
                tick,
                stake_minor,
                tif,
                false,
            );
            return true;
        }
        false
    }

    fn write_mass_cancel(&mut self, market: u32) -> bool {
        let Some(order) = self.random_resting(market) else {
            return false;
        };
        self.write(Command::MassCancel {
            account: order.account,
            market: Some(market_id(market)),
        });
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn write_place(
        &mut self,
        account: AccountId,
        market: u32,
        selection: u32,
        side: Side,
        tick: Tick,
        stake_minor: i64,
        tif: TimeInForce,
        post_only: bool,
    ) {
        let client_order_id = self.next_client_order_id;
        self.next_client_order_id += 1;
        self.write(Command::PlaceOrder {
            account,
            market: market_id(market),
            selection: selection_id(selection),
            side,
            odds_x100: self.ladder.odds(tick),
            stake_minor,
            tif,
            post_only,
            persistence: Persistence::Lapse,
            client_order_id,
        });
    }

    // -- following the shadow engine --

    /// Records a command, applies it to the shadow engine and updates the tracked orders
    /// from what the engine now holds.
    fn write(&mut self, command: Command) {
        self.ts_ns += TS_STEP_NS;
        let input = Input {
            ts_ns: self.ts_ns,
            command,
        };
        self.events.clear();
        self.engine.apply(&input, &mut self.events);
        self.written.push(input);
        self.touched.clear();
        let mut traded = false;
        let mut rejected = false;
        for event in &self.events {
            match *event {
                Event::OrderAccepted { order_id, .. } => {
                    self.client_order_ids_used += 1;
                    self.touched.push(order_id);
                }
                Event::OrderCancelled { order_id, .. } | Event::OrderReplaced { order_id, .. } => {
                    self.touched.push(order_id)
                }
                Event::Trade { maker_order_id, .. } => {
                    traded = true;
                    self.touched.push(maker_order_id);
                }
                Event::Rejected { .. } => rejected = true,
                _ => {}
            }
        }
        self.traded += u64::from(traded);
        self.rejected += u64::from(rejected);
        let mut touched = std::mem::take(&mut self.touched);
        for order_id in touched.drain(..) {
            self.refresh(order_id);
        }
        self.touched = touched;
    }

    /// Brings one order's tracking in line with the shadow engine.
    fn refresh(&mut self, order_id: OrderId) {
        self.forget(order_id);
        let Some(view) = self.engine.order(order_id) else {
            return;
        };
        let market = view.market.0 - 1;
        let tracked = Tracked {
            id: order_id,
            account: view.account,
            client_order_id: view.client_order_id,
            selection: view.selection.0 - 1,
            side: view.side,
            tick: self
                .ladder
                .tick(view.odds_x100)
                .expect("the engine holds ladder prices"),
            stake_minor: view.remaining_minor,
        };
        let level = &mut self
            .book_mut(market, tracked.selection)
            .side_mut(tracked.side)[usize::from(tracked.tick)];
        level.orders += 1;
        level.stake_minor += tracked.stake_minor;
        let orders = &mut self.resting[market as usize];
        let slot = usize::try_from(order_id.0).expect("order ids fit in usize");
        if self.position_of.len() <= slot {
            self.position_of.resize(slot + 1, None);
        }
        self.position_of[slot] = Some((market, orders.len() as u32));
        orders.push(tracked);
    }

    fn forget(&mut self, order_id: OrderId) {
        let slot = usize::try_from(order_id.0).expect("order ids fit in usize");
        let Some((market, position)) = self.position_of.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let orders = &mut self.resting[market as usize];
        let tracked = orders.swap_remove(position as usize);
        if let Some(moved) = orders.get(position as usize) {
            self.position_of[moved.id.0 as usize] = Some((market, position));
        }
        let level = &mut self
            .book_mut(market, tracked.selection)
            .side_mut(tracked.side)[usize::from(tracked.tick)];
        level.orders -= 1;
        level.stake_minor -= tracked.stake_minor;
    }

    fn book(&self, market: u32, selection: u32) -> &BookModel {
        &self.books[(market * SELECTIONS_PER_MARKET + selection) as usize]
    }

    fn book_mut(&mut self, market: u32, selection: u32) -> &mut BookModel {
        &mut self.books[(market * SELECTIONS_PER_MARKET + selection) as usize]
    }
}

/// Market `index` (from 0) of a workload.
fn market_id(index: u32) -> MarketId {
    MarketId(index + 1)
}

/// Selection `index` (from 0) of a market.
fn selection_id(index: u32) -> SelectionId {
    SelectionId(index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(markets: u32, commands: usize) -> Workload {
        generate(&WorkloadSpec {
            markets,
            commands,
            warmup: commands / 4,
            seed: 11,
        })
    }

    #[test]
    fn the_stream_follows_the_mix_without_rejects() {
        let workload = small(4, 40_000);
        assert_eq!(workload.rejected, 0);
        let commands = workload.stream.len() as f64;
        for (op, weight) in MIX {
            let expected = f64::from(weight) / f64::from(MIX_TOTAL);
            let actual = workload.op_counts[op.position()] as f64 / commands;
            assert!(
                (actual - expected).abs() < 0.01,
                "{}: {actual:.4} of commands, mix says {expected:.4}",
                op.name()
            );
        }
        let traded = workload.traded as f64 / commands;
        assert!(
            (0.05..0.07).contains(&traded),
            "{traded:.4} of commands traded"
        );
    }

    #[test]
    fn the_number_of_resting_orders_stays_near_the_setup() {
        let workload = generate(&WorkloadSpec {
            markets: 2,
            commands: 40_000,
            warmup: 0,
            seed: 5,
        });
        let start = f64::from(workload.resting_at_start);
        let end = f64::from(workload.resting_at_end);
        assert_eq!(
            start,
            f64::from(2 * SELECTIONS_PER_MARKET * 2 * RESTING_PER_SIDE)
        );
        assert!(
            (0.5 * start..1.5 * start).contains(&end),
            "{start} resting orders became {end}"
        );
    }

    #[test]
    fn ops_are_listed_in_declaration_order() {
        for (index, op) in Op::ALL.into_iter().enumerate() {
            assert_eq!(op.position(), index);
            assert_eq!(MIX[index].0, op);
        }
    }

    #[test]
    fn a_seed_fixes_the_workload() {
        let a = small(3, 2_000);
        let b = small(3, 2_000);
        assert_eq!(a.setup, b.setup);
        assert_eq!(a.stream, b.stream);
        let c = generate(&WorkloadSpec {
            markets: 3,
            commands: 2_000,
            warmup: 500,
            seed: 12,
        });
        assert_ne!(a.stream, c.stream);
    }
}
