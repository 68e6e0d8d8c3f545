//! Instructions (OpenFlow 1.3.5 §7.2.4): `type:16`, `len:16`, body; unknown types round-trip.

use bytes::Bytes;

use super::action::{actions_len, read_actions, write_actions, Action};
use super::cursor::{Reader, Writer};
use super::enums::wire_enum;
use super::types::{MeterId, TableId};
use super::wire_error::{Result, WireError};

wire_enum! {
    /// `ofp_instruction_type`.
    pub enum InstructionType: u16 {
        GotoTable = 1 => "GOTO_TABLE",
        WriteMetadata = 2 => "WRITE_METADATA",
        WriteActions = 3 => "WRITE_ACTIONS",
        ApplyActions = 4 => "APPLY_ACTIONS",
        ClearActions = 5 => "CLEAR_ACTIONS",
        Meter = 6 => "METER",
        Experimenter = 0xffff => "EXPERIMENTER",
    }
}

/// One instruction of a flow entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Instruction {
    /// Continue in a later table.
    GotoTable(TableId),
    /// Write masked metadata.
    WriteMetadata {
        /// Value.
        metadata: u64,
        /// Bits to write.
        mask: u64,
    },
    /// Merge actions into the action set.
    WriteActions(Vec<Action>),
    /// Apply actions now.
    ApplyActions(Vec<Action>),
    /// Clear the action set.
    ClearActions,
    /// Send through a meter.
    Meter(MeterId),
    /// Any other instruction, kept verbatim; `body` is everything after the 4-byte header.
    Unknown {
        /// Instruction type.
        instruction_type: u16,
        /// Bytes after the header.
        body: Bytes,
    },
}

fn type_name(t: u16) -> &'static str {
    InstructionType::from(t).name()
}

impl Instruction {
    /// The instruction's type.
    pub fn instruction_type(&self) -> InstructionType {
        match self {
            Instruction::GotoTable(_) => InstructionType::GotoTable,
            Instruction::WriteMetadata { .. } => InstructionType::WriteMetadata,
            Instruction::WriteActions(_) => InstructionType::WriteActions,
            Instruction::ApplyActions(_) => InstructionType::ApplyActions,
            Instruction::ClearActions => InstructionType::ClearActions,
            Instruction::Meter(_) => InstructionType::Meter,
            Instruction::Unknown {
                instruction_type, ..
            } => InstructionType::from(*instruction_type),
        }
    }

    /// Encoded size, header included.
    pub fn buffer_len(&self) -> usize {
        match self {
            Instruction::WriteMetadata { .. } => 24,
            Instruction::WriteActions(a) | Instruction::ApplyActions(a) => 8 + actions_len(a),
            Instruction::Unknown { body, .. } => 4 + body.len(),
            _ => 8,
        }
    }

    /// Parses one instruction from the front of `buf`; returns it and the bytes used.
    pub fn parse(buf: &[u8]) -> Result<(Instruction, usize)> {
        let mut r = Reader::new(buf, "instruction");
        let i = Self::read(&mut r, 0)?;
        Ok((i, buf.len() - r.remaining()))
    }

    /// Reads instruction number `index` of a list.
    pub(crate) fn read(r: &mut Reader<'_>, index: usize) -> Result<Instruction> {
        let (ty, mut b) = r.tlv("instruction", index, type_name)?;
        let len = b.remaining() + 4;
        let bad = |why| WireError::BadElementLength {
            msg: r.msg,
            what: "instruction",
            index,
            kind: type_name(ty),
            len,
            why,
        };
        let t = InstructionType::from(ty);
        Ok(match t {
            InstructionType::GotoTable | InstructionType::ClearActions | InstructionType::Meter => {
                if len != 8 {
                    return Err(bad("must be 8"));
                }
                match t {
                    InstructionType::GotoTable => {
                        Instruction::GotoTable(TableId(b.u8("table_id")?))
                    }
                    InstructionType::Meter => Instruction::Meter(MeterId(b.u32("meter_id")?)),
                    _ => Instruction::ClearActions,
                }
            }
            InstructionType::WriteMetadata => {
                if len != 24 {
                    return Err(bad("must be 24"));
                }
                b.skip(4, "pad")?;
                let metadata = b.u64("metadata")?;
                let mask = b.u64("metadata_mask")?;
                Instruction::WriteMetadata { metadata, mask }
            }
            InstructionType::WriteActions | InstructionType::ApplyActions => {
                if len < 8 {
                    return Err(bad("must be at least 8"));
                }
                b.skip(4, "pad")?;
                let actions = read_actions(&mut b)?;
                if t == InstructionType::WriteActions {
                    Instruction::WriteActions(actions)
                } else {
                    Instruction::ApplyActions(actions)
                }
            }
            InstructionType::Experimenter | InstructionType::Unknown(_) => Instruction::Unknown {
                instruction_type: ty,
                body: b.rest_bytes(),
            },
        })
    }

    /// Encodes into `buf` (which should be `buffer_len()` bytes).
    pub fn emit(&self, buf: &mut [u8]) {
        self.write(&mut Writer::new(buf));
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u16(self.instruction_type().into());
        w.len16(self.buffer_len());
        match self {
            Instruction::GotoTable(t) => {
                w.u8(t.0);
                w.zeros(3);
            }
            Instruction::WriteMetadata { metadata, mask } => {
                w.zeros(4);
                w.u64(*metadata);
                w.u64(*mask);
            }
            Instruction::WriteActions(a) | Instruction::ApplyActions(a) => {
                w.zeros(4);
                write_actions(a, w);
            }
            Instruction::ClearActions => w.zeros(4),
            Instruction::Meter(m) => w.u32(m.0),
            Instruction::Unknown { body, .. } => w.put(body),
        }
    }
}

/// Total encoded size of an instruction list.
pub fn instructions_len(list: &[Instruction]) -> usize {
    list.iter().map(Instruction::buffer_len).sum()
}

/// Reads instructions until the reader is exhausted.
pub(crate) fn read_instructions(r: &mut Reader<'_>) -> Result<Vec<Instruction>> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(Instruction::read(r, out.len())?);
    }
    Ok(out)
}

/// Writes every instruction of a list.
pub(crate) fn write_instructions(list: &[Instruction], w: &mut Writer<'_>) {
    for i in list {
        i.write(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::wire::types::PortNo;

    #[test]
    fn apply_actions_output_bytes() {
        let i = Instruction::ApplyActions(vec![Action::Output {
            port: PortNo(2),
            max_len: 0,
        }]);
        let mut out = vec![0u8; i.buffer_len()];
        i.emit(&mut out);
        assert_eq!(
            out,
            [0, 4, 0, 24, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(Instruction::parse(&out).unwrap(), (i, 24));
    }

    #[test]
    fn overrun_names_instruction_and_type() {
        let e = Instruction::parse(&[0, 4, 0, 12, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "instruction: instruction 0 (APPLY_ACTIONS) length 12 exceeds remaining 8 bytes"
        );
        let e = Instruction::parse(&[0, 1, 0, 16, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap_err();
        assert!(
            matches!(
                e,
                WireError::BadElementLength {
                    kind: "GOTO_TABLE",
                    ..
                }
            ),
            "{e}"
        );
    }
}
