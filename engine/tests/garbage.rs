//! Robustness: random garbage commands never change the state hash.
//!
//! A populated engine (accounts of every kind, markets in every state, resting and matched
//! orders) receives random commands that are invalid by construction: each is a valid command
//! with exactly one thing broken, so the reason it must be refused is known. Every one must
//! produce exactly one `rejected` event, with that reason and naming what the command named,
//! and leave the state hash unchanged and `validate()` passing. Where a flaw is a mutation of
//! a valid command, the unmutated command is applied to a copy first, to prove that the flaw
//! and nothing else is what gets it refused.
//!
//! Below that, random JSON-ish text is fed to the sim line parser (`Input`, `Event`); it may
//! fail to parse, but must never panic, and whatever parses must survive the engine.

#[path = "gen/mod.rs"]
mod generators;

use generators::{cases_from_env, input, off_ladder, persistence, rejection, side};
use oddsmatch_engine::book::{LadderBook, OrderBook, ReferenceBook};
use oddsmatch_engine::{
    AccountId, Command, Engine, EngineConfig, Event, Input, LadderKind, MAX_AMOUNT_MINOR,
    MAX_SELECTIONS, MarketId, MarketSpec, MarketStatus, OrderId, Quote, RejectReason, Role,
    SelectionId, SelfTradePrevention, Side, Tier, TimeInForce,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

// ---------------------------------------------------------------------------------------------
// The populated engine
// ---------------------------------------------------------------------------------------------

/// Pro, cancel_resting, rich: the default trader of the flaws.
const RICH: AccountId = AccountId(1);
/// Basic, cancel_taking.
const BASIC: AccountId = AccountId(2);
/// Market maker, cancel_both; owns the quotes.
const MAKER: AccountId = AccountId(3);
/// Free, no self-trade prevention, little money.
const POOR: AccountId = AccountId(4);
/// Basic with an open-order limit of 2, reached.
const FULL: AccountId = AccountId(5);
/// Basic with its kill switch on.
const KILLED: AccountId = AccountId(6);
/// Basic with a minimum stake of 100 and a market exposure limit of 1,000.
const CAPPED: AccountId = AccountId(7);
/// Basic with no money.
const BROKE: AccountId = AccountId(8);
const ACCOUNTS: [AccountId; 8] = [RICH, BASIC, MAKER, POOR, FULL, KILLED, CAPPED, BROKE];
/// Accounts whose orders the base order of a flaw may come from.
const BASE_TRADERS: [AccountId; 3] = [RICH, BASIC, MAKER];
const CAPPED_MIN_STAKE_MINOR: i64 = 100;
const CAPPED_MAX_EXPOSURE_MINOR: i64 = 1_000;
const POOR_DEPOSIT_MINOR: i64 = 20_000;

/// Betfair ladder, selections 1-3, one place, open, with resting and matched orders.
const MAIN: MarketId = MarketId(10);
/// Probability ladder, selections 1-4, two places, open, with resting and matched orders.
const PLACE: MarketId = MarketId(11);
const PENDING: MarketId = MarketId(12);
/// Suspended with a `persist` order still resting.
const SUSPENDED: MarketId = MarketId(13);
/// Closed; selections 1-3, two places.
const CLOSED: MarketId = MarketId(14);
const SETTLED: MarketId = MarketId(15);
const VOIDED: MarketId = MarketId(16);
const OPEN_MARKETS: [MarketId; 2] = [MAIN, PLACE];
const NOT_OPEN: [MarketId; 5] = [PENDING, SUSPENDED, CLOSED, SETTLED, VOIDED];
const MARKETS: [MarketId; 7] = [MAIN, PLACE, PENDING, SUSPENDED, CLOSED, SETTLED, VOIDED];

/// An order the fixture saw accepted.
#[derive(Clone, Copy, Debug)]
struct Placed {
    order_id: OrderId,
    account: AccountId,
    market: MarketId,
    selection: SelectionId,
    side: Side,
    client_order_id: u64,
}

/// The populated engine and what the tests know about it.
struct Fixture<B: OrderBook> {
    engine: Engine<B>,
    ts_ns: u64,
    placed: Vec<Placed>,
    /// The post-only back of `RICH` on `MAIN` selection 2.
    post_only_order: OrderId,
    /// The lay of `POOR` on `MAIN` selection 3.
    poor_lay_order: OrderId,
    transfer_ids: Vec<u64>,
}

impl<B: OrderBook> Fixture<B> {
    fn build() -> Fixture<B> {
        let mut fixture = Fixture {
            engine: Engine::new(EngineConfig::small()),
            ts_ns: 0,
            placed: Vec::new(),
            post_only_order: OrderId(0),
            poor_lay_order: OrderId(0),
            transfer_ids: Vec::new(),
        };
        fixture.create_accounts();
        fixture.create_markets();
        fixture.trade_main();
        fixture.trade_place();
        fixture.finish_other_markets();
        fixture.apply(Command::KillSwitch {
            account: KILLED,
            on: true,
        });
        fixture.engine.validate().expect("the fixture is valid");
        fixture
    }

    /// Applies a command that must be accepted, and remembers the orders it created.
    fn apply(&mut self, command: Command) -> Vec<Event> {
        self.ts_ns += 1;
        let mut events = Vec::new();
        self.engine
            .apply(&input(self.ts_ns, command.clone()), &mut events);
        assert_eq!(
            rejection(&events),
            None,
            "fixture command {command:?} refused"
        );
        for event in &events {
            if let Event::OrderAccepted {
                order_id,
                account,
                client_order_id,
                market,
                selection,
                side,
                ..
            } = *event
            {
                self.placed.push(Placed {
                    order_id,
                    account,
                    market,
                    selection,
                    side,
                    client_order_id,
                });
            }
        }
        events
    }

    /// Places a `lapse` order and returns its id.
    #[allow(clippy::too_many_arguments)]
    fn place(
        &mut self,
        account: AccountId,
        market: MarketId,
        selection: u32,
        side: Side,
        odds_x100: u32,
        stake_minor: i64,
        tif: TimeInForce,
        client_order_id: u64,
    ) -> OrderId {
        self.place_with(
            Command::PlaceOrder {
                account,
                market,
                selection: SelectionId(selection),
                side,
                odds_x100,
                stake_minor,
                tif,
                post_only: false,
                persistence: Default::default(),
                client_order_id,
            },
            |_| {},
        )
    }

    /// Places an order after `adjust` has changed the command; returns its id.
    fn place_with(&mut self, mut command: Command, adjust: impl FnOnce(&mut Command)) -> OrderId {
        adjust(&mut command);
        let events = self.apply(command);
        events
            .iter()
            .find_map(|event| match event {
                Event::OrderAccepted { order_id, .. } => Some(*order_id),
                _ => None,
            })
            .expect("the order was accepted")
    }

    fn create_accounts(&mut self) {
        let accounts = [
            (
                RICH,
                Tier::Pro,
                SelfTradePrevention::CancelResting,
                10_000_000,
            ),
            (
                BASIC,
                Tier::Basic,
                SelfTradePrevention::CancelTaking,
                1_000_000,
            ),
            (
                MAKER,
                Tier::MarketMaker,
                SelfTradePrevention::CancelBoth,
                50_000_000,
            ),
            (
                POOR,
                Tier::Free,
                SelfTradePrevention::None,
                POOR_DEPOSIT_MINOR,
            ),
            (
                FULL,
                Tier::Basic,
                SelfTradePrevention::CancelResting,
                1_000_000,
            ),
            (
                KILLED,
                Tier::Basic,
                SelfTradePrevention::CancelResting,
                100_000,
            ),
            (
                CAPPED,
                Tier::Basic,
                SelfTradePrevention::CancelResting,
                1_000_000,
            ),
            (BROKE, Tier::Basic, SelfTradePrevention::CancelResting, 0),
        ];
        for (account, tier, stp, deposit_minor) in accounts {
            self.apply(Command::CreateAccount {
                account,
                tier,
                min_stake_minor: (account == CAPPED).then_some(CAPPED_MIN_STAKE_MINOR),
                max_stake_minor: None,
                max_market_exposure_minor: (account == CAPPED).then_some(CAPPED_MAX_EXPOSURE_MINOR),
                max_open_orders: (account == FULL).then_some(2),
                stp,
                role: Role::Trader,
            });
            if deposit_minor > 0 {
                let transfer_id = 100 + u64::from(account.0);
                self.apply(Command::Deposit {
                    account,
                    amount_minor: deposit_minor,
                    transfer_id,
                });
                self.transfer_ids.push(transfer_id);
            }
        }
        // A withdrawal, so that its transfer id is remembered too.
        self.apply(Command::Withdraw {
            account: RICH,
            amount_minor: 1_000,
            transfer_id: 999,
        });
        self.transfer_ids.push(999);
    }

    fn create_markets(&mut self) {
        let markets = [
            (MAIN, 3, 1, LadderKind::Betfair, 0),
            (PLACE, 4, 2, LadderKind::Probability, 500),
            (PENDING, 2, 1, LadderKind::Betfair, 0),
            (SUSPENDED, 2, 1, LadderKind::Betfair, 0),
            (CLOSED, 3, 2, LadderKind::Betfair, 0),
            (SETTLED, 2, 1, LadderKind::Betfair, 200),
            (VOIDED, 2, 1, LadderKind::Probability, 0),
        ];
        for (market, selections, places, ladder, commission_bps) in markets {
            self.apply(Command::create_market(MarketSpec {
                market,
                kind: Default::default(),
                selections: (1..=selections).map(SelectionId).collect(),
                places,
                ladder,
                commission_bps,
                ..MarketSpec::default()
            }));
            if market != PENDING {
                self.apply(Command::OpenMarket { market });
            }
        }
    }

    fn trade_main(&mut self) {
        use Side::{Back, Lay};
        use TimeInForce::{Gtc, Ioc};
        self.place(RICH, MAIN, 1, Back, 300, 1_000, Gtc, 1);
        self.place(BASIC, MAIN, 1, Lay, 290, 500, Gtc, 1);
        self.apply(Command::MassQuote {
            account: MAKER,
            market: MAIN,
            quotes: vec![
                two_sided(1, (320, 2_000), (280, 2_000)),
                two_sided(2, (500, 1_000), (450, 1_000)),
            ],
        });
        // Matches part of RICH's back; the remainder of the lay is cancelled.
        self.place(BASIC, MAIN, 1, Lay, 300, 400, Ioc, 2);
        // Takes the rest of RICH's back and most of the maker's back quote, and is filled.
        self.place(BASIC, MAIN, 1, Lay, 320, 2_500, Gtc, 3);
        self.post_only_order = self.place_with(
            Command::PlaceOrder {
                account: RICH,
                market: MAIN,
                selection: SelectionId(2),
                side: Back,
                odds_x100: 600,
                stake_minor: 500,
                tif: Gtc,
                post_only: true,
                persistence: Default::default(),
                client_order_id: 2,
            },
            |_| {},
        );
        self.poor_lay_order = self.place(POOR, MAIN, 3, Lay, 120, 100, Gtc, 1);
        self.place(FULL, MAIN, 3, Back, 800, 100, Gtc, 1);
        self.place(FULL, MAIN, 3, Back, 900, 100, Gtc, 2);
        self.place(RICH, MAIN, 3, Lay, 115, 1_000, Gtc, 3);
    }

    fn trade_place(&mut self) {
        use Side::{Back, Lay};
        use TimeInForce::Gtc;
        self.place(RICH, PLACE, 1, Back, 400, 1_000, Gtc, 4);
        self.apply(Command::MassQuote {
            account: MAKER,
            market: PLACE,
            quotes: vec![two_sided(2, (500, 500), (400, 500))],
        });
        self.place(BASIC, PLACE, 1, Lay, 400, 200, Gtc, 4);
        self.place(POOR, PLACE, 3, Back, 250, 300, Gtc, 2);
    }

    fn finish_other_markets(&mut self) {
        use Side::{Back, Lay};
        use TimeInForce::Gtc;
        self.place_with(
            Command::PlaceOrder {
                account: RICH,
                market: SUSPENDED,
                selection: SelectionId(1),
                side: Back,
                odds_x100: 200,
                stake_minor: 100,
                tif: Gtc,
                post_only: false,
                persistence: oddsmatch_engine::Persistence::Persist,
                client_order_id: 5,
            },
            |_| {},
        );
        self.place(BASIC, SUSPENDED, 1, Back, 210, 100, Gtc, 5);
        self.apply(Command::SuspendMarket { market: SUSPENDED });

        self.place(RICH, CLOSED, 1, Back, 200, 100, Gtc, 6);
        self.apply(Command::CloseMarket { market: CLOSED });

        self.place(RICH, SETTLED, 1, Back, 200, 100, Gtc, 7);
        self.place(BASIC, SETTLED, 1, Lay, 200, 100, Gtc, 6);
        self.apply(Command::CloseMarket { market: SETTLED });
        self.apply(Command::SettleMarket {
            market: SETTLED,
            winners: vec![SelectionId(1)],
        });

        self.place(RICH, VOIDED, 1, Back, 250, 100, Gtc, 8);
        self.apply(Command::VoidMarket { market: VOIDED });
    }

    // -- what the flaws need to know --

    fn live(&self) -> Vec<Placed> {
        self.placed
            .iter()
            .copied()
            .filter(|p| self.engine.order(p.order_id).is_some())
            .collect()
    }

    fn dead(&self) -> Vec<Placed> {
        self.placed
            .iter()
            .copied()
            .filter(|p| self.engine.order(p.order_id).is_none())
            .collect()
    }

    fn ladder(market: MarketId) -> LadderKind {
        if market == PLACE || market == VOIDED {
            LadderKind::Probability
        } else {
            LadderKind::Betfair
        }
    }

    fn selections(market: MarketId) -> u32 {
        match market {
            MAIN | CLOSED => 3,
            PLACE => 4,
            _ => 2,
        }
    }

    fn places(market: MarketId) -> usize {
        if market == PLACE || market == CLOSED {
            2
        } else {
            1
        }
    }

    fn max_stake_minor(account: AccountId) -> i64 {
        match account {
            RICH => 10_000_000,
            MAKER => MAX_AMOUNT_MINOR,
            POOR => 10_000,
            _ => 1_000_000,
        }
    }

    fn free_balance_minor(&self, account: AccountId) -> i64 {
        self.engine.balance(account).expect("known account")
            - self.engine.exposure(account).expect("known account")
    }

    /// Odds that cannot match anything on an open market: backs at the top of the ladder,
    /// lays at the bottom.
    fn passive_odds(market: MarketId, side: Side, rank: u8) -> u32 {
        let prices = Self::ladder(market).prices();
        match side {
            Side::Back => prices[prices.len() - 1 - usize::from(rank)],
            Side::Lay => prices[usize::from(rank)],
        }
    }

    /// The best resting odds of `resting_side` on an open market's selection.
    fn best_odds(
        &self,
        market: MarketId,
        selection: SelectionId,
        resting_side: Side,
    ) -> Option<u32> {
        self.engine
            .depth(market, selection, resting_side)
            .first()
            .map(|level| level.odds_x100)
    }

    /// Every (market, selection, taker side) of the open markets whose taker would cross.
    fn crossing_targets(&self) -> Vec<(MarketId, SelectionId, Side)> {
        let mut targets = Vec::new();
        for market in OPEN_MARKETS {
            for selection in 1..=Self::selections(market) {
                for side in [Side::Back, Side::Lay] {
                    let selection = SelectionId(selection);
                    if self.best_odds(market, selection, side.opposite()).is_some() {
                        targets.push((market, selection, side));
                    }
                }
            }
        }
        targets
    }

    /// The ladder prices a taker of `side` at which it would cross the best opposite order.
    fn crossing_odds(&self, market: MarketId, selection: SelectionId, side: Side) -> Vec<u32> {
        let best = self
            .best_odds(market, selection, side.opposite())
            .expect("a crossing target has an opposite order");
        Self::ladder(market)
            .prices()
            .iter()
            .copied()
            .filter(|odds| match side {
                Side::Back => *odds <= best,
                Side::Lay => *odds >= best,
            })
            .collect()
    }

    /// Unmatched stake a taker of `account` (self-trade prevention `cancel_resting`) and
    /// `side` could match at any price: the opposite side's orders of other accounts.
    fn matchable_minor(
        &self,
        account: AccountId,
        market: MarketId,
        selection: SelectionId,
        side: Side,
    ) -> i64 {
        self.live()
            .iter()
            .filter(|p| {
                p.market == market
                    && p.selection == selection
                    && p.side == side.opposite()
                    && p.account != account
            })
            .map(|p| self.engine.order(p.order_id).expect("live").remaining_minor)
            .sum()
    }
}

fn two_sided(selection: u32, back: (u32, i64), lay: (u32, i64)) -> Quote {
    Quote {
        selection: SelectionId(selection),
        back_odds_x100: Some(back.0),
        back_stake_minor: Some(back.1),
        lay_odds_x100: Some(lay.0),
        lay_stake_minor: Some(lay.1),
    }
}

// ---------------------------------------------------------------------------------------------
// Flaws
// ---------------------------------------------------------------------------------------------

/// An account that may not do what the command asks.
#[derive(Clone, Debug)]
enum BadAccount {
    /// Never created.
    Unknown(u32),
    /// In the house range but not a house account, so unknown.
    ReservedUnused(u32),
    /// A house account (rounding or commission).
    House(bool),
}

impl BadAccount {
    fn resolve(&self) -> (AccountId, RejectReason) {
        match *self {
            BadAccount::Unknown(id) | BadAccount::ReservedUnused(id) => {
                (AccountId(id), RejectReason::UnknownAccount)
            }
            BadAccount::House(rounding) => {
                let id = if rounding {
                    AccountId::HOUSE_ROUNDING
                } else {
                    AccountId::HOUSE_COMMISSION
                };
                (id, RejectReason::ReservedAccount)
            }
        }
    }
}

/// A stake no account accepts, or above the account's own maximum.
#[derive(Clone, Debug)]
enum BadStake {
    Zero,
    Negative(i64),
    /// Above the maximum by `1 + excess % room`.
    AboveMax(u64),
}

impl BadStake {
    fn resolve(&self, max_stake_minor: i64) -> i64 {
        match *self {
            BadStake::Zero => 0,
            BadStake::Negative(stake) => stake,
            BadStake::AboveMax(excess) => {
                let room = (i64::MAX - max_stake_minor) as u64;
                max_stake_minor + 1 + (excess % room) as i64
            }
        }
    }
}

/// A valid passive order: it would be accepted and would not match.
#[derive(Clone, Debug)]
struct BaseOrder {
    account: Index,
    on_place_market: bool,
    selection: Index,
    side: Side,
    passive_rank: u8,
    stake_minor: i64,
    ioc: bool,
    persistence: oddsmatch_engine::Persistence,
    client_order_id: u64,
}

#[derive(Clone, Debug)]
enum OrderFlaw {
    Account(BadAccount),
    UnknownMarket(u32),
    NotOpen(Index),
    Selection(u32),
    Odds(u32),
    Stake(BadStake),
    BelowMinimumStake(i64),
    DuplicateClientOrderId(Index),
    /// A repeat is answered before the market is looked at: repeated on a market that is not
    /// open, at odds off its ladder.
    DuplicateOnClosedMarket(Index, Index, u32),
    KillSwitch,
    MaxOpenOrders,
    ExposureLimit(i64),
    InsufficientFunds,
    PostOnlyWouldMatch(Index, Index),
    FokNotFilled(Index, i64),
}

#[derive(Clone, Debug)]
enum CancelFlaw {
    Account(BadAccount),
    UnknownMarket(Index, u32),
    UnknownOrderId(u64),
    UnknownClientOrderId(Index, u64),
    OthersOrder(Index, Index),
    WrongMarket(Index, Index),
    DeadOrder(Index, bool),
    BothReferences(Index),
    NeitherReference(Index),
}

#[derive(Clone, Debug)]
enum ReplaceFlaw {
    Account(BadAccount),
    UnknownMarket(u32),
    NotOpen(Index, u64),
    UnknownOrder(u64),
    OthersOrder(Index, Index),
    DeadOrder(Index),
    Odds(Index, u32),
    Stake(Index, BadStake),
    PostOnlyWouldMatch(Index, i64),
    Unaffordable(Index, i64),
}

/// A valid mass quote of `MAKER` at passive odds.
#[derive(Clone, Debug)]
struct BaseQuote {
    on_place_market: bool,
    two_selections: bool,
    back_rank: u8,
    lay_rank: u8,
    stake_minor: i64,
}

#[derive(Clone, Debug)]
enum QuoteFlaw {
    Account(BadAccount),
    UnknownMarket(u32),
    NotOpen(Index),
    RepeatedSelection,
    HalfLeg(u8),
    Crossed(Index, u8),
    UnknownSelection(u32),
    Odds(u32),
    Stake(BadStake),
    KillSwitch,
    MaxOpenOrders,
    ExposureLimit(i64),
    InsufficientFunds,
}

/// Something wrong with a set of winners.
#[derive(Clone, Debug)]
enum WinnersFlaw {
    TooFew,
    TooMany,
    Unknown(u32),
    Repeated,
    Huge(usize),
}

#[derive(Clone, Debug)]
enum LifecycleFlaw {
    /// A transition the market's state does not allow: (command, market among the invalid).
    Transition(u8, Index),
    UnknownMarket(u8, u32),
    Winners(bool, WinnersFlaw),
}

#[derive(Clone, Debug)]
enum DefinitionFlaw {
    TooFewSelections(u32),
    TooManySelections(u32),
    RepeatedSelection(u32),
    NoPlaces,
    PlacesNotBelowSelections(u32, u8),
    PlacesAboveMaximum(u8),
    Commission(u16),
}

#[derive(Clone, Debug)]
enum MarketFlaw {
    Duplicate(Index),
    Definition(u32, DefinitionFlaw),
}

#[derive(Clone, Debug)]
enum LimitsFlaw {
    MinimumStake(i64),
    MinimumAboveMaximum(i64, i64),
    MaximumStake(i64),
    Exposure(i64),
}

#[derive(Clone, Debug)]
enum AccountFlaw {
    Duplicate(Index),
    Reserved(u32),
    HouseTier(u32),
    Limits(u32, LimitsFlaw),
}

#[derive(Clone, Debug)]
enum TransferFlaw {
    Account(BadAccount, bool),
    Amount(i64, bool),
    DuplicateTransferId(Index, Index, bool),
    AboveFreeBalance(Index, i64),
}

/// One command that is invalid by construction.
#[derive(Clone, Debug)]
enum Garbage {
    Place(BaseOrder, OrderFlaw),
    Cancel(CancelFlaw),
    Replace(ReplaceFlaw),
    MassCancel(BadAccount, bool),
    MassCancelUnknownMarket(Index, u32),
    MassQuote(BaseQuote, QuoteFlaw),
    Lifecycle(LifecycleFlaw),
    CreateMarket(MarketFlaw),
    CreateAccount(AccountFlaw),
    Transfer(TransferFlaw),
    KillSwitch(BadAccount, bool),
}

// -- strategies --

fn bad_account() -> impl Strategy<Value = BadAccount> {
    prop_oneof![
        prop_oneof![Just(0u32), 9u32..AccountId::RESERVED_MIN].prop_map(BadAccount::Unknown),
        (AccountId::RESERVED_MIN..AccountId::HOUSE_COMMISSION.0)
            .prop_map(BadAccount::ReservedUnused),
        any::<bool>().prop_map(BadAccount::House),
    ]
}

fn unknown_market_id() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..MAIN.0, (VOIDED.0 + 1)..=u32::MAX]
}

fn fresh_account_id() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), 9u32..AccountId::RESERVED_MIN]
}

fn bad_stake() -> impl Strategy<Value = BadStake> {
    prop_oneof![
        Just(BadStake::Zero),
        (i64::MIN..0).prop_map(BadStake::Negative),
        prop_oneof![0u64..1_000, any::<u64>()].prop_map(BadStake::AboveMax),
    ]
}

fn base_order() -> impl Strategy<Value = BaseOrder> {
    (
        (any::<Index>(), any::<bool>(), any::<Index>(), side()),
        (
            0u8..5,
            1i64..=1_000,
            any::<bool>(),
            persistence(),
            1_000_000u64..=u64::MAX,
        ),
    )
        .prop_map(
            |(
                (account, on_place_market, selection, side),
                (passive_rank, stake_minor, ioc, persistence, client_order_id),
            )| BaseOrder {
                account,
                on_place_market,
                selection,
                side,
                passive_rank,
                stake_minor,
                ioc,
                persistence,
                client_order_id,
            },
        )
}

fn order_flaw() -> impl Strategy<Value = OrderFlaw> {
    prop_oneof![
        bad_account().prop_map(OrderFlaw::Account),
        unknown_market_id().prop_map(OrderFlaw::UnknownMarket),
        any::<Index>().prop_map(OrderFlaw::NotOpen),
        prop_oneof![Just(0u32), 5u32..=u32::MAX].prop_map(OrderFlaw::Selection),
        any::<u32>().prop_map(OrderFlaw::Odds),
        bad_stake().prop_map(OrderFlaw::Stake),
        (1..CAPPED_MIN_STAKE_MINOR).prop_map(OrderFlaw::BelowMinimumStake),
        any::<Index>().prop_map(OrderFlaw::DuplicateClientOrderId),
        (any::<Index>(), any::<Index>(), any::<u32>()).prop_map(|(used, market, odds)| {
            OrderFlaw::DuplicateOnClosedMarket(used, market, odds)
        }),
        Just(OrderFlaw::KillSwitch),
        Just(OrderFlaw::MaxOpenOrders),
        (CAPPED_MAX_EXPOSURE_MINOR + 1..=1_000_000).prop_map(OrderFlaw::ExposureLimit),
        Just(OrderFlaw::InsufficientFunds),
        (any::<Index>(), any::<Index>())
            .prop_map(|(target, odds)| OrderFlaw::PostOnlyWouldMatch(target, odds)),
        (any::<Index>(), 1i64..=1_000)
            .prop_map(|(target, extra)| OrderFlaw::FokNotFilled(target, extra)),
    ]
}

fn cancel_flaw() -> impl Strategy<Value = CancelFlaw> {
    prop_oneof![
        bad_account().prop_map(CancelFlaw::Account),
        (any::<Index>(), unknown_market_id()).prop_map(|(o, m)| CancelFlaw::UnknownMarket(o, m)),
        (1_000_000u64..).prop_map(CancelFlaw::UnknownOrderId),
        (any::<Index>(), 1_000_000u64..).prop_map(|(a, c)| CancelFlaw::UnknownClientOrderId(a, c)),
        (any::<Index>(), any::<Index>()).prop_map(|(o, a)| CancelFlaw::OthersOrder(o, a)),
        (any::<Index>(), any::<Index>()).prop_map(|(o, m)| CancelFlaw::WrongMarket(o, m)),
        (any::<Index>(), any::<bool>()).prop_map(|(o, c)| CancelFlaw::DeadOrder(o, c)),
        any::<Index>().prop_map(CancelFlaw::BothReferences),
        any::<Index>().prop_map(CancelFlaw::NeitherReference),
    ]
}

fn replace_flaw() -> impl Strategy<Value = ReplaceFlaw> {
    prop_oneof![
        bad_account().prop_map(ReplaceFlaw::Account),
        unknown_market_id().prop_map(ReplaceFlaw::UnknownMarket),
        (any::<Index>(), any::<u64>()).prop_map(|(m, o)| ReplaceFlaw::NotOpen(m, o)),
        (1_000_000u64..).prop_map(ReplaceFlaw::UnknownOrder),
        (any::<Index>(), any::<Index>()).prop_map(|(o, a)| ReplaceFlaw::OthersOrder(o, a)),
        any::<Index>().prop_map(ReplaceFlaw::DeadOrder),
        (any::<Index>(), any::<u32>()).prop_map(|(o, odds)| ReplaceFlaw::Odds(o, odds)),
        (any::<Index>(), bad_stake()).prop_map(|(o, s)| ReplaceFlaw::Stake(o, s)),
        (any::<Index>(), 1i64..=1_000)
            .prop_map(|(odds, s)| ReplaceFlaw::PostOnlyWouldMatch(odds, s)),
        (any::<Index>(), 8_000i64..=10_000)
            .prop_map(|(odds, s)| ReplaceFlaw::Unaffordable(odds, s)),
    ]
}

fn base_quote() -> impl Strategy<Value = BaseQuote> {
    (
        any::<bool>(),
        any::<bool>(),
        0u8..5,
        0u8..5,
        CAPPED_MIN_STAKE_MINOR..=1_000,
    )
        .prop_map(
            |(on_place_market, two_selections, back_rank, lay_rank, stake_minor)| BaseQuote {
                on_place_market,
                two_selections,
                back_rank,
                lay_rank,
                stake_minor,
            },
        )
}

fn quote_flaw() -> impl Strategy<Value = QuoteFlaw> {
    prop_oneof![
        bad_account().prop_map(QuoteFlaw::Account),
        unknown_market_id().prop_map(QuoteFlaw::UnknownMarket),
        any::<Index>().prop_map(QuoteFlaw::NotOpen),
        Just(QuoteFlaw::RepeatedSelection),
        (0u8..4).prop_map(QuoteFlaw::HalfLeg),
        (any::<Index>(), 0u8..4).prop_map(|(back, above)| QuoteFlaw::Crossed(back, above)),
        prop_oneof![Just(0u32), 5u32..=u32::MAX].prop_map(QuoteFlaw::UnknownSelection),
        any::<u32>().prop_map(QuoteFlaw::Odds),
        bad_stake().prop_map(QuoteFlaw::Stake),
        Just(QuoteFlaw::KillSwitch),
        Just(QuoteFlaw::MaxOpenOrders),
        (CAPPED_MAX_EXPOSURE_MINOR + 1..=1_000_000).prop_map(QuoteFlaw::ExposureLimit),
        Just(QuoteFlaw::InsufficientFunds),
    ]
}

fn winners_flaw() -> impl Strategy<Value = WinnersFlaw> {
    prop_oneof![
        Just(WinnersFlaw::TooFew),
        Just(WinnersFlaw::TooMany),
        prop_oneof![Just(0u32), 4u32..=u32::MAX].prop_map(WinnersFlaw::Unknown),
        Just(WinnersFlaw::Repeated),
        (9usize..=100).prop_map(WinnersFlaw::Huge),
    ]
}

fn lifecycle_flaw() -> impl Strategy<Value = LifecycleFlaw> {
    prop_oneof![
        (0u8..6, any::<Index>()).prop_map(|(c, m)| LifecycleFlaw::Transition(c, m)),
        (0u8..6, unknown_market_id()).prop_map(|(c, m)| LifecycleFlaw::UnknownMarket(c, m)),
        (any::<bool>(), winners_flaw()).prop_map(|(closed, w)| LifecycleFlaw::Winners(closed, w)),
    ]
}

fn definition_flaw() -> impl Strategy<Value = DefinitionFlaw> {
    prop_oneof![
        (0u32..2).prop_map(DefinitionFlaw::TooFewSelections),
        (MAX_SELECTIONS as u32 + 1..=200).prop_map(DefinitionFlaw::TooManySelections),
        (2u32..=10).prop_map(DefinitionFlaw::RepeatedSelection),
        Just(DefinitionFlaw::NoPlaces),
        (2u32..=8)
            .prop_flat_map(|n| (Just(n), n as u8..=u8::MAX))
            .prop_map(|(n, places)| DefinitionFlaw::PlacesNotBelowSelections(n, places)),
        (9u8..=MAX_SELECTIONS as u8 - 1).prop_map(DefinitionFlaw::PlacesAboveMaximum),
        (10_001u16..=u16::MAX).prop_map(DefinitionFlaw::Commission),
    ]
}

fn limits_flaw() -> impl Strategy<Value = LimitsFlaw> {
    prop_oneof![
        (i64::MIN..=0).prop_map(LimitsFlaw::MinimumStake),
        (2i64..=MAX_AMOUNT_MINOR, 1i64..=1_000_000)
            .prop_map(|(min, below)| LimitsFlaw::MinimumAboveMaximum(min, (min - below).max(1))),
        (MAX_AMOUNT_MINOR + 1..=i64::MAX).prop_map(LimitsFlaw::MaximumStake),
        prop_oneof![i64::MIN..0, MAX_AMOUNT_MINOR + 1..=i64::MAX].prop_map(LimitsFlaw::Exposure),
    ]
}

fn account_flaw() -> impl Strategy<Value = AccountFlaw> {
    prop_oneof![
        any::<Index>().prop_map(AccountFlaw::Duplicate),
        (AccountId::RESERVED_MIN..=u32::MAX).prop_map(AccountFlaw::Reserved),
        fresh_account_id().prop_map(AccountFlaw::HouseTier),
        (fresh_account_id(), limits_flaw()).prop_map(|(id, flaw)| AccountFlaw::Limits(id, flaw)),
    ]
}

fn transfer_flaw() -> impl Strategy<Value = TransferFlaw> {
    prop_oneof![
        (bad_account(), any::<bool>()).prop_map(|(a, d)| TransferFlaw::Account(a, d)),
        (
            prop_oneof![i64::MIN..=0, MAX_AMOUNT_MINOR + 1..=i64::MAX],
            any::<bool>()
        )
            .prop_map(|(amount, d)| TransferFlaw::Amount(amount, d)),
        (any::<Index>(), any::<Index>(), any::<bool>())
            .prop_map(|(t, a, d)| TransferFlaw::DuplicateTransferId(t, a, d)),
        (any::<Index>(), 1i64..=1_000_000)
            .prop_map(|(a, extra)| TransferFlaw::AboveFreeBalance(a, extra)),
    ]
}

fn garbage() -> impl Strategy<Value = Garbage> {
    prop_oneof![
        6 => (base_order(), order_flaw()).prop_map(|(base, flaw)| Garbage::Place(base, flaw)),
        3 => cancel_flaw().prop_map(Garbage::Cancel),
        3 => replace_flaw().prop_map(Garbage::Replace),
        1 => (bad_account(), any::<bool>()).prop_map(|(a, all)| Garbage::MassCancel(a, all)),
        1 => (any::<Index>(), unknown_market_id())
            .prop_map(|(a, m)| Garbage::MassCancelUnknownMarket(a, m)),
        4 => (base_quote(), quote_flaw()).prop_map(|(base, flaw)| Garbage::MassQuote(base, flaw)),
        3 => lifecycle_flaw().prop_map(Garbage::Lifecycle),
        2 => prop_oneof![
            any::<Index>().prop_map(MarketFlaw::Duplicate),
            (unknown_market_id(), definition_flaw()).prop_map(|(id, f)| MarketFlaw::Definition(id, f)),
        ]
        .prop_map(Garbage::CreateMarket),
        2 => account_flaw().prop_map(Garbage::CreateAccount),
        2 => transfer_flaw().prop_map(Garbage::Transfer),
        1 => (bad_account(), any::<bool>()).prop_map(|(a, on)| Garbage::KillSwitch(a, on)),
    ]
}

// ---------------------------------------------------------------------------------------------
// From flaws to commands
// ---------------------------------------------------------------------------------------------

/// A command that must be refused, why, and optionally the valid command it was made from.
#[derive(Debug)]
struct Case {
    command: Command,
    expected: RejectReason,
    /// For `duplicate_client_order_id`, the order that holds the client order id.
    original: Option<OrderId>,
    control: Option<Command>,
}

impl Case {
    fn new(command: Command, expected: RejectReason) -> Case {
        Case {
            command,
            expected,
            original: None,
            control: None,
        }
    }

    fn with_control(command: Command, expected: RejectReason, control: Command) -> Case {
        Case {
            control: Some(control),
            ..Case::new(command, expected)
        }
    }
}

/// The fields of a place order, so that a flaw can change one of them.
#[derive(Clone, Debug)]
struct OrderFields {
    account: AccountId,
    market: MarketId,
    selection: SelectionId,
    side: Side,
    odds_x100: u32,
    stake_minor: i64,
    tif: TimeInForce,
    post_only: bool,
    persistence: oddsmatch_engine::Persistence,
    client_order_id: u64,
}

impl OrderFields {
    fn command(&self) -> Command {
        Command::PlaceOrder {
            account: self.account,
            market: self.market,
            selection: self.selection,
            side: self.side,
            odds_x100: self.odds_x100,
            stake_minor: self.stake_minor,
            tif: self.tif,
            post_only: self.post_only,
            persistence: self.persistence,
            client_order_id: self.client_order_id,
        }
    }
}

/// Picks from a non-empty list.
fn pick<T: Copy>(items: &[T], index: &Index) -> T {
    assert!(!items.is_empty(), "nothing to pick from");
    items[index.index(items.len())]
}

impl<B: OrderBook> Fixture<B> {
    fn realize(&self, garbage: &Garbage) -> Case {
        match garbage {
            Garbage::Place(base, flaw) => self.place_case(base, flaw),
            Garbage::Cancel(flaw) => self.cancel_case(flaw),
            Garbage::Replace(flaw) => self.replace_case(flaw),
            Garbage::MassCancel(account, everywhere) => {
                let (account, expected) = account.resolve();
                let market = (!everywhere).then_some(MAIN);
                Case::new(Command::MassCancel { account, market }, expected)
            }
            Garbage::MassCancelUnknownMarket(account, market) => Case::new(
                Command::MassCancel {
                    account: pick(&ACCOUNTS, account),
                    market: Some(MarketId(*market)),
                },
                RejectReason::UnknownMarket,
            ),
            Garbage::MassQuote(base, flaw) => self.quote_case(base, flaw),
            Garbage::Lifecycle(flaw) => self.lifecycle_case(flaw),
            Garbage::CreateMarket(flaw) => market_case(flaw),
            Garbage::CreateAccount(flaw) => account_case(flaw),
            Garbage::Transfer(flaw) => self.transfer_case(flaw),
            Garbage::KillSwitch(account, on) => {
                let (account, expected) = account.resolve();
                Case::new(Command::KillSwitch { account, on: *on }, expected)
            }
        }
    }

    fn base_order(&self, base: &BaseOrder) -> OrderFields {
        let market = if base.on_place_market { PLACE } else { MAIN };
        let selection = base.selection.index(Self::selections(market) as usize) as u32 + 1;
        OrderFields {
            account: pick(&BASE_TRADERS, &base.account),
            market,
            selection: SelectionId(selection),
            side: base.side,
            odds_x100: Self::passive_odds(market, base.side, base.passive_rank),
            stake_minor: base.stake_minor,
            tif: if base.ioc {
                TimeInForce::Ioc
            } else {
                TimeInForce::Gtc
            },
            post_only: false,
            persistence: base.persistence,
            client_order_id: base.client_order_id,
        }
    }

    fn place_case(&self, base: &BaseOrder, flaw: &OrderFlaw) -> Case {
        let valid = self.base_order(base);
        let mut order = valid.clone();
        let mut original = None;
        let expected = match flaw {
            OrderFlaw::Account(bad) => {
                let (account, reason) = bad.resolve();
                order.account = account;
                reason
            }
            OrderFlaw::UnknownMarket(id) => {
                order.market = MarketId(*id);
                RejectReason::UnknownMarket
            }
            OrderFlaw::NotOpen(market) => {
                order.market = pick(&NOT_OPEN, market);
                RejectReason::MarketNotOpen
            }
            OrderFlaw::Selection(id) => {
                order.selection = SelectionId(*id);
                RejectReason::InvalidSelection
            }
            OrderFlaw::Odds(raw) => {
                order.odds_x100 = off_ladder(Self::ladder(order.market), *raw);
                RejectReason::InvalidOdds
            }
            OrderFlaw::Stake(bad) => {
                order.stake_minor = bad.resolve(Self::max_stake_minor(order.account));
                RejectReason::InvalidStake
            }
            OrderFlaw::BelowMinimumStake(stake) => {
                order.account = CAPPED;
                order.stake_minor = *stake;
                RejectReason::InvalidStake
            }
            OrderFlaw::DuplicateClientOrderId(index) => {
                let used = self.used_client_order_id(index);
                order.account = used.account;
                order.client_order_id = used.client_order_id;
                original = Some(used.order_id);
                RejectReason::DuplicateClientOrderId
            }
            OrderFlaw::DuplicateOnClosedMarket(index, market, odds) => {
                let used = self.used_client_order_id(index);
                order.account = used.account;
                order.client_order_id = used.client_order_id;
                order.market = pick(&NOT_OPEN, market);
                order.odds_x100 = off_ladder(Self::ladder(order.market), *odds);
                original = Some(used.order_id);
                RejectReason::DuplicateClientOrderId
            }
            OrderFlaw::KillSwitch => {
                order.account = KILLED;
                RejectReason::KillSwitch
            }
            OrderFlaw::MaxOpenOrders => {
                order.account = FULL;
                RejectReason::MaxOpenOrders
            }
            OrderFlaw::ExposureLimit(stake) => {
                // A back's exposure is its stake.
                order.account = CAPPED;
                order.side = Side::Back;
                order.odds_x100 = Self::passive_odds(order.market, Side::Back, 0);
                order.stake_minor = *stake;
                RejectReason::ExposureLimit
            }
            OrderFlaw::InsufficientFunds => {
                order.account = BROKE;
                RejectReason::InsufficientFunds
            }
            OrderFlaw::PostOnlyWouldMatch(target, odds) => {
                let (market, selection, side) = pick(&self.crossing_targets(), target);
                order.account = RICH;
                order.market = market;
                order.selection = selection;
                order.side = side;
                order.odds_x100 = pick(&self.crossing_odds(market, selection, side), odds);
                order.post_only = true;
                RejectReason::PostOnlyWouldMatch
            }
            OrderFlaw::FokNotFilled(target, extra) => {
                // Any selection and side, at the most aggressive price, for more than there is.
                let mut targets = Vec::new();
                for market in OPEN_MARKETS {
                    for selection in 1..=Self::selections(market) {
                        for side in [Side::Back, Side::Lay] {
                            targets.push((market, SelectionId(selection), side));
                        }
                    }
                }
                let (market, selection, side) = pick(&targets, target);
                let prices = Self::ladder(market).prices();
                order.account = RICH;
                order.market = market;
                order.selection = selection;
                order.side = side;
                order.odds_x100 = match side {
                    Side::Back => prices[0],
                    Side::Lay => prices[prices.len() - 1],
                };
                order.stake_minor = self.matchable_minor(RICH, market, selection, side) + extra;
                order.tif = TimeInForce::Fok;
                RejectReason::FokNotFilled
            }
        };
        Case {
            original,
            ..Case::with_control(order.command(), expected, valid.command())
        }
    }

    /// An order placed with a client order id (quotes have none).
    fn used_client_order_id(&self, index: &Index) -> Placed {
        let used: Vec<Placed> = self
            .placed
            .iter()
            .copied()
            .filter(|p| p.client_order_id != 0)
            .collect();
        pick(&used, index)
    }

    fn cancel(account: AccountId, market: MarketId, order: &Placed, by_client_id: bool) -> Command {
        Command::CancelOrder {
            account,
            market,
            order_id: (!by_client_id).then_some(order.order_id),
            client_order_id: by_client_id.then_some(order.client_order_id),
        }
    }

    fn cancel_case(&self, flaw: &CancelFlaw) -> Case {
        let live = self.live();
        match flaw {
            CancelFlaw::Account(bad) => {
                let (account, expected) = bad.resolve();
                let command = Self::cancel(account, MAIN, &live[0], false);
                Case::new(command, expected)
            }
            CancelFlaw::UnknownMarket(order, market) => {
                let order = pick(&live, order);
                let command = Self::cancel(order.account, MarketId(*market), &order, false);
                Case::new(command, RejectReason::UnknownMarket)
            }
            CancelFlaw::UnknownOrderId(id) => Case::new(
                Command::CancelOrder {
                    account: RICH,
                    market: MAIN,
                    order_id: Some(OrderId(*id)),
                    client_order_id: None,
                },
                RejectReason::UnknownOrder,
            ),
            CancelFlaw::UnknownClientOrderId(account, client_order_id) => Case::new(
                Command::CancelOrder {
                    account: pick(&ACCOUNTS, account),
                    market: MAIN,
                    order_id: None,
                    client_order_id: Some(*client_order_id),
                },
                RejectReason::UnknownOrder,
            ),
            CancelFlaw::OthersOrder(order, account) => {
                let order = pick(&live, order);
                let others: Vec<AccountId> = ACCOUNTS
                    .into_iter()
                    .filter(|a| *a != order.account)
                    .collect();
                let command = Self::cancel(pick(&others, account), order.market, &order, false);
                Case::new(command, RejectReason::UnknownOrder)
            }
            CancelFlaw::WrongMarket(order, market) => {
                let order = pick(&live, order);
                let others: Vec<MarketId> =
                    MARKETS.into_iter().filter(|m| *m != order.market).collect();
                let command = Self::cancel(order.account, pick(&others, market), &order, false);
                Case::new(command, RejectReason::UnknownOrder)
            }
            CancelFlaw::DeadOrder(order, by_client_id) => {
                let order = pick(&self.dead(), order);
                // Quotes have no client order id to cancel by.
                let by_client_id = *by_client_id && order.client_order_id != 0;
                let command = Self::cancel(order.account, order.market, &order, by_client_id);
                Case::new(command, RejectReason::UnknownOrder)
            }
            CancelFlaw::BothReferences(order) => {
                let order = pick(&live, order);
                let command = Command::CancelOrder {
                    account: order.account,
                    market: order.market,
                    order_id: Some(order.order_id),
                    client_order_id: Some(order.client_order_id),
                };
                Case::new(command, RejectReason::InvalidOrderReference)
            }
            CancelFlaw::NeitherReference(order) => {
                let order = pick(&live, order);
                let command = Command::CancelOrder {
                    account: order.account,
                    market: order.market,
                    order_id: None,
                    client_order_id: None,
                };
                Case::new(command, RejectReason::InvalidOrderReference)
            }
        }
    }

    /// A replace that leaves a live order on an open market as it is (valid).
    fn unchanged(&self, order: &Placed) -> Command {
        let view = self.engine.order(order.order_id).expect("live");
        Command::ReplaceOrder {
            account: order.account,
            market: order.market,
            order_id: order.order_id,
            odds_x100: view.odds_x100,
            stake_minor: view.remaining_minor,
        }
    }

    fn replace_case(&self, flaw: &ReplaceFlaw) -> Case {
        let on_open: Vec<Placed> = self
            .live()
            .into_iter()
            .filter(|p| OPEN_MARKETS.contains(&p.market))
            .collect();
        let replace = |account, market, order_id, odds_x100, stake_minor| Command::ReplaceOrder {
            account,
            market,
            order_id,
            odds_x100,
            stake_minor,
        };
        match flaw {
            ReplaceFlaw::Account(bad) => {
                let (account, expected) = bad.resolve();
                let order = on_open[0];
                Case::new(
                    replace(account, order.market, order.order_id, 300, 100),
                    expected,
                )
            }
            ReplaceFlaw::UnknownMarket(market) => Case::new(
                replace(RICH, MarketId(*market), on_open[0].order_id, 300, 100),
                RejectReason::UnknownMarket,
            ),
            ReplaceFlaw::NotOpen(market, order_id) => Case::new(
                replace(RICH, pick(&NOT_OPEN, market), OrderId(*order_id), 200, 100),
                RejectReason::MarketNotOpen,
            ),
            ReplaceFlaw::UnknownOrder(order_id) => Case::new(
                replace(RICH, MAIN, OrderId(*order_id), 300, 100),
                RejectReason::UnknownOrder,
            ),
            ReplaceFlaw::OthersOrder(order, account) => {
                let order = pick(&on_open, order);
                let others: Vec<AccountId> = ACCOUNTS
                    .into_iter()
                    .filter(|a| *a != order.account)
                    .collect();
                let Command::ReplaceOrder {
                    odds_x100,
                    stake_minor,
                    ..
                } = self.unchanged(&order)
                else {
                    unreachable!()
                };
                let command = replace(
                    pick(&others, account),
                    order.market,
                    order.order_id,
                    odds_x100,
                    stake_minor,
                );
                Case::with_control(command, RejectReason::UnknownOrder, self.unchanged(&order))
            }
            ReplaceFlaw::DeadOrder(order) => {
                let dead: Vec<Placed> = self
                    .dead()
                    .into_iter()
                    .filter(|p| OPEN_MARKETS.contains(&p.market))
                    .collect();
                let order = pick(&dead, order);
                let odds = Self::passive_odds(order.market, order.side, 0);
                Case::new(
                    replace(order.account, order.market, order.order_id, odds, 100),
                    RejectReason::UnknownOrder,
                )
            }
            ReplaceFlaw::Odds(order, raw) => {
                let order = pick(&on_open, order);
                let mut command = self.unchanged(&order);
                if let Command::ReplaceOrder { odds_x100, .. } = &mut command {
                    *odds_x100 = off_ladder(Self::ladder(order.market), *raw);
                }
                Case::with_control(command, RejectReason::InvalidOdds, self.unchanged(&order))
            }
            ReplaceFlaw::Stake(order, bad) => {
                let order = pick(&on_open, order);
                let mut command = self.unchanged(&order);
                if let Command::ReplaceOrder { stake_minor, .. } = &mut command {
                    *stake_minor = bad.resolve(Self::max_stake_minor(order.account));
                }
                Case::with_control(command, RejectReason::InvalidStake, self.unchanged(&order))
            }
            ReplaceFlaw::PostOnlyWouldMatch(odds, stake_minor) => {
                let view = self.engine.order(self.post_only_order).expect("live");
                let crossing = self.crossing_odds(MAIN, view.selection, view.side);
                Case::new(
                    replace(
                        RICH,
                        MAIN,
                        self.post_only_order,
                        pick(&crossing, odds),
                        *stake_minor,
                    ),
                    RejectReason::PostOnlyWouldMatch,
                )
            }
            ReplaceFlaw::Unaffordable(odds, stake_minor) => {
                // A lay's liability at 4.00-5.00 for 8,000-10,000 is 24,000-40,000: above
                // POOR's balance, below its tier's market exposure limit (50,000).
                let prices: Vec<u32> = LadderKind::Betfair
                    .prices()
                    .iter()
                    .copied()
                    .filter(|odds| (400..=500).contains(odds))
                    .collect();
                Case::new(
                    replace(
                        POOR,
                        MAIN,
                        self.poor_lay_order,
                        pick(&prices, odds),
                        *stake_minor,
                    ),
                    RejectReason::InsufficientFunds,
                )
            }
        }
    }

    fn base_quotes(base: &BaseQuote) -> (MarketId, Vec<Quote>) {
        let market = if base.on_place_market { PLACE } else { MAIN };
        let back = Self::passive_odds(market, Side::Back, base.back_rank);
        let lay = Self::passive_odds(market, Side::Lay, base.lay_rank);
        let selections: &[u32] = if base.two_selections { &[1, 2] } else { &[1] };
        let quotes = selections
            .iter()
            .map(|s| two_sided(*s, (back, base.stake_minor), (lay, base.stake_minor)))
            .collect();
        (market, quotes)
    }

    fn quote_case(&self, base: &BaseQuote, flaw: &QuoteFlaw) -> Case {
        let (valid_market, valid_quotes) = Self::base_quotes(base);
        let valid = Command::MassQuote {
            account: MAKER,
            market: valid_market,
            quotes: valid_quotes.clone(),
        };
        let (mut account, mut market, mut quotes) = (MAKER, valid_market, valid_quotes);
        let expected = match flaw {
            QuoteFlaw::Account(bad) => {
                let (bad_account, reason) = bad.resolve();
                account = bad_account;
                reason
            }
            QuoteFlaw::UnknownMarket(id) => {
                market = MarketId(*id);
                RejectReason::UnknownMarket
            }
            QuoteFlaw::NotOpen(index) => {
                market = pick(&NOT_OPEN, index);
                RejectReason::MarketNotOpen
            }
            QuoteFlaw::RepeatedSelection => {
                quotes.push(quotes[0]);
                RejectReason::InvalidQuote
            }
            QuoteFlaw::HalfLeg(which) => {
                let quote = &mut quotes[0];
                match which {
                    0 => quote.back_stake_minor = None,
                    1 => quote.back_odds_x100 = None,
                    2 => quote.lay_stake_minor = None,
                    _ => quote.lay_odds_x100 = None,
                }
                RejectReason::InvalidQuote
            }
            QuoteFlaw::Crossed(back, above) => {
                let prices = Self::ladder(market).prices();
                let back_tick = back.index(prices.len());
                let lay_tick = (back_tick + usize::from(*above)).min(prices.len() - 1);
                quotes[0].back_odds_x100 = Some(prices[back_tick]);
                quotes[0].lay_odds_x100 = Some(prices[lay_tick]);
                RejectReason::InvalidQuote
            }
            QuoteFlaw::UnknownSelection(id) => {
                quotes[0].selection = SelectionId(*id);
                RejectReason::InvalidSelection
            }
            QuoteFlaw::Odds(raw) => {
                quotes[0].back_odds_x100 = Some(off_ladder(Self::ladder(market), *raw));
                RejectReason::InvalidOdds
            }
            QuoteFlaw::Stake(bad) => {
                quotes[0].back_stake_minor = Some(bad.resolve(Self::max_stake_minor(MAKER)));
                RejectReason::InvalidStake
            }
            QuoteFlaw::KillSwitch => {
                account = KILLED;
                RejectReason::KillSwitch
            }
            QuoteFlaw::MaxOpenOrders => {
                account = FULL;
                RejectReason::MaxOpenOrders
            }
            QuoteFlaw::ExposureLimit(stake) => {
                // The back's stake alone is already more than the limit.
                account = CAPPED;
                quotes[0].back_stake_minor = Some(*stake);
                RejectReason::ExposureLimit
            }
            QuoteFlaw::InsufficientFunds => {
                account = BROKE;
                RejectReason::InsufficientFunds
            }
        };
        let command = Command::MassQuote {
            account,
            market,
            quotes,
        };
        Case::with_control(command, expected, valid)
    }

    fn lifecycle_case(&self, flaw: &LifecycleFlaw) -> Case {
        match flaw {
            LifecycleFlaw::Transition(kind, market) => {
                use MarketId as M;
                let invalid_from: &[M] = match kind {
                    0 => &[MAIN, PLACE, SUSPENDED, CLOSED, SETTLED, VOIDED],
                    1 => &[PENDING, SUSPENDED, CLOSED, SETTLED, VOIDED],
                    2 => &[MAIN, PLACE, PENDING, CLOSED, SETTLED, VOIDED],
                    3 => &[PENDING, CLOSED, SETTLED, VOIDED],
                    4 => &[MAIN, PLACE, PENDING, SETTLED, VOIDED],
                    _ => &[SETTLED, VOIDED],
                };
                let market = pick(invalid_from, market);
                let status = self.engine.market_status(market).expect("known market");
                let expected = if status.is_final() {
                    RejectReason::MarketFinalized
                } else {
                    RejectReason::InvalidMarketTransition
                };
                Case::new(lifecycle_command(*kind, market), expected)
            }
            LifecycleFlaw::UnknownMarket(kind, market) => Case::new(
                lifecycle_command(*kind, MarketId(*market)),
                RejectReason::UnknownMarket,
            ),
            LifecycleFlaw::Winners(closed, flaw) => {
                let market = if *closed { CLOSED } else { SUSPENDED };
                let places = Self::places(market);
                let valid: Vec<SelectionId> = (1..=places as u32).map(SelectionId).collect();
                let winners = match flaw {
                    WinnersFlaw::TooFew => valid[..places - 1].to_vec(),
                    WinnersFlaw::TooMany => (1..=places as u32 + 1).map(SelectionId).collect(),
                    WinnersFlaw::Unknown(id) => {
                        let mut winners = valid.clone();
                        winners[0] = SelectionId(*id);
                        winners
                    }
                    WinnersFlaw::Repeated => vec![SelectionId(1); places.max(2)],
                    WinnersFlaw::Huge(count) => (1..=*count as u32).map(SelectionId).collect(),
                };
                let command = Command::SettleMarket { market, winners };
                let control = Command::SettleMarket {
                    market,
                    winners: valid,
                };
                Case::with_control(command, RejectReason::InvalidWinners, control)
            }
        }
    }

    fn transfer_case(&self, flaw: &TransferFlaw) -> Case {
        let transfer = |deposit: bool, account, amount_minor, transfer_id| {
            if deposit {
                Command::Deposit {
                    account,
                    amount_minor,
                    transfer_id,
                }
            } else {
                Command::Withdraw {
                    account,
                    amount_minor,
                    transfer_id,
                }
            }
        };
        match flaw {
            TransferFlaw::Account(bad, deposit) => {
                let (account, expected) = bad.resolve();
                Case::new(transfer(*deposit, account, 100, 1_000_000), expected)
            }
            TransferFlaw::Amount(amount, deposit) => Case::new(
                transfer(*deposit, RICH, *amount, 1_000_000),
                RejectReason::InvalidAmount,
            ),
            TransferFlaw::DuplicateTransferId(transfer_id, account, deposit) => {
                let account = pick(&ACCOUNTS, account);
                let transfer_id = pick(&self.transfer_ids, transfer_id);
                Case::with_control(
                    transfer(*deposit, account, 1, transfer_id),
                    RejectReason::DuplicateTransferId,
                    transfer(true, account, 1, 1_000_000),
                )
            }
            TransferFlaw::AboveFreeBalance(account, extra) => {
                let account = pick(&ACCOUNTS, account);
                let free_minor = self.free_balance_minor(account);
                Case::new(
                    transfer(false, account, free_minor + extra, 1_000_000),
                    RejectReason::InsufficientFreeBalance,
                )
            }
        }
    }
}

fn lifecycle_command(kind: u8, market: MarketId) -> Command {
    match kind {
        0 => Command::OpenMarket { market },
        1 => Command::SuspendMarket { market },
        2 => Command::ResumeMarket { market },
        3 => Command::CloseMarket { market },
        4 => Command::SettleMarket {
            market,
            winners: vec![SelectionId(1)],
        },
        _ => Command::VoidMarket { market },
    }
}

fn market_case(flaw: &MarketFlaw) -> Case {
    let create = |market: u32, selections: Vec<u32>, places: u8, commission_bps: u16| {
        Command::create_market(MarketSpec {
            market: MarketId(market),
            kind: Default::default(),
            selections: selections.into_iter().map(SelectionId).collect(),
            places,
            ladder: LadderKind::Betfair,
            commission_bps,
            ..MarketSpec::default()
        })
    };
    match flaw {
        MarketFlaw::Duplicate(index) => Case::new(
            create(pick(&MARKETS, index).0, vec![1, 2], 1, 0),
            RejectReason::DuplicateMarket,
        ),
        MarketFlaw::Definition(id, flaw) => {
            let (selections, places, commission_bps) = match *flaw {
                DefinitionFlaw::TooFewSelections(n) => ((1..=n).collect(), 1, 0),
                DefinitionFlaw::TooManySelections(n) => ((1..=n).collect(), 1, 0),
                DefinitionFlaw::RepeatedSelection(n) => {
                    let mut selections: Vec<u32> = (1..=n).collect();
                    selections.push(n);
                    (selections, 1, 0)
                }
                DefinitionFlaw::NoPlaces => (vec![1, 2, 3], 0, 0),
                DefinitionFlaw::PlacesNotBelowSelections(n, places) => {
                    ((1..=n).collect(), places, 0)
                }
                DefinitionFlaw::PlacesAboveMaximum(places) => {
                    ((1..=MAX_SELECTIONS as u32).collect(), places, 0)
                }
                DefinitionFlaw::Commission(bps) => (vec![1, 2], 1, bps),
            };
            let control = create(*id, vec![1, 2], 1, 0);
            Case::with_control(
                create(*id, selections, places, commission_bps),
                RejectReason::InvalidMarketDefinition,
                control,
            )
        }
    }
}

fn account_case(flaw: &AccountFlaw) -> Case {
    let create = Command::create_account;
    match flaw {
        AccountFlaw::Duplicate(index) => Case::new(
            create(pick(&ACCOUNTS, index), Tier::Basic),
            RejectReason::DuplicateAccount,
        ),
        AccountFlaw::Reserved(id) => Case::new(
            create(AccountId(*id), Tier::Basic),
            RejectReason::ReservedAccount,
        ),
        AccountFlaw::HouseTier(id) => Case::with_control(
            create(AccountId(*id), Tier::House),
            RejectReason::ReservedAccount,
            create(AccountId(*id), Tier::Basic),
        ),
        AccountFlaw::Limits(id, flaw) => {
            let account = AccountId(*id);
            let mut command = create(account, Tier::Basic);
            let control = command.clone();
            if let Command::CreateAccount {
                min_stake_minor,
                max_stake_minor,
                max_market_exposure_minor,
                ..
            } = &mut command
            {
                match *flaw {
                    LimitsFlaw::MinimumStake(min) => *min_stake_minor = Some(min),
                    LimitsFlaw::MinimumAboveMaximum(min, max) => {
                        *min_stake_minor = Some(min);
                        *max_stake_minor = Some(max.min(min - 1));
                    }
                    LimitsFlaw::MaximumStake(max) => *max_stake_minor = Some(max),
                    LimitsFlaw::Exposure(exposure) => *max_market_exposure_minor = Some(exposure),
                }
            }
            Case::with_control(command, RejectReason::InvalidLimits, control)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/// What a `rejected` event must name: the account, market, client order id and order id the
/// command names.
fn named_by(
    command: &Command,
) -> (
    Option<AccountId>,
    Option<MarketId>,
    Option<u64>,
    Option<OrderId>,
) {
    match command {
        Command::CreateAccount { account, .. }
        | Command::Deposit { account, .. }
        | Command::Withdraw { account, .. }
        | Command::KillSwitch { account, .. } => (Some(*account), None, None, None),
        Command::CreateMarket(spec) => (None, Some(spec.market), None, None),
        Command::OpenMarket { market }
        | Command::SuspendMarket { market }
        | Command::ResumeMarket { market }
        | Command::CloseMarket { market }
        | Command::SettleMarket { market, .. }
        | Command::VoidMarket { market } => (None, Some(*market), None, None),
        Command::PlaceOrder {
            account,
            market,
            client_order_id,
            ..
        } => (Some(*account), Some(*market), Some(*client_order_id), None),
        Command::CancelOrder {
            account,
            market,
            order_id,
            client_order_id,
        } => (Some(*account), Some(*market), *client_order_id, *order_id),
        Command::ReplaceOrder {
            account,
            market,
            order_id,
            ..
        } => (Some(*account), Some(*market), None, Some(*order_id)),
        Command::MassCancel { account, market } => (Some(*account), *market, None, None),
        Command::MassQuote {
            account, market, ..
        } => (Some(*account), Some(*market), None, None),
        Command::PlaceBet {
            account,
            market,
            client_order_id,
            ..
        } => (Some(*account), Some(*market), Some(*client_order_id), None),
        Command::CancelBet {
            account,
            market,
            bet_id,
        } => (Some(*account), Some(*market), None, Some(*bet_id)),
        Command::ReferenceOdds {
            account, market, ..
        }
        | Command::Vote {
            account, market, ..
        } => (Some(*account), Some(*market), None, None),
        Command::Timer {} | Command::Balances {} => (None, None, None, None),
    }
}

/// Applies every garbage command in turn to one copy of the fixture's engine.
fn check_garbage<B: OrderBook + Clone>(
    fixture: &Fixture<B>,
    garbage: &[Garbage],
) -> Result<(), TestCaseError> {
    let mut engine = fixture.engine.clone();
    let hash = engine.state_hash();
    let mut ts_ns = fixture.ts_ns;
    for item in garbage {
        ts_ns += 1;
        let case = fixture.realize(item);
        if let Some(control) = &case.control {
            let mut copy = engine.clone();
            let mut events = Vec::new();
            copy.apply(&input(ts_ns, control.clone()), &mut events);
            prop_assert_eq!(
                rejection(&events),
                None,
                "the valid command {:?} behind {:?} was refused",
                control,
                item
            );
        }
        let mut events = Vec::new();
        engine.apply(&input(ts_ns, case.command.clone()), &mut events);
        prop_assert_eq!(
            events.len(),
            1,
            "{:?} from {:?} gave {:?}",
            case.command,
            item,
            events
        );
        let Event::Rejected {
            command,
            reason,
            account,
            market,
            client_order_id,
            order_id,
        } = events[0]
        else {
            return Err(TestCaseError::fail(format!(
                "{:?} from {item:?} was not rejected: {events:?}",
                case.command
            )));
        };
        prop_assert_eq!(command, case.command.kind());
        prop_assert_eq!(reason, case.expected, "{:?} from {:?}", case.command, item);
        let (named_account, named_market, named_client_order_id, named_order_id) =
            named_by(&case.command);
        prop_assert_eq!(
            (account, market, client_order_id),
            (named_account, named_market, named_client_order_id),
            "the reject of {:?} names other things",
            case.command
        );
        prop_assert_eq!(order_id, case.original.or(named_order_id));
        prop_assert_eq!(
            engine.state_hash(),
            hash,
            "{:?} from {:?} changed the state",
            case.command,
            item
        );
        if let Err(problem) = engine.validate() {
            return Err(TestCaseError::fail(format!(
                "invalid after {:?}: {problem}",
                case.command
            )));
        }
    }
    Ok(())
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases: cases_from_env(cases),
        failure_persistence: None,
        ..Config::default()
    })
}

fn garbage_never_changes_state<B: OrderBook + Clone>() {
    let fixture = Fixture::<B>::build();
    let result = runner(256).run(&vec(garbage(), 1..=24), |garbage| {
        check_garbage(&fixture, &garbage)
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

#[test]
fn random_garbage_commands_never_change_the_state_hash() {
    garbage_never_changes_state::<LadderBook>();
}

#[test]
fn random_garbage_commands_never_change_the_reference_state_hash() {
    garbage_never_changes_state::<ReferenceBook>();
}

/// The fixture really holds what the flaws rely on.
#[test]
fn the_fixture_is_what_the_flaws_assume() {
    let fixture = Fixture::<LadderBook>::build();
    let engine = &fixture.engine;
    assert_eq!(engine.market_status(MAIN), Some(MarketStatus::Open));
    assert_eq!(engine.market_status(PLACE), Some(MarketStatus::Open));
    assert_eq!(engine.market_status(PENDING), Some(MarketStatus::Pending));
    assert_eq!(
        engine.market_status(SUSPENDED),
        Some(MarketStatus::Suspended)
    );
    assert_eq!(engine.market_status(CLOSED), Some(MarketStatus::Closed));
    assert_eq!(engine.market_status(SETTLED), Some(MarketStatus::Settled));
    assert_eq!(engine.market_status(VOIDED), Some(MarketStatus::Voided));
    assert_eq!(engine.open_orders(FULL), Some(2));
    assert_eq!(engine.balance(BROKE), Some(0));
    // Orders rest, some are gone (matched or cancelled), and the suspended market kept its
    // `persist` order.
    assert!(fixture.live().len() >= 10);
    assert!(fixture.dead().iter().any(|p| p.market == MAIN));
    assert!(fixture.live().iter().any(|p| p.market == SUSPENDED));
    assert!(!fixture.crossing_targets().is_empty());
    assert_eq!(
        engine
            .order(fixture.poor_lay_order)
            .map(|o| o.remaining_minor),
        Some(100)
    );
    assert!(fixture.free_balance_minor(POOR) < 24_000);
    assert!(engine.order(fixture.post_only_order).is_some());
}

/// Read-only commands change nothing either.
#[test]
fn balances_leaves_the_state_hash_alone() {
    let fixture = Fixture::<LadderBook>::build();
    let mut engine = fixture.engine.clone();
    let hash = engine.state_hash();
    let mut events = Vec::new();
    engine.apply(&input(fixture.ts_ns + 1, Command::Balances {}), &mut events);
    assert_eq!(events.len(), engine.account_ids().count());
    assert_eq!(engine.state_hash(), hash);
}

// ---------------------------------------------------------------------------------------------
// Parsing: JSON-ish text never panics
// ---------------------------------------------------------------------------------------------

/// One valid line of every command, for mutation.
fn valid_lines() -> Vec<String> {
    let commands = vec![
        Command::CreateAccount {
            account: AccountId(40),
            tier: Tier::Pro,
            min_stake_minor: Some(1),
            max_stake_minor: Some(500),
            max_market_exposure_minor: Some(9_000),
            max_open_orders: Some(3),
            stp: SelfTradePrevention::CancelBoth,
            role: Role::Trader,
        },
        Command::Deposit {
            account: RICH,
            amount_minor: 500,
            transfer_id: 77,
        },
        Command::Withdraw {
            account: RICH,
            amount_minor: 500,
            transfer_id: 78,
        },
        Command::KillSwitch {
            account: BASIC,
            on: true,
        },
        Command::create_market(MarketSpec {
            market: MarketId(40),
            kind: Default::default(),
            selections: vec![SelectionId(1), SelectionId(2), SelectionId(3)],
            places: 2,
            ladder: LadderKind::Probability,
            commission_bps: 250,
            ..MarketSpec::default()
        }),
        Command::OpenMarket { market: PENDING },
        Command::SuspendMarket { market: MAIN },
        Command::ResumeMarket { market: SUSPENDED },
        Command::CloseMarket { market: PLACE },
        Command::SettleMarket {
            market: CLOSED,
            winners: vec![SelectionId(1), SelectionId(3)],
        },
        Command::VoidMarket { market: MAIN },
        Command::PlaceOrder {
            account: RICH,
            market: MAIN,
            selection: SelectionId(1),
            side: Side::Lay,
            odds_x100: 300,
            stake_minor: 250,
            tif: TimeInForce::Fok,
            post_only: true,
            persistence: oddsmatch_engine::Persistence::Persist,
            client_order_id: 91,
        },
        Command::CancelOrder {
            account: RICH,
            market: MAIN,
            order_id: Some(OrderId(1)),
            client_order_id: None,
        },
        Command::ReplaceOrder {
            account: RICH,
            market: MAIN,
            order_id: OrderId(1),
            odds_x100: 310,
            stake_minor: 50,
        },
        Command::MassCancel {
            account: RICH,
            market: None,
        },
        Command::MassQuote {
            account: MAKER,
            market: MAIN,
            quotes: vec![two_sided(1, (400, 100), (150, 100))],
        },
        Command::Balances {},
    ];
    commands
        .into_iter()
        .map(|command| serde_json::to_string(&input(5, command)).expect("serializes"))
        .collect()
}

/// Text to splice into a line: JSON punctuation, extreme numbers, other types.
const SPLICES: [&str; 24] = [
    "-1",
    "0",
    "18446744073709551616",
    "-9223372036854775809",
    "4294967296",
    "1e400",
    "1.5",
    "null",
    "true",
    "\"x\"",
    "[]",
    "{}",
    "[1,1,1,1,1,1,1,1,1,1]",
    ",",
    ":",
    "\"",
    "{",
    "}",
    "\\u0000",
    "\"cmd\":\"place_order\"",
    "\"ts\":",
    "\"tier\":\"HOUSE\"",
    "\"quotes\":[{\"selection\":1}]",
    "\u{00e9}\u{1F600}",
];

#[derive(Clone, Debug)]
enum Edit {
    Delete(Index, u8),
    Insert(Index, Index),
    InsertText(Index, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), 1u8..8).prop_map(|(at, len)| Edit::Delete(at, len)),
        (any::<Index>(), any::<Index>()).prop_map(|(at, splice)| Edit::Insert(at, splice)),
        (any::<Index>(), "[-{}\\[\\]\":,.0-9a-z_ ]{1,6}")
            .prop_map(|(at, text)| Edit::InsertText(at, text)),
    ]
}

fn mutate(line: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = line.chars().collect();
    for edit in edits {
        let at = |index: &Index, len: usize| index.index(len + 1);
        match edit {
            Edit::Delete(index, len) => {
                if !chars.is_empty() {
                    let start = index.index(chars.len());
                    let end = (start + usize::from(*len)).min(chars.len());
                    chars.drain(start..end);
                }
            }
            Edit::Insert(index, splice) => {
                let start = at(index, chars.len());
                let text = pick(&SPLICES, splice);
                chars.splice(start..start, text.chars());
            }
            Edit::InsertText(index, text) => {
                let start = at(index, chars.len());
                chars.splice(start..start, text.chars());
            }
        }
    }
    chars.into_iter().collect()
}

/// Keys the sim format uses, so that random objects get close to real commands.
const KEYS: [&str; 30] = [
    "ts",
    "cmd",
    "account",
    "market",
    "selection",
    "selections",
    "side",
    "odds",
    "stake",
    "tif",
    "post_only",
    "persistence",
    "client_order_id",
    "order_id",
    "amount",
    "transfer_id",
    "on",
    "tier",
    "stp",
    "min_stake",
    "max_stake",
    "max_market_exposure",
    "max_open_orders",
    "places",
    "ladder",
    "commission_bps",
    "winners",
    "quotes",
    "back_odds",
    "lay_stake",
];

/// Strings the sim format uses as values.
const WORDS: [&str; 24] = [
    "place_order",
    "cancel_order",
    "replace_order",
    "mass_quote",
    "mass_cancel",
    "create_account",
    "create_market",
    "settle_market",
    "deposit",
    "withdraw",
    "kill_switch",
    "balances",
    "back",
    "lay",
    "gtc",
    "ioc",
    "fok",
    "lapse",
    "persist",
    "betfair",
    "probability",
    "MARKET_MAKER",
    "cancel_both",
    "house",
];

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![-3i64..=400, any::<i64>()].prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(WORDS.to_vec()).prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 48, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            vec((prop::sample::select(KEYS.to_vec()), inner), 0..8).prop_map(|entries| {
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(key, value)| (key.to_string(), value))
                        .collect(),
                )
            }),
        ]
    })
}

/// A command-shaped object: a `cmd` and `ts` and some known keys with random values.
fn command_object() -> impl Strategy<Value = String> {
    (
        prop::sample::select(WORDS[..12].to_vec()),
        any::<u64>(),
        vec((prop::sample::select(KEYS.to_vec()), json_value()), 0..8),
    )
        .prop_map(|(cmd, ts, entries)| {
            let mut object = serde_json::Map::new();
            object.insert("ts".into(), ts.into());
            object.insert("cmd".into(), cmd.into());
            for (key, value) in entries {
                object.insert(key.to_string(), value);
            }
            serde_json::Value::Object(object).to_string()
        })
}

/// Numbers at and around the edges of every integer type the format uses.
fn edge_number() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    prop_oneof![
        (-2i64..=20).prop_map(Value::from),
        prop::sample::select(vec![
            Value::from(u64::from(u16::MAX)),
            Value::from(u64::from(u16::MAX) + 1),
            Value::from(u64::from(u32::MAX)),
            Value::from(u64::from(u32::MAX) + 1),
            Value::from(u64::MAX),
            Value::from(i64::MAX),
            Value::from(i64::MIN),
            Value::from(MAX_AMOUNT_MINOR),
            Value::from(MAX_AMOUNT_MINOR + 1),
            Value::from(100_000),
            Value::from(100_010),
            Value::from(-0.0),
            Value::from(2.5),
        ]),
        any::<i64>().prop_map(Value::from),
    ]
}

/// A change to one field of a valid line, keeping it JSON: a new value, or no field.
#[derive(Clone, Debug)]
enum FieldEdit {
    Set(Index, serde_json::Value),
    Remove(Index),
    Add(Index, serde_json::Value),
}

fn field_edit() -> impl Strategy<Value = FieldEdit> {
    let value = || {
        prop_oneof![
            4 => edge_number(),
            1 => prop::sample::select(WORDS.to_vec()).prop_map(serde_json::Value::from),
            1 => json_value(),
            1 => vec(edge_number(), 0..12).prop_map(serde_json::Value::Array),
        ]
    };
    prop_oneof![
        6 => (any::<Index>(), value()).prop_map(|(key, value)| FieldEdit::Set(key, value)),
        1 => any::<Index>().prop_map(FieldEdit::Remove),
        1 => (any::<Index>(), value()).prop_map(|(key, value)| FieldEdit::Add(key, value)),
    ]
}

/// Applies field edits to a valid line, descending into the first quote of a mass quote too.
fn edit_fields(line: &str, edits: &[FieldEdit]) -> String {
    let mut value: serde_json::Value = serde_json::from_str(line).expect("a valid line");
    for edit in edits {
        let object = value.as_object_mut().expect("a line is an object");
        let keys: Vec<String> = object.keys().filter(|k| *k != "cmd").cloned().collect();
        match edit {
            FieldEdit::Set(key, new) if !keys.is_empty() => {
                let key = &keys[key.index(keys.len())];
                match object.get_mut(key) {
                    Some(serde_json::Value::Array(items)) if !items.is_empty() => {
                        // Into a list (winners, selections, quotes): change one element, or
                        // one field of a quote.
                        let n = items.len();
                        match &mut items[n - 1] {
                            serde_json::Value::Object(quote) => {
                                let quote_keys: Vec<String> = quote.keys().cloned().collect();
                                // An earlier edit may have left an empty object here.
                                let quote_key = match quote_keys.len() {
                                    0 => "selection".to_string(),
                                    len => quote_keys[key.len() % len].clone(),
                                };
                                quote.insert(quote_key, new.clone());
                            }
                            item => *item = new.clone(),
                        }
                    }
                    _ => {
                        object.insert(key.clone(), new.clone());
                    }
                }
            }
            FieldEdit::Remove(key) if !keys.is_empty() => {
                object.remove(&keys[key.index(keys.len())]);
            }
            FieldEdit::Add(key, new) => {
                object.insert(pick(&KEYS, key).to_string(), new.clone());
            }
            _ => {}
        }
    }
    value.to_string()
}

fn json_ish() -> impl Strategy<Value = String> {
    let lines = valid_lines();
    prop_oneof![
        6 => (prop::sample::select(lines.clone()), vec(field_edit(), 1..3))
            .prop_map(|(line, edits)| edit_fields(&line, &edits)),
        1 => any::<String>(),
        1 => "[-{}\\[\\]\":,.0-9a-zE_ +\\\\]{0,120}",
        2 => (prop::sample::select(lines), vec(edit(), 1..6))
            .prop_map(|(line, edits)| mutate(&line, &edits)),
        1 => json_value().prop_map(|value| value.to_string()),
        1 => command_object(),
    ]
}

/// Parses a line; whatever parses must round-trip and go through the engine without harm.
fn check_line<B: OrderBook + Clone>(fixture: &Fixture<B>, line: &str) -> Result<(), TestCaseError> {
    // Decoding events must not panic either (the replay tool reads them back).
    let _ = serde_json::from_str::<Event>(line);
    let Ok(parsed) = serde_json::from_str::<Input>(line) else {
        return Ok(());
    };
    let text = serde_json::to_string(&parsed).expect("an input serializes");
    let again: Input = serde_json::from_str(&text)
        .map_err(|e| TestCaseError::fail(format!("{text} does not parse back: {e}")))?;
    prop_assert_eq!(&again, &parsed, "round trip of {}", line);

    let mut engine = fixture.engine.clone();
    // Let time pass first: what falls due at the line's time (ticks, locks) is not the
    // command's doing.
    let timer = Input {
        ts_ns: parsed.ts_ns,
        command: Command::Timer {},
    };
    engine.apply(&timer, &mut Vec::new());
    let hash = engine.state_hash();
    let mut events = Vec::new();
    engine.apply(&parsed, &mut events);
    if let Err(problem) = engine.validate() {
        return Err(TestCaseError::fail(format!(
            "invalid after {line}: {problem}"
        )));
    }
    if rejection(&events).is_some() {
        prop_assert_eq!(events.len(), 1, "{} gave {:?}", line, events);
        prop_assert_eq!(
            engine.state_hash(),
            hash,
            "refused {} changed the state",
            line
        );
    }
    Ok(())
}

#[test]
fn random_json_never_panics_the_parser_or_the_engine() {
    let fixture = Fixture::<LadderBook>::build();
    let result = runner(2_048).run(&json_ish(), |line| check_line(&fixture, &line));
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

#[test]
fn every_valid_line_parses() {
    let fixture = Fixture::<LadderBook>::build();
    for line in valid_lines() {
        serde_json::from_str::<Input>(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        check_line(&fixture, &line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
}
