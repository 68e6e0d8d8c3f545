//! A private etcd per test (Debian `etcd-server`), on loopback ports of its own in a temp
//! directory, killed and removed on drop; and a TCP proxy a test can cut, to take etcd away
//! from one node only.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::TempDir;

/// A free loopback port (bound and released: another process could take it first, which
/// the caller notices as a failed start).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding a probe port")?;
    Ok(l.local_addr()?.port())
}

/// A running etcd.
pub struct Etcd {
    child: Option<Child>,
    client: u16,
    peer: u16,
    dir: TempDir,
}

impl Etcd {
    /// Starts etcd in a fresh directory named after `tag`; returns once it answers.
    pub async fn start(tag: &str) -> anyhow::Result<Etcd> {
        let dir = TempDir::new(&format!("prescient-etcd-{tag}"))?;
        let mut etcd = Etcd {
            child: None,
            client: free_port()?,
            peer: free_port()?,
            dir,
        };
        etcd.spawn().await?;
        Ok(etcd)
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let client = format!("http://127.0.0.1:{}", self.client);
        let peer = format!("http://127.0.0.1:{}", self.peer);
        let log = std::fs::File::create(self.dir.path().join("etcd.log"))?;
        let child = Command::new("etcd")
            .args([
                "--name",
                "prescient-test",
                "--data-dir",
                &self.dir.path().join("data").display().to_string(),
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
                "--initial-cluster",
                &format!("prescient-test={peer}"),
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting etcd (Debian package etcd-server; scripts/setup installs it)")?;
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut c) = etcd_client::Client::connect([client.as_str()], None).await {
                if c.status().await.is_ok() {
                    return Ok(());
                }
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!("etcd at {client} did not answer in 20 s: {}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Its client URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client)
    }

    /// Its client address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.client))
    }

    /// A client.
    pub async fn client(&self) -> anyhow::Result<etcd_client::Client> {
        Ok(etcd_client::Client::connect([self.url()], None).await?)
    }

    /// The names of the services a cluster stored (the keys under `/prescient/v1/services/`).
    pub async fn service_names(&self) -> anyhow::Result<std::collections::BTreeSet<String>> {
        const PREFIX: &str = "/prescient/v1/services/";
        let only_keys = etcd_client::GetOptions::new()
            .with_prefix()
            .with_keys_only();
        let r = self.client().await?.get(PREFIX, Some(only_keys)).await?;
        r.kvs()
            .iter()
            .map(|k| Ok(k.key_str()?.trim_start_matches(PREFIX).to_string()))
            .collect()
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }

    /// Kills it (SIGKILL); its data stays for [`Etcd::restart`].
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same ports and data.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.spawn().await
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP proxy in front of one address; [`Proxy::cut`] drops every connection and refuses
/// new ones until [`Proxy::mend`].
pub struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    generation: Arc<std::sync::Mutex<CancellationToken>>,
    stop: CancellationToken,
}

impl Proxy {
    /// Starts forwarding a fresh loopback port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let cut = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(std::sync::Mutex::new(CancellationToken::new()));
        let stop = CancellationToken::new();
        let (c, g, s) = (cut.clone(), generation.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let conn = tokio::select! {
                    _ = s.cancelled() => return,
                    r = listener.accept() => r,
                };
                let Ok((mut down, _)) = conn else { continue };
                if c.load(Ordering::SeqCst) {
                    continue;
                }
                let token = g.lock().unwrap_or_else(|e| e.into_inner()).clone();
                tokio::spawn(async move {
                    let Ok(mut up) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                    }
                });
            }
        });
        Ok(Proxy {
            addr,
            cut,
            generation,
            stop,
        })
    }

    /// The URL to give a node.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        let mut g = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        g.cancel();
        *g = CancellationToken::new();
    }

    /// Forwards again.
    pub fn mend(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.cut();
    }
}
