//! Batched UDP I/O for the event loop, on `quinn-udp`: many datagrams per
//! system call each way (`recvmmsg`, and GRO where the kernel merges
//! datagrams from one sender), and the datagrams for one peer sent back to
//! back as one `sendmsg` with UDP GSO where the kernel has it.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use mio::net::UdpSocket;
use quinn_udp::{RecvMeta, Transmit, UdpSocketState, BATCH_SIZE};

/// One receive buffer: room for a GRO-merged train of datagrams.
const RECV_BUF: usize = 64 * 1024;

/// Receives datagrams in batches.
pub struct Receiver {
    bufs: Vec<Vec<u8>>,
    meta: Vec<RecvMeta>,
}

impl Default for Receiver {
    fn default() -> Self {
        Self::new()
    }
}

impl Receiver {
    pub fn new() -> Self {
        Receiver {
            bufs: vec![vec![0u8; RECV_BUF]; BATCH_SIZE],
            meta: vec![RecvMeta::default(); BATCH_SIZE],
        }
    }

    /// Reads one batch and hands each datagram to `each`; returns how many
    /// buffers were filled (0 when the socket had nothing).
    pub fn recv(
        &mut self,
        state: &UdpSocketState,
        socket: &UdpSocket,
        mut each: impl FnMut(&mut [u8], SocketAddr),
    ) -> io::Result<usize> {
        let mut slices: Vec<IoSliceMut<'_>> =
            self.bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let n = match state.recv(socket.into(), &mut slices, &mut self.meta) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) => return Err(e),
        };
        drop(slices);
        for (buf, meta) in self.bufs.iter_mut().zip(&self.meta).take(n) {
            let stride = meta.stride.max(1);
            for datagram in buf[..meta.len].chunks_mut(stride) {
                each(datagram, meta.addr);
            }
        }
        Ok(n)
    }
}

/// Gathers outgoing datagrams into runs for one peer (equal sizes, the last
/// possibly shorter: what GSO can send in one call) and sends each run.
pub struct Sender {
    buf: Vec<u8>,
    len: usize,
    segment: usize,
    count: usize,
    to: Option<SocketAddr>,
    /// The last datagram was shorter than the segment size: the run ends.
    closed: bool,
}

impl Sender {
    pub fn new(max_datagram: usize) -> Self {
        Sender {
            buf: vec![0u8; 64 * max_datagram],
            len: 0,
            segment: 0,
            count: 0,
            to: None,
            closed: false,
        }
    }

    /// Where the next datagram is to be written: room for `max` bytes after
    /// the current run (sending the run first if it is full).
    pub fn slot(&mut self, state: &UdpSocketState, socket: &UdpSocket, max: usize) -> &mut [u8] {
        let full = self.count >= state.max_gso_segments().min(64);
        if self.len + max > self.buf.len() || full || self.closed {
            self.flush(state, socket);
        }
        &mut self.buf[self.len..self.len + max]
    }

    /// The `n` bytes just written at [`Sender::slot`] go to `to`.
    pub fn push(&mut self, state: &UdpSocketState, socket: &UdpSocket, n: usize, to: SocketAddr) {
        let fits = self.count > 0 && self.to == Some(to) && n <= self.segment;
        if self.count > 0 && !fits {
            // Send the run before this datagram, then move it to the front.
            let start = self.len;
            self.flush(state, socket);
            self.buf.copy_within(start..start + n, 0);
        }
        if self.count == 0 {
            self.segment = n;
            self.to = Some(to);
        }
        self.closed = n < self.segment;
        self.len += n;
        self.count += 1;
    }

    /// Sends the current run, if any.
    pub fn flush(&mut self, state: &UdpSocketState, socket: &UdpSocket) {
        let (Some(to), true) = (self.to, self.count > 0) else {
            return;
        };
        let t = Transmit {
            destination: to,
            ecn: None,
            contents: &self.buf[..self.len],
            segment_size: (self.count > 1).then_some(self.segment),
            src_ip: None,
        };
        if let Err(e) = state.send(socket.into(), &t) {
            // UDP may drop; QUIC retransmits what mattered.
            log::debug!("send to {to}: {e}");
        }
        self.len = 0;
        self.count = 0;
        self.segment = 0;
        self.to = None;
        self.closed = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn bound() -> UdpSocket {
        UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap()
    }

    /// Runs of equal datagrams for one peer go out together, a shorter one
    /// ends its run, and every datagram arrives whole, in order, at its
    /// own peer.
    #[test]
    fn runs_split_by_peer_and_size_and_arrive_whole() {
        let out = bound();
        let (a, b) = (bound(), bound());
        let state = UdpSocketState::new((&out).into()).unwrap();
        let mut sender = Sender::new(1200);
        let plan: [(usize, &UdpSocket); 6] = [
            (1200, &a),
            (1200, &a),
            (500, &a),
            (1200, &a),
            (300, &b),
            (1200, &a),
        ];
        for (i, (n, to)) in plan.iter().enumerate() {
            let slot = sender.slot(&state, &out, 1200);
            slot[..*n].fill(i as u8);
            sender.push(&state, &out, *n, to.local_addr().unwrap());
        }
        sender.flush(&state, &out);

        for (sock, want) in [
            (
                &a,
                vec![(1200, 0), (1200, 1), (500, 2), (1200, 3), (1200, 5)],
            ),
            (&b, vec![(300, 4)]),
        ] {
            let rs = UdpSocketState::new(sock.into()).unwrap();
            let mut r = Receiver::new();
            let mut got = Vec::new();
            let until = Instant::now() + Duration::from_secs(5);
            while got.len() < want.len() && Instant::now() < until {
                r.recv(&rs, sock, |d, from| {
                    assert_eq!(from, out.local_addr().unwrap());
                    assert!(d.iter().all(|&x| x == d[0]));
                    got.push((d.len(), d[0] as usize));
                })
                .unwrap();
            }
            assert_eq!(got, want);
        }
    }
}
