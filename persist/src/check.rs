//! Reconciliation: does Postgres say what the journal says, up to the checkpoint?
//!
//! For each shard, [`check`] rebuilds the engine from the journal up to the shard's checkpoint
//! (the newest snapshot at or before it, then the records after it) and compares, with what
//! Postgres holds for that shard:
//!
//! - **rows**: per table, the rows the journal's records up to the checkpoint make against the
//!   rows in Postgres for the same records, and no row past the checkpoint;
//! - **accounts**: the same set of accounts;
//! - **balances**: each account's balance against its last ledger row and against the sum of
//!   its ledger amounts;
//! - **exposures**: each account's exposure against the one rebuilt from the order, trade,
//!   pool-bet and market rows alone (the engine's risk rules applied to what Postgres holds);
//! - **markets**: each market's matched volume against the sum of its trades, and each pool
//!   against its accepted minus its cancelled bets.
//!
//! A difference is reported, not returned as an error: the caller decides (the CLI exits
//! non-zero).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use oddsmatch_engine::record::{self, RECORD_INPUT};
use oddsmatch_engine::shard::{ReplayOptions, Start, replay};
use oddsmatch_engine::{AccountId, Contribution, Engine, Query, Reply, Side, exposure_minor};
use oddsmatch_journal::Reader;
use tokio_postgres::Client;

use crate::rows::{RowOptions, Rows};
use crate::schema;

/// One thing that differs between the journal and Postgres.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// What is compared (`balance of account 7`, `rows in trades`, ...).
    pub what: String,
    /// What the journal says.
    pub journal: String,
    /// What Postgres says.
    pub postgres: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: journal {}, postgres {}",
            self.what, self.journal, self.postgres
        )
    }
}

/// The reconciliation of one shard.
#[derive(Clone, Debug, Default)]
pub struct ShardCheck {
    /// The shard.
    pub shard: u16,
    /// Postgres's checkpoint for it: what was compared.
    pub checkpoint: u64,
    /// The first journal record still on disk (row counts start there).
    pub first_seq: u64,
    /// Accounts compared.
    pub accounts: usize,
    /// Markets compared.
    pub markets: usize,
    /// Per table: rows the journal makes, rows in Postgres.
    pub rows: Vec<(&'static str, u64, u64)>,
    /// Everything that differs.
    pub differences: Vec<Difference>,
}

impl ShardCheck {
    fn differ(
        &mut self,
        what: impl Into<String>,
        journal: impl fmt::Display,
        pg: impl fmt::Display,
    ) {
        self.differences.push(Difference {
            what: what.into(),
            journal: journal.to_string(),
            postgres: pg.to_string(),
        });
    }
}

/// Why a reconciliation could not be done at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Postgres refused or failed.
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The schema name is not valid.
    #[error(transparent)]
    Schema(#[from] schema::SchemaError),
    /// The journal could not be replayed to the checkpoint.
    #[error("shard {shard}: cannot rebuild the state at the checkpoint {checkpoint}: {detail}")]
    Rebuild {
        /// The shard.
        shard: u16,
        /// The checkpoint.
        checkpoint: u64,
        /// Why.
        detail: String,
    },
}

/// Reconciles every shard in `shards` (`(shard, journal directory)`) with the tables in
/// `schema`. `options` must be those the flush used (which odds ticks it kept).
pub async fn check(
    client: &Client,
    schema: &str,
    shards: &[(u16, PathBuf)],
    options: RowOptions,
) -> Result<Vec<ShardCheck>, CheckError> {
    schema::check_name(schema)?;
    let mut out = Vec::new();
    for (shard, dir) in shards {
        out.push(check_shard(client, schema, *shard, dir, options).await?);
    }
    Ok(out)
}

async fn check_shard(
    client: &Client,
    schema: &str,
    shard: u16,
    dir: &Path,
    options: RowOptions,
) -> Result<ShardCheck, CheckError> {
    let id = shard as i16;
    let checkpoint = client
        .query_opt(
            &format!("SELECT seq FROM {schema}.checkpoints WHERE shard = $1"),
            &[&id],
        )
        .await?
        .map_or(0, |row| row.get::<_, i64>(0) as u64);
    let rebuild = |detail: String| CheckError::Rebuild {
        shard,
        checkpoint,
        detail,
    };
    let replayed = replay(
        dir,
        ReplayOptions {
            start: Start::Newest,
            to_seq: Some(checkpoint),
            verify_events: false,
        },
        &mut |_| {},
    )
    .map_err(|error| rebuild(error.to_string()))?;
    let engine = replayed.engine;
    let mut report = ShardCheck {
        shard,
        checkpoint,
        ..ShardCheck::default()
    };
    if engine.seq() != checkpoint {
        report.differ("last record", engine.seq(), checkpoint);
        return Ok(report);
    }
    compare_rows(client, schema, dir, options, &mut report)
        .await
        .map_err(|e| match e {
            RowsError::Postgres(e) => CheckError::Postgres(e),
            RowsError::Journal(detail) => rebuild(detail),
        })?;
    compare_accounts(client, schema, &engine, &mut report).await?;
    compare_markets(client, schema, &engine, &mut report).await?;
    Ok(report)
}

enum RowsError {
    Postgres(tokio_postgres::Error),
    Journal(String),
}

/// Row counts per table over the records still on disk up to the checkpoint; nothing past it.
async fn compare_rows(
    client: &Client,
    schema: &str,
    dir: &Path,
    options: RowOptions,
    report: &mut ShardCheck,
) -> Result<(), RowsError> {
    let shard = report.shard;
    let reader = Reader::open(dir).map_err(|e| RowsError::Journal(e.to_string()))?;
    let first = reader.first_seq().unwrap_or(report.checkpoint + 1);
    report.first_seq = first;
    let mut journal: BTreeMap<&'static str, u64> = Rows::TABLES.iter().map(|t| (*t, 0)).collect();
    let mut rows = Rows::default();
    let mut events = Vec::new();
    for record in reader.iter_from(first) {
        let record = record.map_err(|e| RowsError::Journal(e.to_string()))?;
        if record.seq > report.checkpoint {
            break;
        }
        if record.kind != RECORD_INPUT {
            continue;
        }
        let input = record::decode_into(record.payload, &mut events)
            .map_err(|e| RowsError::Journal(format!("record {}: {e}", record.seq)))?;
        rows.push_record(shard, record.seq, &input, &events, options);
        if rows.len() >= 65_536 {
            add_counts(&mut journal, &rows);
            rows.clear();
        }
    }
    add_counts(&mut journal, &rows);
    for table in Rows::TABLES {
        let row = client
            .query_one(
                &format!(
                    "SELECT count(*) FILTER (WHERE seq BETWEEN $2 AND $3), \
                            count(*) FILTER (WHERE seq > $3) \
                     FROM {schema}.{table} WHERE shard = $1"
                ),
                &[
                    &(shard as i16),
                    &(first as i64),
                    &(report.checkpoint as i64),
                ],
            )
            .await
            .map_err(RowsError::Postgres)?;
        let (within, past): (i64, i64) = (row.get(0), row.get(1));
        let expected = journal[table];
        report.rows.push((table, expected, within as u64));
        if expected != within as u64 {
            report.differ(format!("rows in {table}"), expected, within);
        }
        if past != 0 {
            report.differ(format!("rows in {table} past the checkpoint"), 0, past);
        }
    }
    Ok(())
}

fn add_counts(into: &mut BTreeMap<&'static str, u64>, rows: &Rows) {
    for (table, count) in rows.counts() {
        *into.entry(table).or_default() += count as u64;
    }
}

/// Accounts, balances and exposures.
async fn compare_accounts(
    client: &Client,
    schema: &str,
    engine: &Engine,
    report: &mut ShardCheck,
) -> Result<(), CheckError> {
    let shard = report.shard as i16;
    let mut accounts: Vec<AccountId> = engine.account_ids().collect();
    accounts.sort();
    report.accounts = accounts.len();
    let in_pg: Vec<i64> = client
        .query(
            &format!("SELECT account FROM {schema}.accounts WHERE shard = $1 ORDER BY account"),
            &[&shard],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    // The house accounts exist from the engine's start, without an `account_created`.
    let built_in = [AccountId::HOUSE_ROUNDING, AccountId::HOUSE_COMMISSION];
    let in_journal: Vec<i64> = accounts
        .iter()
        .filter(|a| !built_in.contains(a))
        .map(|a| i64::from(a.0))
        .collect();
    if in_pg != in_journal {
        report.differ(
            "accounts",
            format!("{} accounts", in_journal.len()),
            format!(
                "{} accounts ({} not in the journal, {} missing)",
                in_pg.len(),
                in_pg.iter().filter(|a| !in_journal.contains(a)).count(),
                in_journal.iter().filter(|a| !in_pg.contains(a)).count()
            ),
        );
    }
    let mut ledger: HashMap<i64, (i64, i64)> = HashMap::new();
    for row in client
        .query(
            &format!(
                "SELECT DISTINCT ON (account) account, balance_minor, \
                        (sum(amount_minor) OVER (PARTITION BY account))::bigint \
                 FROM {schema}.ledger WHERE shard = $1 \
                 ORDER BY account, seq DESC, event_index DESC"
            ),
            &[&shard],
        )
        .await?
    {
        ledger.insert(row.get(0), (row.get(1), row.get(2)));
    }
    let exposures = rebuild_exposures(client, schema, shard).await?;
    for account in &accounts {
        let id = i64::from(account.0);
        let balance = engine.balance(*account).unwrap_or(0);
        let (last, sum) = ledger.get(&id).copied().unwrap_or((0, 0));
        if balance != last {
            report.differ(format!("balance of account {id}"), balance, last);
        }
        if balance != sum {
            report.differ(format!("sum of the ledger of account {id}"), balance, sum);
        }
        let exposure = engine.exposure(*account).unwrap_or(0);
        let rebuilt = exposures.get(&id).copied().unwrap_or(0);
        if exposure != rebuilt {
            report.differ(format!("exposure of account {id}"), exposure, rebuilt);
        }
    }
    Ok(())
}

/// Matched volume and pools per market.
async fn compare_markets(
    client: &Client,
    schema: &str,
    engine: &Engine,
    report: &mut ShardCheck,
) -> Result<(), CheckError> {
    let shard = report.shard as i16;
    let Reply::Markets(markets) = engine.query(&Query::Markets) else {
        unreachable!("a markets query answers with markets");
    };
    report.markets = markets.len();
    let sums = |sql: String| async move {
        let mut out: HashMap<i64, i64> = HashMap::new();
        for row in client.query(&sql, &[&shard]).await? {
            out.insert(row.get(0), row.get(1));
        }
        Ok::<_, tokio_postgres::Error>(out)
    };
    let matched = sums(format!(
        "SELECT market, sum(stake_minor)::bigint FROM {schema}.trades WHERE shard = $1 \
         GROUP BY market"
    ))
    .await?;
    let pools = sums(format!(
        "SELECT market, sum(CASE kind WHEN 'accepted' THEN stake_minor ELSE -stake_minor END)::bigint \
         FROM {schema}.pool_bets WHERE shard = $1 AND kind IN ('accepted', 'cancelled') \
         GROUP BY market"
    ))
    .await?;
    let in_pg: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {schema}.markets WHERE shard = $1"),
            &[&shard],
        )
        .await?
        .get(0);
    if in_pg != markets.len() as i64 {
        report.differ("markets", markets.len(), in_pg);
    }
    for view in &markets {
        let Some(odds) = engine.market_odds(view.market) else {
            continue;
        };
        let id = i64::from(view.market.0);
        let volume: i64 = odds.selections.iter().map(|s| s.matched_minor).sum();
        let pool: i64 = odds.selections.iter().map(|s| s.pool_minor).sum();
        let pg_volume = matched.get(&id).copied().unwrap_or(0);
        if volume != pg_volume {
            report.differ(format!("matched volume of market {id}"), volume, pg_volume);
        }
        let pg_pool = pools.get(&id).copied().unwrap_or(0);
        if pool != pg_pool {
            report.differ(format!("pool of market {id}"), pool, pg_pool);
        }
    }
    Ok(())
}

/// The reasons a delayed order is refused with when its in-play delay ends (the `rejected`
/// event names the order, and its unmatched stake is released).
const DELAYED: &str = "'post_only_would_match', 'fok_not_filled', 'market_suspended_during_delay'";

/// What changes a position, in journal order.
enum Change {
    Accepted {
        order: i64,
        account: i64,
        market: i64,
        selection: i64,
        side: Side,
        odds: u32,
        stake: i64,
    },
    Replaced {
        order: i64,
        odds: u32,
        stake: i64,
    },
    Cancelled {
        order: i64,
        stake: i64,
    },
    Dropped {
        order: i64,
    },
    Trade {
        maker: i64,
        taker: i64,
        odds: u32,
        stake: i64,
    },
    Bet {
        account: i64,
        market: i64,
        selection: i64,
        stake: i64,
    },
    Final {
        market: i64,
    },
}

struct Open {
    account: i64,
    market: i64,
    selection: i64,
    side: Side,
    odds: u32,
    remaining: i64,
}

struct MarketShape {
    selections: usize,
    places: u8,
    /// Selection ids in the order first seen: exposure does not depend on the order.
    index: HashMap<i64, usize>,
}

/// Every account's exposure, rebuilt from the rows of one shard alone.
async fn rebuild_exposures(
    client: &Client,
    schema: &str,
    shard: i16,
) -> Result<HashMap<i64, i64>, CheckError> {
    let mut shapes: HashMap<i64, MarketShape> = HashMap::new();
    for row in client
        .query(
            &format!("SELECT market, selections, places FROM {schema}.markets WHERE shard = $1"),
            &[&shard],
        )
        .await?
    {
        shapes.insert(
            row.get(0),
            MarketShape {
                selections: row.get::<_, i16>(1) as usize,
                places: row.get::<_, i16>(2) as u8,
                index: HashMap::new(),
            },
        );
    }
    let side = |text: &str| if text == "lay" { Side::Lay } else { Side::Back };
    let mut changes: Vec<((i64, i32), Change)> = Vec::new();
    for row in client
        .query(
            &format!(
                "SELECT seq, event_index, kind, order_id, account, market, selection, side, \
                        odds_x100, stake_minor \
                 FROM {schema}.order_events \
                 WHERE shard = $1 AND (kind IN ('accepted', 'replaced', 'cancelled') \
                    OR kind = 'rejected' AND command = 'place_order' AND reason IN ({DELAYED}))"
            ),
            &[&shard],
        )
        .await?
    {
        let at = (row.get(0), row.get(1));
        let Some(order) = row.get::<_, Option<i64>>(3) else {
            continue; // a refusal before the order existed
        };
        let stake: i64 = row.get::<_, Option<i64>>(9).unwrap_or(0);
        let change = match row.get::<_, &str>(2) {
            "accepted" => Change::Accepted {
                order,
                account: row.get(4),
                market: row.get(5),
                selection: row.get(6),
                side: side(row.get(7)),
                odds: row.get::<_, i32>(8) as u32,
                stake,
            },
            "replaced" => Change::Replaced {
                order,
                odds: row.get::<_, i32>(8) as u32,
                stake,
            },
            "cancelled" => Change::Cancelled { order, stake },
            // A delayed order refused when its delay ended: whatever was left goes.
            _ => Change::Dropped { order },
        };
        changes.push((at, change));
    }
    for row in client
        .query(
            &format!(
                "SELECT seq, event_index, maker_order_id, taker_order_id, odds_x100, stake_minor \
                 FROM {schema}.trades WHERE shard = $1"
            ),
            &[&shard],
        )
        .await?
    {
        changes.push((
            (row.get(0), row.get(1)),
            Change::Trade {
                maker: row.get(2),
                taker: row.get(3),
                odds: row.get::<_, i32>(4) as u32,
                stake: row.get(5),
            },
        ));
    }
    for row in client
        .query(
            &format!(
                "SELECT seq, event_index, kind, account, market, selection, stake_minor \
                 FROM {schema}.pool_bets WHERE shard = $1 AND kind IN ('accepted', 'cancelled')"
            ),
            &[&shard],
        )
        .await?
    {
        let stake: i64 = row.get(6);
        changes.push((
            (row.get(0), row.get(1)),
            Change::Bet {
                account: row.get(3),
                market: row.get(4),
                selection: row.get(5),
                stake: if row.get::<_, &str>(2) == "accepted" {
                    stake
                } else {
                    -stake
                },
            },
        ));
    }
    for row in client
        .query(
            &format!(
                "SELECT seq, event_index, market FROM {schema}.market_status \
                 WHERE shard = $1 AND status IN ('settled', 'voided')"
            ),
            &[&shard],
        )
        .await?
    {
        changes.push((
            (row.get(0), row.get(1)),
            Change::Final { market: row.get(2) },
        ));
    }
    changes.sort_by_key(|(at, _)| *at);

    let mut open: HashMap<i64, Open> = HashMap::new();
    // (market, account) -> per-selection outcomes.
    let mut positions: BTreeMap<(i64, i64), Vec<Contribution>> = BTreeMap::new();
    let mut add = |shapes: &mut HashMap<i64, MarketShape>,
                   account: i64,
                   market: i64,
                   selection: i64,
                   c: Contribution| {
        let Some(shape) = shapes.get_mut(&market) else {
            return;
        };
        let next = shape.index.len();
        let index = *shape.index.entry(selection).or_insert(next);
        let outcomes = positions
            .entry((market, account))
            .or_insert_with(|| vec![Contribution::ZERO; shape.selections.max(index + 1)]);
        if outcomes.len() <= index {
            outcomes.resize(index + 1, Contribution::ZERO);
        }
        outcomes[index] = outcomes[index] + c;
    };
    let mut finals = Vec::new();
    for (_, change) in changes {
        match change {
            Change::Accepted {
                order,
                account,
                market,
                selection,
                side,
                odds,
                stake,
            } => {
                add(
                    &mut shapes,
                    account,
                    market,
                    selection,
                    Contribution::unmatched(side, odds, stake),
                );
                open.insert(
                    order,
                    Open {
                        account,
                        market,
                        selection,
                        side,
                        odds,
                        remaining: stake,
                    },
                );
            }
            Change::Replaced { order, odds, stake } => {
                if let Some(o) = open.get_mut(&order) {
                    let old = Contribution::unmatched(o.side, o.odds, o.remaining);
                    let new = Contribution::unmatched(o.side, odds, stake);
                    (o.odds, o.remaining) = (odds, stake);
                    let (account, market, selection) = (o.account, o.market, o.selection);
                    add(&mut shapes, account, market, selection, new - old);
                }
            }
            Change::Cancelled { order, stake } => {
                if let Some(o) = open.get_mut(&order) {
                    let gone = Contribution::unmatched(o.side, o.odds, stake);
                    o.remaining -= stake;
                    let (account, market, selection) = (o.account, o.market, o.selection);
                    add(&mut shapes, account, market, selection, -gone);
                    open.remove(&order);
                }
            }
            Change::Dropped { order } => {
                if let Some(o) = open.remove(&order) {
                    let gone = Contribution::unmatched(o.side, o.odds, o.remaining);
                    add(&mut shapes, o.account, o.market, o.selection, -gone);
                }
            }
            Change::Trade {
                maker,
                taker,
                odds,
                stake,
            } => {
                for id in [maker, taker] {
                    if let Some(o) = open.get_mut(&id) {
                        let change = Contribution::matched(o.side, odds, stake)
                            - Contribution::unmatched(o.side, o.odds, stake);
                        o.remaining -= stake;
                        let (account, market, selection) = (o.account, o.market, o.selection);
                        if o.remaining == 0 {
                            open.remove(&id);
                        }
                        add(&mut shapes, account, market, selection, change);
                    }
                }
            }
            Change::Bet {
                account,
                market,
                selection,
                stake,
            } => {
                let loss = -100 * i128::from(stake);
                add(
                    &mut shapes,
                    account,
                    market,
                    selection,
                    Contribution {
                        win: loss,
                        lose: loss,
                    },
                );
            }
            Change::Final { market } => finals.push(market),
        }
    }
    let mut exposures: HashMap<i64, i64> = HashMap::new();
    for ((market, account), outcomes) in &positions {
        if finals.contains(market) {
            continue;
        }
        let places = shapes.get(market).map_or(1, |s| s.places);
        *exposures.entry(*account).or_default() += exposure_minor(places, outcomes);
    }
    Ok(exposures)
}
