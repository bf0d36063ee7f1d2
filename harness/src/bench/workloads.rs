//! The workloads: each runs the load generator against one server and
//! turns the samples into rows.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use echo_client::{ClientConfig, LoadPlan, LoadReport};

use super::climb::{Climb, Next, Step};
use super::cpus::{self, limit};
use super::server::BLIND;
use super::stats::{process_cpu, process_rss, quantile, tail, thread_cpu, Spread};
use super::{BenchArgs, BenchError, Pinning, Row, Workload};

/// The saturation workload doubles its clients up to this many.
const SATURATION_CLIENTS: usize = 256;

fn machine_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How long the scale workload may take for `n` connections: generous,
/// since opening 10,000 from one client thread takes a while on 2 cores.
fn scale_deadline(n: usize) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(20 * n as u64)
}

/// One workload's measuring: its flags, the server and the load
/// generator's configuration.
pub(super) struct Bench<'a> {
    pub(super) args: &'a BenchArgs,
    pub(super) pinning: &'a Pinning,
    pub(super) addr: SocketAddr,
    /// The server's process, when the harness started it.
    pub(super) pid: Option<u32>,
    pub(super) cfg: ClientConfig,
    pub(super) name: &'a str,
    /// The handshake's cryptography on one core, when it was measured.
    pub(super) floor: Option<super::floor::Floor>,
}

/// One measured run: what the load generator saw and what it cost.
struct Sample {
    load: LoadReport,
    wall: Duration,
    server_cpu: f64,
    /// Load generator CPU seconds, all its threads.
    client_cpu: f64,
    client_threads: usize,
    rss_at_barrier: Option<u64>,
}

impl Bench<'_> {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many CPUs the server could keep busy: those it may run on, or
    /// fewer when it has fewer threads.
    fn server_usable(&self) -> usize {
        let set = self
            .pinning
            .server
            .as_ref()
            .map_or_else(machine_cpus, |c| c.len());
        let threads = self.pid.and_then(cpus::threads).unwrap_or(set);
        set.min(threads)
    }

    /// The same for the load generator's `threads`.
    fn client_usable(&self, threads: usize) -> usize {
        let set = self
            .pinning
            .client
            .as_ref()
            .map_or_else(machine_cpus, |c| c.len());
        set.min(threads)
    }

    /// One run of `plan`, on `threads` load generators at once, each with
    /// its share of the clients (one for barrier plans, whose moment of
    /// measure must be single).
    fn measure(&self, plan: &LoadPlan, threads: usize) -> Result<Sample, BenchError> {
        let pid = self.pid;
        let threads = if plan.barrier {
            1
        } else {
            threads.min(plan.concurrency).max(1)
        };
        let cpu0 = pid.and_then(process_cpu);
        let start = Instant::now();
        let rss = std::sync::Mutex::new(None);
        let parts: Vec<Result<(LoadReport, f64), String>> = std::thread::scope(|scope| {
            let mut handles = Vec::new();
            for t in 0..threads {
                // Split the clients as evenly as the counts allow.
                let share =
                    plan.concurrency / threads + usize::from(t < plan.concurrency % threads);
                let part = LoadPlan {
                    concurrency: share,
                    max_handshakes: plan.max_handshakes.div_ceil(threads),
                    max_connections: plan.max_connections.map(|m| m.div_ceil(threads as u64)),
                    ..plan.clone()
                };
                let (addr, cfg, generator) = (self.addr(), &self.cfg, self.args.load_generator);
                let (rss, client_cpus) = (&rss, &self.pinning.client);
                handles.push(scope.spawn(move || {
                    if let Some(c) = client_cpus {
                        cpus::pin_this_thread(c).map_err(|e| {
                            format!("load generator: cannot keep it on CPUs {c}: {e}")
                        })?;
                    }
                    let cpu0 = thread_cpu();
                    let mut at_barrier = || *rss.lock().unwrap() = pid.and_then(process_rss);
                    let load = generator
                        .run(addr, cfg, &part, &mut at_barrier)
                        .map_err(|e| format!("load generator: {e}"))?;
                    Ok((load, thread_cpu() - cpu0))
                }));
            }
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("load generator panicked".into()))
                })
                .collect()
        });
        let wall = start.elapsed();
        let server_cpu = match (cpu0, pid.and_then(process_cpu)) {
            (Some(a), Some(b)) => b - a,
            _ => f64::NAN,
        };
        let mut load = LoadReport::default();
        let mut client_cpu = 0.0;
        for p in parts {
            let (l, cpu) = p.map_err(BenchError::Load)?;
            load.merge(l);
            client_cpu += cpu;
        }
        Ok(Sample {
            load,
            wall,
            server_cpu,
            client_cpu,
            client_threads: threads,
            rss_at_barrier: rss.into_inner().unwrap_or(None),
        })
    }

    /// Warm-up, then `reps` measured runs of `plan`.
    fn repeat(&self, plan: &LoadPlan, threads: usize) -> Result<Vec<Sample>, BenchError> {
        if !self.args.warmup.is_zero() {
            let warm = LoadPlan {
                duration: self.args.warmup,
                deadline: self.args.warmup + Duration::from_secs(30),
                ..plan.clone()
            };
            self.measure(&warm, threads)?;
        }
        (0..self.args.reps)
            .map(|_| self.measure(plan, threads))
            .collect()
    }

    fn timed(&self, concurrency: usize, payload: usize, streams: Option<u64>) -> LoadPlan {
        LoadPlan {
            concurrency,
            payload,
            streams_per_conn: streams,
            duration: self.args.duration,
            max_connections: None,
            max_handshakes: concurrency,
            barrier: false,
            deadline: self.args.duration + Duration::from_secs(30),
        }
    }

    pub(super) fn workload(&self, w: Workload) -> Result<Vec<Row>, BenchError> {
        match w {
            Workload::Churn => self.args.clients.iter().map(|&n| self.churn(n)).collect(),
            Workload::Saturation => Ok(vec![self.saturation()?]),
            Workload::Warm => self.args.sizes.iter().map(|&s| self.warm(s)).collect(),
            Workload::Goodput => Ok(vec![self.goodput()?]),
            Workload::Scale => self.scale_rows(),
            Workload::Idle => Ok(vec![self.idle()]),
        }
    }

    /// The scale workload, each count skipped if it cannot finish here:
    /// at the rate the server serves connections (a one-second churn with
    /// 16 clients), opening and echoing on that many would not end before
    /// the workload's deadline. The guide's server, which serves one
    /// connection at a time and spins through each shutdown, is one such.
    fn scale_rows(&self) -> Result<Vec<Row>, BenchError> {
        let plan = LoadPlan {
            duration: Duration::from_secs(1),
            deadline: Duration::from_secs(10),
            ..self.timed(16, 64, Some(1))
        };
        let s = self.measure(&plan, self.args.client_threads)?;
        let rate = s.load.ok as f64 / s.wall.as_secs_f64();
        let mut rows = Vec::new();
        for &n in &self.args.scale {
            let needed = n as f64 / rate.max(1e-9);
            let deadline = scale_deadline(n).as_secs_f64();
            rows.push(if needed > deadline * 0.8 {
                let why = format!(
                    "at {rate:.0} connections/s (1 s of churn, 16 clients) {n} connections \
                     would take about {needed:.0} s, past this workload's {deadline:.0} s deadline"
                );
                Row::skipped(self.name, "scale", format!("connections={n}"), why)
            } else {
                self.scale(n)?
            });
        }
        Ok(rows)
    }

    /// Why workloads that reuse a connection cannot run here: the server
    /// closes the connection after an echo (no keep-alive), as the guide's
    /// server does. Checked with four connections echoing 8 KiB streams
    /// back to back for a moment.
    pub(super) fn closes_after_echo(&self) -> Result<Option<String>, BenchError> {
        // As goodput loads it: a few clients, 8 KiB streams back to back.
        let plan = LoadPlan {
            concurrency: 4,
            payload: 8192,
            streams_per_conn: None,
            duration: Duration::from_millis(300),
            max_connections: None,
            max_handshakes: 4,
            barrier: false,
            deadline: Duration::from_secs(10),
        };
        let s = self.measure(&plan, 1)?;
        let seen = if s.load.closed_by_server > 0 {
            "closes the connection after an echo".to_string()
        } else if let Some(f) = s.load.failures.first().filter(|_| s.load.failed > 0) {
            format!("did not serve 8 KiB streams back to back on 4 open connections ({f})")
        } else {
            return Ok(None);
        };
        Ok(Some(format!(
            "the server {seen}: no keep-alive, and this workload measures \
             streams on an open connection"
        )))
    }

    /// Rows for `w` not run, with the reason.
    pub(super) fn skipped(&self, w: Workload, why: String) -> Vec<Row> {
        let params: Vec<(&str, String)> = match w {
            Workload::Warm => self
                .args
                .sizes
                .iter()
                .map(|s| ("warm", format!("size={s}")))
                .collect(),
            Workload::Goodput => vec![(
                "goodput",
                format!("clients={} size=8192", self.args.goodput_clients),
            )],
            _ => Vec::new(),
        };
        params
            .into_iter()
            .map(|(name, p)| Row::skipped(self.name, name, p, why.clone()))
            .collect()
    }

    fn row(&self, workload: &str, params: String, samples: &[Sample]) -> Row {
        let mut row = Row::new(self.name, workload, params);
        let wall: f64 = samples.iter().map(|s| s.wall.as_secs_f64()).sum();
        let client: f64 = samples.iter().map(|s| s.client_cpu).sum();
        let threads = samples.iter().map(|s| s.client_threads).max().unwrap_or(1);
        row.client_threads = threads;
        row.client_cpu_share = client / wall.max(1e-9);
        let server: f64 = samples.iter().map(|s| s.server_cpu).sum();
        row.server_cpu_share = server.is_finite().then(|| server / wall.max(1e-9));
        row.limit = limit(
            row.server_cpu_share.map(|s| (s, self.server_usable())),
            (row.client_cpu_share, self.client_usable(threads)),
        );
        if row.limit == cpus::Limit::LoadGenerator {
            row.notes.push(format!(
                "the load generator kept its CPUs busy ({:.0}% of a core over {threads} thread(s)) and the server did not: these figures are a floor for the server, not a ranking",
                row.client_cpu_share * 100.0
            ));
        }
        for s in samples {
            row.ok += s.load.ok;
            row.errors += s.load.failed;
            for f in &s.load.failures {
                if row.failures.len() < 5 && !row.failures.contains(f) {
                    row.failures.push(f.clone());
                }
            }
        }
        row
    }

    fn latencies(
        row: &mut Row,
        what: &str,
        samples: &[Sample],
        pick: fn(&LoadReport) -> &[Duration],
    ) {
        let mut all: Vec<Duration> = samples
            .iter()
            .flat_map(|s| pick(&s.load).to_vec())
            .collect();
        all.sort_unstable();
        row.samples.push((what.to_string(), all.len()));
        let us = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e6);
        row.point(&format!("{what} p50"), "us", us(quantile(&all, 0.5)));
        row.point(&format!("{what} p99"), "us", us(tail(&all, 0.99)));
        row.point(&format!("{what} p99.9"), "us", us(tail(&all, 0.999)));
    }

    fn churn(&self, clients: usize) -> Result<Row, BenchError> {
        let samples = self.repeat(&self.timed(clients, 64, Some(1)), self.args.client_threads)?;
        let mut row = self.row("churn", format!("clients={clients}"), &samples);
        let rates: Vec<f64> = samples
            .iter()
            .map(|s| s.load.ok as f64 / s.wall.as_secs_f64())
            .collect();
        row.spread("connections/s", "1/s", Spread::of(&rates));
        Self::latencies(&mut row, "handshake", &samples, |l| &l.handshakes);
        Self::latencies(&mut row, "echo", &samples, |l| &l.echoes);
        let conns: u64 = samples.iter().map(|s| s.load.ok + s.load.failed).sum();
        let cpu: f64 = samples.iter().map(|s| s.server_cpu).sum();
        row.point(
            "server CPU per 1,000 connections",
            "s",
            (conns > 0 && cpu.is_finite()).then(|| cpu / conns as f64 * 1000.0),
        );
        row.point(
            "server CPU per connection, in crypto floors",
            "x",
            self.floor
                .filter(|_| conns > 0 && cpu.is_finite())
                .map(|f| cpu / conns as f64 * 1e6 / f.handshake_us()),
        );
        let client: f64 = samples.iter().map(|s| s.client_cpu).sum();
        row.point(
            "load generator CPU per 1,000 connections",
            "s",
            (conns > 0).then(|| client / conns as f64 * 1000.0),
        );
        Ok(row)
    }

    /// Churn at doubling client counts, up to [`SATURATION_CLIENTS`],
    /// until connections fail or the server's busy rate stops rising
    /// ([`Climb`]); the row of the best busy step, every step in its note.
    fn saturation(&self) -> Result<Row, BenchError> {
        let (mut clients, mut climb) = (1, Climb::default());
        let (mut tried, mut best_row) = (Vec::new(), None);
        loop {
            let plan = self.timed(clients, 64, Some(1));
            let sample = self.measure(&plan, self.args.client_threads)?;
            let rate = sample.load.ok as f64 / sample.wall.as_secs_f64();
            let failed = sample.load.failed > 0;
            let row = self.row("saturation", "churn, clients doubling".into(), &[sample]);
            tried.push(format!("{clients}: {rate:.0}/s ({})", row.limit));
            let step = Step {
                clients,
                rate,
                limit: row.limit,
                failed,
            };
            let next = climb.step(step, clients >= SATURATION_CLIENTS);
            if climb.best() == Some(step) {
                best_row = Some(row.clone());
            }
            let (mut row, step, end) = match next {
                Next::Double => {
                    clients *= 2;
                    continue;
                }
                Next::ReportThis(end) => (row, step, end),
                Next::ReportBest(end) => {
                    let best = climb.best().expect("a best step to report");
                    (best_row.take().expect("its row kept"), best, end)
                }
            };
            row.point("connections/s", "1/s", Some(step.rate));
            row.point("clients", "", Some(step.clients as f64));
            row.notes.push(format!(
                "clients, connections/s (limit): {}; stopped: {end}",
                tried.join(", ")
            ));
            return Ok(row);
        }
    }

    fn warm(&self, size: usize) -> Result<Row, BenchError> {
        let samples = self.repeat(&self.timed(1, size, None), 1)?;
        let mut row = self.row("warm", format!("size={size}"), &samples);
        let closed: u64 = samples.iter().map(|s| s.load.closed_by_server).sum();
        if closed > 0 {
            row.notes.push(format!(
                "the server closed the connection after an echo {closed} time(s): warm latency needs a --keep-alive server; these figures include new handshakes"
            ));
        }
        Self::latencies(&mut row, "round trip", &samples, |l| &l.echoes);
        Ok(row)
    }

    fn goodput(&self) -> Result<Row, BenchError> {
        let n = self.args.goodput_clients;
        let samples = self.repeat(&self.timed(n, 8192, None), 1)?;
        let mut row = self.row("goodput", format!("clients={n} size=8192"), &samples);
        let rates: Vec<f64> = samples
            .iter()
            .map(|s| s.load.bytes_echoed as f64 / s.wall.as_secs_f64() / 1e6)
            .collect();
        row.spread("MB/s each way", "MB/s", Spread::of(&rates));
        let bytes: u64 = samples.iter().map(|s| s.load.bytes_echoed).sum();
        let cpu: f64 = samples.iter().map(|s| s.server_cpu).sum();
        row.point(
            "server CPU per GB echoed",
            "s",
            (bytes > 0 && cpu.is_finite()).then(|| cpu / bytes as f64 * 1e9),
        );
        Ok(row)
    }

    fn scale(&self, n: usize) -> Result<Row, BenchError> {
        let base = self.pid.and_then(process_rss);
        // Generous: opening 10,000 connections from one client thread takes
        // a while on 2 cores.
        let plan = LoadPlan {
            concurrency: n,
            payload: 1024,
            streams_per_conn: Some(1),
            duration: Duration::from_secs(600),
            max_connections: Some(n as u64),
            max_handshakes: 64,
            barrier: true,
            deadline: scale_deadline(n),
        };
        let sample = self.measure(&plan, 1)?;
        let samples = [sample];
        let s = &samples[0];
        let mut row = self.row("scale", format!("connections={n}"), &samples);
        row.point("time", "s", Some(s.wall.as_secs_f64()));
        row.point(
            "established at once",
            "",
            Some(s.load.established_at_barrier as f64),
        );
        let per_conn = match (base, s.rss_at_barrier) {
            (Some(b), Some(at)) if s.load.established_at_barrier > 0 => {
                Some(at.saturating_sub(b) as f64 / s.load.established_at_barrier as f64 / 1024.0)
            }
            _ => None,
        };
        row.point("server RSS per connection", "KiB", per_conn);
        Self::latencies(&mut row, "handshake", &samples, |l| &l.handshakes);
        Ok(row)
    }

    fn idle(&self) -> Row {
        let params = format!("seconds={}", self.args.idle.as_secs_f64());
        let Some(pid) = self.pid else {
            return Row::skipped(self.name, "idle", params, BLIND.into());
        };
        let before = process_cpu(pid);
        // Not a synchronisation sleep: watching an idle server is the
        // measurement itself.
        std::thread::sleep(self.args.idle);
        let cpu = match (before, process_cpu(pid)) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let mut row = Row::new(self.name, "idle", params);
        row.point("server CPU", "s", cpu);
        row
    }
}
