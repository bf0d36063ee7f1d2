//! The in-process quiche client: it can express and observe everything
//! but a key update it starts itself, and a choice of cipher suites.

use std::sync::mpsc::Sender;
use std::time::Duration;

use super::plan::run_with;
use super::{Blind, Driver, Run, Target};
use crate::scenario::ConnectionSpec;

pub struct Native;

impl Driver for Native {
    fn cannot_run(&self, spec: &ConnectionSpec) -> Option<String> {
        super::plan::refusal(spec, echo_client::cannot_carry)
    }

    fn blind(&self, _spec: &ConnectionSpec) -> Blind {
        Blind::default()
    }

    fn run(
        &self,
        target: &Target,
        spec: &ConnectionSpec,
        n: u32,
        deadline: Duration,
        established: Option<Sender<()>>,
    ) -> Result<Run, String> {
        run_with(
            target,
            spec,
            (n, deadline),
            established,
            |addr, cfg, plan| echo_client::run(addr, cfg, plan).map_err(|e| e.to_string()),
        )
    }
}
