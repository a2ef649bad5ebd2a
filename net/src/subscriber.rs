//! A blocking market-data client: subscribe, read updates in order, notice gaps and resync,
//! reconnect and resubscribe, over TCP ([`Subscriber::connect`]) or QUIC
//! ([`Subscriber::connect_quic`]); the calls and what they return are the same on both.
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
//!
//! Over QUIC the server proves who it is with its certificate, which the subscriber checks
//! against what it was told to trust ([`Trust`]): the fingerprint the server logs at start
//! (its self-signed certificate, pinned), or the operator's CA.
//!
//! ```no_run
//! use oddsmatch_net::subscriber::{Subscriber, Trust};
//!
//! let trust = Trust::fingerprint_hex(
//!     "3b8e5a0c0f2d47a1b6c1e7d9a4f0c2b8e5a0c0f2d47a1b6c1e7d9a4f0c2b8e5a",
//! )
//! .expect("64 hexadecimal digits");
//! let mut feed = Subscriber::connect_quic("127.0.0.1:7702", trust)?;
//! # Ok::<(), oddsmatch_net::subscriber::SubscriberError>(())
//! ```
//!
//! A QUIC subscriber drives its connection on a small runtime of its own while it is inside a
//! call (reading in [`Subscriber::next`] keeps it going); it is not meant to be used from
//! inside an async runtime.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oddsmatch_engine::MarketId;
use quinn::crypto::rustls::QuicClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

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

/// A market-data subscriber over TCP or QUIC.
pub struct Subscriber {
    addr: SocketAddr,
    link: Link,
    /// Bytes read, from `start` to `end`; zero-filled once, beyond `end`, to read into.
    buffer: Vec<u8>,
    start: usize,
    end: usize,
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

/// The most bytes read at once.
const READ_CHUNK: usize = 64 * 1024;

impl Subscriber {
    /// Connects over TCP (anonymous until [`Subscriber::login`]).
    pub fn connect(addr: impl ToSocketAddrs) -> Result<Subscriber, SubscriberError> {
        let addr = first_addr(addr)?;
        Ok(Subscriber::with_link(addr, Link::Tcp(tcp_stream(addr)?)))
    }

    /// Connects over QUIC, accepting the server when its certificate is what `trust` says
    /// (anonymous until [`Subscriber::login`]).
    pub fn connect_quic(
        addr: impl ToSocketAddrs,
        trust: Trust,
    ) -> Result<Subscriber, SubscriberError> {
        let addr = first_addr(addr)?;
        let link = QuicLink::open(addr, &trust)?;
        Ok(Subscriber::with_link(addr, Link::Quic(Box::new(link))))
    }

    fn with_link(addr: SocketAddr, link: Link) -> Subscriber {
        Subscriber {
            addr,
            link,
            buffer: vec![0; READ_CHUNK],
            end: 0,
            start: 0,
            markets: BTreeMap::new(),
            next_request: 1,
            credentials: None,
            last_sent: Instant::now(),
        }
    }

    fn send(&mut self, msg: &MdClientMsg) -> Result<(), SubscriberError> {
        let mut out = Vec::new();
        msg.encode(&mut out);
        self.link.write_all(&out)?;
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
        match &mut self.link {
            Link::Tcp(stream) => *stream = tcp_stream(self.addr)?,
            Link::Quic(link) => link.reconnect(self.addr)?,
        }
        (self.start, self.end) = (0, 0);
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
            // The message first: an END explains why a heartbeat could not be sent.
            let update = self.track(msg)?;
            if self.last_sent.elapsed() >= Duration::from_secs(1) {
                self.send(&MdClientMsg::Heartbeat)?;
            }
            if let Some(update) = update {
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
            let read = &self.buffer[self.start..self.end];
            if let Some((header, body)) = split_frame(read, MAX_FRAME)? {
                let len = header.len as usize;
                let msg = MdServerMsg::decode(header, body);
                self.start += len;
                if self.start == self.end {
                    (self.start, self.end) = (0, 0);
                }
                return Ok(msg?);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(SubscriberError::Timeout);
            }
            // A part of a frame moves to the front; the buffer grows only for a frame longer
            // than it (at most `MAX_FRAME`), so it is not zero-filled again on every read.
            if self.start > 0 {
                self.buffer.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end - self.start);
            }
            if self.buffer.len() - self.end < READ_CHUNK {
                self.buffer.resize(self.end + READ_CHUNK, 0);
            }
            match self.link.read(&mut self.buffer[self.end..], deadline - now) {
                Ok(0) => {
                    return Err(SubscriberError::Io(io::ErrorKind::UnexpectedEof.into()));
                }
                Ok(n) => self.end += n,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return Err(SubscriberError::Timeout);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// How long dialling (TCP connect; QUIC handshake and stream) may take, and a QUIC write.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn first_addr(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))
}

fn tcp_stream(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// What carries the session.
enum Link {
    Tcp(TcpStream),
    Quic(Box<QuicLink>),
}

impl Link {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Link::Tcp(stream) => stream.write_all(bytes),
            Link::Quic(link) => link.write_all(bytes),
        }
    }

    /// Reads what has arrived, waiting at most `timeout` (then an error of kind `TimedOut`
    /// or `WouldBlock`); 0 at the end of the stream.
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        match self {
            Link::Tcp(stream) => {
                stream.set_read_timeout(Some(timeout))?;
                stream.read(buf)
            }
            Link::Quic(link) => link.read(buf, timeout),
        }
    }
}

/// Which QUIC servers a subscriber accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Exactly the certificate whose SHA-256 (of its DER encoding) is this: a server's
    /// self-signed certificate, pinned. The name the server goes by is not checked; the TLS
    /// handshake still proves that the server holds the certificate's key.
    Fingerprint([u8; 32]),
    /// A certificate for `server_name`, issued by one of the CA certificates in a PEM file.
    CaFile {
        /// The CA certificates (PEM).
        path: PathBuf,
        /// The name the server's certificate must be for (a DNS name or an IP address).
        server_name: String,
    },
}

impl Trust {
    /// [`Trust::Fingerprint`] from 64 hexadecimal digits (either case, pairs optionally
    /// separated by `:`), as the server logs it; `None` if it is not one.
    pub fn fingerprint_hex(text: &str) -> Option<Trust> {
        crate::market_data::quic::parse_fingerprint(text).map(Trust::Fingerprint)
    }

    /// The name sent to the server (SNI) and, with a CA, checked against its certificate.
    fn server_name(&self) -> &str {
        match self {
            Trust::Fingerprint(_) => "localhost",
            Trust::CaFile { server_name, .. } => server_name,
        }
    }

    /// The QUIC client configuration: TLS 1.3 with the `ring` provider, the market-data ALPN
    /// name, and this trust (for clients that run their own quinn endpoints, such as the
    /// fan-out benchmark's).
    pub fn client_config(&self) -> io::Result<quinn::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algorithms = provider.signature_verification_algorithms;
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(io::Error::other)?;
        let mut tls = match self {
            Trust::Fingerprint(fingerprint) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedCertificate {
                    fingerprint: *fingerprint,
                    algorithms,
                }))
                .with_no_client_auth(),
            Trust::CaFile { path, .. } => {
                let bad = |e: &dyn std::fmt::Display| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                };
                let mut roots = rustls::RootCertStore::empty();
                let certificates = CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))?;
                for certificate in certificates {
                    roots
                        .add(certificate.map_err(|e| bad(&e))?)
                        .map_err(|e| bad(&e))?;
                }
                if roots.is_empty() {
                    return Err(bad(&"no CA certificate in it"));
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
        };
        tls.alpn_protocols = vec![crate::market_data::quic::ALPN.to_vec()];
        let quic = QuicClientConfig::try_from(tls).map_err(io::Error::other)?;
        Ok(quinn::ClientConfig::new(Arc::new(quic)))
    }
}

/// Accepts the one certificate with the pinned fingerprint, and checks the handshake's
/// signature with it as any verifier does.
#[derive(Debug)]
struct PinnedCertificate {
    fingerprint: [u8; 32],
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if crate::market_data::quic::fingerprint(end_entity.as_ref()) == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, certificate, signature, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, certificate, signature, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A QUIC connection and its one bidirectional stream, driven by a runtime of its own on the
/// calling thread (only while a call is under way).
struct QuicLink {
    server_name: String,
    connection: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    endpoint: quinn::Endpoint,
    /// Last: dropped after everything that runs on it.
    runtime: tokio::runtime::Runtime,
}

impl QuicLink {
    fn open(addr: SocketAddr, trust: &Trust) -> Result<QuicLink, SubscriberError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let local: SocketAddr = match addr {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let mut endpoint = {
            let _context = runtime.enter();
            quinn::Endpoint::client(local)?
        };
        endpoint.set_default_client_config(trust.client_config()?);
        let server_name = trust.server_name().to_owned();
        let (connection, send, recv) = runtime.block_on(dial(&endpoint, addr, &server_name))?;
        Ok(QuicLink {
            server_name,
            connection,
            send,
            recv,
            endpoint,
            runtime,
        })
    }

    fn reconnect(&mut self, addr: SocketAddr) -> Result<(), SubscriberError> {
        self.connection
            .close(quinn::VarInt::from_u32(0), b"reconnecting");
        let (connection, send, recv) =
            self.runtime
                .block_on(dial(&self.endpoint, addr, &self.server_name))?;
        (self.connection, self.send, self.recv) = (connection, send, recv);
        Ok(())
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let send = &mut self.send;
        match self
            .runtime
            .block_on(async { tokio::time::timeout(CONNECT_TIMEOUT, send.write_all(bytes)).await })
        {
            Ok(written) => written.map_err(io::Error::from),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the server did not take the request in time",
            )),
        }
    }

    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        let recv = &mut self.recv;
        // `RecvStream::read` is cancel-safe: a read cut short by the timeout loses nothing.
        match self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, recv.read(buf)).await })
        {
            Ok(Ok(Some(n))) => Ok(n),
            Ok(Ok(None)) => Ok(0),
            Ok(Err(error)) => Err(error.into()),
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
        }
    }
}

impl Drop for QuicLink {
    fn drop(&mut self) {
        self.connection
            .close(quinn::VarInt::from_u32(0), b"subscriber closed");
        // Let the close go out, so that the server ends the session now rather than at its
        // idle timeout. (Not possible, and not attempted, inside another runtime.)
        if tokio::runtime::Handle::try_current().is_err() {
            let endpoint = &self.endpoint;
            let _ = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_millis(5), endpoint.wait_idle()).await
            });
        }
    }
}

/// The handshake, then the session's stream, made visible to the server by a first heartbeat
/// (a QUIC stream reaches the peer with its first bytes).
async fn dial(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    server_name: &str,
) -> io::Result<(quinn::Connection, quinn::SendStream, quinn::RecvStream)> {
    let connecting = endpoint
        .connect(addr, server_name)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut heartbeat = Vec::new();
    MdClientMsg::Heartbeat.encode(&mut heartbeat);
    let opened = tokio::time::timeout(CONNECT_TIMEOUT, async {
        let connection = connecting.await?;
        let (mut send, recv) = connection.open_bi().await?;
        send.write_all(&heartbeat).await?;
        Ok::<_, io::Error>((connection, send, recv))
    })
    .await;
    opened.unwrap_or_else(|_| {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no QUIC connection in time",
        ))
    })
}
