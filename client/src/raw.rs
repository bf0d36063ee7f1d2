//! A client that offers a hand-built ClientHello (see [`crate::initial`]),
//! so it can leave ALPN out entirely, which quiche cannot, and reports how
//! the server answers. It goes no further than the server's first reply:
//! a CONNECTION_CLOSE (the expected answer to a missing ALPN), a
//! ServerHello (the server went on without ALPN), or silence. It can also
//! misuse the token of a Retry ([`TokenUse`]): replay it from another
//! address, or hold it until it has expired. And it can offer QUIC version
//! 2 (RFC 9369), which quiche cannot: the server answers in version 2 (a
//! ServerHello), or with a Version Negotiation packet.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ring::agreement::{EphemeralPrivateKey, X25519};
use ring::rand::{SecureRandom, SystemRandom};

use crate::initial::{self, Frame, Hello, Keys, Packet};
use crate::{ClientConfig, ClientError, Close, Handshake, Observation};

/// First wait before the ClientHello is sent again; doubles up to a second.
const FIRST_RESEND: Duration = Duration::from_millis(200);

/// Where the exchange stands.
struct Attempt {
    /// The DCID of our very first Initial (what a Retry is checked against).
    odcid: Vec<u8>,
    dcid: Vec<u8>,
    scid: Vec<u8>,
    token: Vec<u8>,
    client: Keys,
    server: Keys,
    next_pn: u32,
    retried: bool,
    version: initial::Version,
}

impl Attempt {
    fn initial(&mut self, frames: &[u8]) -> Vec<u8> {
        let pn = self.next_pn;
        self.next_pn += 1;
        initial::seal_initial(
            &self.client,
            &self.dcid,
            &self.scid,
            &self.token,
            pn,
            frames,
            initial::MIN_INITIAL_DATAGRAM,
        )
    }

    /// Takes a Retry: new DCID, its token, keys derived from the new DCID.
    fn retry(&mut self, scid: Vec<u8>, token: Vec<u8>) {
        self.client = Keys::initial_for(self.version, &scid, true);
        self.server = Keys::initial_for(self.version, &scid, false);
        self.dcid = scid;
        self.token = token;
        self.retried = true;
    }
}

/// What to do with the token of a server's Retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// Send it back at once, as a client should.
    AsGiven,
    /// Send it back at once, but from another UDP port (another address).
    FromAnotherPort,
    /// Send it back from the same address only after this long.
    After(Duration),
}

/// How the server answered our ClientHello.
enum Answer {
    Closed(Close),
    ServerHello,
    VersionNegotiation(Vec<u32>),
}

fn random(rng: &SystemRandom, n: usize) -> Result<Vec<u8>, ClientError> {
    let mut v = vec![0u8; n];
    rng.fill(&mut v)
        .map_err(|_| ClientError::Config("system RNG failed".into()))?;
    Ok(v)
}

/// Sends a ClientHello offering `cfg.alpn` (none at all when it is empty)
/// to `server` and waits up to `deadline` for the answer. The Observation
/// holds the server's CONNECTION_CLOSE if it sent one; a ServerHello shows
/// as a completed handshake with an empty ALPN (the server went ahead), and
/// this client then closes with NO_ERROR so the server can free its state.
pub fn offer_hello(
    server: SocketAddr,
    cfg: &ClientConfig,
    deadline: Duration,
) -> Result<Observation, ClientError> {
    Ok(offer_hello_with(server, cfg, deadline, TokenUse::AsGiven)?.1)
}

/// [`offer_hello`] that also gives up once `cancel` is set.
pub(crate) fn offer_hello_until(
    server: SocketAddr,
    cfg: &ClientConfig,
    deadline: Duration,
    cancel: Option<&crate::Cancel>,
) -> Result<Observation, ClientError> {
    Ok(exchange(server, cfg, deadline, TokenUse::AsGiven, cancel)?.1)
}

/// [`offer_hello`], using a Retry's token as `token_use` says; also tells
/// whether a Retry came.
pub fn offer_hello_with(
    server: SocketAddr,
    cfg: &ClientConfig,
    deadline: Duration,
    token_use: TokenUse,
) -> Result<(bool, Observation), ClientError> {
    exchange(server, cfg, deadline, token_use, None)
}

fn exchange(
    server: SocketAddr,
    cfg: &ClientConfig,
    deadline: Duration,
    token_use: TokenUse,
    cancel: Option<&crate::Cancel>,
) -> Result<(bool, Observation), ClientError> {
    let start = Instant::now();
    let (mut at, crypto) = Attempt::start(cfg)?;
    let mut io = Io::connect(server)?;
    io.socket.send(&at.initial(&crypto))?;
    let ended = io.await_answer(&mut at, &crypto, start + deadline, token_use, cancel)?;
    let obs = observe(ended, &mut io, &mut at, start)?;
    Ok((at.retried, obs))
}

impl Attempt {
    /// A first attempt with fresh IDs and key, and the CRYPTO frame of its
    /// ClientHello.
    fn start(cfg: &ClientConfig) -> Result<(Attempt, Vec<u8>), ClientError> {
        let rng = SystemRandom::new();
        let key = EphemeralPrivateKey::generate(&X25519, &rng)
            .map_err(|_| ClientError::Config("cannot make an X25519 key".into()))?;
        let public = key
            .compute_public_key()
            .map_err(|_| ClientError::Config("cannot make an X25519 key".into()))?;
        let scid = random(&rng, 8)?;
        let dcid = random(&rng, 16)?;
        let alpn: Vec<&[u8]> = cfg.alpn.iter().map(|a| a.as_bytes()).collect();
        let hello = initial::client_hello(&Hello {
            server_name: crate::sni(&cfg.server_name).unwrap_or(""),
            alpn: &alpn,
            scid: &scid,
            x25519: public.as_ref(),
            random: random(&rng, 32)?.try_into().expect("32 bytes"),
            version: cfg.version,
        });
        let at = Attempt {
            odcid: dcid.clone(),
            client: Keys::initial_for(cfg.version, &dcid, true),
            server: Keys::initial_for(cfg.version, &dcid, false),
            dcid,
            scid,
            token: Vec::new(),
            next_pn: 0,
            retried: false,
            version: cfg.version,
        };
        Ok((at, initial::crypto_frame(0, &hello)))
    }
}

/// How the wait for the server's answer ended.
enum Ended {
    Answered(Answer),
    /// ICMP port unreachable: nothing listens.
    Unreachable,
    /// The harness said the server is gone.
    Abandoned,
    Deadline,
}

/// The socket (connected to the server) and when the ClientHello is sent
/// again.
struct Io {
    server: SocketAddr,
    socket: UdpSocket,
    resend: Duration,
    resend_at: Instant,
}

impl Io {
    fn connect(server: SocketAddr) -> Result<Io, ClientError> {
        Ok(Io {
            server,
            socket: Io::socket(server)?,
            resend: FIRST_RESEND,
            resend_at: Instant::now() + FIRST_RESEND,
        })
    }

    fn socket(server: SocketAddr) -> Result<UdpSocket, ClientError> {
        let socket = UdpSocket::bind(crate::any_port_for(server))?;
        socket.connect(server)?;
        Ok(socket)
    }

    /// Sends the ClientHello again when its timer fires, reads what comes
    /// back, until an answer, the deadline, or the server is gone.
    fn await_answer(
        &mut self,
        at: &mut Attempt,
        crypto: &[u8],
        end: Instant,
        token_use: TokenUse,
        cancel: Option<&crate::Cancel>,
    ) -> Result<Ended, ClientError> {
        let is_cancelled = || cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Acquire));
        let mut buf = [0u8; 65536];
        loop {
            let now = Instant::now();
            if now >= end {
                return Ok(Ended::Deadline);
            }
            if now >= self.resend_at {
                match self.socket.send(&at.initial(crypto)) {
                    Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                        return Ok(Ended::Unreachable)
                    }
                    r => r?,
                };
                self.resend = (self.resend * 2).min(Duration::from_secs(1));
                self.resend_at = now + self.resend;
            }
            let mut wait = self.resend_at.min(end) - now + Duration::from_millis(1);
            if cancel.is_some() {
                wait = wait.min(crate::CANCEL_CHECK);
            }
            let gone_before_this_read = is_cancelled();
            if gone_before_this_read {
                wait = Duration::from_millis(1);
            }
            self.socket.set_read_timeout(Some(wait))?;
            let n = match self.socket.recv(&mut buf) {
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    // Read before the socket was last looked at: anything the
                    // server sent before it went away has been read.
                    if gone_before_this_read {
                        return Ok(Ended::Abandoned);
                    }
                    continue;
                }
                // An ICMP port unreachable from an earlier send: nothing
                // listens at that address (any more).
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    return Ok(Ended::Unreachable)
                }
                Err(e) => return Err(e.into()),
            };
            let packets = match initial::open_datagram(&buf[..n], &at.server, &at.odcid) {
                Ok(p) => p,
                Err(e) => {
                    log::debug!("raw client: ignoring a datagram from {}: {e}", self.server);
                    continue;
                }
            };
            if let Some(answer) = self.read(packets, at, crypto, token_use)? {
                return Ok(Ended::Answered(answer));
            }
        }
    }

    /// What one datagram's packets answer, if anything; a Retry is taken
    /// (and its token used as `token_use` says).
    fn read(
        &mut self,
        packets: Vec<Packet>,
        at: &mut Attempt,
        crypto: &[u8],
        token_use: TokenUse,
    ) -> Result<Option<Answer>, ClientError> {
        let mut got = None;
        for p in packets {
            match p {
                Packet::Retry { scid, token } if !at.retried => {
                    at.retry(scid, token);
                    self.resend = FIRST_RESEND;
                    match token_use {
                        TokenUse::After(wait) => {
                            // Sent when the (re)send timer fires.
                            self.resend_at = Instant::now() + wait;
                            continue;
                        }
                        TokenUse::FromAnotherPort => self.socket = Io::socket(self.server)?,
                        TokenUse::AsGiven => {}
                    }
                    self.socket.send(&at.initial(crypto))?;
                    self.resend_at = Instant::now() + self.resend;
                }
                Packet::Initial { dcid, frames, .. } if dcid == at.scid => {
                    for f in frames {
                        match f {
                            Frame::Close { app, code, reason } => {
                                got = Some(Answer::Closed(Close { app, code, reason }))
                            }
                            Frame::Crypto { offset: 0, data } if data.first() == Some(&2) => {
                                got = got.or(Some(Answer::ServerHello))
                            }
                            _ => {}
                        }
                    }
                }
                // RFC 9000 §6.2, §17.2.1: one that lists the version we
                // offered, or is not addressed back to our IDs, is ignored.
                Packet::VersionNegotiation {
                    dcid,
                    scid,
                    versions,
                } if dcid == at.scid
                    && scid == at.odcid
                    && !versions.contains(&at.version.number()) =>
                {
                    got = Some(Answer::VersionNegotiation(versions))
                }
                other => log::debug!("raw client: ignoring {other:?}"),
            }
        }
        Ok(got)
    }
}

/// The observation of how the exchange ended; after a ServerHello this
/// client closes with NO_ERROR so the server can free its state.
fn observe(
    ended: Ended,
    io: &mut Io,
    at: &mut Attempt,
    start: Instant,
) -> Result<Observation, ClientError> {
    let mut obs = Observation {
        unreachable: matches!(ended, Ended::Unreachable),
        abandoned: matches!(ended, Ended::Abandoned),
        elapsed: start.elapsed(),
        ..Observation::nothing()
    };
    match ended {
        Ended::Unreachable | Ended::Abandoned => {}
        Ended::Deadline => obs.deadline_hit = true,
        Ended::Answered(Answer::Closed(c)) => obs.peer_close = Some(c),
        Ended::Answered(Answer::ServerHello) => {
            obs.handshake = Handshake::Completed {
                alpn: String::new(),
                after: obs.elapsed,
            };
            let reason = "raw client stops after the ServerHello";
            io.socket
                .send(&at.initial(&initial::close_frame(0, reason)))?;
            obs.local_close = Some(Close {
                app: false,
                code: 0,
                reason: reason.into(),
            });
        }
        Ended::Answered(Answer::VersionNegotiation(v)) => {
            log::debug!("raw client: server offered only versions {v:x?}");
            obs.version_negotiation = Some(v);
        }
    }
    Ok(obs)
}
