//! The gateway thread's state and loop.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use oddsmatch_engine::shard::metrics::{LatencyRecorder, clock_ns};
use oddsmatch_engine::shard::{Answer, Batch, SubmitError, TAG_TIMER};
use oddsmatch_engine::{
    AccountId, Command, Event, MarketId, MarketKind, Query, Quote, Reply, Role, Tier,
};
use rustc_hash::FxHashMap;

use super::directory::Directory;
use super::replay::{self, Done, Job};
use super::reports::{Audience, Position, Recent, reports_of};
use super::session::{Phase, Replay, Session};
use super::throttle::{Cost, Throttle};
use super::{
    Control, DRAIN_DEADLINE, Doorbell, Gateway, GatewayConfig, GatewayLatency, GatewayReport,
    GatewayStats, LISTENER, ShardLink, WAKER,
};
use crate::proto::{
    self, AnswerHeader, BalanceEntry, CHALLENGE_LEN, ClientMsg, EndReason, Login, LoginAccepted,
    LoginReject, OpenOrderEntry, OrderRef, PositionEntry, ProtocolReject, Report, ReportHeader,
    Scope, ServerMsg,
};

/// Requests in flight are remembered in a ring indexed by tag; an entry overwritten before its
/// answer came only loses the request id of the reports.
const RING: usize = 1 << 18;

#[derive(Clone, Copy, Debug, Default)]
struct Inflight {
    tag: u64,
    slot: usize,
    session_id: u64,
    request_id: u64,
    msg_type: u16,
    what: What,
    /// When the read that brought the request's frame returned ([`clock_ns`]; 0 for what the
    /// gateway sends on its own).
    received_ns: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum What {
    #[default]
    Command,
    Read,
    KeyLookup,
    /// A mass cancel the gateway sent on its own (dead man's switch, cancel on disconnect).
    Cancel,
}

/// What the gateway keeps per account.
#[derive(Debug)]
struct AccountState {
    /// Slots of its logged-in sessions.
    sessions: Vec<usize>,
    throttle: Option<Throttle>,
    /// Recent reports per shard.
    recent: Vec<Recent>,
}

pub(crate) struct Core {
    poll: Poll,
    listener: Option<TcpListener>,
    doorbell: Arc<Doorbell>,
    config: GatewayConfig,
    shards: Vec<ShardLink>,
    /// The last record seen per shard.
    live: Vec<u64>,
    control: Arc<Control>,
    stats: Arc<GatewayStats>,
    sessions: Vec<Option<Session>>,
    free_slots: Vec<usize>,
    open_sessions: usize,
    next_session_id: u64,
    accounts: FxHashMap<AccountId, AccountState>,
    directory: Directory,
    ring: Vec<Inflight>,
    next_tag: u64,
    inflight: u64,
    /// Mass cancels that found a shard queue full, retried until taken.
    pending_cancels: Vec<(AccountId, u16)>,
    replay_jobs: Sender<Job>,
    replay_done: Receiver<Done>,
    /// Sessions with output to write.
    dirty: Vec<usize>,
    /// Sessions whose sockets still hold bytes after their turn.
    unread: Vec<usize>,
    last_scan: Instant,
    /// When the read whose frames are being processed returned ([`clock_ns`]).
    received_ns: u64,
    meter: Meter,
}

/// The gateway thread's latency recorders, merged into [`GatewayStats::latency`].
struct Meter {
    decode: LatencyRecorder,
    ack: LatencyRecorder,
    round_trip: LatencyRecorder,
}

impl Meter {
    fn new(latency: &GatewayLatency) -> Meter {
        Meter {
            decode: LatencyRecorder::new(latency.decode.clone()),
            ack: LatencyRecorder::new(latency.ack.clone()),
            round_trip: LatencyRecorder::new(latency.round_trip.clone()),
        }
    }

    /// Merges what was recorded if it is time; reads the clock only when something waits.
    fn flush_if_due(&mut self) {
        if self.decode.pending() || self.ack.pending() || self.round_trip.pending() {
            let now_ns = clock_ns();
            self.decode.flush_if_due(now_ns);
            self.ack.flush_if_due(now_ns);
            self.round_trip.flush_if_due(now_ns);
        }
    }
}

impl Core {
    pub(crate) fn new(
        gateway: Gateway,
        shards: Vec<ShardLink>,
        control: Arc<Control>,
        stats: Arc<GatewayStats>,
    ) -> io::Result<Core> {
        let (replay_jobs, replay_done) = replay::spawn(gateway.doorbell.waker.clone())?;
        let live = shards.iter().map(|s| s.start_seq).collect();
        let meter = Meter::new(&stats.latency);
        let mut core = Core {
            poll: gateway.poll,
            listener: Some(gateway.listener),
            doorbell: gateway.doorbell,
            config: gateway.config,
            shards,
            live,
            control,
            stats,
            sessions: Vec::new(),
            free_slots: Vec::new(),
            open_sessions: 0,
            next_session_id: 1,
            accounts: FxHashMap::default(),
            directory: Directory::default(),
            ring: vec![Inflight::default(); RING],
            next_tag: 1,
            inflight: 0,
            pending_cancels: Vec::new(),
            replay_jobs,
            replay_done,
            dirty: Vec::new(),
            unread: Vec::new(),
            last_scan: Instant::now(),
            received_ns: 0,
            meter,
        };
        core.load_markets()?;
        Ok(core)
    }

    /// Asks every shard for its markets and waits for the answers.
    fn load_markets(&mut self) -> io::Result<()> {
        for link in &self.shards {
            link.submitter
                .query(0, Query::Markets)
                .map_err(|error| io::Error::other(format!("shard {}: {error}", link.shard)))?;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let wait = deadline.saturating_duration_since(Instant::now());
                let answer = link.answers.recv_timeout(wait).map_err(|_| {
                    io::Error::other(format!("shard {} did not list its markets", link.shard))
                })?;
                if let Reply::Markets(markets) = answer.reply {
                    for m in markets {
                        let selections = m.selections.len() as u16;
                        self.directory
                            .insert(link.shard, m.market, m.kind, m.ladder, selections);
                    }
                    break;
                }
            }
        }
        tracing::info!(markets = self.directory.len(), "gateway knows its markets");
        Ok(())
    }

    pub(crate) fn run(&mut self) -> GatewayReport {
        let mut events = Events::with_capacity(1024);
        let spin = Duration::from_micros(self.config.spin_us);
        let mut busy_since = Instant::now();
        loop {
            if self.control.stop.load(Ordering::Acquire) {
                return self.shutdown(&mut events);
            }
            let mut progressed = self.drain_shards();
            progressed |= self.drain_replays();
            let timeout = if progressed
                || !self.unread.is_empty()
                || (self.inflight > 0 && busy_since.elapsed() < spin)
            {
                Some(Duration::ZERO)
            } else {
                // Sleep until a shard rings, a socket is ready or the next timer scan.
                self.doorbell.sleeping.store(true, Ordering::SeqCst);
                if self.shards_have_output() {
                    self.doorbell.sleeping.store(false, Ordering::SeqCst);
                    Some(Duration::ZERO)
                } else {
                    Some(SCAN_INTERVAL)
                }
            };
            if progressed {
                busy_since = Instant::now();
            }
            if let Err(error) = self.poll.poll(&mut events, timeout)
                && error.kind() != io::ErrorKind::Interrupted
            {
                tracing::error!(%error, "gateway poll failed");
                return self.shutdown(&mut events);
            }
            self.doorbell.sleeping.store(false, Ordering::SeqCst);
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(now),
                    WAKER => {}
                    Token(slot) => {
                        if event.is_writable()
                            && let Some(Some(session)) = self.sessions.get_mut(slot)
                        {
                            session.blocked = false;
                            self.dirty.push(slot);
                        }
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.on_readable(slot, now);
                        }
                    }
                }
                busy_since = now;
            }
            for slot in std::mem::take(&mut self.unread) {
                self.on_readable(slot, now);
            }
            if now.duration_since(self.last_scan) >= SCAN_INTERVAL {
                self.last_scan = now;
                self.scan_timers(now);
                self.retry_cancels();
            }
            self.flush_dirty(now);
            self.meter.flush_if_due();
        }
    }

    fn shards_have_output(&self) -> bool {
        self.shards
            .iter()
            .any(|link| !link.acks.is_empty() || !link.answers.is_empty())
            || !self.replay_done.is_empty()
    }

    // ---------------------------------------------------------------- connections

    fn accept(&mut self, now: Instant) {
        let Some(listener) = self.listener.as_ref() else {
            return;
        };
        loop {
            let (mut stream, _) = match listener.accept() {
                Ok(pair) => pair,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    return;
                }
            };
            let _ = stream.set_nodelay(true);
            self.stats.connections.fetch_add(1, Ordering::Relaxed);
            let slot = self.free_slots.pop().unwrap_or_else(|| {
                self.sessions.push(None);
                self.sessions.len() - 1
            });
            if let Err(error) = self.poll.registry().register(
                &mut stream,
                Token(slot),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                tracing::warn!(%error, "could not register a connection");
                self.free_slots.push(slot);
                continue;
            }
            let heartbeat = Duration::from_millis(u64::from(self.config.heartbeat_ms));
            let mut session = Session::new(stream, self.next_session_id, heartbeat, now);
            self.next_session_id += 1;
            self.open_sessions += 1;
            if self.open_sessions > self.config.max_connections {
                session.end = Some(EndReason::ServerFull);
                session.phase = Phase::Ending;
                send_end(&mut session, EndReason::ServerFull, "the server is full");
            }
            self.sessions[slot] = Some(session);
            self.dirty.push(slot);
        }
    }

    fn on_readable(&mut self, slot: usize, now: Instant) {
        let limit = self.config.max_frame.max(READ_LIMIT);
        let Some(Some(session)) = self.sessions.get_mut(slot) else {
            return;
        };
        if matches!(session.phase, Phase::Ending) {
            // Nothing more is taken from a session that is ending; drain the socket.
            for _ in 0..READ_ROUNDS {
                let (_, drained) = session.read(limit);
                session.consume(session.inbound().len());
                if drained {
                    break;
                }
            }
            if session.dead {
                self.close(slot);
            }
            return;
        }
        for _ in 0..READ_ROUNDS {
            let Some(Some(session)) = self.sessions.get_mut(slot) else {
                return;
            };
            let (got, drained) = session.read(limit);
            if got {
                session.last_received = now;
            }
            self.received_ns = clock_ns();
            self.process_frames(slot, now);
            let Some(Some(session)) = self.sessions.get_mut(slot) else {
                return;
            };
            if session.dead {
                self.close(slot);
                return;
            }
            if drained {
                return;
            }
        }
        // Bytes are left in the socket: come back after the other sessions and the shards'
        // answers had their turn (readiness is edge-triggered, so no new event would come).
        self.unread.push(slot);
    }

    fn process_frames(&mut self, slot: usize, now: Instant) {
        let max_frame = self.config.max_frame;
        let mut consumed = 0;
        loop {
            let Some(Some(session)) = self.sessions.get_mut(slot) else {
                return;
            };
            if !matches!(
                session.phase,
                Phase::Connected | Phase::Challenged { .. } | Phase::Active
            ) {
                session.consume(session.inbound().len());
                return;
            }
            let bytes = &session.inbound()[consumed..];
            let (header, body) = match proto::split_frame(bytes, max_frame) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(error) => {
                    session.consume(session.inbound().len());
                    let detail = error.to_string();
                    self.end(slot, EndReason::ProtocolError, &detail);
                    return;
                }
            };
            consumed += header.len as usize;
            // Decoded while the bytes are borrowed; what is kept is owned by the message.
            let decoded = ClientMsg::decode(header, body)
                .map_err(|error| (error, request_id_of(header.kind, body)));
            match decoded {
                Ok(msg) => self.on_message(slot, msg, now),
                Err((error, request_id)) => {
                    self.stats.count_reject(error.reject().code());
                    if let Some(Some(session)) = self.sessions.get_mut(slot) {
                        tracing::debug!(session = session.id, %error, "bad frame");
                        session.send(&ServerMsg::RequestRejected {
                            request_id,
                            msg_type: header.kind,
                            reason: error.reject().code(),
                        });
                        self.dirty.push(slot);
                    }
                }
            }
        }
        if let Some(Some(session)) = self.sessions.get_mut(slot) {
            session.consume(consumed);
        }
    }

    // ---------------------------------------------------------------- messages

    fn on_message(&mut self, slot: usize, msg: ClientMsg, now: Instant) {
        let Some(Some(session)) = self.sessions.get_mut(slot) else {
            return;
        };
        self.dirty.push(slot);
        match (&session.phase, msg) {
            (Phase::Connected, ClientMsg::Login(login)) => self.on_login(slot, login),
            (Phase::Challenged { .. }, ClientMsg::LoginProof { proof }) => {
                if let Phase::Challenged {
                    proof: slot_proof, ..
                } = &mut session.phase
                {
                    *slot_proof = Some(proof);
                }
                self.try_complete_login(slot, now);
            }
            (_, ClientMsg::Login(_) | ClientMsg::LoginProof { .. }) => {
                self.refuse_login(slot, LoginReject::OutOfOrder);
            }
            (Phase::Active, msg) => self.on_request(slot, msg, now),
            (_, ClientMsg::Heartbeat { .. }) => {}
            (_, ClientMsg::Logout) => self.end(slot, EndReason::Logout, "logged out"),
            (_, msg) => {
                session.send(&ServerMsg::RequestRejected {
                    request_id: msg.request_id(),
                    msg_type: msg.kind(),
                    reason: ProtocolReject::NotLoggedIn.code(),
                });
                self.stats.count_reject(ProtocolReject::NotLoggedIn.code());
            }
        }
    }

    fn on_login(&mut self, slot: usize, login: Login) {
        let mut challenge = [0u8; CHALLENGE_LEN];
        if getrandom::fill(&mut challenge).is_err() {
            self.refuse_login(slot, LoginReject::Unavailable);
            return;
        }
        let key_id = login.key_id;
        let tag = self.remember(slot, 0, proto::client_kind::LOGIN, What::KeyLookup);
        // Keys are set on every shard; shard 0 answers.
        let looked_up = self.shards[0]
            .submitter
            .query(tag, Query::ApiKey { key_id });
        let Some(Some(session)) = self.sessions.get_mut(slot) else {
            return;
        };
        if looked_up.is_err() {
            self.inflight -= 1;
            self.refuse_login(slot, LoginReject::Unavailable);
            return;
        }
        let requested = login.heartbeat_ms;
        if requested != 0 {
            session.heartbeat = Duration::from_millis(u64::from(requested.clamp(100, 30_000)));
        }
        session.cancel_on_disconnect = login.cancel_on_disconnect;
        session.send(&ServerMsg::Challenge { nonce: challenge });
        session.phase = Phase::Challenged {
            login,
            challenge,
            proof: None,
            key: None,
        };
    }

    fn try_complete_login(&mut self, slot: usize, now: Instant) {
        let Some(Some(session)) = self.sessions.get_mut(slot) else {
            return;
        };
        let Phase::Challenged {
            login,
            challenge,
            proof: Some(proof),
            key: Some(key),
        } = &session.phase
        else {
            return;
        };
        let Some(key) = *key else {
            self.refuse_login(slot, LoginReject::UnknownKey);
            return;
        };
        if !proto::verify_proof(&key.secret.0, challenge, login.key_id, proof) {
            self.refuse_login(slot, LoginReject::BadProof);
            return;
        }
        let limits = self.config.throttle.for_tier(key.tier);
        let account = self
            .accounts
            .entry(key.account)
            .or_insert_with(|| new_account(&self.live, self.shards.len()));
        if account.sessions.len() >= limits.sessions as usize {
            self.refuse_login(slot, LoginReject::TooManySessions);
            return;
        }
        account.sessions.push(slot);
        if account.throttle.is_none() {
            account.throttle = Some(Throttle::new(limits, now));
        }
        let Phase::Challenged { login, .. } = std::mem::replace(&mut session.phase, Phase::Active)
        else {
            unreachable!("matched just above");
        };
        session.account = key.account;
        session.tier = key.tier;
        session.role = key.role;
        session.send(&ServerMsg::LoginAccepted(LoginAccepted {
            session_id: session.id,
            server_time_ns: wall_clock_ns(),
            account: key.account,
            heartbeat_ms: session.heartbeat.as_millis() as u32,
            cancel_on_disconnect: session.cancel_on_disconnect,
            shard_count: self.shards.len() as u16,
            tier: key.tier,
            role: key.role,
        }));
        self.stats.logins.fetch_add(1, Ordering::Relaxed);
        self.stats.sessions.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(session = session.id, account = key.account.0, "logged in");
        self.start_replay(slot, &login);
    }

    fn refuse_login(&mut self, slot: usize, reason: LoginReject) {
        let Some(Some(session)) = self.sessions.get_mut(slot) else {
            return;
        };
        self.stats.login_failures.fetch_add(1, Ordering::Relaxed);
        session.send(&ServerMsg::LoginRejected { reason });
        self.end(slot, EndReason::LoginFailed, "login failed");
    }

    /// Sends the reports the client missed: from memory where it holds them all, otherwise
    /// from the journal on the replay thread. Live reports wait until it is done.
    fn start_replay(&mut self, slot: usize, login: &Login) {
        let Some(Some(session)) = self.sessions.get_mut(slot) else {
            return;
        };
        let mut replay = Replay::default();
        let account_id = session.account;
        let account = self.accounts.get(&account_id).expect("registered at login");
        let mut seen = vec![false; self.shards.len()];
        for cursor in &login.resume {
            let shard = usize::from(cursor.shard);
            // A shard that does not exist, or one named twice, adds nothing.
            if shard >= self.shards.len() || std::mem::replace(&mut seen[shard], true) {
                continue;
            }
            let after: Position = (cursor.journal_seq, cursor.event_index);
            match account.recent[shard].after(after) {
                Some(reports) => {
                    for (header, body) in reports {
                        let report = Report {
                            header: *header,
                            body: *body,
                        };
                        session.send(&ServerMsg::Report(report));
                        replay.reports += 1;
                    }
                }
                None => {
                    let job = Job {
                        slot,
                        session_id: session.id,
                        account: account_id,
                        shard: cursor.shard,
                        journal_dir: self.shards[shard].journal_dir.clone(),
                        after,
                        until_seq: self.live[shard],
                    };
                    if self.replay_jobs.send(job).is_ok() {
                        replay.pending += 1;
                    } else {
                        replay.incomplete = true;
                    }
                }
            }
        }
        self.stats
            .reports
            .fetch_add(u64::from(replay.reports), Ordering::Relaxed);
        if replay.pending == 0 {
            session.send(&ServerMsg::ReplayComplete {
                reports: replay.reports,
                incomplete: replay.incomplete,
            });
        } else {
            session.replay = Some(replay);
        }
    }

    fn drain_replays(&mut self) -> bool {
        let mut progressed = false;
        while let Ok(done) = self.replay_done.try_recv() {
            progressed = true;
            let Some(Some(session)) = self.sessions.get_mut(done.slot) else {
                continue;
            };
            if session.id != done.session_id {
                continue;
            }
            let Some(replay) = session.replay.as_mut() else {
                continue;
            };
            replay.journal.extend_from_slice(&done.frames);
            replay.reports += done.reports;
            replay.incomplete |= done.incomplete;
            replay.pending -= 1;
            self.stats
                .reports
                .fetch_add(u64::from(done.reports), Ordering::Relaxed);
            if replay.pending == 0 {
                let replay = session.replay.take().expect("checked above");
                session.send_bytes(&replay.journal);
                session.send(&ServerMsg::ReplayComplete {
                    reports: replay.reports,
                    incomplete: replay.incomplete,
                });
                session.send_bytes(&replay.held);
                self.dirty.push(done.slot);
                self.check_outbound(done.slot);
            }
        }
        progressed
    }

    fn on_request(&mut self, slot: usize, msg: ClientMsg, now: Instant) {
        let Some(Some(session)) = self.sessions.get_mut(slot) else {
            return;
        };
        let cost = match &msg {
            ClientMsg::Heartbeat { .. } => return,
            ClientMsg::Logout => {
                self.end(slot, EndReason::Logout, "logged out");
                return;
            }
            ClientMsg::DeadMan { timeout_ms } => {
                session.dead_man =
                    (*timeout_ms > 0).then(|| Duration::from_millis(u64::from(*timeout_ms)));
                session.send(&ServerMsg::DeadManStatus {
                    timeout_ms: *timeout_ms,
                    fired: false,
                });
                return;
            }
            ClientMsg::NewOrder(_)
            | ClientMsg::Replace(_)
            | ClientMsg::MassQuote(_)
            | ClientMsg::PlaceBet(_) => Cost::Order,
            ClientMsg::Cancel(_) | ClientMsg::MassCancel(_) | ClientMsg::CancelBet(_) => {
                Cost::Cancel
            }
            _ => Cost::Request,
        };
        let request_id = msg.request_id();
        let msg_type = msg.kind();
        let account_id = session.account;
        let role = session.role;
        let throttle = self
            .accounts
            .get_mut(&account_id)
            .and_then(|a| a.throttle.as_mut())
            .expect("an active session's account has a throttle");
        if let Err((limit, wait)) = throttle.charge(cost, now) {
            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            session.send(&ServerMsg::Throttled {
                request_id,
                msg_type,
                limit,
                retry_after_ms: wait.as_millis().clamp(1, u128::from(u32::MAX)) as u32,
            });
            return;
        }
        let routed = self.to_command(account_id, role, &msg);
        match routed {
            Err(reason) => {
                self.stats.count_reject(reason);
                if let Some(Some(session)) = self.sessions.get_mut(slot) {
                    session.send(&ServerMsg::RequestRejected {
                        request_id,
                        msg_type,
                        reason,
                    });
                }
            }
            Ok(Routed::One(shard, command)) => {
                self.submit(slot, request_id, msg_type, shard, command);
            }
            Ok(Routed::Every(make)) => {
                for shard in 0..self.shards.len() as u16 {
                    self.submit(slot, request_id, msg_type, shard, make(account_id));
                }
            }
            Ok(Routed::Read(query)) => {
                for shard in 0..self.shards.len() as u16 {
                    let tag = self.remember(slot, request_id, msg_type, What::Read);
                    let sent = self.shards[usize::from(shard)]
                        .submitter
                        .query(tag, query.clone());
                    if let Err(error) = sent {
                        self.inflight -= 1;
                        self.refuse(slot, request_id, msg_type, shard, error);
                    }
                }
            }
        }
    }

    /// Checks a request against what the gateway knows and builds its command.
    fn to_command(&self, account: AccountId, role: Role, msg: &ClientMsg) -> Result<Routed, u16> {
        use oddsmatch_engine::RejectReason as R;
        let feed_only = matches!(msg, ClientMsg::ReferenceOdds(_));
        let is_read = matches!(
            msg,
            ClientMsg::GetOpenOrders { .. }
                | ClientMsg::GetPositions { .. }
                | ClientMsg::GetBalance { .. }
        );
        if !is_read && (role == Role::Feed) != feed_only {
            return Err(R::RoleNotPermitted.code());
        }
        let market_of = |market: MarketId, kind: Option<MarketKind>| {
            let entry = self.directory.get(market).ok_or(R::UnknownMarket.code())?;
            if kind.is_some_and(|kind| kind != entry.kind) {
                return Err(R::InvalidMarketKind.code());
            }
            Ok(*entry)
        };
        let on_ladder = |entry: &super::directory::MarketEntry, odds: u32| {
            entry
                .ladder
                .tick(odds)
                .map(|_| ())
                .ok_or(R::InvalidOdds.code())
        };
        let positive = |stake: i64| {
            if stake > 0 {
                Ok(())
            } else {
                Err(R::InvalidStake.code())
            }
        };
        Ok(match msg {
            ClientMsg::NewOrder(o) => {
                let entry = market_of(o.market, Some(MarketKind::Exchange))?;
                on_ladder(&entry, o.odds_x100)?;
                positive(o.stake_minor)?;
                Routed::One(
                    entry.shard,
                    Command::PlaceOrder {
                        account,
                        market: o.market,
                        selection: o.selection,
                        side: o.side,
                        odds_x100: o.odds_x100,
                        stake_minor: o.stake_minor,
                        tif: o.tif,
                        post_only: o.post_only,
                        persistence: o.persistence,
                        client_order_id: o.client_order_id,
                    },
                )
            }
            ClientMsg::Cancel(c) => {
                let entry = market_of(c.market, Some(MarketKind::Exchange))?;
                let (order_id, client_order_id) = match c.order {
                    OrderRef::OrderId(id) => (Some(id), None),
                    OrderRef::ClientOrderId(id) => (None, Some(id)),
                };
                Routed::One(
                    entry.shard,
                    Command::CancelOrder {
                        account,
                        market: c.market,
                        order_id,
                        client_order_id,
                    },
                )
            }
            ClientMsg::Replace(r) => {
                let entry = market_of(r.market, Some(MarketKind::Exchange))?;
                on_ladder(&entry, r.odds_x100)?;
                positive(r.stake_minor)?;
                Routed::One(
                    entry.shard,
                    Command::ReplaceOrder {
                        account,
                        market: r.market,
                        order_id: r.order_id,
                        odds_x100: r.odds_x100,
                        stake_minor: r.stake_minor,
                    },
                )
            }
            ClientMsg::MassCancel(m) => match m.scope {
                Scope::Market(market) => {
                    let entry = market_of(market, None)?;
                    Routed::One(
                        entry.shard,
                        Command::MassCancel {
                            account,
                            market: Some(market),
                        },
                    )
                }
                Scope::All => Routed::Every(|account| Command::MassCancel {
                    account,
                    market: None,
                }),
            },
            ClientMsg::MassQuote(m) => {
                let entry = market_of(m.market, Some(MarketKind::Exchange))?;
                if m.quotes.len() > usize::from(entry.selections) {
                    return Err(R::InvalidQuote.code());
                }
                let mut quotes = Vec::with_capacity(m.quotes.len());
                for q in &m.quotes {
                    let side = |odds: u32, stake: i64| -> Result<(Option<u32>, Option<i64>), u16> {
                        match (odds, stake) {
                            (0, 0) => Ok((None, None)),
                            (0, _) | (_, 0) => Err(R::InvalidQuote.code()),
                            (odds, stake) => {
                                on_ladder(&entry, odds)?;
                                positive(stake)?;
                                Ok((Some(odds), Some(stake)))
                            }
                        }
                    };
                    let (back_odds_x100, back_stake_minor) =
                        side(q.back_odds_x100, q.back_stake_minor)?;
                    let (lay_odds_x100, lay_stake_minor) =
                        side(q.lay_odds_x100, q.lay_stake_minor)?;
                    quotes.push(Quote {
                        selection: q.selection,
                        back_odds_x100,
                        back_stake_minor,
                        lay_odds_x100,
                        lay_stake_minor,
                    });
                }
                Routed::One(
                    entry.shard,
                    Command::MassQuote {
                        account,
                        market: m.market,
                        quotes,
                    },
                )
            }
            ClientMsg::PlaceBet(b) => {
                let entry = market_of(b.market, Some(MarketKind::Pool))?;
                positive(b.stake_minor)?;
                Routed::One(
                    entry.shard,
                    Command::PlaceBet {
                        account,
                        market: b.market,
                        selection: b.selection,
                        stake_minor: b.stake_minor,
                        client_order_id: b.client_order_id,
                    },
                )
            }
            ClientMsg::CancelBet(c) => {
                let entry = market_of(c.market, Some(MarketKind::Pool))?;
                Routed::One(
                    entry.shard,
                    Command::CancelBet {
                        account,
                        market: c.market,
                        bet_id: c.bet_id,
                    },
                )
            }
            ClientMsg::Vote(v) => {
                let entry = market_of(v.market, None)?;
                Routed::One(
                    entry.shard,
                    Command::Vote {
                        account,
                        market: v.market,
                        selection: v.selection,
                    },
                )
            }
            ClientMsg::ReferenceOdds(r) => {
                let entry = market_of(r.market, None)?;
                if r.probabilities_bps.len() != usize::from(entry.selections)
                    || r.probabilities_bps.iter().any(|p| *p > 10_000)
                {
                    return Err(R::InvalidReference.code());
                }
                Routed::One(
                    entry.shard,
                    Command::ReferenceOdds {
                        account,
                        market: r.market,
                        probabilities_bps: r.probabilities_bps.clone(),
                    },
                )
            }
            ClientMsg::GetOpenOrders { scope, .. } => Routed::Read(Query::OpenOrders {
                account,
                market: match scope {
                    Scope::Market(market) => Some(*market),
                    Scope::All => None,
                },
            }),
            ClientMsg::GetPositions { .. } => Routed::Read(Query::Positions { account }),
            ClientMsg::GetBalance { .. } => Routed::Read(Query::Account { account }),
            ClientMsg::Login(_)
            | ClientMsg::LoginProof { .. }
            | ClientMsg::Logout
            | ClientMsg::Heartbeat { .. }
            | ClientMsg::DeadMan { .. } => unreachable!("session messages are handled before"),
        })
    }

    fn submit(
        &mut self,
        slot: usize,
        request_id: u64,
        msg_type: u16,
        shard: u16,
        command: Command,
    ) {
        let tag = self.remember(slot, request_id, msg_type, What::Command);
        let queued_ns = clock_ns();
        match self.shards[usize::from(shard)]
            .submitter
            .submit_at(tag, command, queued_ns)
        {
            Ok(()) => {
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                self.meter.decode.record_since(self.received_ns, queued_ns);
            }
            Err(error) => {
                self.inflight -= 1;
                self.refuse(slot, request_id, msg_type, shard, error);
            }
        }
    }

    fn refuse(
        &mut self,
        slot: usize,
        request_id: u64,
        msg_type: u16,
        shard: u16,
        error: SubmitError,
    ) {
        let Some(Some(session)) = self.sessions.get_mut(slot) else {
            return;
        };
        match error {
            SubmitError::Busy => {
                self.stats.busy.fetch_add(1, Ordering::Relaxed);
                session.send(&ServerMsg::Busy {
                    request_id,
                    msg_type,
                    shard,
                });
            }
            SubmitError::Stopped => {
                self.stats.count_reject(ProtocolReject::ShardStopped.code());
                session.send(&ServerMsg::RequestRejected {
                    request_id,
                    msg_type,
                    reason: ProtocolReject::ShardStopped.code(),
                });
            }
        }
    }

    /// Takes a tag for a request and remembers where its answer goes.
    fn remember(&mut self, slot: usize, request_id: u64, msg_type: u16, what: What) -> u64 {
        let tag = self.next_tag;
        self.next_tag += 1;
        let session_id = match self.sessions.get(slot) {
            Some(Some(session)) => session.id,
            _ => 0,
        };
        self.ring[(tag as usize) & (RING - 1)] = Inflight {
            tag,
            slot,
            session_id,
            request_id,
            msg_type,
            what,
            received_ns: match what {
                What::Command => self.received_ns,
                What::Read | What::KeyLookup | What::Cancel => 0,
            },
        };
        self.inflight += 1;
        tag
    }

    /// The request a tag stands for, if still remembered; counts it answered.
    fn recall(&mut self, tag: u64) -> Option<Inflight> {
        if tag == TAG_TIMER || tag == 0 {
            return None;
        }
        let entry = self.ring[(tag as usize) & (RING - 1)];
        if entry.tag != tag {
            return None;
        }
        self.ring[(tag as usize) & (RING - 1)].tag = 0;
        self.inflight = self.inflight.saturating_sub(1);
        Some(entry)
    }

    // ---------------------------------------------------------------- shard output

    fn drain_shards(&mut self) -> bool {
        let mut progressed = false;
        for index in 0..self.shards.len() {
            while let Ok(batch) = self.shards[index].acks.try_recv() {
                progressed = true;
                self.on_batch(&batch);
            }
            while let Ok(answer) = self.shards[index].answers.try_recv() {
                progressed = true;
                self.on_answer(answer);
            }
        }
        progressed
    }

    fn on_batch(&mut self, batch: &Batch) {
        let shard = batch.shard;
        for (outcome, events) in batch.iter() {
            self.live[usize::from(shard)] = outcome.seq;
            let origin = self.recall(outcome.tag);
            let origin_session = origin
                .filter(|o| o.what == What::Command)
                .map(|o| (o.slot, o.session_id, o.request_id));
            let msg_type = origin.map_or(0, |o| o.msg_type);
            let mut served = false;
            for (index, event) in events.iter().enumerate() {
                let header = ReportHeader {
                    journal_seq: outcome.seq,
                    ts_ns: outcome.ts_ns,
                    request_id: 0,
                    event_index: index as u32,
                    shard,
                };
                if let Event::MarketCreated {
                    market,
                    kind,
                    selections,
                    ladder,
                    ..
                } = *event
                {
                    self.directory
                        .insert(shard, market, kind, ladder, selections);
                }
                match reports_of(event) {
                    Audience::Accounts(reports) => {
                        for (account, body) in reports.into_iter().flatten() {
                            served |= self.report(account, header, body, origin_session);
                        }
                    }
                    Audience::Everyone(body) => self.broadcast(header, body),
                    Audience::Requester(body) => {
                        if let Some((slot, session_id, request_id)) = origin_session {
                            served = true;
                            let header = ReportHeader {
                                request_id,
                                ..header
                            };
                            self.deliver(slot, session_id, header, body);
                        }
                    }
                    Audience::Nobody => {}
                }
            }
            if !served && let Some((slot, session_id, request_id)) = origin_session {
                self.request_done(slot, session_id, (request_id, msg_type), shard, outcome.seq);
            }
            if let (Some((slot, session_id, _)), Some(origin)) = (origin_session, origin) {
                self.ack_queued(slot, session_id, batch.published_ns, origin.received_ns);
            }
        }
    }

    /// Notes that the answer to a command is queued on its session, to time its write.
    fn ack_queued(&mut self, slot: usize, session_id: u64, published_ns: u64, received_ns: u64) {
        if let Some(Some(session)) = self.sessions.get_mut(slot)
            && session.id == session_id
            && session.is_active()
        {
            session.ack_queued(published_ns, received_ns);
        }
    }

    /// Tells a session that its request was carried out without a report for it.
    fn request_done(
        &mut self,
        slot: usize,
        session_id: u64,
        (request_id, msg_type): (u64, u16),
        shard: u16,
        seq: u64,
    ) {
        let Some(Some(session)) = self.sessions.get_mut(slot) else {
            return;
        };
        if session.id != session_id || !session.is_active() {
            return;
        }
        let msg = ServerMsg::RequestDone {
            request_id,
            msg_type,
            shard,
            journal_seq: seq,
        };
        session.send_live(&msg);
        self.dirty.push(slot);
    }

    fn report(
        &mut self,
        account: AccountId,
        header: ReportHeader,
        body: proto::ReportBody,
        origin: Option<(usize, u64, u64)>,
    ) -> bool {
        let mut served = false;
        let capacity = self.config.replay_memory;
        // Only accounts that logged in since the gateway started are remembered (a reconnect
        // is what memory is for); the others' replays come from the journal.
        let Some(state) = self.accounts.get_mut(&account) else {
            return false;
        };
        state.recent[usize::from(header.shard)].push(header, body, capacity);
        for i in 0..state.sessions.len() {
            let slot = state.sessions[i];
            let Some(Some(session)) = self.sessions.get_mut(slot) else {
                continue;
            };
            let request_id = match origin {
                Some((origin_slot, session_id, request_id))
                    if origin_slot == slot && session_id == session.id =>
                {
                    served = true;
                    request_id
                }
                _ => 0,
            };
            let header = ReportHeader {
                request_id,
                ..header
            };
            let msg = ServerMsg::Report(Report { header, body });
            session.send_live(&msg);
            self.stats.reports.fetch_add(1, Ordering::Relaxed);
            self.dirty.push(slot);
        }
        let mut i = 0;
        while let Some(&slot) = self.accounts.get(&account).and_then(|a| a.sessions.get(i)) {
            self.check_outbound(slot);
            i += 1;
        }
        served
    }

    fn deliver(
        &mut self,
        slot: usize,
        session_id: u64,
        header: ReportHeader,
        body: proto::ReportBody,
    ) {
        let Some(Some(session)) = self.sessions.get_mut(slot) else {
            return;
        };
        if session.id != session_id || !session.is_active() {
            return;
        }
        let msg = ServerMsg::Report(Report { header, body });
        session.send_live(&msg);
        self.dirty.push(slot);
        self.check_outbound(slot);
    }

    fn broadcast(&mut self, header: ReportHeader, body: proto::ReportBody) {
        for slot in 0..self.sessions.len() {
            let Some(Some(session)) = self.sessions.get_mut(slot) else {
                continue;
            };
            if !session.is_active() {
                continue;
            }
            let msg = ServerMsg::Report(Report { header, body });
            session.send_live(&msg);
            self.dirty.push(slot);
            self.check_outbound(slot);
        }
    }

    fn on_answer(&mut self, answer: Answer) {
        let Some(origin) = self.recall(answer.tag) else {
            return;
        };
        let Some(Some(session)) = self.sessions.get_mut(origin.slot) else {
            return;
        };
        if session.id != origin.session_id {
            return;
        }
        self.dirty.push(origin.slot);
        let header = AnswerHeader {
            request_id: origin.request_id,
            shard: answer.shard,
            last: true,
        };
        match (origin.what, answer.reply) {
            (What::KeyLookup, Reply::ApiKey(key)) => {
                if let Phase::Challenged { key: slot_key, .. } = &mut session.phase {
                    *slot_key = Some(key.filter(|k| k.tier != Tier::House));
                }
                self.try_complete_login(origin.slot, Instant::now());
            }
            (What::Read, Reply::Account(view)) => {
                let balance = view.map(|v| BalanceEntry {
                    balance_minor: v.balance_minor,
                    exposure_minor: v.exposure_minor,
                    open_orders: v.open_orders,
                    max_open_orders: v.max_open_orders,
                    kill_switch: v.kill_switch,
                    tier: v.tier,
                });
                session.send(&ServerMsg::Balance { header, balance });
            }
            (What::Read, Reply::OpenOrders(orders)) => {
                let orders: Vec<OpenOrderEntry> = orders
                    .unwrap_or_default()
                    .into_iter()
                    .map(|o| OpenOrderEntry {
                        order_id: o.order_id,
                        client_order_id: o.client_order_id,
                        remaining_minor: o.remaining_minor,
                        market: o.market,
                        selection: o.selection,
                        odds_x100: o.odds_x100,
                        side: o.side,
                    })
                    .collect();
                send_chunked(session, header, &orders, |header, orders| {
                    ServerMsg::OpenOrders { header, orders }
                });
            }
            (What::Read, Reply::Positions(positions)) => {
                let positions: Vec<PositionEntry> = positions
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| PositionEntry {
                        market: p.market,
                        open_orders: p.open_orders,
                        exposure_minor: p.exposure_minor,
                    })
                    .collect();
                send_chunked(session, header, &positions, |header, positions| {
                    ServerMsg::Positions { header, positions }
                });
            }
            _ => {}
        }
        self.check_outbound(origin.slot);
    }

    // ---------------------------------------------------------------- timers and ending

    fn scan_timers(&mut self, now: Instant) {
        let login_timeout = Duration::from_millis(self.config.login_timeout_ms);
        let misses = self.config.heartbeat_misses.max(1);
        for slot in 0..self.sessions.len() {
            let Some(Some(session)) = self.sessions.get_mut(slot) else {
                continue;
            };
            match session.phase {
                Phase::Connected | Phase::Challenged { .. } => {
                    if now.duration_since(session.connected_at) >= login_timeout {
                        self.end(slot, EndReason::LoginTimeout, "no login in time");
                    }
                }
                Phase::Active => {
                    let quiet = now.duration_since(session.last_received);
                    if quiet >= session.heartbeat * misses {
                        self.end(slot, EndReason::HeartbeatTimeout, "no heartbeat");
                        continue;
                    }
                    if let Some(timeout) = session.dead_man
                        && quiet >= timeout
                    {
                        session.dead_man = None;
                        session.send(&ServerMsg::DeadManStatus {
                            timeout_ms: timeout.as_millis() as u32,
                            fired: true,
                        });
                        self.stats.dead_man_fired.fetch_add(1, Ordering::Relaxed);
                        let account = session.account;
                        tracing::info!(account = account.0, "dead man's switch fired");
                        self.dirty.push(slot);
                        self.cancel_everything(account);
                    }
                    let Some(Some(session)) = self.sessions.get_mut(slot) else {
                        continue;
                    };
                    if session.pending_out() == 0
                        && now.duration_since(session.last_sent) >= session.heartbeat
                    {
                        session.send(&ServerMsg::Heartbeat {
                            ts_ns: wall_clock_ns(),
                        });
                        self.dirty.push(slot);
                    }
                }
                Phase::Ending => {
                    // Give a client that does not read a bounded time to receive the reason.
                    if now.duration_since(session.last_sent) >= Duration::from_secs(1) {
                        self.close(slot);
                    }
                }
            }
        }
    }

    /// Cancels all orders of an account on every shard.
    fn cancel_everything(&mut self, account: AccountId) {
        for shard in 0..self.shards.len() as u16 {
            self.pending_cancels.push((account, shard));
        }
        self.retry_cancels();
    }

    fn retry_cancels(&mut self) {
        let pending = std::mem::take(&mut self.pending_cancels);
        for (account, shard) in pending {
            let tag = self.remember(usize::MAX, 0, 0, What::Cancel);
            let command = Command::MassCancel {
                account,
                market: None,
            };
            match self.shards[usize::from(shard)]
                .submitter
                .submit(tag, command)
            {
                Ok(()) => {}
                Err(SubmitError::Busy) => {
                    self.inflight -= 1;
                    self.pending_cancels.push((account, shard));
                }
                Err(SubmitError::Stopped) => {
                    self.inflight -= 1;
                    tracing::error!(
                        account = account.0,
                        shard,
                        "cannot cancel: the shard stopped"
                    );
                }
            }
        }
    }

    /// Ends a session with a reason: the reason is queued, the socket closes once it is sent
    /// (or after a grace period).
    fn end(&mut self, slot: usize, reason: EndReason, detail: &str) {
        let Some(Some(session)) = self.sessions.get_mut(slot) else {
            return;
        };
        if session.end.is_some() {
            return;
        }
        tracing::debug!(session = session.id, ?reason, detail, "ending session");
        if let Some(replay) = session.replay.take() {
            session.send_bytes(&replay.journal);
            session.send_bytes(&replay.held);
        }
        send_end(session, reason, detail);
        session.end = Some(reason);
        let was_active = session.is_active();
        session.phase = Phase::Ending;
        if was_active {
            self.leave_account(slot);
        }
        self.dirty.push(slot);
    }

    /// Takes a logged-in session off its account, cancelling orders if it asked for that.
    fn leave_account(&mut self, slot: usize) {
        let Some(Some(session)) = self.sessions.get_mut(slot) else {
            return;
        };
        let account = session.account;
        let cancel = session.cancel_on_disconnect;
        self.stats.sessions.fetch_sub(1, Ordering::Relaxed);
        if let Some(state) = self.accounts.get_mut(&account) {
            state.sessions.retain(|s| *s != slot);
        }
        if cancel {
            self.cancel_everything(account);
        }
    }

    /// Closes the socket and frees the slot.
    fn close(&mut self, slot: usize) {
        let Some(mut session) = self.sessions.get_mut(slot).and_then(Option::take) else {
            return;
        };
        if session.is_active() {
            // Put it back briefly so that leaving the account can read it.
            self.sessions[slot] = Some(session);
            self.leave_account(slot);
            session = self.sessions[slot].take().expect("just put back");
        }
        let _ = self.poll.registry().deregister(&mut session.stream);
        self.open_sessions -= 1;
        self.free_slots.push(slot);
    }

    /// Cuts off a session whose unsent output passed the limit. Nothing more is queued for it;
    /// what is queued, the reason last, is still offered to the socket for a grace period.
    fn check_outbound(&mut self, slot: usize) {
        let Some(Some(session)) = self.sessions.get_mut(slot) else {
            return;
        };
        let held = session
            .replay
            .as_ref()
            .map_or(0, |r| r.held.len() + r.journal.len());
        if session.end.is_none() && session.pending_out() + held > self.config.max_outbound_bytes {
            self.stats.slow_consumers.fetch_add(1, Ordering::Relaxed);
            tracing::info!(session = session.id, "slow consumer cut off");
            self.end(
                slot,
                EndReason::SlowConsumer,
                "outbound buffer limit reached",
            );
        }
    }

    fn flush_dirty(&mut self, now: Instant) {
        while let Some(slot) = self.dirty.pop() {
            let Some(Some(session)) = self.sessions.get_mut(slot) else {
                continue;
            };
            if !session.blocked {
                session.flush(now);
            }
            if session.has_written_ack() {
                let now_ns = clock_ns();
                while let Some(ack) = session.pop_written_ack() {
                    self.meter.ack.record_since(ack.published_ns, now_ns);
                    self.meter.round_trip.record_since(ack.received_ns, now_ns);
                }
            }
            if session.dead || (session.end.is_some() && session.pending_out() == 0) {
                self.close(slot);
            }
        }
    }

    fn shutdown(&mut self, events: &mut Events) -> GatewayReport {
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        // Cancel-on-disconnect holds for a server shutdown too.
        for slot in 0..self.sessions.len() {
            let cancel = match &self.sessions[slot] {
                Some(session) => session.is_active() && session.cancel_on_disconnect,
                None => false,
            };
            if cancel && let Some(Some(session)) = self.sessions.get(slot) {
                let account = session.account;
                self.cancel_everything(account);
            }
        }
        // Deliver the answers to everything already sent to a shard.
        let deadline = Instant::now() + DRAIN_DEADLINE;
        while (self.inflight > 0 || !self.pending_cancels.is_empty()) && Instant::now() < deadline {
            self.drain_shards();
            self.drain_replays();
            self.retry_cancels();
            let _ = self.poll.poll(events, Some(Duration::from_millis(1)));
            self.flush_dirty(Instant::now());
        }
        let mut closed = 0;
        for slot in 0..self.sessions.len() {
            if self.sessions[slot].is_some() {
                closed += 1;
                self.end(slot, EndReason::Shutdown, "the server is shutting down");
            }
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let now = Instant::now();
            self.dirty.extend(0..self.sessions.len());
            self.flush_dirty(now);
            if self.sessions.iter().all(Option::is_none) || now >= deadline {
                break;
            }
            let _ = self.poll.poll(events, Some(Duration::from_millis(5)));
        }
        for slot in 0..self.sessions.len() {
            self.close(slot);
        }
        GatewayReport {
            sessions_closed: closed,
            unanswered: self.inflight,
        }
    }
}

/// How a request reaches the shards.
enum Routed {
    One(u16, Command),
    Every(fn(AccountId) -> Command),
    Read(Query),
}

/// How often session timers are checked, and the longest sleep.
const SCAN_INTERVAL: Duration = Duration::from_millis(10);
/// Bytes read from one connection before its frames are processed.
const READ_LIMIT: usize = 256 * 1024;
/// Reads of up to `READ_LIMIT` one connection gets per turn.
const READ_ROUNDS: usize = 4;

fn new_account(live: &[u64], shards: usize) -> AccountState {
    AccountState {
        sessions: Vec::new(),
        throttle: None,
        recent: (0..shards)
            .map(|shard| Recent::new((live[shard], u32::MAX)))
            .collect(),
    }
}

fn send_end(session: &mut Session, reason: EndReason, detail: &str) {
    session.send(&ServerMsg::EndOfSession {
        reason,
        detail: detail.to_owned(),
    });
}

fn send_chunked<T: Copy>(
    session: &mut Session,
    header: AnswerHeader,
    entries: &[T],
    make: impl Fn(AnswerHeader, Vec<T>) -> ServerMsg,
) {
    let chunk = proto::ANSWER_CHUNK;
    if entries.is_empty() {
        session.send(&make(header, Vec::new()));
        return;
    }
    let chunks = entries.len().div_ceil(chunk);
    for (index, part) in entries.chunks(chunk).enumerate() {
        let header = AnswerHeader {
            last: index + 1 == chunks,
            ..header
        };
        session.send(&make(header, part.to_vec()));
    }
}

/// The request id of a frame that failed to decode, when its type puts one first.
fn request_id_of(kind: u16, body: &[u8]) -> u64 {
    let is_request =
        (proto::client_kind::NEW_ORDER..=proto::client_kind::GET_BALANCE).contains(&kind);
    match body.first_chunk::<8>() {
        Some(bytes) if is_request => u64::from_le_bytes(*bytes),
        _ => 0,
    }
}

fn wall_clock_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
