//! Read-only queries: what a gateway asks the engine between inputs (an account's state, its
//! open orders and positions, who holds an API key, the markets).
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
use crate::types::{
    AccountId, ApiSecret, MarketId, MarketKind, MarketStatus, Role, SelectionId, Tier,
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
}

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
        ] {
            f.query(query);
        }
        assert_eq!((f.engine.seq(), f.engine.state_hash()), (seq, hash));
    }
}
