//! Which shard owns which market.
//!
//! Every market belongs to exactly one shard; a command naming a market goes to that shard.
//! Accounts are per shard: an account trades on a shard with the wallet it holds there, so a
//! command about an account alone (create, deposit, withdraw, kill switch, API key, mass cancel
//! without a market) names its shard explicitly.

use std::collections::BTreeMap;

use crate::command::Command;
use crate::types::MarketId;

/// The assignment of markets to `count` shards: explicit entries first, otherwise the market
/// id modulo the shard count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardMap {
    count: u16,
    explicit: BTreeMap<MarketId, u16>,
}

impl ShardMap {
    /// `count` shards (at least one).
    pub fn new(count: u16) -> Self {
        ShardMap {
            count: count.max(1),
            explicit: BTreeMap::new(),
        }
    }

    /// The number of shards.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// Assigns `market` to `shard` (out of range: an error naming it).
    pub fn assign(&mut self, market: MarketId, shard: u16) -> Result<(), String> {
        if shard >= self.count {
            return Err(format!(
                "shard {shard} does not exist (there are {} shards, 0 to {})",
                self.count,
                self.count - 1
            ));
        }
        self.explicit.insert(market, shard);
        Ok(())
    }

    /// The shard that owns `market`.
    pub fn shard_of(&self, market: MarketId) -> u16 {
        match self.explicit.get(&market) {
            Some(&shard) => shard,
            None => (market.0 % u32::from(self.count)) as u16,
        }
    }

    /// The shard a command goes to, or `None` for a command about an account alone or the
    /// whole shard (`timer`, `balances`), which the caller addresses to a shard itself.
    pub fn route(&self, command: &Command) -> Option<u16> {
        market_of(command).map(|market| self.shard_of(market))
    }
}

/// The market a command is about, if it is about one.
pub fn market_of(command: &Command) -> Option<MarketId> {
    match command {
        Command::CreateMarket(spec) => Some(spec.market),
        Command::OpenMarket { market }
        | Command::SuspendMarket { market }
        | Command::ResumeMarket { market }
        | Command::CloseMarket { market }
        | Command::SettleMarket { market, .. }
        | Command::VoidMarket { market }
        | Command::PlaceOrder { market, .. }
        | Command::CancelOrder { market, .. }
        | Command::ReplaceOrder { market, .. }
        | Command::MassQuote { market, .. }
        | Command::PlaceBet { market, .. }
        | Command::CancelBet { market, .. }
        | Command::ReferenceOdds { market, .. }
        | Command::Vote { market, .. }
        | Command::ScheduleMarket { market, .. } => Some(*market),
        Command::SetMarketKnobs(knobs) => Some(knobs.market),
        Command::MassCancel { market, .. } => *market,
        Command::CreateAccount { .. }
        | Command::Deposit { .. }
        | Command::Withdraw { .. }
        | Command::KillSwitch { .. }
        | Command::SetApiKey { .. }
        | Command::SetAccountLimits { .. }
        | Command::Timer {}
        | Command::Balances {} => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::MarketSpec;
    use crate::types::{AccountId, SelectionId, Tier};

    #[test]
    fn markets_spread_by_id_unless_assigned() {
        let mut map = ShardMap::new(3);
        assert_eq!(map.shard_of(MarketId(7)), 1);
        assert_eq!(map.shard_of(MarketId(9)), 0);
        map.assign(MarketId(7), 2).unwrap();
        assert_eq!(map.shard_of(MarketId(7)), 2);
        assert!(map.assign(MarketId(7), 3).unwrap_err().contains("shard 3"));
        assert_eq!(
            map.shard_of(MarketId(7)),
            2,
            "a refused assignment changes nothing"
        );
        let create = Command::create_market(MarketSpec::new(MarketId(7), vec![SelectionId(1)]));
        assert_eq!(map.route(&create), Some(2));
        assert_eq!(
            map.route(&Command::OpenMarket {
                market: MarketId(5)
            }),
            Some(2)
        );
        assert_eq!(
            map.route(&Command::create_account(AccountId(1), Tier::Basic)),
            None
        );
        let key = Command::SetApiKey {
            account: AccountId(1),
            key_id: 77,
            secret: crate::types::ApiSecret([1; 32]),
        };
        assert_eq!((map.route(&key), market_of(&key)), (None, None));
        assert_eq!(ShardMap::new(0).count(), 1);
    }
}
