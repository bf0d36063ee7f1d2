//! When the saturation workload stops doubling its clients, and which step
//! it reports: the highest rate measured with the server's CPUs busy. The
//! first busy step is not always the peak (a server can get more done per
//! wake-up as its queue grows), so the climb goes on while the busy rate
//! still rises, and one step that does not (a 3 s sample can dip) does not
//! end it: two in a row do.

use super::cpus::Limit;

/// A busy step must beat the best busy rate by this factor to be worth
/// another doubling.
const RISE: f64 = 1.05;

/// Steps in a row that did not beat the best busy rate before the climb
/// ends.
const PATIENCE: u32 = 2;

/// One step of the climb, as measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub clients: usize,
    pub rate: f64,
    pub limit: Limit,
    pub failed: bool,
}

/// The climb so far: the best server-limited step, if any.
#[derive(Debug, Default)]
pub struct Climb {
    best: Option<Step>,
    /// Steps since the best busy rate last rose by [`RISE`].
    flat: u32,
}

/// What to do after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Double the clients.
    Double,
    /// Report the step just measured, for this reason.
    ReportThis(&'static str),
    /// Report the best busy step ([`Climb::best`]), for this reason.
    ReportBest(&'static str),
}

impl Climb {
    /// Takes a measured step; `last` when no more clients may be tried.
    pub fn step(&mut self, s: Step, last: bool) -> Next {
        if s.failed {
            return Next::ReportThis("connections failed");
        }
        if s.limit == Limit::Unknown {
            return Next::ReportThis("the server's CPUs cannot be seen");
        }
        let before = self.best;
        if s.limit == Limit::Server && before.is_none_or(|b| s.rate > b.rate) {
            self.best = Some(s);
        }
        let rose = before.is_none_or(|b| s.rate >= b.rate * RISE);
        self.flat = if rose { 0 } else { self.flat + 1 };
        match before {
            Some(_) if self.flat >= PATIENCE => {
                Next::ReportBest("the rate stopped rising with the server's CPUs busy")
            }
            _ if last && self.best.is_some() => {
                Next::ReportBest("the most clients tried, the server's CPUs busy")
            }
            _ if last => Next::ReportThis("the server's CPUs were never busy"),
            _ => Next::Double,
        }
    }

    /// The best server-limited step.
    pub fn best(&self) -> Option<Step> {
        self.best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(clients: usize, rate: f64, limit: Limit) -> Step {
        Step {
            clients,
            rate,
            limit,
            failed: false,
        }
    }

    #[test]
    fn the_climb_goes_past_the_first_busy_step_while_the_rate_rises() {
        let mut c = Climb::default();
        assert_eq!(c.step(step(1, 1000.0, Limit::Neither), false), Next::Double);
        assert_eq!(c.step(step(2, 3200.0, Limit::Server), false), Next::Double);
        assert_eq!(c.step(step(4, 4000.0, Limit::Server), false), Next::Double);
        // Within 5% of the best, twice in a row: the peak is found.
        assert_eq!(c.step(step(8, 4100.0, Limit::Server), false), Next::Double);
        let next = c.step(step(16, 4000.0, Limit::Server), false);
        assert!(matches!(next, Next::ReportBest(_)), "{next:?}");
        assert_eq!(c.best().unwrap().clients, 8);
        // One dip is not the end; a rise after it resets the count.
        let mut c = Climb::default();
        c.step(step(4, 4000.0, Limit::Server), false);
        assert_eq!(c.step(step(8, 3000.0, Limit::Neither), false), Next::Double);
        assert_eq!(c.step(step(16, 4400.0, Limit::Server), false), Next::Double);
        assert_eq!(c.step(step(32, 3000.0, Limit::Server), false), Next::Double);
        assert!(matches!(
            c.step(step(64, 3000.0, Limit::Server), false),
            Next::ReportBest(_)
        ));
        assert_eq!(c.best().unwrap().clients, 16);
    }

    #[test]
    fn failures_unknown_limits_and_the_cap_end_the_climb_with_why() {
        let mut c = Climb::default();
        let failed = Step {
            failed: true,
            ..step(2, 10.0, Limit::Server)
        };
        assert_eq!(
            c.step(failed, false),
            Next::ReportThis("connections failed")
        );
        let mut c = Climb::default();
        assert!(matches!(
            c.step(step(1, 10.0, Limit::Unknown), false),
            Next::ReportThis(_)
        ));
        let mut c = Climb::default();
        assert_eq!(
            c.step(step(256, 10.0, Limit::Neither), true),
            Next::ReportThis("the server's CPUs were never busy")
        );
        let mut c = Climb::default();
        c.step(step(128, 1000.0, Limit::Server), false);
        assert!(matches!(
            c.step(step(256, 2000.0, Limit::Server), true),
            Next::ReportBest(_)
        ));
        assert_eq!(c.best().unwrap().clients, 256);
    }
}
