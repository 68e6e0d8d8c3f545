//! The bare responder: the same sockets and framing as a controller, answering every PACKET_IN
//! with a fixed FLOW_MOD (and, when the switch kept no buffer, a PACKET_OUT with the packet)
//! without parsing the packet or deciding anything. Its figures are the machine's ceiling
//! against which the real controller is read.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use prescient_southbound::openflow::session::busy_poll;

use super::frames::{self, msg};

/// A running bare responder on its own OS thread.
pub struct BareResponder {
    addr: SocketAddr,
    cancel: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BareResponder {
    /// Starts listening on a free loopback port; its thread busy-polls for up to `busy_poll`
    /// (zero: never) like the generator's.
    pub fn start(busy_poll: std::time::Duration) -> anyhow::Result<Self> {
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").context("binding the bare responder")?;
        std_listener
            .set_nonblocking(true)
            .context("making the listener non-blocking")?;
        let addr = std_listener
            .local_addr()
            .context("reading the bare responder's address")?;
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let thread = std::thread::Builder::new()
            .name("of-bare".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!("bare responder runtime: {e}");
                        return;
                    }
                };
                rt.block_on(async move {
                    if !busy_poll.is_zero() {
                        tokio::spawn(busy_poll::run(busy_poll));
                    }
                    let listener = match TcpListener::from_std(std_listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("bare responder listener: {e}");
                            return;
                        }
                    };
                    loop {
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            accepted = listener.accept() => match accepted {
                                Ok((stream, _)) => {
                                    let stop = stop.clone();
                                    tokio::spawn(async move {
                                        tokio::select! {
                                            _ = stop.cancelled() => {}
                                            r = serve(stream) => if let Err(e) = r {
                                                tracing::debug!("bare responder connection: {e:#}");
                                            }
                                        }
                                    });
                                }
                                Err(e) => tracing::warn!("bare responder accept: {e}"),
                            }
                        }
                    }
                });
            })
            .context("spawning the bare responder thread")?;
        Ok(BareResponder {
            addr,
            cancel,
            thread: Some(thread),
        })
    }

    /// Address the responder listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for BareResponder {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(mut stream: TcpStream) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let template = frames::fixed_flow_mod(0, 0);
    let mut wbuf = frames::hello(1);
    frames::put_header(&mut wbuf, msg::FEATURES_REQUEST, frames::HEADER_LEN, 2);
    stream.write_all(&wbuf).await?;
    wbuf.clear();
    let mut rbuf = vec![0u8; 256 * 1024];
    let (mut start, mut end) = (0usize, 0usize);
    loop {
        if end == rbuf.len() {
            rbuf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        let n = stream.read(&mut rbuf[end..]).await?;
        if n == 0 {
            return Ok(());
        }
        busy_poll::note_work();
        end += n;
        while let Some((ty, len, xid)) = frames::peek(&rbuf[start..end]) {
            if len < frames::HEADER_LEN {
                anyhow::bail!("frame length {len} below the header");
            }
            if end - start < len {
                break;
            }
            match ty {
                msg::PACKET_IN => answer(&mut wbuf, &template, &rbuf[start..start + len]),
                msg::ECHO_REQUEST => {
                    let body = &rbuf[start + frames::HEADER_LEN..start + len];
                    wbuf.extend_from_slice(&frames::echo_body(xid, msg::ECHO_REPLY, body));
                }
                _ => {}
            }
            start += len;
        }
        if start == end {
            start = 0;
            end = 0;
        }
        if !wbuf.is_empty() {
            stream.write_all(&wbuf).await?;
            wbuf.clear();
        }
    }
}

/// Answers one PACKET_IN frame as any controller must, at least: hand the switch's buffer back
/// in a FLOW_MOD, or, when it kept none, send the packet back out in a PACKET_OUT after it.
fn answer(wbuf: &mut Vec<u8>, template: &[u8], packet_in: &[u8]) {
    let at = wbuf.len();
    wbuf.extend_from_slice(template);
    // PACKET_IN bytes 8..12 (buffer_id) → FLOW_MOD bytes 32..36.
    let buffer = packet_in.get(8..12).unwrap_or(&[0xff; 4]);
    if let Some(dst) = wbuf.get_mut(at + 32..at + 36) {
        dst.copy_from_slice(buffer);
    }
    if buffer != [0xff; 4] {
        return;
    }
    // OpenFlow 1.3.5 §7.4.1: the data follows the match (padded to 8) and 2 bytes of pad.
    let match_len = packet_in
        .get(26..28)
        .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    let data = packet_in
        .get(24 + match_len.div_ceil(8) * 8 + 2..)
        .unwrap_or(&[]);
    frames::put_header(
        wbuf,
        msg::PACKET_OUT,
        frames::HEADER_LEN + 16 + 16 + data.len(),
        0,
    );
    wbuf.extend_from_slice(&[0xff; 4]); // NO_BUFFER
    wbuf.extend_from_slice(&0xffff_fffdu32.to_be_bytes()); // in_port CONTROLLER
    wbuf.extend_from_slice(&16u16.to_be_bytes()); // actions_len
    wbuf.extend_from_slice(&[0; 6]);
    wbuf.extend_from_slice(&[0, 0, 0, 16, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 0, 0, 0]); // OUTPUT:1
    wbuf.extend_from_slice(data);
}
