//! The gateway end to end over loopback TCP: real shards with journals, the real protocol.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use oddsmatch_engine::{CancelReason, MarketId, OrderId, RejectReason, Side, Tier};
use oddsmatch_net::client::{Client, ClientError, Options};
use oddsmatch_net::proto::{
    self, ClientMsg, EndReason, Liquidity, LoginReject, OrderRef, ProtocolReject, ReportBody,
    Scope, ServerMsg, ThrottleKind,
};
use support::{TestNode, WAIT, credentials, order, report_for, report_where};

#[test]
fn a_quote_is_hit_and_both_sides_get_their_fill() {
    let node = TestNode::start(&[(1, "pro"), (2, "pro")], |_| {});
    let mut maker = node.login(1);
    let mut taker = node.login(2);
    assert_eq!(maker.session().account.0, 1);
    assert_eq!(maker.session().tier, Tier::Pro);

    maker.send(&order(11, 501, Side::Lay, 250, 2_000)).unwrap();
    let accepted = report_for(&mut maker, 11);
    let ReportBody::OrderAccepted {
        order_id: maker_order,
        client_order_id,
        ..
    } = accepted.body
    else {
        panic!("expected order_accepted, got {accepted:?}");
    };
    assert_eq!(client_order_id, 501);
    assert!(
        accepted.header.journal_seq > 0,
        "reports carry their journal position"
    );

    taker.send(&order(21, 900, Side::Back, 250, 1_500)).unwrap();
    let taker_fill = report_where(&mut taker, |b| matches!(b, ReportBody::Fill { .. }));
    assert_eq!(
        taker_fill.header.request_id, 21,
        "the taker's own request is named"
    );
    let ReportBody::Fill {
        stake_minor,
        odds_x100,
        side,
        liquidity,
        ..
    } = taker_fill.body
    else {
        unreachable!()
    };
    assert_eq!(
        (stake_minor, odds_x100, side, liquidity),
        (1_500, 250, Side::Back, Liquidity::Taker)
    );

    let maker_fill = report_where(&mut maker, |b| matches!(b, ReportBody::Fill { .. }));
    assert_eq!(
        maker_fill.header.request_id, 0,
        "the maker did not cause this report"
    );
    let ReportBody::Fill {
        order_id,
        stake_minor,
        side,
        liquidity,
        ..
    } = maker_fill.body
    else {
        unreachable!()
    };
    assert_eq!(
        (order_id, stake_minor, side, liquidity),
        (maker_order, 1_500, Side::Lay, Liquidity::Maker)
    );
    assert_eq!(
        (maker_fill.header.journal_seq, maker_fill.header.event_index),
        (taker_fill.header.journal_seq, taker_fill.header.event_index),
        "one trade, one position, reported to both"
    );

    // The maker's remaining 500 rests: reads go through the shard and see it.
    let request_id = maker.next_request_id();
    maker
        .send(&ClientMsg::GetOpenOrders {
            request_id,
            scope: Scope::All,
        })
        .unwrap();
    let answer = maker
        .wait_for(WAIT, |m| matches!(m, ServerMsg::OpenOrders { header, .. } if header.request_id == request_id))
        .unwrap();
    let ServerMsg::OpenOrders { header, orders } = answer else {
        unreachable!()
    };
    assert!(header.last);
    assert_eq!(orders.len(), 1);
    assert_eq!(
        (orders[0].order_id, orders[0].remaining_minor),
        (maker_order, 500)
    );

    let request_id = taker.next_request_id();
    taker.send(&ClientMsg::GetBalance { request_id }).unwrap();
    let ServerMsg::Balance {
        balance: Some(balance),
        ..
    } = taker
        .wait_for(WAIT, |m| matches!(m, ServerMsg::Balance { .. }))
        .unwrap()
    else {
        panic!("the taker has a wallet");
    };
    assert_eq!(balance.balance_minor, 100_000_000);
    assert_eq!(
        balance.exposure_minor, 1_500,
        "a backer risks its matched stake"
    );

    let request_id = taker.next_request_id();
    taker.send(&ClientMsg::GetPositions { request_id }).unwrap();
    let ServerMsg::Positions { positions, .. } = taker
        .wait_for(WAIT, |m| matches!(m, ServerMsg::Positions { .. }))
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(positions.len(), 1);
    assert_eq!(
        (positions[0].market, positions[0].exposure_minor),
        (MarketId(1), 1_500)
    );
    maker.logout().unwrap();
    taker.logout().unwrap();
}

#[test]
fn a_wrong_secret_or_an_unknown_key_is_refused() {
    let node = TestNode::start(&[(1, "basic")], |_| {});
    let mut wrong = credentials(1);
    wrong.secret[0] ^= 1;
    let error = Client::connect(node.addr(), wrong, Options::default()).unwrap_err();
    assert!(
        matches!(error, ClientError::LoginRejected(LoginReject::BadProof)),
        "{error}"
    );
    let mut unknown = credentials(1);
    unknown.key_id = 999_999;
    let error = Client::connect(node.addr(), unknown, Options::default()).unwrap_err();
    assert!(
        matches!(error, ClientError::LoginRejected(LoginReject::UnknownKey)),
        "{error}"
    );
    // The right key still works: nothing changed.
    let client = node.login(1);
    assert_eq!(client.session().account.0, 1);
}

#[test]
fn a_repeated_client_order_id_is_rejected_and_changes_nothing() {
    let node = TestNode::start(&[(1, "pro")], |_| {});
    let mut client = node.login(1);
    client.send(&order(1, 77, Side::Back, 300, 1_000)).unwrap();
    let first = report_for(&mut client, 1);
    let ReportBody::OrderAccepted { order_id, .. } = first.body else {
        panic!("{first:?}")
    };
    client.send(&order(2, 77, Side::Back, 320, 5_000)).unwrap();
    let second = report_for(&mut client, 2);
    let ReportBody::OrderRejected {
        reason,
        order_id: original,
        client_order_id,
        ..
    } = second.body
    else {
        panic!("{second:?}")
    };
    assert_eq!(reason, RejectReason::DuplicateClientOrderId);
    assert_eq!(original, Some(order_id), "the original order is named");
    assert_eq!(client_order_id, Some(77));
    let request_id = client.next_request_id();
    client
        .send(&ClientMsg::GetOpenOrders {
            request_id,
            scope: Scope::Market(MarketId(1)),
        })
        .unwrap();
    let ServerMsg::OpenOrders { orders, .. } = client
        .wait_for(WAIT, |m| matches!(m, ServerMsg::OpenOrders { .. }))
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(orders.len(), 1);
    assert_eq!(
        (orders[0].odds_x100, orders[0].remaining_minor),
        (300, 1_000)
    );
}

fn rejected(client: &mut Client, request_id: u64) -> u16 {
    match client
        .wait_for(
            WAIT,
            |m| matches!(m, ServerMsg::RequestRejected { request_id: r, .. } if *r == request_id),
        )
        .unwrap()
    {
        ServerMsg::RequestRejected { reason, .. } => reason,
        _ => unreachable!(),
    }
}

#[test]
fn bad_requests_are_refused_before_any_shard_and_the_session_goes_on() {
    let node = TestNode::start(&[(1, "pro")], |_| {});
    let mut client = node.login(1);
    let journaled = node.node().shards()[0].watermark().journaled();

    client.send(&order(1, 1, Side::Back, 251, 1_000)).unwrap();
    assert_eq!(rejected(&mut client, 1), RejectReason::InvalidOdds.code());
    client.send(&order(2, 2, Side::Back, 250, 0)).unwrap();
    assert_eq!(rejected(&mut client, 2), RejectReason::InvalidStake.code());
    client.send(&order(3, 3, Side::Back, 250, -5)).unwrap();
    assert_eq!(rejected(&mut client, 3), RejectReason::InvalidStake.code());
    let mut on_pool = order(4, 4, Side::Back, 250, 100);
    if let ClientMsg::NewOrder(o) = &mut on_pool {
        o.market = MarketId(2);
    }
    client.send(&on_pool).unwrap();
    assert_eq!(
        rejected(&mut client, 4),
        RejectReason::InvalidMarketKind.code()
    );
    let mut unknown = order(5, 5, Side::Back, 250, 100);
    if let ClientMsg::NewOrder(o) = &mut unknown {
        o.market = MarketId(99);
    }
    client.send(&unknown).unwrap();
    assert_eq!(rejected(&mut client, 5), RejectReason::UnknownMarket.code());
    client
        .send(&ClientMsg::ReferenceOdds(proto::ReferenceOdds {
            request_id: 6,
            market: MarketId(1),
            probabilities_bps: vec![5_000, 3_000, 2_000],
        }))
        .unwrap();
    assert_eq!(
        rejected(&mut client, 6),
        RejectReason::RoleNotPermitted.code(),
        "traders do not feed"
    );

    // Frames that decode badly: an unknown type and a reserved byte set.
    let mut raw = Vec::new();
    order(7, 7, Side::Back, 250, 100).encode(&mut raw);
    raw[4] = 0x7f; // type 0x017f
    let mut reserved = Vec::new();
    order(8, 8, Side::Back, 250, 100).encode(&mut reserved);
    reserved[7] = 1; // header flags
    raw.extend_from_slice(&reserved);
    send_raw(&mut client, &raw);
    // The layout of an unknown type is unknown, so no request id can be read from it.
    let unknown = client
        .wait_for(WAIT, |m| {
            matches!(
                m,
                ServerMsg::RequestRejected {
                    msg_type: 0x017f,
                    ..
                }
            )
        })
        .unwrap();
    assert_eq!(
        unknown,
        ServerMsg::RequestRejected {
            request_id: 0,
            msg_type: 0x017f,
            reason: ProtocolReject::UnknownType.code()
        }
    );
    assert_eq!(
        rejected(&mut client, 8),
        ProtocolReject::ReservedNotZero.code()
    );

    assert_eq!(
        node.node().shards()[0].watermark().journaled(),
        journaled,
        "nothing reached the shard"
    );
    // The session still works.
    client.send(&order(9, 9, Side::Back, 250, 100)).unwrap();
    assert!(matches!(
        report_for(&mut client, 9).body,
        ReportBody::OrderAccepted { .. }
    ));
}

fn send_raw(client: &mut Client, bytes: &[u8]) {
    client.send_raw(bytes).unwrap();
}

#[test]
fn a_frame_length_out_of_bounds_closes_the_connection_with_a_reason() {
    let node = TestNode::start(&[(1, "pro")], |_| {});
    let mut stream = TcpStream::connect(node.addr()).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    // A header announcing 16 MiB.
    stream.write_all(&[0, 0, 0, 1, 0x01, 0x01, 1, 0]).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let (header, body) = proto::split_frame(&bytes, 1 << 20).unwrap().unwrap();
    let msg = ServerMsg::decode(header, body).unwrap();
    assert!(
        matches!(
            msg,
            ServerMsg::EndOfSession {
                reason: EndReason::ProtocolError,
                ..
            }
        ),
        "{msg:?}"
    );
    // The server keeps serving.
    let client = node.login(1);
    assert_eq!(client.session().account.0, 1);
}

#[test]
fn requests_before_login_are_refused() {
    let node = TestNode::start(&[(1, "pro")], |_| {});
    let mut stream = TcpStream::connect(node.addr()).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut frame = Vec::new();
    order(3, 3, Side::Back, 250, 100).encode(&mut frame);
    stream.write_all(&frame).unwrap();
    let mut buf = vec![0u8; 64];
    let n = stream.read(&mut buf).unwrap();
    let (header, body) = proto::split_frame(&buf[..n], 1 << 20).unwrap().unwrap();
    assert_eq!(
        ServerMsg::decode(header, body).unwrap(),
        ServerMsg::RequestRejected {
            request_id: 3,
            msg_type: proto::client_kind::NEW_ORDER,
            reason: ProtocolReject::NotLoggedIn.code(),
        }
    );
}

#[test]
fn each_tier_gets_its_request_burst_then_throttled_with_a_retry_time() {
    let tiers = [
        (1, "free", 10),
        (2, "basic", 50),
        (3, "pro", 200),
        (4, "market_maker", 500),
    ];
    let accounts: Vec<(u32, &str)> = tiers.iter().map(|(a, t, _)| (*a, *t)).collect();
    let node = TestNode::start(&accounts, |_| {});
    for (account, tier, burst) in tiers {
        let mut client = node.login(account);
        for request_id in 1..=burst + 1 {
            client.queue(&ClientMsg::GetBalance { request_id });
        }
        client.flush().unwrap();
        let throttled = client
            .wait_for(WAIT, |m| matches!(m, ServerMsg::Throttled { .. }))
            .unwrap();
        let ServerMsg::Throttled {
            request_id,
            limit,
            retry_after_ms,
            ..
        } = throttled
        else {
            unreachable!()
        };
        assert_eq!(
            request_id,
            burst + 1,
            "{tier}: the request past the burst is throttled"
        );
        assert_eq!(limit, ThrottleKind::Requests);
        assert!(
            retry_after_ms > 0 && retry_after_ms <= 500,
            "{tier}: {retry_after_ms} ms"
        );
        // Every request within the burst was answered.
        let mut answered = 0;
        while let Ok(Some(msg)) = client.recv(Duration::from_millis(200)) {
            if matches!(msg, ServerMsg::Balance { .. }) {
                answered += 1;
            }
        }
        assert_eq!(answered, burst, "{tier}");
    }
}

#[test]
fn orders_and_cancels_per_minute_are_limited_separately() {
    let node = TestNode::start(&[(1, "basic")], |config| {
        config.gateway.throttle.basic.orders_per_min = 5;
        config.gateway.throttle.basic.cancels_per_min = 3;
    });
    let mut client = node.login(1);
    for i in 1..=6u64 {
        client.queue(&order(i, i, Side::Back, 400 + 10 * i as u32, 100));
    }
    client.flush().unwrap();
    let ServerMsg::Throttled {
        request_id,
        limit,
        retry_after_ms,
        ..
    } = client
        .wait_for(WAIT, |m| matches!(m, ServerMsg::Throttled { .. }))
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!((request_id, limit), (6, ThrottleKind::Orders));
    assert!(
        (1..=12_000).contains(&retry_after_ms),
        "5 per minute: one every 12 s"
    );
    for i in 1..=4u64 {
        client.queue(&ClientMsg::Cancel(proto::Cancel {
            request_id: 100 + i,
            market: MarketId(1),
            order: OrderRef::ClientOrderId(i),
        }));
    }
    client.flush().unwrap();
    let ServerMsg::Throttled {
        request_id, limit, ..
    } = client
        .wait_for(WAIT, |m| matches!(m, ServerMsg::Throttled { .. }))
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!((request_id, limit), (104, ThrottleKind::Cancels));
    let cancelled = (101..=103)
        .map(|r| report_for(&mut client, r))
        .filter(|r| {
            matches!(
                r.body,
                ReportBody::OrderCancelled {
                    reason: CancelReason::Requested,
                    ..
                }
            )
        })
        .count();
    assert_eq!(cancelled, 3);
}

#[test]
fn cancel_on_disconnect_cancels_the_accounts_orders_when_the_connection_drops() {
    let node = TestNode::start(&[(1, "pro"), (2, "pro")], |_| {});
    let options = Options {
        cancel_on_disconnect: true,
        ..Options::default()
    };
    let mut client = node.login_with(1, options);
    client.send(&order(1, 1, Side::Lay, 300, 1_000)).unwrap();
    report_for(&mut client, 1);
    client.disconnect();

    // Another account cannot hit the order any more.
    let mut other = node.login(2);
    let cancelled = wait_until(|| {
        open_orders(&mut other, 2, &node) == 0 && {
            // Look at account 1 from its own new session (without cancel-on-disconnect).
            let mut again = node.login(1);
            let none = open_orders(&mut again, 1, &node) == 0;
            again.logout().unwrap();
            none
        }
    });
    assert!(
        cancelled,
        "the order was cancelled when the session dropped"
    );
}

#[test]
fn the_dead_mans_switch_cancels_everything_when_messages_stop() {
    let node = TestNode::start(&[(1, "pro")], |_| {});
    let mut client = node.login(1);
    client
        .send(&ClientMsg::DeadMan { timeout_ms: 300 })
        .unwrap();
    let armed = client
        .wait_for(WAIT, |m| matches!(m, ServerMsg::DeadManStatus { .. }))
        .unwrap();
    assert_eq!(
        armed,
        ServerMsg::DeadManStatus {
            timeout_ms: 300,
            fired: false
        }
    );
    client.send(&order(1, 1, Side::Back, 300, 1_000)).unwrap();
    client.send(&order(2, 2, Side::Back, 310, 1_000)).unwrap();
    report_for(&mut client, 1);
    report_for(&mut client, 2);
    // Stay silent (the client's own heartbeat is every second, later than the switch).
    let fired = client
        .wait_for(WAIT, |m| {
            matches!(m, ServerMsg::DeadManStatus { fired: true, .. })
        })
        .unwrap();
    assert_eq!(
        fired,
        ServerMsg::DeadManStatus {
            timeout_ms: 300,
            fired: true
        }
    );
    for _ in 0..2 {
        let report = report_where(&mut client, |b| {
            matches!(b, ReportBody::OrderCancelled { .. })
        });
        assert!(matches!(
            report.body,
            ReportBody::OrderCancelled {
                reason: CancelReason::MassCancel,
                ..
            }
        ));
    }
    assert_eq!(open_orders(&mut client, 1, &node), 0);
    // The session itself stays open.
    client.send(&order(3, 3, Side::Back, 300, 1_000)).unwrap();
    assert!(matches!(
        report_for(&mut client, 3).body,
        ReportBody::OrderAccepted { .. }
    ));
}

fn open_orders(client: &mut Client, _account: u32, _node: &TestNode) -> usize {
    let request_id = client.next_request_id();
    client
        .send(&ClientMsg::GetOpenOrders {
            request_id,
            scope: Scope::All,
        })
        .unwrap();
    match client
        .wait_for(WAIT, |m| matches!(m, ServerMsg::OpenOrders { header, .. } if header.request_id == request_id))
        .unwrap()
    {
        ServerMsg::OpenOrders { orders, .. } => orders.len(),
        _ => unreachable!(),
    }
}

fn wait_until(mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The reports a reconnecting client receives are exactly the ones it missed, from memory or
/// (with no memory) from the journal.
fn replay_after_reconnect(replay_memory: usize) {
    let node = TestNode::start(&[(1, "pro"), (2, "pro")], |config| {
        config.gateway.replay_memory = replay_memory;
    });
    let mut maker = node.login(1);
    for i in 1..=3u64 {
        maker.send(&order(i, i, Side::Lay, 300, 1_000)).unwrap();
        report_for(&mut maker, i);
    }
    let cursors = maker.cursors();
    assert_eq!(cursors.len(), 1);
    maker.disconnect();

    // While the maker is away its orders fill and one is cancelled by... nobody: fills only.
    let mut taker = node.login(2);
    taker.send(&order(10, 10, Side::Back, 300, 2_500)).unwrap();
    let fills = (0..3)
        .map(|_| report_where(&mut taker, |b| matches!(b, ReportBody::Fill { .. })))
        .collect::<Vec<_>>();
    assert_eq!(fills.len(), 3);

    let mut maker = Client::connect(
        node.addr(),
        credentials(1),
        Options {
            resume: cursors,
            ..Options::default()
        },
    )
    .unwrap();
    let mut replayed = Vec::new();
    let complete = loop {
        match maker.recv(WAIT).unwrap() {
            Some(ServerMsg::Report(report)) => replayed.push(report),
            Some(ServerMsg::ReplayComplete {
                reports,
                incomplete,
            }) => break (reports, incomplete),
            other => panic!("unexpected {other:?}"),
        }
    };
    let stakes: Vec<i64> = replayed
        .iter()
        .map(|r| match r.body {
            ReportBody::Fill {
                stake_minor,
                liquidity: Liquidity::Maker,
                ..
            } => stake_minor,
            _ => panic!("only the missed fills are replayed, got {r:?}"),
        })
        .collect();
    assert_eq!(stakes, [1_000, 1_000, 500]);
    assert_eq!(complete, (3, false));
    for (fill, replay) in fills.iter().zip(&replayed) {
        assert_eq!(fill.header.journal_seq, replay.header.journal_seq);
        assert_eq!(fill.header.event_index, replay.header.event_index);
    }
    // Live reports follow the replay.
    maker
        .send(&ClientMsg::Cancel(proto::Cancel {
            request_id: 50,
            market: MarketId(1),
            order: OrderRef::ClientOrderId(3),
        }))
        .unwrap();
    let cancelled = report_for(&mut maker, 50);
    assert!(matches!(
        cancelled.body,
        ReportBody::OrderCancelled {
            stake_minor: 500,
            ..
        }
    ));
    // Resuming from the last report again replays nothing.
    let cursors = maker.cursors();
    maker.disconnect();
    let mut again = Client::connect(
        node.addr(),
        credentials(1),
        Options {
            resume: cursors,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(
        again.recv(WAIT).unwrap(),
        Some(ServerMsg::ReplayComplete {
            reports: 0,
            incomplete: false
        })
    );
}

#[test]
fn replay_after_reconnect_returns_exactly_the_missed_reports_from_memory() {
    replay_after_reconnect(1_024);
}

#[test]
fn replay_after_reconnect_returns_exactly_the_missed_reports_from_the_journal() {
    replay_after_reconnect(0);
}

#[test]
fn a_replay_survives_a_restart_of_the_node() {
    let mut node = TestNode::start(&[(1, "pro")], |_| {});
    let mut client = node.login(1);
    client.send(&order(1, 1, Side::Back, 300, 1_000)).unwrap();
    let accepted = report_for(&mut client, 1);
    client.disconnect();
    node.restart();
    let mut client = Client::connect(
        node.addr(),
        credentials(1),
        Options {
            resume: vec![proto::ResumeCursor {
                shard: 0,
                journal_seq: 0,
                event_index: 0,
            }],
            ..Options::default()
        },
    )
    .unwrap();
    let mut replayed = Vec::new();
    loop {
        match client.recv(WAIT).unwrap() {
            Some(ServerMsg::Report(report)) => replayed.push(report),
            Some(ServerMsg::ReplayComplete { .. }) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        replayed
            .iter()
            .any(|r| r.header.journal_seq == accepted.header.journal_seq
                && matches!(
                    r.body,
                    ReportBody::OrderAccepted {
                        order_id: OrderId(_),
                        ..
                    }
                )),
        "the order's acceptance is replayed from the journal after a restart"
    );
    assert!(
        replayed
            .iter()
            .any(|r| matches!(r.body, ReportBody::Ledger { .. })),
        "the deposit too"
    );
}

#[test]
fn a_client_that_does_not_read_is_cut_off_without_holding_up_others() {
    let node = TestNode::start(&[(1, "market_maker"), (2, "pro")], |config| {
        config.gateway.max_outbound_bytes = 64 << 10;
        config.gateway.throttle = oddsmatch_net::gateway::ThrottleConfig::unlimited();
    });
    // A receive buffer of a few KiB, so that the kernel cannot hide the backlog.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&node.addr().into()).unwrap();
    let mut slow = Client::over(socket.into(), credentials(1), Options::default()).unwrap();
    slow.wait_for(WAIT, |m| matches!(m, ServerMsg::ReplayComplete { .. }))
        .unwrap();
    // Immediate-or-cancel orders on an empty book: two reports each, and the book stays empty.
    for round in 0..40u64 {
        for i in 0..1_000u64 {
            let id = round * 1_000 + i + 1;
            let mut msg = order(id, id, Side::Back, 1_000, 100);
            if let ClientMsg::NewOrder(o) = &mut msg {
                o.tif = oddsmatch_engine::TimeInForce::Ioc;
            }
            slow.queue(&msg);
        }
        if slow.flush().is_err() {
            break;
        }
        if node
            .node()
            .gateway_stats()
            .slow_consumers
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
        {
            break;
        }
    }
    // Meanwhile another client is served as usual.
    let mut other = node.login(2);
    other.send(&order(1, 1, Side::Back, 300, 100)).unwrap();
    assert!(matches!(
        report_for(&mut other, 1).body,
        ReportBody::OrderAccepted { .. }
    ));
    assert!(
        wait_until(|| node
            .node()
            .gateway_stats()
            .slow_consumers
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1),
        "the slow client was cut off"
    );
    // Reading now, the slow client gets what was queued, then the reason (or the socket
    // closes after the grace period).
    let end = loop {
        match slow.recv(WAIT) {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    match end {
        Err(ClientError::Ended { reason, .. }) => assert_eq!(reason, EndReason::SlowConsumer),
        Err(ClientError::Closed | ClientError::Io(_)) => {}
        other => panic!("the session should have ended, got {other:?}"),
    }
}

#[test]
fn a_login_that_does_not_come_in_time_ends_the_connection() {
    let node = TestNode::start(&[(1, "pro")], |config| {
        config.gateway.login_timeout_ms = 200
    });
    let mut stream = TcpStream::connect(node.addr()).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let (header, body) = proto::split_frame(&bytes, 1 << 20).unwrap().unwrap();
    assert!(matches!(
        ServerMsg::decode(header, body).unwrap(),
        ServerMsg::EndOfSession {
            reason: EndReason::LoginTimeout,
            ..
        }
    ));
}

#[test]
fn silence_past_the_heartbeat_timeout_ends_the_session() {
    let node = TestNode::start(&[(1, "pro")], |_| {});
    let options = Options {
        heartbeat_ms: 100,
        ..Options::default()
    };
    let mut client = node.login_with(1, options);
    assert_eq!(client.session().heartbeat_ms, 100);
    // The client library heartbeats only while it is read from; stay away for 3+ intervals.
    std::thread::sleep(Duration::from_millis(600));
    let end = loop {
        match client.recv(WAIT) {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    assert!(
        matches!(
            end,
            Err(ClientError::Ended {
                reason: EndReason::HeartbeatTimeout,
                ..
            })
        ),
        "{end:?}"
    );
}

#[test]
fn an_account_holds_at_most_its_tiers_sessions() {
    let node = TestNode::start(&[(1, "free")], |_| {});
    let first = node.login(1);
    let second = node.login(1);
    let third = Client::connect(node.addr(), credentials(1), Options::default()).unwrap_err();
    assert!(
        matches!(
            third,
            ClientError::LoginRejected(LoginReject::TooManySessions)
        ),
        "{third}"
    );
    first.logout().unwrap();
    // A session freed by a logout can be taken again.
    let again =
        wait_until(|| Client::connect(node.addr(), credentials(1), Options::default()).is_ok());
    assert!(again);
    drop(second);
}

#[test]
fn a_request_that_reports_nothing_is_confirmed_with_request_done() {
    let node = TestNode::start(&[(1, "pro")], |_| {});
    let mut client = node.login(1);
    client
        .send(&ClientMsg::MassCancel(proto::MassCancel {
            request_id: 5,
            scope: Scope::All,
        }))
        .unwrap();
    let done = client
        .wait_for(WAIT, |m| matches!(m, ServerMsg::RequestDone { .. }))
        .unwrap();
    let ServerMsg::RequestDone {
        request_id,
        msg_type,
        shard,
        journal_seq,
    } = done
    else {
        unreachable!()
    };
    assert_eq!(
        (request_id, msg_type, shard),
        (5, proto::client_kind::MASS_CANCEL, 0)
    );
    assert!(journal_seq > 0);
    // A request that does report gets its reports and no REQUEST_DONE.
    client.send(&order(6, 6, Side::Back, 300, 100)).unwrap();
    report_for(&mut client, 6);
    client
        .send(&ClientMsg::GetBalance { request_id: 7 })
        .unwrap();
    let mut seen_done = false;
    loop {
        match client.recv(WAIT).unwrap() {
            Some(ServerMsg::Balance { .. }) => break,
            Some(ServerMsg::RequestDone { .. }) => seen_done = true,
            _ => {}
        }
    }
    assert!(!seen_done);
}

#[test]
fn two_shards_route_by_market_and_answer_account_wide_requests_from_both() {
    let node = TestNode::start(&[(1, "pro"), (2, "pro")], |config| config.shards.count = 2);
    let mut client = node.login(1);
    assert_eq!(client.session().shard_count, 2);
    // Market 1 lives on shard 1 (id modulo 2); market 2 (a pool) on shard 0.
    client.send(&order(1, 1, Side::Back, 300, 100)).unwrap();
    let on_exchange = report_for(&mut client, 1);
    assert_eq!(on_exchange.header.shard, 1);
    client
        .send(&ClientMsg::PlaceBet(proto::PlaceBet {
            request_id: 2,
            client_order_id: 2,
            stake_minor: 100,
            market: MarketId(2),
            selection: oddsmatch_engine::SelectionId(1),
        }))
        .unwrap();
    let on_pool = report_for(&mut client, 2);
    assert!(matches!(on_pool.body, ReportBody::BetAccepted { .. }));
    assert_eq!(on_pool.header.shard, 0);
    // A balance read is answered by each shard's wallet.
    client
        .send(&ClientMsg::GetBalance { request_id: 3 })
        .unwrap();
    let mut shards = Vec::new();
    while shards.len() < 2 {
        if let ServerMsg::Balance {
            header,
            balance: Some(balance),
        } = client
            .wait_for(WAIT, |m| matches!(m, ServerMsg::Balance { .. }))
            .unwrap()
        {
            assert!(header.last);
            shards.push((header.shard, balance.exposure_minor));
        }
    }
    shards.sort();
    assert_eq!(shards, [(0, 100), (1, 100)]);
    // Mass cancel everywhere: shard 1 cancels the order, shard 0 has none (pool bets are not
    // orders) and confirms with REQUEST_DONE.
    client
        .send(&ClientMsg::MassCancel(proto::MassCancel {
            request_id: 4,
            scope: Scope::All,
        }))
        .unwrap();
    let cancelled = report_for(&mut client, 4);
    assert_eq!(cancelled.header.shard, 1);
    let done = client
        .wait_for(WAIT, |m| {
            matches!(m, ServerMsg::RequestDone { request_id: 4, .. })
        })
        .unwrap();
    assert!(matches!(done, ServerMsg::RequestDone { shard: 0, .. }));
    // Cursors are kept per shard.
    let cursors = client.cursors();
    assert_eq!(cursors.iter().map(|c| c.shard).collect::<Vec<_>>(), [0, 1]);
}

#[test]
fn with_several_shards_a_bootstrap_deposit_must_name_its_shard() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bootstrap.jsonl");
    std::fs::write(
        &path,
        "{\"cmd\":\"create_account\",\"account\":1}\n{\"cmd\":\"deposit\",\"account\":1,\"amount\":5,\"transfer_id\":1}\n",
    )
    .unwrap();
    let mut config = oddsmatch_net::node::NodeConfig {
        data_dir: dir.path().join("data"),
        bootstrap: Some(path),
        ..Default::default()
    };
    config.gateway.listen = "127.0.0.1:0".parse().unwrap();
    config.market_data.listen_tcp = None;
    config.market_data.listen_quic = None;
    config.shards.count = 2;
    config.shards.segment_bytes = 1 << 20;
    let error = oddsmatch_net::node::Node::start(config)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(":2:") && error.contains("must name its shard"),
        "{error}"
    );
}

#[test]
fn a_feed_sends_reference_odds_and_nothing_that_trades() {
    let node = TestNode::start(&[(1, "pro"), (9, "feed")], |_| {});
    let mut feed = node.login(9);
    assert_eq!(feed.session().role, oddsmatch_engine::Role::Feed);
    let reference = |request_id, probabilities_bps: Vec<u16>| {
        ClientMsg::ReferenceOdds(proto::ReferenceOdds {
            request_id,
            market: MarketId(1),
            probabilities_bps,
        })
    };
    feed.send(&reference(1, vec![5_000, 3_000, 2_000])).unwrap();
    let done = feed
        .wait_for(WAIT, |m| {
            matches!(m, ServerMsg::RequestDone { request_id: 1, .. })
        })
        .unwrap();
    assert!(matches!(done, ServerMsg::RequestDone { shard: 0, .. }));
    // One probability per selection, each at most 10000 bps: checked before the shard.
    feed.send(&reference(2, vec![5_000, 5_000])).unwrap();
    assert_eq!(
        rejected(&mut feed, 2),
        RejectReason::InvalidReference.code()
    );
    feed.send(&reference(3, vec![5_000, 3_000, 10_001]))
        .unwrap();
    assert_eq!(
        rejected(&mut feed, 3),
        RejectReason::InvalidReference.code()
    );
    // A feed does not trade.
    feed.send(&order(4, 4, Side::Back, 300, 100)).unwrap();
    assert_eq!(
        rejected(&mut feed, 4),
        RejectReason::RoleNotPermitted.code()
    );
}
