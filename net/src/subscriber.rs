//! A blocking market-data client: subscribe, read updates in order, notice gaps and resync,
//! reconnect and resubscribe.
//!
//! ```no_run
//! use oddsmatch_engine::MarketId;
//! use oddsmatch_net::proto::md::Streams;
//! use oddsmatch_net::subscriber::{Subscriber, Update};
//! use std::time::Duration;
//!
//! let mut feed = Subscriber::connect("127.0.0.1:7701")?;
//! feed.subscribe(MarketId(1), Streams::TICKS.with(Streams::STATUS))?;
//! while let Some(update) = feed.next(Duration::from_secs(5))? {
//!     if let Update::Message(msg) = update {
//!         println!("{msg:?}");
//!     }
//! }
//! # Ok::<(), oddsmatch_net::subscriber::SubscriberError>(())
//! ```

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use oddsmatch_engine::MarketId;

use crate::proto::md::{FLAG_CONFLATED, MdClientMsg, MdServerMsg, Streams};
use crate::proto::{DecodeError, FrameError, LoginReject, login_proof, split_frame};

/// Why a subscriber call failed.
#[derive(Debug, thiserror::Error)]
pub enum SubscriberError {
    /// The connection failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The server broke the framing.
    #[error("bad frame from the server: {0}")]
    Frame(#[from] FrameError),
    /// The server sent a message that does not decode.
    #[error("bad message from the server: {0}")]
    Decode(#[from] DecodeError),
    /// The login was refused.
    #[error("login refused: {0:?}")]
    Login(LoginReject),
    /// The server ended the session.
    #[error("the server ended the session: {0}")]
    Ended(String),
    /// Nothing arrived in time.
    #[error("no answer from the server in time")]
    Timeout,
}

/// What [`Subscriber::next`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update {
    /// A message, in order, after its market's snapshot.
    Message(MdServerMsg),
    /// Updates of a market were missed: a resync was asked for, and updates of the market are
    /// held back until its snapshot arrives.
    Gap {
        /// The market.
        market: MarketId,
        /// The sequence number expected.
        expected: u64,
        /// The one that arrived.
        got: u64,
    },
}

/// What the client knows of one subscribed market.
#[derive(Clone, Copy, Debug, Default)]
struct Tracked {
    streams: Streams,
    /// A snapshot has arrived since (re)subscribing or resyncing.
    synced: bool,
    tick_seq: u64,
    book_seq: u64,
}

/// A market-data subscriber over TCP.
pub struct Subscriber {
    addr: SocketAddr,
    stream: TcpStream,
    buffer: Vec<u8>,
    start: usize,
    markets: BTreeMap<MarketId, Tracked>,
    next_request: u32,
    credentials: Option<(u64, [u8; 32])>,
    last_sent: Instant,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("addr", &self.addr)
            .field("markets", &self.markets.len())
            .finish_non_exhaustive()
    }
}

/// The largest frame the client accepts.
const MAX_FRAME: usize = 1 << 20;

impl Subscriber {
    /// Connects (anonymous until [`Subscriber::login`]).
    pub fn connect(addr: impl ToSocketAddrs) -> Result<Subscriber, SubscriberError> {
        let addr = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        Ok(Subscriber {
            addr,
            stream,
            buffer: Vec::with_capacity(64 * 1024),
            start: 0,
            markets: BTreeMap::new(),
            next_request: 1,
            credentials: None,
            last_sent: Instant::now(),
        })
    }

    fn send(&mut self, msg: &MdClientMsg) -> Result<(), SubscriberError> {
        let mut out = Vec::new();
        msg.encode(&mut out);
        self.stream.write_all(&out)?;
        self.last_sent = Instant::now();
        Ok(())
    }

    /// Logs in with an API key (needed for `book` and `trades`); returns the account.
    pub fn login(&mut self, key_id: u64, secret: [u8; 32]) -> Result<u32, SubscriberError> {
        self.send(&MdClientMsg::Login { key_id })?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.read_message(deadline)? {
                MdServerMsg::Challenge { challenge } => {
                    let proof = login_proof(&secret, &challenge, key_id);
                    self.send(&MdClientMsg::LoginProof { proof })?;
                }
                MdServerMsg::LoginAccepted { account, .. } => {
                    self.credentials = Some((key_id, secret));
                    return Ok(account);
                }
                MdServerMsg::LoginRejected { reason } => {
                    return Err(SubscriberError::Login(reason));
                }
                MdServerMsg::End { reason, detail } => {
                    return Err(SubscriberError::Ended(format!("{reason:?}: {detail}")));
                }
                _ => {}
            }
        }
    }

    /// Subscribes to streams of a market; `SUBSCRIBED` (or `REJECTED`) and the snapshot come
    /// through [`Subscriber::next`].
    pub fn subscribe(
        &mut self,
        market: MarketId,
        streams: Streams,
    ) -> Result<u32, SubscriberError> {
        let request_id = self.request_id();
        let tracked = self.markets.entry(market).or_default();
        tracked.streams = tracked.streams.with(streams);
        tracked.synced = false;
        self.send(&MdClientMsg::Subscribe {
            request_id,
            market,
            streams,
        })?;
        Ok(request_id)
    }

    /// Drops streams of a market.
    pub fn unsubscribe(
        &mut self,
        market: MarketId,
        streams: Streams,
    ) -> Result<u32, SubscriberError> {
        let request_id = self.request_id();
        if let Some(tracked) = self.markets.get_mut(&market) {
            tracked.streams = tracked.streams.without(streams);
            if tracked.streams.0 == 0 {
                self.markets.remove(&market);
            }
        }
        self.send(&MdClientMsg::Unsubscribe {
            request_id,
            market,
            streams,
        })?;
        Ok(request_id)
    }

    /// Asks for a fresh snapshot of a market; its updates are held back until it arrives.
    pub fn resync(&mut self, market: MarketId) -> Result<u32, SubscriberError> {
        let request_id = self.request_id();
        if let Some(tracked) = self.markets.get_mut(&market) {
            tracked.synced = false;
        }
        self.send(&MdClientMsg::Resync { request_id, market })?;
        Ok(request_id)
    }

    fn request_id(&mut self) -> u32 {
        let id = self.next_request;
        self.next_request = self.next_request.wrapping_add(1).max(1);
        id
    }

    /// Dials again, logs in again if it had, and resubscribes every market (each starts
    /// again from a snapshot).
    pub fn reconnect(&mut self) -> Result<(), SubscriberError> {
        let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        self.stream = stream;
        self.buffer.clear();
        self.start = 0;
        if let Some((key_id, secret)) = self.credentials {
            self.login(key_id, secret)?;
        }
        let markets: Vec<(MarketId, Streams)> =
            self.markets.iter().map(|(m, t)| (*m, t.streams)).collect();
        for (market, streams) in markets {
            self.subscribe(market, streams)?;
        }
        Ok(())
    }

    /// The next update, in order, or `None` if nothing arrived within `timeout`. Gaps are
    /// reported once and repaired by a resync; updates of a market before its snapshot are
    /// held back. Heartbeats are answered and not returned.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Update>, SubscriberError> {
        let deadline = Instant::now() + timeout;
        loop {
            let msg = match self.read_message(deadline) {
                Ok(msg) => msg,
                Err(SubscriberError::Timeout) => return Ok(None),
                Err(e) => return Err(e),
            };
            if self.last_sent.elapsed() >= Duration::from_secs(1) {
                self.send(&MdClientMsg::Heartbeat)?;
            }
            if let Some(update) = self.track(msg)? {
                return Ok(Some(update));
            }
        }
    }

    /// Checks sequence numbers; `None` for what is not passed on.
    fn track(&mut self, msg: MdServerMsg) -> Result<Option<Update>, SubscriberError> {
        let (market, seq, book) = match &msg {
            MdServerMsg::Heartbeat => return Ok(None),
            MdServerMsg::End { reason, detail } => {
                return Err(SubscriberError::Ended(format!("{reason:?}: {detail}")));
            }
            MdServerMsg::Snapshot(s) => {
                if let Some(t) = self.markets.get_mut(&s.market) {
                    t.synced = true;
                    t.tick_seq = s.tick_seq;
                    t.book_seq = s.book_seq;
                }
                return Ok(Some(Update::Message(msg)));
            }
            MdServerMsg::Tick(t) => (t.market, t.tick_seq, false),
            MdServerMsg::Book {
                market, book_seq, ..
            }
            | MdServerMsg::Pool {
                market, book_seq, ..
            }
            | MdServerMsg::Trade {
                market, book_seq, ..
            }
            | MdServerMsg::Status {
                market, book_seq, ..
            } => (*market, *book_seq, true),
            _ => return Ok(Some(Update::Message(msg))),
        };
        let conflated =
            matches!(&msg, MdServerMsg::Status { flags, .. } if flags & FLAG_CONFLATED != 0);
        let Some(t) = self.markets.get_mut(&market) else {
            return Ok(None); // unsubscribed meanwhile
        };
        if !t.synced {
            return Ok(None);
        }
        // Only a `book` subscriber sees the whole book stream, so only it can see its gaps.
        let checked = !book || t.streams.contains(Streams::BOOK);
        if conflated {
            // A status change held back while this subscriber was behind: out of sequence, not
            // a gap; the conflated snapshot that follows sets the sequence again.
            return Ok(Some(Update::Message(msg)));
        }
        let last = if book {
            &mut t.book_seq
        } else {
            &mut t.tick_seq
        };
        if seq <= *last {
            return Ok(None); // already in the snapshot
        }
        if checked && seq != *last + 1 {
            let expected = *last + 1;
            t.synced = false;
            self.resync(market)?;
            return Ok(Some(Update::Gap {
                market,
                expected,
                got: seq,
            }));
        }
        *last = seq;
        Ok(Some(Update::Message(msg)))
    }

    /// Reads one message, waiting until `deadline`.
    fn read_message(&mut self, deadline: Instant) -> Result<MdServerMsg, SubscriberError> {
        loop {
            if let Some((header, body)) = split_frame(&self.buffer[self.start..], MAX_FRAME)? {
                let len = header.len as usize;
                let msg = MdServerMsg::decode(header, body);
                self.start += len;
                if self.start == self.buffer.len() {
                    self.buffer.clear();
                    self.start = 0;
                }
                return Ok(msg?);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(SubscriberError::Timeout);
            }
            self.stream.set_read_timeout(Some(deadline - now))?;
            if self.start > 0 {
                self.buffer.drain(..self.start);
                self.start = 0;
            }
            let len = self.buffer.len();
            self.buffer.resize(len + 64 * 1024, 0);
            match self.stream.read(&mut self.buffer[len..]) {
                Ok(0) => {
                    self.buffer.truncate(len);
                    return Err(SubscriberError::Io(io::ErrorKind::UnexpectedEof.into()));
                }
                Ok(n) => self.buffer.truncate(len + n),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    self.buffer.truncate(len);
                    return Err(SubscriberError::Timeout);
                }
                Err(e) => {
                    self.buffer.truncate(len);
                    return Err(e.into());
                }
            }
        }
    }
}
