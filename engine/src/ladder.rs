//! Price ladders: the legal odds of a market, and the tick index books are addressed by.
//!
//! Odds are decimal odds times 100 (`250` is 2.50). A tick is the index of a price on its
//! ladder, in increasing order of odds, so comparing ticks compares odds.

use serde::{Deserialize, Serialize};

/// Which ladder a market's prices lie on.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LadderKind {
    /// The classic betting-exchange ladder from 1.01 to 1000 (350 prices).
    #[default]
    Betfair,
    /// Odds for the probabilities 99%, 98%, ..., 1% (99 prices), for prediction markets.
    Probability,
}

/// A price tick: an index into a ladder.
pub type Tick = u16;

/// The betfair ladder's bands: (first price above the previous band, last price, increment).
const BETFAIR_BANDS: [(u32, u32, u32); 10] = [
    (101, 200, 1),
    (202, 300, 2),
    (305, 400, 5),
    (410, 600, 10),
    (620, 1_000, 20),
    (1_050, 2_000, 50),
    (2_100, 3_000, 100),
    (3_200, 5_000, 200),
    (5_500, 10_000, 500),
    (11_000, 100_000, 1_000),
];

/// Number of prices on the betfair ladder.
pub const BETFAIR_LEN: usize = 350;
/// Number of prices on the probability ladder.
pub const PROBABILITY_LEN: usize = 99;
/// The most prices any ladder has; books are sized by their ladder's length.
pub const MAX_LADDER_LEN: usize = BETFAIR_LEN;

static BETFAIR: [u32; BETFAIR_LEN] = build_betfair();
static PROBABILITY: [u32; PROBABILITY_LEN] = build_probability();

const fn build_betfair() -> [u32; BETFAIR_LEN] {
    let mut prices = [0u32; BETFAIR_LEN];
    let mut index = 0;
    let mut band = 0;
    while band < BETFAIR_BANDS.len() {
        let (first, last, step) = BETFAIR_BANDS[band];
        let mut price = first;
        while price <= last {
            prices[index] = price;
            index += 1;
            price += step;
        }
        band += 1;
    }
    assert!(index == BETFAIR_LEN);
    prices
}

/// Odds for probability p% are 100/p, i.e. 10000/p in hundredths, rounded to the nearest
/// hundredth. Listed from 99% (lowest odds, 1.01) down to 1% (100.00).
const fn build_probability() -> [u32; PROBABILITY_LEN] {
    let mut prices = [0u32; PROBABILITY_LEN];
    let mut index = 0;
    while index < PROBABILITY_LEN {
        let percent = (PROBABILITY_LEN - index) as u32;
        prices[index] = (10_000 + percent / 2) / percent;
        if index > 0 {
            assert!(prices[index] > prices[index - 1]);
        }
        index += 1;
    }
    prices
}

impl LadderKind {
    /// All prices of the ladder in increasing order.
    pub fn prices(self) -> &'static [u32] {
        match self {
            LadderKind::Betfair => &BETFAIR,
            LadderKind::Probability => &PROBABILITY,
        }
    }

    /// Number of prices on the ladder.
    pub fn price_count(self) -> usize {
        self.prices().len()
    }

    /// The tick of `odds_x100`, or `None` if it is not a price on this ladder.
    pub fn tick(self, odds_x100: u32) -> Option<Tick> {
        self.prices()
            .binary_search(&odds_x100)
            .ok()
            .map(|index| index as Tick)
    }

    /// The odds of a tick. Panics if the tick is off the ladder, which the engine never lets in.
    pub fn odds(self, tick: Tick) -> u32 {
        self.prices()[usize::from(tick)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn betfair_ladder_has_its_bands() {
        let prices = LadderKind::Betfair.prices();
        assert_eq!(prices.len(), 350);
        assert_eq!(prices[0], 101);
        assert_eq!(prices[99], 200);
        assert_eq!(prices[100], 202);
        assert_eq!(*prices.last().unwrap(), 100_000);
        assert!(prices.windows(2).all(|w| w[0] < w[1]));
        for odds in [
            101, 150, 200, 202, 298, 305, 410, 620, 1_050, 2_100, 3_200, 5_500, 11_000,
        ] {
            assert_eq!(
                LadderKind::Betfair.odds(LadderKind::Betfair.tick(odds).unwrap()),
                odds
            );
        }
        for odds in [
            0, 100, 201, 203, 301, 405, 615, 1_010, 2_050, 3_100, 5_200, 10_500, 100_010,
        ] {
            assert_eq!(
                LadderKind::Betfair.tick(odds),
                None,
                "{odds} is off the ladder"
            );
        }
    }

    #[test]
    fn probability_ladder_spans_one_to_ninety_nine_percent() {
        let prices = LadderKind::Probability.prices();
        assert_eq!(prices.len(), 99);
        assert_eq!(prices[0], 101); // 99%
        assert_eq!(prices[49], 200); // 50%
        assert_eq!(prices[96], 3_333); // 3%
        assert_eq!(prices[98], 10_000); // 1%
        assert!(prices.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(LadderKind::Probability.tick(202), None);
    }
}
