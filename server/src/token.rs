//! Address-validation tokens for stateless Retry.
//!
//! A token is `issued_at (8 bytes, seconds since the Unix epoch, big endian)
//! || odcid_len (1 byte) || odcid || tag (32 bytes)`, where the tag is an
//! HMAC-SHA256 over the client's address, the issue time and the original
//! destination ID. A token is accepted only from the address it was issued
//! to, only within its lifetime, and only unaltered.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::hmac;

const TAG_LEN: usize = 32;
const TIME_LEN: usize = 8;

/// Why a token was turned down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Too short, or its lengths do not add up.
    Malformed,
    /// The tag does not match: forged, altered, or from another address.
    BadTag,
    /// Issued longer ago than the lifetime allows (or in the future).
    Expired,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenError::Malformed => "malformed token",
            TokenError::BadTag => "token not issued to this address (bad tag)",
            TokenError::Expired => "expired token",
        })
    }
}

/// Mints and checks Retry tokens with a secret key.
pub struct TokenKey {
    key: hmac::Key,
    lifetime: Duration,
}

impl TokenKey {
    pub fn new(rng: &ring::rand::SystemRandom, lifetime: Duration) -> Self {
        TokenKey {
            key: hmac::Key::generate(hmac::HMAC_SHA256, rng).expect("system RNG"),
            lifetime,
        }
    }

    fn signed_bytes(peer: &SocketAddr, issued: &[u8], odcid: &[u8]) -> Vec<u8> {
        let mut msg = Vec::with_capacity(32 + odcid.len());
        match peer.ip() {
            std::net::IpAddr::V4(ip) => msg.extend_from_slice(&ip.octets()),
            std::net::IpAddr::V6(ip) => msg.extend_from_slice(&ip.octets()),
        }
        msg.extend_from_slice(&peer.port().to_be_bytes());
        msg.extend_from_slice(issued);
        msg.extend_from_slice(odcid);
        msg
    }

    /// A token for `peer` whose first Initial was addressed to `odcid`.
    pub fn mint(&self, peer: &SocketAddr, odcid: &[u8], now: SystemTime) -> Vec<u8> {
        let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let issued = secs.to_be_bytes();
        let tag = hmac::sign(&self.key, &Self::signed_bytes(peer, &issued, odcid));
        let mut token = Vec::with_capacity(TIME_LEN + 1 + odcid.len() + TAG_LEN);
        token.extend_from_slice(&issued);
        token.push(odcid.len() as u8);
        token.extend_from_slice(odcid);
        token.extend_from_slice(tag.as_ref());
        token
    }

    /// Checks a token from `peer`; on success returns the original
    /// destination connection ID it carries.
    pub fn validate<'t>(
        &self,
        peer: &SocketAddr,
        token: &'t [u8],
        now: SystemTime,
    ) -> Result<&'t [u8], TokenError> {
        if token.len() < TIME_LEN + 1 + TAG_LEN {
            return Err(TokenError::Malformed);
        }
        let (issued, rest) = token.split_at(TIME_LEN);
        let odcid_len = rest[0] as usize;
        let rest = &rest[1..];
        if odcid_len > quiche::MAX_CONN_ID_LEN || rest.len() != odcid_len + TAG_LEN {
            return Err(TokenError::Malformed);
        }
        let (odcid, tag) = rest.split_at(odcid_len);
        hmac::verify(&self.key, &Self::signed_bytes(peer, issued, odcid), tag)
            .map_err(|_| TokenError::BadTag)?;
        let issued = UNIX_EPOCH
            + Duration::from_secs(u64::from_be_bytes(issued.try_into().expect("8 bytes")));
        match now.duration_since(issued) {
            Ok(age) if age <= self.lifetime => Ok(odcid),
            // Issued "in the future" beyond a second of clock slack.
            Err(e) if e.duration() <= Duration::from_secs(1) => Ok(odcid),
            _ => Err(TokenError::Expired),
        }
    }
}

/// The original destination ID a token carries, read without checking the
/// tag or the age: only for the test fault that accepts stale tokens.
pub fn unchecked_odcid(token: &[u8]) -> Option<&[u8]> {
    let len = *token.get(TIME_LEN)? as usize;
    token.get(TIME_LEN + 1..TIME_LEN + 1 + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (TokenKey, SocketAddr, SystemTime) {
        let rng = ring::rand::SystemRandom::new();
        (
            TokenKey::new(&rng, Duration::from_secs(10)),
            "127.0.0.1:4433".parse().unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        )
    }

    #[test]
    fn a_fresh_token_from_its_own_address_is_accepted() {
        let (key, peer, now) = setup();
        let token = key.mint(&peer, b"odcid-123", now);
        assert_eq!(key.validate(&peer, &token, now), Ok(&b"odcid-123"[..]));
        let later = now + Duration::from_secs(10);
        assert_eq!(key.validate(&peer, &token, later), Ok(&b"odcid-123"[..]));
    }

    #[test]
    fn a_token_replayed_late_is_expired() {
        let (key, peer, now) = setup();
        let token = key.mint(&peer, b"odcid", now);
        let late = now + Duration::from_secs(11);
        assert_eq!(key.validate(&peer, &token, late), Err(TokenError::Expired));
        let early = now - Duration::from_secs(5);
        assert_eq!(key.validate(&peer, &token, early), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_from_another_address_or_port_is_rejected() {
        let (key, peer, now) = setup();
        let token = key.mint(&peer, b"odcid", now);
        for other in ["127.0.0.2:4433", "127.0.0.1:4434", "[::1]:4433"] {
            let other: SocketAddr = other.parse().unwrap();
            assert_eq!(key.validate(&other, &token, now), Err(TokenError::BadTag));
        }
    }

    #[test]
    fn forged_or_altered_tokens_are_rejected() {
        let (key, peer, now) = setup();
        let token = key.mint(&peer, b"odcid", now);
        // Flip each byte in turn: every alteration must be caught.
        for i in 0..token.len() {
            let mut bad = token.clone();
            bad[i] ^= 0x01;
            assert!(key.validate(&peer, &bad, now).is_err(), "byte {i} flipped");
        }
        // A token minted under another key.
        let (other_key, _, _) = setup();
        let forged = other_key.mint(&peer, b"odcid", now);
        assert_eq!(key.validate(&peer, &forged, now), Err(TokenError::BadTag));
        assert_eq!(key.validate(&peer, b"", now), Err(TokenError::Malformed));
        assert_eq!(
            key.validate(&peer, &[0u8; 60], now),
            Err(TokenError::Malformed)
        );
    }
}
