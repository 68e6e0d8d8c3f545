//! The OpenFlow pipeline of an emulated switch (OpenFlow 1.3.5 §5.1 pipeline processing, §5.9
//! instructions, §5.10 action set, §5.12 actions): a frame enters at a port (or a PACKET_OUT),
//! walks the tables, and leaves by ports, to the controller, or nowhere.
//!
//! Invariants: a frame crosses at most [`MAX_HOPS`] switches (the emulator's stand-in for loops a
//! real network would melt down on), group chains are followed at most [`MAX_GROUP_DEPTH`] deep,
//! and a PACKET_IN carries at most `max_len` bytes of the frame (all of it for `NO_BUFFER`).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use prescient_southbound::openflow::wire::action::OFPCML_NO_BUFFER;
use prescient_southbound::openflow::wire::error::{BadActionCode, BadRequestCode};
use prescient_southbound::openflow::wire::{
    Action, BufferId, ErrorKind, GroupId, GroupType, Instruction, Match, Message, OxmField,
    PacketIn, PacketInReason, PacketOut, PortNo, TableId,
};

use super::agent::{Effect, SwitchAgent};
use super::flow_table::{validate_actions, N_TABLES};
use super::packet::{pop_vlan, push_vlan, set_field, PacketKey};

/// Switches a frame may cross before it is dropped.
pub const MAX_HOPS: u8 = 64;
/// Group-to-group chaining depth followed.
pub const MAX_GROUP_DEPTH: u8 = 4;

/// Where a frame is in the pipeline.
struct Ctx {
    in_port: PortNo,
    table: TableId,
    cookie: u64,
    reason: PacketInReason,
    hops: u8,
}

impl SwitchAgent {
    /// A frame arrived on `in_port` from the wire, having crossed `hops` switches before.
    pub fn receive(
        &mut self,
        now: Duration,
        in_port: PortNo,
        frame: Bytes,
        hops: u8,
        out: &mut Vec<Effect>,
    ) {
        if !self.port_up(in_port) || hops >= MAX_HOPS {
            self.stats.dropped += 1;
            return;
        }
        self.run_tables(
            now,
            in_port,
            BytesMut::from(&frame[..]),
            TableId(0),
            hops + 1,
            out,
        );
    }

    /// Executes a PACKET_OUT (§7.3.7): its actions on its data, as if received on `in_port`.
    pub(crate) fn packet_out(
        &mut self,
        now: Duration,
        po: PacketOut,
        out: &mut Vec<Effect>,
    ) -> Result<(), ErrorKind> {
        if po.buffer_id != BufferId::NO_BUFFER {
            return Err(ErrorKind::BadRequest(BadRequestCode::BufferUnknown));
        }
        let in_port_ok = po.in_port == PortNo::CONTROLLER
            || po.in_port == PortNo::LOCAL
            || po.in_port == PortNo::ANY
            || self.port(po.in_port).is_some();
        if !in_port_ok {
            return Err(ErrorKind::BadRequest(BadRequestCode::BadPort));
        }
        validate_actions(&po.actions, &|g| self.groups.contains(g))?;
        if po
            .actions
            .iter()
            .any(|a| matches!(a, Action::Output { port, .. } if *port == PortNo::TABLE))
            && !po
                .actions
                .iter()
                .all(|a| matches!(a, Action::Output { .. }))
        {
            return Err(ErrorKind::BadAction(BadActionCode::UnsupportedOrder));
        }
        let mut pkt = BytesMut::from(&po.data[..]);
        let mut key = PacketKey::parse(&pkt, po.in_port.0);
        let ctx = Ctx {
            in_port: po.in_port,
            table: TableId(0),
            cookie: u64::MAX,
            reason: PacketInReason::Action,
            hops: 1,
        };
        self.run_actions(now, &po.actions, &mut pkt, &mut key, &ctx, 0, out);
        Ok(())
    }

    fn run_tables(
        &mut self,
        now: Duration,
        in_port: PortNo,
        mut pkt: BytesMut,
        first: TableId,
        hops: u8,
        out: &mut Vec<Effect>,
    ) {
        let mut key = PacketKey::parse(&pkt, in_port.0);
        let mut action_set: Vec<Action> = Vec::new();
        let mut table = first;
        loop {
            let Some((instructions, cookie, priority)) =
                self.tables.lookup(table, &key, pkt.len(), now)
            else {
                // A miss without a table-miss entry drops the packet (§5.4).
                self.stats.dropped += 1;
                return;
            };
            let is_table_miss =
                priority == 0
                    && self.tables.table(table).iter().any(|e| {
                        e.priority == 0 && e.match_.fields.is_empty() && e.cookie == cookie
                    });
            let reason = if is_table_miss {
                PacketInReason::NoMatch
            } else {
                PacketInReason::Action
            };
            let ctx = Ctx {
                in_port,
                table,
                cookie,
                reason,
                hops,
            };
            let mut next = None;
            // Instruction order of §5.9, whatever order the list has.
            for ins in &instructions {
                if let Instruction::Meter(m) = ins {
                    if !self.meters.admit(m.0, pkt.len(), now) {
                        self.stats.dropped += 1;
                        return;
                    }
                }
            }
            for ins in &instructions {
                if let Instruction::ApplyActions(actions) = ins {
                    self.run_actions(now, actions, &mut pkt, &mut key, &ctx, 0, out);
                }
            }
            for ins in &instructions {
                match ins {
                    Instruction::ClearActions => action_set.clear(),
                    Instruction::WriteActions(actions) => {
                        for a in actions {
                            write_action(&mut action_set, a.clone());
                        }
                    }
                    Instruction::WriteMetadata { metadata, mask } => {
                        key.metadata = (key.metadata & !mask) | (metadata & mask);
                    }
                    Instruction::GotoTable(t) if t.0 > table.0 && t.0 < N_TABLES => next = Some(*t),
                    _ => {}
                }
            }
            match next {
                Some(t) => table = t,
                None => {
                    let ordered = order_action_set(action_set);
                    self.run_actions(now, &ordered, &mut pkt, &mut key, &ctx, 0, out);
                    return;
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run_actions(
        &mut self,
        now: Duration,
        actions: &[Action],
        pkt: &mut BytesMut,
        key: &mut PacketKey,
        ctx: &Ctx,
        depth: u8,
        out: &mut Vec<Effect>,
    ) {
        for a in actions {
            match a {
                Action::Output { port, max_len } => {
                    self.output(now, *port, *max_len, pkt, key, ctx, out)
                }
                Action::Group(g) => self.group(now, *g, pkt, key, ctx, depth, out),
                Action::SetField(field) if set_field(pkt, key, field) => {
                    *key = reparse(pkt, key);
                }
                Action::PushVlan(tpid) if push_vlan(pkt, *tpid) => {
                    *key = reparse(pkt, key);
                }
                Action::PopVlan if pop_vlan(pkt) => {
                    *key = reparse(pkt, key);
                }
                // TTLs, queues, MPLS and PBB do not change where an emulated packet goes.
                _ => {}
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn group(
        &mut self,
        now: Duration,
        g: GroupId,
        pkt: &BytesMut,
        key: &PacketKey,
        ctx: &Ctx,
        depth: u8,
        out: &mut Vec<Effect>,
    ) {
        if depth >= MAX_GROUP_DEPTH {
            return;
        }
        self.groups.count(g, pkt.len());
        let Some(entry) = self.groups.get(g) else {
            return;
        };
        let buckets = if entry.group_type == GroupType::All {
            entry.buckets.clone()
        } else {
            let ports: Vec<(PortNo, bool)> = self.ports.iter().map(|p| (p.no, p.up)).collect();
            let live = |no: PortNo| ports.iter().any(|(n, up)| *n == no && *up);
            self.groups
                .choose(g, key.flow_hash(), live)
                .cloned()
                .into_iter()
                .collect()
        };
        for b in buckets {
            // Each bucket works on its own copy of the packet (§5.6.1).
            let mut copy = pkt.clone();
            let mut k = key.clone();
            self.run_actions(now, &b.actions, &mut copy, &mut k, ctx, depth + 1, out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn output(
        &mut self,
        now: Duration,
        port: PortNo,
        max_len: u16,
        pkt: &BytesMut,
        key: &PacketKey,
        ctx: &Ctx,
        out: &mut Vec<Effect>,
    ) {
        let emit = |p: PortNo, out: &mut Vec<Effect>| {
            out.push(Effect::Emit {
                port: p,
                frame: Bytes::copy_from_slice(pkt),
                hops: ctx.hops,
            })
        };
        match port {
            PortNo::CONTROLLER => self.packet_in(pkt, key, ctx, max_len, out),
            PortNo::IN_PORT => {
                if self.port_up(ctx.in_port) {
                    emit(ctx.in_port, out);
                }
            }
            PortNo::FLOOD => {
                let ports = self
                    .ports
                    .iter()
                    .filter(|p| p.up && p.no != ctx.in_port && !self.no_flood.contains(&p.no));
                for p in ports {
                    emit(p.no, out);
                }
            }
            PortNo::ALL => {
                for p in self.ports.iter().filter(|p| p.up && p.no != ctx.in_port) {
                    emit(p.no, out);
                }
            }
            PortNo::TABLE => {
                self.run_tables(now, ctx.in_port, pkt.clone(), TableId(0), ctx.hops, out);
            }
            // Output to the ingress port by number is dropped (§7.2.5: use IN_PORT).
            p if p.is_physical() && p != ctx.in_port && self.port_up(p) => emit(p, out),
            _ => self.stats.dropped += 1,
        }
    }

    fn packet_in(
        &mut self,
        pkt: &BytesMut,
        key: &PacketKey,
        ctx: &Ctx,
        max_len: u16,
        out: &mut Vec<Effect>,
    ) {
        // The emulator never buffers, so NO_BUFFER (and any max_len) is honoured as is.
        let limit = if max_len == OFPCML_NO_BUFFER {
            usize::MAX
        } else {
            usize::from(max_len)
        };
        let data = Bytes::copy_from_slice(pkt.get(..pkt.len().min(limit)).unwrap_or_default());
        let mut m = Match::new().with(OxmField::InPort(ctx.in_port));
        if key.metadata != 0 {
            m = m.with(OxmField::Metadata {
                value: key.metadata,
                mask: None,
            });
        }
        let xid = self.xid();
        self.stats.packet_ins += 1;
        out.push(Effect::notify(
            super::agent::Async::PacketIn,
            xid,
            Message::PacketIn(PacketIn {
                buffer_id: BufferId::NO_BUFFER,
                total_len: u16::try_from(pkt.len()).unwrap_or(u16::MAX),
                reason: ctx.reason,
                table_id: ctx.table,
                cookie: ctx.cookie,
                match_: m,
                data,
            }),
        ));
    }
}

fn reparse(pkt: &BytesMut, old: &PacketKey) -> PacketKey {
    let mut k = PacketKey::parse(pkt, old.in_port);
    k.metadata = old.metadata;
    k
}

/// Adds an action to the action set: one action per type, one set-field per field (§5.10).
fn write_action(set: &mut Vec<Action>, a: Action) {
    let same = |b: &Action| match (&a, b) {
        (Action::SetField(x), Action::SetField(y)) => x.header_parts().1 == y.header_parts().1,
        _ => a.action_type() == b.action_type(),
    };
    match set.iter_mut().find(|b| same(b)) {
        Some(slot) => *slot = a,
        None => set.push(a),
    }
}

/// The action set in execution order (§5.10): pop, push, set-field, then group, else output.
fn order_action_set(set: Vec<Action>) -> Vec<Action> {
    let rank = |a: &Action| match a {
        Action::CopyTtlIn => 0,
        Action::PopVlan | Action::PopMpls(_) | Action::PopPbb => 1,
        Action::PushMpls(_) | Action::PushPbb(_) | Action::PushVlan(_) => 2,
        Action::CopyTtlOut => 3,
        Action::DecNwTtl | Action::DecMplsTtl => 4,
        Action::SetField(_) | Action::SetNwTtl(_) | Action::SetMplsTtl(_) => 5,
        Action::SetQueue(_) => 6,
        Action::Group(_) => 7,
        Action::Output { .. } => 8,
        Action::Unknown { .. } => 9,
    };
    let has_group = set.iter().any(|a| matches!(a, Action::Group(_)));
    let mut v: Vec<Action> = set
        .into_iter()
        .filter(|a| !(has_group && matches!(a, Action::Output { .. })))
        .collect();
    v.sort_by_key(rank);
    v
}
