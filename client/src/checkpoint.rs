//! A point in a connection where the client stops and waits for whatever
//! runs it (a test harness restarting the server, say), then goes on.
//!
//! Both sides wait with a bound: a client never hangs on a harness that
//! forgot it, and a harness never hangs on a client that never arrives.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Stage {
    #[default]
    Before,
    Arrived,
    Released,
}

/// Shared by a client and the code around it; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint(Arc<(Mutex<Stage>, Condvar)>);

impl Checkpoint {
    pub fn new() -> Checkpoint {
        Checkpoint::default()
    }

    /// Client side: says it has arrived, then waits until released, at
    /// most `within`. Whether it was released.
    pub fn arrive(&self, within: Duration) -> bool {
        let (stage, cv) = &*self.0;
        let mut s = stage.lock().unwrap_or_else(|p| p.into_inner());
        if *s == Stage::Before {
            *s = Stage::Arrived;
            cv.notify_all();
        }
        self.wait_for(s, Stage::Released, within)
    }

    /// The other side: waits until the client has arrived, at most
    /// `within`. Whether it did.
    pub fn await_arrival(&self, within: Duration) -> bool {
        let s = self.0 .0.lock().unwrap_or_else(|p| p.into_inner());
        self.wait_for(s, Stage::Arrived, within)
    }

    /// Lets the client go on (also one that has not arrived yet: it will
    /// not stop).
    pub fn release(&self) {
        let (stage, cv) = &*self.0;
        *stage.lock().unwrap_or_else(|p| p.into_inner()) = Stage::Released;
        cv.notify_all();
    }

    fn wait_for(
        &self,
        mut s: std::sync::MutexGuard<'_, Stage>,
        at_least: Stage,
        within: Duration,
    ) -> bool {
        let until = Instant::now() + within;
        let reached = |s: Stage| match at_least {
            Stage::Released => s == Stage::Released,
            _ => s != Stage::Before,
        };
        while !reached(*s) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s = self
                .0
                 .1
                .wait_timeout(s, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_waits_until_released_and_the_other_side_sees_it_arrive() {
        let cp = Checkpoint::new();
        let client = {
            let cp = cp.clone();
            std::thread::spawn(move || cp.arrive(Duration::from_secs(30)))
        };
        assert!(cp.await_arrival(Duration::from_secs(30)));
        cp.release();
        assert!(client.join().unwrap());
    }

    #[test]
    fn both_waits_are_bounded() {
        let cp = Checkpoint::new();
        assert!(!cp.await_arrival(Duration::from_millis(10)));
        assert!(!cp.arrive(Duration::from_millis(10)));
        // Released before arriving: the client does not stop.
        let cp = Checkpoint::new();
        cp.release();
        assert!(cp.arrive(Duration::ZERO));
    }
}
