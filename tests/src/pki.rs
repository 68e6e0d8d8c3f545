//! Certificates for TLS tests, made by the `openssl` command line in the test's own directory:
//! a CA per call of [`Pki::new`] and leaves it signs for `localhost` and 127.0.0.1, usable as
//! server and as client certificates (P-256 keys, valid for two days); and the TLS settings of
//! clients and servers (rustls, tonic) built from them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use anyhow::{ensure, Context};
use prescient::tls::TlsFiles;
use prescient_southbound::p4runtime::ClientTls;

/// A certificate authority of the test's own.
pub struct Pki {
    dir: PathBuf,
    name: String,
}

impl Pki {
    /// A fresh CA named `name` (its files `NAME-ca.pem` and `NAME-ca.key` in `dir`).
    pub fn new(dir: &Path, name: &str) -> anyhow::Result<Pki> {
        let pki = Pki {
            dir: dir.to_owned(),
            name: name.to_owned(),
        };
        prescient_testkit::pki::self_signed(
            &format!("{name} test CA"),
            &[
                "basicConstraints=critical,CA:TRUE",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            &pki.ca(),
            Path::new(&pki.file("ca.key")),
        )?;
        Ok(pki)
    }

    /// The CA's certificate (PEM): what a client or server trusting this CA loads.
    pub fn ca(&self) -> PathBuf {
        PathBuf::from(self.file("ca.pem"))
    }

    /// A new key and a certificate this CA signed for `localhost` and 127.0.0.1 (`leaf` names
    /// the files).
    pub fn leaf(&self, leaf: &str) -> anyhow::Result<TlsFiles> {
        let key = self.file(&format!("{leaf}.key"));
        let csr = self.file(&format!("{leaf}.csr"));
        let cert = self.file(&format!("{leaf}.pem"));
        let ext = self.file(&format!("{leaf}.ext"));
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={leaf}"),
            "-keyout",
            &key,
            "-out",
            &csr,
        ])?;
        std::fs::write(
            &ext,
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .with_context(|| format!("writing {ext}"))?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &self.file("ca.pem"),
            "-CAkey",
            &self.file("ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ])?;
        Ok(TlsFiles {
            cert: cert.into(),
            key: key.into(),
        })
    }

    fn file(&self, what: &str) -> String {
        self.dir
            .join(format!("{}-{what}", self.name))
            .display()
            .to_string()
    }
}

fn openssl(args: &[&str]) -> anyhow::Result<()> {
    Ok(prescient_testkit::pki::openssl(args)?)
}

/// A TLS client configuration trusting only the CA certificate(s) in `ca` (the agent's).
pub fn client_trusting(ca: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    Ok(Arc::new(prescient::tls::client_config(ca)?))
}

/// tonic's server TLS as `leaf`; with `client_ca`, clients must present a certificate it signed.
pub fn grpc_server(
    leaf: &TlsFiles,
    client_ca: Option<&Path>,
) -> anyhow::Result<tonic::transport::ServerTlsConfig> {
    let identity = tonic::transport::Identity::from_pem(read(&leaf.cert)?, read(&leaf.key)?);
    let mut config = tonic::transport::ServerTlsConfig::new().identity(identity);
    if let Some(ca) = client_ca {
        config = config.client_ca_root(tonic::transport::Certificate::from_pem(read(ca)?));
    }
    Ok(config)
}

/// A P4Runtime client's TLS trusting `ca`, presenting `identity` when given.
pub fn p4_client(ca: &Path, identity: Option<&TlsFiles>) -> anyhow::Result<ClientTls> {
    let identity = match identity {
        Some(leaf) => Some((read(&leaf.cert)?, read(&leaf.key)?)),
        None => None,
    };
    Ok(ClientTls {
        ca_pem: read(ca)?,
        identity,
        server_name: None,
    })
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// A PKI made by Open vSwitch's `ovs-pki` (package openvswitch-common): a controller CA, whose
/// certificates switches trust, and a switch CA, whose certificates the controller trusts.
pub struct OvsPki {
    dir: PathBuf,
}

impl OvsPki {
    /// `ovs-pki init` in `dir` (created; its log goes there too).
    pub fn init(dir: &Path) -> anyhow::Result<OvsPki> {
        let pki = OvsPki {
            dir: dir.to_owned(),
        };
        pki.ovs_pki(dir.parent().unwrap_or(dir), &["init", "--force"])?;
        Ok(pki)
    }

    /// The controller CA's certificate (what `ovs-vsctl set-ssl` gives a switch to trust).
    pub fn controllerca(&self) -> PathBuf {
        self.dir.join("controllerca/cacert.pem")
    }

    /// The switch CA's certificate (what the controller checks switches against).
    pub fn switchca(&self) -> PathBuf {
        self.dir.join("switchca/cacert.pem")
    }

    /// `ovs-pki req+sign NAME KIND` in `out`: a key and a certificate the controller CA
    /// (`kind` "controller") or the switch CA ("switch") signed.
    pub fn req_sign(&self, out: &Path, name: &str, kind: &str) -> anyhow::Result<TlsFiles> {
        self.ovs_pki(out, &["req+sign", name, kind, "--force"])?;
        Ok(TlsFiles {
            cert: out.join(format!("{name}-cert.pem")),
            key: out.join(format!("{name}-privkey.pem")),
        })
    }

    fn ovs_pki(&self, cwd: &Path, args: &[&str]) -> anyhow::Result<()> {
        let dir = format!("--dir={}", self.dir.display());
        let log = format!("--log={}", self.dir.with_extension("log").display());
        let out = Command::new("ovs-pki")
            .args([dir.as_str(), log.as_str()])
            .args(args)
            .current_dir(cwd)
            .output()
            .context("running ovs-pki (package openvswitch-common)")?;
        ensure!(
            out.status.success(),
            "ovs-pki {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }
}
