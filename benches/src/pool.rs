//! The pool benchmark's workload: a seeded stream of pari-mutuel bets and cancelled bets.
//!
//! Every market is an eight-runner win pool with 15% takeout. The **setup** creates and funds
//! the bettors, creates and opens the markets, and seeds each pool with one large bet per runner
//! in proportion to [`RUNNER_WEIGHTS`] (as a house or tote liquidity provider would), then runs
//! `warmup` commands of the mix. The **stream** is the measured part: `commands` commands drawn
//! from [`POOL_MIX`], each for a market drawn uniformly: mostly new bets from a random bettor on
//! a runner drawn by its weight, and some cancels of a random live bet of the market.
//!
//! The seed keeps the circuit breaker quiet, as a well-funded pool does: each market's
//! `circuit_breaker_min_pool` is the seed's total, so the breaker starts watching the
//! indicative odds when the seed is complete, and the seed is large beside the bets (the
//! smallest runner's pool is 4,000,000 minor units, a bet at most 20,000), so that the random
//! flow of bets does not move a runner's odds anywhere near the breaker's 30% within its
//! one-second window (a seed a tenth of the size did, early in the stream). The breaker still
//! watches every bet.
//!
//! As for the exchange mix, the generator applies every command to a shadow [`Engine`] and
//! reads the bet ids from its answers, so that a replay produces exactly the events it saw.

use oddsmatch_engine::{
    AccountId, Command, Engine, EngineConfig, Event, Input, MAX_AMOUNT_MINOR, MarketId, MarketKind,
    MarketSpec, OrderId, SelectionId, Tier,
};

use crate::measure::StreamOp;
use crate::rng::Rng;
use crate::workload::{DEPOSIT_MINOR, TS_STEP_NS, WorkloadSpec};

/// Runners per pool.
pub const SELECTIONS_PER_POOL: u32 = 8;
/// How the money divides between the runners, per 100: the favourite draws 30% of the bets,
/// the outsider 4%. Bets pick their runner with these weights and the seed follows them.
pub const RUNNER_WEIGHTS: [u32; SELECTIONS_PER_POOL as usize] = [30, 20, 15, 10, 10, 6, 5, 4];
/// Accounts that bet, shared by all markets (`pro` tier).
pub const BETTORS: u32 = 1_000;
/// The account that seeds every pool (`market_maker` tier, funded with the largest deposit).
pub const SEEDER: AccountId = AccountId(BETTORS + 1);
/// Smallest and largest stake of a bet, in minor units (2.00 to 200.00).
pub const BET_STAKE_MINOR: (i64, i64) = (200, 20_000);
/// The seed bet on a runner is its weight times this, in minor units.
pub const SEED_STAKE_PER_WEIGHT_MINOR: i64 = 1_000_000;
/// A market's pool after the seed, in minor units (1,000,000.00); also its
/// `circuit_breaker_min_pool`.
pub const SEED_POOL_MINOR: i64 = 100 * SEED_STAKE_PER_WEIGHT_MINOR;
/// The house's share of every pool, in basis points.
pub const TAKEOUT_BPS: u16 = 1_500;

const _: () = {
    let mut sum = 0;
    let mut i = 0;
    while i < RUNNER_WEIGHTS.len() {
        sum += RUNNER_WEIGHTS[i];
        i += 1;
    }
    assert!(sum == 100);
};

/// One kind of command in the pool stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolOp {
    /// A bettor's new bet on a runner drawn by [`RUNNER_WEIGHTS`], stake uniform in
    /// [`BET_STAKE_MINOR`].
    PlaceBet,
    /// Cancel a random live bet of the market (not a seed bet).
    CancelBet,
}

impl PoolOp {
    /// Every op, in the order of [`POOL_MIX`].
    pub const ALL: [PoolOp; 2] = [PoolOp::PlaceBet, PoolOp::CancelBet];

    /// The op's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            PoolOp::PlaceBet => "place_bet",
            PoolOp::CancelBet => "cancel_bet",
        }
    }
}

impl StreamOp for PoolOp {
    const COUNT: usize = PoolOp::ALL.len();
    fn position(self) -> usize {
        self as usize
    }
}

/// The measured mix, in commands per 10,000: nine bets for every cancel.
pub const POOL_MIX: [(PoolOp, u32); 2] = [(PoolOp::PlaceBet, 9_000), (PoolOp::CancelBet, 1_000)];

/// A generated pool workload and what the generator saw while writing it.
#[derive(Clone, Debug)]
pub struct PoolWorkload {
    /// What it was generated from.
    pub spec: WorkloadSpec,
    /// The engine capacities to replay it with.
    pub config: EngineConfig,
    /// Accounts, deposits, markets, the seed bets and the warm-up commands.
    pub setup: Vec<Input>,
    /// The measured commands.
    pub stream: Vec<Input>,
    /// The op of each measured command.
    pub stream_ops: Vec<PoolOp>,
    /// Commands of each op in the stream, in the order of [`PoolOp::ALL`]. A cancel on a
    /// market without a live bet was written as a bet instead.
    pub op_counts: [u64; PoolOp::ALL.len()],
    /// Stream commands that were rejected (expected: none).
    pub rejected: u64,
    /// Circuit breaker trips in the stream (expected: none).
    pub breaker_trips: u64,
    /// Live bettors' bets when the stream starts (seed bets not counted).
    pub live_bets_at_start: u64,
    /// Live bettors' bets when the stream ends.
    pub live_bets_at_end: u64,
}

/// Generates the pool workload of `spec`.
pub fn generate(spec: &WorkloadSpec) -> PoolWorkload {
    assert!(spec.markets >= 1, "a workload has at least one market");
    let config = EngineConfig::default();
    let mut generator = PoolGenerator::new(spec, config.clone());
    generator.write_setup();
    for _ in 0..spec.warmup {
        generator.write_stream_command();
    }
    assert_eq!(
        (generator.rejected, generator.breaker_trips),
        (0, 0),
        "the setup and warm-up of a pool workload must run without rejects or breaker trips"
    );
    let setup = std::mem::take(&mut generator.written);
    let live_bets_at_start = generator.live_bets();
    generator.op_counts = [0; PoolOp::ALL.len()];
    generator.ops.clear();
    generator.written.reserve(spec.commands);
    for _ in 0..spec.commands {
        generator.write_stream_command();
    }
    PoolWorkload {
        spec: spec.clone(),
        config,
        setup,
        live_bets_at_end: generator.live_bets(),
        stream: generator.written,
        stream_ops: generator.ops,
        op_counts: generator.op_counts,
        rejected: generator.rejected,
        breaker_trips: generator.breaker_trips,
        live_bets_at_start,
    }
}

/// Writes commands and follows their effect on a shadow engine.
struct PoolGenerator {
    rng: Rng,
    markets: u32,
    engine: Engine,
    events: Vec<Event>,
    written: Vec<Input>,
    ts_ns: u64,
    next_client_order_id: u64,
    /// The live bettors' bets of each market: (bet id, owner).
    live: Vec<Vec<(OrderId, AccountId)>>,
    op_counts: [u64; PoolOp::ALL.len()],
    ops: Vec<PoolOp>,
    rejected: u64,
    breaker_trips: u64,
}

impl PoolGenerator {
    fn new(spec: &WorkloadSpec, config: EngineConfig) -> PoolGenerator {
        PoolGenerator {
            // A stream of its own: the same seed gives the exchange mix and the pools
            // unrelated draws.
            rng: Rng::new(spec.seed ^ 0x706f_6f6c),
            markets: spec.markets,
            engine: Engine::new(config),
            events: Vec::with_capacity(1_024),
            written: Vec::new(),
            ts_ns: 0,
            next_client_order_id: 1,
            live: vec![Vec::new(); spec.markets as usize],
            op_counts: [0; PoolOp::ALL.len()],
            ops: Vec::with_capacity(spec.commands.max(spec.warmup)),
            rejected: 0,
            breaker_trips: 0,
        }
    }

    fn write_setup(&mut self) {
        for account in 1..=SEEDER.0 {
            let (tier, amount_minor) = if AccountId(account) == SEEDER {
                (Tier::MarketMaker, MAX_AMOUNT_MINOR)
            } else {
                (Tier::Pro, DEPOSIT_MINOR)
            };
            self.write(Command::create_account(AccountId(account), tier));
            self.write(Command::Deposit {
                account: AccountId(account),
                amount_minor,
                transfer_id: u64::from(account),
            });
        }
        for market in 0..self.markets {
            self.write(Command::create_market(MarketSpec {
                market: market_id(market),
                kind: MarketKind::Pool,
                selections: (0..SELECTIONS_PER_POOL).map(selection_id).collect(),
                takeout_bps: TAKEOUT_BPS,
                circuit_breaker_min_pool_minor: Some(SEED_POOL_MINOR),
                ..MarketSpec::default()
            }));
            self.write(Command::OpenMarket {
                market: market_id(market),
            });
        }
        for market in 0..self.markets {
            for (selection, weight) in (0..SELECTIONS_PER_POOL).zip(RUNNER_WEIGHTS) {
                let stake_minor = i64::from(weight) * SEED_STAKE_PER_WEIGHT_MINOR;
                self.write_bet(SEEDER, market, selection, stake_minor);
            }
        }
        // The seed bets are not the bettors' and are never cancelled.
        for bets in &mut self.live {
            bets.clear();
        }
    }

    fn write_stream_command(&mut self) {
        let op = self.draw_op();
        let market = self.rng.below(u64::from(self.markets)) as u32;
        let op = match op {
            PoolOp::CancelBet if !self.live[market as usize].is_empty() => {
                let bets = &mut self.live[market as usize];
                let (bet_id, account) = bets.swap_remove(self.rng.index(bets.len()));
                self.write(Command::CancelBet {
                    account,
                    market: market_id(market),
                    bet_id,
                });
                PoolOp::CancelBet
            }
            _ => {
                let account = AccountId(1 + self.rng.below(u64::from(BETTORS)) as u32);
                let selection = self.draw_runner();
                let stake_minor = self
                    .rng
                    .between(BET_STAKE_MINOR.0 as u64, BET_STAKE_MINOR.1 as u64)
                    as i64;
                self.write_bet(account, market, selection, stake_minor);
                PoolOp::PlaceBet
            }
        };
        self.op_counts[op.position()] += 1;
        self.ops.push(op);
    }

    fn draw_op(&mut self) -> PoolOp {
        let mut draw = self.rng.below(10_000) as u32;
        for (op, weight) in POOL_MIX {
            if draw < weight {
                return op;
            }
            draw -= weight;
        }
        unreachable!("the weights sum to 10,000")
    }

    fn draw_runner(&mut self) -> u32 {
        let mut draw = self.rng.below(100) as u32;
        for (selection, weight) in (0..SELECTIONS_PER_POOL).zip(RUNNER_WEIGHTS) {
            if draw < weight {
                return selection;
            }
            draw -= weight;
        }
        unreachable!("the weights sum to 100")
    }

    fn write_bet(&mut self, account: AccountId, market: u32, selection: u32, stake_minor: i64) {
        let client_order_id = self.next_client_order_id;
        self.next_client_order_id += 1;
        self.write(Command::PlaceBet {
            account,
            market: market_id(market),
            selection: selection_id(selection),
            stake_minor,
            client_order_id,
        });
    }

    /// Records a command, applies it to the shadow engine and notes the bets it accepted.
    fn write(&mut self, command: Command) {
        self.ts_ns += TS_STEP_NS;
        let input = Input {
            ts_ns: self.ts_ns,
            command,
        };
        self.events.clear();
        self.engine.apply(&input, &mut self.events);
        self.written.push(input);
        let mut rejected = false;
        for event in &self.events {
            match *event {
                Event::BetAccepted {
                    bet_id,
                    account,
                    market,
                    ..
                } => self.live[(market.0 - 1) as usize].push((bet_id, account)),
                Event::Rejected { .. } => rejected = true,
                Event::CircuitBreakerTripped { .. } => self.breaker_trips += 1,
                _ => {}
            }
        }
        self.rejected += u64::from(rejected);
    }

    fn live_bets(&self) -> u64 {
        self.live.iter().map(|bets| bets.len() as u64).sum()
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

    fn small(markets: u32, commands: usize, seed: u64) -> PoolWorkload {
        generate(&WorkloadSpec {
            markets,
            commands,
            warmup: commands / 4,
            seed,
        })
    }

    #[test]
    fn the_stream_follows_the_mix_without_rejects_or_trips() {
        let workload = small(3, 20_000, 4);
        assert_eq!((workload.rejected, workload.breaker_trips), (0, 0));
        let cancels = workload.op_counts[PoolOp::CancelBet.position()] as f64;
        let share = cancels / workload.stream.len() as f64;
        assert!((share - 0.1).abs() < 0.01, "{share:.4} of commands cancel");
        assert!(workload.live_bets_at_end > workload.live_bets_at_start);
    }

    #[test]
    fn a_seed_fixes_the_workload() {
        let a = small(2, 1_000, 7);
        let b = small(2, 1_000, 7);
        assert_eq!(a.setup, b.setup);
        assert_eq!(a.stream, b.stream);
        assert_ne!(a.stream, small(2, 1_000, 8).stream);
    }
}
