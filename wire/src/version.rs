//! What differs between QUIC version 1 (RFC 9000/9001) and version 2
//! (RFC 9369): the version number, the Initial salt, the labels keys are
//! derived with, the long-header type bits, and the Retry integrity key.
//! Everything else about Initial packets is the same.

/// QUIC version 1.
pub const VERSION_1: u32 = 1;
/// QUIC version 2 (RFC 9369 §3.1).
pub const VERSION_2: u32 = 0x6b33_43cf;

/// A QUIC version this crate can protect Initial packets for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Version {
    #[default]
    V1,
    V2,
}

/// The four long-header packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LongType {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
}

/// The order of [`LongType`]s by their type bits in version 1; version 2
/// rotates them by one (RFC 9369 §3.2: Initial 0b01, 0-RTT 0b10,
/// Handshake 0b11, Retry 0b00).
const V1_TYPES: [LongType; 4] = [
    LongType::Initial,
    LongType::ZeroRtt,
    LongType::Handshake,
    LongType::Retry,
];

impl Version {
    /// The number on the wire.
    pub fn number(self) -> u32 {
        match self {
            Version::V1 => VERSION_1,
            Version::V2 => VERSION_2,
        }
    }

    /// The version of a long header's version field, if it is one of ours.
    pub fn from_number(n: u32) -> Option<Version> {
        match n {
            VERSION_1 => Some(Version::V1),
            VERSION_2 => Some(Version::V2),
            _ => None,
        }
    }

    /// The salt Initial secrets are extracted with (RFC 9001 §5.2, RFC
    /// 9369 §3.3.1).
    pub(crate) fn initial_salt(self) -> &'static [u8; 20] {
        match self {
            Version::V1 => &[
                0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8,
                0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
            ],
            Version::V2 => &[
                0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26,
                0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
            ],
        }
    }

    /// The HKDF label for packet protection's `what` (`key`, `iv`, `hp`):
    /// "quic key" in version 1, "quicv2 key" in version 2 (RFC 9369
    /// §3.3.2).
    pub(crate) fn label(self, what: &str) -> String {
        match self {
            Version::V1 => format!("quic {what}"),
            Version::V2 => format!("quicv2 {what}"),
        }
    }

    /// The AES-128-GCM key and nonce of the Retry integrity tag (RFC 9001
    /// §5.8, RFC 9369 §3.3.3).
    pub(crate) fn retry_key_nonce(self) -> ([u8; 16], [u8; 12]) {
        match self {
            Version::V1 => (
                [
                    0xbe, 0x0c, 0x69, 0x0b, 0x9f, 0x66, 0x57, 0x5a, 0x1d, 0x76, 0x6b, 0x54, 0xe3,
                    0x68, 0xc8, 0x4e,
                ],
                [
                    0x46, 0x15, 0x99, 0xd3, 0x5d, 0x63, 0x2b, 0xf2, 0x23, 0x98, 0x25, 0xbb,
                ],
            ),
            Version::V2 => (
                [
                    0x8f, 0xb4, 0xb0, 0x1b, 0x56, 0xac, 0x48, 0xe2, 0x60, 0xfb, 0xcb, 0xce, 0xad,
                    0x7c, 0xcc, 0x92,
                ],
                [
                    0xd8, 0x69, 0x69, 0xbc, 0x2d, 0x7c, 0x6d, 0x99, 0x90, 0xef, 0xb0, 0x4a,
                ],
            ),
        }
    }

    /// The type bits (bits 4 and 5 of the first byte) of `ty`.
    pub(crate) fn type_bits(self, ty: LongType) -> u8 {
        let v1 = V1_TYPES.iter().position(|t| *t == ty).expect("every type") as u8;
        match self {
            Version::V1 => v1,
            Version::V2 => (v1 + 1) & 0x3,
        }
    }

    /// The packet type of a long header's type bits.
    pub(crate) fn long_type(self, bits: u8) -> LongType {
        let v1 = match self {
            Version::V1 => bits & 0x3,
            Version::V2 => bits.wrapping_sub(1) & 0x3,
        };
        V1_TYPES[usize::from(v1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_2_rotates_the_long_header_types() {
        // RFC 9369 §3.2.
        let v2 = [
            (LongType::Initial, 0b01),
            (LongType::ZeroRtt, 0b10),
            (LongType::Handshake, 0b11),
            (LongType::Retry, 0b00),
        ];
        for (ty, bits) in v2 {
            assert_eq!(Version::V2.type_bits(ty), bits, "{ty:?}");
            assert_eq!(Version::V2.long_type(bits), ty);
            assert_eq!(Version::V1.long_type(Version::V1.type_bits(ty)), ty);
        }
        assert_eq!(Version::V1.type_bits(LongType::Initial), 0);
        assert_eq!(Version::from_number(0x6b3343cf), Some(Version::V2));
        assert_eq!(Version::from_number(0x1a2a3a4a), None);
    }
}
