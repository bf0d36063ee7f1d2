//! The command line: every flag and subcommand of `harness`, parsed by
//! clap. `main.rs` carries them out.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::scenario::DriverKind;
use crate::{bench, schedule};

pub const AFTER_HELP: &str = "\
Exit status:
  0  every result as expected (all pass, or as listed in --expect)
  1  at least one unexpected result (a failure, an unexpected pass, a required driver skipped)
  2  usage error or a bad scenario / --expect file
  3  no verdict: a server under test could not be started (or a --connect
     server did not answer, or its certificate failed the clients' check),
     or a case ended in ERROR (the harness could not run it: a server it
     could not start for that case, a client stack that failed), and no
     result was unexpected

Outcomes: PASS; FAIL (a check saw the server break a rule); SKIP (the case
cannot be carried, with why); ERROR (no verdict on the server).

Servers by name: reference (the default), quinn (peers/quinn-echo, built in),
openssl (peers/openssl-echo, built by ci/build-peers.sh); NAME=reference etc.
renames one. Server templates may use {host} (127.0.0.1, or [::1] for IPv6
scenarios), {ip} (the same without brackets), {port} {chain} {key} {ca}, and
{args} for a scenario's server_args (flags in the reference server's terms,
such as --max-connections 50 or --no-retry; without {args} such scenarios are
skipped); e.g.
  --server 'demo=./quic-server-non-block {port} {chain} {key}'
A server already running is tested with --connect [NAME=]HOST:PORT (its
certificate checked for --sni, default the host, against --ca, default the
system's roots); cases that need its process are skipped with the reason,
e.g.
  --connect prod=echo.example.net:4433";

#[derive(Debug, Parser)]
#[command(name = "harness", version, about = "Conformance harness for QUIC echo servers", after_help = AFTER_HELP, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Scenario files or folders (recursive). Default: scenarios
    pub paths: Vec<PathBuf>,

    /// Server under test: a name from `harness servers` (reference, quinn,
    /// openssl, quic-go, ...) or [NAME=]TEMPLATE; repeat to compare servers.
    #[arg(long = "server", value_name = "[NAME=]TEMPLATE|NAME")]
    pub servers: Vec<String>,

    /// Every server known by name (see `harness servers`), each with its
    /// expect file, after any --server: the whole scenario-by-stack matrix.
    #[arg(long)]
    pub all_servers: bool,

    /// A server already running, not started by the harness:
    /// [NAME=]HOST:PORT (IPv6 as [::1]:PORT; host names resolve). Repeat,
    /// and mix with --server, to compare. Cases that need the server's
    /// process are skipped with the reason.
    #[arg(long = "connect", value_name = "[NAME=]HOST:PORT")]
    pub connects: Vec<String>,

    /// The name clients check certificates for and send as SNI. Default:
    /// localhost for started servers, the host for --connect.
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,

    /// The CA clients check certificates against. Default: the
    /// certificates folder's ca.pem for started servers, the system's roots
    /// for --connect. Also the {ca} of templates.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,

    /// Do not check certificates at all (the report says so).
    #[arg(long)]
    pub insecure: bool,

    /// Send floods and 250+ connections to --connect servers too (the
    /// report says how much was sent).
    #[arg(long)]
    pub allow_load: bool,

    /// Folder with chain.pem, key.pem and ca.pem for the servers the
    /// harness starts. Default: ./certs, else the workspace's.
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,

    /// The certificate chain started servers get (default: in --certs).
    #[arg(long, value_name = "FILE")]
    pub chain: Option<PathBuf>,

    /// The private key started servers get (default: in --certs).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,

    #[command(flatten)]
    pub out: Outputs,

    /// Keep evidence of each failed case under DIR/SERVER/SCENARIO/DRIVER:
    /// client qlogs, TLS key log, a capture, the relay's log, the server's
    /// stderr, the scenario and its seed (at most 10 MiB per case).
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,

    /// With --artifacts: keep every case's evidence, not only failures'.
    #[arg(long, requires = "artifacts")]
    pub artifacts_all: bool,

    /// Run only scenarios whose id matches GLOB (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub filter: Vec<String>,

    /// List the scenarios (after --filter) and exit.
    #[arg(long)]
    pub list: bool,

    /// Run only these drivers (repeatable). Default: every driver a scenario names.
    #[arg(long, value_enum)]
    pub driver: Vec<DriverArg>,

    /// Fail (exit 1) when this driver's scenarios are skipped (repeatable).
    #[arg(long, value_enum)]
    pub require_driver: Vec<DriverArg>,

    /// The openssl binary for the openssl driver (else HARNESS_OPENSSL, the
    /// one ci/build-openssl.sh builds, then PATH).
    #[arg(long, value_name = "PATH")]
    pub openssl: Option<PathBuf>,

    /// Known results per server: only results that differ fail the run
    /// (repeatable: e.g. one file per peer).
    #[arg(long, value_name = "FILE")]
    pub expect: Vec<PathBuf>,

    /// Time limit per scenario (e.g. 30s, 500ms).
    #[arg(long, default_value = "30s", value_parser = server::cli::parse_duration)]
    pub timeout: Duration,

    /// How long a server may take to come up.
    #[arg(long, default_value = "20s", value_parser = server::cli::parse_duration)]
    pub ready_timeout: Duration,

    /// Seed for the network model of scenarios with a `network` section;
    /// printed on each of their report lines, so a run replays exactly.
    /// Default: a new one each run.
    #[arg(long)]
    pub seed: Option<u64>,

    /// Run every selected case N times, each run with its own seed (drawn
    /// from --seed); the report gives each case's passes and the seeds of
    /// the runs that did not pass, and marks a case that both passed and
    /// failed as flaky.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub repeat: u32,

    /// Run only part K of N of the cases (e.g. 1/2), to spread one run over
    /// machines: the split depends only on the servers, scenarios and
    /// drivers asked for, so give every part the same ones (and the same
    /// --seed), then join the parts' --json files with `harness merge`.
    #[arg(long, value_name = "K/N")]
    pub partition: Option<schedule::plan::Partition>,

    /// Run only scenarios of this level (must: what the guide and the RFCs
    /// require; should: robustness beyond them).
    #[arg(long, value_enum)]
    pub level: Option<LevelArg>,

    /// Cases run side by side, each against its own server processes
    /// (default: 8 per core, at most 32). Cases that flood or open 250+
    /// connections always run alone.
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,

    /// Show every check, not only failures.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LevelArg {
    Must,
    Should,
}

/// Where a report goes: stdout in a format, and files.
#[derive(Debug, clap::Args)]
pub struct Outputs {
    /// Output on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Also write the JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Also write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Also write a self-contained HTML report to FILE: the matrix, every
    /// case's checks, links to its evidence.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Also write a Markdown page to FILE: the servers' stacks and
    /// versions, the matrix with must and should apart, every result that
    /// is not a pass with its cause.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the JSON Schema of scenario files.
    Schema,
    /// Join the --json reports of a split run's parts (--partition K/N) into
    /// one report, as if one machine had run every case.
    Merge {
        /// Every part's --json report.
        #[arg(required = true, value_name = "PART.json")]
        parts: Vec<PathBuf>,
        #[command(flatten)]
        out: Outputs,
    },
    /// List the servers known by name: stack and version, whether built,
    /// expect file, and the command template the harness runs.
    Servers {
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Print a case's datagrams in order from its evidence folder (one
    /// written by --artifacts): time, direction, size, the relay's fate
    /// (drops in capitals) and the packets and frames each carried,
    /// decrypted with the folder's key log.
    Explain {
        /// An evidence folder: artifacts/SERVER/SCENARIO/DRIVER.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Only these clients (the relay's numbers for them); repeatable.
        #[arg(long, value_name = "N")]
        client: Vec<usize>,
        /// Also write the timeline as a self-contained HTML page of SVG
        /// sequence diagrams (as the --html report draws failing cases).
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// Measure echo servers side by side (use a release build:
    /// `cargo run --release -p harness -- bench`).
    Bench(Box<bench::BenchArgs>),
    /// Run the built-in reference server (arguments as quic-echo-server's).
    #[command(hide = true)]
    ServeReference {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the built-in quinn peer (arguments as quinn-echo's).
    #[command(hide = true)]
    ServeQuinn {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriverArg {
    Native,
    Openssl,
    Quinn,
}

impl From<DriverArg> for DriverKind {
    fn from(d: DriverArg) -> Self {
        match d {
            DriverArg::Native => DriverKind::Native,
            DriverArg::Openssl => DriverKind::Openssl,
            DriverArg::Quinn => DriverKind::Quinn,
        }
    }
}
