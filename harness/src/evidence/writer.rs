//! The thread that writes a case's streamed evidence: the captures, the
//! relay's log and the key log. Clients and the relay hand it what they
//! saw, timestamped, and go on: none of them waits for a lock another one
//! holds. With one lock per file, 220 client threads on a loaded machine
//! queued behind a holder the scheduler had put aside, and a client's
//! answer to a Retry left a second late, which the server then paid for.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use quic_timeline::capture::Pcap;

use super::capped::{Budget, Capped};

/// How long [`Writer::flush`] waits for what was handed over to be written.
const FLUSH_WAIT: Duration = Duration::from_secs(10);

/// Which capture a datagram goes to.
#[derive(Debug, Clone, Copy)]
pub enum Capture {
    /// `client.pcap`: as the client saw it.
    Client,
    /// `relay.pcap`: as it reached the relay, before the network model.
    Relay,
}

enum Entry {
    Datagram {
        capture: Capture,
        at: SystemTime,
        from: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    },
    Key(Vec<u8>),
    RelayLine(String),
    Flush(Sender<()>),
}

/// The sending end; the thread ends when it is dropped.
pub struct Writer {
    tx: Sender<Entry>,
}

impl Writer {
    /// The thread, for files in `dir` counted against `budget`; the key log
    /// is created at once (s_client appends to it by name).
    pub fn start(dir: PathBuf, budget: Arc<Budget>) -> std::io::Result<Writer> {
        let keylog = Capped::create(&dir, "keys.log", &budget)?;
        let mut files = Files {
            dir,
            budget,
            keylog,
            client: None,
            relay: None,
            relay_log: None,
        };
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("evidence".into())
            .spawn(move || files.serve(rx))?;
        Ok(Writer { tx })
    }

    /// A datagram seen now.
    pub fn datagram(&self, capture: Capture, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        let at = SystemTime::now();
        let data = data.to_vec();
        let _ = self.tx.send(Entry::Datagram {
            capture,
            at,
            from,
            to,
            data,
        });
    }

    /// Bytes of the key log (whole lines: s_client appends between them).
    pub fn key(&self, line: &[u8]) {
        let _ = self.tx.send(Entry::Key(line.to_vec()));
    }

    /// One line of the relay's log.
    pub fn relay_line(&self, line: String) {
        let _ = self.tx.send(Entry::RelayLine(line));
    }

    /// Everything handed over so far written out and the captures closed;
    /// whether that happened in time.
    pub fn flush(&self) -> bool {
        let (done, wait) = mpsc::channel();
        self.tx.send(Entry::Flush(done)).is_ok() && wait.recv_timeout(FLUSH_WAIT).is_ok()
    }
}

/// The files, owned by the thread.
struct Files {
    dir: PathBuf,
    budget: Arc<Budget>,
    keylog: Capped,
    client: Option<Pcap<Capped>>,
    relay: Option<Pcap<Capped>>,
    relay_log: Option<Capped>,
}

impl Files {
    fn serve(&mut self, rx: Receiver<Entry>) {
        for entry in rx {
            self.write(entry);
        }
        self.close();
    }

    fn write(&mut self, entry: Entry) {
        use std::io::Write;
        match entry {
            Entry::Datagram {
                capture,
                at,
                from,
                to,
                data,
            } => {
                if let Some(p) = self.capture(capture) {
                    p.datagram_at(at, from, to, &data);
                }
            }
            Entry::Key(line) => {
                let _ = self.keylog.write_all(&line);
                let _ = self.keylog.flush();
            }
            Entry::RelayLine(line) => {
                if let Some(f) = self.relay_log() {
                    let _ = writeln!(f, "{line}");
                }
            }
            Entry::Flush(done) => {
                self.close();
                let _ = done.send(());
            }
        }
    }

    /// The capture, created with its header on first use.
    fn capture(&mut self, which: Capture) -> Option<&mut Pcap<Capped>> {
        let (slot, name) = match which {
            Capture::Client => (&mut self.client, "client.pcap"),
            Capture::Relay => (&mut self.relay, "relay.pcap"),
        };
        if slot.is_none() {
            *slot = Capped::create(&self.dir, name, &self.budget)
                .ok()
                .and_then(|f| Pcap::new(f).ok());
        }
        slot.as_mut()
    }

    /// The relay's log, created with its header on first use.
    fn relay_log(&mut self) -> Option<&mut Capped> {
        use std::io::Write;
        if self.relay_log.is_none() {
            let mut f = Capped::create(&self.dir, "relay.log", &self.budget).ok()?;
            let _ = writeln!(f, "{}", quic_timeline::relay_log::HEADER);
            self.relay_log = Some(f);
        }
        self.relay_log.as_mut()
    }

    fn close(&mut self) {
        use std::io::Write;
        for p in [self.client.take(), self.relay.take()]
            .into_iter()
            .flatten()
        {
            p.finish();
        }
        if let Some(mut f) = self.relay_log.take() {
            let _ = f.flush();
        }
        let _ = self.keylog.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;

    #[test]
    fn what_threads_hand_over_at_once_is_all_written_by_the_flush() {
        let dir = tempfile::tempdir().unwrap();
        let budget = Arc::new(Budget::new(1 << 20));
        let w = Writer::start(dir.path().to_path_buf(), budget).unwrap();
        let (a, b): (SocketAddr, SocketAddr) = (
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
        );
        let start = Barrier::new(8);
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let (w, start) = (&w, &start);
                s.spawn(move || {
                    start.wait();
                    for i in 0..50u8 {
                        w.datagram(Capture::Client, a, b, &[t, i]);
                    }
                    w.key(format!("SECRET {t} x\n").as_bytes());
                });
            }
        });
        w.relay_line("a line".into());
        assert!(w.flush(), "the writer did not flush in time");
        let bytes = std::fs::read(dir.path().join("client.pcap")).unwrap();
        let packets = quic_timeline::capture::read(&bytes).unwrap();
        assert_eq!(packets.len(), 400);
        let keys = std::fs::read_to_string(dir.path().join("keys.log")).unwrap();
        assert_eq!(keys.lines().count(), 8);
        let log = std::fs::read_to_string(dir.path().join("relay.log")).unwrap();
        assert!(log.ends_with("a line\n"), "{log}");
    }
}
