//! The node's metrics: counters, gauges and stage latencies of the shards, the gateway, the
//! market-data publisher and the flush to Postgres, gathered into one [`Metrics`] snapshot.
//!
//! ```text
//!  shard threads ──┐ counters (atomics), latencies (HDR histograms, merged every 100 ms)
//!  gateway thread ─┼──────────────────────────────▶ MetricsSource::collect ──▶ Metrics
//!  publisher ──────┤                                   │                    (serde: JSON)
//!  persist ────────┘                                   ▼
//!                                     Metrics::to_prometheus ──▶ GET /metrics (text 0.0.4)
//! ```
//!
//! Every stage is timed on the thread that owns it and never waits for a reader
//! ([`oddsmatch_engine::shard::metrics`]). [`MetricsSource`] holds shared handles only, so the
//! admin socket or the HTTP listener can collect from their own threads at any time. Each
//! metric, its type, labels and the exact boundaries of each stage are listed in
//! `docs/metrics.md`.

mod http;
mod prometheus;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use oddsmatch_engine::shard::ShardProbe;
use oddsmatch_engine::shard::metrics::{LatencyHistogram, LatencySummary, QueueDepths};
use oddsmatch_persist::{Persister, Progress};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::gateway::GatewayStats;
use crate::market_data::MdStats;

pub(crate) use http::{MetricsListener, MetricsServer};

/// The metrics knobs (`[metrics]` in the `serve` configuration; see `tuning.md`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Where an HTTP listener answers `GET /metrics` in the Prometheus text format (`None`:
    /// no listener; the admin socket still offers the metrics). Port 0 picks a free port.
    pub listen: Option<SocketAddr>,
}

/// Everything the node measures, at one moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Milliseconds since the node was started (its recovery and bootstrap done).
    pub uptime_ms: u64,
    /// Each shard, in order.
    pub shards: Vec<ShardMetrics>,
    /// The order-entry gateway.
    pub gateway: GatewayMetrics,
    /// The market-data publisher.
    pub market_data: MarketDataMetrics,
    /// The flush to Postgres per shard (`None`: persist is off).
    pub persist: Option<Vec<PersistMetrics>>,
}

/// One shard's counters (since it started), journal positions, queues and stage latencies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMetrics {
    /// The shard.
    pub shard: u16,
    /// Commands applied (taken from the queue; the shard's own timers are not counted).
    pub commands: u64,
    /// `timer` inputs the shard injected.
    pub timers: u64,
    /// Queries answered.
    pub queries: u64,
    /// Events the engine produced.
    pub events: u64,
    /// Batches committed and published.
    pub batches: u64,
    /// Commands the engine rejected, by reason (`RejectReason` names; reasons never seen are
    /// left out).
    pub rejects: BTreeMap<String, u64>,
    /// The journal.
    pub journal: JournalMetrics,
    /// How full the shard's queues are now.
    pub queues: QueueDepths,
    /// Market-data batches dropped on a full queue (the publisher resynchronises).
    pub market_data_dropped: u64,
    /// Answers to queries dropped on a full queue.
    pub answers_dropped: u64,
    /// The shard's stage latencies.
    pub latency: ShardLatency,
}

/// A shard's journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalMetrics {
    /// Bytes appended since the shard started (records with headers and padding).
    pub bytes: u64,
    /// The last sequence number in the journal.
    pub seq: u64,
    /// The last sequence number known to be on disk.
    pub durable_seq: u64,
    /// The sequence number of the newest snapshot.
    pub snapshot_seq: u64,
}

/// A shard's stage latencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardLatency {
    /// Queued (by the gateway or another submitter) to taken off the queue, per command.
    pub queue_wait: LatencySummary,
    /// A batch's first request taken off the queue to its last input applied and appended
    /// to the journal, per batch.
    pub apply: LatencySummary,
    /// The journal commit of a batch under the durability policy, per batch.
    pub commit: LatencySummary,
}

/// The order-entry gateway's counters (since it started) and stage latencies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayMetrics {
    /// Connections accepted.
    pub connections: u64,
    /// Sessions logged in now.
    pub sessions: u64,
    /// Logins accepted.
    pub logins: u64,
    /// Logins refused.
    pub login_failures: u64,
    /// Commands handed to shards.
    pub requests: u64,
    /// Requests the gateway refused itself (bad frames, validation, a stopped shard).
    pub rejected: u64,
    /// Those refusals by reason (reject code names, as `docs/protocol.md` lists them; reasons
    /// never seen are left out).
    pub rejects: BTreeMap<String, u64>,
    /// Requests refused by a throttle.
    pub throttled: u64,
    /// Requests refused because a shard's queue was full.
    pub busy: u64,
    /// Execution reports sent (live and replayed).
    pub reports: u64,
    /// Sessions cut off as slow consumers.
    pub slow_consumers: u64,
    /// Dead man's switches that fired.
    pub dead_man_fired: u64,
    /// Stage latencies.
    pub latency: GatewayStageLatency,
}

/// The gateway's stage latencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayStageLatency {
    /// A read from a client's socket to a command of it handed to the shard's queue.
    pub decode: LatencySummary,
    /// The shard's publication of a command's batch to the command's last report written.
    pub ack: LatencySummary,
    /// The read that brought a command to its last report written.
    pub round_trip: LatencySummary,
}

/// The market-data publisher's counters and stage latencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketDataMetrics {
    /// Sessions open now.
    pub connections: u64,
    /// Subscriptions held now.
    pub subscriptions: u64,
    /// Frames handed to sessions.
    pub frames: u64,
    /// Times a subscriber went stale on a market (its updates conflated).
    pub conflations: u64,
    /// Sessions ended for reading too slowly.
    pub slow_consumers: u64,
    /// Times a shard's market data was dropped and rebuilt from a snapshot.
    pub resyncs: u64,
    /// Connections refused (the node was full).
    pub refused: u64,
    /// Stage latencies.
    pub latency: MarketDataStageLatency,
}

/// The publisher's stage latencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketDataStageLatency {
    /// A batch published by its shard to its frames handed to every subscriber's queue.
    pub fanout: LatencySummary,
    /// An odds tick's time stamp to the write that put it on a subscriber's socket.
    pub tick_write: LatencySummary,
}

/// The flush to Postgres of one shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistMetrics {
    /// The shard.
    pub shard: u16,
    /// The last record committed to Postgres.
    pub committed_seq: u64,
    /// The last record read from the journal.
    pub read_seq: u64,
    /// Records in the journal not yet committed to Postgres.
    pub lag_records: u64,
    /// How long the oldest record read and not committed has waited, in milliseconds.
    pub lag_ms: u64,
    /// Transactions committed since the node started.
    pub batches: u64,
    /// Records committed since the node started.
    pub records: u64,
    /// Rows committed since the node started.
    pub rows: u64,
    /// Failures retried.
    pub retries: u64,
    /// Whether the writer holds a working connection.
    pub connected: bool,
    /// Whether the flush has ended.
    pub finished: bool,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

impl Metrics {
    /// The metrics in the Prometheus text exposition format, version 0.0.4.
    pub fn to_prometheus(&self) -> String {
        prometheus::render(self)
    }
}

/// Shared handles on everything a node measures: cheap to clone, and collecting from it never
/// stops a shard. [`crate::node::Node::metrics_source`] hands one out.
#[derive(Clone)]
pub struct MetricsSource {
    started: Instant,
    shards: Vec<ShardProbe>,
    gateway: Arc<GatewayStats>,
    market_data: Arc<MdStats>,
    persister: Arc<Mutex<Option<Persister>>>,
}

impl fmt::Debug for MetricsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsSource")
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl MetricsSource {
    pub(crate) fn new(
        shards: Vec<ShardProbe>,
        gateway: Arc<GatewayStats>,
        market_data: Arc<MdStats>,
        persister: Arc<Mutex<Option<Persister>>>,
    ) -> Self {
        MetricsSource {
            started: Instant::now(),
            shards,
            gateway,
            market_data,
            persister,
        }
    }

    /// Everything, now.
    pub fn collect(&self) -> Metrics {
        Metrics {
            uptime_ms: self.started.elapsed().as_millis() as u64,
            shards: self.shards.iter().map(shard_metrics).collect(),
            gateway: gateway_metrics(&self.gateway),
            market_data: market_data_metrics(&self.market_data),
            persist: self.persist_progress().map(|progress| {
                progress
                    .into_iter()
                    .map(|p| PersistMetrics {
                        shard: p.shard,
                        committed_seq: p.committed_seq,
                        read_seq: p.read_seq,
                        lag_records: p.lag_records,
                        lag_ms: p.lag.as_millis() as u64,
                        batches: p.batches,
                        records: p.records,
                        rows: p.rows,
                        retries: p.retries,
                        connected: p.connected,
                        finished: p.finished,
                        last_error: p.last_error,
                    })
                    .collect()
            }),
        }
    }

    /// How far the flush to Postgres has got per shard (`None`: persist is off or stopped).
    /// Records behind are counted from the shard's journal head, not only from what the flush
    /// has read.
    pub fn persist_progress(&self) -> Option<Vec<Progress>> {
        let mut progress = self.persister.lock().as_ref()?.progress();
        for (p, shard) in progress.iter_mut().zip(&self.shards) {
            let head = shard.watermark.journaled();
            p.lag_records = p.lag_records.max(head.saturating_sub(p.committed_seq));
        }
        Some(progress)
    }
}

fn shard_metrics(probe: &ShardProbe) -> ShardMetrics {
    let stats = &probe.stats;
    let watermark = &probe.watermark;
    ShardMetrics {
        shard: probe.shard,
        commands: stats.commands(),
        timers: stats.timers(),
        queries: stats.queries(),
        events: stats.events(),
        batches: stats.batches(),
        rejects: stats
            .rejects()
            .into_iter()
            .filter(|(_, count)| *count > 0)
            .map(|(reason, count)| (reason.name().to_owned(), count))
            .collect(),
        journal: JournalMetrics {
            bytes: stats.journal_bytes(),
            seq: watermark.journaled(),
            durable_seq: watermark.durable(),
            snapshot_seq: watermark.snapshot_seq(),
        },
        queues: probe.depths(),
        market_data_dropped: watermark.market_data_dropped(),
        answers_dropped: watermark.answers_dropped(),
        latency: ShardLatency {
            queue_wait: stats.queue_wait.summary(),
            apply: stats.apply.summary(),
            commit: stats.commit.summary(),
        },
    }
}

fn gateway_metrics(stats: &GatewayStats) -> GatewayMetrics {
    let get = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    GatewayMetrics {
        connections: get(&stats.connections),
        sessions: get(&stats.sessions),
        logins: get(&stats.logins),
        login_failures: get(&stats.login_failures),
        requests: get(&stats.requests),
        rejected: get(&stats.rejected),
        rejects: stats
            .rejects
            .lock()
            .iter()
            .map(|(&code, &count)| (crate::proto::reject_code_name(code).to_owned(), count))
            .collect(),
        throttled: get(&stats.throttled),
        busy: get(&stats.busy),
        reports: get(&stats.reports),
        slow_consumers: get(&stats.slow_consumers),
        dead_man_fired: get(&stats.dead_man_fired),
        latency: GatewayStageLatency {
            decode: stats.latency.decode.summary(),
            ack: stats.latency.ack.summary(),
            round_trip: stats.latency.round_trip.summary(),
        },
    }
}

fn market_data_metrics(stats: &MdStats) -> MarketDataMetrics {
    let get = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    MarketDataMetrics {
        connections: get(&stats.connections),
        subscriptions: get(&stats.subscriptions),
        frames: get(&stats.frames),
        conflations: get(&stats.conflations),
        slow_consumers: get(&stats.slow_consumers),
        resyncs: get(&stats.resyncs),
        refused: get(&stats.refused),
        latency: MarketDataStageLatency {
            fanout: stats.latency.fanout.summary(),
            tick_write: stats.latency.tick_write.summary(),
        },
    }
}

/// Where an odds tick's `ts_ns` sits in a market-data `TICK` frame: after the 8-byte header,
/// the 32 bytes of market, status, flags, count, tick sequence, reason, overround and
/// reserved bytes (`docs/protocol.md`).
const TICK_TS_OFFSET: usize = crate::proto::HEADER_LEN + 32;

/// The `ts_ns` of a market-data frame if it is a `TICK`, otherwise `u64::MAX` (so that the
/// oldest tick of several frames is their minimum).
pub(crate) fn tick_ts_ns(frame: &[u8]) -> u64 {
    let kind = frame.get(4..6).map(|k| u16::from_le_bytes([k[0], k[1]]));
    if kind != Some(crate::proto::md::kind::TICK) {
        return u64::MAX;
    }
    frame
        .get(TICK_TS_OFFSET..TICK_TS_OFFSET + 8)
        .and_then(|bytes| bytes.try_into().ok())
        .map_or(u64::MAX, u64::from_le_bytes)
}

/// Records a write that carried ticks, the oldest stamped `oldest_tick_ns` (`u64::MAX`: no
/// tick). Ticks carry the shard's wall-clock time, so this stage is measured on the wall clock.
pub(crate) fn record_tick_write(ticks: &LatencyHistogram, oldest_tick_ns: u64) {
    if oldest_tick_ns == u64::MAX {
        return;
    }
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    ticks.record(now_ns.saturating_sub(oldest_tick_ns));
}

#[cfg(test)]
mod tests {
    use oddsmatch_engine::{MarketId, MarketStatus, SelectionId, TickReason};

    use super::*;
    use crate::proto::md::{MdServerMsg, Tick, TickSelection};

    #[test]
    fn the_time_stamp_of_a_tick_frame_is_found_and_other_frames_have_none() {
        let mut frame = Vec::new();
        MdServerMsg::Tick(Tick {
            market: MarketId(7),
            status: Some(MarketStatus::Open),
            flags: 0,
            tick_seq: 3,
            reason: Some(TickReason::Change),
            overround_bps: 10_250,
            ts_ns: 1_700_000_000_123_456_789,
            selections: vec![TickSelection {
                selection: SelectionId(1),
                ..TickSelection::default()
            }],
        })
        .encode(&mut frame);
        assert_eq!(tick_ts_ns(&frame), 1_700_000_000_123_456_789);
        let mut beat = Vec::new();
        MdServerMsg::Heartbeat.encode(&mut beat);
        assert_eq!(tick_ts_ns(&beat), u64::MAX);
        assert_eq!(
            tick_ts_ns(&frame[..TICK_TS_OFFSET]),
            u64::MAX,
            "a cut frame"
        );
        assert_eq!(tick_ts_ns(&[]), u64::MAX);
    }
}
