//! Checks on how the server took a scenario's `attack`: Version
//! Negotiation and CPU under a flood, amplification towards spoofed
//! clients, and misused Retry tokens.

use super::check::{Check, Outcome};
use crate::hostile::{Amplification, Outcome as Flood, StaleTokens, TokenVerdict as V};

/// Version Negotiation for the flood's unknown versions (RFC 9000 §6.1).
pub fn version_negotiation(flood: &Flood) -> Check {
    Check::verdict(
        "attack: version_negotiation",
        flood.version_negotiations > 0,
        "Version Negotiation for unknown versions",
        format!(
            "{} Version Negotiation packet(s) among {} replies to {} datagrams",
            flood.version_negotiations, flood.replies, flood.sent
        ),
    )
}

fn cpu_expected(max_us: f64) -> String {
    format!("at most {max_us} us of server CPU per datagram")
}

/// The server's CPU per flood datagram against the scenario's limit.
pub fn cpu(flood: &Flood, cpu_s: f64, max_us: f64) -> Check {
    let per = cpu_s * 1e6 / flood.sent.max(1) as f64;
    Check::verdict(
        "attack: cpu",
        per <= max_us,
        cpu_expected(max_us),
        format!(
            "{per:.1} us ({cpu_s:.2} s for {} datagrams in {} ms)",
            flood.sent, flood.elapsed_ms
        ),
    )
}

/// The CPU check, not made: why the server's CPU time cannot be read.
pub fn cpu_unread(max_us: f64, why: &str) -> Check {
    Check::new(
        "attack: cpu",
        Outcome::Skip(why.into()),
        cpu_expected(max_us),
        why,
    )
}

/// What the server sent spoofed clients, against the limit.
pub fn spoofed_amplification(a: &Amplification, limit: f64) -> Check {
    Check::verdict(
        "attack: amplification",
        a.factor() <= limit,
        format!("at most {limit}x the bytes of unvalidated clients sent back"),
        format!(
            "{:.2}x ({} bytes back for {} bytes in {} Initials)",
            a.factor(),
            a.bytes_received,
            a.bytes_sent,
            a.initials
        ),
    )
}

/// Checks on misused Retry tokens: the control must be accepted, no misused
/// token may be.
pub fn token_checks(st: &StaleTokens, close_required: bool) -> Vec<Check> {
    let describe = |vs: &[V]| {
        let count = |f: &dyn Fn(&V) -> bool| vs.iter().filter(|v| f(v)).count();
        let mut parts = Vec::new();
        for (n, what) in [
            (count(&|v| *v == V::Accepted), "accepted".to_string()),
            (
                count(&|v| *v == V::Refused(0xb)),
                "closed with INVALID_TOKEN".into(),
            ),
            (
                count(&|v| matches!(v, V::Refused(c) if *c != 0xb)),
                "closed with another error".into(),
            ),
            (count(&|v| *v == V::Ignored), "ignored".into()),
            (count(&|v| *v == V::NoRetry), "got no Retry".into()),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        parts.join(", ")
    };
    let no_retry = st.control == V::NoRetry;
    let skipped = no_retry.then(|| "the server sent no Retry, so it issued no tokens".to_string());
    let how = if close_required {
        "closed with INVALID_TOKEN"
    } else {
        "turned down"
    };
    let outcome = |passed: bool| match &skipped {
        Some(why) => Outcome::Skip(why.clone()),
        None if passed => Outcome::Pass,
        None => Outcome::Fail,
    };
    let misuse = |name: &str, expected: String, vs: &[V]| {
        let passed = vs
            .iter()
            .all(|v| *v == V::Refused(0xb) || (!close_required && *v != V::Accepted));
        Check::new(
            format!("attack: {name}"),
            outcome(passed),
            format!("{expected} all {how}"),
            describe(vs),
        )
    };
    vec![
        Check::new(
            "attack: token control",
            outcome(st.control == V::Accepted),
            "a Retry token used at once from its own address to be accepted",
            describe(std::slice::from_ref(&st.control)),
        ),
        misuse(
            "replayed tokens",
            format!(
                "{} tokens sent from another port all turned down",
                st.replayed.len()
            ),
            &st.replayed,
        ),
        misuse(
            "expired tokens",
            format!(
                "{} tokens sent back after {} ms",
                st.expired.len(),
                st.age_ms
            ),
            &st.expired,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(control: V, misused: V) -> StaleTokens {
        StaleTokens {
            control,
            replayed: vec![misused.clone(), V::Ignored],
            expired: vec![V::Refused(0xb), misused],
            age_ms: 2500,
        }
    }

    #[test]
    fn token_checks_pass_when_only_the_control_is_accepted() {
        let c = token_checks(&tokens(V::Accepted, V::Ignored), false);
        assert!(c.iter().all(|c| c.outcome() == &Outcome::Pass), "{c:?}");
        assert_eq!(c[2].actual, "1 closed with INVALID_TOKEN, 1 ignored");
    }

    #[test]
    fn token_checks_fail_on_an_accepted_misuse_or_a_refused_control() {
        let c = token_checks(&tokens(V::Accepted, V::Accepted), false);
        assert!(
            c[0].is_ok() && c[1].failed_by_server() && c[2].failed_by_server(),
            "{c:?}"
        );
        assert_eq!(c[1].actual, "1 accepted, 1 ignored");
        let c = token_checks(&tokens(V::Ignored, V::Ignored), false);
        assert!(c[0].failed_by_server(), "{c:?}");
    }

    #[test]
    fn token_checks_can_require_invalid_token_rather_than_silence() {
        let c = token_checks(&tokens(V::Accepted, V::Ignored), true);
        assert!(c[1].failed_by_server() && c[2].failed_by_server(), "{c:?}");
        assert!(c[1].expected.ends_with("all closed with INVALID_TOKEN"));
        let c = token_checks(&tokens(V::Accepted, V::Refused(0xb)), true);
        assert!(c[1].failed_by_server() && c[2].is_ok(), "{c:?}");
    }

    #[test]
    fn token_checks_are_skipped_without_a_retry() {
        let c = token_checks(&tokens(V::NoRetry, V::NoRetry), true);
        assert!(
            c.iter().all(|c| c.is_ok() && c.skip_reason().is_some()),
            "{c:?}"
        );
    }

    fn flood(sent: u64, version_negotiations: u64) -> Flood {
        Flood {
            sent,
            version_negotiations,
            ..Flood::default()
        }
    }

    #[test]
    fn a_flood_without_version_negotiation_fails() {
        assert!(version_negotiation(&flood(100, 1)).is_ok());
        assert!(version_negotiation(&flood(100, 0)).failed_by_server());
    }

    #[test]
    fn cpu_per_datagram_is_held_to_the_limit() {
        assert!(cpu(&flood(1000, 0), 0.01, 10.0).is_ok());
        let c = cpu(&flood(1000, 0), 0.02, 10.0);
        assert!(c.failed_by_server(), "{c:?}");
        assert!(c.actual.starts_with("20.0 us"), "{c:?}");
        assert!(cpu_unread(10.0, "not started here").skip_reason().is_some());
    }
}
