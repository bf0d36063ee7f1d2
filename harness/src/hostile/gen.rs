//! Hostile datagrams, sans-IO: each kind of malformed or unwelcome input a
//! server on the internet receives, drawn from a seeded generator.

use echo_client::initial::{self, Hello, Keys};
use rand::{Rng, RngCore};

pub use crate::scenario::DatagramKind as Kind;

const MAX_UDP_PAYLOAD: usize = 65_507;

fn bytes(rng: &mut impl RngCore, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill_bytes(&mut v);
    v
}

/// A protected client Initial with a real ClientHello, and optionally a token.
fn initial(rng: &mut impl RngCore, token: &[u8]) -> Vec<u8> {
    let dcid = bytes(rng, 16);
    let scid = bytes(rng, 8);
    let hello = initial::client_hello(&Hello {
        server_name: "localhost",
        alpn: &[b"http/1.0"],
        scid: &scid,
        x25519: &bytes(rng, 32),
        random: bytes(rng, 32).try_into().expect("32 bytes"),
        version: initial::Version::V1,
    });
    let keys = Keys::initial(&dcid, true);
    initial::seal_initial(
        &keys,
        &dcid,
        &scid,
        token,
        0,
        &initial::crypto_frame(0, &hello),
        initial::MIN_INITIAL_DATAGRAM,
    )
}

/// One datagram of `kind`.
pub fn datagram(kind: Kind, rng: &mut impl RngCore) -> Vec<u8> {
    match kind {
        Kind::Random => {
            let n = rng.random_range(1..=1500);
            bytes(rng, n)
        }
        Kind::Empty => Vec::new(),
        Kind::MaxSize => {
            // A random start (what a parser looks at), zeros after it:
            // 64 KiB of random bytes per datagram would only slow the sender.
            let mut d = bytes(rng, 64);
            d.resize(MAX_UDP_PAYLOAD, 0);
            d
        }
        Kind::UnknownVersion => {
            // Versions of the form 0x?a?a?a?a are reserved to exercise
            // version negotiation (RFC 9000 §15).
            let version = (rng.next_u32() & 0xf0f0_f0f0) | 0x0a0a_0a0a;
            let mut d = vec![0xc0];
            d.extend_from_slice(&version.to_be_bytes());
            d.push(16);
            d.extend(bytes(rng, 16));
            d.push(8);
            d.extend(bytes(rng, 8));
            d.resize(initial::MIN_INITIAL_DATAGRAM, 0);
            d
        }
        Kind::TruncatedInitial => {
            let mut d = initial(rng, &[]);
            let n = rng.random_range(1..d.len());
            d.truncate(n);
            d
        }
        Kind::BitflipInitial => {
            let mut d = initial(rng, &[]);
            let at = rng.random_range(0..d.len());
            d[at] ^= 1 << rng.random_range(0..8);
            d
        }
        Kind::ForgedToken => {
            let n = rng.random_range(16..=120);
            let token = bytes(rng, n);
            initial(rng, &token)
        }
        Kind::ValidInitial => initial(rng, &[]),
        Kind::UnknownCid => {
            let mut d = vec![0x40 | (rng.next_u32() as u8 & 0x3f)];
            d.extend(bytes(rng, 20));
            let n = rng.random_range(20..=1200);
            d.extend(bytes(rng, n));
            d
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn each_kind_has_its_shape() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!(datagram(Kind::Empty, &mut rng).is_empty());
        assert_eq!(datagram(Kind::MaxSize, &mut rng).len(), MAX_UDP_PAYLOAD);
        let vn = datagram(Kind::UnknownVersion, &mut rng);
        assert_eq!(vn[0] & 0x80, 0x80);
        assert_eq!(vn[1] & 0x0f, 0x0a);
        assert_eq!(vn.len(), 1200);
        assert_eq!(datagram(Kind::UnknownCid, &mut rng)[0] & 0xc0, 0x40);
        let cut = datagram(Kind::TruncatedInitial, &mut rng);
        assert!(!cut.is_empty() && cut.len() < 1200);
        // A forged-token Initial is otherwise a real Initial.
        let forged = datagram(Kind::ForgedToken, &mut rng);
        assert_eq!(forged[0] & 0xf0, 0xc0);
        assert_eq!(&forged[1..5], &[0, 0, 0, 1]);
        assert!(forged.len() >= 1200);
    }

    #[test]
    fn the_same_seed_gives_the_same_datagrams() {
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            Kind::ALL
                .iter()
                .map(|&k| datagram(k, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }
}
