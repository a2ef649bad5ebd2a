//! Property tests of the wire codecs (`oddsmatch_net::proto`): order entry and market data
//! (`proto::md`), which share the framing.
//!
//! - Every message the encoder can represent survives encode -> `split_frame` -> decode
//!   unchanged, its frame is as long as its header says, and a stream of frames cut into
//!   arbitrary pieces splits back into the same messages.
//! - Arbitrary bytes and damaged valid frames (flipped, overwritten, truncated, extended
//!   bytes, rewritten length and count fields) never make framing or decoding panic, and
//!   whatever does decode re-encodes to exactly the bytes it came from: the encoding is
//!   canonical. Every frame is offered to all four decoders (both directions of both
//!   protocols); at most one may accept it.
//! - Decoding allocates in proportion to the frame's own length, never to a count field it
//!   has not checked (measured with a counting allocator on the decoding thread).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Debug;

use oddsmatch_engine::{
    AccountId, CommandKind, DISPLAY_LEVELS, MarketId, MarketStatus, OrderId, RejectReason,
    SelectionId, TickReason,
};
use oddsmatch_net::proto::md::{
    self, Depth, FLAG_CONFLATED, MAX_SELECTIONS, MdClientMsg, MdServerMsg, Snapshot,
    SnapshotSelection, Streams, Tick, TickSelection,
};
use oddsmatch_net::proto::{
    ANSWER_CHUNK, AnswerHeader, BalanceEntry, Cancel, CancelBet, ClientMsg, DEFAULT_MAX_FRAME,
    DecodeError, EndReason, FrameError, HEADER_LEN, Header, Login, LoginAccepted, MAX_CURSORS,
    MAX_DETAIL, MAX_QUOTES, MassCancel, MassQuote, NewOrder, OpenOrderEntry, OrderRef, PlaceBet,
    PositionEntry, QuoteEntry, ReferenceOdds, Replace, Report, ReportBody, ReportHeader,
    ResumeCursor, Scope, ServerMsg, SubscribeReject, VERSION, Vote, WireEnum, client_kind,
    command_kind_code, command_kind_from_code, server_kind, split_frame,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::strategy::ValueTree;

// ---------------------------------------------------------------------------------------------
// Allocation accounting: peak live heap bytes requested by the current thread.

struct CountingAlloc;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(bytes: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(bytes);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(bytes: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(bytes)));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping only
// touches plain thread-local cells, which never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        // SAFETY: as for `alloc`; `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size);
        shrank(layout.size());
        // SAFETY: as for `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

/// Runs `f` and returns its result with the most heap bytes it held at once.
fn peak_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get);
    (out, peak - start)
}

/// What decoding a frame of `frame_len` bytes may hold on the heap: in-memory entries are no
/// larger than their wire form and an end-of-session detail is a copy of its bytes, so four
/// times the frame plus slack is generous, yet far below what an unchecked count (up to 65535
/// quotes, 2^32 answer entries) would cost.
fn allocation_bound(frame_len: usize) -> usize {
    4 * frame_len + 256
}

// ---------------------------------------------------------------------------------------------
// Codec plumbing shared by both directions.

trait Wire: Sized + Clone + PartialEq + Debug {
    /// The protocol and direction, as [`decoders`] names it.
    const NAME: &'static str;
    fn put(&self, out: &mut Vec<u8>);
    fn get(header: Header, body: &[u8]) -> Result<Self, DecodeError>;
}

impl Wire for ClientMsg {
    const NAME: &'static str = "client";
    fn put(&self, out: &mut Vec<u8>) {
        self.encode(out);
    }
    fn get(header: Header, body: &[u8]) -> Result<Self, DecodeError> {
        ClientMsg::decode(header, body)
    }
}

impl Wire for ServerMsg {
    const NAME: &'static str = "server";
    fn put(&self, out: &mut Vec<u8>) {
        self.encode(out);
    }
    fn get(header: Header, body: &[u8]) -> Result<Self, DecodeError> {
        ServerMsg::decode(header, body)
    }
}

impl Wire for MdClientMsg {
    const NAME: &'static str = "market-data client";
    fn put(&self, out: &mut Vec<u8>) {
        self.encode(out);
    }
    fn get(header: Header, body: &[u8]) -> Result<Self, DecodeError> {
        MdClientMsg::decode(header, body)
    }
}

impl Wire for MdServerMsg {
    const NAME: &'static str = "market-data server";
    fn put(&self, out: &mut Vec<u8>) {
        self.encode(out);
    }
    fn get(header: Header, body: &[u8]) -> Result<Self, DecodeError> {
        MdServerMsg::decode(header, body)
    }
}

fn encode<M: Wire>(msg: &M) -> Vec<u8> {
    let mut out = Vec::new();
    msg.put(&mut out);
    out
}

fn header_of(frame: &[u8]) -> Header {
    Header {
        len: u32::from_le_bytes(frame[0..4].try_into().unwrap()),
        kind: u16::from_le_bytes(frame[4..6].try_into().unwrap()),
        version: frame[6],
        flags: frame[7],
    }
}

/// Every whole frame at the front of `bytes`, and how splitting stopped.
struct Split<'a> {
    /// Each frame's header and its bytes, header included.
    frames: Vec<(Header, &'a [u8])>,
    /// The framing error that stopped the split, if one did.
    error: Option<FrameError>,
    /// The bytes after the last whole frame.
    rest: &'a [u8],
}

fn split_all(mut bytes: &[u8]) -> Split<'_> {
    let mut frames = Vec::new();
    loop {
        match split_frame(bytes, DEFAULT_MAX_FRAME) {
            Ok(Some((header, body))) => {
                let len = header.len as usize;
                assert!((HEADER_LEN..=DEFAULT_MAX_FRAME).contains(&len));
                assert_eq!(
                    body,
                    &bytes[HEADER_LEN..len],
                    "the body is the frame minus its header"
                );
                frames.push((header, &bytes[..len]));
                bytes = &bytes[len..];
            }
            Ok(None) => {
                let whole_header = bytes.len() >= HEADER_LEN;
                assert!(!whole_header || (header_of(bytes).len as usize) > bytes.len());
                return Split {
                    frames,
                    error: None,
                    rest: bytes,
                };
            }
            Err(error) => {
                return Split {
                    frames,
                    error: Some(error),
                    rest: bytes,
                };
            }
        }
    }
}

/// Every decoder, by the name of its protocol and direction, reduced to its verdict.
type Verdict = fn(Header, &[u8]) -> Result<(), DecodeError>;
const DECODERS: [(&str, Verdict); 4] = [
    (ClientMsg::NAME, |h, b| ClientMsg::decode(h, b).map(drop)),
    (ServerMsg::NAME, |h, b| ServerMsg::decode(h, b).map(drop)),
    (MdClientMsg::NAME, |h, b| {
        MdClientMsg::decode(h, b).map(drop)
    }),
    (MdServerMsg::NAME, |h, b| {
        MdServerMsg::decode(h, b).map(drop)
    }),
];

/// Decodes `frame` as an `M`: without panicking or allocating beyond the frame's bound, and,
/// when it decodes, to a message that re-encodes to exactly `frame`. Returns whether it
/// decoded.
fn check_decode<M: Wire>(header: Header, frame: &[u8]) -> Result<bool, TestCaseError> {
    let what = M::NAME;
    let body = &frame[HEADER_LEN..];
    let (decoded, bytes) = peak_allocation(|| M::get(header, body));
    prop_assert!(
        bytes <= allocation_bound(frame.len()),
        "{what} decode of a {}-byte frame held {bytes} heap bytes",
        frame.len()
    );
    let Ok(msg) = decoded else {
        return Ok(false);
    };
    let again = encode(&msg);
    prop_assert_eq!(again, frame, "{} message {:?} is not canonical", what, msg);
    Ok(true)
}

/// Decodes one split-off frame as each protocol's client and server message: none may panic
/// nor allocate beyond the frame's bound, at most one may succeed, and a success re-encodes to
/// exactly `frame`.
fn check_frame(header: Header, frame: &[u8]) -> Result<(), TestCaseError> {
    let decoded = [
        check_decode::<ClientMsg>(header, frame)?,
        check_decode::<ServerMsg>(header, frame)?,
        check_decode::<MdClientMsg>(header, frame)?,
        check_decode::<MdServerMsg>(header, frame)?,
    ];
    prop_assert!(
        decoded.iter().filter(|d| **d).count() <= 1,
        "a type decodes as more than one protocol or direction: {:?}",
        decoded
    );
    Ok(())
}

/// The message type in a frame's header.
fn kind_of(frame: &[u8]) -> u16 {
    header_of(frame).kind
}

/// Every decoder but `M`'s refuses `frame` as an unknown type: a frame sent in the wrong
/// direction, or to the other protocol's port, is never taken for another message.
fn others_do_not_know<M: Wire>(frame: &[u8]) -> Result<(), TestCaseError> {
    let (header, body) = split_frame(frame, DEFAULT_MAX_FRAME).unwrap().unwrap();
    for (name, decode) in DECODERS {
        if name != M::NAME {
            prop_assert_eq!(
                decode(header, body),
                Err(DecodeError::UnknownType(header.kind)),
                "the {} decoder",
                name
            );
        }
    }
    Ok(())
}

/// Splits `bytes` and checks every frame; the split itself must not panic either.
fn check_stream(bytes: &[u8]) -> Result<(), TestCaseError> {
    let split = split_all(bytes);
    for (header, frame) in &split.frames {
        check_frame(*header, frame)?;
    }
    if let Some(error) = split.error {
        let len = header_of(split.rest).len;
        match error {
            FrameError::TooShort(got) => {
                prop_assert!(got == len && (len as usize) < HEADER_LEN);
            }
            FrameError::TooLong { len: got, max } => {
                prop_assert!(got == len && len as usize > max && max == DEFAULT_MAX_FRAME);
            }
        }
    }
    Ok(())
}

/// encode -> split_frame -> decode gives the message back, the whole buffer is one frame,
/// and the other direction does not know the type.
fn check_round_trip<M: Wire>(msg: &M) -> Result<(), TestCaseError> {
    let bytes = encode(msg);
    let split = split_all(&bytes);
    prop_assert!(split.error.is_none() && split.rest.is_empty());
    prop_assert_eq!(split.frames.len(), 1);
    let (header, frame) = split.frames[0];
    prop_assert_eq!(header.len as usize, bytes.len());
    prop_assert_eq!(frame, &bytes[..]);
    prop_assert_eq!(header.version, VERSION);
    prop_assert_eq!(header.flags, 0);
    let decoded = M::get(header, &frame[HEADER_LEN..]);
    prop_assert_eq!(decoded.as_ref(), Ok(msg));
    check_frame(header, frame)
}

/// Feeds `bytes` to a receive buffer in pieces cut at `cuts`, splitting whole frames off as
/// they complete, and returns the messages decoded.
fn receive<M: Wire>(bytes: &[u8], cuts: &[Index]) -> Vec<M> {
    let mut at: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    let mut pending = Vec::new();
    let mut out = Vec::new();
    for piece in at.windows(2) {
        pending.extend_from_slice(&bytes[piece[0]..piece[1]]);
        while let Some((header, body)) = split_frame(&pending, DEFAULT_MAX_FRAME).unwrap() {
            out.push(M::get(header, body).unwrap());
            pending.drain(..header.len as usize);
        }
    }
    assert!(pending.is_empty(), "{} bytes left over", pending.len());
    out
}

/// `msgs` encoded one after another split back into the same messages, whole and when the
/// bytes arrive in pieces cut at `cuts`.
fn check_stream_of<M: Wire>(msgs: &[M], cuts: &[Index]) -> Result<(), TestCaseError> {
    let mut bytes = Vec::new();
    for msg in msgs {
        let start = bytes.len();
        msg.put(&mut bytes);
        prop_assert_eq!(header_of(&bytes[start..]).len as usize, bytes.len() - start);
    }
    let split = split_all(&bytes);
    prop_assert!(split.error.is_none() && split.rest.is_empty());
    let decoded: Vec<M> = split
        .frames
        .iter()
        .map(|(h, f)| M::get(*h, &f[HEADER_LEN..]).unwrap())
        .collect();
    prop_assert_eq!(&decoded, msgs);
    prop_assert_eq!(&receive::<M>(&bytes, cuts), msgs);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Strategies: every value the encoder can represent.

/// Every value of a wire enumeration, found through its own code table.
fn wire_enum<T: WireEnum + Debug + 'static>() -> impl Strategy<Value = T> {
    let values: Vec<T> = (1..=u8::MAX).filter_map(T::from_wire).collect();
    assert!(!values.is_empty());
    select(values)
}

/// The command kinds `order_rejected` can carry (those with a wire code).
fn command_kind() -> impl Strategy<Value = CommandKind> {
    select(
        (1..=u8::MAX)
            .filter_map(command_kind_from_code)
            .collect::<Vec<_>>(),
    )
}

fn reject_reason() -> impl Strategy<Value = RejectReason> {
    select(RejectReason::ALL.to_vec())
}

fn market() -> impl Strategy<Value = MarketId> {
    any::<u32>().prop_map(MarketId)
}

fn selection() -> impl Strategy<Value = SelectionId> {
    any::<u32>().prop_map(SelectionId)
}

fn order_id() -> impl Strategy<Value = OrderId> {
    any::<u64>().prop_map(OrderId)
}

/// Up to `max` entries, usually few.
fn entries<S: Strategy + 'static>(entry: S, max: usize) -> impl Strategy<Value = Vec<S::Value>> {
    let entry = entry.boxed();
    prop_oneof![3 => vec(entry.clone(), 0..=4), 1 => vec(entry, 0..=max)]
}

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![market().prop_map(Scope::Market), Just(Scope::All)]
}

fn cursor() -> impl Strategy<Value = ResumeCursor> {
    (any::<u16>(), any::<u64>(), any::<u32>()).prop_map(|(shard, journal_seq, event_index)| {
        ResumeCursor {
            shard,
            journal_seq,
            event_index,
        }
    })
}

fn quote() -> impl Strategy<Value = QuoteEntry> {
    (
        selection(),
        any::<u32>(),
        any::<u32>(),
        any::<i64>(),
        any::<i64>(),
    )
        .prop_map(
            |(selection, back_odds_x100, lay_odds_x100, back_stake_minor, lay_stake_minor)| {
                QuoteEntry {
                    selection,
                    back_odds_x100,
                    lay_odds_x100,
                    back_stake_minor,
                    lay_stake_minor,
                }
            },
        )
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    let login = (
        any::<u64>(),
        any::<u32>(),
        any::<bool>(),
        entries(cursor(), MAX_CURSORS),
    )
        .prop_map(|(key_id, heartbeat_ms, cancel_on_disconnect, resume)| {
            ClientMsg::Login(Login {
                key_id,
                heartbeat_ms,
                cancel_on_disconnect,
                resume,
            })
        });
    let new_order = (
        any::<u64>(),
        any::<u64>(),
        any::<i64>(),
        market(),
        selection(),
        any::<u32>(),
        wire_enum(),
        wire_enum(),
        wire_enum(),
        any::<bool>(),
    )
        .prop_map(
            |(
                request_id,
                client_order_id,
                stake_minor,
                market,
                selection,
                odds_x100,
                side,
                tif,
                persistence,
                post_only,
            )| {
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
                    post_only,
                })
            },
        );
    let order_ref = prop_oneof![
        order_id().prop_map(OrderRef::OrderId),
        any::<u64>().prop_map(OrderRef::ClientOrderId),
    ];
    let cancel = (any::<u64>(), market(), order_ref).prop_map(|(request_id, market, order)| {
        ClientMsg::Cancel(Cancel {
            request_id,
            market,
            order,
        })
    });
    let replace = (
        any::<u64>(),
        order_id(),
        any::<i64>(),
        market(),
        any::<u32>(),
    )
        .prop_map(|(request_id, order_id, stake_minor, market, odds_x100)| {
            ClientMsg::Replace(Replace {
                request_id,
                order_id,
                stake_minor,
                market,
                odds_x100,
            })
        });
    let mass_cancel = (any::<u64>(), scope())
        .prop_map(|(request_id, scope)| ClientMsg::MassCancel(MassCancel { request_id, scope }));
    let mass_quote = (any::<u64>(), market(), entries(quote(), MAX_QUOTES)).prop_map(
        |(request_id, market, quotes)| {
            ClientMsg::MassQuote(MassQuote {
                request_id,
                market,
                quotes,
            })
        },
    );
    let place_bet = (
        any::<u64>(),
        any::<u64>(),
        any::<i64>(),
        market(),
        selection(),
    )
        .prop_map(
            |(request_id, client_order_id, stake_minor, market, selection)| {
                ClientMsg::PlaceBet(PlaceBet {
                    request_id,
                    client_order_id,
                    stake_minor,
                    market,
                    selection,
                })
            },
        );
    let cancel_bet =
        (any::<u64>(), order_id(), market()).prop_map(|(request_id, bet_id, market)| {
            ClientMsg::CancelBet(CancelBet {
                request_id,
                bet_id,
                market,
            })
        });
    let vote = (any::<u64>(), market(), selection()).prop_map(|(request_id, market, selection)| {
        ClientMsg::Vote(Vote {
            request_id,
            market,
            selection,
        })
    });
    let reference_odds = (any::<u64>(), market(), entries(any::<u16>(), MAX_QUOTES)).prop_map(
        |(request_id, market, probabilities_bps)| {
            ClientMsg::ReferenceOdds(ReferenceOdds {
                request_id,
                market,
                probabilities_bps,
            })
        },
    );
    prop_oneof![
        login.boxed(),
        any::<[u8; 32]>()
            .prop_map(|proof| ClientMsg::LoginProof { proof })
            .boxed(),
        Just(ClientMsg::Logout).boxed(),
        any::<u64>()
            .prop_map(|ts_ns| ClientMsg::Heartbeat { ts_ns })
            .boxed(),
        any::<u32>()
            .prop_map(|timeout_ms| ClientMsg::DeadMan { timeout_ms })
            .boxed(),
        new_order.boxed(),
        cancel.boxed(),
        replace.boxed(),
        mass_cancel.boxed(),
        mass_quote.boxed(),
        place_bet.boxed(),
        cancel_bet.boxed(),
        vote.boxed(),
        reference_odds.boxed(),
        (any::<u64>(), scope())
            .prop_map(|(request_id, scope)| ClientMsg::GetOpenOrders { request_id, scope })
            .boxed(),
        any::<u64>()
            .prop_map(|request_id| ClientMsg::GetPositions { request_id })
            .boxed(),
        any::<u64>()
            .prop_map(|request_id| ClientMsg::GetBalance { request_id })
            .boxed(),
    ]
}

fn report_header() -> impl Strategy<Value = ReportHeader> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<u16>(),
    )
        .prop_map(
            |(journal_seq, ts_ns, request_id, event_index, shard)| ReportHeader {
                journal_seq,
                ts_ns,
                request_id,
                event_index,
                shard,
            },
        )
}

fn report_body() -> impl Strategy<Value = ReportBody> {
    let order_accepted = (
        order_id(),
        any::<u64>(),
        any::<i64>(),
        market(),
        selection(),
        any::<u32>(),
        wire_enum(),
        wire_enum(),
        wire_enum(),
        any::<bool>(),
    )
        .prop_map(
            |(
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
            )| ReportBody::OrderAccepted {
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
        );
    let order_rejected = (
        option::of(any::<u64>()),
        option::of(order_id()),
        option::of(market()),
        reject_reason(),
        command_kind(),
    )
        .prop_map(|(client_order_id, order_id, market, reason, command)| {
            ReportBody::OrderRejected {
                client_order_id,
                order_id,
                market,
                reason,
                command,
            }
        });
    let order_cancelled = (
        order_id(),
        any::<i64>(),
        market(),
        selection(),
        wire_enum(),
        wire_enum(),
    )
        .prop_map(|(order_id, stake_minor, market, selection, side, reason)| {
            ReportBody::OrderCancelled {
                order_id,
                stake_minor,
                market,
                selection,
                side,
                reason,
            }
        });
    let order_replaced = (
        order_id(),
        any::<i64>(),
        market(),
        selection(),
        any::<u32>(),
        wire_enum(),
        any::<bool>(),
    )
        .prop_map(
            |(order_id, stake_minor, market, selection, odds_x100, side, priority_kept)| {
                ReportBody::OrderReplaced {
                    order_id,
                    stake_minor,
                    market,
                    selection,
                    odds_x100,
                    side,
                    priority_kept,
                }
            },
        );
    let fill = (
        order_id(),
        any::<u64>(),
        any::<i64>(),
        market(),
        selection(),
        any::<u32>(),
        wire_enum(),
        wire_enum(),
    )
        .prop_map(
            |(order_id, book_seq, stake_minor, market, selection, odds_x100, side, liquidity)| {
                ReportBody::Fill {
                    order_id,
                    book_seq,
                    stake_minor,
                    market,
                    selection,
                    odds_x100,
                    side,
                    liquidity,
                }
            },
        );
    let order_delayed =
        (order_id(), any::<u64>(), market()).prop_map(|(order_id, until_ns, market)| {
            ReportBody::OrderDelayed {
                order_id,
                until_ns,
                market,
            }
        });
    let bet_accepted = (
        order_id(),
        any::<u64>(),
        any::<i64>(),
        market(),
        selection(),
    )
        .prop_map(
            |(bet_id, client_order_id, stake_minor, market, selection)| ReportBody::BetAccepted {
                bet_id,
                client_order_id,
                stake_minor,
                market,
                selection,
            },
        );
    let bet_cancelled = (order_id(), any::<i64>(), market(), selection()).prop_map(
        |(bet_id, stake_minor, market, selection)| ReportBody::BetCancelled {
            bet_id,
            stake_minor,
            market,
            selection,
        },
    );
    let bet_settled = (order_id(), any::<i64>(), any::<i64>(), market()).prop_map(
        |(bet_id, stake_minor, payout_minor, market)| ReportBody::BetSettled {
            bet_id,
            stake_minor,
            payout_minor,
            market,
        },
    );
    let settlement =
        (any::<i64>(), any::<i64>(), market()).prop_map(|(pnl_minor, commission_minor, market)| {
            ReportBody::Settlement {
                pnl_minor,
                commission_minor,
                market,
            }
        });
    let ledger = (any::<i64>(), any::<i64>(), any::<u64>(), wire_enum()).prop_map(
        |(amount_minor, balance_minor, reference, kind)| ReportBody::Ledger {
            amount_minor,
            balance_minor,
            reference,
            kind,
        },
    );
    let vote_accepted = (any::<i64>(), market(), selection(), any::<bool>()).prop_map(
        |(weight, market, selection, replaced)| ReportBody::VoteAccepted {
            weight,
            market,
            selection,
            replaced,
        },
    );
    let market_status = (any::<u64>(), market(), wire_enum(), wire_enum()).prop_map(
        |(book_seq, market, status, cause)| ReportBody::MarketStatus {
            book_seq,
            market,
            status,
            cause,
        },
    );
    prop_oneof![
        order_accepted.boxed(),
        order_rejected.boxed(),
        order_cancelled.boxed(),
        order_replaced.boxed(),
        fill.boxed(),
        order_delayed.boxed(),
        bet_accepted.boxed(),
        bet_cancelled.boxed(),
        bet_settled.boxed(),
        settlement.boxed(),
        ledger.boxed(),
        any::<bool>()
            .prop_map(|on| ReportBody::KillSwitch { on })
            .boxed(),
        vote_accepted.boxed(),
        market_status.boxed(),
    ]
}

fn answer_header() -> impl Strategy<Value = AnswerHeader> {
    (any::<u64>(), any::<u16>(), any::<bool>()).prop_map(|(request_id, shard, last)| AnswerHeader {
        request_id,
        shard,
        last,
    })
}

fn open_order() -> impl Strategy<Value = OpenOrderEntry> {
    (
        order_id(),
        any::<u64>(),
        any::<i64>(),
        market(),
        selection(),
        any::<u32>(),
        wire_enum(),
    )
        .prop_map(
            |(order_id, client_order_id, remaining_minor, market, selection, odds_x100, side)| {
                OpenOrderEntry {
                    order_id,
                    client_order_id,
                    remaining_minor,
                    market,
                    selection,
                    odds_x100,
                    side,
                }
            },
        )
}

fn position() -> impl Strategy<Value = PositionEntry> {
    (market(), any::<u32>(), any::<i64>()).prop_map(|(market, open_orders, exposure_minor)| {
        PositionEntry {
            market,
            open_orders,
            exposure_minor,
        }
    })
}

fn balance() -> impl Strategy<Value = BalanceEntry> {
    (
        any::<i64>(),
        any::<i64>(),
        any::<u32>(),
        any::<u32>(),
        any::<bool>(),
        wire_enum(),
    )
        .prop_map(
            |(balance_minor, exposure_minor, open_orders, max_open_orders, kill_switch, tier)| {
                BalanceEntry {
                    balance_minor,
                    exposure_minor,
                    open_orders,
                    max_open_orders,
                    kill_switch,
                    tier,
                }
            },
        )
}

/// End-of-session text: any characters (many multi-byte), at most `MAX_DETAIL` bytes.
fn detail() -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..=MAX_DETAIL).prop_map(|chars| {
        let mut text = String::new();
        for c in chars {
            if text.len() + c.len_utf8() > MAX_DETAIL {
                break;
            }
            text.push(c);
        }
        text
    })
}

fn server_msg() -> impl Strategy<Value = ServerMsg> {
    let login_accepted = (
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        any::<bool>(),
        any::<u16>(),
        wire_enum(),
        wire_enum(),
    )
        .prop_map(
            |(
                session_id,
                server_time_ns,
                account,
                heartbeat_ms,
                cancel_on_disconnect,
                shard_count,
                tier,
                role,
            )| {
                ServerMsg::LoginAccepted(LoginAccepted {
                    session_id,
                    server_time_ns,
                    account: AccountId(account),
                    heartbeat_ms,
                    cancel_on_disconnect,
                    shard_count,
                    tier,
                    role,
                })
            },
        );
    prop_oneof![
        1 => any::<[u8; 32]>()
            .prop_map(|nonce| ServerMsg::Challenge { nonce })
            .boxed(),
        1 => login_accepted.boxed(),
        1 => wire_enum()
            .prop_map(|reason| ServerMsg::LoginRejected { reason })
            .boxed(),
        1 => any::<u64>()
            .prop_map(|ts_ns| ServerMsg::Heartbeat { ts_ns })
            .boxed(),
        1 => (any::<u32>(), any::<bool>())
            .prop_map(|(timeout_ms, fired)| ServerMsg::DeadManStatus { timeout_ms, fired })
            .boxed(),
        1 => (any::<u32>(), any::<bool>())
            .prop_map(|(reports, incomplete)| ServerMsg::ReplayComplete {
                reports,
                incomplete
            })
            .boxed(),
        // Reports come in fourteen kinds: weigh them like the other messages together.
        6 => (report_header(), report_body())
            .prop_map(|(header, body)| ServerMsg::Report(Report { header, body }))
            .boxed(),
        1 => (answer_header(), entries(open_order(), ANSWER_CHUNK))
            .prop_map(|(header, orders)| ServerMsg::OpenOrders { header, orders })
            .boxed(),
        1 => (answer_header(), entries(position(), ANSWER_CHUNK))
            .prop_map(|(header, positions)| ServerMsg::Positions { header, positions })
            .boxed(),
        1 => (answer_header(), option::of(balance()))
            .prop_map(|(header, balance)| ServerMsg::Balance { header, balance })
            .boxed(),
        1 => (any::<u64>(), any::<u16>(), any::<u16>())
            .prop_map(|(request_id, msg_type, reason)| ServerMsg::RequestRejected {
                request_id,
                msg_type,
                reason
            })
            .boxed(),
        1 => (any::<u64>(), any::<u16>(), wire_enum(), any::<u32>())
            .prop_map(
                |(request_id, msg_type, limit, retry_after_ms)| ServerMsg::Throttled {
                    request_id,
                    msg_type,
                    limit,
                    retry_after_ms,
                }
            )
            .boxed(),
        1 => (any::<u64>(), any::<u16>(), any::<u16>())
            .prop_map(|(request_id, msg_type, shard)| ServerMsg::Busy {
                request_id,
                msg_type,
                shard
            })
            .boxed(),
        1 => (any::<u64>(), any::<u16>(), any::<u16>(), any::<u64>())
            .prop_map(|(request_id, msg_type, shard, journal_seq)| ServerMsg::RequestDone {
                request_id,
                msg_type,
                shard,
                journal_seq,
            })
            .boxed(),
        1 => (wire_enum(), detail())
            .prop_map(|(reason, detail)| ServerMsg::EndOfSession { reason, detail })
            .boxed(),
    ]
}

/// A subscription's streams: any non-empty set.
fn streams() -> impl Strategy<Value = Streams> {
    (1..=Streams::ALL.0).prop_map(Streams)
}

/// The streams SUBSCRIBED and UNSUBSCRIBED report: any set, the empty one included (nothing
/// left after an unsubscribe).
fn streams_held() -> impl Strategy<Value = Streams> {
    (0..=Streams::ALL.0).prop_map(Streams)
}

/// A SNAPSHOT's or TICK's flags.
fn md_flags() -> impl Strategy<Value = u8> {
    prop_oneof![Just(0), Just(FLAG_CONFLATED)]
}

fn tick_selection() -> impl Strategy<Value = TickSelection> {
    (
        selection(),
        any::<[u32; 4]>(),
        any::<u16>(),
        any::<u16>(),
        any::<i64>(),
        any::<i64>(),
    )
        .prop_map(
            |(selection, odds, implied_bps, reference_bps, matched_minor, pool_minor)| {
                TickSelection {
                    selection,
                    back_x100: odds[0],
                    lay_x100: odds[1],
                    last_traded_x100: odds[2],
                    indicative_x100: odds[3],
                    implied_bps,
                    reference_bps,
                    matched_minor,
                    pool_minor,
                }
            },
        )
}

fn depth() -> impl Strategy<Value = Depth> {
    (
        any::<[u32; DISPLAY_LEVELS]>(),
        any::<[i64; DISPLAY_LEVELS]>(),
    )
        .prop_map(|(odds_x100, stakes_minor)| Depth {
            odds_x100,
            stakes_minor,
        })
}

fn snapshot_selection() -> impl Strategy<Value = SnapshotSelection> {
    (tick_selection(), depth(), depth()).prop_map(|(odds, backs, lays)| SnapshotSelection {
        odds,
        backs,
        lays,
    })
}

fn md_client_msg() -> impl Strategy<Value = MdClientMsg> {
    prop_oneof![
        any::<u64>().prop_map(|key_id| MdClientMsg::Login { key_id }),
        any::<[u8; 32]>().prop_map(|proof| MdClientMsg::LoginProof { proof }),
        (any::<u32>(), market(), streams()).prop_map(|(request_id, market, streams)| {
            MdClientMsg::Subscribe {
                request_id,
                market,
                streams,
            }
        }),
        (any::<u32>(), market(), streams()).prop_map(|(request_id, market, streams)| {
            MdClientMsg::Unsubscribe {
                request_id,
                market,
                streams,
            }
        }),
        (any::<u32>(), market())
            .prop_map(|(request_id, market)| MdClientMsg::Resync { request_id, market }),
        Just(MdClientMsg::Heartbeat),
    ]
}

fn md_server_msg() -> impl Strategy<Value = MdServerMsg> {
    let snapshot = (
        market(),
        option::of(wire_enum::<MarketStatus>()),
        md_flags(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<u64>(),
        entries(snapshot_selection(), MAX_SELECTIONS),
    )
        .prop_map(
            |(market, status, flags, tick_seq, book_seq, overround_bps, ts_ns, selections)| {
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
            },
        );
    let tick = (
        market(),
        option::of(wire_enum::<MarketStatus>()),
        md_flags(),
        any::<u64>(),
        option::of(wire_enum::<TickReason>()),
        any::<u32>(),
        any::<u64>(),
        entries(tick_selection(), MAX_SELECTIONS),
    )
        .prop_map(
            |(market, status, flags, tick_seq, reason, overround_bps, ts_ns, selections)| {
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
            },
        );
    let book = (
        market(),
        selection(),
        any::<u64>(),
        wire_enum(),
        depth(),
        any::<u64>(),
    )
        .prop_map(
            |(market, selection, book_seq, side, depth, ts_ns)| MdServerMsg::Book {
                market,
                selection,
                book_seq,
                side,
                depth,
                ts_ns,
            },
        );
    let trade = (
        market(),
        selection(),
        any::<u64>(),
        any::<u32>(),
        wire_enum(),
        any::<i64>(),
        any::<u64>(),
    )
        .prop_map(
            |(market, selection, book_seq, odds_x100, taker_side, stake_minor, ts_ns)| {
                MdServerMsg::Trade {
                    market,
                    selection,
                    book_seq,
                    odds_x100,
                    taker_side,
                    stake_minor,
                    ts_ns,
                }
            },
        );
    let status = (
        market(),
        wire_enum(),
        wire_enum(),
        prop_oneof![Just(0u8), Just(FLAG_CONFLATED)],
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(market, status, cause, flags, book_seq, ts_ns)| MdServerMsg::Status {
                market,
                status,
                cause,
                flags,
                book_seq,
                ts_ns,
            },
        );
    let pool = (
        market(),
        selection(),
        any::<u64>(),
        any::<i64>(),
        any::<i64>(),
        any::<u64>(),
    )
        .prop_map(
            |(market, selection, book_seq, pool_minor, total_minor, ts_ns)| MdServerMsg::Pool {
                market,
                selection,
                book_seq,
                pool_minor,
                total_minor,
                ts_ns,
            },
        );
    prop_oneof![
        any::<[u8; 32]>()
            .prop_map(|challenge| MdServerMsg::Challenge { challenge })
            .boxed(),
        (any::<u32>(), wire_enum())
            .prop_map(|(account, tier)| MdServerMsg::LoginAccepted { account, tier })
            .boxed(),
        wire_enum()
            .prop_map(|reason| MdServerMsg::LoginRejected { reason })
            .boxed(),
        (any::<u32>(), market(), streams_held())
            .prop_map(|(request_id, market, streams)| MdServerMsg::Subscribed {
                request_id,
                market,
                streams,
            })
            .boxed(),
        (any::<u32>(), market(), wire_enum::<SubscribeReject>())
            .prop_map(|(request_id, market, reason)| MdServerMsg::Rejected {
                request_id,
                market,
                reason,
            })
            .boxed(),
        (any::<u32>(), market(), streams_held())
            .prop_map(|(request_id, market, streams)| MdServerMsg::Unsubscribed {
                request_id,
                market,
                streams,
            })
            .boxed(),
        snapshot.boxed(),
        tick.boxed(),
        book.boxed(),
        trade.boxed(),
        status.boxed(),
        pool.boxed(),
        Just(MdServerMsg::Heartbeat).boxed(),
        (wire_enum(), detail())
            .prop_map(|(reason, detail)| MdServerMsg::End { reason, detail })
            .boxed(),
    ]
}

/// A stream of valid frames of either direction of either protocol.
fn valid_stream() -> impl Strategy<Value = Vec<u8>> {
    let frame = prop_oneof![
        client_msg().prop_map(|m| encode(&m)),
        server_msg().prop_map(|m| encode(&m)),
        md_client_msg().prop_map(|m| encode(&m)),
        md_server_msg().prop_map(|m| encode(&m)),
    ];
    vec(frame, 1..=4).prop_map(|frames| frames.concat())
}

/// One way to damage a byte stream.
#[derive(Clone, Debug)]
enum Damage {
    /// XOR one byte with a nonzero mask.
    Flip { at: Index, mask: u8 },
    /// Overwrite bytes from a position.
    Overwrite { at: Index, bytes: Vec<u8> },
    /// Cut the stream short.
    Truncate { at: Index },
    /// Append bytes; with `grow_first`, also lengthen the first frame's length field to
    /// cover them (when it still fits).
    Extend { bytes: Vec<u8>, grow_first: bool },
    /// Rewrite the first frame's length field.
    SetLen { len: u32 },
    /// Move the first frame's length field by a little.
    NudgeLen { delta: i32 },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        3 => (any::<Index>(), 1..=u8::MAX).prop_map(|(at, mask)| Damage::Flip { at, mask }),
        2 => (any::<Index>(), vec(any::<u8>(), 1..=8))
            .prop_map(|(at, bytes)| Damage::Overwrite { at, bytes }),
        1 => any::<Index>().prop_map(|at| Damage::Truncate { at }),
        1 => (vec(any::<u8>(), 1..=64), any::<bool>())
            .prop_map(|(bytes, grow_first)| Damage::Extend { bytes, grow_first }),
        1 => any::<u32>().prop_map(|len| Damage::SetLen { len }),
        1 => (-64..=64i32).prop_map(|delta| Damage::NudgeLen { delta }),
    ]
}

fn set_first_len(bytes: &mut [u8], len: u32) {
    if bytes.len() >= 4 {
        bytes[..4].copy_from_slice(&len.to_le_bytes());
    }
}

fn apply(bytes: &mut Vec<u8>, damage: &Damage) {
    match damage {
        Damage::Flip { at, mask } if !bytes.is_empty() => {
            let i = at.index(bytes.len());
            bytes[i] ^= mask;
        }
        Damage::Overwrite { at, bytes: new } if !bytes.is_empty() => {
            let start = at.index(bytes.len());
            for (slot, b) in bytes[start..].iter_mut().zip(new) {
                *slot = *b;
            }
        }
        Damage::Truncate { at } => {
            let keep = at.index(bytes.len() + 1);
            bytes.truncate(keep);
        }
        Damage::Extend {
            bytes: tail,
            grow_first,
        } => {
            if *grow_first && bytes.len() >= HEADER_LEN {
                let len = header_of(bytes).len as usize + tail.len();
                set_first_len(bytes, u32::try_from(len).unwrap_or(u32::MAX));
            }
            bytes.extend_from_slice(tail);
        }
        Damage::SetLen { len } => set_first_len(bytes, *len),
        Damage::NudgeLen { delta } if bytes.len() >= HEADER_LEN => {
            let len = i64::from(header_of(bytes).len) + i64::from(*delta);
            set_first_len(bytes, len.clamp(0, i64::from(u32::MAX)) as u32);
        }
        _ => {}
    }
}

/// Where a counted message keeps its count (body offset, bytes), by type. Market data's END
/// counts its detail's bytes.
fn count_field(kind: u16) -> Option<(usize, usize)> {
    match kind {
        client_kind::LOGIN => Some((16, 2)),
        client_kind::MASS_QUOTE | client_kind::REFERENCE_ODDS => Some((12, 2)),
        server_kind::OPEN_ORDERS | server_kind::POSITIONS | server_kind::BALANCE => Some((8, 4)),
        md::kind::SNAPSHOT | md::kind::TICK => Some((6, 2)),
        md::kind::END => Some((2, 2)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_client_message_round_trips(msg in client_msg()) {
        check_round_trip(&msg)?;
        let bytes = encode(&msg);
        prop_assert_eq!(kind_of(&bytes), msg.kind());
        others_do_not_know::<ClientMsg>(&bytes)?;
    }

    #[test]
    fn every_server_message_round_trips(msg in server_msg()) {
        check_round_trip(&msg)?;
        let bytes = encode(&msg);
        prop_assert_eq!(kind_of(&bytes), msg.kind());
        others_do_not_know::<ServerMsg>(&bytes)?;
    }

    #[test]
    fn every_market_data_client_message_round_trips(msg in md_client_msg()) {
        check_round_trip(&msg)?;
        let bytes = encode(&msg);
        prop_assert_eq!(kind_of(&bytes) >> 8, 0x03, "subscriber types are 0x03xx");
        others_do_not_know::<MdClientMsg>(&bytes)?;
    }

    #[test]
    fn every_market_data_server_message_round_trips(msg in md_server_msg()) {
        check_round_trip(&msg)?;
        let bytes = encode(&msg);
        prop_assert_eq!(kind_of(&bytes) >> 8, 0x04, "market-data server types are 0x04xx");
        others_do_not_know::<MdServerMsg>(&bytes)?;
    }

    #[test]
    fn client_streams_split_back_into_the_same_messages(
        msgs in vec(client_msg(), 1..=8),
        cuts in vec(any::<Index>(), 0..=8),
    ) {
        let mut bytes = Vec::new();
        for msg in &msgs {
            let start = bytes.len();
            msg.encode(&mut bytes);
            prop_assert_eq!(header_of(&bytes[start..]).len as usize, bytes.len() - start);
        }
        let split = split_all(&bytes);
        prop_assert!(split.error.is_none() && split.rest.is_empty());
        let decoded: Vec<ClientMsg> = split
            .frames
            .iter()
            .map(|(h, f)| ClientMsg::decode(*h, &f[HEADER_LEN..]).unwrap())
            .collect();
        prop_assert_eq!(&decoded, &msgs);
        prop_assert_eq!(receive::<ClientMsg>(&bytes, &cuts), msgs);
    }

    #[test]
    fn server_streams_split_back_into_the_same_messages(
        msgs in vec(server_msg(), 1..=8),
        cuts in vec(any::<Index>(), 0..=8),
    ) {
        let mut bytes = Vec::new();
        for msg in &msgs {
            let start = bytes.len();
            msg.encode(&mut bytes);
            prop_assert_eq!(header_of(&bytes[start..]).len as usize, bytes.len() - start);
        }
        let split = split_all(&bytes);
        prop_assert!(split.error.is_none() && split.rest.is_empty());
        let decoded: Vec<ServerMsg> = split
            .frames
            .iter()
            .map(|(h, f)| ServerMsg::decode(*h, &f[HEADER_LEN..]).unwrap())
            .collect();
        prop_assert_eq!(&decoded, &msgs);
        prop_assert_eq!(receive::<ServerMsg>(&bytes, &cuts), msgs);
    }

    #[test]
    fn market_data_client_streams_split_back_into_the_same_messages(
        msgs in vec(md_client_msg(), 1..=8),
        cuts in vec(any::<Index>(), 0..=8),
    ) {
        check_stream_of(&msgs, &cuts)?;
    }

    #[test]
    fn market_data_server_streams_split_back_into_the_same_messages(
        msgs in vec(md_server_msg(), 1..=8),
        cuts in vec(any::<Index>(), 0..=8),
    ) {
        check_stream_of(&msgs, &cuts)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_decode_canonically(bytes in vec(any::<u8>(), 0..=512)) {
        check_stream(&bytes)?;
    }

    /// Random bodies behind a plausible header (right length, version and flags, a type of
    /// either direction or a neighbour of one), so that decoding goes past the header checks.
    #[test]
    fn random_bodies_of_every_type_never_panic_and_decode_canonically(
        kind in prop_oneof![
            (0x0100u16..=0x0125),
            (0x0200u16..=0x0245),
            Just(server_kind::END_OF_SESSION),
            (0x0300u16..=0x0308),
            (0x0400u16..=0x0410),
            any::<u16>(),
        ],
        body in prop_oneof![vec(any::<u8>(), 0..=80), vec(0u8..=2, 0..=300)],
    ) {
        let mut frame = Vec::with_capacity(HEADER_LEN + body.len());
        frame.extend_from_slice(&((HEADER_LEN + body.len()) as u32).to_le_bytes());
        frame.extend_from_slice(&kind.to_le_bytes());
        frame.extend_from_slice(&[VERSION, 0]);
        frame.extend_from_slice(&body);
        check_stream(&frame)?;
    }

    #[test]
    fn damaged_frames_never_panic_and_decode_canonically(
        stream in valid_stream(),
        damages in vec(damage(), 1..=4),
    ) {
        let mut bytes = stream;
        for d in &damages {
            apply(&mut bytes, d);
        }
        check_stream(&bytes)?;
    }

    /// A counted message whose count field no longer matches its entries is refused, without
    /// allocating for the count it claims.
    #[test]
    fn a_count_that_does_not_match_the_body_is_refused(
        msg in prop_oneof![
            client_msg().prop_filter_map("counted", |m| {
                count_field(m.kind()).map(|_| encode(&m))
            }),
            server_msg().prop_filter_map("counted", |m| {
                count_field(m.kind()).map(|_| encode(&m))
            }),
            md_server_msg().prop_map(|m| encode(&m)).prop_filter("counted", |frame| {
                count_field(kind_of(frame)).is_some()
            }),
        ],
        claimed in prop_oneof![any::<u32>(), 0u32..=1100, Just(u32::from(u16::MAX))],
    ) {
        let mut frame = msg;
        let header = header_of(&frame);
        let (offset, width) = count_field(header.kind).unwrap();
        let at = HEADER_LEN + offset;
        let actual = if width == 2 {
            u32::from(u16::from_le_bytes(frame[at..at + 2].try_into().unwrap()))
        } else {
            u32::from_le_bytes(frame[at..at + 4].try_into().unwrap())
        };
        let claimed = if width == 2 { claimed & 0xFFFF } else { claimed };
        prop_assume!(claimed != actual);
        frame[at..at + width].copy_from_slice(&claimed.to_le_bytes()[..width]);
        let body = &frame[HEADER_LEN..];
        let unknown = DecodeError::UnknownType(header.kind);
        let mut refusals = Vec::new();
        for (name, decode) in DECODERS {
            let (result, bytes) = peak_allocation(|| decode(header, body));
            prop_assert!(result.is_err(), "the {} decoder took {:?}", name, result);
            prop_assert!(bytes <= allocation_bound(frame.len()), "the {} decoder", name);
            refusals.extend(result.err().filter(|e| *e != unknown));
        }
        prop_assert!(
            matches!(refusals[..], [DecodeError::Length { .. } | DecodeError::Count { .. }]),
            "{:?}",
            refusals
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed cases: limits and the claims the properties rest on.

/// A frame of `kind` with `body`, version and flags as the encoder writes them.
fn frame_of(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut frame = ((HEADER_LEN + body.len()) as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&kind.to_le_bytes());
    frame.extend_from_slice(&[VERSION, 0]);
    frame.extend_from_slice(body);
    frame
}

fn decode_client(frame: &[u8]) -> Result<ClientMsg, DecodeError> {
    let (header, body) = split_frame(frame, DEFAULT_MAX_FRAME).unwrap().unwrap();
    ClientMsg::decode(header, body)
}

fn decode_server(frame: &[u8]) -> Result<ServerMsg, DecodeError> {
    let (header, body) = split_frame(frame, DEFAULT_MAX_FRAME).unwrap().unwrap();
    ServerMsg::decode(header, body)
}

#[test]
fn the_counting_allocator_sees_this_threads_allocations() {
    let (v, bytes) = peak_allocation(|| Vec::<u64>::with_capacity(1000));
    assert!(bytes >= 8000, "{bytes}");
    drop(v);
}

#[test]
fn a_huge_claimed_count_with_a_short_body_is_refused_without_allocating() {
    // mass_quote claiming 65535 quotes in a 24-byte frame (no entries at all).
    let mut body = vec![0; 16];
    body[12..14].copy_from_slice(&u16::MAX.to_le_bytes());
    let frame = frame_of(client_kind::MASS_QUOTE, &body);
    let (result, bytes) = peak_allocation(|| decode_client(&frame));
    assert_eq!(
        result,
        Err(DecodeError::Count {
            field: "quote_count",
            value: 65535,
            max: MAX_QUOTES
        })
    );
    assert_eq!(bytes, 0);

    // Within the limit but with the entries missing: refused on length.
    body[12..14].copy_from_slice(&(MAX_QUOTES as u16).to_le_bytes());
    let frame = frame_of(client_kind::MASS_QUOTE, &body);
    let (result, bytes) = peak_allocation(|| decode_client(&frame));
    assert!(
        matches!(result, Err(DecodeError::Length { .. })),
        "{result:?}"
    );
    assert_eq!(bytes, 0);

    // Answers count in u32: 2^32 - 1 open orders claimed in a 24-byte frame.
    let mut body = vec![0; 16];
    body[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    for kind in [
        server_kind::OPEN_ORDERS,
        server_kind::POSITIONS,
        server_kind::BALANCE,
    ] {
        let frame = frame_of(kind, &body);
        let (result, bytes) = peak_allocation(|| decode_server(&frame));
        assert!(
            matches!(result, Err(DecodeError::Count { .. })),
            "{result:?}"
        );
        assert_eq!(bytes, 0);
    }

    // A login claiming 65535 cursors.
    let mut body = vec![0; 24];
    body[16..18].copy_from_slice(&u16::MAX.to_le_bytes());
    let frame = frame_of(client_kind::LOGIN, &body);
    let (result, bytes) = peak_allocation(|| decode_client(&frame));
    assert!(
        matches!(result, Err(DecodeError::Count { .. })),
        "{result:?}"
    );
    assert_eq!(bytes, 0);
}

#[test]
fn counted_messages_hold_exactly_their_limits() {
    let login = |n: usize| {
        ClientMsg::Login(Login {
            key_id: 1,
            heartbeat_ms: 0,
            cancel_on_disconnect: true,
            resume: vec![ResumeCursor::default(); n],
        })
    };
    assert_eq!(
        decode_client(&encode(&login(MAX_CURSORS))),
        Ok(login(MAX_CURSORS))
    );
    assert!(matches!(
        decode_client(&encode(&login(MAX_CURSORS + 1))),
        Err(DecodeError::Count {
            field: "cursor_count",
            ..
        })
    ));

    let q = QuoteEntry {
        selection: SelectionId(1),
        back_odds_x100: 200,
        lay_odds_x100: 0,
        back_stake_minor: 100,
        lay_stake_minor: 0,
    };
    let quotes = |n: usize| {
        ClientMsg::MassQuote(MassQuote {
            request_id: 9,
            market: MarketId(3),
            quotes: vec![q; n],
        })
    };
    assert_eq!(
        decode_client(&encode(&quotes(MAX_QUOTES))),
        Ok(quotes(MAX_QUOTES))
    );
    assert!(matches!(
        decode_client(&encode(&quotes(MAX_QUOTES + 1))),
        Err(DecodeError::Count {
            field: "quote_count",
            ..
        })
    ));

    let odds = |n: usize| {
        ClientMsg::ReferenceOdds(ReferenceOdds {
            request_id: 9,
            market: MarketId(3),
            probabilities_bps: vec![5000; n],
        })
    };
    assert_eq!(
        decode_client(&encode(&odds(MAX_QUOTES))),
        Ok(odds(MAX_QUOTES))
    );
    assert!(matches!(
        decode_client(&encode(&odds(MAX_QUOTES + 1))),
        Err(DecodeError::Count {
            field: "probability_count",
            ..
        })
    ));

    let order = OpenOrderEntry {
        order_id: OrderId(1),
        client_order_id: 2,
        remaining_minor: 3,
        market: MarketId(4),
        selection: SelectionId(5),
        odds_x100: 250,
        side: oddsmatch_engine::Side::Lay,
    };
    let header = AnswerHeader {
        request_id: 1,
        shard: 0,
        last: true,
    };
    let orders = |n: usize| ServerMsg::OpenOrders {
        header,
        orders: vec![order; n],
    };
    let full = encode(&orders(ANSWER_CHUNK));
    assert!(full.len() <= DEFAULT_MAX_FRAME);
    assert_eq!(decode_server(&full), Ok(orders(ANSWER_CHUNK)));
    assert!(matches!(
        decode_server(&encode(&orders(ANSWER_CHUNK + 1))),
        Err(DecodeError::Count { field: "count", .. })
    ));
}

#[test]
fn end_of_session_detail_is_cut_to_max_detail_on_a_character_boundary() {
    let end = |detail: String| ServerMsg::EndOfSession {
        reason: oddsmatch_net::proto::EndReason::Shutdown,
        detail,
    };
    // 255 ASCII bytes then a 3-byte character: all of it fits only without the character.
    let long = format!("{}€tail", "a".repeat(MAX_DETAIL - 1));
    let decoded = decode_server(&encode(&end(long))).unwrap();
    assert_eq!(decoded, end("a".repeat(MAX_DETAIL - 1)));
    // Exactly MAX_DETAIL bytes of multi-byte text survives whole.
    let exact = "€".repeat(MAX_DETAIL / 3 - 1) + "é" + "..";
    assert_eq!(exact.len(), MAX_DETAIL);
    assert_eq!(decode_server(&encode(&end(exact.clone()))), Ok(end(exact)));
    // A longer detail on the wire is refused.
    let mut body = vec![0; 8 + MAX_DETAIL + 1];
    body[0] = 1;
    assert!(matches!(
        decode_server(&frame_of(server_kind::END_OF_SESSION, &body)),
        Err(DecodeError::Count {
            field: "detail",
            value: 257,
            max: MAX_DETAIL
        })
    ));
}

#[test]
fn frame_errors_are_reported_for_lengths_out_of_bounds() {
    let mut frame = frame_of(client_kind::HEARTBEAT, &[0; 8]);
    frame[..4].copy_from_slice(&7u32.to_le_bytes());
    assert_eq!(
        split_frame(&frame, DEFAULT_MAX_FRAME),
        Err(FrameError::TooShort(7))
    );
    let over = DEFAULT_MAX_FRAME as u32 + 1;
    frame[..4].copy_from_slice(&over.to_le_bytes());
    assert_eq!(
        split_frame(&frame, DEFAULT_MAX_FRAME),
        Err(FrameError::TooLong {
            len: over,
            max: DEFAULT_MAX_FRAME
        })
    );
    // A length within bounds but past the bytes received: wait for more.
    frame[..4].copy_from_slice(&(DEFAULT_MAX_FRAME as u32).to_le_bytes());
    assert_eq!(split_frame(&frame, DEFAULT_MAX_FRAME), Ok(None));
}

/// Writes a seed corpus for the fuzz targets in `fuzz/` (see `fuzz/README.md`) when
/// `ODDSMATCH_FUZZ_SEEDS` names a directory: files of one to three valid frames under
/// `decode_client/` and `decode_server/` (at most 4 KiB each), the same every time. Does
/// nothing otherwise.
#[test]
fn write_fuzz_seed_corpus() {
    let Some(dir) = std::env::var_os("ODDSMATCH_FUZZ_SEEDS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let client = vec(client_msg(), 1..=3);
    let server = vec(server_msg(), 1..=3);
    for (target, seeds) in [
        (
            "decode_client",
            (0..400)
                .map(|_| {
                    let msgs = client.new_tree(&mut runner).unwrap().current();
                    msgs.iter().flat_map(encode).collect::<Vec<u8>>()
                })
                .collect::<Vec<_>>(),
        ),
        (
            "decode_server",
            (0..400)
                .map(|_| {
                    let msgs = server.new_tree(&mut runner).unwrap().current();
                    msgs.iter().flat_map(encode).collect::<Vec<u8>>()
                })
                .collect::<Vec<_>>(),
        ),
    ] {
        let target_dir = dir.join(target);
        std::fs::create_dir_all(&target_dir).unwrap();
        // Large seeds would make libFuzzer work on 100 KiB inputs; the small ones cover the
        // same layouts.
        for (i, seed) in seeds.iter().filter(|s| s.len() <= 4096).enumerate() {
            std::fs::write(target_dir.join(format!("seed-{i:03}")), seed).unwrap();
        }
    }
}

/// `order_rejected` refuses a nonzero field whose `present` bit is clear (as it refuses
/// nonzero reserved bytes), so that no two frames decode to one value.
#[test]
fn order_rejected_refuses_absent_fields_that_are_not_zero() {
    let msg = ServerMsg::Report(Report {
        header: ReportHeader::default(),
        body: ReportBody::OrderRejected {
            client_order_id: None,
            order_id: None,
            market: None,
            reason: RejectReason::UnknownMarket,
            command: CommandKind::PlaceOrder,
        },
    });
    let mut frame = encode(&msg);
    // client_order_id: frame offset 8 (header) + 32 (report header).
    frame[40] = 5;
    let decoded = decode_server(&frame);
    assert!(
        decoded.is_err(),
        "decoded {decoded:?} from a frame the encoder never writes"
    );
}

/// An end-of-session detail that is not UTF-8 is refused (the encoder only writes text).
#[test]
fn end_of_session_detail_must_be_utf8() {
    let mut body = vec![0; 8];
    body[0] = 1; // logout
    body.extend_from_slice(b"ok\xFF");
    let frame = frame_of(server_kind::END_OF_SESSION, &body);
    assert_eq!(
        decode_server(&frame),
        Err(DecodeError::Enum {
            field: "detail",
            value: 2
        })
    );
}

/// Every command kind, listed through an exhaustive match so that a new kind in the engine
/// fails to compile here until it is added (and given a wire code).
fn all_command_kinds() -> Vec<CommandKind> {
    use CommandKind as K;
    let all = vec![
        K::CreateAccount,
        K::Deposit,
        K::Withdraw,
        K::KillSwitch,
        K::CreateMarket,
        K::OpenMarket,
        K::SuspendMarket,
        K::ResumeMarket,
        K::CloseMarket,
        K::SettleMarket,
        K::VoidMarket,
        K::PlaceOrder,
        K::CancelOrder,
        K::ReplaceOrder,
        K::MassCancel,
        K::MassQuote,
        K::PlaceBet,
        K::CancelBet,
        K::ReferenceOdds,
        K::Vote,
        K::Timer,
        K::Balances,
        K::SetApiKey,
        K::SetAccountLimits,
        K::SetMarketKnobs,
        K::ScheduleMarket,
    ];
    for kind in &all {
        match kind {
            K::CreateAccount
            | K::Deposit
            | K::Withdraw
            | K::KillSwitch
            | K::CreateMarket
            | K::OpenMarket
            | K::SuspendMarket
            | K::ResumeMarket
            | K::CloseMarket
            | K::SettleMarket
            | K::VoidMarket
            | K::PlaceOrder
            | K::CancelOrder
            | K::ReplaceOrder
            | K::MassCancel
            | K::MassQuote
            | K::PlaceBet
            | K::CancelBet
            | K::ReferenceOdds
            | K::Vote
            | K::Timer
            | K::Balances
            | K::SetApiKey
            | K::SetAccountLimits
            | K::SetMarketKnobs
            | K::ScheduleMarket => {}
        }
    }
    all
}

/// Every command kind has a wire code, so an `order_rejected` for any command round trips
/// (a kind without one would be encoded as 0, which no decoder accepts).
#[test]
fn order_rejected_round_trips_for_every_command_kind() {
    let all = all_command_kinds();
    let codes: Vec<u8> = all.iter().map(|k| command_kind_code(*k)).collect();
    let mut distinct = codes.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        all.len(),
        "codes {codes:?} are not distinct"
    );
    assert!(!codes.contains(&0), "a command kind has no code: {codes:?}");
    for command in all {
        let msg = ServerMsg::Report(Report {
            header: ReportHeader::default(),
            body: ReportBody::OrderRejected {
                client_order_id: Some(1),
                order_id: None,
                market: Some(MarketId(2)),
                reason: RejectReason::DuplicateApiKey,
                command,
            },
        });
        assert_eq!(decode_server(&encode(&msg)), Ok(msg));
    }
}

// ---------------------------------------------------------------------------------------------
// Market data: fixed cases.

fn decode_md_server(frame: &[u8]) -> Result<MdServerMsg, DecodeError> {
    let (header, body) = split_frame(frame, DEFAULT_MAX_FRAME).unwrap().unwrap();
    MdServerMsg::decode(header, body)
}

fn decode_md_client(frame: &[u8]) -> Result<MdClientMsg, DecodeError> {
    let (header, body) = split_frame(frame, DEFAULT_MAX_FRAME).unwrap().unwrap();
    MdClientMsg::decode(header, body)
}

fn md_snapshot(n: usize) -> MdServerMsg {
    MdServerMsg::Snapshot(Snapshot {
        market: MarketId(1),
        status: Some(MarketStatus::Open),
        flags: 0,
        tick_seq: 2,
        book_seq: 3,
        overround_bps: 10_100,
        ts_ns: 4,
        selections: vec![SnapshotSelection::default(); n],
    })
}

fn md_tick(n: usize) -> MdServerMsg {
    MdServerMsg::Tick(Tick {
        market: MarketId(1),
        status: Some(MarketStatus::Open),
        flags: 0,
        tick_seq: 2,
        reason: Some(TickReason::Change),
        overround_bps: 10_100,
        ts_ns: 4,
        selections: vec![TickSelection::default(); n],
    })
}

#[test]
fn market_data_counts_are_checked_before_allocating() {
    // A SNAPSHOT or TICK claiming 65535 selections in a 48-byte frame (no entries at all).
    let mut body = vec![0; 40];
    body[4] = MarketStatus::Open.to_wire();
    body[6..8].copy_from_slice(&u16::MAX.to_le_bytes());
    for kind in [md::kind::SNAPSHOT, md::kind::TICK] {
        let frame = frame_of(kind, &body);
        let (result, bytes) = peak_allocation(|| decode_md_server(&frame));
        assert_eq!(
            result,
            Err(DecodeError::Count {
                field: "selections",
                value: 65535,
                max: MAX_SELECTIONS
            })
        );
        assert_eq!(bytes, 0);
    }
    // Within the limit but with the entries missing: refused on length.
    body[6..8].copy_from_slice(&(MAX_SELECTIONS as u16).to_le_bytes());
    for kind in [md::kind::SNAPSHOT, md::kind::TICK] {
        let frame = frame_of(kind, &body);
        let (result, bytes) = peak_allocation(|| decode_md_server(&frame));
        assert!(
            matches!(result, Err(DecodeError::Length { .. })),
            "{result:?}"
        );
        assert_eq!(bytes, 0);
    }
    // An END claiming more detail than it may carry, or than the frame holds.
    let mut body = vec![EndReason::Shutdown.to_wire(), 0];
    body.extend_from_slice(&u16::MAX.to_le_bytes());
    let frame = frame_of(md::kind::END, &body);
    let (result, bytes) = peak_allocation(|| decode_md_server(&frame));
    assert_eq!(
        result,
        Err(DecodeError::Count {
            field: "detail_len",
            value: 65535,
            max: MAX_DETAIL
        })
    );
    assert_eq!(bytes, 0);
    body[2..4].copy_from_slice(&3u16.to_le_bytes());
    body.extend_from_slice(b"ok");
    assert!(matches!(
        decode_md_server(&frame_of(md::kind::END, &body)),
        Err(DecodeError::Length { .. })
    ));
}

#[test]
fn market_data_messages_hold_exactly_their_limits() {
    let largest = encode(&md_snapshot(MAX_SELECTIONS));
    // The largest frame the server sends, as `docs/protocol.md` states it.
    assert_eq!(largest.len(), 48 + 120 * MAX_SELECTIONS);
    assert_eq!(largest.len(), 7728);
    assert!(largest.len() <= DEFAULT_MAX_FRAME);
    assert_eq!(decode_md_server(&largest), Ok(md_snapshot(MAX_SELECTIONS)));
    assert_eq!(
        decode_md_server(&encode(&md_tick(MAX_SELECTIONS))),
        Ok(md_tick(MAX_SELECTIONS))
    );
    for msg in [md_snapshot(MAX_SELECTIONS + 1), md_tick(MAX_SELECTIONS + 1)] {
        assert!(
            matches!(
                decode_md_server(&encode(&msg)),
                Err(DecodeError::Count {
                    field: "selections",
                    ..
                })
            ),
            "{msg:?}"
        );
    }
}

#[test]
fn market_data_empty_status_and_reason_are_zero_and_other_flags_are_refused() {
    let tick = MdServerMsg::Tick(Tick {
        market: MarketId(1),
        status: None,
        flags: FLAG_CONFLATED,
        tick_seq: 1,
        reason: None,
        overround_bps: 0,
        ts_ns: 0,
        selections: Vec::new(),
    });
    let frame = encode(&tick);
    assert_eq!((frame[12], frame[13], frame[24]), (0, FLAG_CONFLATED, 0));
    assert_eq!(decode_md_server(&frame), Ok(tick));
    let mut bad = frame.clone();
    bad[13] = FLAG_CONFLATED | 2;
    assert_eq!(
        decode_md_server(&bad),
        Err(DecodeError::Enum {
            field: "flags",
            value: 3
        })
    );
    let mut bad = frame.clone();
    bad[24] = 4; // no tick reason has code 4
    assert!(matches!(
        decode_md_server(&bad),
        Err(DecodeError::Enum {
            field: "reason",
            ..
        })
    ));
    let mut bad = frame;
    bad[12] = 7; // no market status has code 7
    assert!(matches!(
        decode_md_server(&bad),
        Err(DecodeError::Enum {
            field: "status",
            ..
        })
    ));
}

#[test]
fn market_data_subscriptions_refuse_empty_and_unknown_streams() {
    for kind in [md::kind::SUBSCRIBE, md::kind::UNSUBSCRIBE] {
        for mask in [0u8, 16, 0x80, 0xFF] {
            let mut body = vec![0; 12];
            body[8] = mask;
            assert_eq!(
                decode_md_client(&frame_of(kind, &body)),
                Err(DecodeError::Enum {
                    field: "streams",
                    value: u32::from(mask)
                })
            );
        }
    }
    // What the server reports holding may be nothing (after the last unsubscribe), never an
    // unknown stream.
    for kind in [md::kind::SUBSCRIBED, md::kind::UNSUBSCRIBED] {
        let mut body = vec![0; 12];
        assert!(decode_md_server(&frame_of(kind, &body)).is_ok());
        body[8] = 16;
        assert!(matches!(
            decode_md_server(&frame_of(kind, &body)),
            Err(DecodeError::Enum {
                field: "streams",
                ..
            })
        ));
    }
}

/// The market-data enumerations' codes (the codec's own unit test covers the others).
#[test]
fn market_data_codes_round_trip_and_zero_is_invalid() {
    fn round_trips<T: WireEnum + PartialEq + Debug>() -> usize {
        assert_eq!(T::from_wire(0), None, "zero is never a valid code");
        (1..=u8::MAX)
            .filter_map(|code| T::from_wire(code).map(|value| (code, value)))
            .inspect(|(code, value)| assert_eq!(value.to_wire(), *code, "{value:?}"))
            .count()
    }
    assert_eq!(round_trips::<SubscribeReject>(), 5);
    assert_eq!(round_trips::<TickReason>(), 3);
}

#[test]
fn market_data_end_detail_is_cut_to_max_detail_on_a_character_boundary() {
    let end = |detail: String| MdServerMsg::End {
        reason: EndReason::SlowConsumer,
        detail,
    };
    let long = format!("{}€tail", "a".repeat(MAX_DETAIL - 1));
    assert_eq!(
        decode_md_server(&encode(&end(long))),
        Ok(end("a".repeat(MAX_DETAIL - 1)))
    );
    let exact = "€".repeat(MAX_DETAIL / 3 - 1) + "é" + "..";
    assert_eq!(exact.len(), MAX_DETAIL);
    assert_eq!(
        decode_md_server(&encode(&end(exact.clone()))),
        Ok(end(exact))
    );
}

/// An END detail that is not UTF-8 is refused, as order entry's END_OF_SESSION refuses it:
/// the encoder only writes text, and decoding it leniently (replacing the bad bytes) would
/// give a message that encodes to other bytes.
#[test]
fn market_data_end_detail_must_be_utf8() {
    let mut body = vec![EndReason::Shutdown.to_wire(), 0];
    body.extend_from_slice(&3u16.to_le_bytes());
    body.extend_from_slice(b"ok\xFF");
    let decoded = decode_md_server(&frame_of(md::kind::END, &body));
    assert!(
        decoded.is_err(),
        "a detail that is not UTF-8 decoded as {decoded:?}"
    );
}
