//! The demo's simulated traders, each a thread with its own order-entry session: the price
//! feed that publishes the race model's probabilities on the pool, two market makers that
//! mass-quote the exchange around its fair odds, and the bettors.
//!
//! Every trader sends a request, notes when, and takes the first message that answers it as
//! its acknowledgement (an execution report naming its request id, `REQUEST_DONE`, or a
//! refusal); everything it reads is counted in [`Live`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use oddsmatch_benches::rng::Rng;
use oddsmatch_engine::{LadderKind, Persistence, RejectReason, SelectionId, Side, TimeInForce};
use oddsmatch_net::client::{Client, ClientError, Credentials, Options};
use oddsmatch_net::proto::{
    ClientMsg, MassQuote, NewOrder, PlaceBet, QuoteEntry, ReferenceOdds, ReportBody, ServerMsg,
};

use super::live::{Clock, Live};
use super::{EXCHANGE, POOL};

/// How often the race model publishes (and the feed sends) the pool's probabilities.
pub(super) const FEED_INTERVAL: Duration = Duration::from_millis(250);
/// How long a trader waits for the answers to what it sent before it logs out.
const DRAIN: Duration = Duration::from_secs(3);
/// The smallest probability of an exchange runner, in basis points (odds 200.00).
const MIN_FAIR_BPS: u32 = 50;

/// One simulated trader's login.
#[derive(Clone, Copy, Debug)]
pub(super) struct Trader {
    /// The account.
    pub account: u32,
    /// Its API key.
    pub credentials: Credentials,
}

/// When things happen, shared by every trader.
#[derive(Clone, Debug)]
pub(super) struct Schedule {
    /// The race's start (t = 0).
    pub clock: Clock,
    /// The last moment a pool bet is sent (shortly before the pool locks).
    pub bets_until: Instant,
    /// The last moment an exchange order or quote is sent (shortly before the finish).
    pub orders_until: Instant,
    /// Set when the demo is interrupted: every trader stops at once.
    pub abort: Arc<AtomicBool>,
}

// ------------------------------------------------------------------------------------ prices

/// The exchange's fair probabilities over the race, one set per [`FEED_INTERVAL`]: a seeded
/// random walk of each runner's strength, the same for the same seed and number of steps.
#[derive(Debug)]
pub(super) struct FairPath {
    /// Strength of each runner at each step (positive).
    steps: Vec<Vec<u64>>,
}

impl FairPath {
    /// `runners` runners over `steps + 1` publications.
    pub(super) fn new(seed: u64, runners: usize, steps: usize) -> FairPath {
        let mut rng = Rng::new(seed ^ 0x6578_6368_616e_6765); // "exchange"
        let mut strength: Vec<u64> = (0..runners).map(|_| rng.between(30, 300) * 1_000).collect();
        let mut path = Vec::with_capacity(steps + 1);
        path.push(strength.clone());
        for _ in 0..steps {
            for s in &mut strength {
                // +-2% per step, never below 1% of the starting range.
                let factor = 980 + rng.below(41);
                *s = (*s * factor / 1_000).max(1_000);
            }
            path.push(strength.clone());
        }
        FairPath { steps: path }
    }

    /// The fair probabilities (basis points, at least [`MIN_FAIR_BPS`] each) at `step`
    /// (clamped to the last).
    pub(super) fn probabilities(&self, step: usize) -> Vec<u32> {
        let strength = &self.steps[step.min(self.steps.len() - 1)];
        let total: u64 = strength.iter().sum::<u64>().max(1);
        strength
            .iter()
            .map(|s| ((s * 10_000 / total) as u32).max(MIN_FAIR_BPS))
            .collect()
    }

    /// The winner (selection id, from 1), drawn from the seed with the last step's strengths.
    pub(super) fn winner(&self, seed: u64) -> u32 {
        let last = &self.steps[self.steps.len() - 1];
        let mut rng = Rng::new(seed ^ 0x7769_6e6e_6572); // "winner"
        let mut draw = rng.below(last.iter().sum::<u64>().max(1));
        for (i, s) in last.iter().enumerate() {
            if draw < *s {
                return i as u32 + 1;
            }
            draw -= s;
        }
        last.len() as u32
    }
}

/// Fair decimal odds x100 of a probability in basis points, on the ladder's range.
pub(super) fn fair_odds(bps: u32) -> u32 {
    (1_000_000 / bps.max(1)).clamp(101, 100_000)
}

fn ladder() -> &'static [u32] {
    LadderKind::Betfair.prices()
}

/// The highest ladder price at or below `odds_x100` (the lowest price if none is).
pub(super) fn at_or_below(odds_x100: u32) -> u32 {
    let prices = ladder();
    let index = prices.partition_point(|p| *p <= odds_x100);
    prices[index.saturating_sub(1)]
}

/// The lowest ladder price at or above `odds_x100` (the highest price if none is).
pub(super) fn at_or_above(odds_x100: u32) -> u32 {
    let prices = ladder();
    let index = prices.partition_point(|p| *p < odds_x100);
    prices[index.min(prices.len() - 1)]
}

/// `odds_x100` scaled by `(10000 + bps) / 10000` (`bps` may be negative).
fn scaled(odds_x100: u32, bps: i64) -> u32 {
    (i64::from(odds_x100) * (10_000 + bps) / 10_000).clamp(101, 100_000) as u32
}

/// An index drawn with the weights (uniformly if they are all 0).
fn pick(rng: &mut Rng, weights: &[u32]) -> usize {
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    if total == 0 {
        return rng.index(weights.len().max(1));
    }
    let mut draw = rng.below(total);
    for (i, w) in weights.iter().enumerate() {
        let w = u64::from(*w);
        if draw < w {
            return i;
        }
        draw -= w;
    }
    weights.len() - 1
}

// ----------------------------------------------------------------------------------- session

/// A logged-in trader: its client and the requests it waits to hear about.
struct Session {
    client: Client,
    live: Arc<Live>,
    /// Request id to the moment it was sent.
    pending: BTreeMap<u64, Instant>,
}

impl Session {
    fn connect(addr: &str, trader: Trader, live: Arc<Live>) -> Result<Session, String> {
        let client = Client::connect(addr, trader.credentials, Options::default())
            .map_err(|e| format!("account {} cannot log in at {addr}: {e}", trader.account))?;
        Ok(Session {
            client,
            live,
            pending: BTreeMap::new(),
        })
    }

    /// Sends a request and remembers when.
    fn send(&mut self, msg: &ClientMsg) -> Result<(), ClientError> {
        self.pending.insert(msg.request_id(), Instant::now());
        self.client.send(msg)
    }

    /// Reads and counts what arrives until `until` (or the abort flag).
    fn pump(&mut self, until: Instant, abort: &AtomicBool) -> Result<(), ClientError> {
        loop {
            if abort.load(Ordering::Relaxed) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            let wait = (until - now).min(Duration::from_millis(50));
            if let Some(msg) = self.client.recv(wait)? {
                self.take(&msg);
            }
        }
    }

    /// Reads until every request is answered (or [`DRAIN`] passes), then logs out.
    fn finish(mut self) -> Result<(), ClientError> {
        let deadline = Instant::now() + DRAIN;
        while !self.pending.is_empty() && Instant::now() < deadline {
            if let Some(msg) = self.client.recv(Duration::from_millis(50))? {
                self.take(&msg);
            }
        }
        self.client.logout()
    }

    /// The acknowledgement of a request: the first message that names it.
    fn answered(&mut self, request_id: u64) {
        if request_id == 0 {
            return;
        }
        if let Some(sent) = self.pending.remove(&request_id) {
            self.live.ack(sent.elapsed());
        }
    }

    fn take(&mut self, msg: &ServerMsg) {
        match msg {
            ServerMsg::Report(report) => {
                self.answered(report.header.request_id);
                match report.body {
                    ReportBody::OrderAccepted { quote, .. } => self.live.count(|c| {
                        if quote {
                            c.quote_orders += 1;
                        } else {
                            c.orders_accepted += 1;
                        }
                    }),
                    ReportBody::BetAccepted { .. } => self.live.count(|c| c.bets_accepted += 1),
                    ReportBody::Fill { .. } => self.live.count(|c| c.fills += 1),
                    ReportBody::OrderRejected { reason, .. } => self.live.reject(reason.name()),
                    _ => {}
                }
            }
            ServerMsg::RequestDone { request_id, .. } => self.answered(*request_id),
            ServerMsg::RequestRejected {
                request_id, reason, ..
            } => {
                self.answered(*request_id);
                let name = RejectReason::from_code(*reason)
                    .map_or_else(|| format!("gateway_{reason}"), |r| r.name().to_owned());
                self.live.reject(&name);
            }
            ServerMsg::Throttled { request_id, .. } => {
                self.answered(*request_id);
                self.live.count(|c| c.throttled += 1);
            }
            ServerMsg::Busy { request_id, .. } => {
                self.answered(*request_id);
                self.live.count(|c| c.busy += 1);
            }
            _ => {}
        }
    }
}

/// Runs `body` with a session and logs out; a failure is recorded in [`Live`] for the
/// summary rather than lost with the thread.
fn with_session(
    addr: &str,
    trader: Trader,
    live: &Arc<Live>,
    body: impl FnOnce(&mut Session) -> Result<(), ClientError>,
) {
    let mut session = match Session::connect(addr, trader, live.clone()) {
        Ok(session) => session,
        Err(error) => {
            live.failure(error);
            return;
        }
    };
    let ran = body(&mut session);
    let finished = session.finish();
    if let Err(error) = ran.and(finished) {
        live.failure(format!("account {}: {error}", trader.account));
    }
}

// -------------------------------------------------------------------------------------- feed

/// One publication of the race model.
#[derive(Clone, Debug)]
pub(super) struct FeedStep {
    /// The runners' win probabilities, basis points, selection 1 first.
    pub probabilities: Vec<u16>,
    /// Metres covered by each runner, in centimetres.
    pub positions_cm: Vec<i64>,
}

/// The feed: step `k` of the race model is sent as `REFERENCE_ODDS` at `t = k * 250 ms`.
pub(super) fn feed(
    addr: String,
    trader: Trader,
    steps: Vec<FeedStep>,
    schedule: Schedule,
    live: Arc<Live>,
) {
    with_session(&addr, trader, &live.clone(), |session| {
        for (k, step) in steps.into_iter().enumerate() {
            let due = schedule.clock.at(FEED_INTERVAL * k as u32);
            session.pump(due, &schedule.abort)?;
            if schedule.abort.load(Ordering::Relaxed) {
                break;
            }
            let request_id = session.client.next_request_id();
            session.send(&ClientMsg::ReferenceOdds(ReferenceOdds {
                request_id,
                market: POOL,
                probabilities_bps: step.probabilities.clone(),
            }))?;
            live.race(step.positions_cm, &step.probabilities);
            live.count(|c| c.reference_odds += 1);
        }
        Ok(())
    });
}

// ----------------------------------------------------------------------------- market makers

/// A market maker: every 250-500 ms, a mass quote of every runner around the fair odds, the
/// back quote 2-5% above and the lay quote 2-5% below (on the ladder), 20.00 to 80.00 a side.
pub(super) fn market_maker(
    addr: String,
    trader: Trader,
    fair: Arc<FairPath>,
    schedule: Schedule,
    live: Arc<Live>,
    seed: u64,
) {
    let mut rng = Rng::new(seed ^ 0x6d6d_0000 ^ u64::from(trader.account));
    with_session(&addr, trader, &live.clone(), |session| {
        loop {
            let now = Instant::now();
            if now >= schedule.orders_until || schedule.abort.load(Ordering::Relaxed) {
                break;
            }
            let probabilities = fair.probabilities(schedule.clock.step(now, FEED_INTERVAL));
            let quotes = probabilities
                .iter()
                .enumerate()
                .map(|(i, bps)| {
                    let fair = fair_odds(*bps);
                    let back = at_or_above(scaled(fair, rng.between(200, 500) as i64));
                    let mut lay = at_or_below(scaled(fair, -(rng.between(200, 500) as i64)));
                    if lay >= back {
                        lay = at_or_below(back - 1);
                    }
                    QuoteEntry {
                        selection: SelectionId(i as u32 + 1),
                        back_odds_x100: back,
                        lay_odds_x100: lay,
                        back_stake_minor: rng.between(2_000, 8_000) as i64,
                        lay_stake_minor: rng.between(2_000, 8_000) as i64,
                    }
                })
                .collect();
            let request_id = session.client.next_request_id();
            session.send(&ClientMsg::MassQuote(MassQuote {
                request_id,
                market: EXCHANGE,
                quotes,
            }))?;
            live.count(|c| c.mass_quotes += 1);
            let next = Instant::now() + Duration::from_millis(rng.between(250, 500));
            session.pump(next.min(schedule.orders_until), &schedule.abort)?;
        }
        Ok(())
    });
}

// ----------------------------------------------------------------------------------- bettors

/// What a bettor does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Move {
    /// A pool bet on the race, on a runner drawn with the feed's odds.
    Bet,
    /// An exchange order meant to match at once (IOC, 10% through the fair odds).
    Take,
    /// An exchange order near the fair odds that matches or rests (GTC).
    Offer,
}

/// A bettor: every 0.4-1.2 s, a pool bet (until shortly before the lock) or an exchange
/// order; its first move takes liquidity on the exchange and its second bets on the race, so
/// that even a short demo has trades and bets.
pub(super) fn bettor(
    addr: String,
    trader: Trader,
    fair: Arc<FairPath>,
    schedule: Schedule,
    live: Arc<Live>,
    seed: u64,
) {
    let mut rng = Rng::new(seed ^ 0x6265_7400_0000 ^ u64::from(trader.account));
    with_session(&addr, trader, &live.clone(), |session| {
        let mut next = schedule
            .clock
            .at(Duration::from_millis(rng.between(0, 600)));
        let mut client_order_id = 0u64;
        for n in 1u64.. {
            session.pump(next.min(schedule.orders_until), &schedule.abort)?;
            let now = Instant::now();
            if now >= schedule.orders_until || schedule.abort.load(Ordering::Relaxed) {
                break;
            }
            let pool_open = now < schedule.bets_until;
            let action = match n {
                1 => Move::Take,
                2 if pool_open => Move::Bet,
                _ if pool_open && rng.coin() => Move::Bet,
                _ if rng.below(100) < 35 => Move::Take,
                _ => Move::Offer,
            };
            client_order_id += 1;
            let request_id = session.client.next_request_id();
            let msg = match action {
                Move::Bet => {
                    let weights = live.reference();
                    let selection = pick(&mut rng, &weights) as u32 + 1;
                    live.count(|c| c.bets += 1);
                    ClientMsg::PlaceBet(PlaceBet {
                        request_id,
                        client_order_id,
                        stake_minor: rng.between(200, 2_000) as i64,
                        market: POOL,
                        selection: SelectionId(selection),
                    })
                }
                Move::Take | Move::Offer => {
                    let probabilities = fair.probabilities(schedule.clock.step(now, FEED_INTERVAL));
                    let index = pick(&mut rng, &probabilities);
                    let fair = fair_odds(probabilities[index]);
                    let side = if rng.below(100) < 60 {
                        Side::Back
                    } else {
                        Side::Lay
                    };
                    live.count(|c| c.orders += 1);
                    exchange_order(
                        &mut rng,
                        action == Move::Take,
                        side,
                        fair,
                        SelectionId(index as u32 + 1),
                        request_id,
                        client_order_id,
                    )
                }
            };
            session.send(&msg)?;
            next = Instant::now() + Duration::from_millis(rng.between(400, 1_200));
        }
        Ok(())
    });
}

/// A bettor's exchange order. A back at odds `o` matches resting lays at `o` or more, so a
/// taking back asks 10% below the fair odds (the market makers' lays are 2-5% below); a
/// taking lay offers 10% above. Offers are placed within a few percent of the fair odds.
/// A lay's stake is chosen from a liability of 2.00 to 20.00.
fn exchange_order(
    rng: &mut Rng,
    take: bool,
    side: Side,
    fair: u32,
    selection: SelectionId,
    request_id: u64,
    client_order_id: u64,
) -> ClientMsg {
    let odds = match (side, take) {
        (Side::Back, true) => at_or_below(scaled(fair, -1_000)),
        (Side::Lay, true) => at_or_above(scaled(fair, 1_000)),
        (Side::Back, false) => at_or_below(scaled(fair, rng.between(0, 1_000) as i64 - 400)),
        (Side::Lay, false) => at_or_above(scaled(fair, rng.between(0, 1_000) as i64 - 600)),
    };
    let stake = match side {
        Side::Back => rng.between(200, 2_000) as i64,
        Side::Lay => {
            let liability = rng.between(200, 2_000) as i64;
            (liability * 100 / i64::from(odds - 100).max(1)).max(100)
        }
    };
    ClientMsg::NewOrder(NewOrder {
        request_id,
        client_order_id,
        stake_minor: stake,
        market: EXCHANGE,
        selection,
        odds_x100: odds,
        side,
        tif: if take {
            TimeInForce::Ioc
        } else {
            TimeInForce::Gtc
        },
        persistence: Persistence::Lapse,
        post_only: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladder_rounding_lands_on_prices() {
        assert_eq!(at_or_below(255), 254);
        assert_eq!(at_or_above(255), 256);
        assert_eq!(at_or_below(250), 250);
        assert_eq!(at_or_above(250), 250);
        assert_eq!(at_or_below(50), 101);
        assert_eq!(at_or_above(200_000), 100_000);
        for odds in [101, 199, 201, 333, 999, 1_234, 45_678] {
            assert!(LadderKind::Betfair.tick(at_or_below(odds)).is_some());
            assert!(LadderKind::Betfair.tick(at_or_above(odds)).is_some());
            assert!(at_or_below(odds) <= odds && at_or_above(odds) >= odds);
        }
    }

    #[test]
    fn the_fair_path_and_its_winner_follow_the_seed() {
        let a = FairPath::new(7, 10, 80);
        let b = FairPath::new(7, 10, 80);
        let c = FairPath::new(8, 10, 80);
        assert_eq!(a.probabilities(80), b.probabilities(80));
        assert_ne!(a.probabilities(0), c.probabilities(0));
        assert_eq!(a.winner(7), b.winner(7));
        assert!((1..=10).contains(&a.winner(7)));
        for step in [0, 40, 80, 1_000] {
            let p = a.probabilities(step);
            assert_eq!(p.len(), 10);
            assert!(p.iter().all(|bps| *bps >= MIN_FAIR_BPS));
            let total: u32 = p.iter().sum();
            assert!((9_900..=10_500).contains(&total), "{total}");
        }
    }

    #[test]
    fn taking_orders_cross_the_market_makers_quotes() {
        let mut rng = Rng::new(3);
        for fair in [150, 420, 1_000, 2_500] {
            // The market makers' quotes are at most 5% away from the fair odds.
            let lowest_back_quote = at_or_above(scaled(fair, 200));
            let highest_lay_quote = at_or_below(scaled(fair, -200));
            let lowest_lay_quote = at_or_below(scaled(fair, -500));
            let highest_back_quote = at_or_above(scaled(fair, 500));
            assert!(lowest_lay_quote < lowest_back_quote && highest_lay_quote < highest_back_quote);
            let take = |side, rng: &mut Rng| match exchange_order(
                rng,
                true,
                side,
                fair,
                SelectionId(1),
                1,
                1,
            ) {
                ClientMsg::NewOrder(order) => order,
                other => panic!("{other:?}"),
            };
            // A back matches resting lays at its odds or more; a lay, resting backs at its
            // odds or less.
            let back = take(Side::Back, &mut rng);
            assert!(back.odds_x100 <= lowest_lay_quote, "{fair}: {back:?}");
            let lay = take(Side::Lay, &mut rng);
            assert!(lay.odds_x100 >= highest_back_quote, "{fair}: {lay:?}");
            assert!(lay.stake_minor >= 100);
            assert_eq!(lay.market, EXCHANGE);
        }
    }

    #[test]
    fn weighted_picks_follow_the_weights() {
        let mut rng = Rng::new(1);
        let mut seen = [0u32; 3];
        for _ in 0..3_000 {
            seen[pick(&mut rng, &[0, 1_000, 3_000])] += 1;
        }
        assert_eq!(seen[0], 0);
        assert!(seen[2] > seen[1] * 2, "{seen:?}");
        assert!(pick(&mut rng, &[0, 0]) < 2);
    }
}
