//! `prescient bench services`: cost of the services planning round (demand → scaling steps,
//! shadow reservations, hook calls) with many services on a ring of switches, the cost of
//! re-programming every service after a topology change (egress ports towards every backend
//! from every switch), and address-pool leases per second.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::Context;
use ipnetwork::Ipv4Network;
use prescient_topology::{
    DeviceId, LinkKey, MacAddr, PortNo, PortRef, Snapshot, SnapshotLink, Timestamp,
};
use serde::Serialize;

use crate::services::{
    AddressPool, Backend, Demand, ServiceSpec, Services, ServicesConfig, DEFAULT_SHADOW_IDLE,
};

/// Arguments of this subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print exactly one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Services planned.
    #[arg(long, default_value_t = 1000)]
    pub services: usize,
    /// Switches in the ring.
    #[arg(long, default_value_t = 64)]
    pub switches: u64,
    /// Planning rounds measured.
    #[arg(long, default_value_t = 200)]
    pub rounds: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    services: usize,
    switches: u64,
    backends_per_service: usize,
    round_p50_us: f64,
    round_p99_us: f64,
    scale_ups: usize,
    scale_downs: usize,
    reprogram_after_topology_change_ms: f64,
    actions_after_topology_change: usize,
    pool_leases_per_sec: f64,
}

const BACKENDS: usize = 4;

fn ring(n: u64, version: u64, hosts: BTreeMap<MacAddr, PortRef>) -> anyhow::Result<Snapshot> {
    // A ring past memory aborted the process ("memory allocation of ... bytes failed").
    let too_many = || anyhow::anyhow!("--switches {n}: not enough memory for a ring of that many");
    let count = usize::try_from(n).map_err(|_| too_many())?;
    let mut devices: Vec<DeviceId> = Vec::new();
    let mut links = Vec::new();
    devices
        .try_reserve_exact(count)
        .and_then(|()| links.try_reserve_exact(count.saturating_mul(2)))
        .map_err(|_| too_many())?;
    devices.extend((1..=n).map(DeviceId::openflow));
    for i in 1..=n {
        let next = i % n + 1;
        let a = PortRef::new(DeviceId::openflow(i), PortNo(1));
        let b = PortRef::new(DeviceId::openflow(next), PortNo(2));
        for key in [LinkKey::new(a, b), LinkKey::new(b, a)] {
            links.push(SnapshotLink {
                key,
                capacity_bps: 10_000_000_000,
                cost: 1,
            });
        }
    }
    Ok(Snapshot::build(
        Timestamp(0),
        version,
        devices,
        links,
        hosts,
    ))
}

fn mac(service: usize, i: usize) -> MacAddr {
    let s = service as u32;
    MacAddr([0x02, (s >> 16) as u8, (s >> 8) as u8, s as u8, 0, i as u8])
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len().saturating_sub(1)) as f64 * q).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

/// Entry point.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.services > 0 && args.services < 65_536,
        "--services must be 1..65535"
    );
    anyhow::ensure!(args.switches >= 3, "--switches must be at least 3");
    // `--rounds 0` exited 0 reading "p50 0.0 µs ... over 0 rounds".
    anyhow::ensure!(
        args.rounds > 0,
        "--rounds 0: no planning round would be measured (at least 1)"
    );
    let mut specs = Vec::new();
    let mut hosts = BTreeMap::new();
    for s in 0..args.services {
        // One /27 per service inside 10.0.0.0/8: 30 usable addresses each.
        let base = u32::from(Ipv4Addr::new(10, 0, 0, 0)) + (s as u32) * 32;
        let pool = Ipv4Network::new(Ipv4Addr::from(base), 27).context("pool")?;
        let backends: Vec<Backend> = (0..BACKENDS)
            .map(|i| Backend {
                ip: Ipv4Addr::from(base + 1 + i as u32),
                mac: mac(s, i),
                weight: 1,
            })
            .collect();
        for (i, b) in backends.iter().enumerate() {
            let device = (s * BACKENDS + i) as u64 % args.switches + 1;
            hosts.insert(
                b.mac,
                PortRef::new(DeviceId::openflow(device), PortNo(10 + i as u32)),
            );
        }
        let vip = Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + s as u32);
        specs.push(ServiceSpec {
            name: format!("svc{s}"),
            tenant: format!("t{s}"),
            vip,
            vip_mac: None,
            pool,
            backends,
            tier: (s % 4) as u8,
            instance_capacity_bps: 100_000_000,
            min_instances: 1,
            max_instances: 16,
            policy: None,
        });
    }
    let config = ServicesConfig {
        services: specs,
        ..ServicesConfig::default()
    };
    let mut registry = Services::new(&config, Timestamp(0)).context("building the services")?;
    let snapshot = ring(args.switches, 1, hosts.clone())?;
    let hot = Default::default();
    // The first round programs everything; it is measured separately below.
    registry.plan(
        Timestamp(0),
        |_| None,
        &snapshot,
        &hot,
        12,
        Duration::from_secs(1),
    );

    let mut times = Vec::with_capacity(args.rounds);
    let (mut ups, mut downs) = (0, 0);
    for r in 0..args.rounds {
        let now = Timestamp::from_secs(1 + r as u64);
        // Each service's demand swings between 0.1 and 6 instances' worth with its own phase.
        let demand = |spec: &ServiceSpec| {
            let phase = spec.vip.octets()[3] as f64 / 40.0;
            let x = ((r as f64 / 25.0) + phase).sin() * 0.5 + 0.5;
            let bps = 1e7 + x * 6e8;
            Some(Demand {
                point_bps: bps,
                upper_bps: bps * 1.1,
                lower_bps: bps * 0.9,
                planned_bps: bps * 1.1,
                steps: 12,
                pairs: 3,
            })
        };
        let started = Instant::now();
        let drafts = registry.plan(now, demand, &snapshot, &hot, 12, Duration::from_secs(1));
        times.push(started.elapsed());
        for d in &drafts {
            match d.rule {
                crate::core::Rule::ServicePredictedScaleUp => ups += 1,
                crate::core::Rule::ServiceScaleDown => downs += 1,
                _ => {}
            }
        }
        registry.take_hooks();
    }
    times.sort_unstable();

    // A topology change (new version): every service's egress ports are recomputed.
    let moved = ring(args.switches, 2, hosts)?;
    let started = Instant::now();
    let drafts = registry.plan(
        Timestamp::from_secs(10_000),
        |_| None,
        &moved,
        &hot,
        12,
        Duration::from_secs(1),
    );
    let reprogram = started.elapsed();
    let actions: usize = drafts.iter().map(|d| d.actions.len()).sum();

    // Pool leases: reserve and release shadows in a /16.
    let mut pool = AddressPool::new(
        "bench",
        "172.16.0.0/16".parse().context("pool")?,
        DEFAULT_SHADOW_IDLE,
    );
    let started = Instant::now();
    let mut leases = 0u64;
    while started.elapsed() < Duration::from_secs(1) {
        let got = pool.reserve_shadows("s", 1, 16, Timestamp(leases));
        leases += got.taken.len() as u64;
        for ip in got.taken {
            pool.release("s", ip);
        }
    }
    let report = Report {
        services: args.services,
        switches: args.switches,
        backends_per_service: BACKENDS,
        round_p50_us: percentile(&times, 0.5),
        round_p99_us: percentile(&times, 0.99),
        scale_ups: ups,
        scale_downs: downs,
        reprogram_after_topology_change_ms: reprogram.as_secs_f64() * 1e3,
        actions_after_topology_change: actions,
        pool_leases_per_sec: leases as f64 / started.elapsed().as_secs_f64(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "services {} x {} backends on a ring of {} switches",
            report.services, report.backends_per_service, report.switches
        );
        println!(
            "planning round          p50 {:>10.1} µs   p99 {:>10.1} µs   ({} scale-ups, {} scale-downs over {} rounds)",
            report.round_p50_us, report.round_p99_us, ups, downs, args.rounds
        );
        println!(
            "reprogram on topology   {:>10.1} ms        ({} actions)",
            report.reprogram_after_topology_change_ms, report.actions_after_topology_change
        );
        println!(
            "pool leases             {:>10.0} /s",
            report.pool_leases_per_sec
        );
    }
    Ok(())
}
