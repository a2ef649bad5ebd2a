//! # oddsmatch-persist
//!
//! Tails the journal and writes every event to Postgres with binary COPY, exactly once, with
//! the journal position committed in the same transaction. The engine never waits for it.
//!
//! Status: the schema and its migrations ([`schema`]); the tailer and the flush come next.

#![warn(missing_docs)]

pub mod check;
pub mod flush;
pub mod rows;

pub use flush::{CrashPoint, Faults, PersistConfig, PersistError, Persister, Progress, Source};
pub mod schema;
