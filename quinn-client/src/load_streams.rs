//! One load connection on quinn-proto and its echoes: streams opened one
//! after another, each written with FIN and its echo checked byte for byte.

use std::time::Instant;

use bytes::Bytes;
use echo_client::{echo_continues, LoadPlan, LoadReport};
use quinn_proto::{self as qp, ConnectionError, Dir, ReadError, StreamId, VarInt, WriteError};

struct Echo {
    id: StreamId,
    written: usize,
    fin_sent: bool,
    received: usize,
    started: Instant,
}

pub(crate) struct Conn {
    pub(crate) q: qp::Connection,
    pub(crate) started: Instant,
    pub(crate) established: bool,
    pub(crate) streams_done: u64,
    stream: Option<Echo>,
    pub(crate) failure: Option<String>,
    pub(crate) want_more: bool,
    /// Why quinn-proto says the connection ended, when it did.
    pub(crate) lost: Option<ConnectionError>,
    /// The client closed it.
    closed: bool,
    /// Its end is in the report.
    pub(crate) counted: bool,
    pub(crate) timer: Option<Instant>,
}

impl Conn {
    pub(crate) fn new(q: qp::Connection) -> Self {
        Conn {
            q,
            started: Instant::now(),
            established: false,
            streams_done: 0,
            stream: None,
            failure: None,
            want_more: true,
            lost: None,
            closed: false,
            counted: false,
            timer: None,
        }
    }

    /// Neither side has closed it, and it has not timed out.
    pub(crate) fn running(&self) -> bool {
        self.lost.is_none() && !self.closed
    }

    /// An echo is under way.
    pub(crate) fn mid_echo(&self) -> bool {
        self.stream.is_some()
    }
}

/// Closes the connection with `code` and `reason`.
pub(crate) fn close(c: &mut Conn, now: Instant, code: u32, reason: &'static [u8]) {
    c.closed = true;
    c.q.close(now, VarInt::from_u32(code), Bytes::from_static(reason));
}

fn fail(c: &mut Conn, now: Instant, why: String) {
    c.failure.get_or_insert(why);
    close(c, now, 0x1, b"");
}

/// Reads the current echo, writes the current stream, opens the next one,
/// or closes the connection when it is done.
pub(crate) fn step_streams(
    c: &mut Conn,
    plan: &LoadPlan,
    payload: &[u8],
    report: &mut LoadReport,
    start: Instant,
    now: Instant,
) {
    while c.running() {
        if c.stream.is_none() {
            if !plan.wants_stream(c.streams_done, start) {
                c.want_more = false;
                close(c, now, 0, b"bench done");
                return;
            }
            // None: the server's stream limit; its MAX_STREAMS wakes us.
            let Some(id) = c.q.streams().open(Dir::Bi) else {
                return;
            };
            c.stream = Some(Echo {
                id,
                written: 0,
                fin_sent: false,
                received: 0,
                started: now,
            });
        }
        if let Err(why) = write(c, payload) {
            return fail(c, now, why);
        }
        match read(c, payload) {
            Err(why) => return fail(c, now, why),
            Ok(false) => return,
            Ok(true) => {}
        }
        let s = c.stream.take().expect("an echo under way");
        if s.received != payload.len() {
            let why = format!(
                "stream {}: echo of {} bytes, sent {}",
                s.id,
                s.received,
                payload.len()
            );
            return fail(c, now, why);
        }
        report.echoes.push(now - s.started);
        report.bytes_echoed += payload.len() as u64;
        c.streams_done += 1;
    }
}

/// Writes what flow control allows of the current stream, and its FIN.
fn write(c: &mut Conn, payload: &[u8]) -> Result<(), String> {
    let s = c.stream.as_mut().expect("an echo under way");
    while !s.fin_sent {
        let mut send = c.q.send_stream(s.id);
        if s.written < payload.len() {
            match send.write(&payload[s.written..]) {
                Ok(n) => s.written += n,
                Err(WriteError::Blocked) => return Ok(()),
                Err(e) => return Err(format!("stream {}: {e}", s.id)),
            }
            continue;
        }
        send.finish()
            .map_err(|e| format!("stream {}: finish: {e}", s.id))?;
        s.fin_sent = true;
    }
    Ok(())
}

/// Reads what has arrived of the current echo, checking it; whether its
/// FIN came.
fn read(c: &mut Conn, payload: &[u8]) -> Result<bool, String> {
    let s = c.stream.as_mut().expect("an echo under way");
    let mut recv = c.q.recv_stream(s.id);
    let mut chunks = recv
        .read(true)
        .map_err(|e| format!("stream {}: {e}", s.id))?;
    let fin = loop {
        match chunks.next(usize::MAX) {
            Ok(Some(chunk)) => {
                if !echo_continues(payload, s.received, &chunk.bytes) {
                    break Err(format!("stream {}: echo differs", s.id));
                }
                s.received += chunk.bytes.len();
            }
            Ok(None) => break Ok(true),
            Err(ReadError::Blocked) => break Ok(false),
            Err(e) => break Err(format!("stream {}: {e}", s.id)),
        }
    };
    // Whether credit needs sending is the next poll_transmit's business.
    let _ = chunks.finalize();
    fin
}
