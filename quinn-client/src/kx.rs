//! One X25519 key share for all of the load generator's connections.
//!
//! A client's key generation is half of its key-exchange cost, and the
//! bench measures the server's handshake, not the client's: the load
//! generator makes one key pair and offers it on every connection. The
//! server's share is new every time, so each connection still derives its
//! own secret. Never for anything but load.

use rustls::crypto::{ActiveKeyExchange, SharedSecret, SupportedKxGroup};
use rustls::{Error, NamedGroup, PeerMisbehaved};

/// X25519 with one key pair, made once.
pub struct ReusedX25519 {
    private: [u8; 32],
    public: [u8; 32],
}

impl std::fmt::Debug for ReusedX25519 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReusedX25519")
    }
}

impl ReusedX25519 {
    pub fn new() -> Self {
        let (mut public, mut private) = ([0u8; 32], [0u8; 32]);
        // SAFETY: both buffers are the 32 bytes BoringSSL writes.
        unsafe { boring_sys::X25519_keypair(public.as_mut_ptr(), private.as_mut_ptr()) };
        ReusedX25519 { private, public }
    }
}

impl SupportedKxGroup for ReusedX25519 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        Ok(Box::new(Share {
            private: self.private,
            public: self.public,
        }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

struct Share {
    private: [u8; 32],
    public: [u8; 32],
}

impl ActiveKeyExchange for Share {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, Error> {
        let peer: &[u8; 32] = peer
            .try_into()
            .map_err(|_| Error::from(PeerMisbehaved::InvalidKeyShare))?;
        let mut out = [0u8; 32];
        // SAFETY: 32-byte output, private key and peer value, as X25519 takes.
        let ok =
            unsafe { boring_sys::X25519(out.as_mut_ptr(), self.private.as_ptr(), peer.as_ptr()) };
        if ok != 1 {
            // An all-zero secret: a low-order point from the peer.
            return Err(PeerMisbehaved::InvalidKeyShare.into());
        }
        Ok(SharedSecret::from(&out[..]))
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_sides_agree_and_a_bad_share_is_refused() {
        let (a, b) = (ReusedX25519::new(), ReusedX25519::new());
        let a_pub = a.start().unwrap().pub_key().to_vec();
        let b_pub = b.start().unwrap().pub_key().to_vec();
        assert_eq!(a_pub, a.start().unwrap().pub_key(), "one share, reused");
        let ab = a.start().unwrap().complete(&b_pub).unwrap();
        let ba = b.start().unwrap().complete(&a_pub).unwrap();
        assert_eq!(ab.secret_bytes(), ba.secret_bytes());
        assert!(a.start().unwrap().complete(&[0u8; 32]).is_err());
        assert!(a.start().unwrap().complete(&[1u8; 5]).is_err());
    }
}
