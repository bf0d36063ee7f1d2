//! The server under test (SUT): spawning it from a template, knowing when it is
//! ready, noticing when it dies, and never leaving it behind.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::driver::Target;

/// How to start a server.
#[derive(Debug, Clone)]
pub enum Launch {
    /// This harness's own copy of the reference server (`harness serve-reference`).
    Reference,
    /// A command template with `{host}` `{port}` `{chain}` `{key}` `{ca}`,
    /// and `{args}` where a scenario's `server_args` go.
    Template(String),
}

/// A named server to test.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub name: String,
    pub launch: Launch,
    /// Extra flags for the reference server (ignored for templates).
    pub reference_args: Vec<String>,
}

impl ServerSpec {
    /// Parses `--server` values: `NAME=TEMPLATE` or a bare `TEMPLATE`.
    pub fn parse(value: &str) -> ServerSpec {
        if let Some((name, rest)) = value.split_once('=') {
            let is_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if is_name {
                let launch = if rest.trim() == "reference" {
                    Launch::Reference
                } else {
                    Launch::Template(rest.to_string())
                };
                return ServerSpec {
                    name: name.to_string(),
                    launch,
                    reference_args: Vec::new(),
                };
            }
        }
        if value.trim() == "reference" {
            return ServerSpec::reference();
        }
        ServerSpec {
            name: "server".into(),
            launch: Launch::Template(value.to_string()),
            reference_args: Vec::new(),
        }
    }

    /// Whether this server can be started with a scenario's `server_args`:
    /// the reference server always; a template only if it has `{args}`.
    pub fn takes_args(&self) -> bool {
        match &self.launch {
            Launch::Reference => true,
            Launch::Template(t) => t.contains("{args}"),
        }
    }

    pub fn reference() -> ServerSpec {
        ServerSpec {
            name: "reference".into(),
            launch: Launch::Reference,
            reference_args: Vec::new(),
        }
    }
}

/// `args` as one shell-quoted string, for a template's `{args}`.
fn quoted(args: &[String]) -> Result<String, String> {
    shlex::try_join(args.iter().map(String::as_str))
        .map_err(|e| format!("server_args cannot be quoted for a template: {e}"))
}

/// Files handed to servers and clients.
#[derive(Debug, Clone)]
pub struct Certs {
    pub chain: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl Certs {
    pub fn in_dir(dir: &Path) -> Certs {
        Certs {
            chain: dir.join("chain.pem"),
            key: dir.join("key.pem"),
            ca: dir.join("ca.pem"),
        }
    }
}

/// Process groups of running servers, killed on Ctrl-C.
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Kills every server process group still registered.
pub fn kill_all() {
    if let Ok(groups) = GROUPS.lock() {
        for &pgid in groups.iter() {
            // SAFETY: kill(2) with a negative pid signals a process group.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

const TAIL_LINES: usize = 20;

/// A running (or dead) server under test.
pub struct Running {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<VecDeque<String>>>,
    stderr_done: mpsc::Receiver<()>,
}

impl Running {
    /// Starts `spec` with a scenario's `server_args` (`args`, in the
    /// reference server's terms) and waits until it answers, at most
    /// `ready_timeout`.
    pub fn start(
        spec: &ServerSpec,
        certs: &Certs,
        args: &[String],
        ready_timeout: Duration,
    ) -> Result<Running, String> {
        let (mut cmd, fixed_addr) = match &spec.launch {
            Launch::Reference => {
                let exe = std::env::current_exe()
                    .map_err(|e| format!("cannot find the harness binary: {e}"))?;
                let mut cmd = Command::new(exe);
                cmd.arg("serve-reference")
                    .args(["--listen", "127.0.0.1:0", "--cert"])
                    .arg(&certs.chain)
                    .arg("--key")
                    .arg(&certs.key)
                    .args(&spec.reference_args)
                    .args(args);
                (cmd, None)
            }
            Launch::Template(t) => {
                let port = free_udp_port().map_err(|e| format!("cannot find a free port: {e}"))?;
                let line = t
                    .replace("{host}", "127.0.0.1")
                    .replace("{port}", &port.to_string())
                    .replace("{chain}", &certs.chain.to_string_lossy())
                    .replace("{key}", &certs.key.to_string_lossy())
                    .replace("{ca}", &certs.ca.to_string_lossy())
                    .replace("{args}", &quoted(args)?);
                let words = shlex::split(&line).filter(|w| !w.is_empty()).ok_or_else(|| {
                    format!("server template {t:?} is not a valid command line (unbalanced quotes?)")
                })?;
                let mut cmd = Command::new(&words[0]);
                cmd.args(&words[1..]);
                (cmd, Some(SocketAddr::from(([127, 0, 0, 1], port))))
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // If the harness is killed outright (SIGKILL, no chance to clean
        // up), the kernel kills the server it started too. This follows the
        // spawning thread, which is the main thread.
        // SAFETY: prctl is async-signal-safe; nothing else runs in the child.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| match &spec.launch {
            Launch::Template(t) => format!("cannot run {t:?}: {e}"),
            Launch::Reference => format!("cannot run the reference server: {e}"),
        })?;
        GROUPS.lock().unwrap().push(child.id() as i32);

        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let (done_tx, stderr_done) = mpsc::channel();
        {
            let pipe = child.stderr.take().expect("piped");
            let tail = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut t = tail.lock().unwrap();
                    if t.len() == TAIL_LINES {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
                let _ = done_tx.send(());
            });
        }
        let (line_tx, line_rx) = mpsc::channel();
        {
            let pipe = child.stdout.take().expect("piped");
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if line_tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut running = Running {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
            stderr_done,
        };
        let deadline = Instant::now() + ready_timeout;
        let ready = match fixed_addr {
            None => running.wait_listening_line(&line_rx, deadline),
            Some(addr) => {
                running.addr = addr;
                running.wait_probe(certs, deadline)
            }
        };
        match ready {
            Ok(()) => Ok(running),
            Err(why) => {
                running.stop();
                Err(format!("{why}{}", running.tail_text()))
            }
        }
    }

    fn wait_listening_line(
        &mut self,
        lines: &mpsc::Receiver<String>,
        deadline: Instant,
    ) -> Result<(), String> {
        loop {
            if let Some(status) = self.exit_status() {
                return Err(format!("server exited with {status} before it was ready"));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("server printed no `listening on` line before --ready-timeout".into());
            }
            match lines.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        self.addr = addr
                            .trim()
                            .parse()
                            .map_err(|_| format!("bad address in {line:?}"))?;
                        return Ok(());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // stdout closed: wait (bounded) to report how it exited.
                    while Instant::now() < deadline {
                        if let Some(status) = self.exit_status() {
                            return Err(format!("server exited with {status} before it was ready"));
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    return Err("server closed stdout without a `listening on` line".into());
                }
            }
        }
    }

    fn wait_probe(&mut self, certs: &Certs, deadline: Instant) -> Result<(), String> {
        let target = Target {
            addr: self.addr,
            server_name: "localhost".into(),
            ca: certs.ca.clone(),
        };
        loop {
            if let Some(status) = self.exit_status() {
                return Err(format!("server exited with {status} before it was ready"));
            }
            if Instant::now() >= deadline {
                return Err(
                    "server did not complete a QUIC handshake before --ready-timeout".into(),
                );
            }
            if probe(&target, Duration::from_millis(500)) {
                return Ok(());
            }
        }
    }

    /// `Some(status)` once the process has exited.
    /// The server's process id (of the command itself, for templates).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines the server wrote to stderr.
    pub fn stderr_tail(&self) -> Vec<String> {
        // Let the reader thread catch up if the process has just exited.
        let _ = self.stderr_done.recv_timeout(Duration::from_millis(50));
        self.stderr.lock().unwrap().iter().cloned().collect()
    }

    fn tail_text(&self) -> String {
        let tail = self.stderr_tail();
        if tail.is_empty() {
            String::new()
        } else {
            format!("\n  server stderr:\n    {}", tail.join("\n    "))
        }
    }

    /// SIGTERM the group, wait up to 2 s, then SIGKILL.
    pub fn stop(&mut self) {
        let pgid = self.child.id() as i32;
        if self.exit_status().is_none() {
            // SAFETY: signalling our own child's process group.
            unsafe {
                libc::kill(-pgid, libc::SIGTERM);
            }
            let until = Instant::now() + Duration::from_secs(2);
            while self.exit_status().is_none() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // SAFETY: as above; also reaps anything the server left in its group.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
        GROUPS.lock().unwrap().retain(|&g| g != pgid);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A single handshake attempt with both guide ALPNs.
pub fn probe(target: &Target, within: Duration) -> bool {
    let cfg = echo_client::ClientConfig {
        alpn: vec!["http/1.0".into(), "hq-interop".into()],
        server_name: target.server_name.clone(),
        ca: None,
        ..Default::default()
    };
    let plan = echo_client::Plan {
        deadline: within,
        linger: Duration::ZERO,
        ..Default::default()
    };
    echo_client::run(target.addr, &cfg, &plan)
        .map(|o| matches!(o.handshake, echo_client::Handshake::Completed { .. }))
        .unwrap_or(false)
}

fn free_udp_port() -> std::io::Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
