//! Step 4: reading back the journal the commands step wrote.
//!
//! - **scan**: open a [`Reader`] (which checks every segment header and scans the last
//!   segment), iterate every record (each checked again: length, checksum, sequence number)
//!   and validate each payload in place with [`record::access`]; against a bare read of the
//!   same bytes through a read-only mapping (summing them as 64-bit words): the ceiling.
//! - **replay**: [`replay`] from the newest snapshot (the engine after the setup) through a
//!   fresh engine, decoding and re-applying every record, with the event check on (the
//!   re-produced events are encoded and compared byte for byte with the recorded ones, as at
//!   startup) and off; against the engine alone applying the same stream from memory. The
//!   snapshot load is timed on its own too, so that the rate of the records alone can be
//!   given.
//!
//! Each pass runs all of them in turn; the page cache holds the journal (it was just
//! written).

use std::time::{Duration, Instant};

use oddsmatch_engine::Engine;
use oddsmatch_engine::book::LadderBook;
use oddsmatch_engine::record;
use oddsmatch_engine::shard::{ReplayOptions, Start, replay};
use oddsmatch_journal::io::{Io, MmapIo, Region};
use oddsmatch_journal::{Reader, SnapshotStore, format};

use super::append::journal_error;
use super::commands::Measured;
use super::commands::engine_alone_pass;
use super::report::ReplayResult;
use super::{GOAL_REPLAY_RECORDS_PER_SECOND, median, median_ratio};
use crate::report::format_rate;
use crate::workload::Workload;

/// Runs the passes: scan, bare read, snapshot load, replay with and without the event check,
/// and the engine alone on the workload's stream, in turn.
pub(super) fn measure(
    measured: &Measured,
    workload: &Workload,
    passes: u32,
    mismatches: &mut Vec<String>,
    progress: &mut dyn FnMut(&str),
) -> Result<ReplayResult, String> {
    let dir = measured.journal.path();
    let records = measured.records;
    let bytes_per_record = measured.journal_bytes as f64 / records as f64;
    let rate = |elapsed: Duration| records as f64 / elapsed.as_secs_f64();
    let segments = Reader::open(dir).map_err(journal_error)?.segments().len();
    let mut scan_rates = Vec::new();
    let mut read_rates = Vec::new();
    let mut load_seconds = Vec::new();
    let mut verify_rates = Vec::new();
    let mut plain_rates = Vec::new();
    // The same without each pass's snapshot load.
    let mut verify_after_load = Vec::new();
    let mut plain_after_load = Vec::new();
    let mut alone_rates = Vec::new();
    let mut snapshot_bytes = 0;
    for pass in 1..=passes {
        let (elapsed, scanned, bytes) = scan(dir)?;
        if (scanned, bytes) != (records, measured.journal_bytes) {
            mismatches.push(format!(
                "replay: the scan found {scanned} records of {bytes} bytes, {records} of {} \
                 were written",
                measured.journal_bytes
            ));
        }
        scan_rates.push(rate(elapsed));
        let elapsed = bare_read(dir)?;
        read_rates.push(measured.journal_bytes as f64 / elapsed.as_secs_f64());
        let (load, bytes) = load_snapshot(dir)?;
        load_seconds.push(load.as_secs_f64());
        snapshot_bytes = bytes;
        for (verify, rates, after_load) in [
            (true, &mut verify_rates, &mut verify_after_load),
            (false, &mut plain_rates, &mut plain_after_load),
        ] {
            let start = Instant::now();
            let options = ReplayOptions {
                start: Start::Newest,
                to_seq: None,
                verify_events: verify,
            };
            let replayed = replay(dir, options, &mut |_| {}).map_err(|e| format!("replay: {e}"))?;
            let elapsed = start.elapsed();
            rates.push(rate(elapsed));
            after_load.push(rate(
                elapsed.saturating_sub(load).max(Duration::from_nanos(1)),
            ));
            let hash = replayed.engine.state_hash();
            if replayed.records != records || hash != measured.state_hash {
                mismatches.push(format!(
                    "replay (verify {verify}): {} records replayed to state {hash:016x}, \
                     {records} were written by an engine in state {:016x}",
                    replayed.records, measured.state_hash
                ));
            }
        }
        let (elapsed, _) = engine_alone_pass(workload);
        alone_rates.push((workload.stream.len() - 1) as f64 / elapsed.as_secs_f64());
        progress(&format!(
            "replay pass {pass}/{passes}: scan {}, replay {} (check on) {} (off), engine alone \
             {} records/s",
            format_rate(scan_rates[scan_rates.len() - 1]),
            format_rate(verify_rates[verify_rates.len() - 1]),
            format_rate(plain_rates[plain_rates.len() - 1]),
            format_rate(alone_rates[alone_rates.len() - 1]),
        ));
    }
    let scan_bytes_rates: Vec<f64> = scan_rates.iter().map(|r| r * bytes_per_record).collect();
    Ok(ReplayResult {
        records,
        journal_bytes: measured.journal_bytes,
        segments,
        scan_records_per_second: median(&scan_rates),
        scan_records_per_second_passes: scan_rates,
        scan_mb_per_second: median(&scan_bytes_rates) / 1e6,
        bare_read_mb_per_second: median(&read_rates) / 1e6,
        bare_read_mb_per_second_passes: read_rates.iter().map(|r| r / 1e6).collect(),
        scan_ratio_to_bare_read: median_ratio(&scan_bytes_rates, &read_rates),
        snapshot_bytes,
        snapshot_load_seconds: median(&load_seconds),
        replay_verify_records_per_second: median(&verify_rates),
        replay_verify_records_per_second_passes: verify_rates,
        replay_verify_records_per_second_after_load: median(&verify_after_load),
        replay_records_per_second: median(&plain_rates),
        replay_records_per_second_passes: plain_rates,
        replay_records_per_second_after_load: median(&plain_after_load),
        engine_alone_commands_per_second: median(&alone_rates),
        ratio_verify_to_engine_alone: median_ratio(&verify_after_load, &alone_rates),
        ratio_to_engine_alone: median_ratio(&plain_after_load, &alone_rates),
        engine_alone_commands_per_second_passes: alone_rates,
        goal_records_per_second: GOAL_REPLAY_RECORDS_PER_SECOND,
    })
}

/// Opens a reader, iterates every record and validates every payload; returns the time, the
/// records and their bytes (headers and padding included).
fn scan(dir: &std::path::Path) -> Result<(Duration, u64, u64), String> {
    let start = Instant::now();
    let reader = Reader::open(dir).map_err(journal_error)?;
    let (mut records, mut bytes) = (0u64, 0u64);
    for item in reader.iter() {
        let item = item.map_err(journal_error)?;
        let entry = record::access(item.payload)
            .map_err(|e| format!("replay: record {}: {e}", item.seq))?;
        std::hint::black_box(entry);
        records += 1;
        bytes += format::record_bytes(item.payload.len()) as u64;
    }
    Ok((start.elapsed(), records, bytes))
}

/// Reads the records' bytes of every segment through a read-only mapping, summing them as
/// 64-bit words: what a scan would cost if checking a record were free.
fn bare_read(dir: &std::path::Path) -> Result<Duration, String> {
    let reader = Reader::open(dir).map_err(journal_error)?;
    let mut maps = Vec::new();
    for segment in reader.segments() {
        let map = MmapIo
            .map_read(&segment.path)
            .map_err(|e| format!("map {}: {e}", segment.path.display()))?;
        let used = segment.used_bytes.unwrap_or(segment.file_bytes);
        let used = usize::try_from(used).unwrap_or(usize::MAX).min(map.len());
        maps.push((map, used));
    }
    drop(reader);
    let start = Instant::now();
    let mut sum = 0u64;
    for (map, used) in &maps {
        // SAFETY: `Region` promises `as_ptr()` is valid for reads of `len()` bytes while the
        // mapping lives, and `used <= len()`; nothing writes the journal any more (its writer
        // was closed by the commands step).
        let bytes = unsafe { std::slice::from_raw_parts(map.as_ptr(), *used) };
        let body = &bytes[format::SEGMENT_HEADER_BYTES.min(bytes.len())..];
        sum = body.chunks_exact(8).fold(sum, |sum, word| {
            sum.wrapping_add(u64::from_le_bytes(word.try_into().expect("8 bytes")))
        });
    }
    let elapsed = start.elapsed();
    std::hint::black_box(sum);
    Ok(elapsed)
}

/// Loads the newest snapshot (file read, checksum, decode into an engine); returns the time and
/// the snapshot's size.
fn load_snapshot(dir: &std::path::Path) -> Result<(Duration, u64), String> {
    let store = SnapshotStore::open(dir).map_err(journal_error)?;
    let start = Instant::now();
    let loaded = store
        .load_newest(u64::MAX, |_, bytes| {
            Engine::<LadderBook>::from_snapshot(bytes).map(|engine| (engine, bytes.len()))
        })
        .map_err(journal_error)?;
    let elapsed = start.elapsed();
    let Some(loaded) = loaded else {
        return Err(format!("replay: no snapshot in {}", dir.display()));
    };
    std::hint::black_box(&loaded.value.0);
    Ok((elapsed, loaded.value.1 as u64))
}
