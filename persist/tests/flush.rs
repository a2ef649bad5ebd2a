//! The flush against the real Postgres server, each test in a schema of its own.

mod support;

use oddsmatch_persist::rows::{RowOptions, Rows};
use oddsmatch_persist::{PersistConfig, Persister, Source};
use support::*;

/// The rows the flush should write for `applied` (records from seq 1).
fn expected_rows(applied: &[(oddsmatch_engine::Input, Vec<oddsmatch_engine::Event>)]) -> Rows {
    let mut rows = Rows::default();
    for (index, (input, events)) in applied.iter().enumerate() {
        rows.push_record(0, index as u64 + 1, input, events, RowOptions::default());
    }
    rows
}

async fn table_counts(schema: &str) -> Vec<(&'static str, usize)> {
    let client = connect().await;
    let mut counts = Vec::new();
    for table in Rows::TABLES {
        let row = client
            .query_one(&format!("SELECT count(*) FROM {schema}.{table}"), &[])
            .await
            .unwrap();
        counts.push((*table, row.get::<_, i64>(0) as usize));
    }
    counts
}

#[test]
fn a_random_stream_lands_row_for_row() {
    let dir = scratch("stream");
    let (engine, applied) = write_journal(&dir, 7, 3_000, None);
    let schema = unique_schema("stream");
    let _guard = SchemaGuard(schema.clone());
    let mut config = PersistConfig::new(url());
    config.schema = schema.clone();
    config.batch_records = 500;
    let persister = Persister::start(config, vec![Source::to_end(0, &dir)]).unwrap();
    let progress = persister.wait().unwrap();
    assert_eq!(progress[0].committed_seq, engine.seq(), "{progress:?}");
    let expected = expected_rows(&applied);
    assert_eq!(run(table_counts(&schema)), expected.counts());
}

#[test]
fn the_reconciliation_passes_after_a_flush_and_names_what_was_tampered_with() {
    use oddsmatch_persist::check::check;
    // Two streams left open (orders resting, exposures held) and one settled to the end.
    for (seed, open) in [(21, true), (22, true), (23, false)] {
        let dir = scratch(&format!("check-{seed}"));
        let (engine, _) = if open {
            write_inputs(&dir, &open_stream(seed, 2_000), None)
        } else {
            write_journal(&dir, seed, 2_000, None)
        };
        let exposed = engine
            .account_ids()
            .filter(|a| engine.exposure(*a) != Some(0));
        assert_eq!(exposed.count() > 0, open, "seed {seed}");
        let schema = unique_schema("check");
        let _guard = SchemaGuard(schema.clone());
        let mut config = PersistConfig::new(url());
        config.schema = schema.clone();
        Persister::start(config, vec![Source::to_end(0, &dir)])
            .unwrap()
            .wait()
            .unwrap();
        run(async {
            let client = connect().await;
            let shards = [(0u16, dir.clone())];
            let reconcile = || check(&client, &schema, &shards, RowOptions::default());
            let report = reconcile().await.unwrap();
            assert_eq!(report[0].differences, vec![], "seed {seed}: {report:?}");
            assert!(
                report[0].accounts > 2 && report[0].markets > 0,
                "{report:?}"
            );
            assert!(report[0].rows.iter().all(|(_, journal, pg)| journal == pg));
            assert!(report[0].rows.iter().filter(|(_, n, _)| *n > 0).count() >= 12);

            // A lost trade, a changed balance, a row past the checkpoint: each is named.
            client
                .batch_execute(&format!(
                    "DELETE FROM {schema}.trades WHERE (seq, event_index) = \
                         (SELECT seq, event_index FROM {schema}.trades ORDER BY seq LIMIT 1);
                     UPDATE {schema}.ledger SET balance_minor = balance_minor + 1 \
                         WHERE (seq, event_index) = (SELECT seq, event_index FROM {schema}.ledger \
                         ORDER BY seq DESC, event_index DESC LIMIT 1);
                     INSERT INTO {schema}.votes SELECT shard, seq + 1000000, event_index, ts, \
                         account, market, selection, weight, replaced FROM {schema}.votes LIMIT 1;"
                ))
                .await
                .unwrap();
            let report = reconcile().await.unwrap();
            let named: Vec<String> = report[0]
                .differences
                .iter()
                .map(|d| d.what.clone())
                .collect();
            assert!(named.contains(&"rows in trades".to_owned()), "{named:?}");
            assert!(
                named.contains(&"rows in votes past the checkpoint".to_owned()),
                "{named:?}"
            );
            assert!(
                named.iter().any(|w| w.starts_with("balance of account")),
                "{named:?}"
            );
            assert!(
                named
                    .iter()
                    .any(|w| w.starts_with("matched volume of market")),
                "{named:?}"
            );
        });
    }
}
