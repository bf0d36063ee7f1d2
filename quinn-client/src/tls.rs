//! The rustls side: which certificates are trusted, which cipher suites
//! are offered, ALPN.

use std::sync::Arc;

use std::sync::atomic::{AtomicUsize, Ordering};

use echo_client::{ClientConfig, Plan, Trust};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, Resumption, WebPkiServerVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The TLS 1.3 suites rustls (ring) has, by IANA name, in the order the
/// load generator offers them unless told otherwise: quiche's client
/// (BoringSSL) order. rustls puts TLS_AES_256_GCM_SHA384 first, and servers
/// that follow the client's order then hash the transcript with SHA-384,
/// which has no instructions of its own on x86: 15% of the client's CPU in
/// a churn run, and more of the server's than a quiche client costs it.
pub const KNOWN_SUITES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// The suites named in `names`, or why one is unknown.
pub fn cipher_suites(names: &[String]) -> Result<Vec<rustls::SupportedCipherSuite>, String> {
    names
        .iter()
        .map(|n| {
            ring::ALL_CIPHER_SUITES
                .iter()
                .find(|s| s.tls13().is_some() && iana_name(s).as_deref() == Some(n.as_str()))
                .copied()
                .ok_or_else(|| {
                    format!(
                        "cipher suite {n} is not one rustls offers for QUIC (known: {})",
                        KNOWN_SUITES.join(", ")
                    )
                })
        })
        .collect()
}

/// A TLS 1.3 suite's IANA name (rustls says `TLS13_` where IANA says `TLS_`).
fn iana_name(s: &rustls::SupportedCipherSuite) -> Option<String> {
    let name = s.suite().as_str()?;
    Some(name.replacen("TLS13_", "TLS_", 1))
}

/// The certificate checks of one connection, counted by its verifier: none
/// means the handshake resumed a session (the server sent no certificate).
/// Connections that share a session store share the verifier (rustls
/// resumes a ticket only with the verifier that checked its certificate),
/// so this holds for connections made one after another.
#[derive(Debug, Clone)]
pub struct Verified {
    calls: Arc<AtomicUsize>,
    before: usize,
}

impl Verified {
    pub fn none(&self) -> bool {
        self.calls.load(Ordering::Acquire) == self.before
    }
}

/// What a session store holds for quinn: the tickets, and the verifier and
/// client-certificate resolver they were made with (rustls resumes a
/// ticket only with the very same two).
struct Store {
    cache: Arc<ClientSessionMemoryCache>,
    verifier: Arc<Counted>,
    no_client_cert: Arc<NoClientCert>,
}

/// This client never presents a certificate.
#[derive(Debug)]
struct NoClientCert;

impl rustls::client::ResolvesClientCert for NoClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

/// The rustls configuration for `cfg` and `plan` (TLS 1.3 only, its ALPN
/// list, its cipher suites, its trust, its session store and early data),
/// and the count of its certificate checks.
pub fn config(cfg: &ClientConfig, plan: &Plan) -> Result<(rustls::ClientConfig, Verified), String> {
    let mut provider = ring::default_provider();
    if let Some(names) = &cfg.ciphers {
        provider.cipher_suites = cipher_suites(names)?;
    }
    let provider = Arc::new(provider);
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("rustls: {e}"))?;
    let inner: Arc<dyn ServerCertVerifier> = match &cfg.trust {
        Trust::Nothing => Arc::new(NoCheck {
            provider: Arc::clone(&provider),
            signatures: true,
        }),
        trust => WebPkiServerVerifier::builder_with_provider(Arc::new(roots(trust)?), provider)
            .build()
            .map_err(|e| format!("rustls: {e}"))?,
    };
    let fresh = Arc::new(Counted {
        inner,
        calls: Arc::default(),
    });
    let (verifier, no_client_cert, resumption) = match &plan.sessions {
        Some(s) => {
            let store = s
                .store("quinn", || Store {
                    cache: Arc::new(ClientSessionMemoryCache::new(16)),
                    verifier: fresh,
                    no_client_cert: Arc::new(NoClientCert),
                })
                .ok_or("the session store holds something else")?;
            (
                Arc::clone(&store.verifier),
                Arc::clone(&store.no_client_cert),
                Resumption::store(store.cache.clone()),
            )
        }
        None => (fresh, Arc::new(NoClientCert), Resumption::disabled()),
    };
    let verified = Verified {
        calls: Arc::clone(&verifier.calls),
        before: verifier.calls.load(Ordering::Acquire),
    };
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(no_client_cert);
    config.alpn_protocols = cfg.alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    if let Some(out) = plan.recorder.as_ref().and_then(|r| r.0.keylog()) {
        config.key_log = Arc::new(KeyLogTo(std::sync::Mutex::new(out)));
    }
    config.resumption = resumption;
    config.enable_early_data = plan.early_data;
    Ok((config, verified))
}

/// TLS secrets in the NSS key log format, into the connection's evidence
/// (so its capture can be decrypted, as the native client's can).
struct KeyLogTo(std::sync::Mutex<Box<dyn std::io::Write + Send + Sync>>);

impl std::fmt::Debug for KeyLogTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyLogTo")
    }
}

impl rustls::KeyLog for KeyLogTo {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let line = format!("{label} {} {}\n", hex(client_random), hex(secret));
        let mut out = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Evidence only: a full or failed log costs the person debugging,
        // never the connection.
        let _ = out.write_all(line.as_bytes());
    }
}

/// A verifier that counts its certificate checks.
#[derive(Debug)]
struct Counted {
    inner: Arc<dyn ServerCertVerifier>,
    calls: Arc<AtomicUsize>,
}

impl ServerCertVerifier for Counted {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.calls.fetch_add(1, Ordering::AcqRel);
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The CA certificates `trust` names: a file, or the system's bundle (the
/// places OpenSSL would look, `SSL_CERT_FILE` and `SSL_CERT_DIR` first).
fn roots(trust: &Trust) -> Result<RootCertStore, String> {
    let mut files = Vec::new();
    match trust {
        Trust::CaFile(f) => files.push(f.clone()),
        Trust::SystemRoots => {
            let probe = openssl_probe::probe();
            files.extend(probe.cert_file);
            for dir in probe.cert_dir {
                if let Ok(entries) = std::fs::read_dir(dir) {
                    files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file()));
                }
            }
        }
        Trust::Nothing => {}
    }
    let mut store = RootCertStore::empty();
    for f in &files {
        let certs = CertificateDer::pem_file_iter(f)
            .map_err(|e| format!("{}: {e}", f.display()))?
            .flatten();
        let (added, _ignored) = store.add_parsable_certificates(certs);
        if added == 0 && matches!(trust, Trust::CaFile(_)) {
            return Err(format!("{}: no CA certificate in it", f.display()));
        }
    }
    Ok(store)
}

/// Accepts any certificate (`--insecure`, and the harness's own probes),
/// still checking that the handshake's signatures are sound unless
/// `signatures` is false (the load generator, whose connections prove
/// nothing but speed).
#[derive(Debug)]
struct NoCheck {
    provider: Arc<CryptoProvider>,
    signatures: bool,
}

impl ServerCertVerifier for NoCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if !self.signatures {
            return Ok(HandshakeSignatureValid::assertion());
        }
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if !self.signatures {
            return Ok(HandshakeSignatureValid::assertion());
        }
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The load generator's one X25519 key pair, made once per process.
fn kx_group() -> &'static dyn rustls::crypto::SupportedKxGroup {
    static GROUP: std::sync::OnceLock<crate::kx::ReusedX25519> = std::sync::OnceLock::new();
    GROUP.get_or_init(crate::kx::ReusedX25519::new)
}

/// The rustls configuration of the bench's load generator: `cfg`'s ALPN
/// list, TLS 1.3 with one X25519 key share, the same on every connection
/// ([`crate::kx`]), [`KNOWN_SUITES`], no resumption, and no certificate or signature check: the
/// bench measures the server's handshake, and checking its signature would
/// cost the client more than making it costs the server.
pub fn load_config(cfg: &ClientConfig) -> Result<rustls::ClientConfig, String> {
    let mut provider = ring::default_provider();
    provider.kx_groups = vec![kx_group()];
    let default_suites = KNOWN_SUITES.map(String::from);
    provider.cipher_suites = cipher_suites(cfg.ciphers.as_deref().unwrap_or(&default_suites))?;
    let provider = Arc::new(provider);
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("rustls: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoCheck {
            provider,
            signatures: false,
        }))
        .with_no_client_auth();
    config.alpn_protocols = cfg.alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    config.resumption = Resumption::disabled();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_by_name_and_a_clear_error_for_others() {
        let s = cipher_suites(&["TLS_CHACHA20_POLY1305_SHA256".into()]).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(
            iana_name(&s[0]).as_deref(),
            Some("TLS_CHACHA20_POLY1305_SHA256")
        );
        for name in KNOWN_SUITES {
            assert!(cipher_suites(&[name.into()]).is_ok(), "{name}");
        }
        let e = cipher_suites(&["TLS_RSA_WITH_NULL_SHA".into()]).unwrap_err();
        assert!(e.contains("known: TLS_AES_128_GCM_SHA256"), "{e}");
        let e = cipher_suites(&["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into()]).unwrap_err();
        assert!(e.contains("not one rustls offers for QUIC"), "{e}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("quinn-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("empty.pem");
        std::fs::write(&f, "not a certificate\n").unwrap();
        let e = roots(&Trust::CaFile(f.clone())).unwrap_err();
        assert!(e.contains("no CA certificate"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
