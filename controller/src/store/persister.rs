//! Keeps the store in step with the core: every reservation the core changed (admitted,
//! released, preempted, rerouted, dropped, expired, restored) is written as it now stands, and
//! every service and scheduled event whose stored form differs from what was last committed
//! is written again (removed ones deleted). Services and events are compared rather than
//! tracked: services change in many places (API, planning, aging), and both are few.
//!
//! One mutex guards the store, and changes are taken from the core while it is held, so writes
//! reach the file in the order the core made them. A failed write puts its ids back into the
//! core's unsaved set, so the next sync retries them; nothing is lost while the core runs.
//! The API writes synchronously (an admission is acknowledged only once committed); everything
//! else is written by [`Persister::run`], woken by the decisions the core publishes and by a
//! periodic retry.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::core::calendar::CalendarEvent;

use super::{Store, StoreChange, StoreError, StoreLocation, StoredReservation, StoredService};
use crate::cluster::etcd_store::EtcdStore;
use crate::core::{ControllerEvent, SharedCore, Unsaved};

/// How often the background task retries a failed write (and catches changes no decision
/// announced).
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// The store, shared by the API handlers and the background task.
#[derive(Debug)]
pub struct Persister {
    state: Mutex<State>,
    location: StoreLocation,
}

#[derive(Debug)]
struct State {
    store: Option<Backend>,
    /// The services as last committed, by name.
    services: BTreeMap<String, StoredService>,
    /// The scheduled events as last committed, by id.
    events: BTreeMap<u64, CalendarEvent>,
    /// The next event id as last committed.
    next_event: u64,
    /// Cluster mode: the address records as last published (etcd key → JSON).
    addresses: BTreeMap<String, String>,
}

/// Where the records go: a redb file (single process) or etcd (cluster mode).
#[derive(Debug)]
enum Backend {
    Redb(Store),
    Etcd(Arc<EtcdStore>),
}

impl Backend {
    /// Writes `changes`; etcd's client is async, so this blocks on it (callers are on the
    /// blocking pool, see [`Persister::sync_async`]).
    fn apply(
        &self,
        changes: &[StoreChange],
        addresses: &[(String, Option<String>)],
    ) -> Result<(), StoreError> {
        match self {
            Backend::Redb(store) => store.apply(changes),
            Backend::Etcd(etcd) => block_on(etcd, etcd.apply(changes, addresses)),
        }
    }

    fn load(&self) -> Result<Vec<StoredReservation>, StoreError> {
        match self {
            Backend::Redb(store) => store.load(),
            Backend::Etcd(etcd) => block_on(etcd, etcd.list()).map(|l| l.reservations),
        }
    }

    fn load_services(&self) -> Result<Vec<StoredService>, StoreError> {
        match self {
            Backend::Redb(store) => store.load_services(),
            Backend::Etcd(etcd) => block_on(etcd, etcd.list()).map(|l| l.services),
        }
    }

    fn load_events(&self) -> Result<Vec<CalendarEvent>, StoreError> {
        match self {
            Backend::Redb(store) => store.load_events(),
            Backend::Etcd(etcd) => block_on(etcd, etcd.list()).map(|l| l.events),
        }
    }
}

fn block_on<T>(
    etcd: &EtcdStore,
    f: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(f),
        Err(_) => Err(StoreError::Etcd {
            path: etcd.name(),
            operation: "writing",
            why: "called outside the controller's runtime".to_string(),
        }),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while writing leaves redb's own state consistent (transactions are atomic).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Persister {
    /// Takes over `store`; the services and events it holds now are what later syncs compare
    /// with.
    pub fn new(store: Store) -> Result<Arc<Persister>, StoreError> {
        let services = store
            .load_services()?
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect();
        let events = store
            .load_events()?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let next_event = store.load_next_event_id()?.unwrap_or(0);
        Ok(Arc::new(Persister {
            location: store.location().clone(),
            state: Mutex::new(State {
                store: Some(Backend::Redb(store)),
                services,
                events,
                next_event,
                addresses: BTreeMap::new(),
            }),
        }))
    }

    /// Writes to etcd (cluster mode), starting from `services` as committed. Only the leader
    /// writes: on a follower a sync takes the core's changes (they came from the store) and
    /// answers [`StoreError::NotLeader`].
    pub fn etcd(store: Arc<EtcdStore>, services: Vec<StoredService>) -> Arc<Persister> {
        Arc::new(Persister {
            location: StoreLocation::Etcd(store.cluster().config().endpoints.join(",")),
            state: Mutex::new(State {
                store: Some(Backend::Etcd(store)),
                services: services.into_iter().map(|s| (s.name.clone(), s)).collect(),
                events: BTreeMap::new(),
                next_event: 0,
                addresses: BTreeMap::new(),
            }),
        })
    }

    /// Takes `services` and `events` as what the store holds now (a new leader, after
    /// re-listing).
    pub fn rebase(
        &self,
        services: Vec<StoredService>,
        (events, next_event): (Vec<CalendarEvent>, u64),
        addresses: BTreeMap<String, String>,
    ) {
        let mut state = lock(&self.state);
        state.services = services.into_iter().map(|s| (s.name.clone(), s)).collect();
        state.events = events.into_iter().map(|e| (e.id, e)).collect();
        state.next_event = next_event;
        state.addresses = addresses;
    }

    /// Where the store lives.
    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// Writes every change the core has not saved yet, in one transaction; returns how many.
    /// Blocks on the disk: from async code use [`Persister::sync_async`].
    pub fn sync(&self, core: &SharedCore) -> Result<usize, StoreError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let Some(store) = state.store.as_ref() else {
            return Err(StoreError::Closed {
                path: self.location.to_string(),
            });
        };
        if let Backend::Etcd(etcd) = store {
            if !etcd.cluster().is_leader() {
                // A follower's core changes only by mirroring the store: nothing to write.
                core.apply(|c| c.take_unsaved());
                return Err(StoreError::NotLeader { path: etcd.name() });
            }
        }
        let unsaved = core.apply(|c| c.take_unsaved());
        let services: BTreeMap<String, StoredService> = core.read(|c| {
            c.services()
                .records()
                .iter()
                .map(|r| (r.spec.name.clone(), StoredService::new(r)))
                .collect()
        });
        let mut changes: Vec<StoreChange> = unsaved
            .iter()
            .map(|u| match u {
                Unsaved::Present(r) => StoreChange::Put(StoredReservation::saved(r)),
                Unsaved::Gone(id) => StoreChange::Delete(id.0),
            })
            .collect();
        for (name, s) in &services {
            if state.services.get(name) != Some(s) {
                changes.push(StoreChange::PutService(s.clone()));
            }
        }
        for name in state.services.keys() {
            if !services.contains_key(name) {
                changes.push(StoreChange::DeleteService(name.clone()));
            }
        }
        let events: BTreeMap<u64, CalendarEvent> =
            core.read(|c| c.calendar().map(|e| (e.id, e.clone())).collect());
        for (id, e) in &events {
            if state.events.get(id) != Some(e) {
                changes.push(StoreChange::PutEvent(e.clone()));
            }
        }
        for id in state.events.keys() {
            if !events.contains_key(id) {
                changes.push(StoreChange::DeleteEvent(*id));
            }
        }
        let next_event = core.read(|c| c.next_event_id());
        // 1 is where a controller starts: nothing to keep until an event was created.
        if next_event > state.next_event && next_event > 1 {
            changes.push(StoreChange::NextEventId(next_event));
        }
        // Cluster mode publishes the address records host agents watch, in the same
        // transaction as the services they derive from.
        let addresses: BTreeMap<String, String> = match store {
            Backend::Etcd(_) => core.read(|c| {
                c.services()
                    .address_records()
                    .iter()
                    .filter_map(|r| Some((r.etcd_key(), serde_json::to_string(r).ok()?)))
                    .collect()
            }),
            Backend::Redb(_) => BTreeMap::new(),
        };
        let mut published: Vec<(String, Option<String>)> = addresses
            .iter()
            .filter(|(k, v)| state.addresses.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        published.extend(
            state
                .addresses
                .keys()
                .filter(|k| !addresses.contains_key(*k))
                .map(|k| (k.clone(), None)),
        );
        if changes.is_empty() && published.is_empty() {
            return Ok(0);
        }
        match store.apply(&changes, &published) {
            Ok(()) => {
                state.services = services;
                state.events = events;
                state.next_event = state.next_event.max(next_event);
                state.addresses = addresses;
                Ok(changes.len())
            }
            Err(e) => {
                let ids = unsaved.iter().map(|u| match u {
                    Unsaved::Present(r) => r.reservation.id,
                    Unsaved::Gone(id) => *id,
                });
                let ids: Vec<_> = ids.collect();
                core.apply(|c| c.mark_unsaved(ids));
                Err(e)
            }
        }
    }

    /// [`Persister::sync`] on the blocking pool.
    pub async fn sync_async(self: &Arc<Self>, core: &Arc<SharedCore>) -> Result<usize, StoreError> {
        let (me, core) = (Arc::clone(self), Arc::clone(core));
        match tokio::task::spawn_blocking(move || me.sync(&core)).await {
            Ok(r) => r,
            Err(join) => Err(StoreError::Closed {
                path: format!("{} (writer task failed: {join})", self.location),
            }),
        }
    }

    /// Every stored reservation, as the store has it now.
    pub fn load(&self) -> Result<Vec<StoredReservation>, StoreError> {
        match lock(&self.state).store.as_ref() {
            Some(store) => store.load(),
            None => Err(StoreError::Closed {
                path: self.location.to_string(),
            }),
        }
    }

    /// Closes the file: later syncs fail with [`StoreError::Closed`], and another store can
    /// open it.
    pub fn close(&self) {
        lock(&self.state).store.take();
    }

    /// Every stored service, as the store has it now.
    pub fn load_services(&self) -> Result<Vec<StoredService>, StoreError> {
        match lock(&self.state).store.as_ref() {
            Some(store) => store.load_services(),
            None => Err(StoreError::Closed {
                path: self.location.to_string(),
            }),
        }
    }

    /// Every stored scheduled event, as the store has it now.
    pub fn load_events(&self) -> Result<Vec<CalendarEvent>, StoreError> {
        match lock(&self.state).store.as_ref() {
            Some(store) => store.load_events(),
            None => Err(StoreError::Closed {
                path: self.location.to_string(),
            }),
        }
    }

    /// Writes the core's changes as they happen until `stop`; the caller does the final sync.
    pub async fn run(self: Arc<Self>, core: Arc<SharedCore>, stop: CancellationToken) {
        let mut events = core.subscribe();
        let mut retry = tokio::time::interval(RETRY_INTERVAL);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut failing = false;
        loop {
            let due = tokio::select! {
                _ = stop.cancelled() => break,
                ev = events.recv() => match ev {
                    Ok(ControllerEvent::Decision(_)) | Err(RecvError::Lagged(_)) => true,
                    Ok(_) => false,
                    Err(RecvError::Closed) => break,
                },
                _ = retry.tick() => true,
            };
            if !due {
                continue;
            }
            match self.sync_async(&core).await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!("store {}: writing again", self.location);
                }
                Ok(_) => {}
                Err(StoreError::Closed { .. }) => break,
                Err(StoreError::NotLeader { .. }) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::error!("{e}; retrying every {RETRY_INTERVAL:?}");
                }
                Err(_) => {}
            }
        }
    }
}
