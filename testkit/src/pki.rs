//! Certificates made by the `openssl` command line (package openssl), as an operator would
//! make them: P-256 keys, valid for two days.

use std::path::Path;
use std::process::Command;

/// An `openssl` run that did not succeed.
#[derive(Debug, thiserror::Error)]
#[error("openssl {args}: {why}")]
pub struct OpensslError {
    /// The arguments it was given.
    pub args: String,
    /// Its standard error, or why it did not start.
    pub why: String,
}

/// A self-signed certificate with subject `/CN=cn` and its key, written to `cert` and `key`;
/// each of `extensions` (`-addext` values, e.g. `subjectAltName=IP:127.0.0.1`) is added.
pub fn self_signed(
    cn: &str,
    extensions: &[&str],
    cert: &Path,
    key: &Path,
) -> Result<(), OpensslError> {
    let subject = format!("/CN={cn}");
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &subject,
    ];
    for ext in extensions {
        args.extend(["-addext", ext]);
    }
    let (key, cert) = (key.display().to_string(), cert.display().to_string());
    args.extend(["-keyout", &key, "-out", &cert]);
    openssl(&args)
}

/// Runs `openssl` with `args`.
pub fn openssl(args: &[&str]) -> Result<(), OpensslError> {
    let failed = |why: String| OpensslError {
        args: args.join(" "),
        why,
    };
    let out = Command::new("openssl")
        .args(args)
        .output()
        .map_err(|e| failed(format!("not started (package openssl): {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_names_its_subject_and_extensions() {
        let dir = std::env::temp_dir().join(format!("prescient-testkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (cert, key) = (dir.join("t.pem"), dir.join("t.key"));
        self_signed("testkit", &["subjectAltName=IP:127.0.0.1"], &cert, &key).expect("made");
        let text = Command::new("openssl")
            .args([
                "x509",
                "-noout",
                "-subject",
                "-ext",
                "subjectAltName",
                "-in",
            ])
            .arg(&cert)
            .output()
            .expect("openssl x509");
        let text = String::from_utf8_lossy(&text.stdout).to_string();
        assert!(text.contains("CN = testkit"), "{text}");
        assert!(text.contains("IP Address:127.0.0.1"), "{text}");
        let err = openssl(&["x509", "-in", "/nonexistent"]).expect_err("no such file");
        assert!(err.to_string().contains("/nonexistent"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
