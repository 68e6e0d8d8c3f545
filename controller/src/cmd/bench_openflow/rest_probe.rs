//! The REST side of `bench openflow --forecast-series N`: a client sends
//! `GET /api/v1/reservations` to the controller's own northbound API every [`EVERY`], over a
//! fresh loopback connection each time (as an orchestrator polling it would), and files each
//! call's latency by whether a control tick ran while it was in flight. The handler reads the
//! core under its lock and the bench holds no reservation, so the call costs next to nothing
//! but the wait for that lock: what it measures is how long an API call waits behind a tick.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::tick_split::TickSplit;
use crate::core::SharedCore;

/// Time between two calls' starts.
pub(super) const EVERY: Duration = Duration::from_millis(15);

/// The request: a read every client may make (reads need no token unless protected).
const REQUEST: &[u8] =
    b"GET /api/v1/reservations HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";

/// A call that takes longer than this failed (the controller is far behind, not slow).
const TIMEOUT: Duration = Duration::from_secs(10);

/// The calls made while one phase was measured (the failed ones: not answered `200 OK`:
/// refused, timed out, another status).
pub(super) type Probed = TickSplit;

/// The calls' lines of the text report, under `name`.
pub(super) fn print(calls: &Probed, name: &str) {
    let heading = format!(
        "REST GET /api/v1/reservations every {} ms, {name}",
        EVERY.as_millis()
    );
    calls.print(&heading, "calls", "failed");
}

/// A running client; [`Probe::stop`] ends it and returns its figures.
pub(super) struct Probe {
    done: Arc<AtomicBool>,
    thread: JoinHandle<Probed>,
}

impl Probe {
    /// Starts calling `addr` (the controller's HTTP address) every [`EVERY`].
    pub fn start(addr: SocketAddr, core: Arc<SharedCore>) -> Probe {
        let done = Arc::new(AtomicBool::new(false));
        let thread = {
            let done = done.clone();
            std::thread::spawn(move || probe(addr, &core, &done))
        };
        Probe { done, thread }
    }

    pub fn stop(self) -> anyhow::Result<Probed> {
        self.done.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the REST client panicked"))
    }
}

fn probe(addr: SocketAddr, core: &Arc<SharedCore>, done: &AtomicBool) -> Probed {
    let mut out = Probed::new();
    // One thread per call, sent on the clock whether the last one was answered or not: a
    // client waiting for each answer would make one call per tick it is stuck behind, and the
    // calls made during ticks would be too few to tell a p99 from a max.
    let (tx, rx) = std::sync::mpsc::channel();
    let mut calls = Vec::new();
    let mut next = Instant::now();
    while !done.load(Ordering::Relaxed) {
        let (core, tx) = (core.clone(), tx.clone());
        calls.push(std::thread::spawn(move || {
            let metrics = core.metrics();
            let ticks_before = metrics.ticks().count;
            let running_before = metrics.tick_running();
            let started = Instant::now();
            let answered = call(addr);
            let took = started.elapsed();
            let overlapped =
                running_before || metrics.tick_running() || metrics.ticks().count != ticks_before;
            let _ = tx.send((answered, took, overlapped));
        }));
        next += EVERY;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    drop(tx);
    for c in calls {
        let _ = c.join();
    }
    for (answered, took, overlapped) in rx {
        if !matches!(answered, Ok(true)) {
            out.failed += 1;
            continue;
        }
        let h = if overlapped {
            &mut out.during
        } else {
            &mut out.between
        };
        h.saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
    }
    out
}

/// One call; whether it was answered `200`.
fn call(addr: SocketAddr) -> std::io::Result<bool> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_nodelay(true)?;
    s.write_all(REQUEST)?;
    let mut response = Vec::new();
    s.read_to_end(&mut response)?;
    Ok(response.starts_with(b"HTTP/1.1 200"))
}
