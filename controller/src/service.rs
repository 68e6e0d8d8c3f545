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
use tokio_util::task::TaskTracker;

use crate::core::{CoreConfig, SharedCore};
use crate::driver::openflow::{self as driver, DriverConfig};
use crate::driver::p4runtime::{self, P4Target};
use crate::northbound::{self, ApiConfig, ApiState};
use crate::openflow_app::L2LearningFactory;

/// What the service is started with.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// OpenFlow listen address.
    pub openflow: SocketAddr,
    /// REST API and dashboard address; `None` runs without HTTP.
    pub http: Option<SocketAddr>,
    /// Idle timeout of reactively installed flows, seconds.
    pub idle_timeout: u16,
    /// Port and flow counter polling period.
    pub stats_interval: Option<Duration>,
    /// Core settings (topology, planning).
    pub core: CoreConfig,
    /// REST API settings.
    pub api: ApiConfig,
    /// Most switches connected at once.
    pub max_switches: usize,
    /// P4Runtime devices to drive.
    pub p4: Vec<P4Target>,
}

impl ServiceConfig {
    /// Defaults of `prescient run`: OpenFlow on `openflow`, HTTP on `http`.
    pub fn new(openflow: SocketAddr, http: Option<SocketAddr>) -> Self {
        ServiceConfig {
            openflow,
            http,
            idle_timeout: 60,
            stats_interval: Some(Duration::from_secs(2)),
            core: CoreConfig::default(),
            api: ApiConfig::from_env(),
            max_switches: 4096,
            p4: Vec::new(),
        }
    }
}

/// Why the service did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
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
}

/// A running controller.
pub struct Service {
    core: Arc<SharedCore>,
    openflow: OpenFlowController,
    http: Option<SocketAddr>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl Service {
    /// Starts every part; returns once all listeners are bound.
    pub async fn start(config: ServiceConfig) -> Result<Service, ServiceError> {
        let core = SharedCore::new(config.core.clone());
        let mut of = ControllerConfig::new(config.openflow);
        of.max_switches = config.max_switches;
        of.machine.stats_interval = config.stats_interval;
        let factory = L2LearningFactory {
            idle_timeout: config.idle_timeout,
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
        let tasks = TaskTracker::new();
        let http = http_listener.map(|(listener, bound)| {
            let state = ApiState::new(core.clone(), config.api.clone());
            let stop = cancel.clone();
            tasks.spawn(async move {
                if let Err(e) = northbound::serve_on(listener, state, stop).await {
                    tracing::error!("HTTP server stopped: {e}");
                }
            });
            bound
        });
        let driver_config = DriverConfig {
            control_interval: config.core.control_interval,
            ..DriverConfig::default()
        };
        let p4_probes = config
            .p4
            .iter()
            .map(|t| {
                let inbox = p4runtime::spawn(core.clone(), t.clone(), cancel.clone(), &tasks);
                (t.device_id, inbox)
            })
            .collect();
        tasks.spawn(driver::run(
            core.clone(),
            openflow.handle(),
            events,
            driver_config,
            p4_probes,
            cancel.clone(),
        ));
        Ok(Service {
            core,
            openflow,
            http,
            cancel,
            tasks,
        })
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

    /// Stops the driver and the API, then closes every switch session.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        self.openflow.shutdown().await;
    }
}
