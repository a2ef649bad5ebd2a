//! The QUIC subscribers' side: a quinn client configuration that accepts exactly the server's
//! certificate (its SHA-256 fingerprint pinned, as `serve` prints it), and the dial: the
//! handshake, the session's bidirectional stream, and a first heartbeat on it so that the
//! server sees the stream.

use std::net::SocketAddr;

use oddsmatch_net::proto::md::MdClientMsg;
use oddsmatch_net::subscriber::Trust;

/// The client configuration: the market-data client's, with the certificate pinned.
pub(super) fn client_config(pinned: [u8; 32]) -> Result<quinn::ClientConfig, String> {
    Trust::Fingerprint(pinned)
        .client_config()
        .map_err(|e| format!("QUIC client: {e}"))
}

/// Bytes of each client endpoint's socket buffers (the kernel caps them at `rmem_max` and
/// `wmem_max`): a tick reaches all of an endpoint's connections at once, and a default buffer
/// (about 200 KiB) drops datagrams of a few hundred connections, which QUIC then recovers a
/// loss timer later.
const SOCKET_BUFFER: usize = 8 << 20;

/// A client endpoint on a free loopback port; must be called within a tokio runtime.
pub(super) fn endpoint(config: &quinn::ClientConfig) -> Result<quinn::Endpoint, String> {
    let error = |e: std::io::Error| format!("QUIC endpoint: {e}");
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .map_err(error)?;
    socket.set_recv_buffer_size(SOCKET_BUFFER).map_err(error)?;
    socket.set_send_buffer_size(SOCKET_BUFFER).map_err(error)?;
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .map_err(error)?;
    let runtime = quinn::default_runtime().ok_or("QUIC endpoint: no tokio runtime")?;
    let mut endpoint = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        None,
        socket.into(),
        runtime,
    )
    .map_err(error)?;
    endpoint.set_default_client_config(config.clone());
    Ok(endpoint)
}

/// Datagrams the kernel dropped for want of room in a socket's receive buffer, machine-wide
/// (`RcvbufErrors` of `/proc/net/snmp`; 0 where it cannot be read).
pub(super) fn udp_receive_drops() -> u64 {
    let Ok(snmp) = std::fs::read_to_string("/proc/net/snmp") else {
        return 0;
    };
    let mut udp = snmp.lines().filter(|line| line.starts_with("Udp: "));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "RcvbufErrors")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}

/// One session: the connection and its stream, already seen by the server.
pub(super) async fn dial(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
) -> Result<(quinn::Connection, quinn::SendStream, quinn::RecvStream), String> {
    let connection = endpoint
        .connect(addr, "localhost")
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    let (mut send, recv) = connection.open_bi().await.map_err(|e| e.to_string())?;
    let mut heartbeat = Vec::new();
    MdClientMsg::Heartbeat.encode(&mut heartbeat);
    send.write_all(&heartbeat)
        .await
        .map_err(|e| e.to_string())?;
    Ok((connection, send, recv))
}

/// Datagrams dropped by the kernel at the UDP sockets bound to local `port` (the `drops`
/// column of `/proc/net/udp`; 0 where it cannot be read).
pub(super) fn udp_port_drops(port: u16) -> u64 {
    let Ok(table) = std::fs::read_to_string("/proc/net/udp") else {
        return 0;
    };
    let wanted = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            local
                .ends_with(&wanted)
                .then(|| fields.get(12)?.parse::<u64>().ok())?
        })
        .sum()
}
