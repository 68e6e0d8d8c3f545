//! The learned-flow FLOW_MOD, encoded once per switch: each answer copies it and patches five
//! fields in place instead of walking the generic match and instruction encoders.
//!
//! Layout (OpenFlow 1.3.5 §7.3.4.1, body offsets after the 8-byte header): the 40-byte fixed
//! part (`buffer_id` at 24), then an OXM match of exactly IN_PORT, ETH_SRC, ETH_DST (32 bytes,
//! no padding), then one APPLY_ACTIONS holding one OUTPUT. [`FlowTemplate::new`] checks that
//! the flow it is given encodes to that shape, so the offsets cannot silently drift.

use std::ops::Range;

use prescient_southbound::openflow::session::frame::Body;
use prescient_southbound::openflow::wire::{
    Action, BufferId, FlowMod, Instruction, MacAddr, MsgType, OxmField, PortNo,
};

const BUFFER_ID: Range<usize> = 24..28;
const IN_PORT: Range<usize> = 48..52;
const ETH_SRC: Range<usize> = 56..62;
const ETH_DST: Range<usize> = 66..72;
const OUT_PORT: Range<usize> = 84..88;
const LEN: usize = 96;

/// A FLOW_MOD body with its per-answer fields patched in place.
#[derive(Debug, Clone)]
pub(super) struct FlowTemplate {
    body: Vec<u8>,
}

impl FlowTemplate {
    /// Encodes `flow`; `None` unless it has the shape whose offsets this module knows.
    pub(super) fn new(flow: &FlowMod) -> Option<FlowTemplate> {
        let shaped = matches!(
            flow.match_.fields.as_slice(),
            [
                OxmField::InPort(_),
                OxmField::EthSrc { mask: None, .. },
                OxmField::EthDst { mask: None, .. }
            ]
        ) && matches!(
            flow.instructions.as_slice(),
            [Instruction::ApplyActions(a)] if matches!(a.as_slice(), [Action::Output { .. }])
        );
        if !shaped || flow.buffer_len() != LEN {
            return None;
        }
        let mut body = vec![0; LEN];
        flow.emit(&mut body);
        Some(FlowTemplate { body })
    }

    /// Sets the fields one answer changes.
    pub(super) fn set(
        &mut self,
        buffer: BufferId,
        in_port: PortNo,
        src: MacAddr,
        dst: MacAddr,
        out_port: PortNo,
    ) {
        for (range, bytes) in [
            (BUFFER_ID, &buffer.0.to_be_bytes()[..]),
            (IN_PORT, &in_port.0.to_be_bytes()[..]),
            (ETH_SRC, &src.0[..]),
            (ETH_DST, &dst.0[..]),
            (OUT_PORT, &out_port.0.to_be_bytes()[..]),
        ] {
            if let Some(field) = self.body.get_mut(range) {
                field.copy_from_slice(bytes);
            }
        }
    }
}

impl Body for FlowTemplate {
    const TYPE: MsgType = MsgType::FlowMod;
    const NAME: &'static str = "FLOW_MOD";

    fn body_len(&self) -> usize {
        self.body.len()
    }

    fn emit_body(&self, buf: &mut [u8]) {
        if let Some(dst) = buf.get_mut(..self.body.len()) {
            dst.copy_from_slice(&self.body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prescient_southbound::openflow::wire::{Match, TableId};

    fn flow(buffer: u32, in_port: u32, src: [u8; 6], dst: [u8; 6], out: u32) -> FlowMod {
        let mut f = FlowMod::add(
            TableId(0),
            10,
            Match::new()
                .with(OxmField::InPort(PortNo(in_port)))
                .with(OxmField::EthSrc {
                    addr: MacAddr(src),
                    mask: None,
                })
                .with(OxmField::EthDst {
                    addr: MacAddr(dst),
                    mask: None,
                }),
            vec![Instruction::ApplyActions(vec![Action::output(PortNo(out))])],
        );
        f.idle_timeout = 60;
        f.buffer_id = BufferId(buffer);
        f
    }

    proptest::proptest! {
        // The patched template is byte for byte what the generic encoder writes.
        #[test]
        fn patching_equals_encoding(
            buffer: u32, in_port: u32, src: [u8; 6], dst: [u8; 6], out: u32,
        ) {
            let mut t = FlowTemplate::new(&flow(0, 0, [0; 6], [0; 6], 0)).unwrap();
            t.set(BufferId(buffer), PortNo(in_port), MacAddr(src), MacAddr(dst), PortNo(out));
            let want = flow(buffer, in_port, src, dst, out);
            let mut bytes = vec![0; want.buffer_len()];
            want.emit(&mut bytes);
            proptest::prop_assert_eq!(&t.body, &bytes);
        }
    }

    #[test]
    fn other_shapes_are_refused() {
        let mut f = flow(0, 1, [0; 6], [0; 6], 2);
        f.match_.fields.pop();
        assert!(FlowTemplate::new(&f).is_none());
    }
}
