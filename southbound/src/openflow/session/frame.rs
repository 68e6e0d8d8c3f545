//! Emitting whole frames (header + body) into a reused output buffer.
//!
//! Each message body type of the codec has `buffer_len`/`emit`; this module adds the header and
//! writes both in place at the end of a `BytesMut`, so a batch of answers becomes one contiguous
//! buffer written with one syscall. Emitting never allocates beyond growing that buffer.

use bytes::BytesMut;

use crate::openflow::wire::{
    self, ErrorMsg, FlowMod, GroupMod, Header, MeterMod, MsgType, PacketOut, PacketOutRef,
    SwitchConfig, WireError, Xid, HEADER_LEN, OFP_VERSION,
};

/// A message body the session can send.
pub trait Body {
    /// Message type in the header.
    const TYPE: MsgType;
    /// Spec name, for errors.
    const NAME: &'static str;
    /// Body length in bytes.
    fn body_len(&self) -> usize;
    /// Writes the body into exactly `body_len()` bytes.
    fn emit_body(&self, buf: &mut [u8]);
}

macro_rules! body {
    ($ty:ty, $t:ident, $name:literal) => {
        impl Body for $ty {
            const TYPE: MsgType = MsgType::$t;
            const NAME: &'static str = $name;
            fn body_len(&self) -> usize {
                self.buffer_len()
            }
            fn emit_body(&self, buf: &mut [u8]) {
                self.emit(buf)
            }
        }
    };
}

body!(FlowMod, FlowMod, "FLOW_MOD");
body!(GroupMod, GroupMod, "GROUP_MOD");
body!(MeterMod, MeterMod, "METER_MOD");
body!(PacketOut, PacketOut, "PACKET_OUT");
body!(PacketOutRef<'_>, PacketOut, "PACKET_OUT");
body!(ErrorMsg, Error, "ERROR");
body!(SwitchConfig, SetConfig, "SET_CONFIG");
body!(wire::hello::Hello, Hello, "HELLO");

/// Appends one frame (header + body) to `out`.
pub fn put<B: Body>(out: &mut BytesMut, xid: Xid, body: &B) -> Result<(), WireError> {
    put_raw(
        out,
        B::TYPE,
        xid,
        body.body_len(),
        |b| body.emit_body(b),
        B::NAME,
    )
}

/// Appends a frame whose body is written by `emit` into `len` bytes.
pub fn put_raw(
    out: &mut BytesMut,
    msg_type: MsgType,
    xid: Xid,
    len: usize,
    emit: impl FnOnce(&mut [u8]),
    name: &'static str,
) -> Result<(), WireError> {
    let total = HEADER_LEN + len;
    let length = u16::try_from(total).map_err(|_| WireError::TooLong {
        msg: name,
        len: total,
    })?;
    let start = out.len();
    out.resize(start + total, 0);
    let frame = &mut out[start..];
    Header {
        version: OFP_VERSION,
        msg_type,
        length,
        xid,
    }
    .emit(frame);
    if let Some(body) = frame.get_mut(HEADER_LEN..) {
        emit(body);
    }
    Ok(())
}

/// Appends a frame whose body is the given bytes (echo, barrier, requests built elsewhere).
pub fn put_bytes(
    out: &mut BytesMut,
    msg_type: MsgType,
    xid: Xid,
    body: &[u8],
) -> Result<(), WireError> {
    put_raw(
        out,
        msg_type,
        xid,
        body.len(),
        |b| b.copy_from_slice(body),
        "message",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::wire::{Match, TableId};

    #[test]
    fn put_writes_header_and_body_and_appends() {
        let mut out = BytesMut::new();
        put_bytes(&mut out, MsgType::EchoReply, Xid(5), b"abc").unwrap();
        let fm = FlowMod::add(TableId(0), 0, Match::new(), Vec::new());
        put(&mut out, Xid(6), &fm).unwrap();
        assert_eq!(&out[..11], &[4, 3, 0, 11, 0, 0, 0, 5, b'a', b'b', b'c']);
        let h = Header::parse(&out[11..]).unwrap();
        assert_eq!(h.msg_type, MsgType::FlowMod);
        assert_eq!(usize::from(h.length), out.len() - 11);
        assert_eq!(FlowMod::parse(&out[11 + 8..]).unwrap(), fm);
    }

    #[test]
    fn oversized_bodies_are_refused_not_truncated() {
        let mut out = BytesMut::new();
        let err = put_bytes(&mut out, MsgType::EchoReply, Xid(1), &vec![0; 70_000]).unwrap_err();
        assert!(matches!(err, WireError::TooLong { .. }));
        assert!(out.is_empty());
    }
}
