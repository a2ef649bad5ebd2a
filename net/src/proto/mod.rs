//! The order-entry wire protocol: frames, message layouts and their codecs.
//!
//! Every frame starts with an 8-byte header: the frame's total length (`u32`, header
//! included), the message type (`u16`), the protocol version (`u8`) and a flags byte that must
//! be zero. Bodies are fixed little-endian layouts, a few with a counted array at the end.
//! `docs/protocol.md` draws every layout byte by byte; this module is its executable form, and
//! nothing outside `net` knows the wire format.
//!
//! Decoding never panics and never allocates more than the frame's own length implies: a
//! [`FrameError`] means the byte stream cannot be trusted any more (the connection is closed),
//! a [`DecodeError`] means one frame was bad and is answered with a reject while the stream
//! goes on.

mod auth;
mod client;
mod codes;
pub mod md;
mod server;

pub use auth::{CHALLENGE_LEN, PROOF_LEN, login_proof, verify_proof};
pub use client::kind as client_kind;
pub use client::{
    Cancel, CancelBet, ClientMsg, Login, MassCancel, MassQuote, NewOrder, OrderRef, PlaceBet,
    QuoteEntry, ReferenceOdds, Replace, ResumeCursor, Scope, Vote,
};
pub use codes::{
    EndReason, Liquidity, LoginReject, ProtocolReject, SubscribeReject, ThrottleKind, WireEnum,
    command_kind_code, command_kind_from_code, reject_code_name,
};
pub use server::ANSWER_CHUNK;
pub use server::kind as server_kind;
pub use server::{
    AnswerHeader, BalanceEntry, LoginAccepted, OpenOrderEntry, PositionEntry, Report, ReportBody,
    ReportHeader, ServerMsg,
};

/// The protocol version this build speaks.
pub const VERSION: u8 = 1;
/// Bytes of the frame header.
pub const HEADER_LEN: usize = 8;
/// The default largest frame, header included.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;
/// The most cursors a login may carry (one per shard).
pub const MAX_CURSORS: usize = 256;
/// The most entries in one mass quote or reference-odds message (a market's selections).
pub const MAX_QUOTES: usize = oddsmatch_engine::MAX_SELECTIONS;
/// The most bytes of text an end-of-session message carries.
pub const MAX_DETAIL: usize = 256;

/// A frame header as read off the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Total frame length in bytes, header included.
    pub len: u32,
    /// The message type.
    pub kind: u16,
    /// The protocol version.
    pub version: u8,
    /// Reserved; must be zero.
    pub flags: u8,
}

/// The byte stream cannot be trusted: the connection must be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length field is smaller than a header.
    #[error("frame length {0} is shorter than the {HEADER_LEN}-byte header")]
    TooShort(u32),
    /// The length field exceeds the largest frame allowed.
    #[error("frame length {len} exceeds the limit of {max} bytes")]
    TooLong {
        /// The length announced.
        len: u32,
        /// The limit.
        max: usize,
    },
}

/// One frame was bad; the stream is still in step and the frame is answered with a reject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No message has this type (in this direction).
    #[error("unknown message type 0x{0:04x}")]
    UnknownType(u16),
    /// A protocol version this build does not speak.
    #[error("unsupported protocol version {0} (this server speaks {VERSION})")]
    Version(u8),
    /// The header's flags byte is not zero.
    #[error("header flags 0x{0:02x} are not zero")]
    Flags(u8),
    /// The frame's length does not fit its type (and count).
    #[error("message 0x{kind:04x} has {got} bytes, its layout needs {expected}")]
    Length {
        /// The message type.
        kind: u16,
        /// What the layout needs.
        expected: usize,
        /// What arrived.
        got: usize,
    },
    /// A reserved byte is not zero.
    #[error("reserved byte at offset {0} is not zero")]
    Reserved(usize),
    /// An enumerated field holds a value outside its range.
    #[error("field `{field}` holds {value}, outside its range")]
    Enum {
        /// The field's name as the protocol document spells it.
        field: &'static str,
        /// The value found.
        value: u32,
    },
    /// A count exceeds its limit.
    #[error("field `{field}` counts {value}, the limit is {max}")]
    Count {
        /// The field's name.
        field: &'static str,
        /// The count found.
        value: usize,
        /// The limit.
        max: usize,
    },
}

impl DecodeError {
    /// The reject reason sent back for this error.
    pub fn reject(self) -> ProtocolReject {
        match self {
            DecodeError::UnknownType(_) => ProtocolReject::UnknownType,
            DecodeError::Version(_) => ProtocolReject::UnsupportedVersion,
            DecodeError::Flags(_) | DecodeError::Reserved(_) => ProtocolReject::ReservedNotZero,
            DecodeError::Length { .. } | DecodeError::Count { .. } => ProtocolReject::Malformed,
            DecodeError::Enum { .. } => ProtocolReject::InvalidEnum,
        }
    }
}

/// Reads the header at the start of `bytes`, if a whole header is there, and checks the
/// length against `max_frame`. `Ok(None)`: more bytes are needed.
pub fn peek_header(bytes: &[u8], max_frame: usize) -> Result<Option<Header>, FrameError> {
    let Some(head) = bytes.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let header = Header {
        len: u32::from_le_bytes([head[0], head[1], head[2], head[3]]),
        kind: u16::from_le_bytes([head[4], head[5]]),
        version: head[6],
        flags: head[7],
    };
    if (header.len as usize) < HEADER_LEN {
        return Err(FrameError::TooShort(header.len));
    }
    if header.len as usize > max_frame {
        return Err(FrameError::TooLong {
            len: header.len,
            max: max_frame,
        });
    }
    Ok(Some(header))
}

/// Splits one whole frame off the front of `bytes`: `Ok(None)` when it has not all arrived.
pub fn split_frame(bytes: &[u8], max_frame: usize) -> Result<Option<(Header, &[u8])>, FrameError> {
    match peek_header(bytes, max_frame)? {
        Some(header) if bytes.len() >= header.len as usize => {
            Ok(Some((header, &bytes[HEADER_LEN..header.len as usize])))
        }
        _ => Ok(None),
    }
}

pub(crate) fn check_header(header: Header) -> Result<(), DecodeError> {
    if header.version != VERSION {
        return Err(DecodeError::Version(header.version));
    }
    if header.flags != 0 {
        return Err(DecodeError::Flags(header.flags));
    }
    Ok(())
}

/// Reads a body field by field; every read is bounds-checked against the body.
pub(crate) struct Fields<'a> {
    bytes: &'a [u8],
    pos: usize,
    kind: u16,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(kind: u16, bytes: &'a [u8]) -> Self {
        Fields {
            bytes,
            pos: 0,
            kind,
        }
    }

    /// Checks that the body is exactly `len` bytes.
    pub(crate) fn expect_len(&self, len: usize) -> Result<(), DecodeError> {
        if self.bytes.len() == len {
            Ok(())
        } else {
            Err(self.length_error(len))
        }
    }

    pub(crate) fn length_error(&self, expected: usize) -> DecodeError {
        DecodeError::Length {
            kind: self.kind,
            expected: expected + HEADER_LEN,
            got: self.bytes.len() + HEADER_LEN,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let end = self.pos + N;
        let Some(slice) = self.bytes.get(self.pos..end) else {
            return Err(self.length_error(end));
        };
        self.pos = end;
        let mut out = [0; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        self.take().map(u16::from_le_bytes)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        self.take().map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        self.take().map(u64::from_le_bytes)
    }

    pub(crate) fn i64(&mut self) -> Result<i64, DecodeError> {
        self.take().map(i64::from_le_bytes)
    }

    pub(crate) fn bytes<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.take()
    }

    /// `n` reserved bytes, which must be zero.
    pub(crate) fn reserved(&mut self, n: usize) -> Result<(), DecodeError> {
        for _ in 0..n {
            let at = self.pos + HEADER_LEN;
            if self.u8()? != 0 {
                return Err(DecodeError::Reserved(at));
            }
        }
        Ok(())
    }

    /// An enumerated `u8` field.
    pub(crate) fn enum8<T: WireEnum>(&mut self, field: &'static str) -> Result<T, DecodeError> {
        let value = self.u8()?;
        T::from_wire(value).ok_or(DecodeError::Enum {
            field,
            value: u32::from(value),
        })
    }

    /// The rest of the body.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let rest = &self.bytes[self.pos.min(self.bytes.len())..];
        self.pos = self.bytes.len();
        rest
    }
}

/// Writes one frame: the header, then fields; [`Frame::finish`] fills in the length.
pub(crate) struct Frame<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> Frame<'a> {
    pub(crate) fn begin(out: &'a mut Vec<u8>, kind: u16) -> Self {
        let start = out.len();
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&kind.to_le_bytes());
        out.push(VERSION);
        out.push(0);
        Frame { out, start }
    }

    pub(crate) fn u8(&mut self, value: u8) -> &mut Self {
        self.out.push(value);
        self
    }

    pub(crate) fn u16(&mut self, value: u16) -> &mut Self {
        self.out.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub(crate) fn u32(&mut self, value: u32) -> &mut Self {
        self.out.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub(crate) fn u64(&mut self, value: u64) -> &mut Self {
        self.out.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub(crate) fn i64(&mut self, value: i64) -> &mut Self {
        self.out.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub(crate) fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.out.extend_from_slice(value);
        self
    }

    pub(crate) fn zeros(&mut self, n: usize) -> &mut Self {
        self.out.resize(self.out.len() + n, 0);
        self
    }

    pub(crate) fn finish(&mut self) {
        let len = (self.out.len() - self.start) as u32;
        self.out[self.start..self.start + 4].copy_from_slice(&len.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_checked_before_the_body_arrives() {
        assert_eq!(peek_header(&[1, 2, 3], 1024), Ok(None));
        let mut frame = Vec::new();
        let mut writer = Frame::begin(&mut frame, 0x0104);
        writer.u64(7);
        writer.finish();
        let header = peek_header(&frame, 1024).unwrap().unwrap();
        assert_eq!(header.len, 16);
        assert_eq!(header.kind, 0x0104);
        assert_eq!(split_frame(&frame[..15], 1024), Ok(None));
        let (_, body) = split_frame(&frame, 1024).unwrap().unwrap();
        assert_eq!(body, 7u64.to_le_bytes());
        assert_eq!(
            peek_header(&frame, 15),
            Err(FrameError::TooLong { len: 16, max: 15 })
        );
        let short = [4, 0, 0, 0, 1, 1, 1, 0];
        assert_eq!(peek_header(&short, 1024), Err(FrameError::TooShort(4)));
    }
}
