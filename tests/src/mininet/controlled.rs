//! A controller and a Mininet lab pointed at it, ready for traffic: the set-up the Open vSwitch
//! traffic tests share (`mininet_traffic`, `mininet_steer`, `mininet_forecast`).

use std::net::SocketAddr;
use std::time::Duration;

use prescient::northbound::ApiConfig;
use prescient::service::{Service, ServiceConfig};
use serde_json::{json, Value};
use tokio::sync::MutexGuard;

use super::{exclusive, Lab, LabHost, SystemOvs};

/// The REST API token of a lab's controller (writes need it; reads do not).
pub const LAB_TOKEN: &str = "lab-token";

/// A controller configuration for a lab: OpenFlow and the REST API on ephemeral loopback ports
/// ([`LAB_TOKEN`] for writes), LLDP every 300 ms and links gone 2 s after their last probe, so
/// a lab's cables are found, and a cable taken down is noticed, within seconds.
pub fn lab_config() -> ServiceConfig {
    let any: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut config = ServiceConfig::new(any, Some(any));
    config.core.topology.discovery.probe_interval = Duration::from_millis(300);
    // Twenty probes: the labs' iperf3 runs saturate the userspace datapath, which delays or
    // drops LLDP frames; with 2 s (about seven probes) a loaded link could expire mid-run and
    // its reservation move to another path (session 17's CI: s1 sent the reserved pair out of
    // the long way's port before any cut). Cuts are seen from port status, not from expiry.
    config.core.topology.discovery.link_timeout = Duration::from_secs(6);
    config.api = ApiConfig {
        token: Some(LAB_TOKEN.into()),
        protect_reads: false,
    };
    config
}

/// Reserves `rate_bps` (tier 1) from `src` to `dst`, named by their IPv4 addresses as a lab
/// user knows them, over the REST API at `api`; returns the answer, panicking unless it is 201.
pub async fn reserve(api: SocketAddr, src: &LabHost, dst: &LabHost, rate_bps: u64) -> Value {
    let body = json!({"src": src.ip, "dst": dst.ip, "rate_bps": rate_bps, "tier": 1});
    post_reservation(api, &body).await
}

/// Posts a reservation `body` over the REST API at `api`; returns the answer, panicking unless
/// it is 201.
pub async fn post_reservation(api: SocketAddr, body: &Value) -> Value {
    let (status, created) = crate::http::request(
        api,
        "POST",
        "/api/v1/reservations",
        Some(LAB_TOKEN),
        Some(body),
    )
    .await
    .expect("POST /reservations");
    assert_eq!(status, 201, "{created}");
    created
}

/// A running controller and its lab, after every host pinged every other (so the controller
/// knows where each is). Holds the labs' lock and the system Open vSwitch until dropped or
/// [`ControlledLab::shutdown`].
pub struct ControlledLab {
    /// The Mininet network (dropped first: it stops before the controller it points at).
    pub lab: Lab,
    /// The controller.
    pub service: Service,
    /// Its REST API.
    pub api: SocketAddr,
    /// The lab's hosts.
    pub hosts: Vec<LabHost>,
    ovs: SystemOvs,
    one_at_a_time: MutexGuard<'static, ()>,
}

impl ControlledLab {
    /// Starts a controller with `config`, then the lab `kind` (`ring`, `linear`, ..., or a
    /// topology file) of `size` pointed at it, and runs `pingAll`; panics, with Mininet's log,
    /// if a ping is lost.
    pub async fn start(config: ServiceConfig, kind: &str, size: usize) -> ControlledLab {
        let one_at_a_time = exclusive().await;
        let ovs = SystemOvs::ensure().expect("the system Open vSwitch");
        let service = Service::start(config)
            .await
            .expect("starting the controller");
        let api = service.http_addr().expect("the REST API");
        let mut lab = Lab::start(kind, size, service.openflow_addr(), Some(api))
            .await
            .expect("starting the Mininet lab");
        let loss = lab.ping_all().await.expect("pingAll");
        assert_eq!(loss, 0.0, "pings lost; Mininet:\n{}", lab.log());
        let hosts = lab.hosts().await.expect("the lab's hosts");
        ControlledLab {
            lab,
            service,
            api,
            hosts,
            ovs,
            one_at_a_time,
        }
    }

    /// The host Mininet calls `name` (`h1`, ...).
    pub fn host(&self, name: &str) -> LabHost {
        self.find(|h| h.name == name, name)
    }

    /// The host on switch `switch`.
    pub fn host_on(&self, switch: &str) -> LabHost {
        self.find(|h| h.switch == switch, switch)
    }

    fn find(&self, pred: impl Fn(&LabHost) -> bool, what: &str) -> LabHost {
        self.hosts
            .iter()
            .find(|h| pred(h))
            .cloned()
            .unwrap_or_else(|| panic!("no host {what} in the lab: {:?}", self.hosts))
    }

    /// Stops the lab, then the controller, then releases Open vSwitch and the labs' lock.
    pub async fn shutdown(self) {
        let ControlledLab {
            lab,
            service,
            ovs,
            one_at_a_time,
            ..
        } = self;
        drop(lab);
        service.shutdown().await;
        drop(ovs);
        drop(one_at_a_time);
    }
}
