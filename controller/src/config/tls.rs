//! The TLS keys of the configuration (`[http]`, `[openflow]`, `[[p4runtime]]`): paths only,
//! checked here to come in usable combinations; the files are read when the service starts.

use std::path::Path;

use super::services::Refusal;
use crate::tls::TlsFiles;

/// `SECTION.tls_cert` and `SECTION.tls_key`: both (TLS) or neither (none).
pub fn server_files(
    section: &str,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Option<TlsFiles>, Refusal> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
        })),
        (None, None) => Ok(None),
        (Some(cert), None) => Err((
            format!("{section}.tls_cert"),
            format!("{:?}", cert.display().to_string()),
            format!("needs {section}.tls_key, the certificate's private key"),
        )),
        (None, Some(key)) => Err((
            format!("{section}.tls_key"),
            format!("{:?}", key.display().to_string()),
            format!("needs {section}.tls_cert, the certificate the key belongs to"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn a_certificate_without_its_key_is_refused_by_name() {
        let err = Config::parse("[http]\ntls_cert = \"cert.pem\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("http.tls_cert") && err.contains("http.tls_key"),
            "{err}"
        );
        let text = "[http]\nlisten = \"0.0.0.0:8443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n";
        let service = Config::parse(text, "c.toml")
            .and_then(|c| c.service("c.toml"))
            .expect("valid");
        let files = service.http_tls.expect("TLS configured");
        assert_eq!(files.cert, std::path::Path::new("c.pem"));
        assert!(!service.allow_plaintext);
    }
}
