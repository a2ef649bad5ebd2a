//! Orders: placement with risk checks, matching, cancels, replaces, mass cancels.
//!
//! Checks run in a fixed order, so that the reason a command is refused is deterministic:
//! account, client order id, market and its state, selection, odds, stake, kill switch, open
//! orders, capacity, exposure, then post-only and fill-or-kill.

use super::{Engine, Subject, reject};
use crate::book::{MatchStep, OrderBook, Taker};
use crate::command::CommandKind;
use crate::config::MAX_AMOUNT_MINOR;
use crate::event::Event;
use crate::ladder::Tick;
use crate::order::Order;
use crate::reason::{CancelReason, RejectReason};
use crate::risk::{Contribution, Position};
use crate::types::{
    AccountId, MarketId, MarketKind, MarketStatus, OrderId, Persistence, SelectionId, Side,
    TimeInForce,
};

/// The arguments of `place_order`.
#[derive(Clone, Copy, Debug)]
pub(super) struct NewOrder {
    pub account: AccountId,
    pub market: MarketId,
    pub selection: SelectionId,
    pub side: Side,
    pub odds_x100: u32,
    pub stake_minor: i64,
    pub tif: TimeInForce,
    pub post_only: bool,
    pub persistence: Persistence,
    pub client_order_id: u64,
}

/// Where an order's exposure lands: the account, the market and its position there.
#[derive(Clone, Copy, Debug)]
pub(super) struct Holder {
    pub account: u32,
    pub market: u32,
}

impl<B: OrderBook> Engine<B> {
    pub(super) fn place_order(&mut self, events: &mut Vec<Event>, new: NewOrder) {
        let command = CommandKind::PlaceOrder;
        let subject = Subject {
            account: Some(new.account),
            market: Some(new.market),
            client_order_id: Some(new.client_order_id),
            order_id: None,
        };
        // The client order id window is large and read at random: ask for its lines now and
        // resolve market, odds and stake while they arrive (the result is reported in the
        // documented order all the same).
        let known_account = self.user_account(new.account).ok();
        if let Some(account) = known_account {
            self.client_order_ids
                .prefetch(&(account, new.client_order_id));
        }
        let target = self.order_target(new.account, new.market, new.selection);
        let tick = target
            .ok()
            .and_then(|(_, market, _)| self.markets[market as usize].ladder.tick(new.odds_x100));
        let stake_ok = target
            .is_ok_and(|(account, market, _)| self.stake_allowed(account, market, new.stake_minor));
        // A repeat is answered with the original order before anything else, so that a client
        // retrying after a timeout learns its order exists even if the market has since been
        // suspended.
        if let Some(account) = known_account
            && self.reject_repeat(events, command, account, subject)
        {
            return;
        }
        let (account, market, selection) = match target {
            Ok(target) => target,
            Err(reason) => return reject(events, command, reason, subject),
        };
        let Some(tick) = tick else {
            return reject(events, command, RejectReason::InvalidOdds, subject);
        };
        if !self.inside_price_band(market, selection, new.odds_x100) {
            return reject(events, command, RejectReason::OutsidePriceBand, subject);
        }
        if !stake_ok {
            return reject(events, command, RejectReason::InvalidStake, subject);
        }
        if let Err(reason) = self.can_add_orders(account, 1) {
            return reject(events, command, reason, subject);
        }
        let holder = Holder { account, market };
        let extra = Contribution::unmatched(new.side, new.odds_x100, new.stake_minor);
        if let Err(reason) = self.check_exposure(holder, |position, places| {
            position.exposure_with(places, usize::from(selection), extra)
        }) {
            return reject(events, command, reason, subject);
        }
        let delay_ns = self.markets[market as usize].rules.bet_delay_ns;
        let book = &self.markets[market as usize].books[usize::from(selection)];
        // A delayed order meets the book only when its delay is over: post-only and
        // fill-or-kill are checked then.
        if delay_ns == 0 && new.post_only && book.crosses(new.side, tick) {
            return reject(events, command, RejectReason::PostOnlyWouldMatch, subject);
        }
        let taker = Taker {
            side: new.side,
            limit: tick,
            stake_minor: new.stake_minor,
            account,
            stp: self.accounts[account as usize].stp,
        };
        if delay_ns == 0
            && new.tif == TimeInForce::Fok
            && book.fillable(&self.orders, &taker) < new.stake_minor
        {
            return reject(events, command, RejectReason::FokNotFilled, subject);
        }

        let order_id = OrderId(self.next_order_id);
        self.next_order_id += 1;
        self.client_order_ids
            .insert((account, new.client_order_id), order_id);
        let mut order = Order::new(
            order_id,
            new.client_order_id,
            account,
            market,
            selection,
            new.side,
            tick,
            new.stake_minor,
            new.persistence,
            false,
        );
        order.post_only = new.post_only;
        order.tif = new.tif;
        events.push(Event::OrderAccepted {
            order_id,
            account: new.account,
            client_order_id: new.client_order_id,
            market: new.market,
            selection: new.selection,
            side: new.side,
            odds_x100: new.odds_x100,
            stake_minor: new.stake_minor,
            tif: new.tif,
            persistence: new.persistence,
            quote: false,
        });
        if delay_ns == 0 {
            self.enter_order(events, order, new.tif);
        } else {
            self.delay_order(events, order, delay_ns);
        }
    }

    /// Rejects a client order id the account already used (shared by orders and pool bets),
    /// naming the original; returns whether it did.
    pub(super) fn reject_repeat(
        &self,
        events: &mut Vec<Event>,
        command: CommandKind,
        account: u32,
        subject: Subject,
    ) -> bool {
        let key = (account, subject.client_order_id.unwrap_or_default());
        let Some(original) = self.client_order_ids.get(&key) else {
            return false;
        };
        let subject = Subject {
            order_id: Some(original),
            ..subject
        };
        reject(
            events,
            command,
            RejectReason::DuplicateClientOrderId,
            subject,
        );
        true
    }

    /// Resolves the account, an open exchange market and the selection an order is for.
    pub(super) fn order_target(
        &self,
        account: AccountId,
        market: MarketId,
        selection: SelectionId,
    ) -> Result<(u32, u32, u16), RejectReason> {
        let account = self.user_account(account)?;
        let market = self.open_market_index(market)?;
        if self.markets[market as usize].kind != MarketKind::Exchange {
            return Err(RejectReason::InvalidMarketKind);
        }
        let selection = self.markets[market as usize]
            .selection_index(selection)
            .ok_or(RejectReason::InvalidSelection)?;
        Ok((account, market, selection))
    }

    /// A market that exists and is open.
    pub(super) fn open_market_index(&self, market: MarketId) -> Result<u32, RejectReason> {
        let index = *self
            .market_index
            .get(&market)
            .ok_or(RejectReason::UnknownMarket)?;
        if self.markets[index as usize].status != MarketStatus::Open {
            return Err(RejectReason::MarketNotOpen);
        }
        Ok(index)
    }

    /// Whether a stake is within the account's limits and the market's largest bet.
    pub(super) fn stake_allowed(&self, account: u32, market: u32, stake_minor: i64) -> bool {
        let limits = &self.accounts[account as usize].limits;
        stake_minor <= MAX_AMOUNT_MINOR
            && stake_minor <= self.markets[market as usize].rules.max_bet_minor
            && (limits.min_stake_minor..=limits.max_stake_minor).contains(&stake_minor)
    }

    /// Kill switch, open-order limit and slab capacity for `count` more open orders.
    pub(super) fn can_add_orders(&self, account: u32, count: u32) -> Result<(), RejectReason> {
        let state = &self.accounts[account as usize];
        if state.kill_switch {
            return Err(RejectReason::KillSwitch);
        }
        if state.open_orders + count > state.limits.max_open_orders {
            return Err(RejectReason::MaxOpenOrders);
        }
        if self.orders.len() + count > self.config.max_orders {
            return Err(RejectReason::OrderCapacity);
        }
        Ok(())
    }

    /// Checks the exposure `exposure_after` computes for the holder's position (a flat one if
    /// the account has none yet) against the market limit and the balance. An exposure that
    /// does not grow is always allowed.
    pub(super) fn check_exposure(
        &self,
        holder: Holder,
        exposure_after: impl FnOnce(&Position, u8) -> i64,
    ) -> Result<(), RejectReason> {
        let market = &self.markets[holder.market as usize];
        let position = market.position_index.get(&holder.account).copied();
        self.check_exposure_at(holder, position, exposure_after)
    }

    /// As [`Self::check_exposure`], with the position's index already known (`None`: the
    /// account has no position on the market yet).
    pub(super) fn check_exposure_at(
        &self,
        holder: Holder,
        position: Option<u32>,
        exposure_after: impl FnOnce(&Position, u8) -> i64,
    ) -> Result<(), RejectReason> {
        let market = &self.markets[holder.market as usize];
        let account = &self.accounts[holder.account as usize];
        let flat;
        let position = match position {
            Some(index) => &market.positions[index as usize],
            None => {
                flat = Position::new(holder.account, market.selections.len());
                &flat
            }
        };
        let after = exposure_after(position, market.places);
        if after <= position.exposure_minor {
            return Ok(());
        }
        if after > account.limits.max_market_exposure_minor
            || after > market.rules.max_exposure_minor
        {
            return Err(RejectReason::ExposureLimit);
        }
        if account.exposure_minor - position.exposure_minor + after > account.balance_minor {
            return Err(RejectReason::InsufficientFunds);
        }
        Ok(())
    }

    /// The holder's position index on its market, created flat on first use.
    pub(super) fn position_index(&mut self, holder: Holder) -> u32 {
        let market = &mut self.markets[holder.market as usize];
        if let Some(index) = market.position_index.get(&holder.account) {
            return *index;
        }
        let index = market.positions.len() as u32;
        market
            .positions
            .push(Position::new(holder.account, market.selections.len()));
        market.position_index.insert(holder.account, index);
        self.accounts[holder.account as usize]
            .positions
            .push((holder.market, index));
        index
    }

    /// Adds a contribution (a negated one removes it) to the position of the order in `slot`
    /// and refreshes the position's and the account's exposure.
    pub(super) fn adjust_position(&mut self, slot: u32, contribution: Contribution) {
        let order = &self.orders[slot];
        let market = &mut self.markets[order.market as usize];
        let places = market.places;
        let position = &mut market.positions[order.position as usize];
        position.add(usize::from(order.selection), contribution);
        let before = position.exposure_minor;
        position.exposure_minor = position.exposure(places);
        self.accounts[order.account as usize].exposure_minor += position.exposure_minor - before;
    }

    /// Stores an accepted order, books its unmatched exposure, matches it and rests or
    /// cancels the remainder according to `tif`.
    pub(super) fn enter_order(&mut self, events: &mut Vec<Event>, order: Order, tif: TimeInForce) {
        let slot = self.store_order(order);
        self.match_and_rest(events, slot, tif);
    }

    /// Stores an accepted order in the slab, links it to its position and books its unmatched
    /// exposure; returns its slot.
    fn store_order(&mut self, order: Order) -> u32 {
        let slot = self
            .orders
            .insert(order)
            .expect("capacity was checked before acceptance");
        self.order_index.insert(order.id, slot);
        let holder = Holder {
            account: order.account,
            market: order.market,
        };
        self.orders[slot].position = self.position_index(holder);
        self.link_order(slot);
        let odds_x100 = self.markets[order.market as usize].ladder.odds(order.tick);
        self.adjust_position(
            slot,
            Contribution::unmatched(order.side, odds_x100, order.remaining_minor),
        );
        slot
    }

    /// Stores an accepted order that must wait out its market's in-play delay.
    fn delay_order(&mut self, events: &mut Vec<Event>, mut order: Order, delay_ns: u64) {
        order.delayed = true;
        let slot = self.store_order(order);
        let market = &mut self.markets[order.market as usize];
        // Orders enter in the order they were placed: after a shorter delay was set
        // (`set_market_knobs`), a new order still waits for those placed before it.
        let until = self
            .ts_ns
            .saturating_add(delay_ns)
            .max(market.delayed.back().map_or(0, |&(_, _, until)| until));
        market.delayed.push_back((slot, order.id, until));
        events.push(Event::OrderDelayed {
            order_id: order.id,
            account: self.accounts[order.account as usize].id,
            market: market.id,
            until,
        });
        self.touch(order.market);
    }

    /// Lets the delayed orders of a market whose delay is over at `now` enter the book, oldest
    /// first. The market is open: leaving `open` rejects the waiting orders.
    pub(super) fn release_delayed(&mut self, events: &mut Vec<Event>, index: u32, now: u64) {
        while let Some(&(slot, order_id, until)) = self.markets[index as usize].delayed.front() {
            if until > now {
                break;
            }
            self.markets[index as usize].delayed.pop_front();
            if !self.is_waiting(slot, order_id) {
                continue; // cancelled while it waited
            }
            self.orders[slot].delayed = false;
            let order = self.orders[slot];
            let book = &self.markets[index as usize].books[usize::from(order.selection)];
            let refusal = if order.post_only && book.crosses(order.side, order.tick) {
                Some(RejectReason::PostOnlyWouldMatch)
            } else if order.tif == TimeInForce::Fok {
                let taker = Taker {
                    side: order.side,
                    limit: order.tick,
                    stake_minor: order.remaining_minor,
                    account: order.account,
                    stp: self.accounts[order.account as usize].stp,
                };
                (book.fillable(&self.orders, &taker) < order.remaining_minor)
                    .then_some(RejectReason::FokNotFilled)
            } else {
                None
            };
            match refusal {
                Some(reason) => self.drop_delayed(events, slot, reason),
                None => self.match_and_rest(events, slot, order.tif),
            }
        }
    }

    /// Rejects every order of the market still waiting out its delay (the market is leaving
    /// `open`).
    pub(super) fn reject_delayed(&mut self, events: &mut Vec<Event>, index: u32) {
        while let Some((slot, order_id, _)) = self.markets[index as usize].delayed.pop_front() {
            if self.is_waiting(slot, order_id) {
                self.drop_delayed(events, slot, RejectReason::MarketSuspendedDuringDelay);
            }
        }
    }

    /// Forgets the entries at the front of a market's delay queue whose orders were cancelled
    /// while they waited, so that the front is the next order really due.
    pub(super) fn prune_delayed(&mut self, index: u32) {
        while let Some(&(slot, order_id, _)) = self.markets[index as usize].delayed.front() {
            if self.is_waiting(slot, order_id) {
                break;
            }
            self.markets[index as usize].delayed.pop_front();
        }
    }

    /// Whether `slot` still holds the delayed order `order_id` (it may have been cancelled).
    fn is_waiting(&self, slot: u32, order_id: OrderId) -> bool {
        self.order_index.get(&order_id) == Some(&slot) && self.orders[slot].delayed
    }

    /// Refuses a delayed order when it would have entered the book: a `rejected` event naming
    /// it, and its exposure released.
    fn drop_delayed(&mut self, events: &mut Vec<Event>, slot: u32, reason: RejectReason) {
        let order = self.orders[slot];
        let market = &self.markets[order.market as usize];
        let odds_x100 = market.ladder.odds(order.tick);
        events.push(Event::Rejected {
            command: CommandKind::PlaceOrder,
            reason,
            account: Some(self.accounts[order.account as usize].id),
            market: Some(market.id),
            client_order_id: Some(order.client_order_id),
            order_id: Some(order.id),
        });
        self.adjust_position(
            slot,
            -Contribution::unmatched(order.side, odds_x100, order.remaining_minor),
        );
        self.release(slot);
    }

    /// Matches the order in `slot` (not resting) and rests or cancels what is left.
    pub(super) fn match_and_rest(&mut self, events: &mut Vec<Event>, slot: u32, tif: TimeInForce) {
        let order = self.orders[slot];
        let taker = Taker {
            side: order.side,
            limit: order.tick,
            stake_minor: order.remaining_minor,
            account: order.account,
            stp: self.accounts[order.account as usize].stp,
        };
        let mut steps = std::mem::take(&mut self.steps);
        steps.clear();
        let market = &mut self.markets[order.market as usize];
        let outcome = market.books[usize::from(order.selection)].execute(
            &mut self.orders,
            &taker,
            &mut steps,
        );
        if !steps.is_empty() {
            // Matching works from the best resting level of the other side: always shown.
            self.mark_dirty(order.market, order.selection, order.side.opposite(), None);
        }
        // The taker's position changes once for all its fills.
        let mut taker_delta = Contribution::ZERO;
        for step in steps.iter() {
            match *step {
                MatchStep::Fill { maker, stake_minor } => {
                    taker_delta = taker_delta + self.fill(events, slot, maker, stake_minor);
                }
                MatchStep::CancelResting { maker } => {
                    self.finish_cancel(events, maker, CancelReason::SelfTrade)
                }
            }
        }
        self.steps = steps;
        if taker_delta != Contribution::ZERO {
            self.adjust_position(slot, taker_delta);
        }
        debug_assert_eq!(self.orders[slot].remaining_minor, outcome.remaining_minor);
        if outcome.remaining_minor == 0 {
            self.release(slot);
        } else if outcome.stopped_by_stp {
            self.finish_cancel(events, slot, CancelReason::SelfTrade);
        } else if tif == TimeInForce::Gtc {
            let market = &mut self.markets[order.market as usize];
            market.books[usize::from(order.selection)].rest(&mut self.orders, slot);
            self.mark_dirty(order.market, order.selection, order.side, Some(order.tick));
        } else {
            debug_assert_eq!(tif, TimeInForce::Ioc, "fill-or-kill fills completely");
            self.finish_cancel(events, slot, CancelReason::IocRemainder);
        }
    }

    /// Books one fill between the taker in `taker` and the resting order in `maker`. The book
    /// has already reduced the maker; the taker's remaining stake is reduced here.
    /// Returns the change to the taker's position, which the caller applies once for all fills.
    fn fill(
        &mut self,
        events: &mut Vec<Event>,
        taker: u32,
        maker: u32,
        stake_minor: i64,
    ) -> Contribution {
        let taker_order = self.orders[taker];
        let maker_order = self.orders[maker];
        let market = &self.markets[taker_order.market as usize];
        let trade_odds = market.ladder.odds(maker_order.tick);
        let taker_odds = market.ladder.odds(taker_order.tick);
        let (market_id, selection_id) = (
            market.id,
            market.selections[usize::from(taker_order.selection)],
        );
        // For both sides the matched stake stops counting as unmatched at the order's own odds
        // and counts as matched at the trade's odds.
        let change = |side, own_odds| {
            Contribution::matched(side, trade_odds, stake_minor)
                - Contribution::unmatched(side, own_odds, stake_minor)
        };
        self.adjust_position(maker, change(maker_order.side, trade_odds));
        let taker_delta = change(taker_order.side, taker_odds);
        self.orders[taker].remaining_minor -= stake_minor;
        let market = &mut self.markets[taker_order.market as usize];
        market.book_seq += 1;
        market
            .odds
            .record_trade(usize::from(taker_order.selection), trade_odds, stake_minor);
        events.push(Event::Trade {
            market: market_id,
            book_seq: market.book_seq,
            selection: selection_id,
            odds_x100: trade_odds,
            stake_minor,
            maker_order_id: maker_order.id,
            taker_order_id: taker_order.id,
            maker_account: self.accounts[maker_order.account as usize].id,
            taker_account: self.accounts[taker_order.account as usize].id,
            taker_side: taker_order.side,
        });
        if self.orders[maker].remaining_minor == 0 {
            self.release(maker);
        }
        taker_delta
    }

    /// Cancels a resting order: takes it out of its book, then as [`Self::finish_cancel`].
    pub(super) fn cancel_resting(
        &mut self,
        events: &mut Vec<Event>,
        slot: u32,
        reason: CancelReason,
    ) {
        let order = self.orders[slot];
        if !order.delayed {
            self.markets[order.market as usize].books[usize::from(order.selection)]
                .remove(&mut self.orders, slot);
            self.mark_dirty(order.market, order.selection, order.side, Some(order.tick));
        }
        self.finish_cancel(events, slot, reason);
    }

    /// Cancels an order that is no longer in a book: reports it, releases its unmatched
    /// exposure and frees it.
    pub(super) fn finish_cancel(
        &mut self,
        events: &mut Vec<Event>,
        slot: u32,
        reason: CancelReason,
    ) {
        let order = self.orders[slot];
        let market = &self.markets[order.market as usize];
        let odds_x100 = market.ladder.odds(order.tick);
        events.push(Event::OrderCancelled {
            order_id: order.id,
            account: self.accounts[order.account as usize].id,
            market: market.id,
            selection: market.selections[usize::from(order.selection)],
            side: order.side,
            stake_minor: order.remaining_minor,
            reason,
        });
        self.adjust_position(
            slot,
            -Contribution::unmatched(order.side, odds_x100, order.remaining_minor),
        );
        self.release(slot);
    }

    /// Forgets an order that has left its book.
    fn release(&mut self, slot: u32) {
        self.unlink_order(slot);
        self.order_index.remove(&self.orders[slot].id);
        self.orders.remove(slot);
    }

    /// Finds an open order of `account` on `market` by order id or client order id.
    fn find_order(
        &self,
        account: u32,
        market: u32,
        order_id: Option<OrderId>,
        client_order_id: Option<u64>,
    ) -> Result<u32, RejectReason> {
        let order_id = match (order_id, client_order_id) {
            (Some(order_id), None) => order_id,
            (None, Some(client_order_id)) => self
                .client_order_ids
                .get(&(account, client_order_id))
                .ok_or(RejectReason::UnknownOrder)?,
            _ => return Err(RejectReason::InvalidOrderReference),
        };
        let slot = *self
            .order_index
            .get(&order_id)
            .ok_or(RejectReason::UnknownOrder)?;
        let order = &self.orders[slot];
        if order.account != account || order.market != market {
            return Err(RejectReason::UnknownOrder);
        }
        Ok(slot)
    }

    pub(super) fn cancel_order(
        &mut self,
        events: &mut Vec<Event>,
        account: AccountId,
        market: MarketId,
        order_id: Option<OrderId>,
        client_order_id: Option<u64>,
    ) {
        let subject = Subject {
            account: Some(account),
            market: Some(market),
            client_order_id,
            order_id,
        };
        let found = self.user_account(account).and_then(|account_index| {
            let market_index = *self
                .market_index
                .get(&market)
                .ok_or(RejectReason::UnknownMarket)?;
            self.find_order(account_index, market_index, order_id, client_order_id)
        });
        match found {
            Ok(slot) => self.cancel_resting(events, slot, CancelReason::Requested),
            Err(reason) => reject(events, CommandKind::CancelOrder, reason, subject),
        }
    }

    pub(super) fn replace_order(
        &mut self,
        events: &mut Vec<Event>,
        account: AccountId,
        market: MarketId,
        order_id: OrderId,
        odds_x100: u32,
        stake_minor: i64,
    ) {
        let command = CommandKind::ReplaceOrder;
        let subject = Subject {
            account: Some(account),
            market: Some(market),
            client_order_id: None,
            order_id: Some(order_id),
        };
        let found = self.user_account(account).and_then(|account_index| {
            let market_index = self.open_market_index(market)?;
            let slot = self.find_order(account_index, market_index, Some(order_id), None)?;
            Ok((account_index, market_index, slot))
        });
        let (account_index, market_index, slot) = match found {
            Ok(found) => found,
            Err(reason) => return reject(events, command, reason, subject),
        };
        let ladder = self.markets[market_index as usize].ladder;
        let Some(tick) = ladder.tick(odds_x100) else {
            return reject(events, command, RejectReason::InvalidOdds, subject);
        };
        let order = self.orders[slot];
        if order.delayed {
            return reject(events, command, RejectReason::InPlayDelay, subject);
        }
        if tick != order.tick && !self.inside_price_band(market_index, order.selection, odds_x100) {
            return reject(events, command, RejectReason::OutsidePriceBand, subject);
        }
        if !self.stake_allowed(account_index, market_index, stake_minor) {
            return reject(events, command, RejectReason::InvalidStake, subject);
        }
        if tick == order.tick && stake_minor <= order.remaining_minor {
            self.reduce_order(events, slot, stake_minor);
            return;
        }
        // On a market with an in-play delay a replace that could match is a new bet: cancel
        // and place anew, so that the delay applies.
        if self.markets[market_index as usize].rules.bet_delay_ns != 0 {
            return reject(events, command, RejectReason::InPlayDelay, subject);
        }
        let holder = Holder {
            account: account_index,
            market: market_index,
        };
        let old =
            Contribution::unmatched(order.side, ladder.odds(order.tick), order.remaining_minor);
        let new = Contribution::unmatched(order.side, odds_x100, stake_minor);
        let delta = new - old;
        if let Err(reason) =
            self.check_exposure_at(holder, Some(order.position), |position, places| {
                position.exposure_with(places, usize::from(order.selection), delta)
            })
        {
            return reject(events, command, reason, subject);
        }
        let book = &self.markets[market_index as usize].books[usize::from(order.selection)];
        if order.post_only && book.crosses(order.side, tick) {
            return reject(events, command, RejectReason::PostOnlyWouldMatch, subject);
        }
        self.requeue_order(events, slot, tick, stake_minor);
    }

    /// Lowers an order's stake in place, keeping its priority.
    pub(super) fn reduce_order(&mut self, events: &mut Vec<Event>, slot: u32, stake_minor: i64) {
        let order = self.orders[slot];
        let market = &mut self.markets[order.market as usize];
        let odds_x100 = market.ladder.odds(order.tick);
        market.books[usize::from(order.selection)].reduce(&mut self.orders, slot, stake_minor);
        self.mark_dirty(order.market, order.selection, order.side, Some(order.tick));
        self.push_replaced(events, slot, true);
        let cut = order.remaining_minor - stake_minor;
        self.adjust_position(slot, -Contribution::unmatched(order.side, odds_x100, cut));
    }

    /// Moves an order to a new tick and stake at the back of the queue; it may match.
    fn requeue_order(&mut self, events: &mut Vec<Event>, slot: u32, tick: Tick, stake_minor: i64) {
        let order = self.orders[slot];
        let market = &mut self.markets[order.market as usize];
        let ladder = market.ladder;
        market.books[usize::from(order.selection)].remove(&mut self.orders, slot);
        self.mark_dirty(order.market, order.selection, order.side, Some(order.tick));
        let old =
            Contribution::unmatched(order.side, ladder.odds(order.tick), order.remaining_minor);
        let new = Contribution::unmatched(order.side, ladder.odds(tick), stake_minor);
        self.orders[slot].tick = tick;
        self.orders[slot].remaining_minor = stake_minor;
        self.adjust_position(slot, new - old);
        self.push_replaced(events, slot, false);
        self.match_and_rest(events, slot, TimeInForce::Gtc);
    }

    fn push_replaced(&self, events: &mut Vec<Event>, slot: u32, priority_kept: bool) {
        let order = &self.orders[slot];
        let market = &self.markets[order.market as usize];
        events.push(Event::OrderReplaced {
            order_id: order.id,
            account: self.accounts[order.account as usize].id,
            market: market.id,
            selection: market.selections[usize::from(order.selection)],
            side: order.side,
            odds_x100: market.ladder.odds(order.tick),
            stake_minor: order.remaining_minor,
            priority_kept,
        });
    }

    pub(super) fn mass_cancel(
        &mut self,
        events: &mut Vec<Event>,
        account: AccountId,
        market: Option<MarketId>,
    ) {
        let subject = Subject {
            account: Some(account),
            market,
            ..Subject::default()
        };
        let target = self.user_account(account).and_then(|account_index| {
            let market_index = match market {
                None => None,
                Some(market) => Some(
                    *self
                        .market_index
                        .get(&market)
                        .ok_or(RejectReason::UnknownMarket)?,
                ),
            };
            Ok((account_index, market_index))
        });
        match target {
            Ok((account_index, market_index)) => self.cancel_account_orders(
                events,
                account_index,
                market_index,
                CancelReason::MassCancel,
            ),
            Err(reason) => reject(events, CommandKind::MassCancel, reason, subject),
        }
    }
}
