//! Any bytes as a UDP datagram into the server's sans-IO endpoint, with and
//! without Retry: it must never panic, and with Retry no input may leave a
//! connection behind (only a valid token can create one).
//!
//! Input: byte 0 picks the endpoint (bit 0: Retry) and bytes 1..3 the
//! sender's port; the rest is the datagram.
#![no_main]

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use server::endpoint::{Endpoint, Options, MAX_DATAGRAM};

fn endpoint(retry: bool) -> Endpoint {
    server::pair::endpoint(Options {
        retry,
        max_connections: 1000,
        ..Options::default()
    })
}

thread_local! {
    static ENDPOINTS: RefCell<[Endpoint; 2]> = RefCell::new([endpoint(false), endpoint(true)]);
}

fuzz_target!(|data: &[u8]| {
    let [flags, p0, p1, datagram @ ..] = data else {
        return;
    };
    let retry = flags & 1 == 1;
    let from = SocketAddr::from(([127, 0, 0, 1], u16::from_be_bytes([*p0, *p1])));
    let mut d = datagram.to_vec();
    ENDPOINTS.with_borrow_mut(|eps| {
        let ep = &mut eps[retry as usize];
        ep.recv(&mut d, from, Instant::now());
        let mut out = vec![0u8; MAX_DATAGRAM];
        while ep.poll_transmit(&mut out).is_some() {}
        if retry {
            assert_eq!(
                ep.connection_count(),
                0,
                "a datagram without a token made state"
            );
        } else {
            ep.on_timeout(Instant::now());
            while ep.poll_transmit(&mut out).is_some() {}
        }
    });
});
