//! The quiche client configuration, built once per set of settings.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::{ClientError, MAX_DATAGRAM};
use crate::{ClientConfig, Trust};

pub(crate) fn quiche_config(cfg: &ClientConfig) -> Result<quiche::Config, ClientError> {
    let bad = |e: quiche::Error| ClientError::Config(e.to_string());
    let mut c = quiche::Config::new(quiche::PROTOCOL_VERSION).map_err(bad)?;
    let protos: Vec<&[u8]> = cfg.alpn.iter().map(|a| a.as_bytes()).collect();
    c.set_application_protos(&protos)
        .map_err(|e| ClientError::Config(format!("ALPN list {:?} rejected: {e}", cfg.alpn)))?;
    // quiche loads the system's roots into every configuration.
    c.verify_peer(cfg.trust.verifies());
    if let Trust::CaFile(ca) = &cfg.trust {
        c.load_verify_locations_from_file(&ca.to_string_lossy())
            .map_err(|e| ClientError::Config(format!("{}: {e}", ca.display())))?;
    }
    // Secrets go only to connections given a key log writer.
    c.log_keys();
    c.set_max_idle_timeout(cfg.idle_timeout.as_millis() as u64);
    c.set_max_recv_udp_payload_size(MAX_DATAGRAM);
    c.set_max_send_udp_payload_size(MAX_DATAGRAM);
    match cfg.windows {
        Some(w) => {
            c.set_initial_max_data(w.connection);
            c.set_max_connection_window(w.connection);
            c.set_initial_max_stream_data_bidi_local(w.stream);
            c.set_max_stream_window(w.stream);
        }
        None => {
            c.set_initial_max_data(16 * 1024 * 1024);
            c.set_initial_max_stream_data_bidi_local(4 * 1024 * 1024);
        }
    }
    c.set_initial_max_stream_data_bidi_remote(4 * 1024 * 1024);
    c.set_initial_max_stream_data_uni(1024 * 1024);
    c.set_initial_max_streams_bidi(100);
    c.set_initial_max_streams_uni(100);
    c.set_disable_active_migration(true);
    Ok(c)
}

type Key = (Vec<String>, Trust, Duration, Option<crate::Windows>);

/// Idle quiche configurations, by the settings they were built with.
type Idle = Mutex<HashMap<Key, Vec<quiche::Config>>>;

/// `f` run with a quiche configuration for `cfg`, taken from the idle ones
/// built before with the same settings and given back after. Building one
/// loads the system's CA bundle as well as the CA file (quiche always adds
/// the default verify paths): about 8 ms of CPU, which a case of 1,000
/// clients would otherwise pay 1,000 times. No lock is held while `f`
/// runs: one configuration behind one lock made 220 clients starting at
/// once on a loaded machine wait seconds for their turn before their first
/// datagram, which timed checks then counted against the server.
pub(super) fn with_config<R>(
    cfg: &ClientConfig,
    f: impl FnOnce(&mut quiche::Config) -> R,
) -> Result<R, ClientError> {
    static IDLE: OnceLock<Idle> = OnceLock::new();
    let idle = IDLE.get_or_init(Default::default);
    let key = (
        cfg.alpn.clone(),
        cfg.trust.clone(),
        cfg.idle_timeout,
        cfg.windows,
    );
    let lock = || idle.lock().unwrap_or_else(|p| p.into_inner());
    let taken = lock().get_mut(&key).and_then(Vec::pop);
    let mut config = match taken {
        Some(c) => c,
        None => quiche_config(cfg)?,
    };
    let out = f(&mut config);
    lock().entry(key).or_default().push(config);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn a_connection_being_made_does_not_hold_up_the_next() {
        let cfg = ClientConfig {
            alpn: vec!["hq-interop".into()],
            trust: Trust::Nothing,
            ..ClientConfig::default()
        };
        let (tx, rx) = mpsc::channel();
        let inner = with_config(&cfg, |_| {
            // While this configuration is in use, another thread gets one.
            let cfg = cfg.clone();
            std::thread::spawn(move || {
                let _ = tx.send(with_config(&cfg, |_| ()).is_ok());
            });
            rx.recv_timeout(Duration::from_secs(10))
        })
        .expect("a configuration");
        assert_eq!(
            inner,
            Ok(true),
            "the second connection waited for the first"
        );
    }
}
