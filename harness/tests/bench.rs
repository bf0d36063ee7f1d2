//! `harness bench --quick`: every workload runs and the report is well
//! formed; a server that mangles echoes shows up as errors, not as speed.
//! (How fast things are is measured by running the bench, not by tests.)

mod common;

use common::{reference_template, root, OutsideServer};

use assert_cmd::Command;
use serde_json::Value;

fn bench(extra: &[&str]) -> (i32, Value, String) {
    let out = Command::cargo_bin("harness")
        .unwrap()
        .current_dir(root())
        .args(["bench", "--quick", "--json", "-"])
        .args(extra)
        .timeout(std::time::Duration::from_secs(240))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stderr: {stderr}"));
    (out.status.code().unwrap_or(-1), report, stderr)
}

fn metric(row: &Value, name: &str) -> Value {
    row["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no metric {name:?} in {row}"))["value"]
        .clone()
}

#[test]
fn every_workload_runs_against_the_reference_server() {
    let (code, report, stderr) = bench(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["servers"], serde_json::json!(["reference"]));
    let rows = report["rows"].as_array().unwrap();
    let workloads: Vec<&str> = rows
        .iter()
        .map(|r| r["workload"].as_str().unwrap())
        .collect();
    for w in ["churn", "saturation", "warm", "goodput", "scale", "idle"] {
        assert!(workloads.contains(&w), "{w} missing: {workloads:?}");
    }
    for r in rows {
        assert_eq!(r["errors"], 0, "{r}");
        let share = r["client_cpu_share"].as_f64().unwrap();
        assert!((0.0..=1.5).contains(&share), "{r}");
        // Idle offers no load: nothing limits it.
        let limits: &[&str] = match r["workload"].as_str() {
            Some("idle") => &["unknown"],
            _ => &["server", "load-generator", "neither"],
        };
        assert!(limits.contains(&r["limit"].as_str().unwrap()), "{r}");
    }
    // On more than one CPU the sides run apart.
    if std::thread::available_parallelism().unwrap().get() >= 2 {
        let (s, c) = (
            report["server_cpus"].as_str().unwrap(),
            report["client_cpus"].as_str().unwrap(),
        );
        assert!(
            s != "all" && c != "all" && s.split(',').all(|cpu| !c.split(',').any(|x| x == cpu))
        );
    }
    let saturation = rows.iter().find(|r| r["workload"] == "saturation").unwrap();
    assert!(metric(saturation, "clients").as_f64().unwrap() >= 1.0);
    let notes = saturation["notes"][0].as_str().unwrap();
    assert!(
        notes.starts_with("clients, connections/s (limit): 1: "),
        "{notes}"
    );
    let churn_row = rows.iter().find(|r| r["workload"] == "churn").unwrap();
    assert!(
        metric(churn_row, "load generator CPU per 1,000 connections")
            .as_f64()
            .unwrap()
            > 0.0
    );
    let churn = rows.iter().find(|r| r["workload"] == "churn").unwrap();
    assert!(metric(churn, "connections/s").as_f64().unwrap() > 0.0);
    assert!(churn["ok"].as_u64().unwrap() > 0);
    let scale = rows.iter().find(|r| r["workload"] == "scale").unwrap();
    assert_eq!(metric(scale, "established at once"), 50.0);
    assert!(metric(scale, "server RSS per connection")
        .as_f64()
        .is_some());
    let warm = rows.iter().find(|r| r["workload"] == "warm").unwrap();
    assert!(metric(warm, "round trip p50").as_f64().unwrap() > 0.0);
    assert!(warm["notes"].as_array().unwrap().is_empty(), "{warm}");
    let idle = rows.iter().find(|r| r["workload"] == "idle").unwrap();
    assert!(metric(idle, "server CPU").as_f64().is_some());
}

#[test]
fn a_server_that_mangles_echoes_gives_errors_and_exit_1() {
    let template = reference_template("broken", "--fault reverse");
    let (code, report, _) = bench(&["--server", &template, "--workload", "churn"]);
    assert_eq!(code, 1);
    let row = &report["rows"][0];
    assert!(row["errors"].as_u64().unwrap() > 0, "{row}");
    assert_eq!(row["ok"], 0, "{row}");
    assert!(
        row["failures"][0]
            .as_str()
            .unwrap()
            .contains("echo differs"),
        "{row}"
    );
}

#[test]
fn several_servers_are_measured_side_by_side_with_ratios() {
    let template = reference_template("other", "--keep-alive");
    let out = Command::cargo_bin("harness")
        .unwrap()
        .current_dir(root())
        .args(["bench", "--quick", "--workload", "warm", "--sizes", "64"])
        .args(["--server", "reference", "--server", &template])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    assert!(table.starts_with("server on CPUs "), "{table}");
    // The servers' names head each block, on the line after its title.
    let header = table
        .lines()
        .skip_while(|l| !l.starts_with("warm size=64"))
        .nth(1)
        .unwrap_or_else(|| panic!("no warm block: {table}"));
    assert!(
        header.contains("reference") && header.contains("other"),
        "{table}"
    );
    let p50 = table
        .lines()
        .find(|l| l.trim_start().starts_with("round trip p50"))
        .unwrap();
    assert!(p50.contains("x)"), "no ratio: {table}");
}

#[test]
fn the_peers_and_a_server_without_keep_alive_get_reasons_not_errors() {
    // The reference server as a template runs without --keep-alive: it
    // closes after each echo, like the guide's server.
    let template = reference_template("closing", "");
    let (code, report, stderr) = bench(&[
        "--server",
        "quinn",
        "--server",
        &template,
        "--workload",
        "warm",
        "--workload",
        "goodput",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let rows = report["rows"].as_array().unwrap();
    for r in rows {
        assert_eq!(r["errors"], 0, "{r}");
        match r["server"].as_str().unwrap() {
            // The quinn peer keeps connections open under the bench flags.
            "quinn" => assert!(r["skipped"].is_null(), "{r}"),
            _ => assert!(
                r["skipped"].as_str().unwrap().contains("no keep-alive"),
                "{r}"
            ),
        }
    }
    for server in ["quinn", "closing"] {
        for w in ["warm", "goodput"] {
            assert!(
                rows.iter()
                    .any(|r| r["server"] == server && r["workload"] == w),
                "no {w} row for {server}"
            );
        }
    }
}

#[test]
fn a_server_the_harness_did_not_start_is_measured_without_its_cpu_and_memory() {
    let server = OutsideServer::start("127.0.0.1:0", &["--keep-alive"]);
    let target = format!("by-hand={}", server.addr);
    let (code, report, stderr) = bench(&[
        "--connect",
        &target,
        "--workload",
        "churn",
        "--workload",
        "idle",
        "--certs",
        "/nonexistent",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let rows = report["rows"].as_array().unwrap();
    let churn = rows.iter().find(|r| r["workload"] == "churn").unwrap();
    assert!(
        metric(churn, "connections/s").as_f64().unwrap() > 0.0,
        "{churn}"
    );
    assert!(
        metric(churn, "server CPU per 1,000 connections").is_null(),
        "{churn}"
    );
    assert!(
        churn["notes"]
            .to_string()
            .contains("cannot see its process"),
        "{churn}"
    );
    let idle = rows.iter().find(|r| r["workload"] == "idle").unwrap();
    assert!(
        idle["skipped"].as_str().unwrap().contains("did not start"),
        "{idle}"
    );
}

#[test]
fn an_html_page_draws_the_figures_as_inline_svg() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bench.html");
    let template = reference_template("other", "--keep-alive");
    let out = Command::cargo_bin("harness")
        .unwrap()
        .current_dir(root())
        .args([
            "bench",
            "--quick",
            "--workload",
            "churn",
            "--workload",
            "warm",
        ])
        .args(["--server", "reference", "--server", &template, "--html"])
        .arg(&page)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    for title in [
        "connections per second (churn)",
        "server CPU per connection (churn)",
        "round trip latency, warm size=64",
    ] {
        assert!(
            html.contains(&format!("aria-label=\"{title}\"")),
            "no chart {title}"
        );
    }
    // A bar per server and client count: 2 servers x 2 counts, by title.
    assert_eq!(
        html.matches("<title>reference, clients=").count(),
        2 * 2,
        "connections/s and CPU"
    );
    assert!(html.contains("<title>other, clients=4:"));
    // Nothing fetched at view time: the only URLs are the SVG namespace.
    assert!(!html.contains("<script src"));
    let namespaces = html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
    assert_eq!(html.matches("http").count(), namespaces);
}

#[test]
fn cpu_sets_that_overlap_or_do_not_parse_are_usage_errors() {
    for (args, says) in [
        (&["--server-cpus", "0", "--client-cpus", "0"][..], "overlap"),
        (&["--server-cpus", "x"][..], "CPU lists look like"),
    ] {
        Command::cargo_bin("harness")
            .unwrap()
            .current_dir(root())
            .args(["bench", "--quick"])
            .args(args)
            .timeout(std::time::Duration::from_secs(60))
            .assert()
            .code(2)
            .stderr(predicates::str::contains(says));
    }
}
