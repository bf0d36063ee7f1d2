//! The conformance harness as a library: scenarios in, reports out.
//!
//! `scenario` parses and checks scenario files; `driver` turns a connection
//! spec into traffic (native quiche client or `openssl s_client`); `netem`
//! and `hostile` impair the network and attack the server; `sut` starts,
//! probes, watches and stops the server under test; `schedule` orders the
//! cases, `case` executes one and `judge` turns what was observed into
//! checks; `report` prints them (human, JSON, JUnit) and `expect` holds
//! known results, `progress` the one-line indicator on a terminal; `bench`
//! measures throughput and latency. `src/main.rs`
//! is the CLI.

pub mod alloc;
pub mod bench;
pub mod case;
pub mod cli;
pub mod driver;
pub mod evidence;
pub mod expect;
pub mod hostile;
pub mod html;
pub mod judge;
pub mod netem;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod schedule;
pub mod sut;
