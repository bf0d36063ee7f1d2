//! The scenario file format, and loading it with errors that point at the
//! file, line and column.
//!
//! One JSON file holds one scenario. Files ending in `.schema.json` are
//! skipped (the JSON Schema lives beside the scenarios).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

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
}

impl fmt::Display for DriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriverKind::Native => "native",
            DriverKind::Openssl => "openssl",
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

fn default_max_cpu() -> f64 {
    200.0
}

/// A flood of hostile datagrams (seeded by `--seed`, like `network`).
/// Afterwards the server must still be running; if `unknown_version` is
/// among the kinds it must have sent Version Negotiation; its CPU time per
/// datagram must stay under `max_cpu_us_per_datagram`; and it must not
/// amplify: see `spoofed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttackSpec {
    /// How many datagrams (0 to 10,000,000).
    pub datagrams: u64,
    /// Which kinds, chosen at random per datagram; empty or absent: all.
    #[serde(default)]
    pub kinds: Vec<crate::hostile::Kind>,
    /// Server CPU microseconds per datagram sent, at most.
    #[serde(default = "default_max_cpu")]
    pub max_cpu_us_per_datagram: f64,
    /// Then this many real Initials from clients that never answer (as if
    /// spoofed); the server may send back at most `max_amplification`
    /// times the bytes it got from them (RFC 9000 §8.1). 0: skip.
    #[serde(default = "twenty")]
    pub spoofed: u32,
    #[serde(default = "three")]
    pub max_amplification: f64,
    /// Then this many real Retry tokens sent back at once from another
    /// port, and as many sent back from their own address after
    /// `token_age_ms`, beside one used correctly (the control, which must
    /// be accepted): the server must not go on with a handshake for any
    /// misused token. 0: skip. Skipped, too, if the server sends no Retry.
    #[serde(default)]
    pub stale_tokens: u32,
    /// Longer than the server's token lifetime (the reference server's is
    /// `--token-lifetime`, 10 s by default).
    #[serde(default = "eleven_seconds")]
    pub token_age_ms: u64,
    /// Misused tokens must be answered with INVALID_TOKEN (0xb) rather
    /// than silence (RFC 9000 §8.1.3 says a server SHOULD).
    #[serde(default)]
    pub invalid_token_close: bool,
}

fn eleven_seconds() -> u64 {
    11_000
}

fn twenty() -> u32 {
    20
}

fn three() -> f64 {
    3.0
}

fn ten() -> u64 {
    10
}

/// Network impairments, applied to each datagram in either direction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Probability that a datagram starts a loss (0 to 1).
    #[serde(default)]
    pub loss: f64,
    /// Datagrams dropped per loss, the first included.
    #[serde(default = "one")]
    pub loss_burst: u32,
    /// Probability that a datagram is held back `reorder_ms` so later ones
    /// overtake it.
    #[serde(default)]
    pub reorder: f64,
    #[serde(default = "ten")]
    pub reorder_ms: u64,
    /// Probability that a datagram is delivered twice.
    #[serde(default)]
    pub duplicate: f64,
    /// Probability that one bit of a datagram is flipped.
    #[serde(default)]
    pub corrupt: f64,
    /// Fixed one-way delay.
    #[serde(default)]
    pub delay_ms: u64,
    /// Extra random one-way delay, 0 to this many milliseconds.
    #[serde(default)]
    pub jitter_ms: u64,
    /// Drop these datagrams (0 = the first) on the way to the server.
    #[serde(default)]
    pub drop_to_server: Vec<u64>,
    /// Drop these datagrams (0 = the first) on the way to the client.
    #[serde(default)]
    pub drop_to_client: Vec<u64>,
    /// Drop everything in these windows (milliseconds from the start).
    #[serde(default)]
    pub blackhole: Vec<Window>,
    /// Per client: after its first `after` datagrams to the server, drop
    /// everything it sends for `ms` (the server hears nothing more while it
    /// waits to learn the client got its first flight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_to_server: Option<Stall>,
    /// Check, at the relay, that before a client's address is validated the
    /// server sends it at most this many times the bytes it received from
    /// it (RFC 9000 §8.1 says 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amplification: Option<f64>,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            loss: 0.0,
            loss_burst: 1,
            reorder: 0.0,
            reorder_ms: 10,
            duplicate: 0.0,
            corrupt: 0.0,
            delay_ms: 0,
            jitter_ms: 0,
            drop_to_server: Vec::new(),
            drop_to_client: Vec::new(),
            blackhole: Vec::new(),
            stall_to_server: None,
            max_amplification: None,
        }
    }
}

/// See [`NetworkSpec::stall_to_server`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stall {
    pub after: u64,
    pub ms: u64,
}

/// A stretch of time, `[from_ms, to_ms)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub from_ms: u64,
    pub to_ms: u64,
}

impl NetworkSpec {
    fn validate(&self) -> Result<(), String> {
        for (name, p) in [
            ("reorder", self.reorder),
            ("duplicate", self.duplicate),
            ("corrupt", self.corrupt),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("network.{name} must be a probability from 0 to 1"));
            }
        }
        if !(0.0..0.9).contains(&self.loss) {
            return Err("network.loss must be from 0 to below 0.9".into());
        }
        if !(1..=100).contains(&self.loss_burst) {
            return Err("network.loss_burst must be 1 to 100".into());
        }
        for (name, ms) in [
            (
                "stall_to_server.ms",
                self.stall_to_server.as_ref().map_or(0, |s| s.ms),
            ),
            ("delay_ms", self.delay_ms),
            ("jitter_ms", self.jitter_ms),
            ("reorder_ms", self.reorder_ms),
        ] {
            if ms > 10_000 {
                return Err(format!("network.{name} must be at most 10000"));
            }
        }
        if self
            .max_amplification
            .is_some_and(|f| !(f.is_finite() && f > 0.0))
        {
            return Err("network.max_amplification must be a positive number".into());
        }
        if let Some(w) = self.blackhole.iter().find(|w| w.from_ms >= w.to_ms) {
            return Err(format!(
                "network.blackhole: window {}..{} must end after it starts",
                w.from_ms, w.to_ms
            ));
        }
        Ok(())
    }
}

fn default_drivers() -> Vec<DriverKind> {
    vec![DriverKind::Native]
}

fn default_alpn() -> Vec<String> {
    vec!["http/1.0".into()]
}

fn one() -> u32 {
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
    /// In a concurrent scenario, start the other connections only once
    /// this one's handshake completed.
    #[serde(default)]
    pub first: bool,
    #[serde(default)]
    pub expect: Expect,
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

fn decode_hex(h: &str) -> Result<Vec<u8>, String> {
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
    /// The whole connection took at most this many milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_ms: Option<u64>,
}

/// A scenario and the file it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub scenario: Scenario,
}

/// A problem with a scenario file, formatted `path:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError(pub String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// Parses one scenario from text; `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, LoadError> {
    let scenario: Scenario = serde_json::from_str(text).map_err(|e| {
        // serde_json appends " at line L column C"; we lead with it instead.
        let msg = e.to_string();
        let msg = match msg.rfind(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        LoadError(format!(
            "{}:{}:{}: {}",
            path.display(),
            e.line(),
            e.column(),
            msg.replace('`', "\"")
        ))
    })?;
    validate(&scenario).map_err(|m| {
        LoadError(format!(
            "{}: scenario \"{}\": {m}",
            path.display(),
            scenario.id
        ))
    })?;
    Ok(scenario)
}

/// Checks what the types cannot: ranges, ids, payloads.
fn validate(s: &Scenario) -> Result<(), String> {
    const MAX_PAYLOAD: usize = 64 * 1024 * 1024;
    if s.id.is_empty() || s.id.chars().any(|c| c.is_whitespace()) {
        return Err("id must be non-empty with no spaces".into());
    }
    if s.drivers.is_empty() {
        return Err("drivers must name at least one driver".into());
    }
    if s.connections.is_empty() {
        return Err("connections must not be empty".into());
    }
    if s.server_args.len() > 64
        || s.server_args
            .iter()
            .any(|a| a.is_empty() || a.len() > 4096 || a.contains('\0'))
    {
        return Err("server_args: at most 64 flags, each 1 to 4096 characters without NUL".into());
    }
    if s.together && !s.concurrent {
        return Err("together needs \"concurrent\": true".into());
    }
    // Times are added to clocks: absurd values would overflow them.
    const MAX_MS: u64 = 3_600_000;
    let too_long = |what: String, ms: u64| {
        (ms > MAX_MS).then(|| format!("{what} must be at most {MAX_MS} (one hour)"))
    };
    if let Some(e) = s
        .timeout_ms
        .and_then(|ms| too_long("timeout_ms".into(), ms))
    {
        return Err(e);
    }
    for (i, c) in s.connections.iter().enumerate() {
        let at = format!("connections[{i}]");
        let mut times = vec![(format!("{at}.hold_ms"), c.hold_ms.unwrap_or(0))];
        times.push((
            format!("{at}.expect.within_ms"),
            c.expect.within_ms.unwrap_or(0),
        ));
        for (j, st) in c.streams.iter().enumerate() {
            times.push((format!("{at}.streams[{j}].pause_ms"), st.pause_ms));
            if let FinSpec::AfterMs(ms) = st.fin {
                times.push((format!("{at}.streams[{j}].fin.after_ms"), ms));
            }
            if let Some(a) = &st.abort {
                times.push((format!("{at}.streams[{j}].abort.after_ms"), a.after_ms));
                if a.reset.is_some() == a.stop_sending.is_some() {
                    return Err(format!(
                        "{at}.streams[{j}].abort needs exactly one of reset and stop_sending"
                    ));
                }
            }
        }
        if let Some(e) = times.into_iter().find_map(|(w, ms)| too_long(w, ms)) {
            return Err(e);
        }
    }
    if let Some(n) = &s.network {
        n.validate()?;
    }
    if let Some(a) = &s.attack {
        if a.datagrams > 10_000_000 {
            return Err("attack.datagrams must be at most 10000000".into());
        }
        if a.stale_tokens > 100 {
            return Err("attack.stale_tokens must be at most 100".into());
        }
        if a.token_age_ms > 120_000 {
            return Err("attack.token_age_ms must be at most 120000".into());
        }
        if a.max_cpu_us_per_datagram.is_nan() || a.max_cpu_us_per_datagram <= 0.0 {
            return Err("attack.max_cpu_us_per_datagram must be positive".into());
        }
        if a.spoofed > 10_000 {
            return Err("attack.spoofed must be at most 10000".into());
        }
        if a.max_amplification.is_nan() || a.max_amplification <= 0.0 {
            return Err("attack.max_amplification must be positive".into());
        }
    }
    for (i, c) in s.connections.iter().enumerate() {
        let at = format!("connections[{i}]");
        if c.repeat == 0 || c.repeat > 10_000 {
            return Err(format!("{at}.repeat must be 1 to 10000"));
        }
        if c.alpn.is_empty() && !c.streams.is_empty() {
            return Err(format!(
                "{at}: a client offering no ALPN (\"alpn\": []) cannot complete a QUIC \
                 handshake, so it cannot have streams"
            ));
        }
        if let Some(a) = c.alpn.iter().find(|a| a.is_empty() || a.len() > 255) {
            return Err(format!("{at}.alpn: \"{a}\" must be 1 to 255 bytes"));
        }
        for (j, st) in c.streams.iter().enumerate() {
            let at = format!("{at}.streams[{j}]");
            if st.chunk_size == Some(0) {
                return Err(format!("{at}.chunk_size must be at least 1"));
            }
            match &st.send {
                Payload::Hex(h) => decode_hex(h)
                    .map(drop)
                    .map_err(|e| format!("{at}.send: {e}"))?,
                Payload::Generate { len, .. } if *len > MAX_PAYLOAD => {
                    return Err(format!(
                        "{at}.send.generate.len must be at most {MAX_PAYLOAD}"
                    ))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Loads every `*.json` under `paths` (files or folders, recursively, in
/// sorted order), failing on the first bad file or a duplicate id.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Loaded>, LoadError> {
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files)?;
    }
    let mut out = Vec::new();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| LoadError(format!("{}: cannot read: {e}", path.display())))?;
        let scenario = parse(&path, &text)?;
        if let Some(first) = seen.insert(scenario.id.clone(), path.clone()) {
            return Err(LoadError(format!(
                "{}: duplicate scenario id \"{}\" (first in {})",
                path.display(),
                scenario.id,
                first.display()
            )));
        }
        out.push(Loaded { path, scenario });
    }
    Ok(out)
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let meta =
        std::fs::metadata(path).map_err(|e| LoadError(format!("{}: {e}", path.display())))?;
    if meta.is_file() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| LoadError(format!("{}: {e}", path.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        let name = e.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if e.is_dir() {
            collect(&e, files)?;
        } else if name.ends_with(".json") && !name.ends_with(".schema.json") {
            files.push(e);
        }
    }
    Ok(())
}

/// The JSON Schema of a scenario file.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Scenario);
    serde_json::to_string_pretty(&schema).expect("schema serialises") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Scenario, LoadError> {
        parse(Path::new("s/x.json"), text)
    }

    const GOOD: &str = r#"{
  "id": "a/b",
  "description": "d",
  "level": "must",
  "connections": [{"streams": [{"send": {"hex": "00ff"}, "fin": {"after_ms": 5}}],
                   "expect": {"close": {"transport": "0x178"}, "echo": true}}]
}"#;

    #[test]
    fn a_valid_file_parses_with_defaults() {
        let s = p(GOOD).unwrap();
        assert_eq!(s.drivers, vec![DriverKind::Native]);
        let c = &s.connections[0];
        assert_eq!(c.alpn, vec!["http/1.0"]);
        assert_eq!(c.repeat, 1);
        assert_eq!(c.streams[0].send.bytes(0), vec![0x00, 0xff]);
        assert_eq!(c.streams[0].fin, FinSpec::AfterMs(5));
        assert_eq!(
            c.expect.close,
            Some(CloseExpect::Transport(Code::Hex(HexCode(0x178))))
        );
    }

    #[test]
    fn an_unknown_field_names_file_line_column_and_the_choices() {
        let text = GOOD.replace("\"echo\"", "\"expct\"");
        let e = p(&text).unwrap_err().0;
        assert!(e.starts_with("s/x.json:6:70: "), "{e}");
        assert!(
            e.contains("unknown field \"expct\", expected one of"),
            "{e}"
        );
    }

    #[test]
    fn wrong_types_and_bad_values_are_reported() {
        let e = p(&GOOD.replace("\"must\"", "\"maybe\"")).unwrap_err().0;
        assert!(
            e.starts_with("s/x.json:4:") && e.contains("unknown variant \"maybe\""),
            "{e}"
        );
        let e = p(&GOOD.replace("\"0x178\"", "\"376\"")).unwrap_err().0;
        assert!(e.contains("s/x.json:"), "{e}");
        let e = p(&GOOD.replace("00ff", "0g")).unwrap_err().0;
        assert!(e.contains("connections[0].streams[0].send"), "{e}");
        let e = p(&GOOD.replace("\"id\": \"a/b\"", "\"id\": \"a b\""))
            .unwrap_err()
            .0;
        assert!(e.contains("no spaces"), "{e}");
        let e = p(&GOOD.replace("\"streams\"", "\"repeat\": 0, \"streams\""))
            .unwrap_err()
            .0;
        assert!(e.contains("repeat must be 1 to 10000"), "{e}");
        let e = p("{").unwrap_err().0;
        assert!(e.starts_with("s/x.json:1:1: EOF"), "{e}");
        let e = p(&GOOD.replace("\"streams\"", "\"alpn\": [], \"streams\""))
            .unwrap_err()
            .0;
        assert!(
            e.contains("no ALPN") && e.contains("cannot have streams"),
            "{e}"
        );
    }

    #[test]
    fn hostile_files_give_clear_errors_not_panics() {
        // Deep nesting: the types stop it at once, with a position (and the
        // parser's recursion limit would stop it anyway: no stack overflow).
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = p(&deep).unwrap_err().0;
        assert!(e.starts_with("s/x.json:1:1: invalid type"), "{e}");
        let nested = format!("\"connections\": [{}", "[".repeat(100_000));
        let e = p(&GOOD.replace("\"connections\": [", &nested))
            .unwrap_err()
            .0;
        assert!(
            e.starts_with("s/x.json:5:") && e.contains("invalid type: sequence"),
            "{e}"
        );
        // Negative, fractional and absurd numbers; wrong types.
        let e = p(&GOOD.replace("\"streams\"", "\"repeat\": -1, \"streams\""))
            .unwrap_err()
            .0;
        assert!(
            e.contains("invalid value: integer \"-1\", expected u32"),
            "{e}"
        );
        let e = p(&GOOD.replace("\"streams\"", "\"repeat\": 1e30, \"streams\""))
            .unwrap_err()
            .0;
        assert!(e.contains("invalid type: floating point"), "{e}");
        let e = p(&GOOD.replace(
            "\"streams\"",
            "\"hold_ms\": 18446744073709551615, \"streams\"",
        ))
        .unwrap_err()
        .0;
        assert!(e.contains("hold_ms must be at most"), "{e}");
        let e = p(&GOOD.replace("{\"after_ms\": 5}", "{\"after_ms\": 99999999999}"))
            .unwrap_err()
            .0;
        assert!(e.contains("fin.after_ms must be at most"), "{e}");
        let e = p(&GOOD.replace(
            "\"connections\"",
            "\"timeout_ms\": \"soon\", \"connections\"",
        ))
        .unwrap_err()
        .0;
        assert!(e.contains("invalid type: string \"soon\""), "{e}");
        // Huge sizes are refused before anything is generated.
        let e = p(&GOOD.replace(
            "{\"hex\": \"00ff\"}",
            "{\"generate\": {\"len\": 99999999999, \"pattern\": \"zeros\"}}",
        ))
        .unwrap_err()
        .0;
        assert!(e.contains("generate.len must be at most"), "{e}");
        let e = p(&GOOD.replace(
            "\"connections\"",
            "\"network\": {\"loss\": 2}, \"connections\"",
        ))
        .unwrap_err()
        .0;
        assert!(e.contains("network.loss"), "{e}");
        let e = p(&GOOD.replace(
            "\"connections\"",
            "\"attack\": {\"datagrams\": 10000001}, \"connections\"",
        ))
        .unwrap_err()
        .0;
        assert!(e.contains("attack.datagrams"), "{e}");
        let e = p(&GOOD.replace("\"connections\"", "\"together\": true, \"connections\""))
            .unwrap_err()
            .0;
        assert!(e.contains("together needs \"concurrent\": true"), "{e}");
        let e = p(&GOOD.replace(
            "\"connections\"",
            "\"server_args\": [\"\"], \"connections\"",
        ))
        .unwrap_err()
        .0;
        assert!(e.contains("server_args"), "{e}");
        let e = p(&GOOD.replace(
            "\"connections\"",
            "\"network\": {\"max_amplification\": -1}, \"connections\"",
        ))
        .unwrap_err()
        .0;
        assert!(e.contains("network.max_amplification"), "{e}");
    }

    #[test]
    fn mutated_files_never_panic_the_parser() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let base = GOOD.as_bytes();
        for _ in 0..20_000 {
            let mut b = base.to_vec();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..b.len());
                match rng.random_range(0..3) {
                    0 => b[at] = rng.random_range(0x20..0x7f),
                    1 => {
                        b.remove(at);
                    }
                    _ => {
                        let set = b"{}[]\",:-9e";
                        b.insert(at, set[rng.random_range(0..set.len())]);
                    }
                }
            }
            let text = String::from_utf8_lossy(&b);
            if let Err(e) = p(&text) {
                assert!(e.0.starts_with("s/x.json:"), "{}", e.0);
            }
        }
    }

    #[test]
    fn an_empty_alpn_list_means_no_alpn_extension() {
        let text = GOOD.replace(
            "\"streams\": [{\"send\": {\"hex\": \"00ff\"}, \"fin\": {\"after_ms\": 5}}]",
            "\"alpn\": []",
        );
        let s = p(&text).unwrap();
        assert!(s.connections[0].alpn.is_empty());
        assert!(s.connections[0].streams.is_empty());
    }

    #[test]
    fn payload_patterns_and_connection_numbers() {
        assert_eq!(Payload::Text("c{n}".into()).bytes(7), b"c7");
        let g = Payload::Generate {
            len: 300,
            pattern: Pattern::Counter,
        }
        .bytes(0);
        assert_eq!((g[0], g[255], g[256]), (0, 255, 0));
        let a = Payload::Generate {
            len: 27,
            pattern: Pattern::Ascii,
        }
        .bytes(0);
        assert_eq!(&a[..3], b"abc");
        assert_eq!(a[26], b'a');
    }

    #[test]
    fn the_checked_in_schema_matches_the_types() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/scenario.schema.json");
        let on_disk = std::fs::read_to_string(&path).unwrap();
        assert!(
            on_disk == json_schema(),
            "scenarios/scenario.schema.json is stale: run `cargo run -p harness -- schema > scenarios/scenario.schema.json`"
        );
    }
}
