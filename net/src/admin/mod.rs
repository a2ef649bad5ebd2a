//! The operator's admin socket: a Unix domain socket in the data directory (owner-only), one
//! JSON request per line in, one JSON reply per line out. `docs/admin.md` documents every
//! request; `oddsmatch admin` is its command-line client, and `socat - UNIX-CONNECT:...`
//! works by hand.
//!
//! ```text
//!  client ──line──▶ connection thread ──parse──▶ handle ──▶ shard queue (command or query)
//!                          ▲                                     │
//!                          └──────────── reply line ◀─── committed batch / answer
//! ```
//!
//! **Changes are engine inputs.** A state-changing request becomes the engine command of the
//! same name, routed like the bootstrap file's lines (a market's command to the shard that owns
//! it, an account's to every shard, money to the shard named), journaled and applied like any
//! other; the reply carries the events it made. **Reads never stop a shard**: they are queries
//! the shard answers between batches, or counters read from atomics.
//!
//! A bad request (malformed JSON, an unknown request, a missing or mistyped field, an unknown
//! market or account) gets `{"ok": false, "error": {...}}` naming the problem, changes nothing,
//! and the connection keeps serving.

mod handle;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub(crate) use handle::AdminContext;
pub use handle::ShardAccess;

/// The file name of the socket in the data directory, unless configured.
pub const SOCKET_FILE: &str = "admin.sock";

/// Tags of the admin's commands have this bit set, so that nobody else's requests share them.
pub const ADMIN_TAG_BIT: u64 = 1 << 62;

/// The admin socket's knobs (documented in `tuning.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Whether the node listens on an admin socket at all.
    pub enabled: bool,
    /// The socket's path (default: `admin.sock` in the data directory).
    pub socket: Option<PathBuf>,
    /// Connections served at once; the next one gets an error line and is closed.
    pub max_connections: usize,
    /// The longest request line, in bytes.
    pub max_request_bytes: usize,
    /// How long a request waits for a shard's answer (or a snapshot to be written).
    pub timeout_ms: u64,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            socket: None,
            max_connections: 16,
            max_request_bytes: 1 << 20,
            timeout_ms: 10_000,
        }
    }
}

impl AdminConfig {
    /// Where the socket is for a node whose data directory is `data_dir`.
    pub fn socket_path(&self, data_dir: &Path) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(|| data_dir.join(SOCKET_FILE))
    }
}

/// A running admin socket; [`AdminServer::stop`] (or dropping it) closes it and removes the
/// socket file.
#[derive(Debug)]
pub struct AdminServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AdminServer {
    /// Binds the socket (owner-only) and starts serving. A socket file left by a node that is
    /// gone is replaced; one that a live node answers on is an error.
    pub(crate) fn start(
        config: &AdminConfig,
        path: PathBuf,
        context: AdminContext,
    ) -> io::Result<AdminServer> {
        if path.exists() {
            if UnixStream::connect(&path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is in use by a running node", path.display()),
                ));
            }
            std::fs::remove_file(&path)?;
        }
        // The data directory is the owner's alone (0700), so nobody else can reach the socket
        // in it even before its own mode is narrowed; a socket configured elsewhere should be
        // in a directory like that too.
        let listener = UnixListener::bind(&path)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let context = Arc::new(context);
        let limits = Limits {
            max_connections: config.max_connections.max(1),
            max_request_bytes: config.max_request_bytes.max(64),
        };
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("admin".to_owned())
                .spawn(move || accept_loop(&listener, &context, limits, &stop))?
        };
        tracing::info!(socket = %path.display(), "admin socket listening");
        Ok(AdminServer {
            path,
            stop,
            thread: Some(thread),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, lets the connections finish the request they are on, and removes the
    /// socket file.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.shut();
    }
}

#[derive(Clone, Copy, Debug)]
struct Limits {
    max_connections: usize,
    max_request_bytes: usize,
}

/// How often the threads look at the stop flag.
const POLL: Duration = Duration::from_millis(50);

fn accept_loop(
    listener: &UnixListener,
    context: &Arc<AdminContext>,
    limits: Limits,
    stop: &Arc<AtomicBool>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Acquire) {
        connections.retain(|c| !c.is_finished());
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nonblocking(false);
                if open.load(Ordering::Acquire) >= limits.max_connections {
                    let reply = error_reply(
                        &Value::Null,
                        "busy",
                        &format!(
                            "the admin socket serves {} connections at once",
                            limits.max_connections
                        ),
                    );
                    let _ = writeln!(stream, "{reply}");
                    continue;
                }
                open.fetch_add(1, Ordering::AcqRel);
                let (context, stop, open) = (context.clone(), stop.clone(), open.clone());
                let spawned = std::thread::Builder::new()
                    .name("admin-conn".to_owned())
                    .spawn(move || {
                        serve_connection(stream, &context, limits, &stop);
                        open.fetch_sub(1, Ordering::AcqRel);
                    });
                match spawned {
                    Ok(thread) => connections.push(thread),
                    Err(error) => tracing::warn!(%error, "admin: cannot start a connection thread"),
                }
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(error) => {
                tracing::warn!(%error, "admin: accept failed");
                std::thread::sleep(POLL);
            }
        }
    }
    for connection in connections {
        let _ = connection.join();
    }
}

/// Serves one connection: a reply line per request line, until the client closes it, the node
/// stops, or a line is longer than the limit (answered, then the connection is closed, since
/// the rest of that line cannot be told from the next request).
fn serve_connection(stream: UnixStream, context: &AdminContext, limits: Limits, stop: &AtomicBool) {
    if stream.set_read_timeout(Some(POLL)).is_err() {
        return;
    }
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line: Vec<u8> = Vec::new();
    loop {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let room = (limits.max_request_bytes + 1).saturating_sub(line.len()) as u64;
        match (&mut reader).take(room).read_until(b'\n', &mut line) {
            Ok(0) if line.is_empty() => return, // closed
            Ok(_) if line.last() == Some(&b'\n') || line.len() > limits.max_request_bytes => {}
            Ok(0) => {} // closed after a last line without its newline
            Ok(_) => continue,
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(_) => return,
        }
        let too_long = line.len() > limits.max_request_bytes;
        let reply = if too_long {
            error_reply(
                &Value::Null,
                "too_long",
                &format!(
                    "a request line is at most {} bytes",
                    limits.max_request_bytes
                ),
            )
        } else {
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.is_empty() {
                line.clear();
                continue;
            }
            context.handle_line(text)
        };
        if writeln!(writer, "{reply}").is_err() || too_long {
            return;
        }
        line.clear();
    }
}

/// `{"id": .., "ok": false, "error": {"code": .., "message": ..}}`.
pub(crate) fn error_reply(id: &Value, code: &str, message: &str) -> Value {
    let mut reply = json!({"ok": false, "error": {"code": code, "message": message}});
    if !id.is_null() {
        reply["id"] = id.clone();
    }
    reply
}

/// Why an [`AdminClient`] request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The socket could not be reached, or broke.
    #[error("admin socket {path}: {source}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The node's reply was not a JSON line.
    #[error("admin socket {path}: the reply is not JSON: {message}")]
    Reply {
        /// The socket.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// A client of the admin socket: one request at a time, each answered by one reply.
#[derive(Debug)]
pub struct AdminClient {
    path: PathBuf,
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    next_id: AtomicU64,
}

impl AdminClient {
    /// Connects to the socket at `path`.
    pub fn connect(path: impl AsRef<Path>) -> Result<AdminClient, AdminError> {
        let path = path.as_ref().to_owned();
        let io = |source| AdminError::Io {
            path: path.clone(),
            source,
        };
        let writer = UnixStream::connect(&path).map_err(io)?;
        let reader = BufReader::new(writer.try_clone().map_err(io)?);
        Ok(AdminClient {
            path,
            writer,
            reader,
            next_id: AtomicU64::new(1),
        })
    }

    /// Sends one request (an object with `"op"`; an `"id"` is added unless given) and returns
    /// the node's reply, whether it says `ok` or not.
    pub fn request(&mut self, request: &Value) -> Result<Value, AdminError> {
        let mut request = request.clone();
        if let Some(object) = request.as_object_mut() {
            object
                .entry("id")
                .or_insert_with(|| json!(self.next_id.fetch_add(1, Ordering::Relaxed)));
        }
        let io = |source| AdminError::Io {
            path: self.path.clone(),
            source,
        };
        writeln!(self.writer, "{request}").map_err(io)?;
        let mut line = String::new();
        let read = self.reader.read_line(&mut line).map_err(io)?;
        if read == 0 {
            return Err(AdminError::Io {
                path: self.path.clone(),
                source: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the node closed the connection",
                ),
            });
        }
        serde_json::from_str(&line).map_err(|e| AdminError::Reply {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }
}
