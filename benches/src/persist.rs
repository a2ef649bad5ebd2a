//! The persist benchmark: the flush of a journal to Postgres against a bare binary COPY of
//! the same rows, and how far the flush lags behind a live shard at a fixed event rate
//! (`oddsmatch bench persist`).
//!
//! Two parts, against one Postgres server:
//!
//! 1. **throughput**: a journal of `records` records written from the engine's random stream
//!    ([`StreamGen`]: setup, trading, settlement) by an engine and a
//!    [`oddsmatch_engine::shard::Recorder`]. While it is written, the same records become
//!    rows in memory ([`Rows::push_record`]), cut into the batches the flush makes (at most
//!    `batch_records` records or `batch_rows` rows each). Each run then measures, in
//!    alternating order, each into a fresh schema migrated beforehand:
//!    - **bare COPY** (the reference): the prebuilt batches written with
//!      [`Rows::copy_into`] (one binary COPY per table), one transaction per batch and no
//!      checkpoint, timed from the first `BEGIN` to the last `COMMIT`;
//!    - **flush**: a [`Persister`] with [`Source::to_end`] on the journal, timed from
//!      [`Persister::start`] to [`Persister::wait`] returning (its connection, schema check
//!      and checkpoint read included; the journal is in the page cache);
//!
//!    and, without Postgres, the **decode** alone: the journal read, each record decoded and
//!    turned into rows in the flush's batches, which is the flush's reader thread's work.
//!    A `CHECKPOINT` before each Postgres part keeps one part's dirty pages out of the
//!    other's time. Rows per second and journal events per second for each; the figure is
//!    the median of the runs, the ratio the median of the runs' flush/COPY ratios.
//! 2. **lag at load**: a live shard ([`ShardHandle`]) on a fresh journal whose
//!    `reader_checkpoints` hold the flush's checkpoint, a [`Persister`] following it
//!    ([`Source::follow`]) with the default settings, and the random stream's commands
//!    submitted open loop so that the journal grows by `rate` events per second for
//!    `duration`. Events per command vary (a cancel of an unknown order is one event, a mass
//!    quote that trades a dozen), so the pacing counts events from the shard's
//!    acknowledgements (timer inputs included: they are journal records too) and submits a
//!    command whenever the events acknowledged plus those expected of the commands in flight
//!    fall behind `rate` times the time elapsed. [`Persister::progress`] is sampled every
//!    10 ms: its lag (the age, by journal timestamp, of the oldest record read and not
//!    committed), records read and not committed, and records in the journal not committed.
//!    When the load stops, the time until everything journaled is committed is the drain.
//!
//! Every schema the run makes is dropped at its end, whatever happened. Benchmarks are never
//! assertions: nothing here fails because something was slow.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime};

use oddsmatch_engine::record::{self, RECORD_INPUT};
use oddsmatch_engine::shard::{Batch, Recorder, ShardConfig, ShardHandle, SubmitError, TAG_TIMER};
use oddsmatch_engine::testkit::StreamGen;
use oddsmatch_engine::{Command, Engine, EngineConfig, Event, Input};
use oddsmatch_journal::{JournalConfig, Reader};
use oddsmatch_persist::rows::{RowOptions, Rows};
use oddsmatch_persist::{PersistConfig, Persister, Progress, Source, schema};
use serde::Serialize;
use tempfile::TempDir;
use tokio_postgres::{Client, NoTls};

use crate::report::{aligned, format_rate};

/// The goal for the flush, in multiples of the bare COPY's rows per second.
pub const GOAL_RATIO_TO_COPY: f64 = 0.8;
/// The goal for the flush's lag behind a live shard, in seconds.
pub const GOAL_LAG_SECONDS: f64 = 1.0;
/// The server the benchmark uses unless told otherwise (the one the persist tests use).
pub const DEFAULT_POSTGRES: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";
/// The highest event rate accepted, per second.
pub const MAX_RATE: u64 = 10_000_000;
/// The fewest journal records accepted (the stream's setup and settlement take 82).
pub const MIN_RECORDS: usize = 1_000;

/// How often the lag is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);
/// How long the load thread sleeps between rounds of submissions.
const PACE_SLEEP: Duration = Duration::from_micros(200);
/// Records the journal writer commits at a time.
const COMMIT_EVERY: usize = 256;
/// Inputs of the stream's settlement ([`StreamGen::finale`]).
const FINALE_INPUTS: usize = 10;
/// The longest wait for a shard's acknowledgement, for the flush to catch up, or to connect.
const WAIT: Duration = Duration::from_secs(60);
/// Commands generated at a time for the load.
const GENERATE_CHUNK: usize = 10_000;
/// The load's estimate of events per command holds until this many commands are answered.
const PRIOR_COMMANDS: u64 = 200;

/// What [`run_persist_bench`] runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistBenchOptions {
    /// The Postgres connection string (`host=... user=... dbname=...` or a URL). The run
    /// makes its own schemas there and drops them at its end.
    pub postgres: String,
    /// Records of the throughput part's journal.
    pub records: usize,
    /// Throughput runs; the medians are reported.
    pub runs: u32,
    /// Journal events per second of the lag part's load.
    pub rate: u64,
    /// How long the load runs.
    pub duration: Duration,
    /// Seed of the random streams.
    pub seed: u64,
    /// The most journal records in one transaction (the flush's `batch_records`, and the
    /// bare COPY's batches).
    pub batch_records: usize,
    /// Where the journals go.
    pub dir: PathBuf,
}

impl Default for PersistBenchOptions {
    fn default() -> Self {
        PersistBenchOptions {
            postgres: DEFAULT_POSTGRES.to_owned(),
            records: 200_000,
            runs: 3,
            rate: 100_000,
            duration: Duration::from_secs(10),
            seed: 42,
            batch_records: PersistConfig::default().batch_records,
            dir: std::env::temp_dir(),
        }
    }
}

impl PersistBenchOptions {
    /// Checks the options; the benchmark refuses to start on any of these.
    pub fn validate(&self) -> Result<(), String> {
        if self.postgres.trim().is_empty() {
            return Err("the Postgres connection string is empty".into());
        }
        if self.records < MIN_RECORDS {
            return Err(format!("records must be at least {MIN_RECORDS}"));
        }
        if self.runs == 0 {
            return Err("at least one run".into());
        }
        if !(1..=MAX_RATE).contains(&self.rate) {
            return Err(format!("rate must be 1 to {MAX_RATE} events per second"));
        }
        if self.duration < Duration::from_millis(100) {
            return Err("duration must be at least 100 ms".into());
        }
        if self.batch_records == 0 {
            return Err("batch_records must be at least 1".into());
        }
        Ok(())
    }

    /// The flush's settings for `schema`.
    fn config(&self, schema: &str) -> PersistConfig {
        PersistConfig {
            schema: schema.to_owned(),
            batch_records: self.batch_records,
            ..PersistConfig::new(self.postgres.clone())
        }
    }
}

/// One way of writing the throughput part's journal.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WriteResult {
    /// Seconds from start to end: the median of the runs.
    pub seconds: f64,
    /// Every run's.
    pub seconds_runs: Vec<f64>,
    /// Rows written per second (at the median time).
    pub rows_per_second: f64,
    /// Journal events per second.
    pub events_per_second: f64,
    /// Journal records per second.
    pub records_per_second: f64,
}

/// Rows of one table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableRows {
    /// The table.
    pub table: &'static str,
    /// Its rows.
    pub rows: usize,
}

/// The throughput part.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThroughputResult {
    /// Records in the journal.
    pub records: u64,
    /// Events in them.
    pub events: u64,
    /// Rows they make (market data and `balance` answers are not written, odds ticks are
    /// sampled).
    pub rows: u64,
    /// Rows per table.
    pub rows_by_table: Vec<TableRows>,
    /// Batches (transactions) of the bare COPY, the same cut as the flush's.
    pub batches: usize,
    /// Seconds the journal took to write (engine, encoding, journal, and the rows in memory).
    pub write_seconds: f64,
    /// The bare COPY of prebuilt rows.
    pub copy: WriteResult,
    /// The flush.
    pub flush: WriteResult,
    /// The journal decoded into rows, without Postgres.
    pub decode: WriteResult,
    /// The flush's rows per second over the bare COPY's: the median of the runs' ratios.
    pub ratio_to_copy: f64,
    /// Every run's ratio.
    pub ratio_to_copy_runs: Vec<f64>,
    /// Whether each run measured the bare COPY first.
    pub copy_first_runs: Vec<bool>,
}

/// The lag part.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LagResult {
    /// Journal events per second asked for.
    pub rate_per_second: u64,
    /// How long the load ran.
    pub load_seconds: f64,
    /// Commands submitted.
    pub commands: u64,
    /// Journal records they and the shard's timers made.
    pub records: u64,
    /// Events in those records.
    pub events: u64,
    /// Events per second achieved.
    pub events_per_second: f64,
    /// Commands per second submitted.
    pub commands_per_second: f64,
    /// Submissions the shard answered busy (retried at the next round).
    pub busy: u64,
    /// Rows the flush committed of the load's records.
    pub rows: u64,
    /// Batches it committed, the setup's included.
    pub batches: u64,
    /// Samples of the flush's progress during the load.
    pub samples: usize,
    /// The flush's lag (age of the oldest record read and not committed): median sample.
    pub lag_p50_seconds: f64,
    /// 99th percentile sample.
    pub lag_p99_seconds: f64,
    /// Largest sample.
    pub lag_max_seconds: f64,
    /// The most records read and not committed in a sample.
    pub lag_records_max: u64,
    /// The most records in the journal and not committed in a sample (read or not).
    pub behind_journal_max: u64,
    /// From the end of the load until everything journaled was committed.
    pub drain_seconds: f64,
    /// Whether it was (within 60 s).
    pub drained: bool,
    /// Failures the flush retried.
    pub retries: u64,
}

/// Everything `oddsmatch bench persist` measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PersistBenchReport {
    /// Processors this process may run on (shard, flush threads, load and Postgres share
    /// them when the server is local).
    pub cores: usize,
    /// `SELECT version()`.
    pub postgres_version: String,
    /// The server's `synchronous_commit`.
    pub synchronous_commit: String,
    /// The most journal records in one transaction.
    pub batch_records: usize,
    /// The most rows in one transaction.
    pub batch_rows: usize,
    /// Odds ticks written: one in this many, and every status tick.
    pub odds_tick_every: u64,
    /// The stream's seed.
    pub seed: u64,
    /// Throughput runs.
    pub runs: u32,
    /// The throughput part.
    pub throughput: ThroughputResult,
    /// The lag part.
    pub lag: LagResult,
    /// Goal: the flush at least this fraction of the bare COPY's rows per second.
    pub goal_ratio_to_copy: f64,
    /// Goal: the flush's lag at most this many seconds.
    pub goal_lag_seconds: f64,
    /// Things that make a figure less clean than it should be.
    pub notes: Vec<String>,
    /// Runs that did not do the expected work (rows or records missing); expected: none.
    pub mismatches: Vec<String>,
}

/// A connection for the benchmark's own statements, on its own runtime, and the schemas it
/// made (dropped when it is dropped).
struct Db {
    runtime: tokio::runtime::Runtime,
    client: Client,
    schemas: Vec<String>,
}

impl Db {
    fn connect(postgres: &str) -> Result<Db, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio: {e}"))?;
        let client = runtime.block_on(async {
            let connect = tokio_postgres::connect(postgres, NoTls);
            let (client, connection) = tokio::time::timeout(Duration::from_secs(10), connect)
                .await
                .map_err(|_| "no answer in 10 s".to_owned())?
                .map_err(|e| e.to_string())?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok::<_, String>(client)
        });
        let client = client.map_err(|e| format!("cannot reach Postgres at `{postgres}`: {e}"))?;
        Ok(Db {
            runtime,
            client,
            schemas: Vec::new(),
        })
    }

    fn text(&self, sql: &str) -> Result<String, String> {
        let row = self
            .runtime
            .block_on(self.client.query_one(sql, &[]))
            .map_err(|e| format!("{sql}: {e}"))?;
        Ok(row.get(0))
    }

    /// A new, empty schema with the tables, migrated now so that nobody's time includes it.
    fn fresh_schema(&mut self, what: &str) -> Result<String, String> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("oddsmatch_bench_{what}_{}_{nanos}", std::process::id());
        self.schemas.push(name.clone());
        self.runtime
            .block_on(schema::migrate(&mut self.client, &name))
            .map_err(|e| format!("migrate {name}: {e}"))?;
        Ok(name)
    }

    fn drop_schema(&mut self, name: &str) -> Result<(), String> {
        self.schemas.retain(|s| s != name);
        self.runtime
            .block_on(
                self.client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")),
            )
            .map_err(|e| format!("drop {name}: {e}"))
    }

    /// Writes the server's dirty pages out, so that one measurement does not pay for the
    /// previous one's. `false` if the server refused (not a superuser).
    fn checkpoint(&self) -> bool {
        self.runtime
            .block_on(self.client.batch_execute("CHECKPOINT"))
            .is_ok()
    }

    /// The bare COPY: every batch in a transaction of its own. Returns the time from the
    /// first `BEGIN` to the last `COMMIT` and the rows the server took.
    fn copy(&mut self, schema: &str, batches: &[Rows]) -> Result<(Duration, u64), String> {
        let client = &mut self.client;
        self.runtime
            .block_on(async {
                let start = Instant::now();
                let mut rows = 0;
                for batch in batches {
                    let tx = client.transaction().await?;
                    rows += batch.copy_into(&tx, schema).await?;
                    tx.commit().await?;
                }
                Ok::<_, tokio_postgres::Error>((start.elapsed(), rows))
            })
            .map_err(|e| format!("bare COPY: {e}"))
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        for name in std::mem::take(&mut self.schemas) {
            let _ = self.drop_schema(&name);
        }
    }
}

/// Runs the benchmark, reporting progress lines to `progress` as it goes. Fails on invalid
/// options, on I/O errors and when Postgres cannot be reached.
pub fn run_persist_bench(
    options: &PersistBenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<PersistBenchReport, String> {
    options.validate()?;
    let started = Instant::now();
    let progress = &mut |line: &str| {
        progress(&format!(
            "[{:6.1} s] {line}",
            started.elapsed().as_secs_f64()
        ))
    };
    let mut db = Db::connect(&options.postgres)?;
    let postgres_version = db.text("SELECT version()")?;
    let synchronous_commit = db.text("SHOW synchronous_commit")?;
    progress(&postgres_version);
    let config = options.config("unused");
    let mut notes = Vec::new();
    let mut mismatches = Vec::new();
    let throughput = throughput(options, &mut db, &mut notes, &mut mismatches, progress)?;
    let events_per_record = throughput.events as f64 / throughput.records as f64;
    let lag = lag(
        options,
        &mut db,
        events_per_record,
        &mut notes,
        &mut mismatches,
        progress,
    )?;
    Ok(PersistBenchReport {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        postgres_version,
        synchronous_commit,
        batch_records: config.batch_records,
        batch_rows: config.batch_rows,
        odds_tick_every: config.odds_tick_every,
        seed: options.seed,
        runs: options.runs,
        throughput,
        lag,
        goal_ratio_to_copy: GOAL_RATIO_TO_COPY,
        goal_lag_seconds: GOAL_LAG_SECONDS,
        notes,
        mismatches,
    })
}

/// The throughput part's journal and its rows.
struct Prepared {
    dir: TempDir,
    records: u64,
    events: u64,
    batches: Vec<Rows>,
    rows_by_table: Vec<(&'static str, usize)>,
    write_seconds: f64,
}

impl Prepared {
    fn rows(&self) -> u64 {
        self.batches.iter().map(|b| b.len() as u64).sum()
    }
}

/// Cuts records into batches as the flush's reader does: a batch ends when it holds
/// `batch_records` records or at least `batch_rows` rows.
struct Batcher {
    batch_records: usize,
    batch_rows: usize,
    options: RowOptions,
    current: Rows,
    in_current: usize,
}

impl Batcher {
    fn new(config: &PersistConfig) -> Self {
        Batcher {
            batch_records: config.batch_records,
            batch_rows: config.batch_rows,
            options: RowOptions {
                odds_tick_every: config.odds_tick_every,
            },
            current: Rows::default(),
            in_current: 0,
        }
    }

    /// Adds a record; returns the batch it completed, if any.
    fn add(&mut self, seq: u64, input: &Input, events: &[Event]) -> Option<Rows> {
        self.current
            .push_record(0, seq, input, events, self.options);
        self.in_current += 1;
        let full = self.in_current >= self.batch_records || self.current.len() >= self.batch_rows;
        full.then(|| self.take())
    }

    fn take(&mut self) -> Rows {
        self.in_current = 0;
        std::mem::take(&mut self.current)
    }

    fn finish(mut self) -> Option<Rows> {
        (self.in_current > 0).then(|| self.take())
    }
}

/// Writes the journal of `options.records` records and builds its rows in batches.
fn prepare(options: &PersistBenchOptions) -> Result<Prepared, String> {
    let dir = tempfile::Builder::new()
        .prefix("oddsmatch-bench-persist-")
        .tempdir_in(&options.dir)
        .map_err(|e| {
            format!(
                "cannot create a directory in {}: {e}",
                options.dir.display()
            )
        })?;
    let start = Instant::now();
    let mut generator = StreamGen::new(options.seed, 1_700_000_000_000_000_000);
    let mut inputs = generator.setup();
    let trading = options.records.saturating_sub(inputs.len() + FINALE_INPUTS);
    inputs.extend(generator.commands(trading));
    inputs.extend(generator.finale());
    let mut engine: Engine = Engine::new(EngineConfig::default());
    let journal_error = |e: oddsmatch_journal::JournalError| format!("journal: {e}");
    let mut recorder =
        Recorder::create(JournalConfig::new(dir.path()), &engine).map_err(journal_error)?;
    let mut batcher = Batcher::new(&options.config("unused"));
    let mut batches = Vec::new();
    let mut events = Vec::with_capacity(256);
    let mut event_count = 0;
    for (index, input) in inputs.iter().enumerate() {
        events.clear();
        let seq = engine.apply(input, &mut events);
        recorder
            .record(seq, input, &events)
            .map_err(journal_error)?;
        if index % COMMIT_EVERY == COMMIT_EVERY - 1 {
            recorder.commit().map_err(journal_error)?;
        }
        event_count += events.len() as u64;
        batches.extend(batcher.add(seq, input, &events));
    }
    batches.extend(batcher.finish());
    recorder.commit().map_err(journal_error)?;
    let last_seq = recorder.finish().map_err(journal_error)?;
    if last_seq != inputs.len() as u64 {
        return Err(format!(
            "the journal ends at record {last_seq}, {} were written",
            inputs.len()
        ));
    }
    let mut rows_by_table: Vec<(&'static str, usize)> =
        Rows::TABLES.iter().map(|&table| (table, 0)).collect();
    for batch in &batches {
        for (total, (_, rows)) in rows_by_table.iter_mut().zip(batch.counts()) {
            total.1 += rows;
        }
    }
    Ok(Prepared {
        dir,
        records: last_seq,
        events: event_count,
        batches,
        rows_by_table,
        write_seconds: start.elapsed().as_secs_f64(),
    })
}

/// The flush's reader's work alone: the journal read, decoded and turned into batches of
/// rows. Returns the time and the rows.
fn decode(dir: &Path, config: &PersistConfig) -> Result<(Duration, u64), String> {
    let start = Instant::now();
    let reader = Reader::open(dir).map_err(|e| format!("journal: {e}"))?;
    let mut batcher = Batcher::new(config);
    let mut events = Vec::with_capacity(256);
    let mut rows = 0;
    for record in reader.iter_from(1) {
        let record = record.map_err(|e| format!("journal: {e}"))?;
        if record.kind != RECORD_INPUT {
            continue;
        }
        let input = record::decode_into(record.payload, &mut events)
            .map_err(|e| format!("record {}: {e}", record.seq))?;
        if let Some(batch) = batcher.add(record.seq, &input, &events) {
            rows += batch.len() as u64;
            std::hint::black_box(&batch);
        }
    }
    if let Some(batch) = batcher.finish() {
        rows += batch.len() as u64;
    }
    Ok((start.elapsed(), rows))
}

/// One flush of the journal to its end into `schema`. Returns the time from start to the
/// end of `wait` and the flush's progress.
fn flush(config: PersistConfig, dir: &Path) -> Result<(Duration, Progress), String> {
    let start = Instant::now();
    let persister =
        Persister::start(config, vec![Source::to_end(0, dir)]).map_err(|e| e.to_string())?;
    let progress = persister.wait().map_err(|e| format!("flush: {e}"))?;
    let elapsed = start.elapsed();
    let progress = progress
        .into_iter()
        .next()
        .ok_or("flush: no progress for shard 0")?;
    Ok((elapsed, progress))
}

fn write_result(seconds_runs: Vec<f64>, rows: u64, events: u64, records: u64) -> WriteResult {
    let seconds = median(&seconds_runs);
    WriteResult {
        seconds,
        seconds_runs,
        rows_per_second: rows as f64 / seconds,
        events_per_second: events as f64 / seconds,
        records_per_second: records as f64 / seconds,
    }
}

fn throughput(
    options: &PersistBenchOptions,
    db: &mut Db,
    notes: &mut Vec<String>,
    mismatches: &mut Vec<String>,
    progress: &mut dyn FnMut(&str),
) -> Result<ThroughputResult, String> {
    progress(&format!(
        "throughput: writing a journal of {} records from the random stream",
        options.records
    ));
    let prepared = prepare(options)?;
    let (records, events, rows) = (prepared.records, prepared.events, prepared.rows());
    progress(&format!(
        "throughput: {records} records, {events} events, {rows} rows in {} batches ({:.1} s)",
        prepared.batches.len(),
        prepared.write_seconds
    ));
    let rate = |elapsed: Duration| format_rate(rows as f64 / elapsed.as_secs_f64());
    let mut copy_seconds = Vec::new();
    let mut flush_seconds = Vec::new();
    let mut decode_seconds = Vec::new();
    let mut ratios = Vec::new();
    let mut copy_first_runs = Vec::new();
    let mut checkpoint_refused = false;
    let runs = options.runs;
    for run in 1..=runs {
        let copy_first = run % 2 == 1;
        copy_first_runs.push(copy_first);
        let mut copy_time = Duration::ZERO;
        let mut flush_time = Duration::ZERO;
        for part in [copy_first, !copy_first] {
            checkpoint_refused |= !db.checkpoint();
            if part {
                let schema = db.fresh_schema("copy")?;
                let (elapsed, written) = db.copy(&schema, &prepared.batches)?;
                db.drop_schema(&schema)?;
                if written != rows {
                    mismatches.push(format!(
                        "run {run}: the bare COPY wrote {written} rows, not {rows}"
                    ));
                }
                progress(&format!(
                    "throughput run {run}/{runs}: bare COPY {:.2} s, {} rows/s",
                    elapsed.as_secs_f64(),
                    rate(elapsed)
                ));
                copy_time = elapsed;
            } else {
                let schema = db.fresh_schema("flush")?;
                let (elapsed, done) = flush(options.config(&schema), prepared.dir.path())?;
                db.drop_schema(&schema)?;
                if done.records != records || done.rows != rows || done.committed_seq != records {
                    mismatches.push(format!(
                        "run {run}: the flush committed {} records and {} rows up to record \
                         {}, the journal has {records} records and {rows} rows",
                        done.records, done.rows, done.committed_seq
                    ));
                }
                if done.retries != 0 {
                    notes.push(format!(
                        "run {run}: the flush retried {} times (last: {})",
                        done.retries,
                        done.last_error.as_deref().unwrap_or("?")
                    ));
                }
                progress(&format!(
                    "throughput run {run}/{runs}: flush {:.2} s, {} rows/s, {} batches",
                    elapsed.as_secs_f64(),
                    rate(elapsed),
                    done.batches
                ));
                flush_time = elapsed;
            }
        }
        let (elapsed, decoded) = decode(prepared.dir.path(), &options.config("unused"))?;
        if decoded != rows {
            mismatches.push(format!(
                "run {run}: decoding the journal made {decoded} rows, not {rows}"
            ));
        }
        progress(&format!(
            "throughput run {run}/{runs}: decode only {:.2} s, {} rows/s",
            elapsed.as_secs_f64(),
            rate(elapsed)
        ));
        copy_seconds.push(copy_time.as_secs_f64());
        flush_seconds.push(flush_time.as_secs_f64());
        decode_seconds.push(elapsed.as_secs_f64());
        ratios.push(copy_time.as_secs_f64() / flush_time.as_secs_f64());
    }
    if checkpoint_refused {
        notes.push("the server refused CHECKPOINT (not a superuser): one part's dirty pages may be written during another's time".into());
    }
    Ok(ThroughputResult {
        records,
        events,
        rows,
        rows_by_table: prepared
            .rows_by_table
            .iter()
            .map(|&(table, rows)| TableRows { table, rows })
            .collect(),
        batches: prepared.batches.len(),
        write_seconds: prepared.write_seconds,
        copy: write_result(copy_seconds, rows, events, records),
        flush: write_result(flush_seconds, rows, events, records),
        decode: write_result(decode_seconds, rows, events, records),
        ratio_to_copy: median(&ratios),
        ratio_to_copy_runs: ratios,
        copy_first_runs,
    })
}

/// What the shard has acknowledged.
#[derive(Debug, Default)]
struct Acks {
    /// Submitted commands answered.
    answered: u64,
    /// Records acknowledged (commands and timers).
    records: u64,
    /// Their events.
    events: u64,
}

impl Acks {
    fn take(&mut self, batch: &Batch) {
        for (outcome, events) in batch.iter() {
            self.answered += u64::from(outcome.tag != TAG_TIMER);
            self.records += 1;
            self.events += events.len() as u64;
        }
    }

    /// Takes every acknowledgement waiting and throws the market data away (nobody reads it
    /// here; the shard would drop and count it otherwise).
    fn drain(&mut self, handle: &ShardHandle) {
        while let Ok(batch) = handle.acks().try_recv() {
            self.take(&batch);
        }
        while handle.market_data().try_recv().is_ok() {}
    }

    /// Waits until `count` commands have been answered.
    fn wait_for(&mut self, handle: &ShardHandle, count: u64) -> Result<(), String> {
        loop {
            self.drain(handle);
            if self.answered >= count {
                return Ok(());
            }
            match handle.acks().recv_timeout(WAIT) {
                Ok(batch) => self.take(&batch),
                Err(error) if error.is_timeout() => {
                    return Err(format!(
                        "shard: no answer for {} s after {} of {count}",
                        WAIT.as_secs(),
                        self.answered
                    ));
                }
                Err(_) => return Err("shard: the shard stopped".into()),
            }
        }
    }
}

/// Queues a command, waiting out a full queue (for the setup).
fn submit_waiting(
    handle: &ShardHandle,
    acks: &mut Acks,
    tag: u64,
    command: Command,
) -> Result<(), String> {
    loop {
        match handle.submit(tag, command.clone()) {
            Ok(()) => return Ok(()),
            Err(SubmitError::Busy) => {
                acks.drain(handle);
                std::thread::yield_now();
            }
            Err(SubmitError::Stopped) => return Err("shard: the shard stopped".into()),
        }
    }
}

/// Waits until the flush has committed record `seq`; the time it took, or `None` after
/// [`WAIT`].
fn wait_committed(persister: &Persister, handle: &ShardHandle, seq: u64) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < WAIT {
        // The shard's timers may add records; nobody waits for those.
        while handle.acks().try_recv().is_ok() {}
        if persister.progress()[0].committed_seq >= seq {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

/// The `p`-th percentile of sorted values (nearest rank).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn lag(
    options: &PersistBenchOptions,
    db: &mut Db,
    events_per_record: f64,
    notes: &mut Vec<String>,
    mismatches: &mut Vec<String>,
    progress: &mut dyn FnMut(&str),
) -> Result<LagResult, String> {
    let dir = tempfile::Builder::new()
        .prefix("oddsmatch-bench-persist-live-")
        .tempdir_in(&options.dir)
        .map_err(|e| {
            format!(
                "cannot create a directory in {}: {e}",
                options.dir.display()
            )
        })?;
    let schema = db.fresh_schema("lag")?;
    let result = lag_in(
        options,
        &schema,
        dir.path(),
        events_per_record,
        notes,
        mismatches,
        progress,
    );
    db.drop_schema(&schema)?;
    result
}

fn lag_in(
    options: &PersistBenchOptions,
    schema: &str,
    dir: &Path,
    events_per_record: f64,
    notes: &mut Vec<String>,
    mismatches: &mut Vec<String>,
    progress: &mut dyn FnMut(&str),
) -> Result<LagResult, String> {
    let checkpoint = Arc::new(AtomicU64::new(0));
    let mut shard_config = ShardConfig::new(dir);
    shard_config.reader_checkpoints.push(checkpoint.clone());
    // Only at shutdown: a snapshot in the middle would be the shard's time, not the flush's.
    shard_config.snapshot_every = 0;
    let handle = ShardHandle::start(shard_config).map_err(|e| format!("shard: {e}"))?;
    let now_ns = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut generator = StreamGen::new(options.seed ^ 0x5eed, now_ns);
    let mut acks = Acks::default();
    let setup = generator.setup();
    for (tag, input) in setup.iter().enumerate() {
        submit_waiting(&handle, &mut acks, tag as u64, input.command.clone())?;
    }
    acks.wait_for(&handle, setup.len() as u64)?;

    progress("lag: the shard holds the setup; starting the flush");
    let persister = Persister::start(
        options.config(schema),
        vec![Source::follow(0, dir, checkpoint)],
    )
    .map_err(|e| e.to_string())?;
    if wait_committed(&persister, &handle, handle.watermark().journaled()).is_none() {
        let last = persister.progress()[0].last_error.clone();
        return Err(format!(
            "lag: the flush did not commit the setup in {} s (last error: {})",
            WAIT.as_secs(),
            last.as_deref().unwrap_or("none")
        ));
    }
    let rows_before = persister.progress()[0].rows;

    progress(&format!(
        "lag: {} events/s for {:.1} s",
        options.rate,
        options.duration.as_secs_f64()
    ));
    let mut commands: Vec<Command> = Vec::new();
    let mut next = 0;
    let tag_base = setup.len() as u64;
    let mut acks = Acks::default();
    let mut busy = 0;
    let mut lags = Vec::new();
    let mut lag_records_max = 0;
    let mut behind_journal_max = 0;
    let rate = options.rate as f64;
    let start = Instant::now();
    let mut next_sample = start;
    let load_seconds = loop {
        let now = Instant::now();
        let elapsed = now - start;
        if elapsed >= options.duration {
            break elapsed.as_secs_f64();
        }
        acks.drain(&handle);
        if now >= next_sample {
            let p = &persister.progress()[0];
            lags.push(p.lag.as_secs_f64());
            lag_records_max = lag_records_max.max(p.lag_records);
            let behind = handle
                .watermark()
                .journaled()
                .saturating_sub(p.committed_seq);
            behind_journal_max = behind_journal_max.max(behind);
            // A late round takes one sample, not one for each slot it missed.
            while next_sample <= now {
                next_sample += SAMPLE_EVERY;
            }
        }
        let per_command = if acks.answered < PRIOR_COMMANDS {
            events_per_record
        } else {
            acks.events as f64 / acks.answered as f64
        };
        let due = rate * elapsed.as_secs_f64();
        loop {
            let in_flight = next as u64 - acks.answered;
            if acks.events as f64 + in_flight as f64 * per_command >= due {
                break;
            }
            if next == commands.len() {
                commands.extend(
                    generator
                        .commands(GENERATE_CHUNK)
                        .into_iter()
                        .map(|input| input.command),
                );
            }
            match handle.submit(tag_base + next as u64, commands[next].clone()) {
                Ok(()) => next += 1,
                Err(SubmitError::Busy) => {
                    busy += 1;
                    break;
                }
                Err(SubmitError::Stopped) => return Err("shard: the shard stopped".into()),
            }
        }
        std::thread::sleep(PACE_SLEEP);
    };
    let load_end = Instant::now();
    let submitted = next as u64;
    acks.wait_for(&handle, submitted)?;
    let last = handle.watermark().journaled();
    let drained = wait_committed(&persister, &handle, last).is_some();
    let drain_seconds = load_end.elapsed().as_secs_f64();
    if !drained {
        notes.push(format!(
            "lag: the flush had not caught up {} s after the load stopped",
            WAIT.as_secs()
        ));
    }
    let done = persister
        .drain(Duration::from_secs(5))
        .map_err(|e| format!("flush: {e}"))?;
    let done = done.into_iter().next().ok_or("flush: no progress")?;
    handle.shutdown().map_err(|e| format!("shard: {e}"))?;
    if done.committed_seq < last {
        mismatches.push(format!(
            "lag: the flush stopped at record {}, the journal holds {last} at least",
            done.committed_seq
        ));
    }
    if done.retries != 0 {
        notes.push(format!(
            "lag: the flush retried {} times (last: {})",
            done.retries,
            done.last_error.as_deref().unwrap_or("?")
        ));
    }
    let samples = lags.len();
    lags.sort_by(f64::total_cmp);
    let result = LagResult {
        rate_per_second: options.rate,
        load_seconds,
        commands: submitted,
        records: acks.records,
        events: acks.events,
        events_per_second: acks.events as f64 / load_seconds,
        commands_per_second: submitted as f64 / load_seconds,
        busy,
        rows: done.rows - rows_before,
        batches: done.batches,
        samples,
        lag_p50_seconds: percentile(&lags, 50.0),
        lag_p99_seconds: percentile(&lags, 99.0),
        lag_max_seconds: lags.last().copied().unwrap_or(0.0),
        lag_records_max,
        behind_journal_max,
        drain_seconds,
        drained,
        retries: done.retries,
    };
    progress(&format!(
        "lag: {} events/s achieved; lag p50 {:.3} s p99 {:.3} s max {:.3} s; drained in {:.3} s",
        format_rate(result.events_per_second),
        result.lag_p50_seconds,
        result.lag_p99_seconds,
        result.lag_max_seconds,
        result.drain_seconds
    ));
    Ok(result)
}

/// The median of some runs (the mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[middle],
        _ => (sorted[middle - 1] + sorted[middle]) / 2.0,
    }
}

impl PersistBenchReport {
    /// The results as aligned text tables.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let t = &self.throughput;
        let _ = writeln!(
            out,
            "persist: journal to Postgres, one shard, {} cores; {}; synchronous_commit {}",
            self.cores, self.postgres_version, self.synchronous_commit
        );
        let _ = writeln!(
            out,
            "batches of at most {} records or {} rows, one transaction each; odds ticks 1 in {}",
            self.batch_records, self.batch_rows, self.odds_tick_every
        );
        let _ = writeln!(
            out,
            "throughput: {} records, {} events, {} rows, median of {} runs (goal: flush >= \
             {:.2}x the bare COPY):",
            t.records, t.events, t.rows, self.runs, self.goal_ratio_to_copy
        );
        let header = ["", "seconds", "rows/s", "events/s", "records/s", "ratio"];
        let row = |name: &str, w: &WriteResult, ratio: String| {
            vec![
                name.to_string(),
                format!("{:.2}", w.seconds),
                format_rate(w.rows_per_second),
                format_rate(w.events_per_second),
                format_rate(w.records_per_second),
                ratio,
            ]
        };
        let rows = vec![
            row("bare COPY, rows prebuilt", &t.copy, "1.00x".into()),
            row(
                "flush (Persister, to_end)",
                &t.flush,
                format!("{:.2}x", t.ratio_to_copy),
            ),
            row("decode only, no Postgres", &t.decode, String::new()),
        ];
        out.push_str(&aligned(&header, &rows, &[0]));
        let l = &self.lag;
        let _ = writeln!(
            out,
            "lag at load: {} events/s asked for {:.1} s, sampled every {} ms (goal: lag <= {} s):",
            l.rate_per_second,
            l.load_seconds,
            SAMPLE_EVERY.as_millis(),
            self.goal_lag_seconds
        );
        let header = [
            "events/s",
            "commands/s",
            "lag p50",
            "lag p99",
            "lag max",
            "records read, max",
            "in journal, max",
            "drain",
        ];
        let rows = vec![vec![
            format!("{:.0}", l.events_per_second),
            format!("{:.0}", l.commands_per_second),
            format!("{:.3} s", l.lag_p50_seconds),
            format!("{:.3} s", l.lag_p99_seconds),
            format!("{:.3} s", l.lag_max_seconds),
            l.lag_records_max.to_string(),
            l.behind_journal_max.to_string(),
            if l.drained {
                format!("{:.3} s", l.drain_seconds)
            } else {
                format!("> {:.0} s", l.drain_seconds)
            },
        ]];
        out.push_str(&aligned(&header, &rows, &[]));
        let _ = writeln!(
            out,
            "  (lag: age of the oldest record read and not committed; records not committed: \
             read by the flush, and in the journal)"
        );
        for note in &self.notes {
            let _ = writeln!(out, "NOTE: {note}");
        }
        for mismatch in &self.mismatches {
            let _ = writeln!(out, "MISMATCH: {mismatch}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        assert_eq!(PersistBenchOptions::default().validate(), Ok(()));
        let bad = [
            PersistBenchOptions {
                postgres: " ".into(),
                ..PersistBenchOptions::default()
            },
            PersistBenchOptions {
                records: MIN_RECORDS - 1,
                ..PersistBenchOptions::default()
            },
            PersistBenchOptions {
                runs: 0,
                ..PersistBenchOptions::default()
            },
            PersistBenchOptions {
                rate: 0,
                ..PersistBenchOptions::default()
            },
            PersistBenchOptions {
                duration: Duration::from_millis(10),
                ..PersistBenchOptions::default()
            },
            PersistBenchOptions {
                batch_records: 0,
                ..PersistBenchOptions::default()
            },
        ];
        for options in bad {
            assert!(options.validate().is_err(), "{options:?}");
        }
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&values, 100.0), 100.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }
}
