//! The state hash and the consistency check that tests run after every step.

use super::Engine;
use crate::book::OrderBook;
use crate::event::DISPLAY_LEVELS;
use crate::hash::StateHasher;
use crate::order::NIL;
use crate::risk::{Contribution, exposure_minor};
use crate::types::{MarketKind, Side, Tier};

impl<B: OrderBook> Engine<B> {
    /// A hash of the whole business state: accounts (API keys included), markets, books in
    /// priority order, positions, the idempotency windows and the id counter.
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
            h.u64(account.role as u64);
            h.i64(account.balance_minor);
            h.i64(account.exposure_minor);
            h.u64(u64::from(account.open_orders));
            // Only a key that is set is hashed, so that a state without keys hashes as it did
            // before keys existed. It follows a 0, which is never a key id.
            if let Some((key_id, secret)) = &account.api_key {
                h.u64(0);
                h.u64(*key_id);
                h.bytes(&secret.0);
            }
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
            for &(slot, order_id, until) in &market.delayed {
                if self.order_index.get(&order_id) == Some(&slot) && self.orders[slot].delayed {
                    let order = &self.orders[slot];
                    h.u64(order_id.0);
                    h.u64(until);
                    h.u64(order.client_order_id);
                    h.u64(u64::from(self.accounts[order.account as usize].id.0));
                    h.u64(u64::from(order.selection));
                    h.u64(order.side as u64);
                    h.u64(u64::from(order.tick));
                    h.i64(order.remaining_minor);
                    h.u64(order.persistence as u64);
                    h.u64(order.tif as u64);
                    h.u64(u64::from(order.post_only));
                }
            }
            self.hash_market_extras(&mut h, market);
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

    /// Hashes what pools, odds state, timers and votes add to a market.
    fn hash_market_extras(&self, h: &mut StateHasher, market: &super::Market<B>) {
        let r = &market.rules;
        for value in [
            u64::from(r.takeout_bps),
            r.max_pool_minor as u64,
            r.max_bet_minor as u64,
            r.max_exposure_minor as u64,
            u64::from(r.market_data),
            u64::from(r.odds_change_threshold_bps),
            r.odds_tick_interval_ns,
            r.odds_heartbeat_ns,
            u64::from(r.circuit_breaker_bps),
            r.circuit_breaker_window_ns,
            r.circuit_breaker_min_pool_minor as u64,
            r.price_band_bps.map_or(u64::MAX, u64::from),
            r.lock_at_ns.unwrap_or(u64::MAX),
            r.close_at_ns.unwrap_or(u64::MAX),
            r.bet_delay_ns,
            r.end_at_ns.unwrap_or(u64::MAX),
            u64::from(r.lock_before_end_ms),
            market.book_seq,
        ] {
            h.u64(value);
        }
        let odds = &market.odds;
        h.u64(odds.tick_seq);
        h.u64(odds.last_tick_ns.unwrap_or(u64::MAX));
        h.u64(u64::from(odds.pending_change));
        h.u64(u64::from(odds.has_reference));
        for state in odds.selections.iter() {
            for levels in &state.depth {
                for (odds, stake) in levels.odds_x100.iter().zip(levels.stakes_minor.iter()) {
                    h.u64(u64::from(*odds));
                    h.i64(*stake);
                }
            }
            h.u64(u64::from(state.last_traded_x100));
            h.i64(state.matched_minor);
            h.u64(u64::from(state.reference_bps));
            let p = &state.published;
            for value in [p.back_x100, p.lay_x100, p.indicative_x100, p.reference_x100] {
                h.u64(u64::from(value));
            }
            for window in [&state.reference_window, &state.indicative_window] {
                for (until, value) in window.samples() {
                    h.u64(until);
                    h.u64(u64::from(value));
                }
                h.u64(u64::MAX);
            }
        }
        for pool in market.pool.pools.iter() {
            h.i64(*pool);
        }
        for bet in &market.pool.bets {
            h.u64(bet.id.0);
            h.u64(bet.client_order_id);
            h.u64(u64::from(self.accounts[bet.account as usize].id.0));
            h.u64(u64::from(bet.selection));
            h.i64(bet.stake_minor);
            h.u64(u64::from(bet.live));
        }
        h.u64(u64::from(market.pool.cancelled));
        if let Some(votes) = &market.votes {
            h.u64(votes.window_start);
            h.u64(votes.window_end);
            h.u64(u64::from(votes.quorum));
            h.u64(u64::from(votes.threshold_bps));
            h.u64(votes.weight as u64);
            for &(account, selection, weight) in &votes.votes {
                h.u64(u64::from(self.accounts[account as usize].id.0));
                h.u64(u64::from(selection));
                h.i64(weight);
            }
        }
    }

    /// Checks the account indexes (by id, and in id order) against the accounts.
    fn validate_account_indexes(&self) -> Result<(), String> {
        if self.account_index.len() != self.accounts.len()
            || self.accounts_by_id.len() != self.accounts.len()
        {
            return Err(format!(
                "{} accounts, {} indexed, {} in id order",
                self.accounts.len(),
                self.account_index.len(),
                self.accounts_by_id.len()
            ));
        }
        for (index, account) in self.accounts.iter().enumerate() {
            let index = Some(&(index as u32));
            if self.account_index.get(&account.id) != index
                || self.accounts_by_id.get(&account.id) != index
            {
                return Err(format!("account {}: not indexed to itself", account.id.0));
            }
        }
        Ok(())
    }

    /// Checks the API key index against the keys on the accounts.
    fn validate_api_keys(&self) -> Result<(), String> {
        let mut keys = 0;
        for (index, account) in self.accounts.iter().enumerate() {
            let Some((key_id, _)) = account.api_key else {
                continue;
            };
            keys += 1;
            if account.tier == Tier::House || key_id == 0 {
                return Err(format!(
                    "account {}: holds API key id {key_id}, which it may not",
                    account.id.0
                ));
            }
            if self.api_keys.get(&key_id) != Some(&(index as u32)) {
                return Err(format!(
                    "account {}: API key id {key_id} is not indexed to it",
                    account.id.0
                ));
            }
        }
        if keys != self.api_keys.len() {
            return Err(format!(
                "{} API key ids indexed, {keys} accounts hold a key",
                self.api_keys.len()
            ));
        }
        Ok(())
    }

    /// Checks what pools, odds state, timers and votes add to a market.
    fn validate_market_extras(&self, index: usize) -> Result<(), String> {
        let market = &self.markets[index];
        let id = market.id.0;
        // Pools: each is the sum of its live bets, and bets are sorted by id.
        if market.kind == MarketKind::Pool {
            let mut pools = vec![0i64; market.selections.len()];
            for bet in market.pool.bets.iter().filter(|b| b.live) {
                pools[usize::from(bet.selection)] += bet.stake_minor;
            }
            if *pools != *market.pool.pools || pools.iter().sum::<i64>() != market.pool.total_minor
            {
                return Err(format!("market {id}: pools differ from their bets"));
            }
            let cancelled = market.pool.bets.iter().filter(|b| !b.live).count();
            if cancelled != market.pool.cancelled as usize {
                return Err(format!("market {id}: cancelled bets miscounted"));
            }
            if !market.pool.bets.windows(2).all(|w| w[0].id < w[1].id) {
                return Err(format!("market {id}: bets out of order"));
            }
        }
        // Displayed depth equals a naive recomputation from the orders in the book.
        if market.rules.market_data && market.kind == MarketKind::Exchange {
            for (selection, book) in market.books.iter().enumerate() {
                let mut levels: [Vec<(u32, i64)>; 2] = [Vec::new(), Vec::new()];
                book.for_each(&self.orders, &mut |slot| {
                    let order = &self.orders[slot];
                    let side = usize::from(order.side == Side::Lay);
                    let odds = market.ladder.odds(order.tick);
                    match levels[side].iter_mut().find(|(o, _)| *o == odds) {
                        Some(level) => level.1 += order.remaining_minor,
                        None => levels[side].push((odds, order.remaining_minor)),
                    }
                });
                levels[0].sort_by_key(|(odds, _)| *odds);
                levels[1].sort_by_key(|(odds, _)| std::cmp::Reverse(*odds));
                for (side, expected) in levels.iter().enumerate() {
                    let shown = &market.odds.selections[selection].depth[side];
                    for n in 0..DISPLAY_LEVELS {
                        let want = expected.get(n).copied().unwrap_or((0, 0));
                        if (shown.odds_x100[n], shown.stakes_minor[n]) != want {
                            return Err(format!(
                                "market {id} selection {selection}: displayed depth {shown:?} \
                                 but the book holds {expected:?}"
                            ));
                        }
                    }
                }
            }
        }
        // Votes: the tally is the sum of the votes.
        if let Some(votes) = &market.votes {
            let mut tally = vec![(0i64, 0u32); market.selections.len()];
            for (entry, &(account, selection, weight)) in votes.votes.iter().enumerate() {
                tally[usize::from(selection)].0 += weight;
                tally[usize::from(selection)].1 += 1;
                if votes.index.get(&account) != Some(&(entry as u32)) {
                    return Err(format!("market {id}: vote index is wrong"));
                }
            }
            if *tally != *votes.tally
                || votes.index.len() != votes.votes.len()
                || tally.iter().map(|t| t.0).sum::<i64>() != votes.total_weight
            {
                return Err(format!("market {id}: vote tally differs from the votes"));
            }
        }
        // The market's deadline is scheduled.
        let due = self.next_due(index as u32);
        if market.scheduled_ns != due
            || (due != u64::MAX && !self.deadlines.contains(&(due, index as u32)))
        {
            return Err(format!("market {id}: deadline {due} is not scheduled"));
        }
        Ok(())
    }

    /// Checks every invariant of the engine; returns the first one broken.
    ///
    /// - every book is consistent and never crossed;
    /// - every live order is in exactly one book, in the order index and in its account's list;
    /// - each position's exposure matches its bets, each account's exposure is the sum of its
    ///   positions', and no account's exposure exceeds its balance;
    /// - matched bets net to zero per market and selection (every trade has two sides);
    /// - money is conserved: the sum of all balances equals deposits minus withdrawals;
    /// - the API key index names exactly the accounts' keys, no house account has a key and no
    ///   key id is 0.
    pub fn validate(&self) -> Result<(), String> {
        self.validate_account_indexes()?;
        self.validate_api_keys()?;
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
            // Orders waiting out the in-play delay are live but in no book.
            for &(slot, order_id, _) in &market.delayed {
                if self.order_index.get(&order_id) != Some(&slot) || !self.orders[slot].delayed {
                    continue;
                }
                resting += 1;
                let order = &self.orders[slot];
                per_account[order.account as usize] += 1;
                let odds = market.ladder.odds(order.tick);
                let c = Contribution::unmatched(order.side, odds, order.remaining_minor);
                let p = market.position_index[&order.account] as usize;
                unmatched_by_position[p].0[usize::from(order.selection)] += c.win;
                unmatched_by_position[p].1[usize::from(order.selection)] += c.lose;
            }
            // Pool bets stake money on no counterparty: take them out before netting. A settled
            // or voided pool keeps its bets as a record, but its positions are released.
            let settled = market.status.is_final();
            for bet in market.pool.bets.iter().filter(|b| b.live && !settled) {
                let Some(&p) = market.position_index.get(&bet.account) else {
                    return Err(format!("bet {} has no position", bet.id.0));
                };
                let loss = -100 * i128::from(bet.stake_minor);
                unmatched_by_position[p as usize].0[usize::from(bet.selection)] += loss;
                unmatched_by_position[p as usize].1[usize::from(bet.selection)] += loss;
            }
            self.validate_market_extras(market_index)?;
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
        // How many markets each account holds a position on, counted in one pass (a count per
        // account and market would be quadratic, which restoring a large snapshot cannot
        // afford). Counting does not depend on the order the index is walked in.
        let mut held_per_account = vec![0usize; self.accounts.len()];
        for market in &self.markets {
            for account in market.position_index.keys() {
                match held_per_account.get_mut(*account as usize) {
                    Some(held) => *held += 1,
                    None => {
                        return Err(format!("market {}: a position of no account", market.id.0));
                    }
                }
            }
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
            let held = held_per_account[index];
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
        let scheduled = self
            .markets
            .iter()
            .filter(|m| m.scheduled_ns != u64::MAX)
            .count();
        let first = self.deadlines.first().map_or(u64::MAX, |(due, _)| *due);
        if scheduled != self.deadlines.len() || first != self.next_deadline_ns {
            return Err("the deadline set is out of step with the markets".into());
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
