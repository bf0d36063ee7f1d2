//! The one certificate check BoringSSL leaves to us: a server reached by
//! IP address must have that address in its certificate (RFC 6125 §6.2.1
//! with RFC 5280's iPAddress names). quiche hands BoringSSL only host
//! names to check, and an IP address is never sent as SNI.

use rustls_pki_types::{CertificateDer, ServerName};

use crate::{ip_name, ClientConfig};

/// TLS alert bad_certificate (42) as a QUIC CRYPTO_ERROR (RFC 9001 §4.8):
/// what BoringSSL sends for a chain it rejects.
pub(crate) const BAD_CERTIFICATE: u64 = 0x100 + 42;

/// Why the server's certificate does not name the IP address the client
/// was told to check, if the client checks at all and the name is one.
pub(crate) fn wrong_ip(conn: &quiche::Connection, cfg: &ClientConfig) -> Option<String> {
    let ip = ip_name(&cfg.server_name).filter(|_| cfg.trust.verifies())?;
    let Some(der) = conn.peer_cert() else {
        return Some("the server sent no certificate".into());
    };
    not_valid_for(der, ip)
}

/// Why the DER certificate `der` is not valid for `ip`, or `None`.
pub(crate) fn not_valid_for(der: &[u8], ip: std::net::IpAddr) -> Option<String> {
    let der = CertificateDer::from(der);
    let cert = match webpki::EndEntityCert::try_from(&der) {
        Ok(c) => c,
        Err(e) => return Some(format!("the server's certificate cannot be parsed: {e}")),
    };
    cert.verify_is_valid_for_subject_name(&ServerName::IpAddress(ip.into()))
        .err()
        .map(|e| format!("the server's certificate is not valid for {ip}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_for(names: &[&str]) -> Vec<u8> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(names).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn an_ip_is_checked_against_the_certificates_ip_addresses() {
        let der = cert_for(&["localhost", "127.0.0.1", "::1"]);
        assert_eq!(not_valid_for(&der, "127.0.0.1".parse().unwrap()), None);
        assert_eq!(not_valid_for(&der, "::1".parse().unwrap()), None);
        let other = not_valid_for(&der, "127.0.0.2".parse().unwrap()).unwrap();
        assert!(other.contains("not valid for 127.0.0.2"), "{other}");
        // A DNS name that spells the address is no IP address name.
        let dns_only = cert_for(&["localhost"]);
        assert!(not_valid_for(&dns_only, "127.0.0.1".parse().unwrap()).is_some());
    }

    #[test]
    fn ip_names_are_never_sent_as_sni() {
        assert_eq!(crate::sni("127.0.0.1"), None);
        assert_eq!(crate::sni("[::1]"), None);
        assert_eq!(crate::sni("::1"), None);
        assert_eq!(crate::sni("echo.example"), Some("echo.example"));
        assert_eq!(crate::sni(""), None);
    }
}
