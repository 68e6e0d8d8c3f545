//! Arbitrary packet-in frames and port events into a small live topology: nothing may panic,
//! and hosts must only ever sit on edge ports.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prescient_topology::{
    DeviceId, MacAddr, Port, PortNo, PortRef, Timestamp, Topology, TopologyConfig,
};

fn port(no: u32, up: bool) -> Port {
    Port {
        no: PortNo(no),
        name: format!("eth{no}"),
        mac: MacAddr([2, 0, 0, 0, 0, no as u8]),
        up,
        reported_speed_bps: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut topo = Topology::new(TopologyConfig::default());
    let devs = [DeviceId::openflow(1), DeviceId::openflow(2), DeviceId::p4runtime(3)];
    for d in devs {
        topo.device_up(Timestamp(0), d, (1..=3).map(|p| port(p, true)).collect());
    }
    let frames: Vec<Vec<u8>> = topo.probes(Timestamp(0)).into_iter().map(|p| p.frame).collect();
    let mut now = 0u64;
    for chunk in data.chunks(4) {
        let [op, a, b, c] = [0, 1, 2, 3].map(|i| chunk.get(i).copied().unwrap_or(0));
        now += u64::from(c) * 100_000_000;
        let t = Timestamp(now);
        let dev = devs[usize::from(a) % devs.len()];
        let at = PortRef::new(dev, PortNo(u32::from(b % 4)));
        match op % 7 {
            0 => {
                if let Some(f) = frames.get(usize::from(b) % frames.len().max(1)) {
                    let _ = topo.lldp_frame_received(t, at, f);
                }
            }
            1 => {
                let _ = topo.lldp_frame_received(t, at, chunk);
            }
            2 => {
                let _ = topo.host_seen(t, MacAddr([c & 0xfe, 0, 0, 0, 0, a]), None, at);
            }
            3 => {
                let _ = topo.port_changed(t, dev, port(u32::from(b % 4), c % 2 == 0));
            }
            4 => {
                topo.device_down(t, dev);
            }
            5 => {
                topo.device_up(t, dev, (1..=3).map(|p| port(p, true)).collect());
            }
            _ => {
                topo.expire(t);
            }
        }
    }
    let snap = topo.snapshot();
    for h in topo.hosts() {
        assert!(topo.links().all(|l| l.key.src != h.at && l.key.dst != h.at));
    }
    for l in topo.links() {
        assert!(snap.link_idx(l.key).is_some());
    }
});
