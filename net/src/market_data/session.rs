//! One subscriber's session, over any byte stream (a TCP connection or a QUIC stream): the
//! reader decodes requests and logs in; the writer drains the session's queue to the stream,
//! with heartbeats while idle and the reason when the hub ends the session.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use oddsmatch_engine::shard::Submitter;
use oddsmatch_engine::shard::metrics::LatencyHistogram;
use oddsmatch_engine::{Query, Reply, Tier};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::hub::{HubMsg, SubId};
use super::{MarketDataConfig, MdStats};
use crate::proto::md::{MdClientMsg, MdServerMsg, Streams};
use crate::proto::{
    CHALLENGE_LEN, EndReason, LoginReject, SubscribeReject, split_frame, verify_proof,
};

/// What every session shares.
pub(crate) struct Context {
    pub(crate) config: MarketDataConfig,
    pub(crate) knobs: Arc<super::LiveKnobs>,
    pub(crate) stats: Arc<MdStats>,
    pub(crate) hub: mpsc::Sender<HubMsg>,
    /// The shard asked for API keys (every shard holds every key).
    pub(crate) key_shard: Option<Submitter>,
    pub(crate) next_id: AtomicU64,
    pub(crate) shutdown: tokio::sync::watch::Receiver<bool>,
}

/// Why the server ends a session, set by whoever ends it, and the writer's wake-up.
#[derive(Debug, Default)]
pub(crate) struct End {
    reason: Mutex<Option<(EndReason, String)>>,
    wake: tokio::sync::Notify,
}

impl End {
    /// Ends the session with `reason` (the first reason given wins).
    pub(crate) fn set(&self, reason: EndReason, detail: String) {
        self.reason.lock().get_or_insert((reason, detail));
        self.wake.notify_one();
    }
}

type EndSlot = Arc<End>;

pub(crate) async fn accept_tcp(listener: tokio::net::TcpListener, context: Arc<Context>) {
    loop {
        let Ok((stream, _peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        if context.config.socket_send_buffer > 0 {
            let socket = socket2::SockRef::from(&stream);
            let _ = socket.set_send_buffer_size(context.config.socket_send_buffer);
        }
        let (reader, writer) = stream.into_split();
        tokio::spawn(run(reader, writer, context.clone()));
    }
}

/// Runs one session to its end.
pub(crate) async fn run<R, W>(reader: R, mut writer: W, context: Arc<Context>)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let stats = &context.stats;
    if stats.connections.load(Ordering::Relaxed) as usize >= context.knobs.max_connections() {
        stats.refused.fetch_add(1, Ordering::Relaxed);
        let mut out = Vec::new();
        MdServerMsg::End {
            reason: EndReason::ServerFull,
            detail: "the server holds its maximum number of connections".to_owned(),
        }
        .encode(&mut out);
        let _ = writer.write_all(&out).await;
        let _ = writer.shutdown().await;
        return;
    }
    stats.connections.fetch_add(1, Ordering::Relaxed);
    let sub: SubId = context.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel::<Bytes>(context.config.queue_frames.max(1));
    let end: EndSlot = Arc::new(End::default());
    let opened = context
        .hub
        .send(HubMsg::Open {
            sub,
            tx: tx.clone(),
            end: end.clone(),
            max_subscriptions: context.config.subscriptions_for(None),
        })
        .await;
    if opened.is_ok() {
        let mut writing = tokio::spawn(write_loop(writer, rx, end.clone(), context.clone()));
        tokio::select! {
            reason = read_loop(reader, sub, tx, &context) => {
                if let Some((reason, detail)) = reason {
                    end.set(reason, detail);
                }
                let _ = context.hub.send(HubMsg::Close { sub }).await;
                let _ = writing.await;
            }
            // The writer ended first (the hub cut the session off, or the peer went away).
            _ = &mut writing => {
                let _ = context.hub.send(HubMsg::Close { sub }).await;
            }
        }
    }
    stats.connections.fetch_sub(1, Ordering::Relaxed);
}

/// The most bytes of queued frames gathered into one write.
const WRITE_BATCH: usize = 64 * 1024;
/// The most buffer capacity a session keeps between writes.
const BATCH_KEPT: usize = 8 * 1024;

/// Drains the session's queue to the stream; ends when the hub or the reader drops the queue.
///
/// Frames queued behind the one that woke the writer go out in the same write (one system
/// call, or one QUIC stream write, for a burst instead of one per frame). The heartbeat timer
/// is armed once per idle period, not once per frame: when it fires it sends a heartbeat only
/// if nothing was written for a whole interval, and otherwise re-arms at the interval's end.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut rx: mpsc::Receiver<Bytes>,
    end: EndSlot,
    context: Arc<Context>,
) {
    let heartbeat = Duration::from_millis(context.config.heartbeat_ms.max(1));
    let mut beat = Vec::new();
    MdServerMsg::Heartbeat.encode(&mut beat);
    let mut shutdown = context.shutdown.clone();
    let mut batch: Vec<u8> = Vec::new();
    let mut last_write = tokio::time::Instant::now();
    let idle = tokio::time::sleep_until(last_write + heartbeat);
    tokio::pin!(idle);
    loop {
        let written = tokio::select! {
            next = rx.recv() => match next {
                Some(frame) => {
                    let ticks = &context.stats.latency.tick_write;
                    let result = write_batch(&mut writer, &mut rx, frame, &mut batch, ticks).await;
                    last_write = tokio::time::Instant::now();
                    result
                }
                None => break, // the hub or the reader ended the session
            },
            () = &mut idle => {
                let due = last_write + heartbeat;
                if tokio::time::Instant::now() < due {
                    idle.as_mut().reset(due);
                    continue;
                }
                let result = match writer.write_all(&beat).await {
                    Ok(()) => writer.flush().await,
                    Err(e) => Err(e),
                };
                last_write = tokio::time::Instant::now();
                idle.as_mut().reset(last_write + heartbeat);
                result
            }
            () = end.wake.notified() => {
                // What is queued goes out before the reason.
                let ticks = &context.stats.latency.tick_write;
                while let Ok(frame) = rx.try_recv() {
                    if write_batch(&mut writer, &mut rx, frame, &mut batch, ticks).await.is_err() {
                        return;
                    }
                }
                break;
            }
            _ = shutdown.changed() => {
                end.set(EndReason::Shutdown, "the server is stopping".into());
                break;
            }
        };
        if written.is_err() {
            return;
        }
    }
    // Stopping, the hub may let go of the queue before this loop sees the signal.
    if *shutdown.borrow() {
        end.set(EndReason::Shutdown, "the server is stopping".into());
    }
    let reason = end.reason.lock().take();
    if let Some((reason, detail)) = reason {
        let mut out = Vec::new();
        MdServerMsg::End { reason, detail }.encode(&mut out);
        let _ = tokio::time::timeout(Duration::from_secs(1), writer.write_all(&out)).await;
    }
    let _ = writer.shutdown().await;
}

/// Writes `first` and whatever else is queued behind it (up to [`WRITE_BATCH`] bytes) in one
/// write; a lone frame is written as it is, without a copy. A write that carried odds ticks
/// records the age of its oldest one in `ticks`.
async fn write_batch<W: AsyncWrite + Unpin>(
    writer: &mut W,
    rx: &mut mpsc::Receiver<Bytes>,
    first: Bytes,
    batch: &mut Vec<u8>,
    ticks: &LatencyHistogram,
) -> std::io::Result<()> {
    let mut oldest_tick_ns = crate::metrics::tick_ts_ns(&first);
    let Ok(second) = rx.try_recv() else {
        writer.write_all(&first).await?;
        writer.flush().await?;
        crate::metrics::record_tick_write(ticks, oldest_tick_ns);
        return Ok(());
    };
    oldest_tick_ns = oldest_tick_ns.min(crate::metrics::tick_ts_ns(&second));
    batch.clear();
    batch.extend_from_slice(&first);
    batch.extend_from_slice(&second);
    while batch.len() < WRITE_BATCH {
        match rx.try_recv() {
            Ok(frame) => {
                oldest_tick_ns = oldest_tick_ns.min(crate::metrics::tick_ts_ns(&frame));
                batch.extend_from_slice(&frame);
            }
            Err(_) => break,
        }
    }
    let written = writer.write_all(batch).await;
    if batch.capacity() > BATCH_KEPT {
        // Ten thousand idle sessions should not each hold on to a burst's buffer.
        *batch = Vec::new();
    }
    written?;
    writer.flush().await?;
    crate::metrics::record_tick_write(ticks, oldest_tick_ns);
    Ok(())
}

/// Reads requests until the stream ends, the subscriber goes quiet or breaks the framing.
/// Returns why the server ended it, if it did.
async fn read_loop<R: AsyncRead + Unpin>(
    mut reader: R,
    sub: SubId,
    tx: mpsc::Sender<Bytes>,
    context: &Context,
) -> Option<(EndReason, String)> {
    let config = &context.config;
    let idle = Duration::from_millis(config.idle_timeout_ms.max(1));
    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    let mut login = Login::default();
    let mut shutdown = context.shutdown.clone();
    loop {
        // Every whole frame in the buffer.
        loop {
            let (header, body) = match split_frame(&buffer, config.max_frame) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(error) => return Some((EndReason::ProtocolError, error.to_string())),
            };
            let len = header.len as usize;
            let msg = MdClientMsg::decode(header, body);
            match msg {
                Ok(msg) => {
                    if let Some(end) = handle(msg, sub, &tx, &mut login, context).await {
                        return Some(end);
                    }
                }
                Err(error) => return Some((EndReason::ProtocolError, error.to_string())),
            }
            buffer.drain(..len);
        }
        let mut chunk = [0u8; 4096];
        let read = tokio::select! {
            read = tokio::time::timeout(idle, reader.read(&mut chunk)) => read,
            _ = shutdown.changed() => return None,
        };
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(n)) => buffer.extend_from_slice(&chunk[..n]),
            Err(_) => {
                return Some((
                    EndReason::HeartbeatTimeout,
                    format!("nothing received for {} ms", config.idle_timeout_ms),
                ));
            }
        }
    }
}

#[derive(Default)]
struct Login {
    /// A login under way: the key id and the challenge sent.
    pending: Option<(u64, [u8; CHALLENGE_LEN])>,
    tier: Option<Tier>,
}

async fn handle(
    msg: MdClientMsg,
    sub: SubId,
    tx: &mpsc::Sender<Bytes>,
    login: &mut Login,
    context: &Context,
) -> Option<(EndReason, String)> {
    let send = |msg: MdServerMsg| {
        let mut out = Vec::new();
        msg.encode(&mut out);
        tx.try_send(Bytes::from(out)).is_ok()
    };
    match msg {
        MdClientMsg::Heartbeat => {}
        MdClientMsg::Login { key_id } => {
            if login.pending.is_some() || login.tier.is_some() {
                send(MdServerMsg::LoginRejected {
                    reason: LoginReject::OutOfOrder,
                });
                return None;
            }
            let mut challenge = [0u8; CHALLENGE_LEN];
            if getrandom::fill(&mut challenge).is_err() {
                return Some((
                    EndReason::LoginFailed,
                    "no randomness for a challenge".into(),
                ));
            }
            login.pending = Some((key_id, challenge));
            send(MdServerMsg::Challenge { challenge });
        }
        MdClientMsg::LoginProof { proof } => {
            let Some((key_id, challenge)) = login.pending.take() else {
                send(MdServerMsg::LoginRejected {
                    reason: LoginReject::OutOfOrder,
                });
                return None;
            };
            match lookup_key(context.key_shard.clone(), key_id).await {
                Some((account, secret, tier))
                    if verify_proof(&secret, &challenge, key_id, &proof) =>
                {
                    login.tier = Some(tier);
                    let max = context.config.subscriptions_for(Some(tier));
                    let _ = context
                        .hub
                        .send(HubMsg::Limit {
                            sub,
                            max_subscriptions: max,
                        })
                        .await;
                    send(MdServerMsg::LoginAccepted { account, tier });
                }
                Some(_) => {
                    send(MdServerMsg::LoginRejected {
                        reason: LoginReject::BadProof,
                    });
                }
                None => {
                    send(MdServerMsg::LoginRejected {
                        reason: LoginReject::UnknownKey,
                    });
                }
            }
        }
        MdClientMsg::Subscribe {
            request_id,
            market,
            streams,
        } => {
            let allowed =
                login.tier.is_some() || (context.knobs.anonymous() && !streams.needs_login());
            if !allowed {
                send(MdServerMsg::Rejected {
                    request_id,
                    market,
                    reason: SubscribeReject::LoginRequired,
                });
                return None;
            }
            let _ = context
                .hub
                .send(HubMsg::Subscribe {
                    sub,
                    request_id,
                    market,
                    streams,
                })
                .await;
        }
        MdClientMsg::Unsubscribe {
            request_id,
            market,
            streams,
        } => {
            let _ = context
                .hub
                .send(HubMsg::Unsubscribe {
                    sub,
                    request_id,
                    market,
                    streams: if streams.is_valid() {
                        streams
                    } else {
                        Streams::ALL
                    },
                })
                .await;
        }
        MdClientMsg::Resync { request_id, market } => {
            let _ = context
                .hub
                .send(HubMsg::Resync {
                    sub,
                    request_id,
                    market,
                })
                .await;
        }
    }
    None
}

/// Asks a shard for an API key: `(account, secret, tier)`.
async fn lookup_key(shard: Option<Submitter>, key_id: u64) -> Option<(u32, [u8; 32], Tier)> {
    let shard = shard?;
    tokio::task::spawn_blocking(move || {
        let (tx, rx) = crossbeam_channel::bounded(1);
        shard.query_to(0, Query::ApiKey { key_id }, tx).ok()?;
        let answer = rx.recv_timeout(Duration::from_secs(2)).ok()?;
        match answer.reply {
            Reply::ApiKey(Some(view)) => Some((view.account.0, view.secret.0, view.tier)),
            _ => None,
        }
    })
    .await
    .ok()
    .flatten()
}
