//! Deterministic random command streams, for tests and benchmarks of everything that carries
//! engine inputs (the journal, the shard loop, replay, recovery).
//!
//! A stream exercises most of the engine: exchange markets with odds ticks and an in-play
//! delay, a pool, a market resolved by vote, a reference feed, orders, cancels, replaces, mass
//! quotes, bets, votes, timers, suspensions, transfers, API keys and their rotation, operators
//! changing limits, knobs and schedules (locks that fall due mid-stream), and at the end
//! settlement. Many
//! commands are rejected on purpose (unknown orders, stakes over a limit): rejections are
//! events too and must replay exactly like the rest.

use crate::command::{Command, Input, MarketKnobs, MarketSpec, Quote, Resolution};
use crate::types::{
    AccountId, ApiSecret, MarketId, MarketKind, OrderId, Persistence, Role, SelectionId,
    SelfTradePrevention, Side, Tier, TimeInForce,
};

/// Odds on the default ladder that most orders use.
const ODDS: [u32; 12] = [150, 160, 200, 210, 250, 300, 320, 400, 450, 500, 600, 1000];
const TRADERS: u32 = 20;
const FEED: AccountId = AccountId(1_000);
const EXCHANGES: u32 = 3;
const POOL: MarketId = MarketId(4);
const VOTE: MarketId = MarketId(5);
const SELECTIONS: u32 = 4;
/// API key ids are this plus the account id at setup; rotations draw from twice as many, so
/// that some collide with another account's key.
const KEY_IDS: u64 = 5_000;

/// A small, fast, seeded generator (xorshift64*); the same seed gives the same stream.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() >> 32) * n) >> 32
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Generates random streams of engine inputs.
#[derive(Clone, Debug)]
pub struct StreamGen {
    rng: Rng,
    ts_ns: u64,
    next_client_order_id: u64,
    next_transfer_id: u64,
}

impl StreamGen {
    /// A generator from `seed`, starting at time `start_ns`.
    pub fn new(seed: u64, start_ns: u64) -> Self {
        StreamGen {
            rng: Rng::new(seed),
            ts_ns: start_ns,
            next_client_order_id: 1,
            next_transfer_id: 1,
        }
    }

    /// The time of the last input generated.
    pub fn now(&self) -> u64 {
        self.ts_ns
    }

    fn input(&mut self, command: Command) -> Input {
        self.ts_ns += 1 + self.rng.below(2_000_000);
        Input {
            ts_ns: self.ts_ns,
            command,
        }
    }

    /// Accounts, deposits, and five open markets: three exchanges (the second with an in-play
    /// delay), a pool and a market resolved by vote.
    pub fn setup(&mut self) -> Vec<Input> {
        let mut commands = Vec::new();
        for n in 1..=TRADERS {
            commands.push(Command::create_account(AccountId(n), Tier::Pro));
            commands.push(Command::Deposit {
                account: AccountId(n),
                amount_minor: 1_000_000_000,
                transfer_id: self.transfer_id(),
            });
        }
        let mut feed = Command::create_account(FEED, Tier::Basic);
        if let Command::CreateAccount { role, .. } = &mut feed {
            *role = Role::Feed;
        }
        commands.push(feed);
        for account in (1..=TRADERS).map(AccountId).chain([FEED]) {
            commands.push(Command::SetApiKey {
                account,
                key_id: KEY_IDS + u64::from(account.0),
                secret: self.secret(),
            });
        }
        let selections: Vec<SelectionId> = (1..=SELECTIONS).map(SelectionId).collect();
        for n in 1..=EXCHANGES {
            let mut spec = MarketSpec::new(MarketId(n), selections.clone());
            spec.market_data = Some(true);
            if n == 2 {
                spec.bet_delay_ms = 5;
            }
            // The feed's random odds trip the first market's breaker now and then (an
            // operator resumes it); the others are less sensitive.
            if n != 1 {
                spec.circuit_breaker_bps = Some(5_000);
            }
            commands.push(Command::create_market(spec));
        }
        let mut pool = MarketSpec::new(POOL, selections.clone());
        pool.kind = MarketKind::Pool;
        pool.takeout_bps = 1_500;
        pool.market_data = Some(true);
        pool.circuit_breaker_bps = Some(5_000);
        commands.push(Command::create_market(pool));
        let mut vote = MarketSpec::new(VOTE, selections.clone());
        vote.resolution = Some(Resolution::Vote {
            window_start: 0,
            window_end: u64::MAX - 1,
            quorum: 3,
            threshold_bps: 5_000,
            weight: Default::default(),
        });
        commands.push(Command::create_market(vote));
        for n in 1..=5 {
            commands.push(Command::OpenMarket {
                market: MarketId(n),
            });
        }
        commands.into_iter().map(|c| self.input(c)).collect()
    }

    /// `count` random trading inputs (run after [`StreamGen::setup`]).
    pub fn commands(&mut self, count: usize) -> Vec<Input> {
        (0..count)
            .map(|_| {
                let command = self.command();
                self.input(command)
            })
            .collect()
    }

    /// Closes and settles every market.
    pub fn finale(&mut self) -> Vec<Input> {
        let mut commands = Vec::new();
        for n in 1..=5 {
            commands.push(Command::CloseMarket {
                market: MarketId(n),
            });
        }
        for n in 1..=4 {
            commands.push(Command::SettleMarket {
                market: MarketId(n),
                winners: vec![SelectionId(1 + self.rng.below(SELECTIONS as u64) as u32)],
            });
        }
        commands.push(Command::Balances {});
        commands.into_iter().map(|c| self.input(c)).collect()
    }

    /// Setup, `count` random commands and the finale.
    pub fn stream(seed: u64, count: usize) -> Vec<Input> {
        let mut generator = StreamGen::new(seed, 1_700_000_000_000_000_000);
        let mut inputs = generator.setup();
        inputs.extend(generator.commands(count));
        inputs.extend(generator.finale());
        inputs
    }

    fn transfer_id(&mut self) -> u64 {
        self.next_transfer_id += 1;
        self.next_transfer_id
    }

    fn account(&mut self) -> AccountId {
        AccountId(1 + self.rng.below(u64::from(TRADERS)) as u32)
    }

    fn exchange(&mut self) -> MarketId {
        MarketId(1 + self.rng.below(u64::from(EXCHANGES)) as u32)
    }

    fn selection(&mut self) -> SelectionId {
        SelectionId(1 + self.rng.below(SELECTIONS as u64) as u32)
    }

    fn odds(&mut self) -> u32 {
        ODDS[self.rng.below(ODDS.len() as u64) as usize]
    }

    fn stake(&mut self) -> i64 {
        // Now and then over the Pro tier's largest stake, to be rejected.
        if self.rng.percent(2) {
            20_000_000
        } else {
            100 + self.rng.below(50_000) as i64
        }
    }

    fn secret(&mut self) -> ApiSecret {
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.rng.next_u64().to_le_bytes());
        }
        ApiSecret(bytes)
    }

    fn earlier_client_order_id(&mut self) -> u64 {
        1 + self.rng.below(self.next_client_order_id)
    }

    /// An operator's change to a live account or market: limits, knobs or a schedule. Some
    /// are refused (out of range, in the past); a lock set here falls due a few inputs later
    /// and suspends its market until a random `resume_market` reopens it.
    fn operator_change(&mut self) -> Command {
        match self.rng.below(3) {
            0 => {
                // Mostly the setup's PRO limits again, now and then a low open-order limit
                // (the account's orders stay; new ones are refused until it is under), a
                // different self-trade prevention, or limits out of range.
                let (max_open_orders, min_stake_minor) = match self.rng.below(10) {
                    0..=2 => (Some(1 + self.rng.below(5) as u32), None),
                    3 => (None, Some(20_000_000)),
                    _ => (None, None),
                };
                Command::SetAccountLimits {
                    account: self.account(),
                    tier: Tier::Pro,
                    min_stake_minor,
                    max_stake_minor: None,
                    max_market_exposure_minor: None,
                    max_open_orders,
                    stp: self
                        .rng
                        .percent(30)
                        .then_some(SelfTradePrevention::CancelBoth),
                }
            }
            1 => {
                let market = if self.rng.percent(20) {
                    POOL
                } else {
                    self.exchange()
                };
                let mut knobs = MarketKnobs::new(market);
                match self.rng.below(6) {
                    0 => knobs.odds_change_threshold_bps = Some(100 + self.rng.below(401) as u16),
                    1 => knobs.odds_tick_interval_ms = Some(100 + self.rng.below(401) as u32),
                    2 => knobs.odds_heartbeat_ms = Some(500 + self.rng.below(2_000) as u32),
                    // The delayed market's delay changes while orders wait; the pool refuses
                    // any but 0.
                    3 => {
                        if market != POOL {
                            knobs.market = MarketId(2);
                        }
                        knobs.bet_delay_ms = Some(self.rng.below(8) as u32);
                    }
                    4 => {
                        knobs.circuit_breaker_bps = Some(2_000 + self.rng.below(3_001) as u16);
                        knobs.circuit_breaker_window_ms = Some(100 + self.rng.below(2_000) as u32);
                    }
                    // Limits above most stakes (0 removes them), a band wide enough for the
                    // feed's odds, now and then a value out of range.
                    _ => {
                        knobs.max_bet_minor = Some(match self.rng.below(10) {
                            0..=4 => 0,
                            5 => -1,
                            _ => 40_000 + self.rng.below(20_000) as i64,
                        });
                        knobs.price_band_bps = Some(if self.rng.percent(50) { 0 } else { 5_000 });
                    }
                }
                Command::set_market_knobs(knobs)
            }
            _ => {
                let market = self.exchange();
                let mut command = Command::schedule_market(market);
                if let Command::ScheduleMarket {
                    lock_at,
                    end_at,
                    close_at,
                    clear_lock,
                    ..
                } = &mut command
                {
                    // The next input comes at most 2 ms after the last one.
                    let later = self.ts_ns + 2_000_001;
                    let hour = 3_600_000_000_000;
                    match self.rng.below(5) {
                        // Falls due within a few inputs.
                        0 => *lock_at = Some(later + self.rng.below(20_000_000)),
                        // Moved, set or cleared again before it falls due.
                        1 => *lock_at = Some(later + hour + self.rng.below(20_000_000)),
                        2 => *end_at = Some(later + hour + self.rng.below(20_000_000)),
                        3 => *close_at = Some(later + hour),
                        // In the past: refused.
                        _ if self.rng.percent(50) => *lock_at = Some(self.ts_ns),
                        _ => *clear_lock = true,
                    }
                }
                command
            }
        }
    }

    fn command(&mut self) -> Command {
        let roll = self.rng.below(100);
        match roll {
            0..=39 => {
                self.next_client_order_id += 1;
                let tif = match self.rng.below(10) {
                    0 => TimeInForce::Ioc,
                    1 => TimeInForce::Fok,
                    _ => TimeInForce::Gtc,
                };
                Command::PlaceOrder {
                    account: self.account(),
                    market: self.exchange(),
                    selection: self.selection(),
                    side: if self.rng.percent(50) {
                        Side::Back
                    } else {
                        Side::Lay
                    },
                    odds_x100: self.odds(),
                    stake_minor: self.stake(),
                    tif,
                    post_only: self.rng.percent(5),
                    persistence: if self.rng.percent(10) {
                        Persistence::Persist
                    } else {
                        Persistence::Lapse
                    },
                    client_order_id: self.next_client_order_id,
                }
            }
            40..=54 => Command::CancelOrder {
                account: self.account(),
                market: self.exchange(),
                order_id: None,
                client_order_id: Some(self.earlier_client_order_id()),
            },
            55..=59 => Command::ReplaceOrder {
                account: self.account(),
                market: self.exchange(),
                order_id: OrderId(1 + self.rng.below(self.next_client_order_id)),
                odds_x100: self.odds(),
                stake_minor: self.stake(),
            },
            60..=63 => {
                let quotes = (1..=SELECTIONS)
                    .map(|selection| Quote {
                        selection: SelectionId(selection),
                        back_odds_x100: Some(self.odds()),
                        back_stake_minor: Some(self.stake()),
                        lay_odds_x100: Some(self.odds()),
                        lay_stake_minor: Some(self.stake()),
                    })
                    .collect();
                Command::MassQuote {
                    account: self.account(),
                    market: self.exchange(),
                    quotes,
                }
            }
            64..=73 => {
                self.next_client_order_id += 1;
                Command::PlaceBet {
                    account: self.account(),
                    market: POOL,
                    selection: self.selection(),
                    stake_minor: self.stake(),
                    client_order_id: self.next_client_order_id,
                }
            }
            74..=76 => Command::CancelBet {
                account: self.account(),
                market: POOL,
                bet_id: OrderId(1 + self.rng.below(self.next_client_order_id)),
            },
            77..=81 => {
                // Around even chances, now and then a big move.
                let swing = if self.rng.percent(1) { 2_000 } else { 300 };
                let mut left = 10_000u16;
                let mut probabilities = Vec::new();
                for n in 0..SELECTIONS {
                    let share = if n + 1 == SELECTIONS {
                        left
                    } else {
                        let even = 10_000 / SELECTIONS as u16;
                        let jitter = self.rng.below(swing) as u16;
                        (even - (swing as u16) / 2 + jitter).min(left)
                    };
                    left -= share;
                    probabilities.push(share);
                }
                Command::ReferenceOdds {
                    account: FEED,
                    market: self.exchange(),
                    probabilities_bps: probabilities,
                }
            }
            82..=84 => Command::Vote {
                account: self.account(),
                market: VOTE,
                selection: self.selection(),
            },
            85..=91 => Command::Timer {},
            92 if self.rng.percent(50) => Command::SuspendMarket {
                market: self.exchange(),
            },
            92..=94 => Command::ResumeMarket {
                market: MarketId(1 + self.rng.below(4) as u32),
            },
            95 if self.rng.percent(60) => Command::MassCancel {
                account: self.account(),
                market: Some(self.exchange()),
            },
            95 => self.operator_change(),
            96 if self.rng.percent(50) => Command::SetApiKey {
                account: self.account(),
                key_id: KEY_IDS + 1 + self.rng.below(2 * u64::from(TRADERS)),
                secret: self.secret(),
            },
            96..=97 => Command::Deposit {
                account: self.account(),
                amount_minor: 1 + self.rng.below(1_000_000) as i64,
                transfer_id: self.transfer_id(),
            },
            _ => Command::Withdraw {
                account: self.account(),
                amount_minor: 1 + self.rng.below(1_000_000) as i64,
                transfer_id: self.transfer_id(),
            },
        }
    }
}
