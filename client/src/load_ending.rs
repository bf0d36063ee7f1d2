//! How a load connection's end is counted, whatever the load generator's
//! stack: one rule for the quiche and the quinn-proto generators.

use std::time::Instant;

use crate::load::{LoadPlan, LoadReport};

/// How the server closed a connection: its error code, and whether it was
/// an application close.
#[derive(Debug, Clone, Copy)]
pub struct PeerClose {
    pub code: u64,
    pub app: bool,
}

/// What a load generator knows of a connection as it ends, whatever its
/// stack: what [`LoadReport::record`] makes of it is the same for all.
#[derive(Debug, Clone, Copy)]
pub struct Ending {
    pub established: bool,
    /// An echo was under way.
    pub mid_echo: bool,
    /// The server's close, if it sent one.
    pub peer: Option<PeerClose>,
    /// The connection's idle timer ended it.
    pub timed_out: bool,
    pub streams_done: u64,
    /// The client wanted more streams when it ended.
    pub want_more: bool,
}

impl Ending {
    /// Why the connection failed, if it did (`own` is the failure the
    /// client already saw, which comes first).
    fn failure(&self, own: Option<String>) -> Option<String> {
        if own.is_some() {
            return own;
        }
        if !self.established {
            return Some(match self.peer {
                Some(e) => format!("handshake refused with {:#x}", e.code),
                None if self.timed_out => "handshake timed out".into(),
                None => "handshake did not complete".into(),
            });
        }
        if self.mid_echo {
            return Some(match self.peer {
                Some(e) => format!("closed with {:#x} during an echo", e.code),
                None if self.timed_out => "timed out during an echo".into(),
                None => "ended during an echo".into(),
            });
        }
        match self.peer {
            Some(e) if e.code != 0 => Some(format!(
                "server closed with {}{:#x}",
                if e.app { "application " } else { "" },
                e.code
            )),
            _ => None,
        }
    }
}

/// Why a connection still running when the load's deadline came failed:
/// the step it had not finished.
pub fn at_deadline(established: bool, mid_echo: bool) -> String {
    match (established, mid_echo) {
        (false, _) => "handshake not complete at the load's deadline",
        (true, true) => "echo not complete at the load's deadline",
        (true, false) => "still open at the load's deadline",
    }
    .into()
}

impl LoadReport {
    /// Counts one connection's end: ok, failed (with why), closed by the
    /// server, or unused.
    pub fn record(&mut self, own_failure: Option<String>, e: &Ending) {
        match e.failure(own_failure) {
            // Time ran out before this connection's first stream: it neither
            // echoed nor failed.
            None if e.streams_done == 0 => self.unused += 1,
            Some(why) => {
                self.failed += 1;
                if self.failures.len() < 5 {
                    self.failures.push(why);
                }
            }
            None => {
                self.ok += 1;
                if e.want_more && e.peer.is_some() {
                    self.closed_by_server += 1;
                }
            }
        }
    }
}

impl LoadPlan {
    /// Whether a connection that has echoed `done` streams opens another.
    pub fn wants_stream(&self, done: u64, start: Instant) -> bool {
        self.streams_per_conn.is_none_or(|m| done < m) && start.elapsed() < self.duration
    }

    /// Whether a new connection may start, `started` having started.
    pub fn may_start(&self, start: Instant, started: u64) -> bool {
        start.elapsed() < self.duration && self.max_connections.is_none_or(|m| started < m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_cut_at_the_deadline_fails_naming_the_step_it_was_in() {
        let mut report = LoadReport::default();
        let stalled = Ending {
            established: false,
            mid_echo: false,
            peer: None,
            timed_out: false,
            streams_done: 0,
            want_more: true,
        };
        report.record(Some(at_deadline(false, false)), &stalled);
        let echoing = Ending {
            established: true,
            mid_echo: true,
            ..stalled
        };
        report.record(Some(at_deadline(true, true)), &echoing);
        assert_eq!((report.failed, report.ok), (2, 0));
        assert!(report.failures[0].starts_with("handshake not complete"));
        assert!(report.failures[1].starts_with("echo not complete"));
    }
}
