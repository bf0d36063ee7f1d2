//! The servers known by name: the reference server and the peers on other
//! QUIC stacks, each with its stack and version, where its source and
//! expect file are, how it is run, and which of the reference server's
//! flags its library has no knob for. `harness servers` lists them; `--server
//! NAME` runs one.

use std::path::{Path, PathBuf};

use super::spec::Builtin;

/// How a known server is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// Linked into the harness binary (`harness SUBCOMMAND`).
    Builtin(Builtin),
    /// A program that `ci/build-peers.sh NAME` builds into the peers
    /// folder, run with `args` after it (a template: `{port}` etc.).
    Program {
        file: &'static str,
        args: &'static str,
    },
}

/// A server known by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// Its `--server` name.
    pub name: &'static str,
    /// The QUIC library it is written on.
    pub stack: &'static str,
    /// That library's version, as the peer's lock file or package pins it
    /// (checked by a test).
    pub version: &'static str,
    /// Its source folder, from the repository's root.
    pub source: &'static str,
    /// The expect file listing what it is known to fail (none for the
    /// reference server: it must pass everything).
    pub expect: Option<&'static str>,
    pub run: Run,
    /// Reference-server flags this peer cannot take, with why: scenarios
    /// that start the server with one are skipped with that reason.
    pub lacks: &'static [(&'static str, &'static str)],
}

/// The common command line of the peers written for this project: the
/// reference server's flags.
const REFERENCE_FLAGS: &str = "--listen {host}:{port} --cert {chain} --key {key} {args}";

/// Every server known by name, the reference first.
pub const KNOWN: &[Known] = &[
    Known {
        name: "reference",
        stack: "quiche",
        version: "0.30.0",
        source: "server",
        expect: None,
        run: Run::Builtin(Builtin::Reference),
        lacks: &[],
    },
    Known {
        name: "quinn",
        stack: "quinn",
        version: "0.11.12",
        source: "peers/quinn-echo",
        expect: Some("peers/quinn-echo/expect.json"),
        run: Run::Builtin(Builtin::Quinn),
        lacks: &[],
    },
    Known {
        name: "openssl",
        stack: "OpenSSL",
        version: "4.0.3",
        source: "peers/openssl-echo",
        expect: Some("peers/openssl-echo/expect.json"),
        run: Run::Program {
            file: "openssl-echo",
            args: "{port} {chain} {key}",
        },
        lacks: &[],
    },
    Known {
        name: "quic-go",
        stack: "quic-go",
        version: "0.29.0",
        source: "peers/quic-go-echo",
        expect: Some("peers/quic-go-echo/expect.json"),
        run: Run::Program {
            file: "quic-go-echo",
            args: REFERENCE_FLAGS,
        },
        lacks: &[],
    },
    Known {
        name: "s2n-quic",
        stack: "s2n-quic",
        version: "1.91.0",
        source: "peers/s2n-quic-echo",
        expect: Some("peers/s2n-quic-echo/expect.json"),
        run: Run::Program {
            file: "s2n-quic-echo",
            args: REFERENCE_FLAGS,
        },
        lacks: &[(
            "--token-lifetime",
            "s2n-quic has no knob for a Retry token's lifetime (its token keys rotate every second)",
        )],
    },
    Known {
        name: "tquic",
        stack: "tquic",
        version: "1.6.0",
        source: "peers/tquic-echo",
        expect: Some("peers/tquic-echo/expect.json"),
        run: Run::Program {
            file: "tquic-echo",
            args: REFERENCE_FLAGS,
        },
        lacks: &[],
    },
    Known {
        name: "msquic",
        stack: "msquic",
        version: "2.5.1-beta",
        source: "peers/msquic-echo",
        expect: Some("peers/msquic-echo/expect.json"),
        run: Run::Program {
            file: "msquic-echo",
            args: REFERENCE_FLAGS,
        },
        lacks: &[(
            "--token-lifetime",
            "msquic has no knob for a Retry token's lifetime",
        )],
    },
    Known {
        name: "aioquic",
        stack: "aioquic",
        version: "1.7.2",
        source: "peers/aioquic-echo",
        expect: Some("peers/aioquic-echo/expect.json"),
        run: Run::Program {
            file: "aioquic-echo",
            args: REFERENCE_FLAGS,
        },
        lacks: &[(
            "--token-lifetime",
            "aioquic has no knob for a Retry token's lifetime (a module constant: 30 s)",
        )],
    },
];

/// The known server named `name`.
pub fn find(name: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.name == name)
}

/// The names `--server` knows, for help and errors.
pub fn names() -> String {
    KNOWN.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}

/// The repository's root (where `ci/` and `peers/` are).
pub fn root() -> PathBuf {
    let harness = Path::new(env!("CARGO_MANIFEST_DIR"));
    harness.parent().unwrap_or(harness).to_path_buf()
}

/// Where `ci/build-peers.sh` puts the peers it builds, unless
/// `HARNESS_PEERS_DIR` names another folder.
pub fn peers_dir() -> PathBuf {
    peers_dir_from(std::env::var_os("HARNESS_PEERS_DIR"))
}

/// The peers' folder given `HARNESS_PEERS_DIR`'s value (tests pass one
/// rather than change the process's environment under other threads).
fn peers_dir_from(env: Option<std::ffi::OsString>) -> PathBuf {
    env.map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/peers"))
}

impl Known {
    /// The built program, for a peer that is one.
    pub fn program(&self) -> Option<PathBuf> {
        self.program_in(&peers_dir())
    }

    fn program_in(&self, dir: &Path) -> Option<PathBuf> {
        match self.run {
            Run::Program { file, .. } => Some(dir.join(file)),
            Run::Builtin(_) => None,
        }
    }

    /// Whether it can be run now: a built-in one always, a program once
    /// built.
    pub fn built(&self) -> bool {
        self.program().is_none_or(|p| p.is_file())
    }

    /// The command line the harness runs, as a template (`{port}` etc.).
    pub fn template(&self) -> String {
        self.template_in(&peers_dir())
    }

    fn template_in(&self, dir: &Path) -> String {
        match self.run {
            Run::Builtin(b) => {
                let exe = std::env::current_exe().unwrap_or_else(|_| "harness".into());
                format!("{} {} {REFERENCE_FLAGS}", quote(&exe), b.subcommand())
            }
            Run::Program { args, .. } => {
                format!(
                    "{} {args}",
                    quote(&self.program_in(dir).unwrap_or_default())
                )
            }
        }
    }

    /// Why it cannot be run yet: not built, and the one command that
    /// builds it.
    pub fn not_built(&self) -> Option<String> {
        self.not_built_in(&peers_dir())
    }

    fn not_built_in(&self, dir: &Path) -> Option<String> {
        let program = self.program_in(dir)?;
        if program.is_file() {
            return None;
        }
        Some(format!(
            "--server {}: the {} peer is not built (looked for {}); build it with \
             `bash ci/build-peers.sh {}`, or set HARNESS_PEERS_DIR to where it is",
            self.name,
            self.stack,
            program.display(),
            self.name
        ))
    }
}

/// A path as one shell word.
fn quote(p: &Path) -> String {
    let s = p.to_string_lossy();
    shlex::try_quote(&s).map_or_else(|_| s.to_string(), |q| q.into_owned())
}

/// One line of `harness servers`, and its JSON object.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listing {
    pub name: &'static str,
    pub stack: &'static str,
    pub version: &'static str,
    pub built: bool,
    pub source: &'static str,
    pub expect: Option<&'static str>,
    pub template: String,
    /// How to build it when it is not built (none for a built-in one).
    pub build: Option<String>,
    /// Flags it cannot take: `[flag, why]`.
    pub lacks: Vec<[&'static str; 2]>,
}

/// Every known server as `harness servers` shows it.
pub fn listing() -> Vec<Listing> {
    KNOWN
        .iter()
        .map(|k| Listing {
            name: k.name,
            stack: k.stack,
            version: k.version,
            built: k.built(),
            source: k.source,
            expect: k.expect,
            template: k.template(),
            build: k
                .program()
                .map(|_| format!("bash ci/build-peers.sh {}", k.name)),
            lacks: k.lacks.iter().map(|&(f, w)| [f, w]).collect(),
        })
        .collect()
}

/// The listing as a table for people.
pub fn table(rows: &[Listing]) -> String {
    let mut out = String::new();
    for r in rows {
        let built = if r.built { "built" } else { "not built" };
        out.push_str(&format!(
            "{:<10} {} {} ({built}; source {}, expect {})\n    {}\n",
            r.name,
            r.stack,
            r.version,
            r.source,
            r.expect.unwrap_or("none: must pass everything"),
            r.template
        ));
        if let (false, Some(b)) = (r.built, &r.build) {
            out.push_str(&format!("    build: {b}\n"));
        }
        for [flag, why] in &r.lacks {
            out.push_str(&format!("    no {flag}: {why}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The version a lock file pins for `krate`.
    fn locked(lock: &str, krate: &str) -> Option<String> {
        let text = std::fs::read_to_string(root().join(lock)).ok()?;
        let mut lines = text.lines();
        while let Some(l) = lines.next() {
            if l == format!("name = \"{krate}\"") {
                let v = lines.next()?;
                return Some(v.trim_start_matches("version = ").trim_matches('"').into());
            }
        }
        None
    }

    #[test]
    fn versions_are_the_ones_the_builds_pin() {
        let pins = [
            ("reference", "Cargo.lock", "quiche"),
            ("quinn", "Cargo.lock", "quinn"),
            ("s2n-quic", "peers/s2n-quic-echo/Cargo.lock", "s2n-quic"),
            ("tquic", "peers/tquic-echo/Cargo.lock", "tquic"),
            ("msquic", "peers/msquic-echo/Cargo.lock", "msquic"),
        ];
        for (name, lock, krate) in pins {
            let k = find(name).unwrap();
            assert_eq!(locked(lock, krate).as_deref(), Some(k.version), "{name}");
        }
        let ossl = locked("Cargo.lock", "openssl-src").unwrap();
        let k = find("openssl").unwrap();
        assert!(
            ossl.ends_with(&format!("+{}", k.version)),
            "openssl-src {ossl}"
        );
        let pins = std::fs::read_to_string(root().join("peers/aioquic-echo/requirements.txt"));
        let aq = find("aioquic").unwrap();
        assert!(pins.unwrap().contains(&format!("aioquic=={}", aq.version)));
        let go = std::fs::read_to_string(root().join("ci/build-peers.sh")).unwrap();
        let qg = find("quic-go").unwrap();
        assert!(go.contains(&format!(
            "golang-github-lucas-clemente-quic-go-dev={}",
            qg.version
        )));
    }

    #[test]
    fn every_peer_has_its_source_and_expect_file() {
        let mut names = std::collections::HashSet::new();
        for k in KNOWN {
            assert!(names.insert(k.name), "{} twice", k.name);
            assert!(root().join(k.source).is_dir(), "{}: {}", k.name, k.source);
            if let Some(e) = k.expect {
                assert!(root().join(e).is_file(), "{}: {e}", k.name);
            }
        }
        assert_eq!(KNOWN[0].name, "reference");
        assert!(KNOWN[0].expect.is_none());
    }

    #[test]
    fn a_peer_not_built_says_the_command_that_builds_it() {
        let k = find("s2n-quic").unwrap();
        let dir = peers_dir_from(Some("/no/such/dir".into()));
        let why = k.not_built_in(&dir).unwrap();
        let template = k.template_in(&dir);
        assert!(why.contains("bash ci/build-peers.sh s2n-quic"), "{why}");
        assert!(why.contains("/no/such/dir/s2n-quic-echo"), "{why}");
        assert!(template.starts_with("/no/such/dir/s2n-quic-echo --listen {host}:{port}"));
        assert!(find("reference").unwrap().not_built().is_none());
        assert!(peers_dir_from(None).ends_with("target/peers"));
    }
}
