//! `oddsmatch order` against a running `oddsmatch serve`: placing, matching, listing,
//! cancelling and the balance, as a person at a terminal would, with the exit statuses
//! scripts rely on.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod support;

use support::{scratch, serve, terminate};

const SECRET_A: [u8; 32] = [0xa1; 32];
const SECRET_B: [u8; 32] = [0xb2; 32];
const KEY_A: u64 = 11;
const KEY_B: u64 = 12;

fn hex(secret: &[u8; 32]) -> String {
    secret.iter().map(|b| format!("{b:02x}")).collect()
}

fn bootstrap(dir: &Path) {
    let lines = [
        "# two traders and an open exchange market".to_owned(),
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
        r#"{"cmd":"create_market","market":1,"selections":[1,2]}"#.to_owned(),
        r#"{"cmd":"open_market","market":1}"#.to_owned(),
    ];
    std::fs::write(dir.join("bootstrap.jsonl"), lines.join("\n") + "\n").unwrap();
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

/// Runs `oddsmatch order ARGS` as the account of `key_id`, the secret in the environment (as
/// the help recommends).
fn order(addr: &str, key_id: u64, secret: &[u8; 32], args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
        .arg("order")
        .args(["--addr", addr, "--key-id", &key_id.to_string()])
        .args(args)
        .env("ODDSMATCH_SECRET", hex(secret))
        .env_remove("ODDSMATCH_ADDR")
        .env_remove("ODDSMATCH_KEY_ID")
        .output()
        .unwrap();
    Run {
        code: status.code(),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

fn json_lines(run: &Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

/// The number after `word` in `text` (`order 7` -> 7).
fn number_after(text: &str, word: &str) -> u64 {
    let rest = text
        .split(word)
        .nth(1)
        .unwrap_or_else(|| panic!("no {word:?} in {text}"));
    rest.trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no number after {word:?} in {text}"))
}

#[test]
fn place_list_match_cancel_and_balance() {
    let dir = scratch("order", "session");
    bootstrap(&dir);
    let (mut server, addr) = serve(&dir, &[]);

    // A lays 1000 at 2.50: accepted, rests in the book.
    let placed = order(
        &addr,
        KEY_A,
        &SECRET_A,
        &[
            "--wait",
            "300",
            "place",
            "--market",
            "1",
            "--selection",
            "1",
            "--side",
            "lay",
            "--odds",
            "2.5",
            "--stake",
            "1000",
            "--client-order-id",
            "7001",
        ],
    );
    assert_eq!(placed.code, Some(0), "{placed:?}");
    assert!(placed.stdout.contains("client order id 7001"), "{placed:?}");
    let accepted = placed
        .stdout
        .lines()
        .find(|line| line.starts_with("accepted:"))
        .unwrap_or_else(|| panic!("{placed:?}"));
    assert!(accepted.contains("lay 1000 at 2.50"), "{placed:?}");
    let order_id = number_after(accepted, "order");
    assert!(
        placed.stdout.contains(&format!(
            "order {order_id} rests in the book with 1000 unmatched"
        )),
        "{placed:?}"
    );

    // The list shows it, as a table and as JSON.
    let list = order(&addr, KEY_A, &SECRET_A, &["list"]);
    assert_eq!(list.code, Some(0), "{list:?}");
    let mut lines = list.stdout.lines();
    let header = lines.next().unwrap();
    for title in [
        "ORDER",
        "CLIENT ORDER",
        "MARKET",
        "SELECTION",
        "SIDE",
        "ODDS",
        "REMAINING",
    ] {
        assert!(header.contains(title), "{list:?}");
    }
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        row,
        [
            &order_id.to_string(),
            "7001",
            "1",
            "1",
            "lay",
            "2.50",
            "1000"
        ],
        "{list:?}"
    );
    assert_eq!(lines.next(), None, "{list:?}");
    let list = order(
        &addr,
        KEY_A,
        &SECRET_A,
        &["list", "--market", "1", "--json"],
    );
    assert_eq!(list.code, Some(0), "{list:?}");
    let orders = json_lines(&list);
    assert_eq!(orders.len(), 1, "{list:?}");
    assert_eq!(orders[0]["order_id"], order_id);
    assert_eq!(orders[0]["client_order_id"], 7001);
    assert_eq!(orders[0]["side"], "lay");
    assert_eq!(orders[0]["odds"], "2.50");
    assert_eq!(orders[0]["odds_x100"], 250);
    assert_eq!(orders[0]["remaining"], 1000);

    // The balance shows the lay's liability as exposure: 1000 x (2.50 - 1) = 1500.
    let balance = order(&addr, KEY_A, &SECRET_A, &["balance"]);
    assert_eq!(balance.code, Some(0), "{balance:?}");
    let row: Vec<&str> = balance
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        row,
        ["0", "1000000", "1500", "998500", "1/100", "off", "basic"],
        "{balance:?}"
    );
    let balance = order(&addr, KEY_A, &SECRET_A, &["--json", "balance"]);
    let wallets = json_lines(&balance);
    assert_eq!(wallets.len(), 1, "{balance:?}");
    assert_eq!(wallets[0]["exposure"], 1500);
    assert_eq!(wallets[0]["free"], 998_500);
    assert_eq!(wallets[0]["kill_switch"], false);

    // B backs 400 at 2.50 and is matched at once (the command stops without waiting 5 s).
    let started = std::time::Instant::now();
    let backed = order(
        &addr,
        KEY_B,
        &SECRET_B,
        &[
            "--wait",
            "5000",
            "place",
            "--market",
            "1",
            "--selection",
            "1",
            "--side",
            "back",
            "--odds",
            "2.50",
            "--stake",
            "400",
        ],
    );
    assert_eq!(backed.code, Some(0), "{backed:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "a fully matched order ends the command"
    );
    let client_order_id = number_after(&backed.stdout, "client order id");
    assert!(
        client_order_id > 1_000_000,
        "a clock-based default: {backed:?}"
    );
    assert!(
        backed.stdout.lines().any(|line| line.starts_with("fill:")
            && line.contains("back 400 matched at 2.50")
            && line.contains("(taker)")),
        "{backed:?}"
    );
    assert!(backed.stdout.contains("is fully matched"), "{backed:?}");

    // A cancels the remaining 600 by client order id.
    let cancel = order(
        &addr,
        KEY_A,
        &SECRET_A,
        &["cancel", "--market", "1", "--client-order-id", "7001"],
    );
    assert_eq!(cancel.code, Some(0), "{cancel:?}");
    assert!(
        cancel
            .stdout
            .contains(&format!("cancelled: order {order_id}"))
            && cancel.stdout.contains("600 unmatched (requested)"),
        "{cancel:?}"
    );
    let list = order(&addr, KEY_A, &SECRET_A, &["list"]);
    assert_eq!(list.stdout, "no open orders\n", "{list:?}");
    // Cancelling it again is refused by the engine.
    let again = order(
        &addr,
        KEY_A,
        &SECRET_A,
        &[
            "--json",
            "cancel",
            "--market",
            "1",
            "--order-id",
            &order_id.to_string(),
        ],
    );
    assert_eq!(again.code, Some(1), "{again:?}");
    let lines = json_lines(&again);
    assert_eq!(lines[0]["event"], "rejected", "{again:?}");
    assert_eq!(lines[0]["reason"], "unknown_order", "{again:?}");
    assert_eq!(lines[0]["code"], 203, "{again:?}");

    // 2.51 is not on the ladder: the gateway rejects it (exit 1).
    let off_ladder = order(
        &addr,
        KEY_A,
        &SECRET_A,
        &[
            "place",
            "--market",
            "1",
            "--selection",
            "2",
            "--side",
            "back",
            "--odds",
            "2.51",
            "--stake",
            "100",
        ],
    );
    assert_eq!(off_ladder.code, Some(1), "{off_ladder:?}");
    assert!(
        off_ladder.stdout.contains("rejected: invalid_odds (200)"),
        "{off_ladder:?}"
    );

    // Malformed odds never reach the server: a usage error (exit 2).
    let malformed = order(
        &addr,
        KEY_A,
        &SECRET_A,
        &[
            "place",
            "--market",
            "1",
            "--selection",
            "2",
            "--side",
            "back",
            "--odds",
            "2.5.0",
            "--stake",
            "100",
        ],
    );
    assert_eq!(malformed.code, Some(2), "{malformed:?}");
    assert!(
        malformed.stderr.contains("--odds") && malformed.stderr.contains("not decimal odds"),
        "{malformed:?}"
    );
    assert!(malformed.stdout.is_empty(), "{malformed:?}");

    // A wrong secret: the login is rejected (exit 2) and the secret is not printed.
    let wrong = order(&addr, KEY_A, &SECRET_B, &["balance"]);
    assert_eq!(wrong.code, Some(2), "{wrong:?}");
    assert!(
        wrong.stderr.contains("login rejected (bad_proof)"),
        "{wrong:?}"
    );
    assert!(!wrong.stderr.contains(&hex(&SECRET_B)), "{wrong:?}");

    assert!(terminate(&mut server).success());
}
