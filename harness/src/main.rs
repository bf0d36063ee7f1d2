//! `harness`: runs JSON scenarios against QUIC echo servers (the command
//! line; the parts are in the library).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use harness::driver::{self, Driver};
use harness::scenario::{self, DriverKind};
use harness::schedule::{self, Schedule};
use harness::{bench, case, expect, report, sut};

const AFTER_HELP: &str = "\
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
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Scenario files or folders (recursive). Default: scenarios
    paths: Vec<PathBuf>,

    /// Server under test: a name from `harness servers` (reference, quinn,
    /// openssl, quic-go, ...) or [NAME=]TEMPLATE; repeat to compare servers.
    #[arg(long = "server", value_name = "[NAME=]TEMPLATE|NAME")]
    servers: Vec<String>,

    /// Every server known by name (see `harness servers`), each with its
    /// expect file, after any --server: the whole scenario-by-stack matrix.
    #[arg(long)]
    all_servers: bool,

    /// A server already running, not started by the harness:
    /// [NAME=]HOST:PORT (IPv6 as [::1]:PORT; host names resolve). Repeat,
    /// and mix with --server, to compare. Cases that need the server's
    /// process are skipped with the reason.
    #[arg(long = "connect", value_name = "[NAME=]HOST:PORT")]
    connects: Vec<String>,

    /// The name clients check certificates for and send as SNI. Default:
    /// localhost for started servers, the host for --connect.
    #[arg(long, value_name = "NAME")]
    sni: Option<String>,

    /// The CA clients check certificates against. Default: the
    /// certificates folder's ca.pem for started servers, the system's roots
    /// for --connect. Also the {ca} of templates.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,

    /// Do not check certificates at all (the report says so).
    #[arg(long)]
    insecure: bool,

    /// Send floods and 250+ connections to --connect servers too (the
    /// report says how much was sent).
    #[arg(long)]
    allow_load: bool,

    /// Folder with chain.pem, key.pem and ca.pem for the servers the
    /// harness starts. Default: ./certs, else the workspace's.
    #[arg(long, value_name = "DIR")]
    certs: Option<PathBuf>,

    /// The certificate chain started servers get (default: in --certs).
    #[arg(long, value_name = "FILE")]
    chain: Option<PathBuf>,

    /// The private key started servers get (default: in --certs).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,

    #[command(flatten)]
    out: Outputs,

    /// Keep evidence of each failed case under DIR/SERVER/SCENARIO/DRIVER:
    /// client qlogs, TLS key log, a capture, the relay's log, the server's
    /// stderr, the scenario and its seed (at most 10 MiB per case).
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,

    /// With --artifacts: keep every case's evidence, not only failures'.
    #[arg(long, requires = "artifacts")]
    artifacts_all: bool,

    /// Run only scenarios whose id matches GLOB (repeatable).
    #[arg(long, value_name = "GLOB")]
    filter: Vec<String>,

    /// List the scenarios (after --filter) and exit.
    #[arg(long)]
    list: bool,

    /// Run only these drivers (repeatable). Default: every driver a scenario names.
    #[arg(long, value_enum)]
    driver: Vec<DriverArg>,

    /// Fail (exit 1) when this driver's scenarios are skipped (repeatable).
    #[arg(long, value_enum)]
    require_driver: Vec<DriverArg>,

    /// The openssl binary for the openssl driver (else HARNESS_OPENSSL, the
    /// one ci/build-openssl.sh builds, then PATH).
    #[arg(long, value_name = "PATH")]
    openssl: Option<PathBuf>,

    /// Known results per server: only results that differ fail the run
    /// (repeatable: e.g. one file per peer).
    #[arg(long, value_name = "FILE")]
    expect: Vec<PathBuf>,

    /// Time limit per scenario (e.g. 30s, 500ms).
    #[arg(long, default_value = "30s", value_parser = server::cli::parse_duration)]
    timeout: Duration,

    /// How long a server may take to come up.
    #[arg(long, default_value = "20s", value_parser = server::cli::parse_duration)]
    ready_timeout: Duration,

    /// Seed for the network model of scenarios with a `network` section;
    /// printed on each of their report lines, so a run replays exactly.
    /// Default: a new one each run.
    #[arg(long)]
    seed: Option<u64>,

    /// Run every selected case N times, each run with its own seed (drawn
    /// from --seed); the report gives each case's passes and the seeds of
    /// the runs that did not pass, and marks a case that both passed and
    /// failed as flaky.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    repeat: u32,

    /// Run only part K of N of the cases (e.g. 1/2), to spread one run over
    /// machines: the split depends only on the servers, scenarios and
    /// drivers asked for, so give every part the same ones (and the same
    /// --seed), then join the parts' --json files with `harness merge`.
    #[arg(long, value_name = "K/N")]
    partition: Option<schedule::plan::Partition>,

    /// Run only scenarios of this level (must: what the guide and the RFCs
    /// require; should: robustness beyond them).
    #[arg(long, value_enum)]
    level: Option<LevelArg>,

    /// Cases run side by side, each against its own server processes
    /// (default: 8 per core, at most 32). Cases that flood or open 250+
    /// connections always run alone.
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: Option<u16>,

    /// Show every check, not only failures.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LevelArg {
    Must,
    Should,
}

/// Where a report goes: stdout in a format, and files.
#[derive(Debug, clap::Args)]
struct Outputs {
    /// Output on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,

    /// Also write the JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Also write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,

    /// Also write a self-contained HTML report to FILE: the matrix, every
    /// case's checks, links to its evidence.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,

    /// Also write a Markdown page to FILE: the servers' stacks and
    /// versions, the matrix with must and should apart, every result that
    /// is not a pass with its cause.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
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
enum Format {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DriverArg {
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

fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("harness: error: {msg}");
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Schema) => {
            print!("{}", scenario::json_schema());
            return ExitCode::SUCCESS;
        }
        Some(Command::Servers { format }) => return list_servers(format),
        Some(Command::Merge { parts, out }) => return merge(&parts, &out),
        Some(Command::ServeReference { args }) => return serve_reference(args),
        Some(Command::ServeQuinn { args }) => return serve_quinn(args),
        Some(Command::Bench(args)) => {
            env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
                .init();
            install_signal_cleanup();
            return run_bench(*args);
        }
        None => {}
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    install_signal_cleanup();
    run(cli)
}

fn merge(parts: &[PathBuf], out: &Outputs) -> ExitCode {
    let report = match report::merge::merge(parts) {
        Ok(r) => r,
        Err(e) => return fail(2, e),
    };
    if out.format == Format::Human {
        let human = report::Human {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            verbose: false,
            show_server: report.servers.len() > 1,
        };
        let mut stdout = std::io::stdout();
        for e in report.results.iter().filter(|e| !e.expected) {
            let _ = human.case(&mut stdout, e);
        }
        let with_expect = report.results.iter().any(|e| e.known_reason.is_some());
        let _ = human.footer(&mut stdout, &report, with_expect);
    }
    finish(&report, out)
}

fn list_servers(format: Format) -> ExitCode {
    let rows = sut::known::listing();
    match format {
        Format::Human => print!("{}", sut::known::table(&rows)),
        Format::Json => match serde_json::to_string_pretty(&rows) {
            Ok(j) => println!("{j}"),
            Err(e) => return fail(1, e),
        },
    }
    ExitCode::SUCCESS
}

fn serve_reference(args: Vec<String>) -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    let args = <server::cli::Args as Parser>::parse_from(
        std::iter::once("quic-echo-server".to_string()).chain(args),
    );
    match server::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, e),
    }
}

fn serve_quinn(args: Vec<String>) -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    let args = <quinn_echo::Args as Parser>::parse_from(
        std::iter::once("quinn-echo".to_string()).chain(args),
    );
    match quinn_echo::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, e),
    }
}

/// Ctrl-C or SIGTERM: kill every server we started, then exit.
fn install_signal_cleanup() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                sut::kill_all();
                eprintln!("harness: interrupted; servers stopped");
                std::process::exit(128 + sig);
            }
        });
    }
}

fn run_bench(args: bench::BenchArgs) -> ExitCode {
    let json = args.json.clone();
    let html = args.html.clone();
    let certs = args.certs.clone().unwrap_or_else(default_certs);
    if cfg!(debug_assertions) {
        eprintln!("bench: this is a debug build; for real figures use `cargo run --release -p harness -- bench`");
    }
    let report = match bench::run(args, certs) {
        Ok(r) => r,
        Err((code, msg)) => {
            bench::cleanup();
            return fail(code, msg);
        }
    };
    let mut stdout = std::io::stdout();
    match json.as_deref() {
        Some(p) if p == std::path::Path::new("-") => print!("{}", report.to_json()),
        Some(p) => {
            let _ = report.human(&mut stdout);
            if let Err(e) = std::fs::write(p, report.to_json()) {
                return fail(2, format!("{}: {e}", p.display()));
            }
        }
        None => {
            let _ = report.human(&mut stdout);
        }
    }
    if let Some(p) = &html {
        if let Err(e) = std::fs::write(p, harness::html::bench::render(&report)) {
            return fail(2, format!("{}: {e}", p.display()));
        }
    }
    let errors: u64 = report.rows.iter().map(|r| r.errors).sum();
    if errors > 0 {
        eprintln!("bench: {errors} connection(s) failed; see the table");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn default_certs() -> PathBuf {
    let local = PathBuf::from("certs");
    if local.join("chain.pem").exists() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../certs")
}

/// The servers under test: `--server` values (the reference server when
/// there are none and no `--connect`), then `--connect` targets.
fn server_specs(servers: &[String], connects: &[String]) -> Result<Vec<sut::ServerSpec>, String> {
    let mut specs: Vec<sut::ServerSpec> = servers
        .iter()
        .map(|s| sut::ServerSpec::parse(s))
        .collect::<Result<_, _>>()?;
    for c in connects {
        specs.push(sut::ServerSpec::connect(c)?);
    }
    if specs.is_empty() {
        specs.push(sut::ServerSpec::reference());
    }
    let mut names = std::collections::HashSet::new();
    for s in &specs {
        if !names.insert(s.name.clone()) {
            return Err(format!(
                "two servers are named {:?}; use --server NAME=TEMPLATE (or NAME={}) \
                 or --connect NAME=HOST:PORT",
                s.name,
                sut::known::names()
            ));
        }
    }
    Ok(specs)
}

/// The --server values and --expect files, with every known server and
/// its expect file added for --all-servers.
fn with_all_servers(cli: &Cli) -> (Vec<String>, Vec<PathBuf>) {
    let (mut servers, mut expects) = (cli.servers.clone(), cli.expect.clone());
    if cli.all_servers {
        for k in sut::known::KNOWN {
            servers.push(k.name.to_string());
            expects.extend(k.expect.map(|e| sut::known::root().join(e)));
        }
    }
    (servers, expects)
}

/// The files for started servers: `--chain`, `--key` and `--ca` each, else
/// from `--certs`. Only what will be used must exist: nothing of the
/// folder for `--connect` alone, no CA with `--insecure`.
fn certs_for(cli: &Cli, specs: &[sut::ServerSpec]) -> Result<sut::Certs, String> {
    let dir = sut::Certs::in_dir(&cli.certs.clone().unwrap_or_else(default_certs));
    let certs = sut::Certs {
        chain: cli.chain.clone().unwrap_or(dir.chain),
        key: cli.key.clone().unwrap_or(dir.key),
        ca: cli.ca.clone().unwrap_or(dir.ca),
    };
    let starts = specs.iter().any(|s| s.remote().is_none());
    let mut needed = Vec::new();
    if starts {
        needed.push((&certs.chain, "--chain FILE"));
        needed.push((&certs.key, "--key FILE"));
    }
    if cli.ca.is_some() || (starts && !cli.insecure) {
        needed.push((&certs.ca, "--ca FILE"));
    }
    for (f, flag) in needed {
        if !f.is_file() {
            return Err(format!(
                "{}: not found (set --certs DIR or {flag})",
                f.display()
            ));
        }
    }
    Ok(certs)
}

/// What the report should say about the whole run.
fn run_notes(specs: &[sut::ServerSpec], cfg: &case::RunConfig) -> Vec<String> {
    let mut notes = Vec::new();
    if cfg.verify.insecure {
        notes.push("certificates were not checked (--insecure)".to_string());
    }
    for s in specs {
        if let Some(r) = s.remote() {
            let trust = cfg.verify.trust(s, &cfg.certs);
            let checked = if trust.verifies() {
                format!(
                    "its certificate is checked for {:?}, {trust}",
                    cfg.verify.server_name(s)
                )
            } else {
                "its certificate is not checked".into()
            };
            notes.push(format!(
                "{}: a server the harness did not start, at {}; {checked}",
                s.name,
                r.label_resolved(),
            ));
        }
    }
    notes
}

fn run(cli: Cli) -> ExitCode {
    let paths = if cli.paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        cli.paths.clone()
    };
    let mut loaded = match scenario::load(&paths) {
        Ok(l) => l,
        Err(e) => return fail(2, e),
    };
    if !cli.filter.is_empty() {
        let mut set = globset::GlobSetBuilder::new();
        for f in &cli.filter {
            match globset::Glob::new(f) {
                Ok(g) => {
                    set.add(g);
                }
                Err(e) => return fail(2, format!("--filter {f:?}: {e}")),
            }
        }
        let set = match set.build() {
            Ok(s) => s,
            Err(e) => return fail(2, format!("--filter: {e}")),
        };
        loaded.retain(|l| set.is_match(&l.scenario.id));
    }
    if let Some(level) = cli.level {
        let want = match level {
            LevelArg::Must => scenario::Level::Must,
            LevelArg::Should => scenario::Level::Should,
        };
        loaded.retain(|l| l.scenario.level == want);
    }
    if loaded.is_empty() {
        return fail(
            2,
            "no scenarios matched (check the paths, --filter and --level)",
        );
    }
    if cli.list {
        let mut out = std::io::stdout().lock();
        for l in &loaded {
            let drivers: Vec<String> = l.scenario.drivers.iter().map(|d| d.to_string()).collect();
            let _ = writeln!(
                out,
                "{}  {:?}  [{}]  {}  ({})",
                l.scenario.id,
                l.scenario.level,
                drivers.join(","),
                l.scenario.description,
                l.path.display()
            );
        }
        return ExitCode::SUCCESS;
    }
    let (servers, expects) = with_all_servers(&cli);
    let known = match expect::ExpectFile::load_all(&expects) {
        Ok(k) => k,
        Err(e) => return fail(2, e),
    };
    let specs = match server_specs(&servers, &cli.connects) {
        Ok(s) => s,
        Err(e) => return fail(2, e),
    };
    let verify = sut::Verify {
        sni: cli.sni.clone(),
        ca: cli.ca.clone(),
        insecure: cli.insecure,
    };
    let certs = match certs_for(&cli, &specs) {
        Ok(c) => c,
        Err(e) => return fail(2, e),
    };
    let seed = cli.seed.unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.map_or(1, |d| d.as_nanos() as u64 ^ u64::from(std::process::id()))
    });
    if loaded
        .iter()
        .any(|l| l.scenario.network.is_some() || l.scenario.attack.is_some())
    {
        eprintln!(
            "harness: seed {seed} for network and attack scenarios (replay with --seed {seed})"
        );
    }
    let artifacts = match &cli.artifacts {
        Some(dir) => match std::fs::create_dir_all(dir).and_then(|()| dir.canonicalize()) {
            Ok(dir) => Some(harness::evidence::Artifacts {
                dir,
                all: cli.artifacts_all,
            }),
            Err(e) => return fail(2, format!("--artifacts {}: {e}", dir.display())),
        },
        None => None,
    };
    let cfg = case::RunConfig {
        artifacts,
        timeout: cli.timeout,
        ready_timeout: cli.ready_timeout,
        certs,
        verify,
        allow_load: cli.allow_load,
        seed,
        run: None,
        repeat: cli.repeat,
    };
    let required: Vec<DriverKind> = cli.require_driver.iter().map(|&d| d.into()).collect();
    let selected: Vec<DriverKind> = cli.driver.iter().map(|&d| d.into()).collect();

    let native = driver::native::Native;
    let quinn = driver::quinn::Quinn;
    let wants_openssl = loaded
        .iter()
        .any(|l| l.scenario.drivers.contains(&DriverKind::Openssl))
        && (selected.is_empty() || selected.contains(&DriverKind::Openssl));
    let openssl = if wants_openssl {
        driver::openssl::find(cli.openssl.as_deref())
    } else {
        Err("not needed".into())
    };
    match &openssl {
        Ok(o) => log::info!("openssl driver: {}", o.binary.display()),
        Err(why) if wants_openssl => eprintln!("harness: openssl scenarios will be skipped: {why}"),
        Err(_) => {}
    }
    let pick = |k: DriverKind| -> case::DriverChoice<'_> {
        match (k, &openssl) {
            (DriverKind::Native, _) => Ok(&native as &dyn Driver),
            (DriverKind::Quinn, _) => Ok(&quinn as &dyn Driver),
            (DriverKind::Openssl, Ok(o)) => Ok(o as &dyn Driver),
            (DriverKind::Openssl, Err(why)) => Err(why.clone()),
        }
    };

    let human = report::Human {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        verbose: cli.verbose,
        show_server: specs.len() > 1,
    };
    let scenarios: Vec<&scenario::Scenario> = loaded.iter().map(|l| &l.scenario).collect();
    let schedule = Schedule {
        servers: &specs,
        scenarios: &scenarios,
        drivers: &selected,
        jobs: cli.jobs.map_or_else(schedule::default_jobs, usize::from),
        repeat: cli.repeat,
        partition: cli.partition,
    };
    let started = std::time::Instant::now();
    let mut entries = Vec::new();
    let mut stdout = std::io::stdout();
    let progress = harness::progress::Progress::new(
        cli.out.format == Format::Human
            && std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none(),
        schedule.cases().len(),
    );
    let ran = schedule.run(&cfg, pick, &progress, |result| {
        let e = report::entry(result, &known, &required);
        // With --repeat, a passing run is told only in its case's line.
        let shown = cli.repeat == 1 || cli.verbose || e.result.status != case::Status::Pass;
        let last_run = cli.repeat > 1 && e.result.run == Some(cli.repeat);
        entries.push(e);
        if cli.out.format == Format::Human {
            progress.around(|| {
                let runs = &entries[entries.len().saturating_sub(cli.repeat as usize)..];
                if shown {
                    let _ = human.case(&mut stdout, runs.last().expect("just pushed"));
                }
                if last_run {
                    let _ = human.repeated(&mut stdout, &report::Repeated::of(runs));
                }
                let _ = stdout.flush();
            });
        }
    });
    progress.finish();
    if let Err(e) = ran {
        let not = match specs.iter().find(|s| s.name == e.server) {
            Some(s) if s.remote().is_some() => "is not ready",
            _ => "could not start",
        };
        return fail(3, format!("server {:?} {not}: {}", e.server, e.why));
    }
    let mut report = report::Report::new(specs.iter().map(|s| s.name.clone()).collect(), entries);
    report.notes = run_notes(&specs, &cfg);
    report.wall_ms = started.elapsed().as_millis() as u64;
    report.jobs = schedule.jobs;
    report.partition = cli.partition;
    if cli.out.format == Format::Human {
        let _ = human.footer(&mut stdout, &report, !expects.is_empty());
    }
    finish(&report, &cli.out)
}

/// Writes the report where `out` says; the exit status of the run.
fn finish(report: &report::Report, out: &Outputs) -> ExitCode {
    if out.format == Format::Json {
        print!("{}", report.to_json());
    }
    if let Some(p) = &out.json {
        if let Err(e) = std::fs::write(p, report.to_json()) {
            return fail(2, format!("{}: {e}", p.display()));
        }
    }
    if let Some(p) = &out.junit {
        if let Err(e) = std::fs::write(p, report.to_junit()) {
            return fail(2, format!("{}: {e}", p.display()));
        }
    }
    if let Some(p) = &out.html {
        if let Err(e) = std::fs::write(p, harness::html::conformance::render(report, p)) {
            return fail(2, format!("{}: {e}", p.display()));
        }
    }
    if let Some(p) = &out.markdown {
        let page = report::markdown::render(report, "# Conformance results\n");
        if let Err(e) = std::fs::write(p, page) {
            return fail(2, format!("{}: {e}", p.display()));
        }
    }
    if report.summary.unexpected > 0 {
        ExitCode::from(1)
    } else if report.summary.all.errors > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}
