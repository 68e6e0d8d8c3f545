//! A P4Runtime client's TLS files (the devices' CA, our certificate and key), each with the
//! configuration key that named it: read when the configuration is built and again on SIGHUP
//! (`prescient run`), when the client's next connection presents what they then hold.

use std::path::PathBuf;

use prescient_southbound::p4runtime::ClientTls;

/// A file named by a configuration key (`p4runtime[0].tls_cert`, `p4runtime_tls.ca`, ...).
pub type Keyed = (String, PathBuf);

/// A file of a client's TLS that did not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {path:?}: {why}")]
pub struct ClientFileError {
    /// The configuration key naming the file.
    pub key: String,
    /// The file.
    pub path: PathBuf,
    /// Why it did not load.
    pub why: String,
}

/// Where one device's TLS material is, each file with the key that named it.
#[derive(Debug, Clone, PartialEq)]
pub struct P4TlsPaths {
    ca: Keyed,
    identity: Option<(Keyed, Keyed)>,
    server_name: Option<String>,
}

impl P4TlsPaths {
    /// The CA checking the device, our certificate and key when the device wants them, and
    /// the name its certificate carries when it is not its address's host.
    pub fn new(ca: Keyed, identity: Option<(Keyed, Keyed)>, server_name: Option<String>) -> Self {
        P4TlsPaths {
            ca,
            identity,
            server_name,
        }
    }

    /// Reads and checks the files: certificates that parse, a key that parses. The first that
    /// does not is named in the error.
    pub fn load(&self) -> Result<ClientTls, ClientFileError> {
        let refuse = |(key, path): &Keyed, why: String| ClientFileError {
            key: key.clone(),
            path: path.clone(),
            why,
        };
        let read = |file: &Keyed| std::fs::read(&file.1).map_err(|e| refuse(file, e.to_string()));
        super::read_certs(&self.ca.1).map_err(|e| refuse(&self.ca, e.to_string()))?;
        let identity = match &self.identity {
            Some((cert, key)) => {
                super::read_certs(&cert.1).map_err(|e| refuse(cert, e.to_string()))?;
                super::read_key(&key.1).map_err(|e| refuse(key, e.to_string()))?;
                Some((read(cert)?, read(key)?))
            }
            None => None,
        };
        Ok(ClientTls {
            ca_pem: read(&self.ca)?,
            identity,
            server_name: self.server_name.clone(),
        })
    }

    /// The file an operator rotates: our certificate when we present one, else the CA.
    pub fn rotated_file(&self) -> &std::path::Path {
        match &self.identity {
            Some(((_, cert), _)) => cert,
            None => &self.ca.1,
        }
    }
}
