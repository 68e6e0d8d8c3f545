//! Text forms of identifiers used in URLs, events and the dashboard.
//!
//! A link id is `<src device>:<src port>,<dst device>:<dst port>`, e.g.
//! `of:0000000000000001:2,of:0000000000000002:1`: only characters legal in a URL path segment,
//! and it parses back to the same [`LinkKey`]. A MAC is six hex pairs separated by `:`.

use prescient_topology::{DeviceId, LinkKey, MacAddr, PortNo, PortRef};

/// The URL-safe text id of a link.
pub fn link_id(link: LinkKey) -> String {
    format!("{},{}", port_id(link.src), port_id(link.dst))
}

/// The text id of a port: `<device>:<port>`.
pub fn port_id(port: PortRef) -> String {
    format!("{}:{}", port.device, port.port)
}

/// Parses `<device>:<port>`.
pub fn parse_port(text: &str) -> Option<PortRef> {
    let (dev, port) = text.rsplit_once(':')?;
    let device = DeviceId::parse(dev)?;
    // Digits only: `u32::from_str` would also take a sign.
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let no: u32 = port.parse().ok()?;
    Some(PortRef::new(device, PortNo(no)))
}

/// Parses a link id written by [`link_id`].
pub fn parse_link(text: &str) -> Option<LinkKey> {
    let (src, dst) = text.split_once(',')?;
    Some(LinkKey::new(parse_port(src)?, parse_port(dst)?))
}

/// Parses `aa:bb:cc:dd:ee:ff` (either case).
pub fn parse_mac(text: &str) -> Option<MacAddr> {
    let mut out = [0u8; 6];
    let mut parts = text.split(':');
    for b in &mut out {
        let p = parts.next()?;
        // Hex digits only: `from_str_radix` would also take a sign (`+a`).
        if p.len() != 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(MacAddr(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_ids_round_trip() {
        let k = LinkKey::new(
            PortRef::new(DeviceId::openflow(1), PortNo(2)),
            PortRef::new(DeviceId::p4runtime(7), PortNo(1)),
        );
        let id = link_id(k);
        assert_eq!(id, "of:0000000000000001:2,p4:7:1");
        assert_eq!(parse_link(&id), Some(k));
        assert_eq!(parse_link("of:1:2"), None);
        assert_eq!(parse_link("of:1:x,of:2:1"), None);
    }

    #[test]
    fn macs_parse_strictly() {
        let m = MacAddr([0, 0x1b, 0x21, 0xaa, 0xbb, 0xcc]);
        assert_eq!(parse_mac("00:1B:21:aa:bb:cc"), Some(m));
        assert_eq!(parse_mac(&m.to_string()), Some(m));
        assert_eq!(parse_mac("00:1b:21:aa:bb"), None);
        assert_eq!(parse_mac("00:1b:21:aa:bb:cc:dd"), None);
        assert_eq!(parse_mac("0:1b:21:aa:bb:cc"), None);
    }
}
