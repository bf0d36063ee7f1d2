//! The native (quiche) and quinn clients follow one rule for a plan's
//! progress (`echo_client::progress`): the same plan through both, against
//! the reference server, gives the same observations.

mod common;

use std::time::Duration;

use common::*;
use echo_client::{Chunk, Close, Fin, Handshake, Observation, Plan, StreamPlan};

/// What both stacks can observe the same way, per connection and stream.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    completed: bool,
    alpn: String,
    peer_close: Option<(bool, u64)>,
    streams: Vec<(u64, Vec<u8>, bool, bool, usize)>,
    deadline_hit: bool,
}

fn seen(obs: &Observation) -> Seen {
    let alpn = match &obs.handshake {
        Handshake::Completed { alpn, .. } => alpn.clone(),
        Handshake::NotCompleted => String::new(),
    };
    Seen {
        completed: alpn != String::new(),
        alpn,
        peer_close: obs.peer_close.as_ref().map(|c: &Close| (c.app, c.code)),
        streams: obs
            .streams
            .iter()
            .map(|s| {
                let bytes = s.received.clone();
                (
                    s.id,
                    bytes,
                    s.fin_sent,
                    s.fin_received,
                    s.received_before_fin,
                )
            })
            .collect(),
        deadline_hit: obs.deadline_hit,
    }
}

fn both(server: &Server, plan: &Plan) -> (Seen, Seen) {
    let cfg = ClientConfig {
        alpn: vec!["http/1.0".into()],
        trust: echo_client::Trust::CaFile(certs().join("ca.pem")),
        ..ClientConfig::default()
    };
    let native = echo_client::run(server.addr, &cfg, plan).expect("native client ran");
    let quinn = quinn_client::run(server.addr, &cfg, plan).expect("quinn client ran");
    (seen(&native), seen(&quinn))
}

fn chunked() -> StreamPlan {
    let chunk = |t: &str| Chunk {
        data: t.as_bytes().to_vec(),
        pause_after: Duration::from_millis(30),
    };
    StreamPlan {
        chunks: vec![chunk("one "), chunk("two "), chunk("three")],
        fin: Fin::After(Duration::from_millis(50)),
        uni: false,
        abort: None,
    }
}

#[test]
fn the_same_plans_through_quiche_and_quinn_give_the_same_observations() {
    let server = Server::start(&[]);
    let held = Plan {
        stop_after: Some(Duration::from_millis(300)),
        ..plan(vec![StreamPlan {
            fin: Fin::Never,
            ..StreamPlan::echo(b"held".to_vec())
        }])
    };
    let plans = [
        plan(vec![StreamPlan::echo(b"hello".to_vec())]),
        plan(vec![chunked(), StreamPlan::echo(b"second".to_vec())]),
        held,
        plan(Vec::new()),
    ];
    for (i, p) in plans.iter().enumerate() {
        let (native, quinn) = both(&server, p);
        assert!(native.completed, "plan {i}: {native:?}");
        assert_eq!(native, quinn, "plan {i}");
    }
}

/// The bench's two load generators count alike: against the reference
/// (which closes each connection after its echo, Retry on), every
/// connection of a fixed number echoes exactly, none fails.
#[test]
fn both_load_generators_echo_every_connection() {
    let server = Server::start(&[]);
    let cfg = ClientConfig {
        alpn: vec!["http/1.0".into()],
        ..ClientConfig::default()
    };
    let plan = echo_client::LoadPlan {
        concurrency: 4,
        payload: 1000,
        streams_per_conn: Some(1),
        duration: Duration::from_secs(20),
        max_connections: Some(40),
        max_handshakes: 4,
        barrier: false,
        deadline: Duration::from_secs(30),
    };
    let runs = [
        (
            "quiche",
            echo_client::run_load(server.addr, &cfg, &plan, &mut || {}),
        ),
        (
            "quinn",
            quinn_client::run_load(server.addr, &cfg, &plan, &mut || {}),
        ),
    ];
    for (name, report) in runs {
        let r = report.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((r.ok, r.failed), (40, 0), "{name}: {:?}", r.failures);
        assert_eq!(r.bytes_echoed, 40_000, "{name}");
        assert_eq!(r.handshakes.len(), 40, "{name}");
    }
}
