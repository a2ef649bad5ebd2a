//! The oddsmatch side: `oddsmatch serve` as a child process (its own file descriptors, its own
//! threads), configured for the run, and the processor time of its threads.
//!
//! The node listens on free loopback ports for order entry, market data over TCP and over
//! QUIC, and prints the addresses (and the QUIC certificate's fingerprint) on its standard
//! output, which is read here. Its log (warnings only) goes to a file in its directory.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use oddsmatch_engine::MarketId;
use oddsmatch_net::gateway::ThrottleConfig;
use oddsmatch_net::market_data::quic::parse_fingerprint;
use oddsmatch_net::node::NodeConfig;
use oddsmatch_net::proto::md::{MdServerMsg, Streams};
use oddsmatch_net::subscriber::{Subscriber, Update};
use tempfile::TempDir;

/// The market maker's account, who moves the prices.
const ACCOUNT: u32 = 1;
/// Its API key.
pub(super) const KEY_ID: u64 = 1;
/// The key's secret.
pub(super) const SECRET: [u8; 32] = [0x5a; 32];
/// Selections of every market.
pub(super) const SELECTIONS: [u32; 3] = [1, 2, 3];
/// How long the node may take to print its addresses.
const START_WAIT: Duration = Duration::from_secs(60);
/// How long it may take to stop after SIGTERM before it is killed.
const STOP_WAIT: Duration = Duration::from_secs(30);
/// How long the node may take to come up.
const CONTROL_WAIT: Duration = Duration::from_secs(30);
/// Subscriptions one anonymous session may hold in the run (the 100x case takes 25).
const SUBSCRIPTIONS_PER_SESSION: usize = 64;
/// A subscriber that sends nothing for this long is dropped (they send a heartbeat every few
/// seconds; a loaded client machine may be late with one).
const IDLE_TIMEOUT_MS: u64 = 60_000;

/// A running `oddsmatch serve` and its directory (deleted when dropped).
pub(super) struct Server {
    child: Option<Child>,
    /// Where order entry listens.
    pub(super) order_entry: SocketAddr,
    /// Where market data listens over TCP.
    pub(super) tcp: SocketAddr,
    /// Where market data listens over QUIC, and the certificate's fingerprint.
    pub(super) quic: Option<(SocketAddr, [u8; 32])>,
    log: PathBuf,
    _dir: TempDir,
}

/// The bootstrap: the market maker, its key and money, and the markets, open, ticking at most
/// every 100 ms on a 1 % move, with heartbeat ticks only after 10 s of silence.
fn bootstrap(markets: u32) -> String {
    let secret: String = SECRET.iter().map(|b| format!("{b:02x}")).collect();
    let mut lines = vec![
        format!(r#"{{"cmd":"create_account","account":{ACCOUNT},"tier":"market_maker"}}"#),
        format!(
            r#"{{"cmd":"set_api_key","account":{ACCOUNT},"key_id":{KEY_ID},"secret":"{secret}"}}"#
        ),
        format!(
            r#"{{"cmd":"deposit","account":{ACCOUNT},"amount":1000000000000,"transfer_id":1}}"#
        ),
    ];
    let selections: Vec<String> = SELECTIONS.iter().map(u32::to_string).collect();
    for market in 1..=markets {
        lines.push(format!(
            r#"{{"cmd":"create_market","market":{market},"selections":[{}],"odds_tick_interval_ms":100,"odds_heartbeat_ms":10000,"odds_change_threshold_bps":100}}"#,
            selections.join(",")
        ));
        lines.push(format!(r#"{{"cmd":"open_market","market":{market}}}"#));
    }
    lines.push(String::new());
    lines.join("\n")
}

/// The configuration file: room for `connections` subscribers and enough subscriptions,
/// `threads` market-data writer threads, no throttle on the market maker, everything else as
/// shipped.
fn config(data_dir: &Path, connections: usize, threads: usize) -> Result<String, String> {
    let mut config = NodeConfig {
        data_dir: data_dir.to_owned(),
        ..NodeConfig::default()
    };
    config.gateway.throttle = ThrottleConfig::unlimited();
    let market_data = &mut config.market_data;
    market_data.max_connections = market_data.max_connections.max(connections + 16);
    market_data.anonymous_subscriptions = SUBSCRIPTIONS_PER_SESSION;
    market_data.max_subscriptions = market_data
        .max_subscriptions
        .max((connections + 16) * SUBSCRIPTIONS_PER_SESSION);
    market_data.idle_timeout_ms = IDLE_TIMEOUT_MS;
    market_data.threads = threads;
    toml::to_string_pretty(&config).map_err(|e| format!("the node's configuration: {e}"))
}

/// What `serve` prints at start.
#[derive(Debug, Default, PartialEq, Eq)]
struct Banner {
    order_entry: Option<SocketAddr>,
    tcp: Option<SocketAddr>,
    quic: Option<(SocketAddr, [u8; 32])>,
}

impl Banner {
    /// Reads one line of `serve`'s output.
    fn read(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("oddsmatch serve: ") else {
            return;
        };
        if let Some(rest) = rest.strip_prefix("order entry on ") {
            let mut parts = rest.split(", ");
            self.order_entry = parts.next().and_then(|a| a.parse().ok());
            self.tcp = parts
                .next()
                .and_then(|p| p.strip_prefix("market data on "))
                .and_then(|a| a.parse().ok());
        } else if let Some(rest) = rest.strip_prefix("market data over QUIC on ") {
            let mut parts = rest.split(", certificate SHA-256 ");
            let addr = parts.next().and_then(|a| a.parse().ok());
            let fingerprint = parts.next().and_then(parse_fingerprint);
            if let (Some(addr), Some(fingerprint)) = (addr, fingerprint) {
                self.quic = Some((addr, fingerprint));
            }
        }
    }
}

impl Server {
    /// Starts `exe serve` under `base` with `markets` markets, room for `connections`
    /// subscribers and `threads` market-data writer threads, and waits until its market data
    /// knows the markets.
    pub(super) fn start(
        exe: &Path,
        base: &Path,
        markets: u32,
        connections: usize,
        threads: usize,
    ) -> Result<Server, String> {
        let dir = tempfile::Builder::new()
            .prefix("oddsmatch-fanout-")
            .tempdir_in(base)
            .map_err(|e| format!("create a directory under {}: {e}", base.display()))?;
        let write = |name: &str, text: &str| -> Result<PathBuf, String> {
            let path = dir.path().join(name);
            std::fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
            Ok(path)
        };
        let data_dir = dir.path().join("data");
        let bootstrap = write("bootstrap.jsonl", &bootstrap(markets))?;
        let config = write("node.toml", &config(&data_dir, connections, threads)?)?;
        let log = dir.path().join("serve.log");
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
        let loopback = "127.0.0.1:0";
        let mut command = Command::new(exe);
        // SAFETY: between fork and exec the hook only makes one system call, which allocates
        // nothing and takes no lock.
        unsafe {
            command.pre_exec(|| {
                // The node stops (gracefully) if this process dies before stopping it.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--bootstrap")
            .arg(&bootstrap)
            .args(["--listen", loopback, "--market-data-listen", loopback])
            .args(["--market-data-quic", loopback, "--log", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("start {} serve: {e}", exe.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let (lines_tx, lines) = mpsc::channel();
        std::thread::Builder::new()
            .name("fanout-serve-out".to_owned())
            .spawn(move || {
                // Read to the end even when nobody listens any more: a closed pipe would
                // make the node's later lines fail.
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let _ = lines_tx.send(line);
                }
            })
            .map_err(|e| format!("read the node's output: {e}"))?;
        let mut server = Server {
            child: Some(child),
            order_entry: SocketAddr::from(([127, 0, 0, 1], 0)),
            tcp: SocketAddr::from(([127, 0, 0, 1], 0)),
            quic: None,
            log,
            _dir: dir,
        };
        let banner = server.banner(&lines)?;
        server.order_entry = banner.order_entry.expect("checked by banner");
        server.tcp = banner.tcp.expect("checked by banner");
        server.quic = banner.quic;
        // Subscriptions are refused until the publisher has the shards' first snapshot.
        let deadline = Instant::now() + CONTROL_WAIT;
        loop {
            match market_seqs(server.tcp, MarketId(1), 1, CONTROL_WAIT) {
                Ok(_) => break,
                Err(error) if Instant::now() >= deadline => {
                    return Err(format!(
                        "the node's market data did not come up: {error}{}",
                        server.log_tail()
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        Ok(server)
    }

    /// Waits (at most `limit`) until the node uses less than a tenth of a core over a second:
    /// its start-up work (the journal preparing its next segment) is done. Returns false if it
    /// gave up.
    pub(super) fn wait_until_quiet(&self, limit: Duration) -> bool {
        let total = || thread_times(self.pid()).values().sum::<u64>();
        let per_second = clock_ticks_per_second();
        let start = Instant::now();
        let mut before = total();
        while start.elapsed() < limit {
            std::thread::sleep(Duration::from_secs(1));
            let now = total();
            if now.saturating_sub(before) * 10 < per_second {
                return true;
            }
            before = now;
        }
        false
    }

    /// Reads the start lines: the addresses, then (briefly waited for) the QUIC line.
    fn banner(&mut self, lines: &mpsc::Receiver<String>) -> Result<Banner, String> {
        let mut banner = Banner::default();
        let deadline = Instant::now() + START_WAIT;
        while banner.order_entry.is_none() || banner.tcp.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => banner.read(&line),
                Err(_) => {
                    return Err(format!(
                        "the node printed no addresses within {} s{}",
                        START_WAIT.as_secs(),
                        self.log_tail()
                    ));
                }
            }
        }
        // The QUIC line follows at once when QUIC listens.
        let deadline = Instant::now() + Duration::from_secs(2);
        while banner.quic.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => banner.read(&line),
                Err(_) => break,
            }
        }
        Ok(banner)
    }

    /// The process id.
    pub(super) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The end of the node's log, for an error message.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(10)..].join("\n");
        if tail.is_empty() {
            String::new()
        } else {
            format!("; its log ends:\n{tail}")
        }
    }

    /// Warnings the node logged (lines of its log).
    pub(super) fn log_lines(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .map(|text| text.lines().count())
            .unwrap_or(0)
    }

    /// SIGTERM, and a wait for the graceful stop (killed if it takes too long).
    pub(super) fn stop(mut self) -> Result<(), String> {
        self.stop_now()
    }

    fn stop_now(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = libc::pid_t::try_from(child.id()).map_err(|e| e.to_string())?;
        // SAFETY: `kill` has no memory effects; `pid` is our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_WAIT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    return Err(format!("the node stopped with {status}{}", self.log_tail()));
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "the node did not stop within {} s of SIGTERM; killed",
                        STOP_WAIT.as_secs()
                    ));
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop_now();
    }
}

/// The tick sequence numbers of `count` markets from `first`, from a fresh subscription's
/// snapshots (a control connection of its own), within `wait`.
pub(super) fn market_seqs(
    addr: SocketAddr,
    first: MarketId,
    count: u32,
    wait: Duration,
) -> Result<Vec<u64>, String> {
    let mut feed = Subscriber::connect(addr).map_err(|e| format!("control subscriber: {e}"))?;
    for market in first.0..first.0 + count {
        feed.subscribe(MarketId(market), Streams::TICKS)
            .map_err(|e| format!("control subscriber: {e}"))?;
    }
    let mut seqs: Vec<Option<u64>> = vec![None; count as usize];
    let deadline = Instant::now() + wait;
    while seqs.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("control subscriber: no snapshot in time".into());
        }
        match feed
            .next(left)
            .map_err(|e| format!("control subscriber: {e}"))?
        {
            Some(Update::Message(MdServerMsg::Snapshot(snapshot))) => {
                if let Some(seq) = snapshot
                    .market
                    .0
                    .checked_sub(first.0)
                    .and_then(|index| seqs.get_mut(index as usize))
                {
                    seq.get_or_insert(snapshot.tick_seq);
                }
            }
            Some(Update::Message(MdServerMsg::Rejected { reason, market, .. })) => {
                return Err(format!(
                    "control subscriber: market {} refused ({reason:?})",
                    market.0
                ));
            }
            _ => {}
        }
    }
    Ok(seqs.into_iter().map(|seq| seq.unwrap_or(0)).collect())
}

/// Processor time of a process's threads, by thread name, in clock ticks.
pub(super) fn thread_times(pid: u32) -> BTreeMap<String, u64> {
    let mut times = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return times;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        if let Some((name, ticks)) = parse_stat(&stat) {
            *times.entry(name).or_insert(0) += ticks;
        }
    }
    times
}

/// A thread's name and user plus system time from its `stat` line.
fn parse_stat(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    // After the name: state (field 3), ..., utime (14), stime (15).
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((name, user + system))
}

/// The id of a running process named `name` (its `comm`), if there is one.
pub(super) fn find_process(name: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            (comm.trim() == name).then_some(pid)
        })
}

/// Clock ticks per second of `/proc`'s times.
pub(super) fn clock_ticks_per_second() -> u64 {
    // SAFETY: `sysconf` only reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_lines_give_the_addresses_and_fingerprint() {
        let mut banner = Banner::default();
        banner.read(
            "oddsmatch serve: order entry on 127.0.0.1:4001, market data on 127.0.0.1:4002, \
             data in /tmp/x, 1 shard(s)",
        );
        let fingerprint = "ab".repeat(32);
        banner.read(&format!(
            "oddsmatch serve: market data over QUIC on 127.0.0.1:4003, certificate SHA-256 \
             {fingerprint}"
        ));
        banner.read("something else");
        assert_eq!(banner.order_entry, Some("127.0.0.1:4001".parse().unwrap()));
        assert_eq!(banner.tcp, Some("127.0.0.1:4002".parse().unwrap()));
        assert_eq!(
            banner.quic,
            Some(("127.0.0.1:4003".parse().unwrap(), [0xab; 32]))
        );
        let mut off = Banner::default();
        off.read("oddsmatch serve: order entry on 127.0.0.1:1, market data on off, data in x");
        assert_eq!(off.tcp, None);
    }

    #[test]
    fn thread_times_read_names_with_spaces_and_parentheses() {
        let stat = "123 (md (pub) x) S 1 2 3 4 5 6 7 8 9 10 250 30 0 0 20 0";
        assert_eq!(parse_stat(stat), Some(("md (pub) x".to_owned(), 280)));
        assert!(!thread_times(std::process::id()).is_empty());
    }

    #[test]
    fn the_configuration_reads_back() {
        let text = config(Path::new("/data"), 10_000, 3).unwrap();
        let config: NodeConfig = toml::from_str(&text).unwrap();
        assert!(config.market_data.max_connections >= 10_000);
        assert_eq!(config.market_data.anonymous_subscriptions, 64);
        assert_eq!(config.market_data.threads, 3);
        assert_eq!(config.gateway.throttle, ThrottleConfig::unlimited());
        assert_eq!(bootstrap(2).lines().count(), 3 + 2 * 2);
    }
}
