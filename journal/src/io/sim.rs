//! An in-memory file system that knows what is durable, for crash and corruption tests.
//!
//! Every file has a *volatile* image (what a process sees: the page cache) and a *durable*
//! image (what the device holds). Mapped writes change the volatile image; `flush`,
//! `sync_file`, `create_sized` and `write_file` copy to the durable one. Directory entries are
//! volatile too until `sync_dir`: a file created or renamed without a directory sync is not
//! there after a power loss, and a removed one comes back.
//!
//! Crash injection: after the n-th write (mapped write, publish, create, rename, remove) or the
//! n-th flush (flush, sync_file, sync_dir, and the sync inside create and write_file) the
//! simulated machine is down and every later operation fails. Then
//! [`SimIo::after_process_crash`] or [`SimIo::after_power_loss`] give the directory as a new
//! process would find it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Io, Region, WriteRegion};

/// One simulated file: a fixed-size volatile image and its durable image.
#[derive(Debug)]
struct SimFile {
    /// Volatile bytes, little-endian words (so the image is 8-aligned and atomically
    /// accessible like a real mapping).
    words: Box<[AtomicU64]>,
    len: usize,
    durable: Mutex<Vec<u8>>,
}

impl SimFile {
    fn new(content: &[u8], durable: Vec<u8>) -> Arc<SimFile> {
        // Two words of slack so that the base can be rounded up to 16 bytes.
        let words: Box<[AtomicU64]> = (0..content.len().div_ceil(8) + 2)
            .map(|_| AtomicU64::new(0))
            .collect();
        let file = SimFile {
            words,
            len: content.len(),
            durable: Mutex::new(durable),
        };
        file.write_at(0, content);
        Arc::new(file)
    }

    fn base(&self) -> *mut u8 {
        let p = self.words.as_ptr() as usize;
        let skip = (16 - p % 16) % 16;
        // The slack words cover the skip (0 or 8 bytes).
        (self.words.as_ptr() as *mut u8).wrapping_add(skip)
    }

    fn write_at(&self, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= self.len);
        // SAFETY: in bounds of the allocation (base + len lies within words, see `new`);
        // the memory is inside `AtomicU64` cells, so writing through a shared pointer is
        // allowed; concurrent readers follow the publication protocol.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base().add(offset), bytes.len())
        }
    }

    fn word(&self, offset: usize) -> &AtomicU64 {
        assert!(offset.is_multiple_of(8) && offset + 8 <= self.len);
        // SAFETY: in bounds and 8-aligned; the cell is an `AtomicU64` of our allocation.
        unsafe { AtomicU64::from_ptr(self.base().add(offset).cast()) }
    }

    fn volatile(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.len];
        // SAFETY: in bounds; reads of memory inside atomic cells. Callers take images of
        // quiescent files (tests read after the writer stopped).
        unsafe { std::ptr::copy_nonoverlapping(self.base(), out.as_mut_ptr(), self.len) };
        out
    }

    fn durable(&self) -> MutexGuard<'_, Vec<u8>> {
        self.durable.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn flush_range(&self, offset: usize, len: usize) {
        let image = self.volatile();
        let mut d = self.durable();
        if d.len() < self.len {
            d.resize(self.len, 0);
        }
        d[offset..offset + len].copy_from_slice(&image[offset..offset + len]);
    }
}

#[derive(Debug)]
struct LastWrite {
    file: Arc<SimFile>,
    offset: usize,
    bytes: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<PathBuf, Arc<SimFile>>,
    durable_files: BTreeMap<PathBuf, Arc<SimFile>>,
    dirs: BTreeSet<PathBuf>,
    locks: BTreeSet<PathBuf>,
    writes: u64,
    flushes: u64,
    crash_after_writes: Option<u64>,
    crash_after_flushes: Option<u64>,
    crashed: bool,
    last_write: Option<LastWrite>,
}

#[derive(Clone, Copy)]
enum Op {
    Read,
    Write,
    Flush,
}

/// In-memory [`Io`] with a page cache / device split, crash points and bit flips. Clones
/// share the same simulated machine.
#[derive(Clone, Debug, Default)]
pub struct SimIo {
    state: Arc<Mutex<State>>,
}

/// A mapping of a [`SimIo`] file (shares the volatile image with every other mapping).
#[derive(Debug)]
pub struct SimMap {
    file: Arc<SimFile>,
    io: SimIo,
    writable: bool,
}

/// The writer lock of a [`SimIo`] directory; released on drop.
#[derive(Debug)]
pub struct SimFileLock {
    io: SimIo,
    dir: PathBuf,
}

impl Drop for SimFileLock {
    fn drop(&mut self) {
        self.io.lock().locks.remove(&self.dir);
    }
}

fn crashed() -> io::Error {
    io::Error::other("simulated crash: the machine is down")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl SimIo {
    /// An empty machine with no crash point.
    pub fn new() -> Self {
        SimIo::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts an operation; fails if the machine is down. The operation that reaches a crash
    /// point still happens; everything after it fails.
    fn op(&self, state: &mut State, op: Op) -> io::Result<()> {
        if state.crashed {
            return Err(crashed());
        }
        match op {
            Op::Read => {}
            Op::Write => {
                state.writes += 1;
                if state.crash_after_writes == Some(state.writes) {
                    state.crashed = true;
                }
            }
            Op::Flush => {
                state.flushes += 1;
                if state.crash_after_flushes == Some(state.flushes) {
                    state.crashed = true;
                }
            }
        }
        Ok(())
    }

    /// The machine goes down right after the `n`-th write from now on (counted from 1;
    /// writes already done are not counted again).
    pub fn crash_after_writes(&self, n: u64) {
        let mut s = self.lock();
        s.crash_after_writes = Some(s.writes + n);
    }

    /// The machine goes down right after the `n`-th flush from now on.
    pub fn crash_after_flushes(&self, n: u64) {
        let mut s = self.lock();
        s.crash_after_flushes = Some(s.flushes + n);
    }

    /// The machine goes down now.
    pub fn crash_now(&self) {
        self.lock().crashed = true;
    }

    /// True once a crash point was reached.
    pub fn is_crashed(&self) -> bool {
        self.lock().crashed
    }

    /// Writes counted so far.
    pub fn writes(&self) -> u64 {
        self.lock().writes
    }

    /// Flushes counted so far.
    pub fn flushes(&self) -> u64 {
        self.lock().flushes
    }

    /// Length of the last write (for choosing how much of it a power loss keeps).
    pub fn last_write_len(&self) -> Option<usize> {
        self.lock().last_write.as_ref().map(|w| w.bytes.len())
    }

    /// The directory as a new process finds it after this one died: every file and
    /// directory entry as the page cache held them. Nothing was lost, nothing became more
    /// durable than it was. The new machine has no crash point and no locks.
    pub fn after_process_crash(&self) -> SimIo {
        let s = self.lock();
        let mut copies: HashMap<*const SimFile, Arc<SimFile>> = HashMap::new();
        let mut copy = |f: &Arc<SimFile>| {
            copies
                .entry(Arc::as_ptr(f))
                .or_insert_with(|| SimFile::new(&f.volatile(), f.durable().clone()))
                .clone()
        };
        let files = s.files.iter().map(|(p, f)| (p.clone(), copy(f))).collect();
        let durable_files = s
            .durable_files
            .iter()
            .map(|(p, f)| (p.clone(), copy(f)))
            .collect();
        SimIo::from_state(State {
            files,
            durable_files,
            dirs: s.dirs.clone(),
            ..State::default()
        })
    }

    /// The directory after a power loss: only durable directory entries, each file with its
    /// durable bytes. With `torn_last_write = Some(n)`, the first `n` bytes of the last write
    /// (mapped write or publish) also reached the device, as when the power fails in the
    /// middle of writing back a page.
    pub fn after_power_loss(&self, torn_last_write: Option<usize>) -> SimIo {
        let s = self.lock();
        let mut files = BTreeMap::new();
        for (path, f) in &s.durable_files {
            let mut image = f.durable().clone();
            if let (Some(keep), Some(w)) = (torn_last_write, &s.last_write)
                && Arc::ptr_eq(&w.file, f)
            {
                let keep = keep.min(w.bytes.len());
                let end = w.offset + keep;
                if image.len() < end {
                    image.resize(end.min(f.len), 0);
                }
                let end = end.min(image.len());
                if w.offset < end {
                    image[w.offset..end].copy_from_slice(&w.bytes[..end - w.offset]);
                }
            }
            files.insert(path.clone(), SimFile::new(&image, image.clone()));
        }
        let durable_files = files.clone();
        SimIo::from_state(State {
            files,
            durable_files,
            dirs: s.dirs.clone(),
            ..State::default()
        })
    }

    fn from_state(state: State) -> SimIo {
        SimIo {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Flips bit `bit` (0..8) of the byte at `offset` in both images of `path`.
    pub fn flip_bit(&self, path: &Path, offset: u64, bit: u8) -> io::Result<()> {
        let s = self.lock();
        let f = s.files.get(path).ok_or_else(|| not_found(path))?;
        let offset = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        if offset >= f.len {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        let mask = 1u64 << ((offset % 8) * 8 + usize::from(bit % 8));
        f.word(offset & !7)
            .fetch_xor(mask.to_le(), Ordering::SeqCst);
        let mut d = f.durable();
        if offset < d.len() {
            d[offset] ^= 1 << (bit % 8);
        }
        Ok(())
    }

    /// Cuts `path` to `len` bytes in both images (a file damaged from outside).
    pub fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut s = self.lock();
        let f = s.files.get(path).ok_or_else(|| not_found(path))?.clone();
        let len = usize::try_from(len)
            .map_err(|_| io::ErrorKind::InvalidInput)?
            .min(f.len);
        let mut durable = f.durable().clone();
        durable.truncate(len);
        let cut = SimFile::new(&f.volatile()[..len], durable);
        s.files.insert(path.to_owned(), cut.clone());
        if s.durable_files.contains_key(path) {
            s.durable_files.insert(path.to_owned(), cut);
        }
        Ok(())
    }

    /// The volatile bytes of `path`, if it exists.
    pub fn read(&self, path: &Path) -> Option<Vec<u8>> {
        self.lock().files.get(path).map(|f| f.volatile())
    }

    /// Writes `bytes` at `offset` of `path` in both images, without counting an operation
    /// (for planting damage in tests).
    pub fn poke(&self, path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let s = self.lock();
        let f = s.files.get(path).ok_or_else(|| not_found(path))?;
        let offset = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        if offset + bytes.len() > f.len {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        f.write_at(offset, bytes);
        let mut d = f.durable();
        if d.len() < offset + bytes.len() {
            d.resize(f.len, 0);
        }
        d[offset..offset + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }

    /// Paths of all files (volatile directory entries), sorted.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.lock().files.keys().cloned().collect()
    }

    fn check_parent(s: &State, path: &Path) -> io::Result<()> {
        match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() && !s.dirs.contains(parent) => {
                Err(not_found(parent))
            }
            _ => Ok(()),
        }
    }

    fn file(s: &State, path: &Path) -> io::Result<Arc<SimFile>> {
        s.files.get(path).cloned().ok_or_else(|| not_found(path))
    }

    /// Creates a file with `content`, durable data, volatile directory entry.
    fn create(&self, path: &Path, content: &[u8]) -> io::Result<()> {
        let file = {
            let mut s = self.lock();
            self.op(&mut s, Op::Write)?;
            Self::check_parent(&s, path)?;
            let file = SimFile::new(content, Vec::new());
            s.files.insert(path.to_owned(), file.clone());
            self.op(&mut s, Op::Flush)?;
            file
        };
        *file.durable() = content.to_vec();
        Ok(())
    }
}

// SAFETY: `SimFile::base` is 16-aligned with `len` bytes inside the allocation, which lives as
// long as the `Arc` held here; all bytes sit in `AtomicU64` cells.
unsafe impl Region for SimMap {
    fn len(&self) -> usize {
        self.file.len
    }
    fn as_ptr(&self) -> *const u8 {
        self.file.base()
    }
}

impl SimMap {
    fn check(&self, offset: usize, n: usize) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "read-only mapping",
            ));
        }
        if offset > self.file.len || n > self.file.len - offset {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "write outside the mapping",
            ));
        }
        Ok(())
    }

    fn record_write(&self, offset: usize, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.io.lock();
        self.io.op(&mut s, Op::Write)?;
        s.last_write = Some(LastWrite {
            file: self.file.clone(),
            offset,
            bytes: bytes.to_vec(),
        });
        Ok(())
    }
}

impl WriteRegion for SimMap {
    fn write(&mut self, offset: usize, bytes: &[u8]) -> io::Result<()> {
        self.check(offset, bytes.len())?;
        self.record_write(offset, bytes)?;
        self.file.write_at(offset, bytes);
        Ok(())
    }

    fn publish(&mut self, offset: usize, word: u64) -> io::Result<()> {
        self.check(offset, 8)?;
        if !offset.is_multiple_of(8) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "unaligned publish",
            ));
        }
        self.record_write(offset, &word.to_le_bytes())?;
        self.file
            .word(offset)
            .store(word.to_le(), Ordering::Release);
        Ok(())
    }

    fn flush(&mut self, offset: usize, len: usize) -> io::Result<()> {
        if offset > self.file.len || len > self.file.len - offset {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "flush outside the mapping",
            ));
        }
        {
            let mut s = self.io.lock();
            self.io.op(&mut s, Op::Flush)?;
        }
        self.file.flush_range(offset, len);
        Ok(())
    }
}

impl Io for SimIo {
    type ReadMap = SimMap;
    type WriteMap = SimMap;
    type Lock = SimFileLock;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.lock();
        self.op(&mut s, Op::Read)?;
        for d in dir.ancestors() {
            if !d.as_os_str().is_empty() {
                s.dirs.insert(d.to_owned());
            }
        }
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut s = self.lock();
        self.op(&mut s, Op::Read)?;
        if !s.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        Ok(s.files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        let mut s = self.lock();
        self.op(&mut s, Op::Read)?;
        Ok(Self::file(&s, path)?.len as u64)
    }

    fn create_sized(&self, path: &Path, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
        self.create(path, &vec![0u8; len])
    }

    fn map_read(&self, path: &Path) -> io::Result<SimMap> {
        let mut s = self.lock();
        self.op(&mut s, Op::Read)?;
        let file = Self::file(&s, path)?;
        if file.len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot map an empty file",
            ));
        }
        Ok(SimMap {
            file,
            io: self.clone(),
            writable: false,
        })
    }

    fn map_write(&self, path: &Path, _populate: bool) -> io::Result<SimMap> {
        let mut s = self.lock();
        self.op(&mut s, Op::Read)?;
        let file = Self::file(&s, path)?;
        if file.len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot map an empty file",
            ));
        }
        Ok(SimMap {
            file,
            io: self.clone(),
            writable: true,
        })
    }

    fn write_file(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.create(path, data)
    }

    fn read_exact_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut s = self.lock();
        self.op(&mut s, Op::Read)?;
        let file = Self::file(&s, path)?;
        drop(s);
        let offset = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        if offset > file.len || buf.len() > file.len - offset {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let image = file.volatile();
        buf.copy_from_slice(&image[offset..offset + buf.len()]);
        Ok(())
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        let file = {
            let mut s = self.lock();
            self.op(&mut s, Op::Flush)?;
            Self::file(&s, path)?
        };
        file.flush_range(0, file.len);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.lock();
        self.op(&mut s, Op::Flush)?;
        if !s.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let in_dir = |p: &PathBuf| p.parent() == Some(dir);
        s.durable_files.retain(|p, _| !in_dir(p));
        let entries: Vec<_> = s
            .files
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, f)| (p.clone(), f.clone()))
            .collect();
        s.durable_files.extend(entries);
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.lock();
        self.op(&mut s, Op::Write)?;
        Self::check_parent(&s, to)?;
        let file = s.files.remove(from).ok_or_else(|| not_found(from))?;
        s.files.insert(to.to_owned(), file);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        self.op(&mut s, Op::Write)?;
        s.files
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<SimFileLock> {
        let mut s = self.lock();
        self.op(&mut s, Op::Read)?;
        if !s.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        if !s.locks.insert(dir.to_owned()) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "directory locked",
            ));
        }
        Ok(SimFileLock {
            io: self.clone(),
            dir: dir.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_versus_volatile() {
        let io = SimIo::new();
        let dir = Path::new("/d");
        io.create_dir_all(dir).unwrap();
        let a = dir.join("a");
        io.create_sized(&a, 64).unwrap();
        let mut m = io.map_write(&a, false).unwrap();
        m.write(8, b"hello").unwrap();
        // Not flushed, entry not synced: gone after power loss, there after a process crash.
        assert!(io.after_power_loss(None).paths().is_empty());
        assert_eq!(&io.after_process_crash().read(&a).unwrap()[8..13], b"hello");
        io.sync_dir(dir).unwrap();
        let lost = io.after_power_loss(None);
        assert_eq!(lost.read(&a).unwrap(), vec![0; 64]);
        let torn = io.after_power_loss(Some(2));
        assert_eq!(&torn.read(&a).unwrap()[8..13], b"he\0\0\0");
        m.flush(8, 5).unwrap();
        assert_eq!(
            &io.after_power_loss(None).read(&a).unwrap()[8..13],
            b"hello"
        );
    }

    #[test]
    fn crash_points() {
        let io = SimIo::new();
        let dir = Path::new("/d");
        io.create_dir_all(dir).unwrap();
        io.create_sized(&dir.join("a"), 64).unwrap();
        let mut m = io.map_write(&dir.join("a"), false).unwrap();
        io.crash_after_writes(2);
        m.write(0, b"x").unwrap();
        m.write(1, b"y").unwrap();
        assert!(io.is_crashed());
        assert!(m.write(2, b"z").is_err());
        assert!(io.file_len(&dir.join("a")).is_err());
        assert_eq!(
            &io.after_process_crash().read(&dir.join("a")).unwrap()[..3],
            b"xy\0"
        );
    }

    #[test]
    fn base_is_16_aligned() {
        for n in [1usize, 8, 17, 4096] {
            let f = SimFile::new(&vec![1u8; n], Vec::new());
            assert_eq!(f.base() as usize % 16, 0);
            assert_eq!(f.volatile(), vec![1u8; n]);
        }
    }
}
