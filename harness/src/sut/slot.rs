//! A server under test across cases: started on demand, restarted with a
//! scenario's flags or after it died, and checked to still be alive after
//! its readiness check before a case may use it.

use std::time::Duration;

use super::process::Running;
use super::spec::{Certs, ServerSpec};

/// How long a freshly ready server must stay up before a case starts: a
/// server that dies of its own readiness check is reported as such, not
/// found dead by the case's first connection.
pub const GRACE: Duration = Duration::from_millis(150);

/// A server under test and its current process, restarted on demand.
pub struct ServerSlot {
    pub spec: ServerSpec,
    pub running: Option<Running>,
    /// The `server_args` the running process was started with.
    args: Vec<String>,
}

impl ServerSlot {
    pub fn new(spec: ServerSpec) -> Self {
        ServerSlot {
            spec,
            running: None,
            args: Vec::new(),
        }
    }

    /// A live process started with `args`, starting (or restarting) one if
    /// needed, at most `ready_timeout` to come up.
    pub fn ensure(
        &mut self,
        certs: &Certs,
        args: &[String],
        ready_timeout: Duration,
    ) -> Result<&mut Running, String> {
        let stale = match &mut self.running {
            Some(r) => r.exit_status().is_some() || self.args != args,
            None => true,
        };
        if stale {
            self.running = None; // stops the old process first
            self.args = args.to_vec();
            let mut r = Running::start(&self.spec, certs, args, ready_timeout)?;
            if let Some(status) = r.exits_within(GRACE) {
                return Err(format!(
                    "server exited with {status} right after its readiness check \
                     (one complete echo: a handshake, a few bytes with FIN, a close){}",
                    r.tail_text()
                ));
            }
            self.running = Some(r);
        }
        Ok(self.running.as_mut().expect("just ensured"))
    }

    /// Forgets the process (stopping it if it still runs), so the next
    /// case starts a new one.
    pub fn discard(&mut self) {
        self.running = None;
    }
}
