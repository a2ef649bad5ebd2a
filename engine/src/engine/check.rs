//! The state hash and the consistency check that tests run after every step.

use super::Engine;
use crate::book::OrderBook;
use crate::hash::StateHasher;
use crate::order::NIL;
use crate::risk::{Contribution, exposure_minor};
use crate::types::Tier;

impl<B: OrderBook> Engine<B> {
    /// A hash of the whole business state: accounts, markets, books in priority order,
    /// positions, the idempotency windows and the id counter.
    ///
    /// The input counter and the clock are left out, so that a refused command, which changes
    /// nothing, leaves the hash as it was. Storage details (slab slots, hash map layout) are
    /// left out too: two engines that behave the same hash the same, whatever their book
    /// implementation.
    pub fn state_hash(&self) -> u64 {
        let mut h = StateHasher::default();
        h.u64(self.next_order_id);
        h.i128(self.deposits_minor);
        h.i128(self.withdrawals_minor);
        for account in &self.accounts {
            h.u64(u64::from(account.id.0));
            h.u64(account.tier as u64);
            h.i64(account.limits.min_stake_minor);
            h.i64(account.limits.max_stake_minor);
            h.i64(account.limits.max_market_exposure_minor);
            h.u64(u64::from(account.limits.max_open_orders));
            h.u64(account.stp as u64);
            h.u64(u64::from(account.kill_switch));
            h.i64(account.balance_minor);
            h.i64(account.exposure_minor);
            h.u64(u64::from(account.open_orders));
            for &(market, position) in &account.positions {
                h.u64(u64::from(self.markets[market as usize].id.0));
                let mut slot = self.markets[market as usize].positions[position as usize]
                    .orders
                    .head;
                while slot != NIL {
                    h.u64(self.orders[slot].id.0);
                    slot = self.orders[slot].position_next;
                }
            }
        }
        for market in &self.markets {
            h.u64(u64::from(market.id.0));
            h.u64(market.kind as u64);
            h.u64(market.status as u64);
            h.u64(u64::from(market.places));
            h.u64(market.ladder as u64);
            h.u64(u64::from(market.commission_bps));
            for selection in market.selections.iter() {
                h.u64(u64::from(selection.0));
            }
            for book in market.books.iter() {
                book.for_each(&self.orders, &mut |slot| {
                    let order = &self.orders[slot];
                    h.u64(order.id.0);
                    h.u64(order.client_order_id);
                    h.u64(u64::from(self.accounts[order.account as usize].id.0));
                    h.u64(u64::from(order.selection));
                    h.u64(order.side as u64);
                    h.u64(u64::from(order.tick));
                    h.i64(order.remaining_minor);
                    h.u64(order.persistence as u64);
                    h.u64(u64::from(order.quote));
                    h.u64(u64::from(order.post_only));
                });
            }
            for position in &market.positions {
                h.u64(u64::from(self.accounts[position.account as usize].id.0));
                for outcome in position.outcomes.iter() {
                    h.i128(outcome.win);
                    h.i128(outcome.lose);
                }
                h.i64(position.exposure_minor);
            }
        }
        for ((account, client_order_id), order_id) in self.client_order_ids.iter() {
            h.u64(u64::from(self.accounts[account as usize].id.0));
            h.u64(client_order_id);
            h.u64(order_id.0);
        }
        for (transfer_id, ()) in self.transfer_ids.iter() {
            h.u64(transfer_id);
        }
        h.finish()
    }

    /// Checks every invariant of the engine; returns the first one broken.
    ///
    /// - every book is consistent and never crossed;
    /// - every live order is in exactly one book, in the order index and in its account's list;
    /// - each position's exposure matches its bets, each account's exposure is the sum of its
    ///   positions', and no account's exposure exceeds its balance;
    /// - matched bets net to zero per market and selection (every trade has two sides);
    /// - money is conserved: the sum of all balances equals deposits minus withdrawals.
    pub fn validate(&self) -> Result<(), String> {
        let mut resting = 0u32;
        let mut per_account = vec![0u32; self.accounts.len()];
        let mut exposure_per_account = vec![0i64; self.accounts.len()];
        for (market_index, market) in self.markets.iter().enumerate() {
            let selections = market.selections.len();
            // Unmatched contributions per position, to separate matched bets from orders.
            let mut unmatched_by_position =
                vec![(vec![0i128; selections], vec![0i128; selections]); market.positions.len()];
            for (selection, book) in market.books.iter().enumerate() {
                book.validate(&self.orders)
                    .map_err(|e| format!("market {} selection {selection}: {e}", market.id.0))?;
                let mut problem = None;
                book.for_each(&self.orders, &mut |slot| {
                    resting += 1;
                    let order = &self.orders[slot];
                    if order.market as usize != market_index
                        || usize::from(order.selection) != selection
                    {
                        problem = Some(format!("order {} is in the wrong book", order.id.0));
                    }
                    if self.order_index.get(&order.id) != Some(&slot) {
                        problem = Some(format!("order {} is missing from the index", order.id.0));
                    }
                    per_account[order.account as usize] += 1;
                    let odds = market.ladder.odds(order.tick);
                    let c = Contribution::unmatched(order.side, odds, order.remaining_minor);
                    match market.position_index.get(&order.account) {
                        Some(p) => {
                            let entry = &mut unmatched_by_position[*p as usize];
                            entry.0[selection] += c.win;
                            entry.1[selection] += c.lose;
                        }
                        None => problem = Some(format!("order {} has no position", order.id.0)),
                    }
                });
                if let Some(problem) = problem {
                    return Err(problem);
                }
            }
            let mut matched_win = vec![0i128; selections];
            let mut matched_lose = vec![0i128; selections];
            for (p, position) in market.positions.iter().enumerate() {
                let mut slot = position.orders.head;
                let mut previous = NIL;
                while slot != NIL {
                    let order = &self.orders[slot];
                    if order.market as usize != market_index
                        || order.account != position.account
                        || order.position as usize != p
                        || order.position_prev != previous
                    {
                        return Err(format!(
                            "market {}: order {} is on the wrong position list",
                            market.id.0, order.id.0
                        ));
                    }
                    previous = slot;
                    slot = order.position_next;
                }
                if previous != position.orders.tail {
                    return Err(format!(
                        "market {}: a position list has a wrong tail",
                        market.id.0
                    ));
                }
                let expected = exposure_minor(market.places, &position.outcomes);
                if expected != position.exposure_minor {
                    return Err(format!(
                        "market {} account {}: cached exposure {} but bets imply {expected}",
                        market.id.0,
                        self.accounts[position.account as usize].id.0,
                        position.exposure_minor
                    ));
                }
                exposure_per_account[position.account as usize] += position.exposure_minor;
                for s in 0..selections {
                    matched_win[s] += position.outcomes[s].win - unmatched_by_position[p].0[s];
                    matched_lose[s] += position.outcomes[s].lose - unmatched_by_position[p].1[s];
                }
            }
            if matched_win
                .iter()
                .chain(matched_lose.iter())
                .any(|v| *v != 0)
            {
                return Err(format!(
                    "market {}: matched bets do not net to zero",
                    market.id.0
                ));
            }
        }
        if resting != self.orders.len() || self.order_index.len() != resting as usize {
            return Err(format!(
                "{resting} resting orders, {} in the slab, {} indexed",
                self.orders.len(),
                self.order_index.len()
            ));
        }
        for (index, account) in self.accounts.iter().enumerate() {
            if account.open_orders != per_account[index] {
                return Err(format!(
                    "account {}: {} open orders counted, {} resting",
                    account.id.0, account.open_orders, per_account[index]
                ));
            }
            // The account's position list names exactly its positions, each once.
            let mut listed = 0;
            for &(market, position) in &account.positions {
                let state = &self.markets[market as usize];
                let owned = state
                    .positions
                    .get(position as usize)
                    .is_some_and(|p| p.account as usize == index);
                if !owned || state.position_index.get(&(index as u32)) != Some(&position) {
                    return Err(format!(
                        "account {}: lists a position it does not hold",
                        account.id.0
                    ));
                }
                let mut slot = state.positions[position as usize].orders.head;
                while slot != NIL {
                    listed += 1;
                    slot = self.orders[slot].position_next;
                }
            }
            let held: usize = self
                .markets
                .iter()
                .filter(|m| m.position_index.contains_key(&(index as u32)))
                .count();
            if held != account.positions.len() {
                return Err(format!(
                    "account {}: holds {held} positions but lists {}",
                    account.id.0,
                    account.positions.len()
                ));
            }
            if listed != account.open_orders {
                return Err(format!(
                    "account {}: order list has {listed} orders",
                    account.id.0
                ));
            }
            if account.exposure_minor != exposure_per_account[index] {
                return Err(format!(
                    "account {}: exposure {} but positions sum to {}",
                    account.id.0, account.exposure_minor, exposure_per_account[index]
                ));
            }
            if account.tier != Tier::House && account.exposure_minor > account.balance_minor {
                return Err(format!(
                    "account {}: exposure {} exceeds balance {}",
                    account.id.0, account.exposure_minor, account.balance_minor
                ));
            }
        }
        if self.total_balance_minor() != self.net_deposits_minor() {
            return Err(format!(
                "money not conserved: balances sum to {} but deposits minus withdrawals are {}",
                self.total_balance_minor(),
                self.net_deposits_minor()
            ));
        }
        Ok(())
    }
}
