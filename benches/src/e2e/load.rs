//! The client side: one connection, a sender (the calling thread) and a receiver thread on
//! the same socket, so that neither ever waits for the other.
//!
//! Two ways to send:
//!
//! - **open loop** ([`open_loop`]): request `i` (from 1) is due at `start + (i - 1) / rate`.
//!   The sender writes every request that is due (several at once when it is late), then
//!   waits for the next one's time; it never waits for an answer. The receiver takes the time
//!   once per read and records, for each answer, arrival minus the request's *scheduled* time,
//!   so a sender or a server that falls behind shows in the latency instead of silently
//!   lowering the rate (coordinated omission corrected). Between requests the sender sleeps
//!   when the next one is more than 400 us away and otherwise yields the processor in a loop,
//!   since a sleep overshoots: from 10,000 requests per second on it keeps a processor busy,
//!   though it gives it up to any thread that is ready to run;
//! - **pipelined** ([`pipelined`]): as fast as possible, `batch` requests per write, with at
//!   most `window` sent and not yet answered; while the window has no room for a batch the
//!   sender sleeps until the receiver wakes it.
//!
//! Both encode real `NEW_ORDER` frames with `oddsmatch_net::proto` and decode every frame that
//! comes back with it, for the echo server as for oddsmatch.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use oddsmatch_engine::{CancelReason, MarketId, Persistence, SelectionId, Side, TimeInForce};
use oddsmatch_net::proto::{
    self, ClientMsg, DEFAULT_MAX_FRAME, EndReason, Login, NewOrder, ReportBody, ServerMsg,
};

use crate::measure::new_histogram;

/// The market every order goes to (an open exchange market).
pub(super) const MARKET: u32 = 1;
/// The selection.
pub(super) const SELECTION: u32 = 1;
/// The odds of every order: 2.00, on the ladder. The book is empty, so nothing ever matches.
pub(super) const ODDS_X100: u32 = 200;
/// The stake of every order, in minor units.
pub(super) const STAKE_MINOR: i64 = 100;

/// How long the receiver waits for the next byte before it gives up.
const STALL: Duration = Duration::from_secs(30);
/// Bytes the receiver reads into.
const RECEIVE_BUFFER: usize = 1 << 20;
/// How long a login (or a logout) may take.
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// The heartbeat interval asked for: the longest allowed, since the load never pauses long.
const HEARTBEAT_MS: u32 = 30_000;
/// The open-loop sender sleeps when the next request is further away than this, and waits by
/// yielding the processor otherwise: a sleep overshoots by 50 to 100 us on a typical virtual
/// machine (the default timer slack is 50 us), by a few hundred at the 99th percentile.
const SLEEP_ABOVE_NS: u64 = 400_000;
/// How early it wakes from such a sleep.
const WAKE_EARLY_NS: u64 = 250_000;

/// Encodes one immediate-or-cancel back order of the benchmark.
pub(super) fn encode_order(out: &mut Vec<u8>, request_id: u64, client_order_id: u64) {
    ClientMsg::NewOrder(NewOrder {
        request_id,
        client_order_id,
        stake_minor: STAKE_MINOR,
        market: MarketId(MARKET),
        selection: SelectionId(SELECTION),
        odds_x100: ODDS_X100,
        side: Side::Back,
        tif: TimeInForce::Ioc,
        persistence: Persistence::Lapse,
        post_only: false,
    })
    .encode(out);
}

/// Bytes of a `NEW_ORDER` frame.
pub(super) fn new_order_frame_bytes() -> usize {
    let mut out = Vec::new();
    encode_order(&mut out, 1, 1);
    out.len()
}

/// An API key to log in with.
#[derive(Clone, Copy, Debug)]
pub(super) struct Key {
    pub(super) key_id: u64,
    pub(super) secret: [u8; 32],
}

/// A connected (and, for oddsmatch, logged-in) socket, with any bytes read past the login.
#[derive(Debug)]
pub(super) struct Conn {
    stream: TcpStream,
    inbound: Vec<u8>,
}

impl Conn {
    /// Connects with `TCP_NODELAY`.
    pub(super) fn connect(addr: SocketAddr) -> Result<Conn, String> {
        let stream = TcpStream::connect_timeout(&addr, SESSION_TIMEOUT)
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        Ok(Conn {
            stream,
            inbound: Vec::with_capacity(256 * 1024),
        })
    }

    /// Logs in by challenge and response and waits for the end of the (empty) replay.
    pub(super) fn login(&mut self, key: Key) -> Result<(), String> {
        let deadline = Instant::now() + SESSION_TIMEOUT;
        self.send(&ClientMsg::Login(Login {
            key_id: key.key_id,
            heartbeat_ms: HEARTBEAT_MS,
            cancel_on_disconnect: false,
            resume: Vec::new(),
        }))?;
        let nonce = match self.read_msg(deadline)? {
            ServerMsg::Challenge { nonce } => nonce,
            other => return Err(format!("login: expected a challenge, got {other:?}")),
        };
        let proof = proto::login_proof(&key.secret, &nonce, key.key_id);
        self.send(&ClientMsg::LoginProof { proof })?;
        match self.read_msg(deadline)? {
            ServerMsg::LoginAccepted(_) => {}
            other => return Err(format!("login: expected login_accepted, got {other:?}")),
        }
        match self.read_msg(deadline)? {
            ServerMsg::ReplayComplete { .. } => Ok(()),
            other => Err(format!("login: expected replay_complete, got {other:?}")),
        }
    }

    /// Logs out and waits for the server's goodbye.
    pub(super) fn logout(mut self) -> Result<(), String> {
        let deadline = Instant::now() + SESSION_TIMEOUT;
        self.send(&ClientMsg::Logout)?;
        loop {
            match self.read_msg(deadline)? {
                ServerMsg::EndOfSession {
                    reason: EndReason::Logout,
                    ..
                } => return Ok(()),
                ServerMsg::EndOfSession { reason, detail } => {
                    return Err(format!("logout: the session ended ({reason:?}): {detail}"));
                }
                _ => {}
            }
        }
    }

    fn send(&mut self, msg: &ClientMsg) -> Result<(), String> {
        let mut out = Vec::new();
        msg.encode(&mut out);
        self.stream
            .write_all(&out)
            .map_err(|e| format!("send: {e}"))
    }

    /// The next message, heartbeats skipped.
    fn read_msg(&mut self, deadline: Instant) -> Result<ServerMsg, String> {
        loop {
            if let Some((header, body)) = proto::split_frame(&self.inbound, DEFAULT_MAX_FRAME)
                .map_err(|e| format!("bad frame from the server: {e}"))?
            {
                let len = header.len as usize;
                let msg = ServerMsg::decode(header, body)
                    .map_err(|e| format!("bad message from the server: {e}"));
                self.inbound.drain(..len);
                match msg? {
                    ServerMsg::Heartbeat { .. } => continue,
                    msg => return Ok(msg),
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("timed out waiting for the server".into());
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|e| format!("read timeout: {e}"))?;
            let len = self.inbound.len();
            self.inbound.resize(len + 64 * 1024, 0);
            match self.stream.read(&mut self.inbound[len..]) {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(n) => self.inbound.truncate(len + n),
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                    self.inbound.truncate(len);
                }
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// What came back for one run of requests.
#[derive(Debug)]
pub(super) struct Answers {
    /// Latency of the recorded `order_accepted` answers (open loop only), nanoseconds.
    pub(super) histogram_ns: Histogram<u64>,
    /// Requests answered `order_accepted`.
    pub(super) accepted: u64,
    /// `order_cancelled` reports with reason `ioc_remainder`.
    pub(super) cancelled: u64,
    /// Requests answered `busy`.
    pub(super) busy: u64,
    /// Requests answered anything else (`order_rejected`, `request_rejected`, `throttled`,
    /// `request_done`).
    pub(super) rejected: u64,
    /// The first of those, described.
    pub(super) first_reject: Option<String>,
    /// From the start to the arrival of the last answer.
    pub(super) last_answer: Duration,
}

/// What the receiver waits for.
#[derive(Clone, Copy, Debug)]
struct Expect {
    /// Answers (one per request) to wait for.
    requests: u64,
    /// Whether every accepted order also reports its cancellation (oddsmatch's IOC orders).
    cancels: bool,
    /// Open loop: the rate that sets each request's scheduled time, and the number of
    /// (warm-up) requests at the start whose latency is not recorded.
    schedule: Option<(u64, u64)>,
}

/// State the sender and the receiver share.
#[derive(Debug)]
struct Shared {
    /// Requests answered so far.
    answered: AtomicU64,
    /// The receiver has stopped (done or failed): the sender must not wait for it.
    finished: AtomicBool,
    /// The sender is parked waiting for answers (pipelined): the receiver wakes it.
    parked: AtomicBool,
    /// The sender's thread.
    sender: std::thread::Thread,
}

impl Shared {
    /// The receiver's news: wakes the sender if it waits.
    fn wake(&self) {
        if self.parked.swap(false, Ordering::AcqRel) {
            self.sender.unpark();
        }
    }
}

/// When request `id` (from 1) is due, in nanoseconds after the start, at `rate` per second.
pub(super) fn scheduled_ns(id: u64, rate: u64) -> u64 {
    (u128::from(id.saturating_sub(1)) * 1_000_000_000 / u128::from(rate.max(1))) as u64
}

/// How many requests are due `now_ns` after the start: those scheduled at or before it.
fn due_by(now_ns: u64, rate: u64) -> u64 {
    (u128::from(now_ns) * u128::from(rate) / 1_000_000_000) as u64 + 1
}

/// One open-loop run: `warmup + measured` requests at `rate` per second; the latency of the
/// last `measured` ones is recorded. Also returns how late the sender was at worst (the time
/// from a request's scheduled time to the start of the write that sent it).
pub(super) fn open_loop(
    conn: Conn,
    rate: u64,
    warmup: u64,
    measured: u64,
    cancels: bool,
    client_order_base: u64,
) -> Result<(Conn, Answers, u64), String> {
    let total = warmup + measured;
    let expect = Expect {
        requests: total,
        cancels,
        schedule: Some((rate, warmup)),
    };
    // The receiver is running before the first request is due.
    let start = Instant::now() + Duration::from_millis(20);
    run(conn, start, expect, |stream, shared| {
        let mut out = Vec::with_capacity(64 * 1024);
        let mut sent = 0;
        let mut worst_lag_ns = 0;
        while sent < total {
            if shared.finished.load(Ordering::Acquire) {
                break;
            }
            let now_ns = elapsed_ns(start);
            let due = due_by(now_ns, rate).min(total);
            if due > sent {
                worst_lag_ns = worst_lag_ns.max(now_ns - scheduled_ns(sent + 1, rate));
                out.clear();
                for id in sent + 1..=due {
                    encode_order(&mut out, id, client_order_base + id);
                }
                stream.write_all(&out)?;
                sent = due;
                continue;
            }
            let wait_ns = scheduled_ns(sent + 1, rate).saturating_sub(now_ns);
            if wait_ns > SLEEP_ABOVE_NS {
                std::thread::sleep(Duration::from_nanos(wait_ns - WAKE_EARLY_NS));
            } else {
                std::thread::yield_now();
            }
        }
        Ok(worst_lag_ns)
    })
}

/// One pipelined run: `orders` requests as fast as possible, written `batch` at a time, with
/// at most `window` of them unanswered.
pub(super) fn pipelined(
    conn: Conn,
    orders: u64,
    window: u64,
    batch: u64,
    cancels: bool,
    client_order_base: u64,
) -> Result<(Conn, Answers), String> {
    let expect = Expect {
        requests: orders,
        cancels,
        schedule: None,
    };
    let start = Instant::now();
    let (conn, answers, ()) = run(conn, start, expect, |stream, shared| {
        let mut out = Vec::with_capacity(batch as usize * 64);
        let mut sent = 0;
        let room =
            |sent: u64| window.saturating_sub(sent - shared.answered.load(Ordering::Acquire));
        while sent < orders {
            // Write whole batches (or what is left): wait until the window has room for one.
            let wanted = batch.min(orders - sent).min(window);
            if room(sent) < wanted {
                if shared.finished.load(Ordering::Acquire) {
                    break;
                }
                // Sleep until the receiver has news, rather than take the processor from it
                // and the server; the timeout only guards against a lost wake-up.
                shared.parked.store(true, Ordering::SeqCst);
                if room(sent) < wanted && !shared.finished.load(Ordering::Acquire) {
                    std::thread::park_timeout(Duration::from_millis(1));
                }
                shared.parked.store(false, Ordering::SeqCst);
                continue;
            }
            let n = room(sent).min(batch).min(orders - sent);
            out.clear();
            for id in sent + 1..=sent + n {
                encode_order(&mut out, id, client_order_base + id);
            }
            stream.write_all(&out)?;
            sent += n;
        }
        Ok(())
    })?;
    Ok((conn, answers))
}

/// Starts the receiver on a clone of the socket, runs `send` on this thread, and collects the
/// receiver's answers.
fn run<T>(
    conn: Conn,
    start: Instant,
    expect: Expect,
    send: impl FnOnce(&mut TcpStream, &Shared) -> io::Result<T>,
) -> Result<(Conn, Answers, T), String> {
    let Conn {
        mut stream,
        inbound,
    } = conn;
    let reader = stream
        .try_clone()
        .map_err(|e| format!("clone the socket: {e}"))?;
    let shared = Arc::new(Shared {
        answered: AtomicU64::new(0),
        finished: AtomicBool::new(false),
        parked: AtomicBool::new(false),
        sender: std::thread::current(),
    });
    let receiver = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("oddsmatch-e2e-rx".into())
            .spawn(move || {
                let result = receive(reader, inbound, start, expect, &shared);
                shared.finished.store(true, Ordering::Release);
                shared.wake();
                result
            })
            .map_err(|e| format!("spawn the receiver: {e}"))?
    };
    if let Some(wait) = start.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
    let sent = send(&mut stream, &shared);
    if sent.is_err() {
        // Unblock the receiver at once rather than after its stall timeout.
        let _ = stream.shutdown(Shutdown::Both);
    }
    let received = receiver
        .join()
        .map_err(|_| "the receiver thread panicked".to_string())?;
    let sent = sent.map_err(|e| format!("send: {e}"))?;
    let (answers, inbound) = received?;
    Ok((Conn { stream, inbound }, answers, sent))
}

fn elapsed_ns(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Reads until every request is answered (and, with `cancels`, every accepted order's
/// cancellation has arrived). Returns what came back and the bytes read past it.
fn receive(
    mut stream: TcpStream,
    inbound: Vec<u8>,
    start: Instant,
    expect: Expect,
    shared: &Shared,
) -> Result<(Answers, Vec<u8>), String> {
    // One buffer for the whole run, filled between `begin` and `end`: nothing is zeroed or
    // moved per read but the partial frame at the end, now and then.
    let mut buf = vec![0u8; RECEIVE_BUFFER.max(inbound.len() + DEFAULT_MAX_FRAME)];
    buf[..inbound.len()].copy_from_slice(&inbound);
    let (mut begin, mut end) = (0, inbound.len());
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| format!("read timeout: {e}"))?;
    let mut answers = Answers {
        histogram_ns: new_histogram(),
        accepted: 0,
        cancelled: 0,
        busy: 0,
        rejected: 0,
        first_reject: None,
        last_answer: Duration::ZERO,
    };
    let mut answered = 0u64;
    let mut last_progress = Instant::now();
    let mut now_ns = elapsed_ns(start);
    loop {
        let before = answered;
        while let Some((header, body)) = proto::split_frame(&buf[begin..end], DEFAULT_MAX_FRAME)
            .map_err(|e| format!("bad frame from the server: {e}"))?
        {
            begin += header.len as usize;
            let msg = ServerMsg::decode(header, body)
                .map_err(|e| format!("bad message from the server: {e}"))?;
            match msg {
                ServerMsg::Report(report) => match report.body {
                    ReportBody::OrderAccepted { .. } if report.header.request_id != 0 => {
                        answers.accepted += 1;
                        answered += 1;
                        if let Some((rate, warmup)) = expect.schedule {
                            let id = report.header.request_id;
                            if id > warmup {
                                let latency = now_ns.saturating_sub(scheduled_ns(id, rate));
                                answers.histogram_ns.saturating_record(latency.max(1));
                            }
                        }
                    }
                    ReportBody::OrderRejected {
                        reason, command, ..
                    } => {
                        answered += 1;
                        answers.rejected += 1;
                        answers.first_reject.get_or_insert_with(|| {
                            format!("order_rejected {} ({command:?})", reason.name())
                        });
                    }
                    ReportBody::OrderCancelled {
                        reason: CancelReason::IocRemainder,
                        ..
                    } => answers.cancelled += 1,
                    _ => {}
                },
                ServerMsg::Busy { .. } => {
                    answered += 1;
                    answers.busy += 1;
                }
                ServerMsg::RequestRejected { reason, .. } => {
                    answered += 1;
                    answers.rejected += 1;
                    answers
                        .first_reject
                        .get_or_insert_with(|| format!("request_rejected {reason}"));
                }
                ServerMsg::Throttled { limit, .. } => {
                    answered += 1;
                    answers.rejected += 1;
                    answers
                        .first_reject
                        .get_or_insert_with(|| format!("throttled ({limit:?})"));
                }
                ServerMsg::RequestDone { .. } => {
                    // Carried out without a report: not what a new order should get.
                    answered += 1;
                    answers.rejected += 1;
                    answers
                        .first_reject
                        .get_or_insert_with(|| "request_done without a report".into());
                }
                ServerMsg::EndOfSession { reason, detail } => {
                    return Err(format!(
                        "the server ended the session ({reason:?}): {detail}"
                    ));
                }
                _ => {}
            }
        }
        if answered != before {
            answers.last_answer = Duration::from_nanos(now_ns);
            shared.answered.store(answered, Ordering::Release);
            shared.wake();
        }
        if answered >= expect.requests && (!expect.cancels || answers.cancelled >= answers.accepted)
        {
            return Ok((answers, buf[begin..end].to_vec()));
        }
        if last_progress.elapsed() > STALL {
            return Err(format!(
                "no answer for {} s: {answered} of {} requests answered, {} cancellations \
                 of {} accepted orders",
                STALL.as_secs(),
                expect.requests,
                answers.cancelled,
                answers.accepted
            ));
        }
        if begin == end {
            (begin, end) = (0, 0);
        } else if buf.len() - end < DEFAULT_MAX_FRAME {
            // Keep room for at least one more whole frame.
            buf.copy_within(begin..end, 0);
            (begin, end) = (0, end - begin);
        }
        let read = stream.read(&mut buf[end..]);
        now_ns = elapsed_ns(start);
        match read {
            Ok(0) => {
                return Err(format!(
                    "the server closed the connection: {answered} of {} requests answered",
                    expect.requests
                ));
            }
            Ok(n) => {
                end += n;
                last_progress = Instant::now();
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_spaces_requests_evenly_from_the_start() {
        assert_eq!(scheduled_ns(1, 1_000), 0);
        assert_eq!(scheduled_ns(2, 1_000), 1_000_000);
        assert_eq!(scheduled_ns(3, 30_000), 66_666);
        assert_eq!(due_by(0, 1_000), 1);
        assert_eq!(due_by(999_999, 1_000), 1);
        assert_eq!(due_by(1_000_000, 1_000), 2);
        // Every request due by a time is scheduled at or before it, the next one after it.
        for rate in [1_000, 7_000, 50_000] {
            for now in [0, 12_345, 1_000_000, 987_654_321] {
                let due = due_by(now, rate);
                assert!(scheduled_ns(due, rate) <= now);
                assert!(scheduled_ns(due + 1, rate) > now);
            }
        }
    }

    #[test]
    fn a_new_order_frame_is_48_bytes() {
        assert_eq!(new_order_frame_bytes(), 48);
    }
}
