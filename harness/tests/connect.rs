//! `--connect`: servers the harness did not start. Each test starts a
//! reference server itself and points the harness at it.

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::{root, OutsideServer};
use serde_json::Value;

fn harness(args: &[&str]) -> Command {
    let mut c = Command::cargo_bin("harness").unwrap();
    c.current_dir(root())
        .args(args)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .timeout(std::time::Duration::from_secs(120));
    if let Some(o) = common::openssl() {
        c.arg("--openssl").arg(o);
    }
    c
}

/// The harness against `target` (dev certificates), reporting JSON.
fn json_against(target: &str) -> Command {
    harness(&[
        "--format",
        "json",
        "--ca",
        "certs/ca.pem",
        "--connect",
        target,
    ])
}

/// Runs and returns (exit code, JSON report or Null, stderr).
fn run(c: &mut Command) -> (i32, Value, String) {
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), report, stderr)
}

/// (scenario, driver) -> (status, reason) of a JSON report.
fn verdicts(report: &Value) -> Vec<(String, String, String, String)> {
    report["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {report}"))
        .iter()
        .map(|r| {
            (
                r["scenario"].as_str().unwrap().to_string(),
                r["driver"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

const SOME: &[&str] = &[
    "--filter",
    "input/8192-bytes",
    "--filter",
    "input/8193-refused",
    "--filter",
    "network/loss-and-reorder",
    "--filter",
    "hostile/*",
    "--seed",
    "7",
    "--format",
    "json",
];

#[test]
fn a_server_started_by_hand_gets_the_verdicts_of_a_started_one_minus_skips() {
    let server = OutsideServer::start("127.0.0.1:0", &[]);
    let target = format!("by-hand={}", server.addr);
    // One matrix: the reference server started by the harness beside the
    // same server started by hand, the CA given on its own.
    let (code, report, stderr) = run(harness(SOME).args([
        "--server",
        "reference",
        "--connect",
        &target,
        "--ca",
        "certs/ca.pem",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        report["servers"],
        serde_json::json!(["reference", "by-hand"])
    );
    let all = verdicts(&report);
    let (started, remote) = all.split_at(all.len() / 2);
    let mut skipped = Vec::new();
    for (r, s) in remote.iter().zip(started) {
        assert_eq!((&r.0, &r.1), (&s.0, &s.1));
        if r.2 == "skip" {
            skipped.push((r.0.as_str(), r.3.as_str()));
        } else {
            assert_eq!(r.2, s.2, "{} [{}]: {} vs {}", r.0, r.1, r.3, s.3);
        }
    }
    assert!(started.iter().all(|s| s.2 == "pass"), "{started:?}");
    let why = |id: &str| {
        skipped
            .iter()
            .find(|(s, _)| *s == id)
            .map(|(_, w)| *w)
            .unwrap_or_else(|| panic!("{id} not skipped: {skipped:?}"))
    };
    assert!(why("hostile/connection-flood").contains(
        "needs the server started with `--max-connections 50`; the harness did not start by-hand"
    ));
    assert!(why("hostile/stale-tokens").contains("--token-lifetime"));
    assert!(why("hostile/flood").contains("pass --allow-load to send it"));
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    // The echo cases ran, through the relay too.
    assert!(remote
        .iter()
        .any(|r| r.0 == "network/loss-and-reorder" && r.2 == "pass"));
}

#[test]
fn a_connect_run_needs_no_certificates_folder_and_started_servers_take_files_one_by_one() {
    let server = OutsideServer::start("127.0.0.1:0", &[]);
    let target = server.addr.to_string();
    let one = [
        "--filter",
        "input/8192-bytes",
        "--driver",
        "native",
        "--certs",
        "/nonexistent",
    ];
    let (code, _, stderr) = run(harness(&one).args(["--connect", &target, "--insecure"]));
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(harness(&one).args([
        "--server",
        "reference",
        "--chain",
        "certs/chain.pem",
        "--key",
        "certs/key.pem",
        "--ca",
        "certs/ca.pem",
    ]));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn ipv6_targets_with_both_drivers() {
    let server = OutsideServer::start("[::1]:0", &[]);
    let target = format!("v6=[::1]:{}", server.addr.port());
    let mut c = harness(&["--filter", "input/8192-bytes", "--format", "json"]);
    c.args(["--connect", &target, "--ca", "certs/ca.pem"]);
    if common::openssl().is_some() {
        c.args(["--require-driver", "openssl"]);
    }
    let (code, report, stderr) = run(&mut c);
    assert_eq!(code, 0, "{stderr}");
    let v = verdicts(&report);
    assert!(v.iter().all(|r| r.2 == "pass"), "{v:?}");
    assert_eq!(report["servers"][0], "v6");
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("[::1]") && notes.contains(r#"checked for \"::1\""#),
        "{notes}"
    );
}

/// A CA of our own standing in for a public one, and a chain for
/// `echo.test` (no IP address in it) signed by it, in `dir`.
fn public_style_pki(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Test Public Root");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["echo.test".to_string()]).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf = leaf.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("root.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("chain.pem"), leaf.pem() + &ca_cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

#[test]
fn certificates_are_checked_by_name_against_the_roots_given_or_the_systems() {
    let dir = tempfile::tempdir().unwrap();
    public_style_pki(dir.path());
    let root_ca = dir.path().join("root.pem");
    let server = OutsideServer::start_with(
        "127.0.0.1:0",
        &dir.path().join("chain.pem"),
        &dir.path().join("key.pem"),
        &[],
    );
    let target = server.addr.to_string();
    let one = ["--filter", "input/8192-bytes", "--connect", &target];

    // The right name and roots: served, by every driver.
    let mut c = harness(&one);
    c.args(["--sni", "echo.test", "--ca"]).arg(&root_ca);
    let (code, _, stderr) = run(&mut c);
    assert_eq!(code, 0, "{stderr}");

    // The system's roots by default: our CA is not among them...
    let (code, _, stderr) = run(harness(&one).args(["--sni", "echo.test"]));
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("against the system's roots"), "{stderr}");
    assert!(
        stderr.contains("unknown_ca") && stderr.contains("--insecure"),
        "{stderr}"
    );
    // ...until it is installed as the roots (SSL_CERT_FILE, as OpenSSL and
    // BoringSSL read it): then the default just works.
    let mut c = harness(&one);
    c.args(["--sni", "echo.test"])
        .env("SSL_CERT_FILE", &root_ca);
    let (code, _, stderr) = run(&mut c);
    assert_eq!(code, 0, "{stderr}");

    // The wrong name, or the IP address the certificate does not name.
    let mut c = harness(&one);
    c.args(["--sni", "other.test", "--ca"]).arg(&root_ca);
    let (code, _, stderr) = run(&mut c);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("for \"other.test\""), "{stderr}");
    let mut c = harness(&one);
    c.arg("--ca").arg(&root_ca);
    let (code, _, stderr) = run(&mut c);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("not valid for 127.0.0.1"), "{stderr}");

    // --insecure: no check, and the report says so.
    let out = harness(&one).arg("--insecure").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("note: certificates were not checked (--insecure)"),
        "{stdout}"
    );
}

#[test]
fn a_server_that_stops_answering_has_its_remaining_cases_skipped() {
    let mut server = OutsideServer::start("127.0.0.1:0", &["--fault", "exit-on-oversize"]);
    let target = server.addr.to_string();
    let mut c = json_against(&target);
    c.args(["--filter", "input/*", "--driver", "native"]);
    let (code, report, stderr) = run(&mut c);
    assert_eq!(code, 1, "{stderr}");
    assert!(server.exited());
    let v = verdicts(&report);
    let crash = v
        .iter()
        .position(|r| r.2 == "fail")
        .unwrap_or_else(|| panic!("no failure: {v:?}"));
    let checks = report["results"][crash]["checks"].to_string();
    assert!(
        checks.contains("the harness did not start it, so its remaining cases are skipped"),
        "{checks}"
    );
    let after = &v[crash + 1..];
    assert!(!after.is_empty());
    for r in after {
        assert_eq!(r.2, "skip", "{r:?}");
        assert!(
            r.3.starts_with(&format!(
                "server at {target} stopped answering (since {}",
                v[crash].0
            )),
            "{r:?}"
        );
    }
}

#[test]
fn load_goes_to_a_server_not_started_here_only_when_allowed_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let flood = dir.path().join("small-flood.json");
    std::fs::write(
        &flood,
        r#"{"id": "t/small-flood", "description": "a small flood", "level": "should",
            "drivers": ["native"], "attack": {"datagrams": 300},
            "connections": [{"streams": [{"send": {"text": "after"}}],
                             "expect": {"handshake": "accepted", "echo": true}}]}"#,
    )
    .unwrap();
    let server = OutsideServer::start("127.0.0.1:0", &[]);
    let target = server.addr.to_string();
    let (code, report, stderr) = run(json_against(&target).arg(&flood));
    assert_eq!(code, 0, "{stderr}");
    let v = verdicts(&report);
    assert_eq!(v[0].2, "skip");
    assert!(v[0].3.contains("sends a flood of 300 datagrams"), "{v:?}");

    let junit = dir.path().join("junit.xml");
    let mut c = json_against(&target);
    c.arg("--allow-load").arg("--junit").arg(&junit).arg(&flood);
    let (code, report, stderr) = run(&mut c);
    assert_eq!(code, 0, "{stderr}");
    let r = &report["results"][0];
    assert_eq!(r["status"], "pass", "{r}");
    let notes = r["notes"].to_string();
    assert!(notes.contains("300 hostile datagrams"), "{notes}");
    let cpu = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "attack: cpu")
        .unwrap_or_else(|| panic!("no cpu check in {r}"));
    assert!(
        cpu["skipped"]
            .as_str()
            .unwrap()
            .contains("cannot read its CPU time"),
        "{cpu}"
    );
    // JUnit carries the note on the case, and the target on its suite.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<system-out>sent to"), "{xml}");
    assert!(
        xml.contains("a server the harness did not start, at"),
        "{xml}"
    );
}

#[test]
fn bad_connect_values_and_missing_files_are_exit_2() {
    for (args, says) in [
        (&["--connect", "127.0.0.1"][..], "expected [NAME=]HOST:PORT"),
        (&["--connect", "::1:443"], "an IPv6 address needs brackets"),
        (
            &["--connect", "a=127.0.0.1:1", "--connect", "a=127.0.0.1:2"],
            "two servers are named \"a\"",
        ),
        (
            &["--connect", "127.0.0.1:1", "--ca", "/no/ca.pem"],
            "/no/ca.pem: not found",
        ),
        (
            &["--certs", "/nonexistent"],
            "set --certs DIR or --chain FILE",
        ),
    ] {
        let out = harness(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
