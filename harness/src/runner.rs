//! Runs scenarios: for each server and driver, makes the connections,
//! judges them, and keeps going when the server under test breaks.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::bench::stats::process_cpu;
use crate::driver::{Driver, Target};
use crate::hostile;
use crate::judge::{amplification_check, judge, together, token_checks, Check, Span};
use crate::netem::amplification::Exposure;
use crate::netem::model::Tally;
use crate::netem::Relay;
use crate::scenario::{
    AttackSpec, ConnectionSpec, DriverKind, Expect, Level, Payload, Scenario, StreamSpec,
};
use crate::sut::{probe, Certs, Running, ServerSpec};

/// Settings shared by every case.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub timeout: Duration,
    pub ready_timeout: Duration,
    pub certs: Certs,
    /// Seeds the network model of scenarios with a `network` section.
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One scenario run by one driver against one server.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub scenario: String,
    pub description: String,
    pub driver: DriverKind,
    pub server: String,
    pub level: Level,
    pub status: Status,
    /// Why it was skipped, or the first failed check in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub checks: Vec<Check>,
    pub duration_ms: u64,
    /// The server's last stderr lines, kept for failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub server_stderr: Vec<String>,
    /// The seed of the network model and the attack, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// For scenarios with a `network` section: what the relay did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkReport>,
    /// For scenarios with an `attack`: what the flood did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attack: Option<AttackReport>,
}

/// What the impaired network did during one case.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkReport {
    pub to_server: Tally,
    pub to_client: Tally,
    /// The client the server sent most to before validating its address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amplification: Option<Exposure>,
}

/// What a flood of hostile datagrams did, and what it cost the server.
#[derive(Debug, Clone, Serialize)]
pub struct AttackReport {
    #[serde(flatten)]
    pub outcome: hostile::Outcome,
    /// Server CPU seconds during the flood, when /proc could tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_s: Option<f64>,
    /// What the server sent to clients that never proved their address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amplification: Option<hostile::Amplification>,
    /// How the server treated misused Retry tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_tokens: Option<hostile::StaleTokens>,
}

/// A server under test and its current process, restarted on demand.
pub struct ServerSlot {
    pub spec: ServerSpec,
    pub running: Option<Running>,
    /// The `server_args` the running process was started with.
    args: Vec<String>,
}

impl ServerSlot {
    pub fn new(spec: ServerSpec) -> Self {
        ServerSlot {
            spec,
            running: None,
            args: Vec::new(),
        }
    }

    /// A live process started with `args`, starting (or restarting) one if
    /// needed.
    pub fn ensure(&mut self, cfg: &RunConfig, args: &[String]) -> Result<&mut Running, String> {
        let stale = match &mut self.running {
            Some(r) => r.exit_status().is_some() || self.args != args,
            None => true,
        };
        if stale {
            self.running = None; // stops the old process first
            self.args = args.to_vec();
            self.running = Some(Running::start(
                &self.spec,
                &cfg.certs,
                args,
                cfg.ready_timeout,
            )?);
        }
        Ok(self.running.as_mut().expect("just ensured"))
    }
}

/// A driver, or why there is none.
pub type DriverChoice<'a> = Result<&'a dyn Driver, String>;

/// Runs one scenario with one driver against one server.
pub fn run_case(
    slot: &mut ServerSlot,
    driver: DriverChoice<'_>,
    driver_kind: DriverKind,
    sc: &Scenario,
    cfg: &RunConfig,
) -> CaseResult {
    let started = Instant::now();
    let mut result = CaseResult {
        scenario: sc.id.clone(),
        description: sc.description.clone(),
        driver: driver_kind,
        server: slot.spec.name.clone(),
        level: sc.level,
        status: Status::Skip,
        reason: None,
        checks: Vec::new(),
        duration_ms: 0,
        server_stderr: Vec::new(),
        seed: (sc.network.is_some() || sc.attack.is_some()).then_some(cfg.seed),
        network: None,
        attack: None,
    };
    let driver = match driver {
        Ok(d) => d,
        Err(why) => {
            result.reason = Some(why);
            return result;
        }
    };
    for c in &sc.connections {
        if let Some(why) = driver.cannot_run(c) {
            result.reason = Some(why);
            return result;
        }
    }
    if !sc.server_args.is_empty() && !slot.spec.takes_args() {
        result.reason = Some(format!(
            "needs the server started with `{}`; put {{args}} in the --server template \
             where such flags go",
            sc.server_args.join(" ")
        ));
        return result;
    }
    let (target, pid) = match slot.ensure(cfg, &sc.server_args) {
        Ok(r) => (
            Target {
                addr: r.addr,
                server_name: "localhost".into(),
                ca: cfg.certs.ca.clone(),
            },
            r.pid(),
        ),
        Err(why) => {
            result.status = Status::Fail;
            result.reason = Some(format!("server could not be (re)started: {why}"));
            return result;
        }
    };
    let timeout = sc.timeout_ms.map_or(cfg.timeout, Duration::from_millis);

    let mut checks = Vec::new();
    if let Some(spec) = &sc.attack {
        match attack(&target, pid, spec, cfg.seed) {
            Ok((report, c)) => {
                result.attack = Some(report);
                checks.extend(c);
            }
            Err(e) => checks.push(driver_failure("attack: ", e)),
        }
    }

    // Through the impaired network, if the scenario has one.
    let relay = match &sc.network {
        Some(n) => match Relay::start(target.addr, n.clone(), cfg.seed) {
            Ok(r) => Some(r),
            Err(e) => {
                result.status = Status::Fail;
                result.reason = Some(format!("cannot start the network relay: {e}"));
                return result;
            }
        },
        None => None,
    };
    let via = Target {
        addr: relay.as_ref().map_or(target.addr, |r| r.addr),
        ..target.clone()
    };
    checks.extend(if sc.concurrent {
        run_concurrent(driver, &via, sc, timeout)
    } else {
        run_sequential(driver, &via, sc, timeout)
    });
    if let Some(r) = relay {
        let (to_server, to_client) = r.tallies();
        let amplification = r.amplification();
        if let Some(limit) = sc.network.as_ref().and_then(|n| n.max_amplification) {
            checks.push(amplification_check(amplification, limit));
        }
        result.network = Some(NetworkReport {
            to_server,
            to_client,
            amplification,
        });
    }
    if sc.then_served {
        let spec = served_probe();
        checks.extend(run_one(driver, &target, &spec, 0, timeout, None, "then_served: ").0);
    }

    // Did the server survive?
    let running = slot.running.as_mut().expect("ensured above");
    if let Some(status) = running.exit_status() {
        checks.push(Check {
            name: "server".into(),
            passed: false,
            expected: "still running".into(),
            actual: format!("server exited with {status}"),
            skipped: None,
        });
        result.server_stderr = running.stderr_tail();
        slot.running = None;
    } else if checks.iter().any(|c| !c.passed) {
        result.server_stderr = running.stderr_tail();
        if !probe(&target, Duration::from_secs(2)) {
            checks.push(Check {
                name: "server".into(),
                passed: false,
                expected: "still answering handshakes".into(),
                actual: "server stopped answering; restarting it".into(),
                skipped: None,
            });
            slot.running = None;
        }
    }

    result.status = if checks.iter().all(|c| c.passed) {
        Status::Pass
    } else {
        Status::Fail
    };
    result.reason = checks
        .iter()
        .find(|c| !c.passed)
        .map(|c| format!("{}: expected {}, got {}", c.name, c.expected, c.actual));
    result.checks = checks;
    result.duration_ms = started.elapsed().as_millis() as u64;
    result
}

/// How long the server's answers to spoofed clients are counted: long enough
/// for its first retransmissions.
const SPOOF_LISTEN: Duration = Duration::from_millis(2500);

/// Floods the server, then checks Version Negotiation and CPU per datagram
/// (that it is still running is checked with every case).
fn attack(
    target: &Target,
    pid: u32,
    spec: &AttackSpec,
    seed: u64,
) -> Result<(AttackReport, Vec<Check>), String> {
    let cpu0 = process_cpu(pid);
    let outcome =
        hostile::flood(target.addr, spec, seed).map_err(|e| format!("flood socket: {e}"))?;
    let server_cpu_s = cpu0.zip(process_cpu(pid)).map(|(a, b)| b - a);
    let mut checks = Vec::new();
    let vn_sent = spec.kinds.is_empty() || spec.kinds.contains(&hostile::Kind::UnknownVersion);
    if outcome.sent > 0 && vn_sent {
        checks.push(Check {
            name: "attack: version_negotiation".into(),
            passed: outcome.version_negotiations > 0,
            expected: "Version Negotiation for unknown versions".into(),
            actual: format!(
                "{} Version Negotiation packet(s) among {} replies to {} datagrams",
                outcome.version_negotiations, outcome.replies, outcome.sent
            ),
            skipped: None,
        });
    }
    if let Some(cpu) = server_cpu_s.filter(|_| outcome.sent > 0) {
        let per = cpu * 1e6 / outcome.sent.max(1) as f64;
        checks.push(Check {
            name: "attack: cpu".into(),
            passed: per <= spec.max_cpu_us_per_datagram,
            expected: format!(
                "at most {} us of server CPU per datagram",
                spec.max_cpu_us_per_datagram
            ),
            actual: format!(
                "{per:.1} us ({cpu:.2} s for {} datagrams in {} ms)",
                outcome.sent, outcome.elapsed_ms
            ),
            skipped: None,
        });
    }
    let mut amplification = None;
    let mut stale_tokens = None;
    if spec.stale_tokens > 0 {
        let st = hostile::stale_tokens(
            target.addr,
            spec.stale_tokens,
            Duration::from_millis(spec.token_age_ms),
        );
        checks.extend(token_checks(&st, spec.invalid_token_close));
        stale_tokens = Some(st);
    }
    if spec.spoofed > 0 {
        let a = hostile::spoofed(target.addr, spec.spoofed, seed, SPOOF_LISTEN)
            .map_err(|e| format!("spoofed-client socket: {e}"))?;
        checks.push(Check {
            name: "attack: amplification".into(),
            passed: a.factor() <= spec.max_amplification,
            expected: format!(
                "at most {}x the bytes of unvalidated clients sent back",
                spec.max_amplification
            ),
            actual: format!(
                "{:.2}x ({} bytes back for {} bytes in {} Initials)",
                a.factor(),
                a.bytes_received,
                a.bytes_sent,
                a.initials
            ),
            skipped: None,
        });
        amplification = Some(a);
    }
    Ok((
        AttackReport {
            outcome,
            server_cpu_s,
            amplification,
            stale_tokens,
        },
        checks,
    ))
}

/// A plain echo that a working server must serve.
fn served_probe() -> ConnectionSpec {
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
fn run_one(
    driver: &dyn Driver,
    target: &Target,
    spec: &ConnectionSpec,
    n: u32,
    timeout: Duration,
    established: Option<mpsc::Sender<()>>,
    label: &str,
) -> (Vec<Check>, Span) {
    match driver.run(target, spec, n, timeout, established) {
        Ok(run) => {
            let span = Span {
                established: run.obs.established_at,
                first_fin: run.obs.streams.iter().filter_map(|s| s.fin_sent_at).min(),
            };
            (judge(label, &spec.expect, &run, &driver.blind(spec)), span)
        }
        Err(e) => (vec![driver_failure(label, e)], Span::default()),
    }
}

fn driver_failure(label: &str, e: String) -> Check {
    Check {
        name: format!("{label}driver"),
        passed: false,
        expected: "the client to run".into(),
        actual: e,
        skipped: None,
    }
}

fn run_sequential(
    driver: &dyn Driver,
    target: &Target,
    sc: &Scenario,
    timeout: Duration,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for (i, c) in sc.connections.iter().enumerate() {
        for n in 0..c.repeat {
            checks.extend(run_one(driver, target, c, n, timeout, None, &label(sc, i, n)).0);
        }
    }
    checks
}

/// Starts the `first` connections, waits for their handshakes, then starts
/// every other connection at once.
fn run_concurrent(
    driver: &dyn Driver,
    target: &Target,
    sc: &Scenario,
    timeout: Duration,
) -> Vec<Check> {
    let deadline = Instant::now() + timeout;
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
                early.push(Check {
                    name: "first".into(),
                    passed: false,
                    expected: "the `first` connection to complete its handshake".into(),
                    actual: "it did not, so the others were not started".into(),
                    skipped: None,
                });
            }
        }
        if early.is_empty() {
            for (i, c) in sc.connections.iter().enumerate().filter(|(_, c)| !c.first) {
                for n in 0..c.repeat {
                    let l = label(sc, i, n);
                    handles.push(
                        scope.spawn(move || run_one(driver, target, c, n, timeout, None, &l)),
                    );
                }
            }
        }
        let mut spans = Vec::new();
        let mut checks: Vec<Check> = Vec::new();
        for h in handles {
            match h.join() {
                Ok((c, span)) => {
                    checks.extend(c);
                    spans.push(span);
                }
                Err(_) => {
                    checks.push(driver_failure("", "client thread panicked".into()));
                    spans.push(Span::default());
                }
            }
        }
        checks.extend(early);
        if sc.together {
            let total: usize = sc.connections.iter().map(|c| c.repeat as usize).sum();
            spans.resize(total, Span::default());
            let blind = driver.blind(&sc.connections[0]).timing;
            checks.push(together(&spans, blind));
        }
        checks
    })
}
