//! Messages from a client to the server (types `0x01xx`).

use oddsmatch_engine::{MarketId, OrderId, Persistence, SelectionId, Side, TimeInForce};

use super::{
    DecodeError, Fields, Frame, Header, MAX_CURSORS, MAX_QUOTES, PROOF_LEN, WireEnum, check_header,
};

/// Message type codes, client to server.
pub mod kind {
    #![allow(missing_docs)] // each constant is the message of the same name in docs/protocol.md
    pub const LOGIN: u16 = 0x0101;
    pub const LOGIN_PROOF: u16 = 0x0102;
    pub const LOGOUT: u16 = 0x0103;
    pub const HEARTBEAT: u16 = 0x0104;
    pub const DEAD_MAN: u16 = 0x0105;
    pub const NEW_ORDER: u16 = 0x0110;
    pub const CANCEL: u16 = 0x0111;
    pub const REPLACE: u16 = 0x0112;
    pub const MASS_CANCEL: u16 = 0x0113;
    pub const MASS_QUOTE: u16 = 0x0114;
    pub const PLACE_BET: u16 = 0x0115;
    pub const CANCEL_BET: u16 = 0x0116;
    pub const VOTE: u16 = 0x0117;
    pub const REFERENCE_ODDS: u16 = 0x0118;
    pub const GET_OPEN_ORDERS: u16 = 0x0120;
    pub const GET_POSITIONS: u16 = 0x0121;
    pub const GET_BALANCE: u16 = 0x0122;
}

/// Where a reconnecting client's execution reports stopped on one shard: it has every report
/// up to and including this position, and wants the ones after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ResumeCursor {
    /// The shard.
    pub shard: u16,
    /// The journal sequence number of the last report received.
    pub journal_seq: u64,
    /// Its index among the events of that journal record.
    pub event_index: u32,
}

/// The first message of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    /// The API key's id.
    pub key_id: u64,
    /// The heartbeat interval the client asks for, in milliseconds (0: the server's default).
    pub heartbeat_ms: u32,
    /// Cancel all the account's orders when this session ends, however it ends.
    pub cancel_on_disconnect: bool,
    /// Replay the reports after these positions (none: start live).
    pub resume: Vec<ResumeCursor>,
}

/// Flag bits of a login.
pub(crate) const LOGIN_CANCEL_ON_DISCONNECT: u32 = 1;

/// A new order on an exchange market.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// The client's correlation id, echoed in the reports this request causes.
    pub request_id: u64,
    /// The account's id for the order, unique within the dedupe window.
    pub client_order_id: u64,
    /// Backer's stake in minor units, positive.
    pub stake_minor: i64,
    /// The market.
    pub market: MarketId,
    /// The selection.
    pub selection: SelectionId,
    /// Decimal odds times 100, on the market's ladder.
    pub odds_x100: u32,
    /// Back or lay.
    pub side: Side,
    /// Time in force.
    pub tif: TimeInForce,
    /// What happens on suspension.
    pub persistence: Persistence,
    /// Reject instead of matching.
    pub post_only: bool,
}

/// Which order a cancel names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderRef {
    /// The engine's order id.
    OrderId(OrderId),
    /// The account's client order id.
    ClientOrderId(u64),
}

/// Cancel one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cancel {
    /// Correlation id.
    pub request_id: u64,
    /// The market the order rests on.
    pub market: MarketId,
    /// The order.
    pub order: OrderRef,
}

/// Change an order's odds and unmatched stake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replace {
    /// Correlation id.
    pub request_id: u64,
    /// The order.
    pub order_id: OrderId,
    /// New unmatched stake in minor units.
    pub stake_minor: i64,
    /// The market it rests on.
    pub market: MarketId,
    /// New odds times 100.
    pub odds_x100: u32,
}

/// One market or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One market.
    Market(MarketId),
    /// Every market.
    All,
}

/// Cancel all the account's orders on a market or everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MassCancel {
    /// Correlation id.
    pub request_id: u64,
    /// Where.
    pub scope: Scope,
}

/// One selection's two-sided quote (a side with odds 0 has no quote).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuoteEntry {
    /// The selection.
    pub selection: SelectionId,
    /// Back quote odds times 100 (0: none).
    pub back_odds_x100: u32,
    /// Lay quote odds times 100 (0: none).
    pub lay_odds_x100: u32,
    /// Back quote stake in minor units (0 when there is no back quote).
    pub back_stake_minor: i64,
    /// Lay quote stake in minor units (0 when there is no lay quote).
    pub lay_stake_minor: i64,
}

/// Replace all the account's quotes on a market at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MassQuote {
    /// Correlation id.
    pub request_id: u64,
    /// The market.
    pub market: MarketId,
    /// The complete new set of quotes.
    pub quotes: Vec<QuoteEntry>,
}

/// A pool bet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlaceBet {
    /// Correlation id.
    pub request_id: u64,
    /// The account's id for the bet (shared with orders' client order ids).
    pub client_order_id: u64,
    /// Stake in minor units, positive.
    pub stake_minor: i64,
    /// The market.
    pub market: MarketId,
    /// The selection backed.
    pub selection: SelectionId,
}

/// Take a pool bet back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CancelBet {
    /// Correlation id.
    pub request_id: u64,
    /// The bet.
    pub bet_id: OrderId,
    /// The market.
    pub market: MarketId,
}

/// A vote for a market's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vote {
    /// Correlation id.
    pub request_id: u64,
    /// The market.
    pub market: MarketId,
    /// The selection voted for.
    pub selection: SelectionId,
}

/// A price feed's probabilities for every selection of a market.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceOdds {
    /// Correlation id.
    pub request_id: u64,
    /// The market.
    pub market: MarketId,
    /// One probability per selection in the market's order, in basis points.
    pub probabilities_bps: Vec<u16>,
}

/// A message from a client.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // each variant is the struct or message of the same name
pub enum ClientMsg {
    Login(Login),
    LoginProof {
        proof: [u8; PROOF_LEN],
    },
    Logout,
    Heartbeat {
        /// The sender's clock, nanoseconds since the epoch (informational).
        ts_ns: u64,
    },
    DeadMan {
        /// Cancel every order of the account when no message arrives for this long
        /// (milliseconds; 0 disarms).
        timeout_ms: u32,
    },
    NewOrder(NewOrder),
    Cancel(Cancel),
    Replace(Replace),
    MassCancel(MassCancel),
    MassQuote(MassQuote),
    PlaceBet(PlaceBet),
    CancelBet(CancelBet),
    Vote(Vote),
    ReferenceOdds(ReferenceOdds),
    GetOpenOrders {
        request_id: u64,
        scope: Scope,
    },
    GetPositions {
        request_id: u64,
    },
    GetBalance {
        request_id: u64,
    },
}

const SCOPE_MARKET: u8 = 1;
const SCOPE_ALL: u8 = 2;
const BY_ORDER_ID: u8 = 1;
const BY_CLIENT_ORDER_ID: u8 = 2;
const POST_ONLY: u8 = 1;

impl ClientMsg {
    /// The message type code.
    pub fn kind(&self) -> u16 {
        match self {
            ClientMsg::Login(_) => kind::LOGIN,
            ClientMsg::LoginProof { .. } => kind::LOGIN_PROOF,
            ClientMsg::Logout => kind::LOGOUT,
            ClientMsg::Heartbeat { .. } => kind::HEARTBEAT,
            ClientMsg::DeadMan { .. } => kind::DEAD_MAN,
            ClientMsg::NewOrder(_) => kind::NEW_ORDER,
            ClientMsg::Cancel(_) => kind::CANCEL,
            ClientMsg::Replace(_) => kind::REPLACE,
            ClientMsg::MassCancel(_) => kind::MASS_CANCEL,
            ClientMsg::MassQuote(_) => kind::MASS_QUOTE,
            ClientMsg::PlaceBet(_) => kind::PLACE_BET,
            ClientMsg::CancelBet(_) => kind::CANCEL_BET,
            ClientMsg::Vote(_) => kind::VOTE,
            ClientMsg::ReferenceOdds(_) => kind::REFERENCE_ODDS,
            ClientMsg::GetOpenOrders { .. } => kind::GET_OPEN_ORDERS,
            ClientMsg::GetPositions { .. } => kind::GET_POSITIONS,
            ClientMsg::GetBalance { .. } => kind::GET_BALANCE,
        }
    }

    /// The request's correlation id (0 for session messages).
    pub fn request_id(&self) -> u64 {
        match self {
            ClientMsg::NewOrder(m) => m.request_id,
            ClientMsg::Cancel(m) => m.request_id,
            ClientMsg::Replace(m) => m.request_id,
            ClientMsg::MassCancel(m) => m.request_id,
            ClientMsg::MassQuote(m) => m.request_id,
            ClientMsg::PlaceBet(m) => m.request_id,
            ClientMsg::CancelBet(m) => m.request_id,
            ClientMsg::Vote(m) => m.request_id,
            ClientMsg::ReferenceOdds(m) => m.request_id,
            ClientMsg::GetOpenOrders { request_id, .. }
            | ClientMsg::GetPositions { request_id }
            | ClientMsg::GetBalance { request_id } => *request_id,
            ClientMsg::Login(_)
            | ClientMsg::LoginProof { .. }
            | ClientMsg::Logout
            | ClientMsg::Heartbeat { .. }
            | ClientMsg::DeadMan { .. } => 0,
        }
    }

    /// Appends the message's frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut f = Frame::begin(out, self.kind());
        match self {
            ClientMsg::Login(login) => {
                let flags = if login.cancel_on_disconnect {
                    LOGIN_CANCEL_ON_DISCONNECT
                } else {
                    0
                };
                f.u64(login.key_id)
                    .u32(login.heartbeat_ms)
                    .u32(flags)
                    .u16(login.resume.len() as u16)
                    .zeros(6);
                for cursor in &login.resume {
                    f.u64(cursor.journal_seq)
                        .u32(cursor.event_index)
                        .u16(cursor.shard)
                        .zeros(2);
                }
            }
            ClientMsg::LoginProof { proof } => {
                f.bytes(proof);
            }
            ClientMsg::Logout => {}
            ClientMsg::Heartbeat { ts_ns } => {
                f.u64(*ts_ns);
            }
            ClientMsg::DeadMan { timeout_ms } => {
                f.u32(*timeout_ms).zeros(4);
            }
            ClientMsg::NewOrder(o) => {
                f.u64(o.request_id)
                    .u64(o.client_order_id)
                    .i64(o.stake_minor)
                    .u32(o.market.0)
                    .u32(o.selection.0)
                    .u32(o.odds_x100)
                    .u8(o.side.to_wire())
                    .u8(o.tif.to_wire())
                    .u8(o.persistence.to_wire())
                    .u8(if o.post_only { POST_ONLY } else { 0 });
            }
            ClientMsg::Cancel(c) => {
                let (by, id) = match c.order {
                    OrderRef::OrderId(id) => (BY_ORDER_ID, id.0),
                    OrderRef::ClientOrderId(id) => (BY_CLIENT_ORDER_ID, id),
                };
                f.u64(c.request_id).u64(id).u32(c.market.0).u8(by).zeros(3);
            }
            ClientMsg::Replace(r) => {
                f.u64(r.request_id)
                    .u64(r.order_id.0)
                    .i64(r.stake_minor)
                    .u32(r.market.0)
                    .u32(r.odds_x100);
            }
            ClientMsg::MassCancel(m) => {
                f.u64(m.request_id);
                scope(&mut f, m.scope);
            }
            ClientMsg::MassQuote(m) => {
                f.u64(m.request_id)
                    .u32(m.market.0)
                    .u16(m.quotes.len() as u16)
                    .zeros(2);
                for q in &m.quotes {
                    f.u32(q.selection.0)
                        .u32(q.back_odds_x100)
                        .u32(q.lay_odds_x100)
                        .zeros(4)
                        .i64(q.back_stake_minor)
                        .i64(q.lay_stake_minor);
                }
            }
            ClientMsg::PlaceBet(b) => {
                f.u64(b.request_id)
                    .u64(b.client_order_id)
                    .i64(b.stake_minor)
                    .u32(b.market.0)
                    .u32(b.selection.0);
            }
            ClientMsg::CancelBet(c) => {
                f.u64(c.request_id).u64(c.bet_id.0).u32(c.market.0).zeros(4);
            }
            ClientMsg::Vote(v) => {
                f.u64(v.request_id).u32(v.market.0).u32(v.selection.0);
            }
            ClientMsg::ReferenceOdds(r) => {
                f.u64(r.request_id)
                    .u32(r.market.0)
                    .u16(r.probabilities_bps.len() as u16)
                    .zeros(2);
                for p in &r.probabilities_bps {
                    f.u16(*p);
                }
            }
            ClientMsg::GetOpenOrders {
                request_id,
                scope: s,
            } => {
                f.u64(*request_id);
                scope(&mut f, *s);
            }
            ClientMsg::GetPositions { request_id } | ClientMsg::GetBalance { request_id } => {
                f.u64(*request_id);
            }
        }
        f.finish();
    }

    /// Decodes one frame's body (the header already split off and length-checked).
    pub fn decode(header: Header, body: &[u8]) -> Result<ClientMsg, DecodeError> {
        check_header(header)?;
        let mut r = Fields::new(header.kind, body);
        let msg = match header.kind {
            kind::LOGIN => {
                if r.len() < 24 {
                    return Err(r.length_error(24));
                }
                let key_id = r.u64()?;
                let heartbeat_ms = r.u32()?;
                let flags = r.u32()?;
                if flags & !LOGIN_CANCEL_ON_DISCONNECT != 0 {
                    return Err(DecodeError::Enum {
                        field: "flags",
                        value: flags,
                    });
                }
                let count = usize::from(r.u16()?);
                r.reserved(6)?;
                if count > MAX_CURSORS {
                    return Err(DecodeError::Count {
                        field: "cursor_count",
                        value: count,
                        max: MAX_CURSORS,
                    });
                }
                r.expect_len(24 + 16 * count)?;
                let mut resume = Vec::with_capacity(count);
                for _ in 0..count {
                    let journal_seq = r.u64()?;
                    let event_index = r.u32()?;
                    let shard = r.u16()?;
                    r.reserved(2)?;
                    resume.push(ResumeCursor {
                        shard,
                        journal_seq,
                        event_index,
                    });
                }
                ClientMsg::Login(Login {
                    key_id,
                    heartbeat_ms,
                    cancel_on_disconnect: flags & LOGIN_CANCEL_ON_DISCONNECT != 0,
                    resume,
                })
            }
            kind::LOGIN_PROOF => {
                r.expect_len(PROOF_LEN)?;
                ClientMsg::LoginProof { proof: r.bytes()? }
            }
            kind::LOGOUT => {
                r.expect_len(0)?;
                ClientMsg::Logout
            }
            kind::HEARTBEAT => {
                r.expect_len(8)?;
                ClientMsg::Heartbeat { ts_ns: r.u64()? }
            }
            kind::DEAD_MAN => {
                r.expect_len(8)?;
                let timeout_ms = r.u32()?;
                r.reserved(4)?;
                ClientMsg::DeadMan { timeout_ms }
            }
            kind::NEW_ORDER => {
                r.expect_len(40)?;
                let request_id = r.u64()?;
                let client_order_id = r.u64()?;
                let stake_minor = r.i64()?;
                let market = MarketId(r.u32()?);
                let selection = SelectionId(r.u32()?);
                let odds_x100 = r.u32()?;
                let side = r.enum8("side")?;
                let tif = r.enum8("tif")?;
                let persistence = r.enum8("persistence")?;
                let flags = r.u8()?;
                if flags & !POST_ONLY != 0 {
                    return Err(DecodeError::Enum {
                        field: "order_flags",
                        value: u32::from(flags),
                    });
                }
                ClientMsg::NewOrder(NewOrder {
                    request_id,
                    client_order_id,
                    stake_minor,
                    market,
                    selection,
                    odds_x100,
                    side,
                    tif,
                    persistence,
                    post_only: flags & POST_ONLY != 0,
                })
            }
            kind::CANCEL => {
                r.expect_len(24)?;
                let request_id = r.u64()?;
                let id = r.u64()?;
                let market = MarketId(r.u32()?);
                let by = r.u8()?;
                r.reserved(3)?;
                let order = match by {
                    BY_ORDER_ID => OrderRef::OrderId(OrderId(id)),
                    BY_CLIENT_ORDER_ID => OrderRef::ClientOrderId(id),
                    other => {
                        return Err(DecodeError::Enum {
                            field: "by",
                            value: u32::from(other),
                        });
                    }
                };
                ClientMsg::Cancel(Cancel {
                    request_id,
                    market,
                    order,
                })
            }
            kind::REPLACE => {
                r.expect_len(32)?;
                ClientMsg::Replace(Replace {
                    request_id: r.u64()?,
                    order_id: OrderId(r.u64()?),
                    stake_minor: r.i64()?,
                    market: MarketId(r.u32()?),
                    odds_x100: r.u32()?,
                })
            }
            kind::MASS_CANCEL => {
                r.expect_len(16)?;
                let request_id = r.u64()?;
                ClientMsg::MassCancel(MassCancel {
                    request_id,
                    scope: read_scope(&mut r)?,
                })
            }
            kind::MASS_QUOTE => {
                let (request_id, market, count) = per_selection_head(&mut r, "quote_count", 32)?;
                let mut quotes = Vec::with_capacity(count);
                for _ in 0..count {
                    let selection = SelectionId(r.u32()?);
                    let back_odds_x100 = r.u32()?;
                    let lay_odds_x100 = r.u32()?;
                    r.reserved(4)?;
                    quotes.push(QuoteEntry {
                        selection,
                        back_odds_x100,
                        lay_odds_x100,
                        back_stake_minor: r.i64()?,
                        lay_stake_minor: r.i64()?,
                    });
                }
                ClientMsg::MassQuote(MassQuote {
                    request_id,
                    market,
                    quotes,
                })
            }
            kind::PLACE_BET => {
                r.expect_len(32)?;
                ClientMsg::PlaceBet(PlaceBet {
                    request_id: r.u64()?,
                    client_order_id: r.u64()?,
                    stake_minor: r.i64()?,
                    market: MarketId(r.u32()?),
                    selection: SelectionId(r.u32()?),
                })
            }
            kind::CANCEL_BET => {
                r.expect_len(24)?;
                let request_id = r.u64()?;
                let bet_id = OrderId(r.u64()?);
                let market = MarketId(r.u32()?);
                r.reserved(4)?;
                ClientMsg::CancelBet(CancelBet {
                    request_id,
                    bet_id,
                    market,
                })
            }
            kind::VOTE => {
                r.expect_len(16)?;
                ClientMsg::Vote(Vote {
                    request_id: r.u64()?,
                    market: MarketId(r.u32()?),
                    selection: SelectionId(r.u32()?),
                })
            }
            kind::REFERENCE_ODDS => {
                let (request_id, market, count) =
                    per_selection_head(&mut r, "probability_count", 2)?;
                let mut probabilities_bps = Vec::with_capacity(count);
                for _ in 0..count {
                    probabilities_bps.push(r.u16()?);
                }
                ClientMsg::ReferenceOdds(ReferenceOdds {
                    request_id,
                    market,
                    probabilities_bps,
                })
            }
            kind::GET_OPEN_ORDERS => {
                r.expect_len(16)?;
                let request_id = r.u64()?;
                ClientMsg::GetOpenOrders {
                    request_id,
                    scope: read_scope(&mut r)?,
                }
            }
            kind::GET_POSITIONS => {
                r.expect_len(8)?;
                ClientMsg::GetPositions {
                    request_id: r.u64()?,
                }
            }
            kind::GET_BALANCE => {
                r.expect_len(8)?;
                ClientMsg::GetBalance {
                    request_id: r.u64()?,
                }
            }
            other => return Err(DecodeError::UnknownType(other)),
        };
        Ok(msg)
    }
}

/// The head shared by MASS_QUOTE and REFERENCE_ODDS: request id, market, a count of at most
/// one entry per selection and two reserved bytes; checks that the body holds exactly `count`
/// entries of `entry_len` bytes.
fn per_selection_head(
    r: &mut Fields<'_>,
    field: &'static str,
    entry_len: usize,
) -> Result<(u64, MarketId, usize), DecodeError> {
    if r.len() < 16 {
        return Err(r.length_error(16));
    }
    let request_id = r.u64()?;
    let market = MarketId(r.u32()?);
    let count = usize::from(r.u16()?);
    r.reserved(2)?;
    if count > MAX_QUOTES {
        return Err(DecodeError::Count {
            field,
            value: count,
            max: MAX_QUOTES,
        });
    }
    r.expect_len(16 + entry_len * count)?;
    Ok((request_id, market, count))
}

fn scope(f: &mut Frame<'_>, scope: Scope) {
    match scope {
        Scope::Market(market) => f.u32(market.0).u8(SCOPE_MARKET).zeros(3),
        Scope::All => f.u32(0).u8(SCOPE_ALL).zeros(3),
    };
}

fn read_scope(r: &mut Fields<'_>) -> Result<Scope, DecodeError> {
    let market = MarketId(r.u32()?);
    let scope = r.u8()?;
    r.reserved(3)?;
    match scope {
        SCOPE_MARKET => Ok(Scope::Market(market)),
        SCOPE_ALL if market.0 == 0 => Ok(Scope::All),
        SCOPE_ALL => Err(DecodeError::Reserved(8 + 8)),
        other => Err(DecodeError::Enum {
            field: "scope",
            value: u32::from(other),
        }),
    }
}
