//! `harness bench`'s flags and workloads.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::cpus::Cpus;
use super::generator::LoadGenerator;

/// Flags the reference server gets for benchmarks: warm latency needs
/// `--keep-alive`, the scale workload needs room and patience.
pub(super) const REFERENCE_BENCH_ARGS: &[&str] = &[
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
    /// Churn with the clients doubled (1, 2, 4, ...) until the server's
    /// CPUs are busy or connections fail: its connections/s there.
    Saturation,
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
    pub(super) servers: Vec<String>,

    /// Every server known by name (see `harness servers`), after any
    /// --server: the reference and each peer in one table.
    #[arg(long)]
    pub(super) all_servers: bool,

    /// A server already running, not started by the harness:
    /// [NAME=]HOST:PORT (after the --server ones). Its CPU and memory
    /// cannot be seen, so those figures are left out.
    #[arg(long = "connect", value_name = "[NAME=]HOST:PORT")]
    pub(super) connects: Vec<String>,

    /// The name sent as SNI to --connect servers (default: the host). The
    /// load generator does not check certificates.
    #[arg(long, value_name = "NAME")]
    pub(super) sni: Option<String>,

    /// Workloads to run (repeatable). Default: all.
    #[arg(long, value_enum)]
    pub(super) workload: Vec<Workload>,

    /// Length of one measured repetition.
    #[arg(long, default_value = "3s", value_parser = server::cli::parse_duration)]
    pub(super) duration: Duration,

    /// Measured repetitions per workload (median and spread are over these).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(super) reps: u32,

    /// Unmeasured warm-up before each workload.
    #[arg(long, default_value = "1s", value_parser = server::cli::parse_duration)]
    pub(super) warmup: Duration,

    /// Client counts for the churn workload.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub(super) clients: Vec<usize>,

    /// Stream sizes for the warm workload (bytes).
    #[arg(long, value_delimiter = ',', default_value = "64,1024,8000")]
    pub(super) sizes: Vec<usize>,

    /// Load-generator threads for churn, each running its share of the
    /// clients: a client's handshake costs more CPU than the server's, so
    /// one thread cannot offer enough load. (Goodput uses one: there the
    /// server is the bottleneck, and on 2 cores a second client thread only
    /// takes CPU from it.)
    #[arg(long, default_value_t = 2)]
    pub(super) client_threads: usize,

    /// Clients for the goodput workload.
    #[arg(long, default_value_t = 64)]
    pub(super) goodput_clients: usize,

    /// Connection counts for the scale workload.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    pub(super) scale: Vec<usize>,

    /// How long the idle workload watches the server.
    #[arg(long, default_value = "5s", value_parser = server::cli::parse_duration)]
    pub(super) idle: Duration,

    /// Tiny sizes and short runs: checks that every workload works, not
    /// how fast anything is.
    #[arg(long)]
    pub(super) quick: bool,

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
    pub(super) ready_timeout: Duration,

    /// CPUs the server under test runs on (e.g. 0 or 0-1), apart from the
    /// load generator's. Default: the lower half of this machine's.
    #[arg(long, value_name = "LIST", value_parser = Cpus::parse, conflicts_with = "no_pin")]
    pub(super) server_cpus: Option<Cpus>,

    /// CPUs the load generator runs on. Default: the upper half.
    #[arg(long, value_name = "LIST", value_parser = Cpus::parse, conflicts_with = "no_pin")]
    pub(super) client_cpus: Option<Cpus>,

    /// Let server and load generator share every CPU (no pinning).
    #[arg(long)]
    pub(super) no_pin: bool,

    /// The client stack that offers the load.
    #[arg(long, value_enum, default_value = "quinn")]
    pub(super) load_generator: LoadGenerator,
}

impl BenchArgs {
    pub(super) fn quick(&mut self) {
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

/// Where each side runs: `None` for a side left to the scheduler.
#[derive(Debug, Clone, Default)]
pub struct Pinning {
    pub server: Option<Cpus>,
    pub client: Option<Cpus>,
}

impl BenchArgs {
    /// The CPU sets from the flags and the machine: disjoint, or an error.
    pub(super) fn pinning(&self) -> Result<Pinning, String> {
        if self.no_pin {
            return Ok(Pinning::default());
        }
        let split = super::cpus::default_split();
        let server = self
            .server_cpus
            .clone()
            .or_else(|| split.as_ref().map(|s| s.0.clone()));
        let client = self.client_cpus.clone().or_else(|| split.map(|s| s.1));
        if let (Some(s), Some(c)) = (&server, &client) {
            if s.0.iter().any(|cpu| c.0.contains(cpu)) {
                return Err(format!(
                    "--server-cpus {s} and --client-cpus {c} overlap: the sides must not share a CPU (or pass --no-pin)"
                ));
            }
        }
        Ok(Pinning { server, client })
    }
}
