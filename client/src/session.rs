//! The blocking driver: one UDP socket, one quiche client connection,
//! carrying out a [`Plan`]. When it is done is [`crate::progress`]'s rule,
//! shared with the quinn client.

mod config;
mod stream;

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ring::rand::SecureRandom;

use crate::migrate::Mover;
use crate::progress::{self, Next, Progress, StreamStatus};
use crate::{
    Checkpoint, ClientConfig, Close, GateTicket, Handshake, Leave, Moment, Observation, Plan, Reads,
};
pub(crate) use config::quiche_config;
use config::with_config;
use stream::{read_stream, streams, StreamRun};

pub(crate) const MAX_DATAGRAM: usize = 1350;

/// A failure of the client itself (not of the server under test).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("client configuration: {0}")]
    Config(String),
    #[error("client socket: {0}")]
    Io(#[from] std::io::Error),
    /// The client's QUIC stack misbehaved (not the server's doing).
    #[error("client stack: {0}")]
    Stack(String),
}

/// Datagrams a connection may send with none from the server in between
/// before its QUIC stack is taken to be looping (as quiche's goodbye did,
/// see [`GOODBYE_DATAGRAMS`]), so no loop can spin for ever or grow the
/// harness without bound. Without answers a sender gets no further than its
/// congestion window, which flow control bounds (16 MiB: about 12,400
/// datagrams), and its probes, which back off.
const SENT_WITHOUT_ANSWER: u64 = 20_000;

/// Datagrams the goodbye may take. quiche 0.30 puts an application close
/// only in 1-RTT packets: while its Handshake space still has a probe due
/// (our Finished was lost), it answers every send with an ACK-only
/// Handshake packet and never the close. Seen in concurrency/200-stalled
/// against aioquic: a client whose hold ended 10 ms before its goodbye sent
/// 37,000 of them in 5 s. A goodbye needs a few datagrams; more is that
/// loop.
const GOODBYE_DATAGRAMS: u64 = 8;

fn close_of(e: &quiche::ConnectionError) -> Close {
    Close {
        app: e.is_app,
        code: e.error_code,
        reason: String::from_utf8_lossy(&e.reason).into_owned(),
    }
}

/// quiche keeps a resumable session as bytes, after the server's ticket.
type Tickets = Arc<Mutex<Option<Vec<u8>>>>;

/// One connection carrying out its plan: the socket, quiche's connection,
/// the streams and where the plan stands.
struct Session<'p> {
    server: SocketAddr,
    cfg: &'p ClientConfig,
    plan: &'p Plan,
    start: Instant,
    progress: Progress,
    socket: UdpSocket,
    local: SocketAddr,
    conn: quiche::Connection,
    tickets: Option<Tickets>,
    rec: Option<&'p dyn crate::Record>,
    mover: Mover,
    streams: Vec<StreamRun<'p>>,
    /// Counted as arrived once established, or when this run ends however
    /// it ends, so no other connection waits on this one for ever.
    gate: GateTicket,
    next_keepalive: Instant,
    handshake: Handshake,
    cert_rejected: bool,
    established_at: Option<Instant>,
    deadline_hit: bool,
    unreachable: bool,
    abandoned: bool,
    next_read: Instant,
    checkpoint: Option<(Moment, Checkpoint)>,
    out: Vec<u8>,
    buf: Vec<u8>,
    /// Datagrams sent since the last one arrived.
    sent_since_heard: u64,
}

/// After one turn of the loop: go on, or the connection is over.
enum Turn {
    Again,
    Over,
}

/// [`crate::run`] on quiche, for a client that offers ALPN.
pub fn run(
    server: SocketAddr,
    cfg: &ClientConfig,
    plan: &Plan,
) -> Result<Observation, ClientError> {
    let mut s = Session::open(server, cfg, plan)?;
    while let Turn::Again = s.turn()? {}
    s.finish()
}

/// Every datagram in, seen by the recorder first; quiche is not handed a
/// reset it would wrongly honour ([`crate::reset`]).
fn feed(
    conn: &mut quiche::Connection,
    rec: Option<&dyn crate::Record>,
    data: &mut [u8],
    (from, to): (SocketAddr, SocketAddr),
    migrates: bool,
) {
    if let Some(r) = rec {
        r.datagram(from, to, data);
    }
    if crate::reset::retired_token(conn, data, migrates) {
        log::info!(
            "ignored a {}-byte stateless reset with the token of a retired connection ID \
             (RFC 9000 §10.3.1)",
            data.len()
        );
        return;
    }
    let _ = conn.recv(data, quiche::RecvInfo { from, to });
}

impl<'p> Session<'p> {
    /// The socket (connected, so an ICMP port unreachable comes back as
    /// ECONNREFUSED: nothing listens there, and waiting would only run out
    /// the clock), quiche's connection with the saved session, key log and
    /// qlog, and the plan's streams.
    fn open(
        server: SocketAddr,
        cfg: &'p ClientConfig,
        plan: &'p Plan,
    ) -> Result<Session<'p>, ClientError> {
        let socket = UdpSocket::bind(crate::any_port_for(server))?;
        socket.connect(server)?;
        let local = socket.local_addr()?;
        let mut scid = [0u8; quiche::MAX_CONN_ID_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut scid)
            .map_err(|_| ClientError::Config("system RNG failed".into()))?;
        let scid = quiche::ConnectionId::from_ref(&scid);
        let sni = crate::sni(&cfg.server_name);
        let mut conn = with_config(cfg, |c| quiche::connect(sni, &scid, local, server, c))?
            .map_err(|e| ClientError::Config(format!("connect: {e}")))?;
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
        if let Some(g) = &plan.start_gate {
            g.ready(crate::START_WAIT);
        }
        // Timed from here, just before the first datagram: what came before
        // is the harness's own setup, not the server's doing.
        let start = Instant::now();
        Ok(Session {
            server,
            cfg,
            plan,
            start,
            progress: Progress::new(plan, start),
            socket,
            local,
            conn,
            tickets,
            rec,
            mover: Mover::new(plan.migrate),
            streams: streams(plan, start),
            gate: GateTicket::new(plan.fin_gate.clone()),
            next_keepalive: start + crate::GATE_KEEPALIVE,
            handshake: Handshake::NotCompleted,
            cert_rejected: false,
            established_at: None,
            deadline_hit: false,
            unreachable: false,
            abandoned: false,
            next_read: start,
            checkpoint: plan.checkpoint.clone(),
            out: vec![0; MAX_DATAGRAM],
            buf: vec![0; 65536],
            sent_since_heard: 0,
        })
    }

    /// One turn: what is due is written and sent, the plan's end is looked
    /// at, then the socket is waited on until the next thing is due, and
    /// what arrived is read.
    fn turn(&mut self) -> Result<Turn, ClientError> {
        let now = Instant::now();
        if let Next::Leave(why) = self.progress.poll(now, None) {
            self.deadline_hit = why == progress::Leave::Deadline;
            return Ok(Turn::Over);
        }
        let mut wake = self.write(now);
        let written = self.streams.first().map_or(0, |s| s.obs.sent);
        let echoed = self.streams.iter().any(|s| !s.obs.received.is_empty());
        self.mover
            .step(&mut self.conn, self.server, written, echoed);
        match self.flush() {
            Err(ClientError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                self.unreachable = true;
                return Ok(Turn::Over);
            }
            r => r?,
        }
        self.at_checkpoint(written, echoed);
        if self.conn.is_closed() || self.conn.peer_error().is_some() {
            return Ok(Turn::Over);
        }
        if self.handshake != Handshake::NotCompleted {
            let status: Vec<StreamStatus> = self.streams.iter().map(StreamRun::status).collect();
            match self.progress.poll(now, Some(&status)) {
                Next::Leave(why) => {
                    self.deadline_hit = why == progress::Leave::Deadline;
                    return Ok(Turn::Over);
                }
                Next::Wait(t) => wake = wake.min(t),
            }
        }
        if let Some(t) = self.conn.timeout_instant() {
            wake = wake.min(t);
        }
        if let Reads::Every(_) = self.plan.reads {
            // Unread bytes hold the server back: nothing may arrive to wake us.
            wake = wake.min(self.next_read);
        }
        let cancelled = match self.wait(wake) {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                self.unreachable = true;
                return Ok(Turn::Over);
            }
            Err(e) => return Err(e.into()),
        };
        self.read_streams();
        if cancelled {
            self.abandoned = true;
            return Ok(Turn::Over);
        }
        Ok(Turn::Again)
    }

    /// Our own writes, once the handshake is done: the handshake's moment
    /// (once), the keep-alive PINGs, and each stream's due chunks; when to
    /// look again (at the latest the deadline).
    fn write(&mut self, now: Instant) -> Instant {
        let mut wake = self.progress.deadline();
        let conn = &mut self.conn;
        if conn.is_established() && self.handshake == Handshake::NotCompleted && !self.cert_rejected
        {
            // BoringSSL checks host names only; an IP address is ours to check.
            if let Some(why) = crate::verify::wrong_ip(conn, self.cfg) {
                log::debug!("closing: {why}");
                let _ = conn.close(false, crate::verify::BAD_CERTIFICATE, why.as_bytes());
                self.cert_rejected = true;
            }
        }
        if !conn.is_established() || self.cert_rejected {
            return wake;
        }
        if self.handshake == Handshake::NotCompleted {
            self.established(now);
        }
        let fin_held = !self.gate.is_open();
        // Read after the gate, so a FIN it let through is timed after the
        // handshake that opened it.
        let now = Instant::now();
        // Held at the gate, the connection is kept alive: the others may
        // take longer to open than the server's idle timeout. A plan may
        // ask for PINGs all along.
        let ping_every = self
            .plan
            .keep_alive
            .or(fin_held.then_some(crate::GATE_KEEPALIVE));
        if let Some(every) = ping_every {
            if now >= self.next_keepalive {
                let _ = self.conn.send_ack_eliciting();
                self.next_keepalive = now + every;
            }
            wake = wake.min(self.next_keepalive);
        }
        for s in &mut self.streams {
            if let Some(t) = s.step(&mut self.conn, now, fin_held) {
                wake = wake.min(t);
            }
        }
        wake
    }

    /// The handshake completed at `now`: recorded, the streams start, the
    /// plan's hold counts from here, and the gate and the caller are told.
    fn established(&mut self, now: Instant) {
        self.handshake = Handshake::Completed {
            alpn: String::from_utf8_lossy(self.conn.application_proto()).into_owned(),
            after: now - self.start,
        };
        self.established_at = Some(now);
        self.progress.established(now);
        for s in &mut self.streams {
            s.next_at = now;
        }
        if let Some(tx) = &self.plan.notify_established {
            let _ = tx.send(());
        }
        self.gate.arrive();
    }

    /// At the plan's checkpoint, what was written is out; nothing is sent
    /// until released (bounded by the deadline).
    fn at_checkpoint(&mut self, written: usize, echoed: bool) {
        let established = self.conn.is_established();
        let came = |(when, _): &mut (Moment, Checkpoint)| established && when.came(written, echoed);
        if let Some((when, cp)) = self.checkpoint.take_if(came) {
            log::debug!("at the checkpoint ({when:?})");
            let left = self
                .progress
                .deadline()
                .saturating_duration_since(Instant::now());
            if !cp.arrive(left) {
                log::debug!("not released from the checkpoint before the deadline");
            }
        }
    }

    /// Waits on the socket until `wake` (or a datagram), reads everything
    /// queued, and fires quiche's timer; whether the harness said the
    /// server is gone (read before a last look at the socket: whatever the
    /// server sent before it went away is already queued, and counts).
    fn wait(&mut self, wake: Instant) -> std::io::Result<bool> {
        let mut wait = wake.saturating_duration_since(Instant::now());
        if self.plan.cancel.is_some() {
            wait = wait.min(crate::CANCEL_CHECK);
        }
        if self.mover.probing() {
            // The second socket is read between waits on the first.
            wait = wait.min(Duration::from_millis(2));
        }
        self.socket
            .set_read_timeout(Some(wait.max(Duration::from_micros(100))))?;
        match self.socket.recv_from(&mut self.buf) {
            Ok((n, from)) => {
                self.heard(n, from);
                self.drain_socket()?;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
        let (conn, rec, heard) = (&mut self.conn, self.rec, &mut self.sent_since_heard);
        self.mover.drain(&mut self.buf, |data, from, to| {
            feed(conn, rec, data, (from, to), true);
            *heard = 0;
        });
        self.mover.on_events(&mut self.conn, self.server);
        let cancelled = crate::cancelled(self.plan);
        if cancelled {
            self.drain_socket()?;
        }
        if self
            .conn
            .timeout_instant()
            .is_some_and(|t| t <= Instant::now())
        {
            self.conn.on_timeout();
        }
        Ok(cancelled)
    }

    /// Whatever else is queued on the socket, without sleeping.
    fn drain_socket(&mut self) -> std::io::Result<()> {
        self.socket.set_nonblocking(true)?;
        while let Ok((n, from)) = self.socket.recv_from(&mut self.buf) {
            self.heard(n, from);
        }
        self.socket.set_nonblocking(false)
    }

    /// The datagram of `n` bytes in the buffer arrived from `from`.
    fn heard(&mut self, n: usize, from: SocketAddr) {
        feed(
            &mut self.conn,
            self.rec,
            &mut self.buf[..n],
            (from, self.local),
            self.mover.planned(),
        );
        self.sent_since_heard = 0;
    }

    /// What the server sent on each stream, when the plan reads it.
    fn read_streams(&mut self) {
        let now = Instant::now();
        let read_now = match self.plan.reads {
            Reads::AtOnce => true,
            Reads::Never => false,
            Reads::Every(every) => {
                // The server may close once its echo is acknowledged, read
                // or not: what is buffered is read before we leave.
                let ending = self.conn.is_closed() || self.conn.peer_error().is_some();
                let due = now >= self.next_read || ending;
                if due {
                    self.next_read = now + every;
                }
                due
            }
        };
        for s in self.streams.iter_mut().filter(|_| read_now) {
            read_stream(&mut self.conn, &mut s.obs, &mut self.buf, now);
        }
    }

    /// Sends everything quiche has queued; a stack that sends
    /// [`SENT_WITHOUT_ANSWER`] datagrams with nothing from the server in
    /// between is given up (so it cannot spin for ever, here or in the
    /// goodbye).
    fn flush(&mut self) -> Result<(), ClientError> {
        let left = SENT_WITHOUT_ANSWER.saturating_sub(self.sent_since_heard);
        let sent = flush(
            &mut self.conn,
            &self.socket,
            &self.mover,
            (&mut self.out, left),
            self.rec,
        )?;
        self.sent_since_heard += sent;
        if self.sent_since_heard >= SENT_WITHOUT_ANSWER {
            return Err(ClientError::Stack(format!(
                "quiche sent {SENT_WITHOUT_ANSWER} datagrams with none from the server in \
                 between: the client stack is looping (not the server's doing), so the \
                 connection was given up"
            )));
        }
        Ok(())
    }

    /// The goodbye (when the plan leaves with a close and nothing ended the
    /// connection already), the session saved, and what was observed.
    fn finish(mut self) -> Result<Observation, ClientError> {
        let conn = &self.conn;
        // quiche closes a connection on a stateless reset without an error
        // of either side; every other way to close sets one, or times out.
        let stateless_reset = conn.is_closed()
            && conn.peer_error().is_none()
            && conn.local_error().is_none()
            && !conn.is_timed_out();
        let reset_token_given = conn
            .peer_transport_params()
            .filter(|_| self.handshake != Handshake::NotCompleted)
            .map(|p| p.stateless_reset_token.is_some());
        let reset_unseen = (!stateless_reset)
            .then(|| crate::reset::unseen(conn))
            .flatten();
        let gone = self.unreachable || self.abandoned;
        // Our own goodbye is not an error worth reporting. Before the
        // handshake completes quiche sends it as a transport
        // APPLICATION_ERROR (0xc) without the reason (RFC 9000 §10.2.3), so
        // it is known by having sent it.
        let said_goodbye = self.plan.leave == Leave::Close
            && !gone
            && !conn.is_closed()
            && conn.peer_error().is_none()
            && conn.local_error().is_none();
        if said_goodbye {
            let _ = self.conn.close(true, 0, b"client done");
            let _ = flush(
                &mut self.conn,
                &self.socket,
                &self.mover,
                (&mut self.out, GOODBYE_DATAGRAMS),
                self.rec,
            );
        }
        if let (Some(t), Some(session)) = (&self.tickets, self.conn.session()) {
            *t.lock().unwrap() = Some(session.to_vec());
        }
        let conn = &self.conn;
        let resumed = (self.handshake != Handshake::NotCompleted).then(|| conn.is_resumed());
        Ok(Observation {
            resumed,
            early_data_accepted: None,
            migration: self.mover.finish(),
            stateless_reset,
            reset_token_given,
            reset_unseen,
            version_negotiation: None,
            handshake: self.handshake,
            started_at: Some(self.start),
            established_at: self.established_at,
            streams: self
                .streams
                .into_iter()
                .map(StreamRun::into_observation)
                .collect(),
            peer_close: conn.peer_error().map(close_of),
            local_close: conn.local_error().filter(|_| !said_goodbye).map(close_of),
            idle_timed_out: conn.is_timed_out(),
            deadline_hit: self.deadline_hit,
            unreachable: self.unreachable,
            abandoned: self.abandoned,
            elapsed: self.start.elapsed(),
        })
    }
}

/// Sends everything quiche has queued, each datagram from the socket of
/// its path (the connected one, or a migration's second socket).
fn flush(
    conn: &mut quiche::Connection,
    socket: &UdpSocket,
    mover: &crate::migrate::Mover,
    (out, limit): (&mut [u8], u64),
    rec: Option<&dyn crate::Record>,
) -> std::io::Result<u64> {
    let mut sent = 0;
    while sent < limit {
        let Ok((n, info)) = conn.send(out) else {
            break;
        };
        sent += 1;
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
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_that_keeps_sending_with_no_answer_is_given_up() {
        // A socket that takes the datagrams and never answers.
        let quiet = UdpSocket::bind("127.0.0.1:0").unwrap();
        let cfg = ClientConfig {
            alpn: vec!["http/1.0".into()],
            trust: crate::Trust::Nothing,
            ..ClientConfig::default()
        };
        let plan = Plan::default();
        let mut s = Session::open(quiet.local_addr().unwrap(), &cfg, &plan).unwrap();
        let mut fresh = Session::open(quiet.local_addr().unwrap(), &cfg, &plan).unwrap();
        fresh.flush().expect("a first flight is no loop");
        assert!(fresh.sent_since_heard > 0);
        // As if the stack had sent all but one of the limit already: its
        // Initial is one too many.
        s.sent_since_heard = SENT_WITHOUT_ANSWER - 1;
        match s.flush() {
            Err(ClientError::Stack(why)) => assert!(why.contains("looping"), "{why}"),
            other => panic!("not given up: {other:?}"),
        }
    }
}
