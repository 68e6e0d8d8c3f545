//! The OpenFlow codec over an async byte stream: a controller side and a switch side exchange the
//! handshake through `tokio_util::codec::Framed` on an in-memory duplex pipe, with writes split
//! at awkward boundaries and a malformed message in the middle.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use prescient_southbound::openflow::wire::error::BadRequestCode;
use prescient_southbound::openflow::wire::{
    DatapathId, ErrorKind, FeaturesReply, Frame, Hello, Message, OfpCodec, Xid,
};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{Framed, FramedRead};

#[tokio::test]
async fn handshake_over_a_duplex_pipe() {
    let (a, b) = tokio::io::duplex(64);
    let mut ctl = Framed::new(a, OfpCodec::default());
    let mut sw = Framed::new(b, OfpCodec::default());

    ctl.send(Frame::new(Xid(1), Message::Hello(Hello::ofp13())))
        .await
        .unwrap();
    ctl.send(Frame::new(Xid(2), Message::FeaturesRequest))
        .await
        .unwrap();

    let hello = sw.next().await.unwrap().unwrap().unwrap();
    let Message::Hello(h) = hello.message else {
        panic!("expected HELLO, got {hello:?}")
    };
    assert_eq!(h.negotiate(), Some(4));
    let req = sw.next().await.unwrap().unwrap().unwrap();
    assert_eq!(req, Frame::new(Xid(2), Message::FeaturesRequest));

    let features = FeaturesReply {
        datapath_id: DatapathId(0xabc),
        n_buffers: 256,
        n_tables: 254,
        ..Default::default()
    };
    sw.send(Frame::new(req.xid, Message::FeaturesReply(features)))
        .await
        .unwrap();
    let reply = ctl.next().await.unwrap().unwrap().unwrap();
    assert_eq!(reply, Frame::new(Xid(2), Message::FeaturesReply(features)));
}

#[tokio::test]
async fn byte_by_byte_delivery_and_a_bad_message_in_between() {
    let (mut w, r) = tokio::io::duplex(1024);
    let mut rx = FramedRead::new(r, OfpCodec::default());
    let mut bytes = Vec::new();
    bytes.extend(
        Message::EchoRequest(Bytes::from_static(b"ping"))
            .to_vec(Xid(7))
            .unwrap(),
    );
    // ROLE_REQUEST with a 4-byte body: well framed, but malformed.
    bytes.extend([4, 24, 0, 12, 0, 0, 0, 8, 0, 0, 0, 2]);
    bytes.extend(Message::BarrierRequest.to_vec(Xid(9)).unwrap());
    let writer = tokio::spawn(async move {
        for b in bytes {
            w.write_all(&[b]).await.unwrap();
        }
    });
    let echo = rx.next().await.unwrap().unwrap().unwrap();
    assert_eq!(
        echo,
        Frame::new(Xid(7), Message::EchoRequest(Bytes::from_static(b"ping")))
    );
    let bad = rx.next().await.unwrap().unwrap().unwrap_err();
    assert_eq!(bad.xid, Xid(8));
    assert_eq!(
        bad.error_kind(),
        ErrorKind::BadRequest(BadRequestCode::BadLen)
    );
    let barrier = rx.next().await.unwrap().unwrap().unwrap();
    assert_eq!(barrier, Frame::new(Xid(9), Message::BarrierRequest));
    writer.await.unwrap();
    assert!(rx.next().await.is_none());
}

#[tokio::test]
async fn oversized_frame_ends_the_stream_with_a_framing_error() {
    let (mut w, r) = tokio::io::duplex(1024);
    let mut rx = FramedRead::new(r, OfpCodec::with_max_frame_len(512));
    w.write_all(&[4, 10, 0x10, 0, 0, 0, 0, 1]).await.unwrap();
    let err = rx.next().await.unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        "OpenFlow framing: header: length 4096 exceeds the maximum frame length 512"
    );
}
