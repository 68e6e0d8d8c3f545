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

use hdrhistogram::Histogram;

use crate::core::SharedCore;

/// Time between two calls' starts.
pub(super) const EVERY: Duration = Duration::from_millis(15);

/// The request: a read every client may make (reads need no token unless protected).
const REQUEST: &[u8] =
    b"GET /api/v1/reservations HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";

/// A call that takes longer than this failed (the controller is far behind, not slow).
const TIMEOUT: Duration = Duration::from_secs(10);

/// The calls made while one phase was measured.
#[derive(Debug)]
pub(super) struct Probed {
    /// Latencies (nanoseconds) of calls a control tick overlapped: one ran when it was sent,
    /// when it was answered, or started and ended meanwhile.
    pub during: Histogram<u64>,
    /// Latencies of the others.
    pub between: Histogram<u64>,
    /// Calls not answered `200 OK` (refused, timed out, another status).
    pub failed: u64,
}

impl Probed {
    /// Count, p50, p99 and max in milliseconds of `h`.
    fn figures(h: &Histogram<u64>) -> (u64, f64, f64, f64) {
        let ms = |ns: u64| ns as f64 / 1e6;
        (
            h.len(),
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
        )
    }

    /// During a tick over between ticks, p50, p99 and max (0 when either side has no call).
    pub fn ratios(&self) -> [f64; 3] {
        let (nd, d50, d99, dmax) = Self::figures(&self.during);
        let (nb, b50, b99, bmax) = Self::figures(&self.between);
        if nd == 0 || nb == 0 {
            return [0.0; 3];
        }
        [d50 / b50, d99 / b99, dmax / bmax]
    }

    pub fn json(&self) -> serde_json::Value {
        let side = |h: &Histogram<u64>| {
            let (count, p50, p99, max) = Self::figures(h);
            serde_json::json!({ "count": count, "p50_ms": p50, "p99_ms": p99, "max_ms": max })
        };
        let [p50, p99, max] = self.ratios();
        serde_json::json!({
            "during_a_tick": side(&self.during),
            "between_ticks": side(&self.between),
            "failed": self.failed,
            "ratio_p50": p50,
            "ratio_p99": p99,
            "ratio_max": max,
        })
    }

    /// Three lines of the text report, under `name`.
    pub fn print(&self, name: &str) {
        println!(
            "  REST GET /api/v1/reservations every {} ms, {name}{}:",
            EVERY.as_millis(),
            if self.failed > 0 {
                format!(" ({} failed)", self.failed)
            } else {
                String::new()
            }
        );
        for (label, h) in [
            ("during a tick", &self.during),
            ("between ticks", &self.between),
        ] {
            let (n, p50, p99, max) = Self::figures(h);
            println!(
                "    {label:<20} {n:>6} calls   p50 {p50:>8.2} ms   p99 {p99:>8.2} ms   max {max:>8.2} ms"
            );
        }
        let [p50, p99, max] = self.ratios();
        println!(
            "    {:<20} {:>12}   p50 {p50:>7.2}x    p99 {p99:>7.2}x    max {max:>7.2}x",
            "during / between", ""
        );
    }
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
    // 1 us to 60 s at 3 digits: a call blocked behind the longest tick still fits.
    let histogram = || Histogram::new_with_bounds(1_000, 60_000_000_000, 3).expect("valid bounds");
    let mut out = Probed {
        during: histogram(),
        between: histogram(),
        failed: 0,
    };
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
