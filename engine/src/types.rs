//! Identifiers and small enums shared by commands, events and state.
//!
//! Every identifier is a plain integer chosen by whoever creates the thing: operators choose
//! account and market ids, the engine assigns order ids. Units are carried in field names
//! (`stake_minor`, `odds_x100`), never in floating point.

use serde::{Deserialize, Serialize};

/// An account, chosen by the operator that creates it.
///
/// The top of the range is reserved for house accounts (see [`AccountId::HOUSE_ROUNDING`]).
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(pub u32);

impl AccountId {
    /// Receives the rounding residue of every settlement.
    pub const HOUSE_ROUNDING: AccountId = AccountId(u32::MAX);
    /// Receives commission charged on winnings.
    pub const HOUSE_COMMISSION: AccountId = AccountId(u32::MAX - 1);
    /// Ids at or above this value are reserved for house accounts and cannot be created.
    pub const RESERVED_MIN: u32 = u32::MAX - 15;

    /// Whether this id lies in the range reserved for house accounts.
    pub fn is_reserved(self) -> bool {
        self.0 >= Self::RESERVED_MIN
    }
}

/// A market, chosen by the operator that creates it.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MarketId(pub u32);

/// A selection (an outcome, a runner) of a market, chosen by the operator.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SelectionId(pub u32);

/// An order, assigned by the engine in increasing order from 1.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(pub u64);

/// Which side of a bet an order takes.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Backs the selection to win.
    Back,
    /// Lays the selection: wins when the selection loses.
    Lay,
}

impl Side {
    /// The side an order of this side matches against.
    pub fn opposite(self) -> Side {
        match self {
            Side::Back => Side::Lay,
            Side::Lay => Side::Back,
        }
    }
}

/// How long the unmatched part of an order may live.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Good till cancelled: the remainder rests in the book.
    Gtc,
    /// Immediate or cancel: the remainder is cancelled.
    Ioc,
    /// Fill or kill: all or nothing; if it cannot fill completely it is rejected with no trade.
    Fok,
}

/// What happens to an unmatched order when its market is suspended.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Persistence {
    /// Cancelled when the market is suspended.
    #[default]
    Lapse,
    /// Stays in the book through a suspension.
    Persist,
}

/// Self-trade prevention: what happens when an order would match one of the same account.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelfTradePrevention {
    /// The resting order is cancelled and matching continues.
    #[default]
    CancelResting,
    /// The remainder of the incoming order is cancelled.
    CancelTaking,
    /// Both the resting order and the remainder of the incoming order are cancelled.
    CancelBoth,
    /// The account may trade with itself.
    None,
}

/// An account's tier, which sets its default limits (see [`crate::TierLimits`]).
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Anonymous or trial accounts.
    #[serde(alias = "FREE")]
    Free,
    /// Ordinary bettors.
    #[default]
    #[serde(alias = "BASIC")]
    Basic,
    /// Professional bettors.
    #[serde(alias = "PRO")]
    Pro,
    /// Market makers.
    #[serde(alias = "MARKET_MAKER")]
    MarketMaker,
    /// House accounts; they never trade.
    House,
}

/// The lifecycle state of a market.
///
/// `pending -> open <-> suspended -> closed -> settled`, and `voided` from any state before
/// `settled`.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketStatus {
    /// Created, not yet trading.
    Pending,
    /// Trading.
    Open,
    /// Temporarily not trading; cancels are accepted.
    Suspended,
    /// Trading has ended; waiting for the result.
    Closed,
    /// The result is in and every account has been paid.
    Settled,
    /// Called off: every stake was released with no profit or loss.
    Voided,
}

impl MarketStatus {
    /// Whether the market is in a final state.
    pub fn is_final(self) -> bool {
        matches!(self, MarketStatus::Settled | MarketStatus::Voided)
    }
}

/// The kind of a market.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketKind {
    /// Back and lay order books per selection, price-time priority.
    #[default]
    Exchange,
    /// Pari-mutuel: bets go into a pool per selection and winners share the net pool.
    Pool,
}

/// What an account may do.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Trades: orders, quotes, pool bets, votes, transfers.
    #[default]
    Trader,
    /// A price feed: sends `reference_odds` and nothing that trades.
    Feed,
}

/// Why a market changed state, carried by `market_status` events.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusCause {
    /// An operator's command.
    Operator,
    /// The market's scheduled lock time (`lock_at`, or `end_at - lock_before_end_ms`).
    Lock,
    /// The market's scheduled close time (`close_at`).
    Close,
    /// The circuit breaker tripped.
    CircuitBreaker,
    /// The end of a vote's resolution window.
    Vote,
}

/// Why an `odds_tick` was published.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TickReason {
    /// Some selection's displayed odds moved by at least the threshold.
    Change,
    /// Nothing moved for the heartbeat interval.
    Heartbeat,
    /// The market changed state (published at once, never filtered).
    Status,
}

/// Whose odds tripped a circuit breaker.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerSource {
    /// The reference odds from the feed.
    Reference,
    /// A pool's indicative odds.
    Indicative,
}

/// How votes are weighed in a market resolved by vote.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteWeight {
    /// Every eligible account's vote counts once.
    #[default]
    OnePerAccount,
    /// A vote counts the voter's exposure on the market, in minor units, when it votes.
    Stake,
}

/// The secret half of an account's API key: 32 bytes the gateway checks a login's
/// challenge response against (the secret itself never crosses the wire).
///
/// Its serde form is 64 hexadecimal digits in a string, lowercase (uppercase digits are accepted
/// on input). `Debug` never shows the bytes, so a secret cannot leak into a log through a
/// command or a reply being printed; equality takes the same time whatever the bytes.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone, Copy, Eq)]
pub struct ApiSecret(pub [u8; 32]);

impl ApiSecret {
    /// The length of the serde form: two hexadecimal digits per byte.
    pub const HEX_LEN: usize = 64;

    /// Parses 64 hexadecimal digits (either case).
    pub fn from_hex(text: &str) -> Result<ApiSecret, String> {
        let digits = text.as_bytes();
        if digits.len() != Self::HEX_LEN {
            return Err(format!(
                "an API secret is {} hexadecimal digits, not {}",
                Self::HEX_LEN,
                digits.len()
            ));
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            match (hex_value(pair[0]), hex_value(pair[1])) {
                (Some(high), Some(low)) => *byte = high << 4 | low,
                _ => {
                    return Err(
                        "an API secret holds only hexadecimal digits (0-9, a-f)".to_string()
                    );
                }
            }
        }
        Ok(ApiSecret(bytes))
    }

    /// The 64 lowercase hexadecimal digits of the secret.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = String::with_capacity(Self::HEX_LEN);
        for byte in self.0 {
            text.push(char::from(DIGITS[usize::from(byte >> 4)]));
            text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
        }
        text
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl PartialEq for ApiSecret {
    /// Compares every byte whatever the first difference, so that the time taken says nothing
    /// about where two secrets differ.
    fn eq(&self, other: &ApiSecret) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
    }
}

impl std::fmt::Debug for ApiSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiSecret(..)")
    }
}

impl std::fmt::Debug for ArchivedApiSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiSecret(..)")
    }
}

impl Serialize for ApiSecret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ApiSecret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HexVisitor;

        impl serde::de::Visitor<'_> for HexVisitor {
            type Value = ApiSecret;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an API secret: a string of 64 hexadecimal digits")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ApiSecret, E> {
                ApiSecret::from_hex(text).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(HexVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1eff";

    fn counting() -> ApiSecret {
        let mut bytes = [0u8; 32];
        for (n, byte) in bytes.iter_mut().enumerate() {
            *byte = n as u8;
        }
        bytes[31] = 0xff;
        ApiSecret(bytes)
    }

    #[test]
    fn an_api_secret_is_64_lowercase_hex_digits_in_json() {
        let secret = counting();
        let json = serde_json::to_string(&secret).unwrap();
        assert_eq!(json, format!("\"{HEX}\""));
        assert_eq!(serde_json::from_str::<ApiSecret>(&json).unwrap(), secret);
        let upper = format!("\"{}\"", HEX.to_uppercase());
        assert_eq!(serde_json::from_str::<ApiSecret>(&upper).unwrap(), secret);
        assert_eq!(ApiSecret::from_hex(&secret.to_hex()), Ok(secret));
    }

    #[test]
    fn malformed_api_secrets_are_refused_with_a_clear_error() {
        let cases = [
            (HEX[..62].to_string(), "not 62"),
            (format!("{HEX}00"), "not 66"),
            (String::new(), "not 0"),
            (format!("{}g", &HEX[..63]), "hexadecimal digits"),
            (format!("{}+1", &HEX[..62]), "hexadecimal digits"),
            // 64 bytes, but not 64 digits.
            (format!("{}\u{e9}", &HEX[..62]), "hexadecimal digits"),
        ];
        for (text, message) in cases {
            let json = serde_json::to_string(&text).unwrap();
            let error = serde_json::from_str::<ApiSecret>(&json).unwrap_err();
            assert!(error.to_string().contains(message), "{text:?}: {error}");
            assert!(
                error.to_string().contains("API secret"),
                "{text:?}: {error}"
            );
        }
        for json in ["12", "null", "[0,1]"] {
            let error = serde_json::from_str::<ApiSecret>(json).unwrap_err();
            assert!(error.to_string().contains("API secret"), "{json}: {error}");
        }
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let secret = counting();
        assert_eq!(format!("{secret:?}"), "ApiSecret(..)");
        assert_eq!(format!("{:?}", Some(secret)), "Some(ApiSecret(..))");
        let archived = rkyv::to_bytes::<rkyv::rancor::Error>(&secret).unwrap();
        let archived = rkyv::access::<ArchivedApiSecret, rkyv::rancor::Error>(&archived).unwrap();
        assert_eq!(format!("{archived:?}"), "ApiSecret(..)");
    }

    #[test]
    fn api_secrets_compare_every_byte() {
        let secret = counting();
        for n in 0..32 {
            let mut other = secret;
            other.0[n] ^= 0x80;
            assert_ne!(other, secret);
        }
        assert_eq!(secret, counting());
    }
}
