//! An endpoint and a real quiche client in memory, datagrams handed from one
//! to the other by a loop instead of sockets (quinn-proto's test `Pair` is
//! the model). The endpoint's unit tests, the restart and fuzz tests and the
//! `datagram` fuzz target all drive the endpoint through it. No sockets, no
//! threads, no sleeps.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;

use crate::endpoint::{Endpoint, Options, MAX_DATAGRAM};

/// Where the endpoint listens.
pub const SERVER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 4433);

/// Where the client sends from.
pub const CLIENT: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 40000);

/// Rounds of [`pump`] before it gives up on a pair that never goes quiet.
const MAX_ROUNDS: usize = 200;

/// The repository's development certificates.
pub fn certs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../certs")
}

/// The reference server's quiche configuration with its default flags and
/// the development certificates.
pub fn dev_config() -> quiche::Config {
    let certs = certs();
    let args = crate::cli::Args::parse_from([
        "quic-echo-server".into(),
        "--cert".into(),
        certs.join("chain.pem").into_os_string(),
        "--key".into(),
        certs.join("key.pem").into_os_string(),
    ]);
    crate::quiche_config(&args).expect("the development certificates load")
}

/// An endpoint on [`SERVER`] with the development configuration.
pub fn endpoint(opts: Options) -> Endpoint {
    Endpoint::new(dev_config(), opts, SERVER)
}

/// A quiche client for `http/1.0` at `from`, with connection ID `scid`,
/// that does not verify the development certificate.
pub fn client(scid: &[u8], from: SocketAddr) -> quiche::Connection {
    let mut cfg = quiche::Config::new(quiche::PROTOCOL_VERSION).expect("quiche config");
    cfg.set_application_protos(&[b"http/1.0"]).expect("ALPN");
    cfg.verify_peer(false);
    cfg.set_initial_max_data(1 << 20);
    cfg.set_initial_max_stream_data_bidi_local(1 << 20);
    cfg.set_initial_max_stream_data_bidi_remote(1 << 20);
    cfg.set_initial_max_streams_bidi(10);
    cfg.set_max_idle_timeout(30_000);
    let scid = quiche::ConnectionId::from_ref(scid);
    quiche::connect(Some("localhost"), &scid, from, SERVER, &mut cfg).expect("client")
}

/// Hands datagrams between `client` (at `from`) and `ep` until neither has
/// anything to send, at most [`MAX_ROUNDS`] rounds; datagrams the endpoint
/// sends elsewhere are dropped. How many reached the client.
pub fn pump(client: &mut quiche::Connection, from: SocketAddr, ep: &mut Endpoint) -> usize {
    let mut buf = vec![0u8; 65536];
    let mut delivered = 0;
    for _ in 0..MAX_ROUNDS {
        let mut moved = false;
        while let Ok((n, _)) = client.send(&mut buf) {
            ep.recv(&mut buf[..n], from, Instant::now());
            moved = true;
        }
        while let Some((n, to)) = ep.poll_transmit(&mut buf[..MAX_DATAGRAM]) {
            moved = true;
            if to != from {
                continue;
            }
            let info = quiche::RecvInfo { from: SERVER, to };
            let _ = client.recv(&mut buf[..n], info);
            delivered += 1;
        }
        if !moved {
            break;
        }
    }
    delivered
}

/// One endpoint and one client.
pub struct Pair {
    pub server: Endpoint,
    pub client: quiche::Connection,
    pub from: SocketAddr,
}

impl Pair {
    /// An endpoint with `opts` and a client at [`CLIENT`].
    pub fn new(opts: Options) -> Pair {
        Pair::with(endpoint(opts), client(&[7; 16], CLIENT), CLIENT)
    }

    pub fn with(server: Endpoint, client: quiche::Connection, from: SocketAddr) -> Pair {
        Pair {
            server,
            client,
            from,
        }
    }

    /// See [`pump`].
    pub fn pump(&mut self) -> usize {
        pump(&mut self.client, self.from, &mut self.server)
    }

    /// Completes the handshake, sends `data` with FIN on stream 0, and
    /// returns what came back on it up to the server's FIN; `None` when the
    /// handshake or the FIN never came.
    pub fn echo(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        self.pump();
        if !self.client.is_established() {
            return None;
        }
        self.client.stream_send(0, data, true).ok()?;
        self.pump();
        self.read(0)
    }

    /// What stream `id` holds, when the server's FIN has arrived on it.
    pub fn read(&mut self, id: u64) -> Option<Vec<u8>> {
        let mut echo = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok((n, fin)) = self.client.stream_recv(id, &mut buf) {
            echo.extend_from_slice(&buf[..n]);
            if fin {
                return Some(echo);
            }
        }
        None
    }
}
