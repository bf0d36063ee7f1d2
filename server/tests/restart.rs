//! A server restarted with the same key file resets the connections of the
//! process before it (RFC 9000 §10.3): sans-IO, two endpoints in turn, a
//! real quiche client between them, no sockets.

use server::endpoint::{Endpoint, Options};
use server::pair::{self, Pair, CLIENT};
use server::reset::ResetKey;

fn endpoint(reset_key: Option<&[u8]>) -> Endpoint {
    let opts = Options {
        max_connections: 10,
        ..Options::default()
    };
    let ep = pair::endpoint(opts);
    match reset_key {
        Some(secret) => ep.with_reset_key(ResetKey::from_secret(secret)),
        None => ep,
    }
}

/// A connection of the first process, its first bytes sent; then the
/// restarted process (`after`) gets the rest. Whether the client was reset.
fn restart_with(after: &mut Endpoint) -> bool {
    let before = endpoint(Some(b"the key file"));
    let mut p = Pair::with(before, pair::client(&[7; 20], CLIENT), CLIENT);
    p.pump();
    assert!(p.client.is_established(), "no handshake");
    let token = p
        .client
        .peer_transport_params()
        .unwrap()
        .stateless_reset_token;
    assert!(token.is_some(), "the server gave no reset token");
    p.client
        .stream_send(0, b"before the restart", false)
        .unwrap();
    p.pump();
    p.client.stream_send(0, b"after the restart", true).unwrap();
    let c = &mut p.client;
    pair::pump(c, CLIENT, after);
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
