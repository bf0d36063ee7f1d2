//! The load generator: many quiche client connections on one UDP socket and
//! one thread, for benchmarks. Each of `concurrency` slots runs connections
//! one after another; each connection echoes `payload` bytes on streams one
//! at a time and checks every echoed byte. Timers sit in a heap and only
//! connections that received packets or whose timer fired are visited, so
//! the client's own cost per packet does not grow with the connection count.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use ring::rand::{SecureRandom, SystemRandom};

use crate::load_ending::{at_deadline, Ending, PeerClose};
use crate::load_loop::{drive, open_socket, recv_all, LoadEngine, Timers};
use crate::session::{quiche_config, MAX_DATAGRAM};
use crate::{ClientConfig, ClientError};

const SCID_LEN: usize = 16;

/// The key-exchange groups the load generator offers.
pub const LOAD_GROUPS: &str = "X25519";

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Connections in flight at once.
    pub concurrency: usize,
    /// Bytes per stream.
    pub payload: usize,
    /// Streams per connection, one after another; `None`: as many as the
    /// time allows (or until the server closes).
    pub streams_per_conn: Option<u64>,
    /// Start no new connection or stream after this long.
    pub duration: Duration,
    /// Start at most this many connections in all.
    pub max_connections: Option<u64>,
    /// At most this many handshakes in progress at once: opening thousands
    /// of connections in one burst only measures packet loss.
    pub max_handshakes: usize,
    /// Open every connection first; start streams only once all completed
    /// their handshakes (or failed).
    pub barrier: bool,
    /// Abandon whatever is still running after this long in all.
    pub deadline: Duration,
}

/// What happened.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Connections that echoed every stream they opened, exactly.
    pub ok: u64,
    /// Connections that failed: handshake, wrong echo, reset, timeout.
    pub failed: u64,
    /// The first few failure reasons.
    pub failures: Vec<String>,
    /// Connections that ended before their first stream because the time
    /// was up.
    pub unused: u64,
    /// Connections the server closed while the client wanted more streams.
    pub closed_by_server: u64,
    /// Handshake times.
    pub handshakes: Vec<Duration>,
    /// Per stream: from its first byte written to the echo's FIN.
    pub echoes: Vec<Duration>,
    /// Bytes echoed back exactly, all streams.
    pub bytes_echoed: u64,
    /// Connections established at the barrier (when `barrier`).
    pub established_at_barrier: u64,
    /// Time until the last connection ended.
    pub elapsed: Duration,
}

impl LoadReport {
    /// Adds another generator's report (run at the same time) to this one.
    pub fn merge(&mut self, o: LoadReport) {
        self.ok += o.ok;
        self.failed += o.failed;
        for f in o.failures {
            if self.failures.len() < 5 {
                self.failures.push(f);
            }
        }
        self.unused += o.unused;
        self.closed_by_server += o.closed_by_server;
        self.handshakes.extend(o.handshakes);
        self.echoes.extend(o.echoes);
        self.bytes_echoed += o.bytes_echoed;
        self.established_at_barrier += o.established_at_barrier;
        self.elapsed = self.elapsed.max(o.elapsed);
    }
}

struct Echo {
    id: u64,
    written: usize,
    fin_sent: bool,
    received: usize,
    started: Instant,
}

struct Conn {
    q: quiche::Connection,
    started: Instant,
    established: bool,
    streams_done: u64,
    stream: Option<Echo>,
    timer: Option<Instant>,
    failure: Option<String>,
    want_more: bool,
}

/// The byte at offset `i` of every payload.
pub fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// Whether `chunk`, arriving after `received` echoed bytes, is the next
/// part of `payload`.
pub fn echo_continues(payload: &[u8], received: usize, chunk: &[u8]) -> bool {
    let end = received + chunk.len();
    end <= payload.len() && chunk == &payload[received..end]
}

struct Engine<'a> {
    plan: &'a LoadPlan,
    config: quiche::Config,
    socket: UdpSocket,
    local: SocketAddr,
    server: SocketAddr,
    server_name: String,
    rng: SystemRandom,
    conns: HashMap<Vec<u8>, Conn>,
    timers: Timers<Vec<u8>>,
    payload: Vec<u8>,
    report: LoadReport,
    started_total: u64,
    handshaking: usize,
    start: Instant,
    barrier_open: bool,
}

/// Runs `plan` against `server` and reports; errors are the client's own.
/// `at_barrier` is called once every connection is established (or failed)
/// when `plan.barrier` is set, before any stream starts: the moment a
/// caller measures the server holding them all.
pub fn run_load(
    server: SocketAddr,
    cfg: &ClientConfig,
    plan: &LoadPlan,
    at_barrier: &mut dyn FnMut(),
) -> Result<LoadReport, ClientError> {
    let (socket, mut poll) = open_socket(server, plan)?;
    let local = socket.local_addr()?;
    let mut config = quiche_config(cfg)?;
    // One X25519 key share, which every server accepts: BoringSSL's default
    // list starts with X25519MLKEM768, whose key generation and 1,216-byte
    // share (a ClientHello over two datagrams) cost the load generator more
    // than the server it measures, and the server then picks X25519 anyway.
    config
        .set_curves_list(LOAD_GROUPS)
        .map_err(|e| ClientError::Config(format!("key-exchange groups {LOAD_GROUPS}: {e}")))?;
    let mut e = Engine {
        plan,
        config,
        socket,
        local,
        server,
        server_name: cfg.server_name.clone(),
        rng: SystemRandom::new(),
        conns: HashMap::new(),
        timers: Timers::default(),
        payload: (0..plan.payload).map(pattern).collect(),
        report: LoadReport::default(),
        started_total: 0,
        handshaking: 0,
        start: Instant::now(),
        barrier_open: !plan.barrier,
    };
    let start = e.start;
    drive(&mut e, &mut poll, plan, start, at_barrier)
}

impl LoadEngine for Engine<'_> {
    type Key = Vec<u8>;

    fn live(&self) -> bool {
        !self.conns.is_empty()
    }

    fn read_all(&mut self, buf: &mut [u8]) -> Result<Vec<Vec<u8>>, ClientError> {
        let mut touched = Vec::new();
        let to = self.local;
        let conns = &mut self.conns;
        recv_all(&self.socket, buf, |pkt, from| {
            let Ok(hdr) = quiche::Header::from_slice(pkt, SCID_LEN) else {
                return;
            };
            let id = hdr.dcid.to_vec();
            if let Some(c) = conns.get_mut(&id) {
                let _ = c.q.recv(pkt, quiche::RecvInfo { from, to });
                touched.push(id);
            }
        })?;
        Ok(touched)
    }

    fn fire_timers(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut touched = Vec::new();
        let conns = &mut self.conns;
        while let Some(id) = self
            .timers
            .pop_due(now, |id| conns.get(id).and_then(|c| c.timer))
        {
            if let Some(c) = conns.get_mut(&id) {
                c.timer = None;
                c.q.on_timeout();
                touched.push(id);
            }
        }
        touched
    }

    fn next_timer(&mut self) -> Option<Instant> {
        let conns = &self.conns;
        self.timers.next(|id| conns.get(id).and_then(|c| c.timer))
    }

    fn progress(&mut self, id: Vec<u8>) -> Result<(), ClientError> {
        self.step(&id)
    }

    fn top_up(&mut self) -> Result<(), ClientError> {
        while self.conns.len() < self.plan.concurrency
            && self.handshaking < self.plan.max_handshakes.max(1)
            && self.may_start()
        {
            self.connect()?;
        }
        Ok(())
    }

    fn barrier_due(&self) -> bool {
        !self.barrier_open && !self.may_start() && self.handshaking == 0
    }

    fn open_barrier(&mut self, at_barrier: &mut dyn FnMut()) -> Result<(), ClientError> {
        self.barrier_open = true;
        at_barrier();
        self.report.established_at_barrier =
            self.conns.values().filter(|c| c.established).count() as u64;
        let ids: Vec<Vec<u8>> = self.conns.keys().cloned().collect();
        for id in ids {
            self.step(&id)?;
        }
        Ok(())
    }

    fn give_up(&mut self) {
        let ids: Vec<Vec<u8>> = self.conns.keys().cloned().collect();
        for id in ids {
            if let Some(c) = self.conns.get_mut(&id) {
                let why = at_deadline(c.established, c.stream.is_some());
                c.failure.get_or_insert(why);
                let _ = c.q.close(true, 0, b"bench deadline");
            }
            self.finish(&id);
        }
    }

    fn report(&mut self) -> &mut LoadReport {
        &mut self.report
    }
}

impl Engine<'_> {
    fn may_start(&self) -> bool {
        self.plan.may_start(self.start, self.started_total)
    }

    fn connect(&mut self) -> Result<(), ClientError> {
        let mut scid = vec![0u8; SCID_LEN];
        self.rng
            .fill(&mut scid)
            .map_err(|_| ClientError::Config("system RNG failed".into()))?;
        let q = quiche::connect(
            crate::sni(&self.server_name),
            &quiche::ConnectionId::from_ref(&scid),
            self.local,
            self.server,
            &mut self.config,
        )
        .map_err(|e| ClientError::Config(format!("connect: {e}")))?;
        self.started_total += 1;
        self.handshaking += 1;
        self.conns.insert(
            scid.clone(),
            Conn {
                q,
                started: Instant::now(),
                established: false,
                streams_done: 0,
                stream: None,
                timer: None,
                failure: None,
                want_more: true,
            },
        );
        self.step(&scid)
    }

    /// Moves one connection along: streams, then its packets, then its timer.
    fn step(&mut self, id: &[u8]) -> Result<(), ClientError> {
        let Some(c) = self.conns.get_mut(id) else {
            return Ok(());
        };
        let now = Instant::now();
        if !c.established && c.q.is_established() {
            c.established = true;
            self.handshaking -= 1;
            self.report.handshakes.push(now - c.started);
        }
        if c.established && self.barrier_open && !c.q.is_closed() {
            step_streams(
                c,
                self.plan,
                &self.payload,
                &mut self.report,
                self.start,
                now,
            );
        }
        let mut out = [0u8; MAX_DATAGRAM];
        loop {
            match c.q.send(&mut out) {
                Ok((n, info)) => match self.socket.send_to(&out[..n], info.to) {
                    Ok(_) => {}
                    // Dropped: QUIC retransmits.
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e.into()),
                },
                Err(quiche::Error::Done) => break,
                Err(e) => {
                    c.failure.get_or_insert_with(|| format!("send: {e}"));
                    let _ = c.q.close(false, 0x1, b"");
                    break;
                }
            }
        }
        // Once a close is sent or received there is nothing left to learn:
        // the load generator does not sit out the draining period.
        if c.q.is_closed() || c.q.is_draining() || c.q.local_error().is_some() {
            self.finish(id);
            return Ok(());
        }
        let t = c.q.timeout_instant();
        self.timers.update(id.to_vec(), &mut c.timer, t);
        Ok(())
    }

    /// Records a connection's end and forgets it.
    fn finish(&mut self, id: &[u8]) {
        let Some(c) = self.conns.remove(id) else {
            return;
        };
        if !c.established {
            self.handshaking -= 1;
        }
        let ending = Ending {
            established: c.established,
            mid_echo: c.stream.is_some(),
            peer: c.q.peer_error().map(|e| PeerClose {
                code: e.error_code,
                app: e.is_app,
            }),
            timed_out: c.q.is_timed_out(),
            streams_done: c.streams_done,
            want_more: c.want_more,
        };
        self.report.record(c.failure, &ending);
    }
}

/// Reads the current echo, writes the current stream, opens the next one,
/// or closes the connection when it is done.
fn step_streams(
    c: &mut Conn,
    plan: &LoadPlan,
    payload: &[u8],
    report: &mut LoadReport,
    start: Instant,
    now: Instant,
) {
    let mut buf = [0u8; 16384];
    loop {
        let Some(s) = &mut c.stream else {
            if !plan.wants_stream(c.streams_done, start) {
                c.want_more = false;
                let _ = c.q.close(true, 0, b"bench done");
                return;
            }
            c.stream = Some(Echo {
                id: c.streams_done * 4,
                written: 0,
                fin_sent: false,
                received: 0,
                started: now,
            });
            continue;
        };
        while !s.fin_sent {
            match c.q.stream_send(s.id, &payload[s.written..], true) {
                Ok(n) => {
                    s.written += n;
                    s.fin_sent = s.written == payload.len();
                }
                Err(quiche::Error::Done) => break,
                Err(e) => {
                    c.failure = Some(format!("stream {}: {e}", s.id));
                    let _ = c.q.close(true, 0x1, b"");
                    return;
                }
            }
        }
        let mut fin = false;
        loop {
            match c.q.stream_recv(s.id, &mut buf) {
                Ok((n, f)) => {
                    if !echo_continues(payload, s.received, &buf[..n]) {
                        c.failure = Some(format!("stream {}: echo differs", s.id));
                        let _ = c.q.close(true, 0x1, b"");
                        return;
                    }
                    s.received += n;
                    if f {
                        fin = true;
                        break;
                    }
                }
                Err(quiche::Error::Done) => break,
                Err(e) => {
                    c.failure = Some(format!("stream {}: {e}", s.id));
                    let _ = c.q.close(true, 0x1, b"");
                    return;
                }
            }
        }
        if !fin {
            return;
        }
        if s.received != payload.len() {
            c.failure = Some(format!(
                "stream {}: echo of {} bytes, sent {}",
                s.id,
                s.received,
                payload.len()
            ));
            let _ = c.q.close(true, 0x1, b"");
            return;
        }
        report.echoes.push(now - s.started);
        report.bytes_echoed += payload.len() as u64;
        c.streams_done += 1;
        c.stream = None;
    }
}
