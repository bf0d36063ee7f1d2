//! A native QUIC echo client on quiche.
//!
//! [`run`] carries out a [`Plan`] (streams, chunks, pauses, when to send
//! FIN) against one server and returns an [`Observation`] of everything the
//! server did: handshake and ALPN, bytes and FIN per stream, resets and
//! STOP_SENDING, the CONNECTION_CLOSE it sent, and timings. It never judges;
//! the harness does. Every wait is bounded by [`Plan::deadline`].
//!
//! With an empty ALPN list, [`run`] cannot use quiche (BoringSSL refuses to
//! start a QUIC handshake without ALPN); it sends a ClientHello built by
//! hand instead ([`initial`]) and observes only how the server answers it.

/// Initial packets by hand (the `quic-wire` crate, shared with the server).
pub use gate::{FinGate, GateTicket, StartGate, GATE_CHECK, GATE_KEEPALIVE};
pub use quic_wire as initial;
mod checkpoint;
mod gate;
mod load;
mod load_ending;
mod load_loop;
mod migrate;
pub mod progress;
mod raw;
mod reset;
mod session;
mod verify;

pub use checkpoint::Checkpoint;
pub use load::{echo_continues, pattern, run_load, LoadPlan, LoadReport, LOAD_GROUPS};
pub use load_ending::{at_deadline, Ending, PeerClose};
pub use load_loop::{drive, enlarge_buffers, open_socket, recv_all, LoadEngine, Timers};
pub use raw::{offer_hello, offer_hello_with, TokenUse};
pub use session::ClientError;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// TLS and transport settings for one connection.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// ALPN protocols offered, in order. Empty: no ALPN extension at all,
    /// which only the hand-built ClientHello can send (see [`run`]).
    pub alpn: Vec<String>,
    /// The name the certificate must be valid for. A host name is also
    /// sent as SNI; an IP address is not (RFC 6066 §3 forbids it) and is
    /// checked against the certificate's IP addresses instead.
    pub server_name: String,
    /// What the server's certificate is checked against.
    pub trust: Trust,
    /// Our idle timeout.
    pub idle_timeout: Duration,
    /// Receive windows far below the defaults, never raised beyond.
    pub windows: Option<Windows>,
    /// Offer only these TLS 1.3 cipher suites (IANA names, e.g.
    /// `TLS_CHACHA20_POLY1305_SHA256`); `None`: the stack's defaults.
    /// quiche cannot restrict them (BoringSSL fixes its TLS 1.3 suites).
    pub ciphers: Option<Vec<String>>,
    /// The QUIC version offered. quiche speaks version 1 only: for another
    /// version [`run`] offers a hand-built ClientHello and observes only
    /// the server's first answer, as for no ALPN.
    pub version: initial::Version,
}

/// A point in a connection's life at which the client acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// Once this many bytes of the first stream have been written.
    Written(usize),
    /// Once the first echoed bytes have arrived.
    EchoStarted,
}

impl Moment {
    /// Whether it has come, once `written` bytes of the first stream are
    /// out and (`echoed`) echoed bytes have arrived or not.
    pub fn came(self, written: usize, echoed: bool) -> bool {
        match self {
            Moment::Written(n) => written >= n,
            Moment::EchoStarted => echoed,
        }
    }
}

/// The credit a client grants: MAX_STREAM_DATA for each stream it opens
/// and MAX_DATA, from the start and at most (quiche's auto-tuning is held
/// to them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Windows {
    pub stream: u64,
    pub connection: u64,
}

/// When a client reads what the server sent, and so returns credit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reads {
    /// As soon as it arrives.
    #[default]
    AtOnce,
    /// At most once per interval: credit returns slowly.
    Every(Duration),
    /// Never: no credit is returned.
    Never,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            alpn: vec!["http/1.0".into()],
            server_name: "localhost".into(),
            trust: Trust::Nothing,
            idle_timeout: Duration::from_secs(30),
            windows: None,
            ciphers: None,
            version: initial::Version::V1,
        }
    }
}

/// What a client checks the server's certificate against.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Trust {
    /// No check at all (`--insecure`, and the harness's own probes).
    #[default]
    Nothing,
    /// The system's roots (BoringSSL's default paths; `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` override them).
    SystemRoots,
    /// This CA file. quiche also loads the system's roots beside it, so a
    /// certificate from a public CA passes too.
    CaFile(PathBuf),
}

impl Trust {
    pub fn verifies(&self) -> bool {
        *self != Trust::Nothing
    }
}

/// For reports: "against FILE", "against the system's roots", "not checked".
impl std::fmt::Display for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::Nothing => f.write_str("not checked"),
            Trust::SystemRoots => f.write_str("against the system's roots"),
            Trust::CaFile(ca) => write!(f, "against {}", ca.display()),
        }
    }
}

/// `name` as an IP address, when it is one: such a name is never sent as
/// SNI and is checked against the certificate's IP addresses.
pub fn ip_name(name: &str) -> Option<std::net::IpAddr> {
    name.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// The name to send as SNI: none for an IP address.
pub(crate) fn sni(name: &str) -> Option<&str> {
    (ip_name(name).is_none() && !name.is_empty()).then_some(name)
}

/// Bytes to write, then how long to wait before the next step.
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    pub data: Vec<u8>,
    pub pause_after: Duration,
}

/// When the client sends FIN on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fin {
    /// With the last chunk, in the same STREAM frame when it fits.
    #[default]
    WithLastChunk,
    /// In a frame of its own, this long after the last chunk.
    After(Duration),
    /// Never.
    Never,
}

/// What to do on one stream.
#[derive(Debug, Clone, Default)]
pub struct StreamPlan {
    pub chunks: Vec<Chunk>,
    pub fin: Fin,
    /// Open a unidirectional stream instead of a bidirectional one.
    pub uni: bool,
    /// Abandon the stream once everything (FIN included, if planned) is
    /// written and this much more time has passed.
    pub abort: Option<Abort>,
}

/// Abandoning a stream part way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abort {
    pub after: Duration,
    pub how: AbortHow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortHow {
    /// RESET_STREAM with this code: stop sending.
    Reset(u64),
    /// STOP_SENDING with this code: ask the server to stop sending.
    StopSending(u64),
}

impl StreamPlan {
    /// One chunk of `data` with FIN.
    pub fn echo(data: impl Into<Vec<u8>>) -> Self {
        StreamPlan {
            chunks: vec![Chunk {
                data: data.into(),
                pause_after: Duration::ZERO,
            }],
            fin: Fin::WithLastChunk,
            uni: false,
            abort: None,
        }
    }
}

/// How the client leaves once its streams are done (or the plan ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Leave {
    /// Close with NO_ERROR if the server has not closed first.
    #[default]
    Close,
    /// Go silent without a CONNECTION_CLOSE, as a crashed client would.
    Vanish,
}

/// A whole connection's script.
#[derive(Debug, Clone)]
pub struct Plan {
    pub streams: Vec<StreamPlan>,
    /// After every stream got FIN or a reset, wait this long for the
    /// server's CONNECTION_CLOSE before leaving.
    pub linger: Duration,
    /// Give up (and say so) after this long in all.
    pub deadline: Duration,
    /// Stop this long after the handshake completed, even if streams are
    /// unfinished.
    pub stop_after: Option<Duration>,
    pub leave: Leave,
    /// Told once the handshake completes, so a caller can order clients
    /// without sleeping.
    pub notify_established: Option<std::sync::mpsc::Sender<()>>,
    /// Once set (the server under test is known to be gone), the client
    /// abandons the connection within [`CANCEL_CHECK`] and says so.
    pub cancel: Option<Cancel>,
    /// Shared by connections that must all be open before any of them
    /// sends FIN: each writes its data, then holds its FIN until every
    /// connection of the gate has completed (or given up on) its handshake.
    pub fin_gate: Option<FinGate>,
    /// Shared by connections that must leave together: each, set up, waits
    /// there before its first datagram (bounded by [`START_WAIT`]).
    pub start_gate: Option<StartGate>,
    /// Where the connection's evidence goes: qlog, TLS secrets, datagrams.
    pub recorder: Option<Recorder>,
    /// When the server's bytes are read (and credit returned).
    pub reads: Reads,
    /// Start a key update (RFC 9001 §6) at each of these moments. quiche
    /// cannot start one; the quinn client can.
    pub key_updates: Vec<Moment>,
    /// Send a PING this often once the handshake is done, so that neither
    /// side's idle timer ends a quiet connection.
    pub keep_alive: Option<Duration>,
    /// Where session tickets are kept between connections (each connection
    /// given the same store saves its tickets there).
    pub sessions: Option<Sessions>,
    /// Resume a session from `sessions`, if there is one.
    pub resume: bool,
    /// Send the first stream's data as 0-RTT early data (needs `resume`).
    /// If the server rejects it, it is sent again after the handshake.
    pub early_data: bool,
    /// Move to a new local address (a new socket) at this moment, probing
    /// the new path first (RFC 9000 §9). The quiche client does this.
    pub migrate: Option<Moment>,
    /// Stop at this moment (having sent what was written so far) and wait
    /// at the checkpoint until released, e.g. while the server restarts;
    /// then go on. The wait is bounded by the deadline.
    pub checkpoint: Option<(Moment, Checkpoint)>,
}

/// How a planned connection migration went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Migration {
    /// The new path was validated and the connection moved to it.
    Done,
    /// The server forbids it (disable_active_migration): not tried.
    Forbidden,
    /// Tried, and why it did not happen.
    Failed(String),
}

/// Session tickets kept across connections, one store per client library
/// (each keeps them in its own form).
#[derive(Clone, Default)]
pub struct Sessions(
    std::sync::Arc<
        std::sync::Mutex<
            std::collections::HashMap<
                &'static str,
                std::sync::Arc<dyn std::any::Any + Send + Sync>,
            >,
        >,
    >,
);

impl Sessions {
    /// `library`'s store, made by `init` the first time.
    pub fn store<T: std::any::Any + Send + Sync>(
        &self,
        library: &'static str,
        init: impl FnOnce() -> T,
    ) -> Option<std::sync::Arc<T>> {
        let mut stores = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let store = stores
            .entry(library)
            .or_insert_with(|| std::sync::Arc::new(init()));
        std::sync::Arc::clone(store).downcast::<T>().ok()
    }
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions")
    }
}

/// Evidence of one connection, for a person debugging a server: its qlog,
/// its TLS secrets (so a capture can be decrypted) and every datagram.
pub trait Record: Send + Sync {
    /// Where this connection's qlog (JSON-SEQ) goes, if anywhere.
    fn qlog(&self) -> Option<Box<dyn std::io::Write + Send + Sync>>;
    /// Where its TLS secrets go (NSS key log format), if anywhere.
    fn keylog(&self) -> Option<Box<dyn std::io::Write + Send + Sync>>;
    /// One datagram the client sent or received, as it saw it.
    fn datagram(&self, from: SocketAddr, to: SocketAddr, data: &[u8]);
}

/// A shared [`Record`].
#[derive(Clone)]
pub struct Recorder(pub std::sync::Arc<dyn Record>);

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

/// A flag that abandons every connection that holds it.
pub type Cancel = std::sync::Arc<std::sync::atomic::AtomicBool>;

/// How often a client with a [`Plan::cancel`] flag looks at it while it
/// waits for the network.
pub const CANCEL_CHECK: Duration = Duration::from_millis(50);

/// How long a connection waits at a [`StartGate`] for the others.
pub const START_WAIT: Duration = Duration::from_secs(10);

/// Whether the plan's [`Plan::cancel`] flag is set.
pub fn cancelled(plan: &Plan) -> bool {
    plan.cancel
        .as_ref()
        .is_some_and(|c| c.load(std::sync::atomic::Ordering::Acquire))
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            streams: Vec::new(),
            linger: Duration::from_millis(1000),
            deadline: Duration::from_secs(10),
            stop_after: None,
            leave: Leave::Close,
            notify_established: None,
            cancel: None,
            fin_gate: None,
            start_gate: None,
            recorder: None,
            reads: Reads::AtOnce,
            key_updates: Vec::new(),
            keep_alive: None,
            sessions: None,
            resume: false,
            early_data: false,
            migrate: None,
            checkpoint: None,
        }
    }
}

/// A CONNECTION_CLOSE as seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    /// Application (true) or transport (false) error space.
    pub app: bool,
    pub code: u64,
    pub reason: String,
}

/// What the server did on one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamObservation {
    pub id: u64,
    /// Bytes the client wrote (accepted by its transport).
    pub sent: usize,
    /// Whether the client's FIN was written.
    pub fin_sent: bool,
    pub received: Vec<u8>,
    /// The server's FIN arrived.
    pub fin_received: bool,
    /// Bytes that arrived before the client sent FIN (all of them if it
    /// never did).
    pub received_before_fin: usize,
    /// RESET_STREAM code from the server.
    pub reset: Option<u64>,
    /// STOP_SENDING code from the server.
    pub stop_sending: Option<u64>,
    /// From the client's FIN to the server's FIN.
    pub echo_time: Option<Duration>,
    /// When the client's FIN was written.
    pub fin_sent_at: Option<Instant>,
    /// When the server's FIN arrived (`None` also for a client that cannot
    /// tell).
    pub fin_received_at: Option<Instant>,
}

/// How the handshake went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handshake {
    Completed { alpn: String, after: Duration },
    NotCompleted,
}

/// Everything the client saw on one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub handshake: Handshake,
    /// When the client started (before its first datagram); `None` for a
    /// client that cannot tell.
    pub started_at: Option<Instant>,
    /// When the handshake completed, to compare connections made at once.
    pub established_at: Option<Instant>,
    pub streams: Vec<StreamObservation>,
    /// The server's CONNECTION_CLOSE, if one arrived.
    pub peer_close: Option<Close>,
    /// Our own close, if the client's transport closed (including errors
    /// such as a certificate that fails verification).
    pub local_close: Option<Close>,
    /// The connection hit its idle timeout.
    pub idle_timed_out: bool,
    /// The plan's deadline passed before the connection was done.
    pub deadline_hit: bool,
    /// Nothing listens at the server's address: a datagram came back as
    /// ICMP port unreachable (ECONNREFUSED), so the client stopped at once.
    pub unreachable: bool,
    /// The plan's [`Plan::cancel`] flag was set, so the client stopped.
    pub abandoned: bool,
    pub elapsed: Duration,
    /// Whether the handshake resumed an earlier session (no certificate);
    /// `None` when it did not complete.
    pub resumed: Option<bool>,
    /// Whether the server accepted 0-RTT data; `None` when none was sent
    /// (or the client cannot tell).
    pub early_data_accepted: Option<bool>,
    /// How a planned migration went; `None` when none was planned or its
    /// moment never came.
    pub migration: Option<Migration>,
    /// The connection ended with a stateless reset from the server (RFC
    /// 9000 §10.3): a datagram ending in the token the server gave for
    /// the connection ID in use.
    pub stateless_reset: bool,
    /// Whether the server gave a stateless reset token in its transport
    /// parameters; `None` when the client cannot tell.
    pub reset_token_given: Option<bool>,
    /// Why a stateless reset could have gone unseen by this client, when it
    /// could (its stack then cannot tell "no reset" from "not recognised").
    pub reset_unseen: Option<String>,
    /// The versions of the server's Version Negotiation packet, if it
    /// answered the version offered with one.
    pub version_negotiation: Option<Vec<u32>>,
}

impl Observation {
    /// Nothing seen yet: no handshake, no streams, no close.
    pub fn nothing() -> Observation {
        Observation {
            handshake: Handshake::NotCompleted,
            started_at: None,
            established_at: None,
            streams: Vec::new(),
            peer_close: None,
            local_close: None,
            idle_timed_out: false,
            deadline_hit: false,
            unreachable: false,
            abandoned: false,
            elapsed: Duration::ZERO,
            resumed: None,
            early_data_accepted: None,
            migration: None,
            stateless_reset: false,
            reset_token_given: None,
            reset_unseen: None,
            version_negotiation: None,
        }
    }
}

/// Connects to `server`, carries out `plan` and reports what happened.
///
/// Errors are the client's own (bad configuration, socket failure); anything
/// the server does, including not answering, is in the [`Observation`].
///
/// When `cfg.alpn` is empty the client offers a ClientHello without the
/// ALPN extension and stops at the server's first answer: the handshake
/// cannot complete, so `plan` must not have streams. Likewise when
/// `cfg.version` is not version 1.
pub fn run(
    server: SocketAddr,
    cfg: &ClientConfig,
    plan: &Plan,
) -> Result<Observation, ClientError> {
    if let Some(why) = cannot_carry(cfg, plan) {
        return Err(ClientError::Config(why));
    }
    if !cfg.alpn.is_empty() && cfg.version == initial::Version::V1 {
        return session::run(server, cfg, plan);
    }
    if !plan.streams.is_empty() {
        return Err(ClientError::Config(
            "a client offering no ALPN, or a QUIC version other than 1, goes no further than \
             the server's first answer, so it cannot open streams"
                .into(),
        ));
    }
    raw::offer_hello_until(server, cfg, plan.deadline, plan.cancel.as_ref())
}

/// Why this client cannot carry out `plan` with `cfg`, if it cannot: what
/// quiche gives an application no way to do. The drivers read it rather
/// than restate it.
pub fn cannot_carry(cfg: &ClientConfig, plan: &Plan) -> Option<String> {
    if !plan.key_updates.is_empty() {
        return Some("quiche has no way for an application to start a key update".into());
    }
    if plan.early_data {
        return Some(
            "quiche does not tell whether the server accepted 0-RTT data, nor send again what \
             it turned down"
                .into(),
        );
    }
    if cfg.ciphers.is_some() {
        return Some(
            "quiche cannot restrict its cipher suites (BoringSSL fixes its TLS 1.3 suites)".into(),
        );
    }
    None
}

/// The wildcard address, any port, of `server`'s family: where a client
/// socket binds.
pub fn any_port_for(server: SocketAddr) -> SocketAddr {
    let ip: std::net::IpAddr = if server.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    SocketAddr::new(ip, 0)
}
