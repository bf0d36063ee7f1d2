//! Turns what the harness observed into checks: every `Check` is made
//! here, one module per kind of evidence, so a rule has one place.
//!
//! - `connection`: one connection's run against its scenario's `expect`.
//! - `concurrency`: connections run at once (`first`, `together`).
//! - `network`: what the relay measured (amplification, rebinding).
//! - `attack`: how the server took a flood, spoofed clients, misused tokens.
//! - `survival`: the server itself (listening, running, answering,
//!   restarted) and a client stack's own failure.

mod attack;
mod check;
mod concurrency;
mod connection;
mod network;
mod survival;
mod words;

pub use attack::{cpu, cpu_unread, spoofed_amplification, token_checks, version_negotiation};
pub use check::{Check, Outcome};
pub use concurrency::{first_not_established, together, Span};
pub use connection::judge;
pub use network::{amplification_check, rebind_check};
pub use survival::{
    driver_failure, exited, restart_failed, stopped_answering, then_served_not_tried, unreachable,
    unresponsive_at_start, RestartFailure,
};
