//! The blocking driver: one UDP socket, one quiche client connection.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ring::rand::SecureRandom;

use crate::{
    Abort, AbortHow, Chunk, ClientConfig, Close, Fin, Handshake, Leave, Observation, Plan, Reads,
    StreamObservation, Trust,
};

pub(crate) const MAX_DATAGRAM: usize = 1350;

/// A failure of the client itself (not of the server under test).
#[derive(Debug)]
pub enum ClientError {
    Config(String),
    Io(std::io::Error),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Config(e) => write!(f, "client configuration: {e}"),
            ClientError::Io(e) => write!(f, "client socket: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Io(e)
    }
}

pub(crate) fn quiche_config(cfg: &ClientConfig) -> Result<quiche::Config, ClientError> {
    let bad = |e: quiche::Error| ClientError::Config(e.to_string());
    let mut c = quiche::Config::new(quiche::PROTOCOL_VERSION).map_err(bad)?;
    let protos: Vec<&[u8]> = cfg.alpn.iter().map(|a| a.as_bytes()).collect();
    c.set_application_protos(&protos)
        .map_err(|e| ClientError::Config(format!("ALPN list {:?} rejected: {e}", cfg.alpn)))?;
    // quiche loads the system's roots into every configuration.
    c.verify_peer(cfg.trust.verifies());
    if let Trust::CaFile(ca) = &cfg.trust {
        c.load_verify_locations_from_file(&ca.to_string_lossy())
            .map_err(|e| ClientError::Config(format!("{}: {e}", ca.display())))?;
    }
    // Secrets go only to connections given a key log writer.
    c.log_keys();
    c.set_max_idle_timeout(cfg.idle_timeout.as_millis() as u64);
    c.set_max_recv_udp_payload_size(MAX_DATAGRAM);
    c.set_max_send_udp_payload_size(MAX_DATAGRAM);
    match cfg.windows {
        Some(w) => {
            c.set_initial_max_data(w.connection);
            c.set_max_connection_window(w.connection);
            c.set_initial_max_stream_data_bidi_local(w.stream);
            c.set_max_stream_window(w.stream);
        }
        None => {
            c.set_initial_max_data(16 * 1024 * 1024);
            c.set_initial_max_stream_data_bidi_local(4 * 1024 * 1024);
        }
    }
    c.set_initial_max_stream_data_bidi_remote(4 * 1024 * 1024);
    c.set_initial_max_stream_data_uni(1024 * 1024);
    c.set_initial_max_streams_bidi(100);
    c.set_initial_max_streams_uni(100);
    c.set_disable_active_migration(true);
    Ok(c)
}

/// The quiche configuration for `cfg`, built once per process and shared
/// by every connection made with the same settings. Building one loads the
/// system's CA bundle as well as the CA file (quiche always adds the default
/// verify paths): about 8 ms of CPU, which a case of 1,000 clients would
/// otherwise pay 1,000 times.
fn shared_config(cfg: &ClientConfig) -> Result<Arc<Mutex<quiche::Config>>, ClientError> {
    type Key = (Vec<String>, Trust, Duration, Option<crate::Windows>);
    static CONFIGS: OnceLock<Mutex<HashMap<Key, Arc<Mutex<quiche::Config>>>>> = OnceLock::new();
    let key = (
        cfg.alpn.clone(),
        cfg.trust.clone(),
        cfg.idle_timeout,
        cfg.windows,
    );
    let mut configs = CONFIGS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(c) = configs.get(&key) {
        return Ok(c.clone());
    }
    let c = Arc::new(Mutex::new(quiche_config(cfg)?));
    configs.insert(key, c.clone());
    Ok(c)
}

/// Per-stream progress through its plan.
struct StreamRun<'p> {
    chunks: &'p [Chunk],
    fin: Fin,
    abort: Option<Abort>,
    abort_at: Option<Instant>,
    aborted: bool,
    next_chunk: usize,
    offset: usize,
    next_at: Instant,
    obs: StreamObservation,
}

impl StreamRun<'_> {
    fn done(&self) -> bool {
        self.aborted
            || self.obs.fin_received
            || self.obs.reset.is_some()
            || self.obs.stop_sending.is_some()
            || (self.fin == Fin::Never && self.next_chunk == self.chunks.len())
            || (self.obs.id & 0x2 != 0 && self.obs.fin_sent)
    }

    /// Writes what is due, then aborts if planned and due; returns when
    /// it next wants to run.
    fn step(
        &mut self,
        conn: &mut quiche::Connection,
        now: Instant,
        fin_held: bool,
    ) -> Option<Instant> {
        let wake = self.write(conn, now, fin_held);
        let Some(abort) = self.abort else {
            return wake;
        };
        let written =
            self.next_chunk == self.chunks.len() && (self.obs.fin_sent || self.fin == Fin::Never);
        if self.aborted || !written {
            return wake;
        }
        let at = *self.abort_at.get_or_insert(now + abort.after);
        if now < at {
            return Some(wake.map_or(at, |w| w.min(at)));
        }
        let (how, code) = match abort.how {
            AbortHow::Reset(c) => (quiche::Shutdown::Write, c),
            AbortHow::StopSending(c) => (quiche::Shutdown::Read, c),
        };
        let _ = conn.stream_shutdown(self.obs.id, how, code);
        self.aborted = true;
        None
    }

    /// Writes what is due; returns when it next wants to run.
    /// A FIN waits while `fin_held` (the plan's [`crate::FinGate`] is shut).
    fn write(
        &mut self,
        conn: &mut quiche::Connection,
        now: Instant,
        fin_held: bool,
    ) -> Option<Instant> {
        while now >= self.next_at && !self.obs.fin_sent {
            let id = self.obs.id;
            if self.next_chunk < self.chunks.len() {
                let chunk = &self.chunks[self.next_chunk];
                let last = self.next_chunk + 1 == self.chunks.len();
                let fin = last && self.fin == Fin::WithLastChunk && !fin_held;
                let rest = &chunk.data[self.offset..];
                match conn.stream_send(id, rest, fin) {
                    Ok(n) => {
                        self.offset += n;
                        self.obs.sent += n;
                    }
                    Err(quiche::Error::Done) => return None, // flow control: wait
                    Err(quiche::Error::StreamStopped(c)) => {
                        self.obs.stop_sending = Some(c);
                        return None;
                    }
                    Err(_) => return None,
                }
                if self.offset < chunk.data.len() {
                    return None;
                }
                if fin {
                    self.mark_fin(now);
                }
                self.offset = 0;
                self.next_chunk += 1;
                self.next_at = now + chunk.pause_after;
            } else {
                let at = match self.fin {
                    Fin::Never => return None,
                    Fin::WithLastChunk => self.next_at,
                    // Counts from the end of the last chunk's pause.
                    Fin::After(d) => self.next_at + d,
                };
                if now < at {
                    return Some(at);
                }
                if fin_held {
                    return Some(now + crate::GATE_CHECK);
                }
                match conn.stream_send(id, b"", true) {
                    Ok(_) => self.mark_fin(now),
                    Err(quiche::Error::StreamStopped(c)) => {
                        self.obs.stop_sending = Some(c);
                        return None;
                    }
                    Err(_) => return None,
                }
            }
        }
        let more = self.next_chunk < self.chunks.len() || self.fin != Fin::Never;
        (!self.obs.fin_sent && more).then_some(self.next_at)
    }

    fn mark_fin(&mut self, now: Instant) {
        self.obs.fin_sent = true;
        self.obs.fin_sent_at = Some(now);
        self.obs.received_before_fin = self.obs.received.len();
    }
}

fn close_of(e: &quiche::ConnectionError) -> Close {
    Close {
        app: e.is_app,
        code: e.error_code,
        reason: String::from_utf8_lossy(&e.reason).into_owned(),
    }
}

/// [`crate::run`] on quiche, for a client that offers ALPN.
pub fn run(
    server: SocketAddr,
    cfg: &ClientConfig,
    plan: &Plan,
) -> Result<Observation, ClientError> {
    let start = Instant::now();
    let deadline = start + plan.deadline;
    // A hold counts from the handshake's completion: a slow handshake (a
    // busy server) must not eat the time the stream is meant to be held.
    let mut stop_at: Option<Instant> = None;
    let config = shared_config(cfg)?;
    let socket = UdpSocket::bind(crate::any_port_for(server))?;
    // Connected, so an ICMP port unreachable comes back as ECONNREFUSED:
    // nothing listens there, and waiting would only run out the clock.
    socket.connect(server)?;
    let local = socket.local_addr()?;
    let mut scid = [0u8; quiche::MAX_CONN_ID_LEN];
    ring::rand::SystemRandom::new()
        .fill(&mut scid)
        .map_err(|_| ClientError::Config("system RNG failed".into()))?;
    let scid = quiche::ConnectionId::from_ref(&scid);
    let mut conn = {
        let mut config = config.lock().unwrap_or_else(|p| p.into_inner());
        quiche::connect(
            crate::sni(&cfg.server_name),
            &scid,
            local,
            server,
            &mut config,
        )
    }
    .map_err(|e| ClientError::Config(format!("connect: {e}")))?;
    // quiche keeps a session as bytes, after the server's ticket.
    let tickets = plan
        .sessions
        .as_ref()
        .and_then(|s| s.store("quiche", || Mutex::new(None::<Vec<u8>>)));
    if plan.resume {
        let saved = tickets.as_ref().and_then(|t| t.lock().unwrap().clone());
        if let Some(session) = saved {
            let _ = conn.set_session(&session);
        }
    }
    let rec = plan.recorder.as_ref().map(|r| r.0.as_ref());
    if let Some(r) = rec {
        if let Some(w) = r.keylog() {
            conn.set_keylog(w);
        }
        if let Some(w) = r.qlog() {
            conn.set_qlog(w, "echo client".into(), format!("to {server}"));
        }
    }
    // Every datagram in, seen by the recorder first.
    let feed_to = |conn: &mut quiche::Connection, data: &mut [u8], from: SocketAddr, to| {
        if let Some(r) = rec {
            r.datagram(from, to, data);
        }
        let _ = conn.recv(data, quiche::RecvInfo { from, to });
    };
    let feed = |conn: &mut quiche::Connection, data: &mut [u8], from: SocketAddr| {
        feed_to(conn, data, from, local)
    };
    let mut mover = crate::migrate::Mover::new(plan.migrate);

    let mut streams: Vec<StreamRun<'_>> = Vec::new();
    let (mut next_bidi, mut next_uni) = (0u64, 2u64);
    for s in &plan.streams {
        let id = if s.uni { &mut next_uni } else { &mut next_bidi };
        streams.push(StreamRun {
            chunks: &s.chunks,
            fin: s.fin,
            abort: s.abort,
            abort_at: None,
            aborted: false,
            next_chunk: 0,
            offset: 0,
            next_at: start,
            obs: StreamObservation {
                id: *id,
                ..Default::default()
            },
        });
        *id += 4;
    }

    // Counted as arrived once established, or when this run ends however
    // it ends, so no other connection waits on this one for ever.
    let mut gate = crate::GateTicket::new(plan.fin_gate.clone());
    let mut next_keepalive = start + crate::GATE_KEEPALIVE;
    let mut out = [0u8; MAX_DATAGRAM];
    let mut buf = [0u8; 65536];
    let mut handshake = Handshake::NotCompleted;
    let mut cert_rejected = false;
    let mut established_at = None;
    let mut linger_until: Option<Instant> = None;
    let (mut deadline_hit, mut unreachable, mut abandoned) = (false, false, false);
    let mut next_read = start;
    let mut checkpoint = plan.checkpoint.clone();

    loop {
        let now = Instant::now();
        if now >= deadline {
            deadline_hit = true;
            break;
        }
        if stop_at.is_some_and(|t| now >= t) {
            break;
        }

        // Our own writes.
        let mut wake = deadline;
        if conn.is_established() && handshake == Handshake::NotCompleted && !cert_rejected {
            // BoringSSL checks host names only; an IP address is ours to check.
            if let Some(why) = crate::verify::wrong_ip(&conn, cfg) {
                log::debug!("closing: {why}");
                let _ = conn.close(false, crate::verify::BAD_CERTIFICATE, why.as_bytes());
                cert_rejected = true;
            }
        }
        if conn.is_established() && !cert_rejected {
            if handshake == Handshake::NotCompleted {
                handshake = Handshake::Completed {
                    alpn: String::from_utf8_lossy(conn.application_proto()).into_owned(),
                    after: now - start,
                };
                established_at = Some(now);
                stop_at = plan.stop_after.map(|d| now + d);
                for s in &mut streams {
                    s.next_at = now;
                }
                if let Some(tx) = &plan.notify_established {
                    let _ = tx.send(());
                }
                gate.arrive();
            }
            let fin_held = !gate.is_open();
            // Read after the gate, so a FIN it let through is timed after
            // the handshake that opened it.
            let now = Instant::now();
            // Held at the gate, the connection is kept alive: the others
            // may take longer to open than the server's idle timeout. A
            // plan may ask for PINGs all along.
            let ping_every = plan
                .keep_alive
                .or(fin_held.then_some(crate::GATE_KEEPALIVE));
            if let Some(every) = ping_every {
                if now >= next_keepalive {
                    let _ = conn.send_ack_eliciting();
                    next_keepalive = now + every;
                }
                wake = wake.min(next_keepalive);
            }
            for s in &mut streams {
                if let Some(t) = s.step(&mut conn, now, fin_held) {
                    wake = wake.min(t);
                }
            }
        }
        let written = streams.first().map_or(0, |s| s.obs.sent);
        let echoed = streams.iter().any(|s| !s.obs.received.is_empty());
        mover.step(&mut conn, server, written, echoed);
        if let Err(e) = flush(&mut conn, &socket, &mover, &mut out, rec) {
            if e.kind() == std::io::ErrorKind::ConnectionRefused {
                unreachable = true;
                break;
            }
            return Err(e.into());
        }
        if let Some((when, cp)) =
            checkpoint.take_if(|(when, _)| conn.is_established() && when.came(written, echoed))
        {
            // What was written is out; nothing is sent until released.
            log::debug!("at the checkpoint ({when:?})");
            if !cp.arrive(deadline.saturating_duration_since(Instant::now())) {
                log::debug!("not released from the checkpoint before the deadline");
            }
        }

        if conn.is_closed() || conn.peer_error().is_some() {
            break;
        }
        // With no streams planned, a completed handshake is all there is.
        // A stream that never sends FIN is done once written, unless the
        // plan holds the connection open (`stop_after`): then it is held.
        let holding = plan.stop_after.is_some()
            && streams
                .iter()
                .any(|s| s.fin == Fin::Never && !s.obs.fin_received && s.obs.reset.is_none());
        if handshake != Handshake::NotCompleted && !holding && streams.iter().all(StreamRun::done) {
            let until = *linger_until.get_or_insert(now + plan.linger);
            if now >= until {
                break;
            }
            wake = wake.min(until);
        }
        if let Some(t) = conn.timeout_instant() {
            wake = wake.min(t);
        }
        if let Some(t) = stop_at {
            wake = wake.min(t);
        }
        if let Reads::Every(_) = plan.reads {
            // Unread bytes hold the server back: nothing may arrive to wake us.
            wake = wake.min(next_read);
        }

        let mut wait = wake.saturating_duration_since(Instant::now());
        if plan.cancel.is_some() {
            wait = wait.min(crate::CANCEL_CHECK);
        }
        if mover.probing() {
            // The second socket is read between waits on the first.
            wait = wait.min(Duration::from_millis(2));
        }
        socket.set_read_timeout(Some(wait.max(Duration::from_micros(100))))?;
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                feed(&mut conn, &mut buf[..n], from);
                // Drain whatever else is queued without sleeping.
                socket.set_nonblocking(true)?;
                while let Ok((n, from)) = socket.recv_from(&mut buf) {
                    feed(&mut conn, &mut buf[..n], from);
                }
                socket.set_nonblocking(false)?;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                unreachable = true;
                break;
            }
            Err(e) => return Err(e.into()),
        }
        mover.drain(&mut buf, |data, from, to| {
            feed_to(&mut conn, data, from, to)
        });
        mover.on_events(&mut conn, server);
        // The flag is read before a last look at the socket: whatever the
        // server sent before it went away is already queued, and counts.
        let cancelled = crate::cancelled(plan);
        if cancelled {
            socket.set_nonblocking(true)?;
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                feed(&mut conn, &mut buf[..n], from);
            }
        }
        if conn.timeout_instant().is_some_and(|t| t <= Instant::now()) {
            conn.on_timeout();
        }

        // What the server sent us (when the plan reads it).
        let now = Instant::now();
        let read_now = match plan.reads {
            Reads::AtOnce => true,
            Reads::Never => false,
            Reads::Every(every) => {
                // The server may close once its echo is acknowledged, read
                // or not: what is buffered is read before we leave.
                let ending = conn.is_closed() || conn.peer_error().is_some();
                let due = now >= next_read || ending;
                if due {
                    next_read = now + every;
                }
                due
            }
        };
        for s in streams.iter_mut().filter(|_| read_now) {
            let id = s.obs.id;
            loop {
                match conn.stream_recv(id, &mut buf) {
                    Ok((n, fin)) => {
                        s.obs.received.extend_from_slice(&buf[..n]);
                        if fin {
                            s.obs.fin_received = true;
                            s.obs.fin_received_at = Some(now);
                            s.obs.echo_time = s.obs.fin_sent_at.map(|t| now - t);
                            break;
                        }
                    }
                    Err(quiche::Error::StreamReset(c)) => {
                        s.obs.reset = Some(c);
                        break;
                    }
                    Err(_) => break,
                }
            }
            if s.obs.stop_sending.is_none() {
                if let Err(quiche::Error::StreamStopped(c)) = conn.stream_capacity(id) {
                    s.obs.stop_sending = Some(c);
                }
            }
        }
        if cancelled {
            abandoned = true;
            break;
        }
    }

    // quiche closes a connection on a stateless reset without an error of
    // either side; every other way to close sets one, or times out.
    let stateless_reset = conn.is_closed()
        && conn.peer_error().is_none()
        && conn.local_error().is_none()
        && !conn.is_timed_out();
    let reset_token_given = conn
        .peer_transport_params()
        .filter(|_| handshake != Handshake::NotCompleted)
        .map(|p| p.stateless_reset_token.is_some());
    let gone = unreachable || abandoned;
    // Our own goodbye is not an error worth reporting. Before the handshake
    // completes quiche sends it as a transport APPLICATION_ERROR (0xc)
    // without the reason (RFC 9000 §10.2.3), so it is known by having sent it.
    let said_goodbye = plan.leave == Leave::Close
        && !gone
        && !conn.is_closed()
        && conn.peer_error().is_none()
        && conn.local_error().is_none();
    if said_goodbye {
        let _ = conn.close(true, 0, b"client done");
        let _ = flush(&mut conn, &socket, &mover, &mut out, rec);
    }

    if let (Some(t), Some(session)) = (&tickets, conn.session()) {
        *t.lock().unwrap() = Some(session.to_vec());
    }
    let resumed = (handshake != Handshake::NotCompleted).then(|| conn.is_resumed());
    Ok(Observation {
        resumed,
        early_data_accepted: None,
        migration: mover.finish(),
        stateless_reset,
        reset_token_given,
        version_negotiation: None,
        handshake,
        started_at: Some(start),
        established_at,
        streams: streams
            .into_iter()
            .map(|mut s| {
                // Without a FIN from us, everything arrived "before FIN".
                if !s.obs.fin_sent {
                    s.obs.received_before_fin = s.obs.received.len();
                }
                s.obs
            })
            .collect(),
        peer_close: conn.peer_error().map(close_of),
        local_close: conn.local_error().filter(|_| !said_goodbye).map(close_of),
        idle_timed_out: conn.is_timed_out(),
        deadline_hit,
        unreachable,
        abandoned,
        elapsed: start.elapsed(),
    })
}

/// Sends everything quiche has queued, each datagram from the socket of
/// its path (the connected one, or a migration's second socket).
fn flush(
    conn: &mut quiche::Connection,
    socket: &UdpSocket,
    mover: &crate::migrate::Mover,
    out: &mut [u8],
    rec: Option<&dyn crate::Record>,
) -> std::io::Result<()> {
    while let Ok((n, info)) = conn.send(out) {
        if let Some(r) = rec {
            r.datagram(info.from, info.to, &out[..n]);
        }
        match mover.socket_for(info.from) {
            // A lost datagram on the new path is QUIC's to recover.
            Some(second) => drop(second.send(&out[..n])),
            None => {
                socket.send(&out[..n])?;
            }
        }
    }
    Ok(())
}
