//! Risk: stake limits, open-order limits, exposure (computed by hand from the rules in
//! docs/market-rules.md §6), funds, the kill switch and capacity.
//!
//! Exposure arithmetic in comments is in hundredths of a minor unit unless it says otherwise:
//! per selection `s`, matched back `x@o` adds win `+x(o-100)`, lose `-100x`; matched lay adds
//! win `-x(o-100)`, lose `+100x`; unmatched back adds lose `-100x`; unmatched lay adds win
//! `-x(o-100)`. With one place the exposure is the worst over "w wins, the rest lose"; with
//! `k > 1` places it is the sum over selections of min(win, lose). Both round the loss up.

mod support;

use oddsmatch_engine::*;
use support::*;

/// Room for a MARKET_MAKER account's 5,000 open orders (plus one that must be refused).
fn roomy() -> EngineConfig {
    EngineConfig {
        max_orders: 8_192,
        ..EngineConfig::small()
    }
}

/// A harness with one account as specified, funded, and the open default market.
fn one_account(spec: AccountSpec, deposit_minor: i64) -> Harness {
    let mut h = Harness::with_config(roomy());
    h.create_account(spec);
    if deposit_minor > 0 {
        h.deposit(spec.account, deposit_minor);
    }
    h.default_market();
    h
}

// -- stakes --

#[test]
fn stake_limits_follow_the_tier() {
    // docs/market-rules.md §5: min stake 1 for every tier; max stake per tier.
    let table = [
        (Tier::Free, 10_000),
        (Tier::Basic, 1_000_000),
        (Tier::Pro, 10_000_000),
        (Tier::MarketMaker, 1_000_000_000_000),
    ];
    for (tier, max_stake_minor) in table {
        let mut h = one_account(AccountSpec::new(ALICE).tier(tier), max_stake_minor);
        for stake in [0, -1, max_stake_minor + 1] {
            h.place_rejected(
                Place::back(ALICE, S1, 300, stake),
                RejectReason::InvalidStake,
            );
        }
        // An unmatched back of the largest stake needs exactly that stake: affordable.
        let largest = h.placed(Place::back(ALICE, S1, 300, max_stake_minor));
        assert_eq!(h.exposure(ALICE), max_stake_minor, "{tier:?}");
        h.cancel(ALICE, MARKET, largest);
        h.placed(Place::back(ALICE, S1, 300, 1));
    }
}

#[test]
fn stake_overrides_win_over_the_tier() {
    let spec = AccountSpec::new(ALICE)
        .tier(Tier::Free)
        .min_stake(500)
        .max_stake(20_000);
    let mut h = one_account(spec, 100_000);
    h.place_rejected(Place::back(ALICE, S1, 300, 499), RejectReason::InvalidStake);
    h.placed(Place::back(ALICE, S1, 300, 500));
    // Above FREE's 10,000 but within the override.
    h.placed(Place::back(ALICE, S1, 300, 20_000));
    h.place_rejected(
        Place::back(ALICE, S1, 300, 20_001),
        RejectReason::InvalidStake,
    );
}

#[test]
fn limits_out_of_range_are_rejected_at_creation() {
    let mut h = Harness::new();
    let max_orders = h.engine().config().max_orders;
    let bad = [
        AccountSpec::new(ALICE).min_stake(0),
        AccountSpec::new(ALICE).min_stake(-5),
        AccountSpec::new(ALICE).min_stake(600).max_stake(500),
        AccountSpec::new(ALICE).max_stake(MAX_AMOUNT_MINOR + 1),
        AccountSpec::new(ALICE).max_market_exposure(-1),
        AccountSpec::new(ALICE).max_market_exposure(MAX_AMOUNT_MINOR + 1),
        // FREE's largest stake is 10,000: a smallest stake above it leaves no valid stake.
        AccountSpec::new(ALICE).tier(Tier::Free).min_stake(10_001),
    ];
    for spec in bad {
        h.reject(spec.command(), RejectReason::InvalidLimits);
    }
    // The edges are fine.
    h.create_account(
        AccountSpec::new(ALICE)
            .min_stake(1)
            .max_stake(MAX_AMOUNT_MINOR)
            .max_market_exposure(0)
            .max_open_orders(max_orders),
    );
}

// -- open orders --

#[test]
fn open_orders_are_limited_per_tier() {
    // REQUIREMENTS.md §5 / docs/market-rules.md §5.
    let table = [
        (Tier::Free, 20),
        (Tier::Basic, 100),
        (Tier::Pro, 500),
        (Tier::MarketMaker, 5_000),
    ];
    for (tier, max_open_orders) in table {
        let mut h = one_account(AccountSpec::new(ALICE).tier(tier), PLENTY_MINOR);
        let order = Place::back(ALICE, S1, 300, 1);
        let ids = h.place_many((0..max_open_orders).map(|_| order));
        assert_eq!(h.engine().open_orders(ALICE), Some(max_open_orders));
        h.place_rejected(Place::back(ALICE, S1, 300, 1), RejectReason::MaxOpenOrders);
        // The new order counts as if it would rest, even one that could never rest.
        h.place_rejected(
            Place::back(ALICE, S2, 300, 1).ioc(),
            RejectReason::MaxOpenOrders,
        );
        h.cancel(ALICE, MARKET, ids[0]);
        h.placed(Place::back(ALICE, S1, 300, 1));
    }
}

#[test]
fn the_open_order_limit_counts_every_market() {
    let mut h = one_account(AccountSpec::new(ALICE).max_open_orders(3), PLENTY_MINOR);
    let second = h.open_market(MarketDef::new(MarketId(8), &[S1, S2]));
    h.placed(Place::back(ALICE, S1, 300, 10));
    h.placed(Place::back(ALICE, S2, 300, 10));
    let third = h.placed(Place::back(ALICE, S1, 300, 10).on(second));
    h.place_rejected(
        Place::back(ALICE, S2, 300, 10).on(second),
        RejectReason::MaxOpenOrders,
    );
    h.place_rejected(Place::back(ALICE, S3, 300, 10), RejectReason::MaxOpenOrders);

    // A matched order is no longer open.
    h.funded(BOB, PLENTY_MINOR);
    h.placed(Place::lay(BOB, S1, 300, 10).on(second));
    assert!(!h.is_live(third));
    h.placed(Place::back(ALICE, S3, 300, 10));
}

// -- exposure by hand --

/// The exposure on a fresh market of one account (plenty of funds) that places `orders`.
fn exposure_of(market: MarketDef, orders: &[Place]) -> i64 {
    let mut h = Harness::new();
    h.funded(ALICE, PLENTY_MINOR);
    let market_id = h.open_market(market);
    for order in orders {
        h.placed(order.on(market_id));
    }
    h.market_exposure(ALICE, market_id)
}

fn three_runners() -> MarketDef {
    MarketDef::new(MARKET, &[S1, S2, S3])
}

fn four_runners_two_places() -> MarketDef {
    MarketDef::new(MARKET, &[S1, S2, S3, S4]).places(2)
}

#[test]
fn an_unmatched_back_risks_its_stake() {
    // lose[S1] = -100 * 1000. S2 or S3 winning: -100,000 -> 1,000.
    let orders = [Place::back(ALICE, S1, 300, 1_000)];
    assert_eq!(exposure_of(three_runners(), &orders), 1_000);
}

#[test]
fn an_unmatched_lay_risks_its_liability() {
    // win[S1] = -1000 * 200 = -200,000 -> 2,000 = 1000 x (300 - 100) / 100.
    let orders = [Place::lay(ALICE, S1, 300, 1_000)];
    assert_eq!(exposure_of(three_runners(), &orders), 2_000);
}

#[test]
fn a_back_and_a_lay_on_one_selection_cannot_both_lose() {
    // Back 1000@3.00: lose[S1] = -100,000. Lay 1000@2.00 (rests: below the back):
    // win[S1] = -100,000. S1 wins: -100,000; S2 or S3 wins: -100,000 -> 1,000, not 2,000.
    let orders = [
        Place::back(ALICE, S1, 300, 1_000),
        Place::lay(ALICE, S1, 200, 1_000),
    ];
    assert_eq!(exposure_of(three_runners(), &orders), 1_000);
}

#[test]
fn backs_on_two_selections_lose_together_when_a_third_wins() {
    // lose[S1] = -100,000, lose[S2] = -50,000. S1 wins: -50,000; S2 wins: -100,000;
    // S3 wins: -150,000 -> 1,500.
    let orders = [
        Place::back(ALICE, S1, 300, 1_000),
        Place::back(ALICE, S2, 400, 500),
    ];
    assert_eq!(exposure_of(three_runners(), &orders), 1_500);
}

#[test]
fn lays_on_two_selections_depend_on_the_number_of_places() {
    // win[S1] = win[S2] = -1000 * 100 = -100,000.
    let orders = [
        Place::lay(ALICE, S1, 200, 1_000),
        Place::lay(ALICE, S2, 200, 1_000),
    ];
    // One winner: only one of them can win -> worst -100,000 -> 1,000.
    assert_eq!(exposure_of(three_runners(), &orders), 1_000);
    // Two winners: min(-100,000, 0) + min(-100,000, 0) = -200,000 -> 2,000.
    assert_eq!(exposure_of(four_runners_two_places(), &orders), 2_000);
}

#[test]
fn places_above_one_sum_each_selections_worse_case() {
    // Back S1 1000@3.00: min(0, -100,000). Lay S2 500@5.00: min(-500 * 400, 0) = -200,000.
    // Sum -300,000 -> 3,000.
    let orders = [
        Place::back(ALICE, S1, 300, 1_000),
        Place::lay(ALICE, S2, 500, 500),
    ];
    assert_eq!(exposure_of(four_runners_two_places(), &orders), 3_000);
    // A back of 100 on each of the four: 4 x min(0, -10,000) = -40,000 -> 400 (the rule is
    // deliberately conservative: it takes every selection's worse case independently).
    let everywhere = [S1, S2, S3, S4].map(|s| Place::back(ALICE, s, 300, 100));
    assert_eq!(exposure_of(four_runners_two_places(), &everywhere), 400);
    // With one place and three runners, any winner leaves two losing backs: -20,000 -> 200.
    let three = [S1, S2, S3].map(|s| Place::back(ALICE, s, 300, 100));
    assert_eq!(exposure_of(three_runners(), &three), 200);
}

#[test]
fn exposure_rounds_the_loss_up_to_a_minor_unit() {
    // Lay 3@1.33: 3 x 33 = 99 hundredths -> 1.
    assert_eq!(
        exposure_of(three_runners(), &[Place::lay(ALICE, S1, 133, 3)]),
        1
    );
    // Lay 7@1.15: 7 x 15 = 105 hundredths -> 2.
    assert_eq!(
        exposure_of(three_runners(), &[Place::lay(ALICE, S1, 115, 7)]),
        2
    );
    // Lay 1@1.01: 1 hundredth -> 1.
    assert_eq!(
        exposure_of(three_runners(), &[Place::lay(ALICE, S1, 101, 1)]),
        1
    );
}

#[test]
fn exposure_on_the_probability_ladder() {
    // 3% is odds 33.33: lay 100 -> 100 x 3233 = 323,300 hundredths -> 3,233.
    let market = MarketDef::new(MARKET, &[S1, S2]).ladder(LadderKind::Probability);
    assert_eq!(
        exposure_of(market, &[Place::lay(ALICE, S1, 3_333, 100)]),
        3_233
    );
}

#[test]
fn exposure_sums_over_markets() {
    let mut h = Harness::new();
    h.funded(ALICE, PLENTY_MINOR);
    h.default_market();
    let second = h.open_market(MarketDef::new(MarketId(8), &[S1, S2]));
    h.placed(Place::lay(ALICE, S1, 300, 1_000));
    h.placed(Place::back(ALICE, S1, 300, 700).on(second));
    assert_eq!(h.market_exposure(ALICE, MARKET), 2_000);
    assert_eq!(h.market_exposure(ALICE, second), 700);
    assert_eq!(h.exposure(ALICE), 2_700);
}

// -- matched bets --

#[test]
fn a_new_order_is_checked_as_if_unmatched_and_matching_lowers_its_exposure() {
    for (bob_balance, accepted) in [(2_100, true), (2_099, false)] {
        let mut h = Harness::new();
        h.funded(ALICE, PLENTY_MINOR);
        h.funded(BOB, bob_balance);
        h.default_market();
        let alice = h.placed(Place::back(ALICE, S1, 300, 1_000));
        // Bob's lay at 3.10 counts as unmatched: 1000 x 210 / 100 = 2,100, although it would
        // trade at 3.00 and need only 2,000.
        let bob = Place::lay(BOB, S1, 310, 1_000);
        if !accepted {
            h.place_rejected(bob, RejectReason::InsufficientFunds);
            continue;
        }
        let events = h.place(bob);
        assert_eq!(
            trades(&events),
            vec![fill(300, 1_000, alice, accepted_id(&events))]
        );
        // Bob: matched lay 1000@3.00, win[S1] = -200,000 -> 2,000.
        assert_eq!(h.exposure(BOB), 2_000);
        // Alice: matched back, win[S1] = +200,000, lose[S1] = -100,000 -> 1,000 as before.
        assert_eq!(h.exposure(ALICE), 1_000);
    }
}

#[test]
fn matching_never_raises_exposure() {
    let mut h = four_traders();
    h.placed(Place::back(CAROL, S1, 290, 100));
    h.placed(Place::back(DAVE, S1, 300, 100));
    let exposures_before = [CAROL, DAVE].map(|a| h.exposure(a));
    assert_eq!(exposures_before, [100, 100]);

    let events = h.place(Place::lay(BOB, S1, 310, 300));
    assert_eq!(trades(&events).len(), 2);
    // Bob as unmatched: 300 x 210 = -63,000 -> 630. After the trades: matched 100@2.90 (win
    // -19,000, lose +10,000), matched 100@3.00 (-20,000, +10,000), unmatched 100@3.10
    // (-21,000, 0): win[S1] = -60,000, lose[S1] = +20,000 -> 600.
    assert_eq!(h.exposure(BOB), 600);
    // Carol: matched back 100@2.90: win +19,000, lose -10,000 -> 100, unchanged.
    // Dave: matched back 100@3.00: win +20,000, lose -10,000 -> 100, unchanged.
    assert_eq!([CAROL, DAVE].map(|a| h.exposure(a)), exposures_before);
}

#[test]
fn an_order_that_does_not_raise_exposure_needs_no_free_balance() {
    let mut h = Harness::new();
    h.funded(ALICE, 1_000);
    h.funded(BOB, PLENTY_MINOR);
    h.funded(CAROL, PLENTY_MINOR);
    h.default_market();
    h.placed(Place::back(ALICE, S1, 300, 1_000));
    h.placed(Place::lay(BOB, S1, 300, 1_000));
    // Matched back: win[S1] = +200,000, lose[S1] = -100,000 -> 1,000: no free balance left.
    assert_eq!(h.exposure(ALICE), 1_000);
    h.place_rejected(
        Place::back(ALICE, S2, 300, 1),
        RejectReason::InsufficientFunds,
    );

    // A lay of 1000@3.00 adds win[S1] -200,000: win 0, lose -100,000 -> still 1,000.
    let hedge = h.placed(Place::lay(ALICE, S1, 300, 1_000));
    assert_eq!(h.exposure(ALICE), 1_000);

    // Once matched: win 0, lose -100,000 + 100,000 = 0 -> flat.
    h.placed(Place::back(CAROL, S1, 300, 1_000));
    assert!(!h.is_live(hedge));
    assert_eq!(h.exposure(ALICE), 0);
}

// -- limits on exposure --

#[test]
fn market_exposure_is_limited_per_market() {
    let spec = AccountSpec::new(ALICE).max_market_exposure(1_000);
    let mut h = one_account(spec, PLENTY_MINOR);
    let second = h.open_market(MarketDef::new(MarketId(8), &[S1, S2]));
    h.placed(Place::back(ALICE, S1, 300, 1_000));
    // S3 winning would lose both backs: 1,001 > 1,000.
    h.place_rejected(Place::back(ALICE, S2, 300, 1), RejectReason::ExposureLimit);
    // The limit is per market.
    h.placed(Place::back(ALICE, S1, 300, 1_000).on(second));
    assert_eq!(h.exposure(ALICE), 2_000);
}

#[test]
fn the_free_tier_may_risk_fifty_thousand_on_a_market() {
    let mut h = one_account(AccountSpec::new(ALICE).tier(Tier::Free), PLENTY_MINOR);
    // Liability 10,000 x 500 / 100 = 50,000: at the limit.
    let at_limit = h.placed(Place::lay(ALICE, S1, 600, 10_000));
    h.cancel(ALICE, MARKET, at_limit);
    // 10,000 x 520 / 100 = 52,000.
    h.place_rejected(
        Place::lay(ALICE, S1, 620, 10_000),
        RejectReason::ExposureLimit,
    );
}

#[test]
fn the_market_limit_is_checked_before_the_balance() {
    let spec = AccountSpec::new(ALICE).max_market_exposure(500);
    let mut h = one_account(spec, 100);
    h.place_rejected(
        Place::back(ALICE, S1, 300, 600),
        RejectReason::ExposureLimit,
    );
    h.place_rejected(
        Place::back(ALICE, S1, 300, 101),
        RejectReason::InsufficientFunds,
    );
    h.placed(Place::back(ALICE, S1, 300, 100));
}

#[test]
fn total_exposure_must_stay_within_the_balance() {
    let mut h = Harness::new();
    h.create_account(AccountSpec::new(BOB));
    h.funded(ALICE, 3_000);
    h.default_market();
    let second = h.open_market(MarketDef::new(MarketId(8), &[S1, S2, S3]));
    // No money, no bet.
    h.place_rejected(
        Place::back(BOB, S1, 300, 1),
        RejectReason::InsufficientFunds,
    );

    h.placed(Place::lay(ALICE, S1, 300, 1_000)); // 2,000
    h.placed(Place::back(ALICE, S1, 300, 1_000).on(second)); // 1,000: total 3,000
    // 1,001 on the second market: total 3,001 > 3,000.
    h.place_rejected(
        Place::back(ALICE, S2, 300, 1).on(second),
        RejectReason::InsufficientFunds,
    );
    assert_eq!(h.exposure(ALICE), 3_000);
}

#[test]
fn a_replace_is_risk_checked_when_it_raises_exposure() {
    let mut h = Harness::new();
    h.create_account(AccountSpec::new(ALICE).max_market_exposure(1_200));
    h.deposit(ALICE, 1_000);
    h.default_market();
    let lay = h.placed(Place::lay(ALICE, S1, 300, 500)); // 500 x 200 / 100 = 1,000
    let replace = |odds_x100, stake_minor| Command::ReplaceOrder {
        account: ALICE,
        market: MARKET,
        order_id: lay,
        odds_x100,
        stake_minor,
    };
    // 500 x 210 / 100 = 1,050 > balance 1,000.
    h.reject(replace(310, 500), RejectReason::InsufficientFunds);
    // 500 x 300 / 100 = 1,500 > limit 1,200.
    h.reject(replace(400, 500), RejectReason::ExposureLimit);
    // 500 x 150 / 100 = 750.
    h.replace(ALICE, lay, 250, 500);
    assert_eq!(h.exposure(ALICE), 750);
    // 666 x 150 / 100 = 999.
    h.replace(ALICE, lay, 250, 666);
    assert_eq!(h.exposure(ALICE), 999);
    h.reject(replace(250, 667), RejectReason::InsufficientFunds);
}

// -- kill switch --

#[test]
fn the_kill_switch_cancels_everything_and_blocks_new_orders_until_turned_off() {
    let mut h = four_traders();
    let second = h.open_market(MarketDef::new(MarketId(8), &[S1, S2]));
    let bob = h.placed(Place::lay(BOB, S3, 300, 100));
    h.placed(Place::back(ALICE, S3, 300, 40)); // matched with Bob: stays
    let a1 = h.placed(Place::back(ALICE, S1, 300, 100));
    let a2 = h.placed(Place::lay(ALICE, S2, 200, 100));
    let a3 = h.placed(Place::back(ALICE, S1, 300, 100).on(second));

    let events = h.apply(Command::KillSwitch {
        account: ALICE,
        on: true,
    });
    assert_eq!(
        events[0],
        Event::KillSwitch {
            account: ALICE,
            on: true,
        }
    );
    assert_eq!(
        cancels(&events),
        vec![
            (a1, 100, CancelReason::KillSwitch),
            (a2, 100, CancelReason::KillSwitch),
            (a3, 100, CancelReason::KillSwitch),
        ]
    );
    assert_eq!(h.engine().open_orders(ALICE), Some(0));
    // Only the matched back 40@3.00 is left: lose[S3] = -4,000 -> 40.
    assert_eq!(h.exposure(ALICE), 40);
    assert!(h.is_live(bob), "other accounts are untouched");

    h.place_rejected(Place::back(ALICE, S1, 300, 10), RejectReason::KillSwitch);
    h.reject(
        Command::MassQuote {
            account: ALICE,
            market: MARKET,
            quotes: vec![quote(S1, Some((300, 10)), None)],
        },
        RejectReason::KillSwitch,
    );

    let events = h.apply(Command::KillSwitch {
        account: ALICE,
        on: false,
    });
    assert_eq!(
        events,
        vec![Event::KillSwitch {
            account: ALICE,
            on: false,
        }]
    );
    h.placed(Place::back(ALICE, S1, 300, 10));

    h.reject(
        Command::KillSwitch {
            account: AccountId(99),
            on: true,
        },
        RejectReason::UnknownAccount,
    );
    h.reject(
        Command::KillSwitch {
            account: AccountId::HOUSE_COMMISSION,
            on: true,
        },
        RejectReason::ReservedAccount,
    );
}

// -- capacity --

#[test]
fn the_order_table_is_bounded() {
    let config = EngineConfig {
        max_orders: 3,
        ..EngineConfig::small()
    };
    let mut h = Harness::with_config(config);
    for account in [ALICE, BOB] {
        h.create_account(AccountSpec::new(account).max_open_orders(2));
        h.deposit(account, PLENTY_MINOR);
    }
    h.default_market();
    let first = h.placed(Place::back(ALICE, S1, 300, 10));
    h.placed(Place::back(ALICE, S1, 300, 10));
    // The account's own limit comes first.
    h.place_rejected(Place::back(ALICE, S1, 300, 10), RejectReason::MaxOpenOrders);
    h.placed(Place::back(BOB, S1, 300, 10));
    h.place_rejected(Place::back(BOB, S1, 300, 10), RejectReason::OrderCapacity);
    h.reject(
        Command::MassQuote {
            account: BOB,
            market: MARKET,
            quotes: vec![quote(S2, Some((300, 10)), None)],
        },
        RejectReason::OrderCapacity,
    );
    h.cancel(ALICE, MARKET, first);
    h.placed(Place::back(BOB, S1, 300, 10));
}
