//! Just enough of the Chrome DevTools Protocol to drive headless Chromium from a test: start
//! the browser with `--remote-debugging-port=0`, find its page through the browser's own
//! DevTools socket (`Target.getTargets`), talk to the page over a WebSocket (tokio-tungstenite),
//! evaluate scripts, dispatch real mouse clicks and capture PNG screenshots.
//!
//! Test support only: errors are `anyhow`, and a browser that misbehaves fails the test.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Where Debian installs Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A headless Chromium and a connection to its first page.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    page: Page,
}

impl Browser {
    /// Starts Chromium (fresh profile, no network beyond what the page asks for).
    pub async fn launch(width: u32, height: u32) -> Result<Browser> {
        // A profile of its own: Chromium hands a second start with the same profile over to the
        // running browser and exits, which would cross two tests running side by side.
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let profile =
            std::env::temp_dir().join(format!("prescient-cdp-{}-{n}", std::process::id()));
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting chromium")?;
        let stderr = child.stderr.take().context("chromium stderr")?;
        let browser_url = tokio::time::timeout(Duration::from_secs(30), devtools_url(stderr))
            .await
            .context("chromium did not open DevTools in 30 s")??;
        let page = tokio::time::timeout(Duration::from_secs(30), first_page(&browser_url))
            .await
            .context("DevTools: finding the page")??;
        Ok(Browser {
            child,
            profile,
            page,
        })
    }

    /// The page.
    pub fn page(&mut self) -> &mut Page {
        &mut self.page
    }

    /// Stops the browser and removes its profile.
    pub async fn close(mut self) {
        let _ = self.page.call("Browser.close", json!({})).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Reads Chromium's stderr until it says where DevTools listen (the browser's WebSocket URL);
/// keeps draining it after.
async fn devtools_url(stderr: tokio::process::ChildStderr) -> Result<String> {
    let mut lines = BufReader::new(stderr).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(at) = line.find("ws://127.0.0.1:") {
            let url = line[at..].trim().to_string();
            // Chromium blocks once the pipe is full; keep reading it in the background.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok(url);
        }
    }
    bail!("chromium exited before opening DevTools")
}

/// The first page target, asked of the browser's socket; connected on its own socket.
async fn first_page(browser_url: &str) -> Result<Page> {
    let mut browser = Page::connect(browser_url).await?;
    let targets = browser.call("Target.getTargets", json!({})).await?;
    let id = targets["targetInfos"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["type"] == "page"))
        .and_then(|t| t["targetId"].as_str())
        .ok_or_else(|| anyhow!("no page target in {targets}"))?
        .to_string();
    let origin = browser_url
        .split("/devtools/")
        .next()
        .context("unexpected DevTools address")?;
    Page::connect(&format!("{origin}/devtools/page/{id}")).await
}

/// One DevTools session (the browser's or a page's).
pub struct Page {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Page {
    async fn connect(url: &str) -> Result<Page> {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .with_context(|| format!("WebSocket to {url}"))?;
        Ok(Page { socket, next_id: 1 })
    }

    /// Sends a command and waits for its answer (events in between are ignored).
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket.send(Message::text(msg)).await?;
        loop {
            let next = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .context("DevTools went silent for 30 s")?;
            let text = match next {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Close(_))) | None => bail!("DevTools closed the WebSocket"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
            };
            let v: Value = serde_json::from_str(text.as_str())?;
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    bail!("{method}: {e}");
                }
                return Ok(v["result"].clone());
            }
        }
    }

    /// Evaluates `expr` in the page and returns its value (promises awaited).
    pub async fn eval(&mut self, expr: &str) -> Result<Value> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if let Some(e) = r.get("exceptionDetails") {
            bail!("{expr}: {e}");
        }
        Ok(r["result"]["value"].clone())
    }

    /// Evaluates `expr` until it is true, for at most `limit`; a script error (say, the page
    /// still loading) counts as not yet.
    pub async fn wait_for(&mut self, expr: &str, limit: Duration) -> Result<()> {
        let start = tokio::time::Instant::now();
        loop {
            let last = match self.eval(expr).await {
                Ok(Value::Bool(true)) => return Ok(()),
                Ok(v) => format!("last value {v}"),
                Err(e) => format!("last error {e:#}"),
            };
            if start.elapsed() > limit {
                bail!("still not true after {limit:?}: {expr} ({last})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A left click at page coordinates, as a user's mouse makes it.
    pub async fn click(&mut self, x: f64, y: f64) -> Result<()> {
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await?;
        }
        Ok(())
    }

    /// Captures the whole page as PNG into `path`; returns its size in bytes.
    pub async fn screenshot(&mut self, path: &Path) -> Result<usize> {
        let r = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await?;
        let data = r["data"].as_str().context("no screenshot data")?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .context("screenshot data is not base64")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &png)?;
        Ok(png.len())
    }
}
