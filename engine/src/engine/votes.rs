//! Resolution by vote.
//!
//! A market created with `resolution: {kind: "vote", ...}` takes votes during
//! `[window_start, window_end)`. Each account has at most one vote; a re-vote replaces it. The
//! tally per selection (weight and voters) is kept incrementally, so a vote costs a hash
//! lookup and a few additions however many votes there are. At `window_end` the market settles
//! on the selection whose share of the weight reaches `threshold_bps` with at least `quorum`
//! voters, or is voided.

use rustc_hash::FxHashMap;

use super::{Engine, Subject, reject};
use crate::book::OrderBook;
use crate::command::{CommandKind, Resolution};
use crate::event::Event;
use crate::reason::RejectReason;
use crate::types::{AccountId, MarketId, MarketStatus, SelectionId, StatusCause, VoteWeight};

/// Whether vote rules are acceptable for a market with `places` winners created at `now` (a
/// window that has already ended is refused).
pub(super) fn valid_rules(resolution: &Resolution, places: u8, now: u64) -> bool {
    match *resolution {
        Resolution::Vote {
            window_start,
            window_end,
            quorum,
            threshold_bps,
            ..
        } => {
            places == 1
                && window_start < window_end
                && window_end > now
                && window_end < u64::MAX
                && quorum >= 1
                && (1..=10_000).contains(&threshold_bps)
        }
    }
}

/// The state of a vote.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(super) struct VoteState {
    pub window_start: u64,
    pub window_end: u64,
    pub quorum: u32,
    pub threshold_bps: u16,
    pub weight: VoteWeight,
    /// Per selection: total weight and number of voters.
    pub tally: Box<[(i64, u32)]>,
    pub total_weight: i64,
    /// Every vote as (account index, selection, weight), in the order accounts first voted.
    pub votes: Vec<(u32, u16, i64)>,
    /// Account index to its entry in `votes` (derived from `votes`: not stored in snapshots).
    #[rkyv(with = rkyv::with::Skip)]
    pub index: FxHashMap<u32, u32>,
}

impl VoteState {
    pub fn new(resolution: Resolution, selections: usize) -> VoteState {
        let Resolution::Vote {
            window_start,
            window_end,
            quorum,
            threshold_bps,
            weight,
        } = resolution;
        VoteState {
            window_start,
            window_end,
            quorum,
            threshold_bps,
            weight,
            tally: vec![(0, 0); selections].into_boxed_slice(),
            total_weight: 0,
            votes: Vec::new(),
            index: FxHashMap::default(),
        }
    }

    pub fn window_end(&self) -> u64 {
        self.window_end
    }

    /// The selection that wins, if the quorum is met and one reaches the threshold; with the
    /// leading selection's weight. Ties for the lead have no winner.
    pub fn outcome(&self) -> (Option<usize>, i64) {
        let mut leader: Option<usize> = None;
        let mut tied = false;
        for (selection, &(weight, _)) in self.tally.iter().enumerate() {
            match leader {
                Some(l) if weight < self.tally[l].0 => {}
                Some(l) if weight == self.tally[l].0 => tied = true,
                _ => {
                    leader = Some(selection);
                    tied = false;
                }
            }
        }
        let leading = leader.map_or(0, |l| self.tally[l].0);
        let voters = self.votes.len() as u64;
        let reached = i128::from(leading) * 10_000
            >= i128::from(self.threshold_bps) * i128::from(self.total_weight);
        let won = !tied && leading > 0 && voters >= u64::from(self.quorum) && reached;
        (leader.filter(|_| won), leading)
    }
}

impl<B: OrderBook> Engine<B> {
    pub(super) fn vote(
        &mut self,
        events: &mut Vec<Event>,
        account: AccountId,
        market: MarketId,
        selection: SelectionId,
    ) {
        let subject = Subject {
            account: Some(account),
            market: Some(market),
            ..Subject::default()
        };
        let now = self.ts_ns;
        let checked = self.user_account(account).and_then(|account_index| {
            let index = *self
                .market_index
                .get(&market)
                .ok_or(RejectReason::UnknownMarket)?;
            let state = &self.markets[index as usize];
            if state.status.is_final() {
                return Err(RejectReason::MarketFinalized);
            }
            let votes = state.votes.as_ref().ok_or(RejectReason::NotVoteMarket)?;
            if !(votes.window_start..votes.window_end).contains(&now) {
                return Err(RejectReason::VoteWindowClosed);
            }
            let selection = state
                .selection_index(selection)
                .ok_or(RejectReason::InvalidSelection)?;
            let weight = match votes.weight {
                VoteWeight::OnePerAccount => 1,
                VoteWeight::Stake => {
                    // Weight is money at risk, which is final only once the market is closed:
                    // before that, an order or a bet could be placed to vote and then
                    // cancelled.
                    if state.status != MarketStatus::Closed {
                        return Err(RejectReason::NotEligibleToVote);
                    }
                    let exposure = state
                        .position_index
                        .get(&account_index)
                        .map_or(0, |p| state.positions[*p as usize].exposure_minor);
                    if exposure == 0 {
                        return Err(RejectReason::NotEligibleToVote);
                    }
                    exposure
                }
            };
            Ok((account_index, index, selection, weight))
        });
        let (account_index, index, selection_index, weight) = match checked {
            Ok(checked) => checked,
            Err(reason) => return reject(events, CommandKind::Vote, reason, subject),
        };
        let votes = self.markets[index as usize]
            .votes
            .as_mut()
            .expect("checked above");
        let replaced = match votes.index.get(&account_index) {
            Some(&entry) => {
                let (_, old_selection, old_weight) = votes.votes[entry as usize];
                let old = &mut votes.tally[usize::from(old_selection)];
                old.0 -= old_weight;
                old.1 -= 1;
                votes.total_weight -= old_weight;
                votes.votes[entry as usize] = (account_index, selection_index, weight);
                true
            }
            None => {
                votes.index.insert(account_index, votes.votes.len() as u32);
                votes.votes.push((account_index, selection_index, weight));
                false
            }
        };
        let new = &mut votes.tally[usize::from(selection_index)];
        new.0 += weight;
        new.1 += 1;
        votes.total_weight += weight;
        events.push(Event::VoteAccepted {
            account,
            market,
            selection,
            weight,
            replaced,
        });
    }

    /// Ends a vote at its window's end: settles on the winner or voids the market.
    pub(super) fn resolve_vote(&mut self, events: &mut Vec<Event>, index: u32) {
        let market = &self.markets[index as usize];
        let votes = market
            .votes
            .as_ref()
            .expect("only vote markets are resolved");
        let (winner, leading_weight) = votes.outcome();
        events.push(Event::VoteResult {
            market: market.id,
            winner: winner.map(|w| market.selections[w]),
            voters: votes.votes.len() as u32,
            total_weight: votes.total_weight,
            leading_weight,
        });
        let status = market.status;
        match winner {
            Some(winner) if status != MarketStatus::Pending => {
                if status == MarketStatus::Open {
                    self.close(events, index, StatusCause::Vote);
                }
                self.settle(events, index, &[winner as u16], StatusCause::Vote);
            }
            _ => self.void(events, index, StatusCause::Vote),
        }
    }
}
