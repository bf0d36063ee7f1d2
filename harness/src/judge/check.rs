//! One expectation, checked: what was expected, what was seen, and the
//! outcome. Only `judge` makes them, so every verdict has one source.

use serde::{Deserialize, Serialize};

/// What a check came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server did what was expected.
    Pass,
    /// The server broke the expectation: its behaviour, observed.
    Fail,
    /// The check was not made, and why (a client that cannot observe it, a
    /// server that gave nothing to check).
    Skip(String),
    /// The check could not be made for a reason that is not the server's
    /// behaviour (a client stack that crashed, a server it could not
    /// start). The case is then an `error`, unless a check the server
    /// failed makes it a `fail`.
    Error,
}

/// One expectation, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Record", from = "Record")]
pub struct Check {
    /// Which connection and expectation, e.g. `conn 2/10: close`.
    pub name: String,
    pub expected: String,
    pub actual: String,
    outcome: Outcome,
}

impl Check {
    pub(in crate::judge) fn new(
        name: impl Into<String>,
        outcome: Outcome,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            expected: expected.into(),
            actual: actual.into(),
            outcome,
        }
    }

    /// Passed when `passed`, failed by the server otherwise.
    pub(in crate::judge) fn verdict(
        name: impl Into<String>,
        passed: bool,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Check {
        let outcome = if passed { Outcome::Pass } else { Outcome::Fail };
        Check::new(name, outcome, expected, actual)
    }

    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// Passed or skipped: nothing against the server, nothing gone wrong.
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Pass | Outcome::Skip(_))
    }

    /// Failed by the server: not passed, and not the harness's own error.
    pub fn failed_by_server(&self) -> bool {
        self.outcome == Outcome::Fail
    }

    pub fn is_error(&self) -> bool {
        self.outcome == Outcome::Error
    }

    /// Why the check was not made, if it was not.
    pub fn skip_reason(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Skip(why) => Some(why),
            _ => None,
        }
    }

    /// A failure that follows from something else than the server's
    /// behaviour (the harness could not bring it back) becomes an error.
    pub(in crate::judge) fn excuse(&mut self) {
        if self.outcome == Outcome::Fail {
            self.outcome = Outcome::Error;
        }
    }
}

/// A check as reports store it (the JSON every report version has had).
#[derive(Serialize, Deserialize)]
struct Record {
    name: String,
    /// True also for a skipped check.
    passed: bool,
    expected: String,
    actual: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    error: bool,
}

impl From<Check> for Record {
    fn from(c: Check) -> Record {
        Record {
            passed: c.is_ok(),
            error: c.is_error(),
            skipped: c.skip_reason().map(str::to_string),
            name: c.name,
            expected: c.expected,
            actual: c.actual,
        }
    }
}

impl From<Record> for Check {
    fn from(r: Record) -> Check {
        let outcome = match (r.skipped, r.passed, r.error) {
            (Some(why), _, _) => Outcome::Skip(why),
            (None, true, _) => Outcome::Pass,
            (None, false, true) => Outcome::Error,
            (None, false, false) => Outcome::Fail,
        };
        Check::new(r.name, outcome, r.expected, r.actual)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_survives_a_report_round_trip() {
        for outcome in [
            Outcome::Pass,
            Outcome::Fail,
            Outcome::Skip("cannot tell".into()),
            Outcome::Error,
        ] {
            let c = Check::new("close", outcome, "a close", "none");
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<Check>(&json).unwrap(), c, "{json}");
        }
    }

    #[test]
    fn the_stored_form_is_the_one_reports_always_had() {
        let skip = Check::new("fin", Outcome::Skip("blind".into()), "", "");
        assert_eq!(
            serde_json::to_string(&skip).unwrap(),
            r#"{"name":"fin","passed":true,"expected":"","actual":"","skipped":"blind"}"#
        );
        let error = Check::new("driver", Outcome::Error, "the client to run", "crashed");
        assert_eq!(
            serde_json::to_string(&error).unwrap(),
            r#"{"name":"driver","passed":false,"expected":"the client to run","actual":"crashed","error":true}"#
        );
    }

    #[test]
    fn an_excused_failure_is_an_error_and_a_pass_stays_a_pass() {
        let mut fail = Check::verdict("echo", false, "the echo", "nothing");
        fail.excuse();
        assert!(fail.is_error() && !fail.failed_by_server());
        let mut pass = Check::verdict("echo", true, "the echo", "the echo");
        pass.excuse();
        assert_eq!(pass.outcome(), &Outcome::Pass);
    }
}
