//! Desired state per switch: the controller's master copy of the flows, groups and meters it
//! programmed, replayed whenever the switch (re)connects (the ONOS idea: devices hold a cache,
//! the controller holds the truth).
//!
//! Invariant: applying a command here and then replaying gives the switch the same table as
//! applying the commands in sequence, for the command kinds the controller uses: ADD/MODIFY
//! (strict and not) insert or replace by (table, priority, match); DELETE_STRICT removes that
//! key; DELETE removes every entry of the table (or all tables) whose match includes every
//! field of the delete's match and whose cookie matches under the delete's cookie mask
//! (OpenFlow 1.3.5 §6.4: non-strict delete matches more specific entries). Replay order is
//! meters, groups, then flows, so flows never reference something missing.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};

use crate::openflow::wire::{
    FlowMod, FlowModCommand, GroupCommand, GroupId, GroupMod, Match, MeterCommand, MeterId,
    MeterMod, TableId,
};

/// What names a flow entry on a switch: its table, priority and match.
trait Keyed {
    fn key(&self) -> (TableId, u16, &Match);
}

impl Keyed for FlowMod {
    fn key(&self) -> (TableId, u16, &Match) {
        (self.table_id, self.priority, &self.match_)
    }
}

impl Hash for dyn Keyed + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialEq for dyn Keyed + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for dyn Keyed + '_ {}

/// A flow and when it was first added, hashed and compared by its key: looked up by the key
/// inside the FlowMod, the match is not stored a second time as the map's key (a Match
/// allocation and ~40 B of every entry of every switch).
#[derive(Debug, Clone)]
struct Stored {
    seq: u64,
    flow: FlowMod,
}

impl Keyed for Stored {
    fn key(&self) -> (TableId, u16, &Match) {
        self.flow.key()
    }
}

impl<'a> Borrow<dyn Keyed + 'a> for Stored {
    fn borrow(&self) -> &(dyn Keyed + 'a) {
        self
    }
}

impl Hash for Stored {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn Keyed).hash(state);
    }
}

impl PartialEq for Stored {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Stored {}

/// What one switch should hold.
#[derive(Debug, Clone, Default)]
pub struct DesiredState {
    seq: u64,
    flows: HashSet<Stored>,
    groups: BTreeMap<GroupId, GroupMod>,
    meters: BTreeMap<MeterId, MeterMod>,
}

impl DesiredState {
    /// Records a FLOW_MOD.
    pub fn apply_flow(&mut self, fm: &FlowMod) {
        match fm.command {
            FlowModCommand::Add | FlowModCommand::Modify | FlowModCommand::ModifyStrict => {
                self.seq += 1;
                let seq = self.flows.get(fm as &dyn Keyed).map_or(self.seq, |s| s.seq);
                // Replays are plain ADDs that do not touch a buffered packet.
                let flow = FlowMod {
                    command: FlowModCommand::Add,
                    buffer_id: Default::default(),
                    ..fm.clone()
                };
                self.flows.replace(Stored { seq, flow });
            }
            FlowModCommand::DeleteStrict => {
                self.flows.remove(fm as &dyn Keyed);
            }
            FlowModCommand::Delete => {
                let table = fm.table_id;
                // §6.4: a DELETE with a cookie mask only removes entries whose cookie matches
                // under it (the controller deletes its reservations' flows by cookie).
                let mask = fm.cookie_mask;
                self.flows.retain(|Stored { flow: have, .. }| {
                    let in_table = table == TableId::ALL || have.table_id == table;
                    let cookie = have.cookie & mask == fm.cookie & mask;
                    !(in_table
                        && cookie
                        && fm
                            .match_
                            .fields
                            .iter()
                            .all(|f| have.match_.fields.contains(f)))
                });
            }
            FlowModCommand::Unknown(_) => {}
        }
    }

    /// Records a GROUP_MOD.
    pub fn apply_group(&mut self, gm: &GroupMod) {
        match gm.command {
            GroupCommand::Add | GroupCommand::Modify => {
                let stored = GroupMod {
                    command: GroupCommand::Add,
                    ..gm.clone()
                };
                self.groups.insert(gm.group_id, stored);
            }
            GroupCommand::Delete if gm.group_id == GroupId::ALL => self.groups.clear(),
            GroupCommand::Delete => {
                self.groups.remove(&gm.group_id);
            }
            GroupCommand::Unknown(_) => {}
        }
    }

    /// Records a METER_MOD.
    pub fn apply_meter(&mut self, mm: &MeterMod) {
        match mm.command {
            MeterCommand::Add | MeterCommand::Modify => {
                let stored = MeterMod {
                    command: MeterCommand::Add,
                    ..mm.clone()
                };
                self.meters.insert(mm.meter_id, stored);
            }
            MeterCommand::Delete if mm.meter_id == MeterId::ALL => self.meters.clear(),
            MeterCommand::Delete => {
                self.meters.remove(&mm.meter_id);
            }
            MeterCommand::Unknown(_) => {}
        }
    }

    /// Flows in the order they were first added.
    pub fn flows(&self) -> Vec<&FlowMod> {
        let mut v: Vec<&Stored> = self.flows.iter().collect();
        v.sort_by_key(|s| s.seq);
        v.into_iter().map(|s| &s.flow).collect()
    }

    /// Groups by id.
    pub fn groups(&self) -> impl Iterator<Item = &GroupMod> {
        self.groups.values()
    }

    /// Meters by id.
    pub fn meters(&self) -> impl Iterator<Item = &MeterMod> {
        self.meters.values()
    }

    /// True when nothing is desired.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty() && self.groups.is_empty() && self.meters.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::wire::{Action, Instruction, MacAddr, OxmField, PortNo};

    fn flow(prio: u16, port: u32, mac: u8) -> FlowMod {
        let m = Match::new()
            .with(OxmField::InPort(PortNo(port)))
            .with(OxmField::EthDst {
                addr: MacAddr([0, 0, 0, 0, 0, mac]),
                mask: None,
            });
        FlowMod::add(
            TableId(0),
            prio,
            m,
            vec![Instruction::ApplyActions(vec![Action::output(PortNo(2))])],
        )
    }

    #[test]
    fn a_delete_by_cookie_removes_only_the_flows_under_that_cookie() {
        let mut d = DesiredState::default();
        let mut mine = flow(10, 1, 1);
        mine.cookie = 0x5052_4553_0000_0007;
        d.apply_flow(&mine);
        d.apply_flow(&flow(10, 1, 2));
        let mut del = FlowMod::delete(TableId::ALL, Match::new());
        del.cookie = mine.cookie;
        del.cookie_mask = u64::MAX;
        d.apply_flow(&del);
        let flows = d.flows();
        assert_eq!(flows.len(), 1, "the other flow stays");
        assert_eq!(flows[0].match_, flow(10, 1, 2).match_);
        // Without a mask every cookie matches, as on the switch.
        d.apply_flow(&FlowMod::delete(TableId::ALL, Match::new()));
        assert!(d.flows().is_empty());
    }

    #[test]
    fn add_replaces_same_key_and_keeps_first_order() {
        let mut d = DesiredState::default();
        d.apply_flow(&flow(10, 1, 1));
        d.apply_flow(&flow(10, 1, 2));
        let mut again = flow(10, 1, 1);
        again.idle_timeout = 30;
        d.apply_flow(&again);
        let flows = d.flows();
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].idle_timeout, 30);
        assert_eq!(flows[1].match_, flow(10, 1, 2).match_);
    }

    #[test]
    fn strict_delete_removes_one_and_loose_delete_removes_more_specific() {
        let mut d = DesiredState::default();
        d.apply_flow(&flow(10, 1, 1));
        d.apply_flow(&flow(10, 2, 2));
        d.apply_flow(&flow(20, 1, 3));
        d.apply_flow(&FlowMod {
            command: FlowModCommand::DeleteStrict,
            ..flow(10, 2, 2)
        });
        assert_eq!(d.flows().len(), 2);
        let by_port = Match::new().with(OxmField::InPort(PortNo(1)));
        d.apply_flow(&FlowMod::delete(TableId::ALL, by_port));
        assert!(d.is_empty());
    }
}
