//! The bench's load generator on quinn-proto, driven directly (no tokio):
//! many client connections on one UDP socket and one thread. It carries the
//! same [`LoadPlan`] as the quiche one ([`echo_client::run_load`]) and counts
//! with the same rules ([`LoadReport::record`]), at a lower cost per
//! connection, so that the server under test, not the client, is what
//! saturates: one X25519 key share, the same ClientHello again after a Retry
//! (quiche builds a new one, with a new key share), no certificate or
//! signature check ([`crate::tls::load_config`]), no path MTU probes.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use echo_client::{
    drive, open_socket, recv_all, ClientConfig, ClientError, Ending, LoadEngine, LoadPlan,
    LoadReport, PeerClose, Timers,
};
use mio::net::UdpSocket;
use quinn_proto::{self as qp, ConnectionError, ConnectionHandle, DatagramEvent};

use crate::load_streams::{close, step_streams, Conn};

/// Runs `plan` against `server` and reports; errors are the client's own.
/// `at_barrier` is called once every connection is established (or failed)
/// when `plan.barrier` is set, before any stream starts.
pub fn run_load(
    server: SocketAddr,
    cfg: &ClientConfig,
    plan: &LoadPlan,
    at_barrier: &mut dyn FnMut(),
) -> Result<LoadReport, ClientError> {
    let (socket, mut poll) = open_socket(server, plan)?;
    let mut e = Engine::new(plan, cfg, socket, server)?;
    let start = e.start;
    drive(&mut e, &mut poll, plan, start, at_barrier)
}

struct Engine<'a> {
    plan: &'a LoadPlan,
    endpoint: qp::Endpoint,
    config: qp::ClientConfig,
    socket: UdpSocket,
    server: SocketAddr,
    server_name: String,
    /// Running and draining connections: a connection counted in the
    /// report stays until quinn-proto has drained it (its IDs then leave
    /// the endpoint), but no longer holds a slot.
    conns: HashMap<ConnectionHandle, Conn>,
    /// Connections not yet counted.
    live: usize,
    timers: Timers<ConnectionHandle>,
    payload: Vec<u8>,
    report: LoadReport,
    started_total: u64,
    handshaking: usize,
    start: Instant,
    barrier_open: bool,
    out: Vec<u8>,
}

impl LoadEngine for Engine<'_> {
    type Key = ConnectionHandle;

    fn top_up(&mut self) -> Result<(), ClientError> {
        while self.live < self.plan.concurrency
            && self.handshaking < self.plan.max_handshakes.max(1)
            && self.may_start()
        {
            self.connect()?;
        }
        Ok(())
    }

    // The endpoint's own answers (stateless
    // resets to packets of drained connections) are not sent: the load
    // generator adds no traffic of its own to the server's.
    fn read_all(&mut self, buf: &mut [u8]) -> Result<Vec<ConnectionHandle>, ClientError> {
        let mut touched = Vec::new();
        let (endpoint, conns, out) = (&mut self.endpoint, &mut self.conns, &mut self.out);
        recv_all(&self.socket, buf, |pkt, from| {
            out.clear();
            let data = BytesMut::from(&*pkt);
            match endpoint.handle(Instant::now(), from, None, None, data, out) {
                Some(DatagramEvent::ConnectionEvent(ch, ev)) => {
                    if let Some(c) = conns.get_mut(&ch) {
                        c.q.handle_event(ev);
                        touched.push(ch);
                    }
                }
                Some(DatagramEvent::NewConnection(incoming)) => endpoint.ignore(incoming),
                Some(DatagramEvent::Response(_)) | None => {}
            }
        })?;
        Ok(touched)
    }

    fn fire_timers(&mut self, now: Instant) -> Vec<ConnectionHandle> {
        let mut touched = Vec::new();
        let conns = &mut self.conns;
        while let Some(ch) = self
            .timers
            .pop_due(now, |ch| conns.get(ch).and_then(|c| c.timer))
        {
            if let Some(c) = conns.get_mut(&ch) {
                c.timer = None;
                c.q.handle_timeout(now);
                touched.push(ch);
            }
        }
        touched
    }

    fn next_timer(&mut self) -> Option<Instant> {
        let conns = &self.conns;
        self.timers.next(|ch| conns.get(ch).and_then(|c| c.timer))
    }

    fn barrier_due(&self) -> bool {
        !self.barrier_open && !self.may_start() && self.handshaking == 0
    }

    fn live(&self) -> bool {
        self.live > 0
    }

    fn report(&mut self) -> &mut LoadReport {
        &mut self.report
    }

    fn open_barrier(&mut self, at_barrier: &mut dyn FnMut()) -> Result<(), ClientError> {
        self.barrier_open = true;
        at_barrier();
        self.report.established_at_barrier = self
            .conns
            .values()
            .filter(|c| c.established && !c.counted)
            .count() as u64;
        let all: Vec<ConnectionHandle> = self.conns.keys().copied().collect();
        for ch in all {
            self.progress(ch)?;
        }
        Ok(())
    }

    fn give_up(&mut self) {
        let now = Instant::now();
        let all: Vec<ConnectionHandle> = self.conns.keys().copied().collect();
        for ch in all {
            if let Some(c) = self.conns.get_mut(&ch).filter(|c| !c.counted) {
                let why = echo_client::at_deadline(c.established, c.mid_echo());
                c.failure.get_or_insert(why);
                close(c, now, 0, b"bench deadline");
                self.count(ch);
            }
        }
    }

    /// Moves one connection along: its events, streams, packets, then its
    /// timer; counts it once it has ended, forgets it once drained.
    fn progress(&mut self, ch: ConnectionHandle) -> Result<(), ClientError> {
        let Some(c) = self.conns.get_mut(&ch) else {
            return Ok(());
        };
        let now = Instant::now();
        while let Some(ev) = c.q.poll() {
            match ev {
                qp::Event::Connected => {
                    c.established = true;
                    self.handshaking -= 1;
                    self.report.handshakes.push(now.duration_since(c.started));
                }
                qp::Event::ConnectionLost { reason } => {
                    c.lost.get_or_insert(reason);
                }
                _ => {}
            }
        }
        if c.established && self.barrier_open && c.running() {
            step_streams(
                c,
                self.plan,
                &self.payload,
                &mut self.report,
                self.start,
                now,
            );
        }
        self.flush(ch)?;
        let Some(c) = self.conns.get_mut(&ch) else {
            return Ok(());
        };
        if !c.counted && !c.running() {
            self.count(ch);
        }
        let Some(c) = self.conns.get_mut(&ch) else {
            return Ok(());
        };
        let t = c.q.poll_timeout();
        self.timers.update(ch, &mut c.timer, t);
        Ok(())
    }
}

impl<'a> Engine<'a> {
    fn new(
        plan: &'a LoadPlan,
        cfg: &ClientConfig,
        socket: UdpSocket,
        server: SocketAddr,
    ) -> Result<Self, ClientError> {
        let endpoint =
            qp::Endpoint::new(Arc::new(qp::EndpointConfig::default()), None, false, None);
        Ok(Engine {
            plan,
            endpoint,
            config: client_config(cfg)?,
            socket,
            server,
            server_name: cfg.server_name.clone(),
            conns: HashMap::new(),
            live: 0,
            timers: Timers::default(),
            payload: (0..plan.payload).map(echo_client::pattern).collect(),
            report: LoadReport::default(),
            started_total: 0,
            handshaking: 0,
            start: Instant::now(),
            barrier_open: !plan.barrier,
            out: Vec::new(),
        })
    }

    fn may_start(&self) -> bool {
        self.plan.may_start(self.start, self.started_total)
    }

    fn connect(&mut self) -> Result<(), ClientError> {
        let (ch, q) = self
            .endpoint
            .connect(
                Instant::now(),
                self.config.clone(),
                self.server,
                &self.server_name,
            )
            .map_err(|e| ClientError::Config(format!("connect: {e}")))?;
        self.started_total += 1;
        self.handshaking += 1;
        self.live += 1;
        self.conns.insert(ch, Conn::new(q));
        self.progress(ch)
    }

    /// Sends what the connection has to send and hands its endpoint events
    /// over; forgets it once drained.
    fn flush(&mut self, ch: ConnectionHandle) -> Result<(), ClientError> {
        let Some(c) = self.conns.get_mut(&ch) else {
            return Ok(());
        };
        let now = Instant::now();
        loop {
            self.out.clear();
            let Some(t) = c.q.poll_transmit(now, 1, &mut self.out) else {
                break;
            };
            match self.socket.send_to(&self.out[..t.size], t.destination) {
                Ok(_) => {}
                // Dropped: QUIC retransmits.
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
        while let Some(ev) = c.q.poll_endpoint_events() {
            if let Some(back) = self.endpoint.handle_event(ch, ev) {
                c.q.handle_event(back);
            }
        }
        if c.q.is_drained() {
            let counted = c.counted;
            if !counted {
                self.count(ch);
            }
            self.conns.remove(&ch);
        }
        Ok(())
    }

    /// Records a connection's end, once; it frees its slot.
    fn count(&mut self, ch: ConnectionHandle) {
        let Some(c) = self.conns.get_mut(&ch).filter(|c| !c.counted) else {
            return;
        };
        c.counted = true;
        self.live -= 1;
        if !c.established {
            self.handshaking -= 1;
        }
        let ending = ending(c);
        self.report.record(c.failure.take(), &ending);
    }
}

/// What the report needs of a connection's end, from quinn-proto's words.
fn ending(c: &mut Conn) -> Ending {
    let peer = match &c.lost {
        Some(ConnectionError::ApplicationClosed(a)) => Some(PeerClose {
            code: a.error_code.into_inner(),
            app: true,
        }),
        Some(ConnectionError::ConnectionClosed(t)) => Some(PeerClose {
            code: u64::from(t.error_code),
            app: false,
        }),
        _ => None,
    };
    let other = match &c.lost {
        Some(ConnectionError::TimedOut | ConnectionError::LocallyClosed) | None => None,
        Some(ConnectionError::ApplicationClosed(_) | ConnectionError::ConnectionClosed(_)) => None,
        Some(other) => Some(other.to_string()),
    };
    if c.failure.is_none() {
        c.failure = other;
    }
    Ending {
        established: c.established,
        mid_echo: c.mid_echo(),
        peer,
        timed_out: matches!(c.lost, Some(ConnectionError::TimedOut)),
        streams_done: c.streams_done,
        want_more: c.want_more,
    }
}

/// quinn-proto's client configuration for the load: [`crate::tls::load_config`],
/// the client's idle timeout, no path MTU discovery (the bench's datagrams
/// are small, and probes would be traffic of the client's own).
fn client_config(cfg: &ClientConfig) -> Result<qp::ClientConfig, ClientError> {
    let tls = crate::tls::load_config(cfg).map_err(ClientError::Config)?;
    let quic = qp::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| ClientError::Config(format!("rustls for QUIC: {e}")))?;
    let mut transport = qp::TransportConfig::default();
    transport.max_idle_timeout(qp::IdleTimeout::try_from(cfg.idle_timeout).ok());
    transport.mtu_discovery_config(None);
    let mut config = qp::ClientConfig::new(Arc::new(quic));
    config.transport_config(Arc::new(transport));
    Ok(config)
}
