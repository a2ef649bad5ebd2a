//! # oddsmatch-net
//!
//! Everything that talks over a wire: the binary order-entry protocol and its mio gateway, the
//! market-data publisher (QUIC and TCP), the admin socket and a Rust client library. Only this
//! crate knows the wire format.
//!
//! Status: this crate holds the workspace's place; the gateway, market data and admin issues
//! implement it. Nothing else depends on it so far.

#![warn(missing_docs)]
