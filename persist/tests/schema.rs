//! Migrations against the real Postgres server (127.0.0.1:5432, user `postgres`, database
//! `test`, or `ODDSMATCH_TEST_POSTGRES`), each test in a schema of its own, dropped at the end.

use oddsmatch_persist::schema::{MIGRATIONS, SchemaError, migrate};
use tokio_postgres::{Client, NoTls};

fn url() -> String {
    std::env::var("ODDSMATCH_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned())
}

async fn connect() -> Client {
    let url = url();
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "cannot reach Postgres at `{url}`: {error}. Start it with `pg_ctlcluster \
             --skip-systemctl-redirect $(ls /etc/postgresql) main start` (`.ci/run` does), or \
             point ODDSMATCH_TEST_POSTGRES at a server"
            )
        });
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A schema name no other test or run uses.
fn unique_schema(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("oddsmatch_test_{test}_{}_{nanos}", std::process::id())
}

fn run<F: std::future::Future<Output = ()>>(future: F) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future);
}

#[test]
fn migrations_apply_once_and_tables_refuse_a_second_row_at_one_position() {
    run(async {
        let mut client = connect().await;
        let schema = unique_schema("apply");
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
        for table in [
            "accounts",
            "checkpoints",
            "ledger",
            "market_status",
            "markets",
            "odds_ticks",
            "order_events",
            "payouts",
            "pool_bets",
            "schema_version",
            "settlements",
            "trades",
            "votes",
        ] {
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

        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
    });
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    run(async {
        let mut client = connect().await;
        let schema = unique_schema("newer");
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
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
    });
}
