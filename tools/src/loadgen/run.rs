//! One run of a plan against a node: setup over the admin socket, the load, the operator's
//! scheduled work, and the checks against what the node holds afterwards.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::sync::watch;

use super::md::{self, MdContext, MdMarket, MdOutcome};
use super::plan::{DepositPlan, LOCK_BEFORE, MarketPlan, Plan, Scenario};
use super::record::{Op, Record};
use super::users::{self, Bet, Clock, Context, MarketInfo, Outcome, Stage};
use crate::operator::Operator;
use crate::order::parse_secret;

/// The house accounts (rounding, commission): part of the ledger's sum.
const HOUSE: [u32; 2] = [4_294_967_295, 4_294_967_294];
/// Takeout of the scenarios' pools, basis points.
const TAKEOUT_BPS: i64 = 1_000;
/// Pool below which indicative odds cannot trip a circuit breaker: a pool's first bets move
/// its odds by far more than any breaker allows.
const BREAKER_MIN_POOL: i64 = 1_000_000;
/// How long after its scheduled creation a market created during the load is used.
const CREATION_MARGIN: Duration = Duration::from_millis(300);
/// How long after the load the subscribers get to read what was published last.
const SETTLE_QUIET: Duration = Duration::from_secs(2);

/// Where the node is.
#[derive(Clone, Debug)]
pub(super) struct Target {
    /// Order entry.
    pub(super) addr: SocketAddr,
    /// Market data over TCP.
    pub(super) market_data: Option<SocketAddr>,
    /// The admin socket.
    pub(super) admin: PathBuf,
    /// How the summary names it.
    pub(super) label: String,
}

/// A pass criterion and how it came out.
#[derive(Clone, Debug)]
pub(super) struct Check {
    /// What it checks.
    pub(super) name: String,
    /// Whether it held.
    pub(super) ok: bool,
    /// The figures behind it.
    pub(super) detail: String,
}

/// Everything a run measured and checked.
#[derive(Debug)]
pub(super) struct RunOutcome {
    /// The scenario.
    pub(super) scenario: Scenario,
    /// Its scale.
    pub(super) scale: f64,
    /// The load window.
    pub(super) duration: Duration,
    /// When the load started.
    pub(super) started: SystemTime,
    /// From the load's start to the last answer.
    pub(super) elapsed: Duration,
    /// The node.
    pub(super) target: String,
    /// Every user's, subscriber's and the operator's measurements.
    pub(super) record: Record,
    /// Ticks the subscribers should have read, and did.
    pub(super) ticks: (u64, u64),
    /// Book-stream messages the subscribers should have read, and did.
    pub(super) book: (u64, u64),
    /// The pass criteria.
    pub(super) checks: Vec<Check>,
    /// Users, subscribers.
    pub(super) population: (usize, usize),
}

/// Runs `plan` against `target`.
pub(super) fn run(
    plan: &Plan,
    target: &Target,
    scale: f64,
    threads: usize,
    seed: u64,
    progress: bool,
) -> Result<RunOutcome, String> {
    let mut operator = Operator::connect(&target.admin)?;
    let shards = operator.request(json!({"op": "status"}))?["shards"]
        .as_array()
        .map_or(1, Vec::len)
        .max(1);
    let keys = setup_accounts(&mut operator, plan, shards)?;
    let users_count = plan.users.len();
    let lead =
        Duration::from_millis(1_500 + plan.subscribers.len() as u64 / 2 + users_count as u64 * 2);
    let clock = Clock::starting_in(lead);
    let winners: BTreeMap<u32, u32> = plan
        .markets
        .iter()
        .map(|m| (m.id, 1 + (seed % u64::from(m.selections)) as u32))
        .collect();
    for market in plan.markets.iter().filter(|m| !m.created_live) {
        operator.command(definition(market, &clock))?;
        if market.open_at.is_zero() {
            operator.command(json!({"op": "open_market", "market": market.id}))?;
        }
    }
    // Pools without a race or a vote are settled by the operator when the load ends.
    let settle_at = |m: &MarketPlan| -> Option<Duration> {
        if m.vote_window.is_some() {
            None
        } else if let Some(end) = m.race_end {
            Some(end)
        } else if m.pool {
            Some(plan.duration)
        } else {
            None
        }
    };
    let markets: BTreeMap<u32, MarketInfo> = plan
        .markets
        .iter()
        .map(|m| {
            let settle = settle_at(m)
                .map(|at| clock.wall_at(at))
                .or(m.vote_window.map(|(_, end)| clock.wall_at(end)));
            let open = if m.created_live {
                m.open_at + CREATION_MARGIN
            } else {
                m.open_at
            };
            (
                m.id,
                MarketInfo {
                    selections: m.selections,
                    open_at: open,
                    settle_wall_ns: settle,
                },
            )
        })
        .collect();
    let ctx = Arc::new(Context {
        addr: target.addr,
        clock,
        markets,
        keys: keys.clone(),
        seed,
    });
    let md_ctx = Arc::new(MdContext {
        addr: target.market_data.unwrap_or(target.addr),
        clock,
        markets: plan
            .markets
            .iter()
            .map(|m| {
                (
                    m.id,
                    MdMarket {
                        // Markets made before the load are subscribed at once (a staggered
                        // race is watched before it opens).
                        subscribe_at: if m.created_live {
                            m.open_at + CREATION_MARGIN
                        } else {
                            Duration::ZERO
                        },
                        lock_wall_ns: m
                            .race_end
                            .map(|end| clock.wall_at(end.saturating_sub(LOCK_BEFORE))),
                        vote_end_wall_ns: m.vote_window.map(|(_, end)| clock.wall_at(end)),
                    },
                )
            })
            .collect(),
        keys,
        connecting: tokio::sync::Semaphore::new(md::CONNECTING),
    });
    if !plan.subscribers.is_empty() && target.market_data.is_none() {
        return Err(
            "the scenario has subscribers: give the node's market-data address (--market-data)"
                .into(),
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("loadgen")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the load generator's runtime: {e}"))?;
    let (stage_tx, stage_rx) = watch::channel(Stage::Running);
    let started = SystemTime::now() + lead;
    let subscriber_tasks: Vec<_> = plan
        .subscribers
        .iter()
        .map(|s| {
            runtime.spawn(md::run(
                s.markets.clone(),
                s.streams,
                s.login,
                md_ctx.clone(),
                stage_rx.clone(),
            ))
        })
        .collect();
    let user_tasks: Vec<_> = plan
        .users
        .iter()
        .map(|u| runtime.spawn(users::run(u.clone(), ctx.clone(), stage_rx.clone())))
        .collect();
    // The operator's scheduled work runs on a thread of its own (the admin client blocks).
    let schedule = operator_schedule(plan, &clock, &winners, &settle_at);
    let admin = target.admin.clone();
    let (deposits, window) = (plan.deposits, plan.duration);
    let operator_thread = std::thread::Builder::new()
        .name("loadgen-operator".into())
        .spawn(move || operate(&admin, clock, schedule, deposits, window))
        .map_err(|e| format!("cannot start the operator: {e}"))?;
    let last = plan
        .markets
        .iter()
        .filter_map(|m| settle_at(m).or(m.vote_window.map(|(_, end)| end)))
        .max()
        .unwrap_or(plan.duration)
        .max(plan.duration);
    wait_with_progress(&clock, last + SETTLE_QUIET, plan, progress);
    let operated = operator_thread
        .join()
        .map_err(|_| "the operator's thread failed".to_string())??;
    let _ = stage_tx.send(Stage::Finish);
    let (outcomes, md_outcomes) = runtime.block_on(async {
        let mut outcomes = Vec::new();
        for task in user_tasks {
            outcomes.push(
                task.await
                    .map_err(|e| format!("a user's task failed: {e}"))?,
            );
        }
        let mut md_outcomes = Vec::new();
        for task in subscriber_tasks {
            md_outcomes.push(
                task.await
                    .map_err(|e| format!("a subscriber's task failed: {e}"))?,
            );
        }
        Ok::<_, String>((outcomes, md_outcomes))
    })?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    let elapsed = started.elapsed().unwrap_or_default();
    let mut record = Record::default();
    for outcome in &outcomes {
        record.merge(&outcome.record);
    }
    for outcome in &md_outcomes {
        record.merge(&outcome.record);
    }
    record.merge(&operated.record);
    let mut checker = Checker {
        plan,
        operator: &mut operator,
        record: &record,
        checks: Vec::new(),
    };
    let (ticks, book) = checker.delivery(&md_outcomes)?;
    checker.settlement(&outcomes, &winners, &settle_at)?;
    checker.ledger(&operated, shards)?;
    checker.common(&operated);
    let checks = checker.checks;
    Ok(RunOutcome {
        scenario: plan.scenario,
        scale,
        duration: plan.duration,
        started,
        elapsed,
        target: target.label.clone(),
        record,
        ticks,
        book,
        checks,
        population: (plan.users.len(), plan.subscribers.len()),
    })
}

/// Creates every account with its key and deposit; returns the secrets by account.
fn setup_accounts(
    operator: &mut Operator,
    plan: &Plan,
    shards: usize,
) -> Result<BTreeMap<u32, [u8; 32]>, String> {
    let mut keys = BTreeMap::new();
    for account in &plan.accounts {
        operator.command(json!({
            "op": "create_account", "account": account.id, "tier": account.tier,
            "role": account.role,
        }))?;
        let key = operator.request(json!({
            "op": "rotate_api_key", "account": account.id, "key_id": account.id,
        }))?;
        let secret = parse_secret(key["secret"].as_str().unwrap_or_default())
            .map_err(|e| format!("admin socket: rotate_api_key: {e}"))?;
        keys.insert(account.id, secret);
        if account.deposit > 0 {
            for shard in 0..shards {
                let mut deposit = json!({
                    "op": "deposit", "account": account.id, "amount": account.deposit,
                    "transfer_id": setup_transfer(account.id, shard),
                });
                if shards > 1 {
                    deposit["shard"] = json!(shard);
                }
                operator.command(deposit)?;
            }
        }
    }
    Ok(keys)
}

fn setup_transfer(account: u32, shard: usize) -> u64 {
    (u64::from(account) << 8) | shard as u64
}

/// The `create_market` request of a market.
fn definition(market: &MarketPlan, clock: &Clock) -> Value {
    let selections: Vec<u32> = (1..=market.selections).collect();
    let mut request = json!({
        "op": "create_market", "market": market.id, "selections": selections,
        "kind": if market.pool { "pool" } else { "exchange" },
    });
    if market.pool {
        request["takeout_bps"] = json!(TAKEOUT_BPS);
        request["circuit_breaker_min_pool"] = json!(BREAKER_MIN_POOL);
    }
    if let Some(end) = market.race_end {
        request["end_at"] = json!(clock.wall_at(end));
        request["lock_before_end_ms"] = json!(LOCK_BEFORE.as_millis() as u64);
    }
    if let Some((start, end)) = market.vote_window {
        request["resolution"] = json!({
            "kind": "vote", "window_start": clock.wall_at(start), "window_end": clock.wall_at(end),
            "quorum": 1, "threshold_bps": 5_000, "weight": "one_per_account",
        });
    }
    request
}

/// One piece of the operator's scheduled work.
#[derive(Clone, Debug)]
enum Work {
    /// Open a market created at setup.
    Open(u32),
    /// Create and open a market (measured).
    Create(Value, u32),
    /// Settle a market on its winner.
    Settle(u32, u32),
}

fn operator_schedule(
    plan: &Plan,
    clock: &Clock,
    winners: &BTreeMap<u32, u32>,
    settle_at: &dyn Fn(&MarketPlan) -> Option<Duration>,
) -> Vec<(Duration, Work)> {
    let mut work = Vec::new();
    for m in &plan.markets {
        if m.created_live {
            work.push((m.open_at, Work::Create(definition(m, clock), m.id)));
        } else if !m.open_at.is_zero() {
            work.push((m.open_at, Work::Open(m.id)));
        }
        if let Some(at) = settle_at(m)
            && m.pool
        {
            work.push((at, Work::Settle(m.id, winners[&m.id])));
        }
    }
    work.sort_by_key(|(at, _)| *at);
    work
}

/// What the operator did.
#[derive(Debug, Default)]
struct Operated {
    record: Record,
    /// Deposits credited during the load, by account.
    credited: BTreeMap<u32, i64>,
}

/// The operator's thread: scheduled work and deposits with replayed notices, each timed from
/// its scheduled moment.
fn operate(
    admin: &std::path::Path,
    clock: Clock,
    mut work: Vec<(Duration, Work)>,
    deposits: Option<DepositPlan>,
    window: Duration,
) -> Result<Operated, String> {
    let mut operator = Operator::connect(admin)?;
    let mut operated = Operated::default();
    // Deposits: the n-th at n / rate, its notice replayed 1 s later and again 2 s later.
    let mut notices: Vec<(Duration, u32, u64, i64, bool)> = Vec::new();
    if let Some(d) = deposits {
        let mut n = 0u64;
        loop {
            let at = Duration::from_secs_f64(n as f64 / d.per_s);
            if at >= window {
                break;
            }
            let account = d.first_account + (n % u64::from(d.accounts)) as u32;
            let transfer = 1_000_000_000 + n;
            let amount = 1_000 + 7 * (n % 100) as i64;
            notices.push((at, account, transfer, amount, false));
            for replay in 1..=d.replays {
                notices.push((
                    at + Duration::from_secs(u64::from(replay)),
                    account,
                    transfer,
                    amount,
                    true,
                ));
            }
            n += 1;
        }
    }
    notices.sort_by_key(|n| n.0);
    let mut notices = notices.into_iter().peekable();
    work.reverse();
    loop {
        let next_work = work.last().map(|(at, _)| *at);
        let next_notice = notices.peek().map(|n| n.0);
        let (at, is_work) = match (next_work, next_notice) {
            (Some(w), Some(n)) if w <= n => (w, true),
            (Some(w), None) => (w, true),
            (_, Some(n)) => (n, false),
            (None, None) => break,
        };
        let due = clock.at(at);
        let now = tokio::time::Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let latency = || {
            tokio::time::Instant::now()
                .saturating_duration_since(due)
                .as_nanos() as u64
        };
        if is_work {
            let (_, item) = work.pop().expect("peeked");
            match item {
                Work::Open(market) => {
                    operator.command(json!({"op": "open_market", "market": market}))?;
                }
                Work::Create(definition, market) => {
                    operated.record.sent(Op::CreateMarket);
                    let made = operator.command(definition).and_then(|_| {
                        operator.command(json!({"op": "open_market", "market": market}))
                    });
                    match made {
                        Ok(_) => {
                            operated.record.answered(Op::CreateMarket, latency());
                            operated.record.count("markets_created", 1);
                        }
                        Err(error) => operated.record.failed(Op::CreateMarket, error),
                    }
                }
                Work::Settle(market, winner) => {
                    // A race is locked by then; any other pool is suspended first.
                    let status = operator.request(json!({"op": "market", "market": market}))?;
                    if status["status"] == "open" {
                        operator.command(json!({"op": "suspend_market", "market": market}))?;
                    }
                    operator.command(json!({
                        "op": "settle_market", "market": market, "winners": [winner],
                    }))?;
                }
            }
        } else {
            let (_, account, transfer, amount, replay) = notices.next().expect("peeked");
            let request = json!({
                "op": "deposit", "account": account, "amount": amount, "transfer_id": transfer,
            });
            if !replay {
                operated.record.sent(Op::Deposit);
            }
            match (operator.command(request), replay) {
                (Ok(_), false) => {
                    operated.record.answered(Op::Deposit, latency());
                    operated.record.count("deposits", 1);
                    *operated.credited.entry(account).or_default() += amount;
                }
                (Ok(_), true) => operated.record.count("replays_credited", 1),
                (Err(e), true) if e.contains("duplicate_transfer_id") => {
                    operated.record.count("replays_refused", 1);
                }
                (Err(e), true) => {
                    tracing::warn!("a replayed deposit notice failed otherwise: {e}");
                    operated.record.count("replays_failed", 1);
                }
                (Err(e), false) => operated.record.failed(Op::Deposit, e),
            }
        }
    }
    Ok(operated)
}

fn wait_with_progress(clock: &Clock, until: Duration, plan: &Plan, progress: bool) {
    let end = clock.at(until);
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new(until.as_secs().max(1));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} s")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(format!(
            "{} with {} users and {} subscribers",
            plan.scenario.name(),
            plan.users.len(),
            plan.subscribers.len()
        ));
        bar
    });
    loop {
        let now = tokio::time::Instant::now();
        if now >= end {
            break;
        }
        if let Some(bar) = &bar {
            bar.set_position(now.saturating_duration_since(clock.start).as_secs());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(250)));
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

/// Messages the subscribers should have read, and did.
type Delivered = (u64, u64);

/// The pass criteria, checked against what the node holds.
struct Checker<'a> {
    plan: &'a Plan,
    operator: &'a mut Operator,
    record: &'a Record,
    checks: Vec<Check>,
}

impl Checker<'_> {
    fn check(&mut self, name: &str, ok: bool, detail: String) {
        self.checks.push(Check {
            name: name.to_owned(),
            ok,
            detail,
        });
    }

    /// Ticks and book-stream messages read against what each market published since each
    /// subscriber's snapshot.
    fn delivery(&mut self, outcomes: &[MdOutcome]) -> Result<(Delivered, Delivered), String> {
        let mut finals: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        for m in &self.plan.markets {
            if let Ok(market) = self
                .operator
                .request(json!({"op": "market", "market": m.id}))
            {
                finals.insert(
                    m.id,
                    (
                        market["tick_seq"].as_u64().unwrap_or(0),
                        market["book_seq"].as_u64().unwrap_or(0),
                    ),
                );
            }
        }
        let (mut ticks, mut book) = ((0, 0), (0, 0));
        let mut unsubscribed = 0;
        for outcome in outcomes {
            let book_stream = outcome
                .streams
                .intersects(oddsmatch_net::proto::md::Streams::BOOK);
            for (market, seen) in &outcome.seen {
                let Some(&(tick_end, book_end)) = finals.get(market) else {
                    continue;
                };
                let Some(start) = seen.tick_start else {
                    unsubscribed += 1;
                    continue;
                };
                ticks.0 += tick_end.saturating_sub(start);
                ticks.1 += seen.ticks.min(tick_end.saturating_sub(start));
                if book_stream {
                    let start = seen.book_start.unwrap_or(book_end);
                    book.0 += book_end.saturating_sub(start);
                    book.1 += seen.book.min(book_end.saturating_sub(start));
                }
            }
        }
        if !outcomes.is_empty() {
            self.check(
                "every subscriber subscribed and got its snapshot",
                unsubscribed == 0 && self.record.get("md_sessions_lost") == 0,
                format!(
                    "{} of {} subscriptions without a snapshot, {} sessions lost",
                    unsubscribed,
                    outcomes.iter().map(|o| o.seen.len()).sum::<usize>(),
                    self.record.get("md_sessions_lost")
                ),
            );
            let detail = format!("{} of {} ticks delivered", ticks.1, ticks.0);
            if self.plan.every_tick {
                self.check(
                    "every subscriber got every tick",
                    ticks.1 == ticks.0,
                    detail,
                );
            }
            self.check(
                "no event crossed markets",
                self.record.get("leaks") == 0,
                format!(
                    "{} messages about markets not subscribed",
                    self.record.get("leaks")
                ),
            );
        }
        Ok((ticks, book))
    }

    /// Every accepted bet on a settled pool is paid by the pool's rule, and each pool holds
    /// exactly the bets accepted (no bet twice under a repeated client order id).
    fn settlement(
        &mut self,
        outcomes: &[Outcome],
        winners: &BTreeMap<u32, u32>,
        settle_at: &dyn Fn(&MarketPlan) -> Option<Duration>,
    ) -> Result<(), String> {
        let mut bets: BTreeMap<u32, Vec<Bet>> = BTreeMap::new();
        for outcome in outcomes {
            for bet in &outcome.bets {
                bets.entry(bet.market).or_default().push(*bet);
            }
        }
        let wrong = self.record.get("repeats_answered_wrong");
        let repeats = self.record.get("repeats_sent");
        if repeats > 0 || self.plan.users.iter().flat_map(|u| &u.streams).any(|s| matches!(s.action, super::plan::Action::Bet { repeat } | super::plan::Action::PaidVote { repeat } if repeat > 0.0)) {
            self.check(
                "a repeated client order id never makes a second bet",
                wrong == 0 && (repeats == 0 || self.record.get("repeats_answered_original") > 0),
                format!(
                    "{repeats} repeats sent, {} answered with the original bet, {wrong} otherwise",
                    self.record.get("repeats_answered_original")
                ),
            );
        }
        let (mut paid_right, mut paid_wrong, mut unpaid, mut pools_wrong) =
            (0u64, 0u64, 0u64, 0u64);
        let mut settled_markets = 0;
        let mut vote_outcome = None;
        for m in self.plan.markets.iter().filter(|m| m.pool) {
            let Ok(market) = self
                .operator
                .request(json!({"op": "market", "market": m.id}))
            else {
                continue;
            };
            let standing: Vec<&Bet> = bets
                .get(&m.id)
                .map(|b| b.iter().filter(|b| !b.cancelled).collect())
                .unwrap_or_default();
            let total: i64 = standing.iter().map(|b| b.stake).sum();
            if market["pool_total_minor"].as_i64() != Some(total) && market["status"] != "settled" {
                pools_wrong += 1;
            }
            let winner = if m.vote_window.is_some() {
                let mut tally: BTreeMap<u32, u64> = BTreeMap::new();
                for outcome in outcomes {
                    if let Some(selection) = outcome.votes.get(&m.id) {
                        *tally.entry(*selection).or_default() += 1;
                    }
                }
                let best = tally
                    .iter()
                    .max_by_key(|(s, v)| (**v, std::cmp::Reverse(**s)));
                vote_outcome = Some(format!("tally {tally:?}"));
                best.map(|(s, _)| *s)
            } else if settle_at(m).is_some() {
                winners.get(&m.id).copied()
            } else {
                None
            };
            if market["status"] != "settled" {
                if winner.is_some() {
                    unpaid += standing.len() as u64;
                }
                continue;
            }
            settled_markets += 1;
            let Some(winner) = winner else { continue };
            let net = total * (10_000 - TAKEOUT_BPS) / 10_000;
            let on_winner: i64 = standing
                .iter()
                .filter(|b| b.selection == winner)
                .map(|b| b.stake)
                .sum();
            for bet in &standing {
                let expected = if on_winner == 0 {
                    bet.stake
                } else if bet.selection == winner {
                    (i128::from(net) * i128::from(bet.stake) / i128::from(on_winner)) as i64
                } else {
                    0
                };
                match bet.payout {
                    Some(p) if p == expected => paid_right += 1,
                    Some(_) => paid_wrong += 1,
                    None => unpaid += 1,
                }
            }
        }
        if self.plan.markets.iter().any(|m| m.pool) {
            self.check(
                "each pool holds exactly the bets accepted",
                pools_wrong == 0,
                format!("{pools_wrong} pools differ from the accepted bets"),
            );
        }
        if settled_markets > 0 || unpaid > 0 {
            self.check(
                "settlement: every bet paid by the pool's rule",
                paid_wrong == 0 && unpaid == 0,
                format!(
                    "{paid_right} bets paid as computed, {paid_wrong} paid otherwise, {unpaid} not \
                     paid, over {settled_markets} settled pools{}",
                    vote_outcome
                        .map(|t| format!("; votes {t}"))
                        .unwrap_or_default()
                ),
            );
        }
        Ok(())
    }

    /// The ledger: the sum of every balance (house accounts included) equals what was
    /// deposited; during `ledger-replay`, every account holds exactly its deposits.
    fn ledger(&mut self, operated: &Operated, shards: usize) -> Result<(), String> {
        let mut deposited: i64 = self
            .plan
            .accounts
            .iter()
            .map(|a| a.deposit * shards as i64)
            .sum();
        deposited += operated.credited.values().sum::<i64>();
        let mut sum = 0i64;
        let accounts: BTreeSet<u32> = self
            .plan
            .accounts
            .iter()
            .map(|a| a.id)
            .chain(HOUSE)
            .collect();
        for account in &accounts {
            sum += self.operator.balance(*account).unwrap_or(0);
        }
        self.check(
            "ledger: the balances sum to the deposits",
            sum == deposited,
            format!("balances {sum}, deposits {deposited}"),
        );
        if let Some(d) = self.plan.deposits {
            let mut wrong = 0;
            for account in d.first_account..d.first_account + d.accounts {
                let expected = operated.credited.get(&account).copied().unwrap_or(0);
                if self.operator.balance(account).unwrap_or(-1) != expected {
                    wrong += 1;
                }
            }
            let refused = operated.record.get("replays_refused");
            let replays = refused
                + operated.record.get("replays_credited")
                + operated.record.get("replays_failed");
            self.check(
                "every deposit credited exactly once, replayed notices refused",
                wrong == 0 && refused == replays && replays > 0,
                format!(
                    "{} deposits, {refused} of {replays} replayed notices refused as duplicates, \
                     {wrong} accounts off",
                    operated.record.get("deposits")
                ),
            );
        }
        Ok(())
    }

    fn common(&mut self, operated: &Operated) {
        let logins = self.record.get("logins_failed");
        let lost = self.record.get("sessions_lost");
        self.check(
            "every user logged in and kept its session",
            logins == 0 && lost == 0,
            format!("{logins} logins failed, {lost} sessions lost"),
        );
        let throttled = Record::total(&self.record.throttled);
        let probes = self.record.get("probe_throttled");
        if self.plan.expect_throttling {
            self.check(
                "throttled answers where the scenario exceeds the tier",
                throttled > 0,
                format!("{throttled} requests throttled ({probes} of them the tier probes')"),
            );
        }
        let live = self.plan.markets.iter().filter(|m| m.created_live).count() as u64;
        if live > 0 {
            let made = operated.record.get("markets_created");
            self.check(
                "every market created and opened on time",
                made == live,
                format!("{made} of {live} created"),
            );
        }
    }
}
