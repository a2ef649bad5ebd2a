//! `oddsmatch serve` as a process: every acknowledged order survives `kill -9` and a restart,
//! and SIGTERM stops it gracefully with exit status 0 and a snapshot.

use std::path::{Path, PathBuf};
use std::time::Duration;

use oddsmatch_engine::{MarketId, OrderId, Persistence, SelectionId, Side, TimeInForce};
use oddsmatch_net::client::{Client, Credentials, Options};
use oddsmatch_net::proto::{ClientMsg, NewOrder, ReportBody, ResumeCursor, Scope, ServerMsg};

mod support;

use support::{scratch, serve, terminate};

const WAIT: Duration = Duration::from_secs(10);
const SECRET: [u8; 32] = [0x5a; 32];

fn bootstrap(dir: &Path) -> PathBuf {
    let secret: String = SECRET.iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join("bootstrap.jsonl");
    let lines = [
        "# one market maker and an exchange market".to_owned(),
        r#"{"cmd":"create_account","account":1,"tier":"market_maker"}"#.to_owned(),
        format!(r#"{{"cmd":"set_api_key","account":1,"key_id":42,"secret":"{secret}"}}"#),
        r#"{"cmd":"deposit","account":1,"amount":1000000000,"transfer_id":1}"#.to_owned(),
        r#"{"cmd":"create_market","market":1,"selections":[1,2]}"#.to_owned(),
        r#"{"cmd":"open_market","market":1}"#.to_owned(),
    ];
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn login(addr: &str, resume: Vec<ResumeCursor>) -> Client {
    let credentials = Credentials {
        key_id: 42,
        secret: SECRET,
    };
    Client::connect(
        addr,
        credentials,
        Options {
            resume,
            ..Options::default()
        },
    )
    .unwrap()
}

fn order(request_id: u64, odds_x100: u32) -> ClientMsg {
    ClientMsg::NewOrder(NewOrder {
        request_id,
        client_order_id: request_id,
        stake_minor: 100,
        market: MarketId(1),
        selection: SelectionId(1 + (request_id % 2) as u32),
        odds_x100,
        side: Side::Back,
        tif: TimeInForce::Gtc,
        persistence: Persistence::Persist,
        post_only: false,
    })
}

fn open_orders(client: &mut Client) -> Vec<(OrderId, u64)> {
    let request_id = 1_000_000;
    client
        .send(&ClientMsg::GetOpenOrders {
            request_id,
            scope: Scope::All,
        })
        .unwrap();
    let mut orders = Vec::new();
    loop {
        match client
            .wait_for(WAIT, |m| matches!(m, ServerMsg::OpenOrders { header, .. } if header.request_id == request_id))
            .unwrap()
        {
            ServerMsg::OpenOrders { header, orders: part } => {
                orders.extend(part.iter().map(|o| (o.order_id, o.client_order_id)));
                if header.last {
                    break;
                }
            }
            _ => unreachable!(),
        }
    }
    orders.sort();
    orders
}

#[test]
fn kill_9_loses_no_acknowledged_order() {
    let dir = scratch("serve", "kill9");
    bootstrap(&dir);
    let (mut child, addr) = serve(&dir, &[]);
    let mut client = login(&addr, Vec::new());
    client
        .wait_for(WAIT, |m| matches!(m, ServerMsg::ReplayComplete { .. }))
        .unwrap();
    // Pipeline orders and collect the acknowledgements that arrive before the kill.
    let ladder = [150, 200, 250, 300, 400, 500];
    for request_id in 1..=300u64 {
        client.queue(&order(
            request_id,
            ladder[request_id as usize % ladder.len()],
        ));
    }
    client.flush().unwrap();
    let mut acked = Vec::new();
    while acked.len() < 120 {
        if let Some(ServerMsg::Report(report)) = client.recv(WAIT).unwrap()
            && let ReportBody::OrderAccepted {
                order_id,
                client_order_id,
                ..
            } = report.body
        {
            acked.push((order_id, client_order_id));
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Whatever else arrived before the socket died was acknowledged too.
    while let Ok(Some(msg)) = client.recv(Duration::from_millis(100)) {
        if let ServerMsg::Report(report) = msg
            && let ReportBody::OrderAccepted {
                order_id,
                client_order_id,
                ..
            } = report.body
        {
            acked.push((order_id, client_order_id));
        }
    }
    drop(client);

    let (mut child, addr) = serve(&dir, &[]);
    let mut client = login(&addr, vec![ResumeCursor::default()]);
    let mut replayed = Vec::new();
    loop {
        match client.recv(WAIT).unwrap() {
            Some(ServerMsg::Report(report)) => {
                if let ReportBody::OrderAccepted {
                    order_id,
                    client_order_id,
                    ..
                } = report.body
                {
                    replayed.push((order_id, client_order_id));
                }
            }
            Some(ServerMsg::ReplayComplete { incomplete, .. }) => {
                assert!(!incomplete);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let open = open_orders(&mut client);
    for order in &acked {
        assert!(
            open.contains(order),
            "acknowledged order {order:?} is still open after kill -9"
        );
        assert!(
            replayed.contains(order),
            "and its acknowledgement is replayed"
        );
    }
    assert_eq!(
        open,
        {
            let mut replayed = replayed.clone();
            replayed.sort();
            replayed
        },
        "the book holds exactly the orders the journal acknowledged"
    );
    // The bootstrap was not applied twice.
    let request_id = 77;
    client.send(&ClientMsg::GetBalance { request_id }).unwrap();
    let ServerMsg::Balance {
        balance: Some(balance),
        ..
    } = client
        .wait_for(WAIT, |m| matches!(m, ServerMsg::Balance { .. }))
        .unwrap()
    else {
        panic!("account 1 has a wallet")
    };
    assert_eq!(balance.balance_minor, 1_000_000_000);
    drop(client);
    terminate(&mut child);
}

#[test]
fn sigterm_drains_snapshots_and_exits_zero() {
    let dir = scratch("serve", "sigterm");
    bootstrap(&dir);
    let (mut child, addr) = serve(&dir, &["--durability", "sync"]);
    let mut client = login(&addr, Vec::new());
    client
        .wait_for(WAIT, |m| matches!(m, ServerMsg::ReplayComplete { .. }))
        .unwrap();
    for request_id in 1..=20u64 {
        client.queue(&order(request_id, 300));
    }
    client.flush().unwrap();
    let status = terminate(&mut child);
    assert!(status.success(), "serve exits 0 on SIGTERM: {status}");
    // Every request the gateway took was answered before it said goodbye.
    let mut acked = Vec::new();
    let ended = loop {
        match client.recv(WAIT) {
            Ok(Some(ServerMsg::Report(report))) => {
                if let ReportBody::OrderAccepted {
                    order_id,
                    client_order_id,
                    ..
                } = report.body
                {
                    acked.push((order_id, client_order_id));
                }
            }
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    assert!(
        matches!(
            ended,
            Err(oddsmatch_net::client::ClientError::Ended {
                reason: oddsmatch_net::proto::EndReason::Shutdown,
                ..
            })
        ),
        "{ended:?}"
    );
    let snapshots = std::fs::read_dir(dir.join("data/shard-0/snapshots"))
        .unwrap()
        .count();
    assert!(
        snapshots >= 2,
        "a shutdown snapshot next to the genesis one"
    );
    // Every order that reached the shard is in the journal and open after a restart.
    let (mut child, addr) = serve(&dir, &[]);
    let mut client = login(&addr, Vec::new());
    let open = open_orders(&mut client);
    acked.sort();
    assert_eq!(
        open, acked,
        "the orders acknowledged before the goodbye, no more, no fewer"
    );
    drop(client);
    assert!(terminate(&mut child).success());
}

#[test]
fn a_closed_standard_output_does_not_stop_a_graceful_exit() {
    let dir = scratch("serve", "closed-stdout");
    bootstrap(&dir);
    let (mut child, addr) = serve(&dir, &[]);
    // Whoever started the server stops reading its output.
    drop(child.stdout.take());
    login(&addr, Vec::new())
        .wait_for(WAIT, |m| matches!(m, ServerMsg::ReplayComplete { .. }))
        .unwrap();
    let status = terminate(&mut child);
    assert!(status.success(), "serve exits 0 on SIGTERM: {status}");
}
