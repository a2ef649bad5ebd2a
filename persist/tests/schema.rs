//! Migrations against the real Postgres server (127.0.0.1:5432, user `postgres`, database
//! `test`, or `ODDSMATCH_TEST_POSTGRES`), each test in a schema of its own, dropped at the end.

mod support;

use oddsmatch_persist::rows::Rows;
use oddsmatch_persist::schema::{MIGRATIONS, SchemaError, migrate};
use support::{SchemaGuard, connect, run, unique_schema};

#[test]
fn migrations_apply_once_and_tables_refuse_a_second_row_at_one_position() {
    // The guard drops the schema after the runtime is gone, with every connection closed.
    let schema = unique_schema("apply");
    let _guard = SchemaGuard(schema.clone());
    run(async {
        let mut client = connect().await;
        let applied = migrate(&mut client, &schema).await.unwrap();
        assert_eq!(
            applied,
            MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>()
        );
        assert!(
            migrate(&mut client, &schema).await.unwrap().is_empty(),
            "nothing twice"
        );

        let tables: Vec<String> = client
            .query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 \
                 ORDER BY table_name",
                &[&schema],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        for table in Rows::TABLES
            .iter()
            .chain(&["checkpoints", "schema_version"])
        {
            assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
        }

        let insert = format!(
            "INSERT INTO {schema}.ledger (shard, seq, event_index, ts, account, kind, \
             amount_minor, balance_minor, reference) VALUES (0, 7, 1, now(), 1, 'deposit', 5, 5, 1)"
        );
        client.execute(insert.as_str(), &[]).await.unwrap();
        let again = client.execute(insert.as_str(), &[]).await.unwrap_err();
        assert_eq!(
            again.code(),
            Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION),
            "one row per journal position"
        );
    });
}

/// A database migrated by an earlier build (up to version 2) gets only what it lacks.
#[test]
fn an_older_schema_gets_only_the_later_migrations() {
    let schema = unique_schema("older");
    let _guard = SchemaGuard(schema.clone());
    run(async {
        let mut client = connect().await;
        client
            .batch_execute(&format!(
                "CREATE SCHEMA {schema}; SET search_path TO {schema};
                 CREATE TABLE schema_version (version integer PRIMARY KEY, name text NOT NULL,
                     applied_at timestamptz NOT NULL DEFAULT now());"
            ))
            .await
            .unwrap();
        for migration in &MIGRATIONS[..2] {
            client.batch_execute(migration.sql).await.unwrap();
            client
                .execute(
                    "INSERT INTO schema_version (version, name) VALUES ($1, $2)",
                    &[&migration.version, &migration.name],
                )
                .await
                .unwrap();
        }
        client.batch_execute("RESET search_path").await.unwrap();
        let applied = migrate(&mut client, &schema).await.unwrap();
        assert_eq!(
            applied,
            MIGRATIONS[2..]
                .iter()
                .map(|m| m.version)
                .collect::<Vec<_>>()
        );
        for table in ["account_limits", "market_changes"] {
            let count: i64 = client
                .query_one(&format!("SELECT count(*) FROM {schema}.{table}"), &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(count, 0, "{table}");
        }
    });
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    // The guard drops the schema after the runtime is gone, with every connection closed.
    let schema = unique_schema("newer");
    let _guard = SchemaGuard(schema.clone());
    run(async {
        let mut client = connect().await;
        migrate(&mut client, &schema).await.unwrap();
        client
            .execute(
                format!("INSERT INTO {schema}.schema_version (version, name) VALUES (999, 'x')")
                    .as_str(),
                &[],
            )
            .await
            .unwrap();
        let error = migrate(&mut client, &schema).await.unwrap_err();
        assert!(
            matches!(error, SchemaError::Newer { found: 999, .. }),
            "{error}"
        );
        let bad = migrate(&mut client, "Robert'); DROP TABLE students;--").await;
        assert!(matches!(bad, Err(SchemaError::BadName(_))));
    });
}
