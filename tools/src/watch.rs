//! `oddsmatch watch`: live odds and market status for a person, over the market-data protocol.
//!
//! It connects to the market-data port, subscribes each market named and prints what arrives:
//! on a terminal, a compact table redrawn in place; when standard output is not a terminal,
//! one line per update (a snapshot, a tick, a status change, a trade); with `--json`, one JSON
//! object per update. Every market starts from a snapshot. A lost connection is dialled
//! again (the markets start again from a snapshot), with a word on standard error.
//!
//! Exit status: 0 when stopped by Ctrl-C or SIGTERM, after `--count` updates or after the
//! snapshots of `--once`; 2 for a usage error, a first connection or login that fails, or a
//! subscription the server refuses.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use oddsmatch_engine::{MarketId, MarketStatus, SelectionId, Side};
use oddsmatch_net::proto::md::{
    Depth, FLAG_CONFLATED, MdServerMsg, Snapshot, SnapshotSelection, Streams, Tick, TickSelection,
};
use oddsmatch_net::proto::{LoginReject, SubscribeReject};
use oddsmatch_net::subscriber::{Subscriber, SubscriberError, Update};
use serde_json::{Value, json};

use crate::order::{align, format_odds, name, parse_secret};

const AFTER_HELP: &str = "\
Output:
  on a terminal, a table redrawn in place: per market its status, last tick and update time;
  per selection the best odds to back and to lay, the last traded odds, the implied
  probability and the matched stake. Otherwise one line per update; --json: one JSON object
  per update. Times are UTC.

Exit status:
  0  stopped by Ctrl-C or SIGTERM, after --count updates, or after the snapshots of --once
  2  usage error, no connection or login at the start, or a subscription refused (an unknown
     market, a stream that needs a login)

The book and trades streams need an API key: ODDSMATCH_KEY_ID and ODDSMATCH_SECRET, as for
`oddsmatch order`.";

/// Arguments of `oddsmatch watch`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct WatchArgs {
    /// The markets to watch.
    #[arg(required = true, value_name = "MARKET")]
    pub markets: Vec<u32>,
    /// The server's market-data address.
    #[arg(long, env = "ODDSMATCH_MD_ADDR", default_value = "127.0.0.1:7701")]
    pub addr: String,
    /// The streams of each market, separated by commas: ticks, status, book, trades (or all).
    /// The book and trades streams need an API key.
    #[arg(
        long,
        value_name = "LIST",
        default_value = "ticks,status",
        value_parser = parse_streams
    )]
    pub streams: Streams,
    /// The API key's id (only for the book and trades streams).
    #[arg(long, env = "ODDSMATCH_KEY_ID", value_name = "ID")]
    pub key_id: Option<u64>,
    /// The API key's secret: 64 hex digits (only for the book and trades streams). Prefer the
    /// environment variable: flags show in `ps` to every user of the machine.
    #[arg(
        long,
        env = "ODDSMATCH_SECRET",
        hide_env_values = true,
        value_name = "HEX"
    )]
    pub secret: Option<String>,
    /// Print one JSON object per update (for scripts) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Print the markets' snapshots and exit.
    #[arg(long, conflicts_with = "count")]
    pub once: bool,
    /// Exit after this many updates (snapshots included).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

fn parse_streams(text: &str) -> Result<Streams, String> {
    Streams::parse(text).ok_or_else(|| {
        format!(
            "`{text}` is not a list of streams: name ticks, status, book or trades (or all), \
             separated by commas"
        )
    })
}

/// How long a subscription may go unanswered at the start.
const ANSWER_WAIT: Duration = Duration::from_secs(5);
/// How long one read waits before the loop looks at the stop flag again.
const POLL: Duration = Duration::from_millis(100);
/// The shortest interval between two drawings of the table.
const REDRAW_INTERVAL: Duration = Duration::from_millis(100);
/// The longest pause between two reconnection attempts.
const RECONNECT_DELAY_MAX: Duration = Duration::from_secs(5);

/// Runs `oddsmatch watch` and returns its exit status (see the module documentation).
pub fn main(args: &WatchArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("oddsmatch: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &WatchArgs) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|error| format!("cannot handle signal {signal}: {error}"))?;
    }
    let credentials = if args.streams.needs_login() {
        Some(credentials(args)?)
    } else {
        None
    };
    let mut feed = Subscriber::connect(args.addr.as_str())
        .map_err(|error| format!("cannot connect to {}: {error}", args.addr))?;
    if let Some((key_id, secret)) = credentials {
        feed.login(key_id, secret)
            .map_err(|error| login_error(&args.addr, error))?;
    }
    let markets: BTreeSet<MarketId> = args.markets.iter().map(|m| MarketId(*m)).collect();
    for market in &markets {
        feed.subscribe(*market, args.streams)
            .map_err(|error| format!("cannot subscribe at {}: {error}", args.addr))?;
    }
    let mode = if args.json {
        Mode::Json
    } else if io::stdout().is_terminal() {
        Mode::Table
    } else {
        Mode::Lines
    };
    let mut watch = Watch::new(mode, args, &markets);
    let result = watch.follow(&mut feed, args, &stop);
    watch.finish();
    result
}

/// How updates are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// A table redrawn in place (standard output is a terminal).
    Table,
    /// One line of text per update.
    Lines,
    /// One JSON object per update.
    Json,
}

/// Whether to go on reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Done,
}

/// What is known of one watched market.
#[derive(Debug, Default)]
struct MarketView {
    /// A snapshot arrived since the last (re)subscription or gap.
    synced: bool,
    status: Option<MarketStatus>,
    tick_seq: u64,
    overround_bps: u32,
    /// The engine's time of the last update.
    ts_ns: u64,
    /// The last snapshot or tick stood for updates that were skipped.
    conflated: bool,
    /// Updates were missed; a resync is under way.
    gap: bool,
    selections: Vec<SnapshotSelection>,
    /// The last trade: selection, odds, stake, time.
    last_trade: Option<(SelectionId, u32, i64, u64)>,
}

/// The watch: what it knows of each market and where its output goes.
struct Watch {
    mode: Mode,
    addr: String,
    streams: Streams,
    markets: BTreeMap<MarketId, MarketView>,
    /// Markets whose subscription has not been answered on the first connection.
    unanswered: BTreeSet<MarketId>,
    /// Updates printed so far (snapshots, ticks, status changes, trades, depth, gaps).
    printed: u64,
    count: Option<u64>,
    once: bool,
    /// What the table says about the connection, when something is wrong with it.
    connection: Option<String>,
    /// Screen lines of the last drawing of the table.
    drawn_lines: usize,
    dirty: bool,
    last_draw: Option<Instant>,
}

impl Watch {
    fn new(mode: Mode, args: &WatchArgs, markets: &BTreeSet<MarketId>) -> Watch {
        Watch {
            mode,
            addr: args.addr.clone(),
            streams: args.streams,
            markets: markets
                .iter()
                .map(|m| (*m, MarketView::default()))
                .collect(),
            unanswered: markets.clone(),
            printed: 0,
            count: args.count,
            once: args.once,
            connection: None,
            drawn_lines: 0,
            dirty: true,
            last_draw: None,
        }
    }

    /// Reads and prints updates until a signal, `--count` or `--once` says to stop.
    fn follow(
        &mut self,
        feed: &mut Subscriber,
        args: &WatchArgs,
        stop: &AtomicBool,
    ) -> Result<(), String> {
        if self.mode == Mode::Table && !self.once {
            // Hide the cursor and keep each row on one screen line while redrawing.
            self.write("\x1b[?25l\x1b[?7l")?;
        }
        let started = Instant::now();
        loop {
            if stop.load(Ordering::Acquire) {
                return Ok(());
            }
            if !self.unanswered.is_empty() && started.elapsed() > ANSWER_WAIT {
                return Err(format!(
                    "no answer from {} to the subscription of market(s) {} within {} s",
                    args.addr,
                    list(&self.unanswered),
                    ANSWER_WAIT.as_secs()
                ));
            }
            match feed.next(POLL) {
                Ok(Some(update)) => {
                    if self.take(update)? == Flow::Done {
                        return Ok(());
                    }
                }
                Ok(None) | Err(SubscriberError::Timeout) => {}
                // A signal interrupted the read; the loop looks at the flag.
                Err(SubscriberError::Io(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    if self.reconnect(feed, &error, stop)? == Flow::Done {
                        return Ok(());
                    }
                }
            }
            if self.mode == Mode::Table && !self.once {
                self.draw(false)?;
            }
        }
    }

    /// Takes one update: prints it and says whether the watch is over.
    fn take(&mut self, update: Update) -> Result<Flow, String> {
        let msg = match update {
            Update::Gap {
                market,
                expected,
                got,
            } => {
                if let Some(view) = self.markets.get_mut(&market) {
                    view.synced = false;
                    view.gap = true;
                }
                let text = || {
                    format!(
                        "{} market {} gap: expected seq {expected}, got {got}; resyncing",
                        clock(now_ns()),
                        market.0
                    )
                };
                let object = || json!({"event": "gap", "market": market.0, "expected": expected, "got": got});
                return self.print(text, object);
            }
            Update::Message(msg) => msg,
        };
        match msg {
            MdServerMsg::Subscribed { market, .. } => {
                self.unanswered.remove(&market);
                Ok(Flow::Continue)
            }
            MdServerMsg::Rejected { market, reason, .. } => self.rejected(market, reason),
            MdServerMsg::Snapshot(snapshot) => {
                let Some(view) = self.markets.get_mut(&snapshot.market) else {
                    return Ok(Flow::Continue);
                };
                view.synced = true;
                view.gap = false;
                view.status = snapshot.status;
                view.tick_seq = snapshot.tick_seq;
                view.overround_bps = snapshot.overround_bps;
                view.ts_ns = snapshot.ts_ns;
                view.conflated = snapshot.flags & FLAG_CONFLATED != 0;
                view.selections.clone_from(&snapshot.selections);
                let flow = self.print(|| snapshot_line(&snapshot), || snapshot_json(&snapshot))?;
                if self.once && self.markets.values().all(|view| view.synced) {
                    return Ok(Flow::Done);
                }
                Ok(flow)
            }
            MdServerMsg::Tick(tick) => {
                let Some(view) = self.markets.get_mut(&tick.market) else {
                    return Ok(Flow::Continue);
                };
                view.status = tick.status.or(view.status);
                view.tick_seq = tick.tick_seq;
                view.overround_bps = tick.overround_bps;
                view.ts_ns = tick.ts_ns;
                view.conflated = tick.flags & FLAG_CONFLATED != 0;
                take_tick(&mut view.selections, &tick.selections);
                self.print(|| tick_line(&tick), || tick_json(&tick))
            }
            MdServerMsg::Status {
                market,
                status,
                cause,
                book_seq,
                ts_ns,
                ..
            } => {
                let Some(view) = self.markets.get_mut(&market) else {
                    return Ok(Flow::Continue);
                };
                view.status = Some(status);
                view.ts_ns = ts_ns;
                self.print(
                    || {
                        format!(
                            "{} market {} status {} ({})",
                            clock(ts_ns),
                            market.0,
                            name(&status),
                            name(&cause)
                        )
                    },
                    || {
                        json!({
                            "event": "status", "market": market.0, "status": name(&status),
                            "cause": name(&cause), "book_seq": book_seq, "ts_ns": ts_ns,
                        })
                    },
                )
            }
            MdServerMsg::Trade {
                market,
                selection,
                book_seq,
                odds_x100,
                taker_side,
                stake_minor,
                ts_ns,
                ..
            } => {
                let Some(view) = self.markets.get_mut(&market) else {
                    return Ok(Flow::Continue);
                };
                view.last_trade = Some((selection, odds_x100, stake_minor, ts_ns));
                view.ts_ns = ts_ns;
                self.print(
                    || {
                        format!(
                            "{} market {} trade selection {}: {stake_minor} matched at {} \
                             (taker {})",
                            clock(ts_ns),
                            market.0,
                            selection.0,
                            format_odds(odds_x100),
                            name(&taker_side)
                        )
                    },
                    || {
                        json!({
                            "event": "trade", "market": market.0, "selection": selection.0,
                            "odds": format_odds(odds_x100), "odds_x100": odds_x100,
                            "stake": stake_minor, "taker_side": name(&taker_side),
                            "book_seq": book_seq, "ts_ns": ts_ns,
                        })
                    },
                )
            }
            MdServerMsg::Book {
                market,
                selection,
                book_seq,
                side,
                depth,
                ts_ns,
                ..
            } => {
                let Some(view) = self.markets.get_mut(&market) else {
                    return Ok(Flow::Continue);
                };
                view.ts_ns = ts_ns;
                if let Some(s) = view
                    .selections
                    .iter_mut()
                    .find(|s| s.odds.selection == selection)
                {
                    match side {
                        Side::Back => s.backs = depth,
                        Side::Lay => s.lays = depth,
                    }
                }
                self.print(
                    || {
                        format!(
                            "{} market {} book selection {} resting {}s: {}",
                            clock(ts_ns),
                            market.0,
                            selection.0,
                            name(&side),
                            depth_text(&depth, ", ")
                        )
                    },
                    || {
                        json!({
                            "event": "book", "market": market.0, "selection": selection.0,
                            "side": name(&side), "levels": depth_json(&depth),
                            "book_seq": book_seq, "ts_ns": ts_ns,
                        })
                    },
                )
            }
            MdServerMsg::Pool {
                market,
                selection,
                book_seq,
                pool_minor,
                total_minor,
                ts_ns,
                ..
            } => {
                let Some(view) = self.markets.get_mut(&market) else {
                    return Ok(Flow::Continue);
                };
                view.ts_ns = ts_ns;
                if let Some(s) = view
                    .selections
                    .iter_mut()
                    .find(|s| s.odds.selection == selection)
                {
                    s.odds.pool_minor = pool_minor;
                }
                self.print(
                    || {
                        format!(
                            "{} market {} pool selection {}: {pool_minor} of {total_minor}",
                            clock(ts_ns),
                            market.0,
                            selection.0
                        )
                    },
                    || {
                        json!({
                            "event": "pool", "market": market.0, "selection": selection.0,
                            "pool": pool_minor, "total": total_minor, "book_seq": book_seq,
                            "ts_ns": ts_ns,
                        })
                    },
                )
            }
            // The Subscriber answers heartbeats and reports the end of a session as an error;
            // the login's messages and unsubscriptions do not concern the watch.
            _ => Ok(Flow::Continue),
        }
    }

    /// A refused subscription: fatal on the first connection; after a reconnection the
    /// market is dropped (with a word on standard error) and the others go on.
    fn rejected(&mut self, market: MarketId, reason: SubscribeReject) -> Result<Flow, String> {
        let text = format!(
            "market {}: subscription refused ({}): {}",
            market.0,
            reject_name(reason),
            reject_meaning(reason)
        );
        if self.unanswered.remove(&market) {
            return Err(text);
        }
        if self.markets.remove(&market).is_none() {
            return Ok(Flow::Continue);
        }
        self.notice(&text)?;
        if self.markets.is_empty() {
            return Err("no market left to watch".into());
        }
        Ok(Flow::Continue)
    }

    /// Dials again until it works or a signal stops the watch.
    fn reconnect(
        &mut self,
        feed: &mut Subscriber,
        error: &SubscriberError,
        stop: &AtomicBool,
    ) -> Result<Flow, String> {
        self.notice(&format!(
            "lost the connection to {}: {error}; reconnecting",
            self.addr
        ))?;
        for view in self.markets.values_mut() {
            view.synced = false;
        }
        let mut delay = Duration::from_millis(100);
        let mut attempt = 1u64;
        loop {
            self.connection = Some(format!("reconnecting to {} (attempt {attempt})", self.addr));
            self.dirty = true;
            if self.mode == Mode::Table {
                self.draw(true)?;
            }
            let until = Instant::now() + delay;
            while Instant::now() < until {
                if stop.load(Ordering::Acquire) {
                    return Ok(Flow::Done);
                }
                std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
            }
            match feed.reconnect() {
                Ok(()) => {
                    self.connection = None;
                    self.dirty = true;
                    self.notice(&format!("reconnected to {}", self.addr))?;
                    return Ok(Flow::Continue);
                }
                Err(SubscriberError::Login(reason)) => {
                    return Err(format!(
                        "login rejected at {}: {}",
                        self.addr,
                        login_reject(reason)
                    ));
                }
                Err(error) => {
                    // Say so now and then, not at every attempt.
                    if attempt.is_power_of_two() {
                        self.notice(&format!(
                            "still no connection to {} (attempt {attempt}): {error}",
                            self.addr
                        ))?;
                    }
                }
            }
            attempt += 1;
            delay = (delay * 2).min(RECONNECT_DELAY_MAX);
        }
    }

    /// Prints an update in the watch's mode and counts it.
    fn print(
        &mut self,
        text: impl FnOnce() -> String,
        object: impl FnOnce() -> Value,
    ) -> Result<Flow, String> {
        self.printed += 1;
        let wrote = match self.mode {
            Mode::Json => self.write(&format!("{}\n", object())),
            Mode::Lines => self.write(&format!("{}\n", text())),
            Mode::Table => {
                self.dirty = true;
                Ok(Flow::Continue)
            }
        }?;
        if wrote == Flow::Done || self.count.is_some_and(|count| self.printed >= count) {
            return Ok(Flow::Done);
        }
        Ok(Flow::Continue)
    }

    /// Writes to standard output; a reader that went away ends the watch quietly.
    fn write(&self, text: &str) -> Result<Flow, String> {
        let mut out = io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => Ok(Flow::Continue),
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(Flow::Done),
            Err(error) => Err(format!("cannot write the output: {error}")),
        }
    }

    /// A message for the person on standard error; the table is drawn again below it.
    fn notice(&mut self, text: &str) -> Result<(), String> {
        if self.mode == Mode::Table && self.drawn_lines > 0 {
            self.write(&erase(self.drawn_lines))?;
            self.drawn_lines = 0;
            self.dirty = true;
        }
        eprintln!("oddsmatch: {text}");
        if self.mode == Mode::Table {
            self.draw(true)?;
        }
        Ok(())
    }

    /// Draws the table again if something changed and it was not drawn too recently (or
    /// `now`).
    fn draw(&mut self, now: bool) -> Result<(), String> {
        let due = self
            .last_draw
            .is_none_or(|last| last.elapsed() >= REDRAW_INTERVAL);
        if !self.dirty || !(now || due) {
            return Ok(());
        }
        let table = self.table();
        let mut frame = erase(self.drawn_lines);
        frame.push_str(&table);
        self.write(&frame)?;
        self.drawn_lines = table.lines().count();
        self.dirty = false;
        self.last_draw = Some(Instant::now());
        Ok(())
    }

    /// The table's last drawing, and the terminal as it was.
    fn finish(&mut self) {
        if self.mode != Mode::Table {
            return;
        }
        // Whatever came last is shown; a failure to write changes nothing at the end.
        let _ = self.draw(true);
        if !self.once {
            let _ = self.write("\x1b[?7h\x1b[?25h");
        }
    }

    /// The whole table, one line per row.
    fn table(&self) -> String {
        let mut text = format!(
            "oddsmatch watch: {}, {}; times UTC{}\n",
            self.addr,
            streams_text(self.streams),
            if self.once { "" } else { "; Ctrl-C to stop" }
        );
        if let Some(connection) = &self.connection {
            text.push_str(&format!("** {connection} **\n"));
        }
        let depth = self.streams.contains(Streams::BOOK);
        for (market, view) in &self.markets {
            text.push('\n');
            text.push_str(&market_heading(*market, view));
            text.push('\n');
            if !view.synced && view.selections.is_empty() {
                continue;
            }
            if view.selections.is_empty() {
                text.push_str("  no odds yet\n");
                continue;
            }
            let mut columns = vec![
                ("SELECTION", true),
                ("BACK", true),
                ("LAY", true),
                ("LAST", true),
                ("IMPLIED", true),
                ("MATCHED", true),
            ];
            if depth {
                columns.push(("TO BACK", false));
                columns.push(("TO LAY", false));
            }
            let rows = view
                .selections
                .iter()
                .map(|s| {
                    let mut row = vec![
                        s.odds.selection.0.to_string(),
                        odds_or_dash(s.odds.back_x100),
                        odds_or_dash(s.odds.lay_x100),
                        odds_or_dash(s.odds.last_traded_x100),
                        percent(s.odds.implied_bps),
                        s.odds.matched_minor.to_string(),
                    ];
                    if depth {
                        // Backers take the resting lays; layers take the resting backs.
                        row.push(depth_text(&s.lays, " "));
                        row.push(depth_text(&s.backs, " "));
                    }
                    row
                })
                .collect();
            text.push_str(&align(&columns, rows, "  "));
            if let Some((selection, odds_x100, stake_minor, ts_ns)) = view.last_trade {
                text.push_str(&format!(
                    "  last trade: {stake_minor} at {} on selection {} at {}\n",
                    format_odds(odds_x100),
                    selection.0,
                    clock(ts_ns)
                ));
            }
        }
        text
    }
}

/// A market's first line in the table.
fn market_heading(market: MarketId, view: &MarketView) -> String {
    let mut text = format!("market {}", market.0);
    if !view.synced && view.selections.is_empty() && view.tick_seq == 0 {
        text.push_str("  waiting for the snapshot");
        return text;
    }
    text.push_str(&format!(
        "  {}  tick {}  {}  overround {}",
        status_text(view.status),
        view.tick_seq,
        clock(view.ts_ns),
        percent_u32(view.overround_bps)
    ));
    if view.gap {
        text.push_str("  [gap: resyncing]");
    } else if !view.synced {
        text.push_str("  [waiting for a snapshot]");
    }
    if view.conflated {
        text.push_str("  [conflated]");
    }
    text
}

/// Applies a tick's odds to the selections a snapshot described.
fn take_tick(selections: &mut Vec<SnapshotSelection>, odds: &[TickSelection]) {
    for tick in odds {
        match selections
            .iter_mut()
            .find(|s| s.odds.selection == tick.selection)
        {
            Some(s) => s.odds = *tick,
            None => selections.push(SnapshotSelection {
                odds: *tick,
                ..SnapshotSelection::default()
            }),
        }
    }
}

fn snapshot_line(s: &Snapshot) -> String {
    format!(
        "{} market {} snapshot{} tick {} {}{}",
        clock(s.ts_ns),
        s.market.0,
        if s.flags & FLAG_CONFLATED != 0 {
            " (conflated)"
        } else {
            ""
        },
        s.tick_seq,
        status_text(s.status),
        odds_text(s.selections.iter().map(|s| &s.odds))
    )
}

fn tick_line(t: &Tick) -> String {
    format!(
        "{} market {} tick {}{} {}{}",
        clock(t.ts_ns),
        t.market.0,
        t.tick_seq,
        if t.flags & FLAG_CONFLATED != 0 {
            " (conflated)"
        } else {
            ""
        },
        status_text(t.status),
        odds_text(t.selections.iter())
    )
}

/// `  1: 2.50/2.56 (39.5%)  2: -/- (0.0%)`, or `  no odds yet`.
fn odds_text<'a>(selections: impl Iterator<Item = &'a TickSelection>) -> String {
    let mut text = String::new();
    for s in selections {
        text.push_str(&format!(
            "  {}: {}/{} ({})",
            s.selection.0,
            odds_or_dash(s.back_x100),
            odds_or_dash(s.lay_x100),
            percent(s.implied_bps)
        ));
    }
    if text.is_empty() {
        text.push_str("  no odds yet");
    }
    text
}

fn snapshot_json(s: &Snapshot) -> Value {
    let selections: Vec<Value> = s
        .selections
        .iter()
        .map(|sel| {
            let mut object = selection_json(&sel.odds);
            object["backs"] = depth_json(&sel.backs);
            object["lays"] = depth_json(&sel.lays);
            object
        })
        .collect();
    json!({
        "event": "snapshot", "market": s.market.0, "status": s.status.map(|st| name(&st)),
        "conflated": s.flags & FLAG_CONFLATED != 0, "tick_seq": s.tick_seq,
        "book_seq": s.book_seq, "overround_bps": s.overround_bps, "ts_ns": s.ts_ns,
        "selections": selections,
    })
}

fn tick_json(t: &Tick) -> Value {
    let selections: Vec<Value> = t.selections.iter().map(selection_json).collect();
    json!({
        "event": "tick", "market": t.market.0, "status": t.status.map(|st| name(&st)),
        "conflated": t.flags & FLAG_CONFLATED != 0, "tick_seq": t.tick_seq,
        "reason": t.reason.map(|r| name(&r)), "overround_bps": t.overround_bps,
        "ts_ns": t.ts_ns, "selections": selections,
    })
}

fn selection_json(s: &TickSelection) -> Value {
    let odds = |x100: u32| (x100 != 0).then(|| format_odds(x100));
    json!({
        "selection": s.selection.0,
        "back": odds(s.back_x100), "back_x100": s.back_x100,
        "lay": odds(s.lay_x100), "lay_x100": s.lay_x100,
        "last_traded": odds(s.last_traded_x100), "last_traded_x100": s.last_traded_x100,
        "indicative_x100": s.indicative_x100, "implied_bps": s.implied_bps,
        "reference_bps": s.reference_bps, "matched": s.matched_minor, "pool": s.pool_minor,
    })
}

/// The levels with odds, best first.
fn depth_json(depth: &Depth) -> Value {
    depth
        .odds_x100
        .iter()
        .zip(&depth.stakes_minor)
        .filter(|(odds, _)| **odds != 0)
        .map(|(odds, stake)| json!({"odds": format_odds(*odds), "odds_x100": odds, "stake": stake}))
        .collect()
}

/// `600@2.50, 100@2.52` (stake at odds, best first), or `-`.
fn depth_text(depth: &Depth, separator: &str) -> String {
    let levels: Vec<String> = depth
        .odds_x100
        .iter()
        .zip(&depth.stakes_minor)
        .filter(|(odds, _)| **odds != 0)
        .map(|(odds, stake)| format!("{stake}@{}", format_odds(*odds)))
        .collect();
    if levels.is_empty() {
        "-".to_owned()
    } else {
        levels.join(separator)
    }
}

fn odds_or_dash(odds_x100: u32) -> String {
    if odds_x100 == 0 {
        "-".to_owned()
    } else {
        format_odds(odds_x100)
    }
}

/// Basis points as a percentage with one decimal: 3950 is `39.5%`.
fn percent(bps: u16) -> String {
    percent_u32(u32::from(bps))
}

fn percent_u32(bps: u32) -> String {
    let tenths = bps.saturating_add(5) / 10;
    format!("{}.{}%", tenths / 10, tenths % 10)
}

fn status_text(status: Option<MarketStatus>) -> String {
    status.map_or_else(|| "-".to_owned(), |status| name(&status))
}

fn streams_text(streams: Streams) -> String {
    [
        (Streams::TICKS, "ticks"),
        (Streams::STATUS, "status"),
        (Streams::BOOK, "book"),
        (Streams::TRADES, "trades"),
    ]
    .iter()
    .filter(|(stream, _)| streams.contains(*stream))
    .map(|(_, word)| *word)
    .collect::<Vec<_>>()
    .join(",")
}

fn list(markets: &BTreeSet<MarketId>) -> String {
    markets
        .iter()
        .map(|m| m.0.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Moves the cursor up over `lines` lines and clears from there to the end of the screen.
fn erase(lines: usize) -> String {
    if lines == 0 {
        String::new()
    } else {
        format!("\x1b[{lines}F\x1b[J")
    }
}

/// The time of day of nanoseconds since the epoch, UTC: `12:00:01.123`.
fn clock(ts_ns: u64) -> String {
    if ts_ns == 0 {
        return "--:--:--.---".to_owned();
    }
    let ms = ts_ns / 1_000_000;
    let seconds_of_day = (ms / 1_000) % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        seconds_of_day / 3_600,
        seconds_of_day / 60 % 60,
        seconds_of_day % 60,
        ms % 1_000
    )
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn reject_name(reason: SubscribeReject) -> &'static str {
    match reason {
        SubscribeReject::UnknownMarket => "unknown_market",
        SubscribeReject::LoginRequired => "login_required",
        SubscribeReject::TooManySubscriptions => "too_many_subscriptions",
        SubscribeReject::InvalidStreams => "invalid_streams",
        SubscribeReject::NotSubscribed => "not_subscribed",
    }
}

fn reject_meaning(reason: SubscribeReject) -> &'static str {
    match reason {
        SubscribeReject::UnknownMarket => "no market has this id",
        SubscribeReject::LoginRequired => {
            "these streams need a login, or the server serves no anonymous subscribers: set \
             ODDSMATCH_KEY_ID and ODDSMATCH_SECRET"
        }
        SubscribeReject::TooManySubscriptions => {
            "the session or the server holds as many subscriptions as allowed"
        }
        SubscribeReject::InvalidStreams => "the server does not know these streams",
        SubscribeReject::NotSubscribed => "the market is not subscribed",
    }
}

fn login_reject(reason: LoginReject) -> &'static str {
    match reason {
        LoginReject::UnknownKey => "unknown_key: no account has this API key id",
        LoginReject::BadProof => {
            "bad_proof: the secret does not match the key id (check ODDSMATCH_SECRET)"
        }
        LoginReject::TooManySessions => {
            "too_many_sessions: the account has as many sessions open as its tier allows"
        }
        LoginReject::OutOfOrder => "out_of_order: the login went out of order",
        LoginReject::Unavailable => "unavailable: the server could not look the key up; try again",
    }
}

fn login_error(addr: &str, error: SubscriberError) -> String {
    match error {
        SubscriberError::Login(reason) => {
            format!("login rejected at {addr}: {}", login_reject(reason))
        }
        SubscriberError::Timeout => format!("no answer from {addr} while logging in"),
        other => format!("cannot log in at {addr}: {other}"),
    }
}

fn credentials(args: &WatchArgs) -> Result<(u64, [u8; 32]), String> {
    let needs = "the book and trades streams need an API key";
    let key_id = args
        .key_id
        .ok_or_else(|| format!("{needs}: give --key-id or set ODDSMATCH_KEY_ID"))?;
    let secret = args
        .secret
        .as_deref()
        .ok_or_else(|| format!("{needs}: set ODDSMATCH_SECRET (or give --secret)"))?;
    Ok((key_id, parse_secret(secret)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick_selection(selection: u32, back_x100: u32, lay_x100: u32) -> TickSelection {
        TickSelection {
            selection: SelectionId(selection),
            back_x100,
            lay_x100,
            implied_bps: 3_950,
            ..TickSelection::default()
        }
    }

    #[test]
    fn clock_is_utc_time_of_day_in_milliseconds() {
        // 2024-01-01T12:00:01.123Z
        assert_eq!(clock(1_704_110_401_123_456_789), "12:00:01.123");
        assert_eq!(clock(0), "--:--:--.---");
    }

    #[test]
    fn percentages_round_to_one_decimal() {
        assert_eq!(percent(3_950), "39.5%");
        assert_eq!(percent(3_956), "39.6%");
        assert_eq!(percent(10_000), "100.0%");
        assert_eq!(percent(0), "0.0%");
        assert_eq!(percent_u32(10_120), "101.2%");
    }

    #[test]
    fn a_tick_prints_as_one_line() {
        let tick = Tick {
            market: MarketId(3),
            status: Some(MarketStatus::Open),
            flags: 0,
            tick_seq: 17,
            reason: None,
            overround_bps: 0,
            ts_ns: 1_704_110_401_123_000_000,
            selections: vec![tick_selection(1, 250, 256), tick_selection(2, 0, 0)],
        };
        assert_eq!(
            tick_line(&tick),
            "12:00:01.123 market 3 tick 17 open  1: 2.50/2.56 (39.5%)  2: -/- (39.5%)"
        );
        let conflated = Tick {
            flags: FLAG_CONFLATED,
            selections: Vec::new(),
            ..tick
        };
        assert_eq!(
            tick_line(&conflated),
            "12:00:01.123 market 3 tick 17 (conflated) open  no odds yet"
        );
        let json = tick_json(&conflated);
        assert_eq!(json["conflated"], true);
        assert_eq!(json["status"], "open");
    }

    #[test]
    fn depth_shows_stake_at_odds() {
        let depth = Depth {
            odds_x100: [250, 252, 0],
            stakes_minor: [600, 100, 0],
        };
        assert_eq!(depth_text(&depth, ", "), "600@2.50, 100@2.52");
        assert_eq!(depth_text(&Depth::default(), ", "), "-");
        assert_eq!(depth_json(&depth)[1]["odds"], "2.52");
    }

    #[test]
    fn streams_parse_and_print() {
        assert_eq!(parse_streams("ticks,status"), Ok(Streams(9)));
        assert!(parse_streams("ticks,nope").unwrap_err().contains("nope"));
        assert_eq!(streams_text(Streams::ALL), "ticks,status,book,trades");
    }

    #[test]
    fn ticks_update_the_selections_a_snapshot_gave() {
        let mut selections = vec![SnapshotSelection {
            odds: tick_selection(1, 250, 0),
            ..SnapshotSelection::default()
        }];
        take_tick(
            &mut selections,
            &[tick_selection(1, 260, 0), tick_selection(2, 300, 0)],
        );
        assert_eq!(selections.len(), 2);
        assert_eq!(selections[0].odds.back_x100, 260);
        assert_eq!(selections[1].odds.selection, SelectionId(2));
    }
}
