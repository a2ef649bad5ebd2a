//! The state behind [`crate::query`]: views of accounts, orders, positions, keys and markets,
//! read between inputs.

use std::ops::Bound;

use super::{Engine, OrderView};
use crate::book::OrderBook;
use crate::order::NIL;
use crate::query::{
    ACCOUNTS_PAGE, AccountSummary, AccountView, AccountsPage, ApiKeyView, BookLevel, KnobsView,
    MarketDetail, MarketView, PositionView, ScheduleView, SelectionDetail, TickOdds,
};
use crate::types::{AccountId, MarketId, Side};

const NS_PER_MS: u64 = 1_000_000;

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

    /// One market in detail, with the best `levels` levels of each side of each book.
    pub(crate) fn market_detail(&self, market: MarketId, levels: u16) -> Option<Box<MarketDetail>> {
        let index = *self.market_index.get(&market)?;
        let state = &self.markets[index as usize];
        let rules = &state.rules;
        let limit = |v: i64| (v != i64::MAX).then_some(v);
        let ms = |ns: u64| (ns / NS_PER_MS) as u32;
        let book_levels = |selection: usize, side: Side| {
            let book = &state.books[selection];
            let mut out = Vec::new();
            let mut tick = book.best(side);
            while let Some(t) = tick.filter(|_| out.len() < usize::from(levels)) {
                out.push(BookLevel {
                    odds_x100: state.ladder.odds(t),
                    stake_minor: book.level_stake(&self.orders, side, t),
                });
                tick = book.next_level(side, t);
            }
            out
        };
        let selections: Vec<SelectionDetail> = state
            .selections
            .iter()
            .enumerate()
            .map(|(n, &selection)| {
                let odds = &state.odds.selections[n];
                SelectionDetail {
                    selection,
                    matched_minor: odds.matched_minor,
                    last_traded_x100: odds.last_traded_x100,
                    pool_minor: state.pool.selection_pool(n),
                    reference_bps: odds.reference_bps,
                    backs: book_levels(n, Side::Back),
                    lays: book_levels(n, Side::Lay),
                    tick: TickOdds {
                        back_x100: odds.published.back_x100,
                        lay_x100: odds.published.lay_x100,
                        indicative_x100: odds.published.indicative_x100,
                        reference_x100: odds.published.reference_x100,
                    },
                }
            })
            .collect();
        Some(Box::new(MarketDetail {
            market: state.id,
            kind: state.kind,
            status: state.status,
            ladder: state.ladder,
            places: state.places,
            commission_bps: state.commission_bps,
            takeout_bps: rules.takeout_bps,
            max_pool_minor: limit(rules.max_pool_minor),
            market_data: rules.market_data,
            knobs: KnobsView {
                odds_change_threshold_bps: rules.odds_change_threshold_bps,
                odds_tick_interval_ms: ms(rules.odds_tick_interval_ns),
                odds_heartbeat_ms: ms(rules.odds_heartbeat_ns),
                circuit_breaker_bps: rules.circuit_breaker_bps,
                circuit_breaker_window_ms: ms(rules.circuit_breaker_window_ns),
                circuit_breaker_min_pool_minor: rules.circuit_breaker_min_pool_minor,
                price_band_bps: rules.price_band_bps,
                max_bet_minor: limit(rules.max_bet_minor),
                max_exposure_minor: limit(rules.max_exposure_minor),
                bet_delay_ms: ms(rules.bet_delay_ns),
            },
            schedule: ScheduleView {
                lock_at: rules.lock_at_ns,
                end_at: rules.end_at_ns,
                lock_before_end_ms: rules.lock_before_end_ms,
                close_at: rules.close_at_ns,
            },
            // Volume only grows and saturates per selection; the sum saturates too.
            matched_minor: selections
                .iter()
                .fold(0i64, |sum, s| sum.saturating_add(s.matched_minor)),
            pool_total_minor: state.pool.total_minor,
            book_seq: state.book_seq,
            tick_seq: state.odds.tick_seq,
            last_tick_at: state.odds.last_tick_ns,
            selections,
        }))
    }

    /// Up to [`ACCOUNTS_PAGE`] accounts with ids after `after`, in id order: a walk of the
    /// ordered account index from `after`, whatever the number of accounts.
    pub(crate) fn accounts_page(&self, after: Option<AccountId>) -> AccountsPage {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut range = self.accounts_by_id.range((start, Bound::Unbounded));
        let accounts = range
            .by_ref()
            .take(ACCOUNTS_PAGE)
            .map(|(_, &index)| {
                let state = &self.accounts[index as usize];
                AccountSummary {
                    account: state.id,
                    tier: state.tier,
                    role: state.role,
                    stp: state.stp,
                    kill_switch: state.kill_switch,
                    balance_minor: state.balance_minor,
                    exposure_minor: state.exposure_minor,
                    open_orders: state.open_orders,
                    max_open_orders: state.limits.max_open_orders,
                    min_stake_minor: state.limits.min_stake_minor,
                    max_stake_minor: state.limits.max_stake_minor,
                    max_market_exposure_minor: state.limits.max_market_exposure_minor,
                    api_key_id: state.api_key.map(|(key_id, _)| key_id),
                }
            })
            .collect();
        AccountsPage {
            accounts,
            more: range.next().is_some(),
        }
    }
}
