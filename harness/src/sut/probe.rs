//! The harness's own check that a server is up: a client like any other.
//!
//! A probe is a complete small echo: both of the guide's ALPNs offered
//! (`http/1.0` first, so a server set to accept only one still answers), a
//! few bytes with FIN, the echo read, a NO_ERROR close. So a server that
//! serves normal clients is never hurt by being checked. Closing without opening a stream is a
//! scenario of its own (`robust/close-without-stream`), not something every
//! readiness check does to a server.

use std::time::{Duration, Instant};

use echo_client::{ClientConfig, Handshake, Plan, StreamPlan};

use crate::driver::Target;

/// What the payload of a probe is.
pub const PROBE_BYTES: &[u8] = b"harness probe";

/// How a probe went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Handshake, exact echo with FIN.
    Served,
    /// The handshake completed but the echo was not right; says what was.
    Answered(String),
    /// Nothing listens there (ICMP port unreachable).
    Unreachable,
    /// No handshake within the time given; says what the client saw.
    Silent(String),
}

/// The name of the TLS alert a CRYPTO_ERROR carries (RFC 9001 §4.8), for
/// the ones a client sends about a certificate.
fn tls_alert(code: u64) -> Option<&'static str> {
    Some(match code.checked_sub(0x100)? {
        42 => "bad_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        48 => "unknown_ca",
        _ => return None,
    })
}

/// How long a probe must go unanswered before its silence means a socket
/// is bound there: an empty port's refusal (ICMP port unreachable) comes
/// back on loopback within a millisecond, but a probe with less time left
/// than this may end before it reads the refusal (seen under CPU load with
/// under a millisecond left), so its silence says nothing.
const HEARS_A_REFUSAL: Duration = Duration::from_millis(200);

/// Probes `target` until it answers a handshake, at most until
/// `deadline`. `gone` is asked before each try whether the server has
/// already failed in a way no probe can mend (its process exited).
pub fn await_handshake(
    target: &Target,
    deadline: Instant,
    mut gone: impl FnMut() -> Option<String>,
) -> Result<(), NotReady> {
    let mut last = None;
    let mut reached = false;
    loop {
        if let Some(why) = gone() {
            return Err(NotReady::Unstartable(why));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let why = format!(
                "server did not complete a QUIC handshake before --ready-timeout{}",
                last.map_or(String::new(), |l| format!(" (last try: {l})"))
            );
            // Nothing ever listened where it was told to: the harness
            // reached no server to judge (a template that ignores {host}).
            return Err(match reached {
                true => NotReady::Unresponsive(why),
                false => NotReady::Unstartable(why),
            });
        }
        let budget = left.min(Duration::from_secs(1));
        match probe(target, budget) {
            Probe::Served | Probe::Answered(_) => return Ok(()),
            // Not bound yet: ECONNREFUSED comes back at once.
            Probe::Unreachable => {
                last = Some("nothing listens there".to_string());
                std::thread::sleep(Duration::from_millis(20));
            }
            Probe::Silent(why) if budget >= HEARS_A_REFUSAL => {
                reached = true;
                last = Some(why);
            }
            // Too short to tell a bound socket from an empty port.
            Probe::Silent(_) => {}
        }
    }
}

/// Why a server the harness started is not ready for a case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// It could not be run, exited before it answered, or nothing listened
    /// where it was told to: no verdict on the server (an `error`).
    #[error("{0}")]
    Unstartable(String),
    /// It ran where it was told but completed no handshake in time, or died
    /// right after serving its readiness check: its own behaviour (a
    /// `fail`).
    #[error("{0}")]
    Unresponsive(String),
}

/// The harness's own trouble starting it (no free port, no binary, a
/// template that is no command line): no verdict on the server.
impl From<String> for NotReady {
    fn from(why: String) -> NotReady {
        NotReady::Unstartable(why)
    }
}

impl NotReady {
    /// The same kind, its words prefixed (`prefix` then the reason).
    pub fn context(self, prefix: &str) -> NotReady {
        match self {
            NotReady::Unstartable(w) => NotReady::Unstartable(format!("{prefix}{w}")),
            NotReady::Unresponsive(w) => NotReady::Unresponsive(format!("{prefix}{w}")),
        }
    }

    /// The same kind, its words followed by `suffix`.
    pub fn then(self, suffix: &str) -> NotReady {
        match self {
            NotReady::Unstartable(w) => NotReady::Unstartable(w + suffix),
            NotReady::Unresponsive(w) => NotReady::Unresponsive(w + suffix),
        }
    }
}

/// One echo against `target`, within `within` in all. The certificate is
/// not checked: a probe asks whether the server is up, not whether
/// clients trust it (that is [`verified`]).
pub fn probe(target: &Target, within: Duration) -> Probe {
    probe_with(target, within, echo_client::Trust::Nothing)
}

/// Whether a client checking the certificate as the cases will
/// (`target.trust`, `target.server_name`) completes a handshake, or what
/// it refused.
pub fn verified(target: &Target, within: Duration) -> Result<(), String> {
    match probe_with(target, within, target.trust.clone()) {
        Probe::Served | Probe::Answered(_) => Ok(()),
        Probe::Unreachable => Err("nothing listens there any more".into()),
        Probe::Silent(why) => Err(why),
    }
}

fn probe_with(target: &Target, within: Duration, trust: echo_client::Trust) -> Probe {
    let cfg = ClientConfig {
        alpn: vec!["http/1.0".into(), "hq-interop".into()],
        server_name: target.server_name.clone(),
        trust,
        ..Default::default()
    };
    let plan = Plan {
        streams: vec![StreamPlan::echo(PROBE_BYTES)],
        deadline: within,
        // The server's close after the echo is not waited for.
        linger: Duration::ZERO,
        ..Default::default()
    };
    let obs = match echo_client::run(target.addr, &cfg, &plan) {
        Ok(o) => o,
        Err(e) => return Probe::Silent(e.to_string()),
    };
    if obs.unreachable {
        return Probe::Unreachable;
    }
    if !matches!(obs.handshake, Handshake::Completed { .. }) {
        return Probe::Silent(match (&obs.local_close, &obs.peer_close) {
            (Some(c), _) if !c.app => format!(
                "the client refused the server's certificate ({:#x}{}{})",
                c.code,
                tls_alert(c.code).map_or(String::new(), |a| format!(", {a}")),
                if c.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", c.reason)
                }
            ),
            (_, Some(c)) => format!("the handshake was refused ({:#x})", c.code),
            _ => format!("no handshake within {} ms", within.as_millis()),
        });
    }
    match obs.streams.first() {
        Some(s) if s.received == PROBE_BYTES && s.fin_received => Probe::Served,
        Some(s) => Probe::Answered(format!(
            "{} of {} bytes echoed{}",
            s.received.len(),
            PROBE_BYTES.len(),
            if s.fin_received {
                " with FIN"
            } else {
                ", no FIN"
            }
        )),
        None => Probe::Answered("no stream".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    fn target(addr: std::net::SocketAddr) -> Target {
        Target::new(addr, "localhost".into(), echo_client::Trust::Nothing)
    }

    #[test]
    fn a_server_that_takes_datagrams_and_never_answers_is_unresponsive() {
        // Bound, so datagrams are taken, but nobody reads or answers them.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let deadline = Instant::now() + Duration::from_millis(400);
        let got = await_handshake(&target(silent.local_addr().unwrap()), deadline, || None);
        assert!(matches!(got, Err(NotReady::Unresponsive(_))), "{got:?}");
    }

    #[test]
    fn nothing_listening_where_it_was_told_is_unstartable() {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        // Closed again: ICMP port unreachable from now on.
        let deadline = Instant::now() + Duration::from_millis(300);
        let got = await_handshake(&target(port), deadline, || None);
        assert!(matches!(got, Err(NotReady::Unstartable(_))), "{got:?}");
        let exited = await_handshake(&target(port), deadline, || Some("exited".into()));
        assert_eq!(exited, Err(NotReady::Unstartable("exited".into())));
    }

    #[test]
    fn a_last_probe_too_short_to_hear_a_refusal_reaches_nothing() {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        // Each try has under a millisecond: too short to read the
        // port-unreachable reply, so its silence says nothing.
        for _ in 0..20 {
            let deadline = Instant::now() + Duration::from_micros(500);
            let got = await_handshake(&target(port), deadline, || None);
            assert!(matches!(got, Err(NotReady::Unstartable(_))), "{got:?}");
        }
    }
}
