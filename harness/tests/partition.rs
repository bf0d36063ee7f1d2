//! A run split over machines (`--partition K/N`) and joined again
//! (`harness merge`) reports what one run of every case reports.

mod common;

use assert_cmd::Command;
use predicates::prelude::*;

fn harness() -> Command {
    common::harness_within(std::time::Duration::from_secs(120))
}

const RUN: &[&str] = &[
    "scenarios",
    "--driver",
    "native",
    "--filter",
    "alpn/*",
    "--filter",
    "fin/*",
    "--server",
    "reference",
    "--server",
    "quinn",
    "--expect",
    "peers/quinn-echo/expect.json",
    "--repeat",
    "2",
    "--seed",
    "7",
];

/// A report without what depends on the machine and the moment: times,
/// and the servers' log lines (stamped, with the clients' ports).
fn comparable(mut v: serde_json::Value) -> serde_json::Value {
    for r in v["results"].as_array_mut().unwrap() {
        let r = r.as_object_mut().unwrap();
        r.remove("duration_ms");
        r.remove("server_stderr");
    }
    let o = v.as_object_mut().unwrap();
    o.remove("wall_ms");
    o.remove("jobs");
    v
}

#[test]
fn a_two_way_split_merged_equals_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.json");
    harness()
        .args(RUN)
        .arg("--json")
        .arg(&whole)
        .assert()
        .success();
    let mut parts = Vec::new();
    for k in ["1/2", "2/2"] {
        let p = dir.path().join(format!("part{}.json", &k[..1]));
        harness()
            .args(RUN)
            .args(["--partition", k, "--json"])
            .arg(&p)
            .assert()
            .success();
        parts.push(p);
    }
    let (html, junit) = (dir.path().join("m.html"), dir.path().join("m.xml"));
    let out = harness()
        .arg("merge")
        .args(parts.iter().rev())
        .args(["--format", "json", "--html"])
        .arg(&html)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let whole: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&whole).unwrap()).unwrap();
    let part1: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&parts[0]).unwrap()).unwrap();
    let n = |v: &serde_json::Value| v["results"].as_array().unwrap().len();
    assert!(
        n(&part1) < n(&whole) && n(&whole) >= 20,
        "{} of {}",
        n(&part1),
        n(&whole)
    );
    assert_eq!(comparable(merged), comparable(whole));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("fin/binary"),
        "the merged HTML report has the cases"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testsuite"), "{xml}");
}

#[test]
fn a_part_missing_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("part1.json");
    harness()
        .args(RUN)
        .args(["--filter", "fin/binary", "--partition", "1/3", "--json"])
        .arg(&p)
        .assert()
        .success();
    harness()
        .arg("merge")
        .arg(&p)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("part 2/3 is missing"));
    harness()
        .args(["scenarios", "--partition", "3/2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("expected K/N with 1 <= K <= N"));
}
