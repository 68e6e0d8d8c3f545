//! The core as shared by the southbound driver and the HTTP handlers.
//!
//! Writers take the mutex for one entry point at a time; the events an entry point produced are
//! published after the lock is released. Topology readers use the snapshot, which needs no lock.
//! The bus is a bounded broadcast: a subscriber that falls more than [`EVENT_BUS_CAPACITY`]
//! events behind loses the oldest ones (and is told so), the core never waits for it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use prescient_topology::{Snapshot, SnapshotReader, Timestamp};
use tokio::sync::{broadcast, Notify};

use super::{Action, ControllerCore, ControllerEvent, CoreConfig};

/// Events buffered per subscriber.
pub const EVENT_BUS_CAPACITY: usize = 1024;

/// Where handlers get `now` from.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Counters the southbound driver bumps; exported at `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    messages: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    /// Counts `n` southbound messages of type `kind` (e.g. `packet_in`, `port_stats`).
    pub fn count_messages(&self, kind: &str, n: u64) {
        let mut m = lock(&self.messages);
        match m.get_mut(kind) {
            Some(c) => *c = c.saturating_add(n),
            None => {
                m.insert(kind.to_string(), n);
            }
        }
    }

    /// Messages counted so far, by type.
    pub fn messages(&self) -> BTreeMap<String, u64> {
        lock(&self.messages).clone()
    }
}

/// A poisoned lock only means a panic elsewhere; the data is still consistent per entry point.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The shared core.
pub struct SharedCore {
    core: Mutex<ControllerCore>,
    snapshots: SnapshotReader,
    bus: broadcast::Sender<ControllerEvent>,
    metrics: Metrics,
    clock: Clock,
    /// Actions produced by API calls (reservations), waiting for the southbound driver.
    outlet: Mutex<VecDeque<Action>>,
    outlet_ready: Notify,
}

impl std::fmt::Debug for SharedCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCore").finish_non_exhaustive()
    }
}

/// Wall-clock time since the Unix epoch.
pub fn system_clock() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl SharedCore {
    /// A shared core on the system clock.
    pub fn new(config: CoreConfig) -> Arc<Self> {
        Self::with_clock(config, Arc::new(system_clock))
    }

    /// A shared core reading time from `clock` (tests pass a fixed or stepped clock).
    pub fn with_clock(config: CoreConfig, clock: Clock) -> Arc<Self> {
        let core = ControllerCore::new(config);
        let snapshots = core.topology().reader();
        let (bus, _) = broadcast::channel(EVENT_BUS_CAPACITY);
        Arc::new(SharedCore {
            core: Mutex::new(core),
            snapshots,
            bus,
            metrics: Metrics::default(),
            clock,
            outlet: Mutex::new(VecDeque::new()),
            outlet_ready: Notify::new(),
        })
    }

    /// Runs one entry point under the lock, then publishes the events it produced.
    pub fn apply<R>(&self, f: impl FnOnce(&mut ControllerCore) -> R) -> R {
        let (out, events) = {
            let mut core = lock(&self.core);
            let out = f(&mut core);
            // Publishing the snapshot here keeps lock-free readers current.
            core.snapshot();
            (out, core.drain_events())
        };
        for e in events {
            // No subscriber is not an error: events are for whoever listens.
            let _ = self.bus.send(e);
        }
        out
    }

    /// Reads the core under the lock (keep `f` short).
    pub fn read<R>(&self, f: impl FnOnce(&ControllerCore) -> R) -> R {
        f(&lock(&self.core))
    }

    /// The latest topology snapshot, without locking the core.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshots.load()
    }

    /// A new subscriber to the event bus.
    pub fn subscribe(&self) -> broadcast::Receiver<ControllerEvent> {
        self.bus.subscribe()
    }

    /// Subscribers currently listening.
    pub fn subscribers(&self) -> usize {
        self.bus.receiver_count()
    }

    /// The southbound counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Hands actions produced outside the driver's own calls (by the API) to the driver.
    /// Unbounded on purpose: each action is desired state the switches must reach, and API
    /// calls are few; dropping one would leave a reservation without its meters.
    pub fn dispatch(&self, actions: Vec<Action>) {
        if actions.is_empty() {
            return;
        }
        lock(&self.outlet).extend(actions);
        self.outlet_ready.notify_one();
    }

    /// Waits until dispatched actions are pending, then takes them all, oldest first.
    /// Meant for one driver task.
    pub async fn next_actions(&self) -> Vec<Action> {
        loop {
            let notified = self.outlet_ready.notified();
            let pending: Vec<Action> = lock(&self.outlet).drain(..).collect();
            if !pending.is_empty() {
                return pending;
            }
            notified.await;
        }
    }

    /// Takes the dispatched actions pending now, without waiting.
    pub fn take_actions(&self) -> Vec<Action> {
        lock(&self.outlet).drain(..).collect()
    }

    /// Now, by the configured clock.
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prescient_topology::ReservationId;

    #[tokio::test]
    async fn the_driver_wakes_for_dispatched_actions() {
        let core = SharedCore::new(CoreConfig::default());
        let waiter = {
            let core = Arc::clone(&core);
            tokio::spawn(async move { core.next_actions().await })
        };
        tokio::task::yield_now().await;
        let a = Action::RemoveMeter {
            reservation: ReservationId(4),
            ports: Vec::new(),
        };
        core.dispatch(vec![a.clone()]);
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("joined");
        assert_eq!(got, vec![a]);
        assert!(core.take_actions().is_empty());
    }
}
