//! Server TLS material that is re-read without a restart (`prescient run` on SIGHUP): the
//! certificate is handed to rustls per handshake by a resolver holding the current
//! [`CertifiedKey`], and the clients' CA by a verifier holding the current WebPKI verifier, each
//! swapped whole. A connection keeps what its handshake used; the next handshake sees the new.
//! P4Runtime clients' files are read into the settings their next connection uses.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use prescient_southbound::p4runtime::SharedTls;

use super::client::P4TlsPaths;
use super::{provider, read_certs, read_key, root_store, TlsError, TlsFiles};

/// The files of one TLS server and what was last read from them, shared with the rustls
/// configuration serving it.
#[derive(Debug, Clone)]
pub struct Reloadable {
    files: TlsFiles,
    client_ca: Option<PathBuf>,
    cert: Arc<CurrentCert>,
    clients: Option<Arc<CurrentVerifier>>,
}

/// The certificate and key every new handshake is served.
#[derive(Debug)]
struct CurrentCert(ArcSwap<CertifiedKey>);

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

/// The verifier of clients' certificates every new handshake uses.
#[derive(Debug)]
struct CurrentVerifier(ArcSwap<Arc<dyn ClientCertVerifier>>);

impl ClientCertVerifier for CurrentVerifier {
    fn offer_client_auth(&self) -> bool {
        self.0.load().offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.0.load().client_auth_mandatory()
    }

    /// No CA names are sent (a borrowed list cannot outlive a swap); TLS allows an empty list
    /// and clients (Open vSwitch's OpenSSL among them) then present the certificate they have.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0
            .load()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.load().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.load().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.load().supported_verify_schemes()
    }
}

/// The certificate chain and key of `files`, checked to belong together.
fn certified_key(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let certs = read_certs(&files.cert)?;
    let key = read_key(&files.key)?;
    CertifiedKey::from_der(certs, key, &provider()).map_err(|source| TlsError::Pair {
        cert: files.cert.clone(),
        key: files.key.clone(),
        source,
    })
}

/// A verifier requiring a client certificate that the CA(s) of `ca` signed.
fn client_verifier(ca: &Path) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let roots = root_store(ca)?;
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| TlsError::Ca {
            path: ca.to_owned(),
            why: e.to_string(),
        })
}

impl Reloadable {
    /// Reads `files` (and `client_ca`: clients must then present a certificate it signed) and
    /// builds the server configuration that serves whatever they last held (TLS 1.2 and 1.3;
    /// `alpn`: the application protocols offered, none for OpenFlow).
    pub fn load(
        files: &TlsFiles,
        client_ca: Option<&Path>,
        alpn: &[&[u8]],
    ) -> Result<(Reloadable, rustls::ServerConfig), TlsError> {
        let cert = Arc::new(CurrentCert(ArcSwap::from_pointee(certified_key(files)?)));
        let clients = match client_ca {
            Some(ca) => Some(Arc::new(CurrentVerifier(ArcSwap::from_pointee(
                client_verifier(ca)?,
            )))),
            None => None,
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Pair {
                cert: files.cert.clone(),
                key: files.key.clone(),
                source,
            })?;
        let builder = match &clients {
            Some(v) => builder.with_client_cert_verifier(v.clone()),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(cert.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let handle = Reloadable {
            files: files.clone(),
            client_ca: client_ca.map(Path::to_owned),
            cert,
            clients,
        };
        Ok((handle, config))
    }

    /// Reads the files again; new handshakes use them. All or nothing: when any file does not
    /// load, what was in force stays so and the error names the file.
    pub fn reload(&self) -> Result<(), TlsError> {
        let cert = certified_key(&self.files)?;
        let verifier = match &self.client_ca {
            Some(ca) => Some(client_verifier(ca)?),
            None => None,
        };
        self.cert.0.store(Arc::new(cert));
        if let (Some(current), Some(verifier)) = (&self.clients, verifier) {
            current.0.store(Arc::new(verifier));
        }
        Ok(())
    }

    /// The certificate file (for messages).
    pub fn cert_path(&self) -> &Path {
        &self.files.cert
    }
}

/// The TLS endpoints of a running controller re-read together: its servers, each named
/// ("REST API", "OpenFlow"), and its P4Runtime clients, named by device.
#[derive(Debug, Clone, Default)]
pub struct Servers {
    servers: Vec<(String, Reloadable)>,
    clients: Vec<(String, P4TlsPaths, SharedTls)>,
}

/// What one endpoint's re-read gave.
#[derive(Debug)]
pub struct Reloaded {
    /// Which endpoint ("REST API", "OpenFlow", "P4Runtime client of p4:1").
    pub server: String,
    /// Its certificate file (a client without a certificate of its own: its CA file).
    pub cert: PathBuf,
    /// `Err`: its files did not load and it keeps what it had.
    pub outcome: Result<(), TlsError>,
}

impl Servers {
    /// Adds `server`.
    pub fn push(&mut self, name: &str, server: Reloadable) {
        self.servers.push((name.to_string(), server));
    }

    /// Adds the P4Runtime client of device `device_id`, which connects with what `tls` holds;
    /// a re-read reads `files` into it (its next connection presents them).
    pub fn push_p4_client(&mut self, device_id: u64, files: P4TlsPaths, tls: SharedTls) {
        let name = format!("P4Runtime client of p4:{device_id}");
        self.clients.push((name, files, tls));
    }

    /// Re-reads every endpoint's files (each all or nothing).
    pub fn reload(&self) -> Vec<Reloaded> {
        let servers = self.servers.iter().map(|(server, r)| Reloaded {
            server: server.clone(),
            cert: r.cert_path().to_owned(),
            outcome: r.reload(),
        });
        let clients = self.clients.iter().map(|(client, files, tls)| Reloaded {
            server: client.clone(),
            cert: files.rotated_file().to_owned(),
            outcome: files
                .load()
                .map(|t| tls.replace(t))
                .map_err(|e| TlsError::File {
                    path: e.path,
                    why: format!("{}: {}", e.key, e.why),
                }),
        });
        servers.chain(clients).collect()
    }
}
