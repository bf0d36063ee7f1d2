//! A QUIC echo client on quinn + rustls (ring): the same [`Plan`] and
//! [`Observation`] as the native quiche client, on another stack, so a
//! verdict does not hinge on one client's quirks. It can do what quiche
//! cannot: start key updates, and offer only chosen cipher suites.
//!
//! Each call runs one connection on a single-threaded tokio runtime of its
//! own, so callers stay synchronous, like the native client's.

mod kx;
mod load;
mod load_streams;
mod session;
mod tls;

use std::net::SocketAddr;

use echo_client::{ClientConfig, Observation, Plan};

pub use load::run_load;
pub use tls::{cipher_suites, Verified, KNOWN_SUITES};

/// Connects to `server`, carries out `plan` and reports what happened.
/// Errors are the client's own (a bad configuration, no socket); anything
/// the server does, including not answering, is in the [`Observation`].
pub fn run(server: SocketAddr, cfg: &ClientConfig, plan: &Plan) -> Result<Observation, String> {
    if let Some(why) = cannot_carry(cfg, plan) {
        return Err(why);
    }
    let tls = tls::config(cfg, plan)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    rt.block_on(session::run(server, cfg, tls, plan))
}

/// Why this client cannot carry out `plan` with `cfg`, if it cannot: what
/// quinn 0.11 cannot do. The drivers read it rather than restate it.
pub fn cannot_carry(cfg: &ClientConfig, plan: &Plan) -> Option<String> {
    if cfg.alpn.is_empty() {
        return Some("quinn always sends the ALPN extension: it cannot offer none".into());
    }
    if plan.leave == echo_client::Leave::Vanish {
        return Some("quinn closes a connection it drops: it cannot vanish".into());
    }
    if cfg.version != echo_client::initial::Version::V1 {
        return Some("quinn 0.11 speaks QUIC version 1 only".into());
    }
    if plan.migrate.is_some() {
        return Some(
            "quinn can only rebind its socket, which a server sees as a NAT rebinding \
             (transport/nat-rebinding-* check that): it cannot probe a new path first"
                .into(),
        );
    }
    cfg.ciphers
        .as_ref()
        .and_then(|names| cipher_suites(names).err())
}
