//! Read-only queries: what a gateway or an operator asks the engine between inputs (an
//! account's state, its open orders and positions, who holds an API key, the markets, one
//! market in detail, the accounts a page at a time).
//!
//! A [`Query`] is answered by [`Engine::query`] with a [`Reply`] of the same name. Queries
//! change nothing, are not inputs and are never journaled: the same state always gives the
//! same reply. In a server they travel through the shard's queue with the commands
//! (`shard::Submitter::query`), so that a query sees every command queued before it.
//!
//! ```
//! use oddsmatch_engine::{AccountId, Command, Engine, EngineConfig, Input, Query, Reply, Tier};
//!
//! let mut engine: Engine = Engine::new(EngineConfig::small());
//! let create = Command::create_account(AccountId(1), Tier::Pro);
//! engine.apply(&Input { ts_ns: 1, command: create }, &mut Vec::new());
//!
//! let Reply::Account(Some(view)) = engine.query(&Query::Account { account: AccountId(1) })
//! else {
//!     panic!("account 1 exists");
//! };
//! assert_eq!((view.tier, view.balance_minor, view.max_open_orders), (Tier::Pro, 0, 500));
//! ```

use crate::book::OrderBook;
use crate::engine::{Engine, OrderView};
use crate::ladder::LadderKind;
use serde::Serialize;

use crate::types::{
    AccountId, ApiSecret, MarketId, MarketKind, MarketStatus, Role, SelectionId,
    SelfTradePrevention, Tier,
};

/// A question about the engine's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// An account's balance, exposure, limits and flags.
    Account {
        /// The account.
        account: AccountId,
    },
    /// An account's open exchange orders (orders waiting out an in-play delay included; pool
    /// bets are not orders).
    OpenOrders {
        /// The account.
        account: AccountId,
        /// Only the orders on this market (an unknown market has none).
        market: Option<MarketId>,
    },
    /// An account's positions, one per market it has traded or bet on.
    Positions {
        /// The account.
        account: AccountId,
    },
    /// The account that holds an API key, with the key's secret (for a gateway's login).
    ApiKey {
        /// The key's id.
        key_id: u64,
    },
    /// Every market.
    Markets,
    /// One market in detail: its knobs, schedule, volume, pools, the top of its book and the
    /// odds its last tick showed (for operators).
    Market {
        /// The market.
        market: MarketId,
        /// How many price levels per side of each selection's book to show, at most
        /// [`MAX_MARKET_LEVELS`] (more is read as that many).
        levels: u16,
    },
    /// Accounts in id order, at most [`ACCOUNTS_PAGE`] per reply (for operators): the page
    /// after the account `after` names (from the smallest id when `None`).
    Accounts {
        /// The last account of the previous page.
        after: Option<AccountId>,
    },
}

/// The most price levels per side a [`Query::Market`] reply shows.
pub const MAX_MARKET_LEVELS: u16 = 10;

/// The most accounts a [`Query::Accounts`] reply holds; ask again with the last one as
/// `after` while [`AccountsPage::more`] says there are more.
pub const ACCOUNTS_PAGE: usize = 1_000;

/// The answer to a [`Query`], the variant of the same name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The account, or `None` if no account has that id.
    Account(Option<AccountView>),
    /// The open orders sorted by order id, or `None` if no account has that id.
    OpenOrders(Option<Vec<OrderView>>),
    /// The positions in the order the account first traded the markets, or `None` if no
    /// account has that id.
    Positions(Option<Vec<PositionView>>),
    /// The key, or `None` if no account holds a key with that id.
    ApiKey(Option<ApiKeyView>),
    /// The markets in the order they were created.
    Markets(Vec<MarketView>),
    /// The market, or `None` if no market has that id.
    Market(Option<Box<MarketDetail>>),
    /// A page of accounts.
    Accounts(AccountsPage),
}

/// An account as [`Query::Account`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountView {
    /// The account.
    pub account: AccountId,
    /// Its tier.
    pub tier: Tier,
    /// What it may do.
    pub role: Role,
    /// Whether its kill switch is on.
    pub kill_switch: bool,
    /// Balance in minor units.
    pub balance_minor: i64,
    /// Total exposure over all markets, in minor units.
    pub exposure_minor: i64,
    /// Open orders over all markets.
    pub open_orders: u32,
    /// The most open orders it may have.
    pub max_open_orders: u32,
}

/// One of an account's positions, as [`Query::Positions`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PositionView {
    /// The market.
    pub market: MarketId,
    /// The account's exposure on it, in minor units (0 once the market is settled or voided).
    pub exposure_minor: i64,
    /// The account's open orders on it.
    pub open_orders: u32,
}

/// An API key and its holder, as [`Query::ApiKey`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiKeyView {
    /// The account holding the key.
    pub account: AccountId,
    /// The key's id.
    pub key_id: u64,
    /// The key's secret (`Debug` does not show it).
    pub secret: ApiSecret,
    /// The holder's tier (a gateway's rate limits follow it).
    pub tier: Tier,
    /// The holder's role.
    pub role: Role,
}

/// A market, as [`Query::Markets`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketView {
    /// The market.
    pub market: MarketId,
    /// Its kind.
    pub kind: MarketKind,
    /// Its state.
    pub status: MarketStatus,
    /// Its price ladder.
    pub ladder: LadderKind,
    /// Its selections, in the order they were defined.
    pub selections: Vec<SelectionId>,
}

/// One market in detail, as [`Query::Market`] reports it. Its serde form (field names in
/// the sim format's style) is what an operator's tools show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MarketDetail {
    /// The market.
    pub market: MarketId,
    /// Its kind.
    pub kind: MarketKind,
    /// Its state.
    pub status: MarketStatus,
    /// Its price ladder.
    pub ladder: LadderKind,
    /// How many winners settlement names.
    pub places: u8,
    /// Commission in basis points (exchange markets).
    pub commission_bps: u16,
    /// The house's share of the pool in basis points (pool markets).
    pub takeout_bps: u16,
    /// Largest total pool in minor units (`None`: unlimited).
    #[serde(rename = "max_pool")]
    pub max_pool_minor: Option<i64>,
    /// Whether the market keeps odds state and publishes the book stream and ticks.
    pub market_data: bool,
    /// Its odds and risk knobs as they are now.
    pub knobs: KnobsView,
    /// Its timed lock and close.
    pub schedule: ScheduleView,
    /// Matched backer's stake over all selections, in minor units (exchange markets).
    #[serde(rename = "matched")]
    pub matched_minor: i64,
    /// The total pool in minor units (pool markets).
    #[serde(rename = "pool_total")]
    pub pool_total_minor: i64,
    /// Sequence number of the last book-stream event.
    pub book_seq: u64,
    /// Sequence number of the last odds tick (0 before the first).
    pub tick_seq: u64,
    /// When the last tick was published (ns since the epoch; `None` before the first).
    pub last_tick_at: Option<u64>,
    /// Its selections, in the order they were defined.
    pub selections: Vec<SelectionDetail>,
}

/// A market's odds and risk knobs (what `set_market_knobs` changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct KnobsView {
    /// Smallest move of displayed odds that publishes a tick, in basis points.
    pub odds_change_threshold_bps: u16,
    /// Shortest time between two change ticks, in milliseconds.
    pub odds_tick_interval_ms: u32,
    /// Silence after which a heartbeat tick is published, in milliseconds.
    pub odds_heartbeat_ms: u32,
    /// Move of reference or indicative odds that suspends the market, in basis points.
    pub circuit_breaker_bps: u16,
    /// The window in which that move is measured, in milliseconds.
    pub circuit_breaker_window_ms: u32,
    /// Total pool below which indicative odds cannot trip the breaker, in minor units.
    #[serde(rename = "circuit_breaker_min_pool")]
    pub circuit_breaker_min_pool_minor: i64,
    /// The price band in basis points (`None`: no band).
    pub price_band_bps: Option<u16>,
    /// Largest single stake on the market, in minor units (`None`: no market limit).
    #[serde(rename = "max_bet")]
    pub max_bet_minor: Option<i64>,
    /// Largest exposure of one account on the market, in minor units (`None`: no market
    /// limit).
    #[serde(rename = "max_exposure")]
    pub max_exposure_minor: Option<i64>,
    /// In-play delay of new orders, in milliseconds (0: none).
    pub bet_delay_ms: u32,
}

/// A market's timed lock and close (what `schedule_market` changes). Times are ns since the
/// epoch; a lock or close that has happened is no longer shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ScheduleView {
    /// When the market locks, if it is to.
    pub lock_at: Option<u64>,
    /// The end time the lock was scheduled from, if any (it stays after the lock).
    pub end_at: Option<u64>,
    /// How long before `end_at` the market locks, in milliseconds.
    pub lock_before_end_ms: u32,
    /// When the market closes, if it is to.
    pub close_at: Option<u64>,
}

/// One selection of a [`MarketDetail`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SelectionDetail {
    /// The selection.
    pub selection: SelectionId,
    /// Matched backer's stake so far, in minor units (exchange markets).
    #[serde(rename = "matched")]
    pub matched_minor: i64,
    /// Last traded odds times 100 (0 before the first trade).
    #[serde(rename = "last_traded")]
    pub last_traded_x100: u32,
    /// The selection's pool in minor units (pool markets).
    #[serde(rename = "pool")]
    pub pool_minor: i64,
    /// The feed's probability in basis points (0 before the first `reference_odds`).
    pub reference_bps: u16,
    /// The best levels of the resting backs (best: lowest odds), at most the levels asked.
    pub backs: Vec<BookLevel>,
    /// The best levels of the resting lays (best: highest odds), at most the levels asked.
    pub lays: Vec<BookLevel>,
    /// The selection's odds as the market's last tick showed them.
    pub tick: TickOdds,
}

/// One price level of a book: its odds and the unmatched stake resting there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BookLevel {
    /// Odds times 100.
    #[serde(rename = "odds")]
    pub odds_x100: u32,
    /// Unmatched stake at these odds, in minor units.
    #[serde(rename = "stake")]
    pub stake_minor: i64,
}

/// A selection's odds as the last tick published them, times 100 (0: none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TickOdds {
    /// Best odds to back (the best resting lay).
    #[serde(rename = "back")]
    pub back_x100: u32,
    /// Best odds to lay (the best resting back).
    #[serde(rename = "lay")]
    pub lay_x100: u32,
    /// Indicative pool odds.
    #[serde(rename = "indicative")]
    pub indicative_x100: u32,
    /// Fair odds of the reference probability.
    #[serde(rename = "reference")]
    pub reference_x100: u32,
}

/// A page of accounts, as [`Query::Accounts`] reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccountsPage {
    /// The accounts, in id order (house accounts, whose ids are the largest, last).
    pub accounts: Vec<AccountSummary>,
    /// Whether accounts with larger ids follow (ask again with the last one as `after`).
    pub more: bool,
}

/// One account in a [`AccountsPage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AccountSummary {
    /// The account.
    pub account: AccountId,
    /// Its tier.
    pub tier: Tier,
    /// What it may do.
    pub role: Role,
    /// Its self-trade prevention mode.
    pub stp: SelfTradePrevention,
    /// Whether its kill switch is on.
    pub kill_switch: bool,
    /// Balance in minor units.
    #[serde(rename = "balance")]
    pub balance_minor: i64,
    /// Total exposure over all markets, in minor units.
    #[serde(rename = "exposure")]
    pub exposure_minor: i64,
    /// Open orders over all markets.
    pub open_orders: u32,
    /// The most open orders it may have.
    pub max_open_orders: u32,
    /// Smallest stake of one order, in minor units.
    #[serde(rename = "min_stake")]
    pub min_stake_minor: i64,
    /// Largest stake of one order, in minor units.
    #[serde(rename = "max_stake")]
    pub max_stake_minor: i64,
    /// Largest exposure on one market, in minor units.
    #[serde(rename = "max_market_exposure")]
    pub max_market_exposure_minor: i64,
    /// The id of its API key, if it holds one (never the secret).
    pub api_key_id: Option<u64>,
}

impl<B: OrderBook> Engine<B> {
    /// Answers a query from the current state; changes nothing. The cost is linear in what the
    /// reply holds (an account's orders or positions, the markets), never in the shard's size.
    pub fn query(&self, query: &Query) -> Reply {
        match *query {
            Query::Account { account } => Reply::Account(self.account_view(account)),
            Query::OpenOrders { account, market } => {
                Reply::OpenOrders(self.open_orders_view(account, market))
            }
            Query::Positions { account } => Reply::Positions(self.positions_view(account)),
            Query::ApiKey { key_id } => Reply::ApiKey(self.api_key_view(key_id)),
            Query::Markets => Reply::Markets(self.markets_view()),
            Query::Market { market, levels } => {
                Reply::Market(self.market_detail(market, levels.min(MAX_MARKET_LEVELS)))
            }
            Query::Accounts { after } => Reply::Accounts(self.accounts_page(after)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, Input, MarketSpec};
    use crate::config::EngineConfig;
    use crate::event::Event;
    use crate::types::{OrderId, Side, TimeInForce};

    const SECRET: ApiSecret = ApiSecret([7; 32]);

    struct Fixture {
        engine: Engine,
        ts_ns: u64,
        events: Vec<Event>,
    }

    impl Fixture {
        /// Accounts 1 and 2 with money, exchange markets 10 and 20 (open) and pool 30
        /// (pending).
        fn new() -> Fixture {
            let mut fixture = Fixture {
                engine: Engine::new(EngineConfig::small()),
                ts_ns: 0,
                events: Vec::new(),
            };
            for account in [1, 2] {
                fixture.apply(Command::create_account(AccountId(account), Tier::Basic));
                fixture.apply(Command::Deposit {
                    account: AccountId(account),
                    amount_minor: 1_000_000,
                    transfer_id: u64::from(account),
                });
            }
            for market in [10, 20] {
                let spec = MarketSpec::new(MarketId(market), vec![SelectionId(1), SelectionId(2)]);
                fixture.apply(Command::create_market(spec));
                fixture.apply(Command::OpenMarket {
                    market: MarketId(market),
                });
            }
            let mut pool = MarketSpec::new(MarketId(30), vec![SelectionId(5), SelectionId(6)]);
            pool.kind = MarketKind::Pool;
            fixture.apply(Command::create_market(pool));
            fixture
        }

        fn apply(&mut self, command: Command) -> Vec<Event> {
            self.ts_ns += 1;
            self.events.clear();
            let input = Input {
                ts_ns: self.ts_ns,
                command,
            };
            self.engine.apply(&input, &mut self.events);
            self.engine.validate().unwrap();
            self.events.clone()
        }

        fn place(&mut self, account: u32, market: u32, side: Side, odds_x100: u32, id: u64) {
            let events = self.apply(Command::PlaceOrder {
                account: AccountId(account),
                market: MarketId(market),
                selection: SelectionId(1),
                side,
                odds_x100,
                stake_minor: 1_000,
                tif: TimeInForce::Gtc,
                post_only: false,
                persistence: Default::default(),
                client_order_id: id,
            });
            assert!(
                matches!(events[0], Event::OrderAccepted { .. }),
                "{events:?}"
            );
        }

        fn query(&self, query: Query) -> Reply {
            self.engine.query(&query)
        }
    }

    #[test]
    fn account_reports_balance_exposure_and_limits() {
        let mut f = Fixture::new();
        f.place(1, 10, Side::Back, 300, 1);
        f.apply(Command::KillSwitch {
            account: AccountId(2),
            on: true,
        });
        let one = AccountView {
            account: AccountId(1),
            tier: Tier::Basic,
            role: Role::Trader,
            kill_switch: false,
            balance_minor: 1_000_000,
            exposure_minor: 1_000,
            open_orders: 1,
            max_open_orders: 100,
        };
        assert_eq!(
            f.query(Query::Account {
                account: AccountId(1)
            }),
            Reply::Account(Some(one))
        );
        let Reply::Account(Some(two)) = f.query(Query::Account {
            account: AccountId(2),
        }) else {
            panic!("account 2 exists");
        };
        assert!(two.kill_switch);
        assert_eq!((two.exposure_minor, two.open_orders), (0, 0));
        assert_eq!(
            f.query(Query::Account {
                account: AccountId(3)
            }),
            Reply::Account(None)
        );
    }

    #[test]
    fn open_orders_are_sorted_by_id_and_filtered_by_market() {
        let mut f = Fixture::new();
        // Market 20 first, so the account's positions are not in order id order.
        f.place(1, 20, Side::Back, 300, 1);
        f.place(1, 10, Side::Back, 400, 2);
        f.place(1, 20, Side::Lay, 200, 3);
        f.place(2, 10, Side::Back, 500, 1);
        let Reply::OpenOrders(Some(all)) = f.query(Query::OpenOrders {
            account: AccountId(1),
            market: None,
        }) else {
            panic!("account 1 exists");
        };
        let ids: Vec<u64> = all.iter().map(|o| o.order_id.0).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(all[1], f.engine.order(OrderId(2)).unwrap());
        assert!(all.iter().all(|o| o.account == AccountId(1)));

        let on_20 = f.query(Query::OpenOrders {
            account: AccountId(1),
            market: Some(MarketId(20)),
        });
        let expected = [OrderId(1), OrderId(3)].map(|id| f.engine.order(id).unwrap());
        assert_eq!(on_20, Reply::OpenOrders(Some(expected.to_vec())));

        // A cancelled order is gone; an unknown market has no orders; an unknown account has
        // no answer.
        f.apply(Command::CancelOrder {
            account: AccountId(1),
            market: MarketId(20),
            order_id: Some(OrderId(1)),
            client_order_id: None,
        });
        let after = f.query(Query::OpenOrders {
            account: AccountId(1),
            market: Some(MarketId(20)),
        });
        assert_eq!(after, Reply::OpenOrders(Some(vec![expected[1]])));
        assert_eq!(
            f.query(Query::OpenOrders {
                account: AccountId(1),
                market: Some(MarketId(99)),
            }),
            Reply::OpenOrders(Some(Vec::new()))
        );
        assert_eq!(
            f.query(Query::OpenOrders {
                account: AccountId(9),
                market: None,
            }),
            Reply::OpenOrders(None)
        );
    }

    #[test]
    fn positions_follow_the_order_first_traded_with_their_open_orders() {
        let mut f = Fixture::new();
        f.place(1, 20, Side::Back, 300, 1);
        f.place(1, 20, Side::Back, 300, 2);
        f.place(1, 10, Side::Back, 400, 3);
        // Account 2 takes all of account 1's order on market 10: it leaves the book, the
        // position stays.
        let events = f.apply(Command::PlaceOrder {
            account: AccountId(2),
            market: MarketId(10),
            selection: SelectionId(1),
            side: Side::Lay,
            odds_x100: 400,
            stake_minor: 1_000,
            tif: TimeInForce::Ioc,
            post_only: false,
            persistence: Default::default(),
            client_order_id: 1,
        });
        assert!(events.iter().any(|e| matches!(e, Event::Trade { .. })));
        let reply = f.query(Query::Positions {
            account: AccountId(1),
        });
        let expected = vec![
            PositionView {
                market: MarketId(20),
                exposure_minor: 2_000,
                open_orders: 2,
            },
            PositionView {
                market: MarketId(10),
                exposure_minor: 1_000,
                open_orders: 0,
            },
        ];
        assert_eq!(reply, Reply::Positions(Some(expected)));
        assert_eq!(
            f.query(Query::Positions {
                account: AccountId(2)
            }),
            Reply::Positions(Some(vec![PositionView {
                market: MarketId(10),
                exposure_minor: 3_000,
                open_orders: 0,
            }]))
        );
        // The per-position counts add up to the account's.
        for account in [1, 2] {
            let Reply::Positions(Some(positions)) = f.query(Query::Positions {
                account: AccountId(account),
            }) else {
                panic!("account {account} exists");
            };
            let counted: u32 = positions.iter().map(|p| p.open_orders).sum();
            let exposure: i64 = positions.iter().map(|p| p.exposure_minor).sum();
            assert_eq!(Some(counted), f.engine.open_orders(AccountId(account)));
            assert_eq!(Some(exposure), f.engine.exposure(AccountId(account)));
        }
        assert_eq!(
            f.query(Query::Positions {
                account: AccountId(7)
            }),
            Reply::Positions(None)
        );
    }

    #[test]
    fn api_key_resolves_to_its_holder_until_rotated() {
        let mut f = Fixture::new();
        let mut feed = Command::create_account(AccountId(3), Tier::Free);
        if let Command::CreateAccount { role, .. } = &mut feed {
            *role = Role::Feed;
        }
        f.apply(feed);
        for (account, key_id) in [(1, 77), (3, 78)] {
            let events = f.apply(Command::SetApiKey {
                account: AccountId(account),
                key_id,
                secret: SECRET,
            });
            assert_eq!(
                events,
                [Event::ApiKeySet {
                    account: AccountId(account),
                    key_id
                }]
            );
        }
        assert_eq!(
            f.query(Query::ApiKey { key_id: 77 }),
            Reply::ApiKey(Some(ApiKeyView {
                account: AccountId(1),
                key_id: 77,
                secret: SECRET,
                tier: Tier::Basic,
                role: Role::Trader,
            }))
        );
        let Reply::ApiKey(Some(feed_key)) = f.query(Query::ApiKey { key_id: 78 }) else {
            panic!("key 78 is set");
        };
        assert_eq!(
            (feed_key.account, feed_key.role),
            (AccountId(3), Role::Feed)
        );

        let rotated = ApiSecret([9; 32]);
        f.apply(Command::SetApiKey {
            account: AccountId(1),
            key_id: 79,
            secret: rotated,
        });
        assert_eq!(f.query(Query::ApiKey { key_id: 77 }), Reply::ApiKey(None));
        let Reply::ApiKey(Some(view)) = f.query(Query::ApiKey { key_id: 79 }) else {
            panic!("key 79 is set");
        };
        assert_eq!((view.account, view.secret), (AccountId(1), rotated));
        assert_eq!(f.query(Query::ApiKey { key_id: 0 }), Reply::ApiKey(None));
    }

    #[test]
    fn markets_are_listed_in_creation_order() {
        let mut f = Fixture::new();
        f.apply(Command::SuspendMarket {
            market: MarketId(20),
        });
        let Reply::Markets(markets) = f.query(Query::Markets) else {
            panic!("a markets query gets a markets reply");
        };
        let ids: Vec<u32> = markets.iter().map(|m| m.market.0).collect();
        assert_eq!(ids, [10, 20, 30]);
        assert_eq!(
            markets[1],
            MarketView {
                market: MarketId(20),
                kind: MarketKind::Exchange,
                status: MarketStatus::Suspended,
                ladder: LadderKind::Betfair,
                selections: vec![SelectionId(1), SelectionId(2)],
            }
        );
        assert_eq!(markets[2].kind, MarketKind::Pool);
        assert_eq!(markets[2].status, MarketStatus::Pending);
        assert_eq!(markets[2].selections, [SelectionId(5), SelectionId(6)]);
        let empty: Engine = Engine::new(EngineConfig::small());
        assert_eq!(empty.query(&Query::Markets), Reply::Markets(Vec::new()));
    }

    #[test]
    fn queries_change_nothing() {
        let mut f = Fixture::new();
        f.place(1, 10, Side::Back, 300, 1);
        let (seq, hash) = (f.engine.seq(), f.engine.state_hash());
        for query in [
            Query::Account {
                account: AccountId(1),
            },
            Query::OpenOrders {
                account: AccountId(1),
                market: None,
            },
            Query::Positions {
                account: AccountId(1),
            },
            Query::ApiKey { key_id: 1 },
            Query::Markets,
            Query::Market {
                market: MarketId(10),
                levels: MAX_MARKET_LEVELS,
            },
            Query::Accounts { after: None },
        ] {
            f.query(query);
        }
        assert_eq!((f.engine.seq(), f.engine.state_hash()), (seq, hash));
    }
}
