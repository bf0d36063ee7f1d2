//! The endpoint on the in-memory pair: each test shows a rule the endpoint
//! keeps, and would fail against an endpoint that broke it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::pair::{self, Pair, CLIENT};

fn opts() -> Options {
    Options::default()
}

fn no_retry() -> Options {
    Options {
        retry: false,
        ..opts()
    }
}

/// Everything the endpoint has to send now, with destinations.
fn drain(ep: &mut Endpoint) -> Vec<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut out = Vec::new();
    while let Some((n, to)) = ep.poll_transmit(&mut buf) {
        out.push((buf[..n].to_vec(), to));
    }
    out
}

/// A client's first datagram (its Initial).
fn first_initial() -> Vec<u8> {
    let mut c = pair::client(&[9; 16], CLIENT);
    let mut buf = vec![0u8; 65536];
    let (n, _) = c.send(&mut buf).expect("a first Initial");
    buf[..n].to_vec()
}

fn peer_error(p: &Pair) -> Option<(bool, u64)> {
    p.client.peer_error().map(|e| (e.is_app, e.error_code))
}

#[test]
fn a_client_gets_its_echo_after_a_retry() {
    let mut p = Pair::new(opts());
    assert_eq!(p.echo(b"hello").as_deref(), Some(&b"hello"[..]));
    // Each tokenless Initial gets a Retry (the ClientHello may span two).
    let c = p.server.counters();
    assert!(c.retries_sent >= 1 && c.accepted == 1, "{c:?}");
    assert_eq!(peer_error(&p), Some((true, 0)), "closed with NO_ERROR");
}

#[test]
fn a_client_gets_its_echo_without_retry() {
    let mut p = Pair::new(no_retry());
    assert_eq!(p.echo(b"hello").as_deref(), Some(&b"hello"[..]));
    assert_eq!(p.server.counters().retries_sent, 0);
}

#[test]
fn input_over_the_limit_is_refused_with_0x10_not_echoed() {
    let mut p = Pair::new(Options {
        max_input: 8,
        ..opts()
    });
    assert_eq!(p.echo(b"nine bytes"), None);
    assert_eq!(
        peer_error(&p),
        Some((true, crate::echo::ERR_INPUT_TOO_LARGE))
    );
}

#[test]
fn a_client_beyond_max_connections_is_refused_and_leaves_no_state() {
    let mut p = Pair::new(Options {
        max_connections: 0,
        ..opts()
    });
    assert_eq!(p.echo(b"hello"), None);
    assert_eq!(peer_error(&p), Some((false, CONNECTION_REFUSED)));
    assert!(p.server.counters().refused_full >= 1);
    assert_eq!(p.server.connection_count(), 0);
}

#[test]
fn an_unknown_version_gets_version_negotiation() {
    let mut ep = pair::endpoint(opts());
    let mut d = first_initial();
    d[1..5].copy_from_slice(&0x1a2a_3a4au32.to_be_bytes());
    ep.recv(&mut d, CLIENT, Instant::now());
    let out = drain(&mut ep);
    assert_eq!(out.len(), 1, "one Version Negotiation");
    assert_eq!(&out[0].0[1..5], &[0, 0, 0, 0], "version 0 marks it");
    assert_eq!(ep.connection_count(), 0);
}

#[test]
fn a_packet_for_an_unknown_connection_gets_a_stateless_reset() {
    let mut ep = pair::endpoint(opts());
    let mut d = vec![0x40; 60];
    ep.recv(&mut d, CLIENT, Instant::now());
    let out = drain(&mut ep);
    assert_eq!(out.len(), 1);
    assert!(
        out[0].0.len() < 60,
        "a reset is smaller than what caused it"
    );
    assert_eq!(ep.counters().stateless_resets, 1);
}

#[test]
fn with_retry_a_first_initial_makes_no_state() {
    let mut ep = pair::endpoint(opts());
    let mut d = first_initial();
    ep.recv(&mut d, CLIENT, Instant::now());
    assert_eq!(drain(&mut ep).len(), 1, "a Retry");
    assert_eq!(ep.connection_count(), 0);
}

#[test]
fn a_bad_retry_token_is_answered_with_invalid_token() {
    let mut ep = pair::endpoint(opts());
    let dcid = [3u8; 16];
    let keys = quic_wire::Keys::initial(&dcid, true);
    let hello = quic_wire::crypto_frame(0, b"not a real ClientHello");
    let mut d = quic_wire::seal_initial(&keys, &dcid, &[4; 8], b"forged", 0, &hello, 1200);
    ep.recv(&mut d, CLIENT, Instant::now());
    assert_eq!(drain(&mut ep).len(), 1, "a close");
    let c = ep.counters();
    assert_eq!((c.bad_tokens, c.invalid_token_closes), (1, 1), "{c:?}");
    assert_eq!(ep.connection_count(), 0);
}

#[test]
fn an_unvalidated_client_is_sent_at_most_three_times_what_it_sent() {
    let mut ep = pair::endpoint(no_retry());
    let mut d = first_initial();
    let received = d.len();
    ep.recv(&mut d, CLIENT, Instant::now());
    let sent: usize = drain(&mut ep).iter().map(|(d, _)| d.len()).sum();
    assert!(sent > 0, "the server answered");
    assert!(sent <= 3 * received, "{sent} B for {received} B");
}

/// Hooks that end every connection a second after it began.
struct ShortLived;

impl Hooks for ShortLived {
    fn forget_at(&self, started: Instant, _heard: Instant) -> Option<Instant> {
        Some(started + Duration::from_secs(1))
    }
}

#[test]
fn a_connection_is_forgotten_at_its_hooks_time_and_not_before() {
    let mut p = Pair::new(Options {
        hooks: Box::new(ShortLived),
        ..opts()
    });
    p.pump();
    assert!(p.client.is_established());
    let t = p.server.next_timeout().expect("a timer");
    p.server.on_timeout(t.min(Instant::now()));
    assert_eq!(p.server.connection_count(), 1, "forgotten early");
    p.server.on_timeout(Instant::now() + Duration::from_secs(2));
    assert_eq!(p.server.connection_count(), 0);
    assert_eq!(p.server.counters().closed, 1);
}

#[test]
fn close_all_closes_every_connection_with_no_error() {
    let mut p = Pair::new(opts());
    p.pump();
    assert!(p.client.is_established());
    p.server.close_all();
    p.pump();
    assert_eq!(peer_error(&p), Some((true, 0)));
}

/// Hooks that never read a datagram: the endpoint asks them first.
struct Deaf;

impl Hooks for Deaf {
    fn read(&mut self, _from: SocketAddr) -> bool {
        false
    }
}

#[test]
fn the_endpoint_asks_its_hooks_before_it_reads() {
    let mut p = Pair::new(Options {
        hooks: Box::new(Deaf),
        ..opts()
    });
    assert_eq!(p.echo(b"hello"), None);
    assert_eq!(p.pump(), 0, "nothing ever sent to the client");
    assert_eq!(p.server.connection_count(), 0);
}
