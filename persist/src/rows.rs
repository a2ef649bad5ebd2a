//! From journal records to table rows, and from rows to binary COPY.
//!
//! [`Rows`] collects the rows of a batch of records, one vector per table, in journal order.
//! Every row starts with its journal position `(shard, seq, event_index)` and the input's
//! timestamp; `event_index` is the event's index among the events of its record, so a row
//! names exactly the event it came from. [`Rows::copy_into`] writes a batch with one binary
//! COPY per table inside the caller's transaction.
//!
//! What is written, by event (the mapping is documented for users in `docs/persist.md`):
//! orders' lifecycle and every reject go to `order_events`; trades, ledger postings, pool bets,
//! votes, settlements and payouts to their tables; market creation and status changes to
//! `markets` and `market_status`; account creation to `accounts`, kill switches and API keys
//! (the key id only) to `account_events`; reference updates, circuit breakers and vote results
//! to `market_events`; operators' limit changes to `account_limits`, knob and schedule changes
//! to `market_changes`; sampled odds ticks to `odds_ticks` with their selections in
//! `selection_odds`. The book stream's depth and pool updates and `balance` answers are market
//! data or reads, derivable from the rest, and are not written.

use std::pin::pin;
use std::time::{Duration, SystemTime};

use bytes::{BufMut, BytesMut};
use oddsmatch_engine::{Event, Input, TickReason};
use serde::Serialize;
use tokio_postgres::Transaction;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

/// A `u64` stored as `numeric(20)` (client order ids, transfer ids, key ids: Postgres has no
/// unsigned 64-bit integer, and a cast to `bigint` would turn large ids negative).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Numeric(pub u64);

impl ToSql for Numeric {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        // Binary numeric: digit count, weight of the first digit (in powers of 10,000), sign,
        // display scale, then the base-10,000 digits, most significant first.
        let mut digits = [0i16; 5];
        let mut count = 0;
        let mut rest = self.0;
        while rest > 0 {
            digits[count] = (rest % 10_000) as i16;
            rest /= 10_000;
            count += 1;
        }
        let weight = count as i16 - 1;
        // Trailing zero digits are implied by the weight; Postgres leaves them out too.
        let skip = digits.iter().take_while(|&&d| d == 0).count().min(count);
        out.put_i16((count - skip) as i16);
        out.put_i16(weight.max(0));
        out.put_u16(0);
        out.put_u16(0);
        for &digit in digits[skip..count].iter().rev() {
            out.put_i16(digit);
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let field = |at: usize| -> Result<u16, Box<dyn std::error::Error + Sync + Send>> {
            raw.get(at..at + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(|| "numeric value too short".into())
        };
        let count = usize::from(field(0)?);
        let weight = field(2)? as i16;
        let (sign, scale) = (field(4)?, field(6)?);
        if sign != 0 || scale != 0 || weight < 0 && count > 0 {
            return Err("not a non-negative integer".into());
        }
        let mut value: u64 = 0;
        for index in 0..=(weight.max(0) as usize) {
            let digit = if index < count {
                u64::from(field(8 + 2 * index)?)
            } else {
                0
            };
            value = value
                .checked_mul(10_000)
                .and_then(|v| v.checked_add(digit))
                .ok_or("numeric value out of the u64 range")?;
        }
        if count == 0 {
            value = 0;
        }
        Ok(Numeric(value))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// Where a row comes from: its journal position and time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    /// The shard.
    pub shard: i16,
    /// The record's sequence number.
    pub seq: i64,
    /// The event's index in its record.
    pub event_index: i32,
    /// The input's timestamp.
    pub ts: SystemTime,
}

/// The serde name of a unit enum variant (the names the sim format and the docs use).
fn name<T: Serialize>(value: &T) -> &'static str {
    serde_variant::to_variant_name(value).unwrap_or("unknown")
}

fn time(ts_ns: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(ts_ns)
}

/// Declares the tables: a row struct each, the column list and types, and the slots in
/// [`Rows`].
macro_rules! tables {
    ($(
        $(#[$meta:meta])*
        $field:ident: $Row:ident = $table:literal {
            $( $(#[$cmeta:meta])* $column:ident: $ty:ty => $pg:ident ),* $(,)?
        }
    )*) => {
        $(
            $(#[$meta])*
            #[derive(Clone, Debug, PartialEq)]
            pub struct $Row {
                /// Its journal position and time.
                pub key: Key,
                $( $(#[$cmeta])* pub $column: $ty, )*
            }

            impl $Row {
                /// The table.
                pub const TABLE: &'static str = $table;
                /// The columns after the key's, in COPY order.
                pub const COLUMNS: &'static [&'static str] = &[$(stringify!($column)),*];
                const TYPES: &'static [Type] = &[
                    Type::INT2, Type::INT8, Type::INT4, Type::TIMESTAMPTZ, $(Type::$pg),*
                ];

                fn params(&self) -> [&(dyn ToSql + Sync); 4 + [$(stringify!($column)),*].len()] {
                    [
                        &self.key.shard,
                        &self.key.seq,
                        &self.key.event_index,
                        &self.key.ts,
                        $(&self.$column),*
                    ]
                }
            }
        )*

        /// The rows of a batch of records, one vector per table, in journal order.
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct Rows {
            $( $(#[$meta])* pub $field: Vec<$Row>, )*
        }

        impl Rows {
            /// Every table's name, in the order batches write them.
            pub const TABLES: &'static [&'static str] = &[$($table),*];

            /// Rows over every table.
            pub fn len(&self) -> usize {
                0 $( + self.$field.len() )*
            }

            /// No rows at all.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Rows per table, in [`Rows::TABLES`] order.
            pub fn counts(&self) -> Vec<(&'static str, usize)> {
                vec![$( ($table, self.$field.len()) ),*]
            }

            /// Empties every table, keeping the allocations.
            pub fn clear(&mut self) {
                $( self.$field.clear(); )*
            }

            /// Writes every non-empty table with one binary COPY each into `schema`, inside
            /// `tx`. Returns the rows written.
            pub async fn copy_into(
                &self,
                tx: &Transaction<'_>,
                schema: &str,
            ) -> Result<u64, tokio_postgres::Error> {
                let mut written = 0;
                $(
                    if !self.$field.is_empty() {
                        written += copy_table(
                            tx,
                            schema,
                            $table,
                            $Row::COLUMNS,
                            $Row::TYPES,
                            self.$field.iter().map(|row| row.params()),
                        )
                        .await?;
                    }
                )*
                Ok(written)
            }
        }
    };
}

async fn copy_table<const N: usize>(
    tx: &Transaction<'_>,
    schema: &str,
    table: &str,
    columns: &[&str],
    types: &[Type],
    rows: impl Iterator<Item = [&(dyn ToSql + Sync); N]>,
) -> Result<u64, tokio_postgres::Error> {
    let statement = format!(
        "COPY {schema}.{table} (shard, seq, event_index, ts, {}) FROM STDIN BINARY",
        columns.join(", ")
    );
    let sink = tx.copy_in(&statement).await?;
    let mut writer = pin!(BinaryCopyInWriter::new(sink, types));
    for params in rows {
        writer.as_mut().write(&params).await?;
    }
    writer.finish().await
}

tables! {
    /// `market_created`.
    markets: MarketRow = "markets" {
        /// The market.
        market: i64 => INT8,
        /// `exchange`, `pool` or `prediction`.
        kind: &'static str => TEXT,
        /// How many selections.
        selections: i16 => INT2,
        /// Winners at settlement.
        places: i16 => INT2,
        /// The price ladder.
        ladder: &'static str => TEXT,
        /// Commission in basis points.
        commission_bps: i32 => INT4,
        /// Pool takeout in basis points.
        takeout_bps: i32 => INT4,
    }
    /// `market_status`.
    market_status: MarketStatusRow = "market_status" {
        /// The market.
        market: i64 => INT8,
        /// The market's book-stream sequence number.
        book_seq: i64 => INT8,
        /// The new state.
        status: &'static str => TEXT,
        /// Why.
        cause: &'static str => TEXT,
    }
    /// `account_created`.
    accounts: AccountRow = "accounts" {
        /// The account.
        account: i64 => INT8,
        /// Its tier.
        tier: &'static str => TEXT,
    }
    /// `kill_switch` (kind `kill_switch_on` / `kill_switch_off`) and `api_key_set`.
    account_events: AccountEventRow = "account_events" {
        /// The account.
        account: i64 => INT8,
        /// What happened.
        kind: &'static str => TEXT,
        /// The key id of `api_key_set`.
        key_id: Option<Numeric> => NUMERIC,
    }
    /// An order's lifecycle (`accepted`, `delayed`, `replaced`, `cancelled`) and every reject
    /// (`rejected`, whatever its command).
    order_events: OrderEventRow = "order_events" {
        /// What happened.
        kind: &'static str => TEXT,
        /// The owner, or the account a rejected command named.
        account: Option<i64> => INT8,
        /// The market.
        market: Option<i64> => INT8,
        /// The engine's order id.
        order_id: Option<i64> => INT8,
        /// The owner's id for the order.
        client_order_id: Option<Numeric> => NUMERIC,
        /// The selection.
        selection: Option<i64> => INT8,
        /// `back` or `lay`.
        side: Option<&'static str> => TEXT,
        /// Odds times 100 (accepted: the limit; replaced: the new odds).
        odds_x100: Option<i32> => INT4,
        /// Stake in minor units (accepted: the stake; replaced: the new unmatched stake;
        /// cancelled: the unmatched stake cancelled).
        stake_minor: Option<i64> => INT8,
        /// Time in force.
        tif: Option<&'static str> => TEXT,
        /// Lapse or persist at in-play.
        persistence: Option<&'static str> => TEXT,
        /// Cancel reason or reject reason.
        reason: Option<&'static str> => TEXT,
        /// The rejected command.
        command: Option<&'static str> => TEXT,
        /// Whether the order is a quote of a mass quote.
        quote: Option<bool> => BOOL,
        /// Whether a replace kept the order's place in the queue.
        priority_kept: Option<bool> => BOOL,
        /// When a delayed order enters the book.
        delayed_until: Option<SystemTime> => TIMESTAMPTZ,
        /// The reject reason's numeric code (the protocol's).
        reason_code: Option<i16> => INT2,
    }
    /// `trade`.
    trades: TradeRow = "trades" {
        /// The market.
        market: i64 => INT8,
        /// The market's book-stream sequence number.
        book_seq: i64 => INT8,
        /// The selection.
        selection: i64 => INT8,
        /// The resting order's odds times 100.
        odds_x100: i32 => INT4,
        /// Matched backer's stake in minor units.
        stake_minor: i64 => INT8,
        /// The resting order.
        maker_order_id: i64 => INT8,
        /// The incoming order.
        taker_order_id: i64 => INT8,
        /// The resting order's owner.
        maker_account: i64 => INT8,
        /// The incoming order's owner.
        taker_account: i64 => INT8,
        /// The incoming order's side.
        taker_side: &'static str => TEXT,
    }
    /// `bet_accepted`, `bet_cancelled`, `bet_settled` (kinds `accepted`, `cancelled`,
    /// `settled`).
    pool_bets: PoolBetRow = "pool_bets" {
        /// What happened.
        kind: &'static str => TEXT,
        /// The bet.
        bet_id: i64 => INT8,
        /// Its owner.
        account: i64 => INT8,
        /// The market.
        market: i64 => INT8,
        /// The selection (accepted, cancelled).
        selection: Option<i64> => INT8,
        /// The stake in minor units.
        stake_minor: i64 => INT8,
        /// What the bet paid back, stake included (settled).
        payout_minor: Option<i64> => INT8,
        /// The owner's id for the bet (accepted).
        client_order_id: Option<Numeric> => NUMERIC,
    }
    /// `market_settled`.
    settlements: SettlementRow = "settlements" {
        /// The market.
        market: i64 => INT8,
        /// The winning selections.
        winners: Vec<i64> => INT8_ARRAY,
    }
    /// `account_settled`.
    payouts: PayoutRow = "payouts" {
        /// The account.
        account: i64 => INT8,
        /// The market.
        market: i64 => INT8,
        /// Net result in minor units.
        pnl_minor: i64 => INT8,
        /// Commission charged, in minor units.
        commission_minor: i64 => INT8,
    }
    /// `ledger`.
    ledger: LedgerRow = "ledger" {
        /// The account.
        account: i64 => INT8,
        /// Why the money moved.
        kind: &'static str => TEXT,
        /// Signed amount in minor units.
        amount_minor: i64 => INT8,
        /// The balance after the posting.
        balance_minor: i64 => INT8,
        /// The transfer id or the market id.
        reference: Numeric => NUMERIC,
    }
    /// `vote_accepted`.
    votes: VoteRow = "votes" {
        /// The voter.
        account: i64 => INT8,
        /// The market.
        market: i64 => INT8,
        /// The selection voted for.
        selection: i64 => INT8,
        /// The weight counted.
        weight: i64 => INT8,
        /// Whether it replaced an earlier vote.
        replaced: bool => BOOL,
    }
    /// `reference_updated`, `circuit_breaker_tripped`, `vote_result` (kinds `reference`,
    /// `circuit_breaker`, `vote_result`).
    market_events: MarketEventRow = "market_events" {
        /// The market.
        market: i64 => INT8,
        /// What happened.
        kind: &'static str => TEXT,
        /// The breaker's selection, or the vote's winner.
        selection: Option<i64> => INT8,
        /// The feed account of a reference update.
        account: Option<i64> => INT8,
        /// Whose odds tripped the breaker.
        source: Option<&'static str> => TEXT,
        /// The breaker's odds before, times 100.
        from_odds_x100: Option<i32> => INT4,
        /// The breaker's odds now, times 100.
        to_odds_x100: Option<i32> => INT4,
        /// The breaker's move in basis points.
        move_bps: Option<i32> => INT4,
        /// The reference's sum of probabilities in basis points.
        total_bps: Option<i32> => INT4,
        /// How many accounts voted.
        voters: Option<i32> => INT4,
        /// Total weight of the votes.
        total_weight: Option<i64> => INT8,
        /// Weight of the winning (or leading) selection.
        leading_weight: Option<i64> => INT8,
    }
    /// `account_limits_set`: an account's tier and limits as an operator set them.
    account_limits: AccountLimitsRow = "account_limits" {
        /// The account.
        account: i64 => INT8,
        /// Its tier.
        tier: &'static str => TEXT,
        /// Its self-trade prevention mode.
        stp: &'static str => TEXT,
        /// Smallest stake of one order.
        min_stake_minor: i64 => INT8,
        /// Largest stake of one order.
        max_stake_minor: i64 => INT8,
        /// Largest exposure on one market.
        max_market_exposure_minor: i64 => INT8,
        /// Most open orders at once.
        max_open_orders: i64 => INT8,
    }
    /// `market_knobs_set` (kind `knobs`: every knob as it now is, the schedule columns null)
    /// and `market_scheduled` (kind `schedule`: the schedule as it now is, the knob columns
    /// null).
    market_changes: MarketChangeRow = "market_changes" {
        /// The market.
        market: i64 => INT8,
        /// `knobs` or `schedule`.
        kind: &'static str => TEXT,
        /// Smallest move of displayed odds that publishes a tick.
        odds_change_threshold_bps: Option<i32> => INT4,
        /// Shortest time between two change ticks.
        odds_tick_interval_ms: Option<i32> => INT4,
        /// Silence after which a heartbeat tick is published.
        odds_heartbeat_ms: Option<i32> => INT4,
        /// Move that trips the circuit breaker.
        circuit_breaker_bps: Option<i32> => INT4,
        /// The breaker's window.
        circuit_breaker_window_ms: Option<i32> => INT4,
        /// Pool below which indicative odds cannot trip the breaker.
        circuit_breaker_min_pool_minor: Option<i64> => INT8,
        /// The price band (null on a knobs row: no band).
        price_band_bps: Option<i32> => INT4,
        /// The market's largest stake (null on a knobs row: no market limit).
        max_bet_minor: Option<i64> => INT8,
        /// The market's largest exposure per account (null on a knobs row: no market limit).
        max_exposure_minor: Option<i64> => INT8,
        /// The in-play delay.
        bet_delay_ms: Option<i32> => INT4,
        /// When the market locks (null on a schedule row: no lock).
        lock_at: Option<SystemTime> => TIMESTAMPTZ,
        /// The end time the lock follows, if any.
        end_at: Option<SystemTime> => TIMESTAMPTZ,
        /// How long before `end_at` the market locks.
        lock_before_end_ms: Option<i32> => INT4,
        /// When the market closes (null on a schedule row: no close).
        close_at: Option<SystemTime> => TIMESTAMPTZ,
    }
    /// Sampled `odds_tick`s (see [`RowOptions::odds_tick_every`]).
    odds_ticks: OddsTickRow = "odds_ticks" {
        /// The market.
        market: i64 => INT8,
        /// The market's tick sequence number.
        tick_seq: i64 => INT8,
        /// Why it was published.
        reason: &'static str => TEXT,
        /// The market's state.
        status: &'static str => TEXT,
        /// Sum of implied probabilities in basis points.
        overround_bps: i32 => INT4,
    }
    /// The `selection_odds` of the sampled ticks.
    selection_odds: SelectionOddsRow = "selection_odds" {
        /// The market.
        market: i64 => INT8,
        /// The tick it belongs to.
        tick_seq: i64 => INT8,
        /// The selection.
        selection: i64 => INT8,
        /// Best odds to back, times 100.
        back_x100: i32 => INT4,
        /// Best odds to lay, times 100.
        lay_x100: i32 => INT4,
        /// Last traded odds, times 100.
        last_traded_x100: i32 => INT4,
        /// Indicative pool odds, times 100.
        indicative_x100: i32 => INT4,
        /// Implied probability in basis points.
        implied_bps: i32 => INT4,
        /// The feed's probability in basis points.
        reference_bps: i32 => INT4,
        /// Matched backer's stake so far.
        matched_minor: i64 => INT8,
        /// The selection's pool.
        pool_minor: i64 => INT8,
    }
}

/// Choices in how records become rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowOptions {
    /// Odds ticks written: every tick whose market tick sequence number is a multiple of
    /// this, and every tick published for a status change; 0 writes none. Sampling by the
    /// tick sequence number keeps the choice the same whatever restarts the flush.
    pub odds_tick_every: u64,
}

impl Default for RowOptions {
    fn default() -> Self {
        RowOptions {
            odds_tick_every: 10,
        }
    }
}

impl Rows {
    /// Adds the rows of one record: `input` and the `events` it produced, at `seq` of
    /// `shard`'s journal.
    pub fn push_record(
        &mut self,
        shard: u16,
        seq: u64,
        input: &Input,
        events: &[Event],
        options: RowOptions,
    ) {
        let ts = time(input.ts_ns);
        let seq = seq as i64;
        let shard = shard as i16;
        let mut tick_sampled = false;
        for (index, event) in events.iter().enumerate() {
            let key = Key {
                shard,
                seq,
                event_index: index as i32,
                ts,
            };
            self.push_event(key, event, options, &mut tick_sampled);
        }
    }

    fn push_event(&mut self, key: Key, event: &Event, options: RowOptions, sampled: &mut bool) {
        let order = |kind| OrderEventRow {
            key,
            kind,
            account: None,
            market: None,
            order_id: None,
            client_order_id: None,
            selection: None,
            side: None,
            odds_x100: None,
            stake_minor: None,
            tif: None,
            persistence: None,
            reason: None,
            command: None,
            quote: None,
            priority_kept: None,
            delayed_until: None,
            reason_code: None,
        };
        let market_event = |market: oddsmatch_engine::MarketId, kind| MarketEventRow {
            key,
            market: market.0.into(),
            kind,
            selection: None,
            account: None,
            source: None,
            from_odds_x100: None,
            to_odds_x100: None,
            move_bps: None,
            total_bps: None,
            voters: None,
            total_weight: None,
            leading_weight: None,
        };
        let market_change = |market: oddsmatch_engine::MarketId, kind| MarketChangeRow {
            key,
            market: market.0.into(),
            kind,
            odds_change_threshold_bps: None,
            odds_tick_interval_ms: None,
            odds_heartbeat_ms: None,
            circuit_breaker_bps: None,
            circuit_breaker_window_ms: None,
            circuit_breaker_min_pool_minor: None,
            price_band_bps: None,
            max_bet_minor: None,
            max_exposure_minor: None,
            bet_delay_ms: None,
            lock_at: None,
            end_at: None,
            lock_before_end_ms: None,
            close_at: None,
        };
        match *event {
            Event::AccountCreated { account, tier } => self.accounts.push(AccountRow {
                key,
                account: account.0.into(),
                tier: name(&tier),
            }),
            Event::Ledger {
                account,
                kind,
                amount_minor,
                balance_minor,
                reference,
            } => self.ledger.push(LedgerRow {
                key,
                account: account.0.into(),
                kind: name(&kind),
                amount_minor,
                balance_minor,
                reference: Numeric(reference),
            }),
            Event::KillSwitch { account, on } => self.account_events.push(AccountEventRow {
                key,
                account: account.0.into(),
                kind: if on {
                    "kill_switch_on"
                } else {
                    "kill_switch_off"
                },
                key_id: None,
            }),
            Event::ApiKeySet { account, key_id } => self.account_events.push(AccountEventRow {
                key,
                account: account.0.into(),
                kind: "api_key_set",
                key_id: Some(Numeric(key_id)),
            }),
            Event::MarketCreated {
                market,
                kind,
                selections,
                places,
                ladder,
                commission_bps,
                takeout_bps,
            } => self.markets.push(MarketRow {
                key,
                market: market.0.into(),
                kind: name(&kind),
                selections: selections as i16,
                places: places.into(),
                ladder: name(&ladder),
                commission_bps: commission_bps.into(),
                takeout_bps: takeout_bps.into(),
            }),
            Event::MarketStatus {
                market,
                book_seq,
                status,
                cause,
            } => self.market_status.push(MarketStatusRow {
                key,
                market: market.0.into(),
                book_seq: book_seq as i64,
                status: name(&status),
                cause: name(&cause),
            }),
            Event::MarketSettled { market, winners } => self.settlements.push(SettlementRow {
                key,
                market: market.0.into(),
                winners: winners.as_slice().iter().map(|s| s.0.into()).collect(),
            }),
            Event::AccountSettled {
                account,
                market,
                pnl_minor,
                commission_minor,
            } => self.payouts.push(PayoutRow {
                key,
                account: account.0.into(),
                market: market.0.into(),
                pnl_minor,
                commission_minor,
            }),
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
            } => self.order_events.push(OrderEventRow {
                account: Some(account.0.into()),
                market: Some(market.0.into()),
                order_id: Some(order_id.0 as i64),
                client_order_id: Some(Numeric(client_order_id)),
                selection: Some(selection.0.into()),
                side: Some(name(&side)),
                odds_x100: Some(odds_x100 as i32),
                stake_minor: Some(stake_minor),
                tif: Some(name(&tif)),
                persistence: Some(name(&persistence)),
                quote: Some(quote),
                ..order("accepted")
            }),
            Event::Rejected {
                command,
                reason,
                account,
                market,
                client_order_id,
                order_id,
            } => self.order_events.push(OrderEventRow {
                account: account.map(|a| a.0.into()),
                market: market.map(|m| m.0.into()),
                order_id: order_id.map(|o| o.0 as i64),
                client_order_id: client_order_id.map(Numeric),
                reason: Some(name(&reason)),
                reason_code: Some(reason.code() as i16),
                command: Some(name(&command)),
                ..order("rejected")
            }),
            Event::OrderCancelled {
                order_id,
                account,
                market,
                selection,
                side,
                stake_minor,
                reason,
            } => self.order_events.push(OrderEventRow {
                account: Some(account.0.into()),
                market: Some(market.0.into()),
                order_id: Some(order_id.0 as i64),
                selection: Some(selection.0.into()),
                side: Some(name(&side)),
                stake_minor: Some(stake_minor),
                reason: Some(name(&reason)),
                ..order("cancelled")
            }),
            Event::OrderReplaced {
                order_id,
                account,
                market,
                selection,
                side,
                odds_x100,
                stake_minor,
                priority_kept,
            } => self.order_events.push(OrderEventRow {
                account: Some(account.0.into()),
                market: Some(market.0.into()),
                order_id: Some(order_id.0 as i64),
                selection: Some(selection.0.into()),
                side: Some(name(&side)),
                odds_x100: Some(odds_x100 as i32),
                stake_minor: Some(stake_minor),
                priority_kept: Some(priority_kept),
                ..order("replaced")
            }),
            Event::OrderDelayed {
                order_id,
                account,
                market,
                until,
            } => self.order_events.push(OrderEventRow {
                account: Some(account.0.into()),
                market: Some(market.0.into()),
                order_id: Some(order_id.0 as i64),
                delayed_until: Some(time(until)),
                ..order("delayed")
            }),
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
            } => self.trades.push(TradeRow {
                key,
                market: market.0.into(),
                book_seq: book_seq as i64,
                selection: selection.0.into(),
                odds_x100: odds_x100 as i32,
                stake_minor,
                maker_order_id: maker_order_id.0 as i64,
                taker_order_id: taker_order_id.0 as i64,
                maker_account: maker_account.0.into(),
                taker_account: taker_account.0.into(),
                taker_side: name(&taker_side),
            }),
            Event::BetAccepted {
                bet_id,
                account,
                client_order_id,
                market,
                selection,
                stake_minor,
            } => self.pool_bets.push(PoolBetRow {
                key,
                kind: "accepted",
                bet_id: bet_id.0 as i64,
                account: account.0.into(),
                market: market.0.into(),
                selection: Some(selection.0.into()),
                stake_minor,
                payout_minor: None,
                client_order_id: Some(Numeric(client_order_id)),
            }),
            Event::BetCancelled {
                bet_id,
                account,
                market,
                selection,
                stake_minor,
            } => self.pool_bets.push(PoolBetRow {
                key,
                kind: "cancelled",
                bet_id: bet_id.0 as i64,
                account: account.0.into(),
                market: market.0.into(),
                selection: Some(selection.0.into()),
                stake_minor,
                payout_minor: None,
                client_order_id: None,
            }),
            Event::BetSettled {
                bet_id,
                account,
                market,
                stake_minor,
                payout_minor,
            } => self.pool_bets.push(PoolBetRow {
                key,
                kind: "settled",
                bet_id: bet_id.0 as i64,
                account: account.0.into(),
                market: market.0.into(),
                selection: None,
                stake_minor,
                payout_minor: Some(payout_minor),
                client_order_id: None,
            }),
            Event::VoteAccepted {
                account,
                market,
                selection,
                weight,
                replaced,
            } => self.votes.push(VoteRow {
                key,
                account: account.0.into(),
                market: market.0.into(),
                selection: selection.0.into(),
                weight,
                replaced,
            }),
            Event::VoteResult {
                market,
                winner,
                voters,
                total_weight,
                leading_weight,
            } => self.market_events.push(MarketEventRow {
                selection: winner.map(|s| s.0.into()),
                voters: Some(voters as i32),
                total_weight: Some(total_weight),
                leading_weight: Some(leading_weight),
                ..market_event(market, "vote_result")
            }),
            Event::ReferenceUpdated {
                market,
                account,
                total_bps,
            } => self.market_events.push(MarketEventRow {
                account: Some(account.0.into()),
                total_bps: Some(total_bps as i32),
                ..market_event(market, "reference")
            }),
            Event::CircuitBreakerTripped {
                market,
                selection,
                source,
                from_x100,
                to_x100,
                move_bps,
            } => self.market_events.push(MarketEventRow {
                selection: Some(selection.0.into()),
                source: Some(name(&source)),
                from_odds_x100: Some(from_x100 as i32),
                to_odds_x100: Some(to_x100 as i32),
                move_bps: Some(move_bps as i32),
                ..market_event(market, "circuit_breaker")
            }),
            Event::OddsTick {
                market,
                tick_seq,
                reason,
                status,
                selections: _,
                overround_bps,
            } => {
                let every = options.odds_tick_every;
                *sampled = every != 0 && (reason == TickReason::Status || tick_seq % every == 0);
                if *sampled {
                    self.odds_ticks.push(OddsTickRow {
                        key,
                        market: market.0.into(),
                        tick_seq: tick_seq as i64,
                        reason: name(&reason),
                        status: name(&status),
                        overround_bps: overround_bps as i32,
                    });
                }
            }
            Event::SelectionOdds {
                market,
                selection,
                back_x100,
                lay_x100,
                last_traded_x100,
                indicative_x100,
                implied_bps,
                reference_bps,
                matched_minor,
                pool_minor,
            } => {
                let tick_seq = match self.odds_ticks.last() {
                    Some(tick) if *sampled && tick.key.seq == key.seq => tick.tick_seq,
                    _ => return,
                };
                self.selection_odds.push(SelectionOddsRow {
                    key,
                    market: market.0.into(),
                    tick_seq,
                    selection: selection.0.into(),
                    back_x100: back_x100 as i32,
                    lay_x100: lay_x100 as i32,
                    last_traded_x100: last_traded_x100 as i32,
                    indicative_x100: indicative_x100 as i32,
                    implied_bps: implied_bps as i32,
                    reference_bps: reference_bps.into(),
                    matched_minor,
                    pool_minor,
                });
            }
            Event::AccountLimitsSet {
                account,
                tier,
                stp,
                max_open_orders,
                min_stake_minor,
                max_stake_minor,
                max_market_exposure_minor,
            } => self.account_limits.push(AccountLimitsRow {
                key,
                account: account.0.into(),
                tier: name(&tier),
                stp: name(&stp),
                min_stake_minor,
                max_stake_minor,
                max_market_exposure_minor,
                max_open_orders: max_open_orders.into(),
            }),
            Event::MarketKnobsSet {
                market,
                odds_change_threshold_bps,
                circuit_breaker_bps,
                price_band_bps,
                odds_tick_interval_ms,
                odds_heartbeat_ms,
                circuit_breaker_window_ms,
                bet_delay_ms,
                circuit_breaker_min_pool_minor,
                max_bet_minor,
                max_exposure_minor,
            } => self.market_changes.push(MarketChangeRow {
                odds_change_threshold_bps: Some(odds_change_threshold_bps.into()),
                odds_tick_interval_ms: Some(odds_tick_interval_ms as i32),
                odds_heartbeat_ms: Some(odds_heartbeat_ms as i32),
                circuit_breaker_bps: Some(circuit_breaker_bps.into()),
                circuit_breaker_window_ms: Some(circuit_breaker_window_ms as i32),
                circuit_breaker_min_pool_minor: Some(circuit_breaker_min_pool_minor),
                // 0 in the event: the market has no such limit.
                price_band_bps: (price_band_bps != 0).then_some(price_band_bps.into()),
                max_bet_minor: (max_bet_minor != 0).then_some(max_bet_minor),
                max_exposure_minor: (max_exposure_minor != 0).then_some(max_exposure_minor),
                bet_delay_ms: Some(bet_delay_ms as i32),
                ..market_change(market, "knobs")
            }),
            Event::MarketScheduled {
                market,
                lock_at,
                end_at,
                close_at,
                lock_before_end_ms,
            } => self.market_changes.push(MarketChangeRow {
                lock_at: lock_at.map(time),
                end_at: end_at.map(time),
                lock_before_end_ms: Some(lock_before_end_ms as i32),
                close_at: close_at.map(time),
                ..market_change(market, "schedule")
            }),
            // Market data and reads: the depth and pool streams are rebuilt from orders,
            // trades and bets; a balance answer changes nothing.
            Event::BookDepth { .. } | Event::PoolChanged { .. } | Event::Balance { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: u64) -> Vec<u8> {
        let mut out = BytesMut::new();
        Numeric(value).to_sql(&Type::NUMERIC, &mut out).unwrap();
        out.to_vec()
    }

    #[test]
    fn numeric_round_trips_the_whole_u64_range() {
        for value in [
            0,
            1,
            9_999,
            10_000,
            10_001,
            100_000_000,
            123_456_789,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let bytes = encode(value);
            assert_eq!(
                Numeric::from_sql(&Type::NUMERIC, &bytes).unwrap(),
                Numeric(value),
                "{value}"
            );
        }
        // 10,000 is one digit (1) of weight 1, as Postgres itself sends it.
        assert_eq!(encode(10_000), [0, 1, 0, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(encode(0), [0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn numeric_refuses_what_is_not_a_u64() {
        // Negative, fractional, too large, truncated.
        assert!(Numeric::from_sql(&Type::NUMERIC, &[0, 1, 0, 0, 0x40, 0, 0, 0, 0, 5]).is_err());
        assert!(Numeric::from_sql(&Type::NUMERIC, &[0, 1, 0, 0, 0, 0, 0, 2, 0, 5]).is_err());
        assert!(Numeric::from_sql(&Type::NUMERIC, &[0, 1, 0, 5, 0, 0, 0, 0, 0, 1]).is_err());
        assert!(Numeric::from_sql(&Type::NUMERIC, &[0, 1, 0]).is_err());
    }
}
