//! `prescient run`: the controller for a lab. Listens for OpenFlow 1.3 switches, installs the
//! table-miss flow that punts to the controller on each, and forwards reactively with L2
//! learning until Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prescient_southbound::openflow::session::{ControllerConfig, OpenFlowController, SwitchEvent};

use crate::openflow_app::L2LearningFactory;

/// Arguments of this subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on for OpenFlow switches.
    #[arg(long, default_value = "127.0.0.1:6653")]
    pub openflow: SocketAddr,
    /// Most switches connected at once.
    #[arg(long, default_value_t = 4096)]
    pub max_switches: usize,
    /// Idle timeout of reactively installed flows, seconds.
    #[arg(long, default_value_t = 60)]
    pub idle_timeout: u16,
    /// Poll port and flow counters every this many seconds (0: never).
    #[arg(long, default_value_t = 10)]
    pub stats_interval: u64,
    /// Exit after this many seconds (for scripts and tests); runs until Ctrl-C by default.
    #[arg(long)]
    pub seconds: Option<u64>,
}

/// Entry point.
pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the runtime")?;
    rt.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let mut config = ControllerConfig::new(args.openflow);
    config.max_switches = args.max_switches;
    config.machine.stats_interval =
        (args.stats_interval > 0).then(|| Duration::from_secs(args.stats_interval));
    let factory = L2LearningFactory {
        idle_timeout: args.idle_timeout,
        ..Default::default()
    };
    let (controller, mut events) = OpenFlowController::bind(config, Arc::new(factory))
        .await
        .context("starting the OpenFlow listener")?;
    eprintln!(
        "prescient: listening for OpenFlow 1.3 on {}",
        controller.local_addr()
    );
    let handle = controller.handle();
    let stop = async {
        match args.seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            ev = events.recv() => match ev {
                Some(ev) => log_event(&ev),
                None => break,
            },
        }
    }
    let stats = handle.stats();
    eprintln!(
        "prescient: stopping ({} switches up, {} packet-ins handled, {} packet-in events dropped)",
        stats.switches_up, stats.packet_ins, stats.events_dropped
    );
    // Keep draining events so sessions reporting SwitchDown never wait on a full stream.
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
    controller.shutdown().await;
    drain.abort();
    Ok(())
}

fn log_event(ev: &SwitchEvent) {
    match ev {
        SwitchEvent::SwitchUp(info) => tracing::info!(
            dpid = %info.dpid,
            peer = %info.peer,
            ports = ?info.ports.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            "switch connected"
        ),
        SwitchEvent::SwitchDown { dpid, reason } => {
            tracing::info!(%dpid, %reason, "switch disconnected")
        }
        SwitchEvent::PortStatus { dpid, change, port } => {
            tracing::info!(%dpid, ?change, port = %port.name, up = port.is_live(), "port status")
        }
        SwitchEvent::Error {
            dpid, xid, kind, ..
        } => {
            tracing::warn!(%dpid, %xid, %kind, "switch reported an error")
        }
        SwitchEvent::ProtocolError { dpid, xid, error } => {
            tracing::warn!(?dpid, %xid, %error, "malformed message from switch")
        }
        other => tracing::debug!(?other, "event"),
    }
}
