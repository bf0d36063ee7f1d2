//! `openssl s_client -quic`: a client nobody here wrote.
//!
//! s_client sends stdin on one bidirectional stream; in `-adv` mode the
//! command `{fin}` concludes the stream (a literal `{` is written `{{`).
//! With `-brief` its stdout carries only what the server sent, and stderr
//! says `CONNECTION ESTABLISHED` once the handshake is done. It exits by
//! itself when the server closes the connection, and exits 1 when the
//! handshake is refused. It never shows the server's close code or FIN,
//! and cannot time what arrives; those checks are skipped for it.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use echo_client::{Close, Handshake, Observation, StreamObservation};

use super::{Blind, Driver, Run, Target};
use crate::scenario::{CloseExpect, ConnectionSpec, FinSpec, StreamSpec};

/// How long to wait after `{fin}` (and the handshake) for the server to
/// close before giving up.
const LINGER: Duration = Duration::from_secs(3);

/// How long s_client may still take to exit by itself once the server is
/// known to be gone.
const CANCEL_GRACE: Duration = Duration::from_millis(200);

pub struct Openssl {
    pub binary: PathBuf,
}

/// Where a QUIC-capable openssl was looked for, in order.
pub fn candidates(flag: Option<&Path>) -> Vec<PathBuf> {
    candidates_from(flag, std::env::var_os("HARNESS_OPENSSL"))
}

/// The candidates given `HARNESS_OPENSSL`'s value (tests pass one rather
/// than change the process's environment under other threads).
fn candidates_from(flag: Option<&Path>, env: Option<std::ffi::OsString>) -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = flag {
        c.push(p.to_path_buf());
    }
    if let Some(p) = env {
        c.push(PathBuf::from(p));
    }
    c.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/openssl-quic/bin/openssl"));
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            c.push(dir.join("openssl"));
        }
    }
    c
}

/// Whether `bin` runs and its s_client knows `-quic`.
pub fn supports_quic(bin: &Path) -> bool {
    Command::new(bin)
        .args(["s_client", "-help"])
        .stdin(Stdio::null())
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stderr).into_owned()
                + &String::from_utf8_lossy(&o.stdout);
            text.lines().any(|l| l.trim_start().starts_with("-quic "))
        })
        .unwrap_or(false)
}

/// The openssl to use, or a one-line hint. An explicit choice (`--openssl`,
/// then `HARNESS_OPENSSL`) is used or reported, never silently passed over;
/// otherwise the built one, then the first on PATH that supports QUIC.
pub fn find(flag: Option<&Path>) -> Result<Openssl, String> {
    let hint = "build one with `bash ci/build-openssl.sh` or pass --openssl PATH";
    let explicit = flag.map(|p| (p.to_path_buf(), "--openssl")).or_else(|| {
        std::env::var_os("HARNESS_OPENSSL").map(|p| (PathBuf::from(p), "HARNESS_OPENSSL"))
    });
    if let Some((p, from)) = explicit {
        return if supports_quic(&p) {
            Ok(Openssl { binary: p })
        } else {
            Err(format!(
                "{from} {}: not an openssl whose s_client supports -quic (OpenSSL >= 3.2); {hint}",
                p.display()
            ))
        };
    }
    candidates(None)
        .into_iter()
        .find(|p| p.is_file() && supports_quic(p))
        .map(|binary| Openssl { binary })
        .ok_or_else(|| format!("no openssl with `s_client -quic` (OpenSSL >= 3.2) found; {hint}"))
}

/// s_client's flags for the name it sends and checks, and what it trusts.
/// An IP address is not sent as SNI and is checked with `-verify_ip`.
/// Without checks s_client goes on past a certificate it cannot verify.
pub fn verify_args(target: &Target) -> Vec<std::ffi::OsString> {
    use echo_client::Trust;
    let name = target.server_name.as_str();
    let ip = echo_client::ip_name(name);
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    let mut push = |a: &[&std::ffi::OsStr]| args.extend(a.iter().map(|s| s.to_os_string()));
    match ip {
        Some(_) => push(&["-noservername".as_ref()]),
        None => push(&["-servername".as_ref(), name.as_ref()]),
    }
    if target.trust == Trust::Nothing {
        return args;
    }
    let ip_text = ip.map(|ip| ip.to_string());
    match &ip_text {
        Some(ip) => push(&["-verify_ip".as_ref(), ip.as_ref()]),
        None => push(&["-verify_hostname".as_ref(), name.as_ref()]),
    }
    push(&["-verify_return_error".as_ref()]);
    match &target.trust {
        Trust::CaFile(ca) => push(&["-CAfile".as_ref(), ca.as_os_str()]),
        // The openssl the harness builds looks in its own build folder,
        // which holds no roots; the system's are where the platform keeps
        // them (`SSL_CERT_FILE` / `SSL_CERT_DIR` first).
        Trust::SystemRoots => args.extend(root_args(&openssl_probe::probe())),
        Trust::Nothing => {}
    }
    args
}

/// `-CAfile`/`-CApath` for the roots the platform's probe found.
fn root_args(roots: &openssl_probe::ProbeResult) -> Vec<std::ffi::OsString> {
    let mut args = Vec::new();
    if let Some(file) = &roots.cert_file {
        args.extend(["-CAfile".into(), file.clone().into_os_string()]);
    }
    if let Some(dir) = roots.cert_dir.first() {
        args.extend(["-CApath".into(), dir.clone().into_os_string()]);
    }
    args
}

/// `-keylogfile` into the case's evidence, when it is kept.
fn keylog_args(target: &Target) -> Vec<std::ffi::OsString> {
    match &target.evidence {
        Some(e) => vec!["-keylogfile".into(), e.keylog_path().into_os_string()],
        None => Vec::new(),
    }
}

/// Escapes data for `-adv` mode: every `{` is doubled.
pub fn escape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    for &b in data {
        if b == b'{' {
            out.push(b'{');
        }
        out.push(b);
    }
    out
}

/// How an s_client run ended.
#[derive(Debug, Clone, Default)]
pub struct Ended {
    pub stdout: Vec<u8>,
    pub stderr: String,
    /// Exit status if s_client exited by itself (we did not kill it).
    pub exited_by_itself: Option<i32>,
    pub elapsed: Duration,
    pub deadline_hit: bool,
    /// Killed because the server was known to be gone.
    pub abandoned: bool,
}

/// What s_client's exit and output mean, as an observation.
pub fn observe(offered: &[String], sent: usize, fin_sent: bool, end: Ended) -> Observation {
    let Ended {
        stdout,
        stderr,
        exited_by_itself,
        elapsed,
        deadline_hit,
        abandoned,
    } = end;
    let established = stderr.contains("CONNECTION ESTABLISHED");
    let handshake = if established {
        Handshake::Completed {
            // Only a single offer tells us what was negotiated.
            alpn: if offered.len() == 1 {
                offered[0].clone()
            } else {
                "?".into()
            },
            after: Duration::ZERO,
        }
    } else {
        Handshake::NotCompleted
    };
    // s_client exits on its own only when the connection ended: the server
    // closed it (status 0), or refused the handshake (status 1).
    let peer_close = exited_by_itself.map(|status| Close {
        app: established,
        code: if status == 0 { 0 } else { u64::MAX },
        reason: "(s_client does not show the close code)".into(),
    });
    Observation {
        handshake,
        streams: vec![StreamObservation {
            id: 0,
            sent,
            fin_sent,
            received: stdout,
            fin_received: exited_by_itself == Some(0) && established,
            ..StreamObservation::default()
        }],
        peer_close,
        deadline_hit,
        abandoned,
        elapsed,
        ..Observation::nothing()
    }
}

impl Driver for Openssl {
    fn cannot_run(&self, spec: &ConnectionSpec) -> Option<String> {
        if spec.alpn.is_empty() {
            return Some("s_client cannot leave ALPN out: -alpn is mandatory with -quic".into());
        }
        if spec.streams.len() != 1 || spec.streams[0].uni {
            return Some("s_client sends on exactly one bidirectional stream".into());
        }
        if spec.streams[0].abort.is_some() {
            return Some("s_client cannot reset a stream or send STOP_SENDING".into());
        }
        if !spec.key_updates.is_empty() {
            return Some(
                "s_client offers {keyup} only for TLS over TCP: in QUIC mode it ignores it".into(),
            );
        }
        if spec.quic_version == Some(crate::scenario::QuicVersion::V2) {
            return Some("OpenSSL's QUIC speaks version 1 only".into());
        }
        if spec.migrate.is_some() {
            return Some("s_client cannot move to a new address".into());
        }
        if spec.restart_server.is_some() {
            return Some(
                "s_client cannot stop at a moment of its stream and wait while the server \
                 restarts"
                    .into(),
            );
        }
        if spec.resume {
            return Some("the openssl driver does not carry sessions between s_client runs".into());
        }
        if spec.keep_alive_ms.is_some() {
            return Some("s_client cannot be told to send PINGs".into());
        }
        if spec.flow.is_some() {
            return Some("s_client cannot set its flow-control windows".into());
        }
        if spec.streams[0].send.bytes(0).contains(&0) {
            return Some("s_client's -adv mode cannot carry 0x00 bytes".into());
        }
        None
    }

    fn blind(&self, spec: &ConnectionSpec) -> Blind {
        Blind {
            fin: Some("s_client does not report the server's FIN".into()),
            nothing_before_fin: Some("s_client cannot time when bytes arrive".into()),
            stop_sending: Some("s_client does not report STOP_SENDING".into()),
            close: match spec.expect.close {
                Some(CloseExpect::Any) | Some(CloseExpect::None) | None => None,
                Some(_) => Some("s_client does not show the server's close code".into()),
            },
            alpn: (spec.alpn.len() > 1)
                .then(|| "s_client does not show which of several offered ALPNs was chosen".into()),
            timing: Some("s_client does not tell when its handshake completed".into()),
        }
    }

    fn run(
        &self,
        target: &Target,
        spec: &ConnectionSpec,
        n: u32,
        deadline: Duration,
        established: Option<Sender<()>>,
    ) -> Result<Run, String> {
        // s_client cannot hold its FIN for others: it does not wait.
        if let Some(g) = &target.fin_gate {
            g.arrive();
        }
        if let Some(g) = &target.start_gate {
            g.ready(echo_client::START_WAIT);
        }
        let start = Instant::now();
        let stream = &spec.streams[0];
        let data = stream.send.bytes(n);
        let mut child = self.spawn(target, spec)?;
        let readers = Readers::start(&mut child, established);
        let mut stdin = child.stdin.take().expect("piped");
        let sent = write_chunks(&mut stdin, &data, stream);
        let plan = Waits {
            fin_at: match stream.fin {
                FinSpec::WithData => Some(Instant::now()),
                FinSpec::AfterMs(ms) => Some(Instant::now() + Duration::from_millis(ms)),
                FinSpec::Never => None,
            },
            stop_at: spec.hold_ms.map(|ms| start + Duration::from_millis(ms)),
            until: start + deadline,
        };
        let waited = wait(&mut child, &mut stdin, target, &plan, &readers.up);
        let deadline_hit = waited.exited.is_none() && Instant::now() >= plan.until;
        if waited.exited.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        drop(stdin);
        let (stdout, stderr) = readers.join();
        if let Some(e) = &target.evidence {
            let exit = waited
                .exited
                .map_or("killed by the harness".to_string(), |c| format!("exit {c}"));
            let text = format!("# s_client, connection {n}: {exit}\n{stderr}");
            e.write(&format!("s_client-conn-{n}.stderr.txt"), text.as_bytes());
        }
        let end = Ended {
            stdout,
            stderr,
            exited_by_itself: waited.exited,
            elapsed: start.elapsed(),
            deadline_hit,
            abandoned: waited.abandoned,
        };
        let obs = observe(&spec.alpn, sent, waited.fin_sent, end);
        Ok(Run {
            sent: vec![data],
            obs,
        })
    }
}

impl Openssl {
    /// `openssl s_client -quic` for `spec`, to `target`, with pipes.
    fn spawn(&self, target: &Target, spec: &ConnectionSpec) -> Result<Child, String> {
        Command::new(&self.binary)
            .arg("s_client")
            .arg("-connect")
            .arg(target.addr.to_string())
            .args(["-quic", "-alpn", &spec.alpn.join(",")])
            .args(
                spec.ciphers
                    .iter()
                    .flat_map(|c| ["-ciphersuites".to_string(), c.join(":")]),
            )
            .args(verify_args(target))
            .args(keylog_args(target))
            .args(["-brief", "-adv"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))
    }
}

/// Threads reading s_client's stdout (the echo) and stderr (its account of
/// the connection, which says when the handshake completed: `up`).
struct Readers {
    out: std::thread::JoinHandle<Vec<u8>>,
    err: std::thread::JoinHandle<String>,
    up: Arc<AtomicBool>,
}

impl Readers {
    fn start(child: &mut Child, established: Option<Sender<()>>) -> Readers {
        let mut stdout_pipe = child.stdout.take().expect("piped");
        let mut stderr_pipe = child.stderr.take().expect("piped");
        let out = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = stdout_pipe.read_to_end(&mut v);
            v
        });
        let up = Arc::new(AtomicBool::new(false));
        let up2 = Arc::clone(&up);
        let err = std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(&mut stderr_pipe)
                .lines()
                .map_while(Result::ok)
            {
                if line.contains("CONNECTION ESTABLISHED") {
                    up2.store(true, Ordering::Release);
                    if let Some(tx) = &established {
                        let _ = tx.send(());
                    }
                }
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        Readers { out, err, up }
    }

    /// Once s_client is gone: what it wrote to stdout and to stderr.
    fn join(self) -> (Vec<u8>, String) {
        (
            self.out.join().unwrap_or_default(),
            self.err.join().unwrap_or_default(),
        )
    }
}

/// Writes the stream's bytes in its chunks, each followed by its pause;
/// how many were written before s_client stopped reading.
fn write_chunks(stdin: &mut ChildStdin, data: &[u8], stream: &StreamSpec) -> usize {
    let size = stream.chunk_size.unwrap_or(data.len().max(1));
    let pause = Duration::from_millis(stream.pause_ms);
    let mut sent = 0;
    for chunk in data.chunks(size) {
        if stdin
            .write_all(&escape(chunk))
            .and_then(|_| stdin.flush())
            .is_err()
        {
            break;
        }
        sent += chunk.len();
        std::thread::sleep(pause); // the scenario's pacing, not synchronisation
    }
    sent
}

/// When to send FIN, when the plan leaves, and the case's deadline.
struct Waits {
    fin_at: Option<Instant>,
    stop_at: Option<Instant>,
    until: Instant,
}

/// How the wait for s_client ended.
struct Waited {
    exited: Option<i32>,
    fin_sent: bool,
    abandoned: bool,
}

/// Sends FIN when due and waits for s_client to exit by itself, for the
/// plan to leave, for the linger after FIN and handshake, or for the
/// deadline; a server gone gives it a moment, then it is abandoned.
fn wait(
    child: &mut Child,
    stdin: &mut ChildStdin,
    target: &Target,
    plan: &Waits,
    up: &AtomicBool,
) -> Waited {
    let mut w = Waited {
        exited: None,
        fin_sent: false,
        abandoned: false,
    };
    let mut linger_until: Option<Instant> = None;
    let mut gone_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if let Ok(Some(status)) = child.try_wait() {
            w.exited = Some(status.code().unwrap_or(-1));
            return w;
        }
        // Once the server is gone, s_client gets a moment to act on what it
        // already received (a close makes it exit by itself).
        if target.cancel.load(Ordering::Acquire) {
            let until = *gone_at.get_or_insert(now + CANCEL_GRACE);
            if now >= until {
                w.abandoned = true;
                return w;
            }
        }
        if plan.fin_at.is_some_and(|t| !w.fin_sent && now >= t) {
            w.fin_sent = stdin
                .write_all(b"{fin}")
                .and_then(|_| stdin.flush())
                .is_ok();
        }
        // The wait for the server's close starts once both the FIN is
        // written and the handshake is done: on a lossy network the
        // handshake alone can take seconds of retransmissions.
        if w.fin_sent && linger_until.is_none() && up.load(Ordering::Acquire) {
            linger_until = Some(now + LINGER);
        }
        if now >= plan.until
            || plan.stop_at.is_some_and(|t| now >= t)
            || linger_until.is_some_and(|t| now >= t)
        {
            return w;
        }
        // Bounded polling of the child's exit (no pipe to select on).
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_for(name: &str, trust: echo_client::Trust) -> String {
        let t = Target::new("127.0.0.1:1".parse().unwrap(), name.into(), trust);
        let a: Vec<String> = verify_args(&t)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        a.join(" ")
    }

    #[test]
    fn names_and_trust_become_s_client_flags() {
        use echo_client::Trust;
        assert_eq!(
            args_for("localhost", Trust::CaFile("/c/ca.pem".into())),
            "-servername localhost -verify_hostname localhost -verify_return_error -CAfile /c/ca.pem"
        );
        assert_eq!(
            args_for("::1", Trust::CaFile("/c/ca.pem".into())),
            "-noservername -verify_ip ::1 -verify_return_error -CAfile /c/ca.pem"
        );
        assert_eq!(
            args_for("echo.test", Trust::Nothing),
            "-servername echo.test"
        );
        let system = args_for("echo.test", Trust::SystemRoots);
        assert!(system.contains("-verify_return_error"), "{system}");
        let roots = openssl_probe::ProbeResult {
            cert_file: Some("/etc/roots.pem".into()),
            cert_dir: vec!["/etc/certs".into(), "/other".into()],
        };
        assert_eq!(
            root_args(&roots),
            ["-CAfile", "/etc/roots.pem", "-CApath", "/etc/certs"].map(std::ffi::OsString::from)
        );
    }

    #[test]
    fn braces_are_doubled() {
        assert_eq!(escape(b"{a}{"), b"{{a}{{".to_vec());
        assert_eq!(escape(b"plain"), b"plain".to_vec());
    }

    fn ended(stdout: Vec<u8>, stderr: &str, exited_by_itself: Option<i32>) -> Ended {
        Ended {
            stdout,
            stderr: stderr.into(),
            exited_by_itself,
            ..Ended::default()
        }
    }

    const ESTABLISHED: &str = "Connecting to 127.0.0.1\nCONNECTION ESTABLISHED\nProtocol version: QUICv1\nVerification: OK\n";
    const REFUSED: &str = "Connecting to 127.0.0.1\n40277E19F17F0000:error:0A0000CF:SSL routines:quic_do_handshake:protocol is shutdown:ssl/quic/quic_impl.c:2037:\n";

    #[test]
    fn an_echo_then_server_close_maps_to_a_completed_echo() {
        let o = observe(
            &["http/1.0".into()],
            5,
            true,
            ended(b"hello".to_vec(), ESTABLISHED, Some(0)),
        );
        assert!(matches!(&o.handshake, Handshake::Completed { alpn, .. } if alpn == "http/1.0"));
        assert_eq!(o.streams[0].received, b"hello");
        assert!(o.peer_close.is_some());
    }

    #[test]
    fn a_refused_handshake_maps_to_not_completed_with_a_close() {
        let o = observe(&["h3".into()], 1, true, ended(Vec::new(), REFUSED, Some(1)));
        assert_eq!(o.handshake, Handshake::NotCompleted);
        assert!(o.peer_close.is_some());
    }

    #[test]
    fn still_running_when_killed_means_no_close_seen() {
        let o = observe(
            &["h3".into(), "hq-interop".into()],
            1,
            true,
            ended(b"x".to_vec(), ESTABLISHED, None),
        );
        assert!(matches!(&o.handshake, Handshake::Completed { alpn, .. } if alpn == "?"));
        assert_eq!(o.peer_close, None);
        assert!(!o.streams[0].fin_received);
    }
}

#[cfg(test)]
mod lookup_tests {
    use super::*;

    #[test]
    fn the_flag_comes_first_then_the_environment_then_the_build_then_path() {
        let c = candidates_from(
            Some(Path::new("/from/flag/openssl")),
            Some("/from/env/openssl".into()),
        );
        assert_eq!(c[0], Path::new("/from/flag/openssl"));
        assert_eq!(c[1], Path::new("/from/env/openssl"));
        assert!(c[2].ends_with("target/openssl-quic/bin/openssl"));
        assert!(c[3..].iter().all(|p| p.ends_with("openssl")));
    }

    #[test]
    fn an_explicit_binary_without_quic_is_reported_not_skipped() {
        assert!(!supports_quic(Path::new("/bin/true")));
        assert!(!supports_quic(Path::new("/no/such/openssl")));
        let e = find(Some(Path::new("/bin/true"))).err().expect("refused");
        assert!(e.starts_with("--openssl /bin/true: not an openssl"), "{e}");
        assert!(e.contains("ci/build-openssl.sh"), "{e}");
    }
}
