//! # oddsmatch-persist
//!
//! Tails the journal and writes every event to Postgres with binary COPY, exactly once, with
//! the journal position committed in the same transaction. The engine never waits for it.
//!
//! Status: this crate holds the workspace's place; the persist issue implements it. Nothing
//! else depends on it so far.

#![warn(missing_docs)]
