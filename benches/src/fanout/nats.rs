//! The reference: the same fan-out through NATS core publish and subscribe (async-nats), in the
//! same run on the same machine.
//!
//! Each subscriber is a client of its own (one connection) with one subscription per market
//! (subject `<prefix>.<market>`). A publisher, a client of its own on a thread of its own,
//! publishes payloads as large as a `TICK` frame at the same rates and spread: the send time
//! (wall clock, ns) at bytes 0-8, the message's number in its market (from 1) at 8-16, the
//! market at 16-20. A subscriber is ready when a message it published to a subject of its own,
//! after subscribing, has come back: the server handles a connection's requests in order, so it
//! then holds all of that subscriber's subscriptions, and the subscriber expects every message
//! the publisher sends from then on.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::watch;

use super::fleet::{Fleet, Step};
use super::tally::{PhaseMarkets, Shared, Watch, wall_clock_ns};

/// Attempts to connect one subscriber.
const CONNECT_ATTEMPTS: u32 = 20;
/// The market number of the message a subscriber sends itself to know it is ready.
const READY_MARKER: u32 = u32::MAX;

/// The subject of a market.
fn subject(prefix: &str, market: u32) -> String {
    format!("{prefix}.{market}")
}

/// The options every client connects with: the library's defaults, no reconnection delay
/// worth measuring, a name for the server's monitoring.
fn options(name: &str) -> async_nats::ConnectOptions {
    async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(10))
}

/// Whether a NATS server answers at `url`; the error otherwise.
pub(super) async fn probe_server(url: &str) -> Result<(), String> {
    let client = options("oddsmatch-fanout-check")
        .connect(url)
        .await
        .map_err(|e| e.to_string())?;
    client.flush().await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Connects `count` subscribers, `wave` at a time, and starts their tasks.
pub(super) async fn connect(
    fleet: &mut Fleet,
    url: &str,
    prefix: &Arc<str>,
    count: usize,
    wave: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<(), String> {
    let mut reported = Instant::now();
    while fleet.len() < count {
        let batch = wave.min(count - fleet.len());
        let mut dials = tokio::task::JoinSet::new();
        for _ in 0..batch {
            let url = url.to_owned();
            dials.spawn(async move { connect_one(&url).await });
        }
        while let Some(client) = dials.join_next().await {
            let client = client.map_err(|e| format!("connect: {e}"))??;
            let (id, steps, shared) = (fleet.len(), fleet.steps(), fleet.shared.clone());
            fleet.spawn(session(client, steps, shared, id, prefix.clone()));
        }
        if reported.elapsed() >= Duration::from_secs(2) || fleet.len() == count {
            progress(&format!("{} of {count} connected", fleet.len()));
            reported = Instant::now();
        }
    }
    Ok(())
}

async fn connect_one(url: &str) -> Result<async_nats::Client, String> {
    let mut delay = Duration::from_millis(20);
    let mut attempt = 1;
    loop {
        match options("oddsmatch-fanout").connect(url).await {
            Ok(client) => return Ok(client),
            Err(error) if attempt >= CONNECT_ATTEMPTS => {
                return Err(format!("connect to NATS at {url}: {error}"));
            }
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
                attempt += 1;
            }
        }
    }
}

/// One subscriber: per phase, a subscription per market, every message measured.
async fn session(
    client: async_nats::Client,
    mut steps: watch::Receiver<Step>,
    shared: Arc<Shared>,
    id: usize,
    prefix: Arc<str>,
) {
    'session: while steps.changed().await.is_ok() {
        let step = steps.borrow_and_update().clone();
        let markets = match step {
            Step::Subscribe(markets) => markets,
            Step::Stop => break,
            Step::Idle | Step::Report => continue,
        };
        shared.joined.fetch_add(1, Ordering::SeqCst);
        let mut watch = Watch::new(markets.clone(), id);
        let Some(mut messages) = subscribe(&client, &prefix, &markets, id).await else {
            watch.hand_in(true, &shared);
            break 'session;
        };
        loop {
            tokio::select! {
                changed = steps.changed() => {
                    if changed.is_err() {
                        watch.hand_in(true, &shared);
                        break 'session;
                    }
                    let step = steps.borrow_and_update().clone();
                    match step {
                        Step::Report => {
                            watch.hand_in(false, &shared);
                            // Dropping the subscriptions unsubscribes.
                            break;
                        }
                        Step::Stop => {
                            watch.hand_in(false, &shared);
                            break 'session;
                        }
                        Step::Idle | Step::Subscribe(_) => {}
                    }
                }
                message = messages.next() => {
                    let Some(message) = message else {
                        watch.hand_in(true, &shared);
                        break 'session;
                    };
                    let now_ns = wall_clock_ns();
                    if let Some((ts_ns, seq, market)) = read_payload(&message.payload) {
                        if market == READY_MARKER {
                            for market in markets.first..markets.first + markets.count {
                                watch.snapshot(market, 0, false, &shared);
                            }
                        } else {
                            watch.tick(market, seq, ts_ns, now_ns, &shared);
                            watch.flush(&shared);
                        }
                    }
                }
            }
        }
    }
    drop(client);
    shared.alive.fetch_sub(1, Ordering::SeqCst);
}

/// Subscribes to every market of the phase and to a subject of the subscriber's own, then
/// sends itself the ready message there; `None` if the connection failed.
async fn subscribe(
    client: &async_nats::Client,
    prefix: &str,
    markets: &PhaseMarkets,
    id: usize,
) -> Option<futures_util::stream::SelectAll<async_nats::Subscriber>> {
    let mut subscriptions = Vec::with_capacity(markets.count as usize + 1);
    for market in markets.first..markets.first + markets.count {
        subscriptions.push(client.subscribe(subject(prefix, market)).await.ok()?);
    }
    let own = format!("{prefix}.ready.{id}");
    subscriptions.push(client.subscribe(own.clone()).await.ok()?);
    let mut payload = [0u8; 20];
    write_payload(&mut payload, wall_clock_ns(), 0, READY_MARKER);
    client
        .publish(own, Bytes::copy_from_slice(&payload))
        .await
        .ok()?;
    client.flush().await.ok()?;
    Some(futures_util::stream::select_all(subscriptions))
}

/// The send time, the message's number and its market.
fn read_payload(payload: &[u8]) -> Option<(u64, u64, u32)> {
    let ts_ns = u64::from_le_bytes(payload.get(0..8)?.try_into().ok()?);
    let seq = u64::from_le_bytes(payload.get(8..16)?.try_into().ok()?);
    let market = u32::from_le_bytes(payload.get(16..20)?.try_into().ok()?);
    Some((ts_ns, seq, market))
}

fn write_payload(payload: &mut [u8], ts_ns: u64, seq: u64, market: u32) {
    payload[0..8].copy_from_slice(&ts_ns.to_le_bytes());
    payload[8..16].copy_from_slice(&seq.to_le_bytes());
    payload[16..20].copy_from_slice(&market.to_le_bytes());
}

/// The publisher: a client of its own on a runtime of its own, driven from the controller's
/// thread (so that the subscribers' runtime does not delay it).
pub(super) struct Publisher {
    /// A current-thread runtime: only its own `block_on` drives its timers and sockets.
    runtime: tokio::runtime::Runtime,
    sender: Sender,
}

struct Sender {
    client: async_nats::Client,
    prefix: Arc<str>,
    payload: Vec<u8>,
}

/// What the publisher sent in one phase.
pub(super) struct Published {
    /// Messages published per market (its last number).
    pub(super) per_market: Vec<u64>,
    /// The latest a message went out after its scheduled time.
    pub(super) late_ns_max: u64,
}

impl Publisher {
    /// Connects; its payloads are `payload_bytes` long.
    pub(super) fn connect(
        url: &str,
        prefix: Arc<str>,
        payload_bytes: usize,
    ) -> Result<Publisher, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("publisher runtime: {e}"))?;
        let client = runtime
            .block_on(options("oddsmatch-fanout-publisher").connect(url))
            .map_err(|e| format!("NATS publisher: {e}"))?;
        Ok(Publisher {
            runtime,
            sender: Sender {
                client,
                prefix,
                payload: vec![0u8; payload_bytes.max(20)],
            },
        })
    }

    /// `hz` messages per second on each market for `duration`, spread like the oddsmatch
    /// source's quotes, each flushed at once.
    pub(super) fn run(
        &mut self,
        markets: &PhaseMarkets,
        hz: u32,
        duration: Duration,
    ) -> Result<Published, String> {
        self.runtime
            .block_on(self.sender.run(markets, hz, duration))
    }
}

impl Sender {
    async fn send(&mut self, market: u32, seq: u64) -> Result<(), String> {
        write_payload(&mut self.payload, wall_clock_ns(), seq, market);
        self.client
            .publish(
                subject(&self.prefix, market),
                Bytes::copy_from_slice(&self.payload),
            )
            .await
            .map_err(|e| format!("NATS publish: {e}"))
    }

    async fn flush(&self) -> Result<(), String> {
        self.client
            .flush()
            .await
            .map_err(|e| format!("NATS flush: {e}"))
    }

    async fn run(
        &mut self,
        markets: &PhaseMarkets,
        hz: u32,
        duration: Duration,
    ) -> Result<Published, String> {
        let count = markets.count;
        let every = Duration::from_secs(1) / (hz * count);
        let total = u64::from(hz * count) * duration.as_millis() as u64 / 1_000;
        let mut per_market = vec![0u64; count as usize];
        let mut late_ns_max = 0;
        let start = tokio::time::Instant::now();
        for k in 0..total {
            let due = start + every * k as u32;
            tokio::time::sleep_until(due).await;
            late_ns_max = late_ns_max.max(due.elapsed().as_nanos() as u64);
            let index = (k % u64::from(count)) as usize;
            per_market[index] += 1;
            self.send(markets.first + index as u32, per_market[index])
                .await?;
            self.flush().await?;
        }
        Ok(Published {
            per_market,
            late_ns_max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_read_back() {
        let mut payload = vec![0u8; 168];
        write_payload(&mut payload, 123_456_789, 42, 7);
        assert_eq!(read_payload(&payload), Some((123_456_789, 42, 7)));
        assert_eq!(read_payload(&payload[..19]), None);
    }
}
