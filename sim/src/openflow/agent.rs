//! The sans-IO OpenFlow 1.3 agent of one emulated switch: takes the controller's messages and
//! data-plane frames with `now`, and returns what to send (to the controller, out of ports).
//!
//! Behaviour follows the spec (1.3.5 §6.3 connection setup, §6.4–6.6 table modification, §7.3
//! controller-to-switch messages) and, where the spec leaves room, Open vSwitch: which ERROR a
//! refused request gets, that the switch never buffers packets (`n_buffers = 0`), that a slave
//! controller may not modify state (`BAD_REQUEST/IS_SLAVE`).
//!
//! Several controllers (§6.3.6, "multiple controllers"): each connection has its own role,
//! EQUAL on connect as in Open vSwitch; the generation id is the switch's. A MASTER or SLAVE
//! request whose generation id is behind the cached one (compared as a wrapping signed
//! distance) is refused `ROLE_REQUEST_FAILED/STALE`; a new MASTER turns the previous one into
//! a SLAVE. Replies go to the connection that asked ([`Effect::Send`]); asynchronous messages
//! ([`Effect::Notify`]) to every connection whose role takes them by the default asynchronous
//! configuration (§7.3.10): a SLAVE gets port status only.
//!
//! Invariants: nothing here panics on any message; every request gets exactly the replies the
//! spec asks for (or one ERROR carrying the request's xid and first 64 bytes); a FLOW_REMOVED is
//! sent for each removed entry that has `SEND_FLOW_REM`.

use std::collections::BTreeMap;
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

/// One controller connection of a switch (the index of its address in the switch's list).
pub type ConnId = usize;

/// A message the switch sends unasked, and which controllers take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Async {
    /// PACKET_IN: MASTER and EQUAL controllers.
    PacketIn,
    /// FLOW_REMOVED: MASTER and EQUAL controllers.
    FlowRemoved,
    /// PORT_STATUS: every controller.
    PortStatus,
}

impl Async {
    /// Whether a controller in `role` gets this message (default asynchronous configuration,
    /// OpenFlow 1.3.5 §7.3.10).
    pub fn taken_by(self, role: ControllerRole) -> bool {
        match self {
            Async::PortStatus => true,
            Async::PacketIn | Async::FlowRemoved => role != ControllerRole::Slave,
        }
    }
}

/// Something the agent wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send to the controller whose message is being handled.
    Send(Frame),
    /// Send to every connected controller whose role takes `kind`.
    Notify {
        /// The message.
        frame: Frame,
        /// Which kind of asynchronous message it is.
        kind: Async,
    },
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

impl Effect {
    /// An asynchronous message of `kind`.
    pub fn notify(kind: Async, xid: Xid, message: Message) -> Effect {
        Effect::Notify {
            frame: Frame::new(xid, message),
            kind,
        }
    }
}

/// One controller connection's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Conn {
    pub(crate) role: ControllerRole,
    /// Its HELLO was accepted.
    pub(crate) negotiated: bool,
}

impl Default for Conn {
    fn default() -> Self {
        Conn {
            role: ControllerRole::Equal,
            negotiated: false,
        }
    }
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
    /// Every open controller connection: its role, and whether its HELLO was accepted.
    pub(crate) conns: BTreeMap<ConnId, Conn>,
    /// The connection whose message is being handled.
    pub(crate) current: ConnId,
    pub(crate) generation_id: Option<u64>,
    pub(crate) counters: Arc<FabricCounters>,
    pub(crate) next_xid: u32,
    pub(crate) multipart_limit: usize,
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
            conns: BTreeMap::new(),
            current: 0,
            generation_id: None,
            counters,
            next_xid: 1,
            multipart_limit: DEFAULT_MULTIPART_LIMIT,
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

    /// The only controller's connection is up (a switch with one controller, connection 0).
    pub fn on_connect(&mut self) -> Effect {
        self.connect(0)
    }

    /// Connection `conn` is up: the switch speaks first with its HELLO (§6.3.1).
    pub fn connect(&mut self, conn: ConnId) -> Effect {
        // A new controller connection starts as EQUAL, as OVS does.
        self.conns.insert(conn, Conn::default());
        self.current = conn;
        let xid = self.xid();
        Effect::Send(Frame::new(xid, Message::Hello(Hello::ofp13())))
    }

    /// Connection `conn` is gone.
    pub fn disconnect(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }

    /// The role of connection `conn`, if it is open.
    pub fn role(&self, conn: ConnId) -> Option<ControllerRole> {
        self.conns.get(&conn).map(|c| c.role)
    }

    /// Every open connection's role.
    pub fn roles(&self) -> Vec<(ConnId, ControllerRole)> {
        self.conns.iter().map(|(id, c)| (*id, c.role)).collect()
    }

    /// Whether connection `conn` takes an asynchronous message of `kind` now.
    pub fn takes(&self, conn: ConnId, kind: Async) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| c.negotiated && kind.taken_by(c.role))
    }

    fn negotiated(&self) -> bool {
        self.conns.values().any(|c| c.negotiated)
    }

    /// Handles one message from connection `conn` (see [`Self::handle`]).
    pub fn handle_from(
        &mut self,
        conn: ConnId,
        now: Duration,
        xid: Xid,
        msg: Message,
        raw: &[u8],
        out: &mut Vec<Effect>,
    ) {
        self.current = conn;
        self.handle(now, xid, msg, raw, out);
    }

    fn error(&mut self, xid: Xid, kind: ErrorKind, request: &[u8], out: &mut Vec<Effect>) {
        self.stats.errors += 1;
        out.push(Effect::Send(Frame::new(
            xid,
            Message::Error(ErrorMsg::about(kind, request)),
        )));
    }

    /// Handles one message from the current controller connection (the last one connected
    /// or named by [`Self::handle_from`]); `raw` is its whole frame (for ERROR data).
    pub fn handle(
        &mut self,
        now: Duration,
        xid: Xid,
        msg: Message,
        raw: &[u8],
        out: &mut Vec<Effect>,
    ) {
        let reply = |m| Effect::Send(Frame::new(xid, m));
        let conn = self.conns.entry(self.current).or_default();
        if !conn.negotiated {
            match msg {
                Message::Hello(h) if h.negotiate().is_some() => {
                    conn.negotiated = true;
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
        let slave = conn.role == ControllerRole::Slave;
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
                if r.role == ControllerRole::Master {
                    // One master at a time: the previous one becomes a slave (§6.3.6).
                    for (id, c) in self.conns.iter_mut() {
                        if *id != self.current && c.role == ControllerRole::Master {
                            c.role = ControllerRole::Slave;
                        }
                    }
                }
                self.set_role(r.role);
            }
            ControllerRole::Equal => self.set_role(ControllerRole::Equal),
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
            role: self.role(self.current).unwrap_or(ControllerRole::Equal),
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
            out.push(Effect::notify(
                Async::FlowRemoved,
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
            ));
        }
    }

    fn set_role(&mut self, role: ControllerRole) {
        self.conns.entry(self.current).or_default().role = role;
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
        if self.negotiated() {
            let xid = self.xid();
            out.push(Effect::notify(
                Async::PortStatus,
                xid,
                Message::PortStatus(PortStatus {
                    reason: PortReason::Modify,
                    desc,
                }),
            ));
        }
        true
    }
}

#[cfg(test)]
mod tests;
