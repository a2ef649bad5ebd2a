//! The tick source: a market maker on order entry whose every mass quote moves a market's best
//! price, on a fixed schedule, so that every quote makes one odds tick.
//!
//! Each market's quote alternates between a back at 2.00 and one at 2.50 on its first
//! selection (an implied probability of 50 % against 40 %: far beyond the 1 % that publishes a
//! tick). The quotes of the markets are spread evenly over time: market `i` of `m` at `hz`
//! quotes at `t0 + k / hz + i / (hz * m)`. With `hz` at most 8, a market's quotes are at least
//! 125 ms apart, beyond its 100 ms tick interval, so none waits for the interval to pass.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use oddsmatch_engine::{MarketId, SelectionId};
use oddsmatch_net::client::{Client, Credentials, Options};
use oddsmatch_net::proto::{ClientMsg, MassQuote, QuoteEntry, ReportBody, ServerMsg};

use super::server::{KEY_ID, SECRET, SELECTIONS};

/// The two prices a market's quote alternates between.
const PRICES_X100: [u32; 2] = [200, 250];
/// The quote's stake, minor units.
const STAKE_MINOR: i64 = 100;

/// What the source did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct SourceRun {
    /// Mass quotes sent to each market (each one tick).
    pub(super) per_market: Vec<u64>,
    /// Answered with anything but acceptance (rejects, throttling, `busy`).
    pub(super) refused: u64,
    /// The first such answer.
    pub(super) first_refusal: Option<String>,
    /// The latest a quote went out after its scheduled time.
    pub(super) late_ns_max: u64,
}

/// Where each market's quote stands, kept across runs so that every quote moves the price.
#[derive(Clone, Debug, Default)]
pub(super) struct Quotes {
    side: Vec<bool>,
}

impl Quotes {
    /// The next quote of `market` (numbered from 1).
    fn next(&mut self, market: u32) -> MassQuote {
        let index = market as usize;
        if self.side.len() <= index {
            self.side.resize(index + 1, false);
        }
        self.side[index] = !self.side[index];
        MassQuote {
            request_id: 0,
            market: MarketId(market),
            quotes: vec![QuoteEntry {
                selection: SelectionId(SELECTIONS[0]),
                back_odds_x100: PRICES_X100[usize::from(self.side[index])],
                lay_odds_x100: 0,
                back_stake_minor: STAKE_MINOR,
                lay_stake_minor: 0,
            }],
        }
    }
}

/// Quotes `count` markets from `first` at `hz` each for `duration`, reading the reports as
/// they come.
pub(super) fn run(
    addr: SocketAddr,
    first: u32,
    count: u32,
    hz: u32,
    duration: Duration,
    quotes: &mut Quotes,
) -> Result<SourceRun, String> {
    assert!(count > 0 && hz > 0, "something to quote");
    let credentials = Credentials {
        key_id: KEY_ID,
        secret: SECRET,
    };
    let mut client = Client::connect(addr, credentials, Options::default())
        .map_err(|e| format!("tick source: {e}"))?;
    let every = Duration::from_secs(1) / (hz * count);
    let total = u64::from(hz * count) * duration.as_millis() as u64 / 1_000;
    let mut run = SourceRun {
        per_market: vec![0; count as usize],
        ..SourceRun::default()
    };
    let start = Instant::now();
    let mut k = 0u64;
    while k < total {
        let due = start + every * k as u32;
        let now = Instant::now();
        if now >= due {
            let index = (k % u64::from(count)) as usize;
            let market = first + index as u32;
            let mut quote = quotes.next(market);
            quote.request_id = client.next_request_id();
            client
                .send(&ClientMsg::MassQuote(quote))
                .map_err(|e| format!("tick source: {e}"))?;
            run.per_market[index] += 1;
            run.late_ns_max = run.late_ns_max.max((now - due).as_nanos() as u64);
            k += 1;
            continue;
        }
        if let Some(msg) = client
            .recv(due - now)
            .map_err(|e| format!("tick source: {e}"))?
        {
            refusal(&msg, &mut run);
        }
    }
    // The last answers.
    let deadline = Instant::now() + Duration::from_millis(200);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match client.recv(left) {
            Ok(Some(msg)) => refusal(&msg, &mut run),
            _ => break,
        }
    }
    let _ = client.logout();
    Ok(run)
}

/// Counts an answer that is not an acceptance, a replaced quote or a heartbeat.
fn refusal(msg: &ServerMsg, run: &mut SourceRun) {
    let refused = match msg {
        ServerMsg::Report(report) => matches!(report.body, ReportBody::OrderRejected { .. }),
        ServerMsg::RequestRejected { .. }
        | ServerMsg::Throttled { .. }
        | ServerMsg::Busy { .. } => true,
        _ => false,
    };
    if refused {
        run.refused += 1;
        run.first_refusal.get_or_insert_with(|| format!("{msg:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_quote_moves_the_price() {
        let mut quotes = Quotes::default();
        let odds: Vec<u32> = (0..4)
            .map(|_| quotes.next(3).quotes[0].back_odds_x100)
            .collect();
        assert_eq!(odds, [250, 200, 250, 200]);
        assert_eq!(quotes.next(1).quotes[0].back_odds_x100, 250);
    }
}
