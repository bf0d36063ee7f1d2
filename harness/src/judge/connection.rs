//! One connection's run checked against its scenario's `expect`: one
//! function per expectation kind, each told only what it reads.

use std::time::Duration;

use super::check::{Check, Outcome};
use super::words::{ended, not_completed, preview, show_close};
use crate::driver::{Blind, Run};
use crate::scenario::{CloseExpect, Code, Expect, HandshakeExpect};
use echo_client::{Handshake, Migration, Observation, StreamObservation};

/// The checks of one connection as they are made: those made in the
/// order of the kinds, those the driver was blind to after them.
struct Judged<'a> {
    label: &'a str,
    made: Vec<Check>,
    blind: Vec<Check>,
}

impl Judged<'_> {
    fn check(
        &mut self,
        what: &str,
        passed: bool,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) {
        let name = format!("{}{what}", self.label);
        self.made
            .push(Check::verdict(name, passed, expected, actual));
    }

    /// Whether the check `what` cannot be made, for `why`; if so it is
    /// recorded as skipped.
    fn blind_to(&mut self, what: &str, why: &Option<String>) -> bool {
        if let Some(why) = why {
            let name = format!("{}{what}", self.label);
            let skip = Check::new(name, Outcome::Skip(why.clone()), "", "");
            self.blind.push(skip);
        }
        why.is_some()
    }

    /// Every check; a connection cut off by the case's deadline with a
    /// check not passed also says so.
    fn finish(mut self, obs: &Observation) -> Vec<Check> {
        self.made.append(&mut self.blind);
        if obs.deadline_hit && self.made.iter().any(|c| !c.is_ok()) {
            self.check(
                "deadline",
                false,
                "connection finished before the scenario timeout",
                format!("still running after {} ms", obs.elapsed.as_millis()),
            );
        }
        self.made
    }
}

/// The bidirectional streams, each with its index in the run's `sent`.
type Bidi<'a> = [(usize, &'a StreamObservation)];

/// Checks one connection's run. `label` prefixes every check name.
pub fn judge(label: &str, expect: &Expect, run: &Run, blind: &Blind) -> Vec<Check> {
    let obs = &run.obs;
    let mut j = Judged {
        label,
        made: Vec::new(),
        blind: Vec::new(),
    };
    let bidi: Vec<(usize, &StreamObservation)> = obs
        .streams
        .iter()
        .enumerate()
        .filter(|(_, s)| s.id & 0x2 == 0)
        .collect();
    if let Some(h) = expect.handshake {
        handshake(&mut j, h, obs);
    }
    if let Some(want) = &expect.alpn {
        if !j.blind_to("alpn", &blind.alpn) {
            alpn(&mut j, want, obs);
        }
    }
    resumption(&mut j, expect, obs);
    if let Some(want) = expect.migrated {
        migrated(&mut j, want, obs);
    }
    if let Some(want) = expect.version_negotiated {
        version_negotiated(&mut j, want, obs);
    }
    if let Some(want) = expect.stateless_reset {
        stateless_reset(&mut j, want, obs);
    }
    if let Some(want) = expect.echo {
        echo(&mut j, want, &bidi, &run.sent);
    }
    if let Some(want) = expect.fin {
        if !j.blind_to("fin", &blind.fin) {
            fin(&mut j, want, &bidi);
        }
    }
    if expect.nothing_before_fin == Some(true)
        && !j.blind_to("nothing_before_fin", &blind.nothing_before_fin)
    {
        nothing_before_fin(&mut j, &bidi);
    }
    if expect.no_truncated_echo == Some(true) {
        no_truncated_echo(&mut j, &bidi, &run.sent);
    }
    if let Some(want) = &expect.close {
        if !j.blind_to("close", &blind.close) {
            close(&mut j, want, obs);
        }
    }
    if let Some(code) = &expect.stop_sending {
        if !j.blind_to("stop_sending", &blind.stop_sending) {
            stop_sending(&mut j, code, obs);
        }
    }
    if let Some(ms) = expect.within_ms {
        within_ms(&mut j, ms, obs);
    }
    j.finish(obs)
}

fn handshake(j: &mut Judged, want: HandshakeExpect, obs: &Observation) {
    let completed = matches!(obs.handshake, Handshake::Completed { .. });
    let actual = match &obs.handshake {
        Handshake::Completed { alpn, .. } => format!("completed with ALPN \"{alpn}\""),
        Handshake::NotCompleted => not_completed(obs),
    };
    match want {
        HandshakeExpect::Accepted => j.check("handshake", completed, "completed", actual),
        HandshakeExpect::Rejected => j.check(
            "handshake",
            !completed && obs.peer_close.is_some(),
            "rejected with a CONNECTION_CLOSE",
            actual,
        ),
    }
}

fn alpn(j: &mut Judged, want: &str, obs: &Observation) {
    let got = match &obs.handshake {
        Handshake::Completed { alpn, .. } => alpn.as_str(),
        Handshake::NotCompleted => "(no handshake)",
    };
    j.check(
        "alpn",
        got == want,
        format!("\"{want}\""),
        format!("\"{got}\""),
    );
}

/// `resumed` and `early_data_accepted`.
fn resumption(j: &mut Judged, expect: &Expect, obs: &Observation) {
    for (what, want, got) in [
        ("resumed", expect.resumed, obs.resumed),
        (
            "early_data_accepted",
            expect.early_data_accepted,
            obs.early_data_accepted,
        ),
    ] {
        let Some(want) = want else { continue };
        let said = |b: bool| match (what, b) {
            ("resumed", true) => "resumed (no certificate)",
            ("resumed", false) => "a full handshake",
            (_, true) => "0-RTT data accepted",
            (_, false) => "0-RTT data turned down",
        };
        j.check(
            what,
            got == Some(want),
            said(want),
            got.map_or("not known (no handshake, or no 0-RTT sent)", said),
        );
    }
}

fn migrated(j: &mut Judged, want: bool, obs: &Observation) {
    let forbidden = (obs.migration == Some(Migration::Forbidden)).then(|| {
        "the server forbids active migration (disable_active_migration), as RFC 9000 \
         §18.2 lets it"
            .to_string()
    });
    if j.blind_to("migrated", &forbidden) {
        return;
    }
    j.check(
        "migrated",
        (obs.migration == Some(Migration::Done)) == want,
        if want {
            "moved to the new address after validating the path"
        } else {
            "not moved"
        },
        match &obs.migration {
            Some(Migration::Done) => "moved".into(),
            Some(Migration::Failed(why)) => format!("not moved: {why}"),
            _ => "not tried: its moment never came".into(),
        },
    );
}

fn version_negotiated(j: &mut Judged, want: bool, obs: &Observation) {
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
        (None, _) if obs.unreachable => (false, "nothing listens (ICMP port unreachable)".into()),
        (None, _) => (
            false,
            "no answer: neither one in the version offered nor a Version Negotiation".into(),
        ),
    };
    j.check(
        "version_negotiated",
        answered == want,
        if want {
            "an answer in the version offered, or a Version Negotiation listing version 1 \
             (RFC 9000 §6.1, RFC 9369 §4)"
        } else {
            "no usable answer to the version offered"
        },
        actual,
    );
}

fn stateless_reset(j: &mut Judged, want: bool, obs: &Observation) {
    let no_token = (obs.reset_token_given == Some(false)).then(|| {
        "the server gave no stateless reset token, so it cannot reset (RFC 9000 §10.3 \
         leaves resets optional)"
            .to_string()
    });
    let blind = no_token.or_else(|| obs.reset_unseen.clone().filter(|_| want));
    if j.blind_to("stateless_reset", &blind) {
        return;
    }
    j.check(
        "stateless_reset",
        obs.stateless_reset == want,
        if want {
            "a stateless reset for the old connection (RFC 9000 §10.3)"
        } else {
            "no stateless reset"
        },
        ended(obs),
    );
}

fn echo(j: &mut Judged, want: bool, bidi: &Bidi, sent: &[Vec<u8>]) {
    for (i, s) in bidi {
        let same = s.received == sent[*i];
        j.check(
            &format!("echo[stream {}]", s.id),
            same == want,
            if want {
                format!("exactly what was sent: {}", preview(&sent[*i]))
            } else {
                "anything but an exact echo".into()
            },
            preview(&s.received),
        );
    }
}

fn fin(j: &mut Judged, want: bool, bidi: &Bidi) {
    for (_, s) in bidi {
        j.check(
            &format!("fin[stream {}]", s.id),
            s.fin_received == want,
            if want {
                "FIN from the server"
            } else {
                "no FIN from the server"
            },
            match (s.fin_received, s.reset) {
                (true, _) => "FIN received".into(),
                (false, Some(c)) => format!("no FIN; stream reset with {c:#x}"),
                (false, None) => "no FIN".into(),
            },
        );
    }
}

fn nothing_before_fin(j: &mut Judged, bidi: &Bidi) {
    for (_, s) in bidi {
        j.check(
            &format!("nothing_before_fin[stream {}]", s.id),
            s.received_before_fin == 0,
            "no bytes before the client's FIN",
            format!("{} bytes before the client's FIN", s.received_before_fin),
        );
    }
}

fn no_truncated_echo(j: &mut Judged, bidi: &Bidi, sent: &[Vec<u8>]) {
    for (i, s) in bidi {
        let sent = &sent[*i];
        let truncated = !s.received.is_empty()
            && s.received.len() < sent.len()
            && sent.starts_with(&s.received);
        j.check(
            &format!("no_truncated_echo[stream {}]", s.id),
            !truncated,
            "no echo of a truncated prefix",
            preview(&s.received),
        );
    }
}

fn close(j: &mut Judged, want: &CloseExpect, obs: &Observation) {
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
    j.check("close", passed, expected, show_close(got));
}

fn stop_sending(j: &mut Judged, code: &Code, obs: &Observation) {
    for s in obs.streams.iter().filter(|s| s.id & 0x2 != 0) {
        j.check(
            &format!("stop_sending[stream {}]", s.id),
            s.stop_sending == Some(code.value()),
            format!("STOP_SENDING {:#x}", code.value()),
            s.stop_sending
                .map_or("no STOP_SENDING".into(), |c| format!("STOP_SENDING {c:#x}")),
        );
    }
}

fn within_ms(j: &mut Judged, ms: u64, obs: &Observation) {
    let expected = format!("the echo's FIN at most {ms} ms after the client started");
    match echo_done(obs) {
        Ok(Some(took)) => {
            let took = took.as_millis() as u64;
            j.check(
                "within_ms",
                took <= ms,
                expected,
                format!("after {took} ms"),
            );
        }
        Ok(None) => j.check(
            "within_ms",
            false,
            expected,
            format!(
                "no FIN from the server in the connection's {} ms",
                obs.elapsed.as_millis()
            ),
        ),
        Err(why) => {
            j.blind_to("within_ms", &Some(why));
        }
    }
}

/// From the client's start to the server's last FIN on a bidirectional
/// stream: `Ok(None)` when one never came, `Err` when the client cannot
/// tell the times.
fn echo_done(obs: &Observation) -> Result<Option<Duration>, String> {
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use echo_client::Close;

    const SENT: &[u8] = b"hello";

    fn completed(alpn: &str) -> Observation {
        Observation {
            handshake: Handshake::Completed {
                alpn: alpn.into(),
                after: Duration::ZERO,
            },
            ..Observation::nothing()
        }
    }

    fn stream(id: u64, received: &[u8], fin: bool) -> StreamObservation {
        StreamObservation {
            id,
            received: received.to_vec(),
            fin_received: fin,
            ..Default::default()
        }
    }

    fn with_stream(s: StreamObservation) -> Observation {
        Observation {
            streams: vec![s],
            ..completed("http/1.0")
        }
    }

    fn close(app: bool, code: u64) -> Option<Close> {
        Some(Close {
            app,
            code,
            reason: String::new(),
        })
    }

    fn checks(expect: &Expect, obs: Observation, blind: &Blind) -> Vec<Check> {
        let run = Run {
            sent: vec![SENT.to_vec()],
            obs,
        };
        judge("", expect, &run, blind)
    }

    /// The outcome of the one check whose name starts with `kind`.
    fn outcome(kind: &str, expect: &Expect, obs: Observation) -> Outcome {
        let all = checks(expect, obs, &Blind::default());
        let mine: Vec<&Check> = all.iter().filter(|c| c.name.starts_with(kind)).collect();
        assert_eq!(mine.len(), 1, "{all:?}");
        mine[0].outcome().clone()
    }

    /// Every kind, with an observation that passes it and one that fails.
    fn kinds() -> Vec<(&'static str, Expect, Observation, Observation)> {
        let vn = |v: Vec<u32>| Observation {
            version_negotiation: Some(v),
            ..Observation::nothing()
        };
        let uni = |code| {
            with_stream(StreamObservation {
                stop_sending: code,
                ..stream(2, b"", false)
            })
        };
        vec![
            (
                "handshake",
                Expect {
                    handshake: Some(HandshakeExpect::Accepted),
                    ..Expect::default()
                },
                completed("http/1.0"),
                Observation::nothing(),
            ),
            (
                "handshake",
                Expect {
                    handshake: Some(HandshakeExpect::Rejected),
                    ..Expect::default()
                },
                Observation {
                    peer_close: close(false, 0x178),
                    ..Observation::nothing()
                },
                completed("http/1.0"),
            ),
            (
                "alpn",
                Expect {
                    alpn: Some("hq-interop".into()),
                    ..Expect::default()
                },
                completed("hq-interop"),
                completed("http/1.0"),
            ),
            (
                "resumed",
                Expect {
                    resumed: Some(true),
                    ..Expect::default()
                },
                Observation {
                    resumed: Some(true),
                    ..completed("http/1.0")
                },
                Observation {
                    resumed: Some(false),
                    ..completed("http/1.0")
                },
            ),
            (
                "early_data_accepted",
                Expect {
                    early_data_accepted: Some(true),
                    ..Expect::default()
                },
                Observation {
                    early_data_accepted: Some(true),
                    ..completed("http/1.0")
                },
                completed("http/1.0"),
            ),
            (
                "migrated",
                Expect {
                    migrated: Some(true),
                    ..Expect::default()
                },
                Observation {
                    migration: Some(Migration::Done),
                    ..completed("http/1.0")
                },
                Observation {
                    migration: Some(Migration::Failed("no path".into())),
                    ..completed("http/1.0")
                },
            ),
            (
                "version_negotiated",
                Expect {
                    version_negotiated: Some(true),
                    ..Expect::default()
                },
                vn(vec![0x1a2a3a4a, echo_client::initial::VERSION_1]),
                vn(vec![0x1a2a3a4a]),
            ),
            (
                "stateless_reset",
                Expect {
                    stateless_reset: Some(true),
                    ..Expect::default()
                },
                Observation {
                    stateless_reset: true,
                    ..Observation::nothing()
                },
                Observation {
                    idle_timed_out: true,
                    ..Observation::nothing()
                },
            ),
            (
                "echo",
                Expect {
                    echo: Some(true),
                    ..Expect::default()
                },
                with_stream(stream(0, SENT, true)),
                with_stream(stream(0, b"hel", true)),
            ),
            (
                "fin",
                Expect {
                    fin: Some(true),
                    ..Expect::default()
                },
                with_stream(stream(0, SENT, true)),
                with_stream(stream(0, SENT, false)),
            ),
            (
                "nothing_before_fin",
                Expect {
                    nothing_before_fin: Some(true),
                    ..Expect::default()
                },
                with_stream(stream(0, SENT, true)),
                with_stream(StreamObservation {
                    received_before_fin: 3,
                    ..stream(0, SENT, true)
                }),
            ),
            (
                "no_truncated_echo",
                Expect {
                    no_truncated_echo: Some(true),
                    ..Expect::default()
                },
                with_stream(stream(0, SENT, true)),
                with_stream(stream(0, b"hel", true)),
            ),
            (
                "close",
                Expect {
                    close: Some(CloseExpect::App(Code::Number(0x10))),
                    ..Expect::default()
                },
                Observation {
                    peer_close: close(true, 0x10),
                    ..Observation::nothing()
                },
                Observation {
                    peer_close: close(false, 0x10),
                    ..Observation::nothing()
                },
            ),
            (
                "close",
                Expect {
                    close: Some(CloseExpect::Transport(Code::Number(0x178))),
                    ..Expect::default()
                },
                Observation {
                    peer_close: close(false, 0x178),
                    ..Observation::nothing()
                },
                Observation {
                    peer_close: close(false, 0x128),
                    ..Observation::nothing()
                },
            ),
            (
                "close",
                Expect {
                    close: Some(CloseExpect::AnyAppError),
                    ..Expect::default()
                },
                Observation {
                    peer_close: close(true, 1),
                    ..Observation::nothing()
                },
                Observation {
                    peer_close: close(true, 0),
                    ..Observation::nothing()
                },
            ),
            (
                "close",
                Expect {
                    close: Some(CloseExpect::Any),
                    ..Expect::default()
                },
                Observation {
                    peer_close: close(false, 0),
                    ..Observation::nothing()
                },
                Observation::nothing(),
            ),
            (
                "close",
                Expect {
                    close: Some(CloseExpect::None),
                    ..Expect::default()
                },
                Observation::nothing(),
                Observation {
                    peer_close: close(true, 0),
                    ..Observation::nothing()
                },
            ),
            (
                "stop_sending",
                Expect {
                    stop_sending: Some(Code::Number(0x20)),
                    ..Expect::default()
                },
                uni(Some(0x20)),
                uni(None),
            ),
        ]
    }

    #[test]
    fn every_kind_passes_its_rule_and_fails_a_server_that_breaks_it() {
        for (kind, expect, good, bad) in kinds() {
            assert_eq!(
                outcome(kind, &expect, good),
                Outcome::Pass,
                "{kind} {expect:?}"
            );
            assert_eq!(
                outcome(kind, &expect, bad),
                Outcome::Fail,
                "{kind} {expect:?}"
            );
        }
    }

    #[test]
    fn a_blind_driver_skips_the_check_after_the_ones_it_made() {
        let expect = Expect {
            echo: Some(true),
            fin: Some(true),
            ..Expect::default()
        };
        let blind = Blind {
            fin: Some("s_client cannot tell".into()),
            ..Blind::default()
        };
        let c = checks(&expect, with_stream(stream(0, SENT, false)), &blind);
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["echo[stream 0]", "fin"]);
        assert_eq!(c[1].skip_reason(), Some("s_client cannot tell"));
    }

    #[test]
    fn a_server_that_forbids_migration_or_gives_no_reset_token_is_skipped() {
        let skipped = |expect: Expect, obs| {
            let all = checks(&expect, obs, &Blind::default());
            all.len() == 1 && all[0].skip_reason().is_some()
        };
        assert!(skipped(
            Expect {
                migrated: Some(true),
                ..Expect::default()
            },
            Observation {
                migration: Some(Migration::Forbidden),
                ..completed("http/1.0")
            }
        ));
        assert!(skipped(
            Expect {
                stateless_reset: Some(true),
                ..Expect::default()
            },
            Observation {
                reset_token_given: Some(false),
                ..Observation::nothing()
            }
        ));
        assert!(skipped(
            Expect {
                stateless_reset: Some(true),
                ..Expect::default()
            },
            Observation {
                reset_unseen: Some("moved to another connection ID".into()),
                ..Observation::nothing()
            }
        ));
    }

    #[test]
    fn a_connection_cut_off_by_the_deadline_says_so_only_when_something_failed() {
        let expect = Expect {
            echo: Some(true),
            ..Expect::default()
        };
        let cut = |received: &[u8]| Observation {
            deadline_hit: true,
            ..with_stream(stream(0, received, false))
        };
        let c = checks(&expect, cut(b""), &Blind::default());
        assert!(
            c.iter()
                .any(|c| c.name == "deadline" && c.failed_by_server()),
            "{c:?}"
        );
        let c = checks(&expect, cut(SENT), &Blind::default());
        assert!(c.iter().all(|c| c.name != "deadline"), "{c:?}");
    }

    #[test]
    fn a_handshake_the_client_gave_up_says_why() {
        let expect = Expect {
            handshake: Some(HandshakeExpect::Accepted),
            ..Expect::default()
        };
        let gave_up = |local| Observation {
            local_close: local,
            ..Observation::nothing()
        };
        let c = checks(&expect, gave_up(close(false, 0x8)), &Blind::default());
        assert!(c[0].failed_by_server());
        assert_eq!(
            c[0].actual,
            "not completed (no CONNECTION_CLOSE from the server; the client closed the \
             connection itself: transport close 0x8 TRANSPORT_PARAMETER_ERROR)"
        );
        let c = checks(&expect, gave_up(None), &Blind::default());
        assert_eq!(
            c[0].actual,
            "not completed (no CONNECTION_CLOSE from the server)"
        );
    }

    #[test]
    fn no_error_takes_an_application_or_a_transport_close_with_code_zero() {
        let expect = Expect {
            close: Some(CloseExpect::NoError),
            ..Expect::default()
        };
        let passed = |c| {
            let obs = Observation {
                peer_close: c,
                ..completed("http/1.0")
            };
            outcome("close", &expect, obs) == Outcome::Pass
        };
        assert!(passed(close(true, 0)));
        assert!(passed(close(false, 0)), "SSL_shutdown's transport NO_ERROR");
        assert!(!passed(close(true, 1)));
        assert!(!passed(close(false, 0x178)));
        assert!(!passed(None));
    }

    /// A connection that started at 0, got the echo's FIN at `fin_ms` (if
    /// any) and ended at `life_ms`, judged against `within_ms`.
    fn within(within_ms: u64, fin_ms: Option<u64>, life_ms: u64) -> Check {
        let t0 = Instant::now();
        let s = StreamObservation {
            fin_received: fin_ms.is_some(),
            fin_received_at: fin_ms.map(|ms| t0 + Duration::from_millis(ms)),
            ..Default::default()
        };
        let obs = Observation {
            started_at: Some(t0),
            streams: vec![s],
            elapsed: Duration::from_millis(life_ms),
            ..Observation::nothing()
        };
        let expect = Expect {
            within_ms: Some(within_ms),
            ..Expect::default()
        };
        let all = checks(&expect, obs, &Blind::default());
        all.into_iter().find(|c| c.name == "within_ms").unwrap()
    }

    #[test]
    fn within_ms_counts_to_the_echo_s_fin_not_to_the_close() {
        // Echoed at once, the close left to the client: a second later.
        let quick = within(1000, Some(20), 1026);
        assert_eq!(quick.outcome(), &Outcome::Pass, "{quick:?}");
        assert_eq!(quick.actual, "after 20 ms");
        let slow = within(1000, Some(1500), 1600);
        assert!(slow.failed_by_server(), "{slow:?}");
        let never = within(1000, None, 300);
        assert!(never.failed_by_server(), "{never:?}");
        assert!(never.actual.contains("no FIN"), "{never:?}");
    }

    #[test]
    fn within_ms_is_skipped_by_a_client_that_cannot_tell_the_time() {
        let s = StreamObservation {
            fin_received: true,
            fin_received_at: Some(Instant::now()),
            ..Default::default()
        };
        let expect = Expect {
            within_ms: Some(10),
            ..Expect::default()
        };
        let c = checks(
            &expect,
            Observation {
                streams: vec![s],
                ..Observation::nothing()
            },
            &Blind::default(),
        );
        let c = c.iter().find(|c| c.name == "within_ms").unwrap();
        assert!(c.skip_reason().is_some(), "{c:?}");
    }
}
