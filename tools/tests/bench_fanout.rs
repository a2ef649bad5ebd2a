//! `oddsmatch bench fanout` end to end at a tiny size: the node starts as a child process,
//! every subscriber over TCP and QUIC gets every tick of both rates, and the NATS reference
//! (the development and CI machines run a NATS server on 127.0.0.1:4222) delivers the same.
//! Only the work is checked, never the timings.

mod support;

use std::process::Command;

use serde_json::Value;
use support::scratch;

const SUBSCRIBERS: u64 = 20;

#[test]
fn every_subscriber_gets_every_tick_over_each_transport_and_nats() {
    let dir = scratch("bench-fanout", "ticks");
    let output = Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
        .args(["bench", "fanout", "--json", "--duration", "1"])
        .args(["--subscribers", &SUBSCRIBERS.to_string()])
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench fanout failed:\n{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["mismatches"], Value::Array(vec![]), "{stderr}");
    assert_eq!(report["nats_missing"], Value::Null, "{stderr}");
    assert_eq!(report["quic_missing"], Value::Null, "{stderr}");

    let cases = report["cases"].as_array().unwrap();
    let mut seen = Vec::new();
    for case in cases {
        let name = format!(
            "{} {} {}",
            case["system"].as_str().unwrap(),
            case["transport"].as_str().unwrap(),
            case["rate"].as_str().unwrap()
        );
        let (hz, markets) = (
            case["hz"].as_u64().unwrap(),
            case["markets"].as_u64().unwrap(),
        );
        let sent = case["sent"].as_u64().unwrap();
        // One second of ticks at the rate, give or take the schedule's edges.
        assert!(
            sent >= hz * markets / 2 && sent <= 2 * hz * markets,
            "{name}: {sent} sent at {markets} markets of {hz} Hz"
        );
        assert_eq!(case["subscribers"].as_u64(), Some(SUBSCRIBERS), "{name}");
        assert_eq!(case["not_ready"].as_u64(), Some(0), "{name}");
        let expected = case["expected"].as_u64().unwrap();
        assert!(
            expected >= sent * SUBSCRIBERS / 2,
            "{name}: {expected} expected"
        );
        assert_eq!(
            case["delivered"].as_u64(),
            Some(expected),
            "{name}: {stderr}"
        );
        for field in [
            "gaps",
            "missed",
            "conflated",
            "duplicates",
            "sessions_ended",
        ] {
            assert_eq!(case[field].as_u64(), Some(0), "{name}: {field}");
        }
        assert_eq!(case["source_refused"].as_u64(), Some(0), "{name}");
        let latency = &case["latency"];
        assert!(latency["p50_ns"].as_u64().unwrap() > 0, "{name}: {latency}");
        assert!(
            latency["p50_ns"].as_u64() <= latency["max_ns"].as_u64(),
            "{name}: {latency}"
        );
        seen.push(name);
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "nats tcp 100x",
            "nats tcp base",
            "oddsmatch quic 100x",
            "oddsmatch quic base",
            "oddsmatch tcp 100x",
            "oddsmatch tcp base",
        ]
    );
    assert_eq!(report["comparisons"].as_array().unwrap().len(), 4);
    // The node's directory went with it.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn bad_options_are_refused_before_anything_starts() {
    for args in [
        &["--subscribers", "0"][..],
        &["--transports", "udp"],
        &["--rates", "fast"],
        &["--duration", "0.5"],
        &["--md-threads", "0"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
            .args(["bench", "fanout"])
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("starting"),
            "{args:?} started the node: {stderr}"
        );
    }
}
