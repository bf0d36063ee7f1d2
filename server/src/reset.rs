//! Stateless resets (RFC 9000 §10.3): the token for each connection ID we
//! issue, and the reset we send for a short-header packet whose connection
//! ID we do not know (after a restart, say).
//!
//! A token is an HMAC of the connection ID under a key derived from a
//! secret that outlives the process (the TLS private key file), so a
//! restarted server can end the connections its predecessor left behind:
//! their clients hear a reset instead of waiting out their idle timeout.

use ring::rand::SecureRandom;
use ring::{hkdf, hmac};

/// Length of a stateless reset token.
pub const TOKEN_LEN: usize = 16;

/// RFC 9000 §10.3: at least 5 unpredictable bytes (with the first) before
/// the token, so the reset looks like a short-header packet.
const MIN_PADDING: usize = 5;

/// A reset pads to this much at most: as long as a short header with our
/// connection IDs and a small payload, so it looks like one.
const MAX_PADDING: usize = 1 + crate::cid::CID_LEN + 20;

/// Derives stateless reset tokens from a secret.
pub struct ResetKey {
    key: hmac::Key,
}

impl ResetKey {
    /// A key derived from `secret` (HKDF-SHA256): the same secret gives the
    /// same tokens in every process.
    pub fn from_secret(secret: &[u8]) -> ResetKey {
        let prk =
            hkdf::Salt::new(hkdf::HKDF_SHA256, b"quic-echo-server stateless reset").extract(secret);
        let okm = prk
            .expand(&[b"token key"], hmac::HMAC_SHA256)
            .expect("one HMAC key is a valid HKDF length");
        ResetKey {
            key: hmac::Key::from(okm),
        }
    }

    /// A key of this process only: tokens change with every restart.
    pub fn random(rng: &dyn SecureRandom) -> ResetKey {
        ResetKey {
            key: hmac::Key::generate(hmac::HMAC_SHA256, rng).expect("system RNG"),
        }
    }

    /// The token for connection ID `cid`.
    pub fn token(&self, cid: &[u8]) -> u128 {
        let tag = hmac::sign(&self.key, cid);
        let mut t = [0u8; TOKEN_LEN];
        t.copy_from_slice(&tag.as_ref()[..TOKEN_LEN]);
        u128::from_be_bytes(t)
    }

    /// A stateless reset for a `trigger_len`-byte datagram sent to `cid`:
    /// shorter than the trigger, so two endpoints can never reset each
    /// other in a loop, and never larger (RFC 9000 §10.3.3); `None` when
    /// the trigger is too short to answer that way.
    pub fn reset(&self, cid: &[u8], trigger_len: usize, rng: &dyn SecureRandom) -> Option<Vec<u8>> {
        let padding = trigger_len.checked_sub(TOKEN_LEN + 1)?.min(MAX_PADDING);
        if padding < MIN_PADDING {
            return None;
        }
        let mut out = vec![0u8; padding];
        rng.fill(&mut out).ok()?;
        // A short header: form bit 0, fixed bit 1, the rest unpredictable.
        out[0] = 0b0100_0000 | (out[0] & 0b0011_1111);
        out.extend_from_slice(&self.token(cid).to_be_bytes());
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_secret_gives_the_same_tokens_in_another_process() {
        let a = ResetKey::from_secret(b"the private key file");
        let b = ResetKey::from_secret(b"the private key file");
        let other = ResetKey::from_secret(b"another key file");
        assert_eq!(a.token(b"cid-1"), b.token(b"cid-1"));
        assert_ne!(a.token(b"cid-1"), a.token(b"cid-2"));
        assert_ne!(a.token(b"cid-1"), other.token(b"cid-1"));
        let rng = ring::rand::SystemRandom::new();
        assert_ne!(ResetKey::random(&rng).token(b"cid-1"), a.token(b"cid-1"));
    }

    #[test]
    fn a_reset_is_a_short_header_ending_in_the_token_and_shorter_than_its_trigger() {
        let key = ResetKey::from_secret(b"secret");
        let rng = ring::rand::SystemRandom::new();
        for trigger in [22, 30, 43, 100, 1350] {
            let r = key.reset(b"cid", trigger, &rng).expect("long enough");
            assert!(
                r.len() < trigger,
                "{} bytes for a {trigger}-byte trigger",
                r.len()
            );
            assert!(r.len() >= MIN_PADDING + TOKEN_LEN);
            assert_eq!(r[0] & 0b1100_0000, 0b0100_0000, "short header, fixed bit");
            assert_eq!(&r[r.len() - TOKEN_LEN..], &key.token(b"cid").to_be_bytes());
        }
        // Too short to answer with something shorter that still looks right.
        assert_eq!(key.reset(b"cid", 21, &rng), None);
        assert_eq!(key.reset(b"cid", 0, &rng), None);
    }
}
