//! Numbers: percentiles, median and spread, and what /proc says about a
//! process's CPU time and memory.

use std::time::Duration;

/// Fewer samples than this give no p99 (it would be one or two samples).
pub const MIN_SAMPLES_FOR_P99: usize = 300;

/// The `q` quantile (0..=1) of `sorted`, nearest rank; `None` when empty.
pub fn quantile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// A tail quantile, only when there are enough samples to mean anything:
/// p99 needs 300, p99.9 needs 3,000.
pub fn tail(sorted: &[Duration], q: f64) -> Option<Duration> {
    let needed = (3.0 / (1.0 - q)).round() as usize;
    if sorted.len() < needed.max(MIN_SAMPLES_FOR_P99) {
        return None;
    }
    quantile(sorted, q)
}

/// Median, minimum and maximum of repeated measurements.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[v.len() - 1],
        })
    }
}

/// CPU seconds (user + system) a process has used so far, from
/// /proc/PID/stat; `None` if the process is gone or /proc is missing.
pub fn process_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields resume after its ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some((utime + stime) / ticks.max(1) as f64)
}

/// Resident memory in bytes, from /proc/PID/status.
pub fn process_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU seconds the calling thread has used (the load generator's cost).
pub fn thread_cpu() -> f64 {
    // SAFETY: getrusage fills the zeroed struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let s = ms(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(quantile(&s, 0.5), Some(Duration::from_millis(5)));
        assert_eq!(quantile(&s, 1.0), Some(Duration::from_millis(10)));
        assert_eq!(quantile(&s, 0.0), Some(Duration::from_millis(1)));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn tails_need_enough_samples() {
        let few = ms(&[1; 299]);
        assert_eq!(tail(&few, 0.99), None);
        let enough: Vec<Duration> = (1..=300).map(Duration::from_millis).collect();
        assert_eq!(tail(&enough, 0.99), Some(Duration::from_millis(297)));
        assert_eq!(tail(&enough, 0.999), None, "p99.9 needs 3000");
    }

    #[test]
    fn spread_gives_median_min_max() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of(&[1.0, 3.0]).unwrap().median, 2.0);
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let me = std::process::id();
        assert!(process_cpu(me).is_some());
        assert!(process_rss(me).unwrap() > 0);
        assert!(process_cpu(u32::MAX).is_none());
        let before = thread_cpu();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu() > before);
    }
}
