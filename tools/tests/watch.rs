//! `oddsmatch watch` against a running `oddsmatch serve`: the snapshot first, then the ticks of
//! the markets asked for, in order; `--once`; the exit statuses scripts rely on; a reconnection
//! after the server restarts.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

mod support;

use support::{scratch, terminate};

const SECRET_A: [u8; 32] = [0xa1; 32];
const SECRET_B: [u8; 32] = [0xb2; 32];
const KEY_A: u64 = 11;
const KEY_B: u64 = 12;

/// How long any one step may take before the test gives up.
const PATIENCE: Duration = Duration::from_secs(15);

fn hex(secret: &[u8; 32]) -> String {
    secret.iter().map(|b| format!("{b:02x}")).collect()
}

/// Two traders and two open exchange markets that tick on every change (at most every
/// 100 ms) and send a heartbeat tick only after 10 s of quiet, longer than a test: every tick
/// comes from an order.
fn bootstrap(dir: &Path) {
    let mut lines = vec![
        r#"{"cmd":"create_account","account":1}"#.to_owned(),
        r#"{"cmd":"create_account","account":2}"#.to_owned(),
        format!(
            r#"{{"cmd":"set_api_key","account":1,"key_id":{KEY_A},"secret":"{}"}}"#,
            hex(&SECRET_A)
        ),
        format!(
            r#"{{"cmd":"set_api_key","account":2,"key_id":{KEY_B},"secret":"{}"}}"#,
            hex(&SECRET_B)
        ),
        r#"{"cmd":"deposit","account":1,"amount":1000000,"transfer_id":1}"#.to_owned(),
        r#"{"cmd":"deposit","account":2,"amount":1000000,"transfer_id":2}"#.to_owned(),
    ];
    for market in [1, 2] {
        lines.push(format!(
            r#"{{"cmd":"create_market","market":{market},"selections":[1,2],"odds_tick_interval_ms":100,"odds_heartbeat_ms":10000}}"#
        ));
        lines.push(format!(r#"{{"cmd":"open_market","market":{market}}}"#));
    }
    std::fs::write(dir.join("bootstrap.jsonl"), lines.join("\n") + "\n").unwrap();
}

/// A running server and its two addresses.
struct Server {
    child: Child,
    order_addr: String,
    md_addr: String,
}

/// Starts `oddsmatch serve` like `support::serve`, with market data on `md_listen`, and reads
/// both addresses from its first line.
fn serve(dir: &Path, md_listen: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--bootstrap")
        .arg(dir.join("bootstrap.jsonl"))
        .args(["--listen", "127.0.0.1:0", "--market-data-listen", md_listen])
        .args(["--market-data-quic", "127.0.0.1:0"])
        .args(["--log", "warn"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let after = |words: &str| {
        line.split(words)
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .unwrap_or_else(|| panic!("serve printed {line:?}"))
            .to_owned()
    };
    let (order_addr, md_addr) = (after("order entry on "), after("market data on "));
    Server {
        child,
        order_addr,
        md_addr,
    }
}

impl Drop for Server {
    /// A failed test leaves no server behind (after `terminate`, this does nothing).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one run of the CLI did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `oddsmatch ARGS` with none of the CLI's variables from the test's environment.
fn oddsmatch(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_oddsmatch"));
    command.args(args);
    for var in [
        "ODDSMATCH_ADDR",
        "ODDSMATCH_MD_ADDR",
        "ODDSMATCH_KEY_ID",
        "ODDSMATCH_SECRET",
    ] {
        command.env_remove(var);
    }
    command
}

/// Runs a command that must end by itself within [`PATIENCE`].
fn finish(mut command: Command) -> Run {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > PATIENCE {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!("did not end: {:?}", run_of(output));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    run_of(child.wait_with_output().unwrap())
}

fn run_of(output: Output) -> Run {
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn watch(md_addr: &str, args: &[&str]) -> Run {
    let mut command = oddsmatch(&["watch", "--addr", md_addr]);
    command.args(args);
    finish(command)
}

/// Places an order with `oddsmatch order place` and checks that it was accepted.
fn place(server: &Server, key: (u64, &[u8; 32]), order: [&str; 5]) {
    let [market, selection, side, odds, stake] = order;
    let mut command = oddsmatch(&["order", "--addr", &server.order_addr, "--wait", "300"]);
    command
        .args(["--key-id", &key.0.to_string()])
        .env("ODDSMATCH_SECRET", hex(key.1))
        .args(["place", "--market", market, "--selection", selection])
        .args(["--side", side, "--odds", odds, "--stake", stake]);
    let run = finish(command);
    assert_eq!(run.code, Some(0), "{run:?}");
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

/// The back odds a snapshot or tick shows for a selection.
fn back(update: &Value, selection: u64) -> Value {
    update["selections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["selection"] == selection)
        .map_or(Value::Null, |s| s["back"].clone())
}

/// A watch left running, its standard output read line by line on a thread.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(md_addr: &str, args: &[&str]) -> Running {
        let mut command = oddsmatch(&["watch", "--addr", md_addr]);
        let mut child = command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    return;
                }
            }
        });
        Running { child, lines }
    }

    fn next_json(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(PATIENCE)
            .expect("no line from oddsmatch watch in time");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    /// Waits for the exit; returns the status code and standard error.
    fn wait(mut self) -> (Option<i32>, String) {
        let started = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            if started.elapsed() > PATIENCE {
                self.child.kill().unwrap();
                panic!("oddsmatch watch did not end");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (self.child.wait().unwrap().code(), stderr)
    }
}

impl Drop for Running {
    /// A failed test leaves no watch behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn json_lines_are_the_snapshot_then_the_ticks_of_the_market_in_order() {
    let dir = scratch("watch", "ticks");
    bootstrap(&dir);
    let mut server = serve(&dir, "127.0.0.1:0");

    let watching = Running::start(&server.md_addr, &["1", "--count", "4", "--json"]);
    let snapshot = watching.next_json();
    assert_eq!(snapshot["event"], "snapshot", "{snapshot}");
    assert_eq!(snapshot["market"], 1, "{snapshot}");
    assert_eq!(snapshot["status"], "open", "{snapshot}");
    let first_seq = snapshot["tick_seq"].as_u64().unwrap();

    // Each order on market 1 moves its odds (a tick, a tick interval apart); the one on
    // market 2 must not show.
    for (key, order) in [
        ((KEY_A, &SECRET_A), ["2", "1", "lay", "4.0", "300"]),
        ((KEY_A, &SECRET_A), ["1", "1", "lay", "2.5", "1000"]),
        ((KEY_A, &SECRET_A), ["1", "2", "lay", "3.0", "500"]),
        ((KEY_B, &SECRET_B), ["1", "1", "back", "2.6", "200"]),
    ] {
        place(&server, key, order);
        std::thread::sleep(Duration::from_millis(150));
    }

    let ticks: Vec<Value> = (0..3).map(|_| watching.next_json()).collect();
    let (code, stderr) = watching.wait();
    assert_eq!(code, Some(0), "{stderr}");
    let mut last_seq = first_seq;
    for tick in &ticks {
        assert_eq!(tick["event"], "tick", "{tick}");
        assert_eq!(tick["market"], 1, "{tick}");
        let seq = tick["tick_seq"].as_u64().unwrap();
        assert!(seq > last_seq, "tick_seq goes up: {ticks:?}");
        last_seq = seq;
    }
    // The lay at 2.50 is the odds a backer gets on selection 1.
    assert!(
        ticks.iter().any(|t| back(t, 1) == "2.50"),
        "selection 1 backable at 2.50: {ticks:?}"
    );

    assert!(terminate(&mut server.child).success());
}

#[test]
fn once_prints_the_snapshots_and_exits() {
    let dir = scratch("watch", "once");
    bootstrap(&dir);
    let mut server = serve(&dir, "127.0.0.1:0");
    place(
        &server,
        (KEY_A, &SECRET_A),
        ["1", "1", "lay", "2.5", "1000"],
    );

    // The snapshot follows the ticks, a tick interval behind the order at most.
    let started = Instant::now();
    let snapshots = loop {
        let run = watch(&server.md_addr, &["2", "1", "--once", "--json"]);
        assert_eq!(run.code, Some(0), "{run:?}");
        let snapshots = json_lines(&run.stdout);
        assert_eq!(snapshots.len(), 2, "{run:?}");
        if back(&snapshots[0], 1) == "2.50" || started.elapsed() > PATIENCE {
            break snapshots;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(snapshots[0]["event"], "snapshot");
    assert_eq!(snapshots[0]["market"], 1);
    assert_eq!(back(&snapshots[0], 1), "2.50", "{snapshots:?}");
    assert_eq!(snapshots[0]["selections"][0]["lays"][0]["stake"], 1000);
    assert_eq!(snapshots[1]["event"], "snapshot");
    assert_eq!(snapshots[1]["market"], 2);

    // Piped without --json: one line of text per snapshot.
    let run = watch(&server.md_addr, &["1", "--once"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{run:?}");
    assert!(
        lines[0].contains(" market 1 snapshot tick ") && lines[0].contains(" open  1: 2.50/-"),
        "{run:?}"
    );

    // The book stream needs a login; with the key it shows the depth.
    let mut command = oddsmatch(&["watch", "--addr", &server.md_addr]);
    command
        .args(["1", "--streams", "ticks,book", "--once", "--json"])
        .env("ODDSMATCH_KEY_ID", KEY_B.to_string())
        .env("ODDSMATCH_SECRET", hex(&SECRET_B));
    let run = finish(command);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(json_lines(&run.stdout)[0]["market"], 1, "{run:?}");

    assert!(terminate(&mut server.child).success());
}

#[test]
fn refusals_and_unreachable_servers_exit_2() {
    let dir = scratch("watch", "refused");
    bootstrap(&dir);
    let mut server = serve(&dir, "127.0.0.1:0");

    let unknown = watch(&server.md_addr, &["1", "99", "--json"]);
    assert_eq!(unknown.code, Some(2), "{unknown:?}");
    assert!(
        unknown
            .stderr
            .contains("market 99: subscription refused (unknown_market): no market has this id"),
        "{unknown:?}"
    );
    assert!(
        !unknown.stdout.contains("\"market\":99"),
        "nothing printed for market 99: {unknown:?}"
    );

    let anonymous_book = watch(&server.md_addr, &["1", "--streams", "book", "--once"]);
    assert_eq!(anonymous_book.code, Some(2), "{anonymous_book:?}");
    assert!(
        anonymous_book.stderr.contains("need an API key"),
        "{anonymous_book:?}"
    );

    let mut wrong_secret = oddsmatch(&["watch", "--addr", &server.md_addr]);
    wrong_secret
        .args(["1", "--streams", "trades", "--once"])
        .env("ODDSMATCH_KEY_ID", KEY_A.to_string())
        .env("ODDSMATCH_SECRET", hex(&SECRET_B));
    let wrong_secret = finish(wrong_secret);
    assert_eq!(wrong_secret.code, Some(2), "{wrong_secret:?}");
    assert!(
        wrong_secret.stderr.contains("bad_proof") && !wrong_secret.stderr.contains(&hex(&SECRET_B)),
        "{wrong_secret:?}"
    );

    let bad_streams = watch(&server.md_addr, &["1", "--streams", "ticks,odds"]);
    assert_eq!(bad_streams.code, Some(2), "{bad_streams:?}");
    assert!(
        bad_streams.stderr.contains("not a list of streams"),
        "{bad_streams:?}"
    );
    assert!(terminate(&mut server.child).success());

    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let unreachable = watch(&addr, &["1"]);
    assert_eq!(unreachable.code, Some(2), "{unreachable:?}");
    assert!(
        unreachable
            .stderr
            .contains(&format!("cannot connect to {addr}")),
        "{unreachable:?}"
    );
}

#[test]
fn a_restarted_server_is_dialled_again_and_sigterm_exits_0() {
    let dir = scratch("watch", "reconnect");
    bootstrap(&dir);
    let mut server = serve(&dir, "127.0.0.1:0");
    let md_addr = server.md_addr.clone();
    let watching = Running::start(&md_addr, &["1", "--json"]);
    assert_eq!(watching.next_json()["event"], "snapshot");

    // The server stops and starts again on the same port, from its journal.
    assert!(terminate(&mut server.child).success());
    let mut server = serve(&dir, &md_addr);
    place(
        &server,
        (KEY_A, &SECRET_A),
        ["1", "1", "lay", "2.5", "1000"],
    );
    // After the reconnection, the market starts again from a snapshot.
    let again = watching.next_json();
    assert_eq!(again["event"], "snapshot", "{again}");
    assert_eq!(again["market"], 1, "{again}");

    // SAFETY: kill(2) with a pid we own and a valid signal number.
    let sent = unsafe { libc::kill(watching.child.id() as i32, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let (code, stderr) = watching.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("lost the connection to {md_addr}"))
            && stderr.contains(&format!("reconnected to {md_addr}")),
        "{stderr}"
    );
    assert!(terminate(&mut server.child).success());
}
