//! Servers that break in the ways real ones do: they exit when a client
//! leaves without a stream, exit every few connections, or never answer.
//! The harness must give true verdicts on the other cases, name the cause
//! on the broken ones, and never wait out its timeouts to find out.

mod common;

use common::{reference_template, root};

use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

/// The per-scenario limit in these runs: far above what a case against a
/// dead server may take, so a case that waited for it is plain to see.
const TIMEOUT_S: u64 = 30;
/// What a case may take at most when its server dies under it (a loaded
/// 2-core machine included): a tenth of the timeout.
const DEAD_SERVER_CASE_MS: u64 = TIMEOUT_S * 100;

/// Runs the native driver over `scenarios` against the test build of the
/// reference server started with `fault`; returns (exit code, report).
fn run(fault: &str, scenarios: &[&str]) -> (i32, Value) {
    let template = reference_template("fragile", &format!("{fault} {{args}}"));
    run_template(&template, &[&format!("--timeout={TIMEOUT_S}s")], scenarios)
}

/// Runs the native driver over `scenarios` against `template`, with the
/// harness flags `flags`; returns (exit code, report).
fn run_template(template: &str, flags: &[&str], scenarios: &[&str]) -> (i32, Value) {
    let out = Command::cargo_bin("harness")
        .unwrap()
        .current_dir(root())
        .args(["--driver", "native", "--format", "json"])
        .args(flags)
        .arg("--server")
        .arg(template)
        .args(scenarios.iter().map(|s| format!("scenarios/{s}.json")))
        .timeout(Duration::from_secs(240))
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

/// (status, reason, duration_ms) of `id` in `report`.
fn case<'a>(report: &'a Value, id: &str) -> (&'a str, &'a str, u64) {
    let r = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scenario"] == id)
        .unwrap_or_else(|| panic!("{id} not in the report"));
    (
        r["status"].as_str().unwrap(),
        r["reason"].as_str().unwrap_or(""),
        r["duration_ms"].as_u64().unwrap(),
    )
}

#[test]
fn a_server_that_exits_on_a_streamless_close_fails_only_that_scenario() {
    let passing = [
        "fin/close-no-error",
        "input/8192-bytes",
        "alpn/rejected-then-served",
        "alpn/none-rejected",
        "sequential/ten-in-a-row",
    ];
    let mut all = passing.to_vec();
    all.push("robust/close-without-stream");
    let (code, report) = run("--fault exit-on-streamless-close", &all);
    // The harness's own readiness and liveness checks are full echoes, so
    // they never kill such a server: what it gets right, it passes.
    for id in passing {
        let (status, reason, _) = case(&report, id);
        assert_eq!(status, "pass", "{id}: {reason}");
    }
    let (status, reason, ms) = case(&report, "robust/close-without-stream");
    assert_eq!(status, "fail");
    assert!(
        reason.starts_with("server: expected still running, got server exited with"),
        "{reason}"
    );
    assert!(ms < DEAD_SERVER_CASE_MS, "{ms} ms");
    assert_eq!(code, 1);
}

#[test]
fn a_server_that_dies_mid_case_is_seen_at_once_and_restarted() {
    // Serves two connections (the readiness probe and one more), then
    // exits when the next arrives; restarted for each case that needs it.
    let ids = [
        "sequential/ten-in-a-row",
        "input/1-byte",
        "sequential/mixed-alpns",
        "fin/zero-bytes",
    ];
    let (code, report) = run("--fault-exit-after 2", &ids);
    for id in ["sequential/ten-in-a-row", "sequential/mixed-alpns"] {
        let (status, reason, ms) = case(&report, id);
        assert_eq!(status, "fail", "{id}");
        assert!(
            reason.contains("server exited with exit status: 1"),
            "{id}: {reason}"
        );
        assert!(ms < DEAD_SERVER_CASE_MS, "{id} took {ms} ms");
    }
    // Each of these is the first connection to a restarted server.
    for id in ["input/1-byte", "fin/zero-bytes"] {
        let (status, reason, _) = case(&report, id);
        assert_eq!(status, "pass", "{id}: {reason}");
    }
    assert_eq!(code, 1);
}

#[test]
fn a_server_that_never_answers_is_reported_within_the_ready_timeout() {
    let template = reference_template("silent", "--fault never-answer");
    let started = std::time::Instant::now();
    Command::cargo_bin("harness")
        .unwrap()
        .current_dir(root())
        .args(["--driver", "native", "--ready-timeout", "2s"])
        .arg("--server")
        .arg(&template)
        .arg("scenarios/input/1-byte.json")
        .timeout(Duration::from_secs(60))
        .assert()
        .code(3)
        .stderr(predicates::str::contains(
            "did not complete a QUIC handshake before --ready-timeout",
        ));
    // Bounded by --ready-timeout, not by --timeout or the 60 s guard.
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// A server that cannot listen where a case needs it broke no rule the
/// harness saw: the case is an ERROR (exit 3), not a FAIL, and the cases
/// it can serve still pass.
#[test]
fn a_server_that_cannot_start_for_a_case_is_an_error_not_a_failure() {
    let real = reference_template("v4only", "");
    let command = real.split_once('=').unwrap().1;
    // Exits at once when asked for an IPv6 address ({ip} is bare: ::1).
    let template = format!(
        "v4only=sh -c 'case {{ip}} in *:*) echo no IPv6 here >&2; exit 1;; esac; exec {command}'"
    );
    let flags = ["--ready-timeout", "3s"];
    let (code, report) = run_template(&template, &flags, &["fin/binary", "transport/ipv6"]);
    assert_eq!(case(&report, "fin/binary").0, "pass");
    let (status, reason, _) = case(&report, "transport/ipv6");
    assert_eq!(status, "error", "{reason}");
    assert!(reason.contains("could not be (re)started"), "{reason}");
    assert_eq!(report["summary"]["all"]["errors"], 1);
    assert_eq!(code, 3, "errors and nothing unexpected: exit 3");
}

/// `{ip}` is the listening address without brackets, for servers that take
/// the host apart from the port: with it an IPv6 case runs and passes.
#[test]
fn a_template_can_take_the_bare_address() {
    let exe = assert_cmd::cargo::cargo_bin("harness");
    let template = format!(
        "bare=sh -c 'case {{ip}} in *:*) a=\"[{{ip}}]\";; *) a={{ip}};; esac; \
         exec {} serve-reference --listen \"$a:{{port}}\" --cert {{chain}} --key {{key}}'",
        exe.display()
    );
    let (code, report) = run_template(&template, &["--ready-timeout", "3s"], &["transport/ipv6"]);
    let (status, reason, _) = case(&report, "transport/ipv6");
    assert_eq!(status, "pass", "{reason}");
    assert_eq!(code, 0);
}
