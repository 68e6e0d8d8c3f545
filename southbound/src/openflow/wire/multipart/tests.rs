//! Captured-bytes and malformed-input tests of multipart messages.

use super::*;
use crate::openflow::wire::group_mod::{Bucket, GroupType};
use crate::openflow::wire::instruction::Instruction;
use crate::openflow::wire::meter_mod::{MeterBand, MeterFlags};
use crate::openflow::wire::oxm::{Match, OxmField};
use crate::openflow::wire::types::{GroupId, TableId};
use crate::openflow::wire::wire_error::WireError;
use crate::openflow::wire::Action;

#[test]
fn port_stats_request_for_all_ports() {
    let req = MultipartRequest::new(MultipartRequestBody::PortStats(PortNo::ANY));
    let mut out = vec![0u8; req.buffer_len()];
    req.emit(&mut out);
    assert_eq!(
        out,
        [0, 4, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]
    );
    assert_eq!(MultipartRequest::parse(&out).unwrap(), req);
}

#[test]
fn flow_stats_request_bytes() {
    let req = MultipartRequest::new(MultipartRequestBody::Flow(FlowStatsRequest::default()));
    let mut out = vec![0u8; req.buffer_len()];
    req.emit(&mut out);
    assert_eq!(
        out,
        [
            0, 1, 0, 0, 0, 0, 0, 0, // FLOW, no flags
            0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0,
            0, // table..
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // cookie, mask
            0, 1, 0, 4, 0, 0, 0, 0 // empty match
        ]
    );
    assert_eq!(MultipartRequest::parse(&out).unwrap(), req);
}

#[test]
fn flow_stats_reply_with_more_flag() {
    let entry = FlowStats {
        table_id: TableId(0),
        duration_sec: 12,
        duration_nsec: 3,
        priority: 100,
        idle_timeout: 0,
        hard_timeout: 0,
        flags: Default::default(),
        cookie: 0xabc,
        packet_count: 10,
        byte_count: 1000,
        match_: Match::new().with(OxmField::InPort(PortNo(1))),
        instructions: vec![Instruction::ApplyActions(vec![Action::output(PortNo(2))])],
    };
    let rep = MultipartReply {
        more: true,
        body: MultipartReplyBody::Flow(vec![entry.clone()]),
    };
    let mut out = vec![0u8; rep.buffer_len()];
    rep.emit(&mut out);
    assert_eq!(&out[..4], &[0, 1, 0, 1]); // FLOW, REPLY_MORE
    assert_eq!(&out[8..10], &[0, 88]); // entry length 48 + 16 + 24
    assert_eq!(MultipartReply::parse(&out).unwrap(), rep);
    // An entry claiming more than the body holds.
    out[9] = 200;
    let e = MultipartReply::parse(&out).unwrap_err();
    assert!(
        matches!(
            e,
            WireError::ElementOverrun {
                what: "flow stats",
                len: 200,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn desc_reply_strings_are_nul_padded() {
    let d = Desc {
        mfr_desc: "Nicira, Inc.".into(),
        hw_desc: "Open vSwitch".into(),
        sw_desc: "3.1.0".into(),
        serial_num: "None".into(),
        dp_desc: "s1".into(),
    };
    let rep = MultipartReply::new(MultipartReplyBody::Desc(d));
    let mut out = vec![0u8; rep.buffer_len()];
    rep.emit(&mut out);
    assert_eq!(out.len(), 8 + 1056);
    assert_eq!(&out[8..20], b"Nicira, Inc.");
    assert_eq!(out[20], 0);
    assert_eq!(MultipartReply::parse(&out).unwrap(), rep);
    assert!(MultipartReply::parse(&out[..1000]).is_err());
}

#[test]
fn group_desc_and_meter_replies_round_trip() {
    let rep = MultipartReply::new(MultipartReplyBody::GroupDesc(vec![GroupDesc {
        group_type: GroupType::FastFailover,
        group_id: GroupId(7),
        buckets: vec![Bucket {
            weight: 0,
            watch_port: PortNo(3),
            watch_group: GroupId::ANY,
            actions: vec![Action::output(PortNo(3))],
        }],
    }]));
    let mut out = vec![0u8; rep.buffer_len()];
    rep.emit(&mut out);
    assert_eq!(MultipartReply::parse(&out).unwrap(), rep);

    let rep = MultipartReply::new(MultipartReplyBody::MeterConfig(vec![MeterConfig {
        flags: MeterFlags::KBPS,
        meter_id: MeterId(1),
        bands: vec![MeterBand::Drop {
            rate: 1000,
            burst_size: 0,
        }],
    }]));
    let mut out = vec![0u8; rep.buffer_len()];
    rep.emit(&mut out);
    assert_eq!(&out[8..16], &[0, 24, 0, 1, 0, 0, 0, 1]);
    assert_eq!(MultipartReply::parse(&out).unwrap(), rep);

    let rep = MultipartReply::new(MultipartReplyBody::Meter(vec![MeterStats {
        meter_id: MeterId(1),
        flow_count: 2,
        packet_in_count: 3,
        byte_in_count: 4,
        duration_sec: 5,
        duration_nsec: 6,
        band_stats: vec![BandStats {
            packet_band_count: 7,
            byte_band_count: 8,
        }],
    }]));
    let mut out = vec![0u8; rep.buffer_len()];
    rep.emit(&mut out);
    assert_eq!(&out[8..14], &[0, 0, 0, 1, 0, 56]); // meter_id, len = 40 + 16
    assert_eq!(MultipartReply::parse(&out).unwrap(), rep);
}

#[test]
fn unknown_multipart_type_is_kept() {
    // TABLE_FEATURES reply (12) with an opaque body.
    let body = [0, 12, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    let rep = MultipartReply::parse(&body).unwrap();
    assert_eq!(rep.mp_type(), MultipartType::TableFeatures);
    let mut out = vec![0u8; rep.buffer_len()];
    rep.emit(&mut out);
    assert_eq!(out, body);
}

#[test]
fn port_stats_reply_must_be_whole_entries() {
    let rep = MultipartReply::new(MultipartReplyBody::PortStats(vec![PortStats::default()]));
    let mut out = vec![0u8; rep.buffer_len()];
    rep.emit(&mut out);
    assert_eq!(out.len(), 8 + 112);
    let e = MultipartReply::parse(&out[..100]).unwrap_err();
    assert!(
        matches!(
            e,
            WireError::Truncated {
                msg: "MULTIPART_REPLY",
                ..
            }
        ),
        "{e}"
    );
}
