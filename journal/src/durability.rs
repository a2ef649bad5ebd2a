//! The durability policy knob.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// When appended records are flushed to disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// Never flush on our own: the page cache holds the records (they survive a process crash,
    /// not a power loss) until the kernel writes them back or `flush` is called.
    #[default]
    Os,
    /// `commit` and `tick` flush (msync `MS_SYNC`) when at least this long has passed since
    /// the last flush and something is pending. A power loss loses at most about this much.
    Interval(Duration),
    /// `commit` flushes everything appended so far before returning.
    Sync,
}

impl Durability {
    /// The interval `"interval"` means when no duration is given.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(5);
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Durability::Os => f.write_str("os"),
            Durability::Sync => f.write_str("sync"),
            Durability::Interval(d) => {
                let ns = d.as_nanos();
                if ns != 0 && ns % 1_000_000_000 == 0 {
                    write!(f, "interval:{}s", ns / 1_000_000_000)
                } else if ns % 1_000_000 == 0 {
                    write!(f, "interval:{}ms", ns / 1_000_000)
                } else if ns % 1_000 == 0 {
                    write!(f, "interval:{}us", ns / 1_000)
                } else {
                    write!(f, "interval:{ns}ns")
                }
            }
        }
    }
}

/// A `Durability` string that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid durability {0:?}: expected os, sync, interval or interval:<n>(ns|us|ms|s)")]
pub struct ParseDurabilityError(String);

impl FromStr for Durability {
    type Err = ParseDurabilityError;

    /// Accepts `os`, `sync`, `interval` (5 ms) and `interval:<n><unit>` with unit `ns`, `us`,
    /// `ms` or `s`, e.g. `interval:10ms`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseDurabilityError(s.to_owned());
        let t = s.trim();
        match t {
            "os" => return Ok(Durability::Os),
            "sync" => return Ok(Durability::Sync),
            "interval" => return Ok(Durability::Interval(Durability::DEFAULT_INTERVAL)),
            _ => {}
        }
        let spec = t.strip_prefix("interval:").ok_or_else(err)?;
        let digits = spec.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err());
        }
        let (number, unit) = spec.split_at(digits);
        let n: u128 = number.parse().map_err(|_| err())?;
        let per_unit_ns: u128 = match unit {
            "ns" => 1,
            "us" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            _ => return Err(err()),
        };
        let ns = n.checked_mul(per_unit_ns).ok_or_else(err)?;
        let secs = u64::try_from(ns / 1_000_000_000).map_err(|_| err())?;
        let nanos = (ns % 1_000_000_000) as u32;
        Ok(Durability::Interval(Duration::new(secs, nanos)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        assert_eq!("os".parse(), Ok(Durability::Os));
        assert_eq!("sync".parse(), Ok(Durability::Sync));
        assert_eq!(
            "interval".parse(),
            Ok(Durability::Interval(Duration::from_millis(5)))
        );
        assert_eq!(
            "interval:10ms".parse(),
            Ok(Durability::Interval(Duration::from_millis(10)))
        );
        assert_eq!(
            "interval:2s".parse(),
            Ok(Durability::Interval(Duration::from_secs(2)))
        );
        assert!("interval:".parse::<Durability>().is_err());
        assert!("interval:10".parse::<Durability>().is_err());
        assert!("interval:10h".parse::<Durability>().is_err());
        assert!("fast".parse::<Durability>().is_err());
        assert!(
            "interval:99999999999999999999s"
                .parse::<Durability>()
                .is_err()
        );
        let max = Durability::Interval(Duration::MAX);
        assert_eq!(max.to_string().parse(), Ok(max));
        assert_eq!(
            Durability::Interval(Duration::from_millis(1500)).to_string(),
            "interval:1500ms"
        );
        assert_eq!(
            Durability::Interval(Duration::ZERO).to_string(),
            "interval:0ms"
        );
    }
}
