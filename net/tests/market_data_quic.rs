//! Market data over QUIC on loopback: the certificate a node makes and keeps, subscribers
//! pinning it (or trusting a CA), and sessions alongside TCP ones.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use oddsmatch_engine::{MarketId, Persistence, SelectionId, Side, TimeInForce};
use oddsmatch_net::client::Client;
use oddsmatch_net::market_data::quic::{
    GENERATED_CERT_FILE, GENERATED_KEY_FILE, parse_fingerprint,
};
use oddsmatch_net::proto::md::{MdServerMsg, Streams};
use oddsmatch_net::proto::{ClientMsg, NewOrder};
use oddsmatch_net::subscriber::{Subscriber, SubscriberError, Trust, Update};
use support::*;

/// Market 3: three selections, open, ticking at most every 100 ms, without heartbeat ticks.
const MARKET_3: &str = "{\"cmd\":\"create_market\",\"market\":3,\"selections\":[1,2,3],\
    \"odds_tick_interval_ms\":100,\"odds_heartbeat_ms\":10000,\"odds_change_threshold_bps\":100}\n\
    {\"cmd\":\"open_market\",\"market\":3}\n";

/// The node's certificate, pinned.
fn pinned(node: &TestNode) -> Trust {
    Trust::fingerprint_hex(node.node().market_data_fingerprint().unwrap()).unwrap()
}

fn quic_subscriber(node: &TestNode) -> Subscriber {
    Subscriber::connect_quic(node.node().market_data_quic_addr().unwrap(), pinned(node)).unwrap()
}

fn tcp_subscriber(node: &TestNode) -> Subscriber {
    Subscriber::connect(node.node().market_data_addr().unwrap()).unwrap()
}

/// One back on market 3 at a falling price, so that its odds move, acknowledged.
fn quote(client: &mut Client, request_id: u64) {
    let ladder = [240, 230, 220, 210, 200, 190, 180, 170, 160, 150];
    let round = request_id as usize - 1;
    client
        .send(&ClientMsg::NewOrder(NewOrder {
            request_id,
            client_order_id: request_id,
            stake_minor: 100,
            market: MarketId(3),
            selection: SelectionId(1 + (round % 3) as u32),
            odds_x100: ladder[round % ladder.len()],
            side: Side::Back,
            tif: TimeInForce::Gtc,
            persistence: Persistence::Persist,
            post_only: false,
        }))
        .unwrap();
    report_for(client, request_id);
}

/// Places `rounds` orders a tick interval apart: each makes one tick.
fn tick(node: &TestNode, rounds: u64) {
    let mut trader = node.login(1);
    for request_id in 1..=rounds {
        quote(&mut trader, request_id);
        std::thread::sleep(Duration::from_millis(110));
    }
}

/// What one subscriber saw of market 3.
#[derive(Default, Debug)]
struct Seen {
    subscribed: bool,
    snapshot: Option<u64>,
    ticks: Vec<u64>,
    gaps: usize,
    other_markets: usize,
}

impl Collect for Seen {
    fn take(&mut self, update: Update) {
        match update {
            Update::Gap { .. } => self.gaps += 1,
            Update::Message(MdServerMsg::Subscribed { .. }) => self.subscribed = true,
            Update::Message(MdServerMsg::Snapshot(s)) if s.market == MarketId(3) => {
                self.snapshot.get_or_insert(s.tick_seq);
            }
            Update::Message(MdServerMsg::Tick(t)) if t.market == MarketId(3) => {
                self.ticks.push(t.tick_seq);
            }
            Update::Message(
                MdServerMsg::Snapshot(_) | MdServerMsg::Tick(_) | MdServerMsg::Status { .. },
            ) => self.other_markets += 1,
            Update::Message(_) => {}
        }
    }
}

impl Seen {
    fn last(&self) -> u64 {
        self.ticks.last().copied().or(self.snapshot).unwrap_or(0)
    }

    /// Every tick after its snapshot up to `last`, in order, and nothing else.
    fn assert_complete(&self, last: u64) {
        assert!(self.subscribed, "{self:?}");
        assert_eq!((self.gaps, self.other_markets), (0, 0), "{self:?}");
        let start = self.snapshot.expect("a snapshot");
        let expected: Vec<u64> = (start + 1..=last).collect();
        assert_eq!(
            self.ticks, expected,
            "every tick after the snapshot, in order"
        );
    }
}

/// Reads until a message matches, failing after [`WAIT`].
fn wait_for(sub: &mut Subscriber, mut pick: impl FnMut(&MdServerMsg) -> bool) -> MdServerMsg {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "nothing matching arrived");
        if let Some(Update::Message(msg)) = sub.next(WAIT).unwrap()
            && pick(&msg)
        {
            return msg;
        }
    }
}

#[test]
fn a_pinned_quic_subscriber_gets_the_snapshot_then_every_tick_in_order() {
    let node = TestNode::start_with(&[(1, "market_maker")], MARKET_3, |_| {});
    let mut quic = quic_subscriber(&node);
    quic.subscribe(MarketId(3), Streams::TICKS.with(Streams::STATUS))
        .unwrap();
    // The first answers in order: SUBSCRIBED, then the snapshot.
    match quic.next(WAIT).unwrap() {
        Some(Update::Message(MdServerMsg::Subscribed { market, .. })) => {
            assert_eq!(market, MarketId(3));
        }
        other => panic!("{other:?}"),
    }
    let snapshot = match quic.next(WAIT).unwrap() {
        Some(Update::Message(MdServerMsg::Snapshot(s))) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(snapshot.market, MarketId(3));
    // A TCP subscriber alongside, for reference.
    let mut tcp = tcp_subscriber(&node);
    tcp.subscribe(MarketId(3), Streams::TICKS).unwrap();
    let readers: Readers<Seen> = Readers::start(vec![quic, tcp]);
    tick(&node, 8);
    let mut subscribers = readers.finish(Duration::from_millis(400));
    let (_, tcp_seen) = subscribers.pop().unwrap();
    let (_, mut quic_seen) = subscribers.pop().unwrap();
    // The QUIC subscriber's first two messages were read above.
    assert_eq!((quic_seen.subscribed, quic_seen.snapshot), (false, None));
    (quic_seen.subscribed, quic_seen.snapshot) = (true, Some(snapshot.tick_seq));
    let last = tcp_seen.last();
    assert!(
        last >= snapshot.tick_seq + 5,
        "the market ticked: {tcp_seen:?}"
    );
    tcp_seen.assert_complete(last);
    quic_seen.assert_complete(last);
}

#[test]
fn a_wrong_fingerprint_or_an_unrelated_ca_is_refused() {
    let node = TestNode::start(&[(1, "pro")], |_| {});
    let addr = node.node().market_data_quic_addr().unwrap();
    let Trust::Fingerprint(mut wrong) = pinned(&node) else {
        unreachable!()
    };
    wrong[31] ^= 1;
    let error = Subscriber::connect_quic(addr, Trust::Fingerprint(wrong)).unwrap_err();
    assert!(
        matches!(&error, SubscriberError::Io(_)) && error.to_string().contains("certificate"),
        "{error}"
    );

    let dir = tempfile::tempdir().unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let ca_file = dir.path().join("other.pem");
    std::fs::write(&ca_file, other.cert.pem()).unwrap();
    let trust = Trust::CaFile {
        path: ca_file,
        server_name: "localhost".to_owned(),
    };
    assert!(Subscriber::connect_quic(addr, trust).is_err());
    // The node's own certificate is fine.
    let mut sub = quic_subscriber(&node);
    sub.subscribe(MarketId(1), Streams::TICKS).unwrap();
    wait_for(&mut sub, |m| matches!(m, MdServerMsg::Snapshot(_)));
}

#[test]
fn the_certificate_is_made_once_and_kept_and_subscribers_reconnect_across_a_restart() {
    let port = {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut node = TestNode::start(&[(1, "market_maker")], |config| {
        config.market_data.listen_quic = Some(([127, 0, 0, 1], port).into());
    });
    let data = node.config.data_dir.clone();
    let fingerprint = node.node().market_data_fingerprint().unwrap().to_owned();
    let certificate = std::fs::read(data.join(GENERATED_CERT_FILE)).unwrap();
    let pem = String::from_utf8(certificate).unwrap();
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
        .map(|c: rustls::pki_types::CertificateDer<'_>| c.to_vec())
        .unwrap();
    assert_eq!(
        parse_fingerprint(&fingerprint),
        Some(oddsmatch_net::market_data::quic::fingerprint(&der)),
        "the fingerprint is the SHA-256 of the certificate's DER encoding"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join(GENERATED_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key is its owner's only");
    }

    let mut sub = quic_subscriber(&node);
    sub.subscribe(MarketId(1), Streams::TICKS).unwrap();
    wait_for(&mut sub, |m| matches!(m, MdServerMsg::Snapshot(_)));

    // The node restarts: the session ends with END shutdown, well before any idle timeout.
    node.restart();
    let cut = Instant::now();
    let ended = loop {
        match sub.next(Duration::from_millis(100)) {
            Err(error) => break error,
            Ok(_) => assert!(cut.elapsed() < WAIT, "the old session never ended"),
        }
    };
    assert!(
        matches!(&ended, SubscriberError::Ended(reason) if reason.contains("Shutdown")),
        "{ended:?}"
    );
    assert_eq!(
        node.node().market_data_fingerprint(),
        Some(fingerprint.as_str()),
        "the same certificate after a restart"
    );
    assert_eq!(
        std::fs::read_to_string(data.join(GENERATED_CERT_FILE)).unwrap(),
        pem
    );

    // The pinned subscriber reconnects and is resubscribed.
    while sub.reconnect().is_err() {
        assert!(cut.elapsed() < WAIT, "could not reconnect");
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_for(&mut sub, |m| matches!(m, MdServerMsg::Snapshot(_)));
}

#[test]
fn a_configured_certificate_is_served_and_checked_against_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(vec!["md.oddsmatch.test".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let (cert_file, key_file, ca_file) = (
        dir.path().join("server.pem"),
        dir.path().join("server.key"),
        dir.path().join("ca.pem"),
    );
    std::fs::write(&cert_file, server_cert.pem()).unwrap();
    std::fs::write(&key_file, server_key.serialize_pem()).unwrap();
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();

    let node = TestNode::start(&[(1, "pro")], |config| {
        config.market_data.cert_file = Some(cert_file.clone());
        config.market_data.key_file = Some(key_file.clone());
    });
    assert!(!node.config.data_dir.join(GENERATED_CERT_FILE).exists());
    let addr = node.node().market_data_quic_addr().unwrap();
    let trust = |name: &str| Trust::CaFile {
        path: ca_file.clone(),
        server_name: name.to_owned(),
    };
    let mut sub = Subscriber::connect_quic(addr, trust("md.oddsmatch.test")).unwrap();
    sub.subscribe(MarketId(1), Streams::TICKS).unwrap();
    wait_for(&mut sub, |m| matches!(m, MdServerMsg::Snapshot(_)));
    // The certificate is for another name.
    assert!(Subscriber::connect_quic(addr, trust("localhost")).is_err());
    // Pinning works with a configured certificate too.
    let mut pinned_sub = quic_subscriber(&node);
    pinned_sub.subscribe(MarketId(1), Streams::TICKS).unwrap();
    wait_for(&mut pinned_sub, |m| matches!(m, MdServerMsg::Snapshot(_)));
}

#[test]
fn connections_are_counted_over_both_transports() {
    let node = TestNode::start(&[(1, "pro")], |config| {
        config.market_data.max_connections = 2;
    });
    let mut held = vec![tcp_subscriber(&node), quic_subscriber(&node)];
    for sub in &mut held {
        sub.subscribe(MarketId(1), Streams::TICKS).unwrap();
        wait_for(sub, |m| matches!(m, MdServerMsg::Snapshot(_)));
    }
    for mut extra in [quic_subscriber(&node), tcp_subscriber(&node)] {
        match extra.next(WAIT) {
            Err(SubscriberError::Ended(reason)) => {
                assert!(reason.contains("ServerFull"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
    let stats = node.node().market_data_stats().unwrap();
    assert_eq!(stats.refused.load(Ordering::Relaxed), 2);
    // A QUIC session that ends frees its place at once.
    held.pop();
    let started = Instant::now();
    loop {
        let mut next = quic_subscriber(&node);
        next.subscribe(MarketId(1), Streams::TICKS).unwrap();
        match next.next(WAIT) {
            Ok(Some(Update::Message(MdServerMsg::Subscribed { .. }))) => break,
            Err(SubscriberError::Ended(_)) => {
                assert!(started.elapsed() < WAIT, "the place was never freed");
                std::thread::sleep(Duration::from_millis(20));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn three_hundred_subscribers_over_both_transports_get_every_tick_in_order() {
    let node = TestNode::start_with(&[(1, "market_maker")], MARKET_3, |_| {});
    let started = Instant::now();
    let mut subscribers = Vec::new();
    for i in 0..300 {
        let mut sub = if i % 2 == 0 {
            tcp_subscriber(&node)
        } else {
            quic_subscriber(&node)
        };
        sub.subscribe(MarketId(3), Streams::TICKS).unwrap();
        subscribers.push(sub);
    }
    let connected = started.elapsed();
    let readers: Readers<Seen> = Readers::start(subscribers);
    tick(&node, 12);
    let seen = readers.finish(Duration::from_millis(400));
    let last = seen.iter().map(|(_, s)| s.last()).max().unwrap();
    let mut by_start: BTreeMap<u64, usize> = BTreeMap::new();
    for (_, s) in &seen {
        s.assert_complete(last);
        *by_start.entry(s.snapshot.unwrap()).or_default() += 1;
    }
    let first = *by_start.keys().next().unwrap();
    assert!(last >= first + 8, "the market ticked: {last}, {by_start:?}");
    eprintln!(
        "300 subscribers connected in {connected:?}; ticks up to {last}; all in {:?}",
        started.elapsed()
    );
}
