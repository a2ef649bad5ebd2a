//! Queries through a shard: they ride the command queue, are answered after the commands
//! queued before them were committed and acknowledged, are never journaled, wake a sleeping
//! consumer, and never make the shard wait for a slow reader.

// These tests drive the shard from outside, with real threads, files and clocks.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use oddsmatch_engine::shard::{
    Answer, Batch, Notify, ReplayOptions, ShardConfig, ShardHandle, Start, SubmitError, replay,
};
use oddsmatch_engine::{
    AccountId, AccountView, ApiKeyView, ApiSecret, Command, EngineConfig, Event, MarketId,
    MarketSpec, OrderId, Query, Reply, Role, SelectionId, Side, Tier, TimeInForce,
};

const WAIT: Duration = Duration::from_secs(10);
const TRADER: AccountId = AccountId(1);
const MARKET: MarketId = MarketId(7);
const SECRET: ApiSecret = ApiSecret([0x42; 32]);

fn config(dir: &Path) -> ShardConfig {
    let mut config = ShardConfig::new(dir);
    config.engine = EngineConfig::small();
    config.journal.segment_bytes = 256 * 1024;
    config
}

/// An account with money and a key, an open market, and one resting order (order id 1).
fn setup_commands() -> Vec<Command> {
    vec![
        Command::create_account(TRADER, Tier::Pro),
        Command::Deposit {
            account: TRADER,
            amount_minor: 100_000,
            transfer_id: 1,
        },
        Command::SetApiKey {
            account: TRADER,
            key_id: 77,
            secret: SECRET,
        },
        Command::create_market(MarketSpec::new(
            MARKET,
            vec![SelectionId(1), SelectionId(2)],
        )),
        Command::OpenMarket { market: MARKET },
        Command::PlaceOrder {
            account: TRADER,
            market: MARKET,
            selection: SelectionId(1),
            side: Side::Back,
            odds_x100: 250,
            stake_minor: 1_000,
            tif: TimeInForce::Gtc,
            post_only: false,
            persistence: Default::default(),
            client_order_id: 11,
        },
    ]
}

/// The command tags answered in the acks read so far.
fn acked_tags(acks: &Receiver<Arc<Batch>>, tags: &mut Vec<u64>) {
    while let Ok(batch) = acks.try_recv() {
        tags.extend(batch.outcomes.iter().map(|outcome| outcome.tag));
    }
}

/// Counts wake-ups and passes each one on, so that a test can sleep until woken.
#[derive(Debug)]
struct Wakeups {
    count: AtomicU64,
    wake: Sender<()>,
}

impl Notify for Wakeups {
    fn notify(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        let _ = self.wake.try_send(());
    }
}

fn wakeups() -> (Arc<Wakeups>, Receiver<()>) {
    let (wake, woken) = crossbeam_channel::bounded(1_024);
    let wakeups = Arc::new(Wakeups {
        count: AtomicU64::new(0),
        wake,
    });
    (wakeups, woken)
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_query_sees_the_commands_queued_before_it_and_is_not_journaled() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.shard = 3;
    let handle = ShardHandle::start(config).unwrap();
    let commands = setup_commands();
    for (tag, command) in commands.iter().enumerate() {
        handle.submit(tag as u64, command.clone()).unwrap();
    }
    handle
        .query(
            100,
            Query::OpenOrders {
                account: TRADER,
                market: None,
            },
        )
        .unwrap();
    handle
        .query(101, Query::Account { account: TRADER })
        .unwrap();
    handle.query(102, Query::ApiKey { key_id: 77 }).unwrap();

    let first = handle.answers().recv_timeout(WAIT).unwrap();
    // Every command queued before the query was acknowledged before it was answered.
    let mut tags = Vec::new();
    acked_tags(handle.acks(), &mut tags);
    assert_eq!(tags, (0..commands.len() as u64).collect::<Vec<_>>());

    assert_eq!((first.shard, first.tag), (3, 100));
    let Reply::OpenOrders(Some(orders)) = &first.reply else {
        panic!("unexpected reply {first:?}");
    };
    assert_eq!(orders.len(), 1);
    let order = orders[0];
    assert_eq!(
        (order.order_id, order.account, order.client_order_id),
        (OrderId(1), TRADER, 11)
    );
    assert_eq!((order.market, order.odds_x100), (MARKET, 250));
    assert_eq!(order.remaining_minor, 1_000);

    let account = handle.answers().recv_timeout(WAIT).unwrap();
    assert_eq!(
        account,
        Answer {
            shard: 3,
            tag: 101,
            reply: Reply::Account(Some(AccountView {
                account: TRADER,
                tier: Tier::Pro,
                role: Role::Trader,
                kill_switch: false,
                balance_minor: 100_000,
                exposure_minor: 1_000,
                open_orders: 1,
                max_open_orders: 500,
            })),
        }
    );
    let key = handle.answers().recv_timeout(WAIT).unwrap();
    assert_eq!(key.tag, 102);
    assert_eq!(
        key.reply,
        Reply::ApiKey(Some(ApiKeyView {
            account: TRADER,
            key_id: 77,
            secret: SECRET,
            tier: Tier::Pro,
            role: Role::Trader,
        }))
    );

    // A cancel queued after the queries is not seen by them, but by the next one.
    handle
        .submit(
            6,
            Command::CancelOrder {
                account: TRADER,
                market: MARKET,
                order_id: Some(OrderId(1)),
                client_order_id: None,
            },
        )
        .unwrap();
    handle
        .query(
            103,
            Query::OpenOrders {
                account: TRADER,
                market: Some(MARKET),
            },
        )
        .unwrap();
    let after = handle.answers().recv_timeout(WAIT).unwrap();
    assert_eq!(after.tag, 103);
    assert_eq!(after.reply, Reply::OpenOrders(Some(Vec::new())));
    acked_tags(handle.acks(), &mut tags);
    assert_eq!(tags.last(), Some(&6));
    let journaled = handle.watermark().journaled();
    assert_eq!(journaled, commands.len() as u64 + 1);

    // Queries take no sequence numbers and leave no records.
    let stop = handle.shutdown().unwrap();
    assert_eq!(stop.seq, journaled);
    let replayed = replay(
        dir.path(),
        ReplayOptions {
            start: Start::Oldest,
            to_seq: None,
            verify_events: true,
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(replayed.records, journaled);
    assert_eq!(replayed.engine.state_hash(), stop.state_hash);
    // The key was journaled with its command, and came back with the replay.
    assert_eq!(
        replayed.engine.query(&Query::ApiKey { key_id: 77 }),
        key.reply
    );
}

#[test]
fn an_api_key_set_through_the_shard_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let handle = ShardHandle::start(config.clone()).unwrap();
    for (tag, command) in setup_commands().into_iter().enumerate() {
        handle.submit(tag as u64, command).unwrap();
    }
    // Rotation: the old key id stops resolving.
    let rotated = ApiSecret([0x17; 32]);
    handle
        .submit(
            50,
            Command::SetApiKey {
                account: TRADER,
                key_id: 78,
                secret: rotated,
            },
        )
        .unwrap();
    let mut events = Vec::new();
    wait_until("the rotation is acknowledged", || {
        while let Ok(batch) = handle.acks().try_recv() {
            for (outcome, batch_events) in batch.iter() {
                if outcome.tag == 50 {
                    events.extend_from_slice(batch_events);
                }
            }
        }
        !events.is_empty()
    });
    assert_eq!(
        events,
        [Event::ApiKeySet {
            account: TRADER,
            key_id: 78
        }]
    );
    let stop = handle.shutdown().unwrap();

    // The shutdown snapshot carries the key.
    let handle = ShardHandle::start(config).unwrap();
    assert_eq!(handle.start_report().replayed, 0);
    assert_eq!(handle.start_report().state_hash, stop.state_hash);
    handle.query(1, Query::ApiKey { key_id: 77 }).unwrap();
    handle.query(2, Query::ApiKey { key_id: 78 }).unwrap();
    let old = handle.answers().recv_timeout(WAIT).unwrap();
    let new = handle.answers().recv_timeout(WAIT).unwrap();
    assert_eq!((old.tag, old.reply), (1, Reply::ApiKey(None)));
    let Reply::ApiKey(Some(view)) = new.reply else {
        panic!("key 78 resolves: {new:?}");
    };
    assert_eq!((view.account, view.secret), (TRADER, rotated));
    handle.shutdown().unwrap();
}

#[test]
fn notify_wakes_the_consumer_once_per_batch_after_acks_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    let (wakeups, woken) = wakeups();
    config.notify = Some(wakeups.clone());
    // Nobody reads the acks at first: the shard holds the second batch until someone does.
    config.acks_capacity = 1;
    let handle = ShardHandle::start(config).unwrap();

    // A command: when the consumer is woken, its acknowledgement is there to read.
    handle
        .submit(0, Command::create_account(TRADER, Tier::Basic))
        .unwrap();
    woken.recv_timeout(WAIT).unwrap();
    assert_eq!(wakeups.count.load(Ordering::SeqCst), 1);
    assert_eq!(handle.watermark().journaled(), 1);

    // A second command fills the shard's hands: it is committed but waits to be published.
    handle
        .submit(
            1,
            Command::Deposit {
                account: TRADER,
                amount_minor: 500,
                transfer_id: 9,
            },
        )
        .unwrap();
    wait_until("the second command is journaled", || {
        handle.watermark().journaled() == 2
    });
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(wakeups.count.load(Ordering::SeqCst), 1, "not published yet");
    // Ten queries queue up behind it and are taken as one batch.
    for tag in 10..20 {
        handle
            .query(tag, Query::Account { account: TRADER })
            .unwrap();
    }
    // The consumer reads what there is (which lets the shard go on), then sleeps until woken.
    let mut tags = Vec::new();
    let mut answers: Vec<Answer> = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        acked_tags(handle.acks(), &mut tags);
        answers.extend(handle.answers().try_iter());
        if answers.len() == 10 {
            break;
        }
        assert!(Instant::now() < deadline, "the answers never came");
        let _ = woken.recv_timeout(Duration::from_millis(100));
    }
    assert_eq!(tags, [0, 1]);
    let answered: Vec<u64> = answers.iter().map(|answer| answer.tag).collect();
    assert_eq!(answered, (10..20).collect::<Vec<_>>());
    let Reply::Account(Some(view)) = &answers[0].reply else {
        panic!("unexpected reply {:?}", answers[0]);
    };
    assert_eq!(view.balance_minor, 500, "the deposit queued before is seen");
    // Three batches, three wake-ups: not one per query.
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(wakeups.count.load(Ordering::SeqCst), 3);

    // A batch of queries alone wakes the consumer too, with its answer already there.
    while woken.try_recv().is_ok() {}
    handle.query(30, Query::Markets).unwrap();
    woken.recv_timeout(WAIT).unwrap();
    let answer = handle.answers().try_recv().unwrap();
    assert_eq!((answer.tag, answer.reply), (30, Reply::Markets(Vec::new())));
    assert_eq!(wakeups.count.load(Ordering::SeqCst), 4);
    handle.shutdown().unwrap();
}

#[test]
fn a_query_to_a_stopped_shard_is_refused_as_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let handle = ShardHandle::start(config(dir.path())).unwrap();
    let submitter = handle.submitter();
    submitter.query(1, Query::Markets).unwrap();
    handle.shutdown().unwrap();
    assert_eq!(
        submitter.query(2, Query::Markets),
        Err(SubmitError::Stopped)
    );
    assert_eq!(
        submitter.submit(3, Command::Balances {}),
        Err(SubmitError::Stopped)
    );
}

#[test]
fn answers_nobody_reads_are_dropped_and_counted_without_stopping_the_shard() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.answers_capacity = 2;
    let handle = ShardHandle::start(config).unwrap();
    for tag in 0..5 {
        handle.query(tag, Query::ApiKey { key_id: tag }).unwrap();
    }
    wait_until("three answers are dropped", || {
        handle.watermark().answers_dropped() == 3
    });
    // The shard goes on: a command is still applied and acknowledged.
    handle
        .submit(9, Command::create_account(TRADER, Tier::Basic))
        .unwrap();
    let batch = handle.acks().recv_timeout(WAIT).unwrap();
    assert_eq!(batch.outcomes[0].tag, 9);
    // The first two answers were kept, in order.
    let kept: Vec<u64> = handle.answers().try_iter().map(|a| a.tag).collect();
    assert_eq!(kept, [0, 1]);
    assert_eq!(handle.watermark().answers_dropped(), 3);
    assert_eq!(handle.watermark().market_data_dropped(), 0);
    handle.shutdown().unwrap();
}
