//! `prescient bench openflow`: cbench-style PACKET_IN → FLOW_MOD/PACKET_OUT load against
//! Prescient's own reactive forwarding (in-process, on its own thread) or any OpenFlow 1.3
//! controller (`--target`, e.g. `prescient run` in another process), measured next to a bare
//! responder that answers without parsing or deciding.
//!
//! Figures: `packet_ins_answered_per_sec` counts each answered packet-in once (its FLOW_MOD and
//! PACKET_OUT together); `responses_per_sec` counts the FLOW_MOD and PACKET_OUT messages
//! themselves, so an unbuffered packet-in answered with both counts twice there. CPU: the cores
//! this process (the generator, plus the controller when in-process) and `--target-pid` kept
//! busy while measured.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prescient_southbound::openflow::session::{ControllerConfig, OpenFlowController};
use tokio_util::sync::CancellationToken;

use crate::openflow_app::bench::bare::BareResponder;
use crate::openflow_app::bench::loadgen::{run_load, LoadConfig, LoadReport, Mode};
use crate::openflow_app::bench::mix::Mix;
use crate::openflow_app::L2LearningFactory;

mod failover_probe;
mod rest_probe;
mod tick_split;
mod under_forecast;

/// Arguments of this subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Emulated switches (one TCP connection each).
    #[arg(long, default_value_t = 16)]
    pub switches: usize,
    /// throughput: a window of packet-ins in flight per switch; latency: one.
    #[arg(long, value_enum, default_value = "throughput")]
    pub mode: Mode,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Outstanding packet-ins per switch in throughput mode.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Frames the switches punt: `realistic` (unbuffered TCP/UDP/ARP between many hosts,
    /// unknown destinations, LLDP, malformed frames) or `uniform` (cbench: buffered UDP between
    /// learned hosts).
    #[arg(long, value_enum, default_value = "realistic")]
    pub mix: Mix,
    /// Hosts (source MACs) behind each emulated switch.
    #[arg(long, default_value_t = 2048)]
    pub hosts: u32,
    /// An external OpenFlow 1.3 controller (reactive learning switch) instead of Prescient.
    #[arg(long)]
    pub target: Option<SocketAddr>,
    /// Process id of the `--target` controller, whose CPU use (every thread) is reported next
    /// to the generator's (Linux `/proc`).
    #[arg(long, requires = "target")]
    pub target_pid: Option<u32>,
    /// Threads the generator spreads the emulated switches over, one runtime each (0: one per
    /// core). One thread caps what a fast controller can show: it sleeps while any switch
    /// waits, so every other switch's answers wait for it to wake.
    #[arg(long, default_value_t = 0)]
    pub generator_threads: usize,
    /// Longest each generator thread, and the bare responder, busy-polls for answers before
    /// sleeping, microseconds (0: never; the window adapts to the traffic).
    #[arg(long, default_value_t = 0)]
    pub busy_poll_us: u64,
    /// Measure the whole controller (as `prescient run` starts it, in this process) twice:
    /// with nothing to forecast, then while its control tick forecasts this many host-pair
    /// series; prints both runs and their ratio instead of the bare responder (0: Prescient's
    /// packet-in app alone, as usual).
    #[arg(long, default_value_t = 0, conflicts_with = "target")]
    pub forecast_series: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Entry point.
pub fn run(args: Args) -> anyhow::Result<()> {
    // Each 0 was run as 1 while the report printed 0 ("0 switches ... (1 switches)", "0 s
    // measured").
    for (flag, value) in [
        ("--switches", args.switches),
        (
            "--seconds",
            usize::try_from(args.seconds).unwrap_or(usize::MAX),
        ),
        ("--window", args.window),
        ("--hosts", usize::try_from(args.hosts).unwrap_or(usize::MAX)),
    ] {
        anyhow::ensure!(value > 0, "{flag} 0: must be at least 1");
    }
    let threads = generator_threads(&args);
    let load = |target, watch| LoadConfig {
        target,
        watch,
        switches: args.switches,
        mode: args.mode,
        window: args.window,
        warmup: Duration::from_secs(1),
        duration: Duration::from_secs(args.seconds),
        ports: 4,
        mix: args.mix,
        hosts: args.hosts,
        threads,
        busy_poll: Duration::from_micros(args.busy_poll_us),
        during: None,
    };
    if args.forecast_series > 0 {
        return under_forecast::run(&args, &|addr| load(addr, None));
    }
    let bare = {
        let responder = BareResponder::start(Duration::from_micros(args.busy_poll_us))?;
        run_load(load(responder.addr(), None)).context("measuring the bare responder")?
    };
    let (name, subject) = match args.target {
        Some(addr) => (
            addr.to_string(),
            run_load(load(addr, args.target_pid)).context("measuring the target")?,
        ),
        None => {
            let controller = InProcess::start()?;
            let report = run_load(load(controller.addr, None)).context("measuring Prescient")?;
            controller.stop();
            ("prescient".to_string(), report)
        }
    };
    print_report(&args, &name, &subject, &bare)
}

/// The generator's threads: as asked, or one per core.
fn generator_threads(args: &Args) -> usize {
    match args.generator_threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

fn print_report(
    args: &Args,
    name: &str,
    subject: &LoadReport,
    bare: &LoadReport,
) -> anyhow::Result<()> {
    let aps = subject.answered_per_sec();
    let bare_aps = bare.answered_per_sec();
    let fraction = if bare_aps > 0.0 { aps / bare_aps } else { 0.0 };
    let bare_p50 = bare.quantile_us(0.5);
    let p50_ratio = if bare_p50 > 0.0 {
        subject.quantile_us(0.5) / bare_p50
    } else {
        0.0
    };
    if args.json {
        let obj = serde_json::json!({
            "controller": name,
            "mode": args.mode,
            "mix": args.mix,
            "switches": args.switches,
            "hosts_per_switch": args.hosts,
            "window": if args.mode == Mode::Throughput { args.window } else { 1 },
            "seconds": args.seconds,
            "connected": subject.connected,
            "packet_ins_answered": subject.answered,
            "packet_ins_answered_per_sec": aps.round(),
            "packet_ins_sent_per_sec": subject.sent_per_sec().round(),
            "packet_ins_unanswered": subject.unanswered,
            "unexpected_answers": subject.unexpected,
            "responses": subject.responses,
            "responses_counted": "FLOW_MOD and PACKET_OUT messages: an unbuffered packet-in answered with both counts twice",
            "responses_per_sec": subject.responses_per_sec().round(),
            "p50_us": subject.quantile_us(0.5),
            "p99_us": subject.quantile_us(0.99),
            "p999_us": subject.quantile_us(0.999),
            "bare_packet_ins_answered_per_sec": bare_aps.round(),
            "bare_responses_per_sec": bare.responses_per_sec().round(),
            "bare_p50_us": bare_p50,
            "bare_p99_us": bare.quantile_us(0.99),
            "fraction_of_bare": fraction,
            "p50_ratio_to_bare": p50_ratio,
            "bench_process_cores": subject.own_cores,
            "target_cores": subject.watched_cores,
            "bare_run_cores": bare.own_cores,
            "generator_threads": generator_threads(args),
            "generator_busy_poll_us": args.busy_poll_us,
        });
        println!("{obj}");
        return Ok(());
    }
    println!(
        "OpenFlow bench: {} switches, {:?} mode, {:?} mix, {} hosts per switch, {} s measured; generator: {} thread(s), busy-polling up to {} us",
        args.switches,
        args.mode,
        args.mix,
        args.hosts,
        args.seconds,
        generator_threads(args),
        args.busy_poll_us
    );
    for (label, r) in [(name, subject), ("bare responder", bare)] {
        println!(
            "  {label:<16} {:>10.0} packet-ins answered/s ({:>10.0} FLOW_MOD+PACKET_OUT messages/s)   p50 {:>8.1} us   p99 {:>8.1} us   ({} switches, {} unanswered)",
            r.answered_per_sec(),
            r.responses_per_sec(),
            r.quantile_us(0.5),
            r.quantile_us(0.99),
            r.connected,
            r.unanswered,
        );
    }
    if bare_aps > 0.0 {
        println!(
            "  {name} answers {:.0} % of the bare responder's rate; p50 latency {:.2}x the bare responder's",
            100.0 * fraction,
            p50_ratio
        );
    }
    let cores = |c: Option<f64>| c.map_or_else(|| "?".to_string(), |c| format!("{c:.2}"));
    match args.target {
        Some(_) => println!(
            "  cores busy while measured: generator (this process) {}, {name} {}",
            cores(subject.own_cores),
            cores(subject.watched_cores),
        ),
        None => println!(
            "  cores busy while measured: this process (generator and controller) {}",
            cores(subject.own_cores),
        ),
    }
    Ok(())
}

/// Prescient's controller on its own OS thread and current-thread runtime, so it and the load
/// generator each get one core instead of fighting over both.
struct InProcess {
    addr: SocketAddr,
    cancel: CancellationToken,
    thread: std::thread::JoinHandle<()>,
}

impl InProcess {
    fn start() -> anyhow::Result<Self> {
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("prescient-of".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = addr_tx.send(Err(anyhow::anyhow!("controller runtime: {e}")));
                        return;
                    }
                };
                rt.block_on(async move {
                    let any: SocketAddr = ([127, 0, 0, 1], 0).into();
                    let started = OpenFlowController::bind(
                        ControllerConfig::new(any),
                        Arc::new(L2LearningFactory::default()),
                    )
                    .await;
                    let (controller, events) = match started {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = addr_tx.send(Err(e.into()));
                            return;
                        }
                    };
                    // Nobody consumes events here: dropping the receiver makes publishing free.
                    drop(events);
                    let _ = addr_tx.send(Ok(controller.local_addr()));
                    stop.cancelled().await;
                    controller.shutdown().await;
                });
            })
            .context("spawning the controller thread")?;
        let addr = addr_rx
            .recv()
            .context("controller thread ended before binding")??;
        Ok(InProcess {
            addr,
            cancel,
            thread,
        })
    }

    fn stop(self) {
        self.cancel.cancel();
        let _ = self.thread.join();
    }
}
