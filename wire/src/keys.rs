//! Packet protection keys (RFC 9001 §5): the Initial keys each direction
//! derives from the client's first Destination Connection ID, in QUIC
//! version 1 or 2, and the keys of any TLS traffic secret (a key log's
//! Handshake and 1-RTT secrets), with their updates (§6).

use ring::aead::quic::{self, HeaderProtectionKey};
use ring::aead::{self as aead, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf::{self, KeyType};

use crate::Version;

/// Packet protection for one direction of the Initial space.
pub struct Keys {
    pub(crate) aead: LessSafeKey,
    pub(crate) iv: [u8; 12],
    hp: HeaderProtectionKey,
    /// The QUIC version the keys are for (and packets sealed with them).
    pub(crate) version: Version,
}

/// HKDF output length for ring.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
pub(crate) fn expand_label(prk: &hkdf::Prk, label: &str, out: &mut [u8]) {
    let full = [b"tls13 ", label.as_bytes()].concat();
    let len = (out.len() as u16).to_be_bytes();
    let label_len = [full.len() as u8];
    let info: [&[u8]; 4] = [&len, &label_len, &full, &[0]];
    prk.expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .expect("HKDF output lengths here are small and fixed");
}

/// A TLS 1.3 cipher suite, as QUIC packet protection uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20,
}

impl Suite {
    /// Every suite, in the order TLS 1.3 numbers them.
    pub const ALL: [Suite; 3] = [Suite::Aes128Gcm, Suite::Aes256Gcm, Suite::ChaCha20];

    /// The suite of a TLS cipher suite number (0x1301..0x1303).
    pub fn from_id(id: u16) -> Option<Suite> {
        Suite::ALL
            .get(usize::from(id.checked_sub(0x1301)?))
            .copied()
    }

    fn parts(
        self,
    ) -> (
        hkdf::Algorithm,
        &'static aead::Algorithm,
        &'static quic::Algorithm,
    ) {
        match self {
            Suite::Aes128Gcm => (hkdf::HKDF_SHA256, &aead::AES_128_GCM, &quic::AES_128),
            Suite::Aes256Gcm => (hkdf::HKDF_SHA384, &aead::AES_256_GCM, &quic::AES_256),
            Suite::ChaCha20 => (hkdf::HKDF_SHA256, &aead::CHACHA20_POLY1305, &quic::CHACHA20),
        }
    }

    /// The length of its traffic secrets (the hash's output).
    pub fn secret_len(self) -> usize {
        self.parts().0.len()
    }
}

impl Keys {
    /// The version 1 Initial keys both ends derive from the client's first
    /// Destination Connection ID; `client` picks the client's direction.
    pub fn initial(dcid: &[u8], client: bool) -> Keys {
        Keys::initial_for(Version::V1, dcid, client)
    }

    /// [`Keys::initial`] for QUIC `version`.
    pub fn initial_for(version: Version, dcid: &[u8], client: bool) -> Keys {
        let initial = hkdf::Salt::new(hkdf::HKDF_SHA256, version.initial_salt()).extract(dcid);
        let mut secret = [0u8; 32];
        expand_label(
            &initial,
            if client { "client in" } else { "server in" },
            &mut secret,
        );
        Keys::from_secret(version, Suite::Aes128Gcm, &secret)
            .expect("a 32-byte secret for AES-128-GCM")
    }

    /// The keys of a traffic secret of `suite`; `None` when the secret's
    /// length is not the suite's.
    pub fn from_secret(version: Version, suite: Suite, secret: &[u8]) -> Option<Keys> {
        Keys::updated(version, suite, secret, secret)
    }

    /// The keys of `secret`, a traffic secret after key updates, with the
    /// header protection key of `first`, the secret before any: a key
    /// update does not change header protection (RFC 9001 §6).
    pub fn updated(version: Version, suite: Suite, first: &[u8], secret: &[u8]) -> Option<Keys> {
        let (hash, aead_alg, hp_alg) = suite.parts();
        if secret.len() != hash.len() || first.len() != hash.len() {
            return None;
        }
        let prk = hkdf::Prk::new_less_safe(hash, secret);
        let mut key = vec![0u8; aead_alg.key_len()];
        let (mut iv, mut hp) = ([0u8; 12], vec![0u8; hp_alg.key_len()]);
        expand_label(&prk, &version.label("key"), &mut key);
        expand_label(&prk, &version.label("iv"), &mut iv);
        let first_prk = hkdf::Prk::new_less_safe(hash, first);
        expand_label(&first_prk, &version.label("hp"), &mut hp);
        Some(Keys {
            aead: LessSafeKey::new(UnboundKey::new(aead_alg, &key).ok()?),
            iv,
            hp: HeaderProtectionKey::new(hp_alg, &hp).ok()?,
            version,
        })
    }

    /// The secret after a key update (RFC 9001 §6.1: "quic ku", or the
    /// version's label for it).
    pub fn next_secret(version: Version, suite: Suite, secret: &[u8]) -> Vec<u8> {
        let hash = suite.parts().0;
        let prk = hkdf::Prk::new_less_safe(hash, secret);
        let mut next = vec![0u8; hash.len()];
        expand_label(&prk, &version.label("ku"), &mut next);
        next
    }

    pub(crate) fn nonce(&self, pn: u64) -> Nonce {
        let mut n = self.iv;
        for (b, p) in n[4..].iter_mut().zip(pn.to_be_bytes()) {
            *b ^= p;
        }
        Nonce::assume_unique_for_key(n)
    }

    pub(crate) fn mask(&self, sample: &[u8]) -> Option<[u8; 5]> {
        self.hp.new_mask(sample).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::hex;

    #[test]
    fn a_key_update_keeps_the_first_header_protection_key() {
        // RFC 9001 A.5's secret and its "quic ku" successor.
        let first = hex("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b");
        let ku = Keys::next_secret(Version::V1, Suite::ChaCha20, &first);
        let sample = [7u8; 16];
        let mask = |k: Option<Keys>| k.unwrap().mask(&sample).unwrap();
        let updated = mask(Keys::updated(Version::V1, Suite::ChaCha20, &first, &ku));
        assert_eq!(
            updated,
            mask(Keys::from_secret(Version::V1, Suite::ChaCha20, &first))
        );
        assert_ne!(
            updated,
            mask(Keys::from_secret(Version::V1, Suite::ChaCha20, &ku))
        );
    }
}
