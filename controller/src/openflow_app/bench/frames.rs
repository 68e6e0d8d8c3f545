//! Pre-built OpenFlow 1.3 frames for the load generator and the bare responder.
//!
//! These are written byte by byte on purpose: the load generator must not share code paths with
//! the controller it measures, and it must cost next to nothing per message. Layouts follow
//! OpenFlow 1.3.5 §7.1 (header), §7.3.1 (features), §7.3.4.1 (flow mod), §7.4.1 (packet-in).

/// `OFP_VERSION` of OpenFlow 1.3.
pub const VERSION: u8 = 4;
/// Size of `ofp_header`.
pub const HEADER_LEN: usize = 8;

/// Message types the generator and the responder look at.
pub mod msg {
    /// HELLO.
    pub const HELLO: u8 = 0;
    /// ECHO_REQUEST.
    pub const ECHO_REQUEST: u8 = 2;
    /// ECHO_REPLY.
    pub const ECHO_REPLY: u8 = 3;
    /// FEATURES_REQUEST.
    pub const FEATURES_REQUEST: u8 = 5;
    /// FEATURES_REPLY.
    pub const FEATURES_REPLY: u8 = 6;
    /// GET_CONFIG_REQUEST.
    pub const GET_CONFIG_REQUEST: u8 = 7;
    /// GET_CONFIG_REPLY.
    pub const GET_CONFIG_REPLY: u8 = 8;
    /// PACKET_IN.
    pub const PACKET_IN: u8 = 10;
    /// PACKET_OUT.
    pub const PACKET_OUT: u8 = 13;
    /// FLOW_MOD.
    pub const FLOW_MOD: u8 = 14;
    /// MULTIPART_REQUEST.
    pub const MULTIPART_REQUEST: u8 = 18;
    /// MULTIPART_REPLY.
    pub const MULTIPART_REPLY: u8 = 19;
    /// BARRIER_REQUEST.
    pub const BARRIER_REQUEST: u8 = 20;
    /// BARRIER_REPLY.
    pub const BARRIER_REPLY: u8 = 21;
    /// ROLE_REQUEST.
    pub const ROLE_REQUEST: u8 = 24;
    /// ROLE_REPLY.
    pub const ROLE_REPLY: u8 = 25;
}

/// Appends an `ofp_header` for a message of `len` bytes.
pub fn put_header(out: &mut Vec<u8>, msg_type: u8, len: usize, xid: u32) {
    let len = u16::try_from(len).unwrap_or(u16::MAX);
    out.push(VERSION);
    out.push(msg_type);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&xid.to_be_bytes());
}

/// `(type, length, xid)` of the frame at the start of `buf`, if 8 bytes are there.
pub fn peek(buf: &[u8]) -> Option<(u8, usize, u32)> {
    let h = buf.get(..HEADER_LEN)?;
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let xid = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    Some((h[1], len, xid))
}

/// HELLO with a version bitmap offering only 1.3 (§7.5.1).
pub fn hello(xid: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    put_header(&mut out, msg::HELLO, 16, xid);
    out.extend_from_slice(&1u16.to_be_bytes()); // OFPHET_VERSIONBITMAP
    out.extend_from_slice(&8u16.to_be_bytes());
    out.extend_from_slice(&(1u32 << VERSION).to_be_bytes());
    out
}

/// FEATURES_REPLY for datapath `dpid` with 256 buffers and 254 tables.
pub fn features_reply(xid: u32, dpid: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    put_header(&mut out, msg::FEATURES_REPLY, 32, xid);
    out.extend_from_slice(&dpid.to_be_bytes());
    out.extend_from_slice(&256u32.to_be_bytes()); // n_buffers
    out.push(254); // n_tables
    out.push(0); // auxiliary_id
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&0x4fu32.to_be_bytes()); // capabilities: flow/table/port/group stats, queue
    out.extend_from_slice(&0u32.to_be_bytes());
    out
}

/// MULTIPART_REPLY to a PORT_DESC request: `ports` ports numbered from 1 (§7.3.5.6).
pub fn port_desc_reply(xid: u32, dpid: u64, ports: u32) -> Vec<u8> {
    let len = 16 + 64 * ports as usize;
    let mut out = Vec::with_capacity(len);
    put_header(&mut out, msg::MULTIPART_REPLY, len, xid);
    out.extend_from_slice(&13u16.to_be_bytes()); // OFPMP_PORT_DESC
    out.extend_from_slice(&[0; 6]); // flags + pad
    for p in 1..=ports {
        out.extend_from_slice(&p.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&host_mac(dpid, p));
        out.extend_from_slice(&[0; 2]);
        let mut name = [0u8; 16];
        let text = format!("s{dpid}-eth{p}");
        for (slot, b) in name.iter_mut().zip(text.bytes().take(15)) {
            *slot = b;
        }
        out.extend_from_slice(&name);
        out.extend_from_slice(&0u32.to_be_bytes()); // config
        out.extend_from_slice(&4u32.to_be_bytes()); // state: LIVE
        out.extend_from_slice(&0x820u32.to_be_bytes()); // curr: 10GB_FD | COPPER
        out.extend_from_slice(&[0; 12]); // advertised, supported, peer
        out.extend_from_slice(&10_000_000u32.to_be_bytes());
        out.extend_from_slice(&10_000_000u32.to_be_bytes());
    }
    out
}

/// Empty MULTIPART_REPLY of `mp_type` (any multipart the generator does not model).
pub fn empty_multipart_reply(xid: u32, mp_type: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    put_header(&mut out, msg::MULTIPART_REPLY, 16, xid);
    out.extend_from_slice(&mp_type.to_be_bytes());
    out.extend_from_slice(&[0; 6]);
    out
}

/// A reply that echoes the request's body under another type (ECHO, ROLE, BARRIER).
pub fn echo_body(xid: u32, msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    put_header(&mut out, msg_type, HEADER_LEN + body.len(), xid);
    out.extend_from_slice(body);
    out
}

/// GET_CONFIG_REPLY: no fragment handling, miss_send_len 128.
pub fn get_config_reply(xid: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    put_header(&mut out, msg::GET_CONFIG_REPLY, 12, xid);
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&128u16.to_be_bytes());
    out
}

/// MAC address of emulated host `host` behind switch `dpid` (locally administered, unicast).
pub fn host_mac(dpid: u64, host: u32) -> [u8; 6] {
    let d = (dpid as u16).to_be_bytes();
    let h = host.to_be_bytes();
    [0x02, d[0], d[1], h[1], h[2], h[3]]
}

/// Length of one generated PACKET_IN: header, fixed part, 16-byte match, pad, 60-byte frame.
pub const PACKET_IN_LEN: usize = 8 + 16 + 16 + 2 + 60;

/// Appends a PACKET_IN (reason NO_MATCH, table 0) of an IPv4/UDP frame from `src` to `dst`
/// arriving on `in_port`, held by the switch under `buffer_id`.
pub fn put_packet_in(
    out: &mut Vec<u8>,
    xid: u32,
    buffer_id: u32,
    in_port: u32,
    src: [u8; 6],
    dst: [u8; 6],
) {
    put_header(out, msg::PACKET_IN, PACKET_IN_LEN, xid);
    out.extend_from_slice(&buffer_id.to_be_bytes());
    out.extend_from_slice(&60u16.to_be_bytes()); // total_len
    out.push(0); // reason NO_MATCH
    out.push(0); // table_id
    out.extend_from_slice(&0u64.to_be_bytes()); // cookie
                                                // ofp_match: OXM type, length 12 (4 + one 8-byte OXM), padded to 16.
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&12u16.to_be_bytes());
    out.extend_from_slice(&0x8000_0004u32.to_be_bytes()); // OXM_OF_IN_PORT
    out.extend_from_slice(&in_port.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&[0; 2]); // pad before data
    out.extend_from_slice(&dst);
    out.extend_from_slice(&src);
    out.extend_from_slice(&0x0800u16.to_be_bytes());
    // A minimal IPv4 + UDP header and zero payload: 46 bytes.
    let mut ip = [0u8; 46];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&46u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&[10, 0, src[4], src[5]]);
    ip[16..20].copy_from_slice(&[10, 0, dst[4], dst[5]]);
    out.extend_from_slice(&ip);
}

/// Length of [`fixed_flow_mod`].
pub const FLOW_MOD_LEN: usize = 80;

/// A FLOW_MOD ADD (priority 1, no match, apply output to port 1) applied to `buffer_id`: the
/// bare responder's fixed answer.
pub fn fixed_flow_mod(xid: u32, buffer_id: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(FLOW_MOD_LEN);
    put_header(&mut out, msg::FLOW_MOD, FLOW_MOD_LEN, xid);
    out.extend_from_slice(&0u64.to_be_bytes()); // cookie
    out.extend_from_slice(&0u64.to_be_bytes()); // cookie_mask
    out.push(0); // table
    out.push(0); // ADD
    out.extend_from_slice(&10u16.to_be_bytes()); // idle
    out.extend_from_slice(&0u16.to_be_bytes()); // hard
    out.extend_from_slice(&1u16.to_be_bytes()); // priority
    out.extend_from_slice(&buffer_id.to_be_bytes());
    out.extend_from_slice(&0xffff_ffffu32.to_be_bytes()); // out_port ANY
    out.extend_from_slice(&0xffff_ffffu32.to_be_bytes()); // out_group ANY
    out.extend_from_slice(&0u16.to_be_bytes()); // flags
    out.extend_from_slice(&[0; 2]);
    out.extend_from_slice(&1u16.to_be_bytes()); // match type OXM
    out.extend_from_slice(&4u16.to_be_bytes()); // empty match
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&4u16.to_be_bytes()); // APPLY_ACTIONS
    out.extend_from_slice(&24u16.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&0u16.to_be_bytes()); // OUTPUT
    out.extend_from_slice(&16u16.to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&0xffffu16.to_be_bytes()); // max_len NO_BUFFER
    out.extend_from_slice(&[0; 6]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_length_their_header_claims() {
        let mut pin = Vec::new();
        put_packet_in(&mut pin, 1, 2, 3, host_mac(1, 1), host_mac(1, 2));
        for frame in [
            hello(1),
            features_reply(1, 7),
            port_desc_reply(1, 7, 4),
            empty_multipart_reply(1, 0),
            get_config_reply(1),
            fixed_flow_mod(1, 9),
            pin,
        ] {
            let (_, len, xid) = peek(&frame).unwrap();
            assert_eq!(len, frame.len());
            assert_eq!(xid, 1);
        }
    }
}
