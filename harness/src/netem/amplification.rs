//! Anti-amplification, measured on the wire (sans-IO): per client, the
//! bytes the server received and sent before the client's address was
//! validated (RFC 9000 §8.1). The relay feeds it what it delivers to the
//! server and what the server sends, before any impairment.
//!
//! Only cleartext headers are read. The address counts as validated once
//! the server has been handed a Handshake packet from the client (only a
//! client that got the server's Initial can send one), or, after the server
//! sent a Retry, an Initial carrying a token.

use echo_client::initial::{packet_types, PacketType};
use serde::Serialize;

/// What the server sent a client before validating its address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Exposure {
    /// Which client (in order of first appearance at the relay).
    pub client: usize,
    /// Bytes of the client's datagrams handed to the server.
    pub received: u64,
    /// Bytes of the server's datagrams to that client.
    pub sent: u64,
}

impl Exposure {
    /// `sent / received`; infinite if the server sent to a silent client.
    pub fn factor(&self) -> f64 {
        if self.received == 0 {
            if self.sent == 0 {
                0.0
            } else {
                f64::INFINITY
            }
        } else {
            self.sent as f64 / self.received as f64
        }
    }
}

#[derive(Debug, Default)]
struct Client {
    exposure: Exposure,
    validated: bool,
    retried: bool,
}

#[derive(Debug, Default)]
pub struct Meter {
    clients: Vec<Client>,
}

impl Meter {
    fn client(&mut self, c: usize) -> &mut Client {
        if self.clients.len() <= c {
            self.clients.resize_with(c + 1, Client::default);
            for (i, cl) in self.clients.iter_mut().enumerate() {
                cl.exposure.client = i;
            }
        }
        &mut self.clients[c]
    }

    /// A datagram from client `c`, handed to the server.
    pub fn to_server(&mut self, c: usize, datagram: &[u8]) {
        let cl = self.client(c);
        if cl.validated {
            return;
        }
        let proves = packet_types(datagram).iter().any(|t| match t {
            PacketType::Handshake => true,
            PacketType::Initial { token_len } => cl.retried && *token_len > 0,
            _ => false,
        });
        if proves {
            cl.validated = true;
        } else {
            cl.exposure.received += datagram.len() as u64;
        }
    }

    /// A datagram the server sent to client `c`.
    pub fn from_server(&mut self, c: usize, datagram: &[u8]) {
        let cl = self.client(c);
        if cl.validated {
            return;
        }
        cl.exposure.sent += datagram.len() as u64;
        if packet_types(datagram).contains(&PacketType::Retry) {
            cl.retried = true;
        }
    }

    /// The client the server amplified most, if it sent anything unvalidated.
    pub fn worst(&self) -> Option<Exposure> {
        self.clients
            .iter()
            .map(|c| c.exposure)
            .filter(|e| e.sent > 0)
            .max_by(|a, b| a.factor().total_cmp(&b.factor()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use echo_client::initial::{put_varint, VERSION_1};

    fn long(ty: u8, token: &[u8], len: usize) -> Vec<u8> {
        let mut p = vec![0xc0 | (ty << 4)];
        p.extend_from_slice(&VERSION_1.to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        if ty == 0 {
            put_varint(&mut p, token.len() as u64);
            p.extend_from_slice(token);
        }
        let body = len - p.len() - 2;
        put_varint(&mut p, body as u64);
        p.resize(len, 0);
        p
    }

    const INITIAL: u8 = 0;
    const HANDSHAKE: u8 = 2;

    #[test]
    fn counts_until_the_client_sends_a_handshake_packet() {
        let mut m = Meter::default();
        m.to_server(0, &long(INITIAL, b"", 1200));
        m.from_server(0, &long(INITIAL, b"", 1200));
        m.from_server(0, &long(HANDSHAKE, b"", 1300));
        // Retransmissions before the client proves its address count.
        m.from_server(0, &long(HANDSHAKE, b"", 1100));
        m.to_server(0, &long(HANDSHAKE, b"", 100));
        // After it, nothing counts.
        m.from_server(0, &long(HANDSHAKE, b"", 9000));
        let w = m.worst().unwrap();
        assert_eq!((w.client, w.received, w.sent), (0, 1200, 3600));
        assert_eq!(w.factor(), 3.0);
    }

    #[test]
    fn a_token_after_a_retry_validates_but_a_token_alone_does_not() {
        let retry = {
            let mut r = vec![0xf0];
            r.extend_from_slice(&VERSION_1.to_be_bytes());
            r.extend_from_slice(&[0, 0]);
            r.resize(60, 7);
            r
        };
        let mut m = Meter::default();
        m.to_server(0, &long(INITIAL, b"forged", 1200));
        m.from_server(0, &long(INITIAL, b"", 1200));
        m.to_server(1, &long(INITIAL, b"", 1200));
        m.from_server(1, &retry);
        m.to_server(1, &long(INITIAL, b"real", 1200));
        m.from_server(1, &long(HANDSHAKE, b"", 5000));
        // Client 0's token came with no Retry before it: still counted.
        m.from_server(0, &long(HANDSHAKE, b"", 2700));
        let w = m.worst().unwrap();
        assert_eq!((w.client, w.received, w.sent), (0, 1200, 3900));
    }

    #[test]
    fn sending_to_a_client_that_sent_nothing_is_infinite() {
        let mut m = Meter::default();
        m.from_server(3, &[0x40; 50]);
        assert_eq!(m.worst().unwrap().factor(), f64::INFINITY);
        assert_eq!(Meter::default().worst(), None);
    }
}
