//! Evidence of a case for the person who has to fix their server
//! (`--artifacts DIR`): per case, the native client's qlog, the TLS secrets
//! of every client connection, the server's stderr during the case, the
//! scenario and its seed, the relay's log of every datagram's fate, and a
//! capture of the datagrams as the client saw them, which Wireshark
//! decrypts with the key log. A case's files are capped in size together.

mod capped;
mod writer;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::scenario::{DriverKind, Scenario};
use capped::{Budget, Capped};
use writer::{Capture, Writer};

/// At most this many bytes of evidence per case.
pub const CASE_CAP: u64 = 10 * 1024 * 1024;

/// The native client writes a qlog for this many connections of a case at
/// most (a case of 1,000 connections would otherwise write 1,000).
pub const QLOG_CONNECTIONS: u32 = 20;

/// Where evidence goes, and for which cases (`--artifacts`,
/// `--artifacts-all`).
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub dir: PathBuf,
    /// Keep every case's evidence, not only the failures'.
    pub all: bool,
}

/// What a case's report says of its evidence.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Kept {
    pub dir: PathBuf,
    /// File names in `dir`.
    pub files: Vec<String>,
    /// What was cut at the size cap, if anything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cut: Vec<String>,
    /// The case's datagrams summed up in a line (`quic_timeline::story`),
    /// when the folder holds a relay log or a capture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<String>,
}

/// Evidence being gathered for one case.
pub struct CaseEvidence {
    pub dir: PathBuf,
    budget: Arc<Budget>,
    writer: Writer,
}

impl CaseEvidence {
    /// A fresh folder for (server, scenario, driver) under `root`, with the
    /// scenario and the seed written in it.
    pub fn create(
        root: &Path,
        server: &str,
        sc: &Scenario,
        driver: DriverKind,
        (seed, run): (u64, Option<u32>),
    ) -> std::io::Result<Arc<CaseEvidence>> {
        let mut dir = root
            .join(safe(server))
            .join(safe(&sc.id))
            .join(driver.to_string());
        if let Some(run) = run {
            dir = dir.join(format!("run-{run}"));
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let budget = Arc::new(Budget::new(CASE_CAP));
        let e = CaseEvidence {
            writer: Writer::start(dir.clone(), Arc::clone(&budget))?,
            dir,
            budget,
        };
        let scenario = serde_json::to_string_pretty(sc).unwrap_or_default();
        e.write("scenario.json", scenario.as_bytes());
        let replay = format!(
            "seed {seed}\nreplay: harness --seed {seed} --filter '{}' --driver {driver}\n",
            sc.id
        );
        e.write("seed.txt", replay.as_bytes());
        Ok(Arc::new(e))
    }

    /// Writes a whole file (within the case's cap).
    pub fn write(&self, name: &str, data: &[u8]) {
        if let Ok(mut f) = Capped::create(&self.dir, name, &self.budget) {
            let _ = std::io::Write::write_all(&mut f, data);
        }
    }

    /// The key log file, for clients that write it themselves (s_client's
    /// `-keylogfile` appends to it).
    pub fn keylog_path(&self) -> PathBuf {
        self.dir.join("keys.log")
    }

    /// What the native client's connection `n` records: its qlog (for the
    /// first [`QLOG_CONNECTIONS`]), its secrets, and, when `capture`, its
    /// datagrams (not when a relay captures them instead).
    pub fn recorder(self: &Arc<Self>, n: u32, capture: bool) -> echo_client::Recorder {
        echo_client::Recorder(Arc::new(ConnRecorder {
            case: Arc::clone(self),
            n,
            capture,
            first_random: Arc::default(),
        }))
    }

    /// One datagram into the capture, as the client saw it.
    pub fn datagram(&self, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.writer.datagram(Capture::Client, from, to, data);
    }

    /// One datagram as it reached the relay, before the network model: the
    /// relay log's next line of a datagram (`to-server` or `to-client`) is
    /// its fate, so `relay.pcap` and `relay.log` pair up in order.
    pub fn relay_datagram(&self, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.writer.datagram(Capture::Relay, from, to, data);
    }

    /// One line of the relay's log of datagram fates.
    pub fn relay_line(&self, line: &quic_timeline::relay_log::Line) {
        self.writer.relay_line(line.to_string());
    }

    /// Ends the case: its evidence is kept (and listed), or the folder is
    /// removed.
    pub fn finish(&self, keep: bool) -> Option<Kept> {
        // Written out before listing sizes.
        if !self.writer.flush() {
            log::warn!(
                "{}: the evidence was not all written in time",
                self.dir.display()
            );
        }
        if !keep {
            let _ = std::fs::remove_dir_all(&self.dir);
            // The scenario's and the server's folders too, once empty
            // (another case filling them makes this fail harmlessly).
            for parent in self.dir.ancestors().skip(1).take(2) {
                if std::fs::remove_dir(parent).is_err() {
                    break;
                }
            }
            return None;
        }
        let mut files: Vec<String> = std::fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.metadata().is_ok_and(|m| m.len() > 0))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        let cut = self.budget.cut();
        if !cut.is_empty() {
            let note = format!(
                "cut at {} MiB per case: {}\n",
                CASE_CAP / (1024 * 1024),
                cut.join(", ")
            );
            let _ = std::fs::write(self.dir.join("CUT.txt"), note);
            files.push("CUT.txt".into());
        }
        let timeline = quic_timeline::load(&self.dir)
            .and_then(|e| quic_timeline::Timeline::build(&e))
            .ok()
            .and_then(|t| quic_timeline::story::summary(&t));
        Some(Kept {
            dir: self.dir.clone(),
            files,
            cut,
            timeline,
        })
    }
}

impl std::fmt::Debug for CaseEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CaseEvidence({})", self.dir.display())
    }
}

/// A name as one path component: `/` and anything odd become `_`.
fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.=".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

struct ConnRecorder {
    case: Arc<CaseEvidence>,
    n: u32,
    capture: bool,
    /// The random of the connection's first ClientHello (see [`Alias`]).
    first_random: Arc<Mutex<Option<[u8; 32]>>>,
}

/// The random of the ClientHello in a client's first Initial, decrypted
/// with the Initial keys anyone can derive (RFC 9001 §5.2).
fn client_hello_random(datagram: &[u8]) -> Option<[u8; 32]> {
    use echo_client::initial::{open_datagram, Frame, Keys, Packet};
    let dcid_len = usize::from(*datagram.get(5)?);
    let dcid = datagram.get(6..6 + dcid_len)?;
    let packets = open_datagram(datagram, &Keys::initial(dcid, true), &[]).ok()?;
    packets.iter().find_map(|p| match p {
        Packet::Initial { frames, .. } => frames.iter().find_map(|f| match f {
            // Handshake type (1), length (3), legacy version (2), random.
            Frame::Crypto { offset: 0, data } if data.first() == Some(&1) => {
                data.get(6..38)?.try_into().ok()
            }
            _ => None,
        }),
        _ => None,
    })
}

/// The key log as Wireshark can use it. After a Retry quiche starts the
/// TLS handshake again, with a new ClientHello random; Wireshark takes the
/// second ClientHello (CRYPTO at offset 0 again) for a retransmission of
/// the first and looks the secrets up by the first random. So each secret
/// is also written under the first random: the secrets themselves do not
/// depend on it.
struct Alias {
    case: Arc<CaseEvidence>,
    first: Arc<Mutex<Option<[u8; 32]>>>,
}

impl std::io::Write for Alias {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.case.writer.key(buf);
        let first = *self.first.lock().unwrap_or_else(|p| p.into_inner());
        let line = String::from_utf8_lossy(buf);
        let mut words = line.split(' ');
        if let (Some(first), Some(label), Some(random), Some(secret)) =
            (first, words.next(), words.next(), words.next())
        {
            let first: String = first.iter().map(|b| format!("{b:02x}")).collect();
            if !random.eq_ignore_ascii_case(&first) {
                let alias = format!("{label} {first} {secret}");
                self.case.writer.key(alias.as_bytes());
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl echo_client::Record for ConnRecorder {
    fn qlog(&self) -> Option<Box<dyn std::io::Write + Send + Sync>> {
        if self.n >= QLOG_CONNECTIONS {
            return None;
        }
        let name = format!("client-conn-{}.sqlog", self.n);
        Capped::create(&self.case.dir, &name, &self.case.budget)
            .ok()
            .map(|f| Box::new(f) as Box<dyn std::io::Write + Send + Sync>)
    }

    fn keylog(&self) -> Option<Box<dyn std::io::Write + Send + Sync>> {
        Some(Box::new(Alias {
            case: Arc::clone(&self.case),
            first: Arc::clone(&self.first_random),
        }))
    }

    fn datagram(&self, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        {
            let mut first = self.first_random.lock().unwrap_or_else(|p| p.into_inner());
            if first.is_none() {
                *first = client_hello_random(data);
            }
        }
        if self.capture {
            self.case.datagram(from, to, data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_one_path_component() {
        assert_eq!(safe("input/8192-bytes"), "input_8192-bytes");
        assert_eq!(safe("prod=[::1]:443"), "prod=___1__443");
    }
}
