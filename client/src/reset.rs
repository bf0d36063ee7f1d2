//! Which datagrams may end a connection as a stateless reset (RFC 9000
//! §10.3.1), where quiche 0.30 errs.
//!
//! quiche compares the last 16 bytes of every datagram it cannot read with
//! the token of the server's transport parameters, which belongs to the
//! server's first connection ID (sequence 0), and closes the connection on
//! a match, also after the client has retired that connection ID
//! (`is_stateless_reset` in quiche's lib.rs: "we should iterate over all
//! active destination connection IDs"). RFC 9000 §10.3.1 excludes the
//! tokens of retired connection IDs. A server may well send that reset: a
//! packet of ours to the retired ID, overtaken on the way by the
//! RETIRE_CONNECTION_ID frame, names no connection it knows (§10.3). Seen
//! against msquic under 20 ms of jitter: msquic asks for IDs 0 and 1 to be
//! retired at once, resets a late ACK sent to ID 0, and quiche dropped a
//! live connection with the echo's last packet on its way.

/// Whether `datagram` could only be a stateless reset carrying `token`:
/// a short header (RFC 9000 §17.3), at least 21 bytes (§10.3), ending in
/// the token.
pub(crate) fn ends_in_token(datagram: &[u8], token: u128) -> bool {
    datagram.len() >= 21
        && datagram[0] & 0x80 == 0
        && datagram[datagram.len() - 16..] == token.to_be_bytes()
}

/// Whether quiche would take `datagram` for a reset with the token of a
/// connection ID the client no longer uses. quiche leaves the server's
/// first ID only by retiring it, or by moving to a new path, so this
/// holds only for a connection that does not migrate (`migrates` false).
pub(crate) fn retired_token(conn: &quiche::Connection, datagram: &[u8], migrates: bool) -> bool {
    let Some(tp) = conn.peer_transport_params() else {
        return false;
    };
    let (Some(token), Some(first)) = (tp.stateless_reset_token, &tp.initial_source_connection_id)
    else {
        return false;
    };
    !migrates && conn.destination_id() != *first && ends_in_token(datagram, token)
}

/// Why quiche could have missed a reset on `conn`: it recognises only the
/// first connection ID's token (the transport parameter), so once the
/// client uses another of the server's IDs a reset carrying that ID's token
/// (from its NEW_CONNECTION_ID frame, RFC 9000 §10.3) looks like a packet it
/// cannot read.
pub(crate) fn unseen(conn: &quiche::Connection) -> Option<String> {
    let first = conn
        .peer_transport_params()?
        .initial_source_connection_id
        .as_ref()?;
    (conn.destination_id() != *first).then(|| {
        "the client had moved to another of the server's connection IDs, and its stack \
         (quiche 0.30) recognises a stateless reset only by the first one's token"
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    const SERVER_TOKEN: u128 = 0x5e4e_0000_0000_0000_0000_0000_0000_0001;

    fn configs() -> (quiche::Config, quiche::Config) {
        let certs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs");
        let path = |f: &str| certs.join(f).to_string_lossy().into_owned();
        let common = |c: &mut quiche::Config| {
            c.set_application_protos(&[b"hq-interop"]).unwrap();
            c.set_initial_max_data(1 << 16);
            c.set_initial_max_streams_bidi(4);
            c.set_initial_max_stream_data_bidi_local(1 << 16);
            c.set_initial_max_stream_data_bidi_remote(1 << 16);
        };
        let mut server = quiche::Config::new(quiche::PROTOCOL_VERSION).unwrap();
        server
            .load_cert_chain_from_pem_file(&path("chain.pem"))
            .unwrap();
        server
            .load_priv_key_from_pem_file(&path("key.pem"))
            .unwrap();
        server.set_stateless_reset_token(Some(SERVER_TOKEN));
        common(&mut server);
        let mut client = quiche::Config::new(quiche::PROTOCOL_VERSION).unwrap();
        client.verify_peer(false);
        common(&mut client);
        (client, server)
    }

    /// Moves what `from` has to send to `to`; whether there was any.
    fn flush(from: &mut quiche::Connection, to: &mut quiche::Connection) -> bool {
        let mut buf = [0u8; 1500];
        let mut moved = false;
        while let Ok((n, info)) = from.send(&mut buf) {
            let recv = quiche::RecvInfo {
                from: info.from,
                to: info.to,
            };
            let _ = to.recv(&mut buf[..n], recv);
            moved = true;
        }
        moved
    }

    /// Moves datagrams both ways until neither side has any to send.
    fn pump(a: &mut quiche::Connection, b: &mut quiche::Connection) {
        for _ in 0..100 {
            let there = flush(a, b);
            let back = flush(b, a);
            if !(there || back) {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    /// A client whose server asked it to retire its first connection ID
    /// (NEW_CONNECTION_ID with Retire Prior To 1), which it did.
    fn retired_client() -> quiche::Connection {
        let (mut cc, mut sc) = configs();
        let (c_addr, s_addr): (SocketAddr, SocketAddr) = (
            "127.0.0.1:1000".parse().unwrap(),
            "127.0.0.1:2000".parse().unwrap(),
        );
        let cid = |b: u8| quiche::ConnectionId::from_vec(vec![b; 16]);
        let mut client = quiche::connect(None, &cid(1), c_addr, s_addr, &mut cc).unwrap();
        let mut server = quiche::accept(&cid(2), None, s_addr, c_addr, &mut sc).unwrap();
        pump(&mut client, &mut server);
        assert!(client.is_established() && server.is_established());
        server.new_scid(&cid(3), 3, true).unwrap();
        server.new_scid(&cid(4), 4, true).unwrap();
        pump(&mut client, &mut server);
        assert_ne!(client.destination_id(), cid(2), "the first ID is retired");
        client
    }

    #[test]
    fn quiche_drops_a_live_connection_on_a_reset_for_a_retired_id_and_the_client_does_not() {
        let mut reset = vec![0x41; 24];
        reset.extend_from_slice(&SERVER_TOKEN.to_be_bytes());
        let mut client = retired_client();
        assert!(retired_token(&client, &reset, false));
        assert!(
            !retired_token(&client, &reset, true),
            "may migrate: let quiche judge"
        );
        let mut other = reset.clone();
        other[39] ^= 1;
        assert!(!retired_token(&client, &other, false));
        // Why the screen is there: quiche 0.30 itself takes it for a reset.
        let to = "127.0.0.1:1000".parse().unwrap();
        let from = "127.0.0.1:2000".parse().unwrap();
        let _ = client.recv(&mut reset, quiche::RecvInfo { from, to });
        assert!(
            client.is_closed(),
            "quiche now honours it (fixed upstream?)"
        );
    }

    #[test]
    fn a_client_off_its_first_connection_id_may_miss_a_reset() {
        let client = retired_client();
        assert!(unseen(&client).is_some_and(|w| w.contains("another of the server's")));
    }

    const TOKEN: u128 = 0x31557cdd7ea7da2c547c31b3b6d216d6;

    fn datagram(first: u8, len: usize, token: u128) -> Vec<u8> {
        let mut d = vec![first; len - 16];
        d.extend_from_slice(&token.to_be_bytes());
        d
    }

    #[test]
    fn a_short_header_datagram_ending_in_the_token_is_a_reset_for_it() {
        // As msquic sent it: 33 bytes, fixed bit set, token at the end.
        assert!(ends_in_token(&datagram(0x67, 33, TOKEN), TOKEN));
        assert!(ends_in_token(&datagram(0x40, 21, TOKEN), TOKEN));
    }

    #[test]
    fn other_tokens_long_headers_and_short_datagrams_are_not() {
        assert!(!ends_in_token(&datagram(0x67, 33, TOKEN ^ 1), TOKEN));
        assert!(!ends_in_token(&datagram(0xc0, 33, TOKEN), TOKEN));
        assert!(!ends_in_token(&datagram(0x40, 20, TOKEN), TOKEN));
    }
}
