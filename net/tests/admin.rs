//! The admin socket end to end: every request against a real node, good and bad, the socket's
//! permissions, `config_set` taking effect, and a graceful shutdown asked for on the socket.

mod support;

use std::os::unix::fs::PermissionsExt;

use oddsmatch_engine::MarketId;
use oddsmatch_net::admin::AdminClient;
use oddsmatch_net::proto::SubscribeReject;
use oddsmatch_net::proto::md::{MdServerMsg, Streams};
use oddsmatch_net::subscriber::{Subscriber, Update};
use serde_json::{Value, json};
use support::*;

fn admin(node: &TestNode) -> AdminClient {
    AdminClient::connect(node.node().admin_socket().unwrap()).unwrap()
}

/// The request's result; panics with the reply if the node refused it.
fn ok(client: &mut AdminClient, request: Value) -> Value {
    let reply = client.request(&request).unwrap();
    assert_eq!(reply["ok"], json!(true), "{request} -> {reply}");
    reply["result"].clone()
}

/// The refusal's error code; panics if the node did it.
fn refused(client: &mut AdminClient, request: Value) -> String {
    let reply = client.request(&request).unwrap();
    assert_eq!(reply["ok"], json!(false), "{request} -> {reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{reply}"
    );
    reply["error"]["code"].as_str().unwrap().to_owned()
}

fn journaled(client: &mut AdminClient) -> u64 {
    ok(client, json!({"op": "status"}))["shards"][0]["journaled_seq"]
        .as_u64()
        .unwrap()
}

#[test]
fn the_socket_is_the_owners_alone_and_goes_with_the_node() {
    let mut node = TestNode::start(&[(1, "basic")], |_| {});
    let path = node.node().admin_socket().unwrap().to_owned();
    assert_eq!(path, node.config.data_dir.join("admin.sock"));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let dir_mode = std::fs::metadata(&node.config.data_dir)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    // A second node on the same socket is refused while the first runs.
    let mut config = node.config.clone();
    config.data_dir = node.dir.path().join("other");
    config.admin.socket = Some(path.clone());
    config.bootstrap = None;
    let error = oddsmatch_net::node::Node::start(config).unwrap_err();
    assert!(error.to_string().contains("in use"), "{error}");
    node.node.take().unwrap().shutdown().unwrap();
    assert!(!path.exists());
    // A socket file left behind by a node that is gone is replaced.
    let _left = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(_left);
    assert!(path.exists());
    node.node = Some(oddsmatch_net::node::Node::start(node.config.clone()).unwrap());
    ok(&mut admin(&node), json!({"op": "status"}));
}

#[test]
fn markets_go_through_their_lifecycle() {
    let node = TestNode::start(&[(1, "basic"), (2, "basic")], |_| {});
    let mut client = admin(&node);
    let created = ok(
        &mut client,
        json!({"op": "create_market", "market": 9, "selections": [1, 2, 3], "commission_bps": 200}),
    );
    let events = &created["applied"][0]["events"];
    assert_eq!(events[0]["event"], json!("market_created"), "{created}");
    assert_eq!(events[0]["market"], json!(9));
    for op in ["open_market", "suspend_market", "resume_market"] {
        ok(&mut client, json!({"op": op, "market": 9}));
    }
    let market = ok(&mut client, json!({"op": "market", "market": 9}));
    assert_eq!(market["status"], json!("open"));
    assert_eq!(market["commission_bps"], json!(200));

    // Knobs and the schedule change on a live market, and read back.
    let knobs = ok(
        &mut client,
        json!({"op": "set_market_knobs", "market": 9, "price_band_bps": 5000, "bet_delay_ms": 0}),
    );
    assert_eq!(
        knobs["applied"][0]["events"][0]["event"],
        json!("market_knobs_set")
    );
    let lock_at = 4_000_000_000_000_000_000u64;
    ok(
        &mut client,
        json!({"op": "schedule_market", "market": 9, "lock_at": lock_at}),
    );
    let market = ok(&mut client, json!({"op": "market", "market": 9}));
    assert_eq!(market["knobs"]["price_band_bps"], json!(5000), "{market}");
    assert_eq!(market["schedule"]["lock_at"], json!(lock_at), "{market}");
    ok(
        &mut client,
        json!({"op": "schedule_market", "market": 9, "clear_lock": true}),
    );
    assert_eq!(
        ok(&mut client, json!({"op": "market", "market": 9}))["schedule"]["lock_at"],
        Value::Null
    );
    // A lock in the past is the engine's to refuse.
    let reply = client
        .request(&json!({"op": "schedule_market", "market": 9, "lock_at": 1}))
        .unwrap();
    assert_eq!(reply["error"]["code"], json!("rejected"), "{reply}");
    assert_eq!(market["selections"].as_array().unwrap().len(), 3);

    // A resting back order shows in the book, the account and its open orders.
    let mut trader = node.login(1);
    let oddsmatch_net::proto::ClientMsg::NewOrder(new_order) =
        order(7, 1, oddsmatch_engine::Side::Back, 250, 1_000)
    else {
        unreachable!()
    };
    trader
        .send(&oddsmatch_net::proto::ClientMsg::NewOrder(
            oddsmatch_net::proto::NewOrder {
                market: MarketId(9),
                ..new_order
            },
        ))
        .unwrap();
    report_for(&mut trader, 7);
    let market = ok(
        &mut client,
        json!({"op": "market", "market": 9, "depth": 1}),
    );
    assert_eq!(
        market["selections"][0]["backs"],
        json!([{"odds": 250, "stake": 1000}]),
        "{market}"
    );
    let account = ok(&mut client, json!({"op": "account", "account": 1}));
    let wallet = &account["shards"][0];
    assert_eq!(wallet["open_orders"], json!(1), "{account}");
    assert_eq!(wallet["orders"][0]["market"], json!(9));
    assert_eq!(wallet["orders"][0]["odds"], json!(250));
    assert_eq!(wallet["exposure"], json!(1000));

    let markets = ok(&mut client, json!({"op": "markets"}));
    let ids: Vec<u64> = markets
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["market"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2, 9]);

    ok(&mut client, json!({"op": "close_market", "market": 9}));
    let settled = ok(
        &mut client,
        json!({"op": "settle_market", "market": 9, "winners": [1]}),
    );
    let kinds: Vec<&str> = settled["applied"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"market_settled"), "{kinds:?}");
    assert_eq!(
        ok(&mut client, json!({"op": "market", "market": 9}))["status"],
        json!("settled")
    );
    // A settled market cannot be voided; the refusal names the engine's reason.
    let reply = client
        .request(&json!({"op": "void_market", "market": 9}))
        .unwrap();
    assert_eq!(reply["error"]["code"], json!("rejected"), "{reply}");
    ok(
        &mut client,
        json!({"op": "create_market", "market": 10, "selections": [1, 2]}),
    );
    ok(&mut client, json!({"op": "void_market", "market": 10}));
}

#[test]
fn accounts_are_created_funded_limited_and_switched_off() {
    let node = TestNode::start(&[(1, "basic")], |_| {});
    let mut client = admin(&node);
    ok(
        &mut client,
        json!({"op": "create_account", "account": 40, "tier": "pro"}),
    );
    ok(
        &mut client,
        json!({"op": "deposit", "account": 40, "amount": 5000, "transfer_id": 7}),
    );
    // The same transfer again is not applied twice.
    let _ = client
        .request(&json!({"op": "deposit", "account": 40, "amount": 5000, "transfer_id": 7}))
        .unwrap();
    ok(
        &mut client,
        json!({"op": "withdraw", "account": 40, "amount": 1500, "transfer_id": 8}),
    );
    let account = ok(&mut client, json!({"op": "account", "account": 40}));
    assert_eq!(account["shards"][0]["balance"], json!(3500), "{account}");
    assert_eq!(account["shards"][0]["tier"], json!("pro"));

    ok(
        &mut client,
        json!({"op": "set_account_limits", "account": 40, "tier": "basic", "max_open_orders": 3}),
    );
    let account = ok(&mut client, json!({"op": "account", "account": 40}));
    assert_eq!(account["shards"][0]["tier"], json!("basic"), "{account}");
    assert_eq!(account["shards"][0]["max_open_orders"], json!(3));

    ok(
        &mut client,
        json!({"op": "kill_switch", "account": 40, "on": true}),
    );
    assert_eq!(
        ok(&mut client, json!({"op": "account", "account": 40}))["shards"][0]["kill_switch"],
        json!(true)
    );
    ok(
        &mut client,
        json!({"op": "kill_switch", "account": 40, "on": false}),
    );

    // An operator-chosen key, then a rotated one: the rotated secret logs in, the old one
    // no longer does.
    ok(
        &mut client,
        json!({"op": "set_api_key", "account": 40, "key_id": 4001, "secret": "ab".repeat(32)}),
    );
    oddsmatch_net::client::Client::connect(
        node.addr(),
        oddsmatch_net::client::Credentials {
            key_id: 4001,
            secret: [0xab; 32],
        },
        oddsmatch_net::client::Options::default(),
    )
    .unwrap();
    let rotated = ok(
        &mut client,
        json!({"op": "rotate_api_key", "account": 1, "key_id": key_id(1)}),
    );
    let secret_hex = rotated["secret"].as_str().unwrap();
    assert_eq!(secret_hex.len(), 64);
    let mut new_secret = [0u8; 32];
    for (i, byte) in new_secret.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&secret_hex[2 * i..2 * i + 2], 16).unwrap();
    }
    assert_ne!(new_secret, secret(1));
    let old = oddsmatch_net::client::Client::connect(
        node.addr(),
        credentials(1),
        oddsmatch_net::client::Options::default(),
    );
    assert!(old.is_err(), "the old secret still logs in");
    let fresh = oddsmatch_net::client::Credentials {
        secret: new_secret,
        ..credentials(1)
    };
    oddsmatch_net::client::Client::connect(
        node.addr(),
        fresh,
        oddsmatch_net::client::Options::default(),
    )
    .unwrap();

    let page = ok(&mut client, json!({"op": "accounts"}));
    let ids: Vec<u64> = page["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account"].as_u64().unwrap())
        .collect();
    assert!(ids.contains(&1) && ids.contains(&40), "{ids:?}");
}

#[test]
fn bad_requests_are_named_and_change_nothing() {
    let node = TestNode::start(&[(1, "basic")], |_| {});
    let mut client = admin(&node);
    let before = journaled(&mut client);
    for (request, code) in [
        (json!({"op": "bogus"}), "unknown_op"),
        (json!({"market": 1}), "bad_request"),
        (json!({"op": 5}), "bad_request"),
        (json!({"op": "status", "verbose": true}), "bad_request"),
        (json!({"op": "market", "market": "one"}), "bad_request"),
        (json!({"op": "market", "market": 77}), "unknown_market"),
        (json!({"op": "account", "account": 77}), "unknown_account"),
        (json!({"op": "create_market", "market": 8}), "bad_request"),
        (
            json!({"op": "deposit", "account": 1, "amount": "x", "transfer_id": 1}),
            "bad_request",
        ),
        (
            json!({"op": "deposit", "account": 1, "amount": 1, "transfer_id": 1, "shard": 4}),
            "bad_request",
        ),
        (json!({"op": "place_order", "account": 1}), "unknown_op"),
        (
            json!({"op": "config_get", "key": "no.such.key"}),
            "unknown_key",
        ),
        (
            json!({"op": "config_set", "key": "gateway.listen", "value": "x"}),
            "not_settable",
        ),
        (
            json!({"op": "config_set", "key": "market_data.max_lag_ms", "value": 0}),
            "bad_value",
        ),
        (
            json!({"op": "config_set", "key": "market_data.anonymous", "value": "yes"}),
            "bad_value",
        ),
        (
            json!({"op": "rotate_api_key", "account": 1, "key_id": 0}),
            "bad_request",
        ),
    ] {
        assert_eq!(refused(&mut client, request.clone()), code, "{request}");
    }
    assert_eq!(
        journaled(&mut client),
        before,
        "a refused request was journaled"
    );
    // The engine's own refusals are journaled as inputs (like a trader's), change no state,
    // and say why.
    let reply = client
        .request(&json!({"op": "open_market", "market": 99}))
        .unwrap();
    assert_eq!(reply["error"]["code"], json!("rejected"));
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown_market"),
        "{reply}"
    );

    // Raw lines: not JSON, not an object, too long, blank; the connection keeps serving.
    use std::io::{BufRead, BufReader, Write};
    let path = node.node().admin_socket().unwrap();
    let stream = std::os::unix::net::UnixStream::connect(path).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    writer
        .write_all(b"this is not json\n[1,2]\n\n{\"op\":\"status\",\"id\":\"x\"}\n")
        .unwrap();
    let mut line = String::new();
    let mut replies = Vec::new();
    for _ in 0..3 {
        line.clear();
        reader.read_line(&mut line).unwrap();
        replies.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    assert_eq!(replies[0]["error"]["code"], json!("malformed"));
    assert_eq!(replies[1]["error"]["code"], json!("malformed"));
    assert_eq!(replies[2]["ok"], json!(true));
    assert_eq!(replies[2]["id"], json!("x"));
    let long = vec![b'x'; (1 << 20) + 10];
    writer.write_all(&long).unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    let reply: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(reply["error"]["code"], json!("too_long"));
    // Others are still served.
    ok(&mut admin(&node), json!({"op": "status"}));
}

#[test]
fn reads_show_the_node() {
    let node = TestNode::start(&[(1, "basic")], |_| {});
    let mut client = admin(&node);
    let status = ok(&mut client, json!({"op": "status"}));
    assert_eq!(status["shards"].as_array().unwrap().len(), 1);
    assert!(status["shards"][0]["journaled_seq"].as_u64().unwrap() > 0);
    assert_eq!(status["durability"], json!("os"));
    assert_eq!(status["persist"], Value::Null);
    assert!(status["uptime_s"].as_f64().unwrap() >= 0.0);
    let _trader = node.login(1);
    let status = ok(&mut client, json!({"op": "status"}));
    assert_eq!(status["gateway"]["sessions"], json!(1), "{status}");

    let config = ok(&mut client, json!({"op": "config_get"}));
    assert_eq!(config["shards"]["count"], json!(1));
    assert_eq!(
        ok(
            &mut client,
            json!({"op": "config_get", "key": "market_data.max_lag_ms"})
        ),
        json!({"key": "market_data.max_lag_ms", "value": 2000})
    );
    let metrics = ok(&mut client, json!({"op": "metrics"}));
    assert!(metrics.is_object() && !metrics.as_object().unwrap().is_empty());
    let help = ok(&mut client, json!({"op": "help"}));
    assert!(
        help["commands"]
            .as_array()
            .unwrap()
            .contains(&json!("settle_market"))
    );
}

#[test]
fn config_set_takes_effect_at_once() {
    let node = TestNode::start(&[(1, "basic")], |_| {});
    let mut client = admin(&node);
    let changed = ok(
        &mut client,
        json!({"op": "config_set", "key": "market_data.anonymous", "value": false}),
    );
    assert_eq!(
        changed,
        json!({"key": "market_data.anonymous", "old": true, "new": false})
    );
    let mut sub = Subscriber::connect(node.node().market_data_addr().unwrap()).unwrap();
    sub.subscribe(MarketId(1), Streams::TICKS).unwrap();
    assert!(matches!(
        sub.next(WAIT).unwrap(),
        Some(Update::Message(MdServerMsg::Rejected {
            reason: SubscribeReject::LoginRequired,
            ..
        }))
    ));
    ok(
        &mut client,
        json!({"op": "config_set", "key": "market_data.anonymous", "value": true}),
    );
    sub.subscribe(MarketId(1), Streams::TICKS).unwrap();
    assert!(matches!(
        sub.next(WAIT).unwrap(),
        Some(Update::Message(MdServerMsg::Subscribed { .. }))
    ));
    ok(
        &mut client,
        json!({"op": "config_set", "key": "market_data.max_lag_ms", "value": 750}),
    );
    assert_eq!(
        ok(
            &mut client,
            json!({"op": "config_get", "key": "market_data.max_lag_ms"})
        )["value"],
        json!(750)
    );
}

#[test]
fn shutdown_asked_on_the_socket_leaves_a_snapshot_and_loses_nothing() {
    let mut node = TestNode::start(&[(1, "basic")], |_| {});
    let mut client = admin(&node);
    ok(&mut client, json!({"op": "create_account", "account": 50}));
    ok(
        &mut client,
        json!({"op": "deposit", "account": 50, "amount": 1234, "transfer_id": 3}),
    );
    let taken = ok(&mut client, json!({"op": "snapshot"}));
    let seq = taken["snapshots"][0]["seq"].as_u64().unwrap();
    assert_eq!(seq, journaled(&mut client));
    assert_eq!(node.node().shards()[0].watermark().snapshot_seq(), seq);
    ok(
        &mut client,
        json!({"op": "create_market", "market": 12, "selections": [1, 2]}),
    );
    let last = journaled(&mut client);

    assert!(!node.node().shutdown_requested());
    assert_eq!(
        ok(&mut client, json!({"op": "shutdown"})),
        json!({"stopping": true})
    );
    assert!(node.node().shutdown_requested());
    let report = node.node.take().unwrap().shutdown().unwrap();
    assert_eq!(report.shards[0].seq, last);
    assert!(
        report.shards[0].snapshot.is_some(),
        "no snapshot at shutdown"
    );

    node.node = Some(oddsmatch_net::node::Node::start(node.config.clone()).unwrap());
    let mut client = admin(&node);
    assert_eq!(journaled(&mut client), last);
    assert_eq!(
        ok(&mut client, json!({"op": "account", "account": 50}))["shards"][0]["balance"],
        json!(1234)
    );
    assert_eq!(
        ok(&mut client, json!({"op": "market", "market": 12}))["status"],
        json!("pending")
    );
}
