//! Network impairment for scenarios with a `network` section: a seeded
//! model of loss, reordering, duplication, corruption, delay and blackholes
//! ([`model`], sans-IO) and the UDP relay that applies it ([`relay`]),
//! which also measures anti-amplification on the wire ([`amplification`]).

pub mod amplification;
pub mod model;
pub mod relay;

pub use relay::Relay;
