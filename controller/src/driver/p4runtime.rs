//! Binds a P4Runtime target running `prescient.p4` to the controller core.
//!
//! One task per device: connect and win primary, push the pipeline (skipped when the target
//! already runs it), report the device and its configured ports to the core, then feed packet-ins
//! (LLDP → links, ARP/IPv4 → hosts) and the program's port counters into the core, and send the
//! core's LLDP probes as packet-outs. When the target goes away the device is reported down and
//! the client reconnects with backoff, re-pushing the pipeline and replaying its entries.
//!
//! P4Runtime does not describe a device's ports, so they come from configuration.

use std::sync::Arc;
use std::time::Duration;

use prescient_southbound::p4runtime::proto::p4::config::v1::P4Info;
use prescient_southbound::p4runtime::{
    pipeconf, ClientConfig, ClientError, P4InfoError, P4RuntimeClient, StreamEvent,
};
use prescient_topology::{DeviceId, MacAddr, Port, PortCounters, PortNo, PortRef, Probe};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::core::SharedCore;

/// `packet_in` / `packet_out` metadata names of prescient.p4.
const INGRESS_PORT: &str = "ingress_port";
const EGRESS_PORT: &str = "egress_port";
const RX_COUNTER: &str = "PrescientIngress.rx_port_counter";
const TX_COUNTER: &str = "PrescientEgress.tx_port_counter";

/// One P4Runtime device to drive.
#[derive(Debug, Clone)]
pub struct P4Target {
    /// `host:port` of the P4Runtime server.
    pub address: String,
    /// The device id on that server.
    pub device_id: u64,
    /// Its data-plane ports.
    pub ports: Vec<u32>,
    /// Capacity of each port, bits/s (P4Runtime reports none).
    pub port_speed_bps: Option<u64>,
    /// Election id to claim primary with.
    pub election_id: u128,
    /// The program's P4Info.
    pub p4info: P4Info,
    /// The target-specific pipeline (BMv2 JSON), or empty for targets that need none.
    pub device_config: Vec<u8>,
    /// How often port counters are read.
    pub stats_interval: Duration,
}

/// The P4Info of `p4/prescient.p4`, embedded at build time.
pub fn prescient_p4info() -> Result<P4Info, P4InfoError> {
    prescient_southbound::p4runtime::p4info::parse_text(include_str!(
        "../../../p4/prescient.p4info.txtpb"
    ))
}

/// Where the core's LLDP probes for P4Runtime devices are delivered.
pub type ProbeInbox = mpsc::Sender<Probe>;

/// Drives `target` until `cancel` fires; probes for the device arrive on the returned sender.
pub fn spawn(
    core: Arc<SharedCore>,
    target: P4Target,
    cancel: CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) -> ProbeInbox {
    // Probes are periodic: a full inbox only means this round's probes are skipped.
    let (tx, rx) = mpsc::channel(256);
    tasks.spawn(drive(core, target, rx, cancel));
    tx
}

async fn drive(
    core: Arc<SharedCore>,
    target: P4Target,
    mut probes: mpsc::Receiver<Probe>,
    cancel: CancellationToken,
) {
    let device = DeviceId::p4runtime(target.device_id);
    let mut config = ClientConfig::new(&target.address, target.device_id, target.election_id);
    config.max_reconnect_attempts = None;
    let mut client = tokio::select! {
        _ = cancel.cancelled() => return,
        c = connect(config, &target) => c,
    };
    report_up(&core, device, &target);
    let mut stats = tokio::time::interval(target.stats_interval);
    stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            ev = client.next_event() => match ev {
                Some(StreamEvent::PacketIn(packet)) => {
                    core.metrics().count_messages("p4_packet_in", 1);
                    let Some(port) = packet.get(INGRESS_PORT).map(be_u32) else { continue };
                    let at = PortRef { device, port: PortNo(port) };
                    // Topology changes can move reservations; the OpenFlow driver applies them.
                    core.dispatch(super::punted_frame(&core, at, &packet.payload));
                }
                Some(StreamEvent::Digest(d)) => {
                    let _ = client.ack_digest(d.digest_id, d.list_id).await;
                }
                Some(StreamEvent::Disconnected { reason }) => {
                    if !recover(&core, &mut client, device, &target, &reason, &cancel).await {
                        break;
                    }
                }
                Some(StreamEvent::Mastership(_)) if !client.is_primary() => {
                    if !recover(&core, &mut client, device, &target, "lost primary", &cancel).await {
                        break;
                    }
                }
                Some(_) => {}
                None => break,
            },
            Some(probe) = probes.recv() => {
                let port = probe.port.port.0.to_be_bytes().to_vec();
                if let Err(e) = client.packet_out(probe.frame, &[(EGRESS_PORT, port)]).await {
                    tracing::debug!(%device, "LLDP probe not sent: {e}");
                }
            }
            _ = stats.tick() => {
                if !client.is_primary() {
                    continue;
                }
                let rx = client.read_counter(RX_COUNTER, None).await;
                let tx = client.read_counter(TX_COUNTER, None).await;
                match (rx, tx) {
                    (Ok(rx), Ok(tx)) => {
                        let now = core.now();
                        let counters = pipeconf::port_counters(&rx, &tx);
                        core.apply(|c| {
                            for s in counters.iter().filter(|s| target.ports.contains(&s.number)) {
                                c.port_counters(now, PortRef { device, port: PortNo(s.number) },
                                    PortCounters {
                                        rx_bytes: s.rx_bytes,
                                        tx_bytes: s.tx_bytes,
                                        rx_packets: s.rx_packets,
                                        tx_packets: s.tx_packets,
                                    });
                            }
                        });
                    }
                    (Err(e), _) | (_, Err(e)) => tracing::debug!(%device, "counters not read: {e}"),
                }
            }
        }
    }
    let now = core.now();
    core.dispatch(core.apply(|c| c.device_down(now, device)));
}

/// Reports the device down and reconnects; false when the driver should stop.
async fn recover(
    core: &SharedCore,
    client: &mut P4RuntimeClient,
    device: DeviceId,
    target: &P4Target,
    reason: &str,
    cancel: &CancellationToken,
) -> bool {
    tracing::warn!(%device, reason, "P4Runtime device lost");
    let now = core.now();
    core.dispatch(core.apply(|c| c.device_down(now, device)));
    tokio::select! {
        _ = cancel.cancelled() => false,
        r = client.reconnect() => match r {
            Ok(report) => {
                if report.primary {
                    report_up(core, device, target);
                } else {
                    tracing::warn!(%device, "reconnected as backup");
                }
                true
            }
            Err(e) => {
                tracing::error!(%device, "P4Runtime reconnect failed: {e}");
                false
            }
        },
    }
}

/// Connects, wins primary and pushes the pipeline, retrying with backoff until it works.
async fn connect(config: ClientConfig, target: &P4Target) -> P4RuntimeClient {
    let mut delay = Duration::from_millis(100);
    loop {
        match try_connect(config.clone(), target).await {
            Ok(client) => return client,
            Err(e) => {
                tracing::warn!(target = %target.address, device = target.device_id,
                    "P4Runtime target not ready: {e}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn try_connect(
    config: ClientConfig,
    target: &P4Target,
) -> Result<P4RuntimeClient, ClientError> {
    let mut client = P4RuntimeClient::connect(config).await?;
    client.wait_for_primary(Duration::from_secs(5)).await?;
    client
        .set_pipeline(
            target.p4info.clone(),
            target.device_config.clone(),
            None,
            false,
        )
        .await?;
    Ok(client)
}

fn report_up(core: &SharedCore, device: DeviceId, target: &P4Target) {
    let now = core.now();
    let ports = target
        .ports
        .iter()
        .map(|&no| Port {
            no: PortNo(no),
            name: format!("p4-{}-{no}", target.device_id),
            mac: port_mac(target.device_id, no),
            up: true,
            reported_speed_bps: target.port_speed_bps,
        })
        .collect();
    core.dispatch(core.apply(|c| c.device_up(now, device, ports)));
}

/// A stable, locally administered MAC for a P4 port (the program rewrites MACs itself).
fn port_mac(device: u64, port: u32) -> MacAddr {
    let d = device.to_be_bytes();
    let p = port.to_be_bytes();
    MacAddr([0x02, d[6], d[7], p[2], p[3], 0x4b])
}

/// Metadata arrive canonical (no leading zeros) or zero-padded; both read the same.
fn be_u32(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .rev()
        .take(4)
        .rev()
        .fold(0u32, |acc, b| acc << 8 | u32::from(*b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_metadata_reads_canonical_and_padded_alike() {
        assert_eq!(be_u32(&[0x01, 0x02]), 258);
        assert_eq!(be_u32(&[0x00, 0x00, 0x01, 0x02]), 258);
        assert_eq!(be_u32(&[]), 0);
    }

    #[test]
    fn the_embedded_p4info_is_prescient_p4s() {
        let info = prescient_p4info().expect("embedded P4Info parses");
        let names: Vec<_> = info
            .tables
            .iter()
            .filter_map(|t| t.preamble.as_ref().map(|p| p.name.clone()))
            .collect();
        assert!(
            names.contains(&"PrescientIngress.ipv4_lpm".to_string()),
            "{names:?}"
        );
    }
}
