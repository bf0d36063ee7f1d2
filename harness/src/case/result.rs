//! What one case produced: its status, checks and evidence.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::driver::Target;
use crate::hostile;
use crate::judge::Check;
use crate::netem::amplification::Exposure;
use crate::netem::model::Tally;
use crate::scenario::{DriverKind, Level, Scenario};
use crate::sut::{Certs, ServerSpec, Verify};

/// Settings shared by every case.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub timeout: Duration,
    pub ready_timeout: Duration,
    /// Handed to the servers the harness starts.
    pub certs: Certs,
    /// How clients check each server's certificate.
    pub verify: Verify,
    /// Floods and crowds may go to servers the harness did not start.
    pub allow_load: bool,
    /// Where each case's evidence goes (`--artifacts`).
    pub artifacts: Option<crate::evidence::Artifacts>,
    /// Seeds the network model of scenarios with a `network` section (the
    /// first run's; see [`RunConfig::for_run`]).
    pub seed: u64,
    /// Which run of a repeated case this is (`--repeat`), counted from 1;
    /// `None` without `--repeat`.
    pub run: Option<u32>,
    /// Runs of each case (`--repeat`; 1 without it).
    pub repeat: u32,
}

impl RunConfig {
    /// The settings for run `run` (from 0) of a case: the first run has the
    /// run's seed, the others seeds of their own drawn from it, so every run
    /// of `--repeat` replays alone with `--seed`.
    pub fn for_run(&self, run: u32) -> RunConfig {
        RunConfig {
            seed: run_seed(self.seed, run),
            run: (self.repeat > 1).then_some(run + 1),
            ..self.clone()
        }
    }

    /// How clients reach `spec` at `addr` and check its certificate.
    pub fn target(&self, spec: &ServerSpec, addr: std::net::SocketAddr) -> Target {
        Target::new(
            addr,
            self.verify.server_name(spec),
            self.verify.trust(spec, &self.certs),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// The server broke a rule the harness observed.
    Fail,
    Skip,
    /// No verdict on the server: the harness could not run the case (a
    /// server it could not start for it, a client stack that failed).
    Error,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
            Status::Error => "ERROR",
        }
    }

    /// A case's status from its checks: a check the server failed makes a
    /// `fail`, whatever else went wrong; a check the harness could not
    /// make, an `error`.
    pub fn of(checks: &[Check]) -> Status {
        if checks.iter().any(Check::failed_by_server) {
            Status::Fail
        } else if checks.iter().any(|c| !c.is_ok()) {
            Status::Error
        } else {
            Status::Pass
        }
    }
}

/// One scenario run by one driver against one server.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_stderr: Vec<String>,
    /// The seed of the network model and the attack, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Which run of a repeated case (`--repeat`), from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<u32>,
    /// For scenarios with a `network` section: what the relay did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkReport>,
    /// For scenarios with an `attack`: what the flood did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attack: Option<AttackReport>,
    /// What a reader should know beside the checks (e.g. how much load
    /// went to a server the harness did not start).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The evidence kept for this case (`--artifacts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<crate::evidence::Kept>,
}

impl CaseResult {
    /// A case not yet run.
    pub fn new(sc: &Scenario, driver: DriverKind, server: &str, cfg: &RunConfig) -> CaseResult {
        let seed = cfg.seed;
        CaseResult {
            scenario: sc.id.clone(),
            description: sc.description.clone(),
            driver,
            server: server.to_string(),
            level: sc.level,
            status: Status::Skip,
            reason: None,
            checks: Vec::new(),
            duration_ms: 0,
            server_stderr: Vec::new(),
            seed: (sc.network.is_some() || sc.attack.is_some()).then_some(seed),
            run: cfg.run,
            network: None,
            attack: None,
            notes: Vec::new(),
            artifacts: None,
        }
    }

    /// Skipped, and why.
    pub fn skipped(mut self, why: String) -> CaseResult {
        self.status = Status::Skip;
        self.reason = Some(why);
        self
    }

    /// Could not be run, for a reason that is not the server's behaviour.
    pub fn errored(mut self, why: String, started: Instant) -> CaseResult {
        self.status = Status::Error;
        self.reason = Some(why);
        self.duration_ms = started.elapsed().as_millis() as u64;
        self
    }

    /// Judged by its checks: the first one that decided the status is the
    /// reason.
    pub fn finish(mut self, checks: Vec<Check>, started: Instant) -> CaseResult {
        self.status = Status::of(&checks);
        let decisive = |c: &&Check| match self.status {
            Status::Fail => c.failed_by_server(),
            _ => !c.is_ok(),
        };
        self.reason = checks
            .iter()
            .find(decisive)
            .map(|c| format!("{}: expected {}, got {}", c.name, c.expected, c.actual));
        self.checks = checks;
        self.duration_ms = started.elapsed().as_millis() as u64;
        self
    }
}

#[cfg(test)]
impl CaseResult {
    /// A result for unit tests: `scenario` by the native driver against
    /// the openssl peer, with `status` and nothing else.
    pub fn example(scenario: &str, status: Status) -> CaseResult {
        CaseResult {
            scenario: scenario.into(),
            description: String::new(),
            driver: DriverKind::Native,
            server: "openssl".into(),
            level: Level::Must,
            status,
            reason: None,
            checks: Vec::new(),
            duration_ms: 0,
            server_stderr: Vec::new(),
            seed: None,
            run: None,
            network: None,
            attack: None,
            notes: Vec::new(),
            artifacts: None,
        }
    }
}

/// The seed of run `run` (from 0) of a case whose first run has `seed`.
pub fn run_seed(seed: u64, run: u32) -> u64 {
    if run == 0 {
        return seed;
    }
    // splitmix64's finaliser: neighbouring runs get unrelated seeds.
    let mut z = seed.wrapping_add(u64::from(run).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What the impaired network did during one case.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct NetworkReport {
    pub to_server: Tally,
    pub to_client: Tally,
    /// The client the server sent most to before validating its address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amplification: Option<Exposure>,
    /// What `network.rebind` did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebinds: Option<crate::netem::relay::Rebinds>,
}

/// What a flood of hostile datagrams did, and what it cost the server.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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
