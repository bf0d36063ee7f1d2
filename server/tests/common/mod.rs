//! Starts the real `quic-echo-server` binary for a test and stops it after.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[allow(unused_imports)]
pub use echo_client::{ClientConfig, Fin, Observation, Plan, StreamPlan};

pub fn certs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs")
}

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts the server on a free loopback port with `extra` flags and waits
    /// (at most 20 s) for its `listening on` line.
    pub fn start(extra: &[&str]) -> Server {
        Server::start_with_env(extra, &[])
    }

    /// As `start`, with `env` set for the server alone: a test never changes
    /// its own environment, which tests on other threads would inherit.
    pub fn start_with_env(extra: &[&str], env: &[(&str, &Path)]) -> Server {
        let certs = certs();
        let log = std::env::var("SERVER_TEST_LOG").ok();
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("quic-echo-server"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--cert")
            .arg(certs.join("chain.pem"))
            .arg("--key")
            .arg(certs.join("key.pem"))
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            // SERVER_TEST_LOG=debug shows the server's log while debugging;
            // otherwise the log is off and stderr holds at most the error
            // the server exits with, read if it never starts.
            .env("RUST_LOG", log.as_deref().unwrap_or("off"))
            .stderr(match log {
                Some(_) => Stdio::inherit(),
                None => Stdio::piped(),
            })
            .spawn()
            .expect("spawn quic-echo-server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            let status = child.wait().expect("wait for the server");
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut stderr);
            }
            panic!("server printed no `listening on` line within 20 s ({status}): {stderr}");
        };
        let addr = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("address after `listening on`");
        Server { child, addr }
    }

    /// Runs one client connection against this server.
    pub fn client(&self, alpn: &[&str], plan: &Plan) -> Observation {
        let cfg = ClientConfig {
            alpn: alpn.iter().map(|s| s.to_string()).collect(),
            trust: echo_client::Trust::CaFile(certs().join("ca.pem")),
            ..ClientConfig::default()
        };
        echo_client::run(self.addr, &cfg, plan).expect("client ran")
    }

    /// Echoes `data` on one stream with `alpn`.
    pub fn echo(&self, alpn: &str, data: &[u8]) -> Observation {
        self.client(&[alpn], &plan(vec![StreamPlan::echo(data.to_vec())]))
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn plan(streams: Vec<StreamPlan>) -> Plan {
    Plan {
        streams,
        ..Plan::default()
    }
}

/// Asserts a clean echo of `data`: exact bytes, FIN, then NO_ERROR close.
pub fn assert_echoed(obs: &Observation, data: &[u8]) {
    let s = &obs.streams[0];
    assert!(s.fin_received, "no FIN from server: {obs:?}");
    assert_eq!(s.received.len(), data.len(), "echo length");
    assert!(s.received == data, "echo differs from what was sent");
    let close = obs
        .peer_close
        .as_ref()
        .expect("server closed the connection");
    assert!(
        close.app && close.code == 0,
        "expected app NO_ERROR, got {close:?}"
    );
}
