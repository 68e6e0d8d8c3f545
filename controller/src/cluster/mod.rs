//! Cluster mode: several controllers share one etcd, elect one leader through a lease, and
//! only the leader plans, programs switches and writes the store.
//!
//! - [`keys`]: the key layout (documented in the README).
//! - [`etcd_store`]: records in etcd; every write is one transaction fenced by the leader's
//!   term and compare-and-swapped on the revision each key was last seen at.
//! - [`election`]: the lease, the campaign, renewal with a deadline, stepping down.
//! - [`replica`]: the watch that keeps every node's memory in step with etcd (resume from the
//!   last revision; re-list and diff after a compaction or any watch error).
//! - [`mastership`]: OpenFlow roles and P4Runtime election ids that follow the election.
//! - [`takeover`]: a new leader reads every OpenFlow switch back and fixes what differs.
//!
//! Invariant: [`ClusterState::is_leader`] is true only while the lease was renewed within its
//! renew deadline (two thirds of the TTL), so a leader that cannot reach etcd, or was frozen,
//! stops acting before its lease can expire and another node can win.

pub mod election;
pub mod etcd_store;
pub mod keys;
pub mod mastership;
pub mod replica;
pub mod takeover;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// What a node is started with in cluster mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// etcd client URLs, e.g. `http://127.0.0.1:2379`.
    pub endpoints: Vec<String>,
    /// This node's name, unique in the cluster.
    pub name: String,
    /// The REST address other nodes redirect writes to (`http://host:port`); `None`: taken
    /// from the bound HTTP address.
    pub api: Option<String>,
    /// Lease TTL: a dead leader is replaced this long after its last renewal.
    pub lease_ttl: Duration,
    /// How long connecting to etcd may take at start and per request.
    pub timeout: Duration,
}

impl ClusterConfig {
    /// `name` on `endpoints` with the defaults (2 s lease, the smallest etcd grants at its
    /// default timing).
    pub fn new(endpoints: Vec<String>, name: impl Into<String>) -> Self {
        ClusterConfig {
            endpoints,
            name: name.into(),
            api: None,
            lease_ttl: Duration::from_secs(2),
            timeout: Duration::from_secs(2),
        }
    }
}

/// Why cluster mode failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// etcd did not answer at start.
    #[error("etcd at {endpoints}: {operation}: {why}")]
    Unreachable {
        /// The configured endpoints.
        endpoints: String,
        /// What was being done.
        operation: &'static str,
        /// Why.
        why: String,
    },
    /// A setting is unusable.
    #[error("cluster.{field}: {why}")]
    Config {
        /// Which setting.
        field: &'static str,
        /// Why.
        why: String,
    },
}

/// A node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Plans, programs switches, writes the store.
    Leader,
    /// Watches the store, serves reads, redirects writes.
    Follower,
}

/// A node as the others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Its name.
    pub name: String,
    /// Its REST API (`http://host:port`).
    pub api: String,
}

/// One member in `GET /api/v1/cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberView {
    /// Its name.
    pub name: String,
    /// Its REST API.
    pub api: String,
    /// `leader` or `follower`.
    pub role: String,
    /// Its lease is alive.
    pub healthy: bool,
}

/// `GET /api/v1/cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterView {
    /// The leader's name; `null` while there is none (or in single-process mode).
    pub leader: Option<String>,
    /// The leader's term: the etcd revision of its election key (0: none yet).
    pub term: u64,
    /// This node's name (`null` in single-process mode).
    pub node: Option<String>,
    /// Every node that ever joined, with its role and health.
    pub members: Vec<MemberView>,
}

/// What the election knows now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// This node leads (and its lease is fresh).
    pub leader: bool,
    /// The current leader and its term, if any.
    pub current: Option<(Member, u64)>,
    /// Known members and whether each has a live election key.
    pub members: Vec<(Member, bool)>,
    /// etcd answered the last request.
    pub etcd_reachable: bool,
}

/// The cluster state every part of a node consults.
#[derive(Debug)]
pub struct ClusterState {
    me: Member,
    config: ClusterConfig,
    status: Mutex<Status>,
    /// Until when this node may act as leader (renewal time plus the renew deadline).
    acting_until: Mutex<Option<Instant>>,
    /// The fence of every leader write: (election key, term).
    fence: Mutex<Option<(String, i64)>>,
    changes: watch::Sender<u64>,
    /// Stopped as by a crash: the lease is left to expire instead of being revoked.
    crashed: std::sync::atomic::AtomicBool,
    /// The create revision of this node's member key (0: not read yet), see
    /// [`Self::node_number`].
    node_number: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ClusterState {
    /// A node named by `config`, reachable at `api`, not yet leading.
    pub fn new(config: ClusterConfig, api: String) -> Arc<ClusterState> {
        Arc::new(ClusterState {
            me: Member {
                name: config.name.clone(),
                api,
            },
            config,
            status: Mutex::new(Status::default()),
            acting_until: Mutex::new(None),
            fence: Mutex::new(None),
            changes: watch::channel(0).0,
            crashed: Default::default(),
            node_number: Default::default(),
        })
    }

    /// This node.
    pub fn me(&self) -> &Member {
        &self.me
    }

    /// The settings.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// A number no other node has and this one keeps across restarts: the etcd create
    /// revision of its member key (members are never deleted, and etcd gives every key
    /// creation its own revision). `None` until the first campaign has read it.
    pub fn node_number(&self) -> Option<u64> {
        match self.node_number.load(std::sync::atomic::Ordering::SeqCst) {
            0 => None,
            n => Some(n),
        }
    }

    pub(crate) fn set_node_number(&self, n: u64) {
        let was = self
            .node_number
            .swap(n, std::sync::atomic::Ordering::SeqCst);
        if was != n {
            self.notify();
        }
    }

    /// The renew deadline: a leader that has not renewed for this long stops acting.
    pub fn renew_deadline(&self) -> Duration {
        self.config.lease_ttl * 2 / 3
    }

    /// This node leads and its lease was renewed within the renew deadline.
    pub fn is_leader(&self) -> bool {
        lock(&self.status).leader
            && lock(&self.acting_until).is_some_and(|until| Instant::now() < until)
    }

    /// The fence for a write (election key and term) while this node leads.
    pub fn fence(&self) -> Option<(String, i64)> {
        if !self.is_leader() {
            return None;
        }
        lock(&self.fence).clone()
    }

    /// The term etcd last named this node leader in, even while it does not act (its renewal
    /// is late, or it has not taken over yet); `None` once another node or none leads, or after
    /// [`Self::crash`].
    pub fn elected_term(&self) -> Option<u64> {
        if self.crashed() {
            return None;
        }
        match &lock(&self.status).current {
            Some((m, term)) if m.name == self.me.name => Some(*term),
            _ => None,
        }
    }

    /// A snapshot of what the election knows.
    pub fn status(&self) -> Status {
        let mut s = lock(&self.status).clone();
        s.leader = s.leader && self.is_leader();
        s
    }

    /// The term of the current leader (0: none known).
    pub fn term(&self) -> u64 {
        lock(&self.status).current.as_ref().map_or(0, |(_, t)| *t)
    }

    /// A receiver woken at every change of role, leader or term.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// What `GET /api/v1/cluster` answers.
    pub fn view(&self) -> ClusterView {
        let s = self.status();
        let leader = s.current.as_ref().map(|(m, _)| m.name.clone());
        let mut members: Vec<MemberView> = s
            .members
            .iter()
            .map(|(m, healthy)| MemberView {
                name: m.name.clone(),
                api: m.api.clone(),
                role: if leader.as_deref() == Some(m.name.as_str()) {
                    "leader".into()
                } else {
                    "follower".into()
                },
                healthy: *healthy,
            })
            .collect();
        if !members.iter().any(|m| m.name == self.me.name) {
            members.push(MemberView {
                name: self.me.name.clone(),
                api: self.me.api.clone(),
                role: "follower".into(),
                healthy: s.etcd_reachable,
            });
        }
        members.sort_by(|a, b| a.name.cmp(&b.name));
        ClusterView {
            leader,
            term: s.current.as_ref().map_or(0, |(_, t)| *t),
            node: Some(self.me.name.clone()),
            members,
        }
    }

    fn notify(&self) {
        self.changes.send_modify(|v| *v += 1);
    }

    pub(crate) fn set_current(&self, current: Option<(Member, u64)>) {
        let changed = {
            let mut s = lock(&self.status);
            let changed = s.current != current;
            s.current = current;
            changed
        };
        if changed {
            self.notify();
        }
    }

    pub(crate) fn set_members(&self, members: Vec<(Member, bool)>) {
        lock(&self.status).members = members;
    }

    pub(crate) fn set_reachable(&self, reachable: bool) {
        lock(&self.status).etcd_reachable = reachable;
    }

    /// Starts leading under `fence` until `until` (extended by [`Self::renewed`]).
    pub(crate) fn lead(&self, fence: (String, i64), until: Instant) {
        *lock(&self.acting_until) = Some(until);
        *lock(&self.fence) = Some(fence);
        lock(&self.status).leader = true;
        self.notify();
    }

    /// The lease was renewed at `at`: acting is allowed until the renew deadline after it.
    pub(crate) fn renewed(&self, at: Instant) {
        let mut until = lock(&self.acting_until);
        if until.is_some() {
            *until = Some(at + self.renew_deadline());
        }
    }

    /// Marks the node as crashed (tests, the bench): on stop its lease is not revoked.
    pub fn crash(&self) {
        self.crashed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.step_down();
    }

    /// Whether [`Self::crash`] was called.
    pub fn crashed(&self) -> bool {
        self.crashed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops leading (lease lost, deadline missed, shutting down).
    pub(crate) fn step_down(&self) {
        let was = {
            let mut s = lock(&self.status);
            std::mem::replace(&mut s.leader, false)
        };
        *lock(&self.acting_until) = None;
        *lock(&self.fence) = None;
        if was {
            self.notify();
        }
    }
}
