//! Parses one frame; if it parses, re-emitting it must succeed and re-parse to the same value,
//! and the PACKET_IN view must agree with the full parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prescient_southbound::openflow::wire::{Message, PacketInView};

fuzz_target!(|data: &[u8]| {
    let Ok((xid, msg)) = Message::parse(data) else {
        return;
    };
    let bytes = msg.to_vec(xid).expect("a parsed message re-emits");
    assert_eq!(bytes.len(), msg.buffer_len());
    let (xid2, again) = Message::parse(&bytes).expect("re-emitted bytes parse");
    assert_eq!(xid, xid2);
    assert_eq!(msg, again);
    if let Message::PacketIn(pi) = &msg {
        let view = PacketInView::new_checked(data).expect("view accepts what parse accepts");
        assert_eq!(view.in_port(), pi.in_port());
        assert_eq!(view.data(), &pi.data[..]);
        assert_eq!(view.buffer_id(), pi.buffer_id);
        assert_eq!(view.cookie(), pi.cookie);
    }
});
