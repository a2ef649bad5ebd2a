//! `oddsmatch journal ...`: verify, dump, count, replay and snapshot a shard's journal.
//!
//! Each command reads a journal directory as `oddsmatch serve` or `oddsmatch sim --journal`
//! left it: segment files, and snapshots under `snapshots/`. None of them changes the journal
//! except `journal snapshot`, which adds a snapshot. Long runs show a progress bar on a
//! terminal and stay quiet when standard error is piped.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use oddsmatch_engine::record::{self, RECORD_INPUT};
use oddsmatch_engine::shard::{ReplayOptions, Replayed, Start, replay};
use oddsmatch_engine::{Event, Input};
use oddsmatch_journal::{Journal, JournalConfig, Reader, SnapshotStore, write_snapshot_file};
use serde::Serialize;

/// Arguments of `oddsmatch journal`.
#[derive(Debug, clap::Args)]
pub struct JournalArgs {
    #[command(subcommand)]
    command: JournalCommand,
}

#[derive(Debug, clap::Subcommand)]
enum JournalCommand {
    /// Check every record, re-apply every input through a fresh engine and compare the events
    /// byte for byte; print the final state hash. Exits non-zero at the first mismatch.
    Verify {
        /// The journal directory.
        dir: PathBuf,
    },
    /// Print records: the input and the events it produced.
    Dump {
        /// The journal directory.
        dir: PathBuf,
        /// First sequence number to print.
        #[arg(long)]
        from: Option<u64>,
        /// Last sequence number to print.
        #[arg(long)]
        to: Option<u64>,
        /// One JSON object per record.
        #[arg(long)]
        json: bool,
    },
    /// Records, bytes, segments, first and last sequence and time, counts per record kind
    /// and per command.
    Stats {
        /// The journal directory.
        dir: PathBuf,
        /// Print the statistics as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the state from the newest snapshot and the records after it (up to `--to`) and
    /// print its state hash.
    Replay {
        /// The journal directory.
        dir: PathBuf,
        /// Stop after this sequence number.
        #[arg(long)]
        to: Option<u64>,
        /// Write the rebuilt state to this snapshot file.
        #[arg(long)]
        snapshot_out: Option<PathBuf>,
    },
    /// Rebuild the state at the end of the journal and add it to the journal's snapshots, so
    /// that the next start replays less. Do not run it on a journal a server is writing.
    Snapshot {
        /// The journal directory.
        dir: PathBuf,
    },
    /// Truncate the journal at its first damaged record, dropping everything after it (later
    /// segments included), and report what was dropped. Copy the directory first: what is
    /// dropped is gone. Refused while a writer has the journal open.
    Repair {
        /// The journal directory.
        dir: PathBuf,
    },
}

/// Runs `oddsmatch journal ...`.
pub fn run(args: &JournalArgs) -> Result<(), String> {
    match &args.command {
        JournalCommand::Verify { dir } => verify(dir),
        JournalCommand::Dump {
            dir,
            from,
            to,
            json,
        } => dump(dir, *from, *to, *json),
        JournalCommand::Stats { dir, json } => stats(dir, *json),
        JournalCommand::Replay {
            dir,
            to,
            snapshot_out,
        } => replay_to(dir, *to, snapshot_out.as_deref()),
        JournalCommand::Snapshot { dir } => snapshot(dir),
        JournalCommand::Repair { dir } => repair(dir),
    }
}

fn check_dir(dir: &Path) -> Result<(), String> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(format!("{} is not a journal directory", dir.display()))
    }
}

/// A progress bar over sequence numbers on a terminal; hidden when standard error is piped.
fn progress_bar(first: u64, last: u64) -> ProgressBar {
    if !io::stderr().is_terminal() || last <= first {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(last - first);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records {per_sec} eta {eta}")
            .expect("a valid template"),
    );
    bar
}

fn run_replay(dir: &Path, options: ReplayOptions) -> Result<(Replayed, Duration), String> {
    check_dir(dir)?;
    let reader = Reader::open(dir).map_err(|error| error.to_string())?;
    let first = reader.first_seq().unwrap_or(1).saturating_sub(1);
    let last = options.to_seq.unwrap_or(u64::MAX).min(reader.last_seq());
    drop(reader);
    let bar = progress_bar(first, last);
    let started = Instant::now();
    let result = replay(dir, options, &mut |seq| {
        bar.set_position(seq.saturating_sub(first));
    });
    bar.finish_and_clear();
    let replayed = result.map_err(|error| error.to_string())?;
    Ok((replayed, started.elapsed()))
}

fn rate(records: u64, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    if seconds <= 0.0 || records == 0 {
        return String::new();
    }
    let per_second = records as f64 / seconds;
    if per_second >= 1e6 {
        format!(" ({:.2} M records/s)", per_second / 1e6)
    } else {
        format!(" ({per_second:.0} records/s)")
    }
}

/// The `seq N state_hash H` line that verify and replay end with (scripts read it).
fn print_state(replayed: &Replayed) {
    println!(
        "seq {} state_hash {:016x}",
        replayed.engine.seq(),
        replayed.engine.state_hash()
    );
}

fn verify(dir: &Path) -> Result<(), String> {
    let options = ReplayOptions {
        start: Start::Oldest,
        to_seq: None,
        verify_events: true,
    };
    let (replayed, elapsed) = run_replay(dir, options)?;
    replayed
        .engine
        .validate()
        .map_err(|error| format!("the rebuilt state is inconsistent: {error}"))?;
    let reader = Reader::open(dir).map_err(|error| error.to_string())?;
    if let Some(torn) = reader.torn_tail() {
        println!(
            "torn tail: {} bytes at offset {} of {} (not verified; the next writer truncates it)",
            torn.bytes,
            torn.offset,
            torn.segment.display()
        );
    }
    for (path, why) in &replayed.skipped_snapshots {
        println!("skipped snapshot {}: {why}", path.display());
    }
    println!(
        "verified {} records ({} events) after snapshot {} in {:.3} s{}: every event matches",
        replayed.records,
        replayed.events,
        replayed.snapshot_seq,
        elapsed.as_secs_f64(),
        rate(replayed.records, elapsed)
    );
    print_state(&replayed);
    Ok(())
}

#[derive(Serialize)]
struct DumpLine<'a> {
    seq: u64,
    ts: u64,
    kind: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<&'a Input>,
    events: &'a [Event],
}

fn dump(dir: &Path, from: Option<u64>, to: Option<u64>, json: bool) -> Result<(), String> {
    check_dir(dir)?;
    let reader = Reader::open(dir).map_err(|error| error.to_string())?;
    let from = from.unwrap_or(0).max(reader.first_seq().unwrap_or(1));
    let to = to.unwrap_or(u64::MAX);
    let mut out = BufWriter::new(io::stdout().lock());
    let mut events = Vec::new();
    for record in reader.iter_from(from) {
        let record = record.map_err(|error| error.to_string())?;
        if record.seq > to {
            break;
        }
        let input = if record.kind == RECORD_INPUT {
            Some(
                record::decode_into(record.payload, &mut events)
                    .map_err(|error| format!("record {}: {error}", record.seq))?,
            )
        } else {
            events.clear();
            None
        };
        let written = if json {
            let line = DumpLine {
                seq: record.seq,
                ts: record.ts_ns,
                kind: record.kind,
                input: input.as_ref(),
                events: &events,
            };
            serde_json::to_writer(&mut out, &line)
                .map_err(io::Error::other)
                .and_then(|()| out.write_all(b"\n"))
        } else {
            write_record_text(&mut out, record.seq, record.ts_ns, input.as_ref(), &events)
        };
        match written {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            Err(error) => return Err(format!("cannot write: {error}")),
        }
    }
    match out.flush() {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write: {error}"))
        }
        _ => Ok(()),
    }
}

fn write_record_text<W: Write>(
    out: &mut W,
    seq: u64,
    ts_ns: u64,
    input: Option<&Input>,
    events: &[Event],
) -> io::Result<()> {
    let input = match input {
        Some(input) => serde_json::to_string(&input.command).map_err(io::Error::other)?,
        None => "(not an engine input)".to_string(),
    };
    writeln!(out, "#{seq} ts={ts_ns} {input}")?;
    for event in events {
        let event = serde_json::to_string(event).map_err(io::Error::other)?;
        writeln!(out, "    {event}")?;
    }
    Ok(())
}

#[derive(Serialize)]
struct StatsReport {
    dir: String,
    segments: u64,
    records: u64,
    bytes: u64,
    first_seq: Option<u64>,
    last_seq: Option<u64>,
    first_ts: Option<u64>,
    last_ts: Option<u64>,
    kinds: BTreeMap<u16, u64>,
    commands: BTreeMap<String, u64>,
    events: u64,
    snapshots: Vec<(u64, u64)>,
}

fn stats(dir: &Path, json: bool) -> Result<(), String> {
    check_dir(dir)?;
    let summary = oddsmatch_journal::stats(dir).map_err(|error| error.to_string())?;
    let reader = Reader::open(dir).map_err(|error| error.to_string())?;
    let bar = progress_bar(
        reader.first_seq().unwrap_or(1).saturating_sub(1),
        reader.last_seq(),
    );
    let mut commands: BTreeMap<String, u64> = BTreeMap::new();
    let mut event_count = 0u64;
    let mut events = Vec::new();
    for (n, record) in reader.iter_from(0).enumerate() {
        let record = record.map_err(|error| error.to_string())?;
        if record.kind != RECORD_INPUT {
            continue;
        }
        let input = record::decode_into(record.payload, &mut events)
            .map_err(|error| format!("record {}: {error}", record.seq))?;
        let name = serde_json::to_value(input.command.kind())
            .ok()
            .and_then(|value| value.as_str().map(str::to_string))
            .unwrap_or_else(|| "?".to_string());
        *commands.entry(name).or_default() += 1;
        event_count += events.len() as u64;
        if n % 65_536 == 0 {
            bar.set_position(n as u64);
        }
    }
    bar.finish_and_clear();
    let snapshots = SnapshotStore::open(dir)
        .and_then(|store| store.list())
        .map_err(|error| error.to_string())?
        .into_iter()
        .map(|info| (info.seq, info.bytes))
        .collect();
    let report = StatsReport {
        dir: dir.display().to_string(),
        segments: summary.segments,
        records: summary.records,
        bytes: summary.bytes,
        first_seq: summary.first_seq,
        last_seq: summary.last_seq,
        first_ts: summary.first_ts_ns,
        last_ts: summary.last_ts_ns,
        kinds: summary.kinds.clone(),
        commands,
        events: event_count,
        snapshots,
    };
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(|error| error.to_string())?;
        println!("{text}");
        return Ok(());
    }
    print_stats(&report);
    Ok(())
}

fn print_stats(report: &StatsReport) {
    let show = |value: Option<u64>| value.map_or("-".to_string(), |v| v.to_string());
    println!("journal    {}", report.dir);
    println!("segments   {}", report.segments);
    println!("records    {}", report.records);
    println!("bytes      {}", report.bytes);
    println!(
        "seq        {} .. {}",
        show(report.first_seq),
        show(report.last_seq)
    );
    println!(
        "time (ns)  {} .. {}",
        show(report.first_ts),
        show(report.last_ts)
    );
    println!("events     {}", report.events);
    println!("record kinds:");
    for (kind, count) in &report.kinds {
        let name = if *kind == RECORD_INPUT {
            "input"
        } else {
            "unknown"
        };
        println!("  {kind:>3} {name:<14} {count:>12}");
    }
    println!("commands:");
    for (name, count) in &report.commands {
        println!("  {name:<18} {count:>12}");
    }
    println!("snapshots:");
    for (seq, bytes) in &report.snapshots {
        println!("  seq {seq:>12}  {bytes:>12} bytes");
    }
}

fn replay_to(dir: &Path, to: Option<u64>, snapshot_out: Option<&Path>) -> Result<(), String> {
    let options = ReplayOptions {
        start: Start::Newest,
        to_seq: to,
        verify_events: false,
    };
    let (replayed, elapsed) = run_replay(dir, options)?;
    println!(
        "replayed {} records after snapshot {} in {:.3} s{}",
        replayed.records,
        replayed.snapshot_seq,
        elapsed.as_secs_f64(),
        rate(replayed.records, elapsed)
    );
    print_state(&replayed);
    if let Some(path) = snapshot_out {
        write_snapshot_file(path, replayed.engine.seq(), &replayed.engine.snapshot())
            .map_err(|error| error.to_string())?;
        println!("snapshot written to {}", path.display());
    }
    Ok(())
}

fn snapshot(dir: &Path) -> Result<(), String> {
    let options = ReplayOptions {
        start: Start::Newest,
        to_seq: None,
        verify_events: false,
    };
    let (replayed, _) = run_replay(dir, options)?;
    let store = SnapshotStore::open(dir).map_err(|error| error.to_string())?;
    let seq = replayed.engine.seq();
    let path = store
        .write(seq, &replayed.engine.snapshot())
        .map_err(|error| error.to_string())?;
    println!(
        "snapshot at seq {seq} (state_hash {:016x}) written to {}",
        replayed.engine.state_hash(),
        path.display()
    );
    Ok(())
}

fn repair(dir: &Path) -> Result<(), String> {
    check_dir(dir)?;
    let mut config = JournalConfig::new(dir);
    config.repair = true;
    // The segment size of an existing journal is read from its segments; this one is used only
    // for segments created from now on.
    if let Some(segment) = Reader::open(dir)
        .ok()
        .and_then(|reader| reader.segments().first().map(|s| s.file_bytes))
    {
        config.segment_bytes = segment;
    }
    let (journal, recovery) = Journal::open(config).map_err(|error| error.to_string())?;
    drop(journal);
    if let Some(torn) = &recovery.torn_tail {
        println!(
            "torn tail truncated: {} bytes at offset {} of {}",
            torn.bytes,
            torn.offset,
            torn.segment.display()
        );
    }
    match &recovery.repaired {
        Some(repair) => {
            println!(
                "repaired: {} at offset {} of {}; {} bytes zeroed there",
                repair.defect,
                repair.offset,
                repair.segment.display(),
                repair.bytes
            );
            for dropped in &repair.dropped_segments {
                println!("dropped segment {}", dropped.display());
            }
        }
        None => println!("nothing to repair"),
    }
    println!(
        "the journal now ends at seq {} ({} records)",
        recovery.last_seq, recovery.records
    );
    Ok(())
}
