//! The vote benchmark: a prediction market resolved by its participants' votes.
//!
//! One pool market with two selections (yes and no) is resolved by vote, one vote per
//! account, quorum half the voters, threshold 50%. The **setup** creates and funds `voters`
//! accounts, creates and opens the market and has every voter bet once (stake 1.00 to 100.00,
//! 60% on yes), so that the resolution has a bet and a position per voter to settle. Then,
//! inside the vote window, every voter votes once (70% yes): the **tally**, timed as a whole;
//! then `revotes` of them change or repeat their vote; then a `timer` at the window's end
//! **resolves** the market: `vote_result`, the market closes and settles, every bet is paid.
//!
//! Inputs are one microsecond apart, as in the other workloads.

use std::time::Instant;

use oddsmatch_engine::{
    AccountId, Command, Engine, EngineConfig, Event, Input, MAX_AMOUNT_MINOR, MarketId, MarketKind,
    MarketSpec, Resolution, SelectionId, Tier, VoteWeight,
};

use crate::measure::{duration_ns, engine_after, new_histogram};
use crate::report::{Percentiles, VoteResult};
use crate::rng::Rng;
use crate::workload::TS_STEP_NS;

/// The vote market.
pub const VOTE_MARKET: MarketId = MarketId(1);
/// Yes.
pub const YES: SelectionId = SelectionId(1);
/// No.
pub const NO: SelectionId = SelectionId(2);
/// Each voter's deposit, in minor units (1,000.00).
pub const VOTER_DEPOSIT_MINOR: i64 = 100_000;
/// Smallest and largest bet of a voter, in minor units.
pub const VOTER_BET_MINOR: (i64, i64) = (100, 10_000);
/// Share of voters (per 100) that bet on yes.
pub const BET_YES_PERCENT: u64 = 60;
/// Share of votes (per 100) for yes.
pub const VOTE_YES_PERCENT: u64 = 70;
/// The goal for tallying 10,000 votes, in nanoseconds.
pub const GOAL_TALLY_NS: u64 = 1_000_000;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoteSpec {
    /// Distinct accounts, each betting once and voting once.
    pub voters: u32,
    /// Voters (the first ones, in account order) who vote a second time.
    pub revotes: u32,
    /// Seed of the generator.
    pub seed: u64,
}

/// A generated vote workload and what a shadow engine saw running it.
#[derive(Clone, Debug)]
pub struct VoteWorkload {
    /// What it was generated from.
    pub spec: VoteSpec,
    /// The engine capacities to replay it with.
    pub config: EngineConfig,
    /// Accounts, deposits, the market and the bets.
    pub setup: Vec<Input>,
    /// One vote per voter.
    pub votes: Vec<Input>,
    /// The second votes.
    pub revotes: Vec<Input>,
    /// The `timer` at the window's end.
    pub resolution: Input,
    /// The winner the tally gives (yes, with 70% of the votes).
    pub winner: Option<SelectionId>,
    /// Events the resolution produces.
    pub resolution_events: usize,
}

/// Generates the vote workload of `spec` and checks it on a shadow engine: every vote is
/// accepted and the resolution settles the market on the tally's winner.
pub fn generate(spec: &VoteSpec) -> VoteWorkload {
    assert!(spec.voters >= 1, "at least one voter");
    assert!(spec.revotes <= spec.voters, "re-votes come from voters");
    let config = EngineConfig::default();
    let mut rng = Rng::new(spec.seed ^ 0x766f_7465);
    let mut ts_ns = 0;
    let voter = |n: u32| AccountId(n + 1);
    let mut setup = Vec::with_capacity(3 * spec.voters as usize + 2);
    for n in 0..spec.voters {
        setup.push(stamp(
            &mut ts_ns,
            Command::create_account(voter(n), Tier::Basic),
        ));
        setup.push(stamp(
            &mut ts_ns,
            Command::Deposit {
                account: voter(n),
                amount_minor: VOTER_DEPOSIT_MINOR,
                transfer_id: u64::from(n) + 1,
            },
        ));
    }
    // Each phase takes one microsecond per input; the window opens after the bets and closes
    // one step after the last re-vote.
    let bets_end = ts_ns + (2 + u64::from(spec.voters)) * TS_STEP_NS;
    let window_start = bets_end + TS_STEP_NS;
    let window_end = window_start + (u64::from(spec.voters) + u64::from(spec.revotes)) * TS_STEP_NS;
    setup.push(stamp(
        &mut ts_ns,
        Command::create_market(MarketSpec {
            market: VOTE_MARKET,
            kind: MarketKind::Pool,
            selections: vec![YES, NO],
            takeout_bps: 500,
            // The bets fill the pool from nothing, so its early odds swing by design; the
            // breaker is not what this benchmark measures.
            circuit_breaker_min_pool_minor: Some(MAX_AMOUNT_MINOR),
            resolution: Some(Resolution::Vote {
                window_start,
                window_end,
                quorum: spec.voters.div_ceil(2),
                threshold_bps: 5_000,
                weight: VoteWeight::OnePerAccount,
            }),
            ..MarketSpec::default()
        }),
    ));
    setup.push(stamp(
        &mut ts_ns,
        Command::OpenMarket {
            market: VOTE_MARKET,
        },
    ));
    for n in 0..spec.voters {
        let selection = if rng.below(100) < BET_YES_PERCENT {
            YES
        } else {
            NO
        };
        let stake_minor = rng.between(VOTER_BET_MINOR.0 as u64, VOTER_BET_MINOR.1 as u64) as i64;
        setup.push(stamp(
            &mut ts_ns,
            Command::PlaceBet {
                account: voter(n),
                market: VOTE_MARKET,
                selection,
                stake_minor,
                client_order_id: 1,
            },
        ));
    }
    let mut ts_ns = window_start - TS_STEP_NS;
    let mut vote = |n: u32| {
        let selection = if rng.below(100) < VOTE_YES_PERCENT {
            YES
        } else {
            NO
        };
        stamp(
            &mut ts_ns,
            Command::Vote {
                account: voter(n),
                market: VOTE_MARKET,
                selection,
            },
        )
    };
    let votes: Vec<Input> = (0..spec.voters).map(&mut vote).collect();
    let revotes: Vec<Input> = (0..spec.revotes).map(&mut vote).collect();
    let resolution = Input {
        ts_ns: window_end,
        command: Command::Timer {},
    };
    let mut workload = VoteWorkload {
        spec: spec.clone(),
        config,
        setup,
        votes,
        revotes,
        resolution,
        winner: None,
        resolution_events: 0,
    };
    let shadow = run_once(&workload);
    assert!(
        shadow.problems.is_empty(),
        "the vote workload runs cleanly: {:?}",
        shadow.problems
    );
    workload.winner = shadow.winner;
    workload.resolution_events = shadow.resolution_events;
    workload
}

/// `command` stamped one step after `ts_ns`, which it advances.
fn stamp(ts_ns: &mut u64, command: Command) -> Input {
    *ts_ns += TS_STEP_NS;
    Input {
        ts_ns: *ts_ns,
        command,
    }
}

/// What one run of the workload showed, timings aside.
struct Outcome {
    winner: Option<SelectionId>,
    resolution_events: usize,
    problems: Vec<String>,
}

/// Runs the workload once, checking every answer (nothing timed).
fn run_once(workload: &VoteWorkload) -> Outcome {
    let mut engine: Engine = engine_after(&workload.config, &workload.setup);
    let mut problems = Vec::new();
    if engine.market_status(VOTE_MARKET).is_none() {
        problems.push("the setup did not create the market".to_string());
    }
    let mut events = Vec::new();
    for (n, input) in workload.votes.iter().chain(&workload.revotes).enumerate() {
        events.clear();
        engine.apply(input, &mut events);
        let replaced = n >= workload.votes.len();
        if !matches!(events.as_slice(), [Event::VoteAccepted { replaced: r, .. }] if *r == replaced)
        {
            problems.push(format!("vote {n} gave {events:?}"));
            break;
        }
    }
    events.clear();
    engine.apply(&workload.resolution, &mut events);
    let winner = events.iter().find_map(|e| match e {
        Event::VoteResult { winner, .. } => Some(*winner),
        _ => None,
    });
    let settled = events
        .iter()
        .filter(|e| matches!(e, Event::BetSettled { .. }))
        .count();
    match winner {
        Some(Some(_)) if settled == workload.spec.voters as usize => {}
        _ => problems.push(format!(
            "the resolution gave winner {winner:?} and settled {settled} bets"
        )),
    }
    Outcome {
        winner: winner.flatten(),
        resolution_events: events.len(),
        problems,
    }
}

/// Runs the vote benchmark: `passes` timed passes, each on a fresh engine holding the setup
/// (the votes as one timed loop, the re-votes as another, the resolution alone), then one
/// pass timing every vote, for the per-vote percentiles. Medians over the passes are
/// reported; problems (a refused vote, a resolution that does not settle as the shadow
/// engine did) go to `mismatches`.
pub fn run_vote_bench(
    workload: &VoteWorkload,
    passes: u32,
    progress: &mut dyn FnMut(&str),
    mismatches: &mut Vec<String>,
) -> VoteResult {
    assert!(passes > 0, "at least one pass");
    // The resolution settles every bet: reserve its events beforehand, as a shard's output
    // buffer would be, so that the timing is the engine's alone.
    let mut events: Vec<Event> = Vec::with_capacity(workload.resolution_events + 1_024);
    let (mut tally, mut revote, mut resolution) = (Vec::new(), Vec::new(), Vec::new());
    for pass in 1..=passes {
        let mut engine: Engine = engine_after(&workload.config, &workload.setup);
        let start = Instant::now();
        for input in &workload.votes {
            engine.apply(input, &mut events);
            events.clear();
        }
        tally.push(duration_ns(start.elapsed()));
        let start = Instant::now();
        for input in &workload.revotes {
            engine.apply(input, &mut events);
            events.clear();
        }
        revote.push(duration_ns(start.elapsed()));
        let start = Instant::now();
        engine.apply(&workload.resolution, &mut events);
        resolution.push(duration_ns(start.elapsed()));
        let winner = events.iter().find_map(|e| match e {
            Event::VoteResult { winner, .. } => Some(*winner),
            _ => None,
        });
        if winner != Some(workload.winner) || events.len() != workload.resolution_events {
            mismatches.push(format!(
                "votes, pass {pass}: the resolution gave winner {winner:?} in {} events, the \
                 generator saw {:?} in {}",
                events.len(),
                workload.winner,
                workload.resolution_events
            ));
        }
        events.clear();
        progress(&format!(
            "votes: pass {pass}/{passes}: {} votes in {}, resolution in {}",
            workload.votes.len(),
            crate::report::format_ns(tally[tally.len() - 1]),
            crate::report::format_ns(resolution[resolution.len() - 1]),
        ));
    }
    progress("votes: latency pass");
    let mut engine: Engine = engine_after(&workload.config, &workload.setup);
    let mut histogram_ns = new_histogram();
    let mut refused = 0;
    for input in &workload.votes {
        let start = Instant::now();
        engine.apply(input, &mut events);
        histogram_ns.saturating_record(duration_ns(start.elapsed()));
        refused += usize::from(!matches!(events.as_slice(), [Event::VoteAccepted { .. }]));
        events.clear();
    }
    if refused > 0 {
        mismatches.push(format!("votes: {refused} votes were not accepted"));
    }
    let tally_ns = median_u64(&tally);
    VoteResult {
        voters: workload.spec.voters,
        revotes: workload.spec.revotes,
        passes,
        setup_commands: workload.setup.len(),
        tally_ns,
        tally_ns_passes: tally,
        tally_per_vote_ns: tally_ns as f64 / f64::from(workload.spec.voters),
        vote_latency: Percentiles::of(&histogram_ns),
        revote_ns: median_u64(&revote),
        revote_ns_passes: revote,
        resolution_ns: median_u64(&resolution),
        resolution_ns_passes: resolution,
        resolution_events: workload.resolution_events,
        winner: workload.winner.map(|s| s.0),
        goal_tally_ns: GOAL_TALLY_NS,
    }
}

/// The median of integer timings (the lower middle of an even count).
fn median_u64(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted[(sorted.len() - 1) / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_resolves_on_yes_and_settles_every_bet() {
        let workload = generate(&VoteSpec {
            voters: 200,
            revotes: 20,
            seed: 3,
        });
        assert_eq!(workload.winner, Some(YES));
        assert_eq!(workload.votes.len(), 200);
        assert_eq!(workload.revotes.len(), 20);
        assert!(workload.resolution_events > 2 * 200);
    }

    #[test]
    fn median_of_timings() {
        assert_eq!(median_u64(&[5, 1, 3]), 3);
        assert_eq!(median_u64(&[4, 1, 3, 2]), 2);
    }
}
