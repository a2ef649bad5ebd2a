//! The hub: every market's state, every subscription, and the fan-out with conflation.
//!
//! One task owns it, so nothing here locks. A shard's batch becomes frames encoded once and
//! handed to each subscriber's bounded queue; a subscriber whose queue is full for a market
//! goes *stale* on it: its updates of that market are skipped (status changes are kept aside,
//! never dropped) until its queue has room, when it gets the status changes it missed and one
//! `SNAPSHOT` flagged conflated. Stale for longer than the allowed lag, it is disconnected.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use oddsmatch_engine::shard::metrics::{LatencyRecorder, clock_ns};
use oddsmatch_engine::shard::{Batch, MarketData, MarketSnapshot, Submitter};
use oddsmatch_engine::{Event, MarketId, MarketOdds, MarketStatus, SelectionId, Side};
use tokio::sync::mpsc;

use super::session::End;
use super::{MarketDataConfig, MdStats};
use crate::proto::md::{
    Depth, FLAG_CONFLATED, MdServerMsg, Snapshot, SnapshotSelection, Streams, Tick, TickSelection,
};
use crate::proto::{EndReason, SubscribeReject};

/// A session's id in the hub.
pub(crate) type SubId = u64;

/// What the hub is told.
pub(crate) enum HubMsg {
    /// Something from a shard's market-data queue.
    Shard(usize, MarketData),
    /// A session started: its outbound queue and the slot for why it was ended.
    Open {
        sub: SubId,
        tx: mpsc::Sender<Bytes>,
        end: Arc<End>,
        max_subscriptions: usize,
    },
    /// A session logged in: its subscription limit changes.
    Limit {
        sub: SubId,
        max_subscriptions: usize,
    },
    /// A session ended.
    Close { sub: SubId },
    /// Subscribe to (more) streams of a market.
    Subscribe {
        sub: SubId,
        request_id: u32,
        market: MarketId,
        streams: Streams,
    },
    /// Drop streams of a market.
    Unsubscribe {
        sub: SubId,
        request_id: u32,
        market: MarketId,
        streams: Streams,
    },
    /// Send a fresh snapshot of a subscribed market.
    Resync {
        sub: SubId,
        request_id: u32,
        market: MarketId,
    },
}

struct Sub {
    tx: mpsc::Sender<Bytes>,
    end: Arc<End>,
    max_subscriptions: usize,
    markets: HashMap<MarketId, Streams>,
    /// Markets whose updates were skipped because the queue was full.
    stale: BTreeSet<MarketId>,
    stale_since: Option<Instant>,
    /// Status changes that arrived while stale, in order.
    pending_status: Vec<Bytes>,
}

struct Market {
    state: Snapshot,
}

struct ShardFeed {
    submitter: Submitter,
    /// The last input seen; a batch that does not follow it means batches were dropped.
    last_seq: Option<u64>,
    /// Waiting for a snapshot (at start, after a drop) since when; batches are ignored.
    awaiting: Option<Instant>,
}

/// The most status changes kept for a stale subscriber before it is disconnected.
const MAX_PENDING_STATUS: usize = 256;

pub(crate) struct Hub {
    config: MarketDataConfig,
    /// What an operator may change while the hub runs (`max_lag_ms`).
    pub(crate) knobs: Arc<super::LiveKnobs>,
    stats: Arc<MdStats>,
    markets: HashMap<MarketId, Market>,
    subs: HashMap<SubId, Sub>,
    by_market: HashMap<MarketId, Vec<SubId>>,
    shards: Vec<ShardFeed>,
    /// The node-wide subscription count.
    subscriptions: usize,
    /// Subscribers stale on some market (looked at every tick).
    stale_subs: BTreeSet<SubId>,
    scratch: Vec<u8>,
    /// Batch published to its frames handed to the subscribers ([`MdStats::latency`]).
    fanout: LatencyRecorder,
}

fn frame(msg: &MdServerMsg, scratch: &mut Vec<u8>) -> Bytes {
    scratch.clear();
    msg.encode(scratch);
    Bytes::copy_from_slice(scratch)
}

/// A `STATUS` frame marked as sent late (its flags byte), for a subscriber that was behind.
fn late(status: Bytes) -> Bytes {
    let mut bytes = status.to_vec();
    bytes[crate::proto::HEADER_LEN + 6] = FLAG_CONFLATED;
    Bytes::from(bytes)
}

fn tick_selection(view: &oddsmatch_engine::SelectionOddsView) -> TickSelection {
    TickSelection {
        selection: view.selection,
        back_x100: view.lays.odds_x100[0],
        lay_x100: view.backs.odds_x100[0],
        last_traded_x100: view.last_traded_x100,
        indicative_x100: view.indicative_x100,
        implied_bps: view.implied_bps.min(u32::from(u16::MAX)) as u16,
        reference_bps: view.reference_bps,
        matched_minor: view.matched_minor,
        pool_minor: view.pool_minor,
    }
}

fn depth(levels: &oddsmatch_engine::odds::Levels) -> Depth {
    Depth {
        odds_x100: levels.odds_x100,
        stakes_minor: levels.stakes_minor,
    }
}

fn snapshot_of(odds: &MarketOdds, ts_ns: u64) -> Snapshot {
    Snapshot {
        market: odds.market,
        status: Some(odds.status),
        flags: 0,
        tick_seq: odds.tick_seq,
        book_seq: odds.book_seq,
        overround_bps: odds.overround_bps,
        ts_ns,
        selections: odds
            .selections
            .iter()
            .map(|view| SnapshotSelection {
                odds: tick_selection(view),
                backs: depth(&view.backs),
                lays: depth(&view.lays),
            })
            .collect(),
    }
}

impl Hub {
    pub(crate) fn new(
        config: MarketDataConfig,
        stats: Arc<MdStats>,
        submitters: Vec<Submitter>,
    ) -> Hub {
        let now = Instant::now();
        let shards = submitters
            .into_iter()
            .map(|submitter| {
                let _ = submitter.request_market_snapshot();
                ShardFeed {
                    submitter,
                    last_seq: None,
                    awaiting: Some(now),
                }
            })
            .collect();
        Hub {
            knobs: Arc::new(super::LiveKnobs::new(&config)),
            config,
            fanout: LatencyRecorder::new(stats.latency.fanout.clone()),
            stats,
            markets: HashMap::new(),
            subs: HashMap::new(),
            by_market: HashMap::new(),
            shards,
            subscriptions: 0,
            stale_subs: BTreeSet::new(),
            scratch: Vec::with_capacity(4096),
        }
    }

    pub(crate) fn handle(&mut self, msg: HubMsg) {
        match msg {
            HubMsg::Shard(shard, MarketData::Snapshot(snapshot)) => {
                self.on_snapshot(shard, &snapshot)
            }
            HubMsg::Shard(shard, MarketData::Batch(batch)) => self.on_batch(shard, &batch),
            HubMsg::Open {
                sub,
                tx,
                end,
                max_subscriptions,
            } => {
                self.subs.insert(
                    sub,
                    Sub {
                        tx,
                        end,
                        max_subscriptions,
                        markets: HashMap::new(),
                        stale: BTreeSet::new(),
                        stale_since: None,
                        pending_status: Vec::new(),
                    },
                );
            }
            HubMsg::Limit {
                sub,
                max_subscriptions,
            } => {
                if let Some(s) = self.subs.get_mut(&sub) {
                    s.max_subscriptions = max_subscriptions;
                }
            }
            HubMsg::Close { sub } => self.remove(sub),
            HubMsg::Subscribe {
                sub,
                request_id,
                market,
                streams,
            } => self.subscribe(sub, request_id, market, streams),
            HubMsg::Unsubscribe {
                sub,
                request_id,
                market,
                streams,
            } => self.unsubscribe(sub, request_id, market, streams),
            HubMsg::Resync {
                sub,
                request_id,
                market,
            } => {
                let subscribed = self
                    .subs
                    .get(&sub)
                    .is_some_and(|s| s.markets.contains_key(&market));
                if !subscribed {
                    self.reply(
                        sub,
                        MdServerMsg::Rejected {
                            request_id,
                            market,
                            reason: SubscribeReject::NotSubscribed,
                        },
                    );
                } else if let Some(m) = self.markets.get(&market) {
                    let bytes = frame(&MdServerMsg::Snapshot(m.state.clone()), &mut self.scratch);
                    self.deliver(sub, market, bytes, false);
                }
            }
        }
    }

    fn reply(&mut self, sub: SubId, msg: MdServerMsg) {
        let bytes = frame(&msg, &mut self.scratch);
        if let Some(s) = self.subs.get(&sub)
            && s.tx.try_send(bytes).is_err()
        {
            // A reply that does not fit: the session is far behind; end it.
            self.disconnect(sub, EndReason::SlowConsumer, "the outbound queue is full");
        }
    }

    fn subscribe(&mut self, sub: SubId, request_id: u32, market: MarketId, streams: Streams) {
        let reject = |reason| MdServerMsg::Rejected {
            request_id,
            market,
            reason,
        };
        let Some(s) = self.subs.get(&sub) else { return };
        if !self.markets.contains_key(&market) {
            return self.reply(sub, reject(SubscribeReject::UnknownMarket));
        }
        let new = !s.markets.contains_key(&market);
        if new
            && (s.markets.len() >= s.max_subscriptions
                || self.subscriptions >= self.config.max_subscriptions)
        {
            return self.reply(sub, reject(SubscribeReject::TooManySubscriptions));
        }
        let s = self.subs.get_mut(&sub).expect("checked above");
        let now = s.markets.entry(market).or_default();
        *now = now.with(streams);
        let now = *now;
        if new {
            self.subscriptions += 1;
            self.stats.subscriptions.fetch_add(1, Ordering::Relaxed);
            self.by_market.entry(market).or_default().push(sub);
        }
        self.reply(
            sub,
            MdServerMsg::Subscribed {
                request_id,
                market,
                streams: now,
            },
        );
        let state = self.markets[&market].state.clone();
        let bytes = frame(&MdServerMsg::Snapshot(state), &mut self.scratch);
        self.deliver(sub, market, bytes, false);
    }

    fn unsubscribe(&mut self, sub: SubId, request_id: u32, market: MarketId, streams: Streams) {
        let Some(s) = self.subs.get_mut(&sub) else {
            return;
        };
        let Some(current) = s.markets.get_mut(&market) else {
            return self.reply(
                sub,
                MdServerMsg::Rejected {
                    request_id,
                    market,
                    reason: SubscribeReject::NotSubscribed,
                },
            );
        };
        *current = current.without(streams);
        let left = *current;
        if left.0 == 0 {
            s.markets.remove(&market);
            s.stale.remove(&market);
            self.drop_index(sub, market);
        }
        self.reply(
            sub,
            MdServerMsg::Unsubscribed {
                request_id,
                market,
                streams: left,
            },
        );
    }

    fn drop_index(&mut self, sub: SubId, market: MarketId) {
        if let Some(list) = self.by_market.get_mut(&market) {
            list.retain(|&s| s != sub);
        }
        self.subscriptions -= 1;
        self.stats.subscriptions.fetch_sub(1, Ordering::Relaxed);
    }

    fn remove(&mut self, sub: SubId) {
        if let Some(s) = self.subs.remove(&sub) {
            for market in s.markets.keys() {
                if let Some(list) = self.by_market.get_mut(market) {
                    list.retain(|&x| x != sub);
                }
                self.subscriptions -= 1;
                self.stats.subscriptions.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    fn disconnect(&mut self, sub: SubId, reason: EndReason, detail: &str) {
        if let Some(s) = self.subs.get(&sub) {
            s.end.set(reason, detail.to_owned());
        }
        if reason == EndReason::SlowConsumer {
            self.stats.slow_consumers.fetch_add(1, Ordering::Relaxed);
        }
        // Dropping the queue's sender ends the session's writer, which sends the reason.
        self.remove(sub);
    }

    /// Hands a frame to a subscriber, or marks it stale on the market.
    fn deliver(&mut self, sub: SubId, market: MarketId, bytes: Bytes, status: bool) {
        let Some(s) = self.subs.get_mut(&sub) else {
            return;
        };
        if s.stale.contains(&market) {
            if status {
                s.pending_status.push(late(bytes));
                if s.pending_status.len() > MAX_PENDING_STATUS {
                    self.disconnect(
                        sub,
                        EndReason::SlowConsumer,
                        "too many status changes missed",
                    );
                }
            }
            return;
        }
        match s.tx.try_send(bytes) {
            Ok(()) => {
                self.stats.frames.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Full(bytes)) => {
                s.stale.insert(market);
                self.stale_subs.insert(sub);
                s.stale_since.get_or_insert_with(Instant::now);
                self.stats.conflations.fetch_add(1, Ordering::Relaxed);
                if status {
                    s.pending_status.push(late(bytes));
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.remove(sub),
        }
    }

    /// Sends `bytes` to every subscriber of `market` with one of `streams`.
    fn fan_out(&mut self, market: MarketId, streams: Streams, bytes: Bytes, status: bool) {
        let Some(list) = self.by_market.get(&market) else {
            return;
        };
        if list.is_empty() {
            return;
        }
        let targets: Vec<SubId> = list
            .iter()
            .copied()
            .filter(|sub| {
                self.subs
                    .get(sub)
                    .and_then(|s| s.markets.get(&market))
                    .is_some_and(|mine| mine.intersects(streams))
            })
            .collect();
        for sub in targets {
            self.deliver(sub, market, bytes.clone(), status);
        }
    }

    /// Stale subscribers with room again get what they missed; those stale too long go.
    pub(crate) fn tick(&mut self) {
        if self.fanout.pending() {
            self.fanout.flush_if_due(clock_ns());
        }
        let now = Instant::now();
        let max_lag_ms = self.knobs.max_lag_ms();
        let max_lag = Duration::from_millis(max_lag_ms);
        let stale: Vec<SubId> = self.stale_subs.iter().copied().collect();
        for sub in stale {
            let Some(s) = self.subs.get(&sub).filter(|s| !s.stale.is_empty()) else {
                self.stale_subs.remove(&sub);
                continue;
            };
            if s.stale_since
                .is_some_and(|t| now.duration_since(t) > max_lag)
            {
                self.disconnect(
                    sub,
                    EndReason::SlowConsumer,
                    &format!("more than {max_lag_ms} ms behind"),
                );
                continue;
            }
            if s.tx.capacity() < s.pending_status.len() + s.stale.len() + 1 {
                continue;
            }
            let s = self.subs.get_mut(&sub).expect("listed above");
            for status in s.pending_status.drain(..) {
                let _ = s.tx.try_send(status);
            }
            let markets: Vec<MarketId> = std::mem::take(&mut s.stale).into_iter().collect();
            s.stale_since = None;
            self.stale_subs.remove(&sub);
            for market in markets {
                if let Some(m) = self.markets.get(&market) {
                    let mut state = m.state.clone();
                    state.flags = FLAG_CONFLATED;
                    let bytes = frame(&MdServerMsg::Snapshot(state), &mut self.scratch);
                    self.deliver(sub, market, bytes, false);
                }
            }
        }
        // A snapshot asked for and not seen (dropped on a full queue): ask again.
        for feed in &mut self.shards {
            if let Some(since) = feed.awaiting
                && now.duration_since(since) > Duration::from_secs(1)
            {
                let _ = feed.submitter.request_market_snapshot();
                feed.awaiting = Some(now);
            }
        }
    }

    fn on_snapshot(&mut self, shard: usize, snapshot: &MarketSnapshot) {
        let Some(feed) = self.shards.get_mut(shard) else {
            return;
        };
        if feed.awaiting.is_none() && feed.last_seq.is_some() {
            return; // a second answer to a repeated request: nothing missing
        }
        feed.awaiting = None;
        feed.last_seq = Some(snapshot.seq);
        let resync = snapshot.seq > 0;
        for odds in &snapshot.markets {
            let state = snapshot_of(odds, snapshot.ts_ns);
            self.markets.insert(
                odds.market,
                Market {
                    state: state.clone(),
                },
            );
            if resync
                && self
                    .by_market
                    .get(&odds.market)
                    .is_some_and(|l| !l.is_empty())
            {
                // Subscribers missed what the dropped batches held: a conflated snapshot.
                let mut state = state;
                state.flags = FLAG_CONFLATED;
                let bytes = frame(&MdServerMsg::Snapshot(state), &mut self.scratch);
                self.fan_out(odds.market, Streams::ALL, bytes, false);
            }
        }
    }

    fn on_batch(&mut self, shard: usize, batch: &Batch) {
        let Some(feed) = self.shards.get_mut(shard) else {
            return;
        };
        let Some(first) = batch.outcomes.first() else {
            return;
        };
        let last = batch.outcomes.last().map_or(first.seq, |o| o.seq);
        match feed.last_seq {
            _ if feed.awaiting.is_some() => return,
            Some(seen) if last <= seen => return, // older than the snapshot
            Some(seen) if first.seq != seen + 1 => {
                // The shard's queue was full and dropped batches: start again from a snapshot.
                self.stats.resyncs.fetch_add(1, Ordering::Relaxed);
                let _ = feed.submitter.request_market_snapshot();
                feed.awaiting = Some(Instant::now());
                return;
            }
            _ => {}
        }
        feed.last_seq = Some(last);
        for (outcome, events) in batch.iter() {
            self.apply(outcome.ts_ns, events);
        }
        let now_ns = clock_ns();
        self.fanout.record_since(batch.published_ns, now_ns);
        self.fanout.flush_if_due(now_ns);
    }

    /// Applies one input's events to the markets' states and fans them out.
    fn apply(&mut self, ts_ns: u64, events: &[Event]) {
        let mut index = 0;
        while index < events.len() {
            match events[index] {
                Event::MarketCreated { market, .. } => {
                    self.markets.entry(market).or_insert_with(|| Market {
                        state: Snapshot {
                            market,
                            status: Some(MarketStatus::Pending),
                            flags: 0,
                            tick_seq: 0,
                            book_seq: 0,
                            overround_bps: 0,
                            ts_ns,
                            selections: Vec::new(),
                        },
                    });
                }
                Event::OddsTick {
                    market,
                    tick_seq,
                    reason,
                    status,
                    selections,
                    overround_bps,
                } => {
                    let count = usize::from(selections);
                    let odds: Vec<TickSelection> = events[index + 1..]
                        .iter()
                        .take(count)
                        .filter_map(|e| match *e {
                            Event::SelectionOdds {
                                selection,
                                back_x100,
                                lay_x100,
                                last_traded_x100,
                                indicative_x100,
                                implied_bps,
                                reference_bps,
                                matched_minor,
                                pool_minor,
                                ..
                            } => Some(TickSelection {
                                selection,
                                back_x100,
                                lay_x100,
                                last_traded_x100,
                                indicative_x100,
                                implied_bps: implied_bps.min(u32::from(u16::MAX)) as u16,
                                reference_bps,
                                matched_minor,
                                pool_minor,
                            }),
                            _ => None,
                        })
                        .collect();
                    index += odds.len();
                    if let Some(m) = self.markets.get_mut(&market) {
                        let state = &mut m.state;
                        state.tick_seq = tick_seq;
                        state.status = Some(status);
                        state.overround_bps = overround_bps;
                        state.ts_ns = ts_ns;
                        if state.selections.len() != odds.len() {
                            state.selections = odds
                                .iter()
                                .map(|o| SnapshotSelection {
                                    odds: *o,
                                    ..SnapshotSelection::default()
                                })
                                .collect();
                        } else {
                            for (s, o) in state.selections.iter_mut().zip(&odds) {
                                s.odds = *o;
                            }
                        }
                    }
                    let tick = MdServerMsg::Tick(Tick {
                        market,
                        status: Some(status),
                        flags: 0,
                        tick_seq,
                        reason: Some(reason),
                        overround_bps,
                        ts_ns,
                        selections: odds,
                    });
                    let bytes = frame(&tick, &mut self.scratch);
                    self.fan_out(market, Streams::TICKS, bytes, false);
                }
                Event::BookDepth {
                    market,
                    book_seq,
                    selection,
                    side,
                    odds_x100,
                    stakes_minor,
                } => {
                    let levels = Depth {
                        odds_x100,
                        stakes_minor,
                    };
                    self.update(market, book_seq, ts_ns, selection, |s| match side {
                        Side::Back => s.backs = levels,
                        Side::Lay => s.lays = levels,
                    });
                    let msg = MdServerMsg::Book {
                        market,
                        selection,
                        book_seq,
                        side,
                        depth: levels,
                        ts_ns,
                    };
                    let bytes = frame(&msg, &mut self.scratch);
                    self.fan_out(market, Streams::BOOK, bytes, false);
                }
                Event::PoolChanged {
                    market,
                    book_seq,
                    selection,
                    pool_minor,
                    total_minor,
                } => {
                    self.update(market, book_seq, ts_ns, selection, |s| {
                        s.odds.pool_minor = pool_minor;
                    });
                    let msg = MdServerMsg::Pool {
                        market,
                        selection,
                        book_seq,
                        pool_minor,
                        total_minor,
                        ts_ns,
                    };
                    let bytes = frame(&msg, &mut self.scratch);
                    self.fan_out(market, Streams::BOOK, bytes, false);
                }
                Event::Trade {
                    market,
                    book_seq,
                    selection,
                    odds_x100,
                    stake_minor,
                    taker_side,
                    ..
                } => {
                    self.update(market, book_seq, ts_ns, selection, |_| {});
                    let msg = MdServerMsg::Trade {
                        market,
                        selection,
                        book_seq,
                        odds_x100,
                        taker_side,
                        stake_minor,
                        ts_ns,
                    };
                    let bytes = frame(&msg, &mut self.scratch);
                    self.fan_out(market, Streams::TRADES.with(Streams::BOOK), bytes, false);
                }
                Event::MarketStatus {
                    market,
                    book_seq,
                    status,
                    cause,
                } => {
                    if let Some(m) = self.markets.get_mut(&market) {
                        m.state.status = Some(status);
                        m.state.book_seq = book_seq;
                        m.state.ts_ns = ts_ns;
                    }
                    let msg = MdServerMsg::Status {
                        market,
                        status,
                        cause,
                        flags: 0,
                        book_seq,
                        ts_ns,
                    };
                    let bytes = frame(&msg, &mut self.scratch);
                    self.fan_out(market, Streams::STATUS.with(Streams::BOOK), bytes, true);
                }
                _ => {}
            }
            index += 1;
        }
    }

    /// Moves a market's book sequence on and changes one selection's state.
    fn update(
        &mut self,
        market: MarketId,
        book_seq: u64,
        ts_ns: u64,
        selection: SelectionId,
        change: impl FnOnce(&mut SnapshotSelection),
    ) {
        if let Some(m) = self.markets.get_mut(&market) {
            m.state.book_seq = book_seq;
            m.state.ts_ns = ts_ns;
            if let Some(s) = m
                .state
                .selections
                .iter_mut()
                .find(|s| s.odds.selection == selection)
            {
                change(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use oddsmatch_engine::EngineConfig;
    use oddsmatch_engine::shard::{ShardConfig, ShardHandle};
    use oddsmatch_engine::testkit::StreamGen;

    use super::*;
    use crate::proto::split_frame;

    /// Applies a stream's commands to a real shard and waits for their acknowledgements.
    fn drive(handle: &ShardHandle, inputs: Vec<oddsmatch_engine::Input>) {
        let count = inputs.len();
        for (tag, input) in inputs.into_iter().enumerate() {
            while handle.submit(tag as u64, input.command.clone()).is_err() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let mut answered = 0;
        while answered < count {
            let batch = handle.acks().recv_timeout(Duration::from_secs(10)).unwrap();
            answered += batch
                .outcomes
                .iter()
                .filter(|o| o.tag != oddsmatch_engine::shard::TAG_TIMER)
                .count();
        }
    }

    fn frames(rx: &mut mpsc::Receiver<Bytes>) -> Vec<MdServerMsg> {
        let mut out = Vec::new();
        while let Ok(bytes) = rx.try_recv() {
            let (header, body) = split_frame(&bytes, 1 << 20).unwrap().unwrap();
            out.push(MdServerMsg::decode(header, body).unwrap());
        }
        out
    }

    #[test]
    fn dropped_batches_are_noticed_and_repaired_from_a_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ShardConfig::new(dir.path());
        config.engine = EngineConfig::small();
        let handle = ShardHandle::start(config).unwrap();
        let mut stream = StreamGen::new(5, 1_700_000_000_000_000_000);
        drive(&handle, stream.setup());

        let stats = Arc::new(MdStats::default());
        let mut hub = Hub::new(
            MarketDataConfig::default(),
            stats.clone(),
            vec![handle.submitter()],
        );
        // Everything up to the first snapshot.
        let next = || {
            handle
                .market_data()
                .recv_timeout(Duration::from_secs(10))
                .unwrap()
        };
        loop {
            let item = next();
            let snapshot = matches!(item, MarketData::Snapshot(_));
            hub.handle(HubMsg::Shard(0, item));
            if snapshot {
                break;
            }
        }
        let market = *hub.markets.keys().min().expect("the setup made markets");
        let (tx, mut rx) = mpsc::channel(1_024);
        hub.handle(HubMsg::Open {
            sub: 1,
            tx,
            end: Arc::new(End::default()),
            max_subscriptions: 10,
        });
        hub.handle(HubMsg::Subscribe {
            sub: 1,
            request_id: 7,
            market,
            streams: Streams::ALL,
        });
        let first = frames(&mut rx);
        assert!(matches!(
            first[0],
            MdServerMsg::Subscribed { request_id: 7, .. }
        ));
        assert!(matches!(&first[1], MdServerMsg::Snapshot(s) if s.flags == 0));

        // Three batches; the middle one never reaches the hub, as if the queue had dropped it.
        for _ in 0..3 {
            drive(&handle, stream.commands(100));
        }
        let batches: Vec<MarketData> =
            std::iter::from_fn(|| handle.market_data().try_recv().ok()).collect();
        assert!(batches.len() >= 3, "{} batches", batches.len());
        let mut batches = batches.into_iter();
        hub.handle(HubMsg::Shard(0, batches.next().unwrap()));
        let _lost = batches.next();
        for item in batches {
            hub.handle(HubMsg::Shard(0, item));
        }
        assert_eq!(stats.resyncs.load(Ordering::Relaxed), 1);
        frames(&mut rx);

        // The snapshot it asked for comes; the subscriber gets the market again, conflated.
        loop {
            let item = next();
            let snapshot = matches!(item, MarketData::Snapshot(_));
            hub.handle(HubMsg::Shard(0, item));
            if snapshot {
                break;
            }
        }
        let repaired = frames(&mut rx);
        assert!(
            repaired
                .iter()
                .any(|m| matches!(m, MdServerMsg::Snapshot(s) if s.flags == FLAG_CONFLATED && s.market == market)),
            "{repaired:?}"
        );
        handle.shutdown().unwrap();
    }
}
