//! QUIC packets (version 1, and version 2 of RFC 9369) built and read by
//! hand, sans-IO.
//!
//! quiche (BoringSSL) refuses to start a QUIC handshake without ALPN, so a
//! client that offers none has to write its own ClientHello and protect it
//! itself; a server that turns down a bad Retry token without starting a
//! connection has to seal its CONNECTION_CLOSE itself; a relay that meters
//! amplification reads cleartext headers; a timeline of a case decrypts
//! its capture with the key log. This crate does only what those need:
//! Initial keys (RFC 9001 §5.2) and the keys of any traffic secret, with
//! key updates (`keys.rs`; what differs in version 2 in `version.rs`),
//! packet and header protection (`packet.rs`), a minimal TLS 1.3
//! ClientHello, Retry integrity (RFC 9001 §5.8), every frame (`frame.rs`),
//! and packet types from cleartext headers. No sockets and no clocks:
//! bytes in, bytes out.

mod frame;
mod key_phase;
mod keys;
mod offer;
mod packet;
mod reader;
mod version;
mod version_info;

pub use frame::{read_frames, Frame};
pub use key_phase::OneRttHeader;
pub use keys::{Keys, Suite};
pub use offer::offered_cipher_suites;
pub use packet::{decode_pn, split, unprotect, Opened, Raw, Space};
pub use version::{Version, VERSION_1, VERSION_2};
pub use version_info::VersionInformation;

pub(crate) use keys::expand_label;
use reader::Reader;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
use version::LongType;

/// A client's Initial datagrams must be at least this large (RFC 9000 §14.1).
pub const MIN_INITIAL_DATAGRAM: usize = 1200;

const TAG_LEN: usize = 16;
/// We always write 4-byte packet numbers, so the header-protection sample
/// starts right after them.
const PN_LEN: usize = 4;

/// Appends a QUIC variable-length integer.
pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=0x3f => out.push(v as u8),
        0x40..=0x3fff => out.extend_from_slice(&(v as u16 | 0x4000).to_be_bytes()),
        0x4000..=0x3fff_ffff => out.extend_from_slice(&(v as u32 | 0x8000_0000).to_be_bytes()),
        _ => out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes()),
    }
}

/// A CRYPTO frame.
pub fn crypto_frame(offset: u64, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x06];
    put_varint(&mut f, offset);
    put_varint(&mut f, data.len() as u64);
    f.extend_from_slice(data);
    f
}

/// A transport CONNECTION_CLOSE frame (type 0x1c).
pub fn close_frame(code: u64, reason: &str) -> Vec<u8> {
    let mut f = vec![0x1c];
    put_varint(&mut f, code);
    put_varint(&mut f, 0);
    put_varint(&mut f, reason.len() as u64);
    f.extend_from_slice(reason.as_bytes());
    f
}

/// A server's answer to a client Initial whose Retry token it turned down
/// (RFC 9000 §8.1.3): an Initial with CONNECTION_CLOSE INVALID_TOKEN
/// (0xb), made without any connection state and no larger than it must
/// be. `None` unless `datagram` starts with a client Initial that decrypts,
/// so garbage gets no answer.
pub fn invalid_token_close(datagram: &[u8]) -> Option<Vec<u8>> {
    initial_close(
        datagram,
        INVALID_TOKEN,
        "invalid or expired address validation token",
    )
}

/// A server's stateless answer to the client Initial at the start of
/// `datagram`: an Initial with a transport CONNECTION_CLOSE of `code`.
/// `None` unless the client Initial decrypts.
pub fn initial_close(datagram: &[u8], code: u64, reason: &str) -> Option<Vec<u8>> {
    let Packet::Initial { dcid, scid, .. } = open_client_initial(datagram)? else {
        return None;
    };
    let server = Keys::initial(&dcid, false);
    let close = close_frame(code, reason);
    Some(seal_initial(&server, &scid, &dcid, &[], 0, &close, 0))
}

/// The client Initial at the start of `datagram`, decrypted with the keys
/// its own Destination Connection ID gives; `None` for anything else.
pub(crate) fn open_client_initial(datagram: &[u8]) -> Option<Packet> {
    let mut r = Reader::new(datagram);
    let first = r.u8().ok()?;
    let version = r.bytes(4).ok()?;
    let dcid = r.cid().ok()?;
    if first & 0xf0 != 0xc0 || version != VERSION_1.to_be_bytes() {
        return None;
    }
    let packets = open_datagram(datagram, &Keys::initial(dcid, true), &[]).ok()?;
    packets
        .into_iter()
        .next()
        .filter(|p| matches!(p, Packet::Initial { .. }))
}

/// INVALID_TOKEN, the transport error for a bad Retry token.
pub const INVALID_TOKEN: u64 = 0xb;

/// A protected Initial packet carrying `frames`, padded so the datagram is
/// at least `pad_to` bytes (a client's must be [`MIN_INITIAL_DATAGRAM`]).
pub fn seal_initial(
    keys: &Keys,
    dcid: &[u8],
    scid: &[u8],
    token: &[u8],
    pn: u32,
    frames: &[u8],
    pad_to: usize,
) -> Vec<u8> {
    let ty = keys.version.type_bits(LongType::Initial) << 4;
    let mut pkt = vec![0xc0 | ty | (PN_LEN as u8 - 1)];
    pkt.extend_from_slice(&keys.version.number().to_be_bytes());
    for cid in [dcid, scid] {
        pkt.push(cid.len() as u8);
        pkt.extend_from_slice(cid);
    }
    put_varint(&mut pkt, token.len() as u64);
    pkt.extend_from_slice(token);
    // Length is written in its 2-byte form so the padding can be sized
    // before it is known.
    let header_len = pkt.len() + 2 + PN_LEN;
    let payload_len = frames
        .len()
        .max(pad_to.saturating_sub(header_len + TAG_LEN));
    let length = (PN_LEN + payload_len + TAG_LEN) as u16;
    pkt.extend_from_slice(&(length | 0x4000).to_be_bytes());
    let pn_offset = pkt.len();
    pkt.extend_from_slice(&pn.to_be_bytes());
    let mut payload = frames.to_vec();
    payload.resize(payload_len, 0); // PADDING frames
    let tag = keys
        .aead
        .seal_in_place_separate_tag(keys.nonce(pn.into()), Aad::from(&pkt[..]), &mut payload)
        .expect("payload fits AES-GCM limits");
    pkt.extend_from_slice(&payload);
    pkt.extend_from_slice(tag.as_ref());
    let sample = pn_offset + PN_LEN;
    let mask = keys
        .mask(&pkt[sample..sample + 16])
        .expect("16-byte sample");
    pkt[0] ^= mask[0] & 0x0f;
    for (b, m) in pkt[pn_offset..pn_offset + PN_LEN]
        .iter_mut()
        .zip(&mask[1..])
    {
        *b ^= m;
    }
    pkt
}

/// One packet of a received datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// A Retry whose integrity tag checked out for our original DCID.
    Retry { scid: Vec<u8>, token: Vec<u8> },
    /// An Initial we could decrypt, addressed to `dcid`.
    Initial {
        dcid: Vec<u8>,
        scid: Vec<u8>,
        pn: u64,
        frames: Vec<Frame>,
    },
    /// Addressed to `dcid` (the client's Source Connection ID, echoed),
    /// from `scid` (its Destination Connection ID).
    VersionNegotiation {
        dcid: Vec<u8>,
        scid: Vec<u8>,
        versions: Vec<u32>,
    },
    /// Anything else (Handshake, 0-RTT, short header), not read further.
    Other,
}

/// The cleartext type of one packet in a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// An Initial, and the length of the token it carries.
    Initial {
        token_len: usize,
    },
    ZeroRtt,
    Handshake,
    Retry,
    VersionNegotiation,
    /// A short-header (1-RTT) packet.
    Short,
    /// A long header of a version other than 1, or one cut short.
    Unknown,
}

/// The types of the packets coalesced in `datagram`, read from their
/// cleartext headers only (nothing is decrypted), as a middlebox sees them.
pub fn packet_types(datagram: &[u8]) -> Vec<PacketType> {
    split(datagram, 0).iter().map(|p| p.ty).collect()
}

/// Reads every packet in `datagram`. Initial packets are opened with
/// `keys`; a Retry is checked against `odcid`, the DCID the client first
/// used. A packet that does not parse or authenticate is an error.
pub fn open_datagram(datagram: &[u8], keys: &Keys, odcid: &[u8]) -> Result<Vec<Packet>, String> {
    let mut out = Vec::new();
    let mut rest = datagram;
    while !rest.is_empty() {
        let (pkt, used) = open_packet(rest, keys, odcid)?;
        out.push(pkt);
        rest = &rest[used..];
    }
    Ok(out)
}

/// Reads the packet at the start of `buf`; returns it and its length.
fn open_packet(buf: &[u8], keys: &Keys, odcid: &[u8]) -> Result<(Packet, usize), String> {
    let mut r = Reader::new(buf);
    let first = r.u8()?;
    if first & 0x80 == 0 {
        return Ok((Packet::Other, buf.len()));
    }
    let version = u32::from_be_bytes(r.bytes(4)?.try_into().expect("4 bytes"));
    let dcid = r.cid()?.to_vec();
    let scid = r.cid()?.to_vec();
    if version == 0 {
        let versions = r
            .rest()
            .chunks_exact(4)
            .map(|v| u32::from_be_bytes(v.try_into().expect("4 bytes")))
            .collect();
        return Ok((
            Packet::VersionNegotiation {
                dcid,
                scid,
                versions,
            },
            buf.len(),
        ));
    }
    let Some(version) = Version::from_number(version) else {
        return Err(format!("packet of unknown version {version:#x}"));
    };
    match version.long_type(first >> 4) {
        LongType::Retry => {
            let body = r.rest();
            if body.len() < TAG_LEN {
                return Err("Retry shorter than its integrity tag".into());
            }
            let (token, tag) = body.split_at(body.len() - TAG_LEN);
            let mut pseudo = vec![odcid.len() as u8];
            pseudo.extend_from_slice(odcid);
            pseudo.extend_from_slice(&buf[..buf.len() - TAG_LEN]);
            let (key, nonce) = version.retry_key_nonce();
            let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &key).expect("key"));
            let mut tag = tag.to_vec();
            key.open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&pseudo[..]),
                &mut tag,
            )
            .map_err(|_| "Retry integrity tag does not match".to_string())?;
            let token = token.to_vec();
            Ok((Packet::Retry { scid, token }, buf.len()))
        }
        ty => {
            if ty == LongType::Initial {
                let n = r.varint_len()?;
                r.bytes(n)?; // token: servers send none
            }
            let length = r.varint_len()?;
            let pn_offset = r.pos;
            r.bytes(length)?;
            let end = r.pos;
            if ty != LongType::Initial {
                return Ok((Packet::Other, end));
            }
            if version != keys.version {
                return Err(format!(
                    "an Initial of version {:#x}; keys for {:#x}",
                    version.number(),
                    keys.version.number()
                ));
            }
            let (pn, frames) = open_initial(&buf[..end], pn_offset, keys)?;
            Ok((
                Packet::Initial {
                    dcid,
                    scid,
                    pn,
                    frames,
                },
                end,
            ))
        }
    }
}

/// Removes header and packet protection from one Initial packet; its
/// frames must be those an Initial may carry, and PADDING is left out.
fn open_initial(pkt: &[u8], pn_offset: usize, keys: &Keys) -> Result<(u64, Vec<Frame>), String> {
    let opened = packet::unprotect(pkt, pn_offset, keys, None)
        .map_err(|e| format!("Initial packet: {e}"))?;
    let mut frames = read_frames(&opened.payload)?;
    if let Some(f) = frames.iter().find(|f| !f.allowed_in_initial()) {
        return Err(format!("{f} in an Initial"));
    }
    frames.retain(|f| !matches!(f, Frame::Padding(_)));
    Ok((opened.pn, frames))
}

/// What goes into a ClientHello.
pub struct Hello<'a> {
    /// SNI host name; empty for none.
    pub server_name: &'a str,
    /// ALPN protocols; empty means no ALPN extension at all.
    pub alpn: &'a [&'a [u8]],
    /// Our Source Connection ID, echoed in the transport parameters.
    pub scid: &'a [u8],
    /// Our X25519 public key.
    pub x25519: &'a [u8],
    pub random: [u8; 32],
    /// The QUIC version of the Initial that carries it. Other than version
    /// 1, the transport parameters say so (version_information, RFC 9368
    /// §3: this version chosen, and available with version 1 after it).
    pub version: Version,
}

fn extension(out: &mut Vec<u8>, ty: u16, body: &[u8]) {
    out.extend_from_slice(&ty.to_be_bytes());
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

fn u16_prefixed(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// A TLS 1.3 ClientHello handshake message for QUIC: X25519 key share,
/// the three TLS 1.3 AEAD suites, and QUIC transport parameters.
pub fn client_hello(h: &Hello<'_>) -> Vec<u8> {
    let mut ext = Vec::new();
    if !h.server_name.is_empty() {
        let mut entry = vec![0];
        entry.extend_from_slice(&u16_prefixed(h.server_name.as_bytes()));
        extension(&mut ext, 0, &u16_prefixed(&entry));
    }
    extension(&mut ext, 10, &u16_prefixed(&[0x00, 0x1d])); // supported_groups: x25519
    let sigs: [u16; 8] = [
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
    ];
    let sigs: Vec<u8> = sigs.iter().flat_map(|s| s.to_be_bytes()).collect();
    extension(&mut ext, 13, &u16_prefixed(&sigs)); // signature_algorithms
    if !h.alpn.is_empty() {
        let mut list = Vec::new();
        for p in h.alpn {
            list.push(p.len() as u8);
            list.extend_from_slice(p);
        }
        extension(&mut ext, 16, &u16_prefixed(&list));
    }
    extension(&mut ext, 43, &[2, 0x03, 0x04]); // supported_versions: TLS 1.3
    let mut share = vec![0x00, 0x1d];
    share.extend_from_slice(&u16_prefixed(h.x25519));
    extension(&mut ext, 51, &u16_prefixed(&share)); // key_share
    let mut params = Vec::new();
    let mut param = |id: u64, value: &[u8]| {
        put_varint(&mut params, id);
        put_varint(&mut params, value.len() as u64);
        params.extend_from_slice(value);
    };
    let mut idle = Vec::new();
    put_varint(&mut idle, 5_000);
    param(0x01, &idle); // max_idle_timeout
    param(0x0f, h.scid); // initial_source_connection_id
    if h.version != Version::V1 {
        let info = VersionInformation::client(h.version.number(), &[VERSION_1]);
        param(version_info::ID, &info.encode());
    }
    extension(&mut ext, 0x39, &params); // quic_transport_parameters

    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&h.random);
    body.push(0); // legacy_session_id: empty in QUIC
    body.extend_from_slice(&u16_prefixed(&[0x13, 0x01, 0x13, 0x02, 0x13, 0x03]));
    body.extend_from_slice(&[1, 0]); // legacy_compression_methods: null
    body.extend_from_slice(&u16_prefixed(&ext));
    let mut msg = vec![0x01];
    msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    msg.extend_from_slice(&body);
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes from hex, for the RFCs' test vectors (also `packet`'s tests).
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const RFC_DCID: &str = "8394c8f03e515708";

    #[test]
    fn initial_keys_match_rfc_9001_appendix_a() {
        // The vectors give key, iv and hp; check them through their effects:
        // the nonce for packet 2 and the header-protection mask of a sample.
        let c = Keys::initial(&hex(RFC_DCID), true);
        assert_eq!(c.iv.to_vec(), hex("fa044b2f42a3fd3b46fb255c"));
        let s = Keys::initial(&hex(RFC_DCID), false);
        assert_eq!(s.iv.to_vec(), hex("0ac1493ca1905853b0bba03e"));
        // RFC 9001 A.2: sample d1b1c98dd7689fb8ec11d242b123dc9b, mask 437b9aec36.
        let mask = c.mask(&hex("d1b1c98dd7689fb8ec11d242b123dc9b")).unwrap();
        assert_eq!(mask.to_vec(), hex("437b9aec36"));
        // RFC 9001 A.3: sample 2cd0991cd25b0aac406a5816b6394100, mask 2ec0d8356a.
        let mask = s.mask(&hex("2cd0991cd25b0aac406a5816b6394100")).unwrap();
        assert_eq!(mask.to_vec(), hex("2ec0d8356a"));
    }

    /// A long-header packet of type `ty` (0 Initial .. 2 Handshake) with
    /// `token` (Initial only) and `body` bytes of payload.
    fn long(ty: u8, token: &[u8], body: usize) -> Vec<u8> {
        let mut p = vec![0xc0 | (ty << 4)];
        p.extend_from_slice(&VERSION_1.to_be_bytes());
        p.extend_from_slice(&[4, 1, 2, 3, 4, 0]);
        if ty == 0 {
            put_varint(&mut p, token.len() as u64);
            p.extend_from_slice(token);
        }
        put_varint(&mut p, body as u64);
        p.resize(p.len() + body, 0xaa);
        p
    }

    #[test]
    fn packet_types_walk_coalesced_packets_in_the_clear() {
        let mut d = long(0, b"tok", 100);
        d.extend(long(2, b"", 300));
        d.extend_from_slice(&[0x40, 1, 2, 3]);
        assert_eq!(
            packet_types(&d),
            vec![
                PacketType::Initial { token_len: 3 },
                PacketType::Handshake,
                PacketType::Short
            ]
        );
        let retry = hex("ff000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba");
        assert_eq!(packet_types(&retry), vec![PacketType::Retry]);
        let mut vn = vec![0x80, 0, 0, 0, 0, 0, 0];
        vn.extend_from_slice(&VERSION_1.to_be_bytes());
        assert_eq!(packet_types(&vn), vec![PacketType::VersionNegotiation]);
        // Cut short, or garbage: Unknown, never a panic.
        let cut = &long(2, b"", 300)[..50];
        assert_eq!(packet_types(cut), vec![PacketType::Unknown]);
        assert_eq!(packet_types(&[0xff]), vec![PacketType::Unknown]);
        assert!(packet_types(&[]).is_empty());
    }

    #[test]
    fn a_bad_token_gets_an_unpadded_invalid_token_close_and_garbage_nothing() {
        let (dcid, scid) = (hex("8394c8f03e515708"), hex("0102030405060708"));
        let hello = seal_initial(
            &Keys::initial(&dcid, true),
            &dcid,
            &scid,
            b"stale",
            0,
            &crypto_frame(0, b"hello"),
            MIN_INITIAL_DATAGRAM,
        );
        let close = invalid_token_close(&hello).expect("an answer");
        assert!(close.len() < 100, "{} bytes", close.len());
        // The client reads it with its server-side Initial keys.
        let got = open_datagram(&close, &Keys::initial(&dcid, false), &dcid).unwrap();
        let Packet::Initial {
            dcid: to, frames, ..
        } = &got[0]
        else {
            panic!("{got:?}")
        };
        assert_eq!(to, &scid);
        assert!(matches!(
            frames[0],
            Frame::Close {
                app: false,
                code: INVALID_TOKEN,
                ..
            }
        ));
        // One flipped bit and it no longer decrypts: no answer.
        let mut bad = hello.clone();
        bad[100] ^= 1;
        assert_eq!(invalid_token_close(&bad), None);
        assert_eq!(invalid_token_close(&[0xc0; 40]), None);
        assert_eq!(invalid_token_close(&[]), None);
    }

    #[test]
    fn retry_integrity_matches_rfc_9001_appendix_a4() {
        let retry = hex("ff000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba");
        let keys = Keys::initial(&hex(RFC_DCID), false);
        let got = open_datagram(&retry, &keys, &hex(RFC_DCID)).unwrap();
        assert_eq!(
            got,
            vec![Packet::Retry {
                scid: hex("f067a5502a4262b5"),
                token: b"token".to_vec()
            }]
        );
        // The same Retry for another original DCID is rejected.
        let err = open_datagram(&retry, &keys, &hex("0000000000000000")).unwrap_err();
        assert!(err.contains("integrity"), "{err}");
        let mut flipped = retry.clone();
        flipped[20] ^= 1;
        assert!(open_datagram(&flipped, &keys, &hex(RFC_DCID)).is_err());
    }

    #[test]
    fn sealed_initials_open_with_the_same_keys_only() {
        let dcid = hex(RFC_DCID);
        let keys = Keys::initial(&dcid, true);
        let mut frames = crypto_frame(0, b"hello");
        frames.extend(close_frame(0x178, "no ALPN"));
        let pkt = seal_initial(
            &keys,
            &dcid,
            b"scid",
            b"tok",
            7,
            &frames,
            MIN_INITIAL_DATAGRAM,
        );
        assert_eq!(pkt.len(), MIN_INITIAL_DATAGRAM);
        let got = open_datagram(&pkt, &keys, &dcid).unwrap();
        let Packet::Initial {
            dcid: d,
            pn,
            frames,
            ..
        } = &got[0]
        else {
            panic!("{got:?}")
        };
        assert_eq!((d, *pn), (&dcid, 7));
        assert_eq!(
            frames[0],
            Frame::Crypto {
                offset: 0,
                data: b"hello".to_vec()
            }
        );
        assert_eq!(
            frames[1],
            Frame::Close {
                app: false,
                code: 0x178,
                reason: "no ALPN".into()
            }
        );
        assert_eq!(frames.len(), 2, "padding is not reported");
        let other = Keys::initial(&dcid, false);
        assert!(open_datagram(&pkt, &other, &dcid).is_err());
    }

    #[test]
    fn truncated_or_garbage_datagrams_are_errors_not_panics() {
        let dcid = hex(RFC_DCID);
        let keys = Keys::initial(&dcid, true);
        let pkt = seal_initial(&keys, &dcid, b"", b"", 0, &crypto_frame(0, b"x"), 1200);
        for n in [1, 5, 6, 20, 40, pkt.len() - 1] {
            assert!(open_datagram(&pkt[..n], &keys, &dcid).is_err(), "{n}");
        }
        assert!(open_datagram(&[0xc0, 0, 0, 0, 1, 99], &keys, &dcid).is_err());
    }

    #[test]
    fn version_2_keys_and_retry_match_rfc_9369_appendix_a() {
        let dcid = hex(RFC_DCID);
        let c = Keys::initial_for(Version::V2, &dcid, true);
        assert_eq!(c.iv.to_vec(), hex("91f73e2351d8fa91660e909f"));
        let s = Keys::initial_for(Version::V2, &dcid, false);
        assert_eq!(s.iv.to_vec(), hex("dd13c276499c0249d3310652"));
        // A.4: a version 2 Retry, its type bits 0b00, its own integrity key.
        let retry = hex("cf6b3343cf0008f067a5502a4262b5746f6b656ec8646ce8bfe33952d955543665dcc7b6");
        assert_eq!(packet_types(&retry), vec![PacketType::Retry]);
        let got = open_datagram(&retry, &s, &dcid).unwrap();
        assert_eq!(
            got,
            vec![Packet::Retry {
                scid: hex("f067a5502a4262b5"),
                token: b"token".to_vec()
            }]
        );
        // The version 1 Retry's tag does not pass as version 2's.
        let mut v1_tag = retry.clone();
        let n = v1_tag.len();
        v1_tag[n - 16..].copy_from_slice(&hex("04a265ba2eff4d829058fb3f0f2496ba"));
        assert!(open_datagram(&v1_tag, &s, &dcid).is_err());
    }

    #[test]
    fn version_2_initials_are_sealed_and_opened_in_version_2_only() {
        let dcid = hex(RFC_DCID);
        let keys = Keys::initial_for(Version::V2, &dcid, true);
        let pkt = seal_initial(&keys, &dcid, b"scid", b"", 3, &crypto_frame(0, b"v2"), 1200);
        // Long header, fixed bit, Initial type bits 0b01 (RFC 9369 §3.2).
        assert_eq!(pkt[0] & 0xf0, 0xd0);
        assert_eq!(pkt[1..5], VERSION_2.to_be_bytes());
        assert_eq!(
            packet_types(&pkt),
            vec![PacketType::Initial { token_len: 0 }]
        );
        let got = open_datagram(&pkt, &keys, &dcid).unwrap();
        assert!(matches!(&got[0], Packet::Initial { pn: 3, .. }), "{got:?}");
        let v1 = Keys::initial(&dcid, true);
        let err = open_datagram(&pkt, &v1, &dcid).unwrap_err();
        assert!(err.contains("version 0x6b3343cf"), "{err}");
    }

    #[test]
    fn a_version_2_hello_says_which_versions_it_speaks() {
        let hello = |version| {
            client_hello(&Hello {
                server_name: "",
                alpn: &[b"h"],
                scid: b"s",
                x25519: &[9; 32],
                random: [1; 32],
                version,
            })
        };
        // version_information (0x11): 12 bytes, version 2 chosen, then
        // available: 2 and 1 (RFC 9368 §3: a client's lists its chosen one).
        let info = [
            &[0x11, 12][..],
            &VERSION_2.to_be_bytes(),
            &VERSION_2.to_be_bytes(),
            &VERSION_1.to_be_bytes(),
        ]
        .concat();
        let has = |m: &[u8]| m.windows(info.len()).any(|w| w == info);
        assert!(has(&hello(Version::V2)));
        assert!(!has(&hello(Version::V1)));
    }

    #[test]
    fn client_hello_has_alpn_only_when_asked() {
        let hello = |alpn: &[&[u8]]| {
            client_hello(&Hello {
                server_name: "localhost",
                alpn,
                scid: b"scid",
                x25519: &[9; 32],
                random: [1; 32],
                version: Version::V1,
            })
        };
        let with = hello(&[b"hq-interop"]);
        let without = hello(&[]);
        let has = |m: &[u8], needle: &[u8]| m.windows(needle.len()).any(|w| w == needle);
        assert!(has(&with, b"\x00\x10\x00\x0d\x00\x0b\x0ahq-interop"));
        assert!(!has(&without, b"hq-interop"));
        assert_eq!(without[0], 1);
        let len = u32::from_be_bytes([0, without[1], without[2], without[3]]) as usize;
        assert_eq!(len, without.len() - 4);
        assert!(has(&without, b"localhost"));
    }
}
