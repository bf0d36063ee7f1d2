//! Certificate chain and private key loading, checked before listening.
//!
//! quiche hands the files to BoringSSL, which does not refuse a key that
//! belongs to another certificate; so we parse both first and compare the
//! leaf's public key with the key's, and report any problem as one line that
//! names the file.

use std::fmt;
use std::path::{Path, PathBuf};

/// A startup problem with the certificate or key files.
#[derive(Debug)]
pub struct TlsFileError {
    pub path: PathBuf,
    pub what: String,
}

impl fmt::Display for TlsFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.what)
    }
}

impl std::error::Error for TlsFileError {}

fn err(path: &Path, what: impl Into<String>) -> TlsFileError {
    TlsFileError {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

fn read_text(path: &Path, kind: &str) -> Result<String, TlsFileError> {
    let bytes = std::fs::read(path).map_err(|e| err(path, format!("cannot read {kind}: {e}")))?;
    String::from_utf8(bytes).map_err(|_| err(path, format!("{kind} is not PEM text")))
}

/// Reads the chain (leaf first) and the private key, and checks that the key
/// belongs to the leaf. Returns the number of certificates in the chain.
pub fn check_files(chain: &Path, key: &Path) -> Result<usize, TlsFileError> {
    let chain_pem = read_text(chain, "certificate chain")?;
    let mut leaf_key: Option<Vec<u8>> = None;
    let mut count = 0;
    for pem in x509_parser::pem::Pem::iter_from_buffer(chain_pem.as_bytes()) {
        let pem = pem.map_err(|e| err(chain, format!("bad PEM in certificate chain: {e}")))?;
        if pem.label != "CERTIFICATE" {
            continue;
        }
        let cert = pem.parse_x509().map_err(|e| {
            err(
                chain,
                format!("certificate {} does not parse: {e}", count + 1),
            )
        })?;
        if leaf_key.is_none() {
            leaf_key = Some(cert.public_key().subject_public_key.data.to_vec());
        }
        count += 1;
    }
    let leaf_key = leaf_key.ok_or_else(|| err(chain, "no CERTIFICATE block in chain file"))?;

    let key_pem = read_text(key, "private key")?;
    let pair = rcgen::KeyPair::from_pem(&key_pem).map_err(|e| {
        err(
            key,
            format!("not a usable PEM private key (PKCS#8 ECDSA, Ed25519 or RSA): {e}"),
        )
    })?;
    if pair.public_key_raw() != leaf_key.as_slice() {
        return Err(err(
            key,
            format!(
                "private key does not match the first certificate in {}",
                chain.display()
            ),
        ));
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn self_signed() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    #[test]
    fn matching_files_pass_and_mismatched_key_names_the_key_file() {
        let dir = std::env::temp_dir().join(format!("tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = self_signed();
        let (_, other_key) = self_signed();
        let chain = write(&dir, "chain.pem", &cert);
        let good = write(&dir, "key.pem", &key);
        let bad = write(&dir, "other.pem", &other_key);
        assert_eq!(check_files(&chain, &good).unwrap(), 1);
        let e = check_files(&chain, &bad).unwrap_err().to_string();
        assert!(
            e.contains("other.pem") && e.contains("does not match"),
            "{e}"
        );
        let e = check_files(&good, &good).unwrap_err().to_string();
        assert!(e.contains("no CERTIFICATE"), "{e}");
        let e = check_files(&dir.join("missing.pem"), &good)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("missing.pem: cannot read certificate chain"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
