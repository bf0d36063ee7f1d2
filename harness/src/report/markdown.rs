//! A run as a Markdown page (`--markdown FILE`): the servers with their
//! stacks and versions, the scenario-by-server matrix with `must` and
//! `should` apart, and every result that is not a pass with its cause (the
//! expect file's reason, or the first failed check when none lists it).
//! `ci/peers-results.sh` writes `docs/peers.md` with it.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Report;
use crate::case::Status;
use crate::scenario::{DriverKind, Level};
use crate::sut::known;

/// The page, after `preamble` (a title and where the run was made).
pub fn render(report: &Report, preamble: &str) -> String {
    let mut out = String::from(preamble);
    servers(&mut out, report);
    for level in [Level::Must, Level::Should] {
        matrix(&mut out, report, level);
    }
    causes(&mut out, report);
    out
}

fn servers(out: &mut String, report: &Report) {
    out.push_str(
        "\n## Servers\n\n| server | stack | version | source |\n| --- | --- | --- | --- |\n",
    );
    for s in &report.servers {
        match known::find(s) {
            Some(k) => writeln!(
                out,
                "| `{s}` | {} | {} | `{}/` |",
                k.stack, k.version, k.source
            ),
            None => writeln!(out, "| `{s}` | (a template) | | |"),
        }
        .expect("writing to a String");
    }
}

/// Each case's level, from its results.
fn levels(report: &Report) -> BTreeMap<&str, Level> {
    report
        .results
        .iter()
        .map(|e| (e.result.scenario.as_str(), e.result.level))
        .collect()
}

fn matrix(out: &mut String, report: &Report, level: Level) {
    let levels = levels(report);
    let rows: Vec<(&String, &DriverKind, &BTreeMap<String, Status>)> = report
        .matrix
        .iter()
        .filter(|(sc, _)| levels.get(sc.as_str()) == Some(&level))
        .flat_map(|(sc, drivers)| drivers.iter().map(move |(d, cells)| (sc, d, cells)))
        .collect();
    let all_pass = |cells: &BTreeMap<String, Status>| cells.values().all(|s| *s == Status::Pass);
    let shown: Vec<_> = rows.iter().filter(|(_, _, c)| !all_pass(c)).collect();
    let name = match level {
        Level::Must => "must (the guide and the RFCs)",
        Level::Should => "should (robustness beyond them)",
    };
    writeln!(
        out,
        "\n## Matrix: {name}\n\n{} of {} cases pass on every server and are not shown.\n",
        rows.len() - shown.len(),
        rows.len()
    )
    .expect("writing to a String");
    if shown.is_empty() {
        return;
    }
    out.push_str("| scenario [driver] |");
    for s in &report.servers {
        write!(out, " {s} |").expect("writing to a String");
    }
    out.push_str("\n| --- |");
    out.push_str(&" --- |".repeat(report.servers.len()));
    out.push('\n');
    for (sc, d, cells) in shown {
        write!(out, "| `{sc}` [{d}] |").expect("writing to a String");
        for s in &report.servers {
            let label = cells.get(s).map_or("-", |st| st.label());
            write!(out, " {label} |").expect("writing to a String");
        }
        out.push('\n');
    }
}

fn causes(out: &mut String, report: &Report) {
    out.push_str("\n## Why: every result that is not a pass\n");
    let mut seen = std::collections::HashSet::new();
    for server in &report.servers {
        let mut lines = Vec::new();
        for e in report.results.iter().filter(|e| &e.result.server == server) {
            let r = &e.result;
            if r.status == Status::Pass || !seen.insert((&r.server, &r.scenario, r.driver)) {
                continue;
            }
            let why = match (&e.known_reason, e.expected) {
                (Some(k), true) => k.clone(),
                _ => format!(
                    "**unexpected**: {}",
                    r.reason.as_deref().unwrap_or("no reason given")
                ),
            };
            lines.push(format!(
                "- `{}` [{}] {}: {}",
                r.scenario,
                r.driver,
                r.status.label(),
                why.replace('\n', " ")
            ));
        }
        if lines.is_empty() {
            writeln!(out, "\n### {server}\n\nEvery case passed.").expect("writing to a String");
        } else {
            writeln!(out, "\n### {server}\n\n{}", lines.join("\n")).expect("writing to a String");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::CaseResult;
    use crate::report::Entry;

    fn entry(server: &str, scenario: &str, status: Status, known: Option<&str>) -> Entry {
        Entry {
            result: CaseResult {
                server: server.into(),
                reason: (status != Status::Pass).then(|| "close: expected 0x0".into()),
                ..CaseResult::example(scenario, status)
            },
            expected: status == Status::Pass || known.is_some(),
            known_reason: known.map(str::to_string),
            fails_at_most: None,
        }
    }

    #[test]
    fn failures_are_in_the_matrix_with_their_causes() {
        let report = Report::new(
            vec!["reference".into(), "quic-go".into()],
            vec![
                entry("reference", "fin/binary", Status::Pass, None),
                entry("reference", "fin/close-no-error", Status::Pass, None),
                entry("quic-go", "fin/binary", Status::Pass, None),
                entry(
                    "quic-go",
                    "fin/close-no-error",
                    Status::Fail,
                    Some("never closes"),
                ),
                entry("quic-go", "fin/zero", Status::Fail, None),
            ],
        );
        let page = render(&report, "# Results\n");
        assert!(
            page.contains("| `quic-go` | quic-go | 0.29.0 | `peers/quic-go-echo/` |"),
            "{page}"
        );
        assert!(
            page.contains("| `fin/close-no-error` [native] | PASS | FAIL |"),
            "{page}"
        );
        assert!(
            !page.contains("| `fin/binary`"),
            "an all-pass row is counted, not shown"
        );
        assert!(page.contains("1 of 3 cases pass on every server"), "{page}");
        assert!(
            page.contains("- `fin/close-no-error` [native] FAIL: never closes"),
            "{page}"
        );
        assert!(page.contains("- `fin/zero` [native] FAIL: **unexpected**: close: expected 0x0"));
        assert!(
            page.contains("### reference\n\nEvery case passed."),
            "{page}"
        );
    }
}
