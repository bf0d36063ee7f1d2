//! The relay: a UDP forwarder between clients and the server under test
//! that applies a [`Model`] to every datagram. Each client address gets its
//! own upstream socket, so the server still sees one address per client.
//! It runs on its own thread until dropped, meters what the server sends to
//! clients that have not proved their address, and can move a client to a
//! new source address mid-connection (a NAT rebinding).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use quic_timeline::relay_log::{Fate, Line, Way};

use super::amplification::{Exposure, Meter};
use super::model::{Delivery, Dir, Model, Tally};
use crate::evidence::CaseEvidence;
use crate::scenario::{NetworkSpec, Rebind};

const CLIENTS: Token = Token(0);
const WAKE: Token = Token(1);
/// Upstream sockets are numbered from here, two per client: the one in use,
/// then the one it had before a rebinding.
const FIRST_UPSTREAM: usize = 2;
/// More clients than any scenario makes; beyond it new ones are ignored.
const MAX_CLIENTS: usize = 20_000;
/// Datagrams read from one socket before the relay looks at its stop flag
/// and its other sockets again: two endpoints answering each other as fast
/// as they can must not keep it from stopping when the case ends.
const BATCH: usize = 256;
/// Datagrams the relay holds for later delivery at most, as a router's
/// queue: beyond it a datagram is dropped (tail drop, logged), so a storm
/// between the endpoints cannot grow the harness's memory without bound.
const MAX_QUEUED: usize = 50_000;

/// A running relay; dropping it stops the thread.
pub struct Relay {
    pub addr: SocketAddr,
    waker: Arc<Waker>,
    stop: Arc<Mutex<bool>>,
    thread: Option<JoinHandle<()>>,
    tallies: Arc<Mutex<(Tally, Tally)>>,
    meter: Arc<Mutex<Meter>>,
    rebinds: Arc<Mutex<Rebinds>>,
}

/// What `network.rebind` did, over all clients.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rebinds {
    /// Clients the relay has seen.
    pub clients: usize,
    /// Clients moved to a new source address.
    pub moved: usize,
    /// Datagrams that reached the server from a new address.
    pub sent_from_new: u64,
    /// Datagrams the server sent to an old address after the move (dropped).
    pub to_old_address: u64,
    /// Why a move could not be made, if one could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Relay {
    /// Starts relaying between a new loopback port and `server` (on the
    /// server's own loopback address when it has one, so a server on
    /// 127.0.0.2 is reached from 127.0.0.2).
    /// With `evidence`, every datagram's fate is logged and the client side
    /// captured.
    pub fn start(
        server: SocketAddr,
        spec: NetworkSpec,
        seed: u64,
        evidence: Option<Arc<CaseEvidence>>,
    ) -> io::Result<Relay> {
        let poll = Poll::new()?;
        let front_ip = match server.ip() {
            ip if ip.is_loopback() => ip,
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        let mut front = UdpSocket::bind(SocketAddr::new(front_ip, 0))?;
        let addr = front.local_addr()?;
        poll.registry()
            .register(&mut front, CLIENTS, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let stop = Arc::new(Mutex::new(false));
        let tallies = Arc::new(Mutex::new((Tally::default(), Tally::default())));
        let meter = Arc::new(Mutex::new(Meter::default()));
        let rebinds = Arc::new(Mutex::new(Rebinds::default()));
        let mut state = State {
            rebind: spec.rebind.clone(),
            rebinds: Arc::clone(&rebinds),
            poll,
            front,
            server,
            model: Model::new(spec, seed),
            start: Instant::now(),
            by_client: HashMap::new(),
            upstreams: Vec::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            tallies: Arc::clone(&tallies),
            meter: Arc::clone(&meter),
            front_addr: addr,
            evidence,
            logged: 0,
            overflowed: [0, 0],
        };
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("relay".into())
            .spawn(move || {
                if let Err(e) = state.run(&stop2) {
                    log::warn!("relay stopped: {e}");
                }
            })?;
        Ok(Relay {
            addr,
            waker,
            stop,
            thread: Some(thread),
            tallies,
            meter,
            rebinds,
        })
    }

    /// What `network.rebind` did so far.
    pub fn rebinds(&self) -> Rebinds {
        self.rebinds.lock().unwrap().clone()
    }

    /// What the model did so far: (to the server, to the clients).
    pub fn tallies(&self) -> (Tally, Tally) {
        *self.tallies.lock().unwrap()
    }

    /// The client the server sent most to, relative to what it got, before
    /// that client's address was validated.
    pub fn amplification(&self) -> Option<Exposure> {
        self.meter.lock().unwrap().worst()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        *self.stop.lock().unwrap() = true;
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the model did to one datagram (written in the relay log's words,
/// `delivered`, `dropped`, `corrupted, delayed 40 ms, duplicated x2`).
fn fate(input: &[u8], out: &[Delivery]) -> Fate {
    Fate {
        copies: out.len(),
        corrupted: out.iter().any(|d| d.bytes != input),
        delay_ms: out
            .iter()
            .map(|d| d.after.as_millis() as u64)
            .max()
            .unwrap_or(0),
        ..Fate::default()
    }
}

/// A datagram waiting for its delivery time.
struct Pending {
    at: Instant,
    seq: u64,
    dir: Dir,
    /// Index into `upstreams`: which client this belongs to.
    client: usize,
    bytes: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

struct State {
    poll: Poll,
    front: UdpSocket,
    server: SocketAddr,
    model: Model,
    start: Instant,
    by_client: HashMap<SocketAddr, usize>,
    upstreams: Vec<Upstream>,
    rebind: Option<Rebind>,
    rebinds: Arc<Mutex<Rebinds>>,
    queue: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    /// Shared with [`Relay::tallies`]; updated before each delivery.
    tallies: Arc<Mutex<(Tally, Tally)>>,
    /// Shared with [`Relay::amplification`].
    meter: Arc<Mutex<Meter>>,
    front_addr: SocketAddr,
    evidence: Option<Arc<CaseEvidence>>,
    /// Datagrams logged so far.
    logged: u64,
    /// Datagrams dropped because the queue was full, to server and to client.
    overflowed: [u64; 2],
}

impl State {
    fn run(&mut self, stop: &Mutex<bool>) -> io::Result<()> {
        let mut events = Events::with_capacity(64);
        let mut buf = vec![0u8; 65536];
        // Sockets read BATCH times without running dry: read again before
        // waiting (readiness is edge-triggered, no new event will come).
        let mut undrained: Vec<Token> = Vec::new();
        loop {
            if *stop.lock().unwrap() {
                return Ok(());
            }
            let timeout = match undrained.is_empty() {
                false => Some(std::time::Duration::ZERO),
                true => self
                    .queue
                    .peek()
                    .map(|Reverse(p)| p.at.saturating_duration_since(Instant::now())),
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let mut ready: Vec<Token> = std::mem::take(&mut undrained);
            ready.extend(events.iter().map(|e| e.token()).filter(|t| *t != WAKE));
            ready.sort();
            ready.dedup();
            for token in ready {
                if !self.read(token, &mut buf)? {
                    undrained.push(token);
                }
            }
            self.deliver_due();
        }
    }

    /// Reads up to BATCH datagrams from the socket behind `token`; true once
    /// it ran dry.
    fn read(&mut self, token: Token, buf: &mut [u8]) -> io::Result<bool> {
        match token {
            CLIENTS => self.read_clients(buf),
            Token(t) if (t - FIRST_UPSTREAM).is_multiple_of(2) => {
                self.read_upstream((t - FIRST_UPSTREAM) / 2, buf)
            }
            Token(t) => self.read_old((t - FIRST_UPSTREAM) / 2, buf),
        }
    }

    fn read_clients(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        for _ in 0..BATCH {
            let (n, from) = match self.front.recv_from(buf) {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e),
            };
            let client = match self.by_client.get(&from) {
                Some(&c) => c,
                None if self.upstreams.len() < MAX_CLIENTS => {
                    let n = self.upstreams.len();
                    let mut sock = upstream(self.server, echo_client::any_port_for(self.server))?;
                    self.poll
                        .registry()
                        .register(&mut sock, live_token(n), Interest::READABLE)?;
                    self.upstreams.push(Upstream {
                        client: from,
                        sock,
                        first: Instant::now(),
                        moved: Move::Not,
                    });
                    self.by_client.insert(from, n);
                    self.rebinds.lock().unwrap().clients = n + 1;
                    n
                }
                None => continue,
            };
            if let Some(e) = &self.evidence {
                e.datagram(from, self.front_addr, &buf[..n]);
            }
            self.schedule(Dir::ToServer, client, &buf[..n]);
        }
        Ok(false)
    }

    fn read_upstream(&mut self, client: usize, buf: &mut [u8]) -> io::Result<bool> {
        for _ in 0..BATCH {
            let n = match self.upstreams[client].sock.recv(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
                // The server is gone (ICMP unreachable); keep relaying the rest.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e),
            };
            // What the server sent, whatever the network then does to it.
            self.meter.lock().unwrap().from_server(client, &buf[..n]);
            self.schedule(Dir::ToClient, client, &buf[..n]);
        }
        Ok(false)
    }

    /// What the server sends to a client's address from before its move:
    /// lost, as at a NAT that has forgotten the mapping.
    fn read_old(&mut self, client: usize, buf: &mut [u8]) -> io::Result<bool> {
        for _ in 0..BATCH {
            let Move::Done(old) = &self.upstreams[client].moved else {
                return Ok(true);
            };
            let n = match old.recv(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e),
            };
            self.rebinds.lock().unwrap().to_old_address += 1;
            if let Some(e) = &self.evidence {
                e.relay_datagram(self.server, self.upstreams[client].client, &buf[..n]);
                self.logged += 1;
                e.relay_line(&Line {
                    index: self.logged,
                    ms: self.start.elapsed().as_millis() as u64,
                    way: Way::ToClient,
                    client,
                    bytes: n,
                    fate: Fate {
                        why: Some("sent to the client's old address".into()),
                        ..Fate::default()
                    },
                });
            }
        }
        Ok(false)
    }

    /// Moves `client` to a new source address if `network.rebind` says it
    /// is time; its old socket stays open to count what still arrives there.
    fn rebind_if_due(&mut self, client: usize, now: Instant) {
        let Some(rebind) = &self.rebind else { return };
        let up = &mut self.upstreams[client];
        if !matches!(up.moved, Move::Not) || !rebind_due(rebind, up.first, now) {
            return;
        }
        let ip = rebind.address.unwrap_or_else(|| {
            up.sock
                .local_addr()
                .map_or(echo_client::any_port_for(self.server).ip(), |a| a.ip())
        });
        let registry = self.poll.registry();
        let moved = upstream(self.server, SocketAddr::new(ip, 0)).and_then(|mut sock| {
            registry.deregister(&mut up.sock)?;
            registry.register(&mut sock, live_token(client), Interest::READABLE)?;
            let mut old = std::mem::replace(&mut up.sock, sock);
            registry.register(&mut old, old_token(client), Interest::READABLE)?;
            up.moved = Move::Done(old);
            Ok(())
        });
        let mut r = self.rebinds.lock().unwrap();
        match moved {
            Ok(()) => r.moved += 1,
            Err(e) => {
                // Tried once per client; the verdict says why it failed.
                r.error
                    .get_or_insert_with(|| format!("cannot move a client to {ip}: {e}"));
                up.moved = Move::Failed;
            }
        }
    }

    fn schedule(&mut self, dir: Dir, client: usize, bytes: &[u8]) {
        let now = Instant::now();
        let at = now - self.start;
        let spared_before = self.model.tally(dir).spared;
        let fates = self.model.on_datagram(dir, client, at, bytes);
        let spared = self.model.tally(dir).spared > spared_before;
        if let Some(e) = &self.evidence {
            let (server, client_addr) = (self.server, self.upstreams[client].client);
            match dir {
                Dir::ToServer => e.relay_datagram(client_addr, server, bytes),
                Dir::ToClient => e.relay_datagram(server, client_addr, bytes),
            }
            self.logged += 1;
            let mut fate = fate(bytes, &fates);
            if spared {
                fate.aside = Some("a random loss spared: see netem::model".into());
            }
            e.relay_line(&Line {
                index: self.logged,
                ms: at.as_millis() as u64,
                way: match dir {
                    Dir::ToServer => Way::ToServer,
                    Dir::ToClient => Way::ToClient,
                },
                client,
                bytes: bytes.len(),
                fate,
            });
        }
        let (mut up, mut down) = (
            self.model.tally(Dir::ToServer),
            self.model.tally(Dir::ToClient),
        );
        (up.overflowed, down.overflowed) = (self.overflowed[0], self.overflowed[1]);
        *self.tallies.lock().unwrap() = (up, down);
        for Delivery { after, bytes } in fates {
            if self.queue.len() >= MAX_QUEUED {
                self.overflowed[usize::from(dir == Dir::ToClient)] += 1;
                if let Some(e) = &self.evidence {
                    self.logged += 1;
                    e.relay_line(&Line {
                        index: self.logged,
                        ms: at.as_millis() as u64,
                        way: Way::Neither,
                        client,
                        bytes: bytes.len(),
                        fate: Fate {
                            why: Some("the relay's queue was full".into()),
                            ..Fate::default()
                        },
                    });
                }
                continue;
            }
            self.seq += 1;
            self.queue.push(Reverse(Pending {
                at: now + after,
                seq: self.seq,
                dir,
                client,
                bytes,
            }));
        }
        self.deliver_due();
    }

    fn deliver_due(&mut self) {
        let now = Instant::now();
        while self.queue.peek().is_some_and(|Reverse(p)| p.at <= now) {
            let Reverse(p) = self.queue.pop().expect("peeked");
            if p.dir == Dir::ToServer {
                self.rebind_if_due(p.client, now);
            }
            let up = &self.upstreams[p.client];
            // A send that fails is one more lost datagram; QUIC copes.
            let _ = match p.dir {
                Dir::ToServer => {
                    self.meter.lock().unwrap().to_server(p.client, &p.bytes);
                    if matches!(up.moved, Move::Done(_)) {
                        self.rebinds.lock().unwrap().sent_from_new += 1;
                    }
                    up.sock.send(&p.bytes)
                }
                Dir::ToClient => {
                    if let Some(e) = &self.evidence {
                        e.datagram(self.front_addr, up.client, &p.bytes);
                    }
                    self.front.send_to(&p.bytes, up.client)
                }
            };
        }
    }
}

/// One client's way to the server.
struct Upstream {
    /// The client's own address (toward the relay).
    client: SocketAddr,
    /// The socket that now talks to the server for it.
    sock: UdpSocket,
    /// When its first datagram arrived.
    first: Instant,
    moved: Move,
}

/// Whether a client was moved to a new source address (`network.rebind`).
enum Move {
    Not,
    /// Moved; the socket it had before, still read to count what the
    /// server sends to the old address.
    Done(UdpSocket),
    /// Tried and failed (the verdict says why); not tried again.
    Failed,
}

fn live_token(client: usize) -> Token {
    Token(FIRST_UPSTREAM + 2 * client)
}

fn old_token(client: usize) -> Token {
    Token(FIRST_UPSTREAM + 2 * client + 1)
}

/// A socket at `local` that sends to `server` only.
fn upstream(server: SocketAddr, local: SocketAddr) -> io::Result<UdpSocket> {
    let sock = UdpSocket::bind(local)?;
    sock.connect(server)?;
    Ok(sock)
}

/// Whether a client first seen at `first` is due to move at `now`.
fn rebind_due(rebind: &Rebind, first: Instant, now: Instant) -> bool {
    now.saturating_duration_since(first).as_millis() >= u128::from(rebind.after_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket as StdSocket;
    use std::time::Duration;

    #[test]
    fn fates_in_words() {
        let d = |after: u64, bytes: &[u8]| Delivery {
            after: Duration::from_millis(after),
            bytes: bytes.to_vec(),
        };
        let words = |out: &[Delivery]| fate(b"ab", out).to_string();
        assert_eq!(words(&[]), "dropped");
        assert_eq!(words(&[d(0, b"ab")]), "delivered");
        assert_eq!(words(&[d(40, b"ab")]), "delayed 40 ms");
        assert_eq!(
            words(&[d(0, b"ab"), d(5, b"aB")]),
            "corrupted, delayed 5 ms, duplicated x2"
        );
    }

    /// A UDP echo peer on loopback, answering until its socket times out.
    fn echo_peer() -> SocketAddr {
        let s = StdSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let addr = s.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = s.recv_from(&mut buf) {
                let _ = s.send_to(&buf[..n], from);
            }
        });
        addr
    }

    #[test]
    fn forwards_both_ways_and_drops_what_the_model_says() {
        let spec = NetworkSpec {
            drop_to_server: vec![0],
            drop_to_client: vec![1],
            ..NetworkSpec::default()
        };
        let relay = Relay::start(echo_peer(), spec, 1, None).unwrap();
        let client = StdSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        for msg in [b"zero", b"one_", b"two_", b"thre"] {
            client.send_to(msg, relay.addr).unwrap();
            if let Ok(n) = client.recv(&mut buf) {
                got.push(buf[..n].to_vec());
            }
        }
        // "zero" never reached the peer; the second echo ("two_") was
        // dropped on its way back.
        assert_eq!(got, vec![b"one_".to_vec(), b"thre".to_vec()]);
        let (up, down) = relay.tallies();
        assert_eq!((up.datagrams, up.dropped), (4, 1));
        assert_eq!((down.datagrams, down.dropped), (3, 1));
    }

    #[test]
    fn a_rebinding_moves_the_client_and_loses_what_goes_to_its_old_address() {
        // A peer that answers every datagram twice: at once to where it came
        // from, and to the first address it ever heard from.
        let peer = StdSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let peer_addr = peer.local_addr().unwrap();
        let seen = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            let mut froms = Vec::new();
            while let Ok((n, from)) = peer.recv_from(&mut buf) {
                froms.push(from);
                let _ = peer.send_to(&buf[..n], from);
                let _ = peer.send_to(b"stale", froms[0]);
                if froms.len() == 2 {
                    break;
                }
            }
            froms
        });
        let spec = NetworkSpec {
            rebind: Some(Rebind {
                after_ms: 50,
                address: Some("127.0.0.2".parse().unwrap()),
            }),
            ..NetworkSpec::default()
        };
        let relay = Relay::start(peer_addr, spec, 1, None).unwrap();
        let client = StdSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut buf = [0u8; 64];
        client.send_to(b"before", relay.addr).unwrap();
        assert_eq!(client.recv(&mut buf).unwrap(), 6);
        assert_eq!(
            client.recv(&mut buf).unwrap(),
            5,
            "the first address still works"
        );
        // Not a sleep for synchronisation: the move is due 50 ms after the
        // first datagram, so the next one must be sent later than that.
        std::thread::sleep(Duration::from_millis(60));
        client.send_to(b"after", relay.addr).unwrap();
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"after");
        let froms = seen.join().unwrap();
        assert_eq!(froms[1].ip().to_string(), "127.0.0.2");
        assert_ne!(froms[0], froms[1]);
        let deadline = Instant::now() + Duration::from_secs(2);
        while relay.rebinds().to_old_address < 1 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        let r = relay.rebinds();
        assert_eq!((r.clients, r.moved, r.sent_from_new), (1, 1, 1), "{r:?}");
        assert_eq!(r.to_old_address, 1, "{r:?}");
        assert_eq!(r.error, None);
    }
}
