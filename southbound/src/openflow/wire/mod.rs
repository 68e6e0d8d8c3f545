//! OpenFlow 1.3 wire codec (spec 1.3.5 §7): zero-copy views and validated values, one module per
//! message family, no I/O.
//!
//! Invariants, relied on by the sessions above and checked by the fuzz targets in
//! `southbound/fuzz/`:
//! - Nothing here panics on any input: every read is bounds-checked and fails with a
//!   [`WireError`] naming the message, the field and the value.
//! - Every value type `X` has `X::parse(&[u8])`, `x.buffer_len()` and `x.emit(&mut [u8])`;
//!   `emit` never panics on a buffer of `buffer_len()` bytes and writes exactly that many.
//! - `parse(emit(x)) == x` for every value (property-tested); unknown message types, multipart
//!   types, OXM fields, actions, instructions, meter bands and error codes are kept as bytes or
//!   `Unknown(n)` so they round-trip.
//! - Body types parse the bytes after the 8-byte header; [`Message`] handles the header.

pub mod action;
mod body;
pub mod codec;
pub mod config;
mod cursor;
mod enums;
pub mod error;
pub mod features;
pub mod flow_mod;
pub mod flow_removed;
pub mod group_mod;
pub mod header;
pub mod hello;
pub mod instruction;
pub mod message;
pub mod meter_mod;
pub mod multipart;
pub mod oxm;
pub mod packet_in;
pub mod packet_out;
pub mod port_status;
pub mod role;
pub mod types;
pub mod wire_error;

#[cfg(test)]
mod arbitrary;

pub use action::{Action, ActionType};
pub use codec::{CodecError, FrameError, OfpCodec};
pub use config::SwitchConfig;
pub use error::{ErrorKind, ErrorMsg};
pub use features::FeaturesReply;
pub use flow_mod::{FlowMod, FlowModCommand, FlowModFlags};
pub use flow_removed::{FlowRemoved, FlowRemovedReason};
pub use group_mod::{Bucket, GroupCommand, GroupMod, GroupType};
pub use header::{peek_frame_len, Header, MsgType, HEADER_LEN, MAX_FRAME_LEN, OFP_VERSION};
pub use hello::{Hello, HelloElement};
pub use instruction::{Instruction, InstructionType};
pub use message::{Frame, Message};
pub use meter_mod::{MeterBand, MeterCommand, MeterFlags, MeterMod};
pub use multipart::{MultipartReply, MultipartReplyBody, MultipartRequest, MultipartRequestBody};
pub use oxm::{Match, OxmField};
pub use packet_in::{PacketIn, PacketInReason, PacketInView};
pub use packet_out::{PacketOut, PacketOutRef};
pub use port_status::{Port, PortReason, PortStatus};
pub use role::{ControllerRole, Role};
pub use types::{BufferId, DatapathId, GroupId, MacAddr, MeterId, PortNo, TableId, Xid};
pub use wire_error::WireError;
