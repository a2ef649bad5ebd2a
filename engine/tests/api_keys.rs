//! API keys: `set_api_key` gives traders and feeds one key each, rotation retires the old key
//! id, key ids are unique across accounts, every refusal changes nothing, the secret never
//! appears in an event, and keys survive a snapshot.

mod support;

use oddsmatch_engine::*;
use support::*;

const SECRET_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn secret(byte: u8) -> ApiSecret {
    ApiSecret([byte; 32])
}

fn set(account: AccountId, key_id: u64, secret: ApiSecret) -> Command {
    Command::SetApiKey {
        account,
        key_id,
        secret,
    }
}

/// Who holds `key_id`, with which secret.
fn holder(h: &Harness, key_id: u64) -> Option<(AccountId, ApiSecret)> {
    match h.engine().query(&Query::ApiKey { key_id }) {
        Reply::ApiKey(view) => view.map(|v| {
            assert_eq!(v.key_id, key_id);
            (v.account, v.secret)
        }),
        other => panic!("an API key query got {other:?}"),
    }
}

fn feed(h: &mut Harness, account: AccountId) {
    let mut command = AccountSpec::new(account).command();
    if let Command::CreateAccount { role, .. } = &mut command {
        *role = Role::Feed;
    }
    h.accept(command);
}

#[test]
fn traders_and_feeds_get_a_key_and_the_event_never_carries_the_secret() {
    let mut h = Harness::new();
    h.funded(ALICE, 1_000);
    feed(&mut h, BOB);
    let before = h.hash();
    let events = h.accept(set(ALICE, 77, secret(1)));
    assert_eq!(
        events,
        [Event::ApiKeySet {
            account: ALICE,
            key_id: 77
        }]
    );
    assert_ne!(h.hash(), before, "the key is part of the state");
    h.accept(set(BOB, 78, secret(2)));
    assert_eq!(holder(&h, 77), Some((ALICE, secret(1))));
    assert_eq!(holder(&h, 78), Some((BOB, secret(2))));
    assert_eq!(holder(&h, 79), None);

    // The event's JSON names the account and key id only.
    let json = serde_json::to_string(&events[0]).unwrap();
    assert_eq!(json, r#"{"event":"api_key_set","account":1,"key_id":77}"#);
}

#[test]
fn a_new_key_replaces_the_old_one() {
    let mut h = Harness::new();
    h.funded(ALICE, 1_000);
    h.accept(set(ALICE, 77, secret(1)));
    // Rotation to a new id: the old id stops resolving at once.
    h.accept(set(ALICE, 80, secret(3)));
    assert_eq!(holder(&h, 77), None);
    assert_eq!(holder(&h, 80), Some((ALICE, secret(3))));
    // The retired id is free for another account.
    h.funded(BOB, 1_000);
    h.accept(set(BOB, 77, secret(4)));
    assert_eq!(holder(&h, 77), Some((BOB, secret(4))));
    // The same id again with a new secret changes only the secret.
    let before = h.hash();
    h.accept(set(ALICE, 80, secret(5)));
    assert_eq!(holder(&h, 80), Some((ALICE, secret(5))));
    assert_ne!(h.hash(), before);
    // The same id and secret again is accepted and changes nothing.
    let before = h.hash();
    h.accept(set(ALICE, 80, secret(5)));
    assert_eq!(h.hash(), before);
}

#[test]
fn refusals_name_the_account_and_change_nothing() {
    let mut h = Harness::new();
    h.funded(ALICE, 1_000);
    h.funded(BOB, 1_000);
    h.accept(set(ALICE, 77, secret(1)));

    let event = h.reject(set(CAROL, 90, secret(2)), RejectReason::UnknownAccount);
    assert_eq!(
        event,
        Event::Rejected {
            command: CommandKind::SetApiKey,
            reason: RejectReason::UnknownAccount,
            account: Some(CAROL),
            market: None,
            client_order_id: None,
            order_id: None,
        }
    );
    for house in [AccountId::HOUSE_ROUNDING, AccountId::HOUSE_COMMISSION] {
        h.reject(set(house, 91, secret(2)), RejectReason::ReservedAccount);
    }
    h.reject(
        set(AccountId(AccountId::RESERVED_MIN), 91, secret(2)),
        RejectReason::UnknownAccount,
    );
    h.reject(set(BOB, 0, secret(2)), RejectReason::InvalidApiKey);
    h.reject(set(BOB, 77, secret(2)), RejectReason::DuplicateApiKey);
    // An account holding a key: the refused rotation leaves it in place.
    h.reject(set(ALICE, 0, secret(2)), RejectReason::InvalidApiKey);
    assert_eq!(holder(&h, 77), Some((ALICE, secret(1))));
    assert_eq!(holder(&h, 91), None);
    assert_eq!(holder(&h, 0), None);
}

#[test]
fn keys_apply_from_sim_lines_and_bad_secrets_do_not_parse() {
    let mut h = Harness::new();
    h.funded(ALICE, 1_000);
    let line = format!(
        r#"{{"ts":9,"cmd":"set_api_key","account":1,"key_id":77,"secret":"{SECRET_HEX}"}}"#
    );
    let events = h.apply_json(&line);
    assert_eq!(
        events,
        [Event::ApiKeySet {
            account: ALICE,
            key_id: 77
        }]
    );
    let (_, stored) = holder(&h, 77).unwrap();
    assert_eq!(stored.0[..4], [0, 1, 2, 3]);
    assert_eq!(stored.to_hex(), SECRET_HEX);

    // The line form round trips, and a printed command does not show the secret.
    let input: Input = serde_json::from_str(&line).unwrap();
    assert_eq!(serde_json::to_string(&input).unwrap(), line);
    let printed = format!("{input:?}");
    assert!(printed.contains("ApiSecret(..)"), "{printed}");
    assert!(!printed.contains("31"), "{printed}");

    for (secret, message) in [
        (&SECRET_HEX[..63], "not 63"),
        ("zz", "not 2"),
        (
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1x",
            "hexadecimal",
        ),
    ] {
        let line =
            format!(r#"{{"ts":9,"cmd":"set_api_key","account":1,"key_id":1,"secret":"{secret}"}}"#);
        let error = serde_json::from_str::<Input>(&line).unwrap_err();
        assert!(error.to_string().contains(message), "{secret}: {error}");
    }
    let missing = r#"{"ts":9,"cmd":"set_api_key","account":1,"key_id":1}"#;
    let error = serde_json::from_str::<Input>(missing).unwrap_err();
    assert!(error.to_string().contains("secret"), "{error}");
}

#[test]
fn keys_survive_a_snapshot_and_stay_unique_after_it() {
    let mut h = Harness::new();
    h.funded(ALICE, 1_000);
    feed(&mut h, BOB);
    h.accept(set(ALICE, 77, secret(1)));
    h.accept(set(BOB, 78, secret(2)));
    h.accept(set(ALICE, 79, secret(3)));
    let restored: Engine = Engine::from_snapshot(&h.engine().snapshot()).unwrap();
    assert_eq!(restored.state_hash(), h.hash());
    for key_id in [77, 78, 79] {
        let query = Query::ApiKey { key_id };
        assert_eq!(restored.query(&query), h.engine().query(&query));
    }
    // The restored index refuses a key id that is taken, and forgets the retired one.
    let mut restored = restored;
    let mut events = Vec::new();
    let input = Input {
        ts_ns: 100,
        command: set(BOB, 79, secret(4)),
    };
    restored.apply(&input, &mut events);
    assert!(
        matches!(
            events[..],
            [Event::Rejected {
                reason: RejectReason::DuplicateApiKey,
                ..
            }]
        ),
        "{events:?}"
    );
    events.clear();
    let input = Input {
        ts_ns: 101,
        command: set(BOB, 77, secret(4)),
    };
    restored.apply(&input, &mut events);
    assert_eq!(
        events,
        [Event::ApiKeySet {
            account: BOB,
            key_id: 77
        }]
    );
    restored.validate().unwrap();
}

#[test]
fn an_account_with_a_key_trades_as_before() {
    let mut h = Harness::new();
    h.funded(ALICE, 100_000);
    h.funded(BOB, 100_000);
    h.accept(set(ALICE, 77, secret(1)));
    h.default_market();
    let order = h.placed(Place::back(ALICE, S1, 300, 1_000));
    h.place(Place::lay(BOB, S1, 300, 1_000));
    assert!(!h.is_live(order));
    h.accept(Command::KillSwitch {
        account: ALICE,
        on: true,
    });
    // The kill switch does not touch the key.
    assert_eq!(holder(&h, 77), Some((ALICE, secret(1))));
}
