//! The Postgres schema and its migrations.
//!
//! Migrations are embedded SQL, applied in order at start inside one transaction each, and
//! recorded in `schema_version`; an applied migration is never edited, a change is a new one.
//! Every table lives in one Postgres schema (`oddsmatch` by default), so that a test or a second
//! deployment can use its own.
//!
//! Every event table is append-only and keyed by its journal position `(shard, seq,
//! event_index)`: a row can be written once only, whatever a crash makes the flusher repeat.

use tokio_postgres::Client;

/// One migration: its version (from 1, consecutive), a name, and its SQL.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// Its number.
    pub version: i32,
    /// What it does, in a few words.
    pub name: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "event tables, checkpoints and dashboard indexes",
        sql: r#"
CREATE TABLE markets (
    shard smallint NOT NULL, seq bigint NOT NULL, event_index integer NOT NULL,
    ts timestamptz NOT NULL,
    market bigint NOT NULL, kind text NOT NULL, selections smallint NOT NULL,
    places smallint NOT NULL, ladder text NOT NULL,
    commission_bps integer NOT NULL, takeout_bps integer NOT NULL,
    PRIMARY KEY (shard, seq, event_index)
);
CREATE TABLE market_status (
    shard smallint NOT NULL, seq bigint NOT NULL, event_index integer NOT NULL,
    ts timestamptz NOT NULL,
    market bigint NOT NULL, book_seq bigint NOT NULL, status text NOT NULL, cause text NOT NULL,
    PRIMARY KEY (shard, seq, event_index)
);
CREATE TABLE accounts (
    shard smallint NOT NULL, seq bigint NOT NULL, event_index integer NOT NULL,
    ts timestamptz NOT NULL,
    account bigint NOT NULL, tier text NOT NULL,
    PRIMARY KEY (shard, seq, event_index)
);
CREATE TABLE order_events (
    shard smallint NOT NULL, seq bigint NOT NULL, event_index integer NOT NULL,
    ts timestamptz NOT NULL,
    kind text NOT NULL,
    account bigint, market bigint, order_id bigint, client_order_id numeric(20),
    selection bigint, side text, odds_x100 integer, stake_minor bigint,
    tif text, persistence text, reason text, command text,
    PRIMARY KEY (shard, seq, event_index)
);
CREATE TABLE trades (
    shard smallint NOT NULL, seq bigint NOT NULL, event_index integer NOT NULL,
    ts timestamptz NOT NULL,
    market bigint NOT NULL, book_seq bigint NOT NULL, selection bigint NOT NULL,
    odds_x100 integer NOT NULL, stake_minor bigint NOT NULL,
    maker_order_id bigint NOT NULL, taker_order_id bigint NOT NULL,
    maker_account bigint NOT NULL, taker_account bigint NOT NULL, taker_side text NOT NULL,
    PRIMARY KEY (shard, seq, event_index)
);
CREATE TABLE pool_bets (
    shard smallint NOT NULL, seq bigint NOT NULL, event_index integer NOT NULL,
    ts timestamptz NOT NULL,
    kind text NOT NULL,
    bet_id bigint NOT NULL, account bigint NOT NULL, market bigint NOT NULL,
    selection bigint, stake_minor bigint NOT NULL, payout_minor bigint,
    client_order_id numeric(20),
    PRIMARY KEY (shard, seq, event_index)
);
CREATE TABLE settlements (
    shard smallint NOT NULL, seq bigint NOT NULL, event_index integer NOT NULL,
    ts timestamptz NOT NULL,
    market bigint NOT NULL, winners bigint[] NOT NULL,
    PRIMARY KEY (shard, seq, event_index)
);
CREATE TABLE payouts (
    shard smallint NOT NULL, seq bigint NOT NULL, event_index integer NOT NULL,
    ts timestamptz NOT NULL,
    account bigint NOT NULL, market bigint NOT NULL,
    pnl_minor bigint NOT NULL, commission_minor bigint NOT NULL,
    PRIMARY KEY (shard, seq, event_index)
);
CREATE TABLE ledger (
    shard smallint NOT NULL, seq bigint NOT NULL, event_index integer NOT NULL,
    ts timestamptz NOT NULL,
    account bigint NOT NULL, kind text NOT NULL, amount_minor bigint NOT NULL,
    balance_minor bigint NOT NULL, reference numeric(20) NOT NULL,
    PRIMARY KEY (shard, seq, event_index)
);
CREATE TABLE votes (
    shard smallint NOT NULL, seq bigint NOT NULL, event_index integer NOT NULL,
    ts timestamptz NOT NULL,
    account bigint NOT NULL, market bigint NOT NULL, selection bigint NOT NULL,
    weight bigint NOT NULL, replaced boolean NOT NULL,
    PRIMARY KEY (shard, seq, event_index)
);
CREATE TABLE odds_ticks (
    shard smallint NOT NULL, seq bigint NOT NULL, event_index integer NOT NULL,
    ts timestamptz NOT NULL,
    market bigint NOT NULL, tick_seq bigint NOT NULL, reason text NOT NULL,
    status text NOT NULL, overround_bps integer NOT NULL,
    PRIMARY KEY (shard, seq, event_index)
);
CREATE TABLE checkpoints (
    shard smallint PRIMARY KEY,
    seq bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_events_account_ts ON order_events (account, ts);
CREATE INDEX trades_maker_ts ON trades (maker_account, ts);
CREATE INDEX trades_taker_ts ON trades (taker_account, ts);
CREATE INDEX trades_market_ts ON trades (market, ts);
CREATE INDEX ledger_account_seq ON ledger (account, shard, seq);
CREATE INDEX pool_bets_account_ts ON pool_bets (account, ts);
"#,
    },
    Migration {
        version: 2,
        name: "order flags, account and market events, per-selection odds of sampled ticks",
        sql: r#"
ALTER TABLE order_events
    ADD COLUMN quote boolean,
    ADD COLUMN priority_kept boolean,
    ADD COLUMN delayed_until timestamptz,
    ADD COLUMN reason_code smallint;
CREATE TABLE account_events (
    shard smallint NOT NULL, seq bigint NOT NULL, event_index integer NOT NULL,
    ts timestamptz NOT NULL,
    account bigint NOT NULL, kind text NOT NULL, key_id numeric(20),
    PRIMARY KEY (shard, seq, event_index)
);
CREATE TABLE market_events (
    shard smallint NOT NULL, seq bigint NOT NULL, event_index integer NOT NULL,
    ts timestamptz NOT NULL,
    market bigint NOT NULL, kind text NOT NULL,
    selection bigint, account bigint, source text,
    from_odds_x100 integer, to_odds_x100 integer, move_bps integer, total_bps integer,
    voters integer, total_weight bigint, leading_weight bigint,
    PRIMARY KEY (shard, seq, event_index)
);
CREATE TABLE selection_odds (
    shard smallint NOT NULL, seq bigint NOT NULL, event_index integer NOT NULL,
    ts timestamptz NOT NULL,
    market bigint NOT NULL, tick_seq bigint NOT NULL, selection bigint NOT NULL,
    back_x100 integer NOT NULL, lay_x100 integer NOT NULL, last_traded_x100 integer NOT NULL,
    indicative_x100 integer NOT NULL, implied_bps integer NOT NULL, reference_bps integer NOT NULL,
    matched_minor bigint NOT NULL, pool_minor bigint NOT NULL,
    PRIMARY KEY (shard, seq, event_index)
);
CREATE INDEX odds_ticks_market_ts ON odds_ticks (market, ts);
CREATE INDEX selection_odds_market_ts ON selection_odds (market, ts);
CREATE INDEX payouts_account_ts ON payouts (account, ts);
"#,
    },
    Migration {
        version: 3,
        name: "operator changes to live accounts and markets: limits, knobs, schedules",
        sql: r#"
CREATE TABLE account_limits (
    shard smallint NOT NULL, seq bigint NOT NULL, event_index integer NOT NULL,
    ts timestamptz NOT NULL,
    account bigint NOT NULL, tier text NOT NULL, stp text NOT NULL,
    min_stake_minor bigint NOT NULL, max_stake_minor bigint NOT NULL,
    max_market_exposure_minor bigint NOT NULL, max_open_orders bigint NOT NULL,
    PRIMARY KEY (shard, seq, event_index)
);
CREATE TABLE market_changes (
    shard smallint NOT NULL, seq bigint NOT NULL, event_index integer NOT NULL,
    ts timestamptz NOT NULL,
    market bigint NOT NULL, kind text NOT NULL,
    odds_change_threshold_bps integer, odds_tick_interval_ms integer, odds_heartbeat_ms integer,
    circuit_breaker_bps integer, circuit_breaker_window_ms integer,
    circuit_breaker_min_pool_minor bigint, price_band_bps integer,
    max_bet_minor bigint, max_exposure_minor bigint, bet_delay_ms integer,
    lock_at timestamptz, end_at timestamptz, lock_before_end_ms integer, close_at timestamptz,
    PRIMARY KEY (shard, seq, event_index)
);
CREATE INDEX account_limits_account_ts ON account_limits (account, ts);
CREATE INDEX market_changes_market_ts ON market_changes (market, ts);
"#,
    },
];

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The schema name is not a plain identifier.
    #[error("schema name {0:?} must be lowercase letters, digits and underscores")]
    BadName(String),
    /// The database holds a newer schema than this build knows.
    #[error("the database's schema is at version {found}; this build knows up to {known}")]
    Newer {
        /// The version found.
        found: i32,
        /// The newest this build has.
        known: i32,
    },
    /// Postgres refused a statement.
    #[error("postgres: {}", describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
}

/// A Postgres error with its cause: the server's message and SQLSTATE, or the I/O error
/// under a connection failure (the error's own `Display` names only its kind).
pub fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        None => match std::error::Error::source(error) {
            Some(cause) => format!("{error}: {cause}"),
            None => error.to_string(),
        },
    }
}

/// Checks that `name` can be used as an unquoted schema name.
pub fn check_name(name: &str) -> Result<(), SchemaError> {
    let plain = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        Ok(())
    } else {
        Err(SchemaError::BadName(name.to_owned()))
    }
}

/// Creates the schema if needed and applies every migration it has not had yet. Returns the
/// versions applied now. Safe to run from several processes at once: the schema is locked
/// while it migrates.
pub async fn migrate(client: &mut Client, schema: &str) -> Result<Vec<i32>, SchemaError> {
    check_name(schema)?;
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    let tx = client.transaction().await?;
    tx.batch_execute(&format!(
        "SET LOCAL client_min_messages TO warning;
         CREATE SCHEMA IF NOT EXISTS {schema};
         SET LOCAL search_path TO {schema};
         CREATE TABLE IF NOT EXISTS schema_version (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );
         LOCK TABLE schema_version IN EXCLUSIVE MODE;"
    ))
    .await?;
    let current: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .await?
        .get(0);
    if current > known {
        return Err(SchemaError::Newer {
            found: current,
            known,
        });
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(migration.sql).await?;
        tx.execute(
            "INSERT INTO schema_version (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await?;
        applied.push(migration.version);
    }
    tx.commit().await?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i32 + 1, "{}", migration.name);
        }
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        check_name("oddsmatch").unwrap();
        check_name("oddsmatch_test_12").unwrap();
        for bad in ["", "Oddsmatch", "a-b", "a;drop", "1abc", &"x".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
