//! `harness bench`: how fast echo servers are, side by side.
//!
//! Each workload runs the load generator ([`echo_client::run_load`]) against
//! a server under test after a warm-up, several times, and reports the
//! median and spread of the repetitions, latency percentiles over all
//! samples, the server's CPU time and memory from /proc, and the client's
//! own CPU so a saturated client is never mistaken for a slow server.

mod report;
pub mod stats;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use echo_client::{ClientConfig, LoadPlan, LoadReport};

use crate::sut::{self, Certs, Launch, Running, ServerSpec};
pub use report::{BenchReport, Row};
use stats::{process_cpu, process_rss, quantile, tail, thread_cpu, Spread};

/// Flags the reference server gets for benchmarks: warm latency needs
/// `--keep-alive`, the scale workload needs room and patience.
const REFERENCE_BENCH_ARGS: &[&str] = &[
    "--keep-alive",
    "--idle-timeout",
    "60s",
    "--max-connections",
    "20000",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Connect, handshake, echo 64 bytes, close; closed loop per client count.
    Churn,
    /// One connection, one stream at a time (needs a --keep-alive server).
    Warm,
    /// Many clients echoing 8 KiB streams back to back.
    Goodput,
    /// Many connections open at once, then one 1 KiB echo on each.
    Scale,
    /// Server CPU with no clients at all.
    Idle,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Server under test as [NAME=]TEMPLATE; repeat to compare (ratios are
    /// to the first). Default: the reference server with --keep-alive.
    #[arg(long = "server", value_name = "[NAME=]TEMPLATE")]
    servers: Vec<String>,

    /// A server already running, not started by the harness:
    /// [NAME=]HOST:PORT (after the --server ones). Its CPU and memory
    /// cannot be seen, so those figures are left out.
    #[arg(long = "connect", value_name = "[NAME=]HOST:PORT")]
    connects: Vec<String>,

    /// The name sent as SNI to --connect servers (default: the host). The
    /// load generator does not check certificates.
    #[arg(long, value_name = "NAME")]
    sni: Option<String>,

    /// Workloads to run (repeatable). Default: all.
    #[arg(long, value_enum)]
    workload: Vec<Workload>,

    /// Length of one measured repetition.
    #[arg(long, default_value = "3s", value_parser = server::cli::parse_duration)]
    duration: Duration,

    /// Measured repetitions per workload (median and spread are over these).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    reps: u32,

    /// Unmeasured warm-up before each workload.
    #[arg(long, default_value = "1s", value_parser = server::cli::parse_duration)]
    warmup: Duration,

    /// Client counts for the churn workload.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    clients: Vec<usize>,

    /// Stream sizes for the warm workload (bytes).
    #[arg(long, value_delimiter = ',', default_value = "64,1024,8000")]
    sizes: Vec<usize>,

    /// Load-generator threads for churn, each running its share of the
    /// clients: a client's handshake costs more CPU than the server's, so
    /// one thread cannot offer enough load. (Goodput uses one: there the
    /// server is the bottleneck, and on 2 cores a second client thread only
    /// takes CPU from it.)
    #[arg(long, default_value_t = 2)]
    client_threads: usize,

    /// Clients for the goodput workload.
    #[arg(long, default_value_t = 64)]
    goodput_clients: usize,

    /// Connection counts for the scale workload.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    scale: Vec<usize>,

    /// How long the idle workload watches the server.
    #[arg(long, default_value = "5s", value_parser = server::cli::parse_duration)]
    idle: Duration,

    /// Tiny sizes and short runs: checks that every workload works, not
    /// how fast anything is.
    #[arg(long)]
    quick: bool,

    /// Write the results as JSON to FILE ("-" for stdout instead of the table).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Also write the results as a self-contained HTML page with charts.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Folder with chain.pem, key.pem and ca.pem.
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,

    /// How long a server may take to come up.
    #[arg(long, default_value = "20s", value_parser = server::cli::parse_duration)]
    ready_timeout: Duration,
}

impl BenchArgs {
    fn quick(&mut self) {
        self.duration = Duration::from_millis(300);
        self.reps = 1;
        self.warmup = Duration::ZERO;
        self.clients = vec![1, 4];
        self.sizes = vec![64, 1024];
        self.goodput_clients = 4;
        self.scale = vec![50];
        self.idle = Duration::from_millis(300);
    }
}

/// What `main` needs back: the report, or an error and its exit status.
pub fn run(mut args: BenchArgs, certs_dir: PathBuf) -> Result<BenchReport, (u8, String)> {
    if args.quick {
        args.quick();
    }
    if args.clients.contains(&0)
        || args.scale.contains(&0)
        || args.goodput_clients == 0
        || args.client_threads == 0
    {
        return Err((2, "client and connection counts must be at least 1".into()));
    }
    let certs = Certs::in_dir(&certs_dir);
    let workloads = if args.workload.is_empty() {
        Workload::value_variants().to_vec()
    } else {
        args.workload.clone()
    };
    let mut specs: Vec<ServerSpec> = args
        .servers
        .iter()
        .map(|s| ServerSpec::parse(s))
        .chain(args.connects.iter().map(|c| ServerSpec::connect(c)))
        .collect::<Result<_, _>>()
        .map_err(|e| (2, e))?;
    if specs.is_empty() {
        specs.push(ServerSpec::reference());
    }
    if specs.iter().any(|s| s.remote().is_none()) {
        for f in [&certs.chain, &certs.key] {
            if !f.is_file() {
                return Err((2, format!("{}: not found (set --certs DIR)", f.display())));
            }
        }
    }
    for s in &mut specs {
        // The built-in servers (reference and quinn peer) share these flags.
        // Flags given with the name come after, so they win.
        if matches!(s.launch, Launch::Builtin(_)) {
            let given = std::mem::take(&mut s.builtin_args);
            s.builtin_args = REFERENCE_BENCH_ARGS.iter().map(|a| a.to_string()).collect();
            s.builtin_args.extend(given);
        }
    }
    let mut names = std::collections::HashSet::new();
    if let Some(s) = specs.iter().find(|s| !names.insert(s.name.clone())) {
        return Err((
            2,
            format!(
                "two servers are named {:?}; use --server NAME=TEMPLATE",
                s.name
            ),
        ));
    }
    let mut report = BenchReport::new(specs.iter().map(|s| s.name.clone()).collect());
    for spec in &specs {
        for w in &workloads {
            // A fresh server per workload: one's leftovers (memory, timers)
            // must not weigh on the next.
            let server = BenchServer::up(spec, &certs, &args)?;
            let bench = Bench {
                args: &args,
                addr: server.addr,
                pid: server.running.as_ref().map(Running::pid),
                // The load generator does not verify the chain: that is the
                // client's cost, not the server's, and it would halve the
                // load one client thread can offer.
                cfg: ClientConfig {
                    alpn: vec!["http/1.0".into()],
                    server_name: server_name(spec, &args),
                    trust: echo_client::Trust::Nothing,
                    idle_timeout: Duration::from_secs(60),
                    ..ClientConfig::default()
                },
                name: &spec.name,
            };
            let unfit = match w {
                Workload::Warm | Workload::Goodput => bench.closes_after_echo()?,
                _ => None,
            };
            let rows = match unfit {
                Some(why) => bench.skipped(*w, why),
                None => bench.workload(*w)?,
            };
            for mut row in rows {
                if bench.pid.is_none() && row.skipped.is_none() {
                    row.notes.push(BLIND.into());
                }
                eprintln!("bench: {}", row.one_line());
                report.rows.push(row);
            }
            drop(server); // a started server stops here
        }
    }
    Ok(report)
}

/// The name the load generator sends as SNI (it checks no certificate).
fn server_name(spec: &ServerSpec, args: &BenchArgs) -> String {
    let sni = args.sni.clone();
    sut::Verify {
        sni,
        ..Default::default()
    }
    .server_name(spec)
}

/// The note on every row of a server the harness did not start.
const BLIND: &str = "server CPU and memory not measured: the harness did not start this \
                     server and cannot see its process";

/// The server one workload measures: a fresh process, or one the harness
/// did not start (the same for every workload, found answering first).
struct BenchServer {
    addr: SocketAddr,
    running: Option<Running>,
}

impl BenchServer {
    fn up(spec: &ServerSpec, certs: &Certs, args: &BenchArgs) -> Result<BenchServer, (u8, String)> {
        if let Some(r) = spec.remote() {
            let target = crate::driver::Target::new(
                r.addr,
                server_name(spec, args),
                echo_client::Trust::Nothing,
            );
            let deadline = Instant::now() + args.ready_timeout;
            sut::probe::await_handshake(&target, deadline, || None)
                .map_err(|e| (3, format!("server {:?} is not ready: {e}", spec.name)))?;
            return Ok(BenchServer {
                addr: r.addr,
                running: None,
            });
        }
        let running = Running::start(
            spec,
            certs,
            (SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0), &[]),
            args.ready_timeout,
        )
        .map_err(|e| (3, format!("server {:?} could not start: {e}", spec.name)))?;
        Ok(BenchServer {
            addr: running.addr,
            running: Some(running),
        })
    }
}

/// How long the scale workload may take for `n` connections: generous,
/// since opening 10,000 from one client thread takes a while on 2 cores.
fn scale_deadline(n: usize) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(20 * n as u64)
}

struct Bench<'a> {
    args: &'a BenchArgs,
    addr: SocketAddr,
    /// The server's process, when the harness started it.
    pid: Option<u32>,
    cfg: ClientConfig,
    name: &'a str,
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

    /// One run of `plan`, on `threads` load generators at once, each with
    /// its share of the clients (one for barrier plans, whose moment of
    /// measure must be single).
    fn measure(&self, plan: &LoadPlan, threads: usize) -> Result<Sample, (u8, String)> {
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
                let (addr, cfg) = (self.addr(), &self.cfg);
                let rss = &rss;
                handles.push(scope.spawn(move || {
                    let cpu0 = thread_cpu();
                    let mut at_barrier = || *rss.lock().unwrap() = pid.and_then(process_rss);
                    let load = echo_client::run_load(addr, cfg, &part, &mut at_barrier)
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
            let (l, cpu) = p.map_err(|e| (1, e))?;
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
    fn repeat(&self, plan: &LoadPlan, threads: usize) -> Result<Vec<Sample>, (u8, String)> {
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

    fn workload(&self, w: Workload) -> Result<Vec<Row>, (u8, String)> {
        match w {
            Workload::Churn => self.args.clients.iter().map(|&n| self.churn(n)).collect(),
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
    fn scale_rows(&self) -> Result<Vec<Row>, (u8, String)> {
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
    fn closes_after_echo(&self) -> Result<Option<String>, (u8, String)> {
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
    fn skipped(&self, w: Workload, why: String) -> Vec<Row> {
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
        if row.client_cpu_share > 0.9 * threads as f64 {
            row.notes.push(format!(
                "the client's {threads} thread(s) used {:.0}% of a core each: the client may be the bottleneck, so these figures are a floor for the server",
                row.client_cpu_share / threads as f64 * 100.0
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

    fn churn(&self, clients: usize) -> Result<Row, (u8, String)> {
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
        Ok(row)
    }

    fn warm(&self, size: usize) -> Result<Row, (u8, String)> {
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

    fn goodput(&self) -> Result<Row, (u8, String)> {
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

    fn scale(&self, n: usize) -> Result<Row, (u8, String)> {
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

/// Ensures no server outlives a failed bench (used by `main` on errors).
pub fn cleanup() {
    sut::kill_all();
}
