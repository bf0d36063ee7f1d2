//! A case's connections: one after another, or all at once, each judged
//! against its expectations.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::driver::{Driver, Target};
use crate::judge::{self, judge, together, Check, RestartFailure, Span};
use crate::scenario::{ConnectionSpec, Expect, Payload, Scenario, StreamSpec};
use crate::sut::NotReady;

/// What a case's connections came to.
#[derive(Debug, Default)]
pub struct Outcome {
    pub checks: Vec<Check>,
    /// Connections given up because the server was gone, as
    /// "conn 3 was waiting for its echo".
    pub abandoned: Vec<String>,
    /// Connections not started because the server was already gone.
    pub not_started: usize,
}

impl Outcome {
    fn add(&mut self, (checks, _, abandoned): ConnResult) {
        self.checks.extend(checks);
        self.abandoned.extend(abandoned);
    }
}

/// One connection's checks, when it was open, and what it was waiting for
/// if it was abandoned.
type ConnResult = (Vec<Check>, Span, Option<String>);

/// A plain echo that a working server must serve.
pub(super) fn served_probe() -> ConnectionSpec {
    ConnectionSpec {
        alpn: vec!["http/1.0".into()],
        repeat: 1,
        streams: vec![StreamSpec {
            send: Payload::Text("still serving?".into()),
            chunk_size: None,
            pause_ms: 0,
            fin: Default::default(),
            uni: false,
            abort: None,
        }],
        leave: Default::default(),
        hold_ms: None,
        flow: None,
        key_updates: Vec::new(),
        keep_alive_ms: None,
        resume: false,
        migrate: None,
        restart_server: None,
        quic_version: None,
        after_ms: None,
        early_data: false,
        ciphers: None,
        first: false,
        expect: Expect {
            echo: Some(true),
            fin: Some(true),
            ..Expect::default()
        },
    }
}

fn label(sc: &Scenario, i: usize, n: u32) -> String {
    let c = &sc.connections[i];
    match (sc.connections.len(), c.repeat) {
        (1, 1) => String::new(),
        (_, 1) => format!("conn {}: ", i + 1),
        (1, _) => format!("conn {}/{}: ", n + 1, c.repeat),
        _ => format!("conn {}.{}/{}: ", i + 1, n + 1, c.repeat),
    }
}

/// Makes one connection and judges it; also tells when it was open.
pub(super) fn run_one(
    driver: &dyn Driver,
    target: &Target,
    spec: &ConnectionSpec,
    n: u32,
    timeout: Duration,
    established: Option<mpsc::Sender<()>>,
    label: &str,
) -> ConnResult {
    match driver.run(target, spec, n, timeout, established) {
        Ok(run) => {
            let span = Span {
                established: run.obs.established_at,
                first_fin: run.obs.streams.iter().filter_map(|s| s.fin_sent_at).min(),
            };
            let abandoned = (run.obs.abandoned || run.obs.unreachable).then(|| {
                let who = label.trim_end_matches(": ");
                let who = if who.is_empty() {
                    "the connection"
                } else {
                    who
                };
                format!("{who} was waiting for {}", waiting_for(&run.obs))
            });
            let mut checks = Vec::new();
            if run.obs.unreachable {
                checks.push(judge::unreachable(label, target.addr));
            }
            checks.extend(judge(label, &spec.expect, &run, &driver.blind(spec)));
            (checks, span, abandoned)
        }
        Err(e) => (vec![judge::driver_failure(label, e)], Span::default(), None),
    }
}

/// Restarts the server under test on the same address.
pub type Restart<'a> = dyn FnMut() -> Result<(), NotReady> + 'a;

/// Runs the connections one after another; none is started once the
/// server is known to be gone. A connection with `restart_server` has the
/// server restarted (`restart`) when it reaches its moment.
pub fn run_sequential(
    driver: &dyn Driver,
    target: &Target,
    sc: &Scenario,
    timeout: Duration,
    restart: &mut Restart<'_>,
) -> Outcome {
    let mut out = Outcome::default();
    for (i, c) in sc.connections.iter().enumerate() {
        for n in 0..c.repeat {
            if target.cancel.load(Ordering::Acquire) {
                out.not_started += 1;
                continue;
            }
            if let Some(ms) = c.after_ms.filter(|_| n == 0) {
                // The scenario's pacing, not synchronisation.
                std::thread::sleep(Duration::from_millis(ms));
            }
            let l = label(sc, i, n);
            out.add(match (&c.restart_server, &target.restart) {
                (Some(_), Some(cp)) => with_restart(cp, restart, timeout, &l, || {
                    run_one(driver, target, c, n, timeout, None, &l)
                }),
                _ => run_one(driver, target, c, n, timeout, None, &l),
            });
        }
    }
    out
}

/// Runs `connect` (a connection whose plan stops at checkpoint `cp`) on a
/// thread of its own; restarts the server once it is at the checkpoint,
/// then lets it go on. A failed restart, or a connection that ended before
/// its moment, is a failed check.
fn with_restart(
    cp: &echo_client::Checkpoint,
    restart: &mut Restart<'_>,
    timeout: Duration,
    label: &str,
    connect: impl FnOnce() -> ConnResult + Send,
) -> ConnResult {
    let deadline = Instant::now() + timeout;
    std::thread::scope(|scope| {
        let client = scope.spawn(connect);
        let mut arrived = false;
        while !arrived && !client.is_finished() && Instant::now() < deadline {
            // Woken at once by an arrival; the slices only notice a client
            // that ended without arriving.
            arrived = cp.await_arrival(Duration::from_millis(50));
        }
        // A server that cannot be started again broke no rule (an error);
        // one that runs but does not answer, or a connection that ended
        // before its moment, is the server's doing.
        let failed = match arrived {
            true => restart().err().map(|why| match why {
                NotReady::Unstartable(w) => RestartFailure::Unstartable(w),
                NotReady::Unresponsive(w) => RestartFailure::Unresponsive(w),
            }),
            false => Some(RestartFailure::Early),
        };
        cp.release();
        let mut result = client.join().unwrap_or_else(|_| {
            (
                vec![judge::driver_failure(label, "client thread panicked")],
                Span::default(),
                None,
            )
        });
        if let Some(why) = failed {
            judge::restart_failed(label, why, &mut result.0);
        }
        result
    })
}

/// What an abandoned connection was waiting for, in words.
fn waiting_for(obs: &echo_client::Observation) -> &'static str {
    if !matches!(obs.handshake, echo_client::Handshake::Completed { .. }) {
        "its handshake"
    } else if obs.streams.iter().any(|s| s.fin_sent && !s.fin_received) {
        "its echo"
    } else if obs
        .streams
        .iter()
        .any(|s| !s.fin_sent && s.fin_sent_at.is_none())
    {
        "its turn to send the rest of its stream"
    } else {
        "the server's close"
    }
}

/// Whether a connection of a concurrent case leaves through its start
/// gate: one timed (`within_ms`) that is started with the others (not
/// `first`, no pacing of its own).
fn leaves_together(c: &ConnectionSpec) -> bool {
    !c.first && c.after_ms.is_none() && c.expect.within_ms.is_some()
}

/// The target for a concurrent case's gated connections ([`leaves_together`]): they
/// leave together, so their time counts from a moment they share, whatever
/// the load did to their setup.
fn timed_together(sc: &Scenario, target: &Target) -> Target {
    let timed: usize = (sc.connections.iter().filter(|c| leaves_together(c)))
        .map(|c| c.repeat as usize)
        .sum();
    Target {
        start_gate: (timed > 1).then(|| echo_client::StartGate::new(timed)),
        ..target.clone()
    }
}

/// Starts the `first` connections, waits for their handshakes, then starts
/// every other connection at once.
pub fn run_concurrent(
    driver: &dyn Driver,
    target: &Target,
    sc: &Scenario,
    timeout: Duration,
) -> Outcome {
    let deadline = Instant::now() + timeout;
    let total: usize = sc.connections.iter().map(|c| c.repeat as usize).sum();
    let gated = Target {
        fin_gate: sc.together.then(|| echo_client::FinGate::new(total)),
        // A server closing 1,000 connections at once gets 5 s more.
        close_wait: crate::driver::CLOSE_WAIT + Duration::from_millis(5 * total as u64),
        ..target.clone()
    };
    let target = &gated;
    let timed = timed_together(sc, target);
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        let mut waits = Vec::new();
        for (i, c) in sc.connections.iter().enumerate().filter(|(_, c)| c.first) {
            for n in 0..c.repeat {
                let (tx, rx) = mpsc::channel();
                waits.push(rx);
                let l = label(sc, i, n);
                handles.push(
                    scope.spawn(move || run_one(driver, target, c, n, timeout, Some(tx), &l)),
                );
            }
        }
        let mut early = Vec::new();
        for rx in waits {
            let left = deadline.saturating_duration_since(Instant::now());
            if rx.recv_timeout(left).is_err() {
                early.push(judge::first_not_established());
            }
        }
        if early.is_empty() {
            for (i, c) in sc.connections.iter().enumerate().filter(|(_, c)| !c.first) {
                let target = match leaves_together(c) {
                    true => &timed,
                    false => target,
                };
                for n in 0..c.repeat {
                    let l = label(sc, i, n);
                    handles.push(scope.spawn(move || {
                        if let Some(ms) = c.after_ms {
                            // The scenario's pacing, not synchronisation.
                            std::thread::sleep(Duration::from_millis(ms));
                        }
                        run_one(driver, target, c, n, timeout, None, &l)
                    }));
                }
            }
        }
        let mut spans = Vec::new();
        let mut out = Outcome::default();
        for h in handles {
            match h.join() {
                Ok((c, span, abandoned)) => {
                    out.add((c, Span::default(), abandoned));
                    spans.push(span);
                }
                Err(_) => {
                    out.checks
                        .push(judge::driver_failure("", "client thread panicked"));
                    spans.push(Span::default());
                }
            }
        }
        out.checks.extend(early);
        if sc.together {
            spans.resize(total, Span::default());
            let blind = driver.blind(&sc.connections[0]).timing;
            out.checks.push(together(&spans, blind));
        }
        out
    })
}
