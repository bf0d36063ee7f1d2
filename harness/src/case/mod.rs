//! Executes one case: one scenario, by one driver, against one server.
//!
//! The server is watched while the case runs: if it exits, every client
//! still waiting gives up at once, and the case fails with that cause
//! first ("server exited with status 1 while conn 3 was waiting for its
//! echo"), its stderr tail, and a fresh server for the next case.

mod attack;
mod connections;
pub mod load;
mod remote;
mod result;

pub use result::{AttackReport, CaseResult, NetworkReport, RunConfig, Status};

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::driver::{Driver, Target};
use crate::evidence::CaseEvidence;
use crate::judge::{self, amplification_check, rebind_check, Check};
use crate::netem::Relay;
use crate::scenario::{DriverKind, Scenario};
use crate::sut::{probe, slot::Live, ExitWatch, NotReady, Probe, ServerSlot};
use connections::{run_concurrent, run_one, run_sequential, served_probe};

/// A driver, or why there is none.
pub type DriverChoice<'a> = Result<&'a dyn Driver, String>;

/// How long the liveness probe after a failed case may take.
const LIVENESS: Duration = Duration::from_secs(2);

/// Runs one scenario with one driver against one server.
pub fn run_case(
    slot: &mut ServerSlot,
    driver: DriverChoice<'_>,
    driver_kind: DriverKind,
    sc: &Scenario,
    cfg: &RunConfig,
) -> CaseResult {
    let started = Instant::now();
    let mut result = CaseResult::new(sc, driver_kind, &slot.spec.name, cfg);
    let driver = match driver {
        Ok(d) => d,
        Err(why) => return result.skipped(why),
    };
    if let Some(why) = sc.connections.iter().find_map(|c| driver.cannot_run(c)) {
        return result.skipped(why);
    }
    if let Some(remote) = slot.spec.remote() {
        if let Some(why) = remote::skip_reason(&slot.spec, remote, sc, cfg.allow_load) {
            return result.skipped(why);
        }
    }
    if !sc.server_args.is_empty() && !slot.spec.takes_args() {
        return result.skipped(format!(
            "needs the server started with `{}`; put {{args}} in the --server template \
             where such flags go",
            sc.server_args.join(" ")
        ));
    }
    if let Some((flag, why)) = slot.spec.lacks(&sc.server_args) {
        return result.skipped(format!(
            "needs the server started with `{flag}`, which {} cannot take: {why}",
            slot.spec.name
        ));
    }
    if slot.spec.remote().is_some() && sc.connections.iter().any(|c| c.restart_server.is_some()) {
        return result.skipped(
            "restarts the server mid-connection, and the harness did not start this one".into(),
        );
    }
    if sc.ipv6 && !slot.spec.takes_host() && slot.spec.remote().is_none() {
        return result.skipped(
            "needs the server on [::1]; put {host} in the --server template where its \
             listening address goes"
                .into(),
        );
    }
    let setup = (sc.host(), sc.server_args.as_slice());
    let live = match slot.ensure(&cfg.certs, &cfg.verify, setup, cfg.ready_timeout) {
        Ok(l) => l,
        Err(why) => {
            slot.discard();
            return not_ready(result, why, started);
        }
    };
    let mut target = cfg.target(&slot.spec, live.addr);
    let evidence = cfg.artifacts.as_ref().and_then(|a| {
        CaseEvidence::create(
            &a.dir,
            &slot.spec.name,
            sc,
            driver_kind,
            (cfg.seed, cfg.run),
        )
        .map_err(|e| result.notes.push(format!("no evidence kept: {e}")))
        .ok()
    });
    target.evidence = evidence.clone();
    let mark = slot.running.as_ref().map(|r| r.stderr_mark());
    let ready = Ready {
        live,
        target,
        result,
        started,
    };
    let mut result = execute(slot, driver, driver_kind, sc, cfg, ready);
    if let Some(e) = evidence {
        let stderr = live
            .pid
            .zip(mark)
            .and_then(|(p, m)| slot.stderr_since(p, m));
        if let Some((lines, lost)) = stderr {
            let lost = match lost {
                0 => String::new(),
                n => format!("# {n} earlier lines of this case are not kept\n"),
            };
            e.write("server-stderr.log", (lost + &lines.join("\n")).as_bytes());
        }
        let keep = matches!(result.status, Status::Fail | Status::Error)
            || cfg.artifacts.as_ref().is_some_and(|a| a.all);
        result.artifacts = e.finish(keep);
    }
    result
}

/// A case whose server could not be made ready: an `error` when it could
/// not be started at all, a `fail` when it ran but did not answer.
fn not_ready(result: CaseResult, why: NotReady, started: Instant) -> CaseResult {
    match why {
        NotReady::Unstartable(w) => {
            result.errored(format!("server could not be (re)started: {w}"), started)
        }
        NotReady::Unresponsive(w) => result.finish(vec![judge::unresponsive_at_start(w)], started),
    }
}

/// A case whose server is live: where it is, how clients reach it, the
/// result so far and when the case started.
struct Ready {
    live: Live,
    target: Target,
    result: CaseResult,
    started: Instant,
}

/// The case proper, once its server is live: the attack, the connections
/// (through the relay if the scenario has a network), then whether the
/// server survived.
fn execute(
    slot: &mut ServerSlot,
    driver: &dyn Driver,
    driver_kind: DriverKind,
    sc: &Scenario,
    cfg: &RunConfig,
    ready: Ready,
) -> CaseResult {
    let Ready {
        live,
        target,
        mut result,
        started,
    } = ready;
    let timeout = sc.timeout_ms.map_or(cfg.timeout, Duration::from_millis);
    let mut watch = live
        .pid
        .map(|pid| ExitWatch::start(pid, target.cancel.clone()));
    let restarts = sc.connections.iter().any(|c| c.restart_server.is_some());
    let target = Target {
        restart: restarts.then(echo_client::Checkpoint::new),
        ..target
    };
    let mut checks = Vec::new();
    if let Some(spec) = &sc.attack {
        checks.extend(run_attack(slot, &live, &target, spec, cfg, &mut result));
    }
    // Through the impaired network, if the scenario has one.
    let relay = match &sc.network {
        Some(n) => match Relay::start(target.addr, n.clone(), cfg.seed, target.evidence.clone()) {
            Ok(r) => Some(r),
            Err(e) => {
                return result.errored(format!("cannot start the network relay: {e}"), started)
            }
        },
        None => None,
    };
    let via = Target {
        addr: relay.as_ref().map_or(target.addr, |r| r.addr),
        relayed: relay.is_some(),
        lossy: sc
            .network
            .as_ref()
            .is_some_and(|n| n.loss > 0.0 || n.corrupt > 0.0),
        ..target.clone()
    };
    let conns = Connections {
        driver,
        target: &via,
        sc,
        timeout,
    };
    let mut outcome = run_connections(slot, &conns, cfg, &mut watch);
    checks.append(&mut outcome.checks);
    if let Some(r) = relay {
        checks.extend(relay_checks(&r, sc, &mut result));
    }
    if sc.then_served {
        checks.extend(then_served(driver, &target, timeout));
    }
    drop(watch);
    if let Some(remote) = slot.spec.remote() {
        result
            .notes
            .extend(remote::load_note(remote, sc, result.attack.as_ref()));
    }
    let case = CaseAt {
        sc,
        driver_kind,
        cfg,
        target: &target,
    };
    survival(slot, &case, &outcome, &mut checks, &mut result);
    result.finish(checks, started)
}

/// The attack, with its report kept in `result`; its checks.
fn run_attack(
    slot: &ServerSlot,
    live: &Live,
    target: &Target,
    spec: &crate::scenario::AttackSpec,
    cfg: &RunConfig,
    result: &mut CaseResult,
) -> Vec<Check> {
    let cpu = live.pid.ok_or_else(|| {
        format!(
            "the harness did not start {}, so it cannot read its CPU time",
            slot.spec.name
        )
    });
    match attack::attack(target, cpu, spec, cfg.seed) {
        Ok((report, checks)) => {
            result.attack = Some(report);
            checks
        }
        Err(e) => vec![judge::driver_failure("attack: ", e)],
    }
}

/// A case's connections and how they reach the server.
struct Connections<'a> {
    driver: &'a dyn Driver,
    target: &'a Target,
    sc: &'a Scenario,
    timeout: Duration,
}

/// Runs the connections, all at once or one after another. Killing the
/// server for a `restart_server` is no crash: the old process is no longer
/// watched, the new one is.
fn run_connections(
    slot: &mut ServerSlot,
    c: &Connections<'_>,
    cfg: &RunConfig,
    watch: &mut Option<ExitWatch>,
) -> connections::Outcome {
    if c.sc.concurrent {
        return run_concurrent(c.driver, c.target, c.sc, c.timeout);
    }
    let cancel = c.target.cancel.clone();
    let mut restart = || {
        drop(watch.take());
        let live = slot
            .restart(&cfg.certs, cfg.ready_timeout)
            // Not back: its clients give up at once, as for a crash.
            .inspect_err(|_| cancel.store(true, Ordering::Release))?;
        *watch = live.pid.map(|pid| ExitWatch::start(pid, cancel.clone()));
        Ok(())
    };
    run_sequential(c.driver, c.target, c.sc, c.timeout, &mut restart)
}

/// What the relay measured, kept in `result`; its checks.
fn relay_checks(r: &Relay, sc: &Scenario, result: &mut CaseResult) -> Vec<Check> {
    let mut checks = Vec::new();
    let (to_server, to_client) = r.tallies();
    let amplification = r.amplification();
    if let Some(limit) = sc.network.as_ref().and_then(|n| n.max_amplification) {
        checks.push(amplification_check(amplification, limit));
    }
    let rebind = sc.network.as_ref().and_then(|n| n.rebind.as_ref());
    let rebinds = rebind.map(|_| r.rebinds());
    if let (Some(rebind), Some(done)) = (rebind, &rebinds) {
        checks.push(rebind_check(rebind, done));
    }
    result.network = Some(NetworkReport {
        to_server,
        to_client,
        amplification,
        rebinds,
    });
    checks
}

/// `then_served`: a fresh client served after the case's connections,
/// unless the server had exited.
fn then_served(driver: &dyn Driver, target: &Target, timeout: Duration) -> Vec<Check> {
    if target.cancel.load(Ordering::Acquire) {
        return vec![judge::then_served_not_tried()];
    }
    let spec = served_probe();
    run_one(driver, target, &spec, 0, timeout, None, "then_served: ").0
}

/// Which case, for the survival checks.
struct CaseAt<'a> {
    sc: &'a Scenario,
    driver_kind: DriverKind,
    cfg: &'a RunConfig,
    target: &'a Target,
}

/// Did the server survive? A server started here that exited fails the
/// case first; one that failed a check must still answer a probe. A
/// server the harness did not start is probed after every case.
fn survival(
    slot: &mut ServerSlot,
    case: &CaseAt<'_>,
    outcome: &connections::Outcome,
    checks: &mut Vec<Check>,
    result: &mut CaseResult,
) {
    let Some(running) = slot.running.as_mut() else {
        // Started here, but a restart in the case did not bring it back (a
        // check says so); the next case starts a new one.
        if let Some(remote) = slot.spec.remote() {
            remote_survival(remote, case, checks);
        }
        return;
    };
    if let Some(status) = running.exit_status() {
        checks.insert(0, judge::exited(exited_while(status, outcome)));
        result.server_stderr = running.stderr_tail();
        slot.discard();
        return;
    }
    if !checks.iter().any(Check::failed_by_server) {
        return;
    }
    result.server_stderr = running.stderr_tail();
    let silent = match probe(case.target, LIVENESS) {
        Probe::Served => None,
        // A server that completes handshakes but does not echo may be busy
        // with this case's connections still (one that serves one
        // connection at a time, closing a connection whose path is gone):
        // the next case gets a fresh one rather than its wait.
        Probe::Answered(what) => {
            result.notes.push(format!(
                "after this case a probe completed a handshake but got {what} within {} ms: \
                 the server was restarted for the next case",
                LIVENESS.as_millis()
            ));
            slot.discard();
            None
        }
        Probe::Unreachable => Some(NOTHING_LISTENS.to_string()),
        Probe::Silent(seen) => Some(seen),
    };
    if let Some(seen) = silent {
        checks.push(judge::stopped_answering(format!("{seen}; restarting it")));
        slot.discard();
    }
}

/// "server exited with STATUS while conn 3 was waiting for its echo".
fn exited_while(status: std::process::ExitStatus, outcome: &connections::Outcome) -> String {
    let during = match (outcome.abandoned.first(), outcome.abandoned.len()) {
        (None, _) => String::new(),
        (Some(first), 1) => format!(" while {first}"),
        (Some(first), n) => format!(" while {first} ({} more abandoned)", n - 1),
    };
    let unstarted = match outcome.not_started {
        0 => String::new(),
        n => format!("; {n} connection(s) not started"),
    };
    format!("server exited with {status}{during}{unstarted}")
}

/// A server not started here: only a probe can tell, after every case (so
/// a crash is pinned on the case that caused it), and nobody can restart
/// it.
fn remote_survival(remote: &crate::sut::Remote, case: &CaseAt<'_>, checks: &mut Vec<Check>) {
    if let Some(seen) = remote::stopped_answering(case.target, case.cfg.ready_timeout) {
        let why =
            format!("{seen}; the harness did not start it, so its remaining cases are skipped");
        checks.insert(0, judge::stopped_answering(why));
        remote.mark_gone(format!(
            "since {} [{}]: {seen}",
            case.sc.id, case.driver_kind
        ));
    }
}

const NOTHING_LISTENS: &str = "nothing is listening any more";

/// What a probe echo saw when the server did not answer it, or `None` when
/// it did.
pub(crate) fn unanswered(target: &Target) -> Option<String> {
    match probe(target, LIVENESS) {
        Probe::Served | Probe::Answered(_) => None,
        Probe::Unreachable => Some(NOTHING_LISTENS.to_string()),
        Probe::Silent(why) => Some(why),
    }
}
