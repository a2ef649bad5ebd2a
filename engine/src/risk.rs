//! Positions and exposure, exact in hundredths of a minor unit.
//!
//! For every selection `s` a position keeps two numbers: the account's profit or loss on the
//! market's bets on `s` if `s` wins (`outcomes[s].win`) and if `s` loses (`outcomes[s].lose`). Matched bets and
//! the worst case of unmatched orders both add to them:
//!
//! | bet on s at odds o, stake x | if s wins     | if s loses |
//! |-----------------------------|---------------|------------|
//! | matched back                | `+x(o-100)`   | `-100x`    |
//! | matched lay                 | `-x(o-100)`   | `+100x`    |
//! | unmatched back              | 0             | `-100x`    |
//! | unmatched lay               | `-x(o-100)`   | 0          |
//!
//! Matching replaces an unmatched contribution by a matched one at odds at least as good, so
//! it never raises exposure. Cancelling removes the unmatched contribution, so after every
//! order is gone the position holds matched bets only, which is what settlement pays.

use crate::types::Side;

/// What a bet adds to `(win, lose)` of its selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Contribution {
    /// Added if the selection wins.
    pub win: i128,
    /// Added if the selection loses.
    pub lose: i128,
}

impl Contribution {
    /// The worst case of an unmatched order.
    #[inline]
    pub fn unmatched(side: Side, odds_x100: u32, stake_minor: i64) -> Contribution {
        let stake = i128::from(stake_minor);
        match side {
            Side::Back => Contribution {
                win: 0,
                lose: -100 * stake,
            },
            Side::Lay => Contribution {
                win: -stake * i128::from(odds_x100 - 100),
                lose: 0,
            },
        }
    }

    /// A matched bet.
    #[inline]
    pub fn matched(side: Side, odds_x100: u32, stake_minor: i64) -> Contribution {
        let stake = i128::from(stake_minor);
        let profit = stake * i128::from(odds_x100 - 100);
        match side {
            Side::Back => Contribution {
                win: profit,
                lose: -100 * stake,
            },
            Side::Lay => Contribution {
                win: -profit,
                lose: 100 * stake,
            },
        }
    }
}

impl Contribution {
    /// Adds nothing.
    pub const ZERO: Contribution = Contribution { win: 0, lose: 0 };
}

impl std::ops::Add for Contribution {
    type Output = Contribution;

    fn add(self, other: Contribution) -> Contribution {
        Contribution {
            win: self.win + other.win,
            lose: self.lose + other.lose,
        }
    }
}

impl std::ops::Sub for Contribution {
    type Output = Contribution;

    fn sub(self, other: Contribution) -> Contribution {
        Contribution {
            win: self.win - other.win,
            lose: self.lose - other.lose,
        }
    }
}

impl std::ops::Neg for Contribution {
    type Output = Contribution;

    fn neg(self) -> Contribution {
        Contribution {
            win: -self.win,
            lose: -self.lose,
        }
    }
}

/// One account's position on one market.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// Index of the account in the engine's account table.
    pub account: u32,
    /// Per selection, the profit or loss if it wins and if it loses, in hundredths of a minor
    /// unit. One array of pairs, so that a selection's two numbers share a cache line.
    pub outcomes: Box<[Contribution]>,
    /// The exposure these imply, in minor units (cached; see [`exposure_minor`]).
    pub exposure_minor: i64,
    /// The account's open orders on this market, oldest first.
    pub orders: crate::order::OrderList,
}

impl Position {
    /// A flat position.
    pub fn new(account: u32, selections: usize) -> Position {
        Position {
            account,
            outcomes: vec![Contribution::ZERO; selections].into_boxed_slice(),
            exposure_minor: 0,
            orders: crate::order::OrderList::EMPTY,
        }
    }

    /// Adds a contribution to a selection (a negated one removes it).
    #[inline]
    pub fn add(&mut self, selection: usize, contribution: Contribution) {
        let outcome = &mut self.outcomes[selection];
        *outcome = *outcome + contribution;
    }

    /// The exposure after adding `extra` to `selection`, without changing anything.
    pub fn exposure_with(&self, places: u8, selection: usize, extra: Contribution) -> i64 {
        let outcome = |s: usize| {
            if s == selection {
                self.outcomes[s] + extra
            } else {
                self.outcomes[s]
            }
        };
        exposure_by(places, self.outcomes.len(), outcome)
    }

    /// The exposure of the position as it is.
    pub fn exposure(&self, places: u8) -> i64 {
        exposure_minor(places, &self.outcomes)
    }

    /// Profit or loss if exactly the `winners` win, hundredths of a minor unit.
    pub fn result(&self, is_winner: impl Fn(usize) -> bool) -> i128 {
        (0..self.outcomes.len())
            .map(|s| {
                if is_winner(s) {
                    self.outcomes[s].win
                } else {
                    self.outcomes[s].lose
                }
            })
            .sum()
    }
}

/// Exposure in minor units: the worst-case loss, rounded up.
///
/// With one winner (`places == 1`) the worst is taken over the outcomes "w wins". With
/// `places > 1` each selection's worse case, win or lose, is taken independently and summed.
pub fn exposure_minor(places: u8, outcomes: &[Contribution]) -> i64 {
    exposure_by(places, outcomes.len(), |s| outcomes[s])
}

#[inline]
fn exposure_by(places: u8, selections: usize, outcome: impl Fn(usize) -> Contribution) -> i64 {
    let worst: i128 = if places == 1 {
        let mut all_lose: i128 = 0;
        let mut swing = i128::MAX;
        for s in 0..selections {
            let o = outcome(s);
            all_lose += o.lose;
            swing = swing.min(o.win - o.lose);
        }
        all_lose + if selections == 0 { 0 } else { swing }
    } else {
        (0..selections)
            .map(|s| {
                let o = outcome(s);
                o.win.min(o.lose)
            })
            .sum()
    };
    if worst >= 0 {
        return 0;
    }
    // Round the loss up to a whole minor unit; 64-bit division when it fits, which is always
    // in practice (128-bit division is a slow library call).
    let loss = -worst;
    match u64::try_from(loss) {
        Ok(loss) if loss < u64::MAX - 99 => loss.div_ceil(100) as i64,
        _ => i64::try_from((loss + 99) / 100).expect("exposure bounded by stake limits"),
    }
}

/// Floor division by 100: hundredths of a minor unit to minor units, toward minus infinity.
pub fn floor_minor(hundredths: i128) -> i64 {
    i64::try_from(hundredths.div_euclid(100)).expect("results bounded by stake limits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_and_lay_contributions_match_the_rules() {
        assert_eq!(
            Contribution::matched(Side::Back, 250, 10),
            Contribution {
                win: 1_500,
                lose: -1_000
            }
        );
        assert_eq!(
            Contribution::matched(Side::Lay, 250, 10),
            Contribution {
                win: -1_500,
                lose: 1_000
            }
        );
        assert_eq!(
            Contribution::unmatched(Side::Back, 250, 10),
            Contribution {
                win: 0,
                lose: -1_000
            }
        );
        assert_eq!(
            Contribution::unmatched(Side::Lay, 250, 10),
            Contribution {
                win: -1_500,
                lose: 0
            }
        );
    }

    #[test]
    fn single_winner_exposure_takes_the_worst_outcome() {
        // Back selection 0 for 10 at 3.00 (matched) and lay selection 1 for 10 at 2.00.
        let mut position = Position::new(0, 3);
        position.add(0, Contribution::matched(Side::Back, 300, 10));
        position.add(1, Contribution::matched(Side::Lay, 200, 10));
        // Outcomes: 0 wins: +2000 +1000 = +3000; 1 wins: -1000 -1000 = -2000; 2 wins: 0.
        assert_eq!(position.exposure(1), 20);
        // Independent worst cases: min(2000,-1000) + min(-1000,1000) + 0 = -2000.
        assert_eq!(position.exposure(2), 20);
    }

    #[test]
    fn exposure_rounds_up_and_results_round_down() {
        let mut position = Position::new(0, 2);
        // Lay at 1.01 for 1: liability 0.01 minor units, rounded up to 1.
        position.add(0, Contribution::unmatched(Side::Lay, 101, 1));
        assert_eq!(position.exposure(1), 1);
        assert_eq!(floor_minor(-1), -1);
        assert_eq!(floor_minor(199), 1);
        assert_eq!(floor_minor(-200), -2);
    }
}
