//! Reports: a line per case for people, JSON and JUnit for machines, and a
//! scenario-by-server matrix when several servers ran.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use crate::case::{CaseResult, Status};
use crate::expect::{is_expected, ExpectFile};
use crate::scenario::{DriverKind, Level};

/// A case with its verdict against the known results.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    #[serde(flatten)]
    pub result: CaseResult,
    /// False when the result differs from what was expected.
    pub expected: bool,
    /// The known-result reason, when the case is listed in `--expect`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Counts {
    fn add(&mut self, s: Status) {
        match s {
            Status::Pass => self.passed += 1,
            Status::Fail => self.failed += 1,
            Status::Skip => self.skipped += 1,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub all: Counts,
    pub must: Counts,
    pub should: Counts,
    pub unexpected: usize,
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub servers: Vec<String>,
    pub results: Vec<Entry>,
    pub summary: Summary,
    /// scenario id -> driver -> server -> status (several servers only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub matrix: BTreeMap<String, BTreeMap<DriverKind, BTreeMap<String, Status>>>,
    /// Wall time of the whole run, and how many cases ran side by side.
    pub wall_ms: u64,
    pub jobs: usize,
    /// What a reader should know about the whole run (servers the harness
    /// did not start, certificates not checked).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Classifies a result against the known results.
pub fn entry(result: CaseResult, known: &ExpectFile, required: &[DriverKind]) -> Entry {
    let k = known.find(&result);
    Entry {
        expected: is_expected(&result, k, required),
        known_reason: k.map(|k| k.reason.clone()),
        result,
    }
}

impl Report {
    pub fn new(servers: Vec<String>, results: Vec<Entry>) -> Report {
        let mut summary = Summary::default();
        let mut matrix: BTreeMap<String, BTreeMap<DriverKind, BTreeMap<String, Status>>> =
            BTreeMap::new();
        for e in &results {
            let r = &e.result;
            summary.all.add(r.status);
            match r.level {
                Level::Must => summary.must.add(r.status),
                Level::Should => summary.should.add(r.status),
            }
            if !e.expected {
                summary.unexpected += 1;
            }
            if servers.len() > 1 {
                matrix
                    .entry(r.scenario.clone())
                    .or_default()
                    .entry(r.driver)
                    .or_default()
                    .insert(r.server.clone(), r.status);
            }
        }
        Report {
            servers,
            results,
            summary,
            matrix,
            wall_ms: 0,
            notes: Vec::new(),
            jobs: 1,
        }
    }

    /// The last line of human output, exactly
    /// `N passed, N failed, N skipped in S.s s (N jobs)`.
    pub fn closing_line(&self) -> String {
        let c = self.summary.all;
        format!(
            "{} passed, {} failed, {} skipped in {:.1} s ({} job{})",
            c.passed,
            c.failed,
            c.skipped,
            self.wall_ms as f64 / 1000.0,
            self.jobs,
            if self.jobs == 1 { "" } else { "s" }
        )
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises") + "\n"
    }

    pub fn to_junit(&self) -> String {
        use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
        let mut report = quick_junit::Report::new("quic-echo-conformance");
        let mut suites: BTreeMap<String, TestSuite> = BTreeMap::new();
        for e in &self.results {
            let r = &e.result;
            let mut status = match r.status {
                Status::Pass => TestCaseStatus::success(),
                Status::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
                Status::Skip => TestCaseStatus::skipped(),
            };
            if let Some(reason) = &r.reason {
                status.set_message(reason.as_str());
            }
            if r.status == Status::Fail {
                let mut text = String::new();
                for c in r.checks.iter().filter(|c| !c.passed) {
                    text += &format!("{}: expected {}, got {}\n", c.name, c.expected, c.actual);
                }
                status.set_description(text);
            }
            let mut case = TestCase::new(format!("{} [{}]", r.scenario, r.driver), status);
            case.set_classname(format!("{}.{}", r.server, level_name(r.level)));
            case.set_time(std::time::Duration::from_millis(r.duration_ms));
            if !r.server_stderr.is_empty() {
                case.set_system_err(r.server_stderr.join("\n"));
            }
            // Evidence as attachments, the way CI systems pick them up
            // (Jenkins' JUnit attachments, GitLab's `[[ATTACHMENT|path]]`).
            let mut out: Vec<String> = r.notes.clone();
            if let Some(a) = &r.artifacts {
                out.extend(
                    a.files
                        .iter()
                        .map(|f| format!("[[ATTACHMENT|{}]]", a.dir.join(f).display())),
                );
            }
            if !out.is_empty() {
                case.set_system_out(out.join("\n"));
            }
            suites
                .entry(r.server.clone())
                .or_insert_with(|| TestSuite::new(r.server.clone()))
                .add_test_case(case);
        }
        for (server, suite) in suites.iter_mut() {
            let about = |n: &str, s: &str| n.starts_with(&format!("{s}: "));
            let here = |n: &&String| about(n, server) || !self.servers.iter().any(|s| about(n, s));
            for n in self.notes.iter().filter(here) {
                suite.add_property(quick_junit::Property::new("note", n.as_str()));
            }
        }
        report.add_test_suites(suites.into_values());
        report.set_time(std::time::Duration::from_millis(self.wall_ms));
        report.to_string().expect("JUnit serialises")
    }
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Must => "must",
        Level::Should => "should",
    }
}

/// Human output, written as results arrive.
pub struct Human {
    pub color: bool,
    pub verbose: bool,
    pub show_server: bool,
}

impl Human {
    fn paint(&self, s: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// One line per case, and for failures what was expected and seen.
    pub fn case(&self, out: &mut impl Write, e: &Entry) -> std::io::Result<()> {
        let r = &e.result;
        let label = match r.status {
            Status::Pass => self.paint("PASS", "32"),
            Status::Fail => self.paint("FAIL", "31;1"),
            Status::Skip => self.paint("SKIP", "33"),
        };
        let server = if self.show_server {
            format!("  {}", r.server)
        } else {
            String::new()
        };
        let level = if r.level == Level::Should {
            "  (should)"
        } else {
            ""
        };
        let mark = match (&e.known_reason, e.expected) {
            (Some(why), true) => format!("  [known: {why}]"),
            (_, false) if r.status == Status::Pass => "  [UNEXPECTED PASS]".into(),
            (Some(why), false) => format!("  [UNEXPECTED; known: {why}]"),
            _ => String::new(),
        };
        let seed = r.seed.map_or(String::new(), |n| format!("  seed={n}"));
        writeln!(
            out,
            "{label}  {}  [{}]{server}  {}ms{seed}{level}{mark}",
            r.scenario, r.driver, r.duration_ms
        )?;
        if r.status == Status::Skip {
            if let Some(why) = &r.reason {
                writeln!(out, "      skipped: {why}")?;
            }
        }
        for n in &r.notes {
            writeln!(out, "      note: {n}")?;
        }
        if let Some(a) = &r.artifacts {
            writeln!(
                out,
                "      evidence: {}/ ({})",
                a.dir.display(),
                a.files.join(", ")
            )?;
        }
        if r.status == Status::Fail || self.verbose {
            for c in r.checks.iter().filter(|c| self.verbose || !c.passed) {
                let tag = if c.passed { "ok  " } else { "fail" };
                writeln!(
                    out,
                    "      {tag} {}: expected {}; got {}",
                    c.name, c.expected, c.actual
                )?;
            }
            if r.status == Status::Fail && r.checks.is_empty() {
                if let Some(why) = &r.reason {
                    writeln!(out, "      {why}")?;
                }
            }
            if r.status == Status::Fail && !r.server_stderr.is_empty() {
                writeln!(
                    out,
                    "      server stderr (last {} lines):",
                    r.server_stderr.len()
                )?;
                for l in &r.server_stderr {
                    writeln!(out, "        {l}")?;
                }
            }
        }
        Ok(())
    }

    pub fn footer(
        &self,
        out: &mut impl Write,
        report: &Report,
        with_expect: bool,
    ) -> std::io::Result<()> {
        if !report.matrix.is_empty() {
            writeln!(out)?;
            let width = report.matrix.keys().map(|k| k.len()).max().unwrap_or(8) + 10;
            write!(out, "{:width$}", "scenario [driver]")?;
            for s in &report.servers {
                write!(out, "  {s:>10}")?;
            }
            writeln!(out)?;
            for (scenario, drivers) in &report.matrix {
                for (driver, by_server) in drivers {
                    write!(out, "{:width$}", format!("{scenario} [{driver}]"))?;
                    for s in &report.servers {
                        let cell = by_server.get(s).map_or("-", |st| st.label());
                        write!(out, "  {cell:>10}")?;
                    }
                    writeln!(out)?;
                }
            }
        }
        let s = &report.summary;
        writeln!(out)?;
        for n in &report.notes {
            writeln!(out, "note: {n}")?;
        }
        writeln!(
            out,
            "must: {} passed, {} failed, {} skipped; should: {} passed, {} failed, {} skipped",
            s.must.passed,
            s.must.failed,
            s.must.skipped,
            s.should.passed,
            s.should.failed,
            s.should.skipped
        )?;
        if with_expect || s.unexpected > 0 {
            writeln!(out, "unexpected results: {}", s.unexpected)?;
        }
        writeln!(out, "{}", report.closing_line())
    }
}
