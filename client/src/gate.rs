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
