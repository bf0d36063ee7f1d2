//! The runs of a repeated case (`--repeat`) taken together: how many passed,
//! which did not and with what seed, and whether the case is flaky (it both
//! passed and failed).

use serde::Serialize;

use super::Entry;
use crate::case::Status;
use crate::scenario::{DriverKind, Level};

/// One run that did not pass.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Run {
    /// From 1.
    pub run: u32,
    pub status: Status,
    /// Its seed, for scenarios with a network or an attack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Every run of one case (server, scenario, driver).
#[derive(Debug, Clone, Serialize)]
pub struct Repeated {
    pub server: String,
    pub scenario: String,
    pub driver: DriverKind,
    pub level: Level,
    pub runs: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub errors: usize,
    /// Passed in some runs and failed in others.
    pub flaky: bool,
    /// Every run as expected (see `--expect`), and no more failures than a
    /// `varies` entry's `fails_at_most` allows.
    pub expected: bool,
    /// Each run was expected, but more failed than `fails_at_most` allows.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub too_often: bool,
    /// The runs that did not pass, in run order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_passed: Vec<Run>,
}

impl Repeated {
    /// The runs of one case; `runs` must be non-empty and of one case.
    pub fn of(runs: &[Entry]) -> Repeated {
        let first = &runs[0].result;
        let count = |s: Status| runs.iter().filter(|e| e.result.status == s).count();
        let (passed, failed) = (count(Status::Pass), count(Status::Fail));
        let each = runs.iter().all(|e| e.expected);
        let allowed = runs[0].fails_at_most.unwrap_or(1.0);
        let too_often = each && failed as f64 > allowed * runs.len() as f64;
        Repeated {
            server: first.server.clone(),
            scenario: first.scenario.clone(),
            driver: first.driver,
            level: first.level,
            runs: runs.len(),
            passed,
            failed,
            skipped: count(Status::Skip),
            errors: count(Status::Error),
            flaky: passed > 0 && failed > 0,
            expected: each && !too_often,
            too_often,
            not_passed: runs
                .iter()
                .filter(|e| e.result.status != Status::Pass)
                .map(|e| Run {
                    run: e.result.run.unwrap_or(1),
                    status: e.result.status,
                    seed: e.result.seed,
                    reason: e.result.reason.clone(),
                })
                .collect(),
        }
    }

    /// `PASS 20/20`, `FLAKY 18/20`, `FAIL 0/20`: what a matrix cell shows.
    pub fn label(&self) -> String {
        let word = if self.flaky {
            "FLAKY"
        } else if self.failed > 0 {
            "FAIL"
        } else if self.errors > 0 {
            "ERROR"
        } else if self.passed == 0 {
            "SKIP"
        } else {
            "PASS"
        };
        format!("{word} {}/{}", self.passed, self.runs)
    }

    /// Whether `e` is one of these runs.
    pub fn covers(&self, e: &Entry) -> bool {
        let r = &e.result;
        r.server == self.server && r.scenario == self.scenario && r.driver == self.driver
    }
}

/// Every repeated case of `results` (in report order, each case's runs
/// next to each other); empty when nothing ran more than once.
pub fn repeated(results: &[Entry]) -> Vec<Repeated> {
    if results.iter().all(|e| e.result.run.is_none()) {
        return Vec::new();
    }
    let same = |a: &Entry, b: &Entry| {
        let (a, b) = (&a.result, &b.result);
        (&a.server, &a.scenario, a.driver) == (&b.server, &b.scenario, b.driver)
    };
    results
        .chunk_by(|a, b| same(a, b))
        .map(Repeated::of)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(n: u32, status: Status, seed: u64) -> Entry {
        let mut e = Entry::example_run(n, status);
        e.result.seed = Some(seed);
        e
    }

    #[test]
    fn a_case_that_passed_and_failed_is_flaky_with_the_failing_seeds() {
        let runs = [
            run(1, Status::Pass, 10),
            run(2, Status::Fail, 11),
            run(3, Status::Pass, 12),
            run(4, Status::Error, 13),
        ];
        let r = Repeated::of(&runs);
        assert_eq!((r.runs, r.passed, r.failed, r.errors), (4, 2, 1, 1));
        assert!(r.flaky && !r.expected);
        let seeds: Vec<_> = r.not_passed.iter().map(|n| (n.run, n.seed)).collect();
        assert_eq!(seeds, [(2, Some(11)), (4, Some(13))]);
        assert_eq!(r.label(), "FLAKY 2/4");
    }

    #[test]
    fn a_case_that_always_passed_or_always_failed_is_not_flaky() {
        let pass = Repeated::of(&[run(1, Status::Pass, 1), run(2, Status::Pass, 2)]);
        assert!(!pass.flaky && pass.expected && pass.not_passed.is_empty());
        assert_eq!(pass.label(), "PASS 2/2");
        let fail = Repeated::of(&[run(1, Status::Fail, 1), run(2, Status::Fail, 2)]);
        assert!(!fail.flaky);
        assert_eq!(fail.label(), "FAIL 0/2");
    }

    #[test]
    fn a_varying_case_that_fails_more_often_than_allowed_is_unexpected() {
        let varies = |n, status| Entry {
            expected: true,
            fails_at_most: Some(0.25),
            ..run(n, status, u64::from(n))
        };
        let once = [
            varies(1, Status::Pass),
            varies(2, Status::Fail),
            varies(3, Status::Pass),
            varies(4, Status::Pass),
        ];
        let r = Repeated::of(&once);
        assert!(r.expected && !r.too_often, "1 in 4 is allowed");
        let twice = [
            varies(1, Status::Fail),
            varies(2, Status::Fail),
            varies(3, Status::Pass),
            varies(4, Status::Pass),
        ];
        let r = Repeated::of(&twice);
        assert!(!r.expected && r.too_often, "2 in 4 is more than allowed");
    }

    #[test]
    fn runs_group_by_case_and_single_runs_give_nothing() {
        let mut other = run(1, Status::Pass, 5);
        other.result.driver = DriverKind::Quinn;
        let all = [run(1, Status::Pass, 1), run(2, Status::Fail, 2), other];
        let groups = repeated(&all);
        assert_eq!(groups.len(), 2);
        assert_eq!((groups[0].runs, groups[1].runs), (2, 1));
        let mut single = run(1, Status::Pass, 1);
        single.result.run = None;
        assert!(repeated(&[single]).is_empty());
    }
}
