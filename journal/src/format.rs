//! The on-disk layout of segments and records: constants, encoding and decoding.
//!
//! Everything here is pure (no I/O). `docs/journal-format.md` draws the same layout byte by
//! byte; the two must agree. All integers are little-endian.

/// Magic bytes at offset 0 of every active segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"ODMJSEG1";
/// The format version this crate writes and the newest one it reads.
pub const FORMAT_VERSION: u16 = 1;
/// Bytes of the segment header; records start right after it.
pub const SEGMENT_HEADER_BYTES: usize = 64;
/// Bytes of a record header; the payload starts right after it.
pub const RECORD_HEADER_BYTES: usize = 32;
/// Records start at offsets that are multiples of this, and their payloads too.
pub const RECORD_ALIGN: usize = 8;
/// The 8-byte word written where the next record would start when that record does not fit:
/// `len` = `u32::MAX` (no record can be that long) and the checksum field spells `END!`.
pub const END_MARKER: u64 = u64::from_le_bytes([0xFF, 0xFF, 0xFF, 0xFF, b'E', b'N', b'D', b'!']);
/// The largest payload a record may carry whatever the segment size (keeps `len` clear of the
/// end marker's `u32::MAX` and the record size inside `u32`).
pub const MAX_PAYLOAD_BYTES: usize = (u32::MAX as usize) - 4096;

const _: () = assert!(SEGMENT_HEADER_BYTES.is_multiple_of(RECORD_ALIGN));
const _: () = assert!(RECORD_HEADER_BYTES.is_multiple_of(RECORD_ALIGN));

/// Rounds `n` up to the record alignment.
#[inline]
pub const fn align_up(n: usize) -> usize {
    (n + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1)
}

/// Bytes a record with `payload_bytes` of payload occupies in a segment, padding included.
#[inline]
pub const fn record_bytes(payload_bytes: usize) -> usize {
    align_up(RECORD_HEADER_BYTES + payload_bytes)
}

/// The largest payload a segment of `segment_bytes` can hold in one record.
pub fn max_payload_bytes(segment_bytes: u64) -> usize {
    let room = segment_bytes.saturating_sub((SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES) as u64);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    // Round down so that the padded record still fits.
    (room & !(RECORD_ALIGN - 1)).min(MAX_PAYLOAD_BYTES)
}

/// The decoded 64-byte segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The segment's index, equal to the number in its file name.
    pub index: u64,
    /// Sequence number of the first record the segment holds (or will hold).
    pub first_seq: u64,
    /// The file's size in bytes, header included.
    pub segment_bytes: u64,
}

/// Why a segment header is not valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderProblem {
    /// The first 64 bytes are zero: a prepared segment that was never activated.
    Prepared,
    /// The magic bytes are wrong.
    BadMagic,
    /// Written by a newer format version than this crate reads.
    NewerVersion(u16),
    /// Version 0 or a header length other than 64.
    BadLayout,
    /// The header checksum does not match.
    BadChecksum,
}

impl SegmentHeader {
    /// Encodes the header; bytes 0..8 (the magic) are the ones published last.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES] {
        let mut b = [0u8; SEGMENT_HEADER_BYTES];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        b[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[10..12].copy_from_slice(&(SEGMENT_HEADER_BYTES as u16).to_le_bytes());
        // 12..16 reserved, zero.
        b[16..24].copy_from_slice(&self.index.to_le_bytes());
        b[24..32].copy_from_slice(&self.first_seq.to_le_bytes());
        b[32..40].copy_from_slice(&self.segment_bytes.to_le_bytes());
        // 40..60 reserved, zero.
        let crc = crc32c::crc32c(&b[0..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header.
    pub fn decode(b: &[u8; SEGMENT_HEADER_BYTES]) -> Result<Self, HeaderProblem> {
        if b.iter().all(|&x| x == 0) {
            return Err(HeaderProblem::Prepared);
        }
        if b[0..8] != SEGMENT_MAGIC {
            return Err(HeaderProblem::BadMagic);
        }
        let version = u16::from_le_bytes([b[8], b[9]]);
        if version > FORMAT_VERSION {
            return Err(HeaderProblem::NewerVersion(version));
        }
        let header_len = u16::from_le_bytes([b[10], b[11]]);
        if version == 0 || usize::from(header_len) != SEGMENT_HEADER_BYTES {
            return Err(HeaderProblem::BadLayout);
        }
        let stored = u32::from_le_bytes([b[60], b[61], b[62], b[63]]);
        if crc32c::crc32c(&b[0..60]) != stored {
            return Err(HeaderProblem::BadChecksum);
        }
        Ok(SegmentHeader {
            index: le_u64(&b[16..24]),
            first_seq: le_u64(&b[24..32]),
            segment_bytes: le_u64(&b[32..40]),
        })
    }
}

/// The decoded fixed part of a record header (`len` and `crc` live in the first word).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordMeta {
    /// Sequence number.
    pub seq: u64,
    /// Timestamp in nanoseconds, as stamped by the writer's caller.
    pub ts_ns: u64,
    /// Record kind (meaning defined by the caller; 1 = engine input with its events).
    pub kind: u16,
}

/// Encodes bytes 8..32 of a record header (everything after the first word).
#[inline]
pub fn encode_record_rest(meta: &RecordMeta) -> [u8; RECORD_HEADER_BYTES - 8] {
    let mut b = [0u8; RECORD_HEADER_BYTES - 8];
    b[0..8].copy_from_slice(&meta.seq.to_le_bytes());
    b[8..16].copy_from_slice(&meta.ts_ns.to_le_bytes());
    b[16..18].copy_from_slice(&meta.kind.to_le_bytes());
    // 18..20 flags (zero in version 1), 20..24 reserved (zero).
    b
}

/// Decodes bytes 8..32 of a record header.
#[inline]
pub fn decode_record_rest(b: &[u8]) -> RecordMeta {
    RecordMeta {
        seq: le_u64(&b[0..8]),
        ts_ns: le_u64(&b[8..16]),
        kind: u16::from_le_bytes([b[16], b[17]]),
    }
}

/// The record checksum: crc32c over header bytes 8..32 followed by the payload (one
/// contiguous range of the segment, `offset + 8 .. offset + 32 + len`). `len` is not hashed
/// directly but decides which bytes are. A computed value of 0 is stored as 1, so that a
/// published first word is never all zero (zero means "nothing written here").
#[inline]
pub fn record_crc(rest_and_payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(rest_and_payload);
    if crc == 0 { 1 } else { crc }
}

/// The first word of a record header: `len` in the low half, `crc` in the high half, so that
/// its little-endian bytes are `len` then `crc`.
#[inline]
pub const fn first_word(len: u32, crc: u32) -> u64 {
    (len as u64) | ((crc as u64) << 32)
}

/// Splits a first word into `(len, crc)`.
#[inline]
pub const fn split_first_word(word: u64) -> (u32, u32) {
    (word as u32, (word >> 32) as u32)
}

#[inline]
pub(crate) fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_checks() {
        let h = SegmentHeader {
            index: 7,
            first_seq: 1234,
            segment_bytes: 1 << 20,
        };
        let mut b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        b[30] ^= 1;
        assert_eq!(SegmentHeader::decode(&b), Err(HeaderProblem::BadChecksum));
        let mut b = h.encode();
        b[8] = 2;
        assert_eq!(
            SegmentHeader::decode(&b),
            Err(HeaderProblem::NewerVersion(2))
        );
        assert_eq!(
            SegmentHeader::decode(&[0; 64]),
            Err(HeaderProblem::Prepared)
        );
    }

    #[test]
    fn end_marker_is_not_a_record() {
        let (len, _) = split_first_word(END_MARKER);
        assert_eq!(len, u32::MAX);
        assert!(len as usize > MAX_PAYLOAD_BYTES);
        assert_eq!(&END_MARKER.to_le_bytes()[4..], b"END!");
    }

    #[test]
    fn sizes() {
        assert_eq!(record_bytes(0), 32);
        assert_eq!(record_bytes(1), 40);
        assert_eq!(record_bytes(8), 40);
        assert_eq!(max_payload_bytes(65536), 65536 - 96);
        assert_eq!(max_payload_bytes(10), 0);
    }
}
