//! The raw P4Runtime client of `p4_targets_agree`: what a target puts on the wire, unnormalised,
//! next to what Prescient's client makes of it.

use std::collections::BTreeMap;
use std::time::Duration;

use prescient_southbound::p4runtime::pipeconf::names;
use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use prescient_southbound::p4runtime::proto::p4::v1::p4_runtime_client::P4RuntimeClient as Grpc;
use prescient_southbound::p4runtime::{P4InfoIndex, WriteError};
use tonic::transport::Channel;

/// The raw client takes over from the scenario's client with this higher election id.
pub const TAKEOVER: u64 = 20;
/// Longest wait for an answer on the stream.
pub const WAIT: Duration = Duration::from_secs(30);
/// The tables the scenario writes.
pub const TABLES: [&str; 7] = [
    names::IPV4_LPM,
    names::TRANSLATE_SRC,
    names::TRANSLATE_DST,
    names::FLOW_METER,
    names::PAIR_COUNT,
    names::ACL,
    names::SERVICE_SELECT,
];

pub fn uint128(low: u64) -> Option<p4::Uint128> {
    Some(p4::Uint128 { high: 0, low })
}

pub fn entity(e: p4::entity::Entity) -> p4::Entity {
    p4::Entity { entity: Some(e) }
}

/// A second client that speaks raw P4Runtime: what the target puts on the wire, unnormalised.
pub struct Raw {
    grpc: Grpc<Channel>,
    device_id: u64,
    /// Held: dropping it would end the stream, and with it our primary standing.
    _requests: tokio::sync::mpsc::Sender<p4::StreamMessageRequest>,
    responses: tonic::Streaming<p4::StreamMessageResponse>,
}

impl Raw {
    /// Connects and takes over as primary with election id [`TAKEOVER`].
    pub async fn take_over(address: &str, device_id: u64) -> Raw {
        let mut grpc = Grpc::connect(format!("http://{address}")).await.unwrap();
        let (requests, rx) = tokio::sync::mpsc::channel(16);
        requests
            .send(p4::StreamMessageRequest {
                update: Some(p4::stream_message_request::Update::Arbitration(
                    p4::MasterArbitrationUpdate {
                        device_id,
                        election_id: uint128(TAKEOVER),
                        ..Default::default()
                    },
                )),
            })
            .await
            .unwrap();
        let responses = grpc
            .stream_channel(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        let mut raw = Raw {
            grpc,
            device_id,
            _requests: requests,
            responses,
        };
        raw.next(WAIT, |u| match u {
            p4::stream_message_response::Update::Arbitration(a) => {
                a.status.as_ref().is_some_and(|s| s.code == 0).then_some(())
            }
            _ => None,
        })
        .await
        .expect("primary after the take-over");
        raw
    }

    /// The first stream message `pick` accepts within `timeout`.
    pub async fn next<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&p4::stream_message_response::Update) -> Option<T>,
    ) -> Option<T> {
        tokio::time::timeout(timeout, async {
            while let Some(m) = self.responses.message().await.unwrap() {
                if let Some(t) = m.update.as_ref().and_then(&mut pick) {
                    return Some(t);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
    }

    pub async fn read(&mut self, e: p4::Entity) -> Vec<p4::Entity> {
        let mut stream = self
            .grpc
            .read(p4::ReadRequest {
                device_id: self.device_id,
                entities: vec![e],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let mut out = Vec::new();
        while let Some(r) = stream.message().await.unwrap() {
            out.extend(r.entities);
        }
        out
    }

    /// The code of a one-update write sent with `election` (a backup's, or our own).
    pub async fn write_as(&mut self, election: u64, update: p4::Update) -> tonic::Code {
        let updates = vec![update];
        let req = p4::WriteRequest {
            device_id: self.device_id,
            election_id: uint128(election),
            updates: updates.clone(),
            ..Default::default()
        };
        match self.grpc.write(req).await {
            Ok(_) => tonic::Code::Ok,
            // The update's own code when the target sent per-update details.
            Err(s) => {
                let err = WriteError::from_status(&s, &updates, None);
                err.failures.first().map_or(err.code, |f| f.code)
            }
        }
    }

    /// Every table, counter and meter of the scenario as the target sends it.
    pub async fn snapshot(&mut self, index: &P4InfoIndex) -> BTreeMap<&'static str, Vec<String>> {
        let mut wire = BTreeMap::new();
        for table in TABLES {
            let info = index.table(table).unwrap();
            let filter = p4::TableEntry {
                table_id: info.id,
                counter_data: info.direct_counter.map(|_| p4::CounterData::default()),
                meter_config: info.direct_meter.map(|_| p4::MeterConfig::default()),
                ..Default::default()
            };
            let mut got: Vec<String> = self
                .read(entity(p4::entity::Entity::TableEntry(filter)))
                .await
                .iter()
                .map(|e| format!("{e:?}"))
                .collect();
            got.sort();
            wire.insert(table, got);
        }
        for (counter, port) in [
            (names::RX_PORT_COUNTER, 1),
            (names::TX_PORT_COUNTER, 2),
            (names::TX_PORT_COUNTER, 255),
        ] {
            let e = index.encode_counter(counter, Some(port), None).unwrap();
            let got = self.read(entity(p4::entity::Entity::CounterEntry(e))).await;
            let key = if port == 255 {
                "tx_port_counter[255]"
            } else {
                counter
            };
            wire.insert(key, got.iter().map(|e| format!("{e:?}")).collect());
        }
        wire
    }

    /// Packets the route `ipv4_lpm` counted so far.
    pub async fn routed(&mut self, index: &P4InfoIndex) -> i64 {
        let info = index.table(names::IPV4_LPM).unwrap();
        let filter = p4::TableEntry {
            table_id: info.id,
            counter_data: Some(p4::CounterData::default()),
            ..Default::default()
        };
        self.read(entity(p4::entity::Entity::TableEntry(filter)))
            .await
            .into_iter()
            .filter_map(|e| match e.entity {
                Some(p4::entity::Entity::TableEntry(t)) => t.counter_data,
                _ => None,
            })
            .map(|c| c.packet_count)
            .sum()
    }
}
