//! Shared helpers of the market-data and timer tests (`market_data.rs`, `timers.rs`).
//!
//! [`Sim`] drives two engines in lockstep, the fast `Engine<LadderBook>` and the naive
//! `Engine<ReferenceBook>`, with inputs stamped by an explicit clock (the tests are about time,
//! so every input names its `ts`). After every input it checks that both engines produced the
//! same events and state hash, that both pass `validate()` (which also compares the displayed
//! depth with a recomputation from the book), that money is conserved, and it hands the events
//! to [`Streams`], which checks the published streams of every market independently of the
//! engine's own odds state:
//!
//! - **book stream**: `book_seq` is gap-free (1, 2, 3, ...) over `market_status`, `trade`,
//!   `book_depth` and `pool_changed`, in the order the events come out; a market without
//!   market data publishes no `book_depth` and no `pool_changed`; `book_depth` levels are
//!   best first, strictly ordered and zero-filled;
//! - **ticks**: `tick_seq` is gap-free; every `odds_tick` is followed at once by one
//!   `selection_odds` per selection, in the market's selection order; `overround_bps` is the sum
//!   of their `implied_bps`; `implied_bps` is the implied probability of the headline odds; the
//!   status shown is the market's status; a market without market data publishes no tick;
//! - **the tick filter, safety**: the first tick of a market is a status tick; a status tick
//!   comes only in an input that changed the market's status; a change tick comes at least
//!   `odds_tick_interval_ms` after the previous tick and shows some selection's odds moved by at
//!   least `odds_change_threshold_bps` from the previous tick's; a heartbeat comes at least
//!   `odds_heartbeat_ms` after the previous tick, while the market is open or suspended;
//! - **the two streams agree**: every tick shows the odds as the book stream has them at that
//!   point of the output (best levels of the latest `book_depth`, last traded odds and matched
//!   stake of the trades, pools of `pool_changed`, the feed's latest probabilities); and after
//!   every input the latest `book_depth` of every side is the best three levels of
//!   `Engine::depth`;
//! - **the tick filter, liveness**: after every input, on a trading market, the heartbeat is not
//!   overdue, and no displayed odds have moved by the threshold from the last tick's while the
//!   interval has passed since it (whatever was owed was published by the input).
//!
//! Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;

use oddsmatch_engine::book::ReferenceBook;
use oddsmatch_engine::*;

/// One millisecond in nanoseconds.
pub const MS: u64 = 1_000_000;
/// One second in nanoseconds.
pub const SECOND: u64 = 1_000 * MS;
/// The time most scenarios start at.
pub const T0: u64 = 1_000 * SECOND;

/// A generous deposit for accounts whose funds are not what a test is about, in minor units.
pub const PLENTY_MINOR: i64 = 1_000_000_000;

// ---------------------------------------------------------------------------------------------
// The simulator
// ---------------------------------------------------------------------------------------------

/// Two engines with different books, driven by the same timed inputs, and the checker of their
/// published streams.
pub struct Sim {
    engine: Engine,
    reference: Engine<ReferenceBook>,
    now_ns: u64,
    next_client_order_id: u64,
    next_transfer_id: u64,
    /// The streams published so far, market by market.
    pub streams: Streams,
    /// Every input applied, with its events.
    pub log: Vec<(Input, Vec<Event>)>,
}

impl Default for Sim {
    fn default() -> Self {
        Sim::new()
    }
}

impl Sim {
    /// Empty engines with [`EngineConfig::small`].
    pub fn new() -> Sim {
        let config = EngineConfig::small();
        Sim {
            streams: Streams::new(config.market_defaults),
            engine: Engine::new(config.clone()),
            reference: Engine::new(config),
            now_ns: 0,
            // Far from the small ids tests name themselves.
            next_client_order_id: 1_000_000,
            next_transfer_id: 0,
            log: Vec::new(),
        }
    }

    /// The fast engine, for getters.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The timestamp of the last input.
    pub fn now(&self) -> u64 {
        self.now_ns
    }

    /// Applies `command` at `ts_ns` (never earlier than the previous input) to both engines,
    /// checks everything the module documentation lists, and returns the events.
    pub fn at(&mut self, ts_ns: u64, command: Command) -> Vec<Event> {
        assert!(ts_ns >= self.now_ns, "time went backwards");
        self.now_ns = ts_ns;
        let input = Input { ts_ns, command };
        let mut events = Vec::new();
        let seq = self.engine.apply(&input, &mut events);
        let mut reference_events = Vec::new();
        let reference_seq = self.reference.apply(&input, &mut reference_events);
        assert_eq!(seq, reference_seq);
        assert_eq!(
            events, reference_events,
            "the ladder book and the reference book disagree on {input:?}"
        );
        if let Err(problem) = self.engine.validate() {
            panic!("ladder engine invalid after {input:?}: {problem}\nevents: {events:#?}");
        }
        if let Err(problem) = self.reference.validate() {
            panic!("reference engine invalid after {input:?}: {problem}");
        }
        assert_eq!(self.engine.state_hash(), self.reference.state_hash());
        assert_eq!(
            self.engine.total_balance_minor(),
            self.engine.net_deposits_minor(),
            "money not conserved"
        );
        self.streams.observe(&self.engine, &input, &events);
        self.log.push((input, events.clone()));
        events
    }

    /// Applies `command` `dt_ns` after the previous input.
    pub fn after(&mut self, dt_ns: u64, command: Command) -> Vec<Event> {
        self.at(self.now_ns + dt_ns, command)
    }

    /// A `timer {}` input at `ts_ns`.
    pub fn timer(&mut self, ts_ns: u64) -> Vec<Event> {
        self.at(ts_ns, Command::Timer {})
    }

    /// Applies a command that must be refused with `reason` and change nothing; returns the
    /// reject, which must be the only event.
    pub fn reject(&mut self, ts_ns: u64, command: Command, reason: RejectReason) -> Event {
        let kind = command.kind();
        let hash_before = self.engine.state_hash();
        let events = self.at(ts_ns, command);
        assert_eq!(events.len(), 1, "expected one reject, got {events:#?}");
        match events[0] {
            Event::Rejected {
                command,
                reason: actual,
                ..
            } => {
                assert_eq!((command, actual), (kind, reason), "{events:?}");
            }
            other => panic!("expected a {reason:?} reject, got {other:?}"),
        }
        assert_eq!(
            self.engine.state_hash(),
            hash_before,
            "a reject changed state"
        );
        events[0]
    }

    /// Creates a BASIC trader and deposits [`PLENTY_MINOR`] at `ts_ns`.
    pub fn trader(&mut self, ts_ns: u64, account: AccountId) -> AccountId {
        let events = self.at(ts_ns, Command::create_account(account, Tier::Basic));
        assert_eq!(
            events,
            vec![Event::AccountCreated {
                account,
                tier: Tier::Basic
            }]
        );
        self.next_transfer_id += 1;
        let events = self.at(
            ts_ns,
            Command::Deposit {
                account,
                amount_minor: PLENTY_MINOR,
                transfer_id: self.next_transfer_id,
            },
        );
        assert_eq!(events.len(), 1);
        account
    }

    /// Creates a feed account at `ts_ns`.
    pub fn feed(&mut self, ts_ns: u64, account: AccountId) -> AccountId {
        let mut command = Command::create_account(account, Tier::Basic);
        if let Command::CreateAccount { role, .. } = &mut command {
            *role = Role::Feed;
        }
        self.at(ts_ns, command);
        account
    }

    /// Creates a market, which must be accepted; returns its events.
    pub fn create(&mut self, ts_ns: u64, spec: MarketSpec) -> Vec<Event> {
        let market = spec.market;
        let events = self.at(ts_ns, Command::create_market(spec));
        assert!(
            matches!(events.first(), Some(Event::MarketCreated { market: m, .. }) if *m == market),
            "market not created: {events:?}"
        );
        events
    }

    /// Opens a market; returns the events.
    pub fn open(&mut self, ts_ns: u64, market: MarketId) -> Vec<Event> {
        self.at(ts_ns, Command::OpenMarket { market })
    }

    /// Creates and opens a market at `ts_ns`; returns the opening's events.
    pub fn open_new(&mut self, ts_ns: u64, spec: MarketSpec) -> Vec<Event> {
        let market = spec.market;
        self.create(ts_ns, spec);
        self.open(ts_ns, market)
    }

    /// The command for an order, with a fresh client order id unless it names one.
    pub fn order_command(&mut self, order: NewOrder) -> Command {
        let client_order_id = order.client_order_id.unwrap_or_else(|| {
            self.next_client_order_id += 1;
            self.next_client_order_id
        });
        Command::PlaceOrder {
            account: order.account,
            market: order.market,
            selection: order.selection,
            side: order.side,
            odds_x100: order.odds_x100,
            stake_minor: order.stake_minor,
            tif: order.tif,
            post_only: order.post_only,
            persistence: order.persistence,
            client_order_id,
        }
    }

    /// Places an order at `ts_ns`; returns the events.
    pub fn place(&mut self, ts_ns: u64, order: NewOrder) -> Vec<Event> {
        let command = self.order_command(order);
        self.at(ts_ns, command)
    }

    /// Places an order that must be accepted at `ts_ns`; returns its id.
    pub fn placed(&mut self, ts_ns: u64, order: NewOrder) -> OrderId {
        let events = self.place(ts_ns, order);
        accepted_id(&events)
    }

    /// Cancels an order at `ts_ns`; returns the events.
    pub fn cancel(&mut self, ts_ns: u64, order: OrderId) -> Vec<Event> {
        let view = self.order(order);
        self.at(
            ts_ns,
            Command::CancelOrder {
                account: view.account,
                market: view.market,
                order_id: Some(order),
                client_order_id: None,
            },
        )
    }

    /// Replaces an order at `ts_ns`; returns the events.
    pub fn replace(
        &mut self,
        ts_ns: u64,
        order: OrderId,
        odds_x100: u32,
        stake: i64,
    ) -> Vec<Event> {
        let view = self.order(order);
        self.at(
            ts_ns,
            Command::ReplaceOrder {
                account: view.account,
                market: view.market,
                order_id: order,
                odds_x100,
                stake_minor: stake,
            },
        )
    }

    /// A live order; panics if it is not live.
    pub fn order(&self, order: OrderId) -> OrderView {
        self.engine
            .order(order)
            .unwrap_or_else(|| panic!("order {} is not live", order.0))
    }

    /// One side of a selection's book as `(odds_x100, stake_minor)`, best first.
    pub fn depth(&self, market: MarketId, selection: SelectionId, side: Side) -> Vec<(u32, i64)> {
        levels_of(&self.engine, market, selection, side)
    }
}

/// One side of a selection's book as `(odds_x100, stake_minor)`, best first, from
/// [`Engine::depth`].
pub fn levels_of(
    engine: &Engine,
    market: MarketId,
    selection: SelectionId,
    side: Side,
) -> Vec<(u32, i64)> {
    engine
        .depth(market, selection, side)
        .into_iter()
        .map(|level| (level.odds_x100, level.stake_minor))
        .collect()
}

/// A `place_order` under construction: good till cancelled, lapse, not post-only.
#[derive(Clone, Copy, Debug)]
pub struct NewOrder {
    pub account: AccountId,
    pub market: MarketId,
    pub selection: SelectionId,
    pub side: Side,
    pub odds_x100: u32,
    pub stake_minor: i64,
    pub tif: TimeInForce,
    pub post_only: bool,
    pub persistence: Persistence,
    pub client_order_id: Option<u64>,
}

impl NewOrder {
    /// A back.
    pub fn back(
        account: AccountId,
        market: MarketId,
        selection: SelectionId,
        odds_x100: u32,
        stake_minor: i64,
    ) -> NewOrder {
        NewOrder::new(
            account,
            market,
            selection,
            Side::Back,
            odds_x100,
            stake_minor,
        )
    }

    /// A lay.
    pub fn lay(
        account: AccountId,
        market: MarketId,
        selection: SelectionId,
        odds_x100: u32,
        stake_minor: i64,
    ) -> NewOrder {
        NewOrder::new(
            account,
            market,
            selection,
            Side::Lay,
            odds_x100,
            stake_minor,
        )
    }

    /// An order of either side.
    pub fn new(
        account: AccountId,
        market: MarketId,
        selection: SelectionId,
        side: Side,
        odds_x100: u32,
        stake_minor: i64,
    ) -> NewOrder {
        NewOrder {
            account,
            market,
            selection,
            side,
            odds_x100,
            stake_minor,
            tif: TimeInForce::Gtc,
            post_only: false,
            persistence: Persistence::Lapse,
            client_order_id: None,
        }
    }

    pub fn ioc(self) -> Self {
        NewOrder {
            tif: TimeInForce::Ioc,
            ..self
        }
    }

    pub fn fok(self) -> Self {
        NewOrder {
            tif: TimeInForce::Fok,
            ..self
        }
    }

    pub fn post_only(self) -> Self {
        NewOrder {
            post_only: true,
            ..self
        }
    }

    pub fn persist(self) -> Self {
        NewOrder {
            persistence: Persistence::Persist,
            ..self
        }
    }

    pub fn cid(self, client_order_id: u64) -> Self {
        NewOrder {
            client_order_id: Some(client_order_id),
            ..self
        }
    }
}

/// An exchange market with market data on and every other knob at its default.
pub fn exchange(market: MarketId, selections: &[SelectionId]) -> MarketSpec {
    let mut spec = MarketSpec::new(market, selections.to_vec());
    spec.market_data = Some(true);
    spec
}

/// A one-selection quote for a mass quote; `None` leaves that side unquoted.
pub fn quote(selection: SelectionId, back: Option<(u32, i64)>, lay: Option<(u32, i64)>) -> Quote {
    Quote {
        selection,
        back_odds_x100: back.map(|(odds, _)| odds),
        back_stake_minor: back.map(|(_, stake)| stake),
        lay_odds_x100: lay.map(|(odds, _)| odds),
        lay_stake_minor: lay.map(|(_, stake)| stake),
    }
}

// ---------------------------------------------------------------------------------------------
// Expected events
// ---------------------------------------------------------------------------------------------

/// A `market_status` event.
pub fn status_event(
    market: MarketId,
    book_seq: u64,
    status: MarketStatus,
    cause: StatusCause,
) -> Event {
    Event::MarketStatus {
        market,
        book_seq,
        status,
        cause,
    }
}

/// A `book_depth` event showing `levels` (best first, at most three; the rest zero-filled).
pub fn depth_event(
    market: MarketId,
    book_seq: u64,
    selection: SelectionId,
    side: Side,
    levels: &[(u32, i64)],
) -> Event {
    let (odds_x100, stakes_minor) = level_arrays(levels);
    Event::BookDepth {
        market,
        book_seq,
        selection,
        side,
        odds_x100,
        stakes_minor,
    }
}

/// The first [`DISPLAY_LEVELS`] of `levels`, zero-filled, as a `book_depth` shows them.
pub fn level_arrays(levels: &[(u32, i64)]) -> ([u32; DISPLAY_LEVELS], [i64; DISPLAY_LEVELS]) {
    let mut odds = [0; DISPLAY_LEVELS];
    let mut stakes = [0; DISPLAY_LEVELS];
    for (n, &(o, s)) in levels.iter().take(DISPLAY_LEVELS).enumerate() {
        odds[n] = o;
        stakes[n] = s;
    }
    (odds, stakes)
}

/// An `odds_tick` header.
pub fn tick_event(
    market: MarketId,
    tick_seq: u64,
    reason: TickReason,
    status: MarketStatus,
    selections: u16,
    overround_bps: u32,
) -> Event {
    Event::OddsTick {
        market,
        tick_seq,
        reason,
        status,
        selections,
        overround_bps,
    }
}

/// The `selection_odds` of an exchange selection with no feed: `back` and `lay` as shown,
/// its implied probability from `back`.
pub fn odds_event(
    market: MarketId,
    selection: SelectionId,
    back_x100: u32,
    lay_x100: u32,
    last_traded_x100: u32,
    matched_minor: i64,
) -> Event {
    Event::SelectionOdds {
        market,
        selection,
        back_x100,
        lay_x100,
        last_traded_x100,
        indicative_x100: 0,
        implied_bps: 1_000_000u32.checked_div(back_x100).unwrap_or(0),
        reference_bps: 0,
        matched_minor,
        pool_minor: 0,
    }
}

/// A whole tick of an exchange market with no feed: header and one `selection_odds` per
/// `(selection, back, lay, last_traded, matched)`.
pub fn tick(
    market: MarketId,
    tick_seq: u64,
    reason: TickReason,
    status: MarketStatus,
    selections: &[(SelectionId, u32, u32, u32, i64)],
) -> Vec<Event> {
    let odds: Vec<Event> = selections
        .iter()
        .map(|&(s, back, lay, last, matched)| odds_event(market, s, back, lay, last, matched))
        .collect();
    let overround = odds
        .iter()
        .map(|e| match e {
            Event::SelectionOdds { implied_bps, .. } => *implied_bps,
            _ => unreachable!(),
        })
        .sum();
    let mut events = vec![tick_event(
        market,
        tick_seq,
        reason,
        status,
        selections.len() as u16,
        overround,
    )];
    events.extend(odds);
    events
}

/// A tick in which no selection has any odds.
pub fn empty_tick(
    market: MarketId,
    tick_seq: u64,
    reason: TickReason,
    status: MarketStatus,
    selections: &[SelectionId],
) -> Vec<Event> {
    let rows: Vec<_> = selections.iter().map(|s| (*s, 0, 0, 0, 0)).collect();
    tick(market, tick_seq, reason, status, &rows)
}

// ---------------------------------------------------------------------------------------------
// Reading events
// ---------------------------------------------------------------------------------------------

/// The id of the one order accepted by these events.
pub fn accepted_id(events: &[Event]) -> OrderId {
    let ids: Vec<OrderId> = events
        .iter()
        .filter_map(|event| match event {
            Event::OrderAccepted { order_id, .. } => Some(*order_id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 1, "expected one accepted order in {events:#?}");
    ids[0]
}

/// The market an event is about, if it names one.
pub fn event_market(event: &Event) -> Option<MarketId> {
    match *event {
        Event::MarketCreated { market, .. }
        | Event::MarketStatus { market, .. }
        | Event::MarketSettled { market, .. }
        | Event::AccountSettled { market, .. }
        | Event::OrderAccepted { market, .. }
        | Event::OrderCancelled { market, .. }
        | Event::OrderReplaced { market, .. }
        | Event::Trade { market, .. }
        | Event::BookDepth { market, .. }
        | Event::PoolChanged { market, .. }
        | Event::OddsTick { market, .. }
        | Event::SelectionOdds { market, .. }
        | Event::BetAccepted { market, .. }
        | Event::BetCancelled { market, .. }
        | Event::BetSettled { market, .. }
        | Event::ReferenceUpdated { market, .. }
        | Event::CircuitBreakerTripped { market, .. }
        | Event::OrderDelayed { market, .. }
        | Event::VoteAccepted { market, .. }
        | Event::VoteResult { market, .. }
        | Event::MarketKnobsSet { market, .. }
        | Event::MarketScheduled { market, .. } => Some(market),
        Event::Rejected { market, .. } => market,
        Event::AccountCreated { .. }
        | Event::Ledger { .. }
        | Event::KillSwitch { .. }
        | Event::Balance { .. }
        | Event::ApiKeySet { .. }
        | Event::AccountLimitsSet { .. } => None,
    }
}

/// The selection an event names, if any.
pub fn event_selection(event: &Event) -> Option<SelectionId> {
    match *event {
        Event::OrderAccepted { selection, .. }
        | Event::OrderCancelled { selection, .. }
        | Event::OrderReplaced { selection, .. }
        | Event::Trade { selection, .. }
        | Event::BookDepth { selection, .. }
        | Event::PoolChanged { selection, .. }
        | Event::SelectionOdds { selection, .. }
        | Event::BetAccepted { selection, .. }
        | Event::BetCancelled { selection, .. }
        | Event::CircuitBreakerTripped { selection, .. }
        | Event::VoteAccepted { selection, .. } => Some(selection),
        _ => None,
    }
}

/// The accounts an event names.
pub fn event_accounts(event: &Event) -> Vec<AccountId> {
    match *event {
        Event::Trade {
            maker_account,
            taker_account,
            ..
        } => vec![maker_account, taker_account],
        Event::AccountCreated { account, .. }
        | Event::Ledger { account, .. }
        | Event::KillSwitch { account, .. }
        | Event::AccountSettled { account, .. }
        | Event::OrderAccepted { account, .. }
        | Event::OrderCancelled { account, .. }
        | Event::OrderReplaced { account, .. }
        | Event::BetAccepted { account, .. }
        | Event::BetCancelled { account, .. }
        | Event::BetSettled { account, .. }
        | Event::ReferenceUpdated { account, .. }
        | Event::OrderDelayed { account, .. }
        | Event::VoteAccepted { account, .. }
        | Event::Balance { account, .. }
        | Event::ApiKeySet { account, .. }
        | Event::AccountLimitsSet { account, .. } => vec![account],
        Event::Rejected { account, .. } => account.into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The order ids an event names (pool bets' ids come from the same sequence).
pub fn event_orders(event: &Event) -> Vec<OrderId> {
    match *event {
        Event::Trade {
            maker_order_id,
            taker_order_id,
            ..
        } => vec![maker_order_id, taker_order_id],
        Event::OrderAccepted { order_id, .. }
        | Event::OrderCancelled { order_id, .. }
        | Event::OrderReplaced { order_id, .. }
        | Event::OrderDelayed { order_id, .. } => vec![order_id],
        Event::BetAccepted { bet_id, .. }
        | Event::BetCancelled { bet_id, .. }
        | Event::BetSettled { bet_id, .. } => vec![bet_id],
        Event::Rejected { order_id, .. } => order_id.into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The book-stream sequence number an event carries, if it is a book-stream event.
pub fn book_seq_of(event: &Event) -> Option<u64> {
    match *event {
        Event::MarketStatus { book_seq, .. }
        | Event::Trade { book_seq, .. }
        | Event::BookDepth { book_seq, .. }
        | Event::PoolChanged { book_seq, .. } => Some(book_seq),
        _ => None,
    }
}

/// Whether `new` moved from `old` by at least `threshold_bps` of `old` (written out from the
/// rule, not taken from the engine): a price appearing or disappearing is a move, two zeros
/// are not.
pub fn moved(old_x100: u32, new_x100: u32, threshold_bps: u32) -> bool {
    match (old_x100, new_x100) {
        (a, b) if a == b => false,
        (0, _) | (_, 0) => true,
        (a, b) => u64::from(a.abs_diff(b)) * 10_000 >= u64::from(threshold_bps) * u64::from(a),
    }
}

// ---------------------------------------------------------------------------------------------
// The stream checker
// ---------------------------------------------------------------------------------------------

/// The tick-filter knobs of a market, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Knobs {
    pub threshold_bps: u32,
    pub interval_ns: u64,
    pub heartbeat_ns: u64,
}

/// One selection of a published tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelectionOdds {
    pub selection: SelectionId,
    pub back_x100: u32,
    pub lay_x100: u32,
    pub last_traded_x100: u32,
    pub indicative_x100: u32,
    pub implied_bps: u32,
    pub reference_bps: u16,
    pub matched_minor: i64,
    pub pool_minor: i64,
}

impl SelectionOdds {
    /// The values the change filter compares: back, lay, indicative and reference fair odds.
    pub fn compared(&self) -> [u32; 4] {
        [
            self.back_x100,
            self.lay_x100,
            self.indicative_x100,
            1_000_000u32
                .checked_div(u32::from(self.reference_bps))
                .unwrap_or(0),
        ]
    }
}

/// One published tick with the time of the input that published it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedTick {
    pub ts_ns: u64,
    pub tick_seq: u64,
    pub reason: TickReason,
    pub status: MarketStatus,
    pub overround_bps: u32,
    pub odds: Vec<SelectionOdds>,
}

/// What the checker knows of one market.
#[derive(Clone, Debug)]
pub struct MarketStream {
    pub kind: MarketKind,
    pub selections: Vec<SelectionId>,
    pub market_data: bool,
    pub knobs: Knobs,
    pub takeout_bps: u16,
    pub status: MarketStatus,
    /// Every book-stream event, in order.
    pub book_events: Vec<Event>,
    /// Every tick, in order.
    pub ticks: Vec<PublishedTick>,
    /// The latest `book_depth` of each (selection, side), as (odds, stakes).
    pub depth: BTreeMap<(SelectionId, bool), ([u32; DISPLAY_LEVELS], [i64; DISPLAY_LEVELS])>,
    /// Per selection: last traded odds and matched stake, from the trades.
    pub traded: BTreeMap<SelectionId, (u32, i64)>,
    /// Per selection: its pool, and the total pool, from `pool_changed`.
    pub pools: BTreeMap<SelectionId, i64>,
    pub pool_total_minor: i64,
    /// The feed's latest probabilities, once it has sent some.
    pub reference_bps: Option<Vec<u16>>,
}

impl MarketStream {
    /// The latest `book_depth` of one side of a selection (all zero before the first).
    pub fn shown(
        &self,
        selection: SelectionId,
        side: Side,
    ) -> ([u32; DISPLAY_LEVELS], [i64; DISPLAY_LEVELS]) {
        self.depth
            .get(&(selection, side == Side::Lay))
            .copied()
            .unwrap_or_default()
    }

    /// The book-stream sequence numbers published so far.
    pub fn book_seqs(&self) -> Vec<u64> {
        self.book_events.iter().filter_map(book_seq_of).collect()
    }

    /// The displayed odds of each selection as the book stream has them: (back, lay,
    /// indicative, reference fair odds).
    pub fn displayed(&self) -> Vec<[u32; 4]> {
        self.selections
            .iter()
            .enumerate()
            .map(|(n, &selection)| {
                let indicative = match self.pools.get(&selection) {
                    Some(&pool) if pool > 0 => {
                        let net = i128::from(self.pool_total_minor)
                            * i128::from(10_000 - self.takeout_bps)
                            / 10_000;
                        u32::try_from(net * 100 / i128::from(pool)).unwrap_or(u32::MAX)
                    }
                    _ => 0,
                };
                let reference = self.reference_bps.as_ref().map_or(0, |p| {
                    1_000_000u32.checked_div(u32::from(p[n])).unwrap_or(0)
                });
                [
                    self.shown(selection, Side::Lay).0[0],
                    self.shown(selection, Side::Back).0[0],
                    indicative,
                    reference,
                ]
            })
            .collect()
    }
}

/// The checker of every market's published streams (see the module documentation).
#[derive(Clone, Debug)]
pub struct Streams {
    defaults: MarketDefaults,
    pub markets: BTreeMap<MarketId, MarketStream>,
}

impl Streams {
    pub fn new(defaults: MarketDefaults) -> Streams {
        Streams {
            defaults,
            markets: BTreeMap::new(),
        }
    }

    /// What the checker knows of a market.
    pub fn market(&self, market: MarketId) -> &MarketStream {
        &self.markets[&market]
    }

    /// Checks one input's events; `engine` is the state after the input.
    pub fn observe(&mut self, engine: &Engine, input: &Input, events: &[Event]) {
        let ts_ns = input.ts_ns;
        if let Command::CreateMarket(spec) = &input.command
            && events
                .iter()
                .any(|e| matches!(e, Event::MarketCreated { market, .. } if *market == spec.market))
        {
            self.register(spec);
        }
        let reference = match &input.command {
            Command::ReferenceOdds {
                probabilities_bps, ..
            } => Some(probabilities_bps.clone()),
            _ => None,
        };
        // Markets whose status changed in this input, and markets that published a tick.
        let mut status_changed: Vec<MarketId> = Vec::new();
        let mut open_tick: Option<(MarketId, PublishedTick, usize)> = None;
        for event in events {
            if let Some((market, tick, count)) = &mut open_tick {
                let Event::SelectionOdds {
                    market: m,
                    selection,
                    back_x100,
                    lay_x100,
                    last_traded_x100,
                    indicative_x100,
                    implied_bps,
                    reference_bps,
                    matched_minor,
                    pool_minor,
                } = *event
                else {
                    panic!("odds_tick of market {market:?} interrupted by {event:?}");
                };
                assert_eq!(m, *market, "selection_odds of another market in a tick");
                let stream = &self.markets[market];
                assert_eq!(
                    selection,
                    stream.selections[tick.odds.len()],
                    "selection_odds out of the market's selection order"
                );
                let headline = if indicative_x100 != 0 {
                    indicative_x100
                } else {
                    back_x100
                };
                assert_eq!(
                    implied_bps,
                    1_000_000u32.checked_div(headline).unwrap_or(0),
                    "implied_bps is not the implied probability of the odds shown: {event:?}"
                );
                tick.odds.push(SelectionOdds {
                    selection,
                    back_x100,
                    lay_x100,
                    last_traded_x100,
                    indicative_x100,
                    implied_bps,
                    reference_bps,
                    matched_minor,
                    pool_minor,
                });
                if tick.odds.len() == *count {
                    let (market, tick, _) = open_tick.take().unwrap();
                    let sum: u32 = tick.odds.iter().map(|o| o.implied_bps).sum();
                    assert_eq!(tick.overround_bps, sum, "overround is not the sum");
                    self.check_tick_rule(market, &tick, &status_changed);
                    self.check_tick_shows_the_book_stream(market, &tick);
                    self.markets.get_mut(&market).unwrap().ticks.push(tick);
                }
                continue;
            }
            let Some(market) = event_market(event) else {
                continue;
            };
            if matches!(event, Event::Rejected { .. }) {
                continue;
            }
            let stream = self
                .markets
                .get_mut(&market)
                .unwrap_or_else(|| panic!("event of an unknown market: {event:?}"));
            if let Some(selection) = event_selection(event) {
                assert!(
                    stream.selections.contains(&selection),
                    "{event:?} names a selection of another market"
                );
            }
            if let Some(book_seq) = book_seq_of(event) {
                let expected = stream.book_events.len() as u64 + 1;
                assert_eq!(book_seq, expected, "book_seq gap at {event:?}");
                stream.book_events.push(*event);
            }
            match *event {
                Event::MarketStatus { status, .. } => {
                    stream.status = status;
                    if !status_changed.contains(&market) {
                        status_changed.push(market);
                    }
                }
                Event::Trade {
                    selection,
                    odds_x100,
                    stake_minor,
                    ..
                } => {
                    let traded = stream.traded.entry(selection).or_default();
                    traded.0 = odds_x100;
                    traded.1 += stake_minor;
                }
                Event::BookDepth {
                    selection,
                    side,
                    odds_x100,
                    stakes_minor,
                    ..
                } => {
                    assert!(stream.market_data, "book_depth without market data");
                    check_levels(side, &odds_x100, &stakes_minor);
                    stream
                        .depth
                        .insert((selection, side == Side::Lay), (odds_x100, stakes_minor));
                }
                Event::PoolChanged {
                    selection,
                    pool_minor,
                    total_minor,
                    ..
                } => {
                    assert!(stream.market_data, "pool_changed without market data");
                    stream.pools.insert(selection, pool_minor);
                    stream.pool_total_minor = total_minor;
                }
                Event::OddsTick {
                    tick_seq,
                    reason,
                    status,
                    selections,
                    overround_bps,
                    ..
                } => {
                    assert!(stream.market_data, "odds_tick without market data");
                    assert_eq!(tick_seq, stream.ticks.len() as u64 + 1, "tick_seq gap");
                    assert_eq!(status, stream.status, "the tick shows another status");
                    assert_eq!(usize::from(selections), stream.selections.len());
                    open_tick = Some((
                        market,
                        PublishedTick {
                            ts_ns,
                            tick_seq,
                            reason,
                            status,
                            overround_bps,
                            odds: Vec::new(),
                        },
                        usize::from(selections),
                    ));
                }
                Event::SelectionOdds { .. } => panic!("selection_odds outside a tick"),
                Event::ReferenceUpdated { .. } => {
                    stream.reference_bps = Some(reference.clone().expect("from reference_odds"));
                }
                _ => {}
            }
        }
        assert!(open_tick.is_none(), "events ended inside a tick");
        self.check_depth(engine);
        self.check_liveness(ts_ns);
    }

    fn register(&mut self, spec: &MarketSpec) {
        let defaults = &self.defaults;
        let knobs = Knobs {
            threshold_bps: u32::from(
                spec.odds_change_threshold_bps
                    .unwrap_or(defaults.odds_change_threshold_bps),
            ),
            interval_ns: u64::from(
                spec.odds_tick_interval_ms
                    .unwrap_or(defaults.odds_tick_interval_ms),
            ) * MS,
            heartbeat_ns: u64::from(spec.odds_heartbeat_ms.unwrap_or(defaults.odds_heartbeat_ms))
                * MS,
        };
        let stream = MarketStream {
            kind: spec.kind,
            selections: spec.selections.clone(),
            market_data: spec.market_data.unwrap_or(defaults.market_data),
            knobs,
            takeout_bps: spec.takeout_bps,
            status: MarketStatus::Pending,
            book_events: Vec::new(),
            ticks: Vec::new(),
            depth: BTreeMap::new(),
            traded: BTreeMap::new(),
            pools: BTreeMap::new(),
            pool_total_minor: 0,
            reference_bps: None,
        };
        assert!(self.markets.insert(spec.market, stream).is_none());
    }

    /// The filter's safety rules for one tick, against the market's previous tick.
    fn check_tick_rule(&self, market: MarketId, tick: &PublishedTick, status_changed: &[MarketId]) {
        let stream = &self.markets[&market];
        let knobs = stream.knobs;
        let Some(previous) = stream.ticks.last() else {
            assert_eq!(
                tick.reason,
                TickReason::Status,
                "the first tick is a status tick"
            );
            return;
        };
        let since = tick.ts_ns - previous.ts_ns;
        match tick.reason {
            TickReason::Status => assert!(
                status_changed.contains(&market),
                "a status tick without a status change: {tick:?}"
            ),
            TickReason::Change => {
                assert!(
                    since >= knobs.interval_ns,
                    "change tick {since} ns after the previous one: {tick:?}"
                );
                let moved_any = tick.odds.iter().zip(&previous.odds).any(|(new, old)| {
                    new.compared()
                        .iter()
                        .zip(old.compared())
                        .any(|(n, o)| moved(o, *n, knobs.threshold_bps))
                });
                assert!(
                    moved_any,
                    "change tick without a move: {previous:?} -> {tick:?}"
                );
            }
            TickReason::Heartbeat => {
                assert!(
                    since >= knobs.heartbeat_ns,
                    "heartbeat {since} ns after the previous tick"
                );
                assert!(matches!(
                    tick.status,
                    MarketStatus::Open | MarketStatus::Suspended
                ));
            }
        }
    }

    /// A tick shows the odds as the book stream has them at that point of the output.
    fn check_tick_shows_the_book_stream(&self, market: MarketId, tick: &PublishedTick) {
        let stream = &self.markets[&market];
        for (odds, displayed) in tick.odds.iter().zip(stream.displayed()) {
            assert_eq!(
                odds.compared(),
                displayed,
                "market {market:?}: the tick does not show the odds of the book stream: {tick:?}"
            );
            let traded = stream.traded.get(&odds.selection).copied();
            assert_eq!(
                (odds.last_traded_x100, odds.matched_minor),
                traded.unwrap_or((0, 0)),
                "last traded odds or matched stake wrong in {odds:?}"
            );
            let pool = stream.pools.get(&odds.selection).copied().unwrap_or(0);
            assert_eq!(odds.pool_minor, pool, "pool wrong in {odds:?}");
            let reference = stream.reference_bps.as_ref();
            let position = stream.selections.iter().position(|s| *s == odds.selection);
            let reference_bps = reference.map_or(0, |p| p[position.unwrap()]);
            assert_eq!(
                odds.reference_bps, reference_bps,
                "reference wrong in {odds:?}"
            );
        }
    }

    /// The latest `book_depth` of every side of every exchange market with market data is the
    /// best three levels of its book.
    fn check_depth(&self, engine: &Engine) {
        self.check_snapshot(engine);
        for (&market, stream) in &self.markets {
            if !stream.market_data || stream.kind != MarketKind::Exchange {
                continue;
            }
            for &selection in &stream.selections {
                for side in [Side::Back, Side::Lay] {
                    let book = levels_of(engine, market, selection, side);
                    assert_eq!(
                        stream.shown(selection, side),
                        level_arrays(&book),
                        "market {market:?} selection {selection:?} {side:?}: the book stream \
                         does not show the book {book:?}"
                    );
                }
            }
        }
    }

    /// The engine's snapshot of each market (`market_odds`, what a subscriber gets before
    /// the incremental events) agrees with what the streams have said so far: the sequence
    /// numbers to continue from, the shown levels, trades and pools.
    fn check_snapshot(&self, engine: &Engine) {
        for (&market, stream) in &self.markets {
            let snapshot = engine.market_odds(market).expect("the market exists");
            assert_eq!(snapshot.status, stream.status, "market {market:?}");
            assert_eq!(
                snapshot.book_seq,
                stream.book_seqs().last().copied().unwrap_or(0),
                "market {market:?}: snapshot book_seq"
            );
            assert_eq!(
                snapshot.tick_seq,
                stream.ticks.last().map_or(0, |t| t.tick_seq),
                "market {market:?}: snapshot tick_seq"
            );
            let selections: Vec<SelectionId> =
                snapshot.selections.iter().map(|s| s.selection).collect();
            assert_eq!(selections, stream.selections);
            if !stream.market_data {
                continue;
            }
            for view in &snapshot.selections {
                let shown = |levels: &oddsmatch_engine::odds::Levels| {
                    (levels.odds_x100, levels.stakes_minor)
                };
                assert_eq!(shown(&view.backs), stream.shown(view.selection, Side::Back));
                assert_eq!(shown(&view.lays), stream.shown(view.selection, Side::Lay));
                let (last, matched) = stream
                    .traded
                    .get(&view.selection)
                    .copied()
                    .unwrap_or((0, 0));
                assert_eq!((view.last_traded_x100, view.matched_minor), (last, matched));
                assert_eq!(
                    view.pool_minor,
                    stream.pools.get(&view.selection).copied().unwrap_or(0)
                );
            }
            assert_eq!(
                snapshot.overround_bps,
                snapshot
                    .selections
                    .iter()
                    .map(|s| s.implied_bps)
                    .sum::<u32>()
            );
        }
    }

    /// After an input, nothing is owed on a trading market: the heartbeat is not overdue, and
    /// no move of the threshold is left unpublished once the interval has passed.
    fn check_liveness(&self, ts_ns: u64) {
        for (&market, stream) in &self.markets {
            if !stream.market_data
                || !matches!(stream.status, MarketStatus::Open | MarketStatus::Suspended)
            {
                continue;
            }
            let Some(last) = stream.ticks.last() else {
                continue;
            };
            let knobs = stream.knobs;
            let since = ts_ns - last.ts_ns;
            assert!(
                since < knobs.heartbeat_ns,
                "market {market:?}: no tick for {since} ns (heartbeat {} ns)",
                knobs.heartbeat_ns
            );
            if since < knobs.interval_ns {
                continue;
            }
            for (odds, displayed) in last.odds.iter().zip(stream.displayed()) {
                let moved_any = odds
                    .compared()
                    .iter()
                    .zip(displayed)
                    .any(|(o, n)| moved(*o, n, knobs.threshold_bps));
                assert!(
                    !moved_any,
                    "market {market:?} at {ts_ns}: {odds:?} moved to {displayed:?} and the \
                     interval has passed, but no tick was published"
                );
            }
        }
    }
}

/// A `book_depth`'s levels are best first, strictly ordered, with positive stakes, then
/// zero-filled.
fn check_levels(side: Side, odds: &[u32; DISPLAY_LEVELS], stakes: &[i64; DISPLAY_LEVELS]) {
    let shown = odds.iter().take_while(|o| **o != 0).count();
    for n in 0..DISPLAY_LEVELS {
        if n < shown {
            assert!(stakes[n] > 0, "empty level shown: {odds:?} {stakes:?}");
        } else {
            assert_eq!((odds[n], stakes[n]), (0, 0), "not zero-filled: {odds:?}");
        }
    }
    for pair in odds[..shown].windows(2) {
        match side {
            Side::Back => assert!(pair[0] < pair[1], "backs not lowest first: {odds:?}"),
            Side::Lay => assert!(pair[0] > pair[1], "lays not highest first: {odds:?}"),
        }
    }
}
