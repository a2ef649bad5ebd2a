//! `oddsmatch demo`: the whole system in one command, on a node started in this process.
//!
//! 1. **The node.** [`Node::start`] with its data in a temporary directory (`--data-dir` keeps
//!    it), order entry and market data (TCP and QUIC) on loopback ports the system picks, the
//!    admin socket in the data directory, the journal on, and the flush to Postgres only with
//!    `--postgres`.
//! 2. **The operator** sets everything up through the admin socket, as a person would: a feed
//!    account (role `feed`), two market makers, the bettors, an API key each
//!    (`rotate_api_key`, whose secret the node draws), their deposits, and two markets:
//!    market 1, a race of two runners as a pari-mutuel pool, and market 2, an exchange on ten
//!    runners. It opens both and schedules the pool to lock shortly before the finish
//!    (`schedule_market` with `end_at`).
//! 3. **The race.** The example telemetry model (`oddsmatch race-model`) runs the race from the
//!    seed; its probabilities go to the pool every 250 ms as `REFERENCE_ODDS` from the feed
//!    account over order entry (the protocol's message for a price feed; the admin socket takes
//!    operator commands only). Meanwhile two market makers mass-quote the exchange around fair
//!    odds that wander from the seed, and the bettors bet on the race and back and lay on the
//!    exchange, each over its own session.
//! 4. **What it shows.** A market-data subscriber follows both markets; on a terminal a view
//!    redrawn in place shows the race, both markets, acknowledgement and tick latencies and
//!    counts; otherwise one line a second. `--quiet` and `--json` print the final summary only.
//! 5. **The finish.** The pool has locked by its schedule; the operator suspends the exchange,
//!    settles the pool on the race's winner and the exchange on a winner drawn from the seed,
//!    and the demo prints every account's payouts, checks that the money adds up, and stops
//!    the node gracefully (or keeps serving with `--serve` until Ctrl-C).
//!
//! The race, its winner and the exchange's winner depend on `--seed` and `--race-secs` only;
//! the bets and trades depend on timing as well, as in any live market.

mod live;
mod traders;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use oddsmatch_engine::{AccountId, Event, MarketId, PostingKind};
use oddsmatch_net::client::Credentials;
use oddsmatch_net::node::{Node, NodeConfig};
use oddsmatch_persist::PersistConfig;
use serde::Serialize;
use serde_json::{Value, json};

use crate::operator::Operator;
use crate::order::{align, parse_secret};
use crate::race_model::{self, RaceModelArgs};
use live::{Clock, Live, Spread, money, ms, spread};
use traders::{FEED_INTERVAL, FairPath, FeedStep, Schedule, Trader};

/// The race: a pool.
const POOL: MarketId = MarketId(1);
/// The exchange.
const EXCHANGE: MarketId = MarketId(2);
/// Runners of the race.
const RACE_RUNNERS: u32 = 2;
/// Runners of the exchange market.
const EXCHANGE_RUNNERS: u32 = 10;
/// The pool's takeout, basis points.
const TAKEOUT_BPS: u16 = race_model::TAKEOUT_BPS;
/// The exchange's commission, basis points.
const COMMISSION_BPS: u16 = 500;
/// The feed account; its key id is the same number.
const FEED: u32 = 100;
/// The market makers.
const MAKERS: [u32; 2] = [201, 202];
/// The first bettor.
const FIRST_BETTOR: u32 = 301;
/// A market maker's deposit, minor units.
const MAKER_DEPOSIT: i64 = 10_000_000;
/// A bettor's deposit, minor units.
const BETTOR_DEPOSIT: i64 = 100_000;
/// The reject the traders may meet at a lock or a suspension: anything else is unexpected.
const EXPECTED_REJECT: &str = "market_not_open";

const AFTER_HELP: &str = "\
What it does:
  starts a node in this process (journal on; Postgres only with --postgres), sets up accounts
  and two markets through the admin socket, runs a race of two runners as a pool priced by
  the example race model's feed, and an exchange on ten runners quoted by two market makers,
  with simulated bettors on both; shows live odds, latencies and counts while the race runs;
  then locks, settles, prints every account's payouts and stops (or keeps serving with
  --serve until Ctrl-C). The race and both winners depend on --seed and --race-secs only.

Output:
  on a terminal, a view redrawn in place; otherwise one progress line a second and a line per
  event; --quiet prints the final summary only; --json prints it as one JSON object.

Exit status:
  0    the demo ran and the money adds up (pool, exchange, every balance)
  1    it ran and a check failed, or the node or a trader failed
  2    usage error (a bad option, a --data-dir that is not empty, an unusable --postgres)
  130  interrupted by Ctrl-C or SIGTERM before the settlement";

/// Arguments of `oddsmatch demo`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct DemoArgs {
    /// Seed of the race, the exchange's fair odds and the simulated traders.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How long the race runs, in seconds (4 to 3600). The pool locks shortly before the
    /// finish.
    #[arg(long, default_value_t = 20, value_name = "S",
          value_parser = clap::value_parser!(u64).range(4..=3_600))]
    pub race_secs: u64,
    /// How many simulated bettors (1 to 64).
    #[arg(long, default_value_t = 8, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub bettors: u32,
    /// After the settlement, keep the node running (addresses and admin socket printed)
    /// until Ctrl-C.
    #[arg(long)]
    pub serve: bool,
    /// Also flush everything to this Postgres server as it happens (a connection string or
    /// URL).
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// The Postgres schema for the flush (default `oddsmatch_demo`); it must not hold an
    /// earlier node's journal.
    #[arg(long, value_name = "NAME")]
    pub postgres_schema: Option<String>,
    /// Keep the node's data (journal, snapshots) in this directory, which must be empty or
    /// absent, instead of a temporary one removed at exit.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print only the final summary, as one JSON object.
    #[arg(long, conflicts_with = "quiet")]
    pub json: bool,
    /// Print only the final summary.
    #[arg(long)]
    pub quiet: bool,
    /// Log filter for the node's logs on standard error, as in RUST_LOG.
    #[arg(long, default_value = "warn", value_name = "FILTER")]
    pub log: String,
}

/// How the demo ended, for the exit status.
#[derive(Debug)]
enum Failure {
    /// A bad option (exit 2).
    Usage(String),
    /// The demo could not run or a check failed (exit 1).
    Failed(String),
    /// Ctrl-C or SIGTERM (exit 130).
    Interrupted,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Failed(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Failure::Failed(message.to_owned())
    }
}

/// Runs `oddsmatch demo` and returns its exit status (see [`AFTER_HELP`]).
pub fn main(args: &DemoArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("oddsmatch demo: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(message)) => {
            eprintln!("oddsmatch demo: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Interrupted) => {
            eprintln!("oddsmatch demo: interrupted; the node was stopped");
            ExitCode::from(130)
        }
    }
}

/// How the demo shows itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// A view redrawn in place.
    Screen,
    /// A progress line a second and a line per event.
    Lines,
    /// The summary as text only.
    Quiet,
    /// The summary as JSON only.
    Json,
}

/// The data directory, removed at the end when it is a temporary one.
struct DataDir {
    path: PathBuf,
    temporary: bool,
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn run(args: &DemoArgs) -> Result<(), Failure> {
    let schema = validate(args)?;
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .map_err(|e| Failure::Usage(format!("--log {}: {e}", args.log)))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .try_init();
    if let Some(url) = &args.postgres {
        check_postgres(url, &schema)?;
    }
    let mode = if args.json {
        Mode::Json
    } else if args.quiet {
        Mode::Quiet
    } else if io::stdout().is_terminal() {
        Mode::Screen
    } else {
        Mode::Lines
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| format!("cannot handle signal {signal}: {e}"))?;
    }
    let data = match &args.data_dir {
        Some(dir) => DataDir {
            path: dir.clone(),
            temporary: false,
        },
        None => DataDir {
            path: std::env::temp_dir().join(format!(
                "oddsmatch-demo-{}-{}",
                std::process::id(),
                live::now_ns() % 1_000_000_000
            )),
            temporary: true,
        },
    };
    let mut config = NodeConfig {
        data_dir: data.path.clone(),
        ..NodeConfig::default()
    };
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    config.gateway.listen = loopback;
    config.market_data.listen_tcp = Some(loopback);
    config.market_data.listen_quic = Some(loopback);
    if let Some(url) = &args.postgres {
        config.persist = PersistConfig {
            schema: schema.clone(),
            ..PersistConfig::new(url.clone())
        };
    }
    let node = Node::start(config.clone()).map_err(|e| format!("cannot start the node: {e}"))?;
    let demo = Demo {
        args,
        mode,
        node: &node,
        config: &config,
        data: &data,
        schema,
        stop,
        live: Arc::new(Live::default()),
        printed: Cell::new(0),
    };
    let result = demo.run();
    let stopped = node.shutdown();
    let result = match (result, stopped) {
        (Ok(()), Err(error)) => Err(Failure::Failed(format!("stopping the node: {error}"))),
        (result, _) => result,
    };
    drop(data);
    result
}

/// Checks what clap cannot; returns the Postgres schema.
fn validate(args: &DemoArgs) -> Result<String, Failure> {
    if let Some(dir) = &args.data_dir {
        if dir.exists() && !dir.is_dir() {
            return Err(Failure::Usage(format!(
                "--data-dir {} is not a directory",
                dir.display()
            )));
        }
        let not_empty = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
        if not_empty {
            return Err(Failure::Usage(format!(
                "--data-dir {} is not empty: the demo sets up a fresh node (its accounts and \
                 markets are created anew), so name an empty or absent directory",
                dir.display()
            )));
        }
    }
    let schema = args
        .postgres_schema
        .clone()
        .unwrap_or_else(|| "oddsmatch_demo".to_owned());
    match &args.postgres {
        None if args.postgres_schema.is_some() => Err(Failure::Usage(
            "--postgres-schema needs --postgres".to_owned(),
        )),
        None => Ok(schema),
        Some(url) if url.trim().is_empty() => Err(Failure::Usage(
            "--postgres needs a connection string, such as 'host=127.0.0.1 user=postgres \
             dbname=test'"
                .to_owned(),
        )),
        Some(url) => {
            let config = PersistConfig {
                schema: schema.clone(),
                ..PersistConfig::new(url.clone())
            };
            config
                .validate()
                .map_err(|e| Failure::Usage(format!("--postgres-schema {schema}: {e}")))?;
            Ok(schema)
        }
    }
}

/// Refuses a Postgres server that cannot be reached, and a schema that already holds a
/// flushed journal: a new node's records would be taken for ones already written.
fn check_postgres(url: &str, schema: &str) -> Result<(), Failure> {
    let usage = |message: String| Failure::Usage(message);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime.block_on(async {
        let connected = tokio::time::timeout(
            Duration::from_secs(5),
            tokio_postgres::connect(url, tokio_postgres::NoTls),
        )
        .await
        .map_err(|_| usage(format!("--postgres: no answer from `{url}` within 5 s")))?;
        let (client, connection) =
            connected.map_err(|e| usage(format!("--postgres: cannot connect: {e}")))?;
        let connection = tokio::spawn(connection);
        let table: Option<String> = client
            .query_one(
                "SELECT to_regclass($1)::text",
                &[&format!("{schema}.checkpoints")],
            )
            .await
            .map_err(|e| usage(format!("--postgres: {e}")))?
            .get(0);
        let flushed: i64 = match table {
            Some(_) => client
                .query_one(
                    &format!("SELECT coalesce(max(seq), 0)::bigint FROM {schema}.checkpoints"),
                    &[],
                )
                .await
                .map_err(|e| usage(format!("--postgres: {e}")))?
                .get(0),
            None => 0,
        };
        drop(client);
        connection.abort();
        if flushed > 0 {
            return Err(usage(format!(
                "schema `{schema}` already holds an earlier node's journal (flushed to record \
                 {flushed}); name a new one with --postgres-schema, or drop it (DROP SCHEMA \
                 {schema} CASCADE)"
            )));
        }
        Ok(())
    })
}

/// Who an account is in the demo.
#[derive(Clone, Debug)]
struct Member {
    trader: Trader,
    who: String,
    deposit: i64,
}

/// The demo's parts.
struct Demo<'a> {
    args: &'a DemoArgs,
    mode: Mode,
    node: &'a Node,
    config: &'a NodeConfig,
    data: &'a DataDir,
    schema: String,
    stop: Arc<AtomicBool>,
    live: Arc<Live>,
    /// Events printed so far (as lines, after the view or without one).
    printed: Cell<usize>,
}

/// The race as the model runs it.
struct Race {
    steps: Vec<FeedStep>,
    winner: u32,
}

/// The race model's publications and winner for this seed and length.
fn run_model(seed: u64, race_ms: u64) -> Result<Race, String> {
    let model = RaceModelArgs {
        market: POOL.0,
        runners: RACE_RUNNERS,
        feed_account: FEED,
        start_ts: 1_767_277_200_000_000_000,
        seed,
        interval_ms: FEED_INTERVAL.as_millis() as u64,
        duration_ms: race_ms,
        max_move_bps: 2_000,
        with_setup: true,
        positions: true,
    };
    let mut steps = Vec::new();
    let mut positions_cm = Vec::new();
    let mut winner = None;
    for line in race_model::lines(&model)? {
        if let Some(rest) = line.strip_prefix("# t=") {
            // `# t=12.250s m: 1:190.41 2:188.02`
            positions_cm = rest
                .split_once("m: ")
                .map(|(_, runners)| runners)
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|runner| {
                    let (_, metres) = runner.split_once(':')?;
                    let (whole, cm) = metres.split_once('.')?;
                    Some(whole.parse::<i64>().ok()? * 100 + cm.parse::<i64>().ok()?)
                })
                .collect();
        } else if line.starts_with('{') {
            let value: Value = serde_json::from_str(&line)
                .map_err(|e| format!("race model: a line that does not parse: {e}"))?;
            match value["cmd"].as_str() {
                Some("reference_odds") => steps.push(FeedStep {
                    probabilities: value["probabilities_bps"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p.as_u64().and_then(|p| u16::try_from(p).ok()))
                        .collect(),
                    positions_cm: positions_cm.clone(),
                }),
                Some("settle_market") => winner = value["winners"][0].as_u64(),
                _ => {}
            }
        }
    }
    let winner = winner
        .and_then(|w| u32::try_from(w).ok())
        .ok_or("race model: no winner")?;
    Ok(Race { steps, winner })
}

/// The pool's result, as the summary shows it (money in minor units).
#[derive(Debug, Serialize)]
struct PoolResult {
    market: u32,
    kind: &'static str,
    runners: u32,
    takeout_bps: u16,
    status: String,
    winner: u32,
    /// Each selection's pool before the settlement.
    pools: Vec<i64>,
    bets: u64,
    total: i64,
    net: i64,
    paid: i64,
    takeout: i64,
    rounding: i64,
}

/// The exchange's result, as the summary shows it.
#[derive(Debug, Serialize)]
struct ExchangeResult {
    market: u32,
    kind: &'static str,
    runners: u32,
    commission_bps: u16,
    status: String,
    winner: u32,
    matched: i64,
    trades: u64,
    /// Orders left unmatched that the suspension cancelled.
    lapsed: u64,
    winners_gain: i64,
    losers_loss: i64,
    commission: i64,
    rounding: i64,
}

/// One account's part in both settlements, and its balance before and after.
#[derive(Debug, Serialize)]
struct Payout {
    account: u32,
    who: String,
    pool_staked: i64,
    pool_paid: i64,
    pool_pnl: i64,
    exchange_pnl: i64,
    commission: i64,
    balance_before: i64,
    balance_after: i64,
}

/// What the demo checks before it says the money adds up.
#[derive(Debug, Serialize)]
struct Checks {
    pool_money_conserved: bool,
    exchange_results_balance: bool,
    balances_follow_settlements: bool,
    no_unexpected_rejects: bool,
}

impl Demo<'_> {
    fn run(&self) -> Result<(), Failure> {
        let race_ms = self.args.race_secs * 1_000;
        let lock_before_ms = (race_ms / 4).clamp(1_000, 3_000);
        let race = run_model(self.args.seed, race_ms)?;
        let fair = Arc::new(FairPath::new(
            self.args.seed,
            EXCHANGE_RUNNERS as usize,
            (race_ms / FEED_INTERVAL.as_millis() as u64) as usize,
        ));
        let exchange_winner = fair.winner(self.args.seed);
        let socket = self
            .node
            .admin_socket()
            .ok_or("the node has no admin socket")?
            .to_owned();
        let mut operator = Operator::connect(&socket)?;
        let md_addr = self
            .node
            .market_data_addr()
            .ok_or("the node publishes no market data over TCP")?;
        self.introduce(&socket, md_addr);

        // The operator's setup.
        let members = self.accounts(&mut operator)?;
        let mut before = BTreeMap::new();
        for member in &members {
            before.insert(
                member.trader.account,
                operator.balance(member.trader.account)?,
            );
        }
        operator.command(json!({
            "op": "create_market", "market": POOL.0, "kind": "pool",
            "selections": (1..=RACE_RUNNERS).collect::<Vec<_>>(),
            "takeout_bps": TAKEOUT_BPS,
            // The bettors stake far less: the breaker watches the feed, not the small pool.
            "circuit_breaker_min_pool": race_model::BREAKER_MIN_POOL_MINOR,
            // The model moves odds at most 2000 bps a second; leave room for timing jitter.
            "circuit_breaker_bps": 5_000,
            "odds_tick_interval_ms": 200,
        }))?;
        operator.command(json!({
            "op": "create_market", "market": EXCHANGE.0,
            "selections": (1..=EXCHANGE_RUNNERS).collect::<Vec<_>>(),
            "commission_bps": COMMISSION_BPS,
            "odds_tick_interval_ms": 200,
        }))?;
        self.say(&format!(
            "setup through the admin socket: a feed account, {} market makers and {} bettors \
             with API keys and deposits; {} is a pool on {RACE_RUNNERS} runners (takeout {}%) \
             priced by the race model, {} an exchange on {EXCHANGE_RUNNERS} runners (commission \
             {}%)",
            MAKERS.len(),
            self.args.bettors,
            live::label(POOL),
            TAKEOUT_BPS / 100,
            live::label(EXCHANGE),
            COMMISSION_BPS / 100
        ));

        // The subscriber, before the markets open so that it sees them open.
        let (ready_tx, ready_rx) = mpsc::channel();
        let watching = Arc::new(AtomicBool::new(false));
        // Time for the subscriber's snapshots and the operator's opening and schedule.
        let start_in = Duration::from_millis(1_000);
        let clock = Clock::starting_in(start_in);
        let feed = members[0].trader;
        let watcher = {
            let (live, watching) = (self.live.clone(), watching.clone());
            spawn("demo-md", move || {
                live::watch(md_addr, feed, live, clock, watching, ready_tx);
            })?
        };
        let ready = ready_rx
            .recv_timeout(Duration::from_secs(15))
            .map_err(|_| "market data: the subscriber did not start".to_owned())
            .and_then(|r| r);
        if let Err(error) = ready {
            watching.store(true, Ordering::Release);
            let _ = watcher.join();
            return Err(error.into());
        }
        let result = self.race(
            &mut operator,
            &members,
            &race,
            &fair,
            clock,
            lock_before_ms,
            exchange_winner,
        );
        // Let the subscriber see the settlement before it stops.
        let deadline = Instant::now() + Duration::from_secs(2);
        while result.is_ok()
            && Instant::now() < deadline
            && !self
                .live
                .lock()
                .markets
                .iter()
                .all(|m| m.status == Some(oddsmatch_engine::MarketStatus::Settled))
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        watching.store(true, Ordering::Release);
        let _ = watcher.join();
        self.flush_events();
        let settled = result?;
        self.summary(&mut operator, &members, &before, &race, settled)?;
        if self.args.serve {
            self.serve(&socket, md_addr, &members)?;
        }
        Ok(())
    }

    /// Prints where the node is (not in `--quiet` or `--json`).
    fn introduce(&self, socket: &Path, md_addr: SocketAddr) {
        let quic = self
            .node
            .market_data_quic_addr()
            .map_or_else(String::new, |addr| format!(", {addr} (QUIC)"));
        let journal = if self.data.temporary {
            format!(
                "{} (temporary; --data-dir keeps it)",
                self.data.path.display()
            )
        } else {
            self.data.path.display().to_string()
        };
        let postgres = match &self.args.postgres {
            Some(_) => format!("on, schema {}", self.schema),
            None => "off (--postgres URL flushes everything as it happens)".to_owned(),
        };
        self.say(&format!(
            "oddsmatch demo: seed {}, a {} s race, {} bettors; a node in this process:\n  \
             order entry   {}\n  market data   {md_addr} (TCP){quic}\n  admin socket  {}\n  \
             journal       {journal}, durability {}\n  postgres      {postgres}",
            self.args.seed,
            self.args.race_secs,
            self.args.bettors,
            self.node.addr(),
            socket.display(),
            self.config.shards.durability,
        ));
    }

    /// Prints the events not printed yet, in the modes that show progress.
    fn flush_events(&self) {
        if matches!(self.mode, Mode::Screen | Mode::Lines) {
            let events = self.live.lock().events.clone();
            for event in events.iter().skip(self.printed.get()) {
                println!("{event}");
            }
            self.printed.set(events.len().max(self.printed.get()));
        }
    }

    /// A line of text in the modes that show progress.
    fn say(&self, text: &str) {
        if matches!(self.mode, Mode::Screen | Mode::Lines) {
            println!("{text}");
        }
    }

    /// The feed, the market makers and the bettors: accounts, keys and deposits.
    fn accounts(&self, operator: &mut Operator) -> Result<Vec<Member>, String> {
        let mut plan = vec![(FEED, "feed".to_owned(), "basic", "feed", 0)];
        for (i, account) in MAKERS.iter().enumerate() {
            plan.push((
                *account,
                format!("market maker {}", i + 1),
                "market_maker",
                "trader",
                MAKER_DEPOSIT,
            ));
        }
        for i in 0..self.args.bettors {
            plan.push((
                FIRST_BETTOR + i,
                format!("bettor {}", i + 1),
                "pro",
                "trader",
                BETTOR_DEPOSIT,
            ));
        }
        let mut members = Vec::new();
        for (account, who, tier, role, deposit) in plan {
            operator.command(json!({
                "op": "create_account", "account": account, "tier": tier, "role": role,
            }))?;
            // The node draws the secret and hands it out once.
            let key = operator.request(json!({
                "op": "rotate_api_key", "account": account, "key_id": account,
            }))?;
            let secret = parse_secret(key["secret"].as_str().unwrap_or_default())
                .map_err(|e| format!("admin socket: rotate_api_key: {e}"))?;
            if deposit > 0 {
                operator.command(json!({
                    "op": "deposit", "account": account, "amount": deposit,
                    "transfer_id": account,
                }))?;
            }
            members.push(Member {
                trader: Trader {
                    account,
                    credentials: Credentials {
                        key_id: u64::from(account),
                        secret,
                    },
                },
                who,
                deposit,
            });
        }
        Ok(members)
    }

    /// Opens the markets, runs the race with every trader, and settles both markets; returns
    /// the settlements' events (pool, exchange) and the suspension's.
    #[allow(clippy::too_many_arguments)]
    fn race(
        &self,
        operator: &mut Operator,
        members: &[Member],
        race: &Race,
        fair: &Arc<FairPath>,
        clock: Clock,
        lock_before_ms: u64,
        exchange_winner: u32,
    ) -> Result<Settled, Failure> {
        let race_len = FEED_INTERVAL * (race.steps.len().saturating_sub(1)) as u32;
        let end_ns = clock.start_ns + race_len.as_nanos() as u64;
        for market in [POOL, EXCHANGE] {
            operator.command(json!({"op": "open_market", "market": market.0}))?;
        }
        operator.command(json!({
            "op": "schedule_market", "market": POOL.0, "end_at": end_ns,
            "lock_before_end_ms": lock_before_ms,
        }))?;
        let lock = race_len.saturating_sub(Duration::from_millis(lock_before_ms));
        self.live.event(
            &clock,
            &format!(
                "operator: {} and {} open; the race starts at t=0, the pool locks at t={:.2}s, \
                 the finish is at t={:.2}s",
                live::label(POOL),
                live::label(EXCHANGE),
                lock.as_secs_f64(),
                race_len.as_secs_f64()
            ),
        );
        let abort = Arc::new(AtomicBool::new(false));
        let schedule = Schedule {
            clock,
            bets_until: clock.at(lock.saturating_sub(Duration::from_millis(300))),
            orders_until: clock.at(race_len.saturating_sub(Duration::from_millis(400))),
            abort: abort.clone(),
        };
        let addr = self.node.addr().to_string();
        let mut threads: Vec<JoinHandle<()>> = Vec::new();
        let spawned = (|| -> Result<(), String> {
            {
                let (live, schedule, addr) = (self.live.clone(), schedule.clone(), addr.clone());
                let (trader, steps) = (members[0].trader, race.steps.clone());
                threads.push(spawn("demo-feed", move || {
                    traders::feed(addr, trader, steps, schedule, live);
                })?);
            }
            for member in &members[1..] {
                let (live, schedule, addr) = (self.live.clone(), schedule.clone(), addr.clone());
                let (trader, fair, seed) = (member.trader, fair.clone(), self.args.seed);
                let maker = MAKERS.contains(&trader.account);
                threads.push(spawn("demo-trader", move || {
                    if maker {
                        traders::market_maker(addr, trader, fair, schedule, live, seed);
                    } else {
                        traders::bettor(addr, trader, fair, schedule, live, seed);
                    }
                })?);
            }
            Ok(())
        })();
        let raced = spawned.and_then(|()| self.show(&clock, &threads, race_len, lock));
        if raced.is_err() || self.stop.load(Ordering::Acquire) {
            abort.store(true, Ordering::Release);
        }
        for thread in threads {
            let _ = thread.join();
        }
        self.end_screen();
        raced?;
        if self.stop.load(Ordering::Acquire) {
            return Err(Failure::Interrupted);
        }
        self.finish(operator, &clock, race.winner, exchange_winner)
    }

    /// Shows the race until the finish and until every trader is done.
    fn show(
        &self,
        clock: &Clock,
        threads: &[JoinHandle<()>],
        race_len: Duration,
        lock: Duration,
    ) -> Result<(), String> {
        let header = self.screen_header();
        let mut last_line = Instant::now();
        let mut drawn_lines = 0usize;
        if self.mode == Mode::Screen {
            // Hide the cursor and keep each row on one screen line while redrawing.
            print!("\x1b[?25l\x1b[?7l");
        }
        loop {
            if self.stop.load(Ordering::Acquire) {
                return Ok(());
            }
            let now = Instant::now();
            let finished = now >= clock.at(race_len) && threads.iter().all(JoinHandle::is_finished);
            let phase = if now < clock.start {
                "get ready".to_owned()
            } else if now < clock.at(lock) {
                "the race is on; bets open".to_owned()
            } else if now < clock.at(race_len) {
                "the race is on; the pool is locked".to_owned()
            } else {
                "the finish".to_owned()
            };
            let state = self.live.snapshot();
            match self.mode {
                Mode::Screen => {
                    let text = live::screen(&state, clock, &header, &phase);
                    let erase = if drawn_lines == 0 {
                        String::new()
                    } else {
                        format!("\x1b[{drawn_lines}F\x1b[J")
                    };
                    print!("{erase}{text}");
                    drawn_lines = text.lines().count();
                }
                Mode::Lines => {
                    self.flush_events();
                    if last_line.elapsed() >= Duration::from_secs(1) && now >= clock.start {
                        last_line = Instant::now();
                        println!("{}", live::progress_line(&state, clock));
                    }
                }
                Mode::Quiet | Mode::Json => {}
            }
            let _ = io::stdout().flush();
            if finished {
                if self.mode == Mode::Screen {
                    // The view showed them.
                    self.printed.set(state.events.len());
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(match self.mode {
                Mode::Screen => 200,
                _ => 50,
            }));
        }
    }

    fn screen_header(&self) -> Vec<String> {
        vec![
            String::new(),
            format!(
                "oddsmatch demo: seed {}, {} bettors; Ctrl-C stops it",
                self.args.seed, self.args.bettors
            ),
        ]
    }

    /// Gives the terminal its cursor back.
    fn end_screen(&self) {
        if self.mode == Mode::Screen {
            print!("\x1b[?7h\x1b[?25h");
            let _ = io::stdout().flush();
        }
    }

    /// The operator's finish: the pool has locked by its schedule (it is suspended now if it
    /// has not), the exchange is suspended, and both are settled.
    fn finish(
        &self,
        operator: &mut Operator,
        clock: &Clock,
        race_winner: u32,
        exchange_winner: u32,
    ) -> Result<Settled, Failure> {
        let pool_before = operator.market(POOL)?;
        if pool_before["status"] == "open" {
            operator.command(json!({"op": "suspend_market", "market": POOL.0}))?;
            self.live.event(
                clock,
                &format!("operator: {} had not locked; suspended", live::label(POOL)),
            );
        }
        let suspended = operator.command(json!({"op": "suspend_market", "market": EXCHANGE.0}))?;
        let lapsed = suspended
            .iter()
            .filter(|e| matches!(e, Event::OrderCancelled { .. }))
            .count() as u64;
        self.live.event(
            clock,
            &format!(
                "operator: suspend_market {}: the finish; {lapsed} unmatched orders lapsed",
                EXCHANGE.0
            ),
        );
        let exchange_before = operator.market(EXCHANGE)?;
        let pool = operator.command(json!({
            "op": "settle_market", "market": POOL.0, "winners": [race_winner],
        }))?;
        self.live.event(
            clock,
            &format!(
                "operator: settle_market {} winners [{race_winner}] (the race's winner)",
                POOL.0
            ),
        );
        let exchange = operator.command(json!({
            "op": "settle_market", "market": EXCHANGE.0, "winners": [exchange_winner],
        }))?;
        self.live.event(
            clock,
            &format!(
                "operator: settle_market {} winners [{exchange_winner}] (drawn from the seed)",
                EXCHANGE.0
            ),
        );
        self.flush_events();
        Ok(Settled {
            pool,
            exchange,
            pool_before,
            exchange_before,
            race_winner,
            exchange_winner,
            lapsed,
        })
    }

    /// Reads the balances after, works out every payout, checks the money and prints it all.
    fn summary(
        &self,
        operator: &mut Operator,
        members: &[Member],
        before: &BTreeMap<u32, i64>,
        race: &Race,
        settled: Settled,
    ) -> Result<(), Failure> {
        let state = self.live.snapshot();
        let pool = pool_result(&settled, operator.market(POOL)?);
        let exchange = exchange_result(&settled, operator.market(EXCHANGE)?, &state);
        let mut payouts = Vec::new();
        for member in members.iter().filter(|m| m.deposit > 0) {
            let account = member.trader.account;
            let mut payout = Payout {
                account,
                who: member.who.clone(),
                pool_staked: 0,
                pool_paid: 0,
                pool_pnl: 0,
                exchange_pnl: 0,
                commission: 0,
                balance_before: before.get(&account).copied().unwrap_or_default(),
                balance_after: operator.balance(account)?,
            };
            for event in &settled.pool {
                match *event {
                    Event::BetSettled {
                        account: a,
                        stake_minor,
                        payout_minor,
                        ..
                    } if a.0 == account => {
                        payout.pool_staked += stake_minor;
                        payout.pool_paid += payout_minor;
                    }
                    Event::AccountSettled {
                        account: a,
                        pnl_minor,
                        ..
                    } if a.0 == account => payout.pool_pnl += pnl_minor,
                    _ => {}
                }
            }
            for event in &settled.exchange {
                if let Event::AccountSettled {
                    account: a,
                    pnl_minor,
                    commission_minor,
                    ..
                } = *event
                    && a.0 == account
                {
                    payout.exchange_pnl += pnl_minor;
                    payout.commission += commission_minor;
                }
            }
            payouts.push(payout);
        }
        let unexpected: u64 = state
            .rejects
            .iter()
            .filter(|(reason, _)| reason.as_str() != EXPECTED_REJECT)
            .map(|(_, n)| n)
            .sum::<u64>()
            + state.counts.throttled
            + state.counts.busy;
        let checks = Checks {
            pool_money_conserved: pool.total == pool.paid + pool.takeout + pool.rounding
                && pool.paid + pool.rounding
                    == if pool.takeout > 0 {
                        pool.net
                    } else {
                        pool.total
                    }
                && pool.rounding >= 0,
            exchange_results_balance: exchange.winners_gain - exchange.losers_loss
                + exchange.rounding
                == 0
                && exchange.rounding >= 0
                && exchange.commission == payouts.iter().map(|p| p.commission).sum::<i64>(),
            balances_follow_settlements: payouts.iter().all(|p| {
                p.balance_after - p.balance_before == p.pool_pnl + p.exchange_pnl - p.commission
                    && p.pool_pnl == p.pool_paid - p.pool_staked
            }),
            no_unexpected_rejects: unexpected == 0,
        };
        let acks = spread(&state.ack_ns);
        let ticks = spread(&state.tick_ns);
        let metrics = serde_json::to_value(self.node.metrics()).unwrap_or(Value::Null);
        let persist = self.persist_report();
        let ok = checks.pool_money_conserved
            && checks.exchange_results_balance
            && checks.balances_follow_settlements
            && state.failures.is_empty();
        if self.mode == Mode::Json {
            let summary = json!({
                "seed": self.args.seed,
                "race_secs": self.args.race_secs,
                "bettors": self.args.bettors,
                "node": self.node_json(),
                "race": {
                    "winner": race.winner,
                    "finish_cm": race.steps.last().map(|s| s.positions_cm.clone()),
                },
                "markets": [
                    serde_json::to_value(&pool).unwrap_or_default(),
                    serde_json::to_value(&exchange).unwrap_or_default(),
                ],
                "payouts": payouts,
                "house": {
                    "takeout": pool.takeout,
                    "commission": exchange.commission,
                    "rounding": pool.rounding + exchange.rounding,
                },
                "counts": state.counts,
                "rejects": state.rejects,
                "unexpected_rejects": unexpected,
                "latency": {
                    "ack": acks,
                    "tick": ticks,
                    "node": node_latency_json(&metrics),
                },
                "checks": checks,
                "failures": state.failures,
                "persist": persist,
            });
            println!("{summary}");
        } else {
            let text = summary_text(&SummaryText {
                pool: &pool,
                exchange: &exchange,
                payouts: &payouts,
                state: &state,
                acks,
                ticks,
                metrics: &metrics,
                checks: &checks,
                persist: &persist,
                unexpected,
            });
            print!("{text}");
            if !self.data.temporary && !self.args.serve {
                println!(
                    "The journal is kept in {0}: `oddsmatch journal verify {0}/shard-0` replays \
                     it.",
                    self.data.path.display()
                );
            }
        }
        let _ = io::stdout().flush();
        if ok {
            Ok(())
        } else {
            let mut problems: Vec<String> = state.failures.clone();
            if !(checks.pool_money_conserved
                && checks.exchange_results_balance
                && checks.balances_follow_settlements)
            {
                problems.push("the money does not add up (see the checks)".to_owned());
            }
            Err(Failure::Failed(problems.join("; ")))
        }
    }

    fn node_json(&self) -> Value {
        json!({
            "order_entry": self.node.addr().to_string(),
            "market_data": self.node.market_data_addr().map(|a| a.to_string()),
            "market_data_quic": self.node.market_data_quic_addr().map(|a| a.to_string()),
            "certificate_sha256": self.node.market_data_fingerprint(),
            "admin_socket": self.node.admin_socket().map(|p| p.display().to_string()),
            "data_dir": self.data.path.display().to_string(),
            "data_dir_kept": !self.data.temporary,
            "durability": self.config.shards.durability,
            "postgres": self.args.postgres.is_some(),
        })
    }

    /// With Postgres: waits (up to 10 s) for the flush to catch up and says how far it got.
    fn persist_report(&self) -> Value {
        let Some(_) = self.args.postgres else {
            return Value::Null;
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let progress = self.node.persist_progress().unwrap_or_default();
            let caught_up = !progress.is_empty() && progress.iter().all(|p| p.lag_records == 0);
            if caught_up || Instant::now() >= deadline {
                return json!({
                    "schema": self.schema,
                    "caught_up": caught_up,
                    "shards": progress.iter().map(|p| json!({
                        "shard": p.shard,
                        "committed_seq": p.committed_seq,
                        "lag_records": p.lag_records,
                        "rows": p.rows,
                        "connected": p.connected,
                        "last_error": p.last_error,
                    })).collect::<Vec<_>>(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `--serve`: keeps the node running until Ctrl-C, SIGTERM or the admin socket's
    /// `shutdown`.
    fn serve(&self, socket: &Path, md_addr: SocketAddr, members: &[Member]) -> Result<(), String> {
        if self.mode != Mode::Json {
            let quic = match (
                self.node.market_data_quic_addr(),
                self.node.market_data_fingerprint(),
            ) {
                (Some(addr), Some(fingerprint)) => {
                    format!("\n  market data   {addr} (QUIC), certificate SHA-256 {fingerprint}")
                }
                _ => String::new(),
            };
            let bettor = members
                .iter()
                .find(|m| m.trader.account == FIRST_BETTOR)
                .map(|m| {
                    let secret: String = m
                        .trader
                        .credentials
                        .secret
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    format!(
                        "\n  bettor 1's key (this node only):\n    export ODDSMATCH_ADDR={} \
                         ODDSMATCH_KEY_ID={} ODDSMATCH_SECRET={secret}\n    oddsmatch order \
                         balance",
                        self.node.addr(),
                        m.trader.credentials.key_id
                    )
                })
                .unwrap_or_default();
            println!(
                "\nStill serving until Ctrl-C:\n  order entry   {}\n  market data   {md_addr} \
                 (TCP){quic}\n  admin socket  {}\n  data          {}\n  try:\n    oddsmatch \
                 watch 1 2 --addr {md_addr}\n    oddsmatch admin --socket {} markets\n    \
                 oddsmatch admin --socket {} shutdown{bettor}",
                self.node.addr(),
                socket.display(),
                self.data.path.display(),
                socket.display(),
                socket.display(),
            );
            let _ = io::stdout().flush();
        }
        while !self.stop.load(Ordering::Acquire) && !self.node.shutdown_requested() {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.say("oddsmatch demo: stopping the node");
        Ok(())
    }
}

/// What the settlement made.
struct Settled {
    pool: Vec<Event>,
    exchange: Vec<Event>,
    /// The markets as read before their settlement.
    pool_before: Value,
    exchange_before: Value,
    race_winner: u32,
    exchange_winner: u32,
    lapsed: u64,
}

/// The house's ledger postings of a settlement, by kind.
fn house(events: &[Event], kind: PostingKind, account: AccountId) -> i64 {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::Ledger {
                account: a,
                kind: k,
                amount_minor,
                ..
            } if a == account && k == kind => Some(amount_minor),
            _ => None,
        })
        .sum()
}

fn pool_result(settled: &Settled, after: Value) -> PoolResult {
    let pools: Vec<i64> = settled.pool_before["selections"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["pool"].as_i64().unwrap_or_default())
        .collect();
    let total = pools.iter().sum::<i64>();
    let (mut bets, mut paid) = (0, 0);
    for event in &settled.pool {
        if let Event::BetSettled { payout_minor, .. } = event {
            bets += 1;
            paid += payout_minor;
        }
    }
    PoolResult {
        market: POOL.0,
        kind: "pool",
        runners: RACE_RUNNERS,
        takeout_bps: TAKEOUT_BPS,
        status: after["status"].as_str().unwrap_or("?").to_owned(),
        winner: settled.race_winner,
        pools,
        bets,
        total,
        net: total * i64::from(10_000 - TAKEOUT_BPS) / 10_000,
        paid,
        takeout: house(
            &settled.pool,
            PostingKind::Takeout,
            AccountId::HOUSE_COMMISSION,
        ),
        rounding: house(
            &settled.pool,
            PostingKind::Rounding,
            AccountId::HOUSE_ROUNDING,
        ),
    }
}

fn exchange_result(settled: &Settled, after: Value, state: &live::State) -> ExchangeResult {
    let (mut gain, mut loss) = (0, 0);
    for event in &settled.exchange {
        if let Event::AccountSettled { pnl_minor, .. } = *event {
            if pnl_minor > 0 {
                gain += pnl_minor;
            } else {
                loss -= pnl_minor;
            }
        }
    }
    ExchangeResult {
        market: EXCHANGE.0,
        kind: "exchange",
        runners: EXCHANGE_RUNNERS,
        commission_bps: COMMISSION_BPS,
        status: after["status"].as_str().unwrap_or("?").to_owned(),
        winner: settled.exchange_winner,
        matched: settled.exchange_before["matched"]
            .as_i64()
            .unwrap_or_default(),
        trades: state.markets[1].trades,
        lapsed: settled.lapsed,
        winners_gain: gain,
        losers_loss: loss,
        commission: house(
            &settled.exchange,
            PostingKind::Commission,
            AccountId::HOUSE_COMMISSION,
        ),
        rounding: house(
            &settled.exchange,
            PostingKind::Rounding,
            AccountId::HOUSE_ROUNDING,
        ),
    }
}

/// The node's own latencies from its metrics, where they are measured.
fn node_latency_json(metrics: &Value) -> Value {
    let pick = |pointer: &str| metrics.pointer(pointer).and_then(Value::as_u64);
    let mut out = serde_json::Map::new();
    for (name, path) in NODE_LATENCIES {
        if let (Some(p50), Some(p99)) = (
            pick(&format!("{path}/p50_ns")),
            pick(&format!("{path}/p99_ns")),
        ) {
            out.insert(
                (*name).to_owned(),
                json!({"p50_us": p50 / 1_000, "p99_us": p99 / 1_000}),
            );
        }
    }
    Value::Object(out)
}

/// The node's stage latencies the summary shows: name, and where in its metrics.
const NODE_LATENCIES: &[(&str, &str)] = &[
    ("gateway_round_trip", "/gateway/latency/round_trip"),
    ("shard_queue_wait", "/shards/0/latency/queue_wait"),
    ("journal_commit", "/shards/0/latency/commit"),
    ("tick_write", "/market_data/latency/tick_write"),
];

struct SummaryText<'a> {
    pool: &'a PoolResult,
    exchange: &'a ExchangeResult,
    payouts: &'a [Payout],
    state: &'a live::State,
    acks: Spread,
    ticks: Spread,
    metrics: &'a Value,
    checks: &'a Checks,
    persist: &'a Value,
    unexpected: u64,
}

fn summary_text(s: &SummaryText<'_>) -> String {
    let (pool, exchange) = (s.pool, s.exchange);
    let mut text = String::new();
    text.push_str(&format!(
        "\n{}, {} runners, takeout {}%: {}, runner {} won\n  {} staked in {} bets ({}); paid \
         {} to the winners, takeout {}, rounding {}\n",
        live::label(POOL),
        pool.runners,
        pool.takeout_bps / 100,
        pool.status,
        pool.winner,
        money(pool.total),
        pool.bets,
        pool.pools
            .iter()
            .enumerate()
            .map(|(i, p)| format!("runner {}: {}", i + 1, money(*p)))
            .collect::<Vec<_>>()
            .join(", "),
        money(pool.paid),
        money(pool.takeout),
        money(pool.rounding)
    ));
    text.push_str(&format!(
        "{}, {} runners, commission {}%: {}, runner {} won\n  {} matched in {} trades; {} \
         unmatched orders lapsed at the finish; winners +{}, losers -{}, rounding {}, \
         commission {}\n",
        live::label(EXCHANGE),
        exchange.runners,
        exchange.commission_bps / 100,
        exchange.status,
        exchange.winner,
        money(exchange.matched),
        exchange.trades,
        exchange.lapsed,
        money(exchange.winners_gain),
        money(exchange.losers_loss),
        money(exchange.rounding),
        money(exchange.commission)
    ));
    text.push_str("\nPayouts\n");
    let columns = [
        ("ACCOUNT", true),
        ("WHO", false),
        ("POOL STAKED", true),
        ("POOL PAID", true),
        ("POOL P&L", true),
        ("EXCHANGE P&L", true),
        ("COMMISSION", true),
        ("BEFORE", true),
        ("AFTER", true),
    ];
    let signed = |minor: i64| {
        if minor > 0 {
            format!("+{}", money(minor))
        } else {
            money(minor)
        }
    };
    let mut rows: Vec<Vec<String>> = s
        .payouts
        .iter()
        .map(|p| {
            vec![
                p.account.to_string(),
                p.who.clone(),
                money(p.pool_staked),
                money(p.pool_paid),
                signed(p.pool_pnl),
                signed(p.exchange_pnl),
                money(p.commission),
                money(p.balance_before),
                money(p.balance_after),
            ]
        })
        .collect();
    rows.push(vec![
        AccountId::HOUSE_COMMISSION.0.to_string(),
        "house: takeout and commission".to_owned(),
        String::new(),
        String::new(),
        signed(pool.takeout),
        signed(exchange.commission),
        String::new(),
        String::new(),
        String::new(),
    ]);
    rows.push(vec![
        AccountId::HOUSE_ROUNDING.0.to_string(),
        "house: rounding".to_owned(),
        String::new(),
        String::new(),
        signed(pool.rounding),
        signed(exchange.rounding),
        String::new(),
        String::new(),
        String::new(),
    ]);
    text.push_str(&align(&columns, rows, "  "));
    text.push_str("\nLatency (loopback, this machine)\n");
    text.push_str(&format!(
        "  order acknowledgement round trip: p50 {}, p99 {}, max {} over {} requests\n",
        ms(s.acks.p50_us),
        ms(s.acks.p99_us),
        ms(s.acks.max_us),
        s.acks.n
    ));
    text.push_str(&format!(
        "  odds tick, engine time stamp to the subscriber: p50 {}, p99 {}, max {} over {} ticks\n",
        ms(s.ticks.p50_us),
        ms(s.ticks.p99_us),
        ms(s.ticks.max_us),
        s.ticks.n
    ));
    let node = node_latency_json(s.metrics);
    if let Some(stages) = node.as_object().filter(|o| !o.is_empty()) {
        let words: Vec<String> = stages
            .iter()
            .map(|(name, v)| {
                format!(
                    "{} p50 {} p99 {}",
                    name.replace('_', " "),
                    ms(v["p50_us"].as_u64().unwrap_or_default()),
                    ms(v["p99_us"].as_u64().unwrap_or_default())
                )
            })
            .collect();
        text.push_str(&format!("  inside the node: {}\n", words.join("; ")));
    }
    text.push_str(&format!("\nCounts: {}\n", live::counts_line(s.state)));
    if !s.state.rejects.is_empty() {
        let rejects: Vec<String> = s
            .state
            .rejects
            .iter()
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect();
        text.push_str(&format!(
            "  rejects: {} ({} unexpected)\n",
            rejects.join(", "),
            s.unexpected
        ));
    }
    if let Some(shards) = s.persist["shards"].as_array() {
        for shard in shards {
            text.push_str(&format!(
                "Postgres: schema {}, shard {} flushed to record {} ({} behind, {} rows)\n",
                s.persist["schema"].as_str().unwrap_or("?"),
                shard["shard"],
                shard["committed_seq"],
                shard["lag_records"],
                shard["rows"]
            ));
        }
    }
    for failure in &s.state.failures {
        text.push_str(&format!("failure: {failure}\n"));
    }
    let verdict = |ok: bool| if ok { "ok" } else { "FAILED" };
    text.push_str(&format!(
        "Checks: pool money conserved {}; exchange results balance {}; every balance moved by \
         its settlements {}; no unexpected rejects {}\n",
        verdict(s.checks.pool_money_conserved),
        verdict(s.checks.exchange_results_balance),
        verdict(s.checks.balances_follow_settlements),
        verdict(s.checks.no_unexpected_rejects)
    ));
    text
}

/// Starts a named thread.
fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(body)
        .map_err(|e| format!("cannot start a thread: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_race_follows_the_seed() {
        let a = run_model(3, 8_000).unwrap();
        let b = run_model(3, 8_000).unwrap();
        assert_eq!(a.winner, b.winner);
        assert!((1..=RACE_RUNNERS).contains(&a.winner));
        // One publication every 250 ms, the start and the finish included.
        assert_eq!(a.steps.len(), 33);
        for step in &a.steps {
            assert_eq!(step.probabilities.len(), RACE_RUNNERS as usize);
            assert_eq!(
                step.probabilities
                    .iter()
                    .map(|p| u32::from(*p))
                    .sum::<u32>(),
                10_000
            );
            assert_eq!(step.positions_cm.len(), RACE_RUNNERS as usize);
        }
        // The winner is ahead at the finish.
        let finish = &a.steps[a.steps.len() - 1].positions_cm;
        let leader = finish.iter().max().unwrap();
        assert_eq!(finish[a.winner as usize - 1], *leader);
    }

    #[test]
    fn house_postings_are_summed_by_kind() {
        let ledger = |account, kind, amount_minor| Event::Ledger {
            account,
            kind,
            amount_minor,
            balance_minor: 0,
            reference: 1,
        };
        let events = [
            ledger(AccountId::HOUSE_COMMISSION, PostingKind::Takeout, 30),
            ledger(AccountId::HOUSE_ROUNDING, PostingKind::Rounding, 2),
            ledger(AccountId(301), PostingKind::Settlement, 30),
        ];
        assert_eq!(
            house(&events, PostingKind::Takeout, AccountId::HOUSE_COMMISSION),
            30
        );
        assert_eq!(
            house(&events, PostingKind::Rounding, AccountId::HOUSE_ROUNDING),
            2
        );
        assert_eq!(
            house(
                &events,
                PostingKind::Commission,
                AccountId::HOUSE_COMMISSION
            ),
            0
        );
    }
}
