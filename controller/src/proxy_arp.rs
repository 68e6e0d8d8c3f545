//! Proxy ARP for addresses no host owns (a service's VIP, a translated logical address): the
//! request's parsing and the reply's bytes, shared by the OpenFlow sessions and the P4Runtime
//! relay so both answer alike.

use prescient_topology::MacAddr;

/// The address an ARP request asks for; `None` for anything but an Ethernet/IPv4 request.
pub fn requested(frame: &[u8]) -> Option<std::net::Ipv4Addr> {
    // htype 1, ptype IPv4, hlen 6, plen 4, opcode 1 (request).
    if frame.get(12..22)? != [0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1] {
        return None;
    }
    let target: [u8; 4] = frame.get(38..42)?.try_into().ok()?;
    Some(target.into())
}

/// The reply to ARP request `request` saying that the requested address is at `mac`.
pub fn reply(request: &[u8], mac: MacAddr) -> Option<Vec<u8>> {
    let asked = requested(request)?;
    let sender_mac = request.get(22..28)?;
    let sender_ip = request.get(28..32)?;
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(sender_mac);
    f.extend_from_slice(&mac.0);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&mac.0);
    f.extend_from_slice(&asked.octets());
    f.extend_from_slice(sender_mac);
    f.extend_from_slice(sender_ip);
    Some(f)
}
