//! The frames of a decrypted packet payload (RFC 9000 §19, RFC 9221's
//! DATAGRAM, the ACK frequency extension's two), read into a summary: what
//! each frame says, without the stream bytes it carries.

use std::fmt;

use crate::reader::Reader;

/// One frame of a packet payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A run of PADDING frames, and how many bytes it took.
    Padding(usize),
    Ping,
    /// The acknowledged packet numbers as ranges, highest first.
    Ack {
        ranges: Vec<(u64, u64)>,
    },
    ResetStream {
        id: u64,
        code: u64,
        final_size: u64,
    },
    StopSending {
        id: u64,
        code: u64,
    },
    Crypto {
        offset: u64,
        data: Vec<u8>,
    },
    NewToken {
        len: usize,
    },
    Stream {
        id: u64,
        offset: u64,
        len: usize,
        fin: bool,
    },
    MaxData(u64),
    MaxStreamData {
        id: u64,
        max: u64,
    },
    MaxStreams {
        bidi: bool,
        max: u64,
    },
    DataBlocked(u64),
    StreamDataBlocked {
        id: u64,
        limit: u64,
    },
    StreamsBlocked {
        bidi: bool,
        limit: u64,
    },
    NewConnectionId {
        seq: u64,
        cid: Vec<u8>,
    },
    RetireConnectionId(u64),
    PathChallenge,
    PathResponse,
    Close {
        app: bool,
        code: u64,
        reason: String,
    },
    HandshakeDone,
    Datagram {
        len: usize,
    },
    /// ACK_FREQUENCY of the ACK frequency extension (draft-ietf-quic-ack-frequency).
    AckFrequency {
        threshold: u64,
        max_delay_us: u64,
    },
    /// IMMEDIATE_ACK of the same extension.
    ImmediateAck,
}

impl Frame {
    /// Whether an Initial packet may carry it (RFC 9000 §12.4, Table 3).
    pub fn allowed_in_initial(&self) -> bool {
        matches!(
            self,
            Frame::Padding(_)
                | Frame::Ping
                | Frame::Ack { .. }
                | Frame::Crypto { .. }
                | Frame::Close { app: false, .. }
        )
    }
}

/// Reads every frame of a decrypted payload; an unknown frame type or a
/// frame cut short is an error.
pub fn read_frames(buf: &[u8]) -> Result<Vec<Frame>, String> {
    let mut r = Reader::new(buf);
    let mut frames = Vec::new();
    while !r.rest().is_empty() {
        let ty = r.varint()?;
        let frame = match ty {
            0x00 => padding(&mut r),
            0x01 => Frame::Ping,
            0x02 | 0x03 => ack(&mut r, ty == 0x03)?,
            0x04 => Frame::ResetStream {
                id: r.varint()?,
                code: r.varint()?,
                final_size: r.varint()?,
            },
            0x05 => Frame::StopSending {
                id: r.varint()?,
                code: r.varint()?,
            },
            0x06 => {
                let offset = r.varint()?;
                let n = r.varint_len()?;
                Frame::Crypto {
                    offset,
                    data: r.bytes(n)?.to_vec(),
                }
            }
            0x07 => {
                let len = r.varint_len()?;
                r.bytes(len)?;
                Frame::NewToken { len }
            }
            0x08..=0x0f => stream(&mut r, ty as u8)?,
            0x10 => Frame::MaxData(r.varint()?),
            0x11 => Frame::MaxStreamData {
                id: r.varint()?,
                max: r.varint()?,
            },
            0x12 | 0x13 => Frame::MaxStreams {
                bidi: ty == 0x12,
                max: r.varint()?,
            },
            0x14 => Frame::DataBlocked(r.varint()?),
            0x15 => Frame::StreamDataBlocked {
                id: r.varint()?,
                limit: r.varint()?,
            },
            0x16 | 0x17 => Frame::StreamsBlocked {
                bidi: ty == 0x16,
                limit: r.varint()?,
            },
            0x18 => new_connection_id(&mut r)?,
            0x19 => Frame::RetireConnectionId(r.varint()?),
            0x1a | 0x1b => {
                r.bytes(8)?;
                match ty {
                    0x1a => Frame::PathChallenge,
                    _ => Frame::PathResponse,
                }
            }
            0x1c | 0x1d => close(&mut r, ty == 0x1d)?,
            0x1e => Frame::HandshakeDone,
            0x30 | 0x31 => {
                let len = match ty {
                    0x31 => r.varint_len()?,
                    _ => r.rest().len(),
                };
                r.bytes(len)?;
                Frame::Datagram { len }
            }
            0x1f => Frame::ImmediateAck,
            0xaf => {
                r.varint()?; // sequence number
                let threshold = r.varint()?;
                let max_delay_us = r.varint()?;
                r.varint()?; // reordering threshold
                Frame::AckFrequency {
                    threshold,
                    max_delay_us,
                }
            }
            other => return Err(format!("unknown frame type {other:#x}")),
        };
        frames.push(frame);
    }
    Ok(frames)
}

fn padding(r: &mut Reader<'_>) -> Frame {
    let n = r.rest().iter().take_while(|&&b| b == 0).count();
    r.pos += n;
    Frame::Padding(n + 1)
}

fn ack(r: &mut Reader<'_>, ecn: bool) -> Result<Frame, String> {
    let largest = r.varint()?;
    r.varint()?; // ACK delay
    let count = r.varint()?;
    let first = r.varint()?;
    let mut lo = largest
        .checked_sub(first)
        .ok_or("ACK range below packet number 0")?;
    let mut ranges = vec![(lo, largest)];
    for _ in 0..count {
        let gap = r.varint()?;
        let len = r.varint()?;
        let hi = lo
            .checked_sub(gap + 2)
            .ok_or("ACK range below packet number 0")?;
        lo = hi
            .checked_sub(len)
            .ok_or("ACK range below packet number 0")?;
        ranges.push((lo, hi));
    }
    if ecn {
        for _ in 0..3 {
            r.varint()?;
        }
    }
    Ok(Frame::Ack { ranges })
}

fn stream(r: &mut Reader<'_>, ty: u8) -> Result<Frame, String> {
    let id = r.varint()?;
    let offset = if ty & 0x04 != 0 { r.varint()? } else { 0 };
    let len = if ty & 0x02 != 0 {
        r.varint_len()?
    } else {
        r.rest().len()
    };
    r.bytes(len)?;
    Ok(Frame::Stream {
        id,
        offset,
        len,
        fin: ty & 0x01 != 0,
    })
}

fn new_connection_id(r: &mut Reader<'_>) -> Result<Frame, String> {
    let seq = r.varint()?;
    r.varint()?; // Retire Prior To
    let cid = r.cid()?.to_vec();
    r.bytes(16)?; // Stateless Reset Token
    Ok(Frame::NewConnectionId { seq, cid })
}

fn close(r: &mut Reader<'_>, app: bool) -> Result<Frame, String> {
    let code = r.varint()?;
    if !app {
        r.varint()?; // frame type that caused it
    }
    let n = r.varint_len()?;
    let reason = String::from_utf8_lossy(r.bytes(n)?).into_owned();
    Ok(Frame::Close { app, code, reason })
}

/// A frame in a few words, as a packet trace shows it.
impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Frame::Padding(n) => write!(f, "PADDING {n}"),
            Frame::Ping => write!(f, "PING"),
            Frame::Ack { ranges } => {
                let list: Vec<String> = ranges
                    .iter()
                    .map(|(lo, hi)| match lo == hi {
                        true => lo.to_string(),
                        false => format!("{lo}-{hi}"),
                    })
                    .collect();
                write!(f, "ACK {}", list.join(","))
            }
            Frame::ResetStream {
                id,
                code,
                final_size,
            } => write!(f, "RESET_STREAM {id} code {code:#x} final {final_size}"),
            Frame::StopSending { id, code } => write!(f, "STOP_SENDING {id} code {code:#x}"),
            Frame::Crypto { offset, data } => write!(f, "CRYPTO {offset}+{}", data.len()),
            Frame::NewToken { len } => write!(f, "NEW_TOKEN {len} B"),
            Frame::Stream {
                id,
                offset,
                len,
                fin,
            } => {
                let fin = if *fin { " FIN" } else { "" };
                write!(f, "STREAM {id} {offset}+{len}{fin}")
            }
            Frame::MaxData(m) => write!(f, "MAX_DATA {m}"),
            Frame::MaxStreamData { id, max } => write!(f, "MAX_STREAM_DATA {id} {max}"),
            Frame::MaxStreams { bidi, max } => write!(f, "MAX_STREAMS {} {max}", dir(*bidi)),
            Frame::DataBlocked(l) => write!(f, "DATA_BLOCKED {l}"),
            Frame::StreamDataBlocked { id, limit } => {
                write!(f, "STREAM_DATA_BLOCKED {id} {limit}")
            }
            Frame::StreamsBlocked { bidi, limit } => {
                write!(f, "STREAMS_BLOCKED {} {limit}", dir(*bidi))
            }
            Frame::NewConnectionId { seq, .. } => write!(f, "NEW_CONNECTION_ID {seq}"),
            Frame::RetireConnectionId(seq) => write!(f, "RETIRE_CONNECTION_ID {seq}"),
            Frame::PathChallenge => write!(f, "PATH_CHALLENGE"),
            Frame::PathResponse => write!(f, "PATH_RESPONSE"),
            Frame::Close { app, code, reason } => {
                let kind = if *app { "application" } else { "transport" };
                write!(f, "CONNECTION_CLOSE {kind} {code:#x}")?;
                if !reason.is_empty() {
                    write!(f, " {reason:?}")?;
                }
                Ok(())
            }
            Frame::HandshakeDone => write!(f, "HANDSHAKE_DONE"),
            Frame::Datagram { len } => write!(f, "DATAGRAM {len} B"),
            Frame::AckFrequency {
                threshold,
                max_delay_us,
            } => write!(f, "ACK_FREQUENCY {threshold} {max_delay_us} us"),
            Frame::ImmediateAck => write!(f, "IMMEDIATE_ACK"),
        }
    }
}

fn dir(bidi: bool) -> &'static str {
    if bidi {
        "bidi"
    } else {
        "uni"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::put_varint;

    fn bytes(parts: &[u64]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in parts {
            put_varint(&mut out, *p);
        }
        out
    }

    #[test]
    fn acks_become_ranges_highest_first() {
        // largest 10, delay 0, 1 more range, first range 2 (8-10), gap 1 len 1 (4-5).
        let frames = read_frames(&bytes(&[0x02, 10, 0, 1, 2, 1, 1])).unwrap();
        assert_eq!(
            frames,
            vec![Frame::Ack {
                ranges: vec![(8, 10), (4, 5)]
            }]
        );
        assert_eq!(frames[0].to_string(), "ACK 8-10,4-5");
        assert!(read_frames(&bytes(&[0x02, 1, 0, 0, 5])).is_err());
    }

    #[test]
    fn stream_frames_keep_offset_length_and_fin_not_bytes() {
        let mut buf = bytes(&[0x0f, 4, 100, 3]);
        buf.extend_from_slice(b"abc");
        buf.extend_from_slice(&bytes(&[0x08, 0]));
        buf.extend_from_slice(b"rest");
        let frames = read_frames(&buf).unwrap();
        assert_eq!(frames[0].to_string(), "STREAM 4 100+3 FIN");
        assert_eq!(frames[1].to_string(), "STREAM 0 0+4");
    }

    #[test]
    fn every_kind_of_frame_is_read_and_named() {
        let mut buf = bytes(&[0x01, 0x04, 0, 1, 5, 0x05, 0, 2, 0x10, 99, 0x1e]);
        buf.extend_from_slice(&bytes(&[0x18, 1, 0, 2, 7, 7]));
        buf.extend_from_slice(&[0; 16]);
        buf.extend_from_slice(&bytes(&[0x1a]));
        buf.extend_from_slice(&[1; 8]);
        buf.extend_from_slice(&bytes(&[0x1f, 0xaf, 0, 2, 25_000, 1]));
        buf.extend_from_slice(&bytes(&[0x1d, 0x100, 2]));
        buf.extend_from_slice(b"no");
        buf.extend_from_slice(&[0, 0, 0]);
        let names: Vec<String> = read_frames(&buf)
            .unwrap()
            .iter()
            .map(|f| f.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "PING",
                "RESET_STREAM 0 code 0x1 final 5",
                "STOP_SENDING 0 code 0x2",
                "MAX_DATA 99",
                "HANDSHAKE_DONE",
                "NEW_CONNECTION_ID 1",
                "PATH_CHALLENGE",
                "IMMEDIATE_ACK",
                "ACK_FREQUENCY 2 25000 us",
                "CONNECTION_CLOSE application 0x100 \"no\"",
                "PADDING 3",
            ]
        );
    }

    #[test]
    fn unknown_or_cut_frames_are_errors_not_panics() {
        assert!(read_frames(&bytes(&[0x40])).is_err());
        assert!(read_frames(&bytes(&[0x06, 0, 10])).is_err());
        assert!(read_frames(&[0x1a, 1, 2]).is_err());
    }
}
