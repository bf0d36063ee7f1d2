//! An echo server on tquic, following the rules of
//! ossl-guide-quic-server-non-block(7): ALPN `http/1.0` or `hq-interop`
//! only; each bidirectional stream read until FIN, at most `--max-input`
//! bytes; the bytes echoed back with FIN; once the echo is acknowledged
//! (tquic reports the stream closed) the connection is closed with
//! application code 0 (kept open with `--keep-alive`).
//!
//! It is a peer for comparison, written the way a user of tquic writes a
//! server (tquic's `simple_server` on mio is the model), and shares no code
//! with the reference server. Its flags are the reference server's; tquic
//! has a knob for each. It prints `listening on ADDR` once bound.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use tquic::{Config, Connection, Endpoint, PacketInfo, PacketSendHandler, Shutdown, TlsConfig};

/// Application error: the stream sent more than `--max-input` bytes.
const ERR_TOO_LARGE: u64 = 0x10;
/// STOP_SENDING code for a unidirectional stream (nothing to echo it on).
const ERR_UNI_STREAM: u64 = 0x11;

const SOCKET: Token = Token(0);
const SIGNALS: Token = Token(1);

/// Command line, in the reference server's terms.
#[derive(Debug, Parser)]
#[command(
    name = "tquic-echo",
    version,
    about = "QUIC echo server on tquic (a peer for comparison)"
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
    max_connections: u32,
    /// Do not validate client addresses with a Retry.
    #[arg(long)]
    no_retry: bool,
    /// How long a Retry token stays valid.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    token_lifetime: Duration,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = serve(&args) {
        eprintln!("tquic-echo: {e}");
        std::process::exit(1);
    }
}

fn config(args: &Args) -> Result<Config, String> {
    let path = |p: &PathBuf| p.to_string_lossy().into_owned();
    let alpn = args.alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    let tls = TlsConfig::new_server_config(&path(&args.cert), &path(&args.key), alpn, false)
        .map_err(|e| format!("{} and {}: {e:?}", args.cert.display(), args.key.display()))?;
    let mut config = Config::new().map_err(|e| format!("config: {e:?}"))?;
    config.set_max_idle_timeout(args.idle_timeout.as_millis() as u64);
    config.set_max_concurrent_conns(args.max_connections);
    config.enable_retry(!args.no_retry);
    config.set_address_token_lifetime(args.token_lifetime.as_secs().max(1));
    config.enable_stateless_reset(true);
    config.set_initial_max_streams_uni(16);
    config.set_tls_config(tls);
    Ok(config)
}

fn serve(args: &Args) -> Result<(), String> {
    let mut socket = UdpSocket::bind(args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = socket
        .local_addr()
        .map_err(|e| format!("local address: {e}"))?;
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    poll.registry()
        .register(&mut socket, SOCKET, Interest::READABLE)
        .map_err(|e| format!("poll: {e}"))?;
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook_mio::v0_8::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("signals: {e}"))?;
    poll.registry()
        .register(&mut signals, SIGNALS, Interest::READABLE)
        .map_err(|e| format!("poll: {e}"))?;
    let socket = Rc::new(socket);
    let handler = Echo {
        max_input: args.max_input,
        keep_alive: args.keep_alive,
        streams: HashMap::new(),
    };
    let sender = Rc::new(Sender {
        socket: Rc::clone(&socket),
    });
    let mut endpoint = Endpoint::new(Box::new(config(args)?), true, Box::new(handler), sender);
    println!("listening on {local}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 65536];
    loop {
        if let Err(e) = endpoint.process_connections() {
            log::warn!("process connections: {e:?}");
        }
        poll.poll(&mut events, endpoint.timeout())
            .map_err(|e| format!("poll: {e}"))?;
        if events.iter().any(|e| e.token() == SIGNALS) {
            endpoint.close(false);
            return Ok(());
        }
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let info = PacketInfo {
                src: from,
                dst: local,
                time: Instant::now(),
            };
            if let Err(e) = endpoint.recv(&mut buf[..n], &info) {
                log::debug!("{from}: {e:?}");
            }
        }
        endpoint.on_timeout(Instant::now());
    }
}

/// Sends the endpoint's packets on the socket.
struct Sender {
    socket: Rc<UdpSocket>,
}

impl PacketSendHandler for Sender {
    fn on_packets_send(&self, pkts: &[(Vec<u8>, PacketInfo)]) -> tquic::Result<usize> {
        let mut sent = 0;
        for (pkt, info) in pkts {
            match self.socket.send_to(pkt, info.dst) {
                Ok(_) => sent += 1,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(tquic::Error::IoError(e.to_string())),
            }
        }
        Ok(sent)
    }
}

/// One stream's echo: what was read, then what is left to write.
#[derive(Default)]
struct Stream {
    read: Vec<u8>,
    /// Set once FIN arrived: the echo not yet taken by the connection.
    pending: Option<Bytes>,
}

/// The echo rules, per connection (by its index) and stream.
struct Echo {
    max_input: usize,
    keep_alive: bool,
    streams: HashMap<(u64, u64), Stream>,
}

impl Echo {
    fn key(conn: &Connection, stream_id: u64) -> (u64, u64) {
        (conn.index().unwrap_or(u64::MAX), stream_id)
    }

    /// Writes what is left of the echo, with FIN.
    fn write(conn: &mut Connection, stream_id: u64, st: &mut Stream) {
        let Some(data) = st.pending.take() else {
            return;
        };
        match conn.stream_write(stream_id, data.clone(), true) {
            Ok(n) if n == data.len() => {}
            Ok(n) => st.pending = Some(data.slice(n..)),
            Err(tquic::Error::Done) => st.pending = Some(data),
            Err(e) => log::info!("stream {stream_id}: write: {e:?}"),
        }
    }

    fn refuse(conn: &mut Connection, stream_id: u64, max: usize) {
        let _ = conn.stream_shutdown(stream_id, Shutdown::Read, ERR_TOO_LARGE);
        let _ = conn.stream_shutdown(stream_id, Shutdown::Write, ERR_TOO_LARGE);
        let reason = format!("input exceeds {max} bytes");
        let _ = conn.close(true, ERR_TOO_LARGE, reason.as_bytes());
    }
}

impl tquic::TransportHandler for Echo {
    fn on_conn_created(&mut self, _conn: &mut Connection) {}

    fn on_conn_established(&mut self, _conn: &mut Connection) {}

    fn on_conn_closed(&mut self, conn: &mut Connection) {
        let index = conn.index().unwrap_or(u64::MAX);
        self.streams.retain(|(c, _), _| *c != index);
    }

    fn on_stream_created(&mut self, conn: &mut Connection, stream_id: u64) {
        if stream_id & 0x2 != 0 {
            let _ = conn.stream_shutdown(stream_id, Shutdown::Read, ERR_UNI_STREAM);
        }
    }

    fn on_stream_readable(&mut self, conn: &mut Connection, stream_id: u64) {
        let key = Echo::key(conn, stream_id);
        let st = self.streams.entry(key).or_default();
        let mut buf = [0u8; 16384];
        loop {
            match conn.stream_read(stream_id, &mut buf) {
                Ok((n, fin)) => {
                    if st.read.len() + n > self.max_input {
                        Echo::refuse(conn, stream_id, self.max_input);
                        return;
                    }
                    st.read.extend_from_slice(&buf[..n]);
                    if fin {
                        st.pending = Some(Bytes::from(std::mem::take(&mut st.read)));
                        Echo::write(conn, stream_id, st);
                        return;
                    }
                }
                Err(tquic::Error::Done) => return,
                Err(e) => {
                    log::info!("stream {stream_id}: read: {e:?}");
                    return;
                }
            }
        }
    }

    fn on_stream_writable(&mut self, conn: &mut Connection, stream_id: u64) {
        if let Some(st) = self.streams.get_mut(&Echo::key(conn, stream_id)) {
            Echo::write(conn, stream_id, st);
        }
    }

    /// A stream is closed once both sides are done: for an echo, once the
    /// client acknowledged all of it and its FIN. As the guide's server shuts
    /// its connection down after the stream, this one closes it then.
    fn on_stream_closed(&mut self, conn: &mut Connection, stream_id: u64) {
        self.streams.remove(&Echo::key(conn, stream_id));
        if stream_id & 0x2 == 0 && !self.keep_alive {
            let _ = conn.close(true, 0, b"");
        }
    }

    fn on_new_token(&mut self, _conn: &mut Connection, _token: Vec<u8>) {}
}
