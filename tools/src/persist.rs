//! `oddsmatch persist`: load or catch up journals into Postgres, follow live ones, and
//! reconcile Postgres with the journals (`oddsmatch persist check`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use oddsmatch_persist::check::{ShardCheck, check};
use oddsmatch_persist::{PersistConfig, Persister, Progress, Source};

/// Arguments of `oddsmatch persist`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct PersistArgs {
    #[command(subcommand)]
    command: Option<PersistCommand>,
    #[command(flatten)]
    target: Target,
    /// Keep following the journals as they grow until SIGINT or SIGTERM (then flush what
    /// is there and stop).
    #[arg(long)]
    follow: bool,
    /// The most journal records in one transaction.
    #[arg(long, default_value_t = PersistConfig::default().batch_records)]
    batch_records: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum PersistCommand {
    /// Compare Postgres with the journals at the checkpoint: rows per table, accounts,
    /// balances, exposures, matched volume and pools. Exits 1 on any difference.
    Check {
        #[command(flatten)]
        target: Target,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Which journals, which database.
#[derive(Debug, clap::Args)]
struct Target {
    /// A data directory (its `shard-N` journals) or one shard's journal directory.
    #[arg(long, required = true)]
    journal: Option<PathBuf>,
    /// The shard a single journal directory belongs to.
    #[arg(long, default_value_t = 0)]
    shard: u16,
    /// The Postgres connection string (`host=... user=... dbname=...` or a URL).
    #[arg(long, env = "ODDSMATCH_POSTGRES", required = true)]
    postgres: Option<String>,
    /// The Postgres schema holding oddsmatch's tables.
    #[arg(long, default_value = "oddsmatch")]
    schema: String,
    /// Odds ticks kept: every Nth of each market, and every status tick (must match the
    /// flush's setting for `check`).
    #[arg(long, default_value_t = PersistConfig::default().odds_tick_every)]
    odds_tick_every: u64,
}

impl Target {
    fn config(&self) -> PersistConfig {
        PersistConfig {
            schema: self.schema.clone(),
            odds_tick_every: self.odds_tick_every,
            ..PersistConfig::new(self.postgres.clone().unwrap_or_default())
        }
    }

    /// `(shard, journal directory)` for every journal the directory names.
    fn shards(&self) -> Result<Vec<(u16, PathBuf)>, String> {
        let dir = self.journal.clone().unwrap_or_default();
        shard_dirs(&dir, self.shard)
    }
}

/// The shard journals of a data directory (`shard-0`, `shard-1`, ... in order), or `dir`
/// itself as shard `shard` when it has none.
fn shard_dirs(dir: &Path, shard: u16) -> Result<Vec<(u16, PathBuf)>, String> {
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let mut shards = Vec::new();
    while dir.join(format!("shard-{}", shards.len())).is_dir() {
        let n = shards.len() as u16;
        shards.push((n, dir.join(format!("shard-{n}"))));
    }
    if shards.is_empty() {
        shards.push((shard, dir.to_path_buf()));
    }
    Ok(shards)
}

/// Runs `oddsmatch persist`: exit 0 when done, 1 when `check` found differences, 2 on an
/// error.
pub fn main(args: &PersistArgs) -> ExitCode {
    let result = match &args.command {
        Some(PersistCommand::Check { target, json }) => run_check(target, *json),
        None => run_flush(args).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|message| {
        eprintln!("oddsmatch persist: {message}");
        ExitCode::from(2)
    })
}

fn run_flush(args: &PersistArgs) -> Result<(), String> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let mut config = args.target.config();
    config.batch_records = args.batch_records;
    let shards = args.target.shards()?;
    let sources: Vec<Source> = shards
        .iter()
        .map(|(shard, dir)| Source {
            shard: *shard,
            dir: dir.clone(),
            follow: args.follow,
            checkpoint: None,
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|error| format!("cannot handle signal {signal}: {error}"))?;
    }
    let started = Instant::now();
    let persister = Persister::start(config, sources).map_err(|e| e.to_string())?;
    let mut reported = Instant::now();
    while !persister.is_finished() && !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(20));
        if reported.elapsed() >= Duration::from_secs(5) {
            reported = Instant::now();
            for p in persister.progress() {
                tracing::info!(
                    shard = p.shard,
                    committed = p.committed_seq,
                    lag_records = p.lag_records,
                    lag_ms = p.lag.as_millis() as u64,
                    retries = p.retries,
                    "persist progress"
                );
            }
        }
    }
    // On a signal: flush what the journals hold and stop.
    let progress = persister
        .drain(Duration::from_secs(60))
        .map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    if args.json {
        let shards: Vec<_> = progress.iter().map(progress_json).collect();
        let out = serde_json::json!({
            "seconds": elapsed.as_secs_f64(),
            "shards": shards,
        });
        println!("{out}");
    } else {
        for p in &progress {
            println!(
                "shard {}: committed up to record {} ({} records, {} rows, {} batches this run, \
                 {} retries); {:.0} rows/s",
                p.shard,
                p.committed_seq,
                p.records,
                p.rows,
                p.batches,
                p.retries,
                p.rows as f64 / elapsed.as_secs_f64().max(1e-9)
            );
        }
    }
    Ok(())
}

fn progress_json(p: &Progress) -> serde_json::Value {
    serde_json::json!({
        "shard": p.shard,
        "committed_seq": p.committed_seq,
        "records": p.records,
        "rows": p.rows,
        "batches": p.batches,
        "retries": p.retries,
        "last_error": p.last_error,
    })
}

fn run_check(target: &Target, json: bool) -> Result<ExitCode, String> {
    let config = target.config();
    config.validate().map_err(|e| e.to_string())?;
    let shards = target.shards()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let report = runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&config.postgres, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("cannot connect to Postgres ({}): {e}", config.postgres))?;
        tokio::spawn(connection);
        check(&client, &config.schema, &shards, config.rows())
            .await
            .map_err(|e| e.to_string())
    })?;
    let differences: usize = report.iter().map(|s| s.differences.len()).sum();
    if json {
        let shards: Vec<_> = report.iter().map(check_json).collect();
        println!(
            "{}",
            serde_json::json!({ "differences": differences, "shards": shards })
        );
    } else {
        for shard in &report {
            print_check(shard);
        }
        match differences {
            0 => println!("persist check: Postgres agrees with the journal"),
            n => println!("persist check: {n} difference(s)"),
        }
    }
    Ok(if differences == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_check(shard: &ShardCheck) {
    println!(
        "shard {}: checkpoint {} (rows compared from record {}), {} accounts, {} markets",
        shard.shard, shard.checkpoint, shard.first_seq, shard.accounts, shard.markets
    );
    println!("  {:<16} {:>12} {:>12}", "table", "journal", "postgres");
    for (table, journal, postgres) in &shard.rows {
        let mark = if journal == postgres {
            ""
        } else {
            "  <- differs"
        };
        println!("  {table:<16} {journal:>12} {postgres:>12}{mark}");
    }
    for difference in &shard.differences {
        println!("  DIFFERS {difference}");
    }
}

fn check_json(shard: &ShardCheck) -> serde_json::Value {
    let rows: serde_json::Map<String, serde_json::Value> = shard
        .rows
        .iter()
        .map(|(table, journal, postgres)| {
            (
                table.to_string(),
                serde_json::json!({ "journal": journal, "postgres": postgres }),
            )
        })
        .collect();
    let differences: Vec<_> = shard
        .differences
        .iter()
        .map(
            |d| serde_json::json!({ "what": d.what, "journal": d.journal, "postgres": d.postgres }),
        )
        .collect();
    serde_json::json!({
        "shard": shard.shard,
        "checkpoint": shard.checkpoint,
        "first_seq": shard.first_seq,
        "accounts": shard.accounts,
        "markets": shard.markets,
        "rows": rows,
        "differences": differences,
    })
}
