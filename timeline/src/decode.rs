//! What each datagram of a connection carried: its packets, and their
//! frames where the keys are known (Initial keys from the client's
//! Destination Connection ID, the rest from the client's TLS key log).
//! Sans-IO: datagrams in, packets out.

use std::collections::HashMap;

use quic_wire::{
    read_frames, split, unprotect, Frame, Keys, PacketType, Raw, Space, Suite, Version,
};

use crate::keylog::Secrets;

/// What kind of packet it was, from its cleartext header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Initial,
    ZeroRtt,
    Handshake,
    OneRtt,
    Retry,
    VersionNegotiation,
    /// Zeros after the last packet: padding outside any packet, which a
    /// receiver discards (RFC 9000 §12.2).
    Padding,
    /// Not a QUIC packet this reader knows (or a header cut short).
    Unknown,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Initial => "Initial",
            Kind::ZeroRtt => "0-RTT",
            Kind::Handshake => "Handshake",
            Kind::OneRtt => "1-RTT",
            Kind::Retry => "Retry",
            Kind::VersionNegotiation => "Version Negotiation",
            Kind::Padding => "zeros",
            Kind::Unknown => "unknown",
        }
    }
}

/// One packet of a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub kind: Kind,
    pub size: usize,
    /// The packet number, once decrypted.
    pub pn: Option<u64>,
    /// The frames, once decrypted.
    pub frames: Option<Vec<Frame>>,
    /// Why the frames are not known.
    pub unread: Option<String>,
}

/// Who sent a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Sender {
    Client,
    Server,
}

/// What is known of one connection so far.
#[derive(Default)]
struct Conn {
    version: Option<Version>,
    /// The Destination Connection IDs of the client's Initials: the
    /// Initial keys come from one of them (the first, or the Retry's).
    dcids: Vec<Vec<u8>>,
    client_cid_len: Option<usize>,
    server_cid_len: Option<usize>,
    random: Option<Vec<u8>>,
    suite: Option<Suite>,
    largest: HashMap<(Sender, Space), u64>,
    /// 1-RTT secrets by key update generation, per sender.
    generations: HashMap<Sender, Vec<Vec<u8>>>,
    /// The generation in use, per sender.
    current: HashMap<Sender, usize>,
}

/// Reads the datagrams of any number of connections, each told apart by
/// the caller's number for it.
pub struct Decoder {
    secrets: HashMap<Vec<u8>, Secrets>,
    conns: HashMap<usize, Conn>,
}

/// Lengths a short header's Destination Connection ID is tried at when no
/// long header has told it.
const GUESSED_CID_LENS: [usize; 8] = [8, 16, 20, 0, 4, 5, 10, 12];

impl Decoder {
    pub fn new(secrets: HashMap<Vec<u8>, Secrets>) -> Decoder {
        Decoder {
            secrets,
            conns: HashMap::new(),
        }
    }

    /// The packets of one datagram of connection `conn`.
    pub fn datagram(&mut self, conn: usize, from_client: bool, data: &[u8]) -> Vec<Packet> {
        let sender = if from_client {
            Sender::Client
        } else {
            Sender::Server
        };
        let c = self.conns.entry(conn).or_default();
        let known_len = match sender {
            Sender::Client => c.server_cid_len,
            Sender::Server => c.client_cid_len,
        };
        let lens: Vec<usize> = known_len.map_or(GUESSED_CID_LENS.to_vec(), |l| vec![l]);
        let mut best = Vec::new();
        for len in lens {
            let packets = self.read(conn, sender, split(data, len));
            let opened = packets.last().is_some_and(|p| p.frames.is_some());
            best = packets;
            if opened {
                break;
            }
        }
        best
    }

    fn read(&mut self, conn: usize, sender: Sender, raws: Vec<Raw<'_>>) -> Vec<Packet> {
        raws.iter()
            .map(|raw| self.packet(conn, sender, raw))
            .collect()
    }

    fn packet(&mut self, conn: usize, sender: Sender, raw: &Raw<'_>) -> Packet {
        let kind = match raw.bytes.iter().all(|&b| b == 0) {
            true => Kind::Padding,
            false => kind_of(raw.ty),
        };
        let mut p = Packet {
            kind,
            size: raw.bytes.len(),
            pn: None,
            frames: None,
            unread: None,
        };
        let Some(space) = raw.space().filter(|_| kind != Kind::Padding) else {
            return p;
        };
        self.learn_header(conn, sender, raw);
        match self.open(conn, sender, space, raw) {
            Ok((pn, frames)) => {
                self.learn_frames(conn, sender, &frames);
                p.pn = Some(pn);
                p.frames = Some(frames);
            }
            Err(why) => p.unread = Some(why),
        }
        p
    }

    /// Connection IDs and the version, from a long header.
    fn learn_header(&mut self, conn: usize, sender: Sender, raw: &Raw<'_>) {
        let c = self.conns.get_mut(&conn).expect("made by datagram");
        if raw.ty == PacketType::Short {
            return;
        }
        if let Some(v) = Version::from_number(raw.version) {
            c.version = Some(v);
        }
        match sender {
            Sender::Client => {
                c.client_cid_len = Some(raw.scid.len());
                if matches!(raw.ty, PacketType::Initial { .. })
                    && !c.dcids.iter().any(|d| d == raw.dcid)
                {
                    c.dcids.push(raw.dcid.to_vec());
                }
            }
            Sender::Server => c.server_cid_len = Some(raw.scid.len()),
        }
    }

    /// The ClientHello's random (which names the connection's secrets) and
    /// the ServerHello's cipher suite.
    fn learn_frames(&mut self, conn: usize, sender: Sender, frames: &[Frame]) {
        let c = self.conns.get_mut(&conn).expect("made by datagram");
        for f in frames {
            let Frame::Crypto { offset: 0, data } = f else {
                continue;
            };
            match (sender, data.first()) {
                (Sender::Client, Some(1)) => {
                    if let Some(random) = data.get(6..38) {
                        if c.random.as_deref().is_some_and(|r| r != random) {
                            // A new connection from the same client address.
                            let dcids = c.dcids.split_off(c.dcids.len().saturating_sub(1));
                            *c = Conn {
                                dcids,
                                ..Conn::default()
                            };
                        }
                        c.random = Some(random.to_vec());
                    }
                }
                (Sender::Server, Some(2)) => c.suite = server_hello_suite(data).or(c.suite),
                _ => {}
            }
        }
    }

    fn open(
        &mut self,
        conn: usize,
        sender: Sender,
        space: Space,
        raw: &Raw<'_>,
    ) -> Result<(u64, Vec<Frame>), String> {
        let c = self.conns.get_mut(&conn).expect("made by datagram");
        let largest = c.largest.get(&(sender, space)).copied();
        let version = Version::from_number(raw.version)
            .or(c.version)
            .unwrap_or(Version::V1);
        let opened = match space {
            Space::Initial => open_initial(c, sender, version, raw, largest),
            Space::OneRtt => open_one_rtt(c, &self.secrets, sender, version, raw, largest),
            Space::Handshake | Space::ZeroRtt => {
                let secret =
                    secret_of(c, &self.secrets, sender, space).ok_or("no key in the key log")?;
                open_with(c.suite, version, (&secret, &secret), raw, largest)
            }
        }?;
        let l = c.largest.entry((sender, space)).or_insert(opened.pn);
        *l = (*l).max(opened.pn);
        let frames = read_frames(&opened.payload)
            .map_err(|e| format!("decrypted; frames do not parse: {e}"))?;
        Ok((opened.pn, frames))
    }
}

fn kind_of(ty: PacketType) -> Kind {
    match ty {
        PacketType::Initial { .. } => Kind::Initial,
        PacketType::ZeroRtt => Kind::ZeroRtt,
        PacketType::Handshake => Kind::Handshake,
        PacketType::Short => Kind::OneRtt,
        PacketType::Retry => Kind::Retry,
        PacketType::VersionNegotiation => Kind::VersionNegotiation,
        PacketType::Unknown => Kind::Unknown,
    }
}

/// The cipher suite a ServerHello chose.
fn server_hello_suite(hello: &[u8]) -> Option<Suite> {
    // type(1) length(3) legacy_version(2) random(32) session_id(1 + n)
    let sid = usize::from(*hello.get(38)?);
    let at = 39 + sid;
    let id = u16::from_be_bytes(hello.get(at..at + 2)?.try_into().ok()?);
    Suite::from_id(id)
}

fn open_initial(
    c: &Conn,
    sender: Sender,
    version: Version,
    raw: &Raw<'_>,
    largest: Option<u64>,
) -> Result<quic_wire::Opened, &'static str> {
    // The keys come from the DCID of the client's first Initial (or of its
    // first after a Retry), not from the one it uses now: once the server
    // has chosen its own connection ID, the client's Initials go to that.
    let mut candidates: Vec<&[u8]> = c.dcids.iter().rev().map(Vec::as_slice).collect();
    if sender == Sender::Client {
        candidates.insert(0, raw.dcid);
    }
    candidates
        .into_iter()
        .find_map(|dcid| {
            let keys = Keys::initial_for(version, dcid, sender == Sender::Client);
            unprotect(raw.bytes, raw.pn_offset, &keys, largest).ok()
        })
        .ok_or("does not decrypt with the Initial keys")
}

fn secret_of(
    c: &Conn,
    secrets: &HashMap<Vec<u8>, Secrets>,
    sender: Sender,
    space: Space,
) -> Option<Vec<u8>> {
    let s = secrets.get(c.random.as_ref()?)?;
    match (space, sender) {
        (Space::ZeroRtt, _) => s.client_early.clone(),
        (Space::Handshake, Sender::Client) => s.client_handshake.clone(),
        (Space::Handshake, Sender::Server) => s.server_handshake.clone(),
        (_, Sender::Client) => s.client_1rtt.clone(),
        (_, Sender::Server) => s.server_1rtt.clone(),
    }
}

/// Opens with `secret` under the connection's suite, or under each suite
/// of the secret's length when the ServerHello was not seen.
fn open_with(
    suite: Option<Suite>,
    version: Version,
    (first, secret): (&[u8], &[u8]),
    raw: &Raw<'_>,
    largest: Option<u64>,
) -> Result<quic_wire::Opened, &'static str> {
    let suites: Vec<Suite> = suite.map_or(Suite::ALL.to_vec(), |s| vec![s]);
    suites
        .into_iter()
        .filter_map(|s| Keys::updated(version, s, first, secret))
        .find_map(|keys| unprotect(raw.bytes, raw.pn_offset, &keys, largest).ok())
        .ok_or("does not decrypt with the key log's keys")
}

/// A suite whose hash gives secrets of this length (what a key update
/// needs when the ServerHello was not seen).
fn suite_of_len(secret: &[u8]) -> Suite {
    match secret.len() {
        48 => Suite::Aes256Gcm,
        _ => Suite::Aes128Gcm,
    }
}

/// A 1-RTT packet, under the generation of keys its key phase bit names:
/// the current one, the next (a key update), or the one before (a packet
/// sent before the update, arriving after it).
fn open_one_rtt(
    c: &mut Conn,
    secrets: &HashMap<Vec<u8>, Secrets>,
    sender: Sender,
    version: Version,
    raw: &Raw<'_>,
    largest: Option<u64>,
) -> Result<quic_wire::Opened, &'static str> {
    let first = secret_of(c, secrets, sender, Space::OneRtt).ok_or("no key in the key log")?;
    let suite = c.suite;
    let generations = c.generations.entry(sender).or_insert_with(|| vec![first]);
    let current = *c.current.get(&sender).unwrap_or(&0);
    let mut tries = vec![current, current + 1];
    tries.extend(current.checked_sub(1));
    for g in tries {
        while generations.len() <= g {
            let last = generations.last().expect("never empty");
            let next = Keys::next_secret(version, suite.unwrap_or(suite_of_len(last)), last);
            generations.push(next);
        }
        let secrets = (generations[0].as_slice(), generations[g].as_slice());
        if let Ok(opened) = open_with(suite, version, secrets, raw, largest) {
            if g > current {
                c.current.insert(sender, g);
            }
            return Ok(opened);
        }
    }
    Err("does not decrypt with the key log's keys")
}

#[cfg(test)]
mod tests {
    use super::*;
    use quic_wire::{seal_initial, Frame};

    #[test]
    fn a_client_initial_to_the_servers_new_id_keeps_the_first_ids_keys() {
        let keys = Keys::initial(b"first-id", true);
        let mut d = Decoder::new(HashMap::new());
        let first = seal_initial(&keys, b"first-id", b"ccid", &[], 0, &[1], 1200);
        // After the server's first Initial names its own ID (as quic-go's,
        // aioquic's and msquic's do), the client writes to that ID, still
        // under the first ID's keys (RFC 9001 §5.2).
        let later = seal_initial(&keys, b"server-chosen", b"ccid", &[], 1, &[1], 1200);
        for (dg, pn) in [(first, 0), (later, 1)] {
            let p = &d.datagram(0, true, &dg)[0];
            assert_eq!(p.pn, Some(pn), "{:?}", p.unread);
            assert!(p.frames.as_ref().unwrap().contains(&Frame::Ping));
        }
    }

    #[test]
    fn a_packet_without_its_keys_says_so() {
        let mut d = Decoder::new(HashMap::new());
        let p = &d.datagram(
            0,
            false,
            &[
                0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
            ],
        )[0];
        assert_eq!(p.kind, Kind::OneRtt);
        assert_eq!(p.unread.as_deref(), Some("no key in the key log"));
        let zeros = d.datagram(0, true, &[0; 30]);
        assert_eq!(zeros[0].kind, Kind::Padding);
    }
}
