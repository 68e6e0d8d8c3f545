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
pub mod plan;
pub mod sync;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use prescient_southbound::p4runtime::pipeconf::names;
use prescient_southbound::p4runtime::proto::p4::config::v1::P4Info;
use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use prescient_southbound::p4runtime::{
    pipeconf, ClientConfig, ClientError, P4InfoError, P4RuntimeClient, StreamEvent,
};
use prescient_topology::{DeviceId, MacAddr, Port, PortCounters, PortNo, PortRef, Protocol};
use tokio_util::sync::CancellationToken;

pub use desired::port_mac;
pub use fleet::{P4Fleet, P4Inbox, ToDevice};

use crate::core::SharedCore;
use fleet::{Fleet, Mailbox};
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
const OWNED_TABLES: [&str; 4] = [
    names::IPV4_LPM,
    names::FLOW_METER,
    names::TRANSLATE_SRC,
    names::SERVICE_SELECT,
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
        "../../../../p4/prescient.p4info.txtpb"
    ))
}

/// Drives `target` until `cancel` fires; its probes and plan arrive through the returned inbox.
pub fn spawn(
    core: Arc<SharedCore>,
    target: P4Target,
    cancel: CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) -> P4Inbox {
    let (inbox, mailbox) = fleet::mailbox();
    tasks.spawn(drive(core, target, mailbox, cancel));
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
}

async fn drive(
    core: Arc<SharedCore>,
    target: P4Target,
    mailbox: Mailbox,
    cancel: CancellationToken,
) {
    let Mailbox { mut frames, fleet } = mailbox;
    let id = DeviceId::p4runtime(target.device_id);
    let mut config = ClientConfig::new(&target.address, target.device_id, target.election_id);
    config.max_reconnect_attempts = None;
    let mut client = tokio::select! {
        _ = cancel.cancelled() => return,
        c = connect(config, &target) => c,
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
    };
    dev.report_up();
    dev.reconcile(&mut client).await;
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
                    let _ = client.ack_digest(d.digest_id, d.list_id).await;
                    if d.digest == names::LEARNED_HOST {
                        dev.hosts_learned(&d.entries);
                    }
                }
                Some(StreamEvent::Disconnected { reason }) => {
                    if !dev.recover(&mut client, &reason, &cancel).await {
                        break;
                    }
                }
                Some(StreamEvent::Mastership(_)) if !client.is_primary() => {
                    if !dev.recover(&mut client, "lost primary", &cancel).await {
                        break;
                    }
                }
                Some(_) => {}
                None => break,
            },
            Some(frame) = frames.recv() => dev.send(&mut client, frame).await,
            changed = dev.fleet.changed(), if fleet_open => match changed {
                Ok(()) => dev.reconcile(&mut client).await,
                // The OpenFlow driver stopped: no new plan will come.
                Err(_) => fleet_open = false,
            },
            _ = reconcile.tick() => dev.reconcile(&mut client).await,
            _ = stats.tick() => dev.read_counters(&mut client).await,
        }
    }
    let now = dev.core.now();
    dev.core
        .dispatch(dev.core.apply(|c| c.device_down(now, id)));
}

impl Device {
    /// A punted frame: into discovery and host tracking; ARP is relayed on to its hosts.
    fn packet_in(&self, at: PortRef, frame: &[u8]) {
        let arp = frame.get(12..14) == Some(&ETH_TYPE_ARP.to_be_bytes()[..]);
        let fleet = self.fleet.borrow().clone();
        let now = tokio::time::Instant::now();
        if arp && fleet.relay.is_echo(frame, now) {
            return;
        }
        // Topology changes can move reservations; the OpenFlow driver owns the outlet.
        self.core
            .dispatch(super::punted_frame(&self.core, at, frame));
        if !arp {
            return;
        }
        if let Some(reply) = self.proxy(&fleet, frame) {
            if let Some(me) = fleet.peers.get(&self.id.id) {
                let _ = me.try_send(ToDevice::PacketOut {
                    port: at.port.0,
                    frame: reply,
                });
            }
            return;
        }
        let Some(relay) = arp::decide(frame, at, &self.core.snapshot()) else {
            return;
        };
        fleet.relay.remember(frame, now);
        // A full queue drops the frame: the host asks again.
        match relay {
            arp::Relay::To(port) if port.device.protocol == Protocol::P4Runtime => {
                if let Some(peer) = fleet.peers.get(&port.device.id) {
                    let _ = peer.try_send(ToDevice::PacketOut {
                        port: port.port.0,
                        frame: frame.to_vec(),
                    });
                }
            }
            // A host behind OpenFlow switches: towards its switch; theirs deliver by MAC.
            arp::Relay::To(port) => {
                let first = self
                    .core
                    .snapshot()
                    .shortest_path(self.id, port.device)
                    .ok()
                    .and_then(|p| p.links.first().map(|l| l.src.port.0));
                if let (Some(out), Some(me)) = (first, fleet.peers.get(&self.id.id)) {
                    let _ = me.try_send(ToDevice::PacketOut {
                        port: out,
                        frame: frame.to_vec(),
                    });
                }
            }
            arp::Relay::Flood { except } => {
                for (device, peer) in &fleet.peers {
                    let except = (*device == except.device.id).then_some(except.port.0);
                    let _ = peer.try_send(ToDevice::Flood {
                        frame: frame.to_vec(),
                        except,
                    });
                }
            }
        }
    }

    /// The answer to an ARP request for a translated service address (no host owns it).
    fn proxy(&self, fleet: &Fleet, frame: &[u8]) -> Option<Vec<u8>> {
        let asked = arp::requested(frame)?;
        let t = fleet
            .plan
            .translations()
            .values()
            .find(|t| t.logical_ip == asked)?;
        arp::proxy_reply(frame, t.logical_mac)
    }

    /// Sends a queued frame: out of one port, or flooded out of every port but those linked
    /// to other P4Runtime switches (their own relays flood there). Ports towards OpenFlow
    /// switches are flooded too, so hosts behind them hear requests.
    async fn send(&self, client: &mut P4RuntimeClient, msg: ToDevice) {
        let (ports, frame) = match msg {
            ToDevice::PacketOut { port, frame } => (vec![port], frame),
            ToDevice::Flood { frame, except } => {
                let snapshot = self.core.snapshot();
                let linked: BTreeSet<PortRef> = snapshot
                    .links()
                    .iter()
                    .filter(|l| l.src.device == self.id)
                    .filter(|l| l.dst.device.protocol == Protocol::P4Runtime)
                    .map(|l| l.src)
                    .collect();
                let ports = self
                    .target
                    .ports
                    .iter()
                    .copied()
                    .filter(|p| Some(*p) != except)
                    .filter(|p| {
                        !linked.contains(&PortRef {
                            device: self.id,
                            port: PortNo(*p),
                        })
                    })
                    .collect();
                (ports, frame)
            }
        };
        for port in ports {
            let meta = [(EGRESS_PORT, port.to_be_bytes().to_vec())];
            if let Err(e) = client.packet_out(frame.clone(), &meta).await {
                tracing::debug!(device = %self.id, port, "packet-out not sent: {e}");
            }
        }
    }

    /// Hosts the program reported through `learned_host_t` digests (new `(mac, ip, port)`
    /// triples), so hosts that never ARP through the fabric are still routed.
    fn hosts_learned(&self, entries: &[Vec<(String, Vec<u8>)>]) {
        let now = self.core.now();
        for entry in entries {
            let field = |name: &str| {
                entry
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_slice())
            };
            let (Some(mac), Some(ip), Some(port)) = (field("mac"), field("ip"), field("port"))
            else {
                continue;
            };
            let mac = MacAddr(be_array::<6>(mac));
            let ip = std::net::Ipv4Addr::from(be_array::<4>(ip));
            if mac.is_multicast() || ip.is_unspecified() {
                continue;
            }
            let at = PortRef {
                device: self.id,
                port: PortNo(be_u32(port)),
            };
            match self.core.apply(|c| c.host_seen(now, mac, Some(ip), at)) {
                Ok(actions) => self.core.dispatch(actions),
                Err(e) => tracing::debug!(device = %self.id, "learned host not applied: {e}"),
            }
        }
    }

    /// Asks the device for `learned_host_t` digests (not replayed by the client: it is
    /// re-enabled after every reconnect). One digest per list, sent at once.
    async fn enable_digests(&mut self, client: &mut P4RuntimeClient) {
        let Ok(index) = client.index().cloned() else {
            return;
        };
        let config = p4::digest_entry::Config {
            max_timeout_ns: 0,
            max_list_size: 1,
            ack_timeout_ns: 1_000_000_000,
        };
        let entry = match index.encode_digest_config(names::LEARNED_HOST, config) {
            Ok(e) => e,
            Err(e) => return self.failed(format!("learned-host digests not enabled: {e}")),
        };
        let update = |op: p4::update::Type| p4::Update {
            r#type: op as i32,
            entity: Some(p4::Entity {
                entity: Some(p4::entity::Entity::DigestEntry(entry)),
            }),
        };
        let result = match client.write(vec![update(p4::update::Type::Insert)]).await {
            Err(ClientError::Write(e))
                if e.failures
                    .iter()
                    .any(|f| f.code == tonic::Code::AlreadyExists) =>
            {
                client.write(vec![update(p4::update::Type::Modify)]).await
            }
            other => other,
        };
        if let Err(e) = result {
            self.failed(format!("learned-host digests not enabled: {e}"));
        }
    }

    /// Reads the program's port counters into the core.
    async fn read_counters(&self, client: &mut P4RuntimeClient) {
        if !client.is_primary() {
            return;
        }
        let rx = client.read_counter(names::RX_PORT_COUNTER, None).await;
        let tx = client.read_counter(names::TX_PORT_COUNTER, None).await;
        match (rx, tx) {
            (Ok(rx), Ok(tx)) => {
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
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(device = %self.id, "counters not read: {e}")
            }
        }
    }

    /// Brings the owned tables to the desired entries (see the module docs).
    async fn reconcile(&mut self, client: &mut P4RuntimeClient) {
        if !client.is_primary() {
            return;
        }
        let Ok(index) = client.index().cloned() else {
            return;
        };
        if self.resync {
            match read_owned(client).await {
                Ok(entries) => {
                    self.mirror.reset(entries);
                    self.resync = false;
                    self.last = None;
                    self.enable_digests(client).await;
                }
                Err(e) => {
                    self.failed(format!("owned tables not read back: {e}"));
                    return;
                }
            }
        }
        let fleet = self.fleet.borrow().clone();
        let now = tokio::time::Instant::now();
        // Younger than one interval: every task's tick shares one read of the core.
        let (generation, fabric) = fleet.fabric.get(&self.core, now, RECONCILE_INTERVAL / 2);
        if self.last.as_ref().is_some_and(|a| {
            a.version == fleet.version
                && a.generation == generation
                && (a.converged || now < a.retry_at)
        }) {
            return;
        }
        let wanted = desired::device_entries(self.id, &fabric, &fleet.plan);
        self.explain(wanted.notes);
        let mut entries = BTreeMap::new();
        for intent in wanted.entries.values() {
            match index.encode_table_entry(&intent.table_entry()) {
                Ok(e) => {
                    entries.insert(sync::entry_key(&e), e);
                }
                Err(e) => self.failed(format!("{intent:?} does not fit the pipeline: {e}")),
            }
        }
        let updates = self.mirror.diff(&entries);
        if !updates.is_empty() {
            if let Err(e) = write(client, &mut self.mirror, updates).await {
                self.failed(format!("entries not written: {e}"));
            }
        }
        let converged = self.mirror.diff(&entries).is_empty();
        if converged {
            self.last_error = None;
        }
        self.last = Some(Attempt {
            generation,
            version: fleet.version,
            converged,
            retry_at: now + RETRY_BACKOFF,
        });
    }

    /// Logs what cannot be realised, once per new reason.
    fn explain(&mut self, notes: BTreeSet<String>) {
        for n in notes.difference(&self.notes) {
            tracing::info!(device = %self.id, "{n}");
        }
        self.notes = notes;
    }

    /// Logs a reconciliation failure unless it is the one logged last (it is retried often).
    fn failed(&mut self, why: String) {
        if self.last_error.as_deref() != Some(why.as_str()) {
            tracing::warn!(device = %self.id, "{why}");
            self.last_error = Some(why);
        }
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
        self.core
            .dispatch(self.core.apply(|c| c.device_down(now, self.id)));
        tokio::select! {
            _ = cancel.cancelled() => false,
            r = client.reconnect() => match r {
                Ok(report) => {
                    if report.primary {
                        self.report_up();
                        self.resync = true;
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
        self.core
            .dispatch(self.core.apply(|c| c.device_up(now, id, ports)));
    }
}

/// Every entry of the owned tables, as the device holds them.
async fn read_owned(client: &mut P4RuntimeClient) -> Result<Vec<p4::TableEntry>, ClientError> {
    let mut all = Vec::new();
    for table in OWNED_TABLES {
        all.extend(client.read_table(table, false).await?);
    }
    Ok(all)
}

/// Writes `updates` in one batch, then the retries the refusals call for; the mirror follows
/// what the device applied.
async fn write(
    client: &mut P4RuntimeClient,
    mirror: &mut Mirror,
    updates: Vec<p4::Update>,
) -> Result<(), ClientError> {
    match client.write(updates.clone()).await {
        Ok(()) => {
            updates.iter().for_each(|u| mirror.record(u));
            Ok(())
        }
        Err(ClientError::Write(err)) => {
            let retry = mirror.settle(&updates, &err);
            if retry.is_empty() {
                return Err(ClientError::Write(err));
            }
            match client.write(retry.clone()).await {
                Ok(()) => {
                    retry.iter().for_each(|u| mirror.record(u));
                    Ok(())
                }
                Err(ClientError::Write(again)) => {
                    mirror.settle(&retry, &again);
                    Err(ClientError::Write(again))
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
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
