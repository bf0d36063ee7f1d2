//! Which cases run, in what order: every server, then every scenario in
//! file order, then every driver the scenario names (and the user kept).
//! One server process per server, reused across cases and restarted by its
//! slot when a case needs other flags or the server died.

use crate::case::{run_case, CaseResult, DriverChoice, RunConfig};
use crate::scenario::{DriverKind, Scenario};
use crate::sut::{ServerSlot, ServerSpec};

/// What to run.
pub struct Schedule<'a> {
    pub servers: &'a [ServerSpec],
    pub scenarios: &'a [&'a Scenario],
    /// Drivers to run; empty: every driver a scenario names.
    pub drivers: &'a [DriverKind],
}

/// A server that could not be started at all, before its first case.
#[derive(Debug)]
pub struct StartError {
    pub server: String,
    pub why: String,
}

impl<'a> Schedule<'a> {
    /// The (scenario, driver) pairs, in report order.
    pub fn cases(&self) -> impl Iterator<Item = (&'a Scenario, DriverKind)> + '_ {
        self.scenarios.iter().flat_map(move |sc| {
            sc.drivers
                .iter()
                .copied()
                .filter(move |d| self.drivers.is_empty() || self.drivers.contains(d))
                .map(move |d| (*sc, d))
        })
    }

    /// Runs every case, handing each result to `done` as it comes.
    pub fn run<'d>(
        &self,
        cfg: &RunConfig,
        pick: impl Fn(DriverKind) -> DriverChoice<'d>,
        mut done: impl FnMut(CaseResult),
    ) -> Result<(), StartError> {
        for spec in self.servers {
            let mut slot = ServerSlot::new(spec.clone());
            slot.ensure(&cfg.certs, &[], cfg.ready_timeout)
                .map_err(|why| StartError {
                    server: spec.name.clone(),
                    why,
                })?;
            for (sc, d) in self.cases() {
                done(run_case(&mut slot, pick(d), d, sc, cfg));
            }
        }
        Ok(())
    }
}
