//! Which engine events become execution reports, for which accounts, and the per-account memory
//! of recent reports that serves most replays.

use std::collections::VecDeque;

use oddsmatch_engine::{AccountId, Event};

use crate::proto::{Liquidity, ReportBody, ReportHeader};

/// Who receives the report an event makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Audience {
    /// The sessions of each account named: one, or two for a trade (maker and taker).
    Accounts([Option<(AccountId, ReportBody)>; 2]),
    /// Every logged-in session, live only (market status).
    Everyone(ReportBody),
    /// Only the session that sent the request: a reject that names no account.
    Requester(ReportBody),
    /// Nobody: the event is not an execution report.
    Nobody,
}

/// The report one event makes and who receives it.
pub(crate) fn reports_of(event: &Event) -> Audience {
    let one = |account: AccountId, body| Audience::Accounts([Some((account, body)), None]);
    match *event {
        Event::OrderAccepted {
            order_id,
            account,
            client_order_id,
            market,
            selection,
            side,
            odds_x100,
            stake_minor,
            tif,
            persistence,
            quote,
        } => one(
            account,
            ReportBody::OrderAccepted {
                order_id,
                client_order_id,
                stake_minor,
                market,
                selection,
                odds_x100,
                side,
                tif,
                persistence,
                quote,
            },
        ),
        Event::Rejected {
            command,
            reason,
            account,
            market,
            client_order_id,
            order_id,
        } => {
            let body = ReportBody::OrderRejected {
                client_order_id,
                order_id,
                market,
                reason,
                command,
            };
            match account {
                Some(account) => one(account, body),
                None => Audience::Requester(body),
            }
        }
        Event::OrderCancelled {
            order_id,
            account,
            market,
            selection,
            side,
            stake_minor,
            reason,
        } => one(
            account,
            ReportBody::OrderCancelled {
                order_id,
                stake_minor,
                market,
                selection,
                side,
                reason,
            },
        ),
        Event::OrderReplaced {
            order_id,
            account,
            market,
            selection,
            side,
            odds_x100,
            stake_minor,
            priority_kept,
        } => one(
            account,
            ReportBody::OrderReplaced {
                order_id,
                stake_minor,
                market,
                selection,
                odds_x100,
                side,
                priority_kept,
            },
        ),
        Event::Trade {
            market,
            book_seq,
            selection,
            odds_x100,
            stake_minor,
            maker_order_id,
            taker_order_id,
            maker_account,
            taker_account,
            taker_side,
        } => {
            let fill = |order_id, side, liquidity| ReportBody::Fill {
                order_id,
                book_seq,
                stake_minor,
                market,
                selection,
                odds_x100,
                side,
                liquidity,
            };
            Audience::Accounts([
                Some((
                    maker_account,
                    fill(maker_order_id, taker_side.opposite(), Liquidity::Maker),
                )),
                Some((
                    taker_account,
                    fill(taker_order_id, taker_side, Liquidity::Taker),
                )),
            ])
        }
        Event::OrderDelayed {
            order_id,
            account,
            market,
            until,
        } => one(
            account,
            ReportBody::OrderDelayed {
                order_id,
                until_ns: until,
                market,
            },
        ),
        Event::BetAccepted {
            bet_id,
            account,
            client_order_id,
            market,
            selection,
            stake_minor,
        } => one(
            account,
            ReportBody::BetAccepted {
                bet_id,
                client_order_id,
                stake_minor,
                market,
                selection,
            },
        ),
        Event::BetCancelled {
            bet_id,
            account,
            market,
            selection,
            stake_minor,
        } => one(
            account,
            ReportBody::BetCancelled {
                bet_id,
                stake_minor,
                market,
                selection,
            },
        ),
        Event::BetSettled {
            bet_id,
            account,
            market,
            stake_minor,
            payout_minor,
        } => one(
            account,
            ReportBody::BetSettled {
                bet_id,
                stake_minor,
                payout_minor,
                market,
            },
        ),
        Event::AccountSettled {
            account,
            market,
            pnl_minor,
            commission_minor,
        } => one(
            account,
            ReportBody::Settlement {
                pnl_minor,
                commission_minor,
                market,
            },
        ),
        Event::Ledger {
            account,
            kind,
            amount_minor,
            balance_minor,
            reference,
        } => one(
            account,
            ReportBody::Ledger {
                amount_minor,
                balance_minor,
                reference,
                kind,
            },
        ),
        Event::KillSwitch { account, on } => one(account, ReportBody::KillSwitch { on }),
        Event::VoteAccepted {
            account,
            market,
            selection,
            weight,
            replaced,
        } => one(
            account,
            ReportBody::VoteAccepted {
                weight,
                market,
                selection,
                replaced,
            },
        ),
        Event::MarketStatus {
            market,
            book_seq,
            status,
            cause,
        } => Audience::Everyone(ReportBody::MarketStatus {
            book_seq,
            market,
            status,
            cause,
        }),
        _ => Audience::Nobody,
    }
}

/// A report's position on its shard: journal sequence, then event index.
pub(crate) type Position = (u64, u32);

/// The position of a report header.
pub(crate) fn position(header: &ReportHeader) -> Position {
    (header.journal_seq, header.event_index)
}

/// An account's recent reports on one shard, oldest first, and the position before which the
/// memory is no longer complete.
#[derive(Debug)]
pub(crate) struct Recent {
    reports: VecDeque<(ReportHeader, ReportBody)>,
    /// Every report of the account after this position is in `reports`.
    complete_after: Position,
}

impl Recent {
    pub(crate) fn new(complete_after: Position) -> Self {
        Recent {
            reports: VecDeque::new(),
            complete_after,
        }
    }

    pub(crate) fn push(&mut self, header: ReportHeader, body: ReportBody, capacity: usize) {
        if capacity == 0 {
            self.complete_after = position(&header);
            return;
        }
        if self.reports.len() == capacity
            && let Some((oldest, _)) = self.reports.pop_front()
        {
            self.complete_after = position(&oldest);
        }
        self.reports.push_back((header, body));
    }

    /// The reports after `after`, if memory holds all of them.
    pub(crate) fn after(
        &self,
        after: Position,
    ) -> Option<impl Iterator<Item = &(ReportHeader, ReportBody)>> {
        if after < self.complete_after {
            return None;
        }
        let start = self
            .reports
            .partition_point(|(header, _)| position(header) <= after);
        Some(self.reports.range(start..))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oddsmatch_engine::{MarketId, OrderId, SelectionId, Side};

    fn header(seq: u64, index: u32) -> ReportHeader {
        ReportHeader {
            journal_seq: seq,
            event_index: index,
            ..ReportHeader::default()
        }
    }

    #[test]
    fn a_trade_reports_to_both_sides_with_their_own_order_and_side() {
        let trade = Event::Trade {
            market: MarketId(1),
            book_seq: 9,
            selection: SelectionId(2),
            odds_x100: 250,
            stake_minor: 100,
            maker_order_id: OrderId(1),
            taker_order_id: OrderId(2),
            maker_account: AccountId(10),
            taker_account: AccountId(11),
            taker_side: Side::Back,
        };
        let Audience::Accounts([maker, taker]) = reports_of(&trade) else {
            panic!("a trade reports to accounts");
        };
        let (account, body) = maker.unwrap();
        assert_eq!(account, AccountId(10));
        assert!(matches!(
            body,
            ReportBody::Fill {
                order_id: OrderId(1),
                side: Side::Lay,
                liquidity: Liquidity::Maker,
                ..
            }
        ));
        let (account, body) = taker.unwrap();
        assert_eq!(account, AccountId(11));
        assert!(matches!(
            body,
            ReportBody::Fill {
                order_id: OrderId(2),
                side: Side::Back,
                liquidity: Liquidity::Taker,
                ..
            }
        ));
    }

    #[test]
    fn memory_answers_only_when_it_holds_everything_asked_for() {
        let body = ReportBody::KillSwitch { on: true };
        let mut recent = Recent::new((5, u32::MAX));
        assert_eq!(recent.after((5, u32::MAX)).unwrap().count(), 0);
        assert!(recent.after((4, 0)).is_none(), "before the gateway started");
        for seq in 6..10 {
            recent.push(header(seq, 0), body, 3);
        }
        // 6 was evicted: the memory is complete after (6, 0).
        assert!(recent.after((5, u32::MAX)).is_none());
        let seqs: Vec<u64> = recent
            .after((6, 0))
            .unwrap()
            .map(|(h, _)| h.journal_seq)
            .collect();
        assert_eq!(seqs, [7, 8, 9]);
        assert_eq!(recent.after((8, 0)).unwrap().count(), 1);
    }
}
