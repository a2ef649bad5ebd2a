//! Messages from the server to a client (types `0x02xx`).

use oddsmatch_engine::{
    CancelReason, CommandKind, MarketId, MarketStatus, OrderId, Persistence, PostingKind,
    RejectReason, Role, SelectionId, Side, StatusCause, Tier, TimeInForce,
};

use super::{
    CHALLENGE_LEN, DecodeError, EndReason, Fields, Frame, Header, Liquidity, LoginReject,
    MAX_DETAIL, ThrottleKind, WireEnum, check_header, command_kind_code, command_kind_from_code,
};

/// Message type codes, server to client.
pub mod kind {
    #![allow(missing_docs)] // each constant is the message of the same name in docs/protocol.md
    pub const CHALLENGE: u16 = 0x0201;
    pub const LOGIN_ACCEPTED: u16 = 0x0202;
    pub const LOGIN_REJECTED: u16 = 0x0203;
    pub const HEARTBEAT: u16 = 0x0204;
    pub const DEAD_MAN_STATUS: u16 = 0x0205;
    pub const REPLAY_COMPLETE: u16 = 0x0206;
    pub const ORDER_ACCEPTED: u16 = 0x0210;
    pub const ORDER_REJECTED: u16 = 0x0211;
    pub const ORDER_CANCELLED: u16 = 0x0212;
    pub const ORDER_REPLACED: u16 = 0x0213;
    pub const FILL: u16 = 0x0214;
    pub const ORDER_DELAYED: u16 = 0x0215;
    pub const BET_ACCEPTED: u16 = 0x0216;
    pub const BET_CANCELLED: u16 = 0x0217;
    pub const BET_SETTLED: u16 = 0x0218;
    pub const SETTLEMENT: u16 = 0x0219;
    pub const LEDGER: u16 = 0x021A;
    pub const KILL_SWITCH: u16 = 0x021B;
    pub const VOTE_ACCEPTED: u16 = 0x021C;
    pub const MARKET_STATUS: u16 = 0x021D;
    pub const OPEN_ORDERS: u16 = 0x0230;
    pub const POSITIONS: u16 = 0x0231;
    pub const BALANCE: u16 = 0x0232;
    pub const REQUEST_REJECTED: u16 = 0x0240;
    pub const THROTTLED: u16 = 0x0241;
    pub const BUSY: u16 = 0x0242;
    pub const REQUEST_DONE: u16 = 0x0243;
    pub const END_OF_SESSION: u16 = 0x02FF;
}

/// The session's terms, sent once the proof checks out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginAccepted {
    /// The server's id for this session (unique while the server runs).
    pub session_id: u64,
    /// The server's clock, nanoseconds since the epoch.
    pub server_time_ns: u64,
    /// The account logged in.
    pub account: oddsmatch_engine::AccountId,
    /// The heartbeat interval both sides keep, in milliseconds.
    pub heartbeat_ms: u32,
    /// Whether cancel-on-disconnect is on for this session.
    pub cancel_on_disconnect: bool,
    /// How many shards the server runs (resume cursors are per shard).
    pub shard_count: u16,
    /// The account's tier.
    pub tier: Tier,
    /// The account's role.
    pub role: Role,
}

/// Where an execution report comes from: its position in a shard's journal, which orders an
/// account's reports and is what a reconnecting client resumes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ReportHeader {
    /// The journal sequence number of the input that caused it.
    pub journal_seq: u64,
    /// That input's time stamp, nanoseconds since the epoch.
    pub ts_ns: u64,
    /// The request that caused it when this session sent it live, otherwise 0.
    pub request_id: u64,
    /// The event's index among the input's events.
    pub event_index: u32,
    /// The shard.
    pub shard: u16,
}

/// What an execution report says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // fields mirror the engine events documented in docs/protocol.md
pub enum ReportBody {
    OrderAccepted {
        order_id: OrderId,
        client_order_id: u64,
        stake_minor: i64,
        market: MarketId,
        selection: SelectionId,
        odds_x100: u32,
        side: Side,
        tif: TimeInForce,
        persistence: Persistence,
        quote: bool,
    },
    OrderRejected {
        client_order_id: Option<u64>,
        order_id: Option<OrderId>,
        market: Option<MarketId>,
        reason: RejectReason,
        command: CommandKind,
    },
    OrderCancelled {
        order_id: OrderId,
        stake_minor: i64,
        market: MarketId,
        selection: SelectionId,
        side: Side,
        reason: CancelReason,
    },
    OrderReplaced {
        order_id: OrderId,
        stake_minor: i64,
        market: MarketId,
        selection: SelectionId,
        odds_x100: u32,
        side: Side,
        priority_kept: bool,
    },
    Fill {
        order_id: OrderId,
        book_seq: u64,
        stake_minor: i64,
        market: MarketId,
        selection: SelectionId,
        odds_x100: u32,
        side: Side,
        liquidity: Liquidity,
    },
    OrderDelayed {
        order_id: OrderId,
        until_ns: u64,
        market: MarketId,
    },
    BetAccepted {
        bet_id: OrderId,
        client_order_id: u64,
        stake_minor: i64,
        market: MarketId,
        selection: SelectionId,
    },
    BetCancelled {
        bet_id: OrderId,
        stake_minor: i64,
        market: MarketId,
        selection: SelectionId,
    },
    BetSettled {
        bet_id: OrderId,
        stake_minor: i64,
        payout_minor: i64,
        market: MarketId,
    },
    Settlement {
        pnl_minor: i64,
        commission_minor: i64,
        market: MarketId,
    },
    Ledger {
        amount_minor: i64,
        balance_minor: i64,
        reference: u64,
        kind: PostingKind,
    },
    KillSwitch {
        on: bool,
    },
    VoteAccepted {
        weight: i64,
        market: MarketId,
        selection: SelectionId,
        replaced: bool,
    },
    MarketStatus {
        book_seq: u64,
        market: MarketId,
        status: MarketStatus,
        cause: StatusCause,
    },
}

impl ReportBody {
    /// The message type code.
    pub fn kind(&self) -> u16 {
        match self {
            ReportBody::OrderAccepted { .. } => kind::ORDER_ACCEPTED,
            ReportBody::OrderRejected { .. } => kind::ORDER_REJECTED,
            ReportBody::OrderCancelled { .. } => kind::ORDER_CANCELLED,
            ReportBody::OrderReplaced { .. } => kind::ORDER_REPLACED,
            ReportBody::Fill { .. } => kind::FILL,
            ReportBody::OrderDelayed { .. } => kind::ORDER_DELAYED,
            ReportBody::BetAccepted { .. } => kind::BET_ACCEPTED,
            ReportBody::BetCancelled { .. } => kind::BET_CANCELLED,
            ReportBody::BetSettled { .. } => kind::BET_SETTLED,
            ReportBody::Settlement { .. } => kind::SETTLEMENT,
            ReportBody::Ledger { .. } => kind::LEDGER,
            ReportBody::KillSwitch { .. } => kind::KILL_SWITCH,
            ReportBody::VoteAccepted { .. } => kind::VOTE_ACCEPTED,
            ReportBody::MarketStatus { .. } => kind::MARKET_STATUS,
        }
    }
}

/// An execution report: its position and what it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// Where it comes from.
    pub header: ReportHeader,
    /// What it says.
    pub body: ReportBody,
}

/// The head of a read's answer; long answers come in several frames, the last one flagged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerHeader {
    /// The read's correlation id.
    pub request_id: u64,
    /// The shard this part of the answer comes from.
    pub shard: u16,
    /// Whether this frame ends the answer.
    pub last: bool,
}

/// One open order in an `open_orders` answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct OpenOrderEntry {
    pub order_id: OrderId,
    pub client_order_id: u64,
    pub remaining_minor: i64,
    pub market: MarketId,
    pub selection: SelectionId,
    pub odds_x100: u32,
    pub side: Side,
}

/// One market's position in a `positions` answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct PositionEntry {
    pub market: MarketId,
    pub open_orders: u32,
    pub exposure_minor: i64,
}

/// The account's wallet on one shard, in a `balance` answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct BalanceEntry {
    pub balance_minor: i64,
    pub exposure_minor: i64,
    pub open_orders: u32,
    pub max_open_orders: u32,
    pub kill_switch: bool,
    pub tier: Tier,
}

/// A message from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // each variant is described in docs/protocol.md
pub enum ServerMsg {
    Challenge {
        nonce: [u8; CHALLENGE_LEN],
    },
    LoginAccepted(LoginAccepted),
    LoginRejected {
        reason: LoginReject,
    },
    Heartbeat {
        ts_ns: u64,
    },
    DeadManStatus {
        timeout_ms: u32,
        fired: bool,
    },
    ReplayComplete {
        /// Reports replayed.
        reports: u32,
        /// Some reports asked for are older than the journal keeps.
        incomplete: bool,
    },
    Report(Report),
    OpenOrders {
        header: AnswerHeader,
        orders: Vec<OpenOrderEntry>,
    },
    Positions {
        header: AnswerHeader,
        positions: Vec<PositionEntry>,
    },
    Balance {
        header: AnswerHeader,
        balance: Option<BalanceEntry>,
    },
    RequestRejected {
        request_id: u64,
        msg_type: u16,
        reason: u16,
    },
    Throttled {
        request_id: u64,
        msg_type: u16,
        limit: ThrottleKind,
        retry_after_ms: u32,
    },
    Busy {
        request_id: u64,
        msg_type: u16,
        shard: u16,
    },
    /// The request was carried out and journaled without producing a report for this session
    /// (a mass cancel with nothing open, an unchanged mass quote, accepted reference odds).
    RequestDone {
        request_id: u64,
        msg_type: u16,
        shard: u16,
        journal_seq: u64,
    },
    EndOfSession {
        reason: EndReason,
        detail: String,
    },
}

const LAST: u16 = 1;
/// The most entries one answer frame carries; longer answers take several frames.
pub const ANSWER_CHUNK: usize = 1024;

impl ServerMsg {
    /// The message type code.
    pub fn kind(&self) -> u16 {
        match self {
            ServerMsg::Challenge { .. } => kind::CHALLENGE,
            ServerMsg::LoginAccepted(_) => kind::LOGIN_ACCEPTED,
            ServerMsg::LoginRejected { .. } => kind::LOGIN_REJECTED,
            ServerMsg::Heartbeat { .. } => kind::HEARTBEAT,
            ServerMsg::DeadManStatus { .. } => kind::DEAD_MAN_STATUS,
            ServerMsg::ReplayComplete { .. } => kind::REPLAY_COMPLETE,
            ServerMsg::Report(report) => report.body.kind(),
            ServerMsg::OpenOrders { .. } => kind::OPEN_ORDERS,
            ServerMsg::Positions { .. } => kind::POSITIONS,
            ServerMsg::Balance { .. } => kind::BALANCE,
            ServerMsg::RequestRejected { .. } => kind::REQUEST_REJECTED,
            ServerMsg::Throttled { .. } => kind::THROTTLED,
            ServerMsg::Busy { .. } => kind::BUSY,
            ServerMsg::RequestDone { .. } => kind::REQUEST_DONE,
            ServerMsg::EndOfSession { .. } => kind::END_OF_SESSION,
        }
    }

    /// Appends the message's frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut f = Frame::begin(out, self.kind());
        match self {
            ServerMsg::Challenge { nonce } => {
                f.bytes(nonce);
            }
            ServerMsg::LoginAccepted(a) => {
                f.u64(a.session_id)
                    .u64(a.server_time_ns)
                    .u32(a.account.0)
                    .u32(a.heartbeat_ms)
                    .u32(u32::from(a.cancel_on_disconnect))
                    .u16(a.shard_count)
                    .u8(a.tier.to_wire())
                    .u8(a.role.to_wire());
            }
            ServerMsg::LoginRejected { reason } => {
                f.u8(reason.to_wire()).zeros(7);
            }
            ServerMsg::Heartbeat { ts_ns } => {
                f.u64(*ts_ns);
            }
            ServerMsg::DeadManStatus { timeout_ms, fired } => {
                f.u32(*timeout_ms).u8(u8::from(*fired)).zeros(3);
            }
            ServerMsg::ReplayComplete {
                reports,
                incomplete,
            } => {
                f.u32(*reports).u32(u32::from(*incomplete));
            }
            ServerMsg::Report(report) => encode_report(&mut f, report),
            ServerMsg::OpenOrders { header, orders } => {
                answer_header(&mut f, header, orders.len());
                for o in orders {
                    f.u64(o.order_id.0)
                        .u64(o.client_order_id)
                        .i64(o.remaining_minor)
                        .u32(o.market.0)
                        .u32(o.selection.0)
                        .u32(o.odds_x100)
                        .u8(o.side.to_wire())
                        .zeros(3);
                }
            }
            ServerMsg::Positions { header, positions } => {
                answer_header(&mut f, header, positions.len());
                for p in positions {
                    f.u32(p.market.0).u32(p.open_orders).i64(p.exposure_minor);
                }
            }
            ServerMsg::Balance { header, balance } => {
                answer_header(&mut f, header, usize::from(balance.is_some()));
                if let Some(b) = balance {
                    f.i64(b.balance_minor)
                        .i64(b.exposure_minor)
                        .u32(b.open_orders)
                        .u32(b.max_open_orders)
                        .u8(u8::from(b.kill_switch))
                        .u8(b.tier.to_wire())
                        .zeros(6);
                }
            }
            ServerMsg::RequestRejected {
                request_id,
                msg_type,
                reason,
            } => {
                f.u64(*request_id).u16(*msg_type).u16(*reason).zeros(4);
            }
            ServerMsg::Throttled {
                request_id,
                msg_type,
                limit,
                retry_after_ms,
            } => {
                f.u64(*request_id)
                    .u16(*msg_type)
                    .u8(limit.to_wire())
                    .zeros(1)
                    .u32(*retry_after_ms);
            }
            ServerMsg::Busy {
                request_id,
                msg_type,
                shard,
            } => {
                f.u64(*request_id).u16(*msg_type).u16(*shard).zeros(4);
            }
            ServerMsg::RequestDone {
                request_id,
                msg_type,
                shard,
                journal_seq,
            } => {
                f.u64(*request_id)
                    .u16(*msg_type)
                    .u16(*shard)
                    .zeros(4)
                    .u64(*journal_seq);
            }
            ServerMsg::EndOfSession { reason, detail } => {
                let detail = truncate_utf8(detail, MAX_DETAIL);
                f.u8(reason.to_wire()).zeros(7).bytes(detail.as_bytes());
            }
        }
        f.finish();
    }

    /// Decodes one frame's body (the header already split off and length-checked).
    pub fn decode(header: Header, body: &[u8]) -> Result<ServerMsg, DecodeError> {
        check_header(header)?;
        let mut r = Fields::new(header.kind, body);
        let msg = match header.kind {
            kind::CHALLENGE => {
                r.expect_len(CHALLENGE_LEN)?;
                ServerMsg::Challenge { nonce: r.bytes()? }
            }
            kind::LOGIN_ACCEPTED => {
                r.expect_len(32)?;
                let session_id = r.u64()?;
                let server_time_ns = r.u64()?;
                let account = oddsmatch_engine::AccountId(r.u32()?);
                let heartbeat_ms = r.u32()?;
                let flags = r.u32()?;
                if flags > 1 {
                    return Err(DecodeError::Enum {
                        field: "flags",
                        value: flags,
                    });
                }
                ServerMsg::LoginAccepted(LoginAccepted {
                    session_id,
                    server_time_ns,
                    account,
                    heartbeat_ms,
                    cancel_on_disconnect: flags == 1,
                    shard_count: r.u16()?,
                    tier: r.enum8("tier")?,
                    role: r.enum8("role")?,
                })
            }
            kind::LOGIN_REJECTED => {
                r.expect_len(8)?;
                let reason = r.enum8("reason")?;
                r.reserved(7)?;
                ServerMsg::LoginRejected { reason }
            }
            kind::HEARTBEAT => {
                r.expect_len(8)?;
                ServerMsg::Heartbeat { ts_ns: r.u64()? }
            }
            kind::DEAD_MAN_STATUS => {
                r.expect_len(8)?;
                let timeout_ms = r.u32()?;
                let fired = flag(&mut r, "fired")?;
                r.reserved(3)?;
                ServerMsg::DeadManStatus { timeout_ms, fired }
            }
            kind::REPLAY_COMPLETE => {
                r.expect_len(8)?;
                let reports = r.u32()?;
                let flags = r.u32()?;
                if flags > 1 {
                    return Err(DecodeError::Enum {
                        field: "flags",
                        value: flags,
                    });
                }
                ServerMsg::ReplayComplete {
                    reports,
                    incomplete: flags == 1,
                }
            }
            kind::OPEN_ORDERS => {
                let (header, count) = read_answer_header(&mut r, 40)?;
                let mut orders = Vec::with_capacity(count);
                for _ in 0..count {
                    let order_id = OrderId(r.u64()?);
                    let client_order_id = r.u64()?;
                    let remaining_minor = r.i64()?;
                    let market = MarketId(r.u32()?);
                    let selection = SelectionId(r.u32()?);
                    let odds_x100 = r.u32()?;
                    let side = r.enum8("side")?;
                    r.reserved(3)?;
                    orders.push(OpenOrderEntry {
                        order_id,
                        client_order_id,
                        remaining_minor,
                        market,
                        selection,
                        odds_x100,
                        side,
                    });
                }
                ServerMsg::OpenOrders { header, orders }
            }
            kind::POSITIONS => {
                let (header, count) = read_answer_header(&mut r, 16)?;
                let mut positions = Vec::with_capacity(count);
                for _ in 0..count {
                    positions.push(PositionEntry {
                        market: MarketId(r.u32()?),
                        open_orders: r.u32()?,
                        exposure_minor: r.i64()?,
                    });
                }
                ServerMsg::Positions { header, positions }
            }
            kind::BALANCE => {
                let (header, count) = read_answer_header(&mut r, 32)?;
                if count > 1 {
                    return Err(DecodeError::Count {
                        field: "count",
                        value: count,
                        max: 1,
                    });
                }
                let balance = if count == 1 {
                    let balance_minor = r.i64()?;
                    let exposure_minor = r.i64()?;
                    let open_orders = r.u32()?;
                    let max_open_orders = r.u32()?;
                    let kill_switch = flag(&mut r, "kill_switch")?;
                    let tier = r.enum8("tier")?;
                    r.reserved(6)?;
                    Some(BalanceEntry {
                        balance_minor,
                        exposure_minor,
                        open_orders,
                        max_open_orders,
                        kill_switch,
                        tier,
                    })
                } else {
                    None
                };
                ServerMsg::Balance { header, balance }
            }
            kind::REQUEST_REJECTED => {
                r.expect_len(16)?;
                let request_id = r.u64()?;
                let msg_type = r.u16()?;
                let reason = r.u16()?;
                r.reserved(4)?;
                ServerMsg::RequestRejected {
                    request_id,
                    msg_type,
                    reason,
                }
            }
            kind::THROTTLED => {
                r.expect_len(16)?;
                let request_id = r.u64()?;
                let msg_type = r.u16()?;
                let limit = r.enum8("limit")?;
                r.reserved(1)?;
                ServerMsg::Throttled {
                    request_id,
                    msg_type,
                    limit,
                    retry_after_ms: r.u32()?,
                }
            }
            kind::BUSY => {
                r.expect_len(16)?;
                let request_id = r.u64()?;
                let msg_type = r.u16()?;
                let shard = r.u16()?;
                r.reserved(4)?;
                ServerMsg::Busy {
                    request_id,
                    msg_type,
                    shard,
                }
            }
            kind::REQUEST_DONE => {
                r.expect_len(24)?;
                let request_id = r.u64()?;
                let msg_type = r.u16()?;
                let shard = r.u16()?;
                r.reserved(4)?;
                ServerMsg::RequestDone {
                    request_id,
                    msg_type,
                    shard,
                    journal_seq: r.u64()?,
                }
            }
            kind::END_OF_SESSION => {
                if r.len() < 8 {
                    return Err(r.length_error(8));
                }
                if r.len() > 8 + MAX_DETAIL {
                    return Err(DecodeError::Count {
                        field: "detail",
                        value: r.len() - 8,
                        max: MAX_DETAIL,
                    });
                }
                let reason = r.enum8("reason")?;
                r.reserved(7)?;
                let detail = std::str::from_utf8(r.rest())
                    .map_err(|error| DecodeError::Enum {
                        field: "detail",
                        value: error.valid_up_to() as u32,
                    })?
                    .to_owned();
                ServerMsg::EndOfSession { reason, detail }
            }
            other => ServerMsg::Report(decode_report(other, &mut r)?),
        };
        Ok(msg)
    }
}

fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn flag(r: &mut Fields<'_>, field: &'static str) -> Result<bool, DecodeError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(DecodeError::Enum {
            field,
            value: u32::from(other),
        }),
    }
}

fn answer_header(f: &mut Frame<'_>, header: &AnswerHeader, count: usize) {
    f.u64(header.request_id)
        .u32(count as u32)
        .u16(header.shard)
        .u16(if header.last { LAST } else { 0 });
}

fn read_answer_header(
    r: &mut Fields<'_>,
    entry_len: usize,
) -> Result<(AnswerHeader, usize), DecodeError> {
    if r.len() < 16 {
        return Err(r.length_error(16));
    }
    let request_id = r.u64()?;
    let count = r.u32()? as usize;
    let shard = r.u16()?;
    let flags = r.u16()?;
    if flags & !LAST != 0 {
        return Err(DecodeError::Enum {
            field: "flags",
            value: u32::from(flags),
        });
    }
    if count > ANSWER_CHUNK {
        return Err(DecodeError::Count {
            field: "count",
            value: count,
            max: ANSWER_CHUNK,
        });
    }
    r.expect_len(16 + entry_len * count)?;
    let header = AnswerHeader {
        request_id,
        shard,
        last: flags & LAST != 0,
    };
    Ok((header, count))
}

const PRESENT_CLIENT_ORDER_ID: u8 = 1;
const PRESENT_ORDER_ID: u8 = 2;
const PRESENT_MARKET: u8 = 4;

fn encode_report(f: &mut Frame<'_>, report: &Report) {
    let h = &report.header;
    f.u64(h.journal_seq)
        .u64(h.ts_ns)
        .u64(h.request_id)
        .u32(h.event_index)
        .u16(h.shard)
        .zeros(2);
    match report.body {
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
        } => {
            f.u64(order_id.0)
                .u64(client_order_id)
                .i64(stake_minor)
                .u32(market.0)
                .u32(selection.0)
                .u32(odds_x100)
                .u8(side.to_wire())
                .u8(tif.to_wire())
                .u8(persistence.to_wire())
                .u8(u8::from(quote));
        }
        ReportBody::OrderRejected {
            client_order_id,
            order_id,
            market,
            reason,
            command,
        } => {
            let present = client_order_id.map_or(0, |_| PRESENT_CLIENT_ORDER_ID)
                | order_id.map_or(0, |_| PRESENT_ORDER_ID)
                | market.map_or(0, |_| PRESENT_MARKET);
            f.u64(client_order_id.unwrap_or(0))
                .u64(order_id.map_or(0, |id| id.0))
                .u32(market.map_or(0, |m| m.0))
                .u16(reason.code())
                .u8(command_kind_code(command))
                .u8(present);
        }
        ReportBody::OrderCancelled {
            order_id,
            stake_minor,
            market,
            selection,
            side,
            reason,
        } => {
            f.u64(order_id.0)
                .i64(stake_minor)
                .u32(market.0)
                .u32(selection.0)
                .u8(side.to_wire())
                .u8(reason.to_wire())
                .zeros(6);
        }
        ReportBody::OrderReplaced {
            order_id,
            stake_minor,
            market,
            selection,
            odds_x100,
            side,
            priority_kept,
        } => {
            f.u64(order_id.0)
                .i64(stake_minor)
                .u32(market.0)
                .u32(selection.0)
                .u32(odds_x100)
                .u8(side.to_wire())
                .u8(u8::from(priority_kept))
                .zeros(2);
        }
        ReportBody::Fill {
            order_id,
            book_seq,
            stake_minor,
            market,
            selection,
            odds_x100,
            side,
            liquidity,
        } => {
            f.u64(order_id.0)
                .u64(book_seq)
                .i64(stake_minor)
                .u32(market.0)
                .u32(selection.0)
                .u32(odds_x100)
                .u8(side.to_wire())
                .u8(liquidity.to_wire())
                .zeros(2);
        }
        ReportBody::OrderDelayed {
            order_id,
            until_ns,
            market,
        } => {
            f.u64(order_id.0).u64(until_ns).u32(market.0).zeros(4);
        }
        ReportBody::BetAccepted {
            bet_id,
            client_order_id,
            stake_minor,
            market,
            selection,
        } => {
            f.u64(bet_id.0)
                .u64(client_order_id)
                .i64(stake_minor)
                .u32(market.0)
                .u32(selection.0);
        }
        ReportBody::BetCancelled {
            bet_id,
            stake_minor,
            market,
            selection,
        } => {
            f.u64(bet_id.0)
                .i64(stake_minor)
                .u32(market.0)
                .u32(selection.0);
        }
        ReportBody::BetSettled {
            bet_id,
            stake_minor,
            payout_minor,
            market,
        } => {
            f.u64(bet_id.0)
                .i64(stake_minor)
                .i64(payout_minor)
                .u32(market.0)
                .zeros(4);
        }
        ReportBody::Settlement {
            pnl_minor,
            commission_minor,
            market,
        } => {
            f.i64(pnl_minor)
                .i64(commission_minor)
                .u32(market.0)
                .zeros(4);
        }
        ReportBody::Ledger {
            amount_minor,
            balance_minor,
            reference,
            kind,
        } => {
            f.i64(amount_minor)
                .i64(balance_minor)
                .u64(reference)
                .u8(kind.to_wire())
                .zeros(7);
        }
        ReportBody::KillSwitch { on } => {
            f.u8(u8::from(on)).zeros(7);
        }
        ReportBody::VoteAccepted {
            weight,
            market,
            selection,
            replaced,
        } => {
            f.i64(weight)
                .u32(market.0)
                .u32(selection.0)
                .u8(u8::from(replaced))
                .zeros(7);
        }
        ReportBody::MarketStatus {
            book_seq,
            market,
            status,
            cause,
        } => {
            f.u64(book_seq)
                .u32(market.0)
                .u8(status.to_wire())
                .u8(cause.to_wire())
                .zeros(2);
        }
    }
}

/// Body bytes after the 32-byte report header, by type.
fn report_len(kind: u16) -> Option<usize> {
    Some(match kind {
        kind::ORDER_ACCEPTED | kind::FILL => 40,
        kind::ORDER_REJECTED | kind::ORDER_DELAYED | kind::BET_CANCELLED => 24,
        kind::SETTLEMENT | kind::VOTE_ACCEPTED => 24,
        kind::ORDER_CANCELLED | kind::ORDER_REPLACED | kind::BET_ACCEPTED => 32,
        kind::BET_SETTLED | kind::LEDGER => 32,
        kind::KILL_SWITCH => 8,
        kind::MARKET_STATUS => 16,
        _ => return None,
    })
}

fn decode_report(kind: u16, r: &mut Fields<'_>) -> Result<Report, DecodeError> {
    let Some(len) = report_len(kind) else {
        return Err(DecodeError::UnknownType(kind));
    };
    r.expect_len(32 + len)?;
    let journal_seq = r.u64()?;
    let ts_ns = r.u64()?;
    let request_id = r.u64()?;
    let event_index = r.u32()?;
    let shard = r.u16()?;
    r.reserved(2)?;
    let header = ReportHeader {
        journal_seq,
        ts_ns,
        request_id,
        event_index,
        shard,
    };
    let body = match kind {
        kind::ORDER_ACCEPTED => ReportBody::OrderAccepted {
            order_id: OrderId(r.u64()?),
            client_order_id: r.u64()?,
            stake_minor: r.i64()?,
            market: MarketId(r.u32()?),
            selection: SelectionId(r.u32()?),
            odds_x100: r.u32()?,
            side: r.enum8("side")?,
            tif: r.enum8("tif")?,
            persistence: r.enum8("persistence")?,
            quote: flag(r, "quote")?,
        },
        kind::ORDER_REJECTED => {
            let client_order_id = r.u64()?;
            let order_id = r.u64()?;
            let market = r.u32()?;
            let code = r.u16()?;
            let command = r.u8()?;
            let present = r.u8()?;
            let reason = RejectReason::from_code(code).ok_or(DecodeError::Enum {
                field: "reason",
                value: u32::from(code),
            })?;
            let command = command_kind_from_code(command).ok_or(DecodeError::Enum {
                field: "command",
                value: u32::from(command),
            })?;
            if present & !(PRESENT_CLIENT_ORDER_ID | PRESENT_ORDER_ID | PRESENT_MARKET) != 0 {
                return Err(DecodeError::Enum {
                    field: "present",
                    value: u32::from(present),
                });
            }
            // A field marked absent must be zero, like a reserved field (offsets in the frame).
            let absent_but_set = [
                (PRESENT_CLIENT_ORDER_ID, client_order_id != 0, 40),
                (PRESENT_ORDER_ID, order_id != 0, 48),
                (PRESENT_MARKET, market != 0, 56),
            ];
            for (bit, set, offset) in absent_but_set {
                if present & bit == 0 && set {
                    return Err(DecodeError::Reserved(offset));
                }
            }
            ReportBody::OrderRejected {
                client_order_id: (present & PRESENT_CLIENT_ORDER_ID != 0)
                    .then_some(client_order_id),
                order_id: (present & PRESENT_ORDER_ID != 0).then_some(OrderId(order_id)),
                market: (present & PRESENT_MARKET != 0).then_some(MarketId(market)),
                reason,
                command,
            }
        }
        kind::ORDER_CANCELLED => {
            let body = ReportBody::OrderCancelled {
                order_id: OrderId(r.u64()?),
                stake_minor: r.i64()?,
                market: MarketId(r.u32()?),
                selection: SelectionId(r.u32()?),
                side: r.enum8("side")?,
                reason: r.enum8("reason")?,
            };
            r.reserved(6)?;
            body
        }
        kind::ORDER_REPLACED => {
            let body = ReportBody::OrderReplaced {
                order_id: OrderId(r.u64()?),
                stake_minor: r.i64()?,
                market: MarketId(r.u32()?),
                selection: SelectionId(r.u32()?),
                odds_x100: r.u32()?,
                side: r.enum8("side")?,
                priority_kept: flag(r, "priority_kept")?,
            };
            r.reserved(2)?;
            body
        }
        kind::FILL => {
            let body = ReportBody::Fill {
                order_id: OrderId(r.u64()?),
                book_seq: r.u64()?,
                stake_minor: r.i64()?,
                market: MarketId(r.u32()?),
                selection: SelectionId(r.u32()?),
                odds_x100: r.u32()?,
                side: r.enum8("side")?,
                liquidity: r.enum8("liquidity")?,
            };
            r.reserved(2)?;
            body
        }
        kind::ORDER_DELAYED => {
            let body = ReportBody::OrderDelayed {
                order_id: OrderId(r.u64()?),
                until_ns: r.u64()?,
                market: MarketId(r.u32()?),
            };
            r.reserved(4)?;
            body
        }
        kind::BET_ACCEPTED => ReportBody::BetAccepted {
            bet_id: OrderId(r.u64()?),
            client_order_id: r.u64()?,
            stake_minor: r.i64()?,
            market: MarketId(r.u32()?),
            selection: SelectionId(r.u32()?),
        },
        kind::BET_CANCELLED => ReportBody::BetCancelled {
            bet_id: OrderId(r.u64()?),
            stake_minor: r.i64()?,
            market: MarketId(r.u32()?),
            selection: SelectionId(r.u32()?),
        },
        kind::BET_SETTLED => {
            let body = ReportBody::BetSettled {
                bet_id: OrderId(r.u64()?),
                stake_minor: r.i64()?,
                payout_minor: r.i64()?,
                market: MarketId(r.u32()?),
            };
            r.reserved(4)?;
            body
        }
        kind::SETTLEMENT => {
            let body = ReportBody::Settlement {
                pnl_minor: r.i64()?,
                commission_minor: r.i64()?,
                market: MarketId(r.u32()?),
            };
            r.reserved(4)?;
            body
        }
        kind::LEDGER => {
            let body = ReportBody::Ledger {
                amount_minor: r.i64()?,
                balance_minor: r.i64()?,
                reference: r.u64()?,
                kind: r.enum8("kind")?,
            };
            r.reserved(7)?;
            body
        }
        kind::KILL_SWITCH => {
            let on = flag(r, "on")?;
            r.reserved(7)?;
            ReportBody::KillSwitch { on }
        }
        kind::VOTE_ACCEPTED => {
            let body = ReportBody::VoteAccepted {
                weight: r.i64()?,
                market: MarketId(r.u32()?),
                selection: SelectionId(r.u32()?),
                replaced: flag(r, "replaced")?,
            };
            r.reserved(7)?;
            body
        }
        kind::MARKET_STATUS => {
            let body = ReportBody::MarketStatus {
                book_seq: r.u64()?,
                market: MarketId(r.u32()?),
                status: r.enum8("status")?,
                cause: r.enum8("cause")?,
            };
            r.reserved(2)?;
            body
        }
        other => return Err(DecodeError::UnknownType(other)),
    };
    Ok(Report { header, body })
}
