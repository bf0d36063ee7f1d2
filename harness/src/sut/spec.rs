//! What server to test and how to start it: `--server` values, the servers
//! known by name (the reference server and the peers), `--connect` targets
//! the harness does not start, and the files a server and its clients are
//! handed.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::known;

/// How to start a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// A server built into the harness binary, started as
    /// `harness SUBCOMMAND --listen ... --cert ... --key ...`; it prints
    /// `listening on ADDR` once bound.
    Builtin(Builtin),
    /// A command template with `{host}` (`127.0.0.1`, or `[::1]` for an
    /// IPv6 scenario), `{ip}` (the same bare: `127.0.0.1` or `::1`, for a
    /// server that takes a host apart from its port), `{port}` `{chain}`
    /// `{key}` `{ca}`, and `{args}` where a scenario's `server_args` go.
    Template(String),
    /// Already running somewhere (`--connect HOST:PORT`): never started,
    /// restarted or stopped by the harness.
    Remote(Remote),
}

/// A server the harness did not start.
#[derive(Debug, Clone)]
pub struct Remote {
    /// As given: a host name or an IP address (without brackets).
    pub host: String,
    pub port: u16,
    /// What `host` resolved to (the first address).
    pub addr: SocketAddr,
    /// Set once it stops answering, for every worker: the harness cannot
    /// restart it, so its remaining cases are skipped with this reason.
    gone: Arc<OnceLock<String>>,
}

impl PartialEq for Remote {
    fn eq(&self, other: &Self) -> bool {
        (&self.host, self.port, self.addr) == (&other.host, other.port, other.addr)
    }
}

impl Eq for Remote {}

impl Remote {
    /// `HOST:PORT` as a person wrote it (IPv6 in brackets).
    pub fn label(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `HOST:PORT`, and the address it resolved to when the host is a name.
    pub fn label_resolved(&self) -> String {
        if self.host.parse::<std::net::IpAddr>().is_ok() {
            self.label()
        } else {
            format!("{} ({})", self.label(), self.addr)
        }
    }

    /// Why its cases are skipped from now on, once it stopped answering.
    pub fn gone(&self) -> Option<&str> {
        self.gone.get().map(String::as_str)
    }

    /// Records that it stopped answering (the first reason is kept).
    pub fn mark_gone(&self, why: String) {
        let _ = self.gone.set(why);
    }
}

/// Servers linked into the harness, each with the reference server's flags
/// for what it supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// The reference server (`harness serve-reference`).
    Reference,
    /// The quinn peer, `peers/quinn-echo` (`harness serve-quinn`).
    Quinn,
}

impl Builtin {
    /// The hidden harness subcommand that runs it.
    pub fn subcommand(self) -> &'static str {
        match self {
            Builtin::Reference => "serve-reference",
            Builtin::Quinn => "serve-quinn",
        }
    }
}

/// A named server to test.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub name: String,
    pub launch: Launch,
    /// Extra flags for a built-in server (ignored for templates).
    pub builtin_args: Vec<String>,
    /// Reference-server flags it cannot take, with why (a known peer's).
    pub lacks: &'static [(&'static str, &'static str)],
}

impl ServerSpec {
    /// Parses `--server` values: a known name (see `known::KNOWN`),
    /// `NAME=TEMPLATE`, `NAME=KNOWN` or a bare `TEMPLATE`. A
    /// built-in name may be followed by its flags (`x=reference --no-retry`).
    pub fn parse(value: &str) -> Result<ServerSpec, String> {
        let (name, rest) = match value.split_once('=') {
            Some((n, rest)) if is_name(n) => (Some(n), rest),
            _ => (None, value),
        };
        let rest = rest.trim();
        let (word, flags) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let spec = match known(word)? {
            Some(mut spec) => {
                if let Some(n) = name {
                    spec.name = n.to_string();
                }
                if !flags.trim().is_empty() {
                    if !matches!(spec.launch, Launch::Builtin(_)) {
                        return Err(format!(
                            "--server {value:?}: the {word} peer takes no flags \
                             (scenarios hand it theirs through its template's {{args}})"
                        ));
                    }
                    spec.builtin_args = shlex::split(flags).ok_or_else(|| {
                        format!("--server {value:?}: unbalanced quotes in its flags")
                    })?;
                }
                spec
            }
            None => ServerSpec {
                name: name.unwrap_or("server").to_string(),
                launch: Launch::Template(rest.to_string()),
                builtin_args: Vec::new(),
                lacks: &[],
            },
        };
        Ok(spec)
    }

    /// Parses a `--connect` value, `[NAME=]HOST:PORT` (IPv6 as `[::1]:PORT`),
    /// and resolves the host. The name defaults to `HOST:PORT`.
    pub fn connect(value: &str) -> Result<ServerSpec, String> {
        let (name, rest) = match value.split_once('=') {
            Some((n, rest)) if is_name(n) => (Some(n), rest),
            _ => (None, value),
        };
        let bad = |why: &str| {
            format!("--connect {value:?}: {why} (expected [NAME=]HOST:PORT, IPv6 as [::1]:PORT)")
        };
        let (host, port) = rest.trim().rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| bad("the port is not a number from 1 to 65535"))?;
        if port == 0 {
            return Err(bad("the port is not a number from 1 to 65535"));
        }
        let host = match host.strip_prefix('[') {
            Some(h) => h
                .strip_suffix(']')
                .ok_or_else(|| bad("unbalanced brackets"))?,
            None if host.contains(':') => return Err(bad("an IPv6 address needs brackets")),
            None => host,
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let addr = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("--connect {value:?}: cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("--connect {value:?}: {host} has no address"))?;
        let remote = Remote {
            host: host.to_string(),
            port,
            addr,
            gone: Arc::default(),
        };
        Ok(ServerSpec {
            name: name.map_or_else(|| remote.label(), str::to_string),
            launch: Launch::Remote(remote),
            builtin_args: Vec::new(),
            lacks: &[],
        })
    }

    /// Whether this server can be told where to listen: a built-in server
    /// always; a template only if it has `{host}` or `{ip}`.
    pub fn takes_host(&self) -> bool {
        match &self.launch {
            Launch::Builtin(_) => true,
            Launch::Template(t) => t.contains("{host}") || t.contains("{ip}"),
            Launch::Remote(_) => false,
        }
    }

    /// Whether this server can be started with a scenario's `server_args`:
    /// a built-in server always; a template only if it has `{args}`; a
    /// server the harness did not start never.
    pub fn takes_args(&self) -> bool {
        match &self.launch {
            Launch::Builtin(_) => true,
            Launch::Template(t) => t.contains("{args}"),
            Launch::Remote(_) => false,
        }
    }

    /// The server the harness did not start, if this is one.
    pub fn remote(&self) -> Option<&Remote> {
        match &self.launch {
            Launch::Remote(r) => Some(r),
            _ => None,
        }
    }

    /// The first of `args` this server cannot take, with why.
    pub fn lacks(&self, args: &[String]) -> Option<(&'static str, &'static str)> {
        self.lacks
            .iter()
            .find(|(flag, _)| args.iter().any(|a| a == flag))
            .copied()
    }

    pub fn reference() -> ServerSpec {
        ServerSpec::of(known::find("reference").expect("the reference server is known"))
            .expect("the reference server is built in")
    }

    /// How to run a known server, or why it cannot be run yet.
    pub fn of(k: &known::Known) -> Result<ServerSpec, String> {
        let launch = match k.run {
            known::Run::Builtin(b) => Launch::Builtin(b),
            known::Run::Program { .. } => match k.not_built() {
                Some(why) => return Err(why),
                None => Launch::Template(k.template()),
            },
        };
        Ok(ServerSpec {
            name: k.name.into(),
            launch,
            builtin_args: Vec::new(),
            lacks: k.lacks,
        })
    }
}

fn is_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// A server known by name, or `None` when `word` is not one of the names.
fn known(word: &str) -> Result<Option<ServerSpec>, String> {
    known::find(word).map(ServerSpec::of).transpose()
}

/// `args` as one shell-quoted string, for a template's `{args}`.
pub(crate) fn quoted(args: &[String]) -> Result<String, String> {
    shlex::try_join(args.iter().map(String::as_str))
        .map_err(|e| format!("server_args cannot be quoted for a template: {e}"))
}

/// Files handed to the servers the harness starts (`{chain}` `{key}`
/// `{ca}`), and the CA their clients check them against.
#[derive(Debug, Clone)]
pub struct Certs {
    pub chain: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl Certs {
    pub fn in_dir(dir: &Path) -> Certs {
        Certs {
            chain: dir.join("chain.pem"),
            key: dir.join("key.pem"),
            ca: dir.join("ca.pem"),
        }
    }
}

/// How clients check each server's certificate: `--sni`, `--ca`,
/// `--insecure`.
#[derive(Debug, Clone, Default)]
pub struct Verify {
    /// The name every server's certificate must be valid for. Default: a
    /// started server's `localhost`, a `--connect` target's host.
    pub sni: Option<String>,
    /// A CA given with `--ca`. Started servers are otherwise checked
    /// against the certificates folder's CA, `--connect` targets against
    /// the system's roots.
    pub ca: Option<PathBuf>,
    /// No check at all (the report says so).
    pub insecure: bool,
}

impl Verify {
    /// The name clients verify `spec`'s certificate for (and send as SNI
    /// unless it is an IP address).
    pub fn server_name(&self, spec: &ServerSpec) -> String {
        match (&self.sni, spec.remote()) {
            (Some(n), _) => n.clone(),
            (None, Some(r)) => r.host.clone(),
            (None, None) => "localhost".into(),
        }
    }

    /// What clients check `spec`'s certificate against.
    pub fn trust(&self, spec: &ServerSpec, certs: &Certs) -> echo_client::Trust {
        use echo_client::Trust;
        match (self.insecure, &self.ca, spec.remote()) {
            (true, _, _) => Trust::Nothing,
            (false, Some(ca), _) => Trust::CaFile(ca.clone()),
            (false, None, Some(_)) => Trust::SystemRoots,
            (false, None, None) => Trust::CaFile(certs.ca.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_templates_and_renamed_builtins() {
        let r = ServerSpec::parse("reference").unwrap();
        assert_eq!(
            (r.name.as_str(), &r.launch),
            ("reference", &Launch::Builtin(Builtin::Reference))
        );
        let q = ServerSpec::parse("q2=quinn").unwrap();
        assert_eq!(
            (q.name.as_str(), &q.launch),
            ("q2", &Launch::Builtin(Builtin::Quinn))
        );
        let t = ServerSpec::parse("demo=./srv {port}").unwrap();
        assert_eq!(t.launch, Launch::Template("./srv {port}".into()));
        assert_eq!(t.name, "demo");
        // An `=` inside a bare template is not a name.
        let b = ServerSpec::parse("./srv --opt=1 {port}").unwrap();
        assert_eq!(b.name, "server");
        assert!(ServerSpec::parse("quinn").unwrap().takes_args());
        let f = ServerSpec::parse("nr=reference --no-retry --groups X25519").unwrap();
        assert_eq!(f.launch, Launch::Builtin(Builtin::Reference));
        assert_eq!(f.builtin_args, ["--no-retry", "--groups", "X25519"]);
        assert_eq!(f.name, "nr");
        assert!(!b.takes_args());
    }

    #[test]
    fn connect_targets_with_and_without_names() {
        let plain = ServerSpec::connect("127.0.0.1:4433").unwrap();
        assert_eq!(plain.name, "127.0.0.1:4433");
        let r = plain.remote().unwrap();
        assert_eq!(
            (r.host.as_str(), r.addr),
            ("127.0.0.1", "127.0.0.1:4433".parse().unwrap())
        );
        assert!(!plain.takes_args());
        let v6 = ServerSpec::connect("prod=[::1]:443").unwrap();
        assert_eq!(v6.name, "prod");
        assert_eq!(v6.remote().unwrap().addr, "[::1]:443".parse().unwrap());
        assert_eq!(v6.remote().unwrap().label(), "[::1]:443");
        let named = ServerSpec::connect("localhost:4433").unwrap();
        assert_eq!(named.remote().unwrap().host, "localhost");
        assert!(named.remote().unwrap().addr.ip().is_loopback());
        for bad in ["127.0.0.1", "::1:443", "[::1:443", "h:0", "h:x", ":443"] {
            let e = ServerSpec::connect(bad).unwrap_err();
            assert!(e.contains("expected [NAME=]HOST:PORT"), "{bad}: {e}");
        }
        let e = ServerSpec::connect("no-such-host.invalid:443").unwrap_err();
        assert!(e.contains("cannot resolve no-such-host.invalid"), "{e}");
    }

    #[test]
    fn what_clients_verify_per_server() {
        use echo_client::Trust;
        let certs = Certs::in_dir(Path::new("/c"));
        let started = ServerSpec::reference();
        let remote = ServerSpec::connect("127.0.0.1:4433").unwrap();
        let v = Verify::default();
        assert_eq!(v.server_name(&started), "localhost");
        assert_eq!(v.server_name(&remote), "127.0.0.1");
        assert_eq!(v.trust(&started, &certs), Trust::CaFile("/c/ca.pem".into()));
        assert_eq!(v.trust(&remote, &certs), Trust::SystemRoots);
        let v = Verify {
            sni: Some("echo.test".into()),
            ca: Some("/x.pem".into()),
            insecure: false,
        };
        assert_eq!(v.server_name(&remote), "echo.test");
        assert_eq!(v.trust(&remote, &certs), Trust::CaFile("/x.pem".into()));
        let v = Verify {
            insecure: true,
            ..v
        };
        assert_eq!(v.trust(&started, &certs), Trust::Nothing);
    }
}
