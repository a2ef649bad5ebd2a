//! [`Metrics`] in the Prometheus text exposition format, version 0.0.4: a `# HELP` and a
//! `# TYPE` line per family, then its samples, one per line.
//!
//! Latencies are summaries in seconds: quantiles 0.5, 0.9, 0.99, 0.999 and 1 (the largest)
//! over the sliding window of the last minute (`NaN` while it is empty), with `_sum` and
//! `_count` since the node started. Summaries rather than histograms with buckets: the node
//! keeps HDR histograms, whose quantiles are exact to 1% at any value, where fixed buckets would
//! have to guess the range of each stage in advance; the price is that quantiles of several
//! nodes cannot be added up (their `_sum` and `_count` can).

use std::fmt::{Display, Write};

use oddsmatch_engine::RejectReason;
use oddsmatch_engine::shard::metrics::LatencySummary;

use super::Metrics;
use crate::proto::ProtocolReject;

/// Reads one figure of a [`LatencySummary`].
type Figure = fn(&LatencySummary) -> u64;

/// The quantiles every summary shows, with the figure each reads.
const QUANTILES: [(&str, Figure); 5] = [
    ("0.5", |s| s.p50_ns),
    ("0.9", |s| s.p90_ns),
    ("0.99", |s| s.p99_ns),
    ("0.999", |s| s.p999_ns),
    ("1", |s| s.window_max_ns),
];

/// Renders every metric.
pub(super) fn render(metrics: &Metrics) -> String {
    let mut out = Out {
        text: String::with_capacity(16 * 1024),
    };
    out.family(
        "oddsmatch_uptime_seconds",
        "gauge",
        "Seconds since the node was started (its recovery and bootstrap done).",
    );
    out.sample(
        "oddsmatch_uptime_seconds",
        &[],
        metrics.uptime_ms as f64 / 1e3,
    );
    shards(&mut out, metrics);
    gateway(&mut out, metrics);
    market_data(&mut out, metrics);
    persist(&mut out, metrics);
    out.text
}

fn shards(out: &mut Out, metrics: &Metrics) {
    type Get = fn(&super::ShardMetrics) -> u64;
    let families: [(&str, &str, &str, Get); 19] = [
        (
            "oddsmatch_shard_commands_total",
            "counter",
            "Commands a shard applied (requests from its queue, not its own timers).",
            |s| s.commands,
        ),
        (
            "oddsmatch_shard_timers_total",
            "counter",
            "Timer inputs a shard injected and applied.",
            |s| s.timers,
        ),
        (
            "oddsmatch_shard_queries_total",
            "counter",
            "Queries a shard answered.",
            |s| s.queries,
        ),
        (
            "oddsmatch_shard_events_total",
            "counter",
            "Events a shard's engine produced.",
            |s| s.events,
        ),
        (
            "oddsmatch_shard_batches_total",
            "counter",
            "Batches a shard committed and published.",
            |s| s.batches,
        ),
        (
            "oddsmatch_journal_bytes_total",
            "counter",
            "Bytes appended to a shard's journal (records with headers and padding).",
            |s| s.journal.bytes,
        ),
        (
            "oddsmatch_journal_seq",
            "gauge",
            "The last sequence number in a shard's journal.",
            |s| s.journal.seq,
        ),
        (
            "oddsmatch_journal_durable_seq",
            "gauge",
            "The last sequence number of a shard's journal known to be on disk.",
            |s| s.journal.durable_seq,
        ),
        (
            "oddsmatch_journal_snapshot_seq",
            "gauge",
            "The sequence number of a shard's newest snapshot.",
            |s| s.journal.snapshot_seq,
        ),
        (
            "oddsmatch_shard_queue_depth",
            "gauge",
            "Requests waiting in a shard's queue.",
            |s| s.queues.requests as u64,
        ),
        (
            "oddsmatch_shard_queue_capacity",
            "gauge",
            "Requests a shard's queue holds at most.",
            |s| s.queues.requests_capacity as u64,
        ),
        (
            "oddsmatch_shard_acks_depth",
            "gauge",
            "Committed batches waiting for the gateway.",
            |s| s.queues.acks as u64,
        ),
        (
            "oddsmatch_shard_acks_capacity",
            "gauge",
            "Committed batches the gateway's queue holds at most.",
            |s| s.queues.acks_capacity as u64,
        ),
        (
            "oddsmatch_shard_market_data_depth",
            "gauge",
            "Committed batches waiting for the market-data publisher.",
            |s| s.queues.market_data as u64,
        ),
        (
            "oddsmatch_shard_market_data_capacity",
            "gauge",
            "Committed batches the market-data queue holds at most.",
            |s| s.queues.market_data_capacity as u64,
        ),
        (
            "oddsmatch_shard_answers_depth",
            "gauge",
            "Answers to queries waiting for the gateway.",
            |s| s.queues.answers as u64,
        ),
        (
            "oddsmatch_shard_answers_capacity",
            "gauge",
            "Answers to queries the answer queue holds at most.",
            |s| s.queues.answers_capacity as u64,
        ),
        (
            "oddsmatch_shard_market_data_dropped_total",
            "counter",
            "Market-data batches a shard dropped on a full queue.",
            |s| s.market_data_dropped,
        ),
        (
            "oddsmatch_shard_answers_dropped_total",
            "counter",
            "Answers to queries a shard dropped on a full queue.",
            |s| s.answers_dropped,
        ),
    ];
    for (name, kind, help, get) in families {
        out.family(name, kind, help);
        for shard in &metrics.shards {
            let label = shard.shard.to_string();
            out.sample(name, &[("shard", &label)], get(shard));
        }
    }
    let name = "oddsmatch_shard_rejects_total";
    out.family(
        name,
        "counter",
        "Commands a shard's engine rejected, by reason.",
    );
    for shard in &metrics.shards {
        let label = shard.shard.to_string();
        for reason in RejectReason::ALL {
            let count = shard.rejects.get(reason.name()).copied().unwrap_or(0);
            out.sample(name, &[("shard", &label), ("reason", reason.name())], count);
        }
    }
    let name = "oddsmatch_shard_latency_seconds";
    out.family(
        name,
        "summary",
        "Latency of a shard's stages: queue_wait (queued to dequeued, per command), apply \
         (a batch's first dequeue to its last input journaled, per batch), commit (the \
         journal commit of a batch). Quantiles over the last minute.",
    );
    for shard in &metrics.shards {
        let label = shard.shard.to_string();
        let latency = &shard.latency;
        for (stage, summary) in [
            ("queue_wait", &latency.queue_wait),
            ("apply", &latency.apply),
            ("commit", &latency.commit),
        ] {
            out.summary(name, &[("shard", &label), ("stage", stage)], summary);
        }
    }
}

fn gateway(out: &mut Out, metrics: &Metrics) {
    let g = &metrics.gateway;
    let counters: [(&str, &str, u64); 10] = [
        (
            "oddsmatch_gateway_connections_total",
            "Order-entry connections accepted.",
            g.connections,
        ),
        (
            "oddsmatch_gateway_logins_total",
            "Logins accepted.",
            g.logins,
        ),
        (
            "oddsmatch_gateway_login_failures_total",
            "Logins refused.",
            g.login_failures,
        ),
        (
            "oddsmatch_gateway_requests_total",
            "Commands the gateway handed to shards.",
            g.requests,
        ),
        (
            "oddsmatch_gateway_rejected_total",
            "Requests the gateway refused itself (bad frames, validation, a stopped shard).",
            g.rejected,
        ),
        (
            "oddsmatch_gateway_throttled_total",
            "Requests refused by a throttle.",
            g.throttled,
        ),
        (
            "oddsmatch_gateway_busy_total",
            "Requests refused because a shard's queue was full.",
            g.busy,
        ),
        (
            "oddsmatch_gateway_reports_total",
            "Execution reports sent, live and replayed.",
            g.reports,
        ),
        (
            "oddsmatch_gateway_slow_consumers_total",
            "Order-entry sessions cut off as slow consumers.",
            g.slow_consumers,
        ),
        (
            "oddsmatch_gateway_dead_man_fired_total",
            "Dead man's switches that fired.",
            g.dead_man_fired,
        ),
    ];
    for (name, help, value) in counters {
        out.family(name, "counter", help);
        out.sample(name, &[], value);
    }
    let name = "oddsmatch_gateway_rejects_total";
    out.family(
        name,
        "counter",
        "Requests the gateway refused itself, by reason (the engine's reasons it checks \
         before a shard sees the request, and its own 6xx).",
    );
    let reasons = RejectReason::ALL
        .iter()
        .map(|reason| reason.name())
        .chain(ProtocolReject::ALL.iter().map(|reason| reason.name()));
    for reason in reasons {
        let count = g.rejects.get(reason).copied().unwrap_or(0);
        out.sample(name, &[("reason", reason)], count);
    }
    let name = "oddsmatch_gateway_sessions";
    out.family(name, "gauge", "Order-entry sessions logged in now.");
    out.sample(name, &[], g.sessions);
    let name = "oddsmatch_gateway_latency_seconds";
    out.family(
        name,
        "summary",
        "Latency of the gateway's stages: decode (a socket read to its command queued to the \
         shard), ack (the shard's publication of the batch to the command's last report \
         written), round_trip (the socket read to the last report written). Quantiles over \
         the last minute.",
    );
    for (stage, summary) in [
        ("decode", &g.latency.decode),
        ("ack", &g.latency.ack),
        ("round_trip", &g.latency.round_trip),
    ] {
        out.summary(name, &[("stage", stage)], summary);
    }
}

fn market_data(out: &mut Out, metrics: &Metrics) {
    let m = &metrics.market_data;
    let counters: [(&str, &str, u64); 5] = [
        (
            "oddsmatch_market_data_frames_total",
            "Market-data frames handed to sessions.",
            m.frames,
        ),
        (
            "oddsmatch_market_data_conflations_total",
            "Times a subscriber went stale on a market and its updates were conflated.",
            m.conflations,
        ),
        (
            "oddsmatch_market_data_slow_consumers_total",
            "Market-data sessions ended for reading too slowly.",
            m.slow_consumers,
        ),
        (
            "oddsmatch_market_data_resyncs_total",
            "Times a shard's market data was dropped and rebuilt from a snapshot.",
            m.resyncs,
        ),
        (
            "oddsmatch_market_data_refused_total",
            "Market-data connections refused because the node was full.",
            m.refused,
        ),
    ];
    for (name, help, value) in counters {
        out.family(name, "counter", help);
        out.sample(name, &[], value);
    }
    let gauges: [(&str, &str, u64); 2] = [
        (
            "oddsmatch_market_data_connections",
            "Market-data sessions open now.",
            m.connections,
        ),
        (
            "oddsmatch_market_data_subscriptions",
            "Market-data subscriptions held now.",
            m.subscriptions,
        ),
    ];
    for (name, help, value) in gauges {
        out.family(name, "gauge", help);
        out.sample(name, &[], value);
    }
    let name = "oddsmatch_market_data_latency_seconds";
    out.family(
        name,
        "summary",
        "Latency of the publisher's stages: fanout (a batch published by its shard to its \
         frames queued for every subscriber), tick_write (an odds tick's time stamp to its \
         write to a subscriber's socket, wall clock). Quantiles over the last minute.",
    );
    for (stage, summary) in [
        ("fanout", &m.latency.fanout),
        ("tick_write", &m.latency.tick_write),
    ] {
        out.summary(name, &[("stage", stage)], summary);
    }
}

fn persist(out: &mut Out, metrics: &Metrics) {
    let Some(progress) = &metrics.persist else {
        return;
    };
    type Get = fn(&super::PersistMetrics) -> f64;
    let families: [(&str, &str, &str, Get); 8] = [
        (
            "oddsmatch_persist_committed_seq",
            "gauge",
            "The last journal record of a shard committed to Postgres.",
            |p| p.committed_seq as f64,
        ),
        (
            "oddsmatch_persist_lag_records",
            "gauge",
            "Journal records of a shard not yet committed to Postgres.",
            |p| p.lag_records as f64,
        ),
        (
            "oddsmatch_persist_lag_seconds",
            "gauge",
            "How long the oldest record read and not yet committed to Postgres has waited.",
            |p| p.lag_ms as f64 / 1e3,
        ),
        (
            "oddsmatch_persist_connected",
            "gauge",
            "Whether the flush of a shard holds a working connection (1) or not (0).",
            |p| f64::from(u8::from(p.connected)),
        ),
        (
            "oddsmatch_persist_batches_total",
            "counter",
            "Transactions the flush of a shard committed.",
            |p| p.batches as f64,
        ),
        (
            "oddsmatch_persist_records_total",
            "counter",
            "Journal records the flush of a shard committed.",
            |p| p.records as f64,
        ),
        (
            "oddsmatch_persist_rows_total",
            "counter",
            "Rows the flush of a shard committed.",
            |p| p.rows as f64,
        ),
        (
            "oddsmatch_persist_retries_total",
            "counter",
            "Failures the flush of a shard retried.",
            |p| p.retries as f64,
        ),
    ];
    for (name, kind, help, get) in families {
        out.family(name, kind, help);
        for p in progress {
            let label = p.shard.to_string();
            out.sample(name, &[("shard", &label)], get(p));
        }
    }
}

/// The text being written.
struct Out {
    text: String,
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // Writing to a String cannot fail.
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (label, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    fn summary(&mut self, name: &str, labels: &[(&str, &str)], summary: &LatencySummary) {
        let seconds = |ns: u64| ns as f64 / 1e9;
        let mut with_quantile: Vec<(&str, &str)> = labels.to_vec();
        with_quantile.push(("quantile", ""));
        let last = with_quantile.len() - 1;
        for (quantile, get) in QUANTILES {
            with_quantile[last].1 = quantile;
            let value = match summary.window_count {
                0 => f64::NAN,
                _ => seconds(get(summary)),
            };
            self.sample(name, &with_quantile, value);
        }
        self.sample(&format!("{name}_sum"), labels, seconds(summary.sum_ns));
        self.sample(&format!("{name}_count"), labels, summary.count);
    }
}

/// Escapes a label value: backslash, double quote and line feed.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Escapes a help text: backslash and line feed.
fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_texts_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape_help("a\\b\nc\"d"), "a\\\\b\\nc\"d");
    }

    #[test]
    fn a_summary_has_its_quantiles_sum_and_count() {
        let mut out = Out {
            text: String::new(),
        };
        let summary = LatencySummary {
            count: 4,
            sum_ns: 2_500_000_000,
            max_ns: 1_000_000_000,
            window_count: 4,
            p50_ns: 500_000,
            p90_ns: 900_000,
            p99_ns: 990_000,
            p999_ns: 999_000,
            window_max_ns: 1_000_000_000,
        };
        out.summary("x_seconds", &[("stage", "s")], &summary);
        assert_eq!(
            out.text,
            "x_seconds{stage=\"s\",quantile=\"0.5\"} 0.0005\n\
             x_seconds{stage=\"s\",quantile=\"0.9\"} 0.0009\n\
             x_seconds{stage=\"s\",quantile=\"0.99\"} 0.00099\n\
             x_seconds{stage=\"s\",quantile=\"0.999\"} 0.000999\n\
             x_seconds{stage=\"s\",quantile=\"1\"} 1\n\
             x_seconds_sum{stage=\"s\"} 2.5\n\
             x_seconds_count{stage=\"s\"} 4\n"
        );
        let mut empty = Out {
            text: String::new(),
        };
        empty.summary("y", &[], &LatencySummary::default());
        assert!(
            empty.text.starts_with("y{quantile=\"0.5\"} NaN\n"),
            "{}",
            empty.text
        );
        assert!(
            empty.text.ends_with("y_sum 0\ny_count 0\n"),
            "{}",
            empty.text
        );
    }
}
