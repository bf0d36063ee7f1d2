//! The key phase bit of a 1-RTT packet (RFC 9001 §6), read through header
//! protection with the sender's traffic secret, for a connection using
//! TLS_AES_128_GCM_SHA256. A server's fault build uses it to play a server
//! that cannot follow a key update.

use ring::aead::quic::{HeaderProtectionKey, AES_128};
use ring::hkdf;

use crate::expand_label;

/// Header protection for 1-RTT packets from one sender.
pub struct OneRttHeader {
    hp: HeaderProtectionKey,
}

impl OneRttHeader {
    /// From the sender's first application traffic secret (32 bytes: the
    /// TLS_AES_128_GCM_SHA256 suite).
    pub fn new(secret: &[u8]) -> Option<OneRttHeader> {
        (secret.len() == 32).then_some(())?;
        let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, secret);
        let mut hp = [0u8; 16];
        expand_label(&prk, "quic hp", &mut hp);
        Some(OneRttHeader {
            hp: HeaderProtectionKey::new(&AES_128, &hp).ok()?,
        })
    }

    /// The key phase of the short-header packet at the start of `datagram`
    /// whose Destination Connection ID is `dcid_len` bytes; `None` for a
    /// long header or a packet too short to sample.
    pub fn key_phase(&self, datagram: &[u8], dcid_len: usize) -> Option<bool> {
        let first = *datagram.first()?;
        if first & 0x80 != 0 {
            return None;
        }
        // The sample starts 4 bytes after the packet number's first byte.
        let sample = datagram.get(1 + dcid_len + 4..1 + dcid_len + 4 + 16)?;
        let mask = self.hp.new_mask(sample).ok()?;
        Some((first ^ (mask[0] & 0x1f)) & 0x04 != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_phase_bit_comes_through_header_protection() {
        let secret = [7u8; 32];
        let h = OneRttHeader::new(&secret).unwrap();
        let mut pkt = vec![0x40u8];
        pkt.extend_from_slice(&[0xaa; 8]); // DCID
        pkt.extend_from_slice(&[0x55; 40]); // packet number, payload
        let mask = h.hp.new_mask(&pkt[1 + 8 + 4..1 + 8 + 4 + 16]).unwrap();
        for phase in [false, true] {
            let mut p = pkt.clone();
            p[0] = (0x40 | if phase { 0x04 } else { 0 }) ^ (mask[0] & 0x1f);
            assert_eq!(h.key_phase(&p, 8), Some(phase));
        }
        assert_eq!(h.key_phase(&[0xc0; 64], 8), None, "long header");
        assert_eq!(h.key_phase(&pkt[..20], 8), None, "too short");
        assert!(OneRttHeader::new(&[0u8; 48]).is_none(), "another suite");
    }
}
