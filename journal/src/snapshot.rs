//! Snapshot files: a whole state (bytes defined by the caller) at a sequence number, written
//! atomically (temporary file, fsync, rename, directory fsync) and checksummed.
//!
//! Layout of `DIR/snapshots/{seq:020}.snap` (little-endian; see docs/journal-format.md):
//! a 64-byte header `magic[8] version:u16 header_len:u16 reserved:u32 seq:u64
//! payload_len:u64 payload_crc32c:u32 reserved[20] header_crc32c:u32`, then the payload.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use crate::error::JournalError;
use crate::format::le_u64;
use crate::io::{Io, MmapIo};

/// Magic bytes of a snapshot file.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"ODMSNAP1";
/// The snapshot format version written and the newest one read.
pub const SNAPSHOT_VERSION: u16 = 1;
/// Bytes of the snapshot header.
pub const SNAPSHOT_HEADER_BYTES: usize = 64;
/// Subdirectory of the journal directory holding snapshots.
pub const SNAPSHOT_DIR: &str = "snapshots";

const SUFFIX: &str = ".snap";
const TMP_SUFFIX: &str = ".snap.tmp";

/// A snapshot file found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The sequence number the snapshot was taken at (all records up to it applied).
    pub seq: u64,
    /// The file.
    pub path: PathBuf,
    /// File size in bytes.
    pub bytes: u64,
}

/// A snapshot that passed its checksum and the caller's decoder.
#[derive(Debug)]
pub struct LoadedSnapshot<T> {
    /// The sequence number it was taken at.
    pub seq: u64,
    /// What the decoder returned.
    pub value: T,
    /// The file it came from.
    pub path: PathBuf,
    /// Newer snapshots that were rejected, newest first, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// The snapshots of one journal directory.
#[derive(Clone, Debug)]
pub struct SnapshotStore<I: Io = MmapIo> {
    io: I,
    dir: PathBuf,
}

impl SnapshotStore<MmapIo> {
    /// Opens (creating if needed) `journal_dir/snapshots` on real files.
    pub fn open(journal_dir: &Path) -> Result<Self, JournalError> {
        Self::open_with(journal_dir, MmapIo)
    }
}

/// `{seq:020}.snap`.
pub fn snapshot_file_name(seq: u64) -> String {
    format!("{seq:020}{SUFFIX}")
}

fn parse_seq(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn encode_header(seq: u64, payload: &[u8]) -> [u8; SNAPSHOT_HEADER_BYTES] {
    let mut h = [0u8; SNAPSHOT_HEADER_BYTES];
    h[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
    h[8..10].copy_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    h[10..12].copy_from_slice(&(SNAPSHOT_HEADER_BYTES as u16).to_le_bytes());
    h[16..24].copy_from_slice(&seq.to_le_bytes());
    h[24..32].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    h[32..36].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    let crc = crc32c::crc32c(&h[0..60]);
    h[60..64].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a header; returns `(seq, payload_len, payload_crc)`.
fn decode_header(h: &[u8; SNAPSHOT_HEADER_BYTES]) -> Result<(u64, u64, u32), String> {
    if h[0..8] != SNAPSHOT_MAGIC {
        return Err("bad magic".into());
    }
    let version = u16::from_le_bytes([h[8], h[9]]);
    if version > SNAPSHOT_VERSION {
        return Err(format!(
            "version {version} is newer than supported ({SNAPSHOT_VERSION})"
        ));
    }
    if version == 0 || usize::from(u16::from_le_bytes([h[10], h[11]])) != SNAPSHOT_HEADER_BYTES {
        return Err("bad header layout".into());
    }
    if crc32c::crc32c(&h[0..60]) != u32::from_le_bytes([h[60], h[61], h[62], h[63]]) {
        return Err("header checksum mismatch".into());
    }
    let crc = u32::from_le_bytes([h[32], h[33], h[34], h[35]]);
    Ok((le_u64(&h[16..24]), le_u64(&h[24..32]), crc))
}

/// A buffer of `len` bytes starting at a 16-byte aligned address.
struct AlignedBuf {
    words: Vec<u128>,
    len: usize,
}

impl AlignedBuf {
    fn zeroed(len: usize) -> Self {
        AlignedBuf {
            words: vec![0u128; len.div_ceil(16)],
            len,
        }
    }
    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `words` holds at least `len` initialized bytes; u8 has no alignment needs.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<u8>(), self.len) }
    }
    fn as_slice(&self) -> &[u8] {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }
}

impl<I: Io> SnapshotStore<I> {
    /// Opens (creating if needed) `journal_dir/snapshots` through `io`.
    pub fn open_with(journal_dir: &Path, io: I) -> Result<Self, JournalError> {
        let dir = journal_dir.join(SNAPSHOT_DIR);
        io.create_dir_all(&dir)
            .map_err(|e| JournalError::io("create dir", &dir, e))?;
        Ok(SnapshotStore { io, dir })
    }

    /// The snapshot directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the snapshot taken at `seq`: temporary file, write, fsync, rename to
    /// `{seq:020}.snap`, fsync the directory. Replaces an existing snapshot at the same seq.
    pub fn write(&self, seq: u64, payload: &[u8]) -> Result<PathBuf, JournalError> {
        let path = self.dir.join(snapshot_file_name(seq));
        write_atomically(&self.io, &path, seq, payload)?;
        Ok(path)
    }

    /// Snapshot files, oldest first (temporary files are not listed).
    pub fn list(&self) -> Result<Vec<SnapshotInfo>, JournalError> {
        let names = self
            .io
            .list_dir(&self.dir)
            .map_err(|e| JournalError::io("list", &self.dir, e))?;
        let mut out = Vec::new();
        for name in names {
            let Some(seq) = parse_seq(&name, SUFFIX) else {
                continue;
            };
            let path = self.dir.join(&name);
            let bytes = self
                .io
                .file_len(&path)
                .map_err(|e| JournalError::io("stat", &path, e))?;
            out.push(SnapshotInfo { seq, path, bytes });
        }
        out.sort_by_key(|s| s.seq);
        Ok(out)
    }

    /// Reads and checks one snapshot; the payload comes back 16-byte aligned.
    fn read_checked(&self, info: &SnapshotInfo) -> Result<AlignedBuf, String> {
        read_checked(&self.io, info)
    }

    /// Loads the newest snapshot with `seq <= max_seq` that passes its checksum and `decode`
    /// (handed the seq and the payload, 16-byte aligned). Older snapshots are tried when a
    /// newer one fails; what was skipped and why comes back in the result. `Ok(None)` if
    /// there is no candidate at all; [`JournalError::NoValidSnapshot`] if there are
    /// candidates and all fail (the caller decides whether replaying from the start is
    /// possible).
    pub fn load_newest<T, E: Display>(
        &self,
        max_seq: u64,
        mut decode: impl FnMut(u64, &[u8]) -> Result<T, E>,
    ) -> Result<Option<LoadedSnapshot<T>>, JournalError> {
        let candidates = self.list()?;
        let order = candidates.iter().rev().filter(|s| s.seq <= max_seq);
        self.load_first(order, &mut decode)
    }

    /// Like [`SnapshotStore::load_newest`] but starting from the oldest snapshot with
    /// `seq <= max_seq` and moving to newer ones on failure (for verification that re-applies
    /// as much of the journal as is on disk).
    pub fn load_oldest<T, E: Display>(
        &self,
        max_seq: u64,
        mut decode: impl FnMut(u64, &[u8]) -> Result<T, E>,
    ) -> Result<Option<LoadedSnapshot<T>>, JournalError> {
        let candidates = self.list()?;
        let order = candidates.iter().filter(|s| s.seq <= max_seq);
        self.load_first(order, &mut decode)
    }

    fn load_first<'a, T, E: Display>(
        &self,
        candidates: impl Iterator<Item = &'a SnapshotInfo>,
        decode: &mut impl FnMut(u64, &[u8]) -> Result<T, E>,
    ) -> Result<Option<LoadedSnapshot<T>>, JournalError> {
        let mut skipped = Vec::new();
        for info in candidates {
            match self.read_checked(info) {
                Err(why) => skipped.push((info.path.clone(), why)),
                Ok(buf) => match decode(info.seq, buf.as_slice()) {
                    Ok(value) => {
                        return Ok(Some(LoadedSnapshot {
                            seq: info.seq,
                            value,
                            path: info.path.clone(),
                            skipped,
                        }));
                    }
                    Err(e) => skipped.push((info.path.clone(), format!("decode: {e}"))),
                },
            }
        }
        if skipped.is_empty() {
            Ok(None)
        } else {
            Err(JournalError::NoValidSnapshot { skipped })
        }
    }

    /// Deletes all snapshots but the newest `keep`, and temporary files older than the oldest
    /// kept one. Returns how many snapshots were deleted.
    pub fn prune(&self, keep: usize) -> Result<usize, JournalError> {
        let all = self.list()?;
        let cut = all.len().saturating_sub(keep);
        for info in &all[..cut] {
            self.io
                .remove_file(&info.path)
                .map_err(|e| JournalError::io("remove", &info.path, e))?;
        }
        let oldest_kept = all.get(cut).map(|s| s.seq).unwrap_or(u64::MAX);
        let names = self
            .io
            .list_dir(&self.dir)
            .map_err(|e| JournalError::io("list", &self.dir, e))?;
        for name in names {
            if let Some(seq) = parse_seq(&name, TMP_SUFFIX)
                && seq < oldest_kept
            {
                let path = self.dir.join(&name);
                self.io
                    .remove_file(&path)
                    .map_err(|e| JournalError::io("remove", &path, e))?;
            }
        }
        if cut > 0 {
            self.io
                .sync_dir(&self.dir)
                .map_err(|e| JournalError::io("fsync dir", &self.dir, e))?;
        }
        Ok(cut)
    }
}

/// Writes a snapshot file in the store's format at any path (e.g. `journal replay
/// --snapshot-out`): temporary file next to it, fsync, rename, fsync of the directory.
pub fn write_snapshot_file(path: &Path, seq: u64, payload: &[u8]) -> Result<(), JournalError> {
    write_atomically(&MmapIo, path, seq, payload)
}

fn write_atomically<I: Io>(
    io: &I,
    path: &Path,
    seq: u64,
    payload: &[u8],
) -> Result<(), JournalError> {
    let header = encode_header(seq, payload);
    let mut data = Vec::with_capacity(SNAPSHOT_HEADER_BYTES + payload.len());
    data.extend_from_slice(&header);
    data.extend_from_slice(payload);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    io.write_file(&tmp, &data)
        .map_err(|e| JournalError::io("write", &tmp, e))?;
    io.rename(&tmp, path)
        .map_err(|e| JournalError::io("rename", &tmp, e))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    io.sync_dir(dir)
        .map_err(|e| JournalError::io("fsync dir", dir, e))
}

/// Reads and checks one snapshot file; the payload comes back 16-byte aligned.
fn read_checked<I: Io>(io: &I, info: &SnapshotInfo) -> Result<AlignedBuf, String> {
    if info.bytes < SNAPSHOT_HEADER_BYTES as u64 {
        return Err(format!(
            "file is {} bytes, shorter than the header",
            info.bytes
        ));
    }
    let mut header = [0u8; SNAPSHOT_HEADER_BYTES];
    io.read_exact_at(&info.path, 0, &mut header)
        .map_err(|e| format!("read: {e}"))?;
    let (seq, len, crc) = decode_header(&header)?;
    if seq != info.seq {
        return Err(format!(
            "header says seq {seq}, file name says {}",
            info.seq
        ));
    }
    if len != info.bytes - SNAPSHOT_HEADER_BYTES as u64 {
        return Err(format!(
            "header says {len} payload bytes, file holds {}",
            info.bytes - SNAPSHOT_HEADER_BYTES as u64
        ));
    }
    let len = usize::try_from(len).map_err(|_| "payload too large".to_string())?;
    let mut buf = AlignedBuf::zeroed(len);
    io.read_exact_at(&info.path, SNAPSHOT_HEADER_BYTES as u64, buf.as_mut_slice())
        .map_err(|e| format!("read: {e}"))?;
    if crc32c::crc32c(buf.as_slice()) != crc {
        return Err("payload checksum mismatch".into());
    }
    Ok(buf)
}
