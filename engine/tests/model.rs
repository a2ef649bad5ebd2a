//! Model-based tests: the fast [`LadderBook`] against the naive [`ReferenceBook`].
//!
//! The reference book is written for obviousness, so it is the model: whatever the fast book
//! does differently is a bug in one of them. Two levels are checked:
//!
//! - **engine level**: random but mostly valid command streams over a few accounts and markets
//!   drive an `Engine<LadderBook>` and an `Engine<ReferenceBook>` side by side. After every
//!   command both must have produced the same events and the same state hash, both must pass
//!   `validate()`, a reject must change nothing, money must be conserved (as counted from
//!   the ledger events, independently of the engine's own counters), and every accepted
//!   placement must keep the matching rules (limit price, fill-or-kill, post-only, what rests);
//! - **book level**: the two books are driven directly through [`OrderBook`], each with its own
//!   copy of the order slab, and compared call by call (match steps, taker outcomes,
//!   `fillable`, `crosses`, `best`, `level_stake`, `for_each`).

#[path = "gen/mod.rs"]
mod generators;

use generators::{
    cases_from_env, input, ladder, odds_near, persistence, self_trade_prevention, side,
    time_in_force, trading_tier,
};
use oddsmatch_engine::book::{LadderBook, MatchStep, OrderBook, ReferenceBook, Taker};
use oddsmatch_engine::{
    AccountId, Command, Engine, EngineConfig, Event, LadderKind, MarketId, MarketStatus, Order,
    OrderId, OrderSlab, Persistence, PostingKind, Quote, SelectionId, SelfTradePrevention, Side,
    Tick, Tier, TimeInForce,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

// ---------------------------------------------------------------------------------------------
// Engine level: the scenario
// ---------------------------------------------------------------------------------------------

/// One trading account of a scenario.
#[derive(Clone, Debug)]
struct AccountSpec {
    tier: Tier,
    stp: SelfTradePrevention,
    deposit_minor: i64,
    /// A small open-order limit now and then, so that `max_open_orders` rejects happen.
    max_open_orders: Option<u32>,
}

/// The shape of one market slot. When the market in a slot is settled or voided, a fresh
/// market of the same shape replaces it so that trading goes on.
#[derive(Clone, Debug)]
struct MarketSpec {
    ladder: LadderKind,
    selections: u32,
    places: u8,
    commission_bps: u16,
    /// The tick the scenario's odds cluster around, so that orders actually cross. Some
    /// candidates sit at the ladder's ends and at the fast book's 64-tick word boundaries.
    center_tick: usize,
}

/// Ticks around which a market's prices cluster.
fn center_candidates(ladder: LadderKind) -> &'static [usize] {
    match ladder {
        LadderKind::Betfair => &[0, 30, 62, 64, 100, 126, 128, 200, 349],
        LadderKind::Probability => &[0, 40, 49, 62, 64, 98],
    }
}

fn account_spec() -> impl Strategy<Value = AccountSpec> {
    (
        trading_tier(),
        self_trade_prevention(),
        prop_oneof![1 => 0i64..=5_000, 9 => 5_000i64..=2_000_000],
        prop::option::weighted(0.2, 1u32..=6),
    )
        .prop_map(|(tier, stp, deposit_minor, max_open_orders)| AccountSpec {
            tier,
            stp,
            deposit_minor,
            max_open_orders,
        })
}

fn market_spec() -> impl Strategy<Value = MarketSpec> {
    (
        ladder(),
        2u32..=4,
        1u8..=2,
        prop_oneof![Just(0u16), 1u16..=1_000],
        any::<Index>(),
    )
        .prop_map(|(ladder, selections, places, commission_bps, center)| {
            let candidates = center_candidates(ladder);
            MarketSpec {
                ladder,
                selections,
                // A market needs more selections than winners.
                places: places.min(selections as u8 - 1),
                commission_bps,
                center_tick: candidates[center.index(candidates.len())],
            }
        })
}

// ---------------------------------------------------------------------------------------------
// Engine level: operations
// ---------------------------------------------------------------------------------------------

/// A placement, with every index still to be resolved against the scenario.
#[derive(Clone, Debug)]
struct PlaceSpec {
    account: Index,
    market: Index,
    /// Reduced modulo the market's selection count; biased to the first so that orders meet.
    selection: u8,
    side: Side,
    tick_offset: i8,
    stake_minor: i64,
    tif: TimeInForce,
    post_only: bool,
    persistence: Persistence,
    /// Reuse a client order id the account already used (a duplicate), if it has one.
    reuse_client_order_id: Option<Index>,
}

/// Which known order an operation names.
#[derive(Clone, Debug)]
struct OrderPick {
    index: Index,
    /// Pick among orders still live (usually) or among every order ever accepted.
    live: bool,
    /// Name it on behalf of another account (it must then be unknown to that account).
    other_account: Option<Index>,
}

/// One side of one selection in a mass quote, as a tick offset from the market's centre.
#[derive(Clone, Debug)]
struct QuoteSpec {
    selection: Index,
    back: Option<(i8, i64)>,
    lay: Option<(i8, i64)>,
}

/// One step of a scenario; most expand into one command, settlement into several.
#[derive(Clone, Debug)]
enum Op {
    Place(PlaceSpec),
    Cancel {
        order: OrderPick,
        by_client_order_id: bool,
    },
    Replace {
        order: OrderPick,
        /// New odds as an offset from the centre, or the order's own odds.
        tick_offset: Option<i8>,
        /// New stake as a percentage of the unmatched stake (below 100 keeps priority).
        stake_percent: u16,
    },
    MassCancel {
        account: Index,
        market: Option<Index>,
    },
    MassQuote {
        account: Index,
        market: Index,
        quotes: Vec<QuoteSpec>,
    },
    Suspend {
        market: Index,
    },
    Resume {
        market: Index,
    },
    /// Close (or suspend) then settle, then open a fresh market in the slot.
    Settle {
        market: Index,
        via_suspend: bool,
        first_winner: Index,
    },
    /// Void, then open a fresh market in the slot.
    Void {
        market: Index,
    },
    KillSwitch {
        account: Index,
        on: bool,
    },
    Deposit {
        account: Index,
        amount_minor: i64,
        /// Reuse the last transfer id (a duplicate).
        repeat_transfer_id: bool,
    },
    Withdraw {
        account: Index,
        amount_minor: i64,
    },
    Balances,
}

fn stake_minor() -> impl Strategy<Value = i64> {
    prop_oneof![
        12 => 1i64..=3_000,
        2 => 3_000i64..=60_000,
        1 => -2i64..=0,
    ]
}

fn place_spec() -> impl Strategy<Value = PlaceSpec> {
    (
        (
            any::<Index>(),
            any::<Index>(),
            prop_oneof![2 => Just(0u8), 1 => 0u8..4],
            side(),
            -2i8..=2,
        ),
        (
            stake_minor(),
            time_in_force(),
            prop::bool::weighted(0.15),
            persistence(),
            prop::option::weighted(0.05, any::<Index>()),
        ),
    )
        .prop_map(
            |(
                (account, market, selection, side, tick_offset),
                (stake_minor, tif, post_only, persistence, reuse_client_order_id),
            )| PlaceSpec {
                account,
                market,
                selection,
                side,
                tick_offset,
                stake_minor,
                tif,
                post_only,
                persistence,
                reuse_client_order_id,
            },
        )
}

fn order_pick() -> impl Strategy<Value = OrderPick> {
    (
        any::<Index>(),
        prop::bool::weighted(0.9),
        prop::option::weighted(0.1, any::<Index>()),
    )
        .prop_map(|(index, live, other_account)| OrderPick {
            index,
            live,
            other_account,
        })
}

fn quote_leg(offsets: std::ops::RangeInclusive<i8>) -> impl Strategy<Value = Option<(i8, i64)>> {
    prop::option::weighted(0.8, (offsets, prop_oneof![9 => 1i64..=3_000, 1 => Just(0)]))
}

fn quote_spec() -> impl Strategy<Value = QuoteSpec> {
    // Backs above the centre and lays below it, mostly, so that most quotes are not crossed.
    (any::<Index>(), quote_leg(0..=3), quote_leg(-3..=0)).prop_map(|(selection, back, lay)| {
        QuoteSpec {
            selection,
            back,
            lay,
        }
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        50 => place_spec().prop_map(Op::Place),
        8 => (order_pick(), any::<bool>()).prop_map(|(order, by_client_order_id)| Op::Cancel {
            order,
            by_client_order_id,
        }),
        8 => (order_pick(), prop::option::of(-3i8..=3), 1u16..=200).prop_map(
            |(order, tick_offset, stake_percent)| Op::Replace {
                order,
                tick_offset,
                stake_percent,
            }
        ),
        2 => (any::<Index>(), prop::option::of(any::<Index>()))
            .prop_map(|(account, market)| Op::MassCancel { account, market }),
        6 => (any::<Index>(), any::<Index>(), vec(quote_spec(), 0..=3)).prop_map(
            |(account, market, quotes)| Op::MassQuote {
                account,
                market,
                quotes,
            }
        ),
        1 => any::<Index>().prop_map(|market| Op::Suspend { market }),
        4 => any::<Index>().prop_map(|market| Op::Resume { market }),
        1 => (any::<Index>(), any::<bool>(), any::<Index>()).prop_map(
            |(market, via_suspend, first_winner)| Op::Settle {
                market,
                via_suspend,
                first_winner,
            }
        ),
        1 => any::<Index>().prop_map(|market| Op::Void { market }),
        // Mostly off, so that a kill switch does not stay on for most of a scenario.
        1 => (any::<Index>(), prop::bool::weighted(0.3)).prop_map(|(account, on)| Op::KillSwitch {
            account,
            on,
        }),
        1 => (any::<Index>(), 1i64..=500_000, prop::bool::weighted(0.2)).prop_map(
            |(account, amount_minor, repeat_transfer_id)| Op::Deposit {
                account,
                amount_minor,
                repeat_transfer_id,
            }
        ),
        2 => (any::<Index>(), 1i64..=500_000)
            .prop_map(|(account, amount_minor)| Op::Withdraw { account, amount_minor }),
        1 => Just(Op::Balances),
    ]
}

/// A whole scenario: its accounts, its market slots and what happens.
#[derive(Clone, Debug)]
struct Scenario {
    accounts: Vec<AccountSpec>,
    markets: Vec<MarketSpec>,
    ops: Vec<Op>,
}

fn scenario(max_ops: usize) -> impl Strategy<Value = Scenario> {
    (
        vec(account_spec(), 2..=5),
        vec(market_spec(), 1..=3),
        vec(op(), 1..=max_ops),
    )
        .prop_map(|(accounts, markets, ops)| Scenario {
            accounts,
            markets,
            ops,
        })
}

// ---------------------------------------------------------------------------------------------
// Engine level: the driver
// ---------------------------------------------------------------------------------------------

/// An order the scenario has seen accepted.
#[derive(Clone, Copy, Debug)]
struct KnownOrder {
    order_id: OrderId,
    account: AccountId,
    market: MarketId,
    client_order_id: u64,
}

/// Both engines, fed the same commands, and what the test knows independently of them.
struct Pair {
    fast: Engine<LadderBook>,
    reference: Engine<ReferenceBook>,
    ts_ns: u64,
    accounts: Vec<AccountId>,
    /// The market currently in each slot, with its shape.
    markets: Vec<(MarketId, MarketSpec)>,
    next_market_id: u32,
    next_client_order_id: u64,
    next_transfer_id: u64,
    known: Vec<KnownOrder>,
    /// Sum of every ledger posting seen, in minor units.
    ledger_minor: i128,
    /// Sum of the deposit and withdrawal postings seen, in minor units.
    external_minor: i128,
}

impl Pair {
    fn new() -> Pair {
        Pair {
            fast: Engine::new(EngineConfig::small()),
            reference: Engine::new(EngineConfig::small()),
            ts_ns: 0,
            accounts: Vec::new(),
            markets: Vec::new(),
            next_market_id: 1,
            next_client_order_id: 1,
            next_transfer_id: 1,
            known: Vec::new(),
            ledger_minor: 0,
            external_minor: 0,
        }
    }

    /// Applies one command to both engines and checks everything that must hold after it.
    fn step(&mut self, command: Command) -> Result<Vec<Event>, TestCaseError> {
        self.ts_ns += 1;
        let input = input(self.ts_ns, command);
        let hash_before = self.fast.state_hash();
        let mut fast_events = Vec::new();
        let mut reference_events = Vec::new();
        let fast_seq = self.fast.apply(&input, &mut fast_events);
        let reference_seq = self.reference.apply(&input, &mut reference_events);
        prop_assert_eq!(fast_seq, reference_seq);
        prop_assert_eq!(
            &fast_events,
            &reference_events,
            "the engines disagree on the events of {:?}",
            input
        );
        let hash_after = self.fast.state_hash();
        prop_assert_eq!(
            hash_after,
            self.reference.state_hash(),
            "the engines disagree on the state after {:?}",
            input
        );
        if let Err(problem) = self.fast.validate() {
            return Err(TestCaseError::fail(format!(
                "Engine<LadderBook> invalid after {input:?}: {problem}"
            )));
        }
        if let Err(problem) = self.reference.validate() {
            return Err(TestCaseError::fail(format!(
                "Engine<ReferenceBook> invalid after {input:?}: {problem}"
            )));
        }
        if fast_events
            .iter()
            .any(|e| matches!(e, Event::Rejected { .. }))
        {
            prop_assert_eq!(fast_events.len(), 1, "a reject comes alone: {:?}", input);
            prop_assert_eq!(hash_after, hash_before, "a reject changed the state");
        }
        self.check_money(&fast_events)?;
        self.check_placement(&input.command, &fast_events)?;
        self.check_depth()?;
        self.remember_orders(&fast_events);
        Ok(fast_events)
    }

    /// Money is conserved, counted from the ledger events alone: every posting moves money
    /// between accounts except deposits and withdrawals, so the postings sum to what came in
    /// from outside, and that is what the balances hold.
    fn check_money(&mut self, events: &[Event]) -> Result<(), TestCaseError> {
        for event in events {
            if let Event::Ledger {
                kind, amount_minor, ..
            } = event
            {
                self.ledger_minor += i128::from(*amount_minor);
                if matches!(kind, PostingKind::Deposit | PostingKind::Withdrawal) {
                    self.external_minor += i128::from(*amount_minor);
                }
            }
        }
        prop_assert_eq!(
            self.ledger_minor,
            self.external_minor,
            "postings created money"
        );
        prop_assert_eq!(self.fast.total_balance_minor(), self.external_minor);
        prop_assert_eq!(self.reference.total_balance_minor(), self.external_minor);
        prop_assert_eq!(self.fast.net_deposits_minor(), self.external_minor);
        Ok(())
    }

    /// Rules an accepted placement keeps whatever the book: every trade it takes is at
    /// odds no worse than its limit, a fill-or-kill fills completely, a post-only order takes
    /// nothing, and only a good-till-cancelled order can be left resting, with what did not
    /// match.
    fn check_placement(&self, command: &Command, events: &[Event]) -> Result<(), TestCaseError> {
        let Command::PlaceOrder {
            side,
            odds_x100,
            stake_minor,
            tif,
            post_only,
            ..
        } = *command
        else {
            return Ok(());
        };
        let Some(order_id) = events.iter().find_map(|event| match event {
            Event::OrderAccepted { order_id, .. } => Some(*order_id),
            _ => None,
        }) else {
            return Ok(());
        };
        let mut taken_minor = 0;
        for event in events {
            if let Event::Trade {
                taker_order_id,
                odds_x100: trade_odds_x100,
                stake_minor: trade_minor,
                ..
            } = *event
            {
                prop_assert_eq!(taker_order_id, order_id, "only the new order takes");
                taken_minor += trade_minor;
                match side {
                    Side::Back => prop_assert!(trade_odds_x100 >= odds_x100),
                    Side::Lay => prop_assert!(trade_odds_x100 <= odds_x100),
                }
            }
        }
        if post_only {
            prop_assert_eq!(taken_minor, 0, "a post-only order took liquidity");
        }
        if tif == TimeInForce::Fok {
            prop_assert_eq!(
                taken_minor,
                stake_minor,
                "a fill-or-kill order was not filled"
            );
        }
        match self.fast.order(order_id) {
            Some(view) => {
                prop_assert_eq!(tif, TimeInForce::Gtc, "only gtc orders rest");
                prop_assert_eq!(view.remaining_minor, stake_minor - taken_minor);
            }
            // Gone: filled, or its remainder cancelled (ioc, self-trade prevention).
            None => prop_assert!(
                taken_minor == stake_minor
                    || events.iter().any(|e| matches!(
                        e,
                        Event::OrderCancelled { order_id: id, .. } if *id == order_id
                    )),
                "order {:?} vanished",
                order_id
            ),
        }
        Ok(())
    }

    /// Depth goes through `for_each` and `level_stake`, which the state hash does not use.
    fn check_depth(&self) -> Result<(), TestCaseError> {
        for (market, spec) in &self.markets {
            for selection in 1..=spec.selections {
                for resting_side in [Side::Back, Side::Lay] {
                    let selection = SelectionId(selection);
                    prop_assert_eq!(
                        self.fast.depth(*market, selection, resting_side),
                        self.reference.depth(*market, selection, resting_side),
                        "depth of market {:?} selection {:?} {:?}",
                        market,
                        selection,
                        resting_side
                    );
                }
            }
        }
        Ok(())
    }

    fn remember_orders(&mut self, events: &[Event]) {
        for event in events {
            if let Event::OrderAccepted {
                order_id,
                account,
                market,
                client_order_id,
                ..
            } = *event
            {
                self.known.push(KnownOrder {
                    order_id,
                    account,
                    market,
                    client_order_id,
                });
            }
        }
    }

    /// Applies a command that must be accepted.
    fn step_ok(&mut self, command: Command) -> Result<(), TestCaseError> {
        let events = self.step(command.clone())?;
        prop_assert!(
            !events.iter().any(|e| matches!(e, Event::Rejected { .. })),
            "setup command {:?} was rejected: {:?}",
            command,
            events
        );
        Ok(())
    }

    fn setup(&mut self, scenario: &Scenario) -> Result<(), TestCaseError> {
        for (n, spec) in scenario.accounts.iter().enumerate() {
            let account = AccountId(n as u32 + 1);
            self.step_ok(Command::CreateAccount {
                account,
                tier: spec.tier,
                min_stake_minor: None,
                max_stake_minor: None,
                max_market_exposure_minor: None,
                max_open_orders: spec.max_open_orders,
                stp: spec.stp,
                role: oddsmatch_engine::Role::Trader,
            })?;
            if spec.deposit_minor > 0 {
                let transfer_id = self.transfer_id();
                self.step_ok(Command::Deposit {
                    account,
                    amount_minor: spec.deposit_minor,
                    transfer_id,
                })?;
            }
            self.accounts.push(account);
        }
        for spec in &scenario.markets {
            let market = self.open_market(spec)?;
            self.markets.push((market, spec.clone()));
        }
        Ok(())
    }

    /// Creates and opens a market of the given shape; selections are numbered from 1.
    fn open_market(&mut self, spec: &MarketSpec) -> Result<MarketId, TestCaseError> {
        let market = MarketId(self.next_market_id);
        self.next_market_id += 1;
        self.step_ok(Command::create_market(oddsmatch_engine::MarketSpec {
            market,
            kind: Default::default(),
            selections: (1..=spec.selections).map(SelectionId).collect(),
            places: spec.places,
            ladder: spec.ladder,
            commission_bps: spec.commission_bps,
            ..oddsmatch_engine::MarketSpec::default()
        }))?;
        self.step_ok(Command::OpenMarket { market })?;
        Ok(market)
    }

    fn transfer_id(&mut self) -> u64 {
        let id = self.next_transfer_id;
        self.next_transfer_id += 1;
        id
    }

    fn account(&self, index: &Index) -> AccountId {
        self.accounts[index.index(self.accounts.len())]
    }

    fn slot(&self, index: &Index) -> usize {
        index.index(self.markets.len())
    }

    /// The order an operation names: (the account to name it with, the order), if any order
    /// was ever accepted.
    fn pick_order(&self, pick: &OrderPick) -> Option<(AccountId, KnownOrder)> {
        let live: Vec<KnownOrder> = self
            .known
            .iter()
            .copied()
            .filter(|k| self.fast.order(k.order_id).is_some())
            .collect();
        let pool = if pick.live && !live.is_empty() {
            &live
        } else {
            &self.known
        };
        if pool.is_empty() {
            return None;
        }
        let order = pool[pick.index.index(pool.len())];
        let account = match &pick.other_account {
            Some(other) => self.account(other),
            None => order.account,
        };
        Some((account, order))
    }

    fn run(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Place(spec) => {
                let command = self.place_command(spec);
                self.step(command)?;
            }
            Op::Cancel {
                order,
                by_client_order_id,
            } => {
                let command = match self.pick_order(order) {
                    Some((account, order)) => Command::CancelOrder {
                        account,
                        market: order.market,
                        order_id: (!by_client_order_id).then_some(order.order_id),
                        client_order_id: by_client_order_id.then_some(order.client_order_id),
                    },
                    None => Command::CancelOrder {
                        account: self.accounts[0],
                        market: self.markets[0].0,
                        order_id: Some(OrderId(1)),
                        client_order_id: None,
                    },
                };
                self.step(command)?;
            }
            Op::Replace {
                order,
                tick_offset,
                stake_percent,
            } => {
                let command = self.replace_command(order, *tick_offset, *stake_percent);
                self.step(command)?;
            }
            Op::MassCancel { account, market } => {
                let command = Command::MassCancel {
                    account: self.account(account),
                    market: market.as_ref().map(|m| self.markets[self.slot(m)].0),
                };
                self.step(command)?;
            }
            Op::MassQuote {
                account,
                market,
                quotes,
            } => {
                let (market, spec) = self.markets[self.slot(market)].clone();
                let quotes = quotes
                    .iter()
                    .map(|quote| {
                        let leg = |leg: &Option<(i8, i64)>| {
                            leg.map(|(offset, stake_minor)| {
                                let odds = odds_near(spec.ladder, spec.center_tick, offset.into());
                                (odds, stake_minor)
                            })
                        };
                        let back = leg(&quote.back);
                        let lay = leg(&quote.lay);
                        Quote {
                            selection: SelectionId(
                                quote.selection.index(spec.selections as usize) as u32 + 1,
                            ),
                            back_odds_x100: back.map(|(odds, _)| odds),
                            back_stake_minor: back.map(|(_, stake)| stake),
                            lay_odds_x100: lay.map(|(odds, _)| odds),
                            lay_stake_minor: lay.map(|(_, stake)| stake),
                        }
                    })
                    .collect();
                self.step(Command::MassQuote {
                    account: self.account(account),
                    market,
                    quotes,
                })?;
            }
            Op::Suspend { market } => {
                let market = self.markets[self.slot(market)].0;
                self.step(Command::SuspendMarket { market })?;
            }
            Op::Resume { market } => {
                let market = self.markets[self.slot(market)].0;
                self.step(Command::ResumeMarket { market })?;
            }
            Op::Settle {
                market,
                via_suspend,
                first_winner,
            } => {
                let slot = self.slot(market);
                let first = first_winner.index(self.markets[slot].1.selections as usize);
                self.settle(slot, *via_suspend, first)?;
            }
            Op::Void { market } => {
                let slot = self.slot(market);
                let market = self.markets[slot].0;
                self.step_ok(Command::VoidMarket { market })?;
                self.replace_market(slot)?;
            }
            Op::KillSwitch { account, on } => {
                let account = self.account(account);
                self.step(Command::KillSwitch { account, on: *on })?;
            }
            Op::Deposit {
                account,
                amount_minor,
                repeat_transfer_id,
            } => {
                let transfer_id = if *repeat_transfer_id && self.next_transfer_id > 1 {
                    self.next_transfer_id - 1
                } else {
                    self.transfer_id()
                };
                self.step(Command::Deposit {
                    account: self.account(account),
                    amount_minor: *amount_minor,
                    transfer_id,
                })?;
            }
            Op::Withdraw {
                account,
                amount_minor,
            } => {
                let transfer_id = self.transfer_id();
                self.step(Command::Withdraw {
                    account: self.account(account),
                    amount_minor: *amount_minor,
                    transfer_id,
                })?;
            }
            Op::Balances => {
                self.step(Command::Balances {})?;
            }
        }
        Ok(())
    }

    fn place_command(&mut self, spec: &PlaceSpec) -> Command {
        let account = self.account(&spec.account);
        let (market, market_spec) = self.markets[self.slot(&spec.market)].clone();
        let used: Vec<u64> = self
            .known
            .iter()
            .filter(|k| k.account == account && k.client_order_id != 0)
            .map(|k| k.client_order_id)
            .collect();
        let client_order_id = match &spec.reuse_client_order_id {
            Some(pick) if !used.is_empty() => used[pick.index(used.len())],
            _ => {
                self.next_client_order_id += 1;
                self.next_client_order_id
            }
        };
        Command::PlaceOrder {
            account,
            market,
            selection: SelectionId(u32::from(spec.selection) % market_spec.selections + 1),
            side: spec.side,
            odds_x100: odds_near(
                market_spec.ladder,
                market_spec.center_tick,
                spec.tick_offset.into(),
            ),
            stake_minor: spec.stake_minor,
            tif: spec.tif,
            post_only: spec.post_only,
            persistence: spec.persistence,
            client_order_id,
        }
    }

    fn replace_command(
        &self,
        pick: &OrderPick,
        tick_offset: Option<i8>,
        stake_percent: u16,
    ) -> Command {
        let Some((account, order)) = self.pick_order(pick) else {
            return Command::ReplaceOrder {
                account: self.accounts[0],
                market: self.markets[0].0,
                order_id: OrderId(1),
                odds_x100: 200,
                stake_minor: 100,
            };
        };
        let spec = self
            .markets
            .iter()
            .find(|(market, _)| *market == order.market)
            .map(|(_, spec)| spec);
        // A dead order keeps whatever odds and stake; the replace is refused anyway.
        let (current_odds, remaining_minor) = self
            .fast
            .order(order.order_id)
            .map_or((200, 100), |view| (view.odds_x100, view.remaining_minor));
        let odds_x100 = match (tick_offset, spec) {
            (Some(offset), Some(spec)) => odds_near(spec.ladder, spec.center_tick, offset.into()),
            _ => current_odds,
        };
        let stake_minor = (remaining_minor * i64::from(stake_percent) / 100).max(1);
        Command::ReplaceOrder {
            account,
            market: order.market,
            order_id: order.order_id,
            odds_x100,
            stake_minor,
        }
    }

    /// Settles the market in `slot` with `places` winners starting at selection
    /// `first_winner + 1` (wrapping), then opens a fresh market in the slot.
    fn settle(
        &mut self,
        slot: usize,
        via_suspend: bool,
        first_winner: usize,
    ) -> Result<(), TestCaseError> {
        let (market, spec) = self.markets[slot].clone();
        let status = self.fast.market_status(market);
        if via_suspend {
            if status == Some(MarketStatus::Open) {
                self.step_ok(Command::SuspendMarket { market })?;
            }
        } else {
            self.step_ok(Command::CloseMarket { market })?;
        }
        let winners = (0..u32::from(spec.places))
            .map(|k| SelectionId((first_winner as u32 + k) % spec.selections + 1))
            .collect();
        self.step_ok(Command::SettleMarket { market, winners })?;
        self.replace_market(slot)
    }

    fn replace_market(&mut self, slot: usize) -> Result<(), TestCaseError> {
        let spec = self.markets[slot].1.clone();
        let market = self.open_market(&spec)?;
        self.markets[slot] = (market, spec);
        Ok(())
    }
}

fn run_scenario(scenario: &Scenario) -> Result<(), TestCaseError> {
    let mut pair = Pair::new();
    pair.setup(scenario)?;
    for op in &scenario.ops {
        pair.run(op)?;
    }
    // Settle everything at the end: the payout path runs on every scenario.
    for slot in 0..pair.markets.len() {
        pair.settle(slot, false, slot)?;
    }
    Ok(())
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases_from_env(cases),
        // Regressions found here are kept as named tests below, not in a side file.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// The fast and the reference engine agree on every event and every state hash, and both
    /// stay valid, on random command streams.
    #[test]
    fn ladder_engine_matches_reference_engine(scenario in scenario(300)) {
        run_scenario(&scenario)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Book level
// ---------------------------------------------------------------------------------------------

/// The ladder length the book-level test uses (the betfair ladder's, the longest).
const BOOK_LADDER_LEN: usize = 350;

/// Regions of ticks: both ends of the ladder and the fast book's 64-tick word boundaries.
const TICK_REGIONS: [Tick; 6] = [0, 58, 122, 186, 250, 341];

/// A tick: a region (chosen per test case) plus an offset within it.
#[derive(Clone, Debug)]
struct TickPick {
    region: Index,
    offset: u8,
}

/// An order as matching sees it.
#[derive(Clone, Debug)]
struct TakerSpec {
    account: u32,
    stp: SelfTradePrevention,
    side: Side,
    tick: TickPick,
    stake_minor: i64,
}

#[derive(Clone, Debug)]
enum BookOp {
    /// Match an incoming order, then rest what is left (if `rest` and not stopped).
    Submit {
        taker: TakerSpec,
        rest: bool,
    },
    /// Only ask `fillable` and `crosses`.
    Probe {
        taker: TakerSpec,
    },
    Remove {
        pick: Index,
    },
    Reduce {
        pick: Index,
        stake_percent: u8,
    },
}

fn tick_pick() -> impl Strategy<Value = TickPick> {
    (any::<Index>(), 0u8..=9).prop_map(|(region, offset)| TickPick { region, offset })
}

fn taker_spec() -> impl Strategy<Value = TakerSpec> {
    (
        0u32..4,
        self_trade_prevention(),
        side(),
        tick_pick(),
        prop_oneof![4 => 1i64..=100, 1 => 100i64..=2_000],
    )
        .prop_map(|(account, stp, side, tick, stake_minor)| TakerSpec {
            account,
            stp,
            side,
            tick,
            stake_minor,
        })
}

fn book_op() -> impl Strategy<Value = BookOp> {
    prop_oneof![
        10 => (taker_spec(), prop::bool::weighted(0.85))
            .prop_map(|(taker, rest)| BookOp::Submit { taker, rest }),
        2 => taker_spec().prop_map(|taker| BookOp::Probe { taker }),
        2 => any::<Index>().prop_map(|pick| BookOp::Remove { pick }),
        2 => (any::<Index>(), 1u8..=100)
            .prop_map(|(pick, stake_percent)| BookOp::Reduce { pick, stake_percent }),
    ]
}

/// The two books, each with its own slab, driven in lockstep.
struct BookPair {
    regions: Vec<Tick>,
    fast: LadderBook,
    fast_orders: OrderSlab,
    reference: ReferenceBook,
    reference_orders: OrderSlab,
    next_order_id: u64,
}

impl BookPair {
    fn new(regions: Vec<Tick>) -> BookPair {
        BookPair {
            regions,
            fast: LadderBook::new(BOOK_LADDER_LEN),
            fast_orders: OrderSlab::with_capacity(4_096),
            reference: ReferenceBook::new(BOOK_LADDER_LEN),
            reference_orders: OrderSlab::with_capacity(4_096),
            next_order_id: 1,
        }
    }

    fn tick(&self, pick: &TickPick) -> Tick {
        let base = self.regions[pick.region.index(self.regions.len())];
        (base + Tick::from(pick.offset)).min(BOOK_LADDER_LEN as Tick - 1)
    }

    fn taker(&self, spec: &TakerSpec) -> Taker {
        Taker {
            side: spec.side,
            limit: self.tick(&spec.tick),
            stake_minor: spec.stake_minor,
            account: spec.account,
            stp: spec.stp,
        }
    }

    /// Stores an order in both slabs; both must choose the same slot.
    fn insert(&mut self, taker: &Taker) -> Result<u32, TestCaseError> {
        let order = Order::new(
            OrderId(self.next_order_id),
            self.next_order_id,
            taker.account,
            0,
            0,
            taker.side,
            taker.limit,
            taker.stake_minor,
            Persistence::Persist,
            false,
        );
        self.next_order_id += 1;
        let fast_slot = self.fast_orders.insert(order).expect("slab has room");
        let reference_slot = self.reference_orders.insert(order).expect("slab has room");
        prop_assert_eq!(fast_slot, reference_slot);
        Ok(fast_slot)
    }

    fn free(&mut self, slot: u32) {
        self.fast_orders.remove(slot);
        self.reference_orders.remove(slot);
    }

    fn resting(&self) -> Vec<u32> {
        let mut slots = Vec::new();
        self.fast
            .for_each(&self.fast_orders, &mut |slot| slots.push(slot));
        slots
    }

    fn probe(&self, taker: &Taker) -> Result<(), TestCaseError> {
        prop_assert_eq!(
            self.fast.fillable(&self.fast_orders, taker),
            self.reference.fillable(&self.reference_orders, taker),
            "fillable({:?})",
            taker
        );
        prop_assert_eq!(
            self.fast.crosses(taker.side, taker.limit),
            self.reference.crosses(taker.side, taker.limit),
            "crosses({:?}, {})",
            taker.side,
            taker.limit
        );
        Ok(())
    }

    /// Matches an incoming order on both books, as the engine does, and rests what is left.
    fn submit(&mut self, taker: &Taker, rest: bool) -> Result<(), TestCaseError> {
        self.probe(taker)?;
        let fillable = self.fast.fillable(&self.fast_orders, taker);
        let slot = self.insert(taker)?;
        let mut fast_steps = Vec::new();
        let mut reference_steps = Vec::new();
        let fast_outcome = self
            .fast
            .execute(&mut self.fast_orders, taker, &mut fast_steps);
        let reference_outcome =
            self.reference
                .execute(&mut self.reference_orders, taker, &mut reference_steps);
        prop_assert_eq!(&fast_steps, &reference_steps, "match steps of {:?}", taker);
        prop_assert_eq!(fast_outcome, reference_outcome, "outcome of {:?}", taker);

        let mut filled_minor = 0;
        for step in &fast_steps {
            match *step {
                MatchStep::Fill { maker, stake_minor } => {
                    filled_minor += stake_minor;
                    prop_assert_eq!(
                        self.fast_orders[maker].remaining_minor,
                        self.reference_orders[maker].remaining_minor
                    );
                    if self.fast_orders[maker].remaining_minor == 0 {
                        self.free(maker);
                    }
                }
                MatchStep::CancelResting { maker } => self.free(maker),
            }
        }
        prop_assert_eq!(
            filled_minor + fast_outcome.remaining_minor,
            taker.stake_minor
        );
        // Matching fills exactly what `fillable` promised: it skips the resting orders
        // self-trade prevention cancels and stops where it would stop the taker.
        prop_assert_eq!(filled_minor, fillable, "fillable promised otherwise");

        self.fast_orders[slot].remaining_minor = fast_outcome.remaining_minor;
        self.reference_orders[slot].remaining_minor = fast_outcome.remaining_minor;
        if rest && fast_outcome.remaining_minor > 0 && !fast_outcome.stopped_by_stp {
            self.fast.rest(&mut self.fast_orders, slot);
            self.reference.rest(&mut self.reference_orders, slot);
        } else {
            self.free(slot);
        }
        Ok(())
    }

    fn run(&mut self, op: &BookOp) -> Result<(), TestCaseError> {
        match op {
            BookOp::Submit { taker, rest } => {
                let taker = self.taker(taker);
                self.submit(&taker, *rest)?;
            }
            BookOp::Probe { taker } => self.probe(&self.taker(taker))?,
            BookOp::Remove { pick } => {
                let resting = self.resting();
                if !resting.is_empty() {
                    let slot = resting[pick.index(resting.len())];
                    self.fast.remove(&mut self.fast_orders, slot);
                    self.reference.remove(&mut self.reference_orders, slot);
                    self.free(slot);
                }
            }
            BookOp::Reduce {
                pick,
                stake_percent,
            } => {
                let resting = self.resting();
                if !resting.is_empty() {
                    let slot = resting[pick.index(resting.len())];
                    let remaining_minor = self.fast_orders[slot].remaining_minor;
                    let stake_minor = (remaining_minor * i64::from(*stake_percent) / 100).max(1);
                    self.fast.reduce(&mut self.fast_orders, slot, stake_minor);
                    self.reference
                        .reduce(&mut self.reference_orders, slot, stake_minor);
                }
            }
        }
        self.compare()
    }

    /// Every read of the two books agrees, and both are valid.
    fn compare(&self) -> Result<(), TestCaseError> {
        if let Err(problem) = self.fast.validate(&self.fast_orders) {
            return Err(TestCaseError::fail(format!(
                "LadderBook invalid: {problem}"
            )));
        }
        if let Err(problem) = self.reference.validate(&self.reference_orders) {
            return Err(TestCaseError::fail(format!(
                "ReferenceBook invalid: {problem}"
            )));
        }
        let fast_slots = self.resting();
        let mut reference_slots = Vec::new();
        self.reference
            .for_each(&self.reference_orders, &mut |slot| {
                reference_slots.push(slot)
            });
        prop_assert_eq!(&fast_slots, &reference_slots, "for_each order");
        for &slot in &fast_slots {
            let (fast, reference) = (&self.fast_orders[slot], &self.reference_orders[slot]);
            prop_assert_eq!(
                (fast.id, fast.side, fast.tick, fast.remaining_minor),
                (
                    reference.id,
                    reference.side,
                    reference.tick,
                    reference.remaining_minor
                )
            );
        }
        prop_assert_eq!(self.fast_orders.len(), self.reference_orders.len());
        prop_assert_eq!(self.fast_orders.len() as usize, fast_slots.len());
        for resting_side in [Side::Back, Side::Lay] {
            prop_assert_eq!(
                self.fast.best(resting_side),
                self.reference.best(resting_side)
            );
        }
        for tick in self.ticks_of_interest() {
            for side in [Side::Back, Side::Lay] {
                prop_assert_eq!(
                    self.fast.level_stake(&self.fast_orders, side, tick),
                    self.reference
                        .level_stake(&self.reference_orders, side, tick),
                    "level_stake({:?}, {})",
                    side,
                    tick
                );
                prop_assert_eq!(
                    self.fast.crosses(side, tick),
                    self.reference.crosses(side, tick),
                    "crosses({:?}, {})",
                    side,
                    tick
                );
            }
        }
        Ok(())
    }

    /// The ticks orders can use, one either side of them, and both ends of the ladder.
    fn ticks_of_interest(&self) -> Vec<Tick> {
        let last = BOOK_LADDER_LEN as Tick - 1;
        let mut ticks: Vec<Tick> = self
            .regions
            .iter()
            .flat_map(|base| base.saturating_sub(1)..=(base + 10).min(last))
            .chain([0, last])
            .collect();
        ticks.sort_unstable();
        ticks.dedup();
        ticks
    }
}

fn regions() -> impl Strategy<Value = Vec<Tick>> {
    vec(prop::sample::select(TICK_REGIONS.to_vec()), 1..=3)
}

proptest! {
    #![proptest_config(config(128))]

    /// Driven through `OrderBook` directly, the ladder book and the reference book agree on
    /// every match step and every read.
    #[test]
    fn ladder_book_matches_reference_book(
        regions in regions(),
        ops in vec(book_op(), 1..300),
    ) {
        let mut books = BookPair::new(regions);
        for op in &ops {
            books.run(op)?;
        }
    }
}
