//! Accounts and the ledger: creation, deposits, withdrawals, the kill switch.

use super::{Engine, Subject, reject};
use crate::book::OrderBook;
use crate::command::CommandKind;
use crate::config::{MAX_AMOUNT_MINOR, TierLimits};
use crate::event::{Event, PostingKind};
use crate::order::NIL;
use crate::reason::{CancelReason, RejectReason};
use crate::types::{AccountId, ApiSecret, Role, SelfTradePrevention, Tier};

/// The largest balance an account may hold, in minor units; bounds every sum in `i64`.
const MAX_BALANCE_MINOR: i64 = 1_000 * MAX_AMOUNT_MINOR;

/// A tier's limits with `[min_stake, max_stake, max_market_exposure]` overrides (minor units)
/// and a `max_open_orders` override; `None` if they are out of range.
fn resolve_limits(
    tier: Tier,
    overrides_minor: [Option<i64>; 3],
    max_open_orders: Option<u32>,
) -> Option<TierLimits> {
    let mut limits = TierLimits::for_tier(tier);
    let [min_stake, max_stake, max_exposure] = overrides_minor;
    limits.min_stake_minor = min_stake.unwrap_or(limits.min_stake_minor);
    limits.max_stake_minor = max_stake.unwrap_or(limits.max_stake_minor);
    limits.max_market_exposure_minor = max_exposure.unwrap_or(limits.max_market_exposure_minor);
    limits.max_open_orders = max_open_orders.unwrap_or(limits.max_open_orders);
    let valid = 1 <= limits.min_stake_minor
        && limits.min_stake_minor <= limits.max_stake_minor
        && limits.max_stake_minor <= MAX_AMOUNT_MINOR
        && (0..=MAX_AMOUNT_MINOR).contains(&limits.max_market_exposure_minor);
    valid.then_some(limits)
}

impl<B: OrderBook> Engine<B> {
    /// `[min_stake, max_stake, max_market_exposure]` overrides, in minor units.
    pub(super) fn create_account(
        &mut self,
        events: &mut Vec<Event>,
        account: AccountId,
        tier: Tier,
        overrides_minor: [Option<i64>; 3],
        max_open_orders: Option<u32>,
        (stp, role): (SelfTradePrevention, Role),
    ) {
        let command = CommandKind::CreateAccount;
        let subject = Subject {
            account: Some(account),
            ..Subject::default()
        };
        if account.is_reserved() || tier == Tier::House {
            return reject(events, command, RejectReason::ReservedAccount, subject);
        }
        if self.account_index.contains_key(&account) {
            return reject(events, command, RejectReason::DuplicateAccount, subject);
        }
        if self.accounts.len() >= self.config.max_accounts as usize {
            return reject(events, command, RejectReason::AccountCapacity, subject);
        }
        let Some(limits) = resolve_limits(tier, overrides_minor, max_open_orders) else {
            return reject(events, command, RejectReason::InvalidLimits, subject);
        };
        self.insert_account(account, tier, limits, stp, role);
        events.push(Event::AccountCreated { account, tier });
    }

    /// Replaces an account's tier and limits (`set_account_limits`): `[min_stake, max_stake,
    /// max_market_exposure]` overrides in minor units, the tier's defaults where absent, and
    /// the self-trade prevention mode when given. Nothing else changes: open orders stay
    /// (even above a lowered `max_open_orders`) and positions keep their exposure; new orders
    /// are checked against the new limits.
    pub(super) fn set_account_limits(
        &mut self,
        events: &mut Vec<Event>,
        account: AccountId,
        tier: Tier,
        overrides_minor: [Option<i64>; 3],
        max_open_orders: Option<u32>,
        stp: Option<SelfTradePrevention>,
    ) {
        let command = CommandKind::SetAccountLimits;
        let subject = Subject {
            account: Some(account),
            ..Subject::default()
        };
        let index = match self.account_index.get(&account) {
            None => return reject(events, command, RejectReason::UnknownAccount, subject),
            Some(&index) if self.accounts[index as usize].tier == Tier::House => {
                return reject(events, command, RejectReason::ReservedAccount, subject);
            }
            Some(&index) => index,
        };
        if tier == Tier::House {
            return reject(events, command, RejectReason::ReservedAccount, subject);
        }
        let Some(limits) = resolve_limits(tier, overrides_minor, max_open_orders) else {
            return reject(events, command, RejectReason::InvalidLimits, subject);
        };
        let state = &mut self.accounts[index as usize];
        state.tier = tier;
        state.limits = limits;
        state.stp = stp.unwrap_or(state.stp);
        events.push(Event::AccountLimitsSet {
            account,
            tier,
            stp: state.stp,
            max_open_orders: limits.max_open_orders,
            min_stake_minor: limits.min_stake_minor,
            max_stake_minor: limits.max_stake_minor,
            max_market_exposure_minor: limits.max_market_exposure_minor,
        });
    }

    /// Looks up an account that may trade or move money (a trader, not a house account).
    pub(super) fn user_account(&self, account: AccountId) -> Result<u32, RejectReason> {
        match self.account_index.get(&account) {
            None => Err(RejectReason::UnknownAccount),
            Some(index) => {
                let state = &self.accounts[*index as usize];
                if state.tier == Tier::House {
                    Err(RejectReason::ReservedAccount)
                } else if state.role != Role::Trader {
                    Err(RejectReason::RoleNotPermitted)
                } else {
                    Ok(*index)
                }
            }
        }
    }

    /// Looks up an account with the feed role.
    pub(super) fn feed_account(&self, account: AccountId) -> Result<u32, RejectReason> {
        match self.account_index.get(&account) {
            None => Err(RejectReason::UnknownAccount),
            Some(index) if self.accounts[*index as usize].role == Role::Feed => Ok(*index),
            Some(_) => Err(RejectReason::RoleNotPermitted),
        }
    }

    pub(super) fn deposit(
        &mut self,
        events: &mut Vec<Event>,
        account: AccountId,
        amount_minor: i64,
        transfer_id: u64,
    ) {
        self.transfer(
            events,
            CommandKind::Deposit,
            account,
            amount_minor,
            transfer_id,
        );
    }

    pub(super) fn withdraw(
        &mut self,
        events: &mut Vec<Event>,
        account: AccountId,
        amount_minor: i64,
        transfer_id: u64,
    ) {
        self.transfer(
            events,
            CommandKind::Withdraw,
            account,
            amount_minor,
            transfer_id,
        );
    }

    fn transfer(
        &mut self,
        events: &mut Vec<Event>,
        command: CommandKind,
        account: AccountId,
        amount_minor: i64,
        transfer_id: u64,
    ) {
        let subject = Subject {
            account: Some(account),
            ..Subject::default()
        };
        let index = match self.user_account(account) {
            Ok(index) => index,
            Err(reason) => return reject(events, command, reason, subject),
        };
        if !(1..=MAX_AMOUNT_MINOR).contains(&amount_minor) {
            return reject(events, command, RejectReason::InvalidAmount, subject);
        }
        if self.transfer_ids.get(&transfer_id).is_some() {
            return reject(events, command, RejectReason::DuplicateTransferId, subject);
        }
        let state = &mut self.accounts[index as usize];
        let (kind, delta_minor) = if command == CommandKind::Deposit {
            if state.balance_minor + amount_minor > MAX_BALANCE_MINOR {
                return reject(events, command, RejectReason::InvalidAmount, subject);
            }
            self.deposits_minor += i128::from(amount_minor);
            (PostingKind::Deposit, amount_minor)
        } else {
            if amount_minor > state.balance_minor - state.exposure_minor {
                return reject(
                    events,
                    command,
                    RejectReason::InsufficientFreeBalance,
                    subject,
                );
            }
            self.withdrawals_minor += i128::from(amount_minor);
            (PostingKind::Withdrawal, -amount_minor)
        };
        state.balance_minor += delta_minor;
        self.transfer_ids.insert(transfer_id, ());
        events.push(Event::Ledger {
            account,
            kind,
            amount_minor: delta_minor,
            balance_minor: state.balance_minor,
            reference: transfer_id,
        });
    }

    pub(super) fn kill_switch(&mut self, events: &mut Vec<Event>, account: AccountId, on: bool) {
        let index = match self.user_account(account) {
            Ok(index) => index,
            Err(reason) => {
                let subject = Subject {
                    account: Some(account),
                    ..Subject::default()
                };
                return reject(events, CommandKind::KillSwitch, reason, subject);
            }
        };
        self.accounts[index as usize].kill_switch = on;
        events.push(Event::KillSwitch { account, on });
        if on {
            self.cancel_account_orders(events, index, None, CancelReason::KillSwitch);
        }
    }

    /// Cancels an account's open orders on one market, or everywhere: market by market in the
    /// order the account first traded them, oldest first within a market. It walks only the
    /// account's own orders, however many markets and orders the shard holds.
    pub(super) fn cancel_account_orders(
        &mut self,
        events: &mut Vec<Event>,
        account: u32,
        market: Option<u32>,
        reason: CancelReason,
    ) {
        let mut index = 0;
        while let Some(&(position_market, position)) =
            self.accounts[account as usize].positions.get(index)
        {
            index += 1;
            if market.is_some_and(|m| m != position_market) {
                continue;
            }
            let mut slot = self.markets[position_market as usize].positions[position as usize]
                .orders
                .head;
            while slot != NIL {
                let next = self.orders[slot].position_next;
                self.cancel_resting(events, slot, reason);
                slot = next;
            }
        }
    }

    /// Sets an account's API key, replacing the one it had: its old key id stops resolving.
    pub(super) fn set_api_key(
        &mut self,
        events: &mut Vec<Event>,
        account: AccountId,
        key_id: u64,
        secret: ApiSecret,
    ) {
        let command = CommandKind::SetApiKey;
        let subject = Subject {
            account: Some(account),
            ..Subject::default()
        };
        let index = match self.account_index.get(&account) {
            None => return reject(events, command, RejectReason::UnknownAccount, subject),
            Some(&index) if self.accounts[index as usize].tier == Tier::House => {
                return reject(events, command, RejectReason::ReservedAccount, subject);
            }
            Some(&index) => index,
        };
        if key_id == 0 {
            return reject(events, command, RejectReason::InvalidApiKey, subject);
        }
        if self
            .api_keys
            .get(&key_id)
            .is_some_and(|owner| *owner != index)
        {
            return reject(events, command, RejectReason::DuplicateApiKey, subject);
        }
        let state = &mut self.accounts[index as usize];
        if let Some((old_key_id, _)) = state.api_key.replace((key_id, secret)) {
            self.api_keys.remove(&old_key_id);
        }
        self.api_keys.insert(key_id, index);
        events.push(Event::ApiKeySet { account, key_id });
    }

    pub(super) fn balances(&mut self, events: &mut Vec<Event>) {
        events.extend(self.accounts.iter().map(|account| Event::Balance {
            account: account.id,
            balance_minor: account.balance_minor,
            exposure_minor: account.exposure_minor,
        }));
    }

    /// Links a new open order at the tail of its position's list (its account's orders on its
    /// market).
    pub(super) fn link_order(&mut self, slot: u32) {
        let order = &self.orders[slot];
        self.accounts[order.account as usize].open_orders += 1;
        let position = &mut self.markets[order.market as usize].positions[order.position as usize];
        self.orders.push_back(&mut position.orders, slot);
    }

    /// Unlinks an order from its position's list.
    pub(super) fn unlink_order(&mut self, slot: u32) {
        let order = &self.orders[slot];
        self.accounts[order.account as usize].open_orders -= 1;
        let position = &mut self.markets[order.market as usize].positions[order.position as usize];
        self.orders.unlink(&mut position.orders, slot);
    }
}
