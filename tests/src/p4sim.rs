//! The emulated P4Runtime fabric (prescient.p4 in `prescient-sim`) with a controller driving it
//! over real gRPC, and the reads a user with a P4Runtime client would make to check what the
//! controller installed: routes, meters, counters.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use prescient::driver::p4runtime::{prescient_p4info, P4Target};
use prescient::service::{Service, ServiceConfig};
use prescient_sim::fabric::MixedFabric;
use prescient_sim::p4rt::{serve_listener, P4SimNetwork};
use prescient_southbound::p4runtime::pipeconf::{names, FlowKey};
use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use tokio_util::sync::CancellationToken;

/// Serves `network` over gRPC on a free loopback port until the token is cancelled: the
/// address, the token and the server task.
pub async fn serve(
    network: Arc<P4SimNetwork>,
) -> (String, CancellationToken, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a free port");
    let address = listener
        .local_addr()
        .expect("the bound address")
        .to_string();
    let stop_sim = CancellationToken::new();
    let serving = serve_listener(listener, network, stop_sim.clone());
    let server = tokio::spawn(async move {
        let _ = serving.await;
    });
    (address, stop_sim, server)
}

/// Serves `network` on a free port and starts the controller driving every device, each with
/// ports 1..=`ports`.
pub async fn start(
    network: Arc<P4SimNetwork>,
    ports: u32,
    tune: impl FnOnce(&mut ServiceConfig),
) -> (Service, CancellationToken, tokio::task::JoinHandle<()>) {
    let (address, stop_sim, server) = serve(network.clone()).await;
    let service = controller(&address, &network, ports, tune).await;
    (service, stop_sim, server)
}

/// Serves the P4Runtime switches of a mixed fabric and starts the controller driving them; the
/// fabric's OpenFlow switches connect once it is spawned at the controller's OpenFlow address.
pub async fn start_mixed(
    fabric: &MixedFabric,
    tune: impl FnOnce(&mut ServiceConfig),
) -> (Service, CancellationToken, tokio::task::JoinHandle<()>) {
    let (address, stop_sim, server) = serve(fabric.p4_network()).await;
    let devices = fabric
        .p4_devices()
        .into_iter()
        .map(|d| (d.device_id, d.ports))
        .collect();
    let service = controller_of(&address, devices, tune).await;
    (service, stop_sim, server)
}

/// A controller driving every device of `network`, served at `address`.
pub async fn controller(
    address: &str,
    network: &P4SimNetwork,
    ports: u32,
    tune: impl FnOnce(&mut ServiceConfig),
) -> Service {
    let devices = network
        .device_ids()
        .into_iter()
        .map(|id| (id, (1..=ports).collect()))
        .collect();
    controller_of(address, devices, tune).await
}

/// A controller driving `devices` (device id, ports) running prescient.p4, served at `address`.
pub async fn controller_of(
    address: &str,
    devices: Vec<(u64, Vec<u32>)>,
    tune: impl FnOnce(&mut ServiceConfig),
) -> Service {
    let mut config = crate::controller::config("127.0.0.1:0".parse().expect("an address"), None);
    let p4info = prescient_p4info().expect("the embedded P4Info");
    config.p4 = devices
        .into_iter()
        .map(|(device_id, ports)| P4Target {
            stats_interval: Duration::from_millis(500),
            ..P4Target::running_prescient(address.to_string(), device_id, ports, p4info.clone())
        })
        .collect();
    tune(&mut config);
    Service::start(config).await.expect("the controller starts")
}

/// Every entry of `table` on `device`, read through the emulator's P4Runtime Read.
pub fn read_table(network: &P4SimNetwork, device: u64, table: &str) -> Vec<p4::TableEntry> {
    let info = prescient_p4info().expect("the embedded P4Info");
    let table_id = info
        .tables
        .iter()
        .find(|t| t.preamble.as_ref().is_some_and(|p| p.name == table))
        .and_then(|t| t.preamble.as_ref())
        .map(|p| p.id)
        .expect("the table in the P4Info");
    let req = p4::ReadRequest {
        device_id: device,
        role: String::new(),
        entities: vec![p4::Entity {
            entity: Some(p4::entity::Entity::TableEntry(p4::TableEntry {
                table_id,
                // Direct resources come back only when asked for (as on BMv2).
                meter_config: (table == names::FLOW_METER).then(p4::MeterConfig::default),
                ..Default::default()
            })),
        }],
    };
    // A device without a pipeline (just restarted) has no tables yet.
    network
        .read(&req)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| match e.entity {
            Some(p4::entity::Entity::TableEntry(t)) => Some(t),
            _ => None,
        })
        .collect()
}

/// Packets counted by `rx_port_counter` at `port` of `device` (reset by a pipeline push).
pub fn rx_packets(network: &P4SimNetwork, device: u64, port: i64) -> i64 {
    let info = prescient_p4info().expect("the embedded P4Info");
    let counter_id = info
        .counters
        .iter()
        .filter_map(|c| c.preamble.as_ref())
        .find(|p| p.name == names::RX_PORT_COUNTER)
        .map(|p| p.id)
        .expect("the counter in the P4Info");
    let req = p4::ReadRequest {
        device_id: device,
        role: String::new(),
        entities: vec![p4::Entity {
            entity: Some(p4::entity::Entity::CounterEntry(p4::CounterEntry {
                counter_id,
                index: Some(p4::Index { index: port }),
                data: None,
            })),
        }],
    };
    network
        .read(&req)
        .expect("reading the counter")
        .into_iter()
        .filter_map(|e| match e.entity {
            Some(p4::entity::Entity::CounterEntry(c)) => c.data.map(|d| d.packet_count),
            _ => None,
        })
        .sum()
}

/// The IPv4 address in the last four bytes of a canonical (shortest) byte string.
pub fn ipv4(bytes: &[u8]) -> Ipv4Addr {
    let mut b = [0u8; 4];
    let n = bytes.len().min(4);
    b[4 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    Ipv4Addr::from(b)
}

/// The value of an exact or LPM field match.
pub fn exact(m: &p4::FieldMatch) -> &[u8] {
    match &m.field_match_type {
        Some(p4::field_match::FieldMatchType::Exact(e)) => &e.value,
        Some(p4::field_match::FieldMatchType::Lpm(l)) => &l.value,
        other => panic!("unexpected match {other:?}"),
    }
}

/// `ipv4_lpm` of a device: destination → egress port.
pub fn routes(network: &P4SimNetwork, device: u64) -> BTreeMap<Ipv4Addr, u32> {
    read_table(network, device, names::IPV4_LPM)
        .iter()
        .map(|t| {
            let dst = ipv4(exact(&t.r#match[0]));
            let Some(p4::table_action::Type::Action(a)) =
                t.action.as_ref().and_then(|a| a.r#type.as_ref())
            else {
                panic!("route without a direct action: {t:?}");
            };
            let port = a.params[0]
                .value
                .iter()
                .fold(0u32, |acc, b| acc << 8 | u32::from(*b));
            (dst, port)
        })
        .collect()
}

/// `flow_meter` of a device: match → (cir, pir) in bytes/s.
pub fn meters(network: &P4SimNetwork, device: u64) -> BTreeMap<FlowKey, (i64, i64)> {
    let info = prescient_p4info().expect("the embedded P4Info");
    let fields: BTreeMap<u32, String> = info
        .tables
        .iter()
        .find(|t| {
            t.preamble
                .as_ref()
                .is_some_and(|p| p.name == names::FLOW_METER)
        })
        .map(|t| {
            t.match_fields
                .iter()
                .map(|f| (f.id, f.name.clone()))
                .collect()
        })
        .expect("flow_meter in the P4Info");
    read_table(network, device, names::FLOW_METER)
        .iter()
        .map(|t| {
            let mut key = FlowKey::default();
            for m in &t.r#match {
                let Some(p4::field_match::FieldMatchType::Ternary(x)) = &m.field_match_type else {
                    panic!("flow_meter is ternary: {m:?}");
                };
                let n = x.value.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b));
                match fields.get(&m.field_id).map(String::as_str) {
                    Some("hdr.ipv4.src_addr") => key.src = Some(Ipv4Addr::from(n)),
                    Some("hdr.ipv4.dst_addr") => key.dst = Some(Ipv4Addr::from(n)),
                    Some("hdr.ipv4.protocol") => key.protocol = u8::try_from(n).ok(),
                    Some("local_metadata.l4_src_port") => key.l4_src = u16::try_from(n).ok(),
                    Some("local_metadata.l4_dst_port") => key.l4_dst = u16::try_from(n).ok(),
                    other => panic!("unknown flow_meter field {other:?}"),
                }
            }
            let config = t.meter_config.unwrap_or_default();
            (key, (config.cir, config.pir))
        })
        .collect()
}

/// The `flow_meter` match of a host pair's addresses (what a pair reservation meters).
pub fn pair_key(src: Ipv4Addr, dst: Ipv4Addr) -> FlowKey {
    FlowKey {
        src: Some(src),
        dst: Some(dst),
        ..FlowKey::default()
    }
}

/// An ARP frame: a broadcast request from `sender` for `target`, or a reply to `to`.
pub fn arp(sender: ([u8; 6], Ipv4Addr), target: Ipv4Addr, to: Option<[u8; 6]>) -> Vec<u8> {
    let mut f = to.unwrap_or([0xff; 6]).to_vec();
    f.extend_from_slice(&sender.0);
    f.extend_from_slice(&[
        0x08,
        0x06,
        0,
        1,
        0x08,
        0,
        6,
        4,
        0,
        if to.is_some() { 2 } else { 1 },
    ]);
    f.extend_from_slice(&sender.0);
    f.extend_from_slice(&sender.1.octets());
    f.extend_from_slice(&to.unwrap_or([0; 6]));
    f.extend_from_slice(&target.octets());
    f
}

/// A MAC address as the 48-bit number P4Runtime carries.
pub fn mac_u64(m: [u8; 6]) -> u64 {
    m.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b))
}
