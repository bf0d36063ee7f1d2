//! The points where a test build may make the endpoint misbehave on purpose
//! (the fault builds that show the harness's checks can fail). The endpoint
//! asks its [`Hooks`] at each of them; [`Correct`], the reference server's,
//! answers what the RFCs and the guide ask, and every default method does
//! the same. The faults themselves live in `crate::faults`, outside the
//! core they break.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Instant;

use crate::echo::EchoConn;

/// What the endpoint does with a rest of an echo that flow control did not
/// take yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartialWrite {
    /// Keep it, and send it when the client gives credit.
    Keep,
    /// Drop it: FIN follows what was written.
    Drop,
}

/// Decisions the endpoint leaves to its hooks. `conn` is the endpoint's key
/// for a connection, stable for its life.
pub trait Hooks: Send {
    /// Whether a datagram from `from` is read at all.
    fn read(&mut self, _from: SocketAddr) -> bool {
        true
    }

    /// A stateless answer that turns away the first Initial of a new
    /// connection before any state is made for it.
    fn turn_away(&mut self, _datagram: &[u8]) -> Option<Vec<u8>> {
        None
    }

    /// Whether a datagram for connection `conn`, first heard from `first`,
    /// is handed to it.
    fn deliver(&mut self, _conn: u64, _first: SocketAddr, _from: SocketAddr, _d: &[u8]) -> bool {
        true
    }

    /// After connection `q` read a datagram; `saw_stream`: the client has
    /// opened a stream.
    fn after_read(&mut self, _q: &quiche::Connection, _saw_stream: bool) {}

    /// Whether a client whose handshake the server refused, or whose Retry
    /// token was bad, is told so (RFC 9000 §10.2, §8.1.3).
    fn close_refused(&self) -> bool {
        true
    }

    /// Whether a client beyond `--max-connections` is refused with
    /// CONNECTION_REFUSED (rather than dropped).
    fn close_when_full(&self) -> bool {
        true
    }

    /// Whether an unknown version is answered with Version Negotiation
    /// (RFC 9000 §6.1).
    fn negotiate_version(&self) -> bool {
        true
    }

    /// Whether Retry tokens are checked (address, age, integrity).
    fn check_tokens(&self) -> bool {
        true
    }

    /// Whether a new connection is made while `open` are open.
    fn admit(&self, _open: usize) -> bool {
        true
    }

    /// Before a new connection is accepted with `config`.
    fn before_accept(&mut self, _config: &mut quiche::Config) {}

    /// A key log for connection `conn` (which replaces `SSLKEYLOGFILE`'s).
    fn keylog(&mut self, _conn: u64) -> Option<Box<dyn Write + Send + Sync>> {
        None
    }

    /// After `accepted` connections were accepted, before the next one.
    fn accepting(&mut self, _accepted: u64) {}

    /// The echo application of a new connection.
    fn echo(&self, limit: usize, keep_alive: bool) -> EchoConn {
        EchoConn::new(limit, keep_alive)
    }

    /// How many copies of each Retry are sent.
    fn retry_copies(&self) -> usize {
        1
    }

    /// Copies of each datagram to an unvalidated client, sent without the
    /// 3x budget of RFC 9000 §8.1; `None`: one, within the budget.
    fn unbudgeted_copies(&self) -> Option<usize> {
        None
    }

    /// Whether a packet for an unknown connection gets a stateless reset
    /// (RFC 9000 §10.3).
    fn reset_unknown(&self) -> bool {
        true
    }

    /// When to forget a connection silently, whatever quiche's timers say,
    /// from when it `started` and when it was last `heard`.
    fn forget_at(&self, _started: Instant, _heard: Instant) -> Option<Instant> {
        None
    }

    /// Whether stream data that arrives as 0-RTT is served.
    fn serve_early_data(&self) -> bool {
        true
    }

    /// A stream went over the input limit (it is then refused).
    fn overflowed(&mut self) {}

    /// Flow control took only part of an echo.
    fn partial_write(&mut self) -> PartialWrite {
        PartialWrite::Keep
    }

    /// Connection `conn` is gone.
    fn forgotten(&mut self, _conn: u64) {}
}

/// The reference server's hooks: every decision the correct one.
#[derive(Debug, Default, Clone, Copy)]
pub struct Correct;

impl Hooks for Correct {}
