//! A new leader's reconciliation of one OpenFlow switch (the P4Runtime side is the device
//! task's, see `driver::p4runtime::standing`): read the switch back (FLOW_STATS of every table,
//! METER_CONFIG, GROUP_DESC), delete what this leader does not want, install what it wants
//! and the switch lacks. What the leader wants is its desired state (what it programmed,
//! recorded by [`OpenFlowHandle::install`]) and the table-miss entry every switch gets.
//!
//! Reactive entries (an idle or hard timeout: L2 learning's) are left to expire: they are the
//! switch's cache of forwarding decisions any leader would take again, and deleting them would
//! only punt their traffic once more. Everything permanent that is not wanted — a reservation
//! released while the old leader was dying, a path it installed for a plan the new leader did
//! not make — goes, so no stale entry stays; entries are keyed by (table, priority, match), so
//! none is ever held twice.

use std::collections::{BTreeSet, HashSet};

use prescient_southbound::openflow::session::{
    table_miss_to_controller, Command, OpenFlowHandle, Reply, Request, SessionError,
};
use prescient_southbound::openflow::wire::multipart::{
    FlowStats, FlowStatsRequest, GroupDesc, MeterConfig, MultipartReplyBody,
};
use prescient_southbound::openflow::wire::{
    DatapathId, FlowMod, FlowModCommand, GroupCommand, GroupId, GroupMod, GroupType, Match,
    MeterCommand, MeterFlags, MeterId, MeterMod, MultipartRequestBody, TableId,
};

/// What one switch held against what the leader wants, and the commands that fix it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Deletions first (flows, then groups, then meters: nothing deleted is still used), then
    /// the wanted meters, groups and flows the switch lacks.
    pub commands: Vec<Command>,
    /// Permanent flows deleted.
    pub stale_flows: usize,
    /// Wanted flows the switch lacked.
    pub missing_flows: usize,
}

type FlowKey = (TableId, u16, Match);

/// The commands that bring a switch holding `flows`, `meters` and `groups` to `wanted_*`.
pub fn plan(
    flows: &[FlowStats],
    meters: &[MeterConfig],
    groups: &[GroupDesc],
    wanted_flows: &[FlowMod],
    wanted_meters: &[MeterMod],
    wanted_groups: &[GroupMod],
) -> Plan {
    let mut out = Plan::default();
    let wanted: HashSet<FlowKey> = wanted_flows
        .iter()
        .map(|f| (f.table_id, f.priority, f.match_.clone()))
        .collect();
    let held: HashSet<FlowKey> = flows
        .iter()
        .map(|f| (f.table_id, f.priority, f.match_.clone()))
        .collect();
    for f in flows {
        let key = (f.table_id, f.priority, f.match_.clone());
        if f.idle_timeout != 0 || f.hard_timeout != 0 || wanted.contains(&key) {
            continue;
        }
        let mut del = FlowMod::delete(f.table_id, f.match_.clone());
        del.command = FlowModCommand::DeleteStrict;
        del.priority = f.priority;
        out.commands.push(Command::FlowMod(del));
        out.stale_flows += 1;
    }
    let want_groups: BTreeSet<GroupId> = wanted_groups.iter().map(|g| g.group_id).collect();
    for g in groups.iter().filter(|g| !want_groups.contains(&g.group_id)) {
        out.commands.push(Command::GroupMod(GroupMod {
            command: GroupCommand::Delete,
            group_type: GroupType::All,
            group_id: g.group_id,
            buckets: Vec::new(),
        }));
    }
    let want_meters: BTreeSet<MeterId> = wanted_meters.iter().map(|m| m.meter_id).collect();
    for m in meters.iter().filter(|m| !want_meters.contains(&m.meter_id)) {
        out.commands.push(Command::MeterMod(MeterMod {
            command: MeterCommand::Delete,
            flags: MeterFlags(0),
            meter_id: m.meter_id,
            bands: Vec::new(),
        }));
    }
    let held_meters: BTreeSet<MeterId> = meters.iter().map(|m| m.meter_id).collect();
    for m in wanted_meters
        .iter()
        .filter(|m| !held_meters.contains(&m.meter_id))
    {
        out.commands.push(Command::MeterMod(m.clone()));
    }
    let held_groups: BTreeSet<GroupId> = groups.iter().map(|g| g.group_id).collect();
    for g in wanted_groups
        .iter()
        .filter(|g| !held_groups.contains(&g.group_id))
    {
        out.commands.push(Command::GroupMod(g.clone()));
    }
    for f in wanted_flows {
        if !held.contains(&(f.table_id, f.priority, f.match_.clone())) {
            out.commands.push(Command::FlowMod(f.clone()));
            out.missing_flows += 1;
        }
    }
    out
}

fn unexpected(dpid: DatapathId) -> SessionError {
    SessionError::UnexpectedReply {
        dpid,
        xid: Default::default(),
        got: "another multipart body",
    }
}

async fn multipart(
    handle: &OpenFlowHandle,
    dpid: DatapathId,
    body: MultipartRequestBody,
) -> Result<MultipartReplyBody, SessionError> {
    match handle.request(dpid, Request::Multipart(body)).await? {
        Reply::Multipart(b) => Ok(b),
        _ => Err(unexpected(dpid)),
    }
}

/// Reads `dpid` back and sends the commands of its [`plan`]; returns the plan.
pub async fn reconcile(handle: &OpenFlowHandle, dpid: DatapathId) -> Result<Plan, SessionError> {
    let flows = handle
        .flow_stats(
            dpid,
            FlowStatsRequest {
                table_id: TableId::ALL,
                ..FlowStatsRequest::default()
            },
        )
        .await?;
    let meters = match multipart(
        handle,
        dpid,
        MultipartRequestBody::MeterConfig(MeterId::ALL),
    )
    .await?
    {
        MultipartReplyBody::MeterConfig(m) => m,
        _ => return Err(unexpected(dpid)),
    };
    let groups = match multipart(handle, dpid, MultipartRequestBody::GroupDesc).await? {
        MultipartReplyBody::GroupDesc(g) => g,
        _ => return Err(unexpected(dpid)),
    };
    let desired = handle.desired(dpid);
    let mut wanted_flows: Vec<FlowMod> = desired.flows().into_iter().cloned().collect();
    wanted_flows.push(table_miss_to_controller());
    let wanted_meters: Vec<MeterMod> = desired.meters().cloned().collect();
    let wanted_groups: Vec<GroupMod> = desired.groups().cloned().collect();
    let plan = plan(
        &flows,
        &meters,
        &groups,
        &wanted_flows,
        &wanted_meters,
        &wanted_groups,
    );
    for c in &plan.commands {
        handle.send(dpid, c.clone()).await?;
    }
    handle.barrier(dpid).await?;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prescient_southbound::openflow::wire::{Instruction, OxmField, PortNo};

    fn held(priority: u16, m: Match, idle: u16) -> FlowStats {
        FlowStats {
            table_id: TableId(0),
            duration_sec: 0,
            duration_nsec: 0,
            priority,
            idle_timeout: idle,
            hard_timeout: 0,
            flags: Default::default(),
            cookie: 0,
            packet_count: 0,
            byte_count: 0,
            match_: m,
            instructions: vec![],
        }
    }

    fn port(p: u32) -> Match {
        Match::new().with(OxmField::InPort(PortNo(p)))
    }

    fn flow(priority: u16, m: Match) -> FlowMod {
        FlowMod::add(
            TableId(0),
            priority,
            m,
            vec![Instruction::GotoTable(TableId(1))],
        )
    }

    fn meter(id: u32) -> MeterConfig {
        MeterConfig {
            flags: MeterFlags(0),
            meter_id: MeterId(id),
            bands: vec![],
        }
    }

    #[test]
    fn stale_permanent_entries_go_missing_ones_come_reactive_ones_stay() {
        let have = [
            held(10, port(1), 0),  // wanted: kept
            held(10, port(2), 0),  // stale: deleted
            held(10, port(3), 60), // reactive: left to expire
        ];
        let wanted = [flow(10, port(1)), flow(10, port(4))];
        let p = plan(&have, &[meter(7), meter(8)], &[], &wanted, &[], &[]);
        assert_eq!(p.stale_flows, 1);
        assert_eq!(p.missing_flows, 1);
        let deleted: Vec<&FlowMod> = p
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::FlowMod(f) if f.command == FlowModCommand::DeleteStrict => Some(f),
                _ => None,
            })
            .collect();
        assert_eq!(deleted.len(), 1);
        assert_eq!((deleted[0].priority, &deleted[0].match_), (10, &port(2)));
        let meters_deleted = p
            .commands
            .iter()
            .filter(|c| matches!(c, Command::MeterMod(m) if m.command == MeterCommand::Delete))
            .count();
        assert_eq!(meters_deleted, 2);
        assert!(matches!(p.commands.last(), Some(Command::FlowMod(f)) if f.match_ == port(4)));
        // A switch already as wanted needs nothing.
        let same = plan(
            &[held(10, port(1), 0)],
            &[],
            &[],
            &[flow(10, port(1))],
            &[],
            &[],
        );
        assert_eq!(same, Plan::default());
    }
}
