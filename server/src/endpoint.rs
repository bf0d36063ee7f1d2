//! Connection management: quiche connections, IDs, Retry tokens and timers.
//!
//! The endpoint is sans-IO: it takes datagrams and the time, and hands back
//! datagrams to send and the next instant it wants to be woken. The event
//! loop (see `event_loop.rs`) owns the socket. Per datagram the cost is a
//! hash lookup by connection ID; only connections that received something or
//! whose timer expired are visited.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cid::{CidGenerator, CID_LEN};
use crate::echo::EchoConn;
use crate::hooks::{Correct, Hooks};
use crate::reset::ResetKey;
use crate::token::TokenKey;
use crate::SPARE_CIDS;

mod admit;
mod close_log;
mod serve;

use serve::{serve, Pending};

/// Transport error code sent when `--max-connections` is reached.
pub const CONNECTION_REFUSED: u64 = 0x2;

/// Largest UDP payload the endpoint writes.
pub const MAX_DATAGRAM: usize = 1350;

/// Everything an endpoint needs besides the quiche configuration.
pub struct Options {
    pub max_input: usize,
    pub keep_alive: bool,
    pub retry: bool,
    pub max_connections: usize,
    pub token_lifetime: Duration,
    pub qlog_dir: Option<PathBuf>,
    pub keylog: Option<File>,
    /// The decisions a test build may change; [`Correct`] in the
    /// reference server.
    pub hooks: Box<dyn Hooks>,
}

impl Default for Options {
    /// The reference server's defaults (as its flags' defaults).
    fn default() -> Options {
        Options {
            max_input: 8192,
            keep_alive: false,
            retry: true,
            max_connections: 10_000,
            token_lifetime: Duration::from_secs(10),
            qlog_dir: None,
            keylog: None,
            hooks: Box::new(Correct),
        }
    }
}

/// Counters for what the endpoint turned away, for logs and tests.
/// What to do with a datagram for an unknown connection ID.
enum Admit {
    /// Hand it to this connection (`true`: just created).
    Conn(u64, bool),
    /// Nothing more to do (answered statelessly, or dropped).
    Drop,
    /// An Initial whose Retry token was turned down.
    BadToken,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub accepted: u64,
    pub closed: u64,
    pub retries_sent: u64,
    pub version_negotiations: u64,
    /// Stateless resets sent for packets of unknown connections.
    pub stateless_resets: u64,
    pub bad_tokens: u64,
    /// Initials with a bad token answered with INVALID_TOKEN.
    pub invalid_token_closes: u64,
    pub refused_full: u64,
    /// Datagrams held back by the anti-amplification limit.
    pub amplification_limited: u64,
    pub dropped: u64,
}

struct Conn {
    q: quiche::Connection,
    app: EchoConn,
    peer: SocketAddr,
    started: Instant,
    /// When its last datagram arrived.
    heard: Instant,
    ids: Vec<quiche::ConnectionId<'static>>,
    /// Echo bytes not yet accepted by quiche, per stream.
    pending: HashMap<u64, Pending>,
    timer: Option<Instant>,
    dirty: bool,
    /// Counted in `Endpoint::draining` (closed, waiting out its timer).
    draining: bool,
    bytes_in: usize,
    bytes_out: usize,
    /// The client opened at least one stream.
    saw_stream: bool,
    /// Spare connection IDs were issued.
    spare_issued: bool,
    /// Until the client's address is validated (by a Retry token, or by
    /// completing the handshake), what it sent and what we sent it: we
    /// never send more than [`AMPLIFICATION_LIMIT`] times what arrived.
    /// quiche keeps such a budget too, but does not count the padding it
    /// adds to datagrams that carry Initial packets.
    unvalidated: Option<(usize, usize)>,
}

/// RFC 9000 §8.1: before validation, at most three times the bytes received.
const AMPLIFICATION_LIMIT: usize = 3;

/// The server side of every connection on one socket.
pub struct Endpoint {
    config: quiche::Config,
    opts: Options,
    local: SocketAddr,
    cids: CidGenerator,
    tokens: TokenKey,
    resets: ResetKey,
    conns: HashMap<u64, Conn>,
    /// How many of `conns` are draining; they do not count against
    /// `--max-connections`.
    draining: usize,
    next_key: u64,
    ids: HashMap<quiche::ConnectionId<'static>, u64>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    dirty: VecDeque<u64>,
    stateless: VecDeque<(Vec<u8>, SocketAddr)>,
    scratch: Vec<u8>,
    counters: Counters,
}

impl Endpoint {
    pub fn new(config: quiche::Config, opts: Options, local: SocketAddr) -> Self {
        let rng = ring::rand::SystemRandom::new();
        Endpoint {
            cids: CidGenerator::new(&rng),
            tokens: TokenKey::new(&rng, opts.token_lifetime),
            resets: ResetKey::random(&rng),
            scratch: vec![0; opts.max_input + 1],
            config,
            opts,
            local,
            conns: HashMap::new(),
            draining: 0,
            next_key: 0,
            ids: HashMap::new(),
            timers: BinaryHeap::new(),
            dirty: VecDeque::new(),
            stateless: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    /// Derives stateless reset tokens with `key` (by default a key of this
    /// process only, which a restart loses).
    pub fn with_reset_key(mut self, key: ResetKey) -> Self {
        self.resets = key;
        self
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Connections that have not yet sent or received a CONNECTION_CLOSE:
    /// the rest only wait out their draining period (RFC 9000 §10.2).
    pub fn open_count(&self) -> usize {
        self.conns.len() - self.draining
    }

    /// Handles one received datagram.
    pub fn recv(&mut self, buf: &mut [u8], from: SocketAddr, now: Instant) {
        if !self.opts.hooks.read(from) {
            return;
        }
        let hdr = match quiche::Header::from_slice(buf, CID_LEN) {
            Ok(h) => h,
            Err(e) => {
                log::debug!("{from}: unparsable packet header: {e}");
                self.counters.dropped += 1;
                return;
            }
        };
        let (key, fresh) = match self.ids.get(&hdr.dcid).copied() {
            Some(k) => (k, false),
            None if hdr.ty == quiche::Type::Short => {
                self.reset_unknown(&hdr.dcid, buf.len(), from);
                return;
            }
            None if self.turned_away(buf, from) => return,
            None => match self.new_connection(&hdr, (from, buf.len()), now) {
                Admit::Conn(k, fresh) => (k, fresh),
                Admit::Drop => return,
                Admit::BadToken => {
                    // RFC 9000 §8.1.3: tell the client at once, statelessly.
                    let close = quic_wire::invalid_token_close(buf)
                        .filter(|_| self.opts.hooks.close_refused());
                    if let Some(close) = close {
                        self.stateless.push_back((close, from));
                        self.counters.invalid_token_closes += 1;
                    }
                    return;
                }
            },
        };
        let local = self.local;
        let conn = self
            .conns
            .get_mut(&key)
            .expect("id table points at a live connection");
        if !self.opts.hooks.deliver(key, conn.peer, from, buf) {
            return;
        }
        conn.heard = now;
        if let Some((received, _)) = &mut conn.unvalidated {
            *received += buf.len();
        }
        match conn.q.recv(buf, quiche::RecvInfo { from, to: local }) {
            Ok(_) => {}
            Err(quiche::Error::Done) => {}
            Err(e) => log::debug!("{from}: {} recv failed: {e}", conn.q.trace_id()),
        }
        self.opts.hooks.after_read(&conn.q, conn.saw_stream);
        if !conn.q.is_established()
            && conn.q.local_error().is_some()
            && !self.opts.hooks.close_refused()
        {
            self.forget(key);
            return;
        }
        let over = fresh && self.conns.len() - self.draining > self.opts.max_connections;
        if over && !self.opts.hooks.close_when_full() {
            self.forget(key);
            self.counters.dropped += 1;
            return;
        }
        if over {
            // The close can only be addressed once quiche has read the
            // client's first packet, so refusal comes after recv.
            self.refuse_full(key, from);
            return;
        }
        let conn = self.conns.get_mut(&key).expect("present");
        let scratch = &mut self.scratch;
        serve(conn, scratch, &mut *self.opts.hooks);
        self.connection_ids(key);
        self.mark_dirty(key);
    }

    /// Whether the hooks answer a packet for an unknown connection ID
    /// statelessly instead of the endpoint.
    fn turned_away(&mut self, buf: &[u8], from: SocketAddr) -> bool {
        let Some(close) = self.opts.hooks.turn_away(buf) else {
            return false;
        };
        self.stateless.push_back((close, from));
        true
    }

    /// Answers a client beyond `--max-connections` with CONNECTION_REFUSED
    /// and keeps no state for it.
    fn refuse_full(&mut self, key: u64, from: SocketAddr) {
        let mut conn = self.conns.remove(&key).expect("just inserted");
        for id in &conn.ids {
            self.ids.remove(id);
        }
        let _ = conn
            .q
            .close(false, CONNECTION_REFUSED, b"server is at --max-connections");
        let mut out = vec![0; MAX_DATAGRAM];
        while let Ok((n, info)) = conn.q.send(&mut out) {
            self.stateless.push_back((out[..n].to_vec(), info.to));
        }
        self.counters.accepted -= 1;
        self.counters.refused_full += 1;
        log::info!("peer={from} outcome=refused error=transport:0x2 reason=\"max connections\"");
    }

    /// Once established, a connection gets spare connection IDs (so its
    /// client can migrate); the IDs it retired are forgotten.
    fn connection_ids(&mut self, key: u64) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        while let Some(old) = conn.q.retired_scid_next() {
            self.ids.remove(&old);
            conn.ids.retain(|id| *id != old);
        }
        if !conn.q.is_established() || conn.spare_issued {
            return;
        }
        conn.spare_issued = true;
        let rng = ring::rand::SystemRandom::new();
        for _ in 0..SPARE_CIDS.min(conn.q.scids_left()) {
            let mut id = [0u8; CID_LEN];
            if ring::rand::SecureRandom::fill(&rng, &mut id).is_err() {
                return;
            }
            let token = self.resets.token(&id);
            let id = quiche::ConnectionId::from_vec(id.to_vec());
            if conn.q.new_scid(&id, token, false).is_ok() {
                self.ids.insert(id.clone(), key);
                conn.ids.push(id);
            }
        }
    }

    fn mark_dirty(&mut self, key: u64) {
        if let Some(c) = self.conns.get_mut(&key) {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push_back(key);
            }
        }
    }

    /// The next datagram to send, written into `buf`: its length and
    /// destination. `None` once everything pending has been sent.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        if let Some((pkt, to)) = self.stateless.pop_front() {
            let n = pkt.len().min(buf.len());
            buf[..n].copy_from_slice(&pkt[..n]);
            return Some((n, to));
        }
        while let Some(&key) = self.dirty.front() {
            let Some(conn) = self.conns.get_mut(&key) else {
                self.dirty.pop_front();
                continue;
            };
            match conn.q.send(buf) {
                Ok((n, info)) => {
                    if conn.q.is_established() {
                        conn.unvalidated = None;
                    }
                    let Some((received, sent)) = &mut conn.unvalidated else {
                        return Some((n, info.to));
                    };
                    if let Some(copies) = self.opts.hooks.unbudgeted_copies() {
                        for _ in 1..copies {
                            self.stateless.push_back((buf[..n].to_vec(), info.to));
                        }
                        return Some((n, info.to));
                    }
                    if *sent + n <= AMPLIFICATION_LIMIT * *received {
                        *sent += n;
                        return Some((n, info.to));
                    }
                    // Over budget: dropped here, it looks lost to quiche,
                    // which retransmits once the client proves its address.
                    self.counters.amplification_limited += 1;
                    continue;
                }
                Err(quiche::Error::Done) => {}
                Err(e) => {
                    log::debug!("{} send failed: {e}", conn.q.trace_id());
                    let _ = conn.q.close(false, 0x1, b"internal error");
                }
            }
            conn.dirty = false;
            self.dirty.pop_front();
            self.settle(key);
        }
        None
    }

    /// After a connection has sent all it can: re-arm its timer, or reap it.
    fn settle(&mut self, key: u64) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        if conn.q.is_closed() {
            self.forget(key);
            return;
        }
        if conn.q.is_draining() && !conn.draining {
            conn.draining = true;
            self.draining += 1;
        }
        let mut t = conn.q.timeout_instant();
        if let Some(end) = self.opts.hooks.forget_at(conn.started, conn.heard) {
            t = Some(t.map_or(end, |t| t.min(end)));
        }
        if t != conn.timer {
            conn.timer = t;
            if let Some(t) = t {
                self.timers.push(Reverse((t, key)));
            }
        }
    }

    /// Removes a connection and its IDs; its timer entries go stale.
    fn forget(&mut self, key: u64) {
        let Some(conn) = self.conns.remove(&key) else {
            return;
        };
        if conn.draining {
            self.draining -= 1;
        }
        for id in &conn.ids {
            self.ids.remove(id);
        }
        self.counters.closed += 1;
        self.opts.hooks.forgotten(key);
        close_log::log_close(&conn);
    }

    /// When the endpoint next needs [`Endpoint::on_timeout`].
    pub fn next_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((t, key))) = self.timers.peek() {
            if self.conns.get(&key).is_some_and(|c| c.timer == Some(t)) {
                return Some(t);
            }
            self.timers.pop(); // stale entry
        }
        None
    }

    /// Fires every connection timer that is due at `now`.
    pub fn on_timeout(&mut self, now: Instant) {
        while let Some(t) = self.next_timeout() {
            if t > now {
                break;
            }
            let Reverse((_, key)) = self.timers.pop().expect("peeked");
            let hooks = &self.opts.hooks;
            if self
                .conns
                .get(&key)
                .and_then(|c| hooks.forget_at(c.started, c.heard))
                .is_some_and(|end| now >= end)
            {
                log::debug!("forgotten silently at its hooks' time");
                self.forget(key);
                continue;
            }
            if let Some(conn) = self.conns.get_mut(&key) {
                conn.timer = None;
                conn.q.on_timeout();
                serve(conn, &mut self.scratch, &mut *self.opts.hooks);
            }
            self.mark_dirty(key);
        }
    }

    /// Closes every connection (application NO_ERROR), for shutdown.
    pub fn close_all(&mut self) {
        let keys: Vec<u64> = self.conns.keys().copied().collect();
        for key in keys {
            if let Some(c) = self.conns.get_mut(&key) {
                let _ = c.q.close(true, 0x0, b"server shutting down");
            }
            self.mark_dirty(key);
        }
    }
}

#[cfg(test)]
mod tests;
