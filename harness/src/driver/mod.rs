//! Clients that carry scenarios. Each driver turns a [`ConnectionSpec`] into
//! real traffic and reports an [`echo_client::Observation`]; what it cannot
//! do or cannot see, it says, so the runner can SKIP instead of guessing.

pub mod native;
pub mod openssl;
pub mod plan;
pub mod quinn;

use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::time::Duration;

use crate::scenario::ConnectionSpec;

/// Where and how to reach the server under test.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// The name the server's certificate must be valid for (and the SNI,
    /// unless it is an IP address).
    pub server_name: String,
    /// What the driver checks the server's certificate against.
    pub trust: echo_client::Trust,
    /// Set once the server is known to be gone: drivers abandon their
    /// connections at once (and say so) instead of waiting out deadlines.
    pub cancel: echo_client::Cancel,
    /// Shared by a `together` case's connections: each holds its FIN until
    /// all of them are open. A driver that cannot hold FIN arrives at once.
    pub fin_gate: Option<echo_client::FinGate>,
    /// Shared by a concurrent case's timed connections (`within_ms`): each
    /// waits there, set up, so that they reach the server at once.
    pub start_gate: Option<echo_client::StartGate>,
    /// How long a client whose streams are done waits for the server's
    /// CONNECTION_CLOSE (more when many clients are served at once).
    pub close_wait: Duration,
    /// Where the case's evidence goes (`--artifacts`), if anywhere.
    pub evidence: Option<std::sync::Arc<crate::evidence::CaseEvidence>>,
    /// Reached through the relay, which then captures the datagrams.
    pub relayed: bool,
    /// Through a relay that loses or corrupts datagrams at random.
    pub lossy: bool,
    /// Session tickets, shared by the case's connections (`resume`).
    pub sessions: echo_client::Sessions,
    /// Where a connection with `restart_server` waits while the harness
    /// restarts the server.
    pub restart: Option<echo_client::Checkpoint>,
}

/// [`Target::close_wait`] for one client at a time.
pub const CLOSE_WAIT: Duration = Duration::from_secs(1);

impl Target {
    /// `addr`, its certificate checked for `server_name` against `trust`,
    /// with its own cancel flag.
    pub fn new(addr: SocketAddr, server_name: String, trust: echo_client::Trust) -> Target {
        Target {
            addr,
            server_name,
            trust,
            cancel: echo_client::Cancel::default(),
            fin_gate: None,
            start_gate: None,
            close_wait: CLOSE_WAIT,
            evidence: None,
            relayed: false,
            lossy: false,
            sessions: echo_client::Sessions::default(),
            restart: None,
        }
    }
}

/// What one connection sent and saw.
#[derive(Debug, Clone)]
pub struct Run {
    /// Bytes sent per stream, in stream order.
    pub sent: Vec<Vec<u8>>,
    pub obs: echo_client::Observation,
}

/// Observations a driver cannot make, each with the reason.
#[derive(Debug, Clone, Default)]
pub struct Blind {
    pub fin: Option<String>,
    pub nothing_before_fin: Option<String>,
    pub stop_sending: Option<String>,
    pub close: Option<String>,
    pub alpn: Option<String>,
    /// When the handshake completed and FIN was sent (`together`).
    pub timing: Option<String>,
}

pub trait Driver: Sync {
    /// Why this driver cannot carry `spec` (so the scenario is skipped).
    fn cannot_run(&self, spec: &ConnectionSpec) -> Option<String>;
    /// What this driver cannot see on `spec`'s connections; those checks
    /// are reported as skipped, never as passed or failed.
    fn blind(&self, spec: &ConnectionSpec) -> Blind;
    /// Makes connection number `n` of `spec`, giving up after `deadline`.
    /// `established` is told once the handshake completes.
    fn run(
        &self,
        target: &Target,
        spec: &ConnectionSpec,
        n: u32,
        deadline: Duration,
        established: Option<Sender<()>>,
    ) -> Result<Run, String>;
}
