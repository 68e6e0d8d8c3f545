//! Throughput of the OpenFlow wire codec on the controller's hot path: parse PACKET_IN, answer
//! with FLOW_MOD + PACKET_OUT into a reused buffer. Run with
//! `cargo run --release -p prescient-southbound --example openflow_wire_bench`.

use std::hint::black_box;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use prescient_southbound::openflow::wire::{
    Action, BufferId, FlowMod, Instruction, MacAddr, Match, Message, OxmField, PacketIn,
    PacketInReason, PacketInView, PacketOut, PortNo, TableId, Xid,
};

const N: u32 = 2_000_000;

/// CPU seconds used by this process (utime + stime from /proc), so figures stay meaningful on a
/// loaded machine; `None` where /proc is unavailable.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_comm = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on Linux.
    Some((utime + stime) / 100.0)
}

fn rate(label: &str, n: u32, f: impl FnMut(u32)) {
    let mut f = f;
    let cpu0 = cpu_seconds();
    let t = Instant::now();
    for i in 0..n {
        f(i);
    }
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds()
        .zip(cpu0)
        .map(|(b, a)| b - a)
        .filter(|c| *c > 0.0);
    let per_cpu = cpu.map_or(String::from("n/a"), |c| format!("{:.0}", f64::from(n) / c));
    println!(
        "{label:<50} wall {:>10.0} msg/s   per CPU-second {per_cpu:>10} msg/s",
        f64::from(n) / wall
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let packet = Bytes::from(vec![0xabu8; 128]);
    let pi = Message::PacketIn(PacketIn {
        buffer_id: BufferId::NO_BUFFER,
        total_len: 128,
        reason: PacketInReason::NoMatch,
        table_id: TableId(0),
        cookie: 0,
        match_: Match::new().with(OxmField::InPort(PortNo(3))),
        data: packet.clone(),
    });
    let frame = Bytes::from(pi.to_vec(Xid(1))?);

    rate("PacketInView::new_checked + in_port", N * 10, |_| {
        let v = PacketInView::new_checked(black_box(&frame[..]));
        black_box(v.map(|v| (v.in_port(), v.data().len())).ok());
    });
    rate("Message::parse_bytes (PACKET_IN, zero-copy)", N, |_| {
        black_box(Message::parse_bytes(black_box(&frame)).ok());
    });
    rate("Message::parse (PACKET_IN, copying)", N, |_| {
        black_box(Message::parse(black_box(&frame[..])).ok());
    });

    let mut out = BytesMut::with_capacity(64 * 1024);
    rate("FLOW_MOD + PACKET_OUT emit_to reused BytesMut", N, |i| {
        let fm = Message::FlowMod(FlowMod::add(
            TableId(0),
            10,
            Match::new()
                .with(OxmField::InPort(PortNo(3)))
                .with(OxmField::EthDst {
                    addr: MacAddr([2, 0, 0, 0, 0, (i & 0xff) as u8]),
                    mask: None,
                }),
            vec![Instruction::ApplyActions(vec![Action::output(PortNo(
                i % 48,
            ))])],
        ));
        let po = Message::PacketOut(PacketOut::to_port(PortNo(i % 48), packet.clone()));
        if out.len() > 60 * 1024 {
            out.clear();
        }
        black_box(fm.emit_to(Xid(i), &mut out).is_ok());
        black_box(po.emit_to(Xid(i), &mut out).is_ok());
    });

    rate("full loop: view PACKET_IN -> FLOW_MOD+PACKET_OUT", N, |i| {
        let Ok(v) = PacketInView::new_checked(&frame[..]) else {
            return;
        };
        let port = v.in_port().unwrap_or(PortNo::ANY);
        let fm = Message::FlowMod(FlowMod::add(
            TableId(0),
            10,
            Match::new().with(OxmField::InPort(port)),
            vec![Instruction::ApplyActions(vec![Action::output(PortNo(1))])],
        ));
        let po = Message::PacketOut(PacketOut::to_port(
            PortNo(1),
            frame.slice(v.data_offset()..),
        ));
        if out.len() > 60 * 1024 {
            out.clear();
        }
        black_box(fm.emit_to(Xid(i), &mut out).is_ok());
        black_box(po.emit_to(Xid(i), &mut out).is_ok());
    });
    Ok(())
}
