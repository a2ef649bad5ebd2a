//! A node on loopback with accounts, keys and markets from a bootstrap file, for end-to-end
//! tests over the real protocol.

#![allow(dead_code)] // each test binary uses part of it

use std::time::Duration;

use oddsmatch_engine::{MarketId, Persistence, SelectionId, Side, TimeInForce};
use oddsmatch_net::client::{Client, Credentials, Options};
use oddsmatch_net::node::{Node, NodeConfig};
use oddsmatch_net::proto::{ClientMsg, NewOrder, Report, ReportBody, ServerMsg};

pub const WAIT: Duration = Duration::from_secs(5);

/// The secret of an account's key in these tests.
pub fn secret(account: u32) -> [u8; 32] {
    let mut secret = [0u8; 32];
    for (i, byte) in secret.iter_mut().enumerate() {
        *byte = (account as u8).wrapping_mul(31).wrapping_add(i as u8);
    }
    secret
}

/// The key id of an account's key in these tests.
pub fn key_id(account: u32) -> u64 {
    1_000 + u64::from(account)
}

pub fn credentials(account: u32) -> Credentials {
    Credentials {
        key_id: key_id(account),
        secret: secret(account),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bootstrap lines: accounts with keys and money, exchange market 1 (selections 1-3) and pool
/// market 2 (selections 1-2), both open.
pub fn bootstrap(accounts: &[(u32, &str)]) -> String {
    bootstrap_on(accounts, 1)
}

/// The same with a deposit into the account's wallet on each of `shards` shards.
pub fn bootstrap_on(accounts: &[(u32, &str)], shards: u16) -> String {
    let mut lines = String::new();
    for (account, tier) in accounts {
        // "feed" makes a price-feed account (role feed, tier pro), which holds no money.
        let (tier, role) = match *tier {
            "feed" => ("pro", "feed"),
            tier => (tier, "trader"),
        };
        lines += &format!(
            "{{\"cmd\":\"create_account\",\"account\":{account},\"tier\":\"{tier}\",\"role\":\"{role}\"}}\n"
        );
        lines += &format!(
            "{{\"cmd\":\"set_api_key\",\"account\":{account},\"key_id\":{},\"secret\":\"{}\"}}\n",
            key_id(*account),
            hex(&secret(*account))
        );
        let wallets = if role == "feed" { 0 } else { shards };
        for shard in 0..wallets {
            lines += &format!(
                "{{\"cmd\":\"deposit\",\"shard\":{shard},\"account\":{account},\"amount\":100000000,\"transfer_id\":{account}}}\n"
            );
        }
    }
    lines += "{\"cmd\":\"create_market\",\"market\":1,\"selections\":[1,2,3]}\n";
    lines += "{\"cmd\":\"open_market\",\"market\":1}\n";
    lines += "{\"cmd\":\"create_market\",\"market\":2,\"kind\":\"pool\",\"selections\":[1,2]}\n";
    lines += "{\"cmd\":\"open_market\",\"market\":2}\n";
    lines
}

pub struct TestNode {
    pub node: Option<Node>,
    pub dir: tempfile::TempDir,
    pub config: NodeConfig,
}

impl TestNode {
    pub fn start(accounts: &[(u32, &str)], tweak: impl FnOnce(&mut NodeConfig)) -> TestNode {
        TestNode::start_with(accounts, "", tweak)
    }

    /// [`TestNode::start`] with more bootstrap lines after the standard ones.
    pub fn start_with(
        accounts: &[(u32, &str)],
        extra_bootstrap: &str,
        tweak: impl FnOnce(&mut NodeConfig),
    ) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let bootstrap_path = dir.path().join("bootstrap.jsonl");
        let mut config = NodeConfig {
            data_dir: dir.path().join("data"),
            bootstrap: Some(bootstrap_path.clone()),
            ..NodeConfig::default()
        };
        config.gateway.listen = "127.0.0.1:0".parse().unwrap();
        config.market_data.listen_tcp = Some("127.0.0.1:0".parse().unwrap());
        config.market_data.listen_quic = Some("127.0.0.1:0".parse().unwrap());
        config.shards.segment_bytes = 1 << 20;
        tweak(&mut config);
        let lines = bootstrap_on(accounts, config.shards.count) + extra_bootstrap;
        std::fs::write(&bootstrap_path, lines).unwrap();
        let node = Node::start(config.clone()).unwrap();
        assert_eq!(
            node.bootstrap().rejected,
            0,
            "the bootstrap applies cleanly"
        );
        TestNode {
            node: Some(node),
            dir,
            config,
        }
    }

    pub fn node(&self) -> &Node {
        self.node.as_ref().unwrap()
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.node().addr()
    }

    pub fn login(&self, account: u32) -> Client {
        self.login_with(account, Options::default())
    }

    pub fn login_with(&self, account: u32, options: Options) -> Client {
        let mut client = Client::connect(self.addr(), credentials(account), options).unwrap();
        // Every login ends its (possibly empty) replay with `replay_complete`.
        client
            .wait_for(WAIT, |m| matches!(m, ServerMsg::ReplayComplete { .. }))
            .unwrap();
        client
    }

    /// Stops the node gracefully and starts it again on the same data directory.
    pub fn restart(&mut self) {
        let node = self.node.take().unwrap();
        node.shutdown().unwrap();
        self.node = Some(Node::start(self.config.clone()).unwrap());
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            let _ = node.shutdown();
        }
    }
}

/// A GTC order on market 1.
pub fn order(
    request_id: u64,
    client_order_id: u64,
    side: Side,
    odds_x100: u32,
    stake: i64,
) -> ClientMsg {
    ClientMsg::NewOrder(NewOrder {
        request_id,
        client_order_id,
        stake_minor: stake,
        market: MarketId(1),
        selection: SelectionId(1),
        odds_x100,
        side,
        tif: TimeInForce::Gtc,
        persistence: Persistence::Lapse,
        post_only: false,
    })
}

/// Waits for the report of `request_id` matching `pick`.
pub fn report_for(client: &mut Client, request_id: u64) -> Report {
    match client
        .wait_for(
            WAIT,
            |m| matches!(m, ServerMsg::Report(r) if r.header.request_id == request_id),
        )
        .unwrap()
    {
        ServerMsg::Report(report) => report,
        _ => unreachable!(),
    }
}

/// Waits for a report whose body satisfies `pick`.
pub fn report_where(client: &mut Client, mut pick: impl FnMut(&ReportBody) -> bool) -> Report {
    match client
        .wait_for(WAIT, |m| matches!(m, ServerMsg::Report(r) if pick(&r.body)))
        .unwrap()
    {
        ServerMsg::Report(report) => report,
        _ => unreachable!(),
    }
}

/// What a market-data reader keeps of the updates it reads.
pub trait Collect: Default + Send + 'static {
    /// Takes one update.
    fn take(&mut self, update: oddsmatch_net::subscriber::Update);
}

/// Market-data subscribers reading on their own threads until told to stop.
pub struct Readers<S> {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    news: std::sync::Arc<std::sync::atomic::AtomicU64>,
    threads: Vec<std::thread::JoinHandle<(oddsmatch_net::subscriber::Subscriber, S)>>,
}

impl<S: Collect> Readers<S> {
    pub fn start(subscribers: Vec<oddsmatch_net::subscriber::Subscriber>) -> Readers<S> {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let news = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let threads = subscribers
            .into_iter()
            .map(|mut sub| {
                let (stop, news) = (stop.clone(), news.clone());
                std::thread::spawn(move || {
                    let mut seen = S::default();
                    while !stop.load(Ordering::Acquire) {
                        if let Some(update) = sub.next(Duration::from_millis(20)).unwrap() {
                            seen.take(update);
                            news.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    (sub, seen)
                })
            })
            .collect();
        Readers {
            stop,
            news,
            threads,
        }
    }

    /// Waits until nothing has arrived for `quiet`, then stops the readers.
    pub fn finish(self, quiet: Duration) -> Vec<(oddsmatch_net::subscriber::Subscriber, S)> {
        use std::sync::atomic::Ordering;
        use std::time::Instant;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut count = self.news.load(Ordering::Relaxed);
        let mut since = Instant::now();
        while since.elapsed() < quiet {
            assert!(Instant::now() < deadline, "subscribers never went quiet");
            std::thread::sleep(Duration::from_millis(10));
            let now = self.news.load(Ordering::Relaxed);
            if now != count {
                (count, since) = (now, Instant::now());
            }
        }
        self.stop.store(true, Ordering::Release);
        self.threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect()
    }
}
