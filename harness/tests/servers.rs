//! `harness servers`: the servers known by name, and what `--server NAME`
//! says about a peer that is not built yet.

mod common;

use assert_cmd::Command;
use predicates::prelude::*;

fn harness() -> Command {
    common::harness_within(std::time::Duration::from_secs(60))
}

#[test]
fn servers_lists_every_known_server_with_its_template() {
    let out = harness()
        .args(["servers", "--format", "json"])
        .env("HARNESS_PEERS_DIR", "/no/such/peers")
        .output()
        .unwrap();
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert!(list.len() >= 5, "{list:?}");
    for s in list {
        for field in ["name", "stack", "version", "built", "expect", "template"] {
            assert!(s.get(field).is_some(), "{field} missing in {s}");
        }
    }
    let by = |n: &str| list.iter().find(|s| s["name"] == n).unwrap();
    assert_eq!(by("reference")["built"], true);
    assert_eq!(by("reference")["expect"], serde_json::Value::Null);
    let s2n = by("s2n-quic");
    assert_eq!(s2n["built"], false);
    assert_eq!(s2n["build"], "bash ci/build-peers.sh s2n-quic");
    assert_eq!(
        s2n["template"],
        "/no/such/peers/s2n-quic-echo --listen {host}:{port} --cert {chain} --key {key} {args}"
    );
    harness()
        .arg("servers")
        .assert()
        .success()
        .stdout(predicate::str::contains("quic-go    quic-go 0.29.0"));
}

#[test]
fn a_peer_not_built_names_the_command_that_builds_it() {
    harness()
        .args(["scenarios", "--server", "quic-go"])
        .env("HARNESS_PEERS_DIR", "/no/such/peers")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the quic-go peer is not built (looked for /no/such/peers/quic-go-echo); \
             build it with `bash ci/build-peers.sh quic-go`",
        ));
}

#[test]
fn all_servers_means_every_known_one() {
    harness()
        .args(["scenarios", "--all-servers", "--filter", "fin/binary"])
        .env("HARNESS_PEERS_DIR", "/no/such/peers")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "build it with `bash ci/build-peers.sh openssl`",
        ));
}

#[test]
fn bench_all_servers_means_every_known_one_too() {
    // The first peer not built stops the bench before any load, named.
    harness()
        .args(["bench", "--quick", "--all-servers", "--workload", "idle"])
        .env("HARNESS_PEERS_DIR", "/no/such/peers")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "build it with `bash ci/build-peers.sh openssl`",
        ));
}
