//! # oddsmatch-net
//!
//! Everything that talks over a wire: the binary order-entry protocol ([`proto`]), its mio
//! gateway, and a Rust client library. Only this crate knows the wire format; the protocol is
//! documented byte by byte in `docs/protocol.md`.

#![warn(missing_docs)]

pub mod admin;
pub mod client;
pub mod gateway;
pub mod market_data;
pub mod metrics;
pub mod node;
pub mod proto;
pub mod subscriber;
