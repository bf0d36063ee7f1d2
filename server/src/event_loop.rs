//! The mio event loop: the socket, signals and the clock around an
//! [`Endpoint`]. Sleeps until a datagram, a signal or the next quiche timer.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use quinn_udp::UdpSocketState;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::endpoint::{Endpoint, MAX_DATAGRAM};
use crate::udp::{Receiver, Sender};

const SOCKET: Token = Token(0);
const SIGNALS: Token = Token(1);

/// Requested socket receive and send buffer size.
const SOCKET_BUFFER: usize = 4 << 20;

/// How long open connections get to close after SIGINT/SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A bound socket with signal handlers installed, ready to serve.
pub struct Listener {
    poll: Poll,
    socket: UdpSocket,
    signals: Signals,
    local: SocketAddr,
}

impl Listener {
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let poll = Poll::new()?;
        let mut socket = UdpSocket::bind(addr)?;
        // Bursts of handshakes from many clients overflow the default
        // buffers (about 200 KiB) and turn into retransmission timeouts.
        // The kernel caps these at net.core.rmem_max / wmem_max.
        let s = socket2::SockRef::from(&socket);
        let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = s.set_send_buffer_size(SOCKET_BUFFER);
        let local = socket.local_addr()?;
        poll.registry()
            .register(&mut socket, SOCKET, Interest::READABLE)?;
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        Ok(Listener {
            poll,
            socket,
            signals,
            local,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Serves until SIGINT or SIGTERM, then closes connections and returns.
    pub fn run(mut self, mut endpoint: Endpoint) -> io::Result<()> {
        let mut events = Events::with_capacity(256);
        let udp = quinn_udp::UdpSocketState::new((&self.socket).into())?;
        let mut receiver = Receiver::new();
        let mut sender = Sender::new(MAX_DATAGRAM);
        let mut shutdown_by: Option<Instant> = None;
        loop {
            let timeout = endpoint
                .next_timeout()
                .map(|t| t.saturating_duration_since(Instant::now()));
            let timeout = match shutdown_by {
                Some(d) => Some(
                    timeout
                        .map_or(SHUTDOWN_GRACE, |t| t.min(SHUTDOWN_GRACE))
                        .min(d.saturating_duration_since(Instant::now())),
                ),
                None => timeout,
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for event in events.iter() {
                match event.token() {
                    SOCKET => loop {
                        let now = Instant::now();
                        match receiver
                            .recv(&udp, &self.socket, |d, from| endpoint.recv(d, from, now))
                        {
                            Ok(0) => break,
                            // Answers go out after each batch, not after
                            // the socket is empty: under load the clients
                            // then work while the server reads on.
                            Ok(_) => transmit(&mut endpoint, &mut sender, &udp, &self.socket),
                            Err(e) => {
                                log::debug!("recv: {e}");
                                break;
                            }
                        }
                    },
                    SIGNALS => {
                        for sig in self.signals.pending() {
                            log::info!(
                                "signal {sig}: closing {} connection(s)",
                                endpoint.connection_count()
                            );
                        }
                        if shutdown_by.is_none() {
                            shutdown_by = Some(Instant::now() + SHUTDOWN_GRACE);
                            endpoint.close_all();
                        }
                    }
                    _ => {}
                }
            }
            endpoint.on_timeout(Instant::now());
            transmit(&mut endpoint, &mut sender, &udp, &self.socket);
            if let Some(deadline) = shutdown_by {
                // Once every connection has sent its CONNECTION_CLOSE, their
                // draining periods are not waited out: leaving then only
                // risks a stateless reset for a late packet (§10.2).
                if endpoint.open_count() == 0 || Instant::now() >= deadline {
                    io::stdout().flush().ok();
                    return Ok(());
                }
            }
        }
    }
}

/// Sends every datagram the endpoint has ready, batched.
fn transmit(
    endpoint: &mut Endpoint,
    sender: &mut Sender,
    udp: &UdpSocketState,
    socket: &UdpSocket,
) {
    loop {
        let slot = sender.slot(udp, socket, MAX_DATAGRAM);
        let Some((n, to)) = endpoint.poll_transmit(slot) else {
            break;
        };
        sender.push(udp, socket, n, to);
    }
    sender.flush(udp, socket);
}
