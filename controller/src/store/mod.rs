//! The durable state store: one redb file holding every accepted reservation and every
//! service with its address leases, so a restarted controller puts them back (DESIGN.md: "the single-instance default is an embedded store on
//! disk"). An in-memory variant serves the demo and tests and leaves no file behind.
//!
//! Tables: `reservations` (id → [`StoredReservation`] as JSON), `services` (name →
//! [`StoredService`] as JSON, since schema 2), `calendar` (id → [`CalendarEvent`] as JSON, the
//! REST API's form, since schema 3) and `meta` (`schema_version`; `next_event_id`, the id the
//! next scheduled event gets, once one was created).
//! Invariants: a file written by a newer schema is refused, never rewritten; an older one is
//! migrated in place in one transaction (1 → 2: the `services` table is added, empty; 2 → 3: the
//! `calendar` table, empty); a file that is not
//! a redb database, or a redb database that is not ours, is a [`StoreError`] naming the path and
//! why, never a panic; every write is one transaction committed with immediate durability, so
//! when [`Store::apply`] returns `Ok` the change survives a crash.

mod persister;
mod record;
mod service_record;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use crate::core::calendar::CalendarEvent;
use redb::backends::InMemoryBackend;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError, TableHandle};

pub use persister::{Persister, RETRY_INTERVAL};
pub use record::{StoredReservation, StoredSubject};
pub use service_record::{StoredBackend, StoredLease, StoredOrigin, StoredService};

/// The schema this controller writes; files of a newer one are refused, older ones migrated.
pub const SCHEMA_VERSION: u64 = 3;

const RESERVATIONS: TableDefinition<u64, &str> = TableDefinition::new("reservations");
const SERVICES: TableDefinition<&str, &str> = TableDefinition::new("services");
const CALENDAR: TableDefinition<u64, &str> = TableDefinition::new("calendar");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const VERSION_KEY: &str = "schema_version";
/// The id the next scheduled event gets (in `meta`), so a deleted event's id is never reused.
const NEXT_EVENT_KEY: &str = "next_event_id";

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A redb file, created when missing.
    File(PathBuf),
    /// Memory only: nothing survives the process (the demo, tests).
    InMemory,
    /// etcd, in cluster mode (the endpoints, comma-separated); opened by the cluster, not by
    /// [`Store::open`].
    Etcd(String),
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::File(p) => write!(f, "{}", p.display()),
            StoreLocation::InMemory => f.write_str("(in memory)"),
            StoreLocation::Etcd(endpoints) => write!(f, "etcd at {endpoints}"),
        }
    }
}

/// What the service opens its store with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Where.
    pub location: StoreLocation,
    /// How long restored reservations wait for their path before they are rerouted or
    /// dropped; `None`: three times the discovery link timeout.
    pub restore_grace: Option<std::time::Duration>,
}

impl Default for StoreConfig {
    /// In memory: library users and tests opt in to a file.
    fn default() -> Self {
        StoreConfig {
            location: StoreLocation::InMemory,
            restore_grace: None,
        }
    }
}

/// Why the store could not be opened, read or written. Each names the store's path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be opened or created (missing directory, permissions, not a redb
    /// file, corrupted, already open by another process).
    #[error("store {path}: cannot open: {error}")]
    Open {
        /// The store.
        path: String,
        /// Why (in the message: the path is what a reader needs first).
        error: Box<redb::Error>,
    },
    /// Opening the file hit an internal consistency check: the file is corrupted.
    #[error("store {path}: cannot open: the file is corrupted ({why})")]
    Corrupted {
        /// The store.
        path: String,
        /// What the check said.
        why: String,
    },
    /// A redb database, but not a Prescient store.
    #[error("store {path}: not a Prescient store: {why}")]
    Foreign {
        /// The store.
        path: String,
        /// Why.
        why: String,
    },
    /// Written by a newer Prescient.
    #[error("store {path}: schema version {found} is newer than the {supported} this controller understands; run a newer prescient or choose another store path")]
    NewerSchema {
        /// The store.
        path: String,
        /// The version in the file.
        found: u64,
        /// [`SCHEMA_VERSION`].
        supported: u64,
    },
    /// Reading or committing failed.
    #[error("store {path}: {operation}: {error}")]
    Io {
        /// The store.
        path: String,
        /// What was being done.
        operation: &'static str,
        /// Why.
        error: Box<redb::Error>,
    },
    /// A stored service does not decode.
    #[error("store {path}: service {name:?}: {why}")]
    ServiceRecord {
        /// The store.
        path: String,
        /// The key of the record.
        name: String,
        /// Which field and why.
        why: String,
    },
    /// A stored scheduled event does not decode.
    #[error("store {path}: calendar event {id}: {why}")]
    EventRecord {
        /// The store.
        path: String,
        /// The key of the record.
        id: u64,
        /// Which field and why.
        why: String,
    },
    /// A stored reservation does not decode.
    #[error("store {path}: reservation {id}: {why}")]
    Record {
        /// The store.
        path: String,
        /// The key of the record.
        id: u64,
        /// Which field and why.
        why: String,
    },
    /// The store was closed (the controller is shutting down).
    #[error("store {path}: closed")]
    Closed {
        /// The store.
        path: String,
    },
    /// etcd did not answer or refused the request (cluster mode).
    #[error("store {path}: {operation}: {why}")]
    Etcd {
        /// The store (`etcd at <endpoints>`).
        path: String,
        /// What was being done.
        operation: &'static str,
        /// Why.
        why: String,
    },
    /// This node does not lead (any more): its writes are fenced off (cluster mode).
    #[error("store {path}: this node is not the leader; its writes are refused")]
    NotLeader {
        /// The store.
        path: String,
    },
    /// A key changed since this node read it: the write was based on a stale read and was
    /// not applied (cluster mode).
    #[error("store {path}: changed since read, not applied: {keys}")]
    Conflict {
        /// The store.
        path: String,
        /// The keys.
        keys: String,
    },
}

/// One change to write.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreChange {
    /// Insert or replace.
    Put(StoredReservation),
    /// Remove, if present.
    Delete(u64),
    /// Insert or replace a service.
    PutService(StoredService),
    /// Remove a service, if present.
    DeleteService(String),
    /// Insert or replace a scheduled event.
    PutEvent(CalendarEvent),
    /// Remove a scheduled event, if present.
    DeleteEvent(u64),
    /// The id the next scheduled event gets.
    NextEventId(u64),
}

/// The store: one redb database.
pub struct Store {
    db: Database,
    location: StoreLocation,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store at `location`, creating it when missing, and checks its schema.
    pub fn open(location: &StoreLocation) -> Result<Store, StoreError> {
        let name = location.to_string();
        if let StoreLocation::Etcd(_) = location {
            return Err(StoreError::Foreign {
                path: name,
                why: "etcd is opened in cluster mode, not as a redb file".to_string(),
            });
        }
        let opened = catch_unwind(AssertUnwindSafe(|| match location {
            StoreLocation::File(path) => Database::create(path),
            StoreLocation::InMemory | StoreLocation::Etcd(_) => {
                Database::builder().create_with_backend(InMemoryBackend::new())
            }
        }));
        // redb's debug builds assert on some corruptions instead of returning an error.
        let db = match opened {
            Ok(r) => r.map_err(|e| StoreError::Open {
                path: name.clone(),
                error: Box::new(e.into()),
            })?,
            Err(panic) => {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                    .unwrap_or_else(|| "internal check failed".to_string());
                return Err(StoreError::Corrupted { path: name, why });
            }
        };
        let store = Store {
            db,
            location: location.clone(),
        };
        store.check_schema()?;
        Ok(store)
    }

    /// Opens a redb file at `path` (see [`Store::open`]).
    pub fn open_file(path: &Path) -> Result<Store, StoreError> {
        Store::open(&StoreLocation::File(path.to_owned()))
    }

    /// A fresh in-memory store.
    pub fn in_memory() -> Result<Store, StoreError> {
        Store::open(&StoreLocation::InMemory)
    }

    /// Where it lives.
    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    fn io(&self, operation: &'static str) -> impl Fn(redb::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: self.location.to_string(),
            operation,
            error: Box::new(source),
        }
    }

    /// Refuses newer or foreign files; stamps a new one with [`SCHEMA_VERSION`].
    fn check_schema(&self) -> Result<(), StoreError> {
        let path = self.location.to_string();
        let read = self
            .db
            .begin_read()
            .map_err(|e| self.io("reading the schema version")(e.into()))?;
        let version = match read.open_table(META) {
            Ok(meta) => Some(
                meta.get(VERSION_KEY)
                    .map_err(|e| self.io("reading the schema version")(e.into()))?
                    .map(|v| v.value())
                    .ok_or_else(|| StoreError::Foreign {
                        path: path.clone(),
                        why: format!("its meta table has no {VERSION_KEY}"),
                    })?,
            ),
            Err(TableError::TableDoesNotExist(_)) => None,
            Err(e) => {
                return Err(StoreError::Foreign {
                    path,
                    why: format!("its meta table is not ours: {e}"),
                })
            }
        };
        let has_other_tables = read
            .list_tables()
            .map_err(|e| self.io("listing tables")(e.into()))?
            .any(|t| t.name() != "meta");
        drop(read);
        match version {
            Some(found) if found > SCHEMA_VERSION => Err(StoreError::NewerSchema {
                path,
                found,
                supported: SCHEMA_VERSION,
            }),
            Some(found) if found < SCHEMA_VERSION => self.write_version(SCHEMA_VERSION),
            Some(_) => Ok(()),
            None if has_other_tables => Err(StoreError::Foreign {
                path,
                why: "it has tables but no schema version".to_string(),
            }),
            None => self.write_version(SCHEMA_VERSION),
        }
    }

    fn write_version(&self, version: u64) -> Result<(), StoreError> {
        let op = "writing the schema version";
        let tx = self.db.begin_write().map_err(|e| self.io(op)(e.into()))?;
        {
            let mut meta = tx.open_table(META).map_err(|e| self.io(op)(e.into()))?;
            meta.insert(VERSION_KEY, version)
                .map_err(|e| self.io(op)(e.into()))?;
            // Created here so a store is recognisable as ours even before its first write;
            // also the migration from older schemas (each only added tables).
            tx.open_table(RESERVATIONS)
                .map_err(|e| self.io(op)(e.into()))?;
            tx.open_table(SERVICES).map_err(|e| self.io(op)(e.into()))?;
            tx.open_table(CALENDAR).map_err(|e| self.io(op)(e.into()))?;
        }
        tx.commit().map_err(|e| self.io(op)(e.into()))
    }

    /// Calls `each` with every row of `table` (key and JSON text), in key order; a table
    /// never created has none.
    fn each_row<K: redb::Key + 'static>(
        &self,
        table: TableDefinition<K, &'static str>,
        op: &'static str,
        mut each: impl FnMut(K::SelfType<'_>, &str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let read = self.db.begin_read().map_err(|e| self.io(op)(e.into()))?;
        let table = match read.open_table(table) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(self.io(op)(e.into())),
        };
        for row in table.iter().map_err(|e| self.io(op)(e.into()))? {
            let (k, v) = row.map_err(|e| self.io(op)(e.into()))?;
            each(k.value(), v.value())?;
        }
        Ok(())
    }

    /// Every stored reservation, by id.
    pub fn load(&self) -> Result<Vec<StoredReservation>, StoreError> {
        let mut out = Vec::new();
        self.each_row(RESERVATIONS, "reading reservations", |id, json| {
            let bad = |why: String| StoreError::Record {
                path: self.location.to_string(),
                id,
                why,
            };
            let r: StoredReservation =
                serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
            if r.id != id {
                return Err(bad(format!("stored under key {id} but says id {}", r.id)));
            }
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    /// Every stored service, by name.
    pub fn load_services(&self) -> Result<Vec<StoredService>, StoreError> {
        let mut out = Vec::new();
        self.each_row(SERVICES, "reading services", |name, json| {
            let bad = |why: String| StoreError::ServiceRecord {
                path: self.location.to_string(),
                name: name.to_string(),
                why,
            };
            let s: StoredService = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
            if s.name != name {
                return Err(bad(format!("stored under {name:?} but says {:?}", s.name)));
            }
            out.push(s);
            Ok(())
        })?;
        Ok(out)
    }

    /// Every stored scheduled event, by id.
    pub fn load_events(&self) -> Result<Vec<CalendarEvent>, StoreError> {
        let mut out = Vec::new();
        self.each_row(CALENDAR, "reading the calendar", |id, json| {
            let bad = |why: String| StoreError::EventRecord {
                path: self.location.to_string(),
                id,
                why,
            };
            let e: CalendarEvent = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
            if e.id != id {
                return Err(bad(format!("stored under key {id} but says id {}", e.id)));
            }
            e.check().map_err(|e| bad(e.to_string()))?;
            out.push(e);
            Ok(())
        })?;
        Ok(out)
    }

    /// The id the next scheduled event gets, when one was ever written.
    pub fn load_next_event_id(&self) -> Result<Option<u64>, StoreError> {
        let op = "reading the next event id";
        let read = self.db.begin_read().map_err(|e| self.io(op)(e.into()))?;
        let meta = read.open_table(META).map_err(|e| self.io(op)(e.into()))?;
        let next = meta
            .get(NEXT_EVENT_KEY)
            .map_err(|e| self.io(op)(e.into()))?
            .map(|v| v.value());
        Ok(next)
    }

    /// Writes `changes` in one transaction, durable when this returns `Ok`.
    pub fn apply(&self, changes: &[StoreChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let op = "committing changes";
        let tx = self.db.begin_write().map_err(|e| self.io(op)(e.into()))?;
        {
            let mut table = tx
                .open_table(RESERVATIONS)
                .map_err(|e| self.io(op)(e.into()))?;
            let mut services = tx.open_table(SERVICES).map_err(|e| self.io(op)(e.into()))?;
            let mut calendar = tx.open_table(CALENDAR).map_err(|e| self.io(op)(e.into()))?;
            let mut meta = tx.open_table(META).map_err(|e| self.io(op)(e.into()))?;
            for c in changes {
                match c {
                    StoreChange::Put(r) => {
                        let json = serde_json::to_string(r).map_err(|e| StoreError::Record {
                            path: self.location.to_string(),
                            id: r.id,
                            why: format!("cannot encode: {e}"),
                        })?;
                        table
                            .insert(r.id, json.as_str())
                            .map_err(|e| self.io(op)(e.into()))?;
                    }
                    StoreChange::Delete(id) => {
                        table.remove(*id).map_err(|e| self.io(op)(e.into()))?;
                    }
                    StoreChange::PutService(r) => {
                        let json =
                            serde_json::to_string(r).map_err(|e| StoreError::ServiceRecord {
                                path: self.location.to_string(),
                                name: r.name.clone(),
                                why: format!("cannot encode: {e}"),
                            })?;
                        services
                            .insert(r.name.as_str(), json.as_str())
                            .map_err(|e| self.io(op)(e.into()))?;
                    }
                    StoreChange::DeleteService(name) => {
                        services
                            .remove(name.as_str())
                            .map_err(|e| self.io(op)(e.into()))?;
                    }
                    StoreChange::PutEvent(ev) => {
                        let json =
                            serde_json::to_string(ev).map_err(|e| StoreError::EventRecord {
                                path: self.location.to_string(),
                                id: ev.id,
                                why: format!("cannot encode: {e}"),
                            })?;
                        calendar
                            .insert(ev.id, json.as_str())
                            .map_err(|e| self.io(op)(e.into()))?;
                    }
                    StoreChange::DeleteEvent(id) => {
                        calendar.remove(*id).map_err(|e| self.io(op)(e.into()))?;
                    }
                    StoreChange::NextEventId(next) => {
                        meta.insert(NEXT_EVENT_KEY, *next)
                            .map_err(|e| self.io(op)(e.into()))?;
                    }
                }
            }
        }
        tx.commit().map_err(|e| self.io(op)(e.into()))
    }
}

#[cfg(test)]
pub(crate) mod tests;
