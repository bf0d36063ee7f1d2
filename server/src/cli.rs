//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

const AFTER_HELP: &str = "\
Error codes this server sends:
  CONNECTION_CLOSE 0x178 (transport)   the client offered no ALPN we accept
                                       (TLS alert no_application_protocol)
  CONNECTION_CLOSE 0x0   (application) the echo and its FIN were acknowledged
  STOP_SENDING + RESET_STREAM 0x10,    a stream sent more than --max-input bytes;
  then CONNECTION_CLOSE 0x10 (app)     the reason names the limit (without
                                       --keep-alive the connection is closed)
  STOP_SENDING 0x11                    the client opened a unidirectional stream
  CONNECTION_CLOSE 0x2   (transport)   CONNECTION_REFUSED: --max-connections reached
  CONNECTION_CLOSE 0xb   (transport)   INVALID_TOKEN: a forged, expired or replayed Retry
                                       token (stateless, in an Initial)
  CONNECTION_CLOSE 0x0   (application) the server is shutting down (SIGINT/SIGTERM)

Once the socket is bound the server prints `listening on ADDR:PORT` on stdout.
Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) for more. SSLKEYLOGFILE is honoured.
Exit status: 0 after SIGINT/SIGTERM, 1 on a startup error.";

/// A QUIC echo server: reads each client stream until FIN, echoes the bytes
/// back with FIN, then closes the connection.
#[derive(Debug, Parser)]
#[command(name = "quic-echo-server", version, after_help = AFTER_HELP)]
pub struct Args {
    /// Address to listen on (IPv4 or IPv6); port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:4443")]
    pub listen: SocketAddr,

    /// PEM certificate chain, leaf first.
    #[arg(long, default_value = "certs/chain.pem")]
    pub cert: PathBuf,

    /// PEM private key (PKCS#8) matching the leaf certificate.
    #[arg(long, default_value = "certs/key.pem")]
    pub key: PathBuf,

    /// ALPN protocols accepted, comma separated; replaces the default list.
    #[arg(long, value_delimiter = ',', default_value = "http/1.0,hq-interop")]
    pub alpn: Vec<String>,

    /// Most bytes accepted on one stream before it is refused with 0x10.
    #[arg(long, default_value_t = 8192, value_parser = clap::value_parser!(u32).range(0..=16 * 1024 * 1024))]
    pub max_input: u32,

    /// Keep connections open after an echo, for more streams, until the
    /// client closes or the idle timeout fires.
    #[arg(long)]
    pub keep_alive: bool,

    /// Close a connection after this long without packets (e.g. 5s, 500ms).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Most connections held at once; beyond it clients get CONNECTION_REFUSED.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,

    /// Do not validate client addresses with a stateless Retry.
    #[arg(long)]
    pub no_retry: bool,

    /// How long a Retry token stays valid.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub token_lifetime: Duration,

    /// TLS key-exchange groups the server accepts, colon-separated
    /// (BoringSSL names). The default is the classical groups every QUIC
    /// stack offers (quinn's ring provider has nothing else), so a handshake
    /// costs what other servers' cost. Add X25519MLKEM768 for post-quantum
    /// key exchange: BoringSSL then follows the client's preference, and a
    /// client preferring it costs about 30% more CPU per handshake.
    #[arg(long, value_name = "LIST", default_value = "X25519:P-256:P-384")]
    pub groups: String,

    /// Write a qlog file per connection into this directory.
    #[arg(long, value_name = "DIR")]
    pub qlog_dir: Option<PathBuf>,

    /// Misbehave on purpose (test builds only), to prove checks can fail.
    #[cfg(feature = "faults")]
    #[arg(long, value_enum, hide = true)]
    pub fault: Vec<FaultArg>,

    /// Fault (test builds only): serve N connections, then exit when the
    /// next one arrives.
    #[cfg(feature = "faults")]
    #[arg(long, value_name = "N", hide = true)]
    pub fault_exit_after: Option<u64>,
}

/// Names for `--fault` (test builds only).
#[cfg(feature = "faults")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FaultArg {
    EchoBeforeFin,
    Truncate,
    NoFin,
    Reverse,
    CloseWithError,
    ExitOnOversize,
    AcceptAnyAlpn,
    Serial,
    SilentReject,
    NoVersionNegotiation,
    Amplify,
    SilentWhenFull,
    LaxTokens,
    ExitOnStreamlessClose,
    NeverAnswer,
    PinPeer,
    LanIdle,
    V4Only,
    ShortWrite,
    BlockingWrite,
    NoKeyUpdate,
    AesOnly,
    IdleIgnoresActivity,
    NoResumption,
    EarlyDataLost,
    ForbidMigration,
    NoIdleTimeout,
    NoStatelessReset,
    VolatileResetKey,
}

impl Args {
    /// The faults the flags ask for (always none without the `faults` feature).
    pub fn faults(&self) -> crate::faults::Faults {
        #[allow(unused_mut)]
        let mut f = crate::faults::Faults::default();
        #[cfg(feature = "faults")]
        for a in &self.fault {
            match a {
                FaultArg::EchoBeforeFin => f.echo_before_fin = true,
                FaultArg::Truncate => f.truncate = true,
                FaultArg::NoFin => f.no_fin = true,
                FaultArg::Reverse => f.reverse = true,
                FaultArg::CloseWithError => f.close_with_error = true,
                FaultArg::ExitOnOversize => f.exit_on_oversize = true,
                FaultArg::AcceptAnyAlpn => f.accept_any_alpn = true,
                FaultArg::Serial => f.serial = true,
                FaultArg::SilentReject => f.silent_reject = true,
                FaultArg::NoVersionNegotiation => f.no_version_negotiation = true,
                FaultArg::Amplify => f.amplify = true,
                FaultArg::SilentWhenFull => f.silent_when_full = true,
                FaultArg::LaxTokens => f.lax_tokens = true,
                FaultArg::ExitOnStreamlessClose => f.exit_on_streamless_close = true,
                FaultArg::NeverAnswer => f.never_answer = true,
                FaultArg::PinPeer => f.pin_peer = true,
                FaultArg::LanIdle => f.lan_idle = true,
                FaultArg::V4Only => f.v4_only = true,
                FaultArg::ShortWrite => f.short_write = true,
                FaultArg::BlockingWrite => f.blocking_write = true,
                FaultArg::NoKeyUpdate => f.no_key_update = true,
                FaultArg::AesOnly => f.aes_only = true,
                FaultArg::IdleIgnoresActivity => f.fixed_lifetime = Some(self.idle_timeout),
                FaultArg::NoResumption => f.no_resumption = true,
                FaultArg::EarlyDataLost => f.early_data_lost = true,
                FaultArg::ForbidMigration => f.forbid_migration = true,
                FaultArg::NoIdleTimeout => f.no_idle_timeout = true,
                FaultArg::NoStatelessReset => f.no_stateless_reset = true,
                FaultArg::VolatileResetKey => f.volatile_reset_key = true,
            }
        }
        #[cfg(feature = "faults")]
        {
            f.exit_after = self.fault_exit_after;
        }
        f
    }
}

impl Args {
    /// The endpoint's hooks: the correct ones, unless a test build's flags
    /// ask for faults.
    pub fn hooks(&self) -> Box<dyn crate::hooks::Hooks> {
        let faults = self.faults();
        if faults == crate::faults::Faults::default() {
            Box::new(crate::hooks::Correct)
        } else {
            Box::new(crate::faults::FaultHooks::new(faults))
        }
    }
}

/// Parses `250ms`, `5s` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 5s or 250ms"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        _ => Err(format!("`{s}`: unit must be ms or s")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_garbage() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("5m").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
