//! Reading scenario files: parse errors as `path:line:col: message`,
//! folders walked in sorted order, duplicate ids refused. Files ending in
//! `.schema.json` are skipped (the JSON Schema lives beside the scenarios).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::validate::validate;
use super::Scenario;

/// A scenario and the file it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub scenario: Scenario,
}

/// A problem with a scenario file, formatted `path:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError(pub String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// Parses one scenario from text; `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, LoadError> {
    let scenario: Scenario = serde_json::from_str(text).map_err(|e| {
        // serde_json appends " at line L column C"; we lead with it instead.
        let msg = e.to_string();
        let msg = match msg.rfind(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        LoadError(format!(
            "{}:{}:{}: {}",
            path.display(),
            e.line(),
            e.column(),
            msg.replace('`', "\"")
        ))
    })?;
    validate(&scenario).map_err(|m| {
        LoadError(format!(
            "{}: scenario \"{}\": {m}",
            path.display(),
            scenario.id
        ))
    })?;
    Ok(scenario)
}

/// Loads every `*.json` under `paths` (files or folders, recursively, in
/// sorted order), failing on the first bad file or a duplicate id.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Loaded>, LoadError> {
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files)?;
    }
    let mut out = Vec::new();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| LoadError(format!("{}: cannot read: {e}", path.display())))?;
        let scenario = parse(&path, &text)?;
        if let Some(first) = seen.insert(scenario.id.clone(), path.clone()) {
            return Err(LoadError(format!(
                "{}: duplicate scenario id \"{}\" (first in {})",
                path.display(),
                scenario.id,
                first.display()
            )));
        }
        out.push(Loaded { path, scenario });
    }
    Ok(out)
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let meta =
        std::fs::metadata(path).map_err(|e| LoadError(format!("{}: {e}", path.display())))?;
    if meta.is_file() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| LoadError(format!("{}: {e}", path.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        let name = e.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if e.is_dir() {
            collect(&e, files)?;
        } else if name.ends_with(".json") && !name.ends_with(".schema.json") {
            files.push(e);
        }
    }
    Ok(())
}

/// The JSON Schema of a scenario file.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Scenario);
    serde_json::to_string_pretty(&schema).expect("schema serialises") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::*;

    fn p(text: &str) -> Result<Scenario, LoadError> {
        parse(Path::new("s/x.json"), text)
    }

    const GOOD: &str = r#"{
  "id": "a/b",
  "description": "d",
  "level": "must",
  "connections": [{"streams": [{"send": {"hex": "00ff"}, "fin": {"after_ms": 5}}],
                   "expect": {"close": {"transport": "0x178"}, "echo": true}}]
}"#;

    #[test]
    fn after_ms_waits_after_the_first_connections_in_a_concurrent_scenario() {
        let concurrent = |first: &str| {
            format!(
                r#"{{"id": "a/b", "description": "d", "level": "must", "concurrent": true,
                "connections": [{{"first": true, {first} "streams": [{{"send": {{"text": "x"}}}}]}},
                                {{"after_ms": 300, "streams": [{{"send": {{"text": "y"}}}}]}}]}}"#
            )
        };
        let s = p(&concurrent("")).unwrap();
        assert_eq!(s.connections[1].after_ms, Some(300));
        let e = p(&concurrent(r#""after_ms": 5,"#)).unwrap_err().to_string();
        assert!(e.contains("cannot have one"), "{e}");
    }

    #[test]
    fn a_valid_file_parses_with_defaults() {
        let s = p(GOOD).unwrap();
        assert_eq!(s.drivers, vec![DriverKind::Native]);
        let c = &s.connections[0];
        assert_eq!(c.alpn, vec!["http/1.0"]);
        assert_eq!(c.repeat, 1);
        assert_eq!(c.streams[0].send.bytes(0), vec![0x00, 0xff]);
        assert_eq!(c.streams[0].fin, FinSpec::AfterMs(5));
        assert_eq!(
            c.expect.close,
            Some(CloseExpect::Transport(Code::Hex(HexCode(0x178))))
        );
    }

    #[test]
    fn an_unknown_field_names_file_line_column_and_the_choices() {
        let text = GOOD.replace("\"echo\"", "\"expct\"");
        let e = p(&text).unwrap_err().0;
        assert!(e.starts_with("s/x.json:6:70: "), "{e}");
        assert!(
            e.contains("unknown field \"expct\", expected one of"),
            "{e}"
        );
    }

    #[test]
    fn wrong_types_and_bad_values_are_reported() {
        let e = p(&GOOD.replace("\"must\"", "\"maybe\"")).unwrap_err().0;
        assert!(
            e.starts_with("s/x.json:4:") && e.contains("unknown variant \"maybe\""),
            "{e}"
        );
        let e = p(&GOOD.replace("\"0x178\"", "\"376\"")).unwrap_err().0;
        assert!(e.contains("s/x.json:"), "{e}");
        let e = p(&GOOD.replace("00ff", "0g")).unwrap_err().0;
        assert!(e.contains("connections[0].streams[0].send"), "{e}");
        let e = p(&GOOD.replace("\"id\": \"a/b\"", "\"id\": \"a b\""))
            .unwrap_err()
            .0;
        assert!(e.contains("no spaces"), "{e}");
        let e = p(&GOOD.replace("\"streams\"", "\"repeat\": 0, \"streams\""))
            .unwrap_err()
            .0;
        assert!(e.contains("repeat must be 1 to 10000"), "{e}");
        let e = p("{").unwrap_err().0;
        assert!(e.starts_with("s/x.json:1:1: EOF"), "{e}");
        let e = p(&GOOD.replace("\"streams\"", "\"alpn\": [], \"streams\""))
            .unwrap_err()
            .0;
        assert!(
            e.contains("no ALPN") && e.contains("cannot have streams"),
            "{e}"
        );
    }

    #[test]
    fn a_restart_is_for_one_connection_of_a_sequential_scenario() {
        let restart = "\"restart_server\": {\"after_bytes\": 1}, \"streams\"";
        assert!(p(&GOOD.replace("\"streams\"", restart)).is_ok());
        let e = p(&GOOD
            .replace("\"streams\"", restart)
            .replace("\"level\"", "\"concurrent\": true, \"level\""))
        .unwrap_err()
        .0;
        assert!(e.contains("restart_server is for one connection"), "{e}");
        let twice = GOOD.replace("\"streams\"", restart);
        let at = twice.find("\"connections\": [").unwrap() + "\"connections\": [".len();
        let one = &twice[at..twice.rfind(']').unwrap()];
        let e = p(&twice.replacen(one, &format!("{one}, {one}"), 1))
            .unwrap_err()
            .0;
        assert!(e.contains("at most one connection"), "{e}");
    }

    #[test]
    fn hostile_files_give_clear_errors_not_panics() {
        // Deep nesting: the types stop it at once, with a position (and the
        // parser's recursion limit would stop it anyway: no stack overflow).
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = p(&deep).unwrap_err().0;
        assert!(e.starts_with("s/x.json:1:1: invalid type"), "{e}");
        let nested = format!("\"connections\": [{}", "[".repeat(100_000));
        let e = p(&GOOD.replace("\"connections\": [", &nested))
            .unwrap_err()
            .0;
        assert!(
            e.starts_with("s/x.json:5:") && e.contains("invalid type: sequence"),
            "{e}"
        );
        // Negative, fractional and absurd numbers; wrong types.
        let e = p(&GOOD.replace("\"streams\"", "\"repeat\": -1, \"streams\""))
            .unwrap_err()
            .0;
        assert!(
            e.contains("invalid value: integer \"-1\", expected u32"),
            "{e}"
        );
        let e = p(&GOOD.replace("\"streams\"", "\"repeat\": 1e30, \"streams\""))
            .unwrap_err()
            .0;
        assert!(e.contains("invalid type: floating point"), "{e}");
        let e = p(&GOOD.replace(
            "\"streams\"",
            "\"hold_ms\": 18446744073709551615, \"streams\"",
        ))
        .unwrap_err()
        .0;
        assert!(e.contains("hold_ms must be at most"), "{e}");
        let e = p(&GOOD.replace("{\"after_ms\": 5}", "{\"after_ms\": 99999999999}"))
            .unwrap_err()
            .0;
        assert!(e.contains("fin.after_ms must be at most"), "{e}");
        let e = p(&GOOD.replace(
            "\"connections\"",
            "\"timeout_ms\": \"soon\", \"connections\"",
        ))
        .unwrap_err()
        .0;
        assert!(e.contains("invalid type: string \"soon\""), "{e}");
        // Huge sizes are refused before anything is generated.
        let e = p(&GOOD.replace(
            "{\"hex\": \"00ff\"}",
            "{\"generate\": {\"len\": 99999999999, \"pattern\": \"zeros\"}}",
        ))
        .unwrap_err()
        .0;
        assert!(e.contains("generate.len must be at most"), "{e}");
        let e = p(&GOOD.replace(
            "\"connections\"",
            "\"network\": {\"loss\": 2}, \"connections\"",
        ))
        .unwrap_err()
        .0;
        assert!(e.contains("network.loss"), "{e}");
        let e = p(&GOOD.replace(
            "\"connections\"",
            "\"attack\": {\"datagrams\": 10000001}, \"connections\"",
        ))
        .unwrap_err()
        .0;
        assert!(e.contains("attack.datagrams"), "{e}");
        let e = p(&GOOD.replace("\"connections\"", "\"together\": true, \"connections\""))
            .unwrap_err()
            .0;
        assert!(e.contains("together needs \"concurrent\": true"), "{e}");
        let e = p(&GOOD.replace(
            "\"connections\"",
            "\"server_args\": [\"\"], \"connections\"",
        ))
        .unwrap_err()
        .0;
        assert!(e.contains("server_args"), "{e}");
        let e = p(&GOOD.replace(
            "\"connections\"",
            "\"network\": {\"max_amplification\": -1}, \"connections\"",
        ))
        .unwrap_err()
        .0;
        assert!(e.contains("network.max_amplification"), "{e}");
    }

    #[test]
    fn mutated_files_never_panic_the_parser() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let base = GOOD.as_bytes();
        for _ in 0..20_000 {
            let mut b = base.to_vec();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..b.len());
                match rng.random_range(0..3) {
                    0 => b[at] = rng.random_range(0x20..0x7f),
                    1 => {
                        b.remove(at);
                    }
                    _ => {
                        let set = b"{}[]\",:-9e";
                        b.insert(at, set[rng.random_range(0..set.len())]);
                    }
                }
            }
            let text = String::from_utf8_lossy(&b);
            if let Err(e) = p(&text) {
                assert!(e.0.starts_with("s/x.json:"), "{}", e.0);
            }
        }
    }

    #[test]
    fn an_empty_alpn_list_means_no_alpn_extension() {
        let text = GOOD.replace(
            "\"streams\": [{\"send\": {\"hex\": \"00ff\"}, \"fin\": {\"after_ms\": 5}}]",
            "\"alpn\": []",
        );
        let s = p(&text).unwrap();
        assert!(s.connections[0].alpn.is_empty());
        assert!(s.connections[0].streams.is_empty());
    }

    #[test]
    fn payload_patterns_and_connection_numbers() {
        assert_eq!(Payload::Text("c{n}".into()).bytes(7), b"c7");
        let g = Payload::Generate {
            len: 300,
            pattern: Pattern::Counter,
        }
        .bytes(0);
        assert_eq!((g[0], g[255], g[256]), (0, 255, 0));
        let a = Payload::Generate {
            len: 27,
            pattern: Pattern::Ascii,
        }
        .bytes(0);
        assert_eq!(&a[..3], b"abc");
        assert_eq!(a[26], b'a');
    }

    #[test]
    fn the_scenarios_readme_lists_every_scenario_with_its_level_and_drivers() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let readme = std::fs::read_to_string(root.join("scenarios/README.md")).unwrap();
        for l in load(&[root.join("scenarios")]).unwrap() {
            let s = &l.scenario;
            let level = match s.level {
                Level::Must => "must",
                Level::Should => "should",
            };
            let drivers: Vec<String> = s.drivers.iter().map(|d| d.to_string()).collect();
            let row = format!("| `{}` | {level} | {} |", s.id, drivers.join(","));
            assert!(
                readme.contains(&row),
                "scenarios/README.md has no row starting {row:?}"
            );
        }
    }

    #[test]
    fn the_checked_in_schema_matches_the_types() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/scenario.schema.json");
        let on_disk = std::fs::read_to_string(&path).unwrap();
        assert!(
            on_disk == json_schema(),
            "scenarios/scenario.schema.json is stale: run `cargo run -p harness -- schema > scenarios/scenario.schema.json`"
        );
    }
}
