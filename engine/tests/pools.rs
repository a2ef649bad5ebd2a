//! Pool (pari-mutuel) markets: bets and their cancels, the checks that refuse a bet, exposure,
//! indicative odds, settlement with one and two places (figures worked by hand below), refunds
//! when no winner holds money, void, and a property test of settlement against a model.
//!
//! Every command runs on both books through the harness, which checks `validate()`, equal
//! events and state hashes, and money conservation after each one.

mod odds_support;
mod support;

use odds_support::*;
use oddsmatch_engine::*;
use proptest::prelude::*;
use support::*;

const ROUNDING: AccountId = AccountId::HOUSE_ROUNDING;
const COMMISSION: AccountId = AccountId::HOUSE_COMMISSION;
/// An exchange market next to the pool.
const EXCHANGE: MarketId = MarketId(8);

fn suspend() -> Command {
    Command::SuspendMarket { market: MARKET }
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

/// A harness with ALICE, BOB, CAROL and DAVE (10,000 minor units each) and the open pool
/// market [`MARKET`] (S1, S2, S3) with `takeout_bps`, without market data.
fn pool_with(takeout_bps: u16, change: impl FnOnce(&mut MarketSpec)) -> Harness {
    let mut h = Harness::new();
    for account in [ALICE, BOB, CAROL, DAVE] {
        h.funded(account, 10_000);
    }
    h.open_market(pool_def(MARKET, &[S1, S2, S3], takeout_bps).with(change));
    h
}

// -- bets and cancels --

#[test]
fn a_bet_enters_its_pool_and_a_cancel_takes_it_out() {
    let mut h = Harness::new();
    h.funded(ALICE, 10_000);
    h.funded(BOB, 10_000);
    let events = h.accept(
        pool_def(MARKET, &[S1, S2, S3], 1_000)
            .with(|s| s.market_data = Some(true))
            .command(),
    );
    assert_eq!(
        events,
        vec![Event::MarketCreated {
            market: MARKET,
            kind: MarketKind::Pool,
            selections: 3,
            places: 1,
            ladder: LadderKind::Betfair,
            commission_bps: 0,
            takeout_bps: 1_000,
        }]
    );
    h.accept(Command::OpenMarket { market: MARKET });

    let (alice_bet, events) = bet_events(&mut h, ALICE, S1, 3_000, 1);
    assert_eq!(alice_bet, OrderId(1));
    assert_eq!(
        events,
        vec![
            Event::BetAccepted {
                bet_id: OrderId(1),
                account: ALICE,
                client_order_id: 1,
                market: MARKET,
                selection: S1,
                stake_minor: 3_000,
            },
            Event::PoolChanged {
                market: MARKET,
                book_seq: 2,
                selection: S1,
                pool_minor: 3_000,
                total_minor: 3_000,
            },
        ]
    );
    // The stake stays in the balance and is held as exposure.
    assert_eq!(h.balance(ALICE), 10_000);
    assert_eq!(h.exposure(ALICE), 3_000);
    assert_eq!(h.market_exposure(ALICE, MARKET), 3_000);

    // Client order ids belong to their account: BOB may use 1 too.
    let (bob_bet, events) = bet_events(&mut h, BOB, S2, 2_000, 1);
    assert_eq!(bob_bet, OrderId(2));
    assert_eq!(
        events[1..],
        [Event::PoolChanged {
            market: MARKET,
            book_seq: 3,
            selection: S2,
            pool_minor: 2_000,
            total_minor: 5_000,
        }]
    );

    let events = h.accept(cancel_bet_command(ALICE, alice_bet));
    assert_eq!(
        events,
        vec![
            Event::BetCancelled {
                bet_id: alice_bet,
                account: ALICE,
                market: MARKET,
                selection: S1,
                stake_minor: 3_000,
            },
            Event::PoolChanged {
                market: MARKET,
                book_seq: 4,
                selection: S1,
                pool_minor: 0,
                total_minor: 2_000,
            },
        ]
    );
    assert_eq!(h.exposure(ALICE), 0);
    assert_eq!(h.balance(ALICE), 10_000);
    assert_eq!(h.exposure(BOB), 2_000);
    assert_conserved(&h);
}

#[test]
fn a_bet_counts_its_whole_stake_as_exposure() {
    let mut h = pool_with(0, |_| {});
    bet(&mut h, ALICE, S1, 4_000, 1);
    assert_eq!(h.exposure(ALICE), 4_000);
    // Bets on different selections cannot offset each other: each can lose its stake.
    let second = bet(&mut h, ALICE, S2, 3_000, 2);
    assert_eq!(h.exposure(ALICE), 7_000);
    bet(&mut h, ALICE, S1, 2_000, 3);
    assert_eq!(h.exposure(ALICE), 9_000);
    assert_eq!(h.market_exposure(ALICE, MARKET), 9_000);

    // 9,000 + 1,001 is more than the balance of 10,000; 9,000 + 1,000 is exactly it.
    h.reject(
        bet_command(ALICE, S3, 1_001, 4),
        RejectReason::InsufficientFunds,
    );
    bet(&mut h, ALICE, S3, 1_000, 5);
    assert_eq!(h.exposure(ALICE), 10_000);
    let transfer_id = h.fresh_transfer_id();
    h.reject(
        Command::Withdraw {
            account: ALICE,
            amount_minor: 1,
            transfer_id,
        },
        RejectReason::InsufficientFreeBalance,
    );

    h.accept(cancel_bet_command(ALICE, second));
    assert_eq!(h.exposure(ALICE), 7_000);
    let transfer_id = h.fresh_transfer_id();
    let events = h.accept(Command::Withdraw {
        account: ALICE,
        amount_minor: 3_000,
        transfer_id,
    });
    assert_eq!(
        events,
        vec![Event::Ledger {
            account: ALICE,
            kind: PostingKind::Withdrawal,
            amount_minor: -3_000,
            balance_minor: 7_000,
            reference: transfer_id,
        }]
    );
    assert_conserved(&h);
}

#[test]
fn bets_are_refused_for_the_documented_reasons() {
    // max_bet 5,000; max_pool 12,000; max_exposure 8,000.
    let mut h = pool_with(0, |s| {
        s.max_bet_minor = Some(5_000);
        s.max_pool_minor = Some(12_000);
        s.max_exposure_minor = Some(8_000);
    });
    h.funded(AccountId(5), 1_000);
    let poor = AccountId(5);
    h.open_market(MarketDef::new(EXCHANGE, &[S1, S2]));

    // Orders go to exchanges, bets to pools.
    let event = h.reject(
        Command::PlaceOrder {
            account: ALICE,
            market: MARKET,
            selection: S1,
            side: Side::Back,
            odds_x100: 200,
            stake_minor: 100,
            tif: TimeInForce::Gtc,
            post_only: false,
            persistence: Persistence::Lapse,
            client_order_id: 70,
        },
        RejectReason::InvalidMarketKind,
    );
    assert_eq!(
        event,
        rejected(
            CommandKind::PlaceOrder,
            RejectReason::InvalidMarketKind,
            Some(ALICE),
            Some(MARKET),
            Some(70),
            None,
        )
    );
    let event = h.reject(
        Command::PlaceBet {
            account: ALICE,
            market: EXCHANGE,
            selection: S1,
            stake_minor: 100,
            client_order_id: 71,
        },
        RejectReason::InvalidMarketKind,
    );
    assert_eq!(
        event,
        rejected(
            CommandKind::PlaceBet,
            RejectReason::InvalidMarketKind,
            Some(ALICE),
            Some(EXCHANGE),
            Some(71),
            None,
        )
    );
    h.reject(
        Command::CancelBet {
            account: ALICE,
            market: EXCHANGE,
            bet_id: OrderId(1),
        },
        RejectReason::InvalidMarketKind,
    );

    // The market's largest bet: 5,000 is allowed, 5,001 is not (nor is nothing).
    let event = h.reject(bet_command(ALICE, S1, 5_001, 1), RejectReason::InvalidStake);
    assert_eq!(
        event,
        rejected(
            CommandKind::PlaceBet,
            RejectReason::InvalidStake,
            Some(ALICE),
            Some(MARKET),
            Some(1),
            None,
        )
    );
    h.reject(bet_command(ALICE, S1, 0, 1), RejectReason::InvalidStake);
    h.reject(bet_command(ALICE, S1, -5, 1), RejectReason::InvalidStake);
    let alice_first = bet(&mut h, ALICE, S1, 5_000, 1);

    // The market's largest exposure: 5,000 + 3,001 is over 8,000.
    h.reject(
        bet_command(ALICE, S2, 3_001, 2),
        RejectReason::ExposureLimit,
    );
    let alice_second = bet(&mut h, ALICE, S2, 3_000, 2);
    assert_eq!(h.exposure(ALICE), 8_000);

    // Funds: the poor account holds 1,000.
    h.reject(
        bet_command(poor, S3, 1_001, 1),
        RejectReason::InsufficientFunds,
    );
    bet(&mut h, poor, S3, 1_000, 1);

    // The pool holds 9,000 of its 12,000.
    let event = h.reject(bet_command(BOB, S1, 3_001, 1), RejectReason::PoolLimit);
    assert_eq!(
        event,
        rejected(
            CommandKind::PlaceBet,
            RejectReason::PoolLimit,
            Some(BOB),
            Some(MARKET),
            Some(1),
            None,
        )
    );
    let bob_bet = bet(&mut h, BOB, S1, 3_000, 1);
    h.reject(bet_command(CAROL, S2, 1, 1), RejectReason::PoolLimit);

    // A client order id is answered with the bet that holds it, whatever the command.
    let event = h.reject(
        bet_command(ALICE, S3, 10, 1),
        RejectReason::DuplicateClientOrderId,
    );
    assert_eq!(
        event,
        rejected(
            CommandKind::PlaceBet,
            RejectReason::DuplicateClientOrderId,
            Some(ALICE),
            Some(MARKET),
            Some(1),
            Some(alice_first),
        )
    );
    let event = h.reject(
        Command::PlaceOrder {
            account: ALICE,
            market: EXCHANGE,
            selection: S1,
            side: Side::Back,
            odds_x100: 200,
            stake_minor: 100,
            tif: TimeInForce::Gtc,
            post_only: false,
            persistence: Persistence::Lapse,
            client_order_id: 2,
        },
        RejectReason::DuplicateClientOrderId,
    );
    assert_eq!(rejected_order_id(&event), Some(alice_second));

    // Cancels: only the owner's live bets.
    let event = h.reject(
        cancel_bet_command(ALICE, bob_bet),
        RejectReason::UnknownOrder,
    );
    assert_eq!(
        event,
        rejected(
            CommandKind::CancelBet,
            RejectReason::UnknownOrder,
            Some(ALICE),
            Some(MARKET),
            None,
            Some(bob_bet),
        )
    );
    h.reject(
        cancel_bet_command(ALICE, OrderId(999)),
        RejectReason::UnknownOrder,
    );
    h.accept(cancel_bet_command(ALICE, alice_second));
    h.reject(
        cancel_bet_command(ALICE, alice_second),
        RejectReason::UnknownOrder,
    );
    // A cancelled bet keeps its client order id.
    let event = h.reject(
        bet_command(ALICE, S2, 10, 2),
        RejectReason::DuplicateClientOrderId,
    );
    assert_eq!(rejected_order_id(&event), Some(alice_second));

    // Unknown market and selection, kill switch.
    h.reject(
        Command::PlaceBet {
            account: ALICE,
            market: MarketId(99),
            selection: S1,
            stake_minor: 10,
            client_order_id: 3,
        },
        RejectReason::UnknownMarket,
    );
    h.reject(
        bet_command(ALICE, SelectionId(9), 10, 3),
        RejectReason::InvalidSelection,
    );
    h.accept(Command::KillSwitch {
        account: CAROL,
        on: true,
    });
    h.reject(bet_command(CAROL, S2, 10, 1), RejectReason::KillSwitch);

    // Only an open market takes bets and cancels.
    h.accept(suspend());
    let event = h.reject(bet_command(BOB, S2, 10, 2), RejectReason::MarketNotOpen);
    assert_eq!(
        event,
        rejected(
            CommandKind::PlaceBet,
            RejectReason::MarketNotOpen,
            Some(BOB),
            Some(MARKET),
            Some(2),
            None,
        )
    );
    h.reject(
        cancel_bet_command(BOB, bob_bet),
        RejectReason::MarketNotOpen,
    );
    h.accept(close());
    h.reject(bet_command(BOB, S2, 10, 2), RejectReason::MarketNotOpen);
    h.reject(
        cancel_bet_command(BOB, bob_bet),
        RejectReason::MarketNotOpen,
    );
    let pending = MarketId(9);
    h.accept(pool_def(pending, &[S1, S2], 0).command());
    h.reject(
        Command::PlaceBet {
            account: BOB,
            market: pending,
            selection: S1,
            stake_minor: 10,
            client_order_id: 3,
        },
        RejectReason::MarketNotOpen,
    );
    // Nothing refused changed a pool: the accepted bets still add up.
    assert_eq!(h.exposure(ALICE), 5_000);
    assert_eq!(h.exposure(BOB), 3_000);
    assert_eq!(h.exposure(poor), 1_000);
    assert_conserved(&h);
}

#[test]
fn pool_definitions_are_checked() {
    let mut h = Harness::new();
    let invalid = [
        // Pools take no commission and have no in-play delay.
        pool_def(MARKET, &[S1, S2], 0).commission_bps(100),
        pool_def(MARKET, &[S1, S2], 0).with(|s| s.bet_delay_ms = 1_000),
        // Takeout is at most 5,000 bps.
        pool_def(MARKET, &[S1, S2], 5_001),
        // Exchanges have no takeout and no pool limit.
        MarketDef::new(MARKET, &[S1, S2]).with(|s| s.takeout_bps = 100),
        MarketDef::new(MARKET, &[S1, S2]).with(|s| s.max_pool_minor = Some(1_000)),
        // Limits are positive.
        pool_def(MARKET, &[S1, S2], 0).with(|s| s.max_pool_minor = Some(0)),
        pool_def(MARKET, &[S1, S2], 0).with(|s| s.max_bet_minor = Some(0)),
        pool_def(MARKET, &[S1, S2], 0).with(|s| s.max_exposure_minor = Some(-1)),
    ];
    for def in invalid {
        let event = h.reject(def.command(), RejectReason::InvalidMarketDefinition);
        assert_eq!(
            event,
            rejected(
                CommandKind::CreateMarket,
                RejectReason::InvalidMarketDefinition,
                None,
                Some(MARKET),
                None,
                None,
            )
        );
    }
    h.accept(pool_def(MARKET, &[S1, S2], 5_000).command());
}

// -- indicative odds --

#[test]
fn indicative_odds_are_the_net_pool_over_the_selection_pool() {
    let mut h = Harness::new();
    for account in [ALICE, BOB, CAROL] {
        h.funded(account, 10_000);
    }
    h.open_market(pool_def(MARKET, &[S1, S2, S3], 1_234).with(|s| s.market_data = Some(true)));
    let opened = h.engine().ts_ns();
    bet(&mut h, ALICE, S1, 3_333, 1);
    bet(&mut h, BOB, S2, 1_234, 1);
    bet(&mut h, CAROL, S3, 777, 1);
    // Total 5,344. Net = floor(5,344 * (10,000 - 1,234) / 10,000) = floor(4,684.5504) = 4,684.
    // Odds x100 = floor(4,684 * 100 / pool):
    //   S1: floor(468,400 / 3,333) = 140 (3,333 * 140 = 466,620)
    //   S2: floor(468,400 / 1,234) = 379 (1,234 * 379 = 467,686)
    //   S3: floor(468,400 / 777)   = 602 (777 * 602 = 467,754)
    // Implied bps = floor(1,000,000 / odds): 7,142, 2,638 and 1,661; overround 11,441.
    // (5,344 is below the default circuit_breaker_min_pool of 10,000: no breaker.)
    // The bets came within the tick interval of the opening's status tick; the change tick
    // waits for the interval to pass.
    let events = accept_at(&mut h, opened + 300 * MS, Command::Timer {});
    let odds = |selection, indicative_x100, implied_bps, pool_minor| Event::SelectionOdds {
        market: MARKET,
        selection,
        back_x100: 0,
        lay_x100: 0,
        last_traded_x100: 0,
        indicative_x100,
        implied_bps,
        reference_bps: 0,
        matched_minor: 0,
        pool_minor,
    };
    assert_eq!(
        events,
        vec![
            Event::OddsTick {
                market: MARKET,
                tick_seq: 2,
                reason: TickReason::Change,
                status: MarketStatus::Open,
                selections: 3,
                overround_bps: 11_441,
            },
            odds(S1, 140, 7_142, 3_333),
            odds(S2, 379, 2_638, 1_234),
            odds(S3, 602, 1_661, 777),
        ]
    );
}

// -- settlement --

#[test]
fn one_place_settlement_pays_the_net_pool_pro_rata() {
    let mut h = pool_with(1_000, |_| {});
    let a = bet(&mut h, ALICE, S1, 700, 1);
    let b = bet(&mut h, BOB, S1, 1_300, 1);
    let c = bet(&mut h, CAROL, S2, 2_500, 1);
    let d = bet(&mut h, DAVE, S3, 1_001, 1);
    // A cancelled bet takes no part.
    let cancelled = bet(&mut h, DAVE, S2, 500, 2);
    h.accept(cancel_bet_command(DAVE, cancelled));
    h.accept(suspend());
    h.accept(close());

    // Total 700 + 1,300 + 2,500 + 1,001 = 5,501.
    // Net = floor(5,501 * 9,000 / 10,000) = floor(4,950.9) = 4,950; takeout 5,501 - 4,950 = 551.
    // One funded winner (S1, pool 2,000) takes the whole net pool: share 4,950.
    //   ALICE: floor(4,950 * 700 / 2,000)   = floor(1,732.5) = 1,732 -> +1,032
    //   BOB:   floor(4,950 * 1,300 / 2,000) = floor(3,217.5) = 3,217 -> +1,917
    // Paid 4,949; rounding 4,950 - 4,949 = 1.
    let events = h.accept(settle(&[S1]));
    assert_eq!(
        events,
        vec![
            Event::MarketSettled {
                market: MARKET,
                winners: Winners::new(&[S1]).unwrap(),
            },
            bet_settled(a, ALICE, 700, 1_732),
            bet_settled(b, BOB, 1_300, 3_217),
            bet_settled(c, CAROL, 2_500, 0),
            bet_settled(d, DAVE, 1_001, 0),
            account_settled(ALICE, 1_032),
            posting(ALICE, PostingKind::Settlement, 1_032, 11_032),
            account_settled(BOB, 1_917),
            posting(BOB, PostingKind::Settlement, 1_917, 11_917),
            account_settled(CAROL, -2_500),
            posting(CAROL, PostingKind::Settlement, -2_500, 7_500),
            account_settled(DAVE, -1_001),
            posting(DAVE, PostingKind::Settlement, -1_001, 8_999),
            posting(COMMISSION, PostingKind::Takeout, 551, 551),
            posting(ROUNDING, PostingKind::Rounding, 1, 1),
            status_event(MARKET, 4, MarketStatus::Settled, StatusCause::Operator),
        ]
    );
    for (account, balance) in [
        (ALICE, 11_032),
        (BOB, 11_917),
        (CAROL, 7_500),
        (DAVE, 8_999),
        (COMMISSION, 551),
        (ROUNDING, 1),
    ] {
        assert_eq!(h.balance(account), balance, "{account:?}");
        assert_eq!(h.exposure(account), 0, "{account:?}");
    }
    assert_conserved(&h);
    // Settled is final.
    h.reject(bet_command(ALICE, S1, 10, 9), RejectReason::MarketNotOpen);
    h.reject(settle(&[S2]), RejectReason::MarketFinalized);
}

#[test]
fn two_place_settlement_splits_the_net_pool_between_the_winners() {
    let mut h = pool_with(500, |s| s.places = 2);
    let a = bet(&mut h, ALICE, S1, 600, 1);
    let b = bet(&mut h, BOB, S1, 401, 1);
    let c = bet(&mut h, CAROL, S2, 999, 1);
    let d = bet(&mut h, DAVE, S3, 2_002, 1);
    h.accept(suspend());

    // Total 4,002. Net = floor(4,002 * 9,500 / 10,000) = floor(3,801.9) = 3,801; takeout 201.
    // Two funded winners: share = floor(3,801 / 2) = 1,900 each.
    //   S1 (pool 1,001): ALICE floor(1,900 * 600 / 1,001) = floor(1,138.86) = 1,138 -> +538
    //                    BOB   floor(1,900 * 401 / 1,001) = floor(761.14)   = 761   -> +360
    //   S2 (pool 999):   CAROL floor(1,900 * 999 / 999)   = 1,900                   -> +901
    // Paid 3,799; rounding 3,801 - 3,799 = 2 (1 from halving the odd net pool).
    let events = h.accept(settle(&[S1, S2]));
    assert_eq!(
        events,
        vec![
            Event::MarketSettled {
                market: MARKET,
                winners: Winners::new(&[S1, S2]).unwrap(),
            },
            bet_settled(a, ALICE, 600, 1_138),
            bet_settled(b, BOB, 401, 761),
            bet_settled(c, CAROL, 999, 1_900),
            bet_settled(d, DAVE, 2_002, 0),
            account_settled(ALICE, 538),
            posting(ALICE, PostingKind::Settlement, 538, 10_538),
            account_settled(BOB, 360),
            posting(BOB, PostingKind::Settlement, 360, 10_360),
            account_settled(CAROL, 901),
            posting(CAROL, PostingKind::Settlement, 901, 10_901),
            account_settled(DAVE, -2_002),
            posting(DAVE, PostingKind::Settlement, -2_002, 7_998),
            posting(COMMISSION, PostingKind::Takeout, 201, 201),
            posting(ROUNDING, PostingKind::Rounding, 2, 2),
            status_event(MARKET, 3, MarketStatus::Settled, StatusCause::Operator),
        ]
    );
    assert_eq!(h.balance(ROUNDING), 2);
    assert_eq!(h.balance(COMMISSION), 201);
    assert_conserved(&h);
}

#[test]
fn a_winner_without_money_leaves_the_net_pool_to_the_funded_winners() {
    let mut h = pool_with(1_000, |s| s.places = 2);
    let a = bet(&mut h, ALICE, S1, 1_000, 1);
    let b = bet(&mut h, BOB, S2, 3_000, 1);
    h.accept(suspend());
    // Total 4,000, net 3,600, takeout 400. Of the winners S1 and S3 only S1 holds money, so it
    // takes the whole net pool: ALICE floor(3,600 * 1,000 / 1,000) = 3,600 -> +2,600. No
    // rounding.
    let events = h.accept(settle(&[S1, S3]));
    assert_eq!(
        events,
        vec![
            Event::MarketSettled {
                market: MARKET,
                winners: Winners::new(&[S1, S3]).unwrap(),
            },
            bet_settled(a, ALICE, 1_000, 3_600),
            bet_settled(b, BOB, 3_000, 0),
            account_settled(ALICE, 2_600),
            posting(ALICE, PostingKind::Settlement, 2_600, 12_600),
            account_settled(BOB, -3_000),
            posting(BOB, PostingKind::Settlement, -3_000, 7_000),
            posting(COMMISSION, PostingKind::Takeout, 400, 400),
            status_event(MARKET, 3, MarketStatus::Settled, StatusCause::Operator),
        ]
    );
    assert_conserved(&h);
}

#[test]
fn with_no_money_on_any_winner_every_bet_is_refunded() {
    let mut h = pool_with(1_000, |_| {});
    let a1 = bet(&mut h, ALICE, S1, 1_000, 1);
    let b = bet(&mut h, BOB, S2, 2_000, 1);
    let a2 = bet(&mut h, ALICE, S2, 500, 2);
    h.accept(suspend());
    // Nothing on S3: no takeout is kept and every stake comes back.
    let events = h.accept(settle(&[S3]));
    assert_eq!(
        events,
        vec![
            Event::MarketSettled {
                market: MARKET,
                winners: Winners::new(&[S3]).unwrap(),
            },
            bet_settled(a1, ALICE, 1_000, 1_000),
            bet_settled(b, BOB, 2_000, 2_000),
            bet_settled(a2, ALICE, 500, 500),
            account_settled(ALICE, 0),
            account_settled(BOB, 0),
            status_event(MARKET, 3, MarketStatus::Settled, StatusCause::Operator),
        ]
    );
    for account in [ALICE, BOB] {
        assert_eq!(h.balance(account), 10_000);
        assert_eq!(h.exposure(account), 0);
    }
    assert_eq!(h.balance(COMMISSION), 0);
    assert_eq!(h.balance(ROUNDING), 0);
    assert_conserved(&h);
}

#[test]
fn void_refunds_every_live_bet() {
    let mut h = pool_with(1_000, |_| {});
    let a1 = bet(&mut h, ALICE, S1, 1_000, 1);
    let b1 = bet(&mut h, BOB, S2, 2_000, 1);
    let a2 = bet(&mut h, ALICE, S3, 300, 2);
    let b2 = bet(&mut h, BOB, S1, 400, 2);
    h.accept(cancel_bet_command(BOB, b2));
    let events = h.accept(Command::VoidMarket { market: MARKET });
    assert_eq!(
        events,
        vec![
            bet_settled(a1, ALICE, 1_000, 1_000),
            bet_settled(b1, BOB, 2_000, 2_000),
            bet_settled(a2, ALICE, 300, 300),
            account_settled(ALICE, 0),
            account_settled(BOB, 0),
            status_event(MARKET, 2, MarketStatus::Voided, StatusCause::Operator),
        ]
    );
    for account in [ALICE, BOB] {
        assert_eq!(h.balance(account), 10_000);
        assert_eq!(h.exposure(account), 0);
    }
    assert_conserved(&h);
    h.reject(bet_command(ALICE, S1, 10, 9), RejectReason::MarketNotOpen);
    h.reject(
        Command::VoidMarket { market: MARKET },
        RejectReason::MarketFinalized,
    );
}

// -- property: settlement against a model --

#[derive(Clone, Debug)]
enum Op {
    Bet {
        account: usize,
        selection: usize,
        stake_minor: i64,
    },
    /// Cancels the bet at this position among those placed so far (modulo their number).
    Cancel { pick: usize },
    /// Lets 400 ms pass (a `timer` input): longer than the tick interval.
    Pause,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, 0..6usize, 1..3_000i64).prop_map(|(account, selection, stake_minor)| {
            Op::Bet {
                account,
                selection,
                stake_minor,
            }
        }),
        1 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        1 => Just(Op::Pause),
    ]
}

/// Checks that the book stream's `book_seq` and the ticks' `tick_seq` have no gaps.
struct Sequences {
    book_seq: u64,
    tick_seq: u64,
}

impl Sequences {
    fn check(&mut self, events: &[Event]) -> Result<(), TestCaseError> {
        for event in events {
            match *event {
                Event::MarketStatus { book_seq, .. } | Event::PoolChanged { book_seq, .. } => {
                    prop_assert_eq!(book_seq, self.book_seq + 1, "book_seq gap at {:?}", event);
                    self.book_seq = book_seq;
                }
                Event::OddsTick { tick_seq, .. } => {
                    prop_assert_eq!(tick_seq, self.tick_seq + 1, "tick_seq gap at {:?}", event);
                    self.tick_seq = tick_seq;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Checks the odds of a tick against the pools by hand: `net = floor(total * (10000 -
/// takeout) / 10000)`, `indicative = floor(net * 100 / pool)`, `implied = floor(1e6 /
/// indicative)`, and the overround is the sum of the implied probabilities.
fn check_tick(events: &[Event], pools: &[i64], takeout_bps: u16) -> Result<(), TestCaseError> {
    let total: i64 = pools.iter().sum();
    let net = total * i64::from(10_000 - takeout_bps) / 10_000;
    let Some(Event::OddsTick {
        selections,
        overround_bps,
        ..
    }) = events.first()
    else {
        prop_assert!(events.is_empty(), "unexpected {:?}", events);
        return Ok(());
    };
    prop_assert_eq!(usize::from(*selections), pools.len());
    prop_assert_eq!(events.len(), pools.len() + 1);
    let mut overround = 0;
    for (event, &pool) in events[1..].iter().zip(pools) {
        let Event::SelectionOdds {
            indicative_x100,
            implied_bps,
            pool_minor,
            ..
        } = *event
        else {
            return Err(TestCaseError::fail(format!(
                "not selection odds: {event:?}"
            )));
        };
        let indicative = if pool == 0 { 0 } else { net * 100 / pool };
        prop_assert_eq!(pool_minor, pool);
        prop_assert_eq!(i64::from(indicative_x100), indicative);
        let implied = if indicative == 0 {
            0
        } else {
            1_000_000 / indicative
        };
        prop_assert_eq!(i64::from(implied_bps), implied);
        overround += implied;
    }
    prop_assert_eq!(i64::from(*overround_bps), overround);
    Ok(())
}

/// A bet as the model sees it.
#[derive(Clone, Copy, Debug)]
struct ModelBet {
    id: OrderId,
    account: usize,
    selection: usize,
    stake_minor: i64,
    live: bool,
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn pool_settlement_matches_the_model(
        selections in 2..=6usize,
        places_seed in any::<u8>(),
        takeout_bps in 0..=5_000u16,
        deposits in prop::collection::vec(0..12_000i64, 4),
        ops in prop::collection::vec(op(), 0..40),
        order in Just((0..6usize).collect::<Vec<_>>()).prop_shuffle(),
        close_first in any::<bool>(),
        market_data in any::<bool>(),
    ) {
        let places = 1 + usize::from(places_seed) % (selections - 1);
        let ids: Vec<SelectionId> = (1..=selections as u32).map(SelectionId).collect();
        let accounts: Vec<AccountId> = (1..=4).map(AccountId).collect();
        let mut h = Harness::new();
        for (account, &deposit) in accounts.iter().zip(&deposits) {
            h.create_account(AccountSpec::new(*account));
            if deposit > 0 {
                h.deposit(*account, deposit);
            }
        }
        // The indicative circuit breaker is kept out of the way (feed.rs tests it).
        h.open_market(pool_def(MARKET, &ids, takeout_bps).places(places as u8).with(|s| {
            s.circuit_breaker_min_pool_minor = Some(MAX_AMOUNT_MINOR);
            s.market_data = Some(market_data);
        }));
        // The opening was book_seq 1 and, with market data, tick 1.
        let mut sequences = Sequences { book_seq: 1, tick_seq: u64::from(market_data) };

        let mut bets: Vec<ModelBet> = Vec::new();
        let mut next_cid = 1;
        for op in ops {
            match op {
                Op::Bet { account, selection, stake_minor } => {
                    let selection = selection % selections;
                    let held: i64 = bets
                        .iter()
                        .filter(|b| b.live && b.account == account)
                        .map(|b| b.stake_minor)
                        .sum();
                    next_cid += 1;
                    let command =
                        bet_command(accounts[account], ids[selection], stake_minor, next_cid);
                    if held + stake_minor > deposits[account] {
                        h.reject(command, RejectReason::InsufficientFunds);
                        continue;
                    }
                    let events = h.accept(command);
                    sequences.check(&events)?;
                    let Some(&Event::BetAccepted { bet_id, .. }) = events.first() else {
                        panic!("expected bet_accepted, got {events:?}");
                    };
                    bets.push(ModelBet { id: bet_id, account, selection, stake_minor, live: true });
                }
                Op::Pause => {
                    let now = h.engine().ts_ns();
                    let events = accept_at(&mut h, now + 400 * MS, Command::Timer {});
                    sequences.check(&events)?;
                    let mut pools = vec![0i64; selections];
                    for b in bets.iter().filter(|b| b.live) {
                        pools[b.selection] += b.stake_minor;
                    }
                    check_tick(&events, &pools, takeout_bps)?;
                }
                Op::Cancel { pick } => {
                    if bets.is_empty() {
                        continue;
                    }
                    let n = pick % bets.len();
                    let command = cancel_bet_command(accounts[bets[n].account], bets[n].id);
                    if bets[n].live {
                        let events = h.accept(command);
                        sequences.check(&events)?;
                        let cancelled = matches!(events[0], Event::BetCancelled { .. });
                        prop_assert!(cancelled, "expected bet_cancelled, got {:?}", events);
                        bets[n].live = false;
                    } else {
                        h.reject(command, RejectReason::UnknownOrder);
                    }
                }
            }
            for (n, account) in accounts.iter().enumerate() {
                let held: i64 = bets
                    .iter()
                    .filter(|b| b.live && b.account == n)
                    .map(|b| b.stake_minor)
                    .sum();
                prop_assert_eq!(h.exposure(*account), held);
            }
        }

        sequences.check(&h.accept(suspend()))?;
        if close_first {
            sequences.check(&h.accept(close()))?;
        }
        let winners: Vec<usize> = order.iter().copied().filter(|s| *s < selections).take(places).collect();
        let winner_ids: Vec<SelectionId> = winners.iter().map(|w| ids[*w]).collect();
        let events = h.accept(settle(&winner_ids));
        sequences.check(&events)?;

        // The model.
        let live: Vec<ModelBet> = bets.iter().copied().filter(|b| b.live).collect();
        let mut pools = vec![0i64; selections];
        for b in &live {
            pools[b.selection] += b.stake_minor;
        }
        let total: i64 = pools.iter().sum();
        let funded: Vec<usize> = winners.iter().copied().filter(|w| pools[*w] > 0).collect();
        let net = if funded.is_empty() {
            total
        } else {
            total * i64::from(10_000 - takeout_bps) / 10_000
        };
        let k = funded.len() as i64;
        let share = if k == 0 { 0 } else { net / k };
        let payout = |b: &ModelBet| {
            if funded.is_empty() {
                b.stake_minor
            } else if funded.contains(&b.selection) {
                share * b.stake_minor / pools[b.selection]
            } else {
                0
            }
        };

        let settled: Vec<(OrderId, AccountId, i64, i64)> = events
            .iter()
            .filter_map(|e| match *e {
                Event::BetSettled { bet_id, account, stake_minor, payout_minor, .. } => {
                    Some((bet_id, account, stake_minor, payout_minor))
                }
                _ => None,
            })
            .collect();
        let expected: Vec<(OrderId, AccountId, i64, i64)> = live
            .iter()
            .map(|b| (b.id, accounts[b.account], b.stake_minor, payout(b)))
            .collect();
        prop_assert_eq!(&settled, &expected);

        let paid: i64 = live.iter().map(payout).sum();
        if !funded.is_empty() {
            let winning_bets = live.iter().filter(|b| funded.contains(&b.selection)).count() as i64;
            prop_assert!(paid <= net);
            prop_assert!(paid >= net - winning_bets - k, "paid {paid} of {net}");
        }
        // Losing bets are paid nothing (unless nothing is paid out at all: then every bet is
        // refunded).
        for (b, settled) in live.iter().zip(&settled) {
            if funded.is_empty() {
                prop_assert_eq!(settled.3, b.stake_minor);
            } else if !winners.contains(&b.selection) {
                prop_assert_eq!(settled.3, 0);
            }
        }

        let house: Vec<(AccountId, PostingKind, i64)> = postings(&events)
            .into_iter()
            .filter(|(account, ..)| account.is_reserved())
            .collect();
        let mut expected_house = Vec::new();
        if total - net != 0 {
            expected_house.push((COMMISSION, PostingKind::Takeout, total - net));
        }
        if net - paid != 0 {
            expected_house.push((ROUNDING, PostingKind::Rounding, net - paid));
        }
        prop_assert_eq!(house, expected_house);

        for (n, account) in accounts.iter().enumerate() {
            let result: i64 = live
                .iter()
                .filter(|b| b.account == n)
                .map(|b| payout(b) - b.stake_minor)
                .sum();
            prop_assert_eq!(h.balance(*account), deposits[n] + result);
            prop_assert_eq!(h.exposure(*account), 0);
        }
        prop_assert_eq!(h.balance(COMMISSION), total - net);
        prop_assert_eq!(h.balance(ROUNDING), net - paid);
        prop_assert_eq!(h.engine().total_balance_minor(), h.engine().net_deposits_minor());
        prop_assert_eq!(h.engine().market_status(MARKET), Some(MarketStatus::Settled));
    }
}
