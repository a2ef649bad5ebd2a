//! The flush: per shard, a reader thread turns journal records into batches of rows and a
//! writer task commits each batch with the journal position it reaches.
//!
//! ```text
//!   journal (shard N) ──▶ reader thread ──batches──▶ writer task ──COPY + checkpoint──▶ Postgres
//!        (Tailer or Reader)   (decode, rows)   (bounded)   (one transaction per batch)
//! ```
//!
//! Exactly once: a batch's rows and the new checkpoint commit in one transaction, and the
//! checkpoint update only succeeds if the checkpoint is still where the batch starts. After any
//! failure the writer drops its connection (an open transaction dies with it), reconnects,
//! reads the checkpoint and restarts its reader from the record after it. A crash anywhere
//! therefore either committed a batch completely, checkpoint included, or not at all, and the
//! next run starts exactly after the last committed record. Every row's primary key is its
//! journal position, so even a second flusher racing on the same shard cannot write a row
//! twice.
//!
//! The engine never waits: the reader follows the journal's files, and the shard only learns,
//! through [`Source::checkpoint`], how far persist has got so that it keeps the segments
//! persist still needs.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use oddsmatch_engine::Event;
use oddsmatch_engine::record::{self, RECORD_INPUT};
use oddsmatch_journal::{JournalError, Reader, RecordRef, Tailer};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_postgres::{Client, NoTls};

use crate::rows::{RowOptions, Rows};
use crate::schema::{self, SchemaError, describe};

/// How the flush runs. Durations are in milliseconds so that the configuration file reads
/// plainly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PersistConfig {
    /// The Postgres connection string (`host=... user=... dbname=...` or a
    /// `postgresql://` URL).
    pub postgres: String,
    /// The Postgres schema holding the tables (created if missing).
    pub schema: String,
    /// The most journal records in one batch (one transaction).
    pub batch_records: usize,
    /// The most rows in one batch.
    pub batch_rows: usize,
    /// How long a batch that is not full waits for more records once the reader has caught up
    /// with the journal.
    pub linger_ms: u64,
    /// How often a reader that has caught up looks for new records.
    pub poll_ms: u64,
    /// The first wait after a failure; it doubles on each failure in a row.
    pub retry_min_ms: u64,
    /// The longest wait between retries.
    pub retry_max_ms: u64,
    /// How long connecting may take before it counts as a failure.
    pub connect_timeout_ms: u64,
    /// How long writing one batch may take before it counts as a failure (a stalled server
    /// or network).
    pub write_timeout_ms: u64,
    /// Odds ticks written: see [`RowOptions::odds_tick_every`].
    pub odds_tick_every: u64,
    /// How long a stopping node waits for the flush to catch up with its journals (what is
    /// left is flushed at the next start).
    pub shutdown_drain_ms: u64,
}

impl Default for PersistConfig {
    fn default() -> Self {
        PersistConfig {
            postgres: String::new(),
            schema: "oddsmatch".to_owned(),
            batch_records: 8_192,
            batch_rows: 65_536,
            linger_ms: 5,
            poll_ms: 1,
            retry_min_ms: 100,
            retry_max_ms: 5_000,
            connect_timeout_ms: 5_000,
            write_timeout_ms: 30_000,
            odds_tick_every: RowOptions::default().odds_tick_every,
            shutdown_drain_ms: 10_000,
        }
    }
}

impl PersistConfig {
    /// The defaults, writing to `postgres`.
    pub fn new(postgres: impl Into<String>) -> Self {
        PersistConfig {
            postgres: postgres.into(),
            ..PersistConfig::default()
        }
    }

    /// How records become rows under this configuration.
    pub fn rows(&self) -> RowOptions {
        RowOptions {
            odds_tick_every: self.odds_tick_every,
        }
    }

    /// Checks what can be checked without a server.
    pub fn validate(&self) -> Result<(), PersistError> {
        schema::check_name(&self.schema)?;
        let problem = if self.postgres.trim().is_empty() {
            Some("the Postgres connection string is empty")
        } else if self.batch_records == 0 || self.batch_rows == 0 {
            Some("batch_records and batch_rows must be at least 1")
        } else if self.retry_min_ms == 0 || self.retry_max_ms < self.retry_min_ms {
            Some("retry_min_ms must be at least 1 and at most retry_max_ms")
        } else if self.connect_timeout_ms == 0 || self.write_timeout_ms == 0 {
            Some("connect_timeout_ms and write_timeout_ms must be at least 1")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(PersistError::Config(problem.to_owned())),
            None => Ok(()),
        }
    }
}

/// One shard's journal to flush.
#[derive(Clone, Debug)]
pub struct Source {
    /// The shard number (the `shard` column).
    pub shard: u16,
    /// Its journal directory.
    pub dir: PathBuf,
    /// Follow the journal as it grows (a live shard); otherwise stop at its end.
    pub follow: bool,
    /// Where to publish the last journal sequence number committed to Postgres, for the
    /// shard to keep the segments after it (`ShardConfig::reader_checkpoints`).
    pub checkpoint: Option<Arc<AtomicU64>>,
}

impl Source {
    /// A journal to flush up to its end.
    pub fn to_end(shard: u16, dir: impl Into<PathBuf>) -> Self {
        Source {
            shard,
            dir: dir.into(),
            follow: false,
            checkpoint: None,
        }
    }

    /// A live journal to follow until stopped.
    pub fn follow(shard: u16, dir: impl Into<PathBuf>, checkpoint: Arc<AtomicU64>) -> Self {
        Source {
            shard,
            dir: dir.into(),
            follow: true,
            checkpoint: Some(checkpoint),
        }
    }
}

/// Why the flush stopped for good (failures of Postgres are retried, never returned).
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// A setting is out of range.
    #[error("persist configuration: {0}")]
    Config(String),
    /// The schema could not be brought up to date.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The journal could not be read.
    #[error("shard {shard}: {error}")]
    Journal {
        /// The shard.
        shard: u16,
        /// What failed.
        error: JournalError,
    },
    /// A record's payload is not a valid entry: nothing of it or after it is written.
    #[error("shard {shard}: record {seq} cannot be read: {detail}")]
    BadRecord {
        /// The shard.
        shard: u16,
        /// The record.
        seq: u64,
        /// What is wrong.
        detail: String,
    },
    /// A crash point of a fault-injection test fired (see [`Persister::start_with_faults`]).
    #[error("shard {shard}: stopped dead at {point:?} of batch {batch}")]
    Crashed {
        /// The shard.
        shard: u16,
        /// Where.
        point: CrashPoint,
        /// Which batch of the run (from 1).
        batch: u64,
    },
    /// The flush thread could not be started or died.
    #[error("persist thread: {0}")]
    Thread(String),
}

/// A point in the writing of a batch where a fault-injection test may stop the flush dead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPoint {
    /// The batch's rows were copied; the transaction is open, not committed.
    BeforeCommit,
    /// The transaction committed; the writer has not taken the next batch yet.
    AfterCommit,
}

/// Decides, for a test, whether to stop dead at a point: called with the point, the shard and
/// the batch number of the run (from 1).
pub type Faults = Arc<dyn Fn(CrashPoint, u16, u64) -> bool + Send + Sync>;

/// How far one shard's flush has got.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// The shard.
    pub shard: u16,
    /// The last record committed to Postgres (0: none yet, or not known yet).
    pub committed_seq: u64,
    /// The last record the reader has taken from the journal.
    pub read_seq: u64,
    /// Records read and not committed yet.
    pub lag_records: u64,
    /// How long the oldest record read and not yet committed has waited, by its journal
    /// timestamp (0 when everything read is committed).
    pub lag: Duration,
    /// Batches committed by this run.
    pub batches: u64,
    /// Records committed by this run.
    pub records: u64,
    /// Rows committed by this run.
    pub rows: u64,
    /// Failures retried (connections lost, timeouts, refused statements).
    pub retries: u64,
    /// Whether the writer holds a working connection.
    pub connected: bool,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// Whether this shard's flush has ended (a journal flushed to its end, or stopped).
    pub finished: bool,
}

/// Shared between a shard's reader, its writer and whoever asks for [`Progress`].
#[derive(Debug, Default)]
struct ShardState {
    committed_seq: AtomicU64,
    read_seq: AtomicU64,
    batches: AtomicU64,
    records: AtomicU64,
    rows: AtomicU64,
    retries: AtomicU64,
    connected: AtomicBool,
    finished: AtomicBool,
    last_error: Mutex<Option<String>>,
    /// `(first seq, first timestamp)` of each batch read and not committed, oldest first.
    pending: Mutex<VecDeque<(u64, u64)>>,
}

impl ShardState {
    fn progress(&self, shard: u16, now_ns: u64) -> Progress {
        let committed_seq = self.committed_seq.load(Ordering::Acquire);
        let read_seq = self.read_seq.load(Ordering::Acquire).max(committed_seq);
        let oldest = self.pending.lock().front().map(|&(_, ts)| ts);
        Progress {
            shard,
            committed_seq,
            read_seq,
            lag_records: read_seq - committed_seq,
            lag: oldest.map_or(Duration::ZERO, |ts| {
                Duration::from_nanos(now_ns.saturating_sub(ts))
            }),
            batches: self.batches.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            connected: self.connected.load(Ordering::Relaxed),
            last_error: self.last_error.lock().clone(),
            finished: self.finished.load(Ordering::Acquire),
        }
    }
}

/// What the flush is asked to do; readers and writers look at it between records and batches.
const RUN: u8 = 0;
/// Flush what the journals hold now, then end (a following reader stops at the end).
const DRAIN: u8 = 1;
/// Stop at once; what is not committed is flushed by the next run.
const STOP: u8 = 2;

/// The flush of a set of shards, running on its own threads. Dropping it stops it.
pub struct Persister {
    mode: Arc<AtomicU8>,
    shards: Vec<(u16, Arc<ShardState>)>,
    thread: Option<JoinHandle<Result<(), PersistError>>>,
}

impl std::fmt::Debug for Persister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persister")
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl Persister {
    /// Starts flushing `sources` to Postgres. Returns at once: Postgres being unreachable is
    /// not an error here, the flush retries until it is back.
    pub fn start(config: PersistConfig, sources: Vec<Source>) -> Result<Persister, PersistError> {
        Self::start_with_faults(config, sources, None)
    }

    /// [`Persister::start`] with crash points for fault-injection tests.
    pub fn start_with_faults(
        config: PersistConfig,
        sources: Vec<Source>,
        faults: Option<Faults>,
    ) -> Result<Persister, PersistError> {
        config.validate()?;
        let mut seen = std::collections::BTreeSet::new();
        if let Some(source) = sources.iter().find(|s| !seen.insert(s.shard)) {
            return Err(PersistError::Config(format!(
                "shard {} is named twice",
                source.shard
            )));
        }
        let mode = Arc::new(AtomicU8::new(RUN));
        let shards: Vec<_> = sources
            .iter()
            .map(|s| (s.shard, Arc::new(ShardState::default())))
            .collect();
        let config = Arc::new(config);
        let tasks: Vec<ShardTask> = sources
            .into_iter()
            .zip(&shards)
            .map(|(source, (_, state))| ShardTask {
                config: config.clone(),
                source,
                state: state.clone(),
                mode: mode.clone(),
                faults: faults.clone(),
            })
            .collect();
        let thread = std::thread::Builder::new()
            .name("persist".to_owned())
            .spawn(move || run_all(tasks))
            .map_err(|e| PersistError::Thread(e.to_string()))?;
        Ok(Persister {
            mode,
            shards,
            thread: Some(thread),
        })
    }

    /// How far each shard has got.
    pub fn progress(&self) -> Vec<Progress> {
        let now = now_ns();
        self.shards
            .iter()
            .map(|(shard, state)| state.progress(*shard, now))
            .collect()
    }

    /// Whether every shard's flush has ended.
    pub fn is_finished(&self) -> bool {
        self.shards
            .iter()
            .all(|(_, s)| s.finished.load(Ordering::Acquire))
    }

    /// Waits until every shard's flush has ended: for journals flushed to their end, when
    /// everything is committed. Returns the first error that ended a shard's flush.
    pub fn wait(mut self) -> Result<Vec<Progress>, PersistError> {
        self.join()
    }

    /// Flushes what the journals hold now and stops, or stops at once when `deadline` passes
    /// first (what is left is flushed by the next run).
    pub fn drain(mut self, deadline: Duration) -> Result<Vec<Progress>, PersistError> {
        self.mode.store(DRAIN, Ordering::Release);
        let until = Instant::now() + deadline;
        while !self.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.mode.store(STOP, Ordering::Release);
        self.join()
    }

    /// Stops at once; what is not committed is flushed by the next run.
    pub fn stop(mut self) -> Result<Vec<Progress>, PersistError> {
        self.mode.store(STOP, Ordering::Release);
        self.join()
    }

    fn join(&mut self) -> Result<Vec<Progress>, PersistError> {
        let result = match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(PersistError::Thread("panicked".to_owned()))),
            None => Ok(()),
        };
        result.map(|()| self.progress())
    }
}

impl Drop for Persister {
    fn drop(&mut self) {
        self.mode.store(STOP, Ordering::Release);
        let _ = self.join();
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Runs every shard's writer on one current-thread runtime until all have ended.
fn run_all(tasks: Vec<ShardTask>) -> Result<(), PersistError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PersistError::Thread(e.to_string()))?;
    runtime.block_on(async move {
        let mut set = tokio::task::JoinSet::new();
        for task in tasks {
            set.spawn(task.run());
        }
        let mut first_error = None;
        while let Some(joined) = set.join_next().await {
            let result = joined.unwrap_or_else(|e| Err(PersistError::Thread(e.to_string())));
            if let Err(error) = result {
                // A crash stops everything, as a process crash would.
                if let PersistError::Crashed { .. } = error {
                    set.abort_all();
                }
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    })
}

/// A batch of records on its way from a reader to its writer.
#[derive(Debug, Default)]
struct Batch {
    first_seq: u64,
    last_seq: u64,
    records: u64,
    rows: Rows,
}

enum Message {
    Batch(Box<Batch>),
    /// The journal's end was reached and everything before it was sent.
    End,
}

/// How a writer's session with Postgres ended.
enum SessionEnd {
    /// The journal was flushed to its end, or the flush was stopped.
    Done,
    /// A failure to retry after a pause.
    Retry(String),
    /// A failure that retrying cannot mend.
    Fatal(PersistError),
}

/// How a batch's transaction ended.
enum Written {
    Committed(u64),
    CheckpointMoved,
    Crashed(SessionEnd),
}

struct ShardTask {
    config: Arc<PersistConfig>,
    source: Source,
    state: Arc<ShardState>,
    mode: Arc<AtomicU8>,
    faults: Option<Faults>,
}

impl ShardTask {
    fn stopping(&self) -> bool {
        self.mode.load(Ordering::Acquire) == STOP
    }

    async fn run(self) -> Result<(), PersistError> {
        let result = self.run_sessions().await;
        self.state.connected.store(false, Ordering::Relaxed);
        self.state.finished.store(true, Ordering::Release);
        result
    }

    async fn run_sessions(&self) -> Result<(), PersistError> {
        let min = Duration::from_millis(self.config.retry_min_ms);
        let max = Duration::from_millis(self.config.retry_max_ms);
        let mut pause = min;
        let mut batch_number = 0;
        loop {
            if self.stopping() {
                return Ok(());
            }
            let committed_before = self.state.batches.load(Ordering::Relaxed);
            match self.session(&mut batch_number).await {
                SessionEnd::Done => return Ok(()),
                SessionEnd::Fatal(error) => {
                    tracing::error!(shard = self.source.shard, %error, "persist stopped");
                    *self.state.last_error.lock() = Some(error.to_string());
                    return Err(error);
                }
                SessionEnd::Retry(error) => {
                    self.state.connected.store(false, Ordering::Relaxed);
                    self.state.retries.fetch_add(1, Ordering::Relaxed);
                    if self.state.batches.load(Ordering::Relaxed) > committed_before {
                        pause = min;
                    }
                    tracing::warn!(
                        shard = self.source.shard,
                        %error,
                        retry_in_ms = pause.as_millis() as u64,
                        "persist: Postgres failed; retrying"
                    );
                    *self.state.last_error.lock() = Some(error);
                    let until = Instant::now() + pause;
                    while Instant::now() < until && !self.stopping() {
                        tokio::time::sleep(Duration::from_millis(10).min(pause)).await;
                    }
                    pause = (pause * 2).min(max);
                }
            }
        }
    }

    /// One connection: read the checkpoint, start a reader after it, commit its batches.
    async fn session(&self, batch_number: &mut u64) -> SessionEnd {
        let config = &self.config;
        let connect = tokio_postgres::connect(&config.postgres, NoTls);
        let timeout = Duration::from_millis(config.connect_timeout_ms);
        let (mut client, connection) = match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(error)) => return SessionEnd::Retry(format!("connect: {}", describe(&error))),
            Err(_) => return SessionEnd::Retry(format!("connect: no answer in {timeout:?}")),
        };
        let connection = tokio::spawn(connection);
        let end = self.with_client(&mut client, batch_number).await;
        drop(client);
        connection.abort();
        end
    }

    async fn with_client(&self, client: &mut Client, batch_number: &mut u64) -> SessionEnd {
        let config = &self.config;
        let shard = self.source.shard;
        let timeout = Duration::from_millis(config.write_timeout_ms);
        let start = async {
            // A transaction stranded on a connection that went silent (its COMMIT lost on
            // the way) holds the checkpoint row's lock; the server drops it after this long,
            // so that the next session is not blocked behind it.
            client
                .batch_execute(&format!(
                    "SET idle_in_transaction_session_timeout = {}",
                    config.write_timeout_ms
                ))
                .await?;
            schema::migrate(client, &config.schema).await?;
            let schema = &config.schema;
            client
                .execute(
                    &format!(
                        "INSERT INTO {schema}.checkpoints (shard, seq) VALUES ($1, 0) \
                         ON CONFLICT (shard) DO NOTHING"
                    ),
                    &[&(shard as i16)],
                )
                .await?;
            let row = client
                .query_one(
                    &format!("SELECT seq FROM {schema}.checkpoints WHERE shard = $1"),
                    &[&(shard as i16)],
                )
                .await?;
            Ok::<i64, SchemaError>(row.get(0))
        };
        let checkpoint = match tokio::time::timeout(timeout, start).await {
            Ok(Ok(seq)) => seq as u64,
            Ok(Err(SchemaError::Postgres(error))) => {
                return SessionEnd::Retry(format!("reading the checkpoint: {}", describe(&error)));
            }
            Ok(Err(error)) => return SessionEnd::Fatal(error.into()),
            Err(_) => return SessionEnd::Retry(format!("no answer in {timeout:?}")),
        };
        self.state.connected.store(true, Ordering::Relaxed);
        self.publish_committed(checkpoint);

        let (sender, mut receiver) = mpsc::channel(2);
        let reader = {
            let (config, source) = (self.config.clone(), self.source.clone());
            let (state, mode) = (self.state.clone(), self.mode.clone());
            state.pending.lock().clear();
            std::thread::Builder::new()
                .name(format!("persist-read-{shard}"))
                .spawn(move || read(&config, &source, checkpoint + 1, &state, &mode, &sender))
        };
        let reader = match reader {
            Ok(reader) => reader,
            Err(error) => return SessionEnd::Fatal(PersistError::Thread(error.to_string())),
        };
        let mut committed = checkpoint;
        let end = loop {
            if self.stopping() {
                break SessionEnd::Done;
            }
            let message =
                match tokio::time::timeout(Duration::from_millis(50), receiver.recv()).await {
                    Err(_) => continue,
                    Ok(message) => message,
                };
            match message {
                Some(Message::Batch(batch)) => {
                    *batch_number += 1;
                    match self.write(client, &batch, committed, *batch_number).await {
                        Ok(()) => committed = batch.last_seq,
                        Err(end) => break end,
                    }
                }
                Some(Message::End) => break SessionEnd::Done,
                // The reader ended without an `End`: its result says why.
                None => break SessionEnd::Done,
            }
        };
        // The reader notices the closed channel at its next record, send or poll.
        drop(receiver);
        match tokio::task::spawn_blocking(move || reader.join()).await {
            Ok(Ok(Ok(()))) => end,
            // A segment released by the shard while the reader listed the directory (it
            // was before the checkpoint, so not needed): look again.
            Ok(Ok(Err(PersistError::Journal {
                error: JournalError::Io { source, .. },
                ..
            }))) if source.kind() == std::io::ErrorKind::NotFound => {
                SessionEnd::Retry(format!("the journal changed while it was opened: {source}"))
            }
            Ok(Ok(Err(error))) => SessionEnd::Fatal(error),
            _ => SessionEnd::Fatal(PersistError::Thread("reader panicked".to_owned())),
        }
    }

    /// Commits one batch with the checkpoint moved from `committed` to its last record.
    async fn write(
        &self,
        client: &mut Client,
        batch: &Batch,
        committed: u64,
        batch_number: u64,
    ) -> Result<(), SessionEnd> {
        let shard = self.source.shard;
        if batch.first_seq != committed + 1 {
            return Err(SessionEnd::Fatal(PersistError::BadRecord {
                shard,
                seq: batch.first_seq,
                detail: format!("expected record {} next", committed + 1),
            }));
        }
        let crash = |point| {
            let fire = self
                .faults
                .as_ref()
                .is_some_and(|f| f(point, shard, batch_number));
            if fire {
                Err(SessionEnd::Fatal(PersistError::Crashed {
                    shard,
                    point,
                    batch: batch_number,
                }))
            } else {
                Ok(())
            }
        };
        let schema = &self.config.schema;
        let timeout = Duration::from_millis(self.config.write_timeout_ms);
        let transaction = async {
            let tx = client.transaction().await?;
            let rows = batch.rows.copy_into(&tx, schema).await?;
            let moved = tx
                .execute(
                    &format!(
                        "UPDATE {schema}.checkpoints SET seq = $2, updated_at = now() \
                         WHERE shard = $1 AND seq = $3"
                    ),
                    &[
                        &(shard as i16),
                        &(batch.last_seq as i64),
                        &(committed as i64),
                    ],
                )
                .await?;
            if moved != 1 {
                // Another flusher moved the checkpoint: drop the transaction and start over
                // from wherever it is now.
                return Ok(Written::CheckpointMoved);
            }
            if let Err(end) = crash(CrashPoint::BeforeCommit) {
                // Stop dead: the server rolls the transaction back when the connection goes.
                return Ok(Written::Crashed(end));
            }
            tx.commit().await?;
            Ok::<_, tokio_postgres::Error>(Written::Committed(rows))
        };
        let rows = match tokio::time::timeout(timeout, transaction).await {
            Ok(Ok(Written::Committed(rows))) => rows,
            Ok(Ok(Written::Crashed(end))) => return Err(end),
            Ok(Ok(Written::CheckpointMoved)) => {
                return Err(SessionEnd::Retry(format!(
                    "the checkpoint is no longer at {committed}: another flush is writing \
                     shard {shard}"
                )));
            }
            Ok(Err(error)) => {
                return Err(SessionEnd::Retry(format!(
                    "writing a batch: {}",
                    describe(&error)
                )));
            }
            Err(_) => {
                return Err(SessionEnd::Retry(format!(
                    "writing a batch took longer than {timeout:?}"
                )));
            }
        };
        self.state.batches.fetch_add(1, Ordering::Relaxed);
        self.state
            .records
            .fetch_add(batch.records, Ordering::Relaxed);
        self.state.rows.fetch_add(rows, Ordering::Relaxed);
        self.publish_committed(batch.last_seq);
        crash(CrashPoint::AfterCommit)
    }

    fn publish_committed(&self, seq: u64) {
        self.state.committed_seq.store(seq, Ordering::Release);
        self.state.pending.lock().retain(|&(first, _)| first > seq);
        if let Some(checkpoint) = &self.source.checkpoint {
            checkpoint.store(seq, Ordering::Release);
        }
    }
}

/// The reader: records from `from_seq` on, as batches, until the journal ends (not following),
/// the flush drains or stops, or the writer hangs up.
fn read(
    config: &PersistConfig,
    source: &Source,
    from_seq: u64,
    state: &ShardState,
    mode: &AtomicU8,
    sender: &mpsc::Sender<Message>,
) -> Result<(), PersistError> {
    let shard = source.shard;
    let journal = |error| PersistError::Journal { shard, error };
    let mut batcher = Batcher {
        config,
        shard,
        state,
        batch: Batch::default(),
        started: Instant::now(),
        events: Vec::with_capacity(256),
    };
    if !source.follow {
        let reader = Reader::open(&source.dir).map_err(journal)?;
        for record in reader.iter_from(from_seq) {
            if mode.load(Ordering::Acquire) == STOP {
                return Ok(());
            }
            if !batcher.add(record.map_err(journal)?, sender)? {
                return Ok(());
            }
        }
        batcher.finish(sender);
        return Ok(());
    }
    let mut tailer = Tailer::open(&source.dir, from_seq).map_err(journal)?;
    let poll = Duration::from_millis(config.poll_ms);
    let linger = Duration::from_millis(config.linger_ms);
    loop {
        match mode.load(Ordering::Acquire) {
            STOP => return Ok(()),
            _ if sender.is_closed() => return Ok(()),
            _ => {}
        }
        match tailer.next().map_err(journal)? {
            Some(record) => {
                if !batcher.add(record, sender)? {
                    return Ok(());
                }
            }
            None if mode.load(Ordering::Acquire) == DRAIN => {
                batcher.finish(sender);
                return Ok(());
            }
            None => {
                if batcher.batch.records > 0
                    && batcher.started.elapsed() >= linger
                    && !batcher.send(sender)
                {
                    return Ok(());
                }
                std::thread::sleep(poll);
            }
        }
    }
}

struct Batcher<'a> {
    config: &'a PersistConfig,
    shard: u16,
    state: &'a ShardState,
    batch: Batch,
    started: Instant,
    events: Vec<Event>,
}

impl Batcher<'_> {
    /// Adds a record; sends the batch when full. `false` when the writer has hung up.
    fn add(
        &mut self,
        record: RecordRef<'_>,
        sender: &mpsc::Sender<Message>,
    ) -> Result<bool, PersistError> {
        let batch = &mut self.batch;
        if batch.records == 0 {
            batch.first_seq = record.seq;
            self.started = Instant::now();
            self.state
                .pending
                .lock()
                .push_back((record.seq, record.ts_ns));
        }
        if record.kind == RECORD_INPUT {
            let input = record::decode_into(record.payload, &mut self.events).map_err(|e| {
                PersistError::BadRecord {
                    shard: self.shard,
                    seq: record.seq,
                    detail: e.to_string(),
                }
            })?;
            let options = self.config.rows();
            batch
                .rows
                .push_record(self.shard, record.seq, &input, &self.events, options);
        }
        batch.last_seq = record.seq;
        batch.records += 1;
        self.state.read_seq.store(record.seq, Ordering::Release);
        let full = batch.records >= self.config.batch_records as u64
            || batch.rows.len() >= self.config.batch_rows;
        Ok(!full || self.send(sender))
    }

    /// Sends the batch; `false` when the writer has hung up.
    fn send(&mut self, sender: &mpsc::Sender<Message>) -> bool {
        let batch = std::mem::take(&mut self.batch);
        sender
            .blocking_send(Message::Batch(Box::new(batch)))
            .is_ok()
    }

    /// Sends what is left, then the end.
    fn finish(&mut self, sender: &mpsc::Sender<Message>) {
        if self.batch.records > 0 && !self.send(sender) {
            return;
        }
        let _ = sender.blocking_send(Message::End);
    }
}
