//! `oddsmatch admin`: the operator's command line over a node's admin socket
//! (`docs/admin.md`). Each subcommand sends one request and prints the reply: aligned text
//! for a person, or the node's JSON reply with `--json`. Exit status 0 when the node did it,
//! 1 when it refused (the reason is printed), 2 for usage errors and an unreachable socket.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use oddsmatch_net::admin::{AdminClient, SOCKET_FILE};
use serde_json::{Map, Value, json};

use crate::order::align;

/// Arguments of `oddsmatch admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The node's admin socket (default: `admin.sock` in `--data-dir`).
    #[arg(long, env = "ODDSMATCH_ADMIN_SOCKET", global = true)]
    pub socket: Option<PathBuf>,
    /// The node's data directory, where its socket is.
    #[arg(long, default_value = "data", global = true)]
    pub data_dir: PathBuf,
    /// Print the node's reply as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub request: AdminRequest,
}

/// The requests of `oddsmatch admin`.
#[derive(Debug, Subcommand)]
pub enum AdminRequest {
    /// Uptime, shards (journal position, durability lag, queues), connections, persist lag.
    Status,
    /// Every market.
    Markets,
    /// One market, or a change to it.
    Market {
        /// What to do.
        #[command(subcommand)]
        action: MarketAction,
    },
    /// Every account, or one, or a change to one.
    Account {
        /// What to do.
        #[command(subcommand)]
        action: AccountAction,
    },
    /// The node's metrics (stage latencies, counters).
    Metrics,
    /// The configuration, or a knob changed while the node runs.
    Config {
        /// What to do.
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Take a snapshot of every shard now (written before the reply).
    Snapshot,
    /// Stop the node gracefully (drain, commit, snapshot).
    Shutdown,
    /// Send one request as it is (a JSON object with "op"), for anything else.
    Raw {
        /// The request, e.g. '{"op":"help"}'.
        request: String,
    },
}

/// `oddsmatch admin market ...`.
#[derive(Debug, Subcommand)]
pub enum MarketAction {
    /// The market: status, knobs, schedule, book and odds.
    Show {
        /// The market.
        market: u32,
        /// Price levels per side (at most 10).
        #[arg(long)]
        depth: Option<u16>,
    },
    /// Create a market from its definition in JSON (the `create_market` fields of
    /// docs/sim-format.md), e.g. `{"market":7,"selections":[1,2,3]}`.
    Create {
        /// The definition.
        spec: String,
    },
    /// pending -> open.
    Open {
        /// The market.
        market: u32,
    },
    /// open -> suspended.
    Suspend {
        /// The market.
        market: u32,
    },
    /// suspended -> open.
    Resume {
        /// The market.
        market: u32,
    },
    /// open | suspended -> closed.
    Close {
        /// The market.
        market: u32,
    },
    /// Settle with the winning selections and pay every account.
    Settle {
        /// The market.
        market: u32,
        /// The winners, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        winners: Vec<u32>,
    },
    /// Call the market off.
    Void {
        /// The market.
        market: u32,
    },
    /// Change when the market locks and closes (nanoseconds since the epoch).
    Schedule {
        /// The market.
        market: u32,
        /// When it locks.
        #[arg(long)]
        lock_at: Option<u64>,
        /// When the event ends (it locks `lock_before_end_ms` earlier).
        #[arg(long)]
        end_at: Option<u64>,
        /// How long before the end it locks.
        #[arg(long)]
        lock_before_end_ms: Option<u32>,
        /// When it closes.
        #[arg(long)]
        close_at: Option<u64>,
        /// Remove the lock (and the end time it came from).
        #[arg(long)]
        clear_lock: bool,
        /// Remove the close.
        #[arg(long)]
        clear_close: bool,
    },
    /// Change odds and risk knobs: KEY=VALUE pairs, e.g. price_band_bps=500 bet_delay_ms=0.
    Knobs {
        /// The market.
        market: u32,
        /// The changes.
        #[arg(required = true)]
        changes: Vec<String>,
    },
}

/// `oddsmatch admin account ...`.
#[derive(Debug, Subcommand)]
pub enum AccountAction {
    /// Every account (a page of them; `--after` for the next).
    List {
        /// The last account of the previous page.
        #[arg(long)]
        after: Option<u32>,
    },
    /// One account: balance, exposure, open orders and positions on each shard.
    Show {
        /// The account.
        account: u32,
    },
    /// Create an account.
    Create {
        /// The account.
        account: u32,
        /// free, basic, pro, market_maker or house.
        #[arg(long)]
        tier: Option<String>,
        /// trader or feed.
        #[arg(long)]
        role: Option<String>,
    },
    /// Credit an account (idempotent by transfer id).
    Deposit {
        /// The account.
        account: u32,
        /// Minor units.
        amount: i64,
        /// The transfer's id (applied at most once).
        #[arg(long)]
        transfer_id: u64,
        /// The shard whose wallet is credited (needed with several shards).
        #[arg(long)]
        shard: Option<u16>,
    },
    /// Debit an account (idempotent by transfer id).
    Withdraw {
        /// The account.
        account: u32,
        /// Minor units.
        amount: i64,
        /// The transfer's id (applied at most once).
        #[arg(long)]
        transfer_id: u64,
        /// The shard whose wallet is debited (needed with several shards).
        #[arg(long)]
        shard: Option<u16>,
    },
    /// Turn the kill switch on (cancel everything, block new orders) or off.
    Kill {
        /// The account.
        account: u32,
        /// on or off.
        state: String,
    },
    /// Set the tier and limits: KEY=VALUE pairs (tier, min_stake, max_stake,
    /// max_market_exposure, max_open_orders, stp); limits left out take the tier's.
    Limits {
        /// The account.
        account: u32,
        /// The settings.
        #[arg(required = true)]
        settings: Vec<String>,
    },
    /// Give the account's API key a fresh random secret (printed once).
    RotateKey {
        /// The account.
        account: u32,
        /// The key's id.
        #[arg(long)]
        key_id: u64,
    },
}

/// `oddsmatch admin config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// The whole configuration, or one key (dotted, e.g. market_data.max_lag_ms).
    Get {
        /// The key.
        key: Option<String>,
    },
    /// Change a knob while the node runs (see docs/admin.md for which).
    Set {
        /// The key.
        key: String,
        /// The value (JSON: true, 2000, ...).
        value: String,
    },
}

/// Runs `oddsmatch admin`.
pub fn main(args: &AdminArgs) -> ExitCode {
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("oddsmatch admin: {message}");
            ExitCode::from(2)
        }
    }
}

/// Sends the request; `Ok(false)` when the node refused it.
fn run(args: &AdminArgs) -> Result<bool, String> {
    let request = request(&args.request)?;
    let socket = args
        .socket
        .clone()
        .unwrap_or_else(|| args.data_dir.join(SOCKET_FILE));
    let mut client = AdminClient::connect(&socket).map_err(|e| e.to_string())?;
    let reply = client.request(&request).map_err(|e| e.to_string())?;
    let ok = reply["ok"].as_bool() == Some(true);
    if args.json {
        println!("{reply}");
    } else if ok {
        print!("{}", render(&args.request, &reply["result"]));
    } else {
        let error = &reply["error"];
        eprintln!(
            "refused ({}): {}",
            error["code"].as_str().unwrap_or("?"),
            error["message"].as_str().unwrap_or("")
        );
    }
    Ok(ok)
}

/// The JSON request of a subcommand.
fn request(request: &AdminRequest) -> Result<Value, String> {
    Ok(match request {
        AdminRequest::Status => json!({"op": "status"}),
        AdminRequest::Markets => json!({"op": "markets"}),
        AdminRequest::Metrics => json!({"op": "metrics"}),
        AdminRequest::Snapshot => json!({"op": "snapshot"}),
        AdminRequest::Shutdown => json!({"op": "shutdown"}),
        AdminRequest::Raw { request } => {
            let value: Value =
                serde_json::from_str(request).map_err(|e| format!("raw: not JSON: {e}"))?;
            if !value.is_object() {
                return Err("raw: the request must be a JSON object".into());
            }
            value
        }
        AdminRequest::Config { action } => match action {
            ConfigAction::Get { key } => match key {
                Some(key) => json!({"op": "config_get", "key": key}),
                None => json!({"op": "config_get"}),
            },
            ConfigAction::Set { key, value } => {
                // A bare word that is not JSON is taken as a string.
                let value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
                json!({"op": "config_set", "key": key, "value": value})
            }
        },
        AdminRequest::Market { action } => market_request(action)?,
        AdminRequest::Account { action } => account_request(action)?,
    })
}

fn market_request(action: &MarketAction) -> Result<Value, String> {
    let simple = |op: &str, market: u32| json!({"op": op, "market": market});
    Ok(match action {
        MarketAction::Show { market, depth } => {
            let mut request = simple("market", *market);
            if let Some(depth) = depth {
                request["depth"] = json!(depth);
            }
            request
        }
        MarketAction::Create { spec } => {
            let Value::Object(mut fields) =
                serde_json::from_str(spec).map_err(|e| format!("market create: not JSON: {e}"))?
            else {
                return Err("market create: the definition must be a JSON object".into());
            };
            fields.insert("op".into(), json!("create_market"));
            Value::Object(fields)
        }
        MarketAction::Open { market } => simple("open_market", *market),
        MarketAction::Suspend { market } => simple("suspend_market", *market),
        MarketAction::Resume { market } => simple("resume_market", *market),
        MarketAction::Close { market } => simple("close_market", *market),
        MarketAction::Void { market } => simple("void_market", *market),
        MarketAction::Settle { market, winners } => {
            json!({"op": "settle_market", "market": market, "winners": winners})
        }
        MarketAction::Schedule {
            market,
            lock_at,
            end_at,
            lock_before_end_ms,
            close_at,
            clear_lock,
            clear_close,
        } => {
            let mut request = simple("schedule_market", *market);
            if *clear_lock {
                request["clear_lock"] = json!(true);
            }
            if *clear_close {
                request["clear_close"] = json!(true);
            }
            for (key, value) in [
                ("lock_at", lock_at.map(|v| json!(v))),
                ("end_at", end_at.map(|v| json!(v))),
                ("lock_before_end_ms", lock_before_end_ms.map(|v| json!(v))),
                ("close_at", close_at.map(|v| json!(v))),
            ] {
                if let Some(value) = value {
                    request[key] = value;
                }
            }
            request
        }
        MarketAction::Knobs { market, changes } => {
            let mut fields = pairs("market knobs", changes)?;
            fields.insert("op".into(), json!("set_market_knobs"));
            fields.insert("market".into(), json!(market));
            Value::Object(fields)
        }
    })
}

fn account_request(action: &AccountAction) -> Result<Value, String> {
    Ok(match action {
        AccountAction::List { after } => match after {
            Some(after) => json!({"op": "accounts", "after": after}),
            None => json!({"op": "accounts"}),
        },
        AccountAction::Show { account } => json!({"op": "account", "account": account}),
        AccountAction::Create {
            account,
            tier,
            role,
        } => {
            let mut request = json!({"op": "create_account", "account": account});
            if let Some(tier) = tier {
                request["tier"] = json!(tier);
            }
            if let Some(role) = role {
                request["role"] = json!(role);
            }
            request
        }
        AccountAction::Deposit {
            account,
            amount,
            transfer_id,
            shard,
        }
        | AccountAction::Withdraw {
            account,
            amount,
            transfer_id,
            shard,
        } => {
            let op = match action {
                AccountAction::Deposit { .. } => "deposit",
                _ => "withdraw",
            };
            let mut request = json!({
                "op": op, "account": account, "amount": amount, "transfer_id": transfer_id
            });
            if let Some(shard) = shard {
                request["shard"] = json!(shard);
            }
            request
        }
        AccountAction::Kill { account, state } => {
            let on = match state.as_str() {
                "on" => true,
                "off" => false,
                other => return Err(format!("account kill: `{other}`: say on or off")),
            };
            json!({"op": "kill_switch", "account": account, "on": on})
        }
        AccountAction::Limits { account, settings } => {
            let mut fields = pairs("account limits", settings)?;
            fields.insert("op".into(), json!("set_account_limits"));
            fields.insert("account".into(), json!(account));
            Value::Object(fields)
        }
        AccountAction::RotateKey { account, key_id } => {
            json!({"op": "rotate_api_key", "account": account, "key_id": key_id})
        }
    })
}

/// `KEY=VALUE` arguments as JSON fields (values are JSON, or strings when they do not parse).
fn pairs(what: &str, items: &[String]) -> Result<Map<String, Value>, String> {
    let mut fields = Map::new();
    for item in items {
        let (key, value) = item
            .split_once('=')
            .filter(|(key, _)| !key.is_empty())
            .ok_or_else(|| format!("{what}: `{item}` is not KEY=VALUE"))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
        if fields.insert(key.to_owned(), value).is_some() {
            return Err(format!("{what}: {key} is given twice"));
        }
    }
    Ok(fields)
}

/// A reply's result for a person.
fn render(request: &AdminRequest, result: &Value) -> String {
    match request {
        AdminRequest::Status => status_text(result),
        AdminRequest::Markets => markets_text(result),
        AdminRequest::Market {
            action: MarketAction::Show { .. },
        } => market_text(result),
        AdminRequest::Account {
            action: AccountAction::Show { .. },
        } => account_text(result),
        AdminRequest::Account {
            action: AccountAction::List { .. },
        } => accounts_text(result),
        AdminRequest::Account {
            action: AccountAction::RotateKey { .. },
        } => format!(
            "key {} of the account has a new secret (shown once, keep it):\n{}\n",
            result["key_id"],
            text(&result["secret"])
        ),
        AdminRequest::Config {
            action: ConfigAction::Set { .. },
        } => format!(
            "{}: {} -> {}\n",
            text(&result["key"]),
            result["old"],
            result["new"]
        ),
        AdminRequest::Snapshot => {
            let mut out = String::new();
            for s in result["snapshots"].as_array().into_iter().flatten() {
                out.push_str(&format!(
                    "shard {}: snapshot at seq {}\n",
                    s["shard"], s["seq"]
                ));
            }
            out
        }
        AdminRequest::Shutdown => "the node is stopping\n".to_owned(),
        AdminRequest::Metrics => metrics_text(result),
        _ if result.get("applied").is_some() => applied_text(result),
        _ => format!(
            "{}\n",
            serde_json::to_string_pretty(result).unwrap_or_default()
        ),
    }
}

/// A JSON value as plain text (strings without quotes).
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

fn applied_text(result: &Value) -> String {
    let mut out = String::new();
    for applied in result["applied"].as_array().into_iter().flatten() {
        let events = applied["events"].as_array().map_or(0, Vec::len);
        out.push_str(&format!(
            "shard {}: applied at seq {} ({} event(s))\n",
            applied["shard"], applied["seq"], events
        ));
        for event in applied["events"].as_array().into_iter().flatten() {
            out.push_str(&format!("  {event}\n"));
        }
    }
    out
}

fn status_text(s: &Value) -> String {
    let mut out = format!(
        "up {:.0} s, data in {}, durability {}{}\n",
        s["uptime_s"].as_f64().unwrap_or(0.0),
        text(&s["data_dir"]),
        text(&s["durability"]),
        if s["shutting_down"].as_bool() == Some(true) {
            ", shutting down"
        } else {
            ""
        }
    );
    let rows = s["shards"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|shard| {
            vec![
                text(&shard["shard"]),
                text(&shard["journaled_seq"]),
                text(&shard["durable_seq"]),
                text(&shard["durability_lag_records"]),
                text(&shard["snapshot_seq"]),
                format!(
                    "{}/{}",
                    text(&shard["queue_depth"]),
                    text(&shard["queue_capacity"])
                ),
            ]
        })
        .collect();
    out.push_str(&align(
        &[
            ("shard", true),
            ("journaled", true),
            ("durable", true),
            ("lag", true),
            ("snapshot", true),
            ("queue", true),
        ],
        rows,
        "",
    ));
    let g = &s["gateway"];
    out.push_str(&format!(
        "order entry: {} session(s), {} requests, {} rejected, {} throttled, {} busy\n",
        g["sessions"], g["requests"], g["rejected"], g["throttled"], g["busy"]
    ));
    let md = &s["market_data"];
    if md.is_object() {
        out.push_str(&format!(
            "market data: {} connection(s), {} subscription(s), {} conflation(s), {} slow \
             consumer(s)\n",
            md["connections"], md["subscriptions"], md["conflations"], md["slow_consumers"]
        ));
    }
    match s["persist"].as_array() {
        Some(shards) => {
            for p in shards {
                out.push_str(&format!(
                    "persist shard {}: committed {}, {} record(s) behind, {} ms lag{}\n",
                    p["shard"],
                    p["committed_seq"],
                    p["lag_records"],
                    p["lag_ms"],
                    if p["connected"].as_bool() == Some(true) {
                        String::new()
                    } else {
                        format!(", disconnected ({})", text(&p["last_error"]))
                    }
                ));
            }
        }
        None => out.push_str("persist: off\n"),
    }
    out
}

/// Nanoseconds for a person.
fn duration(value: &Value) -> String {
    let Some(ns) = value.as_u64() else {
        return "-".to_owned();
    };
    match ns {
        0..=9_999 => format!("{ns} ns"),
        10_000..=9_999_999 => format!("{:.1} us", ns as f64 / 1e3),
        10_000_000..=9_999_999_999 => format!("{:.1} ms", ns as f64 / 1e6),
        _ => format!("{:.1} s", ns as f64 / 1e9),
    }
}

/// The stage latencies as a table, then the counters that say what went wrong.
fn metrics_text(m: &Value) -> String {
    let mut stages: Vec<(String, &Value)> = Vec::new();
    let gateway = &m["gateway"]["latency"];
    for stage in ["decode", "ack", "round_trip"] {
        stages.push((format!("gateway {stage}"), &gateway[stage]));
    }
    for shard in m["shards"].as_array().into_iter().flatten() {
        for stage in ["queue_wait", "apply", "commit"] {
            stages.push((
                format!("shard {} {stage}", shard["shard"]),
                &shard["latency"][stage],
            ));
        }
    }
    let market_data = &m["market_data"]["latency"];
    for stage in ["fanout", "tick_write"] {
        stages.push((format!("market data {stage}"), &market_data[stage]));
    }
    let rows = stages
        .into_iter()
        .map(|(name, l)| {
            vec![
                name,
                text(&l["count"]),
                duration(&l["p50_ns"]),
                duration(&l["p99_ns"]),
                duration(&l["p999_ns"]),
                duration(&l["max_ns"]),
            ]
        })
        .collect();
    let mut out = align(
        &[
            ("stage", false),
            ("count", true),
            ("p50", true),
            ("p99", true),
            ("p99.9", true),
            ("max", true),
        ],
        rows,
        "",
    );
    for shard in m["shards"].as_array().into_iter().flatten() {
        let journal = &shard["journal"];
        out.push_str(&format!(
            "shard {}: {} commands, {} events, {} batches, journal {} bytes at seq {}\n",
            shard["shard"],
            shard["commands"],
            shard["events"],
            shard["batches"],
            journal["bytes"],
            journal["seq"]
        ));
        if let Some(rejects) = shard["rejects"].as_object().filter(|r| !r.is_empty()) {
            let list: Vec<String> = rejects.iter().map(|(k, v)| format!("{k} {v}")).collect();
            out.push_str(&format!("  rejects: {}\n", list.join(", ")));
        }
    }
    let g = &m["gateway"];
    out.push_str(&format!(
        "gateway: {} requests, {} rejected, {} throttled, {} busy, {} reports\n",
        g["requests"], g["rejected"], g["throttled"], g["busy"], g["reports"]
    ));
    if let Some(rejects) = g["rejects"].as_object().filter(|r| !r.is_empty()) {
        let list: Vec<String> = rejects.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out.push_str(&format!("  rejects: {}\n", list.join(", ")));
    }
    let md = &m["market_data"];
    out.push_str(&format!(
        "market data: {} frames, {} conflations, {} slow consumers, {} resyncs\n",
        md["frames"], md["conflations"], md["slow_consumers"], md["resyncs"]
    ));
    out
}

fn markets_text(markets: &Value) -> String {
    let rows: Vec<Vec<String>> = markets
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            vec![
                text(&m["market"]),
                text(&m["shard"]),
                text(&m["kind"]),
                text(&m["status"]),
                m["selections"].as_array().map_or(0, Vec::len).to_string(),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no markets\n".to_owned();
    }
    align(
        &[
            ("market", true),
            ("shard", true),
            ("kind", false),
            ("status", false),
            ("selections", true),
        ],
        rows,
        "",
    )
}

fn odds(value: &Value) -> String {
    match value.as_u64() {
        Some(0) | None => "-".to_owned(),
        Some(x100) => format!("{}.{:02}", x100 / 100, x100 % 100),
    }
}

fn best(levels: &Value) -> String {
    levels
        .as_array()
        .and_then(|levels| levels.first())
        .map_or_else(
            || "-".to_owned(),
            |level| format!("{} ({})", odds(&level["odds"]), text(&level["stake"])),
        )
}

fn market_text(m: &Value) -> String {
    let mut out = format!(
        "market {} on shard {}: {} {}, {} selection(s), matched {}, pool {}\n",
        m["market"],
        m["shard"],
        text(&m["kind"]),
        text(&m["status"]),
        m["selections"].as_array().map_or(0, Vec::len),
        text(&m["matched"]),
        text(&m["pool_total"]),
    );
    let schedule = &m["schedule"];
    out.push_str(&format!(
        "schedule: lock_at {}, end_at {}, close_at {}\n",
        text(&schedule["lock_at"]),
        text(&schedule["end_at"]),
        text(&schedule["close_at"])
    ));
    if let Some(knobs) = m["knobs"].as_object() {
        let list: Vec<String> = knobs
            .iter()
            .map(|(key, value)| format!("{key}={}", text(value)))
            .collect();
        out.push_str(&format!("knobs: {}\n", list.join(" ")));
    }
    let rows = m["selections"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            vec![
                text(&s["selection"]),
                best(&s["backs"]),
                best(&s["lays"]),
                text(&s["matched"]),
                text(&s["pool"]),
            ]
        })
        .collect();
    out.push_str(&align(
        &[
            ("selection", true),
            ("best back", true),
            ("best lay", true),
            ("matched", true),
            ("pool", true),
        ],
        rows,
        "",
    ));
    out
}

fn accounts_text(page: &Value) -> String {
    let rows: Vec<Vec<String>> = page["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            vec![
                text(&a["account"]),
                text(&a["tier"]),
                text(&a["role"]),
                text(&a["balance"]),
                text(&a["exposure"]),
                text(&a["kill_switch"]),
            ]
        })
        .collect();
    let mut out = align(
        &[
            ("account", true),
            ("tier", false),
            ("role", false),
            ("balance", true),
            ("exposure", true),
            ("kill switch", false),
        ],
        rows,
        "",
    );
    if page["more"].as_bool() == Some(true) {
        out.push_str("(more: --after the last account)\n");
    }
    out
}

fn account_text(a: &Value) -> String {
    let mut out = String::new();
    for wallet in a["shards"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "account {} on shard {}: {} {}, balance {}, exposure {}, available {}, {} open \
             order(s) of at most {}{}\n",
            a["account"],
            wallet["shard"],
            text(&wallet["tier"]),
            text(&wallet["role"]),
            wallet["balance"],
            wallet["exposure"],
            wallet["available"],
            wallet["open_orders"],
            wallet["max_open_orders"],
            if wallet["kill_switch"].as_bool() == Some(true) {
                ", KILL SWITCH ON"
            } else {
                ""
            }
        ));
        let rows: Vec<Vec<String>> = wallet["orders"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                vec![
                    text(&o["order_id"]),
                    text(&o["market"]),
                    text(&o["selection"]),
                    text(&o["side"]),
                    odds(&o["odds"]),
                    text(&o["remaining"]),
                ]
            })
            .collect();
        if !rows.is_empty() {
            out.push_str(&align(
                &[
                    ("order", true),
                    ("market", true),
                    ("selection", true),
                    ("side", false),
                    ("odds", true),
                    ("remaining", true),
                ],
                rows,
                "  ",
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_become_json_fields() {
        let fields = pairs(
            "t",
            &[
                "price_band_bps=500".into(),
                "tier=pro".into(),
                "on=true".into(),
            ],
        )
        .unwrap();
        assert_eq!(fields["price_band_bps"], json!(500));
        assert_eq!(fields["tier"], json!("pro"));
        assert_eq!(fields["on"], json!(true));
        assert!(pairs("t", &["x".into()]).is_err());
        assert!(pairs("t", &["=1".into()]).is_err());
        assert!(pairs("t", &["a=1".into(), "a=2".into()]).is_err());
    }

    #[test]
    fn subcommands_make_their_requests() {
        let settle = request(&AdminRequest::Market {
            action: MarketAction::Settle {
                market: 3,
                winners: vec![1, 2],
            },
        })
        .unwrap();
        assert_eq!(
            settle,
            json!({"op": "settle_market", "market": 3, "winners": [1, 2]})
        );
        let kill = request(&AdminRequest::Account {
            action: AccountAction::Kill {
                account: 9,
                state: "off".into(),
            },
        })
        .unwrap();
        assert_eq!(
            kill,
            json!({"op": "kill_switch", "account": 9, "on": false})
        );
        assert!(
            request(&AdminRequest::Account {
                action: AccountAction::Kill {
                    account: 9,
                    state: "maybe".into(),
                },
            })
            .is_err()
        );
        assert!(
            request(&AdminRequest::Raw {
                request: "[1]".into()
            })
            .is_err()
        );
    }
}
