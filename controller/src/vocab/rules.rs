//! The rules that make decisions, named in the decision log, in hook calls and in the API.

use serde::Serialize;
use utoipa::ToSchema;

/// The rule that made a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A link's forecast upper bound crossed the hot threshold.
    LinkPredictedHot,
    /// A hot link's forecast fell back below the threshold minus hysteresis.
    LinkCooled,
    /// A reservation was admitted.
    ReservationAdmitted,
    /// A reservation was released by its owner.
    ReservationReleased,
    /// A reservation's window ended.
    ReservationExpired,
    /// A reservation was preempted by a higher tier.
    ReservationPreempted,
    /// A topology change moved a reservation to a new path.
    ReservationRerouted,
    /// A topology change left a reservation with no path.
    ReservationDropped,
    /// A topology change left a reservation with no path for now: it keeps its place and
    /// waits for its path to come back (a restarting switch) until its grace period ends.
    ReservationWaiting,
    /// A service's predicted instances exceed its current ones: addresses pre-reserved,
    /// translations programmed, scale-up asked for.
    ServicePredictedScaleUp,
    /// A service's forecast stayed below its instances' capacity for the cool-down: scale-down
    /// asked for.
    ServiceScaleDown,
    /// A backend's edge link is predicted hot: migration asked for.
    ServiceBackendMigrate,
    /// A service or its backends were set (configuration, API, orchestrator report).
    ServiceBackendsSet,
    /// A service was removed.
    ServiceRemoved,
    /// The orchestrator announced an instance: its address was handed out and translated
    /// before it boots.
    InstancePreAssigned,
    /// An announced instance was reported up (a backend) or down.
    InstanceStateSet,
    /// An announced instance was released; its address is a shadow again.
    InstanceReleased,
    /// Pre-reserved addresses idle for too long went back to the pool.
    ShadowAddressesAged,
    /// A scheduled event over for longer than `[planning] calendar_retention_secs` was
    /// removed from the calendar (and the state store), as a DELETE would.
    CalendarEventPruned,
    /// A hook call finished (delivered, refused or given up).
    HookCompleted,
    /// A host pair's warm forecast reached the minimum: a forecast-origin reservation was
    /// admitted on its predicted path.
    ForecastReserved,
    /// A forecast-origin reservation was resized or moved to the pair's predicted path.
    ForecastResized,
    /// A forecast-origin reservation's window was extended to cover the horizon again.
    ForecastRenewed,
    /// A forecast-origin reservation was released (forecast below the minimum, planning off,
    /// or it yielded its room to an API reservation).
    ForecastReleased,
    /// A forecast-origin reservation could not be admitted, resized or moved (no room).
    ForecastRefused,
    /// A host pair whose traffic reached the controller was routed on its shortest path.
    PairRouted,
}
