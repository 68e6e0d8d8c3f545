//! Packet I/O on the stream: packet-outs, digest acknowledgements, and the decoding of what the
//! reader task queued (packet-ins and digests need the P4Info).

use super::session::RawEvent;
use super::{P4RuntimeClient, StreamEvent};
use crate::p4runtime::error::{ClientError, ResolveError};
use crate::p4runtime::proto::p4::v1 as p4;

impl P4RuntimeClient {
    /// Sends a packet out with `packet_out` metadata given by field name.
    pub async fn packet_out(
        &mut self,
        payload: Vec<u8>,
        metadata: &[(&str, Vec<u8>)],
    ) -> Result<(), ClientError> {
        if !self.is_primary() {
            return Err(self.not_primary());
        }
        let packet = self.index()?.encode_packet_out(payload, metadata)?;
        self.send_stream(p4::StreamMessageRequest {
            update: Some(p4::stream_message_request::Update::Packet(packet)),
        })
        .await
    }

    /// Acknowledges a digest list.
    pub async fn ack_digest(&mut self, digest_id: u32, list_id: u64) -> Result<(), ClientError> {
        self.send_stream(p4::StreamMessageRequest {
            update: Some(p4::stream_message_request::Update::DigestAck(
                p4::DigestListAck { digest_id, list_id },
            )),
        })
        .await
    }

    /// The next stream event; `None` once the session is gone and drained.
    pub async fn next_event(&mut self) -> Option<StreamEvent> {
        let raw = self.session.events.recv().await?;
        Some(self.decode_event(raw))
    }

    fn decode_event(&self, raw: RawEvent) -> StreamEvent {
        let index = self.index.as_deref();
        match raw {
            RawEvent::Mastership(m) => StreamEvent::Mastership(m),
            RawEvent::Duplicate => StreamEvent::DuplicateElectionId,
            RawEvent::Idle(n) => StreamEvent::IdleTimeout(n),
            RawEvent::Error(e) => StreamEvent::StreamError(*e),
            RawEvent::Disconnected(reason) => StreamEvent::Disconnected { reason },
            RawEvent::Packet(p) => match index {
                Some(ix) => match ix.decode_packet_in(p) {
                    Ok(pkt) => StreamEvent::PacketIn(pkt),
                    Err(e) => StreamEvent::Undecodable(e),
                },
                None => StreamEvent::Undecodable(ResolveError::Malformed {
                    what: "packet-in",
                    why: "no P4Info loaded".into(),
                }),
            },
            RawEvent::Digest(d) => match index {
                Some(ix) => match ix.decode_digest(&d) {
                    Ok(r) => StreamEvent::Digest(r),
                    Err(e) => StreamEvent::Undecodable(e),
                },
                None => StreamEvent::Undecodable(ResolveError::Malformed {
                    what: "digest list",
                    why: "no P4Info loaded".into(),
                }),
            },
        }
    }
}
