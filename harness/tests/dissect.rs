//! The wire crate's hand-built Initials, read by an independent decoder:
//! tshark dissects each (version 1 and 2, with and without ALPN, with a
//! Retry token) and must find the fields we meant and no malformed one.
//! Skipped, saying so, where tshark is not installed, unless
//! HARNESS_REQUIRE_TSHARK is set (as CI does).

use std::net::SocketAddr;
use std::process::Command;

use quic_timeline::capture::Pcap;
use quic_wire::{client_hello, crypto_frame, seal_initial, Hello, Keys, Version};

/// One Initial of a client's first flight, as the raw client builds it;
/// `conn` tells connections apart (tshark dissects a CRYPTO offset once
/// per connection).
fn initial(conn: u8, version: Version, alpn: &[&[u8]], token: &[u8]) -> Vec<u8> {
    let dcid = [0x83u8, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, conn];
    let scid = [0x11u8; 8];
    let hello = client_hello(&Hello {
        server_name: "localhost",
        alpn,
        scid: &scid,
        x25519: &[9; 32],
        random: [7; 32],
        version,
    });
    let keys = Keys::initial_for(version, &dcid, true);
    let frames = crypto_frame(0, &hello);
    seal_initial(
        &keys,
        &dcid,
        &scid,
        token,
        0,
        &frames,
        quic_wire::MIN_INITIAL_DATAGRAM,
    )
}

fn tshark() -> Option<&'static str> {
    let found = Command::new("tshark").arg("--version").output().is_ok();
    if !found && std::env::var_os("HARNESS_REQUIRE_TSHARK").is_some() {
        panic!("HARNESS_REQUIRE_TSHARK is set but tshark is not installed");
    }
    found.then_some("tshark")
}

/// tshark's fields for each datagram, and its expert infos of warning
/// level and above, for a capture of `datagrams`.
fn dissect(bin: &str, datagrams: &[Vec<u8>], fields: &[&str]) -> (Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("initials.pcap");
    let mut pcap = Pcap::new(std::fs::File::create(&file).unwrap()).unwrap();
    let server: SocketAddr = "127.0.0.1:4433".parse().unwrap();
    for (i, d) in datagrams.iter().enumerate() {
        let client = SocketAddr::from(([127, 0, 0, 1], 50_000 + i as u16));
        pcap.datagram(client, server, d);
    }
    pcap.finish();
    let mut args = vec!["-r".to_string(), file.display().to_string()];
    args.extend(
        [
            "-d",
            "udp.port==4433,quic",
            "-T",
            "fields",
            "-E",
            "separator=|",
        ]
        .map(String::from),
    );
    for f in fields {
        args.extend(["-e".to_string(), f.to_string()]);
    }
    let out = Command::new(bin).args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    let expert = Command::new(bin)
        .args([
            "-r",
            &file.display().to_string(),
            "-d",
            "udp.port==4433,quic",
        ])
        .args(["-q", "-z", "expert,warn"])
        .output()
        .unwrap();
    (rows, String::from_utf8_lossy(&expert.stdout).into_owned())
}

/// The expert report lists no warning or error.
fn clean(expert: &str) {
    let bad: Vec<&str> = expert
        .lines()
        .filter(|l| l.contains("Warning") || l.contains("Error") || l.contains("Malformed"))
        .collect();
    assert!(bad.is_empty(), "tshark's expert infos:\n{expert}");
}

#[test]
fn initials_of_both_versions_dissect_as_meant_with_no_malformed_field() {
    let Some(bin) = tshark() else {
        eprintln!("skipped: tshark is not installed");
        return;
    };
    let datagrams = [
        initial(0, Version::V1, &[b"http/1.0", b"hq-interop"], b""),
        initial(1, Version::V1, &[], b""),
        initial(2, Version::V1, &[b"http/1.0"], b"a retry token of ours"),
        initial(3, Version::V2, &[b"hq-interop"], b""),
    ];
    let fields = [
        "quic.version",
        "quic.long.packet_type",
        "quic.token_length",
        "tls.handshake.type",
        "tls.handshake.extensions_alpn_str",
        "tls.handshake.extensions_server_name",
        "tls.quic.parameter.vi.chosen_version",
        "tls.quic.parameter.vi.other_version",
    ];
    let (rows, expert) = dissect(bin, &datagrams, &fields);
    assert_eq!(rows.len(), 4, "{rows:?}");
    let row = |i: usize| rows[i].split('|').map(String::from).collect::<Vec<_>>();
    for (i, version) in ["0x00000001", "0x00000001", "0x00000001", "0x6b3343cf"]
        .iter()
        .enumerate()
    {
        let r = row(i);
        assert_eq!(r[0], *version, "datagram {i}: {r:?}");
        assert_eq!(
            r[3], "1",
            "datagram {i} carries no ClientHello tshark can read: {r:?}"
        );
        assert_eq!(r[5], "localhost", "datagram {i}: {r:?}");
    }
    assert_eq!(row(0)[4], "http/1.0,hq-interop");
    assert_eq!(row(1)[4], "", "no ALPN extension at all");
    assert_eq!(row(2)[2], "21", "the token's length");
    assert_eq!(row(3)[4], "hq-interop");
    // RFC 9368 §3: a client's Available Versions include its Chosen
    // Version; version 1 Initials carry no version_information.
    assert_eq!((row(0)[6].as_str(), row(0)[7].as_str()), ("", ""));
    assert_eq!(row(3)[6], "0x6b3343cf");
    let v2 = row(3);
    let available: Vec<&str> = v2[7].split(',').collect();
    assert_eq!(available, ["0x6b3343cf", "0x00000001"], "{v2:?}");
    clean(&expert);
}
