//! A packet for a connection ID the endpoint does not know: Version
//! Negotiation, a Retry, a token turned down, or a new connection.

use std::collections::HashMap;
use std::fs::File;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use quiche::ConnectionId;

use super::{Admit, Conn, Endpoint, MAX_DATAGRAM};
use crate::token::TokenError;

/// The IDs a connection is accepted with: its own, and the one the client
/// first chose when a Retry came between.
type Ids = (ConnectionId<'static>, Option<ConnectionId<'static>>);

impl Endpoint {
    /// Decides what to do with a packet for an unknown connection ID.
    pub(super) fn new_connection(
        &mut self,
        hdr: &quiche::Header<'_>,
        (from, len): (SocketAddr, usize),
        now: Instant,
    ) -> Admit {
        if let Some(answered) = self.cannot_start(hdr, from, len) {
            return answered;
        }
        let (scid, odcid) = match self.ids_for(hdr, from) {
            Ok(ids) => ids,
            Err(admit) => return admit,
        };
        if !self.opts.hooks.admit(self.conns.len() - self.draining) {
            self.counters.dropped += 1;
            return Admit::Drop;
        }
        let Some(q) = self.open(&scid, odcid.as_ref(), from) else {
            return Admit::Drop;
        };
        self.insert(q, scid, hdr, from, now)
    }

    /// A packet that cannot start a connection: Version Negotiation for an
    /// unknown version, nothing for the rest; `None` for a v1 Initial.
    fn cannot_start(
        &mut self,
        hdr: &quiche::Header<'_>,
        from: SocketAddr,
        len: usize,
    ) -> Option<Admit> {
        // A version we do not speak, in a datagram large enough to start a
        // connection (RFC 9000 §5.2.2, §6.1). Checked before the packet
        // type: quiche reads the type bits as version 1's, and they mean
        // nothing in another version (RFC 8999 §5.1; version 2's Initial
        // has version 1's 0-RTT bits, RFC 9369 §3.2).
        let long = !matches!(
            hdr.ty,
            quiche::Type::Short | quiche::Type::VersionNegotiation
        );
        let unknown = long && !quiche::version_is_supported(hdr.version);
        if unknown && len >= quic_wire::MIN_INITIAL_DATAGRAM {
            if !self.opts.hooks.negotiate_version() {
                self.counters.dropped += 1;
                return Some(Admit::Drop);
            }
            let mut out = vec![0; MAX_DATAGRAM];
            if let Ok(n) = quiche::negotiate_version(&hdr.scid, &hdr.dcid, &mut out) {
                out.truncate(n);
                self.stateless.push_back((out, from));
                self.counters.version_negotiations += 1;
            }
            return Some(Admit::Drop);
        }
        if unknown || hdr.ty != quiche::Type::Initial {
            self.counters.dropped += 1;
            return Some(Admit::Drop);
        }
        None
    }

    /// With Retry, a tokenless Initial gets one and a token must be ours,
    /// for this address and this ID; without, the ID is derived from the
    /// client's (and a repeated first Initial finds its connection).
    fn ids_for(&mut self, hdr: &quiche::Header<'_>, from: SocketAddr) -> Result<Ids, Admit> {
        let token = hdr.token.as_deref().unwrap_or_default();
        if self.opts.retry {
            if token.is_empty() {
                self.send_retry(hdr, from);
                return Err(Admit::Drop);
            }
            let checked = if self.opts.hooks.check_tokens() {
                self.tokens.validate(&from, token, SystemTime::now())
            } else {
                crate::token::unchecked_odcid(token).ok_or(TokenError::Malformed)
            };
            let odcid = match checked {
                Ok(odcid) => quiche::ConnectionId::from_vec(odcid.to_vec()),
                Err(e) => {
                    log::info!("peer={from} outcome=rejected reason=\"{e}\"");
                    self.counters.bad_tokens += 1;
                    return Err(Admit::BadToken);
                }
            };
            // The token must come back on the ID our Retry gave the client.
            if hdr.dcid != self.cids.derive(&odcid) {
                log::info!(
                    "peer={from} outcome=rejected reason=\"token for another connection ID\""
                );
                self.counters.bad_tokens += 1;
                return Err(Admit::BadToken);
            }
            Ok((hdr.dcid.clone().into_owned(), Some(odcid)))
        } else {
            let scid = self.cids.derive(&hdr.dcid);
            // A repeated first Initial, still on the client's chosen ID.
            if let Some(&k) = self.ids.get(&scid) {
                return Err(Admit::Conn(k, false));
            }
            Ok((scid, None))
        }
    }

    /// quiche's connection for a new client, with its key log and qlog.
    fn open(
        &mut self,
        scid: &ConnectionId<'static>,
        odcid: Option<&ConnectionId<'static>>,
        from: SocketAddr,
    ) -> Option<quiche::Connection> {
        self.opts.hooks.before_accept(&mut self.config);
        self.config
            .set_stateless_reset_token(Some(self.resets.token(scid)));
        let mut q = match quiche::accept(scid, odcid, self.local, from, &mut self.config) {
            Ok(q) => q,
            Err(e) => {
                log::debug!("{from}: accept failed: {e}");
                self.counters.dropped += 1;
                return None;
            }
        };

        if let Some(keylog) = &self.opts.keylog {
            if let Ok(f) = keylog.try_clone() {
                q.set_keylog(Box::new(f));
            }
        }
        if let Some(log) = self.opts.hooks.keylog(self.next_key) {
            q.set_keylog(log);
        }
        if let Some(dir) = &self.opts.qlog_dir {
            let path = dir.join(format!("{}.sqlog", q.trace_id()));
            match File::create(&path) {
                Ok(f) => q.set_qlog(
                    Box::new(std::io::BufWriter::new(f)),
                    "quic-echo-server".into(),
                    format!("connection from {from}"),
                ),
                Err(e) => log::warn!("cannot write qlog {}: {e}", path.display()),
            }
        }
        Some(q)
    }

    /// Routes the client's IDs to a new connection and keeps it.
    fn insert(
        &mut self,
        q: quiche::Connection,
        scid: ConnectionId<'static>,
        hdr: &quiche::Header<'_>,
        from: SocketAddr,
        now: Instant,
    ) -> Admit {
        self.opts.hooks.accepting(self.counters.accepted);
        let key = self.next_key;
        self.next_key += 1;
        let mut ids = vec![scid.clone()];
        if !self.opts.retry {
            ids.push(hdr.dcid.clone().into_owned());
        }
        for id in &ids {
            self.ids.insert(id.clone(), key);
        }
        self.conns.insert(
            key,
            Conn {
                q,
                app: self
                    .opts
                    .hooks
                    .echo(self.opts.max_input, self.opts.keep_alive),
                peer: from,
                started: now,
                heard: now,
                ids,
                pending: HashMap::new(),
                timer: None,
                dirty: false,
                draining: false,
                bytes_in: 0,
                bytes_out: 0,
                saw_stream: false,
                spare_issued: false,
                unvalidated: (!self.opts.retry).then_some((0, 0)),
            },
        );
        self.counters.accepted += 1;
        Admit::Conn(key, true)
    }

    /// Answers a short-header packet for a connection we do not know (one
    /// we forgot, or one of a process before a restart) with a stateless
    /// reset, so its client stops at once (RFC 9000 §10.3).
    pub(super) fn reset_unknown(&mut self, dcid: &[u8], len: usize, from: SocketAddr) {
        let reset = (self.opts.hooks.reset_unknown())
            .then(|| {
                self.resets
                    .reset(dcid, len, &ring::rand::SystemRandom::new())
            })
            .flatten();
        match reset {
            Some(r) => {
                log::debug!("{from}: packet for an unknown connection ID; stateless reset");
                self.stateless.push_back((r, from));
                self.counters.stateless_resets += 1;
            }
            None => self.counters.dropped += 1,
        }
    }

    fn send_retry(&mut self, hdr: &quiche::Header<'_>, from: SocketAddr) {
        let token = self.tokens.mint(&from, &hdr.dcid, SystemTime::now());
        let new_scid = self.cids.derive(&hdr.dcid);
        let mut out = vec![0; MAX_DATAGRAM];
        match quiche::retry(
            &hdr.scid,
            &hdr.dcid,
            &new_scid,
            &token,
            hdr.version,
            &mut out,
        ) {
            Ok(n) => {
                out.truncate(n);
                for _ in 1..self.opts.hooks.retry_copies() {
                    self.stateless.push_back((out.clone(), from));
                }
                self.stateless.push_back((out, from));
                self.counters.retries_sent += 1;
            }
            Err(e) => log::debug!("{from}: cannot build Retry: {e}"),
        }
    }
}
