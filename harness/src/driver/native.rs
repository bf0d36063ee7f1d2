//! The in-process quiche client: it can express and observe everything.

use std::sync::mpsc::Sender;
use std::time::Duration;

use echo_client::{
    Abort, AbortHow, Chunk, ClientConfig, Fin, Leave, Plan, Reads, StreamPlan, Windows,
};

use super::{Blind, Driver, Run, Target};
use crate::scenario::{ConnectionSpec, FinSpec, FlowSpec, LeaveSpec};

pub struct Native;

/// The client plan for connection `n` of `spec`, and the bytes per stream.
pub fn plan(spec: &ConnectionSpec, n: u32, deadline: Duration) -> (Plan, Vec<Vec<u8>>) {
    let mut sent = Vec::new();
    let streams = spec
        .streams
        .iter()
        .map(|st| {
            let data = st.send.bytes(n);
            let size = st.chunk_size.unwrap_or(data.len().max(1));
            let pause = Duration::from_millis(st.pause_ms);
            let mut chunks: Vec<Chunk> = data
                .chunks(size)
                .map(|c| Chunk {
                    data: c.to_vec(),
                    pause_after: pause,
                })
                .collect();
            if chunks.is_empty() {
                chunks.push(Chunk::default());
            }
            sent.push(data);
            StreamPlan {
                chunks,
                fin: match st.fin {
                    FinSpec::WithData => Fin::WithLastChunk,
                    FinSpec::AfterMs(ms) => Fin::After(Duration::from_millis(ms)),
                    FinSpec::Never => Fin::Never,
                },
                uni: st.uni,
                abort: st.abort.as_ref().map(|a| Abort {
                    after: Duration::from_millis(a.after_ms),
                    how: match (a.reset, a.stop_sending) {
                        (Some(c), _) => AbortHow::Reset(c),
                        (None, c) => AbortHow::StopSending(c.unwrap_or(0)),
                    },
                }),
            }
        })
        .collect();
    let plan = Plan {
        streams,
        linger: Duration::from_millis(1000),
        deadline,
        stop_after: spec.hold_ms.map(Duration::from_millis),
        leave: match spec.leave {
            LeaveSpec::Close => Leave::Close,
            LeaveSpec::Vanish => Leave::Vanish,
        },
        notify_established: None,
        cancel: None,
        fin_gate: None,
        recorder: None,
        reads: match &spec.flow {
            Some(f) if f.never_read => Reads::Never,
            Some(FlowSpec {
                read_every_ms: Some(ms),
                ..
            }) => Reads::Every(Duration::from_millis(*ms)),
            _ => Reads::AtOnce,
        },
    };
    (plan, sent)
}

impl Native {
    /// Runs `plan` for a connection like `spec`.
    fn run_plan(
        &self,
        target: &Target,
        spec: &ConnectionSpec,
        plan: &Plan,
        sent: Vec<Vec<u8>>,
    ) -> Result<Run, String> {
        let cfg = ClientConfig {
            alpn: spec.alpn.clone(),
            server_name: target.server_name.clone(),
            trust: target.trust.clone(),
            windows: spec.flow.as_ref().map(|f| Windows {
                stream: f.stream_window,
                connection: f.connection_window,
            }),
            ..ClientConfig::default()
        };
        let obs = echo_client::run(target.addr, &cfg, plan).map_err(|e| e.to_string())?;
        Ok(Run { sent, obs })
    }
}

impl Driver for Native {
    fn cannot_run(&self, _spec: &ConnectionSpec) -> Option<String> {
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
        let (mut plan, sent) = plan(spec, n, deadline);
        plan.notify_established = established;
        plan.cancel = Some(target.cancel.clone());
        plan.fin_gate = target.fin_gate.clone();
        plan.linger = target.close_wait;
        plan.recorder = target
            .evidence
            .as_ref()
            .map(|e| e.recorder(n, !target.relayed));
        self.run_plan(target, spec, &plan, sent)
    }
}
