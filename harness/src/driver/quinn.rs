//! The quinn client (quinn + rustls), a third stack beside quiche and
//! OpenSSL: it starts key updates and restricts cipher suites, which
//! quiche cannot. It keeps no qlog or key log (evidence for its cases is
//! the relay's capture, when there is one).

use std::sync::mpsc::Sender;
use std::time::Duration;

use super::plan::run_with;
use super::{Blind, Driver, Run, Target};
use crate::scenario::ConnectionSpec;

pub struct Quinn;

impl Driver for Quinn {
    fn cannot_run(&self, spec: &ConnectionSpec) -> Option<String> {
        super::plan::refusal(spec, quinn_client::cannot_carry)
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
        run_with(target, spec, (n, deadline), established, quinn_client::run)
    }
}
