//! Bench results as a page: charts (connections per second by client
//! count, latency percentiles, server CPU per connection, memory per
//! connection, goodput) and every figure in tables, servers side by side.

use std::fmt::Write;

use super::svg::Bars;
use super::{esc, page};
use crate::bench::{BenchReport, Row};

/// The page for `report`.
pub fn render(report: &BenchReport) -> String {
    let mut body = format!(
        "<p class=\"muted\">Servers: {}. Medians over repetitions; latency percentiles over all samples. Hover a bar for its value.</p>",
        esc(&report.servers.join(", "))
    );
    if let Some(f) = &report.floor {
        body += &format!(
            "<p class=\"muted\">Crypto floor: {}.</p>",
            esc(&f.describe())
        );
    }
    body += "<h2>Charts</h2>";
    let per_workload: [(&str, &str, &str, f64, &str); 4] = [
        (
            "churn",
            "connections/s",
            "connections per second (churn)",
            1.0,
            "1/s",
        ),
        (
            "churn",
            "server CPU per 1,000 connections",
            "server CPU per connection (churn)",
            1000.0,
            "us",
        ),
        (
            "scale",
            "server RSS per connection",
            "server memory per connection (scale)",
            1.0,
            "KiB",
        ),
        ("goodput", "MB/s each way", "goodput", 1.0, "MB/s"),
    ];
    for (workload, metric, title, scale, unit) in per_workload {
        if let Some(chart) = by_params(report, workload, metric, title, scale, unit) {
            body += &chart;
        }
    }
    body += &latency_charts(report);
    body += "<h2>Figures</h2>";
    body += &tables(report);
    page("QUIC echo bench", &body)
}

/// The rows of `workload`, grouped by their parameters in first-seen order.
fn params_of<'a>(report: &'a BenchReport, workload: &str) -> Vec<&'a str> {
    let mut params: Vec<&str> = Vec::new();
    for r in report.rows.iter().filter(|r| r.workload == workload) {
        if !params.contains(&r.params.as_str()) {
            params.push(&r.params);
        }
    }
    params
}

fn row<'a>(report: &'a BenchReport, server: &str, workload: &str, params: &str) -> Option<&'a Row> {
    report
        .rows
        .iter()
        .find(|r| r.server == server && r.workload == workload && r.params == params)
}

fn value(row: Option<&Row>, metric: &str) -> Option<f64> {
    row?.metrics.iter().find(|m| m.name == metric)?.value
}

/// One chart of `metric` across `workload`'s parameters, servers side by
/// side, or `None` when no server has the figure.
fn by_params(
    report: &BenchReport,
    workload: &str,
    metric: &str,
    title: &str,
    scale: f64,
    unit: &str,
) -> Option<String> {
    let params = params_of(report, workload);
    let values: Vec<Vec<Option<f64>>> = params
        .iter()
        .map(|p| {
            report
                .servers
                .iter()
                .map(|s| value(row(report, s, workload, p), metric).map(|v| v * scale))
                .collect()
        })
        .collect();
    if values.iter().flatten().all(Option::is_none) {
        return None;
    }
    let chart = Bars {
        title,
        unit,
        groups: params.iter().map(|p| p.to_string()).collect(),
        series: report.servers.clone(),
        values,
    };
    Some(format!("<figure>{}</figure>", chart.svg()))
}

/// One chart per workload, parameters and what was timed: p50, p99 and
/// p99.9, servers side by side.
fn latency_charts(report: &BenchReport) -> String {
    let mut out = String::new();
    let mut seen: Vec<(String, String, String)> = Vec::new();
    for r in &report.rows {
        for m in &r.metrics {
            let Some(what) = m.name.strip_suffix(" p50") else {
                continue;
            };
            let key = (r.workload.clone(), r.params.clone(), what.to_string());
            if seen.contains(&key) {
                continue;
            }
            let pcts = ["p50", "p99", "p99.9"];
            let values: Vec<Vec<Option<f64>>> = pcts
                .iter()
                .map(|p| {
                    report
                        .servers
                        .iter()
                        .map(|s| value(row(report, s, &key.0, &key.1), &format!("{what} {p}")))
                        .collect()
                })
                .collect();
            let title = format!("{what} latency, {} {}", key.0, key.1);
            let chart = Bars {
                title: &title,
                unit: "us",
                groups: pcts.iter().map(|p| p.to_string()).collect(),
                series: report.servers.clone(),
                values,
            };
            let _ = write!(out, "<figure>{}</figure>", chart.svg());
            seen.push(key);
        }
    }
    out
}

/// Every figure: one table per workload and parameters.
fn tables(report: &BenchReport) -> String {
    let mut out = String::new();
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for r in &report.rows {
        if !keys.contains(&(r.workload.as_str(), r.params.as_str())) {
            keys.push((&r.workload, &r.params));
        }
    }
    for (workload, params) in keys {
        let rows: Vec<Option<&Row>> = report
            .servers
            .iter()
            .map(|s| row(report, s, workload, params))
            .collect();
        let _ = write!(
            out,
            "<h3>{} {}</h3><div class=\"wrap\"><table><thead><tr><th></th>",
            esc(workload),
            esc(params)
        );
        for s in &report.servers {
            let _ = write!(out, "<th>{}</th>", esc(s));
        }
        out.push_str("</tr></thead><tbody>");
        let mut names: Vec<(&str, &str)> = Vec::new();
        for r in rows.iter().flatten() {
            for m in &r.metrics {
                if !names.iter().any(|(n, _)| *n == m.name) {
                    names.push((&m.name, &m.unit));
                }
            }
        }
        for (name, unit) in names {
            let _ = write!(out, "<tr><td>{}</td>", esc(name));
            for r in &rows {
                let cell = match value(*r, name) {
                    Some(v) => format!("{v:.3} {unit}"),
                    None => "-".into(),
                };
                let _ = write!(out, "<td>{}</td>", esc(cell.trim()));
            }
            out.push_str("</tr>");
        }
        out.push_str("<tr><td>errors</td>");
        for r in &rows {
            let cell = match r {
                Some(r) if r.skipped.is_some() => "skipped".to_string(),
                Some(r) => format!("{} of {}", r.errors, r.ok + r.errors),
                None => "-".into(),
            };
            let _ = write!(out, "<td>{}</td>", esc(&cell));
        }
        out.push_str("</tr><tr><td>limit</td>");
        for r in &rows {
            let cell = match r {
                Some(r) if r.skipped.is_none() => r.limit.to_string(),
                _ => "-".into(),
            };
            let _ = write!(out, "<td>{}</td>", esc(&cell));
        }
        out.push_str("</tr></tbody></table></div>");
        for r in rows.iter().flatten() {
            for n in r.skipped.iter().chain(&r.notes) {
                let _ = write!(out, "<p class=\"muted\">{}: {}</p>", esc(&r.server), esc(n));
            }
        }
    }
    out
}
