//! The subscribers: one task per connection on the benchmark's runtime, told what to do by the
//! controller through a watch channel ([`Step`]), and the oddsmatch subscriber's session over
//! TCP or QUIC.
//!
//! The controller's protocol, per phase: [`Fleet::begin`] (every live subscriber subscribes to
//! the phase's markets), [`Fleet::wait_ready`] (each has its starting point on every market),
//! the measurement, then [`Fleet::report`] (each unsubscribes and hands in its tally). A
//! subscriber whose session ends hands in its tally at once, marked ended.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use oddsmatch_engine::MarketId;
use oddsmatch_net::proto::md::{FLAG_CONFLATED, MdClientMsg, MdServerMsg, Streams};
use oddsmatch_net::proto::split_frame;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::quic;
use super::tally::{PhaseMarkets, Shared, Watch, wall_clock_ns};

/// What the controller tells the subscribers.
#[derive(Clone)]
pub(super) enum Step {
    /// Connected, nothing subscribed.
    Idle,
    /// Subscribe to these markets and watch them.
    Subscribe(Arc<PhaseMarkets>),
    /// Unsubscribe and hand in the tally.
    Report,
    /// Close the connection and end.
    Stop,
}

/// Bytes each oddsmatch subscriber reads at once (its buffer grows for a larger frame).
const READ_BUFFER: usize = 8 * 1024;
/// The largest frame a subscriber accepts.
const MAX_FRAME: usize = 64 * 1024;
/// How often a subscriber tells the server it is still there.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// QUIC connections made at once: each handshake's first datagram is padded to 1200 bytes,
/// and the server's one socket holds only so many at a time (more are dropped and sent again
/// a second later).
const QUIC_IN_FLIGHT: usize = 64;
/// QUIC connections sharing a client endpoint (a UDP socket and its driver task).
const QUIC_PER_ENDPOINT: usize = 500;
/// Attempts to connect one subscriber (refused connections are retried).
const CONNECT_ATTEMPTS: u32 = 20;
/// How long the subscribers may take to subscribe, or to hand in their tallies.
const PHASE_WAIT: Duration = Duration::from_secs(120);
/// How long they may take to close at the end.
const STOP_WAIT: Duration = Duration::from_secs(20);

/// Where and how the oddsmatch subscribers connect.
#[derive(Clone, Copy, Debug)]
pub(super) enum Dial {
    /// Plain TCP.
    Tcp(SocketAddr),
    /// QUIC, pinning the certificate with this fingerprint.
    Quic(SocketAddr, [u8; 32]),
}

/// Every subscriber of one system and the means to steer them.
pub(super) struct Fleet {
    control: watch::Sender<Step>,
    pub(super) shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    endpoints: Vec<quinn::Endpoint>,
}

impl Fleet {
    /// An empty fleet; subscribers join with [`Fleet::spawn`].
    pub(super) fn new() -> Fleet {
        Fleet {
            control: watch::Sender::new(Step::Idle),
            shared: Shared::new(),
            tasks: Vec::new(),
            endpoints: Vec::new(),
        }
    }

    /// The receiving end of the steps, for a new subscriber.
    pub(super) fn steps(&self) -> watch::Receiver<Step> {
        self.control.subscribe()
    }

    /// Subscribers so far (the id of the next).
    pub(super) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Runs a subscriber's task.
    pub(super) fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.shared.alive.fetch_add(1, Ordering::SeqCst);
        self.tasks.push(tokio::spawn(task));
    }

    /// Every live subscriber subscribes to `markets`; returns once each has sent its
    /// subscriptions.
    pub(super) fn begin(&self, markets: Arc<PhaseMarkets>) -> Result<(), String> {
        let shared = &self.shared;
        shared.reset_phase();
        self.control.send_replace(Step::Subscribe(markets));
        wait_until(PHASE_WAIT, || {
            shared.joined.load(Ordering::SeqCst) >= shared.alive.load(Ordering::SeqCst)
        })
        .then_some(())
        .ok_or_else(|| {
            format!(
                "only {} of {} subscribers subscribed within {} s",
                shared.joined.load(Ordering::SeqCst),
                shared.alive.load(Ordering::SeqCst),
                PHASE_WAIT.as_secs()
            )
        })
    }

    /// Waits until every live subscriber has its starting point on every market (`false`:
    /// some had not after `limit`; they count as not ready).
    pub(super) fn wait_ready(&self, limit: Duration) -> bool {
        let shared = &self.shared;
        wait_until(limit, || {
            shared.ready.load(Ordering::SeqCst) >= shared.alive.load(Ordering::SeqCst)
        })
    }

    /// Waits until `target` ticks have arrived in the phase, or ticks have arrived and then
    /// none for `quiet` (a subscriber lost its session, or the server dropped some), at most
    /// `limit` (what has not arrived by then counts as not delivered).
    pub(super) fn drain(&self, target: u64, quiet: Duration, limit: Duration) {
        let start = Instant::now();
        let mut seen = self.shared.received.load(Ordering::SeqCst);
        let mut since = Instant::now();
        while start.elapsed() < limit && seen < target {
            std::thread::sleep(Duration::from_millis(20));
            let now = self.shared.received.load(Ordering::SeqCst);
            if now != seen {
                (seen, since) = (now, Instant::now());
            } else if seen > 0 && since.elapsed() >= quiet {
                return;
            }
        }
    }

    /// Every subscriber of the phase unsubscribes and hands in its tally; returns whether all
    /// did in time.
    pub(super) fn report(&self) -> bool {
        let shared = &self.shared;
        self.control.send_replace(Step::Report);
        wait_until(PHASE_WAIT, || {
            shared.reported.load(Ordering::SeqCst) >= shared.joined.load(Ordering::SeqCst)
        })
    }

    /// Keeps a QUIC endpoint until the subscribers have closed.
    pub(super) fn keep(&mut self, endpoint: quinn::Endpoint) {
        self.endpoints.push(endpoint);
    }

    /// Closes every connection and waits for the tasks to end.
    pub(super) async fn stop(self) {
        self.control.send_replace(Step::Stop);
        let deadline = tokio::time::Instant::now() + STOP_WAIT;
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                abort.abort();
            }
        }
        // Closed connections linger a few round trips on their endpoints; wait for all at once.
        let mut idle = tokio::task::JoinSet::new();
        for endpoint in self.endpoints {
            idle.spawn(async move { endpoint.wait_idle().await });
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), idle.join_all()).await;
    }
}

/// Polls `done` every 20 ms for at most `limit`.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Connects `count` oddsmatch subscribers and starts their sessions, with at most
/// `in_flight` connections being made at once over TCP (the listen backlog holds them) and
/// [`QUIC_IN_FLIGHT`] over QUIC. `progress` hears how far it got every few seconds.
pub(super) async fn connect(
    fleet: &mut Fleet,
    dial: Dial,
    count: usize,
    in_flight: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<(), String> {
    let (config, in_flight) = match dial {
        Dial::Quic(_, pinned) => (Some(quic::client_config(pinned)?), QUIC_IN_FLIGHT),
        Dial::Tcp(_) => (None, in_flight.max(1)),
    };
    let mut dials = tokio::task::JoinSet::new();
    let mut endpoint: Option<quinn::Endpoint> = None;
    let mut started = 0;
    let mut reported = Instant::now();
    while fleet.len() < count {
        while started < count && dials.len() < in_flight {
            match dial {
                Dial::Tcp(addr) => {
                    dials.spawn(async move { connect_tcp(addr).await.map(Link::Tcp) });
                }
                Dial::Quic(addr, _) => {
                    if started % QUIC_PER_ENDPOINT == 0 {
                        let fresh = quic::endpoint(config.as_ref().expect("QUIC"))?;
                        fleet.keep(fresh.clone());
                        endpoint = Some(fresh);
                    }
                    let endpoint = endpoint.clone().expect("made above");
                    dials.spawn(async move { connect_quic(&endpoint, addr).await });
                }
            }
            started += 1;
        }
        let link = dials
            .join_next()
            .await
            .expect("connections in flight")
            .map_err(|e| format!("connect: {e}"))??;
        let (id, steps, shared) = (fleet.len(), fleet.steps(), fleet.shared.clone());
        match link {
            Link::Tcp(stream) => {
                let (reader, writer) = stream.into_split();
                fleet.spawn(session(reader, writer, steps, shared, id));
            }
            Link::Quic(connection, send, recv) => fleet.spawn(async move {
                session(recv, send, steps, shared, id).await;
                connection.close(0u32.into(), b"done");
            }),
        }
        if reported.elapsed() >= Duration::from_secs(2) || fleet.len() == count {
            progress(&format!("{} of {count} connected", fleet.len()));
            reported = Instant::now();
        }
    }
    Ok(())
}

/// A connected subscriber.
enum Link {
    Tcp(tokio::net::TcpStream),
    Quic(quinn::Connection, quinn::SendStream, quinn::RecvStream),
}

async fn connect_tcp(addr: SocketAddr) -> Result<tokio::net::TcpStream, String> {
    let mut delay = Duration::from_millis(20);
    let mut attempt = 1;
    loop {
        let connected =
            tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
                .await
                .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()));
        match connected {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(error) if attempt >= CONNECT_ATTEMPTS => {
                return Err(format!("connect to {addr} over TCP: {error}"));
            }
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
                attempt += 1;
            }
        }
    }
}

async fn connect_quic(endpoint: &quinn::Endpoint, addr: SocketAddr) -> Result<Link, String> {
    let mut delay = Duration::from_millis(20);
    let mut attempt = 1;
    loop {
        let dialed = tokio::time::timeout(Duration::from_secs(10), quic::dial(endpoint, addr))
            .await
            .unwrap_or_else(|_| Err("timed out".into()));
        match dialed {
            Ok((connection, send, recv)) => return Ok(Link::Quic(connection, send, recv)),
            Err(error) if attempt >= CONNECT_ATTEMPTS => {
                return Err(format!("connect to {addr} over QUIC: {error}"));
            }
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
                attempt += 1;
            }
        }
    }
}

/// The requests of every market of a phase, in one buffer.
fn requests(out: &mut Vec<u8>, markets: &PhaseMarkets, subscribe: bool) {
    out.clear();
    for (request_id, market) in (markets.first..markets.first + markets.count).enumerate() {
        let (request_id, market) = (request_id as u32 + 1, MarketId(market));
        let streams = Streams::TICKS;
        let msg = if subscribe {
            MdClientMsg::Subscribe {
                request_id,
                market,
                streams,
            }
        } else {
            MdClientMsg::Unsubscribe {
                request_id,
                market,
                streams,
            }
        };
        msg.encode(out);
    }
}

/// One oddsmatch subscriber, anonymous, on any byte stream: subscribes to the `ticks` of a
/// phase's markets, decodes every frame, and measures each tick's arrival against its
/// timestamp.
async fn session<R, W>(
    mut reader: R,
    mut writer: W,
    mut steps: watch::Receiver<Step>,
    shared: Arc<Shared>,
    id: usize,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buffer = vec![0u8; READ_BUFFER];
    let (mut start, mut end) = (0usize, 0usize);
    let mut watch: Option<Watch> = None;
    let mut out = Vec::with_capacity(1024);
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ended = false;
    'session: loop {
        tokio::select! {
            changed = steps.changed() => {
                if changed.is_err() {
                    break;
                }
                let step = steps.borrow_and_update().clone();
                match step {
                    Step::Idle => {}
                    Step::Subscribe(markets) => {
                        requests(&mut out, &markets, true);
                        watch = Some(Watch::new(markets, id));
                        shared.joined.fetch_add(1, Ordering::SeqCst);
                        if writer.write_all(&out).await.is_err() {
                            ended = true;
                            break;
                        }
                    }
                    Step::Report => {
                        if let Some(done) = watch.take() {
                            requests(&mut out, done.markets(), false);
                            done.hand_in(false, &shared);
                            if writer.write_all(&out).await.is_err() {
                                ended = true;
                                break;
                            }
                        }
                    }
                    Step::Stop => break,
                }
            }
            read = reader.read(&mut buffer[end..]) => {
                match read {
                    Ok(0) | Err(_) => {
                        ended = true;
                        break;
                    }
                    Ok(n) => end += n,
                }
                // Everything in this read arrived by now.
                let now_ns = wall_clock_ns();
                loop {
                    let (header, body) = match split_frame(&buffer[start..end], MAX_FRAME) {
                        Ok(Some(frame)) => frame,
                        Ok(None) => break,
                        Err(_) => {
                            ended = true;
                            break 'session;
                        }
                    };
                    let len = header.len as usize;
                    match MdServerMsg::decode(header, body) {
                        Ok(MdServerMsg::End { reason, detail }) => {
                            shared.ended_by_server(format!("{reason:?}: {detail}"));
                            ended = true;
                            break 'session;
                        }
                        Err(_) => {
                            ended = true;
                            break 'session;
                        }
                        Ok(msg) => {
                            if let Some(watch) = watch.as_mut() {
                                take(watch, msg, now_ns, &shared);
                            }
                        }
                    }
                    start += len;
                }
                if let Some(watch) = watch.as_mut() {
                    watch.flush(&shared);
                }
                if start == end {
                    (start, end) = (0, 0);
                } else if end == buffer.len() {
                    buffer.copy_within(start..end, 0);
                    (start, end) = (0, end - start);
                    if end == buffer.len() {
                        buffer.resize(buffer.len() * 2, 0);
                    }
                }
            }
            _ = heartbeat.tick() => {
                out.clear();
                MdClientMsg::Heartbeat.encode(&mut out);
                if writer.write_all(&out).await.is_err() {
                    ended = true;
                    break;
                }
            }
        }
    }
    if let Some(watch) = watch.take() {
        watch.hand_in(ended, &shared);
    }
    shared.alive.fetch_sub(1, Ordering::SeqCst);
}

/// One message of the server's.
fn take(watch: &mut Watch, msg: MdServerMsg, now_ns: u64, shared: &Shared) {
    match msg {
        MdServerMsg::Snapshot(snapshot) => {
            let conflated = snapshot.flags & FLAG_CONFLATED != 0;
            watch.snapshot(snapshot.market.0, snapshot.tick_seq, conflated, shared);
        }
        MdServerMsg::Tick(tick) => {
            watch.tick(tick.market.0, tick.tick_seq, tick.ts_ns, now_ns, shared);
        }
        _ => {}
    }
}
