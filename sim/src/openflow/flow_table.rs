//! The flow tables of an emulated switch (OpenFlow 1.3.5 §5.2–5.5, §6.4 flow table modification).
//!
//! Invariants:
//! - Within a table, entries are ordered by descending priority, and among equal priorities by
//!   insertion, so the first entry that matches a packet is the one the spec selects.
//! - No two entries of a table have the same priority and the same (strict) match: an ADD of an
//!   identical entry replaces it (§6.4), keeping its counters unless `RESET_COUNTS`.
//! - Every stored match has passed [`CompiledMatch::compile`] and every instruction list passed
//!   [`FlowTables::validate`]; refusals carry the OpenFlow error OVS would send.
//! - Times are `Duration`s since the switch started, passed in as `now` (sans-IO).

use std::time::Duration;

use prescient_southbound::openflow::wire::error::{
    BadActionCode, BadInstructionCode, BadRequestCode, FlowModFailedCode,
};
use prescient_southbound::openflow::wire::{
    Action, BufferId, ErrorKind, FlowMod, FlowModCommand, FlowModFlags, FlowRemovedReason, GroupId,
    Instruction, Match, PortNo, TableId,
};

use super::matching::CompiledMatch;
use super::packet::PacketKey;

/// Tables of every emulated switch (ids `0..N_TABLES`).
pub const N_TABLES: u8 = 8;
/// Entries per table before `TABLE_FULL`.
pub const MAX_ENTRIES: usize = 100_000;

/// One flow entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowEntry {
    /// Table.
    pub table_id: TableId,
    /// Priority.
    pub priority: u16,
    /// The match as the controller sent it (echoed in stats and FLOW_REMOVED).
    pub match_: Match,
    /// The compiled match.
    pub compiled: CompiledMatch,
    /// Instructions.
    pub instructions: Vec<Instruction>,
    /// Cookie.
    pub cookie: u64,
    /// Idle timeout, seconds (0 = none).
    pub idle_timeout: u16,
    /// Hard timeout, seconds (0 = none).
    pub hard_timeout: u16,
    /// Flags.
    pub flags: FlowModFlags,
    /// Packets matched.
    pub packet_count: u64,
    /// Bytes matched.
    pub byte_count: u64,
    /// When it was installed.
    pub installed: Duration,
    /// When it last matched a packet (or was installed).
    pub last_used: Duration,
}

impl FlowEntry {
    /// Time since installation.
    pub fn age(&self, now: Duration) -> Duration {
        now.saturating_sub(self.installed)
    }

    /// True when an output action (in apply or write actions) targets `port`.
    pub fn outputs_to(&self, port: PortNo) -> bool {
        self.actions()
            .any(|a| matches!(a, Action::Output { port: p, .. } if *p == port))
    }

    /// True when a group action targets `group`.
    pub fn uses_group(&self, group: GroupId) -> bool {
        self.actions()
            .any(|a| matches!(a, Action::Group(g) if *g == group))
    }

    fn actions(&self) -> impl Iterator<Item = &Action> {
        self.instructions.iter().flat_map(|i| match i {
            Instruction::ApplyActions(a) | Instruction::WriteActions(a) => a.as_slice(),
            _ => &[],
        })
    }

    /// Why this entry expired at `now`, if it did.
    pub fn expired(&self, now: Duration) -> Option<FlowRemovedReason> {
        let secs = |s: u16| Duration::from_secs(u64::from(s));
        if self.hard_timeout != 0 && now.saturating_sub(self.installed) >= secs(self.hard_timeout) {
            return Some(FlowRemovedReason::HardTimeout);
        }
        if self.idle_timeout != 0 && now.saturating_sub(self.last_used) >= secs(self.idle_timeout) {
            return Some(FlowRemovedReason::IdleTimeout);
        }
        None
    }
}

/// An entry that left the table, and why (a FLOW_REMOVED is due if it has `SEND_FLOW_REM`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// The entry as it was.
    pub entry: FlowEntry,
    /// Why.
    pub reason: FlowRemovedReason,
}

/// Per-table lookup counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableCounters {
    /// Packets looked up.
    pub lookup_count: u64,
    /// Packets that hit an entry.
    pub matched_count: u64,
}

/// Filters of a non-strict selection (modify/delete/flow stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selector<'a> {
    /// Table, or `TableId::ALL`.
    pub table_id: TableId,
    /// Match that must cover the entry (or equal it, with `strict`).
    pub match_: &'a CompiledMatch,
    /// Strict: same match and priority.
    pub strict: bool,
    /// Priority for strict selection.
    pub priority: u16,
    /// Cookie and mask.
    pub cookie: (u64, u64),
    /// Output port filter (`ANY` for none).
    pub out_port: PortNo,
    /// Output group filter (`ANY` for none).
    pub out_group: GroupId,
}

impl Selector<'_> {
    fn selects(&self, e: &FlowEntry) -> bool {
        (self.table_id == TableId::ALL || self.table_id == e.table_id)
            && (e.cookie & self.cookie.1) == (self.cookie.0 & self.cookie.1)
            && (self.out_port == PortNo::ANY || e.outputs_to(self.out_port))
            && (self.out_group == GroupId::ANY || e.uses_group(self.out_group))
            && if self.strict {
                e.priority == self.priority && &e.compiled == self.match_
            } else {
                self.match_.covers(&e.compiled)
            }
    }
}

/// All flow tables of one switch.
#[derive(Debug, Clone)]
pub struct FlowTables {
    tables: Vec<Vec<FlowEntry>>,
    counters: Vec<TableCounters>,
}

impl Default for FlowTables {
    fn default() -> Self {
        FlowTables {
            tables: vec![Vec::new(); usize::from(N_TABLES)],
            counters: vec![TableCounters::default(); usize::from(N_TABLES)],
        }
    }
}

/// Result of a FLOW_MOD that was accepted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FlowModOutcome {
    /// Entries deleted (for FLOW_REMOVED).
    pub removed: Vec<Removed>,
    /// Entries added or modified.
    pub touched: usize,
}

impl FlowTables {
    /// Entries of a table, in lookup order (empty for an unknown table).
    pub fn table(&self, id: TableId) -> &[FlowEntry] {
        self.tables
            .get(usize::from(id.0))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Every entry of every table.
    pub fn entries(&self) -> impl Iterator<Item = &FlowEntry> {
        self.tables.iter().flatten()
    }

    /// Number of entries across tables.
    pub fn len(&self) -> usize {
        self.tables.iter().map(Vec::len).sum()
    }

    /// True when no table has an entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lookup counters of a table.
    pub fn counters(&self, id: TableId) -> TableCounters {
        self.counters
            .get(usize::from(id.0))
            .copied()
            .unwrap_or_default()
    }

    /// Entries selected by `sel`, in table and lookup order.
    pub fn select(&self, sel: &Selector<'_>) -> Vec<&FlowEntry> {
        self.entries().filter(|e| sel.selects(e)).collect()
    }

    /// Checks a FLOW_MOD's table and instructions the way OVS does, before touching any table.
    /// `group_exists` / `meter_exists` say whether a referenced group / meter is configured.
    pub fn validate(
        fm: &FlowMod,
        group_exists: impl Fn(GroupId) -> bool,
        meter_exists: impl Fn(u32) -> bool,
    ) -> Result<(), ErrorKind> {
        let deleting = matches!(
            fm.command,
            FlowModCommand::Delete | FlowModCommand::DeleteStrict
        );
        if fm.table_id.0 >= N_TABLES && !(deleting && fm.table_id == TableId::ALL) {
            return Err(ErrorKind::FlowModFailed(FlowModFailedCode::BadTableId));
        }
        if let FlowModCommand::Unknown(_) = fm.command {
            return Err(ErrorKind::FlowModFailed(FlowModFailedCode::BadCommand));
        }
        if deleting {
            return Ok(());
        }
        if fm.buffer_id != BufferId::NO_BUFFER {
            // The emulator never buffers (n_buffers = 0), so every buffer id is unknown.
            return Err(ErrorKind::BadRequest(BadRequestCode::BufferUnknown));
        }
        for ins in &fm.instructions {
            match ins {
                Instruction::GotoTable(t) if t.0 <= fm.table_id.0 || t.0 >= N_TABLES => {
                    return Err(ErrorKind::BadInstruction(BadInstructionCode::BadTableId));
                }
                Instruction::Meter(m) if !meter_exists(m.0) => {
                    return Err(ErrorKind::MeterModFailed(
                        prescient_southbound::openflow::wire::error::MeterModFailedCode::UnknownMeter,
                    ));
                }
                Instruction::ApplyActions(actions) | Instruction::WriteActions(actions) => {
                    validate_actions(actions, &group_exists)?;
                }
                Instruction::Unknown { .. } => {
                    return Err(ErrorKind::BadInstruction(BadInstructionCode::UnknownInst));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Applies a validated FLOW_MOD at `now`; `compiled` is its compiled match.
    pub fn apply(
        &mut self,
        fm: &FlowMod,
        compiled: CompiledMatch,
        now: Duration,
    ) -> Result<FlowModOutcome, ErrorKind> {
        let strict = matches!(
            fm.command,
            FlowModCommand::ModifyStrict | FlowModCommand::DeleteStrict
        );
        let sel = Selector {
            table_id: fm.table_id,
            match_: &compiled,
            strict,
            priority: fm.priority,
            cookie: (fm.cookie, fm.cookie_mask),
            out_port: fm.out_port,
            out_group: fm.out_group,
        };
        match fm.command {
            FlowModCommand::Add => self.add(fm, compiled.clone(), now),
            FlowModCommand::Modify | FlowModCommand::ModifyStrict => {
                // Out-port/group filters apply to deletes only (§6.4).
                let sel = Selector {
                    out_port: PortNo::ANY,
                    out_group: GroupId::ANY,
                    ..sel
                };
                let mut touched = 0;
                for e in self.tables.iter_mut().flatten().filter(|e| sel.selects(e)) {
                    e.instructions = fm.instructions.clone();
                    if fm.flags.contains(FlowModFlags::RESET_COUNTS) {
                        e.packet_count = 0;
                        e.byte_count = 0;
                    }
                    touched += 1;
                }
                Ok(FlowModOutcome {
                    removed: Vec::new(),
                    touched,
                })
            }
            FlowModCommand::Delete | FlowModCommand::DeleteStrict => {
                let mut removed = Vec::new();
                for t in &mut self.tables {
                    let mut kept = Vec::with_capacity(t.len());
                    for e in t.drain(..) {
                        if sel.selects(&e) {
                            removed.push(Removed {
                                entry: e,
                                reason: FlowRemovedReason::Delete,
                            });
                        } else {
                            kept.push(e);
                        }
                    }
                    *t = kept;
                }
                Ok(FlowModOutcome {
                    removed,
                    touched: 0,
                })
            }
            FlowModCommand::Unknown(_) => {
                Err(ErrorKind::FlowModFailed(FlowModFailedCode::BadCommand))
            }
        }
    }

    fn add(
        &mut self,
        fm: &FlowMod,
        compiled: CompiledMatch,
        now: Duration,
    ) -> Result<FlowModOutcome, ErrorKind> {
        let Some(table) = self.tables.get_mut(usize::from(fm.table_id.0)) else {
            return Err(ErrorKind::FlowModFailed(FlowModFailedCode::BadTableId));
        };
        let same = table
            .iter()
            .position(|e| e.priority == fm.priority && e.compiled == compiled);
        if fm.flags.contains(FlowModFlags::CHECK_OVERLAP)
            && table.iter().enumerate().any(|(i, e)| {
                Some(i) != same && e.priority == fm.priority && e.compiled.overlaps(&compiled)
            })
        {
            return Err(ErrorKind::FlowModFailed(FlowModFailedCode::Overlap));
        }
        let mut entry = FlowEntry {
            table_id: fm.table_id,
            priority: fm.priority,
            match_: fm.match_.clone(),
            compiled,
            instructions: fm.instructions.clone(),
            cookie: fm.cookie,
            idle_timeout: fm.idle_timeout,
            hard_timeout: fm.hard_timeout,
            flags: fm.flags,
            packet_count: 0,
            byte_count: 0,
            installed: now,
            last_used: now,
        };
        if let Some(i) = same {
            if let Some(old) = table.get_mut(i) {
                if !fm.flags.contains(FlowModFlags::RESET_COUNTS) {
                    entry.packet_count = old.packet_count;
                    entry.byte_count = old.byte_count;
                }
                *old = entry;
            }
            return Ok(FlowModOutcome {
                removed: Vec::new(),
                touched: 1,
            });
        }
        if table.len() >= MAX_ENTRIES {
            return Err(ErrorKind::FlowModFailed(FlowModFailedCode::TableFull));
        }
        // After every entry of higher or equal priority: equal priorities keep insertion order.
        let at = table.partition_point(|e| e.priority >= fm.priority);
        table.insert(at, entry);
        Ok(FlowModOutcome {
            removed: Vec::new(),
            touched: 1,
        })
    }

    /// Finds the entry of `table` that `pkt` hits, counts the lookup and the hit (`bytes` long),
    /// and returns a copy of its instructions with its cookie and priority.
    pub fn lookup(
        &mut self,
        table: TableId,
        pkt: &PacketKey,
        bytes: usize,
        now: Duration,
    ) -> Option<(Vec<Instruction>, u64, u16)> {
        let i = usize::from(table.0);
        if let Some(c) = self.counters.get_mut(i) {
            c.lookup_count += 1;
        }
        let e = self
            .tables
            .get_mut(i)?
            .iter_mut()
            .find(|e| e.compiled.matches(pkt))?;
        e.packet_count += 1;
        e.byte_count += bytes as u64;
        e.last_used = now;
        let hit = (e.instructions.clone(), e.cookie, e.priority);
        if let Some(c) = self.counters.get_mut(i) {
            c.matched_count += 1;
        }
        Some(hit)
    }

    /// Counts `packets` packets of `bytes` bytes in all on the table-0 entry `pkt` hits, unless
    /// that is the table-miss entry (priority 0, empty match); returns whether one counted
    /// them. The table's lookup counters are left alone: this is traffic the model sends in
    /// bulk, not one lookup.
    pub fn account(&mut self, pkt: &PacketKey, packets: u64, bytes: u64, now: Duration) -> bool {
        let Some(e) = self
            .tables
            .first_mut()
            .and_then(|t| t.iter_mut().find(|e| e.compiled.matches(pkt)))
        else {
            return false;
        };
        if e.priority == 0 && e.match_.fields.is_empty() {
            return false;
        }
        e.packet_count = e.packet_count.saturating_add(packets);
        e.byte_count = e.byte_count.saturating_add(bytes);
        e.last_used = now;
        true
    }

    /// Removes every entry whose idle or hard timeout has passed at `now`.
    pub fn expire(&mut self, now: Duration) -> Vec<Removed> {
        let mut removed = Vec::new();
        for t in &mut self.tables {
            if t.iter().all(|e| e.expired(now).is_none()) {
                continue;
            }
            let mut kept = Vec::with_capacity(t.len());
            for e in t.drain(..) {
                match e.expired(now) {
                    Some(reason) => removed.push(Removed { entry: e, reason }),
                    None => kept.push(e),
                }
            }
            *t = kept;
        }
        removed
    }

    /// Removes every entry that uses `group` (a group was deleted, §6.5).
    pub fn remove_group_users(&mut self, group: GroupId) -> Vec<Removed> {
        let mut removed = Vec::new();
        for t in &mut self.tables {
            let mut kept = Vec::with_capacity(t.len());
            for e in t.drain(..) {
                if e.uses_group(group) {
                    removed.push(Removed {
                        entry: e,
                        reason: FlowRemovedReason::GroupDelete,
                    });
                } else {
                    kept.push(e);
                }
            }
            *t = kept;
        }
        removed
    }
}

/// Checks an action list: known types, sane output ports, existing groups.
pub fn validate_actions(
    actions: &[Action],
    group_exists: &impl Fn(GroupId) -> bool,
) -> Result<(), ErrorKind> {
    for a in actions {
        match a {
            Action::Output { port, .. } if port.0 == 0 || *port == PortNo::ANY => {
                return Err(ErrorKind::BadAction(BadActionCode::BadOutPort));
            }
            Action::Group(g) if !group_exists(*g) => {
                return Err(ErrorKind::BadAction(BadActionCode::BadOutGroup));
            }
            Action::Unknown { .. } => return Err(ErrorKind::BadAction(BadActionCode::BadType)),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use core::net::Ipv4Addr;

    use prescient_southbound::openflow::wire::{MacAddr, OxmField};

    use super::*;
    use crate::openflow::packet::{udp_packet, ETH_IPV4};

    fn out(port: u32) -> Vec<Instruction> {
        vec![Instruction::ApplyActions(vec![Action::output(PortNo(
            port,
        ))])]
    }

    fn to(dst: [u8; 4], mask: Option<[u8; 4]>) -> Match {
        Match::new()
            .with(OxmField::EthType(ETH_IPV4))
            .with(OxmField::Ipv4Dst {
                addr: Ipv4Addr::from(dst),
                mask: mask.map(Ipv4Addr::from),
            })
    }

    fn pkt(dst: [u8; 4]) -> PacketKey {
        let p = udp_packet(
            MacAddr([2, 0, 0, 0, 0, 1]),
            MacAddr([2, 0, 0, 0, 0, 2]),
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::from(dst),
            (1, 2),
            0,
        );
        PacketKey::parse(&p, 1)
    }

    fn send(t: &mut FlowTables, fm: &FlowMod) -> Result<FlowModOutcome, ErrorKind> {
        FlowTables::validate(fm, |_| false, |_| false)?;
        let c = CompiledMatch::compile(&fm.match_).map_err(ErrorKind::BadMatch)?;
        t.apply(fm, c, Duration::ZERO)
    }

    fn hit(t: &mut FlowTables, dst: [u8; 4]) -> Option<Vec<Instruction>> {
        t.lookup(TableId(0), &pkt(dst), 60, Duration::ZERO)
            .map(|h| h.0)
    }

    #[test]
    fn highest_priority_wins_and_masks_select_subnets() {
        let mut t = FlowTables::default();
        send(
            &mut t,
            &FlowMod::add(
                TableId(0),
                10,
                to([10, 0, 0, 0], Some([255, 0, 0, 0])),
                out(1),
            ),
        )
        .unwrap();
        send(
            &mut t,
            &FlowMod::add(
                TableId(0),
                20,
                to([10, 1, 0, 0], Some([255, 255, 0, 0])),
                out(2),
            ),
        )
        .unwrap();
        send(&mut t, &FlowMod::add(TableId(0), 0, Match::new(), out(3))).unwrap();
        assert_eq!(hit(&mut t, [10, 1, 2, 3]), Some(out(2)));
        assert_eq!(hit(&mut t, [10, 2, 2, 3]), Some(out(1)));
        assert_eq!(hit(&mut t, [11, 2, 2, 3]), Some(out(3)));
        assert_eq!(
            t.counters(TableId(0)),
            TableCounters {
                lookup_count: 3,
                matched_count: 3
            }
        );
        assert_eq!(t.table(TableId(0))[0].packet_count, 1);
    }

    #[test]
    fn identical_add_replaces_and_keeps_counters() {
        let mut t = FlowTables::default();
        send(
            &mut t,
            &FlowMod::add(TableId(0), 5, to([10, 0, 0, 1], None), out(1)),
        )
        .unwrap();
        hit(&mut t, [10, 0, 0, 1]);
        send(
            &mut t,
            &FlowMod::add(TableId(0), 5, to([10, 0, 0, 1], None), out(2)),
        )
        .unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t.table(TableId(0))[0].instructions, out(2));
        assert_eq!(t.table(TableId(0))[0].packet_count, 1);
        // Same match at another priority is a different entry.
        send(
            &mut t,
            &FlowMod::add(TableId(0), 6, to([10, 0, 0, 1], None), out(3)),
        )
        .unwrap();
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn check_overlap_refuses_overlapping_entries_of_equal_priority() {
        let mut t = FlowTables::default();
        send(
            &mut t,
            &FlowMod::add(
                TableId(0),
                5,
                to([10, 0, 0, 0], Some([255, 0, 0, 0])),
                out(1),
            ),
        )
        .unwrap();
        let mut fm = FlowMod::add(TableId(0), 5, to([10, 9, 9, 9], None), out(2));
        fm.flags = FlowModFlags::CHECK_OVERLAP;
        assert_eq!(
            send(&mut t, &fm),
            Err(ErrorKind::FlowModFailed(FlowModFailedCode::Overlap))
        );
        fm.priority = 6;
        assert!(send(&mut t, &fm).is_ok());
        let mut disjoint = FlowMod::add(TableId(0), 5, to([11, 0, 0, 1], None), out(2));
        disjoint.flags = FlowModFlags::CHECK_OVERLAP;
        assert!(send(&mut t, &disjoint).is_ok());
    }

    #[test]
    fn strict_delete_removes_only_the_exact_entry_and_loose_delete_covers() {
        let mut t = FlowTables::default();
        send(
            &mut t,
            &FlowMod::add(TableId(0), 5, to([10, 0, 0, 1], None), out(1)),
        )
        .unwrap();
        send(
            &mut t,
            &FlowMod::add(TableId(0), 7, to([10, 0, 0, 1], None), out(1)),
        )
        .unwrap();
        send(
            &mut t,
            &FlowMod::add(TableId(0), 5, to([10, 0, 0, 2], None), out(2)),
        )
        .unwrap();
        let mut del = FlowMod::delete(TableId(0), to([10, 0, 0, 1], None));
        del.command = FlowModCommand::DeleteStrict;
        del.priority = 7;
        let r = send(&mut t, &del).unwrap();
        assert_eq!(r.removed.len(), 1);
        assert_eq!(r.removed[0].entry.priority, 7);
        assert_eq!(t.len(), 2);
        // Loose delete of 10/8 removes both remaining.
        let r = send(
            &mut t,
            &FlowMod::delete(TableId::ALL, to([10, 0, 0, 0], Some([255, 0, 0, 0]))),
        )
        .unwrap();
        assert_eq!(r.removed.len(), 2);
        assert!(t.is_empty());
    }

    #[test]
    fn delete_filters_on_out_port_and_cookie() {
        let mut t = FlowTables::default();
        let mut a = FlowMod::add(TableId(0), 5, to([10, 0, 0, 1], None), out(1));
        a.cookie = 0xaa;
        send(&mut t, &a).unwrap();
        let mut b = FlowMod::add(TableId(0), 5, to([10, 0, 0, 2], None), out(2));
        b.cookie = 0xbb;
        send(&mut t, &b).unwrap();
        let mut del = FlowMod::delete(TableId(0), Match::new());
        del.out_port = PortNo(2);
        assert_eq!(send(&mut t, &del).unwrap().removed.len(), 1);
        assert_eq!(t.table(TableId(0))[0].cookie, 0xaa);
        let mut del = FlowMod::delete(TableId(0), Match::new());
        del.cookie = 0xbb;
        del.cookie_mask = u64::MAX;
        assert!(send(&mut t, &del).unwrap().removed.is_empty());
        del.cookie = 0xaa;
        assert_eq!(send(&mut t, &del).unwrap().removed.len(), 1);
    }

    #[test]
    fn modify_changes_instructions_of_covered_entries_only() {
        let mut t = FlowTables::default();
        send(
            &mut t,
            &FlowMod::add(TableId(0), 5, to([10, 0, 0, 1], None), out(1)),
        )
        .unwrap();
        send(
            &mut t,
            &FlowMod::add(TableId(0), 5, to([11, 0, 0, 1], None), out(1)),
        )
        .unwrap();
        let mut m = FlowMod::add(
            TableId(0),
            0,
            to([10, 0, 0, 0], Some([255, 0, 0, 0])),
            out(9),
        );
        m.command = FlowModCommand::Modify;
        assert_eq!(send(&mut t, &m).unwrap().touched, 1);
        assert_eq!(hit(&mut t, [10, 0, 0, 1]), Some(out(9)));
        assert_eq!(hit(&mut t, [11, 0, 0, 1]), Some(out(1)));
        // Strict modify with the wrong priority touches nothing and adds nothing.
        m.command = FlowModCommand::ModifyStrict;
        m.match_ = to([11, 0, 0, 1], None);
        m.priority = 4;
        assert_eq!(send(&mut t, &m).unwrap().touched, 0);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn bad_tables_groups_and_buffers_are_refused() {
        let mut t = FlowTables::default();
        let fm = FlowMod::add(TableId(N_TABLES), 1, Match::new(), out(1));
        assert_eq!(
            send(&mut t, &fm),
            Err(ErrorKind::FlowModFailed(FlowModFailedCode::BadTableId))
        );
        let g = FlowMod::add(
            TableId(0),
            1,
            Match::new(),
            vec![Instruction::ApplyActions(vec![Action::Group(GroupId(4))])],
        );
        assert_eq!(
            send(&mut t, &g),
            Err(ErrorKind::BadAction(BadActionCode::BadOutGroup))
        );
        let goto = FlowMod::add(
            TableId(1),
            1,
            Match::new(),
            vec![Instruction::GotoTable(TableId(1))],
        );
        assert_eq!(
            send(&mut t, &goto),
            Err(ErrorKind::BadInstruction(BadInstructionCode::BadTableId))
        );
        let mut buf = FlowMod::add(TableId(0), 1, Match::new(), out(1));
        buf.buffer_id = BufferId(7);
        assert_eq!(
            send(&mut t, &buf),
            Err(ErrorKind::BadRequest(BadRequestCode::BufferUnknown))
        );
        assert!(t.is_empty());
    }

    #[test]
    fn timeouts_expire_entries() {
        let mut t = FlowTables::default();
        let mut idle = FlowMod::add(TableId(0), 5, to([10, 0, 0, 1], None), out(1));
        idle.idle_timeout = 10;
        let mut hard = FlowMod::add(TableId(0), 5, to([10, 0, 0, 2], None), out(1));
        hard.hard_timeout = 15;
        send(&mut t, &idle).unwrap();
        send(&mut t, &hard).unwrap();
        // A hit at t=8 keeps the idle entry alive until 18.
        t.lookup(TableId(0), &pkt([10, 0, 0, 1]), 60, Duration::from_secs(8));
        assert!(t.expire(Duration::from_secs(12)).is_empty());
        let r = t.expire(Duration::from_secs(16));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].reason, FlowRemovedReason::HardTimeout);
        let r = t.expire(Duration::from_secs(18));
        assert_eq!(r[0].reason, FlowRemovedReason::IdleTimeout);
        assert!(t.is_empty());
    }
}
