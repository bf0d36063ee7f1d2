//! Initial packet protection (RFC 9001 §5.2): the keys each direction
//! derives from the client's first Destination Connection ID, in QUIC
//! version 1 or 2.

use ring::aead::quic::{HeaderProtectionKey, AES_128};
use ring::aead::{LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
use ring::hkdf;

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
        let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &secret);
        let (mut key, mut iv, mut hp) = ([0u8; 16], [0u8; 12], [0u8; 16]);
        expand_label(&prk, &version.label("key"), &mut key);
        expand_label(&prk, &version.label("iv"), &mut iv);
        expand_label(&prk, &version.label("hp"), &mut hp);
        Keys {
            aead: LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &key).expect("16-byte key")),
            iv,
            hp: HeaderProtectionKey::new(&AES_128, &hp).expect("16-byte key"),
            version,
        }
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
