//! Snapshot images: the whole engine state as plain data, and the engine rebuilt from one.
//!
//! An [`EngineImage`] holds what the engine *is*, not how it finds things: leaf types
//! (accounts, orders, rules, odds state, pools, votes) are archived as they are, while the
//! engine, its markets, their books and positions and the idempotency windows are written as
//! explicit image structs. Books are the slots of their resting orders in priority order,
//! positions list their orders oldest first, the windows are their rings, oldest first. Every
//! index (hash maps from ids to slots, the vote index, the windows' tables), every link between
//! orders and every scratch buffer is rebuilt on load, so the file format does not depend on
//! them.
//!
//! Loading trusts nothing: after rkyv's validation (bounds, alignment, enum tags) every index
//! and count is checked before anything is indexed with it, so that a corrupt image is refused
//! with a reason instead of panicking, looping or overflowing; then [`Engine::validate`] runs,
//! and the state hash must equal the one recorded when the snapshot was taken.

use std::collections::{BTreeSet, VecDeque};

use rkyv::rancor::{Error as ArchiveError, Panic};
use rkyv::util::AlignedVec;
use rustc_hash::FxHashMap;

use super::market_data::OddsState;
use super::markets::MarketRules;
use super::pools::PoolState;
use super::votes::VoteState;
use super::{Account, Engine, Market};
use crate::book::OrderBook;
use crate::config::{
    BET_DELAY_RANGE, CIRCUIT_BREAKER_RANGE, CIRCUIT_BREAKER_WINDOW_RANGE, EngineConfig,
    LOCK_BEFORE_END_RANGE, MAX_AMOUNT_MINOR, MAX_SELECTIONS, ODDS_CHANGE_THRESHOLD_RANGE,
    ODDS_HEARTBEAT_RANGE, ODDS_TICK_INTERVAL_RANGE, PRICE_BAND_RANGE, TAKEOUT_RANGE,
};
use crate::event::MAX_PLACES;
use crate::hash::StateHasher;
use crate::ladder::LadderKind;
use crate::order::{NIL, Order, OrderList, OrderSlab};
use crate::risk::{Contribution, Position};
use crate::snapshot::{SNAPSHOT_VERSION, SnapshotError};
use crate::types::{AccountId, MarketId, MarketKind, MarketStatus, OrderId, SelectionId, Tier};

/// The engine's whole state. Field order is the file's; see `snapshot.rs` for the framing.
#[derive(Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(super) struct EngineImage {
    /// What identifies the state, sealed by `seal`.
    pub header: ImageHeader,
    /// A hash of the header and the format version (see [`seal`]).
    pub seal: u64,
    /// Accounts, house accounts first, then in creation order.
    pub accounts: Vec<Account>,
    /// Markets in creation order.
    pub markets: Vec<MarketImage>,
    /// The order slab's slots in use so far, live and free, with their links.
    pub slots: Vec<Order>,
    /// The head of the slab's free list ([`NIL`]: none).
    pub free_head: u32,
    /// Live orders in the slab.
    pub live: u32,
    /// The client-order-id window, oldest first: (account index, client order id, order id).
    pub client_order_ids: Vec<(u32, u64, OrderId)>,
    /// The transfer-id window, oldest first.
    pub transfer_ids: Vec<u64>,
    /// Deposits since the start, minor units.
    pub deposits_minor: i128,
    /// Withdrawals since the start, minor units.
    pub withdrawals_minor: i128,
    /// The deadline set: (due time, market index), earliest first.
    pub deadlines: Vec<(u64, u32)>,
}

/// The part of an image that names the state: read and checked before anything is rebuilt.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(super) struct ImageHeader {
    /// [`Engine::state_hash`] when the snapshot was taken.
    pub state_hash: u64,
    /// Sequence number of the last input applied.
    pub seq: u64,
    /// Timestamp of the last input applied.
    pub ts_ns: u64,
    /// The next order (and bet) id.
    pub next_order_id: u64,
    /// The earliest deadline (`u64::MAX`: none).
    pub next_deadline_ns: u64,
    /// The configuration, capacities included: a restored engine reserves the same memory.
    pub config: EngineConfig,
}

/// One market.
#[derive(Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(super) struct MarketImage {
    pub id: MarketId,
    pub kind: MarketKind,
    pub status: MarketStatus,
    pub places: u8,
    pub ladder: LadderKind,
    pub commission_bps: u16,
    pub selections: Vec<SelectionId>,
    /// Per selection, the slots of the resting orders in the order the book visits them
    /// (backs then lays, by tick, oldest first within a tick).
    pub books: Vec<Vec<u32>>,
    /// Positions in the order accounts first traded here.
    pub positions: Vec<PositionImage>,
    pub rules: MarketRules,
    pub book_seq: u64,
    pub odds: OddsState,
    pub pool: PoolState,
    /// The in-play delay queue as it is, entries of cancelled orders included (the front one
    /// still decides when the market is next due).
    pub delayed: Vec<(u32, OrderId, u64)>,
    pub votes: Option<VoteState>,
    /// The market's entry in the deadline set (`u64::MAX`: none).
    pub scheduled_ns: u64,
}

/// One position.
#[derive(Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(super) struct PositionImage {
    pub account: u32,
    pub outcomes: Vec<Contribution>,
    pub exposure_minor: i64,
    /// The slots of the account's open orders on the market, oldest first.
    pub orders: Vec<u32>,
}

/// Appends the archive of `engine`'s image to `out` (which the caller has framed).
pub(crate) fn append_image<B: OrderBook>(engine: &Engine<B>, out: &mut AlignedVec) {
    let image = image_of(engine);
    // Writing into memory cannot fail (an image holds no shared pointers).
    let Ok(_) = rkyv::api::high::to_bytes_in::<_, Panic>(&image, out);
}

/// Rebuilds an engine from the archive of an image (aligned to 16 bytes), checking
/// everything.
pub(crate) fn restore_archive<B: OrderBook>(archive: &[u8]) -> Result<Engine<B>, SnapshotError> {
    let archived = rkyv::access::<ArchivedEngineImage, ArchiveError>(archive)
        .map_err(|error| SnapshotError::Archive(error.to_string()))?;
    // The header is small: check its seal before the configuration it holds reserves memory.
    let header = rkyv::deserialize::<ImageHeader, ArchiveError>(&archived.header)
        .map_err(|error| SnapshotError::Archive(error.to_string()))?;
    if seal(&header) != archived.seal.to_native() {
        return Err(SnapshotError::Seal);
    }
    let image = rkyv::deserialize::<EngineImage, ArchiveError>(archived)
        .map_err(|error| SnapshotError::Archive(error.to_string()))?;
    restore(image)
}

/// A hash of the format version and the header: random damage to the sequence number, the
/// time or the configuration, which the state hash does not cover, is caught by it.
pub(super) fn seal(header: &ImageHeader) -> u64 {
    let mut h = StateHasher::default();
    let c = &header.config;
    let d = &c.market_defaults;
    for value in [
        u64::from(SNAPSHOT_VERSION),
        header.state_hash,
        header.seq,
        header.ts_ns,
        header.next_order_id,
        header.next_deadline_ns,
        u64::from(c.max_orders),
        u64::from(c.max_markets),
        u64::from(c.max_accounts),
        u64::from(c.client_order_id_window),
        u64::from(c.transfer_id_window),
        c.hash_seed,
        u64::from(d.market_data),
        u64::from(d.odds_change_threshold_bps),
        u64::from(d.odds_tick_interval_ms),
        u64::from(d.odds_heartbeat_ms),
        u64::from(d.circuit_breaker_bps),
        u64::from(d.circuit_breaker_window_ms),
        d.circuit_breaker_min_pool_minor as u64,
        u64::from(d.lock_before_end_ms),
    ] {
        h.u64(value);
    }
    h.finish()
}

/// The image of an engine between two inputs.
pub(super) fn image_of<B: OrderBook>(engine: &Engine<B>) -> EngineImage {
    let header = ImageHeader {
        state_hash: engine.state_hash(),
        seq: engine.seq,
        ts_ns: engine.ts_ns,
        next_order_id: engine.next_order_id,
        next_deadline_ns: engine.next_deadline_ns,
        config: engine.config.clone(),
    };
    let (slots, free_head, live) = engine.orders.parts();
    EngineImage {
        seal: seal(&header),
        header,
        accounts: engine.accounts.clone(),
        markets: engine
            .markets
            .iter()
            .map(|market| market_image(engine, market))
            .collect(),
        slots: slots.to_vec(),
        free_head,
        live,
        client_order_ids: engine
            .client_order_ids
            .iter()
            .map(|((account, client_order_id), order_id)| (account, client_order_id, order_id))
            .collect(),
        transfer_ids: engine.transfer_ids.iter().map(|(id, ())| id).collect(),
        deposits_minor: engine.deposits_minor,
        withdrawals_minor: engine.withdrawals_minor,
        deadlines: engine.deadlines.iter().copied().collect(),
    }
}

fn market_image<B: OrderBook>(engine: &Engine<B>, market: &Market<B>) -> MarketImage {
    // Between inputs nothing is left marked for publication.
    debug_assert!(market.dirty == 0 && market.dirty_depth == 0);
    debug_assert!(!market.touched && !market.status_changed);
    let books = market
        .books
        .iter()
        .map(|book| {
            let mut slots = Vec::new();
            book.for_each(&engine.orders, &mut |slot| slots.push(slot));
            slots
        })
        .collect();
    let positions = market
        .positions
        .iter()
        .map(|position| {
            let mut orders = Vec::new();
            let mut slot = position.orders.head;
            while slot != NIL {
                orders.push(slot);
                slot = engine.orders[slot].position_next;
            }
            PositionImage {
                account: position.account,
                outcomes: position.outcomes.to_vec(),
                exposure_minor: position.exposure_minor,
                orders,
            }
        })
        .collect();
    MarketImage {
        id: market.id,
        kind: market.kind,
        status: market.status,
        places: market.places,
        ladder: market.ladder,
        commission_bps: market.commission_bps,
        selections: market.selections.to_vec(),
        books,
        positions,
        rules: market.rules,
        book_seq: market.book_seq,
        odds: market.odds.clone(),
        pool: market.pool.clone(),
        delayed: market.delayed.iter().copied().collect(),
        votes: market.votes.as_deref().cloned(),
        scheduled_ns: market.scheduled_ns,
    }
}

/// Refuses the image with `detail` unless `condition` holds.
fn ensure(condition: bool, detail: impl FnOnce() -> String) -> Result<(), SnapshotError> {
    if condition {
        Ok(())
    } else {
        Err(SnapshotError::Inconsistent(detail()))
    }
}

/// The largest magnitude a position's outcome may have in an image, in hundredths of a minor
/// unit. Real positions stay far below (a stake of at most 10^12 at odds of at most 1000 adds
/// 10^17); the bound keeps every sum over selections and positions inside `i128`.
const MAX_OUTCOME: i128 = 1 << 96;

const NS_PER_MS: u64 = 1_000_000;

/// Rebuilds the engine an image describes, or says what is wrong with it.
pub(super) fn restore<B: OrderBook>(image: EngineImage) -> Result<Engine<B>, SnapshotError> {
    let EngineImage {
        header,
        seal: _,
        accounts,
        markets: market_images,
        mut slots,
        free_head,
        live,
        client_order_ids,
        transfer_ids,
        deposits_minor,
        withdrawals_minor,
        deadlines,
    } = image;
    let config = &header.config;
    check_counts(&header, accounts.len(), market_images.len(), slots.len())?;
    ensure(
        client_order_ids.len() <= config.client_order_id_window as usize
            && transfer_ids.len() <= config.transfer_id_window as usize,
        || "an idempotency window holds more keys than its size".into(),
    )?;
    ensure(deposits_minor >= 0 && withdrawals_minor >= 0, || {
        "negative deposit or withdrawal totals".into()
    })?;
    let account_index = index_accounts(&accounts)?;
    let api_keys = index_api_keys(&accounts)?;
    let account_count = accounts.len();
    for (index, account) in accounts.iter().enumerate() {
        for &(market, position) in &account.positions {
            let held = market_images
                .get(market as usize)
                .is_some_and(|m| (position as usize) < m.positions.len());
            ensure(held, || {
                format!("account at {index} lists a position that does not exist")
            })?;
        }
    }

    // Markets, without their books and position lists (those need the orders).
    let mut markets: Vec<Market<B>> = Vec::with_capacity(market_images.len());
    let mut market_index = FxHashMap::default();
    let mut book_lists = Vec::with_capacity(market_images.len());
    let mut position_lists = Vec::with_capacity(market_images.len());
    for (index, image) in market_images.into_iter().enumerate() {
        let id = image.id;
        ensure(market_index.insert(id, index as u32).is_none(), || {
            format!("market {} appears twice", id.0)
        })?;
        let (market, books, positions) = restore_market(image, account_count, &header)?;
        markets.push(market);
        book_lists.push(books);
        position_lists.push(positions);
    }

    // Orders: the free list, then every live order in exactly one book or delay queue and in
    // exactly one position list.
    let mut state = slot_states(&slots, free_head, live)?;
    let mut order_index = FxHashMap::default();
    for (slot, order) in slots.iter_mut().enumerate() {
        if state[slot] == FREE {
            continue;
        }
        check_order(order, &markets, account_count, header.next_order_id)?;
        ensure(order_index.insert(order.id, slot as u32).is_none(), || {
            format!("order {} is live twice", order.id.0)
        })?;
        // Links are rebuilt below from the books and position lists.
        order.prev = NIL;
        order.next = NIL;
        order.position_prev = NIL;
        order.position_next = NIL;
    }
    for (market_index, lists) in book_lists.iter().enumerate() {
        for (selection, list) in lists.iter().enumerate() {
            for &slot in list {
                let order = place(&mut state, &slots, slot, PLACED)?;
                ensure(
                    order.market as usize == market_index
                        && usize::from(order.selection) == selection
                        && !order.delayed,
                    || format!("order {} rests in the wrong book", order.id.0),
                )?;
            }
        }
    }
    for (market_index, market) in markets.iter().enumerate() {
        for &(slot, order_id, _) in &market.delayed {
            let waiting = order_index.get(&order_id) == Some(&slot) && slots[slot as usize].delayed;
            if waiting {
                let order = place(&mut state, &slots, slot, PLACED)?;
                ensure(order.market as usize == market_index, || {
                    format!("order {} waits on the wrong market", order_id.0)
                })?;
            }
        }
    }
    for (market_index, lists) in position_lists.iter().enumerate() {
        for (position, list) in lists.iter().enumerate() {
            for &slot in list {
                let order = place(&mut state, &slots, slot, LISTED)?;
                ensure(
                    order.market as usize == market_index && order.position as usize == position,
                    || format!("order {} is on the wrong position list", order.id.0),
                )?;
            }
        }
    }
    if let Some(slot) = state
        .iter()
        .position(|s| *s != FREE && *s != PLACED | LISTED)
    {
        return Err(SnapshotError::Inconsistent(format!(
            "order {} is not in exactly one book and one position list",
            slots[slot].id.0
        )));
    }

    // Deadlines.
    ensure(
        deadlines.windows(2).all(|pair| pair[0] < pair[1])
            && deadlines
                .iter()
                .all(|(_, index)| (*index as usize) < markets.len()),
        || "the deadline set is not a sorted set of markets".into(),
    )?;

    // Everything is in range: assemble, reserving memory as `Engine::new` does.
    let mut engine = Engine::<B>::new(header.config.clone());
    engine.orders = OrderSlab::from_parts(config.max_orders, slots, free_head, live);
    for ((market, books), positions) in markets.iter_mut().zip(book_lists).zip(position_lists) {
        for (book, list) in market.books.iter_mut().zip(books) {
            for slot in list {
                book.rest(&mut engine.orders, slot);
            }
        }
        for (position, list) in market.positions.iter_mut().zip(positions) {
            for slot in list {
                engine.orders.push_back(&mut position.orders, slot);
            }
        }
    }
    for (account, client_order_id, order_id) in client_order_ids {
        let key = (account, client_order_id);
        ensure(
            (account as usize) < account_count
                && order_id.0 < header.next_order_id
                && engine.client_order_ids.get(&key).is_none(),
            || format!("client order id {client_order_id} is out of range or repeated"),
        )?;
        engine.client_order_ids.insert(key, order_id);
    }
    for transfer_id in transfer_ids {
        ensure(engine.transfer_ids.get(&transfer_id).is_none(), || {
            format!("transfer id {transfer_id} is repeated")
        })?;
        engine.transfer_ids.insert(transfer_id, ());
    }
    engine.seq = header.seq;
    engine.ts_ns = header.ts_ns;
    engine.next_order_id = header.next_order_id;
    engine.accounts_by_id = accounts
        .iter()
        .enumerate()
        .map(|(index, account)| (account.id, index as u32))
        .collect();
    engine.accounts = accounts;
    engine.account_index = account_index;
    engine.api_keys = api_keys;
    engine.markets = markets;
    engine.market_index = market_index;
    engine.order_index = order_index;
    engine.deposits_minor = deposits_minor;
    engine.withdrawals_minor = withdrawals_minor;
    engine.deadlines = deadlines.into_iter().collect::<BTreeSet<_>>();
    engine.next_deadline_ns = header.next_deadline_ns;

    engine.validate().map_err(SnapshotError::Invalid)?;
    let computed = engine.state_hash();
    if computed != header.state_hash {
        return Err(SnapshotError::StateHash {
            recorded: header.state_hash,
            computed,
        });
    }
    Ok(engine)
}

/// Capacities: the engine must be buildable from the configuration, and hold what the image
/// holds.
fn check_counts(
    header: &ImageHeader,
    accounts: usize,
    markets: usize,
    slots: usize,
) -> Result<(), SnapshotError> {
    let config = &header.config;
    ensure(config.max_orders < NIL, || {
        format!("max_orders {} is too large", config.max_orders)
    })?;
    ensure(
        config.client_order_id_window > 0 && config.transfer_id_window > 0,
        || "an idempotency window of size 0".into(),
    )?;
    // The two house accounts exist whatever the capacity.
    ensure(
        accounts <= (config.max_accounts as usize).max(2)
            && markets <= config.max_markets as usize
            && slots <= config.max_orders as usize,
        || "more accounts, markets or order slots than the configuration allows".into(),
    )?;
    ensure(header.next_order_id >= 1, || "order ids start at 1".into())
}

/// The account index, after checking that ids are distinct and the house accounts come first.
fn index_accounts(accounts: &[Account]) -> Result<FxHashMap<AccountId, u32>, SnapshotError> {
    let house = [AccountId::HOUSE_ROUNDING, AccountId::HOUSE_COMMISSION];
    ensure(
        accounts.len() >= 2
            && accounts[..2]
                .iter()
                .zip(house)
                .all(|(account, id)| account.id == id && account.tier == Tier::House),
        || "the house accounts are not first".into(),
    )?;
    let mut index = FxHashMap::default();
    for (n, account) in accounts.iter().enumerate() {
        ensure(index.insert(account.id, n as u32).is_none(), || {
            format!("account {} appears twice", account.id.0)
        })?;
    }
    Ok(index)
}

/// The API key index, after checking that key ids are distinct and not 0 and that no house
/// account holds a key.
fn index_api_keys(accounts: &[Account]) -> Result<FxHashMap<u64, u32>, SnapshotError> {
    let mut index = FxHashMap::default();
    for (n, account) in accounts.iter().enumerate() {
        let Some((key_id, _)) = account.api_key else {
            continue;
        };
        ensure(key_id != 0 && account.tier != Tier::House, || {
            format!("account {} holds an impossible API key", account.id.0)
        })?;
        ensure(index.insert(key_id, n as u32).is_none(), || {
            format!("API key id {key_id} belongs to two accounts")
        })?;
    }
    Ok(index)
}

/// A market with empty books and position lists, and the slots that go in them.
#[allow(clippy::type_complexity)]
fn restore_market<B: OrderBook>(
    image: MarketImage,
    account_count: usize,
    header: &ImageHeader,
) -> Result<(Market<B>, Vec<Vec<u32>>, Vec<Vec<u32>>), SnapshotError> {
    let id = image.id.0;
    let n = image.selections.len();
    let selections = &image.selections;
    ensure(
        (2..=MAX_SELECTIONS).contains(&n)
            && selections
                .iter()
                .enumerate()
                .all(|(i, s)| !selections[..i].contains(s)),
        || format!("market {id}: selections are not 2 to {MAX_SELECTIONS} distinct ids"),
    )?;
    let places = usize::from(image.places);
    ensure(
        places >= 1 && places < n && places <= MAX_PLACES && image.commission_bps <= 10_000,
        || format!("market {id}: places or commission out of range"),
    )?;
    ensure(rules_in_range(&image.rules, image.kind), || {
        format!("market {id}: a rule is out of range")
    })?;
    let pools = match image.kind {
        MarketKind::Exchange => 0,
        MarketKind::Pool => n,
    };
    ensure(
        image.books.len() == n
            && image.odds.selections.len() == n
            && image.pool.pools.len() == pools,
        || format!("market {id}: books, odds or pools do not match its selections"),
    )?;
    check_pool(&image.pool, n, account_count, header.next_order_id)
        .map_err(|detail| SnapshotError::Inconsistent(format!("market {id}: {detail}")))?;

    let mut positions = Vec::with_capacity(image.positions.len());
    let mut position_index = FxHashMap::default();
    let mut position_lists = Vec::with_capacity(image.positions.len());
    for (p, position) in image.positions.into_iter().enumerate() {
        let account = position.account;
        ensure(
            (account as usize) < account_count && position.outcomes.len() == n,
            || format!("market {id}: position {p} is malformed"),
        )?;
        ensure(position_index.insert(account, p as u32).is_none(), || {
            format!("market {id}: an account holds two positions")
        })?;
        let exposure = checked_exposure(image.places, &position.outcomes);
        ensure(exposure == Some(position.exposure_minor), || {
            format!("market {id}: position {p} has a wrong or impossible exposure")
        })?;
        positions.push(Position {
            account,
            outcomes: position.outcomes.into_boxed_slice(),
            exposure_minor: position.exposure_minor,
            orders: OrderList::EMPTY,
        });
        position_lists.push(position.orders);
    }

    let votes = match image.votes {
        None => None,
        Some(mut votes) => {
            restore_vote_index(&mut votes, n, account_count)
                .map_err(|detail| SnapshotError::Inconsistent(format!("market {id}: {detail}")))?;
            Some(Box::new(votes))
        }
    };
    let market = Market {
        id: image.id,
        kind: image.kind,
        status: image.status,
        places: image.places,
        ladder: image.ladder,
        commission_bps: image.commission_bps,
        selections: image.selections.into_boxed_slice(),
        books: (0..n).map(|_| B::new(image.ladder.price_count())).collect(),
        positions,
        position_index,
        rules: image.rules,
        book_seq: image.book_seq,
        odds: image.odds,
        pool: image.pool,
        delayed: VecDeque::from(image.delayed),
        votes,
        scheduled_ns: image.scheduled_ns,
        dirty: 0,
        dirty_depth: 0,
        touched: false,
        status_changed: false,
    };
    Ok((market, image.books, position_lists))
}

/// Whether a market's knobs are what `create_market` could have resolved them to.
fn rules_in_range(rules: &MarketRules, kind: MarketKind) -> bool {
    let ms_in = |ns: u64, range: std::ops::RangeInclusive<u32>| {
        ns.is_multiple_of(NS_PER_MS)
            && u32::try_from(ns / NS_PER_MS).is_ok_and(|ms| range.contains(&ms))
    };
    let limit = |v: i64| v == i64::MAX || (1..=MAX_AMOUNT_MINOR).contains(&v);
    let kind_ok = match kind {
        MarketKind::Exchange => rules.takeout_bps == 0 && rules.max_pool_minor == i64::MAX,
        MarketKind::Pool => rules.bet_delay_ns == 0,
    };
    kind_ok
        && TAKEOUT_RANGE.contains(&rules.takeout_bps)
        && limit(rules.max_pool_minor)
        && limit(rules.max_bet_minor)
        && limit(rules.max_exposure_minor)
        && ODDS_CHANGE_THRESHOLD_RANGE.contains(&rules.odds_change_threshold_bps)
        && ms_in(rules.odds_tick_interval_ns, ODDS_TICK_INTERVAL_RANGE)
        && ms_in(rules.odds_heartbeat_ns, ODDS_HEARTBEAT_RANGE)
        && CIRCUIT_BREAKER_RANGE.contains(&rules.circuit_breaker_bps)
        && ms_in(
            rules.circuit_breaker_window_ns,
            CIRCUIT_BREAKER_WINDOW_RANGE,
        )
        && (0..=MAX_AMOUNT_MINOR).contains(&rules.circuit_breaker_min_pool_minor)
        && rules
            .price_band_bps
            .is_none_or(|band| PRICE_BAND_RANGE.contains(&band))
        && ms_in(rules.bet_delay_ns, BET_DELAY_RANGE)
        && rules.lock_at_ns != Some(u64::MAX)
        && rules.close_at_ns != Some(u64::MAX)
        && rules.end_at_ns != Some(u64::MAX)
        && LOCK_BEFORE_END_RANGE.contains(&rules.lock_before_end_ms)
}

/// Bets name existing accounts and selections, stakes are in range, and the live ones add up
/// to at most the largest pool (so that no sum over them overflows).
fn check_pool(
    pool: &PoolState,
    selections: usize,
    account_count: usize,
    next_order_id: u64,
) -> Result<(), String> {
    let mut live_minor: i128 = 0;
    for bet in &pool.bets {
        if (bet.account as usize) >= account_count
            || usize::from(bet.selection) >= selections
            || !(1..=MAX_AMOUNT_MINOR).contains(&bet.stake_minor)
            || bet.id.0 >= next_order_id
        {
            return Err(format!("bet {} is malformed", bet.id.0));
        }
        if bet.live {
            live_minor += i128::from(bet.stake_minor);
        }
    }
    if live_minor > i128::from(MAX_AMOUNT_MINOR) {
        return Err("the pools hold more than the largest pool".into());
    }
    Ok(())
}

/// Checks a vote's entries and rebuilds its account index.
fn restore_vote_index(
    votes: &mut VoteState,
    selections: usize,
    account_count: usize,
) -> Result<(), String> {
    if votes.tally.len() != selections {
        return Err("the vote tally does not match the selections".into());
    }
    let mut weight: i128 = 0;
    votes.index = FxHashMap::default();
    for (entry, &(account, selection, vote_weight)) in votes.votes.iter().enumerate() {
        if (account as usize) >= account_count
            || usize::from(selection) >= selections
            || vote_weight < 1
        {
            return Err(format!("vote {entry} is malformed"));
        }
        weight += i128::from(vote_weight);
        if votes.index.insert(account, entry as u32).is_some() {
            return Err("an account voted twice".into());
        }
    }
    if weight > i128::from(i64::MAX) {
        return Err("the votes weigh more than a tally can hold".into());
    }
    Ok(())
}

/// Slot states while checking orders: free, or live and then placed (in a book or a delay
/// queue) and listed (on a position list).
const FREE: u8 = 1;
const PLACED: u8 = 2;
const LISTED: u8 = 4;

/// Walks the free list; returns each slot's state (free or live), or what is wrong.
fn slot_states(slots: &[Order], free_head: u32, live: u32) -> Result<Vec<u8>, SnapshotError> {
    let mut state = vec![0u8; slots.len()];
    let mut free = 0usize;
    let mut slot = free_head;
    while slot != NIL {
        let index = slot as usize;
        ensure(index < slots.len() && state[index] == 0, || {
            "the free list of order slots is broken".into()
        })?;
        state[index] = FREE;
        free += 1;
        slot = slots[index].next;
    }
    ensure(live as usize + free == slots.len(), || {
        format!(
            "{live} live and {free} free order slots, but {} slots",
            slots.len()
        )
    })?;
    Ok(state)
}

/// Checks that a live order names things that exist.
fn check_order<B>(
    order: &Order,
    markets: &[Market<B>],
    account_count: usize,
    next_order_id: u64,
) -> Result<(), SnapshotError> {
    let fits = (order.account as usize) < account_count
        && (1..next_order_id).contains(&order.id.0)
        && (1..=MAX_AMOUNT_MINOR).contains(&order.remaining_minor)
        && markets.get(order.market as usize).is_some_and(|market| {
            usize::from(order.selection) < market.selections.len()
                && usize::from(order.tick) < market.ladder.price_count()
                && market
                    .positions
                    .get(order.position as usize)
                    .is_some_and(|position| position.account == order.account)
        });
    ensure(fits, || format!("order {} is malformed", order.id.0))
}

/// Marks a live slot as `mark`ed (placed or listed) once; returns its order.
fn place<'a>(
    state: &mut [u8],
    slots: &'a [Order],
    slot: u32,
    mark: u8,
) -> Result<&'a Order, SnapshotError> {
    let index = slot as usize;
    ensure(
        index < slots.len() && state[index] & FREE == 0 && state[index] & mark == 0,
        || format!("order slot {slot} is free, unknown or listed twice"),
    )?;
    state[index] |= mark;
    Ok(&slots[index])
}

/// The exposure [`crate::risk::exposure_minor`] computes, or `None` where an outcome is beyond
/// [`MAX_OUTCOME`] or the exposure does not fit in `i64` (a corrupt position, on which
/// `exposure_minor` would panic).
fn checked_exposure(places: u8, outcomes: &[Contribution]) -> Option<i64> {
    let bounded = -MAX_OUTCOME..=MAX_OUTCOME;
    if outcomes
        .iter()
        .any(|o| !bounded.contains(&o.win) || !bounded.contains(&o.lose))
    {
        return None;
    }
    // With at most 64 selections of at most 2^96 each, nothing below overflows.
    let worst: i128 = if places == 1 {
        let all_lose: i128 = outcomes.iter().map(|o| o.lose).sum();
        let swing = outcomes.iter().map(|o| o.win - o.lose).min().unwrap_or(0);
        all_lose + swing
    } else {
        outcomes.iter().map(|o| o.win.min(o.lose)).sum()
    };
    if worst >= 0 {
        return Some(0);
    }
    i64::try_from((-worst + 99) / 100).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::LadderBook;
    use crate::command::{Command, Input, MarketSpec};
    use crate::event::Event;
    use crate::testkit::StreamGen;
    use crate::types::Side;

    /// An engine in the middle of a random stream: orders resting, positions, pools, votes,
    /// delayed orders.
    fn busy_engine() -> Engine<LadderBook> {
        let inputs = StreamGen::stream(11, 1_500);
        let mut engine: Engine = Engine::new(EngineConfig::small());
        let mut events = Vec::new();
        // Stop before the finale so that markets are still trading.
        for input in &inputs[..inputs.len() - 12] {
            engine.apply(input, &mut events);
        }
        engine.validate().unwrap();
        assert!(engine.live_orders() > 10);
        engine
    }

    /// A named change to an image.
    type Edit = (&'static str, Box<dyn Fn(&mut EngineImage)>);

    fn restored(image: EngineImage) -> Result<Engine<LadderBook>, SnapshotError> {
        restore(image)
    }

    #[test]
    fn an_unedited_image_restores_the_same_engine() {
        let engine = busy_engine();
        let copy = restored(image_of(&engine)).unwrap();
        assert_eq!(copy.state_hash(), engine.state_hash());
        assert_eq!(image_of(&copy), image_of(&engine));
    }

    /// Edits that keep the image well formed but break an invariant `validate()` checks.
    #[test]
    fn images_that_break_an_invariant_are_refused_by_validate() {
        let engine = busy_engine();
        let edits: Vec<Edit> = vec![
            (
                "money not conserved",
                Box::new(|image| image.accounts[2].balance_minor += 1),
            ),
            (
                "exposure not the sum of positions",
                Box::new(|image| image.accounts[2].exposure_minor += 1),
            ),
            (
                "open order count",
                Box::new(|image| image.accounts[3].open_orders += 1),
            ),
            (
                "API secret changed",
                Box::new(|image| {
                    let key = image.accounts[2].api_key.as_mut().unwrap();
                    key.1.0[31] ^= 1;
                }),
            ),
            (
                "API key dropped",
                Box::new(|image| image.accounts[2].api_key = None),
            ),
            (
                "account limits changed",
                Box::new(|image| image.accounts[2].limits.max_open_orders += 1),
            ),
            (
                "end time changed",
                Box::new(|image| {
                    let rules = &mut image.markets[0].rules;
                    rules.end_at_ns = Some(rules.end_at_ns.map_or(1, |end| end + 1));
                }),
            ),
            (
                "lock lead changed",
                Box::new(|image| {
                    let rules = &mut image.markets[0].rules;
                    rules.lock_before_end_ms = 1_000 + (rules.lock_before_end_ms + 1) % 4_000;
                }),
            ),
            (
                "deadline not scheduled",
                Box::new(|image| {
                    let market = image
                        .markets
                        .iter_mut()
                        .find(|m| m.scheduled_ns != u64::MAX)
                        .unwrap();
                    market.scheduled_ns -= 1;
                }),
            ),
            (
                "pool differs from its bets",
                Box::new(|image| {
                    let market = image
                        .markets
                        .iter_mut()
                        .find(|m| m.kind == MarketKind::Pool)
                        .unwrap();
                    market.pool.total_minor += 1;
                }),
            ),
            (
                "book order changed",
                Box::new(|image| {
                    // Swap two orders queued at the same price: time priority changes.
                    let slots = &image.slots;
                    let same_level = |a: u32, b: u32| {
                        let (a, b) = (&slots[a as usize], &slots[b as usize]);
                        a.side == b.side && a.tick == b.tick
                    };
                    let (book, at) = image
                        .markets
                        .iter_mut()
                        .flat_map(|m| m.books.iter_mut())
                        .find_map(|book| {
                            let at = book.windows(2).position(|w| same_level(w[0], w[1]))?;
                            Some((book, at))
                        })
                        .unwrap();
                    book.swap(at, at + 1);
                }),
            ),
        ];
        for (what, edit) in edits {
            let mut image = image_of(&engine);
            edit(&mut image);
            let result = restored(image);
            assert!(
                matches!(
                    result,
                    Err(SnapshotError::Invalid(_) | SnapshotError::StateHash { .. })
                ),
                "{what}: {:?}",
                result.err()
            );
        }
    }

    /// Edits that would make rebuilding index out of bounds, loop or overflow are refused
    /// before anything is rebuilt.
    #[test]
    fn malformed_images_are_refused_before_rebuilding() {
        let engine = busy_engine();
        let live_slot = {
            let image = image_of(&engine);
            image
                .markets
                .iter()
                .flat_map(|m| m.books.iter())
                .flatten()
                .copied()
                .next()
                .unwrap()
        };
        let edits: Vec<Edit> = vec![
            (
                "duplicate account",
                Box::new(|image| {
                    let copy = image.accounts[2].clone();
                    image.accounts.push(copy);
                }),
            ),
            (
                "API key id held twice",
                Box::new(|image| {
                    let key = image.accounts[2].api_key;
                    image.accounts[3].api_key = key;
                }),
            ),
            (
                "API key id 0",
                Box::new(|image| {
                    image.accounts[2].api_key.as_mut().unwrap().0 = 0;
                }),
            ),
            (
                "API key on a house account",
                Box::new(|image| {
                    image.accounts[0].api_key = Some((1, crate::types::ApiSecret([1; 32])));
                }),
            ),
            (
                "house accounts missing",
                Box::new(|image| {
                    image.accounts.remove(0);
                }),
            ),
            (
                "order in two books",
                Box::new(move |image| {
                    image.markets[0].books[0].push(live_slot);
                }),
            ),
            (
                "order in no book",
                Box::new(move |image| {
                    for market in &mut image.markets {
                        for book in &mut market.books {
                            book.retain(|s| *s != live_slot);
                        }
                    }
                }),
            ),
            (
                "slot out of range",
                Box::new(|image| {
                    image.markets[0].books[0].push(u32::MAX - 1);
                }),
            ),
            (
                "free list loops",
                Box::new(|image| {
                    if image.free_head == NIL {
                        image.free_head = 0;
                    } else {
                        let head = image.free_head as usize;
                        image.slots[head].next = image.free_head;
                    }
                }),
            ),
            (
                "order tick off the ladder",
                Box::new(move |image| {
                    image.slots[live_slot as usize].tick = 400;
                }),
            ),
            (
                "order names no account",
                Box::new(move |image| {
                    image.slots[live_slot as usize].account = 1_000_000;
                }),
            ),
            (
                "outcome too large",
                Box::new(|image| {
                    let position = image
                        .markets
                        .iter_mut()
                        .flat_map(|m| m.positions.iter_mut())
                        .next()
                        .unwrap();
                    position.outcomes[0].lose = i128::MIN;
                }),
            ),
            (
                "position lists a missing market",
                Box::new(|image| {
                    image.accounts[2].positions.push((10_000, 0));
                }),
            ),
            (
                "takeout over 100%",
                Box::new(|image| {
                    let market = image
                        .markets
                        .iter_mut()
                        .find(|m| m.kind == MarketKind::Pool)
                        .unwrap();
                    market.rules.takeout_bps = 20_000;
                }),
            ),
            (
                "lock lead out of range",
                Box::new(|image| image.markets[0].rules.lock_before_end_ms = 0),
            ),
            (
                "end time at the deadline set's never",
                Box::new(|image| image.markets[0].rules.end_at_ns = Some(u64::MAX)),
            ),
            (
                "repeated client order id",
                Box::new(|image| {
                    let first = image.client_order_ids[0];
                    image.client_order_ids.push(first);
                }),
            ),
            (
                "vote from nobody",
                Box::new(|image| {
                    let votes = image
                        .markets
                        .iter_mut()
                        .find_map(|m| m.votes.as_mut())
                        .unwrap();
                    votes.votes.push((9_999_999, 0, 1));
                }),
            ),
            (
                "deadline of a missing market",
                Box::new(|image| {
                    image.deadlines.push((u64::MAX, 70_000));
                }),
            ),
            (
                "window of size 0",
                Box::new(|image| {
                    image.header.config.transfer_id_window = 0;
                }),
            ),
        ];
        for (what, edit) in edits {
            let mut image = image_of(&engine);
            edit(&mut image);
            let result = restored(image);
            assert!(
                matches!(result, Err(SnapshotError::Inconsistent(_))),
                "{what}: {:?}",
                result.err()
            );
        }
    }

    #[test]
    fn checked_exposure_agrees_with_the_engine() {
        let mut position = Position::new(0, 3);
        position.add(0, Contribution::matched(Side::Back, 300, 10));
        position.add(1, Contribution::unmatched(Side::Lay, 250, 7));
        for places in [1, 2] {
            assert_eq!(
                checked_exposure(places, &position.outcomes),
                Some(position.exposure(places))
            );
        }
        let huge = [
            Contribution {
                win: 0,
                lose: -MAX_OUTCOME,
            },
            Contribution::ZERO,
        ];
        assert_eq!(checked_exposure(1, &huge), None);
    }

    #[test]
    fn the_seal_covers_the_header() {
        let engine: Engine = Engine::new(EngineConfig::small());
        let mut image = image_of(&engine);
        let sealed = image.seal;
        image.header.config.max_orders += 1;
        assert_ne!(seal(&image.header), sealed);
        // An input moves the sequence number, which the state hash leaves out.
        let mut engine = engine;
        engine.apply(
            &Input {
                ts_ns: 5,
                command: Command::create_market(MarketSpec::default()),
            },
            &mut Vec::<Event>::new(),
        );
        assert_ne!(image_of(&engine).seal, sealed);
    }
}
