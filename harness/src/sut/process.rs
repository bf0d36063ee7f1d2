//! One server process: spawning it, knowing when it is ready, its stderr,
//! and never leaving it behind.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use super::probe::await_handshake;
use super::spec::{quoted, Certs, Launch, ServerSpec};
use super::NotReady;
use crate::driver::Target;

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

/// How many of a server's stderr lines are kept for a case's evidence.
const KEEP_LINES: usize = 20_000;

/// The longest line kept from a server's output; the rest of a longer one
/// is skipped, so a server that writes without newlines cannot grow the
/// harness's memory.
const MAX_LINE: usize = 4096;

/// Hands each line of `r` (without its newline, cut to [`MAX_LINE`] bytes)
/// to `each`, until the end or an error.
fn bounded_lines(mut r: impl BufRead, mut each: impl FnMut(String)) {
    let mut buf = Vec::with_capacity(256);
    loop {
        buf.clear();
        let n = match Read::by_ref(&mut r)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
        {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let ended = buf.last() == Some(&b'\n');
        if !ended && n == MAX_LINE && !skip_line(&mut r) {
            each(String::from_utf8_lossy(&buf).into_owned());
            return;
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        each(String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned());
    }
}

/// Skips to the end of the current line; false at the end of `r`.
fn skip_line(r: &mut impl BufRead) -> bool {
    loop {
        let (found, used) = match r.fill_buf() {
            Ok([]) | Err(_) => return false,
            Ok(b) => match b.iter().position(|&c| c == b'\n') {
                Some(i) => (true, i + 1),
                None => (false, b.len()),
            },
        };
        r.consume(used);
        if found {
            return true;
        }
    }
}

/// A server's stderr lines: the last [`KEEP_LINES`], numbered from its start.
#[derive(Default)]
struct StderrLog {
    lines: VecDeque<String>,
    /// Lines that no longer fit.
    dropped: usize,
}

impl StderrLog {
    fn push(&mut self, line: String) {
        if self.lines.len() == KEEP_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(line);
    }
}

/// The command that starts `spec`, and the address it will listen on when
/// the harness chose it (a template's `{port}`); `None`: the server says
/// (`listening on ADDR`).
fn command(
    spec: &ServerSpec,
    certs: &Certs,
    (at, args): (SocketAddr, &[String]),
) -> Result<(Command, Option<SocketAddr>), NotReady> {
    let host = at.ip();
    let any_port = SocketAddr::new(host, 0);
    match &spec.launch {
        Launch::Remote(r) => Err(format!(
            "{} is a server the harness did not start; it cannot start it",
            r.label()
        )
        .into()),
        Launch::Builtin(b) => {
            let exe = std::env::current_exe()
                .map_err(|e| format!("cannot find the harness binary: {e}"))?;
            let mut cmd = Command::new(exe);
            // The server's allocator is its standalone program's.
            cmd.env(crate::alloc::SYSTEM_ALLOCATOR_ENV, "1")
                .arg(b.subcommand())
                .arg("--listen")
                .arg(at.to_string())
                .arg("--cert")
                .arg(&certs.chain)
                .arg("--key")
                .arg(&certs.key)
                .args(&spec.builtin_args)
                .args(args);
            Ok((cmd, None))
        }
        Launch::Template(t) => {
            let port = match at.port() {
                0 => free_udp_port(host).map_err(|e| format!("cannot find a free port: {e}"))?,
                p => p,
            };
            let bracketed = any_port.to_string();
            let line = t
                .replace("{host}", bracketed.trim_end_matches(":0"))
                .replace("{ip}", &host.to_string())
                .replace("{port}", &port.to_string())
                .replace("{chain}", &certs.chain.to_string_lossy())
                .replace("{key}", &certs.key.to_string_lossy())
                .replace("{ca}", &certs.ca.to_string_lossy())
                .replace("{args}", &quoted(args)?);
            let words = shlex::split(&line)
                .filter(|w| !w.is_empty())
                .ok_or_else(|| {
                    format!(
                        "server template {t:?} is not a valid command line (unbalanced quotes?)"
                    )
                })?;
            let mut cmd = Command::new(&words[0]);
            cmd.args(&words[1..]);
            Ok((cmd, Some(SocketAddr::new(host, port))))
        }
    }
}

/// Threads that drain the server's stderr (kept, bounded; `done` once it
/// closes) and stdout (its lines, for the `listening on` line).
fn read_pipes(
    child: &mut Child,
) -> (
    Arc<Mutex<StderrLog>>,
    mpsc::Receiver<()>,
    mpsc::Receiver<String>,
) {
    let stderr = Arc::new(Mutex::new(StderrLog::default()));
    let (done_tx, stderr_done) = mpsc::channel();
    {
        let pipe = child.stderr.take().expect("piped");
        let tail = Arc::clone(&stderr);
        std::thread::spawn(move || {
            bounded_lines(BufReader::new(pipe), |line| {
                tail.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            });
            let _ = done_tx.send(());
        });
    }
    let (line_tx, line_rx) = mpsc::channel();
    {
        let pipe = child.stdout.take().expect("piped");
        // Drained to the end even once nobody listens for the ready
        // line: a server that logs to stdout must never block on a
        // full pipe.
        std::thread::spawn(move || {
            bounded_lines(BufReader::new(pipe), |line| {
                let _ = line_tx.send(line);
            });
        });
    }
    (stderr, stderr_done, line_rx)
}

/// A running (or dead) server under test.
pub struct Running {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<StderrLog>>,
    stderr_done: mpsc::Receiver<()>,
}

impl Running {
    /// Starts `spec` on loopback address `at` (port 0: a free one) with a
    /// scenario's `server_args` (`args`, in the reference server's terms)
    /// and waits until it answers, at most `ready_timeout`.
    pub fn start(
        spec: &ServerSpec,
        certs: &Certs,
        (at, args): (SocketAddr, &[String]),
        ready_timeout: Duration,
    ) -> Result<Running, NotReady> {
        let any_port = SocketAddr::new(at.ip(), 0);
        let (mut cmd, fixed_addr) = command(spec, certs, (at, args))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // If the harness is killed outright (SIGKILL, no chance to clean
        // up), the kernel kills the server it started too. This follows the
        // spawning thread: a server started by a schedule worker goes when
        // that worker ends, which is when its cases are done anyway.
        // SAFETY: prctl is async-signal-safe; nothing else runs in the child.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            NotReady::Unstartable(match &spec.launch {
                Launch::Template(t) => format!("cannot run {t:?}: {e}"),
                Launch::Builtin(b) => format!("cannot run `harness {}`: {e}", b.subcommand()),
                Launch::Remote(_) => unreachable!("returned above"),
            })
        })?;
        GROUPS.lock().unwrap().push(child.id() as i32);

        let (stderr, stderr_done, line_rx) = read_pipes(&mut child);
        let mut running = Running {
            child,
            addr: any_port,
            stderr,
            stderr_done,
        };
        let deadline = Instant::now() + ready_timeout;
        let ready = match fixed_addr {
            None => running.wait_listening_line(&line_rx, deadline),
            Some(addr) => {
                running.addr = addr;
                running.wait_probe(deadline)
            }
        };
        match ready {
            Ok(()) => Ok(running),
            Err(why) => {
                running.stop();
                Err(why.then(&running.tail_text()))
            }
        }
    }

    fn wait_listening_line(
        &mut self,
        lines: &mpsc::Receiver<String>,
        deadline: Instant,
    ) -> Result<(), NotReady> {
        let exited = |status| {
            NotReady::Unstartable(format!("server exited with {status} before it was ready"))
        };
        loop {
            if let Some(status) = self.exit_status() {
                return Err(exited(status));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NotReady::Unresponsive(
                    "server printed no `listening on` line before --ready-timeout".into(),
                ));
            }
            match lines.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        self.addr = addr.trim().parse().map_err(|_| {
                            NotReady::Unstartable(format!("bad address in {line:?}"))
                        })?;
                        return Ok(());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // stdout closed: wait (bounded) to report how it exited.
                    while Instant::now() < deadline {
                        if let Some(status) = self.exit_status() {
                            return Err(exited(status));
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    return Err(NotReady::Unstartable(
                        "server closed stdout without a `listening on` line".into(),
                    ));
                }
            }
        }
    }

    fn wait_probe(&mut self, deadline: Instant) -> Result<(), NotReady> {
        let target = Target::new(self.addr, "localhost".into(), echo_client::Trust::Nothing);
        await_handshake(&target, deadline, || {
            self.exit_status()
                .map(|status| format!("server exited with {status} before it was ready"))
        })
    }

    /// The server's process id (of the command itself, for templates).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the process has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines the server wrote to stderr.
    pub fn stderr_tail(&self) -> Vec<String> {
        // Let the reader thread catch up if the process has just exited.
        let _ = self.stderr_done.recv_timeout(Duration::from_millis(50));
        let log = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let skip = log.lines.len().saturating_sub(TAIL_LINES);
        log.lines.iter().skip(skip).cloned().collect()
    }

    /// How many stderr lines the server has written so far (a mark for
    /// [`Running::stderr_since`]).
    pub fn stderr_mark(&self) -> usize {
        let log = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        log.dropped + log.lines.len()
    }

    /// The stderr lines written since `mark`, and how many of them are no
    /// longer kept.
    pub fn stderr_since(&self, mark: usize) -> (Vec<String>, usize) {
        let log = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let lost = log.dropped.saturating_sub(mark);
        let from = mark.saturating_sub(log.dropped);
        (log.lines.iter().skip(from).cloned().collect(), lost)
    }

    /// Whether the process exits within `within` (it is reaped if so).
    pub fn exits_within(&mut self, within: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + within;
        loop {
            if let Some(s) = self.exit_status() {
                return Some(s);
            }
            if Instant::now() >= until {
                return None;
            }
            // A bounded look at a process that owes us nothing to wait on.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(crate) fn tail_text(&self) -> String {
        let tail = self.stderr_tail();
        if tail.is_empty() {
            String::new()
        } else {
            format!("\n  server stderr:\n    {}", tail.join("\n    "))
        }
    }

    /// SIGKILL the group at once, as a crash would: the server says goodbye
    /// to no one.
    pub fn kill(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: signalling our own child's process group.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
        GROUPS.lock().unwrap().retain(|&g| g != pgid);
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
        // Also reaps anything the server left in its group.
        self.kill();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port the kernel says is free, never one handed out before in this
/// run: servers started side by side must not be told the same port (a
/// port is free again as soon as its probe socket closes). It lies below
/// the kernel's ephemeral range, so no client socket (bound to port 0, as
/// every client here is) can take it before the server binds it: with a
/// thousand clients opening at once elsewhere, one in the ephemeral range
/// was sometimes gone by then.
fn free_udp_port(host: IpAddr) -> std::io::Result<u16> {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let below = ephemeral_low().filter(|&low| low > LOWEST_PORT + 1024);
    for _ in 0..64 {
        let port = match below {
            Some(low) => {
                let port = LOWEST_PORT + (random() % u64::from(low - LOWEST_PORT)) as u16;
                match std::net::UdpSocket::bind(SocketAddr::new(host, port)) {
                    Ok(_) => port,
                    Err(_) => continue,
                }
            }
            None => std::net::UdpSocket::bind(SocketAddr::new(host, 0))?
                .local_addr()?
                .port(),
        };
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return Ok(port);
        }
    }
    Err(std::io::Error::other("no unused port after 64 tries"))
}

/// A random number from std's hash keys, which are random per process
/// and new for each `RandomState` (enough to spread ports; nothing secret).
fn random() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0u8)
}

/// Ports below this are left to services.
const LOWEST_PORT: u16 = 10_000;

/// The first port the kernel hands to sockets bound to port 0.
fn ephemeral_low() -> Option<u16> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    range.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn output_lines_are_cut_so_no_line_grows_without_bound() {
        let long = "x".repeat(3 * MAX_LINE);
        let text = format!("first\r\n{long}\nafter\n{long}");
        let mut got = Vec::new();
        bounded_lines(std::io::Cursor::new(text), |l| got.push(l));
        assert_eq!(
            got.len(),
            4,
            "{:?}",
            got.iter().map(String::len).collect::<Vec<_>>()
        );
        assert_eq!(got[0], "first");
        assert_eq!(got[1].len(), MAX_LINE);
        assert_eq!(got[2], "after");
        assert_eq!(
            got[3].len(),
            MAX_LINE,
            "a last line without newline is cut too"
        );
    }

    use super::*;

    #[test]
    fn template_ports_are_distinct_and_below_the_ephemeral_range() {
        let low = ephemeral_low().unwrap_or(u16::MAX);
        let mut seen = Vec::new();
        for _ in 0..20 {
            let port = free_udp_port(std::net::Ipv4Addr::LOCALHOST.into()).unwrap();
            assert!(port < low, "{port} is in the ephemeral range from {low}");
            assert!(!seen.contains(&port), "{port} handed out twice");
            seen.push(port);
        }
    }

    #[test]
    fn built_in_servers_get_the_system_allocator_and_templates_their_own_environment() {
        let certs = Certs {
            chain: "/c/chain.pem".into(),
            key: "/c/key.pem".into(),
            ca: "/c/ca.pem".into(),
        };
        let at = SocketAddr::from(([127, 0, 0, 1], 0));
        let allocator = |spec: &str| {
            let spec = ServerSpec::parse(spec).unwrap();
            let (cmd, _) = command(&spec, &certs, (at, &[])).unwrap();
            cmd.get_envs()
                .find(|(k, _)| *k == crate::alloc::SYSTEM_ALLOCATOR_ENV)
                .and_then(|(_, v)| v.map(|v| v.to_owned()))
        };
        assert_eq!(allocator("reference"), Some("1".into()));
        assert_eq!(allocator("quinn"), Some("1".into()));
        assert_eq!(allocator("other=/bin/server --port {port}"), None);
    }
}
