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

/// The QUIC-capable openssl for the openssl driver, if there is one. None
/// means the caller says so and passes, unless HARNESS_REQUIRE_OPENSSL is
/// set (CI sets it): then a missing openssl fails the test here.
pub fn openssl() -> Option<PathBuf> {
    let found = std::env::var_os("HARNESS_OPENSSL")
        .map(PathBuf::from)
        .or_else(|| {
            let built = root().join("target/openssl-quic/bin/openssl");
            built.is_file().then_some(built)
        });
    if found.is_none() {
        assert!(
            std::env::var_os("HARNESS_REQUIRE_OPENSSL").is_none(),
            "HARNESS_REQUIRE_OPENSSL is set but no openssl was found; run ci/build-openssl.sh"
        );
        eprintln!("no QUIC-capable openssl: openssl driver not exercised");
    }
    found
}

/// A reference server (the test build, faults available) started by the
/// test itself, not by the harness under test: what `--connect` is for.
/// Killed when dropped.
pub struct OutsideServer {
    child: std::process::Child,
    pub addr: std::net::SocketAddr,
}

impl OutsideServer {
    /// Listens on `listen` (port 0: any) with the workspace's dev
    /// certificates and `flags`.
    pub fn start(listen: &str, flags: &[&str]) -> OutsideServer {
        let certs = root().join("certs");
        Self::start_with(
            listen,
            &certs.join("chain.pem"),
            &certs.join("key.pem"),
            flags,
        )
    }

    /// As [`OutsideServer::start`], with this chain and key.
    pub fn start_with(listen: &str, chain: &Path, key: &Path, flags: &[&str]) -> OutsideServer {
        use std::io::BufRead;
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("harness"))
            .args(["serve-reference", "--listen", listen, "--cert"])
            .arg(chain)
            .arg("--key")
            .arg(key)
            .args(flags)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the reference server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the reference server prints `listening on ADDR` within 20 s");
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        OutsideServer { child, addr }
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }
}

impl Drop for OutsideServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The harness binary, run from the repository's root, bounded by `limit`.
pub fn harness_within(limit: std::time::Duration) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("harness").unwrap();
    c.current_dir(root()).timeout(limit);
    c
}
