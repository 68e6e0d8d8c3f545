//! Just enough of the Chrome DevTools Protocol to drive headless Chromium from a test: start
//! the browser with `--remote-debugging-port=0`, find its page over `/json/list`, talk to it
//! over a WebSocket (RFC 6455, client side: masked text frames out, reassembled frames in),
//! evaluate scripts, dispatch real mouse clicks and capture PNG screenshots.
//!
//! Test support only: errors are `anyhow`, and a browser that misbehaves fails the test.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

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
        let port = tokio::time::timeout(Duration::from_secs(30), devtools_port(stderr))
            .await
            .context("chromium did not open DevTools in 30 s")??;
        let limit = Duration::from_secs(30);
        let ws = tokio::time::timeout(limit, page_socket(port))
            .await
            .context("DevTools /json/list")??;
        let page = tokio::time::timeout(limit, Page::connect(port, &ws))
            .await
            .context("DevTools WebSocket handshake")??;
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

/// Reads Chromium's stderr until it says where DevTools listen; keeps draining it after.
async fn devtools_port(stderr: tokio::process::ChildStderr) -> Result<u16> {
    let mut lines = BufReader::new(stderr).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
            let port = rest
                .split('/')
                .next()
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| anyhow!("no port in {line:?}"))?;
            // Chromium blocks once the pipe is full; keep reading it in the background.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok(port);
        }
    }
    bail!("chromium exited before opening DevTools")
}

/// The WebSocket path of the first page, from `GET /json/list`.
async fn page_socket(port: u16) -> Result<String> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).await?;
    conn.write_all(
        format!("GET /json/list HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await?;
    // DevTools keeps the connection open whatever we ask: read exactly Content-Length bytes.
    let mut reply = Vec::new();
    let (head_end, len) = loop {
        if let Some(i) = reply.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&reply[..i]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .context("no Content-Length from DevTools")?;
            break (i + 4, len);
        }
        read_some(&mut conn, &mut reply).await?;
    };
    while reply.len() < head_end + len {
        read_some(&mut conn, &mut reply).await?;
    }
    let body = String::from_utf8_lossy(&reply[head_end..head_end + len]).to_string();
    let targets: Value = serde_json::from_str(&body).context("json/list")?;
    let ws = targets
        .as_array()
        .and_then(|t| t.iter().find(|t| t["type"] == "page"))
        .and_then(|t| t["webSocketDebuggerUrl"].as_str())
        .context("no page target")?;
    let path = ws
        .split_once(&format!("127.0.0.1:{port}"))
        .map(|(_, p)| p.to_string())
        .context("unexpected DevTools address")?;
    Ok(path)
}

async fn read_some(conn: &mut TcpStream, into: &mut Vec<u8>) -> Result<()> {
    let mut chunk = [0u8; 8192];
    let n = conn.read(&mut chunk).await?;
    if n == 0 {
        bail!("DevTools closed the connection");
    }
    into.extend_from_slice(&chunk[..n]);
    Ok(())
}

/// One page's DevTools session.
pub struct Page {
    stream: TcpStream,
    buf: Vec<u8>,
    next_id: u64,
}

impl Page {
    async fn connect(port: u16, path: &str) -> Result<Page> {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        // The key only has to be 16 random-looking bytes in base64; the test trusts its browser.
        stream
            .write_all(
                format!(
                    "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Key: cHJlc2NpZW50LXRlc3QtMQ==\r\n\
                     Sec-WebSocket-Version: 13\r\n\r\n"
                )
                .as_bytes(),
            )
            .await?;
        let mut buf = Vec::new();
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                bail!("DevTools closed during the WebSocket handshake");
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        if !head.starts_with("HTTP/1.1 101") {
            bail!("WebSocket upgrade refused: {head}");
        }
        buf.drain(..end);
        Ok(Page {
            stream,
            buf,
            next_id: 1,
        })
    }

    /// Sends a command and waits for its answer (events in between are ignored).
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.send_frame(msg.as_bytes()).await?;
        loop {
            let text = self.read_message().await?;
            let v: Value = serde_json::from_str(&text)?;
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
        let png = base64_decode(data)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &png)?;
        Ok(png.len())
    }

    async fn send_frame(&mut self, payload: &[u8]) -> Result<()> {
        // Client frames must be masked (RFC 6455 §5.3); any key will do.
        let mask = [0x5a, 0x17, 0xc3, 0x88];
        let mut frame = vec![0x81u8];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await?;
        Ok(())
    }

    async fn fill(&mut self, want: usize) -> Result<()> {
        while self.buf.len() < want {
            let mut chunk = vec![0u8; 64 * 1024];
            let n = tokio::time::timeout(Duration::from_secs(30), self.stream.read(&mut chunk))
                .await
                .context("DevTools went silent for 30 s")??;
            if n == 0 {
                bail!("DevTools closed the connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok(())
    }

    /// The next whole text message (fragments joined; pings answered).
    async fn read_message(&mut self) -> Result<String> {
        let mut message = Vec::new();
        loop {
            self.fill(2).await?;
            let (b0, b1) = (self.buf[0], self.buf[1]);
            let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0f);
            let (len, head) = match b1 & 0x7f {
                126 => {
                    self.fill(4).await?;
                    (
                        usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])),
                        4,
                    )
                }
                127 => {
                    self.fill(10).await?;
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&self.buf[2..10]);
                    (usize::try_from(u64::from_be_bytes(b))?, 10)
                }
                n => (usize::from(n), 2),
            };
            let masked = b1 & 0x80 != 0;
            let head = head + if masked { 4 } else { 0 };
            self.fill(head + len).await?;
            let mut payload: Vec<u8> = self.buf[head..head + len].to_vec();
            if masked {
                let key = [
                    self.buf[head - 4],
                    self.buf[head - 3],
                    self.buf[head - 2],
                    self.buf[head - 1],
                ];
                for (i, b) in payload.iter_mut().enumerate() {
                    *b ^= key[i % 4];
                }
            }
            self.buf.drain(..head + len);
            match opcode {
                0x0..=0x2 => {
                    message.extend_from_slice(&payload);
                    if fin {
                        return Ok(String::from_utf8(message)?);
                    }
                }
                0x8 => bail!("DevTools closed the WebSocket"),
                0x9 => {
                    let mut pong = vec![0x8a, 0x80 | payload.len().min(125) as u8, 0, 0, 0, 0];
                    pong.extend_from_slice(&payload[..payload.len().min(125)]);
                    self.stream.write_all(&pong).await?;
                }
                _ => {}
            }
        }
    }
}

/// Standard base64 (RFC 4648 §4) with padding, as DevTools sends binary data.
fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let value = |c: u8| -> Result<u32> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("not base64: {:?}", c as char),
        } as u32)
    };
    let bytes: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for quad in bytes.chunks(4) {
        let data: Vec<u8> = quad.iter().copied().filter(|&c| c != b'=').collect();
        let mut acc = 0u32;
        for &c in &data {
            acc = (acc << 6) | value(c)?;
        }
        acc <<= 6 * (4 - data.len() as u32);
        let n = data.len().saturating_sub(1);
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    Ok(out)
}

#[test]
fn base64_decodes_padded_text() {
    assert_eq!(base64_decode("aGVsbG8=").expect("b64"), b"hello");
    assert_eq!(base64_decode("aGVsbG8h").expect("b64"), b"hello!");
    assert_eq!(base64_decode("aGk=").expect("b64"), b"hi");
    assert_eq!(
        base64_decode("iVBORw0KGgo=").expect("b64"),
        b"\x89PNG\r\n\x1a\n"
    );
    assert!(base64_decode("a*==").is_err());
}
