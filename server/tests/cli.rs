//! Startup errors, flags and signals of the `quic-echo-server` binary.

mod common;

use std::process::Command;

use common::*;
use predicates::prelude::*;

fn server_cmd() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("quic-echo-server").unwrap()
}

fn with_files(cert: &std::path::Path, key: &std::path::Path) -> assert_cmd::assert::Assert {
    server_cmd()
        .args(["--listen", "127.0.0.1:0", "--cert"])
        .arg(cert)
        .arg("--key")
        .arg(key)
        .timeout(std::time::Duration::from_secs(20))
        .assert()
}

#[test]
fn a_missing_chain_file_is_one_line_naming_it_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    with_files(&dir.path().join("nope.pem"), &certs().join("key.pem"))
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(
            "nope.pem: cannot read certificate chain",
        ))
        .stderr(predicate::str::contains("panicked").not())
        .stderr(predicate::function(|s: &str| s.lines().count() == 1));
}

#[test]
fn a_missing_key_file_is_one_line_naming_it_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    with_files(&certs().join("chain.pem"), &dir.path().join("gone.key"))
        .code(1)
        .stderr(predicate::str::contains(
            "gone.key: cannot read private key",
        ))
        .stderr(predicate::function(|s: &str| s.lines().count() == 1));
}

#[test]
fn a_key_of_another_certificate_is_refused_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let other = server::devcerts::generate().unwrap();
    let key = dir.path().join("other-key.pem");
    std::fs::write(&key, other.key).unwrap();
    with_files(&certs().join("chain.pem"), &key)
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(
            "other-key.pem: private key does not match",
        ));
}

#[test]
fn files_that_are_not_pem_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, b"\x00\x01 not a certificate").unwrap();
    with_files(&junk, &certs().join("key.pem"))
        .code(1)
        .stderr(predicate::str::contains("junk.pem"));
    with_files(&certs().join("chain.pem"), &junk)
        .code(1)
        .stderr(predicate::str::contains("junk.pem"));
    // A directory instead of a file.
    with_files(dir.path(), &certs().join("key.pem"))
        .code(1)
        .stderr(predicate::str::contains("cannot read certificate chain"));
}

#[test]
fn bad_flags_are_usage_errors_and_busy_ports_are_one_line() {
    server_cmd()
        .args(["--listen", "not-an-address"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--listen"));
    server_cmd()
        .args(["--idle-timeout", "5m"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unit must be ms or s"));
    let busy = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().to_string();
    server_cmd()
        .args(["--listen", &port, "--cert"])
        .arg(certs().join("chain.pem"))
        .arg("--key")
        .arg(certs().join("key.pem"))
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("cannot listen on {port}")));
}

#[test]
fn help_documents_the_error_codes() {
    server_cmd()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("0x178"))
        .stdout(predicate::str::contains("0x10"))
        .stdout(predicate::str::contains("0x11"))
        .stdout(predicate::str::contains("CONNECTION_REFUSED"))
        .stdout(predicate::str::contains("--keep-alive"));
}

#[test]
fn sigterm_closes_connections_and_exits_0() {
    let mut server = Server::start(&[]);
    assert_echoed(&server.echo("http/1.0", b"before"), b"before");
    let pid = server.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let status = wait_bounded(&mut server.child, std::time::Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigint_with_a_connection_open_exits_0() {
    let mut server = Server::start(&[]);
    std::thread::scope(|scope| {
        let s = &server;
        let (tx, rx) = std::sync::mpsc::channel();
        let open = scope.spawn(move || {
            let mut p = plan(vec![StreamPlan {
                chunks: vec![echo_client::Chunk {
                    data: b"open".to_vec(),
                    pause_after: std::time::Duration::ZERO,
                }],
                fin: Fin::Never,
                uni: false,
                abort: None,
            }]);
            p.linger = std::time::Duration::from_secs(5);
            p.notify_established = Some(tx);
            s.client(&["http/1.0"], &p)
        });
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("client connected");
        let pid = s.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let obs = open.join().unwrap();
        let c = obs.peer_close.expect("server closed the open connection");
        // The client may count its handshake complete before the server
        // has confirmed it; until then an application close goes out as a
        // transport APPLICATION_ERROR (0xc), as RFC 9000 §10.2.3 says.
        assert!((c.app && c.code == 0) || (!c.app && c.code == 0xc), "{c:?}");
    });
    let status = wait_bounded(&mut server.child, std::time::Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}

fn wait_bounded(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> std::process::ExitStatus {
    let until = std::time::Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            std::time::Instant::now() < until,
            "server did not exit within {limit:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn no_retry_still_serves() {
    let server = Server::start(&["--no-retry"]);
    assert_echoed(&server.echo("hq-interop", b"no retry"), b"no retry");
}

#[test]
fn qlog_dir_and_sslkeylogfile_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let qlogs = dir.path().join("qlogs");
    let keylog = dir.path().join("keys.log");
    let server = Server::start_with_env(
        &["--qlog-dir", qlogs.to_str().unwrap()],
        &[("SSLKEYLOGFILE", &keylog)],
    );
    assert_echoed(&server.echo("http/1.0", b"logged"), b"logged");
    drop(server);
    let files: Vec<_> = std::fs::read_dir(&qlogs).unwrap().collect();
    assert_eq!(files.len(), 1, "one qlog per connection");
    let keys = std::fs::read_to_string(&keylog).unwrap();
    assert!(keys.contains("CLIENT_HANDSHAKE_TRAFFIC_SECRET"), "{keys}");
}

#[test]
fn an_unknown_key_exchange_group_is_one_line_and_exit_1() {
    server_cmd()
        .args(["--listen", "127.0.0.1:0", "--cert"])
        .arg(certs().join("chain.pem"))
        .arg("--key")
        .arg(certs().join("key.pem"))
        .args(["--groups", "X25519:no-such-group"])
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "--groups \"X25519:no-such-group\"",
        ))
        .stderr(predicate::function(|s: &str| s.lines().count() == 1));
}
