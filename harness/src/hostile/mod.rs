//! Hostile datagrams at the server under test: a seeded stream of
//! malformed and unwelcome UDP ([`gen`], sans-IO), sent as fast as one
//! socket allows, while its replies are counted. The runner then checks
//! that the server survived, answered unknown versions with Version
//! Negotiation, and kept its CPU per datagram bounded. Real Retry tokens
//! are also misused ([`stale_tokens`]): replayed from another address, and
//! sent back after they expired.

pub mod gen;

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::scenario::AttackSpec;
pub use gen::Kind;

/// What a flood did.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Outcome {
    pub sent: u64,
    /// Datagrams the kernel refused to send (counted, not retried).
    pub send_errors: u64,
    pub replies: u64,
    pub reply_bytes: u64,
    pub version_negotiations: u64,
    pub elapsed_ms: u64,
}

/// What the server sent to clients that never proved their address.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Amplification {
    pub initials: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

impl Amplification {
    pub fn factor(&self) -> f64 {
        self.bytes_received as f64 / self.bytes_sent.max(1) as f64
    }
}

/// Sends `n` real client Initials, each for a new connection, and never
/// answers: as if their source address were spoofed. Counts every byte the
/// server sends back within `listen` (retransmissions included).
pub fn spoofed(
    server: SocketAddr,
    n: u32,
    seed: u64,
    listen: Duration,
) -> std::io::Result<Amplification> {
    let socket = UdpSocket::bind(SocketAddr::new(server.ip(), 0))?;
    socket.connect(server)?;
    // Room for every answer (an amplifying server sends hundreds of small
    // datagrams at once): what the kernel drops here would be counted as
    // never sent, and a busy machine would make an amplifier pass.
    let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(4 << 20);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let mut a = Amplification {
        initials: n,
        ..Amplification::default()
    };
    for _ in 0..n {
        let d = gen::datagram(Kind::ValidInitial, &mut rng);
        a.bytes_sent += socket.send(&d)? as u64;
    }
    let until = Instant::now() + listen;
    let mut buf = vec![0u8; 65536];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        socket.set_read_timeout(Some(left))?;
        match socket.recv(&mut buf) {
            Ok(n) => a.bytes_received += n as u64,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(a)
}

/// How a server answered an Initial carrying a Retry token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenVerdict {
    /// It sent no Retry, so there was no token to use.
    NoRetry,
    /// It went on with the handshake (a ServerHello).
    Accepted,
    /// It closed the connection attempt with this transport error code
    /// (INVALID_TOKEN is 0xb).
    Refused(u64),
    /// It said nothing.
    Ignored,
}

/// Real tokens used as they should be and as they should not.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StaleTokens {
    /// One token used at once from its own address: must be accepted, or
    /// the other verdicts mean nothing.
    pub control: TokenVerdict,
    /// Tokens sent back at once from another port.
    pub replayed: Vec<TokenVerdict>,
    /// Tokens sent back from their own address after `age_ms`.
    pub expired: Vec<TokenVerdict>,
    pub age_ms: u64,
}

/// How long after using a token the server's answer is awaited.
const TOKEN_ANSWER: Duration = Duration::from_secs(2);

/// Gets `n` Retry tokens for each misuse (and one for the control), all at
/// once on their own threads; returns how the server treated each.
pub fn stale_tokens(server: SocketAddr, n: u32, age: Duration) -> StaleTokens {
    use echo_client::TokenUse;
    let one = |token_use: TokenUse, wait: Duration| {
        let cfg = echo_client::ClientConfig {
            alpn: vec!["http/1.0".into()],
            ..echo_client::ClientConfig::default()
        };
        match echo_client::offer_hello_with(server, &cfg, wait + TOKEN_ANSWER, token_use) {
            Ok((false, _)) => TokenVerdict::NoRetry,
            Ok((true, obs)) => match (&obs.handshake, &obs.peer_close) {
                (echo_client::Handshake::Completed { .. }, _) => TokenVerdict::Accepted,
                (_, Some(c)) => TokenVerdict::Refused(c.code),
                _ => TokenVerdict::Ignored,
            },
            Err(e) => {
                log::warn!("token client: {e}");
                TokenVerdict::Ignored
            }
        }
    };
    std::thread::scope(|s| {
        let control = s.spawn(|| one(TokenUse::AsGiven, Duration::ZERO));
        let replayed: Vec<_> = (0..n)
            .map(|_| s.spawn(|| one(TokenUse::FromAnotherPort, Duration::ZERO)))
            .collect();
        let expired: Vec<_> = (0..n)
            .map(|_| s.spawn(|| one(TokenUse::After(age), age)))
            .collect();
        let join = |h: std::thread::ScopedJoinHandle<'_, TokenVerdict>| {
            h.join().unwrap_or(TokenVerdict::Ignored)
        };
        StaleTokens {
            control: join(control),
            replayed: replayed.into_iter().map(join).collect(),
            expired: expired.into_iter().map(join).collect(),
            age_ms: age.as_millis() as u64,
        }
    })
}

/// How long replies still in flight are awaited after the last datagram.
const STRAGGLERS: Duration = Duration::from_millis(200);

/// Sends `spec.datagrams` hostile datagrams to `server`, kinds chosen at
/// random from `spec.kinds` by a generator seeded with `seed`.
pub fn flood(server: SocketAddr, spec: &AttackSpec, seed: u64) -> std::io::Result<Outcome> {
    let socket = UdpSocket::bind(echo_client::any_port_for(server))?;
    socket.connect(server)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let kinds: Vec<Kind> = if spec.kinds.is_empty() {
        Kind::ALL.to_vec()
    } else {
        spec.kinds.clone()
    };
    let start = Instant::now();
    let mut out = Outcome::default();
    let mut buf = vec![0u8; 65536];
    socket.set_nonblocking(true)?;
    for i in 0..spec.datagrams {
        let kind = kinds[rng.random_range(0..kinds.len())];
        let d = gen::datagram(kind, &mut rng);
        match socket.send(&d) {
            Ok(_) => out.sent += 1,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                // The socket buffer is full: wait for room, bounded.
                socket.set_nonblocking(false)?;
                socket.set_write_timeout(Some(Duration::from_secs(1)))?;
                match socket.send(&d) {
                    Ok(_) => out.sent += 1,
                    Err(_) => out.send_errors += 1,
                }
                socket.set_nonblocking(true)?;
            }
            // ICMP unreachable from an earlier datagram, or a size limit.
            Err(_) => out.send_errors += 1,
        }
        if i % 64 == 0 {
            drain(&socket, &mut buf, &mut out)?;
        }
    }
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(STRAGGLERS))?;
    while let Ok(n) = socket.recv(&mut buf) {
        count(&buf[..n], &mut out);
    }
    out.elapsed_ms = start.elapsed().as_millis() as u64;
    Ok(out)
}

fn drain(socket: &UdpSocket, buf: &mut [u8], out: &mut Outcome) -> std::io::Result<()> {
    loop {
        match socket.recv(buf) {
            Ok(n) => count(&buf[..n], out),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

fn count(d: &[u8], out: &mut Outcome) {
    out.replies += 1;
    out.reply_bytes += d.len() as u64;
    if d.len() >= 5 && d[0] & 0x80 != 0 && d[1..5] == [0, 0, 0, 0] {
        out.version_negotiations += 1;
    }
}
