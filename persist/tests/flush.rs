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
