//! Robustness: random garbage commands never change the state hash.
//!
//! A populated engine (accounts of every kind, markets in every state, resting and matched
//! orders, pools with bets, a price band around a feed's reference, an in-play delay holding an
//! order, votes inside their window, an API key on every account) receives random commands that are invalid by
//! construction: each is a valid command with exactly one thing broken, so the reason it must
//! be refused is known. Every one must produce exactly one `rejected` event, with that reason
//! and naming what the command named, and leave the state hash unchanged and `validate()`
//! passing. Where a flaw is a mutation of a valid command, the unmutated command is applied to
//! a copy first, to prove that the flaw and nothing else is what gets it refused. Some
//! commands are sent at other times (back before a vote window, at `u64::MAX`): a `timer` at
//! that time runs first, on a copy, and the command alone must still change nothing when
//! refused.
//!
//! Below that, random JSON-ish text is fed to the sim line parser (`Input`, `Event`); it may
//! fail to parse, but must never panic, and whatever parses must survive the engine. Last,
//! markets with random knobs at the ends of their ranges are traded at extreme times and
//! stakes, to hunt arithmetic overflow.

#[path = "gen/mod.rs"]
mod generators;

use generators::{cases_from_env, input, off_ladder, persistence, rejection, side};
use oddsmatch_engine::book::{LadderBook, OrderBook, ReferenceBook};
use oddsmatch_engine::odds::implied_bps;
use oddsmatch_engine::{
    AccountId, ApiSecret, BET_DELAY_RANGE, CIRCUIT_BREAKER_RANGE, CIRCUIT_BREAKER_WINDOW_RANGE,
    Command, CommandKind, Engine, EngineConfig, Event, Input, LOCK_BEFORE_END_RANGE, LadderKind,
    MAX_AMOUNT_MINOR, MAX_SELECTIONS, MarketId, MarketKind, MarketKnobs, MarketSpec, MarketStatus,
    ODDS_CHANGE_THRESHOLD_RANGE, ODDS_HEARTBEAT_RANGE, ODDS_TICK_INTERVAL_RANGE, OrderId,
    PRICE_BAND_RANGE, Query, Quote, RejectReason, Reply, Resolution, Role, SelectionId,
    SelfTradePrevention, Side, TAKEOUT_RANGE, Tier, TimeInForce, VoteWeight,
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
/// A price feed (role `feed`): sends reference odds, may do nothing that trades.
const FEED: AccountId = AccountId(9);
/// Every account the fixture created.
const ALL_ACCOUNTS: [AccountId; 9] = [RICH, BASIC, MAKER, POOR, FULL, KILLED, CAPPED, BROKE, FEED];
/// The first account id the fixture did not create.
const FIRST_FRESH_ACCOUNT: u32 = 10;
/// Every fixture account holds the API key `KEY_ID_BASE + its id`.
const KEY_ID_BASE: u64 = 7_000;
/// A key id no account holds.
const FRESH_KEY_ID: u64 = 999_999;
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

/// Pool, selections 1-3, open, with bets (one of them cancelled); its maximum pool is nearly
/// reached, and its indicative odds never trip the breaker.
const POOL: MarketId = MarketId(17);
/// Pool, selections 1-2, with bets, locked (suspended) by its `lock_at`.
const POOL_LOCKED: MarketId = MarketId(18);
/// Exchange, selections 1-3, open, with a price band around the feed's reference and resting
/// orders inside it.
const BAND: MarketId = MarketId(19);
/// Exchange, selections 1-2, open, with an in-play delay: one order rests (its delay is over),
/// one still waits.
const DELAY: MarketId = MarketId(20);
/// Exchange, selections 1-3, open, resolved by vote (one per account) inside its window, with
/// votes.
const VOTE: MarketId = MarketId(21);
/// Exchange, selections 1-2, closed (stake weighs only once it is), resolved by vote weighed
/// by stake inside its window; only `RICH` and `BASIC` have positions (a matched bet), and
/// `RICH` has voted.
const VOTE_STAKE: MarketId = MarketId(22);
/// Exchange, selections 1-2, pending, resolved by vote in a window that has not started.
const VOTE_LATER: MarketId = MarketId(23);
const ALL_MARKETS: [MarketId; 14] = [
    MAIN,
    PLACE,
    PENDING,
    SUSPENDED,
    CLOSED,
    SETTLED,
    VOIDED,
    POOL,
    POOL_LOCKED,
    BAND,
    DELAY,
    VOTE,
    VOTE_STAKE,
    VOTE_LATER,
];
/// Open exchange markets, where a pool bet is of the wrong kind.
const OPEN_EXCHANGES: [MarketId; 5] = [MAIN, PLACE, BAND, DELAY, VOTE];
/// Markets that take no bet or order because they are not open.
const NOT_OPEN_ANY: [MarketId; 8] = [
    PENDING,
    SUSPENDED,
    CLOSED,
    SETTLED,
    VOIDED,
    POOL_LOCKED,
    VOTE_STAKE,
    VOTE_LATER,
];
/// The accounts with a position on `VOTE_STAKE`.
const STAKE_VOTERS: [AccountId; 2] = [RICH, BASIC];
const FINAL: [MarketId; 2] = [SETTLED, VOIDED];
/// Markets that are not final and not resolved by vote.
const NO_VOTE: [MarketId; 9] = [
    MAIN,
    PLACE,
    PENDING,
    SUSPENDED,
    CLOSED,
    POOL,
    POOL_LOCKED,
    BAND,
    DELAY,
];
/// Markets that accept reference odds (every one that is not final).
const NOT_FINAL: [MarketId; 12] = [
    MAIN,
    PLACE,
    PENDING,
    SUSPENDED,
    CLOSED,
    POOL,
    POOL_LOCKED,
    BAND,
    DELAY,
    VOTE,
    VOTE_STAKE,
    VOTE_LATER,
];

const POOL_TAKEOUT_BPS: u16 = 1_000;
const POOL_MAX_POOL_MINOR: i64 = 20_000;
const POOL_MAX_BET_MINOR: i64 = 50_000;
const POOL_MAX_EXPOSURE_MINOR: i64 = 30_000;
const BAND_BPS: u16 = 500;
/// The feed's probabilities of `BAND`'s selections.
const BAND_REFERENCE_BPS: [u16; 3] = [5_000, 3_000, 2_000];
const DELAY_MS: u32 = 1_000;

const SECOND_NS: u64 = 1_000_000_000;
const HOUR_NS: u64 = 3_600 * SECOND_NS;
/// Where the fixture's clock jumps for its second part: the first delayed order has entered
/// the book and `POOL_LOCKED` has locked. Nothing else falls due for a while after it.
const LATER_NS: u64 = 10 * SECOND_NS;
/// `POOL_LOCKED`'s lock time.
const POOL_LOCK_NS: u64 = LATER_NS - 1_000;
/// `VOTE`'s window: it has started by `LATER_NS` (not in the first part).
const VOTE_WINDOW: (u64, u64) = (LATER_NS / 2, LATER_NS + HOUR_NS);
/// `VOTE_STAKE`'s window.
const VOTE_STAKE_WINDOW: (u64, u64) = (0, LATER_NS + HOUR_NS);
/// `VOTE_LATER`'s window.
const VOTE_LATER_WINDOW: (u64, u64) = (LATER_NS + HOUR_NS, LATER_NS + 2 * HOUR_NS);
/// Later than every time the fixture has a use for (vote windows that end after it are
/// still open during the garbage).
const HORIZON_NS: u64 = LATER_NS + 3 * HOUR_NS;
/// The time of the sample lines of the JSON fuzz: a millisecond after the fixture, before
/// anything falls due.
const LINE_TS: u64 = LATER_NS + 1_000_000;

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

/// A pool bet the fixture saw accepted.
#[derive(Clone, Copy, Debug)]
struct PlacedBet {
    bet_id: OrderId,
    account: AccountId,
    market: MarketId,
    client_order_id: u64,
    /// Cancelled by the fixture.
    cancelled: bool,
}

/// An id a client chose, and the order or bet that holds it.
#[derive(Clone, Copy, Debug)]
struct Used {
    account: AccountId,
    client_order_id: u64,
    holder: OrderId,
}

/// The populated engine and what the tests know about it.
struct Fixture<B: OrderBook> {
    engine: Engine<B>,
    ts_ns: u64,
    placed: Vec<Placed>,
    bets: Vec<PlacedBet>,
    /// The post-only back of `RICH` on `MAIN` selection 2.
    post_only_order: OrderId,
    /// The lay of `POOR` on `MAIN` selection 3.
    poor_lay_order: OrderId,
    /// The back of `RICH` on `DELAY` selection 1 at 3.00, resting: its delay is over.
    delay_resting_order: OrderId,
    /// The lay of `BASIC` on `DELAY` selection 2, still waiting out its delay.
    delay_waiting_order: OrderId,
    transfer_ids: Vec<u64>,
}

impl<B: OrderBook> Fixture<B> {
    fn build() -> Fixture<B> {
        let mut fixture = Fixture {
            engine: Engine::new(EngineConfig::small()),
            ts_ns: 0,
            placed: Vec::new(),
            bets: Vec::new(),
            post_only_order: OrderId(0),
            poor_lay_order: OrderId(0),
            delay_resting_order: OrderId(0),
            delay_waiting_order: OrderId(0),
            transfer_ids: Vec::new(),
        };
        fixture.create_accounts();
        fixture.create_markets();
        fixture.trade_main();
        fixture.trade_place();
        fixture.finish_other_markets();
        fixture.create_odds_markets();
        fixture.later();
        fixture.apply(Command::KillSwitch {
            account: KILLED,
            on: true,
        });
        for account in ALL_ACCOUNTS {
            fixture.apply(Command::SetApiKey {
                account,
                key_id: KEY_ID_BASE + u64::from(account.0),
                secret: ApiSecret([account.0 as u8; 32]),
            });
        }
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
            match *event {
                Event::OrderAccepted {
                    order_id,
                    account,
                    client_order_id,
                    market,
                    selection,
                    side,
                    ..
                } => self.placed.push(Placed {
                    order_id,
                    account,
                    market,
                    selection,
                    side,
                    client_order_id,
                }),
                Event::BetAccepted {
                    bet_id,
                    account,
                    client_order_id,
                    market,
                    ..
                } => self.bets.push(PlacedBet {
                    bet_id,
                    account,
                    market,
                    client_order_id,
                    cancelled: false,
                }),
                Event::BetCancelled { bet_id, .. } => {
                    for bet in self.bets.iter_mut().filter(|b| b.bet_id == bet_id) {
                        bet.cancelled = true;
                    }
                }
                _ => {}
            }
        }
        events
    }

    /// Places a pool bet and returns its id.
    fn bet(
        &mut self,
        account: AccountId,
        market: MarketId,
        selection: u32,
        stake_minor: i64,
        client_order_id: u64,
    ) -> OrderId {
        self.apply(Command::PlaceBet {
            account,
            market,
            selection: SelectionId(selection),
            stake_minor,
            client_order_id,
        })
        .iter()
        .find_map(|event| match event {
            Event::BetAccepted { bet_id, .. } => Some(*bet_id),
            _ => None,
        })
        .expect("the bet was accepted")
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

    /// The feed, and the markets of the odds engine as far as the first part of the clock
    /// takes them.
    fn create_odds_markets(&mut self) {
        use Side::{Back, Lay};
        use TimeInForce::Gtc;
        self.apply(Command::CreateAccount {
            account: FEED,
            tier: Tier::Basic,
            min_stake_minor: None,
            max_stake_minor: None,
            max_market_exposure_minor: None,
            max_open_orders: None,
            stp: SelfTradePrevention::default(),
            role: Role::Feed,
        });

        self.apply(Command::create_market(MarketSpec {
            kind: MarketKind::Pool,
            takeout_bps: POOL_TAKEOUT_BPS,
            max_pool_minor: Some(POOL_MAX_POOL_MINOR),
            max_bet_minor: Some(POOL_MAX_BET_MINOR),
            max_exposure_minor: Some(POOL_MAX_EXPOSURE_MINOR),
            // A small pool's odds swing widely: the breaker stays out of the flaws' way.
            circuit_breaker_min_pool_minor: Some(MAX_AMOUNT_MINOR),
            ..spec(POOL, 3)
        }));
        self.apply(Command::OpenMarket { market: POOL });
        self.bet(RICH, POOL, 1, 5_000, 20);
        self.bet(BASIC, POOL, 2, 4_000, 20);
        self.bet(MAKER, POOL, 1, 3_000, 20);
        let cancelled = self.bet(BASIC, POOL, 3, 2_000, 21);
        self.apply(Command::CancelBet {
            account: BASIC,
            market: POOL,
            bet_id: cancelled,
        });
        self.bet(POOR, POOL, 3, 500, 20);

        self.apply(Command::create_market(MarketSpec {
            kind: MarketKind::Pool,
            lock_at: Some(POOL_LOCK_NS),
            circuit_breaker_min_pool_minor: Some(MAX_AMOUNT_MINOR),
            ..spec(POOL_LOCKED, 2)
        }));
        self.apply(Command::OpenMarket {
            market: POOL_LOCKED,
        });
        self.bet(RICH, POOL_LOCKED, 1, 1_000, 22);
        self.bet(BASIC, POOL_LOCKED, 2, 1_000, 22);

        self.apply(Command::create_market(MarketSpec {
            price_band_bps: Some(BAND_BPS),
            ..spec(BAND, 3)
        }));
        self.apply(Command::OpenMarket { market: BAND });
        self.apply(Command::ReferenceOdds {
            account: FEED,
            market: BAND,
            probabilities_bps: BAND_REFERENCE_BPS.to_vec(),
        });
        self.place(RICH, BAND, 1, Back, 210, 1_000, Gtc, 30);
        self.place(BASIC, BAND, 1, Lay, 190, 1_000, Gtc, 30);
        self.place(MAKER, BAND, 2, Back, 350, 500, Gtc, 30);

        self.apply(Command::create_market(MarketSpec {
            bet_delay_ms: DELAY_MS,
            ..spec(DELAY, 2)
        }));
        self.apply(Command::OpenMarket { market: DELAY });
        // Enters the book when the clock jumps.
        self.delay_resting_order = self.place(RICH, DELAY, 1, Back, 300, 500, Gtc, 40);

        let vote = |window: (u64, u64), quorum, weight| {
            Some(Resolution::Vote {
                window_start: window.0,
                window_end: window.1,
                quorum,
                threshold_bps: 5_000,
                weight,
            })
        };
        self.apply(Command::create_market(MarketSpec {
            resolution: vote(VOTE_WINDOW, 2, VoteWeight::OnePerAccount),
            ..spec(VOTE, 3)
        }));
        self.apply(Command::OpenMarket { market: VOTE });
        self.apply(Command::create_market(MarketSpec {
            resolution: vote(VOTE_STAKE_WINDOW, 1, VoteWeight::Stake),
            ..spec(VOTE_STAKE, 2)
        }));
        self.apply(Command::OpenMarket { market: VOTE_STAKE });
        self.place(RICH, VOTE_STAKE, 1, Back, 500, 200, Gtc, 50);
        self.place(BASIC, VOTE_STAKE, 1, Lay, 500, 200, Gtc, 50);
        self.apply(Command::CloseMarket { market: VOTE_STAKE });
        self.vote(RICH, VOTE_STAKE, 1);
        self.apply(Command::create_market(MarketSpec {
            resolution: vote(VOTE_LATER_WINDOW, 1, VoteWeight::OnePerAccount),
            ..spec(VOTE_LATER, 2)
        }));
    }

    /// Jumps the clock to `LATER_NS` (the first delayed order enters the book, `POOL_LOCKED`
    /// locks, heartbeats are published), then votes and leaves an order waiting.
    fn later(&mut self) {
        assert!(self.ts_ns < LATER_NS / 2, "the first part takes no time");
        self.ts_ns = LATER_NS - 1;
        self.apply(Command::Timer {});
        self.vote(RICH, VOTE, 1);
        self.vote(BASIC, VOTE, 2);
        self.vote(MAKER, VOTE, 1);
        self.vote(BASIC, VOTE, 1);
        self.delay_waiting_order =
            self.place(BASIC, DELAY, 2, Side::Lay, 200, 300, TimeInForce::Gtc, 41);
    }

    fn vote(&mut self, account: AccountId, market: MarketId, selection: u32) {
        self.apply(Command::Vote {
            account,
            market,
            selection: SelectionId(selection),
        });
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

    fn live_bets(&self) -> Vec<PlacedBet> {
        self.bets.iter().copied().filter(|b| !b.cancelled).collect()
    }

    /// Every client order id in use, orders' and bets' alike (they share one window).
    fn used_ids(&self) -> Vec<Used> {
        let orders = self
            .placed
            .iter()
            .filter(|p| p.client_order_id != 0)
            .map(|p| Used {
                account: p.account,
                client_order_id: p.client_order_id,
                holder: p.order_id,
            });
        let bets = self.bets.iter().map(|b| Used {
            account: b.account,
            client_order_id: b.client_order_id,
            holder: b.bet_id,
        });
        orders.chain(bets).collect()
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
            MAIN | CLOSED | POOL | BAND | VOTE => 3,
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

/// A market definition with selections `1..=selections` and every other knob at its default.
fn spec(market: MarketId, selections: u32) -> MarketSpec {
    MarketSpec::new(market, (1..=selections).map(SelectionId).collect())
}

/// `BAND`'s ladder prices inside (or outside) the band around a selection's reference.
fn band_prices(selection: SelectionId, inside: bool) -> Vec<u32> {
    let reference = u32::from(BAND_REFERENCE_BPS[selection.0 as usize - 1]);
    LadderKind::Betfair
        .prices()
        .iter()
        .copied()
        .filter(|odds| (implied_bps(*odds).abs_diff(reference) <= u32::from(BAND_BPS)) == inside)
        .collect()
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
    /// The feed: it may do nothing that trades.
    Feed,
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
            BadAccount::Feed => (FEED, RejectReason::RoleNotPermitted),
        }
    }

    /// As the sender of reference odds, where only the feed may send them: house accounts and
    /// traders are refused for their role.
    fn resolve_for_feed(&self) -> (AccountId, RejectReason) {
        match self {
            BadAccount::Unknown(_) | BadAccount::ReservedUnused(_) => self.resolve(),
            BadAccount::House(_) => (self.resolve().0, RejectReason::RoleNotPermitted),
            BadAccount::Feed => (RICH, RejectReason::RoleNotPermitted),
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
    /// On an open pool.
    WrongKind,
    /// On `BAND`: (selection, odds outside the band, odds inside it for the control).
    OutsidePriceBand(Index, Index, Index),
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
    /// A resting order of `BAND` to odds outside the band.
    OutsidePriceBand(Index, Index),
    /// The order waiting out `DELAY`'s delay, to any odds and stake.
    DelayWaiting(Index, i64),
    /// The resting order of `DELAY`, to other odds or a larger stake.
    DelayMatchable(Index, i64),
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
    /// On an open pool.
    WrongKind,
    /// On `DELAY`.
    InPlayDelay,
    /// On `BAND`: (selection, odds outside the band, odds inside it for the control).
    OutsidePriceBand(Index, Index, Index),
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
    /// Winners of a market that may be settled: closed, suspended, or the locked pool.
    Winners(Index, WinnersFlaw),
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

/// One of the odds engine's knobs out of its range, or in a definition it does not fit.
#[derive(Clone, Debug)]
enum KnobFlaw {
    Threshold(u16),
    TickInterval(u32),
    Heartbeat(u32),
    Breaker(u16),
    BreakerWindow(u32),
    BreakerMinPool(i64),
    LockBeforeEnd(u32),
    BetDelay(u32),
    Takeout(u16),
    PriceBand(u16),
    /// `max_pool`, `max_bet` or `max_exposure` (by the index modulo 3) out of `1..=MAX`.
    Amount(u8, i64),
    /// Both `lock_at` and `end_at`.
    LockAndEnd(u64, u64),
    /// An exchange with a takeout (`Ok`) or a maximum pool (`Err`).
    PoolKnobOnExchange(Result<u16, i64>),
    /// A pool with a commission (`Ok`) or an in-play delay (`Err`).
    ExchangeKnobOnPool(Result<u16, u32>),
    Vote(VoteRuleFlaw),
}

/// Vote rules a market may not be created with.
#[derive(Clone, Debug)]
enum VoteRuleFlaw {
    /// Two places on three selections.
    Places,
    /// A window that ends at or before it starts: (start, how far before it the end is).
    EmptyWindow(u64, u64),
    /// A window that ended before the command.
    Ended(u64),
    NoQuorum,
    Threshold(u16),
}

/// Valid values of the odds engine's knobs, as a base for market definitions.
#[derive(Clone, Debug)]
struct Knobs {
    pool: bool,
    takeout_bps: u16,
    max_pool_minor: Option<i64>,
    max_bet_minor: Option<i64>,
    max_exposure_minor: Option<i64>,
    market_data: Option<bool>,
    odds_change_threshold_bps: Option<u16>,
    odds_tick_interval_ms: Option<u32>,
    odds_heartbeat_ms: Option<u32>,
    circuit_breaker_bps: Option<u16>,
    circuit_breaker_window_ms: Option<u32>,
    circuit_breaker_min_pool_minor: Option<i64>,
    price_band_bps: Option<u16>,
    lock: Lock,
    close_at: Option<u64>,
    bet_delay_ms: u32,
    resolution: Option<Resolution>,
}

/// How a market locks.
#[derive(Clone, Copy, Debug)]
enum Lock {
    Never,
    At(u64),
    /// `end_at` and `lock_before_end_ms`.
    BeforeEnd(u64, Option<u32>),
}

impl Knobs {
    /// Sets the knobs of a definition (an exchange's pool knobs and a pool's delay stay off).
    fn apply(&self, spec: &mut MarketSpec) {
        spec.kind = if self.pool {
            MarketKind::Pool
        } else {
            MarketKind::Exchange
        };
        if self.pool {
            spec.takeout_bps = self.takeout_bps;
            spec.max_pool_minor = self.max_pool_minor;
        } else {
            spec.bet_delay_ms = self.bet_delay_ms;
        }
        spec.max_bet_minor = self.max_bet_minor;
        spec.max_exposure_minor = self.max_exposure_minor;
        spec.market_data = self.market_data;
        spec.odds_change_threshold_bps = self.odds_change_threshold_bps;
        spec.odds_tick_interval_ms = self.odds_tick_interval_ms;
        spec.odds_heartbeat_ms = self.odds_heartbeat_ms;
        spec.circuit_breaker_bps = self.circuit_breaker_bps;
        spec.circuit_breaker_window_ms = self.circuit_breaker_window_ms;
        spec.circuit_breaker_min_pool_minor = self.circuit_breaker_min_pool_minor;
        spec.price_band_bps = self.price_band_bps;
        match self.lock {
            Lock::Never => {}
            Lock::At(at) => spec.lock_at = Some(at),
            Lock::BeforeEnd(end, before) => {
                spec.end_at = Some(end);
                spec.lock_before_end_ms = before;
            }
        }
        spec.close_at = self.close_at;
        spec.resolution = self.resolution;
    }
}

#[derive(Clone, Debug)]
enum MarketFlaw {
    Duplicate(Index),
    Definition(u32, Knobs, DefinitionFlaw),
    Knob(u32, Knobs, KnobFlaw),
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

#[derive(Clone, Debug)]
enum ApiKeyFlaw {
    /// Unknown or house (never the feed, which may hold a key).
    Account(BadAccount),
    /// Key id 0, for one of the fixture's accounts.
    ZeroKeyId(Index),
    /// (account, another account): the other account's key id.
    Duplicate(Index, Index),
}

/// A knob `set_market_knobs` may not set.
#[derive(Clone, Debug)]
enum KnobChangeFlaw {
    Threshold(u16),
    TickInterval(u32),
    Heartbeat(u32),
    Breaker(u16),
    BreakerWindow(u32),
    BreakerMinPool(i64),
    /// Out of range and not 0 (which removes the band).
    PriceBand(u16),
    /// `max_bet` (even) or `max_exposure` (odd): negative or above the largest amount.
    Amount(u8, i64),
    BetDelay(u32),
    /// A positive in-play delay on a pool.
    DelayOnPool(u32),
}

/// A schedule `schedule_market` may not set on an open or pending market.
#[derive(Clone, Debug)]
enum ScheduleFlaw {
    /// `lock_at` (0), `end_at` (1) or `close_at` (2) at or before the input's time.
    Past(u8, u64),
    /// Both `lock_at` and `end_at`.
    LockAndEnd,
    /// `clear_lock` with a new lock.
    ClearAndLock,
    /// `clear_close` with a new close.
    ClearAndClose,
    /// `end_at` with a lead out of range.
    Lead(u32),
    /// A lead alone, on a market whose lock was not scheduled from an end time.
    LeadWithoutEnd,
    /// An end time whose lock (the default lead before it) is not after the input's time.
    EndTooSoon(u64),
    /// Nothing at all.
    Empty,
}

/// An operator's change to a live account or market that is invalid.
#[derive(Clone, Debug)]
enum AdminFlaw {
    /// `set_account_limits` for an unknown or house account (never the feed, which has
    /// limits too).
    LimitsAccount(BadAccount),
    /// `set_account_limits` to the house tier.
    LimitsHouseTier(Index),
    /// `set_account_limits` with limits out of range.
    Limits(Index, LimitsFlaw),
    KnobsUnknownMarket(u32),
    /// A valid knob on a settled or voided market.
    KnobsFinal(Index),
    /// No knob, on a market that is not final.
    KnobsEmpty(Index),
    /// One knob out of range, on a market that is not final.
    Knob(Index, KnobChangeFlaw),
    ScheduleUnknownMarket(u32),
    /// A valid close on a settled or voided market.
    ScheduleFinal(Index),
    /// A valid close on the closed market.
    ScheduleClosed(u64),
    /// A new lock on a suspended market (it is already locked).
    LockSuspended(bool, u64),
    /// On an open or pending market.
    Schedule(Index, ScheduleFlaw),
}

/// A valid bet of a base trader into `POOL`.
#[derive(Clone, Debug)]
struct BaseBet {
    account: Index,
    selection: Index,
    stake_minor: i64,
    client_order_id: u64,
}

#[derive(Clone, Debug)]
enum BetFlaw {
    Account(BadAccount),
    DuplicateClientOrderId(Index),
    /// A repeat is answered before the market is looked at.
    DuplicateOnClosedMarket(Index, Index),
    UnknownMarket(u32),
    NotOpen(Index),
    WrongKind(Index),
    Selection(u32),
    Stake(BadStake),
    BelowMinimumStake(i64),
    KillSwitch,
    /// Above `CAPPED`'s own exposure limit.
    ExposureLimit(i64),
    /// Above the market's exposure limit, for `RICH`.
    MarketExposureLimit(Index),
    InsufficientFunds,
    /// Past the market's maximum pool, for `MAKER`.
    PoolLimit(Index),
}

#[derive(Clone, Debug)]
enum CancelBetFlaw {
    Account(BadAccount),
    UnknownMarket(u32),
    /// A market that is not open (with a live bet of the locked pool).
    NotOpen(Index),
    WrongKind(Index),
    UnknownBet(u64),
    /// An order's id on the pool.
    OrderId(Index),
    OthersBet(Index, Index),
    CancelledBet,
    /// A live bet of the locked pool, named on the open one.
    OtherPoolsBet(Index),
}

#[derive(Clone, Debug)]
enum ReferenceFlaw {
    Account(BadAccount),
    UnknownMarket(u32),
    Finalized(Index),
    /// (market, a length other than its number of selections)
    WrongLength(Index, usize),
    /// (market, which probability, a value above 10000)
    AboveCertain(Index, Index, u16),
}

/// A valid vote of a base trader on `VOTE`.
#[derive(Clone, Debug)]
struct BaseVote {
    account: Index,
    selection: Index,
}

#[derive(Clone, Debug)]
enum VoteFlaw {
    Account(BadAccount),
    UnknownMarket(u32),
    Finalized(Index),
    NotVoteMarket(Index),
    /// On `VOTE_LATER`, whose window has not started.
    NotStarted,
    /// On `VOTE` at a time before its window (sent back in time).
    BeforeWindow(u64),
    /// On `VOTE` at a time at or after its window's end: the vote has been decided by then.
    AfterWindow(u64),
    Selection(bool, u32),
    /// On `VOTE_STAKE` by an account without a position there.
    NotEligible(Index),
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
    /// A flawed account, created as a feed when the flag says so.
    CreateAccount(AccountFlaw, bool),
    Transfer(TransferFlaw),
    KillSwitch(BadAccount, bool),
    Bet(BaseBet, BetFlaw),
    CancelBet(CancelBetFlaw),
    Reference(ReferenceFlaw, Vec<u16>),
    Vote(BaseVote, VoteFlaw),
    ApiKey(ApiKeyFlaw),
    Admin(AdminFlaw),
}

/// When a garbage command is sent: right after the previous one, or at another time (after
/// a `timer` at that time, on a copy of the engine).
#[derive(Clone, Debug)]
enum When {
    Next,
    At(u64),
}

// -- strategies --

fn bad_account() -> impl Strategy<Value = BadAccount> {
    prop_oneof![
        prop_oneof![Just(0u32), FIRST_FRESH_ACCOUNT..AccountId::RESERVED_MIN]
            .prop_map(BadAccount::Unknown),
        (AccountId::RESERVED_MIN..AccountId::HOUSE_COMMISSION.0)
            .prop_map(BadAccount::ReservedUnused),
        any::<bool>().prop_map(BadAccount::House),
        Just(BadAccount::Feed),
    ]
}

fn unknown_market_id() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..MAIN.0, (VOTE_LATER.0 + 1)..=u32::MAX, Just(u32::MAX)]
}

fn fresh_account_id() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), FIRST_FRESH_ACCOUNT..AccountId::RESERVED_MIN]
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
        Just(OrderFlaw::WrongKind),
        (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(s, out, inside)| OrderFlaw::OutsidePriceBand(s, out, inside)),
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
        (any::<Index>(), any::<Index>())
            .prop_map(|(o, odds)| ReplaceFlaw::OutsidePriceBand(o, odds)),
        (
            any::<Index>(),
            prop_oneof![1i64..=1_000, Just(MAX_AMOUNT_MINOR)]
        )
            .prop_map(|(odds, s)| ReplaceFlaw::DelayWaiting(odds, s)),
        (any::<Index>(), 1i64..=10_000).prop_map(|(odds, s)| ReplaceFlaw::DelayMatchable(odds, s)),
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
        Just(QuoteFlaw::WrongKind),
        Just(QuoteFlaw::InPlayDelay),
        (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(s, out, inside)| QuoteFlaw::OutsidePriceBand(s, out, inside)),
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
        (any::<Index>(), winners_flaw()).prop_map(|(m, w)| LifecycleFlaw::Winners(m, w)),
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

/// Values of a range, its ends often.
fn edges_u16(range: std::ops::RangeInclusive<u16>) -> impl Strategy<Value = u16> {
    let (low, high) = (*range.start(), *range.end());
    prop_oneof![Just(low), Just(high), low..=high]
}

fn edges_u32(range: std::ops::RangeInclusive<u32>) -> impl Strategy<Value = u32> {
    let (low, high) = (*range.start(), *range.end());
    prop_oneof![Just(low), Just(high), low..=high]
}

fn edges_i64(range: std::ops::RangeInclusive<i64>) -> impl Strategy<Value = i64> {
    let (low, high) = (*range.start(), *range.end());
    prop_oneof![Just(low), Just(high), low..=high]
}

/// A u16 outside a range (which must not start at 0 or end at the maximum both).
fn outside_u16(range: std::ops::RangeInclusive<u16>) -> impl Strategy<Value = u16> {
    let (low, high) = (*range.start(), *range.end());
    let below = if low > 0 { low - 1 } else { high + 1 };
    let above = if high < u16::MAX { high + 1 } else { low - 1 };
    prop_oneof![
        Just(below),
        Just(above),
        Just(if high < u16::MAX { u16::MAX } else { 0 }),
        any::<u16>().prop_filter("outside", move |v| !(low..=high).contains(v)),
    ]
}

fn outside_u32(range: std::ops::RangeInclusive<u32>) -> impl Strategy<Value = u32> {
    let (low, high) = (*range.start(), *range.end());
    let below = if low > 0 { low - 1 } else { high + 1 };
    prop_oneof![
        Just(below),
        Just(high + 1),
        Just(u32::MAX),
        any::<u32>().prop_filter("outside", move |v| !(low..=high).contains(v)),
    ]
}

/// An amount outside `1..=MAX_AMOUNT_MINOR` (or `0..=` when `zero_allowed`).
fn bad_amount(zero_allowed: bool) -> impl Strategy<Value = i64> {
    let below = if zero_allowed { -1 } else { 0 };
    prop_oneof![
        Just(below),
        Just(MAX_AMOUNT_MINOR + 1),
        Just(i64::MAX),
        Just(i64::MIN),
        i64::MIN..=below,
        MAX_AMOUNT_MINOR + 1..=i64::MAX,
    ]
}

/// A time: anywhere, at the ends, or near the fixture's.
fn any_time() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        any::<u64>(),
        LATER_NS..HORIZON_NS,
    ]
}

/// A time a market definition may name: anything but `u64::MAX`, which the engine's deadline
/// set reads as "never" and a definition may not use.
fn knob_time() -> impl Strategy<Value = u64> {
    any_time().prop_map(|t| t.min(u64::MAX - 1))
}

/// Vote rules that are valid for a one-place market created before `HORIZON_NS`.
fn vote_rules() -> impl Strategy<Value = Resolution> {
    (
        prop_oneof![
            Just(u64::MAX - 1),
            HORIZON_NS..u64::MAX,
            HORIZON_NS..HORIZON_NS + HOUR_NS
        ],
        any::<u64>(),
        prop_oneof![Just(1u32), Just(u32::MAX), 1u32..=10],
        edges_u16(1..=10_000),
        prop_oneof![Just(VoteWeight::OnePerAccount), Just(VoteWeight::Stake)],
    )
        .prop_map(
            |(window_end, start, quorum, threshold_bps, weight)| Resolution::Vote {
                window_start: start % window_end,
                window_end,
                quorum,
                threshold_bps,
                weight,
            },
        )
}

fn knobs() -> impl Strategy<Value = Knobs> {
    let amount = || prop::option::of(edges_i64(1..=MAX_AMOUNT_MINOR));
    (
        (
            any::<bool>(),
            edges_u16(TAKEOUT_RANGE),
            amount(),
            amount(),
            amount(),
            prop::option::of(any::<bool>()),
        ),
        (
            prop::option::of(edges_u16(ODDS_CHANGE_THRESHOLD_RANGE)),
            prop::option::of(edges_u32(ODDS_TICK_INTERVAL_RANGE)),
            prop::option::of(edges_u32(ODDS_HEARTBEAT_RANGE)),
            prop::option::of(edges_u16(CIRCUIT_BREAKER_RANGE)),
            prop::option::of(edges_u32(CIRCUIT_BREAKER_WINDOW_RANGE)),
            prop::option::of(edges_i64(0..=MAX_AMOUNT_MINOR)),
            prop::option::of(edges_u16(PRICE_BAND_RANGE)),
        ),
        (
            prop_oneof![
                Just(Lock::Never),
                knob_time().prop_map(Lock::At),
                (
                    knob_time(),
                    prop::option::of(edges_u32(LOCK_BEFORE_END_RANGE))
                )
                    .prop_map(|(end, before)| Lock::BeforeEnd(end, before)),
            ],
            prop::option::of(knob_time()),
            edges_u32(BET_DELAY_RANGE),
            prop::option::of(vote_rules()),
        ),
    )
        .prop_map(
            |(
                (pool, takeout_bps, max_pool_minor, max_bet_minor, max_exposure_minor, market_data),
                (threshold, interval, heartbeat, breaker, window, min_pool, band),
                (lock, close_at, bet_delay_ms, resolution),
            )| Knobs {
                pool,
                takeout_bps,
                max_pool_minor,
                max_bet_minor,
                max_exposure_minor,
                market_data,
                odds_change_threshold_bps: threshold,
                odds_tick_interval_ms: interval,
                odds_heartbeat_ms: heartbeat,
                circuit_breaker_bps: breaker,
                circuit_breaker_window_ms: window,
                circuit_breaker_min_pool_minor: min_pool,
                price_band_bps: band,
                lock,
                close_at,
                bet_delay_ms,
                resolution,
            },
        )
}

fn vote_rule_flaw() -> impl Strategy<Value = VoteRuleFlaw> {
    prop_oneof![
        Just(VoteRuleFlaw::Places),
        (any::<u64>(), any::<u64>())
            .prop_map(|(start, back)| VoteRuleFlaw::EmptyWindow(start, back)),
        prop_oneof![Just(0u64), Just(LATER_NS), 0..=LATER_NS].prop_map(VoteRuleFlaw::Ended),
        Just(VoteRuleFlaw::NoQuorum),
        prop_oneof![Just(0u16), 10_001..=u16::MAX].prop_map(VoteRuleFlaw::Threshold),
    ]
}

fn knob_flaw() -> impl Strategy<Value = KnobFlaw> {
    prop_oneof![
        outside_u16(ODDS_CHANGE_THRESHOLD_RANGE).prop_map(KnobFlaw::Threshold),
        outside_u32(ODDS_TICK_INTERVAL_RANGE).prop_map(KnobFlaw::TickInterval),
        outside_u32(ODDS_HEARTBEAT_RANGE).prop_map(KnobFlaw::Heartbeat),
        outside_u16(CIRCUIT_BREAKER_RANGE).prop_map(KnobFlaw::Breaker),
        outside_u32(CIRCUIT_BREAKER_WINDOW_RANGE).prop_map(KnobFlaw::BreakerWindow),
        bad_amount(true).prop_map(KnobFlaw::BreakerMinPool),
        outside_u32(LOCK_BEFORE_END_RANGE).prop_map(KnobFlaw::LockBeforeEnd),
        outside_u32(BET_DELAY_RANGE).prop_map(KnobFlaw::BetDelay),
        outside_u16(TAKEOUT_RANGE).prop_map(KnobFlaw::Takeout),
        outside_u16(PRICE_BAND_RANGE).prop_map(KnobFlaw::PriceBand),
        (any::<u8>(), bad_amount(false)).prop_map(|(which, v)| KnobFlaw::Amount(which, v)),
        (any_time(), any_time()).prop_map(|(lock, end)| KnobFlaw::LockAndEnd(lock, end)),
        prop_oneof![
            edges_u16(1..=*TAKEOUT_RANGE.end()).prop_map(Ok),
            edges_i64(1..=MAX_AMOUNT_MINOR).prop_map(Err),
        ]
        .prop_map(KnobFlaw::PoolKnobOnExchange),
        prop_oneof![
            edges_u16(1..=10_000).prop_map(Ok),
            edges_u32(1..=*BET_DELAY_RANGE.end()).prop_map(Err),
        ]
        .prop_map(KnobFlaw::ExchangeKnobOnPool),
        vote_rule_flaw().prop_map(KnobFlaw::Vote),
    ]
}

fn base_bet() -> impl Strategy<Value = BaseBet> {
    (
        any::<Index>(),
        any::<Index>(),
        1i64..=1_000,
        prop_oneof![1_000_000u64..=u64::MAX, Just(u64::MAX)],
    )
        .prop_map(
            |(account, selection, stake_minor, client_order_id)| BaseBet {
                account,
                selection,
                stake_minor,
                client_order_id,
            },
        )
}

fn bet_flaw() -> impl Strategy<Value = BetFlaw> {
    prop_oneof![
        bad_account().prop_map(BetFlaw::Account),
        any::<Index>().prop_map(BetFlaw::DuplicateClientOrderId),
        (any::<Index>(), any::<Index>()).prop_map(|(u, m)| BetFlaw::DuplicateOnClosedMarket(u, m)),
        unknown_market_id().prop_map(BetFlaw::UnknownMarket),
        any::<Index>().prop_map(BetFlaw::NotOpen),
        any::<Index>().prop_map(BetFlaw::WrongKind),
        prop_oneof![Just(0u32), 4u32..=u32::MAX].prop_map(BetFlaw::Selection),
        bad_stake().prop_map(BetFlaw::Stake),
        (1..CAPPED_MIN_STAKE_MINOR).prop_map(BetFlaw::BelowMinimumStake),
        Just(BetFlaw::KillSwitch),
        (CAPPED_MAX_EXPOSURE_MINOR + 1..=POOL_MAX_BET_MINOR).prop_map(BetFlaw::ExposureLimit),
        any::<Index>().prop_map(BetFlaw::MarketExposureLimit),
        Just(BetFlaw::InsufficientFunds),
        any::<Index>().prop_map(BetFlaw::PoolLimit),
    ]
}

fn cancel_bet_flaw() -> impl Strategy<Value = CancelBetFlaw> {
    prop_oneof![
        bad_account().prop_map(CancelBetFlaw::Account),
        unknown_market_id().prop_map(CancelBetFlaw::UnknownMarket),
        any::<Index>().prop_map(CancelBetFlaw::NotOpen),
        any::<Index>().prop_map(CancelBetFlaw::WrongKind),
        prop_oneof![Just(0u64), 1_000_000u64..=u64::MAX, Just(u64::MAX)]
            .prop_map(CancelBetFlaw::UnknownBet),
        any::<Index>().prop_map(CancelBetFlaw::OrderId),
        (any::<Index>(), any::<Index>()).prop_map(|(b, a)| CancelBetFlaw::OthersBet(b, a)),
        Just(CancelBetFlaw::CancelledBet),
        any::<Index>().prop_map(CancelBetFlaw::OtherPoolsBet),
    ]
}

fn reference_flaw() -> impl Strategy<Value = ReferenceFlaw> {
    prop_oneof![
        bad_account().prop_map(ReferenceFlaw::Account),
        unknown_market_id().prop_map(ReferenceFlaw::UnknownMarket),
        any::<Index>().prop_map(ReferenceFlaw::Finalized),
        (any::<Index>(), prop_oneof![0usize..=8, 0usize..=200])
            .prop_map(|(m, len)| ReferenceFlaw::WrongLength(m, len)),
        (
            any::<Index>(),
            any::<Index>(),
            prop_oneof![Just(10_001u16), Just(u16::MAX), 10_001..=u16::MAX]
        )
            .prop_map(|(m, which, value)| ReferenceFlaw::AboveCertain(m, which, value)),
    ]
}

fn vote_flaw() -> impl Strategy<Value = VoteFlaw> {
    prop_oneof![
        bad_account().prop_map(VoteFlaw::Account),
        unknown_market_id().prop_map(VoteFlaw::UnknownMarket),
        any::<Index>().prop_map(VoteFlaw::Finalized),
        any::<Index>().prop_map(VoteFlaw::NotVoteMarket),
        Just(VoteFlaw::NotStarted),
        prop_oneof![Just(0u64), Just(VOTE_WINDOW.0 - 1), 0..VOTE_WINDOW.0]
            .prop_map(VoteFlaw::BeforeWindow),
        prop_oneof![
            Just(VOTE_WINDOW.1),
            Just(u64::MAX),
            VOTE_WINDOW.1..=u64::MAX
        ]
        .prop_map(VoteFlaw::AfterWindow),
        (any::<bool>(), prop_oneof![Just(0u32), 4u32..=u32::MAX])
            .prop_map(|(stake, s)| VoteFlaw::Selection(stake, s)),
        any::<Index>().prop_map(VoteFlaw::NotEligible),
    ]
}

fn when() -> impl Strategy<Value = When> {
    prop_oneof![
        12 => Just(When::Next),
        1 => prop_oneof![
            Just(u64::MAX),
            Just(u64::MAX - 1),
            Just(0u64),
            any::<u64>(),
            0..LATER_NS,
            LATER_NS..HORIZON_NS,
            Just(VOTE_WINDOW.1),
            Just(VOTE_WINDOW.1 - 1),
        ]
        .prop_map(When::At),
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

fn api_key_flaw() -> impl Strategy<Value = ApiKeyFlaw> {
    prop_oneof![
        bad_account()
            .prop_filter("the feed may hold a key", |bad| !matches!(
                bad,
                BadAccount::Feed
            ))
            .prop_map(ApiKeyFlaw::Account),
        any::<Index>().prop_map(ApiKeyFlaw::ZeroKeyId),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| ApiKeyFlaw::Duplicate(a, b)),
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

fn knob_change_flaw() -> impl Strategy<Value = KnobChangeFlaw> {
    prop_oneof![
        outside_u16(ODDS_CHANGE_THRESHOLD_RANGE).prop_map(KnobChangeFlaw::Threshold),
        outside_u32(ODDS_TICK_INTERVAL_RANGE).prop_map(KnobChangeFlaw::TickInterval),
        outside_u32(ODDS_HEARTBEAT_RANGE).prop_map(KnobChangeFlaw::Heartbeat),
        outside_u16(CIRCUIT_BREAKER_RANGE).prop_map(KnobChangeFlaw::Breaker),
        outside_u32(CIRCUIT_BREAKER_WINDOW_RANGE).prop_map(KnobChangeFlaw::BreakerWindow),
        bad_amount(true).prop_map(KnobChangeFlaw::BreakerMinPool),
        outside_u16(PRICE_BAND_RANGE)
            .prop_filter("0 removes the band", |band| *band != 0)
            .prop_map(KnobChangeFlaw::PriceBand),
        (
            any::<u8>(),
            prop_oneof![i64::MIN..0, MAX_AMOUNT_MINOR + 1..=i64::MAX]
        )
            .prop_map(|(which, v)| KnobChangeFlaw::Amount(which, v)),
        outside_u32(BET_DELAY_RANGE).prop_map(KnobChangeFlaw::BetDelay),
        edges_u32(1..=*BET_DELAY_RANGE.end()).prop_map(KnobChangeFlaw::DelayOnPool),
    ]
}

fn schedule_flaw() -> impl Strategy<Value = ScheduleFlaw> {
    prop_oneof![
        (
            0u8..3,
            prop_oneof![Just(0u64), 0..LATER_NS, Just(LATER_NS - 1)]
        )
            .prop_map(|(which, at)| ScheduleFlaw::Past(which, at)),
        Just(ScheduleFlaw::LockAndEnd),
        Just(ScheduleFlaw::ClearAndLock),
        Just(ScheduleFlaw::ClearAndClose),
        outside_u32(LOCK_BEFORE_END_RANGE).prop_map(ScheduleFlaw::Lead),
        Just(ScheduleFlaw::LeadWithoutEnd),
        (0u64..=3 * SECOND_NS).prop_map(ScheduleFlaw::EndTooSoon),
        Just(ScheduleFlaw::Empty),
    ]
}

fn admin_flaw() -> impl Strategy<Value = AdminFlaw> {
    prop_oneof![
        bad_account()
            .prop_filter("the feed has limits too", |bad| !matches!(
                bad,
                BadAccount::Feed
            ))
            .prop_map(AdminFlaw::LimitsAccount),
        any::<Index>().prop_map(AdminFlaw::LimitsHouseTier),
        (any::<Index>(), limits_flaw()).prop_map(|(a, f)| AdminFlaw::Limits(a, f)),
        unknown_market_id().prop_map(AdminFlaw::KnobsUnknownMarket),
        any::<Index>().prop_map(AdminFlaw::KnobsFinal),
        any::<Index>().prop_map(AdminFlaw::KnobsEmpty),
        (any::<Index>(), knob_change_flaw()).prop_map(|(m, f)| AdminFlaw::Knob(m, f)),
        unknown_market_id().prop_map(AdminFlaw::ScheduleUnknownMarket),
        any::<Index>().prop_map(AdminFlaw::ScheduleFinal),
        (LATER_NS + HOUR_NS..HORIZON_NS).prop_map(AdminFlaw::ScheduleClosed),
        (any::<bool>(), LATER_NS + HOUR_NS..HORIZON_NS)
            .prop_map(|(pool, at)| AdminFlaw::LockSuspended(pool, at)),
        (any::<Index>(), schedule_flaw()).prop_map(|(m, f)| AdminFlaw::Schedule(m, f)),
    ]
}

/// Boxed: the strategy's type (and its value trees) would otherwise be too deep for a test
/// thread's stack in a debug build.
fn garbage() -> BoxedStrategy<Garbage> {
    let create_market = prop_oneof![
        1 => any::<Index>().prop_map(MarketFlaw::Duplicate),
        2 => (unknown_market_id(), knobs().boxed(), definition_flaw())
            .prop_map(|(id, knobs, f)| MarketFlaw::Definition(id, knobs, f)),
        4 => (unknown_market_id(), knobs().boxed(), knob_flaw().boxed())
            .prop_map(|(id, knobs, f)| MarketFlaw::Knob(id, knobs, f)),
    ]
    .prop_map(Garbage::CreateMarket)
    .boxed();
    prop_oneof![
        6 => (base_order(), order_flaw()).prop_map(|(base, flaw)| Garbage::Place(base, flaw)).boxed(),
        3 => cancel_flaw().prop_map(Garbage::Cancel).boxed(),
        3 => replace_flaw().prop_map(Garbage::Replace).boxed(),
        1 => (bad_account(), any::<bool>()).prop_map(|(a, all)| Garbage::MassCancel(a, all)).boxed(),
        1 => (any::<Index>(), unknown_market_id())
            .prop_map(|(a, m)| Garbage::MassCancelUnknownMarket(a, m)).boxed(),
        4 => (base_quote(), quote_flaw())
            .prop_map(|(base, flaw)| Garbage::MassQuote(base, flaw)).boxed(),
        3 => lifecycle_flaw().prop_map(Garbage::Lifecycle).boxed(),
        4 => create_market,
        2 => (account_flaw(), any::<bool>())
            .prop_map(|(f, feed)| Garbage::CreateAccount(f, feed)).boxed(),
        2 => transfer_flaw().prop_map(Garbage::Transfer).boxed(),
        1 => (bad_account(), any::<bool>()).prop_map(|(a, on)| Garbage::KillSwitch(a, on)).boxed(),
        5 => (base_bet(), bet_flaw()).prop_map(|(base, flaw)| Garbage::Bet(base, flaw)).boxed(),
        3 => cancel_bet_flaw().prop_map(Garbage::CancelBet).boxed(),
        3 => (reference_flaw(), vec(0u16..=10_000, 4))
            .prop_map(|(flaw, valid)| Garbage::Reference(flaw, valid)).boxed(),
        4 => ((any::<Index>(), any::<Index>()), vote_flaw())
            .prop_map(|((account, selection), flaw)| {
                Garbage::Vote(BaseVote { account, selection }, flaw)
            })
            .boxed(),
        2 => api_key_flaw().prop_map(Garbage::ApiKey).boxed(),
        4 => admin_flaw().prop_map(Garbage::Admin).boxed(),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// From flaws to commands
// ---------------------------------------------------------------------------------------------

/// A command that must be refused, why, and optionally the valid command it was made from.
#[derive(Debug)]
struct Case {
    command: Command,
    expected: RejectReason,
    /// For `duplicate_client_order_id`, the order or bet that holds the client order id.
    original: Option<OrderId>,
    /// Applied (after the previous command) to a copy of the engine before the command; it
    /// must be accepted.
    control: Option<Command>,
    /// The time the command must be sent at, when the flaw is the time (on a copy of the
    /// engine, after a `timer` at that time).
    at: Option<u64>,
}

impl Case {
    fn new(command: Command, expected: RejectReason) -> Case {
        Case {
            command,
            expected,
            original: None,
            control: None,
            at: None,
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
            Garbage::CreateAccount(flaw, feed) => account_case(flaw, *feed),
            Garbage::Transfer(flaw) => self.transfer_case(flaw),
            Garbage::KillSwitch(account, on) => {
                let (account, expected) = account.resolve();
                Case::new(Command::KillSwitch { account, on: *on }, expected)
            }
            Garbage::Bet(base, flaw) => self.bet_case(base, flaw),
            Garbage::CancelBet(flaw) => self.cancel_bet_case(flaw),
            Garbage::Reference(flaw, valid) => reference_case(flaw, valid),
            Garbage::Vote(base, flaw) => vote_case(base, flaw),
            Garbage::ApiKey(flaw) => api_key_case(flaw),
            Garbage::Admin(flaw) => self.admin_case(flaw),
        }
    }

    /// The sum of a pool market's pools.
    fn pool_total_minor(&self, market: MarketId) -> i64 {
        let odds = self.engine.market_odds(market).expect("known market");
        odds.selections.iter().map(|s| s.pool_minor).sum()
    }

    fn bet_case(&self, base: &BaseBet, flaw: &BetFlaw) -> Case {
        let valid = BetFields {
            account: pick(&BASE_TRADERS, &base.account),
            market: POOL,
            selection: SelectionId(base.selection.index(3) as u32 + 1),
            stake_minor: base.stake_minor,
            client_order_id: base.client_order_id,
        };
        let mut bet = valid.clone();
        let mut original = None;
        // A stake in `low..=high` (which holds one), picked by `index`.
        let between = |low: i64, high: i64, index: &Index| {
            assert!(low <= high, "no stake in {low}..={high}");
            low + index.index((high - low + 1) as usize) as i64
        };
        let exposure = |account| {
            self.engine
                .market_exposure(account, POOL)
                .expect("known account and market")
        };
        let expected = match flaw {
            BetFlaw::Account(bad) => {
                let (account, reason) = bad.resolve();
                bet.account = account;
                reason
            }
            BetFlaw::DuplicateClientOrderId(index) => {
                let used = pick(&self.used_ids(), index);
                bet.account = used.account;
                bet.client_order_id = used.client_order_id;
                original = Some(used.holder);
                RejectReason::DuplicateClientOrderId
            }
            BetFlaw::DuplicateOnClosedMarket(index, market) => {
                let used = pick(&self.used_ids(), index);
                bet.account = used.account;
                bet.client_order_id = used.client_order_id;
                bet.market = pick(&NOT_OPEN_ANY, market);
                original = Some(used.holder);
                RejectReason::DuplicateClientOrderId
            }
            BetFlaw::UnknownMarket(id) => {
                bet.market = MarketId(*id);
                RejectReason::UnknownMarket
            }
            BetFlaw::NotOpen(market) => {
                bet.market = pick(&NOT_OPEN_ANY, market);
                RejectReason::MarketNotOpen
            }
            BetFlaw::WrongKind(market) => {
                bet.market = pick(&OPEN_EXCHANGES, market);
                RejectReason::InvalidMarketKind
            }
            BetFlaw::Selection(id) => {
                bet.selection = SelectionId(*id);
                RejectReason::InvalidSelection
            }
            BetFlaw::Stake(bad) => {
                let max = Self::max_stake_minor(bet.account).min(POOL_MAX_BET_MINOR);
                bet.stake_minor = bad.resolve(max);
                RejectReason::InvalidStake
            }
            BetFlaw::BelowMinimumStake(stake) => {
                bet.account = CAPPED;
                bet.stake_minor = *stake;
                RejectReason::InvalidStake
            }
            BetFlaw::KillSwitch => {
                bet.account = KILLED;
                RejectReason::KillSwitch
            }
            BetFlaw::ExposureLimit(stake) => {
                bet.account = CAPPED;
                bet.stake_minor = *stake;
                RejectReason::ExposureLimit
            }
            BetFlaw::MarketExposureLimit(index) => {
                bet.account = RICH;
                let low = POOL_MAX_EXPOSURE_MINOR - exposure(RICH) + 1;
                bet.stake_minor = between(low, POOL_MAX_BET_MINOR, index);
                RejectReason::ExposureLimit
            }
            BetFlaw::InsufficientFunds => {
                bet.account = BROKE;
                RejectReason::InsufficientFunds
            }
            BetFlaw::PoolLimit(index) => {
                bet.account = MAKER;
                let low = POOL_MAX_POOL_MINOR - self.pool_total_minor(POOL) + 1;
                let high = POOL_MAX_BET_MINOR.min(POOL_MAX_EXPOSURE_MINOR - exposure(MAKER));
                bet.stake_minor = between(low, high, index);
                RejectReason::PoolLimit
            }
        };
        Case {
            original,
            ..Case::with_control(bet.command(), expected, valid.command())
        }
    }

    fn cancel_bet_case(&self, flaw: &CancelBetFlaw) -> Case {
        let cancel = |account, market, bet_id| Command::CancelBet {
            account,
            market,
            bet_id,
        };
        let live_on = |market| -> Vec<PlacedBet> {
            self.live_bets()
                .into_iter()
                .filter(|b| b.market == market)
                .collect()
        };
        let on_pool = live_on(POOL);
        let first = on_pool[0];
        match flaw {
            CancelBetFlaw::Account(bad) => {
                let (account, expected) = bad.resolve();
                Case::with_control(
                    cancel(account, POOL, first.bet_id),
                    expected,
                    cancel(first.account, POOL, first.bet_id),
                )
            }
            CancelBetFlaw::UnknownMarket(id) => Case::new(
                cancel(first.account, MarketId(*id), first.bet_id),
                RejectReason::UnknownMarket,
            ),
            CancelBetFlaw::NotOpen(market) => {
                let market = pick(&NOT_OPEN_ANY, market);
                let bet = live_on(market).first().copied().unwrap_or(first);
                Case::new(
                    cancel(bet.account, market, bet.bet_id),
                    RejectReason::MarketNotOpen,
                )
            }
            CancelBetFlaw::WrongKind(market) => Case::new(
                cancel(first.account, pick(&OPEN_EXCHANGES, market), first.bet_id),
                RejectReason::InvalidMarketKind,
            ),
            CancelBetFlaw::UnknownBet(id) => Case::new(
                cancel(first.account, POOL, OrderId(*id)),
                RejectReason::UnknownOrder,
            ),
            CancelBetFlaw::OrderId(order) => {
                let order = pick(&self.live(), order);
                Case::new(
                    cancel(order.account, POOL, order.order_id),
                    RejectReason::UnknownOrder,
                )
            }
            CancelBetFlaw::OthersBet(bet, account) => {
                let bet = pick(&on_pool, bet);
                let others: Vec<AccountId> =
                    ACCOUNTS.into_iter().filter(|a| *a != bet.account).collect();
                Case::with_control(
                    cancel(pick(&others, account), POOL, bet.bet_id),
                    RejectReason::UnknownOrder,
                    cancel(bet.account, POOL, bet.bet_id),
                )
            }
            CancelBetFlaw::CancelledBet => {
                let bet = self
                    .bets
                    .iter()
                    .find(|b| b.cancelled)
                    .expect("a cancelled bet");
                Case::new(
                    cancel(bet.account, POOL, bet.bet_id),
                    RejectReason::UnknownOrder,
                )
            }
            CancelBetFlaw::OtherPoolsBet(bet) => {
                let bet = pick(&live_on(POOL_LOCKED), bet);
                Case::new(
                    cancel(bet.account, POOL, bet.bet_id),
                    RejectReason::UnknownOrder,
                )
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
        let mut valid = self.base_order(base);
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
                let used = pick(&self.used_ids(), index);
                order.account = used.account;
                order.client_order_id = used.client_order_id;
                original = Some(used.holder);
                RejectReason::DuplicateClientOrderId
            }
            OrderFlaw::DuplicateOnClosedMarket(index, market, odds) => {
                let used = pick(&self.used_ids(), index);
                order.account = used.account;
                order.client_order_id = used.client_order_id;
                order.market = pick(&NOT_OPEN, market);
                order.odds_x100 = off_ladder(Self::ladder(order.market), *odds);
                original = Some(used.holder);
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
            OrderFlaw::WrongKind => {
                order.market = POOL;
                RejectReason::InvalidMarketKind
            }
            OrderFlaw::OutsidePriceBand(selection, outside, inside) => {
                let selection = SelectionId(selection.index(3) as u32 + 1);
                order.market = BAND;
                order.selection = selection;
                order.odds_x100 = pick(&band_prices(selection, false), outside);
                // The same order inside the band is accepted (it may match).
                valid = order.clone();
                valid.odds_x100 = pick(&band_prices(selection, true), inside);
                RejectReason::OutsidePriceBand
            }
        };
        Case {
            original,
            ..Case::with_control(order.command(), expected, valid.command())
        }
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
            ReplaceFlaw::OutsidePriceBand(order, odds) => {
                let on_band: Vec<Placed> = self
                    .live()
                    .into_iter()
                    .filter(|p| p.market == BAND)
                    .collect();
                let order = pick(&on_band, order);
                let mut command = self.unchanged(&order);
                if let Command::ReplaceOrder { odds_x100, .. } = &mut command {
                    *odds_x100 = pick(&band_prices(order.selection, false), odds);
                }
                Case::with_control(
                    command,
                    RejectReason::OutsidePriceBand,
                    self.unchanged(&order),
                )
            }
            ReplaceFlaw::DelayWaiting(odds, stake_minor) => Case::new(
                replace(
                    BASIC,
                    DELAY,
                    self.delay_waiting_order,
                    pick(LadderKind::Betfair.prices(), odds),
                    *stake_minor,
                ),
                RejectReason::InPlayDelay,
            ),
            ReplaceFlaw::DelayMatchable(odds, stake_minor) => {
                // The order backs at 3.00 for 500: other odds, or more stake at 3.00, could
                // match; less stake at 3.00 cannot.
                let view = self
                    .engine
                    .order(self.delay_resting_order)
                    .expect("resting");
                let odds_x100 = pick(LadderKind::Betfair.prices(), odds);
                let stake = if odds_x100 == view.odds_x100 {
                    view.remaining_minor + stake_minor
                } else {
                    *stake_minor
                };
                let reduce = 1 + stake_minor % view.remaining_minor;
                Case::with_control(
                    replace(RICH, DELAY, view.order_id, odds_x100, stake),
                    RejectReason::InPlayDelay,
                    replace(RICH, DELAY, view.order_id, view.odds_x100, reduce),
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
            QuoteFlaw::WrongKind => {
                market = POOL;
                RejectReason::InvalidMarketKind
            }
            QuoteFlaw::InPlayDelay => {
                market = DELAY;
                RejectReason::InPlayDelay
            }
            QuoteFlaw::OutsidePriceBand(selection, outside, inside) => {
                let selection = SelectionId(selection.index(3) as u32 + 1);
                let back = |odds_x100| Quote {
                    selection,
                    back_odds_x100: Some(odds_x100),
                    back_stake_minor: Some(base.stake_minor),
                    lay_odds_x100: None,
                    lay_stake_minor: None,
                };
                market = BAND;
                quotes = vec![back(pick(&band_prices(selection, false), outside))];
                let control = Command::MassQuote {
                    account,
                    market,
                    quotes: vec![back(pick(&band_prices(selection, true), inside))],
                };
                let command = Command::MassQuote {
                    account,
                    market,
                    quotes,
                };
                return Case::with_control(command, RejectReason::OutsidePriceBand, control);
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
                use MarketStatus::{Closed, Open, Pending, Suspended};
                let valid_from: &[MarketStatus] = match kind {
                    0 => &[Pending],
                    1 => &[Open],
                    2 => &[Suspended],
                    3 => &[Open, Suspended],
                    4 => &[Suspended, Closed],
                    _ => &[Pending, Open, Suspended, Closed],
                };
                let invalid_from: Vec<MarketId> = ALL_MARKETS
                    .into_iter()
                    .filter(|m| {
                        let status = self.engine.market_status(*m).expect("known market");
                        !valid_from.contains(&status)
                    })
                    .collect();
                let market = pick(&invalid_from, market);
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
            LifecycleFlaw::Winners(market, flaw) => {
                let market = pick(&[CLOSED, SUSPENDED, POOL_LOCKED], market);
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
    let base = |market: u32, knobs: &Knobs| {
        let mut spec = spec(MarketId(market), 2);
        knobs.apply(&mut spec);
        spec
    };
    match flaw {
        MarketFlaw::Duplicate(index) => Case::new(
            Command::create_market(spec(pick(&ALL_MARKETS, index), 2)),
            RejectReason::DuplicateMarket,
        ),
        MarketFlaw::Definition(id, knobs, flaw) => {
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
            let valid = base(*id, knobs);
            let flawed = MarketSpec {
                selections: selections.into_iter().map(SelectionId).collect(),
                places,
                commission_bps,
                ..valid.clone()
            };
            Case::with_control(
                Command::create_market(flawed),
                RejectReason::InvalidMarketDefinition,
                Command::create_market(valid),
            )
        }
        MarketFlaw::Knob(id, knobs, flaw) => {
            let valid = base(*id, knobs);
            let mut spec = valid.clone();
            match *flaw {
                KnobFlaw::Threshold(bps) => spec.odds_change_threshold_bps = Some(bps),
                KnobFlaw::TickInterval(ms) => spec.odds_tick_interval_ms = Some(ms),
                KnobFlaw::Heartbeat(ms) => spec.odds_heartbeat_ms = Some(ms),
                KnobFlaw::Breaker(bps) => spec.circuit_breaker_bps = Some(bps),
                KnobFlaw::BreakerWindow(ms) => spec.circuit_breaker_window_ms = Some(ms),
                KnobFlaw::BreakerMinPool(minor) => {
                    spec.circuit_breaker_min_pool_minor = Some(minor)
                }
                KnobFlaw::LockBeforeEnd(ms) => spec.lock_before_end_ms = Some(ms),
                KnobFlaw::BetDelay(ms) => spec.bet_delay_ms = ms,
                KnobFlaw::Takeout(bps) => spec.takeout_bps = bps,
                KnobFlaw::PriceBand(bps) => spec.price_band_bps = Some(bps),
                KnobFlaw::Amount(which, minor) => match which % 3 {
                    0 => spec.max_pool_minor = Some(minor),
                    1 => spec.max_bet_minor = Some(minor),
                    _ => spec.max_exposure_minor = Some(minor),
                },
                KnobFlaw::LockAndEnd(lock, end) => {
                    spec.lock_at = Some(lock);
                    spec.end_at = Some(end);
                }
                KnobFlaw::PoolKnobOnExchange(knob) => {
                    spec.kind = MarketKind::Exchange;
                    match knob {
                        Ok(bps) => spec.takeout_bps = bps,
                        Err(minor) => spec.max_pool_minor = Some(minor),
                    }
                }
                KnobFlaw::ExchangeKnobOnPool(knob) => {
                    spec.kind = MarketKind::Pool;
                    match knob {
                        Ok(bps) => spec.commission_bps = bps,
                        Err(ms) => spec.bet_delay_ms = ms,
                    }
                }
                KnobFlaw::Vote(ref flaw) => {
                    let Resolution::Vote {
                        mut window_start,
                        mut window_end,
                        mut quorum,
                        mut threshold_bps,
                        weight,
                    } = knobs.resolution.unwrap_or(Resolution::Vote {
                        window_start: 0,
                        window_end: u64::MAX - 1,
                        quorum: 1,
                        threshold_bps: 5_000,
                        weight: VoteWeight::OnePerAccount,
                    });
                    match *flaw {
                        VoteRuleFlaw::Places => {
                            spec.selections = (1..=3).map(SelectionId).collect();
                            spec.places = 2;
                        }
                        VoteRuleFlaw::EmptyWindow(start, back) => {
                            window_start = start;
                            window_end = start - back.min(start);
                        }
                        VoteRuleFlaw::Ended(end) => {
                            window_start = 0;
                            window_end = end;
                        }
                        VoteRuleFlaw::NoQuorum => quorum = 0,
                        VoteRuleFlaw::Threshold(bps) => threshold_bps = bps,
                    }
                    spec.resolution = Some(Resolution::Vote {
                        window_start,
                        window_end,
                        quorum,
                        threshold_bps,
                        weight,
                    });
                }
            }
            Case::with_control(
                Command::create_market(spec),
                RejectReason::InvalidMarketDefinition,
                Command::create_market(valid),
            )
        }
    }
}

fn reference_case(flaw: &ReferenceFlaw, valid: &[u16]) -> Case {
    let send = |account, market, probabilities_bps| Command::ReferenceOdds {
        account,
        market,
        probabilities_bps,
    };
    let probabilities =
        |market| valid[..Fixture::<LadderBook>::selections(market) as usize].to_vec();
    match flaw {
        ReferenceFlaw::Account(bad) => {
            let (account, expected) = bad.resolve_for_feed();
            Case::with_control(
                send(account, BAND, probabilities(BAND)),
                expected,
                send(FEED, BAND, probabilities(BAND)),
            )
        }
        ReferenceFlaw::UnknownMarket(id) => Case::new(
            send(FEED, MarketId(*id), valid[..2].to_vec()),
            RejectReason::UnknownMarket,
        ),
        ReferenceFlaw::Finalized(market) => {
            let market = pick(&FINAL, market);
            Case::new(
                send(FEED, market, probabilities(market)),
                RejectReason::MarketFinalized,
            )
        }
        ReferenceFlaw::WrongLength(market, len) => {
            let market = pick(&NOT_FINAL, market);
            let selections = Fixture::<LadderBook>::selections(market) as usize;
            let len = if *len == selections { len + 1 } else { *len };
            let wrong = (0..len).map(|i| valid[i % valid.len()]).collect();
            Case::with_control(
                send(FEED, market, wrong),
                RejectReason::InvalidReference,
                send(FEED, market, probabilities(market)),
            )
        }
        ReferenceFlaw::AboveCertain(market, which, value) => {
            let market = pick(&NOT_FINAL, market);
            let mut wrong = probabilities(market);
            let n = wrong.len();
            wrong[which.index(n)] = *value;
            Case::with_control(
                send(FEED, market, wrong),
                RejectReason::InvalidReference,
                send(FEED, market, probabilities(market)),
            )
        }
    }
}

fn vote_case(base: &BaseVote, flaw: &VoteFlaw) -> Case {
    let vote = |account, market, selection| Command::Vote {
        account,
        market,
        selection: SelectionId(selection),
    };
    let account = pick(&BASE_TRADERS, &base.account);
    let selection = base.selection.index(3) as u32 + 1;
    let valid = vote(account, VOTE, selection);
    let refused = |command, reason| Case::with_control(command, reason, valid.clone());
    match flaw {
        VoteFlaw::Account(bad) => {
            let (bad, expected) = bad.resolve();
            refused(vote(bad, VOTE, selection), expected)
        }
        VoteFlaw::UnknownMarket(id) => refused(
            vote(account, MarketId(*id), selection),
            RejectReason::UnknownMarket,
        ),
        VoteFlaw::Finalized(market) => refused(
            vote(account, pick(&FINAL, market), 1),
            RejectReason::MarketFinalized,
        ),
        VoteFlaw::NotVoteMarket(market) => refused(
            vote(account, pick(&NO_VOTE, market), 1),
            RejectReason::NotVoteMarket,
        ),
        VoteFlaw::NotStarted => refused(
            vote(account, VOTE_LATER, 1 + selection % 2),
            RejectReason::VoteWindowClosed,
        ),
        VoteFlaw::BeforeWindow(at) => Case {
            at: Some(*at),
            ..refused(valid.clone(), RejectReason::VoteWindowClosed)
        },
        VoteFlaw::AfterWindow(at) => Case {
            at: Some(*at),
            ..refused(valid.clone(), RejectReason::MarketFinalized)
        },
        VoteFlaw::Selection(stake, id) => {
            let (account, market) = if *stake {
                (RICH, VOTE_STAKE)
            } else {
                (account, VOTE)
            };
            refused(vote(account, market, *id), RejectReason::InvalidSelection)
        }
        VoteFlaw::NotEligible(other) => {
            let others: Vec<AccountId> = ACCOUNTS
                .into_iter()
                .filter(|a| !STAKE_VOTERS.contains(a))
                .collect();
            Case::with_control(
                vote(pick(&others, other), VOTE_STAKE, 1 + selection % 2),
                RejectReason::NotEligibleToVote,
                vote(RICH, VOTE_STAKE, 1 + selection % 2),
            )
        }
    }
}

/// The fields of a pool bet, so that a flaw can change one of them.
#[derive(Clone, Debug)]
struct BetFields {
    account: AccountId,
    market: MarketId,
    selection: SelectionId,
    stake_minor: i64,
    client_order_id: u64,
}

impl BetFields {
    fn command(&self) -> Command {
        Command::PlaceBet {
            account: self.account,
            market: self.market,
            selection: self.selection,
            stake_minor: self.stake_minor,
            client_order_id: self.client_order_id,
        }
    }
}

fn api_key_case(flaw: &ApiKeyFlaw) -> Case {
    let set = |account, key_id| Command::SetApiKey {
        account,
        key_id,
        secret: ApiSecret([0xab; 32]),
    };
    match flaw {
        ApiKeyFlaw::Account(bad) => {
            let (account, expected) = bad.resolve();
            Case::new(set(account, FRESH_KEY_ID), expected)
        }
        ApiKeyFlaw::ZeroKeyId(account) => {
            let account = pick(&ALL_ACCOUNTS, account);
            Case::with_control(
                set(account, 0),
                RejectReason::InvalidApiKey,
                set(account, FRESH_KEY_ID),
            )
        }
        ApiKeyFlaw::Duplicate(account, other) => {
            let account = pick(&ALL_ACCOUNTS, account);
            let others: Vec<AccountId> =
                ALL_ACCOUNTS.into_iter().filter(|a| *a != account).collect();
            let other = pick(&others, other);
            Case::with_control(
                set(account, KEY_ID_BASE + u64::from(other.0)),
                RejectReason::DuplicateApiKey,
                set(account, FRESH_KEY_ID),
            )
        }
    }
}

/// Markets an operator may still schedule: open or pending.
const SCHEDULABLE: [MarketId; 8] = [MAIN, PLACE, PENDING, POOL, BAND, DELAY, VOTE, VOTE_LATER];

impl<B: OrderBook> Fixture<B> {
    fn admin_case(&self, flaw: &AdminFlaw) -> Case {
        let limits = |account, tier| Command::SetAccountLimits {
            account,
            tier,
            min_stake_minor: None,
            max_stake_minor: None,
            max_market_exposure_minor: None,
            max_open_orders: None,
            stp: None,
        };
        let close_later = |market| {
            let mut command = Command::schedule_market(market);
            if let Command::ScheduleMarket { close_at, .. } = &mut command {
                *close_at = Some(LATER_NS + 2 * HOUR_NS);
            }
            command
        };
        let knobs = |market, change: &dyn Fn(&mut MarketKnobs)| {
            let mut knobs = MarketKnobs::new(market);
            change(&mut knobs);
            Command::set_market_knobs(knobs)
        };
        let valid_knob = |market| knobs(market, &|k| k.odds_heartbeat_ms = Some(2_000));
        match flaw {
            AdminFlaw::LimitsAccount(bad) => {
                let (account, expected) = bad.resolve();
                Case::new(limits(account, Tier::Pro), expected)
            }
            AdminFlaw::LimitsHouseTier(account) => {
                let account = pick(&ALL_ACCOUNTS, account);
                Case::with_control(
                    limits(account, Tier::House),
                    RejectReason::ReservedAccount,
                    limits(account, Tier::Basic),
                )
            }
            AdminFlaw::Limits(account, flaw) => {
                let account = pick(&ALL_ACCOUNTS, account);
                let control = limits(account, Tier::Basic);
                let mut command = control.clone();
                if let Command::SetAccountLimits {
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
                        LimitsFlaw::Exposure(exposure) => {
                            *max_market_exposure_minor = Some(exposure)
                        }
                    }
                }
                Case::with_control(command, RejectReason::InvalidLimits, control)
            }
            AdminFlaw::KnobsUnknownMarket(market) => {
                Case::new(valid_knob(MarketId(*market)), RejectReason::UnknownMarket)
            }
            AdminFlaw::KnobsFinal(market) => Case::new(
                valid_knob(pick(&FINAL, market)),
                RejectReason::MarketFinalized,
            ),
            AdminFlaw::KnobsEmpty(market) => {
                let market = pick(&NOT_FINAL, market);
                Case::with_control(
                    knobs(market, &|_| {}),
                    RejectReason::NothingToChange,
                    valid_knob(market),
                )
            }
            AdminFlaw::Knob(market, flaw) => {
                let market = match flaw {
                    KnobChangeFlaw::DelayOnPool(_) => POOL,
                    _ => pick(&NOT_FINAL, market),
                };
                let flaw = flaw.clone();
                let command = knobs(market, &move |k| match flaw {
                    KnobChangeFlaw::Threshold(v) => k.odds_change_threshold_bps = Some(v),
                    KnobChangeFlaw::TickInterval(v) => k.odds_tick_interval_ms = Some(v),
                    KnobChangeFlaw::Heartbeat(v) => k.odds_heartbeat_ms = Some(v),
                    KnobChangeFlaw::Breaker(v) => k.circuit_breaker_bps = Some(v),
                    KnobChangeFlaw::BreakerWindow(v) => k.circuit_breaker_window_ms = Some(v),
                    KnobChangeFlaw::BreakerMinPool(v) => k.circuit_breaker_min_pool_minor = Some(v),
                    KnobChangeFlaw::PriceBand(v) => k.price_band_bps = Some(v),
                    KnobChangeFlaw::Amount(which, v) if which % 2 == 0 => k.max_bet_minor = Some(v),
                    KnobChangeFlaw::Amount(_, v) => k.max_exposure_minor = Some(v),
                    KnobChangeFlaw::BetDelay(v) | KnobChangeFlaw::DelayOnPool(v) => {
                        k.bet_delay_ms = Some(v)
                    }
                });
                Case::with_control(
                    command,
                    RejectReason::InvalidMarketDefinition,
                    valid_knob(market),
                )
            }
            AdminFlaw::ScheduleUnknownMarket(market) => {
                Case::new(close_later(MarketId(*market)), RejectReason::UnknownMarket)
            }
            AdminFlaw::ScheduleFinal(market) => Case::new(
                close_later(pick(&FINAL, market)),
                RejectReason::MarketFinalized,
            ),
            AdminFlaw::ScheduleClosed(at) => {
                let mut command = close_later(CLOSED);
                if let Command::ScheduleMarket { close_at, .. } = &mut command {
                    *close_at = Some(*at);
                }
                Case::new(command, RejectReason::InvalidMarketTransition)
            }
            AdminFlaw::LockSuspended(pool, at) => {
                let market = if *pool { POOL_LOCKED } else { SUSPENDED };
                let mut command = Command::schedule_market(market);
                if let Command::ScheduleMarket { lock_at, .. } = &mut command {
                    *lock_at = Some(*at);
                }
                // Its close may still move.
                Case::with_control(
                    command,
                    RejectReason::InvalidMarketTransition,
                    close_later(market),
                )
            }
            AdminFlaw::Schedule(market, flaw) => {
                let market = pick(&SCHEDULABLE, market);
                let future = LATER_NS + HOUR_NS;
                let mut command = Command::schedule_market(market);
                let Command::ScheduleMarket {
                    lock_at,
                    end_at,
                    lock_before_end_ms,
                    close_at,
                    clear_lock,
                    clear_close,
                    ..
                } = &mut command
                else {
                    unreachable!("schedule_market builds a schedule_market");
                };
                let expected = match *flaw {
                    ScheduleFlaw::Past(which, at) => {
                        *[lock_at, end_at, close_at][usize::from(which % 3)] = Some(at);
                        RejectReason::InvalidSchedule
                    }
                    ScheduleFlaw::LockAndEnd => {
                        *lock_at = Some(future);
                        *end_at = Some(future + HOUR_NS);
                        RejectReason::InvalidSchedule
                    }
                    ScheduleFlaw::ClearAndLock => {
                        *lock_at = Some(future);
                        *clear_lock = true;
                        RejectReason::InvalidSchedule
                    }
                    ScheduleFlaw::ClearAndClose => {
                        *close_at = Some(future);
                        *clear_close = true;
                        RejectReason::InvalidSchedule
                    }
                    ScheduleFlaw::Lead(lead) => {
                        *end_at = Some(future);
                        *lock_before_end_ms = Some(lead);
                        RejectReason::InvalidSchedule
                    }
                    ScheduleFlaw::LeadWithoutEnd => {
                        *lock_before_end_ms = Some(*LOCK_BEFORE_END_RANGE.end());
                        RejectReason::InvalidSchedule
                    }
                    ScheduleFlaw::EndTooSoon(after) => {
                        // The default lead is 3 s: the lock falls at or before the fixture's
                        // time, which is before any garbage input's.
                        *end_at = Some(self.ts_ns + after);
                        RejectReason::InvalidSchedule
                    }
                    ScheduleFlaw::Empty => RejectReason::NothingToChange,
                };
                Case::with_control(command, expected, close_later(market))
            }
        }
    }
}

fn account_case(flaw: &AccountFlaw, feed: bool) -> Case {
    let role = if feed { Role::Feed } else { Role::Trader };
    let create = |account, tier| {
        let mut command = Command::create_account(account, tier);
        if let Command::CreateAccount { role: r, .. } = &mut command {
            *r = role;
        }
        command
    };
    match flaw {
        AccountFlaw::Duplicate(index) => Case::new(
            create(pick(&ALL_ACCOUNTS, index), Tier::Basic),
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
        | Command::KillSwitch { account, .. }
        | Command::SetApiKey { account, .. }
        | Command::SetAccountLimits { account, .. } => (Some(*account), None, None, None),
        Command::CreateMarket(spec) => (None, Some(spec.market), None, None),
        Command::SetMarketKnobs(knobs) => (None, Some(knobs.market), None, None),
        Command::ScheduleMarket { market, .. } => (None, Some(*market), None, None),
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

/// Checks that `events`, all that `case.command` produced, are exactly its refusal: one
/// `rejected` event with the expected reason, naming what the command named.
fn expect_refusal(case: &Case, item: &Garbage, events: &[Event]) -> Result<(), TestCaseError> {
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
    Ok(())
}

/// Checks the events of a command sent after a `timer` at its time, and returns whether it
/// was refused. A refused command changes nothing, so its `rejected` is its only event; an
/// accepted one may reject only orders that were waiting out an in-play delay (the market
/// left `open`, or they met the book post-only or fill-or-kill).
fn check_outcome(command: &Command, events: &[Event]) -> Result<bool, TestCaseError> {
    let refused = matches!(
        events.first(),
        Some(Event::Rejected { command: kind, .. }) if *kind == command.kind()
    );
    if refused {
        prop_assert_eq!(events.len(), 1, "{:?} gave {:?}", command, events);
        return Ok(true);
    }
    for event in events {
        if let Event::Rejected {
            command: kind,
            reason,
            order_id,
            ..
        } = event
        {
            prop_assert!(
                *kind == CommandKind::PlaceOrder
                    && order_id.is_some()
                    && matches!(
                        reason,
                        RejectReason::MarketSuspendedDuringDelay
                            | RejectReason::PostOnlyWouldMatch
                            | RejectReason::FokNotFilled
                    ),
                "accepted {:?} rejected something else: {:?}",
                command,
                events
            );
        }
    }
    Ok(false)
}

fn check_valid<B: OrderBook>(
    engine: &Engine<B>,
    after: &dyn std::fmt::Debug,
) -> Result<(), TestCaseError> {
    engine
        .validate()
        .map_err(|problem| TestCaseError::fail(format!("invalid after {after:?}: {problem}")))
}

/// Lets time pass to `ts_ns` (a `timer`) and returns the state hash then.
fn pass_time<B: OrderBook>(engine: &mut Engine<B>, ts_ns: u64) -> Result<u64, TestCaseError> {
    engine.apply(&input(ts_ns, Command::Timer {}), &mut Vec::new());
    check_valid(engine, &format!("a timer at {ts_ns}"))?;
    Ok(engine.state_hash())
}

/// Applies every garbage command in turn to one copy of the fixture's engine; those sent at
/// another time go to a copy of it.
fn check_garbage<B: OrderBook + Clone>(
    fixture: &Fixture<B>,
    garbage: &[(Garbage, When)],
) -> Result<(), TestCaseError> {
    let mut engine = fixture.engine.clone();
    let hash = engine.state_hash();
    let mut ts_ns = fixture.ts_ns;
    for (item, when) in garbage {
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
        match (case.at, when) {
            // The time is the flaw: the refusal is known exactly.
            (Some(at), _) => {
                let mut copy = engine.clone();
                let before = pass_time(&mut copy, at)?;
                let mut events = Vec::new();
                copy.apply(&input(at, case.command.clone()), &mut events);
                expect_refusal(&case, item, &events)?;
                prop_assert_eq!(
                    copy.state_hash(),
                    before,
                    "{:?} at {} changed the state",
                    case.command,
                    at
                );
                check_valid(&copy, &case.command)?;
            }
            // At another time the command may be refused for another reason, or accepted
            // (time may have closed, locked or settled markets); refused, it changes nothing.
            (None, When::At(at)) => {
                let mut copy = engine.clone();
                let before = pass_time(&mut copy, *at)?;
                let mut events = Vec::new();
                copy.apply(&input(*at, case.command.clone()), &mut events);
                check_valid(&copy, &case.command)?;
                if check_outcome(&case.command, &events)? {
                    prop_assert_eq!(
                        copy.state_hash(),
                        before,
                        "refused {:?} at {} changed the state",
                        case.command,
                        at
                    );
                }
                if let Some(control) = &case.control {
                    let mut copy = engine.clone();
                    pass_time(&mut copy, *at)?;
                    copy.apply(&input(*at, control.clone()), &mut Vec::new());
                    check_valid(&copy, control)?;
                }
            }
            (None, When::Next) => {
                let mut events = Vec::new();
                engine.apply(&input(ts_ns, Command::Timer {}), &mut events);
                prop_assert_eq!(&events, &vec![], "something fell due during the garbage");
                engine.apply(&input(ts_ns, case.command.clone()), &mut events);
                expect_refusal(&case, item, &events)?;
                prop_assert_eq!(
                    engine.state_hash(),
                    hash,
                    "{:?} from {:?} changed the state",
                    case.command,
                    item
                );
                check_valid(&engine, &case.command)?;
            }
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
    let result = runner(256).run(&vec((garbage(), when()), 1..=24), |garbage| {
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
    for account in ALL_ACCOUNTS {
        let key_id = KEY_ID_BASE + u64::from(account.0);
        let Reply::ApiKey(Some(key)) = engine.query(&Query::ApiKey { key_id }) else {
            panic!("key {key_id} is not set");
        };
        assert_eq!(key.account, account);
    }
    assert_eq!(
        engine.query(&Query::ApiKey {
            key_id: FRESH_KEY_ID
        }),
        Reply::ApiKey(None)
    );
}

/// The odds engine's part of the fixture really holds what the flaws rely on.
#[test]
fn the_odds_fixture_is_what_the_flaws_assume() {
    let fixture = Fixture::<LadderBook>::build();
    let engine = &fixture.engine;
    let statuses = [
        (POOL, MarketStatus::Open),
        (POOL_LOCKED, MarketStatus::Suspended),
        (BAND, MarketStatus::Open),
        (DELAY, MarketStatus::Open),
        (VOTE, MarketStatus::Open),
        (VOTE_STAKE, MarketStatus::Closed),
        (VOTE_LATER, MarketStatus::Pending),
    ];
    for (market, status) in statuses {
        assert_eq!(engine.market_status(market), Some(status), "{market:?}");
    }
    // Pools: one bet of BASIC was cancelled; the maximum pool is within a bet's reach.
    let pools = |market| -> Vec<i64> {
        let odds = engine.market_odds(market).expect("known market");
        odds.selections.iter().map(|s| s.pool_minor).collect()
    };
    assert_eq!(pools(POOL), vec![8_000, 4_000, 500]);
    assert_eq!(pools(POOL_LOCKED), vec![1_000, 1_000]);
    assert_eq!(fixture.bets.iter().filter(|b| b.cancelled).count(), 1);
    assert_eq!(engine.market_exposure(RICH, POOL), Some(5_000));
    assert_eq!(engine.market_exposure(MAKER, POOL), Some(3_000));
    assert!(POOL_MAX_POOL_MINOR - fixture.pool_total_minor(POOL) < POOL_MAX_EXPOSURE_MINOR - 3_000);
    const { assert!(POOL_MAX_EXPOSURE_MINOR - 5_000 < POOL_MAX_BET_MINOR) };
    // The reference of the price band, and orders inside it.
    let band = engine.market_odds(BAND).expect("known market");
    let references: Vec<u16> = band.selections.iter().map(|s| s.reference_bps).collect();
    assert_eq!(references, BAND_REFERENCE_BPS.to_vec());
    assert_eq!(
        fixture.live().iter().filter(|p| p.market == BAND).count(),
        3
    );
    for selection in 1..=3 {
        let selection = SelectionId(selection);
        assert!(!band_prices(selection, true).is_empty());
        assert!(!band_prices(selection, false).is_empty());
    }
    // The in-play delay: one order rests, one waits (live, in no book).
    let rests = engine.order(fixture.delay_resting_order).expect("live");
    assert_eq!((rests.odds_x100, rests.remaining_minor), (300, 500));
    assert_eq!(
        engine.depth(DELAY, SelectionId(1), Side::Back),
        vec![oddsmatch_engine::DepthLevel {
            odds_x100: 300,
            stake_minor: 500
        }]
    );
    assert!(engine.order(fixture.delay_waiting_order).is_some());
    assert_eq!(engine.depth(DELAY, SelectionId(2), Side::Lay), vec![]);
    // Only RICH and BASIC may vote by stake.
    assert_eq!(engine.market_status(VOTE_STAKE), Some(MarketStatus::Closed));
    for account in ACCOUNTS {
        let exposure = engine.market_exposure(account, VOTE_STAKE).expect("known");
        assert_eq!(exposure > 0, STAKE_VOTERS.contains(&account), "{account:?}");
    }
    // The feed may not move money.
    let mut copy = engine.clone();
    let mut events = Vec::new();
    copy.apply(
        &input(
            fixture.ts_ns + 1,
            Command::Deposit {
                account: FEED,
                amount_minor: 1,
                transfer_id: 1_000_000,
            },
        ),
        &mut events,
    );
    assert_eq!(rejection(&events), Some(RejectReason::RoleNotPermitted));
    // Nothing falls due for a while after the fixture.
    let mut copy = engine.clone();
    let mut events = Vec::new();
    copy.apply(
        &input(fixture.ts_ns + 100_000, Command::Timer {}),
        &mut events,
    );
    assert_eq!(events, vec![]);
    // At the end of its window the vote settles `VOTE` on selection 1, three voters strong.
    let mut copy = engine.clone();
    let mut events = Vec::new();
    copy.apply(&input(VOTE_WINDOW.1, Command::Timer {}), &mut events);
    assert!(events.contains(&Event::VoteResult {
        market: VOTE,
        winner: Some(SelectionId(1)),
        voters: 3,
        total_weight: 3,
        leading_weight: 3,
    }));
    assert_eq!(copy.market_status(VOTE), Some(MarketStatus::Settled));
    copy.validate().expect("valid");
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

/// Commands of the odds engine that the fixture accepts at `LINE_TS`: one of each new
/// command, and market definitions that use every new knob.
fn odds_engine_commands<B: OrderBook>(fixture: &Fixture<B>) -> Vec<Command> {
    let bet = fixture
        .live_bets()
        .into_iter()
        .find(|b| b.market == POOL)
        .expect("a live bet");
    let vote = |window_start, window_end, quorum, threshold_bps, weight| {
        Some(Resolution::Vote {
            window_start,
            window_end,
            quorum,
            threshold_bps,
            weight,
        })
    };
    let pool = MarketSpec {
        kind: MarketKind::Pool,
        takeout_bps: 1_500,
        max_pool_minor: Some(5_000_000),
        max_bet_minor: Some(100_000),
        max_exposure_minor: Some(200_000),
        market_data: Some(true),
        circuit_breaker_bps: Some(4_000),
        circuit_breaker_window_ms: Some(2_000),
        circuit_breaker_min_pool_minor: Some(50_000),
        lock_at: Some(LINE_TS + HOUR_NS),
        close_at: Some(LINE_TS + 2 * HOUR_NS),
        ..spec(MarketId(40), 3)
    };
    let exchange = MarketSpec {
        commission_bps: 300,
        max_bet_minor: Some(1_000_000),
        max_exposure_minor: Some(5_000_000),
        odds_change_threshold_bps: Some(150),
        odds_tick_interval_ms: Some(250),
        odds_heartbeat_ms: Some(2_000),
        circuit_breaker_bps: Some(2_500),
        circuit_breaker_window_ms: Some(5_000),
        price_band_bps: Some(800),
        end_at: Some(LINE_TS + HOUR_NS),
        lock_before_end_ms: Some(4_000),
        close_at: Some(LINE_TS + HOUR_NS + SECOND_NS),
        bet_delay_ms: 2_000,
        ..spec(MarketId(41), 4)
    };
    let voted = MarketSpec {
        ladder: LadderKind::Probability,
        market_data: Some(false),
        resolution: vote(LINE_TS - 1, LINE_TS + HOUR_NS, 3, 6_000, VoteWeight::Stake),
        ..spec(MarketId(42), 3)
    };
    let lowest = MarketSpec {
        kind: MarketKind::Pool,
        takeout_bps: *TAKEOUT_RANGE.start(),
        max_pool_minor: Some(1),
        max_bet_minor: Some(1),
        max_exposure_minor: Some(1),
        odds_change_threshold_bps: Some(*ODDS_CHANGE_THRESHOLD_RANGE.start()),
        odds_tick_interval_ms: Some(*ODDS_TICK_INTERVAL_RANGE.start()),
        odds_heartbeat_ms: Some(*ODDS_HEARTBEAT_RANGE.start()),
        circuit_breaker_bps: Some(*CIRCUIT_BREAKER_RANGE.start()),
        circuit_breaker_window_ms: Some(*CIRCUIT_BREAKER_WINDOW_RANGE.start()),
        circuit_breaker_min_pool_minor: Some(0),
        price_band_bps: Some(*PRICE_BAND_RANGE.start()),
        end_at: Some(0),
        lock_before_end_ms: Some(*LOCK_BEFORE_END_RANGE.start()),
        close_at: Some(0),
        resolution: vote(0, LINE_TS + 1, 1, 1, VoteWeight::OnePerAccount),
        ..spec(MarketId(43), 2)
    };
    let highest = MarketSpec {
        kind: MarketKind::Exchange,
        max_bet_minor: Some(MAX_AMOUNT_MINOR),
        max_exposure_minor: Some(MAX_AMOUNT_MINOR),
        market_data: Some(true),
        odds_change_threshold_bps: Some(*ODDS_CHANGE_THRESHOLD_RANGE.end()),
        odds_tick_interval_ms: Some(*ODDS_TICK_INTERVAL_RANGE.end()),
        odds_heartbeat_ms: Some(*ODDS_HEARTBEAT_RANGE.end()),
        circuit_breaker_bps: Some(*CIRCUIT_BREAKER_RANGE.end()),
        circuit_breaker_window_ms: Some(*CIRCUIT_BREAKER_WINDOW_RANGE.end()),
        circuit_breaker_min_pool_minor: Some(MAX_AMOUNT_MINOR),
        price_band_bps: Some(*PRICE_BAND_RANGE.end()),
        end_at: Some(u64::MAX - 1),
        lock_before_end_ms: Some(*LOCK_BEFORE_END_RANGE.end()),
        close_at: Some(u64::MAX - 1),
        bet_delay_ms: *BET_DELAY_RANGE.end(),
        resolution: vote(
            u64::MAX - 2,
            u64::MAX - 1,
            u32::MAX,
            10_000,
            VoteWeight::Stake,
        ),
        ..spec(MarketId(44), MAX_SELECTIONS as u32)
    };
    let pool_by_vote = MarketSpec {
        kind: MarketKind::Pool,
        takeout_bps: *TAKEOUT_RANGE.end(),
        max_pool_minor: Some(MAX_AMOUNT_MINOR),
        lock_at: Some(u64::MAX - 1),
        resolution: vote(LINE_TS, HORIZON_NS, 2, 5_001, VoteWeight::OnePerAccount),
        ..spec(MarketId(45), 2)
    };
    vec![
        Command::CreateAccount {
            account: AccountId(41),
            tier: Tier::Basic,
            min_stake_minor: None,
            max_stake_minor: None,
            max_market_exposure_minor: None,
            max_open_orders: None,
            stp: SelfTradePrevention::CancelResting,
            role: Role::Feed,
        },
        Command::create_market(pool),
        Command::create_market(exchange),
        Command::create_market(voted),
        Command::create_market(lowest),
        Command::create_market(highest),
        Command::create_market(pool_by_vote),
        Command::PlaceBet {
            account: RICH,
            market: POOL,
            selection: SelectionId(2),
            stake_minor: 700,
            client_order_id: 92,
        },
        Command::CancelBet {
            account: bet.account,
            market: POOL,
            bet_id: bet.bet_id,
        },
        Command::ReferenceOdds {
            account: FEED,
            market: BAND,
            probabilities_bps: vec![4_800, 3_100, 2_100],
        },
        Command::Vote {
            account: MAKER,
            market: VOTE,
            selection: SelectionId(2),
        },
        Command::Vote {
            account: RICH,
            market: VOTE_STAKE,
            selection: SelectionId(2),
        },
        Command::Timer {},
        Command::PlaceOrder {
            account: MAKER,
            market: BAND,
            selection: SelectionId(3),
            side: Side::Back,
            odds_x100: 480,
            stake_minor: 400,
            tif: TimeInForce::Gtc,
            post_only: true,
            persistence: oddsmatch_engine::Persistence::Persist,
            client_order_id: 93,
        },
        Command::PlaceOrder {
            account: BASIC,
            market: DELAY,
            selection: SelectionId(1),
            side: Side::Lay,
            odds_x100: 300,
            stake_minor: 200,
            tif: TimeInForce::Fok,
            post_only: false,
            persistence: oddsmatch_engine::Persistence::Lapse,
            client_order_id: 94,
        },
        Command::MassQuote {
            account: MAKER,
            market: BAND,
            quotes: vec![two_sided(1, (212, 300), (192, 300))],
        },
        Command::ReplaceOrder {
            account: RICH,
            market: DELAY,
            order_id: fixture.delay_resting_order,
            odds_x100: 300,
            stake_minor: 100,
        },
        Command::CancelOrder {
            account: BASIC,
            market: DELAY,
            order_id: Some(fixture.delay_waiting_order),
            client_order_id: None,
        },
        Command::MassCancel {
            account: RICH,
            market: Some(DELAY),
        },
        Command::KillSwitch {
            account: BASIC,
            on: true,
        },
        Command::SuspendMarket { market: DELAY },
        Command::CloseMarket { market: VOTE },
        Command::ResumeMarket {
            market: POOL_LOCKED,
        },
        Command::SettleMarket {
            market: POOL_LOCKED,
            winners: vec![SelectionId(2)],
        },
        Command::VoidMarket { market: POOL },
        Command::OpenMarket { market: VOTE_LATER },
    ]
}

/// One valid line of every command, for mutation.
fn valid_lines<B: OrderBook>(fixture: &Fixture<B>) -> Vec<String> {
    let mut commands = vec![
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
        Command::SetApiKey {
            account: FEED,
            key_id: FRESH_KEY_ID,
            secret: ApiSecret([0x5a; 32]),
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
        Command::SetAccountLimits {
            account: CAPPED,
            tier: Tier::MarketMaker,
            min_stake_minor: Some(10),
            max_stake_minor: None,
            max_market_exposure_minor: Some(50_000),
            max_open_orders: Some(1),
            stp: Some(SelfTradePrevention::None),
        },
        Command::set_market_knobs(MarketKnobs {
            odds_change_threshold_bps: Some(300),
            odds_tick_interval_ms: Some(100),
            odds_heartbeat_ms: Some(5_000),
            circuit_breaker_bps: Some(4_000),
            circuit_breaker_window_ms: Some(60_000),
            circuit_breaker_min_pool_minor: Some(0),
            price_band_bps: Some(0),
            max_bet_minor: Some(1_000),
            max_exposure_minor: Some(0),
            bet_delay_ms: Some(0),
            ..MarketKnobs::new(DELAY)
        }),
        Command::ScheduleMarket {
            market: MAIN,
            lock_at: None,
            end_at: Some(LINE_TS + HOUR_NS),
            lock_before_end_ms: Some(5_000),
            close_at: Some(LINE_TS + 2 * HOUR_NS),
            clear_lock: false,
            clear_close: false,
        },
    ];
    commands.extend(odds_engine_commands(fixture));
    commands
        .into_iter()
        .map(|command| serde_json::to_string(&input(LINE_TS, command)).expect("serializes"))
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
const KEYS: [&str; 60] = [
    "clear_lock",
    "clear_close",
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
    "role",
    "kind",
    "takeout_bps",
    "max_pool",
    "max_bet",
    "max_exposure",
    "market_data",
    "odds_change_threshold_bps",
    "odds_tick_interval_ms",
    "odds_heartbeat_ms",
    "circuit_breaker_bps",
    "circuit_breaker_window_ms",
    "circuit_breaker_min_pool",
    "price_band_bps",
    "lock_at",
    "end_at",
    "lock_before_end_ms",
    "close_at",
    "bet_delay_ms",
    "resolution",
    "window_start",
    "window_end",
    "quorum",
    "threshold_bps",
    "weight",
    "bet_id",
    "probabilities_bps",
    "back_stake",
];

/// Every command's name.
const COMMANDS: [&str; 26] = [
    "set_api_key",
    "set_account_limits",
    "set_market_knobs",
    "schedule_market",
    "create_account",
    "deposit",
    "withdraw",
    "kill_switch",
    "create_market",
    "open_market",
    "suspend_market",
    "resume_market",
    "close_market",
    "settle_market",
    "void_market",
    "place_order",
    "cancel_order",
    "replace_order",
    "mass_cancel",
    "mass_quote",
    "place_bet",
    "cancel_bet",
    "reference_odds",
    "vote",
    "timer",
    "balances",
];

/// Other strings the sim format uses as values.
const WORDS: [&str; 20] = [
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
    "feed",
    "trader",
    "pool",
    "exchange",
    "vote",
    "one_per_account",
    "stake",
    "pending",
];

/// A string of the sim format: a command's name or another value.
fn word() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        prop::sample::select(COMMANDS.to_vec()),
        prop::sample::select(WORDS.to_vec()),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![-3i64..=400, any::<i64>()].prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        word().prop_map(Value::from),
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
        prop::sample::select(COMMANDS.to_vec()),
        prop_oneof![any::<u64>(), Just(LINE_TS), Just(u64::MAX)],
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
            // The ends of the odds engine's knob ranges, and times.
            Value::from(99),
            Value::from(100),
            Value::from(500),
            Value::from(501),
            Value::from(999),
            Value::from(5_000),
            Value::from(5_001),
            Value::from(10_000),
            Value::from(10_001),
            Value::from(12_000),
            Value::from(12_001),
            Value::from(60_000),
            Value::from(60_001),
            Value::from(u64::MAX - 1),
            Value::from(LINE_TS),
            Value::from(LINE_TS - 1),
            Value::from(VOTE_WINDOW.1),
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
            1 => word().prop_map(serde_json::Value::from),
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
                    Some(serde_json::Value::Object(inner)) if !inner.is_empty() => {
                        // Into an object (a resolution): change one of its fields.
                        let inner_keys: Vec<String> = inner.keys().cloned().collect();
                        let inner_key = inner_keys[key.len() % inner_keys.len()].clone();
                        inner.insert(inner_key, new.clone());
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

fn json_ish(lines: Vec<String>) -> impl Strategy<Value = String> {
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
    let hash = pass_time(&mut engine, parsed.ts_ns)?;
    let mut events = Vec::new();
    engine.apply(&parsed, &mut events);
    check_valid(&engine, &line)?;
    if check_outcome(&parsed.command, &events)? {
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
    let lines = valid_lines(&fixture);
    let result = runner(2_048).run(&json_ish(lines), |line| check_line(&fixture, &line));
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

#[test]
fn every_valid_line_parses() {
    let fixture = Fixture::<LadderBook>::build();
    for line in valid_lines(&fixture) {
        serde_json::from_str::<Input>(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        check_line(&fixture, &line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
}

/// The sample lines of the odds engine are accepted, so that their mutations explore what
/// accepted commands do, not only refusals.
#[test]
fn the_odds_engine_lines_are_accepted() {
    let fixture = Fixture::<LadderBook>::build();
    for command in odds_engine_commands(&fixture) {
        let mut engine = fixture.engine.clone();
        let mut events = Vec::new();
        engine.apply(&input(LINE_TS, Command::Timer {}), &mut events);
        assert_eq!(events, vec![], "nothing falls due by LINE_TS");
        engine.apply(&input(LINE_TS, command.clone()), &mut events);
        assert!(
            !check_outcome(&command, &events).expect("well-formed events"),
            "{command:?} was refused: {events:?}"
        );
        engine.validate().expect("valid");
    }
}

// ---------------------------------------------------------------------------------------------
// Extremes: markets with knobs at their ends, traded at extreme times and stakes
// ---------------------------------------------------------------------------------------------

/// One step of trading on a market with random knobs.
#[derive(Clone, Debug)]
enum Step {
    Bet(bool, Index, i64),
    CancelBet(Index),
    Order(bool, Index, Side, Index, i64, TimeInForce),
    CancelOrder(Index),
    ReplaceOrder(Index, Index, i64),
    Quote(Index, Index, i64),
    Reference(Vec<u16>),
    Vote(bool, Index),
    /// Open, suspend, resume, close, settle (on selection 1) or void.
    Lifecycle(u8),
    Timer,
}

/// How far the clock moves before a step.
#[derive(Clone, Debug)]
enum Tick {
    Same,
    By(u64),
    To(u64),
}

fn extreme_stake() -> impl Strategy<Value = i64> {
    prop_oneof![
        1i64..=1_000,
        Just(MAX_AMOUNT_MINOR),
        Just(MAX_AMOUNT_MINOR + 1),
        1..=MAX_AMOUNT_MINOR,
        any::<i64>(),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (any::<bool>(), any::<Index>(), extreme_stake())
            .prop_map(|(a, s, stake)| Step::Bet(a, s, stake)),
        1 => any::<Index>().prop_map(Step::CancelBet),
        6 => (
            any::<bool>(),
            any::<Index>(),
            side(),
            any::<Index>(),
            extreme_stake(),
            prop_oneof![Just(TimeInForce::Gtc), Just(TimeInForce::Ioc), Just(TimeInForce::Fok)],
        )
            .prop_map(|(a, s, side, odds, stake, tif)| Step::Order(a, s, side, odds, stake, tif)),
        1 => any::<Index>().prop_map(Step::CancelOrder),
        1 => (any::<Index>(), any::<Index>(), extreme_stake())
            .prop_map(|(o, odds, stake)| Step::ReplaceOrder(o, odds, stake)),
        1 => (any::<Index>(), any::<Index>(), extreme_stake())
            .prop_map(|(s, odds, stake)| Step::Quote(s, odds, stake)),
        1 => vec(prop_oneof![Just(0u16), Just(1u16), Just(10_000u16), 0u16..=10_000], 2..=4)
            .prop_map(Step::Reference),
        1 => (any::<bool>(), any::<Index>()).prop_map(|(a, s)| Step::Vote(a, s)),
        // Resuming most often, so that trading goes on after a suspension.
        1 => prop_oneof![2 => Just(2u8), 1 => 0u8..6].prop_map(Step::Lifecycle),
        1 => Just(Step::Timer),
    ]
}

fn clock_tick() -> impl Strategy<Value = Tick> {
    prop_oneof![
        20 => Just(Tick::Same),
        28 => prop_oneof![4 => 1u64..=1_000, 4 => 1u64..=2 * SECOND_NS, 1 => 1u64..=60 * SECOND_NS]
            .prop_map(Tick::By),
        1 => any_time().prop_map(Tick::To),
    ]
}

/// The knobs with their times moved to within ten minutes after `start_ns` (locks, closes
/// and vote windows that have not all passed before the trading starts).
fn relative_to(knobs: &Knobs, start_ns: u64) -> Knobs {
    let shift = |at: u64| start_ns.saturating_add(1 + at % (600 * SECOND_NS));
    let mut knobs = knobs.clone();
    knobs.lock = match knobs.lock {
        Lock::Never => Lock::Never,
        Lock::At(at) => Lock::At(shift(at)),
        Lock::BeforeEnd(end, before) => Lock::BeforeEnd(
            shift(end).saturating_add(5 * SECOND_NS).min(u64::MAX - 1),
            before,
        ),
    };
    knobs.close_at = knobs.close_at.map(shift);
    if let Some(Resolution::Vote {
        window_start,
        window_end,
        ..
    }) = &mut knobs.resolution
    {
        *window_end = shift(*window_end);
        *window_start = start_ns.min(*window_end - 1);
    }
    knobs
}

/// Trades one market with `knobs` and checks every step: no panic, `validate()` holds, and a
/// refused command changes nothing.
fn check_extremes(
    knobs: &Knobs,
    ladder: LadderKind,
    selections: u32,
    start_ns: u64,
    steps: &[(Tick, Step)],
) -> Result<(), TestCaseError> {
    const A: AccountId = AccountId(1);
    const B: AccountId = AccountId(2);
    const MARKET: MarketId = MarketId(1);
    let mut engine: Engine = Engine::new(EngineConfig::small());
    let mut ts_ns = start_ns;
    let mut orders: Vec<(AccountId, OrderId)> = Vec::new();
    let mut bets: Vec<(AccountId, OrderId)> = Vec::new();
    let mut client_order_id = 0;
    let apply = |engine: &mut Engine, ts_ns: u64, command: Command| {
        let hash = pass_time(engine, ts_ns)?;
        let mut events = Vec::new();
        engine.apply(&input(ts_ns, command.clone()), &mut events);
        check_valid(engine, &command)?;
        if check_outcome(&command, &events)? {
            prop_assert_eq!(
                engine.state_hash(),
                hash,
                "refused {:?} changed the state",
                command
            );
        }
        Ok::<_, TestCaseError>(events)
    };
    for account in [A, B] {
        apply(
            &mut engine,
            ts_ns,
            Command::create_account(account, Tier::MarketMaker),
        )?;
        for n in 0..3 {
            let transfer_id = u64::from(account.0) * 10 + n;
            let deposit = Command::Deposit {
                account,
                amount_minor: MAX_AMOUNT_MINOR,
                transfer_id,
            };
            apply(&mut engine, ts_ns, deposit)?;
        }
    }
    let mut feed = Command::create_account(FEED, Tier::Basic);
    if let Command::CreateAccount { role, .. } = &mut feed {
        *role = Role::Feed;
    }
    apply(&mut engine, ts_ns, feed)?;
    let mut spec = spec(MARKET, selections);
    spec.ladder = ladder;
    knobs.apply(&mut spec);
    apply(&mut engine, ts_ns, Command::create_market(spec))?;
    apply(&mut engine, ts_ns, Command::OpenMarket { market: MARKET })?;
    for (tick, step) in steps {
        ts_ns = match *tick {
            Tick::Same => ts_ns,
            Tick::By(ns) => ts_ns.saturating_add(ns),
            Tick::To(at) => at,
        };
        let account = |a: bool| if a { A } else { B };
        let selection = |s: &Index| SelectionId(s.index(selections as usize) as u32 + 1);
        let odds = |o: &Index| pick(ladder.prices(), o);
        client_order_id += 1;
        let command = match step {
            Step::Bet(a, s, stake) => Command::PlaceBet {
                account: account(*a),
                market: MARKET,
                selection: selection(s),
                stake_minor: *stake,
                client_order_id,
            },
            Step::CancelBet(bet) if !bets.is_empty() => {
                let (account, bet_id) = pick(&bets, bet);
                Command::CancelBet {
                    account,
                    market: MARKET,
                    bet_id,
                }
            }
            Step::Order(a, s, side, o, stake, tif) => Command::PlaceOrder {
                account: account(*a),
                market: MARKET,
                selection: selection(s),
                side: *side,
                odds_x100: odds(o),
                stake_minor: *stake,
                tif: *tif,
                post_only: false,
                persistence: oddsmatch_engine::Persistence::Persist,
                client_order_id,
            },
            Step::CancelOrder(order) if !orders.is_empty() => {
                let (account, order_id) = pick(&orders, order);
                Command::CancelOrder {
                    account,
                    market: MARKET,
                    order_id: Some(order_id),
                    client_order_id: None,
                }
            }
            Step::ReplaceOrder(order, o, stake) if !orders.is_empty() => {
                let (account, order_id) = pick(&orders, order);
                Command::ReplaceOrder {
                    account,
                    market: MARKET,
                    order_id,
                    odds_x100: odds(o),
                    stake_minor: *stake,
                }
            }
            Step::Quote(s, o, stake) => {
                let back = odds(o);
                let lay = ladder.prices()[0];
                Command::MassQuote {
                    account: A,
                    market: MARKET,
                    quotes: vec![Quote {
                        selection: selection(s),
                        back_odds_x100: Some(back),
                        back_stake_minor: Some(*stake),
                        lay_odds_x100: (lay < back).then_some(lay),
                        lay_stake_minor: (lay < back).then_some(*stake),
                    }],
                }
            }
            Step::Reference(probabilities) => Command::ReferenceOdds {
                account: FEED,
                market: MARKET,
                probabilities_bps: (0..selections as usize)
                    .map(|i| probabilities[i % probabilities.len()])
                    .collect(),
            },
            Step::Vote(a, s) => Command::Vote {
                account: account(*a),
                market: MARKET,
                selection: selection(s),
            },
            Step::Lifecycle(kind) => lifecycle_command(*kind, MARKET),
            _ => Command::Timer {},
        };
        for event in apply(&mut engine, ts_ns, command)? {
            match event {
                Event::OrderAccepted {
                    order_id, account, ..
                } => orders.push((account, order_id)),
                Event::BetAccepted {
                    bet_id, account, ..
                } => bets.push((account, bet_id)),
                _ => {}
            }
        }
    }
    // And the end of time.
    apply(&mut engine, u64::MAX, Command::Timer {})?;
    apply(&mut engine, u64::MAX, Command::Balances {})?;
    Ok(())
}

#[test]
fn extreme_knobs_times_and_stakes_never_panic() {
    let run = (
        (knobs(), prop_oneof![3 => Just(true), 1 => Just(false)]),
        prop_oneof![Just(LadderKind::Betfair), Just(LadderKind::Probability)],
        prop_oneof![Just(2u32), 2u32..=4, Just(MAX_SELECTIONS as u32)],
        prop_oneof![0..LATER_NS, any_time()],
        vec((clock_tick(), step()), 1..=40),
    );
    let result = runner(128).run(
        &run,
        |((knobs, relative), ladder, selections, start, steps)| {
            let knobs = if relative {
                relative_to(&knobs, start)
            } else {
                knobs
            };
            check_extremes(&knobs, ladder, selections, start, &steps)
        },
    );
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
