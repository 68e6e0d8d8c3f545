//! Records in etcd (cluster mode's state store).
//!
//! Every write is one transaction whose guard is the leader's fence (its election key still
//! has the create revision that is its term: a deposed or paused ex-leader's late write is
//! refused by etcd) and, for each key written, the revision this node last saw it at (a
//! compare-and-swap: a write based on a stale read is refused, never applied). A transaction
//! whose answer is lost (timeout, connection reset) is read back before it is called failed,
//! so an acknowledged write is in etcd and a refused one is not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, Txn, TxnOp};

use super::{keys, ClusterConfig, ClusterError, ClusterState};
use crate::core::calendar::CalendarEvent;
use crate::store::{StoreChange, StoreError, StoredReservation, StoredService};

/// Connects to `config.endpoints` and checks that etcd answers within the timeout.
pub async fn connect(config: &ClusterConfig) -> Result<Client, ClusterError> {
    let endpoints = config.endpoints.join(",");
    let unreachable = |operation, why: String| ClusterError::Unreachable {
        endpoints: endpoints.clone(),
        operation,
        why,
    };
    let options = ConnectOptions::new()
        .with_connect_timeout(config.timeout)
        .with_timeout(config.timeout)
        .with_keep_alive(Duration::from_secs(1), config.timeout);
    let mut client = tokio::time::timeout(
        config.timeout,
        Client::connect(&config.endpoints, Some(options)),
    )
    .await
    .map_err(|_| unreachable("connecting", format!("no answer in {:?}", config.timeout)))?
    .map_err(|e| unreachable("connecting", e.to_string()))?;
    tokio::time::timeout(config.timeout, client.status())
        .await
        .map_err(|_| {
            unreachable(
                "asking its status",
                format!("no answer in {:?}", config.timeout),
            )
        })?
        .map_err(|e| unreachable("asking its status", e.to_string()))?;
    Ok(client)
}

/// Every record, as etcd holds it at one revision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    /// The revision the listing was read at.
    pub revision: i64,
    /// Reservations, by id.
    pub reservations: Vec<StoredReservation>,
    /// Services, by name.
    pub services: Vec<StoredService>,
    /// Scheduled events, by id.
    pub events: Vec<CalendarEvent>,
    /// The id the next scheduled event gets (0: never written).
    pub next_event: u64,
    /// Every record key with its mod revision.
    pub revisions: HashMap<String, i64>,
    /// The address records as published (key → JSON).
    pub addresses: std::collections::BTreeMap<String, String>,
}

/// The store in etcd.
pub struct EtcdStore {
    client: Client,
    cluster: Arc<ClusterState>,
    endpoints: String,
    timeout: Duration,
    /// Record key → the mod revision last seen (`None`: known absent), with the revision of
    /// the event that said so, so an older event never overwrites a newer fact.
    seen: Mutex<HashMap<String, (i64, Option<i64>)>>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl EtcdStore {
    /// The store on `client` for the node `cluster`.
    pub fn new(client: Client, cluster: Arc<ClusterState>) -> Arc<EtcdStore> {
        let config = cluster.config();
        Arc::new(EtcdStore {
            endpoints: config.endpoints.join(","),
            timeout: config.timeout,
            client,
            cluster,
            seen: Mutex::new(HashMap::new()),
        })
    }

    /// How the store names itself in errors.
    pub fn name(&self) -> String {
        format!("etcd at {}", self.endpoints)
    }

    /// The client (election and watch share its connection).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The node.
    pub fn cluster(&self) -> &Arc<ClusterState> {
        &self.cluster
    }

    fn unavailable(&self, operation: &'static str, why: impl std::fmt::Display) -> StoreError {
        StoreError::Etcd {
            path: self.name(),
            operation,
            why: why.to_string(),
        }
    }

    async fn timed<T>(
        &self,
        operation: &'static str,
        f: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.unavailable(operation, e)),
            Err(_) => Err(self.unavailable(operation, format!("no answer in {:?}", self.timeout))),
        }
    }

    /// Records that `key` was at `mod_revision` (`None`: deleted) as of event `at`.
    pub fn saw(&self, key: &str, at: i64, mod_revision: Option<i64>) {
        let mut seen = lock(&self.seen);
        match seen.get(key) {
            Some((known_at, _)) if *known_at > at => {}
            _ => {
                seen.insert(key.to_string(), (at, mod_revision));
            }
        }
    }

    /// Forgets everything seen and takes `listing` as the truth (after a re-list).
    pub fn reset_seen(&self, listing: &Listing) {
        let mut seen = lock(&self.seen);
        seen.clear();
        for (k, rev) in &listing.revisions {
            seen.insert(k.clone(), (listing.revision, Some(*rev)));
        }
    }

    /// Reads every record.
    pub async fn list(&self) -> Result<Listing, StoreError> {
        let mut kv = self.client.kv_client();
        let resp = self
            .timed(
                "listing records",
                kv.get(keys::ROOT, Some(GetOptions::new().with_prefix())),
            )
            .await?;
        let mut listing = Listing {
            revision: resp.header().map_or(0, |h| h.revision()),
            ..Listing::default()
        };
        for item in resp.kvs() {
            let Ok(key) = item.key_str() else { continue };
            if !keys::is_record(key) {
                continue;
            }
            listing
                .revisions
                .insert(key.to_string(), item.mod_revision());
            if key.starts_with(keys::ADDRESSES) {
                let value = String::from_utf8_lossy(item.value()).into_owned();
                listing.addresses.insert(key.to_string(), value);
                continue;
            }
            match decode(key, item.value()).map_err(|why| self.bad(key, why))? {
                Some(Decoded::Reservation(r)) => listing.reservations.push(r),
                Some(Decoded::Service(s)) => listing.services.push(s),
                Some(Decoded::Event(e)) => listing.events.push(e),
                Some(Decoded::NextEvent(n)) => listing.next_event = n,
                None => {}
            }
        }
        Ok(listing)
    }

    fn bad(&self, key: &str, why: String) -> StoreError {
        StoreError::Etcd {
            path: self.name(),
            operation: "decoding a record",
            why: format!("{key}: {why}"),
        }
    }

    /// Writes `changes` and the address records `addresses` (key, JSON or `None`: delete) in
    /// one transaction fenced by this node's term.
    pub async fn apply(
        &self,
        changes: &[StoreChange],
        addresses: &[(String, Option<String>)],
    ) -> Result<(), StoreError> {
        if changes.is_empty() && addresses.is_empty() {
            return Ok(());
        }
        let Some((fence_key, term)) = self.cluster.fence() else {
            return Err(StoreError::NotLeader { path: self.name() });
        };
        let mut writes: Vec<(String, Option<String>)> = Vec::with_capacity(changes.len());
        for c in changes {
            writes.push(encode(c).map_err(|why| self.bad("(encoding)", why))?);
        }
        writes.extend(addresses.iter().cloned());
        let mut compares = vec![Compare::create_revision(
            fence_key.clone(),
            CompareOp::Equal,
            term,
        )];
        let mut ops = Vec::with_capacity(writes.len());
        {
            let seen = lock(&self.seen);
            for (key, value) in &writes {
                compares.push(match seen.get(key).and_then(|(_, rev)| *rev) {
                    Some(rev) => Compare::mod_revision(key.clone(), CompareOp::Equal, rev),
                    None => Compare::version(key.clone(), CompareOp::Equal, 0),
                });
                ops.push(match value {
                    Some(v) => TxnOp::put(key.clone(), v.clone(), None),
                    None => TxnOp::delete(key.clone(), None),
                });
            }
        }
        let txn = Txn::new().when(compares).and_then(ops);
        let mut kv = self.client.kv_client();
        match self.timed("committing changes", kv.txn(txn)).await {
            Ok(resp) if resp.succeeded() => {
                let rev = resp.header().map_or(0, |h| h.revision());
                for (key, value) in &writes {
                    self.saw(key, rev, value.as_ref().map(|_| rev));
                }
                Ok(())
            }
            Ok(_) => Err(self.refused(&fence_key, term, &writes).await),
            Err(e) => match self.read_back(&writes).await {
                Some(true) => Ok(()),
                _ => Err(e),
            },
        }
    }

    /// Why a transaction was refused: the fence (another leader) or a stale revision.
    async fn refused(
        &self,
        fence_key: &str,
        term: i64,
        writes: &[(String, Option<String>)],
    ) -> StoreError {
        let mut kv = self.client.kv_client();
        let fence_held = match self
            .timed("reading the fence", kv.get(fence_key, None))
            .await
        {
            Ok(r) => r.kvs().first().is_some_and(|k| k.create_revision() == term),
            Err(e) => return e,
        };
        if !fence_held {
            self.cluster.step_down();
            return StoreError::NotLeader { path: self.name() };
        }
        // Learn the revisions as they are, so the caller's retry compares against them.
        let mut stale = Vec::new();
        for (key, _) in writes {
            if let Ok(r) = self
                .timed("reading a record", kv.get(key.as_str(), None))
                .await
            {
                let at = r.header().map_or(0, |h| h.revision());
                self.saw(key, at, r.kvs().first().map(|k| k.mod_revision()));
                stale.push(key.clone());
            }
        }
        StoreError::Conflict {
            path: self.name(),
            keys: stale.join(", "),
        }
    }

    /// Whether every write is in etcd as intended (`None`: etcd did not answer).
    async fn read_back(&self, writes: &[(String, Option<String>)]) -> Option<bool> {
        let mut kv = self.client.kv_client();
        let mut rev = 0;
        for (key, value) in writes {
            let r = self
                .timed("reading back", kv.get(key.as_str(), None))
                .await
                .ok()?;
            let now = r.kvs().first();
            let same = match (value, now) {
                (Some(v), Some(k)) => k.value() == v.as_bytes(),
                (None, None) => true,
                _ => false,
            };
            if !same {
                return Some(false);
            }
            rev = rev.max(now.map_or(0, |k| k.mod_revision()));
        }
        for (key, value) in writes {
            self.saw(key, rev, value.as_ref().map(|_| rev));
        }
        Some(true)
    }
}

/// A record decoded from its key and value.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A reservation.
    Reservation(StoredReservation),
    /// A service.
    Service(StoredService),
    /// A scheduled event.
    Event(CalendarEvent),
    /// The id the next scheduled event gets.
    NextEvent(u64),
}

/// Decodes a record; `None` for keys it does not keep in memory (address records).
pub fn decode(key: &str, value: &[u8]) -> Result<Option<Decoded>, String> {
    if let Some(id) = key.strip_prefix(keys::RESERVATIONS) {
        let r: StoredReservation =
            serde_json::from_slice(value).map_err(|e| format!("not a reservation: {e}"))?;
        if id != r.id.to_string() {
            return Err(format!("stored under id {id} but says id {}", r.id));
        }
        return Ok(Some(Decoded::Reservation(r)));
    }
    if let Some(name) = key.strip_prefix(keys::SERVICES) {
        let s: StoredService =
            serde_json::from_slice(value).map_err(|e| format!("not a service: {e}"))?;
        if name != s.name {
            return Err(format!("stored under {name:?} but says {:?}", s.name));
        }
        return Ok(Some(Decoded::Service(s)));
    }
    if key == keys::NEXT_EVENT {
        let n: u64 = serde_json::from_slice(value).map_err(|e| format!("not an event id: {e}"))?;
        return Ok(Some(Decoded::NextEvent(n)));
    }
    if let Some(id) = key.strip_prefix(keys::CALENDAR) {
        let e: CalendarEvent =
            serde_json::from_slice(value).map_err(|e| format!("not a scheduled event: {e}"))?;
        if id != e.id.to_string() {
            return Err(format!("stored under id {id} but says id {}", e.id));
        }
        e.check().map_err(|e| e.to_string())?;
        return Ok(Some(Decoded::Event(e)));
    }
    Ok(None)
}

/// The key and value (`None`: delete) of a change.
fn encode(c: &StoreChange) -> Result<(String, Option<String>), String> {
    let json = |v: Result<String, serde_json::Error>| v.map_err(|e| format!("cannot encode: {e}"));
    Ok(match c {
        StoreChange::Put(r) => (
            keys::reservation(r.id),
            Some(json(serde_json::to_string(r))?),
        ),
        StoreChange::Delete(id) => (keys::reservation(*id), None),
        StoreChange::PutService(s) => (
            keys::service(&s.name),
            Some(json(serde_json::to_string(s))?),
        ),
        StoreChange::DeleteService(name) => (keys::service(name), None),
        StoreChange::PutEvent(e) => (keys::event(e.id), Some(json(serde_json::to_string(e))?)),
        StoreChange::DeleteEvent(id) => (keys::event(*id), None),
        StoreChange::NextEventId(n) => (keys::NEXT_EVENT.to_string(), Some(n.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::calendar::{Effect, EventScope};

    #[test]
    fn an_event_kept_before_until_secs_existed_decodes_and_one_with_it_round_trips() {
        let old = br#"{"id":4,"name":"backup","start_secs":3600,"end_secs":7200,
            "every_secs":86400,"scope":{"kind":"all"},"effect":{"absolute_bps":1000000}}"#;
        let Ok(Some(Decoded::Event(e))) = decode(&keys::event(4), old) else {
            panic!("an event as an older controller wrote it decodes");
        };
        assert_eq!((e.every_secs, e.until_secs), (Some(86_400), None));
        let bounded = CalendarEvent {
            until_secs: Some(3600 + 30 * 86_400),
            effect: Effect::Multiplier(2.0),
            scope: EventScope::Service {
                service: "web".into(),
            },
            ..e
        };
        let (key, value) = encode(&StoreChange::PutEvent(bounded.clone())).expect("encodes");
        let value = value.expect("a put");
        assert_eq!(
            decode(&key, value.as_bytes()),
            Ok(Some(Decoded::Event(bounded)))
        );
        // A value no check would accept (until without a repetition) names the field.
        let once = br#"{"id":5,"name":"x","start_secs":1,"end_secs":2,"until_secs":9,
            "scope":{"kind":"all"},"effect":{"multiplier":2.0}}"#;
        let err = decode(&keys::event(5), once).expect_err("refused");
        assert!(err.contains("until_secs"), "{err}");
    }
}
