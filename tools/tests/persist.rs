//! `oddsmatch persist` and `oddsmatch serve --postgres` against the real Postgres server
//! (127.0.0.1:5432, user `postgres`, database `test`, or `ODDSMATCH_TEST_POSTGRES`), each test
//! in a schema of its own, dropped at the end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use oddsmatch_engine::testkit::StreamGen;
use oddsmatch_engine::{MarketId, Persistence, SelectionId, Side, TimeInForce};
use oddsmatch_net::client::{Client, Credentials, Options};
use oddsmatch_net::proto::{ClientMsg, NewOrder, ReportBody, ServerMsg};

mod support;

use support::{scratch, serve, terminate};

const WAIT: Duration = Duration::from_secs(10);
const SECRET: [u8; 32] = [0x5a; 32];

fn url() -> String {
    std::env::var("ODDSMATCH_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned())
}

/// A blocking query helper over tokio-postgres.
struct Db {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
    schema: String,
}

impl Db {
    fn new(test: &str) -> Db {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let url = url();
        let (client, connection) = runtime
            .block_on(tokio_postgres::connect(&url, tokio_postgres::NoTls))
            .unwrap_or_else(|error| {
                panic!(
                    "cannot reach Postgres at `{url}`: {error}. Start it with `pg_ctlcluster \
                     --skip-systemctl-redirect $(ls /etc/postgresql) main start` (`.ci/run` \
                     does), or point ODDSMATCH_TEST_POSTGRES at a server"
                )
            });
        runtime.spawn(connection);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let schema = format!("oddsmatch_test_{test}_{}_{nanos}", std::process::id());
        Db {
            runtime,
            client,
            schema,
        }
    }

    fn count(&self, sql: &str) -> i64 {
        let sql = sql.replace("{schema}", &self.schema);
        let row = self
            .runtime
            .block_on(self.client.query_one(&sql, &[]))
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
        row.get(0)
    }

    fn execute(&self, sql: &str) {
        let sql = sql.replace("{schema}", &self.schema);
        self.runtime
            .block_on(self.client.batch_execute(&sql))
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    fn checkpoint(&self) -> i64 {
        let sql = format!(
            "SELECT coalesce((SELECT seq FROM {}.checkpoints WHERE shard = 0), 0)",
            self.schema
        );
        match self.runtime.block_on(self.client.query_one(&sql, &[])) {
            Ok(row) => row.get(0),
            Err(_) => 0, // not migrated yet
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        let _ = self.runtime.block_on(self.client.batch_execute(&sql));
    }
}

fn oddsmatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
        .args(args)
        .output()
        .expect("the oddsmatch binary runs")
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// A journal of the random stream `seed` written by `oddsmatch sim`.
fn sim_journal(dir: &Path, seed: u64, count: usize) -> PathBuf {
    let input = dir.join("stream.jsonl");
    let mut lines = String::new();
    for command in StreamGen::stream(seed, count) {
        lines.push_str(&serde_json::to_string(&command).unwrap());
        lines.push('\n');
    }
    std::fs::write(&input, lines).unwrap();
    let journal = dir.join("journal");
    let output = oddsmatch(&[
        "sim",
        "--input",
        input.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output));
    journal
}

#[test]
fn persist_loads_a_journal_once_and_check_names_every_difference() {
    let dir = scratch("persist", "cli");
    let journal = sim_journal(&dir, 5, 1_500);
    let db = Db::new("cli");
    let (journal, url) = (journal.to_str().unwrap(), url());
    let base = [
        "--journal",
        journal,
        "--postgres",
        &url,
        "--schema",
        &db.schema,
    ];
    let load = |extra: &[&str]| oddsmatch(&[&["persist"], &base[..], extra].concat());
    let check = || oddsmatch(&[&["persist", "check"], &base[..]].concat());

    let loaded = load(&[]);
    assert!(loaded.status.success(), "{}", text(&loaded));
    let records = db.checkpoint();
    assert!(records > 1_500, "{}", text(&loaded));
    assert!(text(&loaded).contains(&format!("committed up to record {records}")));
    let trades = db.count("SELECT count(*) FROM {schema}.trades");
    assert!(trades > 0);

    let checked = check();
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked));
    assert!(text(&checked).contains("Postgres agrees with the journal"));

    // Loading again writes nothing: the checkpoint is at the end.
    let again = load(&["--json"]);
    assert!(again.status.success(), "{}", text(&again));
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["shards"][0]["records"], 0, "{summary}");
    assert_eq!(db.count("SELECT count(*) FROM {schema}.trades"), trades);

    // A deposit that Postgres lost and a doubled payout: both named, exit 1.
    db.execute(
        "DELETE FROM {schema}.ledger WHERE (seq, event_index) = (SELECT seq, event_index \
         FROM {schema}.ledger WHERE kind = 'deposit' ORDER BY seq LIMIT 1);
         INSERT INTO {schema}.payouts SELECT shard, seq, event_index + 1000, ts, account, market, \
         pnl_minor, commission_minor FROM {schema}.payouts LIMIT 1;",
    );
    let checked = check();
    assert_eq!(checked.status.code(), Some(1), "{}", text(&checked));
    let out = text(&checked);
    assert!(out.contains("rows in ledger"), "{out}");
    assert!(out.contains("rows in payouts"), "{out}");
    assert!(out.contains("sum of the ledger of account"), "{out}");

    // No server: a clear error, exit 2.
    let nowhere = oddsmatch(&[
        "persist",
        "check",
        "--journal",
        journal,
        "--postgres",
        "host=127.0.0.1 port=1 user=postgres connect_timeout=2",
    ]);
    assert_eq!(nowhere.status.code(), Some(2), "{}", text(&nowhere));
    assert!(text(&nowhere).contains("cannot connect to Postgres"));
}

#[test]
fn a_flush_killed_mid_load_resumes_without_loss_or_duplicates() {
    let dir = scratch("persist", "kill9");
    let journal = sim_journal(&dir, 9, 12_000);
    let db = Db::new("kill9");
    let (journal, url) = (journal.to_str().unwrap(), url());
    let base = [
        "--journal",
        journal,
        "--postgres",
        &url,
        "--schema",
        &db.schema,
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
        .args([&["persist"], &base[..], &["--batch-records", "50"]].concat())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while db.checkpoint() < 500 {
        assert!(started.elapsed() < WAIT, "the flush made no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL, mid-batch or between batches
    child.wait().unwrap();
    let at_kill = db.checkpoint();

    let resumed = oddsmatch(&[&["persist"], &base[..]].concat());
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert!(db.checkpoint() > at_kill);
    let checked = oddsmatch(&[&["persist", "check"], &base[..]].concat());
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked));
}

fn bootstrap(dir: &Path) {
    let secret: String = SECRET.iter().map(|b| format!("{b:02x}")).collect();
    let lines = [
        r#"{"cmd":"create_account","account":1,"tier":"market_maker"}"#.to_owned(),
        format!(r#"{{"cmd":"set_api_key","account":1,"key_id":42,"secret":"{secret}"}}"#),
        r#"{"cmd":"deposit","account":1,"amount":1000000000,"transfer_id":1}"#.to_owned(),
        r#"{"cmd":"create_market","market":1,"selections":[1,2]}"#.to_owned(),
        r#"{"cmd":"open_market","market":1}"#.to_owned(),
    ];
    std::fs::write(dir.join("bootstrap.jsonl"), lines.join("\n") + "\n").unwrap();
}

/// Logs in as the market maker and places `orders` resting orders; returns once every one
/// is acknowledged (the session stays open until the client is dropped).
fn place_orders(addr: &str, orders: u64) -> Client {
    let mut client = Client::connect(
        addr,
        Credentials {
            key_id: 42,
            secret: SECRET,
        },
        Options::default(),
    )
    .unwrap();
    client
        .wait_for(WAIT, |m| matches!(m, ServerMsg::ReplayComplete { .. }))
        .unwrap();
    for request_id in 1..=orders {
        client.queue(&ClientMsg::NewOrder(NewOrder {
            request_id,
            client_order_id: request_id,
            stake_minor: 100,
            market: MarketId(1),
            selection: SelectionId(1),
            odds_x100: 200 + (request_id % 5) as u32 * 10,
            side: Side::Back,
            tif: TimeInForce::Gtc,
            persistence: Persistence::Persist,
            post_only: false,
        }));
    }
    client.flush().unwrap();
    let mut accepted = 0;
    while accepted < orders {
        if let Some(ServerMsg::Report(report)) = client.recv(WAIT).unwrap()
            && let ReportBody::OrderAccepted { .. } = report.body
        {
            accepted += 1;
        }
    }
    client
}

#[test]
fn serve_flushes_while_running_and_catches_up_at_shutdown() {
    let dir = scratch("persist", "serve");
    bootstrap(&dir);
    let db = Db::new("serve");
    let data = dir.join("data");
    let config = dir.join("oddsmatch.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n\n[persist]\npostgres = {:?}\nschema = {:?}\n",
            data.to_str().unwrap(),
            url(),
            db.schema
        ),
    )
    .unwrap();
    let (mut child, addr) = serve(&dir, &["--config", config.to_str().unwrap()]);
    let orders = 200u64;
    let client = place_orders(&addr, orders);
    // The flush runs while the server does: the orders reach Postgres without a stop.
    let started = Instant::now();
    let accepted_rows = "SELECT count(*) FROM {schema}.order_events WHERE kind = 'accepted'";
    while db.checkpoint() == 0 || db.count(accepted_rows) < orders as i64 {
        assert!(
            started.elapsed() < WAIT,
            "the orders did not reach Postgres"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(client);
    assert!(terminate(&mut child).success());

    // Everything the shard journaled, the cancels on disconnect included, is in Postgres.
    let (data, url) = (data.to_str().unwrap(), url());
    let checked = oddsmatch(&[
        "persist",
        "check",
        "--journal",
        data,
        "--postgres",
        &url,
        "--schema",
        &db.schema,
    ]);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked));
    assert_eq!(db.count(accepted_rows), orders as i64);
    assert_eq!(
        db.count("SELECT count(*) FROM {schema}.accounts WHERE account = 1"),
        1
    );
}

#[test]
fn persist_follow_tails_a_live_server_until_sigterm() {
    let dir = scratch("persist", "follow");
    bootstrap(&dir);
    let db = Db::new("follow");
    let (mut server, addr) = serve(&dir, &[]);
    let data = dir.join("data");
    let mut follower = Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
        .args(["persist", "--follow", "--journal", data.to_str().unwrap()])
        .args(["--postgres", &url(), "--schema", &db.schema])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = place_orders(&addr, 50);
    let started = Instant::now();
    let accepted_rows = "SELECT count(*) FROM {schema}.order_events WHERE kind = 'accepted'";
    while db.checkpoint() == 0 || db.count(accepted_rows) < 50 {
        assert!(started.elapsed() < WAIT, "the follower did not keep up");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(terminate(&mut follower).success());
    let mut out = String::new();
    std::io::Read::read_to_string(follower.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(
        out.contains(&format!("committed up to record {}", db.checkpoint())),
        "{out}"
    );
    drop(client);
    assert!(terminate(&mut server).success());
}
