//! The reference: a bare TCP echo server on one thread, with std's blocking sockets.
//!
//! It reads frames of exactly the size of a `NEW_ORDER` frame and answers each with a frame of
//! exactly the size of an `ORDER_ACCEPTED` report: a real report, encoded once at start, with
//! the request's `request_id` copied in. So the client reads the same bytes, splits and decodes
//! them with the same code as it does oddsmatch's, and the difference between the two runs is
//! the gateway, the shard, the engine and the journal. It serves one connection at a time, and
//! does nothing else: no decoding, no validation, no allocation per frame.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use oddsmatch_engine::{MarketId, OrderId, Persistence, SelectionId, Side, TimeInForce};
use oddsmatch_net::proto::{HEADER_LEN, Report, ReportBody, ReportHeader, ServerMsg};

use super::load::{self, STAKE_MINOR};

/// Where a `NEW_ORDER` frame holds its `request_id` (first field of the body).
pub(super) const REQUEST_ID_IN_NEW_ORDER: usize = HEADER_LEN;
/// Where a report frame holds its `request_id` (after `journal_seq` and `ts_ns`).
pub(super) const REQUEST_ID_IN_REPORT: usize = HEADER_LEN + 16;

/// The answer the echo server sends, with a zero `request_id`.
pub(super) fn reply_template() -> Vec<u8> {
    let mut out = Vec::new();
    ServerMsg::Report(Report {
        header: ReportHeader {
            journal_seq: 1,
            ts_ns: 1,
            request_id: 0,
            event_index: 0,
            shard: 0,
        },
        body: ReportBody::OrderAccepted {
            order_id: OrderId(1),
            client_order_id: 1,
            stake_minor: STAKE_MINOR,
            market: MarketId(load::MARKET),
            selection: SelectionId(load::SELECTION),
            odds_x100: load::ODDS_X100,
            side: Side::Back,
            tif: TimeInForce::Ioc,
            persistence: Persistence::Lapse,
            quote: false,
        },
    })
    .encode(&mut out);
    out
}

/// A running echo server.
pub(super) struct EchoServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    /// Listens on a free loopback port and serves on a thread of its own.
    pub(super) fn start() -> Result<EchoServer, String> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(|e| format!("echo server: bind: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("echo server: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let request_bytes = load::new_order_frame_bytes();
        let template = reply_template();
        let thread = std::thread::Builder::new()
            .name("oddsmatch-echo".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::Acquire) {
                        return;
                    }
                    // A connection that breaks (a reset at the client's end) only ends itself.
                    if let Ok(stream) = stream {
                        let _ = serve(stream, request_bytes, &template);
                    }
                }
            })
            .map_err(|e| format!("echo server: spawn: {e}"))?;
        Ok(EchoServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops it (after the connection being served, if any, has closed).
    pub(super) fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the blocking accept.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown();
        }
    }
}

/// Answers every whole request frame of one connection until it closes.
fn serve(mut stream: TcpStream, request_bytes: usize, template: &[u8]) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut inbound = vec![0u8; 64 * 1024];
    let mut filled = 0;
    let mut out = Vec::with_capacity(inbound.len() / request_bytes * template.len());
    loop {
        let n = stream.read(&mut inbound[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let whole = filled / request_bytes * request_bytes;
        out.clear();
        for frame in inbound[..whole].chunks_exact(request_bytes) {
            let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
            if len as usize != request_bytes {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a frame of {len} bytes, not {request_bytes}"),
                ));
            }
            let at = out.len() + REQUEST_ID_IN_REPORT;
            out.extend_from_slice(template);
            out[at..at + 8]
                .copy_from_slice(&frame[REQUEST_ID_IN_NEW_ORDER..REQUEST_ID_IN_NEW_ORDER + 8]);
        }
        if !out.is_empty() {
            stream.write_all(&out)?;
        }
        inbound.copy_within(whole..filled, 0);
        filled -= whole;
    }
}

#[cfg(test)]
mod tests {
    use oddsmatch_net::proto::{ClientMsg, DEFAULT_MAX_FRAME, split_frame};

    use super::*;

    #[test]
    fn the_request_id_sits_where_the_echo_server_copies_it() {
        let mut request = Vec::new();
        load::encode_order(&mut request, 0x1122_3344_5566_7788, 9);
        assert_eq!(
            request[REQUEST_ID_IN_NEW_ORDER..REQUEST_ID_IN_NEW_ORDER + 8],
            0x1122_3344_5566_7788u64.to_le_bytes()
        );
        let (header, body) = split_frame(&request, DEFAULT_MAX_FRAME).unwrap().unwrap();
        match ClientMsg::decode(header, body).unwrap() {
            ClientMsg::NewOrder(order) => assert_eq!(order.request_id, 0x1122_3344_5566_7788),
            other => panic!("{other:?}"),
        }
        let mut reply = reply_template();
        reply[REQUEST_ID_IN_REPORT..REQUEST_ID_IN_REPORT + 8]
            .copy_from_slice(&0x99u64.to_le_bytes());
        let (header, body) = split_frame(&reply, DEFAULT_MAX_FRAME).unwrap().unwrap();
        match ServerMsg::decode(header, body).unwrap() {
            ServerMsg::Report(report) => {
                assert_eq!(report.header.request_id, 0x99);
                assert!(matches!(report.body, ReportBody::OrderAccepted { .. }));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_echo_server_answers_each_frame_with_its_request_id() {
        let server = EchoServer::start().unwrap();
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        let mut requests = Vec::new();
        for id in 1..=3 {
            load::encode_order(&mut requests, id, id);
        }
        // Split mid-frame: the server keeps the partial frame for the next read.
        stream.write_all(&requests[..70]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        stream.write_all(&requests[70..]).unwrap();
        let template = reply_template();
        let mut replies = vec![0u8; 3 * template.len()];
        stream.read_exact(&mut replies).unwrap();
        for (index, reply) in replies.chunks_exact(template.len()).enumerate() {
            let (header, body) = split_frame(reply, DEFAULT_MAX_FRAME).unwrap().unwrap();
            match ServerMsg::decode(header, body).unwrap() {
                ServerMsg::Report(report) => {
                    assert_eq!(report.header.request_id, index as u64 + 1)
                }
                other => panic!("{other:?}"),
            }
        }
        drop(stream);
        server.stop();
    }
}
