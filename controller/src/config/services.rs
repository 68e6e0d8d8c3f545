//! `[[pools]]`, `[[policies]]`, `[[services]]` and `[[hooks]]`: the services the controller
//! plans for, the orchestration policies they follow and where hook calls go. Strict like the
//! rest of the file: unknown keys refused, values checked once with the key named
//! (`services[1].backends[0].ip`), the whole registry built once at load so a bad pool overlap
//! or VIP clash is a configuration error, not a runtime surprise.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use ipnetwork::Ipv4Network;
use serde::Deserialize;

use crate::core::naming::parse_mac;
use crate::hooks::{HookConfig, HookTarget, HooksConfig};
use crate::services::{
    Backend, HookKind, Policy, PoolConfig, ServiceSpec, Services, ServicesConfig, ServicesError,
};

/// One `[[pools]]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PoolSection {
    /// Owner.
    pub tenant: String,
    /// Physical addresses, `a.b.c.d/len`.
    pub network: Ipv4Network,
    /// Unused shadow addresses go back to the pool after this many seconds.
    #[serde(default = "shadow_idle_secs")]
    pub shadow_idle_secs: u64,
}

/// One `[[policies]]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// Name services refer to (`default` replaces the built-in default).
    pub name: String,
    /// Scale up when the forecast upper bound exceeds this share of the instances' capacity.
    #[serde(default = "scale_up_at")]
    pub scale_up_at: f64,
    /// Fewest instances one scale-up asks for.
    #[serde(default = "one")]
    pub scale_up_step: u32,
    /// Consider scaling down below this share of one instance fewer.
    #[serde(default = "scale_down_below")]
    pub scale_down_below: f64,
    /// The low forecast must last this long, and no scaling may have happened for as long.
    #[serde(default = "cool_down_secs")]
    pub cool_down_secs: u64,
    /// Ask for migration when a backend's edge is predicted hot.
    #[serde(default = "yes")]
    pub migrate_on_hot_edge: bool,
}

/// One backend of a `[[services]]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BackendSection {
    /// Physical address.
    pub ip: Ipv4Addr,
    /// MAC, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// Load-balancing weight.
    #[serde(default = "one_u16")]
    pub weight: u16,
}

/// One `[[services]]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceSection {
    /// Unique name.
    pub name: String,
    /// Owner.
    pub tenant: String,
    /// Logical address clients use.
    pub vip: Ipv4Addr,
    /// MAC replies appear from; derived from the VIP when absent.
    #[serde(default)]
    pub vip_mac: Option<String>,
    /// Pool instance addresses come from.
    pub pool: Ipv4Network,
    /// Instances running at start.
    #[serde(default)]
    pub backends: Vec<BackendSection>,
    /// Priority for pool addresses.
    #[serde(default)]
    pub tier: u8,
    /// Traffic one instance serves, Mbit/s.
    pub instance_capacity_mbps: u64,
    /// Fewest instances.
    #[serde(default = "one")]
    pub min_instances: u32,
    /// Most instances.
    #[serde(default = "max_instances")]
    pub max_instances: u32,
    /// Policy name; `default` when absent.
    #[serde(default)]
    pub policy: Option<String>,
}

/// One `[[hooks]]`: exactly one of `url` and `program`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HookSection {
    /// Name in records.
    pub name: String,
    /// Webhook URL (`http://`).
    #[serde(default)]
    pub url: Option<String>,
    /// Program run with the call as JSON on stdin.
    #[serde(default)]
    pub program: Option<PathBuf>,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Actions it receives (`scale_up`, `scale_down`, `migrate`); all when empty.
    #[serde(default)]
    pub actions: Vec<HookKind>,
    /// Services it receives; all when empty.
    #[serde(default)]
    pub services: Vec<String>,
    /// Time allowed per attempt, milliseconds.
    #[serde(default = "timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts before giving up.
    #[serde(default = "max_attempts")]
    pub max_attempts: u32,
    /// Wait before the first retry, milliseconds (doubled each retry).
    #[serde(default = "backoff_ms")]
    pub backoff_ms: u64,
    /// Longest wait between attempts, milliseconds.
    #[serde(default = "backoff_cap_ms")]
    pub backoff_cap_ms: u64,
}

fn shadow_idle_secs() -> u64 {
    600
}
fn scale_up_at() -> f64 {
    0.8
}
fn scale_down_below() -> f64 {
    0.5
}
fn cool_down_secs() -> u64 {
    300
}
fn one() -> u32 {
    1
}
fn one_u16() -> u16 {
    1
}
fn yes() -> bool {
    true
}
fn max_instances() -> u32 {
    8
}
fn timeout_ms() -> u64 {
    5000
}
fn max_attempts() -> u32 {
    5
}
fn backoff_ms() -> u64 {
    500
}
fn backoff_cap_ms() -> u64 {
    30_000
}

/// A refused value: `(key, value, why)`.
pub type Refusal = (String, String, String);

fn mac(key: &str, text: &str) -> Result<prescient_topology::MacAddr, Refusal> {
    parse_mac(text).ok_or_else(|| {
        (
            key.to_string(),
            format!("{text:?}"),
            "is not a MAC `aa:bb:cc:dd:ee:ff`".to_string(),
        )
    })
}

fn refusal(prefix: &str, e: ServicesError) -> Refusal {
    match e {
        ServicesError::Invalid { field, value, why } => (format!("{prefix}{field}"), value, why),
        ServicesError::UnknownPolicy(p) => (
            format!("{prefix}policy"),
            format!("{p:?}"),
            "no [[policies]] entry has this name".to_string(),
        ),
        other => (
            prefix.trim_end_matches('.').to_string(),
            String::new(),
            other.to_string(),
        ),
    }
}

/// The services configuration the sections describe, checked by building the registry.
pub fn services_config(
    pools: &[PoolSection],
    policies: &[PolicySection],
    services: &[ServiceSection],
) -> Result<ServicesConfig, Refusal> {
    let mut cfg = ServicesConfig::default();
    for (i, p) in policies.iter().enumerate() {
        // The registry keeps policies by name: a second entry of one name silently replaced
        // the first.
        if let Some(j) = policies[..i].iter().position(|q| q.name == p.name) {
            return Err((
                format!("policies[{i}].name"),
                format!("{:?}", p.name),
                format!("names a policy already defined (policies[{j}])"),
            ));
        }
        let policy = Policy {
            name: p.name.clone(),
            scale_up_at: p.scale_up_at,
            scale_up_step: p.scale_up_step,
            scale_down_below: p.scale_down_below,
            cool_down: Duration::from_secs(p.cool_down_secs),
            migrate_on_hot_edge: p.migrate_on_hot_edge,
        };
        policy
            .check("")
            .map_err(|e| refusal(&format!("policies[{i}]."), e))?;
        cfg.policies.push(policy);
    }
    for (i, p) in pools.iter().enumerate() {
        // Tenants name etcd prefixes and URL segments of address records.
        if !crate::services::model::name_ok_chars(&p.tenant) {
            return Err((
                format!("pools[{i}].tenant"),
                format!("{:?}", p.tenant),
                "must be 1 to 64 characters of A-Z a-z 0-9 . _ -".into(),
            ));
        }
        // The registry takes the same pool again and keeps its first settings: a repeat's
        // shadow_idle_secs was silently ignored.
        let base = |n: Ipv4Network| (n.network(), n.prefix());
        if let Some(j) = pools[..i]
            .iter()
            .position(|q| base(q.network) == base(p.network))
        {
            return Err((
                format!("pools[{i}].network"),
                p.network.to_string(),
                format!("is the network of pools[{j}] already"),
            ));
        }
        if p.shadow_idle_secs == 0 {
            return Err((
                format!("pools[{i}].shadow_idle_secs"),
                "0".into(),
                "must be at least 1".into(),
            ));
        }
        cfg.pools.push(PoolConfig {
            tenant: p.tenant.clone(),
            network: p.network,
            shadow_idle: Duration::from_secs(p.shadow_idle_secs),
        });
        // Each pool alone, so an overlap names the pool that brought it.
        let partial = ServicesConfig {
            pools: cfg.pools.clone(),
            ..ServicesConfig::default()
        };
        Services::new(&partial, prescient_topology::Timestamp(0)).map_err(|e| {
            (
                format!("pools[{i}].network"),
                p.network.to_string(),
                e.to_string(),
            )
        })?;
    }
    for (i, s) in services.iter().enumerate() {
        let key = |f: &str| format!("services[{i}].{f}");
        let backends = s
            .backends
            .iter()
            .enumerate()
            .map(|(j, b)| {
                Ok(Backend {
                    ip: b.ip,
                    mac: mac(&key(&format!("backends[{j}].mac")), &b.mac)?,
                    weight: b.weight,
                })
            })
            .collect::<Result<Vec<_>, Refusal>>()?;
        let vip_mac = match &s.vip_mac {
            Some(m) => Some(mac(&key("vip_mac"), m)?),
            None => None,
        };
        cfg.services.push(ServiceSpec {
            name: s.name.clone(),
            tenant: s.tenant.clone(),
            vip: s.vip,
            vip_mac,
            pool: s.pool,
            backends,
            tier: s.tier,
            instance_capacity_bps: s.instance_capacity_mbps.saturating_mul(1_000_000),
            min_instances: s.min_instances,
            max_instances: s.max_instances,
            policy: s.policy.clone(),
        });
    }
    // Services one by one on top of the pools and policies, so an error names its service.
    let base = ServicesConfig {
        services: Vec::new(),
        ..cfg.clone()
    };
    let mut registry =
        Services::new(&base, prescient_topology::Timestamp(0)).map_err(|e| refusal("pools.", e))?;
    for (i, spec) in cfg.services.iter().enumerate() {
        registry
            .create(spec.clone(), prescient_topology::Timestamp(0))
            .map_err(|e| refusal(&format!("services[{i}]."), e))?;
    }
    Ok(cfg)
}

/// The hooks the sections describe.
pub fn hooks_config(hooks: &[HookSection]) -> Result<HooksConfig, Refusal> {
    let mut out = HooksConfig::default();
    for (i, h) in hooks.iter().enumerate() {
        let key = |f: &str| format!("hooks[{i}].{f}");
        // Records and errors name a hook by its name.
        if h.name.trim().is_empty() {
            return Err((
                key("name"),
                format!("{:?}", h.name),
                "must not be empty".into(),
            ));
        }
        if let Some(j) = hooks[..i].iter().position(|g| g.name == h.name) {
            return Err((
                key("name"),
                format!("{:?}", h.name),
                format!("names a hook already defined (hooks[{j}])"),
            ));
        }
        if h.url.is_some() && !h.args.is_empty() {
            return Err((
                key("args"),
                format!("{:?}", h.args),
                "arguments are passed to a `program`; a `url` hook would ignore them".into(),
            ));
        }
        let target = match (&h.url, &h.program) {
            (Some(url), None) => {
                let uri: hyper::Uri = url
                    .parse()
                    .map_err(|e| (key("url"), format!("{url:?}"), format!("is not a URL: {e}")))?;
                if uri.scheme_str() != Some("http") || uri.host().is_none() {
                    return Err((
                        key("url"),
                        format!("{url:?}"),
                        "must be an http:// URL with a host".into(),
                    ));
                }
                HookTarget::Http { url: uri }
            }
            (None, Some(program)) => HookTarget::Exec {
                program: program.clone(),
                args: h.args.clone(),
            },
            _ => {
                return Err((
                    key("url"),
                    String::new(),
                    "give exactly one of `url` and `program`".into(),
                ))
            }
        };
        for (f, v) in [("timeout_ms", h.timeout_ms), ("backoff_ms", h.backoff_ms)] {
            if v == 0 {
                return Err((key(f), "0".into(), "must be at least 1".into()));
            }
        }
        if h.max_attempts == 0 {
            return Err((key("max_attempts"), "0".into(), "must be at least 1".into()));
        }
        if h.backoff_cap_ms < h.backoff_ms {
            return Err((
                key("backoff_cap_ms"),
                h.backoff_cap_ms.to_string(),
                format!("must be at least backoff_ms ({})", h.backoff_ms),
            ));
        }
        out.hooks.push(HookConfig {
            name: h.name.clone(),
            target,
            actions: h.actions.clone(),
            services: h.services.clone(),
            timeout: Duration::from_millis(h.timeout_ms),
            max_attempts: h.max_attempts,
            backoff: Duration::from_millis(h.backoff_ms),
            backoff_cap: Duration::from_millis(h.backoff_cap_ms),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const GOOD: &str = r#"
[[pools]]
tenant = "red"
network = "10.1.0.0/24"
shadow_idle_secs = 60

[[policies]]
name = "eager"
scale_up_at = 0.6
scale_up_step = 2

[[services]]
name = "web"
tenant = "red"
vip = "192.0.2.10"
pool = "10.1.0.0/24"
instance_capacity_mbps = 100
policy = "eager"
backends = [{ ip = "10.1.0.1", mac = "00:00:00:00:01:01" }]

[[hooks]]
name = "orchestrator"
url = "http://127.0.0.1:9000/scale"
actions = ["scale_up", "migrate"]
"#;

    fn err(text: &str) -> String {
        Config::parse(text, "c.toml").unwrap_err().to_string()
    }

    #[test]
    fn services_pools_policies_and_hooks_load() {
        let c = Config::parse(GOOD, "c.toml").expect("valid");
        let service = c.service("c.toml").expect("builds");
        assert_eq!(service.services.services.len(), 1);
        assert_eq!(
            service.services.services[0].instance_capacity_bps,
            100_000_000
        );
        assert_eq!(service.services.pools[0].shadow_idle.as_secs(), 60);
        assert_eq!(service.services.policies[0].scale_up_step, 2);
        assert_eq!(service.hooks.hooks.len(), 1);
        assert_eq!(service.hooks.hooks[0].max_attempts, 5);
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = err(&GOOD.replace("10.1.0.1\"", "10.9.0.1\""));
        assert!(
            e.contains("services[0].backends[0].ip") && e.contains("10.9.0.1"),
            "{e}"
        );
        let e = err(&GOOD.replace("00:00:00:00:01:01", "zz"));
        assert!(e.contains("services[0].backends[0].mac"), "{e}");
        let e = err(&GOOD.replace("policy = \"eager\"", "policy = \"lazy\""));
        assert!(
            e.contains("services[0].policy") && e.contains("lazy"),
            "{e}"
        );
        let e = err(&GOOD.replace("scale_up_at = 0.6", "scale_up_at = 1.6"));
        assert!(e.contains("policies[0].scale_up_at"), "{e}");
        let e = err(&format!(
            "{GOOD}\n[[pools]]\ntenant = \"blue\"\nnetwork = \"10.1.0.128/25\"\n"
        ));
        assert!(e.contains("pools[1].network") && e.contains("red"), "{e}");
        let e = err(&format!(
            "{GOOD}\n[[pools]]\ntenant = \"a/b\"\nnetwork = \"10.7.0.0/24\"\n"
        ));
        assert!(e.contains("pools[1].tenant") && e.contains("a/b"), "{e}");
        let e = err(&GOOD.replace("http://127.0.0.1:9000/scale", "ftp://x"));
        assert!(e.contains("hooks[0].url"), "{e}");
        let e = err(&GOOD.replace("\"migrate\"]", "\"reboot\"]"));
        assert!(e.contains("reboot"), "{e}");
        let e = err(&GOOD.replace("shadow_idle_secs = 60", "shadow_idle = 60"));
        assert!(e.contains("shadow_idle"), "{e}");
    }

    #[test]
    fn a_pool_given_twice_is_refused_not_half_applied() {
        let e = err(&format!(
            "{GOOD}\n[[pools]]\ntenant = \"red\"\nnetwork = \"10.1.0.7/24\"\nshadow_idle_secs = 5\n"
        ));
        assert!(
            e.contains("pools[1].network") && e.contains("pools[0]"),
            "{e}"
        );
    }

    #[test]
    fn repeated_names_and_ignored_hook_arguments_are_refused() {
        let e = err(&format!(
            "{GOOD}\n[[policies]]\nname = \"eager\"\nscale_up_at = 0.9\n"
        ));
        assert!(
            e.contains("policies[1].name") && e.contains("policies[0]"),
            "{e}"
        );
        let e = err(&format!(
            "{GOOD}\n[[hooks]]\nname = \"orchestrator\"\nprogram = \"/bin/true\"\n"
        ));
        assert!(e.contains("hooks[1].name") && e.contains("hooks[0]"), "{e}");
        let e = err(&GOOD.replace("name = \"orchestrator\"", "name = \"\""));
        assert!(e.contains("hooks[0].name"), "{e}");
        let e = err(&GOOD.replace("actions = [", "args = [\"--dry-run\"]\nactions = ["));
        assert!(
            e.contains("hooks[0].args") && e.contains("--dry-run"),
            "{e}"
        );
        let with_program = format!(
            "{GOOD}\n[[hooks]]\nname = \"script\"\nprogram = \"/bin/echo\"\nargs = [\"-n\"]\n"
        );
        let c = Config::parse(&with_program, "c.toml").expect("args with a program");
        assert_eq!(c.service("c.toml").expect("builds").hooks.hooks.len(), 2);
    }
}
