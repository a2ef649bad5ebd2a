//! Markets resolved by vote: one vote per account and stake weighting, re-votes, the checks
//! that refuse a vote, the tally at the window's end (settle, void on a missed quorum or
//! threshold or a tie), how the market's state at that moment matters, invalid resolution
//! definitions, and ten thousand voters.
//!
//! Unless a test says otherwise, commands run on both books through the harness, which checks
//! `validate()`, equal events and state hashes, and money conservation after each one.

mod odds_support;
mod support;

use odds_support::*;
use oddsmatch_engine::*;
use support::*;

/// Votes are taken during `[START, END)`.
const START: u64 = SECOND;
const END: u64 = 2 * SECOND;

const COMMISSION: AccountId = AccountId::HOUSE_COMMISSION;
/// A market that is not resolved by vote.
const PLAIN: MarketId = MarketId(8);

fn resolution(quorum: u32, threshold_bps: u16, weight: VoteWeight) -> Option<Resolution> {
    Some(vote_resolution(START, END, quorum, threshold_bps, weight))
}

fn vote_accepted(account: AccountId, selection: SelectionId, weight: i64, replaced: bool) -> Event {
    Event::VoteAccepted {
        account,
        market: MARKET,
        selection,
        weight,
        replaced,
    }
}

fn vote_result(
    winner: Option<SelectionId>,
    voters: u32,
    total_weight: i64,
    leading_weight: i64,
) -> Event {
    Event::VoteResult {
        market: MARKET,
        winner,
        voters,
        total_weight,
        leading_weight,
    }
}

fn settled_on(winner: SelectionId) -> Event {
    Event::MarketSettled {
        market: MARKET,
        winners: Winners::new(&[winner]).unwrap(),
    }
}

/// What the window's end of an open exchange market without positions produces when
/// `winner` won: the tally, the close, the settlement.
fn won(winner: SelectionId, voters: u32, total_weight: i64, leading_weight: i64) -> Vec<Event> {
    vec![
        vote_result(Some(winner), voters, total_weight, leading_weight),
        status_event(MARKET, 2, MarketStatus::Closed, StatusCause::Vote),
        settled_on(winner),
        status_event(MARKET, 3, MarketStatus::Settled, StatusCause::Vote),
    ]
}

/// What the window's end of an open exchange market without positions produces with no
/// winner: the tally and the void.
fn voided(voters: u32, total_weight: i64, leading_weight: i64) -> Vec<Event> {
    vec![
        vote_result(None, voters, total_weight, leading_weight),
        status_event(MARKET, 2, MarketStatus::Voided, StatusCause::Vote),
    ]
}

/// A harness with ALICE, BOB, CAROL and DAVE (10,000 each) and the open pool market
/// [`MARKET`] (S1, S2, S3, takeout `takeout_bps`) resolved by vote.
fn pool_vote(takeout_bps: u16, quorum: u32, threshold_bps: u16, weight: VoteWeight) -> Harness {
    let mut h = Harness::new();
    for account in [ALICE, BOB, CAROL, DAVE] {
        h.funded(account, 10_000);
    }
    h.open_market(
        pool_def(MARKET, &[S1, S2, S3], takeout_bps)
            .with(|s| s.resolution = resolution(quorum, threshold_bps, weight)),
    );
    h
}

/// Runs one vote per entry of `votes` (voter n+1 votes `votes[n]`) on an open exchange market
/// resolved by one vote per account, and returns the events of the window's end.
fn decide(votes: &[SelectionId], quorum: u32, threshold_bps: u16) -> Vec<Event> {
    let mut h = Harness::new();
    for n in 1..=votes.len() as u32 {
        h.create_account(AccountSpec::new(AccountId(n)));
    }
    h.open_market(
        MarketDef::new(MARKET, &[S1, S2, S3])
            .with(|s| s.resolution = resolution(quorum, threshold_bps, VoteWeight::OnePerAccount)),
    );
    for (n, selection) in (1..).zip(votes) {
        let events = accept_at(
            &mut h,
            START + u64::from(n),
            vote_command(AccountId(n), *selection),
        );
        assert_eq!(
            events,
            vec![vote_accepted(AccountId(n), *selection, 1, false)]
        );
    }
    let events = accept_at(&mut h, END, Command::Timer {});
    assert!(h.engine().market_status(MARKET).unwrap().is_final());
    events
}

// -- one vote per account --

#[test]
fn one_vote_per_account_settles_the_market_on_the_winner() {
    let mut h = pool_vote(0, 3, 5_000, VoteWeight::OnePerAccount);
    let a = bet(&mut h, ALICE, S1, 1_000, 1);
    let b = bet(&mut h, BOB, S2, 3_000, 1);

    let event = reject_at(
        &mut h,
        START - 1,
        vote_command(ALICE, S1),
        RejectReason::VoteWindowClosed,
    );
    assert_eq!(
        event,
        rejected(
            CommandKind::Vote,
            RejectReason::VoteWindowClosed,
            Some(ALICE),
            Some(MARKET),
            None,
            None,
        )
    );

    let events = accept_at(&mut h, START, vote_command(ALICE, S1));
    assert_eq!(events, vec![vote_accepted(ALICE, S1, 1, false)]);
    let events = accept_at(&mut h, START + 1, vote_command(BOB, S2));
    assert_eq!(events, vec![vote_accepted(BOB, S2, 1, false)]);
    // Any trader may vote, with or without a stake on the market.
    let events = accept_at(&mut h, START + 2, vote_command(CAROL, S1));
    assert_eq!(events, vec![vote_accepted(CAROL, S1, 1, false)]);
    let events = accept_at(&mut h, START + 3, vote_command(DAVE, S2));
    assert_eq!(events, vec![vote_accepted(DAVE, S2, 1, false)]);
    // A re-vote replaces the earlier one, up to the last instant of the window.
    let events = accept_at(&mut h, START + 4, vote_command(DAVE, S1));
    assert_eq!(events, vec![vote_accepted(DAVE, S1, 1, true)]);
    let events = accept_at(&mut h, END - 1, vote_command(DAVE, S1));
    assert_eq!(events, vec![vote_accepted(DAVE, S1, 1, true)]);
    assert_eq!(h.engine().market_status(MARKET), Some(MarketStatus::Open));

    // S1 has ALICE, CAROL and DAVE: 3 of 4 voters, over the quorum of 3 and the 50% threshold.
    // The open market is closed, then settled: the pool of 4,000 (no takeout) goes to S1,
    // where ALICE holds all 1,000.
    let events = accept_at(&mut h, END, Command::Timer {});
    assert_eq!(
        events,
        vec![
            vote_result(Some(S1), 4, 4, 3),
            status_event(MARKET, 2, MarketStatus::Closed, StatusCause::Vote),
            settled_on(S1),
            bet_settled(a, ALICE, 1_000, 4_000),
            bet_settled(b, BOB, 3_000, 0),
            account_settled(ALICE, 3_000),
            posting(ALICE, PostingKind::Settlement, 3_000, 13_000),
            account_settled(BOB, -3_000),
            posting(BOB, PostingKind::Settlement, -3_000, 7_000),
            status_event(MARKET, 3, MarketStatus::Settled, StatusCause::Vote),
        ]
    );
    assert_eq!(h.balance(ALICE), 13_000);
    assert_eq!(h.balance(BOB), 7_000);
    assert_eq!(h.exposure(ALICE), 0);
    assert_conserved(&h);

    reject_at(
        &mut h,
        END + 1,
        vote_command(CAROL, S2),
        RejectReason::MarketFinalized,
    );
    // The vote is over: nothing more falls due.
    assert_eq!(at(&mut h, END + 10 * SECOND, Command::Timer {}), vec![]);
}

#[test]
fn a_vote_at_the_window_end_comes_after_the_tally() {
    let mut h = Harness::new();
    h.funded(ALICE, 10_000);
    h.open_market(
        MarketDef::new(MARKET, &[S1, S2, S3])
            .with(|s| s.resolution = resolution(1, 5_000, VoteWeight::OnePerAccount)),
    );
    // A resting order: the close at the window's end cancels it.
    let order = h.placed(Place::back(ALICE, S1, 200, 100));
    accept_at(&mut h, START, vote_command(ALICE, S1));
    // Every input first runs what falls due at its time: the tally decides, and the vote that
    // arrives with the window's end finds the market settled.
    let events = at(&mut h, END, vote_command(ALICE, S2));
    assert_eq!(
        events,
        vec![
            vote_result(Some(S1), 1, 1, 1),
            status_event(MARKET, 2, MarketStatus::Closed, StatusCause::Vote),
            Event::OrderCancelled {
                order_id: order,
                account: ALICE,
                market: MARKET,
                selection: S1,
                side: Side::Back,
                stake_minor: 100,
                reason: CancelReason::MarketClosed,
            },
            settled_on(S1),
            Event::AccountSettled {
                account: ALICE,
                market: MARKET,
                pnl_minor: 0,
                commission_minor: 0,
            },
            status_event(MARKET, 3, MarketStatus::Settled, StatusCause::Vote),
            rejected(
                CommandKind::Vote,
                RejectReason::MarketFinalized,
                Some(ALICE),
                Some(MARKET),
                None,
                None,
            ),
        ]
    );
    assert_eq!(h.exposure(ALICE), 0);
}

// -- stake weighting --

#[test]
fn stake_weighting_counts_the_voters_exposure_once_the_market_is_closed() {
    let mut h = pool_vote(1_000, 2, 5_000, VoteWeight::Stake);
    let a1 = bet(&mut h, ALICE, S1, 1_000, 1);
    let a2 = bet(&mut h, ALICE, S2, 500, 2);
    let b1 = bet(&mut h, BOB, S2, 2_000, 1);
    let c1 = bet(&mut h, CAROL, S3, 700, 1);
    h.accept(cancel_bet_command(CAROL, c1));

    // While the market is open, money at risk is not final (a bet could be placed to vote
    // and then cancelled): no stake-weighted vote counts yet.
    reject_at(
        &mut h,
        START,
        vote_command(ALICE, S1),
        RejectReason::NotEligibleToVote,
    );
    accept_at(&mut h, START, Command::CloseMarket { market: MARKET });

    // Only accounts with exposure on the market may vote: CAROL's position is flat and DAVE
    // has none.
    let event = reject_at(
        &mut h,
        START,
        vote_command(CAROL, S3),
        RejectReason::NotEligibleToVote,
    );
    assert_eq!(
        event,
        rejected(
            CommandKind::Vote,
            RejectReason::NotEligibleToVote,
            Some(CAROL),
            Some(MARKET),
            None,
            None,
        )
    );
    reject_at(
        &mut h,
        START,
        vote_command(DAVE, S3),
        RejectReason::NotEligibleToVote,
    );

    let events = accept_at(&mut h, START, vote_command(ALICE, S1));
    assert_eq!(events, vec![vote_accepted(ALICE, S1, 1_500, false)]);
    let events = accept_at(&mut h, START + 1, vote_command(BOB, S2));
    assert_eq!(events, vec![vote_accepted(BOB, S2, 2_000, false)]);
    // ALICE changes her mind twice; her weight moves with her vote.
    let events = accept_at(&mut h, START + 2, vote_command(ALICE, S2));
    assert_eq!(events, vec![vote_accepted(ALICE, S2, 1_500, true)]);
    let events = accept_at(&mut h, START + 3, vote_command(ALICE, S1));
    assert_eq!(events, vec![vote_accepted(ALICE, S1, 1_500, true)]);

    // Tally: S1 1,500, S2 2,000, total 3,500; 2,000 / 3,500 = 57% >= 50%, 2 voters: S2 wins.
    // Pools: S1 1,000, S2 2,500; total 3,500; net floor(3,500 * 0.9) = 3,150, takeout 350.
    // S2's bets share the net pool: 500 -> floor(3,150 * 500 / 2,500) = 630, 2,000 -> 2,520.
    let events = accept_at(&mut h, END, Command::Timer {});
    assert_eq!(
        events,
        vec![
            vote_result(Some(S2), 2, 3_500, 2_000),
            settled_on(S2),
            bet_settled(a1, ALICE, 1_000, 0),
            bet_settled(a2, ALICE, 500, 630),
            bet_settled(b1, BOB, 2_000, 2_520),
            account_settled(ALICE, -870),
            posting(ALICE, PostingKind::Settlement, -870, 9_130),
            account_settled(BOB, 520),
            posting(BOB, PostingKind::Settlement, 520, 10_520),
            account_settled(CAROL, 0),
            posting(COMMISSION, PostingKind::Takeout, 350, 350),
            status_event(MARKET, 3, MarketStatus::Settled, StatusCause::Vote),
        ]
    );
    assert_conserved(&h);
}

#[test]
fn stake_weighting_counts_exchange_exposure_too() {
    let mut h = Harness::new();
    h.funded(ALICE, 10_000);
    h.funded(BOB, 10_000);
    h.funded(CAROL, 10_000);
    h.open_market(
        MarketDef::new(MARKET, &[S1, S2, S3])
            .with(|s| s.resolution = resolution(1, 5_000, VoteWeight::Stake)),
    );
    // ALICE lays 100 at 3.00 and BOB backs it: she risks 200, he risks 100. CAROL's order is
    // unmatched and cancelled at the close, so she has nothing at risk.
    h.placed(Place::lay(ALICE, S2, 300, 100));
    h.placed(Place::back(BOB, S2, 300, 100));
    h.placed(Place::back(CAROL, S1, 500, 100));
    accept_at(&mut h, START, Command::CloseMarket { market: MARKET });
    assert_eq!(h.market_exposure(ALICE, MARKET), 200);
    let events = accept_at(&mut h, START, vote_command(ALICE, S3));
    assert_eq!(events, vec![vote_accepted(ALICE, S3, 200, false)]);
    let events = accept_at(&mut h, START, vote_command(BOB, S2));
    assert_eq!(events, vec![vote_accepted(BOB, S2, 100, false)]);
    reject_at(
        &mut h,
        START + 1,
        vote_command(CAROL, S3),
        RejectReason::NotEligibleToVote,
    );
}

// -- outcomes --

#[test]
fn the_tally_settles_or_voids_by_quorum_threshold_and_ties() {
    // Exactly at the threshold (3 of 5 = 60%) and exactly the quorum: a winner.
    assert_eq!(decide(&[S1, S1, S1, S2, S2], 5, 6_000), won(S1, 5, 5, 3));
    // One voter short of the quorum: void.
    assert_eq!(decide(&[S1, S1, S1, S2, S2], 6, 6_000), voided(5, 5, 3));
    // Below the threshold (3 of 6 = 50% < 60%): void.
    assert_eq!(decide(&[S1, S1, S1, S2, S2, S3], 1, 6_000), voided(6, 6, 3));
    // A tie for the lead: void, whatever the threshold.
    assert_eq!(decide(&[S1, S1, S2, S2], 1, 1), voided(4, 4, 2));
    assert_eq!(decide(&[S1, S2, S2, S3, S3], 1, 1), voided(5, 5, 2));
    // A tie below the lead does not matter.
    assert_eq!(decide(&[S1, S2, S3, S3], 1, 5_000), won(S3, 4, 4, 2));
    assert_eq!(
        decide(&[S1, S1, S2, S2, S3, S3, S3], 1, 4_000),
        won(S3, 7, 7, 3)
    );
    // Unanimity at the highest threshold.
    assert_eq!(decide(&[S2, S2], 2, 10_000), won(S2, 2, 2, 2));
    assert_eq!(decide(&[S2, S2, S1], 1, 10_000), voided(3, 3, 2));
    // Nobody voted.
    assert_eq!(decide(&[], 1, 1), voided(0, 0, 0));
}

#[test]
fn a_missed_quorum_voids_the_pool_and_refunds_every_bet() {
    let mut h = pool_vote(1_000, 2, 5_000, VoteWeight::OnePerAccount);
    let a = bet(&mut h, ALICE, S1, 1_000, 1);
    let b = bet(&mut h, BOB, S2, 500, 1);
    accept_at(&mut h, START, vote_command(ALICE, S1));
    // One voter of the two needed: the open market is voided directly.
    let events = accept_at(&mut h, END, Command::Timer {});
    assert_eq!(
        events,
        vec![
            vote_result(None, 1, 1, 1),
            bet_settled(a, ALICE, 1_000, 1_000),
            bet_settled(b, BOB, 500, 500),
            account_settled(ALICE, 0),
            account_settled(BOB, 0),
            status_event(MARKET, 2, MarketStatus::Voided, StatusCause::Vote),
        ]
    );
    assert_eq!(h.balance(ALICE), 10_000);
    assert_eq!(h.exposure(ALICE), 0);
    assert_eq!(h.balance(COMMISSION), 0);
    assert_conserved(&h);
}

#[test]
fn the_market_state_at_the_window_end_decides_how_it_ends() {
    let with_market = |path: &[Command]| {
        let mut h = Harness::new();
        h.create_account(AccountSpec::new(ALICE));
        h.accept(
            MarketDef::new(MARKET, &[S1, S2, S3])
                .with(|s| s.resolution = resolution(1, 5_000, VoteWeight::OnePerAccount))
                .command(),
        );
        for command in path {
            h.accept(command.clone());
        }
        // Votes are taken in any state before the market is final.
        accept_at(&mut h, START, vote_command(ALICE, S2));
        let events = accept_at(&mut h, END, Command::Timer {});
        (events, h.engine().market_status(MARKET).unwrap())
    };
    let open = Command::OpenMarket { market: MARKET };
    let suspend = Command::SuspendMarket { market: MARKET };
    let close = Command::CloseMarket { market: MARKET };

    // Suspended or closed: settled at once, without another close.
    for path in [
        [open.clone(), suspend.clone()],
        [open.clone(), close.clone()],
    ] {
        let (events, status) = with_market(&path);
        assert_eq!(
            events,
            vec![
                vote_result(Some(S2), 1, 1, 1),
                settled_on(S2),
                status_event(MARKET, 3, MarketStatus::Settled, StatusCause::Vote),
            ]
        );
        assert_eq!(status, MarketStatus::Settled);
    }
    // Never opened: a winner cannot settle a market that never traded, so it is voided.
    let (events, status) = with_market(&[]);
    assert_eq!(
        events,
        vec![
            vote_result(Some(S2), 1, 1, 1),
            status_event(MARKET, 1, MarketStatus::Voided, StatusCause::Vote),
        ]
    );
    assert_eq!(status, MarketStatus::Voided);
}

#[test]
fn an_operator_may_end_the_market_before_the_vote_does() {
    let mut h = Harness::new();
    h.create_account(AccountSpec::new(ALICE));
    h.open_market(
        MarketDef::new(MARKET, &[S1, S2, S3])
            .with(|s| s.resolution = resolution(1, 5_000, VoteWeight::OnePerAccount)),
    );
    accept_at(&mut h, START, vote_command(ALICE, S2));
    h.accept(Command::VoidMarket { market: MARKET });
    let event = reject_at(
        &mut h,
        START + SECOND / 2,
        vote_command(ALICE, S1),
        RejectReason::MarketFinalized,
    );
    assert_eq!(
        event,
        rejected(
            CommandKind::Vote,
            RejectReason::MarketFinalized,
            Some(ALICE),
            Some(MARKET),
            None,
            None,
        )
    );
    // The window's end finds nothing to decide.
    assert_eq!(at(&mut h, END, Command::Timer {}), vec![]);
    assert_eq!(h.engine().market_status(MARKET), Some(MarketStatus::Voided));
}

#[test]
fn a_market_created_after_its_window_is_refused() {
    let mut h = Harness::new();
    // Nobody could vote in a window that has already ended: the definition is refused.
    for created_at in [END, END + 1] {
        reject_at(
            &mut h,
            created_at,
            MarketDef::new(MARKET, &[S1, S2, S3])
                .with(|s| s.resolution = resolution(1, 5_000, VoteWeight::OnePerAccount))
                .command(),
            RejectReason::InvalidMarketDefinition,
        );
    }
    // A moment before the end it is accepted (and decided by the first input at the end).
    accept_at(
        &mut h,
        END - 1,
        MarketDef::new(MARKET, &[S1, S2, S3])
            .with(|s| s.resolution = resolution(1, 5_000, VoteWeight::OnePerAccount))
            .command(),
    );
}

// -- refused votes and definitions --

#[test]
fn votes_are_refused_for_the_documented_reasons() {
    let mut h = Harness::new();
    h.create_account(AccountSpec::new(ALICE));
    feed_account(&mut h, FEED);
    h.open_market(
        MarketDef::new(MARKET, &[S1, S2, S3])
            .with(|s| s.resolution = resolution(1, 5_000, VoteWeight::OnePerAccount)),
    );
    h.open_market(MarketDef::new(PLAIN, &[S1, S2]));

    let vote_on = |market| Command::Vote {
        account: ALICE,
        market,
        selection: S1,
    };
    let event = reject_at(&mut h, START, vote_on(PLAIN), RejectReason::NotVoteMarket);
    assert_eq!(
        event,
        rejected(
            CommandKind::Vote,
            RejectReason::NotVoteMarket,
            Some(ALICE),
            Some(PLAIN),
            None,
            None,
        )
    );
    reject_at(
        &mut h,
        START,
        vote_on(MarketId(99)),
        RejectReason::UnknownMarket,
    );
    reject_at(
        &mut h,
        START,
        vote_command(ALICE, SelectionId(9)),
        RejectReason::InvalidSelection,
    );
    // The window is checked before the selection.
    reject_at(
        &mut h,
        START - 1,
        vote_command(ALICE, SelectionId(9)),
        RejectReason::VoteWindowClosed,
    );
    reject_at(
        &mut h,
        START,
        vote_command(AccountId(55), S1),
        RejectReason::UnknownAccount,
    );
    reject_at(
        &mut h,
        START,
        vote_command(FEED, S1),
        RejectReason::RoleNotPermitted,
    );
    reject_at(
        &mut h,
        START,
        vote_command(AccountId::HOUSE_ROUNDING, S1),
        RejectReason::ReservedAccount,
    );
    accept_at(&mut h, START, vote_command(ALICE, S1));
}

#[test]
fn invalid_vote_rules_are_an_invalid_market_definition() {
    let mut h = Harness::new();
    let rules = |window_start, window_end, quorum, threshold_bps| {
        Some(vote_resolution(
            window_start,
            window_end,
            quorum,
            threshold_bps,
            VoteWeight::OnePerAccount,
        ))
    };
    let invalid = [
        // A vote names one winner.
        MarketDef::new(MARKET, &[S1, S2, S3])
            .places(2)
            .with(|s| s.resolution = rules(START, END, 1, 5_000)),
        // The window must not be empty.
        MarketDef::new(MARKET, &[S1, S2]).with(|s| s.resolution = rules(END, END, 1, 5_000)),
        MarketDef::new(MARKET, &[S1, S2]).with(|s| s.resolution = rules(END, START, 1, 5_000)),
        // At least one voter.
        MarketDef::new(MARKET, &[S1, S2]).with(|s| s.resolution = rules(START, END, 0, 5_000)),
        // A threshold in 1..=10,000 bps.
        MarketDef::new(MARKET, &[S1, S2]).with(|s| s.resolution = rules(START, END, 1, 0)),
        MarketDef::new(MARKET, &[S1, S2]).with(|s| s.resolution = rules(START, END, 1, 10_001)),
        // The same on a pool.
        pool_def(MARKET, &[S1, S2, S3], 0)
            .places(2)
            .with(|s| s.resolution = rules(START, END, 1, 5_000)),
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
    // The edges that are allowed: a window of one nanosecond, quorum 1, threshold 10,000.
    h.accept(
        MarketDef::new(MARKET, &[S1, S2])
            .with(|s| s.resolution = rules(START, START + 1, 1, 10_000))
            .command(),
    );
}

// -- scale --

/// One engine driven directly (ten thousand accounts are too many for the harness's
/// whole-state checks after every command on two engines).
struct Driver {
    engine: Engine,
    steps: u64,
}

impl Driver {
    /// Applies a command at `ts_ns`; validates every 100 commands.
    fn apply(&mut self, ts_ns: u64, command: Command) -> Vec<Event> {
        let mut events = Vec::new();
        self.engine.apply(&Input { ts_ns, command }, &mut events);
        self.steps += 1;
        if self.steps.is_multiple_of(100) {
            self.validate();
        }
        events
    }

    fn validate(&self) {
        self.engine.validate().unwrap();
        assert_eq!(
            self.engine.total_balance_minor(),
            self.engine.net_deposits_minor()
        );
    }
}

#[test]
fn ten_thousand_voters_are_tallied_exactly() {
    const VOTERS: u32 = 10_000;
    let mut config = EngineConfig::small();
    config.max_accounts = VOTERS + 16;
    let mut d = Driver {
        engine: Engine::new(config),
        steps: 0,
    };
    let mut ts = 0;
    for n in 1..=VOTERS {
        ts += 1;
        let events = d.apply(ts, Command::create_account(AccountId(n), Tier::Free));
        assert_eq!(events.len(), 1);
    }
    ts += 1;
    let mut spec = MarketSpec::new(MARKET, vec![S1, S2, S3]);
    spec.market_data = Some(false);
    spec.resolution = Some(vote_resolution(
        START,
        END,
        VOTERS,
        4_500,
        VoteWeight::OnePerAccount,
    ));
    d.apply(ts, Command::create_market(spec));
    d.apply(ts + 1, Command::OpenMarket { market: MARKET });

    // Voter n votes by (7n mod 10): 0-4 S1, 5-7 S2, 8-9 S3 (5,000, 3,000 and 2,000 votes);
    // then every 20th voter (all of them S1 voters, since 7n mod 10 = 0) changes to S3.
    let first = |n: u32| match (7 * n) % 10 {
        0..=4 => S1,
        5..=7 => S2,
        _ => S3,
    };
    let mut ts = START;
    let mut tally = [0i64; 3];
    for n in 1..=VOTERS {
        let selection = first(n);
        let events = d.apply(ts, vote_command(AccountId(n), selection));
        assert_eq!(
            events,
            vec![vote_accepted(AccountId(n), selection, 1, false)]
        );
        tally[selection.0 as usize - 1] += 1;
        ts += 1;
    }
    assert_eq!(tally, [5_000, 3_000, 2_000]);
    for n in (20..=VOTERS).step_by(20) {
        assert_eq!(first(n), S1);
        let events = d.apply(ts, vote_command(AccountId(n), S3));
        assert_eq!(events, vec![vote_accepted(AccountId(n), S3, 1, true)]);
        tally[0] -= 1;
        tally[2] += 1;
        ts += 1;
    }
    assert_eq!(tally, [4_500, 3_000, 2_500]);
    d.validate();

    // 4,500 of 10,000 is exactly the 45% threshold, with exactly the quorum of voters.
    let events = d.apply(END, Command::Timer {});
    assert_eq!(events, won(S1, VOTERS, i64::from(VOTERS), 4_500));
    d.validate();
}
