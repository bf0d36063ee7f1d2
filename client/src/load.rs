//! The load generator: many quiche client connections on one UDP socket and
//! one thread, for benchmarks. Each of `concurrency` slots runs connections
//! one after another; each connection echoes `payload` bytes on streams one
//! at a time and checks every echoed byte. Timers sit in a heap and only
//! connections that received packets or whose timer fired are visited, so
//! the client's own cost per packet does not grow with the connection count.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use ring::rand::{SecureRandom, SystemRandom};

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
fn pattern(i: usize) -> u8 {
    (i % 251) as u8
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
    timers: BinaryHeap<Reverse<(Instant, Vec<u8>)>>,
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
    if plan.concurrency == 0 {
        return Err(ClientError::Config("concurrency must be at least 1".into()));
    }
    let mut socket = UdpSocket::bind(crate::any_port_for(server))?;
    enlarge_buffers(&socket);
    let local = socket.local_addr()?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut socket, Token(0), Interest::READABLE)?;
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
        timers: BinaryHeap::new(),
        payload: (0..plan.payload).map(pattern).collect(),
        report: LoadReport::default(),
        started_total: 0,
        handshaking: 0,
        start: Instant::now(),
        barrier_open: !plan.barrier,
    };
    e.top_up()?;
    let mut events = Events::with_capacity(64);
    let mut buf = vec![0u8; 65536];
    let hard_end = e.start + plan.deadline;
    while !e.conns.is_empty() {
        let now = Instant::now();
        if now >= hard_end {
            e.give_up();
            break;
        }
        let wake = e.next_timer().map_or(hard_end, |t| t.min(hard_end));
        poll.poll(&mut events, Some(wake.saturating_duration_since(now)))?;
        let mut touched = e.read_all(&mut buf)?;
        touched.extend(e.fire_timers());
        touched.sort_unstable();
        touched.dedup();
        for id in touched {
            e.progress(&id)?;
        }
        e.top_up()?;
        if !e.barrier_open && !e.may_start() && e.handshaking == 0 {
            e.open_barrier(at_barrier)?;
        }
    }
    e.report.elapsed = e.start.elapsed();
    Ok(e.report)
}

/// Asks for 4 MiB socket buffers; the kernel caps the request at its
/// limits (net.core.rmem_max / wmem_max), which is fine.
fn enlarge_buffers(socket: &UdpSocket) {
    let s = socket2::SockRef::from(socket);
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
}

impl Engine<'_> {
    /// The deadline came: every connection still running fails so, and
    /// is closed.
    fn give_up(&mut self) {
        let ids: Vec<Vec<u8>> = self.conns.keys().cloned().collect();
        for id in ids {
            if let Some(c) = self.conns.get_mut(&id) {
                c.failure
                    .get_or_insert_with(|| "still running at the deadline".into());
                let _ = c.q.close(true, 0, b"bench deadline");
            }
            self.finish(&id);
        }
    }

    /// Every datagram queued on the socket, each to its connection; the
    /// connections that got one.
    fn read_all(&mut self, buf: &mut [u8]) -> Result<Vec<Vec<u8>>, ClientError> {
        let mut touched = Vec::new();
        loop {
            let (n, from) = match self.socket.recv_from(buf) {
                Ok(x) => x,
                Err(err) if err.kind() == ErrorKind::WouldBlock => return Ok(touched),
                Err(err) if err.kind() == ErrorKind::ConnectionRefused => continue,
                Err(err) => return Err(err.into()),
            };
            let Ok(hdr) = quiche::Header::from_slice(&mut buf[..n], SCID_LEN) else {
                continue;
            };
            let id = hdr.dcid.to_vec();
            if let Some(c) = self.conns.get_mut(&id) {
                let info = quiche::RecvInfo {
                    from,
                    to: self.local,
                };
                let _ = c.q.recv(&mut buf[..n], info);
                touched.push(id);
            }
        }
    }

    /// Fires the connection timers that are due; the connections fired.
    fn fire_timers(&mut self) -> Vec<Vec<u8>> {
        let now = Instant::now();
        let mut touched = Vec::new();
        while let Some(Reverse((t, _))) = self.timers.peek() {
            if *t > now {
                break;
            }
            let Reverse((t, id)) = self.timers.pop().expect("peeked");
            if let Some(c) = self.conns.get_mut(&id) {
                if c.timer == Some(t) {
                    c.timer = None;
                    c.q.on_timeout();
                    touched.push(id);
                }
            }
        }
        touched
    }

    /// Every connection is established (or failed): the caller measures,
    /// then the streams start.
    fn open_barrier(&mut self, at_barrier: &mut dyn FnMut()) -> Result<(), ClientError> {
        self.barrier_open = true;
        at_barrier();
        self.report.established_at_barrier =
            self.conns.values().filter(|c| c.established).count() as u64;
        let ids: Vec<Vec<u8>> = self.conns.keys().cloned().collect();
        for id in ids {
            self.progress(&id)?;
        }
        Ok(())
    }

    fn may_start(&self) -> bool {
        self.start.elapsed() < self.plan.duration
            && self
                .plan
                .max_connections
                .is_none_or(|m| self.started_total < m)
    }

    fn next_timer(&mut self) -> Option<Instant> {
        while let Some(Reverse((t, id))) = self.timers.peek() {
            if self.conns.get(id).is_some_and(|c| c.timer == Some(*t)) {
                return Some(*t);
            }
            self.timers.pop();
        }
        None
    }

    /// Starts connections while slots, time and the handshake limit allow.
    fn top_up(&mut self) -> Result<(), ClientError> {
        while self.conns.len() < self.plan.concurrency
            && self.handshaking < self.plan.max_handshakes.max(1)
            && self.may_start()
        {
            self.connect()?;
        }
        Ok(())
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
        self.progress(&scid)
    }

    /// Moves one connection along: streams, then its packets, then its timer.
    fn progress(&mut self, id: &[u8]) -> Result<(), ClientError> {
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
        if t != c.timer {
            c.timer = t;
            if let Some(t) = t {
                self.timers.push(Reverse((t, id.to_vec())));
            }
        }
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
        let r = &mut self.report;
        let failure = c.failure.or_else(|| {
            if !c.established {
                return Some(match c.q.peer_error() {
                    Some(e) => format!("handshake refused with {:#x}", e.error_code),
                    None if c.q.is_timed_out() => "handshake timed out".into(),
                    None => "handshake did not complete".into(),
                });
            }
            if c.stream.is_some() {
                return Some(match c.q.peer_error() {
                    Some(e) => format!("closed with {:#x} during an echo", e.error_code),
                    None if c.q.is_timed_out() => "timed out during an echo".into(),
                    None => "ended during an echo".into(),
                });
            }
            match c.q.peer_error() {
                Some(e) if e.error_code != 0 => Some(format!(
                    "server closed with {}{:#x}",
                    if e.is_app { "application " } else { "" },
                    e.error_code
                )),
                _ => None,
            }
        });
        match failure {
            // Time ran out before this connection's first stream: it neither
            // echoed nor failed.
            None if c.streams_done == 0 => r.unused += 1,
            Some(why) => {
                r.failed += 1;
                if r.failures.len() < 5 {
                    r.failures.push(why);
                }
            }
            None => {
                r.ok += 1;
                if c.want_more && c.q.peer_error().is_some() {
                    r.closed_by_server += 1;
                }
            }
        }
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
            let more = plan.streams_per_conn.is_none_or(|m| c.streams_done < m)
                && start.elapsed() < plan.duration;
            if !more {
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
                    let end = s.received + n;
                    if end > payload.len() || buf[..n] != payload[s.received..end] {
                        c.failure = Some(format!("stream {}: echo differs", s.id));
                        let _ = c.q.close(true, 0x1, b"");
                        return;
                    }
                    s.received = end;
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
