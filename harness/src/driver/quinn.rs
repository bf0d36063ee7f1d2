//! The quinn client (quinn + rustls), a third stack beside quiche and
//! OpenSSL: it starts key updates and restricts cipher suites, which
//! quiche cannot. It keeps no qlog or key log (evidence for its cases is
//! the relay's capture, when there is one).

use std::sync::mpsc::Sender;
use std::time::Duration;

use super::plan::run_with;
use super::{Blind, Driver, Run, Target};
use crate::scenario::{ConnectionSpec, LeaveSpec};

pub struct Quinn;

impl Driver for Quinn {
    fn cannot_run(&self, spec: &ConnectionSpec) -> Option<String> {
        if spec.alpn.is_empty() {
            return Some("quinn always sends the ALPN extension: it cannot offer none".into());
        }
        if spec.leave == LeaveSpec::Vanish {
            return Some("quinn closes a connection it drops: it cannot vanish".into());
        }
        if spec.quic_version == Some(crate::scenario::QuicVersion::V2) {
            return Some("quinn 0.11 speaks QUIC version 1 only".into());
        }
        if spec.migrate.is_some() {
            return Some(
                "quinn can only rebind its socket, which a server sees as a NAT rebinding \
                 (transport/nat-rebinding-* check that): it cannot probe a new path first"
                    .into(),
            );
        }
        if let Some(names) = &spec.ciphers {
            if let Err(e) = quinn_client::cipher_suites(names) {
                return Some(e);
            }
        }
        None
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
