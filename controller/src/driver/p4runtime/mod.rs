//! Binds a P4Runtime target running `prescient.p4` to the controller core.
//!
//! One task per device: connect and win primary, push the pipeline (skipped when the target
//! already runs it), report the device and its configured ports to the core, then feed packet-ins
//! (LLDP → links, ARP → hosts, relayed to other hosts by [`arp`]) and the program's port counters
//! into the core, send the core's LLDP probes as packet-outs, and keep the tables it owns
//! (`ipv4_lpm`, `flow_meter`, `translate_src`, `service_select`) equal to what [`desired`]
//! computes from the topology, the hosts and the [`plan::P4Plan`] that reaches it through
//! [`fleet`].
//!
//! Reconciliation (desired state, not commands): on connect and after every reconnect the owned
//! tables are read back into the [`sync::Mirror`], then the difference is written; afterwards it
//! runs whenever the plan changes and every [`RECONCILE_INTERVAL`] when the topology or the hosts
//! changed (learning a host's address does not change the snapshot version, hence the timer),
//! and retries (every `RETRY_BACKOFF` while nothing changes) until the device holds the desired
//! entries. Entries nobody wants any more —
//! including ones a previous controller run left — are deleted.
//!
//! When the target goes away the device is reported down and the client reconnects with
//! backoff, re-pushing the pipeline and replaying its entries. P4Runtime does not describe a
//! device's ports, so they come from configuration.

pub mod arp;
pub mod desired;
pub mod fleet;
mod packets;
pub mod plan;
mod reconcile;
mod standing;
pub mod sync;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use prescient_southbound::p4runtime::pipeconf::names;
use prescient_southbound::p4runtime::proto::p4::config::v1::P4Info;
use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use prescient_southbound::p4runtime::{
    pipeconf, ChannelPool, ClientConfig, ClientError, P4InfoError, P4RuntimeClient, StreamEvent,
};
use prescient_topology::{DeviceId, Port, PortCounters, PortNo, PortRef};
use tokio_util::sync::CancellationToken;

pub use desired::port_mac;
pub use fleet::{P4Fleet, P4Inbox, ToDevice};

use crate::core::SharedCore;
use fleet::{Fleet, Mailbox};
use standing::Standing;
use sync::Mirror;

/// `packet_in` / `packet_out` metadata names of prescient.p4.
const INGRESS_PORT: &str = "ingress_port";
const EGRESS_PORT: &str = "egress_port";
const ETH_TYPE_ARP: u16 = 0x0806;
/// How often the desired entries are recomputed when nothing announced a change.
pub const RECONCILE_INTERVAL: Duration = Duration::from_millis(250);
/// How long a write the device refused waits before it is tried again with the same inputs
/// (a full table stays full; any change of the inputs retries at once).
const RETRY_BACKOFF: Duration = Duration::from_secs(2);
/// The tables whose every entry the driver owns.
const OWNED_TABLES: [&str; 5] = [
    names::IPV4_LPM,
    names::FLOW_METER,
    names::TRANSLATE_SRC,
    names::SERVICE_SELECT,
    names::PAIR_COUNT,
];

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
    /// The program's P4Info (shared by the devices that run one program).
    pub p4info: Arc<P4Info>,
    /// The target-specific pipeline (BMv2 JSON), or empty for targets that need none (shared
    /// like the P4Info: prescient.p4's is 104 KB).
    pub device_config: Bytes,
    /// How often port counters are read.
    pub stats_interval: Duration,
    /// Priority queues per port the target has (BMv2 `--priority-queues N`; 1 when started
    /// without). Reserved traffic is queued above best effort only when there are at least 2.
    pub priority_queues: u8,
    /// TLS to the target (CA, optional client certificate), read at every connect; `None`:
    /// plain HTTP/2.
    pub tls: Option<prescient_southbound::p4runtime::SharedTls>,
    /// The files `tls` was read from, read again on SIGHUP; `None` when not from files.
    pub tls_files: Option<crate::tls::client::P4TlsPaths>,
}

impl P4Target {
    /// A device already running prescient.p4 (an emulated switch; nothing to push but the
    /// P4Info), claimed with election id 1, 1 Gbit/s ports, counters read every 2 s.
    pub fn running_prescient(
        address: impl Into<String>,
        device_id: u64,
        ports: Vec<u32>,
        p4info: impl Into<Arc<P4Info>>,
    ) -> Self {
        P4Target {
            address: address.into(),
            device_id,
            ports,
            port_speed_bps: Some(1_000_000_000),
            election_id: 1,
            p4info: p4info.into(),
            device_config: Bytes::new(),
            stats_interval: Duration::from_secs(2),
            priority_queues: 1,
            tls: None,
            tls_files: None,
        }
    }

    /// The queue priority of traffic within its reservation: 1 when the target has a queue for
    /// it, else 0 (BMv2 drops a packet whose priority has no queue: a reservation would
    /// black-hole its own traffic).
    pub fn reserved_priority(&self) -> u8 {
        u8::from(self.priority_queues >= 2)
    }
}

/// The P4Info of `p4/prescient.p4`, embedded at build time.
pub fn prescient_p4info() -> Result<P4Info, P4InfoError> {
    prescient_southbound::p4runtime::p4info::parse_text(include_str!(
        "../../../../p4/prescient.p4info.txt"
    ))
}

/// The BMv2 JSON of `p4/prescient.p4` as p4c compiled it (`scripts/p4-compile`), embedded at
/// build time: the device config pushed when the configuration names none.
pub const PRESCIENT_BMV2_JSON: &[u8] = include_bytes!("../../../../p4/prescient.json");

/// Drives `target` until `cancel` fires; its probes and plan arrive through the returned inbox.
/// In a cluster (`cluster`), the device is written only while this node leads; its election
/// id follows the election (see [`standing`]). Devices given one `channels` pool share their
/// connections to a server that hosts several of them.
pub fn spawn(
    core: Arc<SharedCore>,
    target: P4Target,
    cluster: Option<Arc<crate::cluster::ClusterState>>,
    channels: ChannelPool,
    cancel: CancellationToken,
    tasks: &crate::supervise::Tasks,
) -> P4Inbox {
    let (inbox, mailbox) = fleet::mailbox();
    // A new leader learns the links from its own probes: by a link timeout it has probed
    // every link several times (and the old leader's links would have expired).
    let settle = core.read(|c| c.config().topology.discovery.link_timeout);
    let standing = Standing::new(cluster, settle);
    // It ends on its own when it gives up on the device (a duplicate election id, a pipeline
    // the device refuses): logged there, and no reason to stop the controller.
    tasks.spawn_may_end(
        "P4Runtime device",
        drive(core, target, standing, channels, mailbox, cancel),
    );
    inbox
}

/// One reconciliation's inputs and outcome.
struct Attempt {
    generation: u64,
    version: u64,
    converged: bool,
    retry_at: tokio::time::Instant,
}

/// The state of one device's task between events.
struct Device {
    core: Arc<SharedCore>,
    target: P4Target,
    id: DeviceId,
    fleet: tokio::sync::watch::Receiver<Arc<Fleet>>,
    mirror: Mirror,
    /// The mirror must be read back from the device before the next diff.
    resync: bool,
    /// The last reconciliation: skipped while its inputs hold, until its retry time when it
    /// did not converge.
    last: Option<Attempt>,
    notes: BTreeSet<String>,
    last_error: Option<String>,
    /// Whether this node may write (always outside a cluster), and its election id.
    standing: Standing,
    /// Fires when the controller stops: from then on the device is left as it is.
    stopping: CancellationToken,
}

async fn drive(
    core: Arc<SharedCore>,
    target: P4Target,
    mut standing: Standing,
    channels: ChannelPool,
    mailbox: Mailbox,
    cancel: CancellationToken,
) {
    let Mailbox { mut frames, fleet } = mailbox;
    let id = DeviceId::p4runtime(target.device_id);
    let mut config = ClientConfig::new(&target.address, target.device_id, target.election_id);
    config.max_reconnect_attempts = None;
    config.tls = target.tls.clone();
    config.channels = Some(channels);
    // Every Write RPC of this device is timed into the `/metrics` histogram.
    config.write_latency = core
        .metrics()
        .write_latency(prescient_topology::Protocol::P4Runtime);
    let election = tokio::select! {
        _ = cancel.cancelled() => return,
        e = standing.first_id() => e,
    };
    if let Some(e) = election {
        config.election_id = e;
    }
    // A cluster node connects as it stands; a follower stays a backup and pushes nothing.
    let backup = standing.clustered() && !standing.leading();
    let mut client = tokio::select! {
        _ = cancel.cancelled() => return,
        c = Box::pin(connect(config, &target, backup)) => c,
    };
    let mut dev = Device {
        core,
        target,
        id,
        fleet,
        mirror: Mirror::new(),
        resync: true,
        last: None,
        notes: BTreeSet::new(),
        last_error: None,
        standing,
        stopping: cancel.clone(),
    };
    tracing::info!(device = %id, target = %dev.target.address, primary = client.is_primary(),
        "P4Runtime device connected");
    dev.report_up();
    Box::pin(dev.follow(&mut client)).await;
    Box::pin(dev.reconcile(&mut client)).await;
    let mut check = tokio::time::interval(standing::CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stats = tokio::time::interval(dev.target.stats_interval);
    stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reconcile = tokio::time::interval(RECONCILE_INTERVAL);
    reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut fleet_open = true;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            ev = client.next_event() => match ev {
                Some(StreamEvent::PacketIn(packet)) => {
                    dev.core.metrics().count_messages("p4_packet_in", 1);
                    let Some(port) = packet.get(INGRESS_PORT).map(be_u32) else { continue };
                    let at = PortRef { device: id, port: PortNo(port) };
                    dev.packet_in(at, &packet.payload);
                }
                Some(StreamEvent::Digest(d)) => {
                    let _ = Box::pin(client.ack_digest(d.digest_id, d.list_id)).await;
                    if d.digest == names::LEARNED_HOST {
                        dev.hosts_learned(&d.entries);
                    }
                }
                Some(StreamEvent::Disconnected { reason }) => {
                    if !Box::pin(dev.recover(&mut client, &reason, &cancel)).await {
                        break;
                    }
                }
                // In a cluster, standing follows the election (another node's higher id is
                // how a new leader takes the device over).
                Some(StreamEvent::Mastership(_)) if dev.standing.clustered() => {
                    Box::pin(dev.follow(&mut client)).await;
                }
                Some(StreamEvent::Mastership(_)) if !client.is_primary() => {
                    if !Box::pin(dev.recover(&mut client, "lost primary", &cancel)).await {
                        break;
                    }
                }
                Some(_) => {}
                None => break,
            },
            Some(frame) = frames.recv() => Box::pin(dev.send(&mut client, frame)).await,
            changed = dev.fleet.changed(), if fleet_open => match changed {
                Ok(()) => Box::pin(dev.reconcile(&mut client)).await,
                // The OpenFlow driver stopped: no new plan will come.
                Err(_) => fleet_open = false,
            },
            _ = reconcile.tick() => Box::pin(dev.reconcile(&mut client)).await,
            _ = dev.standing.changed() => Box::pin(dev.follow(&mut client)).await,
            _ = check.tick(), if dev.standing.clustered() => Box::pin(dev.follow(&mut client)).await,
            _ = stats.tick() => {
                Box::pin(dev.read_counters(&mut client)).await;
                Box::pin(dev.read_pair_counters(&mut client)).await;
            }
        }
    }
    // A controller stopping leaves its switches as they are: reported down, this device's
    // hosts would leave the fabric and the other devices' tasks, not yet stopped, would
    // delete their routes to them (a new controller finds them and takes them over or
    // deletes them itself).
    if cancel.is_cancelled() {
        tracing::info!(device = %id, "controller stopping: the device keeps its entries");
    } else {
        let now = dev.core.now();
        dev.core.decide(|c| c.device_down(now, id));
    }
}

impl Device {
    /// Brings the election id in line with the election; on becoming the acting primary,
    /// pushes the pipeline if the device runs another and reads the tables back before the
    /// next reconciliation.
    async fn follow(&mut self, client: &mut P4RuntimeClient) {
        match self.standing.follow(client).await {
            Ok(true) => {
                let (p4info, config) = (
                    self.target.p4info.clone(),
                    self.target.device_config.clone(),
                );
                if let Err(e) = client.set_pipeline(p4info, config, None, false).await {
                    self.failed(format!("pipeline not pushed on taking over: {e}"));
                }
                tracing::info!(device = %self.id, election_id = client.config().election_id,
                    "primary for this leader: reading the device back to reconcile");
                self.resync = true;
                self.last = None;
                self.reconcile(client).await;
            }
            Ok(false) => {}
            Err(e) => self.failed(e),
        }
    }

    /// Reads the program's port counters into the core.
    async fn read_counters(&self, client: &mut P4RuntimeClient) {
        if !client.is_primary() {
            return;
        }
        let ids = client.index().ok().and_then(|ix| {
            Some((
                ix.counters.by_name(names::RX_PORT_COUNTER).ok()?.id,
                ix.counters.by_name(names::TX_PORT_COUNTER).ok()?.id,
            ))
        });
        let Some((rx_id, tx_id)) = ids else {
            return;
        };
        // The configured ports' cells only: the others are never reported.
        let ports: Vec<i64> = self.target.ports.iter().map(|&p| i64::from(p)).collect();
        let cells = client
            .read_counter_cells(&[names::RX_PORT_COUNTER, names::TX_PORT_COUNTER], &ports)
            .await;
        match cells {
            Ok(cells) => {
                let (rx, tx): (Vec<_>, Vec<_>) =
                    cells.into_iter().partition(|c| c.counter_id == rx_id);
                let tx: Vec<_> = tx.into_iter().filter(|c| c.counter_id == tx_id).collect();
                let now = self.core.now();
                let counters = pipeconf::port_counters(&rx, &tx);
                let (device, ports) = (self.id, &self.target.ports);
                self.core.apply(|c| {
                    for s in counters.iter().filter(|s| ports.contains(&s.number)) {
                        let port = PortRef {
                            device,
                            port: PortNo(s.number),
                        };
                        c.port_counters(
                            now,
                            port,
                            PortCounters {
                                rx_bytes: s.rx_bytes,
                                tx_bytes: s.tx_bytes,
                                rx_packets: s.rx_packets,
                                tx_packets: s.tx_packets,
                            },
                        );
                    }
                });
            }
            Err(e) => tracing::debug!(device = %self.id, "counters not read: {e}"),
        }
    }

    /// Reads the direct counters of `pair_count` into the core's per-pair series: the pairs
    /// whose source is attached here (see [`desired`]).
    async fn read_pair_counters(&self, client: &mut P4RuntimeClient) {
        if !client.is_primary() {
            return;
        }
        let fields = client.index().ok().and_then(|ix| {
            let t = ix.table(names::PAIR_COUNT).ok()?;
            Some((
                t.field("hdr.ipv4.src_addr")?.id,
                t.field("hdr.ipv4.dst_addr")?.id,
            ))
        });
        let Some(fields) = fields else {
            return;
        };
        let entries = match client.read_table(names::PAIR_COUNT, true).await {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(device = %self.id, "pair counters not read: {e}");
                return;
            }
        };
        let fleet = self.fleet.borrow().clone();
        let (_, fabric) = fleet.fabric.get(
            &self.core,
            tokio::time::Instant::now(),
            RECONCILE_INTERVAL / 2,
        );
        let owners = fabric.owners();
        let now = self.core.now();
        let device = self.id;
        self.core.apply(|c| {
            // The read lists every entry of the table: a pair it leaves out was removed. Only
            // when every entry was understood, or a pair still there would be forgotten and
            // counted again from its switch's total.
            let mut listed = std::collections::BTreeSet::new();
            let mut understood = true;
            for e in &entries {
                let Some((src, dst)) = pair_key(e, fields) else {
                    understood = false;
                    continue;
                };
                let (Some(s), Some(d)) = (owners.get(&src), owners.get(&dst)) else {
                    understood = false;
                    continue;
                };
                let counts = e.counter_data.unwrap_or_default();
                let cookie = super::pair_cookie(*s, *d);
                listed.insert(cookie);
                c.flow_counters(
                    now,
                    prescient_topology::FlowKey { device, cookie },
                    Some((*s, *d)),
                    u64::try_from(counts.byte_count).unwrap_or(0),
                    u64::try_from(counts.packet_count).unwrap_or(0),
                );
            }
            if understood {
                c.flows_listed(device, &listed);
            }
        });
    }

    /// Reports the device down and reconnects; false when the driver should stop.
    async fn recover(
        &mut self,
        client: &mut P4RuntimeClient,
        reason: &str,
        cancel: &CancellationToken,
    ) -> bool {
        tracing::warn!(device = %self.id, reason, "P4Runtime device lost");
        let now = self.core.now();
        let id = self.id;
        self.core.decide(|c| c.device_down(now, id));
        tokio::select! {
            _ = cancel.cancelled() => false,
            r = client.reconnect() => match r {
                Ok(report) => {
                    if report.primary || self.standing.clustered() {
                        self.report_up();
                        self.resync = true;
                        self.follow(client).await;
                        self.reconcile(client).await;
                    } else {
                        tracing::warn!(device = %self.id, "reconnected as backup");
                    }
                    true
                }
                Err(e) => {
                    tracing::error!(device = %self.id, "P4Runtime reconnect failed: {e}");
                    false
                }
            },
        }
    }

    fn report_up(&self) {
        let now = self.core.now();
        let t = &self.target;
        let ports = t
            .ports
            .iter()
            .map(|&no| Port {
                no: PortNo(no),
                name: format!("p4-{}-{no}", t.device_id),
                mac: port_mac(t.device_id, no),
                up: true,
                reported_speed_bps: t.port_speed_bps,
            })
            .collect();
        let id = self.id;
        self.core.decide(|c| c.device_up(now, id, ports));
    }
}

/// Connects, wins primary and pushes the pipeline (a `backup` only connects and takes the
/// pipeline as configured), retrying with backoff until it works.
async fn connect(config: ClientConfig, target: &P4Target, backup: bool) -> P4RuntimeClient {
    let mut delay = Duration::from_millis(100);
    loop {
        match try_connect(config.clone(), target, backup).await {
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
    backup: bool,
) -> Result<P4RuntimeClient, ClientError> {
    let mut client = P4RuntimeClient::connect(config).await?;
    if backup {
        client.adopt_pipeline(target.p4info.clone(), target.device_config.clone())?;
        return Ok(client);
    }
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

/// The (source, destination) of a `pair_count` entry, given the ids of those match fields.
fn pair_key(
    e: &p4::TableEntry,
    (src, dst): (u32, u32),
) -> Option<(std::net::Ipv4Addr, std::net::Ipv4Addr)> {
    let field = |id: u32| {
        e.r#match
            .iter()
            .find(|m| m.field_id == id)
            .and_then(|m| match &m.field_match_type {
                Some(p4::field_match::FieldMatchType::Exact(x)) => {
                    Some(std::net::Ipv4Addr::from(be_array::<4>(&x.value)))
                }
                _ => None,
            })
    };
    Some((field(src)?, field(dst)?))
}

/// A canonical (or padded) byte string as exactly `N` big-endian bytes (excess high bytes drop).
fn be_array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, b) in out.iter_mut().rev().zip(bytes.iter().rev()) {
        *o = *b;
    }
    out
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
        assert_eq!(be_array::<6>(&[0x02, 0, 0, 0, 0, 0x09]), [2, 0, 0, 0, 0, 9]);
        assert_eq!(be_array::<4>(&[0x0a, 0, 0, 1]), [10, 0, 0, 1]);
        assert_eq!(be_array::<4>(&[0x01]), [0, 0, 0, 1]);
        assert_eq!(be_u32(&[0x01, 0x02]), 258);
        assert_eq!(be_u32(&[0x00, 0x00, 0x01, 0x02]), 258);
        assert_eq!(be_u32(&[]), 0);
    }

    #[tokio::test]
    async fn a_device_task_stays_small() {
        let core = crate::core::SharedCore::new(crate::core::CoreConfig::default());
        let target = P4Target::running_prescient("127.0.0.1:1", 1, vec![1], P4Info::default());
        let (_inbox, mailbox) = fleet::mailbox();
        let task = drive(
            core,
            target,
            Standing::new(None, Duration::from_secs(1)),
            ChannelPool::new(),
            mailbox,
            CancellationToken::new(),
        );
        // 11,344 B (debug) before what the loop awaits (reconciling, following the
        // election, reconnecting, reading counters) was boxed: held by every device's task
        // between events, though it runs a few milliseconds at a time.
        let size = std::mem::size_of_val(&task);
        assert!(size <= 4096, "a device's task is {size} B");
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
