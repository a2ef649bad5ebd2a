//! Replays of execution reports older than the gateway's memory, read from a shard's journal
//! on a worker thread and handed back as encoded frames.

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use mio::Waker;
use oddsmatch_engine::record::{self, RECORD_INPUT};
use oddsmatch_engine::{AccountId, Event};
use oddsmatch_journal::Reader;

use super::reports::{Audience, Position, reports_of};
use crate::proto::{Report, ReportHeader, ServerMsg};

/// One replay to do.
#[derive(Debug)]
pub(crate) struct Job {
    /// The session slot and id it is for.
    pub(crate) slot: usize,
    pub(crate) session_id: u64,
    pub(crate) account: AccountId,
    pub(crate) shard: u16,
    pub(crate) journal_dir: PathBuf,
    /// Reports after this position...
    pub(crate) after: Position,
    /// ...up to the end of this record (later ones reach the session live).
    pub(crate) until_seq: u64,
}

/// A finished replay.
#[derive(Debug)]
pub(crate) struct Done {
    pub(crate) slot: usize,
    pub(crate) session_id: u64,
    /// The encoded report frames, in order.
    pub(crate) frames: Vec<u8>,
    pub(crate) reports: u32,
    /// The journal no longer holds some of the records asked for, or could not be read.
    pub(crate) incomplete: bool,
}

/// Starts the worker thread; it stops when the job sender is dropped.
pub(crate) fn spawn(waker: Arc<Waker>) -> std::io::Result<(Sender<Job>, Receiver<Done>)> {
    let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded::<Job>();
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<Done>();
    std::thread::Builder::new()
        .name("oddsmatch-replay".into())
        .spawn(move || {
            for job in jobs_rx {
                let done = run(&job);
                if done_tx.send(done).is_err() {
                    break;
                }
                let _ = waker.wake();
            }
        })?;
    Ok((jobs_tx, done_rx))
}

fn run(job: &Job) -> Done {
    let mut done = Done {
        slot: job.slot,
        session_id: job.session_id,
        frames: Vec::new(),
        reports: 0,
        incomplete: false,
    };
    let reader = match Reader::open(&job.journal_dir) {
        Ok(reader) => reader,
        Err(error) => {
            tracing::warn!(shard = job.shard, %error, "replay could not open the journal");
            done.incomplete = true;
            return done;
        }
    };
    // The record at `after` may hold later events too; records before it are not needed.
    let first_wanted = job.after.0.max(1);
    let lost = match reader.first_seq() {
        Some(first) => first > job.after.0 + 1,
        None => job.until_seq > job.after.0,
    };
    done.incomplete = lost;
    let mut events: Vec<Event> = Vec::new();
    for item in reader.iter_from(first_wanted) {
        let record = match item {
            Ok(record) => record,
            Err(error) => {
                tracing::warn!(shard = job.shard, %error, "replay stopped at a bad record");
                done.incomplete = true;
                break;
            }
        };
        if record.seq > job.until_seq {
            break;
        }
        if record.kind != RECORD_INPUT {
            continue;
        }
        if let Err(error) = record::decode_into(record.payload, &mut events) {
            tracing::warn!(shard = job.shard, seq = record.seq, %error, "replay skipped a record");
            done.incomplete = true;
            continue;
        }
        for (index, event) in events.iter().enumerate() {
            let position = (record.seq, index as u32);
            if position <= job.after {
                continue;
            }
            // Only account reports are replayed (market status and answers to a requester are
            // live only).
            let Audience::Accounts(reports) = reports_of(event) else {
                continue;
            };
            for (account, body) in reports.into_iter().flatten() {
                if account != job.account {
                    continue;
                }
                let header = ReportHeader {
                    journal_seq: record.seq,
                    ts_ns: record.ts_ns,
                    request_id: 0,
                    event_index: index as u32,
                    shard: job.shard,
                };
                ServerMsg::Report(Report { header, body }).encode(&mut done.frames);
                done.reports += 1;
            }
        }
    }
    done
}
