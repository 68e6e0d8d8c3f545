//! The demo's services, configured through the same types `prescient run` reads from
//! `[[pools]]`, `[[policies]]`, `[[services]]` and `[[hooks]]`: one service per trend of the
//! traffic model (growing, shrinking, scale-out), in front of the sim host that receives that
//! trend's traffic, and one webhook to the emulated orchestrator.
//!
//! Sizing: an instance's capacity is a share of the service's full demand (the sum of its
//! pairs' base rates), so the growing service outgrows one instance early in its growth, the
//! scale-out one when its step lands, and the shrinking one, which starts with a second
//! (emulated) instance, fits in one from the start and gives the second back after the
//! policy's cool-down.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnetwork::Ipv4Network;
use prescient_sim::topology::SimTopology;
use prescient_sim::traffic::{TrafficModel, Trend};
use prescient_topology::MacAddr;

use super::orchestrator::Instance;
use crate::hooks::{HookConfig, HookTarget, HooksConfig};
use crate::services::{Backend, Policy, PoolConfig, ServiceSpec, ServicesConfig};

/// Name of the policy every demo service follows.
const POLICY: &str = "demo";
/// Most instances a demo service may run.
const MAX_INSTANCES: u32 = 6;

/// The demo's services and what the orchestrator starts with.
#[derive(Debug, Clone)]
pub struct DemoServices {
    /// Pools, policy and services.
    pub config: ServicesConfig,
    /// The instance each service runs at start (its sim host), by service name.
    pub initial: BTreeMap<String, Vec<Instance>>,
}

/// Gives each PoP its own subnet (10.0.<n>.1 for host n), so every service's tenant pool
/// can hold its host and spare addresses for new instances without taking another host's.
pub fn renumber_hosts(topo: &mut SimTopology) {
    for (i, h) in topo.hosts.iter_mut().enumerate() {
        h.ip = Ipv4Addr::new(10, 0, u8::try_from(i + 1).unwrap_or(u8::MAX), 1);
    }
}

/// Services for the trends of `model` over `topo`'s hosts.
pub fn demo_services(topo: &SimTopology, model: &TrafficModel) -> anyhow::Result<DemoServices> {
    let trends = model.services();
    let hosts: Vec<_> = trends
        .iter()
        .filter_map(|s| topo.hosts.get(s.dst))
        .collect();
    let pools = disjoint_pools(&hosts.iter().map(|h| h.ip).collect::<Vec<_>>())?;
    let mut config = ServicesConfig {
        policies: vec![Policy {
            name: POLICY.to_string(),
            scale_up_at: 0.8,
            scale_up_step: 1,
            scale_down_below: 0.3,
            cool_down: Duration::from_secs(30),
            migrate_on_hot_edge: false,
        }],
        ..ServicesConfig::default()
    };
    let mut initial = BTreeMap::new();
    for (k, ((service, host), pool)) in trends.iter().zip(&hosts).zip(pools).enumerate() {
        let name = format!("{}-{}", service.trend.kind(), host.name);
        let full_bps: f64 = model
            .pairs()
            .iter()
            .filter(|p| p.dst == service.dst)
            .map(|p| p.base_bps)
            .sum();
        let share = match service.trend {
            Trend::Growing { .. } => 0.08,
            Trend::ScaleOut { .. } => 2.0,
            Trend::Shrinking { .. } => 2.5,
        };
        let capacity = (full_bps * share).max(1_000_000.0) as u64;
        let tenant = format!("tenant-{}", service.trend.kind());
        config.pools.push(PoolConfig {
            tenant: tenant.clone(),
            network: pool,
            shadow_idle: Duration::from_secs(120),
        });
        let mut running = vec![Instance {
            ip: Some(host.ip),
            mac: host.mac.0,
        }];
        // The shrinking service starts with a second (emulated) instance, so its decline
        // shows as a scale-down the orchestrator carries out.
        if let Trend::Shrinking { .. } = service.trend {
            let spare = pool
                .iter()
                .find(|ip| *ip != host.ip && *ip != pool.network() && *ip != pool.broadcast());
            if let Some(ip) = spare {
                let k = u8::try_from(k).unwrap_or(u8::MAX);
                running.push(Instance {
                    ip: Some(ip),
                    mac: [0x02, 0x0e, 0xff, 0, 0, k],
                });
            }
        }
        config.services.push(ServiceSpec {
            name: name.clone(),
            tenant,
            vip: Ipv4Addr::new(100, 64, 0, u8::try_from(k + 1).unwrap_or(u8::MAX)),
            vip_mac: None,
            pool,
            backends: running
                .iter()
                .filter_map(|i| {
                    Some(Backend {
                        ip: i.ip?,
                        mac: MacAddr(i.mac),
                        weight: 1,
                    })
                })
                .collect(),
            tier: u8::try_from(k).unwrap_or(u8::MAX),
            instance_capacity_bps: capacity,
            min_instances: 1,
            max_instances: MAX_INSTANCES,
            policy: Some(POLICY.to_string()),
        });
        initial.insert(name, running);
    }
    Ok(DemoServices { config, initial })
}

/// One webhook delivering every call to `url`.
pub fn demo_hooks(url: &str) -> anyhow::Result<HooksConfig> {
    Ok(HooksConfig {
        hooks: vec![HookConfig {
            name: "demo-orchestrator".to_string(),
            target: HookTarget::Http { url: url.parse()? },
            actions: Vec::new(),
            services: Vec::new(),
            timeout: Duration::from_secs(5),
            max_attempts: 5,
            backoff: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(5),
        }],
        ..HooksConfig::default()
    })
}

/// One pool per address: aligned blocks of /28 to /31 around each, where the address is
/// neither the network nor the broadcast address of a /30 or wider (the pool reserves those; a
/// /31 has neither), overlapping none of
/// the others' (pools never overlap); the largest such blocks, earlier addresses first.
fn disjoint_pools(ips: &[Ipv4Addr]) -> anyhow::Result<Vec<Ipv4Network>> {
    fn candidates(ip: Ipv4Addr) -> Vec<Ipv4Network> {
        (28..=31u8)
            .filter_map(|prefix| {
                let block = Ipv4Network::new(ip, prefix).ok()?;
                let block = Ipv4Network::new(block.network(), prefix).ok()?;
                let usable = prefix >= 31 || (ip != block.network() && ip != block.broadcast());
                usable.then_some(block)
            })
            .collect()
    }
    fn overlap(a: &Ipv4Network, b: &Ipv4Network) -> bool {
        a.contains(b.network()) || b.contains(a.network())
    }
    fn search(options: &[Vec<Ipv4Network>], chosen: &mut Vec<Ipv4Network>) -> bool {
        let Some((first, rest)) = options.split_first() else {
            return true;
        };
        for block in first {
            if chosen.iter().any(|c| overlap(c, block)) {
                continue;
            }
            chosen.push(*block);
            if search(rest, chosen) {
                return true;
            }
            chosen.pop();
        }
        false
    }
    let options: Vec<Vec<Ipv4Network>> = ips.iter().map(|ip| candidates(*ip)).collect();
    let mut chosen = Vec::with_capacity(ips.len());
    if search(&options, &mut chosen) {
        Ok(chosen)
    } else {
        anyhow::bail!("no disjoint pools of /28 to /31 around the service hosts {ips:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prescient_sim::topology::TopologyKind;
    use prescient_sim::traffic::{TrafficConfig, TrendConfig};

    #[test]
    fn one_valid_service_per_trend_in_front_of_its_host_with_disjoint_pools() {
        let mut topo = SimTopology::generate(TopologyKind::Abilene).unwrap();
        renumber_hosts(&mut topo);
        let model = TrafficModel::new(
            topo.hosts.len(),
            TrafficConfig {
                trends: TrendConfig::typical(),
                ..TrafficConfig::default()
            },
        );
        let demo = demo_services(&topo, &model).unwrap();
        assert_eq!(demo.config.services.len(), 3);
        // The controller's own checks accept it (pools disjoint, backends inside, VIPs out).
        crate::services::Services::new(&demo.config, prescient_topology::Timestamp(0)).unwrap();
        for (spec, trend) in demo.config.services.iter().zip(model.services()) {
            let host = &topo.hosts[trend.dst];
            assert_eq!(spec.backends[0].ip, host.ip);
            assert_eq!(spec.pool.prefix(), 28, "room for new instances");
            assert!(spec.name.starts_with(trend.trend.kind()));
            let instances = if trend.trend.kind() == "shrinking" {
                2
            } else {
                1
            };
            assert_eq!(demo.initial[&spec.name].len(), instances);
            assert_eq!(spec.backends.len(), instances);
        }
        assert!(demo_hooks("http://127.0.0.1:9/hook").is_ok());
    }

    #[test]
    fn pools_shrink_until_they_are_disjoint() {
        let ips = [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 5)];
        let pools = disjoint_pools(&ips).unwrap();
        assert_eq!(pools[0].to_string(), "10.0.0.0/30");
        assert_eq!(pools[1].to_string(), "10.0.0.4/30");
        let wide = disjoint_pools(&[Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 20)]);
        assert_eq!(wide.unwrap()[0].to_string(), "10.0.0.0/28");
        // 10.0.0.3 ends the /30 around it and its /29 would hold 10.0.0.5: a /31 it is.
        let tight = disjoint_pools(&[Ipv4Addr::new(10, 0, 0, 3), ips[1]]).unwrap();
        assert_eq!(tight[0].to_string(), "10.0.0.2/31");
        assert!(disjoint_pools(&[ips[0], ips[0]]).is_err());
    }
}
