//! The operator's side of the admin socket, as the demo and the load generator use it: requests
//! whose refusals become errors naming the request, and the events a command made.

use std::path::Path;

use oddsmatch_engine::{Event, MarketId};
use oddsmatch_net::admin::AdminClient;
use serde_json::{Value, json};

/// The operator's side of the admin socket.
pub(crate) struct Operator {
    client: AdminClient,
}

impl Operator {
    /// Connects to the admin socket at `path`.
    pub(crate) fn connect(path: &Path) -> Result<Operator, String> {
        let client = AdminClient::connect(path)
            .map_err(|e| format!("admin socket {}: {e}", path.display()))?;
        Ok(Operator { client })
    }

    /// Sends a request; `Err` names the request and the node's error.
    pub(crate) fn request(&mut self, request: Value) -> Result<Value, String> {
        let op = request["op"].as_str().unwrap_or("?").to_owned();
        let reply = self.client.request(&request).map_err(|e| e.to_string())?;
        if reply["ok"] == true {
            Ok(reply["result"].clone())
        } else {
            Err(format!(
                "admin socket: {op} refused ({}): {}",
                reply["error"]["code"].as_str().unwrap_or("?"),
                reply["error"]["message"].as_str().unwrap_or("?")
            ))
        }
    }

    /// Sends a state-changing request and returns the events it made on every shard.
    pub(crate) fn command(&mut self, request: Value) -> Result<Vec<Event>, String> {
        let result = self.request(request)?;
        let mut events = Vec::new();
        for applied in result["applied"].as_array().into_iter().flatten() {
            for event in applied["events"].as_array().into_iter().flatten() {
                events.push(
                    serde_json::from_value(event.clone())
                        .map_err(|e| format!("admin socket: an event that does not parse: {e}"))?,
                );
            }
        }
        Ok(events)
    }

    /// An account's balance over every shard.
    pub(crate) fn balance(&mut self, account: u32) -> Result<i64, String> {
        let result = self.request(json!({"op": "account", "account": account}))?;
        Ok(result["shards"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|wallet| wallet["balance"].as_i64())
            .sum())
    }

    /// A market as the `market` read shows it.
    pub(crate) fn market(&mut self, market: MarketId) -> Result<Value, String> {
        self.request(json!({"op": "market", "market": market.0}))
    }
}
