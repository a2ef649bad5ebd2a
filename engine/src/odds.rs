//! Odds arithmetic and the per-selection odds state: displayed levels, the tick filter's
//! memory and the circuit breaker's sliding window.
//!
//! Everything here is integer arithmetic on odds times 100 and probabilities in basis points.
//! A *move* between two odds is measured relative to the earlier one, in basis points:
//! `|new - old| * 10000 / old`; a price appearing or disappearing counts as an unbounded move.

use std::collections::VecDeque;

use crate::event::DISPLAY_LEVELS;

/// The implied probability of decimal odds, in basis points, rounded down (0 for no odds).
#[inline]
pub fn implied_bps(odds_x100: u32) -> u32 {
    1_000_000u32.checked_div(odds_x100).unwrap_or(0)
}

/// The fair odds times 100 of a probability in basis points, rounded down (0 for a
/// probability of 0, which has no odds).
#[inline]
pub fn fair_odds_x100(probability_bps: u16) -> u32 {
    1_000_000u32
        .checked_div(u32::from(probability_bps))
        .unwrap_or(0)
}

/// Whether odds moved by at least `threshold_bps` of the earlier odds. Appearing or
/// disappearing (one side 0) is a move; two zeros are not.
#[inline]
pub fn moved_at_least(old_x100: u32, new_x100: u32, threshold_bps: u32) -> bool {
    if old_x100 == new_x100 {
        return false;
    }
    if old_x100 == 0 || new_x100 == 0 {
        return true;
    }
    u64::from(old_x100.abs_diff(new_x100)) * 10_000
        >= u64::from(threshold_bps) * u64::from(old_x100)
}

/// The move from `from_x100` to `to_x100` in basis points of `from_x100`, rounded down.
#[inline]
pub fn move_bps(from_x100: u32, to_x100: u32) -> u32 {
    if from_x100 == 0 {
        return u32::MAX;
    }
    let bps = u64::from(from_x100.abs_diff(to_x100)) * 10_000 / u64::from(from_x100);
    u32::try_from(bps).unwrap_or(u32::MAX)
}

/// One side's displayed levels: odds times 100 and stake, best first, zero-filled.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct Levels {
    /// Odds times 100 of each level (0: none).
    pub odds_x100: [u32; DISPLAY_LEVELS],
    /// Unmatched stake of each level, in minor units.
    pub stakes_minor: [i64; DISPLAY_LEVELS],
}

impl Levels {
    /// The best odds, 0 when the side is empty.
    pub fn best(&self) -> u32 {
        self.odds_x100[0]
    }
}

/// The odds values a tick shows and the change filter compares: best to back, best to lay,
/// the pool's indicative odds and the reference's fair odds, all times 100 (0: none).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct Displayed {
    /// Best odds available to back (the best resting lay).
    pub back_x100: u32,
    /// Best odds available to lay (the best resting back).
    pub lay_x100: u32,
    /// Indicative pool odds.
    pub indicative_x100: u32,
    /// Fair odds of the reference probability.
    pub reference_x100: u32,
}

impl Displayed {
    /// Whether any value moved by at least `threshold_bps` from `earlier`.
    pub fn moved_from(&self, earlier: &Displayed, threshold_bps: u32) -> bool {
        moved_at_least(earlier.back_x100, self.back_x100, threshold_bps)
            || moved_at_least(earlier.lay_x100, self.lay_x100, threshold_bps)
            || moved_at_least(earlier.indicative_x100, self.indicative_x100, threshold_bps)
            || moved_at_least(earlier.reference_x100, self.reference_x100, threshold_bps)
    }

    /// The odds people are shown for the selection: indicative odds on a pool, otherwise the
    /// best odds to back; 0 when there are none.
    pub fn headline_x100(&self) -> u32 {
        if self.indicative_x100 != 0 {
            self.indicative_x100
        } else {
            self.back_x100
        }
    }
}

/// The extremes of a value over a sliding window of time, for the circuit breaker.
///
/// Each sample holds from its time until the next sample, so the value in effect when the
/// window starts counts too: odds that sat at 10.0 for a minute and then jump to 5.0 moved by
/// 50% within any window. Two monotonic queues give the minimum and maximum in amortised
/// constant time; their memory is bounded by the samples of one window.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct Extremes {
    /// Candidates for the minimum: values increasing from front to back.
    lows: VecDeque<Sample>,
    /// Candidates for the maximum: values decreasing from front to back.
    highs: VecDeque<Sample>,
}

/// A value and the time it stopped holding (`u64::MAX` while it is the latest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct Sample {
    until_ns: u64,
    value: u32,
}

/// The largest move of a new sample from the window's extremes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    /// The extreme the move is measured from.
    pub from_x100: u32,
    /// The move in basis points of `from_x100`.
    pub bps: u32,
}

impl Extremes {
    /// Records `value` at `now_ns` and returns the largest move from any value in effect in
    /// `[now_ns - window_ns, now_ns)` to it (`None` before the first sample).
    pub fn record(&mut self, now_ns: u64, window_ns: u64, value: u32) -> Option<Move> {
        // The latest sample (at the back of both queues) holds until now.
        for queue in [&mut self.lows, &mut self.highs] {
            if let Some(last) = queue.back_mut() {
                last.until_ns = now_ns;
            }
        }
        let start = now_ns.saturating_sub(window_ns);
        for queue in [&mut self.lows, &mut self.highs] {
            while queue.front().is_some_and(|s| s.until_ns <= start) {
                queue.pop_front();
            }
        }
        let result = match (self.lows.front(), self.highs.front()) {
            (Some(low), Some(high)) => {
                let up = move_bps(low.value, value);
                let down = move_bps(high.value, value);
                Some(if value >= low.value && up >= down {
                    Move {
                        from_x100: low.value,
                        bps: up,
                    }
                } else {
                    Move {
                        from_x100: high.value,
                        bps: down,
                    }
                })
            }
            _ => None,
        };
        let sample = Sample {
            until_ns: u64::MAX,
            value,
        };
        while self.lows.back().is_some_and(|s| s.value >= value) {
            self.lows.pop_back();
        }
        self.lows.push_back(sample);
        while self.highs.back().is_some_and(|s| s.value <= value) {
            self.highs.pop_back();
        }
        self.highs.push_back(sample);
        result
    }

    /// Forgets every sample (after the market is resumed, moves are measured afresh).
    pub fn clear(&mut self) {
        self.lows.clear();
        self.highs.clear();
    }

    /// The samples held, for the state hash: `(until, value)` of the lows then the highs.
    pub fn samples(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.lows
            .iter()
            .chain(self.highs.iter())
            .map(|s| (s.until_ns, s.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_are_relative_to_the_earlier_odds() {
        assert!(moved_at_least(1000, 1020, 200));
        assert!(!moved_at_least(1000, 1019, 200));
        assert!(moved_at_least(1000, 980, 200));
        assert!(!moved_at_least(1000, 981, 200));
        assert!(moved_at_least(0, 150, 200));
        assert!(moved_at_least(150, 0, 200));
        assert!(!moved_at_least(0, 0, 200));
        assert_eq!(move_bps(1000, 500), 5_000);
        assert_eq!(move_bps(500, 1000), 10_000);
        assert_eq!(implied_bps(250), 4_000);
        assert_eq!(fair_odds_x100(2_500), 400);
        assert_eq!(fair_odds_x100(0), 0);
    }

    #[test]
    fn the_value_in_effect_at_the_window_start_counts() {
        let mut window = Extremes::default();
        let second = 1_000_000_000;
        assert_eq!(window.record(0, second, 1_000), None);
        // A minute later the odds halve: the 10.0 held until now, so it is in the window.
        let m = window.record(60 * second, second, 500).unwrap();
        assert_eq!(
            m,
            Move {
                from_x100: 1_000,
                bps: 5_000
            }
        );
        // Another two seconds later the 5.0 is the only value in effect in the window.
        let m = window.record(62 * second, second, 520).unwrap();
        assert_eq!(
            m,
            Move {
                from_x100: 500,
                bps: 400
            }
        );
    }

    #[test]
    fn extremes_match_a_naive_scan() {
        // A deterministic walk compared against recomputation from the full history.
        let window_ns = 50;
        let mut window = Extremes::default();
        let mut history: Vec<(u64, u32)> = Vec::new();
        let mut x: u64 = 12345;
        let mut now = 0;
        for _ in 0..2_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            now += (x >> 60) + 1;
            let value = 100 + ((x >> 33) % 900) as u32;
            let got = window.record(now, window_ns, value);
            let start = now.saturating_sub(window_ns);
            // Samples in effect at some instant of [start, now): those after start, and the
            // last one at or before start.
            let mut in_effect: Vec<u32> = Vec::new();
            for (i, &(ts, v)) in history.iter().enumerate() {
                let until = history.get(i + 1).map_or(now, |next| next.0);
                if until > start && ts < now {
                    in_effect.push(v);
                }
            }
            let expected = if in_effect.is_empty() {
                None
            } else {
                let low = *in_effect.iter().min().unwrap();
                let high = *in_effect.iter().max().unwrap();
                Some((move_bps(low, value)).max(move_bps(high, value)))
            };
            assert_eq!(got.map(|m| m.bps), expected, "at {now}");
            history.push((now, value));
        }
    }
}
