//! Bounded fuzzing of the datagram path on stable Rust: seeded random and
//! mutated datagrams go straight into the sans-IO endpoint (no sockets).
//! It must never panic, must keep no state for garbage, and must still
//! complete a real handshake and echo afterwards. The coverage-guided
//! counterpart is the `datagram` target in fuzz/ (`bash ci/fuzz.sh`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use server::endpoint::{Endpoint, Options, MAX_DATAGRAM};
use server::pair::{self, Pair};

fn endpoint(retry: bool) -> Endpoint {
    pair::endpoint(Options {
        retry,
        max_connections: 100_000,
        ..Options::default()
    })
}

fn client(from: SocketAddr, rng: &mut impl RngCore) -> quiche::Connection {
    let mut scid = [0u8; 16];
    rng.fill_bytes(&mut scid);
    pair::client(&scid, from)
}

/// Datagrams a real client sends first: its Initial(s).
fn seeds(rng: &mut impl RngCore) -> Vec<Vec<u8>> {
    let from: SocketAddr = "127.0.0.1:50000".parse().unwrap();
    let mut c = client(from, rng);
    let mut out = vec![0u8; MAX_DATAGRAM];
    let mut seeds = Vec::new();
    while let Ok((n, _)) = c.send(&mut out) {
        seeds.push(out[..n].to_vec());
    }
    seeds
}

fn mutate(seed: &[u8], rng: &mut impl RngCore) -> Vec<u8> {
    let mut d = seed.to_vec();
    match rng.random_range(0..6) {
        0 => {
            let n = rng.random_range(0..=d.len());
            d.truncate(n);
        }
        1 => {
            for _ in 0..rng.random_range(1..8) {
                let at = rng.random_range(0..d.len());
                d[at] ^= 1 << rng.random_range(0..8);
            }
        }
        2 => {
            let at = rng.random_range(0..d.len());
            d[at] = rng.random();
        }
        3 => {
            // Random bytes with a plausible first byte.
            let n = rng.random_range(0..1500);
            d = vec![0; n];
            rng.fill_bytes(&mut d);
            if let Some(b) = d.first_mut() {
                *b |= 0x40;
            }
        }
        4 => {
            // Length fields and connection-ID lengths are bytes 5..: smash one.
            let at = rng.random_range(5..d.len().min(64));
            d[at] = [0, 0xff, 0x3f, 0x40, 21][rng.random_range(0..5)];
        }
        _ => {
            let n = rng.random_range(0..64);
            let mut extra = vec![0; n];
            rng.fill_bytes(&mut extra);
            let at = rng.random_range(0..=d.len());
            d.splice(at..at, extra);
        }
    }
    d
}

/// Whether a real client, in memory, still gets its echo.
fn real_echo(ep: Endpoint, rng: &mut impl RngCore) -> bool {
    let mut pair = Pair::with(ep, client(pair::CLIENT, rng), pair::CLIENT);
    pair.echo(b"after the fuzz").as_deref() == Some(&b"after the fuzz"[..])
}

fn fuzz(retry: bool, seed: u64, iterations: u32) {
    let mut ep = endpoint(retry);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let seeds = seeds(&mut rng);
    assert!(!seeds.is_empty());
    let mut out = vec![0u8; MAX_DATAGRAM];
    for i in 0..iterations {
        let base = &seeds[i as usize % seeds.len()];
        let mut d = mutate(base, &mut rng);
        let port = 1024 + (rng.next_u32() % 60000) as u16;
        let from = SocketAddr::from(([127, 0, 0, 1], port));
        ep.recv(&mut d, from, Instant::now());
        while ep.poll_transmit(&mut out).is_some() {}
    }
    ep.on_timeout(Instant::now());
    while ep.poll_transmit(&mut out).is_some() {}
    if retry {
        // Without a valid token nothing may create state.
        assert_eq!(ep.connection_count(), 0, "garbage left connection state");
    } else {
        // Without Retry a decryptable Initial may open a connection (that
        // is what Retry is for); it idles out like any other.
        assert!(ep.connection_count() <= iterations as usize);
    }
    assert!(real_echo(ep, &mut rng), "no echo after the fuzz");
}

#[test]
fn mutated_datagrams_never_break_the_endpoint_with_retry() {
    fuzz(true, 1, 200_000);
}

#[test]
fn mutated_datagrams_never_break_the_endpoint_without_retry() {
    fuzz(false, 2, 50_000);
}

/// Writes the seed inputs of the `datagram` cargo-fuzz target (a real
/// client's first datagrams, for the endpoint with and without Retry) into
/// fuzz/seeds/datagram. Run: `cargo test -p server --test fuzz -- --ignored`.
#[test]
#[ignore = "writes files; run by hand when the fuzz input format changes"]
fn write_cargo_fuzz_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/datagram");
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for (i, d) in seeds(&mut rng).iter().enumerate() {
        for retry in [0u8, 1] {
            // Input format: flags (bit 0: Retry), sender port (2 bytes), datagram.
            let mut input = vec![retry, 0xc3, 0x50];
            input.extend_from_slice(d);
            std::fs::write(dir.join(format!("initial-{i}-retry-{retry}")), input).unwrap();
        }
    }
}
