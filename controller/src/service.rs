//! The running controller: OpenFlow listener, core, driver and REST API, started together and
//! stopped together. `prescient run` and `prescient demo` are thin shells around [`Service`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prescient_southbound::openflow::session::{
    ControllerConfig, OpenFlowController, OpenFlowHandle, SessionError,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cluster::replica::Replica;
use crate::cluster::{etcd_store, ClusterConfig, ClusterError, ClusterState};
use crate::core::{CoreConfig, Restored, SharedCore};
use crate::driver::forecast_pool::ForecastPool;
use crate::driver::openflow::{self as driver, DriverConfig};
use crate::driver::p4runtime::{self, P4Target};
use crate::northbound::{self, ApiConfig, ApiState};
use crate::openflow_app::{L2LearningFactory, PuntConfig, PuntPolicy};
use crate::store::{Persister, Store, StoreChange, StoreConfig, StoreError};
use crate::supervise::{TaskFailure, Tasks};
use crate::tls::{ServerTls, TlsError, TlsFiles};

/// Discovery-lane slots per admitted switch (see where the lane is sized).
const LLDP_SLOTS_PER_SWITCH: usize = 8;

/// What the service is started with.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// OpenFlow listen address.
    pub openflow: SocketAddr,
    /// Accept switches over TLS (certificate, key, and the CA their certificates need);
    /// `None`: plain TCP.
    pub openflow_tls: Option<ServerTls>,
    /// REST API and dashboard address; `None` runs without HTTP.
    pub http: Option<SocketAddr>,
    /// Serve the REST API over TLS with this certificate and key; `None`: plain HTTP.
    pub http_tls: Option<TlsFiles>,
    /// Serve plain HTTP on an address other than loopback (refused otherwise).
    pub allow_plaintext: bool,
    /// Accept switches over plain TCP on an address other than loopback (refused otherwise).
    pub openflow_allow_plaintext: bool,
    /// Idle timeout of reactively installed flows, seconds.
    pub idle_timeout: u16,
    /// Port and flow counter polling period.
    pub stats_interval: Option<Duration>,
    /// Core settings (topology, planning).
    pub core: CoreConfig,
    /// REST API settings.
    pub api: ApiConfig,
    /// Bearer tokens with a scope, beside `api.token` (which has every scope).
    pub api_tokens: Vec<crate::northbound::ScopedToken>,
    /// Most switches connected at once.
    pub max_switches: usize,
    /// Threads the OpenFlow sessions run on, each switch pinned to one (0: one per core).
    pub session_threads: usize,
    /// Longest a session thread busy-polls before sleeping (zero: never).
    pub busy_poll: Duration,
    /// P4Runtime devices to drive.
    pub p4: Vec<P4Target>,
    /// The state store (in memory unless a file is configured).
    pub store: StoreConfig,
    /// Services, pools and policies planned for.
    pub services: crate::services::ServicesConfig,
    /// Where hook calls go.
    pub hooks: crate::hooks::HooksConfig,
    /// Cluster mode: records in etcd, one leader at a time; `None`: single process.
    pub cluster: Option<ClusterConfig>,
}

impl ServiceConfig {
    /// Defaults of `prescient run`: OpenFlow on `openflow`, HTTP on `http`.
    pub fn new(openflow: SocketAddr, http: Option<SocketAddr>) -> Self {
        ServiceConfig {
            openflow,
            openflow_tls: None,
            http,
            http_tls: None,
            allow_plaintext: false,
            openflow_allow_plaintext: false,
            idle_timeout: 60,
            stats_interval: Some(Duration::from_secs(2)),
            core: CoreConfig::default(),
            api: ApiConfig::from_env(),
            api_tokens: Vec::new(),
            max_switches: 4096,
            session_threads: 0,
            busy_poll: Duration::ZERO,
            p4: Vec::new(),
            store: StoreConfig::default(),
            services: Default::default(),
            hooks: Default::default(),
            cluster: None,
        }
    }
}

/// Why the service did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The configured services were refused (pools overlap, VIP clash, ...).
    #[error("services: {0}")]
    Services(#[from] crate::services::ServicesError),
    /// The OpenFlow listener could not start.
    #[error("OpenFlow listener: {0}")]
    OpenFlow(#[from] SessionError),
    /// The HTTP listener could not bind.
    #[error("HTTP listener on {addr}: {source}")]
    Http {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Plain HTTP asked for on an address other than loopback, without `allow_plaintext`.
    #[error(
        "refusing to serve the REST API as plain HTTP on {addr}, which is not a loopback \
         address: set [http] tls_cert and tls_key, or allow_plaintext = true (--allow-plaintext)"
    )]
    Plaintext {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// Plain OpenFlow asked for on an address other than loopback, without
    /// `[openflow] allow_plaintext`.
    #[error(
        "refusing to accept OpenFlow switches over plain TCP on {addr}, which is not a loopback \
         address (anyone who reaches it can program the network): set [openflow] tls_cert and \
         tls_key (switches then connect with ssl:), or [openflow] allow_plaintext = true \
         (--allow-plaintext)"
    )]
    OpenFlowPlaintext {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The OpenFlow listener's certificate, key or CA did not load (the error names the file).
    #[error("OpenFlow TLS: {0}")]
    OpenFlowTls(#[source] TlsError),
    /// The REST API's certificate or key did not load (the error names the file).
    #[error("REST API TLS: {0}")]
    HttpTls(#[source] TlsError),
    /// The state store could not be opened or read (the error names its path).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Cluster mode could not start (etcd unreachable: the error names the endpoints).
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The threads the control tick forecasts on could not start.
    #[error("forecast threads: {0}")]
    ForecastThreads(#[source] rayon::ThreadPoolBuildError),
}

/// The store as opened, before the listeners are bound.
enum Opened {
    Redb(Arc<Persister>),
    Etcd(Box<etcd_client::Client>, ClusterConfig),
}

/// A running controller.
pub struct Service {
    core: Arc<SharedCore>,
    persister: Arc<Persister>,
    openflow: OpenFlowController,
    http: Option<SocketAddr>,
    https: bool,
    cancel: CancellationToken,
    tasks: Tasks,
    cluster: Option<(Arc<ClusterState>, Arc<Replica>)>,
    api_tokens: crate::northbound::Tokens,
    tls_servers: crate::tls::reload::Servers,
}

impl Service {
    /// Starts every part; returns once all listeners are bound.
    pub async fn start(config: ServiceConfig) -> Result<Service, ServiceError> {
        // Refused before anything starts: credentials sent in clear over a network.
        let mut tls_servers = crate::tls::reload::Servers::default();
        let http_tls = match (config.http, &config.http_tls) {
            (Some(_), Some(files)) => {
                let (tls, reload) = northbound::tls::load(files).map_err(ServiceError::HttpTls)?;
                tls_servers.push("REST API", reload);
                Some(tls)
            }
            (Some(addr), None) if !addr.ip().is_loopback() && !config.allow_plaintext => {
                return Err(ServiceError::Plaintext { addr });
            }
            _ => None,
        };
        let https = http_tls.is_some();
        if config.openflow_tls.is_none()
            && !config.openflow.ip().is_loopback()
            && !config.openflow_allow_plaintext
        {
            return Err(ServiceError::OpenFlowPlaintext {
                addr: config.openflow,
            });
        }
        let openflow_tls = match &config.openflow_tls {
            Some(t) => {
                let (reload, tls) =
                    crate::tls::Reloadable::load(&t.files, t.client_ca.as_deref(), &[])
                        .map_err(ServiceError::OpenFlowTls)?;
                tls_servers.push("OpenFlow", reload);
                Some(Arc::new(tls))
            }
            None => None,
        };
        // Before anything binds: a controller without the threads to forecast on does not start.
        let forecast = Arc::new(ForecastPool::start(0).map_err(ServiceError::ForecastThreads)?);
        let mut core_config = config.core.clone();
        core_config.stale_after = core_config.stale_after_for_polls(
            config
                .stats_interval
                .into_iter()
                .chain(config.p4.iter().map(|t| t.stats_interval)),
        );
        let core = SharedCore::new(core_config);
        let services = crate::services::Services::new(&config.services, core.now())?;
        core.apply(|c| c.set_services(services));
        // The store first: a controller that cannot keep its promises does not start. Services
        // come back here, before any switch connects, so the first programming of every switch
        // already carries their translations. In cluster mode the replica brings them.
        let opened = match &config.cluster {
            Some(c) => Opened::Etcd(Box::new(etcd_store::connect(c).await?), c.clone()),
            None => Opened::Redb(restore(&core, &config)?),
        };
        let mut of = ControllerConfig::new(config.openflow);
        of.max_switches = config.max_switches;
        // Room for two probe rounds of every admitted switch at about four links each: when
        // thousands of switches connect at once, their first probes come back faster than the
        // loop takes them, and a dropped frame waits a whole probe interval for the next round
        // (8,192 lost 45,000 frames at 10,000 switches). Slots cost memory only while queued.
        of.discovery_capacity = of
            .discovery_capacity
            .max(config.max_switches.saturating_mul(LLDP_SLOTS_PER_SWITCH));
        of.tls = openflow_tls;
        of.machine.stats_interval = config.stats_interval;
        of.session_threads = match config.session_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        // Every node of a cluster connects to every switch: a follower (re)connecting must not
        // empty the tables the leader programs.
        of.busy_poll = config.busy_poll;
        of.clear_on_connect = config.cluster.is_none();
        of.write_latency = core
            .metrics()
            .write_latency(prescient_topology::Protocol::OpenFlow);
        of.counters = core.metrics().openflow_sessions();
        let factory = L2LearningFactory {
            idle_timeout: config.idle_timeout,
            punt: Some(PuntPolicy::new(
                core.clone(),
                PuntConfig::for_discovery(&config.core.topology.discovery),
            )),
            ..Default::default()
        };
        // HTTP is bound first: if it fails, nothing else has started yet.
        let http_listener = match config.http {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServiceError::Http { addr, source })?;
                let bound = listener
                    .local_addr()
                    .map_err(|source| ServiceError::Http { addr, source })?;
                Some((listener, bound))
            }
            None => None,
        };
        let (openflow, events) = OpenFlowController::bind(of, Arc::new(factory)).await?;
        let cancel = CancellationToken::new();
        let tasks = Tasks::new(cancel.clone());
        let (persister, cluster) = match opened {
            Opened::Redb(persister) => (persister, None),
            Opened::Etcd(client, cc) => {
                let api = cc.api.clone().unwrap_or_else(|| {
                    http_listener
                        .as_ref()
                        .map_or_else(String::new, |(_, bound)| url(https, *bound))
                });
                let state = ClusterState::new(cc, api);
                let store = etcd_store::EtcdStore::new(*client, state.clone());
                let persister = Persister::etcd(store.clone(), Vec::new());
                let grace = config
                    .store
                    .restore_grace
                    .unwrap_or(config.core.topology.discovery.link_timeout * 3);
                let replica = Replica::new(store.clone(), core.clone(), persister.clone(), grace);
                core.apply(|c| c.track_changes());
                tasks.spawn("replica", replica.clone().run(cancel.clone()));
                tasks.spawn(
                    "election",
                    crate::cluster::election::run(store, replica.clone(), cancel.clone()),
                );
                // A new leader learns the links from its own probes before it reconciles:
                // by a link timeout it has probed every link several times.
                let settle = config.core.topology.discovery.link_timeout;
                tasks.spawn(
                    "mastership",
                    crate::cluster::mastership::run(
                        state.clone(),
                        openflow.handle(),
                        settle,
                        cancel.clone(),
                    ),
                );
                (persister, Some((state, replica)))
            }
        };
        let api_tokens =
            crate::northbound::auth::tokens(config.api.token.as_deref(), &config.api_tokens);
        let http = http_listener.map(|(listener, bound)| {
            let mut state = ApiState::new(core.clone(), config.api.clone())
                .with_store(persister.clone())
                .with_tokens(api_tokens.clone());
            if let Some((c, _)) = &cluster {
                state = state.with_cluster(c.clone());
            }
            let stop = cancel.clone();
            tasks.spawn("REST API", async move {
                let served = match http_tls {
                    Some(tls) => northbound::tls::serve_tls_on(listener, state, stop, tls).await,
                    None => northbound::serve_on(listener, state, stop).await,
                };
                if let Err(e) = served {
                    tracing::error!("HTTP server stopped: {e}");
                }
            });
            bound
        });
        let driver_config = DriverConfig {
            control_interval: config.core.control_interval,
            cluster: cluster.as_ref().map(|(c, _)| c.clone()),
            ..DriverConfig::new(forecast)
        };
        for t in &config.p4 {
            if let (Some(files), Some(tls)) = (&t.tls_files, &t.tls) {
                tls_servers.push_p4_client(t.device_id, files.clone(), tls.clone());
            }
        }
        // Devices behind one P4Runtime server share its connections.
        let channels = prescient_southbound::p4runtime::ChannelPool::new();
        let p4_probes = config
            .p4
            .iter()
            .map(|t| {
                let inbox = p4runtime::spawn(
                    core.clone(),
                    t.clone(),
                    cluster.as_ref().map(|(c, _)| c.clone()),
                    channels.clone(),
                    cancel.clone(),
                    &tasks,
                );
                (t.device_id, inbox)
            })
            .collect();
        tasks.spawn(
            "persister",
            persister.clone().run(core.clone(), cancel.clone()),
        );
        tasks.spawn(
            "hooks",
            crate::hooks::run(core.clone(), config.hooks.clone(), cancel.clone()),
        );
        tasks.spawn(
            "driver",
            driver::run(
                core.clone(),
                openflow.handle(),
                events,
                driver_config,
                p4_probes,
                cancel.clone(),
            ),
        );
        Ok(Service {
            core,
            persister,
            openflow,
            http,
            https,
            cancel,
            tasks,
            cluster,
            api_tokens,
            tls_servers,
        })
    }

    /// The tokens the REST API takes: store a new list to rotate them without a restart.
    pub fn api_tokens(&self) -> &crate::northbound::Tokens {
        &self.api_tokens
    }

    /// The REST API's and the OpenFlow listener's TLS files: `reload()` re-reads them
    /// (certificate, key, clients' CA) for the connections that come next.
    pub fn tls_servers(&self) -> &crate::tls::reload::Servers {
        &self.tls_servers
    }

    /// Resolves when one of the controller's tasks (driver, persister, REST API, hooks, the
    /// cluster's) panicked or ended while the controller was running: it can no longer keep
    /// its promises, and the caller should [`Service::crash`] and exit non-zero.
    pub fn failure(&self) -> impl std::future::Future<Output = TaskFailure> + Send + 'static {
        self.tasks.failure()
    }

    /// Cluster mode: this node's view of the election.
    pub fn cluster(&self) -> Option<&Arc<ClusterState>> {
        self.cluster.as_ref().map(|(c, _)| c)
    }

    /// Cluster mode: this node's copy of the records.
    pub fn replica(&self) -> Option<&Arc<Replica>> {
        self.cluster.as_ref().map(|(_, r)| r)
    }

    /// Stops at once as a crashed process would: no final write, the lease left to expire
    /// (another node takes over after the TTL), every switch session dropped.
    pub async fn crash(self) {
        if let Some((c, _)) = &self.cluster {
            c.crash();
        }
        self.cancel.cancel();
        self.openflow.shutdown().await;
        self.tasks.wait().await;
        self.persister.close();
    }

    /// The core (for summaries and tests).
    pub fn core(&self) -> &Arc<SharedCore> {
        &self.core
    }

    /// Commands and queries to the OpenFlow switches.
    pub fn openflow(&self) -> OpenFlowHandle {
        self.openflow.handle()
    }

    /// The OpenFlow address actually bound.
    pub fn openflow_addr(&self) -> SocketAddr {
        self.openflow.local_addr()
    }

    /// The HTTP address actually bound, if any.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http
    }

    /// The REST API's base address (`https://…` when served over TLS), if any.
    pub fn http_url(&self) -> Option<String> {
        self.http.map(|addr| url(self.https, addr))
    }

    /// The state store.
    pub fn store(&self) -> &Arc<Persister> {
        &self.persister
    }

    /// Stops the driver and the API, writes what the store has not seen yet and closes it,
    /// then closes every switch session.
    pub async fn shutdown(self) {
        if self.cluster.is_some() {
            // While still leading: after the lease is revoked the write would be fenced off.
            let _ = self.persister.sync_async(&self.core).await;
        }
        self.cancel.cancel();
        self.tasks.wait().await;
        match self.persister.sync_async(&self.core).await {
            Ok(_) | Err(StoreError::NotLeader { .. }) => {}
            Err(e) => tracing::error!("final write: {e}"),
        }
        self.persister.close();
        self.openflow.shutdown().await;
    }
}

/// The base address of an API served on `addr`.
fn url(https: bool, addr: SocketAddr) -> String {
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{addr}")
}

/// Opens the store and puts its services and reservations back into the core; reservations
/// wait (`restoring`) for their paths. Reservations whose window ended, or that the ledger
/// refuses, are deleted from the store; so are services the configuration now overrides or
/// that no longer fit (see `services::durable`), at the first sync.
fn restore(core: &SharedCore, config: &ServiceConfig) -> Result<Arc<Persister>, ServiceError> {
    let store = Store::open(&config.store.location)?;
    let path = store.location().to_string();
    let restored = store
        .load()?
        .iter()
        .map(|s| {
            s.restored().map_err(|why| StoreError::Record {
                path: path.clone(),
                id: s.id,
                why,
            })
        })
        .collect::<Result<Vec<Restored>, _>>()?;
    let services = store
        .load_services()?
        .iter()
        .map(|s| {
            s.restored().map_err(|why| StoreError::ServiceRecord {
                path: path.clone(),
                name: s.name.clone(),
                why,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let events = store.load_events()?;
    if !events.is_empty() {
        tracing::info!("store {path}: {} scheduled event(s) restored", events.len());
    }
    let next_event = store.load_next_event_id()?.unwrap_or(0);
    core.apply(|c| {
        c.replace_calendar(events);
        c.skip_event_ids_below(next_event);
    });
    let now = core.now();
    let services = core.apply(|c| c.restore_services(now, services));
    for (name, why) in &services.dropped {
        tracing::error!("store {path}: service {name:?} cannot be restored: {why}; forgotten");
    }
    for (name, gone) in &services.trimmed {
        let gone: Vec<String> = gone.iter().map(ToString::to_string).collect();
        tracing::warn!(
            "store {path}: service {name:?}: its pool was resized; {} no longer in it, given up",
            gone.join(", ")
        );
    }
    if !services.restored.is_empty() {
        tracing::info!(
            "store {path}: {} service(s) restored with their address leases",
            services.restored.len()
        );
    }
    let grace = config
        .store
        .restore_grace
        .unwrap_or(config.core.topology.discovery.link_timeout * 3);
    let now = core.now();
    let report = core.apply(|c| {
        c.track_changes();
        c.restore(now, restored, grace)
    });
    for (id, why) in &report.refused {
        tracing::error!(
            "store {path}: reservation {} cannot be restored: {why}; deleted",
            id.0
        );
    }
    let gone: Vec<StoreChange> = report
        .expired
        .iter()
        .chain(report.refused.iter().map(|(id, _)| id))
        .map(|id| StoreChange::Delete(id.0))
        .collect();
    store.apply(&gone)?;
    if !report.restored.is_empty() {
        tracing::info!(
            "store {path}: {} reservation(s) restored, waiting for their paths ({} expired)",
            report.restored.len(),
            report.expired.len()
        );
    }
    if !report.failed.is_empty() {
        tracing::info!(
            "store {path}: {} failed reservation(s) restored, still failed until a path with room joins their hosts",
            report.failed.len()
        );
    }
    Ok(Persister::new(store)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{StoreConfig, StoreLocation};

    /// A task of a running controller that panics is reported by the service, and the service
    /// then stops as a crashed process would, without hanging on the dead task.
    #[tokio::test]
    async fn a_panicking_task_is_reported_and_the_service_crashes_cleanly() {
        let mut config = ServiceConfig::new(
            "127.0.0.1:0".parse().expect("address"),
            Some("127.0.0.1:0".parse().expect("address")),
        );
        config.store = StoreConfig {
            location: StoreLocation::InMemory,
            restore_grace: None,
        };
        let service = Service::start(config).await.expect("the controller starts");
        let failure = service.failure();
        service
            .tasks
            .spawn("planner", async { panic!("no path for {}", "a -> b") });
        let failure = tokio::time::timeout(Duration::from_secs(10), failure)
            .await
            .expect("the failure is reported");
        assert_eq!(
            failure.to_string(),
            "the planner task panicked: no path for a -> b"
        );
        tokio::time::timeout(Duration::from_secs(10), service.crash())
            .await
            .expect("the service stops after a task died");
    }
}
