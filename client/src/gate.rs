//! The FIN gate: FINs held back until every connection of a case is open,
//! and each connection's ticket at it.

use std::time::Duration;

/// Holds back FINs until `n` connections have each arrived (completed their
/// handshake or ended): proves they were open together without trickling
/// data for seconds to keep them so.
#[derive(Debug, Clone)]
pub struct FinGate(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl FinGate {
    /// A gate for `n` connections.
    pub fn new(n: usize) -> FinGate {
        FinGate(std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(n)))
    }

    /// One connection arrived (call once per connection).
    pub fn arrive(&self) {
        let _ = self.0.fetch_update(
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Acquire,
            |n| n.checked_sub(1),
        );
    }

    /// Every connection has arrived.
    pub fn is_open(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire) == 0
    }
}

/// How often a connection held at a [`FinGate`] sends a PING, so that no
/// server's idle timeout ends it while the others open.
pub const GATE_KEEPALIVE: Duration = Duration::from_millis(500);

/// How often a connection holding its FIN at a [`FinGate`] looks again.
pub const GATE_CHECK: Duration = Duration::from_millis(20);

/// One connection's place at an optional [`FinGate`]: arrives at most once,
/// and on drop if it never did (every client stack holds one).
pub struct GateTicket {
    gate: Option<FinGate>,
    arrived: bool,
}

impl GateTicket {
    pub fn new(gate: Option<FinGate>) -> GateTicket {
        GateTicket {
            gate,
            arrived: false,
        }
    }

    pub fn arrive(&mut self) {
        if let (Some(g), false) = (&self.gate, self.arrived) {
            g.arrive();
            self.arrived = true;
        }
    }

    /// Open when there is no gate, or every connection of it arrived.
    pub fn is_open(&self) -> bool {
        self.gate.as_ref().is_none_or(FinGate::is_open)
    }
}

impl Drop for GateTicket {
    fn drop(&mut self) {
        self.arrive();
    }
}

/// Holds connections back until `n` of them are ready to send their first
/// datagram, so that "at once" is true on the wire whatever the machine's
/// load did to their setup; each waits at most a bound.
#[derive(Debug, Clone)]
pub struct StartGate(std::sync::Arc<(std::sync::Mutex<usize>, std::sync::Condvar)>);

impl StartGate {
    /// A gate for `n` connections.
    pub fn new(n: usize) -> StartGate {
        StartGate(std::sync::Arc::new((
            std::sync::Mutex::new(n),
            std::sync::Condvar::new(),
        )))
    }

    /// One connection is ready: waits until all are, at most `within`.
    /// Whether all were.
    pub fn ready(&self, within: Duration) -> bool {
        let (left, cv) = &*self.0;
        let mut n = left.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
        cv.notify_all();
        let (n, _) = cv
            .wait_timeout_while(n, within, |n| *n > 0)
            .unwrap_or_else(|p| p.into_inner());
        *n == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_gate_lets_no_one_go_before_the_last_is_ready() {
        let gate = StartGate::new(3);
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..2 {
            let (gate, tx) = (gate.clone(), tx.clone());
            std::thread::spawn(move || tx.send(gate.ready(Duration::from_secs(10))));
        }
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "went before the third was ready"
        );
        assert!(gate.ready(Duration::from_secs(10)));
        for _ in 0..2 {
            assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(true));
        }
    }

    #[test]
    fn a_start_gate_waits_no_longer_than_its_bound() {
        let gate = StartGate::new(2);
        assert!(!gate.ready(Duration::from_millis(10)));
    }
}
