//! Checks on a parsed scenario that the types cannot express: ranges,
//! combinations, payloads. Times are bounded because they are added to
//! clocks.

use super::{decode_hex, FinSpec, NetworkSpec, Payload, Scenario};

impl NetworkSpec {
    pub(super) fn validate(&self) -> Result<(), String> {
        for (name, p) in [
            ("reorder", self.reorder),
            ("duplicate", self.duplicate),
            ("corrupt", self.corrupt),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("network.{name} must be a probability from 0 to 1"));
            }
        }
        if !(0.0..0.9).contains(&self.loss) {
            return Err("network.loss must be from 0 to below 0.9".into());
        }
        if !(1..=100).contains(&self.loss_burst) {
            return Err("network.loss_burst must be 1 to 100".into());
        }
        for (name, ms) in [
            (
                "stall_to_server.ms",
                self.stall_to_server.as_ref().map_or(0, |s| s.ms),
            ),
            ("delay_ms", self.delay_ms),
            ("jitter_ms", self.jitter_ms),
            ("reorder_ms", self.reorder_ms),
            (
                "rebind.after_ms",
                self.rebind.as_ref().map_or(0, |r| r.after_ms),
            ),
        ] {
            if ms > 10_000 {
                return Err(format!("network.{name} must be at most 10000"));
            }
        }
        if self
            .max_amplification
            .is_some_and(|f| !(f.is_finite() && f > 0.0))
        {
            return Err("network.max_amplification must be a positive number".into());
        }
        if let Some(ip) = self
            .rebind
            .as_ref()
            .and_then(|r| r.address)
            .filter(|ip| !ip.is_loopback())
        {
            return Err(format!(
                "network.rebind.address {ip} must be a loopback address: test traffic stays on this machine"
            ));
        }
        if let Some(w) = self.blackhole.iter().find(|w| w.from_ms >= w.to_ms) {
            return Err(format!(
                "network.blackhole: window {}..{} must end after it starts",
                w.from_ms, w.to_ms
            ));
        }
        Ok(())
    }
}

/// Checks what the types cannot: ranges, ids, payloads.
pub(super) fn validate(s: &Scenario) -> Result<(), String> {
    if s.id.is_empty() || s.id.chars().any(|c| c.is_whitespace()) {
        return Err("id must be non-empty with no spaces".into());
    }
    if s.drivers.is_empty() {
        return Err("drivers must name at least one driver".into());
    }
    if s.connections.is_empty() {
        return Err("connections must not be empty".into());
    }
    if s.server_args.len() > 64
        || s.server_args
            .iter()
            .any(|a| a.is_empty() || a.len() > 4096 || a.contains('\0'))
    {
        return Err("server_args: at most 64 flags, each 1 to 4096 characters without NUL".into());
    }
    if s.connections
        .iter()
        .filter(|c| c.restart_server.is_some())
        .count()
        > 1
    {
        return Err("restart_server: at most one connection may restart the server".into());
    }
    if s.together && !s.concurrent {
        return Err("together needs \"concurrent\": true".into());
    }
    if let Some(e) = s
        .timeout_ms
        .and_then(|ms| too_long("timeout_ms".into(), ms))
    {
        return Err(e);
    }
    for (i, c) in s.connections.iter().enumerate() {
        connection(s, i, c)?;
    }
    if let Some(n) = &s.network {
        n.validate()?;
    }
    if let Some(a) = &s.attack {
        attack(a)?;
    }
    for (i, c) in s.connections.iter().enumerate() {
        streams(i, c)?;
    }
    Ok(())
}

/// Payloads larger than this are refused.
const MAX_PAYLOAD: usize = 64 * 1024 * 1024;

/// Times are added to clocks: absurd values would overflow them.
const MAX_MS: u64 = 3_600_000;

fn too_long(what: String, ms: u64) -> Option<String> {
    (ms > MAX_MS).then(|| format!("{what} must be at most {MAX_MS} (one hour)"))
}

/// One connection's times and the options that contradict each other or
/// the scenario.
fn connection(s: &Scenario, i: usize, c: &super::ConnectionSpec) -> Result<(), String> {
    let at = format!("connections[{i}]");
    let mut times = vec![(format!("{at}.hold_ms"), c.hold_ms.unwrap_or(0))];
    times.push((
        format!("{at}.expect.within_ms"),
        c.expect.within_ms.unwrap_or(0),
    ));
    for (j, st) in c.streams.iter().enumerate() {
        times.push((format!("{at}.streams[{j}].pause_ms"), st.pause_ms));
        if let FinSpec::AfterMs(ms) = st.fin {
            times.push((format!("{at}.streams[{j}].fin.after_ms"), ms));
        }
        if let Some(a) = &st.abort {
            times.push((format!("{at}.streams[{j}].abort.after_ms"), a.after_ms));
            if a.reset.is_some() == a.stop_sending.is_some() {
                return Err(format!(
                    "{at}.streams[{j}].abort needs exactly one of reset and stop_sending"
                ));
            }
        }
    }
    times.push((format!("{at}.after_ms"), c.after_ms.unwrap_or(0)));
    if c.after_ms.is_some() && s.concurrent && c.first {
        return Err(format!(
            "{at}.after_ms counts from the `first` connections' handshakes, so a `first` \
             connection cannot have one"
        ));
    }
    if c.restart_server.is_some() && (s.concurrent || c.repeat != 1 || s.network.is_some()) {
        return Err(format!(
            "{at}.restart_server is for one connection (repeat 1) of a sequential scenario \
             without a network"
        ));
    }
    if c.quic_version == Some(super::QuicVersion::V2) && !c.streams.is_empty() {
        return Err(format!(
            "{at}: a client offering QUIC version 2 goes no further than the server's \
             first answer, so it cannot have streams"
        ));
    }
    if c.early_data && !c.resume {
        return Err(format!(
            "{at}.early_data needs \"resume\": true (0-RTT needs a session to resume)"
        ));
    }
    if c.keep_alive_ms == Some(0) {
        return Err(format!("{at}.keep_alive_ms must be at least 1"));
    }
    times.push((format!("{at}.keep_alive_ms"), c.keep_alive_ms.unwrap_or(0)));
    if c.key_updates.len() > 16 {
        return Err(format!("{at}.key_updates: at most 16"));
    }
    if c.ciphers
        .as_ref()
        .is_some_and(|l| l.is_empty() || l.iter().any(|n| !n.starts_with("TLS_") || n.len() > 64))
    {
        return Err(format!(
            "{at}.ciphers: one or more TLS 1.3 suite names, e.g. TLS_CHACHA20_POLY1305_SHA256"
        ));
    }
    if let Some(f) = &c.flow {
        times.push((
            format!("{at}.flow.read_every_ms"),
            f.read_every_ms.unwrap_or(0),
        ));
        if f.stream_window == 0 || f.connection_window == 0 {
            return Err(format!("{at}.flow: windows must be at least 1 byte"));
        }
        if f.never_read && f.read_every_ms.is_some() {
            return Err(format!(
                "{at}.flow: never_read and read_every_ms contradict"
            ));
        }
    }
    if let Some(e) = times.into_iter().find_map(|(w, ms)| too_long(w, ms)) {
        return Err(e);
    }
    Ok(())
}

/// The attack's bounds.
fn attack(a: &super::AttackSpec) -> Result<(), String> {
    if a.datagrams > 10_000_000 {
        return Err("attack.datagrams must be at most 10000000".into());
    }
    if a.stale_tokens > 100 {
        return Err("attack.stale_tokens must be at most 100".into());
    }
    if a.token_age_ms > 120_000 {
        return Err("attack.token_age_ms must be at most 120000".into());
    }
    if a.max_cpu_us_per_datagram.is_nan() || a.max_cpu_us_per_datagram <= 0.0 {
        return Err("attack.max_cpu_us_per_datagram must be positive".into());
    }
    if a.spoofed > 10_000 {
        return Err("attack.spoofed must be at most 10000".into());
    }
    if a.max_amplification.is_nan() || a.max_amplification <= 0.0 {
        return Err("attack.max_amplification must be positive".into());
    }
    Ok(())
}

/// One connection's repeat, ALPN and streams.
fn streams(i: usize, c: &super::ConnectionSpec) -> Result<(), String> {
    let at = format!("connections[{i}]");
    if c.repeat == 0 || c.repeat > 10_000 {
        return Err(format!("{at}.repeat must be 1 to 10000"));
    }
    if c.alpn.is_empty() && !c.streams.is_empty() {
        return Err(format!(
            "{at}: a client offering no ALPN (\"alpn\": []) cannot complete a QUIC \
             handshake, so it cannot have streams"
        ));
    }
    if let Some(a) = c.alpn.iter().find(|a| a.is_empty() || a.len() > 255) {
        return Err(format!("{at}.alpn: \"{a}\" must be 1 to 255 bytes"));
    }
    for (j, st) in c.streams.iter().enumerate() {
        let at = format!("{at}.streams[{j}]");
        if st.chunk_size == Some(0) {
            return Err(format!("{at}.chunk_size must be at least 1"));
        }
        match &st.send {
            Payload::Hex(h) => decode_hex(h)
                .map(drop)
                .map_err(|e| format!("{at}.send: {e}"))?,
            Payload::Generate { len, .. } if *len > MAX_PAYLOAD => {
                return Err(format!(
                    "{at}.send.generate.len must be at most {MAX_PAYLOAD}"
                ))
            }
            _ => {}
        }
    }
    Ok(())
}
