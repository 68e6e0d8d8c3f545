//! The sans-IO OpenFlow 1.3 agent of one emulated switch: takes the controller's messages and
//! data-plane frames with `now`, and returns what to send (to the controller, out of ports).
//!
//! Behaviour follows the spec (1.3.5 §6.3 connection setup, §6.4–6.6 table modification, §7.3
//! controller-to-switch messages) and, where the spec leaves room, Open vSwitch: which ERROR a
//! refused request gets, that the switch never buffers packets (`n_buffers = 0`), that a slave
//! controller may not modify state (`BAD_REQUEST/IS_SLAVE`).
//!
//! Invariants: nothing here panics on any message; every request gets exactly the replies the
//! spec asks for (or one ERROR carrying the request's xid and first 64 bytes); a FLOW_REMOVED is
//! sent for each removed entry that has `SEND_FLOW_REM`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use prescient_southbound::openflow::wire::error::{
    BadRequestCode, HelloFailedCode, RoleRequestFailedCode,
};
use prescient_southbound::openflow::wire::port_status::{
    config as port_config, state as port_state,
};
use prescient_southbound::openflow::wire::{
    ControllerRole, DatapathId, ErrorKind, ErrorMsg, FeaturesReply, FlowRemoved, Frame, Hello,
    Message, Port, PortNo, PortReason, PortStatus, Role, SwitchConfig, Xid,
};

use super::flow_table::{FlowTables, Removed, N_TABLES};
use super::groups::{GroupTable, MeterTable};
use super::matching::CompiledMatch;
use crate::traffic::FabricCounters;

/// `ofp_capabilities`: flow, table, port and group stats.
pub const CAPABILITIES: u32 = 0x0000_000f;
/// Default upper bound of one multipart reply body before it is split with `REPLY_MORE`.
pub const DEFAULT_MULTIPART_LIMIT: usize = 60_000;

/// One port of an emulated switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPort {
    /// Number.
    pub no: PortNo,
    /// MAC address.
    pub hw_addr: [u8; 6],
    /// Name (`s1-eth1`, like Mininet).
    pub name: String,
    /// Link up.
    pub up: bool,
    /// Speed in kb/s.
    pub speed_kbps: u32,
}

impl SimPort {
    /// The `ofp_port` description.
    pub fn desc(&self) -> Port {
        // 10GB_FD | COPPER, as OVS reports for fast virtual ports.
        let features = (1 << 6) | (1 << 11);
        Port {
            port_no: self.no,
            hw_addr: prescient_southbound::openflow::wire::MacAddr(self.hw_addr),
            name: self.name.clone(),
            config: 0,
            state: if self.up {
                port_state::LIVE
            } else {
                port_state::LINK_DOWN
            },
            curr: features,
            advertised: features,
            supported: features,
            peer: features,
            curr_speed: self.speed_kbps,
            max_speed: self.speed_kbps,
        }
    }
}

/// Something the agent wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send to the controller.
    Send(Frame),
    /// Send `frame` out of physical port `port`; `hops` counts switches it crossed.
    Emit {
        /// Egress port.
        port: PortNo,
        /// Frame bytes.
        frame: Bytes,
        /// Switches crossed so far, this one included.
        hops: u8,
    },
    /// Close the connection (after sending what precedes).
    Close,
}

/// Counters of what the agent did, for summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentStats {
    /// PACKET_INs sent.
    pub packet_ins: u64,
    /// FLOW_MODs accepted.
    pub flow_mods: u64,
    /// PACKET_OUTs processed.
    pub packet_outs: u64,
    /// ERRORs sent.
    pub errors: u64,
    /// Frames dropped by the pipeline (miss without table-miss flow, meters, dead ports).
    pub dropped: u64,
    /// Flow entries installed now (all tables).
    pub flows: u64,
}

/// State of one emulated switch.
#[derive(Debug)]
pub struct SwitchAgent {
    pub(crate) dpid: DatapathId,
    pub(crate) name: String,
    pub(crate) index: usize,
    pub(crate) ports: Vec<SimPort>,
    pub(crate) tables: FlowTables,
    pub(crate) groups: GroupTable,
    pub(crate) meters: MeterTable,
    pub(crate) config: SwitchConfig,
    pub(crate) role: ControllerRole,
    pub(crate) generation_id: Option<u64>,
    pub(crate) counters: Arc<FabricCounters>,
    pub(crate) next_xid: u32,
    pub(crate) multipart_limit: usize,
    /// Set once the controller's HELLO was accepted.
    pub(crate) negotiated: bool,
    pub(crate) stats: AgentStats,
    /// Ports FLOOD skips (off the fabric's spanning tree).
    pub(crate) no_flood: Vec<PortNo>,
}

impl SwitchAgent {
    /// A switch with datapath id `dpid`, topology index `index` (its counters in `counters`).
    pub fn new(
        dpid: DatapathId,
        name: String,
        index: usize,
        ports: Vec<SimPort>,
        counters: Arc<FabricCounters>,
    ) -> SwitchAgent {
        SwitchAgent {
            dpid,
            name,
            index,
            ports,
            tables: FlowTables::default(),
            groups: GroupTable::default(),
            meters: MeterTable::default(),
            config: SwitchConfig::default(),
            role: ControllerRole::Equal,
            generation_id: None,
            counters,
            next_xid: 1,
            multipart_limit: DEFAULT_MULTIPART_LIMIT,
            negotiated: false,
            stats: AgentStats::default(),
            no_flood: Vec::new(),
        }
    }

    /// Datapath id.
    pub fn dpid(&self) -> DatapathId {
        self.dpid
    }

    /// The flow tables.
    pub fn tables(&self) -> &FlowTables {
        &self.tables
    }

    /// The group table.
    pub fn groups(&self) -> &GroupTable {
        &self.groups
    }

    /// The meter table.
    pub fn meters(&self) -> &MeterTable {
        &self.meters
    }

    /// The ports.
    pub fn ports(&self) -> &[SimPort] {
        &self.ports
    }

    /// What the agent did so far.
    pub fn stats(&self) -> AgentStats {
        AgentStats {
            flows: self.tables.len() as u64,
            ..self.stats
        }
    }

    /// Caps a multipart reply body (at least 1 KiB); larger replies are split with `REPLY_MORE`.
    pub fn set_multipart_limit(&mut self, bytes: usize) {
        self.multipart_limit = bytes.max(1024);
    }

    /// Ports FLOOD leaves out (blocked by a spanning tree); none by default.
    pub fn set_no_flood(&mut self, ports: Vec<PortNo>) {
        self.no_flood = ports;
    }

    /// `packets` frames like `frame`, `bytes` in all, of modelled traffic enter on `in_port`:
    /// the table-0 entry they hit counts them (and stays alive). A miss (no entry, or only the
    /// table-miss entry) with `first` runs `frame` through the pipeline as a real packet, as
    /// the first packet of a flow would.
    pub fn account(
        &mut self,
        now: std::time::Duration,
        in_port: PortNo,
        frame: bytes::Bytes,
        (packets, bytes): (u64, u64),
        first: bool,
        out: &mut Vec<Effect>,
    ) {
        if !self.port_up(in_port) {
            return;
        }
        let key = super::packet::PacketKey::parse(&frame, in_port.0);
        if self.tables.account(&key, packets, bytes, now) {
            return;
        }
        if first {
            self.receive(now, in_port, frame, 0, out);
        }
    }

    pub(crate) fn port(&self, no: PortNo) -> Option<&SimPort> {
        self.ports.iter().find(|p| p.no == no)
    }

    pub(crate) fn port_up(&self, no: PortNo) -> bool {
        self.port(no).is_some_and(|p| p.up)
    }

    pub(crate) fn xid(&mut self) -> Xid {
        let x = Xid(self.next_xid);
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        x
    }

    /// A new connection is up: the switch speaks first with its HELLO (§6.3.1).
    pub fn on_connect(&mut self) -> Effect {
        self.negotiated = false;
        // A new controller connection starts as EQUAL, as OVS does.
        self.role = ControllerRole::Equal;
        let xid = self.xid();
        Effect::Send(Frame::new(xid, Message::Hello(Hello::ofp13())))
    }

    fn error(&mut self, xid: Xid, kind: ErrorKind, request: &[u8], out: &mut Vec<Effect>) {
        self.stats.errors += 1;
        out.push(Effect::Send(Frame::new(
            xid,
            Message::Error(ErrorMsg::about(kind, request)),
        )));
    }

    /// Handles one message from the controller; `raw` is its whole frame (for ERROR data).
    pub fn handle(
        &mut self,
        now: Duration,
        xid: Xid,
        msg: Message,
        raw: &[u8],
        out: &mut Vec<Effect>,
    ) {
        let reply = |m| Effect::Send(Frame::new(xid, m));
        if !self.negotiated {
            match msg {
                Message::Hello(h) if h.negotiate().is_some() => {
                    self.negotiated = true;
                }
                Message::Hello(_) => {
                    self.error(
                        xid,
                        ErrorKind::HelloFailed(HelloFailedCode::Incompatible),
                        raw,
                        out,
                    );
                    out.push(Effect::Close);
                }
                // Anything before HELLO is a protocol error; OVS answers and keeps waiting.
                _ => self.error(
                    xid,
                    ErrorKind::BadRequest(BadRequestCode::BadType),
                    raw,
                    out,
                ),
            }
            return;
        }
        let slave = self.role == ControllerRole::Slave;
        let is_write = matches!(
            msg,
            Message::FlowMod(_)
                | Message::GroupMod(_)
                | Message::MeterMod(_)
                | Message::PacketOut(_)
        );
        if slave && is_write {
            self.error(
                xid,
                ErrorKind::BadRequest(BadRequestCode::IsSlave),
                raw,
                out,
            );
            return;
        }
        match msg {
            Message::Hello(_) => {}
            Message::EchoRequest(data) => out.push(reply(Message::EchoReply(data))),
            Message::EchoReply(_) | Message::Error(_) => {}
            Message::FeaturesRequest => out.push(reply(Message::FeaturesReply(FeaturesReply {
                datapath_id: self.dpid,
                n_buffers: 0,
                n_tables: N_TABLES,
                auxiliary_id: 0,
                capabilities: CAPABILITIES,
                reserved: 0,
            }))),
            Message::GetConfigRequest => out.push(reply(Message::GetConfigReply(self.config))),
            Message::SetConfig(c) => self.config = c,
            Message::BarrierRequest => out.push(reply(Message::BarrierReply)),
            Message::RoleRequest(r) => self.role_request(xid, r, raw, out),
            Message::FlowMod(fm) => {
                let check = FlowTables::validate(
                    &fm,
                    |g| self.groups.contains(g),
                    |m| self.meters.contains(m),
                );
                let compiled = check
                    .and_then(|()| CompiledMatch::compile(&fm.match_).map_err(ErrorKind::BadMatch));
                match compiled.and_then(|c| self.tables.apply(&fm, c, now)) {
                    Ok(outcome) => {
                        self.stats.flow_mods += 1;
                        self.flows_removed(now, outcome.removed, out);
                    }
                    Err(kind) => self.error(xid, kind, raw, out),
                }
            }
            Message::GroupMod(gm) => match self.groups.apply(&gm) {
                Ok(deleted) => {
                    for g in deleted {
                        let removed = self.tables.remove_group_users(g);
                        self.flows_removed(now, removed, out);
                    }
                }
                Err(kind) => self.error(xid, kind, raw, out),
            },
            Message::MeterMod(mm) => {
                if let Err(kind) = self.meters.apply(&mm, now) {
                    self.error(xid, kind, raw, out);
                }
            }
            Message::PacketOut(po) => {
                self.stats.packet_outs += 1;
                if let Err(kind) = self.packet_out(now, po, out) {
                    self.error(xid, kind, raw, out);
                }
            }
            Message::MultipartRequest(req) => match self.multipart(now, req) {
                Ok(replies) => out.extend(
                    replies
                        .into_iter()
                        .map(|m| Effect::Send(Frame::new(xid, m))),
                ),
                Err(kind) => self.error(xid, kind, raw, out),
            },
            // Messages only a switch sends, and types the emulator does not implement.
            Message::FeaturesReply(_)
            | Message::GetConfigReply(_)
            | Message::PacketIn(_)
            | Message::FlowRemoved(_)
            | Message::PortStatus(_)
            | Message::MultipartReply(_)
            | Message::BarrierReply
            | Message::RoleReply(_)
            | Message::Unknown { .. } => self.error(
                xid,
                ErrorKind::BadRequest(BadRequestCode::BadType),
                raw,
                out,
            ),
        }
    }

    fn role_request(&mut self, xid: Xid, r: Role, raw: &[u8], out: &mut Vec<Effect>) {
        match r.role {
            ControllerRole::Master | ControllerRole::Slave => {
                // Generation ids compare by wrapping distance (§6.3.6).
                if let Some(cached) = self.generation_id {
                    if (r.generation_id.wrapping_sub(cached) as i64) < 0 {
                        self.error(
                            xid,
                            ErrorKind::RoleRequestFailed(RoleRequestFailedCode::Stale),
                            raw,
                            out,
                        );
                        return;
                    }
                }
                self.generation_id = Some(r.generation_id);
                self.role = r.role;
            }
            ControllerRole::Equal => self.role = ControllerRole::Equal,
            ControllerRole::NoChange => {}
            ControllerRole::Unknown(_) => {
                self.error(
                    xid,
                    ErrorKind::RoleRequestFailed(RoleRequestFailedCode::BadRole),
                    raw,
                    out,
                );
                return;
            }
        }
        let role = Role {
            role: self.role,
            generation_id: self.generation_id.unwrap_or(0),
        };
        out.push(Effect::Send(Frame::new(xid, Message::RoleReply(role))));
    }

    pub(crate) fn flows_removed(
        &mut self,
        now: Duration,
        removed: Vec<Removed>,
        out: &mut Vec<Effect>,
    ) {
        for r in removed {
            let e = r.entry;
            if !e
                .flags
                .contains(prescient_southbound::openflow::wire::FlowModFlags::SEND_FLOW_REM)
            {
                continue;
            }
            let age = e.age(now);
            let xid = self.xid();
            out.push(Effect::Send(Frame::new(
                xid,
                Message::FlowRemoved(FlowRemoved {
                    cookie: e.cookie,
                    priority: e.priority,
                    reason: r.reason,
                    table_id: e.table_id,
                    duration_sec: u32::try_from(age.as_secs()).unwrap_or(u32::MAX),
                    duration_nsec: age.subsec_nanos(),
                    idle_timeout: e.idle_timeout,
                    hard_timeout: e.hard_timeout,
                    packet_count: e.packet_count,
                    byte_count: e.byte_count,
                    match_: e.match_,
                }),
            )));
        }
    }

    /// Periodic work at `now`: expires timed-out flows.
    pub fn tick(&mut self, now: Duration, out: &mut Vec<Effect>) {
        let removed = self.tables.expire(now);
        self.flows_removed(now, removed, out);
    }

    /// A port's link went up or down: records it and tells the controller (PORT_STATUS MODIFY).
    /// Returns false for an unknown port or no change.
    pub fn set_port_up(&mut self, no: PortNo, up: bool, out: &mut Vec<Effect>) -> bool {
        let Some(p) = self.ports.iter_mut().find(|p| p.no == no) else {
            return false;
        };
        if p.up == up {
            return false;
        }
        p.up = up;
        let mut desc = p.desc();
        if !up {
            desc.config &= !port_config::PORT_DOWN;
        }
        if self.negotiated {
            let xid = self.xid();
            out.push(Effect::Send(Frame::new(
                xid,
                Message::PortStatus(PortStatus {
                    reason: PortReason::Modify,
                    desc,
                }),
            )));
        }
        true
    }
}

#[cfg(test)]
mod tests;
