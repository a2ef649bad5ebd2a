//! `oddsmatch demo` end to end: a short race with `--json`, whose summary must show both
//! markets settled, the race won by the runner the race model says, every payout following the
//! market rules and every balance moving by exactly its settlements, ticks, trades and bets
//! seen and no reject but the expected one; its journal must verify. Bad options exit 2 before
//! a node starts. With Postgres, everything the summary says reaches the database.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod support;

use support::scratch;

fn demo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
        .arg("demo")
        .args(args)
        .output()
        .unwrap()
}

/// Runs a short demo with `--json` and returns its summary, after checking that it exited 0.
fn short_demo(data_dir: &Path, extra: &[&str]) -> Value {
    let data = data_dir.to_str().unwrap();
    let mut args = vec![
        "--race-secs",
        "4",
        "--bettors",
        "4",
        "--seed",
        "7",
        "--json",
        "--data-dir",
        data,
    ];
    args.extend_from_slice(extra);
    let out = demo(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo failed ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("the summary is not one JSON object ({e}):\n{stdout}"))
}

fn int(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("not an integer: {value}"))
}

/// The race model's winner for the seed and length the test uses.
fn model_winner() -> i64 {
    let out = Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
        .args([
            "race-model",
            "--with-setup",
            "--runners",
            "2",
            "--seed",
            "7",
        ])
        .args(["--duration-ms", "4000", "--interval-ms", "250"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let settle = text
        .lines()
        .find(|l| l.contains("\"settle_market\""))
        .expect("a settle_market line");
    let value: Value = serde_json::from_str(settle).unwrap();
    int(&value["winners"][0])
}

/// Everything the summary says must add up, by the rules of docs/market-rules.md.
fn check_summary(summary: &Value) {
    let pool = &summary["markets"][0];
    let exchange = &summary["markets"][1];
    assert_eq!(pool["kind"], "pool");
    assert_eq!(exchange["kind"], "exchange");
    assert_eq!(pool["status"], "settled", "{summary}");
    assert_eq!(exchange["status"], "settled", "{summary}");
    assert_eq!(int(&summary["race"]["winner"]), int(&pool["winner"]));
    assert_eq!(int(&pool["winner"]), model_winner());
    let exchange_winner = int(&exchange["winner"]);
    assert!((1..=10).contains(&exchange_winner));

    // The pool (section 11): the net pool goes to the bets on the winner, each rounded down;
    // the takeout to the house; the remainders to the rounding account.
    let pools: Vec<i64> = pool["pools"].as_array().unwrap().iter().map(int).collect();
    let total = int(&pool["total"]);
    assert_eq!(pools.iter().sum::<i64>(), total);
    assert!(total > 0, "no pool bets: {summary}");
    let (paid, takeout, rounding) = (
        int(&pool["paid"]),
        int(&pool["takeout"]),
        int(&pool["rounding"]),
    );
    let winning_pool = pools[int(&pool["winner"]) as usize - 1];
    if winning_pool > 0 {
        let net = total * (10_000 - int(&pool["takeout_bps"])) / 10_000;
        assert_eq!(takeout, total - net);
        assert_eq!(paid + rounding, net);
        assert!(
            (0..int(&pool["bets"])).contains(&rounding),
            "rounding {rounding}"
        );
    } else {
        // Nobody backed the winner: every bet is refunded.
        assert_eq!((paid, takeout, rounding), (total, 0, 0));
    }

    // Every account: stakes and payouts, both markets' results, commission on a positive
    // exchange result only, and the balance moved by exactly that.
    let payouts = summary["payouts"].as_array().unwrap();
    assert_eq!(payouts.len(), 2 + 4, "two market makers and four bettors");
    let (mut staked, mut pool_paid, mut commission) = (0, 0, 0);
    let (mut before, mut after) = (0, 0);
    let mut exchange_pnl = 0;
    for p in payouts {
        let (pool_pnl, pnl, fee) = (
            int(&p["pool_pnl"]),
            int(&p["exchange_pnl"]),
            int(&p["commission"]),
        );
        assert_eq!(
            pool_pnl,
            int(&p["pool_paid"]) - int(&p["pool_staked"]),
            "{p}"
        );
        let expected_fee = if pnl > 0 {
            pnl * int(&exchange["commission_bps"]) / 10_000
        } else {
            0
        };
        assert_eq!(fee, expected_fee, "{p}");
        assert_eq!(
            int(&p["balance_after"]) - int(&p["balance_before"]),
            pool_pnl + pnl - fee,
            "{p}"
        );
        staked += int(&p["pool_staked"]);
        pool_paid += int(&p["pool_paid"]);
        commission += fee;
        exchange_pnl += pnl;
        before += int(&p["balance_before"]);
        after += int(&p["balance_after"]);
    }
    assert_eq!(staked, total);
    assert_eq!(pool_paid, paid);

    // The exchange (section 8): results sum to zero before rounding; rounding down leaves a
    // residue for the house, and the commission goes to the house.
    let (gain, loss) = (
        int(&exchange["winners_gain"]),
        int(&exchange["losers_loss"]),
    );
    let exchange_rounding = int(&exchange["rounding"]);
    assert_eq!(exchange_pnl, gain - loss);
    assert_eq!(gain - loss + exchange_rounding, 0);
    assert!(exchange_rounding >= 0);
    assert_eq!(int(&exchange["commission"]), commission);
    assert!(int(&exchange["matched"]) > 0);

    // No money made or lost: what left the accounts is what the house holds.
    let house = &summary["house"];
    assert_eq!(int(&house["takeout"]), takeout);
    assert_eq!(int(&house["commission"]), commission);
    assert_eq!(int(&house["rounding"]), rounding + exchange_rounding);
    assert_eq!(
        before - after,
        takeout + commission + rounding + exchange_rounding
    );

    // What the traders and the subscriber saw.
    let counts = &summary["counts"];
    for key in [
        "ticks",
        "trades",
        "bets_accepted",
        "orders_accepted",
        "mass_quotes",
        "reference_odds",
    ] {
        assert!(int(&counts[key]) > 0, "no {key}: {counts}");
    }
    assert_eq!(int(&counts["bets_accepted"]), int(&pool["bets"]));
    assert_eq!(int(&counts["throttled"]), 0);
    assert_eq!(int(&counts["busy"]), 0);
    assert_eq!(int(&summary["unexpected_rejects"]), 0, "{summary}");
    for reason in summary["rejects"].as_object().unwrap().keys() {
        assert_eq!(reason, "market_not_open", "{summary}");
    }
    assert_eq!(summary["failures"], Value::Array(Vec::new()));
    assert!(int(&summary["latency"]["ack"]["n"]) > 0);
    assert!(int(&summary["latency"]["tick"]["n"]) > 0);
    for check in summary["checks"].as_object().unwrap().values() {
        assert_eq!(check, &Value::Bool(true), "{summary}");
    }
}

#[test]
fn a_short_race_settles_both_markets_and_the_money_adds_up() {
    let dir = scratch("demo", "short_race");
    let data = dir.join("data");
    let summary = short_demo(&data, &[]);
    check_summary(&summary);
    assert_eq!(summary["node"]["data_dir_kept"], true);
    assert!(summary["persist"].is_null());

    // The node's journal, kept by --data-dir, replays to the same events.
    let verify = Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
        .args(["journal", "verify"])
        .arg(data.join("shard-0"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // The admin socket is gone with the node.
    assert!(!data.join("admin.sock").exists());
}

#[test]
fn bad_options_exit_2_before_a_node_starts() {
    let dir = scratch("demo", "bad_options");
    let full = dir.join("full");
    std::fs::create_dir_all(&full).unwrap();
    std::fs::write(full.join("something"), "x").unwrap();
    let full = full.to_str().unwrap();
    let cases: [(&[&str], &str); 8] = [
        (&["--race-secs", "1"], "race-secs"),
        (&["--race-secs", "x"], "race-secs"),
        (&["--bettors", "0"], "bettors"),
        (&["--seed", "x"], "seed"),
        (&["--json", "--quiet"], "quiet"),
        (&["--data-dir", full], "not empty"),
        (&["--postgres-schema", "s"], "needs --postgres"),
        (&["--postgres", " "], "connection string"),
    ];
    for (args, says) in cases {
        let out = demo(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // Nothing was made in the directory that was refused.
    assert_eq!(std::fs::read_dir(dir.join("full")).unwrap().count(), 1);
}

/// A blocking Postgres session for the test, in a schema of its own.
struct Db {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
    schema: String,
    url: String,
}

impl Db {
    fn new() -> Db {
        let url = std::env::var("ODDSMATCH_TEST_POSTGRES")
            .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (client, connection) = runtime
            .block_on(tokio_postgres::connect(&url, tokio_postgres::NoTls))
            .unwrap_or_else(|e| panic!("cannot reach Postgres at `{url}`: {e}"));
        runtime.spawn(connection);
        let schema = format!("oddsmatch_test_demo_{}", std::process::id());
        let db = Db {
            runtime,
            client,
            schema,
            url,
        };
        db.execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", db.schema));
        db
    }

    fn number(&self, sql: &str) -> i64 {
        let sql = sql.replace("{schema}", &self.schema);
        self.runtime
            .block_on(self.client.query_one(&sql, &[]))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0)
    }

    fn execute(&self, sql: &str) {
        self.runtime
            .block_on(self.client.batch_execute(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self.runtime.block_on(
            self.client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema)),
        );
    }
}

#[test]
fn with_postgres_the_settlement_reaches_the_database() {
    let db = Db::new();
    let dir = scratch("demo", "postgres");
    let summary = short_demo(
        &dir.join("data"),
        &["--postgres", &db.url, "--postgres-schema", &db.schema],
    );
    check_summary(&summary);
    assert_eq!(summary["persist"]["caught_up"], true, "{summary}");
    assert_eq!(summary["persist"]["schema"], db.schema.as_str());

    let payouts = summary["payouts"].as_array().unwrap();
    let sum = |key: &str| payouts.iter().map(|p| int(&p[key])).sum::<i64>();
    assert_eq!(db.number("SELECT count(*) FROM {schema}.settlements"), 2);
    assert_eq!(
        db.number(
            "SELECT coalesce(sum(pnl_minor), 0)::bigint FROM {schema}.payouts WHERE market = 1"
        ),
        sum("pool_pnl")
    );
    assert_eq!(
        db.number(
            "SELECT coalesce(sum(pnl_minor), 0)::bigint FROM {schema}.payouts WHERE market = 2"
        ),
        sum("exchange_pnl")
    );
    assert_eq!(
        db.number(
            "SELECT coalesce(sum(stake_minor), 0)::bigint FROM {schema}.trades WHERE market = 2"
        ),
        int(&summary["markets"][1]["matched"])
    );

    // The schema now holds this node's journal: a second demo into it is refused.
    let again = scratch("demo", "postgres_again");
    let out = demo(&[
        "--race-secs",
        "4",
        "--json",
        "--data-dir",
        again.join("data").to_str().unwrap(),
        "--postgres",
        &db.url,
        "--postgres-schema",
        &db.schema,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("already holds"), "{stderr}");
    assert!(!again.join("data").exists());
}
