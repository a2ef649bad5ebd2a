//! Numeric codes of enumerated fields. Zero is never a valid code, so a zeroed field is always
//! caught.

use oddsmatch_engine::{
    CancelReason, CommandKind, MarketStatus, Persistence, PostingKind, RejectReason, Role, Side,
    StatusCause, TickReason, Tier, TimeInForce,
};

/// An enumeration carried on the wire as one byte.
pub trait WireEnum: Sized + Copy {
    /// Its code.
    fn to_wire(self) -> u8;
    /// The value of a code, if it names one.
    fn from_wire(code: u8) -> Option<Self>;
}

/// Defines the codes of an enum in one table, both directions at once.
macro_rules! wire_enum {
    ($ty:ty { $($variant:path = $code:literal),+ $(,)? }) => {
        impl WireEnum for $ty {
            fn to_wire(self) -> u8 {
                match self { $($variant => $code),+ }
            }
            fn from_wire(code: u8) -> Option<Self> {
                match code { $($code => Some($variant),)+ _ => None }
            }
        }
    };
}

wire_enum!(Side { Side::Back = 1, Side::Lay = 2 });
wire_enum!(TickReason {
    TickReason::Change = 1,
    TickReason::Heartbeat = 2,
    TickReason::Status = 3,
});

/// Why a market-data subscription was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubscribeReject {
    /// No market has this id.
    UnknownMarket,
    /// The streams asked for need a login (`book`, `trades`), or anonymous access is off.
    LoginRequired,
    /// The session or the node holds as many subscriptions as allowed.
    TooManySubscriptions,
    /// The stream mask is empty or names unknown streams.
    InvalidStreams,
    /// An unsubscribe or resync named a market the session is not subscribed to.
    NotSubscribed,
}
wire_enum!(SubscribeReject {
    SubscribeReject::UnknownMarket = 1,
    SubscribeReject::LoginRequired = 2,
    SubscribeReject::TooManySubscriptions = 3,
    SubscribeReject::InvalidStreams = 4,
    SubscribeReject::NotSubscribed = 5,
});
wire_enum!(TimeInForce {
    TimeInForce::Gtc = 1,
    TimeInForce::Ioc = 2,
    TimeInForce::Fok = 3,
});
wire_enum!(Persistence {
    Persistence::Lapse = 1,
    Persistence::Persist = 2,
});
wire_enum!(MarketStatus {
    MarketStatus::Pending = 1,
    MarketStatus::Open = 2,
    MarketStatus::Suspended = 3,
    MarketStatus::Closed = 4,
    MarketStatus::Settled = 5,
    MarketStatus::Voided = 6,
});
wire_enum!(StatusCause {
    StatusCause::Operator = 1,
    StatusCause::Lock = 2,
    StatusCause::Close = 3,
    StatusCause::CircuitBreaker = 4,
    StatusCause::Vote = 5,
});
wire_enum!(CancelReason {
    CancelReason::Requested = 1,
    CancelReason::IocRemainder = 2,
    CancelReason::SelfTrade = 3,
    CancelReason::MassCancel = 4,
    CancelReason::QuoteReplaced = 5,
    CancelReason::MarketSuspended = 6,
    CancelReason::MarketClosed = 7,
    CancelReason::KillSwitch = 8,
});
wire_enum!(PostingKind {
    PostingKind::Deposit = 1,
    PostingKind::Withdrawal = 2,
    PostingKind::Settlement = 3,
    PostingKind::Commission = 4,
    PostingKind::Rounding = 5,
    PostingKind::Takeout = 6,
});
wire_enum!(Tier {
    Tier::Free = 1,
    Tier::Basic = 2,
    Tier::Pro = 3,
    Tier::MarketMaker = 4,
    Tier::House = 5,
});
wire_enum!(Role {
    Role::Trader = 1,
    Role::Feed = 2,
});

/// Which side of a trade an account's order was on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Liquidity {
    /// The resting order.
    Maker,
    /// The incoming order.
    Taker,
}
wire_enum!(Liquidity {
    Liquidity::Maker = 1,
    Liquidity::Taker = 2,
});

/// The limit a `throttled` answer names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThrottleKind {
    /// Requests per second (with burst).
    Requests,
    /// Orders per minute (new orders, replaces, mass quotes, pool bets).
    Orders,
    /// Cancels per minute (cancels, mass cancels, bet cancels).
    Cancels,
}
wire_enum!(ThrottleKind {
    ThrottleKind::Requests = 1,
    ThrottleKind::Orders = 2,
    ThrottleKind::Cancels = 3,
});

/// Why a login was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoginReject {
    /// No account holds this API key id.
    UnknownKey,
    /// The proof is not the HMAC of the challenge with the key's secret.
    BadProof,
    /// The account has as many sessions as its tier allows.
    TooManySessions,
    /// The message came in the wrong order (a proof without a login, a second login).
    OutOfOrder,
    /// The server could not look the key up in time (its shard is busy or stopped).
    Unavailable,
}
wire_enum!(LoginReject {
    LoginReject::UnknownKey = 1,
    LoginReject::BadProof = 2,
    LoginReject::TooManySessions = 3,
    LoginReject::OutOfOrder = 4,
    LoginReject::Unavailable = 5,
});

/// Why the server ended a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// The client logged out.
    Logout,
    /// Nothing arrived from the client within the heartbeat timeout.
    HeartbeatTimeout,
    /// The login was not completed in time.
    LoginTimeout,
    /// The byte stream broke the framing rules (a length out of bounds); it cannot be trusted.
    ProtocolError,
    /// The client read too slowly: its outbound buffer passed the limit.
    SlowConsumer,
    /// The server is shutting down.
    Shutdown,
    /// The login failed.
    LoginFailed,
    /// The server holds its maximum number of connections.
    ServerFull,
}
wire_enum!(EndReason {
    EndReason::Logout = 1,
    EndReason::HeartbeatTimeout = 2,
    EndReason::LoginTimeout = 3,
    EndReason::ProtocolError = 4,
    EndReason::SlowConsumer = 5,
    EndReason::Shutdown = 6,
    EndReason::LoginFailed = 7,
    EndReason::ServerFull = 8,
});

/// Reasons the gateway refuses a request itself, before any shard sees it. They share the
/// `reason` field with the engine's reject codes (1xx-5xx) and use 6xx.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ProtocolReject {
    /// The frame's length does not fit its type, or a count is out of bounds.
    Malformed = 600,
    /// No client message has this type.
    UnknownType = 601,
    /// The protocol version is not one this server speaks.
    UnsupportedVersion = 602,
    /// The flags byte or a reserved byte is not zero.
    ReservedNotZero = 603,
    /// An enumerated field is out of range.
    InvalidEnum = 604,
    /// The request needs a logged-in session.
    NotLoggedIn = 605,
    /// The shard that owns the market has stopped.
    ShardStopped = 606,
}

impl ProtocolReject {
    /// Every reason, in code order.
    pub const ALL: [ProtocolReject; 7] = [
        ProtocolReject::Malformed,
        ProtocolReject::UnknownType,
        ProtocolReject::UnsupportedVersion,
        ProtocolReject::ReservedNotZero,
        ProtocolReject::InvalidEnum,
        ProtocolReject::NotLoggedIn,
        ProtocolReject::ShardStopped,
    ];

    /// The code on the wire.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The reason's name (as `docs/protocol.md` lists it).
    pub fn name(self) -> &'static str {
        match self {
            ProtocolReject::Malformed => "malformed",
            ProtocolReject::UnknownType => "unknown_type",
            ProtocolReject::UnsupportedVersion => "unsupported_version",
            ProtocolReject::ReservedNotZero => "reserved_not_zero",
            ProtocolReject::InvalidEnum => "invalid_enum",
            ProtocolReject::NotLoggedIn => "not_logged_in",
            ProtocolReject::ShardStopped => "shard_stopped",
        }
    }
}

/// The name of a reject code as `request_rejected` and `order_rejected` carry it: the
/// engine's reasons (1xx-5xx) and the gateway's own (6xx); `unknown_reason` for any other.
pub fn reject_code_name(code: u16) -> &'static str {
    if let Some(reason) = RejectReason::from_code(code) {
        return reason.name();
    }
    ProtocolReject::ALL
        .into_iter()
        .find(|reason| reason.code() == code)
        .map_or("unknown_reason", ProtocolReject::name)
}

/// The code of a command kind, as `order_rejected` carries it: its position in the list of
/// commands in `docs/protocol.md`, from 1.
pub fn command_kind_code(kind: CommandKind) -> u8 {
    COMMAND_KINDS
        .iter()
        .position(|k| *k == kind)
        .map_or(0, |index| index as u8 + 1)
}

/// The command kind of a code.
pub fn command_kind_from_code(code: u8) -> Option<CommandKind> {
    COMMAND_KINDS
        .get(usize::from(code).checked_sub(1)?)
        .copied()
}

const COMMAND_KINDS: [CommandKind; 26] = [
    CommandKind::CreateAccount,
    CommandKind::Deposit,
    CommandKind::Withdraw,
    CommandKind::KillSwitch,
    CommandKind::CreateMarket,
    CommandKind::OpenMarket,
    CommandKind::SuspendMarket,
    CommandKind::ResumeMarket,
    CommandKind::CloseMarket,
    CommandKind::SettleMarket,
    CommandKind::VoidMarket,
    CommandKind::PlaceOrder,
    CommandKind::CancelOrder,
    CommandKind::ReplaceOrder,
    CommandKind::MassCancel,
    CommandKind::MassQuote,
    CommandKind::PlaceBet,
    CommandKind::CancelBet,
    CommandKind::ReferenceOdds,
    CommandKind::Vote,
    CommandKind::Timer,
    CommandKind::Balances,
    CommandKind::SetApiKey,
    CommandKind::SetAccountLimits,
    CommandKind::SetMarketKnobs,
    CommandKind::ScheduleMarket,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: WireEnum + PartialEq + std::fmt::Debug>() {
        let mut seen = 0;
        for code in 0..=u8::MAX {
            if let Some(value) = T::from_wire(code) {
                assert_eq!(value.to_wire(), code);
                seen += 1;
            }
        }
        assert!(seen > 0);
        assert_eq!(T::from_wire(0), None, "zero is never a valid code");
    }

    #[test]
    fn every_code_round_trips_and_zero_is_invalid() {
        round_trips::<Side>();
        round_trips::<TimeInForce>();
        round_trips::<Persistence>();
        round_trips::<MarketStatus>();
        round_trips::<StatusCause>();
        round_trips::<CancelReason>();
        round_trips::<PostingKind>();
        round_trips::<Tier>();
        round_trips::<Role>();
        round_trips::<Liquidity>();
        round_trips::<ThrottleKind>();
        round_trips::<LoginReject>();
        round_trips::<EndReason>();
        for kind in COMMAND_KINDS {
            assert_eq!(command_kind_from_code(command_kind_code(kind)), Some(kind));
            // A new command kind must get a code: this match stops compiling until it is
            // added here and to the table.
            match kind {
                CommandKind::CreateAccount
                | CommandKind::Deposit
                | CommandKind::Withdraw
                | CommandKind::KillSwitch
                | CommandKind::CreateMarket
                | CommandKind::OpenMarket
                | CommandKind::SuspendMarket
                | CommandKind::ResumeMarket
                | CommandKind::CloseMarket
                | CommandKind::SettleMarket
                | CommandKind::VoidMarket
                | CommandKind::PlaceOrder
                | CommandKind::CancelOrder
                | CommandKind::ReplaceOrder
                | CommandKind::MassCancel
                | CommandKind::MassQuote
                | CommandKind::PlaceBet
                | CommandKind::CancelBet
                | CommandKind::ReferenceOdds
                | CommandKind::Vote
                | CommandKind::Timer
                | CommandKind::Balances
                | CommandKind::SetApiKey
                | CommandKind::SetAccountLimits
                | CommandKind::SetMarketKnobs
                | CommandKind::ScheduleMarket => {}
            }
        }
        for (i, kind) in COMMAND_KINDS.iter().enumerate() {
            assert!(!COMMAND_KINDS[..i].contains(kind), "{kind:?} has one code");
        }
        assert_eq!(command_kind_from_code(0), None);
    }
}
