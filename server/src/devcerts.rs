//! The development PKI in `certs/`: a root CA, an intermediate CA and a
//! server leaf for `localhost`, `127.0.0.1` and `::1`, ECDSA P-256, valid
//! until 2100. Regenerate with `cargo run -p server --bin gen-dev-certs -- certs`.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The PEM texts of a generated development PKI.
pub struct DevPki {
    /// The root CA certificate clients trust (`ca.pem`).
    pub ca: String,
    /// Leaf then intermediate (`chain.pem`).
    pub chain: String,
    /// The leaf's PKCS#8 private key (`key.pem`).
    pub key: String,
}

fn ca_params(name: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = rcgen::date_time_ymd(2025, 1, 1);
    p.not_after = rcgen::date_time_ymd(2100, 1, 1);
    Ok(p)
}

/// Generates a fresh development PKI.
pub fn generate() -> Result<DevPki, rcgen::Error> {
    let root_key = KeyPair::generate()?;
    let root_params = ca_params("quic-echo development root CA")?;
    let root_cert = root_params.self_signed(&root_key)?;
    let root = Issuer::new(root_params, root_key);

    let int_key = KeyPair::generate()?;
    let int_params = ca_params("quic-echo development intermediate CA")?;
    let int_cert = int_params.signed_by(&int_key, &root)?;
    let intermediate = Issuer::new(int_params, int_key);

    let leaf_key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])?;
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = rcgen::date_time_ymd(2025, 1, 1);
    leaf.not_after = rcgen::date_time_ymd(2100, 1, 1);
    let leaf_cert = leaf.signed_by(&leaf_key, &intermediate)?;

    Ok(DevPki {
        ca: root_cert.pem(),
        chain: format!("{}{}", leaf_cert.pem(), int_cert.pem()),
        key: leaf_key.serialize_pem(),
    })
}

/// Writes `ca.pem`, `chain.pem` and `key.pem` into `dir`.
pub fn write(dir: &Path) -> Result<(), String> {
    let pki = generate().map_err(|e| format!("certificate generation failed: {e}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, text) in [
        ("ca.pem", &pki.ca),
        ("chain.pem", &pki.chain),
        ("key.pem", &pki.key),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
