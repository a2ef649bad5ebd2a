//! What the persist tests share: the Postgres server, a throwaway schema per test, and
//! journals written from the engine's random streams.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use oddsmatch_engine::shard::Recorder;
use oddsmatch_engine::testkit::StreamGen;
use oddsmatch_engine::{Engine, EngineConfig, Event, Input};
use oddsmatch_journal::JournalConfig;
use tokio_postgres::{Client, NoTls};

/// The server the tests use: 127.0.0.1:5432, user `postgres`, database `test`, or
/// `ODDSMATCH_TEST_POSTGRES`.
pub fn url() -> String {
    std::env::var("ODDSMATCH_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned())
}

/// The error a test shows when the server is not there.
pub fn unreachable(url: &str, error: impl std::fmt::Display) -> String {
    format!(
        "cannot reach Postgres at `{url}`: {error}. Start it with `pg_ctlcluster \
         --skip-systemctl-redirect $(ls /etc/postgresql) main start` (`.ci/run` does), or point \
         ODDSMATCH_TEST_POSTGRES at a server"
    )
}

pub async fn connect() -> Client {
    let url = url();
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .unwrap_or_else(|error| panic!("{}", unreachable(&url, error)));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A schema name no other test or run uses.
pub fn unique_schema(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("oddsmatch_test_{test}_{}_{nanos}", std::process::id())
}

pub fn run<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Drops a test's schema when the test ends, passed or failed.
pub struct SchemaGuard(pub String);

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let schema = self.0.clone();
        let _ = std::thread::spawn(move || {
            run(async move {
                connect()
                    .await
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .await
            })
        })
        .join();
    }
}

/// A scratch directory for one test, emptied first and removed when the test drops it (its
/// journals preallocate their segments).
pub fn scratch(test: &str) -> Scratch {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("persist-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// A directory removed on drop; it reads as its path.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes the random stream `seed` of `count` commands (setup and finale included) into a
/// new journal at `dir`; returns the engine after it, and the inputs with their events.
pub fn write_journal(
    dir: &Path,
    seed: u64,
    count: usize,
    segment_bytes: Option<u64>,
) -> (Engine, Vec<(Input, Vec<Event>)>) {
    let inputs = StreamGen::stream(seed, count);
    write_inputs(dir, &inputs, segment_bytes)
}

/// The random stream `seed` without its finale: markets stay open, orders rest, exposures
/// are held.
pub fn open_stream(seed: u64, count: usize) -> Vec<Input> {
    let mut generator = StreamGen::new(seed, 1_700_000_000_000_000_000);
    let mut inputs = generator.setup();
    inputs.extend(generator.commands(count));
    inputs
}

/// Writes `inputs` into a new journal at `dir`, like [`write_journal`].
pub fn write_inputs(
    dir: &Path,
    inputs: &[Input],
    segment_bytes: Option<u64>,
) -> (Engine, Vec<(Input, Vec<Event>)>) {
    let mut engine: Engine = Engine::new(EngineConfig::default());
    let mut config = JournalConfig::new(dir);
    if let Some(bytes) = segment_bytes {
        config.segment_bytes = bytes;
    }
    let mut recorder = Recorder::create(config, &engine).unwrap();
    let mut applied = Vec::new();
    for input in inputs.iter().cloned() {
        let mut events = Vec::new();
        let seq = engine.apply(&input, &mut events);
        recorder.record(seq, &input, &events).unwrap();
        recorder.commit().unwrap();
        applied.push((input, events));
    }
    recorder.finish().unwrap();
    (engine, applied)
}
