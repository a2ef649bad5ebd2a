//! The markets the gateway knows: which shard owns each, its kind, ladder and size, enough
//! to refuse a bad request before it reaches a shard.

use oddsmatch_engine::{LadderKind, MarketId, MarketKind};
use rustc_hash::FxHashMap;

/// What the gateway checks requests against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MarketEntry {
    pub(crate) shard: u16,
    pub(crate) kind: MarketKind,
    pub(crate) ladder: LadderKind,
    pub(crate) selections: u16,
}

/// Market id to entry, filled from the shards at start and from `market_created` events.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    markets: FxHashMap<MarketId, MarketEntry>,
}

impl Directory {
    pub(crate) fn insert(
        &mut self,
        shard: u16,
        market: MarketId,
        kind: MarketKind,
        ladder: LadderKind,
        selections: u16,
    ) {
        let entry = MarketEntry {
            shard,
            kind,
            ladder,
            selections,
        };
        self.markets.insert(market, entry);
    }

    pub(crate) fn get(&self, market: MarketId) -> Option<&MarketEntry> {
        self.markets.get(&market)
    }

    pub(crate) fn len(&self) -> usize {
        self.markets.len()
    }
}
