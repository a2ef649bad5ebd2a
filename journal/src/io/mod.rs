//! All file access of the journal goes through [`Io`], so that tests can run the very same
//! code on [`SimIo`] (in memory, crash-injecting) that production runs on [`MmapIo`].
//!
//! The writer is generic over `Io` (no dynamic dispatch): with `MmapIo`, an append is a bounds
//! check and a `memcpy` into the mapping followed by one release store.

mod mmap;
mod sim;

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering, fence};

pub use mmap::{MmapIo, MmapRead, MmapWrite};
pub use sim::{SimFileLock, SimIo, SimMap};

/// A mapped file: `len` bytes readable at `as_ptr`.
///
/// # Safety
///
/// Implementors promise that `as_ptr()` is aligned to at least 16 bytes and valid for reads
/// of `len()` bytes for as long as the region lives, that the memory may be read with atomic
/// 8-byte loads, and that it is only ever modified through [`WriteRegion`] methods (of this or
/// another region over the same file) or by another process mapping the same file.
pub unsafe trait Region: Send + Sync + 'static {
    /// Mapped length in bytes (the file's length when it was mapped).
    fn len(&self) -> usize;
    /// Start of the mapping.
    fn as_ptr(&self) -> *const u8;
    /// True if the mapping is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A mapped file the writer may modify.
pub trait WriteRegion: Region {
    /// Copies `bytes` to `offset` (plain stores; not yet visible as a record to readers).
    fn write(&mut self, offset: usize, bytes: &[u8]) -> io::Result<()>;
    /// Stores `word` (little-endian) at the 8-aligned `offset` with release ordering: every
    /// byte written before becomes visible to a reader that sees this word.
    fn publish(&mut self, offset: usize, word: u64) -> io::Result<()>;
    /// Writes the range to the device and waits (`msync(MS_SYNC)`).
    fn flush(&mut self, offset: usize, len: usize) -> io::Result<()>;
}

/// The file operations the journal needs. Paths are absolute or relative to the working
/// directory; `SimIo` treats them as plain keys.
pub trait Io: Clone + Send + Sync + 'static {
    /// A read-only mapping.
    type ReadMap: Region;
    /// A read-write mapping.
    type WriteMap: WriteRegion;
    /// Held while a writer owns a directory; dropping it releases the lock.
    type Lock: Send + 'static;

    /// Creates a directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names of the regular files directly in `dir`.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// The file's current length in bytes.
    fn file_len(&self, path: &Path) -> io::Result<u64>;
    /// Creates (or truncates) a zero-filled file of `len` bytes, allocates its blocks where
    /// the file system allows, and makes its data and size durable (fsync). The directory
    /// entry is not synced.
    fn create_sized(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Maps the whole file read-only. The caller checks the length first (never maps more
    /// than the file holds); the file must not be empty.
    fn map_read(&self, path: &Path) -> io::Result<Self::ReadMap>;
    /// Maps the whole file read-write (shared). `populate` pre-faults the pages.
    fn map_write(&self, path: &Path, populate: bool) -> io::Result<Self::WriteMap>;
    /// Creates (or truncates) a file holding `data` and makes it durable (fsync). The
    /// directory entry is not synced.
    fn write_file(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_exact_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Makes the file's data durable (fdatasync), whatever wrote it.
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Renames a file, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file. Existing mappings of it stay valid.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Takes the exclusive writer lock of `dir`; fails with `WouldBlock` if it is held.
    fn lock_dir(&self, dir: &Path) -> io::Result<Self::Lock>;
    /// Whether the writer should prepare the next segment on a background thread (real I/O)
    /// or inline right after the previous roll (deterministic simulations).
    fn prepare_in_background(&self) -> bool {
        false
    }
}

/// Loads the 8-byte little-endian word at `offset` with acquire semantics (a relaxed atomic
/// load, which is allowed on read-only memory, followed by an acquire fence).
#[inline]
pub(crate) fn load_word<R: Region + ?Sized>(region: &R, offset: usize) -> u64 {
    assert!(
        offset.is_multiple_of(8) && offset + 8 <= region.len(),
        "word load out of bounds"
    );
    // SAFETY: in bounds (checked above), 8-aligned (the region base is 16-aligned and
    // offset is a multiple of 8), and `Region` promises atomic loads are allowed.
    let atom = unsafe { AtomicU64::from_ptr(region.as_ptr().add(offset).cast_mut().cast()) };
    let raw = atom.load(Ordering::Relaxed);
    fence(Ordering::Acquire);
    u64::from_le(raw)
}

/// Loads the word at `offset` without ordering (for scans that only look for non-zero bytes).
#[inline]
pub(crate) fn peek_word<R: Region + ?Sized>(region: &R, offset: usize) -> u64 {
    assert!(
        offset.is_multiple_of(8) && offset + 8 <= region.len(),
        "word load out of bounds"
    );
    // SAFETY: as in `load_word`.
    let atom = unsafe { AtomicU64::from_ptr(region.as_ptr().add(offset).cast_mut().cast()) };
    u64::from_le(atom.load(Ordering::Relaxed))
}

/// The bytes `offset..offset + len` of the region.
///
/// Only call this for bytes nobody modifies any more: published records (after `load_word`
/// saw their first word) and segment headers, or while holding the writer lock.
#[inline]
pub(crate) fn bytes<R: Region + ?Sized>(region: &R, offset: usize, len: usize) -> &[u8] {
    assert!(
        offset <= region.len() && len <= region.len() - offset,
        "byte range out of bounds"
    );
    // SAFETY: in bounds (checked above) and valid for reads per the `Region` contract; the
    // caller guarantees no concurrent modification of these bytes.
    unsafe { std::slice::from_raw_parts(region.as_ptr().add(offset), len) }
}
