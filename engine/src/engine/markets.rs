//! Markets: creation, the lifecycle, settlement and void.

use rustc_hash::FxHashMap;

use super::{Engine, Market, Subject, reject};
use crate::book::OrderBook;
use crate::command::CommandKind;
use crate::config::MAX_SELECTIONS;
use crate::event::{Event, MAX_PLACES, PostingKind, Winners};
use crate::ladder::LadderKind;
use crate::order::NIL;
use crate::reason::{CancelReason, RejectReason};
use crate::risk::{Position, floor_minor};
use crate::types::{AccountId, MarketId, MarketKind, MarketStatus, Persistence, SelectionId};

/// Index of the house rounding account (created first by `Engine::new`).
const HOUSE_ROUNDING_INDEX: usize = 0;
/// Index of the house commission account.
const HOUSE_COMMISSION_INDEX: usize = 1;

impl<B: OrderBook> Engine<B> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn create_market(
        &mut self,
        events: &mut Vec<Event>,
        market: MarketId,
        kind: MarketKind,
        selections: &[SelectionId],
        places: u8,
        ladder: LadderKind,
        commission_bps: u16,
    ) {
        let command = CommandKind::CreateMarket;
        let subject = Subject {
            market: Some(market),
            ..Subject::default()
        };
        if self.market_index.contains_key(&market) {
            return reject(events, command, RejectReason::DuplicateMarket, subject);
        }
        if self.markets.len() >= self.config.max_markets as usize {
            return reject(events, command, RejectReason::MarketCapacity, subject);
        }
        // The length is checked first so that the quadratic distinctness scan is bounded.
        let valid = (2..=MAX_SELECTIONS).contains(&selections.len())
            && selections
                .iter()
                .enumerate()
                .all(|(i, s)| !selections[..i].contains(s))
            && places >= 1
            && usize::from(places) < selections.len()
            && usize::from(places) <= MAX_PLACES
            && commission_bps <= 10_000;
        if !valid {
            return reject(
                events,
                command,
                RejectReason::InvalidMarketDefinition,
                subject,
            );
        }
        let index = self.markets.len() as u32;
        self.markets.push(Market {
            id: market,
            kind,
            status: MarketStatus::Pending,
            places,
            ladder,
            commission_bps,
            selections: selections.into(),
            books: (0..selections.len())
                .map(|_| B::new(ladder.price_count()))
                .collect(),
            positions: Vec::new(),
            position_index: FxHashMap::default(),
        });
        self.market_index.insert(market, index);
        events.push(Event::MarketCreated {
            market,
            kind,
            selections: selections.len() as u16,
            places,
            ladder,
            commission_bps,
        });
    }

    /// Looks up a market whose state is one of `from`; rejects otherwise.
    fn transition_source(
        &self,
        events: &mut Vec<Event>,
        command: CommandKind,
        market: MarketId,
        from: &[MarketStatus],
    ) -> Option<u32> {
        let subject = Subject {
            market: Some(market),
            ..Subject::default()
        };
        let Some(index) = self.market_index.get(&market).copied() else {
            reject(events, command, RejectReason::UnknownMarket, subject);
            return None;
        };
        let status = self.markets[index as usize].status;
        if from.contains(&status) {
            return Some(index);
        }
        let reason = if status.is_final() {
            RejectReason::MarketFinalized
        } else {
            RejectReason::InvalidMarketTransition
        };
        reject(events, command, reason, subject);
        None
    }

    fn set_status(&mut self, events: &mut Vec<Event>, index: u32, status: MarketStatus) {
        let market = &mut self.markets[index as usize];
        market.status = status;
        events.push(Event::MarketStatus {
            market: market.id,
            status,
        });
    }

    /// Cancels the market's unmatched orders, all of them or only the `lapse` ones, in book
    /// order (selection by selection, backs then lays, by tick, oldest first).
    fn cancel_market_orders(
        &mut self,
        events: &mut Vec<Event>,
        index: u32,
        lapse_only: bool,
        reason: CancelReason,
    ) {
        let mut slots = Vec::new();
        for book in self.markets[index as usize].books.iter() {
            book.for_each(&self.orders, &mut |slot| {
                if !lapse_only || self.orders[slot].persistence == Persistence::Lapse {
                    slots.push(slot);
                }
            });
        }
        for slot in slots {
            self.cancel_resting(events, slot, reason);
        }
    }

    pub(super) fn open_market(&mut self, events: &mut Vec<Event>, market: MarketId) {
        let from = [MarketStatus::Pending];
        if let Some(index) = self.transition_source(events, CommandKind::OpenMarket, market, &from)
        {
            self.set_status(events, index, MarketStatus::Open);
        }
    }

    pub(super) fn suspend_market(&mut self, events: &mut Vec<Event>, market: MarketId) {
        let from = [MarketStatus::Open];
        if let Some(index) =
            self.transition_source(events, CommandKind::SuspendMarket, market, &from)
        {
            self.set_status(events, index, MarketStatus::Suspended);
            self.cancel_market_orders(events, index, true, CancelReason::MarketSuspended);
        }
    }

    pub(super) fn resume_market(&mut self, events: &mut Vec<Event>, market: MarketId) {
        let from = [MarketStatus::Suspended];
        if let Some(index) =
            self.transition_source(events, CommandKind::ResumeMarket, market, &from)
        {
            self.set_status(events, index, MarketStatus::Open);
        }
    }

    pub(super) fn close_market(&mut self, events: &mut Vec<Event>, market: MarketId) {
        let from = [MarketStatus::Open, MarketStatus::Suspended];
        if let Some(index) = self.transition_source(events, CommandKind::CloseMarket, market, &from)
        {
            self.set_status(events, index, MarketStatus::Closed);
            self.cancel_market_orders(events, index, false, CancelReason::MarketClosed);
        }
    }

    pub(super) fn settle_market(
        &mut self,
        events: &mut Vec<Event>,
        market: MarketId,
        winners: &[SelectionId],
    ) {
        let command = CommandKind::SettleMarket;
        let from = [MarketStatus::Suspended, MarketStatus::Closed];
        let Some(index) = self.transition_source(events, command, market, &from) else {
            return;
        };
        let state = &self.markets[index as usize];
        let winner_indexes: Option<Vec<u16>> =
            winners.iter().map(|w| state.selection_index(*w)).collect();
        let valid = winners.len() == usize::from(state.places)
            && winner_indexes.as_ref().is_some_and(|indexes| {
                indexes
                    .iter()
                    .enumerate()
                    .all(|(i, s)| !indexes[..i].contains(s))
            });
        let (Some(winner_indexes), true) = (winner_indexes, valid) else {
            let subject = Subject {
                market: Some(market),
                ..Subject::default()
            };
            return reject(events, command, RejectReason::InvalidWinners, subject);
        };
        self.cancel_market_orders(events, index, false, CancelReason::MarketClosed);
        events.push(Event::MarketSettled {
            market,
            winners: Winners::new(winners).expect("places is at most MAX_PLACES"),
        });
        self.pay_out(events, index, |s| winner_indexes.contains(&(s as u16)));
        self.set_status(events, index, MarketStatus::Settled);
    }

    pub(super) fn void_market(&mut self, events: &mut Vec<Event>, market: MarketId) {
        let from = [
            MarketStatus::Pending,
            MarketStatus::Open,
            MarketStatus::Suspended,
            MarketStatus::Closed,
        ];
        let Some(index) = self.transition_source(events, CommandKind::VoidMarket, market, &from)
        else {
            return;
        };
        self.cancel_market_orders(events, index, false, CancelReason::MarketClosed);
        let positions = std::mem::take(&mut self.markets[index as usize].positions);
        self.markets[index as usize].position_index.clear();
        for position in &positions {
            let account = self.release_position(index, position);
            events.push(Event::AccountSettled {
                account,
                market,
                pnl_minor: 0,
                commission_minor: 0,
            });
        }
        self.set_status(events, index, MarketStatus::Voided);
    }

    /// Forgets a position of the market at `index` that has been taken out of the market (it
    /// holds no orders): its exposure leaves the account, and so does its entry in the
    /// account's list of positions. Returns the account's id.
    fn release_position(&mut self, index: u32, position: &Position) -> AccountId {
        debug_assert_eq!(position.orders.head, NIL);
        let account = &mut self.accounts[position.account as usize];
        account.exposure_minor -= position.exposure_minor;
        account.positions.retain(|(market, _)| *market != index);
        account.id
    }

    /// Pays every position of a market whose unmatched orders are all cancelled: each
    /// account's exact result rounded down, commission on a positive result, and the rounding
    /// residue to the house. The positions are released.
    fn pay_out(&mut self, events: &mut Vec<Event>, index: u32, is_winner: impl Fn(usize) -> bool) {
        let market = &mut self.markets[index as usize];
        let (market_id, commission_bps) = (market.id, market.commission_bps);
        let positions = std::mem::take(&mut market.positions);
        market.position_index.clear();
        let reference = u64::from(market_id.0);
        let mut paid_minor: i64 = 0;
        let mut commission_total_minor: i64 = 0;
        for position in &positions {
            let pnl_minor = floor_minor(position.result(&is_winner));
            let commission_minor = if pnl_minor > 0 {
                let commission = i128::from(pnl_minor) * i128::from(commission_bps) / 10_000;
                i64::try_from(commission).expect("commission is below the result")
            } else {
                0
            };
            paid_minor += pnl_minor;
            commission_total_minor += commission_minor;
            let account_id = self.release_position(index, position);
            events.push(Event::AccountSettled {
                account: account_id,
                market: market_id,
                pnl_minor,
                commission_minor,
            });
            self.post(
                events,
                position.account as usize,
                PostingKind::Settlement,
                pnl_minor,
                reference,
            );
            self.post(
                events,
                position.account as usize,
                PostingKind::Commission,
                -commission_minor,
                reference,
            );
        }
        // Exact results sum to zero, so the rounded ones sum to at most zero.
        debug_assert!(paid_minor <= 0);
        self.post(
            events,
            HOUSE_COMMISSION_INDEX,
            PostingKind::Commission,
            commission_total_minor,
            reference,
        );
        self.post(
            events,
            HOUSE_ROUNDING_INDEX,
            PostingKind::Rounding,
            -paid_minor,
            reference,
        );
    }

    /// Posts a non-zero amount to an account and reports it.
    fn post(
        &mut self,
        events: &mut Vec<Event>,
        account: usize,
        kind: PostingKind,
        amount_minor: i64,
        reference: u64,
    ) {
        if amount_minor == 0 {
            return;
        }
        let account = &mut self.accounts[account];
        account.balance_minor += amount_minor;
        events.push(Event::Ledger {
            account: account.id,
            kind,
            amount_minor,
            balance_minor: account.balance_minor,
            reference,
        });
    }
}
