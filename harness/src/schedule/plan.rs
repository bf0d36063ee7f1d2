//! The cases of a run in report order, and how each may share the machine.

use crate::case::load::heavy;
use crate::scenario::{DriverKind, FinSpec, Scenario};

/// One case: a scenario, by one driver, against one server.
#[derive(Debug, Clone, Copy)]
pub struct Case<'a> {
    /// Position in the report (servers, then scenarios, then drivers).
    pub index: usize,
    /// Index into the run's servers.
    pub server: usize,
    pub scenario: &'a Scenario,
    pub driver: DriverKind,
    /// Gets the machine to itself (see [`runs_alone`]).
    pub alone: bool,
    /// A rough guess of its wall time, only to start long cases first.
    pub cost_ms: u64,
    /// Which of `--repeat` runs this is (0 for the first, the only one
    /// without `--repeat`); each run has its own seed.
    pub run: u32,
}

/// Whether a scenario needs the machine to itself: it floods the server
/// and measures its CPU per datagram and its answers to spoofed clients
/// (`attack` with datagrams or spoofed clients), or it opens
/// [`crate::case::load::CROWD`] connections or more, which load both cores
/// by themselves: alone, it neither slows the others' timing checks nor is
/// slowed by them. Every other case shares the machine; its checks count
/// what happened rather than how fast, or have margins that hold with the
/// other cases running beside it.
pub fn runs_alone(sc: &Scenario) -> bool {
    heavy(sc).is_some()
}

/// How long a case is likely to take, from what it waits for: pauses,
/// holds, delayed FINs, token ages, and the retransmissions that an
/// impaired network forces (about a second each). Only an ordering hint.
pub fn cost_hint(sc: &Scenario, driver: DriverKind) -> u64 {
    let per_conn: Vec<u64> = sc
        .connections
        .iter()
        .map(|c| {
            let streams: u64 = c
                .streams
                .iter()
                .map(|st| {
                    let len = st.send.bytes(0).len().max(1);
                    let chunks = st.chunk_size.map_or(1, |s| len.div_ceil(s.max(1))) as u64;
                    let fin = match st.fin {
                        FinSpec::AfterMs(ms) => ms,
                        _ => 0,
                    };
                    st.pause_ms * chunks + fin
                })
                .max()
                .unwrap_or(0);
            (streams + c.hold_ms.unwrap_or(0) + 50)
                * u64::from(if sc.concurrent { 1 } else { c.repeat })
        })
        .collect();
    let conns = if sc.concurrent {
        per_conn.iter().copied().max().unwrap_or(0)
    } else {
        per_conn.iter().sum()
    };
    let network = sc.network.as_ref().map_or(0, |n| {
        let stall = n.stall_to_server.as_ref().map_or(0, |s| s.ms);
        1000 + stall + 4 * (n.delay_ms + n.jitter_ms)
    });
    let tokens = sc
        .attack
        .as_ref()
        .filter(|a| a.stale_tokens > 0)
        .map_or(0, |a| a.token_age_ms);
    let driver_cost = match driver {
        // s_client starts a process per connection and waits out its close.
        DriverKind::Openssl => 2,
        DriverKind::Native | DriverKind::Quinn => 1,
    };
    (conns + network + tokens) * driver_cost
}

/// Every (server, scenario, driver) case, in report order: each server in
/// turn, each scenario in file order, each driver it names that the user
/// kept (`drivers` empty: all), `repeat` runs of each one after another.
pub fn cases<'a>(
    servers: usize,
    scenarios: &[&'a Scenario],
    drivers: &[DriverKind],
    repeat: u32,
) -> Vec<Case<'a>> {
    let mut out = Vec::new();
    for server in 0..servers {
        for sc in scenarios {
            for &d in &sc.drivers {
                if !drivers.is_empty() && !drivers.contains(&d) {
                    continue;
                }
                for run in 0..repeat.max(1) {
                    out.push(Case {
                        index: out.len(),
                        server,
                        scenario: sc,
                        driver: d,
                        alone: runs_alone(sc),
                        cost_ms: cost_hint(sc, d),
                        run,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::load;
    use std::path::PathBuf;

    fn suite() -> Vec<Scenario> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        load(&[dir])
            .unwrap()
            .into_iter()
            .map(|l| l.scenario)
            .collect()
    }

    #[test]
    fn floods_and_crowds_run_alone_and_the_rest_share() {
        let all = suite();
        let alone: Vec<&str> = all
            .iter()
            .filter(|s| runs_alone(s))
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(alone, ["concurrency/1000-at-once", "hostile/flood"]);
    }

    #[test]
    fn cases_keep_report_order_and_long_waits_cost_more() {
        let all = suite();
        let refs: Vec<&Scenario> = all.iter().collect();
        let cases = cases(2, &refs, &[DriverKind::Native], 1);
        assert!(cases.iter().enumerate().all(|(i, c)| c.index == i));
        assert_eq!(cases[0].server, 0);
        assert_eq!(cases.last().unwrap().server, 1);
        assert!(cases.iter().all(|c| c.driver == DriverKind::Native));
        let cost = |id: &str| {
            let sc = all.iter().find(|s| s.id == id).unwrap();
            (
                cost_hint(sc, DriverKind::Native),
                cost_hint(sc, DriverKind::Openssl),
            )
        };
        let (quick, quick_ssl) = cost("fin/binary");
        let (amp, amp_ssl) = cost("network/amplification-limit");
        assert!(amp > 4 * quick, "{amp} vs {quick}");
        assert!(amp_ssl > amp && quick_ssl > quick);
    }

    #[test]
    fn repeated_runs_of_a_case_stand_together_in_report_order() {
        let all = suite();
        let refs: Vec<&Scenario> = all.iter().take(2).collect();
        let cases = cases(1, &refs, &[DriverKind::Native], 3);
        let runs: Vec<(&str, u32)> = cases
            .iter()
            .map(|c| (c.scenario.id.as_str(), c.run))
            .collect();
        let (a, b) = (refs[0].id.as_str(), refs[1].id.as_str());
        assert_eq!(runs, [(a, 0), (a, 1), (a, 2), (b, 0), (b, 1), (b, 2)]);
        assert!(cases.iter().enumerate().all(|(i, c)| c.index == i));
    }
}
