//! The JUnit XML report: one test case per (server, scenario, driver), in
//! a suite per server. With `--repeat`, a case's runs are one test case:
//! its worst run decides it, the other runs that did not pass are its
//! reruns (`flakyFailure` when some run passed, `rerunFailure` otherwise),
//! as cargo-nextest reports retries.

use std::collections::BTreeMap;
use std::time::Duration;

use quick_junit::{
    FlakyOrRerun, NonSuccessKind, Property, TestCase, TestCaseStatus, TestRerun, TestSuite,
};

use super::{level_name, worst, Entry, Repeated, Report};
use crate::case::{CaseResult, Status};

pub fn render(report: &Report) -> String {
    let mut out = quick_junit::Report::new("quic-echo-conformance");
    let mut suites: BTreeMap<String, TestSuite> = BTreeMap::new();
    let same = |a: &Entry, b: &Entry| {
        let (a, b) = (&a.result, &b.result);
        (&a.server, &a.scenario, a.driver) == (&b.server, &b.scenario, b.driver)
    };
    for runs in report.results.chunk_by(|a, b| same(a, b)) {
        let server = runs[0].result.server.clone();
        suites
            .entry(server.clone())
            .or_insert_with(|| TestSuite::new(server))
            .add_test_case(case(runs));
    }
    for (server, suite) in suites.iter_mut() {
        let about = |n: &str, s: &str| n.starts_with(&format!("{s}: "));
        let here = |n: &&String| about(n, server) || !report.servers.iter().any(|s| about(n, s));
        for n in report.notes.iter().filter(here) {
            suite.add_property(Property::new("note", n.as_str()));
        }
    }
    out.add_test_suites(suites.into_values());
    out.set_time(Duration::from_millis(report.wall_ms));
    out.to_string().expect("JUnit serialises")
}

/// One test case from the runs of one case (one run without `--repeat`).
fn case(runs: &[Entry]) -> TestCase {
    let status = runs
        .iter()
        .fold(Status::Pass, |w, e| worst(w, e.result.status));
    let main = &runs
        .iter()
        .find(|e| e.result.status == status)
        .expect("the worst status is one of the runs'")
        .result;
    let mut st = status_of(main);
    if runs.len() > 1 {
        let all = Repeated::of(runs);
        let reason = main.reason.as_deref().unwrap_or("");
        st.set_message(format!(
            "{} (run {}): {reason}",
            all.label(),
            main.run.unwrap_or(1)
        ));
        let others = runs.iter().map(|e| &e.result);
        let others = others.filter(|r| r.status != Status::Pass && r.run != main.run);
        let reruns: Vec<TestRerun> = others.filter_map(rerun).collect();
        if let TestCaseStatus::NonSuccess { reruns: r, .. } = &mut st {
            r.kind = match all.flaky {
                true => FlakyOrRerun::Flaky,
                false => FlakyOrRerun::Rerun,
            };
            r.runs = reruns;
        }
    }
    let mut case = TestCase::new(format!("{} [{}]", main.scenario, main.driver), st);
    case.set_classname(format!("{}.{}", main.server, level_name(main.level)));
    let total: u64 = runs.iter().map(|e| e.result.duration_ms).sum();
    case.set_time(Duration::from_millis(total));
    if !main.server_stderr.is_empty() {
        case.set_system_err(main.server_stderr.join("\n"));
    }
    // Evidence as attachments, the way CI systems pick them up (Jenkins'
    // JUnit attachments, GitLab's `[[ATTACHMENT|path]]`).
    let mut out: Vec<String> = main.notes.clone();
    if let Some(a) = &main.artifacts {
        out.extend(
            a.files
                .iter()
                .map(|f| format!("[[ATTACHMENT|{}]]", a.dir.join(f).display())),
        );
    }
    if !out.is_empty() {
        case.set_system_out(out.join("\n"));
    }
    case
}

fn kind(s: Status) -> Option<NonSuccessKind> {
    match s {
        Status::Fail => Some(NonSuccessKind::Failure),
        Status::Error => Some(NonSuccessKind::Error),
        Status::Pass | Status::Skip => None,
    }
}

/// One run's status, with its failed checks as the description.
fn status_of(r: &CaseResult) -> TestCaseStatus {
    let mut status = match (r.status, kind(r.status)) {
        (_, Some(k)) => TestCaseStatus::non_success(k),
        (Status::Skip, None) => TestCaseStatus::skipped(),
        _ => TestCaseStatus::success(),
    };
    if let Some(reason) = &r.reason {
        status.set_message(reason.as_str());
    }
    if kind(r.status).is_some() {
        status.set_description(failed_checks(r));
    }
    status
}

fn failed_checks(r: &CaseResult) -> String {
    let failed = r.checks.iter().filter(|c| !c.is_ok());
    failed
        .map(|c| format!("{}: expected {}, got {}\n", c.name, c.expected, c.actual))
        .collect()
}

/// Another run that did not pass, as a rerun.
fn rerun(r: &CaseResult) -> Option<TestRerun> {
    let mut rerun = TestRerun::new(kind(r.status)?);
    let seed = r.seed.map_or(String::new(), |s| format!(", seed {s}"));
    let reason = r.reason.as_deref().unwrap_or("");
    rerun.set_message(format!("run {}{seed}: {reason}", r.run.unwrap_or(1)));
    rerun.set_time(Duration::from_millis(r.duration_ms));
    rerun.set_stack_trace(failed_checks(r));
    Some(rerun)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Report;

    fn run(n: u32, status: Status) -> Entry {
        Entry::example_run(n, status)
    }

    #[test]
    fn a_flaky_case_is_one_failed_test_case_with_its_other_failures_as_flaky_runs() {
        let runs = vec![
            run(1, Status::Pass),
            run(2, Status::Fail),
            run(3, Status::Fail),
            run(4, Status::Pass),
        ];
        let xml = render(&Report::new(vec!["openssl".into()], runs));
        assert_eq!(xml.matches("<testcase ").count(), 1, "{xml}");
        assert!(xml.contains("<failure"), "{xml}");
        assert!(xml.contains("FLAKY 2/4 (run 2)"), "{xml}");
        assert!(xml.contains("<flakyFailure"), "{xml}");
        assert!(xml.contains("run 3, seed 103"), "{xml}");
    }

    #[test]
    fn a_case_that_always_failed_has_its_other_runs_as_reruns() {
        let runs = vec![run(1, Status::Fail), run(2, Status::Fail)];
        let xml = render(&Report::new(vec!["openssl".into()], runs));
        assert!(xml.contains("<rerunFailure"), "{xml}");
        assert!(!xml.contains("flaky"), "{xml}");
    }

    #[test]
    fn an_error_is_a_junit_error() {
        let mut e = run(1, Status::Error);
        e.result.run = None;
        let xml = render(&Report::new(vec!["openssl".into()], vec![e]));
        assert!(xml.contains("<error"), "{xml}");
    }
}
