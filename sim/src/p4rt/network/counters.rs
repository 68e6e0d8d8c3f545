//! Port and route counters moved by modelled traffic: the background traffic on links, traffic
//! another model routed through a port or a pair entry, and reading the port counters back.

use super::P4SimNetwork;
use crate::p4rt::table::EntryAction;
use crate::traffic::PortCounterValues;

impl P4SimNetwork {
    /// Adds background traffic for model times `[t0, t1)` to the port counters of both ends of
    /// every link (tx at the sender, rx at the receiver).
    pub fn advance_traffic(&self, t0: f64, t1: f64) {
        self.advance_traffic_scaled(t0, t1, 1.0);
    }

    /// As [`advance_traffic`](Self::advance_traffic) with the interval's volume multiplied by
    /// `volume` (`1 / time_scale`: compressed time runs the cycles fast, the rates keep their size).
    pub fn advance_traffic_scaled(&self, t0: f64, t1: f64, volume: f64) {
        for (&(dev, port), &(peer, peer_port)) in &self.links {
            let packets = self.traffic.packets_scaled(dev, port, t0, t1, volume);
            let bytes = packets.saturating_mul(self.traffic.packet_bytes);
            self.add_counter(dev, "PrescientEgress.tx_port_counter", port, packets, bytes);
            self.add_counter(
                peer,
                "PrescientIngress.rx_port_counter",
                peer_port,
                packets,
                bytes,
            );
        }
    }

    /// Adds traffic another model routed through `(device, port)` to its port counters (received
    /// and transmitted `(packets, bytes)`), as [`advance_traffic`](Self::advance_traffic) does.
    /// A device without a pipeline counts nothing (its counters start with the pipeline).
    pub fn add_port_traffic(&self, device: u64, port: u32, rx: (u64, u64), tx: (u64, u64)) {
        if rx.0 > 0 || rx.1 > 0 {
            self.add_counter(device, "PrescientIngress.rx_port_counter", port, rx.0, rx.1);
        }
        if tx.0 > 0 || tx.1 > 0 {
            self.add_counter(device, "PrescientEgress.tx_port_counter", port, tx.0, tx.1);
        }
    }

    /// Adds traffic another model sent from `pair.0` to `pair.1` into the fabric at `device` to
    /// the direct counter of its `pair_count` entry, if the controller installed one.
    pub fn add_pair_traffic(
        &self,
        device: u64,
        pair: (std::net::Ipv4Addr, std::net::Ipv4Addr),
        packets: u64,
        bytes: u64,
    ) {
        let Ok(mut d) = self.device(device) else {
            return;
        };
        let Ok(state) = d.state() else { return };
        let key = [
            ("hdr.ipv4.src_addr", u128::from(u32::from(pair.0))),
            ("hdr.ipv4.dst_addr", u128::from(u32::from(pair.1))),
        ];
        if let Some(entry) = state.lookup("PrescientIngress.pair_count", &key) {
            let add = |v: i64, n: u64| v.saturating_add(i64::try_from(n).unwrap_or(i64::MAX));
            entry.counter.packet_count = add(entry.counter.packet_count, packets);
            entry.counter.byte_count = add(entry.counter.byte_count, bytes);
        }
    }

    /// The program's port counters of `(device, port)`: None without such a device or pipeline.
    pub fn port_counters(&self, device: u64, port: u32) -> Option<PortCounterValues> {
        let mut d = self.device(device).ok()?;
        let state = d.state().ok()?;
        let cell = |name: &str| {
            let id = state.schema.counter_by_name(name)?.id;
            let c = state.counters.get(&id)?.get(port as usize)?;
            Some((
                u64::try_from(c.packet_count).unwrap_or(0),
                u64::try_from(c.byte_count).unwrap_or(0),
            ))
        };
        let (rx_packets, rx_bytes) = cell("PrescientIngress.rx_port_counter")?;
        let (tx_packets, tx_bytes) = cell("PrescientEgress.tx_port_counter")?;
        Some(PortCounterValues {
            rx_packets,
            tx_packets,
            rx_bytes,
            tx_bytes,
            ..PortCounterValues::default()
        })
    }

    fn add_counter(&self, device: u64, name: &str, port: u32, packets: u64, bytes: u64) {
        let Ok(mut d) = self.device(device) else {
            return;
        };
        let Ok(state) = d.state() else { return };
        let (packets, bytes) = (
            i64::try_from(packets).unwrap_or(i64::MAX),
            i64::try_from(bytes).unwrap_or(i64::MAX),
        );
        let Some(id) = state.schema.counter_by_name(name).map(|c| c.id) else {
            return;
        };
        if let Some(cell) = state
            .counters
            .get_mut(&id)
            .and_then(|c| c.get_mut(port as usize))
        {
            cell.packet_count = cell.packet_count.saturating_add(packets);
            cell.byte_count = cell.byte_count.saturating_add(bytes);
        }
        if name != "PrescientEgress.tx_port_counter" {
            return;
        }
        // The traffic leaving a port was routed there: spread it over the routes forwarding to
        // that port, so their direct counters move too (the controller's per-prefix rates).
        let Some(lpm) = state
            .schema
            .table_by_name("PrescientIngress.ipv4_lpm")
            .map(|t| t.id)
        else {
            return;
        };
        let Some(forward) = state
            .schema
            .action_by_name("PrescientIngress.forward")
            .map(|a| a.id)
        else {
            return;
        };
        let Some(table) = state.tables.get_mut(&lpm) else {
            return;
        };
        let routes: Vec<_> = table
            .entries
            .values_mut()
            .filter(|e| {
                matches!(&e.action, EntryAction::Direct(a)
                    if a.id == forward && a.params.first() == Some(&u128::from(port)))
            })
            .collect();
        let n = routes.len() as i64;
        for (i, e) in routes.into_iter().enumerate() {
            // Integer split; the first routes take the remainders so the sum is exact.
            let share = |total: i64| total / n + i64::from((i as i64) < total % n);
            e.counter.packet_count = e.counter.packet_count.saturating_add(share(packets));
            e.counter.byte_count = e.counter.byte_count.saturating_add(share(bytes));
        }
    }
}
