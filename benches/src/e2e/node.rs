//! The oddsmatch side: a node in this process with one shard, its journal in a temporary
//! directory, an open exchange market and one market-maker account whose key the client logs
//! in with, unthrottled.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use oddsmatch_journal::Durability;
use oddsmatch_net::gateway::ThrottleConfig;
use oddsmatch_net::node::{Node, NodeConfig};
use tempfile::TempDir;

use super::load::{Key, MARKET, SELECTION};

/// The account the benchmark trades with.
const ACCOUNT: u32 = 1;
/// Its key.
pub(super) const KEY: Key = Key {
    key_id: 1,
    secret: [0x5a; 32],
};
/// How long to wait for the journal's next segment to be prepared.
const PREPARER_WAIT: Duration = Duration::from_secs(30);
/// The disks are quiet when they have written less than [`QUIET_SECTORS`] in this long.
const DISK_QUIET: Duration = Duration::from_secs(1);
/// A megabyte, in 512-byte sectors.
const QUIET_SECTORS: u64 = 2_048;
/// How long to wait for them to be quiet.
const DISK_WAIT: Duration = Duration::from_secs(30);

/// A running node and the directory it lives in (deleted when dropped).
pub(super) struct BenchNode {
    node: Option<Node>,
    journal_dir: PathBuf,
    _dir: TempDir,
}

/// The bootstrap file: the account, its key and money, and the market, open.
fn bootstrap() -> String {
    let secret: String = KEY.secret.iter().map(|b| format!("{b:02x}")).collect();
    let other = SELECTION + 1;
    [
        format!(r#"{{"cmd":"create_account","account":{ACCOUNT},"tier":"market_maker"}}"#),
        format!(
            r#"{{"cmd":"set_api_key","account":{ACCOUNT},"key_id":{},"secret":"{secret}"}}"#,
            KEY.key_id
        ),
        format!(
            r#"{{"cmd":"deposit","account":{ACCOUNT},"amount":1000000000000,"transfer_id":1}}"#
        ),
        format!(
            r#"{{"cmd":"create_market","market":{MARKET},"selections":[{SELECTION},{other}]}}"#
        ),
        format!(r#"{{"cmd":"open_market","market":{MARKET}}}"#),
        String::new(),
    ]
    .join("\n")
}

impl BenchNode {
    /// Starts a node under `base` with the given journal durability. Returns it and whether
    /// the journal's next segment was prepared before the deadline (if not, the first run
    /// shares the machine with the preparer).
    pub(super) fn start(base: &Path, durability: Durability) -> Result<(BenchNode, bool), String> {
        let dir = tempfile::Builder::new()
            .prefix("oddsmatch-e2e-")
            .tempdir_in(base)
            .map_err(|e| format!("create a directory under {}: {e}", base.display()))?;
        let bootstrap_path = dir.path().join("bootstrap.jsonl");
        std::fs::write(&bootstrap_path, bootstrap())
            .map_err(|e| format!("write {}: {e}", bootstrap_path.display()))?;
        let mut config = NodeConfig {
            data_dir: dir.path().join("data"),
            bootstrap: Some(bootstrap_path),
            ..NodeConfig::default()
        };
        config.shards.count = 1;
        config.shards.durability = durability.to_string();
        config.gateway.listen = ([127, 0, 0, 1], 0).into();
        config.market_data.listen_tcp = Some(([127, 0, 0, 1], 0).into());
        config.market_data.listen_quic = None;
        config.gateway.throttle = ThrottleConfig::unlimited();
        let journal_dir = config.data_dir.join("shard-0");
        let node = Node::start(config).map_err(|e| format!("start the node: {e}"))?;
        let bootstrap = node.bootstrap();
        if bootstrap.rejected != 0 {
            let _ = node.shutdown();
            return Err(format!(
                "the bootstrap had {} of {} commands rejected",
                bootstrap.rejected, bootstrap.commands
            ));
        }
        let prepared = wait_for_prepared_segment(&journal_dir);
        Ok((
            BenchNode {
                node: Some(node),
                journal_dir,
                _dir: dir,
            },
            prepared,
        ))
    }

    fn node(&self) -> &Node {
        self.node.as_ref().expect("the node runs until stopped")
    }

    /// Where order entry listens.
    pub(super) fn addr(&self) -> std::net::SocketAddr {
        self.node().addr()
    }

    /// `busy` answers the gateway has sent so far.
    pub(super) fn busy(&self) -> u64 {
        self.node().gateway_stats().busy.load(Ordering::Relaxed)
    }

    /// Segment files in the shard's journal directory (the prepared one included).
    pub(super) fn segments(&self) -> usize {
        segment_files(&self.journal_dir).len()
    }

    /// Graceful stop (the shard snapshots), then the directory is deleted.
    pub(super) fn stop(mut self) -> Result<(), String> {
        let node = self.node.take().expect("the node runs until stopped");
        node.shutdown()
            .map(|_| ())
            .map_err(|e| format!("stop the node: {e}"))
    }
}

impl Drop for BenchNode {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            let _ = node.shutdown();
        }
    }
}

/// Waits until the disks have written less than a megabyte in the last second
/// (`/proc/diskstats`; elsewhere it sleeps a second). A stopping node flushes its journal
/// (hundreds of megabytes after the throughput run) and a `sync` node forces every batch out;
/// on a virtual machine the host's share of that work goes on after the writes return and
/// takes processor time from the guest, so the next measurement waits for it. (An idle node
/// still journals a timer input now and then, hence a rate and not silence.) Returns false if
/// it gave up (after 30 s).
pub(super) fn wait_for_quiet_disks() -> bool {
    let written = || -> Option<u64> {
        let stats = std::fs::read_to_string("/proc/diskstats").ok()?;
        // Field 10: sectors written (partitions count twice, which only makes this stricter).
        Some(
            stats
                .lines()
                .filter_map(|line| line.split_whitespace().nth(9)?.parse::<u64>().ok())
                .sum(),
        )
    };
    let Some(first) = written() else {
        std::thread::sleep(DISK_QUIET);
        return true;
    };
    let step = Duration::from_millis(100);
    let window = (DISK_QUIET.as_millis() / step.as_millis()) as usize;
    let mut samples = std::collections::VecDeque::from([first]);
    let start = Instant::now();
    while start.elapsed() < DISK_WAIT {
        std::thread::sleep(step);
        samples.push_back(written().unwrap_or(first));
        if samples.len() > window + 1 {
            samples.pop_front();
        }
        if samples.len() == window + 1 && samples[window].saturating_sub(samples[0]) < QUIET_SECTORS
        {
            return true;
        }
    }
    false
}

fn segment_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut segments: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".seg"))
        .collect();
    segments.sort();
    segments
}

/// Waits until the journal has prepared the segment after its first one, so that the first
/// measured run does not share the machine with the preparer (which creates, allocates, syncs
/// and maps a whole segment on a background thread). On Linux it waits for that segment's
/// mapping to be fully resident (`/proc/self/smaps`); elsewhere it sleeps 500 ms.
fn wait_for_prepared_segment(dir: &Path) -> bool {
    if !Path::new("/proc/self/smaps").exists() {
        std::thread::sleep(Duration::from_millis(500));
        return true;
    }
    let start = Instant::now();
    while start.elapsed() < PREPARER_WAIT {
        let segments = segment_files(dir);
        if segments.len() >= 2
            && let Ok(path) = std::fs::canonicalize(dir.join(&segments[segments.len() - 1]))
            && let Ok(bytes) = std::fs::metadata(&path).map(|m| m.len())
            && resident_bytes(&path.display().to_string()) >= bytes
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// Bytes of the mappings of `path` resident in this process, from `/proc/self/smaps`.
fn resident_bytes(path: &str) -> u64 {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let mut in_mapping = false;
    let mut resident_kb = 0;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header line: `start-end perms offset dev inode [path]`.
            in_mapping = line.ends_with(path);
        } else if in_mapping && let Some(rest) = line.strip_prefix("Rss:") {
            let kb = rest.trim().trim_end_matches("kB").trim();
            resident_kb += kb.parse::<u64>().unwrap_or(0);
        }
    }
    resident_kb * 1024
}
