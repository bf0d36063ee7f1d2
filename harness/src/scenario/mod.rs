//! The scenario file format: one JSON file holds one scenario. The types
//! here are the format (and its JSON Schema); [`load`] reads files with
//! errors that point at the file, line and column, after [`validate`] has
//! checked what the types cannot.

mod attack;
mod load;
mod network;
mod validate;

pub use attack::{AttackSpec, Kind as DatagramKind};
pub use load::{json_schema, load, parse, LoadError, Loaded};
pub use network::{NetworkSpec, Rebind, Stall, Window};

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Whether a scenario checks what the guide describes, or robustness beyond it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Behaviour ossl-guide-quic-server-non-block(7) describes.
    Must,
    /// Robustness beyond the guide (concurrency, stalled clients...).
    Should,
}

/// A client implementation that can carry a scenario.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DriverKind {
    /// The harness's own quiche client.
    Native,
    /// `openssl s_client -quic`.
    Openssl,
    /// The harness's quinn + rustls client.
    Quinn,
}

impl fmt::Display for DriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriverKind::Native => "native",
            DriverKind::Openssl => "openssl",
            DriverKind::Quinn => "quinn",
        })
    }
}

/// One scenario: connections to make and what each must observe.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Editor hint; ignored.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Unique id, e.g. `alpn/h3-rejected`.
    pub id: String,
    /// One sentence: the rule this scenario checks.
    pub description: String,
    pub level: Level,
    /// Start the server under test with these flags, in the reference
    /// server's terms (e.g. `["--max-connections", "50"]`). A `--server`
    /// template gets them where it says `{args}`; without `{args}` the
    /// scenario is skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_args: Vec<String>,
    /// Start the server on `[::1]` and make every connection over IPv6. A
    /// `--server` template then needs `{host}` (it becomes `[::1]`); a
    /// `--connect` target must be an IPv6 address.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ipv6: bool,
    /// Clients that run this scenario; each gives its own result.
    #[serde(default = "default_drivers")]
    pub drivers: Vec<DriverKind>,
    /// Run all connections at once instead of one after another.
    #[serde(default)]
    pub concurrent: bool,
    /// With `concurrent`: every connection must have completed its
    /// handshake before any of them sent FIN, so all were open at once.
    /// Clients that can (the native one) send their data, then hold FIN
    /// until every connection of the case is open or has given up.
    #[serde(default)]
    pub together: bool,
    pub connections: Vec<ConnectionSpec>,
    /// Afterwards a fresh client must still get a clean echo.
    #[serde(default)]
    pub then_served: bool,
    /// Overrides `--timeout` for this scenario (milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Run the connections through a relay that impairs the network
    /// (seeded: `--seed` replays a run). `then_served` goes direct.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSpec>,
    /// Before the connections, flood the server with hostile datagrams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack: Option<AttackSpec>,
}

impl Scenario {
    /// The loopback address a server started for this scenario listens on.
    pub fn host(&self) -> std::net::IpAddr {
        if self.ipv6 {
            std::net::Ipv6Addr::LOCALHOST.into()
        } else {
            std::net::Ipv4Addr::LOCALHOST.into()
        }
    }
}

fn default_drivers() -> Vec<DriverKind> {
    vec![DriverKind::Native]
}

fn default_alpn() -> Vec<String> {
    vec!["http/1.0".into()]
}

pub(crate) fn one() -> u32 {
    1
}

/// One client connection (or `repeat` of them).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSpec {
    /// ALPN protocols offered, in order. `[]` offers no ALPN extension at
    /// all: the handshake cannot complete, so such a connection has no
    /// streams and only its handshake and close are checked.
    #[serde(default = "default_alpn")]
    pub alpn: Vec<String>,
    /// Make this many such connections; `{n}` in text payloads becomes the
    /// connection's index.
    #[serde(default = "one")]
    pub repeat: u32,
    /// Streams opened once the handshake completes.
    #[serde(default)]
    pub streams: Vec<StreamSpec>,
    /// How the client leaves.
    #[serde(default)]
    pub leave: LeaveSpec,
    /// Leave this many milliseconds after the handshake completed, even if
    /// streams are unfinished (s_client: after it started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_ms: Option<u64>,
    /// The client's flow-control credit and how it reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<FlowSpec>,
    /// Resume the session of an earlier connection of this scenario (the
    /// clients keep the server's session tickets for the scenario).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resume: bool,
    /// With `resume`: send the first stream's data as 0-RTT early data
    /// (again after the handshake if the server turns it down).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub early_data: bool,
    /// Move to a new local address (a new socket) at this moment, probing
    /// the new path first (RFC 9000 §9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrate: Option<MomentSpec>,
    /// Offer this QUIC version (RFC 9369's version 2, `v2`, which only
    /// the native driver's hand-built Initial speaks): the client goes no
    /// further than the server's first answer, so it has no streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quic_version: Option<QuicVersion>,
    /// At this moment the harness restarts the server on the same address
    /// (killed outright, as a crash would): the client stops sending until
    /// the new process is up, then goes on on its old connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_server: Option<MomentSpec>,
    /// Send a PING this often (milliseconds) once the handshake is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive_ms: Option<u64>,
    /// Start a TLS key update (RFC 9001 §6) at each of these moments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_updates: Vec<MomentSpec>,
    /// Offer only these TLS 1.3 cipher suites (IANA names, e.g.
    /// `TLS_CHACHA20_POLY1305_SHA256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphers: Option<Vec<String>>,
    /// Wait this many milliseconds before connecting: in a sequential
    /// scenario after the connection before it, in a concurrent one after
    /// the `first` connections' handshakes (the scenario's pacing, e.g. past
    /// an idle timeout, or until another connection is surely waiting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_ms: Option<u64>,
    /// In a concurrent scenario, start the other connections only once
    /// this one's handshake completed.
    #[serde(default)]
    pub first: bool,
    #[serde(default)]
    pub expect: Expect,
}

/// A client that grants little credit (RFC 9000 §4): the server may send
/// no more than these windows allow, and must still echo everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    /// MAX_STREAM_DATA for each stream the client opens, in bytes: the
    /// initial window and the largest it ever grants ahead.
    pub stream_window: u64,
    /// MAX_DATA for the connection, in bytes, likewise.
    pub connection_window: u64,
    /// Read (and so return credit) at most once per this many milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_every_ms: Option<u64>,
    /// Never read: no credit beyond the first windows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub never_read: bool,
}

/// A QUIC version a client can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuicVersion {
    /// Version 1 (RFC 9000), what every client offers by default.
    V1,
    /// Version 2 (RFC 9369).
    V2,
}

/// A point in a connection's life at which the client acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MomentSpec {
    /// Once this many bytes of the first stream have been written.
    AfterBytes(usize),
    /// Once the first echoed bytes have arrived.
    EchoStarted,
}

/// What one stream sends.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    pub send: Payload,
    /// Write the payload in pieces of this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<usize>,
    /// Milliseconds to wait after each piece.
    #[serde(default)]
    pub pause_ms: u64,
    #[serde(default)]
    pub fin: FinSpec,
    /// Open a unidirectional stream.
    #[serde(default)]
    pub uni: bool,
    /// Abandon the stream after everything (FIN included, if any) is
    /// written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<AbortSpec>,
}

/// How to abandon a stream: exactly one of `reset` and `stop_sending`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AbortSpec {
    /// Milliseconds after the last write.
    #[serde(default)]
    pub after_ms: u64,
    /// Send RESET_STREAM with this code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<u64>,
    /// Send STOP_SENDING with this code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sending: Option<u64>,
}

/// Bytes to send.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Payload {
    /// UTF-8 text; `{n}` is replaced by the connection index.
    Text(String),
    /// Hexadecimal bytes, e.g. `"00ff7f"`.
    Hex(String),
    /// `len` generated bytes.
    Generate { len: usize, pattern: Pattern },
}

/// How generated bytes look.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// 0, 1, ..., 255, 0, 1, ...
    Counter,
    /// All zero.
    Zeros,
    /// Printable ASCII `a`..`z` repeated.
    Ascii,
}

impl Payload {
    /// The bytes for connection number `n`.
    pub fn bytes(&self, n: u32) -> Vec<u8> {
        match self {
            Payload::Text(t) => t.replace("{n}", &n.to_string()).into_bytes(),
            Payload::Hex(h) => decode_hex(h).expect("validated at load time"),
            Payload::Generate { len, pattern } => (0..*len)
                .map(|i| match pattern {
                    Pattern::Counter => i as u8,
                    Pattern::Zeros => 0,
                    Pattern::Ascii => b'a' + (i % 26) as u8,
                })
                .collect(),
        }
    }
}

pub(crate) fn decode_hex(h: &str) -> Result<Vec<u8>, String> {
    let h: String = h.chars().filter(|c| !c.is_whitespace()).collect();
    if !h.len().is_multiple_of(2) {
        return Err("hex payload has an odd number of digits".into());
    }
    (0..h.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&h[i..i + 2], 16)
                .map_err(|_| format!("`{}` is not a hex byte", &h[i..i + 2]))
        })
        .collect()
}

/// When the client sends FIN.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FinSpec {
    /// With the last bytes.
    #[default]
    WithData,
    /// In a frame of its own, this many milliseconds after the last bytes.
    AfterMs(u64),
    /// Never.
    Never,
}

/// How the client leaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeaveSpec {
    /// Close with NO_ERROR unless the server closed first.
    #[default]
    Close,
    /// Go silent, as a crashed client would.
    Vanish,
}

/// The handshake's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandshakeExpect {
    Accepted,
    Rejected,
}

/// An error code, written as a number or a `"0x..."` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Code {
    Number(u64),
    Hex(HexCode),
}

/// `"0x..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct HexCode(pub u64);

impl TryFrom<String> for HexCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.strip_prefix("0x")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .map(HexCode)
            .ok_or_else(|| format!("error code `{s}` is neither a number nor 0x-prefixed hex"))
    }
}

impl From<HexCode> for String {
    fn from(h: HexCode) -> String {
        format!("{:#x}", h.0)
    }
}

impl Code {
    pub fn value(&self) -> u64 {
        match self {
            Code::Number(n) => *n,
            Code::Hex(h) => h.0,
        }
    }
}

/// Which CONNECTION_CLOSE the server must send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CloseExpect {
    /// A clean close: NO_ERROR (0x0) as an application or a transport
    /// close. RFC 9000 §10.2 lets an endpoint close with either frame type,
    /// and §20.1 defines transport NO_ERROR for a close without error;
    /// OpenSSL's SSL_shutdown(3), which the guide's server uses, sends the
    /// transport one.
    NoError,
    /// Application close with exactly this code (0 is NO_ERROR).
    App(Code),
    /// Transport close with exactly this code (0x178: no_application_protocol).
    Transport(Code),
    /// Any application close with a non-zero code.
    AnyAppError,
    /// Any close at all, from the server.
    Any,
    /// The server must not close during the connection.
    None,
}

/// What a connection must observe. Absent fields are not checked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake: Option<HandshakeExpect>,
    /// The negotiated ALPN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    /// Every bidirectional stream got back exactly what it sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<bool>,
    /// Every bidirectional stream got (true) or did not get (false) a FIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fin: Option<bool>,
    /// No byte arrived before the client sent its FIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nothing_before_fin: Option<bool>,
    /// Nothing that is a strict prefix of what was sent was echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_truncated_echo: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<CloseExpect>,
    /// Unidirectional streams got STOP_SENDING with this code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sending: Option<Code>,
    /// The handshake resumed an earlier session (no certificate sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed: Option<bool>,
    /// The connection moved to its new address (`migrate`). Skipped when
    /// the server forbids active migration (RFC 9000 §18.2 lets it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrated: Option<bool>,
    /// The server accepted the 0-RTT data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_data_accepted: Option<bool>,
    /// The server answered the QUIC version offered (`quic_version`) in
    /// that version, or with a Version Negotiation packet listing version
    /// 1, so the client can go on in version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_negotiated: Option<bool>,
    /// The connection ended with a stateless reset from the server (RFC
    /// 9000 §10.3). Skipped when the server gave no reset token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stateless_reset: Option<bool>,
    /// The server's FIN on every bidirectional stream arrived at most this
    /// many milliseconds after the client started (its first datagram).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_ms: Option<u64>,
}
