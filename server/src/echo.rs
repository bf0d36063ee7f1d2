//! The echo application, sans-IO.
//!
//! This is the behaviour of ossl-guide-quic-server-non-block(7) with its
//! bugs taken out, written as plain state machines over bytes: no quiche, no
//! sockets, no clocks. The connection layer feeds it what a stream delivered
//! and carries out the [`Verdict`]s and [`ConnAction`]s it returns.

use std::collections::HashMap;

use crate::faults::Faults;

/// Application error code: a stream sent more than the input limit.
///
/// Sent as STOP_SENDING and RESET_STREAM on the stream, and as the
/// application CONNECTION_CLOSE code unless the server keeps connections
/// alive.
pub const ERR_INPUT_TOO_LARGE: u64 = 0x10;

/// Application error code: the client opened a unidirectional stream, which
/// an echo server cannot answer on. Sent as STOP_SENDING.
pub const ERR_UNI_STREAM_REFUSED: u64 = 0x11;

/// Application error code for the clean close after the echo (NO_ERROR).
pub const NO_ERROR: u64 = 0x0;

/// What one stream's receive side is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamState {
    /// Collecting bytes; nothing has been echoed.
    Reading(Vec<u8>),
    /// FIN seen; the echo (and its FIN) has been handed to the transport.
    Echoed,
    /// The input limit was crossed; the stream was refused.
    Refused,
}

/// The outcome of feeding a stream some bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Keep reading; nothing to send yet.
    Pending,
    /// Send these bytes, then FIN when `fin` (always, unless a fault is
    /// injected: the reference behaviour echoes once, at the peer's FIN).
    Echo { data: Vec<u8>, fin: bool },
    /// The stream went over the limit: refuse it with this code and reason.
    Refuse { code: u64, reason: String },
    /// The stream was already echoed or refused; the bytes are ignored.
    Ignored,
}

/// Buffers one stream until FIN, never holding more than `limit` bytes.
#[derive(Debug)]
pub struct EchoStream {
    limit: usize,
    state: StreamState,
    faults: Faults,
}

impl EchoStream {
    pub fn new(limit: usize) -> Self {
        Self::with_faults(limit, Faults::default())
    }

    pub fn with_faults(limit: usize, faults: Faults) -> Self {
        EchoStream {
            limit,
            state: StreamState::Reading(Vec::new()),
            faults,
        }
    }

    pub fn state(&self) -> &StreamState {
        &self.state
    }

    /// How many more bytes this stream may take before it is refused.
    /// The connection layer reads at most `room() + 1` bytes so that it
    /// never buffers past the limit but still notices the overflow.
    pub fn room(&self) -> usize {
        match &self.state {
            StreamState::Reading(buf) => self.limit - buf.len(),
            _ => 0,
        }
    }

    /// Feed the bytes a read returned and whether the read saw FIN.
    pub fn push(&mut self, data: &[u8], fin: bool) -> Verdict {
        let StreamState::Reading(buf) = &mut self.state else {
            return Verdict::Ignored;
        };
        if buf.len() + data.len() > self.limit {
            if self.faults.truncate {
                let room = self.limit - buf.len();
                buf.extend_from_slice(&data[..room]);
                return self.finish();
            }
            self.state = StreamState::Refused;
            return Verdict::Refuse {
                code: ERR_INPUT_TOO_LARGE,
                reason: format!("input exceeds the {}-byte limit", self.limit),
            };
        }
        buf.extend_from_slice(data);
        if self.faults.echo_before_fin && !fin && !buf.is_empty() {
            return Verdict::Echo {
                data: std::mem::take(buf),
                fin: false,
            };
        }
        if !fin {
            return Verdict::Pending;
        }
        self.finish()
    }

    fn finish(&mut self) -> Verdict {
        let StreamState::Reading(mut data) =
            std::mem::replace(&mut self.state, StreamState::Echoed)
        else {
            unreachable!("only called while reading")
        };
        if self.faults.reverse {
            data.reverse();
        }
        Verdict::Echo {
            data,
            fin: !self.faults.no_fin,
        }
    }
}

/// What the application wants done to the whole connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnAction {
    /// Nothing yet.
    None,
    /// Close the connection with this application error code and reason.
    Close { code: u64, reason: String },
}

/// The echo application for one connection: its streams and when to close.
#[derive(Debug)]
pub struct EchoConn {
    limit: usize,
    faults: Faults,
    keep_alive: bool,
    streams: HashMap<u64, EchoStream>,
    /// Streams whose echo was handed over and is not yet acknowledged.
    unacked: Vec<u64>,
    /// Set once the connection should close; returned by [`EchoConn::action`].
    closing: Option<(u64, String)>,
    echoed: usize,
}

impl EchoConn {
    pub fn new(limit: usize, keep_alive: bool) -> Self {
        Self::with_faults(limit, keep_alive, Faults::default())
    }

    pub fn with_faults(limit: usize, keep_alive: bool, faults: Faults) -> Self {
        EchoConn {
            limit,
            faults,
            keep_alive,
            streams: HashMap::new(),
            unacked: Vec::new(),
            closing: None,
            echoed: 0,
        }
    }

    /// Room left on `stream_id` (a new stream has the whole limit).
    pub fn room(&self, stream_id: u64) -> usize {
        self.streams
            .get(&stream_id)
            .map_or(self.limit, EchoStream::room)
    }

    /// Feed bytes read from a client-initiated bidirectional stream.
    pub fn on_data(&mut self, stream_id: u64, data: &[u8], fin: bool) -> Verdict {
        let (limit, faults) = (self.limit, self.faults);
        let verdict = self
            .streams
            .entry(stream_id)
            .or_insert_with(|| EchoStream::with_faults(limit, faults))
            .push(data, fin);
        match &verdict {
            Verdict::Echo { fin: false, .. } => {}
            Verdict::Echo { .. } => {
                self.unacked.push(stream_id);
                self.echoed += 1;
            }
            Verdict::Refuse { code, reason } if !self.keep_alive => {
                self.closing.get_or_insert((*code, reason.clone()));
            }
            _ => {}
        }
        verdict
    }

    /// The transport reports that the echo on `stream_id`, FIN included,
    /// was acknowledged by the peer.
    pub fn on_echo_acked(&mut self, stream_id: u64) {
        self.unacked.retain(|&id| id != stream_id);
        if !self.keep_alive && self.unacked.is_empty() && self.echoed > 0 {
            let code = if self.faults.close_with_error {
                0x1
            } else {
                NO_ERROR
            };
            self.closing
                .get_or_insert((code, "echo complete".to_string()));
        }
    }

    /// The peer reset `stream_id`: forget what it sent.
    pub fn on_stream_gone(&mut self, stream_id: u64) {
        self.streams.remove(&stream_id);
    }

    /// Streams whose echo is waiting for the peer's acknowledgement.
    pub fn unacked(&self) -> &[u64] {
        &self.unacked
    }

    /// What to do with the connection now.
    pub fn action(&self) -> ConnAction {
        match &self.closing {
            Some((code, reason)) => ConnAction::Close {
                code: *code,
                reason: reason.clone(),
            },
            None => ConnAction::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(data: &[u8]) -> Verdict {
        Verdict::Echo {
            data: data.to_vec(),
            fin: true,
        }
    }

    #[test]
    fn nothing_is_echoed_before_fin_however_the_bytes_are_split() {
        let mut s = EchoStream::new(8192);
        for chunk in [&b"he"[..], b"l", b"", b"lo"] {
            assert_eq!(s.push(chunk, false), Verdict::Pending);
        }
        assert_eq!(s.push(b"!", true), echo(b"hello!"));
        assert_eq!(s.state(), &StreamState::Echoed);
        assert_eq!(s.push(b"late", true), Verdict::Ignored);
    }

    #[test]
    fn zero_bytes_then_fin_echoes_zero_bytes() {
        let mut s = EchoStream::new(8192);
        assert_eq!(s.push(b"", true), echo(b""));
    }

    #[test]
    fn exactly_the_limit_echoes_and_one_more_byte_refuses() {
        let mut ok = EchoStream::new(8192);
        assert_eq!(ok.push(&[0xff; 8192], true), echo(&[0xff; 8192]));

        let mut over = EchoStream::new(8192);
        assert_eq!(over.push(&[0; 8192], false), Verdict::Pending);
        assert_eq!(over.room(), 0);
        match over.push(&[0], false) {
            Verdict::Refuse { code, reason } => {
                assert_eq!(code, ERR_INPUT_TOO_LARGE);
                assert!(reason.contains("8192"), "{reason}");
            }
            v => panic!("expected a refusal, got {v:?}"),
        }
        assert_eq!(over.state(), &StreamState::Refused);
        assert_eq!(over.push(b"", true), Verdict::Ignored);
    }

    #[test]
    fn connection_closes_with_no_error_once_every_echo_is_acked() {
        let mut c = EchoConn::new(8192, false);
        assert_eq!(c.on_data(0, b"a", true), echo(b"a"));
        assert_eq!(c.on_data(4, b"b", true), echo(b"b"));
        assert_eq!(c.action(), ConnAction::None);
        c.on_echo_acked(0);
        assert_eq!(c.action(), ConnAction::None, "stream 4 still unacked");
        c.on_echo_acked(4);
        assert!(matches!(
            c.action(),
            ConnAction::Close { code: NO_ERROR, .. }
        ));
    }

    #[test]
    fn overflow_closes_the_connection_with_the_limit_code() {
        let mut c = EchoConn::new(4, false);
        assert!(matches!(
            c.on_data(0, b"12345", false),
            Verdict::Refuse { .. }
        ));
        match c.action() {
            ConnAction::Close { code, reason } => {
                assert_eq!(code, ERR_INPUT_TOO_LARGE);
                assert!(reason.contains("4-byte limit"));
            }
            a => panic!("expected close, got {a:?}"),
        }
    }

    #[test]
    fn keep_alive_never_closes_on_its_own() {
        let mut c = EchoConn::new(4, true);
        assert_eq!(c.on_data(0, b"ab", true), echo(b"ab"));
        c.on_echo_acked(0);
        assert!(matches!(
            c.on_data(4, b"12345", true),
            Verdict::Refuse { .. }
        ));
        assert_eq!(c.action(), ConnAction::None);
        assert_eq!(c.room(8), 4);
    }

    #[test]
    fn faults_change_the_verdicts_they_name() {
        let f = |faults| EchoStream::with_faults(4, faults);
        let mut early = f(Faults {
            echo_before_fin: true,
            ..Faults::default()
        });
        assert_eq!(
            early.push(b"ab", false),
            Verdict::Echo {
                data: b"ab".to_vec(),
                fin: false
            }
        );
        assert_eq!(early.push(b"c", true), echo(b"c"));
        let mut cut = f(Faults {
            truncate: true,
            ..Faults::default()
        });
        assert_eq!(cut.push(b"123456", false), echo(b"1234"));
        let mut rev = f(Faults {
            reverse: true,
            no_fin: true,
            ..Faults::default()
        });
        assert_eq!(
            rev.push(b"abc", true),
            Verdict::Echo {
                data: b"cba".to_vec(),
                fin: false
            }
        );
    }
}
