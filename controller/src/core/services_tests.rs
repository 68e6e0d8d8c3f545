//! Scenarios through the core: two switches, a client on one and a service's backend on the
//! other, pair counters fed tick by tick, and what the core decides and asks for.

use std::net::Ipv4Addr;
use std::time::Duration;

use prescient_topology::{DeviceId, FlowKey, LinkKey, MacAddr, PortNo, PortRef, Timestamp};

use crate::core::tests::port;
use crate::core::{Action, ControllerCore, CoreConfig, Rule, SeriesKey};
use crate::services::*;

const H1: MacAddr = MacAddr([0, 0, 0, 0, 0, 1]);
const B1: MacAddr = MacAddr([0, 0, 0, 0, 1, 1]);
const B2: MacAddr = MacAddr([0, 0, 0, 0, 1, 2]);
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

fn at(d: u64, p: u32) -> PortRef {
    PortRef::new(DeviceId::openflow(d), PortNo(p))
}

fn refresh(c: &mut ControllerCore, now: Timestamp) {
    c.lldp_received(now, at(2, 1), at(1, 1)).expect("s1->s2");
    c.lldp_received(now, at(1, 1), at(2, 1)).expect("s2->s1");
}

fn spec(backends: Vec<Backend>) -> ServiceSpec {
    ServiceSpec {
        name: "web".into(),
        tenant: "red".into(),
        vip: VIP,
        vip_mac: None,
        pool: "10.1.0.0/29".parse().expect("net"),
        backends,
        tier: 1,
        instance_capacity_bps: 100_000_000,
        min_instances: 1,
        max_instances: 4,
        policy: Some("fast".into()),
    }
}

fn b1() -> Backend {
    Backend {
        ip: Ipv4Addr::new(10, 1, 0, 1),
        mac: B1,
        weight: 1,
    }
}

/// s1 -1- s2; h1 on s1:10, b1 on s2:10; service `web` with b1.
fn fabric(backends: Vec<Backend>, cool_down: Duration) -> ControllerCore {
    let mut c = ControllerCore::new(CoreConfig::default());
    let t0 = Timestamp::from_secs(1);
    for d in 1..=2 {
        c.device_up(
            t0,
            DeviceId::openflow(d),
            vec![port(1), port(10), port(11), port(12)],
        );
    }
    refresh(&mut c, t0);
    c.host_seen(t0, H1, Some(Ipv4Addr::new(10, 0, 0, 1)), at(1, 10))
        .expect("h1");
    for (i, b) in backends.iter().enumerate() {
        c.host_seen(t0, b.mac, Some(b.ip), at(2, 10 + i as u32))
            .expect("backend");
    }
    let config = ServicesConfig {
        policies: vec![Policy {
            name: "fast".into(),
            cool_down,
            ..Policy::default_policy()
        }],
        services: vec![spec(backends)],
        ..ServicesConfig::default()
    };
    c.set_services(Services::new(&config, t0).expect("valid services"));
    c
}

/// Feeds `secs` ticks of `rate` bits/s from h1 to `dst`.
fn drive(
    c: &mut ControllerCore,
    bytes: &mut u64,
    from: u64,
    secs: u64,
    dst: MacAddr,
    rate: f64,
) -> Vec<Action> {
    let mut actions = Vec::new();
    for s in from..from + secs {
        let now = Timestamp::from_secs(s);
        refresh(c, now);
        *bytes += (rate / 8.0) as u64;
        let key = FlowKey {
            device: DeviceId::openflow(1),
            cookie: 9,
        };
        c.flow_counters(now, key, Some((H1, dst)), *bytes, *bytes / 1000);
        actions.extend(c.tick(now));
    }
    actions
}

#[test]
fn predicted_growth_reserves_shadow_addresses_programs_them_and_asks_for_instances() {
    let mut c = fabric(vec![b1()], Duration::from_secs(300));
    let mut bytes = 0;
    // 21 ticks: the first sample is the flow counter's baseline, then the 20 rates that warm
    // the pair's series up.
    let actions = drive(&mut c, &mut bytes, 9, 21, B1, 150e6);
    // The first tick programs the service: s1 balances towards its link to s2, s2 to b1's port.
    let hops = actions
        .iter()
        .find_map(|a| match a {
            Action::SetServiceBackends { hops, .. } => Some(hops.clone()),
            _ => None,
        })
        .expect("the service is programmed");
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[0].ports, vec![Some(PortNo(1))]);
    assert_eq!(hops[1].ports, vec![Some(PortNo(10))]);
    // 150 Mb/s on one 100 Mb/s instance at 80 %: two are needed, one more is asked for.
    let calls: Vec<&HookCall> = actions
        .iter()
        .filter_map(|a| match a {
            Action::CallHook(h) => Some(h),
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 1, "asked once per episode: {calls:?}");
    let call = calls[0];
    assert_eq!(call.action, HookKind::ScaleUp);
    assert_eq!((call.current_instances, call.target_instances), (1, 2));
    let shadow = Ipv4Addr::new(10, 1, 0, 2);
    assert_eq!(call.addresses, vec![shadow]);
    assert!(
        call.forecast.upper95_bps > 80_000_000,
        "{:?}",
        call.forecast
    );
    // The shadow's translation is programmed before the instance exists.
    assert!(actions.iter().any(|a| matches!(a,
        Action::SetTranslation { physical_ip, logical_ip, .. } if *physical_ip == shadow && *logical_ip == VIP)));
    // The decision explains it, and the queued call carries its id as idempotency key.
    let decision = c
        .decisions()
        .iter()
        .find(|d| d.rule == Rule::ServicePredictedScaleUp)
        .expect("a decision")
        .clone();
    assert!(
        decision.reason.contains("needs 2 instance(s)"),
        "{}",
        decision.reason
    );
    let queued = c.take_hook_calls();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].decision, decision.id);
    assert_eq!(queued[0].key, format!("web/{}", decision.id));
    assert!(c.take_hook_calls().is_empty());
    let t = c.services().translations();
    assert!(t
        .iter()
        .any(|r| r.physical_ip == shadow && r.kind == LeaseKind::Shadow && r.devices == 2));

    // The orchestrator starts the instance without an address: it gets the shadow.
    let now = Timestamp::from_secs(40);
    c.host_seen(now, B2, None, at(2, 11)).expect("b2");
    let reports = [
        BackendReport {
            ip: Some(b1().ip),
            mac: B1,
            weight: 1,
        },
        BackendReport {
            ip: None,
            mac: B2,
            weight: 2,
        },
    ];
    let (placed, actions) = c
        .set_service_backends(now, "web", &reports)
        .expect("accepted");
    assert_eq!(placed[1].0.ip, shadow);
    assert_eq!(placed[1].1, LeaseKind::PreAssigned);
    let balanced = actions.iter().find_map(|a| match a {
        Action::SetServiceBackends { backends, .. } => Some(backends.len()),
        _ => None,
    });
    assert_eq!(balanced, Some(2));
    // A third instance finds no shadow left: dynamic allocation.
    let mut more = reports.to_vec();
    more.push(BackendReport {
        ip: None,
        mac: MacAddr([0, 0, 0, 0, 1, 3]),
        weight: 1,
    });
    let (placed, _) = c.set_service_backends(now, "web", &more).expect("room");
    assert_eq!(placed[2].1, LeaseKind::Dynamic);
    assert_eq!(placed[2].0.ip, Ipv4Addr::new(10, 1, 0, 3));

    // Removal takes everything out of the data plane.
    let (_, actions) = c.remove_service(now, "web").expect("known");
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::SetServiceBackends { backends, .. } if backends.is_empty())));
    assert_eq!(
        actions
            .iter()
            .filter(|a| matches!(a, Action::RemoveTranslation { .. }))
            .count(),
        3
    );
    assert!(c.services().translations().is_empty());
}

#[test]
fn a_sustained_low_forecast_scales_down_after_the_cool_down_only() {
    let backends: Vec<Backend> = (1..=3)
        .map(|i| Backend {
            ip: Ipv4Addr::new(10, 1, 0, i),
            mac: MacAddr([0, 0, 0, 0, 1, i]),
            weight: 1,
        })
        .collect();
    let mut c = fabric(backends, Duration::from_secs(10));
    let mut bytes = 0;
    // Nothing is planned on a cold model: the cool-down counts from the first warm forecast.
    let mut t = 10;
    loop {
        let warming = drive(&mut c, &mut bytes, t, 1, B1, 20e6);
        assert!(!warming.iter().any(|a| matches!(a, Action::CallHook(_))));
        t += 1;
        let warm = c
            .series(&SeriesKey::Pair(H1, B1))
            .is_some_and(|s| crate::core::is_warm(s, 12, &c.config().planning));
        if warm {
            break;
        }
        assert!(t < 60, "the pair's series never warmed up");
    }
    let early = drive(&mut c, &mut bytes, t, 9, B1, 20e6);
    assert!(
        !early.iter().any(|a| matches!(a, Action::CallHook(_))),
        "no scale-down before the cool-down"
    );
    let later = drive(&mut c, &mut bytes, t + 9, 10, B1, 20e6);
    let down: Vec<&HookCall> = later
        .iter()
        .filter_map(|a| match a {
            Action::CallHook(h) if h.action == HookKind::ScaleDown => Some(h),
            _ => None,
        })
        .collect();
    assert_eq!(down.len(), 1, "{later:?}");
    assert_eq!(
        (down[0].current_instances, down[0].target_instances),
        (3, 1)
    );
    assert_eq!(down[0].addresses.len(), 2);
}

#[test]
fn a_hot_edge_into_a_backend_asks_for_migration_once() {
    let mut s = Services::new(
        &ServicesConfig {
            services: vec![spec(vec![b1()])],
            policies: vec![Policy {
                name: "fast".into(),
                ..Policy::default_policy()
            }],
            ..ServicesConfig::default()
        },
        Timestamp(0),
    )
    .expect("valid");
    let mut topo = prescient_topology::Topology::new(Default::default());
    let t0 = Timestamp::from_secs(1);
    topo.device_up(t0, DeviceId::openflow(1), vec![port(1), port(10)]);
    topo.device_up(t0, DeviceId::openflow(2), vec![port(1), port(10)]);
    topo.lldp_received(t0, at(2, 1), at(1, 1)).expect("link");
    topo.host_seen(t0, B1, None, at(2, 10)).expect("host");
    let snap = topo.snapshot();
    let hot = std::collections::BTreeSet::from([LinkKey::new(at(1, 1), at(2, 1))]);
    let plan = |s: &mut Services, hot: &std::collections::BTreeSet<LinkKey>| {
        s.plan(t0, |_| None, &snap, hot, 12, Duration::from_secs(1))
    };
    let drafts = plan(&mut s, &hot);
    let migrate: Vec<_> = drafts
        .iter()
        .filter(|d| d.rule == Rule::ServiceBackendMigrate)
        .collect();
    assert_eq!(migrate.len(), 1);
    assert!(
        migrate[0].reason.contains("10.1.0.1"),
        "{}",
        migrate[0].reason
    );
    assert!(plan(&mut s, &hot)
        .iter()
        .all(|d| d.rule != Rule::ServiceBackendMigrate));
    // Cooled, then hot again: a new episode.
    let cool = std::collections::BTreeSet::new();
    plan(&mut s, &cool);
    assert!(plan(&mut s, &hot)
        .iter()
        .any(|d| d.rule == Rule::ServiceBackendMigrate));
}

#[test]
fn bad_services_are_refused_with_the_field_and_value() {
    let mut s = Services::default();
    let mut bad = spec(vec![b1()]);
    bad.policy = None;
    bad.vip = Ipv4Addr::new(10, 1, 0, 5);
    let err = s.create(bad, Timestamp(0)).unwrap_err().to_string();
    assert!(err.contains("vip") && err.contains("10.1.0.5"), "{err}");
    let mut bad = spec(vec![b1(), b1()]);
    bad.policy = None;
    let err = s.create(bad, Timestamp(0)).unwrap_err().to_string();
    assert!(err.contains("backends[1]"), "{err}");
    let mut ok = spec(vec![b1()]);
    ok.policy = None;
    s.create(ok.clone(), Timestamp(0)).expect("valid");
    assert!(matches!(
        s.create(ok.clone(), Timestamp(0)),
        Err(ServicesError::Exists(_))
    ));
    let mut other = ok;
    other.name = "api".into();
    other.tenant = "blue".into();
    other.vip = Ipv4Addr::new(192, 0, 2, 11);
    other.pool = "10.1.0.0/28".parse().expect("net");
    other.backends.clear();
    let err = s.create(other, Timestamp(0)).unwrap_err().to_string();
    assert!(
        err.contains("overlaps") && err.contains("red") && err.contains("blue"),
        "{err}"
    );
}
