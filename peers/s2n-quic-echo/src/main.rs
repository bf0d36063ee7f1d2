//! An echo server on s2n-quic, following the rules of
//! ossl-guide-quic-server-non-block(7): ALPN `http/1.0` or `hq-interop`
//! only; each bidirectional stream read until FIN, at most `--max-input`
//! bytes; the bytes echoed back with FIN; once the echo is acknowledged
//! the connection is closed with application code 0 (kept open with
//! `--keep-alive`).
//!
//! It is a peer for comparison, written the way a user of s2n-quic writes
//! a server (its `examples/echo` is the model), and shares no code with the
//! reference server. Its flags are the reference server's where s2n-quic
//! has the same knob; s2n-quic has none for a Retry token's lifetime (its
//! token keys rotate every second), so there is no `--token-lifetime`.
//! It prints `listening on ADDR` once bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::BytesMut;
use clap::Parser;
use s2n_quic::provider::endpoint_limits::{ConnectionAttempt, Limiter, Outcome};
use s2n_quic::provider::limits::Limits;
use s2n_quic::stream::BidirectionalStream;
use s2n_quic::{connection, Connection, Server};

/// Application error: the stream sent more than `--max-input` bytes.
const ERR_TOO_LARGE: u32 = 0x10;
/// STOP_SENDING code for a unidirectional stream (nothing to echo it on).
const ERR_UNI_STREAM: u32 = 0x11;

/// Command line, in the reference server's terms.
#[derive(Debug, Parser)]
#[command(
    name = "s2n-quic-echo",
    version,
    about = "QUIC echo server on s2n-quic (a peer for comparison)"
)]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:4443")]
    listen: SocketAddr,
    /// Certificate chain (PEM), leaf first.
    #[arg(long, default_value = "certs/chain.pem")]
    cert: PathBuf,
    /// Private key (PEM) of the leaf.
    #[arg(long, default_value = "certs/key.pem")]
    key: PathBuf,
    /// ALPN protocols accepted, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "http/1.0,hq-interop")]
    alpn: Vec<String>,
    /// Most bytes read from one stream; more is refused with 0x10.
    #[arg(long, default_value_t = 8192)]
    max_input: usize,
    /// Keep a connection open after an echo (serve further streams).
    #[arg(long)]
    keep_alive: bool,
    /// Idle timeout.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,
    /// Most connections at once; beyond it clients are refused.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Do not validate client addresses with a Retry.
    #[arg(long)]
    no_retry: bool,
}

/// Who may connect: a Retry for every client without a token (unless
/// `--no-retry`), and CONNECTION_REFUSED beyond `--max-connections`.
struct Admission {
    retry: bool,
    max_connections: usize,
}

impl Limiter for Admission {
    fn on_connection_attempt(&mut self, attempt: &ConnectionAttempt) -> Outcome {
        if attempt.connection_count >= self.max_connections {
            Outcome::close()
        } else if self.retry {
            Outcome::retry()
        } else {
            Outcome::allow()
        }
    }
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(e) = rt.block_on(serve(args)) {
        eprintln!("s2n-quic-echo: {e}");
        std::process::exit(1);
    }
}

fn server(args: &Args) -> Result<Server, Box<dyn std::error::Error>> {
    let tls = s2n_quic::provider::tls::default::Server::builder()
        .with_certificate(args.cert.as_path(), args.key.as_path())?
        .with_application_protocols(args.alpn.iter())?
        .build()?;
    let limits = Limits::new()
        .with_max_idle_timeout(args.idle_timeout)?
        .with_max_open_remote_unidirectional_streams(16)?;
    let admission = Admission {
        retry: !args.no_retry,
        max_connections: args.max_connections,
    };
    Ok(Server::builder()
        .with_tls(tls)?
        .with_limits(limits)?
        .with_endpoint_limits(admission)?
        .with_io(args.listen)?
        .start()?)
}

async fn serve(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut server = server(&args)?;
    println!("listening on {}", server.local_addr()?);
    use std::io::Write;
    std::io::stdout().flush()?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let rules = Rules {
        max_input: args.max_input,
        keep_alive: args.keep_alive,
    };
    loop {
        let conn = tokio::select! {
            c = server.accept() => match c {
                Some(c) => c,
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        };
        tokio::spawn(rules.connection(conn));
    }
    Ok(())
}

/// The echo rules.
#[derive(Clone, Copy)]
struct Rules {
    max_input: usize,
    keep_alive: bool,
}

impl Rules {
    async fn connection(self, conn: Connection) {
        let (handle, acceptor) = conn.split();
        let (mut bidi, mut uni) = acceptor.split();
        let refuse_uni = tokio::spawn(async move {
            while let Ok(Some(mut r)) = uni.accept_receive_stream().await {
                let _ = r.stop_sending(ERR_UNI_STREAM.into());
            }
        });
        while let Ok(Some(stream)) = bidi.accept_bidirectional_stream().await {
            if self.keep_alive {
                let handle = handle.clone();
                tokio::spawn(async move { self.stream(&handle, stream).await });
                continue;
            }
            if self.stream(&handle, stream).await {
                handle.close(0u32.into());
            }
            break;
        }
        refuse_uni.abort();
    }

    /// Reads to FIN and echoes; true once the echo is acknowledged.
    async fn stream(self, handle: &connection::Handle, stream: BidirectionalStream) -> bool {
        let (mut recv, mut send) = stream.split();
        let mut buf = BytesMut::new();
        loop {
            match recv.receive().await {
                Ok(Some(chunk)) => {
                    if buf.len() + chunk.len() > self.max_input {
                        let _ = recv.stop_sending(ERR_TOO_LARGE.into());
                        let _ = send.reset(ERR_TOO_LARGE.into());
                        handle.close(ERR_TOO_LARGE.into());
                        return false;
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(None) => break,      // FIN
                Err(_) => return false, // reset, or the connection went away
            }
        }
        send.send(buf.freeze()).await.is_ok() && send.close().await.is_ok()
    }
}
