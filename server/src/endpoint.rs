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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::cid::{CidGenerator, CID_LEN};
use crate::echo::{ConnAction, EchoConn, Faults, Verdict, ERR_UNI_STREAM_REFUSED};
use crate::reset::ResetKey;
use crate::token::{TokenError, TokenKey};
use crate::SPARE_CIDS;

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
    /// Off except in test builds (see [`Faults`]).
    pub faults: Faults,
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

#[derive(Default)]
struct Pending {
    data: Vec<u8>,
    off: usize,
    fin: bool,
}

struct Conn {
    q: quiche::Connection,
    app: EchoConn,
    peer: SocketAddr,
    started: Instant,
    /// When its last datagram arrived.
    heard: Instant,
    /// For the `no_key_update` fault: the TLS secrets quiche logs, the
    /// client's 1-RTT header protection once known, and the first key
    /// phase seen.
    secrets: Option<Arc<Mutex<Vec<u8>>>>,
    one_rtt: Option<quic_wire::OneRttHeader>,
    key_phase: Option<bool>,
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

/// The idle timeout of the `lan_idle` fault, whatever the PTO.
const LAN_IDLE: std::time::Duration = std::time::Duration::from_millis(500);

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
        if self.opts.faults.never_answer || (self.opts.faults.v4_only && from.is_ipv6()) {
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
        let (key, fresh) = match self.ids.get(&hdr.dcid) {
            Some(&k) => (k, false),
            None if hdr.ty == quiche::Type::Short => {
                self.reset_unknown(&hdr.dcid, buf.len(), from);
                return;
            }
            None if self.opts.faults.aes_only && !offers_aes(buf) => {
                log::debug!("{from}: fault aes-only: no AES-GCM suite offered; refused");
                let close = quic_wire::initial_close(buf, 0x128, "no shared cipher suite");
                if let Some(close) = close {
                    self.stateless.push_back((close, from));
                }
                return;
            }
            None => match self.new_connection(&hdr, (from, buf.len()), now) {
                Admit::Conn(k, fresh) => (k, fresh),
                Admit::Drop => return,
                Admit::BadToken => {
                    // RFC 9000 §8.1.3: tell the client at once, statelessly.
                    let close = quic_wire::invalid_token_close(buf)
                        .filter(|_| !self.opts.faults.silent_reject);
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
        if self.opts.faults.pin_peer && from != conn.peer {
            log::debug!("{from}: fault pin-peer: not the connection's first address; dropped");
            return;
        }
        conn.heard = now;
        if self.opts.faults.no_key_update && conn.changed_key_phase(buf) {
            log::debug!("{from}: fault no-key-update: a packet of a new key phase dropped");
            return;
        }
        if let Some((received, _)) = &mut conn.unvalidated {
            *received += buf.len();
        }
        match conn.q.recv(buf, quiche::RecvInfo { from, to: local }) {
            Ok(_) => {}
            Err(quiche::Error::Done) => {}
            Err(e) => log::debug!("{from}: {} recv failed: {e}", conn.q.trace_id()),
        }
        if self.opts.faults.exit_on_streamless_close
            && conn.q.is_established()
            && !conn.saw_stream
            && conn.q.readable().next().is_none()
            && conn.q.peer_error().is_some()
        {
            log::error!(
                "fault exit-on-streamless-close: the client left without a stream; exiting"
            );
            std::process::exit(1);
        }
        if self.opts.faults.silent_reject
            && !conn.q.is_established()
            && conn.q.local_error().is_some()
        {
            log::debug!("{from}: fault silent-reject: dropping without a close");
            self.forget(key);
            return;
        }
        let over = fresh && self.conns.len() - self.draining > self.opts.max_connections;
        if over && self.opts.faults.silent_when_full {
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
        serve(conn, scratch, self.opts.faults);
        self.connection_ids(key);
        self.mark_dirty(key);
    }

    /// Decides what to do with a packet for an unknown connection ID:
    /// version negotiation, Retry, refusal, or a new connection.
    fn new_connection(
        &mut self,
        hdr: &quiche::Header<'_>,
        (from, len): (SocketAddr, usize),
        now: Instant,
    ) -> Admit {
        // A version we do not speak, in a datagram large enough to start a
        // connection (RFC 9000 §5.2.2, §6.1). Checked before the packet
        // type: quiche reads the type bits as version 1's, and they mean
        // nothing in another version (RFC 8999 §5.1; version 2's Initial
        // has version 1's 0-RTT bits, RFC 9369 §3.2).
        let long = !matches!(
            hdr.ty,
            quiche::Type::Short | quiche::Type::VersionNegotiation
        );
        let unknown = long && !quiche::version_is_supported(hdr.version);
        if unknown && len >= quic_wire::MIN_INITIAL_DATAGRAM {
            if self.opts.faults.no_version_negotiation {
                self.counters.dropped += 1;
                return Admit::Drop;
            }
            let mut out = vec![0; MAX_DATAGRAM];
            if let Ok(n) = quiche::negotiate_version(&hdr.scid, &hdr.dcid, &mut out) {
                out.truncate(n);
                self.stateless.push_back((out, from));
                self.counters.version_negotiations += 1;
            }
            return Admit::Drop;
        }
        if unknown || hdr.ty != quiche::Type::Initial {
            self.counters.dropped += 1;
            return Admit::Drop;
        }
        let token = hdr.token.as_deref().unwrap_or_default();
        let (scid, odcid) = if self.opts.retry {
            if token.is_empty() {
                self.send_retry(hdr, from);
                return Admit::Drop;
            }
            let checked = if self.opts.faults.lax_tokens {
                crate::token::unchecked_odcid(token).ok_or(TokenError::Malformed)
            } else {
                self.tokens.validate(&from, token, SystemTime::now())
            };
            let odcid = match checked {
                Ok(odcid) => quiche::ConnectionId::from_vec(odcid.to_vec()),
                Err(e) => {
                    log::info!("peer={from} outcome=rejected reason=\"{e}\"");
                    self.counters.bad_tokens += 1;
                    return Admit::BadToken;
                }
            };
            // The token must come back on the ID our Retry gave the client.
            if hdr.dcid != self.cids.derive(&odcid) {
                log::info!(
                    "peer={from} outcome=rejected reason=\"token for another connection ID\""
                );
                self.counters.bad_tokens += 1;
                return Admit::BadToken;
            }
            (hdr.dcid.clone().into_owned(), Some(odcid))
        } else {
            let scid = self.cids.derive(&hdr.dcid);
            // A repeated first Initial, still on the client's chosen ID.
            if let Some(&k) = self.ids.get(&scid) {
                return Admit::Conn(k, false);
            }
            (scid, None)
        };

        if self.opts.faults.serial && self.conns.len() > self.draining {
            self.counters.dropped += 1;
            return Admit::Drop;
        }
        if self.opts.faults.no_resumption {
            let mut key = [0u8; 48];
            if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).is_ok() {
                let _ = self.config.set_ticket_key(&key);
            }
        }
        self.config
            .set_stateless_reset_token(Some(self.resets.token(&scid)));
        let mut q = match quiche::accept(&scid, odcid.as_ref(), self.local, from, &mut self.config)
        {
            Ok(q) => q,
            Err(e) => {
                log::debug!("{from}: accept failed: {e}");
                self.counters.dropped += 1;
                return Admit::Drop;
            }
        };

        if let Some(keylog) = &self.opts.keylog {
            if let Ok(f) = keylog.try_clone() {
                q.set_keylog(Box::new(f));
            }
        }
        let secrets = self.opts.faults.no_key_update.then(|| {
            let log = Arc::new(Mutex::new(Vec::new()));
            q.set_keylog(Box::new(SecretLog(Arc::clone(&log))));
            log
        });
        if let Some(dir) = &self.opts.qlog_dir {
            let path = dir.join(format!("{}.sqlog", q.trace_id()));
            match File::create(&path) {
                Ok(f) => q.set_qlog(
                    Box::new(std::io::BufWriter::new(f)),
                    "quic-echo-server".into(),
                    format!("connection from {from}"),
                ),
                Err(e) => log::warn!("cannot write qlog {}: {e}", path.display()),
            }
        }

        if self.opts.faults.exit_after == Some(self.counters.accepted) {
            log::error!(
                "fault exit-after: {} connections served; exiting",
                self.counters.accepted
            );
            std::process::exit(1);
        }
        let key = self.next_key;
        self.next_key += 1;
        let mut ids = vec![scid.clone()];
        if !self.opts.retry {
            ids.push(hdr.dcid.clone().into_owned());
        }
        for id in &ids {
            self.ids.insert(id.clone(), key);
        }
        self.conns.insert(
            key,
            Conn {
                q,
                app: EchoConn::with_faults(
                    self.opts.max_input,
                    self.opts.keep_alive,
                    self.opts.faults,
                ),
                peer: from,
                started: now,
                heard: now,
                secrets,
                one_rtt: None,
                key_phase: None,
                ids,
                pending: HashMap::new(),
                timer: None,
                dirty: false,
                draining: false,
                bytes_in: 0,
                bytes_out: 0,
                saw_stream: false,
                spare_issued: false,
                unvalidated: (!self.opts.retry).then_some((0, 0)),
            },
        );
        self.counters.accepted += 1;
        Admit::Conn(key, true)
    }

    /// Answers a short-header packet for a connection we do not know (one
    /// we forgot, or one of a process before a restart) with a stateless
    /// reset, so its client stops at once (RFC 9000 §10.3).
    fn reset_unknown(&mut self, dcid: &[u8], len: usize, from: SocketAddr) {
        let reset = (!self.opts.faults.no_stateless_reset)
            .then(|| {
                self.resets
                    .reset(dcid, len, &ring::rand::SystemRandom::new())
            })
            .flatten();
        match reset {
            Some(r) => {
                log::debug!("{from}: packet for an unknown connection ID; stateless reset");
                self.stateless.push_back((r, from));
                self.counters.stateless_resets += 1;
            }
            None => self.counters.dropped += 1,
        }
    }

    fn send_retry(&mut self, hdr: &quiche::Header<'_>, from: SocketAddr) {
        let token = self.tokens.mint(&from, &hdr.dcid, SystemTime::now());
        let new_scid = self.cids.derive(&hdr.dcid);
        let mut out = vec![0; MAX_DATAGRAM];
        match quiche::retry(
            &hdr.scid,
            &hdr.dcid,
            &new_scid,
            &token,
            hdr.version,
            &mut out,
        ) {
            Ok(n) => {
                out.truncate(n);
                if self.opts.faults.amplify {
                    for _ in 0..39 {
                        self.stateless.push_back((out.clone(), from));
                    }
                }
                self.stateless.push_back((out, from));
                self.counters.retries_sent += 1;
            }
            Err(e) => log::debug!("{from}: cannot build Retry: {e}"),
        }
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
                    if self.opts.faults.amplify {
                        // No budget, and every datagram four times: well
                        // over 3x whatever the size of the first flight.
                        for _ in 0..3 {
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
        if let Some(end) = fault_end(conn, self.opts.faults) {
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
        log_close(&conn);
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
            let faults = self.opts.faults;
            if self
                .conns
                .get(&key)
                .and_then(|c| fault_end(c, faults))
                .is_some_and(|end| now >= end)
            {
                log::debug!("fault lan-idle or idle-ignores-activity: forgotten silently");
                self.forget(key);
                continue;
            }
            if let Some(conn) = self.conns.get_mut(&key) {
                conn.timer = None;
                conn.q.on_timeout();
                serve(conn, &mut self.scratch, self.opts.faults);
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

/// When a fault's own idle timer ends `conn` (`lan_idle`, `fixed_lifetime`).
fn fault_end(conn: &Conn, faults: Faults) -> Option<Instant> {
    let lan = faults.lan_idle.then(|| conn.heard + LAN_IDLE);
    let fixed = faults.fixed_lifetime.map(|d| conn.started + d);
    lan.into_iter().chain(fixed).min()
}

impl Conn {
    /// For the `no_key_update` fault: whether `datagram` is a 1-RTT packet
    /// of another key phase than the first one seen.
    fn changed_key_phase(&mut self, datagram: &[u8]) -> bool {
        if self.one_rtt.is_none() {
            let log = self.secrets.as_ref().map(|s| s.lock().unwrap().clone());
            self.one_rtt = log.as_deref().and_then(client_1rtt_header);
        }
        let Some(phase) = self
            .one_rtt
            .as_ref()
            .and_then(|h| h.key_phase(datagram, CID_LEN))
        else {
            return false;
        };
        *self.key_phase.get_or_insert(phase) != phase
    }
}

/// The client's 1-RTT header protection, from a key log.
fn client_1rtt_header(log: &[u8]) -> Option<quic_wire::OneRttHeader> {
    let text = String::from_utf8_lossy(log);
    let hex = text
        .lines()
        .find_map(|l| l.strip_prefix("CLIENT_TRAFFIC_SECRET_0 "))?
        .split(' ')
        .nth(1)?;
    let secret: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    quic_wire::OneRttHeader::new(&secret?)
}

/// For the `aes_only` fault: whether the client Initial in `datagram`
/// offers TLS_AES_128_GCM_SHA256 or TLS_AES_256_GCM_SHA384 (anything that
/// is not a readable client Initial passes).
fn offers_aes(datagram: &[u8]) -> bool {
    quic_wire::offered_cipher_suites(datagram)
        .is_none_or(|s| s.contains(&0x1301) || s.contains(&0x1302))
}

/// A key log kept in memory.
struct SecretLog(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SecretLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the echo application over whatever quiche has for it.
fn serve(conn: &mut Conn, scratch: &mut [u8], faults: Faults) {
    if !(conn.q.is_established() || conn.q.is_in_early_data()) || conn.q.is_closed() {
        return;
    }
    if faults.early_data_lost && !conn.q.is_established() {
        for stream in conn.q.readable() {
            while let Ok((n, _)) = conn.q.stream_recv(stream, scratch) {
                log::debug!("fault early-data-lost: {n} bytes of 0-RTT dropped");
            }
        }
        return;
    }
    for stream in conn.q.readable() {
        conn.saw_stream = true;
        if stream & 0x2 != 0 {
            // Client-initiated unidirectional stream: nothing to echo on.
            let _ = conn
                .q
                .stream_shutdown(stream, quiche::Shutdown::Read, ERR_UNI_STREAM_REFUSED);
            continue;
        }
        loop {
            let want = conn.app.room(stream) + 1;
            match conn.q.stream_recv(stream, &mut scratch[..want]) {
                Ok((n, fin)) => {
                    conn.bytes_in += n;
                    match conn.app.on_data(stream, &scratch[..n], fin) {
                        Verdict::Pending | Verdict::Ignored => {}
                        Verdict::Echo { data, fin } => {
                            let p = conn.pending.entry(stream).or_default();
                            p.data.extend_from_slice(&data);
                            p.fin = fin;
                        }
                        Verdict::Refuse { .. } if faults.exit_on_oversize => {
                            log::error!("fault exit-on-oversize: exiting");
                            std::process::exit(1);
                        }
                        Verdict::Refuse { code, reason } => {
                            log::debug!("{} stream {stream}: {reason}", conn.q.trace_id());
                            let _ = conn.q.stream_shutdown(stream, quiche::Shutdown::Read, code);
                            let _ = conn
                                .q
                                .stream_shutdown(stream, quiche::Shutdown::Write, code);
                            break;
                        }
                    }
                    if fin {
                        break;
                    }
                }
                Err(quiche::Error::StreamReset(code)) => {
                    log::debug!(
                        "{} stream {stream} reset by peer ({code:#x})",
                        conn.q.trace_id()
                    );
                    conn.app.on_stream_gone(stream);
                    break;
                }
                Err(_) => break,
            }
        }
    }
    // Hand over echo bytes as flow control allows.
    conn.pending.retain(
        |&stream, p| match conn.q.stream_send(stream, &p.data[p.off..], p.fin) {
            Ok(n) => {
                p.off += n;
                conn.bytes_out += n;
                if p.off < p.data.len() && faults.short_write {
                    log::debug!("fault short-write: {} bytes dropped", p.data.len() - p.off);
                    p.data.truncate(p.off); // FIN goes next, after what was written
                    return true;
                }
                if p.off < p.data.len() && faults.blocking_write {
                    log::debug!("fault blocking-write: the event loop waits 2 s");
                    std::thread::sleep(std::time::Duration::from_secs(2));
                }
                p.off < p.data.len()
            }
            // Done also means quiche has already collected the stream: the
            // peer stopped it (STOP_SENDING) and sent everything, so there
            // is nothing left to wait for.
            Err(quiche::Error::Done) => !matches!(
                conn.q.stream_capacity(stream),
                Err(quiche::Error::InvalidStreamState(_)) | Err(quiche::Error::StreamStopped(_))
            ),
            Err(_) => false,
        },
    );
    // An echo is done once quiche has collected its stream (all acked), or
    // the peer stopped it.
    let done: Vec<u64> = conn
        .app
        .unacked()
        .iter()
        .copied()
        .filter(|&s| !conn.pending.contains_key(&s))
        .filter(|&s| {
            matches!(
                conn.q.stream_capacity(s),
                Err(quiche::Error::InvalidStreamState(_)) | Err(quiche::Error::StreamStopped(_))
            )
        })
        .collect();
    for s in done {
        conn.app.on_echo_acked(s);
    }
    if let ConnAction::Close { code, reason } = conn.app.action() {
        if conn.q.local_error().is_none() {
            let _ = conn.q.close(true, code, reason.as_bytes());
        }
    }
}

fn describe(e: &quiche::ConnectionError) -> String {
    format!(
        "{}:{:#x} reason=\"{}\"",
        if e.is_app { "app" } else { "transport" },
        e.error_code,
        String::from_utf8_lossy(&e.reason).escape_debug()
    )
}

fn log_close(conn: &Conn) {
    let alpn = String::from_utf8_lossy(conn.q.application_proto()).into_owned();
    let outcome = if let Some(e) = conn.q.local_error() {
        format!("closed-by-server error={}", describe(e))
    } else if let Some(e) = conn.q.peer_error() {
        format!("closed-by-client error={}", describe(e))
    } else if conn.q.is_timed_out() {
        "idle-timeout".to_string()
    } else {
        "closed".to_string()
    };
    log::info!(
        "peer={} alpn={} in={}B out={}B outcome={} duration={:?}",
        conn.peer,
        if alpn.is_empty() { "-" } else { &alpn },
        conn.bytes_in,
        conn.bytes_out,
        outcome,
        conn.started.elapsed()
    );
}
