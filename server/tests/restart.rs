//! A server restarted with the same key file resets the connections of the
//! process before it (RFC 9000 §10.3): sans-IO, two endpoints in turn, a
//! real quiche client between them, no sockets.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use server::endpoint::{Endpoint, Options, MAX_DATAGRAM};
use server::reset::ResetKey;

const SERVER: &str = "127.0.0.1:4433";
const CLIENT: &str = "127.0.0.1:40000";

fn endpoint(reset_key: Option<&[u8]>) -> Endpoint {
    let opts = Options {
        max_input: 8192,
        keep_alive: false,
        retry: true,
        max_connections: 10,
        token_lifetime: Duration::from_secs(10),
        qlog_dir: None,
        keylog: None,
        faults: Default::default(),
    };
    let ep = Endpoint::new(common::dev_config(), opts, SERVER.parse().unwrap());
    match reset_key {
        Some(secret) => ep.with_reset_key(ResetKey::from_secret(secret)),
        None => ep,
    }
}

fn client() -> quiche::Connection {
    let mut cfg = quiche::Config::new(quiche::PROTOCOL_VERSION).unwrap();
    cfg.set_application_protos(&[b"http/1.0"]).unwrap();
    cfg.verify_peer(false);
    cfg.set_initial_max_data(1 << 20);
    cfg.set_initial_max_stream_data_bidi_local(1 << 20);
    cfg.set_initial_max_streams_bidi(10);
    cfg.set_max_idle_timeout(30_000);
    let scid = quiche::ConnectionId::from_ref(&[7; 20]);
    let (local, peer): (SocketAddr, SocketAddr) =
        (CLIENT.parse().unwrap(), SERVER.parse().unwrap());
    quiche::connect(Some("localhost"), &scid, local, peer, &mut cfg).unwrap()
}

/// Exchanges datagrams until neither side has anything to send; how many
/// datagrams reached the client.
fn pump(c: &mut quiche::Connection, ep: &mut Endpoint) -> usize {
    let (local, peer): (SocketAddr, SocketAddr) =
        (CLIENT.parse().unwrap(), SERVER.parse().unwrap());
    let mut buf = vec![0u8; 65536];
    let mut delivered = 0;
    for _ in 0..50 {
        let mut moved = false;
        while let Ok((n, _)) = c.send(&mut buf) {
            ep.recv(&mut buf[..n], local, Instant::now());
            moved = true;
        }
        while let Some((n, to)) = ep.poll_transmit(&mut buf[..MAX_DATAGRAM]) {
            assert_eq!(to, local);
            let _ = c.recv(
                &mut buf[..n],
                quiche::RecvInfo {
                    from: peer,
                    to: local,
                },
            );
            delivered += 1;
            moved = true;
        }
        if !moved {
            break;
        }
    }
    delivered
}

/// A connection of the first process, its first bytes sent; then the
/// restarted process (`after`) gets the rest. Whether the client was reset.
fn restart_with(after: &mut Endpoint) -> bool {
    let mut before = endpoint(Some(b"the key file"));
    let mut c = client();
    pump(&mut c, &mut before);
    assert!(c.is_established(), "no handshake");
    let token = c.peer_transport_params().unwrap().stateless_reset_token;
    assert!(token.is_some(), "the server gave no reset token");
    c.stream_send(0, b"before the restart", false).unwrap();
    pump(&mut c, &mut before);
    c.stream_send(0, b"after the restart", true).unwrap();
    pump(&mut c, after);
    c.is_closed() && c.peer_error().is_none() && c.local_error().is_none()
}

#[test]
fn a_server_restarted_with_the_same_key_file_resets_the_old_connections() {
    let mut after = endpoint(Some(b"the key file"));
    assert!(restart_with(&mut after), "the client was not reset");
    assert_eq!(after.counters().stateless_resets, 1);
    assert_eq!(after.connection_count(), 0, "a reset keeps no state");
}

#[test]
fn a_reset_with_a_key_lost_in_the_restart_is_not_taken_by_the_client() {
    let mut after = endpoint(None);
    assert!(
        !restart_with(&mut after),
        "a reset with a foreign token was taken"
    );
    assert_eq!(
        after.counters().stateless_resets,
        1,
        "it was sent all the same"
    );
}
