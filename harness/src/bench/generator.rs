//! The bench's load generators: which client stack offers the load, and
//! what its handshakes cost in public-key operations.

use std::net::SocketAddr;

use clap::ValueEnum;
use echo_client::{ClientConfig, ClientError, LoadPlan, LoadReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoadGenerator {
    /// quinn-proto driven directly: one X25519 key pair for the whole run
    /// (each connection still derives its own secret), the same ClientHello
    /// after a Retry, no certificate or signature check. The cheaper one,
    /// so the server saturates before the client.
    Quinn,
    /// quiche (BoringSSL): verifies the server's CertificateVerify, and
    /// after a Retry starts its TLS handshake again with a new key share.
    Quiche,
}

/// The public-key operations of one client handshake.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ClientCrypto {
    /// The load generator's stack.
    pub load_generator: &'static str,
    /// ECDSA verifications (of the server's CertificateVerify).
    pub verifications: f64,
    /// X25519 operations (key generations and shared secrets).
    pub x25519: f64,
    /// The same after a Retry.
    pub x25519_after_retry: f64,
}

impl LoadGenerator {
    pub fn name(self) -> &'static str {
        match self {
            LoadGenerator::Quinn => "quinn-proto",
            LoadGenerator::Quiche => "quiche",
        }
    }

    /// Runs `plan` against `server` on this thread.
    pub fn run(
        self,
        server: SocketAddr,
        cfg: &ClientConfig,
        plan: &LoadPlan,
        at_barrier: &mut dyn FnMut(),
    ) -> Result<LoadReport, ClientError> {
        match self {
            LoadGenerator::Quinn => quinn_client::run_load(server, cfg, plan, at_barrier),
            LoadGenerator::Quiche => echo_client::run_load(server, cfg, plan, at_barrier),
        }
    }

    /// What one handshake costs this client: quiche's client generates a
    /// key share, and after a Retry (`SSL_clear`) another; quinn-proto's
    /// reuses the run's one key pair and sends its first ClientHello again,
    /// so it only derives the shared secret.
    pub fn crypto(self) -> ClientCrypto {
        let (verifications, x25519, x25519_after_retry) = match self {
            LoadGenerator::Quinn => (0.0, 1.0, 1.0),
            LoadGenerator::Quiche => (1.0, 2.0, 3.0),
        };
        ClientCrypto {
            load_generator: self.name(),
            verifications,
            x25519,
            x25519_after_retry,
        }
    }
}
