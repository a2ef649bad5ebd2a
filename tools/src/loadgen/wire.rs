//! The load generator's connections: an order-entry session that logs in by challenge and
//! response and then sends and reads independently (open loop), and the framing both the
//! order-entry and the market-data protocols share, over any tokio byte stream.

use std::net::SocketAddr;
use std::time::Duration;

use oddsmatch_net::client::Credentials;
use oddsmatch_net::proto::{self, ClientMsg, Header, Login, LoginAccepted, ServerMsg};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The largest frame accepted from the server.
const MAX_FRAME: usize = 1 << 20;
/// Bytes read at once.
const READ_CHUNK: usize = 16 * 1024;
/// Attempts at a refused connection (a listener's backlog overflows when thousands connect
/// at once).
const CONNECT_ATTEMPTS: u32 = 20;

/// Whole frames off a byte stream.
pub(super) struct Frames<R> {
    reader: R,
    buffer: Vec<u8>,
    start: usize,
    chunk: Box<[u8; READ_CHUNK]>,
}

impl<R: AsyncRead + Unpin> Frames<R> {
    /// Frames read from `reader`.
    pub(super) fn new(reader: R) -> Self {
        Frames {
            reader,
            buffer: Vec::with_capacity(READ_CHUNK),
            start: 0,
            chunk: Box::new([0; READ_CHUNK]),
        }
    }

    /// The next frame's header and body; `Ok(None)` at the end of the stream. Cancel-safe:
    /// bytes read before a cancellation stay in the buffer.
    pub(super) async fn next(&mut self) -> Result<Option<(Header, Vec<u8>)>, String> {
        loop {
            if let Some((header, body)) = proto::split_frame(&self.buffer[self.start..], MAX_FRAME)
                .map_err(|e| format!("bad frame from the server: {e}"))?
            {
                let frame = (header, body.to_vec());
                self.start += header.len as usize;
                if self.start == self.buffer.len() {
                    self.buffer.clear();
                    self.start = 0;
                }
                return Ok(Some(frame));
            }
            if self.start > 0 {
                self.buffer.drain(..self.start);
                self.start = 0;
            }
            // Read into the chunk and append: a read cancelled before it completes has taken
            // nothing, so the buffer never holds bytes that did not arrive.
            let read = self
                .reader
                .read(&mut self.chunk[..])
                .await
                .map_err(|e| format!("read: {e}"))?;
            self.buffer.extend_from_slice(&self.chunk[..read]);
            if read == 0 {
                return Ok(None);
            }
        }
    }
}

/// Connects over TCP, retrying a refused or reset connection a few times.
pub(super) async fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let mut attempt = 0;
    loop {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                stream
                    .set_nodelay(true)
                    .map_err(|e| format!("connect {addr}: {e}"))?;
                return Ok(stream);
            }
            Err(error) if attempt + 1 < CONNECT_ATTEMPTS => {
                attempt += 1;
                tracing::debug!("connect {addr}: {error}; retrying");
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
            }
            Err(error) => return Err(format!("connect {addr}: {error}")),
        }
    }
}

/// A logged-in order-entry session, split so that sending never waits for reading.
pub(super) struct Session {
    /// The session's terms.
    pub(super) accepted: LoginAccepted,
    /// The read side.
    pub(super) frames: Frames<OwnedReadHalf>,
    /// The write side.
    pub(super) writer: OwnedWriteHalf,
    /// Messages encoded and not yet written.
    pub(super) outbound: Vec<u8>,
}

impl Session {
    /// Connects and logs in with `credentials`.
    pub(super) async fn login(
        addr: SocketAddr,
        credentials: Credentials,
        timeout: Duration,
    ) -> Result<Session, String> {
        tokio::time::timeout(timeout, Self::login_now(addr, credentials))
            .await
            .map_err(|_| format!("login of key {} timed out", credentials.key_id))?
    }

    async fn login_now(addr: SocketAddr, credentials: Credentials) -> Result<Session, String> {
        let (reader, mut writer) = connect(addr).await?.into_split();
        let mut frames = Frames::new(reader);
        let mut out = Vec::new();
        ClientMsg::Login(Login {
            key_id: credentials.key_id,
            heartbeat_ms: 0,
            cancel_on_disconnect: false,
            resume: Vec::new(),
        })
        .encode(&mut out);
        write_all(&mut writer, &out).await?;
        out.clear();
        let nonce = match read_server(&mut frames).await? {
            Some(ServerMsg::Challenge { nonce }) => nonce,
            other => return Err(format!("login: expected a challenge, got {other:?}")),
        };
        let proof = proto::login_proof(&credentials.secret, &nonce, credentials.key_id);
        ClientMsg::LoginProof { proof }.encode(&mut out);
        write_all(&mut writer, &out).await?;
        out.clear();
        match read_server(&mut frames).await? {
            Some(ServerMsg::LoginAccepted(accepted)) => Ok(Session {
                accepted,
                frames,
                writer,
                outbound: out,
            }),
            other => Err(format!(
                "login of key {} refused: {other:?}",
                credentials.key_id
            )),
        }
    }

    /// Encodes a message to be written by the next [`Session::flush`].
    pub(super) fn queue(&mut self, msg: &ClientMsg) {
        msg.encode(&mut self.outbound);
    }

    /// Writes everything queued.
    pub(super) async fn flush(&mut self) -> Result<(), String> {
        if self.outbound.is_empty() {
            return Ok(());
        }
        let written = self.writer.write_all(&self.outbound).await;
        self.outbound.clear();
        written.map_err(|e| format!("write: {e}"))
    }

    /// The next message from the server (`Ok(None)`: the server closed the connection).
    pub(super) async fn read(&mut self) -> Result<Option<ServerMsg>, String> {
        read_server(&mut self.frames).await
    }
}

/// The next order-entry message off `frames`.
pub(super) async fn read_server<R: AsyncRead + Unpin>(
    frames: &mut Frames<R>,
) -> Result<Option<ServerMsg>, String> {
    match frames.next().await? {
        Some((header, body)) => ServerMsg::decode(header, &body)
            .map(Some)
            .map_err(|e| format!("bad message from the server: {e}")),
        None => Ok(None),
    }
}

/// Writes `bytes` to a market-data connection.
pub(super) async fn write_all<W: AsyncWrite + Unpin>(
    writer: &mut W,
    bytes: &[u8],
) -> Result<(), String> {
    writer
        .write_all(bytes)
        .await
        .map_err(|e| format!("write: {e}"))
}
