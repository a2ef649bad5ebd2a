//! `oddsmatch sim` end to end: the built binary on the shipped examples and on bad inputs.
//!
//! The examples are documentation, so these tests hold them to what the documents say: every
//! line of output is an event with `seq` first, the last line is the state hash, the output is
//! the same on every run, and money is conserved.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The examples every checkout ships; `every_example_runs_cleanly` also runs any other
/// `.jsonl` file found next to them.
const EXAMPLES: [&str; 10] = [
    "race.jsonl",
    "place-market.jsonl",
    "prediction.jsonl",
    "void.jsonl",
    "rejects.jsonl",
    "pool-race.jsonl",
    "odds-ticks.jsonl",
    "feed-breaker.jsonl",
    "in-play-delay.jsonl",
    "vote.jsonl",
];

const HOUSE_ROUNDING: u64 = 4_294_967_295;
const HOUSE_COMMISSION: u64 = 4_294_967_294;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn example(name: &str) -> PathBuf {
    examples_dir().join(name)
}

/// A scratch directory for one test, emptied first and removed at its end.
fn scratch(test: &str) -> support::Scratch {
    support::scratch("sim", test)
}

fn sim(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
        .arg("sim")
        .args(args)
        .output()
        .expect("the oddsmatch binary runs")
}

fn sim_input(input: &Path) -> Output {
    sim(&["--input".as_ref(), input.as_os_str()])
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a file that must succeed and returns its standard output.
fn run_ok(input: &Path) -> String {
    let output = sim_input(input);
    assert!(
        output.status.success(),
        "{} failed: {}",
        input.display(),
        stderr(&output)
    );
    String::from_utf8(output.stdout).expect("output is UTF-8")
}

/// A parsed run: the events (each with its `seq`) and the closing line's hash and seq.
struct Run {
    events: Vec<Value>,
    state_hash: String,
    last_seq: u64,
}

impl Run {
    /// Checks the shape of every line and splits off the closing hash line.
    fn parse(stdout: &str) -> Run {
        let lines: Vec<&str> = stdout.lines().collect();
        let (hash_line, event_lines) = lines.split_last().expect("at least the hash line");
        let mut events = Vec::new();
        let mut previous_seq = 0;
        for line in event_lines {
            assert!(line.starts_with("{\"seq\":"), "seq is not first: {line}");
            let event: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            let seq = event["seq"].as_u64().unwrap_or_else(|| panic!("{line}"));
            assert!(event["event"].is_string(), "no event name: {line}");
            assert!(event.get("state_hash").is_none(), "{line}");
            assert!(
                seq >= previous_seq && seq >= 1,
                "seq went backwards: {line}"
            );
            previous_seq = seq;
            events.push(event);
        }
        let hash: Value = serde_json::from_str(hash_line)
            .unwrap_or_else(|e| panic!("hash line not JSON ({e}): {hash_line}"));
        let object = hash.as_object().expect("hash line is an object");
        assert_eq!(object.len(), 2, "{hash_line}");
        let state_hash = hash["state_hash"].as_str().expect("state_hash string");
        assert_eq!(state_hash.len(), 16, "{hash_line}");
        assert!(
            state_hash
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "{hash_line}"
        );
        let last_seq = hash["seq"].as_u64().expect("seq number");
        assert!(last_seq >= previous_seq, "{hash_line}");
        Run {
            events,
            state_hash: state_hash.to_string(),
            last_seq,
        }
    }

    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.events.iter().filter(move |e| e["event"] == name)
    }

    fn rejects<'a>(&'a self, reason: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.named("rejected")
            .filter(move |e| e["reason"] == reason)
    }

    fn cancels<'a>(&'a self, reason: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.named("order_cancelled")
            .filter(move |e| e["reason"] == reason)
    }

    /// The `balance` events of the last `balances` command, by account.
    fn final_balances(&self) -> BTreeMap<u64, (i64, i64)> {
        let last = self
            .named("balance")
            .map(|e| e["seq"].as_u64().unwrap())
            .max()
            .expect("a balances command");
        self.named("balance")
            .filter(|e| e["seq"] == last)
            .map(|e| {
                let account = e["account"].as_u64().unwrap();
                let balance = e["balance"].as_i64().unwrap();
                let exposure = e["exposure"].as_i64().unwrap();
                (account, (balance, exposure))
            })
            .collect()
    }

    /// Deposits minus withdrawals, from the `ledger` events.
    fn net_deposits(&self) -> i64 {
        self.named("ledger")
            .filter(|e| e["kind"] == "deposit" || e["kind"] == "withdrawal")
            .map(|e| e["amount"].as_i64().unwrap())
            .sum()
    }
}

/// Number of command lines in a file (not blank, not comments).
fn command_lines(input: &Path) -> u64 {
    std::fs::read_to_string(input)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("//"))
        .count() as u64
}

/// Money is conserved and every account's balance is what its ledger postings say.
fn assert_money_conserved(name: &str, run: &Run) {
    let balances = run.final_balances();
    assert!(balances.contains_key(&HOUSE_ROUNDING), "{name}");
    assert!(balances.contains_key(&HOUSE_COMMISSION), "{name}");
    let total: i64 = balances.values().map(|(balance, _)| balance).sum();
    assert_eq!(
        total,
        run.net_deposits(),
        "{name}: balances != deposits - withdrawals"
    );

    // Settlement, commission and rounding only move money between accounts.
    let internal: i64 = run
        .named("ledger")
        .filter(|e| e["kind"] != "deposit" && e["kind"] != "withdrawal")
        .map(|e| e["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(
        internal, 0,
        "{name}: settlement postings do not net to zero"
    );

    let mut from_ledger: BTreeMap<u64, i64> = BTreeMap::new();
    for posting in run.named("ledger") {
        let account = posting["account"].as_u64().unwrap();
        let entry = from_ledger.entry(account).or_insert(0);
        *entry += posting["amount"].as_i64().unwrap();
        assert_eq!(
            *entry,
            posting["balance"].as_i64().unwrap(),
            "{name}: {posting}"
        );
    }
    for (account, (balance, exposure)) in &balances {
        assert_eq!(
            *balance,
            from_ledger.get(account).copied().unwrap_or(0),
            "{name}: account {account}"
        );
        assert!(
            *exposure >= 0 && exposure <= balance,
            "{name}: account {account}"
        );
    }
}

#[test]
fn every_example_runs_cleanly() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    for name in EXAMPLES {
        assert!(files.contains(&example(name)), "missing example {name}");
    }
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let run = Run::parse(&run_ok(file));
        assert_eq!(
            run.last_seq,
            command_lines(file),
            "{name}: one seq per command"
        );
        assert!(!run.events.is_empty(), "{name}");
        // Each example ends by printing the balances, and they add up.
        let last = run.events.last().unwrap();
        assert_eq!(last["event"], "balance", "{name} should end with balances");
        assert_eq!(last["seq"].as_u64(), Some(run.last_seq), "{name}");
        assert_money_conserved(&name, &run);
    }
}

#[test]
fn the_same_input_gives_byte_identical_output() {
    for name in EXAMPLES {
        let first = sim_input(&example(name));
        let second = sim_input(&example(name));
        assert!(first.status.success(), "{name}: {}", stderr(&first));
        assert_eq!(first.stdout, second.stdout, "{name} differs between runs");
    }
}

#[test]
fn output_option_writes_the_same_bytes_as_stdout() {
    let dir = scratch("output-option");
    for name in EXAMPLES {
        let path = dir.join(name);
        let output = sim(&[
            "--input".as_ref(),
            example(name).as_os_str(),
            "--output".as_ref(),
            path.as_os_str(),
        ]);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        assert!(output.stdout.is_empty(), "{name}: nothing goes to stdout");
        let written = std::fs::read(&path).unwrap();
        assert_eq!(written, sim_input(&example(name)).stdout, "{name}");
    }
    // The temporary files were renamed away.
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let mut expected: Vec<String> = EXAMPLES.iter().map(|name| name.to_string()).collect();
    expected.sort();
    assert_eq!(left, expected);
}

#[test]
fn output_option_replaces_an_existing_file() {
    let dir = scratch("output-replaces");
    let path = dir.join("out.jsonl");
    std::fs::write(
        &path,
        "old contents that are longer than nothing\n".repeat(1000),
    )
    .unwrap();
    let output = sim(&[
        "--input".as_ref(),
        example("void.jsonl").as_os_str(),
        "--output".as_ref(),
        path.as_os_str(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        sim_input(&example("void.jsonl")).stdout
    );
}

const GOOD_LINE: &str = r#"{"ts":10,"cmd":"create_account","account":1}"#;

#[test]
fn a_malformed_line_stops_the_run_naming_the_file_and_line() {
    let dir = scratch("malformed");
    let input = dir.join("bad.jsonl");
    let text = format!(
        "{GOOD_LINE}\n# a comment counts as a line\n\
         {{\"ts\":11,\"cmd\":\"deposit\",\"account\":1,\"amount\":100}}\n\
         {{\"ts\":12,\"cmd\":\"balances\"}}\n"
    );
    std::fs::write(&input, text).unwrap();
    let output = sim_input(&input);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("bad.jsonl:3:"), "{message}");
    assert!(message.contains("missing field `transfer_id`"), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    // The line before the bad one ran; nothing after it did, and there is no hash line.
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout,
        "{\"seq\":1,\"event\":\"account_created\",\"account\":1,\"tier\":\"basic\"}\n"
    );
}

#[test]
fn invalid_json_unknown_commands_and_unknown_fields_are_errors() {
    let dir = scratch("invalid");
    let cases = [
        (r#"{"ts":1,"cmd":"balances""#, "EOF while parsing an object"),
        ("[1, 2]", "invalid type: sequence"),
        (
            r#"{"ts":1,"cmd":"create_acount","account":1}"#,
            "unknown variant",
        ),
        (
            r#"{"ts":1,"cmd":"create_account","acount":1}"#,
            "unknown field `acount`",
        ),
        (r#"{"ts":-1,"cmd":"balances"}"#, "-1"),
        (r#"{"cmd":"balances"}"#, "missing field `ts`"),
        (
            r#"{"ts":1,"cmd":"deposit","account":1,"amount":1.5,"transfer_id":1}"#,
            "1.5",
        ),
    ];
    for (line, expected) in cases {
        let input = dir.join("case.jsonl");
        std::fs::write(&input, format!("{GOOD_LINE}\n{line}\n")).unwrap();
        let output = sim_input(&input);
        assert_eq!(output.status.code(), Some(2), "{line}");
        let message = stderr(&output);
        assert!(message.contains("case.jsonl:2:"), "{line}: {message}");
        assert!(message.contains(expected), "{line}: {message}");
    }
}

#[test]
fn a_malformed_line_leaves_the_output_file_untouched() {
    let dir = scratch("malformed-output");
    let input = dir.join("bad.jsonl");
    std::fs::write(&input, format!("{GOOD_LINE}\n{{\"ts\":11\n")).unwrap();
    let path = dir.join("out.jsonl");
    std::fs::write(&path, "previous run\n").unwrap();
    let output = sim(&[
        "--input".as_ref(),
        input.as_os_str(),
        "--output".as_ref(),
        path.as_os_str(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "previous run\n");
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(names.len(), 2, "no temporary file is left behind");
}

#[test]
fn a_timestamp_lower_than_the_previous_one_is_an_error() {
    let dir = scratch("backwards");
    let input = dir.join("time.jsonl");
    let text = format!(
        "{GOOD_LINE}\n{{\"ts\":10,\"cmd\":\"balances\"}}\n\n{{\"ts\":9,\"cmd\":\"balances\"}}\n"
    );
    std::fs::write(&input, text).unwrap();
    let output = sim_input(&input);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("time.jsonl:4:"), "{message}");
    assert!(message.contains("ts 9"), "{message}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(!stdout.contains("state_hash"), "{stdout}");
}

#[test]
fn a_missing_input_file_is_an_error() {
    let dir = scratch("missing");
    let output = sim_input(&dir.join("nope.jsonl"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("nope.jsonl"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn comments_do_not_change_events_or_the_hash() {
    let dir = scratch("comments");
    let original = std::fs::read_to_string(example("rejects.jsonl")).unwrap();
    let stripped: String = original
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| format!("  // before\n{l}\r\n\n"))
        .collect();
    let input = dir.join("stripped.jsonl");
    std::fs::write(&input, stripped).unwrap();
    assert_eq!(run_ok(&input), run_ok(&example("rejects.jsonl")));
}

#[test]
fn a_file_without_commands_prints_only_the_hash_line() {
    let dir = scratch("empty");
    let input = dir.join("empty.jsonl");
    std::fs::write(&input, "# nothing yet\n\n").unwrap();
    let run = Run::parse(&run_ok(&input));
    assert!(run.events.is_empty());
    assert_eq!(run.last_seq, 0);
}

#[test]
fn rejected_commands_leave_the_hash_unchanged() {
    let dir = scratch("reject-hash");
    let base = format!(
        "{GOOD_LINE}\n{{\"ts\":11,\"cmd\":\"deposit\",\"account\":1,\"amount\":500,\"transfer_id\":1}}\n"
    );
    let with_rejects = format!(
        "{base}{{\"ts\":12,\"cmd\":\"deposit\",\"account\":1,\"amount\":500,\"transfer_id\":1}}\n\
         {{\"ts\":13,\"cmd\":\"withdraw\",\"account\":1,\"amount\":501,\"transfer_id\":2}}\n"
    );
    let accepted = format!(
        "{base}{{\"ts\":12,\"cmd\":\"deposit\",\"account\":1,\"amount\":500,\"transfer_id\":2}}\n"
    );
    let hash_of = |name: &str, text: &str| {
        let input = dir.join(name);
        std::fs::write(&input, text).unwrap();
        Run::parse(&run_ok(&input)).state_hash
    };
    let before = hash_of("base.jsonl", &base);
    assert_eq!(before, hash_of("rejects.jsonl", &with_rejects));
    assert_ne!(before, hash_of("accepted.jsonl", &accepted));
}

// -- race.jsonl: the README's quick start --

fn race() -> Run {
    Run::parse(&run_ok(&example("race.jsonl")))
}

#[test]
fn race_has_trades_with_both_market_makers() {
    let run = race();
    let trades: Vec<&Value> = run.named("trade").collect();
    assert!(trades.len() >= 10, "{} trades", trades.len());
    for maker in [100, 200] {
        assert!(
            trades.iter().any(|t| t["maker_account"] == maker),
            "market maker {maker} never traded"
        );
    }
    for trade in &trades {
        assert_ne!(trade["maker_account"], trade["taker_account"], "{trade}");
        assert!(trade["stake"].as_i64().unwrap() > 0, "{trade}");
    }
}

#[test]
fn race_duplicate_client_order_id_names_the_original_order() {
    let run = race();
    let duplicates: Vec<&Value> = run.rejects("duplicate_client_order_id").collect();
    assert_eq!(duplicates.len(), 1);
    let duplicate = duplicates[0];
    let original = run
        .named("order_accepted")
        .find(|e| {
            e["account"] == duplicate["account"]
                && e["client_order_id"] == duplicate["client_order_id"]
        })
        .expect("the original order");
    assert_eq!(duplicate["order_id"], original["order_id"]);
    assert!(duplicate["order_id"].is_u64());
    // The repeat created no second order with that client order id.
    let accepted_with_id = run
        .named("order_accepted")
        .filter(|e| {
            e["account"] == duplicate["account"]
                && e["client_order_id"] == duplicate["client_order_id"]
        })
        .count();
    assert_eq!(accepted_with_id, 1);
}

#[test]
fn race_suspension_cancels_lapse_orders_and_keeps_persist_ones() {
    let run = race();
    let persistence_of = |order_id: &Value| {
        run.named("order_accepted")
            .find(|e| &e["order_id"] == order_id)
            .map(|e| e["persistence"].clone())
            .expect("accepted before")
    };
    let lapsed: Vec<&Value> = run.cancels("market_suspended").collect();
    assert!(lapsed.len() >= 10, "{} lapsed", lapsed.len());
    for cancel in &lapsed {
        assert_eq!(persistence_of(&cancel["order_id"]), "lapse", "{cancel}");
    }
    let suspend_seq = lapsed[0]["seq"].clone();
    assert!(
        run.named("market_status")
            .any(|e| e["status"] == "suspended" && e["seq"] == suspend_seq)
    );
    // The persist order survived the suspension and traded after the resume.
    let persist = run
        .named("order_accepted")
        .find(|e| e["persistence"] == "persist")
        .expect("a persist order");
    let resumed_seq = run
        .named("market_status")
        .find(|e| e["status"] == "open" && e["seq"].as_u64() > suspend_seq.as_u64())
        .map(|e| e["seq"].as_u64().unwrap())
        .expect("resumed");
    assert!(
        run.named("trade")
            .any(|t| t["maker_order_id"] == persist["order_id"]
                && t["seq"].as_u64().unwrap() > resumed_seq),
        "the persist order should trade after the resume"
    );
    // Orders are refused while suspended.
    assert_eq!(run.rejects("market_not_open").count(), 1);
}

#[test]
fn race_shows_each_time_in_force_and_order_feature() {
    let run = race();
    assert_eq!(run.rejects("fok_not_filled").count(), 1);
    assert_eq!(run.rejects("post_only_would_match").count(), 1);
    assert_eq!(run.rejects("duplicate_transfer_id").count(), 1);
    assert!(run.cancels("ioc_remainder").count() >= 1);
    assert!(run.cancels("quote_replaced").count() >= 1);
    assert!(run.cancels("market_closed").count() >= 1);
    // A cancel by client order id: Alice's (301) order with client order id 2.
    let alice = run
        .named("order_accepted")
        .find(|e| e["account"] == 301 && e["client_order_id"] == 2)
        .expect("Alice's second order");
    assert!(
        run.cancels("requested")
            .any(|c| c["order_id"] == alice["order_id"])
    );
    // Replaces with and without keeping priority, from a mass quote and from replace_order.
    let replaced: Vec<&Value> = run.named("order_replaced").collect();
    assert!(replaced.iter().any(|r| r["priority_kept"] == true));
    assert!(replaced.iter().any(|r| r["priority_kept"] == false));
    assert!(
        run.named("order_accepted")
            .any(|e| e["quote"] == true && e["account"] == 200)
    );
}

#[test]
fn race_settles_with_commission_and_conserves_money() {
    let run = race();
    let settled: Vec<&Value> = run.named("market_settled").collect();
    assert_eq!(settled.len(), 1);
    assert_eq!(settled[0]["winners"], serde_json::json!([1]));
    let commission: i64 = run
        .named("account_settled")
        .map(|e| e["commission"].as_i64().unwrap())
        .sum();
    assert!(commission > 0);
    let balances = run.final_balances();
    assert_eq!(balances[&HOUSE_COMMISSION].0, commission);
    // 5% of each positive result, rounded down.
    for account in run.named("account_settled") {
        let pnl = account["pnl"].as_i64().unwrap();
        let expected = if pnl > 0 { pnl * 500 / 10_000 } else { 0 };
        assert_eq!(
            account["commission"].as_i64().unwrap(),
            expected,
            "{account}"
        );
    }
    let deposits = 2 * 10_000_000 + 200_000 + 500_000 + 100_000 + 20_000 + 150_000;
    assert_eq!(run.net_deposits(), deposits - 50_000);
    let total: i64 = balances.values().map(|(balance, _)| balance).sum();
    assert_eq!(total, deposits - 50_000);
    assert!(balances.values().all(|(_, exposure)| *exposure == 0));
}

// -- the other examples --

#[test]
fn place_market_needs_two_winners_and_rounds_to_the_house() {
    let run = Run::parse(&run_ok(&example("place-market.jsonl")));
    let created = run.named("market_created").next().unwrap();
    assert_eq!(created["places"], 2);
    assert_eq!(run.rejects("invalid_winners").count(), 1);
    let settled = run.named("market_settled").next().unwrap();
    assert_eq!(settled["winners"].as_array().unwrap().len(), 2);
    let rounding: i64 = run
        .named("ledger")
        .filter(|e| e["kind"] == "rounding")
        .map(|e| {
            assert_eq!(e["account"], HOUSE_ROUNDING);
            e["amount"].as_i64().unwrap()
        })
        .sum();
    assert!(rounding > 0, "odd stakes should leave a rounding residue");
}

#[test]
fn prediction_uses_the_probability_ladder() {
    let run = Run::parse(&run_ok(&example("prediction.jsonl")));
    let created = run.named("market_created").next().unwrap();
    assert_eq!(created["ladder"], "probability");
    assert_eq!(created["selections"], 2);
    assert!(run.named("trade").count() >= 3);
    // A maker's new quote took a stale resting order: the quote is the taker.
    let quote_ids: Vec<&Value> = run
        .named("order_accepted")
        .filter(|e| e["quote"] == true)
        .map(|e| &e["order_id"])
        .collect();
    assert!(
        run.named("trade")
            .any(|t| quote_ids.contains(&&t["taker_order_id"]))
    );
}

#[test]
fn void_refunds_everyone() {
    let run = Run::parse(&run_ok(&example("void.jsonl")));
    assert!(run.named("market_status").any(|e| e["status"] == "voided"));
    assert_eq!(run.named("market_settled").count(), 0);
    let results: Vec<&Value> = run.named("account_settled").collect();
    assert!(results.len() >= 3);
    assert!(
        results
            .iter()
            .all(|e| e["pnl"] == 0 && e["commission"] == 0)
    );
    assert!(
        run.named("ledger")
            .all(|e| e["kind"] == "deposit" || e["kind"] == "withdrawal")
    );
    assert_eq!(run.rejects("market_finalized").count(), 1);
    // Every balance is its deposits minus its withdrawals.
    let mut net: BTreeMap<u64, i64> = BTreeMap::new();
    for posting in run.named("ledger") {
        *net.entry(posting["account"].as_u64().unwrap()).or_insert(0) +=
            posting["amount"].as_i64().unwrap();
    }
    for (account, (balance, exposure)) in run.final_balances() {
        assert_eq!(balance, net.get(&account).copied().unwrap_or(0));
        assert_eq!(exposure, 0);
    }
}

#[test]
fn rejects_example_covers_the_reasons() {
    let run = Run::parse(&run_ok(&example("rejects.jsonl")));
    let expected = [
        "unknown_market",
        "market_not_open",
        "invalid_selection",
        "duplicate_market",
        "invalid_market_definition",
        "invalid_market_transition",
        "market_finalized",
        "invalid_winners",
        "invalid_odds",
        "invalid_stake",
        "duplicate_client_order_id",
        "unknown_order",
        "post_only_would_match",
        "fok_not_filled",
        "invalid_quote",
        "invalid_order_reference",
        "insufficient_funds",
        "exposure_limit",
        "max_open_orders",
        "kill_switch",
        "unknown_account",
        "duplicate_account",
        "reserved_account",
        "invalid_amount",
        "duplicate_transfer_id",
        "insufficient_free_balance",
        "invalid_limits",
    ];
    for reason in expected {
        assert!(run.rejects(reason).count() >= 1, "no {reason} reject");
    }
    let seen: std::collections::BTreeSet<&str> = run
        .named("rejected")
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(seen.len(), expected.len(), "{seen:?}");
    // Nothing matched, so every balance is still its deposit.
    assert_eq!(run.named("trade").count(), 0);
    assert!(run.named("ledger").all(|e| e["kind"] == "deposit"));
}

#[test]
fn the_worked_example_in_the_format_document_is_accurate() {
    let document = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/sim-format.md"),
    )
    .unwrap();
    let section = document
        .split("## 8. A worked example")
        .nth(1)
        .expect("section 8");
    // The section's first two code blocks are the input and its output.
    let blocks: Vec<&str> = section.split("```").skip(1).step_by(2).take(2).collect();
    let [input_text, expected] = blocks[..] else {
        panic!("section 8 should hold two code blocks");
    };
    let dir = scratch("worked-example");
    let input = dir.join("two-bettors.jsonl");
    std::fs::write(&input, input_text.trim_start()).unwrap();
    assert_eq!(run_ok(&input), expected.trim_start());
}

/// The events of one input (by its `seq`), in order.
fn at_seq(run: &Run, seq: u64) -> Vec<&Value> {
    run.events.iter().filter(|e| e["seq"] == seq).collect()
}

/// Checks that a stream's sequence numbers (`field`) over the events named `names` of one
/// market go 1, 2, 3, ... without a gap.
fn assert_gap_free(run: &Run, market: u64, names: &[&str], field: &str) {
    let seqs: Vec<u64> = run
        .events
        .iter()
        .filter(|e| e["market"] == market && names.contains(&e["event"].as_str().unwrap()))
        .filter_map(|e| e[field].as_u64())
        .collect();
    assert!(!seqs.is_empty());
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "{field}");
}

#[test]
fn pool_race_pays_the_winners_pro_rata_and_the_house_its_takeout() {
    let run = Run::parse(&run_ok(&example("pool-race.jsonl")));
    // Pools at the lock: 1: 30000, 2: 30000, 3: 17000 (one 5000 bet refused), 4: 21000.
    let total: i64 = 98_000;
    let net = total * 8_500 / 10_000;
    assert_eq!(net, 83_300);
    let paid: Vec<i64> = run
        .named("bet_settled")
        .map(|e| e["payout"].as_i64().unwrap())
        .filter(|p| *p > 0)
        .collect();
    // Three winning bets of 10000 on a 30000 pool: floor(83300 * 10000 / 30000) each.
    assert_eq!(paid, vec![27_766; 3]);
    let house = run.final_balances();
    assert_eq!(house[&HOUSE_COMMISSION].0, total - net);
    assert_eq!(house[&HOUSE_ROUNDING].0, net - 3 * 27_766);
    // The lock came from the schedule, and a later bet was refused.
    let lock = run
        .named("market_status")
        .find(|e| e["cause"] == "lock")
        .expect("a lock");
    assert_eq!(lock["status"], "suspended");
    assert_eq!(run.rejects("pool_limit").count(), 1);
    assert_eq!(run.rejects("market_not_open").count(), 1);
    assert_eq!(run.named("bet_cancelled").count(), 1);
    assert_gap_free(&run, 10, &["market_status", "pool_changed"], "book_seq");
    assert_gap_free(&run, 10, &["odds_tick"], "tick_seq");
}

#[test]
fn odds_ticks_example_filters_what_the_book_stream_shows() {
    let run = Run::parse(&run_ok(&example("odds-ticks.jsonl")));
    let reasons: Vec<&str> = run
        .named("odds_tick")
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "status",
            "change",
            "heartbeat",
            "change",
            "change",
            "status",
            "status",
            "status"
        ]
    );
    // More depth changes than ticks, though ticks include status and heartbeats.
    assert!(run.named("book_depth").count() > reasons.len());
    assert_gap_free(
        &run,
        20,
        &["market_status", "trade", "book_depth"],
        "book_seq",
    );
    assert_gap_free(&run, 20, &["odds_tick"], "tick_seq");
    // The mass quote at t+0.1 s changed depth but waited for the timer at t+0.3 s to tick.
    let quote = at_seq(&run, 7);
    assert!(quote.iter().any(|e| e["event"] == "book_depth"));
    assert!(quote.iter().all(|e| e["event"] != "odds_tick"));
    assert!(at_seq(&run, 8).iter().any(|e| e["event"] == "odds_tick"));
    // The move that went back before the interval ended published nothing (timer at t+2.0).
    let timer_line = run
        .events
        .iter()
        .filter(|e| e["event"] == "odds_tick" && e["reason"] == "change")
        .map(|e| e["seq"].as_u64().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(timer_line, vec![8, 12, 16]);
    // Every tick is followed by one selection_odds per selection.
    for (i, event) in run.events.iter().enumerate() {
        if event["event"] == "odds_tick" {
            for next in &run.events[i + 1..i + 3] {
                assert_eq!(next["event"], "selection_odds");
            }
        }
    }
}

#[test]
fn feed_breaker_example_bands_orders_and_trips_once() {
    let run = Run::parse(&run_ok(&example("feed-breaker.jsonl")));
    assert_eq!(run.rejects("role_not_permitted").count(), 2);
    assert_eq!(run.rejects("invalid_reference").count(), 1);
    assert_eq!(run.rejects("outside_price_band").count(), 1);
    let trips: Vec<&Value> = run.named("circuit_breaker_tripped").collect();
    assert_eq!(trips.len(), 1, "the slow drift must not trip it");
    assert_eq!(trips[0]["selection"], 1);
    assert_eq!(trips[0]["from_odds"], 169);
    assert_eq!(trips[0]["to_odds"], 250);
    assert_eq!(trips[0]["move_bps"], 4_792);
    let cause: Vec<&str> = run
        .named("market_status")
        .map(|e| e["cause"].as_str().unwrap())
        .collect();
    assert_eq!(
        cause,
        [
            "operator",
            "circuit_breaker",
            "operator",
            "operator",
            "operator"
        ]
    );
    // The persist lay survived the suspension; the lapse back did not.
    assert_eq!(run.cancels("market_suspended").count(), 1);
}

#[test]
fn in_play_delay_example_holds_orders_back() {
    let run = Run::parse(&run_ok(&example("in-play-delay.jsonl")));
    let delayed: Vec<u64> = run
        .named("order_delayed")
        .map(|e| e["order_id"].as_u64().unwrap())
        .collect();
    assert_eq!(delayed, vec![1, 2, 3, 4]);
    // The only trade happens at the timer that ends order 2's delay (seq 12), not before.
    let trades: Vec<u64> = run
        .named("trade")
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(trades, vec![12]);
    let refused = run
        .rejects("market_suspended_during_delay")
        .next()
        .expect("a waiting order refused");
    assert_eq!(refused["order_id"], 3);
    assert_eq!(refused["command"], "place_order");
    assert_eq!(run.rejects("in_play_delay").count(), 3);
    assert!(
        run.named("market_status")
            .any(|e| e["cause"] == "close" && e["status"] == "closed")
    );
}

#[test]
fn vote_example_settles_on_the_weighted_result() {
    let run = Run::parse(&run_ok(&example("vote.jsonl")));
    let result = run.named("vote_result").next().expect("a vote result");
    assert_eq!(result["winner"], 1);
    assert_eq!(result["voters"], 3);
    // Weights are the voters' exposures: 16000 + 10000 + 4000.
    assert_eq!(result["total_weight"], 30_000);
    assert_eq!(result["leading_weight"], 30_000);
    assert_eq!(
        run.named("vote_accepted")
            .filter(|e| e["replaced"] == true)
            .count(),
        1
    );
    for reason in [
        "vote_window_closed",
        "not_eligible_to_vote",
        "invalid_selection",
        "market_finalized",
    ] {
        assert_eq!(run.rejects(reason).count(), 1, "{reason}");
    }
    let settled = run
        .named("market_status")
        .find(|e| e["status"] == "settled")
        .unwrap();
    assert_eq!(settled["cause"], "vote");
}
