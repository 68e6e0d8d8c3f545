//! The emulated networks of `prescient-sim` as the controller should come to see them.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use prescient_sim::openflow::{SimHandle, SimNetwork, SimOptions};
use prescient_sim::topology::{Endpoint, SimTopology};
use prescient_sim::traffic::TrafficConfig;
use prescient_topology::{DeviceId, LinkKey, PortNo, PortRef};

/// Both directions of every cable of `topo`, named as the controller names them: switch `i` is
/// the P4Runtime device of its datapath id when `is_p4(i)`, else the OpenFlow switch of it.
pub fn expected_links(topo: &SimTopology, is_p4: impl Fn(usize) -> bool) -> BTreeSet<LinkKey> {
    let end = |e: Endpoint| {
        let id = topo.switches[e.switch].dpid.0;
        let device = if is_p4(e.switch) {
            DeviceId::p4runtime(id)
        } else {
            DeviceId::openflow(id)
        };
        PortRef::new(device, PortNo(e.port.0))
    };
    topo.links
        .iter()
        .flat_map(|l| {
            [
                LinkKey::new(end(l.a), end(l.b)),
                LinkKey::new(end(l.b), end(l.a)),
            ]
        })
        .collect()
}

/// Emulated OpenFlow switches of `topo` connecting to `controller`, with default traffic run
/// 600 times faster than the wall clock in 50 ms steps, reconnecting within 20-200 ms when the
/// controller goes away (a test restarts it).
pub fn spawn_quick(topo: SimTopology, controller: SocketAddr) -> SimHandle {
    let options = SimOptions {
        speedup: 600.0,
        traffic_step: Duration::from_millis(50),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..SimOptions::default()
    };
    SimNetwork::build(topo, TrafficConfig::default())
        .with_options(options)
        .spawn(controller)
}
