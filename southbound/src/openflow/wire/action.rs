//! Actions (OpenFlow 1.3.5 §7.2.5): `type:16`, `len:16` (a multiple of 8, header included), body.
//!
//! Named actions are validated against their fixed length; `SET_FIELD` carries one OXM padded to
//! 8; every other type (including experimenter) is kept as [`Action::Unknown`] and round-trips.

use bytes::Bytes;

use super::cursor::{pad8, Reader, Writer};
use super::enums::wire_enum;
use super::oxm::OxmField;
use super::types::{GroupId, PortNo};
use super::wire_error::{Result, WireError};

/// Size of the action header (`type`, `len`).
pub const ACTION_HEADER_LEN: usize = 4;
/// `OFPCML_NO_BUFFER`: output to controller sends the whole packet.
pub const OFPCML_NO_BUFFER: u16 = 0xffff;
/// `OFPCML_MAX`: largest `max_len` that asks the switch to buffer.
pub const OFPCML_MAX: u16 = 0xffe5;

wire_enum! {
    /// `ofp_action_type`.
    pub enum ActionType: u16 {
        Output = 0 => "OUTPUT",
        CopyTtlOut = 11 => "COPY_TTL_OUT",
        CopyTtlIn = 12 => "COPY_TTL_IN",
        SetMplsTtl = 15 => "SET_MPLS_TTL",
        DecMplsTtl = 16 => "DEC_MPLS_TTL",
        PushVlan = 17 => "PUSH_VLAN",
        PopVlan = 18 => "POP_VLAN",
        PushMpls = 19 => "PUSH_MPLS",
        PopMpls = 20 => "POP_MPLS",
        SetQueue = 21 => "SET_QUEUE",
        Group = 22 => "GROUP",
        SetNwTtl = 23 => "SET_NW_TTL",
        DecNwTtl = 24 => "DEC_NW_TTL",
        SetField = 25 => "SET_FIELD",
        PushPbb = 26 => "PUSH_PBB",
        PopPbb = 27 => "POP_PBB",
        Experimenter = 0xffff => "EXPERIMENTER",
    }
}

/// One action.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// Send out of a port; `max_len` bytes go to the controller for `PortNo::CONTROLLER`.
    Output {
        /// Port.
        port: PortNo,
        /// Bytes to send to the controller (`OFPCML_NO_BUFFER` for all).
        max_len: u16,
    },
    /// Copy TTL outwards.
    CopyTtlOut,
    /// Copy TTL inwards.
    CopyTtlIn,
    /// Set the MPLS TTL.
    SetMplsTtl(u8),
    /// Decrement the MPLS TTL.
    DecMplsTtl,
    /// Push a VLAN tag with this ethertype (0x8100 or 0x88a8).
    PushVlan(u16),
    /// Pop the outer VLAN tag.
    PopVlan,
    /// Push an MPLS label with this ethertype.
    PushMpls(u16),
    /// Pop an MPLS label, setting this ethertype.
    PopMpls(u16),
    /// Set the output queue.
    SetQueue(u32),
    /// Apply a group.
    Group(GroupId),
    /// Set the IP TTL.
    SetNwTtl(u8),
    /// Decrement the IP TTL.
    DecNwTtl,
    /// Rewrite a header field.
    SetField(OxmField),
    /// Push a PBB service tag with this ethertype.
    PushPbb(u16),
    /// Pop the PBB service tag.
    PopPbb,
    /// Any other action, kept verbatim; `body` is everything after the 4-byte header.
    Unknown {
        /// Action type.
        action_type: u16,
        /// Bytes after the header.
        body: Bytes,
    },
}

fn type_name(t: u16) -> &'static str {
    ActionType::from(t).name()
}

impl Action {
    /// Output to a port, whole packet to the controller.
    pub fn output(port: PortNo) -> Action {
        Action::Output {
            port,
            max_len: OFPCML_NO_BUFFER,
        }
    }

    /// The action's type.
    pub fn action_type(&self) -> ActionType {
        match self {
            Action::Output { .. } => ActionType::Output,
            Action::CopyTtlOut => ActionType::CopyTtlOut,
            Action::CopyTtlIn => ActionType::CopyTtlIn,
            Action::SetMplsTtl(_) => ActionType::SetMplsTtl,
            Action::DecMplsTtl => ActionType::DecMplsTtl,
            Action::PushVlan(_) => ActionType::PushVlan,
            Action::PopVlan => ActionType::PopVlan,
            Action::PushMpls(_) => ActionType::PushMpls,
            Action::PopMpls(_) => ActionType::PopMpls,
            Action::SetQueue(_) => ActionType::SetQueue,
            Action::Group(_) => ActionType::Group,
            Action::SetNwTtl(_) => ActionType::SetNwTtl,
            Action::DecNwTtl => ActionType::DecNwTtl,
            Action::SetField(_) => ActionType::SetField,
            Action::PushPbb(_) => ActionType::PushPbb,
            Action::PopPbb => ActionType::PopPbb,
            Action::Unknown { action_type, .. } => ActionType::from(*action_type),
        }
    }

    /// Encoded size, header included.
    pub fn buffer_len(&self) -> usize {
        match self {
            Action::Output { .. } => 16,
            Action::SetField(oxm) => pad8(ACTION_HEADER_LEN + oxm.buffer_len()),
            Action::Unknown { body, .. } => ACTION_HEADER_LEN + body.len(),
            _ => 8,
        }
    }

    /// Parses one action from the front of `buf`; returns it and the bytes used.
    pub fn parse(buf: &[u8]) -> Result<(Action, usize)> {
        let mut r = Reader::new(buf, "action");
        let a = Self::read(&mut r, 0)?;
        Ok((a, buf.len() - r.remaining()))
    }

    /// Reads action number `index` of a list.
    pub(crate) fn read(r: &mut Reader<'_>, index: usize) -> Result<Action> {
        let (ty, mut b) = r.tlv("action", index, type_name)?;
        let len = b.remaining() + ACTION_HEADER_LEN;
        let fixed = |want: usize| -> Result<()> {
            if len == want {
                Ok(())
            } else {
                Err(WireError::BadElementLength {
                    msg: r.msg,
                    what: "action",
                    index,
                    kind: type_name(ty),
                    len,
                    why: if want == 16 {
                        "must be 16"
                    } else {
                        "must be 8"
                    },
                })
            }
        };
        let t = ActionType::from(ty);
        let a = match t {
            ActionType::Output => {
                fixed(16)?;
                let port = PortNo(b.u32("output port")?);
                let max_len = b.u16("output max_len")?;
                Action::Output { port, max_len }
            }
            ActionType::SetField => {
                if len % 8 != 0 {
                    return Err(WireError::BadElementLength {
                        msg: r.msg,
                        what: "action",
                        index,
                        kind: type_name(ty),
                        len,
                        why: "must be a multiple of 8",
                    });
                }
                let oxm = OxmField::read(&mut b, 0)?;
                if b.remaining() >= 8 {
                    return Err(WireError::TrailingBytes {
                        msg: r.msg,
                        field: "SET_FIELD padding",
                        extra: b.remaining(),
                    });
                }
                Action::SetField(oxm)
            }
            ActionType::Experimenter | ActionType::Unknown(_) => Action::Unknown {
                action_type: ty,
                body: b.rest_bytes(),
            },
            _ => {
                fixed(8)?;
                match t {
                    ActionType::CopyTtlOut => Action::CopyTtlOut,
                    ActionType::CopyTtlIn => Action::CopyTtlIn,
                    ActionType::SetMplsTtl => Action::SetMplsTtl(b.u8("mpls_ttl")?),
                    ActionType::DecMplsTtl => Action::DecMplsTtl,
                    ActionType::PushVlan => Action::PushVlan(b.u16("ethertype")?),
                    ActionType::PopVlan => Action::PopVlan,
                    ActionType::PushMpls => Action::PushMpls(b.u16("ethertype")?),
                    ActionType::PopMpls => Action::PopMpls(b.u16("ethertype")?),
                    ActionType::SetQueue => Action::SetQueue(b.u32("queue_id")?),
                    ActionType::Group => Action::Group(GroupId(b.u32("group_id")?)),
                    ActionType::SetNwTtl => Action::SetNwTtl(b.u8("nw_ttl")?),
                    ActionType::DecNwTtl => Action::DecNwTtl,
                    ActionType::PushPbb => Action::PushPbb(b.u16("ethertype")?),
                    _ => Action::PopPbb,
                }
            }
        };
        Ok(a)
    }

    /// Encodes into `buf` (which should be `buffer_len()` bytes).
    pub fn emit(&self, buf: &mut [u8]) {
        self.write(&mut Writer::new(buf));
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        let len = self.buffer_len();
        w.u16(self.action_type().into());
        w.len16(len);
        match self {
            Action::Output { port, max_len } => {
                w.u32(port.0);
                w.u16(*max_len);
                w.zeros(6);
            }
            Action::SetMplsTtl(v) | Action::SetNwTtl(v) => {
                w.u8(*v);
                w.zeros(3);
            }
            Action::PushVlan(e) | Action::PushMpls(e) | Action::PopMpls(e) | Action::PushPbb(e) => {
                w.u16(*e);
                w.zeros(2);
            }
            Action::SetQueue(v) => w.u32(*v),
            Action::Group(g) => w.u32(g.0),
            Action::SetField(oxm) => {
                oxm.write(w);
                w.zeros(len - ACTION_HEADER_LEN - oxm.buffer_len());
            }
            Action::Unknown { body, .. } => w.put(body),
            Action::CopyTtlOut
            | Action::CopyTtlIn
            | Action::DecMplsTtl
            | Action::PopVlan
            | Action::DecNwTtl
            | Action::PopPbb => w.zeros(4),
        }
    }
}

/// Total encoded size of an action list.
pub fn actions_len(actions: &[Action]) -> usize {
    actions.iter().map(Action::buffer_len).sum()
}

/// Reads actions until the reader is exhausted.
pub(crate) fn read_actions(r: &mut Reader<'_>) -> Result<Vec<Action>> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(Action::read(r, out.len())?);
    }
    Ok(out)
}

/// Writes every action of a list.
pub(crate) fn write_actions(actions: &[Action], w: &mut Writer<'_>) {
    for a in actions {
        a.write(w);
    }
}

/// Parses a whole buffer as an action list.
pub fn parse_actions(buf: &[u8]) -> Result<Vec<Action>> {
    read_actions(&mut Reader::new(buf, "actions"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::wire::oxm::OxmField;
    use crate::openflow::wire::types::MacAddr;

    #[test]
    fn output_to_controller_bytes() {
        let a = Action::output(PortNo::CONTROLLER);
        let mut out = [0u8; 16];
        a.emit(&mut out);
        assert_eq!(
            out,
            [0, 0, 0, 16, 0xff, 0xff, 0xff, 0xfd, 0xff, 0xff, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(Action::parse(&out).unwrap(), (a, 16));
    }

    #[test]
    fn set_field_is_padded_to_8() {
        let a = Action::SetField(OxmField::EthDst {
            addr: MacAddr([2, 0, 0, 0, 0, 1]),
            mask: None,
        });
        assert_eq!(a.buffer_len(), 16);
        let mut out = vec![0u8; 16];
        a.emit(&mut out);
        assert_eq!(&out[..8], &[0, 25, 0, 16, 0x80, 0, 6, 6]);
        assert_eq!(Action::parse(&out).unwrap(), (a, 16));
    }

    #[test]
    fn bad_lengths_are_typed_errors() {
        let e = Action::parse(&[0, 0, 0, 8, 0, 0, 0, 1]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "action: action 0 (OUTPUT) length 8 is invalid: must be 16"
        );
        let e = Action::parse(&[0, 22, 0, 16, 0, 0, 0, 1]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "action: action 0 (GROUP) length 16 exceeds remaining 8 bytes"
        );
        let e = Action::parse(&[0, 18, 0, 2]).unwrap_err();
        assert!(
            matches!(e, WireError::BadElementLength { len: 2, .. }),
            "{e}"
        );
        let e = Action::parse(&[0, 18]).unwrap_err();
        assert!(matches!(e, WireError::Truncated { .. }), "{e}");
    }

    #[test]
    fn experimenter_action_round_trips() {
        let bytes = [0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 1, 2, 3, 4, 5, 6, 7];
        let (a, n) = Action::parse(&bytes).unwrap();
        assert_eq!(n, 16);
        assert!(matches!(
            a,
            Action::Unknown {
                action_type: 0xffff,
                ..
            }
        ));
        let mut out = [0u8; 16];
        a.emit(&mut out);
        assert_eq!(out, bytes);
    }
}
