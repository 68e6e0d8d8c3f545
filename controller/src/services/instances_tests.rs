//! Pre-assignment against the rest of the registry: examples, and the property that no
//! interleaving of announcements, reports, releases, shadow reservations (with preemption),
//! aging, restarts and pool resizes ever gives one address to two instances.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use prescient_topology::{MacAddr, Snapshot, Timestamp};
use proptest::prelude::*;

use super::super::super::pool::{usable_in, Instance, LeaseKind};
use super::super::{BackendReport, Services, ServicesConfig, ServicesError};
use super::InstanceConflict;
use crate::services::ServiceSpec;

fn spec(name: &str, vip: u8, tier: u8) -> ServiceSpec {
    sized(name, vip, tier, 29)
}

/// The service with its pool `10.1.0.0/prefix`.
fn sized(name: &str, vip: u8, tier: u8, prefix: u8) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        tenant: "red".into(),
        vip: Ipv4Addr::new(192, 0, 2, vip),
        vip_mac: None,
        // At /29, .1 to .6 usable: small enough that every interleaving runs the pool dry.
        pool: format!("10.1.0.0/{prefix}").parse().expect("net"),
        backends: Vec::new(),
        tier,
        instance_capacity_bps: 1_000_000,
        min_instances: 1,
        max_instances: 8,
        policy: None,
    }
}

fn registry() -> Services {
    let mut s = Services::default();
    s.create(spec("web", 10, 2), Timestamp::from_secs(1))
        .expect("web");
    s.create(spec("batch", 11, 0), Timestamp::from_secs(1))
        .expect("batch");
    s
}

fn key(k: u8) -> Instance {
    Instance {
        key: format!("k{k}"),
        host: Some("h1".into()),
    }
}

fn t(s: u64) -> Timestamp {
    Timestamp::from_secs(s)
}

#[test]
fn a_shadow_is_pre_assigned_then_dynamic_then_409_naming_the_pool() {
    let mut s = registry();
    let snap = Snapshot::empty();
    let pool = s.pools.get_mut(spec("web", 10, 2).pool).expect("pool");
    pool.reserve_shadows("web", 2, 1, t(2));
    let (a, draft) = s.pre_assign("web", key(1), t(3), &snap).expect("shadow");
    assert_eq!(a.kind, LeaseKind::PreAssigned);
    assert!(draft.is_some_and(|d| d.reason.contains("shadow")));
    let (again, draft) = s.pre_assign("web", key(1), t(4), &snap).expect("retry");
    assert_eq!((again.ip, again.fresh), (a.ip, false));
    assert!(draft.is_none(), "a retry changes nothing");
    let (b, _) = s.pre_assign("web", key(2), t(5), &snap).expect("dynamic");
    assert_eq!(b.kind, LeaseKind::Dynamic);
    assert_ne!(a.ip, b.ip);
    for k in 3..7 {
        s.pre_assign("batch", key(k), t(6), &snap).expect("room");
    }
    let err = s.pre_assign("web", key(9), t(7), &snap).expect_err("full");
    assert!(matches!(
        err,
        ServicesError::Conflict(InstanceConflict::Exhausted { .. })
    ));
    assert!(err.to_string().contains("10.1.0.0/29"), "{err}");
    // The address record is there, with its host, before the instance is up.
    let rec = s.address_records();
    assert!(rec
        .iter()
        .any(|r| r.physical == a.ip && r.host.as_deref() == Some("h1") && r.mac.is_none()));
}

/// Announced instances, up or down, and reported backends all count towards `max_instances`;
/// shadows do not; a retried key is answered at the limit.
#[test]
fn a_new_instance_past_max_instances_is_refused_naming_the_limit_and_the_count() {
    let mut s = Services::default();
    let mut web = sized("web", 10, 2, 28);
    web.max_instances = 3;
    s.create(web, t(1)).expect("web");
    let snap = Snapshot::empty();
    let pool = s.pools.get_mut(sized("web", 10, 2, 28).pool).expect("pool");
    pool.reserve_shadows("web", 2, 4, t(2));
    let (a, _) = s.pre_assign("web", key(1), t(3), &snap).expect("first");
    s.pre_assign("web", key(2), t(3), &snap).expect("second");
    let report = BackendReport {
        ip: Some(a.ip),
        mac: MacAddr([2, 0, 0, 0, 0, 1]),
        weight: 1,
    };
    let other = BackendReport {
        ip: None,
        mac: MacAddr([2, 0, 0, 0, 0, 2]),
        weight: 1,
    };
    s.set_backends("web", &[report, other], t(4), &snap)
        .expect("a reported backend");
    assert_eq!(s.instances("web").map(|i| i.len()), Some(3));
    let err = s
        .pre_assign("web", key(3), t(5), &snap)
        .expect_err("past the limit");
    assert_eq!(
        err,
        ServicesError::Conflict(InstanceConflict::MaxInstances {
            service: "web".into(),
            max: 3,
            instances: 3,
        })
    );
    let text = err.to_string();
    assert!(
        text.contains("\"web\"") && text.contains("max_instances is 3") && text.contains("has 3"),
        "{text}"
    );
    let (again, draft) = s.pre_assign("web", key(1), t(6), &snap).expect("a retry");
    assert_eq!((again.ip, again.fresh), (a.ip, false));
    assert!(draft.is_none());
    // Released, the address is a shadow again: room for one more.
    s.release_instance("web", a.ip, t(7), &snap)
        .expect("release");
    let (c, _) = s
        .pre_assign("web", key(3), t(8), &snap)
        .expect("room again");
    assert!(c.fresh);
}

/// A configuration that lowers `max_instances` below what the store holds: every instance is
/// restored (nothing is taken away), and new ones are refused until releases bring the count
/// under the new limit.
#[test]
fn a_lowered_max_instances_keeps_the_stored_instances_and_refuses_new_ones() {
    let mut s = configured(28, 1);
    let snap = Snapshot::empty();
    let mut got = Vec::new();
    for k in 0..4 {
        got.push(s.pre_assign("web", key(k), t(2), &snap).expect("room").0.ip);
    }
    let mut lowered = sized("web", 10, 2, 28);
    lowered.max_instances = 2;
    let config = ServicesConfig {
        pools: Vec::new(),
        policies: Vec::new(),
        services: vec![lowered, sized("batch", 11, 0, 28)],
    };
    let mut fresh = Services::new(&config, t(3)).expect("the configuration holds");
    let report = fresh.restore(s.records(), t(3));
    assert!(report.dropped.is_empty(), "{report:?}");
    assert_eq!(fresh.view("web").map(|v| v.spec.max_instances), Some(2));
    assert_eq!(fresh.instances("web").map(|i| i.len()), Some(4));
    let err = fresh
        .pre_assign("web", key(9), t(4), &snap)
        .expect_err("over");
    assert!(
        matches!(
            err,
            ServicesError::Conflict(InstanceConflict::MaxInstances {
                max: 2,
                instances: 4,
                ..
            })
        ),
        "{err}"
    );
    let (again, _) = fresh
        .pre_assign("web", key(3), t(4), &snap)
        .expect("a retry");
    assert_eq!(again.ip, got[3]);
    for ip in &got[..2] {
        fresh
            .release_instance("web", *ip, t(5), &snap)
            .expect("release");
    }
    assert!(
        fresh.pre_assign("web", key(9), t(6), &snap).is_err(),
        "2 of 2"
    );
    fresh
        .release_instance("web", got[2], t(7), &snap)
        .expect("release");
    fresh
        .pre_assign("web", key(9), t(8), &snap)
        .expect("under the limit");
}

#[test]
fn a_shadow_preempted_by_a_higher_tier_meanwhile_falls_back_to_a_dynamic_address() {
    let mut s = registry();
    let snap = Snapshot::empty();
    let pool = s.pools.get_mut(spec("web", 10, 2).pool).expect("pool");
    // batch (tier 0) reserved two shadows; the pool then fills up and web (tier 2) takes them.
    pool.reserve_shadows("batch", 0, 2, t(2));
    pool.reserve_shadows("web", 2, 4, t(3));
    let taken = pool.reserve_shadows("web", 2, 2, t(4));
    assert_eq!(taken.preempted.len(), 2, "{taken:?}");
    assert!(s.view("batch").is_some_and(|v| v.shadows.is_empty()));
    // The pool is all web's shadows now: batch's instance has nothing to fall back on.
    let err = s
        .pre_assign("batch", key(1), t(5), &snap)
        .expect_err("exhausted");
    assert!(err.to_string().contains("10.1.0.0/29"), "{err}");
    // One of web's shadows goes back to the pool: batch falls back to it, dynamically.
    let pool = s.pools.get_mut(spec("web", 10, 2).pool).expect("pool");
    assert!(pool.release("web", Ipv4Addr::new(10, 1, 0, 6)));
    let (got, draft) = s
        .pre_assign("batch", key(1), t(7), &snap)
        .expect("fallback");
    assert_eq!(
        (got.ip, got.kind),
        (Ipv4Addr::new(10, 1, 0, 6), LeaseKind::Dynamic)
    );
    assert!(draft.is_some_and(|d| d.reason.contains("dynamic allocation")));
}

#[test]
fn up_down_and_release_keep_the_address_with_the_service() {
    let mut s = registry();
    let snap = Snapshot::empty();
    let (a, _) = s.pre_assign("web", key(1), t(2), &snap).expect("a");
    let mac = MacAddr([2, 0, 0, 0, 0, 1]);
    s.set_instance_state("web", a.ip, Some((mac, 1)), &snap)
        .expect("up");
    assert_eq!(s.view("web").map(|v| v.spec.backends.len()), Some(1));
    let rec = s.address_records();
    assert_eq!(rec[0].mac.as_deref(), Some("02:00:00:00:00:01"));
    s.set_instance_state("web", a.ip, None, &snap)
        .expect("down");
    assert_eq!(s.view("web").map(|v| v.spec.backends.len()), Some(0));
    assert_eq!(s.address_records().len(), 1, "down keeps the address");
    let err = s
        .set_instance_state("batch", a.ip, None, &snap)
        .expect_err("not batch's");
    assert!(err.to_string().contains("\"web\""), "{err}");
    s.release_instance("web", a.ip, t(3), &snap)
        .expect("release");
    assert!(s.address_records().is_empty());
    assert_eq!(s.view("web").map(|v| v.shadows), Some(vec![a.ip]));
    assert!(matches!(
        s.release_instance("web", a.ip, t(4), &snap),
        Err(ServicesError::Conflict(
            InstanceConflict::NotAnInstance { .. }
        ))
    ));
    assert!(matches!(
        s.release_instance("web", Ipv4Addr::new(10, 1, 0, 6), t(4), &snap),
        Err(ServicesError::NoInstance { .. })
    ));
}

#[derive(Debug, Clone)]
enum Op {
    PreAssign {
        web: bool,
        key: u8,
    },
    Up {
        web: bool,
        pick: usize,
    },
    Down {
        web: bool,
        pick: usize,
    },
    Release {
        web: bool,
        pick: usize,
    },
    /// A restart with the configuration's pool resized to `10.1.0.0/prefix` (a resize only
    /// takes effect at a restart: overlapping pools are refused while running).
    Resize {
        prefix: u8,
    },
    /// The orchestrator reports some of the service's instances plus `new` without address.
    Report {
        web: bool,
        keep: u8,
        new: u8,
    },
    Shadows {
        web: bool,
        n: usize,
    },
    Age {
        secs: u64,
    },
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), 0u8..8).prop_map(|(web, key)| Op::PreAssign { web, key }),
        2 => (any::<bool>(), 0usize..8).prop_map(|(web, pick)| Op::Up { web, pick }),
        1 => (any::<bool>(), 0usize..8).prop_map(|(web, pick)| Op::Down { web, pick }),
        2 => (any::<bool>(), 0usize..8).prop_map(|(web, pick)| Op::Release { web, pick }),
        1 => (any::<bool>(), any::<u8>(), 0u8..3)
            .prop_map(|(web, keep, new)| Op::Report { web, keep, new }),
        2 => (any::<bool>(), 0usize..4).prop_map(|(web, n)| Op::Shadows { web, n }),
        1 => (0u64..1200).prop_map(|secs| Op::Age { secs }),
        1 => Just(Op::Restart),
        1 => (28u8..=30).prop_map(|prefix| Op::Resize { prefix }),
    ]
}

fn name(web: bool) -> &'static str {
    if web {
        "web"
    } else {
        "batch"
    }
}

fn instance_ips(s: &Services, svc: &str) -> Vec<Ipv4Addr> {
    s.instances(svc)
        .unwrap_or_default()
        .iter()
        .map(|i| i.ip)
        .collect()
}

/// Both services as the configuration file defines them, their shared pool `10.1.0.0/prefix`.
fn configured(prefix: u8, now: u64) -> Services {
    let config = ServicesConfig {
        pools: Vec::new(),
        policies: Vec::new(),
        services: vec![sized("web", 10, 2, prefix), sized("batch", 11, 0, prefix)],
    };
    Services::new(&config, t(now)).expect("the configuration holds")
}

/// No address serves two instances: backends of all services are distinct and each is leased
/// to its own service as an instance; each announced key holds one address; every lease lies
/// in its pool.
fn check(s: &Services, prefix: u8) -> Result<(), TestCaseError> {
    let pool = s
        .pools
        .get(sized("web", 10, 2, prefix).pool)
        .ok_or_else(|| TestCaseError::fail("pool gone"))?;
    for ip in pool.leases().keys() {
        prop_assert!(
            pool.network().contains(*ip),
            "{ip} leased outside {}",
            pool.network()
        );
    }
    let mut owner: BTreeMap<Ipv4Addr, &str> = BTreeMap::new();
    for v in s.views() {
        for b in &v.spec.backends {
            if let Some(other) = owner.insert(b.ip, "backend") {
                return Err(TestCaseError::fail(format!("{} twice ({other})", b.ip)));
            }
            let lease = pool.leases().get(&b.ip);
            prop_assert!(
                lease.is_some_and(|l| l.service == v.spec.name && l.kind != LeaseKind::Shadow),
                "backend {} of {} leased as {lease:?}",
                b.ip,
                v.spec.name
            );
        }
    }
    let mut keys = BTreeMap::new();
    for (ip, l) in pool.leases() {
        if let Some(i) = &l.instance {
            if let Some(other) = keys.insert((l.service.clone(), i.key.clone()), *ip) {
                return Err(TestCaseError::fail(format!(
                    "key {} holds {other} and {ip}",
                    i.key
                )));
            }
        }
    }
    Ok(())
}

/// Forgets the answered keys whose lease is gone (released by a report, a resize).
fn forget_lost(s: &Services, prefix: u8, answered: &mut BTreeMap<(&str, u8), Ipv4Addr>) {
    let pool = s.pools.get(sized("web", 10, 2, prefix).pool);
    answered.retain(|(svc, k), ip| {
        pool.and_then(|p| p.leases().get(ip)).is_some_and(|l| {
            l.service == *svc
                && l.instance
                    .as_ref()
                    .is_some_and(|i| i.key == format!("k{k}"))
        })
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_address_is_ever_handed_to_two_instances(ops in proptest::collection::vec(op(), 1..60)) {
        let mut prefix = 29u8;
        let mut s = configured(prefix, 1);
        let snap = Snapshot::empty();
        let mut now = 10u64;
        // (service, key) -> address answered and not released since: a retry must get it.
        let mut answered: BTreeMap<(&str, u8), Ipv4Addr> = BTreeMap::new();
        let mut macs = 0u8;
        for op in ops {
            now += 1;
            match op {
                Op::PreAssign { web, key: k } => {
                    match s.pre_assign(name(web), key(k), t(now), &snap) {
                        Ok((got, _)) => {
                            if let Some(before) = answered.get(&(name(web), k)) {
                                prop_assert_eq!(*before, got.ip, "a retried key moved");
                            }
                            for ((svc, other), ip) in &answered {
                                prop_assert!(
                                    *ip != got.ip || (*svc, *other) == (name(web), k),
                                    "{} handed to {}/k{} while {}/k{} holds it",
                                    got.ip, name(web), k, svc, other
                                );
                            }
                            answered.insert((name(web), k), got.ip);
                        }
                        Err(ServicesError::Conflict(InstanceConflict::Exhausted { .. })) => {}
                        Err(ServicesError::Conflict(InstanceConflict::MaxInstances {
                            max, instances, ..
                        })) => {
                            prop_assert!(
                                !answered.contains_key(&(name(web), k)),
                                "a retried key was refused for the limit"
                            );
                            prop_assert!(instances >= max as usize, "{instances} < {max}");
                        }
                        Err(e) => return Err(TestCaseError::fail(format!("pre-assign: {e}"))),
                    }
                }
                Op::Up { web, pick } => {
                    let ips = instance_ips(&s, name(web));
                    if let Some(ip) = ips.get(pick % ips.len().max(1)) {
                        macs = macs.wrapping_add(1);
                        let mac = MacAddr([2, 0, 0, 0, 1, macs]);
                        // A MAC clash with another backend is refused; fine either way.
                        let _ = s.set_instance_state(name(web), *ip, Some((mac, 1)), &snap);
                    }
                }
                Op::Down { web, pick } => {
                    let ips = instance_ips(&s, name(web));
                    if let Some(ip) = ips.get(pick % ips.len().max(1)) {
                        s.set_instance_state(name(web), *ip, None, &snap)
                            .map_err(|e| TestCaseError::fail(format!("down: {e}")))?;
                    }
                }
                Op::Release { web, pick } => {
                    let ips = instance_ips(&s, name(web));
                    if let Some(ip) = ips.get(pick % ips.len().max(1)) {
                        s.release_instance(name(web), *ip, t(now), &snap)
                            .map_err(|e| TestCaseError::fail(format!("release: {e}")))?;
                        answered.retain(|_, a| a != ip);
                    }
                }
                Op::Report { web, keep, new } => {
                    let backends = s.view(name(web)).map(|v| v.spec.backends).unwrap_or_default();
                    let mut reports: Vec<BackendReport> = backends
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| keep & (1 << (i % 8)) != 0)
                        .map(|(_, b)| BackendReport { ip: Some(b.ip), mac: b.mac, weight: 1 })
                        .collect();
                    for _ in 0..new {
                        macs = macs.wrapping_add(1);
                        reports.push(BackendReport {
                            ip: None,
                            mac: MacAddr([2, 0, 0, 0, 2, macs]),
                            weight: 1,
                        });
                    }
                    let _ = s.set_backends(name(web), &reports, t(now), &snap);
                    // Backends not reported any more lost their address: forget their keys.
                    forget_lost(&s, prefix, &mut answered);
                }
                Op::Shadows { web, n } => {
                    let tier = if web { 2 } else { 0 };
                    if let Some(p) = s.pools.get_mut(sized("web", 10, 2, prefix).pool) {
                        p.reserve_shadows(name(web), tier, n, t(now));
                    }
                }
                Op::Age { secs } => {
                    now += secs;
                    s.pools.age(t(now));
                }
                Op::Restart => {
                    let records = s.records();
                    let mut fresh = configured(prefix, now);
                    let report = fresh.restore(records, t(now));
                    prop_assert!(report.dropped.is_empty(), "{:?}", report.dropped);
                    s = fresh;
                }
                Op::Resize { prefix: to } => {
                    // What still lies in the resized pool is kept, the rest given up (see
                    // `durable`): an instance outside it lost its address.
                    let records = s.records();
                    let mut fresh = configured(to, now);
                    let report = fresh.restore(records, t(now));
                    prop_assert!(report.dropped.is_empty(), "{:?}", report.dropped);
                    s = fresh;
                    prefix = to;
                    let net = sized("web", 10, 2, prefix).pool;
                    let before = answered.clone();
                    forget_lost(&s, prefix, &mut answered);
                    for (k, ip) in &before {
                        prop_assert!(
                            answered.contains_key(k) || !usable_in(net, *ip),
                            "{ip} of {k:?} lies in {net} but was given up"
                        );
                    }
                }
            }
            check(&s, prefix)?;
        }
    }
}
