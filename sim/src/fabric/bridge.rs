//! The two directions of a cable between an OpenFlow switch and a P4 switch, and the traffic
//! model's share of the P4 ports.
//!
//! [`P4Side`] is what the OpenFlow emulator sees of the P4 switches ([`Foreign`]): frames handed
//! to it enter the P4 pipeline at once; counters moved by the traffic engine are added to the P4
//! devices' port counters as deltas. [`OpenFlowSide`] is what the P4 emulator sees past its
//! cabled-out ports ([`Uplink`]): frames are queued into the OpenFlow switch's inbox.
//!
//! Lock order: the P4 emulator holds one device lock while it calls [`OpenFlowSide::carry`],
//! which only queues; [`P4Side::carry`] runs in an OpenFlow switch's task with no lock held.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::openflow::network::{Foreign, FrameInlet};
use crate::p4rt::network::{PortRef, Uplink};
use crate::p4rt::P4SimNetwork;
use crate::topology::{Endpoint, SimTopology};
use crate::traffic::{FabricCounters, PortCounterValues};

/// One port of a P4 switch whose traffic-model counters are mirrored.
#[derive(Debug, Clone, Copy)]
struct Mirrored {
    at: Endpoint,
    device: u64,
    /// Counter values already added to the device.
    seen: PortCounterValues,
}

/// The P4 switches, as the OpenFlow emulator sees them.
pub(super) struct P4Side {
    network: Arc<P4SimNetwork>,
    /// Per switch: its P4 device id, or None for an OpenFlow switch.
    device: Vec<Option<u64>>,
    ports: Mutex<Vec<Mirrored>>,
}

impl std::fmt::Debug for P4Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P4Side")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl P4Side {
    pub(super) fn new(topo: &SimTopology, is_p4: &[bool], network: Arc<P4SimNetwork>) -> P4Side {
        let device: Vec<Option<u64>> = topo
            .switches
            .iter()
            .enumerate()
            .map(|(i, s)| is_p4.get(i).copied().unwrap_or(false).then_some(s.dpid.0))
            .collect();
        let ports = topo
            .switches
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s, (*device.get(i)?)?)))
            .flat_map(|(switch, s, device)| {
                s.ports.iter().map(move |&port| Mirrored {
                    at: Endpoint { switch, port },
                    device,
                    seen: PortCounterValues::default(),
                })
            })
            .collect();
        P4Side {
            network,
            device,
            ports: Mutex::new(ports),
        }
    }
}

impl Foreign for P4Side {
    fn runs(&self, switch: usize) -> bool {
        self.device.get(switch).is_some_and(Option::is_some)
    }

    fn carry(&self, to: Endpoint, frame: Bytes, hops: u8) {
        if let Some(Some(device)) = self.device.get(to.switch) {
            self.network
                .receive(*device, to.port.0, frame.to_vec(), usize::from(hops));
        }
    }

    fn host_frame(&self, at: Endpoint, frame: Bytes) {
        if let Some(Some(device)) = self.device.get(at.switch) {
            // Frames leaving for hosts are the P4 emulator's to keep; nothing to do with them.
            let _ = self.network.inject(*device, at.port.0, frame.to_vec());
        }
    }

    fn pair_entered(
        &self,
        at: Endpoint,
        pair: (std::net::Ipv4Addr, std::net::Ipv4Addr),
        packets: u64,
        bytes: u64,
    ) {
        if let Some(Some(device)) = self.device.get(at.switch) {
            self.network.add_pair_traffic(*device, pair, packets, bytes);
        }
    }

    fn counters_moved(&self, counters: &FabricCounters) {
        // Only the traffic model writes a P4 port's entry in `counters` (frames are counted by
        // the pipeline), so the growth since the last call is exactly the model's new traffic.
        let Ok(mut ports) = self.ports.lock() else {
            return;
        };
        for m in ports.iter_mut() {
            let Some(now) = counters.port(m.at).map(|c| c.load()) else {
                continue;
            };
            let d = |a: u64, b: u64| a.saturating_sub(b);
            self.network.add_port_traffic(
                m.device,
                m.at.port.0,
                (
                    d(now.rx_packets, m.seen.rx_packets),
                    d(now.rx_bytes, m.seen.rx_bytes),
                ),
                (
                    d(now.tx_packets, m.seen.tx_packets),
                    d(now.tx_bytes, m.seen.tx_bytes),
                ),
            );
            m.seen = now;
        }
    }
}

/// The OpenFlow switches past the P4 switches' cabled-out ports.
#[derive(Debug)]
pub(super) struct OpenFlowSide {
    inlet: FrameInlet,
    /// P4 port → the OpenFlow port at the other end of its cable.
    far_end: BTreeMap<PortRef, Endpoint>,
}

impl OpenFlowSide {
    pub(super) fn new(topo: &SimTopology, is_p4: &[bool], inlet: FrameInlet) -> OpenFlowSide {
        let p4 = |e: Endpoint| is_p4.get(e.switch).copied().unwrap_or(false);
        let dpid = |e: Endpoint| topo.switches.get(e.switch).map(|s| s.dpid.0);
        let mut far_end = BTreeMap::new();
        for l in &topo.links {
            for (near, far) in [(l.a, l.b), (l.b, l.a)] {
                if p4(near) && !p4(far) {
                    if let Some(device) = dpid(near) {
                        far_end.insert((device, near.port.0), far);
                    }
                }
            }
        }
        OpenFlowSide { inlet, far_end }
    }
}

impl Uplink for OpenFlowSide {
    fn carry(&self, from: PortRef, frame: Vec<u8>, hops: usize) -> bool {
        let Some(&to) = self.far_end.get(&from) else {
            return false;
        };
        let hops = u8::try_from(hops).unwrap_or(u8::MAX);
        self.inlet.deliver(to, Bytes::from(frame), hops)
    }
}
