//! A small harness for the engine's integration tests.
//!
//! [`Harness`] drives two engines in lockstep, the fast `Engine<LadderBook>` and the naive
//! `Engine<ReferenceBook>`, so that every rule tested here is tested on both books. After every
//! command it checks that both produced the same events and the same state hash, that both pass
//! `validate()`, and that money is conserved. Getters read the fast engine.
//!
//! Commands are built in Rust with small builders ([`AccountSpec`], [`MarketDef`], [`Place`])
//! or parsed from sim lines (`apply_json`). Rejects go through [`Harness::reject`], which also
//! checks that the refused command left the state hash as it was.

// Each test binary uses a different part of the harness.
#![allow(dead_code)]

use oddsmatch_engine::book::ReferenceBook;
use oddsmatch_engine::*;

/// The market most tests trade on.
pub const MARKET: MarketId = MarketId(7);
/// Selections of the default market.
pub const S1: SelectionId = SelectionId(1);
pub const S2: SelectionId = SelectionId(2);
pub const S3: SelectionId = SelectionId(3);
pub const S4: SelectionId = SelectionId(4);

/// Trading accounts used across tests.
pub const ALICE: AccountId = AccountId(1);
pub const BOB: AccountId = AccountId(2);
pub const CAROL: AccountId = AccountId(3);
pub const DAVE: AccountId = AccountId(4);

/// A generous deposit for accounts whose funds are not what a test is about, in minor units.
pub const PLENTY_MINOR: i64 = 1_000_000;

/// Two engines with different books, driven by the same commands.
pub struct Harness {
    engine: Engine,
    reference: Engine<ReferenceBook>,
    ts_ns: u64,
    next_transfer_id: u64,
    next_client_order_id: u64,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Harness {
    /// Empty engines with [`EngineConfig::small`].
    pub fn new() -> Harness {
        Harness::with_config(EngineConfig::small())
    }

    /// Empty engines with the given capacities.
    pub fn with_config(config: EngineConfig) -> Harness {
        let harness = Harness {
            engine: Engine::new(config.clone()),
            reference: Engine::new(config),
            ts_ns: 0,
            next_transfer_id: 1_000_000,
            next_client_order_id: 1_000_000,
        };
        harness.check();
        harness
    }

    /// The fast engine, for getters.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Applies a command stamped with the next timestamp; returns its events.
    pub fn apply(&mut self, command: Command) -> Vec<Event> {
        self.ts_ns += 1;
        let input = Input {
            ts_ns: self.ts_ns,
            command,
        };
        self.apply_input(&input)
    }

    /// Applies a command at `ts_ns` (not before the last input's time); returns its events.
    /// Later commands continue from that time.
    pub fn apply_at(&mut self, ts_ns: u64, command: Command) -> Vec<Event> {
        assert!(ts_ns >= self.ts_ns, "time never goes backwards");
        self.ts_ns = ts_ns;
        let input = Input { ts_ns, command };
        self.apply_input(&input)
    }

    /// The time of the last input applied.
    pub fn now(&self) -> u64 {
        self.ts_ns
    }

    /// Applies one sim line (`{"ts":1,"cmd":...}`); returns its events.
    pub fn apply_json(&mut self, line: &str) -> Vec<Event> {
        let input: Input =
            serde_json::from_str(line).unwrap_or_else(|error| panic!("{line}: {error}"));
        self.ts_ns = self.ts_ns.max(input.ts_ns);
        self.apply_input(&input)
    }

    /// Applies every non-blank line of a sim script; returns all their events.
    pub fn run_json(&mut self, lines: &str) -> Vec<Event> {
        lines
            .lines()
            .filter(|line| !line.trim().is_empty())
            .flat_map(|line| self.apply_json(line))
            .collect()
    }

    fn apply_input(&mut self, input: &Input) -> Vec<Event> {
        let events = self.apply_both(input);
        self.check();
        events
    }

    /// Applies an input to both engines and compares their events, without the whole-state
    /// checks.
    fn apply_both(&mut self, input: &Input) -> Vec<Event> {
        let mut events = Vec::new();
        let seq = self.engine.apply(input, &mut events);
        let mut reference_events = Vec::new();
        let reference_seq = self.reference.apply(input, &mut reference_events);
        assert_eq!(seq, reference_seq, "sequence numbers differ");
        assert_eq!(
            events, reference_events,
            "the ladder book and the reference book disagree on {input:?}"
        );
        events
    }

    /// Places many orders that must all be accepted; returns their ids.
    ///
    /// `validate()` and `state_hash()` walk every live order, so checking after each of
    /// thousands of orders would make filling a MARKET_MAKER's 5,000 open orders quadratic.
    /// The engines are still compared event by event; the whole-state checks run once, at the
    /// end.
    pub fn place_many(&mut self, orders: impl IntoIterator<Item = Place>) -> Vec<OrderId> {
        let ids = orders
            .into_iter()
            .map(|order| {
                let command = self.order_command(order);
                self.ts_ns += 1;
                let input = Input {
                    ts_ns: self.ts_ns,
                    command,
                };
                accepted_id(&self.apply_both(&input))
            })
            .collect();
        self.check();
        ids
    }

    /// Checks both engines' invariants, their agreement and money conservation.
    fn check(&self) {
        if let Err(problem) = self.engine.validate() {
            panic!(
                "ladder engine invalid after seq {}: {problem}",
                self.engine.seq()
            );
        }
        if let Err(problem) = self.reference.validate() {
            panic!(
                "reference engine invalid after seq {}: {problem}",
                self.engine.seq()
            );
        }
        assert_eq!(
            self.engine.state_hash(),
            self.reference.state_hash(),
            "state hashes differ"
        );
        assert_eq!(
            self.engine.total_balance_minor(),
            self.engine.net_deposits_minor(),
            "money not conserved"
        );
    }

    /// Applies a command that must be refused with `reason`: exactly one `rejected` event for
    /// that command, and the state hash unchanged. Returns the event.
    pub fn reject(&mut self, command: Command, reason: RejectReason) -> Event {
        let kind = command.kind();
        let hash_before = self.engine.state_hash();
        let events = self.apply(command);
        assert_eq!(events.len(), 1, "expected one reject, got {events:?}");
        let event = events[0];
        match event {
            Event::Rejected {
                command,
                reason: actual,
                ..
            } => {
                assert_eq!(actual, reason, "wrong reject reason in {event:?}");
                assert_eq!(command, kind, "reject names the wrong command");
            }
            other => panic!("expected a {reason:?} reject, got {other:?}"),
        }
        assert_eq!(
            self.engine.state_hash(),
            hash_before,
            "a rejected command changed the state"
        );
        event
    }

    /// Applies a command that must not be refused; returns its events.
    pub fn accept(&mut self, command: Command) -> Vec<Event> {
        let events = self.apply(command);
        assert!(
            !events.iter().any(|e| matches!(e, Event::Rejected { .. })),
            "unexpected reject: {events:?}"
        );
        events
    }

    // -- accounts and money --

    /// Creates an account as specified; it must succeed.
    pub fn create_account(&mut self, spec: AccountSpec) -> AccountId {
        let events = self.accept(spec.command());
        assert_eq!(
            events,
            vec![Event::AccountCreated {
                account: spec.account,
                tier: spec.tier,
            }]
        );
        spec.account
    }

    /// Creates a default (BASIC, cancel_resting) account and deposits `amount_minor` into it.
    pub fn funded(&mut self, account: AccountId, amount_minor: i64) -> AccountId {
        self.create_account(AccountSpec::new(account));
        self.deposit(account, amount_minor);
        account
    }

    /// A deposit command with a fresh transfer id.
    pub fn deposit_command(&mut self, account: AccountId, amount_minor: i64) -> Command {
        let transfer_id = self.fresh_transfer_id();
        Command::Deposit {
            account,
            amount_minor,
            transfer_id,
        }
    }

    /// Deposits with a fresh transfer id; it must succeed.
    pub fn deposit(&mut self, account: AccountId, amount_minor: i64) -> Vec<Event> {
        let command = self.deposit_command(account, amount_minor);
        self.accept(command)
    }

    /// A transfer id never used before by this harness.
    pub fn fresh_transfer_id(&mut self) -> u64 {
        self.next_transfer_id += 1;
        self.next_transfer_id
    }

    // -- markets --

    /// Creates a market as specified and opens it; both must succeed.
    pub fn open_market(&mut self, spec: MarketDef) -> MarketId {
        self.accept(spec.command());
        let events = self.accept(Command::OpenMarket {
            market: spec.market,
        });
        assert_eq!(
            events.first(),
            Some(&Event::MarketStatus {
                market: spec.market,
                book_seq: 1,
                status: MarketStatus::Open,
                cause: StatusCause::Operator,
            })
        );
        spec.market
    }

    /// The default market: [`MARKET`] with selections 1, 2, 3, one place, no commission.
    pub fn default_market(&mut self) -> MarketId {
        self.open_market(MarketDef::new(MARKET, &[S1, S2, S3]))
    }

    /// Applies a lifecycle command to a market; it must succeed.
    pub fn lifecycle(&mut self, command: Command) -> Vec<Event> {
        self.accept(command)
    }

    // -- orders --

    /// The command for an order, with a fresh client order id unless it names one.
    pub fn order_command(&mut self, order: Place) -> Command {
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

    /// Places an order; returns its events (it may be refused).
    pub fn place(&mut self, order: Place) -> Vec<Event> {
        let command = self.order_command(order);
        self.apply(command)
    }

    /// Places an order that must be accepted; returns its order id.
    pub fn placed(&mut self, order: Place) -> OrderId {
        let events = self.place(order);
        accepted_id(&events)
    }

    /// Places an order that must be refused with `reason`; returns the reject.
    pub fn place_rejected(&mut self, order: Place, reason: RejectReason) -> Event {
        let command = self.order_command(order);
        self.reject(command, reason)
    }

    /// Cancels by order id; returns the events.
    pub fn cancel(
        &mut self,
        account: AccountId,
        market: MarketId,
        order_id: OrderId,
    ) -> Vec<Event> {
        self.apply(Command::CancelOrder {
            account,
            market,
            order_id: Some(order_id),
            client_order_id: None,
        })
    }

    /// Replaces an order; returns the events.
    pub fn replace(
        &mut self,
        account: AccountId,
        order_id: OrderId,
        odds_x100: u32,
        stake_minor: i64,
    ) -> Vec<Event> {
        let market = self.order(order_id).market;
        self.apply(Command::ReplaceOrder {
            account,
            market,
            order_id,
            odds_x100,
            stake_minor,
        })
    }

    /// A live order; panics if it is not live.
    pub fn order(&self, order_id: OrderId) -> OrderView {
        self.engine
            .order(order_id)
            .unwrap_or_else(|| panic!("order {} is not live", order_id.0))
    }

    /// Whether an order is live.
    pub fn is_live(&self, order_id: OrderId) -> bool {
        self.engine.order(order_id).is_some()
    }

    /// The unmatched stake of a live order, or 0 if it is gone.
    pub fn remaining(&self, order_id: OrderId) -> i64 {
        self.engine
            .order(order_id)
            .map_or(0, |order| order.remaining_minor)
    }

    /// One side of a selection's book as `(odds_x100, stake_minor)`, best first.
    pub fn depth(&self, market: MarketId, selection: SelectionId, side: Side) -> Vec<(u32, i64)> {
        self.engine
            .depth(market, selection, side)
            .into_iter()
            .map(|level| (level.odds_x100, level.stake_minor))
            .collect()
    }

    // -- reads --

    /// An account's balance in minor units.
    pub fn balance(&self, account: AccountId) -> i64 {
        self.engine.balance(account).expect("account exists")
    }

    /// An account's total exposure in minor units.
    pub fn exposure(&self, account: AccountId) -> i64 {
        self.engine.exposure(account).expect("account exists")
    }

    /// An account's exposure on one market in minor units.
    pub fn market_exposure(&self, account: AccountId, market: MarketId) -> i64 {
        self.engine
            .market_exposure(account, market)
            .expect("account and market exist")
    }

    /// The current state hash.
    pub fn hash(&self) -> u64 {
        self.engine.state_hash()
    }
}

/// A `create_account` command under construction.
#[derive(Clone, Copy, Debug)]
pub struct AccountSpec {
    pub account: AccountId,
    pub tier: Tier,
    pub min_stake_minor: Option<i64>,
    pub max_stake_minor: Option<i64>,
    pub max_market_exposure_minor: Option<i64>,
    pub max_open_orders: Option<u32>,
    pub stp: SelfTradePrevention,
}

impl AccountSpec {
    /// A BASIC account with the tier's limits and the default self-trade prevention.
    pub fn new(account: AccountId) -> AccountSpec {
        AccountSpec {
            account,
            tier: Tier::Basic,
            min_stake_minor: None,
            max_stake_minor: None,
            max_market_exposure_minor: None,
            max_open_orders: None,
            stp: SelfTradePrevention::CancelResting,
        }
    }

    pub fn tier(self, tier: Tier) -> Self {
        AccountSpec { tier, ..self }
    }

    pub fn stp(self, stp: SelfTradePrevention) -> Self {
        AccountSpec { stp, ..self }
    }

    pub fn min_stake(self, min_stake_minor: i64) -> Self {
        AccountSpec {
            min_stake_minor: Some(min_stake_minor),
            ..self
        }
    }

    pub fn max_stake(self, max_stake_minor: i64) -> Self {
        AccountSpec {
            max_stake_minor: Some(max_stake_minor),
            ..self
        }
    }

    pub fn max_market_exposure(self, max_market_exposure_minor: i64) -> Self {
        AccountSpec {
            max_market_exposure_minor: Some(max_market_exposure_minor),
            ..self
        }
    }

    pub fn max_open_orders(self, max_open_orders: u32) -> Self {
        AccountSpec {
            max_open_orders: Some(max_open_orders),
            ..self
        }
    }

    pub fn command(self) -> Command {
        Command::CreateAccount {
            account: self.account,
            tier: self.tier,
            min_stake_minor: self.min_stake_minor,
            max_stake_minor: self.max_stake_minor,
            max_market_exposure_minor: self.max_market_exposure_minor,
            max_open_orders: self.max_open_orders,
            stp: self.stp,
            role: Role::Trader,
        }
    }
}

/// A `create_market` command under construction: the engine's definition with builder
/// methods for what the tests vary.
#[derive(Clone, Debug)]
pub struct MarketDef {
    pub market: MarketId,
    pub spec: MarketSpec,
}

impl MarketDef {
    /// An exchange market on the betfair ladder with one place and no commission, without
    /// market data (so that tests of trading see only trading events).
    pub fn new(market: MarketId, selections: &[SelectionId]) -> MarketDef {
        let mut spec = MarketSpec::new(market, selections.to_vec());
        spec.market_data = Some(false);
        MarketDef { market, spec }
    }

    /// Changes anything else of the definition.
    pub fn with(mut self, change: impl FnOnce(&mut MarketSpec)) -> Self {
        change(&mut self.spec);
        self
    }

    pub fn places(self, places: u8) -> Self {
        self.with(|s| s.places = places)
    }

    pub fn ladder(self, ladder: LadderKind) -> Self {
        self.with(|s| s.ladder = ladder)
    }

    pub fn commission_bps(self, commission_bps: u16) -> Self {
        self.with(|s| s.commission_bps = commission_bps)
    }

    pub fn command(&self) -> Command {
        let mut spec = self.spec.clone();
        spec.market = self.market;
        Command::create_market(spec)
    }
}

/// A `place_order` command under construction: gtc, lapse, not post-only by default.
#[derive(Clone, Copy, Debug)]
pub struct Place {
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

impl Place {
    /// A back on [`MARKET`].
    pub fn back(account: AccountId, selection: SelectionId, odds_x100: u32, stake: i64) -> Place {
        Place::new(account, Side::Back, selection, odds_x100, stake)
    }

    /// A lay on [`MARKET`].
    pub fn lay(account: AccountId, selection: SelectionId, odds_x100: u32, stake: i64) -> Place {
        Place::new(account, Side::Lay, selection, odds_x100, stake)
    }

    fn new(
        account: AccountId,
        side: Side,
        selection: SelectionId,
        odds_x100: u32,
        stake_minor: i64,
    ) -> Place {
        Place {
            account,
            market: MARKET,
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

    pub fn odds(self, odds_x100: u32) -> Self {
        Place { odds_x100, ..self }
    }

    pub fn on(self, market: MarketId) -> Self {
        Place { market, ..self }
    }

    pub fn ioc(self) -> Self {
        Place {
            tif: TimeInForce::Ioc,
            ..self
        }
    }

    pub fn fok(self) -> Self {
        Place {
            tif: TimeInForce::Fok,
            ..self
        }
    }

    pub fn post_only(self) -> Self {
        Place {
            post_only: true,
            ..self
        }
    }

    pub fn persist(self) -> Self {
        Place {
            persistence: Persistence::Persist,
            ..self
        }
    }

    pub fn cid(self, client_order_id: u64) -> Self {
        Place {
            client_order_id: Some(client_order_id),
            ..self
        }
    }
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

// -- reading events --

/// The id of the order accepted by these events; panics unless exactly one was accepted.
pub fn accepted_id(events: &[Event]) -> OrderId {
    let ids = accepted_ids(events);
    assert_eq!(ids.len(), 1, "expected one accepted order in {events:?}");
    ids[0]
}

/// The ids of every order accepted by these events, in order.
pub fn accepted_ids(events: &[Event]) -> Vec<OrderId> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::OrderAccepted { order_id, .. } => Some(*order_id),
            _ => None,
        })
        .collect()
}

/// A trade, reduced to what tests compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fill {
    pub odds_x100: u32,
    pub stake_minor: i64,
    pub maker: OrderId,
    pub taker: OrderId,
}

/// Every trade in these events, in order.
pub fn trades(events: &[Event]) -> Vec<Fill> {
    events
        .iter()
        .filter_map(|event| match *event {
            Event::Trade {
                odds_x100,
                stake_minor,
                maker_order_id,
                taker_order_id,
                ..
            } => Some(Fill {
                odds_x100,
                stake_minor,
                maker: maker_order_id,
                taker: taker_order_id,
            }),
            _ => None,
        })
        .collect()
}

/// Every cancellation in these events as `(order, cancelled stake, reason)`, in order.
pub fn cancels(events: &[Event]) -> Vec<(OrderId, i64, CancelReason)> {
    events
        .iter()
        .filter_map(|event| match *event {
            Event::OrderCancelled {
                order_id,
                stake_minor,
                reason,
                ..
            } => Some((order_id, stake_minor, reason)),
            _ => None,
        })
        .collect()
}

/// Every `account_settled` in these events as `(account, pnl, commission)`, in order.
pub fn settlements(events: &[Event]) -> Vec<(AccountId, i64, i64)> {
    events
        .iter()
        .filter_map(|event| match *event {
            Event::AccountSettled {
                account,
                pnl_minor,
                commission_minor,
                ..
            } => Some((account, pnl_minor, commission_minor)),
            _ => None,
        })
        .collect()
}

/// Every ledger posting in these events as `(account, kind, amount)`, in order.
pub fn postings(events: &[Event]) -> Vec<(AccountId, PostingKind, i64)> {
    events
        .iter()
        .filter_map(|event| match *event {
            Event::Ledger {
                account,
                kind,
                amount_minor,
                ..
            } => Some((account, kind, amount_minor)),
            _ => None,
        })
        .collect()
}

/// The `order_id` a reject names.
pub fn rejected_order_id(event: &Event) -> Option<OrderId> {
    match event {
        Event::Rejected { order_id, .. } => *order_id,
        other => panic!("not a reject: {other:?}"),
    }
}

/// A [`Fill`] from its parts, for writing expected trades compactly.
pub fn fill(odds_x100: u32, stake_minor: i64, maker: OrderId, taker: OrderId) -> Fill {
    Fill {
        odds_x100,
        stake_minor,
        maker,
        taker,
    }
}

/// A harness with [`ALICE`], [`BOB`], [`CAROL`] and [`DAVE`] (BASIC, [`PLENTY_MINOR`] each)
/// and the open default market.
pub fn four_traders() -> Harness {
    let mut h = Harness::new();
    for account in [ALICE, BOB, CAROL, DAVE] {
        h.funded(account, PLENTY_MINOR);
    }
    h.default_market();
    h
}
