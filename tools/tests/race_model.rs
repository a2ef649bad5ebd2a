//! `oddsmatch race-model` end to end: the built binary's output is the same for a seed, its
//! probabilities are valid and smooth, and with `--with-setup` it runs through `oddsmatch sim`
//! to a lock and a settlement on the race's winner.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const START_TS: u64 = 1_767_277_200_000_000_000;

fn oddsmatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
        .args(args)
        .output()
        .expect("the oddsmatch binary runs")
}

/// Runs `race-model` with `args`, which must succeed, and returns its standard output.
fn race_model(args: &[&str]) -> String {
    let output = oddsmatch(&[&["race-model"], args].concat());
    assert!(
        output.status.success(),
        "race-model {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("output is UTF-8")
}

/// The command lines of an output (comments skipped), parsed.
fn commands(output: &str) -> Vec<Value> {
    output
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn probabilities(command: &Value) -> Vec<u64> {
    command["probabilities_bps"]
        .as_array()
        .expect("probabilities_bps is an array")
        .iter()
        .map(|p| p.as_u64().expect("a probability is an integer"))
        .collect()
}

/// The winner named by the output's `settle_market`.
fn settled_winner(output: &str) -> u64 {
    let settle = commands(output)
        .into_iter()
        .find(|c| c["cmd"] == "settle_market")
        .expect("a settle_market line");
    let winners = settle["winners"].as_array().unwrap();
    assert_eq!(winners.len(), 1);
    winners[0].as_u64().unwrap()
}

#[test]
fn the_output_is_fixed_by_the_seed() {
    let args = ["--seed", "7", "--with-setup", "--positions"];
    let first = race_model(&args);
    assert_eq!(first, race_model(&args));
    assert_ne!(
        first,
        race_model(&["--seed", "8", "--with-setup", "--positions"])
    );
    // The race does not depend on how often it is priced.
    let sparse = race_model(&["--seed", "7", "--with-setup", "--interval-ms", "1000"]);
    assert_eq!(settled_winner(&first), settled_winner(&sparse));
}

#[test]
fn probabilities_are_valid_smooth_and_on_time() {
    for (runners, interval_ms, duration_ms, seed) in [
        (8, 250, 60_000, 1),
        (2, 100, 5_000, 2),
        (5, 1_000, 30_000, 3),
        (64, 500, 20_000, 4),
    ] {
        let output = race_model(&[
            "--market",
            "9",
            "--feed-account",
            "77",
            "--runners",
            &runners.to_string(),
            "--interval-ms",
            &interval_ms.to_string(),
            "--duration-ms",
            &duration_ms.to_string(),
            "--seed",
            &seed.to_string(),
        ]);
        let lines = commands(&output);
        assert_eq!(lines.len() as u64, duration_ms / interval_ms + 1);
        // Each publication moves any runner's fair odds (1 / probability) by at most the
        // per-publication share of the default 2000 bps per second.
        let step = 2_000 / 1_000u64.div_ceil(interval_ms);
        let mut previous: Option<Vec<u64>> = None;
        for (k, line) in lines.iter().enumerate() {
            let context = format!("{runners} runners, line {k}: {line}");
            assert_eq!(
                line["ts"],
                START_TS + k as u64 * interval_ms * 1_000_000,
                "{context}"
            );
            assert_eq!(line["cmd"], "reference_odds", "{context}");
            assert_eq!(
                (line["account"].as_u64(), line["market"].as_u64()),
                (Some(77), Some(9))
            );
            let p = probabilities(line);
            assert_eq!(p.len(), runners, "{context}");
            assert_eq!(p.iter().sum::<u64>(), 10_000, "{context}");
            assert!(p.iter().all(|bps| (10..=10_000).contains(bps)), "{context}");
            if let Some(before) = &previous {
                for (old, new) in before.iter().zip(&p) {
                    assert!(
                        old * 10_000 <= new * (10_000 + step),
                        "{context}: {old} -> {new}"
                    );
                    assert!(
                        new * 10_000 <= old * (10_000 + step),
                        "{context}: {old} -> {new}"
                    );
                }
            }
            previous = Some(p);
        }
    }
}

/// A scratch file for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("race-model");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Events of a sim run, without the closing hash line.
fn sim(input: &Path) -> Vec<Value> {
    let output = oddsmatch(&["sim", "--input", input.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "sim failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    let (hash, events) = lines.split_last().expect("the hash line");
    assert!(hash.starts_with("{\"state_hash\":"), "{hash}");
    events
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn the_setup_runs_through_the_sim_to_a_lock_and_a_settlement() {
    for (name, args) in [
        ("default", vec!["--seed", "1"]),
        ("seed-5", vec!["--seed", "5"]),
        (
            "short",
            vec![
                "--seed",
                "2",
                "--runners",
                "3",
                "--interval-ms",
                "100",
                "--duration-ms",
                "8000",
            ],
        ),
        (
            "sparse",
            vec![
                "--seed",
                "3",
                "--runners",
                "12",
                "--interval-ms",
                "2000",
                "--duration-ms",
                "40000",
            ],
        ),
    ] {
        let output = race_model(&[&args[..], &["--with-setup", "--positions"]].concat());
        let winner = settled_winner(&output);
        let commands = commands(&output);
        let count = |cmd: &str| commands.iter().filter(|c| c["cmd"] == cmd).count();
        let input = scratch(&format!("{name}.jsonl"));
        std::fs::write(&input, &output).unwrap();
        let events = sim(&input);
        let named = |event: &str| -> Vec<&Value> {
            events.iter().filter(|e| e["event"] == event).collect()
        };

        assert!(
            named("rejected").is_empty(),
            "{name}: {:?}",
            named("rejected")
        );
        assert!(named("circuit_breaker_tripped").is_empty(), "{name}");
        assert_eq!(
            named("reference_updated").len(),
            count("reference_odds"),
            "{name}"
        );
        assert_eq!(
            named("bet_accepted").len(),
            12,
            "{name}: four bettors bet three times"
        );
        assert_eq!(count("place_bet"), 12, "{name}");

        let statuses: Vec<(&str, &str)> = named("market_status")
            .iter()
            .map(|e| (e["status"].as_str().unwrap(), e["cause"].as_str().unwrap()))
            .collect();
        assert_eq!(
            statuses,
            [
                ("open", "operator"),
                ("suspended", "lock"),
                ("settled", "operator")
            ],
            "{name}"
        );
        let settled = named("market_settled");
        assert_eq!(settled.len(), 1, "{name}");
        assert_eq!(settled[0]["winners"], serde_json::json!([winner]), "{name}");
        assert_eq!(named("bet_settled").len(), 12, "{name}");
        // The lock comes after the last bet and before the settlement.
        let seq_of = |status: &str| {
            named("market_status")
                .iter()
                .find(|e| e["status"] == status)
                .map(|e| e["seq"].as_u64().unwrap())
                .unwrap()
        };
        let last_bet = named("bet_accepted")
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .max()
            .unwrap();
        assert!(last_bet < seq_of("suspended") && seq_of("suspended") < seq_of("settled"));
    }
}

#[test]
fn a_race_too_short_for_the_lock_is_refused_with_the_setup() {
    let output = oddsmatch(&["race-model", "--with-setup", "--duration-ms", "3000"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--duration-ms > 3000"), "{stderr}");
    // Without the setup there is no lock to respect.
    race_model(&["--duration-ms", "3000"]);
}
