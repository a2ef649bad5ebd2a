//! Real files and shared memory mappings (memmap2), with fsync where durability needs it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use super::{Io, Region, WriteRegion};

/// The production [`Io`]: `std::fs` plus shared `mmap` mappings.
#[derive(Clone, Copy, Debug, Default)]
pub struct MmapIo;

/// A read-only shared mapping of a whole file.
#[derive(Debug)]
pub struct MmapRead {
    map: MmapRaw,
}

/// A read-write shared mapping of a whole file.
#[derive(Debug)]
pub struct MmapWrite {
    map: MmapRaw,
}

// SAFETY: mmap returns page-aligned memory valid for `len` bytes while the `MmapRaw` lives;
// the journal never truncates a mapped file (external truncation is documented as forbidden).
unsafe impl Region for MmapRead {
    #[inline]
    fn len(&self) -> usize {
        self.map.len()
    }
    #[inline]
    fn as_ptr(&self) -> *const u8 {
        self.map.as_ptr()
    }
}

// SAFETY: as for `MmapRead`.
unsafe impl Region for MmapWrite {
    #[inline]
    fn len(&self) -> usize {
        self.map.len()
    }
    #[inline]
    fn as_ptr(&self) -> *const u8 {
        self.map.as_ptr()
    }
}

#[inline]
fn check_range(len: usize, offset: usize, n: usize) -> io::Result<()> {
    if offset <= len && n <= len - offset {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "write outside the mapping",
        ))
    }
}

impl WriteRegion for MmapWrite {
    #[inline]
    fn write(&mut self, offset: usize, bytes: &[u8]) -> io::Result<()> {
        check_range(self.map.len(), offset, bytes.len())?;
        // SAFETY: the destination range is inside the mapping (checked above) and cannot
        // overlap `bytes`, which the caller borrows from its own memory.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.map.as_mut_ptr().add(offset),
                bytes.len(),
            );
        }
        Ok(())
    }

    #[inline]
    fn publish(&mut self, offset: usize, word: u64) -> io::Result<()> {
        check_range(self.map.len(), offset, 8)?;
        if !offset.is_multiple_of(8) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "unaligned publish",
            ));
        }
        // SAFETY: in bounds and 8-aligned (page-aligned base, offset multiple of 8).
        let atom = unsafe { AtomicU64::from_ptr(self.map.as_mut_ptr().add(offset).cast()) };
        atom.store(word.to_le(), Ordering::Release);
        Ok(())
    }

    fn flush(&mut self, offset: usize, len: usize) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        // memmap2 aligns the start down to a page and calls msync(MS_SYNC).
        self.map.flush_range(offset, len)
    }
}

impl Io for MmapIo {
    type ReadMap = MmapRead;
    type WriteMap = MmapWrite;
    type Lock = File;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }

    fn create_sized(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.set_len(len)?;
        allocate(&file, len)?;
        file.sync_all()
    }

    fn map_read(&self, path: &Path) -> io::Result<MmapRead> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot map an empty file",
            ));
        }
        let map = MmapOptions::new().map_raw_read_only(&file)?;
        Ok(MmapRead { map })
    }

    fn map_write(&self, path: &Path, populate: bool) -> io::Result<MmapWrite> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        if file.metadata()?.len() == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot map an empty file",
            ));
        }
        let mut options = MmapOptions::new();
        if populate {
            options.populate();
        }
        let map = options.map_raw(&file)?;
        Ok(MmapWrite { map })
    }

    fn write_file(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.write_all(data)?;
        file.sync_all()
    }

    fn read_exact_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        File::open(path)?.read_exact_at(buf, offset)
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_data()
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<File> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(crate::LOCK_FILE))?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(file)
    }

    fn prepare_in_background(&self) -> bool {
        true
    }
}

/// Reserves the file's blocks so that first writes through the mapping do not allocate (and
/// so that a full disk shows up now, not as a SIGBUS later). Best effort where unsupported.
fn allocate(file: &File, len: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let len = libc::off_t::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large"))?;
        // SAFETY: fallocate on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) | Some(libc::EINVAL) => {}
                _ => return Err(err),
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, len);
    }
    Ok(())
}
