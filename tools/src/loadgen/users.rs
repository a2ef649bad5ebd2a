//! The simulated users on order entry: one tokio task per user, many per thread. Each sends on
//! its own schedule (open loop: a send never waits for an earlier answer) and reads its answers
//! in between; a latency runs from the send's scheduled time, so a stalled server or a late
//! loop counts against the server (coordinated omission corrected).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use oddsmatch_benches::rng::Rng;
use oddsmatch_engine::{
    MarketId, OrderId, Persistence, RejectReason, SelectionId, Side, TimeInForce,
};
use oddsmatch_net::client::Credentials;
use oddsmatch_net::proto::{
    self, Cancel, CancelBet, ClientMsg, MassQuote, NewOrder, OrderRef, PlaceBet, QuoteEntry,
    ReferenceOdds, ReportBody, Scope, ServerMsg, Vote,
};
use tokio::sync::watch;
use tokio::time::Instant;

use super::plan::{Action, StreamPlan, UserPlan};
use super::record::{Op, Record};
use super::wire::Session;

/// How long a user waits for its login.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long answers are awaited once the user is told to finish.
const DRAIN: Duration = Duration::from_secs(5);

/// The run's clock: scheduled instants and the wall-clock time they stand for (the engine's
/// time stamps are wall-clock nanoseconds).
#[derive(Clone, Copy, Debug)]
pub(super) struct Clock {
    /// The load's start.
    pub(super) start: Instant,
    /// The wall clock at the start, ns since the epoch.
    pub(super) start_wall_ns: u64,
}

impl Clock {
    /// A clock starting `lead` from now.
    pub(super) fn starting_in(lead: Duration) -> Clock {
        let now = Instant::now();
        Clock {
            start: now + lead,
            start_wall_ns: wall_ns() + lead.as_nanos() as u64,
        }
    }

    /// The instant `offset` into the run.
    pub(super) fn at(&self, offset: Duration) -> Instant {
        self.start + offset
    }

    /// The wall-clock time of `offset` into the run.
    pub(super) fn wall_at(&self, offset: Duration) -> u64 {
        self.start_wall_ns + offset.as_nanos() as u64
    }

    /// The wall-clock time of `instant`.
    pub(super) fn wall_of(&self, instant: Instant) -> u64 {
        if instant >= self.start {
            self.start_wall_ns + (instant - self.start).as_nanos() as u64
        } else {
            self.start_wall_ns
                .saturating_sub((self.start - instant).as_nanos() as u64)
        }
    }
}

/// The wall clock, ns since the epoch.
pub(super) fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// What every user knows about the run.
#[derive(Debug)]
pub(super) struct Context {
    /// The gateway.
    pub(super) addr: SocketAddr,
    /// The clock.
    pub(super) clock: Clock,
    /// Per market: selections, when it opens, until when bets go in, and the wall time its
    /// settlement is measured from.
    pub(super) markets: BTreeMap<u32, MarketInfo>,
    /// Every user's credentials.
    pub(super) keys: BTreeMap<u32, [u8; 32]>,
    /// Seed of the users' random choices.
    pub(super) seed: u64,
}

/// What a user needs to know of a market.
#[derive(Clone, Copy, Debug)]
pub(super) struct MarketInfo {
    /// Selections 1..=selections.
    pub(super) selections: u32,
    /// Sends to it start this far into the run.
    pub(super) open_at: Duration,
    /// Settlement is measured from this wall time (a race's end, a vote window's end).
    pub(super) settle_wall_ns: Option<u64>,
}

/// Told to every user when the load is over and settlement (if any) has happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    /// Sending.
    Running,
    /// Stop and hand in.
    Finish,
}

/// A bet as the user knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Bet {
    /// The engine's id.
    pub(super) id: u64,
    /// The client order id.
    pub(super) client_order_id: u64,
    /// The market.
    pub(super) market: u32,
    /// The selection.
    pub(super) selection: u32,
    /// Stake, minor units.
    pub(super) stake: i64,
    /// Taken back.
    pub(super) cancelled: bool,
    /// Settled with this payout.
    pub(super) payout: Option<i64>,
}

/// What a user hands in.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    /// Measurements.
    pub(super) record: Record,
    /// Every bet accepted.
    pub(super) bets: Vec<Bet>,
    /// The last vote accepted per market.
    pub(super) votes: BTreeMap<u32, u32>,
}

struct Pending {
    op: Op,
    scheduled: Instant,
    /// For a repeated client order id: the bet it repeats.
    repeat_of: Option<u64>,
}

struct Due {
    plan: StreamPlan,
    next: Instant,
    end: Instant,
    interval: Duration,
}

/// One user's state.
struct User {
    plan: UserPlan,
    ctx: Arc<Context>,
    rng: Rng,
    record: Record,
    pending: HashMap<u64, Pending>,
    /// Aggressive orders awaiting their first fill: request id to scheduled wall time.
    aggressors: HashMap<u64, u64>,
    bets: Vec<Bet>,
    bet_index: HashMap<u64, usize>,
    standing: VecDeque<usize>,
    resting: VecDeque<(u64, u32)>,
    votes: BTreeMap<u32, u32>,
    reference: BTreeMap<u32, Vec<u16>>,
    quote_flip: bool,
    next_request: u64,
    next_client_order: u64,
    queries: u64,
}

/// Runs one user until told to finish; never panics on what the server sends.
pub(super) async fn run(
    plan: UserPlan,
    ctx: Arc<Context>,
    mut stage: watch::Receiver<Stage>,
) -> Outcome {
    let account = plan.account;
    let seed =
        ctx.seed ^ (u64::from(account) << 20) ^ plan.markets.first().copied().map_or(0, u64::from);
    let mut user = User {
        plan,
        ctx,
        rng: Rng::new(seed),
        record: Record::default(),
        pending: HashMap::new(),
        aggressors: HashMap::new(),
        bets: Vec::new(),
        bet_index: HashMap::new(),
        standing: VecDeque::new(),
        resting: VecDeque::new(),
        votes: BTreeMap::new(),
        reference: BTreeMap::new(),
        quote_flip: false,
        next_request: 1,
        next_client_order: 1,
        queries: 0,
    };
    if let Err(error) = user.session(&mut stage).await {
        user.record.count("sessions_lost", 1);
        for (_, pending) in user.pending.drain() {
            user.record.failed(pending.op, "connection lost");
        }
        tracing::warn!("user {account}: {error}");
    }
    Outcome {
        record: user.record,
        bets: user.bets,
        votes: user.votes,
    }
}

impl User {
    async fn session(&mut self, stage: &mut watch::Receiver<Stage>) -> Result<(), String> {
        let secret = self
            .ctx
            .keys
            .get(&self.plan.account)
            .copied()
            .ok_or("no key for the account")?;
        let credentials = Credentials {
            key_id: u64::from(self.plan.account),
            secret,
        };
        let mut session = match Session::login(self.ctx.addr, credentials, LOGIN_TIMEOUT).await {
            Ok(session) => session,
            Err(error) => {
                self.record.count("logins_failed", 1);
                return Err(error);
            }
        };
        let heartbeat =
            Duration::from_millis(u64::from(session.accepted.heartbeat_ms.max(200)) / 2);
        let clock = self.ctx.clock;
        let mut streams: Vec<Due> = self
            .plan
            .streams
            .iter()
            .filter(|s| s.per_s > 0.0 && s.until > s.from)
            .map(|s| {
                let interval = Duration::from_secs_f64(1.0 / s.per_s);
                // A random phase spreads the users' sends over the interval, drawn so that
                // the window holds at least `rate * window` sends (never one short).
                let sends = (s.until - s.from).as_secs_f64() * s.per_s;
                let slack = match sends - sends.floor() {
                    0.0 => 1.0,
                    fraction => 1.0 - fraction,
                };
                let draw = (self.rng.below(1_000_000) as f64) / 1e6;
                let phase = interval.mul_f64(draw * slack);
                Due {
                    plan: *s,
                    next: clock.at(s.from) + phase,
                    end: clock.at(s.until),
                    interval,
                }
            })
            .collect();
        let mut last_sent = Instant::now();
        let mut finishing: Option<Instant> = None;
        loop {
            let due = streams
                .iter()
                .enumerate()
                .filter(|(_, d)| d.next < d.end)
                .min_by_key(|(_, d)| d.next)
                .map(|(i, d)| (i, d.next));
            let wake = match (finishing, due) {
                (Some(deadline), _) => deadline,
                (None, Some((_, at))) => at.min(last_sent + heartbeat),
                (None, None) => last_sent + heartbeat,
            };
            tokio::select! {
                biased;
                msg = session.read() => match msg? {
                    Some(msg) => self.answer(msg)?,
                    None => return Err("the server closed the connection".into()),
                },
                changed = stage.changed(), if finishing.is_none() => {
                    if changed.is_err() || *stage.borrow() == Stage::Finish {
                        finishing = Some(Instant::now() + DRAIN);
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    if let Some(deadline) = finishing {
                        if Instant::now() >= deadline || self.pending.is_empty() {
                            break;
                        }
                        continue;
                    }
                    match due {
                        Some((i, at)) if at <= Instant::now() => {
                            let plan = streams[i].plan;
                            let interval = streams[i].interval;
                            streams[i].next += interval;
                            if let Some(msg) = self.make(plan.action, at) {
                                session.queue(&msg);
                            }
                        }
                        _ => session.queue(&ClientMsg::Heartbeat { ts_ns: wall_ns() }),
                    }
                    session.flush().await?;
                    last_sent = Instant::now();
                }
            }
            if finishing.is_some() && self.pending.is_empty() {
                break;
            }
        }
        for (_, pending) in self.pending.drain() {
            self.record.failed(pending.op, "unanswered");
        }
        Ok(())
    }

    fn request_id(&mut self, op: Op, scheduled: Instant, repeat_of: Option<u64>) -> u64 {
        let id = self.next_request;
        self.next_request += 1;
        self.record.sent(op);
        self.pending.insert(
            id,
            Pending {
                op,
                scheduled,
                repeat_of,
            },
        );
        id
    }

    /// A market of the user's that is open for sends now.
    fn market(&mut self, scheduled: Instant) -> Option<(u32, u32)> {
        let clock = self.ctx.clock;
        let open: Vec<(u32, u32)> = self
            .plan
            .markets
            .iter()
            .filter_map(|m| {
                let info = self.ctx.markets.get(m)?;
                (clock.at(info.open_at) <= scheduled).then_some((*m, info.selections))
            })
            .collect();
        if open.is_empty() {
            return None;
        }
        Some(open[self.rng.below(open.len() as u64) as usize])
    }

    /// The message for one scheduled send (`None`: nothing to do, e.g. no bet to cancel).
    fn make(&mut self, action: Action, scheduled: Instant) -> Option<ClientMsg> {
        match action {
            Action::Bet { repeat } => self.bet(Op::PlaceBet, repeat, scheduled),
            Action::PaidVote { repeat } => self.bet(Op::Vote, repeat, scheduled),
            Action::CancelBet => {
                let index = loop {
                    let index = self.standing.pop_front()?;
                    if !self.bets[index].cancelled {
                        break index;
                    }
                };
                let bet = self.bets[index];
                let request_id = self.request_id(Op::CancelBet, scheduled, None);
                Some(ClientMsg::CancelBet(CancelBet {
                    request_id,
                    bet_id: OrderId(bet.id),
                    market: MarketId(bet.market),
                }))
            }
            Action::Order { aggressive } => {
                let (market, selections) = self.market(scheduled)?;
                let selection = SelectionId(1 + self.rng.below(u64::from(selections)) as u32);
                let stake_minor = 100 * self.rng.between(1, 10) as i64;
                let back = self.rng.below(2) == 0;
                let cross = (self.rng.below(1_000_000) as f64) < aggressive * 1e6;
                // Resting backs sit at 3.00-3.20 and resting lays at 2.50-2.90, so they never
                // meet; a crossing IOC reaches the far end of the other side.
                let (odds_x100, tif) = match (cross, back) {
                    (true, true) => (250, TimeInForce::Ioc),
                    (true, false) => (320, TimeInForce::Ioc),
                    (false, true) => (300 + 5 * self.rng.below(5) as u32, TimeInForce::Gtc),
                    (false, false) => (250 + 10 * self.rng.below(5) as u32, TimeInForce::Gtc),
                };
                let request_id = self.request_id(Op::NewOrder, scheduled, None);
                if cross {
                    let wall = self.ctx.clock.wall_of(scheduled);
                    self.aggressors.insert(request_id, wall);
                }
                let client_order_id = self.client_order_id();
                Some(ClientMsg::NewOrder(NewOrder {
                    request_id,
                    client_order_id,
                    stake_minor,
                    market: MarketId(market),
                    selection,
                    odds_x100,
                    side: if back { Side::Back } else { Side::Lay },
                    tif,
                    persistence: Persistence::Lapse,
                    post_only: false,
                }))
            }
            Action::CancelOrder => {
                // With nothing resting, the slot places a resting order instead: the stream's
                // rate is the scenario's transactions.
                let Some((order_id, market)) = self.resting.pop_front() else {
                    return self.make(Action::Order { aggressive: 0.0 }, scheduled);
                };
                let request_id = self.request_id(Op::CancelOrder, scheduled, None);
                Some(ClientMsg::Cancel(Cancel {
                    request_id,
                    market: MarketId(market),
                    order: OrderRef::OrderId(OrderId(order_id)),
                }))
            }
            Action::Vote => {
                let (market, _) = self.market(scheduled)?;
                // Six in ten for the first selection, three for the second, one for the third.
                let roll = self.rng.below(10);
                let selection = if roll < 6 {
                    1
                } else if roll < 9 {
                    2
                } else {
                    3
                };
                let request_id = self.request_id(Op::Vote, scheduled, None);
                Some(ClientMsg::Vote(Vote {
                    request_id,
                    market: MarketId(market),
                    selection: SelectionId(selection),
                }))
            }
            Action::Query => {
                let request_id = self.request_id(Op::Query, scheduled, None);
                self.queries += 1;
                Some(match self.queries % 3 {
                    0 => ClientMsg::GetBalance { request_id },
                    1 => ClientMsg::GetPositions { request_id },
                    _ => ClientMsg::GetOpenOrders {
                        request_id,
                        scope: Scope::All,
                    },
                })
            }
            Action::Telemetry => {
                let (market, selections) = self.market(scheduled)?;
                let probabilities_bps = self.walk(market, selections);
                let request_id = self.request_id(Op::Telemetry, scheduled, None);
                Some(ClientMsg::ReferenceOdds(ReferenceOdds {
                    request_id,
                    market: MarketId(market),
                    probabilities_bps,
                }))
            }
            Action::Quote => {
                let (market, _) = self.market(scheduled)?;
                self.quote_flip = !self.quote_flip;
                let request_id = self.request_id(Op::NewOrder, scheduled, None);
                // 2.00 against 2.50: a move far beyond the publishing threshold, one tick each.
                Some(ClientMsg::MassQuote(MassQuote {
                    request_id,
                    market: MarketId(market),
                    quotes: vec![QuoteEntry {
                        selection: SelectionId(1),
                        back_odds_x100: if self.quote_flip { 200 } else { 250 },
                        lay_odds_x100: 0,
                        back_stake_minor: 100,
                        lay_stake_minor: 0,
                    }],
                }))
            }
        }
    }

    fn client_order_id(&mut self) -> u64 {
        let id = self.next_client_order;
        self.next_client_order += 1;
        id
    }

    fn bet(&mut self, op: Op, repeat: f64, scheduled: Instant) -> Option<ClientMsg> {
        let (market, selections) = self.market(scheduled)?;
        let repeating = !self.bets.is_empty() && (self.rng.below(1_000_000) as f64) < repeat * 1e6;
        if repeating {
            // The same request again, as a client retrying after a lost answer would.
            let bet = self.bets[self.rng.below(self.bets.len() as u64) as usize];
            let request_id = self.request_id(op, scheduled, Some(bet.id));
            self.record.count("repeats_sent", 1);
            return Some(ClientMsg::PlaceBet(PlaceBet {
                request_id,
                client_order_id: bet.client_order_id,
                stake_minor: bet.stake,
                market: MarketId(bet.market),
                selection: SelectionId(bet.selection),
            }));
        }
        let selection = 1 + self.rng.below(u64::from(selections)) as u32;
        let stake_minor = 100 * self.rng.between(1, 5) as i64;
        let request_id = self.request_id(op, scheduled, None);
        let client_order_id = self.client_order_id();
        self.record.count("bets_sent", 1);
        Some(ClientMsg::PlaceBet(PlaceBet {
            request_id,
            client_order_id,
            stake_minor,
            market: MarketId(market),
            selection: SelectionId(selection),
        }))
    }

    /// The feed's next probabilities: a small random walk that sums to 10,000.
    fn walk(&mut self, market: u32, selections: u32) -> Vec<u16> {
        let n = selections.max(1) as usize;
        let mut probs: Vec<i64> = self
            .reference
            .get(&market)
            .map(|p| p.iter().map(|&x| i64::from(x)).collect())
            .unwrap_or_else(|| vec![10_000 / n as i64; n]);
        for p in &mut probs {
            let step = self.rng.between(0, 600) as i64 - 300;
            *p = (*p + *p * step / 10_000).clamp(200, 9_000);
        }
        let sum: i64 = probs.iter().sum();
        let mut scaled: Vec<u16> = probs.iter().map(|p| (p * 10_000 / sum) as u16).collect();
        let rest = 10_000 - scaled.iter().map(|&p| i64::from(p)).sum::<i64>();
        if let Some(last) = scaled.last_mut() {
            *last = (i64::from(*last) + rest) as u16;
        }
        self.reference.insert(market, scaled.clone());
        scaled
    }

    fn latency(&self, scheduled: Instant) -> u64 {
        Instant::now()
            .saturating_duration_since(scheduled)
            .as_nanos() as u64
    }

    /// Takes one message from the server.
    fn answer(&mut self, msg: ServerMsg) -> Result<(), String> {
        match msg {
            ServerMsg::Report(report) => {
                self.report(report.header.request_id, report.header.ts_ns, report.body)
            }
            ServerMsg::RequestDone { request_id, .. } => {
                if let Some(p) = self.pending.remove(&request_id) {
                    self.record.answered(p.op, self.latency(p.scheduled));
                }
            }
            ServerMsg::Balance { header, .. }
            | ServerMsg::Positions { header, .. }
            | ServerMsg::OpenOrders { header, .. } => {
                if header.last
                    && let Some(p) = self.pending.remove(&header.request_id)
                {
                    self.record.answered(p.op, self.latency(p.scheduled));
                }
            }
            ServerMsg::Throttled { request_id, .. } => {
                if let Some(p) = self.pending.remove(&request_id) {
                    self.aggressors.remove(&request_id);
                    self.record.throttled(p.op, self.latency(p.scheduled));
                    if self.plan.probe {
                        self.record.count("probe_throttled", 1);
                    }
                }
            }
            ServerMsg::Busy { request_id, .. } => {
                if let Some(p) = self.pending.remove(&request_id) {
                    self.aggressors.remove(&request_id);
                    self.record.answered(p.op, self.latency(p.scheduled));
                    self.record.failed(p.op, "busy");
                }
            }
            ServerMsg::RequestRejected {
                request_id, reason, ..
            } => {
                if let Some(p) = self.pending.remove(&request_id) {
                    self.aggressors.remove(&request_id);
                    self.record.answered(p.op, self.latency(p.scheduled));
                    self.record.failed(p.op, proto::reject_code_name(reason));
                }
            }
            ServerMsg::EndOfSession { reason, detail } => {
                return Err(format!(
                    "session ended by the server ({reason:?}): {detail}"
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn report(&mut self, request_id: u64, ts_ns: u64, body: ReportBody) {
        let pending = self.pending.remove(&request_id);
        let answered = |record: &mut Record, p: &Option<Pending>| {
            if let Some(p) = p {
                record.answered(
                    p.op,
                    Instant::now()
                        .saturating_duration_since(p.scheduled)
                        .as_nanos() as u64,
                );
            }
        };
        match body {
            ReportBody::BetAccepted {
                bet_id,
                client_order_id,
                stake_minor,
                market,
                selection,
            } => {
                answered(&mut self.record, &pending);
                self.record.count("bets_accepted", 1);
                let index = self.bets.len();
                self.bets.push(Bet {
                    id: bet_id.0,
                    client_order_id,
                    market: market.0,
                    selection: selection.0,
                    stake: stake_minor,
                    cancelled: false,
                    payout: None,
                });
                self.bet_index.insert(bet_id.0, index);
                self.standing.push_back(index);
            }
            ReportBody::BetCancelled { bet_id, .. } => {
                answered(&mut self.record, &pending);
                if let Some(&index) = self.bet_index.get(&bet_id.0) {
                    self.bets[index].cancelled = true;
                }
                self.record.count("bets_cancelled", 1);
            }
            ReportBody::BetSettled {
                bet_id,
                payout_minor,
                market,
                ..
            } => {
                if let Some(&index) = self.bet_index.get(&bet_id.0) {
                    self.bets[index].payout = Some(payout_minor);
                }
                self.record.count("bets_settled", 1);
                if let Some(from) = self
                    .ctx
                    .markets
                    .get(&market.0)
                    .and_then(|m| m.settle_wall_ns)
                {
                    self.record
                        .latency(Op::Settlement, wall_ns().saturating_sub(from));
                }
            }
            ReportBody::OrderAccepted {
                order_id,
                tif,
                market,
                quote,
                ..
            } => {
                answered(&mut self.record, &pending);
                if !quote {
                    self.record.count("orders_accepted", 1);
                }
                if tif == TimeInForce::Gtc && !quote {
                    self.resting.push_back((order_id.0, market.0));
                }
            }
            ReportBody::Fill { liquidity, .. } => {
                self.record.count("fills", 1);
                if liquidity == proto::Liquidity::Taker {
                    self.record.count("trades", 1);
                }
                if let Some(wall) = self.aggressors.remove(&request_id) {
                    self.record
                        .latency(Op::Matching, ts_ns.saturating_sub(wall));
                }
            }
            ReportBody::OrderCancelled { order_id, .. } => {
                answered(&mut self.record, &pending);
                self.aggressors.remove(&request_id);
                self.resting.retain(|(id, _)| *id != order_id.0);
            }
            ReportBody::VoteAccepted {
                market, selection, ..
            } => {
                answered(&mut self.record, &pending);
                self.votes.insert(market.0, selection.0);
                self.record.count("votes_accepted", 1);
            }
            ReportBody::OrderRejected {
                order_id, reason, ..
            } => {
                let Some(p) = pending else {
                    return;
                };
                self.aggressors.remove(&request_id);
                self.record.answered(p.op, self.latency(p.scheduled));
                match (reason, p.repeat_of) {
                    (RejectReason::DuplicateClientOrderId, Some(original)) => {
                        if order_id.map(|o| o.0) == Some(original) {
                            self.record.count("repeats_answered_original", 1);
                        } else {
                            self.record.count("repeats_answered_wrong", 1);
                        }
                    }
                    // A cancel racing the fill, the lock or the settlement of what it names.
                    (RejectReason::UnknownOrder | RejectReason::MarketNotOpen, _)
                        if matches!(p.op, Op::CancelBet | Op::CancelOrder) =>
                    {
                        self.record.count("cancels_too_late", 1);
                    }
                    _ => self.record.failed(p.op, reason.name()),
                }
            }
            _ => answered(&mut self.record, &pending),
        }
    }
}
