//! Checks on what the relay measured of a case's network: amplification
//! before address validation, and clients moved to a new address.

use super::check::Check;
use crate::netem::amplification::Exposure;
use crate::netem::relay::Rebinds;
use crate::scenario::Rebind;

/// The relay's measurement of what the server sent unvalidated clients.
pub fn amplification_check(worst: Option<Exposure>, limit: f64) -> Check {
    let (passed, actual) = match worst {
        None => (true, "nothing sent to an unvalidated client".to_string()),
        Some(e) => (
            e.factor() <= limit,
            format!(
                "{:.2}x: client {} was sent {} B for {} B received before its address was validated",
                e.factor(),
                e.client + 1,
                e.sent,
                e.received
            ),
        ),
    };
    Check::verdict(
        "amplification",
        passed,
        format!("at most {limit}x before address validation (measured at the relay)"),
        actual,
    )
}

/// Whether `network.rebind` moved every client while it was still sending,
/// so the exact echo (checked elsewhere) arrived at the new address.
pub fn rebind_check(rebind: &Rebind, r: &Rebinds) -> Check {
    let to = rebind
        .address
        .map_or("a new port".to_string(), |ip| format!("{ip}"));
    let passed = r.error.is_none() && r.clients > 0 && r.moved == r.clients && r.sent_from_new > 0;
    let mut actual = match &r.error {
        Some(e) => e.clone(),
        None if r.moved < r.clients => format!(
            "{} of {} client(s) moved: the rest had finished before {} ms",
            r.moved, r.clients, rebind.after_ms
        ),
        None if r.sent_from_new == 0 => {
            "nothing was sent from the new address: the connection had ended".to_string()
        }
        None => format!(
            "{} client(s) moved; {} datagrams reached the server from the new address",
            r.moved, r.sent_from_new
        ),
    };
    if r.to_old_address > 0 {
        actual += &format!(
            "; the server sent {} datagrams to the old address afterwards (lost)",
            r.to_old_address
        );
    }
    Check::verdict(
        "rebinding",
        passed,
        format!(
            "each client moved to {to} {} ms after its first datagram, mid-connection",
            rebind.after_ms
        ),
        actual,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amplification_check_compares_with_the_limit() {
        let e = |received, sent| {
            Some(Exposure {
                client: 0,
                received,
                sent,
            })
        };
        assert!(amplification_check(e(1200, 3600), 3.0).is_ok());
        let c = amplification_check(e(1200, 3601), 3.0);
        assert!(c.failed_by_server());
        assert!(
            c.actual.starts_with("3.00x: client 1 was sent 3601 B"),
            "{}",
            c.actual
        );
        assert!(amplification_check(None, 3.0).is_ok());
    }

    #[test]
    fn a_rebinding_that_never_happened_mid_connection_fails() {
        let rebind = Rebind {
            after_ms: 400,
            address: Some("127.0.0.2".parse().unwrap()),
        };
        let done = Rebinds {
            clients: 1,
            moved: 1,
            sent_from_new: 9,
            to_old_address: 2,
            error: None,
        };
        let c = rebind_check(&rebind, &done);
        assert!(c.is_ok(), "{c:?}");
        assert!(c.actual.contains("2 datagrams to the old address"), "{c:?}");
        assert!(c.expected.contains("127.0.0.2 400 ms"), "{c:?}");
        let late = Rebinds {
            moved: 0,
            sent_from_new: 0,
            ..done.clone()
        };
        assert!(rebind_check(&rebind, &late).failed_by_server());
        let ended = Rebinds {
            sent_from_new: 0,
            ..done.clone()
        };
        assert!(rebind_check(&rebind, &ended).failed_by_server());
        let failed = Rebinds {
            error: Some("cannot move a client to 127.0.0.2: denied".into()),
            ..done
        };
        let c = rebind_check(&rebind, &failed);
        assert!(c.failed_by_server() && c.actual.contains("denied"), "{c:?}");
    }
}
