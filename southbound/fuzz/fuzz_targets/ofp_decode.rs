//! Feeds arbitrary bytes through the stream decoder: it must never panic, and every frame it
//! yields must be exactly as long as its header says.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use prescient_southbound::openflow::wire::{OfpCodec, PacketInView};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut codec = OfpCodec::with_max_frame_len(16 * 1024);
    // Deliver in two chunks to exercise partial frames.
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut src = BytesMut::from(&data[..split]);
    let mut fed_rest = false;
    loop {
        match codec.decode(&mut src) {
            Ok(Some(Ok(frame))) => {
                let _ = frame.message.buffer_len();
            }
            Ok(Some(Err(bad))) => {
                assert_eq!(
                    usize::from(u16::from_be_bytes([bad.frame[2], bad.frame[3]])),
                    bad.frame.len()
                );
                let _ = bad.error_reply();
            }
            Ok(None) if !fed_rest => {
                src.extend_from_slice(&data[split..]);
                fed_rest = true;
            }
            Ok(None) | Err(_) => break,
        }
    }
    let _ = PacketInView::new_checked(data).map(|v| (v.in_port(), v.data().len(), v.parse_match()));
});
