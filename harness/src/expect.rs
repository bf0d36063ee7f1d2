//! Known results per server (`--expect FILE`), so CI fails only on the
//! unexpected, and an unexpected pass is reported too.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::case::{CaseResult, Status};
use crate::scenario::DriverKind;

/// The `--expect` file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectFile {
    pub known: Vec<Known>,
}

/// One known result.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Known {
    /// Server name as given by `--server NAME=...`.
    pub server: String,
    /// Scenario id; `"*"` for every scenario, with `failing_with`.
    pub scenario: String,
    /// Only for this driver; all drivers when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<DriverKind>,
    pub outcome: KnownOutcome,
    /// Why: shown next to the result.
    pub reason: String,
    /// For `varies`, how often it may fail: with `--repeat`, a case whose
    /// share of failed runs is larger (0.25: more than one run in four) is
    /// unexpected. Without it any share is expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fails_at_most: Option<f64>,
    /// Only for a failure whose first failed check says this (e.g. a
    /// close code and who sent it): one behaviour of the server, wherever
    /// a scenario meets it. Required with `"scenario": "*"`; a pass is
    /// never matched by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_with: Option<String>,
}

/// The scenario id that stands for every scenario.
const ANY_SCENARIO: &str = "*";

impl Known {
    /// Whether this entry is about `r` (its server, scenario and driver,
    /// and its failure's words when it names them).
    fn covers(&self, r: &CaseResult) -> bool {
        let scenario = self.scenario == r.scenario || self.scenario == ANY_SCENARIO;
        let failure = self.failing_with.as_ref().is_none_or(|words| {
            r.status == Status::Fail && r.reason.as_ref().is_some_and(|why| why.contains(words))
        });
        self.server == r.server && scenario && self.driver.is_none_or(|d| d == r.driver) && failure
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KnownOutcome {
    Pass,
    Fail,
    Skip,
    /// Passes or fails by the timing of packets (e.g. a server that takes
    /// a partial read for the end of the stream fails only when the data
    /// arrives in more than one read). Either is expected; the reason must
    /// say why it varies. A skip is still unexpected.
    Varies,
}

impl ExpectFile {
    pub fn load(path: &Path) -> Result<ExpectFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let file: ExpectFile = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}:{}:{}: {}",
                path.display(),
                e.line(),
                e.column(),
                e.to_string().replace('`', "\"")
            )
        })?;
        let loose = file.known.iter().position(|k| {
            k.scenario == ANY_SCENARIO && k.failing_with.as_deref().is_none_or(str::is_empty)
        });
        match loose {
            Some(i) => Err(format!(
                "{}: entry {} is for every scenario (\"*\") without \"failing_with\": \
                 name the failure it covers",
                path.display(),
                i + 1
            )),
            None => Ok(file),
        }
    }

    /// Several files as one (each peer keeps its own).
    pub fn load_all(paths: &[std::path::PathBuf]) -> Result<ExpectFile, String> {
        let mut all = ExpectFile::default();
        for p in paths {
            all.known.extend(ExpectFile::load(p)?.known);
        }
        Ok(all)
    }

    /// The entry that covers `r`, if any: one for its scenario before one
    /// for every scenario.
    pub fn find(&self, r: &CaseResult) -> Option<&Known> {
        let mine = |k: &&Known| k.covers(r);
        let named = self
            .known
            .iter()
            .filter(|k| k.scenario != ANY_SCENARIO)
            .find(mine);
        named.or_else(|| {
            self.known
                .iter()
                .filter(|k| k.scenario == ANY_SCENARIO)
                .find(mine)
        })
    }
}

/// Whether `r` is what was expected: the known outcome when listed,
/// otherwise a pass, or a skip unless its driver is required. An `error`
/// is no verdict on the server, so never unexpected: it is counted apart
/// (and exits 3).
pub fn is_expected(r: &CaseResult, known: Option<&Known>, required: &[DriverKind]) -> bool {
    if r.status == Status::Error {
        return true;
    }
    match known {
        Some(k) => {
            matches!(
                (k.outcome, r.status),
                (KnownOutcome::Pass, Status::Pass)
                    | (KnownOutcome::Fail, Status::Fail)
                    | (KnownOutcome::Skip, Status::Skip)
                    | (KnownOutcome::Varies, Status::Pass | Status::Fail)
            )
        }
        None => match r.status {
            Status::Pass => true,
            Status::Fail => false,
            Status::Skip => !required.contains(&r.driver),
            Status::Error => true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: Status) -> CaseResult {
        CaseResult::example("input/8191-bytes", status)
    }

    #[test]
    fn a_varying_result_takes_pass_or_fail_but_not_a_skip() {
        let k = Known {
            server: "openssl".into(),
            scenario: "input/8191-bytes".into(),
            driver: None,
            outcome: KnownOutcome::Varies,
            reason: "partial reads".into(),
            fails_at_most: None,
            failing_with: None,
        };
        assert!(is_expected(&result(Status::Pass), Some(&k), &[]));
        assert!(is_expected(&result(Status::Fail), Some(&k), &[]));
        assert!(!is_expected(&result(Status::Skip), Some(&k), &[]));
        let fail = Known {
            outcome: KnownOutcome::Fail,
            ..k
        };
        assert!(!is_expected(&result(Status::Pass), Some(&fail), &[]));
    }

    fn failed(scenario: &str, why: &str) -> CaseResult {
        CaseResult {
            reason: Some(why.into()),
            ..CaseResult::example(scenario, Status::Fail)
        }
    }

    #[test]
    fn an_entry_for_every_scenario_covers_only_the_failure_it_names() {
        let tp_error = "handshake: expected completed, got not completed (the client closed \
                        the connection itself: transport close 0x8 TRANSPORT_PARAMETER_ERROR)";
        let any = Known {
            server: "openssl".into(),
            scenario: "*".into(),
            driver: Some(DriverKind::Native),
            outcome: KnownOutcome::Varies,
            reason: "two connection IDs after a Retry".into(),
            fails_at_most: None,
            failing_with: Some("transport close 0x8 TRANSPORT_PARAMETER_ERROR".into()),
        };
        let named = Known {
            scenario: "fin/binary".into(),
            outcome: KnownOutcome::Fail,
            failing_with: None,
            reason: "its own entry".into(),
            ..any.clone()
        };
        let file = ExpectFile {
            known: vec![any, named],
        };
        let found = |r: &CaseResult| file.find(r).map(|k| k.reason.as_str());
        let seen = "two connection IDs after a Retry";
        assert_eq!(found(&failed("input/8191-bytes", tp_error)), Some(seen));
        assert_eq!(
            found(&failed("fin/binary", tp_error)),
            Some("its own entry")
        );
        let other = "echo[stream 0]: expected exactly what was sent, got 0 bytes";
        assert_eq!(found(&failed("input/8191-bytes", other)), None);
        assert_eq!(found(&result(Status::Pass)), None);
        let quinn = CaseResult {
            driver: DriverKind::Quinn,
            ..failed("input/8191-bytes", tp_error)
        };
        assert_eq!(found(&quinn), None);
    }

    #[test]
    fn an_entry_for_every_scenario_must_name_its_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("expect.json");
        let entry = r#"{"server": "s", "scenario": "*", "outcome": "varies", "reason": "r"}"#;
        std::fs::write(&path, format!(r#"{{"known": [{entry}]}}"#)).unwrap();
        let err = ExpectFile::load(&path).unwrap_err();
        assert!(
            err.contains("entry 1") && err.contains("failing_with"),
            "{err}"
        );
    }
}
