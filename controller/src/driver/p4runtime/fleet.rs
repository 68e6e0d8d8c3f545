//! How the core's actions and packet-outs reach the P4Runtime device tasks.
//!
//! The OpenFlow driver owns the core's action outlet (`SharedCore::next_actions`) and the
//! planning tick, so it is the one place every [`Action`] passes exactly once. It keeps the
//! master [`P4Plan`] in a [`P4Fleet`]: each action is folded in, and when the plan changed a new
//! immutable [`Fleet`] is published to every device task (a `watch`: a slow task only ever sees
//! the newest plan, which is all desired state needs). Each task derives its own entries from
//! it. Packet-outs (LLDP probes, relayed ARP) go through a bounded per-device queue instead; a
//! full queue drops the frame, as a switch's CPU port would.

use std::collections::BTreeMap;
use std::sync::Arc;

use prescient_topology::Probe;
use tokio::sync::{mpsc, watch};

use super::arp::ArpRelay;
use super::desired::FabricCache;
use super::plan::P4Plan;
use super::reconcile::Adoptions;
use crate::core::Action;

/// Frames queued per device before new ones are dropped.
const FRAME_QUEUE: usize = 256;

/// A frame for a device task to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToDevice {
    /// Send `frame` out of `port`.
    PacketOut {
        /// Egress port.
        port: u32,
        /// Ethernet frame.
        frame: Vec<u8>,
    },
    /// Send `frame` out of every host-facing port except `except`.
    Flood {
        /// Ethernet frame.
        frame: Vec<u8>,
        /// The port it came in by, when on this device.
        except: Option<u32>,
    },
}

/// What every device task shares: the plan and the way to the other devices.
#[derive(Debug, Default)]
pub struct Fleet {
    /// Increases with every published change of the plan.
    pub version: u64,
    /// The plan.
    pub plan: P4Plan,
    /// Each device's frame queue, by device id.
    pub peers: BTreeMap<u64, mpsc::Sender<ToDevice>>,
    /// Relayed ARP frames, to recognise them when they come back.
    pub relay: Arc<ArpRelay>,
    /// The topology and hosts, read once for all devices.
    pub fabric: Arc<FabricCache>,
    /// Hosts taken from routes read back after a takeover.
    pub adopted: Arc<Adoptions>,
}

/// A device task's mailbox, held by the OpenFlow driver.
#[derive(Debug)]
pub struct P4Inbox {
    frames: mpsc::Sender<ToDevice>,
    fleet: watch::Sender<Arc<Fleet>>,
}

/// The receiving ends a device task reads.
#[derive(Debug)]
pub struct Mailbox {
    /// Frames to send.
    pub frames: mpsc::Receiver<ToDevice>,
    /// The newest fleet.
    pub fleet: watch::Receiver<Arc<Fleet>>,
}

/// A new mailbox pair: the inbox for the driver, the mailbox for the device task.
pub fn mailbox() -> (P4Inbox, Mailbox) {
    let (ftx, frx) = mpsc::channel(FRAME_QUEUE);
    let (wtx, wrx) = watch::channel(Arc::new(Fleet::default()));
    (
        P4Inbox {
            frames: ftx,
            fleet: wtx,
        },
        Mailbox {
            frames: frx,
            fleet: wrx,
        },
    )
}

/// The OpenFlow driver's side: the master plan and every device's inbox.
#[derive(Debug)]
pub struct P4Fleet {
    inboxes: BTreeMap<u64, P4Inbox>,
    plan: P4Plan,
    version: u64,
    relay: Arc<ArpRelay>,
    fabric: Arc<FabricCache>,
    adopted: Arc<Adoptions>,
}

impl P4Fleet {
    /// Takes the inboxes of every P4Runtime device task and publishes the first fleet.
    pub fn new(inboxes: BTreeMap<u64, P4Inbox>) -> Self {
        let fleet = P4Fleet {
            inboxes,
            plan: P4Plan::new(),
            // 0 is the empty fleet a task holds before the first publication (with a
            // fabric cache of its own, whose generations mean nothing here).
            version: 1,
            relay: Arc::new(ArpRelay::default()),
            fabric: Arc::new(FabricCache::default()),
            adopted: Arc::default(),
        };
        fleet.publish();
        fleet
    }

    /// Folds actions into the plan; devices are told when it changed.
    pub fn apply(&mut self, actions: &[Action]) {
        let mut changed = false;
        for a in actions {
            changed |= self.plan.apply(a);
        }
        if changed {
            self.version += 1;
            self.publish();
        }
    }

    /// The plan as it stands.
    pub fn plan(&self) -> &P4Plan {
        &self.plan
    }

    /// Queues an LLDP probe for its device; false when it was dropped (unknown device or
    /// full queue: probes recur, so the next round tries again).
    pub fn probe(&self, probe: Probe) -> bool {
        self.inboxes.get(&probe.port.device.id).is_some_and(|i| {
            i.frames
                .try_send(ToDevice::PacketOut {
                    port: probe.port.port.0,
                    frame: probe.frame,
                })
                .is_ok()
        })
    }

    fn publish(&self) {
        let peers: BTreeMap<u64, mpsc::Sender<ToDevice>> = self
            .inboxes
            .iter()
            .map(|(id, i)| (*id, i.frames.clone()))
            .collect();
        let fleet = Arc::new(Fleet {
            version: self.version,
            plan: self.plan.clone(),
            peers,
            relay: Arc::clone(&self.relay),
            fabric: Arc::clone(&self.fabric),
            adopted: Arc::clone(&self.adopted),
        });
        for inbox in self.inboxes.values() {
            // A task that has stopped has no use for the plan.
            let _ = inbox.fleet.send(Arc::clone(&fleet));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prescient_topology::{DeviceId, LinkKey, MacAddr, PortNo, PortRef, ReservationId, Subject};

    fn port(d: DeviceId, n: u32) -> PortRef {
        PortRef {
            device: d,
            port: PortNo(n),
        }
    }

    #[tokio::test]
    async fn devices_see_a_new_plan_only_when_an_action_changed_it() {
        let (inbox, mut mailbox) = mailbox();
        let mut fleet = P4Fleet::new(BTreeMap::from([(3, inbox)]));
        assert!(mailbox.fleet.has_changed().unwrap_or(false));
        let first = mailbox.fleet.borrow_and_update().clone();
        assert_eq!(first.version, 1);
        assert!(first.peers.contains_key(&3));

        let of = DeviceId::openflow(1);
        let p4 = DeviceId::p4runtime(3);
        let hosts = Subject::HostPair {
            src: MacAddr([2, 0, 0, 0, 0, 1]),
            dst: MacAddr([2, 0, 0, 0, 0, 2]),
        };
        let of_only = Action::InstallMeter {
            reservation: ReservationId(1),
            subject: hosts.clone(),
            rate_bps: 1,
            police: true,
            ports: vec![port(of, 1)],
        };
        fleet.apply(std::slice::from_ref(&of_only));
        assert!(!mailbox.fleet.has_changed().unwrap_or(true));

        let steer = Action::InstallPath {
            src: MacAddr([2, 0, 0, 0, 0, 1]),
            dst: MacAddr([2, 0, 0, 0, 0, 2]),
            links: vec![LinkKey {
                src: port(of, 2),
                dst: port(p4, 1),
            }],
            exit: None,
            decision: 1,
        };
        // The link leaves an OpenFlow switch: nothing for P4 devices to do.
        fleet.apply(std::slice::from_ref(&steer));
        assert!(!mailbox.fleet.has_changed().unwrap_or(true));

        let mixed = Action::InstallMeter {
            reservation: ReservationId(2),
            subject: hosts,
            rate_bps: 1,
            police: true,
            ports: vec![port(of, 1), port(p4, 2)],
        };
        fleet.apply(&[mixed]);
        assert!(mailbox.fleet.has_changed().unwrap_or(false));
        let now = mailbox.fleet.borrow_and_update().clone();
        assert_eq!(now.version, 2);
        assert_eq!(now.plan.meters().len(), 1);
    }

    #[tokio::test]
    async fn probes_reach_their_device_queue() {
        let (inbox, mut mailbox) = mailbox();
        let fleet = P4Fleet::new(BTreeMap::from([(3, inbox)]));
        let probe = |d| Probe {
            port: port(DeviceId::p4runtime(d), 2),
            frame: vec![1, 2, 3],
        };
        assert!(fleet.probe(probe(3)));
        assert!(!fleet.probe(probe(4)), "no such device");
        assert_eq!(
            mailbox.frames.recv().await,
            Some(ToDevice::PacketOut {
                port: 2,
                frame: vec![1, 2, 3]
            })
        );
    }
}
