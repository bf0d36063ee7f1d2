//! The server's numbered behaviours, checked over loopback with a quiche client.

mod common;

use std::time::Duration;

use common::*;
use echo_client::{Chunk, Handshake};

#[test]
fn both_guide_alpns_echo_and_close_with_no_error() {
    let server = Server::start(&[]);
    for alpn in ["http/1.0", "hq-interop"] {
        let obs = server.echo(alpn, b"GET / HTTP/1.0\r\n\r\n");
        assert!(
            matches!(&obs.handshake, Handshake::Completed { alpn: a, .. } if a == alpn),
            "{obs:?}"
        );
        assert_echoed(&obs, b"GET / HTTP/1.0\r\n\r\n");
    }
}

/// quinn's first Initial goes to a 20-byte connection ID, the most QUIC
/// allows: after a Retry the server's transport parameters carry three
/// connection IDs and a stateless reset token, and must still fit the
/// 128 bytes quiche encodes them into.
#[test]
fn a_quinn_client_with_a_20_byte_connection_id_is_served_after_a_retry() {
    let server = Server::start(&[]);
    let cfg = ClientConfig {
        alpn: vec!["http/1.0".into()],
        trust: echo_client::Trust::CaFile(certs().join("ca.pem")),
        ..ClientConfig::default()
    };
    let plan = plan(vec![StreamPlan::echo(b"through quinn".to_vec())]);
    let obs = quinn_client::run(server.addr, &cfg, &plan).expect("quinn client ran");
    assert!(
        matches!(obs.handshake, Handshake::Completed { .. }),
        "{obs:?}"
    );
    assert_echoed(&obs, b"through quinn");
}

#[test]
fn a_list_with_one_acceptable_alpn_negotiates_it() {
    let server = Server::start(&[]);
    let obs = server.client(
        &["h3", "hq-interop"],
        &plan(vec![StreamPlan::echo(b"x".to_vec())]),
    );
    assert!(matches!(&obs.handshake, Handshake::Completed { alpn, .. } if alpn == "hq-interop"));
    assert_echoed(&obs, b"x");
}

#[test]
fn wrong_alpn_fails_with_0x178_and_the_next_client_is_served() {
    let mut server = Server::start(&[]);
    let obs = server.echo("h3", b"hello");
    assert_eq!(obs.handshake, Handshake::NotCompleted);
    let close = obs.peer_close.expect("server sent CONNECTION_CLOSE");
    assert!(!close.app && close.code == 0x178, "{close:?}");
    assert!(server.alive());
    assert_echoed(&server.echo("http/1.0", b"after"), b"after");
}

#[test]
fn no_alpn_fails_with_0x178_and_the_next_client_is_served() {
    for flags in [&[][..], &["--no-retry"][..]] {
        let mut server = Server::start(flags);
        let obs = server.client(&[], &plan(vec![]));
        assert_eq!(obs.handshake, Handshake::NotCompleted, "{flags:?}");
        let close = obs.peer_close.expect("server sent CONNECTION_CLOSE");
        assert!(!close.app && close.code == 0x178, "{flags:?}: {close:?}");
        assert!(server.alive());
        assert_echoed(&server.echo("http/1.0", b"after"), b"after");
    }
}

/// A Retry token sent back from another port, or after its lifetime, is
/// turned down at once with INVALID_TOKEN (RFC 9000 §8.1.3) and no
/// connection; the same token used properly is accepted.
#[test]
fn replayed_and_expired_tokens_get_invalid_token_at_once() {
    use echo_client::TokenUse;
    let mut server = Server::start(&["--token-lifetime", "1s"]);
    let cfg = echo_client::ClientConfig {
        alpn: vec!["http/1.0".into()],
        ..echo_client::ClientConfig::default()
    };
    let wait = Duration::from_millis(2500);
    for token_use in [TokenUse::FromAnotherPort, TokenUse::After(wait)] {
        let (retried, obs) = echo_client::offer_hello_with(
            server.addr,
            &cfg,
            wait + Duration::from_secs(5),
            token_use,
        )
        .expect("client ran");
        assert!(retried, "{token_use:?}: no Retry");
        assert_eq!(obs.handshake, Handshake::NotCompleted, "{token_use:?}");
        let close = obs.peer_close.expect("a CONNECTION_CLOSE");
        assert!(!close.app && close.code == 0xb, "{token_use:?}: {close:?}");
        assert!(
            obs.elapsed < wait + Duration::from_secs(1),
            "{token_use:?}: the close came late ({:?})",
            obs.elapsed
        );
    }
    let (_, fresh) =
        echo_client::offer_hello_with(server.addr, &cfg, Duration::from_secs(5), TokenUse::AsGiven)
            .expect("client ran");
    assert!(
        matches!(fresh.handshake, Handshake::Completed { .. }),
        "{fresh:?}"
    );
    assert!(server.alive());
}

/// The hand-built ClientHello behind the no-ALPN test is otherwise sound:
/// with a good ALPN the server answers it with a ServerHello, with a bad
/// one it refuses it with 0x178, so the no-ALPN refusal is about ALPN.
#[test]
fn the_hand_built_client_hello_differs_only_in_alpn() {
    let server = Server::start(&[]);
    let offer = |alpn: &str| {
        let cfg = echo_client::ClientConfig {
            alpn: vec![alpn.to_string()],
            ..echo_client::ClientConfig::default()
        };
        echo_client::offer_hello(server.addr, &cfg, Duration::from_secs(10)).expect("client ran")
    };
    let good = offer("hq-interop");
    assert!(
        matches!(&good.handshake, Handshake::Completed { .. }) && good.peer_close.is_none(),
        "{good:?}"
    );
    let bad = offer("h3");
    assert_eq!(bad.handshake, Handshake::NotCompleted);
    assert_eq!(bad.peer_close.map(|c| c.code), Some(0x178));
}

#[test]
fn exactly_8192_bytes_echo_and_8193_are_refused_without_truncated_echo() {
    let mut server = Server::start(&[]);
    let full: Vec<u8> = (0..8192u32).map(|i| (i % 251) as u8).collect();
    assert_echoed(&server.echo("http/1.0", &full), &full);

    let over = vec![b'a'; 8193];
    let obs = server.echo("http/1.0", &over);
    let s = &obs.streams[0];
    assert!(
        s.received.is_empty(),
        "server echoed {} bytes",
        s.received.len()
    );
    assert!(!s.fin_received);
    let close = obs.peer_close.as_ref().expect("server closed");
    assert!(close.app && close.code == 0x10, "{close:?}");
    assert!(
        close.reason.contains("8192"),
        "reason names the limit: {close:?}"
    );
    assert!(server.alive());
    assert_echoed(&server.echo("http/1.0", b"next"), b"next");
}

#[test]
fn max_input_flag_moves_the_limit() {
    let server = Server::start(&["--max-input", "10"]);
    assert_echoed(&server.echo("http/1.0", b"0123456789"), b"0123456789");
    let obs = server.echo("http/1.0", b"0123456789A");
    assert_eq!(obs.peer_close.map(|c| c.code), Some(0x10));
}

#[test]
fn nothing_is_echoed_while_the_client_holds_fin_back() {
    let server = Server::start(&[]);
    let p = plan(vec![StreamPlan {
        chunks: vec![Chunk {
            data: b"held".to_vec(),
            pause_after: Duration::ZERO,
        }],
        fin: Fin::After(Duration::from_millis(300)),
        uni: false,
        abort: None,
    }]);
    let obs = server.client(&["http/1.0"], &p);
    assert_eq!(obs.streams[0].received_before_fin, 0, "{obs:?}");
    assert_echoed(&obs, b"held");
}

#[test]
fn zero_bytes_and_fin_give_zero_bytes_and_fin() {
    let server = Server::start(&[]);
    assert_echoed(&server.echo("http/1.0", b""), b"");
}

#[test]
fn every_byte_value_in_many_small_chunks_echoes_exactly() {
    let server = Server::start(&[]);
    let data: Vec<u8> = (0..=255u8).cycle().take(4000).collect();
    let p = plan(vec![StreamPlan {
        chunks: data
            .chunks(40)
            .map(|c| Chunk {
                data: c.to_vec(),
                pause_after: Duration::from_millis(1),
            })
            .collect(),
        fin: Fin::After(Duration::from_millis(20)),
        uni: false,
        abort: None,
    }]);
    let obs = server.client(&["hq-interop"], &p);
    assert_eq!(obs.streams[0].received_before_fin, 0);
    assert_echoed(&obs, &data);
}

#[test]
fn a_unidirectional_stream_is_refused_with_stop_sending_0x11() {
    let server = Server::start(&["--keep-alive"]);
    let mut uni = StreamPlan::echo(b"one way".to_vec());
    uni.uni = true;
    let mut p = plan(vec![uni, StreamPlan::echo(b"two way".to_vec())]);
    p.linger = Duration::from_millis(200);
    let obs = server.client(&["http/1.0"], &p);
    let uni = obs.streams.iter().find(|s| s.id & 0x2 != 0).unwrap();
    // The STOP_SENDING may arrive after our FIN; the bidi echo shows the
    // connection kept going either way.
    assert!(
        uni.stop_sending.is_none() || uni.stop_sending == Some(0x11),
        "{uni:?}"
    );
    let bidi = obs.streams.iter().find(|s| s.id & 0x2 == 0).unwrap();
    assert_eq!(bidi.received, b"two way");
}

#[test]
fn keep_alive_serves_several_streams_and_does_not_close() {
    let server = Server::start(&["--keep-alive"]);
    let mut p = plan(vec![
        StreamPlan::echo(b"first".to_vec()),
        StreamPlan::echo(b"second".to_vec()),
    ]);
    p.linger = Duration::from_millis(300);
    let obs = server.client(&["http/1.0"], &p);
    assert_eq!(obs.streams[0].received, b"first");
    assert_eq!(obs.streams[1].received, b"second");
    assert!(obs.streams.iter().all(|s| s.fin_received));
    assert_eq!(obs.peer_close, None, "keep-alive server closed on its own");
}

#[test]
fn twenty_clients_in_a_row_each_get_their_own_bytes() {
    let server = Server::start(&[]);
    for i in 0..20 {
        let data = format!("client {i} says hello").into_bytes();
        assert_echoed(&server.echo("http/1.0", &data), &data);
    }
}

#[test]
fn twenty_clients_at_once_each_get_their_own_bytes() {
    let server = Server::start(&[]);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let server = &server;
                scope.spawn(move || {
                    let data = vec![i as u8; 1000 + i * 100];
                    (server.echo("hq-interop", &data), data)
                })
            })
            .collect();
        for h in handles {
            let (obs, data) = h.join().unwrap();
            assert_echoed(&obs, &data);
        }
    });
}

#[test]
fn a_stalled_client_does_not_block_the_next_one() {
    let server = Server::start(&[]);
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        let stalled = scope.spawn(|| {
            let mut p = plan(vec![StreamPlan {
                chunks: vec![Chunk {
                    data: b"never finished".to_vec(),
                    pause_after: Duration::ZERO,
                }],
                fin: Fin::Never,
                uni: false,
                abort: None,
            }]);
            p.linger = Duration::from_secs(2);
            p.stop_after = Some(Duration::from_secs(2));
            p.notify_established = Some(tx);
            server.client(&["http/1.0"], &p)
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("stalled client connected");
        // Served while the stalled one still holds its stream open.
        let obs = server.echo("http/1.0", b"me first");
        assert_echoed(&obs, b"me first");
        let stalled = stalled.join().unwrap();
        assert!(stalled.streams[0].received.is_empty());
    });
}

#[test]
fn beyond_max_connections_clients_get_connection_refused() {
    let server = Server::start(&["--max-connections", "1"]);
    let mut hold = plan(vec![StreamPlan {
        chunks: vec![Chunk::default()],
        fin: Fin::Never,
        uni: false,
        abort: None,
    }]);
    hold.linger = Duration::from_secs(2);
    hold.stop_after = Some(Duration::from_secs(2));
    // Two clients that each hold a connection open: one gets the only slot,
    // the other must be told CONNECTION_REFUSED (transport 0x2).
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| server.client(&["http/1.0"], &hold));
        let b = scope.spawn(|| server.client(&["http/1.0"], &hold));
        (a.join().unwrap(), b.join().unwrap())
    });
    let refused = |o: &Observation| {
        o.peer_close
            .as_ref()
            .is_some_and(|c| !c.app && c.code == 0x2)
    };
    let (held, turned_away) = if refused(&a) { (b, a) } else { (a, b) };
    assert!(refused(&turned_away), "nobody was refused: {turned_away:?}");
    assert_eq!(turned_away.handshake, Handshake::NotCompleted);
    assert!(
        matches!(held.handshake, Handshake::Completed { .. }),
        "{held:?}"
    );
    // Once the holder left, new clients are served again.
    assert_echoed(&server.echo("http/1.0", b"room again"), b"room again");
}

/// RFC 9000 §8.1: to a client that never proves its address the server
/// sends at most three times what it received, retransmissions included.
#[test]
fn without_retry_an_unvalidated_client_gets_at_most_three_times_its_bytes() {
    use echo_client::initial::{self, Hello, Keys};
    let server = Server::start(&["--no-retry"]);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(server.addr).unwrap();
    let (dcid, scid) = ([7u8; 16], [9u8; 8]);
    let hello = initial::client_hello(&Hello {
        server_name: "localhost",
        alpn: &[b"http/1.0"],
        scid: &scid,
        x25519: &[5; 32],
        random: [1; 32],
        version: initial::Version::V1,
    });
    let pkt = initial::seal_initial(
        &Keys::initial(&dcid, true),
        &dcid,
        &scid,
        &[],
        0,
        &initial::crypto_frame(0, &hello),
        initial::MIN_INITIAL_DATAGRAM,
    );
    let sent = socket.send(&pkt).unwrap();
    // Long enough for the server's first retransmissions (PTO about 1 s).
    let until = std::time::Instant::now() + Duration::from_millis(2500);
    let mut received = 0;
    let mut buf = [0u8; 65536];
    while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match socket.recv(&mut buf) {
            Ok(n) => received += n,
            Err(_) => break,
        }
    }
    assert!(received > 0, "the server answered nothing");
    assert!(
        received <= 3 * sent,
        "{received} bytes back for {sent} received"
    );
}

/// RFC 9000 §6.1: a client offering a version the server does not speak
/// (here version 2, whose Initial has version 1's 0-RTT type bits) gets a
/// Version Negotiation packet listing version 1, not silence.
#[test]
fn a_version_2_client_gets_a_version_negotiation_listing_version_1() {
    let server = Server::start(&[]);
    let cfg = ClientConfig {
        alpn: vec!["http/1.0".into()],
        version: echo_client::initial::Version::V2,
        ..ClientConfig::default()
    };
    let obs = echo_client::run(server.addr, &cfg, &plan(Vec::new())).expect("client ran");
    let versions = obs
        .version_negotiation
        .expect("a Version Negotiation packet");
    assert!(
        versions.contains(&echo_client::initial::VERSION_1),
        "{versions:x?}"
    );
}
