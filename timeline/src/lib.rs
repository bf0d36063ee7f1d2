//! A QUIC case's datagrams in order, from the evidence the harness keeps:
//! the relay's log of every datagram's fate (`relay.log`), the datagrams
//! themselves as they reached the relay (`relay.pcap`) or as the client
//! saw them (`client.pcap`), and the client's TLS key log (`keys.log`).
//! Each datagram gets its time, direction, size, fate, packets and, where
//! the keys are known, frames; `text` and `svg` draw it, `story` sums it
//! up. Everything but [`load`] is sans-IO.

pub mod capture;
pub mod decode;
pub mod keylog;
pub mod relay_log;
pub mod story;
pub mod svg;
pub mod text;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use decode::{Kind, Packet};
pub use relay_log::Fate;

/// One datagram of the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The relay log's index (or the capture's, from 1).
    pub index: u64,
    /// Since the relay started (or since the capture's first datagram).
    pub ms: u64,
    /// The relay's number for the client (or the order the capture first
    /// shows each client address in, from 0).
    pub client: usize,
    pub from_client: bool,
    pub bytes: usize,
    /// What the relay did with it; `None` when only a capture at the
    /// client saw it (then it was delivered).
    pub fate: Option<Fate>,
    /// What it carried; empty when its bytes were not captured.
    pub packets: Vec<Packet>,
}

impl Datagram {
    pub fn dropped(&self) -> bool {
        self.fate.as_ref().is_some_and(Fate::dropped)
    }
}

/// Where the datagrams were seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// At the relay, before the network model: every datagram, with its fate.
    Relay,
    /// At the client only: what it sent, and what reached it.
    Client,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    pub source: Source,
    pub datagrams: Vec<Datagram>,
}

/// The evidence files a timeline is made from, as bytes.
#[derive(Debug, Default)]
pub struct Evidence {
    pub relay_log: Option<String>,
    pub relay_pcap: Option<Vec<u8>>,
    pub client_pcap: Option<Vec<u8>>,
    pub keylog: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: no relay.log and no client.pcap: nothing to draw a timeline from")]
    NoEvidence(PathBuf),
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: not a capture this reader knows: {1}")]
    Capture(&'static str, String),
}

/// Reads an evidence folder's files (those it has).
pub fn load(dir: &Path) -> Result<Evidence, Error> {
    if !dir.is_dir() {
        return Err(Error::Read {
            path: dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
        });
    }
    let bytes = |name: &str| -> Result<Option<Vec<u8>>, Error> {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Read { path, source }),
        }
    };
    let text = |name: &str| -> Result<Option<String>, Error> {
        Ok(bytes(name)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    };
    let e = Evidence {
        relay_log: text("relay.log")?,
        relay_pcap: bytes("relay.pcap")?,
        client_pcap: bytes("client.pcap")?,
        keylog: text("keys.log")?,
    };
    if e.relay_log.is_none() && e.client_pcap.is_none() {
        return Err(Error::NoEvidence(dir.to_path_buf()));
    }
    Ok(e)
}

impl Timeline {
    /// The timeline of the evidence: the relay's when it logged the case,
    /// else the client's capture.
    pub fn build(e: &Evidence) -> Result<Timeline, Error> {
        let secrets = keylog::parse(e.keylog.as_deref().unwrap_or(""));
        let mut decoder = decode::Decoder::new(secrets);
        let read = |name, pcap: &Option<Vec<u8>>| match pcap {
            Some(b) => capture::read(b).map_err(|err| Error::Capture(name, err.to_string())),
            None => Ok(Vec::new()),
        };
        let datagrams = match &e.relay_log {
            Some(log) => {
                let captured = read("relay.pcap", &e.relay_pcap)?;
                from_relay(&mut decoder, log, &captured)
            }
            None => from_client(&mut decoder, &read("client.pcap", &e.client_pcap)?),
        };
        let source = match e.relay_log {
            Some(_) => Source::Relay,
            None => Source::Client,
        };
        Ok(Timeline { source, datagrams })
    }

    /// The relay's numbers of the clients, in order of first datagram.
    pub fn clients(&self) -> Vec<usize> {
        let mut seen = Vec::new();
        for d in &self.datagrams {
            if !seen.contains(&d.client) {
                seen.push(d.client);
            }
        }
        seen
    }
}

/// The relay log's datagram lines, each paired with the relay capture's
/// datagram of the same rank (the relay writes one for each).
fn from_relay(
    decoder: &mut decode::Decoder,
    log: &str,
    captured: &[capture::Captured],
) -> Vec<Datagram> {
    let mut bytes = captured.iter();
    relay_log::parse(log)
        .into_iter()
        .filter(|l| l.way != relay_log::Way::Neither)
        .map(|l| {
            let from_client = l.way == relay_log::Way::ToServer;
            let packets = match bytes.next() {
                Some(c) if c.data.len() == l.bytes => {
                    decoder.datagram(l.client, from_client, &c.data)
                }
                _ => Vec::new(),
            };
            Datagram {
                index: l.index,
                ms: l.ms,
                client: l.client,
                from_client,
                bytes: l.bytes,
                fate: Some(l.fate),
                packets,
            }
        })
        .collect()
}

/// A client-side capture: the server is where the first datagram went.
fn from_client(decoder: &mut decode::Decoder, captured: &[capture::Captured]) -> Vec<Datagram> {
    let Some(first) = captured.first() else {
        return Vec::new();
    };
    let server = first.to;
    let mut clients: Vec<SocketAddr> = Vec::new();
    captured
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let from_client = c.from != server;
            let addr = if from_client { c.from } else { c.to };
            let client = clients.iter().position(|&a| a == addr).unwrap_or_else(|| {
                clients.push(addr);
                clients.len() - 1
            });
            Datagram {
                index: i as u64 + 1,
                ms: c.at.saturating_sub(first.at).as_millis() as u64,
                client,
                from_client,
                bytes: c.data.len(),
                fate: None,
                packets: decoder.datagram(client, from_client, &c.data),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quic_wire::{client_hello, close_frame, crypto_frame, seal_initial, Hello, Keys, Version};
    use relay_log::{Line, Way};

    const DCID: &[u8] = b"12345678";
    const CLIENT: &str = "127.0.0.1:5000";
    const SERVER: &str = "127.0.0.1:4433";

    fn client_initial() -> Vec<u8> {
        let hello = client_hello(&Hello {
            server_name: "localhost",
            alpn: &[b"hq-interop"],
            scid: b"ccid",
            x25519: &[9; 32],
            random: [7; 32],
            version: Version::V1,
        });
        let keys = Keys::initial(DCID, true);
        seal_initial(&keys, DCID, b"ccid", &[], 0, &crypto_frame(0, &hello), 1200)
    }

    fn server_initial() -> Vec<u8> {
        let keys = Keys::initial(DCID, false);
        seal_initial(
            &keys,
            b"ccid",
            b"scid",
            &[],
            0,
            &close_frame(0x178, "alpn"),
            0,
        )
    }

    /// Three datagrams: the client's Initial delivered, the server's
    /// answer dropped, the client's Initial again dropped.
    fn evidence() -> Evidence {
        let sent = [
            (Way::ToServer, client_initial(), 1),
            (Way::ToClient, server_initial(), 0),
            (Way::ToServer, client_initial(), 0),
        ];
        let mut pcap = Vec::new();
        let mut log = format!("{}\n", relay_log::HEADER);
        {
            let mut w = capture::Pcap::new(&mut pcap).unwrap();
            for (i, (way, bytes, copies)) in sent.iter().enumerate() {
                let (c, s) = (CLIENT.parse().unwrap(), SERVER.parse().unwrap());
                match way {
                    Way::ToServer => w.datagram(c, s, bytes),
                    _ => w.datagram(s, c, bytes),
                }
                let line = Line {
                    index: i as u64 + 1,
                    ms: 10 * i as u64,
                    way: *way,
                    client: 0,
                    bytes: bytes.len(),
                    fate: Fate {
                        copies: *copies,
                        ..Fate::default()
                    },
                };
                log.push_str(&format!("{line}\n"));
            }
            w.finish();
        }
        Evidence {
            relay_log: Some(log),
            relay_pcap: Some(pcap),
            ..Evidence::default()
        }
    }

    #[test]
    fn the_relay_log_and_capture_pair_up_with_packets_decrypted() {
        let t = Timeline::build(&evidence()).unwrap();
        assert_eq!(t.source, Source::Relay);
        let fates: Vec<(u64, bool, bool)> = t
            .datagrams
            .iter()
            .map(|d| (d.index, d.from_client, d.dropped()))
            .collect();
        assert_eq!(fates, [(1, true, false), (2, false, true), (3, true, true)]);
        let first = &t.datagrams[0].packets[0];
        assert_eq!((first.kind, first.pn), (Kind::Initial, Some(0)));
        let answer = text::packet(&t.datagrams[1].packets[0]);
        assert_eq!(
            answer,
            "Initial 0: CONNECTION_CLOSE transport 0x178 \"alpn\""
        );
    }

    #[test]
    fn text_has_a_line_per_datagram_with_drops_in_capitals() {
        let out = text::render(&Timeline::build(&evidence()).unwrap());
        let rows: Vec<&str> = out.lines().filter(|l| l.contains("Initial 0")).collect();
        assert_eq!(rows.len(), 3, "{out}");
        assert!(rows[0].trim_start().starts_with("1 ") && rows[0].contains("delivered"));
        assert!(rows[1].contains("C<-S") && rows[1].contains("DROPPED"));
        assert!(rows[2].contains("C->S") && rows[2].contains("DROPPED"));
    }

    #[test]
    fn svg_draws_an_arrow_per_datagram_and_marks_the_drops() {
        let svg = svg::render(&Timeline::build(&evidence()).unwrap());
        assert_eq!(svg.matches("<g class=\"dg").count(), 3);
        assert!(svg.contains("<g class=\"dg dropped\" data-index=\"2\">"));
        assert!(svg.contains("<g class=\"dg dropped\" data-index=\"3\">"));
        assert!(svg.contains("<g class=\"dg\" data-index=\"1\">"));
        assert!(svg.starts_with("<svg class=\"timeline\""));
    }

    #[test]
    fn the_story_counts_only_what_the_relay_logged() {
        let s = story::summary(&Timeline::build(&evidence()).unwrap()).unwrap();
        assert_eq!(
            s,
            "3 datagrams; 2 dropped by the relay (1 of the server's, 1 of the client's): \
             of the server's, 1 with Initial packets; \
             last datagram: the server's at 10 ms, the client's at 20 ms"
        );
    }

    #[test]
    fn without_a_relay_log_the_client_capture_is_read_with_no_fates() {
        let mut e = evidence();
        e.client_pcap = e.relay_pcap.take();
        e.relay_log = None;
        let t = Timeline::build(&e).unwrap();
        assert_eq!(t.source, Source::Client);
        assert_eq!(t.datagrams.len(), 3);
        assert!(t.datagrams.iter().all(|d| d.fate.is_none() && !d.dropped()));
        assert_eq!(t.clients(), [0]);
        assert!(!t.datagrams[1].from_client);
    }

    #[test]
    fn a_folder_without_evidence_says_so() {
        let dir = std::env::temp_dir().join(format!("timeline-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = load(&dir).unwrap_err().to_string();
        assert!(err.contains("no relay.log and no client.pcap"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(load(&dir).is_err());
    }
}
