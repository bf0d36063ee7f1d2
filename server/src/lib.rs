//! The reference QUIC echo server.
//!
//! Layers, inside out:
//! - [`echo`]: the echo application as a sans-IO state machine;
//! - [`cid`], [`token`], [`reset`]: connection-ID derivation, Retry tokens
//!   and stateless reset tokens;
//! - [`endpoint`]: quiche connections, routing and timers (sans-IO);
//! - [`event_loop`]: the mio loop with the UDP socket and signals;
//! - [`udp`]: batched datagram I/O for it (recvmmsg, GRO, GSO);
//! - [`tls`], [`cli`]: startup checks and flags.

pub mod cid;
pub mod cli;
pub mod devcerts;
pub mod echo;
pub mod endpoint;
pub mod event_loop;
pub mod faults;
pub mod hooks;
pub mod pair;
pub mod reset;
pub mod tls;
pub mod token;
pub mod udp;

use std::io::Write;

/// Connection IDs a connection gets beyond its first, for a client that
/// migrates (it needs an unused one for the new path).
pub const SPARE_CIDS: usize = 2;

/// Builds the quiche configuration for the given flags.
pub fn quiche_config(args: &cli::Args) -> Result<quiche::Config, String> {
    let chain = args.cert.to_string_lossy();
    let key = args.key.to_string_lossy();
    let mut config =
        quiche::Config::new(quiche::PROTOCOL_VERSION).map_err(|e| format!("quiche: {e}"))?;
    config
        .load_cert_chain_from_pem_file(&chain)
        .map_err(|e| format!("{chain}: TLS library refused the certificate chain: {e}"))?;
    config
        .load_priv_key_from_pem_file(&key)
        .map_err(|e| format!("{key}: TLS library refused the private key: {e}"))?;
    let mut protos: Vec<&[u8]> = args.alpn.iter().map(|p| p.as_bytes()).collect();
    if args.faults().accept_any_alpn {
        protos.extend([&b"h3"[..], b"h3-29", b"hq-29", b"h2", b"http/1.1"]);
    }
    if protos.iter().any(|p| p.is_empty() || p.len() > 255) {
        return Err("--alpn: each protocol must be 1 to 255 bytes".into());
    }
    config
        .set_application_protos(&protos)
        .map_err(|e| format!("--alpn: {e}"))?;
    config.set_curves_list(&args.groups).map_err(|e| {
        format!(
            "--groups {:?}: TLS library refused the list: {e}",
            args.groups
        )
    })?;
    config.set_max_idle_timeout(match args.faults().no_idle_timeout {
        true => 0, // none
        false => args.idle_timeout.as_millis() as u64,
    });
    config.set_max_recv_udp_payload_size(endpoint::MAX_DATAGRAM);
    config.set_max_send_udp_payload_size(endpoint::MAX_DATAGRAM);
    let window = (args.max_input as u64 + 1).max(64 * 1024);
    config.set_initial_max_data(16 * window);
    config.set_initial_max_stream_data_bidi_remote(window);
    config.set_initial_max_stream_data_bidi_local(window);
    config.set_initial_max_stream_data_uni(1024);
    config.set_initial_max_streams_bidi(100);
    config.set_initial_max_streams_uni(3);
    // Clients may move to a new address (RFC 9000 §9): the endpoint routes
    // by connection ID, validates the new path, and issues spare IDs.
    config.set_active_connection_id_limit(SPARE_CIDS as u64 + 1);
    config.set_disable_active_migration(args.faults().forbid_migration);
    // 0-RTT: a resumed client's first bytes arrive with its first flight.
    // An echo has no side effects a replay could repeat.
    config.enable_early_data();
    if std::env::var_os("SSLKEYLOGFILE").is_some() || args.faults().no_key_update {
        config.log_keys();
    }
    Ok(config)
}

/// Checks the files, binds, prints `listening on ADDR:PORT` and serves until
/// a signal. Errors are one line, ready for the user.
pub fn run(args: cli::Args) -> Result<(), String> {
    tls::check_files(&args.cert, &args.key).map_err(|e| e.to_string())?;
    let config = quiche_config(&args)?;
    if let Some(dir) = &args.qlog_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("{}: cannot create qlog directory: {e}", dir.display()))?;
    }
    let keylog = match std::env::var_os("SSLKEYLOGFILE") {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| {
                    format!("{}: cannot open SSLKEYLOGFILE: {e}", path.to_string_lossy())
                })?,
        ),
        None => None,
    };
    let listener = event_loop::Listener::bind(args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener.local_addr();
    let endpoint = endpoint::Endpoint::new(
        config,
        endpoint::Options {
            max_input: args.max_input as usize,
            keep_alive: args.keep_alive,
            retry: !args.no_retry,
            max_connections: args.max_connections as usize,
            token_lifetime: args.token_lifetime,
            qlog_dir: args.qlog_dir.clone(),
            keylog,
            hooks: args.hooks(),
        },
        local,
    );
    // Resets must survive a restart: their tokens derive from the key file.
    let endpoint = match args.faults().volatile_reset_key {
        true => endpoint,
        false => {
            let secret = std::fs::read(&args.key)
                .map_err(|e| format!("{}: cannot read the private key: {e}", args.key.display()))?;
            endpoint.with_reset_key(reset::ResetKey::from_secret(&secret))
        }
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {local}")
        .and_then(|_| stdout.flush())
        .map_err(|e| format!("stdout: {e}"))?;
    drop(stdout);
    log::info!(
        "serving ALPN {:?}, max input {} bytes, retry {}, keep-alive {}",
        args.alpn,
        args.max_input,
        !args.no_retry,
        args.keep_alive
    );
    listener
        .run(endpoint)
        .map_err(|e| format!("event loop: {e}"))
}
