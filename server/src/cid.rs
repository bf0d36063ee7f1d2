//! Connection IDs derived from the client's original destination ID.
//!
//! Deriving (rather than drawing) our IDs means a retransmitted first
//! Initial, or a Retry's follow-up, maps to the same connection without any
//! state kept for it.

use ring::hmac;

/// Length of the connection IDs this server issues: 16 bytes, not the 20
/// QUIC allows. quiche encodes the server's transport parameters into 128
/// bytes; with three connection IDs in them (the client's original one, up
/// to 20 bytes, ours and the Retry's) and a stateless reset token, 20-byte
/// IDs of ours overflow that and every handshake fails.
pub const CID_LEN: usize = 16;

/// Derives server connection IDs with a secret HMAC key.
pub struct CidGenerator {
    key: hmac::Key,
}

impl CidGenerator {
    /// A generator with a fresh random key.
    pub fn new(rng: &ring::rand::SystemRandom) -> Self {
        CidGenerator {
            key: hmac::Key::generate(hmac::HMAC_SHA256, rng).expect("system RNG"),
        }
    }

    /// The server's connection ID for a client whose first Initial carried
    /// `client_dcid`.
    pub fn derive(&self, client_dcid: &[u8]) -> quiche::ConnectionId<'static> {
        let tag = hmac::sign(&self.key, client_dcid);
        quiche::ConnectionId::from_vec(tag.as_ref()[..CID_LEN].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_is_stable_per_key_and_differs_across_inputs_and_keys() {
        let rng = ring::rand::SystemRandom::new();
        let a = CidGenerator::new(&rng);
        let b = CidGenerator::new(&rng);
        assert_eq!(a.derive(b"client-1"), a.derive(b"client-1"));
        assert_ne!(a.derive(b"client-1"), a.derive(b"client-2"));
        assert_ne!(a.derive(b"client-1"), b.derive(b"client-1"));
        assert_eq!(a.derive(b"x").len(), CID_LEN);
    }
}
