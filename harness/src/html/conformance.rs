//! The conformance report as a page: the scenario × server × driver
//! matrix coloured by result (must and should apart), a filter box, and
//! for every cell its checks, timings, notes and evidence, with the
//! case's connections drawn as timelines (`quic_timeline::svg`).

use std::fmt::Write;
use std::path::Path;

use quic_timeline::Timeline;

use super::{esc, href, page};
use crate::case::Status;
use crate::evidence::Kept;
use crate::judge::{Check, Outcome};
use crate::report::{Entry, Report};
use crate::scenario::Level;

/// The page for `report`, to be written at `page_path` (links to evidence
/// are relative to it when they can be).
pub fn render(report: &Report, page_path: &Path) -> String {
    let mut body = String::new();
    summary(&mut body, report);
    body += r#"<input id="filter" type="search" placeholder="Filter: scenario, driver, server, pass/fail/skip, words of a reason" aria-label="filter">"#;
    for (level, title) in [
        (Level::Must, "must: what the guide and the RFCs require"),
        (Level::Should, "should: robustness beyond them"),
    ] {
        matrix(&mut body, report, level, title);
    }
    // Failures first (unexpected ones before known ones), then skips,
    // then passes; report order within each.
    body += "<h2>Cases</h2><p class=\"muted\">Failures first, then errors (no verdict on the server), then skips, then passes.</p>";
    let mut order: Vec<(usize, &Entry)> = report.results.iter().enumerate().collect();
    order.sort_by_key(|(i, e)| (rank(e), *i));
    for (i, e) in order {
        // With --repeat, one passing run stands for the others.
        let another_pass = e.result.status == Status::Pass && e.result.run.is_some_and(|n| n > 1);
        if !another_pass {
            case(&mut body, i, e, page_path);
        }
    }
    page("QUIC echo conformance", &body)
}

/// Where a case comes in the page: unexpected failures first, then errors,
/// known failures, skips, passes.
fn rank(e: &Entry) -> u8 {
    match e.result.status {
        Status::Fail if !e.expected => 0,
        Status::Error => 1,
        Status::Fail => 2,
        Status::Skip => 3,
        Status::Pass => 4,
    }
}

fn summary(out: &mut String, r: &Report) {
    let s = &r.summary;
    let _ = write!(
        out,
        r#"<p class="summary"><span><b>{}</b> passed</span><span><b>{}</b> failed</span><span><b>{}</b> skipped</span><span><b>{}</b> errors</span><span>(must: {} passed, {} failed, {} skipped;</span><span>should: {} passed, {} failed, {} skipped)</span><span>unexpected: <b>{}</b></span><span>{:.1} s, {} jobs</span></p>"#,
        s.all.passed,
        s.all.failed,
        s.all.skipped,
        s.all.errors,
        s.must.passed,
        s.must.failed,
        s.must.skipped,
        s.should.passed,
        s.should.failed,
        s.should.skipped,
        s.unexpected,
        r.wall_ms as f64 / 1000.0,
        r.jobs
    );
    let _ = write!(
        out,
        "<p class=\"muted\">Servers: {}. Cells: PASS, FAIL, SKIP, ERROR (the harness could not run the case: no verdict on the server); amber when the result is listed in an expect file as known, outlined red when unexpected. Each cell links to its checks below.</p>",
        esc(&r.servers.join(", "))
    );
    if !r.notes.is_empty() {
        out.push_str("<ul class=\"notes\">");
        for n in &r.notes {
            let _ = write!(out, "<li>{}</li>", esc(n));
        }
        out.push_str("</ul>");
    }
}

/// The CSS class and label of a cell.
fn cell_class(e: &Entry) -> (String, &'static str) {
    let r = &e.result;
    let base = match r.status {
        Status::Pass => "pass",
        Status::Fail if e.known_reason.is_some() && e.expected => "known",
        Status::Fail => "fail",
        Status::Skip => "skip",
        Status::Error => "error",
    };
    let class = if e.expected {
        base.to_string()
    } else {
        format!("{base} unexpected")
    };
    (class, r.status.label())
}

fn matrix(out: &mut String, report: &Report, level: Level, title: &str) {
    // Rows in report order: (scenario, driver) as they first appear.
    let mut rows: Vec<(&str, String)> = Vec::new();
    for e in report.results.iter().filter(|e| e.result.level == level) {
        let key = (e.result.scenario.as_str(), e.result.driver.to_string());
        if !rows.contains(&key) {
            rows.push(key);
        }
    }
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<h2>{}</h2><div class=\"wrap\"><table class=\"matrix\"><thead><tr><th>scenario [driver]</th>",
        esc(title)
    );
    for s in &report.servers {
        let _ = write!(out, "<th>{}</th>", esc(s));
    }
    out.push_str("</tr></thead><tbody>");
    for (scenario, driver) in rows {
        let mut filter = format!("{scenario} {driver}");
        let mut cells = String::new();
        for server in &report.servers {
            let runs = report.results.iter().enumerate().filter(|(_, e)| {
                e.result.scenario == scenario
                    && e.result.driver.to_string() == driver
                    && &e.result.server == server
            });
            // With --repeat, the cell links to the worst run and counts them.
            let found = runs.min_by_key(|(i, e)| (rank(e), *i));
            let repeated = found.and_then(|(_, e)| report.repeated.iter().find(|r| r.covers(e)));
            match found {
                Some((i, e)) => {
                    let (class, label) = cell_class(e);
                    let label = repeated.map_or(label.to_string(), |r| r.label());
                    let class = match repeated {
                        Some(r) if r.flaky => format!("{class} flaky"),
                        _ => class,
                    };
                    filter += &format!(" {server} {}", label.to_lowercase());
                    let _ = write!(
                        cells,
                        "<td class=\"cell {class}\"><a href=\"#c{i}\" title=\"{}\">{label}</a></td>",
                        esc(e.result.reason.as_deref().unwrap_or(""))
                    );
                }
                None => cells.push_str("<td class=\"cell\">-</td>"),
            }
        }
        let _ = write!(
            out,
            "<tr data-filter=\"{}\"><td>{} <span class=\"muted\">[{}]</span></td>{cells}</tr>",
            esc(&filter),
            esc(scenario),
            esc(&driver)
        );
    }
    out.push_str("</tbody></table></div>");
}

/// Past this many checks, a case shows its failed ones and folds the rest.
const MANY_CHECKS: usize = 40;

fn checks_table(out: &mut String, checks: &[&Check]) {
    if checks.is_empty() {
        return;
    }
    out.push_str("<div class=\"wrap\"><table class=\"checks\"><thead><tr><th>check</th><th>expected</th><th>actual</th><th></th></tr></thead><tbody>");
    for c in checks {
        let (class, verdict) = match c.outcome() {
            Outcome::Skip(_) => ("skip", "skipped"),
            Outcome::Pass => ("pass", "ok"),
            Outcome::Error => ("error", "ERROR"),
            Outcome::Fail => ("fail", "FAIL"),
        };
        let actual = match c.skip_reason() {
            Some(why) if c.actual.is_empty() => format!("not observed: {why}"),
            _ => c.actual.clone(),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"verdict {class}\">{verdict}</td></tr>",
            esc(&c.name),
            esc(&c.expected),
            esc(&actual)
        );
    }
    out.push_str("</tbody></table></div>");
}

fn case(out: &mut String, i: usize, e: &Entry, page_path: &Path) {
    let r = &e.result;
    let (class, label) = cell_class(e);
    let filter = format!(
        "{} {} {} {} {}",
        r.scenario,
        r.driver,
        r.server,
        label.to_lowercase(),
        r.reason.as_deref().unwrap_or("")
    );
    let _ = write!(
        out,
        "<section class=\"case\" id=\"c{i}\" data-filter=\"{}\"><h3><span class=\"{class}\">&nbsp;{label}&nbsp;</span> {} <span class=\"muted\">[{}] on {}</span></h3><p>{}</p>",
        esc(&filter),
        esc(&r.scenario),
        r.driver,
        esc(&r.server),
        esc(&r.description)
    );
    let level = match r.level {
        Level::Must => "must",
        Level::Should => "should",
    };
    let mut meta = format!("{level}; {} ms", r.duration_ms);
    if let Some(run) = r.run {
        meta += &format!("; run {run}");
    }
    if let Some(seed) = r.seed {
        meta += &format!("; seed {seed}");
    }
    let _ = write!(out, "<p class=\"muted\">{}</p>", esc(&meta));
    if let Some(k) = &e.known_reason {
        let _ = write!(out, "<p>Known: {}</p>", esc(k));
    }
    if !e.expected {
        out.push_str("<p class=\"fail\">Unexpected result.</p>");
    }
    if let Some(reason) = &r.reason {
        let what = if r.status == Status::Skip {
            "Skipped"
        } else {
            "Reason"
        };
        let _ = write!(out, "<p><b>{what}:</b> {}</p>", esc(reason));
    }
    for n in &r.notes {
        let _ = write!(out, "<p class=\"muted\">Note: {}</p>", esc(n));
    }
    if r.checks.len() > MANY_CHECKS {
        // A case of many connections: the failed checks in view, all of
        // them one click away.
        let failed: Vec<&Check> = r.checks.iter().filter(|c| !c.is_ok()).collect();
        checks_table(out, &failed);
        let _ = write!(
            out,
            "<details><summary>all {} checks</summary>",
            r.checks.len()
        );
        checks_table(out, &r.checks.iter().collect::<Vec<_>>());
        out.push_str("</details>");
    } else {
        checks_table(out, &r.checks.iter().collect::<Vec<_>>());
    }
    if let Some(a) = &r.artifacts {
        evidence(out, a, page_path);
    }
    if !r.server_stderr.is_empty() {
        let _ = write!(
            out,
            "<details><summary>server stderr (last {} lines)</summary><pre>{}</pre></details>",
            r.server_stderr.len(),
            esc(&r.server_stderr.join("\n"))
        );
    }
    out.push_str("</section>");
}

/// Links to a case's evidence files, and its connections drawn as a
/// timeline when the folder holds what one is drawn from.
fn evidence(out: &mut String, a: &Kept, page_path: &Path) {
    out.push_str("<p><b>Evidence:</b> ");
    let links: Vec<String> = a
        .files
        .iter()
        .map(|f| {
            format!(
                "<a href=\"{}\">{}</a>",
                href(page_path, &a.dir.join(f)),
                esc(f)
            )
        })
        .collect();
    out.push_str(&links.join(", "));
    out.push_str("</p>");
    let Ok(t) = quic_timeline::load(&a.dir).and_then(|e| Timeline::build(&e)) else {
        return;
    };
    if t.datagrams.is_empty() {
        return;
    }
    let summary = quic_timeline::story::summary(&t).unwrap_or_default();
    let _ = write!(
        out,
        "<details class=\"timeline\" open><summary>Timeline: {}</summary><div class=\"timeline-scroll\">{}</div></details>",
        esc(&summary),
        quic_timeline::svg::render(&t)
    );
}
