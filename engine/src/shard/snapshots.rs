//! Writing snapshots off the shard thread.
//!
//! The shard serialises its state itself (the state must not change meanwhile), then hands the
//! bytes to this writer's thread, which writes the file (temporary file, fsync, rename, fsync
//! of the directory) and prunes old snapshots while the shard goes on applying inputs. One
//! snapshot is in flight at a time; the shard learns of each written one by polling, and only
//! then lets the journal release segments the snapshot makes unnecessary.

use std::path::PathBuf;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use oddsmatch_journal::{JournalError, SnapshotStore};

use crate::snapshot::AlignedVec;

/// A snapshot the writer thread finished.
#[derive(Debug)]
pub(super) struct Written {
    /// Its sequence number.
    pub seq: u64,
    /// Its file.
    pub path: PathBuf,
    /// The oldest snapshot still kept after pruning.
    pub oldest_kept: u64,
}

pub(super) struct SnapshotWriter {
    requests: Option<Sender<(u64, AlignedVec)>>,
    done: Receiver<Result<Written, JournalError>>,
    in_flight: bool,
    thread: Option<JoinHandle<()>>,
}

impl SnapshotWriter {
    /// Starts the writer thread for the snapshots of the journal in `store`, keeping `keep`.
    pub fn start(store: SnapshotStore, keep: usize, shard: u16) -> std::io::Result<Self> {
        let (requests, incoming) = crossbeam_channel::bounded::<(u64, AlignedVec)>(1);
        let (finished, done) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name(format!("shard-{shard}-snapshots"))
            .spawn(move || {
                for (seq, bytes) in incoming {
                    let result = store.write(seq, &bytes).and_then(|path| {
                        store.prune(keep.max(1))?;
                        let oldest_kept = store.list()?.first().map_or(seq, |info| info.seq);
                        Ok(Written {
                            seq,
                            path,
                            oldest_kept,
                        })
                    });
                    if finished.send(result).is_err() {
                        return;
                    }
                }
            })?;
        Ok(SnapshotWriter {
            requests: Some(requests),
            done,
            in_flight: false,
            thread: Some(thread),
        })
    }

    /// Whether a snapshot is being written.
    pub fn busy(&self) -> bool {
        self.in_flight
    }

    /// Hands over the bytes of the snapshot at `seq` (call only when not [`busy`]).
    ///
    /// [`busy`]: SnapshotWriter::busy
    pub fn submit(&mut self, seq: u64, bytes: AlignedVec) {
        debug_assert!(!self.in_flight);
        if let Some(requests) = &self.requests
            && requests.send((seq, bytes)).is_ok()
        {
            self.in_flight = true;
        }
    }

    /// The snapshot finished since the last call, if any; never waits.
    pub fn poll(&mut self) -> Option<Result<Written, JournalError>> {
        if !self.in_flight {
            return None;
        }
        let result = self.done.try_recv().ok()?;
        self.in_flight = false;
        Some(result)
    }

    /// Waits for the snapshot in flight, if any.
    pub fn wait(&mut self) -> Option<Result<Written, JournalError>> {
        if !self.in_flight {
            return None;
        }
        self.in_flight = false;
        match self.done.recv() {
            Ok(result) => Some(result),
            Err(_) => Some(Err(JournalError::Poisoned(
                "the snapshot writer thread stopped".to_string(),
            ))),
        }
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        // Closing the request queue ends the thread once the file in hand is written.
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
