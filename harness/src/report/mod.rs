//! Reports: a line per case for people, JSON and JUnit for machines, and a
//! scenario-by-server matrix when several servers ran.

mod junit;
pub mod markdown;
pub mod merge;
pub mod runs;

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use crate::case::{CaseResult, Status};
use crate::expect::{is_expected, ExpectFile};
use crate::judge::Outcome;
use crate::scenario::{DriverKind, Level};
pub use runs::Repeated;

/// A case with its verdict against the known results.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub result: CaseResult,
    /// False when the result differs from what was expected.
    pub expected: bool,
    /// The known-result reason, when the case is listed in `--expect`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_reason: Option<String>,
    /// How often a known `varies` result may fail (`fails_at_most`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fails_at_most: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Cases the harness could not run: no verdict on the server.
    pub errors: usize,
}

impl Counts {
    fn add(&mut self, s: Status) {
        match s {
            Status::Pass => self.passed += 1,
            Status::Fail => self.failed += 1,
            Status::Skip => self.skipped += 1,
            Status::Error => self.errors += 1,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub all: Counts,
    pub must: Counts,
    pub should: Counts,
    pub unexpected: usize,
    /// With `--repeat`: cases that passed in some runs and failed in others.
    pub flaky: usize,
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub servers: Vec<String>,
    pub results: Vec<Entry>,
    pub summary: Summary,
    /// scenario id -> driver -> server -> status (several servers only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    /// (With `--repeat`, a cell is the worst run: fail, error, skip, pass.)
    pub matrix: BTreeMap<String, BTreeMap<DriverKind, BTreeMap<String, Status>>>,
    /// With `--repeat`: every case's runs taken together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeated: Vec<Repeated>,
    /// Wall time of the whole run, and how many cases ran side by side.
    pub wall_ms: u64,
    pub jobs: usize,
    /// What a reader should know about the whole run (servers the harness
    /// did not start, certificates not checked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Which part of a split run this is (`--partition K/N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<crate::schedule::plan::Partition>,
}

#[cfg(test)]
impl Entry {
    /// Run `n` of a repeated case for unit tests: seed 100 + n, a reason
    /// unless it passed, expected when it passed.
    pub fn example_run(n: u32, status: Status) -> Entry {
        Entry {
            result: CaseResult {
                run: Some(n),
                seed: Some(100 + u64::from(n)),
                reason: (status != Status::Pass).then(|| format!("broke in run {n}")),
                ..CaseResult::example("network/burst-loss", status)
            },
            expected: status == Status::Pass,
            known_reason: None,
            fails_at_most: None,
        }
    }
}

/// Classifies a result against the known results.
pub fn entry(result: CaseResult, known: &ExpectFile, required: &[DriverKind]) -> Entry {
    let k = known.find(&result);
    Entry {
        expected: is_expected(&result, k, required),
        known_reason: k.map(|k| k.reason.clone()),
        fails_at_most: k.and_then(|k| k.fails_at_most),
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
                let cell = matrix
                    .entry(r.scenario.clone())
                    .or_default()
                    .entry(r.driver)
                    .or_default()
                    .entry(r.server.clone())
                    .or_insert(r.status);
                *cell = worst(*cell, r.status);
            }
        }
        let repeated = runs::repeated(&results);
        summary.flaky = repeated.iter().filter(|r| r.flaky).count();
        // Each run was expected, but it failed more often than its entry
        // allows: one more unexpected result.
        summary.unexpected += repeated.iter().filter(|r| r.too_often).count();
        Report {
            servers,
            results,
            summary,
            matrix,
            repeated,
            wall_ms: 0,
            notes: Vec::new(),
            jobs: 1,
            partition: None,
        }
    }

    /// The last line of human output, exactly
    /// `N passed, N failed, N skipped, N errors in S.s s (N jobs)`.
    pub fn closing_line(&self) -> String {
        let c = self.summary.all;
        format!(
            "{} passed, {} failed, {} skipped, {} errors in {:.1} s ({} job{})",
            c.passed,
            c.failed,
            c.skipped,
            c.errors,
            self.wall_ms as f64 / 1000.0,
            self.jobs,
            if self.jobs == 1 { "" } else { "s" }
        )
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises") + "\n"
    }

    pub fn to_junit(&self) -> String {
        junit::render(self)
    }
}

/// The worse of two runs' statuses, for a matrix cell.
pub(crate) fn worst(a: Status, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Fail => 3,
        Status::Error => 2,
        Status::Skip => 1,
        Status::Pass => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
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
            Status::Error => self.paint("ERROR", "35;1"),
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
        let run = r.run.map_or(String::new(), |n| format!("  run {n}"));
        writeln!(
            out,
            "{label}  {}  [{}]{server}{run}  {}ms{seed}{level}{mark}",
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
            if let Some(t) = &a.timeline {
                writeln!(
                    out,
                    "      timeline: {t} (harness explain {})",
                    a.dir.display()
                )?;
            }
        }
        let bad = matches!(r.status, Status::Fail | Status::Error);
        if bad || self.verbose {
            for c in r.checks.iter().filter(|c| self.verbose || !c.is_ok()) {
                let tag = match c.outcome() {
                    Outcome::Pass | Outcome::Skip(_) => "ok  ",
                    Outcome::Error => "error",
                    Outcome::Fail => "fail",
                };
                writeln!(
                    out,
                    "      {tag} {}: expected {}; got {}",
                    c.name, c.expected, c.actual
                )?;
            }
            if bad && r.checks.is_empty() {
                if let Some(why) = &r.reason {
                    writeln!(out, "      {why}")?;
                }
            }
            if bad && !r.server_stderr.is_empty() {
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

    /// With `--repeat`, one line per case once all its runs are in: how
    /// many passed, and the runs that did not, with their seeds.
    pub fn repeated(&self, out: &mut impl Write, r: &Repeated) -> std::io::Result<()> {
        let label = r.label();
        let label = match (r.flaky, r.failed + r.errors > 0) {
            (true, _) => self.paint(&label, "31;1;7"),
            (false, true) => self.paint(&label, "31;1"),
            (false, false) => self.paint(&label, "32"),
        };
        let server = if self.show_server {
            format!("  {}", r.server)
        } else {
            String::new()
        };
        let mark = if r.too_often {
            "  [UNEXPECTED: fails more often than its expect entry's fails_at_most]"
        } else {
            ""
        };
        writeln!(out, "{label}  {}  [{}]{server}{mark}", r.scenario, r.driver)?;
        for n in &r.not_passed {
            let seed = n.seed.map_or(String::new(), |s| format!(" seed={s}"));
            writeln!(
                out,
                "      run {} {}{seed}: {}",
                n.run,
                n.status.label(),
                n.reason.as_deref().unwrap_or("")
            )?;
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
                        let runs = report
                            .repeated
                            .iter()
                            .find(|r| (&r.scenario, r.driver, &r.server) == (scenario, *driver, s));
                        let cell = match (runs, by_server.get(s)) {
                            (Some(r), _) => r.label(),
                            (None, Some(st)) => st.label().to_string(),
                            (None, None) => "-".into(),
                        };
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
        if s.all.errors > 0 {
            writeln!(
                out,
                "errors: {} case(s) could not be run (no verdict on the server; exit status 3)",
                s.all.errors
            )?;
        }
        if !report.repeated.is_empty() {
            writeln!(
                out,
                "repeated: {} case(s), {} flaky (passed in some runs, failed in others)",
                report.repeated.len(),
                s.flaky
            )?;
        }
        if with_expect || s.unexpected > 0 {
            writeln!(out, "unexpected results: {}", s.unexpected)?;
            self.unexpected(out, report)?;
        }
        writeln!(out, "{}", report.closing_line())
    }

    /// The unexpected results again, one line each, at the end of the
    /// report: a CI log's tail then names what failed the gate.
    fn unexpected(&self, out: &mut impl Write, report: &Report) -> std::io::Result<()> {
        for e in report.results.iter().filter(|e| !e.expected) {
            let r = &e.result;
            let known = match &e.known_reason {
                Some(why) => format!(" (expect file: {why})"),
                None if r.status == Status::Pass => String::new(),
                None => " (no expect entry)".into(),
            };
            let run = r.run.map_or(String::new(), |n| format!(" run {n}"));
            writeln!(
                out,
                "  unexpected {}: {} [{}] {}{run}{known}",
                r.status.label(),
                r.scenario,
                r.driver,
                r.server
            )?;
            if r.status != Status::Pass {
                if let Some(why) = &r.reason {
                    writeln!(out, "    got: {why}")?;
                }
            }
            if let Some(t) = r.artifacts.as_ref().and_then(|a| a.timeline.as_ref()) {
                writeln!(out, "    timeline: {t}")?;
            }
        }
        for r in report.repeated.iter().filter(|r| r.too_often) {
            writeln!(
                out,
                "  unexpected: {} [{}] {} failed {} of {} runs, more than its fails_at_most",
                r.scenario, r.driver, r.server, r.failed, r.runs
            )?;
        }
        Ok(())
    }
}
