//! What changes for a server the harness did not start (`--connect`): the
//! cases that need its process are skipped with the reason, heavy load
//! needs `--allow-load` and is reported, and once it stops answering its
//! remaining cases are skipped (nobody here can restart it).

use std::time::{Duration, Instant};

use super::load::{connection_count, heavy};
use super::result::AttackReport;
use crate::driver::Target;
use crate::scenario::Scenario;
use crate::sut::{await_handshake, Remote, ServerSpec};

/// Whether a server the harness did not start has stopped answering, and
/// what was seen. Nothing listening is final; a server that is only silent
/// may be busy finishing the case (a server that serves one client at a
/// time, waiting out a vanished client), so it gets `patience` to answer
/// again before it is given up.
pub(super) fn stopped_answering(target: &Target, patience: Duration) -> Option<String> {
    let seen = super::unanswered(target)?;
    if seen == super::NOTHING_LISTENS {
        return Some(seen);
    }
    await_handshake(target, Instant::now() + patience, || None)
        .err()
        .map(|e| format!("{seen}; then {e}"))
}

/// Why `sc` is not run against `remote` (named `spec.name`), if it is not.
pub(super) fn skip_reason(
    spec: &ServerSpec,
    remote: &Remote,
    sc: &Scenario,
    allow_load: bool,
) -> Option<String> {
    let at = remote.label();
    if let Some(why) = remote.gone() {
        return Some(format!("server at {at} stopped answering ({why})"));
    }
    if !sc.server_args.is_empty() {
        let who = if spec.name == at {
            at.clone()
        } else {
            format!("{} ({at})", spec.name)
        };
        return Some(format!(
            "needs the server started with `{}`; the harness did not start {who}",
            sc.server_args.join(" "),
        ));
    }
    if sc.ipv6 && !remote.addr.is_ipv6() {
        return Some(format!(
            "runs over IPv6; {at} is an IPv4 address (--connect [ADDRESS]:PORT for IPv6)"
        ));
    }
    if let Some(what) = heavy(sc) {
        if !allow_load {
            return Some(format!(
                "sends {what} to a server the harness did not start ({at}); \
                 pass --allow-load to send it"
            ));
        }
    }
    let spoofs = sc.attack.as_ref().is_some_and(|a| a.spoofed > 0);
    if spoofs && !remote.addr.ip().is_loopback() {
        return Some(format!(
            "spoofed clients send from loopback addresses (127.0.0.0/8), which cannot reach {at}"
        ));
    }
    None
}

/// For a heavy case against `remote`: how much was sent, as a note.
pub(super) fn load_note(
    remote: &Remote,
    sc: &Scenario,
    attack: Option<&AttackReport>,
) -> Option<String> {
    heavy(sc)?;
    let mut sent = Vec::new();
    if let Some(a) = attack {
        if a.outcome.sent > 0 {
            sent.push(format!(
                "{} hostile datagrams in {} ms",
                a.outcome.sent, a.outcome.elapsed_ms
            ));
        }
        if let Some(amp) = &a.amplification {
            sent.push(format!(
                "{} spoofed Initials ({} bytes)",
                amp.initials, amp.bytes_sent
            ));
        }
    }
    let n = connection_count(sc);
    match n {
        0 => {}
        1 => sent.push("1 connection".into()),
        n => sent.push(format!("{n} connections")),
    }
    Some(format!(
        "sent to {} (a server the harness did not start): {}",
        remote.label(),
        sent.join(", ")
    ))
}
