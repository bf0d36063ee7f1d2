//! One connection on quinn carrying out a [`Plan`]: the handshake, a task
//! per stream (writer and reader apart, as the server may echo while the
//! client still writes), key updates at their moments, then the wait for
//! the server's close.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use echo_client::progress::{Leave, Next, Progress, StreamStatus};
use echo_client::{
    cancelled, AbortHow, Checkpoint, ClientConfig, Close, Fin, FinGate, GateTicket, Handshake,
    Moment, Observation, Plan, Reads, StreamObservation, StreamPlan,
};
use quinn::{Connection, ConnectionError, Endpoint, IdleTimeout, ReadError, RecvStream, VarInt};
use tokio::sync::watch;
use tokio::time::sleep;

/// How often the connection's wait looks at the clock, the cancel flag and
/// its streams.
const TICK: Duration = Duration::from_millis(10);

/// How long the readers may take to hand over what is buffered once the
/// connection is over.
const DRAIN: Duration = Duration::from_millis(100);

/// What the connection's tasks tell each other: bytes written on the first
/// stream, and whether any echoed byte has arrived.
#[derive(Debug, Clone, Copy, Default)]
struct Told {
    written: usize,
    echoed: bool,
}

/// One stream's observation and where its writer is.
#[derive(Debug, Default)]
struct StreamState {
    obs: StreamObservation,
    fin: Fin,
    /// Every chunk is written (and FIN, when planned).
    written: bool,
    aborted: bool,
    /// The reader saw the end: FIN, a reset, or the connection's end.
    read_done: bool,
}

impl StreamState {
    /// Where it stands, for the plan's [`Progress`] (the rule the native
    /// client follows too).
    fn status(&self) -> StreamStatus {
        StreamStatus {
            fin: self.fin,
            uni: self.obs.id & 0x2 != 0,
            written: self.written,
            aborted: self.aborted,
            fin_received: self.obs.fin_received,
            reset_received: self.obs.reset.is_some(),
            stop_sending_received: self.obs.stop_sending.is_some(),
        }
    }
}

type Shared = Arc<Mutex<StreamState>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, StreamState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn transport(cfg: &ClientConfig, plan: &Plan) -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(IdleTimeout::try_from(cfg.idle_timeout).ok());
    if let Some(w) = cfg.windows {
        // quinn's windows are fixed: never raised beyond these.
        let var = |v: u64| VarInt::from_u64(v).unwrap_or(VarInt::MAX);
        t.stream_receive_window(var(w.stream));
        t.receive_window(var(w.connection));
    }
    if let Some(every) = plan.keep_alive {
        t.keep_alive_interval(Some(every));
    } else if plan.fin_gate.is_some() {
        // Held at the gate, the connection is kept alive meanwhile.
        t.keep_alive_interval(Some(echo_client::GATE_KEEPALIVE));
    }
    t
}

/// Records how the connection ended, in the native client's terms: the
/// server's close, our own, an idle timeout or a stateless reset.
fn record_ending(observation: &mut Observation, e: Option<ConnectionError>) {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match e {
        Some(ConnectionError::ApplicationClosed(c)) => {
            observation.peer_close = Some(Close {
                app: true,
                code: c.error_code.into_inner(),
                reason: text(&c.reason),
            })
        }
        Some(ConnectionError::ConnectionClosed(c)) => {
            observation.peer_close = Some(Close {
                app: false,
                code: u64::from(c.error_code),
                reason: text(&c.reason),
            })
        }
        Some(ConnectionError::TransportError(t)) => {
            observation.local_close = Some(Close {
                app: false,
                code: u64::from(t.code),
                reason: t.reason,
            })
        }
        Some(ConnectionError::TimedOut) => observation.idle_timed_out = true,
        Some(ConnectionError::Reset) => observation.stateless_reset = true,
        _ => {}
    }
}

pub(crate) async fn run(
    server: SocketAddr,
    cfg: &ClientConfig,
    (tls, verified): (rustls::ClientConfig, crate::tls::Verified),
    plan: &Plan,
) -> Result<Observation, String> {
    if let Some(g) = &plan.start_gate {
        g.ready(echo_client::START_WAIT);
    }
    let (endpoint, connecting) = connect(server, cfg, tls, plan)?;
    // Timed from here, as the first datagram leaves: the endpoint's setup
    // is the harness's, not the server's doing.
    let start = Instant::now();
    let mut progress = Progress::new(plan, start);
    let deadline = progress.deadline();
    let mut ticket = GateTicket::new(plan.fin_gate.clone());
    let mut observation = Observation {
        started_at: Some(start),
        ..Observation::nothing()
    };
    let (progress_tx, _) = watch::channel(Told::default());
    let shared = Arc::new(progress_tx);

    // 0-RTT: the streams start at once, before the handshake completes.
    let (connecting, mut early) = match plan.early_data {
        true => match connecting.into_0rtt() {
            Ok((conn, accepted)) => {
                let states = spawn_streams(&conn, plan, &shared);
                (Err(conn), Some((accepted, states)))
            }
            // No session to resume: an ordinary handshake.
            Err(connecting) => (Ok(connecting), None),
        },
        false => (Ok(connecting), None),
    };

    // The handshake.
    let conn = match connecting {
        Ok(connecting) => wait_handshake(connecting, deadline, plan, &mut observation).await,
        Err(conn) => {
            let (accepted, _) = early.as_mut().expect("set with the connection");
            let accepted = wait(accepted, deadline, plan, &mut observation).await;
            observation.early_data_accepted = accepted;
            accepted.map(|_| conn)
        }
    };
    let Some(conn) = conn else {
        observation.elapsed = start.elapsed();
        return Ok(observation);
    };
    observation.resumed = Some(verified.none());
    established(&conn, start, plan, &mut observation);
    progress.established(observation.established_at.unwrap_or(start));
    ticket.arrive();

    // The streams (again, in 1-RTT, if the server turned 0-RTT down: what
    // was sent early is lost), and the key updates.
    let states = match early {
        Some((_, states)) if observation.early_data_accepted == Some(true) => states,
        _ => spawn_streams(&conn, plan, &shared),
    };
    key_updates(&conn, plan, &shared);
    until_done(&conn, &mut progress, plan, &states, &mut observation).await;
    end(&conn, &endpoint, &states, &mut observation).await;
    observation.elapsed = start.elapsed();
    Ok(observation)
}

/// A quinn endpoint on a free port and the connection to `server`.
fn connect(
    server: SocketAddr,
    cfg: &ClientConfig,
    tls: rustls::ClientConfig,
    plan: &Plan,
) -> Result<(Endpoint, quinn::Connecting), String> {
    let mut endpoint = Endpoint::client(echo_client::any_port_for(server))
        .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    // Initial packets are always protected with TLS_AES_128_GCM_SHA256
    // (RFC 9001 §5.2), whatever suites the ClientHello offers.
    let initial = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .and_then(|s| s.quic_suite())
        .ok_or("rustls has no QUIC Initial suite")?;
    let quic = quinn::crypto::rustls::QuicClientConfig::with_initial(Arc::new(tls), initial)
        .map_err(|e| format!("the TLS configuration does not fit QUIC: {e}"))?;
    let mut client = quinn::ClientConfig::new(Arc::new(quic));
    client.transport_config(Arc::new(transport(cfg, plan)));
    endpoint.set_default_client_config(client);
    let name = echo_client::ip_name(&cfg.server_name)
        .map_or_else(|| cfg.server_name.clone(), |ip| ip.to_string());
    let connecting = endpoint
        .connect(server, &name)
        .map_err(|e| format!("cannot connect to {server}: {e}"))?;
    Ok((endpoint, connecting))
}

/// The handshake completed: its ALPN and moment recorded, the caller told.
fn established(conn: &Connection, start: Instant, plan: &Plan, observation: &mut Observation) {
    let established = Instant::now();
    let alpn = conn
        .handshake_data()
        .and_then(|h| h.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|h| h.protocol)
        .map(|p| String::from_utf8_lossy(&p).into_owned())
        .unwrap_or_default();
    observation.handshake = Handshake::Completed {
        alpn,
        after: established - start,
    };
    observation.established_at = Some(established);
    if let Some(tx) = &plan.notify_established {
        let _ = tx.send(());
    }
}

/// A task per planned key update, each at its moment.
fn key_updates(conn: &Connection, plan: &Plan, shared: &Arc<watch::Sender<Told>>) {
    for moment in plan.key_updates.clone() {
        let (conn, mut seen) = (conn.clone(), shared.subscribe());
        tokio::spawn(async move {
            let due = seen.wait_for(|p| moment.came(p.written, p.echoed)).await;
            if due.is_ok() {
                log::debug!("key update at {moment:?}");
                conn.force_key_update();
            }
        });
    }
}

/// Until every stream is done (then the server's close is waited for), or
/// the plan stops, the deadline passes or the server is gone: the rule of
/// [`Progress`].
async fn until_done(
    conn: &Connection,
    progress: &mut Progress,
    plan: &Plan,
    states: &[Shared],
    observation: &mut Observation,
) {
    loop {
        let status: Vec<StreamStatus> = states.iter().map(|s| lock(s).status()).collect();
        let next = progress.poll(Instant::now(), Some(&status));
        if next == Next::Leave(Leave::Deadline) {
            observation.deadline_hit = true;
            return;
        }
        if next == Next::Leave(Leave::Stopped) || conn.close_reason().is_some() {
            return;
        }
        if cancelled(plan) {
            observation.abandoned = true;
            return;
        }
        if next == Next::Leave(Leave::Lingered) {
            return;
        }
        tokio::select! {
            _ = conn.closed() => {}
            _ = sleep(TICK) => {}
        }
    }
}

/// The end: what is buffered is still read once the connection is over;
/// our goodbye when nothing ended it; how it ended and every stream's
/// observation.
async fn end(
    conn: &Connection,
    endpoint: &Endpoint,
    states: &[Shared],
    observation: &mut Observation,
) {
    if conn.close_reason().is_some() {
        let until = Instant::now() + DRAIN;
        while Instant::now() < until && states.iter().any(|s| !lock(s).read_done) {
            sleep(Duration::from_millis(1)).await;
        }
    }
    let reason = conn.close_reason();
    if reason.is_none() && !observation.abandoned {
        conn.close(VarInt::from_u32(0), b"client done");
        // Long enough to send the close, not to wait out draining.
        let _ = tokio::time::timeout(Duration::from_millis(50), endpoint.wait_idle()).await;
    }
    record_ending(observation, reason);
    observation.streams = states
        .iter()
        .map(|s| {
            let mut o = lock(s).obs.clone();
            if !o.fin_sent {
                o.received_before_fin = o.received.len();
            }
            o
        })
        .collect();
}

/// A task per stream of the plan on `conn`; their shared states.
fn spawn_streams(
    conn: &Connection,
    plan: &Plan,
    progress: &Arc<watch::Sender<Told>>,
) -> Vec<Shared> {
    let mut states = Vec::new();
    for (i, sp) in plan.streams.iter().enumerate() {
        let state: Shared = Arc::new(Mutex::new(StreamState {
            fin: sp.fin,
            ..StreamState::default()
        }));
        states.push(Arc::clone(&state));
        let (conn, sp, progress) = (conn.clone(), sp.clone(), Arc::clone(progress));
        let (gate, reads) = (plan.fin_gate.clone(), plan.reads);
        let checkpoint = plan
            .checkpoint
            .clone()
            .filter(|_| i == 0)
            .map(|c| (c, plan.deadline));
        let hold = Hold { gate, checkpoint };
        tokio::spawn(stream(conn, sp, (i == 0, reads), state, progress, hold));
    }
    states
}

/// Waits for `fut` until the deadline or the cancel flag, which it records
/// in `observation` (then `None`).
async fn wait<F: std::future::Future + Unpin>(
    fut: &mut F,
    deadline: Instant,
    plan: &Plan,
    observation: &mut Observation,
) -> Option<F::Output> {
    loop {
        tokio::select! {
            r = &mut *fut => return Some(r),
            _ = sleep(TICK) => {
                if Instant::now() >= deadline {
                    observation.deadline_hit = true;
                    return None;
                }
                if cancelled(plan) {
                    observation.abandoned = true;
                    return None;
                }
            }
        }
    }
}

/// An ordinary handshake; `None` (recorded in `observation`) if it did not
/// complete.
async fn wait_handshake(
    connecting: quinn::Connecting,
    deadline: Instant,
    plan: &Plan,
    observation: &mut Observation,
) -> Option<Connection> {
    let mut connecting = connecting;
    match wait(&mut connecting, deadline, plan, observation).await? {
        Ok(c) => Some(c),
        Err(e) => {
            record_ending(observation, Some(e));
            None
        }
    }
}

/// What holds a stream's writer back: the FIN gate, and the plan's
/// checkpoint (first stream only) with the longest wait there.
struct Hold {
    gate: Option<FinGate>,
    checkpoint: Option<((Moment, Checkpoint), Duration)>,
}

/// Carries out one stream: the writer here, the reader in a task of its
/// own. Resolves once the writer is done (the reader goes on).
async fn stream(
    conn: Connection,
    sp: StreamPlan,
    (first, reads): (bool, Reads),
    state: Shared,
    progress: Arc<watch::Sender<Told>>,
    hold: Hold,
) {
    let Hold { gate, checkpoint } = hold;
    let Some((mut send, stop)) = open(&conn, &sp, reads, &state, &progress).await else {
        return;
    };
    let told = if first { Some(&*progress) } else { None };
    if !write_chunks(&mut send, &sp, &state, told, checkpoint).await {
        return;
    }
    if sp.fin != Fin::Never {
        // Held at the gate until every connection of the case is open.
        while gate.as_ref().is_some_and(|g| !g.is_open()) {
            sleep(echo_client::GATE_CHECK).await;
        }
        if send.finish().is_ok() {
            let mut s = lock(&state);
            s.obs.fin_sent = true;
            s.obs.fin_sent_at = Some(Instant::now());
            s.obs.received_before_fin = s.obs.received.len();
        }
    }
    lock(&state).written = true;
    let Some(abort) = sp.abort else {
        if sp.fin == Fin::Never {
            // quinn sends FIN for a send stream it drops: held until the end.
            conn.closed().await;
        }
        return;
    };
    sleep(abort.after).await;
    match abort.how {
        AbortHow::Reset(code) => {
            let _ = send.reset(VarInt::from_u64(code).unwrap_or(VarInt::MAX));
        }
        // The reader owns the receive side: it sends STOP_SENDING.
        AbortHow::StopSending(code) => {
            let _ = stop.send(Some(code));
        }
    }
    lock(&state).aborted = true;
}

/// Opens the stream, starts its reader (which sends STOP_SENDING when told
/// on the channel returned) and a watch for the server's STOP_SENDING.
async fn open(
    conn: &Connection,
    sp: &StreamPlan,
    reads: Reads,
    state: &Shared,
    progress: &Arc<watch::Sender<Told>>,
) -> Option<(quinn::SendStream, watch::Sender<Option<u64>>)> {
    let opened = if sp.uni {
        conn.open_uni().await.map(|s| (s, None))
    } else {
        conn.open_bi().await.map(|(s, r)| (s, Some(r)))
    };
    let Ok((send, recv)) = opened else {
        lock(state).read_done = true;
        return None;
    };
    lock(state).obs.id = u64::from(send.id());
    let (stop, stop_rx) = watch::channel(None);
    match recv {
        Some(recv) => {
            let (state, progress, conn) = (Arc::clone(state), Arc::clone(progress), conn.clone());
            tokio::spawn(read(recv, state, progress, reads, conn, stop_rx));
        }
        None => lock(state).read_done = true,
    }
    let stopped = send.stopped();
    let state = Arc::clone(state);
    tokio::spawn(async move {
        if let Ok(Some(code)) = stopped.await {
            lock(&state).obs.stop_sending = Some(code.into_inner());
        }
    });
    Some((send, stop))
}

/// Writes the chunks with their pauses, and waits `Fin::After`; the first
/// stream tells how much is written (`told`) and stops at the plan's
/// checkpoint. False when the stream could not be written.
async fn write_chunks(
    send: &mut quinn::SendStream,
    sp: &StreamPlan,
    state: &Shared,
    told: Option<&watch::Sender<Told>>,
    mut checkpoint: Option<((Moment, Checkpoint), Duration)>,
) -> bool {
    let last = sp.chunks.len().saturating_sub(1);
    for (i, chunk) in sp.chunks.iter().enumerate() {
        if send.write_all(&chunk.data).await.is_err() {
            return false;
        }
        let sent = {
            let mut s = lock(state);
            s.obs.sent += chunk.data.len();
            s.obs.sent
        };
        if let Some(t) = told {
            t.send_modify(|p| p.written = sent);
        }
        let due = |((when, _), _): &mut ((Moment, Checkpoint), Duration)| {
            told.is_some_and(|t| {
                let p = t.borrow();
                when.came(p.written, p.echoed)
            })
        };
        if let Some(((when, cp), within)) = checkpoint.take_if(due) {
            // Nothing more is written until released; the connection
            // itself goes on (acknowledgements, PINGs).
            log::debug!("at the checkpoint ({when:?})");
            let _ = tokio::task::spawn_blocking(move || cp.arrive(within)).await;
        }
        if i < last {
            sleep(chunk.pause_after).await;
        }
    }
    if let Fin::After(d) = sp.fin {
        sleep(d).await;
    }
    true
}

/// Reads the server's bytes as the plan says, recording them.
async fn read(
    mut recv: RecvStream,
    state: Shared,
    progress: Arc<watch::Sender<Told>>,
    reads: Reads,
    conn: Connection,
    mut stop: watch::Receiver<Option<u64>>,
) {
    if reads == Reads::Never {
        lock(&state).read_done = true;
        return;
    }
    loop {
        if let Reads::Every(d) = reads {
            if conn.close_reason().is_none() {
                sleep(d).await;
            }
        }
        let got = tokio::select! {
            got = recv.read_chunk(usize::MAX, true) => got,
            // (An error means the writer is gone without stopping it.)
            Ok(()) = stop.changed() => {
                let code = stop.borrow().unwrap_or(0);
                let _ = recv.stop(VarInt::from_u64(code).unwrap_or(VarInt::MAX));
                lock(&state).read_done = true;
                return;
            }
        };
        match got {
            Ok(Some(chunk)) => {
                let mut s = lock(&state);
                s.obs.received.extend_from_slice(&chunk.bytes);
                if !s.obs.fin_sent {
                    s.obs.received_before_fin = s.obs.received.len();
                }
                drop(s);
                progress.send_modify(|p| p.echoed = true);
            }
            Ok(None) => {
                let mut s = lock(&state);
                s.obs.fin_received = true;
                s.obs.fin_received_at = Some(Instant::now());
                s.obs.echo_time = s.obs.fin_sent_at.map(|t| t.elapsed());
                s.read_done = true;
                return;
            }
            Err(ReadError::Reset(code)) => {
                let mut s = lock(&state);
                s.obs.reset = Some(code.into_inner());
                s.read_done = true;
                return;
            }
            Err(_) => {
                lock(&state).read_done = true;
                return;
            }
        }
    }
}
