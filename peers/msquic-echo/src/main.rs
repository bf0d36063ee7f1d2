//! An echo server on msquic (Microsoft's C stack, through its own Rust
//! bindings), following the rules of ossl-guide-quic-server-non-block(7):
//! ALPN `http/1.0` or `hq-interop` only; each bidirectional stream read
//! until FIN, at most `--max-input` bytes; the bytes echoed back with FIN;
//! once msquic reports the stream shut down (the echo and its FIN
//! acknowledged) the connection is shut down with application code 0 (kept
//! open with `--keep-alive`).
//!
//! It is a peer for comparison, written the way msquic's own server test
//! and `sample.c` write one (callbacks per listener, connection and
//! stream), and shares no code with the reference server. Its flags are the
//! reference server's where msquic has the knob; msquic has none for a Retry
//! token's lifetime, so there is no `--token-lifetime`. It prints
//! `listening on ADDR` once started.

use std::ffi::c_void;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use msquic::{
    Addr, BufferRef, Configuration, Connection, ConnectionEvent, ConnectionRef,
    ConnectionShutdownFlags, Credential, CredentialConfig, Listener, ListenerEvent, Registration,
    RegistrationConfig, SendFlags, Settings, Status, StatusCode, Stream, StreamEvent, StreamRef,
    StreamShutdownFlags,
};

/// Application error: the stream sent more than `--max-input` bytes.
const ERR_TOO_LARGE: u64 = 0x10;
/// STOP_SENDING code for a unidirectional stream (nothing to echo it on).
const ERR_UNI_STREAM: u64 = 0x11;

/// Command line, in the reference server's terms.
#[derive(Debug, Parser)]
#[command(
    name = "msquic-echo",
    version,
    about = "QUIC echo server on msquic (a peer for comparison)"
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

fn main() {
    let args = Args::parse();
    if let Err(e) = serve(&args) {
        eprintln!("msquic-echo: {e}");
        std::process::exit(1);
    }
}

/// Retry for every new client (msquic's knob is the share of memory that
/// handshakes may use before it sends Retry: 0 means always), or never.
fn set_retry(always: bool) -> Result<(), String> {
    let percent: u16 = if always { 0 } else { 100 };
    // SAFETY: the buffer is a u16 that lives across the call, as the
    // parameter expects.
    unsafe {
        msquic::Api::set_param(
            std::ptr::null_mut(),
            msquic::ffi::QUIC_PARAM_GLOBAL_RETRY_MEMORY_PERCENT,
            std::mem::size_of::<u16>() as u32,
            &percent as *const u16 as *const c_void,
        )
    }
    .map_err(|e| format!("retry setting: {e:?}"))
}

fn configuration(
    reg: &Registration,
    args: &Args,
    alpn: &[BufferRef],
) -> Result<Configuration, String> {
    let settings = Settings::new()
        .set_IdleTimeoutMs(args.idle_timeout.as_millis() as u64)
        .set_PeerBidiStreamCount(16)
        .set_PeerUnidiStreamCount(16);
    let config = Configuration::open(reg, alpn, Some(&settings))
        .map_err(|e| format!("configuration: {e:?}"))?;
    let cred = Credential::CertificateFile(msquic::CertificateFile::new(
        args.key.to_string_lossy().into_owned(),
        args.cert.to_string_lossy().into_owned(),
    ));
    config
        .load_credential(&CredentialConfig::new().set_credential(cred))
        .map_err(|e| format!("{} and {}: {e:?}", args.cert.display(), args.key.display()))?;
    Ok(config)
}

fn serve(args: &Args) -> Result<(), String> {
    let reg = Registration::new(&RegistrationConfig::default())
        .map_err(|e| format!("registration: {e:?}"))?;
    set_retry(!args.no_retry)?;
    let alpn: Vec<BufferRef> = args
        .alpn
        .iter()
        .map(|a| BufferRef::from(a.as_str()))
        .collect();
    let config = Arc::new(configuration(&reg, args, &alpn)?);
    let rules = Rules {
        max_input: args.max_input,
        keep_alive: args.keep_alive,
    };
    let open = Arc::new(AtomicUsize::new(0));
    let max = args.max_connections;
    let listener = Listener::open(&reg, move |_, ev| match ev {
        ListenerEvent::NewConnection { connection, .. } => {
            if open.load(Ordering::Relaxed) >= max {
                return Err(Status::new(StatusCode::QUIC_STATUS_CONNECTION_REFUSED));
            }
            open.fetch_add(1, Ordering::Relaxed);
            let open = Arc::clone(&open);
            connection.set_callback_handler(move |conn, ev| rules.connection(conn, ev, &open));
            connection.set_configuration(&config)
        }
        ListenerEvent::StopComplete { .. } => Ok(()),
    })
    .map_err(|e| format!("listener: {e:?}"))?;
    listener
        .start(&alpn, Some(&Addr::from(args.listen)))
        .map_err(|e| format!("cannot listen on {}: {e:?}", args.listen))?;
    let local = listener
        .get_local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or(args.listen);
    println!("listening on {local}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(|e| format!("signals: {e}"))?;
    let _ = signals.forever().next();
    listener.stop();
    Ok(())
}

/// The echo rules.
#[derive(Clone, Copy)]
struct Rules {
    max_input: usize,
    keep_alive: bool,
}

/// One stream's echo: the bytes read, then the buffers msquic sends from
/// until it reports the send complete.
struct Echo {
    data: Vec<u8>,
    buffers: [BufferRef; 1],
}

impl Rules {
    fn connection(
        self,
        conn: ConnectionRef,
        ev: ConnectionEvent,
        open: &AtomicUsize,
    ) -> Result<(), Status> {
        match ev {
            ConnectionEvent::PeerStreamStarted { stream, flags } => {
                if flags.contains(msquic::StreamOpenFlags::UNIDIRECTIONAL) {
                    stream.set_callback_handler(|s: StreamRef, ev| {
                        if let StreamEvent::ShutdownComplete { .. } = ev {
                            // SAFETY: msquic hands the stream over; closed once.
                            unsafe { Stream::from_raw(s.as_raw()) };
                        }
                        Ok(())
                    });
                    let _ = stream.shutdown(StreamShutdownFlags::ABORT_RECEIVE, ERR_UNI_STREAM);
                    return Ok(());
                }
                let mut read = Vec::new();
                stream.set_callback_handler(move |s, ev| self.stream(&conn, s, ev, &mut read));
            }
            ConnectionEvent::ShutdownComplete { .. } => {
                open.fetch_sub(1, Ordering::Relaxed);
                // SAFETY: msquic hands the connection over; closed once.
                unsafe { Connection::from_raw(conn.as_raw()) };
            }
            _ => {}
        }
        Ok(())
    }

    fn stream(
        self,
        conn: &ConnectionRef,
        s: StreamRef,
        ev: StreamEvent,
        read: &mut Vec<u8>,
    ) -> Result<(), Status> {
        match ev {
            StreamEvent::Receive { buffers, .. } => {
                let n: usize = buffers.iter().map(|b| b.as_bytes().len()).sum();
                if read.len() + n > self.max_input {
                    let _ = s.shutdown(StreamShutdownFlags::ABORT, ERR_TOO_LARGE);
                    conn.shutdown(ConnectionShutdownFlags::NONE, ERR_TOO_LARGE);
                    return Ok(());
                }
                for b in buffers {
                    read.extend_from_slice(b.as_bytes());
                }
            }
            StreamEvent::PeerSendShutdown => send_echo(&s, std::mem::take(read)),
            StreamEvent::PeerSendAborted { error_code } => {
                let _ = s.shutdown(StreamShutdownFlags::ABORT, error_code);
            }
            StreamEvent::SendComplete { client_context, .. } if !client_context.is_null() => {
                // SAFETY: the context is the Box that send_echo leaked.
                drop(unsafe { Box::from_raw(client_context as *mut Echo) });
            }
            StreamEvent::ShutdownComplete { .. } => {
                // Both sides are done: for an echo, once the client
                // acknowledged all of it and its FIN. As the guide's server
                // shuts its connection down after the stream, this one
                // shuts it down then.
                if !self.keep_alive {
                    conn.shutdown(ConnectionShutdownFlags::NONE, 0);
                }
                // SAFETY: msquic hands the stream over; closed once.
                unsafe { Stream::from_raw(s.as_raw()) };
            }
            _ => {}
        }
        Ok(())
    }
}

/// Sends `data` with FIN; msquic reads it from a boxed buffer until it
/// reports the send complete.
fn send_echo(s: &StreamRef, data: Vec<u8>) {
    let mut echo = Box::new(Echo {
        data,
        buffers: [BufferRef::from(&[][..])],
    });
    echo.buffers[0] = BufferRef::from(echo.data.as_slice());
    let count = usize::from(!echo.data.is_empty());
    let ctx = Box::into_raw(echo);
    // SAFETY: ctx is the Box just leaked: valid until SendComplete frees it.
    let buffers: &[BufferRef; 1] = unsafe { &(*ctx).buffers };
    // SAFETY: the buffers live in the Box, freed at SendComplete.
    let sent = unsafe { s.send(&buffers[..count], SendFlags::FIN, ctx as *const c_void) };
    if sent.is_err() {
        // SAFETY: msquic did not take the context.
        drop(unsafe { Box::from_raw(ctx) });
        let _ = s.shutdown(StreamShutdownFlags::ABORT, 0);
    }
}
