//! Active connection migration (RFC 9000 §9) for the quiche client: at a
//! moment of the plan it opens a second socket (a new port), gives the
//! server spare connection IDs of its own, probes the new path, and moves
//! the connection there once the server has validated it. Unless the
//! server forbids it (disable_active_migration, RFC 9000 §18.2).

use std::net::{SocketAddr, UdpSocket};

use crate::{Migration, Moment};

/// Spare connection IDs the client issues so the server can answer on a
/// new path.
const SPARE_CIDS: usize = 2;

pub(crate) struct Mover {
    when: Option<Moment>,
    /// The new socket, once the probe started.
    socket: Option<UdpSocket>,
    outcome: Option<Migration>,
}

impl Mover {
    pub(crate) fn new(when: Option<Moment>) -> Mover {
        Mover {
            when,
            socket: None,
            outcome: None,
        }
    }

    /// Whether the plan moves the connection to a new path.
    pub(crate) fn planned(&self) -> bool {
        self.when.is_some()
    }

    /// Whether a second socket is open (its datagrams must be read too).
    pub(crate) fn probing(&self) -> bool {
        self.socket.is_some()
    }

    /// Starts the move once its moment came: `written` bytes of the first
    /// stream are out, `echoed` when echoed bytes have arrived.
    pub(crate) fn step(
        &mut self,
        conn: &mut quiche::Connection,
        server: SocketAddr,
        written: usize,
        echoed: bool,
    ) {
        let Some(when) = self.when else { return };
        if !conn.is_established() || self.outcome.is_some() || self.socket.is_some() {
            return;
        }
        if !when.came(written, echoed) {
            return;
        }
        if conn
            .peer_transport_params()
            .is_some_and(|p| p.disable_active_migration)
        {
            self.outcome = Some(Migration::Forbidden);
            return;
        }
        self.outcome = self.probe(conn, server).err().map(Migration::Failed);
    }

    fn probe(&mut self, conn: &mut quiche::Connection, server: SocketAddr) -> Result<(), String> {
        let rng = ring::rand::SystemRandom::new();
        for _ in 0..SPARE_CIDS.min(conn.scids_left()) {
            let (mut id, mut token) = ([0u8; quiche::MAX_CONN_ID_LEN], [0u8; 16]);
            ring::rand::SecureRandom::fill(&rng, &mut id)
                .and_then(|_| ring::rand::SecureRandom::fill(&rng, &mut token))
                .map_err(|_| "system RNG failed".to_string())?;
            let id = quiche::ConnectionId::from_vec(id.to_vec());
            conn.new_scid(&id, u128::from_be_bytes(token), false)
                .map_err(|e| format!("cannot issue a connection ID: {e}"))?;
        }
        let socket = UdpSocket::bind(crate::any_port_for(server))
            .and_then(|s| s.connect(server).map(|_| s))
            .and_then(|s| s.set_nonblocking(true).map(|_| s))
            .map_err(|e| format!("cannot open a second socket: {e}"))?;
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        conn.probe_path(local, server).map_err(|e| match e {
            quiche::Error::OutOfIdentifiers => {
                "no spare connection ID from the server for a new path".to_string()
            }
            e => format!("cannot probe a new path: {e}"),
        })?;
        log::debug!("probing a new path from {local}");
        self.socket = Some(socket);
        Ok(())
    }

    /// Acts on path events: moves once the new path is validated.
    pub(crate) fn on_events(&mut self, conn: &mut quiche::Connection, server: SocketAddr) {
        let local = self.local();
        while let Some(event) = conn.path_event_next() {
            match event {
                quiche::PathEvent::Validated(from, _) if Some(from) == local => {
                    self.outcome = Some(match conn.migrate(from, server) {
                        Ok(_) => Migration::Done,
                        Err(e) => Migration::Failed(format!("cannot move to the new path: {e}")),
                    });
                }
                quiche::PathEvent::FailedValidation(from, _) if Some(from) == local => {
                    self.outcome = Some(Migration::Failed(
                        "the server never answered on the new path (validation failed)".into(),
                    ));
                }
                _ => {}
            }
        }
    }

    /// How the move went, once the connection is over.
    pub(crate) fn finish(self) -> Option<Migration> {
        match (self.outcome, self.socket) {
            (Some(m), _) => Some(m),
            (None, Some(_)) => Some(Migration::Failed(
                "the new path was still not validated when the connection ended".into(),
            )),
            (None, None) => None,
        }
    }

    fn local(&self) -> Option<SocketAddr> {
        self.socket.as_ref().and_then(|s| s.local_addr().ok())
    }

    /// The second socket when `from` is its address.
    pub(crate) fn socket_for(&self, from: SocketAddr) -> Option<&UdpSocket> {
        self.socket
            .as_ref()
            .filter(|s| s.local_addr().ok() == Some(from))
    }

    /// Hands every datagram queued on the second socket to `feed(data,
    /// from, to)`.
    pub(crate) fn drain(
        &self,
        buf: &mut [u8],
        mut feed: impl FnMut(&mut [u8], SocketAddr, SocketAddr),
    ) {
        let (Some(s), Some(to)) = (&self.socket, self.local()) else {
            return;
        };
        while let Ok((n, from)) = s.recv_from(buf) {
            feed(&mut buf[..n], from, to);
        }
    }
}
