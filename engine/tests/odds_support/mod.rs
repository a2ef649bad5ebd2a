//! Helpers for the pool, vote and feed tests, on top of [`crate::support::Harness`].
//!
//! The harness stamps each command one nanosecond after the previous one. Tests of windows,
//! ticks and vote deadlines need exact times, so [`at`], [`accept_at`] and [`reject_at`] send
//! a command at a chosen timestamp (through the sim-line path, which every engine input can
//! take). Everything still runs on both books with the harness's checks after every command:
//! `validate()`, equal events and state hashes, and money conservation.

// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

use oddsmatch_engine::*;

use crate::support::*;

/// One millisecond in nanoseconds.
pub const MS: u64 = 1_000_000;
/// One second in nanoseconds.
pub const SECOND: u64 = 1_000 * MS;

/// The feed account of the feed tests.
pub const FEED: AccountId = AccountId(90);

/// Applies a command at exactly `ts_ns`; returns its events.
pub fn at(h: &mut Harness, ts_ns: u64, command: Command) -> Vec<Event> {
    let input = Input { ts_ns, command };
    let line = serde_json::to_string(&input).expect("inputs serialize");
    let parsed: Input = serde_json::from_str(&line).expect("inputs parse back");
    assert_eq!(parsed, input, "the sim line does not round-trip");
    h.apply_json(&line)
}

/// Applies a command at exactly `ts_ns` that must not be refused; returns its events.
pub fn accept_at(h: &mut Harness, ts_ns: u64, command: Command) -> Vec<Event> {
    let events = at(h, ts_ns, command);
    assert!(
        !events.iter().any(|e| matches!(e, Event::Rejected { .. })),
        "unexpected reject: {events:?}"
    );
    events
}

/// Applies a command at exactly `ts_ns` that must be refused with `reason` and change nothing;
/// returns the reject.
pub fn reject_at(h: &mut Harness, ts_ns: u64, command: Command, reason: RejectReason) -> Event {
    let kind = command.kind();
    let before = h.hash();
    let events = at(h, ts_ns, command);
    assert_eq!(events.len(), 1, "expected one reject, got {events:?}");
    match events[0] {
        Event::Rejected {
            command,
            reason: actual,
            ..
        } => {
            assert_eq!(actual, reason, "wrong reject reason in {:?}", events[0]);
            assert_eq!(command, kind, "the reject names the wrong command");
        }
        other => panic!("expected a {reason:?} reject, got {other:?}"),
    }
    assert_eq!(h.hash(), before, "a rejected command changed the state");
    events[0]
}

/// The `rejected` event a command refused with `reason` produces.
pub fn rejected(
    command: CommandKind,
    reason: RejectReason,
    account: Option<AccountId>,
    market: Option<MarketId>,
    client_order_id: Option<u64>,
    order_id: Option<OrderId>,
) -> Event {
    Event::Rejected {
        command,
        reason,
        account,
        market,
        client_order_id,
        order_id,
    }
}

// -- markets --

/// A pool market with `takeout_bps`, one place and no market data.
pub fn pool_def(market: MarketId, selections: &[SelectionId], takeout_bps: u16) -> MarketDef {
    MarketDef::new(market, selections).with(|s| {
        s.kind = MarketKind::Pool;
        s.takeout_bps = takeout_bps;
    })
}

/// The `market_status` event of a status change.
pub fn status_event(
    market: MarketId,
    book_seq: u64,
    status: MarketStatus,
    cause: StatusCause,
) -> Event {
    Event::MarketStatus {
        market,
        book_seq,
        status,
        cause,
    }
}

// -- accounts --

/// Creates an account with the feed role.
pub fn feed_account(h: &mut Harness, account: AccountId) -> AccountId {
    let mut command = Command::create_account(account, Tier::Basic);
    if let Command::CreateAccount { role, .. } = &mut command {
        *role = Role::Feed;
    }
    let events = h.accept(command);
    assert_eq!(
        events,
        vec![Event::AccountCreated {
            account,
            tier: Tier::Basic,
        }]
    );
    account
}

// -- pool bets --

/// A `place_bet` on [`MARKET`].
pub fn bet_command(
    account: AccountId,
    selection: SelectionId,
    stake_minor: i64,
    client_order_id: u64,
) -> Command {
    Command::PlaceBet {
        account,
        market: MARKET,
        selection,
        stake_minor,
        client_order_id,
    }
}

/// Places a bet on [`MARKET`] that must be accepted: the first event is its `bet_accepted`.
/// Returns the bet id and every event.
pub fn bet_events(
    h: &mut Harness,
    account: AccountId,
    selection: SelectionId,
    stake_minor: i64,
    client_order_id: u64,
) -> (OrderId, Vec<Event>) {
    let events = h.accept(bet_command(
        account,
        selection,
        stake_minor,
        client_order_id,
    ));
    let Some(&Event::BetAccepted { bet_id, .. }) = events.first() else {
        panic!("expected bet_accepted first, got {events:?}");
    };
    assert_eq!(
        events[0],
        Event::BetAccepted {
            bet_id,
            account,
            client_order_id,
            market: MARKET,
            selection,
            stake_minor,
        }
    );
    (bet_id, events)
}

/// Places a bet on [`MARKET`] that must be accepted; returns its id.
pub fn bet(
    h: &mut Harness,
    account: AccountId,
    selection: SelectionId,
    stake_minor: i64,
    client_order_id: u64,
) -> OrderId {
    bet_events(h, account, selection, stake_minor, client_order_id).0
}

/// A `cancel_bet` on [`MARKET`].
pub fn cancel_bet_command(account: AccountId, bet_id: OrderId) -> Command {
    Command::CancelBet {
        account,
        market: MARKET,
        bet_id,
    }
}

/// The `bet_settled` event of a bet on [`MARKET`].
pub fn bet_settled(
    bet_id: OrderId,
    account: AccountId,
    stake_minor: i64,
    payout_minor: i64,
) -> Event {
    Event::BetSettled {
        bet_id,
        account,
        market: MARKET,
        stake_minor,
        payout_minor,
    }
}

/// The `account_settled` event of an account on [`MARKET`] (pool markets charge no
/// commission).
pub fn account_settled(account: AccountId, pnl_minor: i64) -> Event {
    Event::AccountSettled {
        account,
        market: MARKET,
        pnl_minor,
        commission_minor: 0,
    }
}

/// A `ledger` posting referring to [`MARKET`].
pub fn posting(
    account: AccountId,
    kind: PostingKind,
    amount_minor: i64,
    balance_minor: i64,
) -> Event {
    Event::Ledger {
        account,
        kind,
        amount_minor,
        balance_minor,
        reference: u64::from(MARKET.0),
    }
}

/// Asserts that money is conserved: every balance, house accounts included, sums to deposits
/// minus withdrawals.
pub fn assert_conserved(h: &Harness) {
    assert_eq!(
        h.engine().total_balance_minor(),
        h.engine().net_deposits_minor(),
        "money not conserved"
    );
}

// -- votes --

/// A `vote` on [`MARKET`].
pub fn vote_command(account: AccountId, selection: SelectionId) -> Command {
    Command::Vote {
        account,
        market: MARKET,
        selection,
    }
}

/// A vote resolution.
pub fn vote_resolution(
    window_start: u64,
    window_end: u64,
    quorum: u32,
    threshold_bps: u16,
    weight: VoteWeight,
) -> Resolution {
    Resolution::Vote {
        window_start,
        window_end,
        quorum,
        threshold_bps,
        weight,
    }
}

// -- the feed --

/// A `reference_odds` from [`FEED`] on [`MARKET`].
pub fn reference_command(probabilities_bps: &[u16]) -> Command {
    Command::ReferenceOdds {
        account: FEED,
        market: MARKET,
        probabilities_bps: probabilities_bps.to_vec(),
    }
}
