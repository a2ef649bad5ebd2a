//! The market-data subscribers: one tokio task per connection, over TCP, logged in when the
//! scenario's streams need it. Each keeps, per market, where its stream started (the first
//! snapshot) and every tick and book-stream sequence number it read, so that delivery can be
//! counted against what the node published; it times every update from the engine's time
//! stamp to its own read, a scheduled lock from the time it was scheduled for, and a vote's
//! resolution from the end of its window. A message about a market it did not subscribe to is
//! a leak.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use oddsmatch_engine::{MarketId, MarketStatus, StatusCause};
use oddsmatch_net::proto::login_proof;
use oddsmatch_net::proto::md::{FLAG_CONFLATED, MdClientMsg, MdServerMsg, Streams};
use tokio::sync::watch;
use tokio::time::Instant;

use super::record::{Op, Record};
use super::users::{Clock, Stage, wall_ns};
use super::wire::{Frames, connect, write_all};

/// How often a subscriber says it is still there.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// What subscribers know about the run.
#[derive(Debug)]
pub(super) struct MdContext {
    /// The market-data listener.
    pub(super) addr: SocketAddr,
    /// The clock.
    pub(super) clock: Clock,
    /// Per market: when it opens, its scheduled lock and the end of its vote window (wall
    /// times).
    pub(super) markets: BTreeMap<u32, MdMarket>,
    /// Secrets of the accounts subscribers log in as.
    pub(super) keys: BTreeMap<u32, [u8; 32]>,
    /// Connections being made at once (thousands at once overflow a listener's backlog).
    pub(super) connecting: tokio::sync::Semaphore,
}

/// Subscribers connecting and logging in at once.
pub(super) const CONNECTING: usize = 128;

/// What a subscriber needs to know of a market.
#[derive(Clone, Copy, Debug)]
pub(super) struct MdMarket {
    /// Subscribed this far into the run.
    pub(super) subscribe_at: Duration,
    /// The scheduled lock, wall ns.
    pub(super) lock_wall_ns: Option<u64>,
    /// The end of the vote window, wall ns.
    pub(super) vote_end_wall_ns: Option<u64>,
}

/// One market's stream as a subscriber saw it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Seen {
    /// The tick sequence number of the first snapshot.
    pub(super) tick_start: Option<u64>,
    /// The highest tick sequence number read.
    pub(super) tick_last: u64,
    /// Ticks read (each counted once).
    pub(super) ticks: u64,
    /// The book-stream sequence number of the first snapshot.
    pub(super) book_start: Option<u64>,
    /// The highest book-stream sequence number read.
    pub(super) book_last: u64,
    /// Book-stream messages read.
    pub(super) book: u64,
}

/// What a subscriber hands in.
#[derive(Debug, Default)]
pub(super) struct MdOutcome {
    /// Measurements (latencies, counts of gaps, conflations, leaks).
    pub(super) record: Record,
    /// Per market.
    pub(super) seen: BTreeMap<u32, Seen>,
    /// The streams it subscribed.
    pub(super) streams: Streams,
}

/// Runs one subscriber until told to finish.
pub(super) async fn run(
    markets: Vec<u32>,
    streams: Streams,
    login: Option<u32>,
    ctx: Arc<MdContext>,
    mut stage: watch::Receiver<Stage>,
) -> MdOutcome {
    let mut outcome = MdOutcome {
        streams,
        ..MdOutcome::default()
    };
    if let Err(error) = session(&markets, streams, login, &ctx, &mut stage, &mut outcome).await {
        outcome.record.count("md_sessions_lost", 1);
        tracing::warn!("subscriber: {error}");
    }
    outcome
}

async fn session(
    markets: &[u32],
    streams: Streams,
    login: Option<u32>,
    ctx: &MdContext,
    stage: &mut watch::Receiver<Stage>,
    outcome: &mut MdOutcome,
) -> Result<(), String> {
    let permit = ctx
        .connecting
        .acquire()
        .await
        .map_err(|_| "the load generator is stopping")?;
    let (reader, mut writer) = connect(ctx.addr).await?.into_split();
    let mut frames = Frames::new(reader);
    let mut out = Vec::new();
    if let Some(account) = login {
        let secret = ctx
            .keys
            .get(&account)
            .copied()
            .ok_or("no key to log in with")?;
        MdClientMsg::Login {
            key_id: u64::from(account),
        }
        .encode(&mut out);
        write_all(&mut writer, &out).await?;
        out.clear();
        let challenge = match read(&mut frames).await? {
            Some(MdServerMsg::Challenge { challenge }) => challenge,
            other => {
                return Err(format!(
                    "market-data login: expected a challenge, got {other:?}"
                ));
            }
        };
        MdClientMsg::LoginProof {
            proof: login_proof(&secret, &challenge, u64::from(account)),
        }
        .encode(&mut out);
        write_all(&mut writer, &out).await?;
        out.clear();
        match read(&mut frames).await? {
            Some(MdServerMsg::LoginAccepted { .. }) => {}
            other => return Err(format!("market-data login refused: {other:?}")),
        }
    }
    drop(permit);
    // Markets in the order they are subscribed.
    let mut due: Vec<(Instant, u32)> = markets
        .iter()
        .map(|m| {
            let at = ctx
                .markets
                .get(m)
                .map_or(Duration::ZERO, |i| i.subscribe_at);
            (ctx.clock.at(at), *m)
        })
        .collect();
    due.sort();
    due.reverse();
    let mut subscribed: BTreeMap<u32, bool> = BTreeMap::new();
    let mut request_id = 0u32;
    let mut heartbeat = Instant::now() + HEARTBEAT;
    loop {
        let next = due.last().map_or(heartbeat, |(at, _)| (*at).min(heartbeat));
        tokio::select! {
            biased;
            msg = read(&mut frames) => match msg? {
                Some(msg) => take(msg, ctx, &subscribed, outcome)?,
                None => return Err("the server closed the market-data connection".into()),
            },
            changed = stage.changed() => {
                if changed.is_err() || *stage.borrow() == Stage::Finish {
                    break;
                }
            }
            () = tokio::time::sleep_until(next) => {
                let now = Instant::now();
                while due.last().is_some_and(|(at, _)| *at <= now) {
                    let (_, market) = due.pop().expect("checked");
                    request_id += 1;
                    subscribed.insert(market, true);
                    outcome.seen.entry(market).or_default();
                    MdClientMsg::Subscribe {
                        request_id,
                        market: MarketId(market),
                        streams,
                    }
                    .encode(&mut out);
                }
                if now >= heartbeat {
                    MdClientMsg::Heartbeat.encode(&mut out);
                    heartbeat = now + HEARTBEAT;
                }
                write_all(&mut writer, &out).await?;
                out.clear();
            }
        }
    }
    Ok(())
}

async fn read<R: tokio::io::AsyncRead + Unpin>(
    frames: &mut Frames<R>,
) -> Result<Option<MdServerMsg>, String> {
    match frames.next().await? {
        Some((header, body)) => MdServerMsg::decode(header, &body)
            .map(Some)
            .map_err(|e| format!("bad market-data message: {e}")),
        None => Ok(None),
    }
}

/// Takes one message: counts, sequence numbers, latencies, leaks.
fn take(
    msg: MdServerMsg,
    ctx: &MdContext,
    subscribed: &BTreeMap<u32, bool>,
    outcome: &mut MdOutcome,
) -> Result<(), String> {
    let now = wall_ns();
    let record = &mut outcome.record;
    let market = match &msg {
        MdServerMsg::Snapshot(s) => Some(s.market),
        MdServerMsg::Tick(t) => Some(t.market),
        MdServerMsg::Book { market, .. }
        | MdServerMsg::Trade { market, .. }
        | MdServerMsg::Status { market, .. }
        | MdServerMsg::Pool { market, .. } => Some(*market),
        MdServerMsg::Rejected { market, reason, .. } => {
            record.count("md_subscribe_refused", 1);
            tracing::warn!("subscription to market {} refused: {reason:?}", market.0);
            None
        }
        MdServerMsg::End { reason, detail } => {
            return Err(format!("market data ended ({reason:?}): {detail}"));
        }
        _ => None,
    };
    let Some(market) = market else {
        return Ok(());
    };
    if !subscribed.contains_key(&market.0) {
        record.count("leaks", 1);
        return Ok(());
    }
    let seen = outcome.seen.entry(market.0).or_default();
    match msg {
        MdServerMsg::Snapshot(s) => {
            if seen.tick_start.is_none() {
                seen.tick_start = Some(s.tick_seq);
                seen.book_start = Some(s.book_seq);
                seen.tick_last = s.tick_seq;
                seen.book_last = s.book_seq;
            } else if s.flags & FLAG_CONFLATED != 0 {
                record.count("conflations", 1);
                seen.tick_last = seen.tick_last.max(s.tick_seq);
                seen.book_last = seen.book_last.max(s.book_seq);
            }
        }
        MdServerMsg::Tick(t) if t.tick_seq > seen.tick_last => {
            if t.tick_seq > seen.tick_last + 1 {
                record.count("tick_gaps", 1);
            }
            seen.tick_last = t.tick_seq;
            seen.ticks += 1;
            record.latency(Op::OddsTick, now.saturating_sub(t.ts_ns));
        }
        MdServerMsg::Book {
            book_seq, ts_ns, ..
        }
        | MdServerMsg::Trade {
            book_seq, ts_ns, ..
        }
        | MdServerMsg::Pool {
            book_seq, ts_ns, ..
        } => {
            book_update(seen, record, book_seq, now.saturating_sub(ts_ns));
        }
        MdServerMsg::Status {
            status,
            cause,
            book_seq,
            ts_ns,
            ..
        } => {
            if outcome
                .streams
                .intersects(Streams::BOOK.with(Streams::TRADES))
            {
                book_update(seen, record, book_seq, now.saturating_sub(ts_ns));
            }
            let info = ctx.markets.get(&market.0);
            if status == MarketStatus::Suspended
                && cause == StatusCause::Lock
                && let Some(at) = info.and_then(|i| i.lock_wall_ns)
            {
                record.latency(Op::MarketLock, now.saturating_sub(at));
            }
            if matches!(status, MarketStatus::Settled | MarketStatus::Voided) {
                record.count("settled_seen", 1);
                if let Some(at) = info.and_then(|i| i.vote_end_wall_ns) {
                    record.latency(Op::Tally, now.saturating_sub(at));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn book_update(seen: &mut Seen, record: &mut Record, book_seq: u64, latency_ns: u64) {
    if book_seq > seen.book_last {
        if book_seq > seen.book_last + 1 {
            record.count("book_gaps", 1);
        }
        seen.book_last = book_seq;
        seen.book += 1;
        record.latency(Op::MdUpdate, latency_ns);
    }
}
