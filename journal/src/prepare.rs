//! Preparing the next segment before the writer needs it: create it full-size under a
//! temporary name, allocate and sync it, rename it into place, sync the directory, and map it
//! with its pages faulted in. With real files this runs on a background thread; with a
//! simulated file system it runs inline, one segment ahead, to keep crash tests
//! deterministic.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::error::JournalError;
use crate::io::Io;
use crate::segment::{prepare_path, segment_path};

type Prepared<M> = (u64, Result<M, JournalError>);

/// Creates and maps segment `index` (all-zero, `bytes` long).
pub(crate) fn prepare_segment<I: Io>(
    io: &I,
    dir: &Path,
    index: u64,
    bytes: u64,
) -> Result<I::WriteMap, JournalError> {
    let tmp = prepare_path(dir, index);
    let path = segment_path(dir, index);
    io.create_sized(&tmp, bytes)
        .map_err(|e| JournalError::io("create", &tmp, e))?;
    io.rename(&tmp, &path)
        .map_err(|e| JournalError::io("rename", &tmp, e))?;
    io.sync_dir(dir)
        .map_err(|e| JournalError::io("fsync dir", dir, e))?;
    io.map_write(&path, true)
        .map_err(|e| JournalError::io("map", &path, e))
}

/// Hands out prepared segments in index order.
pub(crate) enum Preparer<I: Io> {
    Inline {
        io: I,
        dir: PathBuf,
        bytes: u64,
        ready: Option<Prepared<I::WriteMap>>,
    },
    Background {
        requests: Option<mpsc::Sender<u64>>,
        results: mpsc::Receiver<Prepared<I::WriteMap>>,
        thread: Option<JoinHandle<()>>,
        /// The index requested and not yet taken.
        pending: Option<u64>,
    },
}

impl<I: Io> Preparer<I> {
    pub(crate) fn new(io: &I, dir: &Path, bytes: u64) -> Result<Self, JournalError> {
        if !io.prepare_in_background() {
            return Ok(Preparer::Inline {
                io: io.clone(),
                dir: dir.to_owned(),
                bytes,
                ready: None,
            });
        }
        let (req_tx, req_rx) = mpsc::channel::<u64>();
        let (res_tx, res_rx) = mpsc::channel();
        let worker_io = io.clone();
        let worker_dir = dir.to_owned();
        let thread = std::thread::Builder::new()
            .name("journal-prepare".into())
            .spawn(move || {
                while let Ok(index) = req_rx.recv() {
                    let result = prepare_segment(&worker_io, &worker_dir, index, bytes);
                    if res_tx.send((index, result)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| JournalError::io("spawn preparer for", dir, e))?;
        Ok(Preparer::Background {
            requests: Some(req_tx),
            results: res_rx,
            thread: Some(thread),
            pending: None,
        })
    }

    /// Starts preparing segment `index` (inline: prepares it now).
    pub(crate) fn request(&mut self, index: u64) {
        match self {
            Preparer::Inline {
                io,
                dir,
                bytes,
                ready,
            } => {
                *ready = Some((index, prepare_segment(io, dir, index, *bytes)));
            }
            Preparer::Background {
                requests, pending, ..
            } => {
                if let Some(tx) = requests {
                    // A send error means the thread is gone; `take` reports it.
                    let _ = tx.send(index);
                }
                *pending = Some(index);
            }
        }
    }

    /// The mapping of segment `index`, waiting for it if it is still being prepared.
    pub(crate) fn take(&mut self, index: u64) -> Result<I::WriteMap, JournalError> {
        let (got, result) = match self {
            Preparer::Inline {
                io,
                dir,
                bytes,
                ready,
            } => match ready.take() {
                Some(r) => r,
                None => (index, prepare_segment(io, dir, index, *bytes)),
            },
            Preparer::Background {
                results,
                pending,
                requests,
                ..
            } => {
                if pending.is_none()
                    && let Some(tx) = requests
                {
                    let _ = tx.send(index);
                }
                *pending = None;
                results.recv().map_err(|_| {
                    JournalError::io(
                        "prepare",
                        PathBuf::from(format!("segment {index}")),
                        std::io::Error::other("preparer thread stopped"),
                    )
                })?
            }
        };
        if got != index {
            return Err(JournalError::io(
                "prepare",
                PathBuf::from(format!("segment {index}")),
                std::io::Error::other(format!("preparer produced segment {got}")),
            ));
        }
        result
    }
}

impl<I: Io> Drop for Preparer<I> {
    fn drop(&mut self) {
        if let Preparer::Background {
            requests, thread, ..
        } = self
        {
            // Closing the request channel ends the thread once it finishes its current job.
            requests.take();
            if let Some(t) = thread.take() {
                let _ = t.join();
            }
        }
    }
}
