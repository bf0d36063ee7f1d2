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

#[cfg(test)]
mod tests {
    use super::*;

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
