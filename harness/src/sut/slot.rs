//! A server under test across cases: started on demand, restarted with a
//! scenario's flags or after it died, and checked to still be alive after
//! its readiness check before a case may use it. A server the harness did
//! not start (`--connect`) is only checked, once: it answers, and its
//! certificate passes the clients' checks.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::probe::{await_handshake, verified, NotReady};
use super::process::Running;
use super::spec::{Certs, Remote, ServerSpec, Verify};
use crate::driver::Target;

/// How long a freshly ready server must stay up before a case starts: a
/// server that dies of its own readiness check is reported as such, not
/// found dead by the case's first connection.
pub const GRACE: Duration = Duration::from_millis(150);

/// Where a case finds its server.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    pub addr: SocketAddr,
    /// The process, when the harness started it.
    pub pid: Option<u32>,
}

/// A server under test and its current process, restarted on demand.
pub struct ServerSlot {
    pub spec: ServerSpec,
    pub running: Option<Running>,
    /// The address and `server_args` the running process was started with.
    host: IpAddr,
    args: Vec<String>,
    /// A server not started by the harness was found answering.
    checked: bool,
    /// The process before the current one, stopped, kept for its stderr.
    previous: Option<Running>,
}

impl ServerSlot {
    pub fn new(spec: ServerSpec) -> Self {
        ServerSlot {
            spec,
            running: None,
            host: Ipv4Addr::LOCALHOST.into(),
            args: Vec::new(),
            checked: false,
            previous: None,
        }
    }

    /// A live server: for one the harness starts, a process listening on
    /// `host` started with `args`, starting (or restarting) one if needed,
    /// at most `ready_timeout` to come up.
    pub fn ensure(
        &mut self,
        certs: &Certs,
        verify: &Verify,
        (host, args): (IpAddr, &[String]),
        ready_timeout: Duration,
    ) -> Result<Live, NotReady> {
        if let Some(remote) = self.spec.remote() {
            if !self.checked {
                let target = Target::new(
                    remote.addr,
                    verify.server_name(&self.spec),
                    verify.trust(&self.spec, certs),
                );
                check_remote(remote, &target, ready_timeout).map_err(NotReady::Unstartable)?;
                self.checked = true;
            }
            return Ok(Live {
                addr: remote.addr,
                pid: None,
            });
        }
        let stale = match &mut self.running {
            Some(r) => r.exit_status().is_some() || self.args != args || self.host != host,
            None => true,
        };
        if stale {
            self.discard(); // stops the old process first
            self.args = args.to_vec();
            self.host = host;
            self.launch(certs, SocketAddr::new(host, 0), ready_timeout)?;
        }
        Ok(self.live())
    }

    /// Kills the running process outright (no goodbye to its clients, as a
    /// crash) and starts the server again on the same address and flags.
    pub fn restart(&mut self, certs: &Certs, ready_timeout: Duration) -> Result<Live, NotReady> {
        let mut old = self.running.take().ok_or_else(|| {
            NotReady::Unstartable("no server process of the harness to restart".into())
        })?;
        old.kill();
        let at = old.addr;
        self.previous = Some(old);
        self.launch(certs, at, ready_timeout)
            .map_err(|why| why.context(&format!("cannot start it again on {at}: ")))?;
        Ok(self.live())
    }

    /// Starts a process on `at` with the slot's flags, and checks that it
    /// stays up a moment after its readiness check.
    fn launch(
        &mut self,
        certs: &Certs,
        at: SocketAddr,
        ready_timeout: Duration,
    ) -> Result<(), NotReady> {
        let mut r = Running::start(&self.spec, certs, (at, &self.args), ready_timeout)?;
        if let Some(status) = r.exits_within(GRACE) {
            return Err(NotReady::Unresponsive(format!(
                "server exited with {status} right after its readiness check \
                 (one complete echo: a handshake, a few bytes with FIN, a close){}",
                r.tail_text()
            )));
        }
        self.running = Some(r);
        Ok(())
    }

    fn live(&self) -> Live {
        let r = self.running.as_ref().expect("a running process");
        Live {
            addr: r.addr,
            pid: Some(r.pid()),
        }
    }

    /// Forgets the process (stopping it if it still runs), so the next
    /// case starts a new one.
    pub fn discard(&mut self) {
        if let Some(mut r) = self.running.take() {
            r.stop();
            self.previous = Some(r);
        }
    }

    /// What process `pid` (the current one, or the one just discarded)
    /// wrote to stderr since `mark`, and how many of those lines are lost.
    pub fn stderr_since(&self, pid: u32, mark: usize) -> Option<(Vec<String>, usize)> {
        [&self.running, &self.previous]
            .into_iter()
            .flatten()
            .find(|r| r.pid() == pid)
            .map(|r| r.stderr_since(mark))
    }
}

/// A server the harness did not start answers a probe echo within
/// `within`, and a client checking its certificate as the cases will
/// completes a handshake; else why not, with what to try.
fn check_remote(remote: &Remote, target: &Target, within: Duration) -> Result<(), String> {
    let at = remote.label();
    await_handshake(target, Instant::now() + within, || None)
        .map_err(|why| format!("{}: {why}", remote.label_resolved()))?;
    verified(target, within.min(Duration::from_secs(5))).map_err(|why| {
        format!(
            "{at} answers, but a client checking its certificate for {:?} {} fails: {why}; \
             set the name with --sni NAME, the CA with --ca FILE, or skip the check with --insecure",
            target.server_name, target.trust,
        )
    })
}
