//! Pool (pari-mutuel) markets: bets, indicative odds and settlement.
//!
//! A bet puts its stake into its selection's pool. Until settlement the stake stays in the
//! bettor's balance and counts as exposure on every outcome (a pool bet can lose all of it
//! whatever happens). At settlement, with `N` the net pool after takeout
//! (`floor(total * (10000 - takeout_bps) / 10000)`), the net pool is split equally between the
//! winning selections that hold money (`floor(N / k)` each) and each winning bet is paid
//! `floor(share * stake / selection pool)`. Takeout goes to the house commission account,
//! every rounding remainder to the house rounding account, so money is conserved exactly. With
//! no money on any winner every bet is refunded.

use super::markets::{HOUSE_COMMISSION_INDEX, HOUSE_ROUNDING_INDEX};
use super::orders::Holder;
use super::{Engine, Subject, reject};
use crate::book::OrderBook;
use crate::command::CommandKind;
use crate::config::MAX_AMOUNT_MINOR;
use crate::event::{Event, PostingKind};
use crate::reason::RejectReason;
use crate::risk::Contribution;
use crate::types::{AccountId, BreakerSource, MarketId, MarketKind, OrderId, SelectionId};

/// One pool bet. Bets are kept in the order they were placed (so by id) until settlement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(super) struct Bet {
    pub id: OrderId,
    pub client_order_id: u64,
    pub account: u32,
    pub selection: u16,
    pub stake_minor: i64,
    /// Cleared when the bet is cancelled (it stays in the list so that ids stay sorted).
    pub live: bool,
}

/// The pools of a market (empty for an exchange market).
#[derive(
    Clone, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub(super) struct PoolState {
    /// Per selection, the stakes of its live bets, in minor units.
    pub pools: Box<[i64]>,
    /// Sum of the pools.
    pub total_minor: i64,
    /// The bets by id (ids only grow, so the list is sorted and a cancel finds its bet by
    /// binary search: no index to keep up on the way in). Cancelled bets stay until they
    /// outnumber the live ones, then the list is compacted.
    pub bets: Vec<Bet>,
    /// How many of `bets` are cancelled.
    pub cancelled: u32,
}

impl PoolState {
    pub fn new(kind: MarketKind, selections: usize) -> PoolState {
        match kind {
            MarketKind::Exchange => PoolState::default(),
            MarketKind::Pool => PoolState {
                pools: vec![0; selections].into_boxed_slice(),
                total_minor: 0,
                bets: Vec::new(),
                cancelled: 0,
            },
        }
    }

    /// A selection's pool in minor units (0 for an exchange market).
    pub fn selection_pool(&self, selection: usize) -> i64 {
        self.pools.get(selection).copied().unwrap_or(0)
    }

    /// The pool left to winners after takeout, rounded down.
    pub fn net_minor(&self, takeout_bps: u16) -> i64 {
        let net = i128::from(self.total_minor) * i128::from(10_000 - takeout_bps) / 10_000;
        i64::try_from(net).expect("the net pool is at most the pool")
    }

    /// Indicative odds times 100: net pool over the selection's pool, rounded down; 0 when
    /// the selection's pool is empty (or the market has no pools).
    pub fn indicative_x100(&self, selection: usize, takeout_bps: u16) -> u32 {
        let pool = self.selection_pool(selection);
        if pool == 0 {
            return 0;
        }
        let odds = i128::from(self.net_minor(takeout_bps)) * 100 / i128::from(pool);
        u32::try_from(odds).unwrap_or(u32::MAX)
    }

    /// Index of a bet by id.
    fn find(&self, bet_id: OrderId) -> Option<usize> {
        self.bets.binary_search_by_key(&bet_id, |b| b.id).ok()
    }
}

/// A pool's list of bets is compacted when it is at least this long and more than half of it
/// is cancelled bets (amortised: each cancelled bet is moved at most once).
const COMPACT_AT: usize = 1_024;

/// What a bet contributes to its owner's position: the stake is lost whatever happens.
fn bet_contribution(stake_minor: i64) -> Contribution {
    let loss = -100 * i128::from(stake_minor);
    Contribution {
        win: loss,
        lose: loss,
    }
}

impl<B: OrderBook> Engine<B> {
    pub(super) fn place_bet(
        &mut self,
        events: &mut Vec<Event>,
        account: AccountId,
        market: MarketId,
        selection: SelectionId,
        stake_minor: i64,
        client_order_id: u64,
    ) {
        let command = CommandKind::PlaceBet;
        let subject = Subject {
            account: Some(account),
            market: Some(market),
            client_order_id: Some(client_order_id),
            order_id: None,
        };
        let account_index = match self.user_account(account) {
            Ok(index) => index,
            Err(reason) => return reject(events, command, reason, subject),
        };
        if self.reject_repeat(events, command, account_index, subject) {
            return;
        }
        let target = self.open_market_index(market).and_then(|index| {
            let state = &self.markets[index as usize];
            if state.kind != MarketKind::Pool {
                return Err(RejectReason::InvalidMarketKind);
            }
            let selection = state
                .selection_index(selection)
                .ok_or(RejectReason::InvalidSelection)?;
            Ok((index, selection))
        });
        let (market_index, selection_index) = match target {
            Ok(target) => target,
            Err(reason) => return reject(events, command, reason, subject),
        };
        if !self.stake_allowed(account_index, market_index, stake_minor) {
            return reject(events, command, RejectReason::InvalidStake, subject);
        }
        if self.accounts[account_index as usize].kill_switch {
            return reject(events, command, RejectReason::KillSwitch, subject);
        }
        let holder = Holder {
            account: account_index,
            market: market_index,
        };
        let extra = bet_contribution(stake_minor);
        if let Err(reason) = self.check_exposure(holder, |position, places| {
            position.exposure_with(places, usize::from(selection_index), extra)
        }) {
            return reject(events, command, reason, subject);
        }
        let state = &self.markets[market_index as usize];
        // A pool keeps its live bets until settlement: at most as many as the shard holds
        // orders. (Cancelled ones do not count, so nobody can fill a pool by betting and
        // cancelling.)
        let live = state.pool.bets.len() - state.pool.cancelled as usize;
        if live >= self.config.max_orders as usize {
            return reject(events, command, RejectReason::OrderCapacity, subject);
        }
        if state.pool.total_minor + stake_minor > state.rules.max_pool_minor.min(MAX_AMOUNT_MINOR) {
            return reject(events, command, RejectReason::PoolLimit, subject);
        }

        let bet_id = OrderId(self.next_order_id);
        self.next_order_id += 1;
        self.client_order_ids
            .insert((account_index, client_order_id), bet_id);
        let position = self.position_index(holder);
        self.adjust_bet_position(holder, position, selection_index, extra);
        let market_state = &mut self.markets[market_index as usize];
        market_state.pool.bets.push(Bet {
            id: bet_id,
            client_order_id,
            account: account_index,
            selection: selection_index,
            stake_minor,
            live: true,
        });
        events.push(Event::BetAccepted {
            bet_id,
            account,
            client_order_id,
            market,
            selection,
            stake_minor,
        });
        self.change_pool(events, market_index, selection_index, stake_minor);
    }

    pub(super) fn cancel_bet(
        &mut self,
        events: &mut Vec<Event>,
        account: AccountId,
        market: MarketId,
        bet_id: OrderId,
    ) {
        let subject = Subject {
            account: Some(account),
            market: Some(market),
            client_order_id: None,
            order_id: Some(bet_id),
        };
        let found = self.user_account(account).and_then(|account_index| {
            let market_index = self.open_market_index(market)?;
            let pool = &self.markets[market_index as usize].pool;
            if self.markets[market_index as usize].kind != MarketKind::Pool {
                return Err(RejectReason::InvalidMarketKind);
            }
            let bet = pool
                .find(bet_id)
                .filter(|b| pool.bets[*b].live && pool.bets[*b].account == account_index)
                .ok_or(RejectReason::UnknownOrder)?;
            Ok((market_index, bet))
        });
        let (market_index, bet) = match found {
            Ok(found) => found,
            Err(reason) => return reject(events, CommandKind::CancelBet, reason, subject),
        };
        let market_state = &mut self.markets[market_index as usize];
        let state = &mut market_state.pool.bets[bet];
        state.live = false;
        let state = *state;
        let pool = &mut market_state.pool;
        pool.cancelled += 1;
        if pool.bets.len() >= COMPACT_AT && 2 * pool.cancelled as usize > pool.bets.len() {
            pool.bets.retain(|b| b.live);
            pool.cancelled = 0;
        }
        let position = market_state.position_index[&state.account];
        let holder = Holder {
            account: state.account,
            market: market_index,
        };
        let contribution = -bet_contribution(state.stake_minor);
        self.adjust_bet_position(holder, position, state.selection, contribution);
        let market_state = &self.markets[market_index as usize];
        events.push(Event::BetCancelled {
            bet_id,
            account,
            market,
            selection: market_state.selections[usize::from(state.selection)],
            stake_minor: state.stake_minor,
        });
        self.change_pool(events, market_index, state.selection, -state.stake_minor);
    }

    /// Adds a bet's contribution (a negated one removes it) to its owner's position and
    /// refreshes the position's and the account's exposure.
    fn adjust_bet_position(
        &mut self,
        holder: Holder,
        position: u32,
        selection: u16,
        contribution: Contribution,
    ) {
        let market = &mut self.markets[holder.market as usize];
        let places = market.places;
        let state = &mut market.positions[position as usize];
        state.add(usize::from(selection), contribution);
        let before = state.exposure_minor;
        state.exposure_minor = state.exposure(places);
        self.accounts[holder.account as usize].exposure_minor += state.exposure_minor - before;
    }

    /// Adds to a selection's pool, publishes it and watches the indicative odds.
    fn change_pool(
        &mut self,
        events: &mut Vec<Event>,
        index: u32,
        selection: u16,
        delta_minor: i64,
    ) {
        let market = &mut self.markets[index as usize];
        market.pool.pools[usize::from(selection)] += delta_minor;
        market.pool.total_minor += delta_minor;
        if market.rules.market_data {
            market.book_seq += 1;
            events.push(Event::PoolChanged {
                market: market.id,
                book_seq: market.book_seq,
                selection: market.selections[usize::from(selection)],
                pool_minor: market.pool.pools[usize::from(selection)],
                total_minor: market.pool.total_minor,
            });
        }
        self.mark_all_dirty(index);
        self.watch_indicative(events, index);
    }

    /// Feeds every selection's indicative odds to its circuit breaker window; trips the
    /// breaker on the first selection that moved too far.
    fn watch_indicative(&mut self, events: &mut Vec<Event>, index: u32) {
        let now = self.ts_ns;
        let market = &mut self.markets[index as usize];
        let rules = market.rules;
        if market.pool.total_minor < rules.circuit_breaker_min_pool_minor {
            return;
        }
        let mut tripped = None;
        for selection in 0..market.selections.len() {
            let odds = market.pool.indicative_x100(selection, rules.takeout_bps);
            if odds == 0 {
                continue;
            }
            let window = &mut market.odds.selections[selection].indicative_window;
            let moved = window.record(now, rules.circuit_breaker_window_ns, odds);
            if tripped.is_none()
                && let Some(m) = moved
                && m.bps > u32::from(rules.circuit_breaker_bps)
            {
                tripped = Some((selection, m, odds));
            }
        }
        if let Some((selection, m, odds)) = tripped {
            self.trip_breaker(events, index, selection, BreakerSource::Indicative, m, odds);
        }
    }

    /// Pays a pool market: see the module documentation. The positions are released.
    pub(super) fn pay_out_pool(&mut self, events: &mut Vec<Event>, index: u32, winners: &[u16]) {
        let market = &self.markets[index as usize];
        let reference = u64::from(market.id.0);
        let takeout_bps = market.rules.takeout_bps;
        let total = market.pool.total_minor;
        let funded: Vec<u16> = winners
            .iter()
            .copied()
            .filter(|w| market.pool.pools[usize::from(*w)] > 0)
            .collect();
        let (net, share) = if funded.is_empty() {
            (total, 0)
        } else {
            let net = market.pool.net_minor(takeout_bps);
            (net, net / funded.len() as i64)
        };
        let mut payouts = vec![0i64; market.positions.len()];
        let mut paid_minor: i64 = 0;
        let bets = std::mem::take(&mut self.markets[index as usize].pool.bets);
        for bet in bets.iter().filter(|b| b.live) {
            let market = &self.markets[index as usize];
            let payout = if funded.is_empty() {
                bet.stake_minor
            } else if funded.contains(&bet.selection) {
                let pool = market.pool.pools[usize::from(bet.selection)];
                let paid = i128::from(share) * i128::from(bet.stake_minor) / i128::from(pool);
                i64::try_from(paid).expect("a payout is at most the net pool")
            } else {
                0
            };
            let position = market.position_index[&bet.account];
            payouts[position as usize] += payout - bet.stake_minor;
            paid_minor += payout;
            events.push(Event::BetSettled {
                bet_id: bet.id,
                account: self.accounts[bet.account as usize].id,
                market: market.id,
                stake_minor: bet.stake_minor,
                payout_minor: payout,
            });
        }
        self.markets[index as usize].pool.bets = bets;
        let market = &mut self.markets[index as usize];
        let market_id = market.id;
        let positions = std::mem::take(&mut market.positions);
        market.position_index.clear();
        for (position, pnl_minor) in positions.iter().zip(payouts) {
            let account = self.release_position(index, position);
            events.push(Event::AccountSettled {
                account,
                market: market_id,
                pnl_minor,
                commission_minor: 0,
            });
            self.post(
                events,
                position.account as usize,
                PostingKind::Settlement,
                pnl_minor,
                reference,
            );
        }
        // total = paid + takeout + rounding, exactly.
        let takeout = total - net;
        debug_assert!(paid_minor <= net);
        self.post(
            events,
            HOUSE_COMMISSION_INDEX,
            PostingKind::Takeout,
            takeout,
            reference,
        );
        self.post(
            events,
            HOUSE_ROUNDING_INDEX,
            PostingKind::Rounding,
            net - paid_minor,
            reference,
        );
    }

    /// Refunds every live bet of a pool being voided (positions are released by the caller).
    pub(super) fn refund_pool(&mut self, events: &mut Vec<Event>, index: u32) {
        let market = &self.markets[index as usize];
        for bet in market.pool.bets.iter().filter(|b| b.live) {
            events.push(Event::BetSettled {
                bet_id: bet.id,
                account: self.accounts[bet.account as usize].id,
                market: market.id,
                stake_minor: bet.stake_minor,
                payout_minor: bet.stake_minor,
            });
        }
    }
}
