//! ARP across a fabric of prescient.p4 switches. The program punts every ARP frame to the
//! controller and never forwards one, so hosts could not resolve each other's MACs without
//! this relay: a request (broadcast) or a frame for an unknown MAC is sent out of every
//! host-facing port of every P4Runtime device except the one it came in by; a frame for a known
//! host goes out of that host's port only.
//!
//! Service addresses have no host to answer for them: a request for a translated logical
//! address is answered by the controller with the translation's MAC ([`crate::proxy_arp::reply`]).
//!
//! Host-facing means "not the end of a discovered link". Until discovery has found every link, a
//! relayed frame may enter another switch and be punted again; the relay remembers what it sent
//! for [`ECHO_WINDOW`] and such an echo is neither relayed again nor taken as a sighting of its
//! sender (which would move the host onto an inter-switch port). The program's learned-host
//! digest for the echo carries only the sender's MAC, address and port, not the frame: a digest
//! for a MAC whose frame the relay sent within the window, at a port other than the one that
//! frame came in by, is the echo's too ([`ArpRelay::relayed_from_elsewhere`]).

use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use prescient_topology::{MacAddr, PortRef, Snapshot};
use tokio::time::Instant;

/// How long a relayed frame is recognised when it comes back.
pub const ECHO_WINDOW: Duration = Duration::from_millis(250);
/// Frames remembered at most (a storm cannot grow the memory).
const REMEMBERED: usize = 1024;

/// Where a punted ARP frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relay {
    /// Out of this port only (the destination host's).
    To(PortRef),
    /// Out of every host-facing port but the one it came in by.
    Flood {
        /// The ingress port.
        except: PortRef,
    },
}

/// Where an ARP frame that arrived at `from` should go; `None` when nowhere (malformed, or its
/// destination sits behind the port it came from).
pub fn decide(frame: &[u8], from: PortRef, snapshot: &Snapshot) -> Option<Relay> {
    let dst: [u8; 6] = frame.get(0..6)?.try_into().ok()?;
    let dst = MacAddr(dst);
    if dst.is_multicast() {
        return Some(Relay::Flood { except: from });
    }
    match snapshot.host(dst) {
        Some(at) if at == from => None,
        Some(at) => Some(Relay::To(at)),
        None => Some(Relay::Flood { except: from }),
    }
}

/// Recently relayed frames, shared by every device task.
#[derive(Debug, Default)]
pub struct ArpRelay {
    recent: Mutex<VecDeque<Relayed>>,
}

/// A frame the relay sent: its hash, its sender's MAC, where it came in, when.
#[derive(Debug)]
struct Relayed {
    frame: u64,
    sender: Option<MacAddr>,
    from: PortRef,
    at: Instant,
}

fn digest(frame: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    frame.hash(&mut h);
    h.finish()
}

impl ArpRelay {
    /// Whether `frame` is one the relay sent within the echo window.
    pub fn is_echo(&self, frame: &[u8], now: Instant) -> bool {
        let d = digest(frame);
        self.within_window(now, |r| r.frame == d)
    }

    /// Whether the relay sent a frame from `mac` within the echo window that came in by a port
    /// other than `at`: a learned-host digest for `mac` at `at` is then that frame's echo, not
    /// a sighting (the digest of the frame as it came in names the port it came in by).
    pub fn relayed_from_elsewhere(&self, mac: MacAddr, at: PortRef, now: Instant) -> bool {
        self.within_window(now, |r| r.sender == Some(mac) && r.from != at)
    }

    /// Notes that `frame`, which came in by `from`, is being relayed.
    pub fn remember(&self, frame: &[u8], from: PortRef, now: Instant) {
        let sender = frame
            .get(6..12)
            .and_then(|m| <[u8; 6]>::try_from(m).ok())
            .map(MacAddr);
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == REMEMBERED {
            recent.pop_front();
        }
        recent.push_back(Relayed {
            frame: digest(frame),
            sender,
            from,
            at: now,
        });
    }

    /// Forgets frames past the echo window; whether any left matches `pred`.
    fn within_window(&self, now: Instant, pred: impl Fn(&Relayed) -> bool) -> bool {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        while recent
            .front()
            .is_some_and(|r| now.saturating_duration_since(r.at) > ECHO_WINDOW)
        {
            recent.pop_front();
        }
        recent.iter().any(pred)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use prescient_topology::{DeviceId, PortNo, Timestamp};

    use super::*;
    use crate::proxy_arp;

    fn at(d: u64, p: u32) -> PortRef {
        PortRef {
            device: DeviceId::p4runtime(d),
            port: PortNo(p),
        }
    }

    #[test]
    fn requests_flood_and_replies_go_to_their_host() {
        let h1 = MacAddr([2, 0, 0, 0, 0, 1]);
        let snapshot = Snapshot::build(
            Timestamp(0),
            1,
            vec![DeviceId::p4runtime(1), DeviceId::p4runtime(2)],
            Vec::new(),
            BTreeMap::from([(h1, at(1, 3))]),
        );
        let mut request = vec![0xff; 6];
        request.extend_from_slice(&[2, 0, 0, 0, 0, 2, 0x08, 0x06]);
        assert_eq!(
            decide(&request, at(2, 3), &snapshot),
            Some(Relay::Flood { except: at(2, 3) })
        );
        let mut reply = h1.0.to_vec();
        reply.extend_from_slice(&[2, 0, 0, 0, 0, 2, 0x08, 0x06]);
        assert_eq!(
            decide(&reply, at(2, 3), &snapshot),
            Some(Relay::To(at(1, 3)))
        );
        assert_eq!(decide(&reply, at(1, 3), &snapshot), None);
        assert_eq!(decide(&reply[..4], at(1, 3), &snapshot), None);
    }

    #[test]
    fn requests_for_service_addresses_get_the_service_mac() {
        let mut request = vec![0xff; 6];
        request.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
        request.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        request.extend_from_slice(&[2, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
        request.extend_from_slice(&[0, 0, 0, 0, 0, 0, 100, 64, 0, 1]);
        let vip = std::net::Ipv4Addr::new(100, 64, 0, 1);
        assert_eq!(proxy_arp::requested(&request), Some(vip));
        let vmac = MacAddr([2, 0xaa, 0, 0, 0, 1]);
        let reply = proxy_arp::reply(&request, vmac).expect("a reply");
        assert_eq!(&reply[0..6], &[2, 0, 0, 0, 0, 1], "to the asker");
        assert_eq!(&reply[20..22], &[0, 2], "opcode reply");
        assert_eq!(&reply[22..28], &vmac.0[..]);
        assert_eq!(&reply[28..32], &vip.octets()[..]);
        assert_eq!(&reply[38..42], &[10, 0, 0, 1]);
        // A reply is not a request.
        assert_eq!(proxy_arp::requested(&reply), None);
        assert_eq!(proxy_arp::reply(&reply, vmac), None);
    }

    #[test]
    fn relayed_frames_are_echoes_only_within_the_window() {
        let relay = ArpRelay::default();
        let frame = [1u8, 2, 3];
        let t0 = Instant::now();
        assert!(!relay.is_echo(&frame, t0));
        relay.remember(&frame, at(1, 3), t0);
        assert!(relay.is_echo(&frame, t0 + ECHO_WINDOW));
        assert!(!relay.is_echo(&[9u8], t0));
        assert!(!relay.is_echo(&frame, t0 + ECHO_WINDOW + Duration::from_millis(1)));
    }

    #[test]
    fn a_digest_for_a_relayed_sender_elsewhere_is_an_echo() {
        // h1's ARP request came in at switch 1 port 3 and was flooded, over a cable not
        // discovered yet too: switch 2's program reports h1 at its end of the cable.
        let h1 = MacAddr([2, 0, 0, 0, 0, 1]);
        let mut request = vec![0xff; 6];
        request.extend_from_slice(&h1.0);
        request.extend_from_slice(&[0x08, 0x06]);
        let relay = ArpRelay::default();
        let t0 = Instant::now();
        assert!(!relay.relayed_from_elsewhere(h1, at(2, 1), t0));
        relay.remember(&request, at(1, 3), t0);
        assert!(relay.relayed_from_elsewhere(h1, at(2, 1), t0));
        // Where it came in, it is a real sighting; other hosts are not echoes.
        assert!(!relay.relayed_from_elsewhere(h1, at(1, 3), t0));
        let h2 = MacAddr([2, 0, 0, 0, 0, 2]);
        assert!(!relay.relayed_from_elsewhere(h2, at(2, 1), t0));
        // Past the window a report is a sighting again (the host may have moved there).
        let later = t0 + ECHO_WINDOW + Duration::from_millis(1);
        assert!(!relay.relayed_from_elsewhere(h1, at(2, 1), later));
    }
}
