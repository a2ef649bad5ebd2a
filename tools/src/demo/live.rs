//! What the demo knows while it runs, and how it shows it: counts, latencies and both
//! markets as a market-data subscriber sees them, drawn as a view redrawn in place on a
//! terminal or as one line a second otherwise.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use oddsmatch_engine::{MarketId, MarketStatus, StatusCause};
use oddsmatch_net::proto::md::{MdServerMsg, Streams, TickSelection};
use oddsmatch_net::subscriber::{Subscriber, SubscriberError, Update};
use serde::Serialize;

use super::traders::Trader;
use super::{EXCHANGE, POOL};
use crate::order::{align, format_odds, name};

/// Nanoseconds since the epoch, now.
pub(super) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The race's time: `t = 0` is the start.
#[derive(Clone, Copy, Debug)]
pub(super) struct Clock {
    /// The start.
    pub start: Instant,
    /// The start in nanoseconds since the epoch (the engine's time stamps).
    pub start_ns: u64,
}

impl Clock {
    /// A clock whose `t = 0` is `after` from now.
    pub(super) fn starting_in(after: Duration) -> Clock {
        Clock {
            start: Instant::now() + after,
            start_ns: now_ns() + after.as_nanos() as u64,
        }
    }

    /// The moment `t = after`.
    pub(super) fn at(&self, after: Duration) -> Instant {
        self.start + after
    }

    /// `t` at `at`, in seconds (negative before the start).
    pub(super) fn secs(&self, at: Instant) -> f64 {
        if at >= self.start {
            (at - self.start).as_secs_f64()
        } else {
            -(self.start - at).as_secs_f64()
        }
    }

    /// `t` now, in seconds.
    pub(super) fn now(&self) -> f64 {
        self.secs(Instant::now())
    }

    /// How many whole `interval`s have passed since the start at `at` (0 before it).
    pub(super) fn step(&self, at: Instant, interval: Duration) -> usize {
        (at.saturating_duration_since(self.start).as_nanos() / interval.as_nanos().max(1)) as usize
    }
}

/// Counters of what the traders sent and heard and what the subscriber saw.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(super) struct Counts {
    /// Exchange orders the bettors sent.
    pub orders: u64,
    /// Of those, accepted.
    pub orders_accepted: u64,
    /// Pool bets the bettors sent.
    pub bets: u64,
    /// Of those, accepted.
    pub bets_accepted: u64,
    /// Mass quotes the market makers sent.
    pub mass_quotes: u64,
    /// Quote orders they put in the book.
    pub quote_orders: u64,
    /// Reference odds the feed sent.
    pub reference_odds: u64,
    /// Fills reported to the traders (two per trade between two of them).
    pub fills: u64,
    /// Trades the subscriber saw.
    pub trades: u64,
    /// Odds ticks the subscriber saw.
    pub ticks: u64,
    /// Requests refused by a throttle.
    pub throttled: u64,
    /// Requests refused because the shard's queue was full.
    pub busy: u64,
    /// Gaps the subscriber noticed (and repaired by a resync).
    pub gaps: u64,
}

/// One market as the subscriber sees it.
#[derive(Clone, Debug, Default)]
pub(super) struct MarketView {
    /// Its state.
    pub status: Option<MarketStatus>,
    /// The last tick's number.
    pub tick_seq: u64,
    /// Ticks seen.
    pub ticks: u64,
    /// Every selection's odds, as the last snapshot and ticks left them.
    pub selections: Vec<TickSelection>,
    /// Trades seen.
    pub trades: u64,
    /// Stake matched in them.
    pub matched: i64,
    /// The last trade: selection, odds x100, stake.
    pub last_trade: Option<(u32, u32, i64)>,
    /// A snapshot has arrived.
    pub synced: bool,
}

/// Everything the demo shows.
#[derive(Clone, Debug, Default)]
pub(super) struct State {
    /// The counters.
    pub counts: Counts,
    /// Rejects by reason name.
    pub rejects: BTreeMap<String, u64>,
    /// Acknowledgement round trips, nanoseconds.
    pub ack_ns: Vec<u64>,
    /// Tick time stamp to receipt, nanoseconds.
    pub tick_ns: Vec<u64>,
    /// The pool (index 0) and the exchange (index 1).
    pub markets: [MarketView; 2],
    /// The race: centimetres covered by each runner at the last publication.
    pub positions_cm: Vec<i64>,
    /// The feed's last probabilities, basis points.
    pub reference: Vec<u32>,
    /// What happened, one line each, in order.
    pub events: Vec<String>,
    /// What went wrong in a trader's or the subscriber's thread.
    pub failures: Vec<String>,
}

/// [`State`] shared by every thread.
#[derive(Debug, Default)]
pub(super) struct Live {
    state: Mutex<State>,
}

fn index(market: MarketId) -> Option<usize> {
    match market {
        POOL => Some(0),
        EXCHANGE => Some(1),
        _ => None,
    }
}

/// `market 1 (race pool)`.
pub(super) fn label(market: MarketId) -> String {
    match market {
        POOL => format!("market {} (race pool)", market.0),
        EXCHANGE => format!("market {} (exchange)", market.0),
        other => format!("market {}", other.0),
    }
}

impl Live {
    /// The state, locked (a thread that panicked holding it leaves it usable).
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the state.
    pub(super) fn snapshot(&self) -> State {
        self.lock().clone()
    }

    /// Changes counters.
    pub(super) fn count(&self, change: impl FnOnce(&mut Counts)) {
        change(&mut self.lock().counts);
    }

    /// A reject, by reason name.
    pub(super) fn reject(&self, reason: &str) {
        *self.lock().rejects.entry(reason.to_owned()).or_default() += 1;
    }

    /// An acknowledgement's round trip.
    pub(super) fn ack(&self, elapsed: Duration) {
        self.lock()
            .ack_ns
            .push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Something that went wrong in a thread.
    pub(super) fn failure(&self, message: String) {
        self.lock().failures.push(message);
    }

    /// A line of the event log, stamped with the race's time.
    pub(super) fn event(&self, clock: &Clock, text: &str) {
        self.lock()
            .events
            .push(format!("t={:>6.2}s  {text}", clock.now()));
    }

    /// The race after a publication of the feed.
    pub(super) fn race(&self, positions_cm: Vec<i64>, probabilities: &[u16]) {
        let mut state = self.lock();
        state.positions_cm = positions_cm;
        state.reference = probabilities.iter().map(|p| u32::from(*p)).collect();
    }

    /// The feed's last probabilities (empty before the first).
    pub(super) fn reference(&self) -> Vec<u32> {
        self.lock().reference.clone()
    }

    /// What the subscriber read.
    fn take(&self, clock: &Clock, msg: MdServerMsg) {
        let mut state = self.lock();
        match msg {
            MdServerMsg::Snapshot(snapshot) => {
                let Some(i) = index(snapshot.market) else {
                    return;
                };
                let view = &mut state.markets[i];
                view.status = snapshot.status.or(view.status);
                view.tick_seq = snapshot.tick_seq;
                view.selections = snapshot.selections.iter().map(|s| s.odds).collect();
                view.synced = true;
            }
            MdServerMsg::Tick(tick) => {
                let Some(i) = index(tick.market) else {
                    return;
                };
                if tick.ts_ns != 0 {
                    let lag = now_ns().saturating_sub(tick.ts_ns);
                    state.tick_ns.push(lag);
                }
                state.counts.ticks += 1;
                let view = &mut state.markets[i];
                view.ticks += 1;
                view.tick_seq = tick.tick_seq;
                view.status = tick.status.or(view.status);
                for odds in tick.selections {
                    match view
                        .selections
                        .iter_mut()
                        .find(|s| s.selection == odds.selection)
                    {
                        Some(s) => *s = odds,
                        None => view.selections.push(odds),
                    }
                }
            }
            MdServerMsg::Status {
                market,
                status,
                cause,
                ..
            } => {
                let Some(i) = index(market) else {
                    return;
                };
                state.markets[i].status = Some(status);
                drop(state);
                self.event(
                    clock,
                    &format!("{} {}", label(market), status_words(status, cause)),
                );
            }
            MdServerMsg::Trade {
                market,
                selection,
                odds_x100,
                stake_minor,
                ..
            } => {
                let Some(i) = index(market) else {
                    return;
                };
                state.counts.trades += 1;
                let view = &mut state.markets[i];
                view.trades += 1;
                view.matched += stake_minor;
                view.last_trade = Some((selection.0, odds_x100, stake_minor));
            }
            _ => {}
        }
    }
}

fn status_words(status: MarketStatus, cause: StatusCause) -> String {
    match (status, cause) {
        (MarketStatus::Suspended, StatusCause::Lock) => {
            "locked by its schedule (end_at - lock_before_end_ms): no more bets".to_owned()
        }
        (MarketStatus::Suspended, StatusCause::CircuitBreaker) => {
            "suspended by the circuit breaker".to_owned()
        }
        (status, StatusCause::Operator) => format!("{} by the operator", participle(status)),
        (status, cause) => format!("{} ({})", participle(status), name(&cause)),
    }
}

fn participle(status: MarketStatus) -> String {
    match status {
        MarketStatus::Open => "opened".to_owned(),
        other => name(&other),
    }
}

// -------------------------------------------------------------------------------- subscriber

/// The market-data subscriber: logs in (trades need it), subscribes both markets to ticks,
/// status changes and trades, says on `ready` once both snapshots are in (or why not), then
/// reads until `stop`.
pub(super) fn watch(
    addr: SocketAddr,
    trader: Trader,
    live: Arc<Live>,
    clock: Clock,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<Result<(), String>>,
) {
    let started = (|| -> Result<Subscriber, String> {
        let mut feed = Subscriber::connect(addr)
            .map_err(|e| format!("market data: cannot connect to {addr}: {e}"))?;
        feed.login(trader.credentials.key_id, trader.credentials.secret)
            .map_err(|e| format!("market data: cannot log in at {addr}: {e}"))?;
        let streams = Streams::TICKS.with(Streams::STATUS).with(Streams::TRADES);
        for market in [POOL, EXCHANGE] {
            feed.subscribe(market, streams)
                .map_err(|e| format!("market data: cannot subscribe: {e}"))?;
        }
        Ok(feed)
    })();
    let mut feed = match started {
        Ok(feed) => feed,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let mut waiting = Some(ready);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stop.load(Ordering::Acquire) {
        if let Some(ready) = &waiting {
            let state = live.lock();
            if state.markets.iter().all(|m| m.synced) {
                drop(state);
                let _ = ready.send(Ok(()));
                waiting = None;
            } else if Instant::now() > deadline {
                let _ = ready.send(Err(format!(
                    "market data: no snapshot of both markets from {addr} within 10 s"
                )));
                return;
            }
        }
        match feed.next(Duration::from_millis(50)) {
            Ok(Some(Update::Message(MdServerMsg::Rejected { market, reason, .. }))) => {
                let error = format!("market data: {} refused: {reason:?}", label(market));
                match waiting.take() {
                    Some(ready) => {
                        let _ = ready.send(Err(error));
                    }
                    None => live.failure(error),
                }
                return;
            }
            Ok(Some(Update::Message(msg))) => live.take(&clock, msg),
            Ok(Some(Update::Gap { .. })) => live.count(|c| c.gaps += 1),
            Ok(None) | Err(SubscriberError::Timeout) => {}
            Err(SubscriberError::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => {
                let error = format!("market data: {error}");
                match waiting.take() {
                    Some(ready) => {
                        let _ = ready.send(Err(error));
                    }
                    None => live.failure(error),
                }
                return;
            }
        }
    }
}

// ------------------------------------------------------------------------------------- stats

/// Percentiles of a set of latencies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub(super) struct Spread {
    /// How many.
    pub n: u64,
    /// Median, microseconds.
    pub p50_us: u64,
    /// 99th percentile, microseconds.
    pub p99_us: u64,
    /// Largest, microseconds.
    pub max_us: u64,
}

/// The nearest-rank percentiles of `values` (nanoseconds), exactly.
pub(super) fn spread(values: &[u64]) -> Spread {
    if values.is_empty() {
        return Spread::default();
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = |q: u64| {
        let n = sorted.len() as u64;
        let r = (q * n).div_ceil(100).clamp(1, n);
        sorted[(r - 1) as usize] / 1_000
    };
    Spread {
        n: sorted.len() as u64,
        p50_us: rank(50),
        p99_us: rank(99),
        max_us: sorted[sorted.len() - 1] / 1_000,
    }
}

/// Microseconds as milliseconds with two decimals: `1234` is `1.23 ms`.
pub(super) fn ms(us: u64) -> String {
    let hundredths = (us + 5) / 10;
    format!("{}.{:02} ms", hundredths / 100, hundredths % 100)
}

/// Minor units as units with two decimals: `-1234` is `-12.34`.
pub(super) fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Basis points as a percentage with one decimal.
fn percent(bps: u32) -> String {
    let tenths = (bps + 5) / 10;
    format!("{}.{}%", tenths / 10, tenths % 10)
}

/// The feed's probability, or `-` before the first.
fn reference(bps: u16) -> String {
    if bps == 0 {
        "-".to_owned()
    } else {
        percent(u32::from(bps))
    }
}

fn odds_or_dash(odds_x100: u32) -> String {
    if odds_x100 == 0 {
        "-".to_owned()
    } else {
        format_odds(odds_x100)
    }
}

/// Metres with one decimal from centimetres.
fn metres(cm: i64) -> String {
    format!("{}.{} m", cm / 100, (cm % 100) / 10)
}

/// The latency line: acknowledgements and ticks.
pub(super) fn latency_line(state: &State) -> String {
    let acks = spread(&state.ack_ns);
    let ticks = spread(&state.tick_ns);
    format!(
        "order ack round trip p50 {} p99 {} (n={})   tick time stamp to screen p50 {} p99 {} (n={})",
        ms(acks.p50_us),
        ms(acks.p99_us),
        acks.n,
        ms(ticks.p50_us),
        ms(ticks.p99_us),
        ticks.n
    )
}

/// The counts line.
pub(super) fn counts_line(state: &State) -> String {
    let c = &state.counts;
    let rejects: u64 = state.rejects.values().sum();
    format!(
        "{} orders, {} pool bets, {} mass quotes, {} reference odds; {} trades, {} ticks; {} \
         rejects{}",
        c.orders,
        c.bets,
        c.mass_quotes,
        c.reference_odds,
        c.trades,
        c.ticks,
        rejects,
        if c.throttled + c.busy > 0 {
            format!(", {} throttled, {} busy", c.throttled, c.busy)
        } else {
            String::new()
        }
    )
}

fn status_text(view: &MarketView) -> String {
    view.status
        .map_or_else(|| "waiting".to_owned(), |status| name(&status))
}

/// The view redrawn in place on a terminal.
pub(super) fn screen(state: &State, clock: &Clock, header: &[String], phase: &str) -> String {
    let mut text = String::new();
    for line in header {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&format!("t = {:.1} s   {phase}\n\n", clock.now().max(0.0)));
    let pool = &state.markets[0];
    let total: i64 = pool.selections.iter().map(|s| s.pool_minor).sum();
    text.push_str(&format!(
        "{}  {}  tick {}  pool {}\n",
        label(POOL),
        status_text(pool),
        pool.tick_seq,
        money(total)
    ));
    let rows = pool
        .selections
        .iter()
        .enumerate()
        .map(|(i, s)| {
            vec![
                s.selection.0.to_string(),
                state
                    .positions_cm
                    .get(i)
                    .map_or_else(|| "-".to_owned(), |cm| metres(*cm)),
                reference(s.reference_bps),
                odds_or_dash(if s.reference_bps == 0 {
                    0
                } else {
                    super::traders::fair_odds(u32::from(s.reference_bps))
                }),
                money(s.pool_minor),
                odds_or_dash(s.indicative_x100),
            ]
        })
        .collect();
    let columns = [
        ("RUNNER", true),
        ("COVERED", true),
        ("FEED", true),
        ("FAIR", true),
        ("POOL", true),
        ("PAYS", true),
    ];
    text.push_str(&align(&columns, rows, "  "));
    let exchange = &state.markets[1];
    text.push_str(&format!(
        "\n{}  {}  tick {}  {} trades, {} matched{}\n",
        label(EXCHANGE),
        status_text(exchange),
        exchange.tick_seq,
        exchange.trades,
        money(exchange.matched),
        exchange
            .last_trade
            .map_or_else(String::new, |(selection, odds, stake)| format!(
                "; last {} at {} on {selection}",
                money(stake),
                format_odds(odds)
            ))
    ));
    let rows = exchange
        .selections
        .iter()
        .map(|s| {
            vec![
                s.selection.0.to_string(),
                odds_or_dash(s.back_x100),
                odds_or_dash(s.lay_x100),
                odds_or_dash(s.last_traded_x100),
                money(s.matched_minor),
            ]
        })
        .collect();
    let columns = [
        ("RUNNER", true),
        ("BACK", true),
        ("LAY", true),
        ("LAST", true),
        ("MATCHED", true),
    ];
    text.push_str(&align(&columns, rows, "  "));
    text.push_str(&format!(
        "\n{}\n{}\n",
        latency_line(state),
        counts_line(state)
    ));
    let recent = state.events.len().saturating_sub(6);
    for event in &state.events[recent..] {
        text.push_str(&format!("  {event}\n"));
    }
    text
}

/// One line of progress, for a log rather than a terminal.
pub(super) fn progress_line(state: &State, clock: &Clock) -> String {
    let pool = &state.markets[0];
    let runners: Vec<String> = pool
        .selections
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "{} {} {}",
                s.selection.0,
                state
                    .positions_cm
                    .get(i)
                    .map_or_else(|| "-".to_owned(), |cm| metres(*cm)),
                reference(s.reference_bps)
            )
        })
        .collect();
    let total: i64 = pool.selections.iter().map(|s| s.pool_minor).sum();
    let exchange = &state.markets[1];
    let acks = spread(&state.ack_ns);
    let ticks = spread(&state.tick_ns);
    format!(
        "t={:>6.2}s  race {} | pool {} {} | exchange {} {} trades {} matched | ack p50 {} p99 \
         {} | tick p50 {} p99 {} | {} ticks",
        clock.now(),
        runners.join(", "),
        status_text(pool),
        money(total),
        status_text(exchange),
        exchange.trades,
        money(exchange.matched),
        ms(acks.p50_us),
        ms(acks.p99_us),
        ms(ticks.p50_us),
        ms(ticks.p99_us),
        state.counts.ticks
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<u64> = (1..=100).map(|v| v * 1_000).collect();
        let s = spread(&values);
        assert_eq!((s.n, s.p50_us, s.p99_us, s.max_us), (100, 50, 99, 100));
        assert_eq!(spread(&[]), Spread::default());
        assert_eq!(spread(&[7_000]).p99_us, 7);
    }

    #[test]
    fn numbers_print_for_people() {
        assert_eq!(money(-1_234), "-12.34");
        assert_eq!(money(5), "0.05");
        assert_eq!(ms(1_234), "1.23 ms");
        assert_eq!(ms(5), "0.01 ms");
        assert_eq!(percent(4_763), "47.6%");
        assert_eq!(metres(19_041), "190.4 m");
    }

    #[test]
    fn steps_count_whole_intervals_from_the_start() {
        let clock = Clock::starting_in(Duration::ZERO);
        let interval = Duration::from_millis(250);
        assert_eq!(
            clock.step(clock.at(Duration::from_millis(999)), interval),
            3
        );
        assert_eq!(clock.step(clock.start, interval), 0);
        assert!(clock.secs(clock.at(Duration::from_secs(2))) > 1.99);
    }
}
