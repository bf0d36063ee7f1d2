//! The quiche client configuration, built once per set of settings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
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

/// The quiche configuration for `cfg`, built once per process and shared
/// by every connection made with the same settings. Building one loads the
/// system's CA bundle as well as the CA file (quiche always adds the default
/// verify paths): about 8 ms of CPU, which a case of 1,000 clients would
/// otherwise pay 1,000 times.
pub(super) fn shared_config(cfg: &ClientConfig) -> Result<Arc<Mutex<quiche::Config>>, ClientError> {
    type Key = (Vec<String>, Trust, Duration, Option<crate::Windows>);
    static CONFIGS: OnceLock<Mutex<HashMap<Key, Arc<Mutex<quiche::Config>>>>> = OnceLock::new();
    let key = (
        cfg.alpn.clone(),
        cfg.trust.clone(),
        cfg.idle_timeout,
        cfg.windows,
    );
    let mut configs = CONFIGS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(c) = configs.get(&key) {
        return Ok(c.clone());
    }
    let c = Arc::new(Mutex::new(quiche_config(cfg)?));
    configs.insert(key, c.clone());
    Ok(c)
}
