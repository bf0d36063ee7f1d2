//! `network`: the impairments the relay applies between clients and server.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::one;

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
    /// Per client: move its traffic to a new source address this long
    /// after its first datagram, as a NAT that lost its mapping would. The
    /// client does not know; the server must follow it (RFC 9000 §9.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebind: Option<Rebind>,
}

/// See [`NetworkSpec::rebind`]. From then on the client's datagrams reach
/// the server from the new address, and what the server still sends to
/// the old one is dropped (the mapping is gone) and counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rebind {
    /// Milliseconds after the client's first datagram.
    pub after_ms: u64,
    /// The new source address (a loopback one, e.g. `127.0.0.2`); absent:
    /// the same address, a new port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<std::net::IpAddr>,
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
            rebind: None,
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

fn ten() -> u64 {
    10
}
