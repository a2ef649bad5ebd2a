//! Markets, settlement and the ledger: the lifecycle (valid and invalid transitions), paying
//! results with rounding and commission (figures computed by hand from docs/market-rules.md
//! §8), void, deposits and withdrawals, account and market creation, and money conservation.

mod support;

use oddsmatch_engine::*;
use support::*;

const ROUNDING: AccountId = AccountId::HOUSE_ROUNDING;
const COMMISSION: AccountId = AccountId::HOUSE_COMMISSION;

fn open() -> Command {
    Command::OpenMarket { market: MARKET }
}

fn suspend() -> Command {
    Command::SuspendMarket { market: MARKET }
}

fn resume() -> Command {
    Command::ResumeMarket { market: MARKET }
}

fn close() -> Command {
    Command::CloseMarket { market: MARKET }
}

fn settle(winners: &[SelectionId]) -> Command {
    Command::SettleMarket {
        market: MARKET,
        winners: winners.to_vec(),
    }
}

fn void() -> Command {
    Command::VoidMarket { market: MARKET }
}

fn status(h: &Harness) -> MarketStatus {
    h.engine().market_status(MARKET).expect("market exists")
}

// -- lifecycle --

#[test]
fn a_market_goes_from_pending_to_settled() {
    let mut h = Harness::new();
    let events = h.accept(MarketDef::new(MARKET, &[S1, S2, S3]).command());
    assert_eq!(
        events,
        vec![Event::MarketCreated {
            market: MARKET,
            kind: MarketKind::Exchange,
            selections: 3,
            places: 1,
            ladder: LadderKind::Betfair,
            commission_bps: 0,
            takeout_bps: 0,
        }]
    );
    assert_eq!(status(&h), MarketStatus::Pending);
    for (seq, (command, expected)) in (1..).zip([
        (open(), MarketStatus::Open),
        (suspend(), MarketStatus::Suspended),
        (resume(), MarketStatus::Open),
        (suspend(), MarketStatus::Suspended),
        (close(), MarketStatus::Closed),
    ]) {
        let events = h.accept(command);
        assert_eq!(
            events,
            vec![Event::MarketStatus {
                market: MARKET,
                book_seq: seq,
                status: expected,
                cause: StatusCause::Operator,
            }]
        );
        assert_eq!(status(&h), expected);
    }
    let events = h.accept(settle(&[S2]));
    assert_eq!(
        events,
        vec![
            Event::MarketSettled {
                market: MARKET,
                winners: Winners::new(&[S2]).unwrap(),
            },
            Event::MarketStatus {
                market: MARKET,
                book_seq: 6,
                status: MarketStatus::Settled,
                cause: StatusCause::Operator,
            },
        ]
    );
    assert_eq!(status(&h), MarketStatus::Settled);
}

/// A harness whose [`MARKET`] (three runners, one place) is in `state`, reached by the usual
/// path.
fn market_in(state: MarketStatus) -> Harness {
    let mut h = Harness::new();
    h.accept(MarketDef::new(MARKET, &[S1, S2, S3]).command());
    let path: &[Command] = match state {
        MarketStatus::Pending => &[],
        MarketStatus::Open => &[open()],
        MarketStatus::Suspended => &[open(), suspend()],
        MarketStatus::Closed => &[open(), suspend(), close()],
        MarketStatus::Settled => &[open(), suspend(), close(), settle(&[S1])],
        MarketStatus::Voided => &[void()],
    };
    for command in path {
        h.accept(command.clone());
    }
    assert_eq!(status(&h), state);
    h
}

const ALL_STATES: [MarketStatus; 6] = [
    MarketStatus::Pending,
    MarketStatus::Open,
    MarketStatus::Suspended,
    MarketStatus::Closed,
    MarketStatus::Settled,
    MarketStatus::Voided,
];

/// The state a lifecycle command leads to from `from`, or `None` if it is not allowed
/// (docs/market-rules.md §3).
fn allowed(from: MarketStatus, command: &Command) -> Option<MarketStatus> {
    use MarketStatus::*;
    match (command, from) {
        (Command::OpenMarket { .. }, Pending) => Some(Open),
        (Command::SuspendMarket { .. }, Open) => Some(Suspended),
        (Command::ResumeMarket { .. }, Suspended) => Some(Open),
        (Command::CloseMarket { .. }, Open | Suspended) => Some(Closed),
        (Command::SettleMarket { .. }, Suspended | Closed) => Some(Settled),
        (Command::VoidMarket { .. }, Pending | Open | Suspended | Closed) => Some(Voided),
        _ => None,
    }
}

#[test]
fn every_lifecycle_command_from_every_state() {
    let commands = [open(), suspend(), resume(), close(), settle(&[S1]), void()];
    for from in ALL_STATES {
        for command in &commands {
            let mut h = market_in(from);
            match allowed(from, command) {
                Some(to) => {
                    h.accept(command.clone());
                    assert_eq!(status(&h), to, "{command:?} from {from:?}");
                }
                None if from.is_final() => {
                    h.reject(command.clone(), RejectReason::MarketFinalized);
                }
                None => {
                    h.reject(command.clone(), RejectReason::InvalidMarketTransition);
                }
            }
        }
    }
}

#[test]
fn lifecycle_commands_on_an_unknown_market_are_rejected() {
    let mut h = market_in(MarketStatus::Open);
    let unknown = MarketId(99);
    for command in [
        Command::OpenMarket { market: unknown },
        Command::SuspendMarket { market: unknown },
        Command::ResumeMarket { market: unknown },
        Command::CloseMarket { market: unknown },
        Command::SettleMarket {
            market: unknown,
            winners: vec![S1],
        },
        Command::VoidMarket { market: unknown },
    ] {
        h.reject(command, RejectReason::UnknownMarket);
    }
}

#[test]
fn orders_and_quotes_are_accepted_only_while_open() {
    for state in ALL_STATES {
        let mut h = market_in(state);
        h.funded(ALICE, PLENTY_MINOR);
        let order = Place::back(ALICE, S1, 300, 100);
        let quotes = Command::MassQuote {
            account: ALICE,
            market: MARKET,
            quotes: vec![quote(S1, Some((300, 100)), None)],
        };
        if state == MarketStatus::Open {
            h.placed(order);
            h.accept(quotes);
        } else {
            h.place_rejected(order, RejectReason::MarketNotOpen);
            h.reject(quotes, RejectReason::MarketNotOpen);
        }
    }
}

#[test]
fn closing_cancels_every_unmatched_order_and_keeps_matched_bets() {
    let mut h = four_traders();
    let lapse = h.placed(Place::back(ALICE, S1, 300, 100));
    let persist = h.placed(Place::lay(ALICE, S2, 200, 100).persist());
    h.placed(Place::back(BOB, S3, 300, 50));
    h.placed(Place::lay(CAROL, S3, 300, 50));

    let events = h.accept(close());
    assert_eq!(
        cancels(&events),
        vec![
            (lapse, 100, CancelReason::MarketClosed),
            (persist, 100, CancelReason::MarketClosed),
        ]
    );
    assert_eq!(h.engine().live_orders(), 0);
    assert_eq!(h.exposure(ALICE), 0);
    // Bob's matched back 50@3.00 still risks 50; Carol's lay risks 50 x 200 / 100 = 100.
    assert_eq!(h.exposure(BOB), 50);
    assert_eq!(h.exposure(CAROL), 100);
}

// -- settlement --

#[test]
fn settlement_pays_the_exact_result_and_takes_commission_from_winners() {
    let mut h = Harness::new();
    h.funded(ALICE, 10_000);
    h.funded(BOB, 10_000);
    h.open_market(MarketDef::new(MARKET, &[S1, S2, S3]).commission_bps(500));
    h.placed(Place::back(ALICE, S1, 300, 1_000));
    h.placed(Place::lay(BOB, S1, 300, 1_000));
    let unmatched = h.placed(Place::back(ALICE, S2, 500, 100).persist());
    h.accept(suspend());

    // Settled straight from suspended, with S1 winning:
    // Alice's back: +1000 x 200 = +200,000 hundredths = +2,000; commission 5% = 100.
    // Bob's lay: -2,000. Rounded results sum to 0: no residue.
    let events = h.accept(settle(&[S1]));
    let ledger = |account, kind, amount_minor, balance_minor| Event::Ledger {
        account,
        kind,
        amount_minor,
        balance_minor,
        reference: u64::from(MARKET.0),
    };
    assert_eq!(
        events,
        vec![
            Event::OrderCancelled {
                order_id: unmatched,
                account: ALICE,
                market: MARKET,
                selection: S2,
                side: Side::Back,
                stake_minor: 100,
                reason: CancelReason::MarketClosed,
            },
            Event::MarketSettled {
                market: MARKET,
                winners: Winners::new(&[S1]).unwrap(),
            },
            Event::AccountSettled {
                account: ALICE,
                market: MARKET,
                pnl_minor: 2_000,
                commission_minor: 100,
            },
            ledger(ALICE, PostingKind::Settlement, 2_000, 12_000),
            ledger(ALICE, PostingKind::Commission, -100, 11_900),
            Event::AccountSettled {
                account: BOB,
                market: MARKET,
                pnl_minor: -2_000,
                commission_minor: 0,
            },
            ledger(BOB, PostingKind::Settlement, -2_000, 8_000),
            ledger(COMMISSION, PostingKind::Commission, 100, 100),
            Event::MarketStatus {
                market: MARKET,
                book_seq: 4,
                status: MarketStatus::Settled,
                cause: StatusCause::Operator,
            },
        ]
    );
    assert_eq!(h.balance(ALICE), 11_900);
    assert_eq!(h.balance(BOB), 8_000);
    assert_eq!(h.balance(COMMISSION), 100);
    assert_eq!(h.balance(ROUNDING), 0);
    assert_eq!([ALICE, BOB].map(|a| h.exposure(a)), [0, 0]);
}

#[test]
fn settlement_with_the_backed_selection_losing() {
    let mut h = Harness::new();
    h.funded(ALICE, 10_000);
    h.funded(BOB, 10_000);
    h.open_market(MarketDef::new(MARKET, &[S1, S2, S3]).commission_bps(500));
    h.placed(Place::back(ALICE, S1, 300, 1_000));
    h.placed(Place::lay(BOB, S1, 300, 1_000));
    h.accept(close());
    // S3 wins: Alice's back loses its stake, -1,000; Bob wins 1,000, commission 50.
    let events = h.accept(settle(&[S3]));
    assert_eq!(
        settlements(&events),
        vec![(ALICE, -1_000, 0), (BOB, 1_000, 50)]
    );
    assert_eq!(h.balance(ALICE), 9_000);
    assert_eq!(h.balance(BOB), 10_950);
    assert_eq!(h.balance(COMMISSION), 50);
}

/// Bob lays 333@1.07 and Alice backs into it; Dave lays 1@1.01 and Carol backs into it. 5%
/// commission.
fn small_odds_market() -> Harness {
    let mut h = Harness::new();
    for account in [ALICE, BOB, CAROL, DAVE] {
        h.funded(account, 10_000);
    }
    h.open_market(MarketDef::new(MARKET, &[S1, S2, S3]).commission_bps(500));
    h.placed(Place::lay(BOB, S1, 107, 333));
    h.placed(Place::back(ALICE, S1, 107, 333));
    h.placed(Place::lay(DAVE, S1, 101, 1));
    h.placed(Place::back(CAROL, S1, 101, 1));
    assert_eq!(h.engine().live_orders(), 0);
    // Bob: win[S1] = -333 x 7 = -2,331 -> 24 (rounded up). Dave: -1 -> 1.
    assert_eq!(h.exposure(BOB), 24);
    assert_eq!(h.exposure(DAVE), 1);
    h.accept(close());
    h
}

#[test]
fn each_result_is_rounded_down_and_the_residue_goes_to_the_house() {
    let mut h = small_odds_market();
    let events = h.accept(settle(&[S1]));
    // In the order the accounts first traded: Bob, Alice, Dave, Carol.
    // Bob: -2,331 hundredths -> -24 (toward minus infinity).
    // Alice: +2,331 -> +23; commission floor(23 x 500 / 10,000) = floor(1.15) = 1.
    // Dave: -1 -> -1. Carol: +1 -> 0.
    // Residue: -(-24 + 23 - 1 + 0) = 2.
    assert_eq!(
        settlements(&events),
        vec![(BOB, -24, 0), (ALICE, 23, 1), (DAVE, -1, 0), (CAROL, 0, 0)]
    );
    assert_eq!(
        postings(&events),
        vec![
            (BOB, PostingKind::Settlement, -24),
            (ALICE, PostingKind::Settlement, 23),
            (ALICE, PostingKind::Commission, -1),
            (DAVE, PostingKind::Settlement, -1),
            (COMMISSION, PostingKind::Commission, 1),
            (ROUNDING, PostingKind::Rounding, 2),
        ]
    );
    assert_eq!(
        [ALICE, BOB, CAROL, DAVE, COMMISSION, ROUNDING].map(|a| h.balance(a)),
        [10_022, 9_976, 10_000, 9_999, 1, 2]
    );
    // The losers lost exactly the exposure they were checked for.
    assert_eq!(10_000 - h.balance(BOB), 24);
    assert_eq!(10_000 - h.balance(DAVE), 1);
}

#[test]
fn rounding_when_the_layers_win() {
    let mut h = small_odds_market();
    let events = h.accept(settle(&[S2]));
    // Bob: +333 x 100 hundredths = +333; commission floor(333 x 0.05) = floor(16.65) = 16.
    // Alice: -333. Dave: +1, commission floor(0.05) = 0. Carol: -1. Residue 0.
    assert_eq!(
        settlements(&events),
        vec![
            (BOB, 333, 16),
            (ALICE, -333, 0),
            (DAVE, 1, 0),
            (CAROL, -1, 0)
        ]
    );
    assert_eq!(
        [ALICE, BOB, CAROL, DAVE, COMMISSION, ROUNDING].map(|a| h.balance(a)),
        [9_667, 10_317, 9_999, 10_001, 16, 0]
    );
}

/// Four runners, two places, 10% commission. Alice backs S1 1000@2.00 against Bob's lay and
/// lays S2 500@4.00 against Bob's back.
fn two_place_market() -> Harness {
    let mut h = Harness::new();
    h.funded(ALICE, 10_000);
    h.funded(BOB, 10_000);
    h.open_market(
        MarketDef::new(MARKET, &[S1, S2, S3, S4])
            .places(2)
            .commission_bps(1_000),
    );
    h.placed(Place::back(ALICE, S1, 200, 1_000));
    h.placed(Place::lay(BOB, S1, 200, 1_000));
    h.placed(Place::back(BOB, S2, 400, 500));
    h.placed(Place::lay(ALICE, S2, 400, 500));
    assert_eq!(h.engine().live_orders(), 0);
    // Alice: S1 min(+100,000, -100,000) + S2 min(-150,000, +50,000) = -250,000 -> 2,500.
    // Bob: S1 min(-100,000, +100,000) + S2 min(+150,000, -50,000) = -150,000 -> 1,500.
    assert_eq!(h.exposure(ALICE), 2_500);
    assert_eq!(h.exposure(BOB), 1_500);
    h.accept(close());
    h
}

#[test]
fn a_two_place_market_pays_both_winners() {
    let mut h = two_place_market();
    let events = h.accept(settle(&[S1, S2]));
    // Alice: S1 wins +100,000, S2 wins -150,000 -> -500. Bob: -100,000 + 150,000 -> +500,
    // commission 10% = 50.
    assert_eq!(settlements(&events), vec![(ALICE, -500, 0), (BOB, 500, 50)]);
    assert_eq!(
        [ALICE, BOB, COMMISSION, ROUNDING].map(|a| h.balance(a)),
        [9_500, 10_450, 50, 0]
    );
    assert!(matches!(
        events[0],
        Event::MarketSettled { winners, .. } if winners.as_slice() == [S1, S2]
    ));
}

#[test]
fn a_two_place_market_can_cost_the_whole_exposure() {
    let mut h = two_place_market();
    let events = h.accept(settle(&[S3, S2]));
    // Alice: S1 loses -100,000, S2 wins -150,000 -> -2,500, her whole exposure.
    // Bob: +100,000 + 150,000 -> +2,500, commission 250.
    assert_eq!(
        settlements(&events),
        vec![(ALICE, -2_500, 0), (BOB, 2_500, 250)]
    );
    assert_eq!(
        [ALICE, BOB, COMMISSION].map(|a| h.balance(a)),
        [7_500, 12_250, 250]
    );
}

#[test]
fn settlement_must_name_exactly_places_distinct_selections_of_the_market() {
    let mut h = two_place_market();
    for winners in [
        vec![],
        vec![S1],
        vec![S1, S1],
        vec![S1, SelectionId(9)],
        vec![S1, S2, S3],
    ] {
        h.reject(settle(&winners), RejectReason::InvalidWinners);
    }
    let mut h = market_in(MarketStatus::Closed);
    h.reject(settle(&[S1, S2]), RejectReason::InvalidWinners);
    h.reject(settle(&[SelectionId(9)]), RejectReason::InvalidWinners);
}

#[test]
fn void_releases_everything_with_no_result() {
    let mut h = Harness::new();
    h.funded(ALICE, 10_000);
    h.funded(BOB, 10_000);
    h.open_market(MarketDef::new(MARKET, &[S1, S2, S3]).commission_bps(500));
    h.placed(Place::back(ALICE, S1, 300, 1_000));
    h.placed(Place::lay(BOB, S1, 300, 1_000));
    let unmatched = h.placed(Place::lay(ALICE, S2, 400, 100));
    let events = h.accept(void());
    assert_eq!(
        events,
        vec![
            Event::OrderCancelled {
                order_id: unmatched,
                account: ALICE,
                market: MARKET,
                selection: S2,
                side: Side::Lay,
                stake_minor: 100,
                reason: CancelReason::MarketClosed,
            },
            Event::AccountSettled {
                account: ALICE,
                market: MARKET,
                pnl_minor: 0,
                commission_minor: 0,
            },
            Event::AccountSettled {
                account: BOB,
                market: MARKET,
                pnl_minor: 0,
                commission_minor: 0,
            },
            Event::MarketStatus {
                market: MARKET,
                book_seq: 3,
                status: MarketStatus::Voided,
                cause: StatusCause::Operator,
            },
        ]
    );
    assert_eq!([ALICE, BOB].map(|a| h.balance(a)), [10_000, 10_000]);
    assert_eq!([ALICE, BOB].map(|a| h.exposure(a)), [0, 0]);
    assert_eq!(h.balance(COMMISSION), 0);
}

#[test]
fn settling_or_voiding_twice_is_rejected() {
    let mut h = two_place_market();
    h.accept(settle(&[S1, S2]));
    let balances = [ALICE, BOB].map(|a| h.balance(a));
    h.reject(settle(&[S1, S2]), RejectReason::MarketFinalized);
    h.reject(void(), RejectReason::MarketFinalized);
    assert_eq!([ALICE, BOB].map(|a| h.balance(a)), balances);

    let mut h = two_place_market();
    h.accept(void());
    h.reject(void(), RejectReason::MarketFinalized);
    h.reject(settle(&[S1, S2]), RejectReason::MarketFinalized);
    assert_eq!([ALICE, BOB].map(|a| h.balance(a)), [10_000, 10_000]);
}

// -- ledger --

#[test]
fn deposits_and_withdrawals_are_idempotent_by_transfer_id() {
    let mut h = Harness::new();
    h.create_account(AccountSpec::new(ALICE));
    h.create_account(AccountSpec::new(BOB));
    let deposit = Command::Deposit {
        account: ALICE,
        amount_minor: 5_000,
        transfer_id: 10,
    };
    let events = h.accept(deposit.clone());
    assert_eq!(
        events,
        vec![Event::Ledger {
            account: ALICE,
            kind: PostingKind::Deposit,
            amount_minor: 5_000,
            balance_minor: 5_000,
            reference: 10,
        }]
    );
    // A replayed payment notice credits once.
    h.reject(deposit, RejectReason::DuplicateTransferId);
    // Transfer ids are the shard's, whatever the account, amount or direction.
    for command in [
        Command::Deposit {
            account: BOB,
            amount_minor: 1,
            transfer_id: 10,
        },
        Command::Withdraw {
            account: ALICE,
            amount_minor: 1,
            transfer_id: 10,
        },
    ] {
        h.reject(command, RejectReason::DuplicateTransferId);
    }
    assert_eq!(h.balance(ALICE), 5_000);
    assert_eq!(h.balance(BOB), 0);

    let withdraw = Command::Withdraw {
        account: ALICE,
        amount_minor: 1_200,
        transfer_id: 11,
    };
    let events = h.accept(withdraw.clone());
    assert_eq!(
        events,
        vec![Event::Ledger {
            account: ALICE,
            kind: PostingKind::Withdrawal,
            amount_minor: -1_200,
            balance_minor: 3_800,
            reference: 11,
        }]
    );
    h.reject(withdraw, RejectReason::DuplicateTransferId);
    assert_eq!(h.balance(ALICE), 3_800);
    assert_eq!(h.engine().net_deposits_minor(), 3_800);
}

#[test]
fn a_refused_transfer_does_not_use_up_its_transfer_id() {
    let mut h = Harness::new();
    h.funded(ALICE, 100);
    let withdraw = Command::Withdraw {
        account: ALICE,
        amount_minor: 500,
        transfer_id: 77,
    };
    h.reject(withdraw.clone(), RejectReason::InsufficientFreeBalance);
    h.deposit(ALICE, 400);
    h.accept(withdraw);
    assert_eq!(h.balance(ALICE), 0);
}

#[test]
fn transfer_ids_are_remembered_within_a_bounded_window() {
    let config = EngineConfig {
        transfer_id_window: 2,
        ..EngineConfig::small()
    };
    let mut h = Harness::with_config(config);
    h.create_account(AccountSpec::new(ALICE));
    let deposit = |transfer_id| Command::Deposit {
        account: ALICE,
        amount_minor: 10,
        transfer_id,
    };
    h.accept(deposit(1));
    h.accept(deposit(2));
    h.reject(deposit(1), RejectReason::DuplicateTransferId);
    h.accept(deposit(3));
    // 2 and 3 are the two most recent: 1 was forgotten.
    h.accept(deposit(1));
    assert_eq!(h.balance(ALICE), 40);
}

#[test]
fn a_withdrawal_is_limited_to_the_free_balance() {
    let mut h = Harness::new();
    h.funded(ALICE, 10_000);
    h.default_market();
    let lay = h.placed(Place::lay(ALICE, S1, 300, 1_000)); // liability 2,000
    let withdraw = |amount_minor, h: &mut Harness| Command::Withdraw {
        account: ALICE,
        amount_minor,
        transfer_id: h.fresh_transfer_id(),
    };
    // Free balance: 10,000 - 2,000 = 8,000.
    let too_much = withdraw(8_001, &mut h);
    h.reject(too_much, RejectReason::InsufficientFreeBalance);
    let all_free = withdraw(8_000, &mut h);
    h.accept(all_free);
    assert_eq!(h.balance(ALICE), 2_000);
    let one_more = withdraw(1, &mut h);
    h.reject(one_more, RejectReason::InsufficientFreeBalance);

    h.cancel(ALICE, MARKET, lay);
    let the_rest = withdraw(2_000, &mut h);
    h.accept(the_rest);
    assert_eq!(h.balance(ALICE), 0);
}

#[test]
fn amounts_must_be_positive_and_bounded() {
    let mut h = Harness::new();
    h.create_account(AccountSpec::new(ALICE));
    for amount_minor in [0, -1, i64::MIN, MAX_AMOUNT_MINOR + 1] {
        let deposit = h.deposit_command(ALICE, amount_minor);
        h.reject(deposit, RejectReason::InvalidAmount);
        let withdraw = Command::Withdraw {
            account: ALICE,
            amount_minor,
            transfer_id: h.fresh_transfer_id(),
        };
        h.reject(withdraw, RejectReason::InvalidAmount);
    }
    h.deposit(ALICE, MAX_AMOUNT_MINOR);
    assert_eq!(h.balance(ALICE), MAX_AMOUNT_MINOR);
}

#[test]
fn balances_are_capped_at_a_thousand_times_the_largest_amount() {
    let mut h = Harness::new();
    h.create_account(AccountSpec::new(ALICE));
    for _ in 0..1_000 {
        h.deposit(ALICE, MAX_AMOUNT_MINOR);
    }
    assert_eq!(h.balance(ALICE), 1_000_000_000_000_000);
    let one_more = h.deposit_command(ALICE, 1);
    h.reject(one_more, RejectReason::InvalidAmount);
}

#[test]
fn transfers_name_an_existing_trading_account() {
    let mut h = Harness::new();
    for account in [AccountId(99), ROUNDING, COMMISSION] {
        let reason = if account.is_reserved() {
            RejectReason::ReservedAccount
        } else {
            RejectReason::UnknownAccount
        };
        let deposit = h.deposit_command(account, 10);
        h.reject(deposit, reason);
        let withdraw = Command::Withdraw {
            account,
            amount_minor: 10,
            transfer_id: h.fresh_transfer_id(),
        };
        h.reject(withdraw, reason);
    }
}

// -- accounts --

#[test]
fn accounts_are_created_once_outside_the_house_range() {
    let mut h = Harness::new();
    let events = h.accept(AccountSpec::new(ALICE).tier(Tier::Pro).command());
    assert_eq!(
        events,
        vec![Event::AccountCreated {
            account: ALICE,
            tier: Tier::Pro,
        }]
    );
    assert_eq!(h.balance(ALICE), 0);
    h.reject(
        AccountSpec::new(ALICE).command(),
        RejectReason::DuplicateAccount,
    );
    for id in [AccountId::RESERVED_MIN, u32::MAX - 1, u32::MAX] {
        h.reject(
            AccountSpec::new(AccountId(id)).command(),
            RejectReason::ReservedAccount,
        );
    }
    h.reject(
        AccountSpec::new(BOB).tier(Tier::House).command(),
        RejectReason::ReservedAccount,
    );
    h.create_account(AccountSpec::new(AccountId(AccountId::RESERVED_MIN - 1)));
}

#[test]
fn the_account_table_is_bounded() {
    let config = EngineConfig {
        max_accounts: 5,
        ..EngineConfig::small()
    };
    let mut h = Harness::with_config(config);
    let mut next = 1;
    // The house accounts are accounts the shard holds too.
    while h.engine().account_ids().count() < 5 {
        h.create_account(AccountSpec::new(AccountId(next)));
        next += 1;
    }
    assert_eq!(
        next, 4,
        "three trading accounts beside the two house accounts"
    );
    h.reject(
        AccountSpec::new(AccountId(next)).command(),
        RejectReason::AccountCapacity,
    );
}

// -- markets --

#[test]
fn market_definitions_are_checked() {
    let mut h = Harness::new();
    let selections = |n: u32| (1..=n).map(SelectionId).collect::<Vec<_>>();
    let spec = |selections: &[SelectionId]| MarketDef::new(MARKET, selections);
    let bad = [
        spec(&[]),
        spec(&[S1]),
        spec(&[S1, S2, S1]),
        spec(&[S1, S2]).places(0),
        spec(&[S1, S2]).places(2),
        spec(&selections(10)).places(9),
        spec(&selections(65)),
        spec(&[S1, S2]).commission_bps(10_001),
    ];
    for market in bad {
        h.reject(market.command(), RejectReason::InvalidMarketDefinition);
    }
    // The edges are fine.
    let good = [
        spec(&selections(64)),
        spec(&selections(9)).places(8),
        spec(&[S1, S2]).commission_bps(10_000),
    ];
    for (i, market) in good.into_iter().enumerate() {
        let market = MarketDef {
            market: MarketId(100 + i as u32),
            ..market
        };
        h.accept(market.command());
    }

    h.accept(spec(&[S1, S2]).command());
    h.reject(spec(&[S3, S4]).command(), RejectReason::DuplicateMarket);
}

#[test]
fn the_market_table_is_bounded_final_markets_included() {
    let config = EngineConfig {
        max_markets: 2,
        ..EngineConfig::small()
    };
    let mut h = Harness::with_config(config);
    h.accept(MarketDef::new(MarketId(1), &[S1, S2]).command());
    h.accept(MarketDef::new(MarketId(2), &[S1, S2]).command());
    h.accept(Command::VoidMarket {
        market: MarketId(1),
    });
    h.reject(
        MarketDef::new(MarketId(3), &[S1, S2]).command(),
        RejectReason::MarketCapacity,
    );
}

// -- conservation --

#[test]
fn money_is_conserved_through_trading_settlement_and_withdrawals() {
    let mut h = small_odds_market();
    let withdraw = Command::Withdraw {
        account: CAROL,
        amount_minor: 3_000,
        transfer_id: h.fresh_transfer_id(),
    };
    h.accept(withdraw);
    h.accept(settle(&[S1]));
    // Deposits 4 x 10,000, withdrawals 3,000.
    assert_eq!(h.engine().net_deposits_minor(), 37_000);
    assert_eq!(h.engine().total_balance_minor(), 37_000);

    let events = h.accept(Command::Balances {});
    let reported: Vec<(AccountId, i64, i64)> = events
        .iter()
        .map(|event| match *event {
            Event::Balance {
                account,
                balance_minor,
                exposure_minor,
            } => (account, balance_minor, exposure_minor),
            ref other => panic!("unexpected {other:?}"),
        })
        .collect();
    // House accounts first, then in creation order.
    assert_eq!(
        reported,
        vec![
            (ROUNDING, 2, 0),
            (COMMISSION, 1, 0),
            (ALICE, 10_022, 0),
            (BOB, 9_976, 0),
            (CAROL, 7_000, 0),
            (DAVE, 9_999, 0),
        ]
    );
    assert_eq!(reported.iter().map(|r| r.1).sum::<i64>(), 37_000);
}

/// The first end-to-end check, in the sim line format: a back meets a lay and the market
/// settles.
#[test]
fn a_back_meets_a_lay_in_sim_lines() {
    let mut h = Harness::new();
    let events = h.run_json(
        r#"
{"ts":1,"cmd":"create_account","account":1}
{"ts":1,"cmd":"create_account","account":2}
{"ts":1,"cmd":"deposit","account":1,"amount":100000,"transfer_id":1}
{"ts":1,"cmd":"deposit","account":2,"amount":100000,"transfer_id":2}
{"ts":1,"cmd":"create_market","market":7,"selections":[1,2,3]}
{"ts":1,"cmd":"open_market","market":7}
{"ts":2,"cmd":"place_order","account":1,"market":7,"selection":1,"side":"back","odds":300,"stake":1000,"tif":"gtc","client_order_id":11}
{"ts":3,"cmd":"place_order","account":2,"market":7,"selection":1,"side":"lay","odds":310,"stake":400,"tif":"gtc","client_order_id":21}
{"ts":3,"cmd":"suspend_market","market":7}
{"ts":3,"cmd":"settle_market","market":7,"winners":[1]}
{"ts":4,"cmd":"balances"}
"#,
    );
    // Bob's lay at 3.10 takes 400 of Alice's back at 3.00; the suspension cancels the other
    // 600. S1 wins: Alice +400 x 200 / 100 = +800, Bob -800.
    assert_eq!(
        trades(&events),
        vec![fill(300, 400, OrderId(1), OrderId(2))]
    );
    assert_eq!(
        cancels(&events),
        vec![(OrderId(1), 600, CancelReason::MarketSuspended)]
    );
    assert_eq!(h.balance(ALICE), 100_800);
    assert_eq!(h.balance(BOB), 99_200);
    let balances: Vec<Event> = events
        .iter()
        .filter(|event| matches!(event, Event::Balance { .. }))
        .copied()
        .collect();
    let balance = |account, balance_minor| Event::Balance {
        account,
        balance_minor,
        exposure_minor: 0,
    };
    assert_eq!(
        balances,
        vec![
            balance(ROUNDING, 0),
            balance(COMMISSION, 0),
            balance(ALICE, 100_800),
            balance(BOB, 99_200),
        ]
    );
    assert_eq!(h.engine().seq(), 11);
    assert_eq!(h.engine().ts_ns(), 4);
}
