//! A QUIC echo client on quinn + rustls (ring): the same [`Plan`] and
//! [`Observation`] as the native quiche client, on another stack, so a
//! verdict does not hinge on one client's quirks. It can do what quiche
//! cannot: start key updates, and offer only chosen cipher suites.
//!
//! Each call runs one connection on a single-threaded tokio runtime of its
//! own, so callers stay synchronous, like the native client's.

mod session;
mod tls;

use std::net::SocketAddr;

use echo_client::{ClientConfig, Observation, Plan};

pub use tls::{cipher_suites, Verified, KNOWN_SUITES};

/// Connects to `server`, carries out `plan` and reports what happened.
/// Errors are the client's own (a bad configuration, no socket); anything
/// the server does, including not answering, is in the [`Observation`].
pub fn run(server: SocketAddr, cfg: &ClientConfig, plan: &Plan) -> Result<Observation, String> {
    if cfg.alpn.is_empty() {
        return Err("quinn always sends the ALPN extension: it cannot offer none".into());
    }
    if plan.leave == echo_client::Leave::Vanish {
        return Err("quinn closes a connection it drops: it cannot vanish".into());
    }
    let tls = tls::config(cfg, plan)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    rt.block_on(session::run(server, cfg, tls, plan))
}
