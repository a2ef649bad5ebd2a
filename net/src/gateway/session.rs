//! One client connection: its buffers, its login state and its timers.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use oddsmatch_engine::{AccountId, Role, Tier};

use crate::proto::{CHALLENGE_LEN, EndReason, Login, PROOF_LEN, ServerMsg};

/// Where a session is in its life.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Connected; waiting for `login`.
    Connected,
    /// Challenge sent; waiting for the proof and for the key's lookup.
    Challenged {
        login: Login,
        challenge: [u8; CHALLENGE_LEN],
        proof: Option<[u8; PROOF_LEN]>,
        key: Option<Option<oddsmatch_engine::ApiKeyView>>,
    },
    /// Logged in.
    Active,
    /// Ending: flush what is queued, then close.
    Ending,
}

/// A replay in progress: live reports wait behind it.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    /// Journal replays not yet back.
    pub(crate) pending: u32,
    /// Frames replayed from the journal, in arrival order.
    pub(crate) journal: Vec<u8>,
    /// Live frames that arrived meanwhile.
    pub(crate) held: Vec<u8>,
    pub(crate) reports: u32,
    pub(crate) incomplete: bool,
}

/// One connection.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) stream: TcpStream,
    pub(crate) id: u64,
    pub(crate) phase: Phase,
    pub(crate) account: AccountId,
    pub(crate) tier: Tier,
    pub(crate) role: Role,
    pub(crate) cancel_on_disconnect: bool,
    pub(crate) heartbeat: Duration,
    pub(crate) connected_at: Instant,
    pub(crate) last_received: Instant,
    pub(crate) last_sent: Instant,
    /// The dead man's switch timeout, when armed.
    pub(crate) dead_man: Option<Duration>,
    pub(crate) replay: Option<Replay>,
    inbound: Vec<u8>,
    /// `inbound[in_start..in_end]` is read and not yet consumed.
    in_start: usize,
    in_end: usize,
    outbound: Vec<u8>,
    /// Bytes of `outbound` already written.
    written: usize,
    /// Waiting for the socket to become writable again.
    pub(crate) blocked: bool,
    /// Why it ends, once decided.
    pub(crate) end: Option<EndReason>,
    /// The peer closed or the socket failed: drop it without writing.
    pub(crate) dead: bool,
    /// Bytes written to the socket since the session opened.
    written_total: u64,
    /// Answers to commands still (partly) in `outbound`, oldest first, to time their writes.
    acks: VecDeque<PendingAck>,
}

/// The answer to a command, queued and not yet written out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingAck {
    /// Where its last byte is in the session's output stream (counted from the first byte).
    end: u64,
    /// When the shard published the batch that answered it.
    pub(crate) published_ns: u64,
    /// When the read that brought the command returned.
    pub(crate) received_ns: u64,
}

/// The read buffer's first size; it doubles while a frame does not fit, up to the limit.
const READ_CHUNK: usize = 16 * 1024;

impl Session {
    pub(crate) fn new(stream: TcpStream, id: u64, heartbeat: Duration, now: Instant) -> Self {
        Session {
            stream,
            id,
            phase: Phase::Connected,
            account: AccountId(0),
            tier: Tier::Free,
            role: Role::Trader,
            cancel_on_disconnect: false,
            heartbeat,
            connected_at: now,
            last_received: now,
            last_sent: now,
            dead_man: None,
            replay: None,
            inbound: Vec::new(),
            in_start: 0,
            in_end: 0,
            outbound: Vec::new(),
            written: 0,
            blocked: false,
            end: None,
            dead: false,
            written_total: 0,
            acks: VecDeque::new(),
        }
    }

    pub(crate) fn is_active(&self) -> bool {
        matches!(self.phase, Phase::Active)
    }

    /// Reads what the socket has, up to `limit` bytes buffered. Returns whether anything
    /// arrived and whether the socket is drained (would block, closed or failed). Readiness is
    /// edge-triggered: a caller that stopped at the limit must read again after consuming.
    ///
    /// The buffer is zeroed only when it grows (from `READ_CHUNK` up to `limit`), never per
    /// read; consumed bytes are dropped by moving the unread tail to the front.
    pub(crate) fn read(&mut self, limit: usize) -> (bool, bool) {
        let mut got = false;
        loop {
            if self.in_end == self.inbound.len() {
                if self.in_start > 0 {
                    self.inbound.copy_within(self.in_start..self.in_end, 0);
                    self.in_end -= self.in_start;
                    self.in_start = 0;
                } else if self.inbound.len() < limit {
                    let grown = (self.inbound.len() * 2).clamp(READ_CHUNK, limit);
                    self.inbound.resize(grown, 0);
                } else {
                    // Frames are waiting to be processed first.
                    return (got, false);
                }
                continue;
            }
            match self.stream.read(&mut self.inbound[self.in_end..]) {
                Ok(0) => {
                    self.dead = true;
                    return (got, true);
                }
                Ok(n) => {
                    self.in_end += n;
                    got = true;
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return (got, true),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return (got, true);
                }
            }
        }
    }

    /// The bytes read and not yet consumed.
    pub(crate) fn inbound(&self) -> &[u8] {
        &self.inbound[self.in_start..self.in_end]
    }

    /// Drops the first `n` unconsumed bytes (processed frames).
    pub(crate) fn consume(&mut self, n: usize) {
        self.in_start = (self.in_start + n).min(self.in_end);
        if self.in_start == self.in_end {
            self.in_start = 0;
            self.in_end = 0;
        }
    }

    /// Queues a message.
    pub(crate) fn send(&mut self, msg: &ServerMsg) {
        msg.encode(&mut self.outbound);
    }

    /// Queues a live report or answer: behind a replay in progress, otherwise at once.
    pub(crate) fn send_live(&mut self, msg: &ServerMsg) {
        match self.replay.as_mut() {
            Some(replay) => msg.encode(&mut replay.held),
            None => msg.encode(&mut self.outbound),
        }
    }

    /// Queues already encoded frames.
    pub(crate) fn send_bytes(&mut self, frames: &[u8]) {
        self.outbound.extend_from_slice(frames);
    }

    pub(crate) fn pending_out(&self) -> usize {
        self.outbound.len() - self.written
    }

    /// Notes that everything queued so far answers a command, to time its write. An answer
    /// held behind a replay in progress is not timed.
    pub(crate) fn ack_queued(&mut self, published_ns: u64, received_ns: u64) {
        if self.replay.is_some() {
            return;
        }
        self.acks.push_back(PendingAck {
            end: self.written_total + self.pending_out() as u64,
            published_ns,
            received_ns,
        });
    }

    /// Whether the oldest answer noted is written out.
    pub(crate) fn has_written_ack(&self) -> bool {
        self.acks
            .front()
            .is_some_and(|ack| ack.end <= self.written_total)
    }

    /// The oldest answer noted, if it is written out.
    pub(crate) fn pop_written_ack(&mut self) -> Option<PendingAck> {
        if self.has_written_ack() {
            self.acks.pop_front()
        } else {
            None
        }
    }

    /// Writes what it can. Returns whether the socket failed.
    pub(crate) fn flush(&mut self, now: Instant) {
        while self.written < self.outbound.len() {
            match self.stream.write(&self.outbound[self.written..]) {
                Ok(0) => {
                    self.dead = true;
                    return;
                }
                Ok(n) => {
                    self.written += n;
                    self.written_total += n as u64;
                    self.last_sent = now;
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.blocked = true;
                    break;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
        if self.written == self.outbound.len() {
            self.outbound.clear();
            self.written = 0;
            self.blocked = false;
        } else if self.written > 1 << 20 {
            self.outbound.drain(..self.written);
            self.written = 0;
        }
    }
}
