//! The control tick as a future the driver loop polls beside the switches' events.
//!
//! The tick runs on the forecast pool in slices (`SharedCore::tick_in_slices`); the loop does
//! not wait for it in one of its arms, or it would handle no switch event, send no LLDP probe
//! and apply no action for the whole tick (a link that failed meanwhile would be rerouted only
//! after it: up to a second under a packet-in storm). It keeps [`InFlight`] and starts the next
//! tick only once this one has ended. The tick's actions do not come back through this future:
//! the tick puts them in the core's outlet as it decides them, where the loop takes every
//! action from, in the order the core decided them (`core/shared.rs`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use super::TICK_SLICE;
use crate::core::SharedCore;
use crate::driver::forecast_pool::ForecastPool;
use crate::driver::stride::TickCost;

/// What an ended tick reports to the stride governor.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ended {
    pub cost: TickCost,
    /// The stride the tick ran at.
    pub stride: u32,
}

/// The tick in flight, if any.
pub(super) type InFlight = Option<Pin<Box<dyn Future<Output = Ended> + Send>>>;

/// One control tick that was due at `due`, from its start to its figures.
///
/// [`crate::core::Metrics::tick_began`] is taken at the first poll and ends however the future
/// ends: finished (with the tick's figures), dropped (the loop was cancelled: the pool's job
/// runs its slices out, with no one left to apply its actions) or unwinding from a panic in the
/// tick, which this future resumes so that it reaches the driver's task and its supervisor.
pub(super) fn start(
    core: Arc<SharedCore>,
    pool: Arc<ForecastPool>,
    due: Instant,
) -> Pin<Box<dyn Future<Output = Ended> + Send>> {
    Box::pin(async move {
        let started = Instant::now();
        let now = core.now();
        let running = core.metrics().tick_began();
        let job = Arc::clone(&core);
        // On the forecast pool: the loop goes on without it, and the pool's threads run below
        // the sessions' priority.
        let (total, observed, forecast, stride) = pool
            .run(move || {
                job.tick_in_slices(now, TICK_SLICE);
                job.read(|c| {
                    (
                        c.series_count(),
                        c.observed_last_tick(),
                        c.forecast_cost_last_tick(),
                        c.series_stride(),
                    )
                })
            })
            .await;
        let took = started.elapsed();
        running.finish(started.saturating_duration_since(due), took, total, stride);
        Ended {
            cost: TickCost {
                took,
                forecast,
                observed,
                total,
            },
            stride,
        }
    })
}

/// The end of the tick in flight; never, when none is.
pub(super) async fn ended(tick: &mut InFlight) -> Ended {
    match tick {
        Some(t) => t.await,
        None => std::future::pending().await,
    }
}
