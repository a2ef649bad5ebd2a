//! Scratch files of the journal benchmark: temporary directories, the ceiling's file mapping,
//! and waiting for the journal's segment preparer before a timed part starts.

use std::path::Path;
use std::time::{Duration, Instant};

use oddsmatch_journal::format::{self, SEGMENT_HEADER_BYTES};
use oddsmatch_journal::io::{Io, MmapIo, MmapWrite, WriteRegion};
use oddsmatch_journal::{JournalConfig, Reader};
use tempfile::TempDir;

/// The longest the benchmark waits for the journal to prepare its next segment.
const PREPARER_WAIT: Duration = Duration::from_secs(30);

/// A new temporary directory under `base`, deleted when dropped.
pub(super) fn temp_dir(base: &Path, what: &str) -> Result<TempDir, String> {
    tempfile::Builder::new()
        .prefix(&format!("oddsmatch-bench-journal-{what}-"))
        .tempdir_in(base)
        .map_err(|e| format!("cannot create a directory in {}: {e}", base.display()))
}

/// The segment size that holds `records` records of `payload_bytes` each after the segment
/// header, with room for the end marker, in whole pages and at least the journal's smallest
/// segment; an error if the journal would refuse it.
pub(super) fn segment_bytes_for(records: usize, payload_bytes: usize) -> Result<u64, String> {
    let too_large = || {
        format!(
            "{records} records of {payload_bytes} bytes do not fit in one segment (at most {} \
             bytes)",
            JournalConfig::MAX_SEGMENT_BYTES
        )
    };
    let bytes = records
        .checked_mul(format::record_bytes(payload_bytes))
        .and_then(|b| b.checked_add(SEGMENT_HEADER_BYTES + 8))
        .ok_or_else(too_large)?;
    let bytes = u64::try_from(bytes.next_multiple_of(4096)).map_err(|_| too_large())?;
    if bytes > JournalConfig::MAX_SEGMENT_BYTES {
        return Err(too_large());
    }
    Ok(bytes.max(JournalConfig::MIN_SEGMENT_BYTES))
}

/// A file mapping made as the journal makes a segment (created full-size, allocated and synced
/// by [`MmapIo::create_sized`], mapped shared with its pages faulted in), written with plain
/// copies: the ceiling the journal's appends are compared with. Deleted when dropped.
pub(super) struct CeilingMap {
    map: MmapWrite,
    /// Where the next copy goes.
    offset: usize,
    /// Start of the bytes copied since the last flush.
    dirty_from: usize,
    _dir: TempDir,
}

impl CeilingMap {
    /// A mapping of `bytes` bytes in a new directory under `base`.
    pub(super) fn create(base: &Path, bytes: u64) -> Result<CeilingMap, String> {
        let dir = temp_dir(base, "ceiling")?;
        let path = dir.path().join("ceiling.seg");
        let io_error = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
        MmapIo
            .create_sized(&path, bytes)
            .map_err(|e| io_error("create", e))?;
        let map = MmapIo
            .map_write(&path, true)
            .map_err(|e| io_error("map", e))?;
        Ok(CeilingMap {
            map,
            offset: SEGMENT_HEADER_BYTES,
            dirty_from: SEGMENT_HEADER_BYTES,
            _dir: dir,
        })
    }

    /// Copies `record` after the previous one: one bounds check and one `memcpy`.
    #[inline]
    pub(super) fn copy(&mut self, record: &[u8]) -> Result<(), String> {
        self.map
            .write(self.offset, record)
            .map_err(|e| format!("ceiling copy: {e}"))?;
        self.offset += record.len();
        Ok(())
    }

    /// Writes what was copied since the last flush to the disk and waits (`msync(MS_SYNC)` of
    /// that range, as the journal's commit under `sync` does).
    pub(super) fn flush(&mut self) -> Result<(), String> {
        self.map
            .flush(self.dirty_from, self.offset - self.dirty_from)
            .map_err(|e| format!("ceiling msync: {e}"))?;
        self.dirty_from = self.offset;
        Ok(())
    }
}

/// One record as the journal lays it out (32-byte header, payload, zero padding to 8 bytes),
/// with a plausible header: what the ceiling copies.
pub(super) fn record_image(payload: &[u8]) -> Vec<u8> {
    let mut record = vec![0u8; format::record_bytes(payload.len())];
    let rest = format::encode_record_rest(&format::RecordMeta {
        seq: 1,
        ts_ns: 1,
        kind: super::KIND_BENCH,
    });
    record[8..format::RECORD_HEADER_BYTES].copy_from_slice(&rest);
    record[format::RECORD_HEADER_BYTES..][..payload.len()].copy_from_slice(payload);
    let crc = format::record_crc(&record[8..format::RECORD_HEADER_BYTES + payload.len()]);
    let first = format::first_word(payload.len() as u32, crc);
    record[..8].copy_from_slice(&first.to_le_bytes());
    record
}

/// Deterministic payload bytes.
pub(super) fn payload(bytes: usize, seed: u64) -> Vec<u8> {
    let mut rng = crate::rng::Rng::new(seed);
    (0..bytes).map(|_| rng.next_u64() as u8).collect()
}

/// Waits until the journal writing into `dir` has prepared its next segment, so that a timed
/// part does not share the machine with the preparer (which creates, allocates, syncs and
/// maps a whole segment on a background thread once per segment filled). `active` is the
/// number of segments the journal has activated so far.
///
/// On Linux it waits for a segment file beyond the active ones to be mapped with all its pages
/// resident (`/proc/self/smaps`); elsewhere it sleeps for a fixed 200 ms. Returns false if it
/// gave up (after 30 s), so that the report can say so.
pub(super) fn wait_for_preparer(dir: &Path, active: usize) -> bool {
    if !Path::new("/proc/self/smaps").exists() {
        std::thread::sleep(Duration::from_millis(200));
        return true;
    }
    let start = Instant::now();
    while start.elapsed() < PREPARER_WAIT {
        if next_segment_resident(dir, active) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// The number of segments the journal in `dir` has activated (the prepared one not counted).
pub(super) fn active_segments(dir: &Path) -> Result<usize, String> {
    let reader = Reader::open(dir).map_err(|e| format!("open {}: {e}", dir.display()))?;
    Ok(reader.segments().len())
}

fn next_segment_resident(dir: &Path, active: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut segments: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".seg"))
        .collect();
    if segments.len() <= active {
        return false;
    }
    segments.sort();
    // The kernel names mappings by their resolved path.
    let Ok(newest) = std::fs::canonicalize(dir.join(&segments[segments.len() - 1])) else {
        return false;
    };
    let Ok(bytes) = std::fs::metadata(&newest).map(|m| m.len()) else {
        return false;
    };
    resident_bytes(&newest.display().to_string()) >= bytes
}

/// Bytes of the mappings of `path` resident in this process, from `/proc/self/smaps`.
fn resident_bytes(path: &str) -> u64 {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let mut in_mapping = false;
    let mut resident_kb = 0;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header line: `start-end perms offset dev inode [path]`.
            in_mapping = line.ends_with(path);
        } else if in_mapping && let Some(rest) = line.strip_prefix("Rss:") {
            let kb = rest.trim().trim_end_matches("kB").trim();
            resident_kb += kb.parse::<u64>().unwrap_or(0);
        }
    }
    resident_kb * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_hold_the_records_in_whole_pages() {
        let bytes = segment_bytes_for(1_000_000, 64).unwrap();
        assert_eq!(bytes % 4096, 0);
        assert!(bytes >= 1_000_000 * 96 + 64 + 8);
        assert!(bytes < 1_000_000 * 96 + 64 + 8 + 4096);
        assert_eq!(
            segment_bytes_for(1, 8).unwrap(),
            JournalConfig::MIN_SEGMENT_BYTES
        );
        assert!(segment_bytes_for(usize::MAX / 4, 64).is_err());
        assert!(segment_bytes_for(100_000_000, 1_024).is_err());
    }

    #[test]
    fn the_record_image_is_laid_out_as_the_journal_lays_it_out() {
        let payload = payload(13, 1);
        let record = record_image(&payload);
        assert_eq!(record.len(), 48);
        let (len, crc) =
            format::split_first_word(u64::from_le_bytes(record[..8].try_into().unwrap()));
        assert_eq!(len, 13);
        assert_eq!(crc, format::record_crc(&record[8..45]));
        assert_eq!(&record[32..45], payload.as_slice());
        assert_eq!(&record[45..], &[0, 0, 0]);
    }

    #[test]
    fn the_ceiling_copies_and_flushes() {
        let base = tempfile::tempdir().unwrap();
        let mut map = CeilingMap::create(base.path(), 1 << 16).unwrap();
        let record = record_image(&payload(100, 2));
        for _ in 0..10 {
            map.copy(&record).unwrap();
        }
        map.flush().unwrap();
        assert_eq!(map.offset, 64 + 10 * record.len());
        // Past the end: an error, never a fault.
        while map.copy(&record).is_ok() {}
        assert!(map.offset <= 1 << 16);
    }
}
