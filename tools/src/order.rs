//! `oddsmatch order`: order entry for a person at a terminal, over the order-entry protocol.
//!
//! Each call connects, logs in with an API key, sends one request, prints what comes back for
//! it and logs out. Orders stay in the book after the call ends (the session does not ask for
//! cancel-on-disconnect).
//!
//! Output is for people by default: words and names rather than codes, odds as decimal odds,
//! aligned columns. `--json` prints one JSON object per line instead, for scripts.
//!
//! Exit status: 0 when the request succeeded, 1 when it was refused (an order or cancel
//! rejected, the request throttled or a shard busy), 2 for a usage error, a connection or
//! login failure, or no answer in time.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use oddsmatch_engine::{MarketId, OrderId, Persistence, SelectionId, Side};
use oddsmatch_engine::{Tier, TimeInForce};
use oddsmatch_net::client::{Client, ClientError, Credentials, Options};
use oddsmatch_net::proto::{
    self, BalanceEntry, Cancel, ClientMsg, LoginReject, NewOrder, OpenOrderEntry, OrderRef,
    ReportBody, Scope, ServerMsg, ThrottleKind,
};
use serde_json::{Value, json};

/// The heading of the options every subcommand shares.
const SESSION: &str = "Session options (before or after the subcommand)";

const EXIT_STATUS: &str = "\
Exit status:
  0  the request succeeded (an order accepted, a cancel done, a list or balance read)
  1  the request was refused: the order or cancel rejected, the request throttled, or a shard
     busy (the reason is printed)
  2  usage error, connection or login failure, or no answer within --wait

The secret is safer in ODDSMATCH_SECRET than in --secret: command-line flags are visible to
every user of the machine in `ps`.";

/// Arguments of `oddsmatch order`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_STATUS)]
pub struct OrderArgs {
    /// The server's order-entry address.
    #[arg(
        long,
        global = true,
        help_heading = SESSION,
        env = "ODDSMATCH_ADDR",
        default_value = "127.0.0.1:7700"
    )]
    pub addr: String,
    /// The API key's id.
    #[arg(long, global = true, help_heading = SESSION, env = "ODDSMATCH_KEY_ID", value_name = "ID")]
    pub key_id: Option<u64>,
    /// The API key's secret: 64 hex digits. Prefer the environment variable: flags show in
    /// `ps` to every user of the machine.
    #[arg(
        long,
        global = true,
        help_heading = SESSION,
        env = "ODDSMATCH_SECRET",
        hide_env_values = true,
        value_name = "HEX"
    )]
    pub secret: Option<String>,
    /// Print one JSON object per line (for scripts) instead of text.
    #[arg(long, global = true, help_heading = SESSION)]
    pub json: bool,
    /// How long to keep collecting answers after a request, in milliseconds: the command
    /// stops when this long passes with nothing new (or earlier, once the order is finished).
    #[arg(
        long,
        global = true,
        help_heading = SESSION,
        value_name = "MS",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub wait: u64,
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// The requests `oddsmatch order` sends.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Place an order on an exchange market and print its reports (accepted or rejected,
    /// fills, a cancelled remainder).
    Place(PlaceArgs),
    /// Cancel an open order (by order id or client order id).
    Cancel(CancelArgs),
    /// List the account's open orders on every shard.
    List(ListArgs),
    /// Show the account's balance, exposure and limits on every shard.
    Balance,
}

/// Arguments of `oddsmatch order place`.
#[derive(Debug, clap::Args)]
pub struct PlaceArgs {
    /// The market.
    #[arg(long)]
    pub market: u32,
    /// The selection.
    #[arg(long)]
    pub selection: u32,
    /// Back (bet that the selection wins) or lay (bet that it loses).
    #[arg(long, value_enum)]
    pub side: SideArg,
    /// Decimal odds as on the ladder: 2.5, 2.50, 1.01, 1000 (at most two decimals).
    #[arg(long, value_parser = parse_odds)]
    pub odds: u32,
    /// The backer's stake, in minor units (a lay's liability is stake x (odds - 1)).
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    pub stake: i64,
    /// Time in force: gtc rests in the book, ioc cancels the unmatched remainder, fok matches
    /// completely or not at all.
    #[arg(long, value_enum, default_value = "gtc")]
    pub tif: TifArg,
    /// Keep the order in the book through a market suspension (the default lapses it).
    #[arg(long)]
    pub persist: bool,
    /// Reject the order instead of matching it on arrival.
    #[arg(long)]
    pub post_only: bool,
    /// The account's own id for the order (default: the wall clock in microseconds, printed).
    #[arg(long, value_name = "N")]
    pub client_order_id: Option<u64>,
}

/// Arguments of `oddsmatch order cancel`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("order").required(true).args(["order_id", "client_order_id"])))]
pub struct CancelArgs {
    /// The market the order rests on.
    #[arg(long)]
    pub market: u32,
    /// The order's id (as printed by `place` and `list`).
    #[arg(long, value_name = "N")]
    pub order_id: Option<u64>,
    /// The order's client order id.
    #[arg(long, value_name = "N")]
    pub client_order_id: Option<u64>,
}

/// Arguments of `oddsmatch order list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only this market's orders.
    #[arg(long)]
    pub market: Option<u32>,
}

/// `--side`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum SideArg {
    /// Bet that the selection wins.
    Back,
    /// Bet that the selection loses.
    Lay,
}

/// `--tif`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TifArg {
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
}

/// How a request ended, when it got an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// It succeeded (exit 0).
    Done,
    /// It was refused (exit 1).
    Refused,
}

/// Runs `oddsmatch order` and returns its exit status (see the module documentation).
pub fn main(args: &OrderArgs) -> ExitCode {
    match run(args) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Refused) => ExitCode::from(1),
        Err(message) => {
            eprintln!("oddsmatch: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &OrderArgs) -> Result<Outcome, String> {
    let credentials = credentials(args)?;
    let mut client = Client::connect(args.addr.as_str(), credentials, Options::default())
        .map_err(|error| connect_error(&args.addr, error))?;
    let out = Printer { json: args.json };
    let wait = Duration::from_millis(args.wait);
    let outcome = match &args.action {
        Action::Place(place) => place_order(&mut client, &out, wait, place),
        Action::Cancel(cancel) => cancel_order(&mut client, &out, wait, cancel),
        Action::List(list) => list_orders(&mut client, &out, wait, list),
        Action::Balance => balance(&mut client, &out, wait),
    };
    // The answer is in; a failed goodbye changes nothing about it.
    let _ = client.logout();
    outcome
}

fn credentials(args: &OrderArgs) -> Result<Credentials, String> {
    let key_id = args
        .key_id
        .ok_or("no API key id: give --key-id or set ODDSMATCH_KEY_ID")?;
    let secret = args
        .secret
        .as_deref()
        .ok_or("no API key secret: set ODDSMATCH_SECRET (or give --secret)")?;
    Ok(Credentials {
        key_id,
        secret: parse_secret(secret)?,
    })
}

/// The 32 bytes of a secret written as 64 hex digits. The error never repeats the text.
pub(crate) fn parse_secret(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    let bytes = text.as_bytes();
    if bytes.len() != 64 || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return Err(format!(
            "the secret must be 64 hex digits (32 bytes); the one given has {} characters{}",
            text.chars().count(),
            if bytes.iter().all(u8::is_ascii_hexdigit) {
                ""
            } else {
                ", not all of them hex digits"
            }
        ));
    }
    let mut secret = [0u8; 32];
    for (byte, pair) in secret.iter_mut().zip(bytes.chunks_exact(2)) {
        let digits = std::str::from_utf8(pair).map_err(|_| "the secret is not hex")?;
        *byte = u8::from_str_radix(digits, 16).map_err(|_| "the secret is not hex")?;
    }
    Ok(secret)
}

fn connect_error(addr: &str, error: ClientError) -> String {
    match error {
        ClientError::LoginRejected(reason) => {
            let (name, meaning) = match reason {
                LoginReject::UnknownKey => ("unknown_key", "no account has this API key id"),
                LoginReject::BadProof => (
                    "bad_proof",
                    "the secret does not match the key id (check ODDSMATCH_SECRET)",
                ),
                LoginReject::TooManySessions => (
                    "too_many_sessions",
                    "the account has as many sessions open as its tier allows",
                ),
                LoginReject::OutOfOrder => ("out_of_order", "the login went out of order"),
                LoginReject::Unavailable => (
                    "unavailable",
                    "the server could not look the key up; try again",
                ),
            };
            format!("login rejected ({name}): {meaning}")
        }
        ClientError::Io(error) => format!("cannot connect to {addr}: {error}"),
        ClientError::Timeout => format!("no answer from {addr} while logging in"),
        other => format!("cannot log in at {addr}: {other}"),
    }
}

/// Decimal odds (`2.5`, `2.50`, `1.01`, `1000`) in hundredths, exactly: no floating point.
pub fn parse_odds(text: &str) -> Result<u32, String> {
    let malformed = || {
        format!(
            "`{text}` is not decimal odds: write digits with an optional point and up to two \
             decimals, such as 2.50, 1.01 or 1000"
        )
    };
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) {
        return Err(malformed());
    }
    let hundredths = match fraction {
        None => 0,
        Some(fraction) if !digits(fraction) => return Err(malformed()),
        Some(fraction) if fraction.len() > 2 => {
            return Err(format!(
                "`{text}` has more than two decimals; ladder prices have at most two \
                 (2.50, 1.01)"
            ));
        }
        Some(fraction) => {
            let value: u32 = fraction.parse().map_err(|_| malformed())?;
            if fraction.len() == 1 {
                value * 10
            } else {
                value
            }
        }
    };
    let too_large = || format!("`{text}` is larger than any odds (the ladder ends at 1000)");
    whole
        .parse::<u32>()
        .ok()
        .and_then(|whole| whole.checked_mul(100))
        .and_then(|whole| whole.checked_add(hundredths))
        .ok_or_else(too_large)
}

/// Hundredths as decimal odds: `250` is `2.50`.
pub fn format_odds(odds_x100: u32) -> String {
    format!("{}.{:02}", odds_x100 / 100, odds_x100 % 100)
}

/// The `snake_case` name an engine enum serializes to.
pub(crate) fn name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => name,
        _ => "unknown".to_owned(),
    }
}

fn throttle_name(limit: ThrottleKind) -> (&'static str, &'static str) {
    match limit {
        ThrottleKind::Requests => ("requests", "requests per second"),
        ThrottleKind::Orders => ("orders", "orders per minute"),
        ThrottleKind::Cancels => ("cancels", "cancels per minute"),
    }
}

/// Prints lines as text or as JSON objects.
struct Printer {
    json: bool,
}

impl Printer {
    fn line(&self, text: impl FnOnce() -> String, object: impl FnOnce() -> Value) {
        if self.json {
            println!("{}", object());
        } else {
            println!("{}", text());
        }
    }
}

/// Prints `msg` and returns true if it is the gateway refusing `request_id` (rejected,
/// throttled, busy) before any shard saw it.
fn gateway_refusal(out: &Printer, msg: &ServerMsg, request_id: u64) -> bool {
    match *msg {
        ServerMsg::RequestRejected {
            request_id: id,
            reason,
            ..
        } if id == request_id => {
            let name = oddsmatch_net::proto::reject_code_name(reason);
            out.line(
                || format!("rejected: {name} ({reason})"),
                || json!({"event": "rejected", "reason": name, "code": reason}),
            );
            true
        }
        ServerMsg::Throttled {
            request_id: id,
            limit,
            retry_after_ms,
            ..
        } if id == request_id => {
            let (name, words) = throttle_name(limit);
            out.line(
                || format!("throttled: over the {words} limit; retry after {retry_after_ms} ms"),
                || json!({"event": "throttled", "limit": name, "retry_after_ms": retry_after_ms}),
            );
            true
        }
        ServerMsg::Busy {
            request_id: id,
            shard,
            ..
        } if id == request_id => {
            out.line(
                || format!("busy: shard {shard}'s queue is full; try again"),
                || json!({"event": "busy", "shard": shard}),
            );
            true
        }
        _ => false,
    }
}

/// Prints one execution report.
fn print_report(out: &Printer, body: &ReportBody) {
    match *body {
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
        } => out.line(
            || {
                format!(
                    "accepted: order {} (client order id {client_order_id}): {} {stake_minor} \
                     at {} on market {} selection {}, {}, {}{}",
                    order_id.0,
                    name(&side),
                    format_odds(odds_x100),
                    market.0,
                    selection.0,
                    name(&tif),
                    name(&persistence),
                    if quote { ", quote" } else { "" }
                )
            },
            || {
                json!({
                    "event": "accepted", "order_id": order_id.0,
                    "client_order_id": client_order_id, "market": market.0,
                    "selection": selection.0, "side": name(&side),
                    "odds": format_odds(odds_x100), "odds_x100": odds_x100,
                    "stake": stake_minor, "tif": name(&tif),
                    "persistence": name(&persistence), "quote": quote,
                })
            },
        ),
        ReportBody::OrderRejected {
            client_order_id,
            order_id,
            reason,
            ..
        } => out.line(
            || {
                let mut text = format!("rejected: {} ({})", reason.name(), reason.code());
                if let Some(order_id) = order_id {
                    text.push_str(&format!(", order {}", order_id.0));
                }
                if let Some(id) = client_order_id {
                    text.push_str(&format!(", client order id {id}"));
                }
                text
            },
            || {
                json!({
                    "event": "rejected", "reason": reason.name(), "code": reason.code(),
                    "order_id": order_id.map(|id| id.0), "client_order_id": client_order_id,
                })
            },
        ),
        ReportBody::Fill {
            order_id,
            stake_minor,
            market,
            selection,
            odds_x100,
            side,
            liquidity,
            ..
        } => {
            let liquidity = match liquidity {
                proto::Liquidity::Maker => "maker",
                proto::Liquidity::Taker => "taker",
            };
            out.line(
                || {
                    format!(
                        "fill: order {} {} {stake_minor} matched at {} on market {} selection \
                         {} ({liquidity})",
                        order_id.0,
                        name(&side),
                        format_odds(odds_x100),
                        market.0,
                        selection.0,
                    )
                },
                || {
                    json!({
                        "event": "fill", "order_id": order_id.0, "market": market.0,
                        "selection": selection.0, "side": name(&side),
                        "odds": format_odds(odds_x100), "odds_x100": odds_x100,
                        "stake": stake_minor, "liquidity": liquidity,
                    })
                },
            )
        }
        ReportBody::OrderCancelled {
            order_id,
            stake_minor,
            market,
            selection,
            side,
            reason,
        } => out.line(
            || {
                format!(
                    "cancelled: order {} ({} on market {} selection {}), {stake_minor} \
                     unmatched ({})",
                    order_id.0,
                    name(&side),
                    market.0,
                    selection.0,
                    name(&reason),
                )
            },
            || {
                json!({
                    "event": "cancelled", "order_id": order_id.0, "market": market.0,
                    "selection": selection.0, "side": name(&side), "stake": stake_minor,
                    "reason": name(&reason),
                })
            },
        ),
        ReportBody::OrderReplaced {
            order_id,
            stake_minor,
            odds_x100,
            priority_kept,
            ..
        } => out.line(
            || {
                format!(
                    "replaced: order {} now {stake_minor} at {}{}",
                    order_id.0,
                    format_odds(odds_x100),
                    if priority_kept {
                        " (queue priority kept)"
                    } else {
                        ""
                    }
                )
            },
            || {
                json!({
                    "event": "replaced", "order_id": order_id.0, "stake": stake_minor,
                    "odds": format_odds(odds_x100), "odds_x100": odds_x100,
                    "priority_kept": priority_kept,
                })
            },
        ),
        ReportBody::OrderDelayed {
            order_id, until_ns, ..
        } => out.line(
            || {
                let left = until_ns.saturating_sub(now_ns()) / 1_000_000;
                format!(
                    "delayed: order {} is held by the market's in-play delay (about {left} ms)",
                    order_id.0
                )
            },
            || json!({"event": "delayed", "order_id": order_id.0, "until_ns": until_ns}),
        ),
        ReportBody::KillSwitch { on } => out.line(
            || format!("kill switch: {}", if on { "on" } else { "off" }),
            || json!({"event": "kill_switch", "on": on}),
        ),
        other => out.line(
            || format!("report: {other:?}"),
            || json!({"event": "report", "detail": format!("{other:?}")}),
        ),
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Whether a message answers `request_id`.
fn answers(msg: &ServerMsg, request_id: u64) -> bool {
    match msg {
        ServerMsg::Report(report) => report.header.request_id == request_id,
        ServerMsg::RequestRejected { request_id: id, .. }
        | ServerMsg::Throttled { request_id: id, .. }
        | ServerMsg::Busy { request_id: id, .. } => *id == request_id,
        ServerMsg::OpenOrders { header, .. }
        | ServerMsg::Positions { header, .. }
        | ServerMsg::Balance { header, .. } => header.request_id == request_id,
        _ => false,
    }
}

/// Reads the answers to `request_id`, passing each to `handle`, until `handle` says the
/// request is finished or `wait` passes with no new answer. `deadline` lets `handle` push
/// the end further (an order held by an in-play delay). Returns whether anything answered.
fn collect(
    client: &mut Client,
    request_id: u64,
    wait: Duration,
    mut handle: impl FnMut(&ServerMsg, &mut Instant) -> bool,
) -> Result<bool, String> {
    let mut deadline = Instant::now() + wait;
    let mut answered = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(answered);
        }
        let msg = match client.recv(left) {
            Ok(Some(msg)) => msg,
            Ok(None) => return Ok(answered),
            Err(error) => return Err(format!("lost the connection: {error}")),
        };
        if !answers(&msg, request_id) {
            continue;
        }
        answered = true;
        deadline = deadline.max(Instant::now() + wait);
        if handle(&msg, &mut deadline) {
            return Ok(true);
        }
    }
}

fn send(client: &mut Client, msg: &ClientMsg) -> Result<(), String> {
    client
        .send(msg)
        .map_err(|error| format!("cannot send the request: {error}"))
}

fn no_answer(wait: Duration) -> String {
    format!(
        "no answer within {} ms (--wait); the request's outcome is unknown",
        wait.as_millis()
    )
}

fn place_order(
    client: &mut Client,
    out: &Printer,
    wait: Duration,
    args: &PlaceArgs,
) -> Result<Outcome, String> {
    let client_order_id = args.client_order_id.unwrap_or_else(|| now_ns() / 1_000);
    let side = match args.side {
        SideArg::Back => Side::Back,
        SideArg::Lay => Side::Lay,
    };
    let tif = match args.tif {
        TifArg::Gtc => TimeInForce::Gtc,
        TifArg::Ioc => TimeInForce::Ioc,
        TifArg::Fok => TimeInForce::Fok,
    };
    let persistence = if args.persist {
        Persistence::Persist
    } else {
        Persistence::Lapse
    };
    let request_id = client.next_request_id();
    let order = NewOrder {
        request_id,
        client_order_id,
        stake_minor: args.stake,
        market: MarketId(args.market),
        selection: SelectionId(args.selection),
        odds_x100: args.odds,
        side,
        tif,
        persistence,
        post_only: args.post_only,
    };
    out.line(
        || {
            format!(
                "sent: {} {} at {} on market {} selection {}, {}, {}{} (client order id {})",
                name(&side),
                args.stake,
                format_odds(args.odds),
                args.market,
                args.selection,
                name(&tif),
                name(&persistence),
                if args.post_only { ", post-only" } else { "" },
                client_order_id
            )
        },
        || {
            json!({
                "event": "sent", "client_order_id": client_order_id, "market": args.market,
                "selection": args.selection, "side": name(&side),
                "odds": format_odds(args.odds), "odds_x100": args.odds, "stake": args.stake,
                "tif": name(&tif), "persistence": name(&persistence),
                "post_only": args.post_only,
            })
        },
    );
    send(client, &ClientMsg::NewOrder(order))?;

    let mut outcome = None;
    let mut ours: Option<OrderId> = None;
    let mut filled = 0i64;
    let answered = collect(client, request_id, wait, |msg, deadline| {
        if gateway_refusal(out, msg, request_id) {
            outcome = Some(Outcome::Refused);
            return true;
        }
        let ServerMsg::Report(report) = msg else {
            return false;
        };
        print_report(out, &report.body);
        match report.body {
            ReportBody::OrderAccepted { order_id, .. } => {
                ours = Some(order_id);
                outcome.get_or_insert(Outcome::Done);
                false
            }
            ReportBody::OrderRejected { .. } => {
                outcome = Some(Outcome::Refused);
                true
            }
            ReportBody::Fill {
                order_id,
                stake_minor,
                ..
            } if Some(order_id) == ours => {
                filled = filled.saturating_add(stake_minor);
                filled >= args.stake
            }
            ReportBody::OrderCancelled { order_id, .. } => Some(order_id) == ours,
            ReportBody::OrderDelayed { until_ns, .. } => {
                // Wait out the delay (up to a minute), then the usual quiet period.
                let left = Duration::from_nanos(until_ns.saturating_sub(now_ns()));
                *deadline =
                    (*deadline).max(Instant::now() + left.min(Duration::from_secs(60)) + wait);
                false
            }
            _ => false,
        }
    })?;
    match outcome {
        Some(Outcome::Done) => {
            if !out.json
                && let Some(order_id) = ours
            {
                let open = args.stake.saturating_sub(filled);
                if filled >= args.stake {
                    println!("order {} is fully matched", order_id.0);
                } else if args.tif == TifArg::Gtc {
                    println!(
                        "order {} rests in the book with {open} unmatched (matched so far: \
                         {filled})",
                        order_id.0
                    );
                }
            }
            Ok(Outcome::Done)
        }
        Some(Outcome::Refused) => Ok(Outcome::Refused),
        None if answered => Err("the server answered without accepting or rejecting".into()),
        None => Err(no_answer(wait)),
    }
}

fn cancel_order(
    client: &mut Client,
    out: &Printer,
    wait: Duration,
    args: &CancelArgs,
) -> Result<Outcome, String> {
    let order = match (args.order_id, args.client_order_id) {
        (Some(id), _) => OrderRef::OrderId(OrderId(id)),
        (None, Some(id)) => OrderRef::ClientOrderId(id),
        (None, None) => return Err("name the order: --order-id or --client-order-id".into()),
    };
    let request_id = client.next_request_id();
    send(
        client,
        &ClientMsg::Cancel(Cancel {
            request_id,
            market: MarketId(args.market),
            order,
        }),
    )?;
    let mut outcome = None;
    collect(client, request_id, wait, |msg, _| {
        if gateway_refusal(out, msg, request_id) {
            outcome = Some(Outcome::Refused);
            return true;
        }
        let ServerMsg::Report(report) = msg else {
            return false;
        };
        print_report(out, &report.body);
        match report.body {
            ReportBody::OrderCancelled { .. } => {
                outcome = Some(Outcome::Done);
                true
            }
            ReportBody::OrderRejected { .. } => {
                outcome = Some(Outcome::Refused);
                true
            }
            _ => false,
        }
    })?;
    outcome.ok_or_else(|| no_answer(wait))
}

/// Sends a read to every shard and gathers the frames of its answer until each shard's last
/// one. Returns the frames, or `Refused` when the gateway refused the read (printed).
fn read_all_shards(
    client: &mut Client,
    out: &Printer,
    wait: Duration,
    msg: ClientMsg,
) -> Result<Result<Vec<ServerMsg>, Outcome>, String> {
    let request_id = msg.request_id();
    let shard_count = client.session().shard_count;
    send(client, &msg)?;
    let mut pending: Vec<bool> = vec![true; usize::from(shard_count)];
    let mut frames = Vec::new();
    let mut refused = false;
    collect(client, request_id, wait, |msg, _| {
        if gateway_refusal(out, msg, request_id) {
            refused = true;
            match msg {
                ServerMsg::Busy { shard, .. } => {
                    if let Some(slot) = pending.get_mut(usize::from(*shard)) {
                        *slot = false;
                    }
                }
                _ => pending.iter_mut().for_each(|slot| *slot = false),
            }
        } else {
            let header = match msg {
                ServerMsg::OpenOrders { header, .. }
                | ServerMsg::Positions { header, .. }
                | ServerMsg::Balance { header, .. } => Some(*header),
                _ => None,
            };
            if let Some(header) = header {
                frames.push(msg.clone());
                if header.last
                    && let Some(slot) = pending.get_mut(usize::from(header.shard))
                {
                    *slot = false;
                }
            }
        }
        !pending.contains(&true)
    })?;
    let missing: Vec<String> = pending
        .iter()
        .enumerate()
        .filter(|(_, pending)| **pending)
        .map(|(shard, _)| shard.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "no complete answer from shard(s) {} within {} ms (--wait)",
            missing.join(", "),
            wait.as_millis()
        ));
    }
    Ok(if refused {
        Err(Outcome::Refused)
    } else {
        Ok(frames)
    })
}

fn list_orders(
    client: &mut Client,
    out: &Printer,
    wait: Duration,
    args: &ListArgs,
) -> Result<Outcome, String> {
    let request_id = client.next_request_id();
    let scope = args
        .market
        .map_or(Scope::All, |m| Scope::Market(MarketId(m)));
    let frames = match read_all_shards(
        client,
        out,
        wait,
        ClientMsg::GetOpenOrders { request_id, scope },
    )? {
        Ok(frames) => frames,
        Err(outcome) => return Ok(outcome),
    };
    let mut orders: Vec<OpenOrderEntry> = frames
        .into_iter()
        .flat_map(|frame| match frame {
            ServerMsg::OpenOrders { orders, .. } => orders,
            _ => Vec::new(),
        })
        .collect();
    orders.sort_by_key(|o| (o.market, o.order_id));
    if out.json {
        for o in &orders {
            println!(
                "{}",
                json!({
                    "order_id": o.order_id.0, "client_order_id": o.client_order_id,
                    "market": o.market.0, "selection": o.selection.0, "side": name(&o.side),
                    "odds": format_odds(o.odds_x100), "odds_x100": o.odds_x100,
                    "remaining": o.remaining_minor,
                })
            );
        }
        return Ok(Outcome::Done);
    }
    if orders.is_empty() {
        println!("no open orders");
        return Ok(Outcome::Done);
    }
    let rows = orders
        .iter()
        .map(|o| {
            vec![
                o.order_id.0.to_string(),
                o.client_order_id.to_string(),
                o.market.0.to_string(),
                o.selection.0.to_string(),
                name(&o.side),
                format_odds(o.odds_x100),
                o.remaining_minor.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                ("ORDER", true),
                ("CLIENT ORDER", true),
                ("MARKET", true),
                ("SELECTION", true),
                ("SIDE", false),
                ("ODDS", true),
                ("REMAINING", true),
            ],
            rows,
        )
    );
    Ok(Outcome::Done)
}

fn balance(client: &mut Client, out: &Printer, wait: Duration) -> Result<Outcome, String> {
    let request_id = client.next_request_id();
    let frames = match read_all_shards(client, out, wait, ClientMsg::GetBalance { request_id })? {
        Ok(frames) => frames,
        Err(outcome) => return Ok(outcome),
    };
    let mut wallets: Vec<(u16, Option<BalanceEntry>)> = frames
        .into_iter()
        .filter_map(|frame| match frame {
            ServerMsg::Balance { header, balance } => Some((header.shard, balance)),
            _ => None,
        })
        .collect();
    wallets.sort_by_key(|(shard, _)| *shard);
    if out.json {
        for (shard, wallet) in &wallets {
            let line = match wallet {
                Some(b) => json!({
                    "shard": shard, "balance": b.balance_minor, "exposure": b.exposure_minor,
                    "free": b.balance_minor.saturating_sub(b.exposure_minor),
                    "open_orders": b.open_orders, "max_open_orders": b.max_open_orders,
                    "kill_switch": b.kill_switch, "tier": tier_name(b.tier),
                }),
                None => json!({"shard": shard, "wallet": false}),
            };
            println!("{line}");
        }
        return Ok(Outcome::Done);
    }
    let rows = wallets
        .iter()
        .map(|(shard, wallet)| match wallet {
            Some(b) => vec![
                shard.to_string(),
                b.balance_minor.to_string(),
                b.exposure_minor.to_string(),
                b.balance_minor.saturating_sub(b.exposure_minor).to_string(),
                format!("{}/{}", b.open_orders, b.max_open_orders),
                if b.kill_switch { "on" } else { "off" }.to_owned(),
                tier_name(b.tier),
            ],
            None => vec![
                shard.to_string(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "(no wallet on this shard)".into(),
            ],
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                ("SHARD", true),
                ("BALANCE", true),
                ("EXPOSURE", true),
                ("FREE", true),
                ("OPEN ORDERS", true),
                ("KILL SWITCH", false),
                ("TIER", false),
            ],
            rows,
        )
    );
    Ok(Outcome::Done)
}

fn tier_name(tier: Tier) -> String {
    name(&tier)
}

/// Columns padded to their widest cell, right-aligned where the column says so.
fn table(columns: &[(&str, bool)], rows: Vec<Vec<String>>) -> String {
    align(columns, rows, "")
}

/// [`table`] with every line starting with `indent`.
pub(crate) fn align(columns: &[(&str, bool)], rows: Vec<Vec<String>>, indent: &str) -> String {
    let mut widths: Vec<usize> = columns.iter().map(|(title, _)| title.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let header: Vec<String> = columns
        .iter()
        .map(|(title, _)| (*title).to_owned())
        .collect();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(columns)
            .zip(&widths)
            .map(|((cell, (_, right)), width)| {
                if *right {
                    format!("{cell:>width$}")
                } else {
                    format!("{cell:<width$}")
                }
            })
            .collect();
        text.push_str(indent);
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odds_parse_exactly_into_hundredths() {
        assert_eq!(parse_odds("2.5"), Ok(250));
        assert_eq!(parse_odds("2.50"), Ok(250));
        assert_eq!(parse_odds("2.05"), Ok(205));
        assert_eq!(parse_odds("1.01"), Ok(101));
        assert_eq!(parse_odds("1000"), Ok(100_000));
        assert_eq!(parse_odds("1000.00"), Ok(100_000));
        assert_eq!(parse_odds("02.50"), Ok(250));
        for bad in [
            "", ".", "2.", ".5", "2.5.0", "-2.5", "+2", "2,50", "2.5x", " 2.5", "1e3",
        ] {
            let error = parse_odds(bad).unwrap_err();
            assert!(error.contains("not decimal odds"), "{bad:?}: {error}");
        }
        assert!(
            parse_odds("2.505")
                .unwrap_err()
                .contains("more than two decimals")
        );
        assert!(parse_odds("42949673").unwrap_err().contains("larger"));
        assert!(
            parse_odds("99999999999999999999")
                .unwrap_err()
                .contains("larger")
        );
    }

    #[test]
    fn odds_print_as_decimals() {
        assert_eq!(format_odds(250), "2.50");
        assert_eq!(format_odds(101), "1.01");
        assert_eq!(format_odds(100_000), "1000.00");
        for text in ["1.01", "2.50", "13.00", "1000.00"] {
            assert_eq!(format_odds(parse_odds(text).unwrap()), text);
        }
    }

    #[test]
    fn secrets_are_64_hex_digits_and_errors_do_not_echo_them() {
        let hex = "0b".repeat(32);
        assert_eq!(parse_secret(&hex), Ok([0x0b; 32]));
        assert_eq!(parse_secret(&hex.to_uppercase()), Ok([0x0b; 32]));
        let short = "deadbeef";
        let error = parse_secret(short).unwrap_err();
        assert!(
            error.contains("64 hex digits") && !error.contains(short),
            "{error}"
        );
        let wrong = "zz".repeat(32);
        let error = parse_secret(&wrong).unwrap_err();
        assert!(
            error.contains("not all of them hex") && !error.contains("zz"),
            "{error}"
        );
        assert!(parse_secret(&"é".repeat(32)).is_err());
    }

    #[test]
    fn reasons_are_named() {
        assert_eq!(oddsmatch_net::proto::reject_code_name(200), "invalid_odds");
        assert_eq!(oddsmatch_net::proto::reject_code_name(605), "not_logged_in");
        assert_eq!(
            oddsmatch_net::proto::reject_code_name(999),
            "unknown_reason"
        );
    }

    #[test]
    fn tables_align() {
        let text = table(
            &[("ID", true), ("SIDE", false)],
            vec![
                vec!["7".into(), "lay".into()],
                vec!["1234".into(), "back".into()],
            ],
        );
        assert_eq!(text, "  ID  SIDE\n   7  lay\n1234  back\n");
    }
}
