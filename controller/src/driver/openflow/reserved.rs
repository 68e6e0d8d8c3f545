//! Reservation flows and meters as the OpenFlow switches should hold them.
//!
//! A switch holds one flow entry per match and priority, so reservations with the same subject
//! (two API reservations of one host pair, say) cannot each have their own: the second would
//! replace the first, and releasing it would delete the flow the first still needs. They share
//! one entry per switch instead, metered at the sum of their rates, as the P4 driver meters an
//! address pair at the sum of its reservations. The entry carries the meter and cookie of its
//! lowest reservation id and that reservation's egress port; releasing one reservation leaves
//! the entry at the sum of the rest, and removes it with the last.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prescient_southbound::openflow::session::Command;
use prescient_southbound::openflow::wire::{
    Action as OfAction, DatapathId, FlowMod, Instruction, MacAddr as OfMac, Match, MeterBand,
    MeterCommand, MeterFlags, MeterId, MeterMod, OxmField, PortNo as OfPort, TableId,
};
use prescient_topology::{PortRef, Protocol, ReservationId, Subject};

use super::{ETH_TYPE_IPV4, RESERVATION_COOKIE, STEER_PRIORITY};

/// One reservation's part: what it matches, its rate and its egress port per OpenFlow switch.
#[derive(Debug, Clone)]
struct Member {
    match_: Match,
    rate_bps: u64,
    out: BTreeMap<DatapathId, OfPort>,
}

/// One programmed entry: a flow at [`STEER_PRIORITY`] through its meter.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    meter: MeterId,
    rate_kbps: u32,
    out: OfPort,
}

/// The reservations the switches carry and the entries programmed for them, per (switch, match).
#[derive(Debug, Default)]
pub(crate) struct ReservedFlows {
    members: BTreeMap<ReservationId, Member>,
    entries: HashMap<(DatapathId, Match), Entry>,
}

impl ReservedFlows {
    /// Folds a meter action in; returns the OpenFlow messages that take the switches from the
    /// entries they held to the ones they should hold now. Other actions give nothing.
    pub(crate) fn apply(&mut self, action: &crate::core::Action) -> Vec<(DatapathId, Command)> {
        use crate::core::Action;
        let (reservation, new) = match action {
            Action::InstallMeter {
                reservation,
                subject,
                rate_bps,
                ports,
            } => {
                let out: BTreeMap<DatapathId, OfPort> = openflow_ports(ports).collect();
                let member = Member {
                    match_: subject_match(subject),
                    rate_bps: *rate_bps,
                    out,
                };
                (*reservation, Some(member).filter(|m| !m.out.is_empty()))
            }
            Action::RemoveMeter { reservation, ports } => {
                if !self.members.contains_key(reservation) {
                    // Installed before this driver started (another leader, a restart): its
                    // match is not known, but its flow carries its cookie and its own meter.
                    return unknown_removal(*reservation, ports);
                }
                (*reservation, None)
            }
            _ => return Vec::new(),
        };
        let old = self.members.remove(&reservation);
        let mut touched: BTreeSet<(DatapathId, usize)> = BTreeSet::new();
        let mut matches: Vec<Match> = Vec::new();
        for m in old.iter().chain(new.iter()) {
            let i = match matches.iter().position(|x| *x == m.match_) {
                Some(i) => i,
                None => {
                    matches.push(m.match_.clone());
                    matches.len() - 1
                }
            };
            touched.extend(m.out.keys().map(|d| (*d, i)));
        }
        if let Some(m) = new {
            self.members.insert(reservation, m);
        }
        let mut out = Vec::new();
        for (dpid, i) in touched {
            self.reconcile(dpid, &matches[i], &mut out);
        }
        out
    }

    /// The entry `match_` should have on `dpid`: the sum of the rates of the reservations
    /// through it, with the meter and port of the lowest id among them.
    fn desired(&self, dpid: DatapathId, match_: &Match) -> Option<Entry> {
        let mut first: Option<(ReservationId, OfPort)> = None;
        let mut rate_bps: u64 = 0;
        for (id, m) in &self.members {
            let Some(port) = m.out.get(&dpid) else {
                continue;
            };
            if m.match_ != *match_ {
                continue;
            }
            first.get_or_insert((*id, *port));
            rate_bps = rate_bps.saturating_add(m.rate_bps);
        }
        let (id, port) = first?;
        Some(Entry {
            meter: meter_id(id.0),
            rate_kbps: u32::try_from(rate_bps.div_ceil(1000)).unwrap_or(u32::MAX),
            out: port,
        })
    }

    /// Appends what takes `match_` on `dpid` from its programmed entry to its desired one.
    fn reconcile(
        &mut self,
        dpid: DatapathId,
        match_: &Match,
        out: &mut Vec<(DatapathId, Command)>,
    ) {
        let key = (dpid, match_.clone());
        let want = self.desired(dpid, match_);
        let have = self.entries.get(&key).cloned();
        match (&have, &want) {
            (None, None) => {}
            (Some(h), None) => {
                out.push((dpid, delete_flow(h.meter)));
                out.push((dpid, meter_mod(MeterCommand::Delete, h.meter, None)));
            }
            (None, Some(w)) => {
                out.push((
                    dpid,
                    meter_mod(MeterCommand::Add, w.meter, Some(w.rate_kbps)),
                ));
                out.push((dpid, add_flow(match_, w)));
            }
            (Some(h), Some(w)) if h.meter == w.meter => {
                if h.rate_kbps != w.rate_kbps {
                    let mm = meter_mod(MeterCommand::Modify, w.meter, Some(w.rate_kbps));
                    out.push((dpid, mm));
                }
                if h.out != w.out {
                    out.push((dpid, add_flow(match_, w)));
                }
            }
            (Some(h), Some(w)) => {
                // The reservation whose meter the entry used is gone. The new meter exists
                // before the flow names it, and the old one goes only after the flow has left
                // it: deleting a meter deletes the flows still using it (OpenFlow 1.3 §6.6).
                out.push((
                    dpid,
                    meter_mod(MeterCommand::Add, w.meter, Some(w.rate_kbps)),
                ));
                out.push((dpid, add_flow(match_, w)));
                out.push((dpid, meter_mod(MeterCommand::Delete, h.meter, None)));
            }
        }
        match want {
            Some(w) => self.entries.insert(key, w),
            None => self.entries.remove(&key),
        };
    }
}

/// Egress ports on OpenFlow switches, one per switch (a path visits a switch once).
fn openflow_ports(ports: &[PortRef]) -> impl Iterator<Item = (DatapathId, OfPort)> + '_ {
    ports
        .iter()
        .filter(|p| p.device.protocol == Protocol::OpenFlow)
        .map(|p| (DatapathId(p.device.id), OfPort(p.port.0)))
}

/// Removal of a reservation this driver did not install: its flow by cookie, then its meter.
fn unknown_removal(reservation: ReservationId, ports: &[PortRef]) -> Vec<(DatapathId, Command)> {
    let meter = meter_id(reservation.0);
    openflow_ports(ports)
        .flat_map(|(dpid, _)| {
            [
                (dpid, delete_flow(meter)),
                (dpid, meter_mod(MeterCommand::Delete, meter, None)),
            ]
        })
        .collect()
}

fn cookie(meter: MeterId) -> u64 {
    RESERVATION_COOKIE | u64::from(meter.0)
}

fn add_flow(match_: &Match, e: &Entry) -> Command {
    let mut fm = FlowMod::add(
        TableId(0),
        STEER_PRIORITY,
        match_.clone(),
        vec![
            Instruction::Meter(e.meter),
            Instruction::ApplyActions(vec![OfAction::output(e.out)]),
        ],
    );
    fm.cookie = cookie(e.meter);
    Command::FlowMod(fm)
}

fn delete_flow(meter: MeterId) -> Command {
    let mut fm = FlowMod::delete(TableId::ALL, Match::new());
    fm.cookie = cookie(meter);
    fm.cookie_mask = u64::MAX;
    Command::FlowMod(fm)
}

fn meter_mod(command: MeterCommand, meter_id: MeterId, rate_kbps: Option<u32>) -> Command {
    let (flags, bands) = match rate_kbps {
        Some(kbps) => (
            MeterFlags::KBPS | MeterFlags::BURST | MeterFlags::STATS,
            vec![MeterBand::Drop {
                rate: kbps.max(1),
                burst_size: burst_kbits(kbps),
            }],
        ),
        None => (MeterFlags::default(), Vec::new()),
    };
    Command::MeterMod(MeterMod {
        command,
        flags,
        meter_id,
        bands,
    })
}

/// The drop band's bucket, kbit: a tenth of a second at the rate, and never under three
/// full-size frames. Without the BURST flag Open vSwitch fills the bucket with a whole second at
/// the rate, so a pair sending at twice its reservation got +17 % over five seconds; a bucket
/// below a few frames drops frames of a flow that stays under its rate.
fn burst_kbits(rate_kbps: u32) -> u32 {
    const MIN_KBITS: u32 = 3 * 1_518 * 8 / 1_000 + 1;
    (rate_kbps / 10).max(MIN_KBITS)
}

/// Meter ids are 32-bit and 0 plus the top range are reserved; reservation ids are folded in.
fn meter_id(reservation: u64) -> MeterId {
    let folded = (reservation % 0xffff_0000) as u32;
    MeterId(folded.max(1))
}

/// The OXM match selecting a reservation's traffic (and a steered pair's path).
pub(super) fn subject_match(subject: &Subject) -> Match {
    match subject {
        Subject::HostPair { src, dst } => Match::new()
            .with(OxmField::EthSrc {
                addr: OfMac(src.0),
                mask: None,
            })
            .with(OxmField::EthDst {
                addr: OfMac(dst.0),
                mask: None,
            }),
        Subject::Flow(f) => {
            let mut m = Match::new().with(OxmField::EthType(ETH_TYPE_IPV4));
            if let Some(ip) = f.src_ip {
                m = m.with(OxmField::Ipv4Src {
                    addr: ip,
                    mask: None,
                });
            }
            if let Some(ip) = f.dst_ip {
                m = m.with(OxmField::Ipv4Dst {
                    addr: ip,
                    mask: None,
                });
            }
            if let Some(proto) = f.ip_proto {
                m = m.with(OxmField::IpProto(proto));
                // Transport ports are only matchable under their protocol's prerequisite.
                match proto {
                    6 => {
                        if let Some(p) = f.src_port {
                            m = m.with(OxmField::TcpSrc(p));
                        }
                        if let Some(p) = f.dst_port {
                            m = m.with(OxmField::TcpDst(p));
                        }
                    }
                    17 => {
                        if let Some(p) = f.src_port {
                            m = m.with(OxmField::UdpSrc(p));
                        }
                        if let Some(p) = f.dst_port {
                            m = m.with(OxmField::UdpDst(p));
                        }
                    }
                    _ => {}
                }
            }
            m
        }
    }
}

#[cfg(test)]
mod tests;
