//! Host-pair flows as the OpenFlow switches should hold them: steered and routed paths, and the
//! reservations that meter them.
//!
//! A switch holds one flow entry per match and priority. A steered (or routed) pair's path and a
//! reservation of the same pair match the same traffic at the same priority, so they are one
//! entry, not two: written separately, whichever came last replaced the other, and the pair lost
//! either its meter or its path (and releasing the reservation deleted the path's flow with it).
//! Reservations with the same subject (two API reservations of one host pair, say) share that
//! entry too, metered at the sum of their rates, as the P4 driver meters an address pair at the
//! sum of its reservations.
//!
//! So the entry per (switch, match) is computed from everything that wants it: its output port
//! is that of the latest write among the pair's path and the reservations through the switch
//! (the core moves a steered pair's reservations onto its new path, so they agree; a path written
//! after a reservation, such as a route around a dead link, takes the traffic as before); its
//! meter is that of the lowest policed reservation id, at the sum of the policed rates, and its
//! cookie names the lowest reservation id (flow counters map back). Releasing a reservation
//! leaves the path's entry without the meter; a new path leaves the meter on the entry. Forecast
//! reservations are not policed (`police: false`): they hold the path and are counted, but no
//! meter drops their traffic (see the README's "Reservations").

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prescient_southbound::openflow::session::Command;
use prescient_southbound::openflow::wire::{
    Action as OfAction, DatapathId, FlowMod, FlowModCommand, Instruction, MacAddr as OfMac, Match,
    MeterBand, MeterCommand, MeterFlags, MeterId, MeterMod, OxmField, PortNo as OfPort, TableId,
};
use prescient_topology::{PortRef, Protocol, ReservationId, Subject};

use super::{ETH_TYPE_IPV4, RESERVATION_COOKIE, STEER_PRIORITY};

/// One reservation's part: what it matches, its rate and its egress port per OpenFlow switch.
#[derive(Debug, Clone)]
struct Member {
    match_: Match,
    rate_bps: u64,
    /// Whether a meter drops what exceeds the rate (API reservations) or not (forecast ones).
    police: bool,
    out: BTreeMap<DatapathId, OfPort>,
    /// When it was written, against paths' (the latest write decides the output port).
    seq: u64,
}

/// One programmed entry: a flow at [`STEER_PRIORITY`], through a meter when one is policed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    meter: Option<(MeterId, u32)>,
    cookie: u64,
    out: OfPort,
}

/// The paths and reservations the switches carry and the entries programmed for them, per
/// (switch, match).
#[derive(Debug, Default)]
pub(crate) struct ReservedFlows {
    members: BTreeMap<ReservationId, Member>,
    /// Output port of a steered or routed pair's path, with when it was written. Kept until
    /// another path of the pair crosses the switch, as the switch keeps the flow.
    paths: HashMap<(DatapathId, Match), (OfPort, u64)>,
    entries: HashMap<(DatapathId, Match), Entry>,
    seq: u64,
}

impl ReservedFlows {
    /// Folds a meter or path action in; returns the OpenFlow messages that take the switches
    /// from the entries they held to the ones they should hold now. Other actions give nothing.
    pub(crate) fn apply(&mut self, action: &crate::core::Action) -> Vec<(DatapathId, Command)> {
        use crate::core::Action;
        self.seq += 1;
        let seq = self.seq;
        let (reservation, new) = match action {
            Action::InstallMeter {
                reservation,
                subject,
                rate_bps,
                police,
                ports,
            } => {
                let out: BTreeMap<DatapathId, OfPort> = openflow_ports(ports).collect();
                let member = Member {
                    match_: subject_match(subject),
                    rate_bps: *rate_bps,
                    police: *police,
                    out,
                    seq,
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
            Action::InstallPath {
                src,
                dst,
                links,
                exit,
                ..
            } => {
                let m = subject_match(&Subject::HostPair {
                    src: *src,
                    dst: *dst,
                });
                // Every hop, and the last switch towards the host: a path may enter that
                // switch over a cable the flood guard blocks, whose drop rule only an entry
                // of the pair (at the higher priority) overrides.
                let hops: Vec<(DatapathId, OfPort)> =
                    openflow_ports(&links.iter().map(|l| l.src).chain(*exit).collect::<Vec<_>>())
                        .collect();
                let mut out = Vec::new();
                for (dpid, port) in hops {
                    self.paths.insert((dpid, m.clone()), (port, seq));
                    self.reconcile(dpid, &m, &mut out);
                }
                return out;
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

    /// The entry `match_` should have on `dpid`: the output port of the latest write through
    /// it, the meter of the lowest policed reservation id at the sum of the policed rates, and
    /// the cookie of the lowest reservation id (none for a path alone).
    fn desired(&self, dpid: DatapathId, match_: &Match) -> Option<Entry> {
        let mut latest: Option<(u64, OfPort)> = self
            .paths
            .get(&(dpid, match_.clone()))
            .map(|(port, seq)| (*seq, *port));
        let mut first: Option<ReservationId> = None;
        let mut metered: Option<ReservationId> = None;
        let mut rate_bps: u64 = 0;
        for (id, m) in &self.members {
            let Some(port) = m.out.get(&dpid) else {
                continue;
            };
            if m.match_ != *match_ {
                continue;
            }
            first.get_or_insert(*id);
            if latest.is_none_or(|(seq, _)| m.seq > seq) {
                latest = Some((m.seq, *port));
            }
            if m.police {
                metered.get_or_insert(*id);
                rate_bps = rate_bps.saturating_add(m.rate_bps);
            }
        }
        let (_, out) = latest?;
        let kbps = u32::try_from(rate_bps.div_ceil(1000)).unwrap_or(u32::MAX);
        Some(Entry {
            meter: metered.map(|id| (meter_id(id.0), kbps)),
            cookie: first.map_or(0, |id| cookie(meter_id(id.0))),
            out,
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
        let mut push = |c: Command| out.push((dpid, c));
        match (&have, &want) {
            (None, None) => {}
            (Some(h), None) => {
                push(delete_flow(match_, h.cookie));
                if let Some((m, _)) = h.meter {
                    push(meter_mod(MeterCommand::Delete, m, None));
                }
            }
            (None, Some(w)) => {
                if let Some((m, kbps)) = w.meter {
                    push(meter_mod(MeterCommand::Add, m, Some(kbps)));
                }
                push(add_flow(match_, w));
            }
            (Some(h), Some(w)) => {
                let same_meter = h.meter.map(|m| m.0) == w.meter.map(|m| m.0);
                // A new meter exists before the flow names it, and the old one goes only after
                // the flow has left it: deleting a meter deletes the flows still using it
                // (OpenFlow 1.3 §6.6).
                match (h.meter, w.meter) {
                    (Some((a, ka)), Some((b, kb))) if a == b && ka != kb => {
                        push(meter_mod(MeterCommand::Modify, b, Some(kb)));
                    }
                    (_, Some((b, kb))) if !same_meter => {
                        push(meter_mod(MeterCommand::Add, b, Some(kb)));
                    }
                    _ => {}
                }
                if !same_meter || h.out != w.out || h.cookie != w.cookie {
                    push(add_flow(match_, w));
                }
                if let (Some((a, _)), false) = (h.meter, same_meter) {
                    push(meter_mod(MeterCommand::Delete, a, None));
                }
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
                (dpid, delete_by_cookie(cookie(meter))),
                (dpid, meter_mod(MeterCommand::Delete, meter, None)),
            ]
        })
        .collect()
}

fn cookie(meter: MeterId) -> u64 {
    RESERVATION_COOKIE | u64::from(meter.0)
}

fn add_flow(match_: &Match, e: &Entry) -> Command {
    let mut instructions = Vec::with_capacity(2);
    if let Some((meter, _)) = e.meter {
        instructions.push(Instruction::Meter(meter));
    }
    instructions.push(Instruction::ApplyActions(vec![OfAction::output(e.out)]));
    let mut fm = FlowMod::add(TableId(0), priority(match_), match_.clone(), instructions);
    fm.cookie = e.cookie;
    Command::FlowMod(fm)
}

/// Deletes the entry of `match_`: by its cookie when it has one (exactly the flow this module
/// wrote), else strictly by match and priority.
fn delete_flow(match_: &Match, cookie: u64) -> Command {
    if cookie != 0 {
        return delete_by_cookie(cookie);
    }
    let mut fm = FlowMod::delete(TableId(0), match_.clone());
    fm.command = FlowModCommand::DeleteStrict;
    fm.priority = priority(match_);
    Command::FlowMod(fm)
}

/// The priority of an entry: [`STEER_PRIORITY`] for a host pair, one above for a flow
/// reservation's IPv4 match. The two can overlap (a flow between a pair's addresses), and
/// between overlapping entries of one priority the switch's choice is undefined (OpenFlow 1.3.5
/// §5.3), so the narrower one, a client's flow reservation, is looked up first.
fn priority(match_: &Match) -> u16 {
    if match_
        .fields
        .iter()
        .any(|f| matches!(f, OxmField::EthType(_)))
    {
        STEER_PRIORITY + 1
    } else {
        STEER_PRIORITY
    }
}

fn delete_by_cookie(cookie: u64) -> Command {
    let mut fm = FlowMod::delete(TableId::ALL, Match::new());
    fm.cookie = cookie;
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
            // The end hosts first: without them the 5-tuple matched every host's traffic on
            // the path's ports.
            let mut m = Match::new();
            if let Some(mac) = f.src_mac {
                m = m.with(OxmField::EthSrc {
                    addr: OfMac(mac.0),
                    mask: None,
                });
            }
            if let Some(mac) = f.dst_mac {
                m = m.with(OxmField::EthDst {
                    addr: OfMac(mac.0),
                    mask: None,
                });
            }
            m = m.with(OxmField::EthType(ETH_TYPE_IPV4));
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
