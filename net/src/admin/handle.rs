//! What each admin request does. Every request is a JSON object with `"op"`, an optional
//! `"id"` echoed in the reply, and its own fields; the reply is `{"ok": true, "result": ..}`
//! or `{"ok": false, "error": {"code": .., "message": ..}}`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use oddsmatch_engine::shard::{
    Answer, Batch, Clock, ShardMap, SubmitError, Submitter, SystemClock, Watermark,
};
use oddsmatch_engine::{AccountId, ApiSecret, Command, Event, MarketId, Query, Reply};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{ADMIN_TAG_BIT, error_reply};
use crate::market_data::LiveKnobs;
use crate::metrics::MetricsSource;

/// One shard as the admin socket reaches it.
#[derive(Clone, Debug)]
pub struct ShardAccess {
    /// Its request queue.
    pub submitter: Submitter,
    /// Its journal and snapshot positions.
    pub watermark: Arc<Watermark>,
}

/// Everything the requests reach.
pub(crate) struct AdminContext {
    pub(crate) shards: Vec<ShardAccess>,
    pub(crate) map: ShardMap,
    /// The node's configuration as started, for `config_get`.
    pub(crate) config: Value,
    pub(crate) data_dir: PathBuf,
    pub(crate) started_at_ns: u64,
    /// The node's counters, stage latencies and persist progress.
    pub(crate) metrics: MetricsSource,
    /// The market-data knobs `config_set` changes (`None`: market data is off).
    pub(crate) knobs: Option<Arc<LiveKnobs>>,
    /// Set by `shutdown`; the process that runs the node stops it.
    pub(crate) shutdown: Arc<AtomicBool>,
    pub(crate) timeout: Duration,
    pub(crate) next_tag: AtomicU64,
}

/// A refused request.
#[derive(Debug)]
struct Failure {
    code: &'static str,
    message: String,
    /// What the shards did (a command the engine rejected).
    detail: Option<Value>,
}

fn fail(code: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
        detail: None,
    }
}

type Outcome = Result<Value, Failure>;

/// The requests that become engine commands of the same name.
const COMMANDS: [&str; 15] = [
    "create_market",
    "open_market",
    "suspend_market",
    "resume_market",
    "close_market",
    "settle_market",
    "void_market",
    "schedule_market",
    "set_market_knobs",
    "create_account",
    "set_api_key",
    "set_account_limits",
    "deposit",
    "withdraw",
    "kill_switch",
];

/// The requests that read.
const READS: [&str; 8] = [
    "status",
    "markets",
    "market",
    "accounts",
    "account",
    "config_get",
    "metrics",
    "help",
];

/// The other requests.
const OTHERS: [&str; 4] = ["rotate_api_key", "config_set", "snapshot", "shutdown"];

/// The knobs `config_set` changes while the node runs.
const SETTABLE: [&str; 3] = [
    "market_data.anonymous",
    "market_data.max_connections",
    "market_data.max_lag_ms",
];

impl AdminContext {
    /// Answers one request line.
    pub(crate) fn handle_line(&self, text: &str) -> Value {
        let request: Value = match serde_json::from_str(text) {
            Ok(request) => request,
            Err(error) => {
                return error_reply(
                    &Value::Null,
                    "malformed",
                    &format!("malformed JSON: {error}"),
                );
            }
        };
        let Value::Object(mut fields) = request else {
            return error_reply(
                &Value::Null,
                "malformed",
                "a request is a JSON object with an \"op\"",
            );
        };
        let id = fields.remove("id").unwrap_or(Value::Null);
        let op = match fields.remove("op") {
            Some(Value::String(op)) => op,
            Some(other) => {
                return error_reply(
                    &id,
                    "bad_request",
                    &format!("\"op\" must be a string, not {other}"),
                );
            }
            None => return error_reply(&id, "bad_request", "the request has no \"op\""),
        };
        let started = Instant::now();
        let outcome = self.dispatch(&op, fields);
        tracing::debug!(
            op,
            elapsed_us = started.elapsed().as_micros() as u64,
            ok = outcome.is_ok(),
            "admin request"
        );
        match outcome {
            Ok(result) => {
                let mut reply = json!({"ok": true, "result": result});
                if !id.is_null() {
                    reply["id"] = id;
                }
                reply
            }
            Err(failure) => {
                if failure.code != "bad_request" && failure.code != "unknown_op" {
                    tracing::info!(op, code = failure.code, message = %failure.message, "admin request refused");
                }
                let mut reply = error_reply(&id, failure.code, &failure.message);
                if let Some(detail) = failure.detail {
                    reply["error"]["detail"] = detail;
                }
                reply
            }
        }
    }

    fn dispatch(&self, op: &str, fields: Map<String, Value>) -> Outcome {
        match op {
            "status" => no_fields(op, &fields).and_then(|()| self.status()),
            "markets" => no_fields(op, &fields).and_then(|()| self.markets()),
            "market" => self.market(parse(op, fields)?),
            "accounts" => self.accounts(parse(op, fields)?),
            "account" => self.account(parse(op, fields)?),
            "config_get" => self.config_get(parse(op, fields)?),
            "config_set" => self.config_set(parse(op, fields)?),
            "metrics" => no_fields(op, &fields).and_then(|()| to_json(&self.metrics.collect())),
            "snapshot" => no_fields(op, &fields).and_then(|()| self.snapshot()),
            "shutdown" => no_fields(op, &fields).map(|()| {
                self.shutdown.store(true, Ordering::Release);
                tracing::info!("admin: shutdown requested");
                json!({"stopping": true})
            }),
            "rotate_api_key" => self.rotate_api_key(parse(op, fields)?),
            "help" => Ok(json!({
                "commands": COMMANDS,
                "reads": READS,
                "others": OTHERS,
                "settable": SETTABLE,
                "docs": "docs/admin.md",
            })),
            op if COMMANDS.contains(&op) => self.command(op, fields),
            op => Err(fail(
                "unknown_op",
                format!("unknown request \"{op}\"; \"help\" lists them"),
            )),
        }
    }

    // ------------------------------------------------------------------ commands

    /// A state-changing request: the engine command of the same name, routed like the
    /// bootstrap file's lines.
    fn command(&self, op: &str, mut fields: Map<String, Value>) -> Outcome {
        let explicit_shard = match fields.remove("shard") {
            None => None,
            Some(value) => Some(
                value
                    .as_u64()
                    .filter(|&s| s < u64::from(self.map.count()))
                    .ok_or_else(|| {
                        fail(
                            "bad_request",
                            format!("\"shard\" must be 0 to {}", self.map.count() - 1),
                        )
                    })? as u16,
            ),
        };
        fields.insert("cmd".to_owned(), Value::String(op.to_owned()));
        let command: Command = serde_json::from_value(Value::Object(fields))
            .map_err(|e| fail("bad_request", format!("{op}: {e}")))?;
        let shards: Vec<u16> = match (&command, self.map.route(&command)) {
            (_, Some(shard)) => {
                if explicit_shard.is_some_and(|s| s != shard) {
                    return Err(fail(
                        "bad_request",
                        format!("{op}: the market belongs to shard {shard}"),
                    ));
                }
                vec![shard]
            }
            (Command::Deposit { .. } | Command::Withdraw { .. }, None) => {
                match (explicit_shard, self.map.count()) {
                    (Some(shard), _) => vec![shard],
                    (None, 1) => vec![0],
                    (None, count) => {
                        return Err(fail(
                            "bad_request",
                            format!(
                                "{op}: with {count} shards money goes to one of them: name it \
                                 (\"shard\": 0 to {})",
                                count - 1
                            ),
                        ));
                    }
                }
            }
            (_, None) => (0..self.map.count()).collect(),
        };
        self.apply(op, &command, &shards)
    }

    /// Submits `command` to `shards` and waits for their committed outcomes.
    fn apply(&self, op: &str, command: &Command, shards: &[u16]) -> Outcome {
        let tag = ADMIN_TAG_BIT | self.next_tag.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = crossbeam_channel::bounded::<Arc<Batch>>(shards.len().max(1) * 4);
        let deadline = Instant::now() + self.timeout;
        for &shard in shards {
            let submitter = &self.shards[usize::from(shard)].submitter;
            loop {
                match submitter.submit_to(tag, command.clone(), tx.clone()) {
                    Ok(()) => break,
                    Err(SubmitError::Busy) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(error) => {
                        return Err(fail("unavailable", format!("shard {shard}: {error}")));
                    }
                }
            }
        }
        drop(tx);
        let mut applied = Vec::new();
        let mut rejected = Vec::new();
        while applied.len() < shards.len() {
            let wait = deadline.saturating_duration_since(Instant::now());
            let batch = rx.recv_timeout(wait).map_err(|_| {
                fail(
                    "timeout",
                    format!(
                        "{op}: {} of {} shard(s) answered within {} ms (the command may still \
                         be applied)",
                        applied.len(),
                        shards.len(),
                        self.timeout.as_millis()
                    ),
                )
            })?;
            for (outcome, events) in batch.iter().filter(|(o, _)| o.tag == tag) {
                for event in events {
                    if let Event::Rejected { reason, .. } = event {
                        rejected.push(format!("shard {}: {}", batch.shard, reason.name()));
                    }
                }
                applied.push(json!({
                    "shard": batch.shard,
                    "seq": outcome.seq,
                    "ts": outcome.ts_ns,
                    "events": events,
                }));
            }
        }
        applied.sort_by_key(|a| a["shard"].as_u64());
        let result = json!({ "applied": applied });
        if rejected.is_empty() {
            Ok(result)
        } else {
            Err(Failure {
                code: "rejected",
                message: format!("{op} rejected: {}", rejected.join(", ")),
                detail: Some(result),
            })
        }
    }

    /// `rotate_api_key`: a fresh random secret for an account's key, returned once.
    fn rotate_api_key(&self, args: RotateArgs) -> Outcome {
        if args.key_id == 0 {
            return Err(fail("bad_request", "rotate_api_key: key_id must not be 0"));
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| fail("unavailable", format!("no randomness for a secret: {e}")))?;
        let command = Command::SetApiKey {
            account: args.account,
            key_id: args.key_id,
            secret: ApiSecret(secret),
        };
        let shards: Vec<u16> = (0..self.map.count()).collect();
        let mut result = self.apply("rotate_api_key", &command, &shards)?;
        result["key_id"] = json!(args.key_id);
        result["secret"] = serde_json::to_value(ApiSecret(secret)).unwrap_or(Value::Null);
        Ok(result)
    }

    // --------------------------------------------------------------------- reads

    /// Asks `shard` a question and waits for the answer.
    fn ask(&self, shard: u16, query: Query) -> Result<Reply, Failure> {
        let tag = ADMIN_TAG_BIT | self.next_tag.fetch_add(1, Ordering::Relaxed);
        let (tx, rx): (Sender<Answer>, Receiver<Answer>) = crossbeam_channel::bounded(1);
        self.shards[usize::from(shard)]
            .submitter
            .query_to(tag, query, tx)
            .map_err(|e| fail("unavailable", format!("shard {shard}: {e}")))?;
        rx.recv_timeout(self.timeout)
            .map(|answer| answer.reply)
            .map_err(|_| {
                fail(
                    "timeout",
                    format!(
                        "shard {shard} did not answer within {} ms",
                        self.timeout.as_millis()
                    ),
                )
            })
    }

    /// The node at a glance, from its metrics (which read atomics and never stop a shard).
    fn status(&self) -> Outcome {
        let m = self.metrics.collect();
        let shards: Vec<Value> = m
            .shards
            .iter()
            .map(|s| {
                json!({
                    "shard": s.shard,
                    "journaled_seq": s.journal.seq,
                    "durable_seq": s.journal.durable_seq,
                    "durability_lag_records": s.journal.seq.saturating_sub(s.journal.durable_seq),
                    "snapshot_seq": s.journal.snapshot_seq,
                    "queue_depth": s.queues.requests,
                    "queue_capacity": s.queues.requests_capacity,
                    "market_data_dropped": s.market_data_dropped,
                })
            })
            .collect();
        let mut gateway = to_json(&m.gateway)?;
        let mut market_data = to_json(&m.market_data)?;
        // Latencies are the metrics' business (`metrics`).
        for part in [&mut gateway, &mut market_data] {
            if let Some(object) = part.as_object_mut() {
                object.remove("latency");
            }
        }
        Ok(json!({
            "uptime_s": m.uptime_ms as f64 / 1000.0,
            "started_at": self.started_at_ns,
            "now": SystemClock.now_ns(),
            "data_dir": self.data_dir,
            "durability": self.config["shards"]["durability"],
            "shards": shards,
            "gateway": gateway,
            "market_data": if self.knobs.is_some() { market_data } else { Value::Null },
            "persist": to_json(&m.persist)?,
            "shutting_down": self.shutdown.load(Ordering::Acquire),
        }))
    }

    fn markets(&self) -> Outcome {
        let mut markets = Vec::new();
        for shard in 0..self.map.count() {
            let Reply::Markets(views) = self.ask(shard, Query::Markets)? else {
                return Err(fail(
                    "internal",
                    "a markets query answered with something else",
                ));
            };
            for view in views {
                markets.push((
                    view.market,
                    json!({
                        "market": view.market,
                        "shard": shard,
                        "kind": view.kind,
                        "status": view.status,
                        "ladder": view.ladder,
                        "selections": view.selections,
                    }),
                ));
            }
        }
        markets.sort_by_key(|(market, _)| *market);
        Ok(Value::Array(markets.into_iter().map(|(_, m)| m).collect()))
    }

    fn market(&self, args: MarketArgs) -> Outcome {
        let shard = self.map.shard_of(args.market);
        let depth = args.depth.unwrap_or(oddsmatch_engine::MAX_MARKET_LEVELS);
        match self.ask(
            shard,
            Query::Market {
                market: args.market,
                levels: depth,
            },
        )? {
            Reply::Market(Some(detail)) => {
                let mut value =
                    serde_json::to_value(&detail).map_err(|e| fail("internal", e.to_string()))?;
                value["shard"] = json!(shard);
                Ok(value)
            }
            Reply::Market(None) => Err(fail(
                "unknown_market",
                format!("no market {}", args.market.0),
            )),
            _ => Err(fail(
                "internal",
                "a market query answered with something else",
            )),
        }
    }

    fn accounts(&self, args: AccountsArgs) -> Outcome {
        // Every shard holds every account; balances differ per shard (one wallet each).
        match self.ask(0, Query::Accounts { after: args.after })? {
            Reply::Accounts(page) => {
                serde_json::to_value(&page).map_err(|e| fail("internal", e.to_string()))
            }
            _ => Err(fail(
                "internal",
                "an accounts query answered with something else",
            )),
        }
    }

    fn account(&self, args: AccountArgs) -> Outcome {
        let account = args.account;
        let mut wallets = Vec::new();
        for shard in 0..self.map.count() {
            let view = match self.ask(shard, Query::Account { account })? {
                Reply::Account(Some(view)) => view,
                Reply::Account(None) => {
                    return Err(fail("unknown_account", format!("no account {}", account.0)));
                }
                _ => {
                    return Err(fail(
                        "internal",
                        "an account query answered with something else",
                    ));
                }
            };
            let Reply::OpenOrders(orders) = self.ask(
                shard,
                Query::OpenOrders {
                    account,
                    market: args.market,
                },
            )?
            else {
                return Err(fail(
                    "internal",
                    "an orders query answered with something else",
                ));
            };
            let Reply::Positions(positions) = self.ask(shard, Query::Positions { account })? else {
                return Err(fail(
                    "internal",
                    "a positions query answered with something else",
                ));
            };
            let orders: Vec<Value> = orders
                .unwrap_or_default()
                .iter()
                .map(|o| {
                    json!({
                        "order_id": o.order_id,
                        "client_order_id": o.client_order_id,
                        "market": o.market,
                        "selection": o.selection,
                        "side": o.side,
                        "odds": o.odds_x100,
                        "remaining": o.remaining_minor,
                    })
                })
                .collect();
            let positions: Vec<Value> = positions
                .unwrap_or_default()
                .iter()
                .map(|p| {
                    json!({
                        "market": p.market,
                        "exposure": p.exposure_minor,
                        "open_orders": p.open_orders,
                    })
                })
                .collect();
            wallets.push(json!({
                "shard": shard,
                "tier": view.tier,
                "role": view.role,
                "kill_switch": view.kill_switch,
                "balance": view.balance_minor,
                "exposure": view.exposure_minor,
                "available": view.balance_minor - view.exposure_minor,
                "open_orders": view.open_orders,
                "max_open_orders": view.max_open_orders,
                "orders": orders,
                "positions": positions,
            }));
        }
        Ok(json!({"account": account, "shards": wallets}))
    }

    /// The configuration as started, with the runtime knobs as they are now.
    fn current_config(&self) -> Value {
        let mut config = self.config.clone();
        if let Some(knobs) = &self.knobs {
            config["market_data"]["anonymous"] = json!(knobs.anonymous());
            config["market_data"]["max_connections"] = json!(knobs.max_connections());
            config["market_data"]["max_lag_ms"] = json!(knobs.max_lag_ms());
        }
        // Never hand out the database password.
        if let Some(postgres) = config["persist"]["postgres"].as_str()
            && !postgres.is_empty()
        {
            config["persist"]["postgres"] = json!(redact_password(postgres));
        }
        config
    }

    fn config_get(&self, args: ConfigGetArgs) -> Outcome {
        let config = self.current_config();
        let Some(key) = args.key else {
            return Ok(config);
        };
        let mut value = &config;
        for part in key.split('.') {
            value = value
                .get(part)
                .ok_or_else(|| fail("unknown_key", format!("no configuration key \"{key}\"")))?;
        }
        Ok(json!({"key": key, "value": value}))
    }

    fn config_set(&self, args: ConfigSetArgs) -> Outcome {
        let Some(knobs) = &self.knobs else {
            return Err(fail("unavailable", "market data is off on this node"));
        };
        let old = self.config_get(ConfigGetArgs {
            key: Some(args.key.clone()),
        });
        let positive = |value: &Value| {
            value.as_u64().filter(|&n| n >= 1).ok_or_else(|| {
                fail(
                    "bad_value",
                    format!("{} takes a whole number >= 1", args.key),
                )
            })
        };
        match args.key.as_str() {
            "market_data.anonymous" => {
                knobs.set_anonymous(args.value.as_bool().ok_or_else(|| {
                    fail("bad_value", "market_data.anonymous takes true or false")
                })?)
            }
            "market_data.max_connections" => {
                knobs.set_max_connections(positive(&args.value)? as usize);
            }
            "market_data.max_lag_ms" => knobs.set_max_lag_ms(positive(&args.value)?),
            key => {
                return Err(fail(
                    "not_settable",
                    format!(
                        "\"{key}\" cannot be changed while the node runs (settable: {}); change \
                         the configuration file and restart",
                        SETTABLE.join(", ")
                    ),
                ));
            }
        }
        tracing::info!(key = args.key, value = %args.value, "admin: configuration changed");
        let new = self.config_get(ConfigGetArgs {
            key: Some(args.key.clone()),
        })?;
        Ok(json!({"key": args.key, "old": old?["value"], "new": new["value"]}))
    }

    fn snapshot(&self) -> Outcome {
        let deadline = Instant::now() + self.timeout;
        let mut taken = Vec::new();
        for (shard, access) in self.shards.iter().enumerate() {
            let (tx, rx) = crossbeam_channel::bounded(1);
            access
                .submitter
                .request_snapshot(tx)
                .map_err(|e| fail("unavailable", format!("shard {shard}: {e}")))?;
            taken.push((shard, access, rx));
        }
        let mut done = Vec::new();
        for (shard, access, rx) in taken {
            let wait = deadline.saturating_duration_since(Instant::now());
            let seq = rx
                .recv_timeout(wait)
                .map_err(|_| fail("timeout", format!("shard {shard} did not take a snapshot")))?;
            while access.watermark.snapshot_seq() < seq {
                if Instant::now() >= deadline {
                    return Err(fail(
                        "timeout",
                        format!("shard {shard}'s snapshot at {seq} is not written yet"),
                    ));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            done.push(json!({"shard": shard, "seq": seq}));
        }
        Ok(json!({ "snapshots": done }))
    }
}

/// `postgresql://user:secret@host/db` without the secret (`password=...` too).
fn redact_password(text: &str) -> String {
    if let Some((scheme, rest)) = text.split_once("://")
        && let Some((auth, host)) = rest.split_once('@')
        && let Some((user, _)) = auth.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    text.split_whitespace()
        .map(|part| match part.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => part.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, Failure> {
    serde_json::to_value(value).map_err(|e| fail("internal", e.to_string()))
}

fn no_fields(op: &str, fields: &Map<String, Value>) -> Result<(), Failure> {
    match fields.keys().next() {
        None => Ok(()),
        Some(key) => Err(fail("bad_request", format!("{op}: unknown field `{key}`"))),
    }
}

/// The request's fields as `T`, or an error naming the field.
fn parse<T: serde::de::DeserializeOwned>(
    op: &str,
    fields: Map<String, Value>,
) -> Result<T, Failure> {
    serde_json::from_value(Value::Object(fields))
        .map_err(|e| fail("bad_request", format!("{op}: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MarketArgs {
    market: MarketId,
    depth: Option<u16>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsArgs {
    after: Option<AccountId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountArgs {
    account: AccountId,
    market: Option<MarketId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateArgs {
    account: AccountId,
    key_id: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigGetArgs {
    key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigSetArgs {
    key: String,
    value: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_password("postgresql://app:hunter2@db:5432/x"),
            "postgresql://app:***@db:5432/x"
        );
        assert_eq!(
            redact_password("host=db user=app password=hunter2"),
            "host=db user=app password=***"
        );
        assert_eq!(redact_password("host=db user=app"), "host=db user=app");
    }

    #[test]
    fn every_request_is_listed_once() {
        let mut all: Vec<&str> = COMMANDS
            .iter()
            .chain(&READS)
            .chain(&OTHERS)
            .copied()
            .collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count);
    }
}
