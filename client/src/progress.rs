//! When a connection carrying out a [`Plan`] is done, sans-IO: the rule
//! every client stack follows (the quiche session here, the quinn one in
//! `quinn-client`), so the same server cannot get different verdicts by
//! driver because two copies of it drifted. A stack reports each stream's
//! [`StreamStatus`] and the time; [`Progress::poll`] says whether to go on
//! (and when to look again at the latest) or to leave, and why.

use std::time::{Duration, Instant};

use crate::{Fin, Plan};

/// Where one stream stands, as its stack saw it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStatus {
    pub fin: Fin,
    pub uni: bool,
    /// Every chunk is written, and FIN when the plan sends one.
    pub written: bool,
    /// The plan's abort (reset or STOP_SENDING) was carried out.
    pub aborted: bool,
    pub fin_received: bool,
    pub reset_received: bool,
    pub stop_sending_received: bool,
}

impl StreamStatus {
    /// Nothing more is expected on it: the echo ended, the stream was
    /// abandoned, or it was never to end (no FIN planned, or a
    /// unidirectional stream, once written).
    pub fn done(&self) -> bool {
        self.aborted
            || self.fin_received
            || self.reset_received
            || self.stop_sending_received
            || (self.written && (self.fin == Fin::Never || self.uni))
    }

    /// A stream without FIN whose echo has not ended: what a plan with
    /// `stop_after` holds the connection open for.
    fn held_open(&self) -> bool {
        self.fin == Fin::Never && !self.fin_received && !self.reset_received
    }
}

/// Why a connection leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// The plan's deadline passed first.
    Deadline,
    /// `stop_after` the handshake came.
    Stopped,
    /// Every stream was done and the linger for the server's close is over.
    Lingered,
}

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Go on; look again by this instant at the latest.
    Wait(Instant),
    Leave(Leave),
}

/// One connection's progress through its plan's end: deadline, hold,
/// linger.
#[derive(Debug, Clone)]
pub struct Progress {
    deadline: Instant,
    linger: Duration,
    stop_after: Option<Duration>,
    /// `stop_after` from the handshake's completion: a slow handshake (a
    /// busy server) must not eat the time the stream is meant to be held.
    stop_at: Option<Instant>,
    linger_until: Option<Instant>,
}

impl Progress {
    /// A connection of `plan` that started at `start`.
    pub fn new(plan: &Plan, start: Instant) -> Progress {
        Progress {
            deadline: start + plan.deadline,
            linger: plan.linger,
            stop_after: plan.stop_after,
            stop_at: None,
            linger_until: None,
        }
    }

    /// The plan's deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The handshake completed at `now`.
    pub fn established(&mut self, now: Instant) {
        self.stop_at = self.stop_after.map(|d| now + d);
    }

    /// Whether to leave at `now`, with `streams` as they stand (`None`
    /// before the handshake completed: only the deadline counts then).
    pub fn poll(&mut self, now: Instant, streams: Option<&[StreamStatus]>) -> Next {
        if now >= self.deadline {
            return Next::Leave(Leave::Deadline);
        }
        if self.stop_at.is_some_and(|t| now >= t) {
            return Next::Leave(Leave::Stopped);
        }
        let mut wake = self.stop_at.map_or(self.deadline, |t| t.min(self.deadline));
        if let Some(streams) = streams {
            // With no streams planned, a completed handshake is all there
            // is. A stream that never sends FIN is done once written,
            // unless the plan holds the connection open (`stop_after`).
            let holding = self.stop_after.is_some() && streams.iter().any(StreamStatus::held_open);
            if !holding && streams.iter().all(StreamStatus::done) {
                let until = *self.linger_until.get_or_insert(now + self.linger);
                if now >= until {
                    return Next::Leave(Leave::Lingered);
                }
                wake = wake.min(until);
            }
        }
        Next::Wait(wake)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn plan(stop_after: Option<Duration>) -> Plan {
        Plan {
            linger: 100 * MS,
            deadline: 1000 * MS,
            stop_after,
            ..Plan::default()
        }
    }

    fn echoed() -> StreamStatus {
        StreamStatus {
            fin: Fin::WithLastChunk,
            written: true,
            fin_received: true,
            ..StreamStatus::default()
        }
    }

    #[test]
    fn a_stream_is_done_when_its_echo_ends_or_nothing_more_is_expected() {
        let waiting = StreamStatus {
            written: true,
            ..StreamStatus::default()
        };
        assert!(!waiting.done(), "written with FIN, echo not ended");
        assert!(echoed().done());
        let no_fin = StreamStatus {
            fin: Fin::Never,
            ..waiting
        };
        assert!(no_fin.done());
        let uni = StreamStatus {
            uni: true,
            ..waiting
        };
        assert!(uni.done());
        for s in [
            StreamStatus {
                aborted: true,
                ..StreamStatus::default()
            },
            StreamStatus {
                reset_received: true,
                ..StreamStatus::default()
            },
            StreamStatus {
                stop_sending_received: true,
                ..StreamStatus::default()
            },
        ] {
            assert!(s.done(), "{s:?}");
        }
    }

    #[test]
    fn once_every_stream_is_done_it_lingers_then_leaves() {
        let t0 = Instant::now();
        let mut p = Progress::new(&plan(None), t0);
        p.established(t0);
        let open = [StreamStatus::default()];
        assert_eq!(p.poll(t0, Some(&open)), Next::Wait(t0 + 1000 * MS));
        assert_eq!(
            p.poll(t0 + 10 * MS, Some(&[echoed()])),
            Next::Wait(t0 + 110 * MS)
        );
        assert_eq!(
            p.poll(t0 + 110 * MS, Some(&[echoed()])),
            Next::Leave(Leave::Lingered)
        );
    }

    #[test]
    fn before_the_handshake_only_the_deadline_counts() {
        let t0 = Instant::now();
        let mut p = Progress::new(&plan(None), t0);
        assert_eq!(p.poll(t0 + 500 * MS, None), Next::Wait(t0 + 1000 * MS));
        assert_eq!(p.poll(t0 + 1000 * MS, None), Next::Leave(Leave::Deadline));
    }

    #[test]
    fn stop_after_counts_from_the_handshake_and_holds_a_stream_without_fin() {
        let t0 = Instant::now();
        let mut p = Progress::new(&plan(Some(300 * MS)), t0);
        p.established(t0 + 200 * MS);
        let held = [StreamStatus {
            fin: Fin::Never,
            written: true,
            ..StreamStatus::default()
        }];
        // Done (no FIN planned, written), but held: no linger.
        assert_eq!(
            p.poll(t0 + 400 * MS, Some(&held)),
            Next::Wait(t0 + 500 * MS)
        );
        assert_eq!(
            p.poll(t0 + 500 * MS, Some(&held)),
            Next::Leave(Leave::Stopped)
        );
    }
}
