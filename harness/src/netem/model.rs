//! The network model, sans-IO: given each datagram in turn (which client,
//! which way, when it arrived), decides whether it is dropped, when it is
//! delivered, duplicated or corrupted. Each client and direction draws from
//! its own stream of one seeded generator, so the fate of "the n-th
//! datagram from client c to the server" depends only on the seed, however
//! the other flows interleave with it: a seed replays a run.
//!
//! Random loss spares what no server could make up for (see [`QUIET`],
//! [`WAKE`] and [`spares_client_handshake`]). Losses a scenario lists,
//! blackholes and stalls are its design and are never spared.

use std::collections::HashMap;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::scenario::NetworkSpec;

/// A datagram that comes after this long without one in its flow is never
/// dropped at random.
///
/// Why: a sender that hears nothing waits a probe timeout, doubled at each
/// probe that goes unanswered (RFC 9002 §6.2.1), so a probe after a long
/// silence is what repeated loss has already stretched. Losing it too
/// leaves the sender silent for twice as long, past idle timeouts servers
/// legitimately choose (the reference's 5 s; RFC 9000 §10.1 bounds it only
/// below, by three of the server's own PTOs) and past the deadline. Seen
/// before this rule, on the reference: s_client backing off 1, 2, 4, 8,
/// 16 s after three Retries in a row were dropped; a client whose RTT
/// sample included a lost ServerHello's 1 s wait (PTO about 3 s) losing its
/// Finished, or its stream data, twice. No server can make a client's lost
/// probe arrive. With this rule every backoff ends at its first probe of
/// 500 ms or more, so a flow is silent for at most about one PTO plus a
/// second. Scenarios that test heavier loss list their drops.
pub const QUIET: Duration = Duration::from_millis(500);

/// How long after a flow wakes from [`QUIET`] its datagrams are all spared:
/// a probe is a burst, not one datagram (up to two probe datagrams, RFC
/// 9002 §6.2.4, and the flights of several packet number spaces, paced).
/// Seen before: quiche sending its Handshake probe at 2.008 s and the
/// ServerHello it was meant to bring again at 2.034 s, the second lost.
pub const WAKE: Duration = Duration::from_millis(100);

/// Whether random loss spares `bytes` for carrying a client's Handshake
/// packet (its Finished, or its acknowledgment of the server's flight).
/// Losing it tests the client stack, not the server, which can only wait
/// and resend its own flight: quinn 0.11 never resends a lost Finished and
/// probes with 1-RTT packets the server cannot read yet (seen: the server
/// idled out after 5 s waiting for it), a fault other stacks have had too.
pub fn spares_client_handshake(dir: Dir, bytes: &[u8]) -> bool {
    dir == Dir::ToServer
        && echo_client::initial::packet_types(bytes)
            .contains(&echo_client::initial::PacketType::Handshake)
}

/// Which way a datagram travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    ToServer,
    ToClient,
}

/// One copy of a datagram to deliver, `after` its arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub after: Duration,
    pub bytes: Vec<u8>,
}

/// What the model did, per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Tally {
    pub datagrams: u64,
    pub bytes: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub corrupted: u64,
    pub reordered: u64,
    /// Random losses not made: they would have dropped what a flow sent
    /// on waking from [`QUIET`], or a client's Handshake packet.
    pub spared: u64,
    /// Dropped by the relay, not the model: its queue was full (a storm
    /// between the endpoints; see `netem::relay`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub overflowed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One client's flow in one direction.
struct Flow {
    rng: ChaCha8Rng,
    index: u64,
    burst_left: u32,
    /// When a `stall_to_server` began for this flow.
    stalled_at: Option<Duration>,
    /// When its last datagram arrived.
    last_at: Option<Duration>,
    /// When it last woke from [`QUIET`].
    woke_at: Option<Duration>,
}

pub struct Model {
    spec: NetworkSpec,
    seed: u64,
    flows: HashMap<(usize, Dir), Flow>,
    to_server: Tally,
    to_client: Tally,
}

impl Model {
    pub fn new(spec: NetworkSpec, seed: u64) -> Model {
        Model {
            spec,
            seed,
            flows: HashMap::new(),
            to_server: Tally::default(),
            to_client: Tally::default(),
        }
    }

    /// Totals over all clients, one direction.
    pub fn tally(&self, dir: Dir) -> Tally {
        match dir {
            Dir::ToServer => self.to_server,
            Dir::ToClient => self.to_client,
        }
    }

    /// Decides the fate of one datagram of `client` (numbered in order of
    /// first appearance) that arrived `at` after the relay started. An
    /// empty result means it was dropped.
    pub fn on_datagram(
        &mut self,
        dir: Dir,
        client: usize,
        at: Duration,
        bytes: &[u8],
    ) -> Vec<Delivery> {
        let spec = &self.spec;
        let seed = self.seed;
        let flow = self.flows.entry((client, dir)).or_insert_with(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(client as u64 * 2 + u64::from(dir == Dir::ToClient));
            Flow {
                rng,
                index: 0,
                burst_left: 0,
                stalled_at: None,
                last_at: None,
                woke_at: None,
            }
        });
        let tally = match dir {
            Dir::ToServer => &mut self.to_server,
            Dir::ToClient => &mut self.to_client,
        };
        let rng = &mut flow.rng;
        let index = flow.index;
        flow.index += 1;
        tally.datagrams += 1;
        tally.bytes += bytes.len() as u64;
        let d = Draws::new(rng, spec, bytes.len());
        let listed = match dir {
            Dir::ToServer => &spec.drop_to_server,
            Dir::ToClient => &spec.drop_to_client,
        };
        let at_ms = at.as_millis() as u64;
        let blackholed = spec
            .blackhole
            .iter()
            .any(|w| (w.from_ms..w.to_ms).contains(&at_ms));
        let stalled = match (&spec.stall_to_server, dir) {
            (Some(st), Dir::ToServer) if index >= st.after => {
                let since = *flow.stalled_at.get_or_insert(at);
                at < since + Duration::from_millis(st.ms)
            }
            _ => false,
        };
        let in_burst = flow.burst_left > 0;
        if in_burst {
            flow.burst_left -= 1;
        } else if d.lost {
            flow.burst_left = spec.loss_burst.saturating_sub(1);
        }
        let designed = listed.contains(&index) || blackholed || stalled;
        let random = (in_burst || d.lost) && !designed;
        if flow
            .last_at
            .is_some_and(|last| at.saturating_sub(last) >= QUIET)
        {
            flow.woke_at = Some(at);
        }
        flow.last_at = Some(at);
        let waking = flow.woke_at.is_some_and(|w| at.saturating_sub(w) <= WAKE);
        if random && (waking || spares_client_handshake(dir, bytes)) {
            tally.spared += 1;
        } else if designed || random {
            tally.dropped += 1;
            return Vec::new();
        }
        d.deliveries(spec, bytes, tally)
    }
}

/// One datagram's random numbers, all drawn every time whatever the
/// outcome, so one packet's fate does not shift the draws of the packets
/// after it.
struct Draws {
    lost: bool,
    reorder: bool,
    duplicate: bool,
    corrupt: bool,
    jitter: u64,
    dup_jitter: u64,
    flip_at: usize,
    flip_bit: u8,
}

impl Draws {
    fn new(rng: &mut ChaCha8Rng, spec: &NetworkSpec, len: usize) -> Draws {
        Draws {
            lost: rng.random_bool(spec.loss),
            reorder: rng.random_bool(spec.reorder),
            duplicate: rng.random_bool(spec.duplicate),
            corrupt: rng.random_bool(spec.corrupt),
            jitter: rng.random_range(0..=spec.jitter_ms),
            dup_jitter: rng.random_range(0..=spec.jitter_ms),
            flip_at: rng.random_range(0..len.max(1)),
            flip_bit: rng.random_range(0..8),
        }
    }

    /// What a datagram that was not dropped becomes: delayed (and maybe
    /// reordered), maybe corrupted, maybe duplicated.
    fn deliveries(&self, spec: &NetworkSpec, bytes: &[u8], tally: &mut Tally) -> Vec<Delivery> {
        let mut delay = spec.delay_ms + self.jitter;
        if self.reorder {
            delay += spec.reorder_ms;
            tally.reordered += 1;
        }
        let mut first = bytes.to_vec();
        if self.corrupt && !first.is_empty() {
            first[self.flip_at] ^= 1 << self.flip_bit;
            tally.corrupted += 1;
        }
        let mut out = vec![Delivery {
            after: Duration::from_millis(delay),
            bytes: first,
        }];
        if self.duplicate {
            tally.duplicated += 1;
            out.push(Delivery {
                after: Duration::from_millis(spec.delay_ms + self.dup_jitter),
                bytes: bytes.to_vec(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Stall, Window};

    fn run(spec: &NetworkSpec, seed: u64, n: usize) -> Vec<Vec<Delivery>> {
        let mut m = Model::new(spec.clone(), seed);
        (0..n)
            .map(|i| {
                m.on_datagram(
                    Dir::ToServer,
                    0,
                    Duration::from_millis(i as u64),
                    &[i as u8; 100],
                )
            })
            .collect()
    }

    #[test]
    fn a_clean_network_delivers_everything_at_once() {
        let out = run(&NetworkSpec::default(), 1, 100);
        assert!(out.iter().all(|d| d.len() == 1 && d[0].after.is_zero()));
        assert_eq!(out[7][0].bytes, vec![7; 100]);
    }

    #[test]
    fn the_same_seed_gives_the_same_fates_and_another_seed_does_not() {
        let spec = NetworkSpec {
            loss: 0.1,
            reorder: 0.1,
            duplicate: 0.05,
            corrupt: 0.05,
            jitter_ms: 5,
            ..NetworkSpec::default()
        };
        assert_eq!(run(&spec, 42, 500), run(&spec, 42, 500));
        assert_ne!(run(&spec, 42, 500), run(&spec, 43, 500));
    }

    #[test]
    fn one_flow_s_fates_do_not_depend_on_the_others() {
        let spec = NetworkSpec {
            loss: 0.3,
            ..NetworkSpec::default()
        };
        let fates = |interleave: bool| {
            let mut m = Model::new(spec.clone(), 5);
            let mut mine = Vec::new();
            for i in 0..200u64 {
                if interleave && i % 3 == 0 {
                    m.on_datagram(Dir::ToClient, 0, Duration::ZERO, b"other");
                    m.on_datagram(Dir::ToServer, 1, Duration::ZERO, b"other");
                }
                mine.push(m.on_datagram(Dir::ToServer, 0, Duration::from_millis(i), b"x"));
            }
            mine
        };
        assert_eq!(fates(false), fates(true));
    }

    #[test]
    fn rates_come_out_near_what_was_asked() {
        let spec = NetworkSpec {
            loss: 0.1,
            duplicate: 0.05,
            ..NetworkSpec::default()
        };
        let mut m = Model::new(spec, 7);
        for i in 0..20_000u64 {
            m.on_datagram(Dir::ToClient, 0, Duration::from_millis(i), b"x");
        }
        let t = m.tally(Dir::ToClient);
        assert!((1_700..2_300).contains(&t.dropped), "{t:?}");
        assert!((700..1_100).contains(&t.duplicated), "{t:?}");
        assert_eq!(m.tally(Dir::ToServer), Tally::default());
    }

    #[test]
    fn listed_indices_and_blackhole_windows_are_dropped_exactly() {
        let spec = NetworkSpec {
            drop_to_server: vec![0, 2],
            blackhole: vec![Window {
                from_ms: 10,
                to_ms: 12,
            }],
            ..NetworkSpec::default()
        };
        let out = run(&spec, 1, 20);
        let dropped: Vec<usize> = (0..20).filter(|&i| out[i].is_empty()).collect();
        assert_eq!(dropped, vec![0, 2, 10, 11]);
    }

    #[test]
    fn a_stall_drops_everything_to_the_server_after_n_for_a_while() {
        let spec = NetworkSpec {
            stall_to_server: Some(Stall { after: 2, ms: 5 }),
            ..NetworkSpec::default()
        };
        // run() sends one datagram per millisecond, to the server.
        let out = run(&spec, 1, 12);
        let dropped: Vec<usize> = (0..12).filter(|&i| out[i].is_empty()).collect();
        assert_eq!(dropped, vec![2, 3, 4, 5, 6]);
    }

    #[test]
    fn bursts_drop_consecutive_datagrams() {
        let spec = NetworkSpec {
            loss: 0.05,
            loss_burst: 4,
            ..NetworkSpec::default()
        };
        let out = run(&spec, 3, 2_000);
        let first = out.iter().position(|d| d.is_empty()).unwrap();
        assert!(out[first..first + 4].iter().all(|d| d.is_empty()));
    }

    #[test]
    fn random_loss_spares_the_first_datagram_after_a_quiet_spell() {
        let spec = NetworkSpec {
            loss: 1.0,
            ..NetworkSpec::default()
        };
        let mut m = Model::new(spec, 1);
        let ms = Duration::from_millis;
        let mut send = |dir, at| !m.on_datagram(dir, 0, ms(at), b"probe").is_empty();
        // Everything lost while the flow is busy; what it sends in the
        // 100 ms after 500 ms of silence gets through; the other way keeps
        // time of its own.
        assert!(!send(Dir::ToServer, 0));
        assert!(!send(Dir::ToServer, 200));
        assert!(!send(Dir::ToServer, 699));
        assert!(send(Dir::ToServer, 1_199));
        assert!(send(Dir::ToServer, 1_290));
        assert!(!send(Dir::ToClient, 1_295));
        assert!(!send(Dir::ToServer, 1_300));
        assert!(send(Dir::ToServer, 3_300));
        assert_eq!(m.tally(Dir::ToServer).spared, 3);
        assert_eq!(m.tally(Dir::ToServer).dropped, 4);
    }

    #[test]
    fn random_loss_spares_a_client_s_handshake_packets_only() {
        let spec = NetworkSpec {
            loss: 1.0,
            ..NetworkSpec::default()
        };
        let mut m = Model::new(spec, 1);
        // A long header, version 1, type Handshake (0b10), its length.
        let mut handshake = vec![0xe0, 0, 0, 0, 1, 1, 7, 1, 8, 0x40, 20];
        handshake.resize(31, 0);
        let initial = {
            let mut p = vec![0xc0, 0, 0, 0, 1, 1, 7, 1, 8, 0, 0x40, 20];
            p.resize(32, 0);
            p
        };
        let coalesced = [initial.clone(), handshake.clone()].concat();
        let at = Duration::ZERO;
        assert_eq!(m.on_datagram(Dir::ToServer, 0, at, &handshake).len(), 1);
        assert_eq!(m.on_datagram(Dir::ToServer, 0, at, &coalesced).len(), 1);
        assert!(m.on_datagram(Dir::ToServer, 0, at, &initial).is_empty());
        assert!(m.on_datagram(Dir::ToClient, 0, at, &handshake).is_empty());
    }

    #[test]
    fn listed_drops_are_never_spared() {
        let spec = NetworkSpec {
            drop_to_client: vec![0, 1, 2],
            ..NetworkSpec::default()
        };
        let mut m = Model::new(spec, 1);
        for s in 0..3 {
            let out = m.on_datagram(Dir::ToClient, 0, Duration::from_secs(s * 10), &[0xc0; 100]);
            assert!(out.is_empty());
        }
        assert_eq!(m.tally(Dir::ToClient).spared, 0);
    }

    #[test]
    fn corruption_flips_one_bit_and_reordering_delays() {
        let spec = NetworkSpec {
            corrupt: 1.0,
            reorder: 1.0,
            reorder_ms: 15,
            delay_ms: 5,
            ..NetworkSpec::default()
        };
        let out = run(&spec, 9, 1);
        let d = &out[0][0];
        assert_eq!(d.after, Duration::from_millis(20));
        let flipped: u32 = d.bytes.iter().map(|b| b.count_ones()).sum();
        assert_eq!(flipped, 1, "one bit set in an all-zero datagram");
    }
}
