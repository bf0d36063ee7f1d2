//! The handshake's public-key floor, measured in the same run: what one
//! core spends on the cryptography no QUIC server can skip, so each server's
//! CPU per connection can be read as a multiple of it.
//!
//! `openssl speed` (the machine-readable `-mr` form) times an ECDSA P-256
//! signature and verification (the certificates in `certs/` are P-256) and
//! an X25519 operation (the group the load generator offers). A server's
//! full handshake makes one signature, one X25519 key generation and one
//! shared secret.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::Serialize;

use super::cpus::{self, Cpus};
use super::generator::{ClientCrypto, LoadGenerator};

/// How long `openssl speed` may take (three algorithms, a second each).
const SPEED_TIMEOUT: Duration = Duration::from_secs(30);

/// Microseconds per operation on one core.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Floor {
    pub ecdsa_p256_sign_us: f64,
    pub ecdsa_p256_verify_us: f64,
    pub x25519_us: f64,
    /// What the load generator's handshakes take of these operations.
    pub client: ClientCrypto,
}

impl Floor {
    /// A server's share of one full handshake: a signature, a key
    /// generation and a shared secret.
    pub fn handshake_us(&self) -> f64 {
        self.ecdsa_p256_sign_us + 2.0 * self.x25519_us
    }

    /// The load generator's share, by [`ClientCrypto`].
    pub fn client_handshake_us(&self, retry: bool) -> f64 {
        let c = &self.client;
        let keys = if retry {
            c.x25519_after_retry
        } else {
            c.x25519
        };
        c.verifications * self.ecdsa_p256_verify_us + keys * self.x25519_us
    }

    /// The same floor, for `generator`'s handshakes.
    pub fn for_generator(self, generator: LoadGenerator) -> Floor {
        Floor {
            client: generator.crypto(),
            ..self
        }
    }

    /// Reads `openssl speed -mr ecdsap256 ecdhx25519`: `+F4:i:256:sign/s:
    /// verify/s` for P-256 and `+F5:i:253:ops/s:seconds` for X25519.
    pub fn parse(out: &str) -> Result<Floor, String> {
        let field = |l: &str, n: usize| -> Option<f64> { l.split(':').nth(n)?.parse().ok() };
        let per_op = |rate: Option<f64>| rate.filter(|r| *r > 0.0).map(|r| 1e6 / r);
        let p256 = out
            .lines()
            .find(|l| l.starts_with("+F4:") && l.split(':').nth(2) == Some("256"));
        let x25519 = out
            .lines()
            .find(|l| l.starts_with("+F5:") && l.split(':').nth(2) == Some("253"));
        match (p256, x25519) {
            (Some(p), Some(x)) => Ok(Floor {
                ecdsa_p256_sign_us: per_op(field(p, 3)).ok_or("bad ECDSA P-256 line")?,
                ecdsa_p256_verify_us: per_op(field(p, 4)).ok_or("bad ECDSA P-256 line")?,
                x25519_us: per_op(field(x, 3)).ok_or("bad X25519 line")?,
                client: LoadGenerator::Quiche.crypto(),
            }),
            _ => Err("no ECDSA P-256 or X25519 figures in its output".into()),
        }
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        format!(
            "{:.0} us per handshake on one core for a server (openssl speed: ECDSA P-256 \
             signature {:.1} us, X25519 {:.1} us x 2); the load generator's ({}) share {:.0} us, \
             {:.0} us after a Retry (verification {:.1} us x {}, X25519 x {} or {})",
            self.handshake_us(),
            self.ecdsa_p256_sign_us,
            self.x25519_us,
            self.client.load_generator,
            self.client_handshake_us(false),
            self.client_handshake_us(true),
            self.ecdsa_p256_verify_us,
            self.client.verifications,
            self.client.x25519,
            self.client.x25519_after_retry,
        )
    }
}

/// Runs `openssl speed` on `cpus` (the server's, when pinned), bounded.
pub fn measure(openssl: &Path, cpus: Option<&Cpus>) -> Result<Floor, String> {
    let mut child = Command::new(openssl)
        .args(["speed", "-mr", "-seconds", "1", "ecdsap256", "ecdhx25519"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", openssl.display()))?;
    if let Some(c) = cpus {
        cpus::pin_process(child.id(), c).map_err(|e| format!("cannot pin it to {c}: {e}"))?;
    }
    let mut stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    let text = rx.recv_timeout(SPEED_TIMEOUT);
    let _ = child.kill();
    let _ = child.wait();
    let text = text.map_err(|_| format!("openssl speed took over {SPEED_TIMEOUT:?}"))?;
    Floor::parse(&text)
}

/// The first openssl that exists where the conformance run looks for one.
pub fn openssl() -> Option<std::path::PathBuf> {
    crate::driver::openssl::candidates(None)
        .into_iter()
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "+DTP:256:sign:prime256v1:1\n+R7:22636:prime256v1:0.65\n\
                       +F4:3:256:34824.615385:9542.307692\n+F5:24:253:20232.432432:0.000049\n";

    #[test]
    fn speed_output_gives_microseconds_per_operation() {
        let f = Floor::parse(OUT).unwrap();
        assert!((f.ecdsa_p256_sign_us - 28.7).abs() < 0.1, "{f:?}");
        assert!((f.ecdsa_p256_verify_us - 104.8).abs() < 0.1, "{f:?}");
        assert!((f.x25519_us - 49.4).abs() < 0.1, "{f:?}");
        assert!((f.handshake_us() - 127.6).abs() < 0.2, "{f:?}");
        assert!((f.client_handshake_us(true) - 253.0).abs() < 0.3, "{f:?}");
        assert!(f.client_handshake_us(false) < f.client_handshake_us(true));
        // quinn-proto's client: one X25519 shared secret, Retry or not.
        let q = f.for_generator(LoadGenerator::Quinn);
        assert!((q.client_handshake_us(true) - 49.4).abs() < 0.3, "{q:?}");
        assert_eq!(q.client_handshake_us(false), q.client_handshake_us(true));
        assert!(
            q.describe().contains("(quinn-proto) share 49 us"),
            "{}",
            q.describe()
        );
    }

    #[test]
    fn output_without_both_algorithms_is_an_error() {
        assert!(Floor::parse("+F4:3:256:34824.6:9542.3\n").is_err());
        assert!(Floor::parse("+F4:3:256:0:9542.3\n+F5:24:253:20232.4:0.1\n").is_err());
        assert!(Floor::parse("").is_err());
    }
}
