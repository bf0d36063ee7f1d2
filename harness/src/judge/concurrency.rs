//! Checks on connections run at once: the `first` ones opened before the
//! rest started, and `together`, every connection open before any FIN.

use std::time::Instant;

use super::check::{Check, Outcome};

/// When one connection was open: its handshake completed, its first FIN.
#[derive(Debug, Clone, Copy, Default)]
pub struct Span {
    pub established: Option<Instant>,
    pub first_fin: Option<Instant>,
}

/// The `together` check: every handshake completed before the first FIN.
pub fn together(spans: &[Span], blind: Option<String>) -> Check {
    let total = spans.len();
    let expected = format!("all {total} connections open at once");
    if let Some(why) = blind {
        return Check::new("together", Outcome::Skip(why), expected, "not observed");
    }
    let opened: Vec<Instant> = spans.iter().filter_map(|s| s.established).collect();
    let first_fin = spans.iter().filter_map(|s| s.first_fin).min();
    let (passed, actual) = match (opened.iter().max(), first_fin) {
        _ if opened.len() < total => (
            false,
            format!("{} of {total} completed their handshakes", opened.len()),
        ),
        (Some(&last), Some(fin)) if last < fin => (
            true,
            format!(
                "all {total} open at once for {} ms before the first FIN",
                (fin - last).as_millis()
            ),
        ),
        (Some(&last), Some(fin)) => (
            false,
            format!(
                "the last handshake completed {} ms after the first FIN was sent",
                (last - fin).as_millis()
            ),
        ),
        _ => (false, "no connection sent FIN".into()),
    };
    Check::verdict("together", passed, expected, actual)
}

/// A `first` connection that did not complete its handshake in the case's
/// time, so the others were not started.
pub fn first_not_established() -> Check {
    Check::verdict(
        "first",
        false,
        "the `first` connection to complete its handshake",
        "it did not, so the others were not started",
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn spans(open_ms: &[u64], fin_ms: &[u64]) -> Vec<Span> {
        let t0 = Instant::now();
        let at = |ms: u64| Some(t0 + Duration::from_millis(ms));
        open_ms
            .iter()
            .zip(fin_ms)
            .map(|(&o, &f)| Span {
                established: at(o),
                first_fin: at(f),
            })
            .collect()
    }

    #[test]
    fn together_passes_when_every_handshake_precedes_every_fin() {
        let c = together(&spans(&[0, 10, 20], &[30, 25, 40]), None);
        assert_eq!(c.outcome(), &Outcome::Pass, "{c:?}");
        assert_eq!(c.actual, "all 3 open at once for 5 ms before the first FIN");
    }

    #[test]
    fn together_fails_when_one_opened_after_another_sent_fin() {
        let c = together(&spans(&[0, 50], &[10, 60]), None);
        assert!(c.failed_by_server());
        assert_eq!(
            c.actual,
            "the last handshake completed 40 ms after the first FIN was sent"
        );
    }

    #[test]
    fn together_fails_when_a_handshake_never_completed() {
        let mut s = spans(&[0, 1], &[5, 5]);
        s.push(Span::default());
        let c = together(&s, None);
        assert!(c.failed_by_server());
        assert_eq!(c.actual, "2 of 3 completed their handshakes");
    }

    #[test]
    fn together_is_skipped_for_a_blind_driver() {
        let c = together(&[Span::default()], Some("cannot tell".into()));
        assert!(c.is_ok());
        assert_eq!(c.skip_reason(), Some("cannot tell"));
    }

    #[test]
    fn a_first_connection_that_never_opened_fails() {
        assert!(first_not_established().failed_by_server());
    }
}
