//! The state behind [`crate::query`]: views of accounts, orders, positions, keys and markets,
//! read between inputs.

use super::{Engine, OrderView};
use crate::book::OrderBook;
use crate::order::NIL;
use crate::query::{AccountView, ApiKeyView, MarketView, PositionView};
use crate::types::{AccountId, MarketId};

impl<B: OrderBook> Engine<B> {
    pub(crate) fn account_view(&self, account: AccountId) -> Option<AccountView> {
        let state = self.account(account)?;
        Some(AccountView {
            account: state.id,
            tier: state.tier,
            role: state.role,
            kill_switch: state.kill_switch,
            balance_minor: state.balance_minor,
            exposure_minor: state.exposure_minor,
            open_orders: state.open_orders,
            max_open_orders: state.limits.max_open_orders,
        })
    }

    /// The account's open orders (on one market), sorted by order id. It walks the account's
    /// own position lists only.
    pub(crate) fn open_orders_view(
        &self,
        account: AccountId,
        market: Option<MarketId>,
    ) -> Option<Vec<OrderView>> {
        let state = self.account(account)?;
        let only = match market {
            None => None,
            Some(market) => match self.market_index.get(&market) {
                Some(index) => Some(*index),
                None => return Some(Vec::new()),
            },
        };
        let mut orders = Vec::with_capacity(if only.is_none() {
            state.open_orders as usize
        } else {
            0
        });
        for &(market, position) in &state.positions {
            if only.is_some_and(|only| only != market) {
                continue;
            }
            let mut slot = self.markets[market as usize].positions[position as usize]
                .orders
                .head;
            while slot != NIL {
                orders.push(self.order_view(slot));
                slot = self.orders[slot].position_next;
            }
        }
        // Position lists keep the time orders were linked, which a replace can change.
        orders.sort_unstable_by_key(|order| order.order_id);
        Some(orders)
    }

    /// The account's positions in the order it first traded the markets, with the number of
    /// its open orders on each.
    pub(crate) fn positions_view(&self, account: AccountId) -> Option<Vec<PositionView>> {
        let state = self.account(account)?;
        let views = state
            .positions
            .iter()
            .map(|&(market, position)| {
                let market = &self.markets[market as usize];
                let position = &market.positions[position as usize];
                let mut open_orders = 0;
                let mut slot = position.orders.head;
                while slot != NIL {
                    open_orders += 1;
                    slot = self.orders[slot].position_next;
                }
                PositionView {
                    market: market.id,
                    exposure_minor: position.exposure_minor,
                    open_orders,
                }
            })
            .collect();
        Some(views)
    }

    pub(crate) fn api_key_view(&self, key_id: u64) -> Option<ApiKeyView> {
        let state = &self.accounts[*self.api_keys.get(&key_id)? as usize];
        let (held_id, secret) = state.api_key?;
        debug_assert_eq!(held_id, key_id, "the key index names the key's holder");
        Some(ApiKeyView {
            account: state.id,
            key_id,
            secret,
            tier: state.tier,
            role: state.role,
        })
    }

    pub(crate) fn markets_view(&self) -> Vec<MarketView> {
        self.markets
            .iter()
            .map(|market| MarketView {
                market: market.id,
                kind: market.kind,
                status: market.status,
                ladder: market.ladder,
                selections: market.selections.to_vec(),
            })
            .collect()
    }
}
