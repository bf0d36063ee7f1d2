//! What server to test and how to start it: `--server` values, the servers
//! known by name (the reference server and the peers), and the files a
//! server and its clients are handed.

use std::path::{Path, PathBuf};

/// How to start a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// A server built into the harness binary, started as
    /// `harness SUBCOMMAND --listen ... --cert ... --key ...`; it prints
    /// `listening on ADDR` once bound.
    Builtin(Builtin),
    /// A command template with `{host}` `{port}` `{chain}` `{key}` `{ca}`,
    /// and `{args}` where a scenario's `server_args` go.
    Template(String),
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
}

/// The names `--server` knows, for help and errors.
pub const KNOWN_NAMES: &str = "reference, quinn, openssl";

impl ServerSpec {
    /// Parses `--server` values: a known name (`reference`, `quinn`,
    /// `openssl`), `NAME=TEMPLATE`, `NAME=KNOWN` or a bare `TEMPLATE`. A
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
                            "--server {value:?}: the {word} peer takes no flags"
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
            },
        };
        Ok(spec)
    }

    /// Whether this server can be started with a scenario's `server_args`:
    /// a built-in server always; a template only if it has `{args}`.
    pub fn takes_args(&self) -> bool {
        match &self.launch {
            Launch::Builtin(_) => true,
            Launch::Template(t) => t.contains("{args}"),
        }
    }

    pub fn reference() -> ServerSpec {
        builtin("reference", Builtin::Reference)
    }
}

fn builtin(name: &str, b: Builtin) -> ServerSpec {
    ServerSpec {
        name: name.into(),
        launch: Launch::Builtin(b),
        builtin_args: Vec::new(),
    }
}

fn is_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// A server known by name, or `None` when `word` is not one of the names.
fn known(word: &str) -> Result<Option<ServerSpec>, String> {
    Ok(match word {
        "reference" => Some(ServerSpec::reference()),
        "quinn" => Some(builtin("quinn", Builtin::Quinn)),
        "openssl" => {
            let bin = openssl_peer()?;
            Some(ServerSpec {
                name: "openssl".into(),
                launch: Launch::Template(format!(
                    "{} {{port}} {{chain}} {{key}}",
                    shlex::try_quote(&bin.to_string_lossy()).map_err(|e| e.to_string())?
                )),
                builtin_args: Vec::new(),
            })
        }
        _ => None,
    })
}

/// Where `ci/build-peers.sh` puts the OpenSSL peer, unless
/// `HARNESS_OPENSSL_ECHO` names another build.
pub fn openssl_peer_candidates() -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = std::env::var_os("HARNESS_OPENSSL_ECHO") {
        c.push(PathBuf::from(p));
    }
    c.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/peers/openssl-echo"));
    c
}

fn openssl_peer() -> Result<PathBuf, String> {
    let c = openssl_peer_candidates();
    c.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        format!(
            "--server openssl: the OpenSSL peer is not built (looked for {}); \
             build it with `bash ci/build-peers.sh` (or `bash ci/setup.sh`), \
             or set HARNESS_OPENSSL_ECHO",
            c[0].display()
        )
    })
}

/// `args` as one shell-quoted string, for a template's `{args}`.
pub(crate) fn quoted(args: &[String]) -> Result<String, String> {
    shlex::try_join(args.iter().map(String::as_str))
        .map_err(|e| format!("server_args cannot be quoted for a template: {e}"))
}

/// Files handed to servers and clients.
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
    fn the_openssl_peer_is_looked_for_in_the_environment_then_the_build() {
        std::env::set_var("HARNESS_OPENSSL_ECHO", "/no/such/openssl-echo");
        let c = openssl_peer_candidates();
        std::env::remove_var("HARNESS_OPENSSL_ECHO");
        assert_eq!(c[0], Path::new("/no/such/openssl-echo"));
        assert!(c[1].ends_with("target/peers/openssl-echo"));
    }
}
