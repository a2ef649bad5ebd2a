//! Checks `docs/protocol.md` against the codec, so that the document a client is written from
//! cannot drift from what the server speaks. The document has two parts, order entry
//! (sections 1-13) and market data (section 14), each with its own message table and layouts;
//! both are checked the same way:
//!
//! - every fenced ` ```hex <name>` example decodes to exactly the message built here under
//!   that name, and that message encodes to exactly those bytes;
//! - each message table lists every type its codec knows, with its direction, name and size;
//! - every layout table is contiguous and adds up to the size in the message table;
//! - laid over an encoded frame of each type, the layout covers every byte, every reserved
//!   byte is one the decoder refuses when it is not zero, and every other byte is one the
//!   decoder reads;
//! - every enumeration table holds exactly the codes the codec accepts, under their names.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::path::Path;

use oddsmatch_engine::{
    AccountId, CancelReason, CommandKind, MarketId, MarketStatus, OrderId, Persistence,
    PostingKind, RejectReason, Role, SelectionId, Side, StatusCause, TickReason, Tier, TimeInForce,
};
use oddsmatch_net::proto::md::{
    Depth, FLAG_CONFLATED, MdClientMsg, MdServerMsg, Snapshot, SnapshotSelection, Streams, Tick,
    TickSelection,
};
use oddsmatch_net::proto::{
    AnswerHeader, BalanceEntry, Cancel, CancelBet, ClientMsg, DEFAULT_MAX_FRAME, DecodeError,
    EndReason, HEADER_LEN, Header, Liquidity, Login, LoginAccepted, LoginReject, MassCancel,
    MassQuote, NewOrder, OpenOrderEntry, OrderRef, PlaceBet, PositionEntry, ProtocolReject,
    QuoteEntry, ReferenceOdds, Replace, Report, ReportBody, ReportHeader, ResumeCursor, Scope,
    ServerMsg, SubscribeReject, ThrottleKind, VERSION, Vote, WireEnum, command_kind_from_code,
    login_proof, split_frame, verify_proof,
};

// ---------------------------------------------------------------------------------------------
// Reading the document
// ---------------------------------------------------------------------------------------------

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol.md");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// A heading's text without its `#`s and without a leading section number (`4. `).
fn heading_text(line: &str) -> Option<(usize, String)> {
    let level = line.chars().take_while(|c| *c == '#').count();
    if level == 0 || !line[level..].starts_with(' ') {
        return None;
    }
    let text = line[level..].trim();
    let unnumbered = match text.split_once(". ") {
        Some((number, rest)) if number.chars().all(|c| c.is_ascii_digit() || c == '.') => rest,
        _ => text,
    };
    Some((level, unnumbered.trim().to_string()))
}

/// Every section of the document: heading text and the lines up to the next heading of any
/// level. Lines inside fenced blocks are never taken for headings.
fn sections(doc: &str) -> Vec<(String, Vec<&str>)> {
    let mut out: Vec<(String, Vec<&str>)> = vec![(String::new(), Vec::new())];
    let mut fenced = false;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        match heading_text(line) {
            Some((_, text)) if !fenced => out.push((text, Vec::new())),
            _ => out.last_mut().expect("one section at least").1.push(line),
        }
    }
    out
}

/// The lines of the section with this heading (exactly one must exist).
fn section<'a>(sections: &'a [(String, Vec<&'a str>)], heading: &str) -> &'a [&'a str] {
    let found: Vec<_> = sections.iter().filter(|(h, _)| h == heading).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one section headed `{heading}`, found {}",
        found.len()
    );
    &found[0].1
}

/// The heading of the market-data part, which runs to the end of the document.
const MARKET_DATA: &str = "Market data";

/// The document's two parts: order entry (everything before the `## N. Market data` section)
/// and market data (that section to the end). Each has its own message table and layouts.
fn parts(doc: &str) -> (&str, &str) {
    let mut at = 0;
    let mut fenced = false;
    for line in doc.split_inclusive('\n') {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && heading_text(line.trim_end()) == Some((2, MARKET_DATA.to_string())) {
            return doc.split_at(at);
        }
        at += line.len();
    }
    panic!("no section headed `## N. {MARKET_DATA}`");
}

/// A table cell without surrounding backticks and spaces.
fn clean(cell: &str) -> String {
    cell.trim().trim_matches('`').trim().to_string()
}

/// The tables among `lines`: each a list of rows (header row included, separator row not),
/// each row a list of cleaned cells.
fn tables(lines: &[&str]) -> Vec<Vec<Vec<String>>> {
    let mut out = Vec::new();
    let mut current: Vec<Vec<String>> = Vec::new();
    for line in lines {
        let line = line.trim();
        if line.starts_with('|') {
            let inner = line.trim_start_matches('|').trim_end_matches('|');
            let cells: Vec<String> = inner.split('|').map(clean).collect();
            let separator = cells
                .iter()
                .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')));
            if !separator {
                current.push(cells);
            }
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The one table of a section.
fn only_table(lines: &[&str], heading: &str) -> Vec<Vec<String>> {
    let mut found = tables(lines);
    assert_eq!(
        found.len(),
        1,
        "section `{heading}` should hold exactly one table"
    );
    found.remove(0)
}

/// Every ` ```hex <name>` block: its name, the line it starts on and its bytes.
fn hex_blocks(doc: &str) -> Vec<(String, usize, Vec<u8>)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, usize, Vec<u8>)> = None;
    for (index, line) in doc.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim();
        if let Some((name, start, bytes)) = current.take() {
            if trimmed.starts_with("```") {
                blocks.push((name, start, bytes));
                continue;
            }
            let mut bytes = bytes;
            let data = trimmed.split('#').next().unwrap_or("");
            for token in data.split_whitespace() {
                let valid = token.len() == 2 && token.chars().all(|c| c.is_ascii_hexdigit());
                assert!(
                    valid,
                    "line {number}: `{token}` is not a hex byte (block `{name}`)"
                );
                bytes.push(u8::from_str_radix(token, 16).expect("checked hex"));
            }
            current = Some((name, start, bytes));
        } else if let Some(info) = trimmed.strip_prefix("```hex") {
            let name = info.trim().to_string();
            assert!(
                !name.is_empty(),
                "line {number}: a hex block needs a name: ```hex <name>"
            );
            current = Some((name, number, Vec::new()));
        }
    }
    assert!(current.is_none(), "a hex block is not closed");
    blocks
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `CamelCase` to `snake_case`: the wire name of an enum variant from its `Debug` form.
fn snake(debug: &str) -> String {
    let mut out = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The examples
// ---------------------------------------------------------------------------------------------

/// One message, of either protocol, in either direction.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Msg {
    Client(ClientMsg),
    Server(ServerMsg),
    MdClient(MdClientMsg),
    MdServer(MdServerMsg),
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Msg::Client(m) => m.encode(&mut out),
            Msg::Server(m) => m.encode(&mut out),
            Msg::MdClient(m) => m.encode(&mut out),
            Msg::MdServer(m) => m.encode(&mut out),
        }
        out
    }

    /// Decodes a frame with the decoder of `self`'s protocol and direction.
    fn try_decode_like(&self, header: Header, body: &[u8]) -> Result<Msg, DecodeError> {
        match self {
            Msg::Client(_) => ClientMsg::decode(header, body).map(Msg::Client),
            Msg::Server(_) => ServerMsg::decode(header, body).map(Msg::Server),
            Msg::MdClient(_) => MdClientMsg::decode(header, body).map(Msg::MdClient),
            Msg::MdServer(_) => MdServerMsg::decode(header, body).map(Msg::MdServer),
        }
    }

    /// Decodes a frame in the same protocol and direction as `self`.
    fn decode_like(&self, header: Header, body: &[u8]) -> Msg {
        self.try_decode_like(header, body).unwrap_or_else(|err| {
            panic!("does not decode as a {} message: {err}", self.direction())
        })
    }

    fn direction(&self) -> &'static str {
        match self {
            Msg::Client(_) => "client",
            Msg::Server(_) => "server",
            Msg::MdClient(_) => "market-data subscriber",
            Msg::MdServer(_) => "market-data server",
        }
    }
}

const SECRET: [u8; 32] = [0x0b; 32];
const CHALLENGE: [u8; 32] = [0x11; 32];
const KEY_ID: u64 = 7;
const PROOF_HEX: &str = "9de028aba3a541082e13fff6b31cfb9e16d2e77cedbfbd1054ac53b7c4dcd2b9";

fn proof() -> [u8; 32] {
    let mut out = [0; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&PROOF_HEX[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

fn report(header: ReportHeader, body: ReportBody) -> Msg {
    Msg::Server(ServerMsg::Report(Report { header, body }))
}

/// The message each named example in the document must be.
fn examples() -> BTreeMap<&'static str, Msg> {
    let accepted_at = ReportHeader {
        journal_seq: 1235,
        ts_ns: 1_700_000_000_123_456_789,
        request_id: 1,
        event_index: 0,
        shard: 0,
    };
    let filled_at = ReportHeader {
        journal_seq: 1236,
        ts_ns: 1_700_000_001_000_000_000,
        request_id: 0,
        event_index: 2,
        shard: 0,
    };
    let rejected_at = ReportHeader {
        journal_seq: 1240,
        ts_ns: 1_700_000_002_000_000_000,
        request_id: 5,
        event_index: 0,
        shard: 0,
    };
    let mut examples = BTreeMap::from([
        (
            "login",
            Msg::Client(ClientMsg::Login(Login {
                key_id: KEY_ID,
                heartbeat_ms: 1000,
                cancel_on_disconnect: true,
                resume: Vec::new(),
            })),
        ),
        (
            "login_resume",
            Msg::Client(ClientMsg::Login(Login {
                key_id: KEY_ID,
                heartbeat_ms: 0,
                cancel_on_disconnect: false,
                resume: vec![ResumeCursor {
                    shard: 0,
                    journal_seq: 1236,
                    event_index: 2,
                }],
            })),
        ),
        (
            "challenge",
            Msg::Server(ServerMsg::Challenge { nonce: CHALLENGE }),
        ),
        (
            "login_proof",
            Msg::Client(ClientMsg::LoginProof {
                proof: login_proof(&SECRET, &CHALLENGE, KEY_ID),
            }),
        ),
        (
            "login_accepted",
            Msg::Server(ServerMsg::LoginAccepted(LoginAccepted {
                session_id: 1,
                server_time_ns: 1_700_000_000_000_000_000,
                account: AccountId(42),
                heartbeat_ms: 1000,
                cancel_on_disconnect: true,
                shard_count: 1,
                tier: Tier::Pro,
                role: Role::Trader,
            })),
        ),
        (
            "replay_complete",
            Msg::Server(ServerMsg::ReplayComplete {
                reports: 2,
                incomplete: false,
            }),
        ),
        (
            "new_order",
            Msg::Client(ClientMsg::NewOrder(NewOrder {
                request_id: 1,
                client_order_id: 1001,
                stake_minor: 10_000,
                market: MarketId(10),
                selection: SelectionId(1),
                odds_x100: 250,
                side: Side::Back,
                tif: TimeInForce::Gtc,
                persistence: Persistence::Lapse,
                post_only: false,
            })),
        ),
        (
            "order_accepted",
            report(
                accepted_at,
                ReportBody::OrderAccepted {
                    order_id: OrderId(5000),
                    client_order_id: 1001,
                    stake_minor: 10_000,
                    market: MarketId(10),
                    selection: SelectionId(1),
                    odds_x100: 250,
                    side: Side::Back,
                    tif: TimeInForce::Gtc,
                    persistence: Persistence::Lapse,
                    quote: false,
                },
            ),
        ),
        (
            "fill",
            report(
                filled_at,
                ReportBody::Fill {
                    order_id: OrderId(5000),
                    book_seq: 77,
                    stake_minor: 4000,
                    market: MarketId(10),
                    selection: SelectionId(1),
                    odds_x100: 250,
                    side: Side::Back,
                    liquidity: Liquidity::Maker,
                },
            ),
        ),
        (
            "order_rejected",
            report(
                rejected_at,
                ReportBody::OrderRejected {
                    client_order_id: Some(1001),
                    order_id: Some(OrderId(5000)),
                    market: Some(MarketId(10)),
                    reason: RejectReason::DuplicateClientOrderId,
                    command: CommandKind::PlaceOrder,
                },
            ),
        ),
        (
            "cancel",
            Msg::Client(ClientMsg::Cancel(Cancel {
                request_id: 2,
                market: MarketId(10),
                order: OrderRef::ClientOrderId(1001),
            })),
        ),
        (
            "mass_quote",
            Msg::Client(ClientMsg::MassQuote(MassQuote {
                request_id: 3,
                market: MarketId(10),
                quotes: vec![
                    QuoteEntry {
                        selection: SelectionId(1),
                        back_odds_x100: 250,
                        lay_odds_x100: 240,
                        back_stake_minor: 5000,
                        lay_stake_minor: 5000,
                    },
                    QuoteEntry {
                        selection: SelectionId(2),
                        back_odds_x100: 400,
                        lay_odds_x100: 0,
                        back_stake_minor: 2000,
                        lay_stake_minor: 0,
                    },
                ],
            })),
        ),
        (
            "request_rejected",
            Msg::Server(ServerMsg::RequestRejected {
                request_id: 4,
                msg_type: 0x0110,
                reason: RejectReason::InvalidOdds.code(),
            }),
        ),
        (
            "end_of_session",
            Msg::Server(ServerMsg::EndOfSession {
                reason: EndReason::HeartbeatTimeout,
                detail: "no message for 3000 ms".to_string(),
            }),
        ),
    ]);
    examples.extend(market_data_examples());
    examples
}

/// The market-data examples of section 14: market 10, with a single selection for brevity.
fn market_data_examples() -> BTreeMap<&'static str, Msg> {
    let odds = TickSelection {
        selection: SelectionId(1),
        back_x100: 250,
        lay_x100: 260,
        last_traded_x100: 250,
        indicative_x100: 0,
        implied_bps: 4000,
        reference_bps: 3900,
        matched_minor: 4000,
        pool_minor: 0,
    };
    let ticks_and_status = Streams::TICKS.with(Streams::STATUS);
    BTreeMap::from([
        (
            "md_subscribe",
            Msg::MdClient(MdClientMsg::Subscribe {
                request_id: 1,
                market: MarketId(10),
                streams: ticks_and_status,
            }),
        ),
        (
            "md_subscribed",
            Msg::MdServer(MdServerMsg::Subscribed {
                request_id: 1,
                market: MarketId(10),
                streams: ticks_and_status,
            }),
        ),
        (
            "md_snapshot",
            Msg::MdServer(MdServerMsg::Snapshot(Snapshot {
                market: MarketId(10),
                status: Some(MarketStatus::Open),
                flags: 0,
                tick_seq: 41,
                book_seq: 80,
                overround_bps: 4000,
                ts_ns: 1_700_000_004_000_000_000,
                selections: vec![SnapshotSelection {
                    odds,
                    backs: Depth {
                        odds_x100: [260, 270, 0],
                        stakes_minor: [6000, 2500, 0],
                    },
                    lays: Depth {
                        odds_x100: [250, 240, 0],
                        stakes_minor: [3000, 10_000, 0],
                    },
                }],
            })),
        ),
        (
            "md_tick",
            Msg::MdServer(MdServerMsg::Tick(Tick {
                market: MarketId(10),
                status: Some(MarketStatus::Open),
                flags: 0,
                tick_seq: 42,
                reason: Some(TickReason::Change),
                overround_bps: 4000,
                ts_ns: 1_700_000_005_000_000_000,
                selections: vec![TickSelection {
                    lay_x100: 255,
                    ..odds
                }],
            })),
        ),
        (
            "md_resync",
            Msg::MdClient(MdClientMsg::Resync {
                request_id: 2,
                market: MarketId(10),
            }),
        ),
        (
            "md_trade",
            Msg::MdServer(MdServerMsg::Trade {
                market: MarketId(10),
                selection: SelectionId(1),
                book_seq: 77,
                odds_x100: 250,
                taker_side: Side::Lay,
                stake_minor: 4000,
                ts_ns: 1_700_000_001_000_000_000,
            }),
        ),
        (
            "md_end",
            Msg::MdServer(MdServerMsg::End {
                reason: EndReason::SlowConsumer,
                detail: "more than 2000 ms behind".to_string(),
            }),
        ),
    ])
}

#[test]
fn every_hex_example_decodes_to_its_message_and_encodes_back() {
    let doc = doc();
    let examples = examples();
    let blocks = hex_blocks(&doc);
    let mut seen = BTreeSet::new();
    for (name, line, bytes) in &blocks {
        let Some(expected) = examples.get(name.as_str()) else {
            panic!(
                "line {line}: no example is called `{name}`; known: {:?}",
                examples.keys().collect::<Vec<_>>()
            );
        };
        assert!(
            seen.insert(name.clone()),
            "line {line}: example `{name}` appears twice"
        );
        let (header, body) = match split_frame(bytes, DEFAULT_MAX_FRAME) {
            Ok(Some(frame)) => frame,
            Ok(None) => panic!(
                "line {line}: `{name}` is not a whole frame ({} bytes)",
                bytes.len()
            ),
            Err(err) => panic!("line {line}: `{name}` has a bad frame header: {err}"),
        };
        assert_eq!(
            header.len as usize,
            bytes.len(),
            "line {line}: `{name}`: the length field does not match the bytes drawn"
        );
        let decoded = expected.decode_like(header, body);
        assert_eq!(
            &decoded, expected,
            "line {line}: `{name}` decodes to another message"
        );
        let encoded = expected.encode();
        assert_eq!(
            hex(&encoded),
            hex(bytes),
            "line {line}: `{name}`: the codec encodes the message differently (left: codec)"
        );
    }
    let missing: Vec<_> = examples
        .keys()
        .filter(|name| !seen.contains(**name))
        .collect();
    assert!(
        missing.is_empty(),
        "examples missing from the document: {missing:?}"
    );
}

#[test]
fn the_proof_example_is_the_hmac_of_the_challenge_example() {
    let computed = login_proof(&SECRET, &CHALLENGE, KEY_ID);
    assert_eq!(hex(&computed).replace(' ', ""), PROOF_HEX);
    assert_eq!(computed, proof());
    assert!(verify_proof(&SECRET, &CHALLENGE, KEY_ID, &computed));
    assert!(
        doc().contains(PROOF_HEX),
        "the document should spell the example proof out as one hex string"
    );
}

// ---------------------------------------------------------------------------------------------
// The message table and the layouts
// ---------------------------------------------------------------------------------------------

/// Every message type of the order-entry codec: code, name in the document, direction.
const ORDER_ENTRY_TYPES: [(u16, &str, &str); 45] = [
    (0x0101, "LOGIN", "C→S"),
    (0x0102, "LOGIN_PROOF", "C→S"),
    (0x0103, "LOGOUT", "C→S"),
    (0x0104, "HEARTBEAT", "C→S"),
    (0x0105, "DEAD_MAN", "C→S"),
    (0x0110, "NEW_ORDER", "C→S"),
    (0x0111, "CANCEL", "C→S"),
    (0x0112, "REPLACE", "C→S"),
    (0x0113, "MASS_CANCEL", "C→S"),
    (0x0114, "MASS_QUOTE", "C→S"),
    (0x0115, "PLACE_BET", "C→S"),
    (0x0116, "CANCEL_BET", "C→S"),
    (0x0117, "VOTE", "C→S"),
    (0x0118, "REFERENCE_ODDS", "C→S"),
    (0x0120, "GET_OPEN_ORDERS", "C→S"),
    (0x0121, "GET_POSITIONS", "C→S"),
    (0x0122, "GET_BALANCE", "C→S"),
    (0x0201, "CHALLENGE", "S→C"),
    (0x0202, "LOGIN_ACCEPTED", "S→C"),
    (0x0203, "LOGIN_REJECTED", "S→C"),
    (0x0204, "HEARTBEAT", "S→C"),
    (0x0205, "DEAD_MAN_STATUS", "S→C"),
    (0x0206, "REPLAY_COMPLETE", "S→C"),
    (0x0210, "ORDER_ACCEPTED", "S→C"),
    (0x0211, "ORDER_REJECTED", "S→C"),
    (0x0212, "ORDER_CANCELLED", "S→C"),
    (0x0213, "ORDER_REPLACED", "S→C"),
    (0x0214, "FILL", "S→C"),
    (0x0215, "ORDER_DELAYED", "S→C"),
    (0x0216, "BET_ACCEPTED", "S→C"),
    (0x0217, "BET_CANCELLED", "S→C"),
    (0x0218, "BET_SETTLED", "S→C"),
    (0x0219, "SETTLEMENT", "S→C"),
    (0x021A, "LEDGER", "S→C"),
    (0x021B, "KILL_SWITCH", "S→C"),
    (0x021C, "VOTE_ACCEPTED", "S→C"),
    (0x021D, "MARKET_STATUS", "S→C"),
    (0x0230, "OPEN_ORDERS", "S→C"),
    (0x0231, "POSITIONS", "S→C"),
    (0x0232, "BALANCE", "S→C"),
    (0x0240, "REQUEST_REJECTED", "S→C"),
    (0x0241, "THROTTLED", "S→C"),
    (0x0242, "BUSY", "S→C"),
    (0x0243, "REQUEST_DONE", "S→C"),
    (0x02FF, "END_OF_SESSION", "S→C"),
];

/// Every message type of the market-data codec: code, name in the document, direction.
const MARKET_DATA_TYPES: [(u16, &str, &str); 20] = [
    (0x0301, "LOGIN", "C→S"),
    (0x0302, "LOGIN_PROOF", "C→S"),
    (0x0303, "SUBSCRIBE", "C→S"),
    (0x0304, "UNSUBSCRIBE", "C→S"),
    (0x0305, "RESYNC", "C→S"),
    (0x0306, "HEARTBEAT", "C→S"),
    (0x0401, "CHALLENGE", "S→C"),
    (0x0402, "LOGIN_ACCEPTED", "S→C"),
    (0x0403, "LOGIN_REJECTED", "S→C"),
    (0x0404, "SUBSCRIBED", "S→C"),
    (0x0405, "REJECTED", "S→C"),
    (0x0406, "UNSUBSCRIBED", "S→C"),
    (0x0407, "SNAPSHOT", "S→C"),
    (0x0408, "TICK", "S→C"),
    (0x0409, "BOOK", "S→C"),
    (0x040A, "TRADE", "S→C"),
    (0x040B, "STATUS", "S→C"),
    (0x040C, "POOL", "S→C"),
    (0x040D, "HEARTBEAT", "S→C"),
    (0x040E, "END", "S→C"),
];

/// The heading of the order-entry message table.
const ORDER_ENTRY_TABLE: &str = "Message types";
/// The heading of the market-data message table.
const MARKET_DATA_TABLE: &str = "Market-data message types";

/// The codes a protocol's decoders know, found by asking them about every code: an unknown
/// code is refused as such, a known one with an empty body for its length.
fn decoder_codes(knows: impl Fn(Header) -> bool) -> BTreeSet<u16> {
    (0..=u16::MAX)
        .filter(|&kind| {
            knows(Header {
                len: HEADER_LEN as u32,
                kind,
                version: VERSION,
                flags: 0,
            })
        })
        .collect()
}

fn known<T>(decoded: Result<T, DecodeError>) -> bool {
    !matches!(decoded, Err(DecodeError::UnknownType(_)))
}

fn order_entry_knows(header: Header) -> bool {
    known(ClientMsg::decode(header, &[])) || known(ServerMsg::decode(header, &[]))
}

fn market_data_knows(header: Header) -> bool {
    known(MdClientMsg::decode(header, &[])) || known(MdServerMsg::decode(header, &[]))
}

/// A few messages of every type, each with the number of entries it carries (bytes of
/// detail for `END_OF_SESSION`), to measure sizes with.
fn samples() -> Vec<(usize, Msg)> {
    let rh = ReportHeader {
        journal_seq: 9,
        ts_ns: 8,
        request_id: 7,
        event_index: 6,
        shard: 5,
    };
    let ah = AnswerHeader {
        request_id: 1,
        shard: 0,
        last: true,
    };
    let cursor = ResumeCursor {
        shard: 1,
        journal_seq: 2,
        event_index: 3,
    };
    let quote = QuoteEntry {
        selection: SelectionId(1),
        back_odds_x100: 300,
        lay_odds_x100: 200,
        back_stake_minor: 10,
        lay_stake_minor: 20,
    };
    let open = OpenOrderEntry {
        order_id: OrderId(1),
        client_order_id: 2,
        remaining_minor: 3,
        market: MarketId(4),
        selection: SelectionId(5),
        odds_x100: 600,
        side: Side::Lay,
    };
    let position = PositionEntry {
        market: MarketId(1),
        open_orders: 2,
        exposure_minor: 3,
    };
    let balance = BalanceEntry {
        balance_minor: 1,
        exposure_minor: 2,
        open_orders: 3,
        max_open_orders: 4,
        kill_switch: true,
        tier: Tier::MarketMaker,
    };
    let login = |n: usize| Login {
        key_id: 1,
        heartbeat_ms: 2,
        cancel_on_disconnect: false,
        resume: vec![cursor; n],
    };
    let c = Msg::Client;
    let s = Msg::Server;
    let r = |body| report(rh, body);
    let mut out = vec![
        (0, c(ClientMsg::Login(login(0)))),
        (3, c(ClientMsg::Login(login(3)))),
        (0, c(ClientMsg::LoginProof { proof: [1; 32] })),
        (0, c(ClientMsg::Logout)),
        (0, c(ClientMsg::Heartbeat { ts_ns: 1 })),
        (0, c(ClientMsg::DeadMan { timeout_ms: 1 })),
        (
            0,
            c(ClientMsg::NewOrder(NewOrder {
                request_id: 1,
                client_order_id: 2,
                stake_minor: 3,
                market: MarketId(4),
                selection: SelectionId(5),
                odds_x100: 600,
                side: Side::Lay,
                tif: TimeInForce::Fok,
                persistence: Persistence::Persist,
                post_only: true,
            })),
        ),
        (
            0,
            c(ClientMsg::Cancel(Cancel {
                request_id: 1,
                market: MarketId(2),
                order: OrderRef::OrderId(OrderId(3)),
            })),
        ),
        (
            0,
            c(ClientMsg::Replace(Replace {
                request_id: 1,
                order_id: OrderId(2),
                stake_minor: 3,
                market: MarketId(4),
                odds_x100: 500,
            })),
        ),
        (
            0,
            c(ClientMsg::MassCancel(MassCancel {
                request_id: 1,
                scope: Scope::All,
            })),
        ),
        (
            0,
            c(ClientMsg::PlaceBet(PlaceBet {
                request_id: 1,
                client_order_id: 2,
                stake_minor: 3,
                market: MarketId(4),
                selection: SelectionId(5),
            })),
        ),
        (
            0,
            c(ClientMsg::CancelBet(CancelBet {
                request_id: 1,
                bet_id: OrderId(2),
                market: MarketId(3),
            })),
        ),
        (
            0,
            c(ClientMsg::Vote(Vote {
                request_id: 1,
                market: MarketId(2),
                selection: SelectionId(3),
            })),
        ),
        (
            0,
            c(ClientMsg::GetOpenOrders {
                request_id: 1,
                scope: Scope::Market(MarketId(2)),
            }),
        ),
        (0, c(ClientMsg::GetPositions { request_id: 1 })),
        (0, c(ClientMsg::GetBalance { request_id: 1 })),
        (0, s(ServerMsg::Challenge { nonce: [2; 32] })),
        (
            0,
            s(ServerMsg::LoginAccepted(LoginAccepted {
                session_id: 1,
                server_time_ns: 2,
                account: AccountId(3),
                heartbeat_ms: 4,
                cancel_on_disconnect: false,
                shard_count: 5,
                tier: Tier::Free,
                role: Role::Feed,
            })),
        ),
        (
            0,
            s(ServerMsg::LoginRejected {
                reason: LoginReject::BadProof,
            }),
        ),
        (0, s(ServerMsg::Heartbeat { ts_ns: 1 })),
        (
            0,
            s(ServerMsg::DeadManStatus {
                timeout_ms: 1,
                fired: true,
            }),
        ),
        (
            0,
            s(ServerMsg::ReplayComplete {
                reports: 1,
                incomplete: true,
            }),
        ),
        (
            0,
            r(ReportBody::OrderAccepted {
                order_id: OrderId(1),
                client_order_id: 0,
                stake_minor: 2,
                market: MarketId(3),
                selection: SelectionId(4),
                odds_x100: 500,
                side: Side::Lay,
                tif: TimeInForce::Ioc,
                persistence: Persistence::Persist,
                quote: true,
            }),
        ),
        (
            0,
            r(ReportBody::OrderRejected {
                client_order_id: None,
                order_id: Some(OrderId(1)),
                market: None,
                reason: RejectReason::UnknownOrder,
                command: CommandKind::CancelOrder,
            }),
        ),
        (
            0,
            r(ReportBody::OrderCancelled {
                order_id: OrderId(1),
                stake_minor: 2,
                market: MarketId(3),
                selection: SelectionId(4),
                side: Side::Back,
                reason: CancelReason::IocRemainder,
            }),
        ),
        (
            0,
            r(ReportBody::OrderReplaced {
                order_id: OrderId(1),
                stake_minor: 2,
                market: MarketId(3),
                selection: SelectionId(4),
                odds_x100: 500,
                side: Side::Back,
                priority_kept: true,
            }),
        ),
        (
            0,
            r(ReportBody::Fill {
                order_id: OrderId(1),
                book_seq: 2,
                stake_minor: 3,
                market: MarketId(4),
                selection: SelectionId(5),
                odds_x100: 600,
                side: Side::Lay,
                liquidity: Liquidity::Taker,
            }),
        ),
        (
            0,
            r(ReportBody::OrderDelayed {
                order_id: OrderId(1),
                until_ns: 2,
                market: MarketId(3),
            }),
        ),
        (
            0,
            r(ReportBody::BetAccepted {
                bet_id: OrderId(1),
                client_order_id: 2,
                stake_minor: 3,
                market: MarketId(4),
                selection: SelectionId(5),
            }),
        ),
        (
            0,
            r(ReportBody::BetCancelled {
                bet_id: OrderId(1),
                stake_minor: 2,
                market: MarketId(3),
                selection: SelectionId(4),
            }),
        ),
        (
            0,
            r(ReportBody::BetSettled {
                bet_id: OrderId(1),
                stake_minor: 2,
                payout_minor: 3,
                market: MarketId(4),
            }),
        ),
        (
            0,
            r(ReportBody::Settlement {
                pnl_minor: -1,
                commission_minor: 2,
                market: MarketId(3),
            }),
        ),
        (
            0,
            r(ReportBody::Ledger {
                amount_minor: -1,
                balance_minor: 2,
                reference: 3,
                kind: PostingKind::Commission,
            }),
        ),
        (0, r(ReportBody::KillSwitch { on: true })),
        (
            0,
            r(ReportBody::VoteAccepted {
                weight: 1,
                market: MarketId(2),
                selection: SelectionId(3),
                replaced: true,
            }),
        ),
        (
            0,
            r(ReportBody::MarketStatus {
                book_seq: 1,
                market: MarketId(2),
                status: MarketStatus::Suspended,
                cause: StatusCause::CircuitBreaker,
            }),
        ),
        (
            0,
            s(ServerMsg::Balance {
                header: ah,
                balance: None,
            }),
        ),
        (
            1,
            s(ServerMsg::Balance {
                header: ah,
                balance: Some(balance),
            }),
        ),
        (
            0,
            s(ServerMsg::RequestRejected {
                request_id: 1,
                msg_type: 2,
                reason: 600,
            }),
        ),
        (
            0,
            s(ServerMsg::Throttled {
                request_id: 1,
                msg_type: 2,
                limit: ThrottleKind::Cancels,
                retry_after_ms: 3,
            }),
        ),
        (
            0,
            s(ServerMsg::Busy {
                request_id: 1,
                msg_type: 2,
                shard: 3,
            }),
        ),
        (
            0,
            s(ServerMsg::RequestDone {
                request_id: 1,
                msg_type: 2,
                shard: 3,
                journal_seq: 4,
            }),
        ),
        (
            0,
            s(ServerMsg::EndOfSession {
                reason: EndReason::Logout,
                detail: String::new(),
            }),
        ),
        (
            5,
            s(ServerMsg::EndOfSession {
                reason: EndReason::Shutdown,
                detail: "bye!\n".to_string(),
            }),
        ),
    ];
    for n in [0, 3] {
        out.push((
            n,
            c(ClientMsg::MassQuote(MassQuote {
                request_id: 1,
                market: MarketId(2),
                quotes: vec![quote; n],
            })),
        ));
        out.push((
            n,
            c(ClientMsg::ReferenceOdds(ReferenceOdds {
                request_id: 1,
                market: MarketId(2),
                probabilities_bps: vec![5000; n],
            })),
        ));
        out.push((
            n,
            s(ServerMsg::OpenOrders {
                header: ah,
                orders: vec![open; n],
            }),
        ));
        out.push((
            n,
            s(ServerMsg::Positions {
                header: ah,
                positions: vec![position; n],
            }),
        ));
    }
    out.extend(market_data_samples());
    out
}

/// The market-data part of [`samples`]; the count is of selections (of detail bytes for END).
/// Every field holds a value other than zero, so that a byte the decoder ignored would show.
fn market_data_samples() -> Vec<(usize, Msg)> {
    let odds = TickSelection {
        selection: SelectionId(1),
        back_x100: 2,
        lay_x100: 3,
        last_traded_x100: 4,
        indicative_x100: 5,
        implied_bps: 6,
        reference_bps: 7,
        matched_minor: 8,
        pool_minor: -9,
    };
    let depth = Depth {
        odds_x100: [10, 11, 12],
        stakes_minor: [13, 14, -15],
    };
    let snapshot = |n: usize| Snapshot {
        market: MarketId(1),
        status: Some(MarketStatus::Open),
        flags: FLAG_CONFLATED,
        tick_seq: 2,
        book_seq: 3,
        overround_bps: 4,
        ts_ns: 5,
        selections: vec![
            SnapshotSelection {
                odds,
                backs: depth,
                lays: depth,
            };
            n
        ],
    };
    let tick = |n: usize| Tick {
        market: MarketId(1),
        status: Some(MarketStatus::Suspended),
        flags: FLAG_CONFLATED,
        tick_seq: 2,
        reason: Some(TickReason::Status),
        overround_bps: 3,
        ts_ns: 4,
        selections: vec![odds; n],
    };
    let c = Msg::MdClient;
    let s = Msg::MdServer;
    let mut out = vec![
        (0, c(MdClientMsg::Login { key_id: 1 })),
        (0, c(MdClientMsg::LoginProof { proof: [1; 32] })),
        (
            0,
            c(MdClientMsg::Subscribe {
                request_id: 1,
                market: MarketId(2),
                streams: Streams::ALL,
            }),
        ),
        (
            0,
            c(MdClientMsg::Unsubscribe {
                request_id: 1,
                market: MarketId(2),
                streams: Streams::BOOK,
            }),
        ),
        (
            0,
            c(MdClientMsg::Resync {
                request_id: 1,
                market: MarketId(2),
            }),
        ),
        (0, c(MdClientMsg::Heartbeat)),
        (0, s(MdServerMsg::Challenge { challenge: [2; 32] })),
        (
            0,
            s(MdServerMsg::LoginAccepted {
                account: 1,
                tier: Tier::Basic,
            }),
        ),
        (
            0,
            s(MdServerMsg::LoginRejected {
                reason: LoginReject::UnknownKey,
            }),
        ),
        (
            0,
            s(MdServerMsg::Subscribed {
                request_id: 1,
                market: MarketId(2),
                streams: Streams::TICKS,
            }),
        ),
        (
            0,
            s(MdServerMsg::Rejected {
                request_id: 1,
                market: MarketId(2),
                reason: SubscribeReject::TooManySubscriptions,
            }),
        ),
        (
            0,
            s(MdServerMsg::Unsubscribed {
                request_id: 1,
                market: MarketId(2),
                streams: Streams::STATUS,
            }),
        ),
        (
            0,
            s(MdServerMsg::Book {
                market: MarketId(1),
                selection: SelectionId(2),
                book_seq: 3,
                side: Side::Lay,
                depth,
                ts_ns: 4,
            }),
        ),
        (
            0,
            s(MdServerMsg::Trade {
                market: MarketId(1),
                selection: SelectionId(2),
                book_seq: 3,
                odds_x100: 4,
                taker_side: Side::Back,
                stake_minor: 5,
                ts_ns: 6,
            }),
        ),
        (
            0,
            s(MdServerMsg::Status {
                market: MarketId(1),
                status: MarketStatus::Closed,
                cause: StatusCause::Vote,
                flags: 0,
                book_seq: 2,
                ts_ns: 3,
            }),
        ),
        (
            0,
            s(MdServerMsg::Pool {
                market: MarketId(1),
                selection: SelectionId(2),
                book_seq: 3,
                pool_minor: 4,
                total_minor: 5,
                ts_ns: 6,
            }),
        ),
        (0, s(MdServerMsg::Heartbeat)),
        (
            0,
            s(MdServerMsg::End {
                reason: EndReason::ServerFull,
                detail: String::new(),
            }),
        ),
        (
            5,
            s(MdServerMsg::End {
                reason: EndReason::Shutdown,
                detail: "bye!\n".to_string(),
            }),
        ),
    ];
    for n in [0, 1, 3] {
        out.push((n, s(MdServerMsg::Snapshot(snapshot(n)))));
        out.push((n, s(MdServerMsg::Tick(tick(n)))));
    }
    out
}

fn kind_of(frame: &[u8]) -> u16 {
    u16::from_le_bytes([frame[4], frame[5]])
}

/// The document's name of a message: its variant's name in `UPPER_SNAKE_CASE` (a report's
/// body variant for reports).
fn doc_name(msg: &Msg) -> String {
    let debug = match msg {
        Msg::Client(m) => format!("{m:?}"),
        Msg::Server(ServerMsg::Report(report)) => format!("{:?}", report.body),
        Msg::Server(m) => format!("{m:?}"),
        Msg::MdClient(m) => format!("{m:?}"),
        Msg::MdServer(m) => format!("{m:?}"),
    };
    let variant: String = debug
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    snake(&variant).to_uppercase()
}

/// A size cell: `48` (fixed) or `32 + 16n` (fixed part plus bytes per entry; `16 + d`: one
/// byte per unit).
fn parse_size(cell: &str) -> (usize, Option<usize>) {
    let digits = |text: &str| -> Option<usize> {
        let number: String = text.chars().filter(char::is_ascii_digit).collect();
        (!number.is_empty()).then(|| number.parse().expect("digits"))
    };
    match cell.split_once('+') {
        None => (
            digits(cell).unwrap_or_else(|| panic!("bad size `{cell}`")),
            None,
        ),
        Some((fixed, per)) => (
            digits(fixed).unwrap_or_else(|| panic!("bad size `{cell}`")),
            Some(digits(per).unwrap_or(1)),
        ),
    }
}

/// A message table: code -> (direction, name, fixed size, bytes per entry).
type MessageTable = BTreeMap<u16, (String, String, usize, Option<usize>)>;

/// The message table of one part of the document, in the section with this heading.
fn message_table(part: &str, heading: &str) -> MessageTable {
    let sections = sections(part);
    let table = only_table(section(&sections, heading), heading);
    assert_eq!(
        table[0][..4],
        ["code", "direction", "name", "size"].map(String::from),
        "the message table's columns"
    );
    let mut out = BTreeMap::new();
    for row in &table[1..] {
        let code = row[0]
            .strip_prefix("0x")
            .and_then(|hex| u16::from_str_radix(hex, 16).ok())
            .unwrap_or_else(|| panic!("bad code `{}` in the message table", row[0]));
        let (fixed, per) = parse_size(&row[3]);
        let name = row[2].clone();
        let previous = out.insert(code, (row[1].clone(), name, fixed, per));
        assert!(
            previous.is_none(),
            "code 0x{code:04X} appears twice in the message table"
        );
    }
    out
}

/// Both message tables in one (their codes never overlap: see
/// `the_market_data_message_table_lists_every_type_of_the_codec`).
fn all_message_tables(doc: &str) -> MessageTable {
    let (order_entry, market_data) = parts(doc);
    let mut table = message_table(order_entry, ORDER_ENTRY_TABLE);
    table.extend(message_table(market_data, MARKET_DATA_TABLE));
    table
}

/// Checks that a message table lists exactly a codec's types (`types`, which must be what
/// the codec's decoders know, `decoded`), under their names and directions.
fn check_message_table(
    table: &MessageTable,
    types: &[(u16, &str, &str)],
    decoded: &BTreeSet<u16>,
    what: &str,
) {
    let listed: BTreeSet<u16> = types.iter().map(|(code, _, _)| *code).collect();
    assert_eq!(
        listed.len(),
        types.len(),
        "{what}: a code is listed twice in this test"
    );
    assert_eq!(
        decoded, &listed,
        "{what}: the codec's decoders know other codes than this test lists"
    );
    let documented: BTreeSet<u16> = table.keys().copied().collect();
    let missing: Vec<String> = listed
        .difference(&documented)
        .map(|c| format!("0x{c:04X}"))
        .collect();
    let extra: Vec<String> = documented
        .difference(&listed)
        .map(|c| format!("0x{c:04X}"))
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: types missing from the message table: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "{what}: types in the message table the codec does not know: {extra:?}"
    );
    for (code, name, direction) in types {
        let (doc_direction, doc_name, _, _) = &table[code];
        assert_eq!(doc_name, name, "{what}: name of 0x{code:04X}");
        assert_eq!(
            doc_direction, direction,
            "{what}: direction of 0x{code:04X}"
        );
    }
}

#[test]
fn the_message_table_lists_every_type_of_the_codec() {
    let doc = doc();
    let (order_entry, _) = parts(&doc);
    check_message_table(
        &message_table(order_entry, ORDER_ENTRY_TABLE),
        &ORDER_ENTRY_TYPES,
        &decoder_codes(order_entry_knows),
        "order entry",
    );
}

#[test]
fn the_market_data_message_table_lists_every_type_of_the_codec() {
    let doc = doc();
    let (_, market_data) = parts(&doc);
    let market_data_codes = decoder_codes(market_data_knows);
    check_message_table(
        &message_table(market_data, MARKET_DATA_TABLE),
        &MARKET_DATA_TYPES,
        &market_data_codes,
        "market data",
    );
    // A frame sent to the other protocol's port is an unknown type there.
    let shared: Vec<_> = decoder_codes(order_entry_knows)
        .intersection(&market_data_codes)
        .map(|c| format!("0x{c:04X}"))
        .collect();
    assert!(shared.is_empty(), "types both protocols decode: {shared:?}");
}

#[test]
fn the_message_table_sizes_are_what_the_codec_encodes() {
    let table = all_message_tables(&doc());
    let mut measured = BTreeSet::new();
    for (n, msg) in samples() {
        let frame = msg.encode();
        let kind = kind_of(&frame);
        measured.insert(kind);
        let Some((_, name, fixed, per)) = table.get(&kind) else {
            panic!("0x{kind:04X} is not in the message table");
        };
        assert_eq!(
            name,
            &doc_name(&msg),
            "the codec encodes {} as 0x{kind:04X}, which the table calls {name}",
            doc_name(&msg)
        );
        let expected = fixed + per.unwrap_or(0) * n;
        assert_eq!(
            frame.len(),
            expected,
            "{name} with {n} entries: the codec encodes {} bytes, the table says {expected}",
            frame.len()
        );
        if per.is_none() {
            assert_eq!(
                n, 0,
                "{name} is fixed-size in the table but the sample counts entries"
            );
        }
        // Each sample also decodes to itself.
        let (header, body) = split_frame(&frame, DEFAULT_MAX_FRAME)
            .expect("sample frame")
            .expect("whole frame");
        assert_eq!(msg.decode_like(header, body), msg, "{name} round trip");
    }
    let untested: Vec<_> = table
        .keys()
        .filter(|code| !measured.contains(code))
        .collect();
    assert!(untested.is_empty(), "no sample for {untested:?}");
}

/// Bytes of a field's type, when the type says.
fn type_width(ty: &str) -> Option<usize> {
    match ty {
        "u8" => Some(1),
        "u16" => Some(2),
        "u32" => Some(4),
        "u64" | "i64" => Some(8),
        _ => None,
    }
}

/// Checks a layout table (`offset | size | type | field | meaning`): offsets contiguous from
/// `start`; at most a last row of variable size; a field whose type is a scalar or a named
/// layout (`named`: its size) as large as that type. Returns where the fixed part ends.
fn check_layout(
    table: &[Vec<String>],
    start: usize,
    what: &str,
    named: &BTreeMap<&str, usize>,
) -> usize {
    assert_eq!(
        table[0][..4],
        ["offset", "size", "type", "field"].map(String::from),
        "{what}: layout columns"
    );
    let rows = &table[1..];
    let mut at = start;
    for (i, row) in rows.iter().enumerate() {
        let offset: usize = row[0]
            .parse()
            .unwrap_or_else(|_| panic!("{what}: bad offset `{}`", row[0]));
        assert_eq!(
            offset, at,
            "{what}: field `{}` should be at offset {at}",
            row[3]
        );
        match row[1].parse::<usize>() {
            Ok(size) => {
                let width = type_width(&row[2]).or_else(|| named.get(row[2].as_str()).copied());
                if let Some(width) = width {
                    assert_eq!(
                        size, width,
                        "{what}: `{}` is a {} of {width} bytes, not {size}",
                        row[3], row[2]
                    );
                }
                at += size;
            }
            Err(_) => {
                assert_eq!(
                    i,
                    rows.len() - 1,
                    "{what}: only the last field may vary in size"
                );
            }
        }
    }
    at
}

/// The layout tables (first column `offset`) among a section's lines.
fn layout_tables(lines: &[&str]) -> Vec<Vec<Vec<String>>> {
    tables(lines)
        .into_iter()
        .filter(|t| t[0].first().map(String::as_str) == Some("offset"))
        .collect()
}

/// The message type a section draws, from its heading (`0x0110 NEW_ORDER`).
fn section_code(heading: &str) -> Option<u16> {
    heading
        .strip_prefix("0x")
        .and_then(|rest| rest.get(..4))
        .and_then(|hex| u16::from_str_radix(hex, 16).ok())
}

/// Layouts drawn in a section of their own and used as a field's type in others: the type's
/// name, the section's heading, the offset the table starts at (8 for a header at the start of
/// a body, 0 for a part of an entry) and its size.
const SUB_LAYOUTS: [(&str, &str, usize, usize); 3] = [
    ("report header", "Report header", 8, 32),
    ("answer header", "Answer header", 8, 16),
    ("depth", "Depth", 0, 40),
];

/// The layouts other layouts use as a field's type, by type name: the sub-layouts, and a
/// TICK's selection entry (a SNAPSHOT's selection entry starts with one).
struct NamedLayouts {
    /// Each one's table and the offset it starts at.
    tables: BTreeMap<&'static str, (Vec<Vec<String>>, usize)>,
    /// Each one's size.
    sizes: BTreeMap<&'static str, usize>,
}

fn named_layouts(sections: &[(String, Vec<&str>)]) -> NamedLayouts {
    let mut tables = BTreeMap::new();
    let mut sizes = BTreeMap::new();
    for (ty, heading, start, size) in SUB_LAYOUTS {
        let mut found = layout_tables(section(sections, heading));
        assert_eq!(found.len(), 1, "section `{heading}` should hold one layout");
        let table = found.remove(0);
        assert_eq!(
            check_layout(&table, start, heading, &BTreeMap::new()),
            start + size,
            "{heading}: its size"
        );
        tables.insert(ty, (table, start));
        sizes.insert(ty, size);
    }
    let heading = "0x0408 TICK";
    let mut tick = layout_tables(section(sections, heading));
    assert_eq!(
        tick.len(),
        2,
        "{heading} draws its body and its selection entry"
    );
    let entry = tick.remove(1);
    let size = check_layout(&entry, 0, heading, &BTreeMap::new());
    tables.insert("tick selection", (entry, 0));
    sizes.insert("tick selection", size);
    NamedLayouts { tables, sizes }
}

/// Checks every layout section of one part of the document against its message table.
fn check_layouts(part: &str, table: &MessageTable, named: &BTreeMap<&str, usize>) {
    let mut drawn = BTreeSet::new();
    for (heading, lines) in &sections(part) {
        let layouts = layout_tables(lines);
        let Some(code) = section_code(heading) else {
            continue;
        };
        let Some((_, name, fixed, per)) = table.get(&code) else {
            panic!("section `{heading}` draws a type missing from the message table");
        };
        assert_eq!(heading, &format!("0x{code:04X} {name}"), "section heading");
        assert!(drawn.insert(code), "0x{code:04X} is drawn twice");
        match (layouts.as_slice(), per) {
            ([], None) => assert_eq!(*fixed, HEADER_LEN, "{name} has a body but no layout"),
            ([body], None) => {
                assert_eq!(
                    check_layout(body, 8, name, named),
                    *fixed,
                    "{name}: layout vs size"
                );
            }
            ([body], Some(1)) => {
                // A trailing field of variable length (END_OF_SESSION's and END's detail).
                assert_eq!(
                    check_layout(body, 8, name, named),
                    *fixed,
                    "{name}: layout vs size"
                );
                let last = body.last().expect("rows");
                assert!(
                    last[1].parse::<usize>().is_err(),
                    "{name}: the last field varies"
                );
            }
            ([body, entry], Some(per)) => {
                assert_eq!(
                    check_layout(body, 8, name, named),
                    *fixed,
                    "{name}: layout vs size"
                );
                assert_eq!(
                    check_layout(entry, 0, name, named),
                    *per,
                    "{name}: entry layout vs size"
                );
            }
            _ => panic!(
                "{name}: unexpected number of layout tables ({})",
                layouts.len()
            ),
        }
    }
    let undrawn: Vec<String> = table
        .iter()
        .filter(|(code, _)| !drawn.contains(code))
        .map(|(_, (_, name, _, _))| name.clone())
        .collect();
    assert!(
        undrawn.is_empty(),
        "messages without a layout section: {undrawn:?}"
    );
}

#[test]
fn every_layout_adds_up_to_its_size() {
    let doc = doc();
    let named = named_layouts(&sections(&doc));
    let (order_entry, market_data) = parts(&doc);
    check_layouts(
        order_entry,
        &message_table(order_entry, ORDER_ENTRY_TABLE),
        &named.sizes,
    );
    check_layouts(
        market_data,
        &message_table(market_data, MARKET_DATA_TABLE),
        &named.sizes,
    );
}

/// One field of a frame where the document places it.
struct Field {
    /// Its offset in the frame.
    start: usize,
    /// Its bytes.
    len: usize,
    ty: String,
    name: String,
    meaning: String,
}

/// Lays a layout table (whose offsets start at `table_start`) over a frame of `frame_len`
/// bytes from offset `at`, expanding named layouts and the entries of a trailing array.
fn lay_out(
    table: &[Vec<String>],
    table_start: usize,
    at: usize,
    frame_len: usize,
    entry: Option<&[Vec<String>]>,
    named: &NamedLayouts,
    out: &mut Vec<Field>,
) {
    for row in &table[1..] {
        let offset: usize = row[0].parse().expect("offsets are checked");
        let start = at + offset - table_start;
        let (ty, name) = (&row[2], &row[3]);
        let field = |len| Field {
            start,
            len,
            ty: ty.clone(),
            name: name.clone(),
            meaning: row.get(4).cloned().unwrap_or_default(),
        };
        match (row[1].parse::<usize>(), named.tables.get(ty.as_str())) {
            (Ok(_), Some((sub, sub_start))) => {
                lay_out(sub, *sub_start, start, frame_len, None, named, out);
            }
            (Ok(len), None) => out.push(field(len)),
            (Err(_), _) if ty.ends_with("[]") => {
                let entry = entry.unwrap_or_else(|| panic!("`{name}` has no entry table"));
                let size = check_layout(entry, 0, name, &named.sizes);
                let bytes = frame_len - start;
                assert_eq!(
                    bytes % size,
                    0,
                    "`{name}`: {bytes} bytes of {size}-byte entries"
                );
                for i in 0..bytes / size {
                    lay_out(entry, 0, start + i * size, frame_len, None, named, out);
                }
            }
            (Err(_), _) => out.push(field(frame_len - start)),
        }
    }
}

/// Lays each sample's layout over its encoded frame: the fields must cover the frame exactly.
/// Then changes each byte in turn: a reserved byte must be refused as such (reason 603), a
/// field that must be zero in some cases may be, and no other byte may be; a changed byte
/// that still decodes must give another message, which encodes to the changed frame.
#[test]
fn every_byte_of_every_sample_is_a_field_the_decoder_reads_or_a_reserved_byte_it_checks() {
    let doc = doc();
    let named = named_layouts(&sections(&doc));
    let (order_entry, market_data) = parts(&doc);
    let mut layouts = BTreeMap::new();
    for part in [order_entry, market_data] {
        for (heading, lines) in &sections(part) {
            if let Some(code) = section_code(heading) {
                layouts.insert(code, layout_tables(lines));
            }
        }
    }
    for (_, msg) in samples() {
        let frame = msg.encode();
        let name = doc_name(&msg);
        let tables = &layouts[&kind_of(&frame)];
        let mut fields = Vec::new();
        if let Some(body) = tables.first() {
            let entry = tables.get(1).map(Vec::as_slice);
            lay_out(body, 8, 8, frame.len(), entry, &named, &mut fields);
        }
        let mut at = HEADER_LEN;
        for field in &fields {
            assert_eq!(
                field.start, at,
                "{name}: `{}` should start at {at}",
                field.name
            );
            at += field.len;
        }
        assert_eq!(at, frame.len(), "{name}: the layout's length");
        for field in &fields {
            let reserved = field.ty == "bytes" && field.name == "reserved";
            // Fields that must be zero in some cases, and are refused like reserved bytes.
            let zero_when = field.meaning.contains("603") || field.meaning.contains("when absent");
            for i in field.start..field.start + field.len {
                let mut changed = frame.clone();
                changed[i] ^= 0x5A;
                let (header, body) = split_frame(&changed, DEFAULT_MAX_FRAME)
                    .expect("the header is unchanged")
                    .expect("whole frame");
                let what = format!("{name} with byte {i} (`{}`) changed", field.name);
                match msg.try_decode_like(header, body) {
                    Err(DecodeError::Reserved(offset)) => assert!(
                        (reserved && offset == i) || (zero_when && offset == field.start),
                        "{what}: refused for reserved byte {offset}"
                    ),
                    result if reserved => {
                        panic!("{what}: a reserved byte not zero, yet decoded as {result:?}")
                    }
                    Ok(decoded) => {
                        assert_ne!(decoded, msg, "{what}: the decoder ignores the byte");
                        assert_eq!(
                            hex(&decoded.encode()),
                            hex(&changed),
                            "{what}: decodes to a message that encodes to other bytes"
                        );
                    }
                    Err(_) => {}
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Enumerations
// ---------------------------------------------------------------------------------------------

/// The `code | name` pairs of the table in the section with this heading.
fn doc_codes(sections: &[(String, Vec<&str>)], heading: &str) -> BTreeSet<(u16, String)> {
    let table = only_table(section(sections, heading), heading);
    assert_eq!(
        table[0][..2],
        ["code", "name"].map(String::from),
        "`{heading}` columns"
    );
    table[1..]
        .iter()
        .map(|row| {
            let code = row[0]
                .parse()
                .unwrap_or_else(|_| panic!("`{heading}`: bad code `{}`", row[0]));
            (code, row[1].clone())
        })
        .collect()
}

/// Every code the codec accepts for `T`, with its name.
fn wire_codes<T: WireEnum + Debug>() -> BTreeSet<(u16, String)> {
    (0..=u8::MAX)
        .filter_map(|code| T::from_wire(code).map(|v| (u16::from(code), snake(&format!("{v:?}")))))
        .collect()
}

/// Every gateway reject reason (the match makes a new variant a compile error here).
fn protocol_rejects() -> Vec<ProtocolReject> {
    let all = vec![
        ProtocolReject::Malformed,
        ProtocolReject::UnknownType,
        ProtocolReject::UnsupportedVersion,
        ProtocolReject::ReservedNotZero,
        ProtocolReject::InvalidEnum,
        ProtocolReject::NotLoggedIn,
        ProtocolReject::ShardStopped,
    ];
    for reject in &all {
        match reject {
            ProtocolReject::Malformed
            | ProtocolReject::UnknownType
            | ProtocolReject::UnsupportedVersion
            | ProtocolReject::ReservedNotZero
            | ProtocolReject::InvalidEnum
            | ProtocolReject::NotLoggedIn
            | ProtocolReject::ShardStopped => {}
        }
    }
    all
}

#[test]
fn every_enumeration_table_holds_the_codecs_codes() {
    let doc = doc();
    let sections = sections(&doc);
    let checks: Vec<(&str, BTreeSet<(u16, String)>)> = vec![
        ("Side", wire_codes::<Side>()),
        ("Time in force", wire_codes::<TimeInForce>()),
        ("Persistence", wire_codes::<Persistence>()),
        ("Market status", wire_codes::<MarketStatus>()),
        ("Status cause", wire_codes::<StatusCause>()),
        ("Cancel reason", wire_codes::<CancelReason>()),
        ("Posting kind", wire_codes::<PostingKind>()),
        ("Tier", wire_codes::<Tier>()),
        ("Role", wire_codes::<Role>()),
        ("Liquidity", wire_codes::<Liquidity>()),
        ("Throttle kind", wire_codes::<ThrottleKind>()),
        ("Login reject reason", wire_codes::<LoginReject>()),
        ("End-of-session reason", wire_codes::<EndReason>()),
        ("Subscribe reject reason", wire_codes::<SubscribeReject>()),
        ("Tick reason", wire_codes::<TickReason>()),
        (
            "Command kind",
            (0..=u8::MAX)
                .filter_map(|code| {
                    command_kind_from_code(code)
                        .map(|k| (u16::from(code), snake(&format!("{k:?}"))))
                })
                .collect(),
        ),
        (
            "Engine reject reasons",
            RejectReason::ALL
                .iter()
                .map(|r| (r.code(), r.name().to_string()))
                .collect(),
        ),
        (
            "Gateway reject reasons",
            protocol_rejects()
                .into_iter()
                .map(|r| (r.code(), snake(&format!("{r:?}"))))
                .collect(),
        ),
    ];
    for (heading, expected) in checks {
        let documented = doc_codes(&sections, heading);
        let missing: Vec<_> = expected.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&expected).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "table `{heading}` disagrees with the codec: missing {missing:?}, not in the codec {extra:?}"
        );
    }
    for reason in RejectReason::ALL {
        assert_eq!(RejectReason::from_code(reason.code()), Some(reason));
    }
}

/// Decodes one market-data frame in the direction of `msg`.
fn decode_md_like(msg: &Msg, frame: &[u8]) -> Result<Msg, DecodeError> {
    let (header, body) = split_frame(frame, DEFAULT_MAX_FRAME)
        .expect("frame header")
        .expect("whole frame");
    msg.try_decode_like(header, body)
}

/// The `Streams` table holds one bit per stream, under the names `Streams::parse` knows, and
/// together they are every stream; a subscription decodes exactly when its mask is a non-empty
/// set of them. The flags table holds the one flag SNAPSHOT and TICK may carry.
#[test]
fn the_stream_and_flag_tables_hold_the_codecs_bits() {
    let doc = doc();
    let sections = sections(&doc);
    let mut union = 0u8;
    for (code, name) in doc_codes(&sections, "Streams") {
        let bit = u8::try_from(code).expect("a stream code fits the u8 mask");
        assert!(bit.is_power_of_two(), "stream `{name}` is one bit");
        assert_eq!(Streams::parse(&name), Some(Streams(bit)), "stream `{name}`");
        union |= bit;
    }
    assert_eq!(
        Streams(union),
        Streams::ALL,
        "the documented streams are all of them"
    );
    for mask in 0..=u8::MAX {
        for msg in [
            MdClientMsg::Subscribe {
                request_id: 1,
                market: MarketId(2),
                streams: Streams(mask),
            },
            MdClientMsg::Unsubscribe {
                request_id: 1,
                market: MarketId(2),
                streams: Streams(mask),
            },
        ] {
            let msg = Msg::MdClient(msg);
            let documented = mask != 0 && mask & !union == 0;
            assert_eq!(
                decode_md_like(&msg, &msg.encode()).is_ok(),
                documented,
                "{msg:?}"
            );
        }
    }

    // The flag's name is the constant's, `FLAG_CONFLATED`, in the document's spelling.
    let flags = doc_codes(&sections, "Snapshot and tick flags");
    assert_eq!(
        flags,
        BTreeSet::from([(u16::from(FLAG_CONFLATED), "conflated".to_string())])
    );
    for flags in 0..=u8::MAX {
        let snapshot = Msg::MdServer(MdServerMsg::Snapshot(Snapshot {
            market: MarketId(1),
            status: None,
            flags,
            tick_seq: 0,
            book_seq: 0,
            overround_bps: 0,
            ts_ns: 0,
            selections: Vec::new(),
        }));
        let tick = Msg::MdServer(MdServerMsg::Tick(Tick {
            market: MarketId(1),
            status: None,
            flags,
            tick_seq: 0,
            reason: None,
            overround_bps: 0,
            ts_ns: 0,
            selections: Vec::new(),
        }));
        for msg in [snapshot, tick] {
            assert_eq!(
                decode_md_like(&msg, &msg.encode()).is_ok(),
                flags & !FLAG_CONFLATED == 0,
                "{msg:?}"
            );
        }
    }
}
