//! `--artifacts` and `--html`: what a person gets to fix a failing server.

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::{reference_template, root};
use serde_json::Value;

/// Runs the harness on `scenarios` against a server that reverses its
/// echoes, keeping evidence in `dir/evidence`; returns the JSON report.
fn run_broken(dir: &Path, scenarios: &[&str], extra: &[&str]) -> Value {
    let mut c = Command::cargo_bin("harness").unwrap();
    c.current_dir(root())
        .args(["--format", "json", "--seed", "5", "--artifacts"])
        .arg(dir.join("evidence"))
        .arg("--junit")
        .arg(dir.join("junit.xml"))
        .arg("--html")
        .arg(dir.join("report.html"))
        .args(["--server", &reference_template("broken", "--fault reverse")])
        .args(["--server", "reference", "--driver", "native"])
        .args(extra)
        .args(scenarios)
        .timeout(std::time::Duration::from_secs(120));
    let out = c.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn result<'a>(report: &'a Value, server: &str, id: &str) -> &'a Value {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["server"] == server && r["scenario"] == id)
        .unwrap_or_else(|| panic!("no {id} on {server}"))
}

#[test]
fn a_failed_case_keeps_its_evidence_and_the_reports_point_at_it() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_broken(
        dir.path(),
        &[
            "scenarios/input/8192-bytes.json",
            "scenarios/network/loss-and-reorder.json",
        ],
        &[],
    );
    let failed = result(&report, "broken", "network/loss-and-reorder");
    assert_eq!(failed["status"], "fail");
    let kept = &failed["artifacts"];
    let case_dir = Path::new(kept["dir"].as_str().unwrap());
    assert!(case_dir.ends_with("evidence/broken/network_loss-and-reorder/native"));
    let files: Vec<&str> = kept["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for f in [
        "client-conn-0.sqlog",
        "client.pcap",
        "keys.log",
        "relay.log",
        "scenario.json",
        "seed.txt",
        "server-stderr.log",
    ] {
        assert!(files.contains(&f), "{f} missing from {files:?}");
    }
    let read = |f: &str| std::fs::read(case_dir.join(f)).unwrap();
    // qlog: JSON-SEQ, each record after an RS byte.
    assert_eq!(read("client-conn-0.sqlog")[0], 0x1e);
    // TLS secrets of every connection (five clients, then a probe).
    let keys = String::from_utf8(read("keys.log")).unwrap();
    assert!(
        keys.lines()
            .filter(|l| l.starts_with("CLIENT_TRAFFIC_SECRET_0 "))
            .count()
            >= 5
    );
    // The capture: the relay's client side, both directions.
    let pcap = read("client.pcap");
    let mut reader = pcap_file::pcap::PcapReader::new(&pcap[..]).unwrap();
    let mut packets = 0;
    while let Some(p) = reader.next_packet() {
        p.unwrap();
        packets += 1;
    }
    assert!(packets > 20, "{packets} packets");
    // The relay's log: a line per datagram, with the model's fates.
    let relay = String::from_utf8(read("relay.log")).unwrap();
    assert!(relay.contains("\tdropped"), "{relay}");
    assert!(String::from_utf8(read("seed.txt"))
        .unwrap()
        .starts_with("seed 5\n"));
    let scenario: Value = serde_json::from_slice(&read("scenario.json")).unwrap();
    assert_eq!(scenario["id"], "network/loss-and-reorder");
    assert!(String::from_utf8(read("server-stderr.log"))
        .unwrap()
        .contains("peer="));

    // Passing cases keep nothing without --artifacts-all.
    let passed = result(&report, "reference", "input/8192-bytes");
    assert_eq!(passed["status"], "pass");
    assert!(passed["artifacts"].is_null());
    assert!(!dir.path().join("evidence/reference").exists());

    // JUnit lists the files as attachments.
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    let attachment = format!("[[ATTACHMENT|{}]]", case_dir.join("client.pcap").display());
    assert!(junit.contains(&attachment), "{junit}");

    // The page links them relative to itself, and shows the failing checks.
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("href=\"evidence/broken/network_loss-and-reorder/native/client.pcap\""));
    assert!(html.contains("<td class=\"cell fail unexpected\"><a href=\"#c"));
    assert!(
        !html.contains("<script src") && !html.contains("<link"),
        "self-contained"
    );
}

#[test]
fn artifacts_all_keeps_passing_cases_too() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_broken(
        dir.path(),
        &["scenarios/input/8192-bytes.json"],
        &["--artifacts-all"],
    );
    let passed = result(&report, "reference", "input/8192-bytes");
    let files = passed["artifacts"]["files"].to_string();
    assert!(
        files.contains("client.pcap") && files.contains("keys.log"),
        "{files}"
    );
}

/// The relay's datagram lines of a case, as `harness explain` must show them.
fn relay_lines(case_dir: &Path) -> Vec<quic_timeline::relay_log::Line> {
    let log = std::fs::read_to_string(case_dir.join("relay.log")).unwrap();
    quic_timeline::relay_log::parse(&log)
        .into_iter()
        .filter(|l| l.way != quic_timeline::relay_log::Way::Neither)
        .collect()
}

#[test]
fn a_failed_network_case_is_explained_datagram_by_datagram_as_the_relay_logged_it() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_broken(dir.path(), &["scenarios/network/burst-loss.json"], &[]);
    let failed = result(&report, "broken", "network/burst-loss");
    let case_dir = Path::new(failed["artifacts"]["dir"].as_str().unwrap());
    let lines = relay_lines(case_dir);
    let dropped = lines.iter().filter(|l| l.fate.dropped()).count();
    assert!(dropped > 0, "burst-loss at seed 5 drops datagrams");
    let out = Command::cargo_bin("harness")
        .unwrap()
        .arg("explain")
        .arg(case_dir)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for l in &lines {
        let index = l.index.to_string();
        let row = text
            .lines()
            .filter(|r| r.contains("C->S") || r.contains("C<-S"))
            .find(|r| r.split_whitespace().next() == Some(index.as_str()))
            .unwrap_or_else(|| panic!("no line for datagram {index} in\n{text}"));
        assert_eq!(row.contains("DROPPED"), l.fate.dropped(), "{row}");
        assert!(row.contains(&format!(" {} ", l.bytes)), "{row}");
    }
    // Decrypted with the case's key log: the handshake's end and the echo.
    assert!(text.contains("HANDSHAKE_DONE"), "{text}");
    assert!(text.contains("FIN"), "{text}");
    // The failure's own line says what the relay did.
    let story = failed["artifacts"]["timeline"].as_str().unwrap();
    assert!(
        story.contains(&format!("{dropped} dropped by the relay")),
        "{story}"
    );
    // The page draws the same drops, for the clients and rows it draws.
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    let mut clients: Vec<usize> = Vec::new();
    for l in &lines {
        if !clients.contains(&l.client) {
            clients.push(l.client);
        }
    }
    let drawn: usize = clients
        .iter()
        .take(quic_timeline::svg::MAX_CLIENTS)
        .map(|c| {
            lines
                .iter()
                .filter(|l| l.client == *c)
                .take(quic_timeline::svg::MAX_ROWS)
                .filter(|l| l.fate.dropped())
                .count()
        })
        .sum();
    assert_eq!(html.matches("<g class=\"dg dropped\"").count(), drawn);
    assert!(html.contains("<svg class=\"timeline\""));
}

/// The report's last lines name each result that failed the gate, with
/// what went wrong and the timeline's summary: a CI log's tail is often
/// all a person sees.
#[test]
fn the_report_s_tail_says_why_each_unexpected_failure_failed() {
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("known.json");
    std::fs::write(&known, r#"{"known": []}"#).unwrap();
    let out = Command::cargo_bin("harness")
        .unwrap()
        .current_dir(root())
        .args(["--seed", "5", "--driver", "native", "--artifacts"])
        .arg(dir.path().join("evidence"))
        .args(["--server", &reference_template("broken", "--fault reverse")])
        .arg("--expect")
        .arg(&known)
        .arg("scenarios/network/burst-loss.json")
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let tail: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("unexpected results: 1"))
        .collect();
    assert!(
        tail.get(1).is_some_and(|l| l.starts_with(
            "  unexpected FAIL: network/burst-loss [native] broken (no expect entry)"
        )),
        "{text}"
    );
    assert!(
        tail.get(2)
            .is_some_and(|l| l.starts_with("    got: ") && l.contains("echo")),
        "{text}"
    );
    assert!(
        tail.get(3)
            .is_some_and(|l| l.starts_with("    timeline: ") && l.contains("dropped by the relay")),
        "{text}"
    );
}
