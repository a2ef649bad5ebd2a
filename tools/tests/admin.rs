//! `oddsmatch admin` against a running `oddsmatch serve`: tables for a person, JSON for
//! scripts, exit statuses, and `shutdown` stopping the server gracefully.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{scratch, serve};

fn admin(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
        .arg("admin")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap()
}

#[test]
fn an_operator_runs_a_market_and_stops_the_server() {
    let dir = scratch("admin", "operator");
    std::fs::write(
        dir.join("bootstrap.jsonl"),
        "{\"cmd\":\"create_account\",\"account\":1,\"tier\":\"basic\"}\n",
    )
    .unwrap();
    let (mut child, _addr) = serve(&dir, &[]);

    let out = admin(
        &dir,
        &["market", "create", r#"{"market":5,"selections":[1,2]}"#],
    );
    assert_eq!(code(&out), 0, "{out:?}");
    assert!(stdout(&out).contains("applied at seq"), "{}", stdout(&out));
    assert_eq!(code(&admin(&dir, &["market", "open", "5"])), 0);

    let out = admin(&dir, &["markets"]);
    let text = stdout(&out);
    assert!(text.lines().next().unwrap().starts_with("market"), "{text}");
    assert!(text.contains("exchange") && text.contains("open"), "{text}");

    let out = admin(&dir, &["--json", "market", "show", "5"]);
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["ok"], Value::Bool(true));
    assert_eq!(reply["result"]["status"], "open");

    let out = admin(
        &dir,
        &["account", "deposit", "1", "2500", "--transfer-id", "9"],
    );
    assert_eq!(code(&out), 0, "{out:?}");
    let out = admin(&dir, &["account", "show", "1"]);
    assert!(stdout(&out).contains("balance 2500"), "{}", stdout(&out));

    let out = admin(&dir, &["status"]);
    assert!(stdout(&out).contains("journaled"), "{}", stdout(&out));
    let out = admin(&dir, &["config", "set", "market_data.max_lag_ms", "900"]);
    assert_eq!(stdout(&out), "market_data.max_lag_ms: 2000 -> 900\n");

    // Refusals exit 1 with the reason on standard error; usage errors exit 2.
    let out = admin(&dir, &["market", "settle", "77", "--winners", "1"]);
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown_market"));
    assert_eq!(code(&admin(&dir, &["account", "kill", "1", "maybe"])), 2);
    assert_eq!(code(&admin(&dir, &["raw", "not json"])), 2);

    let out = admin(&dir, &["metrics"]);
    let text = stdout(&out);
    assert!(text.starts_with("stage"), "{text}");
    assert!(
        text.contains("shard 0 commit") && text.contains("gateway round_trip"),
        "{text}"
    );

    let out = admin(&dir, &["snapshot"]);
    assert!(stdout(&out).contains("snapshot at seq"), "{}", stdout(&out));

    let out = admin(&dir, &["shutdown"]);
    assert_eq!(code(&out), 0);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    assert!(!dir.join("data/admin.sock").exists());
    let snapshots = std::fs::read_dir(dir.join("data/shard-0/snapshots"))
        .unwrap()
        .count();
    assert!(snapshots >= 1);
    // Nobody listens now.
    assert_eq!(code(&admin(&dir, &["status"])), 2);
}
