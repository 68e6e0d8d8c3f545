//! Framing for byte streams: `tokio_util::codec` decoders/encoders over the 8-byte header (no I/O
//! here; the session owns the socket).
//!
//! Framing errors (length < 8, length above the configured maximum) are fatal: the stream cannot
//! be resynchronised, so they are [`CodecError::Framing`]. A well-framed message whose body does
//! not parse is not fatal: [`OfpCodec`] yields `Err(FrameError)` as an item and carries on, and
//! [`FrameError::error_reply`] builds the OpenFlow ERROR to send back (the one place wire errors
//! map to OpenFlow error codes).

use bytes::{Bytes, BytesMut};
use thiserror::Error;
use tokio_util::codec::{Decoder, Encoder};

use super::error::{
    BadActionCode, BadInstructionCode, BadMatchCode, BadRequestCode, ErrorKind, ErrorMsg,
    HelloFailedCode,
};
use super::header::{peek_frame_len, Header, MsgType, MAX_FRAME_LEN};
use super::message::{Frame, Message};
use super::types::Xid;
use super::wire_error::WireError;

/// A fatal stream error.
#[derive(Debug, Error)]
pub enum CodecError {
    /// The transport failed.
    #[error("OpenFlow transport: {0}")]
    Io(#[from] std::io::Error),
    /// The byte stream cannot be framed (bad header length); the connection must be closed.
    #[error("OpenFlow framing: {0}")]
    Framing(WireError),
}

/// A well-framed message that failed to parse; the stream stays usable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{error} (xid {xid}, {msg_type})")]
pub struct FrameError {
    /// Transaction id of the bad message.
    pub xid: Xid,
    /// Its header type.
    pub msg_type: MsgType,
    /// Why it failed.
    pub error: WireError,
    /// The whole frame.
    pub frame: Bytes,
}

impl FrameError {
    /// The OpenFlow error type/code that best describes the failure.
    pub fn error_kind(&self) -> ErrorKind {
        match &self.error {
            WireError::UnsupportedVersion { .. } if self.msg_type == MsgType::Hello => {
                ErrorKind::HelloFailed(HelloFailedCode::Incompatible)
            }
            WireError::UnsupportedVersion { .. } => {
                ErrorKind::BadRequest(BadRequestCode::BadVersion)
            }
            WireError::ElementOverrun { what, .. } | WireError::BadElementLength { what, .. } => {
                match *what {
                    "action" => ErrorKind::BadAction(BadActionCode::BadLen),
                    "instruction" => ErrorKind::BadInstruction(BadInstructionCode::BadLen),
                    "oxm" | "match" => ErrorKind::BadMatch(BadMatchCode::BadLen),
                    _ => ErrorKind::BadRequest(BadRequestCode::BadLen),
                }
            }
            WireError::BadValue {
                field: "match type",
                ..
            } => ErrorKind::BadMatch(BadMatchCode::BadType),
            _ => ErrorKind::BadRequest(BadRequestCode::BadLen),
        }
    }

    /// The ERROR message to send back (same xid, first 64 bytes of the frame as data).
    pub fn error_reply(&self) -> Frame {
        Frame::new(
            self.xid,
            Message::Error(ErrorMsg::about(self.error_kind(), &self.frame)),
        )
    }
}

/// Splits a stream into whole raw frames (`Bytes`), for callers that parse lazily, e.g. with
/// [`PacketInView`](super::packet_in::PacketInView).
#[derive(Debug, Clone, Copy)]
pub struct OfpFrameCodec {
    max_frame_len: usize,
}

impl Default for OfpFrameCodec {
    fn default() -> Self {
        OfpFrameCodec {
            max_frame_len: MAX_FRAME_LEN,
        }
    }
}

impl OfpFrameCodec {
    /// A framer that rejects frames longer than `max_frame_len` bytes.
    pub fn with_max_frame_len(max_frame_len: usize) -> Self {
        OfpFrameCodec { max_frame_len }
    }
}

impl Decoder for OfpFrameCodec {
    type Item = Bytes;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        match peek_frame_len(src, self.max_frame_len).map_err(CodecError::Framing)? {
            None => {
                src.reserve(super::header::HEADER_LEN);
                Ok(None)
            }
            Some(n) if src.len() < n => {
                src.reserve(n - src.len());
                Ok(None)
            }
            Some(n) => Ok(Some(src.split_to(n).freeze())),
        }
    }
}

/// Decodes whole messages and encodes [`Frame`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct OfpCodec {
    frames: OfpFrameCodec,
}

impl OfpCodec {
    /// A codec that rejects frames longer than `max_frame_len` bytes.
    pub fn with_max_frame_len(max_frame_len: usize) -> Self {
        OfpCodec {
            frames: OfpFrameCodec::with_max_frame_len(max_frame_len),
        }
    }
}

impl Decoder for OfpCodec {
    type Item = Result<Frame, FrameError>;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        let Some(frame) = self.frames.decode(src)? else {
            return Ok(None);
        };
        Ok(Some(match Message::parse_bytes(&frame) {
            Ok((xid, message)) => Ok(Frame { xid, message }),
            Err(error) => {
                // The framer already validated the header, so these defaults are never used.
                let (xid, msg_type) = Header::parse(&frame)
                    .map_or((Xid(0), MsgType::Unknown(0)), |h| (h.xid, h.msg_type));
                Err(FrameError {
                    xid,
                    msg_type,
                    error,
                    frame,
                })
            }
        }))
    }
}

impl Encoder<Frame> for OfpCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode(&item, dst)
    }
}

impl Encoder<&Frame> for OfpCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        item.message
            .emit_to(item.xid, dst)
            .map_err(CodecError::Framing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::wire::hello::Hello;

    #[test]
    fn decodes_split_and_coalesced_frames() {
        let mut codec = OfpCodec::default();
        let mut enc = BytesMut::new();
        codec
            .encode(Frame::new(Xid(1), Message::Hello(Hello::ofp13())), &mut enc)
            .unwrap();
        codec
            .encode(Frame::new(Xid(2), Message::BarrierRequest), &mut enc)
            .unwrap();
        let all = enc.freeze();
        let mut src = BytesMut::from(&all[..5]);
        assert!(codec.decode(&mut src).unwrap().is_none());
        src.extend_from_slice(&all[5..]);
        let f1 = codec.decode(&mut src).unwrap().unwrap().unwrap();
        assert_eq!(f1, Frame::new(Xid(1), Message::Hello(Hello::ofp13())));
        let f2 = codec.decode(&mut src).unwrap().unwrap().unwrap();
        assert_eq!(f2, Frame::new(Xid(2), Message::BarrierRequest));
        assert!(codec.decode(&mut src).unwrap().is_none());
    }

    #[test]
    fn framing_errors_are_fatal_body_errors_are_not() {
        let mut codec = OfpCodec::with_max_frame_len(1024);
        let mut src = BytesMut::from(&[4u8, 0, 0, 4, 0, 0, 0, 1][..]);
        assert!(matches!(
            codec.decode(&mut src),
            Err(CodecError::Framing(WireError::HeaderTooShort { length: 4 }))
        ));
        let mut src = BytesMut::from(&[4u8, 0, 0x10, 0, 0, 0, 0, 1][..]);
        assert!(matches!(
            codec.decode(&mut src),
            Err(CodecError::Framing(WireError::FrameTooLong {
                length: 4096,
                max: 1024
            }))
        ));
        // ROLE_REQUEST with a 4-byte body, then a BARRIER_REQUEST: the first fails, the second
        // still decodes.
        let mut src = BytesMut::from(
            &[
                4u8, 24, 0, 12, 0, 0, 0, 9, 0, 0, 0, 2, 4, 20, 0, 8, 0, 0, 0, 10,
            ][..],
        );
        let bad = codec.decode(&mut src).unwrap().unwrap().unwrap_err();
        assert_eq!(bad.xid, Xid(9));
        assert_eq!(bad.msg_type, MsgType::RoleRequest);
        let reply = bad.error_reply();
        assert_eq!(reply.xid, Xid(9));
        match reply.message {
            Message::Error(e) => {
                assert_eq!(e.kind, ErrorKind::BadRequest(BadRequestCode::BadLen));
                assert_eq!(e.data.len(), 12);
            }
            other => panic!("expected an ERROR, got {other:?}"),
        }
        let ok = codec.decode(&mut src).unwrap().unwrap().unwrap();
        assert_eq!(ok, Frame::new(Xid(10), Message::BarrierRequest));
    }

    #[test]
    fn wrong_version_maps_to_bad_version() {
        let mut codec = OfpCodec::default();
        let mut src = BytesMut::from(&[1u8, 20, 0, 8, 0, 0, 0, 3][..]);
        let bad = codec.decode(&mut src).unwrap().unwrap().unwrap_err();
        assert_eq!(
            bad.error_kind(),
            ErrorKind::BadRequest(BadRequestCode::BadVersion)
        );
    }
}
