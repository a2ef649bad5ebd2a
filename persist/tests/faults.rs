//! Faults during the flush, against the real Postgres server, each test in a schema of its own:
//! a crash between COPY and commit, a crash after a commit, a network that cuts, stalls and
//! refuses connections, and a batch that Postgres refuses. After each, every row lands exactly
//! once and the checkpoint names the last record committed.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use oddsmatch_engine::shard::Recorder;
use oddsmatch_engine::testkit::StreamGen;
use oddsmatch_engine::{Engine, EngineConfig, Event, Input};
use oddsmatch_journal::JournalConfig;
use oddsmatch_persist::rows::{RowOptions, Rows};
use oddsmatch_persist::schema;
use oddsmatch_persist::{
    CrashPoint, Faults, PersistConfig, PersistError, Persister, Progress, Source,
};
use parking_lot::Mutex;
use support::*;
use tokio_postgres::Client;

/// Every input applied, with its events; the input at index `i` is journal record `i + 1`.
type Applied = [(Input, Vec<Event>)];

/// What the tables hold (or should hold) for shard 0: the checkpoint, the journal positions
/// `(seq, event_index)` of every table's rows in order, and sums of a few amounts.
#[derive(Debug, PartialEq)]
struct Contents {
    checkpoint: Option<i64>,
    keys: Vec<(&'static str, Vec<(i64, i32)>)>,
    sums: Vec<(&'static str, i64)>,
}

/// The amounts summed: `(table, column)`.
const SUMS: &[(&str, &str)] = &[
    ("trades", "stake_minor"),
    ("ledger", "amount_minor"),
    ("ledger", "balance_minor"),
    ("pool_bets", "stake_minor"),
    ("payouts", "pnl_minor"),
];

/// The rows of records `1..=last_seq` of `applied`.
fn expected_rows(applied: &Applied, last_seq: u64) -> Rows {
    let mut rows = Rows::default();
    for (index, (input, events)) in applied[..last_seq as usize].iter().enumerate() {
        rows.push_record(0, index as u64 + 1, input, events, RowOptions::default());
    }
    rows
}

/// What the tables should hold once records `1..=last_seq` are committed.
fn expected(applied: &Applied, last_seq: u64) -> Contents {
    let rows = expected_rows(applied, last_seq);
    macro_rules! keys {
        ($($table:ident),*) => {
            vec![$((
                stringify!($table),
                rows.$table.iter().map(|r| (r.key.seq, r.key.event_index)).collect(),
            )),*]
        };
    }
    let keys: Vec<(&'static str, Vec<(i64, i32)>)> = keys!(
        markets,
        market_status,
        accounts,
        account_events,
        order_events,
        trades,
        pool_bets,
        settlements,
        payouts,
        ledger,
        votes,
        market_events,
        account_limits,
        market_changes,
        odds_ticks,
        selection_odds
    );
    let tables: Vec<&str> = keys.iter().map(|(table, _)| *table).collect();
    assert_eq!(tables, Rows::TABLES, "a table is missing from this test");
    let sum = |table: &str, column: &str| -> i64 {
        match (table, column) {
            ("trades", "stake_minor") => rows.trades.iter().map(|r| r.stake_minor).sum(),
            ("ledger", "amount_minor") => rows.ledger.iter().map(|r| r.amount_minor).sum(),
            ("ledger", "balance_minor") => rows.ledger.iter().map(|r| r.balance_minor).sum(),
            ("pool_bets", "stake_minor") => rows.pool_bets.iter().map(|r| r.stake_minor).sum(),
            ("payouts", "pnl_minor") => rows.payouts.iter().map(|r| r.pnl_minor).sum(),
            _ => unreachable!("no expected sum of {table}.{column}"),
        }
    };
    Contents {
        checkpoint: Some(last_seq as i64),
        keys,
        sums: SUMS.iter().map(|&(t, c)| (t, sum(t, c))).collect(),
    }
}

/// What the tables of `schema` hold.
async fn contents(client: &Client, schema: &str) -> Contents {
    let checkpoint = client
        .query_opt(
            &format!("SELECT seq FROM {schema}.checkpoints WHERE shard = 0"),
            &[],
        )
        .await
        .unwrap()
        .map(|row| row.get::<_, i64>(0));
    let mut keys = Vec::new();
    for table in Rows::TABLES {
        let rows = client
            .query(
                &format!(
                    "SELECT shard, seq, event_index FROM {schema}.{table} ORDER BY seq, event_index"
                ),
                &[],
            )
            .await
            .unwrap();
        assert!(
            rows.iter().all(|row| row.get::<_, i16>(0) == 0),
            "{table}: another shard"
        );
        keys.push((
            *table,
            rows.iter().map(|row| (row.get(1), row.get(2))).collect(),
        ));
    }
    let mut sums = Vec::new();
    for &(table, column) in SUMS {
        let row = client
            .query_one(
                &format!("SELECT coalesce(sum({column}), 0)::bigint FROM {schema}.{table}"),
                &[],
            )
            .await
            .unwrap();
        sums.push((table, row.get(0)));
    }
    Contents {
        checkpoint,
        keys,
        sums,
    }
}

/// Asserts that `schema` holds exactly `expected`, naming each difference briefly.
fn assert_holds(schema: &str, expected: &Contents, when: &str) {
    let actual = run(async { contents(&connect().await, schema).await });
    let mut differences = Vec::new();
    if actual.checkpoint != expected.checkpoint {
        differences.push(format!(
            "checkpoint {:?}, expected {:?}",
            actual.checkpoint, expected.checkpoint
        ));
    }
    for ((table, got), (_, want)) in actual.keys.iter().zip(&expected.keys) {
        if got != want {
            let at = got
                .iter()
                .zip(want)
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(want.len()));
            differences.push(format!(
                "{table}: {} rows, expected {}; from row {at}: {:?} where {:?} was expected; \
                 last row {:?}",
                got.len(),
                want.len(),
                got.get(at),
                want.get(at),
                got.last(),
            ));
        }
    }
    for ((name, got), (_, want)) in actual.sums.iter().zip(&expected.sums) {
        if got != want {
            differences.push(format!("sum over {name}: {got}, expected {want}"));
        }
    }
    assert!(
        differences.is_empty(),
        "{when}: the tables differ from the journal:\n  {}",
        differences.join("\n  ")
    );
}

/// Asserts that `contents` is worth comparing: rows in `tables` tables at least, trades and
/// ledger postings among them.
fn assert_substantial(contents: &Contents, tables: usize) {
    let filled = contents.keys.iter().filter(|(_, keys)| !keys.is_empty());
    assert!(filled.count() >= tables, "{:?}", counts(contents));
    for table in ["trades", "ledger", "order_events"] {
        let keys = &contents.keys.iter().find(|(t, _)| *t == table).unwrap().1;
        assert!(!keys.is_empty(), "no {table}: {:?}", counts(contents));
    }
}

fn counts(contents: &Contents) -> Vec<(&str, usize)> {
    contents
        .keys
        .iter()
        .map(|(table, keys)| (*table, keys.len()))
        .collect()
}

/// A flush of one shard with batches of exactly `batch_records` records (never cut by rows).
fn config(schema: &str, batch_records: usize) -> PersistConfig {
    PersistConfig {
        schema: schema.to_owned(),
        batch_records,
        batch_rows: 100_000_000,
        retry_min_ms: 20,
        retry_max_ms: 200,
        ..PersistConfig::new(url())
    }
}

/// Polls shard 0's progress until `done` holds; fails after `within`.
fn wait_for(
    persister: &Persister,
    within: Duration,
    what: &str,
    done: impl Fn(&Progress) -> bool,
) -> Progress {
    let until = Instant::now() + within;
    loop {
        let progress = persister.progress().remove(0);
        if done(&progress) {
            return progress;
        }
        assert!(
            Instant::now() < until,
            "waited {within:?} for {what}: {progress:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Flushes a journal with a crash at `point` of the third batch, then flushes it again to its
/// end: the crash leaves exactly the batches committed before it, and the second run writes
/// exactly the rest.
fn crash_then_restart(test: &str, point: CrashPoint) {
    const BATCH: u64 = 200;
    let dir = scratch(&format!("faults-{test}"));
    let (engine, applied) = write_journal(&dir, 11, 2_000, Some(1 << 20));
    let last_seq = engine.seq();
    assert_eq!(last_seq, applied.len() as u64);
    assert!(last_seq > 5 * BATCH);
    let schema = unique_schema(test);
    let _guard = SchemaGuard(schema.clone());
    let config = config(&schema, BATCH as usize);

    let faults: Faults = Arc::new(move |at, shard, batch| at == point && shard == 0 && batch == 3);
    let persister =
        Persister::start_with_faults(config.clone(), vec![Source::to_end(0, &dir)], Some(faults))
            .unwrap();
    match persister.wait() {
        Err(PersistError::Crashed {
            shard: 0,
            point: at,
            batch: 3,
        }) if at == point => {}
        other => panic!("expected a crash at {point:?} of batch 3: {other:?}"),
    }
    let committed = match point {
        CrashPoint::BeforeCommit => 2 * BATCH,
        CrashPoint::AfterCommit => 3 * BATCH,
    };
    let after_crash = expected(&applied, committed);
    assert_substantial(&after_crash, 8);
    assert_holds(&schema, &after_crash, "after the crash");

    let progress = Persister::start(config, vec![Source::to_end(0, &dir)])
        .unwrap()
        .wait()
        .unwrap();
    let all = expected(&applied, last_seq);
    let rows_after =
        (expected_rows(&applied, last_seq).len() - expected_rows(&applied, committed).len()) as u64;
    let progress = &progress[0];
    assert_eq!(progress.committed_seq, last_seq, "{progress:?}");
    // The second run started right after the checkpoint: it wrote each remaining record once.
    assert_eq!(progress.records, last_seq - committed, "{progress:?}");
    assert_eq!(progress.batches, (last_seq - committed).div_ceil(BATCH));
    assert_eq!(progress.rows, rows_after, "{progress:?}");
    assert_eq!(progress.retries, 0, "{progress:?}");
    assert_substantial(&all, 12);
    assert_holds(&schema, &all, "after the restart");
}

#[test]
fn a_crash_between_copy_and_commit_loses_the_batch_and_the_restart_writes_it_once() {
    crash_then_restart("crash_before_commit", CrashPoint::BeforeCommit);
}

#[test]
fn a_crash_after_a_commit_keeps_the_batch_and_the_restart_does_not_repeat_it() {
    crash_then_restart("crash_after_commit", CrashPoint::AfterCommit);
}

#[test]
fn a_batch_postgres_refuses_writes_none_of_its_rows_until_it_can_write_all() {
    const BATCH: u64 = 200;
    let dir = scratch("faults-all_or_nothing");
    let (engine, applied) = write_journal(&dir, 11, 2_000, Some(1 << 20));
    let last_seq = engine.seq();
    let schema = unique_schema("all_or_nothing");
    let _guard = SchemaGuard(schema.clone());

    // A ledger row already at the position of a posting in the middle of batch 2. The ledger
    // is copied after the orders and trades, so batch 2 has rows copied before the refusal,
    // some of them of records before the conflicting one.
    let batch_2 = expected_rows(&applied, 2 * BATCH);
    let middle: Vec<_> = batch_2
        .ledger
        .iter()
        .filter(|r| (BATCH + BATCH / 4..=2 * BATCH - BATCH / 4).contains(&(r.key.seq as u64)))
        .collect();
    assert!(
        !middle.is_empty(),
        "no ledger posting in the middle of batch 2"
    );
    let conflict = middle[middle.len() / 2].key;
    let before_conflict = |table: &[(i64, i32)]| {
        table
            .iter()
            .any(|&(seq, _)| seq as u64 > BATCH && seq < conflict.seq)
    };
    let batch_2_contents = expected(&applied, 2 * BATCH);
    for table in ["order_events", "trades", "ledger"] {
        let keys = &batch_2_contents
            .keys
            .iter()
            .find(|(t, _)| *t == table)
            .unwrap()
            .1;
        assert!(
            before_conflict(keys),
            "no {table} row in batch 2 before {conflict:?}"
        );
    }
    run(async {
        let mut client = connect().await;
        schema::migrate(&mut client, &schema).await.unwrap();
        client
            .execute(
                &format!(
                    "INSERT INTO {schema}.ledger (shard, seq, event_index, ts, account, kind, \
                     amount_minor, balance_minor, reference) \
                     VALUES (0, $1, $2, now(), 0, 'conflict', 0, 0, 0)"
                ),
                &[&conflict.seq, &conflict.event_index],
            )
            .await
            .unwrap();
    });

    let persister = Persister::start(
        config(&schema, BATCH as usize),
        vec![Source::to_end(0, &dir)],
    )
    .unwrap();
    let stuck = wait_for(
        &persister,
        Duration::from_secs(10),
        "batch 2 to be refused twice",
        |p| p.last_error.is_some() && p.retries >= 2,
    );
    assert_eq!(stuck.committed_seq, BATCH, "{stuck:?}");
    assert!(!stuck.finished, "{stuck:?}");
    let error = stuck.last_error.as_deref().unwrap();
    assert!(error.contains("writing a batch"), "{error}");
    assert!(error.contains("duplicate key"), "{error}");
    // Only batch 1, checkpoint included (the conflicting row aside, checked below).
    let mut batch_1 = expected(&applied, BATCH);
    let ledger = &mut batch_1
        .keys
        .iter_mut()
        .find(|(t, _)| *t == "ledger")
        .unwrap()
        .1;
    ledger.push((conflict.seq, conflict.event_index));
    assert_substantial(&batch_1, 8);
    assert_holds(&schema, &batch_1, "while batch 2 is refused");

    run(async {
        let client = connect().await;
        let deleted = client
            .execute(
                &format!(
                    "DELETE FROM {schema}.ledger WHERE shard = 0 AND seq = $1 AND event_index = $2"
                ),
                &[&conflict.seq, &conflict.event_index],
            )
            .await
            .unwrap();
        assert_eq!(deleted, 1);
    });
    let progress = persister.wait().unwrap();
    assert_eq!(progress[0].committed_seq, last_seq, "{progress:?}");
    assert_eq!(progress[0].records, last_seq, "{progress:?}");
    let all = expected(&applied, last_seq);
    assert_substantial(&all, 12);
    assert_holds(&schema, &all, "once the conflict is gone");
}

/// What the proxy does with the bytes.
const FORWARD: u8 = 0;
/// Keep every connection open, accept new ones, forward nothing.
const STALL: u8 = 1;
/// Close every new connection at once.
const REFUSE: u8 = 2;

/// A TCP proxy to the Postgres server that a test can make cut, stall or refuse connections.
struct Proxy {
    port: u16,
    shared: Arc<ProxyShared>,
    acceptor: Option<JoinHandle<()>>,
}

struct ProxyShared {
    upstream: SocketAddr,
    mode: AtomicU8,
    stop: AtomicBool,
    /// Every connection forwarded since the last cut. Changes of mode take this lock too, so
    /// that a connection is either cut or sees the new mode.
    open: Mutex<Vec<Connection>>,
    accepted: AtomicU64,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(ProxyShared {
            upstream,
            mode: AtomicU8::new(FORWARD),
            stop: AtomicBool::new(false),
            open: Mutex::new(Vec::new()),
            accepted: AtomicU64::new(0),
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                while !shared.stop.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((client, _)) => shared.clone().open_connection(client),
                        Err(error) if error.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Err(error) => panic!("proxy: accept: {error}"),
                    }
                }
            })
        };
        Proxy {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Switches to `mode`, cutting every open connection first if `cut`.
    fn set(&self, mode: u8, cut: bool) {
        let mut open = self.shared.open.lock();
        if cut {
            for connection in open.drain(..) {
                let _ = connection.client.shutdown(Shutdown::Both);
                let _ = connection.server.shutdown(Shutdown::Both);
            }
        }
        self.shared.mode.store(mode, Ordering::Release);
    }
}

/// Both ends of a forwarded connection.
struct Connection {
    client: TcpStream,
    server: TcpStream,
    /// Stalled alone, whatever the proxy's mode.
    held: Arc<AtomicBool>,
}

impl ProxyShared {
    /// Stalls (or releases) every connection open now; new ones are not affected.
    fn hold_open(&self, held: bool) {
        for connection in self.open.lock().iter() {
            connection.held.store(held, Ordering::Release);
        }
    }

    fn open_connection(self: Arc<Self>, client: TcpStream) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        client.set_nonblocking(false).unwrap();
        if self.mode.load(Ordering::Acquire) == REFUSE {
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        let Ok(server) = TcpStream::connect_timeout(&self.upstream, Duration::from_secs(1)) else {
            let _ = client.shutdown(Shutdown::Both);
            return;
        };
        let _ = (client.set_nodelay(true), server.set_nodelay(true));
        let held = Arc::new(AtomicBool::new(false));
        {
            let mut open = self.open.lock();
            if self.mode.load(Ordering::Acquire) == REFUSE {
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
            open.push(Connection {
                client: client.try_clone().unwrap(),
                server: server.try_clone().unwrap(),
                held: held.clone(),
            });
        }
        let (client_2, server_2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let (shared, held_2) = (self.clone(), held.clone());
        std::thread::spawn(move || shared.pump(client, server, &held));
        std::thread::spawn(move || self.pump(server_2, client_2, &held_2));
    }

    /// Copies `from` to `to` until either ends, holding each chunk while the proxy stalls.
    fn pump(&self, mut from: TcpStream, mut to: TcpStream, held: &AtomicBool) {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            let length = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(length) => length,
            };
            while (self.mode.load(Ordering::Acquire) == STALL || held.load(Ordering::Acquire))
                && !self.stop.load(Ordering::Acquire)
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            if to.write_all(&buffer[..length]).is_err() {
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.set(FORWARD, true);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// The test server's address, and the connection string to it through a proxy at `port`.
/// A `postgresql://` URL or a Unix socket in `ODDSMATCH_TEST_POSTGRES` is not parsed: the
/// default server is used then.
fn through_proxy(port: u16) -> (SocketAddr, String) {
    let default = || {
        let upstream: SocketAddr = "127.0.0.1:5432".parse().unwrap();
        (upstream, "user=postgres dbname=test".to_owned())
    };
    let url = url();
    let mut host = "127.0.0.1".to_owned();
    let mut server_port = 5432u16;
    let mut rest = Vec::new();
    let mut parsed = true;
    for pair in url.split_whitespace() {
        match pair.split_once('=') {
            Some(("host" | "hostaddr", value)) => host = value.to_owned(),
            Some(("port", value)) => match value.parse() {
                Ok(value) => server_port = value,
                Err(_) => parsed = false,
            },
            Some(_) => rest.push(pair),
            None => parsed = false,
        }
    }
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), server_port))
        .ok()
        .and_then(|mut addresses| addresses.next());
    let (upstream, rest) = match upstream {
        Some(upstream) if parsed && !host.starts_with('/') => (upstream, rest.join(" ")),
        _ => default(),
    };
    (upstream, format!("host=127.0.0.1 port={port} {rest}"))
}

/// A journal written as the test goes, the way a live shard writes it.
struct LiveJournal {
    engine: Engine,
    recorder: Recorder,
    generator: StreamGen,
    applied: Vec<(Input, Vec<Event>)>,
}

impl LiveJournal {
    fn create(dir: &Path, seed: u64) -> LiveJournal {
        let engine: Engine = Engine::new(EngineConfig::default());
        let recorder = Recorder::create(JournalConfig::new(dir), &engine).unwrap();
        LiveJournal {
            engine,
            recorder,
            generator: StreamGen::new(seed, 1_700_000_000_000_000_000),
            applied: Vec::new(),
        }
    }

    fn append(&mut self, inputs: Vec<Input>) {
        for input in inputs {
            let mut events = Vec::new();
            let seq = self.engine.apply(&input, &mut events);
            self.recorder.record(seq, &input, &events).unwrap();
            self.recorder.commit().unwrap();
            self.applied.push((input, events));
            assert_eq!(seq, self.applied.len() as u64);
        }
    }

    /// Appends `count` random commands in chunks spread over `over`.
    fn feed(&mut self, count: usize, over: Duration) {
        const CHUNKS: usize = 10;
        for chunk in 0..CHUNKS {
            let commands = self.generator.commands(count / CHUNKS);
            self.append(commands);
            if chunk + 1 < CHUNKS {
                std::thread::sleep(over / CHUNKS as u32);
            }
        }
    }

    fn last_seq(&self) -> u64 {
        self.applied.len() as u64
    }

    /// Settles the markets and closes the journal.
    fn finish(mut self) -> Vec<(Input, Vec<Event>)> {
        let finale = self.generator.finale();
        self.append(finale);
        let last_seq = self.last_seq();
        assert_eq!(self.recorder.finish().unwrap(), last_seq);
        self.applied
    }
}

#[test]
fn connections_cut_stalled_and_refused_lose_and_repeat_nothing() {
    let dir = scratch("faults-outage");
    let schema = unique_schema("outage");
    let _guard = SchemaGuard(schema.clone());
    let mut journal = LiveJournal::create(&dir, 13);
    let setup = journal.generator.setup();
    journal.append(setup);

    let (upstream, _) = through_proxy(0);
    let proxy = Proxy::start(upstream);
    let (_, postgres) = through_proxy(proxy.port);
    let checkpoint = Arc::new(AtomicU64::new(0));
    let config = PersistConfig {
        postgres,
        schema: schema.clone(),
        batch_records: 100,
        write_timeout_ms: 1_000,
        connect_timeout_ms: 1_000,
        retry_min_ms: 20,
        retry_max_ms: 200,
        ..PersistConfig::default()
    };
    let persister =
        Persister::start(config, vec![Source::follow(0, &dir, checkpoint.clone())]).unwrap();
    let caught_up = |journal: &LiveJournal, what: &str| {
        let last_seq = journal.last_seq();
        wait_for(&persister, Duration::from_secs(10), what, |p| {
            p.committed_seq == last_seq
        })
    };

    // Healthy: records arrive and are committed as they come.
    journal.feed(300, Duration::from_millis(200));
    let healthy = caught_up(&journal, "the flush to catch up");
    assert_eq!(healthy.retries, 0, "{healthy:?}");
    assert_eq!(checkpoint.load(Ordering::Acquire), journal.last_seq());

    // Every connection cut while records keep coming.
    journal.feed(150, Duration::from_millis(100));
    proxy.set(FORWARD, true);
    journal.feed(150, Duration::from_millis(100));
    let after_cut = caught_up(&journal, "the flush to recover from the cut");
    assert!(after_cut.retries >= 1, "{after_cut:?}");

    // A stall longer than the write and connect timeouts: nothing that arrives commits.
    let before_stall = journal.last_seq();
    proxy.set(STALL, false);
    journal.feed(200, Duration::from_millis(2_500));
    let stalled = persister.progress().remove(0);
    assert_eq!(stalled.committed_seq, before_stall, "{stalled:?}");
    assert!(stalled.retries > after_cut.retries, "{stalled:?}");

    // Connections refused for a while (the stalled ones cut).
    proxy.set(REFUSE, true);
    journal.feed(100, Duration::from_millis(1_000));
    let refused = persister.progress().remove(0);
    assert_eq!(refused.committed_seq, before_stall, "{refused:?}");
    assert!(refused.retries > stalled.retries, "{refused:?}");
    assert!(!refused.connected, "{refused:?}");

    // Healed: the rest of the stream, settlement included, and a drain.
    proxy.set(FORWARD, false);
    journal.feed(300, Duration::from_millis(200));
    let applied = journal.finish();
    let last_seq = applied.len() as u64;
    let progress = persister.drain(Duration::from_secs(30)).unwrap().remove(0);
    assert_eq!(progress.committed_seq, last_seq, "{progress:?}");
    assert!(progress.finished, "{progress:?}");
    assert!(progress.retries >= 3, "{progress:?}");
    assert!(progress.last_error.is_some(), "{progress:?}");
    // A commit whose answer was lost is not counted, and not repeated either.
    assert!(progress.records <= last_seq, "{progress:?}");
    assert_eq!(checkpoint.load(Ordering::Acquire), last_seq);
    assert!(proxy.shared.accepted.load(Ordering::Relaxed) >= 4);
    let all = expected(&applied, last_seq);
    assert_substantial(&all, 12);
    assert_holds(&schema, &all, "after the outage");
}

/// A connection that goes silent between the COPY and the commit (a black hole: no reset, no
/// close) strands its transaction on the server, holding its rows' keys and the checkpoint row.
/// The flush must not wait for it: the server is to end such a transaction once it has been
/// idle for longer than the write timeout.
#[test]
fn a_transaction_stranded_on_a_silent_connection_does_not_hold_up_the_flush() {
    let dir = scratch("faults-stranded");
    let (engine, applied) = write_journal(&dir, 11, 2_000, Some(1 << 20));
    let last_seq = engine.seq();
    let schema = unique_schema("stranded");
    let _guard = SchemaGuard(schema.clone());
    let (upstream, _) = through_proxy(0);
    let proxy = Proxy::start(upstream);
    let (_, postgres) = through_proxy(proxy.port);
    let config = PersistConfig {
        postgres,
        write_timeout_ms: 1_000,
        connect_timeout_ms: 1_000,
        ..config(&schema, 200)
    };
    // Batch 3's rows are copied and the checkpoint moved: its connection goes silent for good
    // before the commit reaches the server. New connections still get through.
    let shared = proxy.shared.clone();
    let faults: Faults = Arc::new(move |at, _, batch| {
        if at == CrashPoint::BeforeCommit && batch == 3 {
            shared.hold_open(true);
        }
        false
    });
    let persister =
        Persister::start_with_faults(config, vec![Source::to_end(0, &dir)], Some(faults)).unwrap();
    let progress = wait_for(
        &persister,
        Duration::from_secs(10),
        "the flush to get past the stranded transaction",
        |p| p.finished,
    );
    assert_eq!(progress.committed_seq, last_seq, "{progress:?}");
    assert!(progress.retries >= 1, "{progress:?}");
    persister.wait().unwrap();
    assert_holds(
        &schema,
        &expected(&applied, last_seq),
        "after the stranded transaction",
    );
}
