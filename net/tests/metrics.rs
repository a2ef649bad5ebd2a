//! The node's metrics end to end: known traffic over the real protocol, then the snapshot and
//! the Prometheus text of the HTTP listener must count exactly what was done.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use oddsmatch_engine::{MarketId, Persistence, SelectionId, Side, TimeInForce};
use oddsmatch_net::gateway::TierLimits;
use oddsmatch_net::metrics::{Metrics, MetricsConfig};
use oddsmatch_net::proto::md::{MdServerMsg, Streams};
use oddsmatch_net::proto::{ClientMsg, NewOrder, ReportBody, ServerMsg};
use oddsmatch_net::subscriber::{Subscriber, Update};
use support::*;

/// Market 3: an exchange market that ticks at most every 100 ms and has no heartbeat tick for
/// 10 s, so that its ticks are exactly the ones the orders make.
const QUIET_MARKET: &str = "{\"cmd\":\"create_market\",\"market\":3,\"selections\":[1,2,3],\
    \"odds_tick_interval_ms\":100,\"odds_heartbeat_ms\":10000,\"odds_change_threshold_bps\":100}\n\
    {\"cmd\":\"open_market\",\"market\":3}\n";

fn new_order(request_id: u64, market: u32, odds_x100: u32, client_order_id: u64) -> ClientMsg {
    ClientMsg::NewOrder(NewOrder {
        request_id,
        client_order_id,
        stake_minor: 100,
        market: MarketId(market),
        selection: SelectionId(1),
        odds_x100,
        side: Side::Back,
        tif: TimeInForce::Gtc,
        persistence: Persistence::Persist,
        post_only: false,
    })
}

/// Waits (at most 10 s) until `check` holds; returns whether it did.
fn wait_until(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// What one subscriber has read: snapshots and ticks.
#[derive(Default, Debug)]
struct Seen {
    snapshots: u64,
    ticks: u64,
}

impl Seen {
    /// Reads until nothing comes for `quiet`.
    fn take(&mut self, sub: &mut Subscriber, quiet: Duration) {
        while let Some(update) = sub.next(quiet).unwrap() {
            match update {
                Update::Message(MdServerMsg::Snapshot(_)) => self.snapshots += 1,
                Update::Message(MdServerMsg::Tick(_)) => self.ticks += 1,
                Update::Message(_) => {}
                Update::Gap { .. } => panic!("no gap on loopback: {update:?}"),
            }
        }
    }
}

#[test]
fn counters_and_stage_counts_equal_the_traffic() {
    let node = TestNode::start_with(
        &[(1, "market_maker"), (2, "free")],
        QUIET_MARKET,
        |config| {
            config.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
            config.gateway.throttle.free = TierLimits {
                requests_per_s: 1,
                burst: 2,
                ..config.gateway.throttle.free
            };
        },
    );
    let bootstrap_commands = node.node().bootstrap().commands as u64;

    // A subscriber to market 3's ticks, with its snapshot in hand.
    let mut sub = Subscriber::connect(node.node().market_data_addr().unwrap()).unwrap();
    sub.subscribe(MarketId(3), Streams::TICKS).unwrap();
    let mut read = Seen::default();
    assert!(wait_until(|| {
        read.take(&mut sub, Duration::from_millis(10));
        read.snapshots == 1
    }));

    // Four orders, each a new best price of market 3 (falling backs: the odds move), then a
    // repeated client order id (the engine rejects it) and an odds off the ladder (the gateway
    // does).
    let mut trader = node.login(1);
    for (i, odds) in [240, 230, 220, 210].into_iter().enumerate() {
        let request_id = i as u64 + 1;
        trader
            .send(&new_order(request_id, 3, odds, request_id))
            .unwrap();
        let report = report_for(&mut trader, request_id);
        assert!(
            matches!(report.body, ReportBody::OrderAccepted { .. }),
            "{report:?}"
        );
        // A tick interval apart: every order makes its own tick.
        std::thread::sleep(Duration::from_millis(120));
    }
    trader.send(&new_order(5, 3, 200, 1)).unwrap();
    let report = report_for(&mut trader, 5);
    assert!(
        matches!(report.body, ReportBody::OrderRejected { .. }),
        "{report:?}"
    );
    trader.send(&new_order(6, 3, 251, 6)).unwrap();
    trader
        .wait_for(WAIT, |m| {
            matches!(m, ServerMsg::RequestRejected { request_id: 6, .. })
        })
        .unwrap();

    // A free account with a burst of two sends five orders at once: some are throttled.
    let mut small = node.login(2);
    for request_id in 1..=5 {
        small.queue(&new_order(request_id, 1, 300, request_id));
    }
    small.flush().unwrap();
    let (mut accepted, mut throttled) = (0u64, 0u64);
    while accepted + throttled < 5 {
        match small.recv(WAIT).unwrap().expect("an answer to every order") {
            ServerMsg::Report(r) if matches!(r.body, ReportBody::OrderAccepted { .. }) => {
                accepted += 1
            }
            ServerMsg::Throttled { .. } => throttled += 1,
            _ => {}
        }
    }
    assert!(throttled >= 1, "five orders against a burst of two");

    // Market 3 is quiet after its ticks: read until nothing more comes.
    read.take(&mut sub, Duration::from_millis(500));
    assert!(read.ticks >= 1, "the orders moved the odds: {read:?}");

    let requests = 5 + accepted;
    let settled = |m: &Metrics| {
        let shard = &m.shards[0];
        let gateway = &m.gateway.latency;
        shard.latency.queue_wait.count == shard.commands
            && shard.latency.apply.count == shard.batches
            && shard.latency.commit.count == shard.batches
            && shard.journal.seq == shard.commands + shard.timers
            && gateway.decode.count == requests
            && gateway.ack.count == requests
            && gateway.round_trip.count == requests
            && m.market_data.latency.tick_write.count >= 1
    };
    // The owner threads merge their values every 100 ms, and the shard's timers keep batches
    // coming: take a snapshot where everything has been merged.
    let mut metrics = node.node().metrics();
    assert!(
        wait_until(|| {
            metrics = node.node().metrics();
            settled(&metrics)
        }),
        "{metrics:#?}"
    );
    let shard = &metrics.shards[0];
    assert_eq!(metrics.shards.len(), 1);
    assert_eq!(shard.commands, bootstrap_commands + requests);
    assert_eq!(
        shard.rejects,
        BTreeMap::from([("duplicate_client_order_id".to_owned(), 1)])
    );
    assert_eq!(shard.journal.seq, shard.commands + shard.timers);
    assert!(shard.journal.durable_seq <= shard.journal.seq);
    assert!(
        shard.journal.bytes >= 32 * shard.journal.seq,
        "a header per record at least"
    );
    assert!(shard.events > shard.commands);
    assert!(shard.batches >= 1 && shard.batches <= shard.commands + shard.timers);
    assert_eq!(
        shard.queues.requests_capacity,
        node.config.shards.queue_capacity
    );
    assert_eq!(shard.market_data_dropped, 0);
    let latency = &shard.latency;
    assert!(
        latency.apply.sum_ns > 0 && latency.queue_wait.window_count == latency.queue_wait.count
    );
    assert!(latency.queue_wait.p50_ns <= latency.queue_wait.p999_ns);

    let gateway = &metrics.gateway;
    assert_eq!(gateway.requests, requests);
    assert_eq!(gateway.throttled, throttled);
    assert_eq!(gateway.rejected, 1, "the odds off the ladder");
    assert_eq!(
        gateway.rejects,
        std::collections::BTreeMap::from([("invalid_odds".to_owned(), 1)])
    );
    assert_eq!(gateway.busy, 0);
    assert_eq!(
        (gateway.logins, gateway.login_failures, gateway.sessions),
        (2, 0, 2)
    );
    assert_eq!(gateway.latency.decode.count, requests);
    assert_eq!(gateway.latency.ack.count, requests);
    assert_eq!(gateway.latency.round_trip.count, requests);
    assert!(gateway.latency.round_trip.sum_ns >= gateway.latency.ack.sum_ns);

    let md = &metrics.market_data;
    assert_eq!((md.connections, md.subscriptions), (1, 1));
    assert_eq!(md.frames, read.snapshots + read.ticks);
    assert_eq!((md.conflations, md.slow_consumers, md.resyncs), (0, 0, 0));
    assert!(md.latency.tick_write.count >= 1 && md.latency.tick_write.count <= read.ticks);
    assert!(md.latency.fanout.count >= 1 && md.latency.fanout.count <= shard.batches);
    assert_eq!(metrics.persist, None);

    // The same figures over HTTP, in the Prometheus text format.
    let addr = node.node().metrics_addr().expect("metrics.listen was set");
    let response = http(addr, b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let samples = parse_prometheus(&response.body);
    let value = |key: &str| {
        *samples
            .get(key)
            .unwrap_or_else(|| panic!("{key} is missing from:\n{}", response.body))
    };
    assert_eq!(value("oddsmatch_gateway_requests_total"), requests as f64);
    assert_eq!(value("oddsmatch_gateway_throttled_total"), throttled as f64);
    assert_eq!(value("oddsmatch_gateway_rejected_total"), 1.0);
    assert_eq!(
        value("oddsmatch_gateway_rejects_total{reason=\"invalid_odds\"}"),
        1.0
    );
    assert_eq!(
        value("oddsmatch_gateway_rejects_total{reason=\"malformed\"}"),
        0.0
    );
    assert_eq!(
        value("oddsmatch_shard_commands_total{shard=\"0\"}"),
        shard.commands as f64
    );
    assert_eq!(
        value("oddsmatch_shard_rejects_total{shard=\"0\",reason=\"duplicate_client_order_id\"}"),
        1.0
    );
    assert_eq!(
        value("oddsmatch_shard_rejects_total{shard=\"0\",reason=\"insufficient_funds\"}"),
        0.0
    );
    assert_eq!(
        value("oddsmatch_shard_latency_seconds_count{shard=\"0\",stage=\"queue_wait\"}"),
        shard.commands as f64
    );
    for stage in ["decode", "ack", "round_trip"] {
        assert_eq!(
            value(&format!(
                "oddsmatch_gateway_latency_seconds_count{{stage=\"{stage}\"}}"
            )),
            requests as f64
        );
        let p50 = value(&format!(
            "oddsmatch_gateway_latency_seconds{{stage=\"{stage}\",quantile=\"0.5\"}}"
        ));
        let max = value(&format!(
            "oddsmatch_gateway_latency_seconds{{stage=\"{stage}\",quantile=\"1\"}}"
        ));
        assert!(p50 > 0.0 && p50 <= max, "{stage}: {p50} {max}");
    }
    assert_eq!(value("oddsmatch_market_data_subscriptions"), 1.0);
    assert!(value("oddsmatch_journal_bytes_total{shard=\"0\"}") > 0.0);
    assert!(samples.keys().all(|key| key.starts_with("oddsmatch_")));
}

#[test]
fn the_listener_answers_get_metrics_only_and_outlives_bad_clients() {
    let node = TestNode::start(&[(1, "pro")], |config| {
        config.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    });
    let addr = node.node().metrics_addr().unwrap();
    assert_ne!(addr.port(), 0, "the bound port is reported");

    let head = http(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(
        head.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 0
    );
    assert_eq!(http(addr, b"GET / HTTP/1.1\r\n\r\n").status, 404);
    assert_eq!(http(addr, b"GET /metricsz HTTP/1.0\r\n\r\n").status, 404);
    let post = http(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert_eq!(
        http(addr, b"\x16\x03\x01\x02\x00garbage\r\n\r\n").status,
        400
    );
    assert_eq!(http(addr, b"GET /metrics HTTP/2.0\r\n\r\n").status, 400);
    let endless = vec![b'a'; 20_000];
    assert_eq!(http(addr, &endless).status, 431);

    // A client that connects and says nothing is answered 408 once its time is up, and the
    // request behind it is served.
    let mut silent = TcpStream::connect(addr).unwrap();
    let served = http(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(served.status, 200);
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    silent.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");

    // Still serving, and the text parses.
    let response = http(addr, b"GET /metrics?x=1 HTTP/1.1\r\n\r\n");
    assert_eq!(response.status, 200);
    let samples = parse_prometheus(&response.body);
    assert!(samples.contains_key("oddsmatch_uptime_seconds"));
}

#[test]
fn without_a_listen_address_there_is_no_listener_and_the_snapshot_is_json() {
    let node = TestNode::start(&[(1, "pro")], |_| {});
    assert_eq!(node.node().metrics_addr(), None);
    let metrics = node.node().metrics();
    let json = serde_json::to_string(&metrics).unwrap();
    let back: Metrics = serde_json::from_str(&json).unwrap();
    assert_eq!(back, metrics);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(value["shards"][0]["latency"]["queue_wait"]["p99_ns"].is_u64());
    assert!(value["gateway"]["latency"]["round_trip"]["count"].is_u64());

    let config: MetricsConfig = serde_json::from_str(r#"{"listen":"127.0.0.1:9100"}"#).unwrap();
    assert_eq!(config.listen, Some("127.0.0.1:9100".parse().unwrap()));
    assert!(serde_json::from_str::<MetricsConfig>(r#"{"address":"127.0.0.1:9100"}"#).is_err());
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` on a new connection and reads the response to its end.
fn http(addr: SocketAddr, request: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The server may answer (and close) before reading all of an oversized request.
    let _ = stream.write_all(request);
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole response");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.to_owned(), value.trim().to_owned())
        })
        .collect();
    let response = Response {
        status,
        headers,
        body: body.to_owned(),
    };
    if let Some(length) = response.header("content-length")
        && !request.starts_with(b"HEAD ")
    {
        assert_eq!(length.parse::<usize>().unwrap(), response.body.len());
    }
    response
}

/// Checks every line of a Prometheus text exposition (a `# HELP` or `# TYPE` line, or a
/// sample `name{label="value",...} number` of a family typed before it) and returns the
/// samples by `name{labels}`.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    let is_name = |s: &str| {
        !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    assert!(text.ends_with('\n'), "the text ends with a line feed");
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let (keyword, name, rest) = (parts.next(), parts.next(), parts.next());
            let name = name.unwrap_or_else(|| panic!("a comment names its metric: {line}"));
            assert!(is_name(name), "{line}");
            match keyword {
                Some("HELP") => assert!(rest.is_some_and(|h| !h.is_empty()), "{line}"),
                Some("TYPE") => {
                    let kind = rest.unwrap();
                    assert!(
                        ["counter", "gauge", "summary", "histogram", "untyped"].contains(&kind),
                        "{line}"
                    );
                    assert!(
                        types.insert(name.to_owned(), kind.to_owned()).is_none(),
                        "one TYPE per family: {line}"
                    );
                }
                _ => panic!("unknown comment: {line}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        let name = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                for pair in labels.split(',') {
                    let (label, quoted) = pair.split_once('=').unwrap_or_else(|| panic!("{line}"));
                    assert!(is_name(label), "{line}");
                    assert!(
                        quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"'),
                        "{line}"
                    );
                }
                name
            }
            None => series,
        };
        assert!(is_name(name), "{line}");
        let family = [
            name,
            name.trim_end_matches("_sum"),
            name.trim_end_matches("_count"),
        ]
        .into_iter()
        .find(|f| types.contains_key(*f))
        .unwrap_or_else(|| panic!("no TYPE before {line}"));
        if types[family] == "counter" {
            assert!(family.ends_with("_total"), "{line}");
        }
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "one sample per series: {line}"
        );
    }
    samples
}

#[test]
fn every_metric_family_is_documented() {
    let node = TestNode::start(&[(1, "pro")], |_| {});
    let mut metrics = node.node().metrics();
    // The flush to Postgres is off here; its families appear with any progress.
    metrics.persist = Some(vec![oddsmatch_net::metrics::PersistMetrics {
        shard: 0,
        committed_seq: 1,
        read_seq: 1,
        lag_records: 0,
        lag_ms: 0,
        batches: 1,
        records: 1,
        rows: 1,
        retries: 0,
        connected: true,
        finished: false,
        last_error: None,
    }]);
    let text = metrics.to_prometheus();
    let families: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|rest| rest.split(' ').next().unwrap())
        .collect();
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/metrics.md"),
    )
    .unwrap();
    // The names in the first column of the document's tables.
    let documented: std::collections::BTreeSet<&str> = doc
        .lines()
        .filter_map(|line| line.strip_prefix("| `oddsmatch_"))
        .flat_map(|row| {
            let first = row.split(" | ").next().unwrap();
            first.split("`, `").map(|name| name.trim_matches('`'))
        })
        .map(|name| name.strip_prefix("oddsmatch_").unwrap_or(name))
        .collect();
    for family in &families {
        let short = family.strip_prefix("oddsmatch_").unwrap();
        assert!(
            documented.contains(short),
            "{family} is not in docs/metrics.md"
        );
    }
    for name in &documented {
        assert!(
            families.contains(&format!("oddsmatch_{name}").as_str()),
            "docs/metrics.md lists oddsmatch_{name}, which is not rendered"
        );
    }
}
