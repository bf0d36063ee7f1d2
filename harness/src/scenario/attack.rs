//! `attack`: a flood of hostile datagrams before a scenario's connections.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    pub kinds: Vec<Kind>,
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

/// A kind of hostile datagram, in an `attack`'s `kinds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// 1 to 1500 random bytes.
    Random,
    /// A zero-length datagram.
    Empty,
    /// A datagram of the largest UDP payload (65,507 bytes), random start.
    MaxSize,
    /// A long-header Initial of an unknown version: the server should
    /// answer with Version Negotiation.
    UnknownVersion,
    /// A well-formed protected Initial cut short at a random length.
    TruncatedInitial,
    /// A well-formed protected Initial with one random bit flipped.
    BitflipInitial,
    /// A well-formed Initial carrying a made-up address-validation token.
    ForgedToken,
    /// A short-header packet for a connection ID the server never issued.
    UnknownCid,
    /// A well-formed Initial with a real ClientHello (not in the random
    /// mix: it is how spoofed clients are made).
    ValidInitial,
}

impl Kind {
    /// The random mix: every kind but [`Kind::ValidInitial`].
    pub const ALL: [Kind; 8] = [
        Kind::Random,
        Kind::Empty,
        Kind::MaxSize,
        Kind::UnknownVersion,
        Kind::TruncatedInitial,
        Kind::BitflipInitial,
        Kind::ForgedToken,
        Kind::UnknownCid,
    ];
}
