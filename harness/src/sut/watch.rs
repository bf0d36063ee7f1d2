//! Noticing at once that a server process has exited, while a case runs.
//!
//! A thread waits on a pidfd (Linux 5.3+; else it looks every 20 ms) and,
//! when the process exits, sets the case's cancel flag so every client
//! still waiting gives up at once instead of at its deadline. It never
//! reaps the process: its owner still reads the exit status.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use echo_client::Cancel;

/// Watches one process until dropped.
pub struct ExitWatch {
    stop: Arc<AtomicBool>,
    exited_at: Arc<Mutex<Option<Instant>>>,
    thread: Option<JoinHandle<()>>,
}

/// How long the watcher sleeps between looks at its stop flag.
const TICK: Duration = Duration::from_millis(50);

impl ExitWatch {
    /// Starts watching `pid`; `cancel` is set when it exits.
    pub fn start(pid: u32, cancel: Cancel) -> ExitWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let exited_at = Arc::new(Mutex::new(None));
        let thread = {
            let (stop, exited_at) = (Arc::clone(&stop), Arc::clone(&exited_at));
            std::thread::spawn(move || {
                let fd = pidfd(pid);
                while !stop.load(Ordering::Acquire) {
                    if has_exited(pid) {
                        *exited_at.lock().unwrap() = Some(Instant::now());
                        cancel.store(true, Ordering::Release);
                        return;
                    }
                    match &fd {
                        Some(fd) => wait_readable(fd, TICK),
                        None => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        ExitWatch {
            stop,
            exited_at,
            thread: Some(thread),
        }
    }

    /// When the process was seen to exit, if it has.
    pub fn exited_at(&self) -> Option<Instant> {
        *self.exited_at.lock().unwrap()
    }
}

impl Drop for ExitWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn pidfd(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a non-negative return is a fresh descriptor that we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Waits until the pidfd is readable (the process exited) or `within` ends.
fn wait_readable(fd: &OwnedFd, within: Duration) {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe {
        libc::poll(&mut p, 1, within.as_millis() as i32);
    }
}

/// Whether `pid` (our child) has exited, without reaping it.
fn has_exited(pid: u32) -> bool {
    // SAFETY: waitid(2) with WNOWAIT only reads the child's state into
    // `info`, which is zeroed and ours.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        // ECHILD: already reaped by its owner, so gone.
        r != 0 || info.si_pid() != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn an_exit_sets_the_flag_at_once_and_leaves_the_status_to_the_owner() {
        let mut child = Command::new("sh")
            .args(["-c", "read x; exit 3"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let cancel = Cancel::default();
        let watch = ExitWatch::start(child.id(), cancel.clone());
        assert!(!cancel.load(Ordering::Acquire));
        drop(child.stdin.take()); // `read` sees EOF; sh exits 3
        let until = Instant::now() + Duration::from_secs(10);
        while !cancel.load(Ordering::Acquire) {
            assert!(Instant::now() < until, "exit not seen within 10 s");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(watch.exited_at().is_some());
        assert_eq!(child.wait().unwrap().code(), Some(3));
    }

    #[test]
    fn a_live_process_is_left_alone_and_the_watch_stops_when_dropped() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let cancel = Cancel::default();
        let watch = ExitWatch::start(child.id(), cancel.clone());
        drop(watch); // joins the thread
        assert!(!cancel.load(Ordering::Acquire));
        assert!(child.try_wait().unwrap().is_none());
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
