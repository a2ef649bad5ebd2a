//! `oddsmatch sim --journal` and `oddsmatch journal ...` end to end, with the built binary:
//! every example becomes a journal that verifies, replay stops where asked, a writer killed
//! with SIGKILL leaves a journal that verifies, corruption is named and a torn tail recovered.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use oddsmatch_engine::testkit::StreamGen;
use oddsmatch_journal::Reader;
use serde_json::Value;

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

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

/// A scratch directory for one test, emptied first and removed at its end.
fn scratch(test: &str) -> support::Scratch {
    support::scratch("journal", test)
}

fn oddsmatch(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
        .args(args)
        .output()
        .expect("the oddsmatch binary runs")
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs `sim --input input --output dir/events.jsonl --journal dir/journal` and returns the
/// sim's closing state hash and sequence number.
fn sim_to_journal(input: &Path, dir: &Path, extra: &[&str]) -> (String, u64) {
    let journal = dir.join("journal");
    let events = dir.join("events.jsonl");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "sim".as_ref(),
        "--input".as_ref(),
        input.as_os_str(),
        "--output".as_ref(),
        events.as_os_str(),
        "--journal".as_ref(),
        journal.as_os_str(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    ok(oddsmatch(&args));
    closing_hash(&std::fs::read_to_string(events).unwrap())
}

fn closing_hash(events: &str) -> (String, u64) {
    let last: Value = serde_json::from_str(events.lines().last().unwrap()).unwrap();
    (
        last["state_hash"].as_str().unwrap().to_string(),
        last["seq"].as_u64().unwrap(),
    )
}

/// The `seq N state_hash H` line of verify and replay.
fn reported_hash(stdout: &str) -> (String, u64) {
    let line = stdout
        .lines()
        .find(|line| line.starts_with("seq "))
        .unwrap_or_else(|| panic!("no state hash line in {stdout}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    (words[3].to_string(), words[1].parse().unwrap())
}

fn write_stream(path: &Path, seed: u64, count: usize) -> usize {
    let inputs = StreamGen::stream(seed, count);
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for input in &inputs {
        serde_json::to_writer(&mut file, input).unwrap();
        file.write_all(b"\n").unwrap();
    }
    file.flush().unwrap();
    inputs.len()
}

fn first_lines(from: &Path, to: &Path, count: u64) {
    let text = std::fs::read_to_string(from).unwrap();
    let mut out = String::new();
    for line in text.lines().take(count as usize) {
        out.push_str(line);
        out.push('\n');
    }
    std::fs::write(to, out).unwrap();
}

#[test]
fn every_example_becomes_a_journal_that_verifies_dumps_and_counts() {
    for name in EXAMPLES {
        let dir = scratch(&format!("example-{name}"));
        let (hash, seq) = sim_to_journal(&example(name), &dir, &[]);
        let journal = dir.join("journal");

        let verified = ok(oddsmatch(&[
            "journal".as_ref(),
            "verify".as_ref(),
            journal.as_os_str(),
        ]));
        assert_eq!(reported_hash(&verified), (hash.clone(), seq), "{name}");
        assert!(verified.contains("every event matches"), "{verified}");

        // The dump holds every input with exactly the events the sim printed.
        let dump = ok(oddsmatch(&[
            "journal".as_ref(),
            "dump".as_ref(),
            journal.as_os_str(),
            "--json".as_ref(),
        ]));
        let sim_events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
        let sim_event_lines = sim_events.lines().count() - 1;
        let mut dumped_events = 0;
        let mut records = 0;
        for line in dump.lines() {
            let record: Value = serde_json::from_str(line).unwrap();
            records += 1;
            assert_eq!(record["seq"].as_u64(), Some(records), "{name}");
            dumped_events += record["events"].as_array().unwrap().len();
            assert!(record["input"]["cmd"].is_string());
        }
        assert_eq!(records, seq, "{name}");
        assert_eq!(dumped_events, sim_event_lines, "{name}");

        let stats: Value = serde_json::from_str(&ok(oddsmatch(&[
            "journal".as_ref(),
            "stats".as_ref(),
            journal.as_os_str(),
            "--json".as_ref(),
        ])))
        .unwrap();
        assert_eq!(stats["records"].as_u64(), Some(seq), "{name}");
        assert_eq!(stats["last_seq"].as_u64(), Some(seq), "{name}");
        assert_eq!(stats["events"].as_u64(), Some(sim_event_lines as u64));
        let commands: u64 = stats["commands"]
            .as_object()
            .unwrap()
            .values()
            .map(|count| count.as_u64().unwrap())
            .sum();
        assert_eq!(commands, seq);
    }
}

#[test]
fn replay_stops_where_asked_and_snapshots_shorten_it() {
    let dir = scratch("replay");
    let input = dir.join("stream.jsonl");
    let total = write_stream(&input, 11, 3_000) as u64;
    let (hash, seq) = sim_to_journal(&input, &dir, &["--segment-bytes", "65536"]);
    assert_eq!(seq, total);
    let journal = dir.join("journal");

    // Replay to the middle equals a sim of the first half of the file.
    let half = total / 2;
    let prefix = dir.join("prefix.jsonl");
    first_lines(&input, &prefix, half);
    let prefix_out = ok(oddsmatch(&[
        "sim".as_ref(),
        "--input".as_ref(),
        prefix.as_os_str(),
    ]));
    let half_hash = closing_hash(&prefix_out);
    let replayed = ok(oddsmatch(&[
        "journal".as_ref(),
        "replay".as_ref(),
        journal.as_os_str(),
        "--to".as_ref(),
        half.to_string().as_ref(),
    ]));
    assert_eq!(reported_hash(&replayed), half_hash);

    // A snapshot of the whole journal, then a replay that starts from it.
    ok(oddsmatch(&[
        "journal".as_ref(),
        "snapshot".as_ref(),
        journal.as_os_str(),
    ]));
    let replayed = ok(oddsmatch(&[
        "journal".as_ref(),
        "replay".as_ref(),
        journal.as_os_str(),
    ]));
    assert!(
        replayed.contains(&format!("replayed 0 records after snapshot {seq}")),
        "{replayed}"
    );
    assert_eq!(reported_hash(&replayed), (hash.clone(), seq));

    // --snapshot-out writes a loadable snapshot file.
    let out = dir.join("half.snap");
    ok(oddsmatch(&[
        "journal".as_ref(),
        "replay".as_ref(),
        journal.as_os_str(),
        "--to".as_ref(),
        half.to_string().as_ref(),
        "--snapshot-out".as_ref(),
        out.as_os_str(),
    ]));
    assert!(std::fs::metadata(&out).unwrap().len() > 0);

    // Verify still re-applies everything from the genesis snapshot.
    let verified = ok(oddsmatch(&[
        "journal".as_ref(),
        "verify".as_ref(),
        journal.as_os_str(),
    ]));
    assert!(
        verified.contains(&format!("verified {seq} records")),
        "{verified}"
    );
    assert_eq!(reported_hash(&verified), (hash, seq));
}

#[test]
fn a_writer_killed_with_sigkill_leaves_a_journal_that_verifies() {
    let dir = scratch("kill9");
    let input = dir.join("stream.jsonl");
    let total = write_stream(&input, 12, 100_000) as u64;
    let journal = dir.join("journal");
    let events = dir.join("events.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
        .args(["sim", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&events)
        .arg("--journal")
        .arg(&journal)
        .args(["--segment-bytes", "1048576"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the writer is well into the stream, then kill it mid-way.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the writer never got going");
        std::thread::sleep(Duration::from_millis(50));
        let segments = std::fs::read_dir(&journal)
            .map(|entries| {
                entries
                    .filter(|entry| {
                        entry.as_ref().is_ok_and(|entry| {
                            entry.file_name().to_string_lossy().ends_with(".seg")
                        })
                    })
                    .count()
            })
            .unwrap_or(0);
        if segments >= 3 {
            break;
        }
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed before the end of the stream");

    let verified = ok(oddsmatch(&[
        "journal".as_ref(),
        "verify".as_ref(),
        journal.as_os_str(),
    ]));
    let (hash, seq) = reported_hash(&verified);
    assert!(seq > 0 && seq < total, "killed mid-way: {seq} of {total}");

    // What survived is exactly the first `seq` inputs of the file.
    let prefix = dir.join("prefix.jsonl");
    first_lines(&input, &prefix, seq);
    let prefix_out = ok(oddsmatch(&[
        "sim".as_ref(),
        "--input".as_ref(),
        prefix.as_os_str(),
    ]));
    assert_eq!(closing_hash(&prefix_out), (hash, seq));
}

#[test]
fn a_flipped_bit_is_named_and_a_torn_tail_is_recovered() {
    let dir = scratch("corrupt");
    let input = dir.join("stream.jsonl");
    write_stream(&input, 13, 2_000);
    let (_, seq) = sim_to_journal(&input, &dir, &["--segment-bytes", "65536"]);
    let journal = dir.join("journal");

    // Find a record in the middle and the last one.
    let reader = Reader::open(&journal).unwrap();
    let records: Vec<(u64, u64, u64, usize)> = reader
        .iter_from(1)
        .map(|record| {
            let record = record.unwrap();
            (
                record.seq,
                record.segment,
                record.offset,
                record.payload.len(),
            )
        })
        .collect();
    let segments: Vec<PathBuf> = reader.segments().iter().map(|s| s.path.clone()).collect();
    drop(reader);
    assert_eq!(records.len() as u64, seq);
    let segment_path = |index: u64| {
        segments
            .iter()
            .find(|path| {
                path.file_stem()
                    .and_then(|stem| stem.to_str())
                    .and_then(|stem| stem.parse::<u64>().ok())
                    == Some(index)
            })
            .unwrap()
            .clone()
    };

    // A torn tail: the last record's payload damaged, nothing valid after it.
    let torn = scratch("corrupt-torn");
    copy_dir(&journal, &torn);
    let (last_seq, last_segment, last_offset, _) = *records.last().unwrap();
    flip(
        &torn.join(segment_path(last_segment).file_name().unwrap()),
        last_offset + 40,
    );
    let verified = ok(oddsmatch(&[
        "journal".as_ref(),
        "verify".as_ref(),
        torn.as_os_str(),
    ]));
    assert!(verified.contains("torn tail"), "{verified}");
    assert_eq!(reported_hash(&verified).1, last_seq - 1);

    // A flipped bit in the middle stops verification, naming the segment and the offset.
    let middle = scratch("corrupt-middle");
    copy_dir(&journal, &middle);
    let (damaged_seq, segment, offset, _) = records[records.len() / 2];
    let damaged = middle.join(segment_path(segment).file_name().unwrap());
    flip(&damaged, offset + 40);
    let output = oddsmatch(&["journal".as_ref(), "verify".as_ref(), middle.as_os_str()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file_name = damaged.file_name().unwrap().to_string_lossy().into_owned();
    assert!(stderr.contains(&file_name), "{stderr}");
    assert!(stderr.contains(&offset.to_string()), "{stderr}");

    // An explicit repair truncates there; what is left verifies.
    let repaired = ok(oddsmatch(&[
        "journal".as_ref(),
        "repair".as_ref(),
        middle.as_os_str(),
    ]));
    assert!(repaired.contains("repaired"), "{repaired}");
    assert!(
        repaired.contains(&format!("ends at seq {}", damaged_seq - 1)),
        "{repaired}"
    );
    let verified = ok(oddsmatch(&[
        "journal".as_ref(),
        "verify".as_ref(),
        middle.as_os_str(),
    ]));
    assert_eq!(reported_hash(&verified).1, damaged_seq - 1);
}

fn flip(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
