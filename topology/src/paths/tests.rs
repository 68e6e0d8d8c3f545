use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::ids::{PortNo, PortRef, Timestamp};
use crate::snapshot::SnapshotLink;

fn dev(i: u32) -> DeviceId {
    DeviceId::openflow(u64::from(i))
}

/// Links given as (from, to, cost, capacity); port numbers are made unique per link.
fn snapshot(n: u32, links: &[(u32, u32, u64, u64)]) -> Snapshot {
    let links = links
        .iter()
        .enumerate()
        .map(|(i, &(a, b, cost, cap))| SnapshotLink {
            key: LinkKey::new(
                PortRef::new(dev(a), PortNo(100 + i as u32)),
                PortRef::new(dev(b), PortNo(200 + i as u32)),
            ),
            capacity_bps: cap,
            cost,
        })
        .collect();
    Snapshot::build(
        Timestamp(0),
        1,
        (0..n).map(dev).collect(),
        links,
        BTreeMap::new(),
    )
}

/// Every simple path from `s` to `d` as (cost, links), by exhaustive search.
fn all_simple_paths(snap: &Snapshot, s: DeviceId, d: DeviceId) -> Vec<(u64, Vec<LinkKey>)> {
    fn walk(
        snap: &Snapshot,
        at: DeviceId,
        d: DeviceId,
        seen: &mut Vec<DeviceId>,
        links: &mut Vec<usize>,
        out: &mut Vec<(u64, Vec<LinkKey>)>,
    ) {
        if at == d {
            let cost = links.iter().map(|&l| snap.costs()[l]).sum();
            out.push((cost, links.iter().map(|&l| snap.links()[l]).collect()));
            return;
        }
        for (i, k) in snap.links().iter().enumerate() {
            if k.src.device == at && !seen.contains(&k.dst.device) {
                seen.push(k.dst.device);
                links.push(i);
                walk(snap, k.dst.device, d, seen, links, out);
                links.pop();
                seen.pop();
            }
        }
    }
    let mut out = Vec::new();
    walk(snap, s, d, &mut vec![s], &mut Vec::new(), &mut out);
    out.sort();
    out
}

fn arb_graph() -> impl Strategy<Value = (u32, Vec<(u32, u32, u64, u64)>)> {
    (2u32..7).prop_flat_map(|n| {
        let link =
            (0..n, 0..n, 1u64..4, 0u64..10).prop_filter("no self loops", |(a, b, _, _)| a != b);
        (Just(n), proptest::collection::vec(link, 0..18))
    })
}

fn is_loop_free(p: &Path) -> bool {
    let mut d = p.devices.clone();
    d.sort();
    d.dedup();
    d.len() == p.devices.len()
}

#[test]
fn shortest_path_follows_costs() {
    // 0 -> 1 -> 3 costs 2; 0 -> 2 -> 3 costs 1 + 5; direct 0 -> 3 costs 3.
    let s = snapshot(
        4,
        &[
            (0, 1, 1, 10),
            (1, 3, 1, 10),
            (0, 2, 1, 10),
            (2, 3, 5, 10),
            (0, 3, 3, 10),
        ],
    );
    let p = s.shortest_path(dev(0), dev(3)).expect("path");
    assert_eq!(p.cost, 2);
    assert_eq!(p.devices, vec![dev(0), dev(1), dev(3)]);
    assert_eq!(
        s.shortest_path(dev(3), dev(0)),
        Err(PathError::Unreachable {
            src: dev(3),
            dst: dev(0)
        })
    );
    assert_eq!(
        s.shortest_path(dev(9), dev(0)),
        Err(PathError::UnknownDevice(dev(9)))
    );
    let same = s.shortest_path(dev(2), dev(2)).expect("trivial path");
    assert!(same.links.is_empty() && same.devices == vec![dev(2)]);
}

#[test]
fn constrained_path_skips_thin_links_and_flags_widest() {
    // Cheap path has 2 units free, expensive one 6.
    let s = snapshot(
        4,
        &[(0, 1, 1, 10), (1, 3, 1, 10), (0, 2, 1, 10), (2, 3, 5, 10)],
    );
    // Residuals are indexed by LinkIdx (links sorted by source device): 0->1, 0->2, 1->3, 2->3.
    let order: Vec<(DeviceId, DeviceId)> = s
        .links()
        .iter()
        .map(|k| (k.src.device, k.dst.device))
        .collect();
    assert_eq!(
        order,
        vec![
            (dev(0), dev(1)),
            (dev(0), dev(2)),
            (dev(1), dev(3)),
            (dev(2), dev(3))
        ]
    );
    let residual = vec![2, 6, 8, 7];
    let fits = s
        .constrained_path(dev(0), dev(3), 5, &residual)
        .expect("path");
    assert_eq!(fits.fit, Fit::Satisfies);
    assert_eq!(fits.path.devices, vec![dev(0), dev(2), dev(3)]);
    let widest = s
        .constrained_path(dev(0), dev(3), 9, &residual)
        .expect("path");
    assert_eq!(widest.fit, Fit::WidestOnly { bottleneck_bps: 6 });
    assert_eq!(widest.path.devices, vec![dev(0), dev(2), dev(3)]);
    assert_eq!(
        s.constrained_path(dev(0), dev(3), 1, &[1, 2]),
        Err(PathError::ResidualLength { got: 2, want: 4 })
    );
}

proptest! {
    #[test]
    fn yen_matches_brute_force((n, links) in arb_graph(), k in 1usize..8) {
        let snap = snapshot(n, &links);
        let (s, d) = (dev(0), dev(n - 1));
        let all = all_simple_paths(&snap, s, d);
        match snap.k_shortest_paths(s, d, k) {
            Err(PathError::Unreachable { .. }) => prop_assert!(all.is_empty()),
            Err(e) => prop_assert!(false, "unexpected {e}"),
            Ok(paths) => {
                prop_assert_eq!(paths.len(), k.min(all.len()));
                let got: Vec<u64> = paths.iter().map(|p| p.cost).collect();
                let want: Vec<u64> = all.iter().take(k).map(|p| p.0).collect();
                prop_assert_eq!(got, want);
                for (i, p) in paths.iter().enumerate() {
                    prop_assert!(is_loop_free(p));
                    prop_assert!(all.iter().any(|(c, l)| *c == p.cost && *l == p.links));
                    prop_assert!(!paths[..i].contains(p), "duplicate path");
                }
            }
        }
    }

    #[test]
    fn ecmp_is_exactly_the_minimum_cost_paths((n, links) in arb_graph()) {
        let snap = snapshot(n, &links);
        let (s, d) = (dev(0), dev(n - 1));
        let all = all_simple_paths(&snap, s, d);
        if let Some(best) = all.first().map(|p| p.0) {
            let mut want: Vec<Vec<LinkKey>> = all.iter().filter(|p| p.0 == best).map(|p| p.1.clone()).collect();
            let mut got: Vec<Vec<LinkKey>> = snap.ecmp_paths(s, d, 1000).map_err(|e| TestCaseError::fail(e.to_string()))?
                .into_iter().map(|p| { assert_eq!(p.cost, best); p.links }).collect();
            want.sort();
            got.sort();
            prop_assert_eq!(got, want);
        } else {
            prop_assert!(snap.ecmp_paths(s, d, 10).is_err());
        }
    }

    #[test]
    fn constrained_path_is_best_feasible_or_widest((n, links) in arb_graph(), rate in 0u64..10) {
        let snap = snapshot(n, &links);
        let (s, d) = (dev(0), dev(n - 1));
        let residual = snap.capacities().to_vec();
        let all = all_simple_paths(&snap, s, d);
        let bottleneck = |l: &[LinkKey]| l.iter().map(|k| snap.capacity(*k).unwrap_or(0)).min().unwrap_or(u64::MAX);
        match snap.constrained_path(s, d, rate, &residual) {
            Err(_) => prop_assert!(all.is_empty()),
            Ok(found) => {
                let feasible: Vec<u64> = all.iter().filter(|p| bottleneck(&p.1) >= rate).map(|p| p.0).collect();
                match found.fit {
                    Fit::Satisfies => {
                        prop_assert!(bottleneck(&found.path.links) >= rate);
                        prop_assert_eq!(Some(found.path.cost), feasible.iter().min().copied());
                    }
                    Fit::WidestOnly { bottleneck_bps } => {
                        prop_assert!(feasible.is_empty());
                        let widest = all.iter().map(|p| bottleneck(&p.1)).max();
                        prop_assert_eq!(Some(bottleneck_bps), widest);
                        prop_assert_eq!(bottleneck(&found.path.links), bottleneck_bps);
                    }
                }
            }
        }
    }
}

proptest! {
    /// `link_from` finds what a map from every link's source port finds (the last link in key
    /// order when several leave one port), and nothing for ports no link leaves or devices
    /// that are down.
    #[test]
    fn link_from_matches_a_map_by_source_port(
        ends in proptest::collection::vec((0u32..6, 1u32..4, 0u32..6, 1u32..4), 0..40),
    ) {
        let links: Vec<SnapshotLink> = ends
            .iter()
            .map(|&(a, pa, b, pb)| SnapshotLink {
                key: LinkKey::new(
                    PortRef::new(dev(a), PortNo(pa)),
                    PortRef::new(dev(b), PortNo(pb)),
                ),
                capacity_bps: 1,
                cost: 1,
            })
            .collect();
        // Device 5 is down: its links are not in the snapshot.
        let snap = Snapshot::build(Timestamp(0), 1, (0..5).map(dev).collect(), links, BTreeMap::new());
        let by_src: BTreeMap<PortRef, LinkKey> =
            snap.links().iter().map(|l| (l.src, *l)).collect();
        for d in 0..6 {
            for p in 0..5 {
                let port = PortRef::new(dev(d), PortNo(p));
                prop_assert_eq!(snap.link_from(port), by_src.get(&port).copied());
            }
        }
    }
}
