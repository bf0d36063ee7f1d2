//! One stream's progress through its plan on quiche: its chunks, pauses,
//! FIN (held at the gate) and abort.

use std::time::Instant;

use crate::progress::StreamStatus;
use crate::{Abort, AbortHow, Chunk, Fin, Plan, StreamObservation};

/// Per-stream progress through its plan.
pub(super) struct StreamRun<'p> {
    pub(super) chunks: &'p [Chunk],
    pub(super) fin: Fin,
    pub(super) abort: Option<Abort>,
    pub(super) abort_at: Option<Instant>,
    pub(super) aborted: bool,
    pub(super) next_chunk: usize,
    pub(super) offset: usize,
    pub(super) next_at: Instant,
    pub(super) obs: StreamObservation,
}

impl StreamRun<'_> {
    /// Where it stands, for the plan's [`Progress`].
    pub(super) fn status(&self) -> StreamStatus {
        StreamStatus {
            fin: self.fin,
            uni: self.obs.id & 0x2 != 0,
            written: self.next_chunk == self.chunks.len()
                && (self.obs.fin_sent || self.fin == Fin::Never),
            aborted: self.aborted,
            fin_received: self.obs.fin_received,
            reset_received: self.obs.reset.is_some(),
            stop_sending_received: self.obs.stop_sending.is_some(),
        }
    }

    /// Writes what is due, then aborts if planned and due; returns when
    /// it next wants to run.
    pub(super) fn step(
        &mut self,
        conn: &mut quiche::Connection,
        now: Instant,
        fin_held: bool,
    ) -> Option<Instant> {
        let wake = self.write(conn, now, fin_held);
        let Some(abort) = self.abort else {
            return wake;
        };
        let written =
            self.next_chunk == self.chunks.len() && (self.obs.fin_sent || self.fin == Fin::Never);
        if self.aborted || !written {
            return wake;
        }
        let at = *self.abort_at.get_or_insert(now + abort.after);
        if now < at {
            return Some(wake.map_or(at, |w| w.min(at)));
        }
        let (how, code) = match abort.how {
            AbortHow::Reset(c) => (quiche::Shutdown::Write, c),
            AbortHow::StopSending(c) => (quiche::Shutdown::Read, c),
        };
        let _ = conn.stream_shutdown(self.obs.id, how, code);
        self.aborted = true;
        None
    }

    /// Writes what is due; returns when it next wants to run.
    /// A FIN waits while `fin_held` (the plan's [`crate::FinGate`] is shut).
    fn write(
        &mut self,
        conn: &mut quiche::Connection,
        now: Instant,
        fin_held: bool,
    ) -> Option<Instant> {
        while now >= self.next_at && !self.obs.fin_sent {
            let id = self.obs.id;
            if self.next_chunk < self.chunks.len() {
                let chunk = &self.chunks[self.next_chunk];
                let last = self.next_chunk + 1 == self.chunks.len();
                let fin = last && self.fin == Fin::WithLastChunk && !fin_held;
                let rest = &chunk.data[self.offset..];
                match conn.stream_send(id, rest, fin) {
                    Ok(n) => {
                        self.offset += n;
                        self.obs.sent += n;
                    }
                    Err(quiche::Error::Done) => return None, // flow control: wait
                    Err(quiche::Error::StreamStopped(c)) => {
                        self.obs.stop_sending = Some(c);
                        return None;
                    }
                    Err(_) => return None,
                }
                if self.offset < chunk.data.len() {
                    return None;
                }
                if fin {
                    self.mark_fin(now);
                }
                self.offset = 0;
                self.next_chunk += 1;
                self.next_at = now + chunk.pause_after;
            } else {
                let at = match self.fin {
                    Fin::Never => return None,
                    Fin::WithLastChunk => self.next_at,
                    // Counts from the end of the last chunk's pause.
                    Fin::After(d) => self.next_at + d,
                };
                if now < at {
                    return Some(at);
                }
                if fin_held {
                    return Some(now + crate::GATE_CHECK);
                }
                match conn.stream_send(id, b"", true) {
                    Ok(_) => self.mark_fin(now),
                    Err(quiche::Error::StreamStopped(c)) => {
                        self.obs.stop_sending = Some(c);
                        return None;
                    }
                    Err(_) => return None,
                }
            }
        }
        let more = self.next_chunk < self.chunks.len() || self.fin != Fin::Never;
        (!self.obs.fin_sent && more).then_some(self.next_at)
    }

    fn mark_fin(&mut self, now: Instant) {
        self.obs.fin_sent = true;
        self.obs.fin_sent_at = Some(now);
        self.obs.received_before_fin = self.obs.received.len();
    }
}

impl StreamRun<'_> {
    /// What was observed; without a FIN from us, everything arrived
    /// "before FIN".
    pub(super) fn into_observation(mut self) -> StreamObservation {
        if !self.obs.fin_sent {
            self.obs.received_before_fin = self.obs.received.len();
        }
        self.obs
    }
}

/// The plan's streams, bidirectional and unidirectional numbered apart.
pub(super) fn streams(plan: &Plan, start: Instant) -> Vec<StreamRun<'_>> {
    let mut streams = Vec::new();
    let (mut next_bidi, mut next_uni) = (0u64, 2u64);
    for s in &plan.streams {
        let id = if s.uni { &mut next_uni } else { &mut next_bidi };
        streams.push(StreamRun {
            chunks: &s.chunks,
            fin: s.fin,
            abort: s.abort,
            abort_at: None,
            aborted: false,
            next_chunk: 0,
            offset: 0,
            next_at: start,
            obs: StreamObservation {
                id: *id,
                ..Default::default()
            },
        });
        *id += 4;
    }
    streams
}

/// Everything quiche has for stream `obs.id`: bytes, FIN, a reset; and a
/// STOP_SENDING it was told of.
pub(super) fn read_stream(
    conn: &mut quiche::Connection,
    obs: &mut StreamObservation,
    buf: &mut [u8],
    now: Instant,
) {
    let id = obs.id;
    loop {
        match conn.stream_recv(id, buf) {
            Ok((n, fin)) => {
                obs.received.extend_from_slice(&buf[..n]);
                if fin {
                    obs.fin_received = true;
                    obs.fin_received_at = Some(now);
                    obs.echo_time = obs.fin_sent_at.map(|t| now - t);
                    break;
                }
            }
            Err(quiche::Error::StreamReset(c)) => {
                obs.reset = Some(c);
                break;
            }
            Err(_) => break,
        }
    }
    if obs.stop_sending.is_none() {
        if let Err(quiche::Error::StreamStopped(c)) = conn.stream_capacity(id) {
            obs.stop_sending = Some(c);
        }
    }
}
