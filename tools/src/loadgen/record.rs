//! What the simulated users measure: latency per operation (hdrhistogram, nanoseconds, from
//! the scheduled time) and counts of what happened, kept per task and merged at the end so
//! that nothing is shared while the load runs.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// The highest latency recorded exactly (larger ones are clamped to it): 10 minutes.
const MAX_NS: u64 = 600_000_000_000;

/// An operation whose latency is measured; its name is the metric's in the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Op {
    /// A pool bet, scheduled to answered.
    PlaceBet,
    /// A pool bet taken back.
    CancelBet,
    /// An exchange order, scheduled to acknowledged.
    NewOrder,
    /// An exchange order cancelled.
    CancelOrder,
    /// A vote.
    Vote,
    /// A read (balance, positions, open orders), scheduled to its last frame.
    Query,
    /// A price feed's reference odds (telemetry), scheduled to accepted.
    Telemetry,
    /// A deposit over the admin socket, scheduled to credited.
    Deposit,
    /// A market created and opened over the admin socket.
    CreateMarket,
    /// An aggressive order's scheduled time to the engine's time stamp on its first fill.
    Matching,
    /// An odds tick: the engine's time stamp to a subscriber's read.
    OddsTick,
    /// A book, trade or pool update: the engine's time stamp to a subscriber's read.
    MdUpdate,
    /// A scheduled lock: the scheduled time to a subscriber's read of the suspension.
    MarketLock,
    /// A settlement: the race's end (when the operator settles) to each bettor's report.
    Settlement,
    /// A vote's window end to each subscriber's read of the market's settlement.
    Tally,
}

impl Op {
    /// Every operation, in the order of the report.
    pub(super) const ALL: [Op; 15] = [
        Op::PlaceBet,
        Op::CancelBet,
        Op::NewOrder,
        Op::CancelOrder,
        Op::Matching,
        Op::Vote,
        Op::Query,
        Op::Telemetry,
        Op::Deposit,
        Op::CreateMarket,
        Op::OddsTick,
        Op::MdUpdate,
        Op::MarketLock,
        Op::Settlement,
        Op::Tally,
    ];

    /// The metric's name.
    pub(super) fn name(self) -> &'static str {
        match self {
            Op::PlaceBet => "place_bet",
            Op::CancelBet => "cancel_bet",
            Op::NewOrder => "new_order",
            Op::CancelOrder => "cancel_order",
            Op::Vote => "vote",
            Op::Query => "query",
            Op::Telemetry => "telemetry",
            Op::Deposit => "deposit",
            Op::CreateMarket => "create_market",
            Op::Matching => "matching",
            Op::OddsTick => "odds_tick",
            Op::MdUpdate => "md_update",
            Op::MarketLock => "market_lock",
            Op::Settlement => "settlement",
            Op::Tally => "tally",
        }
    }

    /// Whether it is a request with an answer (counted in `requests` and the error rate).
    pub(super) fn is_request(self) -> bool {
        matches!(
            self,
            Op::PlaceBet
                | Op::CancelBet
                | Op::NewOrder
                | Op::CancelOrder
                | Op::Vote
                | Op::Query
                | Op::Telemetry
                | Op::Deposit
                | Op::CreateMarket
        )
    }

    fn index(self) -> usize {
        Op::ALL.iter().position(|op| *op == self).unwrap_or(0)
    }
}

/// A latency histogram in nanoseconds, 3 significant digits, up to [`MAX_NS`].
pub(super) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_NS, 3).expect("constant bounds are valid")
}

/// One task's (or, merged, the whole run's) measurements.
#[derive(Clone, Debug)]
pub(super) struct Record {
    latencies: Vec<Option<Histogram<u64>>>,
    /// Requests sent, per operation.
    pub(super) sent: [u64; Op::ALL.len()],
    /// Answered by the server in any way.
    pub(super) answered: [u64; Op::ALL.len()],
    /// Failed: refused other than by design, busy, unanswered, or the connection lost.
    pub(super) failed: [u64; Op::ALL.len()],
    /// Answered `throttled`.
    pub(super) throttled: [u64; Op::ALL.len()],
    /// Named counts (bets accepted, trades, duplicates caught, leaks...).
    pub(super) counts: BTreeMap<&'static str, u64>,
    /// Why requests failed, by reason, with a count.
    pub(super) failures: BTreeMap<String, u64>,
}

impl Default for Record {
    fn default() -> Self {
        Record {
            latencies: vec![None; Op::ALL.len()],
            sent: [0; Op::ALL.len()],
            answered: [0; Op::ALL.len()],
            failed: [0; Op::ALL.len()],
            throttled: [0; Op::ALL.len()],
            counts: BTreeMap::new(),
            failures: BTreeMap::new(),
        }
    }
}

impl Record {
    /// Records one latency.
    pub(super) fn latency(&mut self, op: Op, ns: u64) {
        let slot = &mut self.latencies[op.index()];
        slot.get_or_insert_with(histogram)
            .saturating_record(ns.clamp(1, MAX_NS));
    }

    /// The latencies of `op`, if any were recorded.
    pub(super) fn latencies(&self, op: Op) -> Option<&Histogram<u64>> {
        self.latencies[op.index()].as_ref()
    }

    /// Every request's latencies in one histogram.
    pub(super) fn all_requests(&self) -> Option<Histogram<u64>> {
        let mut all: Option<Histogram<u64>> = None;
        for op in Op::ALL.into_iter().filter(|op| op.is_request()) {
            if let Some(h) = self.latencies(op) {
                let _ = all.get_or_insert_with(histogram).add(h);
            }
        }
        all
    }

    /// Notes a request sent.
    pub(super) fn sent(&mut self, op: Op) {
        self.sent[op.index()] += 1;
    }

    /// Notes an answer with its latency from the scheduled time.
    pub(super) fn answered(&mut self, op: Op, latency_ns: u64) {
        self.answered[op.index()] += 1;
        self.latency(op, latency_ns);
    }

    /// Notes a throttled answer (also an answer).
    pub(super) fn throttled(&mut self, op: Op, latency_ns: u64) {
        self.throttled[op.index()] += 1;
        self.answered(op, latency_ns);
    }

    /// Notes a failed request and why.
    pub(super) fn failed(&mut self, op: Op, why: impl Into<String>) {
        self.failed[op.index()] += 1;
        *self.failures.entry(why.into()).or_default() += 1;
    }

    /// Adds to a named count.
    pub(super) fn count(&mut self, name: &'static str, by: u64) {
        *self.counts.entry(name).or_default() += by;
    }

    /// A named count (0 when never counted).
    pub(super) fn get(&self, name: &str) -> u64 {
        self.counts.get(name).copied().unwrap_or(0)
    }

    /// Sums over every operation of a per-operation array, requests only.
    pub(super) fn total(array: &[u64; Op::ALL.len()]) -> u64 {
        Op::ALL
            .iter()
            .filter(|op| op.is_request())
            .map(|op| array[op.index()])
            .sum()
    }

    /// A per-operation count.
    pub(super) fn of(array: &[u64; Op::ALL.len()], op: Op) -> u64 {
        array[op.index()]
    }

    /// Adds another task's measurements.
    pub(super) fn merge(&mut self, other: &Record) {
        for (mine, theirs) in self.latencies.iter_mut().zip(&other.latencies) {
            if let Some(theirs) = theirs {
                let _ = mine.get_or_insert_with(histogram).add(theirs);
            }
        }
        for i in 0..Op::ALL.len() {
            self.sent[i] += other.sent[i];
            self.answered[i] += other.answered[i];
            self.failed[i] += other.failed[i];
            self.throttled[i] += other.throttled[i];
        }
        for (name, count) in &other.counts {
            *self.counts.entry(name).or_default() += count;
        }
        for (why, count) in &other.failures {
            *self.failures.entry(why.clone()).or_default() += count;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_counts_and_latencies() {
        let mut a = Record::default();
        a.sent(Op::PlaceBet);
        a.answered(Op::PlaceBet, 2_000_000);
        a.count("bets_accepted", 1);
        let mut b = Record::default();
        b.sent(Op::PlaceBet);
        b.throttled(Op::PlaceBet, 1_000_000);
        b.sent(Op::Vote);
        b.failed(Op::Vote, "busy");
        b.count("bets_accepted", 2);
        a.merge(&b);
        assert_eq!(Record::total(&a.sent), 3);
        assert_eq!(Record::of(&a.answered, Op::PlaceBet), 2);
        assert_eq!(Record::of(&a.throttled, Op::PlaceBet), 1);
        assert_eq!(Record::of(&a.failed, Op::Vote), 1);
        assert_eq!(a.get("bets_accepted"), 3);
        assert_eq!(a.failures.get("busy"), Some(&1));
        let bets = a.latencies(Op::PlaceBet).expect("recorded");
        assert_eq!(bets.len(), 2);
        assert!(bets.max() >= 1_999_000);
        assert_eq!(a.all_requests().expect("requests").len(), 2);
    }

    #[test]
    fn latencies_beyond_the_range_are_clamped_not_lost() {
        let mut a = Record::default();
        a.latency(Op::OddsTick, u64::MAX);
        a.latency(Op::OddsTick, 0);
        assert_eq!(a.latencies(Op::OddsTick).expect("recorded").len(), 2);
    }
}
