//! What was observed, in the words checks report it with.

use echo_client::{Close, Observation};

pub(super) fn show_close(c: &Option<Close>) -> String {
    match c {
        None => "no CONNECTION_CLOSE from the server".into(),
        Some(c) => format!(
            "{} close {:#x}{}",
            if c.app { "application" } else { "transport" },
            c.code,
            if c.reason.is_empty() {
                String::new()
            } else {
                format!(" \"{}\"", c.reason)
            }
        ),
    }
}

/// A handshake that did not complete, in words: the server's close, or
/// that there was none, and the client's own close when it gave up first
/// (e.g. on the server's transport parameters).
pub(super) fn not_completed(obs: &Observation) -> String {
    match (&obs.peer_close, &obs.local_close) {
        (None, Some(local)) => format!(
            "not completed (no CONNECTION_CLOSE from the server; the client closed the \
             connection itself: {}{})",
            show_close(&Some(local.clone())),
            transport_error_name(local).map_or(String::new(), |n| format!(" {n}"))
        ),
        (peer, _) => format!("not completed ({})", show_close(peer)),
    }
}

/// RFC 9000 §20.1's name for a transport error code below 0x100.
pub(super) fn transport_error_name(c: &Close) -> Option<&'static str> {
    const NAMES: [&str; 17] = [
        "NO_ERROR",
        "INTERNAL_ERROR",
        "CONNECTION_REFUSED",
        "FLOW_CONTROL_ERROR",
        "STREAM_LIMIT_ERROR",
        "STREAM_STATE_ERROR",
        "FINAL_SIZE_ERROR",
        "FRAME_ENCODING_ERROR",
        "TRANSPORT_PARAMETER_ERROR",
        "CONNECTION_ID_LIMIT_ERROR",
        "PROTOCOL_VIOLATION",
        "INVALID_TOKEN",
        "APPLICATION_ERROR",
        "CRYPTO_BUFFER_EXCEEDED",
        "KEY_UPDATE_ERROR",
        "AEAD_LIMIT_REACHED",
        "NO_VIABLE_PATH",
    ];
    (!c.app)
        .then(|| NAMES.get(c.code as usize).copied())
        .flatten()
}

/// How a connection ended, in words.
pub(super) fn ended(obs: &Observation) -> String {
    if obs.stateless_reset {
        "ended by a stateless reset".into()
    } else if obs.peer_close.is_some() {
        format!("no reset; {}", show_close(&obs.peer_close))
    } else if obs.idle_timed_out {
        "no reset: the connection idled out".into()
    } else if obs.deadline_hit {
        "no reset before the case's deadline".into()
    } else if obs.unreachable {
        "no reset: nothing listened (ICMP port unreachable)".into()
    } else {
        "no reset".into()
    }
}

pub(super) fn preview(b: &[u8]) -> String {
    const MAX: usize = 32;
    let shown: String = String::from_utf8_lossy(&b[..b.len().min(MAX)])
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    format!(
        "{} bytes \"{}{}\"",
        b.len(),
        shown,
        if b.len() > MAX { "..." } else { "" }
    )
}
