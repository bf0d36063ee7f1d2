//! Deliberate misbehaviour, for showing that the harness's checks can
//! fail: which faults a test build turns on (`--fault`, hidden), and the
//! [`Hooks`] that carry out the endpoint's. The echo application's own
//! faults (`echo_before_fin`, `truncate`, ...) are read by `crate::echo`.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cid::CID_LEN;
use crate::echo::EchoConn;
use crate::hooks::{Hooks, PartialWrite};

/// Deliberate misbehaviour, for showing that the harness's checks can fail.
/// All off in the reference server; only test builds can turn them on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Echo each read at once instead of waiting for FIN.
    pub echo_before_fin: bool,
    /// Echo the first `limit` bytes with FIN instead of refusing.
    pub truncate: bool,
    /// Never send FIN after the echo.
    pub no_fin: bool,
    /// Echo the bytes in reverse order.
    pub reverse: bool,
    /// Close with application error 0x1 instead of NO_ERROR.
    pub close_with_error: bool,
    /// Exit the process when a stream overflows.
    pub exit_on_oversize: bool,
    /// Accept h3 and other protocols besides the configured ALPNs.
    pub accept_any_alpn: bool,
    /// Serve one connection at a time; drop new clients meanwhile.
    pub serial: bool,
    /// Forget a client whose handshake failed, or whose Retry token was
    /// bad, without telling it why (no CONNECTION_CLOSE).
    pub silent_reject: bool,
    /// Drop packets of unknown versions instead of answering with
    /// Version Negotiation.
    pub no_version_negotiation: bool,
    /// Amplify as a careless server would: 40 copies of each Retry, and
    /// without Retry no 3x budget and every datagram to an unvalidated
    /// client sent four times.
    pub amplify: bool,
    /// Beyond --max-connections, drop new clients without a word instead
    /// of refusing them with CONNECTION_REFUSED.
    pub silent_when_full: bool,
    /// Accept any Retry token that parses: from another address, expired.
    pub lax_tokens: bool,
    /// Exit when a client that completed its handshake closes without
    /// having opened a stream (as the OpenSSL guide's demo does).
    pub exit_on_streamless_close: bool,
    /// Serve this many connections, then exit when the next one arrives.
    pub exit_after: Option<u64>,
    /// Bind, then drop every datagram: a server that never answers.
    pub never_answer: bool,
    /// Drop a connection's datagrams that come from any address but its
    /// first (a server that keys connections by address, not by ID).
    pub pin_peer: bool,
    /// Forget a connection after 500 ms without a datagram from it,
    /// however long its PTO (RFC 9000 §10.1 wants at least 3 PTOs).
    pub lan_idle: bool,
    /// Drop every datagram from an IPv6 address (a server that only
    /// handles IPv4 peers).
    pub v4_only: bool,
    /// Take a partial write for a whole one: whatever flow control did not
    /// let through is dropped, and FIN follows what was written.
    pub short_write: bool,
    /// Block the whole event loop for 2 s whenever flow control holds an
    /// echo back, as a server writing to a blocking socket would.
    pub blocking_write: bool,
    /// Drop every 1-RTT packet whose key phase differs from the first one
    /// seen: a server that cannot follow a client's key update. (It reads
    /// the phase through header protection, so only for clients using
    /// TLS_AES_128_GCM_SHA256.)
    pub no_key_update: bool,
    /// Refuse clients that offer no AES-GCM suite with handshake_failure
    /// (0x128), as a server without ChaCha20-Poly1305 would.
    pub aes_only: bool,
    /// Forget every connection this long after it began, however active
    /// (an idle timer that packets never restart). Set to `--idle-timeout`.
    pub fixed_lifetime: Option<std::time::Duration>,
    /// Never resume a session: a new ticket key for every connection.
    pub no_resumption: bool,
    /// Read and drop stream data that arrives as 0-RTT, before the
    /// handshake completes (an application that serves only established
    /// connections, while its QUIC stack accepts early data).
    pub early_data_lost: bool,
    /// Advertise disable_active_migration (allowed, RFC 9000 §18.2: a
    /// migrating client's check is then skipped, not failed).
    pub forbid_migration: bool,
    /// Advertise no idle timeout and never end a connection for being
    /// idle: a silent client is held until the client's own timer (if it
    /// ever comes back to say so).
    pub no_idle_timeout: bool,
    /// Drop packets for unknown connections instead of answering with a
    /// stateless reset (what a server without reset support does).
    pub no_stateless_reset: bool,
    /// Derive reset tokens from a key of the process, not from the key
    /// file: a restarted server's resets match no token its clients hold.
    pub volatile_reset_key: bool,
}

/// The idle timeout of the `lan_idle` fault, whatever the PTO.
const LAN_IDLE: Duration = Duration::from_millis(500);

/// The endpoint's hooks in a test build: each decision as `faults` break
/// it. Holds what the `no_key_update` fault watches per connection.
pub struct FaultHooks {
    faults: Faults,
    key_phases: HashMap<u64, KeyPhaseWatch>,
}

impl FaultHooks {
    pub fn new(faults: Faults) -> FaultHooks {
        FaultHooks {
            faults,
            key_phases: HashMap::new(),
        }
    }
}

/// For the `no_key_update` fault: the TLS secrets quiche logs for one
/// connection, the client's 1-RTT header protection once known, and the
/// first key phase seen.
#[derive(Default)]
struct KeyPhaseWatch {
    secrets: Arc<Mutex<Vec<u8>>>,
    one_rtt: Option<quic_wire::OneRttHeader>,
    phase: Option<bool>,
}

impl KeyPhaseWatch {
    /// Whether `datagram` is a 1-RTT packet of another key phase than the
    /// first one seen.
    fn changed(&mut self, datagram: &[u8]) -> bool {
        if self.one_rtt.is_none() {
            let log = self.secrets.lock().unwrap().clone();
            self.one_rtt = client_1rtt_header(&log);
        }
        let Some(phase) = self
            .one_rtt
            .as_ref()
            .and_then(|h| h.key_phase(datagram, CID_LEN))
        else {
            return false;
        };
        *self.phase.get_or_insert(phase) != phase
    }
}

/// The client's 1-RTT header protection, from a key log.
fn client_1rtt_header(log: &[u8]) -> Option<quic_wire::OneRttHeader> {
    let text = String::from_utf8_lossy(log);
    let hex = text
        .lines()
        .find_map(|l| l.strip_prefix("CLIENT_TRAFFIC_SECRET_0 "))?
        .split(' ')
        .nth(1)?;
    let secret: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    quic_wire::OneRttHeader::new(&secret?)
}

/// For the `aes_only` fault: whether the client Initial in `datagram`
/// offers TLS_AES_128_GCM_SHA256 or TLS_AES_256_GCM_SHA384 (anything that
/// is not a readable client Initial passes).
fn offers_aes(datagram: &[u8]) -> bool {
    quic_wire::offered_cipher_suites(datagram)
        .is_none_or(|s| s.contains(&0x1301) || s.contains(&0x1302))
}

/// A key log kept in memory.
struct SecretLog(Arc<Mutex<Vec<u8>>>);

impl Write for SecretLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Hooks for FaultHooks {
    fn read(&mut self, from: SocketAddr) -> bool {
        !(self.faults.never_answer || (self.faults.v4_only && from.is_ipv6()))
    }

    fn turn_away(&mut self, datagram: &[u8]) -> Option<Vec<u8>> {
        if !self.faults.aes_only || offers_aes(datagram) {
            return None;
        }
        log::debug!("fault aes-only: no AES-GCM suite offered; refused");
        quic_wire::initial_close(datagram, 0x128, "no shared cipher suite")
    }

    fn deliver(&mut self, conn: u64, first: SocketAddr, from: SocketAddr, d: &[u8]) -> bool {
        if self.faults.pin_peer && from != first {
            log::debug!("{from}: fault pin-peer: not the connection's first address; dropped");
            return false;
        }
        let changed = self.key_phases.get_mut(&conn).is_some_and(|w| w.changed(d));
        if changed {
            log::debug!("{from}: fault no-key-update: a packet of a new key phase dropped");
        }
        !changed
    }

    fn after_read(&mut self, q: &quiche::Connection, saw_stream: bool) {
        if self.faults.exit_on_streamless_close
            && q.is_established()
            && !saw_stream
            && q.readable().next().is_none()
            && q.peer_error().is_some()
        {
            log::error!(
                "fault exit-on-streamless-close: the client left without a stream; exiting"
            );
            std::process::exit(1);
        }
    }

    fn close_refused(&self) -> bool {
        if self.faults.silent_reject {
            log::debug!("fault silent-reject: dropping without a close");
        }
        !self.faults.silent_reject
    }

    fn close_when_full(&self) -> bool {
        !self.faults.silent_when_full
    }

    fn negotiate_version(&self) -> bool {
        !self.faults.no_version_negotiation
    }

    fn check_tokens(&self) -> bool {
        !self.faults.lax_tokens
    }

    fn admit(&self, open: usize) -> bool {
        !(self.faults.serial && open > 0)
    }

    fn before_accept(&mut self, config: &mut quiche::Config) {
        if self.faults.no_resumption {
            let mut key = [0u8; 48];
            if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).is_ok() {
                let _ = config.set_ticket_key(&key);
            }
        }
    }

    fn keylog(&mut self, conn: u64) -> Option<Box<dyn Write + Send + Sync>> {
        if !self.faults.no_key_update {
            return None;
        }
        let watch = self.key_phases.entry(conn).or_default();
        Some(Box::new(SecretLog(Arc::clone(&watch.secrets))))
    }

    fn accepting(&mut self, accepted: u64) {
        if self.faults.exit_after == Some(accepted) {
            log::error!("fault exit-after: {accepted} connections served; exiting");
            std::process::exit(1);
        }
    }

    fn echo(&self, limit: usize, keep_alive: bool) -> EchoConn {
        EchoConn::with_faults(limit, keep_alive, self.faults)
    }

    fn retry_copies(&self) -> usize {
        if self.faults.amplify {
            40
        } else {
            1
        }
    }

    fn unbudgeted_copies(&self) -> Option<usize> {
        // No budget, and every datagram four times: well over 3x whatever
        // the size of the first flight.
        self.faults.amplify.then_some(4)
    }

    fn reset_unknown(&self) -> bool {
        !self.faults.no_stateless_reset
    }

    fn forget_at(&self, started: Instant, heard: Instant) -> Option<Instant> {
        let lan = self.faults.lan_idle.then(|| heard + LAN_IDLE);
        let fixed = self.faults.fixed_lifetime.map(|d| started + d);
        lan.into_iter().chain(fixed).min()
    }

    fn serve_early_data(&self) -> bool {
        !self.faults.early_data_lost
    }

    fn overflowed(&mut self) {
        if self.faults.exit_on_oversize {
            log::error!("fault exit-on-oversize: exiting");
            std::process::exit(1);
        }
    }

    fn partial_write(&mut self) -> PartialWrite {
        if self.faults.short_write {
            log::debug!("fault short-write: the rest of the echo dropped");
            return PartialWrite::Drop;
        }
        if self.faults.blocking_write {
            log::debug!("fault blocking-write: the event loop waits 2 s");
            std::thread::sleep(Duration::from_secs(2));
        }
        PartialWrite::Keep
    }

    fn forgotten(&mut self, conn: u64) {
        self.key_phases.remove(&conn);
    }
}
