//! The server a workload measures: started fresh, or found answering.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use super::{BenchArgs, BenchError};
use crate::sut::{self, Certs, Running, ServerSpec};

/// The name the load generator sends as SNI (it checks no certificate).
pub(super) fn server_name(spec: &ServerSpec, args: &BenchArgs) -> String {
    let sni = args.sni.clone();
    sut::Verify {
        sni,
        ..Default::default()
    }
    .server_name(spec)
}

/// The note on every row of a server the harness did not start.
pub(super) const BLIND: &str =
    "server CPU and memory not measured: the harness did not start this \
                     server and cannot see its process";

/// The server one workload measures: a fresh process, or one the harness
/// did not start (the same for every workload, found answering first).
pub(super) struct BenchServer {
    pub(super) addr: SocketAddr,
    pub(super) running: Option<Running>,
}

impl BenchServer {
    pub(super) fn up(
        spec: &ServerSpec,
        certs: &Certs,
        args: &BenchArgs,
    ) -> Result<BenchServer, BenchError> {
        if let Some(r) = spec.remote() {
            let target = crate::driver::Target::new(
                r.addr,
                server_name(spec, args),
                echo_client::Trust::Nothing,
            );
            let deadline = Instant::now() + args.ready_timeout;
            sut::probe::await_handshake(&target, deadline, || None).map_err(|e| {
                BenchError::NotReady {
                    name: spec.name.clone(),
                    why: e.to_string(),
                }
            })?;
            return Ok(BenchServer {
                addr: r.addr,
                running: None,
            });
        }
        let running = Running::start(
            spec,
            certs,
            (SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0), &[]),
            args.ready_timeout,
        )
        .map_err(|e| BenchError::NotStarted {
            name: spec.name.clone(),
            why: e.to_string(),
        })?;
        Ok(BenchServer {
            addr: running.addr,
            running: Some(running),
        })
    }
}
