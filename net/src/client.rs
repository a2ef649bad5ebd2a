//! A blocking Rust client for the order-entry protocol, used by the CLI, the tests and the
//! benchmarks.
//!
//! It logs in by challenge and response, keeps the resume cursor of every shard up to date as
//! reports arrive, reconnects with a replay of what it missed, and answers the server's
//! heartbeats whenever it is read from. A program that does not read for several heartbeat
//! intervals is disconnected by the server; read with [`Client::recv`] regularly.
//!
//! ```no_run
//! use std::time::Duration;
//! use oddsmatch_net::client::{Client, Credentials, Options};
//! use oddsmatch_net::proto::{ClientMsg, NewOrder, ServerMsg};
//! use oddsmatch_engine::{MarketId, Persistence, SelectionId, Side, TimeInForce};
//!
//! let credentials = Credentials { key_id: 7, secret: [0x0b; 32] };
//! let mut client = Client::connect("127.0.0.1:7700", credentials, Options::default())?;
//! let request_id = client.next_request_id();
//! client.send(&ClientMsg::NewOrder(NewOrder {
//!     request_id,
//!     client_order_id: 1,
//!     stake_minor: 1_000,
//!     market: MarketId(1),
//!     selection: SelectionId(1),
//!     odds_x100: 250,
//!     side: Side::Back,
//!     tif: TimeInForce::Gtc,
//!     persistence: Persistence::Lapse,
//!     post_only: false,
//! }))?;
//! let answer = client.wait_for(Duration::from_secs(1), |msg| match msg {
//!     ServerMsg::Report(report) => report.header.request_id == request_id,
//!     _ => false,
//! })?;
//! println!("{answer:?}");
//! # Ok::<(), oddsmatch_net::client::ClientError>(())
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::proto::{
    self, ClientMsg, DecodeError, EndReason, FrameError, Login, LoginAccepted, LoginReject,
    ResumeCursor, ServerMsg,
};

/// An API key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    /// The key's id.
    pub key_id: u64,
    /// Its secret (never sent).
    pub secret: [u8; 32],
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// How to log in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Ask the server to cancel every order of the account when the session ends.
    pub cancel_on_disconnect: bool,
    /// Heartbeat interval asked for (0: the server's default).
    pub heartbeat_ms: u32,
    /// Replay reports after these positions at login (none: start live).
    pub resume: Vec<ResumeCursor>,
    /// How long connecting and logging in may take.
    pub timeout: Duration,
    /// The largest frame accepted from the server.
    pub max_frame: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cancel_on_disconnect: false,
            heartbeat_ms: 0,
            resume: Vec::new(),
            timeout: Duration::from_secs(5),
            max_frame: 1 << 20,
        }
    }
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket failed.
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    /// The server's byte stream broke the framing rules.
    #[error("bad frame from the server: {0}")]
    Frame(#[from] FrameError),
    /// A frame from the server did not decode.
    #[error("bad message from the server: {0}")]
    Decode(#[from] DecodeError),
    /// The login was refused.
    #[error("login rejected: {0:?}")]
    LoginRejected(LoginReject),
    /// The server ended the session.
    #[error("session ended by the server ({reason:?}): {detail}")]
    Ended {
        /// Why.
        reason: EndReason,
        /// The server's words.
        detail: String,
    },
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// Nothing matching arrived in time.
    #[error("timed out waiting for the server")]
    Timeout,
    /// The server sent something out of order.
    #[error("protocol: {0}")]
    Protocol(String),
}

/// A logged-in session.
#[derive(Debug)]
pub struct Client {
    addr: SocketAddr,
    credentials: Credentials,
    options: Options,
    stream: TcpStream,
    inbound: Vec<u8>,
    outbound: Vec<u8>,
    queued: VecDeque<ServerMsg>,
    session: LoginAccepted,
    cursors: BTreeMap<u16, ResumeCursor>,
    next_request_id: u64,
    last_sent: Instant,
    closed: bool,
}

impl Client {
    /// Connects and logs in. Replayed reports (if `options.resume` asks for any) and the
    /// `replay_complete` that follows them are then read with [`Client::recv`].
    pub fn connect(
        addr: impl ToSocketAddrs,
        credentials: Credentials,
        options: Options,
    ) -> Result<Client, ClientError> {
        let addr = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
        let stream = TcpStream::connect_timeout(&addr, options.timeout)?;
        Self::over(stream, credentials, options)
    }

    /// Logs in over a stream that is already connected (to set socket options first).
    pub fn over(
        stream: TcpStream,
        credentials: Credentials,
        options: Options,
    ) -> Result<Client, ClientError> {
        let addr = stream.peer_addr()?;
        stream.set_nodelay(true)?;
        let cursors = options
            .resume
            .iter()
            .map(|cursor| (cursor.shard, *cursor))
            .collect();
        let mut client = Client {
            addr,
            credentials,
            options,
            stream,
            inbound: Vec::with_capacity(64 * 1024),
            outbound: Vec::with_capacity(4 * 1024),
            queued: VecDeque::new(),
            session: LoginAccepted {
                session_id: 0,
                server_time_ns: 0,
                account: oddsmatch_engine::AccountId(0),
                heartbeat_ms: 1_000,
                cancel_on_disconnect: false,
                shard_count: 1,
                tier: oddsmatch_engine::Tier::Free,
                role: oddsmatch_engine::Role::Trader,
            },
            cursors,
            next_request_id: 1,
            last_sent: Instant::now(),
            closed: false,
        };
        client.login()?;
        Ok(client)
    }

    fn login(&mut self) -> Result<(), ClientError> {
        let timeout = self.options.timeout;
        let resume: Vec<ResumeCursor> = self.cursors.values().copied().collect();
        self.send(&ClientMsg::Login(Login {
            key_id: self.credentials.key_id,
            heartbeat_ms: self.options.heartbeat_ms,
            cancel_on_disconnect: self.options.cancel_on_disconnect,
            resume,
        }))?;
        let challenge = match self.read_one(timeout)? {
            Some(ServerMsg::Challenge { nonce }) => nonce,
            Some(ServerMsg::LoginRejected { reason }) => {
                return Err(ClientError::LoginRejected(reason));
            }
            Some(other) => {
                return Err(ClientError::Protocol(format!(
                    "expected a challenge, got {other:?}"
                )));
            }
            None => return Err(ClientError::Timeout),
        };
        let proof = proto::login_proof(
            &self.credentials.secret,
            &challenge,
            self.credentials.key_id,
        );
        self.send(&ClientMsg::LoginProof { proof })?;
        match self.read_one(timeout)? {
            Some(ServerMsg::LoginAccepted(accepted)) => {
                self.session = accepted;
                Ok(())
            }
            Some(ServerMsg::LoginRejected { reason }) => Err(ClientError::LoginRejected(reason)),
            Some(other) => Err(ClientError::Protocol(format!(
                "expected the login's answer, got {other:?}"
            ))),
            None => Err(ClientError::Timeout),
        }
    }

    /// The session's terms.
    pub fn session(&self) -> &LoginAccepted {
        &self.session
    }

    /// Where this client's reports stand on each shard (what a reconnect resumes from).
    pub fn cursors(&self) -> Vec<ResumeCursor> {
        self.cursors.values().copied().collect()
    }

    /// A fresh correlation id.
    pub fn next_request_id(&mut self) -> u64 {
        let id = self.next_request_id;
        self.next_request_id += 1;
        id
    }

    /// Sends one message, after anything queued with [`Client::queue`].
    pub fn send(&mut self, msg: &ClientMsg) -> Result<(), ClientError> {
        msg.encode(&mut self.outbound);
        self.flush()
    }

    /// Sends bytes exactly as given, for testing how a server handles malformed frames.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes)?;
        self.last_sent = Instant::now();
        Ok(())
    }

    /// Queues a message without sending it yet (see [`Client::flush`]); for pipelining.
    pub fn queue(&mut self, msg: &ClientMsg) {
        msg.encode(&mut self.outbound);
    }

    /// Sends everything queued.
    pub fn flush(&mut self) -> Result<(), ClientError> {
        let sent = self.stream.write_all(&self.outbound);
        self.outbound.clear();
        sent?;
        self.last_sent = Instant::now();
        Ok(())
    }

    /// The next message, waiting up to `timeout` (`Ok(None)` when nothing came): one kept by
    /// [`Client::wait_for`] first, then from the socket. Heartbeats are answered and not
    /// returned; `end_of_session` becomes [`ClientError::Ended`].
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<ServerMsg>, ClientError> {
        if let Some(msg) = self.queued.pop_front() {
            return Ok(Some(msg));
        }
        self.read_msg(timeout)
    }

    fn read_msg(&mut self, timeout: Duration) -> Result<Option<ServerMsg>, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(msg) = self.read_one(left)? else {
                return Ok(None);
            };
            match msg {
                ServerMsg::Heartbeat { .. } => continue,
                ServerMsg::EndOfSession { reason, detail } => {
                    self.closed = true;
                    return Err(ClientError::Ended { reason, detail });
                }
                ServerMsg::Report(report) => {
                    let header = report.header;
                    if !matches!(report.body, proto::ReportBody::MarketStatus { .. }) {
                        let cursor = ResumeCursor {
                            shard: header.shard,
                            journal_seq: header.journal_seq,
                            event_index: header.event_index,
                        };
                        self.cursors.insert(header.shard, cursor);
                    }
                    return Ok(Some(ServerMsg::Report(report)));
                }
                other => return Ok(Some(other)),
            }
        }
    }

    /// Reads until a message satisfies `wanted`, up to `timeout`; messages read on the way are
    /// kept and returned by later calls, in order.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        mut wanted: impl FnMut(&ServerMsg) -> bool,
    ) -> Result<ServerMsg, ClientError> {
        if let Some(index) = self.queued.iter().position(&mut wanted) {
            return Ok(self.queued.remove(index).expect("index found above"));
        }
        let deadline = Instant::now() + timeout;
        let mut skipped = VecDeque::new();
        let result = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(ClientError::Timeout);
            }
            match self.read_msg(left) {
                Ok(Some(msg)) if wanted(&msg) => break Ok(msg),
                Ok(Some(msg)) => skipped.push_back(msg),
                Ok(None) => break Err(ClientError::Timeout),
                Err(error) => break Err(error),
            }
        };
        skipped.append(&mut self.queued);
        self.queued = skipped;
        result
    }

    /// Logs out and waits for the server's goodbye.
    pub fn logout(mut self) -> Result<(), ClientError> {
        self.send(&ClientMsg::Logout)?;
        let deadline = Instant::now() + self.options.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_msg(left) {
                Err(ClientError::Ended {
                    reason: EndReason::Logout,
                    ..
                }) => return Ok(()),
                Err(error) => return Err(error),
                Ok(None) => return Err(ClientError::Timeout),
                Ok(Some(_)) => {}
            }
        }
    }

    /// Drops the connection without logging out (as a crash or a network failure would).
    pub fn disconnect(self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Connects again and logs in with the cursors of the reports received so far, so the
    /// server replays exactly what was missed.
    pub fn reconnect(&mut self) -> Result<(), ClientError> {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.stream = TcpStream::connect_timeout(&self.addr, self.options.timeout)?;
        self.stream.set_nodelay(true)?;
        self.inbound.clear();
        self.outbound.clear();
        self.queued.clear();
        self.closed = false;
        if self.cursors.is_empty() {
            // Ask for everything since the start of the journal on every shard.
            for shard in 0..self.session.shard_count {
                self.cursors.insert(
                    shard,
                    ResumeCursor {
                        shard,
                        journal_seq: 0,
                        event_index: 0,
                    },
                );
            }
        }
        self.login()
    }

    /// Reads one message (heartbeats included), sending our own heartbeat when due.
    fn read_one(&mut self, timeout: Duration) -> Result<Option<ServerMsg>, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((header, body)) = proto::split_frame(&self.inbound, self.options.max_frame)?
            {
                let len = header.len as usize;
                let msg = ServerMsg::decode(header, body);
                self.inbound.drain(..len);
                return Ok(Some(msg?));
            }
            if self.closed {
                return Err(ClientError::Closed);
            }
            let heartbeat = Duration::from_millis(u64::from(self.session.heartbeat_ms.max(1)));
            if self.last_sent.elapsed() >= heartbeat {
                let ts_ns = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                self.send(&ClientMsg::Heartbeat { ts_ns })?;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let wait = (deadline - now)
                .min(heartbeat)
                .max(Duration::from_micros(100));
            self.stream.set_read_timeout(Some(wait))?;
            let len = self.inbound.len();
            self.inbound.resize(len + 64 * 1024, 0);
            match self.stream.read(&mut self.inbound[len..]) {
                Ok(0) => {
                    self.inbound.truncate(len);
                    self.closed = true;
                    if self.inbound.is_empty() {
                        return Err(ClientError::Closed);
                    }
                }
                Ok(n) => self.inbound.truncate(len + n),
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    self.inbound.truncate(len);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {
                    self.inbound.truncate(len);
                }
                Err(error) => {
                    self.inbound.truncate(len);
                    return Err(error.into());
                }
            }
        }
    }
}
