//! One log line per connection when it is forgotten: who, how much, how
//! it ended.

use super::Conn;

fn describe(e: &quiche::ConnectionError) -> String {
    format!(
        "{}:{:#x} reason=\"{}\"",
        if e.is_app { "app" } else { "transport" },
        e.error_code,
        String::from_utf8_lossy(&e.reason).escape_debug()
    )
}

pub(super) fn log_close(conn: &Conn) {
    let alpn = String::from_utf8_lossy(conn.q.application_proto()).into_owned();
    let outcome = if let Some(e) = conn.q.local_error() {
        format!("closed-by-server error={}", describe(e))
    } else if let Some(e) = conn.q.peer_error() {
        format!("closed-by-client error={}", describe(e))
    } else if conn.q.is_timed_out() {
        "idle-timeout".to_string()
    } else {
        "closed".to_string()
    };
    log::info!(
        "peer={} alpn={} in={}B out={}B outcome={} duration={:?}",
        conn.peer,
        if alpn.is_empty() { "-" } else { &alpn },
        conn.bytes_in,
        conn.bytes_out,
        outcome,
        conn.started.elapsed()
    );
}
