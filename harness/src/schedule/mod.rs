//! Which cases run, in what order, and how many side by side.
//!
//! Cases that need the machine to themselves ([`plan::runs_alone`]) run
//! first, one at a time; then the others run `jobs` at a time, longest
//! first, each worker with its own server processes on their own ports.
//! A server the harness did not start (`--connect`) is one process for
//! every case, so its cases run one at a time in a lane of their own,
//! beside the others: cases side by side on it would see each other's
//! clients.
//! Results are handed on in report order ([`reorder`]), so the report is
//! the same whatever the schedule.

pub mod plan;
mod reorder;
mod worker;

use std::collections::VecDeque;
use std::sync::{mpsc, Mutex};

use crate::case::{CaseResult, DriverChoice, RunConfig};
use crate::scenario::{DriverKind, Scenario};
use crate::sut::ServerSpec;
use plan::Case;
use reorder::Reorder;
use worker::Worker;

/// What to run.
pub struct Schedule<'a> {
    pub servers: &'a [ServerSpec],
    pub scenarios: &'a [&'a Scenario],
    /// Drivers to run; empty: every driver a scenario names.
    pub drivers: &'a [DriverKind],
    /// How many cases may run side by side (at least 1).
    pub jobs: usize,
    /// Runs of each case (`--repeat`), each with its own seed.
    pub repeat: u32,
    /// Only this part of the cases (`--partition K/N`).
    pub partition: Option<plan::Partition>,
}

/// Told when each case starts and ends, in whatever order they run (for
/// a progress indicator; results themselves come in report order).
pub trait Watch: Sync {
    fn started(&self, case: &Case<'_>);
    fn finished(&self, case: &Case<'_>);
}

/// Watches nothing.
impl Watch for () {
    fn started(&self, _: &Case<'_>) {}
    fn finished(&self, _: &Case<'_>) {}
}

/// A server that could not be started at all, before its first case.
#[derive(Debug)]
pub struct StartError {
    pub server: String,
    pub why: String,
}

/// The default for `--jobs`: the cases that share the machine spend most
/// of their time waiting on timers and the network (the whole suite uses
/// about 4 s of CPU in 8 s of wall time on 2 cores), so 8 per core.
pub fn default_jobs() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores * 8).clamp(4, 32)
}

impl<'a> Schedule<'a> {
    /// Every case, in report order.
    pub fn cases(&self) -> Vec<Case<'a>> {
        plan::cases(
            self.servers.len(),
            self.scenarios,
            self.drivers,
            self.repeat,
            self.partition,
        )
    }

    /// Runs every case, handing each result to `done` in report order.
    pub fn run<'d>(
        &self,
        cfg: &RunConfig,
        pick: impl Fn(DriverKind) -> DriverChoice<'d> + Sync,
        watch: &dyn Watch,
        done: impl FnMut(CaseResult),
    ) -> Result<(), StartError> {
        let cases = self.cases();
        let mut first = Worker::new(self.servers);
        for (i, spec) in self.servers.iter().enumerate() {
            first.start(i, cfg).map_err(|why| StartError {
                server: spec.name.clone(),
                why,
            })?;
        }
        let mut order = Reorder::new(done);
        let run = |w: &mut Worker, case: &Case<'_>| {
            watch.started(case);
            let result = w.run(case, cfg, &pick);
            watch.finished(case);
            result
        };
        for case in cases.iter().filter(|c| c.alone) {
            order.push(case.index, run(&mut first, case));
        }

        let remote = |c: &Case<'_>| self.servers[c.server].remote().is_some();
        let mut shared: Vec<&Case<'a>> = cases.iter().filter(|c| !c.alone && !remote(c)).collect();
        shared.sort_by_key(|c| std::cmp::Reverse(c.cost_ms));
        let lanes: Vec<Vec<&Case<'a>>> = (0..self.servers.len())
            .map(|s| {
                let lane = cases.iter().filter(|c| !c.alone && c.server == s);
                lane.filter(|c| remote(c)).collect()
            })
            .filter(|lane: &Vec<_>| !lane.is_empty())
            .collect();
        let jobs = self.jobs.clamp(1, shared.len().max(1));
        let queue = Mutex::new(shared.into_iter().collect::<VecDeque<_>>());
        let next = || queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
        let mut workers = vec![first];
        workers.extend((1..jobs).map(|_| Worker::new(self.servers)));
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel();
            for lane in lanes {
                let (tx, run) = (tx.clone(), &run);
                let mut w = Worker::new(self.servers);
                scope.spawn(move || {
                    for case in lane {
                        let result = run(&mut w, case);
                        if tx.send((case.index, result)).is_err() {
                            break;
                        }
                    }
                });
            }
            for mut w in workers {
                let tx = tx.clone();
                let (next, run) = (&next, &run);
                scope.spawn(move || {
                    while let Some(case) = next() {
                        let result = run(&mut w, case);
                        if tx.send((case.index, result)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            for (index, result) in rx {
                order.push(index, result);
            }
        });
        Ok(())
    }
}
