use super::*;

const SEC: u64 = 1_000_000_000;

fn port() -> PortRef {
    PortRef::new(DeviceId::openflow(1), crate::ids::PortNo(1))
}

fn tx(bytes: u64, packets: u64) -> PortCounters {
    PortCounters {
        tx_bytes: bytes,
        tx_packets: packets,
        ..PortCounters::default()
    }
}

fn tracker() -> RateTracker {
    RateTracker::new(Duration::from_secs(30))
}

#[test]
fn delta_classifies_wrap_and_reset() {
    assert_eq!(counter_delta(10, 25), CounterDelta::Increase(15));
    assert_eq!(counter_delta(u64::MAX - 4, 5), CounterDelta::Increase(10));
    assert_eq!(counter_delta(u64::MAX, 0), CounterDelta::Increase(1));
    assert_eq!(counter_delta(1_000_000, 10), CounterDelta::Reset);
    assert_eq!(
        counter_delta(u64::MAX - WRAP_WINDOW, 0),
        CounterDelta::Reset
    );
}

#[test]
fn steady_counter_gives_bits_per_second() {
    let mut t = tracker();
    assert_eq!(
        t.port_sample(port(), Timestamp(0), tx(0, 0)),
        SampleOutcome::Baseline
    );
    assert_eq!(
        t.port_sample(port(), Timestamp(2 * SEC), tx(250, 4)),
        SampleOutcome::Updated
    );
    let (_, txr) = t.port_rates(port(), Timestamp(2 * SEC)).expect("rate");
    assert_eq!(txr.bits_per_sec, 1000.0);
    assert_eq!(txr.packets_per_sec, 2.0);
}

#[test]
fn wrap_gives_the_true_rate_not_a_spike() {
    let mut t = tracker();
    t.port_sample(port(), Timestamp(0), tx(u64::MAX - 99, 0));
    t.port_sample(port(), Timestamp(SEC), tx(100, 0));
    let (_, txr) = t.port_rates(port(), Timestamp(SEC)).expect("rate");
    assert_eq!(txr.bits_per_sec, 200.0 * 8.0);
}

#[test]
fn reset_yields_no_rate_then_resumes() {
    let mut t = tracker();
    t.port_sample(port(), Timestamp(0), tx(5_000_000, 0));
    assert_eq!(
        t.port_sample(port(), Timestamp(SEC), tx(1_000, 0)),
        SampleOutcome::Reset
    );
    assert!(t.port_rates(port(), Timestamp(SEC)).is_none());
    t.port_sample(port(), Timestamp(2 * SEC), tx(2_000, 0));
    let (_, txr) = t.port_rates(port(), Timestamp(2 * SEC)).expect("rate");
    assert_eq!(txr.bits_per_sec, 8_000.0);
}

#[test]
fn duplicates_and_out_of_order_are_ignored() {
    let mut t = tracker();
    t.port_sample(port(), Timestamp(0), tx(0, 0));
    t.port_sample(port(), Timestamp(2 * SEC), tx(200, 0));
    assert_eq!(
        t.port_sample(port(), Timestamp(2 * SEC), tx(999, 0)),
        SampleOutcome::Duplicate
    );
    assert_eq!(
        t.port_sample(port(), Timestamp(SEC), tx(50, 0)),
        SampleOutcome::OutOfOrder
    );
    let (_, txr) = t.port_rates(port(), Timestamp(2 * SEC)).expect("rate");
    assert_eq!(txr.bits_per_sec, 800.0);
    // A missing sample: the next rate averages over the gap.
    t.port_sample(port(), Timestamp(12 * SEC), tx(1200, 0));
    let (_, txr) = t.port_rates(port(), Timestamp(12 * SEC)).expect("rate");
    assert_eq!(txr.bits_per_sec, 800.0);
}

#[test]
fn stale_rates_disappear() {
    let mut t = tracker();
    t.port_sample(port(), Timestamp(0), tx(0, 0));
    t.port_sample(port(), Timestamp(SEC), tx(10, 0));
    assert!(t.port_rates(port(), Timestamp(31 * SEC)).is_some());
    assert!(t.port_rates(port(), Timestamp(32 * SEC)).is_none());
}

#[test]
fn link_rate_prefers_sender_then_falls_back_to_receiver() {
    let mut t = tracker();
    let a = port();
    let b = PortRef::new(DeviceId::openflow(2), crate::ids::PortNo(7));
    let link = LinkKey::new(a, b);
    let rx = |bytes| PortCounters {
        rx_bytes: bytes,
        ..PortCounters::default()
    };
    t.port_sample(b, Timestamp(0), rx(0));
    t.port_sample(b, Timestamp(SEC), rx(100));
    let (r, src) = t.link_rate(link, Timestamp(SEC)).expect("receiver rate");
    assert_eq!((r.bits_per_sec, src), (800.0, RateSource::DestinationRx));
    t.port_sample(a, Timestamp(0), tx(0, 0));
    t.port_sample(a, Timestamp(SEC), tx(120, 0));
    let (r, src) = t.link_rate(link, Timestamp(SEC)).expect("sender rate");
    assert_eq!((r.bits_per_sec, src), (960.0, RateSource::SourceTx));
}

#[test]
fn traffic_matrix_counts_a_flow_once_across_switches_and_sums_pairs() {
    let mut t = tracker();
    let h1 = MacAddr([2, 0, 0, 0, 0, 1]);
    let h2 = MacAddr([2, 0, 0, 0, 0, 2]);
    let pair = Some((h1, h2));
    for dev in [1, 2] {
        let key = FlowKey {
            device: DeviceId::openflow(dev),
            cookie: 7,
        };
        t.flow_sample(key, pair, Timestamp(0), 0, 0);
        t.flow_sample(key, pair, Timestamp(SEC), 1000, 10);
    }
    let other = FlowKey {
        device: DeviceId::openflow(1),
        cookie: 8,
    };
    t.flow_sample(other, pair, Timestamp(0), 0, 0);
    t.flow_sample(other, pair, Timestamp(SEC), 500, 5);
    let m = t.traffic_matrix(Timestamp(SEC));
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].bytes, 1500);
    assert_eq!(m[0].bits_per_sec, Some(12_000.0));
    assert_eq!(m[0].packets_per_sec, Some(15.0));
    // A reset flow keeps its earlier bytes and adds what it counted since.
    let key = FlowKey {
        device: DeviceId::openflow(1),
        cookie: 8,
    };
    assert_eq!(
        t.flow_sample(key, pair, Timestamp(2 * SEC), 40, 1),
        SampleOutcome::Reset
    );
    assert_eq!(t.traffic_matrix(Timestamp(2 * SEC))[0].bytes, 1540);
}

#[test]
fn a_pair_whose_flows_have_only_a_baseline_has_no_rate_rather_than_zero() {
    let mut t = tracker();
    let h1 = MacAddr([2, 0, 0, 0, 0, 1]);
    let h2 = MacAddr([2, 0, 0, 0, 0, 2]);
    let first = FlowKey {
        device: DeviceId::openflow(1),
        cookie: 7,
    };
    // Only a baseline sample: bytes are known, the rate is not.
    t.flow_sample(first, Some((h1, h2)), Timestamp(0), 800, 8);
    let m = t.traffic_matrix(Timestamp(0));
    assert_eq!((m[0].bytes, m[0].bits_per_sec), (800, None));
    // A second flow of the pair that has a rate is not the pair's rate while the first, which
    // may carry some of it, has none.
    let second = FlowKey {
        device: DeviceId::openflow(1),
        cookie: 8,
    };
    t.flow_sample(second, Some((h1, h2)), Timestamp(0), 0, 0);
    t.flow_sample(second, Some((h1, h2)), Timestamp(SEC), 1000, 10);
    let m = t.traffic_matrix(Timestamp(SEC));
    assert_eq!((m[0].bits_per_sec, m[0].packets_per_sec), (None, None));
    // Both measured: the pair's rate is their sum.
    t.flow_sample(first, Some((h1, h2)), Timestamp(SEC), 800, 8);
    let m = t.traffic_matrix(Timestamp(SEC));
    assert_eq!(m[0].bits_per_sec, Some(8_000.0));
    assert_eq!(m[0].packets_per_sec, Some(10.0));
    // A flow its switch stopped counting (stale after 30 s here) carries nothing: 0, as before.
    let later = Timestamp(SEC + 31 * SEC);
    assert_eq!(t.traffic_matrix(later)[0].bits_per_sec, Some(0.0));
}

#[test]
fn a_replaced_entry_stops_counting_once_its_switches_no_longer_list_it_and_its_bytes_stay() {
    let mut t = tracker();
    let pair = Some((MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2])));
    let (s1, s2) = (DeviceId::openflow(1), DeviceId::openflow(2));
    let old = |device| FlowKey { device, cookie: 7 };
    for dev in [s1, s2] {
        t.flow_sample(old(dev), pair, Timestamp(0), 0, 0);
        t.flow_sample(old(dev), pair, Timestamp(SEC), 1000, 10);
    }
    // A reroute: s1 now holds the pair's new entry (cookie 8, a baseline so far) instead.
    let new = FlowKey {
        device: s1,
        cookie: 8,
    };
    t.flow_sample(new, pair, Timestamp(2 * SEC), 100, 1);
    assert_eq!(t.sweep_flows(s1, &BTreeSet::from([8])), 1);
    let m = t.traffic_matrix(Timestamp(2 * SEC));
    assert_eq!(m[0].bytes, 1100, "cookie 7 counted once, at its largest");
    assert_eq!(
        m[0].bits_per_sec, None,
        "s2 still counts cookie 7, but the new entry, with no rate yet, may carry the pair"
    );
    // Another device's read forgets nothing of s1's.
    assert_eq!(t.sweep_flows(DeviceId::openflow(3), &BTreeSet::new()), 0);
    assert_eq!(t.sweep_flows(s2, &BTreeSet::new()), 1);
    assert_eq!(t.flows_tracked(), 1);
    let m = t.traffic_matrix(Timestamp(2 * SEC));
    assert_eq!(
        (m[0].bytes, m[0].bits_per_sec),
        (1100, None),
        "the old entry's rate is not counted beside the new one, which has none yet"
    );
    t.flow_sample(new, pair, Timestamp(3 * SEC), 600, 6);
    let m = t.traffic_matrix(Timestamp(3 * SEC));
    assert_eq!((m[0].bytes, m[0].bits_per_sec), (1600, Some(4_000.0)));
}

#[test]
fn a_pair_whose_entries_are_all_removed_reads_zero_and_keeps_its_bytes() {
    let mut t = tracker();
    let pair = Some((MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2])));
    let key = FlowKey {
        device: DeviceId::openflow(1),
        cookie: 7,
    };
    t.flow_sample(key, pair, Timestamp(0), 0, 0);
    t.flow_sample(key, pair, Timestamp(SEC), 1000, 10);
    assert_eq!(t.sweep_flows(key.device, &BTreeSet::new()), 1);
    assert_eq!(t.flows_tracked(), 0);
    let m = t.traffic_matrix(Timestamp(SEC));
    assert_eq!((m[0].bytes, m[0].bits_per_sec), (1000, Some(0.0)));
    // Installed again with the same cookie: its bytes add to what the pair counted before.
    t.flow_sample(key, pair, Timestamp(5 * SEC), 0, 0);
    t.flow_sample(key, pair, Timestamp(6 * SEC), 500, 5);
    let m = t.traffic_matrix(Timestamp(6 * SEC));
    assert_eq!((m[0].bytes, m[0].bits_per_sec), (1500, Some(4_000.0)));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone, Copy)]
    enum Glitch {
        None,
        Reset,
        Duplicate,
        Stale,
    }

    fn arb_glitch() -> impl Strategy<Value = Glitch> {
        prop_oneof![8 => Just(Glitch::None), 1 => Just(Glitch::Reset), 1 => Just(Glitch::Duplicate), 1 => Just(Glitch::Stale)]
    }

    proptest! {
        /// Whatever wraps, resets, duplicates and stale samples happen, no rate exceeds the
        /// fastest the counter really moved, and steady traffic reads exactly.
        #[test]
        fn rates_never_spike(start in any::<u64>(),
                             steps in proptest::collection::vec((1u64..5, 0u64..1_000_000_000, arb_glitch()), 1..40)) {
            let mut t = RateTracker::new(Duration::from_secs(3600));
            let mut counter = start;
            let mut now = 0u64;
            let mut max_bytes_per_sec = 0.0f64;
            t.port_sample(port(), Timestamp(0), tx(counter, 0));
            for (secs, per_sec, glitch) in steps {
                match glitch {
                    Glitch::Duplicate => {
                        prop_assert_eq!(t.port_sample(port(), Timestamp(now * SEC), tx(counter ^ 0xffff, 0)), SampleOutcome::Duplicate);
                        continue;
                    }
                    Glitch::Stale if now > 0 => {
                        prop_assert_eq!(t.port_sample(port(), Timestamp(now * SEC - 1), tx(0, 0)), SampleOutcome::OutOfOrder);
                        continue;
                    }
                    _ => {}
                }
                now += secs;
                let before = counter;
                counter = counter.wrapping_add(per_sec * secs);
                if matches!(glitch, Glitch::Reset) {
                    counter = per_sec;
                }
                let outcome = t.port_sample(port(), Timestamp(now * SEC), tx(counter, 0));
                if matches!(glitch, Glitch::Reset) && before > counter && before - counter >= WRAP_WINDOW {
                    prop_assert_eq!(outcome, SampleOutcome::Reset);
                }
                max_bytes_per_sec = max_bytes_per_sec.max(per_sec as f64);
                if let Some((_, r)) = t.port_rates(port(), Timestamp(now * SEC)) {
                    prop_assert!(r.bits_per_sec <= max_bytes_per_sec * 8.0 + 1e-6,
                        "rate {} above the fastest real rate {}", r.bits_per_sec, max_bytes_per_sec * 8.0);
                    if outcome == SampleOutcome::Updated && !matches!(glitch, Glitch::Reset) {
                        prop_assert!((r.bits_per_sec - per_sec as f64 * 8.0).abs() < 1e-3);
                    }
                }
            }
        }
    }
}

/// The matrix as first written, one map insert per entry: the reference the faster one must
/// equal exactly.
fn matrix_by_maps(t: &RateTracker, now: Timestamp) -> Vec<MatrixCell> {
    let mut per_flow: BTreeMap<(HostPair, u64), FlowFigures> = t
        .retiring
        .iter()
        .map(|(flow, bytes)| (*flow, (*bytes, None, false)))
        .collect();
    for (key, state) in &t.flows {
        let Some(pair) = state.pair else { continue };
        let e = per_flow
            .entry((pair, key.cookie))
            .or_insert((0, None, false));
        e.0 = e.0.max(state.bytes);
        if state.counter.rates.is_some() {
            let [b, p] = t.fresh(&state.counter, now).unwrap_or([0.0, 0.0]);
            let (bps, pps) = e.1.unwrap_or((0.0, 0.0));
            e.1 = Some((bps.max(b * 8.0), pps.max(p)));
        } else if now.since(state.counter.at) <= t.stale_after {
            e.2 = true;
        }
    }
    let mut cells: BTreeMap<HostPair, MatrixCell> = BTreeMap::new();
    let mut pending = BTreeSet::new();
    for (((src, dst), _), (bytes, rate, new)) in per_flow {
        if new {
            pending.insert((src, dst));
        }
        let cell = cells.entry((src, dst)).or_insert(MatrixCell {
            src,
            dst,
            bytes: 0,
            bits_per_sec: None,
            packets_per_sec: None,
        });
        cell.bytes += bytes;
        if let Some((bps, pps)) = rate {
            cell.bits_per_sec = Some(cell.bits_per_sec.unwrap_or(0.0) + bps);
            cell.packets_per_sec = Some(cell.packets_per_sec.unwrap_or(0.0) + pps);
        }
    }
    for pair in pending {
        if let Some(cell) = cells.get_mut(&pair) {
            cell.bits_per_sec = None;
            cell.packets_per_sec = None;
        }
    }
    for (&(src, dst), &bytes) in &t.retired {
        cells
            .entry((src, dst))
            .or_insert(MatrixCell {
                src,
                dst,
                bytes: 0,
                bits_per_sec: Some(0.0),
                packets_per_sec: Some(0.0),
            })
            .bytes += bytes;
    }
    cells.into_values().collect()
}

mod matrix {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        /// A flow sample: device, cookie, pair (index; none past the hosts), seconds on, bytes.
        Sample(u64, u64, usize, u64, u64),
        /// A complete read of a device's table listing these cookies.
        Sweep(u64, Vec<u64>),
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (1u64..4, 0u64..6, 0usize..5, 0u64..40, 0u64..5_000)
                .prop_map(|(d, c, p, s, b)| Op::Sample(d, c, p, s, b)),
            1 => (1u64..4, proptest::collection::vec(0u64..6, 0..4))
                .prop_map(|(d, c)| Op::Sweep(d, c)),
        ]
    }

    proptest! {
        /// Samples, restarts, stale copies, new entries and swept tables in any order: the
        /// matrix is the one the map-per-entry reference gives, cell for cell.
        #[test]
        fn the_matrix_equals_the_reference(ops in proptest::collection::vec(arb_op(), 1..80)) {
            let hosts = [
                (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2])),
                (MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1])),
                (MacAddr([0xfe, 0xff, 0, 0, 0, 9]), MacAddr([2, 0, 0, 0, 0, 1])),
                (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff])),
            ];
            let mut t = RateTracker::new(Duration::from_secs(30));
            let mut now = 0u64;
            let mut bytes: BTreeMap<(u64, u64), u64> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Sample(device, cookie, pair, secs, more) => {
                        now += secs;
                        let total = bytes.entry((device, cookie)).or_insert(0);
                        // Now and then a counter restarts from less than it had.
                        *total = if more % 7 == 0 { more / 7 } else { *total + more };
                        let key = FlowKey { device: DeviceId::openflow(device), cookie };
                        t.flow_sample(key, hosts.get(pair).copied(), Timestamp(now * SEC), *total, *total / 100);
                    }
                    Op::Sweep(device, listed) => {
                        t.sweep_flows(DeviceId::openflow(device), &listed.into_iter().collect());
                    }
                }
                for at in [now, now + 20, now + 40] {
                    let at = Timestamp(at * SEC);
                    prop_assert_eq!(t.traffic_matrix(at), matrix_by_maps(&t, at));
                }
            }
        }
    }
}

#[test]
fn a_port_s_counters_stay_small() {
    // One a port, about five ports a switch: 160 B with running totals nothing reads for a
    // port and the rates' instant kept twice.
    let size = std::mem::size_of::<Counter<4>>();
    assert!(size <= 80, "a port's counters take {size} B");
}

#[test]
fn a_pair_moving_onto_a_new_entry_or_restarting_one_reads_no_rate_rather_than_a_dip() {
    let mut t = tracker();
    let pair = Some((MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2])));
    let (s1, s2) = (DeviceId::openflow(1), DeviceId::openflow(2));
    let routed = FlowKey {
        device: s1,
        cookie: 7,
    };
    // 3,000 B/s on the routed entry, polled every 3 s.
    t.flow_sample(routed, pair, Timestamp(0), 0, 0);
    t.flow_sample(routed, pair, Timestamp(3 * SEC), 9_000, 9);
    assert_eq!(
        t.traffic_matrix(Timestamp(3 * SEC))[0].bits_per_sec,
        Some(24_000.0)
    );
    // A reservation's entry (cookie 9, on both hops) takes the pair over 1 s before the next
    // reading: the routed entry counted 2 s of the 3, the new ones are baselines.
    t.flow_sample(routed, pair, Timestamp(6 * SEC), 15_000, 15);
    // s2's copy does not count the pair (as the sim's hops after the first do not): 0 there.
    let new1 = FlowKey {
        device: s1,
        cookie: 9,
    };
    let new2 = FlowKey {
        device: s2,
        cookie: 9,
    };
    t.flow_sample(new1, pair, Timestamp(6 * SEC), 3_000, 3);
    t.flow_sample(new2, pair, Timestamp(6 * SEC), 0, 0);
    let m = t.traffic_matrix(Timestamp(6 * SEC));
    assert_eq!(m[0].bits_per_sec, None, "not 2/3 of the pair's rate");
    t.flow_sample(routed, pair, Timestamp(9 * SEC), 15_000, 15);
    t.flow_sample(new1, pair, Timestamp(9 * SEC), 12_000, 12);
    t.flow_sample(new2, pair, Timestamp(9 * SEC), 0, 0);
    assert_eq!(
        t.traffic_matrix(Timestamp(9 * SEC))[0].bits_per_sec,
        Some(24_000.0)
    );
    // The entry is deleted and added again on both hops (counters from zero): the counting
    // copy resets, the other reads 0; the pair's rate is unknown, not 0.
    t.flow_sample(new1, pair, Timestamp(12 * SEC), 2_000, 2);
    t.flow_sample(new2, pair, Timestamp(12 * SEC), 0, 0);
    assert_eq!(t.traffic_matrix(Timestamp(12 * SEC))[0].bits_per_sec, None);
    t.flow_sample(new1, pair, Timestamp(15 * SEC), 11_000, 11);
    t.flow_sample(new2, pair, Timestamp(15 * SEC), 0, 0);
    assert_eq!(
        t.traffic_matrix(Timestamp(15 * SEC))[0].bits_per_sec,
        Some(24_000.0)
    );
}
