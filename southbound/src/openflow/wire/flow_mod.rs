//! FLOW_MOD (OpenFlow 1.3.5 §7.3.4.1): `cookie:64`, `cookie_mask:64`, `table_id:8`, `command:8`,
//! `idle_timeout:16`, `hard_timeout:16`, `priority:16`, `buffer_id:32`, `out_port:32`,
//! `out_group:32`, `flags:16`, pad 2, `ofp_match` (padded), instructions.

use super::body::body_api;
use super::cursor::{Reader, Writer};
use super::enums::wire_enum;
use super::instruction::{instructions_len, read_instructions, write_instructions, Instruction};
use super::oxm::Match;
use super::types::{BufferId, GroupId, PortNo, TableId};
use super::wire_error::Result;

/// Size of the fixed part of the body, before the match.
pub const FLOW_MOD_FIXED_LEN: usize = 40;

wire_enum! {
    /// `ofp_flow_mod_command`.
    pub enum FlowModCommand: u8 {
        Add = 0 => "ADD",
        Modify = 1 => "MODIFY",
        ModifyStrict = 2 => "MODIFY_STRICT",
        Delete = 3 => "DELETE",
        DeleteStrict = 4 => "DELETE_STRICT",
    }
}

/// `ofp_flow_mod_flags` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowModFlags(pub u16);

impl FlowModFlags {
    /// `OFPFF_SEND_FLOW_REM`: send FLOW_REMOVED when the entry goes.
    pub const SEND_FLOW_REM: FlowModFlags = FlowModFlags(1 << 0);
    /// `OFPFF_CHECK_OVERLAP`: refuse overlapping entries.
    pub const CHECK_OVERLAP: FlowModFlags = FlowModFlags(1 << 1);
    /// `OFPFF_RESET_COUNTS`: reset counters on modify.
    pub const RESET_COUNTS: FlowModFlags = FlowModFlags(1 << 2);
    /// `OFPFF_NO_PKT_COUNTS`: do not count packets.
    pub const NO_PKT_COUNTS: FlowModFlags = FlowModFlags(1 << 3);
    /// `OFPFF_NO_BYT_COUNTS`: do not count bytes.
    pub const NO_BYT_COUNTS: FlowModFlags = FlowModFlags(1 << 4);

    /// True when every bit of `other` is set.
    pub fn contains(self, other: FlowModFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for FlowModFlags {
    type Output = FlowModFlags;
    fn bitor(self, rhs: FlowModFlags) -> FlowModFlags {
        FlowModFlags(self.0 | rhs.0)
    }
}

/// A FLOW_MOD message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowMod {
    /// Opaque controller cookie.
    pub cookie: u64,
    /// Cookie bits that must match (modify/delete).
    pub cookie_mask: u64,
    /// Table.
    pub table_id: TableId,
    /// What to do.
    pub command: FlowModCommand,
    /// Idle timeout in seconds (0 = none).
    pub idle_timeout: u16,
    /// Hard timeout in seconds (0 = none).
    pub hard_timeout: u16,
    /// Priority.
    pub priority: u16,
    /// Buffered packet to apply the entry to, or `NO_BUFFER`.
    pub buffer_id: BufferId,
    /// Delete filter on output port (`ANY` for none).
    pub out_port: PortNo,
    /// Delete filter on output group (`ANY` for none).
    pub out_group: GroupId,
    /// Flags.
    pub flags: FlowModFlags,
    /// Match.
    pub match_: Match,
    /// Instructions.
    pub instructions: Vec<Instruction>,
}

impl FlowMod {
    /// An ADD in `table` at `priority` with no timeouts, no buffer, no filters.
    pub fn add(
        table: TableId,
        priority: u16,
        match_: Match,
        instructions: Vec<Instruction>,
    ) -> Self {
        FlowMod {
            cookie: 0,
            cookie_mask: 0,
            table_id: table,
            command: FlowModCommand::Add,
            idle_timeout: 0,
            hard_timeout: 0,
            priority,
            buffer_id: BufferId::NO_BUFFER,
            out_port: PortNo::ANY,
            out_group: GroupId::ANY,
            flags: FlowModFlags::default(),
            match_,
            instructions,
        }
    }

    /// A DELETE of every entry of `table` matching `match_` (any port, any group).
    pub fn delete(table: TableId, match_: Match) -> Self {
        FlowMod {
            command: FlowModCommand::Delete,
            ..FlowMod::add(table, 0, match_, Vec::new())
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<FlowMod> {
        let cookie = r.u64("cookie")?;
        let cookie_mask = r.u64("cookie_mask")?;
        let table_id = TableId(r.u8("table_id")?);
        let command = FlowModCommand::from(r.u8("command")?);
        let idle_timeout = r.u16("idle_timeout")?;
        let hard_timeout = r.u16("hard_timeout")?;
        let priority = r.u16("priority")?;
        let buffer_id = BufferId(r.u32("buffer_id")?);
        let out_port = PortNo(r.u32("out_port")?);
        let out_group = GroupId(r.u32("out_group")?);
        let flags = FlowModFlags(r.u16("flags")?);
        r.skip(2, "pad")?;
        let match_ = Match::read(r)?;
        let instructions = read_instructions(r)?;
        Ok(FlowMod {
            cookie,
            cookie_mask,
            table_id,
            command,
            idle_timeout,
            hard_timeout,
            priority,
            buffer_id,
            out_port,
            out_group,
            flags,
            match_,
            instructions,
        })
    }

    fn body_len(&self) -> usize {
        FLOW_MOD_FIXED_LEN + self.match_.buffer_len() + instructions_len(&self.instructions)
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u64(self.cookie);
        w.u64(self.cookie_mask);
        w.u8(self.table_id.0);
        w.u8(self.command.into());
        w.u16(self.idle_timeout);
        w.u16(self.hard_timeout);
        w.u16(self.priority);
        w.u32(self.buffer_id.0);
        w.u32(self.out_port.0);
        w.u32(self.out_group.0);
        w.u16(self.flags.0);
        w.zeros(2);
        self.match_.write(w);
        write_instructions(&self.instructions, w);
    }
}

body_api!(FlowMod, "FLOW_MOD");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::wire::action::Action;
    use crate::openflow::wire::oxm::OxmField;
    use crate::openflow::wire::wire_error::WireError;

    #[test]
    fn instruction_overrun_names_message_and_index() {
        let mut fm = FlowMod::add(
            TableId(0),
            1,
            Match::new(),
            vec![
                Instruction::GotoTable(TableId(1)),
                Instruction::ClearActions,
                Instruction::ApplyActions(vec![]),
            ],
        );
        fm.flags = FlowModFlags::SEND_FLOW_REM | FlowModFlags::CHECK_OVERLAP;
        let mut body = vec![0u8; fm.buffer_len()];
        fm.emit(&mut body);
        assert_eq!(FlowMod::parse(&body).unwrap(), fm);
        let n = body.len();
        body[n - 5] = 12; // third instruction claims 12 bytes, 8 remain
        let e = FlowMod::parse(&body).unwrap_err();
        assert_eq!(
            e.to_string(),
            "FLOW_MOD: instruction 2 (APPLY_ACTIONS) length 12 exceeds remaining 8 bytes"
        );
        assert!(matches!(e, WireError::ElementOverrun { index: 2, .. }));
    }

    #[test]
    fn delete_filters_default_to_any() {
        let fm = FlowMod::delete(TableId::ALL, Match::new().with(OxmField::EthType(0x806)));
        assert_eq!(fm.out_port, PortNo::ANY);
        assert_eq!(fm.command, FlowModCommand::Delete);
        let fm2 = FlowMod::add(
            TableId(0),
            10,
            Match::new(),
            vec![Instruction::ApplyActions(vec![Action::output(
                PortNo::CONTROLLER,
            )])],
        );
        assert_eq!(fm2.buffer_len(), 40 + 8 + 24);
    }
}
