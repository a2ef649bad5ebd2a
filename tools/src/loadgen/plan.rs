//! The customers' load tests as plans: the markets, the accounts, what every simulated user
//! sends and how often, the subscribers, and the operator's scheduled work. Each scenario is
//! shaped like the customer's document (`REQUIREMENTS.md`); `docs/loadgen.md` describes them.
//!
//! `scale` multiplies the counts of users, subscribers, markets created, votes and deposits
//! (and so the total rates); a user's own rate stays the customer's, because it is what the
//! account tiers' limits are about.

use std::time::Duration;

use oddsmatch_net::gateway::ThrottleConfig;
use oddsmatch_net::proto::md::Streams;

/// Every scenario, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Scenario {
    /// §1 A: one race pool, 50 subscribers, 20 bettors at 2 bets/s and 0.5 cancels/s,
    /// telemetry 5/s.
    LiveA,
    /// §1 B: one race pool at peak: 200 subscribers, 50 bettors at 10 bets/s (over the
    /// account limit: throttled), 2 cancels/s, repeated client order ids, telemetry 10/s.
    LiveB,
    /// §1 C: five race pools with staggered starts, 30 subscribers and 10 bettors each.
    LiveC,
    /// §2: 1,000 users (500 reading, 300 trading, 150 voting, 50 markets created), 500
    /// subscribers on the book.
    PredictionPeak,
    /// §2: 10,000 votes on a market resolved by vote, then 5,000 claims paid at resolution.
    VoteFlood,
    /// §2: 50 markets created and opened while bettors trade on them.
    MarketCreationSpike,
    /// §3: paid votes at 200/s with idempotency keys, reads, live updates; ledger checked.
    VotingSpike,
    /// §3: deposits, each payment notice replayed; every deposit credited exactly once.
    LedgerReplay,
    /// §3: 10,000 subscribers on one market updated at 2 Hz.
    #[value(name = "fanout-10k")]
    Fanout10k,
    /// §4: the payment gateway's baseline, 11.6 transactions/s.
    GatewayBaseline,
    /// §4: the 20x burst with headroom: 250 transactions/s for the whole window.
    GatewaySpike,
    /// §5: 2,000 orders/s and 200 trades/s on the dark pool's books.
    DarkpoolSustained,
    /// §5: 5,000 orders/s and 500 trades/s.
    DarkpoolPeak,
}

impl Scenario {
    /// The name on the command line and in the summary.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::LiveA => "live-a",
            Scenario::LiveB => "live-b",
            Scenario::LiveC => "live-c",
            Scenario::PredictionPeak => "prediction-peak",
            Scenario::VoteFlood => "vote-flood",
            Scenario::MarketCreationSpike => "market-creation-spike",
            Scenario::VotingSpike => "voting-spike",
            Scenario::LedgerReplay => "ledger-replay",
            Scenario::Fanout10k => "fanout-10k",
            Scenario::GatewayBaseline => "gateway-baseline",
            Scenario::GatewaySpike => "gateway-spike",
            Scenario::DarkpoolSustained => "darkpool-sustained",
            Scenario::DarkpoolPeak => "darkpool-peak",
        }
    }

    /// The customer's duration of the load.
    pub(crate) fn default_duration(self) -> Duration {
        Duration::from_secs(match self {
            Scenario::LiveA | Scenario::LiveB | Scenario::LiveC | Scenario::Fanout10k => 30,
            Scenario::VoteFlood => 600,
            Scenario::MarketCreationSpike => 300,
            _ => 60,
        })
    }
}

/// A market the scenario uses.
#[derive(Clone, Debug)]
pub(super) struct MarketPlan {
    /// Its id.
    pub(super) id: u32,
    /// A pool (else an exchange).
    pub(super) pool: bool,
    /// Selection ids 1..=selections.
    pub(super) selections: u32,
    /// Created and opened this far into the run (zero: before the load starts).
    pub(super) open_at: Duration,
    /// A race: it ends (and is settled) this far into the run and locks 3 s before.
    pub(super) race_end: Option<Duration>,
    /// Resolved by vote in this window of the run.
    pub(super) vote_window: Option<(Duration, Duration)>,
    /// Created by the operator during the load (measured as `create_market`).
    pub(super) created_live: bool,
}

/// An account to set up.
#[derive(Clone, Debug)]
pub(super) struct AccountPlan {
    /// Its id (also its API key's id).
    pub(super) id: u32,
    /// `free`, `basic`, `pro` or `market_maker`.
    pub(super) tier: &'static str,
    /// `trader` or `feed`.
    pub(super) role: &'static str,
    /// Minor units deposited at setup.
    pub(super) deposit: i64,
}

/// What a user sends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Action {
    /// A pool bet; `repeat` of them resend an earlier bet's client order id.
    Bet {
        /// Share of the sends that repeat an earlier client order id.
        repeat: f64,
    },
    /// A pool bet counted as a paid vote (`vote`).
    PaidVote {
        /// Share of the sends that repeat an earlier idempotency key.
        repeat: f64,
    },
    /// Take back the oldest bet still standing.
    CancelBet,
    /// An exchange order: resting, or with probability `aggressive` an IOC that crosses.
    Order {
        /// Share of IOC orders that cross the book.
        aggressive: f64,
    },
    /// Cancel the oldest resting order.
    CancelOrder,
    /// A vote on the market's vote window.
    Vote,
    /// A read: balance, positions or open orders in turn.
    Query,
    /// Reference odds from the feed (a random walk).
    Telemetry,
    /// A mass quote that moves the best price (one odds tick each).
    Quote,
}

/// A stream of sends at a steady rate within a window of the run.
#[derive(Clone, Copy, Debug)]
pub(super) struct StreamPlan {
    /// What.
    pub(super) action: Action,
    /// Sends per second.
    pub(super) per_s: f64,
    /// From this far into the run.
    pub(super) from: Duration,
    /// Until this far (exclusive).
    pub(super) until: Duration,
}

/// One simulated user on order entry.
#[derive(Clone, Debug)]
pub(super) struct UserPlan {
    /// The account (key id = account id).
    pub(super) account: u32,
    /// The markets it acts on (one chosen at random per send).
    pub(super) markets: Vec<u32>,
    /// Its streams.
    pub(super) streams: Vec<StreamPlan>,
    /// A probe of the tier limits: its throttled answers are expected, not failures.
    pub(super) probe: bool,
}

/// One market-data subscriber.
#[derive(Clone, Debug)]
pub(super) struct SubscriberPlan {
    /// The markets.
    pub(super) markets: Vec<u32>,
    /// The streams.
    pub(super) streams: Streams,
    /// Log in as this account first (the book and trades streams need it).
    pub(super) login: Option<u32>,
}

/// Deposits over the admin socket, each payment notice sent again later.
#[derive(Clone, Copy, Debug)]
pub(super) struct DepositPlan {
    /// Deposits per second.
    pub(super) per_s: f64,
    /// The accounts credited in turn (`first..first + accounts`).
    pub(super) first_account: u32,
    /// How many accounts.
    pub(super) accounts: u32,
    /// Each notice is replayed this many times.
    pub(super) replays: u32,
}

/// A whole scenario.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    /// Which.
    pub(super) scenario: Scenario,
    /// The load window (sends stop at its end; settlement and draining follow).
    pub(super) duration: Duration,
    /// The markets.
    pub(super) markets: Vec<MarketPlan>,
    /// The accounts.
    pub(super) accounts: Vec<AccountPlan>,
    /// The users.
    pub(super) users: Vec<UserPlan>,
    /// The subscribers.
    pub(super) subscribers: Vec<SubscriberPlan>,
    /// Deposits during the load.
    pub(super) deposits: Option<DepositPlan>,
    /// Throttle limits of an embedded node (the customer's).
    pub(super) throttle: ThrottleConfig,
    /// Every subscriber must get every tick (else a share is allowed to be missed).
    pub(super) every_tick: bool,
    /// Some requests must be throttled (the scenario exceeds the tier on purpose).
    pub(super) expect_throttling: bool,
}

/// Money every trading account starts with, minor units.
pub(super) const DEPOSIT: i64 = 1_000_000_000;
/// The feed account of race scenarios and the quoter of fan-out.
const FEED: u32 = 10;
/// The first user account.
const FIRST_USER: u32 = 1_000;
/// Lock before a race's end (the customer's default).
pub(super) const LOCK_BEFORE: Duration = Duration::from_millis(3_000);
/// Bettors stop this long before the lock (they see the countdown).
const BET_MARGIN: Duration = Duration::from_millis(200);

fn scaled(count: u32, scale: f64) -> u32 {
    ((f64::from(count) * scale).round() as u32).max(1)
}

/// Builds accounts and users.
struct Builder {
    plan: Plan,
    next_account: u32,
}

impl Builder {
    fn account(&mut self, tier: &'static str, role: &'static str) -> u32 {
        let id = self.next_account;
        self.next_account += 1;
        self.plan.accounts.push(AccountPlan {
            id,
            tier,
            role,
            deposit: if role == "trader" { DEPOSIT } else { 0 },
        });
        id
    }

    fn user(&mut self, tier: &'static str, markets: Vec<u32>, streams: Vec<StreamPlan>) -> u32 {
        let account = self.account(tier, "trader");
        self.plan.users.push(UserPlan {
            account,
            markets,
            streams,
            probe: false,
        });
        account
    }

    fn subscribers(&mut self, count: u32, markets: &[u32], streams: Streams, login: bool) {
        for i in 0..count {
            let login = login.then(|| {
                let accounts: Vec<u32> = self.plan.users.iter().map(|u| u.account).collect();
                accounts[i as usize % accounts.len().max(1)]
            });
            self.plan.subscribers.push(SubscriberPlan {
                markets: markets.to_vec(),
                streams,
                login,
            });
        }
    }
}

fn stream(action: Action, per_s: f64, from: Duration, until: Duration) -> StreamPlan {
    StreamPlan {
        action,
        per_s,
        from,
        until,
    }
}

fn market(id: u32, pool: bool, selections: u32) -> MarketPlan {
    MarketPlan {
        id,
        pool,
        selections,
        open_at: Duration::ZERO,
        race_end: None,
        vote_window: None,
        created_live: false,
    }
}

/// The throttle limits of the race scenarios: the customer's per-account limit (5 requests/s)
/// on the `basic` tier their bettors have.
fn race_throttle() -> ThrottleConfig {
    let mut throttle = ThrottleConfig::default();
    throttle.basic.requests_per_s = 5;
    throttle.basic.burst = 10;
    throttle.basic.orders_per_min = 300;
    throttle.basic.cancels_per_min = 300;
    throttle
}

/// The plan of `scenario` at `scale` over `duration`.
pub(super) fn build(scenario: Scenario, scale: f64, duration: Duration) -> Plan {
    let mut b = Builder {
        plan: Plan {
            scenario,
            duration,
            markets: Vec::new(),
            accounts: Vec::new(),
            users: Vec::new(),
            subscribers: Vec::new(),
            deposits: None,
            throttle: ThrottleConfig::default(),
            every_tick: false,
            expect_throttling: false,
        },
        next_account: FIRST_USER,
    };
    let whole = |action, per_s| stream(action, per_s, Duration::ZERO, duration);
    let ticks_status = Streams::TICKS.with(Streams::STATUS);
    match scenario {
        Scenario::LiveA | Scenario::LiveB | Scenario::LiveC => {
            b.plan.throttle = race_throttle();
            let (markets, stagger, subs, bettors, bets, cancels, telemetry, repeat) = match scenario
            {
                Scenario::LiveA => (1, 0, 50, 20, 2.0, 0.5, 5.0, 0.0),
                Scenario::LiveB => (1, 0, 200, 50, 10.0, 2.0, 10.0, 0.05),
                _ => (5, 3, 30, 10, 2.0, 0.5, 5.0, 0.0),
            };
            b.plan.every_tick = scenario == Scenario::LiveA;
            b.plan.expect_throttling = scenario == Scenario::LiveB;
            b.plan.accounts.push(AccountPlan {
                id: FEED,
                tier: "market_maker",
                role: "feed",
                deposit: 0,
            });
            for m in 0..markets {
                let id = m + 1;
                let start = Duration::from_secs(u64::from(m * stagger));
                let end = start + duration;
                let mut race = market(id, true, 6);
                race.open_at = start;
                race.race_end = Some(end);
                b.plan.markets.push(race);
                let bets_until = end.saturating_sub(LOCK_BEFORE + BET_MARGIN);
                for _ in 0..scaled(bettors, scale) {
                    b.user(
                        "basic",
                        vec![id],
                        vec![
                            stream(Action::Bet { repeat }, bets, start, bets_until),
                            stream(Action::CancelBet, cancels, start, bets_until),
                        ],
                    );
                }
                b.plan.users.push(UserPlan {
                    account: FEED,
                    markets: vec![id],
                    streams: vec![stream(Action::Telemetry, telemetry, start, end)],
                    probe: false,
                });
                b.subscribers(scaled(subs, scale), &[id], ticks_status, false);
            }
            // The feed is one account with one session per market.
            b.plan.duration = duration + Duration::from_secs(u64::from((markets - 1) * stagger));
        }
        Scenario::PredictionPeak => {
            let markets: Vec<u32> = (1..=10).collect();
            for &id in &markets {
                b.plan.markets.push(market(id, false, 2));
            }
            let voted = 11;
            let mut vote_market = market(voted, true, 2);
            vote_market.vote_window = Some((Duration::ZERO, duration + Duration::from_secs(2)));
            b.plan.markets.push(vote_market);
            for _ in 0..scaled(500, scale) {
                b.user("pro", markets.clone(), vec![whole(Action::Query, 10.0)]);
            }
            b.subscribers(
                scaled(500, scale),
                &markets[..1],
                Streams::TICKS.with(Streams::BOOK).with(Streams::TRADES),
                true,
            );
            for (i, s) in b.plan.subscribers.iter_mut().enumerate() {
                s.markets = vec![markets[i % markets.len()]];
            }
            for _ in 0..scaled(300, scale) {
                b.user(
                    "pro",
                    markets.clone(),
                    vec![
                        whole(Action::Order { aggressive: 0.2 }, 500.0 / 300.0),
                        whole(Action::CancelOrder, 1.0),
                    ],
                );
            }
            for _ in 0..scaled(150, scale) {
                b.user("basic", vec![voted], vec![whole(Action::Vote, 0.5)]);
            }
            for i in 0..scaled(50, scale) {
                let mut m = market(100 + i, false, 2);
                m.created_live = true;
                m.open_at = duration.mul_f64(f64::from(i) / f64::from(scaled(50, scale)));
                b.plan.markets.push(m);
            }
        }
        Scenario::VoteFlood => {
            let id = 1;
            let bets_until = duration.mul_f64(0.1);
            let mut m = market(id, true, 3);
            m.vote_window = Some((bets_until, duration));
            b.plan.markets.push(m);
            let voters = scaled(1_000, scale);
            // 5 bets each (5,000 claims) in the first tenth, 10 votes each (10,000) after.
            let bets_per_s = 5.0 / bets_until.as_secs_f64().max(0.001);
            let votes_per_s = 10.0 / (duration - bets_until).as_secs_f64().max(0.001);
            for _ in 0..voters {
                b.user(
                    "basic",
                    vec![id],
                    vec![
                        stream(
                            Action::Bet { repeat: 0.0 },
                            bets_per_s,
                            Duration::ZERO,
                            bets_until,
                        ),
                        stream(Action::Vote, votes_per_s, bets_until, duration),
                    ],
                );
            }
            b.subscribers(scaled(100, scale), &[id], ticks_status, false);
        }
        Scenario::MarketCreationSpike => {
            let count = scaled(50, scale);
            let ids: Vec<u32> = (1..=count).collect();
            for &id in &ids {
                let mut m = market(id, true, 4);
                m.created_live = true;
                m.open_at = duration.mul_f64(f64::from(id - 1) / f64::from(count));
                b.plan.markets.push(m);
            }
            for _ in 0..scaled(20, scale) {
                b.user(
                    "basic",
                    ids.clone(),
                    vec![whole(Action::Bet { repeat: 0.0 }, 2.0)],
                );
            }
            // Ten markets each, in turn: an anonymous session may hold 20 subscriptions.
            b.subscribers(scaled(50, scale), &ids, ticks_status, false);
            for (i, s) in b.plan.subscribers.iter_mut().enumerate() {
                s.markets = (0..ids.len().min(10))
                    .map(|k| ids[(i * 10 + k) % ids.len()])
                    .collect();
            }
        }
        Scenario::VotingSpike => {
            let id = 1;
            b.plan.markets.push(market(id, true, 4));
            for _ in 0..scaled(40, scale) {
                b.user(
                    "basic",
                    vec![id],
                    vec![whole(Action::PaidVote { repeat: 0.02 }, 5.0)],
                );
            }
            for _ in 0..scaled(20, scale) {
                b.user("basic", vec![id], vec![whole(Action::Query, 5.0)]);
            }
            b.subscribers(scaled(100, scale), &[id], ticks_status, false);
        }
        Scenario::LedgerReplay => {
            let id = 1;
            b.plan.markets.push(market(id, true, 4));
            for _ in 0..scaled(10, scale) {
                b.user(
                    "basic",
                    vec![id],
                    vec![whole(Action::Bet { repeat: 0.0 }, 2.0)],
                );
            }
            let first = b.next_account;
            let holders = scaled(100, scale);
            for _ in 0..holders {
                let account = b.account("basic", "trader");
                if let Some(a) = b.plan.accounts.iter_mut().find(|a| a.id == account) {
                    a.deposit = 0;
                }
            }
            b.plan.deposits = Some(DepositPlan {
                per_s: 20.0 * scale,
                first_account: first,
                accounts: holders,
                replays: 2,
            });
        }
        Scenario::Fanout10k => {
            let id = 1;
            b.plan.markets.push(market(id, false, 2));
            b.plan.every_tick = false;
            b.plan.accounts.push(AccountPlan {
                id: FEED,
                tier: "market_maker",
                role: "trader",
                deposit: DEPOSIT,
            });
            b.plan.users.push(UserPlan {
                account: FEED,
                markets: vec![id],
                streams: vec![whole(Action::Quote, 2.0)],
                probe: false,
            });
            b.subscribers(scaled(10_000, scale), &[id], ticks_status, false);
        }
        Scenario::GatewayBaseline | Scenario::GatewaySpike => {
            let id = 1;
            b.plan.markets.push(market(id, false, 4));
            // Transactions: 60% orders, 20% cancels, 20% reads. The spike holds the 20x
            // burst with headroom (250/s) for the whole window.
            let total = if scenario == Scenario::GatewaySpike {
                250.0
            } else {
                11.6
            };
            let users = scaled(20, scale);
            let per_user = total / 20.0;
            for _ in 0..users {
                b.user(
                    "pro",
                    vec![id],
                    vec![
                        whole(Action::Order { aggressive: 0.2 }, per_user * 0.6),
                        whole(Action::CancelOrder, per_user * 0.2),
                        whole(Action::Query, per_user * 0.2),
                    ],
                );
            }
        }
        Scenario::DarkpoolSustained | Scenario::DarkpoolPeak => {
            let orders = if scenario == Scenario::DarkpoolPeak {
                5_000.0
            } else {
                2_000.0
            };
            let markets: Vec<u32> = (1..=10).collect();
            for &id in &markets {
                b.plan.markets.push(market(id, false, 2));
            }
            // Market makers at 40 orders/s, within their tier's 50; one in ten crosses.
            let makers = scaled((orders / 40.0) as u32, scale);
            for _ in 0..makers {
                b.user(
                    "market_maker",
                    markets.clone(),
                    vec![
                        whole(Action::Order { aggressive: 0.1 }, 40.0),
                        whole(Action::CancelOrder, 30.0),
                    ],
                );
            }
            let streams = Streams::BOOK.with(Streams::TRADES);
            b.subscribers(scaled(100, scale), &markets, streams, true);
            for (i, s) in b.plan.subscribers.iter_mut().enumerate() {
                s.markets = vec![markets[i % markets.len()]];
            }
            // Free-tier users reading 10 times a second against their 2 (burst 10): every tier
            // is enforced.
            for _ in 0..scaled(5, scale) {
                let account = b.user("free", markets.clone(), vec![whole(Action::Query, 10.0)]);
                if let Some(user) = b.plan.users.iter_mut().find(|u| u.account == account) {
                    user.probe = true;
                }
            }
            b.plan.expect_throttling = true;
        }
    }
    b.plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total_rate(plan: &Plan, pick: impl Fn(&Action) -> bool) -> f64 {
        plan.users
            .iter()
            .flat_map(|u| &u.streams)
            .filter(|s| pick(&s.action))
            .map(|s| s.per_s * (s.until - s.from).as_secs_f64() / plan.duration.as_secs_f64())
            .sum()
    }

    #[test]
    fn the_scenarios_carry_the_customers_figures() {
        let d = Duration::from_secs(30);
        let a = build(Scenario::LiveA, 1.0, d);
        assert_eq!(a.subscribers.len(), 50);
        assert_eq!(a.users.iter().filter(|u| u.account != FEED).count(), 20);
        let b = build(Scenario::LiveB, 1.0, d);
        assert_eq!(b.subscribers.len(), 200);
        assert!(b.expect_throttling);
        let c = build(Scenario::LiveC, 1.0, d);
        assert_eq!(c.markets.len(), 5);
        assert_eq!(c.subscribers.len(), 150);
        let sustained = build(Scenario::DarkpoolSustained, 1.0, Duration::from_secs(60));
        let orders = total_rate(&sustained, |a| matches!(a, Action::Order { .. }));
        assert!((orders - 2_000.0).abs() < 1.0, "{orders}");
        let peak = build(Scenario::DarkpoolPeak, 1.0, Duration::from_secs(60));
        let orders = total_rate(&peak, |a| matches!(a, Action::Order { .. }));
        assert!((orders - 5_000.0).abs() < 1.0, "{orders}");
        let fanout = build(Scenario::Fanout10k, 1.0, d);
        assert_eq!(fanout.subscribers.len(), 10_000);
        let spike = build(Scenario::GatewaySpike, 1.0, Duration::from_secs(60));
        let peak_rate: f64 = spike
            .users
            .iter()
            .flat_map(|u| &u.streams)
            .map(|s| s.per_s)
            .sum();
        assert!((peak_rate - 250.0).abs() < 0.5, "{peak_rate}");
        let voting = build(Scenario::VotingSpike, 1.0, Duration::from_secs(60));
        let votes = total_rate(&voting, |a| matches!(a, Action::PaidVote { .. }));
        assert!((votes - 200.0).abs() < 0.5, "{votes}");
    }

    #[test]
    fn scale_shrinks_counts_but_keeps_one_of_each() {
        let small = build(Scenario::LiveC, 0.01, Duration::from_secs(5));
        assert_eq!(small.markets.len(), 5);
        assert_eq!(small.subscribers.len(), 5);
        let ids: std::collections::BTreeSet<u32> = small.accounts.iter().map(|a| a.id).collect();
        assert_eq!(ids.len(), small.accounts.len(), "account ids are unique");
    }
}
