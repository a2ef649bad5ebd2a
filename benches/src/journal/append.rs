//! Step 1: appends per second for typical payload sizes under `os`, against a bare copy of the
//! same bytes into a file mapping made the same way (the ceiling).
//!
//! Each pass writes into a fresh segment sized to hold every record of the pass, so that no
//! roll happens in the timed part; the first append (which waits for the first segment) is not
//! timed, and the timed part starts once the journal has also prepared its next segment. The
//! journal's append validates the sequence number, copies the header, payload and padding,
//! computes the record's crc32c over them and publishes its first word; the ceiling copies the
//! finished record in one `memcpy`. Passes alternate the two.

use std::path::Path;
use std::time::{Duration, Instant};

use oddsmatch_journal::{Durability, Journal, JournalConfig, JournalError};

use super::files::{self, CeilingMap};
use super::report::AppendResult;
use super::{JournalBenchOptions, KIND_BENCH, median, median_ratio};
use crate::report::format_rate;

/// Appends and copies for every payload size.
pub(super) fn measure(
    options: &JournalBenchOptions,
    base: &Path,
    notes: &mut Vec<String>,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<AppendResult>, String> {
    let mut results = Vec::new();
    for &payload_bytes in &options.payload_sizes {
        let payload = files::payload(payload_bytes, options.seed);
        let record = files::record_image(&payload);
        let record_bytes = record.len();
        let segment_bytes = files::segment_bytes_for(options.records, payload_bytes)?;
        let timed = options.records - 1;
        let mut journal_rates = Vec::new();
        let mut ceiling_rates = Vec::new();
        for pass in 1..=options.passes {
            let elapsed = journal_pass(
                base,
                segment_bytes,
                &payload,
                options.records,
                options.commit_every,
                notes,
            )?;
            let rate = timed as f64 / elapsed.as_secs_f64();
            progress(&format!(
                "append {payload_bytes} B: journal pass {pass}/{}: {} appends/s",
                options.passes,
                format_rate(rate)
            ));
            journal_rates.push(rate);
            let elapsed = ceiling_pass(base, segment_bytes, &record, timed)?;
            let rate = timed as f64 / elapsed.as_secs_f64();
            progress(&format!(
                "append {payload_bytes} B: bare copy pass {pass}/{}: {} copies/s",
                options.passes,
                format_rate(rate)
            ));
            ceiling_rates.push(rate);
        }
        let appends_per_second = median(&journal_rates);
        let copies_per_second = median(&ceiling_rates);
        let ratio_to_ceiling = median_ratio(&journal_rates, &ceiling_rates);
        let mb = |rate: f64| rate * record_bytes as f64 / 1e6;
        results.push(AppendResult {
            payload_bytes,
            record_bytes,
            records: timed,
            segment_bytes,
            appends_per_second,
            appends_per_second_passes: journal_rates,
            mb_per_second: mb(appends_per_second),
            ceiling_copies_per_second: copies_per_second,
            ceiling_copies_per_second_passes: ceiling_rates,
            ceiling_mb_per_second: mb(copies_per_second),
            ratio_to_ceiling,
        });
    }
    Ok(results)
}

/// Appends `records` records to a new journal and times all but the first.
fn journal_pass(
    base: &Path,
    segment_bytes: u64,
    payload: &[u8],
    records: usize,
    commit_every: usize,
    notes: &mut Vec<String>,
) -> Result<Duration, String> {
    let dir = files::temp_dir(base, "append")?;
    let config = JournalConfig {
        segment_bytes,
        durability: Durability::Os,
        ..JournalConfig::new(dir.path())
    };
    let (mut journal, _) = Journal::open(config).map_err(journal_error)?;
    journal
        .append(1, 1, KIND_BENCH, payload)
        .map_err(journal_error)?;
    journal.commit().map_err(journal_error)?;
    if !files::wait_for_preparer(dir.path(), 1) {
        notes.push(format!(
            "append {} B: the journal's next segment was not ready after 30 s; the pass \
             ran beside the preparer",
            payload.len()
        ));
    }
    let last = records as u64;
    let mut since_commit = 1;
    let start = Instant::now();
    for seq in 2..=last {
        journal
            .append(seq, seq, KIND_BENCH, payload)
            .map_err(journal_error)?;
        since_commit += 1;
        if since_commit == commit_every {
            journal.commit().map_err(journal_error)?;
            since_commit = 0;
        }
    }
    journal.commit().map_err(journal_error)?;
    let elapsed = start.elapsed();
    if journal.last_seq() != last || journal.segment_count() != 1 {
        return Err(format!(
            "append: expected {last} records in one segment, the journal holds {} in {}",
            journal.last_seq(),
            journal.segment_count()
        ));
    }
    Ok(elapsed)
}

/// Copies `copies` finished records one after the other into a new mapping, timed.
fn ceiling_pass(
    base: &Path,
    segment_bytes: u64,
    record: &[u8],
    copies: usize,
) -> Result<Duration, String> {
    let mut map = CeilingMap::create(base, segment_bytes)?;
    let start = Instant::now();
    for _ in 0..copies {
        map.copy(record)?;
    }
    let elapsed = start.elapsed();
    std::hint::black_box(&mut map);
    Ok(elapsed)
}

pub(super) fn journal_error(error: JournalError) -> String {
    format!("journal: {error}")
}
