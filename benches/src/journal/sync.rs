//! Step 3: batch-commit latency under `sync`, against a bare copy plus `msync` of the same range.
//!
//! For each batch size: a journal opened with [`Durability::Sync`] and a ceiling mapping made
//! the same way, each sized to hold the whole run. Each round appends a batch of records and
//! commits it (timed together: the latency from the batch's first append to the moment its
//! acknowledgements may leave), then copies the same records into the ceiling and `msync`s
//! them (timed likewise). Alternating round by round, both see the same disk and the same
//! neighbours. Closed loop: a round starts when the previous one has returned, so there is no
//! queue whose waiting could go unrecorded (no coordinated omission to correct).

use std::path::Path;
use std::time::{Duration, Instant};

use oddsmatch_journal::{Durability, Journal, JournalConfig};

use super::append::journal_error;
use super::files::{self, CeilingMap};
use super::report::SyncResult;
use super::{JournalBenchOptions, KIND_BENCH};
use crate::measure::{duration_ns, new_histogram};
use crate::report::{Percentiles, format_ns};

/// One run per batch size.
pub(super) fn measure(
    options: &JournalBenchOptions,
    base: &Path,
    notes: &mut Vec<String>,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<SyncResult>, String> {
    let payload = files::payload(options.sync_payload_bytes, options.seed.wrapping_add(1));
    let record = files::record_image(&payload);
    let commits = options.sync_commits;
    let mut results = Vec::new();
    for &batch in &options.sync_batches {
        progress(&format!(
            "sync: {commits} commits of {batch} records of {} bytes",
            payload.len()
        ));
        let segment_bytes = files::segment_bytes_for(commits * batch + 1, payload.len())?;
        let dir = files::temp_dir(base, "sync")?;
        let config = JournalConfig {
            segment_bytes,
            durability: Durability::Sync,
            ..JournalConfig::new(dir.path())
        };
        let (mut journal, _) = Journal::open(config).map_err(journal_error)?;
        journal
            .append(1, 1, KIND_BENCH, &payload)
            .map_err(journal_error)?;
        journal.commit().map_err(journal_error)?;
        if !files::wait_for_preparer(dir.path(), 1) {
            notes.push(format!(
                "sync, batch {batch}: the journal's next segment was not ready after 30 s"
            ));
        }
        let mut ceiling = CeilingMap::create(base, segment_bytes)?;
        ceiling.copy(&record)?;
        ceiling.flush()?;

        let mut journal_ns = new_histogram();
        let mut ceiling_ns = new_histogram();
        let mut journal_total = Duration::ZERO;
        let mut ceiling_total = Duration::ZERO;
        let mut seq = 1;
        for _ in 0..commits {
            let start = Instant::now();
            for _ in 0..batch {
                seq += 1;
                journal
                    .append(seq, seq, KIND_BENCH, &payload)
                    .map_err(journal_error)?;
            }
            journal.commit().map_err(journal_error)?;
            let elapsed = start.elapsed();
            journal_total += elapsed;
            journal_ns.saturating_record(duration_ns(elapsed));

            let start = Instant::now();
            for _ in 0..batch {
                ceiling.copy(&record)?;
            }
            ceiling.flush()?;
            let elapsed = start.elapsed();
            ceiling_total += elapsed;
            ceiling_ns.saturating_record(duration_ns(elapsed));
        }
        if journal.durable_seq() != seq || journal.last_seq() != seq {
            return Err(format!(
                "sync: {seq} records appended, the journal holds {} of which {} durable",
                journal.last_seq(),
                journal.durable_seq()
            ));
        }
        drop(journal);
        drop(dir);
        let latency = Percentiles::of(&journal_ns);
        let ceiling_latency = Percentiles::of(&ceiling_ns);
        let records = (commits * batch) as f64;
        let records_per_second = records / journal_total.as_secs_f64();
        progress(&format!(
            "sync, batch {batch}: p50 {} p99 {}, bare msync p50 {} p99 {}",
            format_ns(latency.p50_ns),
            format_ns(latency.p99_ns),
            format_ns(ceiling_latency.p50_ns),
            format_ns(ceiling_latency.p99_ns)
        ));
        results.push(SyncResult {
            batch_records: batch,
            payload_bytes: payload.len(),
            record_bytes: record.len(),
            commits,
            latency,
            records_per_second,
            mb_per_second: records_per_second * record.len() as f64 / 1e6,
            ceiling_latency,
            ceiling_records_per_second: records / ceiling_total.as_secs_f64(),
            p50_over_ceiling: latency.p50_ns as f64 / ceiling_latency.p50_ns.max(1) as f64,
        });
    }
    Ok(results)
}
