//! The echo application run over one quiche connection: what its streams
//! delivered goes to `EchoConn`, the echoes it returns go out as flow
//! control allows, and its close is carried out.

use super::Conn;
use crate::echo::{ConnAction, Verdict, ERR_UNI_STREAM_REFUSED};
use crate::hooks::{Hooks, PartialWrite};

/// Echo bytes quiche has not accepted yet, on one stream.
#[derive(Default)]
pub(super) struct Pending {
    data: Vec<u8>,
    off: usize,
    fin: bool,
}

/// Runs the echo application over whatever quiche has for it.
pub(super) fn serve(conn: &mut Conn, scratch: &mut [u8], hooks: &mut dyn Hooks) {
    if !(conn.q.is_established() || conn.q.is_in_early_data()) || conn.q.is_closed() {
        return;
    }
    if !conn.q.is_established() && !hooks.serve_early_data() {
        for stream in conn.q.readable() {
            while let Ok((n, _)) = conn.q.stream_recv(stream, scratch) {
                log::debug!("{n} bytes of 0-RTT dropped, as the hooks ask");
            }
        }
        return;
    }
    for stream in conn.q.readable() {
        conn.saw_stream = true;
        if stream & 0x2 != 0 {
            // Client-initiated unidirectional stream: nothing to echo on.
            let _ = conn
                .q
                .stream_shutdown(stream, quiche::Shutdown::Read, ERR_UNI_STREAM_REFUSED);
            continue;
        }
        read_stream(conn, stream, scratch, hooks);
    }
    hand_over(conn, hooks);
    settle_echoes(conn);
    if let ConnAction::Close { code, reason } = conn.app.action() {
        if conn.q.local_error().is_none() {
            let _ = conn.q.close(true, code, reason.as_bytes());
        }
    }
}

/// Feeds what `stream` delivered to the echo application, and carries out
/// its verdicts.
fn read_stream(conn: &mut Conn, stream: u64, scratch: &mut [u8], hooks: &mut dyn Hooks) {
    loop {
        let want = conn.app.room(stream) + 1;
        match conn.q.stream_recv(stream, &mut scratch[..want]) {
            Ok((n, fin)) => {
                conn.bytes_in += n;
                match conn.app.on_data(stream, &scratch[..n], fin) {
                    Verdict::Pending | Verdict::Ignored => {}
                    Verdict::Echo { data, fin } => {
                        let p = conn.pending.entry(stream).or_default();
                        p.data.extend_from_slice(&data);
                        p.fin = fin;
                    }
                    Verdict::Refuse { code, reason } => {
                        hooks.overflowed();
                        log::debug!("{} stream {stream}: {reason}", conn.q.trace_id());
                        let _ = conn.q.stream_shutdown(stream, quiche::Shutdown::Read, code);
                        let _ = conn
                            .q
                            .stream_shutdown(stream, quiche::Shutdown::Write, code);
                        return;
                    }
                }
                if fin {
                    return;
                }
            }
            Err(quiche::Error::StreamReset(code)) => {
                log::debug!(
                    "{} stream {stream} reset by peer ({code:#x})",
                    conn.q.trace_id()
                );
                conn.app.on_stream_gone(stream);
                return;
            }
            Err(_) => return,
        }
    }
}

/// Hands over echo bytes as flow control allows.
fn hand_over(conn: &mut Conn, hooks: &mut dyn Hooks) {
    conn.pending.retain(
        |&stream, p| match conn.q.stream_send(stream, &p.data[p.off..], p.fin) {
            Ok(n) => {
                p.off += n;
                conn.bytes_out += n;
                if p.off < p.data.len() && hooks.partial_write() == PartialWrite::Drop {
                    p.data.truncate(p.off);
                    return true; // FIN goes next, after what was written
                }
                p.off < p.data.len()
            }
            // Done also means quiche has already collected the stream: the
            // peer stopped it (STOP_SENDING) and sent everything, so there
            // is nothing left to wait for.
            Err(quiche::Error::Done) => !collected(&mut conn.q, stream),
            Err(_) => false,
        },
    );
}

/// An echo is done once quiche has collected its stream (all acked), or
/// the peer stopped it.
fn settle_echoes(conn: &mut Conn) {
    let done: Vec<u64> = conn
        .app
        .unacked()
        .iter()
        .copied()
        .filter(|&s| !conn.pending.contains_key(&s))
        .filter(|&s| collected(&mut conn.q, s))
        .collect();
    for s in done {
        conn.app.on_echo_acked(s);
    }
}

/// Whether quiche has collected `stream` (all acknowledged) or the peer
/// stopped it.
fn collected(q: &mut quiche::Connection, stream: u64) -> bool {
    matches!(
        q.stream_capacity(stream),
        Err(quiche::Error::InvalidStreamState(_)) | Err(quiche::Error::StreamStopped(_))
    )
}
