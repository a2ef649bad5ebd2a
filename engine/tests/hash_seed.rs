//! The idempotency windows' hash seed is a secret against crafted collisions, not an input:
//! two engines that differ only in it produce the same events and the same state hash.

use oddsmatch_engine::*;

fn commands() -> Vec<Input> {
    let mut inputs = Vec::new();
    let mut push = |command| {
        inputs.push(Input {
            ts_ns: inputs.len() as u64,
            command,
        })
    };
    for account in [AccountId(1), AccountId(2)] {
        push(Command::create_account(account, Tier::MarketMaker));
        push(Command::Deposit {
            account,
            amount_minor: 1_000_000_000,
            transfer_id: u64::from(account.0),
        });
    }
    push(Command::create_market(MarketSpec {
        market: MarketId(1),
        kind: MarketKind::Exchange,
        selections: vec![SelectionId(1), SelectionId(2)],
        places: 1,
        ladder: LadderKind::Betfair,
        commission_bps: 0,
        ..MarketSpec::default()
    }));
    push(Command::OpenMarket {
        market: MarketId(1),
    });
    // Windows of 64 ids (config below) fill and evict many times; each block of commands
    // repeats its ids on purpose, so that many repeats are rejected as duplicates.
    for n in 0..3_000u64 {
        let account = AccountId(1 + (n % 2) as u32);
        let side = if n % 3 == 0 { Side::Lay } else { Side::Back };
        push(Command::PlaceOrder {
            account,
            market: MarketId(1),
            selection: SelectionId(1 + (n % 2) as u32),
            side,
            odds_x100: [300, 310, 320][(n % 3) as usize],
            stake_minor: 100,
            tif: if n % 5 == 0 {
                TimeInForce::Gtc
            } else {
                TimeInForce::Ioc
            },
            post_only: false,
            persistence: Persistence::Lapse,
            client_order_id: n % 50 + (n / 500) * 50,
        });
        push(Command::Deposit {
            account,
            amount_minor: 1,
            transfer_id: 1_000 + n % 40 + (n / 400) * 40,
        });
    }
    inputs
}

#[test]
fn the_hash_seed_changes_no_output() {
    let config = |hash_seed| EngineConfig {
        client_order_id_window: 64,
        transfer_id_window: 64,
        hash_seed,
        ..EngineConfig::small()
    };
    let mut a: Engine = Engine::new(config(1));
    let mut b: Engine = Engine::new(config(0xdead_beef_cafe_f00d));
    let (mut events_a, mut events_b) = (Vec::new(), Vec::new());
    let mut duplicates = 0;
    for input in commands() {
        events_a.clear();
        events_b.clear();
        a.apply(&input, &mut events_a);
        b.apply(&input, &mut events_b);
        assert_eq!(events_a, events_b, "{input:?}");
        duplicates += events_a
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::Rejected {
                        reason: RejectReason::DuplicateClientOrderId
                            | RejectReason::DuplicateTransferId,
                        ..
                    }
                )
            })
            .count();
    }
    assert_eq!(a.state_hash(), b.state_hash());
    a.validate().unwrap();
    assert!(
        duplicates > 100,
        "the stream exercises the windows: {duplicates} duplicates"
    );
}
