//! A scenario's `attack` section: the flood of hostile datagrams, misused
//! Retry tokens and spoofed clients, and the checks on how the server took
//! them.

use std::time::Duration;

use super::result::AttackReport;
use crate::bench::stats::process_cpu;
use crate::driver::Target;
use crate::hostile;
use crate::judge::{self, Check};
use crate::scenario::AttackSpec;

/// How long to wait for the server to work through a flood before the
/// spoofed clients (a probe echo must be answered).
const DRAIN: Duration = Duration::from_secs(10);

/// How long the server's answers to spoofed clients are counted: long enough
/// for its first retransmission (a PTO of about 1 s, from the 333 ms
/// initial RTT of RFC 9002 §6.2.2), which a server without Retry sends.
const SPOOF_LISTEN: Duration = Duration::from_millis(1200);

/// Floods the server, then checks Version Negotiation and CPU per datagram
/// (that it is still running is checked with every case).
/// `pid` is the server's process, or why its CPU time cannot be read.
pub(super) fn attack(
    target: &Target,
    pid: Result<u32, String>,
    spec: &AttackSpec,
    seed: u64,
) -> Result<(AttackReport, Vec<Check>), String> {
    let cpu0 = pid.as_ref().ok().and_then(|&p| process_cpu(p));
    let outcome =
        hostile::flood(target.addr, spec, seed).map_err(|e| format!("flood socket: {e}"))?;
    let server_cpu_s = pid
        .as_ref()
        .ok()
        .and_then(|&p| cpu0.zip(process_cpu(p)))
        .map(|(a, b)| b - a);
    let mut checks = Vec::new();
    let vn_sent = spec.kinds.is_empty() || spec.kinds.contains(&hostile::Kind::UnknownVersion);
    if outcome.sent > 0 && vn_sent {
        checks.push(judge::version_negotiation(&outcome));
    }
    if let (Err(why), true) = (&pid, outcome.sent > 0) {
        checks.push(judge::cpu_unread(spec.max_cpu_us_per_datagram, why));
    }
    if let Some(cpu) = server_cpu_s.filter(|_| outcome.sent > 0) {
        checks.push(judge::cpu(&outcome, cpu, spec.max_cpu_us_per_datagram));
    }
    let mut amplification = None;
    let mut stale_tokens = None;
    if spec.stale_tokens > 0 {
        let st = hostile::stale_tokens(
            target.addr,
            spec.stale_tokens,
            Duration::from_millis(spec.token_age_ms),
        );
        checks.extend(judge::token_checks(&st, spec.invalid_token_close));
        stale_tokens = Some(st);
    }
    if spec.spoofed > 0 {
        // The flood may still sit in the server's receive queue; spoofed
        // Initials dropped behind it would read as "nothing sent back".
        // A probe echo answered means the server has read past it.
        let _ = crate::sut::probe(target, DRAIN);
        let a = hostile::spoofed(target.addr, spec.spoofed, seed, SPOOF_LISTEN)
            .map_err(|e| format!("spoofed-client socket: {e}"))?;
        checks.push(judge::spoofed_amplification(&a, spec.max_amplification));
        amplification = Some(a);
    }
    Ok((
        AttackReport {
            outcome,
            server_cpu_s,
            amplification,
            stale_tokens,
        },
        checks,
    ))
}
