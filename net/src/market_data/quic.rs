//! The QUIC transport: a quinn endpoint (TLS 1.3 through rustls with the `ring` provider,
//! ALPN [`ALPN`]) whose connections each carry one session on one bidirectional stream.
//!
//! The server's identity is the certificate and key the operator configured
//! (`cert_file`, `key_file`), or else a self-signed certificate for `localhost` and `127.0.0.1`
//! created in the data directory on the first start (`md-cert.pem`, and `md-key.pem` readable
//! by its owner only) and used on every later start, so that its fingerprint, which
//! subscribers pin, stays the same.
//!
//! A connection's life:
//!
//! 1. The handshake, then the subscriber opens a bidirectional stream and sends on it (a
//!    stream is only seen by the server once something is sent on it). Both within
//!    `idle_timeout_ms`, or the connection is closed. At most [`HANDSHAKES_MAX`] connections
//!    are in this phase at once; more are refused at the QUIC level.
//! 2. The session runs on the stream exactly as on a TCP connection (the same session code),
//!    counted against `max_connections` with the TCP sessions.
//! 3. When the session ends, the server waits (at most [`LINGER`]) for the subscriber to
//!    acknowledge everything sent, the `END` frame included, then closes the connection.
//!
//! There is no 0-RTT: a subscriber's first bytes wait for the handshake, so nothing it sends
//! can be replayed.

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use quinn::crypto::rustls::QuicServerConfig;
use quinn::{IdleTimeout, TransportConfig, VarInt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

use super::MarketDataConfig;
use super::session::{self, Context};

/// The ALPN name of the market-data protocol, version 1. An incompatible version of the
/// protocol gets a new name.
pub const ALPN: &[u8] = b"oddsmatch-md/1";

/// The generated certificate's file in the data directory.
pub const GENERATED_CERT_FILE: &str = "md-cert.pem";

/// The generated key's file in the data directory.
pub const GENERATED_KEY_FILE: &str = "md-key.pem";

/// Connections in their handshake (or not yet on their stream) at once; more are refused.
pub const HANDSHAKES_MAX: usize = 1_024;

/// How long a finished session waits for the subscriber to acknowledge what was sent.
pub const LINGER: Duration = Duration::from_secs(1);

/// How long a stopping publisher waits for its QUIC sessions to say goodbye, and then for
/// the connections to close.
const DRAIN: Duration = Duration::from_secs(2);

/// Bytes one subscriber may have in flight towards the server, on its stream and in all: its
/// requests are small.
const RECEIVE_WINDOW: u32 = 64 * 1024;

/// Bytes the server keeps in flight (sent, not yet acknowledged) per connection.
const SEND_WINDOW: u64 = 1 << 20;

/// The error code of a connection closed by the server after its session ended.
const CLOSE_SESSION_ENDED: u32 = 0;

/// The error code of connections closed because the server is stopping.
const CLOSE_SHUTDOWN: u32 = 1;

/// The SHA-256 of a certificate's DER encoding, as subscribers pin it.
pub fn fingerprint(certificate: &[u8]) -> [u8; 32] {
    Sha256::digest(certificate).into()
}

/// A fingerprint in lower-case hexadecimal.
pub fn fingerprint_hex(fingerprint: &[u8; 32]) -> String {
    fingerprint.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a fingerprint in hexadecimal (64 digits, either case, optionally in pairs separated
/// by `:` as many tools print it).
pub fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    let digits: Vec<u8> = text.trim().bytes().filter(|b| *b != b':').collect();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// The server's certificate chain and key.
pub(crate) struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// The fingerprint of the chain's first (the server's own) certificate.
    pub(crate) fingerprint: [u8; 32],
}

impl Identity {
    /// The configured certificate and key, or the generated ones in `data_dir` (generated now
    /// if they are not there yet).
    pub(crate) fn load(config: &MarketDataConfig, data_dir: &Path) -> io::Result<Identity> {
        let (cert_file, key_file) = match (&config.cert_file, &config.key_file) {
            (Some(cert), Some(key)) => (cert.clone(), key.clone()),
            (None, None) => {
                let cert = data_dir.join(GENERATED_CERT_FILE);
                let key = data_dir.join(GENERATED_KEY_FILE);
                // The certificate is written last: when it is there, so is its key.
                if !cert.exists() {
                    generate(data_dir, &cert, &key)?;
                }
                (cert, key)
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "market_data.cert_file and market_data.key_file are set together or not at all",
                ));
            }
        };
        let chain = CertificateDer::pem_file_iter(&cert_file)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| pem_error(&cert_file, e))?;
        let Some(first) = chain.first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: no certificate in it", cert_file.display()),
            ));
        };
        let fingerprint = fingerprint(first.as_ref());
        let key = PrivateKeyDer::from_pem_file(&key_file).map_err(|e| pem_error(&key_file, e))?;
        Ok(Identity {
            chain,
            key,
            fingerprint,
        })
    }
}

fn pem_error(path: &Path, error: rustls::pki_types::pem::Error) -> io::Error {
    match error {
        rustls::pki_types::pem::Error::Io(error) => {
            io::Error::new(error.kind(), format!("{}: {error}", path.display()))
        }
        error => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {error}", path.display()),
        ),
    }
}

/// Creates a self-signed certificate for `localhost` and `127.0.0.1` and its key.
fn generate(data_dir: &Path, cert_file: &Path, key_file: &Path) -> io::Result<()> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let generated = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
    fs::create_dir_all(data_dir)?;
    write_new(
        key_file,
        generated.signing_key.serialize_pem().as_bytes(),
        0o600,
    )?;
    write_new(cert_file, generated.cert.pem().as_bytes(), 0o644)?;
    tracing::info!(
        certificate = %cert_file.display(),
        "generated a self-signed market-data certificate"
    );
    Ok(())
}

/// Writes a file whole (a temporary file, synced, renamed over the name) with `mode`.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    let mut temporary = PathBuf::from(path);
    temporary.as_mut_os_string().push(".tmp");
    let _ = fs::remove_file(&temporary);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(&temporary)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", temporary.display())))?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// The endpoint's configuration: TLS 1.3 with the `ring` provider, the ALPN name, one
/// bidirectional stream per connection, the idle timeout of the sessions.
pub(crate) fn server_config(
    config: &MarketDataConfig,
    identity: &Identity,
) -> io::Result<quinn::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicServerConfig::try_from(tls).map_err(io::Error::other)?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic));
    server.transport_config(Arc::new(transport(config)));
    Ok(server)
}

fn transport(config: &MarketDataConfig) -> TransportConfig {
    let mut transport = TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(VarInt::from_u32(1))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .stream_receive_window(VarInt::from_u32(RECEIVE_WINDOW))
        .receive_window(VarInt::from_u32(RECEIVE_WINDOW))
        .send_window(SEND_WINDOW)
        // A peer that is gone (not even acknowledging) is dropped as a silent one would be;
        // the keep-alive stops an idle but live connection from timing out underneath.
        .max_idle_timeout(
            VarInt::from_u64(config.idle_timeout_ms.max(1))
                .ok()
                .map(IdleTimeout::from),
        )
        .keep_alive_interval(Some(Duration::from_millis(
            config
                .heartbeat_ms
                .clamp(1, config.idle_timeout_ms.max(2) / 2),
        )));
    transport
}

/// Binds the endpoint; must be called within the publisher's runtime.
pub(crate) fn bind(
    config: &MarketDataConfig,
    identity: &Identity,
    addr: SocketAddr,
) -> io::Result<quinn::Endpoint> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if config.udp_buffer > 0 {
        // Thousands of subscribers acknowledge each burst at once: a small receive buffer
        // drops their acknowledgements and QUIC retransmits. The kernel caps the size
        // (`net.core.rmem_max`, `wmem_max`), and a refusal leaves its default.
        let _ = socket.set_recv_buffer_size(config.udp_buffer);
        let _ = socket.set_send_buffer_size(config.udp_buffer);
    }
    socket.bind(&addr.into())?;
    let runtime = quinn::default_runtime()
        .ok_or_else(|| io::Error::other("QUIC needs a tokio runtime to bind in"))?;
    quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server_config(config, identity)?),
        socket.into(),
        runtime,
    )
}

/// Accepts connections until the publisher stops; then waits (a bounded time) for the
/// sessions to end and the connections to close.
pub(crate) async fn serve(endpoint: quinn::Endpoint, context: Arc<Context>) {
    let handshakes = Arc::new(AtomicUsize::new(0));
    let mut connections = JoinSet::new();
    let mut shutdown = context.shutdown.clone();
    loop {
        tokio::select! {
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                if handshakes.load(Ordering::Relaxed) >= HANDSHAKES_MAX {
                    context.stats.refused.fetch_add(1, Ordering::Relaxed);
                    incoming.refuse();
                    continue;
                }
                handshakes.fetch_add(1, Ordering::Relaxed);
                connections.spawn(connection(incoming, handshakes.clone(), context.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    // No new connections. Every session has been told to stop: each sends END and its
    // connection closes once the subscriber has it.
    endpoint.set_server_config(None);
    let _ = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    endpoint.close(VarInt::from_u32(CLOSE_SHUTDOWN), b"the server is stopping");
    let _ = tokio::time::timeout(DRAIN, endpoint.wait_idle()).await;
}

/// One connection: the handshake, its stream, its session.
async fn connection(
    incoming: quinn::Incoming,
    handshakes: Arc<AtomicUsize>,
    context: Arc<Context>,
) {
    let deadline = Duration::from_millis(context.config.idle_timeout_ms.max(1));
    let opened = tokio::time::timeout(deadline, async {
        let connection = incoming.await.ok()?;
        let (send, recv) = connection.accept_bi().await.ok()?;
        Some((connection, send, recv))
    })
    .await;
    handshakes.fetch_sub(1, Ordering::Relaxed);
    let Ok(Some((connection, send, recv))) = opened else {
        return;
    };
    let delivered = send.stopped();
    session::run(recv, send, context).await;
    let _ = tokio::time::timeout(LINGER, delivered).await;
    connection.close(VarInt::from_u32(CLOSE_SESSION_ENDED), b"session ended");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_read_back_in_either_notation() {
        let print = fingerprint(b"certificate");
        let hex = fingerprint_hex(&print);
        assert_eq!(hex.len(), 64);
        assert_eq!(parse_fingerprint(&hex), Some(print));
        assert_eq!(parse_fingerprint(&hex.to_uppercase()), Some(print));
        let colons: Vec<String> = print.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(parse_fingerprint(&colons.join(":")), Some(print));
        assert_eq!(parse_fingerprint(&hex[2..]), None);
        assert_eq!(parse_fingerprint(&format!("zz{}", &hex[2..])), None);
    }

    #[test]
    fn a_generated_certificate_is_kept_and_its_key_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let config = MarketDataConfig::default();
        let first = Identity::load(&config, dir.path()).unwrap();
        let second = Identity::load(&config, dir.path()).unwrap();
        assert_eq!(first.fingerprint, second.fingerprint);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(GENERATED_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let half = MarketDataConfig {
            cert_file: Some(dir.path().join(GENERATED_CERT_FILE)),
            ..MarketDataConfig::default()
        };
        assert!(Identity::load(&half, dir.path()).is_err());
        server_config(&config, &first).unwrap();
    }
}
