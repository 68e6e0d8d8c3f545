//! Multipart replies of an emulated switch (OpenFlow 1.3.5 §7.3.5): DESC, FLOW, AGGREGATE,
//! TABLE, PORT_STATS, PORT_DESC, GROUP_DESC, METER, METER_CONFIG.
//!
//! Invariant: a reply whose entries exceed the agent's multipart limit is split into several
//! MULTIPART_REPLY messages, each within the limit (an entry larger than the limit travels alone),
//! all but the last with `REPLY_MORE`; no entry is lost or repeated.

use std::time::Duration;

use prescient_southbound::openflow::wire::error::{BadRequestCode, MeterModFailedCode};
use prescient_southbound::openflow::wire::multipart::{
    AggregateStats, BandStats, Desc, FlowStats, FlowStatsRequest, GroupDesc, MeterConfig,
    MeterStats, PortStats, TableStats,
};
use prescient_southbound::openflow::wire::{
    ErrorKind, GroupId, Message, MeterId, MultipartReply, MultipartReplyBody, MultipartRequest,
    MultipartRequestBody, Port, PortNo, TableId,
};

use super::agent::SwitchAgent;
use super::flow_table::{FlowEntry, Selector, N_TABLES};
use super::matching::CompiledMatch;
use crate::topology::Endpoint;

/// Splits `items` into chunks whose summed `size` stays within `limit`.
pub fn split<T>(items: Vec<T>, size: impl Fn(&T) -> usize, limit: usize) -> Vec<Vec<T>> {
    let mut chunks = Vec::new();
    let mut cur = Vec::new();
    let mut used = 0;
    for item in items {
        let n = size(&item);
        if !cur.is_empty() && used + n > limit {
            chunks.push(std::mem::take(&mut cur));
            used = 0;
        }
        used += n;
        cur.push(item);
    }
    if !cur.is_empty() || chunks.is_empty() {
        chunks.push(cur);
    }
    chunks
}

fn replies<T>(
    items: Vec<T>,
    size: impl Fn(&T) -> usize,
    limit: usize,
    wrap: impl Fn(Vec<T>) -> MultipartReplyBody,
) -> Vec<Message> {
    let chunks = split(items, size, limit);
    let last = chunks.len().saturating_sub(1);
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            Message::MultipartReply(MultipartReply {
                more: i < last,
                body: wrap(c),
            })
        })
        .collect()
}

fn duration(d: Duration) -> (u32, u32) {
    (
        u32::try_from(d.as_secs()).unwrap_or(u32::MAX),
        d.subsec_nanos(),
    )
}

impl SwitchAgent {
    /// Answers a MULTIPART_REQUEST with one or more replies.
    pub(crate) fn multipart(
        &mut self,
        now: Duration,
        req: MultipartRequest,
    ) -> Result<Vec<Message>, ErrorKind> {
        let limit = self.multipart_limit;
        let single = |b| vec![Message::MultipartReply(MultipartReply::new(b))];
        Ok(match req.body {
            MultipartRequestBody::Desc => single(MultipartReplyBody::Desc(Desc {
                mfr_desc: "Prescient".into(),
                hw_desc: "prescient-sim emulated switch".into(),
                sw_desc: env!("CARGO_PKG_VERSION").into(),
                serial_num: format!("{}", self.dpid),
                dp_desc: self.name.clone(),
            })),
            MultipartRequestBody::Flow(r) => {
                let stats: Vec<FlowStats> = self
                    .select_flows(&r)?
                    .into_iter()
                    .map(|e| flow_stats(e, now))
                    .collect();
                replies(
                    stats,
                    FlowStats::buffer_len,
                    limit,
                    MultipartReplyBody::Flow,
                )
            }
            MultipartRequestBody::Aggregate(r) => {
                let sel = self.select_flows(&r)?;
                single(MultipartReplyBody::Aggregate(AggregateStats {
                    packet_count: sel.iter().map(|e| e.packet_count).sum(),
                    byte_count: sel.iter().map(|e| e.byte_count).sum(),
                    flow_count: u32::try_from(sel.len()).unwrap_or(u32::MAX),
                }))
            }
            MultipartRequestBody::Table => {
                let stats: Vec<TableStats> = (0..N_TABLES)
                    .map(|t| {
                        let c = self.tables.counters(TableId(t));
                        TableStats {
                            table_id: TableId(t),
                            active_count: u32::try_from(self.tables.table(TableId(t)).len())
                                .unwrap_or(u32::MAX),
                            lookup_count: c.lookup_count,
                            matched_count: c.matched_count,
                        }
                    })
                    .collect();
                replies(
                    stats,
                    TableStats::buffer_len,
                    limit,
                    MultipartReplyBody::Table,
                )
            }
            MultipartRequestBody::PortStats(port) => {
                if port != PortNo::ANY && self.port(port).is_none() {
                    return Err(ErrorKind::BadRequest(BadRequestCode::BadPort));
                }
                // The counters as of the traffic step that last moved them.
                let as_of = self.counters.age(tokio::time::Instant::now());
                let (sec, nsec) = duration(now.saturating_sub(as_of));
                let stats: Vec<PortStats> = self
                    .ports
                    .iter()
                    .filter(|p| port == PortNo::ANY || p.no == port)
                    .map(|p| {
                        let c = self
                            .counters
                            .port(Endpoint {
                                switch: self.index,
                                port: p.no,
                            })
                            .map(|c| c.load())
                            .unwrap_or_default();
                        PortStats {
                            port_no: p.no,
                            rx_packets: c.rx_packets,
                            tx_packets: c.tx_packets,
                            rx_bytes: c.rx_bytes,
                            tx_bytes: c.tx_bytes,
                            rx_dropped: c.rx_dropped,
                            tx_dropped: c.tx_dropped,
                            rx_errors: 0,
                            tx_errors: 0,
                            rx_frame_err: 0,
                            rx_over_err: 0,
                            rx_crc_err: 0,
                            collisions: 0,
                            duration_sec: sec,
                            duration_nsec: nsec,
                        }
                    })
                    .collect();
                replies(
                    stats,
                    PortStats::buffer_len,
                    limit,
                    MultipartReplyBody::PortStats,
                )
            }
            MultipartRequestBody::PortDesc => {
                // Like Open vSwitch, the local port carries the switch's (bridge's) name,
                // which the controller shows beside the datapath id.
                let local = Port {
                    port_no: PortNo::LOCAL,
                    name: self.name.clone(),
                    ..Port::default()
                };
                let ports = self
                    .ports
                    .iter()
                    .map(|p| p.desc())
                    .chain(std::iter::once(local))
                    .collect();
                replies(
                    ports,
                    |p| p.buffer_len(),
                    limit,
                    MultipartReplyBody::PortDesc,
                )
            }
            MultipartRequestBody::GroupDesc => {
                let groups = self
                    .groups
                    .iter()
                    .map(|(group_id, g)| GroupDesc {
                        group_type: g.group_type,
                        group_id,
                        buckets: g.buckets.clone(),
                    })
                    .collect();
                replies(
                    groups,
                    GroupDesc::buffer_len,
                    limit,
                    MultipartReplyBody::GroupDesc,
                )
            }
            MultipartRequestBody::Meter(id) => {
                self.check_meter(id)?;
                let stats = self
                    .meters
                    .iter()
                    .filter(|(m, _)| id == MeterId::ALL || *m == id)
                    .map(|(meter_id, m)| {
                        let (duration_sec, duration_nsec) =
                            duration(now.saturating_sub(m.installed));
                        MeterStats {
                            meter_id,
                            flow_count: self.meter_flow_count(meter_id),
                            packet_in_count: m.packet_in_count,
                            byte_in_count: m.byte_in_count,
                            duration_sec,
                            duration_nsec,
                            band_stats: m
                                .band_counts
                                .iter()
                                .map(|(p, b)| BandStats {
                                    packet_band_count: *p,
                                    byte_band_count: *b,
                                })
                                .collect(),
                        }
                    })
                    .collect();
                replies(
                    stats,
                    MeterStats::buffer_len,
                    limit,
                    MultipartReplyBody::Meter,
                )
            }
            MultipartRequestBody::MeterConfig(id) => {
                self.check_meter(id)?;
                let configs = self
                    .meters
                    .iter()
                    .filter(|(m, _)| id == MeterId::ALL || *m == id)
                    .map(|(meter_id, m)| MeterConfig {
                        flags: m.flags,
                        meter_id,
                        bands: m.bands.clone(),
                    })
                    .collect();
                replies(
                    configs,
                    MeterConfig::buffer_len,
                    limit,
                    MultipartReplyBody::MeterConfig,
                )
            }
            MultipartRequestBody::Unknown { .. } => {
                return Err(ErrorKind::BadRequest(BadRequestCode::BadMultipart));
            }
        })
    }

    fn check_meter(&self, id: MeterId) -> Result<(), ErrorKind> {
        if id == MeterId::ALL || self.meters.contains(id.0) {
            Ok(())
        } else {
            Err(ErrorKind::MeterModFailed(MeterModFailedCode::UnknownMeter))
        }
    }

    fn meter_flow_count(&self, id: MeterId) -> u32 {
        let n = self
            .tables
            .entries()
            .filter(|e| {
                e.instructions
                    .iter()
                    .any(|i| matches!(i, prescient_southbound::openflow::wire::Instruction::Meter(m) if *m == id))
            })
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    fn select_flows(&self, r: &FlowStatsRequest) -> Result<Vec<&FlowEntry>, ErrorKind> {
        if r.table_id != TableId::ALL && r.table_id.0 >= N_TABLES {
            return Err(ErrorKind::BadRequest(BadRequestCode::BadTableId));
        }
        let m = CompiledMatch::compile(&r.match_).map_err(ErrorKind::BadMatch)?;
        let sel = Selector {
            table_id: r.table_id,
            match_: &m,
            strict: false,
            priority: 0,
            cookie: (r.cookie, r.cookie_mask),
            out_port: r.out_port,
            out_group: if r.out_group == GroupId::ALL {
                GroupId::ANY
            } else {
                r.out_group
            },
        };
        Ok(self.tables.select(&sel))
    }
}

fn flow_stats(e: &FlowEntry, now: Duration) -> FlowStats {
    let (duration_sec, duration_nsec) = duration(e.age(now));
    FlowStats {
        table_id: e.table_id,
        duration_sec,
        duration_nsec,
        priority: e.priority,
        idle_timeout: e.idle_timeout,
        hard_timeout: e.hard_timeout,
        flags: e.flags,
        cookie: e.cookie,
        packet_count: e.packet_count,
        byte_count: e.byte_count,
        match_: e.match_.clone(),
        instructions: e.instructions.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_respects_the_limit_and_keeps_every_item_once() {
        let items: Vec<usize> = (0..100).collect();
        let chunks = split(items.clone(), |_| 112, 1000);
        assert_eq!(chunks.len(), 13); // 8 per chunk (896 bytes): 12 full chunks and one of 4
        assert!(chunks.iter().all(|c| c.len() * 112 <= 1000));
        assert_eq!(chunks.concat(), items);
        // An oversized item travels alone; an empty list still gives one (empty) reply.
        assert_eq!(
            split(vec![5000, 1, 1], |n| *n, 1000),
            vec![vec![5000], vec![1, 1]]
        );
        assert_eq!(split(Vec::<u8>::new(), |_| 1, 10), vec![Vec::<u8>::new()]);
    }
}
