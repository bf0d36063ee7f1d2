//! The packets coalesced in a datagram, read from their cleartext headers,
//! and packet protection removed with any keys (RFC 9001 §5.4, §5.3).

use ring::aead::Aad;

use crate::reader::Reader;
use crate::version::LongType;
use crate::{Keys, PacketType, Version};

/// A packet number space (RFC 9000 §12.3), and 0-RTT apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Space {
    Initial,
    ZeroRtt,
    Handshake,
    OneRtt,
}

/// One packet of a datagram, still protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw<'a> {
    pub ty: PacketType,
    /// The version of a long header (0 for Version Negotiation and short
    /// headers).
    pub version: u32,
    pub dcid: &'a [u8],
    /// Empty for a short header.
    pub scid: &'a [u8],
    /// The whole packet.
    pub bytes: &'a [u8],
    /// Where its packet number starts in `bytes` (protected packets only).
    pub pn_offset: usize,
}

impl Raw<'_> {
    /// The space of a protected packet; `None` for Retry, Version
    /// Negotiation and what could not be read.
    pub fn space(&self) -> Option<Space> {
        match self.ty {
            PacketType::Initial { .. } => Some(Space::Initial),
            PacketType::ZeroRtt => Some(Space::ZeroRtt),
            PacketType::Handshake => Some(Space::Handshake),
            PacketType::Short => Some(Space::OneRtt),
            _ => None,
        }
    }
}

/// The packets of `datagram`; a short header's Destination Connection ID
/// is `short_dcid_len` bytes long (the header does not say). What cannot
/// be read ends the list with an `Unknown` packet holding the rest.
pub fn split(datagram: &[u8], short_dcid_len: usize) -> Vec<Raw<'_>> {
    let mut out = Vec::new();
    let mut rest = datagram;
    while !rest.is_empty() {
        let raw = one(rest, short_dcid_len).unwrap_or(Raw {
            ty: PacketType::Unknown,
            version: 0,
            dcid: &[],
            scid: &[],
            bytes: rest,
            pn_offset: 0,
        });
        rest = &rest[raw.bytes.len()..];
        let last = matches!(
            raw.ty,
            PacketType::Short
                | PacketType::Retry
                | PacketType::VersionNegotiation
                | PacketType::Unknown
        );
        out.push(raw);
        if last {
            break;
        }
    }
    out
}

fn one(buf: &[u8], short_dcid_len: usize) -> Result<Raw<'_>, String> {
    let mut r = Reader::new(buf);
    let first = r.u8()?;
    if first & 0x80 == 0 {
        let dcid = r.bytes(short_dcid_len)?;
        let pn_offset = r.pos;
        return Ok(Raw {
            ty: PacketType::Short,
            version: 0,
            dcid,
            scid: &[],
            bytes: buf,
            pn_offset,
        });
    }
    let version = u32::from_be_bytes(r.bytes(4)?.try_into().expect("4 bytes"));
    let dcid = r.cid()?;
    let scid = r.cid()?;
    let whole = |ty| Raw {
        ty,
        version,
        dcid,
        scid,
        bytes: buf,
        pn_offset: 0,
    };
    if version == 0 {
        return Ok(whole(PacketType::VersionNegotiation));
    }
    let Some(v) = Version::from_number(version) else {
        return Ok(whole(PacketType::Unknown));
    };
    let ty = match v.long_type(first >> 4) {
        LongType::Initial => {
            let token_len = r.varint_len()?;
            r.bytes(token_len)?;
            PacketType::Initial { token_len }
        }
        LongType::ZeroRtt => PacketType::ZeroRtt,
        LongType::Handshake => PacketType::Handshake,
        LongType::Retry => return Ok(whole(PacketType::Retry)),
    };
    let length = r.varint_len()?;
    let pn_offset = r.pos;
    r.bytes(length)?;
    Ok(Raw {
        ty,
        version,
        dcid,
        scid,
        bytes: &buf[..r.pos],
        pn_offset,
    })
}

/// A packet with its protection removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub pn: u64,
    /// The key phase bit of a short header (false for long headers).
    pub key_phase: bool,
    /// The frames, still encoded.
    pub payload: Vec<u8>,
}

/// Removes header and packet protection from `pkt` (one whole packet, its
/// packet number at `pn_offset`); `largest` is the largest packet number
/// opened so far in its space, to expand the truncated one (RFC 9000 §A.3).
pub fn unprotect(
    pkt: &[u8],
    pn_offset: usize,
    keys: &Keys,
    largest: Option<u64>,
) -> Result<Opened, String> {
    let sample = pkt
        .get(pn_offset + 4..pn_offset + 20)
        .ok_or("too short to sample")?;
    let mask = keys.mask(sample).ok_or("bad header-protection sample")?;
    let mut pkt = pkt.to_vec();
    let long = pkt[0] & 0x80 != 0;
    pkt[0] ^= mask[0] & if long { 0x0f } else { 0x1f };
    let pn_len = usize::from(pkt[0] & 0x3) + 1;
    let mut truncated = 0u64;
    for i in 0..pn_len {
        pkt[pn_offset + i] ^= mask[1 + i];
        truncated = (truncated << 8) | u64::from(pkt[pn_offset + i]);
    }
    let pn = decode_pn(largest, truncated, 8 * pn_len as u32);
    let key_phase = !long && pkt[0] & 0x04 != 0;
    let (header, payload) = pkt.split_at_mut(pn_offset + pn_len);
    let plain = keys
        .aead
        .open_in_place(keys.nonce(pn), Aad::from(&header[..]), payload)
        .map_err(|_| "does not decrypt with these keys".to_string())?;
    Ok(Opened {
        pn,
        key_phase,
        payload: plain.to_vec(),
    })
}

/// The full packet number nearest the next expected one (RFC 9000 §A.3).
pub fn decode_pn(largest: Option<u64>, truncated: u64, bits: u32) -> u64 {
    let expected = largest.map_or(0, |l| l + 1);
    let win = 1u64 << bits;
    let (hwin, mask) = (win / 2, win - 1);
    let candidate = (expected & !mask) | truncated;
    if candidate + hwin <= expected && candidate < (1 << 62) - win {
        candidate + win
    } else if candidate > expected + hwin && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Suite;
    use crate::tests::hex;

    #[test]
    fn packet_numbers_expand_as_rfc_9000_appendix_a3_shows() {
        assert_eq!(decode_pn(Some(0xa82f30ea), 0x9b32, 16), 0xa82f9b32);
        assert_eq!(decode_pn(None, 0, 8), 0);
        assert_eq!(decode_pn(Some(255), 1, 8), 257);
    }

    #[test]
    fn a_chacha20_short_header_opens_as_rfc_9001_appendix_a5_shows() {
        let secret = hex("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b");
        let keys = Keys::from_secret(Version::V1, Suite::ChaCha20, &secret).unwrap();
        let pkt = hex("4cfe4189655e5cd55c41f69080575d7999c25a5bfb");
        let raws = split(&pkt, 0);
        assert_eq!(raws.len(), 1);
        assert_eq!(raws[0].space(), Some(Space::OneRtt));
        let opened = unprotect(&pkt, raws[0].pn_offset, &keys, Some(654360563)).unwrap();
        assert_eq!(opened.pn, 654360564);
        assert_eq!(opened.payload, vec![0x01]); // PING
        let ku = Keys::next_secret(Version::V1, Suite::ChaCha20, &secret);
        assert_eq!(
            ku,
            hex("1223504755036d556342ee9361d253421a826c9ecdf3c7148684b36b714881f9")
        );
        let other = Keys::from_secret(Version::V1, Suite::ChaCha20, &ku).unwrap();
        assert!(unprotect(&pkt, raws[0].pn_offset, &other, Some(654360563)).is_err());
        assert!(Keys::from_secret(Version::V1, Suite::Aes256Gcm, &secret).is_none());
    }

    #[test]
    fn coalesced_long_headers_split_where_their_lengths_say() {
        let keys = Keys::initial(b"abcdefgh", true);
        let mut d = crate::seal_initial(&keys, b"abcdefgh", b"cid", &[], 0, &[1], 0);
        let first = d.len();
        d.extend_from_slice(&[0x40, 1, 2, 3, 4, 5]);
        let raws = split(&d, 2);
        assert_eq!(raws.len(), 2);
        assert_eq!(raws[0].bytes.len(), first);
        assert_eq!(
            (raws[0].dcid, raws[0].scid),
            (&b"abcdefgh"[..], &b"cid"[..])
        );
        assert_eq!(raws[1].ty, PacketType::Short);
        assert_eq!(raws[1].dcid, &[1, 2]);
        let opened = unprotect(raws[0].bytes, raws[0].pn_offset, &keys, None).unwrap();
        assert_eq!(opened.payload[0], 1);
        assert_eq!(split(&[0xc0, 0, 0], 0)[0].ty, PacketType::Unknown);
    }
}
