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

/// One part of a run split across machines (`--partition K/N`): the
/// `K`th of `N` (from 1). Case `i` of the whole run's report order (a
/// server, scenario and driver; all its `--repeat` runs together) is in
/// part `i % N + 1`, so the split depends only on the servers, scenarios
/// and drivers asked for, not on the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Partition {
    pub part: u32,
    pub of: u32,
}

impl std::str::FromStr for Partition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?}: expected K/N with 1 <= K <= N (e.g. 1/2)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (part, of): (u32, u32) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if part == 0 || part > of {
            return Err(bad());
        }
        Ok(Partition { part, of })
    }
}

impl Partition {
    /// Whether the `i`th (server, scenario, driver) case is in this part.
    pub fn keeps(&self, i: usize) -> bool {
        i % self.of as usize == (self.part - 1) as usize
    }
}

/// Every (server, scenario, driver) case, in report order: each server in
/// turn, each scenario in file order, each driver it names that the user
/// kept (`drivers` empty: all), `repeat` runs of each one after another;
/// only those of `part` when the run is split.
pub fn cases<'a>(
    servers: usize,
    scenarios: &[&'a Scenario],
    drivers: &[DriverKind],
    repeat: u32,
    part: Option<Partition>,
) -> Vec<Case<'a>> {
    let mut out = Vec::new();
    let mut whole = 0;
    for server in 0..servers {
        for sc in scenarios {
            for &d in &sc.drivers {
                if !drivers.is_empty() && !drivers.contains(&d) {
                    continue;
                }
                whole += 1;
                if part.is_some_and(|p| !p.keeps(whole - 1)) {
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
        let cases = cases(2, &refs, &[DriverKind::Native], 1, None);
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
    fn parts_of_a_split_run_cover_every_case_once_with_its_runs_together() {
        let all = suite();
        let refs: Vec<&Scenario> = all.iter().collect();
        let key = |c: &Case<'_>| (c.server, c.scenario.id.clone(), c.driver, c.run);
        let whole: Vec<_> = cases(2, &refs, &[], 2, None).iter().map(key).collect();
        let mut parts = Vec::new();
        for part in 1..=3 {
            let p = Partition { part, of: 3 };
            let these = cases(2, &refs, &[], 2, Some(p));
            assert!(these.iter().enumerate().all(|(i, c)| c.index == i));
            assert!(these
                .chunks(2)
                .all(|r| key(&r[0]).1 == key(&r[1]).1 && r[1].run == 1));
            parts.extend(these.iter().map(key));
        }
        parts.sort();
        let mut sorted = whole.clone();
        sorted.sort();
        assert_eq!(parts, sorted);
        let one = cases(2, &refs, &[], 2, Some(Partition { part: 1, of: 3 }));
        assert!(
            one.len() < whole.len() / 2,
            "{} of {}",
            one.len(),
            whole.len()
        );
        assert_eq!("2/3".parse(), Ok(Partition { part: 2, of: 3 }));
        for bad in ["0/2", "3/2", "1", "a/b", "1/0"] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
    }

    #[test]
    fn repeated_runs_of_a_case_stand_together_in_report_order() {
        let all = suite();
        let refs: Vec<&Scenario> = all.iter().take(2).collect();
        let cases = cases(1, &refs, &[DriverKind::Native], 3, None);
        let runs: Vec<(&str, u32)> = cases
            .iter()
            .map(|c| (c.scenario.id.as_str(), c.run))
            .collect();
        let (a, b) = (refs[0].id.as_str(), refs[1].id.as_str());
        assert_eq!(runs, [(a, 0), (a, 1), (a, 2), (b, 0), (b, 1), (b, 2)]);
        assert!(cases.iter().enumerate().all(|(i, c)| c.index == i));
    }
}
