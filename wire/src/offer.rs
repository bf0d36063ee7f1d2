//! What a client offers in its first Initial, read without any state: the
//! TLS 1.3 cipher suites of its ClientHello (RFC 8446 §4.1.2).

use crate::{open_client_initial, Frame, Packet, Reader};

/// The cipher suites offered by the ClientHello in the client Initial at
/// the start of `datagram`, when it decrypts and its first CRYPTO frame
/// holds the start of a ClientHello.
pub fn offered_cipher_suites(datagram: &[u8]) -> Option<Vec<u16>> {
    let Packet::Initial { frames, .. } = open_client_initial(datagram)? else {
        return None;
    };
    let hello = frames.iter().find_map(|f| match f {
        Frame::Crypto { offset: 0, data } => Some(data.as_slice()),
        _ => None,
    })?;
    // Handshake header (type 1, 3-byte length), legacy_version, random,
    // legacy_session_id, then the suites.
    let mut h = Reader::new(hello);
    (h.u8().ok()? == 1).then_some(())?;
    h.bytes(3 + 2 + 32).ok()?;
    let sid = h.u8().ok()? as usize;
    h.bytes(sid).ok()?;
    let len = u16::from_be_bytes(h.bytes(2).ok()?.try_into().ok()?) as usize;
    let suites = h.bytes(len).ok()?;
    Some(
        suites
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{client_hello, crypto_frame, seal_initial, Hello, Keys, MIN_INITIAL_DATAGRAM};

    #[test]
    fn the_suites_of_our_own_client_hello_are_read_back() {
        let dcid = [1u8; 8];
        let hello = client_hello(&Hello {
            server_name: "localhost",
            alpn: &[b"http/1.0"],
            scid: &[2u8; 8],
            x25519: &[3u8; 32],
            random: [4u8; 32],
            version: crate::Version::V1,
        });
        let keys = Keys::initial(&dcid, true);
        let d = seal_initial(
            &keys,
            &dcid,
            &[2u8; 8],
            &[],
            0,
            &crypto_frame(0, &hello),
            MIN_INITIAL_DATAGRAM,
        );
        let suites = offered_cipher_suites(&d).unwrap();
        assert!(suites.contains(&0x1301), "{suites:x?}");
        assert_eq!(offered_cipher_suites(&d[..40]), None);
        assert_eq!(offered_cipher_suites(&[0u8; 1200]), None);
    }
}
