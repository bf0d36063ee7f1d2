//! An echo server on quinn + rustls (ring), following the rules of
//! ossl-guide-quic-server-non-block(7): ALPN `http/1.0` or `hq-interop`
//! only; each bidirectional stream read until FIN, at most `--max-input`
//! bytes; the bytes echoed back with FIN; once the echo is acknowledged
//! the connection is closed with NO_ERROR (kept open with `--keep-alive`).
//!
//! It is a peer for comparison, written the way a user of quinn would
//! write it, and shares no code with the reference server. Its flags are
//! the reference server's where quinn has the same knob: `--listen`,
//! `--cert`, `--key`, `--alpn`, `--max-input`, `--keep-alive`,
//! `--idle-timeout`, `--max-connections`, `--no-retry`, `--token-lifetime`.
//! It prints `listening on ADDR` once bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use quinn::{Connection, Endpoint, Incoming, RecvStream, SendStream, VarInt};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Application error: the stream sent more than `--max-input` bytes.
pub const ERR_TOO_LARGE: u32 = 0x10;
/// STOP_SENDING code for a unidirectional stream (nothing to echo it on).
pub const ERR_UNI_STREAM: u32 = 0x11;

/// Command line, in the reference server's terms.
#[derive(Debug, Parser)]
#[command(
    name = "quinn-echo",
    version,
    about = "QUIC echo server on quinn (a peer for comparison)"
)]
pub struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:4443")]
    pub listen: SocketAddr,
    /// Certificate chain (PEM), leaf first.
    #[arg(long, default_value = "certs/chain.pem")]
    pub cert: PathBuf,
    /// Private key (PEM) of the leaf.
    #[arg(long, default_value = "certs/key.pem")]
    pub key: PathBuf,
    /// ALPN protocols accepted, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "http/1.0,hq-interop")]
    pub alpn: Vec<String>,
    /// Most bytes read from one stream; more is refused with 0x10.
    #[arg(long, default_value_t = 8192)]
    pub max_input: usize,
    /// Keep a connection open after an echo (serve further streams).
    #[arg(long)]
    pub keep_alive: bool,
    /// Idle timeout.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// Most connections at once; beyond it clients are refused.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
    /// Do not validate client addresses with a Retry.
    #[arg(long)]
    pub no_retry: bool,
    /// How long a Retry token stays valid.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub token_lifetime: Duration,
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: Args) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(serve(args))
}

fn server_config(args: &Args) -> Result<quinn::ServerConfig, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&args.cert)
        .and_then(|it| it.collect())
        .map_err(|e| format!("{}: {e}", args.cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in it", args.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&args.key)
        .map_err(|e| format!("{}: {e}", args.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("{} and {}: {e}", args.cert.display(), args.key.display()))?;
    tls.alpn_protocols = args.alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    tls.max_early_data_size = 0;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| format!("TLS for QUIC: {e}"))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.retry_token_lifetime(args.token_lifetime);
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(Some(
        args.idle_timeout
            .try_into()
            .map_err(|_| "--idle-timeout is too long".to_string())?,
    ));
    transport.max_concurrent_uni_streams(VarInt::from_u32(16));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

async fn serve(args: Args) -> Result<(), String> {
    let config = server_config(&args)?;
    let endpoint = Endpoint::server(config, args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = endpoint
        .local_addr()
        .map_err(|e| format!("local address: {e}"))?;
    println!("listening on {local}");
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let rules = Arc::new(Rules {
        max_input: args.max_input,
        keep_alive: args.keep_alive,
    });
    let open = Arc::new(AtomicUsize::new(0));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("SIGTERM handler: {e}"))?;
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => match i {
                Some(i) => i,
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        };
        admit(incoming, &args, &open, &rules);
    }
    endpoint.close(VarInt::from_u32(0), b"server shutting down");
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
    Ok(())
}

/// Refuses, validates (Retry) or accepts a new client.
fn admit(incoming: Incoming, args: &Args, open: &Arc<AtomicUsize>, rules: &Arc<Rules>) {
    if open.load(Ordering::Relaxed) >= args.max_connections {
        log::info!(
            "{}: refused, {} connections open",
            incoming.remote_address(),
            args.max_connections
        );
        incoming.refuse();
        return;
    }
    if !args.no_retry && !incoming.remote_address_validated() && incoming.may_retry() {
        let _ = incoming.retry();
        return;
    }
    let (open, rules) = (Arc::clone(open), Arc::clone(rules));
    open.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(async move {
        let from = incoming.remote_address();
        match incoming.await {
            Ok(conn) => rules.connection(conn).await,
            Err(e) => log::info!("{from}: handshake failed: {e}"),
        }
        open.fetch_sub(1, Ordering::Relaxed);
    });
}

/// The echo rules.
struct Rules {
    max_input: usize,
    keep_alive: bool,
}

impl Rules {
    async fn connection(self: Arc<Self>, conn: Connection) {
        let from = conn.remote_address();
        let uni = {
            let conn = conn.clone();
            tokio::spawn(async move {
                while let Ok(mut r) = conn.accept_uni().await {
                    let _ = r.stop(VarInt::from_u32(ERR_UNI_STREAM));
                }
            })
        };
        loop {
            let (send, recv) = match conn.accept_bi().await {
                Ok(s) => s,
                Err(e) => {
                    log::info!("{from}: connection ended: {e}");
                    break;
                }
            };
            if self.keep_alive {
                let (rules, conn) = (Arc::clone(&self), conn.clone());
                tokio::spawn(async move {
                    rules.stream(&conn, send, recv).await;
                });
                continue;
            }
            if self.stream(&conn, send, recv).await {
                conn.close(VarInt::from_u32(0), b"");
                log::info!("{from}: echoed, closed with NO_ERROR");
            }
            break;
        }
        uni.abort();
    }

    /// Reads to FIN and echoes; true once the echo is acknowledged.
    async fn stream(&self, conn: &Connection, mut send: SendStream, mut recv: RecvStream) -> bool {
        let mut buf = Vec::with_capacity(self.max_input.min(65536));
        loop {
            match recv.read_chunk(usize::MAX, true).await {
                Ok(Some(chunk)) => {
                    if buf.len() + chunk.bytes.len() > self.max_input {
                        let code = VarInt::from_u32(ERR_TOO_LARGE);
                        let _ = recv.stop(code);
                        let _ = send.reset(code);
                        let reason = format!("input exceeds {} bytes", self.max_input);
                        conn.close(code, reason.as_bytes());
                        return false;
                    }
                    buf.extend_from_slice(&chunk.bytes);
                }
                Ok(None) => break,      // FIN
                Err(_) => return false, // reset, or the connection went away
            }
        }
        if send.write_all(&buf).await.is_err() || send.finish().is_err() {
            return false;
        }
        matches!(send.stopped().await, Ok(None))
    }
}
