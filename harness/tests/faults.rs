//! Every scenario passes against the reference server and FAILS against a
//! server that breaks the rule it checks, so no check can pass vacuously.

mod common;

use common::{reference_template, root};

use assert_cmd::Command;
use serde_json::Value;

/// Runs the native driver over `scenarios` against the built-in server
/// started with `server_args`; returns (exit code, JSON report).
fn report(server_args: &str, scenarios: &[&str]) -> (i32, Value) {
    report_on(&["native"], server_args, scenarios)
}

/// [`report`] with these drivers (`openssl` only when there is one: see
/// [`common::openssl`]).
fn report_on(drivers: &[&str], server_args: &str, scenarios: &[&str]) -> (i32, Value) {
    let template = reference_template("broken", &format!("{server_args} {{args}}"));
    let mut cmd = Command::cargo_bin("harness").unwrap();
    for d in drivers {
        cmd.args(["--driver", d]);
        if *d == "openssl" {
            let openssl = common::openssl().expect("callers check common::openssl() first");
            cmd.arg("--openssl").arg(openssl);
            cmd.args(["--require-driver", "openssl"]);
        }
    }
    cmd.current_dir(root())
        .args(["--format", "json", "--timeout", "10s"])
        .args(["--seed", "20261125"])
        .arg("--server")
        .arg(&template)
        .args(scenarios.iter().map(|s| match s.ends_with(".json") {
            true => s.to_string(),
            false => format!("scenarios/{s}.json"),
        }))
        .timeout(std::time::Duration::from_secs(180));
    let out = cmd.output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

/// [`report`], as (exit code, scenario id -> status).
fn run(server_args: &str, scenarios: &[&str]) -> (i32, Vec<(String, String)>) {
    let (code, report) = report(server_args, scenarios);
    let statuses = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["scenario"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (code, statuses)
}

/// Asserts each scenario in `scenarios` fails against `server_args`.
fn fails(server_args: &str, scenarios: &[&str]) {
    let (code, statuses) = run(server_args, scenarios);
    assert_eq!(statuses.len(), scenarios.len(), "{statuses:?}");
    for (id, status) in &statuses {
        assert_eq!(status, "fail", "{id} did not fail against `{server_args}`");
    }
    assert_eq!(code, 1, "exit status with failures");
}

#[test]
fn the_reference_server_passes_every_scenario() {
    let mut cmd = Command::cargo_bin("harness").unwrap();
    cmd.current_dir(root())
        .args(["--driver", "native", "--driver", "quinn"])
        .args(["--seed", "20261125", "scenarios"])
        .timeout(std::time::Duration::from_secs(300));
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let last = stdout.lines().last().unwrap();
    assert!(
        last.contains(" 0 failed, 0 skipped, 0 errors in "),
        "{last}"
    );
    assert!(!last.starts_with("0 passed"), "{last}");
}

#[test]
fn alpn_rules_fail_against_a_server_that_accepts_any_alpn() {
    fails(
        "--fault accept-any-alpn",
        &[
            "alpn/h3-rejected",
            "alpn/one-acceptable-in-list",
            "alpn/rejected-then-served",
            "sequential/mixed-alpns",
        ],
    );
}

#[test]
fn refusals_fail_against_a_server_that_drops_them_silently() {
    fails(
        "--fault silent-reject",
        &["alpn/none-rejected", "alpn/h3-rejected"],
    );
    // Bad tokens ignored instead of closed with INVALID_TOKEN.
    let seen = failed_checks(
        "--fault silent-reject",
        "hostile/stale-tokens",
        &["attack: replayed tokens", "attack: expired tokens"],
    );
    assert_eq!(seen, ["3 ignored", "3 ignored"]);
}

#[test]
fn each_guide_alpn_fails_against_a_server_without_it() {
    fails("--alpn hq-interop", &["alpn/http10-accepted"]);
    fails("--alpn http/1.0", &["alpn/hq-interop-accepted"]);
}

#[test]
fn fin_rules_fail_against_a_server_that_echoes_before_fin() {
    fails(
        "--fault echo-before-fin",
        &[
            "fin/held-back",
            "fin/separate-frame",
            "fin/100-chunks",
            "input/oversize-slow",
            "fin/reset-mid-stream",
        ],
    );
}

#[test]
fn echo_checks_fail_against_a_server_that_never_sends_fin() {
    fails(
        "--fault no-fin",
        &[
            "fin/zero-bytes",
            "input/1-byte",
            "sequential/vanished-client",
        ],
    );
}

#[test]
fn exact_echo_checks_fail_against_a_server_that_mangles_bytes() {
    fails(
        "--fault reverse",
        &["fin/binary", "sequential/ten-in-a-row"],
    );
}

#[test]
fn size_limits_fail_against_servers_with_smaller_buffers() {
    fails("--max-input 8190", &["input/8191-bytes"]);
    fails("--max-input 8191", &["input/8192-bytes"]);
}

#[test]
fn oversize_rules_fail_against_a_truncating_server() {
    fails(
        "--fault truncate",
        &[
            "input/8193-refused",
            "input/64k-refused",
            "input/oversize-slow",
        ],
    );
}

#[test]
fn oversize_rules_fail_against_a_server_that_exits_and_the_run_goes_on() {
    let (code, statuses) = run(
        "--fault exit-on-oversize",
        &["input/8193-refused", "input/1-byte", "input/64k-refused"],
    );
    assert_eq!(code, 1);
    let status = |id: &str| statuses.iter().find(|(s, _)| s == id).unwrap().1.clone();
    assert_eq!(status("input/8193-refused"), "fail");
    // The server was restarted and the next scenario ran normally.
    assert_eq!(status("input/1-byte"), "pass");
    assert_eq!(status("input/64k-refused"), "fail");
}

#[test]
fn network_scenarios_fail_against_a_server_that_mangles_bytes() {
    fails(
        "--fault reverse",
        &[
            "network/loss-and-reorder",
            "network/burst-loss",
            "network/duplicate-corrupt",
            "network/lost-handshake-packets",
            "network/blackhole",
            "network/delay-jitter",
        ],
    );
}

#[test]
fn the_flood_fails_against_a_server_without_version_negotiation() {
    fails("--fault no-version-negotiation", &["hostile/flood"]);
}

#[test]
fn the_flood_fails_against_an_amplifying_server() {
    fails("--fault amplify", &["hostile/flood"]);
}

#[test]
fn the_flood_fails_when_the_server_costs_more_cpu_than_allowed() {
    // The reference server passes the shipped bound; a bound no server can
    // meet shows the CPU check is really made.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("scenarios/hostile/flood.json")).unwrap();
    let strict = text
        .replace(
            "\"datagrams\": 100000",
            "\"datagrams\": 10000, \"max_cpu_us_per_datagram\": 0.001",
        )
        .replace("hostile/flood", "hostile/flood-strict");
    let path = dir.path().join("strict.json");
    std::fs::write(&path, strict).unwrap();
    let out = Command::cargo_bin("harness")
        .unwrap()
        .current_dir(root())
        .args(["--driver", "native", "--format", "json", "--seed", "1"])
        .arg(&path)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let result = &report["results"][0];
    assert_eq!(result["status"], "fail", "{result}");
    let cpu = result["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "attack: cpu")
        .unwrap();
    assert_eq!(cpu["passed"], false, "{cpu}");
}

#[test]
fn close_rule_fails_against_a_server_closing_with_an_error() {
    fails(
        "--fault close-with-error",
        &["fin/close-no-error", "fin/stop-sending-mid-echo"],
    );
}

#[test]
fn concurrency_fails_against_a_one_at_a_time_server() {
    fails(
        "--fault serial",
        &[
            "concurrency/ten-at-once",
            "concurrency/stalled-client",
            "concurrency/200-stalled",
        ],
    );
}

#[test]
fn the_connection_flood_fails_against_a_server_that_ignores_clients_when_full() {
    fails("--fault silent-when-full", &["hostile/connection-flood"]);
}

/// Runs one scenario against `server_args` and returns what each of its
/// checks `names` saw; panics unless every one of them failed.
fn failed_checks(server_args: &str, scenario: &str, names: &[&str]) -> Vec<String> {
    let (code, report) = report(server_args, &[scenario]);
    assert_eq!(code, 1, "{scenario} did not fail against `{server_args}`");
    let checks = report["results"][0]["checks"].as_array().unwrap();
    names
        .iter()
        .map(|name| {
            let check = checks
                .iter()
                .find(|c| c["name"] == *name)
                .unwrap_or_else(|| panic!("no {name} check in {checks:?}"));
            assert_eq!(check["passed"], false, "{check}");
            check["actual"].as_str().unwrap().to_string()
        })
        .collect()
}

/// A server that takes any token it can parse lets both misuses through;
/// the control still passes, so the checks are not vacuous.
#[test]
fn stale_tokens_fail_against_a_server_that_takes_any_token() {
    let seen = failed_checks(
        "--fault lax-tokens",
        "hostile/stale-tokens",
        &["attack: replayed tokens", "attack: expired tokens"],
    );
    assert_eq!(seen, ["3 accepted", "3 accepted"]);
}

/// A server that holds only 500 connections cannot have 1,000 open at once.
#[test]
fn a_thousand_at_once_fails_against_a_server_holding_fewer() {
    let actual = failed_checks(
        "--max-connections 500",
        "concurrency/1000-at-once",
        &["together"],
    )
    .remove(0);
    assert!(
        actual.ends_with("of 1000 completed their handshakes"),
        "{actual}"
    );
}

/// Measured at the relay: a server that sends unvalidated clients more
/// than 3x what it got from them.
#[test]
fn the_amplification_limit_fails_against_an_amplifying_server() {
    let actual = failed_checks(
        "--fault amplify",
        "network/amplification-limit",
        &["amplification"],
    )
    .remove(0);
    assert!(
        actual.contains("before its address was validated"),
        "{actual}"
    );
}

/// The openssl driver, too, catches a broken server. Without a QUIC-capable
/// openssl this test says so and passes, unless HARNESS_REQUIRE_OPENSSL is
/// set (CI sets it), in which case a missing openssl fails it.
#[test]
fn the_openssl_driver_fails_a_server_that_mangles_bytes() {
    let Some(openssl) = common::openssl() else {
        return;
    };
    let template = reference_template("broken", "--fault reverse");
    let out = Command::cargo_bin("harness")
        .unwrap()
        .current_dir(root())
        .args([
            "--driver",
            "openssl",
            "--require-driver",
            "openssl",
            "--format",
            "json",
            "--openssl",
        ])
        .arg(&openssl)
        .arg("--server")
        .arg(&template)
        .args([
            "scenarios/sequential/ten-in-a-row.json",
            "scenarios/alpn/h3-rejected.json",
        ])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = report["results"].as_array().unwrap();
    let status = |id: &str| {
        results
            .iter()
            .find(|r| r["scenario"] == id)
            .map(|r| r["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status("sequential/ten-in-a-row").as_deref(), Some("fail"));
    // A rule the fault does not break still passes through s_client.
    assert_eq!(status("alpn/h3-rejected").as_deref(), Some("pass"));
    assert_eq!(out.status.code(), Some(1));
}

/// The drivers a transport scenario runs on here: both when there is a
/// QUIC-capable openssl.
fn both_drivers() -> Vec<&'static str> {
    let mut d = vec!["native"];
    if common::openssl().is_some() {
        d.push("openssl");
    }
    d
}

/// Asserts every case of `scenarios` on `drivers` fails against
/// `server_args` with each of the checks `names` among its failures.
fn fail_with(drivers: &[&str], server_args: &str, scenarios: &[&str], names: &[&str]) {
    let (code, report) = report_on(drivers, server_args, scenarios);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), drivers.len() * scenarios.len(), "{report}");
    for r in results {
        let failed: Vec<&str> = r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["passed"] == false && c["skipped"].is_null())
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        let case = format!("{} [{}]", r["scenario"], r["driver"]);
        assert_eq!(
            r["status"], "fail",
            "{case} did not fail against `{server_args}`"
        );
        for name in names {
            assert!(
                failed.contains(name),
                "{case}: {name} did not fail: {failed:?}"
            );
        }
    }
    assert_eq!(code, 1, "exit status with failures");
}

/// A server that keys connections by address loses the client when a NAT
/// moves it: nothing after the move is echoed, through either client.
#[test]
fn nat_rebindings_fail_against_a_server_pinned_to_the_first_address() {
    fail_with(
        &both_drivers(),
        "--fault pin-peer",
        &[
            "transport/nat-rebinding-port",
            "transport/nat-rebinding-address",
        ],
        &["echo[stream 0]"],
    );
}

/// A server whose idle timer ignores the PTO forgets a client 750 ms away
/// while waiting for its answer.
#[test]
fn a_long_rtt_fails_against_a_server_with_a_lan_idle_timer() {
    fail_with(
        &both_drivers(),
        "--fault lan-idle",
        &["transport/long-rtt"],
        &["echo[stream 0]"],
    );
}

/// A server that drops IPv6 peers never becomes ready on [::1].
#[test]
fn ipv6_fails_against_a_server_that_ignores_ipv6_peers() {
    let (code, report) = report_on(&both_drivers(), "--fault v4-only", &["transport/ipv6"]);
    for r in report["results"].as_array().unwrap() {
        assert_eq!(r["status"], "fail", "{r}");
        let reason = r["reason"].as_str().unwrap();
        assert!(
            reason.contains("did not complete a QUIC handshake"),
            "{reason}"
        );
    }
    assert_eq!(code, 1);
}

/// A server that takes a partial write for a whole one truncates the echo
/// to what the client's tiny window let through.
#[test]
fn tiny_windows_fail_against_a_server_that_drops_what_did_not_fit() {
    let seen = failed_checks(
        "--fault short-write",
        "transport/tiny-windows",
        &["echo[stream 0]", "no_truncated_echo[stream 0]"],
    );
    assert!(seen[0].starts_with("100 bytes"), "{seen:?}");
}

/// A server that blocks on a write the client never makes room for keeps
/// the other client waiting.
#[test]
fn a_client_that_never_grants_credit_fails_a_server_that_blocks_on_it() {
    let actual = failed_checks(
        "--fault blocking-write",
        "transport/never-grants",
        &["conn 2: within_ms"],
    )
    .remove(0);
    assert!(actual.contains("ms"), "{actual}");
}

/// A server that cannot follow a key update loses everything the client
/// sends after it (only the quinn client starts key updates). The same
/// upload without the updates passes against it: the updates are real.
#[test]
fn a_key_update_fails_against_a_server_that_cannot_follow_it() {
    fail_with(
        &["quinn"],
        "--fault no-key-update",
        &["transport/key-update"],
        &["echo[stream 0]"],
    );
    let text = std::fs::read_to_string(root().join("scenarios/transport/key-update.json")).unwrap();
    let mut sc: Value = serde_json::from_str(&text).unwrap();
    sc["connections"][0]["key_updates"] = Value::Array(Vec::new());
    sc.as_object_mut().unwrap().remove("$schema");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-key-update.json");
    std::fs::write(&path, sc.to_string()).unwrap();
    let (code, report) = report_on(
        &["quinn"],
        "--fault no-key-update",
        &[path.to_str().unwrap()],
    );
    assert_eq!(report["results"][0]["status"], "pass", "{report}");
    assert_eq!(code, 0);
}

/// A server without ChaCha20-Poly1305 refuses a client that offers only
/// it, through both clients that can offer it.
#[test]
fn chacha20_fails_against_a_server_with_only_aes() {
    let mut drivers = vec!["quinn"];
    if common::openssl().is_some() {
        drivers.push("openssl");
    }
    fail_with(
        &drivers,
        "--fault aes-only",
        &["transport/chacha20"],
        &["handshake"],
    );
}

/// A server whose idle timer packets never restart ends a connection the
/// client keeps alive with PINGs, through both clients that send them.
#[test]
fn keep_alive_fails_against_a_server_whose_idle_timer_ignores_activity() {
    fail_with(
        &["native", "quinn"],
        "--fault idle-ignores-activity",
        &["transport/keep-alive"],
        &["echo[stream 0]"],
    );
}

/// A server that never resumes fails resumption through both clients that
/// resume, and 0-RTT acceptance; the early data still arrives (sent again).
#[test]
fn resumption_fails_against_a_server_that_never_resumes() {
    fail_with(
        &["native", "quinn"],
        "--fault no-resumption",
        &["transport/resumption"],
        &["conn 2: resumed"],
    );
    fail_with(
        &["quinn"],
        "--fault no-resumption",
        &["transport/zero-rtt-accepted"],
        &["conn 2: early_data_accepted"],
    );
}

/// A server that accepts 0-RTT but drops what arrives in it loses the
/// early bytes for good.
#[test]
fn zero_rtt_fails_against_a_server_that_drops_early_data() {
    fail_with(
        &["quinn"],
        "--fault early-data-lost",
        &["transport/zero-rtt"],
        &["conn 2: echo[stream 0]"],
    );
}

/// A server that drops datagrams from a client's new address never
/// validates the path the client probes, so the client cannot move.
#[test]
fn migration_fails_against_a_server_pinned_to_the_first_address() {
    let actual = failed_checks("--fault pin-peer", "transport/migration", &["migrated"]).remove(0);
    assert!(actual.contains("not validated"), "{actual}");
}

/// A server may forbid active migration: the client then does not move,
/// and the check says why instead of failing.
#[test]
fn migration_is_skipped_for_a_server_that_forbids_it() {
    let (code, report) = report("--fault forbid-migration", &["transport/migration"]);
    let r = &report["results"][0];
    assert_eq!(r["status"], "pass", "{r}");
    let check = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "migrated")
        .unwrap();
    assert!(
        check["skipped"]
            .as_str()
            .unwrap()
            .contains("disable_active_migration"),
        "{check}"
    );
    assert_eq!(code, 0);
}

/// A server that never ends an idle connection stays full of a client that
/// vanished, and refuses the next one.
#[test]
fn idle_forgotten_fails_against_a_server_without_an_idle_timeout() {
    let actual = failed_checks(
        "--fault no-idle-timeout",
        "transport/idle-forgotten",
        &["conn 2: close"],
    )
    .remove(0);
    assert!(actual.contains("0x2"), "{actual}");
}

/// A server that drops packets of connections it does not know leaves the
/// clients of its previous process waiting out their idle timeout; one
/// whose reset tokens die with the process sends resets no client takes.
/// Both fail on both clients that can wait out a restart; the fresh client
/// after the restart is served all the same.
#[test]
fn stateless_reset_fails_against_a_server_without_resets_or_with_tokens_lost_on_restart() {
    for fault in ["no-stateless-reset", "volatile-reset-key"] {
        let args = format!("--fault {fault}");
        fail_with(
            &["native", "quinn"],
            &args,
            &["transport/stateless-reset"],
            &["conn 1: stateless_reset"],
        );
        let (_, report) = report(&args, &["transport/stateless-reset"]);
        let served = report["results"][0]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"].as_str().unwrap().starts_with("conn 2: "))
            .all(|c| c["passed"] == true);
        assert!(
            served,
            "{fault}: the restarted server did not serve a fresh client"
        );
    }
}

/// A server that does not come back after the restart makes the case an
/// error (no verdict on the server) with the reason, within the readiness
/// timeout, and the run goes on.
#[test]
fn a_server_that_does_not_come_back_after_a_restart_is_an_error_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("started");
    // Serves the first time; the second start (the restart) hangs silent.
    let real = reference_template("once", "");
    let command = real.split_once('=').unwrap().1;
    let template = format!(
        "once=sh -c 'if [ -e {0} ]; then exec sleep 60; fi; touch {0}; exec {1}'",
        started.display(),
        command
    );
    let out = Command::cargo_bin("harness")
        .unwrap()
        .current_dir(root())
        .args([
            "--format",
            "json",
            "--ready-timeout",
            "3s",
            "--driver",
            "native",
        ])
        .arg("--server")
        .arg(&template)
        .arg("scenarios/transport/stateless-reset.json")
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &report["results"][0];
    // A server that cannot be started again broke no rule the harness saw.
    assert_eq!(r["status"], "error", "{r}");
    let restart = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "conn 1: restart_server")
        .unwrap_or_else(|| panic!("no restart check in {r}"));
    assert!(
        restart["actual"]
            .as_str()
            .unwrap()
            .contains("cannot start it again"),
        "{restart}"
    );
    let took = r["duration_ms"].as_u64().unwrap();
    assert!(took < 8_000, "waited {took} ms: past the case's deadline");
    assert_eq!(out.status.code(), Some(3));
}

/// A server that drops versions it does not speak leaves a client offering
/// version 2 without an answer; the version 1 echo after it still passes.
#[test]
fn version_2_fails_against_a_server_without_version_negotiation() {
    let (code, report) = report("--fault no-version-negotiation", &["transport/version-2"]);
    let checks = report["results"][0]["checks"].as_array().unwrap();
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&"conn 1: version_negotiated"), "{failed:?}");
    assert!(
        failed.iter().all(|n| n.starts_with("conn 1: ")),
        "{failed:?}"
    );
    assert_eq!(code, 1);
}
