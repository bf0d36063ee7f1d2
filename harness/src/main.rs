//! `harness`: runs JSON scenarios against QUIC echo servers (the command
//! line; the parts are in the library).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use harness::cli::{Cli, Command, Format, LevelArg, Outputs};
use harness::driver::{self, Driver};
use harness::scenario::{self, DriverKind};
use harness::schedule::{self, Schedule};
use harness::{bench, case, expect, html, report, sut};

/// mimalloc for the harness, the system allocator for the built-in
/// servers it starts (see `harness::alloc`).
#[global_allocator]
static ALLOC: harness::alloc::Chosen = harness::alloc::Chosen::new();

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
        Some(Command::Explain { dir, client, html }) => {
            return explain(&dir, &client, html.as_deref())
        }
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

fn explain(dir: &Path, clients: &[usize], html: Option<&Path>) -> ExitCode {
    let mut t = match quic_timeline::load(dir).and_then(|e| quic_timeline::Timeline::build(&e)) {
        Ok(t) => t,
        Err(e) => return fail(2, e),
    };
    if !clients.is_empty() {
        t.datagrams.retain(|d| clients.contains(&d.client));
    }
    print!("{}", quic_timeline::text::render(&t));
    let summary = quic_timeline::story::summary(&t);
    if let Some(s) = &summary {
        println!("\nin short: {s}");
    }
    if let Some(path) = html {
        let body = format!(
            "<p>{}</p><div class=\"timeline-scroll\">{}</div>",
            html::esc(summary.as_deref().unwrap_or("no datagrams")),
            quic_timeline::svg::render(&t)
        );
        // The case's own part of the path: SERVER/SCENARIO/DRIVER.
        let parts: Vec<_> = dir.iter().map(|p| p.to_string_lossy()).collect();
        let title = format!(
            "Timeline of {}",
            parts[parts.len().saturating_sub(3)..].join("/")
        );
        if let Err(e) = std::fs::write(path, html::page(&title, &body)) {
            return fail(2, format!("cannot write {}: {e}", path.display()));
        }
    }
    ExitCode::SUCCESS
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
        Err(e) => {
            bench::cleanup();
            return fail(e.exit_code(), e);
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

/// The scenarios the paths, `--filter` and `--level` select.
fn select(cli: &Cli) -> Result<Vec<scenario::Loaded>, String> {
    let paths = if cli.paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        cli.paths.clone()
    };
    let mut loaded = scenario::load(&paths).map_err(|e| e.to_string())?;
    if !cli.filter.is_empty() {
        let mut set = globset::GlobSetBuilder::new();
        for f in &cli.filter {
            set.add(globset::Glob::new(f).map_err(|e| format!("--filter {f:?}: {e}"))?);
        }
        let set = set.build().map_err(|e| format!("--filter: {e}"))?;
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
        return Err("no scenarios matched (check the paths, --filter and --level)".into());
    }
    Ok(loaded)
}

/// `--list`: one line per selected scenario.
fn list(loaded: &[scenario::Loaded]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    for l in loaded {
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
    ExitCode::SUCCESS
}

/// What every case of the run is given: certificates, trust, timeouts,
/// the seed (told on stderr when a scenario uses it), the evidence folder.
fn run_config(
    cli: &Cli,
    specs: &[sut::ServerSpec],
    loaded: &[scenario::Loaded],
) -> Result<case::RunConfig, String> {
    let verify = sut::Verify {
        sni: cli.sni.clone(),
        ca: cli.ca.clone(),
        insecure: cli.insecure,
    };
    let certs = certs_for(cli, specs)?;
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
        Some(dir) => {
            let dir = std::fs::create_dir_all(dir)
                .and_then(|()| dir.canonicalize())
                .map_err(|e| format!("--artifacts {}: {e}", dir.display()))?;
            Some(harness::evidence::Artifacts {
                dir,
                all: cli.artifacts_all,
            })
        }
        None => None,
    };
    Ok(case::RunConfig {
        artifacts,
        timeout: cli.timeout,
        ready_timeout: cli.ready_timeout,
        certs,
        verify,
        allow_load: cli.allow_load,
        seed,
        run: None,
        repeat: cli.repeat,
    })
}

/// The openssl driver, when a selected scenario uses it; why not otherwise
/// (its scenarios are then skipped with the reason).
fn openssl_driver(
    cli: &Cli,
    loaded: &[scenario::Loaded],
    selected: &[DriverKind],
) -> Result<driver::openssl::Openssl, String> {
    let wanted = loaded
        .iter()
        .any(|l| l.scenario.drivers.contains(&DriverKind::Openssl))
        && (selected.is_empty() || selected.contains(&DriverKind::Openssl));
    if !wanted {
        return Err("not needed".into());
    }
    let found = driver::openssl::find(cli.openssl.as_deref());
    match &found {
        Ok(o) => log::info!("openssl driver: {}", o.binary.display()),
        Err(why) => eprintln!("harness: openssl scenarios will be skipped: {why}"),
    }
    found
}

fn run(cli: Cli) -> ExitCode {
    let loaded = match select(&cli) {
        Ok(l) => l,
        Err(e) => return fail(2, e),
    };
    if cli.list {
        return list(&loaded);
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
    let cfg = match run_config(&cli, &specs, &loaded) {
        Ok(c) => c,
        Err(e) => return fail(2, e),
    };
    let selected: Vec<DriverKind> = cli.driver.iter().map(|&d| d.into()).collect();
    let openssl = openssl_driver(&cli, &loaded, &selected);
    let (native, quinn) = (driver::native::Native, driver::quinn::Quinn);
    let pick = |k: DriverKind| -> case::DriverChoice<'_> {
        match (k, &openssl) {
            (DriverKind::Native, _) => Ok(&native as &dyn Driver),
            (DriverKind::Quinn, _) => Ok(&quinn as &dyn Driver),
            (DriverKind::Openssl, Ok(o)) => Ok(o as &dyn Driver),
            (DriverKind::Openssl, Err(why)) => Err(why.clone()),
        }
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
    let entries = match run_cases(&cli, &schedule, &cfg, pick, &known, specs.len() > 1) {
        Ok(e) => e,
        Err(e) => {
            let not = match specs.iter().find(|s| s.name == e.server) {
                Some(s) if s.remote().is_some() => "is not ready",
                _ => "could not start",
            };
            return fail(3, format!("server {:?} {not}: {}", e.server, e.why));
        }
    };
    let mut report = report::Report::new(specs.iter().map(|s| s.name.clone()).collect(), entries);
    report.notes = run_notes(&specs, &cfg);
    report.wall_ms = started.elapsed().as_millis() as u64;
    report.jobs = schedule.jobs;
    report.partition = cli.partition;
    if cli.out.format == Format::Human {
        let _ = human(&cli, specs.len() > 1).footer(
            &mut std::io::stdout(),
            &report,
            !expects.is_empty(),
        );
    }
    finish(&report, &cli.out)
}

/// The human report's settings.
fn human(cli: &Cli, show_server: bool) -> report::Human {
    report::Human {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        verbose: cli.verbose,
        show_server,
    }
}

/// Runs the schedule's cases, each judged against the expect files as it
/// ends and, for the human format, told at once (a repeated case once, after
/// its last run).
fn run_cases<'d>(
    cli: &Cli,
    schedule: &Schedule<'_>,
    cfg: &case::RunConfig,
    pick: impl Fn(DriverKind) -> case::DriverChoice<'d> + Sync,
    known: &expect::ExpectFile,
    show_server: bool,
) -> Result<Vec<report::Entry>, schedule::StartError> {
    let human = human(cli, show_server);
    let required: Vec<DriverKind> = cli.require_driver.iter().map(|&d| d.into()).collect();
    let mut entries = Vec::new();
    let mut stdout = std::io::stdout();
    let progress = harness::progress::Progress::new(
        cli.out.format == Format::Human
            && std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none(),
        schedule.cases().len(),
    );
    let ran = schedule.run(cfg, pick, &progress, |result| {
        let e = report::entry(result, known, &required);
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
    ran.map(|()| entries)
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
