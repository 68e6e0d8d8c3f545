//! PACKET_OUT (OpenFlow 1.3.5 §7.3.7): `buffer_id:32`, `in_port:32`, `actions_len:16`, pad 6,
//! actions, then the packet (empty when `buffer_id` names a switch buffer).

use bytes::Bytes;

use super::action::{actions_len, read_actions, write_actions, Action};
use super::body::body_api;
use super::cursor::{Reader, Writer};
use super::types::{BufferId, PortNo};
use super::wire_error::Result;

/// Size of the fixed part of the body.
pub const PACKET_OUT_FIXED_LEN: usize = 16;

/// A PACKET_OUT message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketOut {
    /// Switch buffer to send, or `NO_BUFFER` to send `data`.
    pub buffer_id: BufferId,
    /// Port the packet is treated as coming from (`CONTROLLER` if none).
    pub in_port: PortNo,
    /// Actions to apply.
    pub actions: Vec<Action>,
    /// Packet bytes.
    pub data: Bytes,
}

impl PacketOut {
    /// Sends `data` out of `port`.
    pub fn to_port(port: PortNo, data: Bytes) -> PacketOut {
        PacketOut {
            buffer_id: BufferId::NO_BUFFER,
            in_port: PortNo::CONTROLLER,
            actions: vec![Action::output(port)],
            data,
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<PacketOut> {
        let buffer_id = BufferId(r.u32("buffer_id")?);
        let in_port = PortNo(r.u32("in_port")?);
        let alen = usize::from(r.u16("actions_len")?);
        r.skip(6, "pad")?;
        let mut ar = r.sub(alen, "actions")?;
        let actions = read_actions(&mut ar)?;
        Ok(PacketOut {
            buffer_id,
            in_port,
            actions,
            data: r.rest_bytes(),
        })
    }

    /// The same message over borrowed parts.
    pub fn borrowed(&self) -> PacketOutRef<'_> {
        PacketOutRef {
            buffer_id: self.buffer_id,
            in_port: self.in_port,
            actions: &self.actions,
            data: &self.data,
        }
    }

    fn body_len(&self) -> usize {
        self.borrowed().buffer_len()
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        self.borrowed().write(w);
    }
}

body_api!(PacketOut, "PACKET_OUT");

/// A PACKET_OUT over borrowed parts: the reactive path sends a packet-in's own bytes back out
/// without copying them into a [`PacketOut`]'s `Bytes` first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketOutRef<'a> {
    /// Switch buffer to send, or `NO_BUFFER` to send `data`.
    pub buffer_id: BufferId,
    /// Port the packet is treated as coming from (`CONTROLLER` if none).
    pub in_port: PortNo,
    /// Actions to apply.
    pub actions: &'a [Action],
    /// Packet bytes.
    pub data: &'a [u8],
}

impl PacketOutRef<'_> {
    /// Encoded body size in bytes (header excluded).
    pub fn buffer_len(&self) -> usize {
        PACKET_OUT_FIXED_LEN + actions_len(self.actions) + self.data.len()
    }

    /// Encodes the body into `buf`, which must be `buffer_len()` bytes (never panics).
    pub fn emit(&self, buf: &mut [u8]) {
        self.write(&mut Writer::new(buf));
    }

    fn write(&self, w: &mut Writer<'_>) {
        w.u32(self.buffer_id.0);
        w.u32(self.in_port.0);
        w.len16(actions_len(self.actions));
        w.zeros(6);
        write_actions(self.actions, w);
        w.put(self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::wire::wire_error::WireError;

    #[test]
    fn flood_packet_out_bytes() {
        let p = PacketOut::to_port(PortNo::FLOOD, Bytes::from_static(&[1, 2, 3]));
        let mut out = vec![0u8; p.buffer_len()];
        p.emit(&mut out);
        assert_eq!(
            out,
            [
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd, 0, 16, 0, 0, 0, 0, 0,
                0, // fixed
                0, 0, 0, 16, 0xff, 0xff, 0xff, 0xfb, 0xff, 0xff, 0, 0, 0, 0, 0, 0, // output
                1, 2, 3
            ]
        );
        assert_eq!(PacketOut::parse(&out).unwrap(), p);
    }

    #[test]
    fn the_borrowed_form_emits_the_same_bytes() {
        let p = PacketOut {
            buffer_id: BufferId(7),
            in_port: PortNo(3),
            actions: vec![Action::output(PortNo(2)), Action::output(PortNo::FLOOD)],
            data: Bytes::from_static(&[9; 61]),
        };
        let data = [9u8; 61];
        let r = PacketOutRef {
            buffer_id: BufferId(7),
            in_port: PortNo(3),
            actions: &p.actions,
            data: &data,
        };
        assert_eq!(r, p.borrowed());
        let (mut a, mut b) = (vec![0u8; p.buffer_len()], vec![0u8; r.buffer_len()]);
        p.emit(&mut a);
        r.emit(&mut b);
        assert_eq!(a, b);
        assert_eq!(PacketOut::parse(&b).unwrap(), p);
    }

    #[test]
    fn actions_len_beyond_body_is_truncated() {
        let body = [
            0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16,
        ];
        let e = PacketOut::parse(&body).unwrap_err();
        assert_eq!(
            e,
            WireError::Truncated {
                msg: "PACKET_OUT",
                field: "actions",
                need: 32,
                have: 4
            }
        );
    }
}
