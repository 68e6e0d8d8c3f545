//! Every node's copy of the records, kept by a watch on [`keys::ROOT`] (client-go's
//! reflector shape): list, then watch from the revision after the listing; resume from the
//! last revision seen when a stream ends; on a compaction (`ErrCompacted`: the watch is
//! cancelled with a compact revision) or any watch error, list again and replace the copy
//! wholesale, so a record deleted while this node was away is never kept and none is applied
//! twice.
//!
//! A follower mirrors the copy into its core (mark and sweep: what the store lacks is
//! released, what differs is put back as the store has it), so every read over REST answers
//! from it. The leader's core is the truth and is not touched; the copy still follows (the
//! revisions it sees are what its writes compare against). On taking over, a node re-lists
//! and mirrors once more, from scratch, before it acts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use etcd_client::{EventType, WatchOptions};
use tokio_util::sync::CancellationToken;

use super::etcd_store::{decode, Decoded, EtcdStore, Listing};
use super::keys;
use crate::core::calendar::CalendarEvent;
use crate::core::{Origin, Restored, SharedCore};
use crate::store::{Persister, StoreError, StoredReservation, StoredService};

/// The records as etcd has them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Records {
    /// Reservations, by id.
    pub reservations: BTreeMap<u64, StoredReservation>,
    /// Services, by name.
    pub services: BTreeMap<String, StoredService>,
    /// Scheduled events, by id.
    pub events: BTreeMap<u64, CalendarEvent>,
    /// The id the next scheduled event gets (0: never written).
    pub next_event: u64,
    /// The revision they are at.
    pub revision: i64,
}

impl Records {
    fn from_listing(l: &Listing) -> Self {
        Records {
            reservations: l.reservations.iter().map(|r| (r.id, r.clone())).collect(),
            services: l
                .services
                .iter()
                .map(|s| (s.name.clone(), s.clone()))
                .collect(),
            events: l.events.iter().map(|e| (e.id, e.clone())).collect(),
            next_event: l.next_event,
            revision: l.revision,
        }
    }
}

/// The replica of one node.
#[derive(Debug)]
pub struct Replica {
    store: Arc<EtcdStore>,
    core: Arc<SharedCore>,
    persister: Arc<Persister>,
    records: Mutex<Records>,
    /// Re-lists done (after the first): compactions and watch errors.
    relists: std::sync::atomic::AtomicU64,
    grace: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Replica {
    /// A replica feeding `core`; restored reservations wait `grace` for their paths.
    pub fn new(
        store: Arc<EtcdStore>,
        core: Arc<SharedCore>,
        persister: Arc<Persister>,
        grace: Duration,
    ) -> Arc<Replica> {
        Arc::new(Replica {
            store,
            core,
            persister,
            records: Mutex::new(Records::default()),
            relists: Default::default(),
            grace,
        })
    }

    /// The records as last seen.
    pub fn records(&self) -> Records {
        lock(&self.records).clone()
    }

    /// How many times the watch was replaced by a full re-list since start.
    pub fn relists(&self) -> u64 {
        self.relists.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Before leading: the records as etcd has them now, mirrored into the core from
    /// scratch (every reservation restored afresh, waiting for its path), and taken by the
    /// persister as what is committed.
    pub async fn takeover(&self) -> Result<(), StoreError> {
        let listing = self.store.list().await?;
        self.store.reset_seen(&listing);
        let records = Records::from_listing(&listing);
        mirror(&self.core, &records, self.grace, true);
        self.persister.rebase(
            listing.services.clone(),
            (listing.events.clone(), listing.next_event),
            listing.addresses.clone(),
        );
        *lock(&self.records) = records;
        Ok(())
    }

    fn replace(&self, listing: &Listing) {
        self.store.reset_seen(listing);
        let records = Records::from_listing(listing);
        if !self.store.cluster().is_leader() {
            mirror(&self.core, &records, self.grace, false);
        }
        *lock(&self.records) = records;
    }

    /// Lists and watches until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut first = true;
        while !stop.is_cancelled() {
            let listing = match self.store.list().await {
                Ok(l) => l,
                Err(e) => {
                    tracing::debug!("cluster: replica: {e}; listing again");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(250)) => continue,
                    }
                }
            };
            if !first {
                self.relists
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            first = false;
            self.replace(&listing);
            let mut from = listing.revision + 1;
            // Resume from the last revision while the stream only ends; re-list on errors.
            loop {
                match self.watch(from, &stop).await {
                    Watched::Stopped => return,
                    Watched::Ended(next) => from = next,
                    Watched::Failed(why) => {
                        tracing::info!("cluster: replica: {why}; re-listing");
                        break;
                    }
                }
            }
        }
    }

    async fn watch(&self, from: i64, stop: &CancellationToken) -> Watched {
        let mut client = self.store.client();
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(from)
            .with_prev_key();
        let mut stream = match client.watch(keys::ROOT, Some(options)).await {
            Ok(s) => s,
            Err(e) => return Watched::Failed(format!("cannot watch: {e}")),
        };
        let mut next = from;
        loop {
            let msg = tokio::select! {
                _ = stop.cancelled() => return Watched::Stopped,
                m = stream.message() => m,
            };
            let resp = match msg {
                Ok(Some(r)) => r,
                Ok(None) => return Watched::Ended(next),
                Err(e) => return Watched::Failed(format!("watch error: {e}")),
            };
            if resp.compact_revision() > 0 {
                return Watched::Failed(format!(
                    "revision {next} was compacted (compact revision {})",
                    resp.compact_revision()
                ));
            }
            if resp.canceled() {
                return Watched::Failed(format!("watch cancelled: {}", resp.cancel_reason()));
            }
            let at = resp.header().map_or(next - 1, |h| h.revision());
            if let Err(why) = self.apply_events(resp.events(), at) {
                return Watched::Failed(why);
            }
            next = next.max(at + 1);
        }
    }

    fn apply_events(&self, events: &[etcd_client::Event], at: i64) -> Result<(), String> {
        if events.is_empty() {
            return Ok(());
        }
        let mut changed = false;
        {
            let mut records = lock(&self.records);
            for ev in events {
                let Some(kv) = ev.kv() else { continue };
                let Ok(key) = kv.key_str() else { continue };
                if !keys::is_record(key) {
                    continue;
                }
                changed = true;
                match ev.event_type() {
                    EventType::Put => {
                        self.store
                            .saw(key, kv.mod_revision(), Some(kv.mod_revision()));
                        match decode(key, kv.value()).map_err(|why| format!("{key}: {why}"))? {
                            Some(Decoded::Reservation(r)) => {
                                records.reservations.insert(r.id, r);
                            }
                            Some(Decoded::Service(s)) => {
                                records.services.insert(s.name.clone(), s);
                            }
                            Some(Decoded::Event(e)) => {
                                records.events.insert(e.id, e);
                            }
                            Some(Decoded::NextEvent(n)) => records.next_event = n,
                            None => {}
                        }
                    }
                    EventType::Delete => {
                        self.store.saw(key, kv.mod_revision(), None);
                        if let Some(id) = key.strip_prefix(keys::RESERVATIONS) {
                            if let Ok(id) = id.parse::<u64>() {
                                records.reservations.remove(&id);
                            }
                        } else if let Some(name) = key.strip_prefix(keys::SERVICES) {
                            records.services.remove(name);
                        } else if let Some(id) = key.strip_prefix(keys::CALENDAR) {
                            if let Ok(id) = id.parse::<u64>() {
                                records.events.remove(&id);
                            }
                        }
                    }
                }
            }
            records.revision = records.revision.max(at);
        }
        if changed && !self.store.cluster().is_leader() {
            let records = self.records();
            mirror(&self.core, &records, self.grace, false);
        }
        Ok(())
    }
}

enum Watched {
    Stopped,
    /// The stream ended; resume from this revision.
    Ended(i64),
    Failed(String),
}

/// Makes the core hold exactly `records` (forecast reservations, derived state, aside).
/// `fresh`: every reservation is put back anew, even one already held, so a new leader
/// starts each from `restoring` and installs its meters itself.
pub fn mirror(core: &SharedCore, records: &Records, grace: Duration, fresh: bool) {
    let now = core.now();
    core.apply(|c| {
        let mut held: Vec<(u64, StoredReservation)> = c
            .ledger()
            .reservations()
            .filter(|r| c.reservation_origin(r.id) != Origin::Forecast)
            .map(|r| (r.id.0, StoredReservation::new(r, c.egress_of(r.id))))
            .collect();
        // Failed ones are the client's too, stored with their flag.
        held.extend(c.failed_reservations().map(|r| {
            let failed = StoredReservation {
                failed: true,
                ..StoredReservation::new(r, None)
            };
            (r.id.0, failed)
        }));
        let mut keep = std::collections::BTreeSet::new();
        for (id, stored) in held {
            if !fresh && records.reservations.get(&id) == Some(&stored) {
                keep.insert(id);
                continue;
            }
            // Its meters, if any, are the new leader's to remove; a follower sends nothing.
            let _ = c.release(now, prescient_topology::ReservationId(id));
        }
        let restore: Vec<Restored> = records
            .reservations
            .values()
            .filter(|r| !keep.contains(&r.id))
            .filter_map(|r| match r.restored() {
                Ok(x) => Some(x),
                Err(why) => {
                    tracing::error!(
                        "cluster: reservation {} in etcd does not decode: {why}",
                        r.id
                    );
                    None
                }
            })
            .collect();
        let report = c.restore(now, restore, grace);
        for (id, why) in &report.refused {
            tracing::error!("cluster: reservation {} cannot be mirrored: {why}", id.0);
        }
        let held: Vec<StoredService> = c
            .services()
            .records()
            .iter()
            .map(StoredService::new)
            .collect();
        let mut fresh_services = Vec::new();
        for s in held {
            if records.services.get(&s.name) == Some(&s) {
                continue;
            }
            let _ = c.remove_service(now, &s.name);
        }
        let have: std::collections::BTreeSet<String> = c
            .services()
            .records()
            .iter()
            .map(|r| r.spec.name.clone())
            .collect();
        for s in records.services.values() {
            if have.contains(&s.name) {
                continue;
            }
            match s.restored() {
                Ok(r) => fresh_services.push(r),
                Err(why) => {
                    tracing::error!(
                        "cluster: service {:?} in etcd does not decode: {why}",
                        s.name
                    )
                }
            }
        }
        if !fresh_services.is_empty() {
            let report = c.restore_services(now, fresh_services);
            for (name, why) in &report.dropped {
                tracing::error!("cluster: service {name:?} cannot be mirrored: {why}");
            }
        }
        c.replace_calendar(records.events.values().cloned());
        c.skip_event_ids_below(records.next_event);
        // Mirrored from the store: nothing for the persister to write back.
        c.take_unsaved();
    });
}
