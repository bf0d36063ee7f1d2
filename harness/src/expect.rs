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
    /// Scenario id.
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
        serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}:{}:{}: {}",
                path.display(),
                e.line(),
                e.column(),
                e.to_string().replace('`', "\"")
            )
        })
    }

    /// Several files as one (each peer keeps its own).
    pub fn load_all(paths: &[std::path::PathBuf]) -> Result<ExpectFile, String> {
        let mut all = ExpectFile::default();
        for p in paths {
            all.known.extend(ExpectFile::load(p)?.known);
        }
        Ok(all)
    }

    /// The entry that covers `r`, if any.
    pub fn find(&self, r: &CaseResult) -> Option<&Known> {
        self.known.iter().find(|k| {
            k.server == r.server
                && k.scenario == r.scenario
                && k.driver.is_none_or(|d| d == r.driver)
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
}
