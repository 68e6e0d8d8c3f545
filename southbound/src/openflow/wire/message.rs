//! The [`Message`] enum: one variant per OpenFlow 1.3 message type, with the header handled here.
//!
//! `Message::parse` takes exactly one whole frame. Message types without a modelled body
//! (PORT_MOD, TABLE_MOD, queue config, async config, experimenter, and types from newer versions)
//! are kept as [`Message::Unknown`] and round-trip. Non-HELLO messages must carry version 0x04;
//! HELLO may carry any version (that is how negotiation works, §6.3.1).

use bytes::{Bytes, BytesMut};

use super::config::SwitchConfig;
use super::cursor::{Reader, Writer};
use super::error::ErrorMsg;
use super::features::FeaturesReply;
use super::flow_mod::FlowMod;
use super::flow_removed::FlowRemoved;
use super::group_mod::GroupMod;
use super::header::{Header, MsgType, HEADER_LEN, OFP_VERSION};
use super::hello::Hello;
use super::meter_mod::MeterMod;
use super::multipart::{MultipartReply, MultipartRequest};
use super::packet_in::PacketIn;
use super::packet_out::PacketOut;
use super::port_status::PortStatus;
use super::role::Role;
use super::types::Xid;
use super::wire_error::{Result, WireError};

/// One OpenFlow 1.3 message (the header's type is implied by the variant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// HELLO.
    Hello(Hello),
    /// ERROR.
    Error(ErrorMsg),
    /// ECHO_REQUEST with its payload.
    EchoRequest(Bytes),
    /// ECHO_REPLY with the request's payload.
    EchoReply(Bytes),
    /// FEATURES_REQUEST.
    FeaturesRequest,
    /// FEATURES_REPLY.
    FeaturesReply(FeaturesReply),
    /// GET_CONFIG_REQUEST.
    GetConfigRequest,
    /// GET_CONFIG_REPLY.
    GetConfigReply(SwitchConfig),
    /// SET_CONFIG.
    SetConfig(SwitchConfig),
    /// PACKET_IN.
    PacketIn(PacketIn),
    /// FLOW_REMOVED.
    FlowRemoved(FlowRemoved),
    /// PORT_STATUS.
    PortStatus(PortStatus),
    /// PACKET_OUT.
    PacketOut(PacketOut),
    /// FLOW_MOD.
    FlowMod(FlowMod),
    /// GROUP_MOD.
    GroupMod(GroupMod),
    /// MULTIPART_REQUEST.
    MultipartRequest(MultipartRequest),
    /// MULTIPART_REPLY.
    MultipartReply(MultipartReply),
    /// BARRIER_REQUEST.
    BarrierRequest,
    /// BARRIER_REPLY.
    BarrierReply,
    /// ROLE_REQUEST.
    RoleRequest(Role),
    /// ROLE_REPLY.
    RoleReply(Role),
    /// METER_MOD.
    MeterMod(MeterMod),
    /// Any other type, body kept verbatim.
    Unknown {
        /// Header type.
        msg_type: u8,
        /// Bytes after the header.
        body: Bytes,
    },
}

/// A message with its transaction id: what travels on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Transaction id.
    pub xid: Xid,
    /// The message.
    pub message: Message,
}

impl Frame {
    /// Pairs a message with an xid.
    pub fn new(xid: Xid, message: Message) -> Frame {
        Frame { xid, message }
    }

    /// Parses one whole frame (payloads copied).
    pub fn parse(frame: &[u8]) -> Result<Frame> {
        Message::parse(frame).map(|(xid, message)| Frame { xid, message })
    }

    /// Parses one whole frame; payloads share `frame`'s memory.
    pub fn parse_bytes(frame: &Bytes) -> Result<Frame> {
        Message::parse_bytes(frame).map(|(xid, message)| Frame { xid, message })
    }

    /// Appends the encoded frame to `dst`.
    pub fn emit_to(&self, dst: &mut BytesMut) -> Result<()> {
        self.message.emit_to(self.xid, dst)
    }

    /// The encoded frame as a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        self.message.to_vec(self.xid)
    }
}

impl Message {
    /// The header type of this message.
    pub fn msg_type(&self) -> MsgType {
        match self {
            Message::Hello(_) => MsgType::Hello,
            Message::Error(_) => MsgType::Error,
            Message::EchoRequest(_) => MsgType::EchoRequest,
            Message::EchoReply(_) => MsgType::EchoReply,
            Message::FeaturesRequest => MsgType::FeaturesRequest,
            Message::FeaturesReply(_) => MsgType::FeaturesReply,
            Message::GetConfigRequest => MsgType::GetConfigRequest,
            Message::GetConfigReply(_) => MsgType::GetConfigReply,
            Message::SetConfig(_) => MsgType::SetConfig,
            Message::PacketIn(_) => MsgType::PacketIn,
            Message::FlowRemoved(_) => MsgType::FlowRemoved,
            Message::PortStatus(_) => MsgType::PortStatus,
            Message::PacketOut(_) => MsgType::PacketOut,
            Message::FlowMod(_) => MsgType::FlowMod,
            Message::GroupMod(_) => MsgType::GroupMod,
            Message::MultipartRequest(_) => MsgType::MultipartRequest,
            Message::MultipartReply(_) => MsgType::MultipartReply,
            Message::BarrierRequest => MsgType::BarrierRequest,
            Message::BarrierReply => MsgType::BarrierReply,
            Message::RoleRequest(_) => MsgType::RoleRequest,
            Message::RoleReply(_) => MsgType::RoleReply,
            Message::MeterMod(_) => MsgType::MeterMod,
            Message::Unknown { msg_type, .. } => MsgType::from(*msg_type),
        }
    }

    /// Header version this message is sent with (HELLO carries its own).
    pub fn version(&self) -> u8 {
        match self {
            Message::Hello(h) => h.version,
            _ => OFP_VERSION,
        }
    }

    /// Parses one whole frame, copying payloads (see [`Message::parse_bytes`] to avoid that).
    pub fn parse(frame: &[u8]) -> Result<(Xid, Message)> {
        let h = check_header(frame)?;
        let body = frame.get(HEADER_LEN..).unwrap_or(&[]);
        let mut r = Reader::new(body, h.msg_type.name());
        Self::parse_body(&h, &mut r)
    }

    /// Parses one whole frame; payloads (packet data, unknown bodies) share `frame`'s memory.
    pub fn parse_bytes(frame: &Bytes) -> Result<(Xid, Message)> {
        let h = check_header(frame)?;
        let body = frame.slice(HEADER_LEN.min(frame.len())..);
        let mut r = Reader::with_owner(&body, h.msg_type.name());
        Self::parse_body(&h, &mut r)
    }

    fn parse_body(h: &Header, r: &mut Reader<'_>) -> Result<(Xid, Message)> {
        let m = match h.msg_type {
            MsgType::Hello => {
                let mut hello = Hello::read(r)?;
                hello.version = h.version;
                Message::Hello(hello)
            }
            MsgType::Error => Message::Error(ErrorMsg::read(r)?),
            MsgType::EchoRequest => Message::EchoRequest(r.rest_bytes()),
            MsgType::EchoReply => Message::EchoReply(r.rest_bytes()),
            MsgType::FeaturesRequest => Message::FeaturesRequest,
            MsgType::FeaturesReply => Message::FeaturesReply(FeaturesReply::read(r)?),
            MsgType::GetConfigRequest => Message::GetConfigRequest,
            MsgType::GetConfigReply => Message::GetConfigReply(SwitchConfig::read(r)?),
            MsgType::SetConfig => Message::SetConfig(SwitchConfig::read(r)?),
            MsgType::PacketIn => Message::PacketIn(PacketIn::read(r)?),
            MsgType::FlowRemoved => Message::FlowRemoved(FlowRemoved::read(r)?),
            MsgType::PortStatus => Message::PortStatus(PortStatus::read(r)?),
            MsgType::PacketOut => Message::PacketOut(PacketOut::read(r)?),
            MsgType::FlowMod => Message::FlowMod(FlowMod::read(r)?),
            MsgType::GroupMod => Message::GroupMod(GroupMod::read(r)?),
            MsgType::MultipartRequest => Message::MultipartRequest(MultipartRequest::read(r)?),
            MsgType::MultipartReply => Message::MultipartReply(MultipartReply::read(r)?),
            MsgType::BarrierRequest => Message::BarrierRequest,
            MsgType::BarrierReply => Message::BarrierReply,
            MsgType::RoleRequest => Message::RoleRequest(Role::read(r)?),
            MsgType::RoleReply => Message::RoleReply(Role::read(r)?),
            MsgType::MeterMod => Message::MeterMod(MeterMod::read(r)?),
            other => Message::Unknown {
                msg_type: other.into(),
                body: r.rest_bytes(),
            },
        };
        r.finish("body")?;
        Ok((h.xid, m))
    }

    /// Body size in bytes (header excluded).
    pub fn body_len(&self) -> usize {
        match self {
            Message::Hello(m) => m.buffer_len(),
            Message::Error(m) => m.buffer_len(),
            Message::EchoRequest(b) | Message::EchoReply(b) => b.len(),
            Message::FeaturesRequest
            | Message::GetConfigRequest
            | Message::BarrierRequest
            | Message::BarrierReply => 0,
            Message::FeaturesReply(m) => m.buffer_len(),
            Message::GetConfigReply(m) | Message::SetConfig(m) => m.buffer_len(),
            Message::PacketIn(m) => m.buffer_len(),
            Message::FlowRemoved(m) => m.buffer_len(),
            Message::PortStatus(m) => m.buffer_len(),
            Message::PacketOut(m) => m.buffer_len(),
            Message::FlowMod(m) => m.buffer_len(),
            Message::GroupMod(m) => m.buffer_len(),
            Message::MultipartRequest(m) => m.buffer_len(),
            Message::MultipartReply(m) => m.buffer_len(),
            Message::RoleRequest(m) | Message::RoleReply(m) => m.buffer_len(),
            Message::MeterMod(m) => m.buffer_len(),
            Message::Unknown { body, .. } => body.len(),
        }
    }

    /// Whole frame size in bytes (header included).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.body_len()
    }

    /// Encodes the whole frame into the front of `buf`; fails if the encoding exceeds 65535
    /// bytes or `buf` is shorter than `buffer_len()`. Returns the bytes written.
    pub fn emit(&self, xid: Xid, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let length = u16::try_from(len).map_err(|_| WireError::TooLong {
            msg: self.msg_type().name(),
            len,
        })?;
        let have = buf.len();
        let out = buf.get_mut(..len).ok_or(WireError::BufferTooSmall {
            msg: self.msg_type().name(),
            need: len,
            have,
        })?;
        let mut w = Writer::new(out);
        w.u8(self.version());
        w.u8(self.msg_type().into());
        w.u16(length);
        w.u32(xid.0);
        self.write_body(&mut w);
        Ok(len)
    }

    /// Appends the whole frame to `dst` (reusing its capacity).
    pub fn emit_to(&self, xid: Xid, dst: &mut BytesMut) -> Result<()> {
        let start = dst.len();
        dst.resize(start + self.buffer_len(), 0);
        let res = dst.get_mut(start..).map(|tail| self.emit(xid, tail));
        match res {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => {
                dst.truncate(start);
                Err(e)
            }
            None => {
                dst.truncate(start);
                Err(WireError::BufferTooSmall {
                    msg: self.msg_type().name(),
                    need: 0,
                    have: 0,
                })
            }
        }
    }

    /// The whole frame as a new vector.
    pub fn to_vec(&self, xid: Xid) -> Result<Vec<u8>> {
        let mut v = vec![0u8; self.buffer_len()];
        self.emit(xid, &mut v)?;
        Ok(v)
    }

    fn write_body(&self, w: &mut Writer<'_>) {
        match self {
            Message::Hello(m) => m.write(w),
            Message::Error(m) => m.write(w),
            Message::EchoRequest(b) | Message::EchoReply(b) => w.put(b),
            Message::FeaturesRequest
            | Message::GetConfigRequest
            | Message::BarrierRequest
            | Message::BarrierReply => {}
            Message::FeaturesReply(m) => m.write(w),
            Message::GetConfigReply(m) | Message::SetConfig(m) => m.write(w),
            Message::PacketIn(m) => m.write(w),
            Message::FlowRemoved(m) => m.write(w),
            Message::PortStatus(m) => m.write(w),
            Message::PacketOut(m) => m.write(w),
            Message::FlowMod(m) => m.write(w),
            Message::GroupMod(m) => m.write(w),
            Message::MultipartRequest(m) => m.write(w),
            Message::MultipartReply(m) => m.write(w),
            Message::RoleRequest(m) | Message::RoleReply(m) => m.write(w),
            Message::MeterMod(m) => m.write(w),
            Message::Unknown { body, .. } => w.put(body),
        }
    }
}

/// Checks the header of a whole frame: length matches the buffer, version is 1.3 (or HELLO).
fn check_header(frame: &[u8]) -> Result<Header> {
    let h = Header::parse(frame)?;
    let name = h.msg_type.name();
    if usize::from(h.length) != frame.len() {
        return Err(WireError::LengthMismatch {
            msg: name,
            header: h.length.into(),
            actual: frame.len(),
        });
    }
    if h.version != OFP_VERSION && h.msg_type != MsgType::Hello {
        return Err(WireError::UnsupportedVersion {
            msg: name,
            version: h.version,
        });
    }
    Ok(h)
}

#[cfg(test)]
mod tests;
