//! TLS material from PEM files (what `openssl req`, `ovs-pki` or a site CA writes), turned into
//! rustls server configurations with the ring provider: the REST API's and the OpenFlow
//! listener's. Every error names the file and why; servers' files are re-read on demand
//! ([`reload`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub mod client;
pub mod reload;

pub use reload::Reloadable;

/// Where a server's certificate chain and private key are (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A TLS server's files: its certificate and key, and the CA its clients' certificates must
/// chain to when clients must present one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// Our certificate chain and key.
    pub files: TlsFiles,
    /// With it, clients must present a certificate this CA signed (PEM).
    pub client_ca: Option<PathBuf>,
}

/// Why TLS could not be set up; names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {why}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// rustls refused the pair (a key that does not match the certificate, ...).
    #[error("certificate {cert} with key {key}: {source}")]
    Pair {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// rustls' reason.
        source: rustls::Error,
    },
    /// The CA file does not make a usable set of trust anchors.
    #[error("CA {path}: {why}")]
    Ca {
        /// The CA file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

fn file_error(path: &Path, why: impl ToString) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        why: why.to_string(),
    }
}

/// The one crypto provider of every TLS endpoint (ring: no C toolchain beyond `cc`, no cmake).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate of a PEM file, in order; an empty file is an error.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "no CERTIFICATE in it"));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_error(path, e))
}

/// The CA certificate(s) of the PEM file `ca`, as trust roots.
pub(crate) fn root_store(ca: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(ca)? {
        roots.add(cert).map_err(|e| TlsError::Ca {
            path: ca.to_owned(),
            why: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// A client configuration trusting only the CA certificate(s) in `ca` (TLS 1.2 and 1.3,
/// HTTP/1.1).
pub fn client_config(ca: &Path) -> Result<rustls::ClientConfig, TlsError> {
    let roots = root_store(ca)?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Ca {
            path: ca.to_owned(),
            why: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
