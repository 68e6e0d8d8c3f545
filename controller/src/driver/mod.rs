//! Drivers: the async glue between the southbound sessions and the sans-IO controller core.

pub mod forecast_pool;
pub mod openflow;
pub mod p4runtime;
pub mod stride;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use prescient_topology::{DeviceId, MacAddr, PortRef};

use crate::core::{Action, SharedCore};

const ETH_TYPE_LLDP: u16 = 0x88cc;
const ETH_TYPE_ARP: u16 = 0x0806;
const ETH_TYPE_IPV4: u16 = 0x0800;

/// The flow key of a host pair's counters on any switch of either protocol: one key per pair,
/// so the traffic matrix takes the largest count over the switches that see the pair instead
/// of adding them up.
pub(crate) fn pair_cookie(src: MacAddr, dst: MacAddr) -> u64 {
    let key = |m: MacAddr| m.0.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
    key(src) ^ key(dst).rotate_left(17)
}

/// A frame a switch of either protocol punted at `at`: LLDP feeds link discovery, ARP and IPv4
/// feed host tracking; anything else is ignored. The core's resulting actions go to the outlet
/// (`SharedCore::decide`).
pub(crate) fn punted_frame(core: &SharedCore, at: PortRef, frame: &[u8]) {
    punted_frames(core, [(at, frame)]);
}

/// Several punted frames in one entry into the core: one lock, and one topology snapshot
/// published for all of them (a snapshot is rebuilt whole, so one per frame would cost a
/// rebuild per new host while a network's hosts are being learned).
pub(crate) fn punted_frames<'a>(
    core: &SharedCore,
    frames: impl IntoIterator<Item = (PortRef, &'a [u8])>,
) {
    let now = core.now();
    core.decide(|c| {
        let mut actions = Vec::new();
        for (at, frame) in frames {
            actions.extend(apply_punted(c, now, at, frame));
        }
        actions
    });
}

fn apply_punted(
    c: &mut crate::core::ControllerCore,
    now: prescient_topology::Timestamp,
    at: PortRef,
    frame: &[u8],
) -> Vec<Action> {
    let Some(eth_type) = frame.get(12..14).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
        return Vec::new();
    };
    let result = match eth_type {
        ETH_TYPE_LLDP => c.lldp_frame_received(now, at, frame),
        ETH_TYPE_ARP | ETH_TYPE_IPV4 => match sender(eth_type, frame) {
            Some((mac, ip)) if !mac.is_multicast() => {
                c.host_seen(now, mac, ip, at).map(|mut actions| {
                    // An IPv4 frame between two hosts that no entry carried: route the pair.
                    let dst = frame.get(0..6).and_then(|b| <[u8; 6]>::try_from(b).ok());
                    if let (ETH_TYPE_IPV4, Some(dst)) = (eth_type, dst) {
                        actions.extend(c.pair_seen(now, mac, MacAddr(dst)));
                    }
                    actions
                })
            }
            _ => Ok(Vec::new()),
        },
        _ => Ok(Vec::new()),
    };
    result.unwrap_or_else(|e| {
        tracing::debug!(%at.device, port = at.port.0, "punted frame not applied: {e}");
        Vec::new()
    })
}

/// The sender of an ARP or IPv4 frame: source MAC, and its IPv4 address when the frame says.
fn sender(eth_type: u16, frame: &[u8]) -> Option<(MacAddr, Option<Ipv4Addr>)> {
    let mac: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
    let ip_at = match eth_type {
        // ARP over Ethernet/IPv4: sender protocol address at 14 + 14.
        ETH_TYPE_ARP => 28..32,
        // IPv4 source address at 14 + 12.
        _ => 26..30,
    };
    let ip = frame
        .get(ip_at)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(Ipv4Addr::from)
        .filter(|ip| !ip.is_unspecified());
    Some((MacAddr(mac), ip))
}

/// Every device an action asks something of, whatever its protocol. The OpenFlow driver
/// writes to the OpenFlow ones (`openflow::commands`), the P4 plan to the P4Runtime ones; no
/// device is left out and none is written by both.
pub fn devices_touched(action: &Action) -> BTreeSet<DeviceId> {
    match action {
        Action::InstallMeter { ports, .. } | Action::RemoveMeter { ports, .. } => {
            ports.iter().map(|p| p.device).collect()
        }
        Action::InstallPath { links, .. } => links.iter().map(|l| l.src.device).collect(),
        Action::SetTranslation { devices, .. } | Action::RemoveTranslation { devices, .. } => {
            devices.iter().copied().collect()
        }
        Action::SetServiceBackends { hops, .. } => hops.iter().map(|h| h.device).collect(),
        Action::CallHook(_) => BTreeSet::new(),
    }
}

#[cfg(test)]
mod routing_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_from_arp_and_ipv4_senders() {
        let mut arp = vec![0xff; 6];
        arp.extend_from_slice(&[2, 0, 0, 0, 0, 9]);
        arp.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        arp.extend_from_slice(&[2, 0, 0, 0, 0, 9, 10, 0, 0, 9]);
        arp.extend_from_slice(&[0; 10]);
        let (mac, ip) = sender(ETH_TYPE_ARP, &arp).expect("an ARP sender");
        assert_eq!(mac, MacAddr([2, 0, 0, 0, 0, 9]));
        assert_eq!(ip, Some(Ipv4Addr::new(10, 0, 0, 9)));
        assert_eq!(sender(ETH_TYPE_ARP, &arp[..8]), None);
    }

    /// Frames of any length whose EtherType is one the controller reads.
    fn punted() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        (
            proptest::collection::vec(any::<u8>(), 0..12),
            prop_oneof![
                Just(ETH_TYPE_LLDP),
                Just(ETH_TYPE_ARP),
                Just(ETH_TYPE_IPV4),
                any::<u16>()
            ],
            proptest::collection::vec(any::<u8>(), 0..80),
        )
            .prop_map(|(head, eth_type, tail)| {
                let mut f = head;
                f.resize(12, 0);
                f.extend_from_slice(&eth_type.to_be_bytes());
                f.extend(tail);
                f
            })
    }

    proptest::proptest! {
        // Frames come from switches: whatever their bytes, the parsers and the core answer
        // without panicking.
        #[test]
        fn no_punted_frame_panics_the_controller(
            frame in punted(),
            cut in 0usize..100,
        ) {
            let core = SharedCore::new(crate::core::CoreConfig::default());
            let at = PortRef::new(DeviceId::openflow(1), prescient_topology::PortNo(1));
            let frame = &frame[..cut.min(frame.len())];
            punted_frame(&core, at, frame);
            let _ = sender(ETH_TYPE_ARP, frame);
            let _ = sender(ETH_TYPE_IPV4, frame);
            let _ = crate::proxy_arp::requested(frame);
            let _ = crate::proxy_arp::reply(frame, MacAddr([2, 0, 0, 0, 0, 1]));
            let snapshot = core.snapshot();
            let _ = p4runtime::arp::decide(frame, at, &snapshot);
        }
    }
}
