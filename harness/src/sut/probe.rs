//! The harness's own check that a server is up: a client like any other.
//!
//! A probe is a complete small echo: both of the guide's ALPNs offered
//! (`http/1.0` first, so a server set to accept only one still answers), a
//! few bytes with FIN, the echo read, a NO_ERROR close. So a server that
//! serves normal clients is never hurt by being checked. Closing without opening a stream is a
//! scenario of its own (`robust/close-without-stream`), not something every
//! readiness check does to a server.

use std::time::Duration;

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

/// One echo against `target`, within `within` in all.
pub fn probe(target: &Target, within: Duration) -> Probe {
    let cfg = ClientConfig {
        alpn: vec!["http/1.0".into(), "hq-interop".into()],
        server_name: target.server_name.clone(),
        ca: None,
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
        return Probe::Silent(match &obs.peer_close {
            Some(c) => format!("the handshake was refused ({:#x})", c.code),
            None => format!("no handshake within {} ms", within.as_millis()),
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
