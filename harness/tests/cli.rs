//! The harness command line: exit codes, listing, filtering, report formats.

mod common;

use common::{reference_template, root};

use assert_cmd::Command;
use predicates::prelude::*;

fn harness() -> Command {
    common::harness_within(std::time::Duration::from_secs(120))
}

#[test]
fn list_names_every_scenario_and_filter_narrows_it() {
    harness()
        .args(["scenarios", "--list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("alpn/h3-rejected"))
        .stdout(predicate::str::contains("concurrency/ten-at-once  Should"));
    let out = harness()
        .args([
            "scenarios",
            "--list",
            "--filter",
            "input/*",
            "--filter",
            "fin/zero*",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let ids: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(
        ids.iter()
            .all(|i| i.starts_with("input/") || *i == "fin/zero-bytes"),
        "{ids:?}"
    );
    assert_eq!(ids.len(), 7, "{ids:?}");
}

#[test]
fn a_bad_scenario_file_is_exit_2_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("early.json");
    std::fs::write(
        &f,
        "{\n  \"id\": \"x\",\n  \"description\": \"d\",\n  \"level\": \"must\",\n  \"expct\": 1\n}\n",
    )
    .unwrap();
    harness()
        .arg(&f)
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(format!(
            "{}:5:9: unknown field \"expct\", expected one of",
            f.display()
        )));
}

#[test]
fn duplicate_ids_missing_paths_and_bad_globs_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("scenarios/fin/zero-bytes.json")).unwrap();
    std::fs::write(dir.path().join("a.json"), &text).unwrap();
    std::fs::write(dir.path().join("b.json"), &text).unwrap();
    harness()
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "duplicate scenario id \"fin/zero-bytes\"",
        ));
    harness()
        .arg("no/such/dir")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no/such/dir"));
    harness()
        .args(["scenarios", "--filter", "[oops"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--filter"));
    harness()
        .args(["scenarios", "--filter", "nothing/*"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no scenarios matched"));
}

#[test]
fn a_server_that_cannot_start_is_exit_3_with_its_stderr() {
    harness()
        .args(["scenarios", "--ready-timeout", "5s", "--server"])
        .arg("sh -c 'echo cannot bind port {port} >&2; exit 7'")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("could not start"))
        .stderr(predicate::str::contains("exit status: 7"))
        .stderr(predicate::str::contains("cannot bind port"));
    harness()
        .args(["scenarios", "--server", "/no/such/server {port}"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("cannot run"));
}

#[test]
fn json_and_junit_reports_are_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let junit = dir.path().join("r.xml");
    harness()
        .args([
            "scenarios",
            "--filter",
            "alpn/*",
            "--driver",
            "native",
            "--json",
        ])
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(
                r"(?m)^6 passed, 0 failed, 0 skipped, 0 errors in \d+\.\d s \(\d+ jobs?\)$",
            )
            .unwrap(),
        );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["summary"]["all"]["passed"], 6);
    assert_eq!(report["results"][0]["driver"], "native");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(
        xml.contains("<testsuite name=\"reference\" tests=\"6\""),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), 6);

    let out = harness()
        .args([
            "scenarios",
            "--filter",
            "fin/zero-bytes",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["results"][0]["status"], "pass");
}

#[test]
fn skipped_drivers_fail_only_when_required() {
    let lacks = |p: &mut Command| {
        p.args([
            "scenarios",
            "--filter",
            "input/1-byte",
            "--driver",
            "openssl",
        ])
        .env("HARNESS_OPENSSL", "/no/such/openssl")
        .env("PATH", "/nonexistent");
    };
    let mut c = harness();
    lacks(&mut c);
    c.assert()
        .success()
        .stdout(predicate::str::contains("SKIP  input/1-byte  [openssl]"))
        .stdout(predicate::str::contains(
            "0 passed, 0 failed, 1 skipped, 0 errors",
        ));
    let mut c = harness();
    lacks(&mut c);
    c.args(["--require-driver", "openssl"]).assert().code(1);
}

/// `server_args` reach the reference server and a template's `{args}`; a
/// template without `{args}` skips the scenario and says why.
#[test]
fn server_args_reach_the_server_or_the_scenario_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("args.json");
    // Only hq-interop accepted, so an http/1.0 client is refused: that can
    // pass only if the flags arrived.
    std::fs::write(
        &f,
        r#"{"id": "args/alpn", "description": "d", "level": "must",
            "server_args": ["--alpn", "hq-interop"],
            "connections": [{"alpn": ["http/1.0"], "streams": [],
                             "expect": {"handshake": "rejected"}}]}"#,
    )
    .unwrap();
    let template = |extra: &str| reference_template("t", extra);
    harness()
        .arg(&f)
        .assert()
        .success()
        .stdout(predicate::str::contains("PASS  args/alpn"));
    harness()
        .arg(&f)
        .args(["--server", &template(" {args}")])
        .assert()
        .success()
        .stdout(predicate::str::contains("PASS  args/alpn"));
    harness()
        .arg(&f)
        .args(["--server", &template("")])
        .assert()
        .success()
        .stdout(predicate::str::contains("SKIP  args/alpn"))
        .stdout(predicate::str::contains(
            "needs the server started with `--alpn hq-interop`",
        ));
}

#[test]
fn expect_file_turns_known_failures_green_and_reports_unexpected_passes() {
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("known.json");
    std::fs::write(
        &known,
        r#"{"known": [{"server": "reference", "scenario": "fin/zero-bytes", "outcome": "fail", "reason": "pretend it is broken"}]}"#,
    )
    .unwrap();
    harness()
        .args([
            "scenarios",
            "--filter",
            "fin/zero-bytes",
            "--driver",
            "native",
            "--expect",
        ])
        .arg(&known)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("UNEXPECTED PASS"))
        .stdout(predicate::str::contains("unexpected results: 1"))
        .stdout(predicate::str::contains(
            "  unexpected PASS: fin/zero-bytes [native] reference (expect file: pretend it is broken)",
        ));
    std::fs::write(&known, r#"{"known": [{"server": 1}]}"#).unwrap();
    harness()
        .args(["scenarios", "--expect"])
        .arg(&known)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("known.json:1:"));
}

#[test]
fn several_servers_give_a_matrix() {
    let other = reference_template("alt", "--alpn http/1.0");
    harness()
        .args([
            "scenarios",
            "--filter",
            "alpn/hq-interop-accepted",
            "--driver",
            "native",
        ])
        .args(["--server", "reference", "--server"])
        .arg(&other)
        .assert()
        .code(1)
        .stdout(
            predicate::str::is_match(r"alpn/hq-interop-accepted \[native\]\s+PASS\s+FAIL").unwrap(),
        );
}

#[test]
fn help_documents_exit_codes() {
    harness()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "3  no verdict: a server under test could not be started",
        ))
        .stdout(predicate::str::contains("ERROR (no verdict on the server)"))
        .stdout(predicate::str::contains("{ip}"))
        .stdout(predicate::str::contains("{port}"));
}

/// Polls `cond` every 20 ms for at most `limit`.
fn eventually(limit: std::time::Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + limit;
    while std::time::Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    cond()
}

/// Whether a process whose whole command line is `m` is running.
fn running(m: &str) -> bool {
    std::process::Command::new("pgrep")
        // Anchored, so the harness's own command line does not match.
        .args(["-f", &format!("^{m}$")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Starts the harness against a `sleep` "server" (`template` is run with
/// the marker in place of `{m}`) and waits until that server runs; returns
/// the harness and the marker command line.
fn harness_with_sleeping_server(base: u32, template: &str) -> (std::process::Child, String) {
    let marker = format!("sleep {}", base + std::process::id() % 1000);
    let h = std::process::Command::new(assert_cmd::cargo::cargo_bin("harness"))
        .current_dir(root())
        .args(["scenarios", "--ready-timeout", "60s", "--server"])
        .arg(template.replace("{m}", &marker))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        eventually(std::time::Duration::from_secs(20), || running(&marker)),
        "server never started"
    );
    (h, marker)
}

#[test]
fn ctrl_c_leaves_no_server_process_behind() {
    let (mut h, marker) = harness_with_sleeping_server(3000, "sh -c '{m}; true'");
    // SAFETY: signalling our own child.
    unsafe {
        libc_kill(h.id() as i32, 2);
    }
    assert!(eventually(std::time::Duration::from_secs(10), || h
        .try_wait()
        .unwrap()
        .is_some()));
    assert!(
        eventually(std::time::Duration::from_secs(5), || !running(&marker)),
        "the server outlived the harness"
    );
}

/// Even SIGKILL, which the harness cannot catch, takes the server it
/// started along (PR_SET_PDEATHSIG).
#[test]
fn a_killed_harness_takes_its_server_along() {
    let (mut h, marker) = harness_with_sleeping_server(4000, "{m}");
    h.kill().unwrap(); // SIGKILL
    h.wait().unwrap();
    assert!(
        eventually(std::time::Duration::from_secs(5), || !running(&marker)),
        "the server outlived the killed harness"
    );
}

#[test]
fn a_server_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let marker = format!("sleep {}", 5000 + std::process::id() % 1000);
    let start = std::time::Instant::now();
    // Never ready, and deaf to SIGTERM: the harness gives up on readiness,
    // sends SIGTERM, waits its grace period, then SIGKILLs the group.
    harness()
        .args(["scenarios", "--ready-timeout", "1s", "--server"])
        .arg(format!("sh -c 'trap \"\" TERM; {marker}; true'"))
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(3);
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
    let left = std::process::Command::new("pgrep")
        .args(["-f", &format!("^{marker}$")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(!left, "the SIGTERM-deaf server outlived the harness");
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// The report is the same whatever runs side by side: same cases, same
/// order, same verdicts and checks (only timings differ).
#[test]
fn jobs_change_the_schedule_not_the_report() {
    let report = |jobs: &str| -> serde_json::Value {
        let out = harness()
            .args(["scenarios", "--format", "json", "--driver", "native"])
            .args([
                "--filter", "alpn/*", "--filter", "fin/*", "--filter", "input/*",
            ])
            .args(["--jobs", jobs])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for r in v["results"].as_array_mut().unwrap() {
            r.as_object_mut().unwrap().remove("duration_ms");
        }
        assert_eq!(v["jobs"], jobs.parse::<u64>().unwrap());
        let o = v.as_object_mut().unwrap();
        o.remove("wall_ms");
        o.remove("jobs");
        v
    };
    let one = report("1");
    assert!(one["results"].as_array().unwrap().len() >= 15, "{one}");
    assert_eq!(one, report("6"));
}

#[test]
fn level_selects_must_or_should_scenarios() {
    let listed = |level: &str| -> String {
        let out = harness()
            .args(["scenarios", "--list", "--level", level])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let must = listed("must");
    assert!(must.lines().count() > 10, "{must}");
    assert!(must.lines().all(|l| l.contains("  Must  ")), "{must}");
    let should = listed("should");
    assert!(should.lines().all(|l| l.contains("  Should  ")), "{should}");
    assert!(should.contains("concurrency/1000-at-once"), "{should}");
    harness()
        .args([
            "scenarios",
            "--level",
            "must",
            "--filter",
            "concurrency/1000-at-once",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--level"));
}

/// The progress indicator is for terminals only: captured output has none.
#[test]
fn no_progress_line_reaches_captured_output() {
    let out = harness()
        .args(["scenarios", "--filter", "alpn/*", "--driver", "native"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stderr.contains("\x1b[2K") && !stderr.contains("[0/"),
        "{stderr}"
    );
    assert!(!stdout.contains("\x1b[2K"), "{stdout}");
}

/// `--repeat`: every run of a case with a seed of its own (the first the
/// run's), one line per case, the runs together in the JSON and one JUnit
/// test case for them.
#[test]
fn repeat_runs_each_case_with_seeds_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let junit = dir.path().join("r.xml");
    harness()
        .args(["scenarios/network/delay-jitter.json", "--driver", "native"])
        .args(["--repeat", "3", "--seed", "7", "--json"])
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "PASS 3/3  network/delay-jitter  [native]",
        ))
        .stdout(predicate::str::contains(
            "3 passed, 0 failed, 0 skipped, 0 errors",
        ));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    let seeds: Vec<u64> = results
        .iter()
        .map(|r| r["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds[0], 7, "the first run has the run's seed");
    assert!(seeds[1] != seeds[0] && seeds[2] != seeds[1] && seeds[2] != seeds[0]);
    let runs: Vec<u64> = results.iter().map(|r| r["run"].as_u64().unwrap()).collect();
    assert_eq!(runs, [1, 2, 3]);
    let repeated = &report["repeated"][0];
    assert_eq!(
        (repeated["runs"].as_u64(), repeated["passed"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(repeated["flaky"], false);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 1, "{xml}");
}

#[test]
fn explain_names_a_folder_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    harness()
        .args(["explain"])
        .arg(dir.path().join("missing"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no such folder"));
    harness()
        .args(["explain"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no relay.log and no client.pcap: nothing to draw a timeline from",
        ));
}
