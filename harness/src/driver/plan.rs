//! From a scenario's connection to what a client library carries out: the
//! plan (streams, timing, key updates...) and the configuration (ALPN,
//! trust, windows, cipher suites). Shared by the drivers built on a library.

use std::sync::mpsc::Sender;
use std::time::Duration;

use echo_client::{
    Abort, AbortHow, Chunk, ClientConfig, Fin, Leave, Moment, Observation, Plan, Reads, StreamPlan,
    Windows,
};

use super::{Run, Target};
use crate::scenario::{ConnectionSpec, FinSpec, FlowSpec, LeaveSpec, MomentSpec, QuicVersion};

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
        start_gate: None,
        recorder: None,
        keep_alive: spec.keep_alive_ms.map(Duration::from_millis),
        sessions: None,
        resume: spec.resume,
        early_data: spec.early_data,
        key_updates: spec.key_updates.iter().map(moment).collect(),
        migrate: spec.migrate.as_ref().map(moment),
        checkpoint: None,
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

fn moment(m: &MomentSpec) -> Moment {
    match m {
        MomentSpec::AfterBytes(n) => Moment::Written(*n),
        MomentSpec::EchoStarted => Moment::EchoStarted,
    }
}

/// The client configuration for a connection like `spec` to `target`.
pub fn client_config(target: &Target, spec: &ConnectionSpec) -> ClientConfig {
    ClientConfig {
        server_name: target.server_name.clone(),
        trust: target.trust.clone(),
        ..config_of(spec)
    }
}

/// Why a client library cannot carry `spec`, in its own words (its
/// `cannot_carry`, given the plan and configuration `spec` makes).
pub fn refusal(
    spec: &ConnectionSpec,
    cannot_carry: impl FnOnce(&ClientConfig, &Plan) -> Option<String>,
) -> Option<String> {
    let (plan, _) = plan(spec, 0, Duration::ZERO);
    cannot_carry(&config_of(spec), &plan)
}

/// What of the client configuration `spec` alone decides.
fn config_of(spec: &ConnectionSpec) -> ClientConfig {
    ClientConfig {
        alpn: spec.alpn.clone(),
        windows: spec.flow.as_ref().map(|f| Windows {
            stream: f.stream_window,
            connection: f.connection_window,
        }),
        ciphers: spec.ciphers.clone(),
        version: match spec.quic_version {
            Some(QuicVersion::V2) => echo_client::initial::Version::V2,
            Some(QuicVersion::V1) | None => echo_client::initial::Version::V1,
        },
        ..ClientConfig::default()
    }
}

/// How often a library client pings under random loss when its scenario
/// does not say. Both client stacks keep the probe timeout's backoff when
/// they discard their Handshake keys (quinn-proto 0.11's `discard_space`;
/// quiche, cloudflare/quiche#2690), where RFC 9002 §6.2.2 and Appendix A.11
/// reset it, and only an ACK resets it then. A client whose Finished was
/// lost and whose HANDSHAKE_DONE came without an ACK (seen: quinn, backed
/// off 2^7 while probing) then waits longer than the server's idle timeout
/// to send its stream data again. A PING is ack-eliciting, so the server's
/// ACK resets the backoff and shows the data lost; the server sees nothing
/// a client may not send.
pub const LOSSY_KEEP_ALIVE: Duration = Duration::from_secs(1);

/// The plan for connection `n` of `spec` to `target`, wired to the case:
/// told when established, cancelled with the server, held at the case's FIN
/// gate, lingering as long as the case allows, recording its evidence.
pub fn connection_plan(
    target: &Target,
    spec: &ConnectionSpec,
    n: u32,
    deadline: Duration,
    established: Option<Sender<()>>,
) -> (Plan, Vec<Vec<u8>>) {
    let (mut plan, sent) = plan(spec, n, deadline);
    if target.lossy && plan.keep_alive.is_none() {
        plan.keep_alive = Some(LOSSY_KEEP_ALIVE);
    }
    plan.notify_established = established;
    plan.cancel = Some(target.cancel.clone());
    plan.fin_gate = target.fin_gate.clone();
    plan.start_gate = target.start_gate.clone();
    plan.linger = target.close_wait;
    plan.sessions = Some(target.sessions.clone());
    plan.checkpoint = spec
        .restart_server
        .as_ref()
        .map(moment)
        .zip(target.restart.clone());
    plan.recorder = target
        .evidence
        .as_ref()
        .map(|e| e.recorder(n, !target.relayed));
    (plan, sent)
}

/// Connection `n` of `spec` to `target`, carried out by a client library's
/// `run` (the native or the quinn client).
pub fn run_with(
    target: &Target,
    spec: &ConnectionSpec,
    (n, deadline): (u32, Duration),
    established: Option<Sender<()>>,
    client: impl FnOnce(std::net::SocketAddr, &ClientConfig, &Plan) -> Result<Observation, String>,
) -> Result<Run, String> {
    let (plan, sent) = connection_plan(target, spec, n, deadline, established);
    let obs = client(target.addr, &client_config(target, spec), &plan)?;
    Ok(Run { sent, obs })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> ConnectionSpec {
        serde_json::from_str(json).expect("a connection spec")
    }

    #[test]
    fn each_library_says_in_its_own_words_what_it_cannot_carry() {
        let plain = spec(r#"{"alpn": ["http/1.0"]}"#);
        assert_eq!(refusal(&plain, quinn_client::cannot_carry), None);
        assert_eq!(refusal(&plain, echo_client::cannot_carry), None);
        let no_alpn = spec(r#"{"alpn": []}"#);
        let why = refusal(&no_alpn, quinn_client::cannot_carry).expect("quinn refuses");
        assert!(why.contains("ALPN"), "{why}");
        assert_eq!(refusal(&no_alpn, echo_client::cannot_carry), None);
        let key_update = spec(r#"{"alpn": ["http/1.0"], "key_updates": [{"after_bytes": 10}]}"#);
        let why = refusal(&key_update, echo_client::cannot_carry).expect("quiche refuses");
        assert!(why.contains("key update"), "{why}");
        assert_eq!(refusal(&key_update, quinn_client::cannot_carry), None);
        let v2 = spec(r#"{"alpn": ["http/1.0"], "quic_version": "v2"}"#);
        assert!(refusal(&v2, quinn_client::cannot_carry).is_some());
    }
}
