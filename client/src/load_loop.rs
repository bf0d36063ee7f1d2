//! The event loop every load generator shares, whatever its QUIC stack:
//! one UDP socket, one thread, connections visited only when a datagram
//! or their timer says so, a hard deadline over all. A stack's engine
//! says how to read, fire timers and move one connection along
//! ([`LoadEngine`]); [`drive`] says when.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

use crate::{ClientError, LoadPlan, LoadReport};

/// One stack's load engine, as [`drive`] moves it.
pub trait LoadEngine {
    /// What names one connection.
    type Key: Ord;
    /// Whether any connection is still to be counted.
    fn live(&self) -> bool;
    /// Every datagram queued on the socket, each to its connection; the
    /// connections that got one.
    fn read_all(&mut self, buf: &mut [u8]) -> Result<Vec<Self::Key>, ClientError>;
    /// Fires the due timers; the connections fired.
    fn fire_timers(&mut self, now: Instant) -> Vec<Self::Key>;
    /// The earliest timer still set.
    fn next_timer(&mut self) -> Option<Instant>;
    /// Moves one connection along: its packets, streams and timer.
    fn progress(&mut self, key: Self::Key) -> Result<(), ClientError>;
    /// Starts connections while slots, time and the handshake limit allow.
    fn top_up(&mut self) -> Result<(), ClientError>;
    /// Whether the barrier is still closed and no handshake is left to
    /// wait for: the moment to open it.
    fn barrier_due(&self) -> bool;
    /// Calls `at_barrier`, then lets the streams start.
    fn open_barrier(&mut self, at_barrier: &mut dyn FnMut()) -> Result<(), ClientError>;
    /// The deadline came: every connection still running fails so.
    fn give_up(&mut self);
    /// What happened, so far.
    fn report(&mut self) -> &mut LoadReport;
}

/// A non-blocking UDP socket for load to `server`, with large buffers,
/// registered with a new poll; or why the plan cannot run.
pub fn open_socket(server: SocketAddr, plan: &LoadPlan) -> Result<(UdpSocket, Poll), ClientError> {
    if plan.concurrency == 0 {
        return Err(ClientError::Config("concurrency must be at least 1".into()));
    }
    let mut socket = UdpSocket::bind(crate::any_port_for(server))?;
    enlarge_buffers(&socket);
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut socket, Token(0), Interest::READABLE)?;
    Ok((socket, poll))
}

/// Asks for 4 MiB socket buffers; the kernel caps the request at its
/// limits (net.core.rmem_max / wmem_max), which is fine.
pub fn enlarge_buffers(socket: &UdpSocket) {
    let s = socket2::SockRef::from(socket);
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
}

/// Hands every datagram queued on `socket` to `each` with its sender,
/// until none is left.
pub fn recv_all(
    socket: &UdpSocket,
    buf: &mut [u8],
    mut each: impl FnMut(&mut [u8], SocketAddr),
) -> Result<(), ClientError> {
    loop {
        match socket.recv_from(buf) {
            Ok((n, from)) => each(&mut buf[..n], from),
            Err(err) if err.kind() == ErrorKind::WouldBlock => return Ok(()),
            // An ICMP error for an earlier datagram: QUIC's timers cope.
            Err(err) if err.kind() == ErrorKind::ConnectionRefused => {}
            Err(err) => return Err(err.into()),
        }
    }
}

/// Runs `engine` until every connection is counted or `plan.deadline`
/// (from `start`) passes; the report, with the time it took.
pub fn drive<E: LoadEngine>(
    engine: &mut E,
    poll: &mut Poll,
    plan: &LoadPlan,
    start: Instant,
    at_barrier: &mut dyn FnMut(),
) -> Result<LoadReport, ClientError> {
    engine.top_up()?;
    let mut events = Events::with_capacity(64);
    let mut buf = vec![0u8; 65536];
    let hard_end = start + plan.deadline;
    while engine.live() {
        let now = Instant::now();
        if now >= hard_end {
            engine.give_up();
            break;
        }
        let wake = engine.next_timer().map_or(hard_end, |t| t.min(hard_end));
        poll.poll(&mut events, Some(wake.saturating_duration_since(now)))?;
        let mut touched = engine.read_all(&mut buf)?;
        touched.extend(engine.fire_timers(Instant::now()));
        touched.sort_unstable();
        touched.dedup();
        for key in touched {
            engine.progress(key)?;
        }
        engine.top_up()?;
        if engine.barrier_due() {
            engine.open_barrier(at_barrier)?;
        }
    }
    let report = engine.report();
    report.elapsed = start.elapsed();
    Ok(std::mem::take(report))
}

/// Connection timers in a heap. A connection's current deadline lives
/// with the connection; entries it no longer holds are stale and skipped.
pub struct Timers<K>(BinaryHeap<Reverse<(Instant, K)>>);

impl<K: Ord> Default for Timers<K> {
    fn default() -> Self {
        Timers(BinaryHeap::new())
    }
}

impl<K: Ord> Timers<K> {
    /// Sets `key`'s deadline, held in `slot`, to `t`.
    pub fn update(&mut self, key: K, slot: &mut Option<Instant>, t: Option<Instant>) {
        if t != *slot {
            *slot = t;
            if let Some(t) = t {
                self.0.push(Reverse((t, key)));
            }
        }
    }

    /// The earliest deadline `current` (a key's deadline now) still holds.
    pub fn next(&mut self, current: impl Fn(&K) -> Option<Instant>) -> Option<Instant> {
        while let Some(Reverse((t, key))) = self.0.peek() {
            if current(key) == Some(*t) {
                return Some(*t);
            }
            self.0.pop();
        }
        None
    }

    /// A key whose deadline, still held, is due at `now`, removed.
    pub fn pop_due(&mut self, now: Instant, current: impl Fn(&K) -> Option<Instant>) -> Option<K> {
        while let Some(Reverse((t, _))) = self.0.peek() {
            if *t > now {
                return None;
            }
            let Reverse((t, key)) = self.0.pop().expect("peeked");
            if current(&key) == Some(t) {
                return Some(key);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    #[test]
    fn timers_skip_stale_deadlines_and_fire_only_due_ones() {
        let now = Instant::now();
        let mut held: HashMap<u8, Option<Instant>> = HashMap::new();
        let mut timers = Timers::default();
        let mut slot_a = None;
        timers.update(1, &mut slot_a, Some(now));
        timers.update(1, &mut slot_a, Some(now + Duration::from_secs(5)));
        held.insert(1, slot_a);
        let mut slot_b = None;
        timers.update(2, &mut slot_b, Some(now + Duration::from_secs(1)));
        held.insert(2, slot_b);
        let current = |k: &u8| held.get(k).copied().flatten();
        assert_eq!(timers.next(current), Some(now + Duration::from_secs(1)));
        let later = now + Duration::from_secs(2);
        assert_eq!(timers.pop_due(later, current), Some(2));
        assert_eq!(timers.pop_due(later, current), None);
        assert_eq!(timers.next(current), Some(now + Duration::from_secs(5)));
    }
}
