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
            let shards = [(0u16, dir.to_path_buf())];
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

/// Operators' changes to live accounts and markets land in `account_limits` and
/// `market_changes` with their values (a limit the market goes without is null), their
/// refusals in `order_events`, and the reconciliation agrees.
#[test]
fn operator_changes_land_with_their_values() {
    use std::time::{Duration, SystemTime};

    use oddsmatch_engine::{
        AccountId, Command, Input, MarketId, MarketKnobs, MarketSpec, SelectionId,
        SelfTradePrevention, Tier,
    };
    use oddsmatch_persist::check::check;

    const T: u64 = 1_700_000_000_000_000_000;
    const SECOND: u64 = 1_000_000_000;
    let market = MarketId(7);
    let schedule = |end_at, close_at, clear_lock| Command::ScheduleMarket {
        market,
        lock_at: None,
        end_at,
        lock_before_end_ms: None,
        close_at,
        clear_lock,
        clear_close: false,
    };
    let knobs = |change: fn(&mut MarketKnobs)| {
        let mut knobs = MarketKnobs::new(market);
        change(&mut knobs);
        Command::set_market_knobs(knobs)
    };
    let commands = vec![
        Command::create_account(AccountId(1), Tier::Basic),
        Command::Deposit {
            account: AccountId(1),
            amount_minor: 1_000_000,
            transfer_id: 1,
        },
        Command::create_market(MarketSpec::new(
            market,
            vec![SelectionId(1), SelectionId(2)],
        )),
        Command::OpenMarket { market },
        Command::SetAccountLimits {
            account: AccountId(1),
            tier: Tier::Pro,
            min_stake_minor: Some(10),
            max_stake_minor: None,
            max_market_exposure_minor: None,
            max_open_orders: Some(3),
            stp: Some(SelfTradePrevention::CancelBoth),
        },
        Command::SetAccountLimits {
            account: AccountId(999),
            tier: Tier::Pro,
            min_stake_minor: None,
            max_stake_minor: None,
            max_market_exposure_minor: None,
            max_open_orders: None,
            stp: None,
        },
        knobs(|k| {
            k.price_band_bps = Some(500);
            k.max_bet_minor = Some(1_000);
        }),
        knobs(|k| k.price_band_bps = Some(0)),
        schedule(Some(T + 60 * SECOND), Some(T + 70 * SECOND), false),
        schedule(None, None, true),
        schedule(Some(T), None, false),
    ];
    let inputs: Vec<Input> = commands
        .into_iter()
        .enumerate()
        .map(|(n, command)| Input {
            ts_ns: T + n as u64,
            command,
        })
        .collect();
    let dir = scratch("operator");
    let (engine, _) = write_inputs(&dir, &inputs, None);
    let schema = unique_schema("operator");
    let _guard = SchemaGuard(schema.clone());
    let mut config = PersistConfig::new(url());
    config.schema = schema.clone();
    let progress = Persister::start(config, vec![Source::to_end(0, &dir)])
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(progress[0].committed_seq, engine.seq());
    let at = |ns: u64| SystemTime::UNIX_EPOCH + Duration::from_nanos(ns);
    run(async {
        let client = connect().await;
        let limits = client
            .query(
                &format!(
                    "SELECT seq, account, tier, stp, min_stake_minor, max_stake_minor, \
                     max_market_exposure_minor, max_open_orders FROM {schema}.account_limits"
                ),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(limits.len(), 1);
        let row = &limits[0];
        assert_eq!(
            (
                row.get::<_, i64>(0),
                row.get::<_, i64>(1),
                row.get::<_, String>(2),
                row.get::<_, String>(3),
            ),
            (5, 1, "pro".to_owned(), "cancel_both".to_owned())
        );
        assert_eq!(
            (
                row.get::<_, i64>(4),
                row.get::<_, i64>(5),
                row.get::<_, i64>(6),
                row.get::<_, i64>(7),
            ),
            (10, 10_000_000, 100_000_000, 3)
        );

        let changes = client
            .query(
                &format!(
                    "SELECT kind, price_band_bps, max_bet_minor, max_exposure_minor, \
                     odds_heartbeat_ms, lock_at, end_at, lock_before_end_ms, close_at \
                     FROM {schema}.market_changes WHERE market = 7 ORDER BY seq"
                ),
                &[],
            )
            .await
            .unwrap();
        type Change = (
            String,
            Option<i32>,
            Option<i64>,
            Option<i64>,
            Option<i32>,
            Option<SystemTime>,
            Option<SystemTime>,
            Option<i32>,
            Option<SystemTime>,
        );
        let changes: Vec<Change> = changes
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                    r.get(7),
                    r.get(8),
                )
            })
            .collect();
        let knobs_row = |band| {
            (
                "knobs".to_owned(),
                band,
                Some(1_000),
                None,
                Some(1_000),
                None,
                None,
                None,
                None,
            )
        };
        assert_eq!(
            changes,
            vec![
                knobs_row(Some(500)),
                knobs_row(None),
                (
                    "schedule".to_owned(),
                    None,
                    None,
                    None,
                    None,
                    Some(at(T + 57 * SECOND)),
                    Some(at(T + 60 * SECOND)),
                    Some(3_000),
                    Some(at(T + 70 * SECOND)),
                ),
                (
                    "schedule".to_owned(),
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    Some(3_000),
                    Some(at(T + 70 * SECOND)),
                ),
            ]
        );

        let rejects: Vec<(String, String, i16)> = client
            .query(
                &format!(
                    "SELECT command, reason, reason_code FROM {schema}.order_events \
                     WHERE kind = 'rejected' ORDER BY seq"
                ),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        assert_eq!(
            rejects,
            [
                (
                    "set_account_limits".to_owned(),
                    "unknown_account".to_owned(),
                    400
                ),
                (
                    "schedule_market".to_owned(),
                    "invalid_schedule".to_owned(),
                    113
                ),
            ]
        );

        let report = check(
            &client,
            &schema,
            &[(0, dir.to_path_buf())],
            RowOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(report[0].differences, vec![], "{report:?}");
        let rows = |table| {
            report[0]
                .rows
                .iter()
                .find(|(t, _, _)| *t == table)
                .map(|(_, journal, pg)| (*journal, *pg))
        };
        assert_eq!(rows("account_limits"), Some((1, 1)));
        assert_eq!(rows("market_changes"), Some((4, 4)));
    });
}
