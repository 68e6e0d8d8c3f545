//! `prescient bench openflow --forecast-series N`: packet-ins answered by the whole controller
//! (the service `prescient run` starts, in this process) first with nothing to forecast, then
//! while its control tick forecasts N host-pair series, fed as flow counters every second the
//! way a network's flow statistics feed it. Both runs, and each figure's ratio (forecasting /
//! none), come out of one command, so a change to how the round shares the cores shows up as
//! one number.
//!
//! The series are host pairs because a pair needs only its flow counters: link series would
//! need thousands of switches, whose own sessions and polls would load the controller too and
//! blur what the round alone costs the packet-in path.
//!
//! Meanwhile a client calls the controller's REST API every few milliseconds (`rest_probe.rs`)
//! and files each call by whether a tick overlapped it, in both runs and for as long again
//! with the series but no packet-ins: how long an orchestrator's call waits behind a tick.
//!
//! Last, with the series but no packet-ins, links of an emulated ring are cut one after
//! another (`failover_probe.rs`): how long a failure waits for the driver loop behind a tick.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use prescient_topology::{DeviceId, FlowKey, MacAddr};
use tokio_util::sync::CancellationToken;

use super::failover_probe::{self, Cuts};
use super::rest_probe::{self, Probe, Probed};
use super::Args;
use crate::core::SharedCore;
use crate::openflow_app::bench::loadgen::{run_load, During, LoadConfig, LoadReport};
use crate::service::{Service, ServiceConfig};

/// The datapath id the fed flow counters name: none of the generator's switches has it.
const FEED_DPID: u64 = 0xfeed_0000_0000;

/// Longest wait for every series to exist and the forecast stride to settle.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Ticks in a row at one stride before the loaded run starts: the stride governor has settled.
const SETTLED_TICKS: usize = 5;

/// What the control tick did while one run was measured.
#[derive(Debug, Clone, serde::Serialize)]
struct Ticks {
    series: usize,
    compact: usize,
    stride: u32,
    ticks: usize,
    mean_ms: f64,
    max_ms: f64,
    /// Of a tick, observing and forecasting the series due (mean).
    forecast_mean_ms: f64,
}

/// One run: the generator's figures and the ticks meanwhile.
struct Run {
    load: LoadReport,
    ticks: Ticks,
    rest: Probed,
}

impl Run {
    fn max_us(&self) -> f64 {
        self.load.latency_ns.max() as f64 / 1000.0
    }

    /// Answers read while a tick ran: how many, p50, p99, max (microseconds).
    fn during_tick(&self) -> (u64, f64, f64, f64) {
        let h = &self.load.latency_during_ns;
        let us = |ns: u64| ns as f64 / 1000.0;
        (
            h.len(),
            us(h.value_at_quantile(0.5)),
            us(h.value_at_quantile(0.99)),
            us(h.max()),
        )
    }

    fn json(&self) -> serde_json::Value {
        let l = &self.load;
        let (count, p50, p99, max) = self.during_tick();
        serde_json::json!({
            "packet_ins_answered_per_sec": l.answered_per_sec().round(),
            "packet_ins_unanswered": l.unanswered,
            "p50_us": l.quantile_us(0.5),
            "p99_us": l.quantile_us(0.99),
            "max_us": self.max_us(),
            "bench_process_cores": l.own_cores,
            "ticks": self.ticks,
            "answered_during_a_tick": {
                "count": count,
                "p50_us": p50,
                "p99_us": p99,
                "max_us": max,
            },
            "rest": self.rest.json(),
        })
    }
}

/// Measures both runs and prints them.
pub(super) fn run(args: &Args, load: &dyn Fn(SocketAddr) -> LoadConfig) -> anyhow::Result<()> {
    // As `prescient run` builds it: the tick's driver shares these workers with the REST API.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the controller's runtime")?;
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let config = ServiceConfig::new(loopback, Some(loopback));
    let service = rt
        .block_on(Service::start(config))
        .context("starting the controller")?;
    let addr = service.openflow_addr();
    let http = service
        .http_addr()
        .context("the controller serves no REST API")?;
    let core = service.core().clone();
    // Unmeasured: the controller learns the generator's hosts (punted to the core) here, not
    // in the first measured run alone.
    let mut priming = load(addr);
    priming.duration = Duration::from_secs(2);
    run_load(priming).context("priming the controller")?;
    let ticking = {
        let core = core.clone();
        During(Arc::new(move || core.metrics().tick_running()))
    };
    let load = |addr| LoadConfig {
        during: Some(ticking.clone()),
        ..load(addr)
    };
    let quiet =
        measure(&core, http, || run_load(load(addr))).context("measuring with no series")?;
    let stop = CancellationToken::new();
    rt.spawn(feed(core.clone(), args.forecast_series, stop.clone()));
    let busy = settle(&core, args.forecast_series).and_then(|alone| {
        // The REST calls with the cores free but for the round, as long as a loaded run.
        let probe = Probe::start(http, core.clone());
        std::thread::sleep(Duration::from_secs(args.seconds));
        let alone_rest = probe.stop()?;
        let run = measure(&core, http, || run_load(load(addr)))?;
        let cuts =
            failover_probe::measure(&rt, &core, addr, args.seconds).context("cutting links")?;
        Ok((alone, alone_rest, run, cuts))
    });
    stop.cancel();
    rt.block_on(service.shutdown());
    let (alone, alone_rest, busy, cuts) = busy.context("measuring while forecasting")?;
    print(args, &quiet, &busy, (&alone, &alone_rest), &cuts)
}

/// Runs `f` while sampling the tick figures every few milliseconds and calling the REST API
/// at `http`.
fn measure(
    core: &Arc<SharedCore>,
    http: SocketAddr,
    f: impl FnOnce() -> anyhow::Result<LoadReport>,
) -> anyhow::Result<Run> {
    let probe = Probe::start(http, core.clone());
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (core, done) = (core.clone(), done.clone());
        std::thread::spawn(move || {
            let mut last = core.metrics().ticks().count;
            let mut took = Vec::new();
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(5));
                let t = core.metrics().ticks();
                if t.count != last {
                    last = t.count;
                    let forecast = core.read(|c| c.forecast_cost_last_tick());
                    took.push((t.last_took, forecast));
                }
            }
            took
        })
    };
    let load = f();
    done.store(true, Ordering::Relaxed);
    let took = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the tick sampler panicked"))?;
    let rest = probe.stop()?;
    Ok(Run {
        load: load?,
        ticks: tick_figures(core, &took),
        rest,
    })
}

/// The figures of ticks that took `took` (whole, forecasting), and the series as they are.
fn tick_figures(core: &SharedCore, took: &[(Duration, Duration)]) -> Ticks {
    let (series, compact, stride) = core.read(|c| {
        (
            c.series_count(),
            c.compact_series_count(),
            c.series_stride(),
        )
    });
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean = |f: fn(&(Duration, Duration)) -> Duration| {
        took.iter().map(|t| ms(f(t))).sum::<f64>() / took.len().max(1) as f64
    };
    Ticks {
        series,
        compact,
        stride,
        ticks: took.len(),
        mean_ms: mean(|t| t.0),
        max_ms: took.iter().map(|t| ms(t.0)).fold(0.0, f64::max),
        forecast_mean_ms: mean(|t| t.1),
    }
}

/// Waits until `n` series exist and the stride has held for [`SETTLED_TICKS`] ticks; returns
/// those ticks' figures (nothing but the round then loads the cores).
fn settle(core: &SharedCore, n: usize) -> anyhow::Result<Ticks> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut last = (core.metrics().ticks().count, 0);
    let mut steady = Vec::new();
    while steady.len() < SETTLED_TICKS {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} of {n} series and no steady stride after {} s",
            core.read(|c| c.series_count()),
            SETTLE_TIMEOUT.as_secs()
        );
        std::thread::sleep(Duration::from_millis(20));
        let t = core.metrics().ticks();
        if t.count == last.0 {
            continue;
        }
        if t.series >= n && t.stride == last.1 {
            steady.push((t.last_took, core.read(|c| c.forecast_cost_last_tick())));
        } else {
            steady.clear();
        }
        last = (t.count, t.stride);
    }
    Ok(tick_figures(core, &steady))
}

/// Every second, one sample of each of `n` flows, each the only flow of its host pair.
async fn feed(core: Arc<SharedCore>, n: usize, stop: CancellationToken) {
    let mut bytes = vec![0u64; n];
    let mut every = tokio::time::interval(Duration::from_secs(1));
    for step in 0u64.. {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = every.tick() => {}
        }
        let now = core.now();
        core.apply(|c| {
            for (i, b) in bytes.iter_mut().enumerate() {
                *b += (rate(i, step) / 8.0) as u64;
                let flow = FlowKey {
                    device: DeviceId::openflow(FEED_DPID),
                    cookie: i as u64,
                };
                c.flow_counters(now, flow, Some(pair(i)), *b, *b / 1000);
            }
        });
    }
}

/// Flow `i`'s rate at `step`, bit/s: its own level and phase, a slow swing and some wiggle.
fn rate(i: usize, step: u64) -> f64 {
    let level = 1.0e6 * (1 + i % 97) as f64;
    let phase = (i % 31) as f64;
    let swing = 0.3 * ((step as f64) * 0.05 + phase).sin();
    let wiggle = 0.05 * (((step as usize).wrapping_mul(7) + i) % 11) as f64 / 11.0;
    level * (1.0 + swing + wiggle)
}

/// Host pair `i`: two locally administered addresses numbered `i`.
fn pair(i: usize) -> (MacAddr, MacAddr) {
    let b = (i as u32).to_be_bytes();
    (
        MacAddr([0x02, 0xaa, b[0], b[1], b[2], b[3]]),
        MacAddr([0x02, 0xbb, b[0], b[1], b[2], b[3]]),
    )
}

fn print(
    args: &Args,
    quiet: &Run,
    busy: &Run,
    (alone, alone_rest): (&Ticks, &Probed),
    cuts: &Cuts,
) -> anyhow::Result<()> {
    let ratio = |busy: f64, quiet: f64| if quiet > 0.0 { busy / quiet } else { 0.0 };
    let figures = |r: &Run| {
        let l = &r.load;
        [
            l.answered_per_sec(),
            l.quantile_us(0.5),
            l.quantile_us(0.99),
            r.max_us(),
        ]
    };
    let (q, b) = (figures(quiet), figures(busy));
    let ratios: Vec<f64> = q.iter().zip(&b).map(|(q, b)| ratio(*b, *q)).collect();
    let (n, p50, p99, max) = busy.during_tick();
    let during_ratios = [ratio(p50, q[1]), ratio(p99, q[2]), ratio(max, q[3])];
    if args.json {
        let obj = serde_json::json!({
            "controller": "prescient (service in process)",
            "mode": args.mode,
            "mix": args.mix,
            "switches": args.switches,
            "hosts_per_switch": args.hosts,
            "seconds": args.seconds,
            "forecast_series": args.forecast_series,
            "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "none": quiet.json(),
            "forecasting": busy.json(),
            "ticks_with_no_packet_ins": alone,
            "rest_with_no_packet_ins": alone_rest.json(),
            "link_cuts_with_no_packet_ins": failover_probe::json(cuts),
            "ratio_answered_per_sec": ratios[0],
            "ratio_p50": ratios[1],
            "ratio_p99": ratios[2],
            "ratio_max": ratios[3],
            "ratio_during_a_tick_p50": during_ratios[0],
            "ratio_during_a_tick_p99": during_ratios[1],
            "ratio_during_a_tick_max": during_ratios[2],
        });
        println!("{obj}");
        return Ok(());
    }
    println!(
        "OpenFlow bench under the forecast round: {} switches, {:?} mode, {:?} mix, {} hosts per switch, {} s measured per run; the controller as `prescient run` starts it, in this process",
        args.switches, args.mode, args.mix, args.hosts, args.seconds
    );
    println!(
        "  {:<22} {:>12} {:>10} {:>10} {:>10} {:>11}",
        "", "answered/s", "p50 us", "p99 us", "max us", "unanswered"
    );
    let label = format!("{} series", args.forecast_series);
    for (name, r, f) in [("no series", quiet, q), (label.as_str(), busy, b)] {
        println!(
            "  {name:<22} {:>12.0} {:>10.1} {:>10.1} {:>10.1} {:>11}",
            f[0], f[1], f[2], f[3], r.load.unanswered
        );
    }
    println!(
        "  {:<22} {:>11.2}x {:>9.2}x {:>9.2}x {:>9.2}x",
        "series / no series", ratios[0], ratios[1], ratios[2], ratios[3]
    );
    println!(
        "  {:<22} {:>12} {:>10.1} {:>10.1} {:>10.1}   ({n} answers, {:.0} % of them)",
        "  of them during a tick",
        "",
        p50,
        p99,
        max,
        100.0 * n as f64 / busy.load.latency_ns.len().max(1) as f64
    );
    println!(
        "  {:<22} {:>12} {:>9.2}x {:>9.2}x {:>9.2}x",
        "  during a tick / none", "", during_ratios[0], during_ratios[1], during_ratios[2]
    );
    let alone_label = format!("{label}, no packet-ins");
    for (name, t, cores) in [
        ("no series", &quiet.ticks, quiet.load.own_cores),
        (label.as_str(), &busy.ticks, busy.load.own_cores),
        (alone_label.as_str(), alone, None),
    ] {
        let cores = cores.map_or(String::new(), |c| format!("; cores busy {c:.2}"));
        println!(
            "  {name:<28} control tick: {} ticks, mean {:.1} ms (forecasting {:.1} ms), longest {:.1} ms; {} series ({} compact), stride {}{cores}",
            t.ticks, t.mean_ms, t.forecast_mean_ms, t.max_ms, t.series, t.compact, t.stride
        );
    }
    rest_probe::print(&quiet.rest, "no series");
    rest_probe::print(alone_rest, &alone_label);
    rest_probe::print(&busy.rest, &label);
    failover_probe::print(cuts, &alone_label);
    Ok(())
}
