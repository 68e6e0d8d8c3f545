//! One emulated network of mixed protocols: a [`SimTopology`] in which chosen switches run
//! prescient.p4 behind P4Runtime ([`P4SimNetwork`]) and the others speak OpenFlow 1.3
//! ([`SimNetwork`]), with cables between the two kinds carrying frames both ways and one traffic
//! engine moving the counters of every port.
//!
//! Invariants:
//! - Switch `i` of the topology is datapath `i + 1` when it speaks OpenFlow and P4Runtime device
//!   `i + 1` when it runs prescient.p4: one number per node whatever its protocol, so no number
//!   is used twice (the controller names them `of:<16 hex digits>` and `p4:<decimal>`).
//! - A P4 switch has the topology's ports, numbered alike. A cable between two P4 switches is a
//!   link of the P4 emulator; a cable to an OpenFlow switch is cabled out to the bridge
//!   (`fabric/bridge.rs`). An LLDP probe sent by packet-out on one side of such a cable arrives as a
//!   packet-in on the other, so the controller's drivers discover it as they discover any link.
//! - A frame crossing is counted once at each end: `tx` where it leaves, `rx` where it arrives.
//! - Traffic: one [`TrafficEngine`](crate::traffic::TrafficEngine) routes every host pair on
//!   shortest paths across both kinds; after each step the P4 ports' share is added to the P4
//!   devices' counters, so both ends of every cable agree. A P4 device counts from the moment its
//!   pipeline is set (BMv2's counters start with the pipeline, too).
//! - Each emulator stays usable alone: nothing here changes how either behaves without it.

mod bridge;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;

use prescient_southbound::openflow::wire::{DatapathId, PortNo};
use thiserror::Error;

use crate::openflow::{SimError, SimHandle, SimNetwork, SimOptions};
use crate::p4rt::{P4SimNetwork, SchemaError};
use crate::topology::{Endpoint, SimTopology};
use crate::traffic::PortCounterValues;

/// Which protocol a switch of the fabric speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SwitchProtocol {
    /// An emulated OpenFlow 1.3 switch connecting to the controller.
    OpenFlow,
    /// An emulated P4Runtime target running prescient.p4, served over gRPC.
    P4Runtime,
}

/// Why a mixed fabric could not be built.
#[derive(Debug, Error)]
pub enum FabricError {
    /// A switch named to run P4Runtime is not in the topology.
    #[error("switch index {index} named as P4Runtime is out of range: the topology has {switches} switches")]
    NoSuchSwitch {
        /// The index given.
        index: usize,
        /// Switches in the topology.
        switches: usize,
    },
    /// More P4Runtime switches asked for than the topology has.
    #[error("{asked} P4Runtime switches asked for, but the topology has only {switches}")]
    TooMany {
        /// How many were asked for.
        asked: usize,
        /// Switches in the topology.
        switches: usize,
    },
    /// The P4 emulator could not load prescient.p4's P4Info.
    #[error("loading prescient.p4's P4Info: {0}")]
    Schema(#[from] SchemaError),
}

/// `count` switch indices out of `switches`, spread evenly from index 0 (4 of 12: 0, 3, 6, 9).
pub fn spread(count: usize, switches: usize) -> Result<Vec<usize>, FabricError> {
    if count > switches {
        return Err(FabricError::TooMany {
            asked: count,
            switches,
        });
    }
    Ok((0..count).map(|k| k * switches / count).collect())
}

/// A P4Runtime device of the fabric, as a controller must be told of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P4Device {
    /// Topology index of the switch.
    pub switch: usize,
    /// P4Runtime device id (`switch + 1`).
    pub device_id: u64,
    /// Its data-plane ports (P4Runtime does not report them).
    pub ports: Vec<u32>,
}

/// A mixed fabric ready to start: the P4 half exists (serve it before the controller needs it),
/// the OpenFlow half starts with [`spawn`](Self::spawn).
pub struct MixedFabric {
    topo: SimTopology,
    is_p4: Vec<bool>,
    options: SimOptions,
    network: Arc<P4SimNetwork>,
}

impl std::fmt::Debug for MixedFabric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MixedFabric")
            .field("topology", &self.topo.kind)
            .field("p4_switches", &self.p4_switches())
            .finish_non_exhaustive()
    }
}

impl MixedFabric {
    /// `topo` with the switches at indices `p4_switches` running P4Runtime, the others OpenFlow.
    pub fn new(
        topo: SimTopology,
        p4_switches: &[usize],
        options: SimOptions,
    ) -> Result<MixedFabric, FabricError> {
        let switches = topo.switches.len();
        let mut is_p4 = vec![false; switches];
        for &index in p4_switches {
            *is_p4
                .get_mut(index)
                .ok_or(FabricError::NoSuchSwitch { index, switches })? = true;
        }
        let device = |switch: usize| topo.switches.get(switch).map(|s| s.dpid.0);
        let mut network = P4SimNetwork::with_devices(
            (0..switches)
                .filter(|&i| is_p4.get(i).copied().unwrap_or(false))
                .filter_map(device),
        )?;
        let p4 = |e: Endpoint| -> Option<(u64, u32)> {
            is_p4
                .get(e.switch)
                .copied()
                .unwrap_or(false)
                .then(|| Some((device(e.switch)?, e.port.0)))
                .flatten()
        };
        for l in &topo.links {
            match (p4(l.a), p4(l.b)) {
                (Some(a), Some(b)) => network.link(a, b),
                (Some(a), None) => network.cable_out(a),
                (None, Some(b)) => network.cable_out(b),
                (None, None) => {}
            }
        }
        Ok(MixedFabric {
            topo,
            is_p4,
            options,
            network: Arc::new(network),
        })
    }

    /// The topology.
    pub fn topology(&self) -> &SimTopology {
        &self.topo
    }

    /// The protocol of switch `switch`, if it exists.
    pub fn protocol(&self, switch: usize) -> Option<SwitchProtocol> {
        self.is_p4.get(switch).map(|&p4| {
            if p4 {
                SwitchProtocol::P4Runtime
            } else {
                SwitchProtocol::OpenFlow
            }
        })
    }

    /// Indices of the P4Runtime switches.
    pub fn p4_switches(&self) -> Vec<usize> {
        (0..self.is_p4.len())
            .filter(|&i| self.is_p4.get(i).copied().unwrap_or(false))
            .collect()
    }

    /// The P4Runtime devices, with their ports.
    pub fn p4_devices(&self) -> Vec<P4Device> {
        self.p4_switches()
            .into_iter()
            .filter_map(|switch| {
                let spec = self.topo.switches.get(switch)?;
                Some(P4Device {
                    switch,
                    device_id: spec.dpid.0,
                    ports: spec.ports.iter().map(|p| p.0).collect(),
                })
            })
            .collect()
    }

    /// The P4 half, to serve over gRPC (`p4rt::serve_listener`).
    pub fn p4_network(&self) -> Arc<P4SimNetwork> {
        self.network.clone()
    }

    /// Starts the OpenFlow switches (connecting to `controller`) and the traffic model, and
    /// joins the two halves. Must be called within a tokio runtime.
    pub fn spawn(self, controller: SocketAddr) -> MixedHandle {
        self.spawn_with_controllers(vec![controller])
    }

    /// As [`Self::spawn`], the OpenFlow switches connecting to each of `controllers`.
    pub fn spawn_with_controllers(self, controllers: Vec<SocketAddr>) -> MixedHandle {
        let MixedFabric {
            topo,
            is_p4,
            options,
            network,
        } = self;
        let p4_side = Arc::new(bridge::P4Side::new(&topo, &is_p4, network.clone()));
        let openflow = SimNetwork::build(topo.clone(), options.traffic.clone())
            .with_options(options)
            .with_foreign(p4_side)
            .spawn_with_controllers(controllers);
        network.set_uplink(Arc::new(bridge::OpenFlowSide::new(
            &topo,
            &is_p4,
            openflow.inlet(),
        )));
        MixedHandle {
            openflow,
            network,
            is_p4,
        }
    }
}

/// Control of a running mixed fabric.
#[derive(Clone)]
pub struct MixedHandle {
    openflow: SimHandle,
    network: Arc<P4SimNetwork>,
    is_p4: Vec<bool>,
}

impl std::fmt::Debug for MixedHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MixedHandle")
            .field("openflow", &self.openflow)
            .field("p4_devices", &self.network.device_ids())
            .finish_non_exhaustive()
    }
}

impl MixedHandle {
    /// The OpenFlow half (links up/down, hosts, flow tables, connection counts).
    pub fn openflow(&self) -> &SimHandle {
        &self.openflow
    }

    /// The P4 half.
    pub fn p4_network(&self) -> &Arc<P4SimNetwork> {
        &self.network
    }

    /// The topology.
    pub fn topology(&self) -> &SimTopology {
        self.openflow.topology()
    }

    /// Takes the cable between switches `a` and `b` (topology indices) down or brings it up:
    /// the traffic model stops routing over it, frames stop crossing it (both ways), and an
    /// OpenFlow end reports PORT_STATUS.
    pub async fn set_link(&self, a: usize, b: usize, up: bool) -> Result<(), SimError> {
        let topo = self.topology();
        // Switch `i` would be datapath `i + 1`: the error names the id the caller would expect.
        let dpid = |i: usize| {
            topo.switches
                .get(i)
                .map(|s| s.dpid)
                .ok_or(SimError::UnknownSwitch(DatapathId(i as u64 + 1)))
        };
        let (da, db) = (dpid(a)?, dpid(b)?);
        self.openflow.set_link(da, db, up).await?;
        let both_p4 = [a, b]
            .iter()
            .all(|&i| self.is_p4.get(i).copied().unwrap_or(false));
        if both_p4 {
            if let Some((end, _)) = topo.link_between(a, b) {
                self.network.set_link_up((da.0, end.port.0), up);
            }
        }
        Ok(())
    }

    /// Counters of a port as its own switch reports them (OpenFlow PORT_STATS or the P4
    /// program's port counters); None for no such port or a P4 device without a pipeline.
    pub fn port_counters(&self, switch: usize, port: PortNo) -> Option<PortCounterValues> {
        let spec = self.topology().switches.get(switch)?;
        if *self.is_p4.get(switch)? {
            self.network.port_counters(spec.dpid.0, port.0)
        } else {
            self.openflow.port_counters(spec.dpid, port).ok()
        }
    }

    /// Stops the OpenFlow switches and the traffic model (the P4 half stops with its server).
    pub async fn shutdown(&self) {
        self.openflow.shutdown().await;
    }
}
