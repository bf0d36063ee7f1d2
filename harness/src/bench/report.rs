//! Benchmark results: rows of metrics, a table for people (servers side by
//! side, with ratios to the first), JSON for machines.

use std::io::Write;

use serde::Serialize;

use super::cpus::Limit;
use super::floor::Floor;

use super::stats::Spread;

/// One figure of one row.
#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    pub name: String,
    pub unit: String,
    /// The median over repetitions, or the single value; `null` when it
    /// could not be measured (e.g. p99 from fewer than 300 samples).
    pub value: Option<f64>,
    /// Over repetitions, when the metric was measured per repetition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread: Option<Spread>,
}

/// One workload with one set of parameters, on one server.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub server: String,
    pub workload: String,
    pub params: String,
    pub metrics: Vec<Metric>,
    /// Latency sample counts, by what was timed.
    pub samples: Vec<(String, usize)>,
    /// Connections that did all they set out to, exactly.
    pub ok: u64,
    /// Connections that failed (handshake, wrong echo, reset, timeout).
    pub errors: u64,
    /// The first distinct failure reasons.
    pub failures: Vec<String>,
    /// The load generator's CPU time over wall time (1.0 = one full core).
    pub client_cpu_share: f64,
    /// Load-generator threads (the share can reach this many cores).
    pub client_threads: usize,
    /// The server's CPU time over wall time, when its process is seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_share: Option<f64>,
    /// Which side kept its CPUs busy: only rows the server limited rank
    /// servers by rate.
    pub limit: Limit,
    pub notes: Vec<String>,
    /// Why this workload was not run against this server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl Row {
    pub fn new(server: &str, workload: &str, params: String) -> Row {
        Row {
            server: server.into(),
            workload: workload.into(),
            params,
            metrics: Vec::new(),
            samples: Vec::new(),
            ok: 0,
            errors: 0,
            failures: Vec::new(),
            client_cpu_share: 0.0,
            client_threads: 1,
            server_cpu_share: None,
            limit: Limit::Unknown,
            notes: Vec::new(),
            skipped: None,
        }
    }

    /// A workload not run against this server, and why.
    pub fn skipped(server: &str, workload: &str, params: String, why: String) -> Row {
        Row {
            skipped: Some(why),
            ..Row::new(server, workload, params)
        }
    }

    pub fn point(&mut self, name: &str, unit: &str, value: Option<f64>) {
        self.metrics.push(Metric {
            name: name.into(),
            unit: unit.into(),
            value: value.filter(|v| v.is_finite()),
            spread: None,
        });
    }

    pub fn spread(&mut self, name: &str, unit: &str, spread: Option<Spread>) {
        self.metrics.push(Metric {
            name: name.into(),
            unit: unit.into(),
            value: spread.map(|s| s.median),
            spread,
        });
    }

    /// A progress line for stderr.
    pub fn one_line(&self) -> String {
        if let Some(why) = &self.skipped {
            return format!(
                "{} {} {}: skipped: {why}",
                self.server, self.workload, self.params
            );
        }
        let shown: Vec<String> = self
            .metrics
            .iter()
            .filter_map(|m| m.value.map(|v| format!("{} {}", m.name, fmt(v, &m.unit))))
            .collect();
        format!(
            "{} {} {}: {}; errors {}",
            self.server,
            self.workload,
            self.params,
            shown.join(", "),
            self.errors
        )
    }
}

/// Every row of a run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub servers: Vec<String>,
    pub rows: Vec<Row>,
    /// The CPUs each side ran on ("all" when not pinned).
    pub server_cpus: String,
    pub client_cpus: String,
    /// The handshake's cryptography on the server's CPUs, measured before
    /// the workloads; `floor_missing` says why not when it could not be.
    pub floor: Option<Floor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor_missing: Option<String>,
}

/// A rate compares servers only where both rows measured the server.
fn ranked(unit: &str, row: Option<&Row>, base: Option<&Row>) -> bool {
    let rate = matches!(unit, "1/s" | "MB/s");
    let measured = |r: Option<&Row>| r.is_some_and(|r| r.limit == Limit::Server);
    !rate || (measured(row) && measured(base))
}

fn fmt(v: f64, unit: &str) -> String {
    let n = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    };
    if unit.is_empty() || unit == "1/s" {
        n
    } else {
        format!("{n} {unit}")
    }
}

impl BenchReport {
    pub fn new(servers: Vec<String>) -> Self {
        BenchReport {
            servers,
            rows: Vec::new(),
            server_cpus: "all".into(),
            client_cpus: "all".into(),
            floor: None,
            floor_missing: None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises") + "\n"
    }

    /// Servers side by side: one block per workload and parameters, one
    /// line per metric (median, [min-max] over repetitions), ratios to the
    /// first server.
    pub fn human(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(
            out,
            "server on CPUs {}, load generator on CPUs {}; rates (1/s, MB/s) get a ratio only \
             where both rows were limited by the server (\"limit\")\n",
            self.server_cpus, self.client_cpus
        )?;
        match (&self.floor, &self.floor_missing) {
            (Some(f), _) => writeln!(out, "crypto floor: {}\n", f.describe())?,
            (None, Some(why)) => writeln!(out, "crypto floor: not measured ({why})\n")?,
            (None, None) => {}
        }
        let mut keys: Vec<(&str, &str)> = Vec::new();
        for r in &self.rows {
            if !keys.contains(&(r.workload.as_str(), r.params.as_str())) {
                keys.push((&r.workload, &r.params));
            }
        }
        for (workload, params) in keys {
            self.block(out, workload, params)?;
        }
        Ok(())
    }

    /// One workload and parameters: a column per server.
    fn block(&self, out: &mut impl Write, workload: &str, params: &str) -> std::io::Result<()> {
        let width = 42;
        writeln!(out, "{workload} {params}")?;
        let rows: Vec<Option<&Row>> = self
            .servers
            .iter()
            .map(|s| {
                self.rows
                    .iter()
                    .find(|r| &r.server == s && r.workload == workload && r.params == params)
            })
            .collect();
        write!(out, "  {:width$}", "")?;
        for s in &self.servers {
            write!(out, "{s:>34}")?;
        }
        writeln!(out)?;
        // Metric names come from a row that was run, if any was.
        let first = rows
            .iter()
            .flatten()
            .find(|r| r.skipped.is_none())
            .or_else(|| rows.iter().flatten().next())
            .expect("at least one row");
        for (i, m) in first.metrics.iter().enumerate() {
            write!(out, "  {:width$}", m.name)?;
            let base = rows[0].and_then(|r| r.metrics.get(i)).and_then(|m| m.value);
            for (j, r) in rows.iter().enumerate() {
                let metric = r.and_then(|r| r.metrics.get(i));
                let v = metric.and_then(|m| m.value);
                let range = match metric.and_then(|m| m.spread) {
                    Some(s) if s.min != s.max => {
                        format!(" [{}-{}]", fmt(s.min, ""), fmt(s.max, ""))
                    }
                    _ => String::new(),
                };
                let cell = match (v, base) {
                    (None, _) => "-".to_string(),
                    (Some(v), Some(b)) if j > 0 && b != 0.0 && ranked(&m.unit, *r, rows[0]) => {
                        format!("{}{range} ({:.2}x)", fmt(v, &m.unit), v / b)
                    }
                    (Some(v), _) => format!("{}{range}", fmt(v, &m.unit)),
                };
                write!(out, "{cell:>34}")?;
            }
            writeln!(out)?;
        }
        let line = |out: &mut dyn Write, name: &str, f: &dyn Fn(&Row) -> String| {
            write!(out, "  {name:width$}")?;
            for r in &rows {
                write!(out, "{:>34}", r.map_or("-".into(), f))?;
            }
            writeln!(out)
        };
        line(out, "errors", &|r| match r.skipped {
            Some(_) => "skipped".into(),
            None => format!("{} of {}", r.errors, r.ok + r.errors),
        })?;
        line(out, "client CPU", &|r| {
            format!(
                "{:.0}% of a core, {} thread(s)",
                r.client_cpu_share * 100.0,
                r.client_threads
            )
        })?;
        line(out, "server CPU", &|r| match r.server_cpu_share {
            Some(s) => format!("{:.0}% of a core", s * 100.0),
            None => "-".into(),
        })?;
        line(out, "limit", &|r| match r.skipped {
            Some(_) => "-".into(),
            None => r.limit.to_string(),
        })?;
        for r in rows.iter().flatten() {
            if let Some(why) = &r.skipped {
                writeln!(out, "  {}: skipped: {why}", r.server)?;
            }
            for f in &r.failures {
                writeln!(out, "  {}: failure: {f}", r.server)?;
            }
            for n in &r.notes {
                writeln!(out, "  {}: note: {n}", r.server)?;
            }
        }
        writeln!(out)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_puts_servers_side_by_side_with_ratios() {
        let mut report = BenchReport::new(vec!["a".into(), "b".into()]);
        for (s, v) in [("a", 100.0), ("b", 50.0)] {
            let mut r = Row::new(s, "churn", "clients=1".into());
            r.spread("connections/s", "1/s", Spread::of(&[v, v * 0.9, v * 1.1]));
            r.point("echo p99", "us", None);
            r.ok = 10;
            r.limit = Limit::Server;
            report.rows.push(r);
        }
        let mut out = Vec::new();
        report.human(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\n\nchurn clients=1\n"), "{text}");
        assert!(text.contains("50.00 [45.00-55.00] (0.50x)"), "{text}");
        assert!(text.contains("100 [90.00-110]"), "{text}");
        assert!(text.contains("echo p99"), "{text}");
        assert!(text.contains("0 of 10"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["rows"][1]["metrics"][0]["value"], 50.0);
        assert!(json["rows"][0]["metrics"][1]["value"].is_null());
    }

    #[test]
    fn the_crypto_floor_heads_the_table_or_says_why_it_is_missing() {
        let mut report = BenchReport::new(vec!["a".into()]);
        let text = |r: &BenchReport| {
            let mut out = Vec::new();
            r.human(&mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert!(!text(&report).contains("crypto floor"));
        report.floor_missing = Some("no openssl found".into());
        assert!(text(&report).contains("crypto floor: not measured (no openssl found)"));
        report.floor = Some(Floor {
            ecdsa_p256_sign_us: 20.0,
            ecdsa_p256_verify_us: 60.0,
            x25519_us: 30.0,
            client: super::super::generator::LoadGenerator::Quinn.crypto(),
        });
        assert!(
            text(&report).contains("crypto floor: 80 us per handshake"),
            "{}",
            text(&report)
        );
    }

    #[test]
    fn rates_get_no_ratio_unless_both_rows_measured_the_server() {
        let mut report = BenchReport::new(vec!["a".into(), "b".into()]);
        for (s, limit) in [("a", Limit::Server), ("b", Limit::LoadGenerator)] {
            let mut r = Row::new(s, "churn", "clients=16".into());
            r.point("connections/s", "1/s", Some(100.0));
            r.point("handshake p50", "us", Some(200.0));
            r.limit = limit;
            report.rows.push(r);
        }
        let mut out = Vec::new();
        report.human(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let line = |name: &str| text.lines().find(|l| l.contains(name)).unwrap().to_string();
        assert!(!line("connections/s").contains("x)"), "{text}");
        assert!(line("handshake p50").contains("(1.00x)"), "{text}");
        assert!(line("limit").contains("load generator"), "{text}");
        report.rows[1].limit = Limit::Server;
        let mut out = Vec::new();
        report.human(&mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("100 (1.00x)"));
    }

    #[test]
    fn a_skipped_workload_shows_its_reason_not_figures() {
        let mut report = BenchReport::new(vec!["a".into(), "b".into()]);
        let mut r = Row::new("a", "warm", "size=64".into());
        r.point("round trip p50", "us", Some(70.0));
        report.rows.push(r);
        report.rows.push(Row::skipped(
            "b",
            "warm",
            "size=64".into(),
            "no keep-alive".into(),
        ));
        let mut out = Vec::new();
        report.human(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("round trip p50"), "{text}");
        assert!(text.contains("  b: skipped: no keep-alive"), "{text}");
        assert!(text.contains("skipped"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["rows"][1]["skipped"], "no keep-alive");
    }
}
