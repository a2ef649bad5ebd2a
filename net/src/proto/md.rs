//! The market-data protocol: subscriptions, snapshots and incremental updates.
//!
//! Same framing as order entry (the 8-byte header, little-endian fixed layouts); its own
//! message types, `0x03xx` from the subscriber and `0x04xx` from the server, so that a frame
//! sent to the wrong port is refused as an unknown type. `docs/protocol.md` (section "Market
//! data") draws every layout.
//!
//! A subscription names a market and a set of [`Streams`]. The server answers `SUBSCRIBED`,
//! then a `SNAPSHOT` of the market, then the updates after it: `TICK` (stream `ticks`, gap-free
//! `tick_seq`), `BOOK` and `POOL` (stream `book`), `TRADE` (stream `trades`), `STATUS` (stream
//! `status`). `BOOK`, `POOL`, `TRADE` and `STATUS` carry the market's book-stream sequence
//! number, which a `book` subscriber (who receives every book-stream message) sees without a
//! gap. A subscriber that falls behind gets a `SNAPSHOT` flagged [`FLAG_CONFLATED`] in place of
//! the updates it missed; status changes are never dropped (those held back come just before
//! that snapshot, flagged too).

use oddsmatch_engine::{
    DISPLAY_LEVELS, MarketId, MarketStatus, SelectionId, Side, StatusCause, TickReason, Tier,
};

use super::codes::{EndReason, LoginReject, SubscribeReject, WireEnum};
use super::{CHALLENGE_LEN, DecodeError, Fields, Frame, Header, MAX_DETAIL, PROOF_LEN};

/// Message types.
pub mod kind {
    /// Subscriber: log in with an API key id (needed for `book` and `trades`).
    pub const LOGIN: u16 = 0x0301;
    /// Subscriber: the proof answering the challenge.
    pub const LOGIN_PROOF: u16 = 0x0302;
    /// Subscriber: subscribe to streams of a market.
    pub const SUBSCRIBE: u16 = 0x0303;
    /// Subscriber: drop streams of a market.
    pub const UNSUBSCRIBE: u16 = 0x0304;
    /// Subscriber: ask for a fresh snapshot of a market (after a gap).
    pub const RESYNC: u16 = 0x0305;
    /// Subscriber: still here.
    pub const HEARTBEAT: u16 = 0x0306;

    /// Server: the login challenge.
    pub const CHALLENGE: u16 = 0x0401;
    /// Server: the login succeeded.
    pub const LOGIN_ACCEPTED: u16 = 0x0402;
    /// Server: the login failed.
    pub const LOGIN_REJECTED: u16 = 0x0403;
    /// Server: a subscription took effect.
    pub const SUBSCRIBED: u16 = 0x0404;
    /// Server: a subscription, unsubscription or resync was refused.
    pub const REJECTED: u16 = 0x0405;
    /// Server: streams were dropped.
    pub const UNSUBSCRIBED: u16 = 0x0406;
    /// Server: a market's whole state.
    pub const SNAPSHOT: u16 = 0x0407;
    /// Server: an odds tick.
    pub const TICK: u16 = 0x0408;
    /// Server: one side of a selection's displayed depth.
    pub const BOOK: u16 = 0x0409;
    /// Server: a trade.
    pub const TRADE: u16 = 0x040A;
    /// Server: a market status change.
    pub const STATUS: u16 = 0x040B;
    /// Server: a selection's pool changed.
    pub const POOL: u16 = 0x040C;
    /// Server: still here.
    pub const HEARTBEAT_OUT: u16 = 0x040D;
    /// Server: the session ends, with a reason.
    pub const END: u16 = 0x040E;
}

/// A set of streams of one market, as a bit mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Streams(pub u8);

impl Streams {
    /// Odds ticks.
    pub const TICKS: Streams = Streams(1);
    /// Depth and pool changes (the whole book stream: also trades and status changes).
    pub const BOOK: Streams = Streams(2);
    /// Trades.
    pub const TRADES: Streams = Streams(4);
    /// Status changes.
    pub const STATUS: Streams = Streams(8);
    /// Every stream.
    pub const ALL: Streams = Streams(15);

    /// Whether every stream of `other` is in this set.
    pub fn contains(self, other: Streams) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// Whether any stream of `other` is in this set.
    pub fn intersects(self, other: Streams) -> bool {
        self.0 & other.0 != 0
    }

    /// The union.
    pub fn with(self, other: Streams) -> Streams {
        Streams(self.0 | other.0)
    }

    /// This set without `other`.
    pub fn without(self, other: Streams) -> Streams {
        Streams(self.0 & !other.0)
    }

    /// Whether the mask is non-empty and names only known streams.
    pub fn is_valid(self) -> bool {
        self.0 != 0 && self.0 & !Streams::ALL.0 == 0
    }

    /// Whether it needs a login (`book`, `trades`).
    pub fn needs_login(self) -> bool {
        self.intersects(Streams::BOOK.with(Streams::TRADES))
    }

    /// Parses `ticks,book,trades,status` (or `all`).
    pub fn parse(text: &str) -> Option<Streams> {
        let mut streams = Streams::default();
        for word in text.split(',').map(str::trim) {
            streams = streams.with(match word {
                "ticks" => Streams::TICKS,
                "book" => Streams::BOOK,
                "trades" => Streams::TRADES,
                "status" => Streams::STATUS,
                "all" => Streams::ALL,
                _ => return None,
            });
        }
        streams.is_valid().then_some(streams)
    }
}

/// Set in a `SNAPSHOT` that stands for updates a slow subscriber missed, and in a `STATUS`
/// held back for it and sent late (just before that snapshot).
pub const FLAG_CONFLATED: u8 = 1;

/// One selection's odds in a `TICK` (40 bytes on the wire).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickSelection {
    /// The selection.
    pub selection: SelectionId,
    /// Best odds to back (the best resting lay), times 100; 0: none.
    pub back_x100: u32,
    /// Best odds to lay, times 100; 0: none.
    pub lay_x100: u32,
    /// Last traded odds, times 100.
    pub last_traded_x100: u32,
    /// Indicative pool odds, times 100.
    pub indicative_x100: u32,
    /// Implied probability of the displayed odds, basis points (at most 10,000).
    pub implied_bps: u16,
    /// The feed's probability, basis points.
    pub reference_bps: u16,
    /// Matched backer's stake so far, minor units.
    pub matched_minor: i64,
    /// The selection's pool, minor units.
    pub pool_minor: i64,
}

const TICK_SELECTION_LEN: usize = 40;

/// One side's displayed depth: the best levels, best first, zero-filled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Depth {
    /// Odds times 100 of each level (0: none).
    pub odds_x100: [u32; DISPLAY_LEVELS],
    /// Unmatched stake of each level, minor units.
    pub stakes_minor: [i64; DISPLAY_LEVELS],
}

const DEPTH_LEN: usize = 40;

/// One selection's whole state in a `SNAPSHOT` (120 bytes on the wire).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotSelection {
    /// Its odds, as a tick shows them.
    pub odds: TickSelection,
    /// The resting backs' depth (best: lowest odds).
    pub backs: Depth,
    /// The resting lays' depth (best: highest odds).
    pub lays: Depth,
}

const SNAPSHOT_SELECTION_LEN: usize = TICK_SELECTION_LEN + 2 * DEPTH_LEN;

/// A market's state as the server holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The market.
    pub market: MarketId,
    /// Its status.
    pub status: Option<MarketStatus>,
    /// [`FLAG_CONFLATED`] when it replaces missed updates.
    pub flags: u8,
    /// The last tick's sequence number.
    pub tick_seq: u64,
    /// The last book-stream sequence number.
    pub book_seq: u64,
    /// Sum of implied probabilities, basis points.
    pub overround_bps: u32,
    /// When the state was last changed (the engine's input time, ns since the epoch).
    pub ts_ns: u64,
    /// Every selection, in the market's order (empty before the market's first tick).
    pub selections: Vec<SnapshotSelection>,
}

/// An odds tick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tick {
    /// The market.
    pub market: MarketId,
    /// Its status.
    pub status: Option<MarketStatus>,
    /// Zero (reserved for flags; skipped ticks are announced by a conflated `SNAPSHOT`).
    pub flags: u8,
    /// The market's tick sequence number.
    pub tick_seq: u64,
    /// Why it was published.
    pub reason: Option<TickReason>,
    /// Sum of implied probabilities, basis points.
    pub overround_bps: u32,
    /// The engine's input time of the tick, ns since the epoch.
    pub ts_ns: u64,
    /// Every selection, in the market's order.
    pub selections: Vec<TickSelection>,
}

/// A server's market-data message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MdServerMsg {
    /// The login challenge.
    Challenge {
        /// Bytes to sign.
        challenge: [u8; CHALLENGE_LEN],
    },
    /// The login succeeded.
    LoginAccepted {
        /// The account.
        account: u32,
        /// Its tier.
        tier: Tier,
    },
    /// The login failed (the session stays anonymous).
    LoginRejected {
        /// Why.
        reason: LoginReject,
    },
    /// A subscription took effect; the snapshot follows.
    Subscribed {
        /// The subscriber's correlation.
        request_id: u32,
        /// The market.
        market: MarketId,
        /// The streams now subscribed.
        streams: Streams,
    },
    /// A request was refused.
    Rejected {
        /// The subscriber's correlation.
        request_id: u32,
        /// The market.
        market: MarketId,
        /// Why.
        reason: SubscribeReject,
    },
    /// Streams were dropped.
    Unsubscribed {
        /// The subscriber's correlation.
        request_id: u32,
        /// The market.
        market: MarketId,
        /// The streams still subscribed.
        streams: Streams,
    },
    /// A market's state.
    Snapshot(Snapshot),
    /// An odds tick.
    Tick(Tick),
    /// One side of a selection's displayed depth.
    Book {
        /// The market.
        market: MarketId,
        /// The selection.
        selection: SelectionId,
        /// The book-stream sequence number.
        book_seq: u64,
        /// The resting side.
        side: Side,
        /// The levels.
        depth: Depth,
        /// The engine's input time.
        ts_ns: u64,
    },
    /// A trade.
    Trade {
        /// The market.
        market: MarketId,
        /// The selection.
        selection: SelectionId,
        /// The book-stream sequence number.
        book_seq: u64,
        /// The resting order's odds, times 100.
        odds_x100: u32,
        /// The incoming order's side.
        taker_side: Side,
        /// Matched backer's stake, minor units.
        stake_minor: i64,
        /// The engine's input time.
        ts_ns: u64,
    },
    /// A status change.
    Status {
        /// The market.
        market: MarketId,
        /// The new status.
        status: MarketStatus,
        /// Why.
        cause: StatusCause,
        /// [`FLAG_CONFLATED`] when it was held back for a slow subscriber and is sent late,
        /// just before the conflated `SNAPSHOT`: its `book_seq` is then out of sequence.
        flags: u8,
        /// The book-stream sequence number.
        book_seq: u64,
        /// The engine's input time.
        ts_ns: u64,
    },
    /// A selection's pool changed.
    Pool {
        /// The market.
        market: MarketId,
        /// The selection.
        selection: SelectionId,
        /// The book-stream sequence number.
        book_seq: u64,
        /// The selection's pool, minor units.
        pool_minor: i64,
        /// The market's total pool, minor units.
        total_minor: i64,
        /// The engine's input time.
        ts_ns: u64,
    },
    /// Still here.
    Heartbeat,
    /// The session ends.
    End {
        /// Why.
        reason: EndReason,
        /// Words for a person (at most [`MAX_DETAIL`] bytes).
        detail: String,
    },
}

/// A subscriber's market-data message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MdClientMsg {
    /// Log in with an API key id.
    Login {
        /// The key id.
        key_id: u64,
    },
    /// The proof answering the challenge.
    LoginProof {
        /// HMAC-SHA256 of the challenge and key id with the secret.
        proof: [u8; PROOF_LEN],
    },
    /// Subscribe to streams of a market (added to what is subscribed).
    Subscribe {
        /// The subscriber's correlation.
        request_id: u32,
        /// The market.
        market: MarketId,
        /// The streams.
        streams: Streams,
    },
    /// Drop streams of a market.
    Unsubscribe {
        /// The subscriber's correlation.
        request_id: u32,
        /// The market.
        market: MarketId,
        /// The streams.
        streams: Streams,
    },
    /// Ask for a fresh snapshot of a subscribed market.
    Resync {
        /// The subscriber's correlation.
        request_id: u32,
        /// The market.
        market: MarketId,
    },
    /// Still here.
    Heartbeat,
}

fn status_code(status: Option<MarketStatus>) -> u8 {
    status.map_or(0, WireEnum::to_wire)
}

fn status_of(code: u8) -> Result<Option<MarketStatus>, DecodeError> {
    match code {
        0 => Ok(None),
        code => MarketStatus::from_wire(code)
            .map(Some)
            .ok_or(DecodeError::Enum {
                field: "status",
                value: u32::from(code),
            }),
    }
}

fn write_tick_selection(f: &mut Frame<'_>, s: &TickSelection) {
    f.u32(s.selection.0)
        .u32(s.back_x100)
        .u32(s.lay_x100)
        .u32(s.last_traded_x100)
        .u32(s.indicative_x100)
        .u16(s.implied_bps)
        .u16(s.reference_bps)
        .i64(s.matched_minor)
        .i64(s.pool_minor);
}

fn read_tick_selection(f: &mut Fields<'_>) -> Result<TickSelection, DecodeError> {
    let s = TickSelection {
        selection: SelectionId(f.u32()?),
        back_x100: f.u32()?,
        lay_x100: f.u32()?,
        last_traded_x100: f.u32()?,
        indicative_x100: f.u32()?,
        implied_bps: f.u16()?,
        reference_bps: f.u16()?,
        matched_minor: f.i64()?,
        pool_minor: f.i64()?,
    };
    Ok(s)
}

fn write_depth(f: &mut Frame<'_>, d: &Depth) {
    for odds in d.odds_x100 {
        f.u32(odds);
    }
    f.zeros(4);
    for stake in d.stakes_minor {
        f.i64(stake);
    }
}

fn read_depth(f: &mut Fields<'_>) -> Result<Depth, DecodeError> {
    let mut depth = Depth::default();
    for odds in &mut depth.odds_x100 {
        *odds = f.u32()?;
    }
    f.reserved(4)?;
    for stake in &mut depth.stakes_minor {
        *stake = f.i64()?;
    }
    Ok(depth)
}

/// The most selections a snapshot or tick carries.
pub const MAX_SELECTIONS: usize = oddsmatch_engine::MAX_SELECTIONS;

/// Fixed part of `SNAPSHOT` and `TICK` bodies.
const MARKET_HEAD_LEN: usize = 40;

impl MdServerMsg {
    /// Appends the message as one frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            MdServerMsg::Challenge { challenge } => {
                Frame::begin(out, kind::CHALLENGE).bytes(challenge).finish();
            }
            MdServerMsg::LoginAccepted { account, tier } => Frame::begin(out, kind::LOGIN_ACCEPTED)
                .u32(*account)
                .u8(tier.to_wire())
                .zeros(3)
                .finish(),
            MdServerMsg::LoginRejected { reason } => Frame::begin(out, kind::LOGIN_REJECTED)
                .u8(reason.to_wire())
                .zeros(7)
                .finish(),
            MdServerMsg::Subscribed {
                request_id,
                market,
                streams,
            } => Frame::begin(out, kind::SUBSCRIBED)
                .u32(*request_id)
                .u32(market.0)
                .u8(streams.0)
                .zeros(3)
                .finish(),
            MdServerMsg::Unsubscribed {
                request_id,
                market,
                streams,
            } => Frame::begin(out, kind::UNSUBSCRIBED)
                .u32(*request_id)
                .u32(market.0)
                .u8(streams.0)
                .zeros(3)
                .finish(),
            MdServerMsg::Rejected {
                request_id,
                market,
                reason,
            } => Frame::begin(out, kind::REJECTED)
                .u32(*request_id)
                .u32(market.0)
                .u8(reason.to_wire())
                .zeros(3)
                .finish(),
            MdServerMsg::Snapshot(s) => {
                let mut f = Frame::begin(out, kind::SNAPSHOT);
                f.u32(s.market.0)
                    .u8(status_code(s.status))
                    .u8(s.flags)
                    .u16(s.selections.len() as u16)
                    .u64(s.tick_seq)
                    .u64(s.book_seq)
                    .u32(s.overround_bps)
                    .zeros(4)
                    .u64(s.ts_ns);
                for selection in &s.selections {
                    write_tick_selection(&mut f, &selection.odds);
                    write_depth(&mut f, &selection.backs);
                    write_depth(&mut f, &selection.lays);
                }
                f.finish();
            }
            MdServerMsg::Tick(t) => {
                let mut f = Frame::begin(out, kind::TICK);
                f.u32(t.market.0)
                    .u8(status_code(t.status))
                    .u8(t.flags)
                    .u16(t.selections.len() as u16)
                    .u64(t.tick_seq)
                    .u8(t.reason.map_or(0, WireEnum::to_wire))
                    .zeros(3)
                    .u32(t.overround_bps)
                    .zeros(8)
                    .u64(t.ts_ns);
                for selection in &t.selections {
                    write_tick_selection(&mut f, selection);
                }
                f.finish();
            }
            MdServerMsg::Book {
                market,
                selection,
                book_seq,
                side,
                depth,
                ts_ns,
            } => {
                let mut f = Frame::begin(out, kind::BOOK);
                f.u32(market.0)
                    .u32(selection.0)
                    .u64(*book_seq)
                    .u8(side.to_wire())
                    .zeros(7)
                    .u64(*ts_ns);
                write_depth(&mut f, depth);
                f.finish();
            }
            MdServerMsg::Trade {
                market,
                selection,
                book_seq,
                odds_x100,
                taker_side,
                stake_minor,
                ts_ns,
            } => Frame::begin(out, kind::TRADE)
                .u32(market.0)
                .u32(selection.0)
                .u64(*book_seq)
                .u32(*odds_x100)
                .u8(taker_side.to_wire())
                .zeros(3)
                .i64(*stake_minor)
                .u64(*ts_ns)
                .finish(),
            MdServerMsg::Status {
                market,
                status,
                cause,
                flags,
                book_seq,
                ts_ns,
            } => Frame::begin(out, kind::STATUS)
                .u32(market.0)
                .u8(status.to_wire())
                .u8(cause.to_wire())
                .u8(*flags)
                .zeros(1)
                .u64(*book_seq)
                .u64(*ts_ns)
                .finish(),
            MdServerMsg::Pool {
                market,
                selection,
                book_seq,
                pool_minor,
                total_minor,
                ts_ns,
            } => Frame::begin(out, kind::POOL)
                .u32(market.0)
                .u32(selection.0)
                .u64(*book_seq)
                .i64(*pool_minor)
                .i64(*total_minor)
                .u64(*ts_ns)
                .finish(),
            MdServerMsg::Heartbeat => Frame::begin(out, kind::HEARTBEAT_OUT).finish(),
            MdServerMsg::End { reason, detail } => {
                let detail = truncate(detail, MAX_DETAIL);
                Frame::begin(out, kind::END)
                    .u8(reason.to_wire())
                    .zeros(1)
                    .u16(detail.len() as u16)
                    .bytes(detail.as_bytes())
                    .finish();
            }
        }
    }

    /// Decodes one frame's body (`header` from [`super::split_frame`]).
    pub fn decode(header: Header, body: &[u8]) -> Result<MdServerMsg, DecodeError> {
        super::check_header(header)?;
        let mut f = Fields::new(header.kind, body);
        let fixed = |f: &Fields<'_>, len: usize| f.expect_len(len);
        Ok(match header.kind {
            kind::CHALLENGE => {
                fixed(&f, CHALLENGE_LEN)?;
                MdServerMsg::Challenge {
                    challenge: f.bytes()?,
                }
            }
            kind::LOGIN_ACCEPTED => {
                fixed(&f, 8)?;
                let account = f.u32()?;
                let tier = f.enum8("tier")?;
                f.reserved(3)?;
                MdServerMsg::LoginAccepted { account, tier }
            }
            kind::LOGIN_REJECTED => {
                fixed(&f, 8)?;
                let reason = f.enum8("reason")?;
                f.reserved(7)?;
                MdServerMsg::LoginRejected { reason }
            }
            kind::SUBSCRIBED | kind::UNSUBSCRIBED => {
                fixed(&f, 12)?;
                let (request_id, market) = (f.u32()?, MarketId(f.u32()?));
                let streams = Streams(f.u8()?);
                f.reserved(3)?;
                if streams.0 & !Streams::ALL.0 != 0 {
                    return Err(DecodeError::Enum {
                        field: "streams",
                        value: streams.0.into(),
                    });
                }
                if header.kind == kind::SUBSCRIBED {
                    MdServerMsg::Subscribed {
                        request_id,
                        market,
                        streams,
                    }
                } else {
                    MdServerMsg::Unsubscribed {
                        request_id,
                        market,
                        streams,
                    }
                }
            }
            kind::REJECTED => {
                fixed(&f, 12)?;
                let (request_id, market) = (f.u32()?, MarketId(f.u32()?));
                let reason = f.enum8("reason")?;
                f.reserved(3)?;
                MdServerMsg::Rejected {
                    request_id,
                    market,
                    reason,
                }
            }
            kind::SNAPSHOT => {
                let market = MarketId(f.u32()?);
                let status = status_of(f.u8()?)?;
                let flags = f.u8()?;
                let count = usize::from(f.u16()?);
                check_count(count)?;
                fixed(&f, MARKET_HEAD_LEN + count * SNAPSHOT_SELECTION_LEN)?;
                let (tick_seq, book_seq, overround_bps) = (f.u64()?, f.u64()?, f.u32()?);
                f.reserved(4)?;
                let ts_ns = f.u64()?;
                let mut selections = Vec::with_capacity(count);
                for _ in 0..count {
                    selections.push(SnapshotSelection {
                        odds: read_tick_selection(&mut f)?,
                        backs: read_depth(&mut f)?,
                        lays: read_depth(&mut f)?,
                    });
                }
                check_flags(flags)?;
                MdServerMsg::Snapshot(Snapshot {
                    market,
                    status,
                    flags,
                    tick_seq,
                    book_seq,
                    overround_bps,
                    ts_ns,
                    selections,
                })
            }
            kind::TICK => {
                let market = MarketId(f.u32()?);
                let status = status_of(f.u8()?)?;
                let flags = f.u8()?;
                let count = usize::from(f.u16()?);
                check_count(count)?;
                fixed(&f, MARKET_HEAD_LEN + count * TICK_SELECTION_LEN)?;
                let tick_seq = f.u64()?;
                let reason = match f.u8()? {
                    0 => None,
                    code => Some(TickReason::from_wire(code).ok_or(DecodeError::Enum {
                        field: "reason",
                        value: code.into(),
                    })?),
                };
                f.reserved(3)?;
                let overround_bps = f.u32()?;
                f.reserved(8)?;
                let ts_ns = f.u64()?;
                let mut selections = Vec::with_capacity(count);
                for _ in 0..count {
                    selections.push(read_tick_selection(&mut f)?);
                }
                check_flags(flags)?;
                MdServerMsg::Tick(Tick {
                    market,
                    status,
                    flags,
                    tick_seq,
                    reason,
                    overround_bps,
                    ts_ns,
                    selections,
                })
            }
            kind::BOOK => {
                fixed(&f, 32 + DEPTH_LEN)?;
                let (market, selection) = (MarketId(f.u32()?), SelectionId(f.u32()?));
                let book_seq = f.u64()?;
                let side = f.enum8("side")?;
                f.reserved(7)?;
                let ts_ns = f.u64()?;
                let depth = read_depth(&mut f)?;
                MdServerMsg::Book {
                    market,
                    selection,
                    book_seq,
                    side,
                    depth,
                    ts_ns,
                }
            }
            kind::TRADE => {
                fixed(&f, 40)?;
                let (market, selection) = (MarketId(f.u32()?), SelectionId(f.u32()?));
                let (book_seq, odds_x100) = (f.u64()?, f.u32()?);
                let taker_side = f.enum8("taker_side")?;
                f.reserved(3)?;
                MdServerMsg::Trade {
                    market,
                    selection,
                    book_seq,
                    odds_x100,
                    taker_side,
                    stake_minor: f.i64()?,
                    ts_ns: f.u64()?,
                }
            }
            kind::STATUS => {
                fixed(&f, 24)?;
                let market = MarketId(f.u32()?);
                let status = f.enum8("status")?;
                let cause = f.enum8("cause")?;
                let flags = f.u8()?;
                check_flags(flags)?;
                f.reserved(1)?;
                MdServerMsg::Status {
                    market,
                    status,
                    cause,
                    flags,
                    book_seq: f.u64()?,
                    ts_ns: f.u64()?,
                }
            }
            kind::POOL => {
                fixed(&f, 40)?;
                MdServerMsg::Pool {
                    market: MarketId(f.u32()?),
                    selection: SelectionId(f.u32()?),
                    book_seq: f.u64()?,
                    pool_minor: f.i64()?,
                    total_minor: f.i64()?,
                    ts_ns: f.u64()?,
                }
            }
            kind::HEARTBEAT_OUT => {
                fixed(&f, 0)?;
                MdServerMsg::Heartbeat
            }
            kind::END => {
                let reason = f.enum8("reason")?;
                f.reserved(1)?;
                let len = usize::from(f.u16()?);
                if len > MAX_DETAIL {
                    return Err(DecodeError::Count {
                        field: "detail_len",
                        value: len,
                        max: MAX_DETAIL,
                    });
                }
                fixed(&f, 4 + len)?;
                let detail = std::str::from_utf8(f.rest()).map_err(|e| DecodeError::Enum {
                    field: "detail",
                    value: e.valid_up_to() as u32,
                })?;
                MdServerMsg::End {
                    reason,
                    detail: detail.to_owned(),
                }
            }
            other => return Err(DecodeError::UnknownType(other)),
        })
    }
}

fn check_count(count: usize) -> Result<(), DecodeError> {
    if count > MAX_SELECTIONS {
        return Err(DecodeError::Count {
            field: "selections",
            value: count,
            max: MAX_SELECTIONS,
        });
    }
    Ok(())
}

fn check_flags(flags: u8) -> Result<(), DecodeError> {
    if flags & !FLAG_CONFLATED != 0 {
        return Err(DecodeError::Enum {
            field: "flags",
            value: flags.into(),
        });
    }
    Ok(())
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl MdClientMsg {
    /// Appends the message as one frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            MdClientMsg::Login { key_id } => Frame::begin(out, kind::LOGIN).u64(*key_id).finish(),
            MdClientMsg::LoginProof { proof } => {
                Frame::begin(out, kind::LOGIN_PROOF).bytes(proof).finish()
            }
            MdClientMsg::Subscribe {
                request_id,
                market,
                streams,
            } => Frame::begin(out, kind::SUBSCRIBE)
                .u32(*request_id)
                .u32(market.0)
                .u8(streams.0)
                .zeros(3)
                .finish(),
            MdClientMsg::Unsubscribe {
                request_id,
                market,
                streams,
            } => Frame::begin(out, kind::UNSUBSCRIBE)
                .u32(*request_id)
                .u32(market.0)
                .u8(streams.0)
                .zeros(3)
                .finish(),
            MdClientMsg::Resync { request_id, market } => Frame::begin(out, kind::RESYNC)
                .u32(*request_id)
                .u32(market.0)
                .finish(),
            MdClientMsg::Heartbeat => Frame::begin(out, kind::HEARTBEAT).finish(),
        }
    }

    /// Decodes one frame's body; a subscription's stream mask must be valid.
    pub fn decode(header: Header, body: &[u8]) -> Result<MdClientMsg, DecodeError> {
        super::check_header(header)?;
        let mut f = Fields::new(header.kind, body);
        Ok(match header.kind {
            kind::LOGIN => {
                f.expect_len(8)?;
                MdClientMsg::Login { key_id: f.u64()? }
            }
            kind::LOGIN_PROOF => {
                f.expect_len(PROOF_LEN)?;
                MdClientMsg::LoginProof { proof: f.bytes()? }
            }
            kind::SUBSCRIBE | kind::UNSUBSCRIBE => {
                f.expect_len(12)?;
                let (request_id, market) = (f.u32()?, MarketId(f.u32()?));
                let streams = Streams(f.u8()?);
                f.reserved(3)?;
                if !streams.is_valid() {
                    return Err(DecodeError::Enum {
                        field: "streams",
                        value: streams.0.into(),
                    });
                }
                if header.kind == kind::SUBSCRIBE {
                    MdClientMsg::Subscribe {
                        request_id,
                        market,
                        streams,
                    }
                } else {
                    MdClientMsg::Unsubscribe {
                        request_id,
                        market,
                        streams,
                    }
                }
            }
            kind::RESYNC => {
                f.expect_len(8)?;
                MdClientMsg::Resync {
                    request_id: f.u32()?,
                    market: MarketId(f.u32()?),
                }
            }
            kind::HEARTBEAT => {
                f.expect_len(0)?;
                MdClientMsg::Heartbeat
            }
            other => return Err(DecodeError::UnknownType(other)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::split_frame;
    use super::*;

    fn round_trip_server(msg: MdServerMsg) {
        let mut out = Vec::new();
        msg.encode(&mut out);
        let (header, body) = split_frame(&out, 1 << 20).unwrap().unwrap();
        assert_eq!(header.len as usize, out.len());
        assert_eq!(MdServerMsg::decode(header, body).unwrap(), msg);
    }

    fn round_trip_client(msg: MdClientMsg) {
        let mut out = Vec::new();
        msg.encode(&mut out);
        let (header, body) = split_frame(&out, 1 << 20).unwrap().unwrap();
        assert_eq!(MdClientMsg::decode(header, body).unwrap(), msg);
    }

    fn tick_selection(n: u32) -> TickSelection {
        TickSelection {
            selection: SelectionId(n),
            back_x100: 250 + n,
            lay_x100: 260 + n,
            last_traded_x100: 255,
            indicative_x100: 0,
            implied_bps: 4000,
            reference_bps: 3900,
            matched_minor: 12_345,
            pool_minor: -1,
        }
    }

    #[test]
    fn every_message_round_trips() {
        let depth = Depth {
            odds_x100: [200, 210, 0],
            stakes_minor: [5, 6, 0],
        };
        for msg in [
            MdServerMsg::Challenge { challenge: [7; 32] },
            MdServerMsg::LoginAccepted {
                account: 9,
                tier: Tier::Pro,
            },
            MdServerMsg::LoginRejected {
                reason: LoginReject::BadProof,
            },
            MdServerMsg::Subscribed {
                request_id: 1,
                market: MarketId(2),
                streams: Streams::ALL,
            },
            MdServerMsg::Rejected {
                request_id: 1,
                market: MarketId(2),
                reason: SubscribeReject::LoginRequired,
            },
            MdServerMsg::Unsubscribed {
                request_id: 1,
                market: MarketId(2),
                streams: Streams::TICKS,
            },
            MdServerMsg::Snapshot(Snapshot {
                market: MarketId(3),
                status: Some(MarketStatus::Open),
                flags: FLAG_CONFLATED,
                tick_seq: 10,
                book_seq: 20,
                overround_bps: 10_100,
                ts_ns: 99,
                selections: vec![
                    SnapshotSelection {
                        odds: tick_selection(1),
                        backs: depth,
                        lays: Depth::default(),
                    };
                    3
                ],
            }),
            MdServerMsg::Tick(Tick {
                market: MarketId(3),
                status: None,
                flags: 0,
                tick_seq: 11,
                reason: Some(TickReason::Change),
                overround_bps: 10_050,
                ts_ns: 100,
                selections: (1..=4).map(tick_selection).collect(),
            }),
            MdServerMsg::Book {
                market: MarketId(3),
                selection: SelectionId(1),
                book_seq: 21,
                side: Side::Lay,
                depth,
                ts_ns: 101,
            },
            MdServerMsg::Trade {
                market: MarketId(3),
                selection: SelectionId(1),
                book_seq: 22,
                odds_x100: 250,
                taker_side: Side::Back,
                stake_minor: 1_000,
                ts_ns: 102,
            },
            MdServerMsg::Status {
                market: MarketId(3),
                status: MarketStatus::Suspended,
                cause: StatusCause::Operator,
                flags: FLAG_CONFLATED,
                book_seq: 23,
                ts_ns: 103,
            },
            MdServerMsg::Pool {
                market: MarketId(4),
                selection: SelectionId(2),
                book_seq: 5,
                pool_minor: 700,
                total_minor: 2_000,
                ts_ns: 104,
            },
            MdServerMsg::Heartbeat,
            MdServerMsg::End {
                reason: EndReason::SlowConsumer,
                detail: "behind by 2 s".to_owned(),
            },
        ] {
            round_trip_server(msg);
        }
        for msg in [
            MdClientMsg::Login { key_id: u64::MAX },
            MdClientMsg::LoginProof { proof: [3; 32] },
            MdClientMsg::Subscribe {
                request_id: 5,
                market: MarketId(6),
                streams: Streams::TICKS.with(Streams::STATUS),
            },
            MdClientMsg::Unsubscribe {
                request_id: 5,
                market: MarketId(6),
                streams: Streams::BOOK,
            },
            MdClientMsg::Resync {
                request_id: 7,
                market: MarketId(6),
            },
            MdClientMsg::Heartbeat,
        ] {
            round_trip_client(msg);
        }
    }

    #[test]
    fn bad_frames_are_refused_not_trusted() {
        let mut out = Vec::new();
        MdClientMsg::Subscribe {
            request_id: 1,
            market: MarketId(1),
            streams: Streams::TICKS,
        }
        .encode(&mut out);
        let (header, body) = split_frame(&out, 1024).unwrap().unwrap();
        let mut bad = body.to_vec();
        bad[8] = 0; // no stream
        assert!(MdClientMsg::decode(header, &bad).is_err());
        bad[8] = 0x10; // unknown stream
        assert!(MdClientMsg::decode(header, &bad).is_err());
        bad[8] = 1;
        bad[9] = 1; // reserved
        assert!(MdClientMsg::decode(header, &bad).is_err());
        assert!(MdClientMsg::decode(header, &body[..11]).is_err());
        // A server message type sent by a client is unknown.
        let wrong = Header {
            kind: kind::TICK,
            ..header
        };
        assert!(matches!(
            MdClientMsg::decode(wrong, body),
            Err(DecodeError::UnknownType(_))
        ));
        // A tick claiming more selections than its frame holds.
        let mut tick = Vec::new();
        MdServerMsg::Tick(Tick {
            market: MarketId(1),
            status: None,
            flags: 0,
            tick_seq: 1,
            reason: None,
            overround_bps: 0,
            ts_ns: 0,
            selections: vec![tick_selection(1)],
        })
        .encode(&mut tick);
        tick[14] = 2;
        let (header, body) = split_frame(&tick, 1024).unwrap().unwrap();
        assert!(MdServerMsg::decode(header, body).is_err());
        assert_eq!(Streams::parse("ticks,status"), Some(Streams(9)));
        assert_eq!(Streams::parse("ticks,nope"), None);
    }
}
