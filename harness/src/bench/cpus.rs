//! Which CPUs the server under test and the load generator may run on
//! (`--server-cpus`, `--client-cpus`): disjoint sets, so neither takes the
//! other's time, and what saturating them means for a row.

use std::fmt;

/// A set of CPU numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpus(pub Vec<usize>);

impl Cpus {
    /// `0`, `0,2`, `1-3` or a mix (`0,2-3`).
    pub fn parse(text: &str) -> Result<Cpus, String> {
        let mut cpus = Vec::new();
        for part in text.split(',') {
            let bad = || format!("{text:?}: CPU lists look like 0 or 0,2 or 1-3");
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (a.trim().parse(), b.trim().parse()),
                None => (part.trim().parse(), part.trim().parse()),
            };
            let (lo, hi): (usize, usize) = (lo.map_err(|_| bad())?, hi.map_err(|_| bad())?);
            if lo > hi || hi >= libc::CPU_SETSIZE as usize {
                return Err(bad());
            }
            cpus.extend(lo..=hi);
        }
        cpus.sort_unstable();
        cpus.dedup();
        Ok(Cpus(cpus))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn set(&self) -> libc::cpu_set_t {
        // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes within
        // it for numbers below CPU_SETSIZE, which parse checked.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &c in &self.0 {
                libc::CPU_SET(c, &mut set);
            }
            set
        }
    }
}

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.0.iter().map(usize::to_string).collect();
        write!(f, "{}", list.join(","))
    }
}

/// The default split of this machine's CPUs (those this process may use):
/// the lower half for the server, the rest for the load generator; `None`
/// on one CPU, where there is nothing to split.
pub fn default_split() -> Option<(Cpus, Cpus)> {
    let mine = allowed(0)?;
    if mine.len() < 2 {
        return None;
    }
    let (server, client) = mine.split_at(mine.len() / 2);
    Some((Cpus(server.to_vec()), Cpus(client.to_vec())))
}

/// The CPUs thread or process `tid` may run on (0: the calling thread).
fn allowed(tid: libc::pid_t) -> Option<Vec<usize>> {
    // SAFETY: sched_getaffinity fills the zeroed set we own, of the size given.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(tid, std::mem::size_of_val(&set), &mut set) != 0 {
            return None;
        }
        let n = libc::CPU_SETSIZE as usize;
        Some((0..n).filter(|&c| libc::CPU_ISSET(c, &set)).collect())
    }
}

fn pin(tid: libc::pid_t, cpus: &Cpus) -> std::io::Result<()> {
    let set = cpus.set();
    // SAFETY: the set is a valid cpu_set_t of the size given.
    let rc = unsafe { libc::sched_setaffinity(tid, std::mem::size_of_val(&set), &set) };
    match rc {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Keeps the calling thread on `cpus`.
pub fn pin_this_thread(cpus: &Cpus) -> std::io::Result<()> {
    pin(0, cpus)
}

/// Keeps every thread of process `pid` on `cpus` (the threads it makes
/// later inherit it).
pub fn pin_process(pid: u32, cpus: &Cpus) -> std::io::Result<()> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))?;
    for t in tasks.flatten() {
        if let Some(tid) = t.file_name().to_str().and_then(|s| s.parse().ok()) {
            // A thread that ended meanwhile is no error.
            match pin(tid, cpus) {
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                other => other?,
            }
        }
    }
    Ok(())
}

/// The number of threads of process `pid`, from /proc.
pub fn threads(pid: u32) -> Option<usize> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Threads:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Which side held a row's figures back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    /// The server kept its CPUs busy: the row measures the server.
    Server,
    /// The load generator kept its CPUs busy, the server did not: the
    /// row is a floor for the server, not a ranking.
    LoadGenerator,
    /// Neither was busy (waiting on round trips, timers or a closed loop).
    Neither,
    /// The server's CPU cannot be seen (a server the harness did not start).
    Unknown,
}

/// Busy means at least this share of the CPUs a side could use.
pub const BUSY: f64 = 0.9;

/// The limit of a row from each side's CPU use: `share` is CPU seconds per
/// second of wall time, `usable` the CPUs that side could keep busy (its
/// set, or fewer when it has fewer threads).
pub fn limit(server: Option<(f64, usize)>, client: (f64, usize)) -> Limit {
    let busy = |(share, usable): (f64, usize)| share >= BUSY * usable.max(1) as f64;
    match server {
        None => Limit::Unknown,
        Some(s) if busy(s) => Limit::Server,
        Some(_) if busy(client) => Limit::LoadGenerator,
        Some(_) => Limit::Neither,
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Server => "server",
            Limit::LoadGenerator => "load generator",
            Limit::Neither => "neither",
            Limit::Unknown => "unknown",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_and_bad_ones_say_what_is_expected() {
        assert_eq!(Cpus::parse("0").unwrap().0, [0]);
        assert_eq!(Cpus::parse("3,0-1,1").unwrap().0, [0, 1, 3]);
        assert_eq!(Cpus::parse("0-1").unwrap().to_string(), "0,1");
        for bad in ["", "a", "2-1", "0,", "99999"] {
            let e = Cpus::parse(bad).unwrap_err();
            assert!(e.contains("CPU lists look like"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_side_that_kept_its_cpus_busy_is_the_limit() {
        assert_eq!(limit(Some((0.95, 1)), (1.9, 2)), Limit::Server);
        assert_eq!(limit(Some((0.6, 1)), (0.95, 1)), Limit::LoadGenerator);
        assert_eq!(limit(Some((0.6, 1)), (0.5, 1)), Limit::Neither);
        assert_eq!(limit(None, (1.0, 1)), Limit::Unknown);
        // A single-threaded server on two CPUs is busy at one.
        assert_eq!(limit(Some((0.92, 1)), (0.1, 1)), Limit::Server);
    }

    #[test]
    fn a_thread_pinned_to_one_allowed_cpu_stays_there() {
        let mine = allowed(0).unwrap();
        let one = Cpus(vec![mine[0]]);
        std::thread::spawn(move || {
            pin_this_thread(&one).unwrap();
            assert_eq!(allowed(0).unwrap(), one.0);
        })
        .join()
        .unwrap();
    }
}
