//! What the harness's integration tests share: the workspace root, and a
//! `--server` template that starts the test build of the reference server
//! (the one with deliberate faults) with extra flags.

#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};

/// The workspace root (scenarios and certs are found from there).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `NAME=<harness> serve-reference --listen {host}:{port} --cert {chain}
/// --key {key} FLAGS`, for `--server`. FLAGS may hold `{args}`.
pub fn reference_template(name: &str, flags: &str) -> String {
    let exe = assert_cmd::cargo::cargo_bin("harness");
    format!(
        "{name}={} serve-reference --listen {{host}}:{{port}} --cert {{chain}} --key {{key}} {flags}",
        exe.display()
    )
}
