//! Turns what a driver observed into checks against a scenario's `expect`.

use std::time::Instant;

use serde::Serialize;

use crate::driver::{Blind, Run};
use crate::hostile::{StaleTokens, TokenVerdict as V};
use crate::netem::amplification::Exposure;
use crate::scenario::{CloseExpect, Expect, HandshakeExpect};
use echo_client::{Close, Handshake, Migration};

/// One expectation, checked.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Check {
    /// Which connection and expectation, e.g. `conn 2/10: close`.
    pub name: String,
    /// True also for a skipped check.
    pub passed: bool,
    pub expected: String,
    pub actual: String,
    /// Why the driver could not observe this (the check was not made).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Not passed, and not the server's doing: the harness could not make
    /// the check (a client stack that crashed, a server it could not start).
    /// The case is then an `error`, unless a check the server failed makes
    /// it a `fail`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub error: bool,
}

impl Check {
    /// A check that failed.
    pub fn failed(name: &str, expected: impl Into<String>, actual: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            passed: false,
            expected: expected.into(),
            actual: actual.into(),
            skipped: None,
            error: false,
        }
    }

    /// A check the harness could not make, for a reason that is not the
    /// server's behaviour.
    pub fn errored(name: &str, expected: impl Into<String>, actual: impl Into<String>) -> Check {
        Check {
            error: true,
            ..Check::failed(name, expected, actual)
        }
    }

    /// Failed by the server: not passed, and not the harness's own error.
    pub fn failed_by_server(&self) -> bool {
        !self.passed && !self.error
    }

    /// A check that was not made, and why.
    pub fn skipped(name: &str, expected: impl Into<String>, why: impl Into<String>) -> Check {
        let why = why.into();
        Check {
            name: name.into(),
            passed: true,
            expected: expected.into(),
            actual: why.clone(),
            skipped: Some(why),
            error: false,
        }
    }
}

fn show_close(c: &Option<Close>) -> String {
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
fn not_completed(obs: &echo_client::Observation) -> String {
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
fn transport_error_name(c: &Close) -> Option<&'static str> {
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
fn ended(obs: &echo_client::Observation) -> String {
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

fn preview(b: &[u8]) -> String {
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

/// Checks one connection's run. `label` prefixes every check name.
pub fn judge(label: &str, expect: &Expect, run: &Run, blind: &Blind) -> Vec<Check> {
    let obs = &run.obs;
    let mut checks = Vec::new();
    let mut check = |what: &str, passed: bool, expected: String, actual: String| {
        checks.push(Check {
            name: format!("{label}{what}"),
            passed,
            expected,
            actual,
            skipped: None,
            error: false,
        })
    };
    let mut skipped = Vec::new();
    let mut blind_to = |what: &str, why: &Option<String>| match why {
        Some(why) => {
            skipped.push(Check {
                name: format!("{label}{what}"),
                passed: true,
                expected: String::new(),
                actual: String::new(),
                skipped: Some(why.clone()),
                error: false,
            });
            true
        }
        None => false,
    };
    let bidi: Vec<(usize, &echo_client::StreamObservation)> = obs
        .streams
        .iter()
        .enumerate()
        .filter(|(_, s)| s.id & 0x2 == 0)
        .collect();

    if let Some(h) = expect.handshake {
        let completed = matches!(obs.handshake, Handshake::Completed { .. });
        let actual = match &obs.handshake {
            Handshake::Completed { alpn, .. } => format!("completed with ALPN \"{alpn}\""),
            Handshake::NotCompleted => not_completed(obs),
        };
        match h {
            HandshakeExpect::Accepted => check("handshake", completed, "completed".into(), actual),
            HandshakeExpect::Rejected => check(
                "handshake",
                !completed && obs.peer_close.is_some(),
                "rejected with a CONNECTION_CLOSE".into(),
                actual,
            ),
        }
    }
    if expect.alpn.is_some() && blind_to("alpn", &blind.alpn) {
    } else if let Some(want) = &expect.alpn {
        let got = match &obs.handshake {
            Handshake::Completed { alpn, .. } => alpn.clone(),
            Handshake::NotCompleted => "(no handshake)".into(),
        };
        check(
            "alpn",
            &got == want,
            format!("\"{want}\""),
            format!("\"{got}\""),
        );
    }
    for (what, want, got) in [
        ("resumed", expect.resumed, obs.resumed),
        (
            "early_data_accepted",
            expect.early_data_accepted,
            obs.early_data_accepted,
        ),
    ] {
        if let Some(want) = want {
            let said = |b: bool| match (what, b) {
                ("resumed", true) => "resumed (no certificate)",
                ("resumed", false) => "a full handshake",
                (_, true) => "0-RTT data accepted",
                (_, false) => "0-RTT data turned down",
            };
            check(
                what,
                got == Some(want),
                said(want).into(),
                got.map_or("not known (no handshake, or no 0-RTT sent)", said)
                    .into(),
            );
        }
    }
    if let Some(want) = expect.migrated {
        let forbidden = (obs.migration == Some(Migration::Forbidden)).then(|| {
            "the server forbids active migration (disable_active_migration), as RFC 9000 \
             §18.2 lets it"
                .to_string()
        });
        if !blind_to("migrated", &forbidden) {
            check(
                "migrated",
                (obs.migration == Some(Migration::Done)) == want,
                if want {
                    "moved to the new address after validating the path".into()
                } else {
                    "not moved".into()
                },
                match &obs.migration {
                    Some(Migration::Done) => "moved".into(),
                    Some(Migration::Failed(why)) => format!("not moved: {why}"),
                    _ => "not tried: its moment never came".into(),
                },
            );
        }
    }
    if let Some(want) = expect.version_negotiated {
        let (answered, actual) = match (&obs.version_negotiation, &obs.handshake) {
            (Some(versions), _) => {
                let list: Vec<String> = versions.iter().map(|v| format!("{v:#x}")).collect();
                (
                    versions.contains(&echo_client::initial::VERSION_1),
                    format!("a Version Negotiation listing {}", list.join(", ")),
                )
            }
            (None, Handshake::Completed { .. }) => (
                true,
                "an answer in the version offered (a ServerHello)".into(),
            ),
            (None, _) if obs.peer_close.is_some() => (false, show_close(&obs.peer_close)),
            (None, _) if obs.unreachable => {
                (false, "nothing listens (ICMP port unreachable)".into())
            }
            (None, _) => (
                false,
                "no answer: neither one in the version offered nor a Version Negotiation".into(),
            ),
        };
        check(
            "version_negotiated",
            answered == want,
            if want {
                "an answer in the version offered, or a Version Negotiation listing version 1 \
                 (RFC 9000 §6.1, RFC 9369 §4)"
                    .into()
            } else {
                "no usable answer to the version offered".into()
            },
            actual,
        );
    }
    if let Some(want) = expect.stateless_reset {
        let no_token = (obs.reset_token_given == Some(false)).then(|| {
            "the server gave no stateless reset token, so it cannot reset (RFC 9000 §10.3 \
             leaves resets optional)"
                .to_string()
        });
        if !blind_to("stateless_reset", &no_token) {
            check(
                "stateless_reset",
                obs.stateless_reset == want,
                if want {
                    "a stateless reset for the old connection (RFC 9000 §10.3)".into()
                } else {
                    "no stateless reset".into()
                },
                ended(obs),
            );
        }
    }
    if let Some(want) = expect.echo {
        for (i, s) in &bidi {
            let same = s.received == run.sent[*i];
            check(
                &format!("echo[stream {}]", s.id),
                same == want,
                if want {
                    format!("exactly what was sent: {}", preview(&run.sent[*i]))
                } else {
                    "anything but an exact echo".into()
                },
                preview(&s.received),
            );
        }
    }
    if expect.fin.is_some() && blind_to("fin", &blind.fin) {
    } else if let Some(want) = expect.fin {
        for (_, s) in &bidi {
            check(
                &format!("fin[stream {}]", s.id),
                s.fin_received == want,
                if want {
                    "FIN from the server"
                } else {
                    "no FIN from the server"
                }
                .into(),
                match (s.fin_received, s.reset) {
                    (true, _) => "FIN received".into(),
                    (false, Some(c)) => format!("no FIN; stream reset with {c:#x}"),
                    (false, None) => "no FIN".into(),
                },
            );
        }
    }
    if expect.nothing_before_fin == Some(true)
        && blind_to("nothing_before_fin", &blind.nothing_before_fin)
    {
    } else if expect.nothing_before_fin == Some(true) {
        for (_, s) in &bidi {
            check(
                &format!("nothing_before_fin[stream {}]", s.id),
                s.received_before_fin == 0,
                "no bytes before the client's FIN".into(),
                format!("{} bytes before the client's FIN", s.received_before_fin),
            );
        }
    }
    if expect.no_truncated_echo == Some(true) {
        for (i, s) in &bidi {
            let sent = &run.sent[*i];
            let truncated = !s.received.is_empty()
                && s.received.len() < sent.len()
                && sent.starts_with(&s.received);
            check(
                &format!("no_truncated_echo[stream {}]", s.id),
                !truncated,
                "no echo of a truncated prefix".into(),
                preview(&s.received),
            );
        }
    }
    if expect.close.is_some() && blind_to("close", &blind.close) {
    } else if let Some(want) = &expect.close {
        let got = &obs.peer_close;
        let (passed, expected) = match want {
            CloseExpect::NoError => (
                got.as_ref().is_some_and(|g| g.code == 0),
                "a NO_ERROR close (0x0, application or transport)".into(),
            ),
            CloseExpect::App(c) => (
                got.as_ref().is_some_and(|g| g.app && g.code == c.value()),
                format!("application close {:#x}", c.value()),
            ),
            CloseExpect::Transport(c) => (
                got.as_ref().is_some_and(|g| !g.app && g.code == c.value()),
                format!("transport close {:#x}", c.value()),
            ),
            CloseExpect::AnyAppError => (
                got.as_ref().is_some_and(|g| g.app && g.code != 0),
                "application close with a non-zero code".into(),
            ),
            CloseExpect::Any => (got.is_some(), "a CONNECTION_CLOSE from the server".into()),
            CloseExpect::None => (got.is_none(), "no CONNECTION_CLOSE from the server".into()),
        };
        check("close", passed, expected, show_close(got));
    }
    if expect.stop_sending.is_some() && blind_to("stop_sending", &blind.stop_sending) {
    } else if let Some(code) = &expect.stop_sending {
        for s in obs.streams.iter().filter(|s| s.id & 0x2 != 0) {
            check(
                &format!("stop_sending[stream {}]", s.id),
                s.stop_sending == Some(code.value()),
                format!("STOP_SENDING {:#x}", code.value()),
                s.stop_sending
                    .map_or("no STOP_SENDING".into(), |c| format!("STOP_SENDING {c:#x}")),
            );
        }
    }
    if let Some(ms) = expect.within_ms {
        match echo_done(obs) {
            Ok(Some(took)) => {
                let took = took.as_millis() as u64;
                check(
                    "within_ms",
                    took <= ms,
                    format!("the echo's FIN at most {ms} ms after the client started"),
                    format!("after {took} ms"),
                );
            }
            Ok(None) => check(
                "within_ms",
                false,
                format!("the echo's FIN at most {ms} ms after the client started"),
                format!(
                    "no FIN from the server in the connection's {} ms",
                    obs.elapsed.as_millis()
                ),
            ),
            Err(why) => {
                blind_to("within_ms", &Some(why));
            }
        }
    }
    checks.extend(skipped);
    if obs.deadline_hit && checks.iter().any(|c| !c.passed) {
        checks.push(Check {
            name: format!("{label}deadline"),
            passed: false,
            expected: "connection finished before the scenario timeout".into(),
            actual: format!("still running after {} ms", obs.elapsed.as_millis()),
            skipped: None,
            error: false,
        });
    }
    checks
}

/// From the client's start to the server's last FIN on a bidirectional
/// stream: `Ok(None)` when one never came, `Err` when the client cannot
/// tell the times.
fn echo_done(obs: &echo_client::Observation) -> Result<Option<std::time::Duration>, String> {
    let cannot = || "this client cannot tell when the echo's FIN arrived".to_string();
    let start = obs.started_at.ok_or_else(cannot)?;
    let bidi = obs.streams.iter().filter(|s| s.id & 0x2 == 0);
    let mut last = None;
    for s in bidi {
        match (s.fin_received, s.fin_received_at) {
            (false, _) => return Ok(None),
            (true, None) => return Err(cannot()),
            (true, Some(at)) => last = last.max(Some(at)),
        }
    }
    Ok(last.map(|at| at.saturating_duration_since(start)))
}

/// When one connection was open: its handshake completed, its first FIN.
#[derive(Debug, Clone, Copy, Default)]
pub struct Span {
    pub established: Option<Instant>,
    pub first_fin: Option<Instant>,
}

/// The `together` check: every handshake completed before the first FIN.
pub fn together(spans: &[Span], blind: Option<String>) -> Check {
    let total = spans.len();
    if let Some(why) = blind {
        return Check {
            name: "together".into(),
            passed: true,
            expected: format!("all {total} connections open at once"),
            actual: "not observed".into(),
            skipped: Some(why),
            error: false,
        };
    }
    let opened: Vec<Instant> = spans.iter().filter_map(|s| s.established).collect();
    let first_fin = spans.iter().filter_map(|s| s.first_fin).min();
    let (passed, actual) = match (opened.iter().max(), first_fin) {
        _ if opened.len() < total => (
            false,
            format!("{} of {total} completed their handshakes", opened.len()),
        ),
        (Some(&last), Some(fin)) if last < fin => (
            true,
            format!(
                "all {total} open at once for {} ms before the first FIN",
                (fin - last).as_millis()
            ),
        ),
        (Some(&last), Some(fin)) => (
            false,
            format!(
                "the last handshake completed {} ms after the first FIN was sent",
                (last - fin).as_millis()
            ),
        ),
        _ => (false, "no connection sent FIN".into()),
    };
    Check {
        name: "together".into(),
        passed,
        expected: format!("all {total} connections open at once"),
        actual,
        skipped: None,
        error: false,
    }
}

/// Checks on misused Retry tokens: the control must be accepted, no misused
/// token may be.
pub fn token_checks(st: &StaleTokens, close_required: bool) -> Vec<Check> {
    let describe = |vs: &[V]| {
        let count = |f: &dyn Fn(&V) -> bool| vs.iter().filter(|v| f(v)).count();
        let mut parts = Vec::new();
        for (n, what) in [
            (count(&|v| *v == V::Accepted), "accepted".to_string()),
            (
                count(&|v| *v == V::Refused(0xb)),
                "closed with INVALID_TOKEN".into(),
            ),
            (
                count(&|v| matches!(v, V::Refused(c) if *c != 0xb)),
                "closed with another error".into(),
            ),
            (count(&|v| *v == V::Ignored), "ignored".into()),
            (count(&|v| *v == V::NoRetry), "got no Retry".into()),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        parts.join(", ")
    };
    let no_retry = st.control == V::NoRetry;
    let skipped = no_retry.then(|| "the server sent no Retry, so it issued no tokens".to_string());
    let how = if close_required {
        "closed with INVALID_TOKEN"
    } else {
        "turned down"
    };
    let misuse = |name: &str, expected: String, vs: &[V]| Check {
        name: format!("attack: {name}"),
        passed: no_retry
            || vs
                .iter()
                .all(|v| *v == V::Refused(0xb) || (!close_required && *v != V::Accepted)),
        expected: format!("{expected} all {how}"),
        actual: describe(vs),
        skipped: skipped.clone(),
        error: false,
    };
    vec![
        Check {
            name: "attack: token control".into(),
            passed: no_retry || st.control == V::Accepted,
            expected: "a Retry token used at once from its own address to be accepted".into(),
            actual: describe(std::slice::from_ref(&st.control)),
            skipped: skipped.clone(),
            error: false,
        },
        misuse(
            "replayed tokens",
            format!(
                "{} tokens sent from another port all turned down",
                st.replayed.len()
            ),
            &st.replayed,
        ),
        misuse(
            "expired tokens",
            format!(
                "{} tokens sent back after {} ms",
                st.expired.len(),
                st.age_ms
            ),
            &st.expired,
        ),
    ]
}

/// The relay's measurement of what the server sent unvalidated clients.
pub fn amplification_check(worst: Option<Exposure>, limit: f64) -> Check {
    let (passed, actual) = match worst {
        None => (true, "nothing sent to an unvalidated client".to_string()),
        Some(e) => (
            e.factor() <= limit,
            format!(
                "{:.2}x: client {} was sent {} B for {} B received before its address was validated",
                e.factor(),
                e.client + 1,
                e.sent,
                e.received
            ),
        ),
    };
    Check {
        name: "amplification".into(),
        passed,
        expected: format!("at most {limit}x before address validation (measured at the relay)"),
        actual,
        skipped: None,
        error: false,
    }
}

/// Whether `network.rebind` moved every client while it was still sending,
/// so the exact echo (checked elsewhere) arrived at the new address.
pub fn rebind_check(rebind: &crate::scenario::Rebind, r: &crate::netem::relay::Rebinds) -> Check {
    let to = rebind
        .address
        .map_or("a new port".to_string(), |ip| format!("{ip}"));
    let passed = r.error.is_none() && r.clients > 0 && r.moved == r.clients && r.sent_from_new > 0;
    let mut actual = match &r.error {
        Some(e) => e.clone(),
        None if r.moved < r.clients => format!(
            "{} of {} client(s) moved: the rest had finished before {} ms",
            r.moved, r.clients, rebind.after_ms
        ),
        None if r.sent_from_new == 0 => {
            "nothing was sent from the new address: the connection had ended".to_string()
        }
        None => format!(
            "{} client(s) moved; {} datagrams reached the server from the new address",
            r.moved, r.sent_from_new
        ),
    };
    if r.to_old_address > 0 {
        actual += &format!(
            "; the server sent {} datagrams to the old address afterwards (lost)",
            r.to_old_address
        );
    }
    Check {
        name: "rebinding".into(),
        passed,
        expected: format!(
            "each client moved to {to} {} ms after its first datagram, mid-connection",
            rebind.after_ms
        ),
        actual,
        skipped: None,
        error: false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn spans(open_ms: &[u64], fin_ms: &[u64]) -> Vec<Span> {
        let t0 = Instant::now();
        let at = |ms: u64| Some(t0 + Duration::from_millis(ms));
        open_ms
            .iter()
            .zip(fin_ms)
            .map(|(&o, &f)| Span {
                established: at(o),
                first_fin: at(f),
            })
            .collect()
    }

    fn closed_with(close: Option<Close>) -> Vec<Check> {
        let run = Run {
            sent: Vec::new(),
            obs: echo_client::Observation {
                handshake: Handshake::Completed {
                    alpn: "http/1.0".into(),
                    after: Duration::ZERO,
                },
                peer_close: close,
                ..echo_client::Observation::nothing()
            },
        };
        let expect = Expect {
            close: Some(CloseExpect::NoError),
            ..Expect::default()
        };
        judge("", &expect, &run, &Blind::default())
    }

    #[test]
    fn a_handshake_the_client_gave_up_says_why() {
        let run = |local: Option<Close>| Run {
            sent: Vec::new(),
            obs: echo_client::Observation {
                handshake: Handshake::NotCompleted,
                local_close: local,
                ..echo_client::Observation::nothing()
            },
        };
        let expect = Expect {
            handshake: Some(HandshakeExpect::Accepted),
            ..Expect::default()
        };
        let tp = Close {
            app: false,
            code: 0x8,
            reason: String::new(),
        };
        let checks = judge("", &expect, &run(Some(tp)), &Blind::default());
        let hs = checks.iter().find(|c| c.name == "handshake").unwrap();
        assert!(!hs.passed);
        assert_eq!(
            hs.actual,
            "not completed (no CONNECTION_CLOSE from the server; the client closed the \
             connection itself: transport close 0x8 TRANSPORT_PARAMETER_ERROR)"
        );
        let checks = judge("", &expect, &run(None), &Blind::default());
        let hs = checks.iter().find(|c| c.name == "handshake").unwrap();
        assert_eq!(
            hs.actual,
            "not completed (no CONNECTION_CLOSE from the server)"
        );
    }

    /// A connection that started at 0, got the echo's FIN at `fin_ms` (if
    /// any) and ended at `life_ms`, judged against `within_ms`.
    fn within(within_ms: u64, fin_ms: Option<u64>, life_ms: u64) -> Check {
        let t0 = Instant::now();
        let stream = echo_client::StreamObservation {
            fin_received: fin_ms.is_some(),
            fin_received_at: fin_ms.map(|ms| t0 + Duration::from_millis(ms)),
            ..Default::default()
        };
        let run = Run {
            sent: Vec::new(),
            obs: echo_client::Observation {
                started_at: Some(t0),
                streams: vec![stream],
                elapsed: Duration::from_millis(life_ms),
                ..echo_client::Observation::nothing()
            },
        };
        let expect = Expect {
            within_ms: Some(within_ms),
            ..Expect::default()
        };
        let checks = judge("", &expect, &run, &Blind::default());
        checks.into_iter().find(|c| c.name == "within_ms").unwrap()
    }

    #[test]
    fn within_ms_counts_to_the_echo_s_fin_not_to_the_close() {
        // Echoed at once, the close left to the client: a second later.
        let quick = within(1000, Some(20), 1026);
        assert!(quick.passed, "{quick:?}");
        assert_eq!(quick.actual, "after 20 ms");
        let slow = within(1000, Some(1500), 1600);
        assert!(!slow.passed && !slow.error, "{slow:?}");
        let never = within(1000, None, 300);
        assert!(!never.passed, "{never:?}");
        assert!(never.actual.contains("no FIN"), "{never:?}");
    }

    #[test]
    fn within_ms_is_skipped_by_a_client_that_cannot_tell_the_time() {
        let t0 = Instant::now();
        let run = Run {
            sent: Vec::new(),
            obs: echo_client::Observation {
                streams: vec![echo_client::StreamObservation {
                    fin_received: true,
                    fin_received_at: Some(t0),
                    ..Default::default()
                }],
                ..echo_client::Observation::nothing()
            },
        };
        let expect = Expect {
            within_ms: Some(10),
            ..Expect::default()
        };
        let checks = judge("", &expect, &run, &Blind::default());
        let c = checks.iter().find(|c| c.name == "within_ms").unwrap();
        assert!(c.passed && c.skipped.is_some(), "{c:?}");
    }

    #[test]
    fn no_error_takes_an_application_or_a_transport_close_with_code_zero() {
        let close = |app, code| {
            Some(Close {
                app,
                code,
                reason: String::new(),
            })
        };
        let passed = |c| closed_with(c).iter().all(|c| c.passed);
        assert!(passed(close(true, 0)));
        assert!(passed(close(false, 0)), "SSL_shutdown's transport NO_ERROR");
        assert!(!passed(close(true, 1)));
        assert!(!passed(close(false, 0x178)));
        assert!(!passed(None));
    }

    #[test]
    fn together_passes_when_every_handshake_precedes_every_fin() {
        let c = together(&spans(&[0, 10, 20], &[30, 25, 40]), None);
        assert!(c.passed, "{c:?}");
        assert_eq!(c.actual, "all 3 open at once for 5 ms before the first FIN");
    }

    #[test]
    fn together_fails_when_one_opened_after_another_sent_fin() {
        let c = together(&spans(&[0, 50], &[10, 60]), None);
        assert!(!c.passed);
        assert_eq!(
            c.actual,
            "the last handshake completed 40 ms after the first FIN was sent"
        );
    }

    #[test]
    fn together_fails_when_a_handshake_never_completed() {
        let mut s = spans(&[0, 1], &[5, 5]);
        s.push(Span::default());
        let c = together(&s, None);
        assert!(!c.passed);
        assert_eq!(c.actual, "2 of 3 completed their handshakes");
    }

    #[test]
    fn together_is_skipped_for_a_blind_driver() {
        let c = together(&[Span::default()], Some("cannot tell".into()));
        assert!(c.passed);
        assert_eq!(c.skipped.as_deref(), Some("cannot tell"));
    }

    fn tokens(control: V, misused: V) -> StaleTokens {
        StaleTokens {
            control,
            replayed: vec![misused.clone(), V::Ignored],
            expired: vec![V::Refused(0xb), misused],
            age_ms: 2500,
        }
    }

    #[test]
    fn token_checks_pass_when_only_the_control_is_accepted() {
        let c = token_checks(&tokens(V::Accepted, V::Ignored), false);
        assert!(c.iter().all(|c| c.passed && c.skipped.is_none()), "{c:?}");
        assert_eq!(c[2].actual, "1 closed with INVALID_TOKEN, 1 ignored");
    }

    #[test]
    fn token_checks_fail_on_an_accepted_misuse_or_a_refused_control() {
        let c = token_checks(&tokens(V::Accepted, V::Accepted), false);
        assert!(c[0].passed && !c[1].passed && !c[2].passed, "{c:?}");
        assert_eq!(c[1].actual, "1 accepted, 1 ignored");
        let c = token_checks(&tokens(V::Ignored, V::Ignored), false);
        assert!(!c[0].passed, "{c:?}");
    }

    #[test]
    fn token_checks_can_require_invalid_token_rather_than_silence() {
        let c = token_checks(&tokens(V::Accepted, V::Ignored), true);
        assert!(!c[1].passed && !c[2].passed, "{c:?}");
        assert!(c[1].expected.ends_with("all closed with INVALID_TOKEN"));
        let c = token_checks(&tokens(V::Accepted, V::Refused(0xb)), true);
        assert!(!c[1].passed && c[2].passed, "{c:?}");
    }

    #[test]
    fn token_checks_are_skipped_without_a_retry() {
        let c = token_checks(&tokens(V::NoRetry, V::NoRetry), true);
        assert!(c.iter().all(|c| c.passed && c.skipped.is_some()), "{c:?}");
    }

    #[test]
    fn amplification_check_compares_with_the_limit() {
        let e = |received, sent| {
            Some(Exposure {
                client: 0,
                received,
                sent,
            })
        };
        assert!(amplification_check(e(1200, 3600), 3.0).passed);
        let c = amplification_check(e(1200, 3601), 3.0);
        assert!(!c.passed);
        assert!(
            c.actual.starts_with("3.00x: client 1 was sent 3601 B"),
            "{}",
            c.actual
        );
        assert!(amplification_check(None, 3.0).passed);
    }

    #[test]
    fn a_rebinding_that_never_happened_mid_connection_fails() {
        use crate::netem::relay::Rebinds;
        let rebind = crate::scenario::Rebind {
            after_ms: 400,
            address: Some("127.0.0.2".parse().unwrap()),
        };
        let done = Rebinds {
            clients: 1,
            moved: 1,
            sent_from_new: 9,
            to_old_address: 2,
            error: None,
        };
        let c = rebind_check(&rebind, &done);
        assert!(c.passed, "{c:?}");
        assert!(c.actual.contains("2 datagrams to the old address"), "{c:?}");
        assert!(c.expected.contains("127.0.0.2 400 ms"), "{c:?}");
        let late = Rebinds {
            moved: 0,
            sent_from_new: 0,
            ..done.clone()
        };
        assert!(!rebind_check(&rebind, &late).passed);
        let ended = Rebinds {
            sent_from_new: 0,
            ..done.clone()
        };
        assert!(!rebind_check(&rebind, &ended).passed);
        let failed = Rebinds {
            error: Some("cannot move a client to 127.0.0.2: denied".into()),
            ..done
        };
        let c = rebind_check(&rebind, &failed);
        assert!(!c.passed && c.actual.contains("denied"), "{c:?}");
    }
}
