//! Checks on the server itself rather than one expectation: that it was
//! listening, still runs, still answers, came back from a restart, and
//! serves a fresh client afterwards; and a client stack's own failure.

use std::net::SocketAddr;

use super::check::{Check, Outcome};

/// The client stack itself failed (not the server's doing): an error.
pub fn driver_failure(label: &str, e: impl Into<String>) -> Check {
    Check::new(
        format!("{label}driver"),
        Outcome::Error,
        "the client to run",
        e,
    )
}

/// Nothing listened where the server should be (ICMP port unreachable).
pub fn unreachable(label: &str, addr: SocketAddr) -> Check {
    Check::verdict(
        format!("{label}server"),
        false,
        format!("a server listening on {addr}"),
        format!("nothing is listening on {addr} (ICMP port unreachable)"),
    )
}

/// A server started for the case that never answered a handshake.
pub fn unresponsive_at_start(why: impl Into<String>) -> Check {
    Check::verdict(
        "server",
        false,
        "to answer a handshake once started for this case",
        why,
    )
}

/// The server process exited during the case.
pub fn exited(how: impl Into<String>) -> Check {
    Check::verdict("server", false, "still running", how)
}

/// After a failed case, a probe echo was not served.
pub fn stopped_answering(what: impl Into<String>) -> Check {
    Check::verdict(
        "server",
        false,
        "still answering handshakes (a probe echo)",
        what,
    )
}

/// Why a `restart_server` connection's restart did not happen.
#[derive(Debug)]
pub enum RestartFailure {
    /// The harness could not start the server again: not its behaviour.
    Unstartable(String),
    /// It started again but did not answer.
    Unresponsive(String),
    /// The connection ended before its moment came.
    Early,
}

/// The `restart_server` check, added first to the connection's checks. When
/// the harness could not bring the server back, what the connection then
/// missed is not the server's doing either: those failures become errors.
pub fn restart_failed(label: &str, why: RestartFailure, checks: &mut Vec<Check>) {
    let (outcome, actual) = match why {
        RestartFailure::Unstartable(w) => {
            checks.iter_mut().for_each(Check::excuse);
            (Outcome::Error, w)
        }
        RestartFailure::Unresponsive(w) => (Outcome::Fail, w),
        RestartFailure::Early => (
            Outcome::Fail,
            "the connection ended before its moment came".to_string(),
        ),
    };
    let check = Check::new(
        format!("{label}restart_server"),
        outcome,
        "the server restarted while the connection waited",
        actual,
    );
    checks.insert(0, check);
}

/// `then_served`, not tried because the server had exited (a check says so).
pub fn then_served_not_tried() -> Check {
    Check::new(
        "then_served",
        Outcome::Skip("not tried: the server had exited".into()),
        "a fresh client served afterwards",
        "not tried: the server had exited",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_that_is_gone_or_silent_fails() {
        assert!(exited("exit status: 1").failed_by_server());
        assert!(stopped_answering("no answer").failed_by_server());
        assert!(unresponsive_at_start("no answer").failed_by_server());
        let c = unreachable("conn 1: ", "127.0.0.1:4433".parse().unwrap());
        assert!(c.failed_by_server());
        assert_eq!(c.name, "conn 1: server");
    }

    #[test]
    fn a_client_stack_s_failure_is_an_error_not_a_fail() {
        let c = driver_failure("", "panicked");
        assert!(c.is_error() && !c.failed_by_server());
    }

    #[test]
    fn a_server_the_harness_could_not_restart_fails_nothing() {
        let missed = || vec![Check::verdict("echo", false, "the echo", "nothing")];
        let mut checks = missed();
        restart_failed(
            "",
            RestartFailure::Unstartable("no binary".into()),
            &mut checks,
        );
        assert!(checks.iter().all(|c| c.is_error()), "{checks:?}");
        assert_eq!(checks[0].name, "restart_server");
        for why in [
            RestartFailure::Unresponsive("silent".into()),
            RestartFailure::Early,
        ] {
            let mut checks = missed();
            restart_failed("", why, &mut checks);
            assert!(checks.iter().all(|c| c.failed_by_server()), "{checks:?}");
        }
    }

    #[test]
    fn then_served_not_tried_is_a_skip() {
        assert!(then_served_not_tried().skip_reason().is_some());
    }
}
