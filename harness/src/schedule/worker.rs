//! A worker: runs cases one at a time, each against the worker's own
//! server processes (one per server under test, started on demand), so
//! no two cases running side by side share a server. (A server the harness
//! did not start is one for all; its cases run in a lane of their own.)

use super::plan::Case;
use crate::case::{run_case, CaseResult, DriverChoice, RunConfig};
use crate::scenario::DriverKind;
use crate::sut::{ServerSlot, ServerSpec};

pub struct Worker {
    slots: Vec<ServerSlot>,
}

impl Worker {
    pub fn new(servers: &[ServerSpec]) -> Worker {
        Worker {
            slots: servers.iter().cloned().map(ServerSlot::new).collect(),
        }
    }

    /// Starts server `i` now (with no scenario flags), so one that cannot
    /// start at all is reported before any case.
    pub fn start(&mut self, i: usize, cfg: &RunConfig) -> Result<(), String> {
        self.slots[i]
            .ensure(
                &cfg.certs,
                &cfg.verify,
                (std::net::Ipv4Addr::LOCALHOST.into(), &[]),
                cfg.ready_timeout,
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    pub fn run<'d>(
        &mut self,
        case: &Case<'_>,
        cfg: &RunConfig,
        pick: &impl Fn(DriverKind) -> DriverChoice<'d>,
    ) -> CaseResult {
        let slot = &mut self.slots[case.server];
        // Which case a server process served before another is what tells
        // a case that wedged it from the one that found it so.
        let pid = slot.running.as_ref().map(|r| r.pid());
        log::debug!(
            "start {} [{}] on {} (process {pid:?})",
            case.scenario.id,
            case.driver,
            slot.spec.name
        );
        let cfg = cfg.for_run(case.run);
        let result = run_case(slot, pick(case.driver), case.driver, case.scenario, &cfg);
        log::debug!(
            "end {} [{}] on {}: {:?} (process {:?})",
            case.scenario.id,
            case.driver,
            slot.spec.name,
            result.status,
            slot.running.as_ref().map(|r| r.pid())
        );
        result
    }
}
