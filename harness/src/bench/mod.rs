//! `harness bench`: how fast echo servers are, side by side.
//!
//! Each workload runs the load generator ([`echo_client::run_load`]) against
//! a server under test after a warm-up, several times, and reports the
//! median and spread of the repetitions, latency percentiles over all
//! samples, the server's CPU time and memory from /proc, and the client's
//! own CPU so a saturated client is never mistaken for a slow server.

mod args;
mod climb;
mod cpus;
mod floor;
mod generator;
mod report;
mod server;
pub mod stats;
mod workloads;

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use echo_client::ClientConfig;

use crate::sut::{self, Certs, Launch, Running, ServerSpec};
pub use args::{BenchArgs, Pinning, Workload};
pub use report::{BenchReport, Row};
use server::{server_name, BenchServer, BLIND};
use workloads::Bench;

/// Why a bench could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Bad flags or files.
    #[error("{0}")]
    Usage(String),
    #[error("server {name:?} could not start: {why}")]
    NotStarted { name: String, why: String },
    #[error("server {name:?} is not ready: {why}")]
    NotReady { name: String, why: String },
    /// The load generator itself failed.
    #[error("{0}")]
    Load(String),
}

impl BenchError {
    /// The exit status, as the conformance run's: 2 usage, 3 no server,
    /// 1 a failed measurement.
    pub fn exit_code(&self) -> u8 {
        match self {
            BenchError::Usage(_) => 2,
            BenchError::NotStarted { .. } | BenchError::NotReady { .. } => 3,
            BenchError::Load(_) => 1,
        }
    }
}

/// The servers to measure (the reference when none is named), their
/// certificates checked, the built-in ones given the bench's flags.
fn server_specs(args: &BenchArgs, certs: &Certs) -> Result<Vec<ServerSpec>, BenchError> {
    // --all-servers adds the known servers not already named.
    let known = sut::known::KNOWN.iter().map(|k| k.name.to_string());
    let all = known.filter(|k| args.all_servers && !args.servers.contains(k));
    let mut specs: Vec<ServerSpec> = args
        .servers
        .iter()
        .cloned()
        .chain(all)
        .map(|s| ServerSpec::parse(&s))
        .chain(args.connects.iter().map(|c| ServerSpec::connect(c)))
        .collect::<Result<_, _>>()
        .map_err(BenchError::Usage)?;
    if specs.is_empty() {
        specs.push(ServerSpec::reference());
    }
    if specs.iter().any(|s| s.remote().is_none()) {
        for f in [&certs.chain, &certs.key] {
            if !f.is_file() {
                return Err(BenchError::Usage(format!(
                    "{}: not found (set --certs DIR)",
                    f.display()
                )));
            }
        }
    }
    for s in &mut specs {
        // The built-in servers (reference and quinn peer) share these flags.
        // Flags given with the name come after, so they win.
        if matches!(s.launch, Launch::Builtin(_)) {
            let given = std::mem::take(&mut s.builtin_args);
            s.builtin_args = args::REFERENCE_BENCH_ARGS
                .iter()
                .map(|a| a.to_string())
                .collect();
            s.builtin_args.extend(given);
        }
    }
    let mut names = std::collections::HashSet::new();
    if let Some(s) = specs.iter().find(|s| !names.insert(s.name.clone())) {
        return Err(BenchError::Usage(format!(
            "two servers are named {:?}; use --server NAME=TEMPLATE",
            s.name
        )));
    }
    Ok(specs)
}

/// What `main` needs back: the report, or an error and its exit status.
pub fn run(mut args: BenchArgs, certs_dir: PathBuf) -> Result<BenchReport, BenchError> {
    if args.quick {
        args.quick();
    }
    if args.clients.contains(&0)
        || args.scale.contains(&0)
        || args.goodput_clients == 0
        || args.client_threads == 0
    {
        return Err(BenchError::Usage(
            "client and connection counts must be at least 1".into(),
        ));
    }
    let certs = Certs::in_dir(&certs_dir);
    let workloads = if args.workload.is_empty() {
        Workload::value_variants().to_vec()
    } else {
        args.workload.clone()
    };
    let specs = server_specs(&args, &certs)?;
    let pinning = args.pinning().map_err(BenchError::Usage)?;
    if let Some(c) = &pinning.client {
        // The harness's own threads (the one reading a server's log lines
        // among them) inherit this, so they take no time from the server's
        // CPUs; a server started from here is moved to its own once up.
        cpus::pin_this_thread(c)
            .map_err(|e| BenchError::Usage(format!("cannot keep the harness on CPUs {c}: {e}")))?;
    }
    let mut report = BenchReport::new(specs.iter().map(|s| s.name.clone()).collect());
    let shown = |c: &Option<cpus::Cpus>| c.as_ref().map_or("all".into(), |c| c.to_string());
    (report.server_cpus, report.client_cpus) = (shown(&pinning.server), shown(&pinning.client));
    floor_of(&args, &pinning, &mut report);
    for spec in &specs {
        for w in &workloads {
            // A fresh server per workload: one's leftovers (memory, timers)
            // must not weigh on the next.
            let server = BenchServer::up(spec, &certs, &args)?;
            let pid = server.running.as_ref().map(Running::pid);
            if let (Some(pid), Some(cpus)) = (pid, &pinning.server) {
                cpus::pin_process(pid, cpus).map_err(|e| BenchError::NotStarted {
                    name: spec.name.clone(),
                    why: format!("cannot keep it on CPUs {cpus}: {e}"),
                })?;
            }
            let bench = Bench {
                args: &args,
                pinning: &pinning,
                addr: server.addr,
                pid,
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
                floor: report.floor,
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

/// The crypto floor on the server's CPUs, or why there is none.
fn floor_of(args: &BenchArgs, pinning: &Pinning, report: &mut BenchReport) {
    let measured = match floor::openssl() {
        _ if args.quick => Err("--quick".to_string()),
        None => Err("no openssl found".to_string()),
        Some(bin) => floor::measure(&bin, pinning.server.as_ref())
            .map(|f| f.for_generator(args.load_generator)),
    };
    match measured {
        Ok(f) => {
            eprintln!("bench: crypto floor: {}", f.describe());
            report.floor = Some(f);
        }
        Err(why) => {
            eprintln!("bench: crypto floor not measured: {why}");
            report.floor_missing = Some(why);
        }
    }
}

/// Ensures no server outlives a failed bench (used by `main` on errors).
pub fn cleanup() {
    sut::kill_all();
}
