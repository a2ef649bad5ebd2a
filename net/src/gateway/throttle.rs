//! Per-account request limits: token buckets refilled continuously, checked before a request
//! reaches a shard.

use std::time::{Duration, Instant};

use oddsmatch_engine::Tier;
use serde::{Deserialize, Serialize};

use crate::proto::ThrottleKind;

/// The limits of one tier (`REQUIREMENTS.md` §5 by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierLimits {
    /// Requests per second, sustained.
    pub requests_per_s: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
    /// New orders, replaces, mass quotes and pool bets per minute.
    pub orders_per_min: u32,
    /// Cancels, mass cancels and bet cancels per minute.
    pub cancels_per_min: u32,
    /// Sessions one account may hold at once.
    pub sessions: u32,
}

/// Limits for every tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// `free` accounts.
    pub free: TierLimits,
    /// `basic` accounts.
    pub basic: TierLimits,
    /// `pro` accounts.
    pub pro: TierLimits,
    /// `market_maker` accounts.
    pub market_maker: TierLimits,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        let tier = |requests_per_s, burst, orders_per_min, cancels_per_min, sessions| TierLimits {
            requests_per_s,
            burst,
            orders_per_min,
            cancels_per_min,
            sessions,
        };
        ThrottleConfig {
            free: tier(2, 10, 30, 60, 2),
            basic: tier(10, 50, 150, 300, 5),
            pro: tier(40, 200, 600, 1_200, 10),
            market_maker: tier(200, 500, 3_000, 6_000, 20),
        }
    }
}

impl ThrottleConfig {
    /// No limit that a benchmark could reach (for load tests of the engine itself).
    pub fn unlimited() -> Self {
        let tier = TierLimits {
            requests_per_s: u32::MAX / 4,
            burst: u32::MAX / 4,
            orders_per_min: u32::MAX / 4,
            cancels_per_min: u32::MAX / 4,
            sessions: 1_000,
        };
        ThrottleConfig {
            free: tier,
            basic: tier,
            pro: tier,
            market_maker: tier,
        }
    }

    /// The limits of `tier` (house accounts never log in; they get the market makers').
    pub fn for_tier(&self, tier: Tier) -> TierLimits {
        match tier {
            Tier::Free => self.free,
            Tier::Basic => self.basic,
            Tier::Pro => self.pro,
            Tier::MarketMaker | Tier::House => self.market_maker,
        }
    }
}

/// A token bucket: `capacity` tokens, refilled at `per_s` tokens per second. Kept in
/// micro-tokens so that slow rates (30 per minute) refill smoothly with integers.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    micro: u64,
    capacity_micro: u64,
    per_s: u64,
    /// `per_s` is per this many seconds (1 or 60).
    period_s: u64,
    at: Instant,
}

const MICRO: u64 = 1_000_000;

impl Bucket {
    fn new(capacity: u32, per: u32, period_s: u64, now: Instant) -> Self {
        let capacity_micro = u64::from(capacity.max(1)) * MICRO;
        Bucket {
            micro: capacity_micro,
            capacity_micro,
            per_s: u64::from(per.max(1)),
            period_s,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed_us = now.saturating_duration_since(self.at).as_micros() as u64;
        if elapsed_us == 0 {
            return;
        }
        // micro-tokens gained = elapsed_us * per / period_s (1 token = 1e6 micro-tokens, 1 s =
        // 1e6 us, which cancel out).
        let gained = elapsed_us.saturating_mul(self.per_s) / self.period_s;
        self.micro = self.micro.saturating_add(gained).min(self.capacity_micro);
        self.at = now;
    }

    /// Takes a token, or says how long until one is there.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.micro >= MICRO {
            self.micro -= MICRO;
            return Ok(());
        }
        let missing = MICRO - self.micro;
        let wait_us = (missing * self.period_s).div_ceil(self.per_s);
        Err(Duration::from_micros(wait_us))
    }

    fn give_back(&mut self) {
        self.micro = (self.micro + MICRO).min(self.capacity_micro);
    }
}

/// What kind of request, for the limits it counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cost {
    /// Counts against requests per second only.
    Request,
    /// Also an order.
    Order,
    /// Also a cancel.
    Cancel,
}

/// The buckets of one account.
#[derive(Clone, Debug)]
pub(crate) struct Throttle {
    requests: Bucket,
    orders: Bucket,
    cancels: Bucket,
}

impl Throttle {
    pub(crate) fn new(limits: TierLimits, now: Instant) -> Self {
        Throttle {
            requests: Bucket::new(limits.burst, limits.requests_per_s, 1, now),
            orders: Bucket::new(limits.orders_per_min, limits.orders_per_min, 60, now),
            cancels: Bucket::new(limits.cancels_per_min, limits.cancels_per_min, 60, now),
        }
    }

    /// Charges a request, or names the limit it hit and when to retry. A refused request
    /// costs nothing.
    pub(crate) fn charge(
        &mut self,
        cost: Cost,
        now: Instant,
    ) -> Result<(), (ThrottleKind, Duration)> {
        self.requests
            .take(now)
            .map_err(|wait| (ThrottleKind::Requests, wait))?;
        let second = match cost {
            Cost::Request => return Ok(()),
            Cost::Order => self.orders.take(now).map_err(|w| (ThrottleKind::Orders, w)),
            Cost::Cancel => self
                .cancels
                .take(now)
                .map_err(|w| (ThrottleKind::Cancels, w)),
        };
        if second.is_err() {
            self.requests.give_back();
        }
        second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(requests_per_s: u32, burst: u32, orders_per_min: u32) -> TierLimits {
        TierLimits {
            requests_per_s,
            burst,
            orders_per_min,
            cancels_per_min: 60,
            sessions: 2,
        }
    }

    #[test]
    fn the_burst_passes_then_the_rate_holds() {
        let start = Instant::now();
        let mut throttle = Throttle::new(limits(2, 10, 1_000), start);
        for _ in 0..10 {
            throttle.charge(Cost::Request, start).unwrap();
        }
        let (kind, wait) = throttle.charge(Cost::Request, start).unwrap_err();
        assert_eq!(kind, ThrottleKind::Requests);
        assert_eq!(
            wait,
            Duration::from_millis(500),
            "2 per second: one every 500 ms"
        );
        let later = start + Duration::from_millis(500);
        throttle.charge(Cost::Request, later).unwrap();
        assert!(throttle.charge(Cost::Request, later).is_err());
        // A long pause refills up to the burst, not beyond.
        let much_later = later + Duration::from_secs(3_600);
        for _ in 0..10 {
            throttle.charge(Cost::Request, much_later).unwrap();
        }
        assert!(throttle.charge(Cost::Request, much_later).is_err());
    }

    #[test]
    fn orders_per_minute_refill_smoothly_and_refusals_cost_nothing() {
        let start = Instant::now();
        let mut throttle = Throttle::new(limits(1_000, 1_000, 30), start);
        for _ in 0..30 {
            throttle.charge(Cost::Order, start).unwrap();
        }
        let (kind, wait) = throttle.charge(Cost::Order, start).unwrap_err();
        assert_eq!(kind, ThrottleKind::Orders);
        assert_eq!(wait, Duration::from_secs(2), "30 per minute: one every 2 s");
        // The refused orders did not use up the request bucket.
        for _ in 0..970 {
            throttle.charge(Cost::Request, start).unwrap();
        }
        assert!(throttle.charge(Cost::Request, start).is_err());
        let later = start + Duration::from_secs(2);
        throttle.charge(Cost::Order, later).unwrap();
        assert!(throttle.charge(Cost::Order, later).is_err());
        // Cancels have a bucket of their own.
        throttle.charge(Cost::Cancel, later).unwrap();
    }
}
