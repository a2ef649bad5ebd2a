//! The payload of a journal record: one engine input with the events it produced.
//!
//! The journal frames records (length, sequence number, timestamp, kind, checksum) and knows
//! nothing of what is inside. A record of kind [`RECORD_INPUT`] carries an [`Entry`] as an
//! [rkyv] archive, which readers validate and then read in place with [`access`], or turn back
//! into owned values with [`decode`] and [`decode_into`]. The shard writes entries with a
//! [`RecordCodec`], which reuses its buffers and so allocates nothing in the steady state.
//!
//! # The payload's format
//!
//! The payload is the archive of `Entry { input: Input, events: Vec<Event> }` in rkyv 0.8's
//! default format: **little endian, aligned** (every value at a multiple of its size, at most
//! 8 here) and **32-bit relative pointers**; the root (`ArchivedEntry`) is the last
//! `size_of::<ArchivedEntry>()` bytes, and the length is a multiple of 8. The layout of each
//! archived type is rkyv's (`#[repr(C)]` structs; enums as a `u8` tag in declaration order
//! followed by the variant's fields), with one exception: a
//! [`RejectReason`](crate::RejectReason) is stored as its `u16` code, so that the order of its
//! variants is free to change. These properties are pinned by compile-time assertions below
//! and by the round-trip tests. A new command or event is appended as the last variant of its
//! enum, and no larger than the largest (the sizes are pinned below): every record written
//! before it then reads as it did. Any other change to a type that an entry contains changes
//! the format, and needs a new record kind.
//!
//! A payload must be handed over **8-byte aligned** and with its exact length (no padding after
//! it): rkyv finds the root at the end. The journal is outside input, so every read validates
//! first (bytecheck: bounds, alignment, enum tags, booleans, reject codes, the number of
//! winners); a payload that fails is an error, never a panic or undefined behaviour.
//!
//! ```
//! use oddsmatch_engine::record::{self, RecordCodec};
//! use oddsmatch_engine::{AccountId, Command, Engine, EngineConfig, Input, Tier};
//!
//! let mut engine: Engine = Engine::new(EngineConfig::small());
//! let input = Input { ts_ns: 1, command: Command::create_account(AccountId(7), Tier::Basic) };
//! let mut events = Vec::new();
//! engine.apply(&input, &mut events);
//!
//! let mut codec = RecordCodec::new();
//! let payload = codec.encode(&input, &events);
//! let (decoded, decoded_events) = record::decode(payload).unwrap();
//! assert_eq!((decoded, decoded_events), (input, events));
//! ```

use std::fmt;

use rkyv::munge::munge;
use rkyv::rancor::{Fallible, Panic};
use rkyv::ser::allocator::Arena;
use rkyv::ser::{Allocator, Writer};
use rkyv::util::AlignedVec;
use rkyv::vec::{ArchivedVec, VecResolver};
use rkyv::{Archive, Place, Serialize};

use crate::command::Input;
use crate::event::Event;

pub use crate::command::{
    ArchivedCommand, ArchivedInput, ArchivedMarketSpec, ArchivedQuote, ArchivedResolution,
};
pub use crate::event::{ArchivedEvent, ArchivedWinners};
pub use crate::reason::ArchivedRejectReason;
pub use crate::types::ArchivedApiSecret;

/// The journal record kind of an [`Entry`] payload.
pub const RECORD_INPUT: u16 = 1;

/// The alignment a payload must have in memory to be read in place.
pub const RECORD_ALIGN: usize = 8;

/// One applied input and the events it produced, in order: what a journal record holds.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The input, with the timestamp the shard stamped it with.
    pub input: Input,
    /// The events [`crate::Engine::apply`] produced for it.
    pub events: Vec<Event>,
}

// The format promised above: nothing needs more than 8-byte alignment, so a payload placed at
// any multiple of 8 can be read in place.
const _: () = {
    assert!(align_of::<ArchivedEntry>() <= RECORD_ALIGN);
    assert!(align_of::<ArchivedInput>() <= RECORD_ALIGN);
    assert!(align_of::<ArchivedCommand>() <= RECORD_ALIGN);
    assert!(align_of::<ArchivedMarketSpec>() <= RECORD_ALIGN);
    assert!(align_of::<ArchivedEvent>() <= RECORD_ALIGN);
    // Little endian, aligned, 32-bit relative pointers (rkyv's defaults; a feature such as
    // `big_endian`, `unaligned` or `pointer_width_64` enabled anywhere in the build would
    // change the format and fail here or in the tests).
    assert!(align_of::<rkyv::Archived<u64>>() == 8);
    assert!(size_of::<rkyv::Archived<usize>>() == 4);
    assert!(size_of::<ArchivedVec<ArchivedEvent>>() == 8);
    // Appending a variant must not grow an enum: the entry's layout depends on these sizes.
    assert!(size_of::<ArchivedCommand>() == 80);
    assert!(size_of::<ArchivedEvent>() == 64);
};

/// An [`Entry`] made of borrowed parts, archived exactly as an [`Entry`] is: the codec
/// serializes the caller's input and events where they are, without copying them into an
/// owned entry first.
struct EntryRef<'a> {
    input: &'a Input,
    events: &'a [Event],
}

/// Where the parts of an [`EntryRef`] were written.
struct EntryRefResolver {
    input: <Input as Archive>::Resolver,
    events: VecResolver,
}

impl Archive for EntryRef<'_> {
    type Archived = ArchivedEntry;
    type Resolver = EntryRefResolver;

    fn resolve(&self, resolver: EntryRefResolver, out: Place<ArchivedEntry>) {
        munge!(let ArchivedEntry { input, events } = out);
        self.input.resolve(resolver.input, input);
        ArchivedVec::resolve_from_slice(self.events, resolver.events, events);
    }
}

impl<S> Serialize<S> for EntryRef<'_>
where
    S: Fallible + Allocator + Writer + ?Sized,
    Input: Serialize<S>,
    Event: Serialize<S>,
{
    fn serialize(&self, serializer: &mut S) -> Result<EntryRefResolver, S::Error> {
        Ok(EntryRefResolver {
            input: self.input.serialize(serializer)?,
            events: ArchivedVec::serialize_from_slice(self.events, serializer)?,
        })
    }
}

/// Encodes entries into a buffer it keeps, so that encoding allocates nothing once the buffer
/// and the serializer's scratch arena have grown to the largest entry seen.
///
/// Call protocol: [`RecordCodec::encode`] returns the payload, valid until the next call; copy
/// it out (into the journal) before encoding the next entry.
pub struct RecordCodec {
    /// The payload being built (16-byte aligned, so a payload is readable in place here too).
    buffer: AlignedVec,
    /// Scratch space rkyv uses while serializing, reused from entry to entry.
    arena: Arena,
}

impl fmt::Debug for RecordCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordCodec")
            .field("buffer_capacity", &self.buffer.capacity())
            .finish_non_exhaustive()
    }
}

impl Default for RecordCodec {
    fn default() -> Self {
        RecordCodec::new()
    }
}

impl RecordCodec {
    /// A codec with room for typical entries reserved.
    pub fn new() -> RecordCodec {
        RecordCodec {
            buffer: AlignedVec::with_capacity(4_096),
            arena: Arena::with_capacity(4_096),
        }
    }

    /// The payload of the entry made of `input` and `events`. The same input and events always
    /// give the same bytes.
    pub fn encode(&mut self, input: &Input, events: &[Event]) -> &[u8] {
        self.buffer.clear();
        let entry = EntryRef { input, events };
        // Writing into memory cannot fail: the only errors rkyv could raise here come from
        // shared pointers, which an entry does not contain. `Panic` says so in the type.
        let Ok(_) = rkyv::api::high::to_bytes_in_with_alloc::<_, _, Panic>(
            &entry,
            &mut self.buffer,
            self.arena.acquire(),
        );
        debug_assert!(self.buffer.len().is_multiple_of(RECORD_ALIGN));
        &self.buffer
    }
}

/// Why a payload could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// The payload does not start at a multiple of [`RECORD_ALIGN`] bytes.
    Misaligned {
        /// The payload's address modulo [`RECORD_ALIGN`].
        offset: usize,
    },
    /// The bytes are not a valid archived [`Entry`].
    Invalid {
        /// What validation found, in rkyv's words.
        detail: String,
    },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Misaligned { offset } => write!(
                f,
                "record payload is misaligned ({offset} bytes past a multiple of {RECORD_ALIGN})"
            ),
            RecordError::Invalid { detail } => write!(f, "invalid record payload: {detail}"),
        }
    }
}

impl std::error::Error for RecordError {}

impl RecordError {
    fn invalid(error: impl fmt::Display) -> RecordError {
        RecordError::Invalid {
            detail: error.to_string(),
        }
    }
}

/// Validates a payload and returns the archived entry inside, to be read in place.
pub fn access(payload: &[u8]) -> Result<&ArchivedEntry, RecordError> {
    let offset = payload.as_ptr() as usize % RECORD_ALIGN;
    if offset != 0 {
        return Err(RecordError::Misaligned { offset });
    }
    rkyv::access::<ArchivedEntry, rkyv::rancor::Error>(payload).map_err(RecordError::invalid)
}

/// Validates a payload and returns its input and events as owned values.
pub fn decode(payload: &[u8]) -> Result<(Input, Vec<Event>), RecordError> {
    let mut events = Vec::new();
    let input = decode_into(payload, &mut events)?;
    Ok((input, events))
}

/// Validates a payload, replaces the contents of `events` with its events (keeping the
/// vector's capacity) and returns its input. On an error `events` is left empty.
pub fn decode_into(payload: &[u8], events: &mut Vec<Event>) -> Result<Input, RecordError> {
    events.clear();
    let entry = access(payload)?;
    events.reserve(entry.events.len());
    for event in entry.events.iter() {
        match deserialize::<Event, _>(event) {
            Ok(event) => events.push(event),
            Err(error) => {
                events.clear();
                return Err(error);
            }
        }
    }
    deserialize::<Input, _>(&entry.input).inspect_err(|_| events.clear())
}

/// Converts a validated archived value back; after validation this cannot fail, but the
/// conversion is checked all the same.
fn deserialize<T, A>(archived: &A) -> Result<T, RecordError>
where
    A: rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rkyv::rancor::Error>>,
{
    rkyv::deserialize::<T, rkyv::rancor::Error>(archived).map_err(RecordError::invalid)
}
