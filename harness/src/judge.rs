//! Turns what a driver observed into checks against a scenario's `expect`.

use serde::Serialize;

use crate::driver::{Blind, Run};
use crate::scenario::{CloseExpect, Expect, HandshakeExpect};
use echo_client::{Close, Handshake};

/// One expectation, checked.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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
            Handshake::NotCompleted => format!("not completed ({})", show_close(&obs.peer_close)),
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
        let took = obs.elapsed.as_millis() as u64;
        check(
            "within_ms",
            took <= ms,
            format!("at most {ms} ms"),
            format!("{took} ms"),
        );
    }
    checks.extend(skipped);
    if obs.deadline_hit && checks.iter().any(|c| !c.passed) {
        checks.push(Check {
            name: format!("{label}deadline"),
            passed: false,
            expected: "connection finished before the scenario timeout".into(),
            actual: format!("still running after {} ms", obs.elapsed.as_millis()),
            skipped: None,
        });
    }
    checks
}
